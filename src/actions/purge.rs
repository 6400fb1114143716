//! `qctl purge-dlq`: empties each target's dead-letter list without
//! blocking Redis. By default the list is renamed, in one script, to a
//! backup key in the same hash slot with an expiry (`--keep-backup`), so
//! the purge is O(1) on the server whatever the length and `restore-dlq`
//! can undo it; `--no-backup` frees it with UNLINK (in the background).

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::PurgeDlqArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::dead::DeadSet;
use crate::systems::{guard, lists};
use serde_json::json;
use std::time::Duration;

/// From this length on, how Redis frees the backup at expiry matters.
const LARGE: u64 = 100_000;

pub(crate) struct PurgeDlq {
    /// `None`: `--no-backup`.
    pub(crate) keep: Option<Duration>,
    /// `--queue`: only these queues' dead sets (systems that keep one per
    /// queue); empty: every dead set.
    pub(crate) queues: Vec<String>,
}

/// One dead set to purge.
pub(crate) struct PurgeSet {
    pub(crate) set: DeadSet,
    pub(crate) length: u64,
}

pub(crate) struct PurgePlan {
    sets: Vec<PurgeSet>,
    length: u64,
    /// Some primary has `lazyfree-lazy-expire no` (known only for large
    /// lists, and when CONFIG GET is allowed).
    sync_expiry: bool,
    memory_bytes: Option<u64>,
    warnings: Vec<String>,
}

impl PurgePlan {
    fn keys(&self) -> String {
        let keys: Vec<&str> = self.sets.iter().map(|s| s.set.key.as_str()).collect();
        match keys.len() {
            0 => "no dead set".to_string(),
            1..=3 => keys.join(", "),
            n => format!("{}, ... ({n} dead sets)", keys[..2].join(", ")),
        }
    }
}

