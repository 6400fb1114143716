//! Shared integration-test harness for `qctl`.
//!
//! Every module of the `it` test binary uses it as `crate::common`, e.g.
//! `let server = crate::common::RedisServer::start();`.
//!
//! # Ownership and process lifetime
//!
//! Every process this module spawns (redis-server) is owned by the value that
//! created it ([`RedisServer`], [`RedisCluster`]) and is killed (SIGKILL +
//! `wait`) when that value is dropped, including while a test panics (Drop runs
//! during unwinding).
//!
//! As a safety net for when the test binary itself is killed (Ctrl-C, SIGKILL,
//! a timeout), every redis-server is spawned with
//! `prctl(PR_SET_PDEATHSIG, SIGKILL)`. That signal fires when the **thread**
//! that spawned the server exits, not when the process exits. Consequently:
//!
//! * servers are owned by the test (thread) that created them;
//! * never share servers between tests through a `static`/`OnceLock`/
//!   `lazy_static`: the test thread that happened to start it would take it
//!   down with it when it finishes;
//! * never start a server in a helper thread that ends before the server
//!   should (this module starts cluster nodes from the calling thread for that
//!   reason).
//!
//! Everything listens on 127.0.0.1 only.

#![allow(dead_code, unused_imports)]

pub(crate) mod bullmq;
pub mod net;
pub mod pty;
pub mod queue;
pub(crate) mod rq;
pub mod sidekiq;
pub mod tls;
pub mod workspace;

pub use net::{BlackHole, ClosedPort, free_port};
pub use pty::Pty;
pub use queue::*;
pub use tls::TlsFiles;
pub use workspace::Workspace;

use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use redis::IntoConnectionInfo;
use tempfile::TempDir;

/// How long to wait for a server to answer PING.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for a freshly created cluster to report `cluster_state:ok`.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval between readiness polls.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How many times to retry startup when the chosen port was taken meanwhile.
const MAX_PORT_ATTEMPTS: usize = 10;

const REDIS_SERVER_MISSING: &str = "redis-server not found on PATH: install it with \
     `sudo apt-get install -y redis-server` (Debian/Ubuntu)";
const REDIS_CLI_MISSING: &str = "redis-cli not found on PATH: install it with \
     `sudo apt-get install -y redis-tools` (Debian/Ubuntu)";

/// An ACL user to create on the server (`user <name> >password <rules...>`).
///
/// `rules` is a whitespace-separated ACL rule list, e.g.
/// `"on ~* &* +@read -@dangerous"`. Remember `on`, otherwise the user is
/// disabled.
#[derive(Debug, Clone)]
pub struct AclUser {
    pub name: &'static str,
    pub password: &'static str,
    pub rules: &'static str,
}

/// TLS settings of a server. Certificates are generated per server (per
/// cluster for [`RedisCluster`]) with the openssl CLI.
#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// `tls-auth-clients yes` (clients must present a certificate signed by the
    /// test CA) vs `no`.
    pub auth_clients: bool,
}

/// Options for [`RedisServer::start_with`] / [`RedisCluster::start_with`].
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Password of the `default` user (also used as `masterauth` in clusters).
    pub requirepass: Option<String>,
    /// Extra ACL users.
    pub acl_users: Vec<AclUser>,
    /// Serve TLS only (`--port 0 --tls-port N`).
    pub tls: Option<TlsOptions>,
    /// Extra redis-server command-line arguments, e.g.
    /// `["--maxmemory", "100mb"]`. Appended last, so they override defaults.
    pub extra_args: Vec<String>,
    /// Start from a (empty) config file `redis.conf` in the server's dir,
    /// so that `CONFIG REWRITE` works; see [`RedisServer::config_file`].
    pub config_file: bool,
}

impl ServerOptions {
    /// Options with `requirepass` set.
    pub fn with_password(password: &str) -> Self {
        ServerOptions {
            requirepass: Some(password.to_string()),
            ..Default::default()
        }
    }

    /// Options with TLS enabled.
    pub fn with_tls(auth_clients: bool) -> Self {
        ServerOptions {
            tls: Some(TlsOptions { auth_clients }),
            ..Default::default()
        }
    }
}

