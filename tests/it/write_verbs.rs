//! The write gate and the write verbs (purge-dlq, restore-dlq, get backups,
//! requeue) against real servers: refusals leave Redis untouched, a dry run
//! sends no write, jobs are never lost or doubled while a worker fleet
//! consumes, across slots on a cluster with a crash in the middle.

use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

const DLQ: &str = "jobqueue:dead_letter";

fn payload(id: &str, path: &str, retries: u32) -> String {
    format!(
        r#"{{"id":"{id}","filepath":"{path}","filesize":1,"priority":"high","retries":{retries},"creation_time":"2025-01-14T10:30:00.123Z","trace_id":"","span_id":""}}"#
    )
}

/// `n` jobs `<prefix>-<i>`; every `every`th one (from 0) has a filepath
/// under /data/invoices/, the others under /data/reports/.
fn invoices_every(prefix: &str, n: usize, every: usize, retries: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let path = if i % every == 0 {
                "/data/invoices/a.pdf"
            } else {
                "/data/reports/b.pdf"
            };
            payload(&format!("{prefix}-{i}"), path, retries)
        })
        .collect()
}

/// Calls of every write command so far (INFO commandstats).
fn write_calls(s: &RedisServer) -> BTreeMap<String, u64> {
    const WRITES: &[&str] = &[
        "rename",
        "unlink",
        "del",
        "lpush",
        "rpush",
        "ltrim",
        "pexpire",
        "expire",
        "set",
        "eval",
        "evalsha",
        "lmove",
        "rpoplpush",
        "persist",
        "lrem",
        "lset",
        "script",
        "flushall",
    ];
    command_calls(s)
        .into_iter()
        .filter(|(name, _)| WRITES.contains(&name.as_str()))
        .collect()
}

/// Three servers; contexts a and ro on A, b on B, prod (protected) on C.
struct Fleet {
    a: RedisServer,
    b: RedisServer,
    c: RedisServer,
    ws: Workspace,
    cfg: std::path::PathBuf,
}

fn fleet(dlq: usize) -> Fleet {
    let (a, b, c) = (
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    );
    for s in [&a, &b, &c] {
        let jobs: Vec<String> = (0..dlq)
            .map(|i| payload(&format!("d-{i}"), "/data/x", 2))
            .collect();
        push_all(&mut s.conn(), DLQ, &jobs);
    }
    let ws = Workspace::new();
    let yaml = format!(
        r#"apiVersion: qctl/v1
audit-log: {audit}
clusters:
  - {{ name: a, server: "{ua}" }}
  - {{ name: b, server: "{ub}" }}
  - {{ name: c, server: "{uc}" }}
contexts:
  - {{ name: a, cluster: a, labels: {{ env: prod }} }}
  - {{ name: b, cluster: b, labels: {{ env: prod }} }}
  - {{ name: prod, cluster: c, protected: true, labels: {{ env: prod }} }}
  - {{ name: ro, cluster: a, allowed-actions: [requeue] }}
"#,
        audit = ws.join("audit.log").display(),
        ua = a.url(),
        ub = b.url(),
        uc = c.url()
    );
    let cfg = ws.write("c.yaml", &yaml);
    Fleet { a, b, c, ws, cfg }
}

fn qctl(f: &Fleet, args: &[&str]) -> (i32, String, String) {
    run_raw(&f.ws, &f.cfg, args)
}