/// The dead sets `queues` names (all when empty), with their lengths; a
/// key of another type, or a `--queue` this system cannot honour, fails
/// the target.
pub(crate) async fn chosen_sets(
    conn: &Conn,
    t: &ReadTarget,
    queues: &[String],
) -> std::result::Result<Vec<PurgeSet>, ContextError> {
    let all = t.system.dead_sets(conn).await.map_err(|e| conn.error(&e))?;
    let sets: Vec<DeadSet> = if queues.is_empty() {
        all
    } else {
        if let Some(shared) = all.iter().find(|s| s.queue.is_none()) {
            return Err(ContextError {
                context: conn.context.clone(),
                kind: ErrorKind::Config,
                message: format!(
                    "--queue: {} keeps one dead set for every queue ({}); leave --queue out to act on it",
                    t.system.kind(),
                    shared.key
                ),
            });
        }
        let names: Vec<&str> = all.iter().filter_map(|s| s.queue.as_deref()).collect();
        for q in queues {
            if !names.contains(&q.as_str()) {
                let hint = crate::output::did_you_mean(q, names.iter().copied())
                    .map(|s| format!("did you mean {s}? "))
                    .unwrap_or_default();
                return Err(ContextError {
                    context: conn.context.clone(),
                    kind: ErrorKind::Config,
                    message: format!(
                        "--queue {q}: no such queue here; {hint}queues: {}",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                });
            }
        }
        all.into_iter()
            .filter(|s| s.queue.as_ref().is_some_and(|q| queues.contains(q)))
            .collect()
    };
    if sets.len() == 1 {
        let set = sets.into_iter().next().expect("one set");
        let length = super::dead_length(conn, &set.key, set.key_store()).await?;
        return Ok(vec![PurgeSet { set, length }]);
    }
    // Many (a dead set per queue): a batch for all, not a round trip each.
    let keys: Vec<(&str, lists::Store)> = sets
        .iter()
        .map(|s| (s.key.as_str(), s.key_store()))
        .collect();
    let lengths = super::set_lengths(conn, &keys).await?;
    Ok(sets
        .into_iter()
        .zip(lengths)
        .map(|(set, length)| PurgeSet { set, length })
        .collect())
}

impl Action for PurgeDlq {
    const NAME: &'static str = "purge-dlq";
    const COUNTS: &'static [&'static str] = &["purged"];
    const KEEPS_BACKUPS: bool = true;
    const PROGRESS: bool = true;
    type Plan = PurgePlan;

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::PurgeDlq
    }

    fn headline(&self) -> String {
        match self.keep {
            Some(k) => format!(
                "purge-dlq: each dead set is moved to a backup kept {}",
                crate::output::duration(k)
            ),
            None => "purge-dlq --no-backup: each dead set is freed with UNLINK".into(),
        }
    }

    fn notes(&self) -> Vec<String> {
        match self.keep {
            Some(k) => vec![format!(
                "memory is freed only when a backup expires (in {}); until then `qctl get backups` lists it and `qctl restore-dlq` puts it back",
                crate::output::duration(k)
            )],
            None => vec!["with --no-backup the jobs cannot be restored".into()],
        }
    }

    /// Neither note applies when no target has a dead job: no backup is
    /// kept, nothing is freed.
    fn plan_notes(&self, jobs: u64) -> Vec<String> {
        if jobs == 0 { Vec::new() } else { self.notes() }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<PurgePlan, ContextError> {
        let sets = chosen_sets(conn, t, &self.queues).await?;
        let length: u64 = sets.iter().map(|s| s.length).sum();
        let mut sync_expiry = false;
        let mut memory_bytes = None;
        if self.keep.is_some() && length >= LARGE {
            for node in conn.nodes() {
                let mut c = redis::cmd("CONFIG");
                c.arg("GET").arg("lazyfree-lazy-expire");
                if let Ok(v) = conn.query_node::<Vec<String>>(&node, &c).await
                    && v.get(1).is_some_and(|v| v == "no")
                {
                    sync_expiry = true;
                }
            }
            if let Some(big) = sets.iter().max_by_key(|s| s.length)
                && !big.set.windowed()
            {
                let mut c = redis::cmd("MEMORY");
                c.arg("USAGE").arg(&big.set.key).arg("SAMPLES").arg(5);
                memory_bytes = conn.query::<Option<u64>>(&c).await.ok().flatten();
            }
        }
        let mut warnings = Vec::new();
        // One set stands for all: the same commands on keys of the same
        // patterns. The backup name is a placeholder of the same slot.
        if let Some(first) = sets.iter().find(|s| s.length > 0) {
            let backup = lists::new_backup_key(&first.set.key, jiff::Timestamp::now());
            let needed = first.set.purge_needed(self.keep.map(|_| backup.as_str()));
            if let guard::Checked::Unknown(why) = guard::may_run(conn, &needed).await? {
                warnings.push(why);
            }
            warnings.extend(guard::memory_warning(conn).await);
        }
        Ok(PurgePlan {
            sets,
            length,
            sync_expiry,
            memory_bytes,
            warnings,
        })
    }

    fn view(&self, p: &PurgePlan) -> PlanView {
        let detail = if p.length == 0 {
            format!("{} is empty: nothing to purge", p.keys())
        } else {
            match self.keep {
                Some(k) => format!(
                    "{} -> backup (same slot), expires in {}",
                    p.keys(),
                    crate::output::duration(k)
                ),
                None => format!("{} -> UNLINK, no backup", p.keys()),
            }
        };
        let mut warnings = p.warnings.clone();
        if p.sync_expiry {
            warnings.push(format!(
                "lazyfree-lazy-expire is no: when the backup expires, Redis frees its {} jobs{} synchronously and blocks meanwhile; run CONFIG SET lazyfree-lazy-expire yes first, or use --no-backup (UNLINK frees in the background)",
                p.length,
                p.memory_bytes
                    .map(|b| format!(" (~{})", crate::output::human_bytes(b)))
                    .unwrap_or_default()
            ));
        }
        PlanView {
            count: p.length,
            detail,
            warnings,
            ..PlanView::default()
        }
    }

    fn dry_counts(&self, p: &PurgePlan) -> Vec<(&'static str, u64)> {
        vec![("purged", p.length)]
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &PurgePlan, step: Step) -> Applied {
        let mut purged = 0u64;
        let mut error = None;
        let mut done: Vec<serde_json::Value> = Vec::new();
        let mut backups: Vec<String> = Vec::new();
        'sets: for s in p.sets.iter().filter(|s| s.length > 0 || !s.set.windowed()) {
            let backup = self
                .keep
                .map(|_| lists::new_backup_key(&s.set.key, jiff::Timestamp::now()));
            let keep = self.keep.unwrap_or_default();
            let mut here = 0u64;
            loop {
                if step.interrupted() {
                    error = Some(ContextError {
                        context: conn.context.clone(),
                        kind: ErrorKind::Interrupted,
                        message: format!(
                            "interrupted after purging {purged} jobs; {} holds the rest: run purge-dlq again to finish{}",
                            s.set.key,
                            backup
                                .as_ref()
                                .filter(|_| here > 0)
                                .map(|b| format!(" (the part purged is in {b}; restore-dlq --backup {b} brings it back)"))
                                .unwrap_or_default()
                        ),
                    });
                    break 'sets;
                }
                match s.set.purge_step(conn, backup.as_deref(), keep).await {
                    Ok((n, left)) => {
                        here += n;
                        purged += n;
                        step.progress.inc(n);
                        if left == 0 || n == 0 {
                            break;
                        }
                    }
                    Err(e) => {
                        let mut ce = guard::step_error(conn, &e);
                        if here > 0 {
                            ce.message = format!(
                                "{} (after purging {here} jobs of {}{}; run purge-dlq again to finish)",
                                ce.message,
                                s.set.key,
                                backup
                                    .as_ref()
                                    .map(|b| format!(" into {b}"))
                                    .unwrap_or_default()
                            );
                        }
                        error = Some(ce);
                        if here > 0
                            && let Some(b) = &backup
                        {
                            backups.push(b.clone());
                        }
                        break 'sets;
                    }
                }
            }
            let kept = backup.filter(|_| here > 0);
            done.push(json!({
                "queue": s.set.queue,
                "key": s.set.key,
                "purged": here,
                "backup_key": kept,
            }));
            backups.extend(kept);
        }
        let single = p.sets.len() == 1;
        let key = p.sets.first().map(|s| s.set.key.clone());
        let backup_key = if backups.len() == 1 {
            backups.first().cloned()
        } else {
            None
        };
        let before = if single {
            json!({"key": key, "length": purged, "planned": p.length})
        } else {
            json!({"sets": p.sets.iter().map(|s| json!({"queue": s.set.queue, "key": s.set.key, "length": s.length})).collect::<Vec<_>>(), "planned": p.length})
        };
        let after = if single {
            json!({
                "key": key,
                "length": if error.is_some() { json!(null) } else { json!(0) },
                "backup_key": backup_key,
                "backup_expires_in_ms": backup_key.as_ref().and(self.keep).map(|k| k.as_millis() as u64),
            })
        } else {
            json!({
                "sets": done,
                "backup_keys": backups,
                "backup_expires_in_ms": (!backups.is_empty()).then_some(()).and(self.keep).map(|k| k.as_millis() as u64),
            })
        };
        Applied {
            counts: vec![("purged", purged)],
            before,
            after,
            backup_key,
            error,
            ..Applied::default()
        }
    }
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &PurgeDlqArgs) -> Result<ExitCode> {
    let action = PurgeDlq {
        keep: (!args.no_backup).then_some(args.keep_backup),
        queues: args.queues.clone(),
    };
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        action,
    )
}
