//! `qctl get job ID...`: a job found by id in every state each system
//! keeps, written by the framework itself (its API, its workers), checked
//! against where the framework says the job is: go-redis-work-queue's
//! lists (queues, completed, dead-letter, processing lists; bounded scans
//! across chunks, `--scan-limit`), Sidekiq (queues, schedule, retry, dead,
//! busy), BullMQ (wait, prioritized, delayed, active, completed, failed;
//! also on a 3-primary cluster), RQ (queue, scheduled, deferred, started,
//! finished, failed, a hash gone); unknown ids, several contexts, one down.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, CLUSTER_PREFIX, PREFIX};
use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(60);

/// A contexts file: (name, url) contexts on schema `s` of `schema_yaml`
/// (the options after `kind`), the first current.
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
        s.push_str(&format!("  - {{ name: {n}, cluster: {n}, schema: s }}\n"));
    }
    s.push_str(&format!(
        "queue-schemas:\n  - name: s\n    kind: {kind}\n{schema_yaml}"
    ));
    ws.write("c.yaml", &s)
}

/// `get job IDS -o json`.
fn locate(
    ws: &Workspace,
    cfg: &std::path::Path,
    ids: &[&str],
    extra: &[&str],
) -> (i32, Value, String) {
    let mut args = vec!["get", "job"];
    args.extend_from_slice(ids);
    args.extend_from_slice(extra);
    args.extend(["-o", "json"]);
    run_json(ws, cfg, &args)
}

/// (queue, state, position) of every place `id` was found.
fn places(doc: &Value, id: &str) -> Vec<(String, String, Value)> {
    assert_eq!(doc["kind"], "JobLocationList", "{doc}");
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] == id)
        .map(|i| {
            (
                i["queue"].as_str().unwrap().to_string(),
                i["state"].as_str().unwrap().to_string(),
                i["position"].clone(),
            )
        })
        .collect()
}

fn one(doc: &Value, id: &str) -> (String, String, Value) {
    let p = places(doc, id);
    assert_eq!(p.len(), 1, "{id}: {p:?} in {doc:#}");
    p.into_iter().next().unwrap()
}

/// The one place `id` was found among `queue`'s keys.
fn one_of(doc: &Value, id: &str, queue: &str) -> (String, String, Value) {
    let p: Vec<_> = places(doc, id)
        .into_iter()
        .filter(|(q, _, _)| q == queue || q.starts_with(&format!("{queue}:")))
        .collect();
    assert_eq!(p.len(), 1, "{id} in {queue}: {p:?} in {doc:#}");
    p.into_iter().next().unwrap()
}

fn item<'d>(doc: &'d Value, id: &str) -> &'d Value {
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {doc:#}"))
}

