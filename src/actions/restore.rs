//! `qctl restore-dlq`: puts a DLQ backup (the newest, or `--backup KEY`)
//! back into the dead-letter list, merged with the jobs that arrived since:
//! the backup's jobs are older, so they go to the consumer end in their
//! order, and none of the newer ones is touched. Atomic per batch
//! (a Lua script over two keys of one slot); O(1) when the DLQ is empty.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::RestoreDlqArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::guard;
use crate::systems::lists::{self, Backup};
use serde_json::json;

/// Jobs per restore step.
const BATCH: u64 = 1_000;

pub(crate) struct RestoreDlq {
    pub(crate) backup: Option<String>,
}

pub(crate) struct RestorePlan {
    key: String,
    store: lists::Store,
    length: u64,
    backup: Option<Backup>,
    warnings: Vec<String>,
}

impl Action for RestoreDlq {
    const NAME: &'static str = "restore-dlq";
    const COUNTS: &'static [&'static str] = &["restored"];
    const KEEPS_BACKUPS: bool = true;
    const PROGRESS: bool = true;
    type Plan = RestorePlan;

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::RestoreDlq
    }

    fn headline(&self) -> String {
        match &self.backup {
            Some(k) => format!("restore-dlq: backup {k} goes back into the dead-letter list"),
            None => "restore-dlq: the newest backup goes back into each dead-letter list, after the jobs that arrived since".into(),
        }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<RestorePlan, ContextError> {
        let key = t.system.dead_letter().key;
        let store = t.system.dead_store();
        let length = super::dead_length(conn, &key, store).await?;
        let all = lists::backups(conn, &key, store)
            .await
            .map_err(|e| conn.error(&e))?;
        let backup = match &self.backup {
            None => all.into_iter().next(),
            Some(k) => match all.into_iter().find(|b| b.key == *k) {
                Some(b) => Some(b),
                None => {
                    return Err(ContextError {
                        context: conn.context.clone(),
                        kind: ErrorKind::Config,
                        message: format!(
                            "no backup named {k} of {key} here; `qctl get backups` lists them"
                        ),
                    });
                }
            },
        };
        let mut warnings = Vec::new();
        if let Some(b) = &backup {
            if let guard::Checked::Unknown(why) =
                guard::may_run(conn, &lists::restore_needed(&b.key, &key, store)).await?
            {
                warnings.push(why);
            }
            warnings.extend(guard::memory_warning(conn).await);
        }
        Ok(RestorePlan {
            key,
            store,
            length,
            backup,
            warnings,
        })
    }

    fn view(&self, p: &RestorePlan) -> PlanView {
        match &p.backup {
            None => PlanView {
                count: 0,
                detail: format!("no backup of {}: nothing to restore", p.key),
                ..PlanView::default()
            },
            Some(b) => PlanView {
                count: b.jobs,
                detail: if p.length == 0 {
                    format!("{} -> {} (empty now)", b.key, p.key)
                } else {
                    format!(
                        "{} -> {} (now {}; the restored ones are consumed first, being older)",
                        b.key,
                        p.key,
                        crate::output::count(p.length, "job")
                    )
                },
                warnings: p.warnings.clone(),
                ..PlanView::default()
            },
        }
    }

    fn dry_counts(&self, p: &RestorePlan) -> Vec<(&'static str, u64)> {
        vec![("restored", p.backup.as_ref().map_or(0, |b| b.jobs))]
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &RestorePlan, step: Step) -> Applied {
        let Some(b) = &p.backup else {
            return Applied {
                counts: vec![("restored", 0)],
                before: json!({"key": p.key, "backup_key": null}),
                after: json!({"key": p.key}),
                ..Applied::default()
            };
        };
        let mut restored = 0u64;
        let mut error = None;
        loop {
            if step.interrupted() {
                error = Some(ContextError {
                    context: conn.context.clone(),
                    kind: ErrorKind::Interrupted,
                    message: format!(
                        "interrupted after restoring {restored} jobs; the rest stays in {} (now without expiry): run restore-dlq again to finish",
                        b.key
                    ),
                });
                break;
            }
            match lists::restore_step(conn, &b.key, &p.key, BATCH, p.store).await {
                Ok((moved, left)) => {
                    restored += moved;
                    step.progress.inc(moved);
                    if left == 0 || moved == 0 {
                        break;
                    }
                }
                Err(e) => {
                    let mut ce = guard::step_error(conn, &e);
                    ce.message = format!(
                        "{} (after restoring {restored} jobs; the rest stays in {}: run restore-dlq again to finish)",
                        ce.message, b.key
                    );
                    error = Some(ce);
                    break;
                }
            }
        }
        Applied {
            counts: vec![("restored", restored)],
            backup_key: Some(b.key.clone()),
            before: json!({"key": p.key, "length": p.length, "backup_key": b.key, "backup_jobs": b.jobs}),
            after: json!({"key": p.key, "restored": restored}),
            error,
            warnings: Vec::new(),
            ..Applied::default()
        }
    }
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &RestoreDlqArgs) -> Result<ExitCode> {
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        RestoreDlq {
            backup: args.backup.clone(),
        },
    )
}
