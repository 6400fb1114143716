//! `qctl demo`: the tour off a terminal, the servers kept up on a terminal
//! until Ctrl-C, and nothing left behind either way; one clear line when
//! redis-server is missing.

mod common;

use common::*;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Demo directories left in `tmp`.
fn leftovers(tmp: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("qctl-demo-"))
        .collect()
}

#[test]
fn the_tour_runs_off_a_terminal_and_leaves_nothing_behind() {
    let ws = Workspace::new();
    let tmp = ws.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = ws
        .qctl_std()
        .arg("demo")
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for cmd in [
        "$ qctl get clusters -A",
        "$ qctl compare prod-us staging prod-eu",
        "$ qctl get workers --context staging",
        "$ qctl purge-dlq --context prod-eu --dry-run",
    ] {
        assert!(stdout.contains(cmd), "{cmd} missing:\n{stdout}");
    }
    // Real figures from the three servers: the cluster and the drift.
    assert!(stdout.contains("cluster"), "{stdout}");
    assert!(
        stdout.contains("maxmemory-policy: staging has \"allkeys-lru\""),
        "{stdout}"
    );
    assert!(stdout.contains("orphaned"), "{stdout}");
    assert!(stderr.contains("prod-eu   420"), "the purge plan: {stderr}");
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
    assert_eq!(redis_server_count_in(&tmp), 0, "servers left running");
}

#[test]
fn on_a_terminal_it_waits_for_ctrl_c_then_cleans_up() {
    let ws = Workspace::new();
    let tmp = ws.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let std = ws.qctl_std();
    let mut child = std::process::Command::new("script")
        .args([
            "-q",
            "-e",
            "-c",
            &format!("{} demo", common::workspace::qctl_bin().display()),
            "/dev/null",
        ])
        .envs(
            std.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("TMPDIR", &tmp)
        .env("TERM", "dumb")
        .current_dir(ws.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("`script` (util-linux) runs");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stdout = child.stdout.take().unwrap();
    let sink = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        wait_for(Duration::from_secs(60), || text().contains("Ctrl-C stops")),
        "the demo never got to waiting:\n{}",
        text()
    );
    // The printed line works: the servers are up.
    let out = text();
    let config = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("export QCTL_CONFIG="))
        .expect("an export line")
        .trim()
        .to_string();
    let (code, doc, stderr) = run_json(
        &ws,
        std::path::Path::new(&config),
        &["get", "clusters", "-A", "-o", "json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let items = doc["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{doc}");
    assert!(
        redis_server_count_in(&tmp) == 5,
        "five servers while it waits"
    );
    // Ctrl-C, typed on the terminal.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\x03").unwrap();
    stdin.flush().unwrap();
    assert!(
        wait_for(Duration::from_secs(20), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "still running after Ctrl-C:\n{}",
        text()
    );
    let status = child.wait().unwrap();
    drop(stdin);
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}", text());
    assert!(wait_for(Duration::from_secs(5), || redis_server_count_in(
        &tmp
    ) == 0));
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
}

#[test]
fn without_redis_server_it_says_how_to_install_it() {
    let ws = Workspace::new();
    let empty = ws.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let out = ws
        .qctl_std()
        .arg("demo")
        .env("PATH", &empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("redis-server"), "{stderr}");
    assert!(
        stderr.contains("apt-get install -y redis-server"),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 2, "{stderr}");
}
