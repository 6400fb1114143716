//! `qctl replicate` between two BullMQ deployments, checked with BullMQ's
//! own API (api.js report) and real workers on the target: waiting (order
//! kept), prioritized and delayed (scores kept) and failed jobs copied with
//! their hashes and ids; `--queue` restricting; a re-run copies nothing,
//! also after the target's worker ran the copies (each exactly once); a new
//! job on the target gets an id past the copied ones; a target holding
//! other jobs under the same ids (conflicts, left alone); a copy killed
//! mid-way and re-run; ACL users missing HSET change nothing; `--move`
//! refused with a recipe; on a 3-primary cluster with the prefix `{bull}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, CLUSTER_PREFIX, PREFIX};
use crate::common::*;

const WAIT: Duration = Duration::from_secs(40);

/// Contexts `src` and `dst` (kind bullmq, prefix `prefix`), plus one per
/// extra user on the target. `dst_cluster`: the target is a cluster seed.
fn contexts(
    ws: &Workspace,
    src: &str,
    dst: &str,
    dst_cluster: bool,
    prefix: &str,
    users: &[&str],
) -> std::path::PathBuf {
    let dst_cluster = if dst_cluster {
        format!("  - name: b\n    mode: cluster\n    nodes: [\"{dst}\"]\n")
    } else {
        format!("  - {{ name: b, server: \"{dst}\" }}\n")
    };
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: a, server: \"{src}\" }}\n{dst_cluster}",
        ws.join("audit.log").display()
    );
    if !users.is_empty() {
        y.push_str("users:\n");
        for u in users {
            y.push_str(&format!(
                "  - {{ name: {u}, username: {u}, password: pw }}\n"
            ));
        }
    }
    y.push_str(
        "contexts:\n  - { name: src, cluster: a, schema: bm }\n  - { name: dst, cluster: b, schema: bm }\n",
    );
    for u in users {
        y.push_str(&format!(
            "  - {{ name: {u}, cluster: b, schema: bm, user: {u} }}\n"
        ));
    }
    y.push_str(&format!(
        "queue-schemas:\n  - name: bm\n    kind: bullmq\n    prefix: \"{prefix}\"\n"
    ));
    ws.write("c.yaml", &y)
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

/// How many times each job id completed, from a worker's log.
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

/// Every id of `want` exactly once in `got`, and nothing else.
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

