//! Hostile or careless input (issue 20): numbers out of range, contexts
//! files that are not files, replies that never end, bytes that are not
//! UTF-8, control characters in names. Each through the real binary, against
//! real servers where a server is involved.

use crate::common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A contexts file with one real standalone server, context `a`.
fn one_context(ws: &Workspace, url: &str, extra: &str) -> std::path::PathBuf {
    ws.write("c.yaml", &contexts_file(&[standalone("a", url)], "", extra))
}

#[test]
fn numeric_flags_out_of_range_are_usage_errors_naming_the_range() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = one_context(&ws, &s.url(), "current-context: a\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--max-concurrency",
                "2305843009213693952",
                "get",
                "clusters",
            ],
            "must be 1 to 10000",
        ),
        (
            &[
                "--max-concurrency",
                "99999999999999999999999",
                "get",
                "clusters",
            ],
            "must be 1 to 10000",
        ),
        (
            &["--timeout", "200y", "get", "clusters"],
            "must be 1ms to 1h",
        ),
        (
            &["--connect-timeout", "0s", "get", "clusters"],
            "must be 1ms to 10m",
        ),
        (
            &["get", "clusters", "--sample", "100000000y"],
            "must be 10ms to 1h",
        ),
        (
            &["get", "jobs", "high", "-n", "100000000"],
            "must be 0 to 10000",
        ),
        (
            &["compare", "a", "a", "--threshold", "1e300"],
            "must be 0 to 1000000",
        ),
        (
            &[
                "bench",
                "--count",
                "1",
                "--rate",
                "1",
                "--payload-size",
                "100000000000",
                "--dry-run",
            ],
            "must be 1 to 65536",
        ),
        (
            &[
                "bench",
                "--count",
                "100000000000",
                "--rate",
                "1",
                "--dry-run",
            ],
            "must be 1 to 10000000",
        ),
        (
            &["bench", "--count", "1", "--rate", "1e-300", "--dry-run"],
            "must be 0.1 to 1000000",
        ),
        (
            &["requeue", "--to", "high", "--limit", "0", "--dry-run"],
            "must be 1 to 1000000000",
        ),
        (
            &["purge-dlq", "--keep-backup", "1000000y", "--dry-run"],
            "must be 1s to 8760h",
        ),
        (
            &[
                "purge-dlq",
                "--strategy",
                "rolling",
                "--max-parallel",
                "2305843009213693952",
                "--dry-run",
            ],
            "must be 1 to 10000",
        ),
        (
            &["purge-dlq", "--pause", "100000y", "--dry-run"],
            "must be 1ms to 1h",
        ),
    ];
    for (args, range) in cases {
        let out = ws
            .qctl()
            .arg("--config")
            .arg(&cfg)
            .args(*args)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(range), "{args:?}: range in the message: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // The top of a range is fine, and the command answers.
    let (code, doc, err) = run_json(
        &ws,
        &cfg,
        &[
            "--max-concurrency",
            "10000",
            "get",
            "clusters",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["context"], "a");
}

#[test]
fn numeric_preferences_out_of_range_are_config_errors_naming_the_range() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cases: &[(&str, &str)] = &[
        (
            "preferences:\n  max-concurrency: 2305843009213693952\n",
            "preferences.max-concurrency: 2305843009213693952 is out of range: must be 1 to 10000",
        ),
        ("preferences:\n  timeout: 300y\n", "preferences.timeout"),
        (
            "preferences:\n  watch:\n    interval: 1ns\n",
            "must be 100ms to 24h",
        ),
        (
            "preferences:\n  compare:\n    threshold: .nan\n",
            "preferences.compare.threshold",
        ),
        (
            "preferences:\n  health:\n    max-memory-percent: 250\n",
            "must be 0 to 100",
        ),
        (
            "preferences:\n  health:\n    max-latency: 0s\n",
            "must be 1ms to 1h",
        ),
    ];
    for (prefs, want) in cases {
        let cfg = one_context(&ws, &s.url(), &format!("current-context: a\n{prefs}"));
        let out = ws
            .qctl()
            .arg("--config")
            .arg(&cfg)
            .args(["get", "clusters"])
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{prefs}: {err}");
        assert!(err.contains(want), "{prefs}: {err}");
        assert!(err.contains("c.yaml:"), "located: {err}");
        assert!(!err.contains("panicked"), "{prefs}: {err}");
    }
    // In range: it runs.
    let cfg = one_context(
        &ws,
        &s.url(),
        "current-context: a\npreferences:\n  max-concurrency: 10000\n",
    );
    let (code, _, err) = run_json(&ws, &cfg, &["get", "clusters", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn watch_interval_below_the_minimum_is_a_usage_error() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = one_context(&ws, &s.url(), "current-context: a\n");
    let start = Instant::now();
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args([
            "get",
            "clusters",
            "--watch",
            "--interval",
            "1ns",
            "-o",
            "json",
        ])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("must be 100ms to 24h"), "{err}");
    assert!(out.stdout.is_empty(), "no poll ran");
    assert!(start.elapsed() < Duration::from_secs(5));
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["get", "queues", "--watch", "--interval", "99ms"])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
}

