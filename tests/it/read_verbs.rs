//! `get queues`, `get workers` and `get jobs` against real servers, with
//! data written the way go-redis-work-queue writes it.

use crate::common::*;
use serde_json::Value;

/// A job created `age_s` seconds ago.
fn job_aged(id: &str, age_s: i64, retries: u32) -> String {
    let created = jiff_like_rfc3339(age_s);
    format!(
        r#"{{"id":"{id}","filepath":"/data/{id}","filesize":123,"priority":"high","retries":{retries},"creation_time":"{created}","trace_id":"","span_id":""}}"#
    )
}

/// RFC 3339 UTC time `age_s` seconds ago, from the system clock (no date
/// crate in the tests: `date` does the formatting).
fn jiff_like_rfc3339(age_s: i64) -> String {
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", now_s() - age_s),
            "+%Y-%m-%dT%H:%M:%S.000Z",
        ])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn lpush<C: redis::ConnectionLike>(c: &mut C, key: &str, value: &[u8]) {
    let _: () = redis::cmd("LPUSH").arg(key).arg(value).query(c).unwrap();
}

fn items(doc: &Value) -> &Vec<Value> {
    doc["items"].as_array().expect("items")
}

fn one_context(url: &str) -> String {
    contexts_file(&[standalone("prod", url)], "", "current-context: prod\n")
}

/// The data of `standalone_queues_workers_and_jobs`.
fn seed_mixed<C: redis::ConnectionLike>(c: &mut C, prefix: &str) {
    // high: h-0 pushed first, so it is at the right end: position 0.
    for i in 0..5 {
        lpush(
            c,
            &format!("{prefix}high_priority"),
            job_aged(&format!("h-{i}"), 600 - i * 60, i as u32).as_bytes(),
        );
    }
    for i in 0..3 {
        lpush(
            c,
            &format!("{prefix}completed"),
            job_aged(&format!("c-{i}"), 30, 0).as_bytes(),
        );
    }
    lpush(
        c,
        &format!("{prefix}dead_letter"),
        job_aged("d-0", 120, 3).as_bytes(),
    );
    lpush(c, &format!("{prefix}dead_letter"), b"garbage{not json");
    lpush(
        c,
        &format!("{prefix}dead_letter"),
        &[0xff, 0xfe, 0x00, 0x41],
    );
}

fn seed_workers<C: redis::ConnectionLike>(c: &mut C, p: &str) {
    // w-a: busy and alive; w-b: dead (no heartbeat); w-c: heartbeat only.
    lpush(
        c,
        &format!("{p}worker:w-a:processing"),
        job("a-1").as_bytes(),
    );
    lpush(
        c,
        &format!("{p}worker:w-a:processing"),
        job("a-2").as_bytes(),
    );
    let _: () = redis::cmd("SET")
        .arg(format!("{p}processing:worker:w-a"))
        .arg(job("a-2"))
        .arg("PX")
        .arg(60_000)
        .query(c)
        .unwrap();
    for j in ["b-1", "b-2", "b-3"] {
        lpush(c, &format!("{p}worker:w-b:processing"), job(j).as_bytes());
    }
    let _: () = redis::cmd("SET")
        .arg(format!("{p}processing:worker:w-c"))
        .arg(job("c-9"))
        .arg("PX")
        .arg(60_000)
        .query(c)
        .unwrap();
}

