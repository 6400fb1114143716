//! `qctl health`: each context against the thresholds of
//! `preferences.health` (`HealthReport`); exit 5 when any is unhealthy, an
//! unreachable one included. Orphaned jobs count only when seen in two
//! readings.

use super::{Check, checks, probe_all};
use crate::cli::OutputFormat;
use crate::contexts::Config;
use crate::error::{ContextError, ExitCode, Outcome, Result};
use crate::output::{ListDoc, Styled};
use crate::select::select;
use crate::settings::Settings;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct HealthItem {
    pub(crate) context: String,
    pub(crate) healthy: bool,
    pub(crate) checks: Vec<Check>,
}

pub(crate) fn run(config: &Config, settings: &Settings) -> Result<ExitCode> {
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
    let thresholds = &config.preferences.health;
    let mut items = Vec::new();
    let mut errors: Vec<ContextError> = Vec::new();
    let mut outcome = Outcome::default();
    let mut rows = Vec::new();
    // Unhealthy contexts in file order, for `-o name`.
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
                cs.extend(checks(&p, thresholds));
                let healthy = cs.iter().all(|c| c.ok);
                outcome.succeeded += 1;
                outcome.check_failed |= !healthy;
                if !healthy {
                    unhealthy.push(p.context.clone());
                }
                let failed: Vec<String> = cs
                    .iter()
                    .filter(|c| !c.ok)
                    .map(|c| format!("{}: {}", c.name, c.message))
                    .collect();
                rows.push(vec![
                    Styled::colored(&p.context, p.color.as_deref()),
                    Styled::colored(
                        if healthy { "healthy" } else { "unhealthy" },
                        Some(if healthy { "green" } else { "red" }),
                    ),
                    Styled::plain(if failed.is_empty() {
                        "-".to_string()
                    } else {
                        failed.join("; ")
                    }),
                ]);
                items.push(HealthItem {
                    context: p.context.clone(),
                    healthy,
                    checks: cs,
                });
            }
            Err(e) => {
                outcome.failed += 1;
                outcome.check_failed = true;
                unhealthy.push(e.context.clone());
                let color = config.context(&e.context).and_then(|c| c.color.clone());
                rows.push(vec![
                    Styled::colored(&e.context, color.as_deref()),
                    Styled::colored("unhealthy", Some("red")),
                    Styled::plain(format!("reachable: {}: {}", e.kind, e.message)),
                ]);
                // An item too, so that a script reading `items` sees every
                // context's verdict; `errors` says why it did not answer.
                items.push(HealthItem {
                    context: e.context.clone(),
                    healthy: false,
                    checks: vec![Check {
                        name: "reachable",
                        ok: false,
                        message: format!("{}: {}", e.kind, e.message),
                    }],
                });
                errors.push(e);
            }
        }
    }
    let p = &settings.printer;
    match p.format {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns => {
            p.document(&ListDoc::new("HealthReport", items, errors))?
        }
        // The unhealthy contexts, one per line: handy for xargs.
        OutputFormat::Name => p.names(unhealthy)?,
        OutputFormat::Table | OutputFormat::Wide => {
            p.table(&["CONTEXT", "HEALTH", "FAILED CHECKS"], rows)?
        }
    }
    Ok(outcome.exit_code())
}
