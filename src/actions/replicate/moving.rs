//! `replicate --move`: one coordinated run across the source and every
//! target.
//!
//! For each queue: the source queue and every target queue are locked for
//! the whole queue's move (one lock name per queue, whatever the role, so
//! two moves in opposite directions, or a copy into a queue being moved
//! out of, never overlap), and every target is probed with an empty push
//! (its ACL, its lock) before anything leaves the source. Then, window
//! after window: (1) one script on the source's slot copies the oldest
//! jobs (up to `copy::WINDOW`) into a staging list beside the queue, names
//! the window, and only then trims them off the queue, atomically, so no
//! worker can take them from then on; (2) the window is pushed to every
//! target by a script that checks the run still holds that target's lock
//! and that the target has no receipt for this window id, and records one;
//! (3) only when every target has confirmed does a second script drop the
//! staging list. A crash or a failed target between (1) and (3) leaves the
//! window in staging, on the source; the next run pushes it first (targets
//! that have its receipt skip it) and then goes on. A run that stalled past
//! its locks finds them gone when it wakes, and every push it tries is
//! refused. So no job is ever only in qctl's memory, none is lost, none is
//! doubled, and every job moves, identical ones included.
//!
//! The gate runs one `apply` per participant (the source and each target);
//! the first to start runs the move for all of them, and each reads its
//! own result from it.

use super::{Replicate, copy};
use crate::actions::run::{Applied, Step};
use crate::connect::Conn;
use crate::error::{ContextError, ErrorKind};
use crate::systems::copy::MoveKeys;
use crate::systems::requeue as mv;
use indicatif::ProgressBar;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// A target's key of each queue, and its registry entry.
pub(crate) type Keys = Vec<(String, Option<copy::Register>)>;

/// The shared state of one `--move` run.
pub(crate) struct Mover {
    /// The targets (`--to`), in confirmation order.
    to: Vec<String>,
    /// Targets that passed pre-flight: their connection and the key of
    /// each queue (in `Replicate::names` order), with where the target
    /// names its queues (Sidekiq's SET `queues`).
    members: Mutex<BTreeMap<String, (Conn, Keys)>>,
    /// The source's pre-flight connection.
    source: Mutex<Option<Conn>>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    outcome: tokio::sync::OnceCell<HashMap<String, Applied>>,
}

impl Mover {
    pub(crate) fn new(to: Vec<String>) -> Self {
        Mover {
            to,
            members: Mutex::new(BTreeMap::new()),
            source: Mutex::new(None),
            bars: Mutex::new(HashMap::new()),
            outcome: tokio::sync::OnceCell::new(),
        }
    }

    pub(crate) fn register_target(&self, context: &str, conn: Conn, keys: Keys) {
        lock(&self.members).insert(context.to_string(), (conn, keys));
    }

    pub(crate) fn register_source(&self, conn: Conn) {
        *lock(&self.source) = Some(conn);
    }

