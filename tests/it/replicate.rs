//! `qctl replicate` against real servers: dry runs write nothing, copies to
//! a standalone and a cluster target append after the waiting jobs in
//! order, a second run copies nothing, and a run killed half-way (SIGKILL)
//! and re-run ends with each job exactly once.

use crate::common::*;
use std::time::Duration;

const HIGH: &str = "jobqueue:high_priority";
const DLQ: &str = "jobqueue:dead_letter";

fn jobs(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| job(&format!("{prefix}-{i}"))).collect()
}

fn llen<C: redis::ConnectionLike>(c: &mut C, key: &str) -> usize {
    redis::cmd("LLEN").arg(key).query(c).unwrap()
}

#[test]
fn copies_to_standalone_and_cluster_once_and_only_once() {
    let source = RedisServer::start();
    let prod = RedisServer::start();
    let cluster = RedisCluster::start();
    let src_jobs = jobs("s", 12_000);
    push_all(&mut source.conn(), HIGH, &src_jobs);
    push_all(&mut source.conn(), DLQ, &["not json at all".to_string()]);
    // prod already has one of the jobs (same id, other bytes) and one of its own.
    let mut p = prod.conn();
    push_all(
        &mut p,
        HIGH,
        &[r#"{"id":"s-5","retries":9}"#.to_string(), job("prod-own")],
    );
    let before_prod = lrange(&mut p, HIGH);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            r#"apiVersion: qctl/v1
clusters:
  - {{ name: s, server: "{}" }}
  - {{ name: p, server: "{}" }}
  - {{ name: eu, mode: cluster, nodes: [{}] }}
contexts:
  - {{ name: staging, cluster: s }}
  - {{ name: prod, cluster: p, protected: true }}
  - {{ name: prod-eu, cluster: eu }}
  - {{ name: staging-admin, cluster: s }}
"#,
            source.url(),
            prod.url(),
            cluster.seed_urls()[0]
        ),
    );
    // Two names for one server: never a copy onto itself.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "staging",
            "--to",
            "staging-admin",
            "--yes-i-typed=staging-admin",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        action_results(&doc)["staging-admin"]["reason"]
            .as_str()
            .unwrap()
            .contains("same Redis server"),
        "{doc}"
    );
    assert_eq!(llen(&mut source.conn(), HIGH), 12_000);
    let args = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec![
            "replicate",
            "--from",
            "staging",
            "--to",
            "prod,prod-eu",
            "--what",
            "queues,dead-letter",
            "-o",
            "json",
        ];
        v.extend_from_slice(extra);
        v
    };
    // Dry run: the counts, and no LPUSH anywhere.
    let lpush = command_calls(&prod).get("lpush").copied().unwrap_or(0);
    let (code, doc, stderr) = run_json(&ws, &cfg, &args(&["--dry-run"]));
    assert_eq!(code, 0, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["prod"]["copied"], 12_000, "{doc}");
    assert_eq!(r["prod"]["skipped_duplicates"], 1);
    assert_eq!(r["prod-eu"]["copied"], 12_001);
    assert_eq!(
        command_calls(&prod).get("lpush").copied().unwrap_or(0),
        lpush
    );
    assert_eq!(lrange(&mut p, HIGH), before_prod);
    let mut c = cluster.conn();
    assert_eq!(llen(&mut c, HIGH), 0);

    // Off a terminal it needs the exact --to set.
    let (code, _, stderr) = run_raw(&ws, &cfg, &args(&[]));
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("--yes-i-typed=prod,prod-eu"), "{stderr}");

    let (code, doc, stderr) = run_json(&ws, &cfg, &args(&["--yes-i-typed=prod-eu,prod"]));
    assert_eq!(code, 0, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["prod"]["copied"], 12_000);
    assert_eq!(r["prod-eu"]["copied"], 12_001);
    // Appended behind the waiting jobs, in the source's order.
    let got = lrange(&mut p, HIGH);
    let src_list = lrange(&mut source.conn(), HIGH);
    let expected: Vec<String> = src_list
        .iter()
        .filter(|j| !j.contains(r#""id":"s-5""#))
        .cloned()
        .chain(before_prod.iter().cloned())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(lrange(&mut c, HIGH), src_list);
    assert_eq!(lrange(&mut c, DLQ), vec!["not json at all".to_string()]);

    // A second run copies nothing: everything is a duplicate.
    let (code, doc, _) = run_json(&ws, &cfg, &args(&["--yes-i-typed=prod,prod-eu"]));
    assert_eq!(code, 0);
    let r = action_results(&doc);
    assert_eq!(r["prod"]["copied"], 0);
    assert_eq!(r["prod"]["skipped_duplicates"], 12_001);
    assert_eq!(r["prod-eu"]["copied"], 0);
    assert_eq!(r["prod-eu"]["skipped_duplicates"], 12_001);
    assert_eq!(llen(&mut p, HIGH), 12_001);

    // Usage: --context does not apply; --to must not name --from.
    let (code, _, _) = run_raw(
        &ws,
        &cfg,
        &["replicate", "--from", "staging", "--to", "prod", "-A"],
    );
    assert_eq!(code, 2);
    let (code, _, _) = run_raw(
        &ws,
        &cfg,
        &["replicate", "--from", "staging", "--to", "staging"],
    );
    assert_eq!(code, 2);
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &["replicate", "--from", "stagin", "--to", "prod"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("did you mean `staging`"), "{stderr}");
}

#[test]
fn a_run_killed_half_way_and_rerun_ends_with_each_job_once() {
    let source = RedisServer::start();
    let target = RedisServer::start();
    let n = 400_000;
    let src_jobs = jobs("k", n);
    push_all(&mut source.conn(), HIGH, &src_jobs);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: s, server: \"{}\" }}\n  - {{ name: t, server: \"{}\" }}\ncontexts:\n  - {{ name: s, cluster: s }}\n  - {{ name: t, cluster: t }}\n",
            source.url(),
            target.url()
        ),
    );
    let mut t = target.conn();
    let mut child = ws
        .qctl_std()
        .arg("--config")
        .arg(&cfg)
        .args([
            "replicate",
            "--from",
            "s",
            "--to",
            "t",
            "--queue",
            "high",
            "--yes-i-typed=t",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(Duration::from_secs(60), || llen(&mut t, HIGH) > 0),
        "the copy never started"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = llen(&mut t, HIGH);
    assert!(
        partial > 0 && partial < n,
        "killed too late to prove anything: {partial}"
    );
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "s",
            "--to",
            "t",
            "--queue",
            "high",
            "--yes-i-typed=t",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["t"]["copied"].as_u64().unwrap() as usize, n - partial);
    assert_eq!(
        r["t"]["skipped_duplicates"].as_u64().unwrap() as usize,
        partial
    );
    let got = lrange(&mut t, HIGH);
    assert_eq!(got.len(), n);
    let mut ids: Vec<&String> = got.iter().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "a job was doubled");
    // The partial copy was a prefix of the source's order, so the whole
    // target is the source in order.
    assert_eq!(got, lrange(&mut source.conn(), HIGH));
}

