//! `qctl replicate --from CONTEXT --to CONTEXT[,...]`: copies queues and
//! the dead-letter queue from one context to others through the gate.
//!
//! Its targets are exactly `--to` (named literally: a protected context may
//! be one); `--context`, `-l` and `-A` do not apply. Jobs are appended at
//! the producer end of each target list, oldest first, so the jobs already
//! waiting there run first and the copied ones keep their order. A job
//! whose identity (`systems::copy::fingerprint`) is already in the target
//! list is skipped, so a run cut short anywhere and started again ends with
//! each job once. The source is read in windows, each window pushed while
//! the next is read: memory is bounded by the window and the target's
//! fingerprints (8 bytes a job).
//!
//! Between Sidekiq contexts, jobs are told apart by `jid`; the queues are
//! the source's SET `queues` (read by the first plan), each push also adds
//! the queue to the target's SET `queues`, and the dead set (a sorted set)
//! is copied entry by entry with its score (`ZADD NX`). Contexts of
//! different kinds are a usage error before anything connects.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::{ReplicateArgs, ReplicateWhat};
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::{ConnSettings, ReadTarget, targets};
use crate::select::{Target, TargetSet, unknown_context};
use crate::settings::Settings;
use crate::systems::System;
use crate::systems::copy::{self, Identity};
use crate::systems::lists::Store;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

mod config;
mod hashed;
mod moving;

pub(crate) use config::ConfigChange;

pub(crate) struct Replicate {
    source: Arc<ReadTarget>,
    /// Schema names of the queues to copy (`high`, `dead-letter`, ...),
    /// when known without Redis.
    queues: Option<Vec<String>>,
    /// Otherwise (a Sidekiq source with neither `--queue` nor a `queues`
    /// list in its schema): the source's SET `queues`, read once by the
    /// first plan, then `dead` (the dead set) with `--what dead-letter`.
    found: tokio::sync::OnceCell<std::result::Result<Vec<String>, ContextError>>,
    found_dead: Option<String>,
    /// Whether the run copies jobs at all (not only config).
    jobs: bool,
    cs: ConnSettings,
    conn: tokio::sync::OnceCell<std::result::Result<Conn, ContextError>>,
    /// The source's node run_ids (read once; `None` when INFO is refused).
    source_ids: tokio::sync::OnceCell<Option<Vec<String>>>,
    /// `--what config`.
    config: Option<ConfigPart>,
    /// `--move`.
    mover: Option<moving::Mover>,
    /// A source whose jobs live in hashes (BullMQ): which parts of each
    /// queue are copied (`names` are then the system's queue names).
    hashed: Option<hashed::Parts>,
}

/// `--what config`: the parameters, and the source's values (read once).
struct ConfigPart {
    params: Vec<String>,
    persist: bool,
    source: tokio::sync::OnceCell<std::result::Result<SourceConfig, ContextError>>,
}

#[derive(Clone)]
struct SourceConfig {
    values: BTreeMap<String, String>,
    notes: Vec<String>,
}

/// One queue on one target.
pub(crate) struct QueuePlan {
    name: String,
    src: String,
    dst: String,
    /// A list, or a sorted set (Sidekiq's dead set: entries keep their
    /// scores).
    store: Store,
    /// Where the target names its queues (Sidekiq's SET `queues`).
    register: Option<copy::Register>,
    source_jobs: u64,
    /// Jobs of an interrupted move waiting in the source's staging list
    /// (moved with `--move`; a copy leaves them).
    staged: u64,
    to_copy: u64,
    duplicates: u64,
    /// Jobs in hashes: ids the target holds with another job.
    conflicts: u64,
    /// Jobs in hashes: the set on both sides (copied by `hashed`).
    hashed: Option<Box<hashed::Pair>>,
}

/// One queue of the source, with `--move`.
pub(crate) struct SourceQueue {
    name: String,
    jobs: u64,
    staged: u64,
}

pub(crate) enum ReplicatePlan {
    Target {
        queues: Vec<QueuePlan>,
        config: Vec<ConfigChange>,
        warnings: Vec<String>,
        /// Which server and database it is, to refuse two names for one.
        server: ServerId,
    },
    /// The source, a target of its own with `--move`.
    Source {
        queues: Vec<SourceQueue>,
        warnings: Vec<String>,
    },
}

const COPY_COUNTS: &[&str] = &["copied", "skipped_duplicates"];
const MOVE_COUNTS: &[&str] = &["moved", "copied", "skipped_duplicates"];
const HASHED_COUNTS: &[&str] = &["copied", "skipped_duplicates", "conflicts"];

impl Replicate {
    /// The queues to copy, by schema name (read from the source the first
    /// time for a Sidekiq source that names none).
    async fn names(&self) -> std::result::Result<Vec<String>, ContextError> {
        if let Some(q) = &self.queues {
            return Ok(q.clone());
        }
        self.found
            .get_or_init(|| async {
                if !self.source.system.discovers_queues() {
                    return Ok(Vec::new());
                }
                let conn = self.source().await?;
                let mut names: Vec<String> = self
                    .source
                    .system
                    .found_queues(&conn)
                    .await
                    .map_err(|e| conn.error(&e))?;
                names.retain(|n| !n.is_empty());
                names.extend(self.found_dead.iter().cloned());
                Ok(names)
            })
            .await
            .clone()
            .map_err(|e| self.source_error(&e))
    }

    /// The queues to copy as far as known now (after the plans: all).
    fn names_now(&self) -> Vec<String> {
        match (&self.queues, self.found.get()) {
            (Some(q), _) => q.clone(),
            (None, Some(Ok(q))) => q.clone(),
            (None, _) => self.found_dead.iter().cloned().collect(),
        }
    }

