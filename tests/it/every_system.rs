//! One scenario, run against every queue system's real framework (as
//! ripgrep's `rgtest!` runs each test against both regex engines): the
//! figures, a peek, purge + restore, requeue exactly once while the
//! system's own workers consume, and a replicate run twice. A system joins
//! by implementing [`System`] and one line in `every_system!`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, PREFIX};
use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

/// What the scenario needs of a queue system's fixture.
trait System: Sized {
    const KIND: &'static str;
    /// `None` when the framework is not installed here (CI installs it).
    fn start() -> Option<Self>;
    fn server(&self) -> &RedisServer;
    /// A second, empty deployment of the same kind (replicate's target).
    fn second(&self) -> RedisServer {
        RedisServer::start()
    }
    /// The `queue-schemas:` entry named `s` (empty: the built-in default).
    fn schema(&self) -> &'static str;
    /// `n` dead jobs written the way the framework writes them; their ids.
    fn seed_dead(&mut self, n: usize) -> Vec<String>;
    /// `n` jobs waiting in a queue nobody works (`idle`); their ids.
    fn seed_waiting(&mut self, n: usize) -> Vec<String>;
    /// The `get jobs` name of the dead set.
    const DEAD: &'static str;
    /// The requeue flags that send dead jobs where the workers consume.
    const REQUEUE: &'static [&'static str];
    /// The replicate flags that copy the waiting queue.
    const REPLICATE: &'static [&'static str];
    /// Start the framework's own workers on the queue requeue sends to.
    fn start_workers(&mut self);
    /// The ids the workers finished so far (each as often as it ran).
    fn finished(&self) -> Vec<String>;
    /// The ids waiting in `idle` on `server`.
    fn waiting_on(&self, server: &RedisServer) -> Vec<String>;
}

/// go-redis-work-queue: the workers of tests/it/common/queue.rs speak its
/// protocol (BRPOPLPUSH, heartbeat, LPUSH completed, LREM).
struct GoWork {
    server: RedisServer,
    workers: Option<Workers>,
}

impl System for GoWork {
    const KIND: &'static str = "go-redis-work-queue";
    const DEAD: &'static str = "dead-letter";
    const REQUEUE: &'static [&'static str] = &["--to", "high"];
    const REPLICATE: &'static [&'static str] = &["--queue", "idle"];

    fn start() -> Option<Self> {
        Some(GoWork {
            server: RedisServer::start(),
            workers: None,
        })
    }
    fn server(&self) -> &RedisServer {
        &self.server
    }
    fn schema(&self) -> &'static str {
        "  - name: s\n    kind: go-redis-work-queue\n    queues: { high: \"jobqueue:high_priority\", idle: \"jobqueue:idle\" }\n"
    }
    fn seed_dead(&mut self, n: usize) -> Vec<String> {
        let jobs: Vec<String> = (0..n).map(|i| job(&format!("dead-{i}"))).collect();
        push_all(&mut self.server.conn(), "jobqueue:dead_letter", &jobs);
        ids_of(&jobs)
    }
    fn seed_waiting(&mut self, n: usize) -> Vec<String> {
        let jobs: Vec<String> = (0..n).map(|i| job(&format!("idle-{i}"))).collect();
        push_all(&mut self.server.conn(), "jobqueue:idle", &jobs);
        ids_of(&jobs)
    }
    fn start_workers(&mut self) {
        let client = self.server.client();
        self.workers = Some(Workers::start(4, "jobqueue:", move || {
            client.get_connection().unwrap()
        }));
    }
    fn finished(&self) -> Vec<String> {
        ids_of(&lrange(&mut self.server.conn(), "jobqueue:completed"))
    }
    fn waiting_on(&self, server: &RedisServer) -> Vec<String> {
        ids_of(&lrange(&mut server.conn(), "jobqueue:idle"))
    }
}

impl Drop for GoWork {
    fn drop(&mut self) {
        if let Some(w) = self.workers.take() {
            w.stop();
        }
    }
}

/// Sidekiq: real `sidekiq` processes; RecordJob records each run.
struct SidekiqSystem {
    server: RedisServer,
    process: Option<Sidekiq>,
}