#[test]
fn every_refusal_leaves_redis_untouched() {
    let f = fleet(5);
    let servers = [&f.a, &f.b, &f.c];
    let before: Vec<_> = servers
        .iter()
        .map(|s| (write_calls(s), lrange(&mut s.conn(), DLQ)))
        .collect();
    let refusals: &[(&[&str], &str)] = &[
        // Not a terminal, no flag: refuse and show the flag that matches.
        (&["purge-dlq", "--context", "a,b"], "--yes-i-typed=a,b"),
        // A partial set.
        (
            &["purge-dlq", "--context", "a,b", "--yes-i-typed=a"],
            "missing b",
        ),
        // A wider set: the flag never widens the selection.
        (
            &["purge-dlq", "--context", "a,b", "--yes-i-typed=a,b,prod"],
            "not a target: prod",
        ),
        (
            &["purge-dlq", "-A", "--yes-i-typed=a,b,prod"],
            "not a target: prod",
        ),
        (
            &["purge-dlq", "-l", "env=prod", "--yes-i-typed=prod"],
            "missing a, b",
        ),
        // Protected through a glob: no target left.
        (
            &["purge-dlq", "--context", "pro*", "--yes-i-typed=prod"],
            "protected",
        ),
        // allowed-actions leaves the verb out.
        (
            &["purge-dlq", "--context", "ro", "--yes-i-typed=ro"],
            "leaves out purge-dlq",
        ),
        (
            &["requeue", "--to", "high", "--context", "a,b"],
            "--yes-i-typed=a,b",
        ),
        (
            &["restore-dlq", "--context", "a", "--yes-i-typed="],
            "missing a",
        ),
    ];
    for (args, needle) in refusals {
        let (code, stdout, stderr) = qctl(&f, args);
        assert_eq!(code, 4, "{args:?}\n{stderr}");
        assert!(
            stderr.contains(needle),
            "{args:?}: {needle} not in\n{stderr}"
        );
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
    }
    let after: Vec<_> = servers
        .iter()
        .map(|s| (write_calls(s), lrange(&mut s.conn(), DLQ)))
        .collect();
    assert_eq!(before, after, "a refusal wrote to Redis");
    assert!(
        !f.ws.join("audit.log").exists(),
        "nothing written, nothing audited"
    );

    // The set that matches, in another order, through -A: prod (protected)
    // and ro (allowed-actions) are skipped with their reasons, exit 0.
    let (code, stdout, stderr) = qctl(&f, &["purge-dlq", "-A", "--yes-i-typed=b,a", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["kind"], "ActionResult");
    assert_eq!(doc["action"], "purge-dlq");
    assert_eq!(doc["dry_run"], false);
    let r = action_results(&doc);
    assert_eq!(r["a"]["status"], "ok");
    assert_eq!(r["a"]["purged"], 5);
    assert_eq!(r["b"]["purged"], 5);
    assert_eq!(r["prod"]["status"], "skipped");
    assert!(r["prod"]["reason"].as_str().unwrap().contains("protected"));
    assert_eq!(r["ro"]["status"], "skipped");
    assert!(
        r["ro"]["reason"]
            .as_str()
            .unwrap()
            .contains("allowed-actions")
    );
    assert!(
        stderr.contains("skipped: protected"),
        "the plan says why: {stderr}"
    );
    assert_eq!(
        lrange(&mut f.c.conn(), DLQ).len(),
        5,
        "protected context untouched"
    );
    // Named literally, the protected context is a target.
    let (code, _, stderr) = qctl(
        &f,
        &["purge-dlq", "--context", "prod", "--yes-i-typed", "prod"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(lrange(&mut f.c.conn(), DLQ).is_empty());
}

#[test]
fn a_dry_run_sends_no_write() {
    let f = fleet(0);
    let jobs = invoices_every("d", 40, 4, 1);
    push_all(&mut f.a.conn(), DLQ, &jobs);
    // A backup to restore from.
    let _: () = redis::cmd("RPUSH")
        .arg("{jobqueue:dead_letter}:qctl-backup:20261120T101500.000Z-00000001")
        .arg(&jobs[..7])
        .query(&mut f.a.conn())
        .unwrap();
    let before = write_calls(&f.a);
    let cases: &[(&[&str], &str, u64)] = &[
        (
            &["purge-dlq", "--context", "a", "--dry-run", "-o", "json"],
            "purged",
            40,
        ),
        (
            &["restore-dlq", "--context", "a", "--dry-run", "-o", "json"],
            "restored",
            7,
        ),
        (
            &[
                "requeue",
                "--context",
                "a",
                "--to",
                "high",
                "--match",
                "*/data/invoices/*",
                "--dry-run",
                "-o",
                "json",
            ],
            "moved",
            10,
        ),
        (
            &[
                "requeue",
                "--context",
                "a",
                "--to",
                "low",
                "--limit",
                "3",
                "--dry-run",
                "-o",
                "json",
            ],
            "moved",
            3,
        ),
    ];
    for (args, field, n) in cases {
        let (code, stdout, stderr) = qctl(&f, args);
        assert_eq!(code, 0, "{args:?}: {stderr}");
        let doc: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(doc["dry_run"], true);
        assert_eq!(action_results(&doc)["a"][*field], *n, "{args:?}: {doc}");
        assert!(stderr.contains("dry run"), "{stderr}");
    }
    assert_eq!(write_calls(&f.a), before, "a dry run sent a write command");
    assert_eq!(
        lrange(&mut f.a.conn(), DLQ),
        jobs.iter().rev().cloned().collect::<Vec<_>>()
    );
}

#[test]
fn purge_keeps_a_backup_that_restore_merges_back() {
    let f = fleet(0);
    let old: Vec<String> = (0..20)
        .map(|i| payload(&format!("old-{i}"), "/data/x", 3))
        .collect();
    push_all(&mut f.a.conn(), DLQ, &old);
    let old_list = lrange(&mut f.a.conn(), DLQ);
    let (code, stdout, stderr) = qctl(
        &f,
        &[
            "purge-dlq",
            "--context",
            "a",
            "--keep-backup",
            "1h",
            "--yes-i-typed",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("memory is freed only when a backup expires"),
        "{stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let r = &action_results(&doc)["a"];
    assert_eq!(r["purged"], 20);
    let backup = r["backup_key"].as_str().unwrap().to_string();
    assert!(
        backup.starts_with("{jobqueue:dead_letter}:qctl-backup:"),
        "{backup}"
    );
    let mut c = f.a.conn();
    assert_eq!(lrange(&mut c, &backup), old_list);
    let ttl: i64 = redis::cmd("PTTL").arg(&backup).query(&mut c).unwrap();
    assert!(ttl > 3_500_000 && ttl <= 3_600_000, "{ttl}");
    let exists: bool = redis::cmd("EXISTS").arg(DLQ).query(&mut c).unwrap();
    assert!(!exists);

    // get backups lists it.
    let (code, doc, _) = run_json(
        &f.ws,
        &f.cfg,
        &["get", "backups", "--context", "a,b", "-o", "json"],
    );
    assert_eq!(code, 0);
    assert_eq!(doc["kind"], "BackupList");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{doc}");
    assert_eq!(items[0]["key"], backup.as_str());
    assert_eq!(items[0]["jobs"], 20);
    assert!(items[0]["expires_in_s"].as_f64().unwrap() > 3500.0);

    // Jobs arrive meanwhile; restore puts the old ones back after them
    // (at the consumer end, in their order), losing none.
    let new: Vec<String> = (0..3)
        .map(|i| payload(&format!("new-{i}"), "/data/x", 3))
        .collect();
    push_all(&mut c, DLQ, &new);
    let new_list = lrange(&mut c, DLQ);
    let (code, stdout, stderr) = qctl(
        &f,
        &[
            "restore-dlq",
            "--context",
            "a",
            "--yes-i-typed",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(action_results(&doc)["a"]["restored"], 20);
    let mut want = new_list.clone();
    want.extend(old_list.iter().cloned());
    assert_eq!(lrange(&mut c, DLQ), want);
    let ttl: i64 = redis::cmd("PTTL").arg(DLQ).query(&mut c).unwrap();
    assert_eq!(ttl, -1, "the DLQ must not inherit the backup's expiry");
    let exists: bool = redis::cmd("EXISTS").arg(&backup).query(&mut c).unwrap();
    assert!(!exists);

    // --no-backup frees with UNLINK; an empty DLQ purges 0.
    let unlinks = write_calls(&f.a).get("unlink").copied().unwrap_or(0);
    let (code, stdout, _) = qctl(
        &f,
        &[
            "purge-dlq",
            "--context",
            "a",
            "--no-backup",
            "--yes-i-typed",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(action_results(&doc)["a"]["purged"], 23);
    assert!(action_results(&doc)["a"].get("backup_key").is_none());
    assert_eq!(write_calls(&f.a)["unlink"], unlinks + 1);
    let (code, stdout, _) = qctl(
        &f,
        &[
            "purge-dlq",
            "--context",
            "a",
            "--yes-i-typed",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(action_results(&doc)["a"]["purged"], 0);
    assert!(action_results(&doc)["a"].get("backup_key").is_none());
}

#[test]
fn purge_and_restore_on_a_cluster() {
    let cluster = RedisCluster::start();
    let mut c = cluster.conn();
    let old: Vec<String> = (0..50)
        .map(|i| payload(&format!("old-{i}"), "/data/x", 3))
        .collect();
    push_all(&mut c, DLQ, &old);
    let old_list = lrange(&mut c, DLQ);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: eu, mode: cluster, nodes: [{}] }}\ncontexts:\n  - {{ name: eu, cluster: eu }}\n",
            cluster.seed_urls()[0]
        ),
    );
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "eu",
            "--yes-i-typed=eu",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let r = &action_results(&doc)["eu"];
    assert_eq!(r["purged"], 50);
    let backup = r["backup_key"].as_str().unwrap().to_string();
    let slot = |k: &str| cluster.cli(&["CLUSTER", "KEYSLOT", k]);
    assert_eq!(slot(&backup), slot(DLQ));
    assert_eq!(lrange(&mut c, &backup), old_list);
    push_all(&mut c, DLQ, &[payload("new-0", "/data/x", 0)]);
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "backups", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["items"][0]["jobs"], 50);
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &["restore-dlq", "-A", "--yes-i-typed=eu", "-o", "json"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(action_results(&doc)["eu"]["restored"], 50);
    let got = lrange(&mut c, DLQ);
    assert_eq!(got.len(), 51);
    assert_eq!(ids_of(&got)[0], "new-0");
    assert_eq!(&got[1..], &old_list[..]);
}

#[test]
fn requeue_while_workers_consume_loses_and_doubles_nothing() {
    let f = fleet(0);
    let n = 3000;
    let jobs = invoices_every("j", n, 2, 3);
    let ids = ids_of(&jobs);
    push_all(&mut f.a.conn(), DLQ, &jobs);
    let client = f.a.client();
    let workers = Workers::start(4, "jobqueue:", move || client.get_connection().unwrap());

    let (code, doc, stderr) = run_json(
        &f.ws,
        &f.cfg,
        &[
            "requeue",
            "--context",
            "a",
            "--to",
            "high",
            "--match",
            r#"*"filepath":"/data/invoices/*"#,
            "--yes-i-typed",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(action_results(&doc)["a"]["moved"], n / 2);
    // The jobs left behind keep their order.
    let odd: Vec<String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, id)| id.clone())
        .rev()
        .collect();
    assert_eq!(ids_of(&lrange(&mut f.a.conn(), DLQ)), odd);

    let (code, doc, stderr) = run_json(
        &f.ws,
        &f.cfg,
        &[
            "requeue",
            "--context",
            "a",
            "--to",
            "high",
            "--reset-retries",
            "--yes-i-typed",
            "a",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(action_results(&doc)["a"]["moved"], n / 2);
    let mut c = f.a.conn();
    assert!(
        wait_for(Duration::from_secs(60), || {
            let done: usize = redis::cmd("LLEN")
                .arg("jobqueue:completed")
                .query(&mut c)
                .unwrap();
            done == n
        }),
        "the workers never finished"
    );
    workers.stop();
    let mut keys: Vec<String> = vec![
        DLQ.into(),
        "jobqueue:high_priority".into(),
        "jobqueue:completed".into(),
    ];
    keys.extend((0..4).map(|w| format!("jobqueue:worker:w{w}:processing")));
    assert_exactly_once(&mut c, &keys, &ids);
    // --reset-retries touched only the second run's jobs, and only retries.
    for j in lrange(&mut c, "jobqueue:completed") {
        let v: Value = serde_json::from_str(&j).unwrap();
        let reset = v["filepath"]
            .as_str()
            .unwrap()
            .starts_with("/data/reports/");
        assert_eq!(v["retries"], if reset { 0 } else { 3 }, "{j}");
        assert_eq!(
            j,
            payload(
                v["id"].as_str().unwrap(),
                v["filepath"].as_str().unwrap(),
                if reset { 0 } else { 3 }
            )
        );
    }
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("*qctl-requeue*")
        .query(&mut c)
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    // One audit line per run.
    assert_eq!(f.ws.read("audit.log").lines().count(), 2);
}

#[test]
fn requeue_across_cluster_slots_survives_a_crash_at_either_step() {
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &tagged_cluster_contexts(&cluster));
    let slot = |k: &str| cluster.cli(&["CLUSTER", "KEYSLOT", k]);
    assert_ne!(
        slot("{dlq}:dead_letter"),
        slot("{q}:high_priority"),
        "the test needs two slots"
    );
    let n = 5000;
    let jobs: Vec<String> = (0..n)
        .map(|i| payload(&format!("x-{i}"), "/data/a", 1))
        .collect();
    let ids = ids_of(&jobs);
    let mut c = cluster.conn();
    push_all(&mut c, "{dlq}:dead_letter", &jobs);
    let client = cluster.client();
    let workers = Workers::start(3, "{q}:", move || client.get_connection().unwrap());

    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config").arg(&cfg).args([
            "requeue",
            "--to",
            "high",
            "--context",
            "eu",
            "--yes-i-typed=eu",
            "-o",
            "json",
        ]);
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    // Killed between staging and pushing (batch 2), then between pushing
    // and clearing staging (batch 2 of the next run), then run to the end.
    let out = run(Some("requeue-after-stage:2"));
    assert!(!out.status.success());
    let staged: usize = redis::cmd("LLEN")
        .arg("{dlq}:dead_letter:qctl-requeue:staging")
        .query(&mut c)
        .unwrap();
    // Steps start small and grow (the pacer): batch 2 holds 200 jobs.
    assert!(
        (1..=1000).contains(&staged),
        "the crashed batch waits in staging: {staged}"
    );
    let out = run(Some("requeue-after-push:2"));
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(action_results(&doc)["eu"]["status"], "ok");
    assert!(
        wait_for(Duration::from_secs(60), || {
            let done: usize = redis::cmd("LLEN")
                .arg("{q}:completed")
                .query(&mut c)
                .unwrap();
            done >= n
        }),
        "the workers never finished"
    );
    workers.stop();
    let mut keys: Vec<String> = vec![
        "{dlq}:dead_letter".into(),
        "{q}:high_priority".into(),
        "{q}:completed".into(),
    ];
    keys.extend((0..3).map(|w| format!("{{q}}:worker:w{w}:processing")));
    keys.push("{dlq}:dead_letter:qctl-requeue:staging".into());
    assert_exactly_once(&mut c, &keys, &ids);
    for side in ["staging", "kept", "batch", "lock"] {
        let k = format!("{{dlq}}:dead_letter:qctl-requeue:{side}");
        let exists: bool = redis::cmd("EXISTS").arg(&k).query(&mut c).unwrap();
        assert!(!exists, "{k} left behind");
    }
}

#[test]
fn rolling_and_canary_stop_after_a_failing_target() {
    // `w2` may read but not rename: its purge fails on the server.
    let opts = ServerOptions {
        acl_users: vec![AclUser {
            name: "reader",
            password: "s3cret-reader",
            rules: "on ~* &* +@read +@connection +info +config|get",
        }],
        ..Default::default()
    };
    let (s1, s2, s3) = (
        RedisServer::start(),
        RedisServer::start_with(opts),
        RedisServer::start(),
    );
    for s in [&s1, &s2, &s3] {
        push_all(
            &mut s.conn(),
            DLQ,
            &[payload("a", "/x", 0), payload("b", "/x", 0)],
        );
    }
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            r#"apiVersion: qctl/v1
clusters:
  - {{ name: w1, server: "{}" }}
  - {{ name: w2, server: "{}" }}
  - {{ name: w3, server: "{}" }}
users:
  - {{ name: reader, username: reader, password: s3cret-reader }}
contexts:
  - {{ name: w1, cluster: w1 }}
  - {{ name: w2, cluster: w2, user: reader }}
  - {{ name: w3, cluster: w3 }}
"#,
            s1.url(),
            s2.url(),
            s3.url()
        ),
    );
    let len = |s: &RedisServer| lrange(&mut s.conn(), DLQ).len();
    // Rolling, file order: w1 ok, w2 fails, w3 never reached.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "-A",
            "--strategy",
            "rolling",
            "--pause",
            "100ms",
            "--yes-i-typed=w1,w2,w3",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["w1"]["status"], "ok");
    assert_eq!(r["w2"]["status"], "error");
    assert_eq!(r["w3"]["status"], "skipped");
    assert!(
        r["w3"]["reason"]
            .as_str()
            .unwrap()
            .contains("rolling stopped after w2"),
        "{doc}"
    );
    assert_eq!((len(&s1), len(&s2), len(&s3)), (0, 2, 2));
    assert!(!stderr.contains("s3cret"), "{stderr}");

    // Canary: the first context named goes first, alone; it fails: nothing
    // else is touched and nothing succeeded (exit 1).
    push_all(&mut s1.conn(), DLQ, &[payload("c", "/x", 0)]);
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "w2,w3,w1",
            "--strategy",
            "canary",
            "--yes-i-typed=w1,w2,w3",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 1);
    let r = action_results(&doc);
    assert_eq!(r["w2"]["status"], "error");
    assert_eq!(r["w1"]["status"], "skipped");
    assert_eq!(r["w3"]["status"], "skipped");
    assert_eq!((len(&s1), len(&s3)), (1, 2));
    // A canary that succeeds lets the rest run.
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "w3,w1",
            "--strategy",
            "canary",
            "--yes-i-typed=w1,w3",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!((len(&s1), len(&s3)), (0, 0));
    // --pause without a stepped strategy is a usage error.
    let (code, _, _) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "-A", "--pause", "1s", "--dry-run"],
    );
    assert_eq!(code, 2);
}

