//! `qctl requeue --orphaned [--to QUEUE] [--limit N]`: the in-flight jobs
//! of dead workers (go-redis-work-queue processing lists without a
//! heartbeat) go back to the work queue each job's `priority` names (or
//! `--to`), each exactly once, never a live worker's. The protocol is in
//! `systems::gowork::orphaned`.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::RequeueArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::System;
use crate::systems::gowork::GoRedisWorkQueue;
use crate::systems::gowork::orphaned::{self as orph, Orphan, Routes, Took};
use crate::systems::guard;
use crate::systems::requeue::hashed::{Choice, HashedMove};
use crate::systems::requeue::{self as mv, NO_LIMIT};
use serde_json::json;
use std::time::Duration;

/// Workers whose commands `ACL DRYRUN` checks in pre-flight (their keys
/// follow the same patterns; every step checks its own in the script).
const ACL_SAMPLE: usize = 20;

pub(crate) struct RequeueOrphaned {
    pub(crate) to: Option<String>,
    pub(crate) limit: Option<u64>,
}

/// A target's plan: go-redis-work-queue's processing lists, or a system
/// whose jobs live in hashes (BullMQ's active jobs without a lock, RQ's
/// started jobs past their expiry).
pub(crate) enum OrphanPlans {
    Gowork(OrphanPlan),
    Hashed(HashedOrphanPlan),
}

pub(crate) struct HashedOrphanPlan {
    /// Per queue: the orphans found, and how one goes back.
    sets: Vec<HashedMove>,
    acl: guard::Checked,
    memory: Option<String>,
    count: u64,
}

pub(crate) struct OrphanPlan {
    acl: guard::Checked,
    memory: Option<String>,
    routes: Routes,
    /// Dead workers, confirmed by two readings 250 ms apart.
    orphans: Vec<Orphan>,
    /// Workers that looked dead once but not at the second reading.
    came_back: u64,
    /// (processing key, staged jobs) an earlier run left.
    staged: Vec<(String, u64)>,
    /// Planned jobs per destination (index into `routes.keys`).
    per_dest: Vec<u64>,
    fell_back: u64,
    count: u64,
    cross_slot: bool,
    heartbeat_apart: bool,
}

fn cerr(conn: &Conn, kind: ErrorKind, message: String) -> ContextError {
    ContextError {
        context: conn.context.clone(),
        kind,
        message,
    }
}

fn gowork(system: &System) -> Option<&GoRedisWorkQueue> {
    #[allow(unreachable_patterns)]
    match system {
        System::GoRedisWorkQueue(g) => Some(g),
        _ => None,
    }
}

fn slot_of(k: &str) -> u16 {
    crate::systems::slots::key_slot(k.as_bytes())
}