fn config_get(c: &mut impl redis::ConnectionLike, p: &str) -> String {
    let v: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(p).query(c).unwrap();
    v.get(1).cloned().unwrap_or_default()
}

#[test]
fn move_under_a_worker_fleet_survives_crashes_and_loses_and_doubles_nothing() {
    let source = RedisServer::start();
    let prod = RedisServer::start();
    let cluster = RedisCluster::start();
    let n = 60_000;
    let all = jobs("m", n);
    let ids = ids_of(&all);
    let mut s = source.conn();
    push_all(&mut s, HIGH, &all);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            r#"apiVersion: qctl/v1
clusters:
  - {{ name: s, server: "{}" }}
  - {{ name: p, server: "{}" }}
  - {{ name: eu, mode: cluster, nodes: [{}] }}
contexts:
  - {{ name: staging, cluster: s }}
  - {{ name: prod, cluster: p }}
  - {{ name: prod-eu, cluster: eu }}
"#,
            source.url(),
            prod.url(),
            cluster.seed_urls()[0]
        ),
    );
    let args = [
        "replicate",
        "--from",
        "staging",
        "--to",
        "prod,prod-eu",
        "--queue",
        "high",
        "--move",
        "-o",
        "json",
    ];
    // The source is confirmed like a target.
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &[&args[..], &["--yes-i-typed=prod,prod-eu"]].concat(),
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("--yes-i-typed=staging,prod,prod-eu"),
        "{stderr}"
    );
    let (code, _, stderr) = run_raw(&ws, &cfg, &[&args[..], &["--strategy", "rolling"]].concat());
    assert_eq!(code, 2, "{stderr}");
    // A dry run moves nothing.
    let (code, doc, stderr) = run_json(&ws, &cfg, &[&args[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["staging"]["moved"], n as u64, "{doc}");
    assert_eq!(r["prod"]["copied"], n as u64);
    assert_eq!(llen(&mut s, HIGH), n);

    let confirm = "--yes-i-typed=prod-eu,staging,prod";
    let run = |fault: Option<&str>| {
        let mut cmd = ws.qctl();
        cmd.arg("--config").arg(&cfg).args(args).arg(confirm);
        if let Some(f) = fault {
            cmd.env("QCTL_FAULT", f);
        }
        cmd.output().unwrap()
    };
    let staging = "{jobqueue:high_priority}:qctl-move:staging";
    // Killed after claiming its second window (before pushing it) ...
    let out = run(Some("move-after-claim:2"));
    assert!(!out.status.success());
    assert_eq!(
        llen(&mut s, staging),
        5000,
        "the claimed window waits in staging"
    );
    // ... then after pushing the window after the recovered one (before
    // dropping it from staging) ...
    let out = run(Some("move-after-push:2"));
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(llen(&mut s, staging), 5000);
    // ... then Ctrl-C after the recovered window is pushed, with one
    // --max-concurrency slot for three participants: the window is
    // finished, and every participant reports its share (none reads as
    // never started).
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .args([confirm, "--max-concurrency", "1"])
        .env("QCTL_FAULT", "move-after-push:1:int")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["interrupted"], true, "{doc}");
    let r = action_results(&doc);
    for p in ["prod", "prod-eu", "staging"] {
        let reason = r[p]["reason"].as_str().unwrap_or_default();
        assert!(!reason.contains("before it started"), "{p}: {doc}");
    }
    assert!(r["prod-eu"]["copied"].is_u64(), "{doc}");
    assert!(r["staging"]["moved"].is_u64(), "{doc}");
    // A Ctrl-C is no refusal: its kind says what happened.
    assert_eq!(r["staging"]["kind"], "interrupted", "{doc}");
    assert!(
        doc["errors"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "interrupted"),
        "{doc}"
    );
    assert!(
        r["prod"]["skipped_duplicates"].as_u64().unwrap() >= 5000,
        "the pushed window is not pushed again: {doc}"
    );
    assert_eq!(
        llen(&mut s, staging),
        0,
        "the window in flight was finished"
    );
    // ... then to the end, while a worker fleet consumes the source.
    let client = source.client();
    let workers = Workers::start(4, "jobqueue:", move || client.get_connection().unwrap());
    let out = run(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = action_results(&doc);
    assert_eq!(r["staging"]["status"], "ok", "{doc}");
    assert!(r["staging"]["moved"].as_u64().unwrap() >= 5000, "{doc}");
    assert!(
        wait_for(Duration::from_secs(60), || llen(&mut s, HIGH) == 0),
        "the workers never drained the source"
    );
    workers.stop();
    let completed = ids_of(&lrange(&mut s, "jobqueue:completed"));
    assert!(
        !completed.is_empty(),
        "the workers took nothing: the test proves nothing"
    );
    let mut in_flight: Vec<String> = Vec::new();
    for w in 0..4 {
        in_flight.extend(ids_of(&lrange(
            &mut s,
            &format!("jobqueue:worker:w{w}:processing"),
        )));
    }
    assert!(in_flight.is_empty(), "{in_flight:?}");
    for k in [staging, "{jobqueue:high_priority}:qctl-move:lock"] {
        let exists: bool = redis::cmd("EXISTS").arg(k).query(&mut s).unwrap();
        assert!(!exists, "{k} left behind");
    }
    // On each target: what it got plus what the workers did is every job
    // exactly once.
    let mut c = cluster.conn();
    for (name, got) in [
        ("prod", ids_of(&lrange(&mut prod.conn(), HIGH))),
        ("prod-eu", ids_of(&lrange(&mut c, HIGH))),
    ] {
        assert!(got.len() > 5000, "{name} got {}", got.len());
        let mut seen = std::collections::BTreeMap::<&String, usize>::new();
        for id in got.iter().chain(&completed) {
            *seen.entry(id).or_default() += 1;
        }
        let doubled: Vec<_> = seen.iter().filter(|(_, k)| **k > 1).take(5).collect();
        assert!(doubled.is_empty(), "{name}: doubled {doubled:?}");
        assert_eq!(
            seen.len(),
            ids.len(),
            "{name}: lost {}",
            ids.len() - seen.len()
        );
    }
    // Oldest first on the target, as on the source.
    let got = ids_of(&lrange(&mut prod.conn(), HIGH));
    let mut order: Vec<usize> = got
        .iter()
        .rev()
        .map(|id| id.trim_start_matches("m-").parse().unwrap())
        .collect();
    let sorted = {
        let mut o = order.clone();
        o.sort();
        o
    };
    assert_eq!(order, sorted, "the consumer end of prod is the oldest job");
    order.clear();
}

#[test]
fn config_is_aligned_where_allowed_and_maxmemory_only_when_named() {
    let source = RedisServer::start();
    let a = RedisServer::start_with(ServerOptions {
        config_file: true,
        ..Default::default()
    });
    let cluster = RedisCluster::start();
    let managed = RedisServer::start_with(ServerOptions {
        acl_users: vec![AclUser {
            name: "app",
            password: "app-secret-pw",
            rules: "on ~* &* +@all -config",
        }],
        ..Default::default()
    });
    let mut s = source.conn();
    for (p, v) in [
        ("maxmemory-policy", "allkeys-lru"),
        ("hz", "50"),
        ("notify-keyspace-events", "Ex"),
        ("maxmemory", "100mb"),
    ] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(p)
            .arg(v)
            .query(&mut s)
            .unwrap();
    }
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            r#"apiVersion: qctl/v1
clusters:
  - {{ name: s, server: "{}" }}
  - {{ name: a, server: "{}" }}
  - {{ name: eu, mode: cluster, nodes: [{}] }}
  - {{ name: m, server: "{}" }}
users:
  - {{ name: app, username: app, password: app-secret-pw }}
contexts:
  - {{ name: staging, cluster: s }}
  - {{ name: prod, cluster: a }}
  - {{ name: prod-eu, cluster: eu }}
  - {{ name: managed, cluster: m, user: app }}
"#,
            source.url(),
            a.url(),
            cluster.seed_urls()[0],
            managed.url()
        ),
    );
    let base = [
        "replicate",
        "--from",
        "staging",
        "--to",
        "prod,prod-eu,managed",
        "--what",
        "config",
        "-o",
        "json",
    ];
    let sets = |srv: &RedisServer| command_calls(srv).get("config|set").copied().unwrap_or(0);
    let (code, doc, stderr) = run_json(&ws, &cfg, &[&base[..], &["--dry-run"]].concat());
    assert_eq!(code, 3, "managed refuses CONFIG: {stderr}");
    // A config-only plan talks about contexts, not jobs.
    assert!(
        stderr.contains("CONTEXT   PLAN") && stderr.contains("total: 2 contexts"),
        "{stderr}"
    );
    let r = action_results(&doc);
    let changes = r["prod"]["config_changes"].as_array().unwrap();
    let mut params: Vec<&str> = changes
        .iter()
        .map(|c| c["parameter"].as_str().unwrap())
        .collect();
    params.sort();
    assert_eq!(
        params,
        ["hz", "maxmemory-policy", "notify-keyspace-events"],
        "{doc}"
    );
    let hz = changes.iter().find(|c| c["parameter"] == "hz").unwrap();
    assert_eq!(
        (hz["old"].as_str(), hz["new"].as_str()),
        (Some("10"), Some("50"))
    );
    assert_eq!(
        r["prod-eu"]["config_changes"].as_array().unwrap().len(),
        9,
        "3 on each primary: {doc}"
    );
    assert_eq!(r["managed"]["status"], "error");
    assert!(
        r["managed"]["reason"]
            .as_str()
            .unwrap()
            .contains("refuses CONFIG"),
        "{doc}"
    );
    assert!(stderr.contains("hz 10 -> 50"), "{stderr}");
    assert!(!stderr.contains("app-secret-pw") && !doc.to_string().contains("app-secret-pw"));
    assert_eq!(sets(&a), 0, "a dry run sets nothing");
    assert_eq!(config_get(&mut a.conn(), "hz"), "10");

    // The run: prod and every primary of prod-eu aligned, managed reported.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[&base[..], &["--yes-i-typed=prod,prod-eu,managed"]].concat(),
    );
    assert_eq!(code, 3, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["prod"]["status"], "ok", "{doc}");
    assert_eq!(r["prod-eu"]["status"], "ok", "{doc}");
    assert_eq!(r["managed"]["status"], "error");
    let mut pa = a.conn();
    assert_eq!(config_get(&mut pa, "maxmemory-policy"), "allkeys-lru");
    assert_eq!(config_get(&mut pa, "hz"), "50");
    assert_eq!(
        config_get(&mut pa, "notify-keyspace-events"),
        config_get(&mut s, "notify-keyspace-events")
    );
    assert_eq!(
        config_get(&mut pa, "maxmemory"),
        "0",
        "maxmemory is not aligned unless named"
    );
    for addr in cluster.addrs() {
        let out = cluster_node_cli(&addr, &["CONFIG", "GET", "maxmemory-policy"]);
        assert!(out.contains("allkeys-lru"), "{addr}: {out}");
    }
    assert_eq!(config_get(&mut managed.conn(), "hz"), "10");

    // Named: maxmemory alone, and saved with --persist where the server
    // has a config file.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "staging",
            "--to",
            "prod",
            "--what",
            "config",
            "--config-param",
            "maxmemory",
            "--persist",
            "--yes-i-typed=prod",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let changes = action_results(&doc)["prod"]["config_changes"].clone();
    assert_eq!(changes.as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(changes[0]["parameter"], "maxmemory");
    assert_eq!(config_get(&mut pa, "maxmemory"), "104857600");
    let conf = std::fs::read_to_string(a.config_file()).unwrap();
    assert!(conf.contains("maxmemory 100mb"), "{conf}");
    // --persist on a server without a config file is that target's error.
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "staging",
            "--to",
            "prod-eu",
            "--what",
            "config",
            "--persist",
            "--yes-i-typed=prod-eu",
            "-o",
            "json",
        ],
    );
    let r = action_results(&doc);
    assert_ne!(code, 0, "{doc}");
    assert_eq!(r["prod-eu"]["status"], "error");
    let reason = r["prod-eu"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("CONFIG REWRITE") && reason.contains("without a config file"),
        "{doc}"
    );
    // Usage errors.
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "staging",
            "--to",
            "prod",
            "--what",
            "config",
            "--config-param",
            "requirepass",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("not a parameter replicate aligns"),
        "{stderr}"
    );
    let (code, _, _) = run_raw(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "staging",
            "--to",
            "prod",
            "--persist",
        ],
    );
    assert_eq!(code, 2);
}

