//! Issue 20's data-safety defects, each reproduced against real servers:
//! ACL users missing one write command, two runs at once, two names for one
//! target, a process stalled past its lock, hostile globs, nested retries,
//! side keys as destinations, duplicate jobs in a move, a full server.

use crate::common::*;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const DLQ: &str = "jobqueue:dead_letter";
const HIGH: &str = "jobqueue:high_priority";

fn jobs(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| job(&format!("{prefix}-{i}"))).collect()
}

/// ACL users each lacking one thing, all with password `pw`.
const USERS: &[(&str, &str)] = &[
    ("nolpush", "on >pw ~* &* +@all -lpush"),
    ("noltrim", "on >pw ~* &* +@all -ltrim"),
    ("norpush", "on >pw ~* &* +@all -rpush"),
    ("norename", "on >pw ~* &* +@all -rename"),
    ("nopexpire", "on >pw ~* &* +@all -pexpire"),
    ("nopersist", "on >pw ~* &* +@all -persist"),
    // Cannot ask ACL DRYRUN in pre-flight: only the in-script check stops it.
    ("blind-nolpush", "on >pw ~* &* +@all -acl|dryrun -lpush"),
    ("blind-noltrim", "on >pw ~* &* +@all -acl|dryrun -ltrim"),
    ("blind-norpush", "on >pw ~* &* +@all -acl|dryrun -rpush"),
    ("blind-norename", "on >pw ~* &* +@all -acl|dryrun -rename"),
    ("nomulti", "on >pw ~* &* +@all -multi"),
    ("blind-nomulti", "on >pw ~* &* +@all -acl|dryrun -multi"),
];

pub(crate) fn acl_server() -> RedisServer {
    let opts = ServerOptions {
        acl_users: USERS
            .iter()
            .map(|(name, rules)| AclUser {
                name,
                password: "pw",
                rules,
            })
            .collect(),
        ..Default::default()
    };
    RedisServer::start_with(opts)
}

/// Contexts `admin` (default user) and one per ACL user on `s`, plus
/// `other` (default user) on `other` when given.
fn acl_contexts(ws: &Workspace, s: &RedisServer, other: Option<&RedisServer>) -> PathBuf {
    let mut y = format!(
        "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: s, server: \"{}\" }}\n",
        ws.join("audit.log").display(),
        s.url()
    );
    if let Some(o) = other {
        y.push_str(&format!("  - {{ name: o, server: \"{}\" }}\n", o.url()));
    }
    y.push_str("users:\n");
    for (u, _) in USERS {
        y.push_str(&format!(
            "  - {{ name: {u}, username: {u}, password: pw }}\n"
        ));
    }
    y.push_str("contexts:\n  - { name: admin, cluster: s }\n");
    if other.is_some() {
        y.push_str("  - { name: other, cluster: o }\n");
    }
    for (u, _) in USERS {
        y.push_str(&format!("  - {{ name: {u}, cluster: s, user: {u} }}\n"));
    }
    ws.write("c.yaml", &y)
}

fn qctl(ws: &Workspace, cfg: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    run_raw(ws, cfg, args)
}

