//! The audit log of SPEC section 6.7: one JSON line per target per write,
//! appended to `audit-log:` from the contexts file, else
//! `$XDG_STATE_HOME/qctl/audit.log` (`~/.local/state/qctl/audit.log`),
//! created with mode 0600. Lines carry no secret: arguments pass through
//! the same scrubbing as every error message.

use serde::Serialize;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// One audit line.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditLine {
    /// RFC 3339, UTC.
    pub(crate) time: String,
    /// The OS user.
    pub(crate) user: String,
    pub(crate) host: String,
    pub(crate) action: String,
    pub(crate) context: String,
    /// The command line, secrets scrubbed.
    pub(crate) args: Vec<String>,
    /// What the target looked like before and after (counts, keys).
    pub(crate) before: serde_json::Value,
    pub(crate) after: serde_json::Value,
    /// `ok`, `error`, `skipped`.
    pub(crate) result: String,
    /// What went wrong, for `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    pub(crate) duration_ms: u64,
}

/// Where the audit log goes.
pub(crate) fn path(configured: Option<&Path>) -> PathBuf {
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".local/state")
        });
    state.join("qctl/audit.log")
}

/// The OS user running qctl.
pub(crate) fn os_user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(u) = std::env::var(var)
            && !u.is_empty()
        {
            return u;
        }
    }
    // SAFETY: getuid has no preconditions.
    format!("uid:{}", unsafe { libc::getuid() })
}

pub(crate) use crate::host::name as host;

/// Command-line arguments with anything that looks like a credential
/// removed: URL passwords, and the value of any `--password*` flag.
pub(crate) fn scrub_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("REDACTED".into());
            hide_next = false;
            continue;
        }
        if let Some((flag, _)) = a.split_once('=')
            && flag.starts_with("--password")
        {
            out.push(format!("{flag}=REDACTED"));
            continue;
        }
        if a.starts_with("--password") {
            hide_next = true;
            out.push(a.clone());
            continue;
        }
        out.push(crate::contexts::redact_url(a));
    }
    out
}

/// Opens the log for appending; creates the file (0600) and its
/// directory (0700). Called before the first write, so an unwritable log
/// stops a verb before it changes anything.
pub(crate) fn open(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

/// Appends one line and flushes it to the disk.
pub(crate) fn append(path: &Path, line: &AuditLine) -> std::io::Result<()> {
    let mut f = open(path)?;
    let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
    text.push('\n');
    // One write call per line: O_APPEND keeps concurrent writers' lines whole.
    f.write_all(text.as_bytes())?;
    f.flush()?;
    match f.sync_data() {
        // A device or pipe (`/dev/stderr`) cannot be synced; the write went.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
            ) =>
        {
            Ok(())
        }
        r => r,
    }
}

/// Writes the audit lines of one run of a write verb, each as soon as its
/// target's write returns. The first line that cannot be written is kept:
/// from then on [`Writer::failed`] tells the run to start nothing else.
#[derive(Debug)]
pub(crate) struct Writer {
    path: PathBuf,
    action: &'static str,
    args: Vec<String>,
    user: String,
    host: String,
    error: std::sync::Mutex<Option<String>>,
}

impl Writer {
    pub(crate) fn new(path: PathBuf, action: &'static str, args: Vec<String>) -> Self {
        Writer {
            path,
            action,
            args,
            user: os_user(),
            host: host(),
            error: std::sync::Mutex::new(None),
        }
    }

    /// Appends the line for one target's write.
    pub(crate) fn record(
        &self,
        context: &str,
        before: &serde_json::Value,
        after: &serde_json::Value,
        error: Option<&str>,
        duration_ms: u64,
    ) {
        let line = AuditLine {
            time: jiff::Timestamp::now().to_string(),
            user: self.user.clone(),
            host: self.host.clone(),
            action: self.action.to_string(),
            context: context.to_string(),
            args: self.args.clone(),
            before: before.clone(),
            after: after.clone(),
            result: if error.is_some() { "error" } else { "ok" }.to_string(),
            reason: error.map(String::from),
            duration_ms,
        };
        if let Err(e) = append(&self.path, &line) {
            let mut first = self.error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| {
                format!(
                    "could not write the audit line for {context} to {}: {e}",
                    self.path.display()
                )
            });
        }
    }

    /// Whether a line could not be written.
    pub(crate) fn failed(&self) -> bool {
        self.error().is_some()
    }

    /// Why the first line that failed could not be written.
    pub(crate) fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lines_append_with_mode_0600_and_no_secret() {
        let dir = std::env::temp_dir().join(format!("qctl-audit-{}", std::process::id()));
        let p = dir.join("nested/audit.log");
        let args = scrub_args(&[
            "qctl".into(),
            "purge-dlq".into(),
            "--context".into(),
            "prod".into(),
            "redis://:hunter2@h:6379".into(),
            "--password=hunter2".into(),
        ]);
        assert_eq!(args[1], "purge-dlq");
        assert_eq!(args[3], "prod");
        assert_eq!(args[5], "--password=REDACTED");
        let line = AuditLine {
            time: "2026-11-23T00:00:00Z".into(),
            user: os_user(),
            host: host(),
            action: "purge-dlq".into(),
            context: "prod".into(),
            args,
            before: serde_json::json!({"dead_letter": 3}),
            after: serde_json::json!({"dead_letter": 0}),
            result: "ok".into(),
            reason: None,
            duration_ms: 4,
        };
        append(&p, &line).unwrap();
        append(&p, &line).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(!text.contains("hunter2"), "{text}");
        let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        for k in [
            "time",
            "user",
            "host",
            "action",
            "context",
            "args",
            "before",
            "after",
            "result",
            "duration_ms",
        ] {
            assert!(v.get(k).is_some(), "missing {k}");
        }
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn default_path_follows_xdg() {
        assert_eq!(path(Some(Path::new("/x/a.log"))), PathBuf::from("/x/a.log"));
        assert!(path(None).ends_with("qctl/audit.log"));
    }
}
