//! Real BullMQ (6.7, `tests/it/fixtures/bullmq/package-lock.json`) workers and
//! BullMQ's own API, for tests of qctl's BullMQ support.
//!
//! ```ignore
//! use crate::common::{RedisServer, bullmq::{self, BullWorker, BullWorkerOptions}};
//!
//! if !bullmq::available("my_test") { return; }
//! let server = RedisServer::start();
//! let worker = BullWorker::start(&server, BullWorkerOptions::queue("mail"));
//! bullmq::api(&server, "bull", &["add", "mail", "ok", "20"]);
//! let r = bullmq::wait_for_report(&server, "bull", &["mail"], Duration::from_secs(10), |r| {
//!     r["queues"][0]["counts"]["completed"] == 20
//! });
//! ```
//!
//! * `worker.js`: a `Worker` for one queue. Job names: `ok` (returns), `fail`
//!   (throws `QctlFixtureError: qctl fixture failure: fail ID`), `flaky`
//!   (fails `data.fails` times, default 1), `slow` (sleeps `data.ms`), `record`
//!   (RPUSHes its id to the LIST `qctl:done`, or `data.key`).
//! * `api.js`: `report QUEUE...` (read-only JSON of getJobCounts, isPaused,
//!   getMeta, getWorkers, ids and jobs per state) and writes through BullMQ's
//!   API (add, pause, resume, retry, retry-all, promote, remove, clean, drain,
//!   obliterate); see the script's header.
//! * The target is a [`RedisServer`], a [`RedisCluster`] (ioredis' Cluster
//!   client; use the prefix `{bull}`) or a [`Target`] built from a URL.
//! * docs/bullmq-layout.md describes the keys these processes write.
//!
//! Processes follow the rules of `common` (see its module docs): owned by the
//! value that started them, SIGKILLed on drop and, through
//! `PR_SET_PDEATHSIG`, when the spawning thread dies.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tempfile::TempDir;

use super::{RedisCluster, RedisServer, set_parent_death_signal};

/// `tests/it/fixtures/bullmq`.
pub const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/bullmq");

/// BullMQ's default key prefix.
pub const PREFIX: &str = "bull";
/// The prefix to use on a cluster: the hash tag puts all of a queue's keys in
/// one slot (BullMQ's scripts touch several keys at once).
pub const CLUSTER_PREFIX: &str = "{bull}";

/// The line worker.js prints once it is connected.
const READY_LINE: &str = "qctl-bullmq-worker ready ";
/// How long a worker may take to start and connect.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`BullWorker::stop`] waits after SIGTERM before SIGKILL.
/// `Worker#close()` waits for the active jobs, so keep slow jobs shorter.
const STOP_GRACE: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const REPORT_POLL_INTERVAL: Duration = Duration::from_millis(200);

const BULLMQ_MISSING: &str = "the BullMQ fixture is not installed: run \
     `npm ci --prefix tests/it/fixtures/bullmq` (needs node and npm: \
     `sudo apt-get install -y nodejs npm` on Debian/Ubuntu; .ci/run does both)";

/// Path of `worker.js`.
pub fn worker_js() -> PathBuf {
    Path::new(FIXTURE_DIR).join("worker.js")
}

/// Path of `api.js`.
pub fn api_js() -> PathBuf {
    Path::new(FIXTURE_DIR).join("api.js")
}

/// Whether `node` runs and the fixture's node_modules has bullmq and ioredis
/// (checked once per test binary).
pub fn bullmq_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        Command::new("node")
            .args(["-e", "require('bullmq'); require('ioredis')"])
            .current_dir(FIXTURE_DIR)
            .env_remove("NODE_OPTIONS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `true` when the BullMQ fixture is installed; otherwise prints why `test`
/// is skipped and returns `false`. Use as
/// `if !bullmq::available("name") { return; }`. Under CI (`CI` set) a missing
/// fixture is a failure, not a skip: .ci/run installs it.
pub fn available(test: &str) -> bool {
    if bullmq_installed() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {BULLMQ_MISSING}");
    }
    eprintln!("SKIPPED {test}: {BULLMQ_MISSING}");
    false
}

/// Where worker.js and api.js connect: a standalone URL (credentials in it)
/// or cluster seeds.
#[derive(Debug, Clone)]
pub struct Target {
    /// `redis://[:password@]127.0.0.1:PORT`; for a cluster, comma-separated seeds.
    pub url: String,
    /// Use ioredis' Cluster client.
    pub cluster: bool,
}

impl Target {
    /// A standalone server at `url`.
    pub fn standalone(url: &str) -> Target {
        Target {
            url: url.to_string(),
            cluster: false,
        }
    }

    /// A cluster reached through the seed `url` (or comma-separated seeds).
    pub fn cluster_seed(url: &str) -> Target {
        Target {
            url: url.to_string(),
            cluster: true,
        }
    }