impl System for SidekiqSystem {
    const KIND: &'static str = "sidekiq";
    const DEAD: &'static str = "dead";
    const REQUEUE: &'static [&'static str] = &["--from", "dead"];
    const REPLICATE: &'static [&'static str] = &["--queue", "idle"];

    fn start() -> Option<Self> {
        if !sidekiq::available("every_system::sidekiq") {
            return None;
        }
        Some(SidekiqSystem {
            server: RedisServer::start(),
            process: None,
        })
    }
    fn server(&self) -> &RedisServer {
        &self.server
    }
    fn schema(&self) -> &'static str {
        "  - name: s\n    kind: sidekiq\n"
    }
    fn seed_dead(&mut self, n: usize) -> Vec<String> {
        sidekiq::jids(&sidekiq::api(
            &self.server,
            None,
            &["dead", "RecordJob", &n.to_string(), "default"],
        ))
    }
    fn seed_waiting(&mut self, n: usize) -> Vec<String> {
        sidekiq::jids(&sidekiq::api(
            &self.server,
            None,
            &["enqueue", "OkJob", &n.to_string(), "idle"],
        ))
    }
    fn start_workers(&mut self) {
        self.process = Some(Sidekiq::start(&self.server, SidekiqOptions::default()));
    }
    fn finished(&self) -> Vec<String> {
        lrange(&mut self.server.conn(), "qctl:done")
    }
    fn waiting_on(&self, server: &RedisServer) -> Vec<String> {
        lrange(&mut server.conn(), "queue:idle")
            .iter()
            .filter_map(|j| {
                serde_json::from_str::<Value>(j).ok()?["jid"]
                    .as_str()
                    .map(String::from)
            })
            .collect()
    }
}

/// BullMQ: real BullMQ workers (node); `flaky` jobs fail their first
/// attempt (so they die), and succeed once requeued.
struct BullSystem {
    server: RedisServer,
    worker: Option<BullWorker>,
}

impl BullSystem {
    fn add(&self, queue: &str, name: &str, n: usize, opts: &str) -> Vec<String> {
        bullmq::ids(&bullmq::api(
            &self.server,
            PREFIX,
            &["add", queue, name, &n.to_string(), opts, r#"{"fails":1}"#],
        ))
    }
}

impl System for BullSystem {
    const KIND: &'static str = "bullmq";
    const DEAD: &'static str = "work:failed";
    const REQUEUE: &'static [&'static str] = &["--from", "dead"];
    const REPLICATE: &'static [&'static str] = &["--queue", "idle"];

    fn start() -> Option<Self> {
        if !bullmq::available("every_system::bullmq") {
            return None;
        }
        Some(BullSystem {
            server: RedisServer::start(),
            worker: None,
        })
    }
    fn server(&self) -> &RedisServer {
        &self.server
    }
    fn schema(&self) -> &'static str {
        "  - name: s\n    kind: bullmq\n"
    }
    fn seed_dead(&mut self, n: usize) -> Vec<String> {
        let ids = self.add("work", "flaky", n, r#"{"attempts":1}"#);
        let mut w = BullWorker::start(
            &self.server,
            BullWorkerOptions {
                concurrency: 8,
                ..BullWorkerOptions::queue("work")
            },
        );
        assert!(wait_for(Duration::from_secs(60), || {
            self.server.cli(&["ZCARD", "bull:work:failed"]).trim() == n.to_string()
        }));
        w.stop();
        ids
    }
    fn seed_waiting(&mut self, n: usize) -> Vec<String> {
        self.add("idle", "ok", n, "{}")
    }
    fn start_workers(&mut self) {
        self.worker = Some(BullWorker::start(
            &self.server,
            BullWorkerOptions {
                concurrency: 8,
                ..BullWorkerOptions::queue("work")
            },
        ));
    }
    fn finished(&self) -> Vec<String> {
        let logs = self.worker.as_ref().map(|w| w.logs()).unwrap_or_default();
        logs.lines()
            .filter_map(|l| l.strip_prefix("completed flaky "))
            .map(|id| id.trim().to_string())
            .collect()
    }
    fn waiting_on(&self, server: &RedisServer) -> Vec<String> {
        lrange(&mut server.conn(), "bull:idle:wait")
    }
}

/// RQ: real `rq worker` processes; `flaky` fails its first run (so it
/// lands in the failed registry) and records each later run.
struct RqSystem {
    server: RedisServer,
    worker: Option<RqWorker>,
}

