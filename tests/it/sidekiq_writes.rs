//! The write verbs on real Sidekiq deployments: purge-dlq and restore-dlq
//! on the dead set (scores kept), and requeue --from dead|retry|scheduled,
//! exactly once while a Sidekiq process consumes and qctl is killed
//! mid-run, checked against Sidekiq's own API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

fn contexts(ws: &Workspace, s: &RedisServer, ns: Option<&str>) -> std::path::PathBuf {
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: sk, server: \"{}\" }}\ncurrent-context: sk\ncontexts:\n  - {{ name: sk, cluster: sk, schema: shop }}\nqueue-schemas:\n  - name: shop\n    kind: sidekiq\n",
        ws.join("audit.log").display(),
        s.url()
    );
    if let Some(ns) = ns {
        y.push_str(&format!("    namespace: {ns}\n"));
    }
    ws.write("c.yaml", &y)
}

/// jid -> score of a sorted set in Sidekiq's report.
fn scores(r: &Value, set: &str) -> BTreeMap<String, f64> {
    r[set]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["jid"].as_str().unwrap().to_string(),
                e["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn purge_and_restore_keep_every_dead_job_and_its_score() {
    if !sidekiq::available("purge_and_restore_keep_every_dead_job_and_its_score") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s, None);
    sidekiq::api(&s, None, &["dead", "FailJob", "5", "mail"]);
    let before = sidekiq::report(&s, None);
    let dead_before = scores(&before, "dead");
    assert_eq!(dead_before.len(), 5);

    let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=sk", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = sidekiq::report(&s, None);
    assert_eq!(r["stats"]["dead_size"], 0, "{r:#}");
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "backups", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["jobs"], 5, "{doc}");
    assert!(doc["items"][0]["expires_in_s"].as_f64().unwrap() > 3600.0);

    // Jobs die meanwhile; the restore merges the backup back, scores kept.
    std::thread::sleep(Duration::from_millis(20));
    sidekiq::api(&s, None, &["dead", "FailJob", "2", "mail"]);
    let (code, out, err) = run_raw(&ws, &cfg, &["restore-dlq", "--yes-i-typed=sk"]);
    assert_eq!(code, 0, "{out}{err}");
    let r = sidekiq::report(&s, None);
    assert_eq!(r["stats"]["dead_size"], 7, "{r:#}");
    let after = scores(&r, "dead");
    for (jid, score) in &dead_before {
        assert_eq!(after.get(jid), Some(score), "{jid} kept its score");
    }
    let keys = s.cli(&["--scan", "--pattern", "*qctl-backup*"]);
    assert!(keys.trim().is_empty(), "{keys}");
}

