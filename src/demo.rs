//! `qctl demo`: throwaway local servers with realistic queue data, a
//! contexts file for them, and a short guided tour.
//!
//! Five `redis-server` processes on free loopback ports: `prod-us` and
//! `staging` (standalone) and `prod-eu` (a 3-primary Redis Cluster made
//! with `redis-cli --cluster create`). Each holds go-redis-work-queue data
//! of its own: a busy prod with a worker fleet, a staging whose settings
//! drifted and with a dead worker, and a prod-eu whose dead-letter queue
//! grows. The tour runs this very binary against them, showing each
//! command before its output. On a terminal (unless `--no-wait`) the
//! servers then stay up, with a little traffic, until Ctrl-C. The servers
//! and files are removed on every way out: the end, an error, Ctrl-C,
//! SIGTERM or SIGHUP.

use crate::cli::DemoArgs;
use crate::error::{CliError, ExitCode, Result};
use std::io::IsTerminal;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const HIGH: &str = "jobqueue:high_priority";
const LOW: &str = "jobqueue:low_priority";
const DONE: &str = "jobqueue:completed";
const DEAD: &str = "jobqueue:dead_letter";

/// `println!` that never panics (a closed pipe, a hung-up terminal): the
/// servers must still be cleaned up.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// `eprintln!`, the same way.
macro_rules! err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// The running servers and their files; dropping it stops and removes
/// them.
struct Lab {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            // SAFETY: kill(2) on a child we started.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
        }
        let until = Instant::now() + Duration::from_secs(3);
        for c in &mut self.children {
            while Instant::now() < until {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn on_path(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn fail(msg: impl Into<String>) -> CliError {
    CliError::failure(msg.into())
}

/// A loopback port free now (and, for a cluster node, its bus port too).
fn free_port(cluster: bool) -> Result<u16> {
    for _ in 0..100 {
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| fail(format!("cannot bind a loopback port: {e}")))?;
        let port = l.local_addr().map_err(|e| fail(e.to_string()))?.port();
        if !cluster {
            return Ok(port);
        }
        if port < 55_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err(fail("no free loopback port pair for a cluster node"))
}

impl Lab {
    fn new() -> Result<Lab> {
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("qctl-demo-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir(&dir)
            .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Lab {
            dir,
            children: Vec::new(),
        })
    }

    /// Starts one redis-server and waits for its PING; a port taken in
    /// the meantime is retried on another.
    fn start(&mut self, name: &str, cluster: bool, extra: &[&str]) -> Result<u16> {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port(cluster)?;
            let dir = self.dir.join(format!("{name}-{port}"));
            std::fs::create_dir_all(&dir).map_err(|e| fail(e.to_string()))?;
            let mut cmd = Command::new("redis-server");
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(dir.join("redis.log"));
            if cluster {
                cmd.args(["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"])
                    .arg("--cluster-config-file")
                    .arg(dir.join("nodes.conf"));
            }
            // If qctl itself is killed (SIGKILL, OOM), its servers go too.
            // SAFETY: prctl is async-signal-safe; nothing else runs here.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            cmd.args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd
                .spawn()
                .map_err(|e| fail(format!("cannot start redis-server: {e}")))?;
            self.children.push(child);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(5) {
                let pid = self.children.last().map(Child::id);
                if pid.is_some() && server_pid(port) == pid {
                    return Ok(port);
                }
                if let Some(c) = self.children.last_mut()
                    && let Ok(Some(status)) = c.try_wait()
                {
                    last = format!(
                        "redis-server on port {port} exited ({status}): {}",
                        std::fs::read_to_string(dir.join("redis.log"))
                            .unwrap_or_default()
                            .lines()
                            .last()
                            .unwrap_or("")
                    );
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Err(fail(format!("redis-server did not start: {last}")))
    }
}

/// The pid of the redis-server answering on `port` (so a server of
/// someone else's that won a port race is never used).
fn server_pid(port: u16) -> Option<u32> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).ok()?;
    let mut c = client
        .get_connection_with_timeout(Duration::from_millis(200))
        .ok()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut c).ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("process_id:"))?
        .trim()
        .parse()
        .ok()
}

fn conn(port: u16) -> Result<redis::Connection> {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .map_err(|e| fail(format!("cannot reach the demo server on port {port}: {e}")))
}

/// One job as go-redis-work-queue writes it, created `age` ago.
fn job(id: &str, path: &str, priority: &str, retries: u32, age: Duration) -> String {
    let when = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::try_from(age).unwrap_or_default())
        .unwrap_or_else(|_| jiff::Timestamp::now());
    format!(
        r#"{{"id":"{id}","filepath":"{path}","filesize":{},"priority":"{priority}","retries":{retries},"creation_time":"{}","trace_id":"","span_id":""}}"#,
        4096 + (id.len() * 7919) % 900_000,
        when.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    )
}

