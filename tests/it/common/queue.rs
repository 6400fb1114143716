//! Queue data written the way go-redis-work-queue writes it, contexts
//! files, and running qctl for JSON.

use super::Workspace;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Queue data written the way go-redis-work-queue writes it.
#[derive(Default)]
pub struct Seed {
    pub high: usize,
    pub low: usize,
    pub dlq: usize,
    pub completed: usize,
    /// (worker id, in-flight jobs) with a live heartbeat.
    pub live: Vec<(String, usize)>,
    /// (worker id, in-flight jobs) whose heartbeat is gone.
    pub orphans: Vec<(String, usize)>,
}

pub fn job(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","filepath":"/data/{id}","filesize":123,"priority":"high","retries":0,"creation_time":"2025-01-14T10:30:00.123Z","trace_id":"","span_id":""}}"#
    )
}

pub fn seed<C: redis::ConnectionLike>(c: &mut C, s: &Seed) {
    let push = |c: &mut C, key: &str, n: usize, tag: &str| {
        for i in 0..n {
            let _: () = redis::cmd("LPUSH")
                .arg(key)
                .arg(job(&format!("{tag}-{i}")))
                .query(c)
                .unwrap();
        }
    };
    push(c, "jobqueue:high_priority", s.high, "h");
    push(c, "jobqueue:low_priority", s.low, "l");
    push(c, "jobqueue:dead_letter", s.dlq, "d");
    push(c, "jobqueue:completed", s.completed, "c");
    for (w, n) in &s.live {
        push(c, &format!("jobqueue:worker:{w}:processing"), *n, w);
        let _: () = redis::cmd("SET")
            .arg(format!("jobqueue:processing:worker:{w}"))
            .arg(job(w))
            .arg("PX")
            .arg(600_000)
            .query(c)
            .unwrap();
    }
    for (w, n) in &s.orphans {
        push(c, &format!("jobqueue:worker:{w}:processing"), *n, w);
    }
}

pub fn workers(prefix: &str, n: usize, jobs: usize) -> Vec<(String, usize)> {
    (0..n).map(|i| (format!("{prefix}{i}"), jobs)).collect()
}

pub struct Ctx {
    pub name: String,
    pub cluster_yaml: String,
    pub user: Option<String>,
}

pub fn standalone(name: &str, url: &str) -> Ctx {
    Ctx {
        name: name.into(),
        cluster_yaml: format!("  - name: {name}\n    server: {url}\n"),
        user: None,
    }
}

pub fn contexts_file(ctxs: &[Ctx], users_yaml: &str, extra: &str) -> String {
    let mut s = String::from("apiVersion: qctl/v1\n");
    s.push_str(extra);
    s.push_str("clusters:\n");
    for c in ctxs {
        s.push_str(&c.cluster_yaml);
    }
    if !users_yaml.is_empty() {
        s.push_str("users:\n");
        s.push_str(users_yaml);
    }
    s.push_str("contexts:\n");
    for c in ctxs {
        s.push_str(&format!("  - name: {}\n    cluster: {}\n", c.name, c.name));
        if let Some(u) = &c.user {
            s.push_str(&format!("    user: {u}\n"));
        }
    }
    s
}

pub fn run_json(ws: &Workspace, cfg: &std::path::Path, args: &[&str]) -> (i32, Value, String) {
    let out = ws
        .qctl()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "invalid JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap(), v, stderr)
}

/// LPUSHes `jobs` to `key`, 500 per command (one key: fine on a cluster).
pub fn push_all<C: redis::ConnectionLike>(c: &mut C, key: &str, jobs: &[String]) {
    for chunk in jobs.chunks(500) {
        let _: () = redis::cmd("LPUSH").arg(key).arg(chunk).query(c).unwrap();
    }
}

pub fn lrange<C: redis::ConnectionLike>(c: &mut C, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(c)
        .unwrap()
}

/// Calls of every command so far, by name (INFO commandstats).
pub fn command_calls(s: &super::RedisServer) -> std::collections::BTreeMap<String, u64> {
    let info = s.cli(&["INFO", "commandstats"]);
    let mut out = std::collections::BTreeMap::new();
    for line in info.lines() {
        if let Some(rest) = line.strip_prefix("cmdstat_")
            && let Some((name, stats)) = rest.split_once(':')
        {
            let calls = stats
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            out.insert(name.to_string(), calls);
        }
    }
    out
}