/// `n` RecordJob dead jobs, a live process consuming, and qctl killed
/// (SIGABRT, like kill -9) at its second step, then run again: every jid
/// runs exactly once, and none is left in the dead set.
fn requeue_dead_exactly_once(ns: Option<&str>) {
    if !sidekiq::available("requeue_dead_exactly_once") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s, ns);
    let jids = sidekiq::jids(&sidekiq::api(
        &s,
        ns,
        &["dead", "RecordJob", "1500", "default"],
    ));
    assert_eq!(jids.len(), 1500);
    let _live = Sidekiq::start(
        &s,
        SidekiqOptions {
            concurrency: 5,
            namespace: ns.map(String::from),
            ..Default::default()
        },
    );
    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config").arg(&cfg).args([
            "requeue",
            "--from",
            "dead",
            "--yes-i-typed=sk",
            "-o",
            "json",
        ]);
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    let out = run(Some("sidekiq-before-move:2"));
    assert!(!out.status.success(), "the crash run must not succeed");
    let mid = sidekiq::report(&s, ns);
    let left = mid["stats"]["dead_size"].as_u64().unwrap();
    assert!(
        left > 0 && left < 1500,
        "the crash came mid-run: {left} dead left"
    );
    let out = run(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(action_results(&doc)["sk"]["moved"], left, "{doc}");
    let done_key = format!("{}qctl:done", sidekiq::key_prefix(ns));
    let r = sidekiq::wait_for_report(&s, ns, Duration::from_secs(60), |_| {
        s.cli(&["LLEN", &done_key])
            .trim()
            .parse::<usize>()
            .unwrap_or(0)
            >= 1500
    });
    assert_eq!(r["stats"]["dead_size"], 0, "{r:#}");
    let done: Vec<String> = lrange(&mut s.conn(), &done_key);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &done {
        *counts.entry(j.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "ran twice: {doubled:?}");
    for j in &jids {
        assert!(counts.contains_key(j.as_str()), "lost {j}");
    }
    assert_eq!(done.len(), 1500);
}

#[test]
fn requeue_from_dead_is_exactly_once_under_a_live_process_and_a_crash() {
    requeue_dead_exactly_once(None);
}

#[test]
fn requeue_from_dead_on_a_namespaced_deployment() {
    requeue_dead_exactly_once(Some("shop"));
}

#[test]
fn requeue_from_retry_and_scheduled() {
    if !sidekiq::available("requeue_from_retry_and_scheduled") {
        return;
    }
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = contexts(&ws, &s, None);
    let mut sk = Sidekiq::start(&s, SidekiqOptions::default());
    sidekiq::api(&s, None, &["enqueue", "RetryFailJob", "2"]);
    sidekiq::wait_for_report(&s, None, Duration::from_secs(20), |r| {
        r["stats"]["retry_size"] == 2
    });
    sk.stop();
    let r = sidekiq::report(&s, None);
    let retry_jids: Vec<String> = scores(&r, "retries").into_keys().collect();

    // --from retry --to idle --reset-retries: the jobs as a fresh push has
    // them, in a queue nobody works.
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "retry",
            "--to",
            "idle",
            "--reset-retries",
            "--yes-i-typed=sk",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let r = sidekiq::report(&s, None);
    assert_eq!(r["stats"]["retry_size"], 0, "{r:#}");
    let idle = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "idle")
        .unwrap();
    assert_eq!(idle["size"], 2);
    let mut got: Vec<String> = idle["jids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j.as_str().unwrap().to_string())
        .collect();
    got.sort();
    let mut want = retry_jids.clone();
    want.sort();
    assert_eq!(got, want);
    for j in lrange(&mut s.conn(), "queue:idle") {
        let v: Value = serde_json::from_str(&j).unwrap();
        assert!(v.get("retry_count").is_none(), "{j}");
        assert_eq!(v["class"], "RetryFailJob");
        assert!(v["enqueued_at"].as_f64().unwrap() > v["created_at"].as_f64().unwrap());
    }

    // --from scheduled --match: the matching ones run now, on their queue.
    let _live = Sidekiq::start(&s, SidekiqOptions::default());
    let rec = sidekiq::jids(&sidekiq::api(
        &s,
        None,
        &["schedule", "RecordJob", "3", "3600"],
    ));
    sidekiq::api(&s, None, &["schedule", "OkJob", "2", "3600"]);
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "scheduled",
            "--match",
            "*RecordJob*",
            "--yes-i-typed=sk",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(action_results(&doc)["sk"]["moved"], 3, "{doc}");
    sidekiq::wait_for_report(&s, None, Duration::from_secs(20), |_| {
        s.cli(&["LLEN", "qctl:done"]).trim() == "3"
    });
    let mut done = lrange(&mut s.conn(), "qctl:done");
    done.sort();
    let mut want = rec.clone();
    want.sort();
    assert_eq!(done, want);
    assert_eq!(sidekiq::report(&s, None)["stats"]["scheduled_size"], 2);

    // A go-redis-work-queue-only flag is refused there, and an unknown
    // --from value is a usage error.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["requeue", "--from", "later", "--yes-i-typed=sk"],
    );
    assert_eq!(code, 2, "{err}");
}