    /// How jobs are told apart in a copy: go-redis-work-queue's `id`, or
    /// Sidekiq's `jid`.
    fn identity(&self) -> Identity {
        self.source.system.job_identity()
    }

    /// The Redis type a queue's jobs are in: Sidekiq's sets are sorted
    /// sets, everything else a list.
    fn store(&self, name: &str) -> Store {
        self.source.system.store_of(name)
    }

    /// Where a target names its queues: Sidekiq's SET `queues` (a queue
    /// missing there is invisible to Sidekiq's API and UI).
    fn register(t: &ReadTarget, name: &str) -> Option<copy::Register> {
        let set = t.system.queue_registry()?;
        let q = t.system.queue_named(name)?;
        (q.role == crate::systems::QueueRole::Work).then_some(copy::Register { set, name: q.name })
    }

    /// The source connection, opened once (by the first target's plan) and
    /// shared.
    async fn source(&self) -> std::result::Result<Conn, ContextError> {
        self.conn
            .get_or_init(|| async {
                let ep = &self.source.ep;
                Conn::open(
                    ep,
                    self.cs.connect_timeout,
                    self.cs.timeout,
                    self.cs.verbose,
                )
                .await
            })
            .await
            .clone()
    }

    fn source_error(&self, e: &ContextError) -> ContextError {
        ContextError {
            context: e.context.clone(),
            kind: e.kind,
            message: format!("source {}: {}", self.source.context(), e.message),
        }
    }

    /// The source's values of the parameters to align, read once.
    async fn source_config(
        &self,
        part: &ConfigPart,
    ) -> std::result::Result<SourceConfig, ContextError> {
        part.source
            .get_or_init(|| async {
                let conn = self.source().await?;
                let nodes = config::read(&conn, &part.params)
                    .await
                    .map_err(|e| config::refused(&conn, &e, "GET"))?;
                let (values, notes) = config::source_values(&nodes, &part.params);
                Ok(SourceConfig { values, notes })
            })
            .await
            .clone()
            .map_err(|e| self.source_error(&e))
    }

    /// The source key and a target's key of one queue, by schema name.
    fn keys(
        &self,
        t: &ReadTarget,
        name: &str,
    ) -> std::result::Result<(String, String), ContextError> {
        let src = self
            .source
            .system
            .queue_named(name)
            .map(|q| q.key)
            .ok_or_else(|| ContextError {
                context: self.source.context().to_string(),
                kind: ErrorKind::Config,
                message: format!("the source's schema has no queue {name}"),
            })?;
        let dst = t
            .system
            .queue_named(name)
            .map(|q| q.key)
            .ok_or_else(|| ContextError {
                context: t.context().to_string(),
                kind: ErrorKind::Config,
                message: format!("this context's schema ({}) has no queue {name}", t.schema),
            })?;
        Ok((src, dst))
    }

    async fn plan_source(&self, conn: &Conn) -> std::result::Result<ReplicatePlan, ContextError> {
        let mut queues = Vec::new();
        let mut needed = Vec::new();
        for name in &self.names().await? {
            let (key, _) = self.keys(&self.source, name)?;
            let k = copy::MoveKeys::new(&key);
            let jobs = super::list_length(conn, &key).await?;
            let staged = super::list_length(conn, &k.staging).await?;
            needed.extend(k.needed());
            queues.push(SourceQueue {
                name: name.clone(),
                jobs,
                staged,
            });
        }
        let warnings = match crate::systems::guard::may_run(conn, &needed).await? {
            crate::systems::guard::Checked::Unknown(why) => vec![why],
            crate::systems::guard::Checked::Allowed => Vec::new(),
        };
        if let Some(m) = &self.mover {
            m.register_source(conn.clone());
        }
        Ok(ReplicatePlan::Source { queues, warnings })
    }

