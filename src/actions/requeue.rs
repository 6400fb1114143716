//! `qctl requeue --to QUEUE [--limit N] [--match GLOB] [--reset-retries]`:
//! moves dead-letter jobs (the oldest first) back to a work queue, where
//! they join the back of the line like a fresh `LPUSH`. How no job is lost
//! or doubled while workers consume, on one server and across cluster
//! slots, is explained in `systems::requeue`.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::RequeueArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::glob::Glob;
use crate::systems::guard;
use crate::systems::lists::Store;
use crate::systems::requeue::hashed::{self as hashed_requeue, HashedMove};
use crate::systems::requeue::set::{self as set_requeue, Choice, SetKeys};
use crate::systems::requeue::{self as mv, Filter, Leftovers, MoveKeys, NO_LIMIT};
use crate::systems::{QueueRole, System};
use serde_json::json;

pub(crate) struct Requeue {
    /// `None`: each job back to its own queue (Sidekiq).
    pub(crate) to: Option<String>,
    pub(crate) from: crate::cli::RequeueFrom,
    pub(crate) limit: Option<u64>,
    pub(crate) glob: Option<Glob>,
    pub(crate) reset_retries: bool,
}

/// What a target's plan is: a list DLQ (go-redis-work-queue) or one of
/// Sidekiq's sorted sets.
pub(crate) enum RequeuePlan {
    List(ListPlan),
    Set(SetPlan),
    Hashed(HashedPlan),
}

/// Jobs kept in hashes, ids in one sorted set per queue (BullMQ, RQ).
pub(crate) struct HashedPlan {
    /// Each set with its length and the jobs that would move from it.
    sets: Vec<(HashedMove, u64, u64)>,
    acl: guard::Checked,
    memory: Option<String>,
    count: u64,
}

pub(crate) struct SetPlan {
    keys: SetKeys,
    acl: guard::Checked,
    memory: Option<String>,
    length: u64,
    count: u64,
    per_queue: Vec<(String, u64)>,
}

pub(crate) struct ListPlan {
    acl: guard::Checked,
    memory: Option<String>,
    keys: MoveKeys,
    length: u64,
    count: u64,
    same_slot: bool,
    left: Leftovers,
}

fn cerr(conn: &Conn, kind: ErrorKind, message: String) -> ContextError {
    ContextError {
        context: conn.context.clone(),
        kind,
        message,
    }
}

/// The destination key on one context: a work queue of its schema, or a
/// full key.
pub(crate) fn destination(system: &System, to: &str) -> String {
    system
        .queue_named(to)
        .map_or_else(|| to.to_string(), |q| q.key)
}

