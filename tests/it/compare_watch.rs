//! `qctl compare`, `--sample` rates and `--watch`, against real servers.
//!
//! Covers the required tests: compare figures and exit codes for
//! identical, drifted and depth-only contexts; `--sample` rates while a
//! worker fleet completes jobs at a known pace; cluster mode for each verb;
//! `--watch -o json` emitting polls and stopping on SIGINT / SIGTERM.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

/// The figures every identical context below is seeded with.
fn same_seed(prefix: &str) -> Seed {
    Seed {
        high: 12,
        low: 7,
        dlq: 3,
        completed: 20,
        live: workers(prefix, 3, 1),
        orphans: workers(&format!("{prefix}-dead"), 1, 2),
    }
}

/// The metric names of the default schema, in document order.
const METRICS: [&str; 8] = [
    "queued.high",
    "queued.low",
    "queued",
    "processing",
    "dead_letter",
    "completed",
    "workers.active",
    "workers.orphaned",
];

/// A context entry for [`config_file`]: (name, server URL, schema).
struct Entry<'a> {
    name: &'a str,
    url: String,
    schema: Option<&'a str>,
}

fn entry<'a>(name: &'a str, url: &str) -> Entry<'a> {
    Entry {
        name,
        url: url.to_string(),
        schema: None,
    }
}

/// A contexts file with one standalone cluster per entry, in the given
/// (file) order; `extra` goes after `apiVersion`, `schemas` at the end.
fn config_file(entries: &[Entry], extra: &str, schemas: &str) -> String {
    let mut s = format!("apiVersion: qctl/v1\n{extra}clusters:\n");
    for e in entries {
        s.push_str(&format!("  - name: {}\n    server: {}\n", e.name, e.url));
    }
    s.push_str("contexts:\n");
    for e in entries {
        s.push_str(&format!("  - name: {}\n    cluster: {}\n", e.name, e.name));
        if let Some(schema) = e.schema {
            s.push_str(&format!("    schema: {schema}\n"));
        }
    }
    s.push_str(schemas);
    s
}

/// Runs qctl; (exit code, stdout, stderr).
fn run(ws: &Workspace, cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = ws
        .qctl()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().expect("qctl exited normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The metric row named `name` of a Comparison.
fn metric<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == name)
        .unwrap_or_else(|| panic!("no metric {name} in {doc:#}"))
}

/// The cell of `context` in metric `name`.
fn cell<'a>(doc: &'a Value, name: &str, context: &str) -> &'a Value {
    metric(doc, name)["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["context"] == context)
        .unwrap_or_else(|| panic!("no {context} cell in metric {name}: {doc:#}"))
}