    async fn plan_target(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<ReplicatePlan, ContextError> {
        let mut warnings = Vec::new();
        let mut config = Vec::new();
        if let Some(part) = &self.config {
            let want = self.source_config(part).await?;
            let nodes = config::read(conn, &part.params)
                .await
                .map_err(|e| config::refused(conn, &e, "GET"))?;
            let (changes, w) = config::diff(&want.values, &nodes, conn.is_cluster());
            config = changes;
            warnings.extend(w);
        }
        let src_conn = self.source().await.map_err(|e| self.source_error(&e))?;
        let src_ids = self.source_ids.get_or_init(|| run_ids(&src_conn)).await;
        let server = ServerId::read(conn, &t.ep).await;
        if ServerId::with_ids(src_ids.clone(), &self.source.ep).same(&server) {
            return Err(ContextError {
                context: t.context().to_string(),
                kind: ErrorKind::Config,
                message: format!(
                    "it is the same Redis server and database as the source {}: replicate would copy its queues onto themselves; left alone",
                    self.source.context()
                ),
            });
        }
        let mut queues = Vec::new();
        let mut needed = Vec::new();
        for name in &self.names().await? {
            if let Some(parts) = self.hashed {
                let plans = self
                    .plan_hashed(parts, &src_conn, conn, t, name, &mut warnings)
                    .await?;
                needed.extend(
                    plans
                        .iter()
                        .filter_map(|q| q.hashed.as_ref())
                        .flat_map(|p| p.dst.target_needed()),
                );
                queues.extend(plans);
                continue;
            }
            let (src, dst) = self.keys(t, name)?;
            if crate::systems::guard::is_side_key(&dst) {
                return Err(ContextError {
                    context: t.context().to_string(),
                    kind: ErrorKind::Config,
                    message: format!("{dst} is one of qctl's own side keys, not a queue"),
                });
            }
            let store = self.store(name);
            let register = Self::register(t, name);
            let q = match store {
                Store::List => {
                    self.plan_list(&src_conn, conn, name, src, dst, register, &mut warnings)
                        .await?
                }
                Store::SortedSet => self.plan_zset(&src_conn, conn, name, src, dst).await?,
            };
            needed.extend(match store {
                Store::List => {
                    copy::target_needed(&q.dst, self.mover.is_some(), q.register.as_ref())
                }
                Store::SortedSet => copy::zset_target_needed(&q.dst),
            });
            queues.push(q);
        }
        let acl = if needed.is_empty() {
            crate::systems::guard::Checked::Allowed
        } else {
            crate::systems::guard::may_run(conn, &needed).await?
        };
        if let crate::systems::guard::Checked::Unknown(why) = acl {
            warnings.push(why);
        }
        if let Some(m) = &self.mover {
            m.register_target(
                t.context(),
                conn.clone(),
                queues
                    .iter()
                    .map(|q| (q.dst.clone(), q.register.clone()))
                    .collect(),
            );
        }
        Ok(ReplicatePlan::Target {
            queues,
            config,
            warnings,
            server,
        })
    }

    /// One list queue on one target: what is there, what would be copied.
    #[allow(clippy::too_many_arguments)]
    async fn plan_list(
        &self,
        src_conn: &Conn,
        conn: &Conn,
        name: &str,
        src: String,
        dst: String,
        register: Option<copy::Register>,
        warnings: &mut Vec<String>,
    ) -> std::result::Result<QueuePlan, ContextError> {
        let k = copy::MoveKeys::new(&src);
        let source_jobs = super::list_length(src_conn, &src)
            .await
            .map_err(|e| self.source_error(&e))?;
        let n = copy::staged_len(src_conn, &k)
            .await
            .map_err(|e| self.source_error(&src_conn.error(&e)))?;
        let staged = if self.mover.is_some() {
            n
        } else {
            if n > 0 {
                warnings.push(format!(
                    "{n} jobs of an interrupted move of {name} wait in {} on the source; a copy leaves them (run replicate --move again to finish that move)",
                    k.staging
                ));
            }
            0
        };
        super::list_length(conn, &dst).await?;
        // A move pushes every job it takes (each window once per target,
        // by its receipt); a copy skips ids already there.
        let (to_copy, duplicates) = if self.mover.is_some() {
            (source_jobs + staged, 0)
        } else {
            let identity = self.identity();
            let existing = copy::fingerprints_by(conn, &dst, identity)
                .await
                .map_err(|e| conn.error(&e))?;
            if existing.is_empty() {
                (source_jobs, 0)
            } else {
                let (mut to_copy, mut duplicates) = (0, 0);
                let mut windows = copy::Windows::start(src_conn, &src);
                while let Some(w) = windows.next().await {
                    let w = w.map_err(|e| self.source_error(&src_conn.error(&e)))?;
                    let (missing, dup) = copy::missing_by(&w, &existing, identity);
                    to_copy += missing.len() as u64;
                    duplicates += dup;
                }
                (to_copy, duplicates)
            }
        };
        Ok(QueuePlan {
            name: name.to_string(),
            src,
            dst,
            store: Store::List,
            register,
            source_jobs,
            staged,
            to_copy,
            duplicates,
            conflicts: 0,
            hashed: None,
        })
    }

    /// One sorted set (Sidekiq's dead set) on one target.
    async fn plan_zset(
        &self,
        src_conn: &Conn,
        conn: &Conn,
        name: &str,
        src: String,
        dst: String,
    ) -> std::result::Result<QueuePlan, ContextError> {
        let src_len = |c: &Conn, key: &str| {
            let (c, key) = (c.clone(), key.to_string());
            async move {
                match crate::systems::lists::store_state(&c, &key, Store::SortedSet).await {
                    Ok(crate::systems::lists::ListState::List(n)) => Ok(n),
                    Ok(crate::systems::lists::ListState::WrongType(t)) => Err(ContextError {
                        context: c.context.clone(),
                        kind: ErrorKind::Config,
                        message: format!("{key} holds a {t}, not a sorted set: left alone"),
                    }),
                    Err(e) => Err(c.error(&e)),
                }
            }
        };
        let source_jobs = src_len(src_conn, &src)
            .await
            .map_err(|e| self.source_error(&e))?;
        src_len(conn, &dst).await?;
        let identity = self.identity();
        let existing = copy::zset_fingerprints(conn, &dst, identity)
            .await
            .map_err(|e| conn.error(&e))?;
        let (mut to_copy, mut duplicates) = (source_jobs, 0);
        if !existing.is_empty() {
            to_copy = 0;
            let mut n = 0;
            loop {
                let w = copy::zset_window(src_conn, &src, n)
                    .await
                    .map_err(|e| self.source_error(&src_conn.error(&e)))?;
                let (missing, dup) = copy::zset_missing(&w, &existing, identity);
                to_copy += missing.len() as u64;
                duplicates += dup;
                if (w.len() as i64) < copy::WINDOW {
                    break;
                }
                n += 1;
            }
        }
        Ok(QueuePlan {
            name: name.to_string(),
            src,
            dst,
            store: Store::SortedSet,
            register: None,
            source_jobs,
            staged: 0,
            to_copy,
            duplicates,
            conflicts: 0,
            hashed: None,
        })
    }

    /// Copies every queue to one target (without `--move`).
    async fn copy_all(
        &self,
        conn: &Conn,
        t: &ReadTarget,
        queues: &[QueuePlan],
        step: &Step,
    ) -> Applied {
        if queues.is_empty() {
            return Applied {
                before: json!({"from": self.source.context()}),
                after: json!({}),
                ..Applied::default()
            };
        }
        let before = json!({
            "from": self.source.context(),
            "queues": queues
                .iter()
                .map(|q| json!({
                    "queue": q.name, "from": q.src, "to": q.dst, "source_jobs": q.source_jobs,
                    "planned": q.to_copy, "duplicates": q.duplicates, "staged": q.staged,
                }))
                .collect::<Vec<_>>()
        });
        let (mut copied, mut dups) = (0u64, 0u64);
        let (mut conflicts, mut missing) = (0u64, 0u64);
        let mut per_queue = Vec::new();
        let mut error = None;
        match self.source().await {
            Err(e) => error = Some(self.source_error(&e)),
            Ok(src_conn) => {
                let holder = crate::systems::requeue::holder();
                // A standalone target's pushes go over a connection of their
                // own, fenced by WATCH on its lock (cheaper on the server than
                // a script); a cluster target's through the fencing script.
                let push = if conn.is_cluster() {
                    None
                } else {
                    Conn::open_for_writes(
                        &t.ep,
                        self.cs.connect_timeout,
                        self.cs.timeout,
                        self.cs.verbose,
                    )
                    .await
                    .ok()
                };
                for q in queues {
                    // The target queue is this run's until it is done: a
                    // second copy into it, or a move out of it, is refused.
                    let lock = copy::queue_lock(&q.dst);
                    match crate::systems::requeue::lock(conn, &lock, &holder, "replicate").await {
                        Ok(Ok(())) => {}
                        Ok(Err(msg)) => {
                            error = Some(ContextError {
                                context: conn.context.clone(),
                                kind: ErrorKind::Redis,
                                message: format!("{msg} (after copying {copied} jobs)"),
                            });
                            break;
                        }
                        Err(e) => {
                            error = Some(conn.error(&e));
                            break;
                        }
                    }
                    let keeper = copy::LockKeeper::start(conn, &lock, &holder);
                    let mut clash = None;
                    let res = match q.store {
                        _ if q.hashed.is_some() => {
                            match hashed::copy_set(&src_conn, conn, q, step, &holder).await {
                                Ok((c, gone, stopped)) => {
                                    clash = Some(c.conflicts);
                                    missing += gone;
                                    Ok((c.copied, c.duplicates, stopped))
                                }
                                Err((c, e)) => {
                                    clash = Some(c.conflicts);
                                    Err((c.copied, c.duplicates, e))
                                }
                            }
                        }
                        Store::List => {
                            copy_queue(
                                &src_conn,
                                conn,
                                push.as_ref(),
                                q,
                                step,
                                &holder,
                                self.identity(),
                            )
                            .await
                        }
                        Store::SortedSet => {
                            copy_zset(&src_conn, conn, q, step, &holder, self.identity()).await
                        }
                    };
                    drop(keeper);
                    let _ = crate::systems::requeue::unlock(conn, &lock, &holder).await;
                    match res {
                        Ok((c, d, stopped)) => {
                            copied += c;
                            dups += d;
                            let mut done =
                                json!({"queue": q.name, "copied": c, "skipped_duplicates": d});
                            if let Some(n) = clash {
                                conflicts += n;
                                done["conflicts"] = json!(n);
                            }
                            per_queue.push(done);
                            if stopped {
                                error = Some(ContextError {
                                    context: conn.context.clone(),
                                    kind: ErrorKind::Interrupted,
                                    message: format!(
                                        "interrupted (Ctrl-C) after copying {copied} jobs; run replicate again to finish (copied jobs are skipped)"
                                    ),
                                });
                                break;
                            }
                        }
                        Err((c, d, e)) => {
                            copied += c;
                            dups += d;
                            conflicts += clash.unwrap_or(0);
                            let mut e = e;
                            e.message = format!(
                                "{} (after copying {copied} jobs; run replicate again to finish: copied jobs are skipped)",
                                e.message
                            );
                            error = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        let mut counts = vec![("copied", copied), ("skipped_duplicates", dups)];
        let mut warnings = Vec::new();
        if self.hashed.is_some() {
            counts.push(("conflicts", conflicts));
            if conflicts > 0 {
                warnings.push(format!(
                    "{conflicts} jobs were not copied: the target holds another job under the same id, and qctl never overwrites one"
                ));
            }
            if missing > 0 {
                warnings.push(format!(
                    "{missing} ids on the source had no job hash (expired or removed): not copied"
                ));
            }
        }
        Applied {
            counts,
            before,
            after: json!({"queues": per_queue}),
            error,
            warnings,
            ..Applied::default()
        }
    }

    /// Aligns the config of one target after its queues.
    async fn align_config(&self, conn: &Conn, part: &ConfigPart, a: &mut Applied) {
        let (done, err) = match self.source_config(part).await {
            Ok(want) => config::apply(conn, &want.values, part.persist).await,
            Err(e) => (Vec::new(), Some(e)),
        };
        a.extra.insert("config_changes".into(), json!(done));
        if let serde_json::Value::Object(m) = &mut a.after {
            m.insert("config_changes".into(), json!(done));
            m.insert("persist".into(), json!(part.persist));
        }
        if let Some(e) = err {
            a.error = Some(match a.error.take() {
                None => e,
                Some(mut first) => {
                    first.message = format!("{}; {}", first.message, e.message);
                    first
                }
            });
        }
    }
}

impl Action for Replicate {
    const NAME: &'static str = "replicate";
    const COUNTS: &'static [&'static str] = COPY_COUNTS;
    const PROGRESS: bool = true;
    type Plan = ReplicatePlan;

    fn counts(&self) -> &'static [&'static str] {
        if !self.jobs {
            &[]
        } else if self.mover.is_some() {
            MOVE_COUNTS
        } else if self.hashed.is_some() {
            HASHED_COUNTS
        } else {
            COPY_COUNTS
        }
    }

    fn extra_fields(&self) -> &'static [&'static str] {
        if self.config.is_some() {
            &["config_changes"]
        } else {
            &[]
        }
    }

    fn one_operation(&self) -> bool {
        self.mover.is_some()
    }

    fn moves_jobs(&self) -> bool {
        self.jobs
    }

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::Replicate
    }

    fn headline(&self) -> String {
        if !self.jobs {
            return format!(
                "replicate from {}: config (allow-listed parameters, set on every primary of each target)",
                self.source.context()
            );
        }
        let names = self.names_now();
        let names = if names.is_empty() {
            "no queues".to_string()
        } else {
            names.join(", ")
        };
        let what = if self.config.is_some() {
            format!("{names}, config")
        } else {
            names
        };
        if self.mover.is_some() {
            format!(
                "replicate --move from {}: {what} (jobs leave the source only once they are on every target; every job moves, duplicates included)",
                self.source.context()
            )
        } else {
            let rule = self.source.system.copy_rule();
            format!("replicate from {}: {what} ({rule})", self.source.context())
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(part) = &self.config {
            if let Some(Ok(c)) = part.source.get() {
                notes.extend(c.notes.iter().cloned());
            }
            notes.push(if part.persist {
                "config changes are saved with CONFIG REWRITE on every primary".to_string()
            } else {
                "config changes are runtime only (CONFIG SET; a restart reverts them): add --persist to save them".to_string()
            });
        }
        notes
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<ReplicatePlan, ContextError> {
        if self.mover.is_some() && t.context() == self.source.context() {
            self.plan_source(conn).await
        } else {
            self.plan_target(conn, t).await
        }
    }

    fn view(&self, p: &ReplicatePlan) -> PlanView {
        match p {
            ReplicatePlan::Source { queues, warnings } => {
                let parts: Vec<String> = queues
                    .iter()
                    .filter(|q| q.jobs + q.staged > 0)
                    .map(|q| {
                        if q.staged > 0 {
                            format!(
                                "{} {} + {} staged by an interrupted move",
                                q.name, q.jobs, q.staged
                            )
                        } else {
                            format!("{} {}", q.name, q.jobs)
                        }
                    })
                    .collect();
                PlanView {
                    count: queues.iter().map(|q| q.jobs + q.staged).sum(),
                    detail: if parts.is_empty() {
                        "nothing to move".into()
                    } else {
                        format!(
                            "move out: {} (removed only once on every target)",
                            parts.join(", ")
                        )
                    },
                    not_in_total: true,
                    warnings: warnings.clone(),
                }
            }
            ReplicatePlan::Target {
                queues,
                config,
                warnings,
                ..
            } => {
                let mut parts: Vec<String> = queues
                    .iter()
                    .filter(|q| q.to_copy + q.duplicates + q.conflicts > 0)
                    .map(|q| {
                        let mut s = format!(
                            "{}: {} to copy, {} already there",
                            q.name, q.to_copy, q.duplicates
                        );
                        if q.conflicts > 0 {
                            s.push_str(&format!(
                                ", {} conflicts (another job under the same id: left alone)",
                                q.conflicts
                            ));
                        }
                        s
                    })
                    .collect();
                if parts.is_empty() && self.jobs {
                    parts.push("no jobs to copy".into());
                }
                if self.config.is_some() {
                    parts.push(if config.is_empty() {
                        "config: already the same".to_string()
                    } else {
                        format!("config: {}", config::summary(config))
                    });
                }
                PlanView {
                    count: queues.iter().map(|q| q.to_copy).sum(),
                    detail: parts.join("; "),
                    warnings: warnings.clone(),
                    ..PlanView::default()
                }
            }
        }
    }

    fn dry_counts(&self, p: &ReplicatePlan) -> Vec<(&'static str, u64)> {
        match p {
            ReplicatePlan::Source { queues, .. } => {
                vec![("moved", queues.iter().map(|q| q.jobs + q.staged).sum())]
            }
            ReplicatePlan::Target { queues, .. } if queues.is_empty() => Vec::new(),
            ReplicatePlan::Target { queues, .. } => {
                let mut c = vec![
                    ("copied", queues.iter().map(|q| q.to_copy).sum()),
                    (
                        "skipped_duplicates",
                        queues.iter().map(|q| q.duplicates).sum(),
                    ),
                ];
                if self.hashed.is_some() {
                    c.push(("conflicts", queues.iter().map(|q| q.conflicts).sum()));
                }
                c
            }
        }
    }

    fn conflicts(&self, plans: &[(&str, &ReplicatePlan)]) -> Vec<(String, String)> {
        let servers: Vec<(&str, &ServerId)> = plans
            .iter()
            .filter_map(|(n, p)| match p {
                ReplicatePlan::Target { server, .. } => Some((*n, server)),
                ReplicatePlan::Source { .. } => None,
            })
            .collect();
        let mut out = Vec::new();
        for (i, (a, sa)) in servers.iter().enumerate() {
            let twins: Vec<&str> = servers
                .iter()
                .enumerate()
                .filter(|(j, (_, sb))| *j != i && sa.same(sb))
                .map(|(_, (b, _))| *b)
                .collect();
            if !twins.is_empty() {
                out.push((
                    a.to_string(),
                    format!(
                        "it is the same Redis server and database as the target {}: replicate would copy every job there twice; left alone (name one of them in --to)",
                        twins.join(", ")
                    ),
                ));
            }
        }
        out
    }

    fn dry_extra(&self, p: &ReplicatePlan) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        if let (Some(_), ReplicatePlan::Target { config, .. }) = (&self.config, p) {
            m.insert("config_changes".into(), json!(config));
        }
        m
    }

    async fn apply(&self, conn: &Conn, t: &ReadTarget, p: &ReplicatePlan, step: Step) -> Applied {
        let mut a = match (&self.mover, p) {
            (Some(m), _) => self.moved(m, t.context(), step).await,
            (None, ReplicatePlan::Target { queues, .. }) => {
                self.copy_all(conn, t, queues, &step).await
            }
            (None, ReplicatePlan::Source { .. }) => Applied::default(),
        };
        if let (Some(part), ReplicatePlan::Target { .. }) = (&self.config, p) {
            self.align_config(conn, part, &mut a).await;
        }
        a
    }
}

/// A window's push in flight: its result, jobs pushed, duplicates.
type Push = tokio::task::JoinHandle<(redis::RedisResult<()>, u64, u64)>;

/// Waits for the push in flight: (copied, duplicates).
async fn settle(p: Option<Push>, step: &Step) -> redis::RedisResult<(u64, u64)> {
    let Some(p) = p else {
        return Ok((0, 0));
    };
    let (res, n, d) = p.await.map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::Io, "push task failed", e.to_string()))
    })?;
    res?;
    step.progress.inc(n);
    Ok((n, d))
}

