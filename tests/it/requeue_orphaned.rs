//! `requeue --orphaned` (issue 21) against real servers: dead workers'
//! in-flight jobs go back to the queue their priority names, each exactly
//! once, while a worker fleet consumes; live workers are never touched
//! (a heartbeat set, a heartbeat that comes back between plan and apply, a
//! list that changes); killed at any point and run again, nothing is lost
//! or doubled, on a standalone server and across cluster slots; an ACL
//! user missing LPUSH changes nothing; a dry run writes nothing.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const HIGH: &str = "jobqueue:high_priority";
const LOW: &str = "jobqueue:low_priority";
const COMPLETED: &str = "jobqueue:completed";

fn pjob(id: &str, priority: &str) -> String {
    format!(
        r#"{{"id":"{id}","filepath":"/data/{id}","filesize":1,"priority":"{priority}","retries":0,"creation_time":"2025-01-14T10:30:00.123Z","trace_id":"","span_id":""}}"#
    )
}

fn processing(w: &str) -> String {
    format!("jobqueue:worker:{w}:processing")
}

fn heartbeat(w: &str) -> String {
    format!("jobqueue:processing:worker:{w}")
}

/// What the orphans hold, by destination.
#[derive(Default)]
struct Seeded {
    /// Every job id seeded into a dead worker's list.
    all: Vec<String>,
    high: Vec<String>,
    /// Jobs of priority low, or a priority naming no queue, or not JSON.
    low: Vec<String>,
}

/// `n` dead workers `dead-<i>`, each holding `per` jobs of priority high,
/// low, bogus and (every fourth) a payload that is not JSON.
fn seed_orphans<C: redis::ConnectionLike>(c: &mut C, n: usize, per: usize) -> Seeded {
    let mut s = Seeded::default();
    for w in 0..n {
        let mut jobs = Vec::new();
        for j in 0..per {
            let id = format!("o{w}-{j}");
            let (payload, high) = match (w + j) % 4 {
                0 => (pjob(&id, "high"), true),
                1 => (pjob(&id, "low"), false),
                2 => (pjob(&id, "urgent"), false),
                _ => (format!("not json {id}"), false),
            };
            if high {
                s.high.push(id.clone());
            } else {
                s.low.push(if payload.starts_with("not json") {
                    payload.clone()
                } else {
                    id.clone()
                });
            }
            s.all.push(if payload.starts_with("not json") {
                payload.clone()
            } else {
                id
            });
            jobs.push(payload);
        }
        // The first job taken is at the right end: push oldest first.
        push_all(c, &processing(&format!("dead-{w}")), &jobs);
    }
    s
}

/// Live workers `live-<i>` with a heartbeat and 2 jobs each; returns the
/// ids.
fn seed_live<C: redis::ConnectionLike>(c: &mut C, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for w in 0..n {
        let name = format!("live-{w}");
        let jobs: Vec<String> = (0..2)
            .map(|j| pjob(&format!("{name}-{j}"), "high"))
            .collect();
        ids.extend(ids_of(&jobs));
        push_all(c, &processing(&name), &jobs);
        let _: () = redis::cmd("SET")
            .arg(heartbeat(&name))
            .arg(&jobs[0])
            .arg("PX")
            .arg(600_000)
            .query(c)
            .unwrap();
    }
    ids
}

fn one_server() -> (RedisServer, Workspace, std::path::PathBuf) {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let yaml = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: s, server: \"{}\" }}\ncontexts:\n  - {{ name: s, cluster: s }}\n",
        ws.join("audit.log").display(),
        s.url()
    );
    let cfg = ws.write("c.yaml", &yaml);
    (s, ws, cfg)
}

const ARGS: &[&str] = &[
    "requeue",
    "--orphaned",
    "--context",
    "s",
    "--yes-i-typed=s",
    "-o",
    "json",
];

fn keys_of(workers: &[String]) -> Vec<String> {
    workers.iter().map(|w| processing(w)).collect()
}

fn side_keys_left<C: redis::ConnectionLike>(c: &mut C) -> Vec<String> {
    redis::cmd("KEYS").arg("*qctl-orphaned*").query(c).unwrap()
}

