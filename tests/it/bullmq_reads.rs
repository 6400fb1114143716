//! The read verbs on real BullMQ deployments: qctl's figures, queues,
//! workers and jobs against what BullMQ's own API reports (api.js:
//! getJobCounts, isPaused, getWorkers, getRanges, getJobs), standalone and
//! on a 3-primary cluster with the prefix `{bull}`; and bad data, which is
//! flagged, never fatal.

use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, CLUSTER_PREFIX, PREFIX};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(30);

/// BullMQ's state names (api.js) and qctl's `get jobs` name and `state` for
/// each; `paused` (the legacy list) is checked apart.
const STATES: &[(&str, &str, &str)] = &[
    ("waiting", "", "waiting"),
    ("prioritized", ":prioritized", "waiting"),
    ("delayed", ":delayed", "scheduled"),
    ("active", ":active", "active"),
    ("completed", ":completed", "completed"),
    ("failed", ":failed", "dead"),
];

/// A contexts file with one BullMQ context `b` (schema `bm`, `extra` its
/// further options), standalone or a cluster through `seed`.
fn contexts(ws: &Workspace, url: &str, cluster: bool, extra: &str) -> std::path::PathBuf {
    let server = if cluster {
        format!("  - name: b\n    mode: cluster\n    nodes: [\"{url}\"]\n")
    } else {
        format!("  - {{ name: b, server: \"{url}\" }}\n")
    };
    ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\ncurrent-context: b\nclusters:\n{server}contexts:\n  - {{ name: b, cluster: b, schema: bm }}\nqueue-schemas:\n  - name: bm\n    kind: bullmq\n{extra}"
        ),
    )
}

fn queue<'r>(r: &'r Value, name: &str) -> &'r Value {
    r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name} in the report: {r:#}"))
}

fn count(q: &Value, state: &str) -> u64 {
    q["counts"][state]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {state}: {q:#}"))
}

/// A figure summed over the report's queues.
fn total(r: &Value, states: &[&str]) -> u64 {
    r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| states.iter().map(|s| count(q, s)).sum::<u64>())
        .sum()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn ms(t: &Value) -> i64 {
    t.as_str()
        .unwrap_or_else(|| panic!("not a time: {t}"))
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond()
}

fn items(doc: &Value) -> Vec<Value> {
    doc["items"].as_array().unwrap().clone()
}

/// `get jobs NAME -n 100 -o json`.
fn jobs(ws: &Workspace, cfg: &std::path::Path, name: &str) -> Vec<Value> {
    let (code, doc, err) = run_json(ws, cfg, &["get", "jobs", name, "-n", "100", "-o", "json"]);
    assert_eq!(code, 0, "get jobs {name}: {err}{doc}");
    assert!(!err.contains("panicked"), "{err}");
    items(&doc)
}

/// Every figure of `get clusters` against the report's counts.
fn check_figures(c: &Value, r: &Value) {
    assert_eq!(c["system"], "bullmq", "{c}");
    assert_eq!(
        c["queued"],
        total(r, &["waiting", "prioritized", "paused"]),
        "{c}\n{r:#}"
    );
    assert_eq!(c["scheduled"], total(r, &["delayed"]), "{c}");
    assert_eq!(c["dead_letter"], total(r, &["failed"]), "{c}");
    assert_eq!(c["processing"], total(r, &["active"]), "{c}");
    assert_eq!(c["completed"], total(r, &["completed"]), "{c}");
    let workers: usize = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["workers"].as_array().unwrap().len())
        .sum();
    assert_eq!(c["workers"], workers as u64, "{c}\n{r:#}");
    let paused = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["isPaused"] == true)
        .count();
    assert_eq!(c["paused_queues"], paused as u64, "{c}");
    assert!(c["retrying"].is_null(), "{c}");
    assert!(c["orphaned_workers"].is_null(), "{c}");
    assert!(c["processed_total"].is_null(), "no metrics option: {c}");
}