/// Whether a server is a cluster node (and which bus port it uses).
#[derive(Debug, Clone, Copy)]
struct ClusterNodeSpec;

/// Why one startup attempt failed.
enum StartFailure {
    /// The port (or cluster bus port) was taken between choosing and binding.
    PortInUse,
    /// Anything else; the message is ready to be shown.
    Other(String),
}

/// A redis-server process on 127.0.0.1, killed on drop.
pub struct RedisServer {
    /// The port clients connect to (the TLS port for TLS servers).
    pub port: u16,
    /// Temp dir holding the server's `--dir`, logs and (for standalone TLS
    /// servers) certificates. Deleted on drop, after the process is gone.
    pub dir: TempDir,
    /// Cluster bus port (`--cluster-port`), for cluster nodes.
    pub bus_port: Option<u16>,
    child: Option<Child>,
    opts: ServerOptions,
    tls_files: Option<TlsFiles>,
    cluster: Option<ClusterNodeSpec>,
}

impl std::fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .field("pid", &self.pid())
            .field("tls", &self.tls_files.is_some())
            .finish()
    }
}

impl RedisServer {
    /// A plain standalone server: no auth, no TLS.
    pub fn start() -> RedisServer {
        Self::start_with(ServerOptions::default())
    }

    /// A standalone server with the given options.
    pub fn start_with(opts: ServerOptions) -> RedisServer {
        let mut server = Self::launch(opts, None, None);
        server.await_ready();
        server
    }