fn cluster_node_cli(addr: &str, args: &[&str]) -> String {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = std::process::Command::new("redis-cli")
        .args(["-h", host, "-p", port])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_cluster_source_copies_and_moves() {
    let cluster = RedisCluster::start();
    let target = RedisServer::start();
    let mut c = cluster.conn();
    let high = jobs("h", 7000);
    let dead = jobs("d", 300);
    push_all(&mut c, HIGH, &high);
    push_all(&mut c, DLQ, &dead);
    let dead_list = lrange(&mut c, DLQ);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: eu, mode: cluster, nodes: [{}] }}\n  - {{ name: t, server: \"{}\" }}\ncontexts:\n  - {{ name: eu, cluster: eu }}\n  - {{ name: t, cluster: t }}\n",
            cluster.seed_urls()[0],
            target.url()
        ),
    );
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "eu",
            "--to",
            "t",
            "--yes-i-typed=t",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(action_results(&doc)["t"]["copied"], 7000, "{doc}");
    // The target holds another job with one of the ids: a move confirms by
    // bytes, so the source's job is still moved, not dropped.
    let other = r#"{"id":"d-5","retries":9}"#.to_string();
    push_all(&mut target.conn(), DLQ, std::slice::from_ref(&other));
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "replicate",
            "--from",
            "eu",
            "--to",
            "t",
            "--what",
            "dead-letter",
            "--move",
            "--yes-i-typed=eu,t",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["eu"]["moved"], 300, "{doc}");
    assert_eq!(r["t"]["copied"], 300, "{doc}");
    assert_eq!(llen(&mut c, DLQ), 0);
    assert_eq!(llen(&mut c, HIGH), 7000, "a copy leaves the source alone");
    let mut t = target.conn();
    let got = lrange(&mut t, DLQ);
    assert!(got[..300] == dead_list[..], "moved in the source's order");
    assert_eq!(got[300], other, "the target's own job still runs first");
    assert!(
        lrange(&mut t, HIGH) == lrange(&mut c, HIGH),
        "copied in order"
    );
    let staged: bool = redis::cmd("EXISTS")
        .arg("{jobqueue:dead_letter}:qctl-move:staging")
        .query(&mut c)
        .unwrap();
    assert!(!staged);
}

