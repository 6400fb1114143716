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
use crate::systems::dead::DeadSet;
use crate::systems::guard;
use crate::systems::lists::Backup;
use serde_json::json;

/// Jobs per restore step of a list or a sorted set of payloads (hashed
/// jobs go by `hashed::WINDOW`).
const BATCH: u64 = 1_000;

pub(crate) struct RestoreDlq {
    pub(crate) backup: Option<String>,
    /// `--queue`: only these queues' dead sets; empty: every dead set.
    pub(crate) queues: Vec<String>,
}

/// One backup to put back, and the dead set it goes to.
pub(crate) struct RestoreItem {
    set: DeadSet,
    length: u64,
    backup: Backup,
}

pub(crate) struct RestorePlan {
    /// The dead sets looked at (for a plan that finds no backup).
    keys: Vec<String>,
    items: Vec<RestoreItem>,
    warnings: Vec<String>,
}

impl RestorePlan {
    fn jobs(&self) -> u64 {
        self.items.iter().map(|i| i.backup.jobs).sum()
    }
}

impl Action for RestoreDlq {
    const NAME: &'static str = "restore-dlq";
    const COUNTS: &'static [&'static str] = &["restored"];
    const PROGRESS: bool = true;
    type Plan = RestorePlan;

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::RestoreDlq
    }

    fn headline(&self) -> String {
        match &self.backup {
            Some(k) => format!("restore-dlq: backup {k} goes back into its dead set"),
            None => "restore-dlq: the newest backup of each dead set goes back into it, after the jobs that arrived since".into(),
        }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<RestorePlan, ContextError> {
        let sets = super::purge::chosen_sets(conn, t, &self.queues).await?;
        let keys: Vec<String> = sets.iter().map(|s| s.set.key.clone()).collect();
        let only: Vec<DeadSet> = sets.iter().map(|s| s.set.clone()).collect();
        let all = DeadSet::backups_of(conn, &only)
            .await
            .map_err(|e| conn.error(&e))?;
        let mut items = Vec::new();
        for (s, backups) in sets.into_iter().zip(all) {
            let chosen = match &self.backup {
                None => backups.into_iter().next(),
                Some(k) => backups.into_iter().find(|b| b.key == *k),
            };
            if let Some(backup) = chosen {
                items.push(RestoreItem {
                    set: s.set,
                    length: s.length,
                    backup,
                });
            }
        }
        if let Some(k) = &self.backup
            && items.is_empty()
        {
            return Err(ContextError {
                context: conn.context.clone(),
                kind: ErrorKind::Config,
                message: format!(
                    "no backup named {k} of {} here; `qctl get backups` lists them",
                    keys.join(", ")
                ),
            });
        }
        let mut warnings = Vec::new();
        if let Some(first) = items.first() {
            if let guard::Checked::Unknown(why) =
                guard::may_run(conn, &first.set.restore_needed(&first.backup.key)).await?
            {
                warnings.push(why);
            }
            warnings.extend(guard::memory_warning(conn).await);
        }
        Ok(RestorePlan {
            keys,
            items,
            warnings,
        })
    }

    fn view(&self, p: &RestorePlan) -> PlanView {
        let detail = match p.items.as_slice() {
            [] => format!(
                "no backup of {}: nothing to restore",
                match p.keys.len() {
                    0 => "any dead set".to_string(),
                    1..=3 => p.keys.join(", "),
                    n => format!("{n} dead sets"),
                }
            ),
            [i] => {
                if i.length == 0 {
                    format!("{} -> {} (empty now)", i.backup.key, i.set.key)
                } else {
                    format!(
                        "{} -> {} (now {}; the restored ones are consumed first, being older)",
                        i.backup.key,
                        i.set.key,
                        crate::output::count(i.length, "job")
                    )
                }
            }
            many => {
                let names: Vec<String> = many
                    .iter()
                    .take(3)
                    .map(|i| {
                        format!(
                            "{} ({})",
                            i.set.queue.as_deref().unwrap_or(&i.set.key),
                            i.backup.jobs
                        )
                    })
                    .collect();
                format!(
                    "{} backups -> their dead sets: {}{}",
                    many.len(),
                    names.join(", "),
                    if many.len() > 3 { ", ..." } else { "" }
                )
            }
        };
        PlanView {
            count: p.jobs(),
            detail,
            warnings: if p.items.is_empty() {
                Vec::new()
            } else {
                p.warnings.clone()
            },
            ..PlanView::default()
        }
    }

    fn dry_counts(&self, p: &RestorePlan) -> Vec<(&'static str, u64)> {
        vec![("restored", p.jobs())]
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &RestorePlan, step: Step) -> Applied {
        if p.items.is_empty() {
            return Applied {
                counts: vec![("restored", 0)],
                before: json!({"key": p.keys.first(), "backup_key": null}),
                after: json!({"key": p.keys.first()}),
                ..Applied::default()
            };
        }
        let mut restored = 0u64;
        let mut conflicts = 0u64;
        let mut expired = 0u64;
        let mut error = None;
        let mut done: Vec<serde_json::Value> = Vec::new();
        'items: for item in &p.items {
            let b = &item.backup;
            let n = if item.set.windowed() {
                crate::systems::hashed::WINDOW
            } else {
                BATCH
            };
            let (mut here, mut clash, mut gone) = (0u64, 0u64, 0u64);
            loop {
                if step.interrupted() {
                    error = Some(ContextError {
                        context: conn.context.clone(),
                        kind: ErrorKind::Interrupted,
                        message: format!(
                            "interrupted after restoring {} jobs; the rest stays in {} (now without expiry): run restore-dlq again to finish",
                            restored + here,
                            b.key
                        ),
                    });
                    break;
                }
                match item.set.restore_step(conn, &b.key, clash, n).await {
                    Ok(r) => {
                        here += r.restored;
                        clash += r.conflicts;
                        gone += r.expired;
                        step.progress.inc(r.restored + r.expired);
                        if r.left <= clash || r.restored + r.expired + r.conflicts == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        let mut ce = guard::step_error(conn, &e);
                        ce.message = format!(
                            "{} (after restoring {} jobs; the rest stays in {}: run restore-dlq again to finish)",
                            ce.message,
                            restored + here,
                            b.key
                        );
                        error = Some(ce);
                        break;
                    }
                }
            }
            restored += here;
            conflicts += clash;
            expired += gone;
            let mut d = json!({
                "queue": item.set.queue,
                "key": item.set.key,
                "backup_key": b.key,
                "restored": here,
            });
            if item.set.windowed() {
                d["conflicts"] = json!(clash);
                d["expired"] = json!(gone);
            }
            done.push(d);
            if error.is_some() {
                break 'items;
            }
        }
        let mut warnings = Vec::new();
        if conflicts > 0 {
            warnings.push(format!(
                "{conflicts} jobs were left in their backup: a job of the same id exists again, and qctl never overwrites one"
            ));
        }
        if expired > 0 {
            warnings.push(format!(
                "{expired} jobs were dropped: their own expiry passed while they were in the backup, as the queue system would have dropped them"
            ));
        }
        let (before, after, backup_key) = if let [i] = p.items.as_slice() {
            let mut after = json!({"key": i.set.key, "restored": restored});
            if i.set.windowed() {
                after["conflicts"] = json!(conflicts);
                after["expired"] = json!(expired);
            }
            (
                json!({"key": i.set.key, "length": i.length, "backup_key": i.backup.key, "backup_jobs": i.backup.jobs}),
                after,
                Some(i.backup.key.clone()),
            )
        } else {
            (
                json!({"sets": p.items.iter().map(|i| json!({"queue": i.set.queue, "key": i.set.key, "length": i.length, "backup_key": i.backup.key, "backup_jobs": i.backup.jobs})).collect::<Vec<_>>()}),
                json!({"sets": done, "restored": restored, "conflicts": conflicts, "expired": expired}),
                None,
            )
        };
        Applied {
            counts: vec![("restored", restored)],
            backup_key,
            before,
            after,
            error,
            warnings,
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
            queues: args.queues.clone(),
        },
    )
}