#[test]
fn audit_lines_are_written_0600_and_carry_no_secret() {
    let secret = "pw-Zq81-do-not-print";
    let s = RedisServer::start_with(ServerOptions::with_password(secret));
    push_all(&mut s.conn(), DLQ, &[payload("a", "/x", 0)]);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: p, server: \"redis://:{secret}@{}\" }}\ncontexts:\n  - {{ name: p, cluster: p }}\n",
            s.addr()
        ),
    );
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["purge-dlq", "--context", "p", "--yes-i-typed", "p", "-v"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(secret));
    }
    // No audit-log: in the file: $XDG_STATE_HOME/qctl/audit.log.
    let path = ws.state_home().join("qctl/audit.log");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(secret), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    for k in [
        "time",
        "user",
        "host",
        "action",
        "context",
        "args",
        "before",
        "after",
        "result",
        "duration_ms",
    ] {
        assert!(l.get(k).is_some(), "missing {k}: {l}");
    }
    assert_eq!(l["action"], "purge-dlq");
    assert_eq!(l["context"], "p");
    assert_eq!(l["result"], "ok");
    assert_eq!(l["before"]["length"], 1);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

/// Runs qctl on a real pseudo-terminal (util-linux `script`), waits for the
/// prompt, types `answer`, and returns the exit code and what it printed.
fn on_a_terminal(ws: &Workspace, cfg: &std::path::Path, args: &str, answer: &str) -> (i32, String) {
    let mut pty = Pty::spawn(ws.on_pty(&format!(
        "{} --config {} {args}",
        crate::common::workspace::qctl_bin().display(),
        cfg.display()
    )));
    assert!(
        pty.wait_for_text("to confirm", Duration::from_secs(20)),
        "no prompt: {}",
        pty.text()
    );
    pty.send(answer.as_bytes());
    pty.send(b"\r");
    pty.finish()
}

