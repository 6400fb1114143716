//! The contexts file through the real binary: broken files, merging, writes,
//! secrets, exit codes.

use crate::common::{Workspace, run_raw};
use std::os::unix::fs::PermissionsExt;

const GOOD: &str = "apiVersion: qctl/v1
current-context: staging
clusters:
  - name: staging
    server: redis://127.0.0.1:1/0
users:
  - name: ops
    username: ops
    password-env: QCTL_TEST_UNSET_PASSWORD
contexts:
  - name: staging
    cluster: staging
    user: ops
";

/// (name, file contents, expected `path:line:col` suffix or "", expected message part, expected hint part)
const BROKEN: &[(&str, &str, &str, &str, &str)] = &[
    (
        "invalid yaml",
        "apiVersion: qctl/v1\ncontexts: [\n",
        ":2:",
        "",
        "",
    ),
    (
        "tab indentation",
        "apiVersion: qctl/v1\nclusters:\n\t- name: a\n",
        ":3:",
        "",
        "",
    ),
    (
        "wrong type",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    protected: maybe\n",
        ":6:16",
        "invalid boolean",
        "",
    ),
    (
        "misspelt protected",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    protcted: true\n",
        ":6:5",
        "unknown field `protcted`",
        "did you mean `protected`?",
    ),
    (
        "misspelt server",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    sevrer: redis://h\n",
        ":4:5",
        "unknown field `sevrer`",
        "did you mean `server`?",
    ),
    (
        "unknown top-level field",
        "apiVersion: qctl/v1\ncurrent-contxt: a\n",
        ":2:1",
        "unknown field `current-contxt`",
        "did you mean `current-context`?",
    ),
    (
        "missing apiVersion",
        "clusters: []\n",
        "",
        "missing `apiVersion`",
        "apiVersion: qctl/v1",
    ),
    (
        "wrong apiVersion",
        "apiVersion: qctl/v2\n",
        ":1:13",
        "unsupported apiVersion",
        "",
    ),
    (
        "wrong kind",
        "apiVersion: qctl/v1\nkind: Pod\n",
        ":2:7",
        "unsupported kind",
        "",
    ),
    (
        "duplicate context",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n  - name: a\n    cluster: c\n",
        ":6:",
        "duplicate context name `a`",
        "",
    ),
    (
        "duplicate cluster",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    server: redis://h\n  - name: c\n    server: redis://h\n",
        ":5:",
        "duplicate cluster name `c`",
        "",
    ),
    (
        "dangling cluster",
        "apiVersion: qctl/v1\nclusters: [{name: prod, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: prd\n",
        ":4:",
        "names cluster `prd`, which is not defined",
        "did you mean `prod`?",
    ),
    (
        "dangling user",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    user: ops\n",
        ":4:",
        "names user `ops`",
        "",
    ),
    (
        "dangling schema",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    schema: tagged\n",
        ":4:",
        "names schema `tagged`",
        "",
    ),
    (
        "malformed url",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    server: 'redis://:hunter2@host:notaport'\n",
        ":4:",
        "redis://:REDACTED@host:notaport",
        "",
    ),
    (
        "unsupported scheme",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    server: http://host\n",
        ":4:",
        "unsupported scheme `http`",
        "",
    ),
    ("empty file", "", "", "the file is empty", "apiVersion"),
    (
        "only comments",
        "# nothing here\n\n",
        "",
        "the file is empty",
        "",
    ),
    (
        "cluster without server",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n",
        ":3:",
        "has no server",
        "server:",
    ),
    (
        "bad duration",
        "apiVersion: qctl/v1\npreferences:\n  timeout: fast\n",
        ":3:",
        "not a duration",
        "",
    ),
    (
        "unknown color",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    color: rde\n",
        ":4:",
        "unknown color `rde`",
        "did you mean `red`?",
    ),
    (
        "misspelt allowed action",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    allowed-actions: [purge-dql]\n",
        ":4:",
        "unknown action `purge-dql`",
        "did you mean `purge-dlq`?",
    ),
    (
        "two password sources",
        "apiVersion: qctl/v1\nusers:\n  - name: u\n    password: x\n    password-env: Y\n",
        ":3:",
        "more than one of password",
        "",
    ),
    (
        "unknown mode",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    mode: clustr\n    server: redis://h\n",
        ":4:",
        "clustr",
        "",
    ),
    (
        "contexts not a list",
        "apiVersion: qctl/v1\ncontexts: 5\n",
        ":2:",
        "",
        "",
    ),
    (
        "unknown schema kind",
        "apiVersion: qctl/v1\nqueue-schemas:\n  - name: s\n    kind: resque\n",
        ":3:",
        "unknown kind `resque`",
        "",
    ),
    (
        "duplicate key",
        "apiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://h'}]\ncontexts:\n  - name: a\n    cluster: c\n    protected: true\n    protected: false\n",
        ":7:5",
        "duplicate key `protected`: it is already set earlier in the same mapping",
        "keep one `protected:`",
    ),
    (
        "nodes without cluster mode",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    nodes: [redis://h:1]\n",
        ":4:",
        "not `mode: cluster`",
        "",
    ),
];

#[test]
fn broken_files_get_one_located_message_and_exit_1() {
    let ws = Workspace::new();
    for (name, text, loc, msg, hint) in BROKEN {
        let path = ws.write("broken.yaml", text);
        let out = ws
            .qctl()
            .args(["--config", path.to_str().unwrap(), "config", "get-contexts"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{name}: exit code; stderr: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        let first = stderr.lines().next().unwrap_or_default();
        let prefix = format!("error: {}{loc}", path.display());
        assert!(
            first.starts_with(&prefix),
            "{name}: expected `{prefix}...`, got: {stderr}"
        );
        assert!(
            stderr.contains(msg),
            "{name}: expected `{msg}` in: {stderr}"
        );
        assert!(
            stderr.contains(hint),
            "{name}: expected hint `{hint}` in: {stderr}"
        );
        assert!(
            stderr.contains("hint:"),
            "{name}: every config error has a hint: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "{name}: a secret leaked: {stderr}"
        );
        assert!(
            stderr.lines().count() <= 3,
            "{name}: one clear message, not a dump: {stderr}"
        );
        assert!(
            !stderr.contains("DuplicateKeyPolicy") && !stderr.contains("Options"),
            "{name}: no library internals: {stderr}"
        );
    }
}

#[test]
fn missing_config_file_named_by_flag() {
    let ws = Workspace::new();
    ws.qctl()
        .args([
            "--config",
            "/nonexistent/qctl.yaml",
            "config",
            "get-contexts",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "/nonexistent/qctl.yaml: no such file",
        ));
}

#[test]
fn unknown_context_name_is_exit_1_with_suggestion() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", GOOD);
    ws.qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "config",
            "use-context",
            "stagin",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown context `stagin`"))
        .stderr(predicates::str::contains("did you mean `staging`?"));
}

#[test]
fn usage_errors_exit_2() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", GOOD);
    let p = path.to_str().unwrap();
    for args in [
        vec!["--config", p, "config", "get-contexts", "--bogus"],
        vec!["--config", p, "--timeout", "fast", "config", "get-contexts"],
        vec!["--config", p, "--timeout", "0s", "config", "get-contexts"],
        vec!["--config", p, "-o", "xml", "config", "get-contexts"],
        vec![
            "--config",
            p,
            "--max-concurrency",
            "0",
            "config",
            "get-contexts",
        ],
        vec![
            "--config",
            p,
            "--color",
            "sometimes",
            "config",
            "get-contexts",
        ],
        vec!["nosuchverb"],
    ] {
        let out = ws.qctl().args(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn global_flags_parse_on_every_verb_position() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", GOOD);
    ws.qctl()
        .args([
            "config",
            "get-contexts",
            "--config",
            path.to_str().unwrap(),
            "-o",
            "name",
            "-q",
            "--no-headers",
            "--color",
            "never",
            "--timeout",
            "1s",
            "--connect-timeout",
            "1s",
            "--max-concurrency",
            "3",
            "-v",
        ])
        .assert()
        .success()
        .stdout("staging\n");
}

#[test]
fn qctl_config_env_merges_first_file_wins() {
    let ws = Workspace::new();
    let a = ws.write(
        "a.yaml",
        "apiVersion: qctl/v1\ncurrent-context: one\nclusters:\n  - name: c\n    server: redis://127.0.0.1:1\ncontexts:\n  - name: one\n    cluster: c\n    labels: {from: a}\n",
    );
    let b = ws.write(
        "b.yaml",
        "apiVersion: qctl/v1\ncurrent-context: two\nclusters:\n  - name: c\n    server: redis://127.0.0.1:2\ncontexts:\n  - name: one\n    cluster: c\n    labels: {from: b}\n  - name: two\n    cluster: c\n",
    );
    let list = format!("{}:/nonexistent.yaml:{}", a.display(), b.display());
    let out = ws
        .qctl()
        .env("QCTL_CONFIG", &list)
        .args(["config", "get-contexts", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["name"], "one");
    assert_eq!(items[0]["labels"]["from"], "a", "first file wins");
    assert_eq!(
        items[0]["server"], "redis://127.0.0.1:1",
        "cluster from the first file"
    );
    assert_eq!(
        items[0]["current"], true,
        "current-context from the first file that sets it"
    );
    assert_eq!(items[1]["file"], b.display().to_string());
    // A write to `two` goes to b.yaml, the file that defined it.
    ws.qctl()
        .env("QCTL_CONFIG", &list)
        .args(["config", "set-context", "two", "--label", "team=x"])
        .assert()
        .success();
    assert!(std::fs::read_to_string(&b).unwrap().contains("team: x"));
    assert!(!std::fs::read_to_string(&a).unwrap().contains("team"));
}

#[test]
fn default_location_is_xdg() {
    let ws = Workspace::new();
    ws.write(".config/qctl/config.yaml", GOOD);
    let xdg = ws.dir.path().join(".config");
    ws.qctl()
        .env("XDG_CONFIG_HOME", &xdg)
        .args(["config", "current-context"])
        .assert()
        .success()
        .stdout("staging\n");
}

#[test]
fn writes_keep_comments_secrets_and_mode() {
    let ws = Workspace::new();
    let text = "# my contexts\napiVersion: qctl/v1\ncurrent-context: a   # the usual\nclusters:\n  - name: c   # main\n    server: 'redis://:s3cr3t@127.0.0.1:1/0'\nusers:\n  - name: u\n    password: \"p@ss: w0rd\"   # inline, on purpose\ncontexts:\n  # first\n  - name: a\n    cluster: c\n    user: u\n  # second\n  - name: b\n    cluster: c\n";
    let path = ws.write("c.yaml", text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = path.to_str().unwrap();
    ws.qctl()
        .args(["--config", p, "config", "use-context", "b"])
        .assert()
        .success();
    ws.qctl()
        .args([
            "--config",
            p,
            "config",
            "set-context",
            "d",
            "--cluster",
            "c",
            "--label",
            "env=qa",
        ])
        .assert()
        .success();
    ws.qctl()
        .args(["--config", p, "config", "set-context", "a", "--protected"])
        .assert()
        .success();
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with("# my contexts\n"));
    assert!(
        after.contains("current-context: b   # the usual\n"),
        "{after}"
    );
    assert!(
        after.contains("  - name: c   # main\n    server: 'redis://:s3cr3t@127.0.0.1:1/0'\n"),
        "{after}"
    );
    assert!(
        after.contains("    password: \"p@ss: w0rd\"   # inline, on purpose\n"),
        "{after}"
    );
    assert!(after.contains("  # second\n  - name: b\n"), "{after}");
    assert!(
        after.contains("  - name: d\n    cluster: c\n    labels:\n      env: qa\n"),
        "{after}"
    );
    assert!(after.contains("protected: true"));
    assert!(!after.contains("REDACTED"));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    ws.qctl()
        .args(["--config", p, "config", "delete-context", "d"])
        .assert()
        .success();
    let after2 = std::fs::read_to_string(&path).unwrap();
    assert!(!after2.contains("name: d"));
    assert!(after2.contains("  # second\n  - name: b\n    cluster: c\n"));
    // No temp files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn deleting_the_current_context_warns() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", GOOD);
    ws.qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "config",
            "delete-context",
            "staging",
        ])
        .assert()
        .success()
        .stderr(predicates::str::contains("removed the current context"));
}

#[test]
fn set_context_with_unknown_cluster_writes_nothing() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", GOOD);
    ws.qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "config",
            "set-context",
            "new",
            "--cluster",
            "stagin",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("did you mean `staging`?"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), GOOD);
    ws.qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "config",
            "set-context",
            "new",
        ])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--cluster is required"));
}