/// Copies one queue: (copied, duplicates, interrupted), or how far it got
/// and the error.
///
/// Three stages overlap: a reader task fetches source windows ahead (two
/// at most), this loop filters one against the target's fingerprints and
/// encodes its LPUSH, and the previous window's LPUSH is in flight. One
/// push at a time keeps the target in the source's order even when a push
/// fails (a re-run then appends exactly the rest).
#[allow(clippy::too_many_arguments)]
async fn copy_queue(
    src: &Conn,
    dst: &Conn,
    push: Option<&Conn>,
    q: &QueuePlan,
    step: &Step,
    holder: &str,
    identity: Identity,
) -> std::result::Result<(u64, u64, bool), (u64, u64, ContextError)> {
    let existing = copy::fingerprints_by(dst, &q.dst, identity)
        .await
        .map_err(|e| (0, 0, dst.error(&e)))?;
    let mut windows = copy::Windows::start(src, &q.src);
    let (mut copied, mut dups) = (0u64, 0u64);
    let mut in_flight: Option<Push> = None;
    let result = loop {
        if step.interrupted() {
            break Ok(true);
        }
        // The reader ends right after the last (short) window, which ends
        // this loop first: running dry here means it died.
        let Some(window) = windows.next().await else {
            break Err(ContextError {
                context: src.context.clone(),
                kind: ErrorKind::Redis,
                message: "reading the source stopped unexpectedly; run replicate again to finish (copied jobs are skipped)".into(),
            });
        };
        let window = match window {
            Ok(w) => w,
            Err(e) => break Err(src.error(&e)),
        };
        let last = (window.len() as i64) < copy::WINDOW;
        let (missing, dup) = copy::missing_by(&window, &existing, identity);
        let n = missing.len() as u64;
        let jobs: Option<Vec<Vec<u8>>> =
            (!missing.is_empty()).then(|| missing.iter().map(|j| j.to_vec()).collect());
        drop(window);
        match settle(in_flight.take(), step).await {
            Ok((c, d)) => {
                copied += c;
                dups += d;
            }
            Err(e) => break Err(moving::fenced_error(dst, &e)),
        }
        let dst2 = dst.clone();
        let push2 = push.cloned();
        if jobs.is_some() {
            crate::systems::fault("copy-before-push");
        }
        let (key, holder, register) = (q.dst.clone(), holder.to_string(), q.register.clone());
        in_flight = Some(tokio::spawn(async move {
            let r = match jobs {
                Some(jobs) => {
                    let jobs: Vec<&[u8]> = jobs.iter().map(Vec::as_slice).collect();
                    match &push2 {
                        Some(p) => copy::push_watched(p, &key, register.as_ref(), &holder, &jobs)
                            .await
                            .map(|_| ()),
                        None => {
                            copy::push_fenced(&dst2, &key, register.as_ref(), &holder, None, &jobs)
                                .await
                                .map(|_| ())
                        }
                    }
                }
                None => Ok(()),
            };
            (r, n, dup)
        }));
        if last {
            break Ok(false);
        }
    };
    drop(windows);
    let settled = settle(in_flight.take(), step).await.map(|(c, d)| {
        copied += c;
        dups += d;
    });
    match (result, settled) {
        (Ok(stopped), Ok(())) => Ok((copied, dups, stopped)),
        (Err(e), _) => Err((copied, dups, e)),
        (Ok(_), Err(e)) => Err((copied, dups, moving::fenced_error(dst, &e))),
    }
}

