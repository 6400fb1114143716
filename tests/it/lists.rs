//! The lists as a kubectl user reaches for them: names (and globs) as
//! arguments, `--sort-by`, `-o custom-columns`, the TOTAL row, and
//! `--watch` trends on a real terminal and aligned when piped. The same
//! on every queue system: `every_system::lists_like_kubectl`.

use crate::common::pty::Pty;
use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Three contexts (`prod-eu`, `prod-us`, `staging`, labelled by env) and
/// one that never answers (`down`).
struct Fleet {
    ws: Workspace,
    cfg: std::path::PathBuf,
    eu: RedisServer,
    _us: RedisServer,
    _staging: RedisServer,
}

fn fleet() -> Fleet {
    let eu = RedisServer::start();
    let us = RedisServer::start();
    let staging = RedisServer::start();
    seed(
        &mut eu.conn(),
        &Seed {
            high: 5,
            dlq: 9,
            live: workers("eu-w", 2, 1),
            ..Default::default()
        },
    );
    seed(
        &mut us.conn(),
        &Seed {
            high: 30,
            dlq: 1,
            live: workers("us-w", 11, 0),
            ..Default::default()
        },
    );
    seed(
        &mut staging.conn(),
        &Seed {
            low: 2,
            dlq: 4,
            ..Default::default()
        },
    );
    let ws = Workspace::new();
    let closed = free_port();
    let cfg = ws.write(
        "c.yaml",
        &format!(
            "apiVersion: qctl/v1\ncurrent-context: prod-eu\nclusters:\n  - {{ name: eu, server: \"{}\" }}\n  - {{ name: us, server: \"{}\" }}\n  - {{ name: st, server: \"{}\" }}\n  - {{ name: down, server: \"redis://127.0.0.1:{closed}\" }}\ncontexts:\n  - {{ name: prod-eu, cluster: eu, labels: {{ env: prod }} }}\n  - {{ name: prod-us, cluster: us, labels: {{ env: prod }} }}\n  - {{ name: staging, cluster: st, labels: {{ env: staging }} }}\n  - {{ name: down, cluster: down, labels: {{ env: staging }} }}\n",
            eu.url(),
            us.url(),
            staging.url()
        ),
    );
    Fleet {
        ws,
        cfg,
        eu,
        _us: us,
        _staging: staging,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn contexts_of(doc: &Value) -> Vec<String> {
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["context"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn get_clusters_takes_context_names_and_globs() {
    let f = fleet();
    let (code, doc, err) = run_json(&f.ws, &f.cfg, &["get", "clusters", "prod-us", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(contexts_of(&doc), ["prod-us"]);
    let (code, doc, err) = run_json(&f.ws, &f.cfg, &["get", "clusters", "prod-*", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(contexts_of(&doc), ["prod-eu", "prod-us"]);
    // With -l: only the selection's contexts that the names match.
    let (code, doc, err) = run_json(
        &f.ws,
        &f.cfg,
        &["get", "clusters", "-l", "env=prod", "*-us", "-o", "json"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(contexts_of(&doc), ["prod-us"]);
    let (code, _, err) = run_raw(
        &f.ws,
        &f.cfg,
        &["get", "clusters", "-l", "env=prod", "staging"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("names no context of the selection"), "{err}");
    // A misspelt context: exit 1, the name it meant, nothing read.
    let (code, out, err) = run_raw(&f.ws, &f.cfg, &["get", "clusters", "prod-uss"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("did you mean `prod-us`?"), "{err}");
}

#[test]
fn totals_cover_the_contexts_that_answered() {
    let f = fleet();
    let (code, doc, _) = run_json(&f.ws, &f.cfg, &["get", "clusters", "-A", "-o", "json"]);
    assert_eq!(code, 3, "one context is down: partial");
    let t = &doc["totals"];
    assert_eq!(t["contexts"], 3, "{t}");
    assert_eq!(t["queued"], 37, "{t}");
    assert_eq!(t["dead_letter"], 14, "{t}");
    assert_eq!(t["workers"], 13, "{t}");
    assert_eq!(t["processing"], 2, "{t}");
    let each: u64 = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["used_memory_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(t["used_memory_bytes"], each, "{t}");
    assert_eq!(doc["errors"][0]["context"], "down");

    let (code, out, _) = run_raw(&f.ws, &f.cfg, &["get", "clusters", "-A"]);
    assert_eq!(code, 3);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let last = lines.last().unwrap();
    assert_eq!(
        &last[..6],
        ["TOTAL", "3", "contexts", "37", "2", "14"],
        "{out}"
    );
    assert_eq!(last[6], "13", "{out}");
    // The unreachable context's row comes before the total.
    assert_eq!(
        lines[lines.len() - 2][..2],
        ["down", "unreachable"],
        "{out}"
    );
    // One context: no TOTAL row.
    let (_, out, _) = run_raw(&f.ws, &f.cfg, &["get", "clusters", "prod-eu"]);
    assert!(!out.contains("TOTAL"), "{out}");
}

#[test]
fn sort_by_orders_every_list_across_contexts() {
    let f = fleet();
    // Clusters by dead letters, most first; the failed context last.
    let (_, out, _) = run_raw(
        &f.ws,
        &f.cfg,
        &["get", "clusters", "-A", "--sort-by", "-dead_letter"],
    );
    let names: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        names,
        ["prod-eu", "staging", "prod-us", "down", "TOTAL"],
        "{out}"
    );
    // A short name, ascending.
    let (_, doc, _) = run_json(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "clusters",
            "prod-*",
            "staging",
            "--sort-by",
            "dlq",
            "-o",
            "json",
        ],
    );
    assert_eq!(contexts_of(&doc), ["prod-us", "staging", "prod-eu"]);
    // Nested fields: labels.env, then the context's own order.
    let (_, doc, _) = run_json(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "clusters",
            "prod-*",
            "staging",
            "--sort-by=-labels.env",
            "-o",
            "json",
        ],
    );
    assert_eq!(contexts_of(&doc), ["staging", "prod-eu", "prod-us"]);
    // Queues by length over every context.
    let (_, doc, _) = run_json(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "queues",
            "--context",
            "prod-eu,prod-us",
            "--sort-by",
            "-length",
            "-o",
            "json",
        ],
    );
    let top: Vec<(String, u64)> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .take(3)
        .map(|q| {
            (
                format!(
                    "{}/{}",
                    q["context"].as_str().unwrap(),
                    q["queue"].as_str().unwrap()
                ),
                q["length"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("prod-us/high".to_string(), 30),
            ("prod-eu/dead-letter".to_string(), 9),
            ("prod-eu/high".to_string(), 5)
        ]
    );
    // Workers by name, numbers in names compared as numbers.
    let (_, out, _) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "workers",
            "--context",
            "prod-us",
            "--sort-by",
            "name",
            "-o",
            "name",
        ],
    );
    let want: Vec<String> = (0..11).map(|i| format!("prod-us/us-w{i}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
    // Contexts, descending by name.
    let (_, out, _) = run_raw(
        &f.ws,
        &f.cfg,
        &["get", "contexts", "--sort-by", "-name", "-o", "name"],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["staging", "prod-us", "prod-eu", "down"]
    );
    // A field the list does not have: usage error, the field it meant.
    let (code, _, err) = run_raw(
        &f.ws,
        &f.cfg,
        &["get", "clusters", "--sort-by", "dead_leter"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `dead_letter`?"), "{err}");
    let (code, _, err) = run_raw(&f.ws, &f.cfg, &["get", "backups", "--sort-by", "size"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the fields are: context, key"), "{err}");
}

#[test]
fn queue_and_worker_names_filter_and_misspellings_are_caught() {
    let f = fleet();
    let (code, out, err) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "workers",
            "--context",
            "prod-us",
            "us-w1*",
            "-o",
            "name",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["prod-us/us-w1", "prod-us/us-w10"]
    );
    let (code, _, err) = run_raw(
        &f.ws,
        &f.cfg,
        &["get", "workers", "--context", "prod-us", "us-w99"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("worker `us-w99` is not in context `prod-us`"),
        "{err}"
    );
    // A queue by its key, and dlq for the dead-letter queue.
    let (code, out, err) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "queues",
            "jobqueue:high_priority",
            "dlq",
            "-o",
            "name",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["prod-eu/high", "prod-eu/dead-letter"]
    );
    // Found on some contexts, misspelt once: the rows found, then exit 1.
    let (code, out, err) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "queues",
            "--context",
            "prod-eu,prod-us",
            "high",
            "lwo",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(
        err.contains("queue `lwo` is not in any of the 2 contexts"),
        "{err}"
    );
    assert!(err.contains("did you mean `low`?"), "{err}");
    // A glob that matches nothing is an empty answer, not an error.
    let (code, _, err) = run_raw(&f.ws, &f.cfg, &["get", "queues", "nothing-*"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("No resources found."), "{err}");
}

#[test]
fn custom_columns_over_the_json_fields_of_any_verb() {
    let f = fleet();
    let (code, out, err) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "get",
            "clusters",
            "prod-*",
            "-o",
            "custom-columns=NAME:.context,DLQ:.dead_letter,ENV:.labels.env,RATE:.rates.completed_per_s",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "DLQ", "ENV", "RATE"],
            vec!["prod-eu", "9", "prod", "<none>"],
            vec!["prod-us", "1", "prod", "<none>"],
        ]
    );
    // Not a list verb: compare's document.
    let (code, out, err) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "compare",
            "prod-eu",
            "prod-us",
            "-o",
            "custom-columns=KIND:.kind",
        ],
    );
    assert!(code == 0 || code == 5, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["KIND", "Comparison"],
        "{out}"
    );
    // A write verb's dry run: one row per target.
    let (code, out, err) = run_raw(
        &f.ws,
        &f.cfg,
        &[
            "purge-dlq",
            "--context",
            "prod-eu",
            "--dry-run",
            "-o",
            "custom-columns=CTX:.context,STATUS:.status",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().next(), Some("CTX       STATUS"), "{out}");
    assert!(out.lines().nth(1).unwrap().starts_with("prod-eu"), "{out}");
    assert_eq!(lrange(&mut f.eu.conn(), "jobqueue:dead_letter").len(), 9);
    // Bad specs: usage errors that say how to write one.
    for (spec, says) in [
        ("custom-columns=NAME", "HEADER:FIELD"),
        ("custom-columns", "needs its columns"),
        ("custom-columns=N:.a..b", "empty step"),
        ("custom-columns=N:.contxt", "did you mean `context`?"),
        ("tabel", "not an output format"),
    ] {
        let (code, _, err) = run_raw(&f.ws, &f.cfg, &["get", "clusters", "-o", spec]);
        assert_eq!(code, 2, "{spec}: {err}");
        assert!(err.contains(says), "{spec}: {err}");
    }
}

#[test]
fn watch_on_a_terminal_draws_trends_in_the_alternate_screen() {
    let f = fleet();
    let pty = Pty::spawn(f.ws.on_pty(&format!(
        "{} --config {} get clusters prod-eu prod-us --watch --interval 300ms",
        workspace::qctl_bin().display(),
        f.cfg.display()
    )));
    assert!(
        pty.wait_for_text("QUEUED-TREND", Duration::from_secs(20)),
        "{}",
        pty.text()
    );
    // Jobs arrive on prod-eu while it watches: its sparkline climbs and
    // the IN/S column shows a rate.
    let mut c = f.eu.conn();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        let _: i64 = redis::cmd("LPUSH")
            .arg("jobqueue:high_priority")
            .arg(job("more"))
            .query(&mut c)
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(700));
    let pid = pty.command_pid().expect("qctl runs");
    // SAFETY: kill(2) on the qctl process the pty runs.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let (code, text) = pty.finish();
    assert_eq!(code, 130, "{text}");
    assert!(
        text.contains("\u{1b}[?1049h"),
        "enters the alternate screen"
    );
    assert!(
        text.trim_end().ends_with("\u{1b}[?1049l"),
        "and leaves it at the end: {:?}",
        &text[text.len().saturating_sub(200)..]
    );
    let last = text.rsplit("Every 300ms").next().unwrap();
    let eu = last
        .lines()
        .find(|l| l.starts_with("prod-eu"))
        .unwrap_or_else(|| panic!("{last}"));
    let cells: Vec<&str> = eu.split_whitespace().collect();
    let spark = cells[cells.len() - 4];
    assert!(spark.chars().count() >= 3, "{eu}");
    assert!(
        spark.starts_with('▁') && spark.contains(['▅', '▆', '▇', '█']),
        "{eu}"
    );
    assert!(last.contains("IN/S") && last.contains("OUT/S"), "{last}");
    assert!(last.lines().any(|l| l.starts_with("TOTAL")), "{last}");
}

#[test]
fn piped_watch_rows_stay_under_their_header() {
    let f = fleet();
    let mut child =
        f.ws.qctl_std()
            .args(["--config"])
            .arg(&f.cfg)
            .args([
                "get",
                "clusters",
                "prod-eu",
                "--watch",
                "--interval",
                "200ms",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(lines.next().unwrap().unwrap());
    }
    // 20 MiB more memory: the MEMORY column widens (1.0MiB -> 21.0MiB).
    let _: () = redis::cmd("SET")
        .arg("ballast")
        .arg(vec![b'x'; 20 << 20])
        .query(&mut f.eu.conn())
        .unwrap();
    let wide = |l: &str| {
        l.split_whitespace()
            .any(|c| c.ends_with("MiB") && c.len() >= 7)
    };
    while !seen.last().is_some_and(|l| wide(l)) {
        seen.push(lines.next().unwrap().unwrap());
    }
    seen.push(lines.next().unwrap().unwrap());
    let _ = child.kill();
    let _ = child.wait();
    // Every row's figures start where their header's do.
    let mut header: Option<&str> = None;
    let mut headers = 0;
    for l in &seen {
        if l.starts_with("CONTEXT") {
            header = Some(l);
            headers += 1;
            continue;
        }
        let h = header.expect("a header first");
        for col in ["QUEUED", "MEMORY"] {
            let at = h.find(col).unwrap();
            assert!(
                l.len() > at && l.as_bytes()[at - 1] == b' ' && l.as_bytes()[at] != b' ',
                "{col} misaligned: {seen:#?}"
            );
        }
    }
    assert_eq!(headers, 2, "a new header once MEMORY widened: {seen:#?}");
}

/// The JSON fields a list's `--help` names: every key of its items is one.
#[test]
fn each_list_help_names_its_json_fields() {
    let f = fleet();
    for (verb, args) in [
        ("clusters", vec!["get", "clusters", "prod-*"]),
        ("queues", vec!["get", "queues", "--context", "prod-eu"]),
        ("workers", vec!["get", "workers", "--context", "prod-eu"]),
        ("jobs", vec!["get", "jobs", "dlq", "--context", "prod-eu"]),
        ("contexts", vec!["get", "contexts"]),
    ] {
        let (_, help, _) = run_raw(&f.ws, &f.cfg, &["get", verb, "--help"]);
        let fields: Vec<String> = help
            .split("JSON fields (of each item")
            .nth(1)
            .unwrap_or_else(|| panic!("get {verb} --help names no JSON fields: {help}"))
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .flat_map(|l| l.split(','))
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect();
        let mut a = args.clone();
        a.extend(["-o", "json"]);
        let (code, doc, err) = run_json(&f.ws, &f.cfg, &a);
        assert_eq!(code, 0, "{verb}: {err}");
        let items = doc["items"].as_array().unwrap();
        assert!(!items.is_empty(), "{verb}: {doc}");
        for it in items {
            for k in it.as_object().unwrap().keys() {
                assert!(
                    fields.contains(k),
                    "get {verb}: `{k}` is not in --help's {fields:?}"
                );
            }
        }
    }
}
