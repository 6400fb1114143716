//! `qctl replicate` against real servers: dry runs write nothing, copies to
//! a standalone and a cluster target append after the waiting jobs in
//! order, a second run copies nothing, and a run killed half-way (SIGKILL)
//! and re-run ends with each job exactly once.

mod common;

use common::*;
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
"#,
            source.url(),
            prod.url(),
            cluster.seed_urls()[0]
        ),
    );
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
