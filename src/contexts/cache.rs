//! The checked configuration, kept between runs so that a command does not
//! parse and check an unchanged contexts file again.
//!
//! Parsing YAML is most of what a local command costs: a 1,000-context file
//! (about 200 KB) takes ~130 million instructions to parse and check, and
//! shell completion runs qctl on every TAB. So once a set of files has been
//! read and checked, the result is written to
//! `$XDG_CACHE_HOME/qctl/contexts/<hash of the paths>` (else
//! `~/.cache/qctl/...`), and the next run with the same files uses it.
//!
//! An entry is used only when everything the check depended on is the same,
//! compared exactly, never by a timestamp: the text of every file
//! (byte for byte, in the same order, from the same paths), `$HOME` (which
//! `~/` expands to), and the qctl executable itself (its size, change time
//! and inode: another build may lay the entry out differently). Anything
//! else, a damaged or truncated entry included, is a miss, and the files are
//! parsed as if there were no cache. Only a file set that passed every check
//! is written: errors are always found by the parser, with their line and
//! column.
//!
//! Secrets stay out of it: a file set with an inline password or a password
//! in a server URL is never written (and [`super::Secret`] refuses to be
//! serialised); `password-env` and `password-file` are names, read when a
//! context runs. The directory is created mode 0700 and each entry 0600. At
//! most [`MAX_ENTRIES`] entries are kept (the oldest go first).
//! `QCTL_NO_CACHE=1` turns it off.

use super::{Cluster, Config, Context, Preferences, QueueSchema, SourceFile, User};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Entries kept in the directory.
pub(crate) const MAX_ENTRIES: usize = 32;
/// The first bytes of an entry; bump the number when the layout changes.
const MAGIC: &[u8] = b"qctl contexts cache 1\n";

/// A `password-file` a user names, with where: its permissions are
/// checked again on every run (see `load::warn_readable_secrets`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PasswordFile {
    pub(crate) file: PathBuf,
    pub(crate) user: String,
    pub(crate) source: PathBuf,
}

/// What a run needs from the files it did not parse.
#[derive(Serialize, Deserialize)]
struct Checked {
    current_context: Option<String>,
    audit_log: Option<PathBuf>,
    preferences: Preferences,
    clusters: Vec<Cluster>,
    users: Vec<User>,
    contexts: Vec<Context>,
    schemas: Vec<QueueSchema>,
    password_files: Vec<PasswordFile>,
}

/// An entry as written: what it was checked against, then the result.
#[derive(Serialize)]
struct EntryOut<'a> {
    exe: Exe,
    home: &'a [u8],
    files: Vec<(&'a [u8], &'a str)>,
    checked: &'a Checked,
}

#[derive(Deserialize)]
struct EntryIn<'a> {
    exe: Exe,
    #[serde(borrow)]
    home: &'a [u8],
    #[serde(borrow)]
    files: Vec<(&'a [u8], &'a str)>,
    checked: Checked,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Exe {
    len: u64,
    ctime_ns: i64,
    ino: u64,
}

fn enabled() -> bool {
    std::env::var_os("QCTL_NO_CACHE").is_none_or(|v| v.is_empty() || v == "0")
}

fn dir() -> Option<PathBuf> {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => Some(PathBuf::from(d).join("qctl/contexts")),
        None => std::env::var_os("HOME")
            .filter(|v| !v.is_empty())
            .map(|h| PathBuf::from(h).join(".cache/qctl/contexts")),
    }
}

fn home() -> OsString {
    std::env::var_os("HOME").unwrap_or_default()
}

fn exe() -> Option<Exe> {
    let m = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
    Some(Exe {
        len: m.len(),
        ctime_ns: m.ctime().saturating_mul(1_000_000_000) + m.ctime_nsec(),
        ino: m.ino(),
    })
}

/// The entry's file name: a hash of the paths (their texts are compared
/// in full inside).
fn entry_path(sources: &[SourceFile]) -> Option<PathBuf> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x7163_746c).build_hasher();
    for s in sources {
        h.write(s.path.as_os_str().as_bytes());
        h.write_u8(0);
    }
    Some(dir()?.join(format!("{:016x}", h.finish())))
}

/// The checked configuration for exactly these files, when one was kept.
pub(crate) fn read(sources: &[SourceFile]) -> Option<(Config, Vec<PasswordFile>)> {
    if !enabled() || sources.is_empty() {
        return None;
    }
    let bytes = std::fs::read(entry_path(sources)?).ok()?;
    let body = bytes.strip_prefix(MAGIC)?;
    let entry: EntryIn = postcard::from_bytes(body).ok()?;
    let same_files = entry.files.len() == sources.len()
        && entry
            .files
            .iter()
            .zip(sources)
            .all(|((p, t), s)| *p == s.path.as_os_str().as_bytes() && *t == s.text);
    if !same_files || entry.home != home().as_bytes() || Some(entry.exe) != exe() {
        return None;
    }
    let c = entry.checked;
    let config = Config {
        sources: sources.to_vec(),
        location: None,
        current_context: c.current_context,
        audit_log: c.audit_log,
        preferences: c.preferences,
        clusters: c.clusters,
        users: c.users,
        contexts: c.contexts,
        schemas: c.schemas,
        ..Default::default()
    };
    Some((config, c.password_files))
}

/// Keeps a checked configuration for the next run, unless a file holds a
/// secret itself (`holds_secret`: an inline password or one in a server
/// URL). Best effort: a cache that cannot be written is no cache, never an
/// error.
pub(crate) fn write(config: &Config, password_files: Vec<PasswordFile>, holds_secret: bool) {
    if !enabled() || config.sources.is_empty() || holds_secret {
        return;
    }
    let (Some(path), Some(exe)) = (entry_path(&config.sources), exe()) else {
        return;
    };
    let checked = Checked {
        current_context: config.current_context.clone(),
        audit_log: config.audit_log.clone(),
        preferences: config.preferences.clone(),
        clusters: config.clusters.clone(),
        users: config.users.clone(),
        contexts: config.contexts.clone(),
        schemas: config.schemas.clone(),
        password_files,
    };
    let home = home();
    let entry = EntryOut {
        exe,
        home: home.as_bytes(),
        files: config
            .sources
            .iter()
            .map(|s| (s.path.as_os_str().as_bytes(), s.text.as_str()))
            .collect(),
        checked: &checked,
    };
    let Ok(body) = postcard::to_stdvec(&entry) else {
        return;
    };
    store(&path, &body);
}

fn store(path: &Path, body: &[u8]) {
    let dir = path.parent().unwrap_or(Path::new("."));
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .is_err()
    {
        return;
    }
    prune(dir, path);
    let _ = super::write::write_atomic(path, &[MAGIC, body].concat());
}

/// Removes the oldest entries, so that at most [`MAX_ENTRIES`] remain
/// with the one about to be written.
fn prune(dir: &Path, keep: &Path) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(|e| {
            let e = e.ok()?;
            let p = e.path();
            (p != keep).then_some(())?;
            Some((e.metadata().ok()?.modified().ok()?, p))
        })
        .collect();
    if entries.len() < MAX_ENTRIES {
        return;
    }
    entries.sort();
    let excess = entries.len() + 1 - MAX_ENTRIES;
    for (_, p) in entries.into_iter().take(excess) {
        let _ = std::fs::remove_file(p);
    }
}
