//! Tests of the integration-test harness itself (tests/common).

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::{
    AclUser, BlackHole, ClosedPort, RedisCluster, RedisServer, ServerOptions, TlsOptions,
    Workspace, redis_server_count_in,
};
use redis::Commands;

#[test]
fn standalone_server_ping_set_get() {
    let server = RedisServer::start();
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port));
    assert_eq!(server.addr(), format!("127.0.0.1:{}", server.port));
    assert_eq!(server.cli(&["PING"]), "PONG");

    let mut conn = server.conn();
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");
    let _: () = conn.set("greeting", "hello").unwrap();
    assert_eq!(server.cli(&["GET", "greeting"]), "hello");
    server.cli(&["SET", "other", "world"]);
    let v: String = conn.get("other").unwrap();
    assert_eq!(v, "world");

    // Persistence is off, bound to loopback only.
    assert_eq!(server.cli(&["CONFIG", "GET", "bind"]), "bind\n127.0.0.1");
    assert_eq!(
        server.cli(&["CONFIG", "GET", "appendonly"]),
        "appendonly\nno"
    );
    assert_eq!(server.cli(&["CONFIG", "GET", "save"]), "save");
}

#[test]
#[should_panic(expected = "redis-cli")]
fn cli_panics_on_error_reply() {
    let server = RedisServer::start();
    server.cli(&["NOSUCHCOMMAND"]);
}

#[test]
fn extra_args_are_applied() {
    let server = RedisServer::start_with(ServerOptions {
        extra_args: vec!["--maxmemory".into(), "100mb".into()],
        ..Default::default()
    });
    assert_eq!(
        server.cli(&["CONFIG", "GET", "maxmemory"]),
        "maxmemory\n104857600"
    );
}

#[test]
fn requirepass_rejects_unauthenticated() {
    let server = RedisServer::start_with(ServerOptions::with_password("s3cret"));
    assert_eq!(server.password(), Some("s3cret"));

    // redis-rs without a password: connecting works, commands get NOAUTH.
    let mut anon = server.conn_as(None, None).unwrap();
    let err = redis::cmd("PING").query::<String>(&mut anon).unwrap_err();
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    // redis-cli without a password.
    let out = server.cli_noauth(&["PING"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NOAUTH"),
        "{out:?}"
    );

    // Wrong password fails while connecting.
    assert!(server.conn_as(None, Some("wrong")).is_err());

    // Admin credentials work everywhere.
    assert_eq!(server.cli(&["PING"]), "PONG");
    let mut conn = server.conn();
    let _: () = conn.set("k", "v").unwrap();
    assert_eq!(server.cli(&["GET", "k"]), "v");

    // A URL with credentials works too.
    let client = redis::Client::open(server.url_with_credentials(None, "s3cret").as_str()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let v: String = conn.get("k").unwrap();
    assert_eq!(v, "v");
}

#[test]
fn acl_reader_can_read_but_not_info() {
    let server = RedisServer::start_with(ServerOptions {
        acl_users: vec![AclUser {
            name: "reader",
            password: "pw",
            rules: "on ~* &* +@read -@dangerous",
        }],
        ..Default::default()
    });
    server.cli(&["SET", "k", "v"]);

    let mut reader = server.conn_as(Some("reader"), Some("pw")).unwrap();
    let v: String = reader.get("k").unwrap();
    assert_eq!(v, "v");
    let err = redis::cmd("INFO").query::<String>(&mut reader).unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"), "{err}");
    let err = reader.set::<_, _, ()>("k", "x").unwrap_err();
    assert_eq!(err.code(), Some("NOPERM"), "{err}");

    let out = server.cli_as("reader", "pw", &["GET", "k"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
    let out = server.cli_as("reader", "pw", &["INFO"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NOPERM"),
        "{out:?}"
    );

    assert!(server.conn_as(Some("reader"), Some("bad")).is_err());
}

#[test]
fn tls_server_without_client_auth() {
    let server = RedisServer::start_with(ServerOptions {
        tls: Some(TlsOptions {
            auth_clients: false,
        }),
        ..Default::default()
    });
    assert!(server.url().starts_with("rediss://127.0.0.1:"));
    let files = server.tls_files().expect("tls files").clone();

    // Plain redis-cli with only the CA.
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "--tls"])
        .arg("--cacert")
        .arg(&files.ca)
        .arg("PING")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "PONG",
        "{out:?}"
    );

    // Plaintext is not served on that port.
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "PING"])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");

    // redis-rs with rustls, certificate verified against the test CA; no client cert.
    let info = redis::IntoConnectionInfo::into_connection_info(server.url().as_str()).unwrap();
    let client = redis::Client::build_with_tls(info, files.redis_certificates(false)).unwrap();
    let mut conn = client.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
    assert_eq!(pong, "PONG");

    let _: () = server.conn().set("k", "v").unwrap();
    assert_eq!(server.cli(&["GET", "k"]), "v");
}