#[test]
fn contexts_file_that_is_no_regular_file_or_too_large_is_refused() {
    let ws = Workspace::new();
    // A FIFO with no writer: would hang a plain open().
    let fifo = ws.join("fifo.yaml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let big = ws.join("big.yaml");
    {
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(16 * 1024 * 1024 + 1).unwrap();
    }
    let dir = ws.join("adir");
    std::fs::create_dir_all(&dir).unwrap();
    for (path, want) in [
        (std::path::PathBuf::from("/dev/zero"), "not a regular file"),
        (fifo.clone(), "not a regular file (a named pipe (FIFO))"),
        (dir.clone(), "not a regular file (a directory)"),
        (big.clone(), "larger than 16 MiB"),
    ] {
        let start = Instant::now();
        let out = ws
            .qctl()
            .arg("--config")
            .arg(&path)
            .args(["config", "get-contexts"])
            .timeout(Duration::from_secs(10))
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", path.display());
        assert!(err.contains(want), "{}: {err}", path.display());
        assert!(err.contains("hint:"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5), "no hang");
    }
    // QCTL_CONFIG goes through the same check.
    let out = ws
        .qctl()
        .env("QCTL_CONFIG", &fifo)
        .args(["config", "get-contexts"])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    // Completion reads the file too: no hang, no candidates, no message.
    let out = ws
        .qctl()
        .env("QCTL_CONFIG", &fifo)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "false")
        .env("_CLAP_IFS", "\n")
        .args(["--", "qctl", "--context", ""])
        .timeout(Duration::from_secs(10))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "");
}

#[test]
fn every_json_and_yaml_document_has_api_version_and_kind() {
    let s = RedisServer::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[standalone("a", &s.url()), standalone("b", &s.url())],
            "",
            "current-context: a\n",
        ),
    );
    let commands: &[&[&str]] = &[
        &["version"],
        &["config", "get-contexts"],
        &["config", "current-context"],
        &["config", "view"],
        &["config", "validate"],
        &["get", "clusters"],
        &["get", "queues"],
        &["get", "workers"],
        &["get", "jobs", "high"],
        &["get", "backups"],
        &["health"],
        &["compare", "a", "b"],
        &["purge-dlq", "--dry-run"],
    ];
    for args in commands {
        for fmt in ["json", "yaml"] {
            let out = ws
                .qctl()
                .arg("--config")
                .arg(&cfg)
                .args(*args)
                .args(["-o", fmt])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let doc: Value = if fmt == "json" {
                serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{args:?} -o json: {e}: {text}"))
            } else {
                serde_saphyr::from_str(&text)
                    .unwrap_or_else(|e| panic!("{args:?} -o yaml: {e}: {text}"))
            };
            assert_eq!(doc["apiVersion"], "qctl/v1", "{args:?} -o {fmt}: {text}");
            assert!(
                doc["kind"].as_str().is_some_and(|k| !k.is_empty()),
                "{args:?} -o {fmt}: {text}"
            );
        }
    }
}

