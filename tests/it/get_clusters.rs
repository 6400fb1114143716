//! `get clusters` and `health` against real servers and real faults.

use crate::common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

#[allow(clippy::too_many_arguments)]
fn assert_figures(
    item: &Value,
    queued: u64,
    processing: u64,
    dlq: u64,
    completed: u64,
    workers: u64,
    ow: u64,
    oj: u64,
) {
    let ctx = &item["context"];
    assert_eq!(item["queued"], queued, "{ctx} queued");
    assert_eq!(item["processing"], processing, "{ctx} processing");
    assert_eq!(item["dead_letter"], dlq, "{ctx} dead_letter");
    assert_eq!(item["completed"], completed, "{ctx} completed");
    assert_eq!(item["workers"], workers, "{ctx} workers");
    assert_eq!(item["orphaned_workers"], ow, "{ctx} orphaned_workers");
    assert_eq!(item["orphaned_jobs"], oj, "{ctx} orphaned_jobs");
    // SPEC 10.2: the kind, and null (never 0) for what it has none of.
    assert_eq!(item["system"], "go-redis-work-queue", "{ctx} system");
    for absent in [
        "scheduled",
        "retrying",
        "processed_total",
        "failed_total",
        "paused_queues",
    ] {
        assert!(item[absent].is_null(), "{ctx} {absent}: {item}");
    }
}

#[test]
fn standalone_servers_and_faults_in_file_order() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let c = RedisServer::start();
    seed(
        &mut a.conn(),
        &Seed {
            high: 5,
            low: 3,
            dlq: 2,
            completed: 7,
            live: workers("a", 4, 1),
            orphans: workers("oa", 2, 3),
        },
    );
    seed(
        &mut b.conn(),
        &Seed {
            high: 100,
            dlq: 0,
            live: workers("b", 1, 2),
            ..Default::default()
        },
    );
    // c: empty. Plus unrelated keys that must not be counted.
    let _: () = redis::cmd("SET")
        .arg("jobqueue:worker:not-a-list")
        .arg("x")
        .query(&mut c.conn())
        .unwrap();
    let closed = ClosedPort::new();
    let hole = BlackHole::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                standalone("zeta", &a.url()),
                standalone("closed", &closed.url()),
                standalone("alpha", &b.url()),
                standalone("stall", &hole.url()),
                standalone("empty", &c.url()),
            ],
            "",
            "",
        ),
    );
    let start = Instant::now();
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "get",
            "clusters",
            "-A",
            "-o",
            "json",
            "--timeout",
            "1500ms",
            "--connect-timeout",
            "1s",
        ],
    );
    let elapsed = start.elapsed();
    assert_eq!(code, 3, "partial: {stderr}");
    assert!(
        elapsed < Duration::from_secs(4),
        "a stalled context must not stall the command: {elapsed:?}"
    );
    assert_eq!(doc["kind"], "ClusterList");
    let items = doc["items"].as_array().unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|i| i["context"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["zeta", "alpha", "empty"], "file order");
    assert_figures(&items[0], 8, 4 + 6, 2, 7, 4, 2, 6);
    assert_figures(&items[1], 100, 2, 0, 0, 1, 0, 0);
    assert_figures(&items[2], 0, 0, 0, 0, 0, 0, 0);
    assert_eq!(items[0]["status"], "degraded", "orphans fail a check");
    assert_eq!(items[2]["status"], "healthy");
    assert_eq!(items[0]["mode"], "standalone");
    assert!(items[0]["redis_version"].as_str().unwrap().starts_with('7'));
    assert!(items[0]["used_memory_bytes"].as_u64().unwrap() > 0);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["context"], "closed");
    assert_eq!(errors[0]["kind"], "refused");
    assert_eq!(errors[1]["context"], "stall");
    assert_eq!(errors[1]["kind"], "timeout");

    // The table shows the unreachable ones as rows, in file order.
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args([
            "get",
            "clusters",
            "-A",
            "--timeout",
            "1s",
            "--connect-timeout",
            "500ms",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("CONTEXT"));
    assert!(
        rows[1].starts_with("zeta")
            && rows[2].starts_with("closed")
            && rows[4].starts_with("stall"),
        "{table}"
    );
    assert!(rows[2].contains("unreachable") && rows[4].contains("unreachable"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("closed: refused"), "{stderr}");
    // -o name lists the reachable contexts.
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "clusters", "--context", "zeta,alpha", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "zeta\nalpha\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn all_failing_is_exit_1() {
    let closed = ClosedPort::new();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(&[standalone("closed", &closed.url())], "", ""),
    );
    let (code, doc, _) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["items"].as_array().unwrap().len(), 0);
    assert_eq!(doc["errors"][0]["kind"], "refused");
}

