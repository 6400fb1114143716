//! The contexts file as written on disk (SPEC section 2): serde types only.
//!
//! Every struct denies unknown fields, so a misspelt `protcted:` is an error
//! with a location, never silently ignored. Entries are wrapped in
//! [`Spanned`] so that later checks (duplicate names, dangling references)
//! can point at a line and column, and so that writes can splice one entry
//! without touching the rest of the file.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawFile {
    #[serde(rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    pub(crate) api_version: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) current_context: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) audit_log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) preferences: Option<Spanned<RawPreferences>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) clusters: Vec<Spanned<RawCluster>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) users: Vec<Spanned<RawUser>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) contexts: Vec<Spanned<RawContext>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) queue_schemas: Vec<Spanned<RawSchema>>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Mode {
    #[default]
    Standalone,
    Cluster,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawCluster {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) nodes: Vec<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls: Option<RawTls>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawTls {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ca_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cert_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key_file: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) insecure_skip_verify: bool,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawUser {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) password_file: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawContext {
    pub(crate) name: String,
    pub(crate) cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) schema: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) color: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) protected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) allowed_actions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) enabled: Option<bool>,
}

/// A queue schema as written: its name, its kind, and the kind's own
/// options, which the queue system parses (`systems::parse_schema`).
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RawSchema {
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(flatten)]
    pub(crate) options: crate::systems::SchemaOptions,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPreferences {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connect_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) watch: Option<RawWatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) compare: Option<RawCompare>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health: Option<RawHealth>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawWatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) jitter: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawCompare {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) threshold: Option<f64>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_latency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_dead_letter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_orphaned_jobs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_memory_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) require_workers: Option<bool>,
}
