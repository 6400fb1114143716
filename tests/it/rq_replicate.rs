//! `qctl replicate` between two RQ 3 deployments, checked with RQ's own
//! API (api.py report and job) and `rq worker --burst` on the target:
//! queued jobs (run order kept, after the target's own), scheduled and
//! failed jobs (scores kept) copied with their hashes, TTLs and results
//! streams; the queue registered in `rq:queues`; each copied queued job
//! run once on the target; a re-run copies nothing, also after the
//! target's worker ran the copies; another job under a copied id is a
//! conflict, left alone; a copy killed mid-way and re-run ends with each
//! job once; ACL users missing HSET change nothing; `--move` refused with
//! a recipe.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::*;

/// Contexts `src` and `dst` (kind rq), plus one per extra user on the
/// target.
fn contexts(ws: &Workspace, src: &str, dst: &str, users: &[&str]) -> std::path::PathBuf {
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: a, server: \"{src}\" }}\n  - {{ name: b, server: \"{dst}\" }}\n",
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
        "contexts:\n  - { name: src, cluster: a, schema: py }\n  - { name: dst, cluster: b, schema: py }\n",
    );
    for u in users {
        y.push_str(&format!(
            "  - {{ name: {u}, cluster: b, schema: py, user: {u} }}\n"
        ));
    }
    y.push_str("queue-schemas:\n  - name: py\n    kind: rq\n");
    ws.write("c.yaml", &y)
}

fn queue<'r>(r: &'r Value, name: &str) -> &'r Value {
    let q = rq::queue(r, name);
    assert!(!q.is_null(), "no queue {name} in rq:queues: {r:#}");
    q
}

fn queued(r: &Value, q: &str) -> Vec<String> {
    rq::ids(&queue(r, q)["job_ids"])
}

fn registry(r: &Value, q: &str, reg: &str) -> Vec<String> {
    rq::ids(&queue(r, q)[reg]["job_ids"])
}