    fn bar(&self, context: &str) -> Option<ProgressBar> {
        lock(&self.bars).get(context).cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One target during a queue's move.
struct Dest {
    context: String,
    conn: Conn,
    key: String,
    register: Option<copy::Register>,
    copied: u64,
    dups: u64,
}

impl Dest {
    /// Pushes `window` (oldest first, so the oldest ends nearest the
    /// consumer), once per window id, fenced by this run's lock on the
    /// target. Returns how many it pushed (0 when the target already had
    /// the window from an earlier, interrupted run).
    async fn push(
        &mut self,
        window: &[Vec<u8>],
        id: &str,
        holder: &str,
    ) -> Result<u64, ContextError> {
        let jobs: Vec<&[u8]> = window.iter().map(Vec::as_slice).collect();
        let pushed = copy::push_fenced(
            &self.conn,
            &self.key,
            self.register.as_ref(),
            holder,
            Some(id),
            &jobs,
        )
        .await
        .map_err(|e| fenced_error(&self.conn, &e))?;
        match pushed {
            Some(n) => {
                self.copied += n;
                Ok(n)
            }
            None => {
                self.dups += window.len() as u64;
                Ok(0)
            }
        }
    }
}

/// A failed server-side step of a move, in the user's words.
pub(super) fn fenced_error(conn: &Conn, e: &redis::RedisError) -> ContextError {
    crate::systems::guard::step_error(conn, e)
}

/// Per participant, what happened so far.
#[derive(Default)]
struct Tally {
    copied: u64,
    dups: u64,
    per_queue: Vec<serde_json::Value>,
    error: Option<ContextError>,
    warning: Option<String>,
}

impl Replicate {
    /// A participant's part of the move (running the move if it is the
    /// first to ask).
    pub(super) async fn moved(&self, m: &Mover, context: &str, step: Step) -> Applied {
        lock(&m.bars).insert(context.to_string(), step.progress.clone());
        let all = m.outcome.get_or_init(|| self.drive(m, step)).await;
        all.get(context).cloned().unwrap_or_else(|| Applied {
            error: Some(ContextError {
                context: context.to_string(),
                kind: ErrorKind::Config,
                message: "not part of this move".into(),
            }),
            ..Applied::default()
        })
    }

    async fn drive(&self, m: &Mover, step: Step) -> HashMap<String, Applied> {
        let from = self.source.context().to_string();
        let source = lock(&m.source).clone();
        let members: Vec<(String, Conn, Keys)> = {
            let g = lock(&m.members);
            m.to.iter()
                .filter_map(|n| g.get(n).map(|(c, k)| (n.clone(), c.clone(), k.clone())))
                .collect()
        };
        let mut absent: Vec<String> = Vec::new();
        if source.is_none() {
            absent.push(from.clone());
        }
        absent.extend(
            m.to.iter()
                .filter(|n| !members.iter().any(|(c, _, _)| c == *n))
                .cloned(),
        );
        let participants: Vec<String> = m.to.iter().cloned().chain([from.clone()]).collect();
        let Some(src) = source.filter(|_| absent.is_empty()) else {
            let why = format!(
                "nothing moved: {} did not pass pre-flight or was skipped, and a move needs the source and every target",
                absent.join(", ")
            );
            return participants
                .iter()
                .map(|p| {
                    let a = Applied {
                        error: Some(ContextError {
                            context: p.clone(),
                            kind: ErrorKind::Config,
                            message: why.clone(),
                        }),
                        before: json!({"from": from, "move": true}),
                        ..Applied::default()
                    };
                    (p.clone(), a)
                })
                .collect();
        };

        let holder = mv::holder();
        let mut tallies: HashMap<String, Tally> = participants
            .iter()
            .map(|p| (p.clone(), Tally::default()))
            .collect();
        let mut moved = 0u64;
        let mut recovered = 0u64;
        let mut src_queues = Vec::new();
        let mut stop = false;
        let names = self.names_now();
        for (qi, name) in names.iter().enumerate() {
            if stop {
                break;
            }
            let key = match self.keys(&self.source, name) {
                Ok((k, _)) => k,
                Err(e) => {
                    set_error(&mut tallies, &from, e);
                    break;
                }
            };
            let k = MoveKeys::new(&key);
            match mv::lock(&src, &k.lock, &holder, "replicate --move").await {
                Ok(Ok(())) => {}
                Ok(Err(held)) => {
                    set_error(&mut tallies, &from, src_error(&src, held));
                    break;
                }
                Err(e) => {
                    set_error(&mut tallies, &from, src.error(&e));
                    break;
                }
            }
            let keeper = copy::LockKeeper::start(&src, &k.lock, &holder);
            // Every target's queue is locked too, for the whole queue's move:
            // a second run writing into it (or moving out of it) is refused.
            let mut held: Vec<(Conn, String, copy::LockKeeper)> = Vec::new();
            let mut refused = false;
            for (ctx, conn, keys) in &members {
                let lock = copy::queue_lock(&keys[qi].0);
                match mv::lock(conn, &lock, &holder, "replicate").await {
                    Ok(Ok(())) => {
                        let keeper = copy::LockKeeper::start(conn, &lock, &holder);
                        held.push((conn.clone(), lock, keeper));
                    }
                    Ok(Err(msg)) => {
                        set_error(&mut tallies, ctx, src_error(conn, msg));
                        refused = true;
                    }
                    Err(e) => {
                        set_error(&mut tallies, ctx, conn.error(&e));
                        refused = true;
                    }
                }
            }
            let r = if refused {
                set_error(
                    &mut tallies,
                    &from,
                    src_error(
                        &src,
                        "nothing moved: a target is locked by another run (see its error)".into(),
                    ),
                );
                QueueMove {
                    stopped: true,
                    ..QueueMove::default()
                }
            } else {
                self.move_queue(&src, &k, &holder, qi, &members, &mut tallies, m, &step)
                    .await
            };
            for (conn, lock, keeper) in held {
                drop(keeper);
                let _ = mv::unlock(&conn, &lock, &holder).await;
            }
            drop(keeper);
            let _ = mv::unlock(&src, &k.lock, &holder).await;
            moved += r.moved;
            recovered += r.recovered;
            src_queues.push(json!({
                "queue": name, "key": key, "moved": r.moved,
                "recovered_from_staging": r.recovered,
            }));
            stop = r.stopped;
        }
        if stop && step.interrupted() && tallies.get(&from).is_some_and(|t| t.error.is_none()) {
            let msg = format!(
                "interrupted (Ctrl-C) after moving {moved} jobs; run replicate --move again to move the rest"
            );
            for p in &participants {
                if let Some(t) = tallies.get_mut(p)
                    && t.error.is_none()
                {
                    t.error = Some(ContextError {
                        context: p.clone(),
                        kind: ErrorKind::Interrupted,
                        message: msg.clone(),
                    });
                }
            }
        }
        // Nothing moved because the source failed first: every target says so.
        if moved == 0
            && let Some(e) = tallies.get(&from).and_then(|t| t.error.clone())
        {
            for p in &m.to {
                if let Some(t) = tallies.get_mut(p)
                    && t.error.is_none()
                    && t.copied == 0
                {
                    t.error = Some(ContextError {
                        context: p.clone(),
                        kind: e.kind,
                        message: format!("nothing moved: {}", e.message),
                    });
                }
            }
        }
        // The applies' results.
        let before = json!({"from": from, "move": true, "queues": names});
        let mut out = HashMap::new();
        for p in &participants {
            let t = tallies.remove(p).unwrap_or_default();
            let a = if *p == from {
                Applied {
                    counts: vec![("moved", moved)],
                    before: before.clone(),
                    after: json!({"moved": moved, "recovered_from_staging": recovered, "queues": src_queues}),
                    error: t.error,
                    warnings: t.warning.into_iter().collect(),
                    ..Applied::default()
                }
            } else {
                Applied {
                    counts: vec![("copied", t.copied), ("skipped_duplicates", t.dups)],
                    before: before.clone(),
                    after: json!({"queues": t.per_queue}),
                    error: t.error,
                    warnings: t.warning.into_iter().collect(),
                    ..Applied::default()
                }
            };
            out.insert(p.clone(), a);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    async fn move_queue(
        &self,
        src: &Conn,
        k: &MoveKeys,
        holder: &str,
        qi: usize,
        members: &[(String, Conn, Keys)],
        tallies: &mut HashMap<String, Tally>,
        m: &Mover,
        step: &Step,
    ) -> QueueMove {
        let from = self.source.context().to_string();
        let names = self.names_now();
        let Some(name) = names.get(qi) else {
            return QueueMove::default();
        };
        let mut r = QueueMove::default();
        let mut dests: Vec<Dest> = members
            .iter()
            .map(|(ctx, conn, keys)| Dest {
                context: ctx.clone(),
                conn: conn.clone(),
                key: keys[qi].0.clone(),
                register: keys[qi].1.clone(),
                copied: 0,
                dups: 0,
            })
            .collect();
        // Every target may take the pushes (its ACL, its lock), checked by
        // the push script itself with no jobs, before anything is claimed.
        let probes = futures_util::future::join_all(dests.iter().map(|d| async move {
            copy::push_fenced(
                &d.conn,
                &d.key,
                d.register.as_ref(),
                holder,
                Some("probe"),
                &[],
            )
            .await
            .map_err(|e| fenced_error(&d.conn, &e))
        }))
        .await;
        let mut refused = Vec::new();
        for (d, p) in dests.iter().zip(probes) {
            if let Err(e) = p {
                refused.push(d.context.clone());
                set_error(tallies, &d.context, e);
            }
        }
        if !refused.is_empty() {
            set_error(
                tallies,
                &from,
                src_error(
                    src,
                    format!(
                        "nothing moved: {} would refuse the pushes (see its error)",
                        refused.join(", ")
                    ),
                ),
            );
            r.stopped = true;
            return r;
        }
        // First what an interrupted run left in staging, then new windows.
        let (mut window, mut id) = match copy::staged(src, k).await {
            Ok(w) => w,
            Err(e) => {
                set_error(tallies, &from, src.error(&e));
                r.stopped = true;
                return r;
            }
        };
        let mut from_staging = !window.is_empty();
        loop {
            if window.is_empty() {
                if step.interrupted() {
                    r.stopped = true;
                    break;
                }
                id = mv::batch_id();
                window = match copy::claim(src, k, holder, copy::WINDOW, &id).await {
                    Ok(w) => w,
                    Err(e) => {
                        set_error(tallies, &from, fenced_error(src, &e));
                        r.stopped = true;
                        break;
                    }
                };
                crate::systems::fault("move-after-claim");
                if window.is_empty() {
                    break;
                }
            }
            let (w, wid) = (&window, id.as_str());
            let pushes =
                futures_util::future::join_all(dests.iter_mut().map(|d| d.push(w, wid, holder)))
                    .await;
            crate::systems::fault("move-after-push");
            let mut bad = Vec::new();
            for (d, res) in dests.iter().zip(pushes) {
                match res {
                    Ok(n) => {
                        if let Some(b) = m.bar(&d.context) {
                            b.inc(n);
                        }
                    }
                    Err(mut e) => {
                        e.message = format!(
                            "{}; the window of {} jobs stays in {} on the source (not removed from it): run replicate --move again to finish",
                            e.message,
                            window.len(),
                            k.staging
                        );
                        bad.push(d.context.clone());
                        set_error(tallies, &d.context, e);
                    }
                }
            }
            if !bad.is_empty() {
                set_error(
                    tallies,
                    &from,
                    src_error(
                        src,
                        format!(
                            "stopped: {} did not confirm; {} jobs wait in {} and leave the source only once every target has them (run replicate --move again)",
                            bad.join(", "),
                            window.len(),
                            k.staging
                        ),
                    ),
                );
                r.stopped = true;
                break;
            }
            if let Err(e) = copy::clear_staging(src, k, holder).await {
                set_error(tallies, &from, fenced_error(src, &e));
                r.stopped = true;
                break;
            }
            let n = window.len() as u64;
            if from_staging {
                r.recovered += n;
                from_staging = false;
            }
            r.moved += n;
            if let Some(b) = m.bar(&from) {
                b.inc(n);
            }
            window.clear();
        }
        for d in dests {
            if let Some(t) = tallies.get_mut(&d.context) {
                t.copied += d.copied;
                t.dups += d.dups;
                t.per_queue
                    .push(json!({"queue": name, "copied": d.copied, "skipped_duplicates": d.dups}));
                if r.stopped && t.error.is_none() && !step.interrupted() {
                    t.warning = Some(format!(
                        "the move stopped early (see {from}); what arrived here stays"
                    ));
                }
            }
        }
        r
    }
}

#[derive(Default)]
struct QueueMove {
    moved: u64,
    recovered: u64,
    stopped: bool,
}

fn set_error(tallies: &mut HashMap<String, Tally>, context: &str, e: ContextError) {
    if let Some(t) = tallies.get_mut(context)
        && t.error.is_none()
    {
        t.error = Some(ContextError {
            context: context.to_string(),
            ..e
        });
    }
}

fn src_error(src: &Conn, message: String) -> ContextError {
    ContextError {
        context: src.context.clone(),
        kind: ErrorKind::Redis,
        message,
    }
}
