//! The write verbs on a real RQ 3 deployment, checked with RQ's own API
//! (api.py) and real `rq worker` processes: purge-dlq and restore-dlq of
//! each queue's failed registry with the job hashes (expiry instants and
//! scores kept); requeue --from dead as `rq requeue` does it and --from
//! scheduled as the scheduler does, each job run once more by `rq worker
//! --burst`, exactly once when qctl is killed mid-run; pause/resume --all
//! as `rq suspend`/`resume`; stop workers as `send_shutdown_command`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::*;

fn contexts(ws: &Workspace, s: &RedisServer) -> std::path::PathBuf {
    ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: py, server: \"{}\" }}\ncurrent-context: py\ncontexts:\n  - {{ name: py, cluster: py, schema: py }}\nqueue-schemas:\n  - name: py\n    kind: rq\n",
            ws.join("audit.log").display(),
            s.url()
        ),
    )
}

fn queue<'r>(r: &'r Value, name: &str) -> &'r Value {
    rq::queue(r, name)
}

fn failed_ids(r: &Value, q: &str) -> Vec<String> {
    rq::ids(&queue(r, q)["failed"]["job_ids"])
}

/// Runs a burst worker over `queues` until it exits.
fn burst(s: &RedisServer, queues: &[&str]) {
    let mut w = RqWorker::start(
        s,
        RqOptions {
            burst: true,
            with_scheduler: false,
            ..RqOptions::with_queues(queues)
        },
    );
    let status = w.wait_exit(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "burst worker: {status:?}\n{}",
        w.logs()
    );
}

/// `n` jobs of `func` in `q`, run (and failed) by a burst worker.
fn failed_jobs(s: &RedisServer, q: &str, func: &str, n: usize) -> Vec<String> {
    let ids = rq::ids(&rq::api(s, &["enqueue", q, func, &n.to_string()]));
    burst(s, &[q]);
    let r = rq::report(s);
    assert_eq!(queue(&r, q)["failed"]["count"], n as u64, "{r:#}");
    ids
}

fn done(s: &RedisServer) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for id in s.cli(&["LRANGE", "qctl:done", "0", "-1"]).lines() {
        if !id.trim().is_empty() {
            *m.entry(id.trim().to_string()).or_default() += 1;
        }
    }
    m
}

#[test]
fn purge_and_restore_keep_every_failed_job_its_expiry_and_score() {
    if !rq::available("purge_and_restore_keep_every_failed_job_its_expiry_and_score") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s);
    let default = failed_jobs(&s, "default", "fail", 300);
    let mail = failed_jobs(&s, "mail", "fail", 3);
    let before = rq::report(&s);
    let expiry = |id: &str| s.cli(&["PEXPIRETIME", &format!("rq:job:{id}")]);
    let exp_before: Vec<String> = default.iter().map(|i| expiry(i)).collect();
    assert!(
        exp_before.iter().all(|e| e.trim() != "-1"),
        "failed jobs expire"
    );
    let result_before = s.cli(&["XLEN", &format!("rq:results:{}", default[0])]);
    assert_ne!(result_before.trim(), "0");

    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--queue",
            "default",
            "--yes-i-typed=py",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["py"]["purged"], 300, "{doc}");
    let r = rq::report(&s);
    assert_eq!(queue(&r, "default")["failed"]["count"], 0);
    assert_eq!(queue(&r, "mail")["failed"]["count"], 3);
    let job = rq::api(&s, &["job", &default[0]]);
    assert!(
        job["jobs"][0].is_null() || job["jobs"][0]["exists"] == false,
        "purged jobs are gone for RQ: {job}"
    );
    let (code, _, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=py"]);
    assert_eq!(code, 0, "{err}");

    // More fail meanwhile; the restore merges, expiry instants kept.
    let newer = failed_jobs(&s, "default", "fail", 2);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["restore-dlq", "--yes-i-typed=py", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["py"]["restored"], 303, "{doc}");
    let after = rq::report(&s);
    assert_eq!(queue(&after, "default")["failed"]["count"], 302);
    assert_eq!(failed_ids(&after, "mail"), failed_ids(&before, "mail"));
    for (i, id) in default.iter().enumerate() {
        assert_eq!(
            queue(&after, "default")["failed"]["scores"][id],
            queue(&before, "default")["failed"]["scores"][id],
            "{id}: its score"
        );
        assert_eq!(expiry(id), exp_before[i], "{id}: its expiry instant");
    }
    for id in &newer {
        assert!(failed_ids(&after, "default").contains(id));
    }
    assert_eq!(
        s.cli(&["XLEN", &format!("rq:results:{}", default[0])]),
        result_before
    );
    let jobs_before = rq::api(&s, &["job", &mail[0]]);
    assert_eq!(jobs_before["jobs"][0]["status"], "failed", "{jobs_before}");
    let left = s.cli(&["--scan", "--pattern", "*qctl-backup*"]);
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn requeue_from_dead_does_what_rq_requeue_does_and_runs_each_job_once() {
    if !rq::available("requeue_from_dead_does_what_rq_requeue_does_and_runs_each_job_once") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s);
    let ids = failed_jobs(&s, "default", "flaky", 400);
    // One by RQ's own requeue, one by qctl: the same hash afterwards, but
    // for enqueued_at.
    let before = rq::report(&s);
    let order = failed_ids(&before, "default");
    rq::api(&s, &["requeue_failed", "default", &order[0]]);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "dead",
            "--limit",
            "1",
            "--yes-i-typed=py",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["py"]["moved"], 1, "{doc}");
    let r = rq::report(&s);
    let queued = rq::ids(&queue(&r, "default")["job_ids"]);
    assert_eq!(queued.len(), 2, "{r:#}");
    assert_eq!(queued[0], order[0], "RPUSH: RQ's first");
    let fields = |id: &str| -> Vec<String> {
        ["status", "origin", "started_at", "ended_at", "exc_info"]
            .iter()
            .map(|f| s.cli(&["HGET", &format!("rq:job:{id}"), f]))
            .collect()
    };
    assert_eq!(
        fields(&queued[1]),
        fields(&queued[0]),
        "as rq requeue leaves it"
    );
    assert_eq!(
        s.cli(&["HGET", &format!("rq:job:{}", queued[1]), "status"])
            .trim(),
        "queued"
    );
    assert!(
        s.cli(&["HGET", &format!("rq:job:{}", queued[1]), "enqueued_at"])
            .trim()
            .ends_with('Z')
    );

    // The rest, qctl killed at its 2nd step, then again.
    let killed = run_faulted(
        &ws,
        &cfg,
        &["requeue", "--from", "dead", "--yes-i-typed=py"],
        "hashed-before-move:2",
    );
    assert!(!killed.status.success());
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["requeue", "--from", "dead", "--yes-i-typed=py"],
    );
    assert_eq!(code, 0, "{err}");
    burst(&s, &["default"]);
    let d = done(&s);
    for id in &ids {
        assert_eq!(d.get(id), Some(&1), "{id} ran once more, exactly once");
    }
    let r = rq::report(&s);
    assert_eq!(queue(&r, "default")["failed"]["count"], 0);
}