/// Copies one sorted set (Sidekiq's dead set), scores kept: (copied,
/// duplicates, interrupted), or how far it got and the error. Windows of
/// the source by rank, lowest score first; each window's missing entries
/// (by jid) are added with one fenced `ZADD NX`, so an entry already on the
/// target keeps its own score and nothing is ever added twice.
async fn copy_zset(
    src: &Conn,
    dst: &Conn,
    q: &QueuePlan,
    step: &Step,
    holder: &str,
    identity: Identity,
) -> std::result::Result<(u64, u64, bool), (u64, u64, ContextError)> {
    let existing = copy::zset_fingerprints(dst, &q.dst, identity)
        .await
        .map_err(|e| (0, 0, dst.error(&e)))?;
    let (mut copied, mut dups) = (0u64, 0u64);
    let mut n = 0;
    loop {
        if step.interrupted() {
            return Ok((copied, dups, true));
        }
        let window = copy::zset_window(src, &q.src, n)
            .await
            .map_err(|e| (copied, dups, src.error(&e)))?;
        let (missing, dup) = copy::zset_missing(&window, &existing, identity);
        if !missing.is_empty() {
            crate::systems::fault("copy-before-push");
            copy::zadd_fenced(dst, &q.dst, holder, &missing)
                .await
                .map_err(|e| (copied, dups, moving::fenced_error(dst, &e)))?;
            copied += missing.len() as u64;
            step.progress.inc(missing.len() as u64);
        }
        dups += dup;
        if (window.len() as i64) < copy::WINDOW {
            return Ok((copied, dups, false));
        }
        n += 1;
    }
}