/// A redis-server started from a config file whose path holds a byte that
/// is not UTF-8 (0xff): INFO server reports it as `config_file:`. Killed on
/// drop.
struct NonUtf8Server {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl NonUtf8Server {
    fn start() -> NonUtf8Server {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join(std::ffi::OsStr::from_bytes(b"conf-\xff"));
        std::fs::create_dir_all(&sub).unwrap();
        let conf = sub.join("redis.conf");
        std::fs::write(&conf, "save \"\"\nappendonly no\n").unwrap();
        let port = free_port();
        let child = std::process::Command::new("redis-server")
            .arg(&conf)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let server = NonUtf8Server {
            port,
            child,
            _dir: dir,
        };
        let url = server.url();
        assert!(
            wait_for(Duration::from_secs(10), || {
                redis::Client::open(url.as_str())
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                    .is_ok()
            }),
            "redis-server did not start"
        );
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for NonUtf8Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_byte_that_is_not_utf8_in_info_leaves_the_server_readable() {
    let odd = NonUtf8Server::start();
    // The premise: INFO really carries the byte.
    let mut c = redis::Client::open(odd.url().as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let raw: Vec<u8> = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(
        String::from_utf8(raw).is_err(),
        "INFO holds a non-UTF-8 byte"
    );
    seed(
        &mut c,
        &Seed {
            completed: 3,
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let cfg = one_context(&ws, &odd.url(), "");
    let (code, doc, err) = run_json(&ws, &cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["errors"], serde_json::json!([]), "{doc}");
    let item = &doc["items"][0];
    assert_eq!(item["completed"], 3);
    assert!(item["redis_version"].as_str().unwrap().starts_with('7'));
    assert!(item["used_memory_bytes"].as_u64().unwrap() > 0);
    let (code, doc, err) = run_json(&ws, &cfg, &["health", "-A", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(doc["items"][0]["healthy"], true, "{doc}");
    assert!(!err.contains("UTF-8"), "{err}");
}

/// When a fake server sends its endless reply.
#[derive(Clone, Copy)]
enum Endless {
    /// To the first command of every connection.
    AtOnce,
    /// To `CLUSTER SLOTS`; every other command (`CLIENT SETINFO`, `PING`)
    /// is answered `+OK`, as a cluster node would, so the connection is up
    /// and established when the endless reply starts.
    OnClusterSlots,
}

/// Commands complete in `buf` (RESP arrays of bulk strings), removed from it.
fn take_commands(buf: &mut Vec<u8>) -> Vec<Vec<Vec<u8>>> {
    fn line(buf: &[u8], at: usize) -> Option<(i64, usize)> {
        let end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
        let n = std::str::from_utf8(&buf[at + 1..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    }
    let mut out = Vec::new();
    loop {
        let Some((n, mut at)) = (!buf.is_empty()).then(|| line(buf, 0)).flatten() else {
            return out;
        };
        let mut args = Vec::new();
        for _ in 0..n {
            let Some((len, start)) = (at < buf.len()).then(|| line(buf, at)).flatten() else {
                return out;
            };
            let end = start + len as usize;
            if buf.len() < end + 2 {
                return out;
            }
            args.push(buf[start..end].to_vec());
            at = end + 2;
        }
        buf.drain(..at);
        out.push(args);
    }
}

/// One connection of a fake server: answers as `when` says, then announces
/// a bulk string of 100 GB and streams bytes until the peer goes.
fn serve_endless<S: std::io::Read + std::io::Write>(
    mut c: S,
    when: Endless,
    stop: &std::sync::atomic::AtomicBool,
    started: &std::sync::atomic::AtomicUsize,
) {
    use std::sync::atomic::Ordering;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    'reading: loop {
        let n = match c.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        match when {
            Endless::AtOnce => break,
            Endless::OnClusterSlots => {
                for cmd in take_commands(&mut buf) {
                    let name: Vec<String> = cmd
                        .iter()
                        .take(2)
                        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
                        .collect();
                    if name == ["CLUSTER", "SLOTS"] {
                        break 'reading;
                    }
                    if c.write_all(b"+OK\r\n").and_then(|_| c.flush()).is_err() {
                        return;
                    }
                }
            }
        }
    }
    started.fetch_add(1, Ordering::SeqCst);
    let _ = c.write_all(b"$100000000000\r\n");
    let data = vec![b'x'; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        if c.write_all(&data).is_err() {
            return;
        }
    }
}

/// A loopback listener whose every connection gets an endless reply (see
/// [`serve_endless`]), over TLS when given a certificate.
struct EndlessReply {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Connections that got as far as the endless reply.
    started: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl EndlessReply {
    fn start() -> EndlessReply {
        Self::launch(Endless::AtOnce, None)
    }

    fn cluster_node() -> EndlessReply {
        Self::launch(Endless::OnClusterSlots, None)
    }

    /// Completes a TLS handshake with the test server certificate of
    /// `files` first.
    fn tls(files: &TlsFiles) -> EndlessReply {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let chain = CertificateDer::pem_file_iter(&files.server_cert)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&files.server_key).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Self::launch(Endless::AtOnce, Some(std::sync::Arc::new(config)))
    }

    fn launch(when: Endless, tls: Option<std::sync::Arc<rustls::ServerConfig>>) -> EndlessReply {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = started.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((c, _)) => {
                        let flag = flag.clone();
                        let count = count.clone();
                        let tls = tls.clone();
                        std::thread::spawn(move || {
                            let _ = c.set_nonblocking(false);
                            match tls {
                                None => serve_endless(c, when, &flag, &count),
                                Some(config) => {
                                    let Ok(server) = rustls::ServerConnection::new(config) else {
                                        return;
                                    };
                                    serve_endless(
                                        rustls::StreamOwned::new(server, c),
                                        when,
                                        &flag,
                                        &count,
                                    )
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        EndlessReply {
            port,
            stop,
            started,
        }
    }
}

impl EndlessReply {
    fn started(&self) -> usize {
        self.started.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for EndlessReply {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The largest resident set of any child this process has waited for, in KiB.
fn children_max_rss_kib() -> i64 {
    // SAFETY: getrusage fills a local struct.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u.ru_maxrss
    }
}

/// Runs `get clusters -A -o json` on `cfg`, sampling qctl's resident set
/// while it runs; checks it failed `endless` as `protocol` within 10 s and
/// with its RSS under 200 MiB, and that the other contexts answered.
fn assert_endless_context_fails_bounded(ws: &Workspace, cfg: &std::path::Path, answering: &[&str]) {
    let start = Instant::now();
    let mut child = ws
        .qctl_std()
        .arg("--config")
        .arg(cfg)
        .args(["get", "clusters", "-A", "-o", "json", "--timeout", "20s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Watch its memory while it runs.
    let mut peak_kib: u64 = 0;
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(30) {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let elapsed = start.elapsed();
    let err = stderr_of(&out);
    eprintln!("qctl peak RSS {peak_kib} KiB, {elapsed:?}");
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{err}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(out.status.code(), Some(3), "{doc}\n{err}");
    assert!(
        elapsed < Duration::from_secs(10),
        "fails quickly: {elapsed:?}"
    );
    let items: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["context"].as_str().unwrap())
        .collect();
    assert_eq!(items, answering, "the real contexts answer: {doc}");
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{doc}");
    let e = &errors[0];
    eprintln!("{e}");
    assert_eq!(e["context"], "endless");
    assert_eq!(e["kind"], "protocol", "{e}");
    assert!(e["message"].as_str().unwrap().contains("256 MiB"), "{e}");
    assert!(peak_kib < 200 * 1024, "RSS stayed bounded: {peak_kib} KiB");
    assert!(
        children_max_rss_kib() < 512 * 1024,
        "no child grew past 512 MiB: {} KiB",
        children_max_rss_kib()
    );
}

#[test]
fn an_endless_reply_fails_its_context_as_protocol_with_bounded_memory() {
    let real = RedisServer::start();
    let endless = EndlessReply::start();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                standalone("endless", &format!("redis://127.0.0.1:{}", endless.port)),
                standalone("real", &real.url()),
            ],
            "",
            "",
        ),
    );
    assert_endless_context_fails_bounded(&ws, &cfg, &["real"]);
    assert!(endless.started() > 0);
}

#[test]
fn an_endless_reply_over_tls_fails_its_context_as_protocol_with_bounded_memory() {
    let real = RedisServer::start_with(ServerOptions::with_tls(false));
    let ws = Workspace::new();
    let files = crate::common::tls::generate(&ws.join("pki"));
    let endless = EndlessReply::tls(&files);
    let tls_ctx = |name: &str, url: &str, ca: &std::path::Path| Ctx {
        name: name.into(),
        cluster_yaml: format!(
            "  - name: {name}\n    server: {url}\n    tls: {{ ca-file: {} }}\n",
            ca.display()
        ),
        user: None,
    };
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                tls_ctx(
                    "endless",
                    &format!("rediss://localhost:{}", endless.port),
                    &files.ca,
                ),
                tls_ctx("real", &real.url(), &real.tls_files().unwrap().ca),
            ],
            "",
            "",
        ),
    );
    assert_endless_context_fails_bounded(&ws, &cfg, &["real"]);
    assert!(endless.started() > 0, "the TLS handshake completed");
}

#[test]
fn an_endless_reply_from_a_cluster_node_fails_its_context_as_protocol_with_bounded_memory() {
    let real = RedisServer::start();
    let endless = EndlessReply::cluster_node();
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        &contexts_file(
            &[
                Ctx {
                    name: "endless".into(),
                    cluster_yaml: format!(
                        "  - name: endless\n    mode: cluster\n    nodes: [redis://127.0.0.1:{}]\n",
                        endless.port
                    ),
                    user: None,
                },
                standalone("real", &real.url()),
            ],
            "",
            "",
        ),
    );
    assert_endless_context_fails_bounded(&ws, &cfg, &["real"]);
    assert!(
        endless.started() > 0,
        "the node connection was up and asked CLUSTER SLOTS"
    );
}

#[test]
fn library_wording_never_reaches_messages() {
    use std::os::unix::ffi::OsStrExt;
    let s = RedisServer::start_with(ServerOptions::with_password("right"));
    let hole = BlackHole::start();
    let closed = ClosedPort::new();
    let ws = Workspace::new();
    let users = "  - name: wrong\n    password-env: QCTL_T_WRONG\n  - name: odd\n    password-env: QCTL_T_ODD\n";
    let mut badpw = standalone("badpw", &s.url());
    badpw.user = Some("wrong".into());
    let mut oddpw = standalone("oddpw", &s.url());
    oddpw.user = Some("odd".into());
    let mut file = contexts_file(
        &[
            badpw,
            oddpw,
            standalone("stall", &hole.url()),
            standalone("esc", &closed.url()),
        ],
        users,
        "",
    );
    // A context name holding ESC (YAML's \e).
    file = file.replace(
        "- name: esc\n    cluster: esc",
        "- name: \"esc\\ex\\a\"\n    cluster: esc",
    );
    let cfg = ws.write("c.yaml", &file);
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .env("QCTL_T_WRONG", "nope")
        .env("QCTL_T_ODD", std::ffi::OsStr::from_bytes(b"pw\xff"))
        .args([
            "get",
            "clusters",
            "-A",
            "--timeout",
            "1500ms",
            "--connect-timeout",
            "1s",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{err}");
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "ESC printed raw"
    );
    assert!(
        !out.stdout.contains(&0x07) && !out.stderr.contains(&0x07),
        "BEL printed raw"
    );
    assert!(
        format!("{stdout}{err}").contains("esc\\x1bx\\x07"),
        "escaped, visibly: {stdout}{err}"
    );
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .env("QCTL_T_WRONG", "nope")
        .env("QCTL_T_ODD", std::ffi::OsStr::from_bytes(b"pw\xff"))
        .args([
            "get",
            "clusters",
            "-A",
            "-o",
            "json",
            "--timeout",
            "1500ms",
            "--connect-timeout",
            "1s",
        ])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = doc["errors"].as_array().unwrap();
    let by = |name: &str| {
        errors
            .iter()
            .find(|e| e["context"] == name)
            .unwrap()
            .clone()
    };
    let bad = by("badpw");
    assert_eq!(bad["kind"], "auth", "{bad}");
    let m = by("oddpw")["message"].as_str().unwrap().to_string();
    assert!(m.contains("not valid UTF-8"), "{m}");
    let stall = by("stall");
    assert_eq!(stall["kind"], "timeout");
    assert!(
        stall["message"]
            .as_str()
            .unwrap()
            .starts_with("no answer within"),
        "{stall}"
    );
    for e in errors {
        let m = e["message"].as_str().unwrap();
        for internal in [
            "AuthenticationFailed",
            " - ",
            "Index 0",
            "timed out",
            "Incompatible",
        ] {
            assert!(!m.contains(internal), "library wording `{internal}` in {m}");
        }
    }
}

#[test]
fn cluster_auth_failure_is_kind_auth_in_plain_words() {
    let cluster = RedisCluster::start_with(ServerOptions::with_password("right"));
    let ws = Workspace::new();
    let nodes = cluster.seed_urls().join(", ");
    let file = format!(
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    mode: cluster\n    nodes: [{nodes}]\nusers:\n  - name: u\n    password-env: QCTL_T_PW\ncontexts:\n  - name: c\n    cluster: c\n    user: u\n"
    );
    let cfg = ws.write("c.yaml", &file);
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .env("QCTL_T_PW", "wrong")
        .args(["get", "clusters", "-A", "-o", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = &doc["errors"][0];
    assert_eq!(e["kind"], "auth", "{e}");
    let m = e["message"].as_str().unwrap();
    assert!(m.starts_with("authentication failed"), "{m}");
    assert!(
        !m.contains("AuthenticationFailed") && !m.contains(" - "),
        "{m}"
    );
    assert!(!m.contains("wrong"), "no secret: {m}");
}

#[test]
fn a_yaml_bomb_is_a_plain_config_error() {
    let ws = Workspace::new();
    let mut text = String::from(
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    labels:\n",
    );
    for i in 0..125_001 {
        text.push_str(&format!("      k{i}: v\n"));
    }
    let cfg = ws.write("c.yaml", &text);
    let out = ws
        .qctl()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "get-contexts"])
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("budget breached"), "{err}");
    assert!(err.contains("more than 250,000 YAML values"), "{err}");
}
