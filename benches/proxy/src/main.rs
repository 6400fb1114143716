//! delay-proxy: a loopback TCP proxy for qctl's benchmarks (see README.md).
//!
//! Listens on N ports, forwards each connection to one upstream Redis,
//! delays every client->server chunk by --delay-ms (in order, per
//! connection), forwards replies at once, and counts round trips.

mod resp;

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

const USAGE: &str = "\
usage: delay-proxy --upstream HOST:PORT [--count N | --ports P,P,...] [--listen ADDR]
                   [--delay-ms MS] [--ports-file PATH] [--control-file PATH]
                   [--stats-file PATH] [--verbose] [--threads N]

  --upstream HOST:PORT  the Redis every connection is forwarded to (required)
  --count N             listen on N ports chosen by the OS (default 1)
  --ports P,P,...       listen on these ports instead
  --listen ADDR         listen address (default 127.0.0.1)
  --delay-ms MS         delay of each client->server chunk (default 20)
  --ports-file PATH     when ready, the listening ports, one a line (written atomically)
  --control-file PATH   listen on a control port too and write its number here first;
                        a connection sends one line: stats | take | reset | text
  --stats-file PATH     the stats (JSON) are written here on SIGUSR1 and at exit
  --verbose             keep, per round trip, the commands sent (first words; secrets hidden)
  --threads N           runtime threads (default 1: one thread serves every connection)

A round trip is a burst of client->server bytes that follows a server->client
reply (the first bytes of a connection start one). SIGUSR1: stats to
--stats-file and a summary to stderr; SIGUSR2: reset the counters;
SIGTERM/SIGINT: stop (stats and CPU time printed first).";

/// Bytes read at a time, each direction.
const BUF: usize = 16 * 1024;