#[test]
fn orphans_go_back_by_priority_exactly_once_while_workers_consume() {
    let (s, ws, cfg) = one_server();
    let mut c = s.conn();
    let fresh: Vec<String> = (0..8000).map(|i| pjob(&format!("f-{i}"), "high")).collect();
    push_all(&mut c, HIGH, &fresh);
    let seeded = seed_orphans(&mut c, 5, 4);
    let live = seed_live(&mut c, 2);
    let live_before: Vec<Vec<String>> = (0..2)
        .map(|w| lrange(&mut c, &processing(&format!("live-{w}"))))
        .collect();
    let client = s.client();
    let fleet = Workers::start(4, "jobqueue:", move || client.get_connection().unwrap());

    let (code, doc, stderr) = run_json(&ws, &cfg, ARGS);
    assert_eq!(code, 0, "{stderr}");
    let r = &action_results(&doc)["s"];
    assert_eq!(r["moved"], 20, "{r}");
    assert_eq!(r["moved_to"][HIGH], seeded.high.len(), "{r}");
    assert_eq!(r["moved_to"][LOW], seeded.low.len(), "{r}");
    assert!(
        stderr.contains("no priority naming a work queue"),
        "the plan says how many fell back: {stderr}"
    );

    let want_done = fresh.len() + seeded.high.len();
    assert!(
        wait_for(Duration::from_secs(60), || {
            let n: usize = redis::cmd("LLEN").arg(COMPLETED).query(&mut c).unwrap();
            n >= want_done
        }),
        "the workers never finished"
    );
    fleet.stop();
    // Live workers untouched; dead ones emptied.
    for (w, before) in live_before.iter().enumerate() {
        assert_eq!(&lrange(&mut c, &processing(&format!("live-{w}"))), before);
    }
    for w in 0..5 {
        assert!(lrange(&mut c, &processing(&format!("dead-{w}"))).is_empty());
    }
    // The low queue holds exactly the low, bogus and non-JSON jobs.
    let mut low = ids_of(&lrange(&mut c, LOW));
    low.sort();
    let mut want_low = seeded.low.clone();
    want_low.sort();
    assert_eq!(low, want_low);
    let mut want: Vec<String> = ids_of(&fresh);
    want.extend(seeded.all.clone());
    want.extend(live);
    let mut keys: Vec<String> = vec![HIGH.into(), LOW.into(), COMPLETED.into()];
    keys.extend((0..4).map(|w| format!("jobqueue:worker:w{w}:processing")));
    keys.extend(keys_of(
        &(0..5).map(|w| format!("dead-{w}")).collect::<Vec<_>>(),
    ));
    keys.extend(keys_of(
        &(0..2).map(|w| format!("live-{w}")).collect::<Vec<_>>(),
    ));
    assert_exactly_once(&mut c, &keys, &want);
    assert!(side_keys_left(&mut c).is_empty());
    // The audit line says per worker what moved where.
    let audit = ws.read("audit.log");
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    let workers = line["after"]["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 5, "{line}");
    assert_eq!(workers[0]["worker"], "dead-0");
    assert_eq!(workers[0]["moved"], 4);

    // Nothing orphaned any more: a second run moves nothing.
    let (code, doc, stderr) = run_json(&ws, &cfg, ARGS);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(action_results(&doc)["s"]["moved"], 0);
}

#[test]
fn usage_errors_and_a_dry_run_that_writes_nothing() {
    let (s, ws, cfg) = one_server();
    let mut c = s.conn();
    let seeded = seed_orphans(&mut c, 3, 2);
    for args in [
        &["requeue", "--context", "s", "--yes-i-typed=s"][..],
        &["requeue", "--orphaned", "--match", "*x*", "--context", "s"][..],
        &["requeue", "--orphaned", "--reset-retries", "--context", "s"][..],
    ] {
        let (code, _, err) = run_raw(&ws, &cfg, args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    let (code, _, err) = run_raw(&ws, &cfg, &["requeue", "--context", "s"]);
    assert!(err.contains("--to"), "{err}");
    assert_eq!(code, 2);
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--orphaned",
            "--to",
            "dlq",
            "--context",
            "s",
            "--dry-run",
        ],
    );
    assert_eq!(code, 2, "{err}");

    let writes = |s: &RedisServer| -> BTreeMap<String, u64> {
        const W: &[&str] = &[
            "lpush", "rpush", "ltrim", "set", "del", "pexpire", "eval", "evalsha", "lrem", "zadd",
        ];
        command_calls(s)
            .into_iter()
            .filter(|(n, _)| W.contains(&n.as_str()))
            .collect()
    };
    let before = writes(&s);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "requeue",
            "--orphaned",
            "--context",
            "s",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r = &action_results(&doc)["s"];
    assert_eq!(r["moved"], seeded.all.len(), "{r}");
    assert_eq!(writes(&s), before, "a dry run sent a write");
    // --to: every job goes there.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "requeue",
            "--orphaned",
            "--to",
            "high",
            "--limit",
            "4",
            "--context",
            "s",
            "--yes-i-typed=s",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["s"]["moved"], 4);
    assert_eq!(lrange(&mut c, HIGH).len(), 4);
    assert!(lrange(&mut c, LOW).is_empty());
}

