//! `--help`, the man pages and unknown verbs, as a kubectl user expects
//! them: each verb's own options first, then "Global options:", then
//! "Examples:" (and every example runs, pasted into bash, against a real
//! redis-server); a did-you-mean for a mistyped verb; man pages with
//! SYNOPSIS values, EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES, SEE ALSO.

use crate::common::workspace::qctl_bin;
use crate::common::*;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `qctl ARGS` in an empty workspace (no contexts file).
fn qctl(ws: &Workspace, args: &[&str]) -> Output {
    ws.qctl_std().args(args).output().unwrap()
}

/// The names listed under "Commands:" in a help text (clap's `help` left out).
fn commands_in(help: &str) -> Vec<String> {
    let Some(start) = help.find("\nCommands:\n") else {
        return Vec::new();
    };
    help[start + "\nCommands:\n".len()..]
        .lines()
        .take_while(|l| !l.trim().is_empty())
        // A name starts at column 2; wrapped descriptions are indented more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect()
}

/// Every visible verb, as the help lists them (`""` is qctl), with its
/// `--help` text.
fn every_help(ws: &Workspace) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![String::new()];
    while let Some(path) = todo.pop() {
        let mut args: Vec<&str> = path.split_whitespace().collect();
        args.push("--help");
        let o = qctl(ws, &args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "qctl {path} --help: {}",
            stderr(&o)
        );
        let help = stdout(&o);
        for c in commands_in(&help).into_iter().rev() {
            todo.push(format!("{path} {c}").trim().to_string());
        }
        out.push((path, help));
    }
    assert!(out.len() > 30, "only {} verbs found", out.len());
    out
}

/// The (what, line) pairs under "Examples:".
fn examples_in(help: &str) -> Vec<(String, String)> {
    let Some((_, tail)) = help.split_once("\nExamples:\n") else {
        return Vec::new();
    };
    let lines: Vec<&str> = tail.lines().collect();
    let mut out = Vec::new();
    for pair in lines.windows(2) {
        if let Some(what) = pair[0].strip_prefix("  # ") {
            out.push((what.to_string(), pair[1].trim().to_string()));
        }
    }
    out
}

