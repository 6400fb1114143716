//! The write verbs on real BullMQ deployments, checked with BullMQ's own
//! API (api.js) and real workers: purge-dlq and restore-dlq of each
//! queue's `:failed` set with its job hashes; requeue --from dead as
//! `job.retry()` does it and --from scheduled as `job.promote()` does,
//! each job run once more by a real worker, exactly once when qctl is
//! killed mid-run; pause and resume as `queue.pause()`/`resume()`,
//! including a legacy `:paused` list; on a 3-primary cluster with the
//! prefix `{bull}` too.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, CLUSTER_PREFIX, PREFIX};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(40);

fn contexts(ws: &Workspace, url: &str, cluster: bool) -> std::path::PathBuf {
    let (server, prefix) = if cluster {
        (
            format!("  - name: b\n    mode: cluster\n    nodes: [\"{url}\"]\n"),
            format!("    prefix: \"{CLUSTER_PREFIX}\"\n"),
        )
    } else {
        (
            format!("  - {{ name: b, server: \"{url}\" }}\n"),
            String::new(),
        )
    };
    ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\ncurrent-context: b\nclusters:\n{server}contexts:\n  - {{ name: b, cluster: b, schema: bm }}\nqueue-schemas:\n  - name: bm\n    kind: bullmq\n{prefix}",
            ws.join("audit.log").display()
        ),
    )
}

fn queue<'r>(r: &'r Value, name: &str) -> &'r Value {
    r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == name)
        .unwrap_or_else(|| panic!("no queue {name}: {r:#}"))
}

fn count(r: &Value, name: &str, state: &str) -> u64 {
    queue(r, name)["counts"][state].as_u64().unwrap()
}

