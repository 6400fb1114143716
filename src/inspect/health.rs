//! `qctl health`: each context against its thresholds (`HealthReport`):
//! `preferences.health`, each overridden by its flag (`--max-dead-letter`,
//! ...). A context is `healthy` (every check passed), `degraded` (it
//! answered and a check failed) or `unreachable` (it did not answer), the
//! words `get clusters` uses; exit 5 when any is not healthy. Orphaned jobs
//! count only when seen in two readings.

use super::{Check, checks, probe_all};
use crate::cli::{HealthArgs, OutputFormat};
use crate::contexts::{Config, HealthThresholds};
use crate::error::{ContextError, ExitCode, Outcome, Result};
use crate::output::{NONE, Styled};
use crate::select::select;
use crate::settings::Settings;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct HealthItem {
    pub(crate) context: String,
    /// `healthy`, `degraded` or `unreachable`.
    pub(crate) status: &'static str,
    pub(crate) healthy: bool,
    /// The queue system (the schema's `kind`).
    pub(crate) system: &'static str,
    /// The endpoint, password redacted.
    pub(crate) endpoint: String,
    pub(crate) checks: Vec<Check>,
    #[serde(skip)]
    color: Option<String>,
}

/// The thresholds in force, and where each came from: `flag`,
/// `preferences` (`preferences.health` of the contexts file) or `default`.
#[derive(Debug, Serialize)]
pub(crate) struct ThresholdsDoc {
    pub(crate) max_latency_ms: f64,
    pub(crate) max_dead_letter: u64,
    pub(crate) max_orphaned_jobs: u64,
    pub(crate) max_memory_percent: f64,
    pub(crate) require_workers: bool,
    pub(crate) sources: indexmap::IndexMap<&'static str, &'static str>,
}

/// The `HealthReport` document.
#[derive(Debug, Serialize)]
struct HealthReport {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    thresholds: ThresholdsDoc,
    items: Vec<HealthItem>,
    errors: Vec<ContextError>,
}

/// The thresholds `health` checks: `preferences.health` (defaults filled
/// in), each field replaced by its flag when given. `get clusters` checks
/// `preferences.health` itself, through the same [`checks`].
pub(crate) fn thresholds(config: &Config, args: &HealthArgs) -> (HealthThresholds, ThresholdsDoc) {
    let prefs = &config.preferences.health;
    // What the contexts file sets (its first file's preferences: the ones
    // in force); the rest are defaults.
    let raw = config.preferences.health_in_file;
    let mut sources = indexmap::IndexMap::new();
    let mut source = |field: &'static str, flag: bool, in_file: bool| {
        sources.insert(
            field,
            if flag {
                "flag"
            } else if in_file {
                "preferences"
            } else {
                "default"
            },
        );
    };
    source("max_latency", args.max_latency.is_some(), raw.max_latency);
    source(
        "max_dead_letter",
        args.max_dead_letter.is_some(),
        raw.max_dead_letter,
    );
    source(
        "max_orphaned_jobs",
        args.max_orphaned_jobs.is_some(),
        raw.max_orphaned_jobs,
    );
    source(
        "max_memory_percent",
        args.max_memory_percent.is_some(),
        raw.max_memory_percent,
    );
    source(
        "require_workers",
        args.require_workers.is_some(),
        raw.require_workers,
    );
    let t = HealthThresholds {
        max_latency: args.max_latency.unwrap_or(prefs.max_latency),
        max_dead_letter: args.max_dead_letter.unwrap_or(prefs.max_dead_letter),
        max_orphaned_jobs: args.max_orphaned_jobs.unwrap_or(prefs.max_orphaned_jobs),
        max_memory_percent: args.max_memory_percent.unwrap_or(prefs.max_memory_percent),
        require_workers: args.require_workers.unwrap_or(prefs.require_workers),
    };
    let doc = ThresholdsDoc {
        max_latency_ms: t.max_latency.as_secs_f64() * 1000.0,
        max_dead_letter: t.max_dead_letter,
        max_orphaned_jobs: t.max_orphaned_jobs,
        max_memory_percent: t.max_memory_percent,
        require_workers: t.require_workers,
        sources,
    };
    (t, doc)
}

/// `Thresholds: latency 250ms (default), dead-letter 5 (--max-dead-letter), ...`
fn thresholds_line(t: &HealthThresholds, doc: &ThresholdsDoc) -> String {
    let from = |field: &str| match doc.sources.get(field).copied() {
        Some("flag") => format!("--{}", field.replace('_', "-")),
        Some("preferences") => format!("preferences.health.{}", field.replace('_', "-")),
        _ => "default".to_string(),
    };
    format!(
        "Thresholds: latency {} ({}), dead-letter {} ({}), orphaned-jobs {} ({}), memory {}% of maxmemory ({}), workers {} ({})\n",
        crate::output::duration(t.max_latency),
        from("max_latency"),
        t.max_dead_letter,
        from("max_dead_letter"),
        t.max_orphaned_jobs,
        from("max_orphaned_jobs"),
        t.max_memory_percent,
        from("max_memory_percent"),
        if t.require_workers {
            "required"
        } else {
            "not required"
        },
        from("require_workers"),
    )
}

/// `name: message; ...` of the checks that passed (`ok`) or failed, or
/// `<none>`.
fn check_list(cs: &[Check], ok: bool) -> String {
    let v: Vec<String> = cs
        .iter()
        .filter(|c| c.ok == ok)
        .map(|c| format!("{}: {}", c.name, c.message))
        .collect();
    if v.is_empty() {
        NONE.to_string()
    } else {
        v.join("; ")
    }
}