impl Requeue {
    fn describe_filter(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = &self.glob {
            parts.push(format!("matching {}", g.as_str()));
        }
        if let Some(l) = self.limit {
            parts.push(format!("at most {l} per context"));
        }
        if self.reset_retries {
            parts.push("retries reset to 0".into());
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }
}

impl Requeue {
    async fn plan_list(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<ListPlan, ContextError> {
        let src = t.system.dead_letter().key;
        let dst = destination(&t.system, self.to.as_deref().unwrap_or_default());
        if dst == src {
            return Err(cerr(
                conn,
                ErrorKind::Config,
                format!(
                    "--to {} is the dead-letter queue itself",
                    self.to.as_deref().unwrap_or_default()
                ),
            ));
        }
        if guard::is_side_key(&dst) {
            return Err(cerr(
                conn,
                ErrorKind::Config,
                format!(
                    "--to {} is one of qctl's own side keys (a lock, staging list, backup or receipt), not a queue; nothing was changed",
                    self.to.as_deref().unwrap_or_default()
                ),
            ));
        }
        let keys = MoveKeys::new(&src, &dst);
        let length = super::list_length(conn, &src).await?;
        super::list_length(conn, &dst).await?;
        let left = mv::leftovers(conn, &keys)
            .await
            .map_err(|e| conn.error(&e))?;
        let acl = guard::may_run(conn, &keys.needed(keys.same_slot(conn))).await?;
        let memory = guard::memory_warning(conn).await;
        let limit = self.limit.unwrap_or(u64::MAX);
        let count = match &self.glob {
            None => length.min(limit),
            Some(g) => mv::count_matching(conn, &src, g, limit)
                .await
                .map_err(|e| conn.error(&e))?,
        };
        Ok(ListPlan {
            acl,
            memory,
            same_slot: keys.same_slot(conn),
            keys,
            length,
            count,
            left,
        })
    }

    fn view_list(&self, p: &ListPlan) -> PlanView {
        let how = if p.same_slot {
            "atomic per job"
        } else {
            "across slots, through a staging list, exactly once per batch"
        };
        let mut warnings = Vec::new();
        if p.left.staged > 0 || p.left.kept > 0 {
            warnings.push(format!(
                "an earlier run was cut short: {} staged and {} set-aside jobs are put back in place first",
                p.left.staged, p.left.kept
            ));
        }
        if let guard::Checked::Unknown(why) = &p.acl {
            warnings.push(why.clone());
        }
        warnings.extend(p.memory.clone());
        if let Some(h) = &p.left.lock_holder {
            warnings.push(format!(
                "another requeue holds the lock on {} ({h})",
                p.keys.src
            ));
        }
        PlanView {
            count: p.count,
            detail: format!(
                "{} ({} jobs) -> {}, {how}",
                p.keys.src, p.length, p.keys.dst
            ),
            warnings,
            ..PlanView::default()
        }
    }

    fn dry_list(&self, p: &ListPlan) -> Vec<(&'static str, u64)> {
        vec![("moved", p.count)]
    }

    async fn apply_list(&self, conn: &Conn, p: &ListPlan, step: &Step) -> Applied {
        let k = &p.keys;
        let holder = mv::holder();
        let before =
            json!({"from": k.src, "to": k.dst, "dead_letter": p.length, "planned": p.count});
        let mut moved = 0u64;
        let fail = |e: ContextError, moved: u64| Applied {
            counts: vec![("moved", moved)],
            before: before.clone(),
            after: json!({"moved": moved}),
            error: Some(e),
            ..Applied::default()
        };
        match mv::lock(conn, &k.lock, &holder, "requeue").await {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return fail(cerr(conn, ErrorKind::Redis, msg), 0),
            Err(e) => return fail(conn.error(&e), 0),
        }
        let recovered = match mv::recover(conn, k, &holder).await {
            Ok(r) => r,
            Err(e) => {
                let msg = where_left(conn, k, &e).await;
                let _ = mv::unlock(conn, &k.lock, &holder).await;
                return fail(step_error(conn, &e, msg), 0);
            }
        };
        let filter = Filter {
            glob: self.glob.clone(),
            reset_retries: self.reset_retries,
        };
        // Bound the run by what is there now: jobs that fail again and
        // come back to the DLQ meanwhile are not requeued twice.
        let budget: u64 = match crate::systems::lists::length(conn, &k.src).await {
            Ok(n) => n,
            Err(e) => return fail(conn.error(&e), 0),
        };
        let limit = self.limit.unwrap_or(NO_LIMIT);
        let mut taken = 0u64;
        let mut pacer = mv::Pacer::default();
        let mut error: Option<redis::RedisError> = None;
        let mut interrupted = None;
        while taken < budget && moved < limit {
            if step.interrupted() {
                interrupted = Some(cerr(
                    conn,
                    ErrorKind::Interrupted,
                    format!("interrupted (Ctrl-C) after moving {moved} jobs"),
                ));
                break;
            }
            let room = limit - moved;
            let mut window = pacer.window().min(budget - taken);
            if !filter.chooses() {
                window = window.min(room);
            }
            match mv::step(conn, k, &filter, window, room, &holder).await {
                Ok(c) => {
                    pacer.record(&c);
                    moved += c.moved;
                    taken += c.taken;
                    step.progress.inc(c.moved);
                    if c.taken == 0 {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        // Put the set-aside jobs back, even after Ctrl-C or a failed step.
        let tail = mv::recover(conn, k, &holder).await;
        let _ = mv::unlock(conn, &k.lock, &holder).await;
        let error = match (error, &tail) {
            (Some(e), _) => {
                let msg = where_left(conn, k, &e).await;
                Some(step_error(
                    conn,
                    &e,
                    format!("after moving {moved} jobs; {msg}"),
                ))
            }
            (None, Err(e)) => {
                let msg = where_left(conn, k, e).await;
                Some(step_error(
                    conn,
                    e,
                    format!("after moving {moved} jobs; {msg}"),
                ))
            }
            (None, Ok(_)) => interrupted,
        };
        let kept_restored = tail.map(|r| r.kept_restored).unwrap_or(0);
        Applied {
            counts: vec![("moved", moved)],
            backup_key: None,
            before: before.clone(),
            after: json!({
                "moved": moved,
                "examined": taken,
                "set_aside_and_restored": kept_restored,
                "recovered_from_earlier_run": {
                    "pushed": recovered.pushed,
                    "already_pushed": recovered.already_pushed,
                    "kept_restored": recovered.kept_restored,
                },
            }),
            error,
            warnings: Vec::new(),
            ..Applied::default()
        }
    }
}

impl Action for Requeue {
    const NAME: &'static str = "requeue";
    const COUNTS: &'static [&'static str] = &["moved"];
    const PROGRESS: bool = true;
    type Plan = RequeuePlan;

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::Requeue {
            from: self.from.as_str(),
        }
    }

    fn headline(&self) -> String {
        let to = match &self.to {
            Some(t) => format!("the back of {t}"),
            None => "the back of the queue each job names".to_string(),
        };
        format!(
            "requeue: {} jobs, oldest first, go to {to}{}",
            self.from.as_str(),
            self.describe_filter()
        )
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<RequeuePlan, ContextError> {
        let Some(src) = t.system.requeue_source(self.from.as_str()) else {
            return Err(cerr(
                conn,
                ErrorKind::Config,
                format!("{} keeps no {} jobs", t.system.kind(), self.from.as_str()),
            ));
        };
        if src.hashed {
            return self.plan_hashed(conn, t).await.map(RequeuePlan::Hashed);
        }
        match (src.store, &src.own_queue) {
            (Store::SortedSet, Some(own)) => self
                .plan_set(conn, SetKeys::new(&src.key, own))
                .await
                .map(RequeuePlan::Set),
            _ => {
                if self.to.is_none() {
                    return Err(cerr(
                        conn,
                        ErrorKind::Config,
                        format!(
                            "{} jobs name no queue of their own: add --to QUEUE",
                            t.system.kind()
                        ),
                    ));
                }
                self.plan_list(conn, t).await.map(RequeuePlan::List)
            }
        }
    }

    fn view(&self, p: &RequeuePlan) -> PlanView {
        match p {
            RequeuePlan::List(p) => self.view_list(p),
            RequeuePlan::Hashed(p) => {
                let from: Vec<String> = p
                    .sets
                    .iter()
                    .filter(|(_, _, n)| *n > 0)
                    .take(4)
                    .map(|(m, len, n)| format!("{n} of {} ({len})", m.set))
                    .collect();
                let busy = p.sets.iter().filter(|(_, _, n)| *n > 0).count();
                let mut warnings = Vec::new();
                if let guard::Checked::Unknown(why) = &p.acl {
                    warnings.push(why.clone());
                }
                warnings.extend(p.memory.clone());
                PlanView {
                    count: p.count,
                    detail: if from.is_empty() {
                        format!("nothing to move ({} sets looked at)", p.sets.len())
                    } else {
                        format!(
                            "{}{} -> back to {}, atomic per job",
                            from.join(", "),
                            if busy > 4 {
                                format!(", ... ({busy} sets)")
                            } else {
                                String::new()
                            },
                            match &self.to {
                                Some(t) => t.clone(),
                                None => "each job's own queue".into(),
                            }
                        )
                    },
                    warnings,
                    ..PlanView::default()
                }
            }
            RequeuePlan::Set(p) => {
                let dest: Vec<String> = p
                    .per_queue
                    .iter()
                    .map(|(q, n)| format!("{n} to {q}"))
                    .collect();
                let mut warnings = Vec::new();
                if let guard::Checked::Unknown(why) = &p.acl {
                    warnings.push(why.clone());
                }
                warnings.extend(p.memory.clone());
                PlanView {
                    count: p.count,
                    detail: format!(
                        "{} ({} jobs) -> {}, atomic per job",
                        p.keys.set,
                        p.length,
                        if dest.is_empty() {
                            "nothing to move".to_string()
                        } else {
                            dest.join(", ")
                        }
                    ),
                    warnings,
                    ..PlanView::default()
                }
            }
        }
    }

    fn dry_counts(&self, p: &RequeuePlan) -> Vec<(&'static str, u64)> {
        match p {
            RequeuePlan::List(p) => self.dry_list(p),
            RequeuePlan::Set(p) => vec![("moved", p.count)],
            RequeuePlan::Hashed(p) => vec![("moved", p.count)],
        }
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &RequeuePlan, step: Step) -> Applied {
        match p {
            RequeuePlan::List(p) => self.apply_list(conn, p, &step).await,
            RequeuePlan::Set(p) => self.apply_set(conn, p, &step).await,
            RequeuePlan::Hashed(p) => self.apply_hashed(conn, p, &step).await,
        }
    }
}

impl Requeue {
    fn hashed_choice(&self) -> hashed_requeue::Choice {
        hashed_requeue::Choice {
            glob: self.glob.clone(),
            reset_retries: self.reset_retries,
            to: self.to.clone(),
        }
    }

    async fn plan_hashed(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<HashedPlan, ContextError> {
        let moves = t
            .system
            .requeue_moves(conn, self.from.as_str())
            .await
            .map_err(|e| conn.error(&e))?;
        if let Some(to) = &self.to
            && moves.iter().any(|m| !m.takes_to)
        {
            return Err(cerr(
                conn,
                ErrorKind::Config,
                format!(
                    "--to {to}: a {} job belongs to its own queue (its keys are named after it); requeue puts each job back into its own queue: leave --to out",
                    t.system.kind()
                ),
            ));
        }
        let choice = self.hashed_choice();
        let mut room = self.limit.unwrap_or(u64::MAX);
        let mut sets = Vec::with_capacity(moves.len());
        let mut count = 0u64;
        let keys: Vec<(&str, Store)> = moves
            .iter()
            .map(|m| (m.set.as_str(), Store::SortedSet))
            .collect();
        let lengths = super::set_lengths(conn, &keys).await?;
        for (m, length) in moves.into_iter().zip(lengths) {
            let n = if length == 0 || room == 0 {
                0
            } else if choice.glob.is_none() {
                // Without a filter every id counts: no need to ask again.
                length.min(room)
            } else {
                hashed_requeue::count(conn, &m, &choice, room)
                    .await
                    .map_err(|e| conn.error(&e))?
            };
            room -= n.min(room);
            count += n;
            sets.push((m, length, n));
        }
        let acl = match sets.iter().find(|(_, _, n)| *n > 0) {
            Some((m, _, _)) => guard::may_run(conn, &m.needed()).await?,
            None => guard::Checked::Allowed,
        };
        let memory = guard::memory_warning(conn).await;
        Ok(HashedPlan {
            sets,
            acl,
            memory,
            count,
        })
    }

    async fn apply_hashed(&self, conn: &Conn, p: &HashedPlan, step: &Step) -> Applied {
        let before = json!({
            "from": p.sets.iter().map(|(m, _, _)| m.set.clone()).collect::<Vec<_>>(),
            "to": self.to,
            "length": p.sets.iter().map(|(_, l, _)| l).sum::<u64>(),
            "planned": p.count,
        });
        let sets: Vec<(&HashedMove, u64)> = p
            .sets
            .iter()
            .filter(|(_, l, _)| *l > 0)
            .map(|(m, l, _)| (m, *l))
            .collect();
        let r = run_hashed_moves(
            conn,
            &sets,
            &self.hashed_choice(),
            self.limit.unwrap_or(NO_LIMIT),
            step,
        )
        .await;
        r.applied(before)
    }

    fn choice(&self) -> Choice {
        Choice {
            glob: self.glob.clone(),
            reset_retries: self.reset_retries,
            to: self.to.clone(),
        }
    }

    async fn plan_set(
        &self,
        conn: &Conn,
        keys: SetKeys,
    ) -> std::result::Result<SetPlan, ContextError> {
        let set = keys.set.clone();
        let length = super::dead_length(conn, &set, Store::SortedSet).await?;
        let (count, per_queue) =
            set_requeue::count(conn, &keys, &self.choice(), self.limit.unwrap_or(u64::MAX))
                .await
                .map_err(|e| conn.error(&e))?;
        let sample = per_queue.first().map_or("default", |(q, _)| q.as_str());
        let acl = guard::may_run(conn, &keys.needed(sample)).await?;
        let memory = guard::memory_warning(conn).await;
        Ok(SetPlan {
            keys,
            acl,
            memory,
            length,
            count,
            per_queue,
        })
    }

    async fn apply_set(&self, conn: &Conn, p: &SetPlan, step: &Step) -> Applied {
        let k = &p.keys;
        let holder = mv::holder();
        let before = json!({"from": k.set, "to": self.to, "length": p.length, "planned": p.count});
        let fail = |e: ContextError, moved: u64| Applied {
            counts: vec![("moved", moved)],
            before: before.clone(),
            after: json!({"moved": moved}),
            error: Some(e),
            ..Applied::default()
        };
        match mv::lock(conn, &k.lock, &holder, "requeue").await {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return fail(cerr(conn, ErrorKind::Redis, msg), 0),
            Err(e) => return fail(conn.error(&e), 0),
        }
        let choice = self.choice();
        // Bounded by what is there now: jobs that die again meanwhile are
        // not requeued twice in one run.
        let budget = p.length;
        let limit = self.limit.unwrap_or(NO_LIMIT);
        let mut pacer = set_requeue::pacer();
        let (mut moved, mut examined, mut gone, mut start) = (0u64, 0u64, 0u64, 0u64);
        let mut error = None;
        while examined < budget && moved < limit {
            if step.interrupted() {
                error = Some(cerr(
                    conn,
                    ErrorKind::Interrupted,
                    format!(
                        "interrupted (Ctrl-C) after moving {moved} jobs; every other job is still in {}",
                        k.set
                    ),
                ));
                break;
            }
            let window = pacer.window().min(budget - examined);
            match set_requeue::step(conn, k, &choice, start, window, limit - moved, &holder).await {
                Ok((c, g)) => {
                    pacer.record(&c);
                    moved += c.moved;
                    gone += g;
                    examined += c.taken;
                    step.progress.inc(c.moved);
                    // The moved and gone jobs left the window; the rest stay.
                    start += c.taken - c.moved - g;
                    if c.taken == 0 {
                        break;
                    }
                }
                Err(e) => {
                    error = Some(step_error(
                        conn,
                        &e,
                        format!(
                            "after moving {moved} jobs; every job not moved is still in {}: run requeue again to move the rest",
                            k.set
                        ),
                    ));
                    break;
                }
            }
        }
        let _ = mv::unlock(conn, &k.lock, &holder).await;
        Applied {
            counts: vec![("moved", moved)],
            before,
            after: json!({"moved": moved, "examined": examined, "taken_meanwhile_by_others": gone}),
            error,
            ..Applied::default()
        }
    }
}

/// The kind of a selected context whose jobs (in the set `from`) name no
/// queue of their own, so `requeue` needs `--to` (go-redis-work-queue).
fn needs_destination(
    config: &Config,
    settings: &Settings,
    from: &str,
) -> Result<Option<&'static str>> {
    let set = crate::select::select(config, &settings.select)?;
    Ok(set.names().iter().find_map(|n| {
        let schema = config.context(n).and_then(|c| config.schema(&c.schema))?;
        let system = System::for_schema(&schema.system);
        let src = system.requeue_source(from)?;
        (src.own_queue.is_none() && !src.hashed).then(|| system.kind())
    }))
}

/// A failed step as the user reads it: what refused, and `tail` (where the
/// jobs are, how to finish).
fn step_error(conn: &Conn, e: &redis::RedisError, tail: String) -> ContextError {
    let mut ce = guard::step_error(conn, e);
    if guard::step_refusal(e).is_some() {
        ce.message = format!(
            "{}; grant the command to this user or use one that has it",
            ce.message
        );
    } else if e.to_string().contains("QCTLCHANGED") {
        ce.message = "the dead-letter queue's oldest jobs changed under this run (something other than qctl takes jobs from its consumer end); this step moved nothing".into();
    }
    ce.message = format!("{} ({tail})", ce.message);
    ce
}

/// Where a run that stopped left jobs outside the dead-letter queue, and
/// the command that puts them back.
async fn where_left(conn: &Conn, k: &MoveKeys, _e: &redis::RedisError) -> String {
    match mv::leftovers(conn, k).await {
        Ok(l) if l.staged == 0 && l.kept == 0 => {
            "no job is outside the dead-letter queue or the destination: run requeue again to move the rest".into()
        }
        Ok(l) => {
            let mut parts = Vec::new();
            if l.kept > 0 {
                parts.push(format!("{} set-aside jobs wait in {}", l.kept, k.kept));
            }
            if l.staged > 0 {
                parts.push(format!(
                    "{} jobs on their way to {} wait in {}",
                    l.staged, k.dst, k.staging
                ));
            }
            format!(
                "{}; run the same requeue again to put them in place (nothing is lost)",
                parts.join(" and ")
            )
        }
        Err(_) => format!(
            "jobs may wait in {} or {}; run the same requeue again to put them in place",
            k.kept, k.staging
        ),
    }
}

/// `--to` must name a work queue (or a full key) on every selected schema.
pub(crate) fn check_destination(config: &Config, settings: &Settings, to: &str) -> Result<()> {
    let set = crate::select::select(config, &settings.select)?;
    for name in set.names() {
        let Some(schema) = config.context(name).and_then(|c| config.schema(&c.schema)) else {
            continue;
        };
        let system = System::for_schema(&schema.system);
        match system.queue_named(to) {
            Some(q) if q.role == QueueRole::Work => {}
            Some(q) => {
                return Err(CliError::usage(format!(
                    "--to {to} is the {} queue of context {name}; requeue moves jobs to a work queue",
                    q.role.as_str()
                ))
                .with_hint(work_queues(&system)));
            }
            None if to.contains(':') => {}
            None => {
                let names: Vec<String> = system.work_queues().into_iter().map(|q| q.name).collect();
                let mut e = CliError::usage(format!(
                    "--to {to} is not a work queue of context {name}'s schema"
                ));
                e = match crate::contexts::did_you_mean(to, names.iter().map(String::as_str)) {
                    Some(s) => e.with_hint(format!("did you mean `{s}`? {}", work_queues(&system))),
                    None => e.with_hint(work_queues(&system)),
                };
                return Err(e);
            }
        }
    }
    Ok(())
}

fn work_queues(system: &System) -> String {
    let q: Vec<String> = system
        .work_queues()
        .into_iter()
        .map(|q| format!("{} ({})", q.name, q.key))
        .collect();
    format!("work queues: {}, or a full key", q.join(", "))
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &RequeueArgs) -> Result<ExitCode> {
    if args.orphaned {
        return super::requeue_orphaned::run(config, settings, args);
    }
    let to = args.to.as_deref();
    if to.is_none()
        && let Some(kind) = needs_destination(config, settings, args.from.as_str())?
    {
        return Err(CliError::usage(format!(
            "requeue needs --to QUEUE on {kind} contexts (its jobs name no queue of their own), or --orphaned"
        ))
        .with_hint("for example: qctl requeue --to high"));
    }
    let glob = args
        .pattern
        .as_deref()
        .map(|p| {
            Glob::parse(p).map_err(|e| {
                CliError::usage(format!("--match {p}: {e}"))
                    .with_hint("globs look like '*\"filepath\":\"/data/invoices/*'")
            })
        })
        .transpose()?;
    if let Some(to) = to {
        check_destination(config, settings, to)?;
    }
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        Requeue {
            to: to.map(String::from),
            from: args.from,
            limit: args.limit,
            glob,
            reset_retries: args.reset_retries,
        },
    )
}

/// What [`run_hashed_moves`] did.
pub(crate) struct HashedRun {
    pub(crate) moved: u64,
    pub(crate) examined: u64,
    pub(crate) gone: u64,
    pub(crate) missing: u64,
    pub(crate) error: Option<ContextError>,
}

impl HashedRun {
    pub(crate) fn applied(self, before: serde_json::Value) -> Applied {
        let mut warnings = Vec::new();
        if self.missing > 0 {
            warnings.push(format!(
                "{} ids have no job hash any more (expired or removed): left alone",
                self.missing
            ));
        }
        Applied {
            counts: vec![("moved", self.moved)],
            before,
            after: json!({
                "moved": self.moved,
                "examined": self.examined,
                "taken_meanwhile_by_others": self.gone,
                "missing_hashes": self.missing,
            }),
            error: self.error,
            warnings,
            ..Applied::default()
        }
    }
}

/// Runs each set's moves under its lock, window by window (each window one
/// server-side step), until `budget` ids of the set were examined or
/// `limit` jobs moved in all.
pub(crate) async fn run_hashed_moves(
    conn: &Conn,
    sets: &[(&HashedMove, u64)],
    choice: &hashed_requeue::Choice,
    limit: u64,
    step: &Step,
) -> HashedRun {
    let holder = mv::holder();
    let mut r = HashedRun {
        moved: 0,
        examined: 0,
        gone: 0,
        missing: 0,
        error: None,
    };
    'sets: for (m, budget) in sets {
        if r.moved >= limit {
            break;
        }
        let lock = m.lock();
        match mv::lock(conn, &lock, &holder, "requeue").await {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => {
                r.error = Some(cerr(conn, ErrorKind::Redis, msg));
                break;
            }
            Err(e) => {
                r.error = Some(conn.error(&e));
                break;
            }
        }
        // Bounded by what is there now: jobs that fail again meanwhile
        // are not requeued twice in one run.
        let budget = *budget;
        let mut pacer = hashed_requeue::pacer();
        let (mut seen, mut start) = (0u64, 0u64);
        while seen < budget && r.moved < limit {
            if step.interrupted() {
                r.error = Some(cerr(
                    conn,
                    ErrorKind::Interrupted,
                    format!(
                        "interrupted (Ctrl-C) after moving {} jobs; every other job is where it was ({})",
                        r.moved, m.set
                    ),
                ));
                let _ = mv::unlock(conn, &lock, &holder).await;
                break 'sets;
            }
            let window = pacer
                .window()
                .min(hashed_requeue::MAX_WINDOW)
                .min(budget - seen);
            match hashed_requeue::step(conn, m, choice, start, window, limit - r.moved, &holder)
                .await
            {
                Ok(s) => {
                    pacer.record(&s.count);
                    r.moved += s.count.moved;
                    r.gone += s.gone;
                    r.missing += s.missing;
                    seen += s.count.taken;
                    r.examined += s.count.taken;
                    step.progress.inc(s.count.moved);
                    // In a set, the moved and gone ids left the window and
                    // the rest stay; a list of ids known up front moves on.
                    start += if m.ids.is_some() {
                        s.count.taken
                    } else {
                        s.count.taken - s.count.moved - s.gone
                    };
                    if s.count.taken == 0 {
                        break;
                    }
                }
                Err(e) => {
                    r.error = Some(step_error(
                        conn,
                        &e,
                        format!(
                            "after moving {} jobs; every job not moved is where it was ({}): run requeue again to move the rest",
                            r.moved, m.set
                        ),
                    ));
                    let _ = mv::unlock(conn, &lock, &holder).await;
                    break 'sets;
                }
            }
        }
        let _ = mv::unlock(conn, &lock, &holder).await;
    }
    r
}