fn ids(r: &Value, name: &str, state: &str) -> Vec<String> {
    queue(r, name)["ids"][state]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// How many times each job id completed, from workers' logs.
fn completions(logs: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in logs.lines() {
        if let Some(rest) = l.strip_prefix("completed ") {
            let id = rest.split_whitespace().nth(1).unwrap_or_default();
            *m.entry(id.to_string()).or_default() += 1;
        }
    }
    m
}

/// `n` failed jobs named `name` in `q` (one attempt each), run by a worker
/// that is stopped afterwards; their ids.
fn failed_jobs(
    target: impl Into<bullmq::Target> + Clone,
    prefix: &str,
    q: &str,
    name: &str,
    n: usize,
    data: Option<&str>,
) -> Vec<String> {
    let mut args = vec!["add", q, name];
    let ns = n.to_string();
    args.push(&ns);
    args.push(r#"{"attempts":1}"#);
    if let Some(d) = data {
        args.push(d);
    }
    let added = bullmq::ids(&bullmq::api(target.clone(), prefix, &args));
    let mut w = BullWorker::start(
        target.clone(),
        BullWorkerOptions {
            prefix: prefix.into(),
            concurrency: 8,
            ..BullWorkerOptions::queue(q)
        },
    );
    let before = added.len() as u64;
    bullmq::wait_for_report(target, prefix, &[q], WAIT, |r| {
        count(r, q, "failed") >= before && count(r, q, "active") == 0
    });
    w.stop();
    added
}

#[test]
fn purge_and_restore_keep_every_failed_job_with_its_hash() {
    if !bullmq::available("purge_and_restore_keep_every_failed_job_with_its_hash") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    let mail = failed_jobs(&s, PREFIX, "mail", "fail", 450, None);
    let reports = failed_jobs(&s, PREFIX, "reports", "fail", 5, None);
    let before = bullmq::report(&s, PREFIX, &["mail", "reports"]);
    let mail_order = ids(&before, "mail", "failed");
    assert_eq!(mail_order.len(), 450);
    let ttl_before = s.cli(&["PTTL", &format!("bull:mail:{}", mail[0])]);

    // Only mail's, with --queue.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--queue",
            "mail",
            "--yes-i-typed=b",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["b"]["purged"], 450, "{doc}");
    let r = bullmq::report(&s, PREFIX, &["mail", "reports"]);
    assert_eq!(count(&r, "mail", "failed"), 0);
    assert_eq!(count(&r, "reports", "failed"), 5);
    assert!(
        bullmq::api(&s, PREFIX, &["job", "mail", &mail[0]]).is_null(),
        "the purged job is gone from BullMQ's view"
    );
    // A queue that does not exist is refused, with did-you-mean.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--queue", "mial", "--yes-i-typed=b"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("did you mean mail"), "{err}");
    // The rest, then get backups.
    let (code, _, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "backups", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let mut jobs: Vec<(String, u64)> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["queue_key"].as_str().unwrap().to_string(),
                b["jobs"].as_u64().unwrap(),
            )
        })
        .collect();
    jobs.sort();
    assert_eq!(
        jobs,
        vec![
            ("bull:mail:failed".to_string(), 450),
            ("bull:reports:failed".to_string(), 5)
        ],
        "{doc}"
    );

    // Two more fail meanwhile; the restore merges, every job as it was.
    let newer = failed_jobs(&s, PREFIX, "mail", "fail", 2, None);
    let (code, doc, err) = run_json(&ws, &cfg, &["restore-dlq", "--yes-i-typed=b", "-o", "json"]);
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["b"]["restored"], 455, "{doc}");
    let after = bullmq::report(&s, PREFIX, &["mail", "reports"]);
    assert_eq!(count(&after, "mail", "failed"), 452);
    assert_eq!(count(&after, "reports", "failed"), 5);
    let order = ids(&after, "mail", "failed");
    let old: Vec<&String> = order.iter().filter(|i| !newer.contains(i)).collect();
    assert_eq!(
        old,
        mail_order.iter().collect::<Vec<_>>(),
        "order by finishedOn kept"
    );
    for id in mail.iter().chain(&reports) {
        let q = if mail.contains(id) { "mail" } else { "reports" };
        assert_eq!(
            queue(&after, q)["jobs"][id],
            queue(&before, q)["jobs"][id],
            "job {id} exactly as it was"
        );
    }
    assert_eq!(
        s.cli(&["PTTL", &format!("bull:mail:{}", mail[0])]),
        ttl_before
    );
    let left = s.cli(&["--scan", "--pattern", "*qctl-backup*"]);
    assert!(left.trim().is_empty(), "{left}");
}