/// `n` failed jobs in `q` (one attempt each), failed by a real worker that
/// is stopped afterwards.
fn failed_jobs(target: impl Into<bullmq::Target> + Clone, prefix: &str, q: &str, n: usize) {
    let ns = n.to_string();
    bullmq::api(
        target.clone(),
        prefix,
        &["add", q, "fail", &ns, r#"{"attempts":1}"#],
    );
    let mut w = BullWorker::start(
        target.clone(),
        BullWorkerOptions {
            prefix: prefix.into(),
            concurrency: 4,
            ..BullWorkerOptions::queue(q)
        },
    );
    bullmq::wait_for_report(target, prefix, &[q], WAIT, |r| {
        count(r, q, "failed") >= n as u64 && count(r, q, "active") == 0
    });
    w.stop();
}

/// Failed, then waiting, prioritized and delayed jobs in `mail`, and a
/// few waiting in `reports`.
fn fill_source(target: impl Into<bullmq::Target> + Clone, prefix: &str) {
    failed_jobs(target.clone(), prefix, "mail", 6);
    bullmq::api(target.clone(), prefix, &["add", "mail", "ok", "30"]);
    bullmq::api(
        target.clone(),
        prefix,
        &["add", "mail", "ok", "5", r#"{"priority":3}"#],
    );
    bullmq::api(
        target.clone(),
        prefix,
        &["add", "mail", "ok", "4", r#"{"delay":3600000}"#],
    );
    bullmq::api(target, prefix, &["add", "reports", "ok", "3"]);
}

const COPIED_STATES: [&str; 4] = ["waiting", "prioritized", "delayed", "failed"];

/// The target holds every copied job as the source does: counts, ids in
/// BullMQ's order, and each job's fields.
fn same_as_source(src: &Value, dst: &Value, q: &str) {
    for state in COPIED_STATES {
        assert_eq!(
            ids(dst, q, state),
            ids(src, q, state),
            "{q} {state}: the same ids in the same order"
        );
        for id in ids(src, q, state) {
            assert_eq!(
                queue(dst, q)["jobs"][&id],
                queue(src, q)["jobs"][&id],
                "{q} job {id} exactly as on the source"
            );
        }
    }
}

#[test]
fn copies_every_state_once_and_a_worker_on_the_target_runs_each_job_once() {
    if !bullmq::available("copies_every_state_once_and_a_worker_on_the_target_runs_each_job_once") {
        return;
    }
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let ws = Workspace::new();
    let cfg = contexts(&ws, &a.url(), &b.url(), false, PREFIX, &[]);
    fill_source(&a, PREFIX);
    // One job in flight on the source: not copied, and the plan says so.
    a.cli(&["LPUSH", "bull:mail:active", "999"]);
    // A failed job's log (job.log) goes with it.
    a.cli(&["RPUSH", "bull:mail:1:logs", "first line", "second line"]);
    let src = bullmq::report(&a, PREFIX, &["mail", "reports"]);
    assert_eq!(count(&src, "mail", "waiting"), 30);
    assert_eq!(count(&src, "mail", "failed"), 6);

    let args = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec![
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
        v.extend_from_slice(extra);
        v
    };
    // The dry run counts, writes nothing.
    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--queue", "mail", "--dry-run"]));
    assert_eq!(code, 0, "{err}{doc}");
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 45, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 0);
    assert_eq!(res["dst"]["conflicts"], 0);
    assert!(err.contains("mail: 30 to copy, 0 already there"), "{err}");
    assert!(err.contains("mail:prioritized: 5 to copy"), "{err}");
    assert!(err.contains("mail:delayed: 4 to copy"), "{err}");
    assert!(err.contains("mail:failed: 6 to copy"), "{err}");
    assert!(
        err.contains("1 jobs active (in flight on the source's workers) are not copied"),
        "{err}"
    );
    assert_eq!(b.cli(&["DBSIZE"]).trim(), "0");

    // --queue mail: only mail, every state.
    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--queue", "mail", "--yes-i-typed=dst"]));
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["dst"]["copied"], 45, "{doc}");
    let dst = bullmq::report(&b, PREFIX, &["mail", "reports"]);
    same_as_source(&src, &dst, "mail");
    assert_eq!(count(&dst, "mail", "active"), 0);
    assert_eq!(count(&dst, "reports", "waiting"), 0, "--queue mail only");
    assert_eq!(b.cli(&["ZSCORE", "bull:mail:marker", "0"]).trim(), "0");
    assert_eq!(
        lrange(&mut b.conn(), "bull:mail:1:logs"),
        ["first line", "second line"]
    );
    // Scores exactly as on the source.
    for set in ["prioritized", "delayed", "failed"] {
        let key = format!("bull:mail:{set}");
        assert_eq!(
            b.cli(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
            a.cli(&["ZRANGE", &key, "0", "-1", "WITHSCORES"]),
            "{set} scores"
        );
    }
    // Without --queue: every queue found; mail's are all there already.
    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--yes-i-typed=dst"]));
    assert_eq!(code, 0, "{err}{doc}");
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 3, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 45);
    assert_eq!(res["dst"]["conflicts"], 0);
    let dst = bullmq::report(&b, PREFIX, &["mail", "reports"]);
    same_as_source(&src, &dst, "reports");

    // A job added on the target after the copy takes the next id.
    let max: u64 = ["mail"]
        .iter()
        .flat_map(|q| COPIED_STATES.iter().flat_map(|s| ids(&src, q, s)))
        .map(|i| i.parse::<u64>().unwrap())
        .max()
        .unwrap();
    let fresh = bullmq::ids(&bullmq::api(&b, PREFIX, &["add", "mail", "ok", "1"]));
    assert_eq!(fresh, vec![(max + 1).to_string()], "no id collides");

    // A real worker on the target runs every copied waiting and
    // prioritized job, and the new one, exactly once.
    let mut w = BullWorker::start(&b, BullWorkerOptions::queue("mail"));
    bullmq::wait_for_report(&b, PREFIX, &["mail"], WAIT, |r| {
        count(r, "mail", "completed") == 36
    });
    w.stop();
    let done = completions(&w.logs());
    let mut want: Vec<String> = ids(&src, "mail", "waiting");
    want.extend(ids(&src, "mail", "prioritized"));
    want.extend(fresh);
    let ran: Vec<String> = done.keys().cloned().collect();
    exactly_once(&ran, &want, "completed on the target");
    assert!(done.values().all(|n| *n == 1), "{done:?}");
    let r = bullmq::report(&b, PREFIX, &["mail"]);
    assert_eq!(count(&r, "mail", "delayed"), 4);
    assert_eq!(count(&r, "mail", "failed"), 6);

    // A re-run after the worker ran them copies nothing: each job is on
    // the target (completed now), the same job.
    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--yes-i-typed=dst"]));
    assert_eq!(code, 0, "{err}{doc}");
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 0, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 48);
    assert_eq!(res["dst"]["conflicts"], 0);
    assert_eq!(
        count(&bullmq::report(&b, PREFIX, &["mail"]), "mail", "waiting"),
        0
    );

    // --move is refused for BullMQ, with the recipe; another kind too.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["replicate", "--from", "src", "--to", "dst", "--move"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--move is not built for bullmq"), "{err}");
    assert!(err.contains("purge-dlq"), "{err}");
}