/// The verbs without examples yet: the one list, `NO_EXAMPLES_YET` in
/// src/cli/help.rs, read from the source.
fn no_examples_yet() -> Vec<String> {
    let src = include_str!("../../src/cli/help.rs");
    let start = src
        .find("const NO_EXAMPLES_YET: &[&str] = &[")
        .expect("NO_EXAMPLES_YET in src/cli/help.rs");
    let list = &src[start..];
    let list = &list[list.find("= &[").unwrap() + 4..list.find("];").unwrap()];
    list.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn every_verb_shows_its_own_options_then_the_global_ones_then_examples() {
    let ws = Workspace::new();
    let exempt = no_examples_yet();
    for (path, help) in every_help(&ws) {
        let own = help
            .find("\nOptions:\n")
            .unwrap_or_else(|| panic!("qctl {path} --help has no Options:\n{help}"));
        let examples = match help.find("\nExamples:\n") {
            Some(i) => i,
            None if exempt.contains(&path) => help.len(),
            None => panic!("qctl {path} --help has no Examples:\n{help}"),
        };
        let global = help.find("\nGlobal options:\n");
        // -h and -V stay with the verb's own options.
        let help_flag = help.find("  -h, --help").unwrap();
        match global {
            Some(global) => {
                assert!(
                    own < help_flag && help_flag < global && global < examples,
                    "qctl {path} --help: Options:, then Global options:, then Examples:\n{help}"
                );
                let globals = &help[global..examples];
                if path != "version" {
                    assert!(globals.contains("-q, --quiet"), "qctl {path}:\n{help}");
                }
                if path != "demo" && path != "version" {
                    assert!(
                        globals.contains("--context <NAME>")
                            && globals.contains("-o, --output <FMT>")
                            && !help[own..global].contains("--context <NAME>"),
                        "qctl {path}:\n{help}"
                    );
                }
            }
            // completion honours none of them: all hidden.
            None => assert_eq!(path, "completion", "qctl {path} --help:\n{help}"),
        }
        if examples == help.len() {
            continue;
        }
        let ex = examples_in(&help);
        assert!(
            (1..=3).contains(&ex.len()) && ex.iter().all(|(_, l)| l.contains("qctl")),
            "qctl {path} --help: 1 to 3 examples, each a qctl line:\n{help}"
        );
        // The examples end the help.
        let last = &ex.last().unwrap().1;
        assert!(
            help.trim_end().ends_with(last.as_str()),
            "qctl {path}:\n{help}"
        );
    }
    // -o shows the default it has (table for every verb).
    let help = stdout(&qctl(&ws, &["get", "queues", "--help"]));
    let o = help.find("-o, --output <FMT>").expect(&help);
    let next = help[o..].find("--no-headers").expect(&help);
    assert!(help[o..o + next].contains("[default: table]"), "{help}");
}

#[test]
fn demo_help_leaves_out_what_demo_ignores_but_still_accepts_it() {
    let ws = Workspace::new();
    let help = stdout(&qctl(&ws, &["demo", "--help"]));
    for flag in [
        "--config",
        "--context",
        "--selector",
        "--all-contexts",
        "--timeout",
        "--connect-timeout",
        "--max-concurrency",
        "--output",
        "--no-headers",
        "--color",
        "--verbose",
    ] {
        assert!(!help.contains(flag), "demo --help shows {flag}:\n{help}");
    }
    assert!(
        help.contains("-q, --quiet") && help.contains("--no-wait"),
        "{help}"
    );
    // Scripts that pass them still parse: clap reads them before --help...
    let o = qctl(
        &ws,
        &["demo", "--context", "x", "-A", "--timeout", "1s", "--help"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // ...as it would reject an unknown flag there.
    let o = qctl(&ws, &["demo", "--frobnicate", "--help"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    // version keeps -o, and takes the others as before.
    let help = stdout(&qctl(&ws, &["version", "--help"]));
    assert!(
        help.contains("-o, --output <FMT>") && !help.contains("--context"),
        "{help}"
    );
    let o = qctl(
        &ws,
        &["version", "--context", "x", "--no-headers", "-o", "json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "Version");
}

#[test]
fn a_mistyped_verb_gets_a_did_you_mean_and_exit_2() {
    let ws = Workspace::new();
    for (args, expected) in [
        (
            &["gte"][..],
            "error: unknown command \"gte\" for \"qctl\"\n  hint: did you mean \"get\"?\n",
        ),
        (
            &["get", "clustrs"][..],
            "error: unknown command \"clustrs\" for \"qctl get\"\n  hint: did you mean \"clusters\"?\n",
        ),
        (
            &[
                "--context",
                "prod",
                "-o",
                "json",
                "config",
                "use-contxt",
                "x",
            ][..],
            "error: unknown command \"use-contxt\" for \"qctl config\"\n  hint: did you mean \"use-context\"?\n",
        ),
        (
            &["rqeueue", "--to", "high"][..],
            "error: unknown command \"rqeueue\" for \"qctl\"\n  hint: did you mean \"requeue\"?\n",
        ),
        (
            &["frobnicate"][..],
            "error: unknown command \"frobnicate\" for \"qctl\"\n  hint: run 'qctl --help' for the commands\n",
        ),
    ] {
        let o = qctl(&ws, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), expected, "{args:?}");
        assert!(o.stdout.is_empty());
    }
    // Everything else is clap's own message, still exit 2.
    let o = qctl(&ws, &["get", "clusters", "--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unexpected argument '--frobnicate'"),
        "{}",
        stderr(&o)
    );
    // And the singular aliases still run.
    let o = qctl(&ws, &["get", "cluster", "--help"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------
// Every example, pasted into bash, against a real redis-server.

/// Examples not run here, and why; each is one line.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "qctl demo",
        "starts six servers of its own: tests/it/demo.rs",
    ),
    (
        "qctl bench --context staging --count 1000 --rate 200 --queue low --yes-i-typed=staging",
        "waits for workers to complete the jobs: tests/it/bench.rs",
    ),
    (
        "qctl quiet workers 'web-1:*' --context shop --yes-i-typed=shop",
        "needs a live Sidekiq process on host web-1: tests/it/sidekiq_signals.rs",
    ),
];

/// Write verbs: without --dry-run or --yes-i-typed they ask, and off a
/// terminal that refuses (exit 4).
const WRITES: &[&str] = &[
    "purge-dlq",
    "restore-dlq",
    "requeue",
    "replicate",
    "quiet",
    "stop",
    "pause",
    "resume",
    "bench",
];

/// Every context the examples name, each in its own database of one server.
fn examples_config(server: &RedisServer) -> String {
    let url = server.url();
    format!(
        "apiVersion: qctl/v1
current-context: staging
clusters:
  - {{ name: us, server: \"{url}/0\" }}
  - {{ name: eu, server: \"{url}/1\" }}
  - {{ name: stage, server: \"{url}/2\" }}
  - {{ name: shop, server: \"{url}/3\" }}
  - {{ name: mail, server: \"{url}/4\" }}
  - {{ name: reports, server: \"{url}/5\" }}
contexts:
  - {{ name: prod-us, cluster: us, labels: {{ env: prod }} }}
  - {{ name: prod-eu, cluster: eu, labels: {{ env: prod }} }}
  - {{ name: staging, cluster: stage, labels: {{ env: staging }} }}
  - {{ name: old-staging, cluster: stage }}
  - {{ name: shop, cluster: shop, schema: shop, labels: {{ team: shop }} }}
  - {{ name: mail-eu, cluster: mail, schema: mail }}
  - {{ name: reports-eu, cluster: reports, schema: reports }}
queue-schemas:
  - {{ name: shop, kind: sidekiq }}
  - {{ name: mail, kind: bullmq }}
  - {{ name: reports, kind: rq }}
"
    )
}

/// The example as a user would paste it: `bash -c LINE`, with qctl on PATH.
fn bash(ws: &Workspace, config: &Path, line: &str) -> Command {
    let bin_dir = qctl_bin().parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let c = ws.qctl_std();
    let mut cmd = Command::new("bash");
    // A plain `qctl ...` replaces bash, so that a watch is stopped by a kill.
    let script = if line.starts_with("qctl ") {
        format!("exec {line}")
    } else {
        line.to_string()
    };
    cmd.arg("--norc").arg("-c").arg(script);
    // The hermetic environment of ws.qctl_std(), for bash.
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("PATH", path)
        .env("QCTL_CONFIG", config)
        .current_dir(ws.path())
        .stdin(Stdio::null());
    cmd
}

#[test]
fn every_example_runs_against_a_real_server() {
    if Command::new("bash")
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_err()
    {
        eprintln!("bash not installed: skipped");
        return;
    }
    let ws = Workspace::new();
    let server = RedisServer::start();
    // mail-eu (BullMQ) has a queue `low`: pause and resume have one to name.
    server.cli(&[
        "-n",
        "4",
        "HSET",
        "bull:low:meta",
        "opts.maxLenEvents",
        "10000",
    ]);
    // The jobs and the worker the describe and get job examples name.
    for (id, key) in [
        ("7f3c9a1e", "jobqueue:dead_letter"),
        ("9b2d4e11", "jobqueue:dead_letter"),
    ] {
        server.cli(&["-n", "1", "LPUSH", key, &job(id)]);
    }
    server.cli(&[
        "-n",
        "2",
        "LPUSH",
        "jobqueue:worker:worker-7:processing",
        &job("w7-job"),
    ]);
    server.cli(&[
        "-n",
        "2",
        "SET",
        "jobqueue:processing:worker:worker-7",
        &job("w7-job"),
        "PX",
        "600000",
    ]);
    let text = examples_config(&server);
    let config = ws.write_mode("config.yaml", &text, 0o600);
    // `--config ./new-config.yaml config validate` checks a file in the cwd.
    ws.write_mode("new-config.yaml", &text, 0o600);
    // Where the completion examples write their scripts.
    std::fs::create_dir_all(ws.home().join(".zfunc")).unwrap();
    std::fs::create_dir_all(ws.home().join(".config/fish/completions")).unwrap();
    // `use-context -` goes back to the context before the last switch.
    for name in ["prod-us", "staging"] {
        let o = ws
            .qctl_std()
            .env("QCTL_CONFIG", &config)
            .args(["use-context", name])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }

    let mut ran = 0;
    for (path, help) in every_help(&ws) {
        for (what, line) in examples_in(&help) {
            if NOT_RUN.iter().any(|(l, _)| *l == line) {
                continue;
            }
            // Each example starts from the same file (some edit it).
            std::fs::write(&config, &text).unwrap();
            if line.contains("--watch") {
                // Runs until stopped: its first poll is enough.
                let mut child = bash(&ws, &config, &line)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut first = String::new();
                std::io::BufReader::new(child.stdout.take().unwrap())
                    .read_line(&mut first)
                    .unwrap();
                let _ = child.kill();
                let _ = child.wait();
                assert!(!first.trim().is_empty(), "`{line}` printed nothing");
                ran += 1;
                continue;
            }
            let verb = path.split_whitespace().next().unwrap_or_default();
            let verb_of_line = line.split_whitespace().nth(1).unwrap_or_default();
            let asks = (WRITES.contains(&verb) || WRITES.contains(&verb_of_line))
                && !line.contains("--dry-run")
                && !line.contains("--yes-i-typed");
            let expected = if asks { 4 } else { 0 };
            let o = bash(&ws, &config, &line).output().unwrap();
            assert_eq!(
                o.status.code(),
                Some(expected),
                "the example `{line}` ({what}) under `qctl {path}` exited {:?}, not {expected}:\n{}{}",
                o.status.code(),
                stdout(&o),
                stderr(&o)
            );
            if asks {
                assert!(stderr(&o).contains("--yes-i-typed="), "{}", stderr(&o));
            }
            ran += 1;
        }
    }
    assert!(ran > 60, "only {ran} examples ran");
    // The write examples wrote: the purge kept a backup, put back since.
    let audit = std::fs::read_to_string(ws.state_home().join("qctl/audit.log")).unwrap();
    assert!(audit.contains("\"purge-dlq\"") && audit.contains("\"restore-dlq\""));
}

// ---------------------------------------------------------------------------
// Man pages.

fn man_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("man")
}

/// A page as a reader sees it: `man -l` when man is installed, else groff,
/// else the roff source itself.
fn rendered(page: &str) -> String {
    let file = man_dir().join(page);
    let have = |c: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {c}"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let out = if have("man") {
        Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("MAN_KEEP_FORMATTING", "")
            .output()
            .unwrap()
    } else if have("groff") {
        Command::new("groff")
            .args(["-man", "-Tutf8", "-P-c", "-P-b", "-P-u"])
            .arg(&file)
            .output()
            .unwrap()
    } else {
        return std::fs::read_to_string(&file).unwrap();
    };
    assert!(out.status.success(), "{page}: {}", stderr(&out));
    // No overstrike (bold by backspacing) left in the text.
    let mut text = String::new();
    for c in stdout(&out).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

/// The lines of a rendered section, up to the next heading.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "no {heading} in:\n{text}");
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .collect()
}

#[test]
fn qctl_1_has_every_exit_code_environment_files_examples_and_see_also() {
    let text = rendered("qctl.1");
    let exit = section(&text, "EXIT STATUS");
    // SPEC section 7: 0, 1, 2, 3, 4, 5, 130.
    for code in ["0", "1", "2", "3", "4", "5", "130"] {
        assert!(
            exit.iter()
                .any(|l| l.split_whitespace().next() == Some(code)),
            "EXIT STATUS lacks {code}:\n{}",
            exit.join("\n")
        );
    }
    let exit = exit.join(" ");
    assert!(
        exit.contains("Partial") && exit.contains("Interrupted"),
        "{exit}"
    );
    let env = section(&text, "ENVIRONMENT").join("\n");
    for var in [
        "QCTL_CONFIG",
        "QCTL_CONTEXT",
        "NO_COLOR",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "COMPLETE",
    ] {
        assert!(env.contains(var), "ENVIRONMENT lacks {var}:\n{env}");
    }
    let files = section(&text, "FILES").join("\n");
    for f in [
        "~/.config/qctl/config.yaml",
        "~/.local/state/qctl/audit.log",
        "~/.local/state/qctl/previous-context",
    ] {
        assert!(files.contains(f), "FILES lacks {f}:\n{files}");
    }
    let examples = section(&text, "EXAMPLES").join("\n");
    assert!(examples.contains("qctl get clusters -A"), "{examples}");
    let see = section(&text, "SEE ALSO").join(" ");
    for p in [
        "qctl-get(1)",
        "qctl-purge-dlq(1)",
        "redis-cli(1)",
        "kubectl(1)",
    ] {
        assert!(see.contains(p), "SEE ALSO lacks {p}: {see}");
    }
    // SYNOPSIS shows the values the options take.
    let synopsis = section(&text, "SYNOPSIS").join(" ");
    assert!(
        synopsis.contains("[--config PATH]") && synopsis.contains("[-o|--output FMT]"),
        "{synopsis}"
    );
}

#[test]
fn every_page_renders_with_examples_exit_status_and_see_also() {
    let pages: Vec<String> = std::fs::read_dir(man_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1"))
        .collect();
    assert!(pages.len() > 30, "{pages:?}");
    let exempt: Vec<String> = no_examples_yet()
        .iter()
        .map(|p| format!("qctl-{}.1", p.replace(' ', "-")))
        .collect();
    for page in &pages {
        let text = rendered(page);
        for heading in ["SYNOPSIS", "EXIT STATUS", "EXAMPLES", "SEE ALSO"] {
            if heading == "EXAMPLES" && exempt.contains(page) {
                continue;
            }
            assert!(
                text.lines().any(|l| l.trim() == heading),
                "{page} has no {heading}:\n{text}"
            );
        }
        if page != "qctl.1" {
            let see = section(&text, "SEE ALSO").join(" ");
            assert!(see.contains("qctl(1)"), "{page}: {see}");
        }
    }
    let purge = rendered("qctl-purge-dlq.1");
    let synopsis = section(&purge, "SYNOPSIS").join(" ");
    assert!(
        synopsis.contains("[--keep-backup DUR]") && synopsis.contains("[global options]"),
        "{synopsis}"
    );
    let examples = section(&purge, "EXAMPLES").join("\n");
    assert!(
        examples.contains("qctl purge-dlq --context prod-eu --dry-run"),
        "{examples}"
    );
    let see = section(&purge, "SEE ALSO").join(" ");
    assert!(see.contains("qctl-restore-dlq(1)"), "{see}");
    // The signal verbs' own text is a NOTES section.
    let stop = rendered("qctl-stop-workers.1");
    assert!(section(&stop, "NOTES").join(" ").contains("NAME matches"));
    // demo's page lists only what demo reads.
    let demo = rendered("qctl-demo.1");
    assert!(
        !demo.contains("--context") && demo.contains("--quiet"),
        "{demo}"
    );
}