/// What the contexts file says of a context that did not answer.
fn configured(config: &Config, context: &str) -> (&'static str, String, Option<String>) {
    let ctx = config.context(context);
    let system = ctx
        .and_then(|c| config.schema(&c.schema))
        .map(|s| crate::systems::System::for_schema(&s.system).kind())
        .unwrap_or("-");
    let endpoint = ctx
        .and_then(|c| config.cluster(&c.cluster))
        .map(|c| {
            c.urls
                .iter()
                .map(|u| crate::contexts::redact_url(u))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "-".into());
    (system, endpoint, ctx.and_then(|c| c.color.clone()))
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &HealthArgs) -> Result<ExitCode> {
    let targets = select(config, &settings.select)?;
    let names: Vec<String> = targets.names().into_iter().map(String::from).collect();
    let results = probe_all(
        config,
        settings,
        &names,
        super::ProbeReader {
            second_reading: true,
            ..Default::default()
        },
    );
    let (thresholds, thresholds_doc) = thresholds(config, args);
    let mut items = Vec::new();
    let mut errors: Vec<ContextError> = Vec::new();
    let mut outcome = Outcome::default();
    // Contexts that are not healthy, in file order, for `-o name`.
    let mut unhealthy = Vec::new();
    for r in results {
        match r {
            Ok(p) => {
                for n in &p.notes {
                    settings.printer.note(&format!("note: {n}"));
                }
                let mut cs = vec![Check {
                    name: "reachable",
                    ok: true,
                    message: "answered".into(),
                }];
                cs.extend(checks(&p, &thresholds));
                let healthy = cs.iter().all(|c| c.ok);
                outcome.succeeded += 1;
                outcome.check_failed |= !healthy;
                if !healthy {
                    unhealthy.push(p.context.clone());
                }
                items.push(HealthItem {
                    context: p.context.clone(),
                    status: if healthy { "healthy" } else { "degraded" },
                    healthy,
                    system: p.system,
                    endpoint: p.endpoint.clone(),
                    checks: cs,
                    color: p.color.clone(),
                });
            }
            Err(e) => {
                outcome.failed += 1;
                outcome.check_failed = true;
                unhealthy.push(e.context.clone());
                let (system, endpoint, color) = configured(config, &e.context);
                // An item too, so that a script reading `items` sees every
                // context's verdict; `errors` says why it did not answer.
                items.push(HealthItem {
                    context: e.context.clone(),
                    status: "unreachable",
                    healthy: false,
                    system,
                    endpoint,
                    checks: vec![Check {
                        name: "reachable",
                        ok: false,
                        message: format!("{}: {}", e.kind, e.message),
                    }],
                    color,
                });
                errors.push(e);
            }
        }
    }
    let p = &settings.printer;
    match p.format {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns => {
            p.document(&HealthReport {
                api_version: "qctl/v1",
                kind: "HealthReport",
                thresholds: thresholds_doc,
                items,
                errors,
            })?
        }
        // The contexts that are not healthy, one per line: handy for xargs.
        OutputFormat::Name => p.names(unhealthy)?,
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = p.format == OutputFormat::Wide;
            let mut headers = vec!["CONTEXT", "HEALTH", "FAILED CHECKS"];
            if wide {
                headers.extend(["SYSTEM", "ENDPOINT", "PASSED CHECKS"]);
            }
            let rows = items
                .iter()
                .map(|it| {
                    let color = match it.status {
                        "healthy" => "green",
                        "degraded" => "yellow",
                        _ => "red",
                    };
                    let mut row = vec![
                        Styled::colored(&it.context, it.color.as_deref()),
                        Styled::colored(it.status, Some(color)),
                        Styled::plain(check_list(&it.checks, false)),
                    ];
                    if wide {
                        row.push(it.system.into());
                        row.push(it.endpoint.clone().into());
                        row.push(check_list(&it.checks, true).into());
                    }
                    row
                })
                .collect();
            let mut text = p.render_table(&headers, rows);
            if !p.no_headers {
                text.push('\n');
                text.push_str(&thresholds_line(&thresholds, &thresholds_doc));
            }
            p.stdout(&text)?;
        }
    }
    Ok(outcome.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_preferences_and_say_so() {
        let yaml = "apiVersion: qctl/v1\npreferences:\n  health: { max-dead-letter: 7, require-workers: false }\nclusters:\n  - { name: c, server: \"redis://127.0.0.1:1\" }\ncontexts:\n  - { name: a, cluster: c }\n";
        let c = crate::contexts::from_text(std::path::Path::new("t.yaml"), yaml).unwrap();
        let (t, doc) = thresholds(&c, &HealthArgs::default());
        assert_eq!(t.max_dead_letter, 7);
        assert!(!t.require_workers);
        assert_eq!(doc.sources["max_dead_letter"], "preferences");
        assert_eq!(doc.sources["max_latency"], "default");
        let args = HealthArgs {
            max_dead_letter: Some(0),
            require_workers: Some(true),
            max_latency: Some(std::time::Duration::from_millis(5)),
            ..Default::default()
        };
        let (t, doc) = thresholds(&c, &args);
        assert_eq!(t.max_dead_letter, 0);
        assert!(t.require_workers);
        assert_eq!(doc.max_latency_ms, 5.0);
        assert_eq!(doc.sources["max_dead_letter"], "flag");
        let line = thresholds_line(&t, &doc);
        assert!(line.contains("dead-letter 0 (--max-dead-letter)"), "{line}");
        assert!(line.contains("latency 5ms (--max-latency)"), "{line}");
        assert!(line.contains("memory 90% of maxmemory (default)"), "{line}");
    }
}