#[test]
fn redis_cluster_figures_span_every_primary() {
    let cluster = RedisCluster::start();
    seed(
        &mut cluster.conn(),
        &Seed {
            high: 40,
            low: 10,
            dlq: 9,
            completed: 3,
            live: workers("w", 30, 2),
            orphans: workers("dead", 12, 1),
        },
    );
    // The processing lists really are spread over all three primaries.
    for node in &cluster.nodes {
        let n: usize = node.cli(&["DBSIZE"]).parse().unwrap();
        assert!(n > 5, "node {} holds {n} keys", node.port);
    }
    let ws = Workspace::new();
    let seeds: Vec<String> = cluster.seed_urls();
    let yaml = format!(
        "apiVersion: qctl/v1\ncurrent-context: eu\nclusters:\n  - name: eu\n    mode: cluster\n    nodes: [{}]\ncontexts:\n  - name: eu\n    cluster: eu\n",
        seeds[0]
    );
    let cfg = ws.write("c.yaml", &yaml);
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let item = &doc["items"][0];
    assert_eq!(item["mode"], "cluster");
    assert_figures(item, 50, 60 + 12, 9, 3, 30, 12, 12);
    // Memory is summed over the primaries.
    assert!(item["used_memory_bytes"].as_u64().unwrap() > 1_000_000);
}