#[test]
fn the_prompt_on_a_terminal_wants_the_exact_names() {
    let f = fleet(4);
    // Wrong name: refused, untouched.
    let (code, text) = on_a_terminal(&f.ws, &f.cfg, "purge-dlq --context a,b", "a");
    assert_eq!(code, 4, "{text}");
    assert!(text.contains("missing b"), "{text}");
    assert_eq!(lrange(&mut f.a.conn(), DLQ).len(), 4);
    assert_eq!(lrange(&mut f.b.conn(), DLQ).len(), 4);
    // The plan is on screen before the question.
    assert!(
        text.contains("CONTEXT") && text.contains("total: 8 jobs on 2 contexts"),
        "{text}"
    );
    // The exact set, any order: done.
    let (code, text) = on_a_terminal(&f.ws, &f.cfg, "purge-dlq --context a,b", "b, a");
    assert_eq!(code, 0, "{text}");
    assert!(lrange(&mut f.a.conn(), DLQ).is_empty());
    assert!(lrange(&mut f.b.conn(), DLQ).is_empty());
}

#[test]
fn ctrl_c_stops_starting_targets_and_exits_130() {
    let f = fleet(3);
    let child =
        f.ws.qctl_std()
            .arg("--config")
            .arg(&f.cfg)
            .args([
                "purge-dlq",
                "--context",
                "a,b",
                "--strategy",
                "rolling",
                "--pause",
                "20s",
                "--yes-i-typed=a,b",
                "-o",
                "json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
    // a is purged first; b waits for the pause.
    assert!(wait_for(Duration::from_secs(20), || lrange(
        &mut f.a.conn(),
        DLQ
    )
    .is_empty()));
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["interrupted"], true);
    let r = action_results(&doc);
    assert_eq!(r["a"]["status"], "ok");
    assert_eq!(r["b"]["status"], "skipped");
    assert!(r["b"]["reason"].as_str().unwrap().contains("interrupted"));
    assert_eq!(lrange(&mut f.b.conn(), DLQ).len(), 3);
}

#[test]
fn progress_bars_only_on_a_terminal() {
    let f = fleet(0);
    push_all(&mut f.a.conn(), DLQ, &invoices_every("p", 3000, 1, 0));
    // Off a terminal: no bar.
    let (code, _, stderr) = qctl(
        &f,
        &[
            "requeue",
            "--context",
            "a",
            "--to",
            "low",
            "--limit",
            "1000",
            "--yes-i-typed=a",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("/1000 jobs"), "{stderr}");
    // On a terminal: a bar per target, on stderr.
    let cmdline = format!(
        "{} --config {} requeue --context a --to low --limit 2000 --yes-i-typed=a",
        crate::common::workspace::qctl_bin().display(),
        f.cfg.display()
    );
    let out =
        f.ws.on_pty(&cmdline)
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("/2000 jobs"), "no progress bar: {text}");
    assert_eq!(lrange(&mut f.a.conn(), "jobqueue:low_priority").len(), 3000);
}

#[test]
fn a_held_lock_or_a_dlq_of_another_type_fails_only_that_target() {
    let f = fleet(3);
    // Another run (on another host) holds b's requeue lock.
    let _: () = redis::cmd("SET")
        .arg("{jobqueue:dead_letter}:qctl-requeue:lock")
        .arg("elsewhere 1 run")
        .arg("PX")
        .arg(60_000)
        .query(&mut f.b.conn())
        .unwrap();
    let (code, stdout, stderr) = qctl(
        &f,
        &[
            "requeue",
            "--context",
            "a,b",
            "--to",
            "high",
            "--yes-i-typed=a,b",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("another requeue holds the lock"),
        "the plan warns: {stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let r = action_results(&doc);
    assert_eq!(r["a"]["moved"], 3);
    assert_eq!(r["b"]["status"], "error");
    assert!(
        r["b"]["reason"].as_str().unwrap().contains("elsewhere"),
        "{doc}"
    );
    assert_eq!(lrange(&mut f.b.conn(), DLQ).len(), 3, "b untouched");
    // A DLQ key of another type is left alone.
    let _: () = redis::cmd("DEL").arg(DLQ).query(&mut f.a.conn()).unwrap();
    let _: () = redis::cmd("SET")
        .arg(DLQ)
        .arg("not a list")
        .query(&mut f.a.conn())
        .unwrap();
    let (code, _, stderr) = qctl(&f, &["purge-dlq", "--context", "a", "--yes-i-typed=a"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("holds a string, not a list"), "{stderr}");
    let v: String = redis::cmd("GET").arg(DLQ).query(&mut f.a.conn()).unwrap();
    assert_eq!(v, "not a list");
}

#[test]
fn dead_targets_are_reported_and_the_others_written() {
    let live = RedisServer::start();
    push_all(
        &mut live.conn(),
        DLQ,
        &[payload("a", "/x", 0), payload("b", "/x", 0)],
    );
    let closed = ClosedPort::new();
    let hole = BlackHole::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: live, server: \"{}\" }}\n  - {{ name: gone, server: \"{}\" }}\n  - {{ name: hole, server: \"{}\" }}\ncontexts:\n  - {{ name: live, cluster: live }}\n  - {{ name: gone, cluster: gone }}\n  - {{ name: hole, cluster: hole }}\n",
            live.url(),
            closed.url(),
            hole.url()
        ),
    );
    let (code, stdout, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "-A",
            "--yes-i-typed=live,gone,hole",
            "--timeout",
            "500ms",
            "--connect-timeout",
            "500ms",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("(left alone)"),
        "the plan says so: {stderr}"
    );
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let r = action_results(&doc);
    assert_eq!(r["live"]["status"], "ok");
    assert_eq!(r["live"]["purged"], 2);
    assert_eq!(r["gone"]["status"], "error");
    assert_eq!(r["gone"]["kind"], "refused");
    assert_eq!(r["hole"]["status"], "error");
    assert_eq!(r["hole"]["kind"], "timeout");
    assert_eq!(doc["errors"].as_array().unwrap().len(), 2);
}

#[test]
fn an_audit_log_that_cannot_be_written_stops_the_verb() {
    let (a, b) = (RedisServer::start(), RedisServer::start());
    for s in [&a, &b] {
        push_all(
            &mut s.conn(),
            DLQ,
            &[payload("x", "/x", 0), payload("y", "/y", 0)],
        );
    }
    let ws = Workspace::new();
    // /dev/full opens fine and fails every write (ENOSPC).
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: /dev/full\nclusters:\n  - {{ name: a, server: \"{}\" }}\n  - {{ name: b, server: \"{}\" }}\ncontexts:\n  - {{ name: a, cluster: a }}\n  - {{ name: b, cluster: b }}\n",
            a.url(),
            b.url()
        ),
    );
    // One target at a time: a is purged, its line fails, b is never started.
    let (code, stdout, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "purge-dlq",
            "--context",
            "a,b",
            "--strategy",
            "rolling",
            "--yes-i-typed=a,b",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("could not write the audit line for a to /dev/full")
            && stderr.contains("1 target not started"),
        "{stderr}"
    );
    assert!(!stderr.contains("warning: could not append"), "{stderr}");
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    let r = action_results(&doc);
    assert_eq!(r["a"]["status"], "ok", "what was done is reported: {doc}");
    assert_eq!(r["b"]["status"], "skipped");
    assert!(
        r["b"]["reason"].as_str().unwrap().contains("audit line"),
        "{doc}"
    );
    assert!(lrange(&mut a.conn(), DLQ).is_empty());
    assert_eq!(lrange(&mut b.conn(), DLQ).len(), 2, "b untouched");

    // Parallel (the default): whatever ran, the verb fails and says why.
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "b", "--yes-i-typed=b"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("could not write the audit line for b to /dev/full"),
        "{stderr}"
    );
}

#[test]
fn a_refusal_at_the_prompt_says_what_was_typed_and_ctrl_d_refuses_at_once() {
    let f = fleet(2);
    let (code, text) = on_a_terminal(&f.ws, &f.cfg, "purge-dlq --context a", "b");
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("Type the target context's name to confirm"),
        "{text}"
    );
    assert!(text.contains("you typed `b`, expected `a`"), "{text}");
    assert!(
        !text.contains("--yes-i-typed"),
        "no bypass flag for a person at a prompt: {text}"
    );
    assert_eq!(lrange(&mut f.a.conn(), DLQ).len(), 2);

    // Ctrl-D: refused at once, nothing changed.
    let mut pty = Pty::spawn(f.ws.on_pty(&format!(
        "{} --config {} purge-dlq --context a,b",
        crate::common::workspace::qctl_bin().display(),
        f.cfg.display()
    )));
    assert!(
        pty.wait_for_text(
            "Type the names of the 2 target contexts to confirm",
            Duration::from_secs(20)
        ),
        "no prompt: {}",
        pty.text()
    );
    pty.send(b"\x04");
    assert!(pty.exits_within(Duration::from_secs(5)), "{}", pty.text());
    let (code, text) = pty.finish();
    assert_eq!(code, 4, "{text}");
    assert!(
        text.contains("Ctrl-D") && text.contains("nothing was changed"),
        "{text}"
    );
    assert!(!text.contains("--yes-i-typed"), "{text}");
    assert_eq!(lrange(&mut f.a.conn(), DLQ).len(), 2);
    assert_eq!(lrange(&mut f.b.conn(), DLQ).len(), 2);
}