/// Which Redis server and database a context reaches: by run_id (every
/// node's), or by address when INFO is not allowed.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerId {
    db: String,
    run_ids: Option<Vec<String>>,
    hosts: Vec<String>,
}

impl ServerId {
    async fn read(conn: &Conn, ep: &crate::connect::Endpoint) -> Self {
        Self::with_ids(run_ids(conn).await, ep)
    }

    fn with_ids(run_ids: Option<Vec<String>>, ep: &crate::connect::Endpoint) -> Self {
        let host = |u: &String| {
            url::Url::parse(u).ok().map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or(""),
                    u.port().unwrap_or(6379)
                )
            })
        };
        ServerId {
            db: ep.urls.first().map(|u| db_of(u)).unwrap_or_default(),
            run_ids,
            hosts: ep.urls.iter().filter_map(host).collect(),
        }
    }

    /// Whether two contexts reach the same server and database (two
    /// context names for one Redis, e.g. with different users).
    fn same(&self, other: &ServerId) -> bool {
        if self.db != other.db {
            return false;
        }
        match (&self.run_ids, &other.run_ids) {
            (Some(x), Some(y)) => x.iter().any(|id| y.contains(id)),
            _ => self.hosts.iter().any(|h| other.hosts.contains(h)),
        }
    }
}

