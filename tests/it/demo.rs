//! `qctl demo`: the tour off a terminal, the servers kept up on a terminal
//! until Ctrl-C, and nothing left behind either way; one clear line when
//! redis-server is missing.

use crate::common::*;
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
        "$ qctl compare prod-us prod-eu",
        "$ qctl compare prod-us staging --threshold 100",
        "$ qctl get workers --context staging",
        "$ qctl purge-dlq --context prod-eu --dry-run",
    ] {
        assert!(stdout.contains(cmd), "{cmd} missing:\n{stdout}");
    }
    // Real figures from the three servers: the cluster and the drift.
    assert!(stdout.contains("cluster"), "{stdout}");
    assert!(
        stdout.contains("maxmemory-policy: staging has allkeys-lru, the baseline noeviction"),
        "{stdout}"
    );
    assert!(stdout.contains("orphaned"), "{stdout}");
    assert!(
        stderr.contains("prod-eu (protected)   420"),
        "the purge plan, the protected target marked: {stderr}"
    );
    assert!(leftovers(&tmp).is_empty(), "{:?}", leftovers(&tmp));
    assert_eq!(redis_server_count_in(&tmp), 0, "servers left running");
}

/// `qctl demo` on a terminal, up to the point where it waits; its TMPDIR
/// is `tmp`.
fn waiting_demo(ws: &Workspace, tmp: &std::path::Path) -> Pty {
    std::fs::create_dir_all(tmp).unwrap();
    let mut cmd = ws.on_pty(&format!(
        "{} demo",
        crate::common::workspace::qctl_bin().display()
    ));
    cmd.env("TMPDIR", tmp);
    let pty = Pty::spawn(cmd);
    assert!(
        pty.wait_for_text("Ctrl-C stops", Duration::from_secs(60)),
        "the demo never got to waiting:\n{}",
        pty.text()
    );
    assert_eq!(redis_server_count_in(tmp), 6, "six servers while it waits");
    pty
}

/// After `how`, the demo exits 130 and leaves no server and no file.
fn ends_clean(mut pty: Pty, tmp: &std::path::Path, how: &str) {
    assert!(
        pty.exits_within(Duration::from_secs(20)),
        "still running after {how}:\n{}",
        pty.text()
    );
    let (code, text) = pty.finish();
    assert_eq!(code, 130, "{how} exits 130: {text}");
    assert!(wait_for(Duration::from_secs(5), || redis_server_count_in(
        tmp
    ) == 0));
    assert!(leftovers(tmp).is_empty(), "{:?}", leftovers(tmp));
}

#[test]
fn on_a_terminal_it_waits_for_ctrl_c_then_cleans_up() {
    let ws = Workspace::new();
    let tmp = ws.path().join("tmp");
    let mut pty = waiting_demo(&ws, &tmp);
    // The printed line works: the servers are up.
    let out = pty.text();
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
    assert_eq!(items.len(), 4, "{doc}");
    let shop = items.iter().find(|i| i["context"] == "shop").expect("shop");
    assert_eq!(shop["system"], "sidekiq", "{doc}");
    assert_eq!(shop["dead_letter"], 23, "{doc}");
    // Ctrl-C, typed on the terminal.
    pty.send(b"\x03");
    ends_clean(pty, &tmp, "Ctrl-C");
}

#[test]
fn sigterm_while_it_waits_cleans_up_too() {
    // A terminal closed by a window manager or `kill` sends SIGTERM, not
    // Ctrl-C: the servers and files go all the same.
    let ws = Workspace::new();
    let tmp = ws.path().join("tmp");
    let pty = waiting_demo(&ws, &tmp);
    let pid = pty.command_pid().expect("qctl runs under script");
    // SAFETY: kill(2) on a process this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    ends_clean(pty, &tmp, "SIGTERM");
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
