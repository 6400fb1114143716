//! Issue 23's polish, through the real binary against real servers:
//! `health`'s threshold flags over `preferences.health` (both ways) and the
//! thresholds it prints; `-o wide` of `get workers` and `health` on
//! go-redis-work-queue and RQ; one vocabulary (healthy / degraded /
//! unreachable, `-` and `<none>`, REDACTED); plans that spell out rolling
//! and canary strategies and mark protected targets; and a bench that gives
//! up removing exactly its own jobs.

use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::*;
use serde_json::Value;
use std::time::Duration;

/// The row of `table` whose first cell is `first`.
fn row<'a>(table: &'a str, first: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first:?} in\n{table}"))
}

/// The cells of a kubectl-style table line, split on runs of 2+ spaces
/// (cells never hold two spaces in a row here).
fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The cell of `line` under `header` in `table`'s header line.
fn cell<'a>(table: &str, line: &'a str, header: &str) -> &'a str {
    let head = table.lines().next().unwrap();
    let at = head
        .find(&format!("{header} "))
        .or_else(|| head.ends_with(header).then(|| head.len() - header.len()))
        .unwrap_or_else(|| panic!("no column {header} in {head}"));
    line.get(at..)
        .unwrap_or("")
        .split("   ")
        .next()
        .unwrap()
        .trim()
}