#[test]
fn view_redacts_unless_raw() {
    let ws = Workspace::new();
    let path = ws.write(
        "c.yaml",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    server: 'redis://:s3cr3t@127.0.0.1:1/0'\nusers:\n  - name: u\n    password: hunter2\ncontexts:\n  - name: a\n    cluster: c\n    user: u\n",
    );
    let p = path.to_str().unwrap();
    let out = ws
        .qctl()
        .args(["--config", p, "config", "view"])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(!s.contains("hunter2") && !s.contains("s3cr3t"), "{s}");
    assert!(s.contains("password: REDACTED"));
    assert!(s.contains("redis://:REDACTED@127.0.0.1:1/0"));
    let out = ws
        .qctl()
        .args(["--config", p, "config", "view", "--raw", "-o", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["users"][0]["password"], "hunter2");
    // --minify needs a current context.
    ws.qctl()
        .args(["--config", p, "config", "view", "--minify"])
        .assert()
        .code(1);
}

#[test]
fn inline_password_in_readable_file_warns() {
    let ws = Workspace::new();
    let path = ws.write(
        "c.yaml",
        "apiVersion: qctl/v1\nusers:\n  - name: u\n    password: hunter2\n",
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = ws
        .qctl()
        .args(["--config", path.to_str().unwrap(), "config", "get-contexts"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    assert!(stderr.contains("chmod 600"));
    assert!(!stderr.contains("hunter2"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = ws
        .qctl()
        .args(["--config", path.to_str().unwrap(), "config", "get-contexts"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("readable"));
}

#[test]
fn closed_pipe_exits_0_silently() {
    let ws = Workspace::new();
    let mut text = String::from(
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    server: redis://127.0.0.1:1\ncontexts:\n",
    );
    for i in 0..5000 {
        text.push_str(&format!(
            "  - name: ctx-{i:05}-with-a-long-name-to-fill-the-pipe\n    cluster: c\n"
        ));
    }
    let path = ws.write("big.yaml", &text);
    let bin = assert_cmd::cargo::cargo_bin("qctl");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -o pipefail; '{}' --config '{}' config get-contexts | head -1",
            bin.display(),
            path.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_and_no_context_selected() {
    let ws = Workspace::new();
    ws.qctl()
        .arg("version")
        .assert()
        .success()
        .stdout(predicates::str::starts_with("qctl "));
    let out = ws.qctl().args(["version", "-o", "json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "qctl");
}

#[test]
fn example_config_is_valid() {
    let ws = Workspace::new();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.yaml");
    ws.qctl()
        .args(["--config", example, "config", "validate"])
        .assert()
        .success();
}

#[test]
fn writes_through_a_symlinked_contexts_file_replace_its_target() {
    let ws = Workspace::new();
    // A dotfiles checkout holds the real file; the config dir links to it
    // with a relative link (resolved from the link's own directory).
    let target = ws.write_mode("dotfiles/qctl/config.yaml", GOOD, 0o640);
    let link_dir = ws.config_home().join("qctl");
    std::fs::create_dir_all(&link_dir).unwrap();
    let link = link_dir.join("config.yaml");
    std::os::unix::fs::symlink("../../dotfiles/qctl/config.yaml", &link).unwrap();
    ws.qctl()
        .args([
            "config",
            "set-context",
            "qa",
            "--cluster",
            "staging",
            "--label",
            "env=qa",
        ])
        .assert()
        .success();
    ws.qctl()
        .args(["config", "use-context", "qa"])
        .assert()
        .success();
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link stays a link");
    let after = std::fs::read_to_string(&target).unwrap();
    assert!(after.contains("current-context: qa\n"), "{after}");
    assert!(after.contains("  - name: qa\n"), "{after}");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "the target keeps its mode");
    ws.qctl()
        .args(["config", "current-context"])
        .assert()
        .success()
        .stdout("qa\n");
    for dir in [link_dir, target.parent().unwrap().to_path_buf()] {
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["config.yaml"], "{}: {names:?}", dir.display());
    }
}

/// The README's own style: block lists of flow maps, with comments.
const README_STYLE: &str = "# qctl contexts (kept by hand)
apiVersion: qctl/v1
current-context: staging
clusters:
  - { name: staging, server: \"redis://127.0.0.1:1/0\" }   # the shared one
  - { name: prod-us, server: \"redis://127.0.0.1:2/0\" }
contexts:
  # staging first
  - { name: staging, cluster: staging, labels: { env: staging } }
  - { name: prod-us, cluster: prod-us, labels: { env: prod, region: us-east-1 }, color: red, protected: true }  # careful
# end of contexts
";

#[test]
fn set_context_edits_only_the_entry_in_a_readme_style_file() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", README_STYLE);
    let p = path.to_str().unwrap();
    let out = ws
        .qctl()
        .args([
            "--config",
            p,
            "config",
            "set-context",
            "staging",
            "--label",
            "team=core",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        after,
        README_STYLE.replace(
            "{ name: staging, cluster: staging, labels: { env: staging } }",
            "{ name: staging, cluster: staging, labels: { env: staging, team: core } }"
        ),
        "only the entry changed"
    );
    // Create one and change the one with a trailing comment.
    ws.qctl()
        .args([
            "--config",
            p,
            "config",
            "set-context",
            "qa",
            "--cluster",
            "staging",
        ])
        .assert()
        .success();
    ws.qctl()
        .args([
            "--config",
            p,
            "config",
            "set-context",
            "prod-us",
            "--context-color",
            "yellow",
        ])
        .assert()
        .success();
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        after.contains("  - { name: prod-us, cluster: prod-us, labels: { env: prod, region: us-east-1 }, color: yellow, protected: true }  # careful\n  - { name: qa, cluster: staging }\n# end of contexts\n"),
        "{after}"
    );
    ws.qctl()
        .args(["--config", p, "config", "delete-context", "qa"])
        .assert()
        .success();
    let after = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# qctl contexts (kept by hand)\n",
        "   # the shared one\n",
        "  # staging first\n",
        "  # careful\n# end of contexts\n",
    ] {
        assert!(after.contains(kept), "`{kept}` kept: {after}");
    }
    assert!(!after.contains("name: qa"), "{after}");
    assert!(
        !ws.join("c.yaml.bak").exists(),
        "no backup when nothing else changed"
    );
}

#[test]
fn a_whole_file_rewrite_is_announced_and_backed_up() {
    let ws = Workspace::new();
    let text = "# hand-written\napiVersion: qctl/v1\nclusters: [{name: c, server: 'redis://127.0.0.1:1'}]\ncontexts: [{name: a, cluster: c}]  # all on one line\n";
    let path = ws.write("c.yaml", text);
    let out = ws
        .qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "config",
            "set-context",
            "a",
            "--protected",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let backup = ws.join("c.yaml.bak");
    assert!(
        stderr.contains("the whole file is rewritten") && stderr.contains(backup.to_str().unwrap()),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&backup).unwrap(),
        text,
        "the backup is the file as it was"
    );
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.contains("protected: true"), "{after}");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup may hold secrets");
}

#[test]
fn without_a_contexts_file_read_verbs_name_the_files_looked_at_and_exit_1() {
    let ws = Workspace::new();
    for args in [
        &["config", "get-contexts"][..],
        &["config", "current-context"],
        &["config", "view"],
        &["get", "clusters", "-A"],
    ] {
        let out = ws
            .qctl()
            .env("QCTL_CONFIG", "/nonexistent.yaml")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: no empty table");
        assert!(
            stderr.contains("looked at /nonexistent.yaml (from QCTL_CONFIG)"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(".config/qctl"), "{args:?}: {stderr}");
        assert!(stderr.contains("qctl demo"), "{args:?}: {stderr}");
    }
    // The default location, when nothing names a file.
    let out = ws.qctl().args(["config", "get-contexts"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let default = ws.config_home().join("qctl/config.yaml");
    assert!(
        stderr.contains(&format!("looked at {} (the default", default.display())),
        "{stderr}"
    );
}

#[test]
fn validate_fails_on_a_dangling_current_context() {
    let ws = Workspace::new();
    let path = ws.write(
        "c.yaml",
        &GOOD.replace("current-context: staging", "current-context: stagin"),
    );
    let out = ws
        .qctl()
        .args(["--config", path.to_str().unwrap(), "config", "validate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:2:18: current-context `stagin` names a context that is not defined",
            path.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `staging`?"), "{stderr}");
    assert!(out.stdout.is_empty());
}

#[test]
fn qctl_context_is_the_current_context_everywhere() {
    let ws = Workspace::new();
    let path = ws.write(
        "c.yaml",
        &format!("{GOOD}  - name: prod-eu\n    cluster: staging\n"),
    );
    let p = path.to_str().unwrap();
    let out = ws
        .qctl()
        .env("QCTL_CONTEXT", "prod-eu")
        .args(["--config", p, "config", "current-context"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "prod-eu\n",
        "just the name"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("prod-eu (from QCTL_CONTEXT; the file's current-context is staging)"),
        "{stderr}"
    );
    let out = ws
        .qctl()
        .env("QCTL_CONTEXT", "prod-eu")
        .args(["--config", p, "config", "get-contexts", "-o", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let current: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["current"] == true)
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(current, vec!["prod-eu"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("from QCTL_CONTEXT"));
    // Without it, the file decides and nothing extra is said.
    let out = ws
        .qctl()
        .args(["--config", p, "config", "current-context"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "staging\n");
    assert!(out.stderr.is_empty());
    // An unknown name in it is an error, as for every other verb.
    ws.qctl()
        .env("QCTL_CONTEXT", "prod-e")
        .args(["--config", p, "config", "current-context"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("did you mean `prod-eu`?"));
}

#[test]
fn passwords_in_urls_and_readable_password_files_warn_too() {
    let ws = Workspace::new();
    let url = ws.write_mode(
        "url.yaml",
        "apiVersion: qctl/v1\nclusters:\n  - name: c\n    server: 'redis://:hunter2@127.0.0.1:1'\n",
        0o644,
    );
    let pw = ws.write_mode("pw.txt", "hunter2\n", 0o644);
    let file = ws.write(
        "file.yaml",
        &format!(
            "apiVersion: qctl/v1\nusers:\n  - name: u\n    password-file: {}\n",
            pw.display()
        ),
    );
    for (cfg, expected) in [
        (
            &url,
            format!(
                "{} holds a password in a server URL and is readable by group or others",
                url.display()
            ),
        ),
        (
            &file,
            format!(
                "password-file {} (user `u` in {}) is readable by group or others",
                pw.display(),
                file.display()
            ),
        ),
    ] {
        let out = ws
            .qctl()
            .args(["--config", cfg.to_str().unwrap(), "config", "get-contexts"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(stderr.contains("chmod 600"), "{stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
    // 0600 everywhere: no warning.
    for p in [&url, &pw] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    for cfg in [&url, &file] {
        let out = ws
            .qctl()
            .args(["--config", cfg.to_str().unwrap(), "config", "get-contexts"])
            .output()
            .unwrap();
        assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    }
}

#[test]
fn selector_errors_name_the_selector_once() {
    let ws = Workspace::new();
    let path = ws.write("c.yaml", GOOD);
    let out = ws
        .qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "get",
            "clusters",
            "-l",
            "env in prod",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: invalid selector `env in prod`: expected key=value"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("env in prod").count(), 1, "{stderr}");
    // With several requirements, the one at fault is named.
    let out = ws
        .qctl()
        .args([
            "--config",
            path.to_str().unwrap(),
            "get",
            "clusters",
            "-l",
            "a=b,env in prod",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid selector `a=b,env in prod`: `env in prod`: expected"),
        "{stderr}"
    );
}

/// `qctl use-context NAME` / `-` / no name, `qctl current-context` and
/// `qctl get contexts` at the top level, kubectx-style: `-` goes back to
/// the context before the last switch, remembered under XDG_STATE_HOME,
/// never in the contexts file.
#[test]
fn use_context_at_the_top_level_and_back_with_a_dash() {
    let ws = Workspace::new();
    let cfg = ws.write(
        "c.yaml",
        "apiVersion: qctl/v1\ncurrent-context: a\nclusters:\n  - { name: s, server: \"redis://127.0.0.1:6399\" }\ncontexts:\n  - { name: a, cluster: s }\n  - { name: b, cluster: s }\n",
    );
    let run = |args: &[&str]| run_raw(&ws, &cfg, args);
    let (code, _, err) = run(&["use-context", "-"]);
    assert_ne!(code, 0);
    assert!(err.contains("no previous context"), "{err}");
    let (code, _, err) = run(&["use-context", "b"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Switched to context \"b\""), "{err}");
    assert_eq!(run(&["current-context"]).1.trim(), "b");
    let (code, _, err) = run(&["use-context", "-"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(run(&["current-context"]).1.trim(), "a");
    assert_eq!(run(&["config", "current-context"]).1.trim(), "a");
    let (code, _, _) = run(&["config", "use-context", "-"]);
    assert_eq!(code, 0);
    assert_eq!(run(&["current-context"]).1.trim(), "b");
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.contains("current-context: b"), "{text}");
    assert!(
        !text.contains("previous"),
        "the state stays out of the file: {text}"
    );
    for args in [&["get", "contexts"][..], &["use-context"][..]] {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        let current: Vec<&str> = out.lines().filter(|l| l.starts_with('*')).collect();
        assert_eq!(current.len(), 1, "{args:?}: {out}");
        assert!(current[0].contains('b'), "{out}");
    }
    let (code, _, err) = run(&["use-context", "nope"]);
    assert_ne!(code, 0);
    assert!(!err.contains("panicked"), "{err}");
}

/// The checked configuration is kept between runs (src/contexts/cache.rs):
/// the same output from the entry as from the parse, a changed file or a
/// damaged entry is parsed again, and a file holding a secret is never kept.
#[test]
fn checked_files_are_kept_between_runs_and_never_with_a_secret() {
    let ws = Workspace::new();
    let cfg = ws.write("c.yaml", GOOD);
    let cache = ws.join("cache/qctl/contexts");
    let run = |args: &[&str]| {
        let out = ws
            .qctl_std()
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let entries = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&cache)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    let parsed = run(&["config", "get-contexts", "-o", "wide"]);
    assert_eq!(parsed.0, Some(0), "{parsed:?}");
    let kept = entries();
    assert_eq!(kept.len(), 1, "one entry: {kept:?}");
    let mode = std::fs::metadata(&kept[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700);
    // From the entry: the same answer, and the same completions.
    assert_eq!(run(&["config", "get-contexts", "-o", "wide"]), parsed);
    let complete = || {
        let out = ws
            .qctl_std()
            .env("COMPLETE", "bash")
            .env("QCTL_CONFIG", &cfg)
            .env("_CLAP_COMPLETE_INDEX", "2")
            .env("_CLAP_COMPLETE_COMP_TYPE", "9")
            .env("_CLAP_COMPLETE_SPACE", "false")
            .env("_CLAP_IFS", "\n")
            .args(["--", "qctl", "--context", ""])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let candidates = complete();
    assert!(candidates.lines().any(|l| l == "staging"), "{candidates:?}");
    assert_eq!(entries(), kept, "completion keeps the one entry");
    assert_eq!(complete(), candidates);
    // A changed file is read again, never the old answer.
    std::fs::write(&cfg, GOOD.replace("staging", "prod")).unwrap();
    let changed = run(&["config", "get-contexts"]);
    assert_eq!(changed.0, Some(0), "{changed:?}");
    assert!(
        changed.1.contains("prod") && !changed.1.contains("staging"),
        "{changed:?}"
    );
    // A broken file is an error with its place, whatever was kept.
    std::fs::write(&cfg, "apiVersion: qctl/v1\ncontexts: [\n").unwrap();
    let broken = run(&["config", "get-contexts"]);
    assert_eq!(broken.0, Some(1), "{broken:?}");
    assert!(broken.2.contains("c.yaml:2:"), "{broken:?}");
    // A damaged entry is a miss.
    std::fs::write(&cfg, GOOD).unwrap();
    run(&["config", "get-contexts"]);
    for e in entries() {
        let mut b = std::fs::read(&e).unwrap();
        b.truncate(b.len() / 2);
        std::fs::write(&e, b).unwrap();
    }
    assert_eq!(run(&["config", "get-contexts", "-o", "wide"]), parsed);
    // An inline password: never written to the cache.
    for e in entries() {
        std::fs::remove_file(e).unwrap();
    }
    let secret = GOOD.replace(
        "    password-env: QCTL_TEST_UNSET_PASSWORD",
        "    password: hunter2-cache-test",
    );
    std::fs::write(&cfg, &secret).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(run(&["config", "get-contexts"]).0, Some(0));
    assert!(entries().is_empty(), "{:?}", entries());
    std::fs::write(
        &cfg,
        GOOD.replace(
            "redis://127.0.0.1:1/0",
            "redis://:hunter2-url@127.0.0.1:1/0",
        ),
    )
    .unwrap();
    assert_eq!(run(&["config", "get-contexts"]).0, Some(0));
    assert!(entries().is_empty(), "{:?}", entries());
    // QCTL_NO_CACHE=1: nothing kept.
    std::fs::write(&cfg, GOOD).unwrap();
    let out = ws
        .qctl_std()
        .arg("--config")
        .arg(&cfg)
        .args(["config", "get-contexts"])
        .env("QCTL_NO_CACHE", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(entries().is_empty(), "{:?}", entries());
}
