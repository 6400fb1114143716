//! The read verbs on a real RQ 3 deployment: qctl's figures, queues,
//! workers and jobs against what RQ's own API reports (api.py: Queue.count,
//! the registries' get_job_count(cleanup=False), the workers), with one
//! worker busy, one SIGKILLed mid-job, jobs finished, failed, scheduled,
//! deferred and waiting, and the workers suspended; and proof that reading
//! wrote nothing while RQ's own readers would have cleaned up.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(30);

/// A contexts file with one RQ context `py` on `s` (`extra`: more schema
/// options, indented).
fn rq_contexts(ws: &Workspace, s: &RedisServer, extra: &str) -> std::path::PathBuf {
    ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: py, server: \"{}\" }}\ncurrent-context: py\ncontexts:\n  - {{ name: py, cluster: py, schema: py }}\nqueue-schemas:\n  - name: py\n    kind: rq\n{extra}",
            s.url()
        ),
    )
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn strs(v: &Value) -> Vec<String> {
    rq::ids(v)
}

fn set(v: Vec<String>) -> BTreeSet<String> {
    v.into_iter().collect()
}

/// Seconds of the server's clock (`TIME`).
fn server_now(s: &RedisServer) -> f64 {
    let t = s.cli(&["TIME"]);
    let mut l = t.lines();
    let secs: f64 = l.next().unwrap().trim().parse().unwrap();
    let us: f64 = l.next().unwrap().trim().parse().unwrap();
    secs + us / 1e6
}

/// Sum of `f(queue)` over the report's queues.
fn total(r: &Value, f: impl Fn(&Value) -> u64) -> u64 {
    r["queues"].as_array().unwrap().iter().map(f).sum()
}

fn jobs(ws: &Workspace, cfg: &std::path::Path, name: &str) -> Vec<Value> {
    let (code, doc, err) = run_json(ws, cfg, &["get", "jobs", name, "-n", "100", "-o", "json"]);
    assert_eq!(code, 0, "get jobs {name}: {err}");
    doc["items"].as_array().unwrap().clone()
}

fn ids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect()
}

/// The addresses of the clients connected now (`CLIENT LIST`).
fn client_addrs(s: &RedisServer) -> BTreeSet<String> {
    s.cli(&["CLIENT", "LIST"])
        .lines()
        .filter_map(|l| {
            l.split(' ')
                .find_map(|f| f.strip_prefix("addr="))
                .map(String::from)
        })
        .collect()
}

/// Runs `f` under `redis-cli monitor`; the commands sent by clients that
/// were not connected before (qctl's), by name.
fn commands_of_new_clients(s: &RedisServer, f: impl FnOnce()) -> BTreeMap<String, u64> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitor.log");
    let mut monitor = s
        .cli_command()
        .arg("monitor")
        .stdout(File::create(&path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-cli monitor");
    assert!(
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(&path)
            .is_ok_and(|s| s.starts_with("OK"))),
        "redis-cli monitor did not start"
    );
    let before = client_addrs(s);
    f();
    thread::sleep(Duration::from_millis(300));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let log = std::fs::read_to_string(&path).unwrap();
    let mut out = BTreeMap::new();
    for l in log.lines().skip(1) {
        // 1796178433.336122 [0 127.0.0.1:35826] "SMEMBERS" "rq:queues"
        let Some((head, rest)) = l.split_once("] \"") else {
            continue;
        };
        let addr = head.rsplit(' ').next().unwrap_or("");
        if before.contains(addr) {
            continue;
        }
        let cmd = rest.split('"').next().unwrap_or("").to_ascii_uppercase();
        *out.entry(cmd).or_insert(0) += 1;
    }
    out
}

/// What qctl may send while reading RQ: nothing that writes.
const READS: &[&str] = &[
    "PING",
    "INFO",
    "TIME",
    "TYPE",
    "EXISTS",
    "SMEMBERS",
    "LLEN",
    "LRANGE",
    "ZCARD",
    "ZCOUNT",
    "ZRANGE",
    "HMGET",
    "HGETALL",
    "PTTL",
    "XREVRANGE",
    "CLIENT",
    "HELLO",
];