/// Resumes the stopped cluster nodes however the test ends.
struct Stopped(Vec<i32>);

impl Drop for Stopped {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill(2) on a redis-server this test started.
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }
}

#[test]
fn a_push_that_times_out_on_a_cluster_is_never_sent_twice() {
    // The target's nodes stall (SIGSTOP) just as a window's LPUSH goes
    // out: qctl's round trip times out and the target is an error, but the
    // server runs the LPUSH once it wakes. A re-run must then find those
    // jobs there and skip them: each job exactly once, nothing lost. The
    // stall hits the second window, so the push script is already loaded
    // on the node (a first EVALSHA would only meet NOSCRIPT on waking).
    let source = RedisServer::start();
    let cluster = RedisCluster::start();
    let src_jobs = jobs("t", 8000);
    push_all(&mut source.conn(), HIGH, &src_jobs);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: s, server: \"{}\" }}\n  - {{ name: eu, mode: cluster, nodes: [{}] }}\ncontexts:\n  - {{ name: staging, cluster: s }}\n  - {{ name: prod-eu, cluster: eu }}\n",
            source.url(),
            cluster.seed_urls()[0]
        ),
    );
    let resume = ws.path().join("resume");
    let args = [
        "replicate",
        "--from",
        "staging",
        "--to",
        "prod-eu",
        "--queue",
        "high",
        "--timeout",
        "700ms",
        "--yes-i-typed=prod-eu",
        "-o",
        "json",
    ];
    let mut child = ws
        .qctl_std()
        .arg("--config")
        .arg(&cfg)
        .args(args)
        .env("QCTL_FAULT", "copy-before-push:2:pause")
        .env("QCTL_FAULT_RESUME", &resume)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let paused = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let paused = paused.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("QCTL_FAULT: paused") {
                    paused.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    };
    assert!(
        wait_for(Duration::from_secs(30), || paused
            .load(std::sync::atomic::Ordering::SeqCst)),
        "qctl never reached its first push"
    );
    let stopped = Stopped(
        cluster
            .nodes
            .iter()
            .map(|n| n.pid().expect("running") as i32)
            .collect(),
    );
    for &pid in &stopped.0 {
        // SAFETY: kill(2) on a redis-server this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    }
    std::fs::write(&resume, "").unwrap();
    let status = child.wait().unwrap();
    let stderr = reader.join().unwrap();
    assert!(
        !status.success(),
        "a stalled target is an error: {status:?}\n{stderr}"
    );
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = action_results(&doc);
    assert_eq!(r["prod-eu"]["status"], "error", "{doc}");
    assert!(
        r["prod-eu"]["reason"]
            .as_str()
            .unwrap()
            .contains("no answer within 700ms"),
        "{doc}"
    );
    // The nodes wake up and run what was sent to them.
    drop(stopped);
    let mut c = cluster.conn();
    assert!(
        wait_for(Duration::from_secs(10), || llen(&mut c, HIGH) > 5000),
        "the timed-out LPUSH never ran: the test proves nothing"
    );
    std::thread::sleep(Duration::from_millis(300));
    let (code, doc, stderr) = run_json(&ws, &cfg, &args);
    assert_eq!(code, 0, "{stderr}\n{doc}");
    assert_exactly_once(&mut c, &[HIGH.to_string()], &ids_of(&src_jobs));
}