#[test]
fn redis_cluster_over_tls_with_client_certificate_and_password() {
    // Every node connection is qctl's own (TLS, AUTH, the reply budget):
    // the seed's and those to the primaries it discovers.
    let cluster = RedisCluster::start_with(ServerOptions {
        requirepass: Some("cpw".into()),
        tls: Some(TlsOptions { auth_clients: true }),
        ..Default::default()
    });
    seed(
        &mut cluster.conn(),
        &Seed {
            high: 20,
            low: 5,
            dlq: 2,
            ..Default::default()
        },
    );
    let t = cluster.tls_files().unwrap();
    let seeds = cluster.seed_urls();
    assert!(seeds[0].starts_with("rediss://"), "{seeds:?}");
    let ws = Workspace::new();
    let cluster_yaml = |name: &str, tls: &str| {
        format!(
            "  - name: {name}\n    mode: cluster\n    nodes: [{}]\n    tls: {{ {tls} }}\n",
            seeds[0]
        )
    };
    let mtls = format!(
        "ca-file: {}, cert-file: {}, key-file: {}",
        t.ca.display(),
        t.client_cert.display(),
        t.client_key.display()
    );
    let file = format!(
        "apiVersion: qctl/v1\nclusters:\n{}{}{}users:\n  - name: admin\n    password-env: QCTL_T_CPW\ncontexts:\n  - name: mtls\n    cluster: mtls\n    user: admin\n  - name: nocert\n    cluster: nocert\n    user: admin\n  - name: untrusted\n    cluster: untrusted\n    user: admin\n",
        cluster_yaml("mtls", &mtls),
        cluster_yaml("nocert", &format!("ca-file: {}", t.ca.display())),
        cluster_yaml(
            "untrusted",
            &format!(
                "cert-file: {}, key-file: {}",
                t.client_cert.display(),
                t.client_key.display()
            )
        ),
    );
    let cfg = ws.write("c.yaml", &file);
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .env("QCTL_T_CPW", "cpw")
        .args(["get", "clusters", "-A", "-o", "json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{doc}\n{stderr}");
    let item = &doc["items"][0];
    assert_eq!(item["context"], "mtls", "{doc}");
    assert_eq!(item["mode"], "cluster");
    assert_figures(item, 25, 0, 2, 0, 0, 0, 0);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{doc}");
    assert_eq!(errors[0]["context"], "nocert");
    assert!(
        ["tls", "protocol"].contains(&errors[0]["kind"].as_str().unwrap()),
        "{doc}"
    );
    assert_eq!(errors[1]["context"], "untrusted");
    assert_eq!(errors[1]["kind"], "tls", "{doc}");
    assert!(!doc.to_string().contains("cpw") && !stderr.contains("cpw"));
}

#[test]
fn password_right_and_wrong_never_printed() {
    let s = RedisServer::start_with(ServerOptions::with_password("s3cr3t-pw"));
    seed(
        &mut s.conn(),
        &Seed {
            high: 2,
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let users = "  - name: good\n    password-env: QCTL_T_GOOD\n  - name: bad\n    password: wrong-pw\n  - name: unset\n    password-env: QCTL_T_UNSET\n";
    let mk = |name: &str, user: &str| Ctx {
        name: name.into(),
        cluster_yaml: format!("  - name: {name}\n    server: {}\n", s.url()),
        user: Some(user.into()),
    };
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[mk("good", "good"), mk("bad", "bad"), mk("unset", "unset")],
            users,
            "",
        ),
    );
    let out = ws
        .qctl()
        .env("QCTL_T_GOOD", "s3cr3t-pw")
        .arg("--config")
        .arg(&cfg)
        .args(["get", "clusters", "-A", "-o", "json", "-v"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    for secret in ["s3cr3t-pw", "wrong-pw"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "secret leaked:\n{stdout}\n{stderr}"
        );
    }
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["items"][0]["context"], "good");
    assert_eq!(doc["items"][0]["queued"], 2);
    assert_eq!(doc["errors"][0]["context"], "bad");
    assert_eq!(doc["errors"][0]["kind"], "auth");
    assert_eq!(doc["errors"][1]["context"], "unset");
    assert_eq!(doc["errors"][1]["kind"], "config");
    assert!(
        doc["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("QCTL_T_UNSET")
    );
    assert!(
        stderr.contains("AUTH REDACTED"),
        "-v shows that it authenticates: {stderr}"
    );
}

#[test]
fn acl_user_without_info_gets_what_it_can_read() {
    let s = RedisServer::start_with(ServerOptions {
        acl_users: vec![AclUser {
            name: "reader",
            password: "rpw",
            rules: "on ~* &* +@read +ping -@dangerous",
        }],
        ..Default::default()
    });
    seed(
        &mut s.conn(),
        &Seed {
            high: 3,
            dlq: 1,
            live: workers("r", 2, 1),
            orphans: workers("x", 1, 4),
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[Ctx {
                name: "ro".into(),
                cluster_yaml: format!("  - name: ro\n    server: {}\n", s.url()),
                user: Some("reader".into()),
            }],
            "  - name: reader\n    username: reader\n    password: rpw\n",
            "",
        ),
    );
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let item = &doc["items"][0];
    assert_figures(item, 3, 2 + 4, 1, 0, 2, 1, 4);
    assert!(item["redis_version"].is_null());
    assert!(item["used_memory_bytes"].is_null());
    assert!(stderr.contains("INFO is not permitted"), "{stderr}");
}

#[test]
fn tls_with_ca_and_with_client_certificate() {
    let ca_only = RedisServer::start_with(ServerOptions::with_tls(false));
    let mtls = RedisServer::start_with(ServerOptions::with_tls(true));
    seed(
        &mut ca_only.conn(),
        &Seed {
            high: 1,
            ..Default::default()
        },
    );
    seed(
        &mut mtls.conn(),
        &Seed {
            low: 2,
            ..Default::default()
        },
    );
    let t1 = ca_only.tls_files().unwrap();
    let t2 = mtls.tls_files().unwrap();
    let ws = Workspace::new();
    let clusters = [
        Ctx {
            name: "tls".into(),
            cluster_yaml: format!(
                "  - name: tls\n    server: {}\n    tls: {{ ca-file: {} }}\n",
                ca_only.url(),
                t1.ca.display()
            ),
            user: None,
        },
        Ctx {
            name: "mtls".into(),
            cluster_yaml: format!(
                "  - name: mtls\n    server: {}\n    tls: {{ ca-file: {}, cert-file: {}, key-file: {} }}\n",
                mtls.url(),
                t2.ca.display(),
                t2.client_cert.display(),
                t2.client_key.display()
            ),
            user: None,
        },
        Ctx {
            name: "nocert".into(),
            cluster_yaml: format!(
                "  - name: nocert\n    server: {}\n    tls: {{ ca-file: {} }}\n",
                mtls.url(),
                t2.ca.display()
            ),
            user: None,
        },
        Ctx {
            name: "untrusted".into(),
            cluster_yaml: format!("  - name: untrusted\n    server: {}\n", ca_only.url()),
            user: None,
        },
    ];
    let cfg = ws.write("c.yaml", &contexts_file(&clusters, "", ""));
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 3, "{stderr}");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{doc}");
    assert_eq!(items[0]["context"], "tls");
    assert_eq!(items[0]["queued"], 1);
    assert_eq!(items[1]["context"], "mtls");
    assert_eq!(items[1]["queued"], 2);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors[0]["context"], "nocert");
    assert!(
        ["tls", "protocol"].contains(&errors[0]["kind"].as_str().unwrap()),
        "{doc}"
    );
    assert_eq!(errors[1]["context"], "untrusted");
    assert_eq!(errors[1]["kind"], "tls", "{doc}");
}

