//! `quiet workers` and `stop workers` on real Sidekiq processes: the
//! process qctl names turns quiet (as Sidekiq's own API reports it) and
//! takes no new jobs while the other does; a stopped one exits and leaves
//! `processes`; a dry run sends nothing; a NAME matching nothing is refused;
//! go-redis-work-queue targets are skipped as not supported; a namespaced
//! deployment works, and a rolling stop goes one context after another.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

/// A contexts file (with an audit log in the workspace) holding Sidekiq
/// contexts `(name, server, namespace)` and go-redis-work-queue contexts
/// `(name, server)`.
fn contexts(
    ws: &Workspace,
    sk: &[(&str, &RedisServer, Option<&str>)],
    go: &[(&str, &RedisServer)],
) -> std::path::PathBuf {
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n",
        ws.join("audit.log").display()
    );
    for (n, s, _) in sk {
        y.push_str(&format!("  - {{ name: {n}, server: \"{}\" }}\n", s.url()));
    }
    for (n, s) in go {
        y.push_str(&format!("  - {{ name: {n}, server: \"{}\" }}\n", s.url()));
    }
    y.push_str("contexts:\n");
    for (n, _, _) in sk {
        y.push_str(&format!(
            "  - {{ name: {n}, cluster: {n}, schema: sk-{n} }}\n"
        ));
    }
    for (n, _) in go {
        y.push_str(&format!("  - {{ name: {n}, cluster: {n} }}\n"));
    }
    y.push_str("queue-schemas:\n");
    for (n, _, ns) in sk {
        y.push_str(&format!("  - name: sk-{n}\n    kind: sidekiq\n"));
        if let Some(ns) = ns {
            y.push_str(&format!("    namespace: {ns}\n"));
        }
    }
    ws.write("c.yaml", &y)
}

/// Sidekiq's own view of a process: its `processes[]` entry.
fn process<'a>(report: &'a Value, identity: &str) -> Option<&'a Value> {
    report["processes"]
        .as_array()?
        .iter()
        .find(|p| p["identity"] == identity)
}