#[test]
fn a_crash_between_workers_then_a_rerun_moves_each_job_once() {
    let (s, ws, cfg) = one_server();
    let mut c = s.conn();
    let seeded = seed_orphans(&mut c, 5, 3);
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(ARGS)
        .env("QCTL_FAULT", "orphan-before-take:3")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("QCTL_FAULT: aborting at orphan-before-take"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved_first = lrange(&mut c, HIGH).len() + lrange(&mut c, LOW).len();
    assert_eq!(moved_first, 6, "two workers done before the crash");
    let (code, doc, err) = run_json(&ws, &cfg, ARGS);
    assert_eq!(code, 0, "{err}");
    assert_eq!(action_results(&doc)["s"]["moved"], 9);
    let mut keys: Vec<String> = vec![HIGH.into(), LOW.into()];
    keys.extend(keys_of(
        &(0..5).map(|w| format!("dead-{w}")).collect::<Vec<_>>(),
    ));
    assert_exactly_once(&mut c, &keys, &seeded.all);
    assert!(side_keys_left(&mut c).is_empty());
}

#[test]
fn a_worker_that_comes_back_between_plan_and_apply_is_left_alone() {
    let (s, ws, cfg) = one_server();
    let mut c = s.conn();
    let seeded = seed_orphans(&mut c, 3, 2);
    let resume = ws.path().join("resume");
    let mut child = ws
        .qctl_std()
        .arg("--config")
        .arg(&cfg)
        .args(ARGS)
        .env("QCTL_FAULT", "orphan-before-take:1:pause")
        .env("QCTL_FAULT_RESUME", &resume)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("QCTL_FAULT: paused") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("never reached the pause");
    // dead-0's heartbeat comes back; dead-1 takes a new job (alive too).
    let _: () = redis::cmd("SET")
        .arg(heartbeat("dead-0"))
        .arg("x")
        .arg("PX")
        .arg(60_000)
        .query(&mut c)
        .unwrap();
    let newer = pjob("new-1", "high");
    let _: () = redis::cmd("LPUSH")
        .arg(processing("dead-1"))
        .arg(&newer)
        .query(&mut c)
        .unwrap();
    let before0 = lrange(&mut c, &processing("dead-0"));
    let before1 = lrange(&mut c, &processing("dead-1"));
    std::fs::write(&resume, "").unwrap();
    let status = child.wait().unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(action_results(&doc)["s"]["moved"], 2, "only dead-2's jobs");
    assert_eq!(lrange(&mut c, &processing("dead-0")), before0);
    assert_eq!(lrange(&mut c, &processing("dead-1")), before1);
    let audit = ws.read("audit.log");
    let line: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    let w = &line["after"]["workers"];
    assert!(
        w[0]["skipped"].as_str().unwrap().contains("heartbeat"),
        "{w}"
    );
    assert!(w[1]["skipped"].as_str().unwrap().contains("changed"), "{w}");
    assert!(w[2]["skipped"].is_null(), "{w}");
    let mut want = seeded.all.clone();
    want.push("new-1".into());
    let mut keys: Vec<String> = vec![HIGH.into(), LOW.into()];
    keys.extend(keys_of(
        &(0..3).map(|w| format!("dead-{w}")).collect::<Vec<_>>(),
    ));
    assert_exactly_once(&mut c, &keys, &want);
}

#[test]
fn across_cluster_slots_a_crash_at_each_point_loses_and_doubles_nothing() {
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: eu, mode: cluster, nodes: [{}] }}\ncontexts:\n  - {{ name: eu, cluster: eu }}\n",
            cluster.seed_urls()[0]
        ),
    );
    let slot = |k: &str| cluster.cli(&["CLUSTER", "KEYSLOT", k]);
    assert_ne!(
        slot(&processing("dead-0")),
        slot(HIGH),
        "the test needs two slots"
    );
    let mut c = cluster.conn();
    let seeded = seed_orphans(&mut c, 6, 4);
    let live = seed_live(&mut c, 2);
    let args = [
        "requeue",
        "--orphaned",
        "--context",
        "eu",
        "--yes-i-typed=eu",
        "-o",
        "json",
    ];
    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config").arg(&cfg).args(args);
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    let staging = |w: usize| {
        format!(
            "{{{}}}:qctl-orphaned:staging",
            processing(&format!("dead-{w}"))
        )
    };
    let aborted = |out: &std::process::Output, at: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("QCTL_FAULT: aborting at {at}")),
            "{err}"
        );
    };
    let out = run(Some("orphan-after-stage:2"));
    aborted(&out, "orphan-after-stage");
    let staged: usize = (0..6)
        .map(|w| -> usize { redis::cmd("LLEN").arg(staging(w)).query(&mut c).unwrap() })
        .sum();
    assert!(staged > 0, "the crashed batch waits in staging");
    let out = run(Some("orphan-after-push:3"));
    aborted(&out, "orphan-after-push");
    let out = run(Some("orphan-after-stage:1"));
    aborted(&out, "orphan-after-stage");
    let out = run(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(action_results(&doc)["eu"]["status"], "ok");
    let mut keys: Vec<String> = vec![HIGH.into(), LOW.into()];
    keys.extend(keys_of(
        &(0..6).map(|w| format!("dead-{w}")).collect::<Vec<_>>(),
    ));
    keys.extend(keys_of(
        &(0..2).map(|w| format!("live-{w}")).collect::<Vec<_>>(),
    ));
    keys.extend((0..6).map(staging));
    let mut want = seeded.all.clone();
    want.extend(live);
    assert_exactly_once(&mut c, &keys, &want);
    let mut high = ids_of(&lrange(&mut c, HIGH));
    high.sort();
    let mut want_high = seeded.high.clone();
    want_high.sort();
    assert_eq!(high, want_high);
    for w in 0..2 {
        assert_eq!(lrange(&mut c, &processing(&format!("live-{w}"))).len(), 2);
    }
    for w in 0..6 {
        for side in ["staging", "batch", "lock"] {
            let k = format!(
                "{{{}}}:qctl-orphaned:{side}",
                processing(&format!("dead-{w}"))
            );
            let exists: bool = redis::cmd("EXISTS").arg(&k).query(&mut c).unwrap();
            assert!(!exists, "{k} left behind");
        }
    }
}

