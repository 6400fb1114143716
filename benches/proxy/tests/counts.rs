//! The proxy binary against a stand-in upstream that answers `+PONG` to every
//! inline `PING`: delays, round-trip counts, reset, the listing's commands.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::{fs, thread};

struct Proxy {
    child: Child,
    ports: Vec<u16>,
    control: u16,
    _dir: TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Answers `+PONG\r\n` for each line it reads, on every connection.
fn upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { continue };
            thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                for line in BufReader::new(s).lines() {
                    if line.is_err() || w.write_all(b"+PONG\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn start(count: usize, delay_ms: u64) -> Proxy {
    let dir = std::env::temp_dir().join(format!(
        "delay-proxy-test-{}-{count}-{delay_ms}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap();
    let ports_file = dir.join("ports");
    let control_file = dir.join("control");
    let child = Command::new(env!("CARGO_BIN_EXE_delay-proxy"))
        .args(["--upstream", &format!("127.0.0.1:{}", upstream())])
        .args([
            "--count",
            &count.to_string(),
            "--delay-ms",
            &delay_ms.to_string(),
            "--verbose",
        ])
        .arg("--ports-file")
        .arg(&ports_file)
        .arg("--control-file")
        .arg(&control_file)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ports_file.exists() {
        assert!(Instant::now() < deadline, "the proxy did not become ready");
        thread::sleep(Duration::from_millis(20));
    }
    let ports = fs::read_to_string(&ports_file)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let control = fs::read_to_string(&control_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Proxy {
        child,
        ports,
        control,
        _dir: TempDir(dir),
    }
}

fn control(p: &Proxy, cmd: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", p.control)).unwrap();
    s.write_all(format!("{cmd}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Sends `pings` PINGs in one write and waits for their replies.
fn round_trip(s: &mut TcpStream, pings: usize) {
    s.write_all("PING\r\n".repeat(pings).as_bytes()).unwrap();
    let mut got = vec![0u8; 7 * pings];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, "+PONG\r\n".repeat(pings).as_bytes());
}

/// The value of `"key":N` right after `within` in the JSON (no JSON parser here).
fn number(json: &str, within: &str, key: &str) -> u64 {
    let at = json
        .find(within)
        .unwrap_or_else(|| panic!("{within} not in {json}"));
    let rest = &json[at..];
    let k = format!("\"{key}\":");
    let v = &rest[rest
        .find(&k)
        .unwrap_or_else(|| panic!("{key} not in {rest}"))
        + k.len()..];
    v[..v.find(|c: char| !c.is_ascii_digit()).unwrap()]
        .parse()
        .unwrap()
}

#[test]
fn counts_sequential_round_trips_and_delays_each() {
    let p = start(2, 30);
    let t0 = Instant::now();
    let mut a = TcpStream::connect(("127.0.0.1", p.ports[0])).unwrap();
    round_trip(&mut a, 3); // pipelined: one round trip
    assert!(
        t0.elapsed() >= Duration::from_millis(30),
        "not delayed: {:?}",
        t0.elapsed()
    );
    round_trip(&mut a, 1);
    // A second connection on the same port, after those replies: depth 3.
    let mut b = TcpStream::connect(("127.0.0.1", p.ports[0])).unwrap();
    round_trip(&mut b, 1);
    assert!(
        t0.elapsed() >= Duration::from_millis(90),
        "3 round trips in {:?}",
        t0.elapsed()
    );
    let port = format!("\"port\":{}", p.ports[0]);
    let stats = control(&p, "take");
    assert_eq!(number(&stats, &port, "connections"), 2, "{stats}");
    assert_eq!(number(&stats, &port, "round_trips"), 3, "{stats}");
    assert_eq!(number(&stats, &port, "sequential"), 3, "{stats}");
    assert!(stats.contains(r#""runs":[["PING",3]]"#), "{stats}");

    // After the reset: only what follows counts; the other port is untouched.
    round_trip(&mut a, 2);
    let stats = control(&p, "stats");
    assert_eq!(number(&stats, &port, "round_trips"), 1, "{stats}");
    assert_eq!(number(&stats, &port, "sequential"), 1, "{stats}");
    assert!(
        !stats.contains(&format!("\"port\":{},\"connections\"", p.ports[1])),
        "{stats}"
    );
    assert!(control(&p, "text").contains("CPU user"));
    assert!(control(&p, "nonsense").starts_with("error: unknown command"));
}

#[test]
fn parallel_connections_count_as_one_chain() {
    let p = start(1, 20);
    let mut conns: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(("127.0.0.1", p.ports[0])).unwrap())
        .collect();
    for c in &mut conns {
        c.write_all(b"PING\r\n").unwrap();
    }
    for c in &mut conns {
        let mut got = [0u8; 7];
        c.read_exact(&mut got).unwrap();
    }
    let stats = control(&p, "stats");
    let port = format!("\"port\":{}", p.ports[0]);
    assert_eq!(number(&stats, &port, "round_trips"), 4, "{stats}");
    assert_eq!(number(&stats, &port, "sequential"), 1, "{stats}");
}