fn assert_workers(doc: &Value, context: &str) {
    let ws: Vec<&Value> = items(doc)
        .iter()
        .filter(|w| w["context"] == context)
        .collect();
    assert_eq!(ws.len(), 3, "{doc:#}");
    assert_eq!(ws[0]["worker"], "w-a");
    assert_eq!(ws[0]["state"], "active");
    assert_eq!(ws[0]["in_flight"], 2);
    let ttl = ws[0]["heartbeat_ttl_ms"].as_i64().unwrap();
    assert!((30_000..=60_000).contains(&ttl), "ttl {ttl}");
    assert_eq!(ws[0]["job_id"], "a-2");
    assert_eq!(ws[1]["worker"], "w-b");
    assert_eq!(ws[1]["state"], "orphaned");
    assert_eq!(ws[1]["in_flight"], 3);
    assert_eq!(ws[1]["heartbeat_ttl_ms"], Value::Null);
    // The job it took last (BRPOPLPUSH pushes on the left).
    assert_eq!(ws[1]["job_id"], "b-3");
    assert_eq!(ws[2]["worker"], "w-c");
    assert_eq!(ws[2]["state"], "active");
    assert_eq!(ws[2]["in_flight"], 0);
    assert_eq!(ws[2]["job_id"], "c-9");
}

