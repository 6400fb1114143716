//! `qctl replicate` between two Sidekiq deployments (two Redis servers):
//! queues (every queue of the source's SET `queues`, registered in the
//! target's) and the dead set (scores kept) copied once by jid, a second
//! run copies nothing, a run killed mid-copy and re-run ends with every jid
//! once, a namespaced source to a plain target, `--move` into a target a
//! live Sidekiq process consumes with a crash in between, and contexts of
//! different kinds refused before anything connects. Checked with
//! Sidekiq's own API (`api.rb report`) on the target.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

/// `src` and `dst`: Sidekiq, each with its own namespace or none.
fn contexts(
    ws: &Workspace,
    src: &RedisServer,
    src_ns: Option<&str>,
    dst: &RedisServer,
    dst_ns: Option<&str>,
) -> std::path::PathBuf {
    let schema = |name: &str, ns: Option<&str>| {
        let mut s = format!("  - name: {name}\n    kind: sidekiq\n");
        if let Some(ns) = ns {
            s.push_str(&format!("    namespace: {ns}\n"));
        }
        s
    };
    let y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: a, server: \"{}\" }}\n  - {{ name: b, server: \"{}\" }}\ncontexts:\n  - {{ name: src, cluster: a, schema: sk-src }}\n  - {{ name: dst, cluster: b, schema: sk-dst }}\nqueue-schemas:\n{}{}",
        ws.join("audit.log").display(),
        src.url(),
        dst.url(),
        schema("sk-src", src_ns),
        schema("sk-dst", dst_ns),
    );
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