fn failed_checks(item: &Value) -> Vec<String> {
    item["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn health_flags_override_preferences_both_ways() {
    let s = RedisServer::start();
    // 20 dead jobs, 3 queued, no worker, 2 orphaned jobs; maxmemory set so
    // that the memory check runs (about 1% used).
    seed(
        &mut s.conn(),
        &Seed {
            high: 3,
            dlq: 20,
            orphans: workers("gone", 1, 2),
            ..Default::default()
        },
    );
    s.cli(&["CONFIG", "SET", "maxmemory", "512mb"]);
    let closed = ClosedPort::new();
    let ws = Workspace::new();
    let strict = ws.write(
        "strict.yaml",
        &contexts_file(
            &[standalone("a", &s.url()), standalone("gone", &closed.url())],
            "",
            "preferences:\n  health: { max-dead-letter: 10, max-orphaned-jobs: 0, require-workers: true }\n",
        ),
    );
    let loose = ws.write(
        "loose.yaml",
        &contexts_file(
            &[standalone("a", &s.url())],
            "",
            "preferences:\n  health: { max-dead-letter: 1000, max-orphaned-jobs: 50, require-workers: false, max-memory-percent: 95 }\n",
        ),
    );
    let health = |cfg: &std::path::Path, args: &[&str]| {
        let mut a = vec!["health", "--context", "a", "-o", "json"];
        a.extend_from_slice(args);
        let (code, doc, err) = run_json(&ws, cfg, &a);
        (
            code,
            doc["items"][0].clone(),
            doc["thresholds"].clone(),
            err,
        )
    };

    // Preferences alone: the strict file fails three checks.
    let (code, item, t, err) = health(&strict, &[]);
    assert_eq!(code, 5, "{err}");
    assert_eq!(item["status"], "degraded");
    assert_eq!(
        failed_checks(&item),
        vec!["dead-letter", "orphaned-jobs", "workers"]
    );
    assert_eq!(t["max_dead_letter"], 10);
    assert_eq!(t["sources"]["max_dead_letter"], "preferences");
    assert_eq!(t["sources"]["max_latency"], "default");
    assert_eq!(t["max_latency_ms"], 250.0);
    // Looser flags win over the strict preferences.
    let (code, item, t, err) = health(
        &strict,
        &[
            "--max-dead-letter",
            "20",
            "--max-orphaned-jobs=2",
            "--require-workers=false",
        ],
    );
    assert_eq!(code, 0, "{err}{item}");
    assert_eq!(item["status"], "healthy");
    assert_eq!(item["healthy"], true);
    assert!(
        !item["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "workers"),
        "--require-workers=false skips the check: {item}"
    );
    assert_eq!(t["max_dead_letter"], 20);
    assert_eq!(t["max_orphaned_jobs"], 2);
    assert_eq!(t["require_workers"], false);
    for f in ["max_dead_letter", "max_orphaned_jobs", "require_workers"] {
        assert_eq!(t["sources"][f], "flag", "{t}");
    }
    // The other way: the loose file passes alone, and stricter flags fail it.
    let (code, item, _, err) = health(&loose, &[]);
    assert_eq!(code, 0, "{err}{item}");
    let (code, item, t, _) = health(
        &loose,
        &[
            "--max-dead-letter=19",
            "--max-orphaned-jobs",
            "1",
            "--require-workers",
            "--max-memory-percent",
            "0",
        ],
    );
    assert_eq!(code, 5);
    assert_eq!(
        failed_checks(&item),
        vec!["dead-letter", "orphaned-jobs", "memory", "workers"]
    );
    assert_eq!(
        t["require_workers"], true,
        "a bare --require-workers is true"
    );
    assert_eq!(t["max_memory_percent"], 0.0);
    let memory = item["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "memory")
        .unwrap();
    assert!(
        memory["message"].as_str().unwrap().contains("(max 0%)"),
        "{memory}"
    );
    // --max-latency takes a duration; the thresholds say which was used.
    let (_, item, t, _) = health(&loose, &["--max-latency", "2s"]);
    assert_eq!(t["max_latency_ms"], 2000.0);
    assert_eq!(t["sources"]["max_latency"], "flag");
    let latency = item["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "latency")
        .unwrap();
    assert!(
        latency["message"].as_str().unwrap().ends_with("(max 2s)"),
        "{latency}"
    );

    // The table: the words get clusters uses, `<none>` for no failed
    // check, and the thresholds in force under it.
    let (code, table, err) = run_raw(
        &ws,
        &strict,
        &[
            "health",
            "-A",
            "--max-dead-letter",
            "50",
            "--require-workers=false",
        ],
    );
    assert_eq!(code, 5, "gone is unreachable: {err}");
    assert!(table.starts_with("CONTEXT   HEALTH"), "{table}");
    let a = row(&table, "a");
    assert_eq!(cells(a)[1], "degraded", "{table}");
    assert!(
        a.contains("orphaned-jobs: 2 jobs in 1 dead worker's list (max 0)"),
        "{a}"
    );
    assert!(!a.contains("dead-letter"), "{a}");
    assert_eq!(cells(row(&table, "gone"))[1], "unreachable", "{table}");
    assert!(!table.contains("unhealthy"), "{table}");
    assert!(
        table.contains(
            "Thresholds: latency 250ms (default), dead-letter 50 (--max-dead-letter), orphaned-jobs 0 (preferences.health.max-orphaned-jobs), memory 90% of maxmemory (default), workers not required (--require-workers)"
        ),
        "{table}"
    );
    let (code, table, _) = run_raw(
        &ws,
        &strict,
        &[
            "health",
            "--context",
            "a",
            "--max-dead-letter",
            "50",
            "--max-orphaned-jobs",
            "5",
            "--require-workers=false",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(
        cells(row(&table, "a"))[1..],
        ["healthy", "<none>"],
        "{table}"
    );
    // --no-headers: rows only.
    let (_, bare, _) = run_raw(&ws, &strict, &["health", "--context", "a", "--no-headers"]);
    assert!(!bare.contains("Thresholds"), "{bare}");
    assert_eq!(bare.lines().count(), 1, "{bare}");
    // -o name: the contexts that are not healthy.
    let (_, names, _) = run_raw(&ws, &strict, &["health", "-A", "-o", "name"]);
    assert_eq!(names, "a\ngone\n");

    // get clusters keeps to preferences.health (no flags there): its STATUS
    // is what health says without flags.
    let (_, doc, _) = run_json(
        &ws,
        &strict,
        &["get", "clusters", "--context", "a", "-o", "json"],
    );
    assert_eq!(doc["items"][0]["status"], "degraded");
    let (_, doc, _) = run_json(
        &ws,
        &loose,
        &["get", "clusters", "--context", "a", "-o", "json"],
    );
    assert_eq!(doc["items"][0]["status"], "healthy");
    let (code, _, err) = run_raw(&ws, &strict, &["get", "clusters", "--max-dead-letter", "5"]);
    assert_eq!(code, 2, "{err}");

    // Bad values: usage errors naming the range; never a panic.
    for (args, needle) in [
        (vec!["--max-dead-letter=-1"], "not a whole number"),
        (
            vec!["--max-dead-letter", "10000000000"],
            "must be 0 to 1000000000",
        ),
        (vec!["--max-orphaned-jobs", "many"], "not a whole number"),
        (vec!["--max-memory-percent", "101"], "must be 0 to 100"),
        (vec!["--max-memory-percent", "lots"], "not a percentage"),
        (vec!["--max-latency", "2h"], "must be 1ms to 1h"),
        (vec!["--max-latency", "soon"], "not a duration"),
        (
            vec!["--require-workers=maybe"],
            "possible values: true, false",
        ),
    ] {
        let mut a = vec!["health", "--context", "a"];
        a.extend_from_slice(&args);
        let (code, _, err) = run_raw(&ws, &strict, &a);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The range is in the help.
    let (_, help, _) = run_raw(&ws, &strict, &["health", "--help"]);
    for flag in [
        "--max-dead-letter <N>",
        "--max-latency <DUR>",
        "--max-orphaned-jobs <N>",
        "--max-memory-percent <PCT>",
        "--require-workers [<BOOL>]",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    assert!(help.contains("0 to 1000000000"), "{help}");
    assert!(help.contains("1ms to 1h [default: 250ms"), "{help}");
}

/// A contexts file with a go-redis-work-queue context `go` and an RQ
/// context `py`.
fn mixed_contexts(ws: &Workspace, go: &RedisServer, py: &RedisServer) -> std::path::PathBuf {
    ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: go, server: \"{}\" }}\n  - {{ name: py, server: \"{}\" }}\ncontexts:\n  - {{ name: go, cluster: go }}\n  - {{ name: py, cluster: py, schema: py }}\nqueue-schemas:\n  - name: py\n    kind: rq\n",
            go.url(),
            py.url()
        ),
    )
}

#[test]
fn wide_workers_and_health_on_go_redis_work_queue_and_rq() {
    if !rq::available("wide_workers_and_health_on_go_redis_work_queue_and_rq") {
        return;
    }
    let go = RedisServer::start();
    seed(
        &mut go.conn(),
        &Seed {
            live: workers("busy", 1, 1),
            orphans: workers("dead", 1, 2),
            ..Default::default()
        },
    );
    let py = RedisServer::start();
    let worker = RqWorker::start(
        &py,
        RqOptions {
            queues: vec!["mail".into(), "default".into()],
            with_scheduler: false,
            ..Default::default()
        },
    );
    let report = rq::report(&py);
    let rw = report["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == worker.name())
        .unwrap_or_else(|| panic!("{report:#}"))
        .clone();
    let ws = Workspace::new();
    let cfg = mixed_contexts(&ws, &go, &py);

    // get workers: the plain table has six columns; -o wide adds the rest.
    let (code, table, err) = run_raw(&ws, &cfg, &["get", "workers", "-A"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        cells(table.lines().next().unwrap()),
        [
            "CONTEXT",
            "WORKER",
            "STATE",
            "IN-FLIGHT",
            "HEARTBEAT",
            "JOB"
        ]
    );
    // An orphan has no heartbeat: `-`, never a blank cell.
    let dead = table.lines().find(|l| l.contains("dead0")).unwrap();
    assert_eq!(cell(&table, dead, "HEARTBEAT"), "-", "{table}");
    let (code, wide, err) = run_raw(&ws, &cfg, &["get", "workers", "-A", "-o", "wide"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        cells(wide.lines().next().unwrap()),
        [
            "CONTEXT",
            "WORKER",
            "STATE",
            "IN-FLIGHT",
            "HEARTBEAT",
            "JOB",
            "QUEUES",
            "HOST",
            "PID",
            "TAG",
            "THREADS",
            "QUIET",
            "BUSY-JOBS",
            "CONNECTED",
            "PROCESSING-KEY"
        ]
    );
    // go-redis-work-queue: the processing list; what it does not keep is `-`.
    let busy = wide.lines().find(|l| l.contains("busy0")).unwrap();
    assert_eq!(
        cell(&wide, busy, "PROCESSING-KEY"),
        "jobqueue:worker:busy0:processing"
    );
    assert_eq!(cell(&wide, busy, "HOST"), "-");
    assert_eq!(cell(&wide, busy, "QUEUES"), "-");
    let dead = wide.lines().find(|l| l.contains("dead0")).unwrap();
    assert_eq!(
        cell(&wide, dead, "PROCESSING-KEY"),
        "jobqueue:worker:dead0:processing"
    );
    assert_eq!(cell(&wide, dead, "STATE"), "orphaned");
    // RQ: queues, host and pid from the worker's hash; no busy job is
    // `<none>` (RQ keeps the list), no processing key `-`.
    let line = wide.lines().find(|l| l.contains(worker.name())).unwrap();
    assert_eq!(cell(&wide, line, "QUEUES"), "mail,default", "{wide}");
    assert_eq!(cell(&wide, line, "HOST"), rw["hostname"].as_str().unwrap());
    assert_eq!(cell(&wide, line, "PID"), worker.pid().to_string());
    assert_eq!(cell(&wide, line, "BUSY-JOBS"), "<none>", "{wide}");
    assert_eq!(cell(&wide, line, "JOB"), "-", "{wide}");
    assert_eq!(cell(&wide, line, "PROCESSING-KEY"), "-", "{wide}");
    // JSON carries the processing key too.
    let (_, doc, _) = run_json(&ws, &cfg, &["get", "workers", "-A", "-o", "json"]);
    let items = doc["items"].as_array().unwrap();
    let go_busy = items.iter().find(|w| w["worker"] == "busy0").unwrap();
    assert_eq!(
        go_busy["processing_key"],
        "jobqueue:worker:busy0:processing"
    );
    let py_w = items.iter().find(|w| w["worker"] == worker.name()).unwrap();
    assert!(py_w["processing_key"].is_null(), "{py_w}");

    // health -o wide: the system, the endpoint and the checks that passed,
    // with their thresholds.
    let (code, table, err) = run_raw(&ws, &cfg, &["health", "-A"]);
    assert_eq!(code, 5, "go has orphaned jobs: {err}");
    assert_eq!(
        cells(table.lines().next().unwrap()),
        ["CONTEXT", "HEALTH", "FAILED CHECKS"]
    );
    let (code, wide, _) = run_raw(&ws, &cfg, &["health", "-A", "-o", "wide"]);
    assert_eq!(code, 5);
    assert_eq!(
        cells(wide.lines().next().unwrap()),
        [
            "CONTEXT",
            "HEALTH",
            "FAILED CHECKS",
            "SYSTEM",
            "ENDPOINT",
            "PASSED CHECKS"
        ]
    );
    let g = row(&wide, "go");
    assert_eq!(cell(&wide, g, "HEALTH"), "degraded");
    assert_eq!(cell(&wide, g, "SYSTEM"), "go-redis-work-queue");
    assert_eq!(cell(&wide, g, "ENDPOINT"), go.url());
    assert!(
        cell(&wide, g, "FAILED CHECKS").starts_with("orphaned-jobs: 2 jobs"),
        "{wide}"
    );
    let passed = cell(&wide, g, "PASSED CHECKS");
    assert!(
        passed.starts_with("reachable: answered; latency: ")
            && passed.contains("(max 250ms)")
            && passed.contains("dead-letter: 0 jobs (max 100)"),
        "{passed}"
    );
    let p = row(&wide, "py");
    assert_eq!(cell(&wide, p, "HEALTH"), "healthy");
    assert_eq!(cell(&wide, p, "FAILED CHECKS"), "<none>");
    assert_eq!(cell(&wide, p, "SYSTEM"), "rq");
    assert_eq!(cell(&wide, p, "ENDPOINT"), py.url());
    assert!(
        cell(&wide, p, "PASSED CHECKS").contains("dead-letter: 0 jobs (max 100)"),
        "{wide}"
    );
    let (_, doc, _) = run_json(&ws, &cfg, &["health", "-A", "-o", "json"]);
    assert_eq!(doc["items"][1]["system"], "rq");
    assert_eq!(doc["items"][1]["status"], "healthy");
    assert_eq!(doc["items"][0]["endpoint"], go.url());
}

#[test]
fn an_unreachable_context_reads_alike_in_health_and_get_clusters() {
    let secret = "pw-Qx7-never-shown";
    let closed = ClosedPort::new();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: g, server: \"redis://:{secret}@{}\" }}\ncontexts:\n  - {{ name: gone, cluster: g }}\n",
            closed.addr()
        ),
    );
    let (code, clusters, _) = run_raw(&ws, &cfg, &["get", "clusters", "-o", "wide", "-A"]);
    assert_eq!(code, 1);
    let (code, health, _) = run_raw(&ws, &cfg, &["health", "-A", "-o", "wide"]);
    assert_eq!(code, 1, "nothing answered: a failure before a failed check");
    assert_eq!(cells(row(&clusters, "gone"))[1], "unreachable");
    assert_eq!(cells(row(&health, "gone"))[1], "unreachable");
    // The secret is REDACTED, the one way qctl shows a secret.
    assert!(
        health.contains(&format!("redis://:REDACTED@{}", closed.addr())),
        "{health}"
    );
    assert!(!health.contains(secret) && !clusters.contains(secret));
    let (_, view, _) = run_raw(&ws, &cfg, &["config", "view"]);
    assert!(view.contains(":REDACTED@"), "{view}");
    assert!(!view.contains("***"), "{view}");
}

/// Three go-redis-work-queue contexts, `prod` protected, each with a
/// dead-letter job or two.
fn three(ws: &Workspace) -> (Vec<RedisServer>, std::path::PathBuf) {
    let servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    for (i, s) in servers.iter().enumerate() {
        let jobs: Vec<String> = (0..=i).map(|j| job(&format!("d{i}-{j}"))).collect();
        push_all(&mut s.conn(), "jobqueue:dead_letter", &jobs);
    }
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: a, server: \"{}\" }}\n  - {{ name: b, server: \"{}\" }}\n  - {{ name: p, server: \"{}\" }}\ncontexts:\n  - {{ name: a, cluster: a }}\n  - {{ name: b, cluster: b }}\n  - {{ name: prod, cluster: p, protected: true }}\n",
            servers[0].url(),
            servers[1].url(),
            servers[2].url()
        ),
    );
    (servers, cfg)
}

/// The plan's lines from `strategy:` up to the notes.
fn strategy_block(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .skip_while(|l| !l.starts_with("strategy:"))
        .take_while(|l| l.starts_with("strategy:") || l.starts_with("  "))
        .collect()
}

#[test]
fn plans_spell_out_rolling_and_canary_and_mark_protected_targets() {
    let ws = Workspace::new();
    let (servers, cfg) = three(&ws);
    // Rolling, two at a time, a pause: the order, the steps, the pauses.
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "a,b,prod",
            "--strategy",
            "rolling",
            "--max-parallel",
            "2",
            "--pause",
            "2m",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        strategy_block(&stderr),
        [
            "strategy: rolling in 2 steps, at most 2 contexts at once (--max-parallel 2), 2m pause between steps; stops at the first failure",
            "  order: a, b, prod (protected)",
            "  step 1: a, b (2 at once)",
            "  pause 2m",
            "  step 2: prod (protected)",
        ],
        "{stderr}"
    );
    // The protected context named literally is marked in the table too.
    let plan_row = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("prod"))
        .unwrap();
    assert!(
        plan_row.trim_start().starts_with("prod (protected)   3"),
        "{stderr}"
    );
    // Rolling one at a time by default.
    let (_, _, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "b,a",
            "--strategy",
            "rolling",
            "--dry-run",
        ],
    );
    assert_eq!(
        strategy_block(&stderr),
        [
            "strategy: rolling in 2 steps, one context at a time, no pause between steps; stops at the first failure",
            "  order: a, b",
            "  step 1: a",
            "  step 2: b",
        ],
        "{stderr}"
    );
    // Canary: the first named goes alone; the rest after the pause.
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "prod,a,b",
            "--strategy",
            "canary",
            "--pause",
            "5m",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        strategy_block(&stderr),
        [
            "strategy: canary: prod (protected) alone first, then the rest only if it succeeded (all at once), 5m pause between steps; stops at the first failure",
            "  order: prod (protected), a, b",
            "  step 1 (canary): prod (protected)",
            "  pause 5m",
            "  step 2: a, b (2 at once)",
        ],
        "{stderr}"
    );
    // A protected context reached by a glob is skipped, not marked.
    let (_, _, stderr) = run_raw(&ws, &cfg, &["purge-dlq", "-A", "--dry-run"]);
    assert!(!stderr.contains("(protected)"), "{stderr}");
    assert!(stderr.contains("skipped: protected"), "{stderr}");
    assert!(
        strategy_block(&stderr).is_empty(),
        "the default, parallel, says nothing: {stderr}"
    );
    // Nothing was purged by the dry runs.
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(lrange(&mut s.conn(), "jobqueue:dead_letter").len(), i + 1);
    }
    // The plan is the same when the write runs: the canary goes first.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "b,a",
            "--strategy",
            "canary",
            "--yes-i-typed=a,b",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        strategy_block(&stderr)[2],
        "  step 1 (canary): b",
        "{stderr}"
    );
    assert_eq!(action_results(&doc)["a"]["status"], "ok");
}