#[test]
fn a_user_missing_one_write_command_changes_nothing() {
    let s = acl_server();
    let other = RedisServer::start();
    let ws = Workspace::new();
    let cfg = acl_contexts(&ws, &s, Some(&other));
    let dead = jobs("d", 3);
    push_all(&mut s.conn(), DLQ, &dead);
    let snapshot = |s: &RedisServer| {
        let mut c = s.conn();
        (lrange(&mut c, DLQ), lrange(&mut c, HIGH))
    };
    let before = snapshot(&s);

    // requeue, plain and with --match / --reset-retries (the chosen path).
    for user in [
        "nolpush",
        "noltrim",
        "blind-nolpush",
        "blind-noltrim",
        "blind-norpush",
    ] {
        for extra in [&[][..], &["--match", "*d-*"][..], &["--reset-retries"][..]] {
            let mut args = vec!["requeue", "--to", "high", "--context", user];
            args.extend_from_slice(extra);
            let typed = format!("--yes-i-typed={user}");
            args.push(&typed);
            let (code, out, err) = qctl(&ws, &cfg, &args);
            assert_ne!(code, 0, "{user} {extra:?} must fail: {out}{err}");
            let all = format!("{out}{err}").to_uppercase();
            let missing = if user.ends_with("lpush") {
                "LPUSH"
            } else if user.ends_with("ltrim") {
                "LTRIM"
            } else {
                "RPUSH"
            };
            assert!(all.contains(missing), "{user}: names {missing}: {out}{err}");
            assert_eq!(snapshot(&s), before, "{user} {extra:?} changed data");
            assert!(!all.contains("PANICKED"), "{err}");
        }
    }

    // purge-dlq: the rename and its expiry are one step.
    for user in ["norename", "nopexpire", "blind-norename"] {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = qctl(&ws, &cfg, &["purge-dlq", "--context", user, &typed]);
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert_eq!(snapshot(&s), before, "{user} changed data");
        let backups = s.cli(&["--scan", "--pattern", "*qctl-backup*"]);
        assert!(backups.trim().is_empty(), "{user} left {backups}");
    }

    // restore-dlq: a backup made by admin; users lacking a step's command
    // leave DLQ and backup as they are; admin then restores exactly once.
    let (code, _, err) = qctl(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "admin", "--yes-i-typed=admin"],
    );
    assert_eq!(code, 0, "{err}");
    push_all(&mut s.conn(), DLQ, &jobs("new", 2));
    let mid = snapshot(&s);
    for user in [
        "noltrim",
        "norpush",
        "nopersist",
        "blind-noltrim",
        "blind-norpush",
    ] {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = qctl(&ws, &cfg, &["restore-dlq", "--context", user, &typed]);
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert_eq!(snapshot(&s), mid, "{user} changed data");
    }
    let (code, _, err) = qctl(
        &ws,
        &cfg,
        &["restore-dlq", "--context", "admin", "--yes-i-typed=admin"],
    );
    assert_eq!(code, 0, "{err}");
    let mut want = ids_of(&dead);
    want.extend(ids_of(&jobs("new", 2)));
    assert_exactly_once(&mut s.conn(), &[DLQ.to_string()], &want);

    // replicate --move out of a source whose user lacks a command, and
    // into a target whose user lacks LPUSH.
    push_all(&mut s.conn(), HIGH, &jobs("m", 6));
    let src_before = lrange(&mut s.conn(), HIGH);
    for user in ["norpush", "noltrim", "blind-norpush", "blind-noltrim"] {
        let typed = format!("--yes-i-typed=other,{user}");
        let (code, out, err) = qctl(
            &ws,
            &cfg,
            &[
                "replicate",
                "--from",
                user,
                "--to",
                "other",
                "--move",
                "--queue",
                "high",
                &typed,
            ],
        );
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert_eq!(lrange(&mut s.conn(), HIGH), src_before, "{user}");
        assert!(lrange(&mut other.conn(), HIGH).is_empty(), "{user}");
        let staged = s.cli(&["--scan", "--pattern", "*qctl-move*"]);
        assert!(staged.trim().is_empty(), "{user} left {staged}");
    }
    push_all(&mut other.conn(), HIGH, &jobs("o", 4));
    let other_before = lrange(&mut other.conn(), HIGH);
    // A plain copy into a target whose user lacks a command of its push
    // (LPUSH, or MULTI of the WATCH-fenced push): nothing lands.
    for user in ["nolpush", "blind-nolpush", "nomulti", "blind-nomulti"] {
        let typed = format!("--yes-i-typed={user}");
        let (code, out, err) = qctl(
            &ws,
            &cfg,
            &[
                "replicate",
                "--from",
                "other",
                "--to",
                user,
                "--queue",
                "high",
                &typed,
            ],
        );
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert_eq!(lrange(&mut s.conn(), HIGH), src_before, "copy into {user}");
    }
    for user in ["nolpush", "blind-nolpush"] {
        let typed = format!("--yes-i-typed={user},other");
        let (code, out, err) = qctl(
            &ws,
            &cfg,
            &[
                "replicate",
                "--from",
                "other",
                "--to",
                user,
                "--move",
                "--queue",
                "high",
                &typed,
            ],
        );
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert_eq!(lrange(&mut other.conn(), HIGH), other_before, "{user}");
        assert_eq!(lrange(&mut s.conn(), HIGH), src_before, "{user}");
    }
}

