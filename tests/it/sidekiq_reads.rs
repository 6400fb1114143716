//! The read verbs on real Sidekiq deployments: qctl's figures, queues,
//! workers and jobs against what Sidekiq's own API reports (api.rb), plain
//! and namespaced, and a mixed fleet with go-redis-work-queue.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions};
use crate::common::*;

/// A contexts file with one Sidekiq context `sk` on `s` (and a
/// go-redis-work-queue context `go` on `go` when given).
fn sidekiq_contexts(
    ws: &Workspace,
    s: &RedisServer,
    ns: Option<&str>,
    go: Option<&RedisServer>,
) -> std::path::PathBuf {
    let mut y = format!(
        "apiVersion: qctl/v1\nclusters:\n  - {{ name: sk, server: \"{}\" }}\n",
        s.url()
    );
    if let Some(g) = go {
        y.push_str(&format!("  - {{ name: go, server: \"{}\" }}\n", g.url()));
    }
    y.push_str("contexts:\n  - { name: sk, cluster: sk, schema: shop }\n");
    if go.is_some() {
        y.push_str("  - { name: go, cluster: go }\n");
    }
    y.push_str("queue-schemas:\n  - name: shop\n    kind: sidekiq\n");
    if let Some(ns) = ns {
        y.push_str(&format!("    namespace: {ns}\n"));
    }
    ws.write("c.yaml", &y)
}

fn jids_of(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|e| e["jid"].as_str().unwrap().to_string())
        .collect()
}

/// A busy process, one SIGKILLed mid-job (its beat then aged past the
/// stale limit, as 30 s of waiting would), jobs dead, retrying, scheduled
/// and waiting in a queue nobody works.
fn deployment(ns: Option<&str>) -> Option<(RedisServer, Sidekiq, Value)> {
    if !sidekiq::available("sidekiq_reads") {
        return None;
    }
    let server = RedisServer::start();
    let opts = SidekiqOptions {
        concurrency: 3,
        tag: Some("shop".into()),
        namespace: ns.map(String::from),
        ..Default::default()
    };
    let live = Sidekiq::start(&server, opts.clone());
    let mut doomed = Sidekiq::start(
        &server,
        SidekiqOptions {
            queues: vec!["doomed".into()],
            ..opts.clone()
        },
    );
    let api = |args: &[&str]| sidekiq::api(&server, ns, args);
    api(&["enqueue", "SlowJob", "1", "default", "[30]"]);
    api(&["enqueue", "SlowJob", "1", "doomed", "[30]"]);
    api(&["enqueue", "OkJob", "20"]);
    api(&["enqueue", "FailJob", "5", "mail"]);
    api(&["enqueue", "RetryFailJob", "2"]);
    api(&["schedule", "OkJob", "3", "3600"]);
    api(&["enqueue", "OkJob", "7", "idle"]);
    // Both processes busy at a heartbeat, the failures in their sets.
    sidekiq::wait_for_report(&server, ns, Duration::from_secs(30), |r| {
        r["stats"]["dead_size"] == 5
            && r["stats"]["retry_size"] == 2
            && r["workers"].as_array().is_some_and(|w| w.len() == 2)
    });
    let beat_key = doomed.process_key();
    doomed.kill();
    // What 40 s after the kill looks like: the hash still there, its beat
    // old (Sidekiq's hash lives 60 s; qctl calls a process dead after 30).
    let old = (jiff::Timestamp::now().as_second() - 40).to_string();
    server.cli(&["HSET", &beat_key, "beat", &old]);
    let report = sidekiq::report(&server, ns);
    Some((server, live, report))
}