#[test]
fn a_user_missing_lpush_changes_nothing() {
    let s = RedisServer::start_with(ServerOptions {
        acl_users: vec![
            AclUser {
                name: "nolpush",
                password: "pw",
                rules: "on >pw ~* &* +@all -lpush",
            },
            AclUser {
                name: "blind",
                password: "pw",
                rules: "on >pw ~* &* +@all -acl|dryrun -lpush",
            },
        ],
        ..Default::default()
    });
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: s, server: \"{}\" }}\nusers:\n  - {{ name: nolpush, username: nolpush, password: pw }}\n  - {{ name: blind, username: blind, password: pw }}\ncontexts:\n  - {{ name: nolpush, cluster: s, user: nolpush }}\n  - {{ name: blind, cluster: s, user: blind }}\n",
            ws.join("audit.log").display(),
            s.url()
        ),
    );
    let mut c = s.conn();
    seed_orphans(&mut c, 3, 2);
    let snapshot = |c: &mut redis::Connection| {
        let mut v: Vec<Vec<String>> = vec![lrange(c, HIGH), lrange(c, LOW)];
        v.extend((0..3).map(|w| lrange(c, &processing(&format!("dead-{w}")))));
        v
    };
    let before = snapshot(&mut c);
    for user in ["nolpush", "blind"] {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &["requeue", "--orphaned", "--context", user, &typed],
        );
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert!(
            format!("{out}{err}").to_uppercase().contains("LPUSH"),
            "{user}: {out}{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(snapshot(&mut c), before, "{user} changed data");
        assert!(side_keys_left(&mut c).is_empty(), "{user}");
    }
}