#[test]
fn scheduled_suspend_and_shutdown_as_rq_does_them() {
    if !rq::available("scheduled_suspend_and_shutdown_as_rq_does_them") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s);
    let ids = rq::ids(&rq::api(
        &s,
        &["enqueue_in", "default", "3600", "record", "30"],
    ));
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "scheduled",
            "--yes-i-typed=py",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["py"]["moved"], 30, "{doc}");
    let r = rq::report(&s);
    assert_eq!(queue(&r, "default")["scheduled"]["count"], 0);
    assert_eq!(queue(&r, "default")["count"], 30);
    burst(&s, &["default"]);
    let d = done(&s);
    for id in &ids {
        assert_eq!(d.get(id), Some(&1), "{id}");
    }

    // pause QUEUE: RQ has none; --all is rq suspend.
    let (code, _, err) = run_raw(&ws, &cfg, &["pause", "default", "--yes-i-typed=py"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("RQ has no per-queue pause"), "{err}");
    let (code, _, err) = run_raw(&ws, &cfg, &["pause", "--all", "--yes-i-typed=py"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rq::report(&s)["suspended"], true);
    let (code, _, err) = run_raw(&ws, &cfg, &["resume", "--all", "--yes-i-typed=py"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rq::report(&s)["suspended"], false);

    // stop workers: the worker gets RQ's shutdown command and exits.
    let mut w = RqWorker::start(&s, RqOptions::default());
    let (code, _, err) = run_raw(&ws, &cfg, &["quiet", "workers", "--yes-i-typed=py"]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("RQ workers take no quiet command"), "{err}");
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &["stop", "workers", w.name(), "--yes-i-typed=py"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let status = w.wait_exit(Duration::from_secs(30));
    assert!(status.is_some(), "the worker stopped: {}", w.logs());
    assert!(w.logs().to_lowercase().contains("shutdown"), "{}", w.logs());
}

/// requeue --orphaned: a worker SIGKILLed mid-job leaves its job in the
/// started registry until the entry's expiry passes (61 s with a 1 s
/// heartbeat; moved into the past here, as time would); qctl puts that job
/// back, never a live worker's, and `rq worker --burst` runs it once.
#[test]
fn orphaned_started_jobs_go_back_and_live_ones_stay() {
    if !rq::available("orphaned_started_jobs_go_back_and_live_ones_stay") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s);
    let lost = rq::ids(&rq::api(&s, &["enqueue", "mail", "slow", "1", "[30]"]));
    rq::api(&s, &["enqueue", "live", "slow", "1", "[30]"]);
    let mut doomed = RqWorker::start(
        &s,
        RqOptions {
            job_monitoring_interval: Some(1),
            with_scheduler: false,
            ..RqOptions::with_queues(&["mail"])
        },
    );
    let mut live = RqWorker::start(
        &s,
        RqOptions {
            with_scheduler: false,
            ..RqOptions::with_queues(&["live"])
        },
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = rq::report(&s);
        if queue(&r, "mail")["started"]["count"] == 1 && queue(&r, "live")["started"]["count"] == 1
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{r:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
    doomed.kill();
    // Time passing: the dead worker's entry is past its expiry.
    let member = s
        .cli(&["ZRANGE", "rq:wip:mail", "0", "0"])
        .trim()
        .to_string();
    s.cli(&["ZADD", "rq:wip:mail", "XX", "1000", &member]);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["requeue", "--orphaned", "--yes-i-typed=py", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["py"]["moved"], 1, "{doc}");
    let r = rq::report(&s);
    assert_eq!(queue(&r, "mail")["started"]["count"], 0);
    assert_eq!(rq::ids(&queue(&r, "mail")["job_ids"]), lost);
    assert_eq!(
        queue(&r, "live")["started"]["count"],
        1,
        "the live job stays"
    );
    live.kill();
    // Make it quick to run again: the same job, 30 s of sleep, is too long
    // for a test, so check it is queued as RQ would run it.
    let job = rq::api(&s, &["job", &lost[0]]);
    assert_eq!(job["jobs"][0]["status"], "queued", "{job}");
    assert_eq!(job["jobs"][0]["origin"], "mail", "{job}");
}