#[test]
fn go_redis_work_queue_jobs_are_found_in_every_list_by_a_bounded_scan() {
    let s = RedisServer::start();
    let mut c = s.conn();
    seed(
        &mut c,
        &Seed {
            high: 5,
            low: 3,
            dlq: 2,
            completed: 2,
            live: vec![("w1".into(), 1)],
            orphans: vec![("w2".into(), 2)],
        },
    );
    // A key of another type where a queue should be: noted, not fatal.
    s.cli(&["SET", "jobqueue:odd", "x"]);
    let down = ClosedPort::new();
    let empty = RedisServer::start();
    let ws = Workspace::new();
    let schema = "    queues: { high: \"jobqueue:high_priority\", low: \"jobqueue:low_priority\", odd: \"jobqueue:odd\" }\n";
    let cfg = contexts(
        &ws,
        &[("a", &s.url()), ("b", &empty.url())],
        "go-redis-work-queue",
        schema,
    );
    let (code, doc, err) = locate(
        &ws,
        &cfg,
        &["h-0", "h-4", "l-2", "d-1", "c-0", "w1-0", "w2-1"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    // LPUSHed in order: the first pushed is at the right end, next to run.
    assert_eq!(
        one(&doc, "h-0"),
        ("high".into(), "waiting".into(), 0.into())
    );
    assert_eq!(
        one(&doc, "h-4"),
        ("high".into(), "waiting".into(), 4.into())
    );
    assert_eq!(one(&doc, "l-2"), ("low".into(), "waiting".into(), 2.into()));
    assert_eq!(
        one(&doc, "d-1"),
        ("dead-letter".into(), "dead".into(), 1.into())
    );
    assert_eq!(
        one(&doc, "c-0"),
        ("completed".into(), "completed".into(), 0.into())
    );
    let (q, st, pos) = one(&doc, "w1-0");
    assert_eq!(
        (q.as_str(), st.as_str(), pos),
        ("jobqueue:worker:w1:processing", "active", Value::Null)
    );
    assert_eq!(item(&doc, "w1-0")["worker"], "w1");
    assert_eq!(
        item(&doc, "w2-1")["worker"],
        "w2",
        "an orphan's job is found too"
    );
    let h4 = item(&doc, "h-4");
    assert_eq!(h4["context"], "a");
    assert_eq!(h4["key"], "jobqueue:high_priority");
    assert_eq!(h4["system"], "go-redis-work-queue");
    assert_eq!(h4["enqueued_at"], "2025-01-14T10:30:00.123Z");
    assert_eq!(h4["valid"], true);
    assert!(
        err.contains("jobqueue:odd holds a string, not jobs: not searched"),
        "{err}"
    );
    // The same position `get jobs` shows.
    let (_, jobs, _) = run_json(&ws, &cfg, &["get", "jobs", "high", "-o", "json"]);
    let peeked = jobs["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == "h-4")
        .unwrap();
    assert_eq!(peeked["position"], 4);

    // A long list is read in chunks, from the consumer end.
    let big: Vec<String> = (0..2500).map(|i| job(&format!("big-{i}"))).collect();
    push_all(&mut c, "jobqueue:low_priority", &big);
    let (code, doc, err) = locate(&ws, &cfg, &["big-2399", "l-0"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        one(&doc, "big-2399"),
        ("low".into(), "waiting".into(), 2402.into())
    );
    assert_eq!(one(&doc, "l-0"), ("low".into(), "waiting".into(), 0.into()));
    // Past the bound: not found, and the note says where it stopped.
    let (code, doc, err) = locate(&ws, &cfg, &["big-2399"], &["--scan-limit", "100"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["not_found"], serde_json::json!(["big-2399"]));
    assert!(
        err.contains("jobqueue:low_priority: only the first 100 entries were searched (2403 more not read; raise --scan-limit"),
        "{err}"
    );
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "job", "x", "--scan-limit", "0"]);
    assert_eq!(code, 2, "{err}");

    // Tables: one row per place; wide adds name, enqueued time, worker, key.
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "job", "h-4", "w1-0"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["CONTEXT", "ID", "QUEUE", "STATE", "POSITION"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["a", "h-4", "high", "waiting", "4"]
    );
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["a", "w1-0", "jobqueue:worker:w1:processing", "active", "-"]
    );
    let (_, out, _) = run_raw(&ws, &cfg, &["get", "job", "h-4", "-o", "wide"]);
    assert!(
        out.lines().next().unwrap().contains("NAME   ENQUEUED"),
        "{out}"
    );
    assert!(
        out.contains("2025-01-14T10:30:00.123Z") && out.contains("jobqueue:high_priority"),
        "{out}"
    );
    let (_, out, _) = run_raw(&ws, &cfg, &["get", "job", "h-4", "-o", "name"]);
    assert_eq!(out, "a/high/h-4\n");

    // Unknown: exit 1 naming the contexts searched; the found ones shown.
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "job", "nope", "h-0", "-A"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("h-0"), "{out}");
    assert!(
        err.contains("error: job `nope` not found in any queue or set of contexts a, b"),
        "{err}"
    );
    // No id: a usage error pointing at get jobs.
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "job"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("qctl get jobs QUEUE"), "{err}");

    // A context down: the others answer, exit 3, `errors` names it.
    let cfg = contexts(
        &ws,
        &[("a", &s.url()), ("gone", &down.url())],
        "go-redis-work-queue",
        schema,
    );
    let (code, doc, err) = locate(&ws, &cfg, &["h-0"], &["-A"]);
    assert_eq!(code, 3, "{err}");
    assert_eq!(one(&doc, "h-0").0, "high");
    assert_eq!(doc["errors"][0]["context"], "gone", "{doc}");
    assert_eq!(doc["errors"][0]["kind"], "refused", "{doc}");
}