#[test]
fn notes_that_do_not_apply_are_left_out_and_results_widen() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(&[standalone("a", &s.url())], "", ""),
    );
    // A purge of no job: no note on backups expiring, no --no-backup note.
    let (code, out, stderr) = run_raw(&ws, &cfg, &["purge-dlq", "--context", "a", "--dry-run"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("total: 0 jobs on 1 context"), "{stderr}");
    assert!(!stderr.contains("note:"), "{stderr}");
    let (_, _, stderr) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "a", "--no-backup", "--dry-run"],
    );
    assert!(!stderr.contains("cannot be restored"), "{stderr}");
    // The result table: `-` where there is no value, never a blank cell.
    let a = row(&out, "a");
    assert_eq!(
        cells(a),
        ["a", "ok (dry run)", "0", "-", "0ms", "-"],
        "{out}"
    );
    // With jobs the note is there.
    push_all(&mut s.conn(), "jobqueue:dead_letter", &[job("x")]);
    let (_, _, stderr) = run_raw(&ws, &cfg, &["purge-dlq", "--context", "a", "--dry-run"]);
    assert!(
        stderr.contains("note: memory is freed only when a backup expires (in 24h)"),
        "{stderr}"
    );
    // -o wide adds the warnings a target's write reported.
    let (_, wide, _) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "a", "--dry-run", "-o", "wide"],
    );
    assert_eq!(
        cells(wide.lines().next().unwrap()),
        [
            "CONTEXT", "STATUS", "PURGED", "BACKUP", "DURATION", "REASON", "WARNINGS"
        ]
    );
    assert_eq!(cells(row(&wide, "a"))[6], "<none>", "{wide}");
}