#[test]
fn figures_queues_workers_and_jobs_match_rqs_own_api_and_reading_writes_nothing() {
    if !rq::available("rq_reads") {
        return;
    }
    let server = RedisServer::start();
    let api = |args: &[&str]| rq::api(&server, args);

    // A worker that dies mid-job: it beats every second (RQ then sets its
    // hash TTL and its wip score to 61 s ahead), so that it is stale 11 s
    // after its last beat and its job abandoned after 61 s.
    let doomed_job = rq::ids(&api(&["enqueue", "doomed", "slow", "1", "[300]"]))[0].clone();
    let mut doomed = RqWorker::start(
        &server,
        RqOptions {
            queues: vec!["doomed".into()],
            with_scheduler: false,
            job_monitoring_interval: Some(1),
            ..Default::default()
        },
    );
    rq::wait_for_report(&server, WAIT, |r| {
        rq::ids(&rq::queue(r, "doomed")["started"]["job_ids"]) == vec![doomed_job.clone()]
    });
    doomed.kill();

    // A live worker: jobs finish and fail, then it stays busy.
    let ok = rq::ids(&api(&["enqueue", "default", "ok", "5", "[1]"]));
    let fail = rq::ids(&api(&["enqueue", "default", "fail", "3", "[\"x\"]"]));
    let busy_job = rq::ids(&api(&["enqueue", "default", "slow", "1", "[600]"]))[0].clone();
    let later = rq::ids(&api(&["enqueue_in", "default", "3600", "ok", "2"]));
    let idle = rq::ids(&api(&["enqueue", "idle", "ok", "4", "[\"i\"]"]));
    let deferred = rq::ids(&api(&[
        "enqueue",
        "idle",
        "ok",
        "1",
        "--depends-on",
        &idle[0],
    ]));
    let live = RqWorker::start(
        &server,
        RqOptions {
            with_scheduler: false,
            ..Default::default()
        },
    );
    rq::wait_for_report(&server, WAIT, |r| {
        let q = rq::queue(r, "default");
        q["finished"]["count"] == 5
            && q["failed"]["count"] == 3
            && rq::ids(&q["started"]["job_ids"]) == vec![busy_job.clone()]
    });
    api(&["suspend"]);

    // Phase A: the killed worker's hash still says busy, but its heartbeat
    // is more than 10 s late (its TTL, which each beat sets to 61 s, is
    // under 50 s).
    let doomed_key = doomed.key();
    assert!(
        wait_for(Duration::from_secs(40), || {
            let ttl: i64 = server.cli(&["PTTL", &doomed_key]).trim().parse().unwrap();
            (0..49_000).contains(&ttl)
        }),
        "the killed worker's hash should age: {}",
        server.cli(&["PTTL", &doomed_key])
    );
    let r = rq::report(&server);
    let ws = Workspace::new();
    let cfg = rq_contexts(&ws, &server, "");

    // get clusters: the figures of SPEC 10.2 against RQ's API.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}{doc}");
    let c = &doc["items"][0];
    assert_eq!(c["system"], "rq");
    assert_eq!(c["queued"], total(&r, |q| u(&q["count"])), "{c}\n{r:#}");
    assert_eq!(c["queued"], 4, "{c}");
    assert_eq!(c["scheduled"], total(&r, |q| u(&q["scheduled"]["count"])));
    assert_eq!(c["scheduled"], 2);
    assert_eq!(c["dead_letter"], total(&r, |q| u(&q["failed"]["count"])));
    assert_eq!(c["dead_letter"], 3);
    assert_eq!(c["completed"], total(&r, |q| u(&q["finished"]["count"])));
    assert_eq!(c["completed"], 5);
    let in_flight = total(&r, |q| {
        u(&q["started"]["count"]) + q["intermediate"].as_array().unwrap().len() as u64
    });
    assert_eq!(c["processing"], in_flight, "{c}");
    assert_eq!(c["processing"], 2, "the busy job and the killed one's: {c}");
    // RQ lists both workers (its hash lives 61 s); qctl tells them apart.
    assert_eq!(r["workers"].as_array().unwrap().len(), 2, "{r:#}");
    assert_eq!(c["workers"], 1, "{c}");
    assert_eq!(c["orphaned_workers"], 1, "{c}");
    assert_eq!(
        c["orphaned_jobs"], 0,
        "its wip entry is not past its score yet: {c}"
    );
    assert_eq!(r["suspended"], true);
    assert_eq!(
        u(&c["paused_queues"]),
        r["queues"].as_array().unwrap().len() as u64
    );
    for none in ["retrying", "processed_total", "failed_total"] {
        assert!(c[none].is_null(), "{none}: {c}");
    }

    // get queues: each queue and registry, paused while suspended.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "queues", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let items = doc["items"].as_array().unwrap();
    let row = |queue: &str, state: &str| {
        items
            .iter()
            .find(|i| i["queue"] == queue && i["state"] == state)
            .unwrap_or_else(|| panic!("no {state} row of {queue}: {doc}"))
            .clone()
    };
    for q in r["queues"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        let w = row(name, "waiting");
        assert_eq!(w["length"], q["count"], "{name}");
        assert_eq!(w["key"], q["key"]);
        assert_eq!(w["paused"], true, "{w}");
        assert_eq!(w["system"], "rq");
        for (state, reg) in [
            ("scheduled", "scheduled"),
            ("dead", "failed"),
            ("completed", "finished"),
            ("active", "started"),
            ("deferred", "deferred"),
        ] {
            // A registry is named `<registry>:<queue>` (`failed:default`).
            let x = row(&format!("{reg}:{name}"), state);
            assert_eq!(x["length"], q[reg]["count"], "{name} {state}: {x}");
            assert_eq!(x["key"], q[reg]["key"], "{name} {state}");
            assert!(x["paused"].is_null());
        }
    }
    // The age of the next job of `idle`: its enqueued_at.
    let head = &api(&["job", &idle[0]])["jobs"][0];
    let want = want_age(&server, head);
    let age = row("idle", "waiting")["oldest_age_s"].as_f64().unwrap();
    assert!((age - want).abs() < 5.0, "age {age} vs {want}");

    // get workers: one row per worker hash, the killed one orphaned.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "workers", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let workers = doc["items"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{doc}");
    let rw = |name: &str| {
        r["workers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == name)
            .unwrap()
            .clone()
    };
    let a = workers.iter().find(|w| w["worker"] == live.name()).unwrap();
    let ra = rw(live.name());
    assert_eq!(a["state"], "active", "{a}");
    assert_eq!(a["process"]["pid"], ra["pid"]);
    assert_eq!(a["process"]["hostname"], ra["hostname"]);
    assert_eq!(a["process"]["queues"], ra["queues"]);
    assert_eq!(a["job_id"], ra["current_job_id"]);
    assert_eq!(a["job_id"], busy_job.as_str());
    assert_eq!(a["in_flight"], 1);
    assert!(a["heartbeat_ttl_ms"].as_i64().unwrap() > 49_000, "{a}");
    let d = workers
        .iter()
        .find(|w| w["worker"] == doomed.name())
        .unwrap();
    assert_eq!(rw(doomed.name())["state"], "busy", "RQ still says busy");
    assert_eq!(d["state"], "orphaned", "{d}");
    assert_eq!(d["job_id"], doomed_job.as_str());
    assert!(d["heartbeat_ttl_ms"].is_null());
    assert!(d["process"]["beat_age_s"].as_f64().unwrap() > 10.0, "{d}");
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &["get", "workers", "--state", "orphaned", "-o", "json"],
    );
    assert_eq!(code, 0);
    assert_eq!(doc["items"].as_array().unwrap().len(), 1);

    // get jobs in every state, against the registries and Job.fetch.
    let failed = jobs(&ws, &cfg, "failed:default");
    let def = rq::queue(&r, "default");
    assert_eq!(ids_of(&failed), strs(&def["failed"]["job_ids"]));
    assert_eq!(set(ids_of(&failed)), set(fail.clone()));
    assert_eq!(ids_of(&jobs(&ws, &cfg, "dlq")), ids_of(&failed));
    let api_job = &api(&["job", &fail[0]])["jobs"][0];
    for j in &failed {
        assert_eq!(j["state"], "dead");
        assert_eq!(j["status"], "failed");
        assert_eq!(j["name"], api_job["func_name"], "{j}");
        assert_eq!(j["job_queue"], "default");
        assert!(j["valid"].as_bool().unwrap(), "{j}");
        assert!(j["payload"].is_null(), "never unpickled: {j}");
        assert_eq!(j["payload_encoding"], "pickle");
        assert!(j["problems"].is_null(), "{j}");
        let e = j["error"].as_str().unwrap();
        assert!(
            e.starts_with("jobs.QctlFixtureError: qctl fixture failure: fail"),
            "{e}"
        );
        assert!(
            api_job["result"]["exc_string"]
                .as_str()
                .unwrap()
                .trim_end()
                .ends_with(e),
            "the last line of RQ's traceback"
        );
        assert!(j["failed_at"].is_string() && j["ended_age_s"].is_number());
        assert_eq!(j["fields"]["description"], "jobs.fail('x')");
        assert!(j["fields"].get("data").is_none());
    }
    let finished = jobs(&ws, &cfg, "finished:default");
    assert_eq!(set(ids_of(&finished)), set(ok.clone()));
    assert!(
        finished.iter().all(|j| j["status"] == "finished"
            && j["state"] == "completed"
            && j["error"].is_null())
    );
    let scheduled = jobs(&ws, &cfg, "scheduled:default");
    assert_eq!(set(ids_of(&scheduled)), set(later.clone()));
    for j in &scheduled {
        let run_at: jiff::Timestamp = j["run_at"].as_str().unwrap().parse().unwrap();
        let want = def["scheduled"]["scores"][j["id"].as_str().unwrap()]
            .as_f64()
            .unwrap();
        assert!((run_at.as_second() as f64 - want).abs() < 2.0, "{j}");
        assert_eq!(j["status"], "scheduled");
    }
    let started = jobs(&ws, &cfg, "started:default");
    assert_eq!(ids_of(&started), vec![busy_job.clone()]);
    assert_eq!(started[0]["status"], "started");
    assert_eq!(started[0]["state"], "active");
    assert!(started[0]["started_age_s"].is_number());
    assert_eq!(
        ids_of(&jobs(&ws, &cfg, "rq:wip:doomed")),
        vec![doomed_job.clone()]
    );
    // A queue lists its head first: what a worker takes next.
    let waiting = jobs(&ws, &cfg, "idle");
    assert_eq!(ids_of(&waiting), strs(&rq::queue(&r, "idle")["job_ids"]));
    assert_eq!(ids_of(&waiting), idle);
    assert!(
        waiting
            .iter()
            .all(|j| j["name"] == "jobs.ok" && j["status"] == "queued")
    );
    let age = waiting[0]["age_s"].as_f64().unwrap();
    assert!((age - want_age(&server, head)).abs() < 5.0, "{age}");
    let from_end = {
        let (code, doc, _) = run_json(
            &ws,
            &cfg,
            &["get", "jobs", "idle", "-n", "1", "--from-end", "-o", "json"],
        );
        assert_eq!(code, 0);
        doc["items"][0].clone()
    };
    assert_eq!(from_end["id"], idle[3].as_str());
    assert_eq!(from_end["position"], 3);
    let d = jobs(&ws, &cfg, "deferred:idle");
    assert_eq!(ids_of(&d), deferred);
    assert_eq!(d[0]["status"], "deferred");
    assert_eq!(d[0]["state"], "deferred");

    // The table: generic columns, the error as detail.
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "jobs", "dlq"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().contains("NAME"), "{out}");
    assert!(
        out.contains("jobs.fail") && out.contains("QctlFixtureError"),
        "{out}"
    );

    // Phase B: the killed worker's wip entry is past its score (RQ's
    // StartedJobRegistry.cleanup would fail it), its hash has expired but
    // its key is still in rq:workers (Worker.all() would SREM it).
    let wip = "rq:wip:doomed";
    let e = &rq::queue(&r, "doomed")["started"]["executions"][0];
    let member = format!(
        "{}:{}",
        e["job_id"].as_str().unwrap(),
        e["execution_id"].as_str().unwrap()
    );
    let zscore = || -> f64 {
        server
            .cli(&["ZSCORE", wip, &member])
            .trim()
            .parse()
            .unwrap()
    };
    let score = zscore();
    let deadline = Instant::now() + Duration::from_secs(90);
    while server_now(&server) < score + 1.0 {
        assert!(Instant::now() < deadline, "the wip score never passed");
        thread::sleep(Duration::from_millis(500));
    }
    let r = rq::report(&server);
    assert_eq!(
        strs(&r["stale_worker_keys"]),
        vec![doomed_key.clone()],
        "{r:#}"
    );
    let keys_before = sorted_keys(&server);
    let mut figures = Value::Null;
    let mut worker_rows = Value::Null;
    let sent = commands_of_new_clients(&server, || {
        let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        figures = doc["items"][0].clone();
        let (code, doc, err) = run_json(&ws, &cfg, &["get", "workers", "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        worker_rows = doc["items"].clone();
        assert_eq!(run_json(&ws, &cfg, &["get", "queues", "-o", "json"]).0, 0);
        for q in [
            "started:doomed",
            "failed:default",
            "idle",
            "scheduled:default",
        ] {
            jobs(&ws, &cfg, q);
        }
    });
    assert!(
        sent.contains_key("ZCOUNT") && sent.contains_key("HGETALL"),
        "{sent:?}"
    );
    for c in sent.keys() {
        assert!(
            READS.contains(&c.as_str()),
            "qctl sent {c} while reading: {sent:?}"
        );
    }
    assert_eq!(figures["orphaned_jobs"], 1, "{figures}");
    assert_eq!(
        figures["orphaned_workers"], 0,
        "its hash is gone: {figures}"
    );
    assert_eq!(figures["workers"], 1, "{figures}");
    assert_eq!(figures["processing"], 2, "{figures}");
    assert_eq!(worker_rows.as_array().unwrap().len(), 1, "{worker_rows}");
    // Nothing cleaned up: the abandoned entry, the stale member, every key.
    assert_eq!(zscore(), score);
    assert_eq!(
        server.cli(&["SISMEMBER", "rq:workers", &doomed_key]).trim(),
        "1"
    );
    assert_eq!(sorted_keys(&server), keys_before);
    let after = rq::report(&server);
    assert_eq!(after["stale_worker_keys"], r["stale_worker_keys"]);
    assert_eq!(
        rq::queue(&after, "doomed")["started"]["count"],
        rq::queue(&r, "doomed")["started"]["count"]
    );
    drop(live);
}

/// Seconds since `job`'s `enqueued_at`, by the server's clock.
fn want_age(s: &RedisServer, job: &Value) -> f64 {
    let enq: jiff::Timestamp = job["enqueued_at"].as_str().unwrap().parse().unwrap();
    server_now(s) - enq.as_microsecond() as f64 / 1e6
}

fn sorted_keys(s: &RedisServer) -> Vec<String> {
    let mut k: Vec<String> = s.cli(&["KEYS", "*"]).lines().map(String::from).collect();
    k.sort();
    k
}

#[test]
fn bad_jobs_are_flagged_and_bad_schemas_refused() {
    if !rq::available("rq_bad_input") {
        return;
    }
    let server = RedisServer::start();
    let ids = rq::ids(&rq::api(&server, &["enqueue", "bad", "ok", "5"]));
    let job = |i: usize| format!("rq:job:{}", ids[i]);
    // 0: pickled data that is garbage, exc_info that is not zlib.
    server.cli(&[
        "HSET",
        &job(0),
        "data",
        "garbage",
        "exc_info",
        "not zlib\nKeyError: k",
    ]);
    // 1: a hash missing fields.
    server.cli(&[
        "HDEL",
        &job(1),
        "origin",
        "created_at",
        "description",
        "enqueued_at",
    ]);
    // 2: an id whose hash expired.
    server.cli(&["PEXPIRE", &job(2), "1"]);
    // 3: a result stream whose exc_string is garbage.
    server.cli(&[
        "XADD",
        &format!("rq:results:{}", ids[3]),
        "*",
        "type",
        "2",
        "exc_string",
        "!!",
    ]);
    thread::sleep(Duration::from_millis(50));
    assert_eq!(server.cli(&["EXISTS", &job(2)]).trim(), "0");

    let ws = Workspace::new();
    let cfg = rq_contexts(&ws, &server, "");
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "jobs", "bad", "-o", "json"]);
    assert_eq!(code, 0, "never fatal: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(ids_of(items), ids, "every id listed, in queue order");
    let problems = |i: usize| items[i]["problems"].to_string();
    assert_eq!(items[0]["valid"], false);
    assert!(items[0]["payload_encoding"].is_null());
    assert!(
        problems(0).contains("neither a pickle nor JSON"),
        "{}",
        items[0]
    );
    assert!(problems(0).contains("exc_info is not zlib"), "{}", items[0]);
    assert_eq!(items[0]["error"], "KeyError: k");
    assert_eq!(
        items[1]["valid"], true,
        "RQ can still load it: {}",
        items[1]
    );
    assert!(
        problems(1).contains("no origin, created_at, description"),
        "{}",
        items[1]
    );
    assert_eq!(items[1]["job_queue"], "bad", "the queue it was listed in");
    assert_eq!(items[2]["valid"], false);
    assert!(problems(2).contains("hash is gone"), "{}", items[2]);
    assert!(
        problems(3).contains("exc_string is not base64"),
        "{}",
        items[3]
    );
    assert!(items[4]["problems"].is_null(), "{}", items[4]);
    assert!(
        err.contains("1 of the jobs shown: its job hash is gone (expired or deleted)"),
        "counted in a note: {err}"
    );
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "jobs", "bad"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hash is gone"), "{out}");
    // The figures and rows of the same context still read.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["queued"], 5);
    assert_eq!(run_json(&ws, &cfg, &["get", "queues", "-o", "json"]).0, 0);

    // A registry that is not a sorted set: that context's error, no crash.
    server.cli(&["SET", "rq:failed:bad", "x"]);
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "jobs", "failed:bad"]);
    assert_ne!(code, 0);
    assert!(err.contains("holds a string"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    server.cli(&["DEL", "rq:failed:bad"]);

    // Another prefix (RQ_KEY_PREFIX), written by RQ itself.
    rq::api_env(
        &server,
        &[("RQ_KEY_PREFIX", "myrq")],
        &["enqueue", "other", "ok", "3"],
    );
    let cfg2 = rq_contexts(&ws, &server, "    prefix: myrq\n");
    let (code, doc, err) = run_json(&ws, &cfg2, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["queued"], 3, "only myrq's queue");
    let other = jobs(&ws, &cfg2, "other");
    assert!(
        other
            .iter()
            .all(|j| j["key"] == "myrq:queue:other" && j["valid"] == true)
    );
    // A schema that names its queues reads only those.
    let cfg3 = rq_contexts(&ws, &server, "    queues: [nothing-here]\n");
    let (code, doc, _) = run_json(&ws, &cfg3, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0);
    assert_eq!(doc["items"][0]["queued"], 0);

    // Schema options: unknown, of another kind, or not what RQ accepts.
    let bad = |extra: &str| {
        let cfg = rq_contexts(&ws, &server, extra);
        run_raw(&ws, &cfg, &["config", "validate"])
    };
    let (code, _, err) = bad("    prefx: rq\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`prefx` is not an option of rq"), "{err}");
    assert!(err.contains("did you mean `prefix`"), "{err}");
    let (code, _, err) = bad("    namespace: shop\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`namespace` is not an option of rq"), "{err}");
    let (code, _, err) = bad("    prefix: \"my rq\"\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not a prefix RQ accepts"), "{err}");
    let (code, _, err) = bad("    queues: default\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("must be a list"), "{err}");

    // Writes RQ has no way to do: skipped, saying why, nothing written.
    let cfg = rq_contexts(&ws, &server, "");
    let writes_before = command_calls(&server);
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["pause", "default", "--context", "py", "--yes-i-typed=py"],
    );
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("not supported by rq: RQ has no per-queue pause"),
        "{err}"
    );
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["quiet", "workers", "--context", "py", "--yes-i-typed=py"],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("RQ workers take no quiet command"), "{err}");
    let writes_after = command_calls(&server);
    for w in ["del", "rename", "lpush", "rpush", "zadd", "hset", "publish"] {
        assert_eq!(writes_after.get(w), writes_before.get(w), "{w}");
    }
}