/// The run_id of every node (`None` when INFO is not allowed).
async fn run_ids(conn: &Conn) -> Option<Vec<String>> {
    let mut ids = Vec::new();
    for node in conn.nodes() {
        let info = crate::inspect::info_text(conn, &node, &["server"])
            .await
            .ok()?;
        ids.push(
            info.lines()
                .find_map(|l| l.strip_prefix("run_id:"))?
                .trim()
                .to_string(),
        );
    }
    Some(ids)
}

/// The database number of a URL (`/N`; 0 when absent).
fn db_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| u.path().trim_matches('/').to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "0".into())
}

/// `--to` exactly (plus nothing else): names checked, file order, literal.
fn target_set(config: &Config, settings: &Settings, args: &ReplicateArgs) -> Result<TargetSet> {
    let sel = &settings.select;
    if !sel.contexts.is_empty() || sel.selector.is_some() || sel.all {
        return Err(CliError::usage(
            "replicate's targets are exactly --to: --context, -l and -A do not apply",
        )
        .with_hint("name the targets with --to CONTEXT[,CONTEXT...]"));
    }
    if config.context(&args.from).is_none() {
        return Err(unknown_context(config, &args.from));
    }
    let mut typed: Vec<String> = Vec::new();
    for n in args.to.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if config.context(n).is_none() {
            return Err(unknown_context(config, n));
        }
        if n == args.from {
            return Err(CliError::usage(format!("--to {n} is also --from")));
        }
        if !typed.iter().any(|t| t == n) {
            typed.push(n.to_string());
        }
    }
    if typed.is_empty() {
        return Err(CliError::usage("--to names no context"));
    }
    if args.move_jobs {
        // The source loses jobs: it is confirmed like a target.
        typed.push(args.from.clone());
    }
    let targets = config
        .contexts
        .iter()
        .filter(|c| typed.contains(&c.name))
        .map(|c| Target {
            name: c.name.clone(),
            literal: true,
        })
        .collect();
    Ok(TargetSet {
        targets,
        typed_order: typed,
    })
}

/// What to copy, by schema name.
struct Names {
    /// Known without Redis (`None`: a Sidekiq source's SET `queues`, read
    /// by the first plan).
    queues: Option<Vec<String>>,
    /// The dead set, after the queues read from the source.
    dead: Option<String>,
    jobs: bool,
}

/// The schema names of the queues to copy, from the source's schema (or,
/// for a Sidekiq source that lists none, from its SET `queues` later).
fn queue_names(system: &System, args: &ReplicateArgs) -> Result<Names> {
    let mut names = Vec::new();
    let mut discover = false;
    let work: Vec<String> = system.work_queues().into_iter().map(|q| q.name).collect();
    if args.what.contains(&ReplicateWhat::Queues) {
        if args.queues.is_empty() {
            if system.discovers_queues() && work.is_empty() {
                discover = true;
            } else {
                names.extend(work.iter().cloned());
            }
        } else {
            for q in &args.queues {
                // A system that keeps its queue names in Redis takes any
                // name the schema does not rule out.
                let known = system
                    .queue_named(q)
                    .filter(|r| r.role == crate::systems::QueueRole::Work)
                    .map(|r| r.name)
                    .filter(|n| system.discovers_queues() || work.contains(n));
                let Some(q) = known else {
                    let hint = if work.is_empty() {
                        "name a Sidekiq queue (not schedule, retry or dead: use --what dead-letter for the dead set)".to_string()
                    } else {
                        format!("work queues: {}", work.join(", "))
                    };
                    return Err(CliError::usage(format!(
                        "--queue {q} is not a work queue of the source's schema"
                    ))
                    .with_hint(hint));
                };
                if !names.contains(&q) {
                    names.push(q);
                }
            }
        }
    }
    let dead = args
        .what
        .contains(&ReplicateWhat::DeadLetter)
        .then(|| system.dead_letter().name);
    if discover {
        return Ok(Names {
            queues: None,
            dead,
            jobs: true,
        });
    }
    names.extend(dead);
    Ok(Names {
        jobs: !names.is_empty(),
        queues: Some(names),
        dead: None,
    })
}

