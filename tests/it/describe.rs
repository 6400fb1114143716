//! `qctl describe cluster|queue|worker|job` through the real binary, on
//! every queue system, against the frameworks' own writes and checked with
//! their own APIs where the fixtures expose them: a cluster's server,
//! nodes (a 3-primary cluster too), settings, capability table, figures
//! (with why a figure is null) and health checks; a queue's sets, rates
//! (`--sample`), pause and dead jobs grouped by error; a worker's process,
//! stored fields and jobs in flight; a job's place, payload and history
//! (Sidekiq's compressed backtrace, BullMQ's stacktrace, RQ's traceback);
//! JSON documents, failing contexts, unknown names.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, PREFIX};
use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(60);

/// A contexts file: (name, url) contexts on schema `s` (`kind`, then the
/// options in `schema_yaml`), the first current, each labelled.
fn contexts(ws: &Workspace, ctxs: &[(&str, &str)], kind: &str, schema_yaml: &str) -> PathBuf {
    let mut s = format!(
        "apiVersion: qctl/v1\ncurrent-context: {}\nclusters:\n",
        ctxs[0].0
    );
    for (n, url) in ctxs {
        s.push_str(&format!("  - {{ name: {n}, server: \"{url}\" }}\n"));
    }
    s.push_str("contexts:\n");
    for (n, _) in ctxs {
        s.push_str(&format!(
            "  - {{ name: {n}, cluster: {n}, schema: s, labels: {{ env: test }} }}\n"
        ));
    }
    s.push_str(&format!(
        "queue-schemas:\n  - name: s\n    kind: {kind}\n{schema_yaml}"
    ));
    ws.write("c.yaml", &s)
}

/// The one item of a describe document of `kind`.
fn the_item<'d>(doc: &'d Value, kind: &str) -> &'d Value {
    assert_eq!(doc["apiVersion"], "qctl/v1", "{doc}");
    assert_eq!(doc["kind"], kind, "{doc}");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{doc:#}");
    &items[0]
}