/// A run stopped (SIGSTOP) under the lock of its second dead worker, past its
/// lock, while a second run finishes; then two runs at once over fresh
/// orphans: every job exactly once, the stalled run pushes nothing.
#[test]
fn a_stalled_run_and_two_runs_at_once_lose_and_double_nothing() {
    let (s, ws, cfg) = one_server();
    let mut c = s.conn();
    let seeded = seed_orphans(&mut c, 4, 50);
    let (first, second) =
        crate::safety::stall_while_another_finishes(&ws, &cfg, ARGS, "orphan-before-take:2:pause");
    assert_eq!(second.0, 0, "the second run finishes: {}", second.2);
    // The stalled run resumes without its lock: the lists it had left are
    // empty by then (or its step is refused); either way it pushes nothing
    // the second run pushed, and the two runs' counts add up.
    let err = String::from_utf8_lossy(&first.stderr).to_string();
    let moved_by = |doc: &str| -> u64 {
        let doc: Value = serde_json::from_str(doc).unwrap_or(Value::Null);
        action_results(&doc)["s"]["moved"].as_u64().unwrap_or(0)
    };
    let first_moved = moved_by(&String::from_utf8_lossy(&first.stdout));
    let second_moved = moved_by(&second.1);
    assert!(first_moved >= 50, "it moved its first worker's jobs: {err}");
    assert_eq!(first_moved + second_moved, 200, "{err}\n{}", second.1);
    let mut keys: Vec<String> = vec![HIGH.into(), LOW.into()];
    keys.extend(keys_of(
        &(0..4).map(|w| format!("dead-{w}")).collect::<Vec<_>>(),
    ));
    assert_exactly_once(&mut c, &keys, &seeded.all);
    assert_eq!(
        lrange(&mut c, HIGH).len() + lrange(&mut c, LOW).len(),
        seeded.all.len()
    );

    // Two at once over new orphans (other workers, same destinations).
    let _: () = redis::cmd("DEL").arg(HIGH).arg(LOW).query(&mut c).unwrap();
    let more = seed_orphans(&mut c, 8, 40);
    let a = crate::safety::spawn(&ws, &cfg, ARGS);
    let b = crate::safety::spawn(&ws, &cfg, ARGS);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() || b.status.success(),
        "{}{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    // Whatever a refused run left, a last run moves.
    let (code, _, err) = run_json(&ws, &cfg, ARGS);
    assert_eq!(code, 0, "{err}");
    let mut keys: Vec<String> = vec![HIGH.into(), LOW.into()];
    keys.extend(keys_of(
        &(0..8).map(|w| format!("dead-{w}")).collect::<Vec<_>>(),
    ));
    assert_exactly_once(&mut c, &keys, &more.all);
    assert_eq!(
        lrange(&mut c, HIGH).len() + lrange(&mut c, LOW).len(),
        more.all.len()
    );
    assert!(side_keys_left(&mut c).is_empty());
}
