//! `replicate` between contexts of a system that keeps each job in a hash
//! (BullMQ, RQ): per queue, the sets its system names (`copy_sets`), each one
//! `QueuePlan` locked and copied on its own by `systems::hashed_copy`:
//! hash and id copied, a job already there skipped, another job under
//! the same id counted under `conflicts` and left alone.

use super::{Names, QueuePlan, Replicate};
use crate::actions::run::Step;
use crate::cli::{ReplicateArgs, ReplicateWhat};
use crate::connect::Conn;
use crate::error::{CliError, ContextError, ErrorKind, Result};
use crate::inspect::read::ReadTarget;
use crate::systems::System;
use crate::systems::hashed_copy::{self, Copied, CopySet};
use crate::systems::lists::{self, ListState, Store};

/// Which parts of each queue a hashed copy takes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts {
    pub(crate) queues: bool,
    pub(crate) dead: bool,
}

impl Parts {
    fn each(self) -> impl Iterator<Item = bool> {
        [(self.queues, false), (self.dead, true)]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, dead)| dead)
    }
}

/// A set on the source and the same set on a target.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub(crate) src: CopySet,
    pub(crate) dst: CopySet,
}

/// The queues a hashed copy takes: `--queue` (queue names of the
/// source's system), else every queue of the schema, else (`queues:
/// None`) every queue found on the source.
pub(super) fn names(system: &System, args: &ReplicateArgs) -> Result<(Names, Parts)> {
    let parts = Parts {
        queues: args.what.contains(&ReplicateWhat::Queues),
        dead: args.what.contains(&ReplicateWhat::DeadLetter),
    };
    if !parts.queues && !parts.dead {
        let none = Names {
            queues: Some(Vec::new()),
            dead: None,
            jobs: false,
        };
        return Ok((none, parts));
    }
    let mut names: Vec<String> = Vec::new();
    if !args.queues.is_empty() {
        for q in &args.queues {
            if system.copy_sets(q, false).is_none() {
                return Err(CliError::usage(format!(
                    "--queue {q} is not a queue of the source's schema"
                ))
                .with_hint(format!(
                    "name a {} queue as its workers name it (mail, not mail:failed); --what dead-letter copies each queue's failed jobs",
                    system.kind()
                )));
            }
            if !names.contains(q) {
                names.push(q.clone());
            }
        }
    } else if system.discovers_queues() {
        let found = Names {
            queues: None,
            dead: None,
            jobs: true,
        };
        return Ok((found, parts));
    } else {
        for q in system.work_queues() {
            if system.copy_sets(&q.name, false).is_some() && !names.contains(&q.name) {
                names.push(q.name);
            }
        }
    }
    let listed = Names {
        jobs: !names.is_empty(),
        queues: Some(names),
        dead: None,
    };
    Ok((listed, parts))
}

/// The length of a set of ids, refusing a key of another type.
async fn length(conn: &Conn, key: &str, store: Store) -> std::result::Result<u64, ContextError> {
    match lists::store_state(conn, key, store).await {
        Ok(ListState::List(n)) => Ok(n),
        Ok(ListState::WrongType(t)) => Err(ContextError {
            context: conn.context.clone(),
            kind: ErrorKind::Config,
            message: format!("{key} holds a {t}, not a {}: left alone", store.type_name()),
        }),
        Err(e) => Err(conn.error(&e)),
    }
}

fn slot_error(conn: &Conn, set: &CopySet) -> ContextError {
    ContextError {
        context: conn.context.clone(),
        kind: ErrorKind::Config,
        message: format!(
            "{} and its job hashes are not in one hash slot: on Redis Cluster the queue's prefix needs a hash tag (BullMQ: prefix \"{{bull}}\"; RQ: \"{{rq}}\")",
            set.key
        ),
    }
}

