//! Real Sidekiq (6.4, Debian's `ruby-sidekiq`) workers and Sidekiq's own API,
//! for tests of qctl's Sidekiq support.
//!
//! ```ignore
//! use crate::common::{RedisServer, sidekiq::{self, Sidekiq, SidekiqOptions}};
//!
//! if !sidekiq::available("my_test") { return; }
//! let server = RedisServer::start();
//! let sk = Sidekiq::start(&server, SidekiqOptions::default());
//! sidekiq::api(&server, None, &["enqueue", "OkJob", "20"]);
//! let report = sidekiq::wait_for_report(&server, None, Duration::from_secs(10), |r| {
//!     r["stats"]["processed"].as_u64() >= Some(20)
//! });
//! ```
//!
//! * Worker classes: `tests/it/fixtures/sidekiq/jobs.rb` (OkJob, FailJob
//!   straight to dead, RetryFailJob parked in retry, FlakyFailJob one quick
//!   retry then dead, SlowJob sleeping `args[0]` seconds).
//! * `api.rb`: `report` (read-only JSON of Stats, queues, sets, processes,
//!   workers) and writes through Sidekiq's API (enqueue, schedule, dead, kill,
//!   retry-dead, retry-retries, quiet, stop); see the script's header.
//! * Sidekiq only writes `stat:*`, the process hash and `<identity>:workers`
//!   at its heartbeat, every 5 s: wait for them with [`wait_for_report`].
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

use tempfile::TempDir;

use super::{RedisServer, set_parent_death_signal};

/// `tests/it/fixtures/sidekiq`.
pub const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/sidekiq");

/// How long a sidekiq process may take to boot and write its first heartbeat.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`Sidekiq::stop`] waits after SIGTERM before SIGKILL (on top of `-t`).
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Interval between polls of Redis / api.rb.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
const REPORT_POLL_INTERVAL: Duration = Duration::from_millis(250);

const SIDEKIQ_MISSING: &str = "Sidekiq not found: install it with \
     `sudo apt-get install -y ruby-sidekiq ruby-redis-namespace` (Debian/Ubuntu; .ci/run does)";

/// Path of `jobs.rb`.
pub fn jobs_rb() -> PathBuf {
    Path::new(FIXTURE_DIR).join("jobs.rb")
}

/// Path of `api.rb`.
pub fn api_rb() -> PathBuf {
    Path::new(FIXTURE_DIR).join("api.rb")
}

/// Whether `sidekiq`, Ruby's sidekiq library and redis-namespace are installed
/// (checked once per test binary).
pub fn sidekiq_installed() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let on_path = Command::new("sidekiq")
            .arg("-V")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        on_path
            && Command::new("ruby")
                .args([
                    "-e",
                    "require 'sidekiq'; require 'sidekiq/api'; require 'redis-namespace'",
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
    })
}

/// `true` when Sidekiq is installed; otherwise prints why `test` is skipped
/// and returns `false`. Use as `if !sidekiq::available("name") { return; }`.
/// Under CI (`CI` set) a missing Sidekiq is a failure, not a skip: .ci/run
/// installs it.
pub fn available(test: &str) -> bool {
    if sidekiq_installed() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {SIDEKIQ_MISSING}");
    }
    eprintln!("SKIPPED {test}: {SIDEKIQ_MISSING}");
    false
}

/// Options for [`Sidekiq::start`].
#[derive(Debug, Clone)]
pub struct SidekiqOptions {
    /// `-c N`: worker threads.
    pub concurrency: usize,
    /// `-q Q` for each, in order (default `default`, `mail`).
    pub queues: Vec<String>,
    /// `-g TAG`.
    pub tag: Option<String>,
    /// redis-namespace prefix: every key becomes `NS:key`.
    pub namespace: Option<String>,
    /// `-t N`: seconds a graceful stop waits for busy jobs before pushing
    /// them back to their queue.
    pub shutdown_timeout: u64,
    /// Scheduler poll interval average in seconds (`QCTL_SIDEKIQ_POLL`):
    /// how soon due `schedule`/`retry` entries are enqueued.
    pub poll_interval: f64,
}

impl Default for SidekiqOptions {
    fn default() -> Self {
        SidekiqOptions {
            concurrency: 5,
            queues: vec!["default".into(), "mail".into()],
            tag: None,
            namespace: None,
            shutdown_timeout: 1,
            poll_interval: 1.0,
        }
    }
}