#[test]
fn health_exit_codes() {
    let good = RedisServer::start();
    let bad = RedisServer::start();
    seed(
        &mut good.conn(),
        &Seed {
            high: 1,
            dlq: 3,
            live: workers("g", 1, 1),
            ..Default::default()
        },
    );
    seed(
        &mut bad.conn(),
        &Seed {
            high: 5,
            dlq: 20,
            orphans: workers("dead", 1, 2),
            ..Default::default()
        },
    );
    let closed = ClosedPort::new();
    let ws = Workspace::new();
    let prefs = "preferences:\n  health: { max-dead-letter: 10, max-orphaned-jobs: 0 }\n";
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                standalone("good", &good.url()),
                standalone("bad", &bad.url()),
                standalone("gone", &closed.url()),
            ],
            "",
            prefs,
        ),
    );
    let p = cfg.to_str().unwrap();
    ws.qctl()
        .args(["--config", p, "health", "--context", "good"])
        .assert()
        .code(0);
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &["health", "--context", "good,bad", "-o", "json"],
    );
    assert_eq!(code, 5);
    assert_eq!(doc["kind"], "HealthReport");
    assert_eq!(doc["items"][0]["healthy"], true);
    assert_eq!(doc["items"][1]["healthy"], false);
    let failed: Vec<&str> = doc["items"][1]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, vec!["dead-letter", "orphaned-jobs", "workers"]);
    // An unreachable context is unhealthy too.
    let out = ws
        .qctl()
        .args(["--config", p, "health", "--context", "good,gone"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("gone      unreachable   reachable: refused")
    );
    // In JSON it is an item (every context has a verdict) and an error.
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &["health", "--context", "good,gone", "-o", "json"],
    );
    assert_eq!(code, 5);
    assert_eq!(doc["items"][1]["context"], "gone", "{doc}");
    assert_eq!(doc["items"][1]["healthy"], false);
    assert_eq!(doc["items"][1]["status"], "unreachable");
    assert_eq!(doc["items"][1]["checks"][0]["name"], "reachable");
    assert_eq!(doc["items"][1]["checks"][0]["ok"], false);
    assert_eq!(doc["errors"][0]["context"], "gone");
    // Nothing answered: a failure (1) before a failed check (5).
    let (code, _, _) = run_json(&ws, &cfg, &["health", "--context", "gone", "-o", "json"]);
    assert_eq!(code, 1);
}

#[test]
fn unix_socket_and_insecure_tls() {
    let sock_dir = tempfile::tempdir().unwrap();
    let sock = sock_dir.path().join("redis.sock");
    let s = RedisServer::start_with(ServerOptions {
        extra_args: vec![
            "--unixsocket".into(),
            sock.display().to_string(),
            "--unixsocketperm".into(),
            "700".into(),
        ],
        ..Default::default()
    });
    seed(
        &mut s.conn(),
        &Seed {
            high: 4,
            ..Default::default()
        },
    );
    let tls = RedisServer::start_with(ServerOptions::with_tls(false));
    seed(
        &mut tls.conn(),
        &Seed {
            low: 6,
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                standalone("sock", &format!("unix://{}", sock.display())),
                Ctx {
                    name: "insecure".into(),
                    cluster_yaml: format!("  - name: insecure\n    server: {}\n    tls: {{ insecure-skip-verify: true }}\n", tls.url()),
                    user: None,
                },
            ],
            "",
            "",
        ),
    );
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["items"][0]["queued"], 4);
    assert_eq!(doc["items"][1]["queued"], 6);
    assert!(stderr.contains("insecure-skip-verify"), "{stderr}");
}