/// Runs a burst worker over `queues` (in that order) until it exits.
fn burst(s: &RedisServer, queues: &[&str]) {
    let mut w = RqWorker::start(
        s,
        RqOptions {
            burst: true,
            with_scheduler: false,
            ..RqOptions::with_queues(queues)
        },
    );
    let status = w.wait_exit(Duration::from_secs(120));
    assert!(
        status.is_some_and(|s| s.success()),
        "burst worker: {status:?}\n{}",
        w.logs()
    );
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

/// RQ's own view of each job (Job.fetch, latest result) on both sides.
fn same_jobs(a: &RedisServer, b: &RedisServer, ids: &[String], what: &str) {
    let mut args = vec!["job"];
    args.extend(ids.iter().map(String::as_str));
    let (sa, sb) = (rq::api(a, &args), rq::api(b, &args));
    assert_eq!(sa["jobs"], sb["jobs"], "{what}: RQ reads the same jobs");
}

fn args(extra: &[&'static str]) -> Vec<&'static str> {
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
}

#[test]
fn copies_queued_scheduled_and_failed_jobs_and_a_burst_worker_runs_each_once() {
    if !rq::available("copies_queued_scheduled_and_failed_jobs_and_a_burst_worker_runs_each_once") {
        return;
    }
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let ws = Workspace::new();
    let cfg = contexts(&ws, &a.url(), &b.url(), &[]);
    // Failed (with their results streams) and finished jobs on the source.
    let failed = rq::ids(&rq::api(&a, &["enqueue", "default", "fail", "4"]));
    rq::api(&a, &["enqueue", "default", "ok", "2"]);
    burst(&a, &["default"]);
    // Then queued, scheduled and another queue's jobs, and one in flight.
    let default = rq::ids(&rq::api(&a, &["enqueue", "default", "record", "20"]));
    let scheduled = rq::ids(&rq::api(&a, &["enqueue_in", "default", "3600", "ok", "3"]));
    let mail = rq::ids(&rq::api(&a, &["enqueue", "mail", "record", "3"]));
    a.cli(&["ZADD", "rq:wip:default", "9999999999", "inflight:exec"]);
    // RQ leaves a failure's results stream without a TTL; one with a TTL
    // (as a finished job's has) keeps what is left of it.
    a.cli(&["EXPIRE", &format!("rq:results:{}", failed[1]), "5000"]);
    let src = rq::api(&a, &["report", "default", "mail"]);
    assert_eq!(queued(&src, "default"), default);
    assert_eq!(registry(&src, "default", "failed").len(), 4);
    assert_eq!(registry(&src, "default", "scheduled").len(), 3);

    // The dry run counts, writes nothing.
    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--dry-run"]));
    assert_eq!(code, 0, "{err}{doc}");
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 30, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 0);
    assert_eq!(res["dst"]["conflicts"], 0);
    for line in [
        "default: 20 to copy, 0 already there",
        "scheduled:default: 3 to copy",
        "failed:default: 4 to copy",
        "mail: 3 to copy",
        "1 jobs started (in flight on the source's workers) are not copied",
        "2 jobs finished are not copied",
    ] {
        assert!(err.contains(line), "{line}: {err}");
    }
    assert_eq!(b.cli(&["DBSIZE"]).trim(), "0");

    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--yes-i-typed=dst"]));
    assert_eq!(code, 0, "{err}{doc}");
    assert_eq!(action_results(&doc)["dst"]["copied"], 30, "{doc}");
    // RQ on the target sees both queues (rq:queues), every job in the
    // source's order, the scores, and each job as the source has it.
    let dst = rq::api(&b, &["report"]);
    let names: Vec<&str> = dst["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "mail"], "{dst:#}");
    assert_eq!(queued(&dst, "default"), default, "the run order kept");
    assert_eq!(queued(&dst, "mail"), mail);
    for reg in ["scheduled", "failed"] {
        assert_eq!(
            queue(&dst, "default")[reg],
            queue(&src, "default")[reg],
            "{reg}: ids and scores"
        );
    }
    assert_eq!(queue(&dst, "default")["started"]["count"], 0);
    assert_eq!(queue(&dst, "default")["finished"]["count"], 0);
    let mut all: Vec<String> = default.clone();
    all.extend(scheduled.iter().cloned());
    all.extend(failed.iter().cloned());
    all.extend(mail.iter().cloned());
    same_jobs(&a, &b, &all, "every copied job");
    // A failed job's traceback (its results stream) and its TTL came too.
    for f in &failed {
        let job = rq::api(&b, &["job", f]);
        assert!(
            job["jobs"][0]["result"]["exc_string"]
                .as_str()
                .is_some_and(|e| e.contains("qctl fixture failure")),
            "{job}"
        );
        for key in [format!("rq:job:{f}"), format!("rq:results:{f}")] {
            let ttl = |s: &RedisServer| -> i64 { s.cli(&["TTL", &key]).trim().parse().unwrap() };
            let (ta, tb) = (ttl(&a), ttl(&b));
            assert!(
                (ta == -1 && tb == -1) || (ta > 0 && (ta - tb).abs() <= 5),
                "{key}: {ta} vs {tb}"
            );
        }
        assert_eq!(
            b.cli(&["XRANGE", &format!("rq:results:{f}"), "-", "+"]),
            a.cli(&["XRANGE", &format!("rq:results:{f}"), "-", "+"])
        );
    }
    assert!(
        b.cli(&["TTL", &format!("rq:results:{}", failed[1])])
            .trim()
            .parse::<i64>()
            .unwrap()
            > 4900
    );
    assert!(
        b.cli(&["TTL", &format!("rq:job:{}", failed[0])])
            .trim()
            .parse::<i64>()
            .unwrap()
            > 0,
        "failure_ttl"
    );

    // rq worker --burst on the target runs each copied queued job once,
    // in the source's order.
    burst(&b, &["default", "mail"]);
    let done = lrange(&mut b.conn(), "qctl:done");
    let mut want = default.clone();
    want.extend(mail.iter().cloned());
    exactly_once(&done, &want, "run on the target");
    assert_eq!(done, want, "run in the source's order");
    let r = rq::api(&b, &["report", "default", "mail"]);
    assert_eq!(queue(&r, "default")["finished"]["count"], 20);
    assert_eq!(queue(&r, "default")["count"], 0);

    // A re-run after the worker ran them copies nothing: each job is on the
    // target (finished now), the same job.
    let (code, doc, err) = run_json(&ws, &cfg, &args(&["--yes-i-typed=dst"]));
    assert_eq!(code, 0, "{err}{doc}");
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 0, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 30);
    assert_eq!(res["dst"]["conflicts"], 0);
    assert_eq!(rq::api(&b, &["report", "default"])["queues"][0]["count"], 0);
    // The source is untouched.
    assert_eq!(
        queued(&rq::api(&a, &["report", "default"]), "default"),
        default
    );

    // --move is refused for RQ, with the recipe.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["replicate", "--from", "src", "--to", "dst", "--move"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--move is not built for rq"), "{err}");
    assert!(
        err.contains("pause --all") && err.contains("purge-dlq"),
        "{err}"
    );
}

#[test]
fn conflicts_are_left_alone_and_a_killed_copy_ends_with_each_job_once() {
    if !rq::available("conflicts_are_left_alone_and_a_killed_copy_ends_with_each_job_once") {
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
    let cfg = contexts(&ws, &a.url(), &b.url(), &users);
    // 450 queued jobs on the source: three windows.
    let src_ids = rq::ids(&rq::api(&a, &["enqueue", "default", "record", "450"]));
    assert_eq!(src_ids.len(), 450);
    // An id whose hash is gone: noted, never fatal.
    a.cli(&["RPUSH", "rq:queue:default", "ghost"]);
    // The target holds three jobs of its own under the first three ids.
    let own = rq::ids(&rq::api(
        &b,
        &["enqueue", "default", "ok", "3", r#"["own"]"#],
    ));
    for (i, (o, s)) in own.iter().zip(&src_ids).enumerate() {
        b.cli(&["RENAME", &format!("rq:job:{o}"), &format!("rq:job:{s}")]);
        b.cli(&["LSET", "rq:queue:default", &i.to_string(), s]);
    }
    let dump = |id: &str| b.cli(&["HGETALL", &format!("rq:job:{id}")]);
    let own_hashes: Vec<String> = src_ids[..3].iter().map(|i| dump(i)).collect();
    let own_jobs = rq::api(&b, &["job", &src_ids[0], &src_ids[1], &src_ids[2]]);

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
        assert_eq!(b.cli(&["LLEN", "rq:queue:default"]).trim(), "3", "{u}");
        assert_eq!(
            b.cli(&["EXISTS", &format!("rq:job:{}", src_ids[3])]).trim(),
            "0",
            "{u}"
        );
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
    let mid: usize = b.cli(&["LLEN", "rq:queue:default"]).trim().parse().unwrap();
    assert_eq!(mid, 3 + 400 - 3, "two windows copied, their conflicts left");
    let out = run(None);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{doc}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 50, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 397);
    assert_eq!(res["dst"]["conflicts"], 3);
    let warn = doc.to_string();
    assert!(warn.contains("never overwrites"), "{doc}");
    assert!(
        warn.contains("1 ids on the source had no job hash"),
        "{doc}"
    );

    // RQ sees the target's own three jobs untouched, first, and every other
    // source job once, in the source's order behind them.
    let r = rq::api(&b, &["report", "default"]);
    assert_eq!(queued(&r, "default"), src_ids, "each job once, in order");
    for (i, id) in src_ids[..3].iter().enumerate() {
        assert_eq!(dump(id), own_hashes[i], "the target's own job {id}");
    }
    assert_eq!(
        rq::api(&b, &["job", &src_ids[0], &src_ids[1], &src_ids[2]]),
        own_jobs
    );
    same_jobs(&a, &b, &src_ids[3..], "the copies");
    // The source is untouched.
    assert_eq!(a.cli(&["LLEN", "rq:queue:default"]).trim(), "451");
    // Again: nothing to copy, the same conflicts.
    let out = run(None);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let res = action_results(&doc);
    assert_eq!(res["dst"]["copied"], 0, "{doc}");
    assert_eq!(res["dst"]["skipped_duplicates"], 447);
    assert_eq!(res["dst"]["conflicts"], 3);
    assert_eq!(b.cli(&["LLEN", "rq:queue:default"]).trim(), "450");
}