/// What one context holds.
struct Data {
    tag: &'static str,
    high: usize,
    low: usize,
    completed: usize,
    dead: usize,
    live_workers: usize,
    /// Workers whose heartbeat is gone, each with jobs still in flight.
    dead_workers: usize,
}

/// The commands that write `d`, each on one key (fine on a cluster too).
fn commands(d: &Data) -> Vec<redis::Cmd> {
    let mut out = Vec::new();
    let mut list = |key: &str, n: usize, make: &dyn Fn(usize) -> String| {
        if n == 0 {
            return;
        }
        let mut c = redis::cmd("LPUSH");
        c.arg(key);
        // Oldest first: the consumer end holds the oldest job.
        for i in 0..n {
            c.arg(make(i));
        }
        out.push(c);
    };
    let t = d.tag;
    list(HIGH, d.high, &|i| {
        job(
            &format!("{t}-h{i:05}"),
            &format!("/data/invoices/2026/{i:05}.pdf"),
            "high",
            0,
            Duration::from_secs(((d.high - i) as u64) * 2),
        )
    });
    list(LOW, d.low, &|i| {
        job(
            &format!("{t}-l{i:05}"),
            &format!("/data/thumbnails/{i:05}.png"),
            "low",
            0,
            Duration::from_secs(((d.low - i) as u64) * 5),
        )
    });
    list(DONE, d.completed, &|i| {
        job(
            &format!("{t}-c{i:05}"),
            &format!("/data/reports/{i:05}.csv"),
            "low",
            0,
            Duration::from_secs(3600 + ((d.completed - i) as u64)),
        )
    });
    list(DEAD, d.dead, &|i| {
        job(
            &format!("{t}-d{i:05}"),
            &format!("/data/uploads/broken-{i:05}.csv"),
            "high",
            3,
            Duration::from_secs(600 + ((d.dead - i) as u64) * 30),
        )
    });
    for w in 0..d.live_workers + d.dead_workers {
        let live = w < d.live_workers;
        let name = if live {
            format!("{t}-worker-{w}")
        } else {
            format!("{t}-crashed-{w}")
        };
        let j = job(
            &format!("{t}-p{w:03}"),
            &format!("/data/invoices/2026/p{w:03}.pdf"),
            "high",
            0,
            Duration::from_secs(20 + w as u64),
        );
        let mut c = redis::cmd("LPUSH");
        c.arg(format!("jobqueue:worker:{name}:processing")).arg(&j);
        if !live {
            c.arg(job(
                &format!("{t}-p{w:03}b"),
                "/data/uploads/late.csv",
                "low",
                1,
                Duration::from_secs(900),
            ));
        }
        out.push(c);
        if live {
            let mut hb = redis::cmd("SET");
            hb.arg(format!("jobqueue:processing:worker:{name}"))
                .arg(&j)
                .arg("EX")
                .arg(3600);
            out.push(hb);
        }
    }
    out
}

fn seed_standalone(port: u16, d: &Data, config: &[(&str, &str)]) -> Result<()> {
    let mut c = conn(port)?;
    let mut p = redis::pipe();
    for cmd in commands(d) {
        p.add_command(cmd).ignore();
    }
    for (k, v) in config {
        p.cmd("CONFIG").arg("SET").arg(*k).arg(*v).ignore();
    }
    p.query::<()>(&mut c)
        .map_err(|e| fail(format!("seeding the demo data failed: {e}")))
}

fn cluster_conn(ports: &[u16]) -> Result<redis::cluster::ClusterConnection> {
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("redis://127.0.0.1:{p}/"))
        .collect();
    redis::cluster::ClusterClient::new(urls)
        .and_then(|c| c.get_connection())
        .map_err(|e| fail(format!("cannot reach the demo cluster: {e}")))
}

fn seed_cluster(ports: &[u16], d: &Data) -> Result<()> {
    let mut c = cluster_conn(ports)?;
    for cmd in commands(d) {
        cmd.query::<()>(&mut c)
            .map_err(|e| fail(format!("seeding the demo cluster failed: {e}")))?;
    }
    Ok(())
}