fn wait_exit(sk: &mut Sidekiq, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    while Instant::now() < until {
        if !sk.is_running() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn calls(s: &RedisServer, cmd: &str) -> u64 {
    command_calls(s).get(cmd).copied().unwrap_or(0)
}

#[test]
fn quiet_then_stop_one_of_two_processes() {
    if !sidekiq::available("quiet_then_stop_one_of_two_processes") {
        return;
    }
    let server = RedisServer::start();
    let mut a = Sidekiq::start(
        &server,
        SidekiqOptions {
            tag: Some("alpha".into()),
            ..Default::default()
        },
    );
    let b = Sidekiq::start(
        &server,
        SidekiqOptions {
            tag: Some("beta".into()),
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("sk", &server, None)], &[]);

    // A dry run: the plan names the process; nothing is sent.
    let (lpush, multi) = (calls(&server, "lpush"), calls(&server, "multi"));
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "quiet",
            "workers",
            a.identity(),
            "--context",
            "sk",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["action"], "quiet-workers");
    assert_eq!(doc["dry_run"], true);
    let r = &doc["results"][0];
    assert_eq!(r["signalled"], 1, "{doc}");
    assert_eq!(r["processes"][0], a.identity(), "{doc}");
    assert!(err.contains(a.identity()) && err.contains("TSTP"), "{err}");
    assert!(err.contains("tag alpha"), "the plan shows the tag: {err}");
    assert!(err.contains("1 other process left alone"), "{err}");
    // Sidekiq's own heartbeat MULTIs go on; qctl sent no LPUSH.
    assert_eq!(calls(&server, "lpush"), lpush, "a dry run sends nothing");
    let _ = multi;
    assert_eq!(server.cli(&["LLEN", &a.signals_key()]).trim(), "0");

    // A NAME that matches nothing: refused before the plan, did-you-mean.
    let near = format!("{}x", a.identity());
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &[
            "quiet",
            "workers",
            &near,
            "--context",
            "sk",
            "--yes-i-typed=sk",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!("no process matches `{near}`")),
        "{err}"
    );
    assert!(
        err.contains(&format!("did you mean `{}`", a.identity())),
        "{err}"
    );
    assert_eq!(
        calls(&server, "lpush"),
        lpush,
        "a refused run sends nothing"
    );
    // A bad glob is a usage error.
    let (code, _, err) = run_raw(&ws, &cfg, &["quiet", "workers", "[web", "--dry-run"]);
    assert_eq!(code, 2, "{err}");

    // Quiet A: Sidekiq's API shows it quiet, B not.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "quiet",
            "workers",
            a.identity(),
            "--context",
            "sk",
            "--yes-i-typed=sk",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r = &doc["results"][0];
    assert_eq!(r["status"], "ok", "{doc}");
    assert_eq!(r["signalled"], 1, "{doc}");
    assert_eq!(calls(&server, "lpush"), lpush + 1);
    let report = sidekiq::wait_for_report(&server, None, Duration::from_secs(20), |r| {
        process(r, a.identity()).is_some_and(|p| p["quiet"] == true)
    });
    assert_eq!(process(&report, b.identity()).unwrap()["quiet"], false);
    // The audit line names the process.
    let audit = ws.read("audit.log");
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(line["action"], "quiet-workers");
    assert_eq!(line["after"]["signalled"][0], a.identity(), "{line}");
    assert_eq!(line["after"]["signal"], "TSTP");

    // New jobs go to B only: three slow ones, all busy on B.
    sidekiq::api(
        &server,
        None,
        &["enqueue", "SlowJob", "3", "default", "[6]"],
    );
    let report = sidekiq::wait_for_report(&server, None, Duration::from_secs(20), |r| {
        r["workers"].as_array().is_some_and(|w| w.len() == 3)
    });
    for w in report["workers"].as_array().unwrap() {
        assert_eq!(
            w["identity"],
            b.identity(),
            "a quiet process took a job: {report:#}"
        );
    }

    // Stop A by its tag: it exits and leaves `processes`; B runs on.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "stop",
            "workers",
            "alpha",
            "--context",
            "sk",
            "--yes-i-typed=sk",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["action"], "stop-workers");
    assert_eq!(doc["results"][0]["signalled"], 1, "{doc}");
    assert_eq!(doc["results"][0]["processes"][0], a.identity(), "{doc}");
    assert!(
        wait_exit(&mut a, Duration::from_secs(30)),
        "sidekiq did not stop:\n{}",
        a.logs()
    );
    let report = sidekiq::wait_for_report(&server, None, Duration::from_secs(10), |r| {
        process(r, a.identity()).is_none()
    });
    assert!(process(&report, b.identity()).is_some(), "{report:#}");
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "workers", "--context", "sk", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let ids: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["worker"].as_str())
        .collect();
    assert_eq!(ids, vec![b.identity()]);
}

