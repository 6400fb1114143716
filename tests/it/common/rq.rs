//! Real RQ 3 (Python) workers and RQ's own API, for tests of qctl's RQ
//! support. RQ lives in a venv: `tests/it/fixtures/rq/.venv` (made by
//! .ci/run from the pinned `requirements.txt`), or `$QCTL_RQ_VENV`.
//!
//! ```ignore
//! use crate::common::{RedisServer, rq::{self, RqWorker, RqOptions}};
//!
//! if !rq::available("my_test") { return; }
//! let server = RedisServer::start();
//! let ids = rq::ids(&rq::api(&server, &["enqueue", "default", "ok", "20"]));
//! let w = RqWorker::start(&server, RqOptions::default());
//! let report = rq::wait_for_report(&server, Duration::from_secs(10), |r| {
//!     rq::queue(r, "default")["finished"]["count"] == 20
//! });
//! ```
//!
//! * Job functions: `tests/it/fixtures/rq/jobs.py` (`ok(*args)`, `fail(*args)`
//!   raising `QctlFixtureError: qctl fixture failure: ...`, `slow(seconds)`,
//!   `record(tag)` RPUSHing its job id to `qctl:done`).
//! * `api.py`: `report [QUEUE...]` (read-only JSON: per queue `count`,
//!   `job_ids`, `intermediate`, and `started`/`failed`/`finished`/`scheduled`/
//!   `deferred`/`canceled` with `count`, `job_ids` (and `scores`); `workers`;
//!   `stale_worker_keys`; `suspended`), `job ID...`, and writes through RQ's
//!   API (enqueue, enqueue_in, requeue_failed, suspend, resume, shutdown,
//!   kill_horse, stop_job, cancel, delete); see the script's header.
//! * Unlike Sidekiq, RQ writes its state as it goes (no 5 s heartbeat): a
//!   report right after a job ended already shows it.
//!
//! Processes follow the rules of `common` (see its module docs): owned by the
//! value that started them, SIGKILLed on drop and, through
//! `PR_SET_PDEATHSIG`, when the spawning thread dies. The worker's children
//! (the work horse, which RQ puts in a process group of its own, and the
//! scheduler) get `PR_SET_PDEATHSIG` too, from jobs.py (`-c jobs`,
//! `QCTL_RQ_DIE_WITH_PARENT=1`): killing the worker kills them.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::{RedisServer, set_parent_death_signal};

/// `tests/it/fixtures/rq`.
pub(crate) const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/rq");

/// How long a worker may take to boot and register `rq:worker:<name>`.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`RqWorker::stop`] waits for a warm shutdown before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Interval between polls of Redis / api.py.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const REPORT_POLL_INTERVAL: Duration = Duration::from_millis(200);

const RQ_MISSING: &str = "RQ 3 not found in tests/it/fixtures/rq/.venv: create it with \
     `python3 -m venv tests/it/fixtures/rq/.venv && tests/it/fixtures/rq/.venv/bin/pip install \
     -r tests/it/fixtures/rq/requirements.txt` (.ci/run does; or set QCTL_RQ_VENV)";

/// The venv holding RQ: `$QCTL_RQ_VENV`, else `tests/it/fixtures/rq/.venv`.
pub(crate) fn venv() -> PathBuf {
    match std::env::var_os("QCTL_RQ_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => Path::new(FIXTURE_DIR).join(".venv"),
    }
}

/// The venv's `python`.
pub(crate) fn python() -> PathBuf {
    venv().join("bin/python")
}

/// The venv's `rq` CLI.
pub(crate) fn rq_cli() -> PathBuf {
    venv().join("bin/rq")
}

/// Path of `api.py`.
pub(crate) fn api_py() -> PathBuf {
    Path::new(FIXTURE_DIR).join("api.py")
}