#[test]
fn color_always_beats_no_color_and_never_prints_empty_sequences() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: a, server: \"{}\" }}\ncontexts:\n  - {{ name: a, cluster: a, color: red }}\n",
            s.url()
        ),
    );
    // The workspace sets NO_COLOR=1.
    for args in [&["get", "clusters", "-A"][..], &["config", "get-contexts"]] {
        let run = |color: &str| {
            let out = ws
                .qctl()
                .arg("--config")
                .arg(&cfg)
                .args(args)
                .args(["--color", color])
                .output()
                .unwrap();
            assert!(out.status.success(), "{args:?}");
            String::from_utf8(out.stdout).unwrap()
        };
        let always = run("always");
        assert!(
            always.contains("\u{1b}[38;5;9ma"),
            "{args:?}: red: {always:?}"
        );
        assert!(
            !always.contains("\u{1b}[m"),
            "{args:?}: empty sequence: {always:?}"
        );
        for choice in ["never", "auto"] {
            let plain = run(choice);
            assert!(!plain.contains('\u{1b}'), "{args:?} {choice}: {plain:?}");
        }
    }
}

#[test]
fn wide_shows_the_queue_system_of_each_context() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(&[standalone("one", &s.url())], "", ""),
    );
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "clusters", "-A", "-o", "wide"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let mut lines = stdout.lines();
    let header = lines.next().unwrap();
    assert!(header.contains("SYSTEM"), "{header}");
    assert!(
        lines.next().unwrap().contains("go-redis-work-queue"),
        "{stdout}"
    );
}

/// Read connections send AUTH and SELECT with their first commands: the
/// figures still come from the database the URL names, a wrong password is
/// an auth error, and a database the server does not have is an error, not
/// database 0's figures.
#[test]
fn auth_and_select_sent_with_the_first_reads_still_guard_them() {
    let s = RedisServer::start_with(ServerOptions::with_password("s3cret-pw"));
    let mut admin = s.conn();
    // Database 0 holds other jobs than database 3.
    seed(
        &mut admin,
        &Seed {
            high: 50,
            ..Default::default()
        },
    );
    let _: () = redis::cmd("SELECT").arg(3).query(&mut admin).unwrap();
    seed(
        &mut admin,
        &Seed {
            high: 7,
            dlq: 2,
            ..Default::default()
        },
    );
    let base = s.url_with_credentials(None, "s3cret-pw");
    let wrong = s.url_with_credentials(None, "not-it");
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: three, server: \"{base}/3\" }}\n  - {{ name: far, server: \"{base}/99\" }}\n  - {{ name: bad, server: \"{wrong}/3\" }}\ncontexts:\n  - {{ name: three, cluster: three }}\n  - {{ name: far, cluster: far }}\n  - {{ name: bad, cluster: bad }}\n"
        ),
    );
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "three", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["queued"], 7, "{doc}");
    assert_eq!(doc["items"][0]["dead_letter"], 2, "{doc}");
    for verb in [&["get", "queues"][..], &["get", "workers"], &["health"]] {
        let mut a = verb.to_vec();
        a.extend(["--context", "far", "-o", "json"]);
        let (code, doc, _) = run_json(&ws, &cfg, &a);
        assert_ne!(code, 0, "{a:?}: {doc}");
        assert_eq!(doc["errors"][0]["context"], "far", "{a:?}: {doc}");
        assert!(
            doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["queued"] != 50 && i["length"] != 50),
            "{a:?}: database 0's figures: {doc}"
        );
    }
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "bad", "-o", "json"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(doc["errors"][0]["kind"], "auth", "{doc}");
    let all = format!("{doc}{err}");
    assert!(
        !all.contains("not-it") && !all.contains("s3cret-pw"),
        "{all}"
    );
}