fn make_cluster(ports: &[u16]) -> Result<()> {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["--cluster", "create"]);
    for p in ports {
        cmd.arg(format!("127.0.0.1:{p}"));
    }
    let out = cmd
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| fail(format!("cannot run redis-cli: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!(
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&out.stderr).lines())
                .filter(|l| l.contains("ERR") || l.contains("rror"))
                .collect::<Vec<_>>()
                .join("; ")
        )));
    }
    let until = Instant::now() + Duration::from_secs(15);
    for p in ports {
        loop {
            let ok = conn(*p)
                .ok()
                .and_then(|mut c| {
                    redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query::<String>(&mut c)
                        .ok()
                })
                .is_some_and(|i| i.contains("cluster_state:ok"));
            if ok {
                break;
            }
            if Instant::now() > until {
                return Err(fail("the demo cluster did not reach cluster_state:ok"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// A Sidekiq 6 deployment written as Sidekiq writes it (no Sidekiq
/// process runs in the demo): queues, the three sets with failed jobs,
/// two processes (one busy), the counters.
fn seed_sidekiq(port: u16) -> Result<()> {
    let mut c = conn(port)?;
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let job = |i: usize, class: &str, queue: &str, age: f64, failed: bool| {
        let jid = format!("{:024x}", 0x5eed_0000_0000_u64 + i as u64);
        let t = now - age;
        if failed {
            format!(
                r#"{{"retry":3,"queue":"{queue}","args":[{i}],"class":"{class}","jid":"{jid}","created_at":{t:.3},"enqueued_at":{t:.3},"error_message":"Net::ReadTimeout with #<TCPSocket:(closed)>","error_class":"Net::ReadTimeout","failed_at":{t:.3},"retry_count":2}}"#
            )
        } else {
            format!(
                r#"{{"retry":true,"queue":"{queue}","args":[{i}],"class":"{class}","jid":"{jid}","created_at":{t:.3},"enqueued_at":{t:.3}}}"#
            )
        }
    };
    let mut cmds: Vec<redis::Cmd> = Vec::new();
    let mut cmd = |c: redis::Cmd| cmds.push(c);
    cmd(redis::cmd("SADD")
        .arg("queues")
        .arg(&["default", "mailers"])
        .clone());
    for i in 0..140 {
        cmd(redis::cmd("LPUSH")
            .arg("queue:default")
            .arg(job(
                i,
                "OrderSyncJob",
                "default",
                40.0 - i as f64 * 0.2,
                false,
            ))
            .clone());
    }
    for i in 0..12 {
        cmd(redis::cmd("LPUSH")
            .arg("queue:mailers")
            .arg(job(200 + i, "ReceiptMailer", "mailers", 5.0, false))
            .clone());
    }
    for i in 0..6 {
        cmd(redis::cmd("ZADD")
            .arg("schedule")
            .arg(now + 3600.0 + i as f64)
            .arg(job(300 + i, "DigestJob", "mailers", 60.0, false))
            .clone());
    }
    for i in 0..4 {
        cmd(redis::cmd("ZADD")
            .arg("retry")
            .arg(now + 120.0 + i as f64)
            .arg(job(400 + i, "WebhookJob", "default", 300.0, true))
            .clone());
    }
    for i in 0..23 {
        cmd(redis::cmd("ZADD")
            .arg("dead")
            .arg(now - 3600.0 - i as f64)
            .arg(job(500 + i, "WebhookJob", "default", 7200.0, true))
            .clone());
    }
    for (id, busy) in [
        ("shop-web-1:4211:a1b2c3d4e5f6", 1),
        ("shop-web-2:4307:f6e5d4c3b2a1", 0),
    ] {
        let host = id.split(':').next().unwrap_or("shop");
        cmd(redis::cmd("SADD").arg("processes").arg(id).clone());
        cmd(redis::cmd("HSET")
            .arg(id)
            .arg("info")
            .arg(format!(r#"{{"hostname":"{host}","started_at":{:.3},"pid":4211,"tag":"shop","concurrency":10,"queues":["default","mailers"],"labels":[],"identity":"{id}"}}"#, now - 86400.0))
            .arg("busy")
            .arg(busy)
            .arg("beat")
            .arg(format!("{now:.3}"))
            .arg("quiet")
            .arg("false")
            .clone());
        if busy > 0 {
            let payload = job(600, "OrderSyncJob", "default", 2.0, false).replace('"', "\\\"");
            cmd(redis::cmd("HSET")
                .arg(format!("{id}:workers"))
                .arg("2f7")
                .arg(format!(
                    r#"{{"queue":"default","payload":"{payload}","run_at":{}}}"#,
                    now as i64 - 2
                ))
                .clone());
        }
    }
    cmd(redis::cmd("SET")
        .arg("stat:processed")
        .arg(1_284_311)
        .clone());
    cmd(redis::cmd("SET").arg("stat:failed").arg(2_977).clone());
    for c2 in cmds {
        c2.query::<redis::Value>(&mut c)
            .map_err(|e| fail(format!("cannot fill the demo's Sidekiq server: {e}")))?;
    }
    Ok(())
}

fn contexts_file(dir: &Path, prod: u16, staging: u16, eu: &[u16], shop: u16) -> String {
    let nodes = eu
        .iter()
        .map(|p| format!("\"redis://127.0.0.1:{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# Written by `qctl demo`; removed when it exits.
apiVersion: qctl/v1
current-context: staging
audit-log: {audit}
clusters:
  - {{ name: prod-us, server: "redis://127.0.0.1:{prod}/0" }}
  - {{ name: staging, server: "redis://127.0.0.1:{staging}/0" }}
  - {{ name: prod-eu, mode: cluster, nodes: [{nodes}] }}
  - {{ name: shop, server: "redis://127.0.0.1:{shop}/0" }}
contexts:
  - {{ name: prod-us, cluster: prod-us, labels: {{ env: prod, region: us-east-1 }}, color: red, protected: true }}
  - {{ name: prod-eu, cluster: prod-eu, labels: {{ env: prod, region: eu-west-1 }}, color: yellow, protected: true }}
  - {{ name: staging, cluster: staging, labels: {{ env: staging }}, color: cyan }}
  - {{ name: shop, cluster: shop, schema: shop, labels: {{ env: prod, team: shop }}, color: magenta }}
queue-schemas:
  - name: shop
    kind: sidekiq
"#,
        audit = dir.join("audit.log").display()
    )
}

/// SIGINT, SIGTERM or SIGHUP: set `flag` (the servers go when `Lab` drops).
fn watch_signals(flag: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut i), Ok(mut t), Ok(mut h)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = i.recv() => {}
                    _ = t.recv() => {}
                    _ = h.recv() => {}
                }
                flag.store(true, Ordering::SeqCst);
            }
        });
    })
}

/// A little traffic while the servers wait: prod-us works through its
/// high queue and gets new jobs, prod-eu's dead-letter queue grows.
fn traffic(prod: u16, eu: Vec<u16>, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(mut p) = conn(prod) else { return };
        let Ok(mut e) = cluster_conn(&eu) else { return };
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            n += 1;
            let mut pipe = redis::pipe();
            for _ in 0..20 {
                pipe.cmd("RPOPLPUSH").arg(HIGH).arg(DONE).ignore();
            }
            for i in 0..18 {
                pipe.cmd("LPUSH")
                    .arg(HIGH)
                    .arg(job(
                        &format!("prod-us-live-{n}-{i}"),
                        "/data/invoices/live.pdf",
                        "high",
                        0,
                        Duration::ZERO,
                    ))
                    .ignore();
            }
            let _ = pipe.query::<()>(&mut p);
            let _ = redis::cmd("LPUSH")
                .arg(DEAD)
                .arg(job(
                    &format!("prod-eu-dead-{n}"),
                    "/data/uploads/broken-live.csv",
                    "high",
                    3,
                    Duration::ZERO,
                ))
                .query::<()>(&mut e);
            for _ in 0..10 {
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    });
}

