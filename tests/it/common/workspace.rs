//! A throw-away HOME / XDG tree for running the `qctl` binary.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// Layout (all inside `dir`):
/// * `home/`   -> `HOME`
/// * `config/` -> `XDG_CONFIG_HOME`
/// * `state/`  -> `XDG_STATE_HOME`
/// * `cache/`  -> `XDG_CACHE_HOME`, `data/` -> `XDG_DATA_HOME`
///
/// The binary runs with `current_dir` = `dir`.
#[derive(Debug)]
pub struct Workspace {
    pub dir: TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("qctl-ws-")
            .tempdir()
            .expect("create workspace temp dir");
        for sub in ["home", "config", "state", "cache", "data"] {
            fs::create_dir_all(dir.path().join(sub)).expect("create workspace subdir");
        }
        Workspace { dir }
    }

    /// The workspace root (also the binary's working directory).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` resolved against the workspace root.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `$HOME`.
    pub fn home(&self) -> PathBuf {
        self.join("home")
    }

    /// `$XDG_CONFIG_HOME`.
    pub fn config_home(&self) -> PathBuf {
        self.join("config")
    }

    /// `$XDG_STATE_HOME`.
    pub fn state_home(&self) -> PathBuf {
        self.join("state")
    }

    /// Writes `contents` to `rel` (relative to the root; parents created) with
    /// mode 0600 and returns the absolute path.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        self.write_mode(rel, contents, 0o600)
    }

    /// Like [`write`](Self::write) with an explicit file mode.
    pub fn write_mode(&self, rel: &str, contents: &str, mode: u32) -> PathBuf {
        let path = self.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        path
    }

    /// Reads `rel` (relative to the root) to a string.
    pub fn read(&self, rel: &str) -> String {
        let path = self.join(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    /// `qctl` with a hermetic environment: QCTL_*, XDG_*, NO_COLOR and other
    /// colour/redis env vars removed; HOME and XDG_{CONFIG,STATE,CACHE,DATA}_HOME
    /// pointing into the workspace; NO_COLOR=1; cwd = workspace root.
    pub fn qctl(&self) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.qctl_std())
    }

    /// The same hermetic `qctl` as a std `Command` (for spawning a
    /// long-running process, e.g. `--watch`).
    pub fn qctl_std(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(qctl_bin());
        for (key, _) in std::env::vars_os() {
            let key_str = key.to_string_lossy();
            if key_str.starts_with("QCTL_") || key_str.starts_with("XDG_") {
                cmd.env_remove(&key);
            }
        }
        for key in [
            "NO_COLOR",
            "CLICOLOR",
            "CLICOLOR_FORCE",
            "FORCE_COLOR",
            "REDIS_URL",
            "REDISCLI_AUTH",
        ] {
            cmd.env_remove(key);
        }
        cmd.env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.config_home())
            .env("XDG_STATE_HOME", self.state_home())
            .env("XDG_CACHE_HOME", self.join("cache"))
            .env("XDG_DATA_HOME", self.join("data"))
            .env("NO_COLOR", "1")
            .current_dir(self.path());
        cmd
    }
}

impl Default for Workspace {
    fn default() -> Self {
        Self::new()
    }
}

/// Path of the `qctl` binary built by cargo for this integration test.
pub fn qctl_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qctl"))
}