#[test]
fn a_namespaced_fleet_rolls_context_by_context_and_go_is_skipped() {
    if !sidekiq::available("a_namespaced_fleet_rolls") {
        return;
    }
    let s1 = RedisServer::start();
    let s2 = RedisServer::start();
    let go = RedisServer::start();
    let mut p1 = Sidekiq::start(&s1, SidekiqOptions::with_namespace("shop"));
    let mut p2 = Sidekiq::start(&s2, SidekiqOptions::default());
    let ws = Workspace::new();
    let cfg = contexts(
        &ws,
        &[("sk1", &s1, Some("shop")), ("sk2", &s2, None)],
        &[("go", &go)],
    );

    // go-redis-work-queue alone: nothing left to run (exit 4), saying why.
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &["quiet", "workers", "--context", "go", "--yes-i-typed=go"],
    );
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains(
            "not supported by go-redis-work-queue: go-redis-work-queue workers take no commands through Redis"
        ),
        "{err}"
    );

    // Quiet every process of the namespaced deployment (no NAME).
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "quiet",
            "workers",
            "--context",
            "sk1",
            "--yes-i-typed=sk1",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["results"][0]["signalled"], 1, "{doc}");
    assert_eq!(
        s1.cli(&["EXISTS", &p1.signals_key()]).trim(),
        "1",
        "shop:<identity>-signals"
    );
    sidekiq::wait_for_report(&s1, Some("shop"), Duration::from_secs(20), |r| {
        process(r, p1.identity()).is_some_and(|p| p["quiet"] == true)
    });

    // A rolling stop of the fleet: one context, a pause, the next; go is
    // skipped with the reason and does not count against the exit code.
    let started = Instant::now();
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "stop",
            "workers",
            "-A",
            "--strategy",
            "rolling",
            "--pause",
            "1500ms",
            "--yes-i-typed=sk2,sk1",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    let results = action_results(&doc);
    assert_eq!(results["sk1"]["signalled"], 1, "{doc}");
    assert_eq!(results["sk2"]["signalled"], 1, "{doc}");
    assert_eq!(results["go"]["status"], "skipped");
    assert!(
        results["go"]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not supported by go-redis-work-queue: "),
        "{doc}"
    );
    // The audit lines: sk1 first, sk2 at least the pause later.
    let lines: Vec<Value> = ws
        .read("audit.log")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["action"] == "stop-workers")
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["context"], "sk1");
    assert_eq!(lines[1]["context"], "sk2");
    let t = |l: &Value| {
        l["time"]
            .as_str()
            .unwrap()
            .parse::<jiff::Timestamp>()
            .unwrap()
    };
    assert!(
        t(&lines[1]).duration_since(t(&lines[0])) >= jiff::SignedDuration::from_millis(1400),
        "{lines:?}"
    );
    for p in [&mut p1, &mut p2] {
        assert!(
            wait_exit(p, Duration::from_secs(30)),
            "sidekiq did not stop:\n{}",
            p.logs()
        );
    }
    sidekiq::wait_for_report(&s1, Some("shop"), Duration::from_secs(10), |r| {
        process(r, p1.identity()).is_none()
    });
    // Nothing live left: a plain run signals 0 and succeeds.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "stop",
            "workers",
            "--context",
            "sk1",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["results"][0]["signalled"], 0, "{doc}");
}

#[test]
fn one_by_one_stops_a_contexts_processes_in_turn() {
    if !sidekiq::available("one_by_one_stops") {
        return;
    }
    let server = RedisServer::start();
    let opts = SidekiqOptions {
        concurrency: 1,
        ..Default::default()
    };
    let mut procs = [
        Sidekiq::start(&server, opts.clone()),
        Sidekiq::start(&server, opts),
    ];
    // qctl goes through a context's processes in identity order.
    procs.sort_by(|a, b| a.identity().cmp(b.identity()));
    let ws = Workspace::new();
    let cfg = contexts(&ws, &[("sk", &server, None)], &[]);
    let child = ws
        .qctl_std()
        .args(["--config"])
        .arg(&cfg)
        .args([
            "stop",
            "workers",
            "--context",
            "sk",
            "--strategy",
            "rolling",
            "--one-by-one",
            "--pause",
            "1s",
            "--yes-i-typed=sk",
            "-o",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let [first, second] = &mut procs;
    assert!(
        wait_exit(first, Duration::from_secs(30)),
        "the first did not stop:\n{}",
        first.logs()
    );
    // The second gets its signal only after the first stopped and the
    // pause: it is still running now.
    assert!(second.is_running(), "both were stopped at once");
    assert!(
        wait_exit(second, Duration::from_secs(30)),
        "the second did not stop:\n{}",
        second.logs()
    );
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &doc["results"][0];
    assert_eq!(r["signalled"], 2, "{doc}");
    assert!(r["duration_ms"].as_u64().unwrap() >= 1000, "{doc}");
    assert!(err.contains("--one-by-one"), "the plan says so: {err}");
}