impl Action for RequeueOrphaned {
    const NAME: &'static str = "requeue";

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::RequeueOrphaned
    }
    const COUNTS: &'static [&'static str] = &["moved"];
    const PROGRESS: bool = true;
    type Plan = OrphanPlans;

    fn extra_fields(&self) -> &'static [&'static str] {
        &["moved_to"]
    }

    fn headline(&self) -> String {
        let to = match &self.to {
            Some(q) => format!("the back of {q}"),
            None => {
                "their queue (go-redis-work-queue: the work queue each job's priority names)".into()
            }
        };
        let limit = match self.limit {
            Some(l) => format!(" (at most {l} per context)"),
            None => String::new(),
        };
        format!(
            "requeue --orphaned: in-flight jobs no live worker holds (go-redis-work-queue: processing lists without a heartbeat, seen twice 250 ms apart; BullMQ: active jobs without a lock; RQ: started jobs past their expiry) go to {to}{limit}"
        )
    }

    fn dry_extra(&self, p: &OrphanPlans) -> serde_json::Map<String, serde_json::Value> {
        match p {
            OrphanPlans::Gowork(p) => self.dry_extra_gowork(p),
            OrphanPlans::Hashed(_) => serde_json::Map::new(),
        }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<OrphanPlans, ContextError> {
        if gowork(&t.system).is_some() {
            self.plan_gowork(conn, t).await.map(OrphanPlans::Gowork)
        } else {
            self.plan_hashed(conn, t).await.map(OrphanPlans::Hashed)
        }
    }

    fn view(&self, p: &OrphanPlans) -> PlanView {
        match p {
            OrphanPlans::Gowork(p) => self.view_gowork(p),
            OrphanPlans::Hashed(p) => {
                let busy: Vec<String> = p
                    .sets
                    .iter()
                    .filter_map(|m| {
                        let n = m.ids.as_ref().map_or(0, Vec::len);
                        (n > 0).then(|| format!("{n} in {}", m.set))
                    })
                    .take(4)
                    .collect();
                let mut warnings = Vec::new();
                if let guard::Checked::Unknown(why) = &p.acl {
                    warnings.push(why.clone());
                }
                warnings.extend(p.memory.clone());
                PlanView {
                    count: p.count,
                    detail: if busy.is_empty() {
                        "no orphaned job".into()
                    } else {
                        format!(
                            "{} -> back to their queues, each checked again in its step (still orphaned: no lock, or past its expiry), atomic per job",
                            busy.join(", ")
                        )
                    },
                    warnings,
                    ..PlanView::default()
                }
            }
        }
    }

    fn dry_counts(&self, p: &OrphanPlans) -> Vec<(&'static str, u64)> {
        match p {
            OrphanPlans::Gowork(p) => self.dry_gowork(p),
            OrphanPlans::Hashed(p) => vec![("moved", p.count)],
        }
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &OrphanPlans, step: Step) -> Applied {
        match p {
            OrphanPlans::Gowork(p) => self.apply_gowork(conn, p, step).await,
            OrphanPlans::Hashed(p) => {
                let sets: Vec<(&HashedMove, u64)> = p
                    .sets
                    .iter()
                    .map(|m| (m, m.ids.as_ref().map_or(0, |i| i.len() as u64)))
                    .filter(|(_, n)| *n > 0)
                    .collect();
                let before = json!({
                    "orphaned_jobs": p.count,
                    "from": p.sets.iter().map(|m| m.set.clone()).collect::<Vec<_>>(),
                    "planned": p.count,
                });
                super::requeue::run_hashed_moves(
                    conn,
                    &sets,
                    &Choice::default(),
                    self.limit.unwrap_or(NO_LIMIT),
                    &step,
                )
                .await
                .applied(before)
            }
        }
    }
}