fn metric_names(doc: &Value) -> Vec<String> {
    doc["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap().to_string())
        .collect()
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

fn f64_in(v: &Value, lo: f64, hi: f64, what: &str) -> f64 {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: not a number: {v}"));
    assert!(lo <= x && x <= hi, "{what} = {x}, expected in {lo}..={hi}");
    x
}

/// `LPUSH key job(prefix-0) .. job(prefix-{n-1})` in one command.
fn push_jobs<C: redis::ConnectionLike>(c: &mut C, key: &str, prefix: &str, n: usize) {
    let mut cmd = redis::cmd("LPUSH");
    cmd.arg(key);
    for i in 0..n {
        cmd.arg(job(&format!("{prefix}-{i}")));
    }
    let _: i64 = cmd.query(c).unwrap();
}

// ------------------------------------------------------------ worker fleet

/// A worker fleet simulated from a thread: every 50 ms it takes the next job
/// from `jobqueue:high_priority` the way a worker does (into its processing
/// list, with a heartbeat) and completes it (≈20 jobs/s); every fourth tick
/// (every 200 ms) it takes one more and dead-letters it (≈5 jobs/s). So the
/// work queues drain at ≈25 jobs/s. The schedule is absolute, so a late
/// tick is caught up and the long-run pace stays exact.
struct Fleet {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(u64, u64)>>,
}

const TICK: Duration = Duration::from_millis(50);

impl Fleet {
    fn start<C: redis::ConnectionLike + Send + 'static>(mut conn: C, id: &str) -> Fleet {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let processing = format!("jobqueue:worker:{id}:processing");
        let heartbeat = format!("jobqueue:processing:worker:{id}");
        let handle = thread::Builder::new()
            .name(format!("fleet-{id}"))
            .spawn(move || {
                let start = Instant::now();
                let (mut completed, mut dead) = (0u64, 0u64);
                let take = |c: &mut C, to: &str| -> bool {
                    let j: Option<String> = redis::cmd("RPOP")
                        .arg("jobqueue:high_priority")
                        .query(c)
                        .unwrap();
                    let Some(j) = j else { return false };
                    let _: i64 = redis::cmd("LPUSH")
                        .arg(&processing)
                        .arg(&j)
                        .query(c)
                        .unwrap();
                    let _: () = redis::cmd("SET")
                        .arg(&heartbeat)
                        .arg(&j)
                        .arg("PX")
                        .arg(5000)
                        .query(c)
                        .unwrap();
                    let _: i64 = redis::cmd("LPUSH").arg(to).arg(&j).query(c).unwrap();
                    let _: i64 = redis::cmd("LREM")
                        .arg(&processing)
                        .arg(1)
                        .arg(&j)
                        .query(c)
                        .unwrap();
                    true
                };
                let mut n: u32 = 0;
                loop {
                    let at = start + TICK * n;
                    let now = Instant::now();
                    if at > now {
                        thread::sleep(at - now);
                    }
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    if take(&mut conn, "jobqueue:completed") {
                        completed += 1;
                    }
                    if n % 4 == 3 && take(&mut conn, "jobqueue:dead_letter") {
                        dead += 1;
                    }
                    n += 1;
                }
                (completed, dead)
            })
            .unwrap();
        Fleet {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the fleet; (jobs completed, jobs dead-lettered).
    fn stop(mut self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().expect("fleet thread")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ------------------------------------------------------------------- watch

/// `qctl` as a std Command (spawnable), stdout and stderr piped.
fn qctl_command(ws: &Workspace, cfg: &Path, args: &[&str]) -> Command {
    let mut cmd = ws.qctl_std();
    cmd.arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A running `qctl ... --watch`: its stdout lines arrive on a channel.
struct Watch {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<JoinHandle<String>>,
    started: Instant,
    /// Every line read so far.
    seen: Vec<String>,
}

impl Watch {
    fn spawn(ws: &Workspace, cfg: &Path, args: &[&str]) -> Watch {
        let started = Instant::now();
        let mut child = qctl_command(ws, cfg, args).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        Watch {
            child,
            lines,
            stderr: Some(stderr),
            started,
            seen: Vec::new(),
        }
    }

    /// Reads NDJSON lines until `done` holds for the polls read so far;
    /// panics (after killing qctl) when `timeout` passes first.
    fn polls_until(&mut self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut polls: Vec<Value> = Vec::new();
        loop {
            if done(&polls) {
                return polls;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                        let _ = self.child.kill();
                        panic!("a watch line is not one JSON object ({e}): {line:?}")
                    });
                    assert!(v.is_object(), "{line}");
                    self.seen.push(line);
                    polls.push(v);
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let err = self.stderr.take().unwrap().join().unwrap_or_default();
                    panic!(
                        "watch did not deliver the expected polls within {timeout:?}; got:\n{}\nstderr:\n{err}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Reads raw lines (table output) until `done` holds for them.
    fn lines_until(&mut self, timeout: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.seen) {
                return self.seen.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let err = self.stderr.take().unwrap().join().unwrap_or_default();
                    panic!(
                        "watch did not print the expected lines within {timeout:?}; got:\n{}\nstderr:\n{err}",
                        self.seen.join("\n")
                    );
                }
            }
        }
    }

    /// Sends `sig` and waits (up to 5 s) for qctl to exit; (status, stderr).
    fn signal(mut self, sig: libc::c_int) -> (std::process::ExitStatus, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("qctl --watch did not exit within 5s of signal {sig}");
            }
            thread::sleep(Duration::from_millis(20));
        };
        let err = self.stderr.take().unwrap().join().unwrap_or_default();
        (status, err)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How many polls of each context.
fn per_context(polls: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for p in polls {
        *m.entry(p["context"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    m
}

fn at_least(polls: &[Value], contexts: &[&str], n: usize) -> bool {
    let m = per_context(polls);
    contexts
        .iter()
        .all(|c| m.get(*c).copied().unwrap_or(0) >= n)
}

/// The shape every poll line shares.
fn assert_poll_shape(p: &Value, kind: &str) {
    assert_eq!(p["apiVersion"], "qctl/v1", "{p}");
    assert_eq!(p["kind"], kind, "{p}");
    let t = p["time"].as_str().unwrap_or_else(|| panic!("time: {p}"));
    assert!(
        t.len() >= 20 && t.as_bytes()[4] == b'-' && t.contains('T') && t.ends_with('Z'),
        "RFC 3339 UTC time: {t}"
    );
    assert!(p["items"].is_array(), "{p}");
    assert!(p["errors"].is_array(), "{p}");
    let ctx = &p["context"];
    for item in p["items"].as_array().unwrap() {
        assert_eq!(&item["context"], ctx, "items carry their context: {p}");
    }
}

/// `key -> length` of a QueueList poll.
fn lengths(p: &Value) -> Vec<(String, u64)> {
    p["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["queue"].as_str().unwrap().to_string(),
                i["length"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn queues(high: u64, low: u64, completed: u64, dlq: u64) -> Vec<(String, u64)> {
    vec![
        ("high".into(), high),
        ("low".into(), low),
        ("completed".into(), completed),
        ("dead-letter".into(), dlq),
    ]
}

// ------------------------------------------------------------------- tests

#[test]
fn identical_contexts_have_zero_deltas_no_anomalies_no_drift() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    seed(&mut a.conn(), &same_seed("wa"));
    seed(&mut b.conn(), &same_seed("wb"));
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(&[entry("east", &a.url()), entry("west", &b.url())], "", ""),
    );

    let (code, out, stderr) = run(&ws, &cfg, &["compare", "east", "west", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["apiVersion"], "qctl/v1");
    assert_eq!(doc["kind"], "Comparison");
    assert_eq!(doc["baseline"], "east");
    assert_eq!(strings(&doc["contexts"]), vec!["east", "west"]);
    assert_eq!(doc["threshold_percent"], 10.0, "default threshold");
    assert!(doc["sample_s"].is_null(), "no --sample: {doc:#}");
    assert_eq!(metric_names(&doc), METRICS);
    for (m, group) in METRICS.iter().zip([
        "jobs", "jobs", "jobs", "jobs", "jobs", "jobs", "workers", "workers",
    ]) {
        assert_eq!(metric(&doc, m)["group"], group, "{m}");
    }
    // 12 high + 7 low queued; 3 live workers with 1 job + 1 dead one with 2.
    let expected = [12, 7, 19, 3 + 2, 3, 20, 3, 1];
    for (m, want) in METRICS.iter().zip(expected) {
        let cells = metric(&doc, m)["values"].as_array().unwrap();
        assert_eq!(cells.len(), 2, "{m}");
        assert_eq!(
            cells[0],
            json!({"context": "east", "value": want, "delta": null,
                   "delta_percent": null, "beyond_threshold": false}),
            "{m}: the baseline carries no delta"
        );
        assert_eq!(cells[1]["context"], "west");
        assert_eq!(cells[1]["value"], want, "{m}");
        assert!(cells[1]["value"].is_u64(), "counts stay counts: {m}");
        assert_eq!(cells[1]["delta"], 0, "{m}");
        assert_eq!(cells[1]["delta_percent"], 0.0, "{m}");
        assert!(cells[1]["delta_percent"].is_f64(), "{m}");
        assert_eq!(cells[1]["beyond_threshold"], false, "{m}");
    }
    assert_eq!(doc["anomalies"], json!([]));
    assert_eq!(doc["drift"], json!([]));
    assert_eq!(doc["errors"], json!([]));
    let servers = doc["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2);
    for (s, name) in servers.iter().zip(["east", "west"]) {
        assert_eq!(s["context"], name);
        assert_eq!(s["mode"], "standalone");
        assert!(s["redis_version"].as_str().unwrap().contains('.'), "{s}");
        assert_eq!(s["maxmemory"], "0");
        assert_eq!(s["maxmemory_policy"], "noeviction");
        assert_eq!(s["appendonly"], "no");
        assert_eq!(s["save"], "", "the harness starts servers with --save \"\"");
        assert_eq!(s["schema"], "default");
    }

    // Identical contexts pass --exit-code and --fail-on-anomaly.
    for flag in ["--exit-code", "--fail-on-anomaly"] {
        let (code, _, stderr) = run(&ws, &cfg, &["compare", "east", "west", flag]);
        assert_eq!(code, 0, "{flag}: {stderr}");
    }

    // The table: a baseline column, group titles, rows with deltas.
    let (code, table, stderr) = run(&ws, &cfg, &["compare", "east", "west"]);
    assert_eq!(code, 0, "{stderr}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("FIGURE")
            && lines[0].contains("east (baseline)")
            && lines[0].contains("west")
            && !lines[0].contains("west (baseline)"),
        "{table}"
    );
    let row = |label: &str| -> &str {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no row {label:?} in\n{table}"))
    };
    assert!(row("JOBS").trim() == "JOBS", "{table}");
    assert!(row("WORKERS").trim() == "WORKERS", "{table}");
    let queued = row("queued (all)");
    assert!(
        queued.contains("19") && queued.contains("19 (+0, +0.0%)"),
        "{queued}"
    );
    assert!(row("queued high").contains("12 (+0, +0.0%)"), "{table}");
    assert!(row("dead-letter").contains("3 (+0, +0.0%)"), "{table}");
    assert!(row("active").contains("3 (+0, +0.0%)"), "{table}");
    assert!(row("orphaned").contains("1 (+0, +0.0%)"), "{table}");
    assert!(row("maxmemory-policy").contains("noeviction"), "{table}");
    assert!(!table.contains("(drift)"), "{table}");
    assert!(table.contains("Anomalies: none"), "{table}");
    assert!(table.contains("Drift: none"), "{table}");
}

#[test]
fn configuration_drift_fails_exit_code_and_is_named() {
    let base = RedisServer::start();
    let with = |args: &[&str]| {
        RedisServer::start_with(ServerOptions {
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    };
    let lru = with(&["--maxmemory-policy", "allkeys-lru"]);
    let aof = with(&["--appendonly", "yes"]);
    let snap = with(&["--save", "900 1"]);
    let capped = with(&["--maxmemory", "64mb"]);
    for (s, p) in [
        (&base, "b"),
        (&lru, "l"),
        (&aof, "a"),
        (&snap, "s"),
        (&capped, "c"),
    ] {
        seed(&mut s.conn(), &same_seed(p));
    }
    let ws = Workspace::new();
    let schemas = "queue-schemas:
  - name: alt
    kind: go-redis-work-queue
    queues: { high: \"jobqueue:high_priority\", low: \"jobqueue:low_priority\" }
    completed: \"jobqueue:completed\"
    dead-letter: \"jobqueue:failed\"
    processing-pattern: \"jobqueue:worker:*:processing\"
    heartbeat-pattern: \"jobqueue:processing:worker:*\"
  - name: copy
    kind: go-redis-work-queue
    queues: { high: \"jobqueue:high_priority\", low: \"jobqueue:low_priority\" }
    completed: \"jobqueue:completed\"
    dead-letter: \"jobqueue:dead_letter\"
    processing-pattern: \"jobqueue:worker:*:processing\"
    heartbeat-pattern: \"jobqueue:processing:worker:*\"
";
    let cfg = ws.write(
        "c.yaml",
        &config_file(
            &[
                entry("base", &base.url()),
                entry("lru", &lru.url()),
                entry("aof", &aof.url()),
                entry("snap", &snap.url()),
                entry("capped", &capped.url()),
                Entry {
                    name: "alt",
                    url: base.url(),
                    schema: Some("alt"),
                },
                Entry {
                    name: "copy",
                    url: base.url(),
                    schema: Some("copy"),
                },
            ],
            "",
            schemas,
        ),
    );

    // maxmemory-policy alone: exit 5 with --exit-code, 0 without.
    let (code, out, stderr) = run(
        &ws,
        &cfg,
        &["compare", "base", "lru", "-o", "json", "--exit-code"],
    );
    assert_eq!(code, 5, "drift fails --exit-code: {stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["drift"],
        json!([{
            "field": "maxmemory-policy",
            "baseline": "noeviction",
            "values": {"base": "noeviction", "lru": "allkeys-lru"},
            "differs": ["lru"]
        }]),
        "{doc:#}"
    );
    assert_eq!(doc["anomalies"], json!([]), "same figures");
    assert_eq!(doc["servers"][1]["maxmemory_policy"], "allkeys-lru");
    let (code, _, stderr) = run(&ws, &cfg, &["compare", "base", "lru", "-o", "json"]);
    assert_eq!(code, 0, "drift without --exit-code is exit 0: {stderr}");
    // The other way round, the baseline is lru and base differs.
    let (code, out, _) = run(
        &ws,
        &cfg,
        &["compare", "lru", "base", "-o", "json", "--exit-code"],
    );
    assert_eq!(code, 5);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["drift"][0]["baseline"], "allkeys-lru");
    assert_eq!(doc["drift"][0]["differs"], json!(["base"]));

    // Every server setting at once, in the documented field order.
    let (code, out, stderr) = run(
        &ws,
        &cfg,
        &[
            "compare",
            "base",
            "lru",
            "aof",
            "snap",
            "capped",
            "-o",
            "json",
            "--exit-code",
        ],
    );
    assert_eq!(code, 5, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let fields: Vec<&str> = doc["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["maxmemory", "maxmemory-policy", "appendonly", "save"],
        "{doc:#}"
    );
    let drift = |f: &str| -> &Value {
        doc["drift"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["field"] == f)
            .unwrap()
    };
    assert_eq!(drift("maxmemory")["baseline"], "0");
    assert_eq!(drift("maxmemory")["differs"], json!(["capped"]));
    assert_eq!(drift("maxmemory")["values"]["capped"], "67108864");
    assert_eq!(drift("maxmemory")["values"]["lru"], "0");
    assert_eq!(drift("maxmemory-policy")["differs"], json!(["lru"]));
    assert_eq!(drift("appendonly")["baseline"], "no");
    assert_eq!(drift("appendonly")["differs"], json!(["aof"]));
    assert_eq!(drift("appendonly")["values"]["aof"], "yes");
    assert_eq!(drift("save")["baseline"], "");
    assert_eq!(drift("save")["differs"], json!(["snap"]));
    assert_eq!(drift("save")["values"]["snap"], "900 1");
    assert_eq!(
        drift("save")["values"].as_object().unwrap().len(),
        5,
        "every context's value: {doc:#}"
    );
    assert_eq!(doc["anomalies"], json!([]), "{doc:#}");
    // -o name lists the contexts that stand out, in column order.
    let (code, names, _) = run(
        &ws,
        &cfg,
        &[
            "compare", "base", "lru", "aof", "snap", "capped", "-o", "name",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(names, "lru\naof\nsnap\ncapped\n");
    // The table marks drifted values and spells the drift out.
    let (code, table, _) = run(&ws, &cfg, &["compare", "base", "lru", "aof"]);
    assert_eq!(code, 0);
    assert!(table.contains("allkeys-lru (drift)"), "{table}");
    assert!(table.contains("yes (drift)"), "{table}");
    assert!(
        table.contains("maxmemory-policy: lru has allkeys-lru, the baseline noeviction"),
        "{table}"
    );
    assert!(
        table.contains("appendonly: aof has yes, the baseline no"),
        "{table}"
    );
    // Sizes print as the table prints them, and say they are per node.
    let (code, table, _) = run(&ws, &cfg, &["compare", "base", "capped", "snap"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("maxmemory (per node): capped has 64.0MiB, the baseline unlimited"),
        "{table}"
    );
    assert!(
        table.contains("save: snap has 900 1, the baseline \"\""),
        "{table}"
    );
    assert!(!table.contains("67108864"), "{table}");
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("maxmemory (per node)"))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(
        row.contains("unlimited") && row.contains("64.0MiB (drift)"),
        "{row}"
    );
    // -o wide adds what get clusters -o wide shows: the system, maxmemory
    // and memory summed over the primaries (one primary here), the endpoint.
    let (code, wide, _) = run(&ws, &cfg, &["compare", "base", "capped", "-o", "wide"]);
    assert_eq!(code, 0);
    for label in [
        "system",
        "maxmemory (summed over primaries)",
        "memory (summed over primaries)",
        "endpoint",
    ] {
        assert!(
            wide.lines().any(|l| l.trim_start().starts_with(label)),
            "no {label:?} in\n{wide}"
        );
        assert!(
            !table.lines().any(|l| l.trim_start().starts_with(label)),
            "{label:?} only with -o wide"
        );
    }
    assert!(wide.contains("go-redis-work-queue"), "{wide}");
    assert!(wide.contains(&capped.url()), "{wide}");

    // Queue-schema drift: same server, a different dead-letter key.
    let (code, out, stderr) = run(
        &ws,
        &cfg,
        &["compare", "base", "alt", "-o", "json", "--exit-code"],
    );
    assert_eq!(code, 5, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let workers =
        "workers=processing=jobqueue:worker:*:processing heartbeat=jobqueue:processing:worker:*";
    assert_eq!(
        doc["drift"],
        json!([{
            "field": "queue-schema",
            "baseline": format!("high=jobqueue:high_priority low=jobqueue:low_priority completed=jobqueue:completed dead-letter=jobqueue:dead_letter {workers}"),
            "values": {
                "base": format!("high=jobqueue:high_priority low=jobqueue:low_priority completed=jobqueue:completed dead-letter=jobqueue:dead_letter {workers}"),
                "alt": format!("high=jobqueue:high_priority low=jobqueue:low_priority completed=jobqueue:completed dead-letter=jobqueue:failed {workers}"),
            },
            "differs": ["alt"]
        }]),
        "{doc:#}"
    );
    assert_eq!(doc["servers"][0]["schema"], "default");
    assert_eq!(doc["servers"][1]["schema"], "alt");
    // alt reads an empty dead-letter list: a figure differs too.
    assert_eq!(cell(&doc, "dead_letter", "alt")["value"], 0);
    assert_eq!(cell(&doc, "dead_letter", "alt")["delta"], -3);
    assert_eq!(cell(&doc, "dead_letter", "alt")["delta_percent"], -100.0);
    // A schema with another name but the same keys is no drift.
    let (code, out, stderr) = run(
        &ws,
        &cfg,
        &["compare", "base", "copy", "-o", "json", "--exit-code"],
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["drift"], json!([]), "{doc:#}");
    assert_eq!(doc["anomalies"], json!([]), "{doc:#}");
}

#[test]
fn depth_only_differences_are_anomalies_not_drift() {
    let shallow = RedisServer::start();
    let deep = RedisServer::start();
    let empty = RedisServer::start();
    let base = Seed {
        high: 100,
        low: 10,
        dlq: 5,
        completed: 50,
        ..Default::default()
    };
    seed(
        &mut shallow.conn(),
        &Seed {
            live: workers("s", 2, 1),
            ..base
        },
    );
    seed(
        &mut deep.conn(),
        &Seed {
            high: 130,
            low: 10,
            dlq: 5,
            completed: 50,
            live: workers("d", 2, 1),
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    // File order: deep, shallow, empty. The baseline is the first *named*.
    let entries = [
        entry("deep", &deep.url()),
        entry("shallow", &shallow.url()),
        entry("empty", &empty.url()),
    ];
    let cfg = ws.write("c.yaml", &config_file(&entries, "", ""));

    let (code, out, stderr) = run(
        &ws,
        &cfg,
        &["compare", "shallow", "deep", "-o", "json", "--exit-code"],
    );
    assert_eq!(code, 0, "depth alone never fails --exit-code: {stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "shallow");
    assert_eq!(strings(&doc["contexts"]), vec!["shallow", "deep"]);
    assert_eq!(
        cell(&doc, "queued.high", "deep"),
        &json!({"context": "deep", "value": 130, "delta": 30,
                "delta_percent": 30.0, "beyond_threshold": true})
    );
    assert_eq!(
        cell(&doc, "queued", "deep"),
        &json!({"context": "deep", "value": 140, "delta": 30,
                "delta_percent": 27.27, "beyond_threshold": true})
    );
    for m in [
        "queued.low",
        "processing",
        "dead_letter",
        "completed",
        "workers.active",
    ] {
        let c = cell(&doc, m, "deep");
        assert_eq!(c["delta"], 0, "{m}");
        assert_eq!(c["delta_percent"], 0.0, "{m}");
        assert_eq!(c["beyond_threshold"], false, "{m}");
    }
    // 0 vs 0: delta 0, no percentage (the baseline is 0), not beyond.
    assert_eq!(
        cell(&doc, "workers.orphaned", "deep"),
        &json!({"context": "deep", "value": 0, "delta": 0,
                "delta_percent": null, "beyond_threshold": false})
    );
    assert_eq!(
        doc["anomalies"],
        json!([
            {"metric": "queued.high", "context": "shallow", "value": 100,
             "mean_of_others": 130, "deviation_percent": -23.08},
            {"metric": "queued.high", "context": "deep", "value": 130,
             "mean_of_others": 100, "deviation_percent": 30.0},
            {"metric": "queued", "context": "shallow", "value": 110,
             "mean_of_others": 140, "deviation_percent": -21.43},
            {"metric": "queued", "context": "deep", "value": 140,
             "mean_of_others": 110, "deviation_percent": 27.27},
        ]),
        "{doc:#}"
    );
    assert_eq!(doc["drift"], json!([]));

    // --fail-on-anomaly makes them count.
    let (code, _, stderr) = run(
        &ws,
        &cfg,
        &["compare", "shallow", "deep", "--fail-on-anomaly"],
    );
    assert_eq!(code, 5, "{stderr}");
    let (code, _, _) = run(
        &ws,
        &cfg,
        &[
            "compare",
            "shallow",
            "deep",
            "--exit-code",
            "--fail-on-anomaly",
        ],
    );
    assert_eq!(code, 5);

    // A wider threshold: nothing beyond it, nothing anomalous, exit 0.
    let (code, out, stderr) = run(
        &ws,
        &cfg,
        &[
            "compare",
            "shallow",
            "deep",
            "--threshold",
            "50",
            "--fail-on-anomaly",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["threshold_percent"], 50.0);
    assert_eq!(doc["anomalies"], json!([]));
    for m in doc["metrics"].as_array().unwrap() {
        for c in m["values"].as_array().unwrap() {
            assert_eq!(c["beyond_threshold"], false, "{m}");
        }
    }
    assert_eq!(cell(&doc, "queued.high", "deep")["delta_percent"], 30.0);
    // 25%: only deep's +30% and +27.27% pass it.
    let (code, out, _) = run(
        &ws,
        &cfg,
        &[
            "compare",
            "shallow",
            "deep",
            "--threshold",
            "25%",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let flagged: Vec<(&str, &str)> = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["metric"].as_str().unwrap(),
                a["context"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(flagged, vec![("queued.high", "deep"), ("queued", "deep")]);
    assert_eq!(cell(&doc, "queued", "deep")["beyond_threshold"], true);

    // preferences.compare.threshold is the default; the flag wins.
    let prefs_cfg = ws.write(
        "prefs.yaml",
        &config_file(&entries, "preferences:\n  compare: { threshold: 40 }\n", ""),
    );
    let (code, out, stderr) = run(
        &ws,
        &prefs_cfg,
        &[
            "compare",
            "shallow",
            "deep",
            "-o",
            "json",
            "--fail-on-anomaly",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["threshold_percent"], 40.0);
    assert_eq!(doc["anomalies"], json!([]));
    let (code, out, _) = run(
        &ws,
        &prefs_cfg,
        &[
            "compare",
            "shallow",
            "deep",
            "-o",
            "json",
            "--threshold",
            "10",
            "--fail-on-anomaly",
        ],
    );
    assert_eq!(code, 5);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["threshold_percent"], 10.0);
    assert_eq!(doc["anomalies"].as_array().unwrap().len(), 4);

    // Typed order, not file order: deep named first is the baseline.
    let (code, out, _) = run(&ws, &cfg, &["compare", "deep", "shallow", "-o", "json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "deep");
    assert_eq!(
        cell(&doc, "queued.high", "shallow"),
        &json!({"context": "shallow", "value": 100, "delta": -30,
                "delta_percent": -23.08, "beyond_threshold": true})
    );
    // ... and through --context, shallow named first (it is second in the file).
    let (code, out, _) = run(
        &ws,
        &cfg,
        &["compare", "--context", "shallow,deep", "-o", "json"],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "shallow");
    assert_eq!(strings(&doc["contexts"]), vec!["shallow", "deep"]);
    let (code, out, _) = run(
        &ws,
        &cfg,
        &[
            "compare",
            "--context",
            "shallow",
            "--context",
            "deep",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(strings(&doc["contexts"]), vec!["shallow", "deep"]);

    // A glob expands in file order: deep is the baseline.
    let (code, out, _) = run(&ws, &cfg, &["compare", "*", "-o", "json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "deep");
    assert_eq!(strings(&doc["contexts"]), vec!["deep", "shallow", "empty"]);

    // A baseline of 0: deltas, but a null percentage, and still beyond.
    let (code, out, _) = run(&ws, &cfg, &["compare", "empty", "shallow", "-o", "json"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "empty");
    assert_eq!(
        cell(&doc, "queued.high", "shallow"),
        &json!({"context": "shallow", "value": 100, "delta": 100,
                "delta_percent": null, "beyond_threshold": true})
    );
    assert_eq!(
        cell(&doc, "workers.orphaned", "shallow"),
        &json!({"context": "shallow", "value": 0, "delta": 0,
                "delta_percent": null, "beyond_threshold": false})
    );
    for m in METRICS {
        assert!(
            cell(&doc, m, "shallow")["delta_percent"].is_null(),
            "{m}: baseline 0 -> null %"
        );
    }
    // Against all-zero others, a non-zero value is an anomaly with a
    // null deviation; the zero side is 100% below the others' mean.
    let anomalies = doc["anomalies"].as_array().unwrap();
    let a = anomalies
        .iter()
        .find(|a| a["metric"] == "dead_letter" && a["context"] == "shallow")
        .unwrap();
    assert_eq!(
        a,
        &json!({"metric": "dead_letter", "context": "shallow", "value": 5,
                "mean_of_others": 0, "deviation_percent": null})
    );
    let a = anomalies
        .iter()
        .find(|a| a["metric"] == "dead_letter" && a["context"] == "empty")
        .unwrap();
    assert_eq!(a["deviation_percent"], -100.0);
    // The table shows a delta but no percentage, and names the anomalies.
    let (code, table, _) = run(&ws, &cfg, &["compare", "empty", "shallow"]);
    assert_eq!(code, 0);
    assert!(table.contains("empty (baseline)"), "{table}");
    assert!(table.contains("100 (+100)"), "{table}");
    // (The wording of the anomaly lines is the table's own; the JSON
    // above is the contract.)
    let after = table
        .split_once("Anomalies (beyond 10%")
        .unwrap_or_else(|| panic!("no anomalies section: {table}"))
        .1;
    assert!(
        after.lines().any(|l| l.starts_with("  shallow:")),
        "{table}"
    );
    assert!(table.contains("Drift: none"), "{table}");
    // -o name: the contexts with anomalies.
    let (_, names, _) = run(&ws, &cfg, &["compare", "shallow", "deep", "-o", "name"]);
    assert_eq!(names, "shallow\ndeep\n");
}

#[test]
fn compare_usage_errors_and_unreachable_contexts() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    let lru = RedisServer::start_with(ServerOptions {
        extra_args: vec!["--maxmemory-policy".into(), "allkeys-lru".into()],
        ..Default::default()
    });
    for (s, p) in [(&a, "a"), (&b, "b"), (&lru, "l")] {
        seed(&mut s.conn(), &same_seed(p));
    }
    let gone = ClosedPort::new();
    let gone2 = ClosedPort::new();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(
            &[
                entry("a", &a.url()),
                entry("gone", &gone.url()),
                entry("b", &b.url()),
                entry("lru", &lru.url()),
                entry("gone2", &gone2.url()),
            ],
            "current-context: a\n",
            "",
        ),
    );

    // Fewer than two contexts is a usage error, however they are chosen.
    for args in [
        &["compare", "a", "-o", "json"][..],
        &["compare", "a", "a"][..],
        &["compare"][..],
        &["compare", "--context", "b"][..],
    ] {
        let (code, out, stderr) = run(&ws, &cfg, args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("compare needs at least two contexts"),
            "{args:?}: {stderr}"
        );
        assert!(out.is_empty(), "{args:?}: {out}");
    }
    // An unknown name is a failure, with a did-you-mean.
    let (code, _, stderr) = run(&ws, &cfg, &["compare", "a", "lrv"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("lrv") && stderr.contains("lru"), "{stderr}");
    // Positional contexts and -A do not go together.
    let (code, _, _) = run(&ws, &cfg, &["compare", "a", "b", "-A"]);
    assert_eq!(code, 2);

    // One unreachable context: an error entry, the others compared, exit 3.
    let (code, out, stderr) = run(&ws, &cfg, &["compare", "a", "gone", "b", "-o", "json"]);
    assert_eq!(code, 3, "{stderr}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "a");
    assert_eq!(strings(&doc["contexts"]), vec!["a", "b"]);
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{doc:#}");
    assert_eq!(errors[0]["context"], "gone");
    assert_eq!(errors[0]["kind"], "refused");
    assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    for m in doc["metrics"].as_array().unwrap() {
        let ctxs: Vec<&str> = m["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["context"].as_str().unwrap())
            .collect();
        assert_eq!(ctxs, vec!["a", "b"], "{m}");
    }
    assert_eq!(cell(&doc, "queued", "b")["delta"], 0);
    assert_eq!(doc["anomalies"], json!([]));
    assert_eq!(doc["drift"], json!([]));
    // --exit-code with no drift leaves "partial".
    let (code, _, _) = run(&ws, &cfg, &["compare", "a", "gone", "b", "--exit-code"]);
    assert_eq!(code, 3);
    // Drift (5) wins over partial (3).
    let (code, out, _) = run(
        &ws,
        &cfg,
        &["compare", "a", "gone", "lru", "--exit-code", "-o", "json"],
    );
    assert_eq!(code, 5);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["drift"][0]["field"], "maxmemory-policy");
    assert_eq!(doc["errors"][0]["context"], "gone");
    // The table run reports the failure on stderr.
    let (code, table, stderr) = run(&ws, &cfg, &["compare", "a", "gone", "b"]);
    assert_eq!(code, 3);
    assert!(table.contains("a (baseline)"), "{table}");
    assert!(!table.contains("gone"), "{table}");
    assert!(stderr.contains("gone: refused"), "{stderr}");
    // An unreachable baseline: the next one answering stands in, with a warning.
    let (code, out, stderr) = run(&ws, &cfg, &["compare", "gone", "b", "a", "-o", "json"]);
    assert_eq!(code, 3);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["baseline"], "b");
    assert_eq!(strings(&doc["contexts"]), vec!["b", "a"]);
    assert!(
        stderr.contains("the baseline `gone` did not answer"),
        "{stderr}"
    );
    // Nothing answering is a failure, and the document is still valid.
    let (code, out, _) = run(&ws, &cfg, &["compare", "gone", "gone2", "-o", "json"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["kind"], "Comparison");
    assert!(doc["baseline"].is_null());
    assert_eq!(doc["errors"].as_array().unwrap().len(), 2);
}

#[test]
fn sample_measures_rates_of_a_worker_fleet() {
    let busy = RedisServer::start();
    let idle = RedisServer::start();
    push_jobs(&mut busy.conn(), "jobqueue:high_priority", "h", 3000);
    seed(
        &mut busy.conn(),
        &Seed {
            completed: 10,
            dlq: 2,
            ..Default::default()
        },
    );
    seed(&mut idle.conn(), &same_seed("i"));
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(
            &[entry("busy", &busy.url()), entry("idle", &idle.url())],
            "",
            "",
        ),
    );

    // Without --sample there are no rates.
    let (code, doc, _) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0);
    assert!(doc["items"][0]["rates"].is_null(), "{doc:#}");

    let fleet = Fleet::start(busy.conn(), "fleet-0");
    // Let the fleet settle into its pace.
    thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let ((c1, clusters, e1), (c2, comparison, e2), elapsed) = thread::scope(|s| {
        let g = s.spawn(|| {
            run_json(
                &ws,
                &cfg,
                &["get", "clusters", "-A", "--sample", "2s", "-o", "json"],
            )
        });
        let c = s.spawn(|| {
            run_json(
                &ws,
                &cfg,
                &[
                    "compare",
                    "idle",
                    "busy",
                    "--sample",
                    "2s",
                    "--exit-code",
                    "-o",
                    "json",
                ],
            )
        });
        let g = g.join().unwrap();
        let c = c.join().unwrap();
        (g, c, started.elapsed())
    });
    let (completed, dead) = fleet.stop();
    assert!(
        completed > 40 && dead > 10,
        "the fleet ran: {completed} completed, {dead} dead-lettered"
    );
    assert!(
        elapsed >= Duration::from_secs(2),
        "--sample 2s waits 2s between readings: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");

    // get clusters --sample
    assert_eq!(c1, 0, "{e1}");
    let items = clusters["items"].as_array().unwrap();
    assert_eq!(items[0]["context"], "busy");
    let r = &items[0]["rates"];
    f64_in(&r["interval_s"], 1.9, 3.5, "busy interval_s");
    f64_in(&r["completed_per_s"], 12.0, 28.0, "busy completed_per_s");
    f64_in(
        &r["dead_lettered_per_s"],
        2.0,
        8.0,
        "busy dead_lettered_per_s",
    );
    f64_in(
        &r["queued_change_per_s"],
        -40.0,
        -12.0,
        "busy queued_change_per_s",
    );
    assert_eq!(items[1]["context"], "idle");
    let r = &items[1]["rates"];
    f64_in(&r["interval_s"], 1.9, 3.5, "idle interval_s");
    assert_eq!(r["completed_per_s"], 0.0, "{r}");
    assert_eq!(r["dead_lettered_per_s"], 0.0, "{r}");
    assert_eq!(r["queued_change_per_s"], 0.0, "{r}");
    assert_eq!(items[1]["queued"], 19, "figures are still there");

    // compare --sample: rate rows, the idle baseline at 0.
    assert_eq!(c2, 0, "rate differences are anomalies, not drift: {e2}");
    let doc = &comparison;
    assert_eq!(doc["baseline"], "idle");
    f64_in(&doc["sample_s"], 1.9, 3.5, "sample_s");
    let names = metric_names(doc);
    assert_eq!(
        names[8..],
        [
            "completed_per_s",
            "dead_lettered_per_s",
            "queued_change_per_s"
        ],
        "{doc:#}"
    );
    for m in &names[8..] {
        assert_eq!(metric(doc, m)["group"], "rates", "{m}");
        assert_eq!(cell(doc, m, "idle")["value"], 0, "{m}: {doc:#}");
        let c = cell(doc, m, "busy");
        // The delta from 0 is the value (deltas carry 2 decimals, rates 3).
        let (d, v) = (c["delta"].as_f64().unwrap(), c["value"].as_f64().unwrap());
        assert!(
            (d - v).abs() <= 0.005 + 1e-9,
            "{m}: delta {d} from 0 vs value {v}"
        );
        assert!(c["delta_percent"].is_null(), "{m}: baseline 0");
        assert_eq!(c["beyond_threshold"], true, "{m}");
    }
    f64_in(
        &cell(doc, "completed_per_s", "busy")["value"],
        12.0,
        28.0,
        "compare completed_per_s",
    );
    f64_in(
        &cell(doc, "dead_lettered_per_s", "busy")["value"],
        2.0,
        8.0,
        "compare dead_lettered_per_s",
    );
    f64_in(
        &cell(doc, "queued_change_per_s", "busy")["value"],
        -40.0,
        -12.0,
        "compare queued_change_per_s",
    );
    let anomaly = doc["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["metric"] == "completed_per_s" && a["context"] == "busy")
        .unwrap_or_else(|| panic!("{doc:#}"));
    assert!(anomaly["deviation_percent"].is_null(), "{anomaly}");
    assert_eq!(doc["drift"], json!([]));

    // After the fleet stopped, a short sample reads 0/s everywhere, and
    // the table shows the rates block.
    let (code, table, stderr) = run(&ws, &cfg, &["compare", "busy", "idle", "--sample", "300ms"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(table.contains("RATES ("), "{table}");
    assert!(table.contains("completed/s"), "{table}");
    assert!(table.contains("dead-lettered/s"), "{table}");
    assert!(table.contains("queued change/s"), "{table}");
}

#[test]
fn cluster_mode_compare_sample_and_watch() {
    let cluster = RedisCluster::start();
    let single = RedisServer::start();
    let data = Seed {
        high: 40,
        low: 10,
        dlq: 9,
        completed: 3,
        live: workers("w", 6, 2),
        orphans: workers("dead", 2, 1),
    };
    seed(&mut cluster.conn(), &data);
    seed(&mut single.conn(), &data);
    // The default (untagged) keys really are spread over the primaries.
    let spread = cluster
        .nodes
        .iter()
        .filter(|n| n.cli(&["DBSIZE"]).parse::<usize>().unwrap() > 0)
        .count();
    assert!(spread >= 2, "keys on {spread} primaries");
    let ws = Workspace::new();
    let yaml = format!(
        "apiVersion: qctl/v1\nclusters:\n  - name: single\n    server: {}\n  - name: eu\n    mode: cluster\n    nodes: [{}]\ncontexts:\n  - name: single\n    cluster: single\n  - name: eu\n    cluster: eu\n",
        single.url(),
        cluster.seed_urls()[1]
    );
    let cfg = ws.write("c.yaml", &yaml);

    // compare: equal figures across modes, no anomalies, no drift.
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "compare",
            "single",
            "eu",
            "--exit-code",
            "--fail-on-anomaly",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{doc:#}");
    let expected = [40, 10, 50, 12 + 2, 9, 3, 6, 2];
    for (m, want) in METRICS.iter().zip(expected) {
        assert_eq!(cell(&doc, m, "single")["value"], want, "{m}");
        assert_eq!(cell(&doc, m, "eu")["value"], want, "{m}: {doc:#}");
        assert_eq!(cell(&doc, m, "eu")["delta"], 0, "{m}");
        assert_eq!(cell(&doc, m, "eu")["delta_percent"], 0.0, "{m}");
    }
    assert_eq!(doc["anomalies"], json!([]));
    assert_eq!(doc["drift"], json!([]), "the mode is not drift");
    assert_eq!(doc["servers"][0]["mode"], "standalone");
    assert_eq!(doc["servers"][1]["mode"], "cluster");
    assert_eq!(doc["servers"][1]["maxmemory_policy"], "noeviction");
    assert_eq!(doc["servers"][1]["save"], "");

    // --watch on the cluster: every primary's queues in each poll.
    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &[
            "get",
            "queues",
            "--context",
            "eu",
            "--watch",
            "--interval",
            "300ms",
            "-o",
            "json",
        ],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["eu"], 2));
    for p in &polls {
        assert_poll_shape(p, "QueueList");
        assert_eq!(p["context"], "eu");
        assert_eq!(lengths(p), queues(40, 10, 3, 9), "{p}");
        assert_eq!(p["errors"], json!([]));
    }
    let (status, stderr) = w.signal(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "{status:?}: {stderr}");

    // get workers --watch on the cluster: live and orphaned workers.
    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &[
            "get",
            "workers",
            "--context",
            "eu",
            "-w",
            "--interval",
            "300ms",
            "-o",
            "json",
        ],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["eu"], 2));
    for p in &polls {
        assert_poll_shape(p, "WorkerList");
        let items = p["items"].as_array().unwrap();
        assert_eq!(items.len(), 8, "{p}");
        let orphaned = items.iter().filter(|i| i["state"] == "orphaned").count();
        assert_eq!(orphaned, 2, "{p}");
    }
    let (status, stderr) = w.signal(libc::SIGTERM);
    assert_eq!(status.code(), Some(130), "{status:?}: {stderr}");

    // --sample on the cluster while a fleet drains it (RPOP + LPUSH: the
    // untagged keys live in different slots).
    let fleet = Fleet::start(cluster.conn(), "fleet-c");
    thread::sleep(Duration::from_millis(200));
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &[
            "get",
            "clusters",
            "--context",
            "eu,single",
            "--sample",
            "1s",
            "-o",
            "json",
        ],
    );
    let (completed, _) = fleet.stop();
    assert!(completed > 10, "fleet completed {completed}");
    assert_eq!(code, 0, "{stderr}");
    // File order: single, then eu, whatever the order typed.
    let eu = &doc["items"][1];
    assert_eq!(eu["context"], "eu");
    assert_eq!(eu["mode"], "cluster");
    let r = &eu["rates"];
    f64_in(&r["interval_s"], 0.95, 2.5, "cluster interval_s");
    f64_in(&r["completed_per_s"], 10.0, 30.0, "cluster completed_per_s");
    f64_in(
        &r["dead_lettered_per_s"],
        1.0,
        10.0,
        "cluster dead_lettered_per_s",
    );
    f64_in(
        &r["queued_change_per_s"],
        -45.0,
        -10.0,
        "cluster queued_change_per_s",
    );
    let r = &doc["items"][0]["rates"];
    assert_eq!(doc["items"][0]["context"], "single");
    assert_eq!(r["completed_per_s"], 0.0, "{r}");
    assert_eq!(r["queued_change_per_s"], 0.0, "{r}");
}

#[test]
fn watch_json_polls_each_context_until_sigint() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    seed(
        &mut a.conn(),
        &Seed {
            high: 5,
            low: 1,
            completed: 2,
            dlq: 3,
            ..Default::default()
        },
    );
    seed(
        &mut b.conn(),
        &Seed {
            high: 7,
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(&[entry("a", &a.url()), entry("b", &b.url())], "", ""),
    );

    // --interval needs --watch.
    let (code, _, stderr) = run(&ws, &cfg, &["get", "queues", "-A", "--interval", "1s"]);
    assert_eq!(code, 2, "{stderr}");

    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &[
            "get",
            "queues",
            "--context",
            "a,b",
            "--watch",
            "--interval",
            "300ms",
            "-o",
            "json",
        ],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["a", "b"], 2));
    let elapsed = w.started.elapsed();
    for p in &polls {
        assert_poll_shape(p, "QueueList");
        assert_eq!(p["errors"], json!([]), "{p}");
        let want = match p["context"].as_str().unwrap() {
            "a" => queues(5, 1, 2, 3),
            "b" => queues(7, 0, 0, 0),
            other => panic!("unexpected context {other}"),
        };
        assert_eq!(lengths(p), want, "{p}");
    }
    // It repolls on its schedule, not in a busy loop.
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    let secs = elapsed.as_secs_f64();
    for (ctx, n) in per_context(&polls) {
        assert!(
            (n as f64) <= secs / 0.3 + 2.0,
            "{ctx}: {n} polls in {secs:.2}s at --interval 300ms"
        );
    }
    // A change lands in a later poll.
    let _: i64 = redis::cmd("LPUSH")
        .arg("jobqueue:high_priority")
        .arg(job("late"))
        .query(&mut a.conn())
        .unwrap();
    w.polls_until(Duration::from_secs(10), |p| {
        p.iter()
            .any(|p| p["context"] == "a" && lengths(p)[0] == ("high".to_string(), 6))
    });
    let (status, stderr) = w.signal(libc::SIGINT);
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C ends a watch with 130: {status:?} {stderr}"
    );
}

#[test]
fn watch_workers_stops_on_sigterm_and_other_get_verbs_watch_too() {
    let s = RedisServer::start();
    seed(
        &mut s.conn(),
        &Seed {
            high: 4,
            live: workers("w", 2, 1),
            orphans: workers("o", 1, 3),
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(&[entry("only", &s.url())], "current-context: only\n", ""),
    );

    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &[
            "get",
            "workers",
            "--watch",
            "--interval",
            "300ms",
            "-o",
            "json",
        ],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["only"], 2));
    for p in &polls {
        assert_poll_shape(p, "WorkerList");
        let items = p["items"].as_array().unwrap();
        let got: Vec<(&str, &str, u64)> = items
            .iter()
            .map(|i| {
                (
                    i["worker"].as_str().unwrap(),
                    i["state"].as_str().unwrap(),
                    i["in_flight"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("o0", "orphaned", 3),
                ("w0", "active", 1),
                ("w1", "active", 1)
            ],
            "{p}"
        );
        assert!(items[0]["heartbeat_ttl_ms"].is_null(), "{p}");
        assert_eq!(items[0]["job_id"], "o0-2", "the job it took last: {p}");
        assert!(items[1]["heartbeat_ttl_ms"].as_i64().unwrap() > 0, "{p}");
        assert_eq!(items[1]["job_id"], "w0");
    }
    let (status, stderr) = w.signal(libc::SIGTERM);
    assert_eq!(
        status.code(),
        Some(130),
        "SIGTERM ends a watch with 130: {status:?} {stderr}"
    );

    // get clusters --watch
    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &["get", "clusters", "-w", "--interval", "300ms", "-o", "json"],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["only"], 2));
    for p in &polls {
        assert_poll_shape(p, "ClusterList");
        assert_eq!(p["items"][0]["queued"], 4, "{p}");
        assert_eq!(p["items"][0]["orphaned_jobs"], 3, "{p}");
    }
    let (status, _) = w.signal(libc::SIGINT);
    assert_eq!(status.code(), Some(130));

    // get jobs --watch
    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &[
            "get",
            "jobs",
            "high",
            "-n",
            "2",
            "-w",
            "--interval",
            "300ms",
            "-o",
            "json",
        ],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["only"], 2));
    for p in &polls {
        assert_poll_shape(p, "JobList");
        let ids: Vec<&str> = p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec!["h-0", "h-1"], "next job first: {p}");
    }
    let (status, _) = w.signal(libc::SIGINT);
    assert_eq!(status.code(), Some(130));

    // A table watch on a pipe prints the header once, then rows.
    let mut w = Watch::spawn(&ws, &cfg, &["get", "queues", "-w", "--interval", "300ms"]);
    let lines = w.lines_until(Duration::from_secs(15), |l| {
        l.iter().filter(|l| l.starts_with("only")).count() >= 8
    });
    let (status, _) = w.signal(libc::SIGINT);
    assert_eq!(status.code(), Some(130));
    assert!(lines[0].starts_with("CONTEXT"), "{lines:#?}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("CONTEXT")).count(),
        1,
        "{lines:#?}"
    );
}

#[test]
fn watch_reports_a_refused_context_each_poll_and_keeps_the_others() {
    let a = RedisServer::start();
    seed(
        &mut a.conn(),
        &Seed {
            high: 2,
            ..Default::default()
        },
    );
    let gone = ClosedPort::new();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(&[entry("gone", &gone.url()), entry("a", &a.url())], "", ""),
    );
    let mut w = Watch::spawn(
        &ws,
        &cfg,
        &[
            "get",
            "queues",
            "-A",
            "--watch",
            "--interval",
            "300ms",
            "-o",
            "json",
            "--connect-timeout",
            "1s",
        ],
    );
    let polls = w.polls_until(Duration::from_secs(15), |p| at_least(p, &["a", "gone"], 3));
    // A failing context retries on the schedule too, not in a tight loop.
    let secs = w.started.elapsed().as_secs_f64();
    for (ctx, n) in per_context(&polls) {
        assert!(
            (n as f64) <= secs / 0.3 + 2.0,
            "{ctx}: {n} polls in {secs:.2}s at --interval 300ms"
        );
    }
    for p in &polls {
        assert_poll_shape(p, "QueueList");
        match p["context"].as_str().unwrap() {
            "gone" => {
                assert_eq!(p["items"], json!([]), "{p}");
                let errors = p["errors"].as_array().unwrap();
                assert_eq!(errors.len(), 1, "{p}");
                assert_eq!(errors[0]["context"], "gone");
                assert_eq!(errors[0]["kind"], "refused", "{p}");
            }
            "a" => {
                assert_eq!(p["errors"], json!([]), "{p}");
                assert_eq!(lengths(p), queues(2, 0, 0, 0), "{p}");
            }
            other => panic!("unexpected context {other}"),
        }
    }
    let (status, stderr) = w.signal(libc::SIGINT);
    assert_eq!(status.code(), Some(130), "{status:?}: {stderr}");
}

#[test]
fn watch_ends_quietly_with_0_when_stdout_closes() {
    let a = RedisServer::start();
    seed(
        &mut a.conn(),
        &Seed {
            high: 1,
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &config_file(&[entry("a", &a.url())], "current-context: a\n", ""),
    );
    // `qctl get queues -w -o json | head -1`
    let mut child = qctl_command(
        &ws,
        &cfg,
        &["get", "queues", "-w", "--interval", "200ms", "-o", "json"],
    )
    .spawn()
    .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let stderr = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let first: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(first["kind"], "QueueList");
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("qctl --watch kept running after its stdout closed");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}: {stderr}");
    assert_eq!(stderr, "", "a closed pipe ends silently");
}

#[test]
fn compare_without_config_permission_reads_what_it_can() {
    // A user without @admin cannot CONFIG GET; INFO still gives the policy.
    let base = RedisServer::start();
    let lru = RedisServer::start_with(ServerOptions {
        acl_users: vec![AclUser {
            name: "viewer",
            password: "vpw",
            rules: "on ~* &* +@all -@admin",
        }],
        extra_args: vec!["--maxmemory-policy".into(), "allkeys-lru".into()],
        ..Default::default()
    });
    seed(&mut base.conn(), &same_seed("b"));
    seed(&mut lru.conn(), &same_seed("l"));
    let ws = Workspace::new();
    let yaml = format!(
        "apiVersion: qctl/v1
clusters:
  - name: base
    server: {}
  - name: ro
    server: {}
users:
  - name: viewer
    username: viewer
    password: vpw
contexts:
  - name: base
    cluster: base
  - name: ro
    cluster: ro
    user: viewer
",
        base.url(),
        lru.url()
    );
    let cfg = ws.write("c.yaml", &yaml);
    let (code, doc, stderr) = run_json(
        &ws,
        &cfg,
        &["compare", "base", "ro", "--exit-code", "-o", "json"],
    );
    assert_eq!(
        code, 5,
        "the policy drift is still found: {stderr}\n{doc:#}"
    );
    assert!(stderr.contains("CONFIG GET is not permitted"), "{stderr}");
    assert_eq!(doc["errors"], json!([]), "not a failed context");
    let ro = &doc["servers"][1];
    assert_eq!(ro["context"], "ro");
    assert_eq!(ro["maxmemory_policy"], "allkeys-lru", "from INFO: {ro}");
    assert!(ro["maxmemory"].is_null(), "{ro}");
    assert!(ro["appendonly"].is_null(), "{ro}");
    assert!(ro["save"].is_null(), "{ro}");
    let fields: Vec<&str> = doc["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        vec!["maxmemory-policy"],
        "unknown values are no drift"
    );
    assert_eq!(doc["anomalies"], json!([]));
    assert_eq!(cell(&doc, "queued", "ro")["delta"], 0);
}