/// A bench job of another run, marked like bench's own: bench must leave it.
fn foreign_bench_job() -> String {
    r#"{"id":"qctl-bench-otherrun-0","filepath":"/dev/null/qctl-bench/otherrun/0","filesize":0,"priority":"high","retries":0,"creation_time":"2026-01-01T00:00:00.000Z","trace_id":"","span_id":"","bench":true,"pad":""}"#.to_string()
}

#[test]
fn bench_that_gives_up_removes_exactly_its_own_jobs() {
    let s = RedisServer::start();
    let others: Vec<String> = vec![job("real-1"), foreign_bench_job(), job("real-2")];
    push_all(&mut s.conn(), "jobqueue:high_priority", &others);
    push_all(&mut s.conn(), "jobqueue:dead_letter", &[job("dead-1")]);
    push_all(&mut s.conn(), "jobqueue:completed", &[job("done-1")]);
    let before_high = lrange(&mut s.conn(), "jobqueue:high_priority");
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(&[standalone("idle", &s.url())], "", ""),
    );
    // No worker: the plan says so before anything is enqueued.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "bench",
            "--context",
            "idle",
            "--count",
            "700",
            "--rate",
            "100000",
            "--wait-timeout",
            "300ms",
            "--yes-i-typed=idle",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stderr}\n{doc}");
    assert!(
        stderr.contains("warning: idle: no worker seen here (workers: 0"),
        "{stderr}"
    );
    let plan_at = stderr.find("total: 700 jobs").unwrap();
    assert!(stderr.find("warning: idle: no worker").unwrap() > plan_at);
    let r = &action_results(&doc)["idle"];
    assert_eq!(r["enqueued"], 700, "{doc}");
    assert_eq!(r["removed"], 700, "{doc}");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("700 of 700 bench jobs not seen")
            && reason.contains("700 still queued removed from jobqueue:high_priority"),
        "{reason}"
    );
    // Exactly the jobs that were there before, in their order; nothing
    // else touched.
    assert_eq!(lrange(&mut s.conn(), "jobqueue:high_priority"), before_high);
    assert_eq!(
        lrange(&mut s.conn(), "jobqueue:dead_letter"),
        vec![job("dead-1")]
    );
    assert_eq!(
        lrange(&mut s.conn(), "jobqueue:completed"),
        vec![job("done-1")]
    );
    // The table has the REMOVED column.
    let (_, table, _) = run_raw(
        &ws,
        &cfg,
        &[
            "bench",
            "--context",
            "idle",
            "--count",
            "5",
            "--rate",
            "1000",
            "--wait-timeout",
            "100ms",
            "--yes-i-typed=idle",
        ],
    );
    assert!(table.lines().next().unwrap().contains("REMOVED"), "{table}");
    assert_eq!(cell(&table, row(&table, "idle"), "REMOVED"), "5", "{table}");
    assert_eq!(lrange(&mut s.conn(), "jobqueue:high_priority"), before_high);
}