#[test]
fn conflicts_are_left_alone_and_a_killed_copy_ends_with_each_job_once() {
    if !bullmq::available("conflicts_are_left_alone_and_a_killed_copy_ends_with_each_job_once") {
        return;
    }
    let (a, b) = (RedisServer::start(), RedisServer::start());
    b.cli(&[
        "ACL", "SETUSER", "nohset", "on", ">pw", "~*", "&*", "+@all", "-hset",
    ]);
    b.cli(&[
        "ACL",
        "SETUSER",
        "blind-nohset",
        "on",
        ">pw",
        "~*",
        "&*",
        "+@all",
        "-hset",
        "-acl|dryrun",
    ]);
    let ws = Workspace::new();
    let users = ["nohset", "blind-nohset"];
    let cfg = contexts(&ws, &a.url(), &b.url(), false, PREFIX, &users);
    // 700 waiting jobs on the source: four windows.
    let src_ids = bullmq::ids(&bullmq::api(&a, PREFIX, &["add", "mail", "ok", "700"]));
    assert_eq!(src_ids.len(), 700);
    // The target has jobs 1-3 of its own, other data.
    let own = bullmq::ids(&bullmq::api(
        &b,
        PREFIX,
        &["add", "mail", "ok", "3", "{}", r#"{"own":true}"#],
    ));
    assert_eq!(own, ["1", "2", "3"]);
    let own_before = bullmq::report(&b, PREFIX, &["mail"]);
    // An id on the source whose hash is gone: noted, never fatal.
    a.cli(&["ZADD", "bull:mail:prioritized", "4294967297", "ghost"]);
    let dump = |s: &RedisServer| s.cli(&["HGETALL", "bull:mail:2"]);
    let own_hash = dump(&b);

    // Users missing HSET: refused (in pre-flight, or by the step's own
    // check), the target unchanged.
    for u in users {
        let typed = format!("--yes-i-typed={u}");
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &["replicate", "--from", "src", "--to", u, &typed],
        );
        assert_ne!(code, 0, "{u}: {out}{err}");
        assert!(format!("{out}{err}").contains("HSET"), "{u}: {out}{err}");
        assert_eq!(b.cli(&["LLEN", "bull:mail:wait"]).trim(), "3", "{u}");
        assert_eq!(b.cli(&["EXISTS", "bull:mail:4"]).trim(), "0", "{u}");
        assert_eq!(b.cli(&["GET", "bull:mail:id"]).trim(), "3", "{u}");
    }

    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config").arg(&cfg).args([
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--yes-i-typed=dst",
            "-o",
            "json",
        ]);
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    // Killed (SIGABRT, like kill -9) before its third step.
    let out = run(Some("hashed-copy-before-step:3"));
    assert!(!out.status.success(), "the crash run must not succeed");
    let mid: usize = b.cli(&["LLEN", "bull:mail:wait"]).trim().parse().unwrap();
    assert_eq!(mid, 3 + 400 - 3, "two windows copied, their conflicts left");
    let out = run(None);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{doc}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 300, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 397);
    assert_eq!(res["dst"]["conflicts"], 3);
    let warn = doc.to_string();
    assert!(warn.contains("never overwrites"), "{doc}");
    assert!(
        warn.contains("1 ids on the source had no job hash"),
        "{doc}"
    );
    assert_eq!(b.cli(&["EXISTS", "bull:mail:prioritized"]).trim(), "0");

    // BullMQ sees its own three jobs untouched and every other source job
    // once, in the source's order behind them.
    let r = bullmq::report(&b, PREFIX, &["mail"]);
    let want: Vec<String> = own.iter().chain(&src_ids[3..]).cloned().collect();
    exactly_once(&ids(&r, "mail", "waiting"), &want, "waiting");
    let src = bullmq::report(&a, PREFIX, &["mail"]);
    let mut order = ids(&src, "mail", "waiting");
    order.retain(|i| !own.contains(i));
    let mut got = ids(&r, "mail", "waiting");
    got.retain(|i| !own.contains(i));
    assert_eq!(got, order, "the source's order");
    for id in &own {
        assert_eq!(
            queue(&r, "mail")["jobs"][id],
            queue(&own_before, "mail")["jobs"][id],
            "the target's own job {id} untouched"
        );
    }
    assert_eq!(dump(&b), own_hash);
    assert_eq!(b.cli(&["GET", "bull:mail:id"]).trim(), "700");
    let fresh = bullmq::ids(&bullmq::api(&b, PREFIX, &["add", "mail", "ok", "1"]));
    assert_eq!(fresh, ["701"]);
    // The source is untouched.
    assert_eq!(a.cli(&["LLEN", "bull:mail:wait"]).trim(), "700");
    // Again: nothing to copy, the same conflicts.
    let out = run(None);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 0, "{doc}");
    assert_eq!(res["dst"]["conflicts"], 3);
}