    /// Spawns the process without waiting for it. `tls_files` overrides
    /// per-server certificate generation (used by clusters, whose nodes must
    /// share one CA).
    fn launch(
        opts: ServerOptions,
        tls_files: Option<TlsFiles>,
        cluster: Option<ClusterNodeSpec>,
    ) -> RedisServer {
        let dir = tempfile::Builder::new()
            .prefix("qctl-redis-")
            .tempdir()
            .expect("create temp dir for redis-server");
        let tls_files = match (&opts.tls, tls_files) {
            (None, _) => None,
            (Some(_), Some(files)) => Some(files),
            (Some(_), None) => Some(tls::generate(&dir.path().join("tls"))),
        };
        let mut server = RedisServer {
            port: 0,
            dir,
            bus_port: None,
            child: None,
            opts,
            tls_files,
            cluster,
        };
        server.spawn();
        server
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn stdio_path(&self) -> PathBuf {
        self.dir.path().join("redis.stdio.log")
    }

    /// Chooses fresh ports and spawns redis-server.
    fn spawn(&mut self) {
        let _ = fs::remove_file(self.log_path());
        let _ = fs::remove_file(self.stdio_path());
        self.port = free_port();
        self.bus_port = self.cluster.map(|_| {
            loop {
                let p = free_port();
                if p != self.port {
                    break p;
                }
            }
        });

        let dir = self.dir.path();
        let mut cmd = Command::new("redis-server");
        if self.opts.config_file {
            let conf = dir.join("redis.conf");
            if !conf.exists() {
                fs::write(&conf, "").expect("write redis.conf");
            }
            cmd.arg(&conf);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--daemonize", "no"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(self.log_path())
            .args(["--loglevel", "notice"]);

        match &self.opts.tls {
            None => {
                cmd.args(["--port", &self.port.to_string()]);
            }
            Some(tls_opts) => {
                let files = self.tls_files.as_ref().expect("tls files generated");
                cmd.args(["--port", "0"])
                    .args(["--tls-port", &self.port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(&files.server_cert)
                    .arg("--tls-key-file")
                    .arg(&files.server_key)
                    .arg("--tls-ca-cert-file")
                    .arg(&files.ca)
                    .args([
                        "--tls-auth-clients",
                        if tls_opts.auth_clients { "yes" } else { "no" },
                    ]);
                if self.cluster.is_some() {
                    // Cluster bus and replication over TLS; the server cert is
                    // also valid as a client cert (EKU clientAuth).
                    cmd.args(["--tls-cluster", "yes", "--tls-replication", "yes"]);
                }
            }
        }

        if let Some(pw) = &self.opts.requirepass {
            cmd.arg("--requirepass").arg(pw);
        }
        for user in &self.opts.acl_users {
            cmd.arg("--user").arg(user.name);
            cmd.arg(format!(">{}", user.password));
            cmd.args(user.rules.split_whitespace());
        }
        if let Some(bus_port) = self.bus_port {
            cmd.args(["--cluster-enabled", "yes"])
                .arg("--cluster-config-file")
                .arg(dir.join("nodes.conf"))
                .args(["--cluster-node-timeout", "5000"])
                .args(["--cluster-port", &bus_port.to_string()]);
            if let Some(pw) = &self.opts.requirepass {
                cmd.arg("--masterauth").arg(pw);
            }
        }
        cmd.args(&self.opts.extra_args);

        let stdio = File::create(self.stdio_path()).expect("create redis stdio log");
        cmd.stdin(Stdio::null())
            .stdout(stdio.try_clone().expect("clone stdio log handle"))
            .stderr(stdio)
            .current_dir(dir);
        set_parent_death_signal(&mut cmd);

        match cmd.spawn() {
            Ok(child) => self.child = Some(child),
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{REDIS_SERVER_MISSING}"),
            Err(e) => panic!("failed to spawn redis-server: {e}"),
        }
    }

    /// Waits for PING, retrying on a different port when the port was taken.
    fn await_ready(&mut self) {
        for attempt in 1..=MAX_PORT_ATTEMPTS {
            match self.wait_for_ping() {
                Ok(()) => return,
                Err(StartFailure::PortInUse) if attempt < MAX_PORT_ATTEMPTS => {
                    self.reap();
                    self.spawn();
                }
                Err(StartFailure::PortInUse) => {
                    let msg = self.failure_report("port still in use after retries");
                    panic!("{msg}")
                }
                Err(StartFailure::Other(msg)) => {
                    self.reap();
                    panic!("{msg}")
                }
            }
        }
    }

    fn wait_for_ping(&mut self) -> Result<(), StartFailure> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let expected_pid = self.pid().expect("spawned");
        let mut last_err;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let logs = self.logs();
                if logs.contains("Address already in use") {
                    return Err(StartFailure::PortInUse);
                }
                return Err(StartFailure::Other(format!(
                    "redis-server exited during startup ({status}) on port {}\n{}",
                    self.port,
                    self.log_section()
                )));
            }
            match self.ping_self(expected_pid) {
                Ok(true) => return Ok(()),
                // Answered, but it is someone else's server (port race): keep
                // polling until our process fails to bind and exits.
                Ok(false) => last_err = "port answered by another process".into(),
                Err(e) => last_err = e.to_string(),
            }
            if Instant::now() >= deadline {
                return Err(StartFailure::Other(self.failure_report(&format!(
                    "redis-server did not answer PING within {STARTUP_TIMEOUT:?} (last error: {last_err})"
                ))));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// PINGs the server; `Ok(true)` if it answered and is our process.
    fn ping_self(&self, expected_pid: u32) -> redis::RedisResult<bool> {
        let mut conn = self
            .client()
            .get_connection_with_timeout(Duration::from_millis(500))?;
        conn.set_read_timeout(Some(Duration::from_secs(2)))?;
        let _: String = redis::cmd("PING").query(&mut conn)?;
        // Make sure the port is served by *our* process, not one that grabbed
        // the port between free_port() and our bind.
        match redis::cmd("INFO").arg("server").query::<String>(&mut conn) {
            Ok(info) => Ok(info_field(&info, "process_id")
                .and_then(|p| p.parse::<u32>().ok())
                .is_none_or(|pid| pid == expected_pid)),
            // e.g. the admin user cannot run INFO; PING answered, good enough.
            Err(_) => Ok(true),
        }
    }

    fn failure_report(&self, what: &str) -> String {
        format!("{what} (port {})\n{}", self.port, self.log_section())
    }

    fn log_section(&self) -> String {
        format!(
            "---- redis-server log ({}) ----\n{}\n---- end of log ----",
            self.dir.path().display(),
            self.logs()
        )
    }

    /// The server's log file plus anything it printed on stdout/stderr.
    pub fn logs(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let stdio = fs::read_to_string(self.stdio_path()).unwrap_or_default();
        if stdio.trim().is_empty() {
            log
        } else {
            format!("{log}\n[stdout/stderr]\n{stdio}")
        }
    }

    /// OS process id, while the server runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Kills the server now (SIGKILL) and waits for it. Idempotent; use it to
    /// test how qctl behaves when the server goes away. The temp dir stays
    /// until drop.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
        }
        self.reap();
    }

    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://...` for TLS servers. No credentials.
    pub fn url(&self) -> String {
        let scheme = if self.tls_files.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Like [`url`](Self::url) with `user:password@` (user may be empty for the
    /// default user). Reserved characters are percent-encoded.
    pub fn url_with_credentials(&self, user: Option<&str>, password: &str) -> String {
        let scheme = if self.tls_files.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!(
            "{scheme}://{}:{}@127.0.0.1:{}",
            percent_encode(user.unwrap_or("")),
            percent_encode(password),
            self.port
        )
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The admin (default user) password, if any.
    pub fn password(&self) -> Option<&str> {
        self.opts.requirepass.as_deref()
    }

    /// The options the server was started with.
    /// The config file the server started from (with `config_file`).
    pub fn config_file(&self) -> std::path::PathBuf {
        self.dir.path().join("redis.conf")
    }

    pub fn options(&self) -> &ServerOptions {
        &self.opts
    }

    /// Certificates of a TLS server.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls_files.as_ref()
    }

    // ---------------------------------------------------------------- redis-cli

    /// `redis-cli -h 127.0.0.1 -p PORT [--tls --cacert .. --cert .. --key ..]`
    /// without any authentication, ready for `.args(...)`.
    pub fn cli_command_noauth(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(files) = &self.tls_files {
            cmd.arg("--tls")
                .arg("--cacert")
                .arg(&files.ca)
                .arg("--cert")
                .arg(&files.client_cert)
                .arg("--key")
                .arg(&files.client_key);
        }
        cmd.env_remove("REDISCLI_AUTH")
            .env("REDISCLI_HISTFILE", "/dev/null")
            .env("REDISCLI_RCFILE", "/dev/null")
            .stdin(Stdio::null());
        cmd
    }

    /// Like [`cli_command_noauth`](Self::cli_command_noauth) but authenticated
    /// as the admin (default user with `requirepass`).
    pub fn cli_command(&self) -> Command {
        let mut cmd = self.cli_command_noauth();
        if let Some(pw) = &self.opts.requirepass {
            cmd.env("REDISCLI_AUTH", pw);
        }
        cmd
    }

    /// Runs `redis-cli -e ARGS` as admin; returns trimmed stdout. Panics if
    /// redis-cli fails or the server replies with an error.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = self.cli_command();
        cmd.arg("-e").args(args);
        run_cli_checked(cmd, args)
    }

    /// Runs `redis-cli ARGS` as admin and returns the raw output (no panic on
    /// failure; note redis-cli exits 0 on error replies without `-e`).
    pub fn cli_output(&self, args: &[&str]) -> Output {
        let mut cmd = self.cli_command();
        cmd.args(args);
        run_cli(cmd)
    }

    /// Runs `redis-cli --user USER --pass PASSWORD ARGS`, raw output.
    pub fn cli_as(&self, user: &str, password: &str, args: &[&str]) -> Output {
        let mut cmd = self.cli_command_noauth();
        cmd.args(["--user", user, "--pass", password, "--no-auth-warning"])
            .args(args);
        run_cli(cmd)
    }

    /// Runs `redis-cli ARGS` without authenticating, raw output.
    pub fn cli_noauth(&self, args: &[&str]) -> Output {
        let mut cmd = self.cli_command_noauth();
        cmd.args(args);
        run_cli(cmd)
    }

    // ----------------------------------------------------------------- redis-rs

    /// A redis-rs client with admin credentials (and the test CA + client
    /// certificate for TLS servers).
    pub fn client(&self) -> redis::Client {
        self.client_as(None, self.opts.requirepass.as_deref())
    }

    /// A redis-rs client authenticating as `user`/`password` (both optional).
    pub fn client_as(&self, user: Option<&str>, password: Option<&str>) -> redis::Client {
        let info = self.url().into_connection_info().expect("valid redis url");
        let mut settings = redis::RedisConnectionInfo::default();
        if let Some(user) = user {
            settings = settings.set_username(user);
        }
        if let Some(pw) = password {
            settings = settings.set_password(pw);
        }
        let info = info.set_redis_settings(settings);
        match &self.tls_files {
            None => redis::Client::open(info).expect("redis client"),
            Some(files) => redis::Client::build_with_tls(info, files.redis_certificates(true))
                .expect("redis tls client"),
        }
    }

    /// A sync connection with admin credentials, for seeding test data.
    pub fn conn(&self) -> redis::Connection {
        self.client()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.url()))
    }

    /// A sync connection as `user`/`password`; the connect result is returned
    /// (redis-rs authenticates while connecting, so wrong credentials fail here).
    pub fn conn_as(
        &self,
        user: Option<&str>,
        password: Option<&str>,
    ) -> redis::RedisResult<redis::Connection> {
        self.client_as(user, password)
            .get_connection_with_timeout(Duration::from_secs(5))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Kill before the TempDir field is dropped (fields drop after this).
        self.stop();
    }
}

/// A 3-primary Redis Cluster (no replicas) on 127.0.0.1, killed on drop.
pub struct RedisCluster {
    /// The three primaries.
    pub nodes: Vec<RedisServer>,
    opts: ServerOptions,
    tls_files: Option<TlsFiles>,
    /// Shared certificates for TLS clusters. Declared after `nodes` so the
    /// nodes are killed before it is deleted.
    certs_dir: Option<TempDir>,
}

impl RedisCluster {
    /// 3 primaries, no auth, no TLS.
    pub fn start() -> RedisCluster {
        Self::start_with(ServerOptions::default())
    }