/// Whether `text` has a line whose words are `words` (spacing aside).
fn has_line(text: &str, words: &str) -> bool {
    let want: Vec<&str> = words.split_whitespace().collect();
    text.lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>() == want)
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn describe_cluster_shows_server_system_capabilities_figures_and_checks() {
    let s = RedisServer::start();
    seed(
        &mut s.conn(),
        &Seed {
            high: 4,
            low: 1,
            dlq: 150,
            completed: 3,
            live: vec![("w1".into(), 1)],
            orphans: Vec::new(),
        },
    );
    let down = ClosedPort::new();
    let ws = Workspace::new();
    let cfg = contexts(
        &ws,
        &[("a", &s.url()), ("gone", &down.url())],
        "go-redis-work-queue",
        "",
    );
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "cluster", "a", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let d = the_item(&doc, "ClusterDescription");
    // The same figures as get clusters.
    let (_, list, _) = run_json(
        &ws,
        &cfg,
        &["get", "clusters", "--context", "a", "-o", "json"],
    );
    let c = &list["items"][0];
    for f in [
        "queued",
        "processing",
        "dead_letter",
        "completed",
        "workers",
        "orphaned_jobs",
    ] {
        assert_eq!(d["figures"][f], c[f], "{f}: {d:#}");
    }
    assert_eq!(d["figures"]["queued"], 5);
    assert!(d["figures"]["scheduled"].is_null());
    assert_eq!(
        d["absent"]["scheduled"],
        "go-redis-work-queue has no scheduled jobs"
    );
    assert_eq!(d["redis_version"], c["redis_version"]);
    assert_eq!(d["labels"]["env"], "test");
    assert_eq!(d["mode"], "standalone");
    assert_eq!(d["memory_scope"], "one server");
    let nodes = d["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["role"], "primary");
    assert!(nodes[0]["used_memory_bytes"].as_u64().unwrap() > 0);
    // The test servers run without persistence.
    assert_eq!(d["settings"]["appendonly"], "no");
    assert_eq!(d["settings"]["save"], "");
    assert_eq!(d["persistence"]["aof_enabled"], false);
    assert_eq!(d["settings"]["maxmemory"], "0");
    // The capability table: what the gate would skip, with its reason.
    let cap = |verb: &str| {
        d["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["verb"] == verb)
            .unwrap_or_else(|| panic!("no {verb}: {d:#}"))
            .clone()
    };
    assert_eq!(cap("purge-dlq")["supported"], true);
    assert!(cap("purge-dlq")["reason"].is_null());
    assert_eq!(cap("pause QUEUE")["supported"], false);
    assert!(
        cap("pause QUEUE")["reason"]
            .as_str()
            .unwrap()
            .contains("no pause flag")
    );
    assert_eq!(cap("requeue --from retry")["supported"], false);
    // Health: every check with its threshold; 150 dead jobs fail the DLQ one.
    let check = |name: &str| {
        d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no check {name}: {d:#}"))
            .clone()
    };
    assert_eq!(check("reachable")["ok"], true);
    assert_eq!(check("dead-letter")["ok"], false);
    assert_eq!(check("dead-letter")["message"], "150 jobs (max 100)");
    assert!(
        check("latency")["message"]
            .as_str()
            .unwrap()
            .contains("(max 250ms)")
    );
    assert_eq!(d["status"], "degraded");
    assert_eq!(d["system"]["kind"], "go-redis-work-queue");
    assert_eq!(d["system"]["schema"], "s");

    // The text: kubectl's sections.
    let (code, out, err) = run_raw(&ws, &cfg, &["describe", "cluster"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Context:"), "{out}");
    for line in [
        "Context: a",
        "Labels: env=test",
        "Status: degraded",
        "Server:",
        "Mode: standalone",
        "Nodes:",
        "Queue System:",
        "Kind: go-redis-work-queue",
        "Capabilities:",
        "purge-dlq yes -",
        "Figures:",
        "queued: 5",
        "scheduled: <none> (go-redis-work-queue has no scheduled jobs)",
        "Health:",
        "dead-letter fail 150 jobs (max 100)",
        "appendonly: no",
    ] {
        assert!(has_line(&out, line), "{line}:\n{out}");
    }
    assert!(out.contains("\n  Version:"), "{out}");

    // Every context: the one down is an error, the other described: 3.
    let (code, doc, _) = run_json(&ws, &cfg, &["describe", "cluster", "-A", "-o", "json"]);
    assert_eq!(code, 3);
    assert_eq!(doc["items"].as_array().unwrap().len(), 1);
    assert_eq!(doc["errors"][0]["context"], "gone");
    let (code, out, err) = run_raw(&ws, &cfg, &["describe", "cluster", "-A"]);
    assert_eq!(code, 3);
    assert!(has_line(&out, "Context: a"), "{out}");
    assert!(err.contains("error: gone: refused"), "{err}");
    // Names: unknown, or given twice.
    let (code, _, err) = run_raw(&ws, &cfg, &["describe", "cluster", "gon"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean `gone`?"), "{err}");
    let (code, _, err) = run_raw(&ws, &cfg, &["describe", "cluster", "a", "--context", "a"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, _) = run_raw(&ws, &cfg, &["describe", "cluster", "a", "-o", "name"]);
    assert_eq!((code, out.as_str()), (0, "a\n"));
}

#[test]
fn describe_cluster_lists_every_node_of_a_cluster() {
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &tagged_cluster_contexts(&cluster));
    push_all(
        &mut cluster.conn(),
        "{q}:high_priority",
        &[job("a"), job("b")],
    );
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "cluster", "eu", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let d = the_item(&doc, "ClusterDescription");
    assert_eq!(d["mode"], "cluster");
    assert_eq!(d["memory_scope"], "summed over 3 primaries");
    assert_eq!(d["figures"]["queued"], 2);
    let nodes = d["nodes"].as_array().unwrap();
    let mut addrs: Vec<String> = nodes
        .iter()
        .map(|n| n["address"].as_str().unwrap().to_string())
        .collect();
    addrs.sort();
    let mut want = cluster.addrs();
    want.sort();
    assert_eq!(addrs, want, "{d:#}");
    assert!(
        nodes
            .iter()
            .all(|n| n["role"] == "primary" && n["slots"].is_string()),
        "{d:#}"
    );
    assert!(
        nodes
            .iter()
            .any(|n| n["slots"].as_str().unwrap().starts_with("0-")),
        "{d:#}"
    );
    // Summed: the total is about the sum of the nodes' (read a moment apart).
    let sum: u64 = nodes
        .iter()
        .map(|n| n["used_memory_bytes"].as_u64().unwrap())
        .sum();
    let total = d["used_memory_bytes"].as_u64().unwrap();
    assert!(
        total * 10 > sum * 9 && total * 9 < sum * 10,
        "{total} vs {sum}"
    );
    let (_, out, _) = run_raw(&ws, &cfg, &["describe", "cluster", "eu"]);
    for a in &want {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(a.as_str()) && l.contains("primary")),
            "{a}:\n{out}"
        );
    }
    assert!(out.contains("(summed over 3 primaries)"), "{out}");
}

#[test]
fn go_redis_work_queue_queue_worker_and_job_describe() {
    let s = RedisServer::start();
    seed(
        &mut s.conn(),
        &Seed {
            high: 5,
            dlq: 3,
            live: vec![("w1".into(), 2)],
            orphans: vec![("w2".into(), 1)],
            ..Seed::default()
        },
    );
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("a", &s.url())], "go-redis-work-queue", "");
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "queue", "high", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let q = the_item(&doc, "QueueDescription");
    assert_eq!(q["key"], "jobqueue:high_priority");
    assert_eq!(q["length"], 5);
    assert_eq!(q["role"], "work");
    assert!(q["paused"].is_null(), "go-redis-work-queue has no pause");
    assert!(q["oldest_age_s"].as_f64().unwrap() > 0.0);
    let dead = &q["dead"];
    assert_eq!(dead["key"], "jobqueue:dead_letter");
    assert_eq!(dead["shared"], true);
    assert_eq!(
        (dead["total"].clone(), dead["matched"].clone()),
        (3.into(), 3.into()),
        "its jobs are priority high: {q:#}"
    );
    assert_eq!(dead["groups"][0]["count"], 3);
    assert!(dead["groups"][0]["error"].is_null());
    let sets: Vec<String> = q["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["queue"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sets, ["high", "dead-letter", "completed"]);
    // Rates over a sample while a producer pushes.
    let producer = {
        let client = s.client();
        std::thread::spawn(move || {
            let mut c = client.get_connection().unwrap();
            for i in 0..60 {
                let _: () = redis::cmd("LPUSH")
                    .arg("jobqueue:high_priority")
                    .arg(job(&format!("p-{i}")))
                    .query(&mut c)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "describe", "queue", "high", "--sample", "500ms", "-o", "json",
        ],
    );
    producer.join().unwrap();
    assert_eq!(code, 0, "{err}");
    let r = &the_item(&doc, "QueueDescription")["rates"];
    assert!(r["queued_change_per_s"].as_f64().unwrap() > 5.0, "{r}");
    assert!((r["interval_s"].as_f64().unwrap() - 0.5).abs() < 0.2, "{r}");
    let (code, out, err) = run_raw(&ws, &cfg, &["describe", "queue", "dlq"]);
    assert_eq!(code, 0, "{err}");
    assert!(has_line(&out, "Queue: dead-letter"), "{out}");
    assert!(out.contains("(no error recorded)"), "{out}");
    let (code, _, err) = run_raw(&ws, &cfg, &["describe", "queue", "hihg"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("queue `hihg` not found in context a") && err.contains("did you mean `high`?"),
        "{err}"
    );

    // Workers: a glob picks both; each with its jobs.
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "worker", "w*", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{doc:#}");
    assert_eq!(items[0]["worker"], "w1");
    assert_eq!(items[0]["state"], "active");
    let ids: Vec<&str> = items[0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["w1-1", "w1-0"]);
    assert!(items[0]["heartbeat_ttl_ms"].as_i64().unwrap() > 0);
    assert_eq!(
        items[0]["fields"]["processing list"],
        "jobqueue:worker:w1:processing"
    );
    assert_eq!(items[1]["state"], "orphaned");
    let (code, _, err) = run_raw(&ws, &cfg, &["describe", "worker", "w9"]);
    assert_eq!(code, 1);
    assert!(err.contains("no worker `w9` in context a"), "{err}");

    // A job: where it is, its payload whole.
    let (code, out, err) = run_raw(&ws, &cfg, &["describe", "job", "h-3"]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "Id: h-3",
        "Queue: high",
        "State: waiting",
        "Position: 3",
        "Priority: high",
        "Payload:",
        "\"filepath\": \"/data/h-3\",",
    ] {
        assert!(has_line(&out, line), "{line}:\n{out}");
    }
    let (_, doc, _) = run_json(&ws, &cfg, &["describe", "job", "h-3", "-o", "json"]);
    let j = the_item(&doc, "JobDescription");
    assert_eq!(
        j["payload"],
        serde_json::from_str::<Value>(&job("h-3")).unwrap()
    );
    assert_eq!(j["history"]["events"][0]["event"], "created");
    let (code, _, err) = run_raw(&ws, &cfg, &["describe", "job", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("job `nope` not found in any queue or set of context a"),
        "{err}"
    );
}

#[test]
fn sidekiq_describe_matches_sidekiqs_api() {
    if !sidekiq::available("sidekiq_describe_matches_sidekiqs_api") {
        return;
    }
    let s = RedisServer::start();
    let api = |args: &[&str]| sidekiq::jids(&sidekiq::api(&s, None, args));
    api(&["enqueue", "OkJob", "2", "mail"]);
    api(&["dead", "FailJob", "3", "mail"]);
    api(&["dead", "FailJob", "2", "default"]);
    let mut process = Sidekiq::start(
        &s,
        SidekiqOptions {
            queues: vec!["work".into()],
            concurrency: 3,
            tag: Some("describe".into()),
            ..SidekiqOptions::default()
        },
    );
    let retry = api(&["enqueue", "RetryFailJob", "1", "work"]);
    let slow = api(&["enqueue", "SlowJob", "1", "work", "[30]"]);
    let r = sidekiq::wait_for_report(&s, None, WAIT, |r| {
        r["retries"].as_array().is_some_and(|a| a.len() == 1)
            && r["workers"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w["jid"] == slow[0].as_str()))
            && r["stats"]["failed"].as_u64() >= Some(1)
    });
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("sk", &s.url())], "sidekiq", "");

    // The cluster's figures are Sidekiq's own Stats.
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "cluster", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let f = &the_item(&doc, "ClusterDescription")["figures"];
    let st = &r["stats"];
    assert_eq!(f["queued"], st["enqueued"], "{f}\n{st}");
    assert_eq!(f["scheduled"], st["scheduled_size"]);
    assert_eq!(f["retrying"], st["retry_size"]);
    assert_eq!(f["dead_letter"], st["dead_size"]);
    assert_eq!(f["workers"], st["processes_size"]);
    assert_eq!(f["processed_total"], st["processed"]);
    assert_eq!(f["failed_total"], st["failed"]);
    assert!(f["completed"].is_null());
    let caps = &the_item(&doc, "ClusterDescription")["capabilities"];
    let orphaned = caps
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["verb"] == "requeue --orphaned")
        .unwrap();
    assert_eq!(orphaned["supported"], false);
    assert!(
        orphaned["reason"]
            .as_str()
            .unwrap()
            .contains("reliable fetch")
    );

    // A queue: its length as Sidekiq says, its dead jobs from the shared set.
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "queue", "mail", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let q = the_item(&doc, "QueueDescription");
    let mail = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "mail")
        .unwrap();
    assert_eq!(q["length"], mail["size"]);
    let dead = &q["dead"];
    assert_eq!(dead["shared"], true);
    assert_eq!(dead["total"], st["dead_size"]);
    assert_eq!(dead["matched"], 3, "{q:#}");
    let g = &dead["groups"].as_array().unwrap();
    assert_eq!(g.len(), 1, "one error, whatever the args: {q:#}");
    assert_eq!(g[0]["name"], "FailJob");
    assert_eq!(g[0]["count"], 3);
    assert_eq!(
        g[0]["error"],
        "QctlFixtureError: qctl fixture failure: FailJob [N]"
    );
    let sets: Vec<&str> = q["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["queue"].as_str().unwrap())
        .collect();
    assert_eq!(sets, ["mail", "scheduled", "retry", "dead"]);

    // The process: what Sidekiq's ProcessSet says of it, and its busy job.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["describe", "worker", process.identity(), "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let w = the_item(&doc, "WorkerDescription");
    let theirs = &r["processes"][0];
    assert_eq!(w["process"]["hostname"], theirs["hostname"]);
    assert_eq!(w["process"]["pid"], theirs["pid"]);
    assert_eq!(w["process"]["concurrency"], theirs["concurrency"]);
    assert_eq!(w["process"]["tag"], "describe");
    assert_eq!(w["process"]["queues"], theirs["queues"]);
    assert_eq!(w["jobs"][0]["id"], slow[0].as_str());
    assert_eq!(w["jobs"][0]["name"], "SlowJob");
    assert_eq!(w["fields"]["busy"], "1");
    assert_eq!(w["fields"]["identity"], process.identity());
    let (_, out, _) = run_raw(&ws, &cfg, &["describe", "worker", process.identity()]);
    assert!(
        has_line(&out, "Tag: describe") && has_line(&out, "In Flight: 1"),
        "{out}"
    );

    // A retrying job: its error, retries left, and the backtrace Sidekiq
    // stored compressed, decoded.
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "job", &retry[0], "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let j = the_item(&doc, "JobDescription");
    let theirs = &r["retries"][0];
    assert_eq!(j["state"], "retry");
    assert_eq!(j["job_queue"], "work");
    let h = &j["history"];
    assert_eq!(h["error_class"], theirs["error_class"]);
    assert_eq!(h["error_message"], theirs["error_message"]);
    assert_eq!(h["attempts"], 1);
    assert_eq!(h["retries_left"], 25);
    let bt = strs(&h["backtrace"]);
    assert!(
        bt.iter()
            .any(|l| l.contains("jobs.rb") && l.contains("perform")),
        "{bt:?}"
    );
    assert!(j["problems"].is_null(), "{j:#}");
    let events: Vec<String> = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        events,
        ["created", "enqueued", "failed", "retry due"],
        "{h:#}"
    );
    let (_, out, _) = run_raw(&ws, &cfg, &["describe", "job", &retry[0]]);
    assert!(out.contains("  Backtrace:\n"), "{out}");
    assert!(has_line(&out, "Error Class: QctlFixtureError"), "{out}");
    process.kill();
}

#[test]
fn bullmq_describe_matches_bullmqs_api() {
    if !bullmq::available("bullmq_describe_matches_bullmqs_api") {
        return;
    }
    let s = RedisServer::start();
    let api = |args: &[&str]| bullmq::api(&s, PREFIX, args);
    let failed = bullmq::ids(&api(&["add", "work", "fail", "3", r#"{"attempts":2}"#]));
    let mut w = BullWorker::start(
        &s,
        BullWorkerOptions {
            name: Some("w1".into()),
            ..BullWorkerOptions::queue("work")
        },
    );
    bullmq::wait_for_report(&s, PREFIX, &["work"], WAIT, |r| {
        r["queues"][0]["counts"]["failed"] == 3
    });
    // A steady stream to complete during the sample.
    api(&["add", "work", "slow", "60", "{}", r#"{"ms":40}"#]);
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("bq", &s.url())], "bullmq", "");
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["describe", "queue", "work", "--sample", "1s", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let q = the_item(&doc, "QueueDescription");
    assert_eq!(q["paused"], false);
    assert!(
        q["rates"]["completed_per_s"].as_f64().unwrap() > 2.0,
        "{q:#}"
    );
    assert!(
        q["rates"]["queued_change_per_s"].as_f64().unwrap() < 0.0,
        "{q:#}"
    );
    let dead = &q["dead"];
    assert_eq!(
        (dead["key"].as_str(), dead["shared"].as_bool()),
        (Some("bull:work:failed"), Some(false))
    );
    assert_eq!(dead["total"], 3);
    assert_eq!(dead["groups"][0]["count"], 3, "{q:#}");
    assert_eq!(dead["groups"][0]["error"], "qctl fixture failure: fail N");
    let r = bullmq::report(&s, PREFIX, &["work"]);
    for set in q["sets"].as_array().unwrap() {
        let state = match set["queue"].as_str().unwrap() {
            "work" => "waiting",
            other => other.strip_prefix("work:").unwrap(),
        };
        if state == "completed" || state == "active" || state == "waiting" {
            continue; // still moving
        }
        assert_eq!(
            set["length"], r["queues"][0]["counts"][state],
            "{state}: {set}"
        );
    }
    api(&["pause", "work"]);
    let (_, doc, _) = run_json(&ws, &cfg, &["describe", "queue", "work", "-o", "json"]);
    assert_eq!(the_item(&doc, "QueueDescription")["paused"], true);
    api(&["resume", "work"]);

    // The worker: its connection is all BullMQ has of it.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["describe", "worker", "work:w:w1@*", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let d = the_item(&doc, "WorkerDescription");
    assert_eq!(d["fields"]["connection name"], w.client_name());
    assert!(
        err.contains("which jobs a worker runs is not in Redis"),
        "{err}"
    );

    // A failed job: attempts, the stacktrace of each attempt, the reason.
    let id = &failed[0];
    let theirs = api(&["job", "work", id]);
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "job", id, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let j = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_queue"] == "work")
        .unwrap();
    assert_eq!(j["state"], "dead");
    let h = &j["history"];
    assert_eq!(h["attempts"], theirs["attemptsMade"]);
    assert_eq!(h["attempts"], 2);
    assert_eq!(h["retries_left"], 0);
    assert_eq!(h["error_message"], theirs["failedReason"]);
    assert_eq!(h["error_class"], "QctlFixtureError");
    let stacks = strs(&theirs["stacktrace"]);
    assert_eq!(
        strs(&h["backtrace"])[0],
        stacks.last().unwrap().lines().next().unwrap()
    );
    assert_eq!(h["errors"].as_array().unwrap().len(), stacks.len() - 1);
    assert_eq!(h["fields"]["opts"]["attempts"], 2);
    assert_eq!(j["payload"], theirs["data"]);
    let (_, out, _) = run_raw(&ws, &cfg, &["describe", "job", id]);
    assert!(out.contains("Earlier Errors:"), "{out}");
    assert!(has_line(&out, "Attempts: 2"), "{out}");
    w.kill();
}

#[test]
fn rq_describe_matches_rqs_api() {
    if !rq::available("rq_describe_matches_rqs_api") {
        return;
    }
    let s = RedisServer::start();
    let api = |args: &[&str]| rq::ids(&rq::api(&s, args));
    let failed = api(&["enqueue", "work", "fail", "2", "[7]"]);
    let mut burst = RqWorker::start(
        &s,
        RqOptions {
            burst: true,
            with_scheduler: false,
            ..RqOptions::with_queues(&["work"])
        },
    );
    assert!(burst.wait_exit(WAIT).is_some(), "{}", burst.logs());
    let slow = api(&["enqueue", "work", "slow", "1", "[30]"]);
    let mut w = RqWorker::start(
        &s,
        RqOptions {
            with_scheduler: false,
            ..RqOptions::with_queues(&["work"])
        },
    );
    let r = rq::wait_for_report(&s, WAIT, |r| rq::queue(r, "work")["started"]["count"] == 1);
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("py", &s.url())], "rq", "");

    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "queue", "work", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let q = the_item(&doc, "QueueDescription");
    assert_eq!(q["paused"], false);
    let set = |name: &str| {
        q["sets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["queue"] == name)
            .unwrap_or_else(|| panic!("no {name}: {q:#}"))
            .clone()
    };
    let theirs = rq::queue(&r, "work");
    assert_eq!(set("failed:work")["length"], theirs["failed"]["count"]);
    assert_eq!(set("started:work")["length"], theirs["started"]["count"]);
    assert_eq!(set("finished:work")["length"], theirs["finished"]["count"]);
    assert_eq!(q["dead"]["groups"][0]["count"], 2);
    assert_eq!(q["dead"]["groups"][0]["name"], "jobs.fail");
    assert_eq!(
        q["dead"]["groups"][0]["error"],
        "jobs.QctlFixtureError: qctl fixture failure: fail [N]"
    );
    rq::api(&s, &["suspend"]);
    let (_, doc, _) = run_json(&ws, &cfg, &["describe", "queue", "work", "-o", "json"]);
    assert_eq!(
        the_item(&doc, "QueueDescription")["paused"],
        true,
        "RQ's suspend pauses every queue"
    );
    rq::api(&s, &["resume"]);

    // The worker's hash and its running job.
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "worker", w.name(), "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let d = the_item(&doc, "WorkerDescription");
    let theirs = r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == w.name())
        .unwrap();
    assert_eq!(d["fields"]["pid"], w.pid().to_string());
    assert_eq!(d["fields"]["state"], theirs["state"]);
    assert_eq!(d["fields"]["hostname"], theirs["hostname"]);
    assert_eq!(d["jobs"][0]["id"], slow[0].as_str());
    assert_eq!(d["jobs"][0]["name"], "jobs.slow");
    assert_eq!(d["jobs"][0]["id"], theirs["current_job_id"]);

    // A failed job: RQ's traceback from its results stream, decoded whole.
    let id = &failed[0];
    let theirs = &rq::api(&s, &["job", id])["jobs"][0];
    let (code, doc, err) = run_json(&ws, &cfg, &["describe", "job", id, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let j = the_item(&doc, "JobDescription");
    assert_eq!(j["status"], theirs["status"]);
    assert_eq!(j["payload"], Value::Null);
    assert_eq!(j["payload_encoding"], "pickle");
    assert_eq!(j["fields"]["origin"], "work");
    let h = &j["history"];
    let tb = theirs["result"]["exc_string"].as_str().unwrap();
    assert_eq!(
        strs(&h["backtrace"]).last().unwrap(),
        tb.trim_end().lines().last().unwrap()
    );
    assert_eq!(
        strs(&h["backtrace"])[0],
        "Traceback (most recent call last):"
    );
    assert_eq!(h["error_class"], "jobs.QctlFixtureError");
    assert_eq!(h["error_message"], "qctl fixture failure: fail [7]");
    let failed_event = h["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "failed")
        .unwrap();
    assert!(
        failed_event["detail"]
            .as_str()
            .unwrap()
            .contains("(worker "),
        "{h:#}"
    );
    let (_, out, _) = run_raw(&ws, &cfg, &["describe", "job", id]);
    assert!(
        out.contains("(pickle: not shown; qctl never unpickles a payload)"),
        "{out}"
    );
    assert!(has_line(&out, "Status: failed"), "{out}");
    w.kill();
}