impl System for RqSystem {
    const KIND: &'static str = "rq";
    const DEAD: &'static str = "failed:work";
    const REQUEUE: &'static [&'static str] = &["--from", "dead"];
    const REPLICATE: &'static [&'static str] = &["--queue", "idle"];

    fn start() -> Option<Self> {
        if !rq::available("every_system::rq") {
            return None;
        }
        Some(RqSystem {
            server: RedisServer::start(),
            worker: None,
        })
    }
    fn server(&self) -> &RedisServer {
        &self.server
    }
    fn schema(&self) -> &'static str {
        "  - name: s\n    kind: rq\n"
    }
    fn seed_dead(&mut self, n: usize) -> Vec<String> {
        let ids = rq::ids(&rq::api(
            &self.server,
            &["enqueue", "work", "flaky", &n.to_string()],
        ));
        let mut w = RqWorker::start(
            &self.server,
            RqOptions {
                burst: true,
                with_scheduler: false,
                ..RqOptions::with_queues(&["work"])
            },
        );
        assert!(
            w.wait_exit(Duration::from_secs(120)).is_some(),
            "{}",
            w.logs()
        );
        ids
    }
    fn seed_waiting(&mut self, n: usize) -> Vec<String> {
        rq::ids(&rq::api(
            &self.server,
            &["enqueue", "idle", "ok", &n.to_string()],
        ))
    }
    fn start_workers(&mut self) {
        self.worker = Some(RqWorker::start(
            &self.server,
            RqOptions {
                with_scheduler: false,
                ..RqOptions::with_queues(&["work"])
            },
        ));
    }
    fn finished(&self) -> Vec<String> {
        lrange(&mut self.server.conn(), "qctl:done")
    }
    fn waiting_on(&self, server: &RedisServer) -> Vec<String> {
        lrange(&mut server.conn(), "rq:queue:idle")
    }
}

fn contexts(ws: &Workspace, sys: &impl System, target: &RedisServer) -> PathBuf {
    ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: a, server: \"{}\" }}\n  - {{ name: b, server: \"{}\" }}\ncurrent-context: a\ncontexts:\n  - {{ name: a, cluster: a, schema: s }}\n  - {{ name: b, cluster: b, schema: s }}\nqueue-schemas:\n{}",
            ws.join("audit.log").display(),
            sys.server().url(),
            target.url(),
            sys.schema()
        ),
    )
}

fn once(ids: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for i in ids {
        *m.entry(i.clone()).or_default() += 1;
    }
    m
}

fn scenario<S: System>() {
    let Some(mut sys) = S::start() else {
        return;
    };
    let target = sys.second();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &sys, &target);
    let dead = sys.seed_dead(300);
    let waiting = sys.seed_waiting(40);

    // Figures.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "clusters", "--context", "a", "-o", "json"],
    );
    assert_eq!(code, 0, "{}: {err}", S::KIND);
    let it = &doc["items"][0];
    assert_eq!(it["system"], S::KIND);
    assert_eq!(it["dead_letter"], 300, "{}: {it}", S::KIND);
    assert_eq!(it["queued"], 40, "{}: {it}", S::KIND);

    lists_like_kubectl::<S>(&ws, &cfg);

    // Peek: the oldest dead jobs, by id.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", S::DEAD, "-n", "5", "-o", "json"],
    );
    assert_eq!(code, 0, "{}: {err}", S::KIND);
    let ids: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(
        ids.iter().all(|i| dead.iter().any(|d| d == i)),
        "{}: {ids:?}",
        S::KIND
    );

    // Purge and restore: every dead job back.
    let (code, _, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=a"]);
    assert_eq!(code, 0, "{}: {err}", S::KIND);
    let (_, doc, _) = run_json(
        &ws,
        &cfg,
        &["get", "clusters", "--context", "a", "-o", "json"],
    );
    assert_eq!(doc["items"][0]["dead_letter"], 0, "{}", S::KIND);
    let (code, _, err) = run_raw(&ws, &cfg, &["restore-dlq", "--yes-i-typed=a"]);
    assert_eq!(code, 0, "{}: {err}", S::KIND);
    let (_, doc, _) = run_json(
        &ws,
        &cfg,
        &["get", "clusters", "--context", "a", "-o", "json"],
    );
    assert_eq!(doc["items"][0]["dead_letter"], 300, "{}", S::KIND);

    // Requeue while the framework's own workers consume: each job runs once.
    sys.start_workers();
    let mut args = vec!["requeue"];
    args.extend_from_slice(S::REQUEUE);
    args.push("--yes-i-typed=a");
    let (code, out, err) = run_raw(&ws, &cfg, &args);
    assert_eq!(code, 0, "{}: {out}{err}", S::KIND);
    assert!(
        wait_for(Duration::from_secs(60), || sys.finished().len() >= 300),
        "{}: the workers never finished ({} done)",
        S::KIND,
        sys.finished().len()
    );
    let ran = once(&sys.finished());
    let doubled: Vec<_> = ran.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "{}: ran twice: {doubled:?}", S::KIND);
    for d in &dead {
        assert!(ran.contains_key(d), "{}: lost {d}", S::KIND);
    }

    // Replicate the waiting queue, twice: the second run copies nothing.
    let mut args = vec!["replicate", "--from", "a", "--to", "b"];
    args.extend_from_slice(S::REPLICATE);
    args.extend(["--yes-i-typed=b", "-o", "json"]);
    for (run, copied) in [(1, 40), (2, 0)] {
        let (code, doc, err) = run_json(&ws, &cfg, &args);
        assert_eq!(code, 0, "{} run {run}: {err}{doc}", S::KIND);
        assert_eq!(
            action_results(&doc)["b"]["copied"],
            copied,
            "{} run {run}: {doc}",
            S::KIND
        );
    }
    let mut got = sys.waiting_on(&target);
    got.sort();
    let mut want = waiting.clone();
    want.sort();
    assert_eq!(
        got,
        want,
        "{}: every waiting job once on the target",
        S::KIND
    );
}

