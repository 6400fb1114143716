//! The contexts file: its resolved model, loading and merging, and writes.
//!
//! `model` is what serde reads; `load` turns one or more files into a checked
//! [`Config`]; `write` edits one file in place, keeping the rest of it as
//! written. Secrets stay in [`Secret`] and only `connect` ever reads them.

mod cache;
mod load;
mod model;
mod write;

#[cfg(test)]
pub(crate) use load::from_text;
pub(crate) use load::{ConfigLocation, expand_tilde, load, no_contexts_file, read_bounded};
/// For shell completion, which reads the files leniently and quietly.
pub(crate) use load::{checked, locate, parse_file, schema as parse_schema};
pub(crate) use model::Mode;
pub(crate) use model::RawFile;
pub(crate) use write::{ContextEdit, delete_context, set_context, use_context};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A string that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    pub(crate) fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The only way to read it: for the connection layer.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// Never written anywhere: the contexts cache (`cache.rs`) refuses a file
/// set that holds one, and this makes sure of it.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("a secret is never cached"))
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<Self, D::Error> {
        Err(serde::de::Error::custom("a secret is never cached"))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("REDACTED")
    }
}

/// One file that contributed to the merged configuration.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
}

/// The checked, merged configuration.
#[derive(Debug, Default)]
pub(crate) struct Config {
    pub(crate) sources: Vec<SourceFile>,
    /// How the files were found (for messages).
    pub(crate) location: Option<ConfigLocation>,
    pub(crate) current_context: Option<String>,
    pub(crate) audit_log: Option<PathBuf>,
    pub(crate) preferences: Preferences,
    pub(crate) clusters: Vec<Cluster>,
    pub(crate) users: Vec<User>,
    pub(crate) contexts: Vec<Context>,
    pub(crate) schemas: Vec<QueueSchema>,
    /// The files as parsed, with where each value is written: for `config
    /// view` and the edits, which keep the rest of a file as written.
    /// Parsed again from `sources` on first use when the checked
    /// configuration came from the cache (see `cache.rs`).
    raw: std::sync::OnceLock<Vec<RawFile>>,
    /// Name -> position of contexts and clusters, built on first lookup
    /// (1,000 contexts, each naming its cluster: no quadratic scan).
    index: std::sync::OnceLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    contexts: std::collections::HashMap<String, usize, foldhash::fast::RandomState>,
    clusters: std::collections::HashMap<String, usize, foldhash::fast::RandomState>,
}

impl Config {
    /// The parsed files, one per source.
    pub(crate) fn raw(&self) -> crate::error::Result<&[RawFile]> {
        if let Some(r) = self.raw.get() {
            return Ok(r);
        }
        let parsed = self
            .sources
            .iter()
            .map(|s| load::parse_file(&s.path, &s.text))
            .collect::<crate::error::Result<Vec<_>>>()?;
        Ok(self.raw.get_or_init(|| parsed))
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut i = Index::default();
            for (n, c) in self.contexts.iter().enumerate() {
                i.contexts.entry(c.name.clone()).or_insert(n);
            }
            for (n, c) in self.clusters.iter().enumerate() {
                i.clusters.entry(c.name.clone()).or_insert(n);
            }
            i
        })
    }
    pub(crate) fn context(&self, name: &str) -> Option<&Context> {
        // The index is checked against the entry it points at: a list
        // changed after the first lookup falls back to a scan.
        match self
            .index()
            .contexts
            .get(name)
            .map(|&n| self.contexts.get(n))
        {
            Some(Some(c)) if c.name == name => Some(c),
            _ => self.contexts.iter().find(|c| c.name == name),
        }
    }
    pub(crate) fn cluster(&self, name: &str) -> Option<&Cluster> {
        match self
            .index()
            .clusters
            .get(name)
            .map(|&n| self.clusters.get(n))
        {
            Some(Some(c)) if c.name == name => Some(c),
            _ => self.clusters.iter().find(|c| c.name == name),
        }
    }
    pub(crate) fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }
    pub(crate) fn schema(&self, name: &str) -> Option<&QueueSchema> {
        self.schemas.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cluster {
    pub(crate) name: String,
    pub(crate) mode: Mode,
    /// `server` for standalone, the seed `nodes` for a cluster.
    pub(crate) urls: Vec<String>,
    pub(crate) tls: TlsSettings,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
pub(crate) struct TlsSettings {
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) insecure_skip_verify: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct User {
    pub(crate) name: String,
    pub(crate) username: Option<String>,
    pub(crate) password: PasswordSource,
}

/// Where a password comes from. Env and file are read when the context is
/// used, so an unset variable only fails the commands that need it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum PasswordSource {
    None,
    Inline(Secret),
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Context {
    pub(crate) name: String,
    pub(crate) cluster: String,
    pub(crate) user: Option<String>,
    pub(crate) schema: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) color: Option<String>,
    pub(crate) protected: bool,
    /// `None`: every write verb is allowed.
    pub(crate) allowed_actions: Option<Vec<String>>,
    pub(crate) enabled: bool,
    /// Index into `Config::sources` of the file that defined it.
    pub(crate) source: usize,
}

pub(crate) use crate::systems::SchemaKind;

/// A named queue schema: which system, and its options as that system
/// parsed them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct QueueSchema {
    pub(crate) name: String,
    pub(crate) system: crate::systems::SystemSchema,
}