/// Whether the venv has RQ 3.x and its `rq` CLI (checked once per test
/// binary).
pub(crate) fn rq_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        rq_cli().is_file()
            && Command::new(python())
                .args([
                    "-c",
                    "import sys, rq, rq.cli; sys.exit(not rq.__version__.startswith('3.'))",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

/// `true` when RQ is installed; otherwise prints why `test` is skipped and
/// returns `false`. Use as `if !rq::available("name") { return; }`. Under CI
/// (`CI` set) a missing RQ is a failure, not a skip: .ci/run installs it.
pub(crate) fn available(test: &str) -> bool {
    if rq_installed() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {RQ_MISSING}");
    }
    eprintln!("SKIPPED {test}: {RQ_MISSING}");
    false
}

/// Options for [`RqWorker::start`].
#[derive(Debug, Clone)]
pub(crate) struct RqOptions {
    /// Queues, in priority order (default `default`). With exactly one, RQ
    /// fetches with `BLMOVE` through `rq:queue:<q>:intermediate`; with
    /// several, with `BLPOP` (see docs/rq-layout.md).
    pub queues: Vec<String>,
    /// `--name`; default `qctl-<pid>-<n>`, unique per test binary.
    pub name: Option<String>,
    /// `--with-scheduler`: also move due `rq:scheduled:<q>` jobs (every 1 s).
    pub with_scheduler: bool,
    /// `--burst`: work until the queues are empty, then exit.
    pub burst: bool,
    /// `--worker-ttl` (RQ's default 420; the hash TTL is this + 60 while idle).
    pub worker_ttl: Option<u64>,
    /// `--job-monitoring-interval` (default 30): heartbeat period while busy;
    /// a `rq:wip` score is now + min(timeout, this) + 60.
    pub job_monitoring_interval: Option<u64>,
    /// `--maintenance-interval` (default 600): how often the worker cleans
    /// registries (abandoned jobs, expired entries).
    pub maintenance_interval: Option<u64>,
}

impl Default for RqOptions {
    fn default() -> Self {
        RqOptions {
            queues: vec!["default".into()],
            name: None,
            with_scheduler: true,
            burst: false,
            worker_ttl: None,
            job_monitoring_interval: None,
            maintenance_interval: None,
        }
    }
}

impl RqOptions {
    /// Defaults with these queues.
    pub(crate) fn with_queues(queues: &[&str]) -> Self {
        RqOptions {
            queues: queues.iter().map(|q| q.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// A unique default worker name.
fn default_name() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "qctl-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The environment api.py and the worker run with.
fn fixture_env(cmd: &mut Command, server: &RedisServer) {
    cmd.env("QCTL_RQ_URL", url(server))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env_remove("RQ_KEY_PREFIX")
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env_remove("VIRTUAL_ENV");
}

/// `redis://[:pw@]127.0.0.1:PORT/0`.
fn url(server: &RedisServer) -> String {
    assert!(
        server.tls_files().is_none(),
        "the RQ fixture does not support TLS servers"
    );
    let url = match server.password() {
        Some(pw) => server.url_with_credentials(None, pw),
        None => server.url(),
    };
    format!("{url}/0")
}

/// One real `rq worker` process working against a [`RedisServer`],
/// SIGKILLed (with its work horse and scheduler) on drop.
pub(crate) struct RqWorker {
    child: Option<Child>,
    pid: u32,
    name: String,
    opts: RqOptions,
    /// Exit status once reaped (burst workers exit by themselves).
    status: Option<ExitStatus>,
    /// Holds `worker.log` (stdout + stderr). Deleted on drop.
    dir: TempDir,
}

impl std::fmt::Debug for RqWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RqWorker")
            .field("pid", &self.pid)
            .field("name", &self.name)
            .field("queues", &self.opts.queues)
            .field("running", &self.child.is_some())
            .finish()
    }
}

impl RqWorker {
    /// Spawns `rq worker -u URL -P fixtures/rq -c jobs -n NAME
    /// [--with-scheduler] [--burst] QUEUE...` and waits until its hash
    /// `rq:worker:<name>` is in Redis (registered, subscribed to
    /// `rq:pubsub:<name>`). A burst worker may also have exited (status 0)
    /// by then. Panics (with the worker's log) if it exits with an error or
    /// does not register within 30 s.
    pub(crate) fn start(server: &RedisServer, opts: RqOptions) -> RqWorker {
        if !rq_installed() {
            panic!("{RQ_MISSING}");
        }
        let dir = tempfile::Builder::new()
            .prefix("qctl-rq-")
            .tempdir()
            .expect("create temp dir for rq worker");
        let log = File::create(dir.path().join("worker.log")).expect("create rq worker log");
        let name = opts.name.clone().unwrap_or_else(default_name);

        let mut cmd = Command::new(rq_cli());
        cmd.arg("worker")
            .args(["-u", &url(server)])
            .arg("-P")
            .arg(FIXTURE_DIR)
            .args(["-c", "jobs"])
            .args(["-n", &name]);
        if opts.with_scheduler {
            cmd.arg("--with-scheduler");
        }
        if opts.burst {
            cmd.arg("--burst");
        }
        if let Some(ttl) = opts.worker_ttl {
            cmd.args(["--worker-ttl", &ttl.to_string()]);
        }
        if let Some(i) = opts.job_monitoring_interval {
            cmd.args(["--job-monitoring-interval", &i.to_string()]);
        }
        if let Some(i) = opts.maintenance_interval {
            cmd.args(["--maintenance-interval", &i.to_string()]);
        }
        cmd.args(&opts.queues);
        fixture_env(&mut cmd, server);
        cmd.env("QCTL_RQ_DIE_WITH_PARENT", "1")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone rq worker log handle"))
            .stderr(log);
        set_parent_death_signal(&mut cmd);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{RQ_MISSING}"),
            Err(e) => panic!("failed to spawn rq worker: {e}"),
        };
        let pid = child.id();
        let mut w = RqWorker {
            child: Some(child),
            pid,
            name,
            opts,
            status: None,
            dir,
        };
        w.await_registration(server);
        w
    }

    /// Polls for `rq:worker:<name>` with our pid.
    fn await_registration(&mut self, server: &RedisServer) {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut conn = server.conn();
        let key = self.key();
        loop {
            let pid: Option<String> = redis::cmd("HGET")
                .arg(&key)
                .arg("pid")
                .query(&mut conn)
                .unwrap_or(None);
            if pid.as_deref() == Some(self.pid.to_string().as_str()) {
                return;
            }
            if let Some(status) = self.try_reap() {
                // A burst worker with nothing to do may be gone already.
                if status.success() && self.opts.burst {
                    return;
                }
                panic!(
                    "rq worker exited during startup ({status})\n{}",
                    self.log_section()
                );
            }
            if Instant::now() >= deadline {
                let msg = format!(
                    "rq worker {} (pid {}) did not register {key} within {BOOT_TIMEOUT:?}\n{}",
                    self.name,
                    self.pid,
                    self.log_section()
                );
                self.kill();
                panic!("{msg}");
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn try_reap(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            self.child = None;
            self.status = Some(status);
        }
        self.status
    }

    /// The worker's name (`--name`).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// OS process id of the worker's main process (the hash's `pid`).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The queues it listens on, in order.
    pub(crate) fn queues(&self) -> &[String] {
        &self.opts.queues
    }

    /// `rq:worker:<name>`: its HASH.
    pub(crate) fn key(&self) -> String {
        format!("rq:worker:{}", self.name)
    }

    /// `rq:worker:<name>:executions`: SET of its running `<job>:<execution>`.
    pub(crate) fn executions_key(&self) -> String {
        format!("{}:executions", self.key())
    }

    /// `rq:pubsub:<name>`: the channel it takes commands on.
    pub(crate) fn pubsub_channel(&self) -> String {
        format!("rq:pubsub:{}", self.name)
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.try_reap().is_none() && self.child.is_some()
    }

    /// Waits up to `timeout` for the worker to exit by itself (a burst worker,
    /// or after `api.py shutdown NAME`); its exit status, or `None` if still
    /// running.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_reap() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// What the worker printed (its log goes to stderr).
    pub(crate) fn logs(&self) -> String {
        fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default()
    }

    fn log_section(&self) -> String {
        format!(
            "---- rq worker log ({}) ----\n{}\n---- end of log ----",
            self.dir.path().display(),
            self.logs()
        )
    }

    /// Graceful stop: SIGTERM, RQ's warm shutdown. The worker lets a running
    /// job finish, then unregisters (SREM `rq:workers`, `rq:workers:<q>`;
    /// HSET `death`; EXPIRE the hash 60; DEL `:executions`), stops its
    /// scheduler (DEL its lock and `rq:scheduler:<name>`) and exits. SIGKILL
    /// (see [`kill`](Self::kill)) if still running after 10 s.
    pub(crate) fn stop(&mut self) {
        if self.try_reap().is_some() {
            return;
        }
        let Some(child) = self.child.as_ref() else {
            return;
        };
        // SAFETY: plain kill(2) on our own child, which has not been reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        if self.wait_exit(STOP_GRACE).is_none() {
            self.kill();
        }
    }

    /// SIGKILL the worker, its work horse and its scheduler, and wait: what a
    /// crashed worker leaves behind (`rq:workers` member, its hash until its
    /// TTL, the running job in `rq:wip:<q>` with status `started` until a
    /// registry cleanup moves it to failed or retries it; see
    /// docs/rq-layout.md). Idempotent.
    pub(crate) fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // The horse and the scheduler also die by PR_SET_PDEATHSIG (jobs.py);
        // kill them first anyway, so that none outlives this call.
        let children = child_pids(child.id());
        let _ = child.kill();
        for &pid in &children {
            // SAFETY: kill(2) on a pid that was our worker's child a moment
            // ago; it cannot have been reused by an unrelated process
            // because its parent (the worker) had not reaped it yet.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        self.status = child.wait().ok();
        // Orphans now; give init a moment to reap them.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && children.iter().any(|&p| alive(p)) {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RqWorker {
    fn drop(&mut self) {
        // Before the TempDir field is deleted.
        self.kill();
    }
}

/// Pids whose parent is `ppid` (from /proc/<pid>/stat).
fn child_pids(ppid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // "pid (comm) state ppid ...": comm may contain spaces.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(ppid)
        })
        .collect()
}

/// Whether `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// Runs `python api.py ARGS...` against `server` and parses the one JSON
/// document it prints. Panics with its stderr if it fails.
pub(crate) fn api(server: &RedisServer, args: &[&str]) -> serde_json::Value {
    api_env(server, &[], args)
}

/// [`api`] with more environment, such as `RQ_KEY_PREFIX` (which RQ reads
/// at import).
pub(crate) fn api_env(
    server: &RedisServer,
    env: &[(&str, &str)],
    args: &[&str],
) -> serde_json::Value {
    if !rq_installed() {
        panic!("{RQ_MISSING}");
    }
    let mut cmd = Command::new(python());
    cmd.arg(api_py()).args(args);
    fixture_env(&mut cmd, server);
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::null());
    set_parent_death_signal(&mut cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run python api.py: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "python api.py {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "python api.py {args:?} printed no JSON ({e}):\n{stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `api.py report` (every queue in `rq:queues`).
pub(crate) fn report(server: &RedisServer) -> serde_json::Value {
    api(server, &["report"])
}

/// Polls `api.py report` (every 200 ms; each run costs ~0.2 s of CPU) until
/// `cond` holds; returns that report. Panics with the last report after
/// `timeout`.
pub(crate) fn wait_for_report(
    server: &RedisServer,
    timeout: Duration,
    mut cond: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let r = report(server);
        if cond(&r) {
            return r;
        }
        if Instant::now() >= deadline {
            panic!(
                "RQ's API did not reach the expected state within {timeout:?}; last report:\n{}",
                serde_json::to_string_pretty(&r).unwrap_or_default()
            );
        }
        thread::sleep(REPORT_POLL_INTERVAL);
    }
}

/// The report's entry for queue `name` (`Null` if it is not in `rq:queues`).
pub(crate) fn queue<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["queues"]
        .as_array()
        .and_then(|qs| qs.iter().find(|q| q["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

/// The ids an `api.py` write printed (`{"ids": [...]}`), or any JSON array
/// of strings such as a registry's `job_ids`.
pub(crate) fn ids(v: &serde_json::Value) -> Vec<String> {
    let arr = if v.is_array() { v } else { &v["ids"] };
    arr.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
