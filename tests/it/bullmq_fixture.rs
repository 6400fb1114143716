//! The BullMQ fixture itself (common::bullmq): a real BullMQ Worker works jobs
//! added through BullMQ's own Queue, and api.js reports what BullMQ's API
//! sees; on a standalone server and on a 3-primary cluster with `{bull}`.

use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, CLUSTER_PREFIX, PREFIX};
use crate::common::{RedisCluster, RedisServer};

const WAIT: Duration = Duration::from_secs(15);

fn count(r: &Value, state: &str) -> u64 {
    r["queues"][0]["counts"][state]
        .as_u64()
        .unwrap_or_else(|| panic!("no count {state}: {r:#}"))
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn state_ids(r: &Value, state: &str) -> Vec<String> {
    r["queues"][0]["ids"][state]
        .as_array()
        .unwrap_or_else(|| panic!("no ids for {state}: {r:#}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn bullmq_worker_processes_jobs_and_api_reports_them() {
    if !bullmq::available("bullmq_worker_processes_jobs_and_api_reports_them") {
        return;
    }
    let server = RedisServer::start();
    let q = "qctl-it";
    let add = |args: &[&str]| {
        let mut all = vec!["add", q];
        all.extend_from_slice(args);
        bullmq::ids(&bullmq::api(&server, PREFIX, &all))
    };
    let key = |k: &str| format!("{PREFIX}:{q}:{k}");

    let ok = add(&["ok", "20"]);
    let fail = add(&["fail", "5", r#"{"attempts":1}"#]);
    let delayed = add(&["ok", "3", r#"{"delay":600000}"#]);
    // `record` jobs RPUSH their id to qctl:done: they show the run order.
    let low = add(&["record", "1", r#"{"priority":2}"#]);
    let high = add(&["record", "1", r#"{"priority":1}"#]);
    assert_eq!((ok.len(), fail.len(), delayed.len()), (20, 5, 3));

    // Before any worker: where BullMQ put them.
    let r = bullmq::report(&server, PREFIX, &[q]);
    assert_eq!(count(&r, "waiting"), 25, "{r:#}");
    assert_eq!(count(&r, "prioritized"), 2, "{r:#}");
    assert_eq!(count(&r, "delayed"), 3, "{r:#}");
    assert_eq!(count(&r, "active"), 0, "{r:#}");
    assert_eq!(r["queues"][0]["isPaused"], false);
    assert_eq!(
        sorted(state_ids(&r, "waiting")),
        sorted([ok.clone(), fail.clone()].concat())
    );
    assert_eq!(sorted(state_ids(&r, "delayed")), sorted(delayed.clone()));
    assert_eq!(server.cli(&["TYPE", &key("wait")]), "list");
    assert_eq!(server.cli(&["TYPE", &key("prioritized")]), "zset");
    assert_eq!(server.cli(&["TYPE", &key("delayed")]), "zset");
    assert_eq!(server.cli(&["TYPE", &key("meta")]), "hash");
    assert_eq!(server.cli(&["TYPE", &key("events")]), "stream");
    assert_eq!(server.cli(&["GET", &key("id")]), "30");
    assert_eq!(server.cli(&["TYPE", &key(&ok[0])]), "hash");
    assert_eq!(server.cli(&["HGET", &key(&ok[0]), "name"]), "ok");
    assert_eq!(
        server.cli(&["HGET", &key("meta"), "version"]),
        "bullmq:6.7.0"
    );
    // :delayed score = due ms * 4096 + a per-millisecond sequence.
    for id in &delayed {
        let score: u64 = server
            .cli(&["ZSCORE", &key("delayed"), id])
            .parse()
            .unwrap();
        let job = &r["queues"][0]["jobs"][id.as_str()];
        let due = job["timestamp"].as_u64().unwrap() + 600_000;
        assert_eq!(score >> 12, due, "delayed score of {id}: {score}");
    }
    // :prioritized score = priority * 2^32 + the :pc counter.
    let score: u64 = server
        .cli(&["ZSCORE", &key("prioritized"), &high[0]])
        .parse()
        .unwrap();
    assert_eq!(score >> 32, 1);

    let mut worker = BullWorker::start(
        &server,
        BullWorkerOptions {
            concurrency: 5,
            ..BullWorkerOptions::queue(q)
        },
    );
    let r = bullmq::wait_for_report(&server, PREFIX, &[q], WAIT, |r| {
        count(r, "completed") == 22 && count(r, "failed") == 5
    });
    assert_eq!(count(&r, "delayed"), 3, "{r:#}");
    assert_eq!(count(&r, "waiting"), 0, "{r:#}");
    assert_eq!(count(&r, "prioritized"), 0, "{r:#}");
    assert_eq!(count(&r, "active"), 0, "{r:#}");
    assert_eq!(sorted(state_ids(&r, "failed")), sorted(fail.clone()));
    let jobs = &r["queues"][0]["jobs"];
    for id in &fail {
        let j = &jobs[id.as_str()];
        assert_eq!(
            j["failedReason"],
            format!("qctl fixture failure: fail {id}")
        );
        assert_eq!(j["attemptsMade"], 1, "{j}");
        assert!(
            j["stacktrace"][0]
                .as_str()
                .is_some_and(|s| s.starts_with("QctlFixtureError: ")),
            "{j}"
        );
        let score: u64 = server.cli(&["ZSCORE", &key("failed"), id]).parse().unwrap();
        assert_eq!(Some(score), j["finishedOn"].as_u64(), "failed score");
    }
    assert_eq!(jobs[ok[0].as_str()]["returnvalue"]["ok"], true);
    // Prioritized jobs run after plain ones, lowest priority number first.
    assert_eq!(
        server.cli(&["LRANGE", "qctl:done", "0", "-1"]),
        format!("{}\n{}", high[0], low[0])
    );
    let workers = r["queues"][0]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{r:#}");
    assert_eq!(workers[0]["rawname"], worker.client_name());
    assert_eq!(workers[0]["rawname"], "bull:cWN0bC1pdA==");

    // A slow job is active and holds its lock.
    let slow = add(&["slow", "1", "{}", r#"{"ms":3000}"#]);
    let r = bullmq::wait_for_report(&server, PREFIX, &[q], WAIT, |r| count(r, "active") == 1);
    assert_eq!(state_ids(&r, "active"), slow);
    let lock = key(&format!("{}:lock", slow[0]));
    let pttl: i64 = server.cli(&["PTTL", &lock]).parse().unwrap();
    assert!((1..=30_000).contains(&pttl), "lock PTTL {pttl}");

    // Pause: a flag in :meta; new jobs stay in :wait.
    assert_eq!(
        bullmq::api(&server, PREFIX, &["pause", q]),
        serde_json::json!({"paused": true})
    );
    assert_eq!(server.cli(&["HGET", &key("meta"), "paused"]), "1");
    let parked = add(&["ok", "1"]);
    let r = bullmq::report(&server, PREFIX, &[q]);
    assert_eq!(r["queues"][0]["isPaused"], true);
    assert_eq!(state_ids(&r, "waiting"), parked, "{r:#}");
    assert_eq!(server.cli(&["EXISTS", &key("paused")]), "0");
    assert_eq!(
        bullmq::api(&server, PREFIX, &["resume", q]),
        serde_json::json!({"paused": false})
    );
    let r = bullmq::wait_for_report(&server, PREFIX, &[q], WAIT, |r| count(r, "completed") == 24);
    assert_eq!(r["queues"][0]["isPaused"], false);
    assert_eq!(count(&r, "active"), 0, "{r:#}");

    // Job#retry: back to :wait, fails again, with attemptsMade 2.
    bullmq::api(&server, PREFIX, &["retry", q, &fail[0]]);
    let r = bullmq::wait_for_report(&server, PREFIX, &[q], WAIT, |r| {
        r["queues"][0]["jobs"][fail[0].as_str()]["attemptsMade"] == 2 && count(r, "failed") == 5
    });
    assert_eq!(count(&r, "waiting"), 0, "{r:#}");

    worker.stop();
    assert!(!worker.is_running());
    let r = bullmq::report(&server, PREFIX, &[q]);
    assert_eq!(r["queues"][0]["workers"], serde_json::json!([]));
}

#[test]
fn bullmq_on_a_cluster_keeps_each_queue_in_one_slot() {
    if !bullmq::available("bullmq_on_a_cluster_keeps_each_queue_in_one_slot") {
        return;
    }
    let cluster = RedisCluster::start();
    let q = "cq";
    let worker = BullWorker::start(
        &cluster,
        BullWorkerOptions {
            prefix: CLUSTER_PREFIX.into(),
            concurrency: 2,
            name: Some("w1".into()),
            ..BullWorkerOptions::queue(q)
        },
    );
    let api = |args: &[&str]| bullmq::api(&cluster, CLUSTER_PREFIX, args);
    api(&["add", q, "ok", "5"]);
    api(&["add", q, "fail", "2", r#"{"attempts":1}"#]);
    api(&["add", q, "ok", "1", r#"{"delay":600000}"#]);
    let r = bullmq::wait_for_report(&cluster, CLUSTER_PREFIX, &[q], WAIT, |r| {
        count(r, "completed") == 5 && count(r, "failed") == 2
    });
    assert_eq!(count(&r, "delayed"), 1, "{r:#}");
    let workers = r["queues"][0]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{r:#}");
    assert_eq!(workers[0]["rawname"], worker.client_name());
    assert_eq!(worker.client_name(), "{bull}:Y3E=:w:w1");

    // Every key of the queue is on one node (one slot: the `{bull}` tag).
    let pattern = format!("{CLUSTER_PREFIX}:{q}:*");
    let per_node: Vec<Vec<String>> = cluster
        .nodes
        .iter()
        .map(|n| {
            n.cli(&["KEYS", &pattern])
                .lines()
                .filter(|l| !l.is_empty())
                .map(String::from)
                .collect()
        })
        .collect();
    let holding: Vec<&Vec<String>> = per_node.iter().filter(|k| !k.is_empty()).collect();
    assert_eq!(holding.len(), 1, "keys per node: {per_node:?}");
    for k in [
        "wait",
        "completed",
        "failed",
        "delayed",
        "meta",
        "events",
        "id",
    ] {
        let full = format!("{CLUSTER_PREFIX}:{q}:{k}");
        assert!(
            k == "wait" || holding[0].contains(&full),
            "{full} missing: {per_node:?}"
        );
        assert_eq!(
            cluster.cli(&["CLUSTER", "KEYSLOT", &full]),
            cluster.cli(&["CLUSTER", "KEYSLOT", "{bull}"])
        );
    }
}