/// The jids of a queue in Sidekiq's report (empty when it does not list
/// the queue: not in SET `queues`).
fn queue_jids(r: &Value, queue: &str) -> Vec<String> {
    r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == queue)
        .map(|q| {
            q["jids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Every jid of `want` exactly once in `got`, and nothing else.
fn exactly_once(got: &[String], want: &[String], what: &str) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for j in got {
        *counts.entry(j.as_str()).or_default() += 1;
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(doubled.is_empty(), "{what}: doubled {doubled:?}");
    let lost: Vec<_> = want
        .iter()
        .filter(|j| !counts.contains_key(j.as_str()))
        .take(5)
        .collect();
    assert!(lost.is_empty(), "{what}: lost {lost:?}");
    assert_eq!(got.len(), want.len(), "{what}: extra jobs");
}

#[test]
fn copies_queues_and_the_dead_set_once_by_jid_with_scores() {
    if !sidekiq::available("copies_queues_and_the_dead_set_once_by_jid_with_scores") {
        return;
    }
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let ws = Workspace::new();
    let cfg = contexts(&ws, &a, None, &b, None);
    // More than one window (5,000) in `idle`; nobody works these queues.
    let idle = sidekiq::jids(&sidekiq::api(
        &a,
        None,
        &["enqueue", "OkJob", "6200", "idle"],
    ));
    let other = sidekiq::jids(&sidekiq::api(
        &a,
        None,
        &["enqueue", "OkJob", "30", "other"],
    ));
    sidekiq::api(&a, None, &["dead", "FailJob", "25", "mail"]);
    let src_dead = scores(&sidekiq::report(&a, None), "dead");
    assert_eq!(src_dead.len(), 25);
    // The target has jobs of its own in `idle`, and one dead job.
    let own = sidekiq::jids(&sidekiq::api(&b, None, &["enqueue", "OkJob", "3", "idle"]));
    sidekiq::api(&b, None, &["dead", "FailJob", "1", "mail"]);
    let before_idle = lrange(&mut b.conn(), "queue:idle");

    let args = [
        "replicate",
        "--from",
        "src",
        "--to",
        "dst",
        "--what",
        "queues,dead-letter",
        "-o",
        "json",
    ];
    let (code, doc, err) = run_json(&ws, &cfg, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["dst"]["copied"], 6255, "{doc}");
    assert_eq!(action_results(&doc)["dst"]["skipped_duplicates"], 0);
    assert!(err.contains("idle: 6200 to copy, 0 already there"), "{err}");
    assert!(err.contains("dead: 25 to copy"), "{err}");
    assert_eq!(lrange(&mut b.conn(), "queue:idle"), before_idle);

    let (code, doc, err) = run_json(&ws, &cfg, &[&args[..], &["--yes-i-typed=dst"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["dst"]["copied"], 6255, "{doc}");
    let r = sidekiq::report(&b, None);
    let want_idle: Vec<String> = idle.iter().chain(&own).cloned().collect();
    exactly_once(&queue_jids(&r, "idle"), &want_idle, "idle");
    exactly_once(&queue_jids(&r, "other"), &other, "other");
    // Appended behind what the target had, the source's order kept.
    let got = lrange(&mut b.conn(), "queue:idle");
    let src_list = lrange(&mut a.conn(), "queue:idle");
    assert_eq!(got, [src_list, before_idle].concat());
    let dst_dead = scores(&r, "dead");
    assert_eq!(dst_dead.len(), 26, "{r:#}");
    for (jid, score) in &src_dead {
        assert_eq!(dst_dead.get(jid), Some(score), "{jid} kept its score");
    }
    let members = b.cli(&["SMEMBERS", "queues"]);
    assert!(members.contains("other"), "{members}");

    // A second run copies nothing: every jid is there.
    let (code, doc, err) = run_json(&ws, &cfg, &[&args[..], &["--yes-i-typed=dst"]].concat());
    assert_eq!(code, 0, "{err}");
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 0, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 6255);
    let r = sidekiq::report(&b, None);
    assert_eq!(r["stats"]["enqueued"], 6233, "{}", r["stats"]);
    assert_eq!(r["stats"]["dead_size"], 26);

    // --queue picks one.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--queue",
            "other",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        action_results(&doc)["dst"]["skipped_duplicates"],
        30,
        "{doc}"
    );
}

#[test]
fn a_copy_killed_mid_way_from_a_namespaced_source_ends_with_each_jid_once() {
    if !sidekiq::available("a_copy_killed_mid_way_from_a_namespaced_source_ends_with_each_jid_once")
    {
        return;
    }
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let ws = Workspace::new();
    let cfg = contexts(&ws, &a, Some("shop"), &b, None);
    let idle = sidekiq::jids(&sidekiq::api(
        &a,
        Some("shop"),
        &["enqueue", "OkJob", "12000", "idle"],
    ));
    sidekiq::api(&a, Some("shop"), &["dead", "FailJob", "10", "mail"]);
    let src_dead = scores(&sidekiq::report(&a, Some("shop")), "dead");
    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config").arg(&cfg).args([
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--what",
            "queues,dead-letter",
            "--yes-i-typed=dst",
            "-o",
            "json",
        ]);
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    // Killed (SIGABRT, like kill -9) before its second push.
    let out = run(Some("copy-before-push:2"));
    assert!(!out.status.success(), "the crash run must not succeed");
    let mid: usize = b.cli(&["LLEN", "queue:idle"]).trim().parse().unwrap();
    assert!(mid > 0 && mid < 12000, "the crash came mid-copy: {mid}");
    let out = run(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], (12000 - mid + 10) as u64, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], mid as u64);
    // On the plain target, as its Sidekiq sees it.
    let r = sidekiq::report(&b, None);
    exactly_once(&queue_jids(&r, "idle"), &idle, "idle");
    assert_eq!(scores(&r, "dead"), src_dead);
    assert_eq!(b.cli(&["SMEMBERS", "queues"]).trim(), "idle");
    // The source is untouched.
    assert_eq!(a.cli(&["LLEN", "shop:queue:idle"]).trim(), "12000");
}