fn two_servers() -> (RedisServer, RedisServer, Workspace, PathBuf) {
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: a, server: \"{}\" }}\n  - {{ name: b, server: \"{}\" }}\ncontexts:\n  - {{ name: src, cluster: a }}\n  - {{ name: dst, cluster: b }}\n  - {{ name: dst-alias, cluster: b }}\n",
            ws.join("audit.log").display(),
            a.url(),
            b.url()
        ),
    );
    (a, b, ws, cfg)
}

pub(crate) fn spawn(ws: &Workspace, cfg: &std::path::Path, args: &[&str]) -> std::process::Child {
    ws.qctl_std()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_runs_at_once_never_lose_or_double() {
    let (a, b, ws, cfg) = two_servers();
    let on_a = jobs("a", 20_001);
    let on_b = jobs("b", 5_000);
    push_all(&mut a.conn(), HIGH, &on_a);
    push_all(&mut b.conn(), HIGH, &on_b);
    let mut want = ids_of(&on_a);
    want.extend(ids_of(&on_b));
    // Opposite moves together.
    for _ in 0..3 {
        let m1 = spawn(
            &ws,
            &cfg,
            &[
                "replicate",
                "--from",
                "src",
                "--to",
                "dst",
                "--move",
                "--queue",
                "high",
                "--yes-i-typed=dst,src",
            ],
        );
        let m2 = spawn(
            &ws,
            &cfg,
            &[
                "replicate",
                "--from",
                "dst",
                "--to",
                "src",
                "--move",
                "--queue",
                "high",
                "--yes-i-typed=src,dst",
            ],
        );
        let (o1, o2) = (
            m1.wait_with_output().unwrap(),
            m2.wait_with_output().unwrap(),
        );
        for o in [&o1, &o2] {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(!err.contains("panicked"), "{err}");
            if !o.status.success() {
                let out = String::from_utf8_lossy(&o.stdout);
                assert!(
                    err.contains("holds") || out.contains("holds"),
                    "a refusal says who holds the lock: {out}\n{err}"
                );
            }
        }
        let mut seen = lrange(&mut a.conn(), HIGH);
        seen.extend(lrange(&mut b.conn(), HIGH));
        let mut ids = ids_of(&seen);
        ids.sort();
        let mut w = want.clone();
        w.sort();
        assert_eq!(ids.len(), w.len(), "jobs lost or doubled by opposite moves");
        assert_eq!(ids, w);
    }

    // Two plain copies into one target together: each job once there.
    let _: () = redis::cmd("DEL").arg(HIGH).query(&mut b.conn()).unwrap();
    let total: usize = lrange(&mut a.conn(), HIGH).len();
    let c1 = spawn(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--queue",
            "high",
            "--yes-i-typed=dst",
        ],
    );
    let c2 = spawn(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--queue",
            "high",
            "--yes-i-typed=dst",
        ],
    );
    let (o1, o2) = (
        c1.wait_with_output().unwrap(),
        c2.wait_with_output().unwrap(),
    );
    let ok = [&o1, &o2].iter().filter(|o| o.status.success()).count();
    assert!(
        ok >= 1,
        "{}{}",
        String::from_utf8_lossy(&o1.stderr),
        String::from_utf8_lossy(&o2.stderr)
    );
    // Whichever was refused, a re-run completes the copy.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--queue",
            "high",
            "--yes-i-typed=dst",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let src_ids = ids_of(&lrange(&mut a.conn(), HIGH));
    assert_eq!(src_ids.len(), total);
    assert_exactly_once(&mut b.conn(), &[HIGH.to_string()], &src_ids);
}