    /// 3 primaries with the given options (requirepass also sets masterauth;
    /// TLS uses one CA for all nodes and `tls-cluster yes`).
    pub fn start_with(opts: ServerOptions) -> RedisCluster {
        let (certs_dir, tls_files) = if opts.tls.is_some() {
            let d = tempfile::Builder::new()
                .prefix("qctl-redis-cluster-tls-")
                .tempdir()
                .expect("create temp dir for cluster certs");
            let files = tls::generate(d.path());
            (Some(d), Some(files))
        } else {
            (None, None)
        };

        // Spawn all nodes from this thread (PDEATHSIG is per spawning thread),
        // then wait for all of them: they boot concurrently.
        let mut nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::launch(opts.clone(), tls_files.clone(), Some(ClusterNodeSpec)))
            .collect();
        for node in &mut nodes {
            node.await_ready();
        }

        let cluster = RedisCluster {
            nodes,
            opts,
            tls_files,
            certs_dir,
        };
        cluster.create();
        cluster.wait_until_ok();
        cluster
    }

    fn create(&self) {
        let mut cmd = self.nodes[0].cli_command_noauth();
        if let Some(pw) = &self.opts.requirepass {
            cmd.args(["-a", pw, "--no-auth-warning"]);
        }
        cmd.args(["--cluster", "create"]);
        for node in &self.nodes {
            cmd.arg(node.addr());
        }
        cmd.args(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = run_cli(cmd);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains("[OK] All 16384 slots covered") {
            panic!(
                "redis-cli --cluster create failed ({})\nstdout:\n{stdout}\nstderr:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                self.logs()
            );
        }
    }

    fn wait_until_ok(&self) {
        let deadline = Instant::now() + CLUSTER_TIMEOUT;
        let mut conns: Vec<Option<redis::Connection>> = self.nodes.iter().map(|_| None).collect();
        loop {
            let mut last = Vec::new();
            let mut all_ok = true;
            for (node, slot) in self.nodes.iter().zip(conns.iter_mut()) {
                if slot.is_none() {
                    *slot = node
                        .client()
                        .get_connection_with_timeout(Duration::from_secs(1))
                        .ok();
                }
                let info = match slot.as_mut() {
                    Some(c) => redis::cmd("CLUSTER").arg("INFO").query::<String>(c),
                    None => Ok(String::from("<no connection>")),
                };
                let ok = match &info {
                    Ok(info) => {
                        info_field(info, "cluster_state") == Some("ok")
                            && info_field(info, "cluster_known_nodes") == Some("3")
                            && info_field(info, "cluster_slots_ok") == Some("16384")
                    }
                    Err(_) => {
                        *slot = None;
                        false
                    }
                };
                all_ok &= ok;
                last.push(format!("{}: {:?}", node.addr(), info));
            }
            if all_ok {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "cluster did not reach cluster_state:ok within {CLUSTER_TIMEOUT:?}\n{}\n{}",
                    last.join("\n"),
                    self.logs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.log_section())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// One URL per node (`redis://127.0.0.1:PORT` or `rediss://`), no credentials.
    pub fn seed_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }

    /// `127.0.0.1:PORT` per node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr()).collect()
    }

    /// The admin password, if any.
    pub fn password(&self) -> Option<&str> {
        self.opts.requirepass.as_deref()
    }

    /// Shared certificates of a TLS cluster.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls_files.as_ref()
    }