#[test]
fn a_move_into_a_consumed_target_survives_a_crash_and_runs_each_job_once() {
    if !sidekiq::available("a_move_into_a_consumed_target_survives_a_crash_and_runs_each_job_once")
    {
        return;
    }
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let ws = Workspace::new();
    let cfg = contexts(&ws, &a, None, &b, Some("eu"));
    let n = 7000;
    let jids = sidekiq::jids(&sidekiq::api(
        &a,
        None,
        &["enqueue", "RecordJob", &n.to_string(), "default"],
    ));
    assert_eq!(jids.len(), n);
    // A live process works the target (namespace eu); none works the source.
    let _live = Sidekiq::start(
        &b,
        SidekiqOptions {
            concurrency: 5,
            namespace: Some("eu".into()),
            ..Default::default()
        },
    );
    let args = [
        "replicate",
        "--from",
        "src",
        "--to",
        "dst",
        "--queue",
        "default",
        "--move",
        "-o",
        "json",
    ];
    // The dead set is not moved on Sidekiq (a usage error, why named).
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--what",
            "dead-letter",
            "--move",
            "--dry-run",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("sorted set"), "{err}");
    let (code, doc, err) = run_json(&ws, &cfg, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["src"]["moved"], n as u64, "{doc}");

    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config")
            .arg(&cfg)
            .args(args)
            .arg("--yes-i-typed=src,dst");
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    // Killed right after claiming its second window: it waits in staging
    // on the source, out of the queue.
    let out = run(Some("move-after-claim:2"));
    assert!(!out.status.success());
    let staging = "{queue:default}:qctl-move:staging";
    assert_eq!(a.cli(&["LLEN", staging]).trim(), "2000");
    assert_eq!(a.cli(&["LLEN", "queue:default"]).trim(), "0");
    let out = run(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = action_results(&doc);
    assert_eq!(res["src"]["moved"], 2000, "{doc}");
    assert_eq!(res["dst"]["copied"], 2000, "{doc}");

    let done_key = "eu:qctl:done";
    assert!(
        wait_for(Duration::from_secs(90), || {
            b.cli(&["LLEN", done_key])
                .trim()
                .parse::<usize>()
                .unwrap_or(0)
                >= n
        }),
        "the target's Sidekiq ran {} of {n}",
        b.cli(&["LLEN", done_key]).trim()
    );
    std::thread::sleep(Duration::from_millis(500));
    let done = lrange(&mut b.conn(), done_key);
    exactly_once(&done, &jids, "ran on the target");
    // Nothing left on the source, nothing in staging; the target's SET
    // queues names it.
    assert_eq!(a.cli(&["LLEN", "queue:default"]).trim(), "0");
    assert_eq!(a.cli(&["EXISTS", staging]).trim(), "0");
    let r = sidekiq::report(&b, Some("eu"));
    assert!(
        r["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["name"] == "default"),
        "{r:#}"
    );
    assert_eq!(r["stats"]["enqueued"], 0, "{}", r["stats"]);
}

#[test]
fn contexts_of_different_kinds_are_a_usage_error_before_anything_connects() {
    // No server is needed: nothing may connect.
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        "apiVersion: qctl/v1\nclusters:\n  - { name: nowhere, server: \"redis://127.0.0.1:1\" }\ncontexts:\n  - { name: work, cluster: nowhere }\n  - { name: work2, cluster: nowhere }\n  - { name: sk, cluster: nowhere, schema: shop }\nqueue-schemas:\n  - name: shop\n    kind: sidekiq\n",
    );
    for (from, to) in [("work", "sk"), ("sk", "work"), ("work", "work2,sk")] {
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &["replicate", "--from", from, "--to", to, "--yes-i-typed=x"],
        );
        assert_eq!(code, 2, "{from} -> {to}: {out}{err}");
        assert!(
            err.contains("go-redis-work-queue") && err.contains("sidekiq"),
            "names both kinds: {err}"
        );
        assert!(!err.contains("127.0.0.1:1"), "nothing connected: {err}");
    }
}