#[test]
fn two_names_for_one_target_are_refused() {
    let (a, b, ws, cfg) = two_servers();
    push_all(&mut a.conn(), HIGH, &jobs("a", 10));
    for mv in [false, true] {
        let mut args = vec![
            "replicate",
            "--from",
            "src",
            "--to",
            "dst,dst-alias",
            "--queue",
            "high",
            "-o",
            "json",
        ];
        if mv {
            args.extend(["--move", "--yes-i-typed=dst,dst-alias,src"]);
        } else {
            args.push("--yes-i-typed=dst,dst-alias");
        }
        let (code, doc, err) = run_json(&ws, &cfg, &args);
        assert_ne!(code, 0, "{doc}{err}");
        let r = action_results(&doc);
        for t in ["dst", "dst-alias"] {
            assert_eq!(r[t]["status"], "error", "{doc}");
            assert!(
                r[t]["reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("same Redis server"),
                "{doc}"
            );
        }
        assert!(lrange(&mut b.conn(), HIGH).is_empty(), "nothing written");
        assert_eq!(lrange(&mut a.conn(), HIGH).len(), 10, "source untouched");
    }
}

/// Runs `args` paused at `fault`, SIGSTOPs it past its lock's expiry while
/// `second` runs to the end, then lets it go on.
pub(crate) fn stall_while_another_finishes(
    ws: &Workspace,
    cfg: &std::path::Path,
    args: &[&str],
    fault: &str,
) -> (std::process::Output, (i32, String, String)) {
    let resume = ws.path().join(format!("resume-{fault}"));
    let mut child = ws
        .qctl_std()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("QCTL_FAULT", fault)
        .env("QCTL_FAULT_RESUME", &resume)
        .env("QCTL_LOCK_TTL_MS", "1000")
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
        .expect("the first run never reached its fault point");
    let pid = child.id() as i32;
    // SAFETY: kill(2) on the qctl process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    std::thread::sleep(Duration::from_millis(1500));
    let second = run_raw(ws, cfg, args);
    std::fs::write(&resume, "").unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let status = child.wait().unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let err = reader.join().unwrap();
    (
        std::process::Output {
            status,
            stdout: out,
            stderr: err.into_bytes(),
        },
        second,
    )
}

#[test]
fn a_requeue_stalled_past_its_lock_pushes_nothing_twice() {
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &tagged_cluster_contexts(&cluster));
    let dead = jobs("s", 5_000);
    push_all(&mut cluster.conn(), "{dlq}:dead_letter", &dead);
    let (first, second) = stall_while_another_finishes(
        &ws,
        &cfg,
        &[
            "requeue",
            "--context",
            "eu",
            "--to",
            "high",
            "--yes-i-typed=eu",
        ],
        "requeue-after-stage:1:pause",
    );
    assert_eq!(second.0, 0, "the second run finishes: {}", second.2);
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        !first.status.success(),
        "the stalled run must stop: {err}\nsecond: {second:?}"
    );
    assert!(err.contains("lost its lock"), "{err}");
    let mut c = cluster.conn();
    assert_exactly_once(
        &mut c,
        &[
            "{q}:high_priority".to_string(),
            "{dlq}:dead_letter".to_string(),
        ],
        &ids_of(&dead),
    );
    assert_eq!(lrange(&mut c, "{q}:high_priority").len(), 5_000);
}