/// `get queues`: a row per queue and state, lengths as getJobCounts,
/// `paused` as isPaused.
fn check_queues(ws: &Workspace, cfg: &std::path::Path, r: &Value) -> Vec<Value> {
    let (code, doc, err) = run_json(ws, cfg, &["get", "queues", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let rows = items(&doc);
    for q in r["queues"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        for (state, suffix, qctl_state) in STATES {
            let row = rows
                .iter()
                .find(|i| i["queue"] == format!("{name}{suffix}"))
                .unwrap_or_else(|| panic!("no row {name}{suffix}: {doc:#}"));
            assert_eq!(row["length"], count(q, state), "{name}{suffix}: {row}");
            assert_eq!(row["state"], *qctl_state, "{row}");
            assert_eq!(row["paused"], q["isPaused"], "{row}");
            assert_eq!(row["system"], "bullmq");
        }
        // The legacy `:paused` list has a row only when it holds jobs.
        assert_eq!(count(q, "paused"), 0);
        assert!(
            !rows.iter().any(|i| i["queue"] == format!("{name}:paused")),
            "{doc:#}"
        );
    }
    rows
}

/// `get jobs` of every queue and state: the API's ids in its order (asc:
/// the next to run first; for sets the lowest score first), each job as
/// its hash says.
fn check_jobs(
    ws: &Workspace,
    cfg: &std::path::Path,
    r: &Value,
    zscore: &dyn Fn(&str, &str) -> String,
) {
    let now = jiff::Timestamp::now().as_millisecond();
    for q in r["queues"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        for (state, suffix, qctl_state) in STATES {
            let got = jobs(ws, cfg, &format!("{name}{suffix}"));
            let want = strings(&q["ids"][state]);
            let ids: Vec<String> = got
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_string())
                .collect();
            assert_eq!(ids, want, "{name}{suffix}");
            for (pos, j) in got.iter().enumerate() {
                let id = j["id"].as_str().unwrap();
                let api = &q["jobs"][id];
                assert_eq!(j["position"], pos as u64);
                assert_eq!(j["state"], *qctl_state, "{j}");
                assert_eq!(j["valid"], true, "{j}");
                assert_eq!(j["job_queue"], name);
                assert_eq!(j["name"], api["name"], "{j}\n{api}");
                assert_eq!(j["payload"], api["data"], "{j}\n{api}");
                let made = api["attemptsMade"].as_u64().unwrap();
                let failed = if *state == "completed" {
                    made.saturating_sub(1)
                } else {
                    made
                };
                assert_eq!(j["retries"], failed, "attempts that failed: {j}\n{api}");
                match api["failedReason"].as_str() {
                    Some(reason) => assert_eq!(j["error"], reason, "{j}"),
                    None => assert!(j["error"].is_null(), "{j}"),
                }
                let age_ms = (j["age_s"].as_f64().unwrap() * 1000.0) as i64;
                let created = api["timestamp"].as_i64().unwrap();
                assert!(
                    (age_ms - (now - created)).abs() < 10_000,
                    "age {age_ms} ms vs created {created}: {j}"
                );
                if *state == "failed" {
                    assert_eq!(ms(&j["failed_at"]), api["finishedOn"].as_i64().unwrap());
                } else {
                    assert!(j["failed_at"].is_null(), "{j}");
                }
                if *state == "delayed" {
                    let score: u64 = zscore(&format!("{name}:delayed"), id).parse().unwrap();
                    assert_eq!(ms(&j["run_at"]), (score >> 12) as i64, "{j}");
                } else {
                    assert!(j["run_at"].is_null(), "{j}");
                }
            }
        }
    }
}

#[test]
fn figures_queues_workers_and_jobs_match_bullmqs_own_api() {
    if !bullmq::available("figures_queues_workers_and_jobs_match_bullmqs_own_api") {
        return;
    }
    let server = RedisServer::start();
    let api = |args: &[&str]| bullmq::api(&server, PREFIX, args);
    let key = |k: &str| format!("{PREFIX}:{k}");

    // mail: jobs that complete, fail for good, fail and wait on a backoff,
    // are delayed; then one slow job keeps its only worker busy.
    let live = BullWorker::start(&server, BullWorkerOptions::queue("mail"));
    api(&["add", "mail", "ok", "5"]);
    api(&["add", "mail", "fail", "3", r#"{"attempts":1}"#]);
    let flaky = bullmq::ids(&api(&[
        "add",
        "mail",
        "flaky",
        "2",
        r#"{"attempts":3,"backoff":{"type":"fixed","delay":600000}}"#,
        r#"{"fails":5}"#,
    ]));
    let delayed = bullmq::ids(&api(&["add", "mail", "ok", "2", r#"{"delay":600000}"#]));
    bullmq::wait_for_report(&server, PREFIX, &["mail"], WAIT, |r| {
        let q = queue(r, "mail");
        count(q, "completed") == 5 && count(q, "failed") == 3 && count(q, "delayed") == 4
    });
    let slow = bullmq::ids(&api(&[
        "add",
        "mail",
        "slow",
        "1",
        "{}",
        r#"{"ms":120000}"#,
    ]));
    bullmq::wait_for_report(&server, PREFIX, &["mail"], WAIT, |r| {
        count(queue(r, "mail"), "active") == 1
    });

    // doomed: its worker is SIGKILLed mid-job; the lock (1.5 s) runs out
    // and no live worker of that queue moves the job back.
    let mut doomed = BullWorker::start(
        &server,
        BullWorkerOptions {
            lock_duration_ms: Some(1500),
            ..BullWorkerOptions::queue("doomed")
        },
    );
    let held = bullmq::ids(&api(&[
        "add",
        "doomed",
        "slow",
        "1",
        "{}",
        r#"{"ms":120000}"#,
    ]));
    bullmq::wait_for_report(&server, PREFIX, &["doomed"], WAIT, |r| {
        count(queue(r, "doomed"), "active") == 1
    });
    doomed.kill();
    let lock = key(&format!("doomed:{}:lock", held[0]));
    assert!(
        wait_for(Duration::from_secs(10), || server.cli(&["EXISTS", &lock])
            == "0"),
        "the killed worker's lock did not expire"
    );

    // idle: nobody works it; waiting and prioritized jobs, paused.
    api(&["add", "idle", "ok", "4"]);
    api(&["add", "idle", "record", "2", r#"{"priority":3}"#]);
    api(&["pause", "idle"]);

    let r = bullmq::report(&server, PREFIX, &["mail", "doomed", "idle"]);
    assert_eq!(count(queue(&r, "mail"), "delayed"), 4, "{r:#}");
    assert_eq!(count(queue(&r, "doomed"), "active"), 1, "{r:#}");
    assert_eq!(queue(&r, "idle")["isPaused"], true);

    let ws = Workspace::new();
    let cfg = contexts(&ws, &server.url(), false, "");

    // get clusters: SPEC 10.2's figures against getJobCounts & co.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert!(code == 0, "{err}{doc}");
    let c = &doc["items"][0];
    check_figures(c, &r);
    assert_eq!(c["queued"], 6, "{c}");
    assert_eq!(c["scheduled"], 4, "backoff retries count as scheduled: {c}");
    assert_eq!(c["dead_letter"], 3, "{c}");
    assert_eq!(c["processing"], 2, "{c}");
    assert_eq!(c["completed"], 5, "{c}");
    assert_eq!(
        c["workers"], 1,
        "the killed worker's connections are gone: {c}"
    );
    assert_eq!(c["orphaned_jobs"], 1, "the doomed job has no lock: {c}");
    assert_eq!(c["paused_queues"], 1, "{c}");
    assert!(
        c["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "orphaned-jobs: 1 job without a live owner (max 0)"),
        "{c}"
    );

    // get queues: every queue found by its :meta, a row per state.
    let rows = check_queues(&ws, &cfg, &r);
    let idle = rows.iter().find(|i| i["queue"] == "idle").unwrap();
    let next = &queue(&r, "idle")["ids"]["waiting"][0];
    let created = queue(&r, "idle")["jobs"][next.as_str().unwrap()]["timestamp"]
        .as_i64()
        .unwrap();
    let age = idle["oldest_age_s"].as_f64().unwrap();
    let want = (jiff::Timestamp::now().as_millisecond() - created) as f64 / 1000.0;
    assert!((age - want).abs() < 5.0, "oldest {age} vs {want}");
    assert_eq!(idle["paused"], true);
    let mail = rows.iter().find(|i| i["queue"] == "mail:failed").unwrap();
    assert_eq!(mail["paused"], false);
    assert_eq!(mail["key"], "bull:mail:failed");

    // get workers: one row per worker connection, as getWorkers.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "workers", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let ws_items = items(&doc);
    let api_workers = queue(&r, "mail")["workers"].as_array().unwrap().clone();
    assert_eq!(ws_items.len(), 1, "{doc:#}");
    assert_eq!(api_workers.len(), 1, "{r:#}");
    let w = &ws_items[0];
    let p = &w["process"];
    assert_eq!(p["connection"], api_workers[0]["rawname"]);
    assert_eq!(p["connection"], live.client_name());
    assert_eq!(p["addr"], api_workers[0]["addr"]);
    assert_eq!(p["queues"], serde_json::json!(["mail"]));
    assert_eq!(w["state"], "active");
    assert_eq!(
        w["worker"],
        format!("mail@{}", api_workers[0]["addr"].as_str().unwrap())
    );
    assert!(p["connected_s"].as_u64().unwrap() <= 120, "{w}");
    assert!(p["idle_s"].is_u64(), "{w}");

    // get jobs: every state of every queue, from the job hashes.
    check_jobs(&ws, &cfg, &r, &|k, id| server.cli(&["ZSCORE", &key(k), id]));
    let active = jobs(&ws, &cfg, "mail:active");
    assert_eq!(active[0]["id"], slow[0].as_str());
    assert_eq!(active[0]["name"], "slow");
    let late = jobs(&ws, &cfg, "mail:scheduled");
    for id in &delayed {
        let j = late.iter().find(|j| j["id"] == id.as_str()).unwrap();
        let api_job = &queue(&r, "mail")["jobs"][id.as_str()];
        assert_eq!(
            ms(&j["run_at"]),
            api_job["timestamp"].as_i64().unwrap() + 600_000,
            "due = created + delay: {j}"
        );
    }
    for id in &flaky {
        let j = late.iter().find(|j| j["id"] == id.as_str()).unwrap();
        assert_eq!(j["retries"], 1, "a backoff retry: {j}");
        assert!(
            j["error"]
                .as_str()
                .unwrap()
                .starts_with("qctl fixture failure: flaky"),
            "{j}"
        );
    }
    // Aliases and full keys name the same set.
    let ids_of = |v: Vec<Value>| -> Vec<Value> { v.iter().map(|j| j["id"].clone()).collect() };
    let dead = ids_of(jobs(&ws, &cfg, "mail:dead"));
    assert_eq!(dead, ids_of(jobs(&ws, &cfg, "bull:mail:failed")));
    assert_eq!(dead.len(), 3);
    // --from-end keeps the numbering.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", "idle", "-n", "1", "--from-end", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let last = strings(&queue(&r, "idle")["ids"]["waiting"]);
    assert_eq!(doc["items"][0]["id"], last[3].as_str());
    assert_eq!(doc["items"][0]["position"], 3);

    // The table: the generic job columns.
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "jobs", "mail:failed"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().contains("NAME"), "{out}");
    assert!(out.contains("qctl fixture failure: fail"), "{out}");

    // A schema that lists queues reads only those.
    let cfg = contexts(&ws, &server.url(), false, "    queues: [idle]\n");
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let c = &doc["items"][0];
    assert_eq!(c["queued"], 6);
    assert_eq!(c["processing"], 0);
    assert_eq!(c["workers"], 0, "mail's worker is not idle's: {c}");
    drop(live);
}

#[test]
fn a_cluster_with_the_bull_hash_tag_reads_the_same() {
    if !bullmq::available("a_cluster_with_the_bull_hash_tag_reads_the_same") {
        return;
    }
    let cluster = RedisCluster::start();
    let api = |args: &[&str]| bullmq::api(&cluster, CLUSTER_PREFIX, args);
    let worker = BullWorker::start(
        &cluster,
        BullWorkerOptions {
            prefix: CLUSTER_PREFIX.into(),
            concurrency: 2,
            name: Some("w1".into()),
            ..BullWorkerOptions::queue("cq")
        },
    );
    api(&["add", "cq", "ok", "3"]);
    api(&["add", "cq", "fail", "2", r#"{"attempts":1}"#]);
    api(&["add", "cq", "ok", "1", r#"{"delay":600000}"#]);
    api(&["add", "cp", "ok", "2"]);
    api(&["add", "cp", "record", "1", r#"{"priority":1}"#]);
    api(&["pause", "cp"]);
    bullmq::wait_for_report(&cluster, CLUSTER_PREFIX, &["cq"], WAIT, |r| {
        let q = queue(r, "cq");
        count(q, "completed") == 3 && count(q, "failed") == 2
    });
    let r = bullmq::report(&cluster, CLUSTER_PREFIX, &["cq", "cp"]);

    let ws = Workspace::new();
    let cfg = contexts(
        &ws,
        &cluster.seed_urls()[0],
        true,
        "    prefix: \"{bull}\"\n",
    );
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert!(code == 0 || code == 5, "{err}{doc}");
    let c = &doc["items"][0];
    assert_eq!(c["mode"], "cluster");
    check_figures(c, &r);
    // One worker, though its blocking client is named on several nodes.
    assert_eq!(c["workers"], 1, "{c}");
    assert_eq!(c["queued"], 3, "{c}");
    assert_eq!(c["paused_queues"], 1, "{c}");
    assert_eq!(c["orphaned_jobs"], 0, "{c}");

    check_queues(&ws, &cfg, &r);
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "workers", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let w = items(&doc);
    assert_eq!(w.len(), 1, "{doc:#}");
    assert_eq!(w[0]["process"]["connection"], worker.client_name());
    assert_eq!(w[0]["process"]["connection"], "{bull}:Y3E=:w:w1");
    assert_eq!(w[0]["process"]["tag"], "w1");
    assert!(w[0]["worker"].as_str().unwrap().starts_with("cq:w:w1@"));
    check_jobs(&ws, &cfg, &r, &|k, id| {
        cluster.cli(&["ZSCORE", &format!("{CLUSTER_PREFIX}:{k}"), id])
    });
}

#[test]
fn bad_data_is_flagged_never_fatal_and_reading_never_writes() {
    let s = RedisServer::start();
    let cli = |args: &[&str]| s.cli(args);
    cli(&["HSET", "bull:bad:meta", "version", "bullmq:6.7.0"]);
    // wait: the next to run is the right end; a BullMQ <5 marker last.
    cli(&["RPUSH", "bull:bad:wait", "3", "2", "1", "0:1000"]);
    // 1: garbage, 2: its hash expired, 3: a hash missing most fields.
    cli(&[
        "HSET",
        "bull:bad:1",
        "name",
        "junk",
        "data",
        "{not json",
        "timestamp",
        "soon",
    ]);
    cli(&["HSET", "bull:bad:3", "name", "only"]);
    for id in ["4", "5", "6"] {
        cli(&[
            "HSET",
            &format!("bull:bad:{id}"),
            "name",
            "ok",
            "data",
            "{}",
            "timestamp",
            "1796178407117",
        ]);
    }
    cli(&["ZADD", "bull:bad:delayed", "7357147165151232", "4"]);
    cli(&["ZADD", "bull:bad:delayed", "inf", "5"]);
    cli(&["ZADD", "bull:bad:delayed", "1.5", "6"]);
    // An active job without its lock, and a failed set of the wrong type.
    cli(&["RPUSH", "bull:bad:active", "9"]);
    cli(&["SET", "bull:bad:failed", "x"]);
    // A queue whose :meta is not a hash (an old or foreign layout).
    cli(&["SET", "bull:old:meta", "1"]);
    cli(&["RPUSH", "bull:old:wait", "1"]);
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false, "");
    let before = command_calls(&s);

    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert!(code == 0 || code == 5, "{err}{doc}");
    assert!(!err.contains("panicked"), "{err}");
    let c = &doc["items"][0];
    assert_eq!(c["queued"], 4, "the marker is no job: {c}");
    assert_eq!(c["scheduled"], 3, "{c}");
    assert_eq!(c["processing"], 1, "{c}");
    assert_eq!(c["orphaned_jobs"], 1, "{c}");
    assert_eq!(c["dead_letter"], 0, "{c}");
    assert_eq!(c["paused_queues"], 0, "{c}");
    assert_eq!(c["workers"], 0, "{c}");

    let (code, doc, err) = run_json(&ws, &cfg, &["get", "queues", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let rows = items(&doc);
    assert!(rows.iter().any(|i| i["queue"] == "old" && i["length"] == 1));
    assert_eq!(
        rows.iter().find(|i| i["queue"] == "bad").unwrap()["length"],
        3
    );

    let w = jobs(&ws, &cfg, "bad");
    let ids: Vec<&str> = w.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3"], "{w:#?}");
    assert_eq!(w[0]["valid"], false);
    assert_eq!(w[0]["payload"], "{not json");
    assert_eq!(w[0]["name"], "junk");
    assert!(w[0]["age_s"].is_null());
    assert_eq!(w[1]["valid"], false);
    assert!(
        w[1]["error"].as_str().unwrap().contains("does not exist"),
        "{}",
        w[1]
    );
    assert_eq!(w[2]["valid"], true, "shown with what it has: {}", w[2]);
    assert_eq!(w[2]["name"], "only");
    let (_, _, err) = run_json(&ws, &cfg, &["get", "jobs", "bad", "-o", "json"]);
    assert!(err.contains("2 of the jobs shown"), "{err}");
    // --from-end never shows the marker either.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", "bad", "--from-end", "-n", "10", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let back: Vec<(&str, u64)> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (j["id"].as_str().unwrap(), j["position"].as_u64().unwrap()))
        .collect();
    assert_eq!(back, [("3", 2), ("2", 1), ("1", 0)]);

    let d = jobs(&ws, &cfg, "bad:delayed");
    let ids: Vec<&str> = d.iter().map(|j| j["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["6", "4", "5"], "by score");
    assert_eq!(d[1]["valid"], true);
    assert_eq!(ms(&d[1]["run_at"]), 1796178507117);
    for j in [&d[0], &d[2]] {
        assert_eq!(j["valid"], false, "{j}");
        assert!(j["run_at"].is_null(), "{j}");
        assert!(
            j["error"].as_str().unwrap().contains("not a BullMQ score"),
            "{j}"
        );
    }
    let a = jobs(&ws, &cfg, "bad:active");
    assert_eq!(a[0]["valid"], false, "id 9 has no hash: {}", a[0]);

    // A set of the wrong type fails that read, with the server's type.
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "jobs", "bad:failed"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("holds a string"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "workers"]);
    assert_eq!(code, 0, "{err}");

    // None of it wrote (BullMQ's own getters may RPOP a marker).
    let after = command_calls(&s);
    for w in [
        "set", "hset", "hdel", "del", "unlink", "rpop", "lpop", "lpush", "rpush", "zadd", "zrem",
        "rename", "eval", "evalsha", "lrem", "expire", "pexpire", "persist", "hincrby", "xadd",
    ] {
        assert_eq!(
            after.get(w).copied().unwrap_or(0),
            before.get(w).copied().unwrap_or(0),
            "qctl sent {w}"
        );
    }
    assert_eq!(s.cli(&["LINDEX", "bull:bad:wait", "-1"]), "0:1000");

    // Writes are skipped, saying why.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["requeue", "--from", "retry", "--yes-i-typed=b"],
    );
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("not supported by bullmq: requeue --from retry: BullMQ keeps retries"),
        "{err}"
    );
    let (code, _, err) = run_raw(&ws, &cfg, &["stop", "workers", "--yes-i-typed=b"]);
    assert_eq!(code, 4, "{err}");
    assert!(
        err.contains("BullMQ workers take no commands through Redis"),
        "{err}"
    );
}

#[test]
fn bullmq_schemas_are_checked() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let bad = |schema: &str| {
        let cfg = ws.write(
            "bad.yaml",
            &format!(
                "apiVersion: qctl/v1\nclusters:\n  - {{ name: b, server: \"{}\" }}\ncontexts:\n  - {{ name: b, cluster: b, schema: bm }}\nqueue-schemas:\n  - name: bm\n{schema}",
                s.url()
            ),
        );
        run_raw(&ws, &cfg, &["config", "validate"])
    };
    let (code, _, err) = bad("    kind: bullmq\n    prefx: bull\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`prefx` is not an option of bullmq"), "{err}");
    assert!(err.contains("did you mean `prefix`"), "{err}");
    let (code, _, err) = bad("    kind: bullmq\n    namespace: shop\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`namespace` is not an option of bullmq"),
        "{err}"
    );
    let (code, _, err) = bad("    kind: bullmq\n    queues: mail\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("must be a list"), "{err}");
    let (code, _, err) = bad("    kind: bullmq\n    queues: [\"a:b\"]\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`a:b`"), "{err}");
    let (code, _, err) = bad("    kind: bulmq\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean `bullmq`"), "{err}");
    let (code, _, err) = bad("    kind: bullmq\n    prefix: \"{bull}\"\n    queues: [a]\n");
    assert_eq!(code, 0, "{err}");
}

#[test]
fn metrics_count_totals_and_a_user_without_client_list_gets_the_rest() {
    if !bullmq::available("metrics_count_totals_and_a_user_without_client_list") {
        return;
    }
    let s = RedisServer::start_with(ServerOptions {
        acl_users: vec![AclUser {
            name: "reader",
            password: "rpw",
            rules: "on ~* &* +@read +ping +info",
        }],
        ..Default::default()
    });
    let _worker = BullWorker::start(
        &s,
        BullWorkerOptions {
            metrics: Some(100),
            ..BullWorkerOptions::queue("met")
        },
    );
    let api = |args: &[&str]| bullmq::api(&s, PREFIX, args);
    api(&["add", "met", "ok", "4"]);
    api(&["add", "met", "fail", "2", r#"{"attempts":1}"#]);
    bullmq::wait_for_report(&s, PREFIX, &["met"], WAIT, |r| {
        let q = queue(r, "met");
        count(q, "completed") == 4 && count(q, "failed") == 2
    });
    let m = api(&["metrics", "met"]);
    assert_eq!(m, serde_json::json!({"completed": 4, "failed": 2}));

    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false, "");
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let c = &doc["items"][0];
    assert_eq!(c["processed_total"], 6, "completed + failed: {c}");
    assert_eq!(c["failed_total"], 2, "{c}");
    assert_eq!(c["workers"], 1, "{c}");

    // A user that may not run CLIENT LIST: no worker figure, with a note;
    // everything else as before. `get workers` fails that context, saying
    // why.
    let yaml = std::fs::read_to_string(&cfg).unwrap().replace(
        "contexts:\n  - { name: b, cluster: b, schema: bm }",
        "users:\n  - { name: reader, username: reader, password: rpw }\ncontexts:\n  - { name: b, cluster: b, schema: bm, user: reader }",
    );
    let cfg = ws.write("reader.yaml", &yaml);
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}{doc}");
    let c = &doc["items"][0];
    assert!(c["workers"].is_null(), "{c}");
    assert_eq!(c["processed_total"], 6, "{c}");
    assert_eq!(c["dead_letter"], 2, "{c}");
    assert!(err.contains("CLIENT LIST"), "{err}");
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "workers"]);
    assert_ne!(code, 0);
    assert!(
        err.to_lowercase().contains("permission") || err.contains("NOPERM"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("rpw"), "no secrets: {err}");
}