impl SidekiqOptions {
    /// Defaults with a namespace.
    pub fn with_namespace(ns: &str) -> Self {
        SidekiqOptions {
            namespace: Some(ns.to_string()),
            ..Default::default()
        }
    }
}

/// One real `sidekiq` process working against a [`RedisServer`], SIGKILLed on
/// drop.
pub struct Sidekiq {
    child: Option<Child>,
    pid: u32,
    identity: String,
    opts: SidekiqOptions,
    /// Holds `sidekiq.log` (stdout + stderr). Deleted on drop.
    dir: TempDir,
}

impl std::fmt::Debug for Sidekiq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sidekiq")
            .field("pid", &self.pid)
            .field("identity", &self.identity)
            .field("namespace", &self.opts.namespace)
            .field("running", &self.child.is_some())
            .finish()
    }
}

/// The environment api.rb and jobs.rb read.
fn fixture_env(cmd: &mut Command, server: &RedisServer, namespace: Option<&str>) {
    assert!(
        server.tls_files().is_none(),
        "the Sidekiq fixture does not support TLS servers"
    );
    let url = match server.password() {
        Some(pw) => server.url_with_credentials(None, pw),
        None => server.url(),
    };
    cmd.env("QCTL_SIDEKIQ_URL", format!("{url}/0"))
        .env_remove("QCTL_SIDEKIQ_NAMESPACE")
        .env_remove("REDIS_URL")
        .env_remove("REDIS_PROVIDER")
        .env_remove("RUBYOPT")
        .env("RACK_ENV", "test")
        .env("APP_ENV", "test");
    if let Some(ns) = namespace {
        cmd.env("QCTL_SIDEKIQ_NAMESPACE", ns);
    }
}

/// `NS:` for a namespace, `""` without.
pub fn key_prefix(namespace: Option<&str>) -> String {
    namespace.map(|ns| format!("{ns}:")).unwrap_or_default()
}

impl Sidekiq {
    /// Spawns `sidekiq -r jobs.rb -q .. -c N -t T [-g TAG]` and waits until
    /// its process hash (`[NS:]<identity>` with `info`) is in Redis, i.e. its
    /// first heartbeat is done. Panics (with the process's log) if it exits
    /// or does not report within 30 s.
    pub fn start(server: &RedisServer, opts: SidekiqOptions) -> Sidekiq {
        if !sidekiq_installed() {
            panic!("{SIDEKIQ_MISSING}");
        }
        let dir = tempfile::Builder::new()
            .prefix("qctl-sidekiq-")
            .tempdir()
            .expect("create temp dir for sidekiq");
        let log = File::create(dir.path().join("sidekiq.log")).expect("create sidekiq log");

        let mut cmd = Command::new("sidekiq");
        cmd.arg("-r").arg(jobs_rb());
        for q in &opts.queues {
            cmd.args(["-q", q]);
        }
        cmd.args(["-c", &opts.concurrency.to_string()])
            .args(["-t", &opts.shutdown_timeout.to_string()]);
        if let Some(tag) = &opts.tag {
            cmd.args(["-g", tag]);
        }
        fixture_env(&mut cmd, server, opts.namespace.as_deref());
        cmd.env("QCTL_SIDEKIQ_POLL", opts.poll_interval.to_string())
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone sidekiq log handle"))
            .stderr(log);
        set_parent_death_signal(&mut cmd);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{SIDEKIQ_MISSING}"),
            Err(e) => panic!("failed to spawn sidekiq: {e}"),
        };
        let pid = child.id();
        let mut sk = Sidekiq {
            child: Some(child),
            pid,
            identity: String::new(),
            opts,
            dir,
        };
        sk.identity = sk.await_heartbeat(server);
        sk
    }

    /// Polls `[NS:]processes` for a member whose hash's `info.pid` is ours.
    fn await_heartbeat(&mut self, server: &RedisServer) -> String {
        let prefix = key_prefix(self.opts.namespace.as_deref());
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut conn = server.conn();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "sidekiq exited during startup ({status})\n{}",
                    self.log_section()
                );
            }
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(format!("{prefix}processes"))
                .query(&mut conn)
                .unwrap_or_default();
            for identity in members {
                let info: Option<String> = redis::cmd("HGET")
                    .arg(format!("{prefix}{identity}"))
                    .arg("info")
                    .query(&mut conn)
                    .unwrap_or(None);
                let ours = info
                    .and_then(|i| serde_json::from_str::<serde_json::Value>(&i).ok())
                    .and_then(|v| v["pid"].as_u64())
                    == Some(u64::from(self.pid));
                if ours {
                    return identity;
                }
            }
            if Instant::now() >= deadline {
                let msg = format!(
                    "sidekiq (pid {}) did not register in {prefix}processes within {BOOT_TIMEOUT:?}\n{}",
                    self.pid,
                    self.log_section()
                );
                self.kill();
                panic!("{msg}");
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Sidekiq's identity, `hostname:pid:nonce`: the member of `processes`
    /// and (with the namespace prefix) the name of its process hash.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// OS process id (also the `pid` in its `info`).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The namespace it runs under, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.opts.namespace.as_deref()
    }

    /// `[NS:]<identity>`: its process hash.
    pub fn process_key(&self) -> String {
        format!("{}{}", key_prefix(self.namespace()), self.identity)
    }

    /// `[NS:]<identity>:workers`: its busy-work hash.
    pub fn workers_key(&self) -> String {
        format!("{}:workers", self.process_key())
    }

    /// `[NS:]<identity>-signals`: its signal list.
    pub fn signals_key(&self) -> String {
        format!("{}-signals", self.process_key())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// What sidekiq printed (its log goes to stdout).
    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.path().join("sidekiq.log")).unwrap_or_default()
    }

    fn log_section(&self) -> String {
        format!(
            "---- sidekiq log ({}) ----\n{}\n---- end of log ----",
            self.dir.path().display(),
            self.logs()
        )
    }

    /// Graceful stop: SIGTERM, as Sidekiq's `TERM` signal does (busy jobs get
    /// `-t` seconds, then are pushed back to their queue; the identity is
    /// removed from `processes` and `:workers` deleted, while the process
    /// hash stays until its TTL). SIGKILL if still running after `-t` + 5 s.
    pub fn stop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let grace = Duration::from_secs(self.opts.shutdown_timeout) + STOP_GRACE;
        if super::terminate(child, grace).is_some() {
            self.child = None;
            return;
        }
        self.kill();
    }

    /// SIGKILL and wait: what a crashed worker leaves behind (`processes`
    /// member forever, until pruned; process and `:workers` hashes until
    /// their 60 s TTL; its in-flight jobs are lost). Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Sidekiq {
    fn drop(&mut self) {
        // Before the TempDir field is deleted.
        self.kill();
    }
}