fn check_everything(ns: Option<&str>) {
    let Some((server, live, r)) = deployment(ns) else {
        return;
    };
    let ws = Workspace::new();
    let cfg = sidekiq_contexts(&ws, &server, ns, None);
    let stats = &r["stats"];

    // get clusters: the figures of SPEC 10.2 against Sidekiq::Stats.
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{err}{doc}");
    let c = &doc["items"][0];
    assert_eq!(c["system"], "sidekiq");
    assert_eq!(c["queued"], stats["enqueued"], "{c}\n{r:#}");
    assert_eq!(c["queued"], 7, "{c}");
    assert_eq!(c["scheduled"], stats["scheduled_size"], "{c}");
    assert_eq!(c["retrying"], stats["retry_size"], "{c}");
    assert_eq!(c["dead_letter"], stats["dead_size"], "{c}");
    assert_eq!(c["processed_total"], stats["processed"], "{c}");
    assert_eq!(c["failed_total"], stats["failed"], "{c}");
    // Sidekiq counts the killed process until something prunes it; qctl
    // counts it as orphaned, with the job it held.
    assert_eq!(stats["processes_size"], 2, "{r:#}");
    assert_eq!(c["workers"], 1, "{c}");
    assert_eq!(c["processing"], 1, "{c}");
    assert_eq!(c["orphaned_workers"], 1, "{c}");
    assert_eq!(c["orphaned_jobs"], 1, "{c}");
    assert!(c["completed"].is_null(), "{c}");
    assert!(c["paused_queues"].is_null(), "{c}");
    assert!(
        err.contains("sidekiq keeps no completed jobs") || !err.contains("completed"),
        "{err}"
    );

    // get queues: every queue of SET queues and the three sets.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "queues", "-o", "json", "--context", "sk"],
    );
    assert_eq!(code, 0, "{err}");
    let items = doc["items"].as_array().unwrap();
    for q in r["queues"].as_array().unwrap() {
        let name = q["name"].as_str().unwrap();
        let it = items
            .iter()
            .find(|i| i["queue"] == name && i["state"] == "waiting")
            .unwrap_or_else(|| panic!("queue {name} missing: {doc}"));
        assert_eq!(it["length"], q["size"], "{name}");
        assert_eq!(it["system"], "sidekiq");
        assert!(it["paused"].is_null());
    }
    let set = |state: &str| {
        items
            .iter()
            .find(|i| i["state"] == state)
            .unwrap_or_else(|| panic!("no {state} row: {doc}"))["length"]
            .clone()
    };
    assert_eq!(set("scheduled"), stats["scheduled_size"]);
    assert_eq!(set("retry"), stats["retry_size"]);
    assert_eq!(set("dead"), stats["dead_size"]);
    let idle = items.iter().find(|i| i["queue"] == "idle").unwrap();
    let latency = r["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "idle")
        .unwrap()["latency"]
        .as_f64()
        .unwrap();
    let age = idle["oldest_age_s"].as_f64().unwrap();
    assert!((age - latency).abs() < 5.0, "latency {latency} vs {age}");

    // get workers: one row per process, as ProcessSet sees it.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "workers", "-o", "json", "--context", "sk"],
    );
    assert_eq!(code, 0, "{err}");
    let workers = doc["items"].as_array().unwrap();
    assert_eq!(workers.len(), 2, "{doc}");
    let alive = workers
        .iter()
        .find(|w| w["worker"] == live.identity())
        .unwrap();
    assert_eq!(alive["state"], "active");
    let p = r["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["identity"] == live.identity())
        .unwrap();
    assert_eq!(alive["process"]["hostname"], p["hostname"]);
    assert_eq!(alive["process"]["pid"], p["pid"]);
    assert_eq!(alive["process"]["tag"], "shop");
    assert_eq!(alive["process"]["concurrency"], 3);
    assert_eq!(alive["process"]["quiet"], false);
    let busy: Vec<&Value> = r["workers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["identity"] == live.identity())
        .collect();
    assert_eq!(alive["in_flight"], busy.len() as u64);
    assert_eq!(alive["process"]["busy_jobs"][0], busy[0]["jid"]);
    let dead = workers
        .iter()
        .find(|w| w["worker"] != live.identity())
        .unwrap();
    assert_eq!(dead["state"], "orphaned", "{doc}");
    assert_eq!(dead["in_flight"], 1);

    // get jobs on each set and a queue, against the API's entries.
    let jobs = |q: &str| {
        let (code, doc, err) = run_json(
            &ws,
            &cfg,
            &[
                "get",
                "jobs",
                q,
                "-o",
                "json",
                "--context",
                "sk",
                "-n",
                "100",
            ],
        );
        assert_eq!(code, 0, "{q}: {err}");
        doc["items"].as_array().unwrap().clone()
    };
    let dead_jobs = jobs("dead");
    let mut want = jids_of(r["dead"].as_array().unwrap());
    want.reverse(); // the API lists the newest first; qctl the oldest
    let got: Vec<String> = dead_jobs
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    for j in &dead_jobs {
        assert_eq!(j["state"], "dead");
        assert_eq!(j["name"], "FailJob");
        assert_eq!(j["job_queue"], "mail");
        assert_eq!(j["retries"], 1, "one failed attempt: {j}");
        assert!(
            j["error"]
                .as_str()
                .unwrap()
                .starts_with("QctlFixtureError: qctl fixture failure: FailJob"),
            "{j}"
        );
        assert!(j["failed_at"].is_string());
        assert!(j["valid"].as_bool().unwrap());
    }
    let retry = jobs("retry");
    assert_eq!(
        retry
            .iter()
            .map(|j| j["id"].as_str().unwrap().to_string())
            .collect::<BTreeSet<_>>(),
        jids_of(r["retries"].as_array().unwrap())
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
    assert!(
        retry
            .iter()
            .all(|j| j["run_at"].is_string() && j["state"] == "retry")
    );
    let scheduled = jobs("scheduled");
    assert_eq!(scheduled.len(), 3);
    assert!(
        scheduled
            .iter()
            .all(|j| j["run_at"].is_string() && j["name"] == "OkJob")
    );
    let idle_jobs = jobs("idle");
    let mut want = jids_of(
        &r["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == "idle")
            .unwrap()["jids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| serde_json::json!({"jid": j}))
            .collect::<Vec<_>>(),
    );
    want.reverse(); // position 0 is the next to run
    let got: Vec<String> = idle_jobs
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);

    // The table: generic job columns and the SYSTEM column.
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "jobs", "dead", "--context", "sk"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().next().unwrap().contains("NAME"), "{out}");
    assert!(
        out.contains("FailJob") && out.contains("QctlFixtureError"),
        "{out}"
    );
    drop(live);
}

#[test]
fn figures_queues_workers_and_jobs_match_sidekiqs_own_api() {
    check_everything(None);
}

#[test]
fn a_namespaced_deployment_reads_the_same() {
    check_everything(Some("shop"));
}

#[test]
fn a_mixed_fleet_in_one_table_and_one_compare() {
    if !sidekiq::available("a_mixed_fleet") {
        return;
    }
    let sk_server = RedisServer::start();
    let go = RedisServer::start();
    push_all(
        &mut go.conn(),
        "jobqueue:high_priority",
        &[job("g1"), job("g2")],
    );
    let _sk = Sidekiq::start(&sk_server, SidekiqOptions::default());
    sidekiq::api(&sk_server, None, &["enqueue", "OkJob", "3", "idle"]);
    let ws = Workspace::new();
    let cfg = sidekiq_contexts(&ws, &sk_server, None, Some(&go));
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let by = |ctx: &str| items.iter().find(|i| i["context"] == ctx).unwrap().clone();
    assert_eq!(by("sk")["system"], "sidekiq");
    assert_eq!(by("go")["system"], "go-redis-work-queue");
    assert_eq!(by("sk")["queued"], 3);
    assert_eq!(by("go")["queued"], 2);
    assert!(by("go")["scheduled"].is_null() && by("sk")["scheduled"] == 0);
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "clusters", "-A", "-o", "wide"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("sidekiq") && out.contains("go-redis-work-queue"),
        "{out}"
    );
    // compare: the figures both have, and those only one has, per context.
    let (code, doc, err) = run_json(&ws, &cfg, &["compare", "go", "sk", "-o", "json"]);
    assert!(code == 0 || code == 5, "{err}{doc}");
    let metrics = doc["metrics"].as_array().unwrap();
    let names: Vec<&str> = metrics
        .iter()
        .filter_map(|m| m["metric"].as_str())
        .collect();
    assert!(names.contains(&"queued"), "{names:?}");
    assert!(
        names.contains(&"scheduled"),
        "only sidekiq has it, still compared where it exists: {names:?}"
    );
    assert!(
        !names.contains(&"paused_queues"),
        "neither has it: {names:?}"
    );
}

#[test]
fn sidekiq_schemas_are_checked_and_unbuilt_writes_are_skipped() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let bad = |schema: &str| {
        let cfg = ws.write(
            "bad.yaml",
            &format!(
                "apiVersion: qctl/v1\nclusters:\n  - {{ name: sk, server: \"{}\" }}\ncontexts:\n  - {{ name: sk, cluster: sk, schema: shop }}\nqueue-schemas:\n{schema}",
                s.url()
            ),
        );
        run_raw(&ws, &cfg, &["config", "validate"])
    };
    let (code, _, err) = bad("  - name: shop\n    kind: sidkiq\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean `sidekiq`"), "{err}");
    let (code, _, err) =
        bad("  - name: shop\n    kind: go-redis-work-queue\n    namespace: shop\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("`namespace` is not an option of go-redis-work-queue"),
        "{err}"
    );
    assert!(err.contains(":7:"), "with the schema's line: {err}");
    let (code, _, err) = bad("  - name: shop\n    kind: sidekiq\n    namepsace: shop\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("did you mean `namespace`"), "{err}");
    let (code, _, err) = bad("  - name: shop\n    kind: sidekiq\n    queues: default\n");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("must be a list"), "{err}");

    // A dead set that is a list: that context's error, not a crash.
    s.cli(&["RPUSH", "dead", "x"]);
    let cfg = sidekiq_contexts(&ws, &s, None, None);
    let (code, out, err) = run_raw(&ws, &cfg, &["get", "jobs", "dead", "--context", "sk"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("holds a list"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A broken job is flagged on its row, never fatal.
    s.cli(&["SADD", "queues", "broken"]);
    s.cli(&["LPUSH", "queue:broken", "{not json"]);
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", "broken", "--context", "sk", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["valid"], false);

    // A verb Sidekiq cannot do skips its targets, saying why.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &[
            "requeue",
            "--orphaned",
            "--context",
            "sk",
            "--yes-i-typed=sk",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("not supported by sidekiq"), "{err}");
    // A purge of a dead set that is a list fails that target, untouched.
    let (code, _, err) = run_raw(
        &ws,
        &cfg,
        &["purge-dlq", "--context", "sk", "--yes-i-typed=sk"],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("holds a list"), "{err}");
    assert_eq!(s.cli(&["LLEN", "dead"]).trim(), "1");
}

#[test]
fn pause_and_resume_skip_kinds_without_a_pause_saying_why() {
    let sk = RedisServer::start();
    let go = RedisServer::start();
    let ws = Workspace::new();
    let cfg = sidekiq_contexts(&ws, &sk, None, Some(&go));
    for verb in ["pause", "resume"] {
        let (code, out, err) = run_raw(&ws, &cfg, &[verb, "default", "-A", "--yes-i-typed=sk,go"]);
        assert_eq!(code, 4, "{verb}: {out}{err}");
        assert!(
            err.contains("not supported by sidekiq: Sidekiq OSS has no queue pause"),
            "{err}"
        );
        assert!(
            err.contains("not supported by go-redis-work-queue"),
            "{err}"
        );
        assert!(err.contains("capability table"), "{err}");
    }
    let (code, _, err) = run_raw(&ws, &cfg, &["pause", "-A"]);
    assert_eq!(code, 2, "a queue is required: {err}");
    assert!(
        command_calls(&sk).keys().all(|c| !c.starts_with("set")),
        "nothing written"
    );
}

#[test]
fn completion_offers_sidekiq_queues_and_live_processes_from_redis() {
    let s = RedisServer::start();
    s.cli(&["SADD", "queues", "default", "mailers"]);
    s.cli(&["SADD", "processes", "web-1:42:abc", "web-2:43:def"]);
    let now = jiff::Timestamp::now().as_second().to_string();
    s.cli(&[
        "HSET",
        "web-1:42:abc",
        "info",
        "{\"hostname\":\"web-1\"}",
        "beat",
        &now,
        "busy",
        "0",
        "quiet",
        "false",
    ]);
    // web-2 beat long ago: orphaned, never offered a signal.
    s.cli(&[
        "HSET",
        "web-2:43:def",
        "info",
        "{\"hostname\":\"web-2\"}",
        "beat",
        "1000",
        "busy",
        "0",
        "quiet",
        "false",
    ]);
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: sk, server: \"{}\" }}\ncurrent-context: sk\ncontexts:\n  - {{ name: sk, cluster: sk, schema: shop }}\nqueue-schemas:\n  - name: shop\n    kind: sidekiq\n",
            s.url()
        ),
    );
    let complete = |words: &[&str]| -> Vec<String> {
        let out = ws
            .qctl()
            .env("COMPLETE", "bash")
            .env("QCTL_CONFIG", &cfg)
            .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "false")
            .env("_CLAP_IFS", "\n")
            .arg("--")
            .args(words)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout)
            .split('\n')
            .filter(|l| !l.is_empty() && !l.starts_with('-'))
            .map(String::from)
            .collect()
    };
    let q = complete(&["qctl", "get", "jobs", ""]);
    for want in ["default", "mailers", "dead", "retry", "scheduled"] {
        assert!(q.iter().any(|c| c == want), "{want} in {q:?}");
    }
    assert_eq!(
        complete(&["qctl", "requeue", "--to", "ma"]),
        vec!["mailers"]
    );
    assert_eq!(
        complete(&["qctl", "quiet", "workers", ""]),
        vec!["web-1:42:abc"]
    );
    // A server that does not answer costs the TAB little and offers nothing.
    drop(s);
    let t = std::time::Instant::now();
    assert!(complete(&["qctl", "quiet", "workers", ""]).is_empty());
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