/// An `ActionResult`'s results by context.
pub fn action_results(doc: &Value) -> std::collections::BTreeMap<String, Value> {
    doc["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {doc}"))
        .iter()
        .map(|r| (r["context"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// Runs qctl with `QCTL_FAULT=fault` (see `systems::fault`): the run is
/// aborted (like `kill -9`) or paused at that point; its output.
pub fn run_faulted(
    ws: &Workspace,
    cfg: &std::path::Path,
    args: &[&str],
    fault: &str,
) -> std::process::Output {
    ws.qctl_std()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .env("QCTL_FAULT", fault)
        .output()
        .unwrap()
}

/// qctl with `--config cfg`: (exit code, stdout, stderr), whatever stdout holds.
pub fn run_raw(ws: &Workspace, cfg: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = ws
        .qctl()
        .arg("--config")
        .arg(cfg)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The id of each job (the whole payload when it has none).
pub fn ids_of(jobs: &[String]) -> Vec<String> {
    jobs.iter()
        .map(|j| {
            serde_json::from_str::<Value>(j)
                .ok()
                .and_then(|v| v["id"].as_str().map(String::from))
                .unwrap_or_else(|| j.clone())
        })
        .collect()
}

/// Workers speaking the queue protocol: BRPOPLPUSH into their processing
/// list, heartbeat, LPUSH to completed, LREM from processing.
pub struct Workers {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    pub fn start<C, F>(n: usize, prefix: &'static str, connect: F) -> Workers
    where
        C: redis::ConnectionLike,
        F: Fn() -> C + Send + Sync + Clone + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..n)
            .map(|w| {
                let stop = stop.clone();
                let connect = connect.clone();
                std::thread::spawn(move || {
                    let mut c = connect();
                    let processing = format!("{prefix}worker:w{w}:processing");
                    let heartbeat = format!("{prefix}processing:worker:w{w}");
                    while !stop.load(Ordering::SeqCst) {
                        let job: Option<String> = redis::cmd("BRPOPLPUSH")
                            .arg(format!("{prefix}high_priority"))
                            .arg(&processing)
                            .arg(0.2)
                            .query(&mut c)
                            .unwrap();
                        let Some(job) = job else { continue };
                        let _: () = redis::cmd("SET")
                            .arg(&heartbeat)
                            .arg(&job)
                            .arg("PX")
                            .arg(5000)
                            .query(&mut c)
                            .unwrap();
                        let _: () = redis::cmd("LPUSH")
                            .arg(format!("{prefix}completed"))
                            .arg(&job)
                            .query(&mut c)
                            .unwrap();
                        let _: () = redis::cmd("LREM")
                            .arg(&processing)
                            .arg(1)
                            .arg(&job)
                            .query(&mut c)
                            .unwrap();
                        let _: () = redis::cmd("DEL").arg(&heartbeat).query(&mut c).unwrap();
                    }
                })
            })
            .collect();
        Workers { stop, handles }
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles {
            h.join().unwrap();
        }
    }
}

/// Every id in `want` exactly once across these lists.
pub fn assert_exactly_once<C: redis::ConnectionLike>(c: &mut C, keys: &[String], want: &[String]) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for k in keys {
        for id in ids_of(&lrange(c, k)) {
            *seen.entry(id).or_default() += 1;
        }
    }
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "doubled: {doubled:?}");
    let missing: Vec<_> = want.iter().filter(|id| !seen.contains_key(*id)).collect();
    assert!(
        missing.is_empty(),
        "lost {} jobs, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(seen.len(), want.len());
}

/// A contexts file with one context `eu` on `cluster`, whose schema keeps
/// the work queues and worker keys in one slot (`{q}`) and the DLQ in
/// another (`{dlq}`): moves between them cross slots.
pub fn tagged_cluster_contexts(cluster: &super::RedisCluster) -> String {
    format!(
        r#"apiVersion: qctl/v1
clusters:
  - {{ name: eu, mode: cluster, nodes: [{seed}] }}
contexts:
  - {{ name: eu, cluster: eu, schema: tagged }}
queue-schemas:
  - name: tagged
    kind: go-redis-work-queue
    queues: {{ high: "{{q}}:high_priority", low: "{{q}}:low_priority" }}
    completed: "{{q}}:completed"
    dead-letter: "{{dlq}}:dead_letter"
    processing-pattern: "{{q}}:worker:*:processing"
    heartbeat-pattern: "{{q}}:processing:worker:*"
"#,
        seed = cluster.seed_urls()[0]
    )
}