#[test]
fn bench_stopped_by_sigterm_removes_what_it_enqueued() {
    let s = RedisServer::start();
    push_all(&mut s.conn(), "jobqueue:high_priority", &[job("real-1")]);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(&[standalone("idle", &s.url())], "", ""),
    );
    // 100 jobs a second for 20 s: stopped a second in.
    let child = ws
        .qctl_std()
        .arg("--config")
        .arg(&cfg)
        .args([
            "bench",
            "--context",
            "idle",
            "--count",
            "2000",
            "--rate",
            "100",
            "--yes-i-typed=idle",
            "-o",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || {
            lrange(&mut s.conn(), "jobqueue:high_priority").len() > 50
        }),
        "bench never enqueued"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["interrupted"], true);
    let r = &action_results(&doc)["idle"];
    let enqueued = r["enqueued"]
        .as_u64()
        .unwrap_or_else(|| panic!("{doc}\n{stderr}"));
    assert!((50..2000).contains(&enqueued), "{doc}");
    assert_eq!(r["removed"], enqueued, "{doc}");
    assert!(
        r["reason"].as_str().unwrap().contains("interrupted"),
        "{doc}"
    );
    assert_eq!(
        lrange(&mut s.conn(), "jobqueue:high_priority"),
        vec![job("real-1")]
    );
}

#[test]
fn the_progress_bar_rate_is_a_whole_number() {
    let s = RedisServer::start();
    let client = s.client();
    let workers = Workers::start(2, "jobqueue:", move || client.get_connection().unwrap());
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(&[standalone("busy", &s.url())], "", ""),
    );
    let mut cmd = ws.on_pty(&format!(
        "{} --config {} bench --context busy --count 3000 --rate 2000 --wait-timeout 20s --yes-i-typed=busy",
        crate::common::workspace::qctl_bin().display(),
        cfg.display()
    ));
    cmd.env("TERM", "xterm");
    let pty = Pty::spawn(cmd);
    let (code, text) = pty.finish();
    workers.stop();
    assert_eq!(code, 0, "{text}");
    // `1,234/s`: whole jobs per second, grouped; never `1234.5678/s`.
    let rates: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '\r' || c == '\u{1b}')
        .filter(|w| w.ends_with("/s") && w.starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert!(!rates.is_empty(), "no progress bar drawn: {text:?}");
    for r in &rates {
        let n = r.trim_end_matches("/s");
        assert!(
            n.chars().all(|c| c.is_ascii_digit() || c == ','),
            "{r} in {text:?}"
        );
    }
    assert!(text.contains(" jobs "), "{text:?}");
}