#[test]
fn standalone_queues_workers_and_jobs() {
    let s = RedisServer::start();
    let mut c = s.conn();
    seed_mixed(&mut c, "jobqueue:");
    seed_workers(&mut c, "jobqueue:");
    // A stray key of another type under the processing pattern is skipped
    // with a note, never fatal for the context.
    let _: () = redis::cmd("SET")
        .arg("jobqueue:worker:stray:processing")
        .arg("not a list")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg("jobqueue:a-hash")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &one_context(&s.url()));

    // Queues: every queue of the schema, exact lengths, the next job's age.
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "queues", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["kind"], "QueueList");
    let q = items(&doc);
    let rows: Vec<(&str, &str, &str, u64)> = q
        .iter()
        .map(|i| {
            (
                i["queue"].as_str().unwrap(),
                i["key"].as_str().unwrap(),
                i["role"].as_str().unwrap(),
                i["length"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("high", "jobqueue:high_priority", "work", 5),
            ("low", "jobqueue:low_priority", "work", 0),
            ("completed", "jobqueue:completed", "completed", 3),
            ("dead-letter", "jobqueue:dead_letter", "dead-letter", 3),
        ]
    );
    let oldest = q[0]["oldest_age_s"].as_f64().unwrap();
    assert!((595.0..=640.0).contains(&oldest), "oldest {oldest}");
    assert_eq!(q[1]["oldest_age_s"], Value::Null, "empty queue");
    // The DLQ's next job is the valid one pushed first.
    let dlq_age = q[3]["oldest_age_s"].as_f64().unwrap();
    assert!((115.0..=160.0).contains(&dlq_age), "dlq {dlq_age}");
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "queues"])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("CONTEXT"), "{table}");
    assert!(table.contains("jobqueue:high_priority"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("high") && l.contains("10m")),
        "{table}"
    );
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "queues", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "prod/high\nprod/low\nprod/completed\nprod/dead-letter\n"
    );

    // Workers: active, orphaned, heartbeat-only; sorted by id.
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "workers", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["kind"], "WorkerList");
    assert_workers(&doc, "prod");
    assert!(
        stderr.contains("1 keys matching the worker patterns hold another type"),
        "{stderr}"
    );
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["items"][0]["orphaned_workers"], 1);
    let (_, doc, _) = run_json(
        &ws,
        &cfg,
        &["get", "workers", "--state", "orphaned", "-o", "json"],
    );
    assert_eq!(items(&doc).len(), 1);
    assert_eq!(items(&doc)[0]["worker"], "w-b");
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "workers", "--state", "active", "-o", "name"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "prod/w-a\nprod/w-c\n"
    );
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "workers", "-v"])
        .output()
        .unwrap();
    let log = String::from_utf8(out.stderr).unwrap();
    assert!(log.contains("SCAN 0 MATCH jobqueue:* COUNT 10000"), "{log}");
    assert!(!log.contains("KEYS"), "{log}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.contains("w-b") && l.contains("orphaned")),
        "{table}"
    );

    // Jobs: position 0 is the right end; --from-end keeps the numbering.
    let (code, doc, stderr) =
        run_json(&ws, &cfg, &["get", "jobs", "high", "-n", "2", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(doc["kind"], "JobList");
    let j = items(&doc);
    assert_eq!(j.len(), 2);
    assert_eq!(
        (j[0]["position"].as_u64(), j[0]["id"].as_str()),
        (Some(0), Some("h-0"))
    );
    assert_eq!(
        (j[1]["position"].as_u64(), j[1]["id"].as_str()),
        (Some(1), Some("h-1"))
    );
    assert_eq!(j[1]["retries"], 1);
    assert_eq!(j[0]["valid"], true);
    assert_eq!(j[0]["payload"]["filepath"], "/data/h-0");
    assert_eq!(j[0]["payload"]["filesize"], 123);
    let age = j[0]["age_s"].as_f64().unwrap();
    assert!((595.0..=640.0).contains(&age), "age {age}");
    let (_, doc, _) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", "high", "-n", "2", "--from-end", "-o", "json"],
    );
    let j = items(&doc);
    assert_eq!(
        (j[0]["position"].as_u64(), j[0]["id"].as_str()),
        (Some(4), Some("h-4"))
    );
    assert_eq!(
        (j[1]["position"].as_u64(), j[1]["id"].as_str()),
        (Some(3), Some("h-3"))
    );

    // The DLQ by alias: a valid job, raw text and non-UTF-8 bytes, all shown.
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "jobs", "dlq", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let j = items(&doc);
    assert_eq!(j.len(), 3);
    assert_eq!(j[0]["queue"], "dead-letter");
    assert_eq!(j[0]["valid"], true);
    assert_eq!(j[0]["id"], "d-0");
    assert_eq!(j[0]["retries"], 3);
    assert_eq!(j[1]["valid"], false);
    assert_eq!(j[1]["payload"], "garbage{not json");
    assert_eq!(j[1]["id"], Value::Null);
    assert_eq!(j[2]["valid"], false);
    assert_eq!(j[2]["payload"], Value::Null);
    assert_eq!(j[2]["payload_base64"], "//4AQQ==");
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "jobs", "dead-letter"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("(invalid)") && table.contains("garbage{not json"),
        "{table}"
    );

    // A full key; a missing key; a typo; a key of another type.
    let (code, doc, _) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", "jobqueue:completed", "-o", "json"],
    );
    assert_eq!(code, 0);
    assert_eq!(items(&doc).len(), 3);
    assert_eq!(items(&doc)[0]["queue"], "completed");
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &["get", "jobs", "jobqueue:nothing", "-o", "json"],
    );
    assert_eq!(code, 0);
    assert!(items(&doc).is_empty());
    assert!(stderr.contains("does not exist"), "{stderr}");
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "jobs", "hihg"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("did you mean `high`"), "{err}");
    let (code, doc, _) = run_json(&ws, &cfg, &["get", "jobs", "jobqueue:a-hash", "-o", "json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["errors"][0]["kind"], "redis");
    assert!(
        doc["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("hash")
    );
    let (code, doc, _) = run_json(&ws, &cfg, &["get", "jobs", "high", "-n", "0", "-o", "json"]);
    assert_eq!(code, 0);
    assert!(items(&doc).is_empty());
    // Nothing was removed by any of it.
    let len: u64 = redis::cmd("LLEN")
        .arg("jobqueue:high_priority")
        .query(&mut c)
        .unwrap();
    assert_eq!(len, 5);
}

#[test]
fn failing_context_does_not_hide_the_others() {
    let s = RedisServer::start();
    seed_workers(&mut s.conn(), "jobqueue:");
    let closed = ClosedPort::new();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                standalone("down", &format!("redis://{}", closed.addr())),
                standalone("up", &s.url()),
            ],
            "",
            "",
        ),
    );
    for verb in [
        &["get", "queues"][..],
        &["get", "workers"],
        &["get", "jobs", "high"],
    ] {
        let mut args = verb.to_vec();
        args.extend(["-A", "-o", "json"]);
        let (code, doc, _) = run_json(&ws, &cfg, &args);
        assert_eq!(code, 3, "{args:?}: partial");
        assert_eq!(doc["errors"][0]["context"], "down");
        assert_eq!(doc["errors"][0]["kind"], "refused");
    }
    let (_, doc, _) = run_json(&ws, &cfg, &["get", "workers", "-A", "-o", "json"]);
    assert_workers(&doc, "up");
}