impl Replicate {
    /// The plans of one queue on one target: one per set, with what a
    /// copy would do (read from both sides, nothing written).
    pub(super) async fn plan_hashed(
        &self,
        parts: Parts,
        src: &Conn,
        dst: &Conn,
        t: &ReadTarget,
        name: &str,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<Vec<QueuePlan>, ContextError> {
        let mut out = Vec::new();
        for dead in parts.each() {
            let s = self
                .source
                .system
                .copy_sets(name, dead)
                .ok_or_else(|| ContextError {
                    context: self.source.context().to_string(),
                    kind: ErrorKind::Config,
                    message: format!("the source's schema has no queue {name}"),
                })?;
            let d = t.system.copy_sets(name, dead).ok_or_else(|| ContextError {
                context: t.context().to_string(),
                kind: ErrorKind::Config,
                message: format!("this context's schema ({}) has no queue {name}", t.schema),
            })?;
            for (key, store, why) in &s.left {
                let n = length(src, key, *store)
                    .await
                    .map_err(|e| self.source_error(&e))?;
                if n > 0 {
                    warnings.push(format!("{name}: {n} jobs {why} are not copied"));
                }
            }
            for (ss, ds) in s.sets.into_iter().zip(d.sets) {
                if src.is_cluster() && !ss.one_slot() {
                    return Err(self.source_error(&slot_error(src, &ss)));
                }
                if dst.is_cluster() && !ds.one_slot() {
                    return Err(slot_error(dst, &ds));
                }
                if crate::systems::guard::is_side_key(&ds.key) {
                    return Err(ContextError {
                        context: t.context().to_string(),
                        kind: ErrorKind::Config,
                        message: format!("{} is one of qctl's own side keys, not a queue", ds.key),
                    });
                }
                let source_jobs = length(src, &ss.key, ss.store)
                    .await
                    .map_err(|e| self.source_error(&e))?;
                length(dst, &ds.key, ds.store).await?;
                let (mut c, mut missing) = (Copied::default(), 0);
                let mut n = 0;
                loop {
                    if source_jobs == 0 {
                        break;
                    }
                    let ids = hashed_copy::id_window(src, &ss, n)
                        .await
                        .map_err(|e| self.source_error(&src.error(&e)))?;
                    let (w, m) = hashed_copy::classify(src, dst, &ss, &ds, &ids)
                        .await
                        .map_err(|e| dst.error(&e))?;
                    c += w;
                    missing += m;
                    if (ids.len() as i64) < hashed_copy::WINDOW {
                        break;
                    }
                    n += 1;
                }
                if missing > 0 {
                    warnings.push(format!(
                        "{}: {missing} ids on the source have no job hash (expired or removed): not copied",
                        ss.name
                    ));
                }
                out.push(QueuePlan {
                    name: ss.name.clone(),
                    src: ss.key.clone(),
                    dst: ds.key.clone(),
                    store: ss.store,
                    register: None,
                    source_jobs,
                    staged: 0,
                    to_copy: c.copied,
                    duplicates: c.duplicates,
                    conflicts: c.conflicts,
                    hashed: Some(Box::new(Pair { src: ss, dst: ds })),
                });
            }
        }
        Ok(out)
    }
}

/// Copies one set: what it did, the source ids whose hash was gone, and
/// whether Ctrl-C stopped it; or how far it got and the error. Windows of
/// ids from the source, their hashes read, then one fenced step (or a few,
/// for big jobs) on the target per window.
pub(super) async fn copy_set(
    src: &Conn,
    dst: &Conn,
    q: &QueuePlan,
    step: &Step,
    holder: &str,
) -> std::result::Result<(Copied, u64, bool), (Copied, ContextError)> {
    let Some(pair) = q.hashed.as_deref() else {
        return Ok((Copied::default(), 0, false));
    };
    let (mut done, mut missing) = (Copied::default(), 0);
    let mut n = 0;
    loop {
        if step.interrupted() {
            return Ok((done, missing, true));
        }
        let ids = hashed_copy::id_window(src, &pair.src, n)
            .await
            .map_err(|e| (done, src.error(&e)))?;
        let last = (ids.len() as i64) < hashed_copy::WINDOW;
        let (jobs, gone) = hashed_copy::read_jobs(src, &pair.src, ids)
            .await
            .map_err(|e| (done, src.error(&e)))?;
        missing += gone;
        if !jobs.is_empty() {
            crate::systems::fault("hashed-copy-before-step");
            let c = hashed_copy::copy_jobs(dst, &pair.dst, holder, &jobs)
                .await
                .map_err(|e| (done, super::moving::fenced_error(dst, &e)))?;
            done += c;
            step.progress.inc(c.copied);
        }
        if last {
            return Ok((done, missing, false));
        }
        n += 1;
    }
}