#[test]
fn copies_onto_a_cluster_with_the_bull_tag() {
    if !bullmq::available("copies_onto_a_cluster_with_the_bull_tag") {
        return;
    }
    let a = RedisServer::start();
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = contexts(
        &ws,
        &a.url(),
        &cluster.seed_urls()[0],
        true,
        CLUSTER_PREFIX,
        &[],
    );
    fill_source(&a, CLUSTER_PREFIX);
    let src = bullmq::report(&a, CLUSTER_PREFIX, &["mail", "reports"]);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
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
        ],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["dst"]["copied"], 48, "{doc}");
    let dst = bullmq::report(&cluster, CLUSTER_PREFIX, &["mail", "reports"]);
    same_as_source(&src, &dst, "mail");
    same_as_source(&src, &dst, "reports");
    // A worker on the cluster runs the copied waiting jobs once.
    let mut w = BullWorker::start(
        &cluster,
        BullWorkerOptions {
            prefix: CLUSTER_PREFIX.into(),
            ..BullWorkerOptions::queue("reports")
        },
    );
    bullmq::wait_for_report(&cluster, CLUSTER_PREFIX, &["reports"], WAIT, |r| {
        count(r, "reports", "completed") == 3
    });
    w.stop();
    let done = completions(&w.logs());
    exactly_once(
        &done.keys().cloned().collect::<Vec<_>>(),
        &ids(&src, "reports", "waiting"),
        "reports on the cluster",
    );
    // A re-run copies nothing.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
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
        ],
    );
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["dst"]["copied"], 0, "{doc}");
    assert_eq!(action_results(&doc)["dst"]["skipped_duplicates"], 48);
}
