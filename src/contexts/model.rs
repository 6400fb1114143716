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
    pub api_version: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_context: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferences: Option<Spanned<RawPreferences>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<Spanned<RawCluster>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<Spanned<RawUser>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contexts: Vec<Spanned<RawContext>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue_schemas: Vec<Spanned<RawSchema>>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    #[default]
    Standalone,
    Cluster,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawCluster {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<Spanned<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawTls>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawTls {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawUser {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawContext {
    pub name: String,
    pub cluster: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub protected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_actions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// A queue schema as written: its name, its kind, and the kind's own
/// options, which the queue system parses (`systems::parse_schema`).
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct RawSchema {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(flatten)]
    pub options: crate::systems::SchemaOptions,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawPreferences {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<RawWatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compare: Option<RawCompare>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<RawHealth>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawWatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawCompare {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

#[derive(Debug, Deserialize, Serialize, Clone, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_latency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_dead_letter: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_orphaned_jobs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_workers: Option<bool>,
}