#[test]
fn workers_over_several_scan_pages_and_batches() {
    let s = RedisServer::start();
    let mut c = s.conn();
    // 3,000 busy workers (every third orphaned) among 12,000 other keys:
    // more than one pipelined batch, and several SCAN pages.
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        let w = format!("w{i:05}");
        pipe.cmd("LPUSH")
            .arg(format!("jobqueue:worker:{w}:processing"))
            .arg(job(&format!("j{i}")))
            .ignore();
        if i % 3 != 0 {
            pipe.cmd("SET")
                .arg(format!("jobqueue:processing:worker:{w}"))
                .arg(job(&format!("j{i}")))
                .arg("PX")
                .arg(600_000)
                .ignore();
        }
    }
    for i in 0..12_000 {
        pipe.cmd("SET")
            .arg(format!("session:{i}"))
            .arg("x")
            .ignore();
    }
    let _: () = pipe.query(&mut c).unwrap();
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", &one_context(&s.url()));
    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "workers", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let all = items(&doc);
    assert_eq!(all.len(), 3000);
    let orphaned: Vec<&Value> = all.iter().filter(|w| w["state"] == "orphaned").collect();
    assert_eq!(orphaned.len(), 1000);
    assert!(orphaned.iter().all(|w| w["heartbeat_ttl_ms"].is_null()));
    assert_eq!(all[0]["worker"], "w00000");
    assert_eq!(all[0]["state"], "orphaned");
    assert_eq!(all[0]["job_id"], "j0");
    assert_eq!(all[1]["state"], "active");
    assert_eq!(all[1]["job_id"], "j1");
    assert!(all.iter().all(|w| w["in_flight"] == 1));
    // The figures agree.
    let (_, doc, _) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(doc["items"][0]["workers"], 2000);
    assert_eq!(doc["items"][0]["orphaned_workers"], 1000);
}