#[test]
fn a_move_stalled_past_its_lock_pushes_nothing_twice() {
    let (a, b, ws, cfg) = two_servers();
    let on_a = jobs("m", 12_000);
    push_all(&mut a.conn(), HIGH, &on_a);
    let (first, second) = stall_while_another_finishes(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--move",
            "--queue",
            "high",
            "--yes-i-typed=dst,src",
        ],
        "move-after-claim:1:pause",
    );
    assert_eq!(second.0, 0, "the second run finishes: {}", second.2);
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success(), "the stalled run must stop: {err}");
    assert_exactly_once(&mut b.conn(), &[HIGH.to_string()], &ids_of(&on_a));
    assert_eq!(lrange(&mut b.conn(), HIGH).len(), 12_000);
    assert!(lrange(&mut a.conn(), HIGH).is_empty());
}

#[test]
fn duplicates_in_a_move_are_all_moved() {
    let (a, b, ws, cfg) = two_servers();
    let same = r#"{"id":"a","n":1}"#.to_string();
    push_all(
        &mut a.conn(),
        HIGH,
        &[same.clone(), same.clone(), same.clone()],
    );
    push_all(&mut b.conn(), HIGH, std::slice::from_ref(&same));
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--move",
            "--queue",
            "high",
            "--yes-i-typed=dst,src",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(lrange(&mut a.conn(), HIGH).is_empty());
    assert_eq!(lrange(&mut b.conn(), HIGH), vec![same.clone(); 4]);
}

fn one_server() -> (RedisServer, Workspace, PathBuf) {
    one_server_with(ServerOptions::default())
}

/// One server (started with `opts`) and a contexts file whose current
/// context `s` is it.
fn one_server_with(opts: ServerOptions) -> (RedisServer, Workspace, PathBuf) {
    let s = RedisServer::start_with(opts);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: s, server: \"{}\" }}\ncurrent-context: s\ncontexts:\n  - {{ name: s, cluster: s }}\n",
            ws.join("audit.log").display(),
            s.url()
        ),
    );
    (s, ws, cfg)
}