    /// A redis-rs cluster client with admin credentials.
    pub fn client(&self) -> redis::cluster::ClusterClient {
        let mut builder = redis::cluster::ClusterClient::builder(self.seed_urls())
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(5));
        if let Some(pw) = &self.opts.requirepass {
            builder = builder.password(pw);
        }
        if let Some(files) = &self.tls_files {
            builder = builder.certs(files.redis_certificates(true));
        }
        builder.build().expect("cluster client")
    }

    /// A sync cluster connection with admin credentials, for seeding data.
    pub fn conn(&self) -> redis::cluster::ClusterConnection {
        self.client()
            .get_connection()
            .unwrap_or_else(|e| panic!("connect to cluster {:?}: {e}", self.seed_urls()))
    }

    /// `redis-cli -c -e ARGS` against the first node, as admin; trimmed stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = self.nodes[0].cli_command();
        cmd.args(["-c", "-e"]).args(args);
        run_cli_checked(cmd, args)
    }
}

// ------------------------------------------------------------------- helpers

/// Makes the child get SIGKILL when the spawning thread exits (see module docs).
fn set_parent_death_signal(cmd: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure only calls async-signal-safe functions (prctl,
    // getppid) and does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

fn run_cli(mut cmd: Command) -> Output {
    match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == io::ErrorKind::NotFound => panic!("{REDIS_CLI_MISSING}"),
        Err(e) => panic!("failed to run redis-cli: {e}"),
    }
}

fn run_cli_checked(cmd: Command, args: &[&str]) -> String {
    let out = run_cli(cmd);
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        panic!(
            "redis-cli {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    stdout
}

/// Value of `field:value` in INFO / CLUSTER INFO output.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == field).then(|| v.trim())
    })
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Sends SIGTERM to `child` (our own, not yet reaped) and waits up to
/// `grace` for it to exit: its status, or `None` when it is still running
/// (the caller then kills it).
pub fn terminate(
    child: &mut std::process::Child,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
    // SAFETY: plain kill(2) on our own child, which has not been reaped.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let mut status = None;
    wait_for(grace, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    status
}

/// Polls `cond` every 10 ms until it returns true or `timeout` elapses.
/// Returns whether it became true.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Number of live redis-server processes whose command line mentions `dir`
/// or whose working directory is inside `dir` (redis-server chdirs to its
/// `--dir` and rewrites its process title, so the cwd is the reliable signal).
pub fn redis_server_count_in(dir: &Path) -> usize {
    let dir_str = dir.to_string_lossy().into_owned();
    let canonical = fs::canonicalize(dir)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| dir_str.clone());
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            let proc_dir = e.path();
            let cmdline = fs::read(proc_dir.join("cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            let comm = fs::read_to_string(proc_dir.join("comm")).unwrap_or_default();
            if !comm.starts_with("redis-server") && !cmdline.contains("redis-server") {
                return false;
            }
            let cwd = fs::read_link(proc_dir.join("cwd"))
                .map(|p| {
                    let s = p.to_string_lossy().into_owned();
                    s.strip_suffix(" (deleted)")
                        .map(str::to_string)
                        .unwrap_or(s)
                })
                .unwrap_or_default();
            let under =
                |path: &str, root: &str| path == root || path.starts_with(&format!("{root}/"));
            cmdline.contains(&dir_str)
                || cmdline.contains(&canonical)
                || under(&cwd, &dir_str)
                || under(&cwd, &canonical)
        })
        .count()
}