impl QueueSchema {
    /// The built-in `default` schema (SPEC section 1).
    pub(crate) fn builtin_default() -> Self {
        QueueSchema {
            name: "default".into(),
            system: crate::systems::SystemSchema::default(),
        }
    }

    pub(crate) fn kind(&self) -> SchemaKind {
        self.system.kind()
    }
}

/// Defaults from `preferences:`; a flag on the command line wins.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, Default)]
pub(crate) struct Preferences {
    pub(crate) timeout: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) watch_interval: Option<Duration>,
    pub(crate) watch_jitter: Option<Duration>,
    pub(crate) compare_threshold: Option<f64>,
    pub(crate) health: HealthThresholds,
    /// Which of `health`'s fields the file sets (the rest are defaults).
    pub(crate) health_in_file: HealthInFile,
}

/// Which `preferences.health` fields the contexts file sets.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct HealthInFile {
    pub(crate) max_latency: bool,
    pub(crate) max_dead_letter: bool,
    pub(crate) max_orphaned_jobs: bool,
    pub(crate) max_memory_percent: bool,
    pub(crate) require_workers: bool,
}

/// `preferences.health`, with the documented defaults filled in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub(crate) struct HealthThresholds {
    pub(crate) max_latency: Duration,
    pub(crate) max_dead_letter: u64,
    pub(crate) max_orphaned_jobs: u64,
    pub(crate) max_memory_percent: f64,
    pub(crate) require_workers: bool,
}

impl Default for HealthThresholds {
    fn default() -> Self {
        HealthThresholds {
            max_latency: Duration::from_millis(250),
            max_dead_letter: 100,
            max_orphaned_jobs: 0,
            max_memory_percent: 90.0,
            require_workers: true,
        }
    }
}

/// The write verbs `allowed-actions` may name.
pub(crate) const WRITE_VERBS: &[&str] = &[
    "purge-dlq",
    "restore-dlq",
    "requeue",
    "replicate",
    "bench",
    "quiet-workers",
    "stop-workers",
    "pause",
];

/// Colours a context may carry.
pub(crate) const COLORS: &[&str] = &[
    "black", "red", "green", "yellow", "blue", "magenta", "purple", "cyan", "white", "gray",
];

pub(crate) use crate::output::did_you_mean;

/// `redis://:secret@host` -> `redis://:REDACTED@host`: a URL safe to print.
pub(crate) fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let redacted = match userinfo.find(':') {
        Some(colon) => format!("{}:{}", &userinfo[..colon], crate::output::REDACTED),
        None => crate::output::REDACTED.to_string(),
    };
    format!("{}{}{}", &url[..scheme_end + 3], redacted, &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_in_urls() {
        assert_eq!(
            redact_url("redis://:secret@host:6379/0"),
            "redis://:REDACTED@host:6379/0"
        );
        assert_eq!(
            redact_url("rediss://ops:pw@h/1"),
            "rediss://ops:REDACTED@h/1"
        );
        assert_eq!(redact_url("redis://token@h"), "redis://REDACTED@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact_url("redis://:p@ss@h"), "redis://:REDACTED@h");
        assert_eq!(redact_url("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "REDACTED");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("protcted", ["name", "protected"]),
            Some("protected")
        );
        assert_eq!(did_you_mean("sevrer", ["server", "mode"]), Some("server"));
        assert_eq!(did_you_mean("zzz", ["server", "mode"]), None);
        assert_eq!(did_you_mean("rde", ["red", "green"]), Some("red"));
        assert_eq!(
            did_you_mean("purge-dql", ["purge-dlq", "requeue"]),
            Some("purge-dlq")
        );
    }
}