pub(crate) fn run(args: &DemoArgs, quiet: bool) -> Result<ExitCode> {
    for bin in ["redis-server", "redis-cli"] {
        if on_path(bin).is_none() {
            return Err(fail(format!(
                "qctl demo needs {bin} on PATH, and it is not there"
            ))
            .with_hint("install it: sudo apt-get install -y redis-server (Debian/Ubuntu), brew install redis (macOS)"));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let _signals = watch_signals(stop.clone());
    let interrupted = || stop.load(Ordering::SeqCst);
    // Status lines are progress: -q, or --no-wait off a terminal, drops them.
    let quiet = quiet || (args.no_wait && !std::io::stderr().is_terminal());
    let say = |s: &str| {
        if !quiet {
            err!("{s}");
        }
    };

    say(
        "qctl demo: starting 6 throwaway redis-server processes on 127.0.0.1 (3 standalone, a 3-primary cluster)...",
    );
    let mut lab = Lab::new()?;
    let prod = lab.start("prod-us", false, &["--maxmemory", "256mb"])?;
    let staging = lab.start("staging", false, &["--maxmemory", "64mb"])?;
    let shop = lab.start("shop", false, &["--maxmemory", "256mb"])?;
    let mut eu = Vec::new();
    for i in 0..3 {
        if interrupted() {
            return Ok(ExitCode::Interrupted);
        }
        eu.push(lab.start(&format!("prod-eu-{i}"), true, &["--maxmemory", "256mb"])?);
    }
    make_cluster(&eu)?;
    if interrupted() {
        return Ok(ExitCode::Interrupted);
    }
    say("filling them with queue data...");
    seed_standalone(
        prod,
        &Data {
            tag: "us",
            high: 1840,
            low: 620,
            completed: 12_000,
            dead: 14,
            live_workers: 8,
            dead_workers: 0,
        },
        &[("maxmemory-policy", "noeviction"), ("hz", "10")],
    )?;
    seed_standalone(
        staging,
        &Data {
            tag: "stg",
            high: 35,
            low: 210,
            completed: 900,
            dead: 57,
            live_workers: 2,
            dead_workers: 1,
        },
        // Drifted from prod.
        &[("maxmemory-policy", "allkeys-lru"), ("hz", "50")],
    )?;
    seed_cluster(
        &eu,
        &Data {
            // A second prod region, close to prod-us but for its DLQ
            // and a worker that died.
            tag: "eu",
            high: 1795,
            low: 640,
            completed: 11_500,
            dead: 420,
            live_workers: 8,
            dead_workers: 1,
        },
    )?;
    seed_sidekiq(shop)?;
    let config = lab.dir.join("contexts.yaml");
    std::fs::write(&config, contexts_file(&lab.dir, prod, staging, &eu, shop))
        .map_err(|e| fail(format!("cannot write {}: {e}", config.display())))?;

    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let tour: [(&str, &[&str]); 6] = [
        (
            "Every context at a glance: health, queue depths, workers, memory. `shop` is a Sidekiq deployment (its data written as Sidekiq 6 writes it; no Sidekiq process runs in the demo).",
            &["get", "clusters", "-A"],
        ),
        (
            "The Sidekiq deployment's queues and its scheduled, retry and dead sets.",
            &["get", "queues", "--context", "shop"],
        ),
        (
            "Two prod regions side by side: figures more than 10% off the baseline are anomalies.",
            &["compare", "prod-us", "prod-eu"],
        ),
        (
            "Staging is smaller by design (--threshold 100 flags only what doubled); its settings drifted.",
            &["compare", "prod-us", "staging", "--threshold", "100"],
        ),
        (
            "A worker on staging died with jobs in flight.",
            &["get", "workers", "--context", "staging"],
        ),
        (
            "What purging prod-eu's dead-letter queue would do (a dry run writes nothing).",
            &["purge-dlq", "--context", "prod-eu", "--dry-run"],
        ),
    ];
    for (why, cmd) in tour {
        if interrupted() {
            return Ok(ExitCode::Interrupted);
        }
        out!();
        out!("# {why}");
        out!("$ qctl {}", cmd.join(" "));
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let status = Command::new(&exe)
            .args(cmd)
            .env("QCTL_CONFIG", &config)
            .env_remove("QCTL_CONTEXT")
            .status()
            .map_err(|e| fail(format!("cannot run {}: {e}", exe.display())))?;
        if !status.success() && !interrupted() {
            out!("(exit code {})", status.code().unwrap_or(-1));
        }
    }
    if interrupted() {
        return Ok(ExitCode::Interrupted);
    }

    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if args.no_wait || !terminal {
        out!();
        out!(
            "(the demo servers are stopped and removed now; run `qctl demo` on a terminal to keep them up)"
        );
        return Ok(ExitCode::Ok);
    }
    let qctl = match on_path("qctl") {
        Some(p) if p.canonicalize().ok() == exe.canonicalize().ok() => "qctl".to_string(),
        _ => exe.display().to_string(),
    };
    traffic(prod, eu.clone(), stop.clone());
    out!();
    out!("The servers stay up, with a little traffic, until Ctrl-C. In another shell, try:");
    out!();
    out!("  export QCTL_CONFIG={}", config.display());
    out!("  {qctl} get clusters -A --watch");
    out!("  {qctl} get queues -l env=prod");
    out!("  {qctl} health -A");
    out!("  {qctl} get jobs dead-letter --context prod-eu --limit 5");
    out!("  {qctl} replicate --from prod-us --to staging --what config --dry-run");
    out!("  {qctl} purge-dlq --context staging      # asks you to type the name");
    out!();
    out!("Ctrl-C stops and removes them.");
    while !interrupted() {
        std::thread::sleep(Duration::from_millis(100));
    }
    err!("stopping the demo servers...");
    drop(lab);
    // Ctrl-C is how the demo ends, and exits 130 like every Ctrl-C.
    Ok(ExitCode::Interrupted)
}