#[test]
fn redis_cluster_default_and_hash_tagged_schemas() {
    let cluster = RedisCluster::start();
    let mut c = cluster.conn();
    // The default keys spread over the primaries; the tagged ones share a
    // slot, the way a deployment that BRPOPLPUSHes across keys needs.
    seed_mixed(&mut c, "jobqueue:");
    seed_workers(&mut c, "jobqueue:");
    seed_mixed(&mut c, "{jq}:");
    seed_workers(&mut c, "{jq}:");
    let mut extra_workers = redis::pipe();
    for i in 0..60 {
        extra_workers
            .cmd("LPUSH")
            .arg(format!("jobqueue:worker:x{i:02}:processing"))
            .arg(job(&format!("x{i}")))
            .ignore();
    }
    for cmd in extra_workers.cmd_iter() {
        let _: () = cmd.query(&mut c).unwrap();
    }
    let ws = Workspace::new();
    let seeds = cluster.seed_urls();
    let yaml = format!(
        r#"apiVersion: qctl/v1
clusters:
  - name: eu
    mode: cluster
    nodes: [{seed}]
contexts:
  - name: eu-default
    cluster: eu
  - name: eu-tagged
    cluster: eu
    schema: tagged
queue-schemas:
  - name: tagged
    kind: go-redis-work-queue
    queues: {{ high: "{{jq}}:high_priority", low: "{{jq}}:low_priority" }}
    completed: "{{jq}}:completed"
    dead-letter: "{{jq}}:dead_letter"
    processing-pattern: "{{jq}}:worker:*:processing"
    heartbeat-pattern: "{{jq}}:processing:worker:*"
"#,
        seed = seeds[0]
    );
    let cfg = ws.write("c.yaml", &yaml);

    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "queues", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let lens: Vec<(String, String, u64)> = items(&doc)
        .iter()
        .map(|i| {
            (
                i["context"].as_str().unwrap().to_string(),
                i["key"].as_str().unwrap().to_string(),
                i["length"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lens.len(), 8);
    assert_eq!(
        lens[0],
        ("eu-default".into(), "jobqueue:high_priority".into(), 5)
    );
    assert_eq!(
        lens[3],
        ("eu-default".into(), "jobqueue:dead_letter".into(), 3)
    );
    assert_eq!(
        lens[4],
        ("eu-tagged".into(), "{jq}:high_priority".into(), 5)
    );
    assert_eq!(lens[6], ("eu-tagged".into(), "{jq}:completed".into(), 3));

    let (code, doc, stderr) = run_json(&ws, &cfg, &["get", "workers", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let tagged = serde_json::json!({
        "items": items(&doc).iter().filter(|w| w["context"] == "eu-tagged").cloned().collect::<Vec<_>>()
    });
    assert_workers(&tagged, "eu-tagged");
    let default: Vec<&Value> = items(&doc)
        .iter()
        .filter(|w| w["context"] == "eu-default")
        .collect();
    assert_eq!(default.len(), 63);
    assert_eq!(
        default.iter().filter(|w| w["state"] == "orphaned").count(),
        61
    );

    for ctx in ["eu-default", "eu-tagged"] {
        let (code, doc, stderr) = run_json(
            &ws,
            &cfg,
            &[
                "--context",
                ctx,
                "get",
                "jobs",
                "high",
                "-n",
                "3",
                "--from-end",
                "-o",
                "json",
            ],
        );
        assert_eq!(code, 0, "{stderr}");
        let j = items(&doc);
        let got: Vec<(u64, &str)> = j
            .iter()
            .map(|i| (i["position"].as_u64().unwrap(), i["id"].as_str().unwrap()))
            .collect();
        assert_eq!(got, vec![(4, "h-4"), (3, "h-3"), (2, "h-2")], "{ctx}");
        let (_, doc, _) = run_json(
            &ws,
            &cfg,
            &["--context", ctx, "get", "jobs", "dlq", "-o", "json"],
        );
        assert_eq!(items(&doc).len(), 3, "{ctx}");
        assert_eq!(items(&doc)[2]["payload_base64"], "//4AQQ==");
    }
}

#[test]
fn a_slow_fan_out_names_who_is_left_on_a_terminal_only() {
    // One context answers at once, one never does: after a moment a
    // spinner on stderr says who is left; off a terminal, or with -q,
    // nothing but results.
    let ok = RedisServer::start();
    let stuck = BlackHole::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                standalone("fast", &ok.url()),
                standalone("stuck", &format!("redis://127.0.0.1:{}", stuck.port)),
            ],
            "",
            "",
        ),
    );
    let cmdline = |extra: &str| {
        format!(
            "{} --config {} get queues -A --timeout 2s{extra}",
            crate::common::workspace::qctl_bin().display(),
            cfg.display()
        )
    };
    let on_terminal = |extra: &str| {
        let out = ws
            .on_pty(&cmdline(extra))
            .env("TERM", "xterm")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, text) = on_terminal("");
    assert_eq!(code, Some(3), "{text}");
    assert!(
        text.contains("reading: 1/2 contexts done; left: stuck"),
        "no spinner naming the stuck context: {text}"
    );
    assert!(text.contains("fast"), "{text}");
    let (code, text) = on_terminal(" -q");
    assert_eq!(code, Some(3), "{text}");
    assert!(!text.contains("contexts done"), "-q shows progress: {text}");
    let (code, _, stderr) = run_raw(&ws, &cfg, &["get", "queues", "-A", "--timeout", "2s"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(!stderr.contains("contexts done"), "{stderr}");
}