#[test]
fn requeue_from_dead_does_what_retry_does_and_runs_each_job_once() {
    if !bullmq::available("requeue_from_dead_does_what_retry_does_and_runs_each_job_once") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    // flaky: fails its first attempt, succeeds once retried.
    let jobs = failed_jobs(&s, PREFIX, "mail", "flaky", 700, Some(r#"{"fails":1}"#));
    assert_eq!(jobs.len(), 700);

    // One by BullMQ's own retry, one by qctl (worker stopped): the same job
    // afterwards, but for its id and data.
    bullmq::api(&s, PREFIX, &["retry", "mail", &jobs[0]]);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "dead",
            "--limit",
            "1",
            "--yes-i-typed=b",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["b"]["moved"], 1, "{doc}");
    let r = bullmq::report(&s, PREFIX, &["mail"]);
    let waiting = ids(&r, "mail", "waiting");
    assert_eq!(waiting.len(), 2, "{r:#}");
    let moved = waiting.iter().find(|i| **i != jobs[0]).unwrap().clone();
    let theirs = bullmq::api(&s, PREFIX, &["job", "mail", &jobs[0]]);
    let ours = bullmq::api(&s, PREFIX, &["job", "mail", &moved]);
    for f in [
        "failedReason",
        "finishedOn",
        "processedOn",
        "attemptsMade",
        "attemptsStarted",
        "delay",
        "priority",
        "returnvalue",
    ] {
        assert_eq!(ours[f], theirs[f], "{f}: ours {ours:#}\ntheirs {theirs:#}");
    }
    let events = s.cli(&["XREVRANGE", "bull:mail:events", "+", "-", "COUNT", "2"]);
    assert_eq!(events.matches("prev\nfailed").count(), 2, "{events}");
    assert!(s.cli(&["ZCARD", "bull:mail:marker"]).trim() == "1");

    // The rest, with a live worker consuming, qctl killed at its 2nd step.
    let mut w = BullWorker::start(
        &s,
        BullWorkerOptions {
            concurrency: 8,
            ..BullWorkerOptions::queue("mail")
        },
    );
    let killed = run_faulted(
        &ws,
        &cfg,
        &["requeue", "--from", "dead", "--yes-i-typed=b"],
        "hashed-before-move:2",
    );
    assert!(!killed.status.success());
    let (code, _, err) = run_raw(&ws, &cfg, &["requeue", "--from", "dead", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    let r = bullmq::wait_for_report(&s, PREFIX, &["mail"], WAIT, |r| {
        count(r, "mail", "completed") == 700
    });
    assert_eq!(count(&r, "mail", "failed"), 0);
    w.stop();
    let done = completions(&w.logs());
    for id in &jobs {
        assert_eq!(done.get(id), Some(&1), "{id} ran once");
    }
    assert_eq!(
        done.values().sum::<usize>(),
        700,
        "every job ran exactly once"
    );
}

#[test]
fn requeue_from_scheduled_promotes_and_pause_resume_as_the_api() {
    if !bullmq::available("requeue_from_scheduled_promotes_and_pause_resume_as_the_api") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    let delayed = bullmq::ids(&bullmq::api(
        &s,
        PREFIX,
        &["add", "mail", "ok", "20", r#"{"delay":3600000}"#],
    ));
    bullmq::api(&s, PREFIX, &["add", "other", "ok", "1"]);

    // pause: BullMQ's isPaused, the other queue untouched.
    let (code, _, err) = run_raw(&ws, &cfg, &["pause", "mail", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    let r = bullmq::report(&s, PREFIX, &["mail", "other"]);
    assert_eq!(queue(&r, "mail")["isPaused"], true);
    assert_eq!(queue(&r, "other")["isPaused"], false);
    let (code, _, err) = run_raw(&ws, &cfg, &["pause", "nope", "--yes-i-typed=b"]);
    assert_ne!(code, 0);
    assert!(err.contains("no queue nope"), "{err}");

    // Promoted while paused: waiting, not run.
    let mut w = BullWorker::start(&s, BullWorkerOptions::queue("mail"));
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "scheduled",
            "--yes-i-typed=b",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["b"]["moved"], 20, "{doc}");
    std::thread::sleep(Duration::from_millis(800));
    let r = bullmq::report(&s, PREFIX, &["mail"]);
    assert_eq!(count(&r, "mail", "delayed"), 0);
    assert_eq!(count(&r, "mail", "waiting"), 20, "paused: none ran");
    assert_eq!(queue(&r, "mail")["jobs"][&delayed[0]]["delay"], 0);

    // resume --all: every job runs once.
    let (code, _, err) = run_raw(&ws, &cfg, &["resume", "--all", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    bullmq::wait_for_report(&s, PREFIX, &["mail"], WAIT, |r| {
        count(r, "mail", "completed") == 20 && queue(r, "mail")["isPaused"] == false
    });

    // A legacy `:paused` list (BullMQ before 6) is drained on resume.
    w.stop();
    let legacy = bullmq::ids(&bullmq::api(&s, PREFIX, &["add", "mail", "ok", "5"]));
    s.cli(&["HSET", "bull:mail:meta", "paused", "1"]);
    s.cli(&["RENAME", "bull:mail:wait", "bull:mail:paused"]);
    let (code, _, err) = run_raw(&ws, &cfg, &["resume", "mail", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.cli(&["EXISTS", "bull:mail:paused"]).trim(), "0");
    let mut w = BullWorker::start(&s, BullWorkerOptions::queue("mail"));
    bullmq::wait_for_report(&s, PREFIX, &["mail"], WAIT, |r| {
        count(r, "mail", "completed") == 25
    });
    w.stop();
    let done = completions(&w.logs());
    for id in &legacy {
        assert_eq!(done.get(id), Some(&1), "{id}");
    }
}

#[test]
fn on_a_cluster_with_the_bull_tag_every_write_works() {
    if !bullmq::available("on_a_cluster_with_the_bull_tag_every_write_works") {
        return;
    }
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &cluster.seed_urls()[0], true);
    let jobs = failed_jobs(
        &cluster,
        CLUSTER_PREFIX,
        "cq",
        "flaky",
        40,
        Some(r#"{"fails":1}"#),
    );
    let before = bullmq::report(&cluster, CLUSTER_PREFIX, &["cq"]);
    let (code, _, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        count(
            &bullmq::report(&cluster, CLUSTER_PREFIX, &["cq"]),
            "cq",
            "failed"
        ),
        0
    );
    let (code, _, err) = run_raw(&ws, &cfg, &["restore-dlq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    let r = bullmq::report(&cluster, CLUSTER_PREFIX, &["cq"]);
    assert_eq!(queue(&r, "cq")["jobs"], queue(&before, "cq")["jobs"]);
    let (code, _, err) = run_raw(&ws, &cfg, &["pause", "cq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        queue(&bullmq::report(&cluster, CLUSTER_PREFIX, &["cq"]), "cq")["isPaused"],
        true
    );
    let (code, _, err) = run_raw(&ws, &cfg, &["resume", "cq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    let mut w = BullWorker::start(
        &cluster,
        BullWorkerOptions {
            prefix: CLUSTER_PREFIX.into(),
            concurrency: 4,
            ..BullWorkerOptions::queue("cq")
        },
    );
    let (code, _, err) = run_raw(&ws, &cfg, &["requeue", "--from", "dead", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{err}");
    bullmq::wait_for_report(&cluster, CLUSTER_PREFIX, &["cq"], WAIT, |r| {
        count(r, "cq", "completed") == 40
    });
    w.stop();
    let done = completions(&w.logs());
    for id in &jobs {
        assert_eq!(done.get(id), Some(&1), "{id}");
    }
}

/// The hashed writes (shared by BullMQ and RQ) under real faults: users
/// lacking one command of a step change nothing (with and without ACL
/// DRYRUN); a purge killed after its first window, re-run, and both
/// backups restored (one restore killed after a window, two at once):
/// every job back as it was; a requeue stopped
/// (SIGSTOP) past its lock while another run finishes: every job in
/// `:wait` exactly once.
#[test]
fn hashed_writes_under_refusals_crashes_and_stalls() {
    if !bullmq::available("hashed_writes_under_refusals_crashes_and_stalls") {
        return;
    }
    let s = crate::safety::acl_server();
    for (u, minus) in [
        ("nozadd", "-zadd"),
        ("noxadd", "-xadd"),
        ("nohdel", "-hdel"),
        ("blind-noxadd", "-xadd"),
    ] {
        let mut rules = vec!["ACL", "SETUSER", u, "on", ">pw", "~*", "&*", "+@all", minus];
        if u.starts_with("blind") {
            rules.push("-acl|dryrun");
        }
        s.cli(&rules);
    }
    let users = [
        "norename",
        "nopexpire",
        "blind-norename",
        "nopersist",
        "nozadd",
        "noxadd",
        "nohdel",
        "blind-noxadd",
    ];
    let ws = Workspace::new();
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: b, server: \"{}\" }}\nusers:\n",
        ws.join("audit.log").display(),
        s.url()
    );
    for u in users {
        y.push_str(&format!(
            "  - {{ name: {u}, username: {u}, password: pw }}\n"
        ));
    }
    y.push_str("current-context: b\ncontexts:\n  - { name: b, cluster: b, schema: bm }\n");
    for u in users {
        y.push_str(&format!(
            "  - {{ name: {u}, cluster: b, schema: bm, user: {u} }}\n"
        ));
    }
    y.push_str("queue-schemas:\n  - name: bm\n    kind: bullmq\n");
    let cfg = ws.write("c.yaml", &y);
    let jobs = failed_jobs(&s, PREFIX, "mail", "flaky", 450, Some(r#"{"fails":1}"#));
    let before = bullmq::report(&s, PREFIX, &["mail"]);
    let backups = || s.cli(&["--scan", "--pattern", "*qctl-backup*"]);

    for u in ["norename", "nopexpire", "blind-norename"] {
        let typed = format!("--yes-i-typed={u}");
        let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--context", u, &typed]);
        assert_ne!(code, 0, "{u}: {out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(s.cli(&["ZCARD", "bull:mail:failed"]).trim(), "450", "{u}");
        assert!(backups().trim().is_empty(), "{u} left {}", backups());
    }
    // Killed after its first window; the re-run purges the rest.
    let killed = run_faulted(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "b", "--yes-i-typed=b"],
        "hashed-purge-after-step:1",
    );
    assert!(!killed.status.success());
    let left: u64 = s
        .cli(&["ZCARD", "bull:mail:failed"])
        .trim()
        .parse()
        .unwrap();
    assert!(left > 0 && left < 450, "one window went: {left} left");
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "b", "--yes-i-typed=b"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.cli(&["ZCARD", "bull:mail:failed"]).trim(), "0");
    for u in ["nopersist", "nozadd", "blind-norename"] {
        let typed = format!("--yes-i-typed={u}");
        let (code, out, err) = run_raw(&ws, &cfg, &["restore-dlq", "--context", u, &typed]);
        // The job keys come back with RENAME (blind-norename lacks it,
        // and cannot ask ACL DRYRUN: the step's own check stops it).
        assert_ne!(code, 0, "{u}: {out}{err}");
        assert_eq!(
            s.cli(&["ZCARD", "bull:mail:failed"]).trim(),
            "0",
            "{u} restored"
        );
    }
    // A restore killed after its first window, then two at once, then
    // as many as there are backups left (the newest first each time).
    let restore = ["restore-dlq", "--context", "b", "--yes-i-typed=b"];
    let killed = run_faulted(&ws, &cfg, &restore, "hashed-restore-after-step:1");
    assert!(!killed.status.success());
    let a = crate::safety::spawn(&ws, &cfg, &restore);
    let b = crate::safety::spawn(&ws, &cfg, &restore);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() || b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    for _ in 0..3 {
        if backups().trim().is_empty() {
            break;
        }
        let (code, _, err) = run_raw(&ws, &cfg, &restore);
        assert_eq!(code, 0, "{err}");
    }
    assert!(backups().trim().is_empty(), "{}", backups());
    let r = bullmq::report(&s, PREFIX, &["mail"]);
    assert_eq!(queue(&r, "mail")["jobs"], queue(&before, "mail")["jobs"]);
    assert_eq!(ids(&r, "mail", "failed"), ids(&before, "mail", "failed"));

    // requeue: users lacking XADD or HDEL move nothing.
    for u in ["noxadd", "nohdel", "blind-noxadd"] {
        let typed = format!("--yes-i-typed={u}");
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &["requeue", "--from", "dead", "--context", u, &typed],
        );
        assert_ne!(code, 0, "{u}: {out}{err}");
        assert!(
            err.to_uppercase()
                .contains(if u.contains("hdel") { "HDEL" } else { "XADD" }),
            "{u}: {err}"
        );
        assert_eq!(
            s.cli(&["ZCARD", "bull:mail:failed"]).trim(),
            "450",
            "{u} moved"
        );
        assert_eq!(s.cli(&["LLEN", "bull:mail:wait"]).trim(), "0", "{u} pushed");
    }
    // A run stalled past its lock while another finishes.
    let (first, second) = crate::safety::stall_while_another_finishes(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "dead",
            "--context",
            "b",
            "--yes-i-typed=b",
        ],
        "hashed-before-move:2:pause",
    );
    assert_eq!(second.0, 0, "{}", second.2);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(
        !first.status.success(),
        "the stalled run must stop: {err}\n{}\nsecond: {}",
        String::from_utf8_lossy(&first.stdout),
        second.1
    );
    let all = format!("{err}{}", String::from_utf8_lossy(&first.stdout));
    assert!(all.contains("lost its lock"), "{all}");
    let wait: Vec<String> = s
        .cli(&["LRANGE", "bull:mail:wait", "0", "-1"])
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for id in &wait {
        assert!(seen.insert(id.clone()), "{id} twice in :wait");
    }
    assert_eq!(wait.len(), 450);
    for id in &jobs {
        assert!(seen.contains(id), "{id} lost");
    }
    assert_eq!(s.cli(&["ZCARD", "bull:mail:failed"]).trim(), "0");
}

/// requeue --orphaned: a worker SIGKILLed with jobs in hand leaves them in
/// `:active` until their lock expires; qctl puts exactly those back (as
/// BullMQ's stalled check would), never a live worker's, and a new worker
/// runs each once.
#[test]
fn orphaned_active_jobs_go_back_to_wait_and_live_ones_stay() {
    if !bullmq::available("orphaned_active_jobs_go_back_to_wait_and_live_ones_stay") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    let lost = bullmq::ids(&bullmq::api(
        &s,
        PREFIX,
        &["add", "mail", "slow", "3", "{}", r#"{"ms":2000}"#],
    ));
    bullmq::api(
        &s,
        PREFIX,
        &["add", "live", "slow", "1", "{}", r#"{"ms":30000}"#],
    );
    let mut doomed = BullWorker::start(
        &s,
        BullWorkerOptions {
            concurrency: 3,
            lock_duration_ms: Some(1500),
            stalled_interval_ms: Some(600_000),
            ..BullWorkerOptions::queue("mail")
        },
    );
    let mut live = BullWorker::start(&s, BullWorkerOptions::queue("live"));
    bullmq::wait_for_report(&s, PREFIX, &["mail", "live"], WAIT, |r| {
        count(r, "mail", "active") == 3 && count(r, "live", "active") == 1
    });
    doomed.kill();
    // Their locks expire within lockDuration.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lost
        .iter()
        .any(|id| s.cli(&["EXISTS", &format!("bull:mail:{id}:lock")]).trim() == "1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the locks never expired"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["requeue", "--orphaned", "--dry-run", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["b"]["moved"], 3, "{doc}");
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["requeue", "--orphaned", "--yes-i-typed=b", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["b"]["moved"], 3, "{doc}");
    let r = bullmq::report(&s, PREFIX, &["mail", "live"]);
    assert_eq!(count(&r, "mail", "active"), 0);
    assert_eq!(count(&r, "mail", "waiting"), 3);
    assert_eq!(
        count(&r, "live", "active"),
        1,
        "the live worker's job stays"
    );
    assert_eq!(queue(&r, "mail")["jobs"][&lost[0]]["stalledCounter"], 1);
    let events = s.cli(&["XREVRANGE", "bull:mail:events", "+", "-", "COUNT", "6"]);
    assert!(events.contains("stalled"), "{events}");
    // Again: nothing more to move.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["requeue", "--orphaned", "--yes-i-typed=b", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["b"]["moved"], 0, "{doc}");
    let mut w = BullWorker::start(
        &s,
        BullWorkerOptions {
            concurrency: 3,
            ..BullWorkerOptions::queue("mail")
        },
    );
    bullmq::wait_for_report(&s, PREFIX, &["mail"], WAIT, |r| {
        count(r, "mail", "completed") == 3
    });
    w.stop();
    live.kill();
    let done = completions(&w.logs());
    for id in &lost {
        assert_eq!(done.get(id), Some(&1), "{id} ran once");
    }
}

/// At maxmemory (noeviction), jobs kept in hashes: a requeue fails cleanly
/// before anything moves (its lock is a write Redis refuses), and the
/// remedy works: purge-dlq moves the failed jobs to a backup (RENAME needs
/// no memory, and once a script wrote, Redis lets it finish), restore-dlq
/// brings them back, each exactly as it was.
#[test]
fn at_maxmemory_hashed_jobs_can_still_be_purged_and_restored() {
    if !bullmq::available("at_maxmemory_hashed_jobs_can_still_be_purged_and_restored") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    failed_jobs(&s, PREFIX, "mail", "fail", 300, None);
    let before = bullmq::report(&s, PREFIX, &["mail"]);
    let info = s.cli(&["INFO", "memory"]);
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    s.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    s.cli(&["CONFIG", "SET", "maxmemory", &(used / 2).to_string()]);
    let probe: redis::RedisResult<()> =
        redis::cmd("SET").arg("probe").arg("x").query(&mut s.conn());
    assert!(probe.is_err(), "the server refuses writes now");
    let (code, out, err) = run_raw(&ws, &cfg, &["requeue", "--from", "dead", "--yes-i-typed=b"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("maxmemory"), "{err}");
    assert_eq!(s.cli(&["ZCARD", "bull:mail:failed"]).trim(), "300");
    assert_eq!(s.cli(&["LLEN", "bull:mail:wait"]).trim(), "0");
    let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(s.cli(&["ZCARD", "bull:mail:failed"]).trim(), "0");
    let (code, out, err) = run_raw(&ws, &cfg, &["restore-dlq", "--yes-i-typed=b"]);
    assert_eq!(code, 0, "{out}{err}");
    s.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    let r = bullmq::report(&s, PREFIX, &["mail"]);
    assert_eq!(queue(&r, "mail")["jobs"], queue(&before, "mail")["jobs"]);
    assert_eq!(ids(&r, "mail", "failed"), ids(&before, "mail", "failed"));
}

/// Two requeues at once over the same failed sets, while a worker
/// consumes: one holds each set's lock, the other is refused or finds
/// nothing left; every job runs exactly once.
#[test]
fn two_requeues_at_once_under_a_live_worker_run_each_job_once() {
    if !bullmq::available("two_requeues_at_once_under_a_live_worker_run_each_job_once") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    let jobs = failed_jobs(&s, PREFIX, "mail", "flaky", 600, Some(r#"{"fails":1}"#));
    let mut w = BullWorker::start(
        &s,
        BullWorkerOptions {
            concurrency: 8,
            ..BullWorkerOptions::queue("mail")
        },
    );
    let args = ["requeue", "--from", "dead", "--yes-i-typed=b"];
    let a = crate::safety::spawn(&ws, &cfg, &args);
    let b = crate::safety::spawn(&ws, &cfg, &args);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() || b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    // Whatever a refused run left, a last run moves.
    let (code, _, err) = run_raw(&ws, &cfg, &args);
    assert_eq!(code, 0, "{err}");
    bullmq::wait_for_report(&s, PREFIX, &["mail"], WAIT, |r| {
        count(r, "mail", "completed") == 600
    });
    w.stop();
    let done = completions(&w.logs());
    for id in &jobs {
        assert_eq!(done.get(id), Some(&1), "{id} ran once");
    }
    assert_eq!(done.values().sum::<usize>(), 600);
}

/// A dead set of the wrong type among many (one per queue) fails the
/// target before anything moves, naming the key.
#[test]
fn a_failed_set_of_another_type_stops_the_purge_before_anything_moves() {
    if !bullmq::available("a_failed_set_of_another_type_stops_the_purge_before_anything_moves") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s.url(), false);
    failed_jobs(&s, PREFIX, "mail", "fail", 5, None);
    s.cli(&["HSET", "bull:odd:meta", "version", "bullmq:6.7.0"]);
    s.cli(&["SET", "bull:odd:failed", "not a set"]);
    let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=b"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("bull:odd:failed holds a string"),
        "{out}{err}"
    );
    assert_eq!(s.cli(&["ZCARD", "bull:mail:failed"]).trim(), "5");
    let left = s.cli(&["--scan", "--pattern", "*qctl-backup*"]);
    assert!(left.trim().is_empty(), "{left}");
}