#[test]
fn go_redis_work_queue_jobs_are_found_on_a_cluster() {
    let cluster = RedisCluster::start();
    let mut c = cluster.conn();
    let jobs: Vec<String> = (0..1500).map(|i| job(&format!("q-{i}"))).collect();
    push_all(&mut c, "{q}:high_priority", &jobs);
    push_all(&mut c, "{dlq}:dead_letter", &[job("dead-0")]);
    push_all(&mut c, "{q}:worker:w9:processing", &[job("busy-0")]);
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &tagged_cluster_contexts(&cluster));
    let (code, doc, err) = locate(
        &ws,
        &cfg,
        &["q-0", "q-1200", "dead-0", "busy-0"],
        &["--context", "eu"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        one(&doc, "q-0"),
        ("high".into(), "waiting".into(), 0.into())
    );
    assert_eq!(
        one(&doc, "q-1200"),
        ("high".into(), "waiting".into(), 1200.into())
    );
    assert_eq!(
        one(&doc, "dead-0"),
        ("dead-letter".into(), "dead".into(), 0.into())
    );
    assert_eq!(item(&doc, "busy-0")["worker"], "w9");
}

#[test]
fn sidekiq_jobs_are_found_in_queues_sets_and_busy_entries() {
    if !sidekiq::available("sidekiq_jobs_are_found_in_queues_sets_and_busy_entries") {
        return;
    }
    let s = RedisServer::start();
    let api = |args: &[&str]| sidekiq::jids(&sidekiq::api(&s, None, args));
    let waiting = api(&["enqueue", "OkJob", "3", "idle"]);
    let scheduled = api(&["schedule", "OkJob", "1", "3600"]);
    let dead = api(&["dead", "FailJob", "2", "mail"]);
    let mut process = Sidekiq::start(
        &s,
        SidekiqOptions {
            queues: vec!["work".into()],
            concurrency: 2,
            ..SidekiqOptions::default()
        },
    );
    let retry = api(&["enqueue", "RetryFailJob", "1", "work"]);
    let slow = api(&["enqueue", "SlowJob", "1", "work", "[30]"]);
    let report = sidekiq::wait_for_report(&s, None, WAIT, |r| {
        r["retries"].as_array().is_some_and(|a| a.len() == 1)
            && r["workers"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w["jid"] == slow[0].as_str()))
    });
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("sk", &s.url())], "sidekiq", "");
    let mut ids: Vec<&str> = waiting.iter().map(String::as_str).collect();
    ids.extend([scheduled[0].as_str(), dead[0].as_str(), dead[1].as_str()]);
    ids.extend([retry[0].as_str(), slow[0].as_str()]);
    let (code, doc, err) = locate(&ws, &cfg, &ids, &[]);
    assert_eq!(code, 0, "{err}");
    // Queue#each lists the newest first: the next to run is the last.
    let idle = report["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "idle")
        .unwrap();
    let order: Vec<&str> = idle["jids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_str().unwrap())
        .collect();
    for (i, jid) in order.iter().enumerate() {
        assert_eq!(
            one(&doc, jid),
            (
                "idle".into(),
                "waiting".into(),
                (order.len() - 1 - i).into()
            ),
            "Sidekiq's order {order:?}"
        );
    }
    assert_eq!(
        one(&doc, &scheduled[0]),
        ("scheduled".into(), "scheduled".into(), 0.into())
    );
    assert_eq!(
        one(&doc, &retry[0]),
        ("retry".into(), "retry".into(), 0.into())
    );
    let mut ranks: Vec<Value> = dead
        .iter()
        .map(|d| {
            let (q, st, pos) = one(&doc, d);
            assert_eq!((q.as_str(), st.as_str()), ("dead", "dead"));
            pos
        })
        .collect();
    ranks.sort_by_key(|r| r.as_u64());
    assert_eq!(ranks, [Value::from(0), Value::from(1)]);
    let busy = item(&doc, &slow[0]);
    assert_eq!(busy["state"], "active");
    assert_eq!(busy["queue"], "work");
    assert_eq!(busy["position"], Value::Null);
    assert_eq!(busy["worker"], process.identity());
    assert_eq!(busy["name"], "SlowJob");
    assert_eq!(item(&doc, &dead[0])["job_queue"], "mail");
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "job", "0123456789abcdef01234567"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not found in any queue or set of context sk"),
        "{err}"
    );
    process.kill();
}