#[test]
fn a_glob_with_many_stars_never_stalls_redis() {
    let (s, ws, cfg) = one_server();
    let dead: Vec<String> = (0..300)
        .map(|i| {
            let fields: String = (0..40).map(|f| format!(r#""k{f}":"v{f}","#)).collect();
            format!(r#"{{{fields}"id":"g-{i}"}}"#)
        })
        .collect();
    push_all(&mut s.conn(), DLQ, &dead);
    let before = lrange(&mut s.conn(), DLQ);
    s.cli(&["CONFIG", "SET", "slowlog-log-slower-than", "5000"]);
    s.cli(&["SLOWLOG", "RESET"]);
    let t = Instant::now();
    let (code, out, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--to",
            "high",
            "--match",
            r#"*"*"*"*"*"*"*x"#,
            "--yes-i-typed=s",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let slow = s.cli(&["SLOWLOG", "GET", "20"]);
    assert!(
        !slow.to_lowercase().contains("eval"),
        "a step ran over 5 ms on the server: {slow}"
    );
    assert_eq!(
        lrange(&mut s.conn(), DLQ),
        before,
        "nothing matched; order kept"
    );
    let side = s.cli(&["--scan", "--pattern", "*qctl-*"]);
    assert!(side.trim().is_empty(), "{side}");
}

#[test]
fn reset_retries_changes_the_top_level_field_only() {
    let (s, ws, cfg) = one_server();
    let nested = r#"{"id":"n1","meta":{"retries":7},"retries":3}"#;
    let spaced = r#"{ "retries" : 2, "id" : "n2", "note" : "\"retries\":5" }"#;
    push_all(
        &mut s.conn(),
        DLQ,
        &[nested.to_string(), spaced.to_string()],
    );
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--to",
            "high",
            "--reset-retries",
            "--yes-i-typed=s",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut got = lrange(&mut s.conn(), HIGH);
    got.sort();
    assert_eq!(
        got,
        vec![
            r#"{ "retries" : 0, "id" : "n2", "note" : "\"retries\":5" }"#.to_string(),
            r#"{"id":"n1","meta":{"retries":7},"retries":0}"#.to_string(),
        ]
    );
}

#[test]
fn side_keys_and_other_types_are_refused_as_destinations() {
    let (s, ws, cfg) = one_server();
    push_all(&mut s.conn(), DLQ, &jobs("k", 3));
    s.cli(&["SET", "a:string", "x"]);
    let before = lrange(&mut s.conn(), DLQ);
    for to in [
        "{jobqueue:dead_letter}:qctl-requeue:lock",
        "{jobqueue:dead_letter}:qctl-requeue:staging",
        "{jobqueue:dead_letter}:qctl-requeue:batch",
        "{jobqueue:dead_letter}:qctl-requeue:kept",
        "jobqueue:dead_letter",
        "a:string",
    ] {
        let (code, out, err) = run_raw(&ws, &cfg, &["requeue", "--to", to, "--yes-i-typed=s"]);
        assert_ne!(code, 0, "{to}: {out}{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(lrange(&mut s.conn(), DLQ), before, "{to}");
    }
    let keys = s.cli(&["--scan", "--pattern", "*qctl-*"]);
    assert!(keys.trim().is_empty(), "{keys}");
}

#[test]
fn a_server_at_maxmemory_can_still_be_helped() {
    let opts = ServerOptions {
        extra_args: vec![
            "--maxmemory".into(),
            "4mb".into(),
            "--maxmemory-policy".into(),
            "noeviction".into(),
        ],
        ..Default::default()
    };
    let (s, ws, cfg) = one_server_with(opts);
    // Fill the DLQ until the server refuses writes.
    let mut c = s.conn();
    let pad = "p".repeat(2000);
    let mut n = 0;
    loop {
        let r: redis::RedisResult<i64> = redis::cmd("LPUSH")
            .arg(DLQ)
            .arg(format!(r#"{{"id":"f-{n}","pad":"{pad}"}}"#))
            .query(&mut c);
        if r.is_err() {
            break;
        }
        n += 1;
        assert!(n < 100_000, "maxmemory never reached");
    }
    let full = lrange(&mut c, DLQ);
    // Reads.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "jobs", "dead-letter", "-o", "json"]);
    assert_eq!(code, 0, "{err}{doc}");
    // A requeue at maxmemory fails cleanly, with nothing moved.
    let (code, out, err) = run_raw(&ws, &cfg, &["requeue", "--to", "high", "--yes-i-typed=s"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("maxmemory"), "{err}");
    assert_eq!(lrange(&mut c, DLQ), full);
    // The remedy: a purge with a backup, its restore, and one without.
    let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("maxmemory"), "the plan says so: {err}");
    let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--yes-i-typed=s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(lrange(&mut c, DLQ).is_empty());
    let (code, out, err) = run_raw(&ws, &cfg, &["restore-dlq", "--yes-i-typed=s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(lrange(&mut c, DLQ), full);
    let (code, out, err) = run_raw(&ws, &cfg, &["purge-dlq", "--no-backup", "--yes-i-typed=s"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(lrange(&mut c, DLQ).is_empty());
    let _ = Value::Null;
}

#[test]
fn a_copy_stalled_past_its_lock_pushes_nothing_twice() {
    // The copy's pushes are fenced by WATCH on the target's lock: a run
    // SIGSTOPped before its second push, while another copy takes the lock
    // over and finishes, pushes nothing when it wakes.
    let (a, b, ws, cfg) = two_servers();
    let on_a = jobs("c", 12_000);
    push_all(&mut a.conn(), HIGH, &on_a);
    let (first, second) = stall_while_another_finishes(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "src",
            "--to",
            "dst",
            "--queue",
            "high",
            "--yes-i-typed=dst",
        ],
        "copy-before-push:2:pause",
    );
    assert_eq!(second.0, 0, "the second run finishes: {}", second.2);
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!first.status.success(), "the stalled run must stop: {err}");
    assert!(err.contains("lost its lock"), "{err}");
    assert_exactly_once(&mut b.conn(), &[HIGH.to_string()], &ids_of(&on_a));
    assert_eq!(
        lrange(&mut a.conn(), HIGH).len(),
        12_000,
        "a copy leaves the source"
    );
}
