//! The files generated from the command surface, checked in under
//! `completions/` and `man/`, equal what the binary generates; and the
//! completion they set up answers with names from the contexts file.
//!
//! No Redis here: completion never connects.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const QCTL: &str = env!("CARGO_BIN_EXE_qctl");
const REGEN: &str = "bash scripts/regen-completions-and-man.sh";

/// (shell, file under completions/)
const SCRIPTS: &[(&str, &str)] = &[
    ("bash", "qctl.bash"),
    ("zsh", "_qctl"),
    ("fish", "qctl.fish"),
    ("powershell", "qctl.ps1"),
    ("elvish", "qctl.elv"),
];

const CONFIG: &str = "\
apiVersion: qctl/v1
current-context: staging
clusters:
  - { name: east, server: redis://127.0.0.1:1/0 }
  - { name: stage, server: redis://127.0.0.1:2/0 }
queue-schemas:
  - name: tagged
    queues: { urgent: \"{jq}:urgent\", high: \"{jq}:high\", low: \"{jq}:low\" }
contexts:
  - { name: prod-a, cluster: east, schema: tagged, labels: { env: prod, region: us-east-1 } }
  - { name: prod-b, cluster: east, enabled: false }
  - { name: staging, cluster: stage }
";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// qctl with none of the caller's qctl or completion variables.
fn qctl() -> Command {
    let mut c = Command::new(QCTL);
    for v in [
        "COMPLETE",
        "QCTL_CONFIG",
        "QCTL_CONTEXT",
        "_CLAP_COMPLETE_INDEX",
        "_CLAP_COMPLETE_COMP_TYPE",
        "_CLAP_COMPLETE_SPACE",
        "_CLAP_IFS",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", "/nonexistent-home")
        .env_remove("XDG_CONFIG_HOME");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run qctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Fails naming the file, the command that generates it, and how to
/// regenerate everything.
fn assert_same(file: &str, generated_by: &str, checked_in: Option<&[u8]>, generated: &[u8]) {
    match checked_in {
        None => panic!(
            "{file} is missing, though `{generated_by}` generates it.\n\
             Regenerate completions/ and man/ with: {REGEN}"
        ),
        Some(old) if old != generated => {
            let (old, new) = (
                String::from_utf8_lossy(old),
                String::from_utf8_lossy(generated),
            );
            let line = match old.lines().zip(new.lines()).position(|(a, b)| a != b) {
                Some(i) => format!(" (first difference at line {})", i + 1),
                None => format!(
                    " (checked in: {} lines, generated: {} lines)",
                    old.lines().count(),
                    new.lines().count()
                ),
            };
            panic!(
                "{file} differs from what `{generated_by}` generates{line}.\n\
                 Regenerate completions/ and man/ with: {REGEN}"
            )
        }
        Some(_) => {}
    }
}

#[test]
fn completion_scripts_match_the_checked_in_ones() {
    for (shell, file) in SCRIPTS {
        let out = run(qctl().args(["completion", shell]));
        assert!(
            out.status.success(),
            "qctl completion {shell}: {}",
            stderr(&out)
        );
        let path = repo().join("completions").join(file);
        let checked_in = std::fs::read(&path).ok();
        assert_same(
            &format!("completions/{file}"),
            &format!("qctl completion {shell}"),
            checked_in.as_deref(),
            &out.stdout,
        );
        // What clap_complete's own entry point prints is the same script.
        let env = run(qctl().env("COMPLETE", shell));
        assert!(
            env.status.success(),
            "COMPLETE={shell} qctl: {}",
            stderr(&env)
        );
        assert_eq!(
            stdout(&env),
            stdout(&out),
            "COMPLETE={shell} qctl and qctl completion {shell} differ"
        );
    }
    let present: BTreeSet<String> = std::fs::read_dir(repo().join("completions"))
        .expect("completions/ exists")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = SCRIPTS.iter().map(|(_, f)| f.to_string()).collect();
    assert_eq!(
        present, expected,
        "completions/ holds other files than the five scripts; regenerate with: {REGEN}"
    );
}

#[test]
fn scripts_call_qctl_from_path() {
    let bin_dir = Path::new(QCTL)
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    for (shell, _) in SCRIPTS {
        let text = stdout(&run(qctl().args(["completion", shell])));
        assert!(
            !text.contains(&bin_dir) && !text.contains("/qctl"),
            "the {shell} script names a path to qctl:\n{text}"
        );
        assert!(text.contains("qctl"), "{shell}: {text}");
    }
}

#[test]
fn man_pages_match_the_checked_in_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(qctl().arg("__generate-man").arg(tmp.path()));
    assert!(
        out.status.success(),
        "qctl __generate-man: {}",
        stderr(&out)
    );
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let generated = names(tmp.path());
    for page in [
        "qctl.1",
        "qctl-get.1",
        "qctl-get-clusters.1",
        "qctl-purge-dlq.1",
        "qctl-config-use-context.1",
        "qctl-completion.1",
    ] {
        assert!(
            generated.contains(page),
            "{page} not generated: {generated:?}"
        );
    }
    assert!(
        !generated
            .iter()
            .any(|p| p.contains("generate-man") || p.contains("help"))
    );
    let man = repo().join("man");
    for page in &generated {
        let new = std::fs::read(tmp.path().join(page)).unwrap();
        let old = std::fs::read(man.join(page)).ok();
        assert_same(
            &format!("man/{page}"),
            "qctl __generate-man DIR",
            old.as_deref(),
            &new,
        );
    }
    let extra: Vec<String> = names(&man).difference(&generated).cloned().collect();
    assert!(
        extra.is_empty(),
        "man/ holds pages the binary no longer generates: {extra:?}.\nRegenerate completions/ and man/ with: {REGEN}"
    );
    // The header names the whole command, and nothing in a page changes with
    // the day or the machine.
    let page = std::fs::read_to_string(man.join("qctl-get-clusters.1")).unwrap();
    assert!(
        page.contains(&format!(
            ".TH qctl-get-clusters 1  \"qctl {}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        page.lines().take(4).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn help_does_not_show_the_man_generator() {
    let out = run(qctl().arg("--help"));
    assert!(out.status.success());
    assert!(!stdout(&out).contains("generate-man"));
    assert!(stdout(&out).contains("completion"));
}

#[test]
fn bad_shell_names_are_usage_errors() {
    let out = run(qctl().args(["completion", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("tcsh") && err.contains("bash") && err.contains("elvish"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = run(qctl().env("COMPLETE", "tcsh").arg("version"));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("COMPLETE=tcsh") && err.contains("bash"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = run(qctl().arg("__generate-man"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------
// Dynamic completion through the binary, the way the scripts call it.

fn config_file(dir: &Path) -> PathBuf {
    let path = dir.join("config.yaml");
    std::fs::write(&path, CONFIG).unwrap();
    path
}

/// The candidates for the last word, asked the way the bash script asks:
/// `COMPLETE=bash qctl -- WORDS...` with the word's index in
/// `_CLAP_COMPLETE_INDEX`.
fn complete_bash(config: &Path, words: &[&str]) -> Vec<String> {
    let out = run(qctl()
        .env("COMPLETE", "bash")
        .env("QCTL_CONFIG", config)
        .env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "false")
        .env("_CLAP_IFS", "\n")
        .arg("--")
        .args(words));
    assert!(out.status.success(), "{words:?}: {}", stderr(&out));
    assert_eq!(stderr(&out), "", "{words:?}");
    stdout(&out)
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The same through the fish protocol, which carries help texts:
/// `value\thelp` lines.
fn complete_fish(config: &Path, words: &[&str]) -> Vec<String> {
    let out = run(qctl()
        .env("COMPLETE", "fish")
        .env("QCTL_CONFIG", config)
        .arg("--")
        .args(words));
    assert!(out.status.success(), "{words:?}: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn context_names_complete_from_the_contexts_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path());
    assert_eq!(
        complete_bash(&cfg, &["qctl", "get", "clusters", "--context", "pr"]),
        ["prod-a", "prod-b"]
    );
    // A comma list: the part after the last comma.
    assert_eq!(
        complete_bash(&cfg, &["qctl", "get", "queues", "--context", "staging,pr"]),
        ["staging,prod-a", "staging,prod-b"]
    );
    assert_eq!(
        complete_bash(&cfg, &["qctl", "get", "queues", "--context=st"]),
        ["--context=staging"]
    );
    assert_eq!(
        complete_bash(
            &cfg,
            &[
                "qctl",
                "replicate",
                "--from",
                "staging",
                "--to",
                "prod-a,pr"
            ]
        ),
        ["prod-a,prod-a", "prod-a,prod-b"]
    );
    assert_eq!(
        complete_bash(&cfg, &["qctl", "replicate", "--from", "s"]),
        ["staging"]
    );
    assert_eq!(
        complete_bash(&cfg, &["qctl", "config", "use-context", "prod"]),
        ["prod-a", "prod-b"]
    );
    assert_eq!(
        complete_bash(&cfg, &["qctl", "config", "delete-context", "st"]),
        ["staging"]
    );
    assert_eq!(
        complete_bash(&cfg, &["qctl", "compare", "prod-a", "st"]),
        ["staging"]
    );
    // Help texts: the cluster and the labels.
    let fish = complete_fish(&cfg, &["qctl", "config", "set-context", "p"]);
    assert_eq!(
        fish,
        [
            "prod-a\tcluster=east env=prod region=us-east-1",
            "prod-b\tcluster=east (disabled)"
        ]
    );
}

#[test]
fn queue_names_complete_from_the_context_schema() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path());
    let line = |from: &str| {
        complete_bash(
            &cfg,
            &[
                "qctl",
                "replicate",
                "--from",
                from,
                "--to",
                "staging",
                "--queue",
                "",
            ],
        )
    };
    assert_eq!(line("prod-a"), ["urgent", "high", "low"]);
    assert_eq!(line("staging"), ["high", "low"]);
    assert_eq!(
        complete_bash(
            &cfg,
            &["qctl", "requeue", "--context", "prod-a", "--to", "u"]
        ),
        ["urgent"]
    );
    // current-context is staging: the default schema.
    let jobs = complete_fish(&cfg, &["qctl", "get", "jobs", "d"]);
    assert_eq!(jobs, ["dead-letter\tjobqueue:dead_letter"]);
    assert_eq!(complete_bash(&cfg, &["qctl", "get", "jobs", "h"]), ["high"]);
}

#[test]
fn completion_is_silent_without_a_usable_file() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing.yaml");
    assert!(complete_bash(&missing, &["qctl", "get", "clusters", "--context", ""]).is_empty());
    let broken = tmp.path().join("broken.yaml");
    std::fs::write(&broken, "apiVersion: qctl/v1\ncontexts: [\n").unwrap();
    assert!(complete_bash(&broken, &["qctl", "get", "clusters", "--context", ""]).is_empty());
    // An inline password in a world-readable file: qctl warns when it loads
    // the file, but completion must not write into the command line.
    let open = tmp.path().join("open.yaml");
    std::fs::write(
        &open,
        format!("{CONFIG}users:\n  - {{ name: u, password: hunter2 }}\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        complete_bash(&open, &["qctl", "get", "clusters", "--context", "st"]),
        ["staging"]
    );
}

#[test]
fn config_on_the_line_wins_over_qctl_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path());
    let missing = tmp.path().join("missing.yaml");
    let cfg = cfg.to_str().unwrap();
    assert_eq!(
        complete_bash(
            &missing,
            &[
                "qctl",
                "--config",
                cfg,
                "get",
                "clusters",
                "--context",
                "st"
            ]
        ),
        ["staging"]
    );
}

// ---------------------------------------------------------------------------
// Real shells, with the checked-in scripts and qctl on PATH.

fn path_with_qctl() -> String {
    let dir = Path::new(QCTL).parent().unwrap();
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn have(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("exit 0")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn bash_completes_with_the_checked_in_script() {
    if !have("bash") {
        eprintln!("bash not installed: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path());
    let script = repo().join("completions/qctl.bash");
    let body = r#"
source "$SCRIPT"
COMP_WORDS=(qctl get clusters --context pr); COMP_CWORD=4; COMP_TYPE=9
_clap_complete_qctl qctl pr --context
printf '%s\n' "${COMPREPLY[@]}"
COMP_WORDS=(qctl replicate --from prod-a --to staging --queue ''); COMP_CWORD=7
_clap_complete_qctl qctl '' --queue
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(body)
        .env("SCRIPT", &script)
        .env("PATH", path_with_qctl())
        .env("QCTL_CONFIG", &cfg)
        .env_remove("COMPLETE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "prod-a\nprod-b\nurgent\nhigh\nlow\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn fish_completes_with_the_checked_in_script() {
    if !have("fish") {
        eprintln!("fish not installed: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path());
    let script = repo().join("completions/qctl.fish");
    let out = Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg("source $SCRIPT; complete -C 'qctl get clusters --context pr'; complete -C 'qctl requeue --context prod-a --to '")
        .env("SCRIPT", &script)
        .env("PATH", path_with_qctl())
        .env("QCTL_CONFIG", &cfg)
        .env_remove("COMPLETE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("prod-a\tcluster=east env=prod region=us-east-1\nprod-b\t"),
        "{text}"
    );
    assert!(
        text.contains("urgent\t{jq}:urgent\nhigh\t{jq}:high\nlow\t{jq}:low"),
        "{text}"
    );
}

#[test]
fn get_completes_the_documented_names_and_accepts_the_aliases() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config_file(tmp.path());
    let verbs: Vec<String> = complete_bash(&cfg, &["qctl", "get", ""])
        .into_iter()
        .filter(|w| !w.starts_with('-') && w != "help")
        .collect();
    assert_eq!(
        verbs,
        [
            "clusters", "queues", "workers", "jobs", "job", "backups", "contexts"
        ]
    );
    // Half a word, or the singular typed out: the primary name.
    assert_eq!(complete_bash(&cfg, &["qctl", "get", "cl"]), ["clusters"]);
    assert_eq!(complete_bash(&cfg, &["qctl", "get", "queue"]), ["queues"]);
    // A line that uses an alias still completes what follows it.
    assert_eq!(
        complete_bash(&cfg, &["qctl", "get", "cluster", "--context", "pr"]),
        ["prod-a", "prod-b"]
    );
    // And the alias still runs.
    let out = run(qctl()
        .env("QCTL_CONFIG", &cfg)
        .args(["get", "cluster", "--help"]));
    assert!(out.status.success(), "{}", stderr(&out));
}