/// Replicate copies between contexts of one kind: job layouts differ
/// between queue systems. Checked before anything connects.
fn same_kinds(config: &Config, args: &ReplicateArgs) -> Result<()> {
    let kind = |n: &str| {
        config
            .context(n)
            .and_then(|c| config.schema(&c.schema))
            .map(|s| s.kind())
    };
    let Some(from) = kind(&args.from) else {
        return Ok(());
    };
    for n in args.to.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if let Some(to) = kind(n)
            && to != from
        {
            return Err(CliError::usage(format!(
                "replicate copies between contexts of one kind: --from {} is {}, --to {n} is {}",
                args.from,
                from.as_str(),
                to.as_str()
            ))
            .with_hint(format!(
                "jobs are laid out differently in each queue system; name --to contexts whose schema is kind {}",
                from.as_str()
            )));
        }
    }
    Ok(())
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &ReplicateArgs) -> Result<ExitCode> {
    let with_config = args.what.contains(&ReplicateWhat::Config);
    if !with_config && (!args.config_params.is_empty() || args.persist) {
        return Err(
            CliError::usage("--config-param and --persist apply to --what config")
                .with_hint("add config to --what, e.g. --what queues,config"),
        );
    }
    if args.move_jobs {
        let w = &args.write;
        if w.strategy != crate::cli::Strategy::Parallel || w.max_parallel.is_some() {
            return Err(CliError::usage(
                "replicate --move is one step across the source and every target: --strategy and --max-parallel do not apply",
            )
            .with_hint("drop --strategy/--max-parallel, or copy (without --move) target by target"));
        }
    }
    let set = target_set(config, settings, args)?;
    same_kinds(config, args)?;
    let source = match targets(config, settings, std::slice::from_ref(&args.from)).remove(0) {
        Ok(t) => t,
        Err(e) => {
            return Err(CliError::failure(format!(
                "source {}: {}",
                e.context, e.message
            )));
        }
    };
    let hashed_jobs = source.system.job_identity() == Identity::Hash;
    if args.move_jobs && hashed_jobs {
        return Err(CliError::usage(format!(
            "replicate --move is not built for {}: its jobs live in hashes, and a move that no crash can leave on both servers (or neither) needs a staging set and receipts for every state a job can be in",
            source.system.kind()
        ))
        .with_hint(match source.system.schema_kind() {
            crate::systems::SchemaKind::Rq => "copy instead (without --move: idempotent by job id, conflicts never overwritten), check the target, then empty the source: qctl pause --all on the source first (rq suspend: RQ has no per-queue pause) so no worker takes a job in between, purge-dlq for the failed registries, and RQ's queue.empty() (rq empty QUEUE) for the rest",
            _ => "copy instead (without --move: idempotent by job id, conflicts never overwritten), check the target, then empty the source: qctl pause QUEUE on the source first so no worker takes a job in between, purge-dlq for the failed sets, and BullMQ's queue.drain() or obliterate() for the rest",
        }));
    }
    let (names, parts) = if hashed_jobs {
        let (n, p) = hashed::names(&source.system, args)?;
        (n, Some(p))
    } else {
        (queue_names(&source.system, args)?, None)
    };
    if !names.jobs && !with_config {
        return Err(CliError::usage("nothing to copy: --what names no queue"));
    }
    if args.move_jobs
        && source.system.dead_store() == Store::SortedSet
        && args.what.contains(&ReplicateWhat::DeadLetter)
    {
        return Err(CliError::usage(
            "replicate --move --what dead-letter is not built for a dead set that is a sorted set (Sidekiq's): a move's staging and receipts are lists",
        )
        .with_hint(
            "copy the dead set (without --move; idempotent by jid, scores kept), check the target, then purge-dlq on the source (it keeps a backup)",
        ));
    }
    if args.move_jobs && !names.jobs {
        return Err(CliError::usage(
            "--move moves jobs: add queues or dead-letter to --what (config is copied, never moved)",
        ));
    }
    let config_part = if with_config {
        let params = config::params(&args.config_params).map_err(|e| {
            CliError::usage(e)
                .with_hint("see `qctl replicate --help` or the README's config allow-list")
        })?;
        Some(ConfigPart {
            params,
            persist: args.persist,
            source: tokio::sync::OnceCell::new(),
        })
    } else {
        None
    };
    let mover = args.move_jobs.then(|| {
        moving::Mover::new(
            set.typed_order
                .iter()
                .filter(|n| **n != args.from)
                .cloned()
                .collect(),
        )
    });
    let action = Replicate {
        source,
        queues: names.queues,
        found: tokio::sync::OnceCell::new(),
        found_dead: names.dead,
        jobs: names.jobs,
        cs: ConnSettings::from(settings),
        conn: tokio::sync::OnceCell::new(),
        source_ids: tokio::sync::OnceCell::new(),
        config: config_part,
        mover,
        hashed: parts,
    };
    super::run_on(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        action,
        set,
    )
}
