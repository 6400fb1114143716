//! `qctl bench` against real servers: marked jobs go through a real worker
//! fleet, throughput and latency come back, `completed` is never cleared; a
//! context with no workers times out as that target's error; a protected
//! context is benched only when named.

use crate::common::*;
use std::time::Duration;

#[test]
fn bench_times_marked_jobs_through_real_workers() {
    let busy = RedisServer::start();
    let idle = RedisServer::start();
    let prod = RedisServer::start();
    // Earlier work in completed stays.
    push_all(
        &mut busy.conn(),
        "jobqueue:completed",
        &[job("old-1"), job("old-2")],
    );
    let client = busy.client();
    let workers = Workers::start(3, "jobqueue:", move || client.get_connection().unwrap());
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: b, server: \"{}\" }}\n  - {{ name: i, server: \"{}\" }}\n  - {{ name: p, server: \"{}\" }}\ncontexts:\n  - {{ name: busy, cluster: b }}\n  - {{ name: idle, cluster: i }}\n  - {{ name: prod, cluster: p, protected: true }}\n",
            busy.url(),
            idle.url(),
            prod.url()
        ),
    );
    // A dry run enqueues nothing; -A leaves the protected context out.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "bench",
            "-A",
            "--count",
            "300",
            "--rate",
            "2000",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let r = action_results(&doc);
    assert_eq!(r["busy"]["enqueued"], 300, "{doc}");
    assert_eq!(r["prod"]["status"], "skipped", "{doc}");
    assert_eq!(lrange(&mut idle.conn(), "jobqueue:high_priority").len(), 0);

    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "bench",
            "--context",
            "busy,idle",
            "--count",
            "300",
            "--rate",
            "2000",
            "--payload-size",
            "300",
            "--wait-timeout",
            "2s",
            "--yes-i-typed=busy,idle",
            "-o",
            "json",
        ],
    );
    workers.stop();
    assert_eq!(code, 3, "idle has no workers: {stderr}\n{doc}");
    let r = action_results(&doc);
    assert_eq!(r["busy"]["status"], "ok", "{doc}");
    assert_eq!(r["busy"]["enqueued"], 300);
    assert_eq!(r["busy"]["completed"], 300);
    assert!(
        r["busy"]["throughput_per_s"].as_f64().unwrap() > 0.0,
        "{doc}"
    );
    let (p50, p95) = (
        r["busy"]["p50_ms"].as_f64().unwrap(),
        r["busy"]["p95_ms"].as_f64().unwrap(),
    );
    assert!(p50 >= 0.0 && p95 >= p50, "{doc}");
    let done = lrange(&mut busy.conn(), "jobqueue:completed");
    assert_eq!(done.len(), 302, "completed is never cleared");
    let marked = done
        .iter()
        .filter(|j| {
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            v["bench"] == true
                && v["id"].as_str().unwrap().starts_with("qctl-bench-")
                && v["filepath"]
                    .as_str()
                    .unwrap()
                    .starts_with("/dev/null/qctl-bench/")
                && j.len() == 300
        })
        .count();
    assert_eq!(marked, 300);
    assert_eq!(r["idle"]["status"], "error");
    assert_eq!(r["idle"]["enqueued"], 300);
    assert_eq!(r["idle"]["completed"], 0);
    assert!(
        r["idle"]["reason"]
            .as_str()
            .unwrap()
            .contains("300 of 300 bench jobs not seen"),
        "{doc}"
    );
    // Giving up, bench removed its jobs still queued there.
    assert_eq!(r["idle"]["removed"], 300, "{doc}");
    assert_eq!(r["busy"]["removed"], 0, "{doc}");
    assert_eq!(lrange(&mut idle.conn(), "jobqueue:high_priority").len(), 0);
    // Bad input.
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &["bench", "--context", "busy", "--count", "0", "--rate", "1"],
    );
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run_raw(
        &ws,
        &cfg,
        &[
            "bench",
            "--context",
            "busy",
            "--count",
            "5",
            "--rate",
            "fast",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not a rate"), "{stderr}");
}

#[test]
fn bench_on_a_cluster_whose_completed_list_is_capped() {
    // A retention job keeps completed at 200 entries the whole time (it is
    // full from the start): qctl must find its jobs by the entry it saw
    // last, not by the list's length.
    let cluster = RedisCluster::start();
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &tagged_cluster_contexts(&cluster));
    let cap = 200;
    let old: Vec<String> = (0..cap).map(|i| job(&format!("old-{i}"))).collect();
    push_all(&mut cluster.conn(), "{q}:completed", &old);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let retention = {
        let stop = stop.clone();
        let mut c = cluster.conn();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let _: () = redis::cmd("LTRIM")
                    .arg("{q}:completed")
                    .arg(0)
                    .arg(cap - 1)
                    .query(&mut c)
                    .unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let client = cluster.client();
    let workers = Workers::start(3, "{q}:", move || client.get_connection().unwrap());
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "bench",
            "--context",
            "eu",
            "--count",
            "500",
            "--rate",
            "1000",
            "--wait-timeout",
            "20s",
            "--yes-i-typed=eu",
            "-o",
            "json",
        ],
    );
    workers.stop();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    retention.join().unwrap();
    assert_eq!(code, 0, "{stderr}\n{doc}");
    let r = action_results(&doc);
    assert_eq!(r["eu"]["enqueued"], 500, "{doc}");
    assert_eq!(r["eu"]["completed"], 500, "{doc}");
    assert_eq!(
        lrange(&mut cluster.conn(), "{q}:completed").len(),
        cap as usize,
        "the cap held: qctl trims nothing itself"
    );
}

/// A user who may not send one of bench's commands (its cleanup's LREM
/// included) is refused in pre-flight, before a single job is enqueued.
#[test]
fn bench_checks_every_command_it_may_send_before_enqueuing() {
    let s = RedisServer::start_with(ServerOptions {
        acl_users: vec![
            AclUser {
                name: "nolrem",
                password: "pw",
                rules: "on >pw ~* &* +@all -lrem",
            },
            AclUser {
                name: "nolpush",
                password: "pw",
                rules: "on >pw ~* &* +@all -lpush",
            },
        ],
        ..Default::default()
    });
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\naudit-log: {}\nclusters:\n  - {{ name: s, server: \"{}\" }}\nusers:\n  - {{ name: nolrem, username: nolrem, password: pw }}\n  - {{ name: nolpush, username: nolpush, password: pw }}\ncontexts:\n  - {{ name: nolrem, cluster: s, user: nolrem }}\n  - {{ name: nolpush, cluster: s, user: nolpush }}\n",
            ws.join("audit.log").display(),
            s.url()
        ),
    );
    for (user, cmd) in [("nolrem", "lrem"), ("nolpush", "lpush")] {
        let (code, out, err) = run_raw(
            &ws,
            &cfg,
            &[
                "bench",
                "--context",
                user,
                "--count",
                "20",
                "--rate",
                "1000",
                "--wait-timeout",
                "1s",
                &format!("--yes-i-typed={user}"),
            ],
        );
        assert_ne!(code, 0, "{user}: {out}{err}");
        assert!(
            format!("{out}{err}").to_lowercase().contains(cmd),
            "{user}: the refusal names {cmd}: {out}{err}"
        );
        assert!(
            lrange(&mut s.conn(), "jobqueue:high_priority").is_empty(),
            "{user}: nothing enqueued"
        );
    }
}
