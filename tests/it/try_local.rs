//! `scripts/try-local.sh`: run with QCTL_BIN set to the binary under test,
//! it must exit 0, build nothing, leave no server or file behind, and run
//! every `qctl` command line of the README's code blocks (but the few
//! synopses below); where the README shows a table after a command, the
//! script's run of that command prints the same header (the same columns).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::bullmq;
use crate::common::rq;
use crate::common::sidekiq;
use crate::common::*;

const README: &str = include_str!("../../README.md");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/try-local.sh");

/// README command lines the script does not run, by prefix, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "qctl describe job aa6b915f7b08a770b9053977",
        "a Sidekiq jid, random per run: the sidekiq section runs `describe job` on the jid its RetryFailJob got",
    ),
    (
        "qctl config use-context NAME",
        "a synopsis (NAME); the script runs `config use-context prod-eu` and `use-context -`",
    ),
    (
        "qctl config set-context NAME --cluster C [--user U]",
        "a synopsis; the script runs `config set-context canary --cluster staging --label ...`",
    ),
    (
        "qctl config delete-context NAME",
        "a synopsis; the script runs `config delete-context canary`",
    ),
    (
        "qctl config view [--minify] [--raw]",
        "a synopsis; the script runs `config view --minify`",
    ),
    (
        "qctl bench --context staging --count 1000 --rate 200 [--queue high]",
        "a synopsis; the script runs `bench ... --dry-run` (a real bench needs a worker fleet that completes jobs)",
    ),
    (
        "qctl quiet workers [NAME...]",
        "a synopsis; the script runs `quiet workers --context shop-us --dry-run`",
    ),
    (
        "qctl stop workers [NAME...]",
        "a synopsis; the script runs `stop workers --context reports-eu`",
    ),
    (
        "qctl stop workers -l app=shop --strategy rolling",
        "a rolling restart of a fleet of Sidekiq processes under a process manager that starts them again",
    ),
];

/// Collapses whitespace outside quotes and drops a trailing `# comment`.
fn normalize(line: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in line.trim().chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => space = true,
            None if c == '#' && space => break,
            None => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

/// A `$ qctl ...` command and the output lines after it.
#[derive(Debug)]
struct Shown {
    command: String,
    output: Vec<String>,
}

/// Every `qctl` command line of the README's fenced code blocks: in a block
/// that shows a prompt (`$ `), the `$ qctl` lines, each with the output up
/// to the next prompt; in any other block, the lines that start with
/// `qctl ` (backslash continuations joined).
fn readme_commands() -> Vec<Shown> {
    let mut shown = Vec::new();
    let mut lines = README.lines();
    while let Some(line) = lines.next() {
        if !line.starts_with("```") {
            continue;
        }
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        let console = block.iter().any(|l| l.starts_with("$ "));
        let mut i = 0;
        while i < block.len() {
            let l = block[i];
            i += 1;
            let mut cmd = match (console, l.strip_prefix("$ ")) {
                (true, Some(c)) if c.starts_with("qctl ") => c.to_string(),
                (false, _) if l.starts_with("qctl ") => l.to_string(),
                _ => continue,
            };
            while cmd.ends_with('\\') && i < block.len() {
                cmd.pop();
                cmd.push(' ');
                cmd.push_str(block[i]);
                i += 1;
            }
            let mut output = Vec::new();
            while console && i < block.len() && !block[i].starts_with("$ ") {
                output.push(block[i].to_string());
                i += 1;
            }
            shown.push(Shown {
                command: normalize(&cmd),
                output,
            });
        }
    }
    shown
}

/// The script's `$ qctl ...` lines, each with the output after it.
fn script_commands(stdout: &str) -> Vec<Shown> {
    let mut shown: Vec<Shown> = Vec::new();
    let mut current: Option<Shown> = None;
    for line in stdout.lines() {
        if let Some(cmd) = line.strip_prefix("$ ") {
            shown.extend(current.take());
            if cmd.starts_with("qctl ") {
                current = Some(Shown {
                    command: normalize(cmd),
                    output: Vec::new(),
                });
            }
        } else if let Some(c) = current.as_mut() {
            c.output.push(line.to_string());
        }
    }
    shown.extend(current);
    shown
}

/// The table headers in `output` (`CONTEXT   STATUS ...`, plans' indented
/// `CONTEXT   JOBS   PLAN`), whitespace collapsed.
fn headers(output: &[String]) -> Vec<String> {
    output
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|words| {
            words.len() >= 3
                && words.first() == Some(&"CONTEXT")
                && words.iter().all(|w| {
                    w.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "-/_".contains(c))
                })
        })
        .map(|words| words.join(" "))
        .collect()
}

fn not_run(command: &str) -> Option<&'static str> {
    NOT_RUN
        .iter()
        .find(|(prefix, _)| command.starts_with(&normalize(prefix)))
        .map(|(_, why)| *why)
}