impl RequeueOrphaned {
    fn dry_extra_gowork(&self, p: &OrphanPlan) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("moved_to".into(), per_dest_json(&p.routes, &p.per_dest));
        m
    }

    async fn plan_gowork(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<OrphanPlan, ContextError> {
        let Some(g) = gowork(&t.system) else {
            return Err(cerr(
                conn,
                ErrorKind::Config,
                format!(
                    "not supported by {}: requeue --orphaned knows go-redis-work-queue processing lists only",
                    t.system.kind()
                ),
            ));
        };
        let pp = g.processing_pattern();
        let hp = g.heartbeat_pattern();
        let routes = match &self.to {
            Some(to) => {
                let dst = super::requeue::destination(&t.system, to);
                if guard::is_side_key(&dst) || pp.id(&dst).is_some() || hp.id(&dst).is_some() {
                    return Err(cerr(
                        conn,
                        ErrorKind::Config,
                        format!(
                            "--to {to} is a processing list, a heartbeat or one of qctl's own side keys, not a queue; nothing was changed"
                        ),
                    ));
                }
                Routes::fixed(&dst)
            }
            None => {
                let queues: Vec<(String, String)> = t
                    .system
                    .work_queues()
                    .into_iter()
                    .map(|q| (q.name, q.key))
                    .collect();
                Routes::by_priority(&queues).ok_or_else(|| {
                    cerr(
                        conn,
                        ErrorKind::Config,
                        "the schema names no work queue: pass --to QUEUE".into(),
                    )
                })?
            }
        };
        for d in &routes.keys {
            super::list_length(conn, d).await?;
        }
        let figures = t.system.figures(conn).await.map_err(|e| conn.error(&e))?;
        let candidates: Vec<(String, String, String)> = figures
            .orphans
            .iter()
            .map(|o| (o.worker.clone(), o.key.clone(), hp.key(&o.worker)))
            .collect();
        let pairs: Vec<(String, String)> = candidates
            .iter()
            .map(|(_, p, h)| (p.clone(), h.clone()))
            .collect();
        let mut orphans = Vec::new();
        if !pairs.is_empty() {
            let first = orph::read(conn, &pairs).await.map_err(|e| conn.error(&e))?;
            tokio::time::sleep(Duration::from_millis(250)).await;
            let second = orph::read(conn, &pairs).await.map_err(|e| conn.error(&e))?;
            orphans = orph::confirmed(&candidates, &first, &second);
        }
        let came_back = (candidates.len() - orphans.len()) as u64;
        // Only cross-slot batches are staged, so only a cluster can hold
        // leftovers (one SCAN of its keyspace for their markers).
        let staged = if conn.is_cluster() {
            orph::staged_leftovers(conn, |p| pp.id(p).is_some())
                .await
                .map_err(|e| conn.error(&e))?
        } else {
            Vec::new()
        };
        let limit = self.limit.unwrap_or(u64::MAX);
        let mut per_dest = vec![0u64; routes.keys.len()];
        let (mut count, mut fell_back) = (0u64, 0u64);
        for o in &orphans {
            if count >= limit {
                break;
            }
            let (n, f) = orph::count(conn, o, &routes, limit - count, &mut per_dest)
                .await
                .map_err(|e| conn.error(&e))?;
            count += n;
            fell_back += f;
        }
        let mut needed = Vec::new();
        let sample = orphans
            .iter()
            .map(|o| (o.processing.clone(), o.heartbeat.clone()))
            .chain(staged.iter().map(|(p, _)| {
                let w = pp.id(p).unwrap_or_default();
                (p.clone(), hp.key(w))
            }))
            .take(ACL_SAMPLE);
        for (p, h) in sample {
            needed.extend(orph::needed(conn, &p, &h, &routes));
        }
        let acl = guard::may_run(conn, &needed).await?;
        let memory = guard::memory_warning(conn).await;
        let cross_slot = conn.is_cluster()
            && orphans.iter().any(|o| {
                routes
                    .keys
                    .iter()
                    .any(|d| slot_of(d) != slot_of(&o.processing))
            });
        let heartbeat_apart = conn.is_cluster()
            && orphans
                .iter()
                .any(|o| slot_of(&o.heartbeat) != slot_of(&o.processing));
        Ok(OrphanPlan {
            acl,
            memory,
            routes,
            orphans,
            came_back,
            staged,
            per_dest,
            fell_back,
            count,
            cross_slot,
            heartbeat_apart,
        })
    }

    fn view_gowork(&self, p: &OrphanPlan) -> PlanView {
        let jobs: u64 = p.orphans.iter().map(|o| o.len).sum();
        let to: Vec<String> = p
            .routes
            .keys
            .iter()
            .zip(&p.per_dest)
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{n} -> {k}"))
            .collect();
        let how = if p.cross_slot {
            "across slots, through a staging list, exactly once per batch"
        } else {
            "atomic per job"
        };
        let detail = if p.orphans.is_empty() {
            "no orphaned worker".to_string()
        } else {
            format!(
                "{} orphaned workers ({jobs} jobs): {}, {how}",
                p.orphans.len(),
                if to.is_empty() {
                    "none".into()
                } else {
                    to.join(", ")
                }
            )
        };
        let mut warnings = Vec::new();
        if p.fell_back > 0 {
            let k = &p.routes.keys[p.routes.fallback];
            warnings.push(format!(
                "{} jobs have no priority naming a work queue (or are not JSON): they go to {k}, the lowest-priority work queue",
                p.fell_back
            ));
        }
        if p.came_back > 0 {
            warnings.push(format!(
                "{} workers looked orphaned but were alive at the second reading (250 ms later): left alone",
                p.came_back
            ));
        }
        let staged: u64 = p.staged.iter().map(|(_, n)| n).sum();
        if !p.staged.is_empty() {
            warnings.push(format!(
                "an earlier run was cut short: {staged} staged jobs beside {} processing lists are put in place first",
                p.staged.len()
            ));
        }
        if p.heartbeat_apart {
            warnings.push(
                "heartbeat keys live in other slots than the processing lists: each is checked by a read just before the step, so a worker that comes back in that gap may run its in-flight job twice (never loses it)".into(),
            );
        }
        if let guard::Checked::Unknown(why) = &p.acl {
            warnings.push(why.clone());
        }
        warnings.extend(p.memory.clone());
        PlanView {
            count: p.count,
            detail,
            warnings,
            ..PlanView::default()
        }
    }

    fn dry_gowork(&self, p: &OrphanPlan) -> Vec<(&'static str, u64)> {
        vec![("moved", p.count)]
    }

    async fn apply_gowork(&self, conn: &Conn, p: &OrphanPlan, step: Step) -> Applied {
        let holder = mv::holder();
        let before = json!({
            "orphaned_workers": p.orphans.len(),
            "orphaned_jobs": p.orphans.iter().map(|o| o.len).sum::<u64>(),
            "planned": p.count,
            "planned_to": per_dest_json(&p.routes, &p.per_dest),
        });
        let limit = self.limit.unwrap_or(NO_LIMIT);
        let mut per_dest = vec![0u64; p.routes.keys.len()];
        let mut moved = 0u64;
        let mut workers: Vec<serde_json::Value> = Vec::new();
        let mut error: Option<ContextError> = None;
        let mut recovered = 0u64;

        // Batches an earlier run staged beside lists that are empty now.
        for (processing, _) in &p.staged {
            if p.orphans.iter().any(|o| &o.processing == processing) {
                continue;
            }
            let k = orph::side_keys(processing);
            match with_lock(conn, &k, &holder, mv::recover(conn, &k, &holder)).await {
                Ok(r) => recovered += r.pushed + r.already_pushed,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }

        for o in &p.orphans {
            if error.is_some() {
                break;
            }
            if moved >= limit {
                break;
            }
            if step.interrupted() {
                error = Some(cerr(
                    conn,
                    ErrorKind::Interrupted,
                    format!("interrupted (Ctrl-C) after moving {moved} jobs"),
                ));
                break;
            }
            let k = orph::side_keys(&o.processing);
            match mv::lock(conn, &k.lock, &holder, "requeue --orphaned").await {
                Ok(Ok(())) => {}
                Ok(Err(msg)) => {
                    error = Some(cerr(conn, ErrorKind::Redis, msg));
                    break;
                }
                Err(e) => {
                    error = Some(conn.error(&e));
                    break;
                }
            }
            let mut mine = vec![0u64; p.routes.keys.len()];
            let mut outcome: Option<&str> = None;
            let run = async {
                let r = mv::recover(conn, &k, &holder).await?;
                recovered += r.pushed + r.already_pushed;
                crate::systems::fault("orphan-before-take");
                let mut left = o.len;
                let mut pacer = mv::Pacer::default();
                while left > 0 && moved < limit {
                    if step.interrupted() {
                        break;
                    }
                    let window = pacer.window().min(left).min(limit - moved);
                    match orph::take(conn, o, &p.routes, left, window, &holder).await? {
                        Took::Moved(c, per, _) => {
                            pacer.record(&c);
                            left -= c.taken.min(left);
                            moved += c.moved;
                            step.progress.inc(c.moved);
                            for (d, n) in per {
                                mine[d] += n;
                            }
                        }
                        Took::Alive => {
                            outcome = Some("its heartbeat is back: the worker is alive, its jobs were left alone");
                            break;
                        }
                        Took::Changed => {
                            outcome = Some("its processing list changed since the plan (the worker is alive, or something else took its jobs): left alone");
                            break;
                        }
                        Took::Empty => break,
                    }
                }
                redis::RedisResult::Ok(())
            }
            .await;
            let _ = mv::unlock(conn, &k.lock, &holder).await;
            for (d, n) in mine.iter().enumerate() {
                per_dest[d] += n;
            }
            workers.push(json!({
                "worker": o.worker,
                "processing": o.processing,
                "moved": mine.iter().sum::<u64>(),
                "to": per_dest_json(&p.routes, &mine),
                "skipped": outcome,
            }));
            if let Err(e) = run {
                error = Some(step_error(conn, &k, &e, moved).await);
                break;
            }
        }
        if error.is_none() && step.interrupted() && moved < p.count {
            error = Some(cerr(
                conn,
                ErrorKind::Interrupted,
                format!("interrupted (Ctrl-C) after moving {moved} jobs"),
            ));
        }
        let moved_to = per_dest_json(&p.routes, &per_dest);
        let mut extra = serde_json::Map::new();
        extra.insert("moved_to".into(), moved_to.clone());
        Applied {
            counts: vec![("moved", moved)],
            before,
            after: json!({
                "moved": moved,
                "moved_to": moved_to,
                "workers": workers,
                "recovered_from_earlier_run": recovered,
            }),
            error,
            extra,
            ..Applied::default()
        }
    }

    async fn plan_hashed(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<HashedOrphanPlan, ContextError> {
        let mut sets = t
            .system
            .orphan_moves(conn)
            .await
            .map_err(|e| conn.error(&e))?;
        if let Some(to) = &self.to
            && sets.iter().any(|m| !m.takes_to)
        {
            return Err(cerr(
                conn,
                ErrorKind::Config,
                format!(
                    "--to {to}: a {} job belongs to its own queue (its keys are named after it): leave --to out",
                    t.system.kind()
                ),
            ));
        }
        let mut room = self.limit.unwrap_or(u64::MAX);
        for m in &mut sets {
            if let Some(ids) = &mut m.ids {
                ids.truncate(room.min(usize::MAX as u64) as usize);
                room -= ids.len() as u64;
            }
        }
        let count = sets
            .iter()
            .map(|m| m.ids.as_ref().map_or(0, |i| i.len() as u64))
            .sum();
        let acl = match sets
            .iter()
            .find(|m| m.ids.as_ref().is_some_and(|i| !i.is_empty()))
        {
            Some(m) => guard::may_run(conn, &m.needed()).await?,
            None => guard::Checked::Allowed,
        };
        let memory = guard::memory_warning(conn).await;
        Ok(HashedOrphanPlan {
            sets,
            acl,
            memory,
            count,
        })
    }
}

/// Runs `f` under the lock of `k`'s processing list.
async fn with_lock<T>(
    conn: &Conn,
    k: &mv::MoveKeys,
    holder: &str,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> std::result::Result<T, ContextError> {
    match mv::lock(conn, &k.lock, holder, "requeue --orphaned").await {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => return Err(cerr(conn, ErrorKind::Redis, msg)),
        Err(e) => return Err(conn.error(&e)),
    }
    let r = f.await;
    let _ = mv::unlock(conn, &k.lock, holder).await;
    match r {
        Ok(v) => Ok(v),
        Err(e) => Err(step_error(conn, k, &e, 0).await),
    }
}

fn per_dest_json(routes: &Routes, per: &[u64]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, n) in routes.keys.iter().zip(per) {
        if *n > 0 {
            m.insert(k.clone(), json!(n));
        }
    }
    serde_json::Value::Object(m)
}

/// A failed step in the user's words, with where any job outside the
/// processing list and the queues is, and that re-running finishes.
async fn step_error(
    conn: &Conn,
    k: &mv::MoveKeys,
    e: &redis::RedisError,
    moved: u64,
) -> ContextError {
    let mut ce = guard::step_error(conn, e);
    if guard::step_refusal(e).is_some() {
        ce.message = format!(
            "{}; grant the command to this user or use one that has it",
            ce.message
        );
    }
    let staged: Option<u64> = crate::systems::lists::length(conn, &k.staging).await.ok();
    let where_ = match staged {
        Some(0) => format!(
            "no job is outside {} or the work queues: run the same requeue --orphaned again to move the rest",
            k.src
        ),
        Some(n) => format!(
            "{n} jobs on their way wait in {}; run the same requeue --orphaned again to put them in place (nothing is lost)",
            k.staging
        ),
        None => format!(
            "jobs may wait in {}; run the same requeue --orphaned again to put them in place",
            k.staging
        ),
    };
    ce.message = format!("{} (after moving {moved} jobs; {where_})", ce.message);
    ce
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &RequeueArgs) -> Result<ExitCode> {
    if let Some(to) = &args.to {
        super::requeue::check_destination(config, settings, to)?;
    }
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        RequeueOrphaned {
            to: args.to.clone(),
            limit: args.limit,
        },
    )
}