    fn apply(&self, cmd: &mut Command, prefix: &str) {
        cmd.env("QCTL_BULLMQ_URL", &self.url)
            .env("QCTL_BULLMQ_PREFIX", prefix)
            .env("QCTL_BULLMQ_CLUSTER", if self.cluster { "1" } else { "0" })
            .env_remove("NODE_OPTIONS")
            .env_remove("REDIS_URL")
            .env("NODE_ENV", "test")
            .current_dir(FIXTURE_DIR);
    }
}

impl From<&RedisServer> for Target {
    fn from(server: &RedisServer) -> Target {
        assert!(
            server.tls_files().is_none(),
            "the BullMQ fixture does not support TLS servers"
        );
        let url = match server.password() {
            Some(pw) => server.url_with_credentials(None, pw),
            None => server.url(),
        };
        Target::standalone(&url)
    }
}

impl From<&RedisCluster> for Target {
    fn from(cluster: &RedisCluster) -> Target {
        assert!(
            cluster.tls_files().is_none(),
            "the BullMQ fixture does not support TLS clusters"
        );
        let seeds: Vec<String> = match cluster.password() {
            Some(pw) => cluster
                .nodes
                .iter()
                .map(|n| n.url_with_credentials(None, pw))
                .collect(),
            None => cluster.seed_urls(),
        };
        Target::cluster_seed(&seeds.join(","))
    }
}

impl From<&Target> for Target {
    fn from(t: &Target) -> Target {
        t.clone()
    }
}

/// Options for [`BullWorker::start`]; `None` keeps BullMQ's default.
#[derive(Debug, Clone)]
pub struct BullWorkerOptions {
    /// The queue it works (default `default`).
    pub queue: String,
    /// Key prefix (default `bull`; [`CLUSTER_PREFIX`] on a cluster).
    pub prefix: String,
    /// Jobs in parallel (default 1).
    pub concurrency: usize,
    /// Worker `name`: the connection name becomes
    /// `<prefix>:<base64(queue)>:w:<name>`.
    pub name: Option<String>,
    /// `lockDuration` in ms (BullMQ: 30000; renewed every half of it).
    pub lock_duration_ms: Option<u64>,
    /// `stalledInterval` in ms (BullMQ: 30000).
    pub stalled_interval_ms: Option<u64>,
    /// `maxStalledCount` (BullMQ: 1).
    pub max_stalled_count: Option<u64>,
    /// `metrics: { maxDataPoints }` (BullMQ: no metrics kept).
    pub metrics: Option<u64>,
}

impl Default for BullWorkerOptions {
    fn default() -> Self {
        BullWorkerOptions {
            queue: "default".into(),
            prefix: PREFIX.into(),
            concurrency: 1,
            name: None,
            lock_duration_ms: None,
            stalled_interval_ms: None,
            max_stalled_count: None,
            metrics: None,
        }
    }
}

impl BullWorkerOptions {
    /// Defaults for `queue`.
    pub fn queue(queue: &str) -> Self {
        BullWorkerOptions {
            queue: queue.into(),
            ..Default::default()
        }
    }
}

/// The client name BullMQ gives a worker's blocking connection (the one
/// `Queue#getWorkers` finds in CLIENT LIST): `<prefix>:<base64(queue)>`, plus
/// `:w:<name>` for a named worker.
pub fn worker_client_name(prefix: &str, queue: &str, name: Option<&str>) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(queue);
    match name {
        Some(n) => format!("{prefix}:{b64}:w:{n}"),
        None => format!("{prefix}:{b64}"),
    }
}

/// One real `node worker.js` process, SIGKILLed on drop.
pub struct BullWorker {
    child: Option<Child>,
    pid: u32,
    opts: BullWorkerOptions,
    /// Holds `worker.log` (stdout + stderr). Deleted on drop.
    dir: TempDir,
}