#[test]
fn readme_command_extraction() {
    let shown = readme_commands();
    let commands: Vec<&str> = shown.iter().map(|s| s.command.as_str()).collect();
    // A prompt block, a recipe with a continuation and a comment, a synopsis.
    assert!(commands.contains(&"qctl health -A"), "{commands:#?}");
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("qctl get clusters -A -o json | jq -r")),
        "{commands:#?}"
    );
    assert!(
        commands.contains(&"qctl config current-context"),
        "{commands:#?}"
    );
    // Output lines are not commands (the demo's own status line).
    assert!(
        !commands.iter().any(|c| c.starts_with("qctl demo:")),
        "{commands:#?}"
    );
    let health = shown
        .iter()
        .find(|s| s.command == "qctl health -A")
        .unwrap();
    assert_eq!(headers(&health.output), ["CONTEXT HEALTH FAILED CHECKS"]);
    assert_eq!(
        normalize(r#"qctl x --match '*"a  b"*'   # note"#),
        r#"qctl x --match '*"a  b"*'"#
    );
    // Every exception still names a README line.
    for (prefix, _) in NOT_RUN {
        assert!(
            commands.iter().any(|c| c.starts_with(&normalize(prefix))),
            "NOT_RUN names `{prefix}`, which the README no longer shows: drop it"
        );
    }
}

/// Runs the script in its own process group (SIGTERM to it when this test
/// thread dies, and at the deadline: the script's trap stops its servers).
fn run_script(ws: &Workspace, args: &[&str], deadline: Duration) -> (Option<i32>, String, String) {
    let tmp = ws.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT).args(args);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("QCTL_") && k != "QCTL_RQ_VENV" || k.starts_with("XDG_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("QCTL_BIN", workspace::qctl_bin())
        .env("TMPDIR", &tmp)
        .env("HOME", ws.home())
        .env_remove("CARGO_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid) in the child.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGTERM as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("run bash scripts/try-local.sh");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).unwrap();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > deadline {
            // SAFETY: kill(2) on the script's own process group.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGTERM) };
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.is_some(),
        "still running after {deadline:?}:\n{stdout}\n{stderr}"
    );
    (status.unwrap().code(), stdout, stderr)
}

fn leftovers(tmp: &Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn try_local_runs_every_readme_command() {
    let name = "try_local_runs_every_readme_command";
    if !sidekiq::available(name) || !bullmq::available(name) || !rq::available(name) {
        return;
    }
    if Command::new("jq").arg("--version").output().is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("{name}: jq is not installed (the README's recipes use it)");
        }
        eprintln!("SKIPPED {name}: jq is not installed (sudo apt-get install -y jq)");
        return;
    }
    let ws = Workspace::new();
    let transcript = ws.join("transcript.md");
    let (code, stdout, stderr) = run_script(
        &ws,
        &["--transcript", transcript.to_str().unwrap()],
        Duration::from_secs(600),
    );
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(": skipped:"),
        "a section was skipped:\n{stdout}"
    );
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains("panicked at") && !text.contains("RUST_BACKTRACE"),
            "qctl panicked:\n{stdout}\n{stderr}"
        );
    }
    let tmp = ws.join("tmp");
    assert!(
        leftovers(&tmp).is_empty(),
        "left behind: {:?}",
        leftovers(&tmp)
    );
    assert_eq!(redis_server_count_in(&tmp), 0, "servers left running");

    let ran = script_commands(&stdout);
    let ran_set: BTreeSet<&str> = ran.iter().map(|s| s.command.as_str()).collect();
    let mut missing = Vec::new();
    let mut wrong_shape = Vec::new();
    for shown in readme_commands() {
        if not_run(&shown.command).is_some() {
            continue;
        }
        if !ran_set.contains(shown.command.as_str()) {
            missing.push(shown.command);
            continue;
        }
        let runs: Vec<&Shown> = ran.iter().filter(|r| r.command == shown.command).collect();
        for header in headers(&shown.output) {
            if !runs.iter().any(|r| headers(&r.output).contains(&header)) {
                let got: BTreeMap<usize, Vec<String>> = runs
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i, headers(&r.output)))
                    .collect();
                wrong_shape.push(format!(
                    "{}\n  README: {header}\n  script: {got:?}",
                    shown.command
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README commands the script does not run (add a `run '...'` line to its section, \
         or to NOT_RUN with the reason):\n{}\n\nthe script ran:\n{}",
        missing.join("\n"),
        ran_set.iter().copied().collect::<Vec<_>>().join("\n")
    );
    assert!(
        wrong_shape.is_empty(),
        "README tables whose header today's binary does not print (paste the script's output \
         into the README):\n{}",
        wrong_shape.join("\n")
    );

    // The transcript: a heading per section and the same commands, in
    // console blocks.
    let md = std::fs::read_to_string(&transcript).unwrap();
    for section in [
        "tour",
        "config",
        "gowork",
        "sidekiq",
        "bullmq-rq",
        "replicate-hashed",
    ] {
        assert!(
            md.contains(&format!("(`{section}`)")),
            "no {section} heading:\n{md}"
        );
    }
    assert_eq!(
        md.matches("```console").count(),
        md.matches("\n```\n").count(),
        "{md}"
    );
    let in_md: BTreeSet<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .filter(|c| c.starts_with("qctl "))
        .collect();
    let in_stdout: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("$ "))
        .filter(|c| c.starts_with("qctl "))
        .collect();
    assert_eq!(in_md, in_stdout);
}

#[test]
fn try_local_refuses_a_missing_binary_and_an_unknown_section() {
    let ws = Workspace::new();
    let (code, _, stderr) = run_script(&ws, &["nosuch"], Duration::from_secs(30));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("unknown section nosuch: one of tour config"),
        "{stderr}"
    );
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT)
        .arg("config")
        .env("QCTL_BIN", ws.join("no-such-qctl"))
        .env("TMPDIR", ws.path());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not an executable file"), "{stderr}");
}