/// Names as arguments, `--sort-by`, custom columns and totals, the same
/// on every system: 40 jobs wait in `idle` and 300 are dead on `a`; `b` is
/// empty.
fn lists_like_kubectl<S: System>(ws: &Workspace, cfg: &std::path::Path) {
    let k = S::KIND;
    // A queue by name: its row on each context, nothing else.
    let (code, doc, err) = run_json(ws, cfg, &["get", "queues", "-A", "idle", "-o", "json"]);
    assert_eq!(code, 0, "{k}: {err}");
    let rows: Vec<(&str, u64)> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["context"].as_str().unwrap(),
                q["length"].as_u64().unwrap(),
            )
        })
        .collect();
    // (`b` lists it too where the schema names its queues.)
    assert_eq!(rows[0], ("a", 40), "{k}: {doc}");
    assert!(
        rows[1..].is_empty() || rows[1..] == [("b", 0)],
        "{k}: {doc}"
    );
    // A misspelt one: exit 1 and the name it meant.
    let (code, out, err) = run_raw(ws, cfg, &["get", "queues", "-A", "idel"]);
    assert_eq!(code, 1, "{k}: {out}{err}");
    assert!(err.contains("did you mean `idle`?"), "{k}: {err}");
    // Sorted by length, longest first, over both contexts.
    let (code, doc, err) = run_json(
        ws,
        cfg,
        &["get", "queues", "-A", "--sort-by", "-length", "-o", "json"],
    );
    assert_eq!(code, 0, "{k}: {err}");
    let lengths: Vec<u64> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["length"].as_u64().unwrap())
        .collect();
    let mut sorted = lengths.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(lengths, sorted, "{k}");
    assert_eq!(lengths[0], 300, "{k}: the dead set first: {lengths:?}");
    // Custom columns over the JSON fields.
    let (code, out, err) = run_raw(
        ws,
        cfg,
        &[
            "get",
            "queues",
            "--context",
            "a",
            "idle",
            "-o",
            "custom-columns=Q:.queue,N:.length,SYSTEM:.system",
        ],
    );
    assert_eq!(code, 0, "{k}: {err}");
    assert_eq!(
        out.lines()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>)
            .collect::<Vec<_>>(),
        [vec!["Q", "N", "SYSTEM"], vec!["idle", "40", k]],
        "{k}: {out}"
    );
    // Totals over both contexts, in JSON and as the table's last row.
    let (code, doc, err) = run_json(ws, cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{k}: {err}");
    assert_eq!(doc["totals"]["contexts"], 2, "{k}: {doc}");
    assert_eq!(doc["totals"]["queued"], 40, "{k}: {doc}");
    assert_eq!(doc["totals"]["dead_letter"], 300, "{k}: {doc}");
    let (_, out, _) = run_raw(ws, cfg, &["get", "clusters", "-A"]);
    let last: Vec<&str> = out.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(&last[..3], ["TOTAL", "2", "contexts"], "{k}: {out}");
    // Jobs sorted by age, oldest first, still the dead set's jobs.
    let (code, doc, err) = run_json(
        ws,
        cfg,
        &[
            "get",
            "jobs",
            S::DEAD,
            "-n",
            "20",
            "--sort-by",
            "-age",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{k}: {err}");
    let ages: Vec<f64> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["age_s"].as_f64())
        .collect();
    assert!(ages.windows(2).all(|w| w[0] >= w[1]), "{k}: {ages:?}");
}

macro_rules! every_system {
    ($($name:ident => $sys:ty),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                scenario::<$sys>();
            }
        )*
    };
}

every_system! {
    go_redis_work_queue => GoWork,
    sidekiq => SidekiqSystem,
    bullmq_system => BullSystem,
    rq_system => RqSystem,
}
