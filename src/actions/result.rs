//! The `ActionResult` document of SPEC section 5 and its summary table.

use crate::error::{ContextError, ErrorKind};
use crate::output::{ABSENT, NONE, Styled, or_absent};
use indexmap::IndexMap;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Ok,
    Error,
    Skipped,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

/// One target's outcome.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResultItem {
    pub(crate) context: String,
    pub(crate) status: Status,
    /// Why it was skipped or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// The error's kind (`errors[].kind`), for `status: error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<ErrorKind>,
    /// The verb's counts (`purged`, `moved`, ...): what changed, or with
    /// `dry_run` what would; null when the target was never measured.
    #[serde(flatten)]
    pub(crate) counts: IndexMap<&'static str, Option<u64>>,
    /// Fields beyond the counts (replicate's `config_changes`).
    #[serde(flatten)]
    pub(crate) extra: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) backup_key: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) warnings: Vec<String>,
    pub(crate) duration_ms: u64,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

/// The document.
#[derive(Debug, Serialize)]
pub(crate) struct ActionResult {
    #[serde(rename = "apiVersion")]
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) action: &'static str,
    pub(crate) dry_run: bool,
    /// Set when Ctrl-C stopped the run.
    pub(crate) interrupted: bool,
    pub(crate) results: Vec<ResultItem>,
    /// The failed targets again, in the shape every document shares.
    pub(crate) errors: Vec<ContextError>,
}

impl ActionResult {
    pub(crate) fn new(
        action: &'static str,
        dry_run: bool,
        interrupted: bool,
        results: Vec<ResultItem>,
    ) -> Self {
        let errors = results
            .iter()
            .filter(|r| r.status == Status::Error)
            .map(|r| ContextError {
                context: r.context.clone(),
                kind: r.kind.unwrap_or(ErrorKind::Redis),
                message: r.reason.clone().unwrap_or_default(),
            })
            .collect();
        ActionResult {
            api_version: "qctl/v1",
            kind: "ActionResult",
            action,
            dry_run,
            interrupted,
            results,
            errors,
        }
    }

    /// The summary table: CONTEXT, STATUS, the counts, BACKUP when the verb
    /// keeps one, DURATION, REASON; `wide` adds WARNINGS (otherwise only in
    /// JSON and the plan). An absent value is `-`, no warning `<none>`.
    pub(crate) fn table(
        &self,
        counts: &[&'static str],
        backups: bool,
        wide: bool,
    ) -> (Vec<String>, Vec<Vec<Styled>>) {
        let mut headers = vec!["CONTEXT".to_string(), "STATUS".to_string()];
        headers.extend(counts.iter().map(|c| c.to_uppercase().replace('_', "-")));
        let extra: Vec<String> = self
            .results
            .first()
            .map(|r| r.extra.keys().cloned().collect())
            .unwrap_or_default();
        headers.extend(extra.iter().map(|c| c.to_uppercase().replace('_', "-")));
        if backups {
            headers.push("BACKUP".into());
        }
        headers.push("DURATION".into());
        headers.push("REASON".into());
        if wide {
            headers.push("WARNINGS".into());
        }
        let rows = self
            .results
            .iter()
            .map(|r| {
                let status_color = match r.status {
                    Status::Ok => "green",
                    Status::Error => "red",
                    Status::Skipped => "yellow",
                };
                // A dry run's counts are what would change: said so, since
                // "ok  420" under PURGED reads as done.
                let status = match (r.status, self.dry_run) {
                    (Status::Ok, true) => "ok (dry run)",
                    (s, _) => s.as_str(),
                };
                let mut row = vec![
                    Styled::colored(&r.context, r.color.as_deref()),
                    Styled::colored(status, Some(status_color)),
                ];
                for c in counts {
                    row.push(
                        r.counts
                            .get(c)
                            .copied()
                            .flatten()
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| ABSENT.into())
                            .into(),
                    );
                }
                for f in &extra {
                    row.push(
                        match r.extra.get(f) {
                            Some(serde_json::Value::Array(a)) => a.len().to_string(),
                            Some(serde_json::Value::Null) | None => ABSENT.into(),
                            Some(serde_json::Value::String(t)) => or_absent(Some(t.clone())),
                            Some(v) => v.to_string(),
                        }
                        .into(),
                    );
                }
                if backups {
                    row.push(or_absent(r.backup_key.clone()).into());
                }
                row.push(format!("{}ms", r.duration_ms).into());
                row.push(or_absent(r.reason.clone()).into());
                if wide {
                    row.push(
                        if r.warnings.is_empty() {
                            NONE.to_string()
                        } else {
                            r.warnings.join("; ")
                        }
                        .into(),
                    );
                }
                row
            })
            .collect();
        (headers, rows)
    }
}