/// Runs `ruby api.rb ARGS...` against `server` (with `namespace`) and parses
/// the one JSON document it prints. Panics with its stderr if it fails.
pub fn sidekiq_api(
    server: &RedisServer,
    namespace: Option<&str>,
    args: &[&str],
) -> serde_json::Value {
    if !sidekiq_installed() {
        panic!("{SIDEKIQ_MISSING}");
    }
    let mut cmd = Command::new("ruby");
    cmd.arg(api_rb()).args(args);
    fixture_env(&mut cmd, server, namespace);
    cmd.stdin(Stdio::null());
    set_parent_death_signal(&mut cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to run ruby api.rb: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        panic!(
            "ruby api.rb {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "ruby api.rb {args:?} printed no JSON ({e}):\n{stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Short name for [`sidekiq_api`].
pub fn api(server: &RedisServer, namespace: Option<&str>, args: &[&str]) -> serde_json::Value {
    sidekiq_api(server, namespace, args)
}

/// `api.rb report`.
pub fn report(server: &RedisServer, namespace: Option<&str>) -> serde_json::Value {
    sidekiq_api(server, namespace, &["report"])
}

/// Polls `api.rb report` (every 250 ms; each run costs ~0.3 s of CPU) until
/// `cond` holds; returns that report. Panics with the last report after
/// `timeout`.
pub fn wait_for_report(
    server: &RedisServer,
    namespace: Option<&str>,
    timeout: Duration,
    mut cond: impl FnMut(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let r = report(server, namespace);
        if cond(&r) {
            return r;
        }
        if Instant::now() >= deadline {
            panic!(
                "Sidekiq's API did not reach the expected state within {timeout:?}; last report:\n{}",
                serde_json::to_string_pretty(&r).unwrap_or_default()
            );
        }
        thread::sleep(REPORT_POLL_INTERVAL);
    }
}

/// The jids an `api.rb` write printed (`{"jids": [...]}`).
pub fn jids(v: &serde_json::Value) -> Vec<String> {
    v["jids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|j| j.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