impl std::fmt::Debug for BullWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BullWorker")
            .field("pid", &self.pid)
            .field("queue", &self.opts.queue)
            .field("prefix", &self.opts.prefix)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl BullWorker {
    /// Spawns `node worker.js --queue Q --concurrency N ...` against `target`
    /// and waits until it prints its ready line (both of BullMQ's connections
    /// are up). Panics (with its log) if it exits or is not ready within 30 s.
    pub fn start(target: impl Into<Target>, opts: BullWorkerOptions) -> BullWorker {
        if !bullmq_installed() {
            panic!("{BULLMQ_MISSING}");
        }
        let target = target.into();
        let dir = tempfile::Builder::new()
            .prefix("qctl-bullmq-")
            .tempdir()
            .expect("create temp dir for the BullMQ worker");
        let log = File::create(dir.path().join("worker.log")).expect("create worker log");

        let mut cmd = Command::new("node");
        cmd.arg(worker_js())
            .args(["--queue", &opts.queue])
            .args(["--concurrency", &opts.concurrency.to_string()]);
        if let Some(name) = &opts.name {
            cmd.args(["--name", name]);
        }
        if let Some(ms) = opts.lock_duration_ms {
            cmd.args(["--lock-duration", &ms.to_string()]);
        }
        if let Some(ms) = opts.stalled_interval_ms {
            cmd.args(["--stalled-interval", &ms.to_string()]);
        }
        if let Some(n) = opts.max_stalled_count {
            cmd.args(["--max-stalled-count", &n.to_string()]);
        }
        if let Some(n) = opts.metrics {
            cmd.args(["--metrics", &n.to_string()]);
        }
        target.apply(&mut cmd, &opts.prefix);
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone worker log handle"))
            .stderr(log);
        set_parent_death_signal(&mut cmd);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{BULLMQ_MISSING}"),
            Err(e) => panic!("failed to spawn node worker.js: {e}"),
        };
        let pid = child.id();
        let mut worker = BullWorker {
            child: Some(child),
            pid,
            opts,
            dir,
        };
        worker.await_ready();
        worker
    }

    fn await_ready(&mut self) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            if self.logs().lines().any(|l| l.starts_with(READY_LINE)) {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "BullMQ worker exited during startup ({status})\n{}",
                    self.log_section()
                );
            }
            if Instant::now() >= deadline {
                let msg = format!(
                    "BullMQ worker (pid {}) not ready within {BOOT_TIMEOUT:?}\n{}",
                    self.pid,
                    self.log_section()
                );
                self.kill();
                panic!("{msg}");
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// OS process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The queue it works.
    pub fn queue(&self) -> &str {
        &self.opts.queue
    }

    /// Its key prefix.
    pub fn prefix(&self) -> &str {
        &self.opts.prefix
    }

    /// `<prefix>:<base64(queue)>[:w:<name>]`, its blocking connection's name.
    pub fn client_name(&self) -> String {
        worker_client_name(
            &self.opts.prefix,
            &self.opts.queue,
            self.opts.name.as_deref(),
        )
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// What worker.js printed: the ready line, then `completed NAME ID` /
    /// `failed NAME ID: REASON` per job.
    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    fn log_section(&self) -> String {
        format!(
            "---- BullMQ worker log ({}) ----\n{}\n---- end of log ----",
            self.dir.path().display(),
            self.logs()
        )
    }

    /// Graceful stop: SIGTERM, on which worker.js runs `Worker#close()` (it
    /// waits for the active jobs) and exits 0. SIGKILL if still running after
    /// 10 s. Panics if it exited with a failure.
    pub fn stop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        if let Some(status) = super::terminate(child, STOP_GRACE) {
            self.child = None;
            assert!(
                status.success(),
                "BullMQ worker exited with {status} after SIGTERM\n{}",
                self.log_section()
            );
            return;
        }
        self.kill();
    }

    /// SIGKILL and wait: what a crashed worker leaves behind (its active jobs
    /// stay in `:active` until the lock expires and a live worker's stalled
    /// check moves them back). Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for BullWorker {
    fn drop(&mut self) {
        // Before the TempDir field is deleted.
        self.kill();
    }
}

/// Runs `node api.js ARGS...` against `target` with `prefix` and parses the
/// one JSON document it prints. Panics with its stderr if it fails.
pub fn api(target: impl Into<Target>, prefix: &str, args: &[&str]) -> serde_json::Value {
    if !bullmq_installed() {
        panic!("{BULLMQ_MISSING}");
    }
    let target = target.into();
    let mut cmd = Command::new("node");
    cmd.arg(api_js()).args(args);
    target.apply(&mut cmd, prefix);
    cmd.stdin(Stdio::null());
    set_parent_death_signal(&mut cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run node api.js: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "node api.js {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "node api.js {args:?} printed no JSON ({e}):\n{stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `api.js report QUEUES...`: `{"prefix": P, "queues": [{name, counts,
/// isPaused, meta, workers, ids, jobs}, ...]}` in the order asked.
pub fn report(target: impl Into<Target>, prefix: &str, queues: &[&str]) -> serde_json::Value {
    let mut args = vec!["report"];
    args.extend_from_slice(queues);
    api(target, prefix, &args)
}

/// Polls `api.js report` (every 200 ms; each run costs ~0.3 s of CPU) until
/// `cond` holds; returns that report. Panics with the last report after
/// `timeout`.
pub fn wait_for_report(
    target: impl Into<Target>,
    prefix: &str,
    queues: &[&str],
    timeout: Duration,
    mut cond: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let target = target.into();
    let deadline = Instant::now() + timeout;
    loop {
        let r = report(&target, prefix, queues);
        if cond(&r) {
            return r;
        }
        if Instant::now() >= deadline {
            panic!(
                "BullMQ's API did not reach the expected state within {timeout:?}; last report:\n{}",
                serde_json::to_string_pretty(&r).unwrap_or_default()
            );
        }
        thread::sleep(REPORT_POLL_INTERVAL);
    }
}

/// The ids an `api.js add` printed (`{"ids": [...]}`).
pub fn ids(v: &serde_json::Value) -> Vec<String> {
    v["ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