struct Args {
    upstream: SocketAddr,
    ports: Vec<u16>,
    listen: String,
    delay: Duration,
    ports_file: Option<String>,
    control_file: Option<String>,
    stats_file: Option<String>,
    verbose: bool,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut upstream = None;
    let mut ports = vec![0u16];
    let mut a = Args {
        upstream: SocketAddr::from(([127, 0, 0, 1], 0)),
        ports: Vec::new(),
        listen: "127.0.0.1".into(),
        delay: Duration::from_millis(20),
        ports_file: None,
        control_file: None,
        stats_file: None,
        verbose: false,
        threads: 1,
    };
    while let Some(flag) = it.next() {
        if flag == "--verbose" {
            a.verbose = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        const WITH_VALUE: &[&str] = &[
            "--upstream",
            "--count",
            "--ports",
            "--listen",
            "--delay-ms",
            "--ports-file",
            "--control-file",
            "--stats-file",
            "--threads",
        ];
        if !WITH_VALUE.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag}"));
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag} {value:?}: {what}");
        match flag.as_str() {
            "--upstream" => upstream = Some(value),
            "--count" => {
                let n: usize = value.parse().map_err(|_| bad("not a number"))?;
                if n == 0 || n > 60_000 {
                    return Err(bad("must be 1 to 60000"));
                }
                ports = vec![0; n];
            }
            "--ports" => {
                ports = value
                    .split(',')
                    .map(|p| p.trim().parse::<u16>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| bad("not a comma-separated list of ports"))?;
            }
            "--listen" => a.listen = value,
            "--delay-ms" => {
                let ms: f64 = value.parse().map_err(|_| bad("not a number"))?;
                if !(0.0..=600_000.0).contains(&ms) {
                    return Err(bad("must be 0 to 600000"));
                }
                a.delay = Duration::from_secs_f64(ms / 1000.0);
            }
            "--ports-file" => a.ports_file = Some(value),
            "--control-file" => a.control_file = Some(value),
            "--stats-file" => a.stats_file = Some(value),
            "--threads" => {
                a.threads = value.parse().map_err(|_| bad("not a number"))?;
                if a.threads == 0 || a.threads > 64 {
                    return Err(bad("must be 1 to 64"));
                }
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    let upstream = upstream.ok_or("--upstream is required")?;
    a.upstream = upstream
        .to_socket_addrs()
        .map_err(|e| format!("--upstream {upstream:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--upstream {upstream:?}: no address"))?;
    a.ports = ports;
    Ok(a)
}

// ---- counters ----

/// One listening port (one qctl context in the benchmarks).
struct Port {
    port: u16,
    connections: AtomicU64,
    round_trips: AtomicU64,
    /// The depth of the deepest round trip a reply has come back for.
    replied_depth: AtomicU64,
    /// The deepest round trip so far: the sequential round trips of the port.
    depth: AtomicU64,
}

impl Port {
    /// Whether it saw anything since the last reset.
    fn active(&self) -> bool {
        self.connections.load(Relaxed) > 0 || self.round_trips.load(Relaxed) > 0
    }
}

/// One proxied connection.
struct Conn {
    id: u64,
    port: usize,
    opened_ms: f64,
    open: AtomicBool,
    round_trips: AtomicU64,
    /// The depth of its current round trip.
    depth: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    /// With --verbose: every round trip and what it carried.
    bursts: Mutex<Vec<Burst>>,
}

struct Burst {
    depth: u64,
    t_ms: f64,
    bytes: u64,
    commands: u64,
    /// Runs of the same command: (name, how many in a row).
    runs: Vec<(String, u64)>,
    /// The first few commands, as text.
    first: Vec<String>,
}

const KEEP_RUNS: usize = 64;
const KEEP_FIRST: usize = 12;

impl Burst {
    fn add(&mut self, cmd: &resp::Command) {
        self.commands += 1;
        let (name, text) = resp::describe(cmd);
        if self.first.len() < KEEP_FIRST {
            self.first.push(text);
        }
        if let Some((last, n)) = self.runs.last_mut()
            && *last == name
        {
            *n += 1;
        } else if self.runs.len() < KEEP_RUNS {
            self.runs.push((name, 1));
        }
    }
}

/// Where the counters start from: the start, or the last reset.
struct Epoch {
    at: Instant,
    cpu: Cpu,
}

struct Shared {
    upstream: SocketAddr,
    delay: Duration,
    verbose: bool,
    ports: Vec<Port>,
    started: Instant,
    epoch: Mutex<Epoch>,
    /// Connections since the last reset (and any still open from before).
    conns: Mutex<Vec<Arc<Conn>>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    upstream_failures: AtomicU64,
}

impl Shared {
    fn since_epoch_ms(&self, now: Instant) -> f64 {
        let at = self.epoch.lock().unwrap().at;
        now.saturating_duration_since(at).as_secs_f64() * 1000.0
    }

    fn open_conn(&self, port: usize) -> Arc<Conn> {
        self.accepted.fetch_add(1, Relaxed);
        self.ports[port].connections.fetch_add(1, Relaxed);
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Relaxed) + 1,
            port,
            opened_ms: self.since_epoch_ms(Instant::now()),
            open: AtomicBool::new(true),
            round_trips: AtomicU64::new(0),
            depth: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            bytes_down: AtomicU64::new(0),
            bursts: Mutex::new(Vec::new()),
        });
        self.conns.lock().unwrap().push(conn.clone());
        conn
    }

    /// Client bytes: the first after a reply start a round trip.
    fn client_bytes(
        &self,
        c: &Conn,
        fresh: &AtomicBool,
        data: &[u8],
        parser: Option<&mut resp::Parser>,
    ) {
        let port = &self.ports[c.port];
        c.bytes_up.fetch_add(data.len() as u64, Relaxed);
        if fresh.swap(false, Relaxed) {
            // Anything sent after a reply on this port may have waited for it.
            let depth = port.replied_depth.load(Relaxed) + 1;
            c.depth.store(depth, Relaxed);
            port.depth.fetch_max(depth, Relaxed);
            c.round_trips.fetch_add(1, Relaxed);
            port.round_trips.fetch_add(1, Relaxed);
            if self.verbose {
                let t_ms = self.since_epoch_ms(Instant::now());
                c.bursts.lock().unwrap().push(Burst {
                    depth,
                    t_ms,
                    bytes: 0,
                    commands: 0,
                    runs: Vec::new(),
                    first: Vec::new(),
                });
            }
        }
        if let Some(parser) = parser {
            let mut bursts = c.bursts.lock().unwrap();
            if let Some(b) = bursts.last_mut() {
                b.bytes += data.len() as u64;
                parser.feed(data, &mut |cmd| b.add(&cmd));
            }
        }
    }

    /// Server bytes: the next client bytes start a new round trip.
    fn server_bytes(&self, c: &Conn, fresh: &AtomicBool, n: usize) {
        c.bytes_down.fetch_add(n as u64, Relaxed);
        fresh.store(true, Relaxed);
        self.ports[c.port]
            .replied_depth
            .fetch_max(c.depth.load(Relaxed), Relaxed);
    }

    fn reset(&self) {
        let mut conns = self.conns.lock().unwrap();
        conns.retain(|c| c.open.load(Relaxed));
        for c in conns.iter() {
            c.round_trips.store(0, Relaxed);
            c.depth.store(0, Relaxed);
            c.bytes_up.store(0, Relaxed);
            c.bytes_down.store(0, Relaxed);
            c.bursts.lock().unwrap().clear();
        }
        for p in &self.ports {
            p.connections.store(0, Relaxed);
            p.round_trips.store(0, Relaxed);
            p.replied_depth.store(0, Relaxed);
            p.depth.store(0, Relaxed);
        }
        *self.epoch.lock().unwrap() = Epoch {
            at: Instant::now(),
            cpu: Cpu::now(),
        };
    }

    fn stats_json(&self) -> String {
        let now = Instant::now();
        let cpu = Cpu::now();
        let (since, cpu0) = {
            let e = self.epoch.lock().unwrap();
            (now.saturating_duration_since(e.at).as_secs_f64(), e.cpu)
        };
        let conns = self.conns.lock().unwrap().clone();
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"delay_ms\":{},\"uptime_s\":{:.3},\"since_reset_s\":{:.3},\
             \"cpu\":{},\"cpu_since_reset\":{},\"maxrss_kib\":{},\
             \"listening_ports\":{},\"accepted_total\":{},\"upstream_failures\":{},\
             \"connections\":{},\"open_connections\":{},\"round_trips\":{},\"sequential_max\":{},\"ports\":[",
            self.delay.as_secs_f64() * 1000.0,
            now.duration_since(self.started).as_secs_f64(),
            since,
            cpu.json(),
            cpu.minus(cpu0).json(),
            cpu.maxrss_kib,
            self.ports.len(),
            self.accepted.load(Relaxed),
            self.upstream_failures.load(Relaxed),
            conns.len(),
            conns.iter().filter(|c| c.open.load(Relaxed)).count(),
            self.ports
                .iter()
                .map(|p| p.round_trips.load(Relaxed))
                .sum::<u64>(),
            self.ports
                .iter()
                .map(|p| p.depth.load(Relaxed))
                .max()
                .unwrap_or(0),
        );
        let mut sep = "";
        for p in self.ports.iter().filter(|p| p.active()) {
            let _ = write!(
                s,
                "{sep}{{\"port\":{},\"connections\":{},\"round_trips\":{},\"sequential\":{}}}",
                p.port,
                p.connections.load(Relaxed),
                p.round_trips.load(Relaxed),
                p.depth.load(Relaxed)
            );
            sep = ",";
        }
        s.push_str("],\"conns\":[");
        sep = "";
        for c in &conns {
            let _ = write!(
                s,
                "{sep}{{\"id\":{},\"port\":{},\"opened_ms\":{:.3},\"open\":{},\"round_trips\":{},\"bytes_up\":{},\"bytes_down\":{}",
                c.id,
                self.ports[c.port].port,
                c.opened_ms,
                c.open.load(Relaxed),
                c.round_trips.load(Relaxed),
                c.bytes_up.load(Relaxed),
                c.bytes_down.load(Relaxed)
            );
            if self.verbose {
                s.push_str(",\"bursts\":[");
                for (i, b) in c.bursts.lock().unwrap().iter().enumerate() {
                    let _ = write!(
                        s,
                        "{}{{\"depth\":{},\"t_ms\":{:.3},\"bytes\":{},\"commands\":{},\"runs\":[",
                        if i > 0 { "," } else { "" },
                        b.depth,
                        b.t_ms,
                        b.bytes,
                        b.commands
                    );
                    for (j, (name, n)) in b.runs.iter().enumerate() {
                        let _ = write!(
                            s,
                            "{}[{},{n}]",
                            if j > 0 { "," } else { "" },
                            json_str(name)
                        );
                    }
                    s.push_str("],\"first\":[");
                    for (j, text) in b.first.iter().enumerate() {
                        let _ = write!(s, "{}{}", if j > 0 { "," } else { "" }, json_str(text));
                    }
                    s.push_str("]}");
                }
                s.push(']');
            }
            s.push('}');
            sep = ",";
        }
        s.push_str("]}\n");
        s
    }

    /// A summary for people: one line, and with --verbose every round trip.
    fn stats_text(&self) -> String {
        let cpu = Cpu::now();
        let (since, cpu0) = {
            let e = self.epoch.lock().unwrap();
            (e.at.elapsed().as_secs_f64(), e.cpu)
        };
        let conns = self.conns.lock().unwrap().clone();
        let active: Vec<&Port> = self.ports.iter().filter(|p| p.active()).collect();
        let d = cpu.minus(cpu0);
        let mut s = format!(
            "delay-proxy: {} connections on {} of {} ports in the last {since:.3} s, {} round trips \
             (sequential per port: max {}); CPU user {:.3} s + sys {:.3} s in that time, \
             {:.3} s + {:.3} s since start; max RSS {} KiB\n",
            conns.len(),
            active.len(),
            self.ports.len(),
            active
                .iter()
                .map(|p| p.round_trips.load(Relaxed))
                .sum::<u64>(),
            active
                .iter()
                .map(|p| p.depth.load(Relaxed))
                .max()
                .unwrap_or(0),
            d.user_s,
            d.sys_s,
            cpu.user_s,
            cpu.sys_s,
            cpu.maxrss_kib,
        );
        if self.verbose {
            for c in &conns {
                let _ = writeln!(
                    s,
                    "  port {} conn {} (opened at {:.1} ms): {} round trips, {} B up, {} B down",
                    self.ports[c.port].port,
                    c.id,
                    c.opened_ms,
                    c.round_trips.load(Relaxed),
                    c.bytes_up.load(Relaxed),
                    c.bytes_down.load(Relaxed)
                );
                for b in c.bursts.lock().unwrap().iter() {
                    let more = b.commands.saturating_sub(b.first.len() as u64);
                    let _ = writeln!(
                        s,
                        "    depth {} at {:.1} ms, {} B, {} commands: {}{}",
                        b.depth,
                        b.t_ms,
                        b.bytes,
                        b.commands,
                        b.first.join("; "),
                        if more > 0 {
                            format!("; … {more} more")
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        s
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// This process's CPU time (all threads), from getrusage.
#[derive(Clone, Copy)]
struct Cpu {
    user_s: f64,
    sys_s: f64,
    maxrss_kib: i64,
}

impl Cpu {
    fn now() -> Cpu {
        // SAFETY: getrusage only writes the struct it is given.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        Cpu {
            user_s: secs(ru.ru_utime),
            sys_s: secs(ru.ru_stime),
            maxrss_kib: ru.ru_maxrss,
        }
    }

    fn minus(self, earlier: Cpu) -> Cpu {
        Cpu {
            user_s: self.user_s - earlier.user_s,
            sys_s: self.sys_s - earlier.sys_s,
            maxrss_kib: self.maxrss_kib,
        }
    }

    fn json(self) -> String {
        format!(
            "{{\"user_s\":{:.6},\"sys_s\":{:.6},\"total_s\":{:.6}}}",
            self.user_s,
            self.sys_s,
            self.user_s + self.sys_s
        )
    }
}

// ---- the proxy ----

/// One accepted connection, until either side is done with it.
async fn serve(client: TcpStream, sh: Arc<Shared>, port: usize) {
    let _ = client.set_nodelay(true);
    let conn = sh.open_conn(port);
    // Set when a reply went back: the next client bytes start a round trip.
    let fresh = AtomicBool::new(true);
    let (mut cr, mut cw) = client.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();

    let reading = async {
        let tx = tx;
        let mut parser = sh.verbose.then(resp::Parser::new);
        let mut buf = vec![0u8; BUF];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let due = Instant::now() + sh.delay;
            sh.client_bytes(&conn, &fresh, &buf[..n], parser.as_mut());
            if tx.send((due, buf[..n].to_vec())).is_err() {
                break;
            }
        }
        // Dropping tx lets the writer deliver what is queued, then send EOF.
    };

    let forwarding = async {
        let up = match TcpStream::connect(sh.upstream).await {
            Ok(up) => up,
            Err(e) => {
                sh.upstream_failures.fetch_add(1, Relaxed);
                eprintln!("delay-proxy: upstream {} connect failed: {e}", sh.upstream);
                return;
            }
        };
        let _ = up.set_nodelay(true);
        let (mut ur, mut uw) = up.into_split();
        // Requests: each chunk at its due time, in order.
        let to_server = async {
            while let Some((due, data)) = rx.recv().await {
                if due > Instant::now() {
                    tokio::time::sleep_until(due.into()).await;
                }
                if uw.write_all(&data).await.is_err() {
                    return;
                }
            }
            let _ = uw.shutdown().await;
        };
        // Replies: at once.
        let to_client = async {
            let mut buf = vec![0u8; BUF];
            loop {
                let n = match ur.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                sh.server_bytes(&conn, &fresh, n);
                if cw.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = cw.shutdown().await;
        };
        tokio::pin!(to_client);
        tokio::select! {
            _ = &mut to_client => {}
            _ = to_server => to_client.await,
        }
    };

    // The upstream side ending (the server closed, or the client stopped
    // taking replies) ends the connection; the client's EOF alone does not:
    // its last requests and their replies are still on the way.
    tokio::select! {
        _ = forwarding => {}
        _ = async { reading.await; std::future::pending::<()>().await } => {}
    }
    conn.open.store(false, Relaxed);
}

async fn accept_loop(listener: TcpListener, sh: Arc<Shared>, port: usize) {
    loop {
        match listener.accept().await {
            Ok((s, _)) => {
                tokio::spawn(serve(s, sh.clone(), port));
            }
            Err(e) => {
                eprintln!("delay-proxy: accept on port {}: {e}", sh.ports[port].port);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// The control port: one line in (stats | take | reset | text), one answer out.
async fn control_loop(listener: TcpListener, sh: Arc<Shared>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let sh = sh.clone();
        tokio::spawn(async move {
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while line.len() < 64 {
                match s.read(&mut byte).await {
                    Ok(1) if byte[0] != b'\n' => line.push(byte[0]),
                    _ => break,
                }
            }
            let answer = match String::from_utf8_lossy(&line).trim() {
                "stats" => sh.stats_json(),
                "take" => {
                    let json = sh.stats_json();
                    sh.reset();
                    json
                }
                "reset" => {
                    sh.reset();
                    "ok\n".into()
                }
                "text" => sh.stats_text(),
                other => format!("error: unknown command {other:?} (stats, take, reset, text)\n"),
            };
            let _ = s.write_all(answer.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}

fn write_atomically(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

fn listen(addr: &str, port: u16) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = format!("{addr}:{port}").parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    sock.listen(1024)
}

/// Raises the soft open-files limit to the hard one (at most 1M).
fn raise_nofile() -> u64 {
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        let want = rl.rlim_max.min(1 << 20);
        if rl.rlim_cur < want {
            rl.rlim_cur = want;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        rl.rlim_cur as u64
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut listeners = Vec::with_capacity(args.ports.len());
    let mut ports = Vec::with_capacity(args.ports.len());
    for &p in &args.ports {
        let l =
            listen(&args.listen, p).map_err(|e| format!("listen on {}:{p}: {e}", args.listen))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        ports.push(Port {
            port,
            connections: AtomicU64::new(0),
            round_trips: AtomicU64::new(0),
            replied_depth: AtomicU64::new(0),
            depth: AtomicU64::new(0),
        });
        listeners.push(l);
    }
    let sh = Arc::new(Shared {
        upstream: args.upstream,
        delay: args.delay,
        verbose: args.verbose,
        ports,
        started: Instant::now(),
        epoch: Mutex::new(Epoch {
            at: Instant::now(),
            cpu: Cpu::now(),
        }),
        conns: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(0),
        accepted: AtomicU64::new(0),
        upstream_failures: AtomicU64::new(0),
    });
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(|e| e.to_string())?;
    let mut usr2 = signal(SignalKind::user_defined2()).map_err(|e| e.to_string())?;

    if let Some(path) = &args.control_file {
        let l = listen(&args.listen, 0).map_err(|e| format!("control port: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        write_atomically(path, &format!("{port}\n")).map_err(|e| format!("{path}: {e}"))?;
        tokio::spawn(control_loop(l, sh.clone()));
    }
    for (i, l) in listeners.into_iter().enumerate() {
        tokio::spawn(accept_loop(l, sh.clone(), i));
    }
    if let Some(path) = &args.ports_file {
        let text: String = sh.ports.iter().map(|p| format!("{}\n", p.port)).collect();
        write_atomically(path, &text).map_err(|e| format!("{path}: {e}"))?;
    }
    eprintln!(
        "delay-proxy: {} ports on {} -> {}, +{} ms per client->server chunk, {} thread(s) (pid {})",
        sh.ports.len(),
        args.listen,
        args.upstream,
        args.delay.as_secs_f64() * 1000.0,
        args.threads,
        std::process::id()
    );

    let dump = |sh: &Shared| {
        if let Some(path) = &args.stats_file
            && let Err(e) = write_atomically(path, &sh.stats_json())
        {
            eprintln!("delay-proxy: {path}: {e}");
        }
        let _ = std::io::stderr().write_all(sh.stats_text().as_bytes());
    };
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = usr1.recv() => dump(&sh),
            _ = usr2.recv() => sh.reset(),
        }
    }
    dump(&sh);
    let cpu = Cpu::now();
    eprintln!(
        "delay-proxy: stopping; {} connections accepted, {} upstream connect failures; \
         CPU user {:.3} s + sys {:.3} s = {:.3} s in {:.1} s",
        sh.accepted.load(Relaxed),
        sh.upstream_failures.load(Relaxed),
        cpu.user_s,
        cpu.sys_s,
        cpu.user_s + cpu.sys_s,
        sh.started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("delay-proxy: {msg}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    // One listener per port, two descriptors per proxied connection.
    let limit = raise_nofile();
    let need = args.ports.len() as u64 * 3 + 64;
    if limit < need {
        eprintln!(
            "delay-proxy: open-files limit {limit} is too low for {} ports (need {need}; raise the hard limit)",
            args.ports.len()
        );
        std::process::exit(1);
    }
    let mut rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(args.threads);
        b
    };
    let rt = match rt.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("delay-proxy: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(msg) = rt.block_on(run(args)) {
        eprintln!("delay-proxy: {msg}");
        std::process::exit(1);
    }
    // Open connections are simply dropped.
    rt.shutdown_background();
}