#[test]
fn bullmq_jobs_are_found_through_their_hashes_in_every_state() {
    if !bullmq::available("bullmq_jobs_are_found_through_their_hashes_in_every_state") {
        return;
    }
    let s = RedisServer::start();
    let api = |args: &[&str]| bullmq::api(&s, PREFIX, args);
    let waiting = bullmq::ids(&api(&["add", "idle", "ok", "3"]));
    let prioritized = bullmq::ids(&api(&["add", "idle", "ok", "1", r#"{"priority":5}"#]));
    let delayed = bullmq::ids(&api(&["add", "idle", "ok", "1", r#"{"delay":600000}"#]));
    let failed = bullmq::ids(&api(&["add", "work", "fail", "2", r#"{"attempts":1}"#]));
    let done = bullmq::ids(&api(&["add", "work", "ok", "2"]));
    let mut w = BullWorker::start(&s, BullWorkerOptions::queue("work"));
    bullmq::wait_for_report(&s, PREFIX, &["work"], WAIT, |r| {
        r["queues"][0]["counts"]["failed"] == 2 && r["queues"][0]["counts"]["completed"] == 2
    });
    let active = bullmq::ids(&api(&["add", "work", "slow", "1", "{}", r#"{"ms":30000}"#]));
    bullmq::wait_for_report(&s, PREFIX, &["work"], WAIT, |r| {
        r["queues"][0]["counts"]["active"] == 1
    });
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("bq", &s.url())], "bullmq", "");
    let all: Vec<&String> = waiting
        .iter()
        .chain(&prioritized)
        .chain(&delayed)
        .chain(&failed)
        .chain(&done)
        .chain(&active)
        .collect();
    let ids: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    let (code, doc, err) = locate(&ws, &cfg, &ids, &[]);
    assert_eq!(code, 0, "{err}");
    // Where BullMQ's own API says each job is.
    let want = |state: &str| -> (&str, &str) {
        match state {
            "waiting" => ("", "waiting"),
            "prioritized" => (":prioritized", "waiting"),
            "delayed" => (":delayed", "scheduled"),
            "active" => (":active", "active"),
            "completed" => (":completed", "completed"),
            "failed" => (":failed", "dead"),
            other => panic!("unexpected state {other}"),
        }
    };
    for id in &ids {
        let q = if waiting
            .iter()
            .chain(&prioritized)
            .chain(&delayed)
            .any(|i| i == id)
        {
            "idle"
        } else {
            "work"
        };
        let theirs = api(&["job", q, id]);
        let (suffix, state) = want(theirs["state"].as_str().unwrap());
        // BullMQ's ids count per queue: `1` is a job of each queue.
        let (queue, st, _) = one_of(&doc, id, q);
        assert_eq!(
            (queue, st),
            (format!("{q}{suffix}"), state.to_string()),
            "{id}: {theirs}"
        );
        let ours = doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == *id && i["job_queue"] == q)
            .unwrap();
        assert_eq!(ours["name"], theirs["name"]);
    }
    // Positions: the wait list's next job is 0, first in getRanges(asc).
    let r = bullmq::report(&s, PREFIX, &["idle"]);
    let order: Vec<&str> = r["queues"][0]["ids"]["waiting"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (i, id) in order.iter().enumerate() {
        assert_eq!(one_of(&doc, id, "idle").2, Value::from(i), "{order:?}");
    }
    let (code, doc, err) = locate(&ws, &cfg, &["999"], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["not_found"][0], "999");
    w.kill();
}

#[test]
fn bullmq_jobs_are_found_on_a_cluster() {
    if !bullmq::available("bullmq_jobs_are_found_on_a_cluster") {
        return;
    }
    let cluster = RedisCluster::start();
    let api = |args: &[&str]| bullmq::ids(&bullmq::api(&cluster, CLUSTER_PREFIX, args));
    let waiting = api(&["add", "cq", "ok", "2"]);
    let delayed = api(&["add", "cq", "ok", "1", r#"{"delay":600000}"#]);
    let failed = api(&["add", "cq", "fail", "1", r#"{"attempts":1}"#]);
    let mut w = BullWorker::start(
        &cluster,
        BullWorkerOptions {
            prefix: CLUSTER_PREFIX.into(),
            ..BullWorkerOptions::queue("cq")
        },
    );
    bullmq::wait_for_report(&cluster, CLUSTER_PREFIX, &["cq"], WAIT, |r| {
        r["queues"][0]["counts"]["failed"] == 1 && r["queues"][0]["counts"]["completed"] == 2
    });
    w.stop();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\ncurrent-context: b\nclusters:\n  - name: b\n    mode: cluster\n    nodes: [\"{}\"]\ncontexts:\n  - {{ name: b, cluster: b, schema: bm }}\nqueue-schemas:\n  - name: bm\n    kind: bullmq\n    prefix: \"{{bull}}\"\n",
            cluster.seed_urls()[0]
        ),
    );
    let (code, doc, err) = locate(&ws, &cfg, &[&waiting[0], &delayed[0], &failed[0]], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(one(&doc, &waiting[0]).0, "cq:completed");
    assert_eq!(
        one(&doc, &delayed[0]),
        ("cq:delayed".into(), "scheduled".into(), 0.into())
    );
    assert_eq!(
        one(&doc, &failed[0]),
        ("cq:failed".into(), "dead".into(), 0.into())
    );
    assert_eq!(item(&doc, &failed[0])["key"], "{bull}:cq:failed");
}

#[test]
fn rq_jobs_are_found_through_their_hashes_in_every_state() {
    if !rq::available("rq_jobs_are_found_through_their_hashes_in_every_state") {
        return;
    }
    let s = RedisServer::start();
    let api = |args: &[&str]| rq::ids(&rq::api(&s, args));
    let queued = api(&["enqueue", "idle", "ok", "3"]);
    let scheduled = api(&["enqueue_in", "idle", "3600", "ok", "1"]);
    let deferred = api(&["enqueue", "idle", "ok", "1", "--depends-on", &queued[0]]);
    let failed = api(&["enqueue", "work", "fail", "2"]);
    let finished = api(&["enqueue", "work", "ok", "1"]);
    let mut burst = RqWorker::start(
        &s,
        RqOptions {
            burst: true,
            with_scheduler: false,
            ..RqOptions::with_queues(&["work"])
        },
    );
    assert!(burst.wait_exit(WAIT).is_some(), "{}", burst.logs());
    let started = api(&["enqueue", "work", "slow", "1", "[30]"]);
    let mut w = RqWorker::start(
        &s,
        RqOptions {
            with_scheduler: false,
            ..RqOptions::with_queues(&["work"])
        },
    );
    rq::wait_for_report(&s, WAIT, |r| rq::queue(r, "work")["started"]["count"] == 1);
    // A failed job whose hash is gone: still found, and flagged.
    s.cli(&["DEL", &format!("rq:job:{}", failed[1])]);
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("py", &s.url())], "rq", "");
    let all: Vec<&String> = queued
        .iter()
        .chain(&scheduled)
        .chain(&deferred)
        .chain(&failed)
        .chain(&finished)
        .chain(&started)
        .collect();
    let ids: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    let (code, doc, err) = locate(&ws, &cfg, &ids, &[]);
    assert_eq!(code, 0, "{err}");
    // Queue order: RQ pops the head, position 0.
    let r = rq::report(&s);
    let order: Vec<&str> = rq::queue(&r, "idle")["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for (i, id) in order.iter().enumerate() {
        assert_eq!(one(&doc, id), ("idle".into(), "waiting".into(), i.into()));
    }
    let cases: &[(&str, &str, &str)] = &[
        (scheduled[0].as_str(), "scheduled:idle", "scheduled"),
        (deferred[0].as_str(), "deferred:idle", "deferred"),
        (failed[0].as_str(), "failed:work", "dead"),
        (failed[1].as_str(), "failed:work", "dead"),
        (finished[0].as_str(), "finished:work", "completed"),
        (started[0].as_str(), "started:work", "active"),
    ];
    for (id, queue, state) in cases {
        let (q, st, _) = one(&doc, id);
        assert_eq!((q.as_str(), st.as_str()), (*queue, *state), "{id}");
    }
    // The status is RQ's own, as its API reads it.
    for id in [
        &scheduled[0],
        &deferred[0],
        &failed[0],
        &finished[0],
        &started[0],
    ] {
        let theirs = &rq::api(&s, &["job", id])["jobs"][0];
        assert_eq!(item(&doc, id)["status"], theirs["status"], "{id}: {theirs}");
    }
    assert_eq!(item(&doc, &started[0])["worker"], w.name());
    assert_eq!(item(&doc, &failed[1])["valid"], false, "its hash is gone");
    assert_eq!(item(&doc, &failed[0])["name"], "jobs.fail");
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "job", "no-such-job"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("job `no-such-job` not found in any queue or set of context py"),
        "{err}"
    );
    w.kill();
}