#[test]
fn tls_server_with_client_auth() {
    let server = RedisServer::start_with(ServerOptions {
        tls: Some(TlsOptions { auth_clients: true }),
        requirepass: Some("pw".into()),
        ..Default::default()
    });
    let files = server.tls_files().expect("tls files").clone();
    let base = || {
        let mut cmd = std::process::Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &server.port.to_string(), "--tls"])
            .arg("--cacert")
            .arg(&files.ca)
            .env("REDISCLI_AUTH", "pw");
        cmd
    };

    // Without a client certificate: handshake refused.
    let out = base().arg("PING").output().unwrap();
    assert_ne!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "PONG",
        "{out:?}"
    );

    // With one: works.
    let out = base()
        .arg("--cert")
        .arg(&files.client_cert)
        .arg("--key")
        .arg(&files.client_key)
        .arg("PING")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "PONG",
        "{out:?}"
    );

    // redis-rs: refused without client cert, fine with it.
    let info = redis::IntoConnectionInfo::into_connection_info(
        server.url_with_credentials(None, "pw").as_str(),
    )
    .unwrap();
    let no_cert = redis::Client::build_with_tls(info, files.redis_certificates(false)).unwrap();
    let refused = no_cert
        .get_connection_with_timeout(Duration::from_secs(5))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(server.cli(&["PING"]), "PONG");
    let _: () = server.conn().set("k", "v").unwrap();
}

fn assert_cluster_spreads_keys(cluster: &RedisCluster) {
    for node in &cluster.nodes {
        let info = node.cli(&["CLUSTER", "INFO"]);
        assert_eq!(
            crate::common::info_field(&info, "cluster_state"),
            Some("ok"),
            "{info}"
        );
    }
    let mut conn = cluster.conn();
    for i in 0..100 {
        let _: () = conn.set(format!("key:{i}"), i).unwrap();
    }
    let v: i64 = conn.get("key:42").unwrap();
    assert_eq!(v, 42);
    let mut total = 0;
    for node in &cluster.nodes {
        let n: usize = node.cli(&["DBSIZE"]).parse().unwrap();
        assert!(n > 0, "node {} holds no keys", node.addr());
        total += n;
    }
    assert_eq!(total, 100);
    assert_eq!(cluster.cli(&["GET", "key:7"]), "7");
}

#[test]
fn cluster_of_three_primaries() {
    let cluster = RedisCluster::start();
    assert_eq!(cluster.nodes.len(), 3);
    assert_eq!(cluster.seed_urls().len(), 3);
    assert_cluster_spreads_keys(&cluster);
}

#[test]
fn cluster_with_password() {
    let cluster = RedisCluster::start_with(ServerOptions::with_password("clusterpw"));
    let out = cluster.nodes[1].cli_noauth(&["PING"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("NOAUTH"));
    assert_cluster_spreads_keys(&cluster);
}

#[test]
fn cluster_with_tls() {
    let cluster = RedisCluster::start_with(ServerOptions::with_tls(true));
    assert!(
        cluster
            .seed_urls()
            .iter()
            .all(|u| u.starts_with("rediss://"))
    );
    assert_cluster_spreads_keys(&cluster);
}

#[test]
fn closed_port_refuses_and_black_hole_hangs() {
    let closed = ClosedPort::new();
    assert_eq!(closed.url(), format!("redis://127.0.0.1:{}", closed.port));
    let err = TcpStream::connect(("127.0.0.1", closed.port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);

    let hole = BlackHole::start();
    assert_eq!(hole.url(), format!("redis://127.0.0.1:{}", hole.port));
    let mut stream = TcpStream::connect(("127.0.0.1", hole.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    let err = stream.read(&mut buf).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert!(crate::common::wait_for(Duration::from_secs(2), || hole
        .accepted()
        >= 1));

    // After drop nothing listens any more.
    let port = hole.port;
    drop(hole);
    // Eventually refused: a redis-server forked concurrently by another test
    // can hold a copy of the listener fd for the instant between fork and exec.
    assert!(crate::common::wait_for(Duration::from_secs(2), || {
        TcpStream::connect(("127.0.0.1", port))
            .is_err_and(|e| e.kind() == ErrorKind::ConnectionRefused)
    }));
}

#[test]
fn no_leak_after_panic() {
    let dir_slot: Mutex<Option<PathBuf>> = Mutex::new(None);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let server = RedisServer::start();
        *dir_slot.lock().unwrap() = Some(server.dir.path().to_path_buf());
        assert_eq!(redis_server_count_in(server.dir.path()), 1);
        panic!("boom");
    }));
    assert!(result.is_err());
    let dir = dir_slot
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .expect("server dir recorded");
    assert!(
        crate::common::wait_for(Duration::from_secs(2), || redis_server_count_in(&dir) == 0),
        "redis-server for {} still running after panic",
        dir.display()
    );
    assert!(!dir.exists(), "temp dir not removed");
}

#[test]
fn stop_kills_server() {
    let mut server = RedisServer::start();
    let dir = server.dir.path().to_path_buf();
    assert_eq!(redis_server_count_in(&dir), 1);
    server.stop();
    assert_eq!(redis_server_count_in(&dir), 0);
    let err = TcpStream::connect(("127.0.0.1", server.port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn workspace_write_and_env() {
    let ws = Workspace::new();
    let path = ws.write("config/qctl/config.yaml", "contexts: []\n");
    assert!(path.starts_with(ws.path()));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(ws.read("config/qctl/config.yaml"), "contexts: []\n");
    assert!(ws.home().is_dir());

    assert!(crate::common::workspace::qctl_bin().exists());
    ws.qctl().arg("--help").assert().success();
}

#[test]
fn a_command_on_a_pty_ends_when_the_test_drops_it() {
    // A test that panics before its pty command ends must not leave it
    // running (a waiting `qctl demo` keeps six servers up).
    let ws = crate::common::Workspace::new();
    let pty = crate::common::pty::Pty::spawn(ws.on_pty("sleep 300"));
    assert!(
        crate::common::wait_for(Duration::from_secs(5), || pty.command_pid().is_some()),
        "sleep never started"
    );
    let pid = pty.command_pid().unwrap();
    drop(pty);
    // SAFETY: kill(2) with signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false);
    assert!(!alive, "the command outlived its Pty");
}