/// Sidekiq's requeue under the faults every write is tested with: an ACL
/// user missing one command, two runs at once, and a run stalled (SIGSTOP)
/// past its lock while another finishes; each ends with every dead job
/// exactly once, in the dead set or its queue.
#[test]
fn requeue_on_sidekiq_under_refusals_races_and_stalls() {
    if !sidekiq::available("requeue_on_sidekiq_under_refusals_races_and_stalls") {
        return;
    }
    let s = crate::safety::acl_server();
    let ws = Workspace::new();
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: sk, server: \"{}\" }}\nusers:\n",
        ws.join("audit.log").display(),
        s.url()
    );
    for u in ["nolpush", "nozrem", "blind-nolpush"] {
        y.push_str(&format!(
            "  - {{ name: {u}, username: {u}, password: pw }}\n"
        ));
    }
    y.push_str("current-context: sk\ncontexts:\n  - { name: sk, cluster: sk, schema: shop }\n");
    for u in ["nolpush", "nozrem", "blind-nolpush"] {
        y.push_str(&format!(
            "  - {{ name: {u}, cluster: sk, schema: shop, user: {u} }}\n"
        ));
    }
    y.push_str("queue-schemas:\n  - name: shop\n    kind: sidekiq\n");
    let cfg = ws.write("c.yaml", &y);
    s.cli(&[
        "ACL", "SETUSER", "nozrem", "on", ">pw", "~*", "&*", "+@all", "-zrem",
    ]);
    let jids = sidekiq::jids(&sidekiq::api(
        &s,
        None,
        &["dead", "OkJob", "3000", "default"],
    ));
    let dead_before = s.cli(&["ZCARD", "dead"]);
    // Refusals: nothing moves.
    for user in ["nolpush", "nozrem", "blind-nolpush"] {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &["requeue", "--from", "dead", "--context", user, &typed],
        );
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert_eq!(
            s.cli(&["ZCARD", "dead"]),
            dead_before,
            "{user} changed the dead set"
        );
        assert_eq!(
            s.cli(&["LLEN", "queue:default"]).trim(),
            "0",
            "{user} pushed"
        );
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
            "sk",
            "--yes-i-typed=sk",
            "--limit",
            "1500",
        ],
        "sidekiq-before-move:2:pause",
    );
    assert_eq!(second.0, 0, "{}", second.2);
    assert!(!first.status.success(), "the stalled run must stop");
    // Two runs at once over the rest.
    let a = crate::safety::spawn(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "dead",
            "--context",
            "sk",
            "--yes-i-typed=sk",
        ],
    );
    let b = crate::safety::spawn(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "dead",
            "--context",
            "sk",
            "--yes-i-typed=sk",
        ],
    );
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() || b.status.success());
    // Whatever is left, a last run moves it.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--from",
            "dead",
            "--context",
            "sk",
            "--yes-i-typed=sk",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.cli(&["ZCARD", "dead"]).trim(), "0");
    let queued: Vec<String> = lrange(&mut s.conn(), "queue:default")
        .iter()
        .map(|j| {
            serde_json::from_str::<Value>(j).unwrap()["jid"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for j in &queued {
        *counts.entry(j.as_str()).or_default() += 1;
    }
    assert!(counts.values().all(|n| *n == 1), "doubled");
    assert_eq!(queued.len(), 3000);
    for j in &jids {
        assert!(counts.contains_key(j.as_str()), "lost {j}");
    }
}

/// purge-dlq and restore-dlq on Sidekiq's dead set (a sorted set): users
/// lacking one command of a step change nothing (with and without ACL
/// DRYRUN); a restore killed after a window and re-run, and two restores
/// at once, bring every dead job back exactly once with its score.
#[test]
fn purge_and_restore_on_sidekiq_under_refusals_crashes_and_races() {
    if !sidekiq::available("purge_and_restore_on_sidekiq_under_refusals_crashes_and_races") {
        return;
    }
    let s = crate::safety::acl_server();
    let ws = Workspace::new();
    for (u, minus) in [
        ("nozadd", "-zadd"),
        ("nozrem", "-zrem"),
        ("blind-nozadd", "-zadd"),
    ] {
        let mut rules = vec!["ACL", "SETUSER", u, "on", ">pw", "~*", "&*", "+@all", minus];
        if u.starts_with("blind") {
            rules.push("-acl|dryrun");
        }
        s.cli(&rules);
    }
    let purgers = ["norename", "nopexpire", "blind-norename"];
    let restorers = ["nopersist", "nozadd", "nozrem", "blind-nozadd"];
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: sk, server: \"{}\" }}\nusers:\n",
        ws.join("audit.log").display(),
        s.url()
    );
    for u in purgers.iter().chain(&restorers) {
        y.push_str(&format!(
            "  - {{ name: {u}, username: {u}, password: pw }}\n"
        ));
    }
    y.push_str("current-context: sk\ncontexts:\n  - { name: sk, cluster: sk, schema: shop }\n");
    for u in purgers.iter().chain(&restorers) {
        y.push_str(&format!(
            "  - {{ name: {u}, cluster: sk, schema: shop, user: {u} }}\n"
        ));
    }
    y.push_str("queue-schemas:\n  - name: shop\n    kind: sidekiq\n");
    let cfg = ws.write("c.yaml", &y);

    sidekiq::api(&s, None, &["dead", "OkJob", "2500", "default"]);
    let dead_before = scores(&sidekiq::report(&s, None), "dead");
    assert_eq!(dead_before.len(), 2500);
    let backups = || s.cli(&["--scan", "--pattern", "*qctl-backup*"]);

    for user in purgers {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--context", user, &typed]);
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(
            s.cli(&["ZCARD", "dead"]).trim(),
            "2500",
            "{user} changed dead"
        );
        assert!(backups().trim().is_empty(), "{user} left a backup");
    }
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "sk", "--yes-i-typed=sk"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(s.cli(&["ZCARD", "dead"]).trim(), "0");
    let backup = backups().trim().to_string();
    assert!(!backup.is_empty());
    // Three die meanwhile: the restore merges window by window.
    std::thread::sleep(Duration::from_millis(20));
    sidekiq::api(&s, None, &["dead", "OkJob", "3", "default"]);

    for user in restorers {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = run_raw(&ws, &cfg, &["restore-dlq", "--context", user, &typed]);
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(s.cli(&["ZCARD", "dead"]).trim(), "3", "{user} changed dead");
        assert_eq!(
            s.cli(&["ZCARD", &backup]).trim(),
            "2500",
            "{user} changed the backup"
        );
    }

    // Killed (SIGABRT, like kill -9) after its first window.
    let killed = run_faulted(
        &ws,
        &cfg,
        &["restore-dlq", "--context", "sk", "--yes-i-typed=sk"],
        "restore-after-step:1",
    );
    assert!(!killed.status.success(), "the fault must stop it");
    let left: u64 = s.cli(&["ZCARD", &backup]).trim().parse().unwrap();
    assert!(left > 0 && left < 2500, "one window moved: {left} left");
    // Two runs at once over the rest, then one more for whatever is left.
    let a = crate::safety::spawn(
        &ws,
        &cfg,
        &["restore-dlq", "--context", "sk", "--yes-i-typed=sk"],
    );
    let b = crate::safety::spawn(
        &ws,
        &cfg,
        &["restore-dlq", "--context", "sk", "--yes-i-typed=sk"],
    );
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() || b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    if !backups().trim().is_empty() {
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &["restore-dlq", "--context", "sk", "--yes-i-typed=sk"],
        );
        assert_eq!(code, 0, "{out}{err}");
    }
    assert!(backups().trim().is_empty(), "backup left: {}", backups());
    let r = sidekiq::report(&s, None);
    assert_eq!(r["stats"]["dead_size"], 2503, "every job exactly once");
    let after = scores(&r, "dead");
    for (jid, score) in &dead_before {
        assert_eq!(after.get(jid), Some(score), "{jid} back with its score");
    }
}
