//! The queue-system layer: what a job system's queues, dead letters,
//! in-flight jobs and workers are, and how to read them. Verbs never know key
//! names; they ask a [`System`].
//!
//! One module per system. go-redis-work-queue (lists, heartbeat strings) is
//! the first; Sidekiq, BullMQ, RQ, Asynq and Celery keep jobs in sorted sets
//! and hashes, so the view models here carry an id, a payload and an age, not
//! a list index, and a system that cannot do something says so per context
//! ([`Unsupported`]) instead of silently doing nothing. Adding a system is one
//! module plus one variant of [`System`]; no verb changes.

/// Inherent methods answering "none" for what a system does not have (the
/// gate skips those verbs first, with the system's own reason from
/// `unsupported`): `without!(pause, "why")`, `without!(signals, "why")`,
/// `without!(hashed_jobs)` (requeue, orphans and copies of jobs in hashes).
macro_rules! without {
    (pause, $why:literal) => {
        pub(crate) async fn pause_flags(
            &self,
            _conn: &crate::connect::Conn,
            _queues: &[String],
            _all: bool,
        ) -> redis::RedisResult<Vec<crate::systems::PauseFlag>> {
            Ok(Vec::new())
        }

        pub(crate) fn pause_needed(
            &self,
            _flag: &crate::systems::PauseFlag,
            _paused: bool,
        ) -> Vec<crate::systems::guard::Needed> {
            Vec::new()
        }

        pub(crate) async fn set_paused(
            &self,
            _conn: &crate::connect::Conn,
            _flag: &crate::systems::PauseFlag,
            _paused: bool,
        ) -> redis::RedisResult<()> {
            Err(redis::RedisError::from((redis::ErrorKind::Client, $why)))
        }
    };
    (signals, $why:literal) => {
        pub(crate) async fn signal_candidates(
            &self,
            _conn: &crate::connect::Conn,
        ) -> redis::RedisResult<Vec<crate::systems::Worker>> {
            Ok(Vec::new())
        }

        pub(crate) fn signal_needed(
            &self,
            _identity: &str,
            _sig: crate::systems::signals::Signal,
        ) -> Vec<crate::systems::guard::Needed> {
            Vec::new()
        }

        pub(crate) fn signal_name(&self, _sig: crate::systems::signals::Signal) -> &'static str {
            "-"
        }

        pub(crate) async fn signal(
            &self,
            _conn: &crate::connect::Conn,
            _identity: &str,
            _sig: crate::systems::signals::Signal,
        ) -> redis::RedisResult<()> {
            Err(redis::RedisError::from((redis::ErrorKind::Client, $why)))
        }
    };
    (hashed_jobs) => {
        pub(crate) async fn requeue_moves(
            &self,
            _conn: &crate::connect::Conn,
            _from: &str,
        ) -> redis::RedisResult<Vec<crate::systems::requeue::hashed::HashedMove>> {
            Ok(Vec::new())
        }

        pub(crate) async fn orphan_moves(
            &self,
            _conn: &crate::connect::Conn,
        ) -> redis::RedisResult<Vec<crate::systems::requeue::hashed::HashedMove>> {
            Ok(Vec::new())
        }

        pub(crate) fn copy_sets(
            &self,
            _queue: &str,
            _dead: bool,
        ) -> Option<crate::systems::hashed_copy::QueueCopy> {
            None
        }
    };
}

pub(crate) mod bullmq;
pub(crate) mod copy;
pub(crate) mod dead;
pub(crate) mod glob;
pub(crate) mod gowork;
pub(crate) mod guard;
pub(crate) mod hashed;
pub(crate) mod hashed_copy;
pub(crate) mod json_edit;
pub(crate) mod lists;
pub(crate) mod requeue;
pub(crate) mod rq;
pub(crate) mod schema;
pub(crate) mod sidekiq;
pub(crate) mod signals;
pub(crate) mod slots;
pub(crate) mod store;

pub(crate) use schema::SchemaOptions;

use crate::connect::Conn;
use redis::RedisResult;
use serde::Serialize;

/// A job's payload as stored: parsed JSON, text that is not a JSON object,
/// or bytes that are not UTF-8; or a job kept in a hash of its own (RQ).
/// Never fatal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Payload {
    Json(serde_json::Value),
    Text(String),
    Binary(Vec<u8>),
    Hash(Box<HashJob>),
}

/// A job kept in a hash of its own, whose list or set entry is only its id
/// (RQ `rq:job:<id>`): the hash's readable fields, and its payload when
/// qctl can show it without running anything (never a pickle).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct HashJob {
    /// The payload when it is JSON; `None` with `encoding` when it is not
    /// shown (RQ's pickled `data`).
    pub(crate) payload: Option<serde_json::Value>,
    /// How the payload is encoded (`pickle`, `json`); `None`: unreadable.
    pub(crate) encoding: Option<&'static str>,
    /// The hash's fields that are text (not the payload, not pickles).
    pub(crate) fields: serde_json::Map<String, serde_json::Value>,
    /// The system's own word for the job's state (RQ `status`).
    pub(crate) status: Option<String>,
    pub(crate) started: Option<jiff::Timestamp>,
    pub(crate) ended: Option<jiff::Timestamp>,
    /// What is wrong with this entry (its hash is gone, a field is
    /// garbage), one phrase each; never fatal.
    pub(crate) problems: Vec<String>,
}

impl Default for Payload {
    fn default() -> Self {
        Payload::Text(String::new())
    }
}

/// One job, as much of it as its payload reveals (SPEC 10.3); what a kind
/// has no such thing for is `None`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Job {
    /// The payload is a JSON object the queue system would accept.
    pub(crate) valid: bool,
    pub(crate) id: Option<String>,
    /// What runs it: Sidekiq's `class`, ...
    pub(crate) name: Option<String>,
    /// The queue the job belongs to (where a retry sends it).
    pub(crate) queue: Option<String>,
    pub(crate) priority: Option<String>,
    /// Attempts that failed so far.
    pub(crate) retries: Option<u64>,
    pub(crate) filepath: Option<String>,
    pub(crate) created: Option<jiff::Timestamp>,
    /// When a scheduled or retrying job runs.
    pub(crate) run_at: Option<jiff::Timestamp>,
    pub(crate) failed_at: Option<jiff::Timestamp>,
    /// The last error, one line.
    pub(crate) error: Option<String>,
    pub(crate) payload: Payload,
}

impl Job {
    /// Seconds since the job was created, at `now` (millisecond precision).
    pub(crate) fn age_s(&self, now: jiff::Timestamp) -> Option<f64> {
        age_s(self.created, now)
    }
}

/// Seconds from `created` to `now`, rounded to the millisecond; never
/// negative (clocks differ a little between hosts).
pub(crate) fn age_s(created: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Option<f64> {
    let c = created?;
    let ms = now.as_millisecond() - c.as_millisecond();
    Some((ms.max(0) as f64) / 1000.0)
}

/// A queue with its length and the creation time of the job a consumer
/// would take next.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueueDetail {
    pub(crate) queue: QueueRef,
    pub(crate) length: u64,
    pub(crate) next_created: Option<jiff::Timestamp>,
    /// Paused by the system's own flag; `None` where the kind (or this
    /// set) has no pause.
    pub(crate) paused: Option<bool>,
}

/// Whether a worker is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum WorkerState {
    /// Its heartbeat key exists.
    Active,
    /// Its processing list has jobs and no heartbeat key.
    Orphaned,
}

impl WorkerState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WorkerState::Active => "active",
            WorkerState::Orphaned => "orphaned",
        }
    }
}

/// One worker that Redis can show (a busy or a dead one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Worker {
    pub(crate) worker: String,
    pub(crate) state: WorkerState,
    pub(crate) in_flight: u64,
    /// Milliseconds left on the heartbeat (-1: no expiry); `None` when
    /// orphaned.
    pub(crate) heartbeat_ttl_ms: Option<i64>,
    pub(crate) job_id: Option<String>,
    /// What a system that registers its processes says of one (Sidekiq).
    pub(crate) process: Option<Box<ProcessInfo>>,
}

/// A worker process as it describes itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub(crate) struct ProcessInfo {
    pub(crate) hostname: Option<String>,
    pub(crate) pid: Option<u64>,
    pub(crate) tag: Option<String>,
    pub(crate) concurrency: Option<u64>,
    pub(crate) queues: Vec<String>,
    pub(crate) quiet: Option<bool>,
    /// Seconds since its last heartbeat.
    pub(crate) beat_age_s: Option<f64>,
    /// The ids of the jobs it is running.
    pub(crate) busy_jobs: Vec<String>,
    /// Where a system that knows its workers only as connections
    /// (BullMQ: CLIENT LIST) sees one: its address, connection name,
    /// seconds connected and seconds since its last command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connection: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connected_s: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) idle_s: Option<u64>,
}

/// Jobs peeked from one list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Peek {
    pub(crate) length: u64,
    /// (position, job): position 0 is what a consumer takes next.
    pub(crate) jobs: Vec<(u64, Job)>,
    /// The key holds something other than a list.
    pub(crate) wrong_type: Option<String>,
}

/// What a queue is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum QueueRole {
    Work,
    Completed,
    DeadLetter,
    Scheduled,
    Retry,
    /// Jobs being worked on, where the system keeps them in a queue of
    /// their own (BullMQ `:active`, RQ `wip`).
    Active,
    /// Jobs waiting for other jobs (RQ `deferred`).
    Deferred,
}

impl QueueRole {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            QueueRole::Work => "work",
            QueueRole::Completed => "completed",
            QueueRole::DeadLetter => "dead-letter",
            QueueRole::Scheduled => "scheduled",
            QueueRole::Retry => "retry",
            QueueRole::Active => "active",
            QueueRole::Deferred => "deferred",
        }
    }

    /// The SPEC 10.2 state of the jobs a queue of this role holds.
    pub(crate) fn state(self) -> &'static str {
        match self {
            QueueRole::Work => "waiting",
            QueueRole::Completed => "completed",
            QueueRole::DeadLetter => "dead",
            QueueRole::Scheduled => "scheduled",
            QueueRole::Retry => "retry",
            QueueRole::Active => "active",
            QueueRole::Deferred => "deferred",
        }
    }
}

/// A queue named by the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct QueueRef {
    pub(crate) name: String,
    pub(crate) key: String,
    pub(crate) role: QueueRole,
}

/// A worker whose in-flight jobs have no living owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrphanRef {
    pub(crate) worker: String,
    pub(crate) key: String,
    pub(crate) jobs: u64,
}

/// The figures of SPEC section 10.2, defined once for every kind: `None`
/// where the kind has no such thing (never 0), with a note in `absent`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Figures {
    /// (queue, length) for every queue the schema names.
    pub(crate) queues: Vec<(QueueRef, u64)>,
    pub(crate) queued: Option<u64>,
    pub(crate) scheduled: Option<u64>,
    pub(crate) retrying: Option<u64>,
    pub(crate) dead_letter: Option<u64>,
    pub(crate) processing: Option<u64>,
    pub(crate) completed: Option<u64>,
    pub(crate) processed_total: Option<u64>,
    pub(crate) failed_total: Option<u64>,
    pub(crate) workers: Option<u64>,
    pub(crate) orphaned_workers: Option<u64>,
    pub(crate) orphaned_jobs: Option<u64>,
    pub(crate) paused_queues: Option<u64>,
    /// The orphans behind `orphaned_*`, for a second reading.
    pub(crate) orphans: Vec<OrphanRef>,
    /// (figure, why it is `None`): `("scheduled", "go-redis-work-queue
    /// has no scheduled jobs")`.
    pub(crate) absent: Vec<(&'static str, &'static str)>,
}

impl Figures {
    /// A figure by its SPEC name (`scheduled`, `dead_letter`, ...).
    pub(crate) fn get(&self, name: &str) -> Option<u64> {
        match name {
            "queued" => self.queued,
            "scheduled" => self.scheduled,
            "retrying" => self.retrying,
            "dead_letter" => self.dead_letter,
            "processing" => self.processing,
            "completed" => self.completed,
            "processed_total" => self.processed_total,
            "failed_total" => self.failed_total,
            "workers" => self.workers,
            "orphaned_workers" => self.orphaned_workers,
            "orphaned_jobs" => self.orphaned_jobs,
            "paused_queues" => self.paused_queues,
            _ => None,
        }
    }
}

/// What a keyspace scan had to leave out.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ScanNotes {
    /// Keys matching a pattern whose names are not UTF-8 (skipped).
    pub(crate) non_utf8_keys: u64,
    /// Keys matching a pattern that hold another type (skipped).
    pub(crate) wrong_type_keys: u64,
}

/// Where a requeue takes jobs from: the key, the Redis type jobs are in,
/// and, where each job names its own queue, how to reach that queue.
#[derive(Debug, Clone)]
pub(crate) struct RequeueSource {
    pub(crate) key: String,
    pub(crate) store: lists::Store,
    pub(crate) own_queue: Option<OwnQueue>,
    /// Jobs kept in hashes, their ids in one sorted set per queue: the
    /// sets and how one job goes back come from
    /// [`QueueSystem::requeue_moves`] (`key` then only names the sets).
    pub(crate) hashed: bool,
}

/// How a job that names its queue (`"queue": "mail"`) goes back there: the
/// SET that registers queue names, and the prefix of queue keys.
#[derive(Debug, Clone)]
pub(crate) struct OwnQueue {
    pub(crate) registry: String,
    pub(crate) prefix: String,
}

/// Which columns `get jobs` shows for a system's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobTable {
    /// PRIORITY and FILEPATH (go-redis-work-queue's payload fields).
    PriorityFilepath,
    /// NAME (class, task) and DETAIL (error, args).
    NameDetail,
}

/// One pause flag: a queue's, or the deployment's (`queue` `None`: RQ's
/// suspend, which stops every worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PauseFlag {
    pub(crate) queue: Option<String>,
    /// The key that holds it (for plans).
    pub(crate) key: String,
    /// Whether it is set now.
    pub(crate) paused: bool,
}

/// A write verb, as a system is asked whether it can do it
/// ([`QueueSystem::unsupported`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    PurgeDlq,
    RestoreDlq,
    /// `requeue --from <from>` (`dead`, `retry`, `scheduled`).
    Requeue {
        from: &'static str,
    },
    RequeueOrphaned,
    Replicate,
    Bench,
    /// `pause`: `all` for `--all` (the whole deployment), else named
    /// queues.
    Pause {
        all: bool,
    },
    Resume {
        all: bool,
    },
    Quiet,
    Stop,
}

/// What every queue system answers, in domain terms: its queues (and
/// sets), figures, workers and jobs. Verbs ask a [`System`], which
/// dispatches here once; none of them knows a key name or sends a command.
pub(crate) trait QueueSystem {
    const KIND: SchemaKind;
    /// The queues and sets known without Redis, work queues first.
    fn queues(&self) -> Vec<QueueRef>;
    /// A queue by its name (`high`, `default`, `dead-letter`, `dlq`,
    /// `retry`...) or its key; `None` when neither.
    fn queue_named(&self, name: &str) -> Option<QueueRef>;
    /// Where dead jobs are.
    fn dead_letter(&self) -> QueueRef;
    /// Where workers live, as one comparable string (schema drift).
    fn worker_patterns(&self) -> String;
    fn queue_details(
        &self,
        conn: &Conn,
    ) -> impl Future<Output = RedisResult<Vec<QueueDetail>>> + Send;
    fn workers(
        &self,
        conn: &Conn,
    ) -> impl Future<Output = RedisResult<(Vec<Worker>, ScanNotes)>> + Send;
    fn peek(
        &self,
        conn: &Conn,
        key: &str,
        n: u64,
        from_end: bool,
    ) -> impl Future<Output = RedisResult<Peek>> + Send;
    fn queue_lengths(
        &self,
        conn: &Conn,
    ) -> impl Future<Output = RedisResult<Vec<(QueueRef, u64)>>> + Send;
    fn figures(&self, conn: &Conn) -> impl Future<Output = RedisResult<Figures>> + Send;
    fn recheck_orphans(
        &self,
        conn: &Conn,
        orphans: &[OrphanRef],
    ) -> impl Future<Output = RedisResult<Vec<OrphanRef>>> + Send;
    /// Where `requeue --from <from>` takes jobs; `None`: no such set.
    fn requeue_source(&self, from: &str) -> Option<RequeueSource>;
    /// For a system whose jobs live in hashes: each set `requeue --from
    /// <from>` takes ids from (one per queue), and how one job goes back.
    fn requeue_moves(
        &self,
        conn: &Conn,
        from: &str,
    ) -> impl Future<Output = RedisResult<Vec<requeue::hashed::HashedMove>>> + Send;
    /// For a system whose jobs live in hashes: per queue, the in-flight
    /// jobs no live worker holds any more (`ids`), and how one goes back
    /// (checked again in its step). go-redis-work-queue has its own
    /// protocol (`gowork::orphaned`).
    fn orphan_moves(
        &self,
        conn: &Conn,
    ) -> impl Future<Output = RedisResult<Vec<requeue::hashed::HashedMove>>> + Send;
    /// Whether queue names live in Redis (the schema may list none).
    fn discovers_queues(&self) -> bool;
    /// The queue names found in Redis.
    fn found_queues(&self, conn: &Conn) -> impl Future<Output = RedisResult<Vec<String>>> + Send;
    /// Where a queue's name is registered, if anywhere.
    fn queue_registry(&self) -> Option<String>;
    /// How a copy tells jobs apart.
    fn job_identity(&self) -> copy::Identity;
    /// What a copy skips, in words.
    fn copy_rule(&self) -> &'static str;
    /// For a system that keeps each job in a hash ([`copy::Identity::Hash`]):
    /// the sets `replicate` copies of the queue named `queue` (with `dead`
    /// its dead set, else its waiting and scheduled sets), and those it
    /// leaves; `None` when `queue` is not a queue name of this system, or
    /// its jobs are payloads in lists.
    fn copy_sets(&self, queue: &str, dead: bool) -> Option<hashed_copy::QueueCopy>;
    /// The Redis type of the dead set.
    fn dead_store(&self) -> lists::Store;
    /// The columns of `get jobs`.
    const JOB_TABLE: JobTable;
    /// Every dead set (one per queue where the system keeps one per queue,
    /// found in Redis where its queues are).
    fn dead_sets(
        &self,
        conn: &Conn,
    ) -> impl Future<Output = RedisResult<Vec<dead::DeadSet>>> + Send;
    /// Why this system cannot do `verb` (`None`: it can). The reason is
    /// the system's own: what it keeps or lacks, and what to do instead.
    fn unsupported(&self, verb: Verb) -> Option<String>;
    /// The pause flags `pause`/`resume` act on: those of `queues` (names
    /// the caller checked exist), or with `all` every queue's (or the one
    /// flag of the deployment), each with its state now.
    fn pause_flags(
        &self,
        conn: &Conn,
        queues: &[String],
        all: bool,
    ) -> impl Future<Output = RedisResult<Vec<PauseFlag>>> + Send;
    /// The commands [`QueueSystem::set_paused`] sends (for `ACL DRYRUN`).
    fn pause_needed(&self, flag: &PauseFlag, paused: bool) -> Vec<guard::Needed>;
    /// Sets or clears one flag, as the system's own API does, in one
    /// server-side step.
    fn set_paused(
        &self,
        conn: &Conn,
        flag: &PauseFlag,
        paused: bool,
    ) -> impl Future<Output = RedisResult<()>> + Send;
    /// Every worker process `quiet`/`stop workers` could signal, live and
    /// orphaned (the orphaned are shown, never signalled).
    fn signal_candidates(
        &self,
        conn: &Conn,
    ) -> impl Future<Output = RedisResult<Vec<Worker>>> + Send;
    /// The commands [`QueueSystem::signal`] sends to `identity` (for `ACL
    /// DRYRUN`).
    fn signal_needed(&self, identity: &str, sig: signals::Signal) -> Vec<guard::Needed>;
    /// What the system calls `sig` on the wire (Sidekiq: `TSTP`, `TERM`).
    fn signal_name(&self, sig: signals::Signal) -> &'static str;
    /// Sends `sig` to one process, as the system's own API does.
    fn signal(
        &self,
        conn: &Conn,
        identity: &str,
        sig: signals::Signal,
    ) -> impl Future<Output = RedisResult<()>> + Send;
}

/// The trait over a system's own methods of the same names.
macro_rules! queue_system {
    ($t:ty, $kind:expr) => {
        impl QueueSystem for $t {
            const KIND: SchemaKind = $kind;
            const JOB_TABLE: JobTable = <$t>::JOB_TABLE;
            fn queues(&self) -> Vec<QueueRef> {
                <$t>::queues(self)
            }
            fn queue_named(&self, name: &str) -> Option<QueueRef> {
                <$t>::queue_named(self, name)
            }
            fn dead_letter(&self) -> QueueRef {
                <$t>::dead_letter(self)
            }
            fn worker_patterns(&self) -> String {
                <$t>::worker_patterns(self)
            }
            async fn queue_details(&self, conn: &Conn) -> RedisResult<Vec<QueueDetail>> {
                <$t>::queue_details(self, conn).await
            }
            async fn workers(&self, conn: &Conn) -> RedisResult<(Vec<Worker>, ScanNotes)> {
                <$t>::workers(self, conn).await
            }
            async fn peek(
                &self,
                conn: &Conn,
                key: &str,
                n: u64,
                from_end: bool,
            ) -> RedisResult<Peek> {
                <$t>::peek(self, conn, key, n, from_end).await
            }
            async fn queue_lengths(&self, conn: &Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
                <$t>::queue_lengths(self, conn).await
            }
            async fn figures(&self, conn: &Conn) -> RedisResult<Figures> {
                <$t>::figures(self, conn).await
            }
            async fn recheck_orphans(
                &self,
                conn: &Conn,
                orphans: &[OrphanRef],
            ) -> RedisResult<Vec<OrphanRef>> {
                <$t>::recheck_orphans(self, conn, orphans).await
            }
            fn requeue_source(&self, from: &str) -> Option<RequeueSource> {
                <$t>::requeue_source(self, from)
            }
            async fn requeue_moves(
                &self,
                conn: &Conn,
                from: &str,
            ) -> RedisResult<Vec<requeue::hashed::HashedMove>> {
                <$t>::requeue_moves(self, conn, from).await
            }
            async fn orphan_moves(
                &self,
                conn: &Conn,
            ) -> RedisResult<Vec<requeue::hashed::HashedMove>> {
                <$t>::orphan_moves(self, conn).await
            }
            fn discovers_queues(&self) -> bool {
                <$t>::discovers_queues(self)
            }
            async fn found_queues(&self, conn: &Conn) -> RedisResult<Vec<String>> {
                <$t>::found_queues(self, conn).await
            }
            fn queue_registry(&self) -> Option<String> {
                <$t>::queue_registry(self)
            }
            fn job_identity(&self) -> copy::Identity {
                <$t>::job_identity(self)
            }
            fn copy_rule(&self) -> &'static str {
                <$t>::copy_rule(self)
            }
            fn copy_sets(&self, queue: &str, dead: bool) -> Option<hashed_copy::QueueCopy> {
                <$t>::copy_sets(self, queue, dead)
            }
            fn dead_store(&self) -> lists::Store {
                <$t>::dead_store(self)
            }
            fn unsupported(&self, verb: Verb) -> Option<String> {
                <$t>::unsupported(self, verb)
            }
            async fn dead_sets(&self, conn: &Conn) -> RedisResult<Vec<dead::DeadSet>> {
                <$t>::dead_sets(self, conn).await
            }
            async fn signal_candidates(&self, conn: &Conn) -> RedisResult<Vec<Worker>> {
                <$t>::signal_candidates(self, conn).await
            }
            async fn pause_flags(
                &self,
                conn: &Conn,
                queues: &[String],
                all: bool,
            ) -> RedisResult<Vec<PauseFlag>> {
                <$t>::pause_flags(self, conn, queues, all).await
            }
            fn pause_needed(&self, flag: &PauseFlag, paused: bool) -> Vec<guard::Needed> {
                <$t>::pause_needed(self, flag, paused)
            }
            async fn set_paused(
                &self,
                conn: &Conn,
                flag: &PauseFlag,
                paused: bool,
            ) -> RedisResult<()> {
                <$t>::set_paused(self, conn, flag, paused).await
            }
            fn signal_needed(&self, identity: &str, sig: signals::Signal) -> Vec<guard::Needed> {
                <$t>::signal_needed(self, identity, sig)
            }
            fn signal_name(&self, sig: signals::Signal) -> &'static str {
                <$t>::signal_name(self, sig)
            }
            async fn signal(
                &self,
                conn: &Conn,
                identity: &str,
                sig: signals::Signal,
            ) -> RedisResult<()> {
                <$t>::signal(self, conn, identity, sig).await
            }
        }
    };
}

/// Every queue system qctl speaks, one line each: its variant, the `kind`
/// a contexts file names it by, and its type (whose module holds
/// `Schema::parse` and `new`). From this list come [`SchemaKind`],
/// [`SystemSchema`], [`parse_schema`], the [`System`] enum at the boundary
/// and its dispatch (`each!`). `$d` is a literal `$`, so the generated
/// `each!` can have metavariables of its own.
macro_rules! systems {
    ($d:tt $($variant:ident = $name:literal => $module:ident :: $ty:ident;)+) => {
        /// Which queue system a schema describes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum SchemaKind {
            $($variant,)+
        }

        impl SchemaKind {
            /// Every kind, as a contexts file writes it.
            pub(crate) const ALL: &'static [&'static str] = &[$($name,)+];

            pub(crate) fn parse(s: &str) -> Option<Self> {
                match s {
                    $($name => Some(SchemaKind::$variant),)+
                    _ => None,
                }
            }

            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $(SchemaKind::$variant => $name,)+
                }
            }
        }

        /// A schema as its system parsed it.
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub(crate) enum SystemSchema {
            $($variant($module::Schema),)+
        }

        impl SystemSchema {
            pub(crate) fn kind(&self) -> SchemaKind {
                match self {
                    $(SystemSchema::$variant(_) => SchemaKind::$variant,)+
                }
            }
        }

        /// Parses the options of a schema of `kind` (the system's own
        /// parser: the contexts file knows only `name` and `kind`).
        pub(crate) fn parse_schema(
            kind: SchemaKind,
            options: &SchemaOptions,
        ) -> Result<SystemSchema, schema::SchemaError> {
            match kind {
                $(SchemaKind::$variant => $module::Schema::parse(options).map(SystemSchema::$variant),)+
            }
        }

        /// The queue system of one context: the one enum at the boundary,
        /// which dispatches each call once to its [`QueueSystem`].
        #[derive(Debug, Clone)]
        pub(crate) enum System {
            $($variant($module::$ty),)+
        }

        impl System {
            pub(crate) fn for_schema(schema: &SystemSchema) -> System {
                match schema {
                    $(SystemSchema::$variant(s) => System::$variant($module::$ty::new(s.clone())),)+
                }
            }
        }

        $(queue_system!($module::$ty, SchemaKind::$variant);)+

        /// `each!(self, s => expr)`: `expr` on whichever system this is.
        macro_rules! each {
            ($d this:expr, $d s:ident => $d e:expr) => {
                match $d this {
                    $(System::$variant($d s) => $d e,)+
                }
            };
        }
    };
}

systems! { $
    GoRedisWorkQueue = "go-redis-work-queue" => gowork::GoRedisWorkQueue;
    Sidekiq = "sidekiq" => sidekiq::Sidekiq;
    BullMq = "bullmq" => bullmq::BullMq;
    Rq = "rq" => rq::Rq;
}

// After `systems!`: its `each!` dispatches `find_jobs` and `worker_detail`.
pub(crate) mod find;

impl Default for SystemSchema {
    /// go-redis-work-queue's own layout (the built-in `default` schema).
    fn default() -> Self {
        SystemSchema::GoRedisWorkQueue(gowork::Schema::default())
    }
}

impl System {
    pub(crate) fn schema_kind(&self) -> SchemaKind {
        fn k<T: QueueSystem>(_: &T) -> SchemaKind {
            T::KIND
        }
        each!(self, s => k(s))
    }

    pub(crate) fn kind(&self) -> &'static str {
        self.schema_kind().as_str()
    }

    /// The queues known without Redis, work queues first.
    pub(crate) fn queues(&self) -> Vec<QueueRef> {
        each!(self, s => QueueSystem::queues(s))
    }

    /// The work queues known without Redis, in priority order.
    pub(crate) fn work_queues(&self) -> Vec<QueueRef> {
        self.queues()
            .into_iter()
            .filter(|q| q.role == QueueRole::Work)
            .collect()
    }

    /// The dead-letter queue (or set).
    pub(crate) fn dead_letter(&self) -> QueueRef {
        each!(self, s => QueueSystem::dead_letter(s))
    }

    /// Where workers live, as one comparable string.
    pub(crate) fn worker_patterns(&self) -> String {
        each!(self, s => QueueSystem::worker_patterns(s))
    }

    /// Where `requeue --from <from>` takes jobs (`dead`, `retry`,
    /// `scheduled`); `None` when this system has no such set.
    pub(crate) fn requeue_source(&self, from: &str) -> Option<RequeueSource> {
        each!(self, s => QueueSystem::requeue_source(s, from))
    }

    /// Each hashed set `requeue --from <from>` takes ids from, and how.
    pub(crate) async fn requeue_moves(
        &self,
        conn: &Conn,
        from: &str,
    ) -> RedisResult<Vec<requeue::hashed::HashedMove>> {
        each!(self, s => QueueSystem::requeue_moves(s, conn, from).await)
    }

    /// Per queue, the orphaned in-flight jobs and how one goes back.
    pub(crate) async fn orphan_moves(
        &self,
        conn: &Conn,
    ) -> RedisResult<Vec<requeue::hashed::HashedMove>> {
        each!(self, s => QueueSystem::orphan_moves(s, conn).await)
    }

    /// Whether the system keeps its queue names in Redis, so a schema that
    /// lists none means "every queue found".
    pub(crate) fn discovers_queues(&self) -> bool {
        each!(self, s => QueueSystem::discovers_queues(s))
    }

    /// The queue names found in Redis (else the schema's work queues).
    pub(crate) async fn found_queues(&self, conn: &Conn) -> RedisResult<Vec<String>> {
        if !self.discovers_queues() {
            return Ok(self.work_queues().into_iter().map(|q| q.name).collect());
        }
        each!(self, s => QueueSystem::found_queues(s, conn).await)
    }

    /// Where the system registers a queue's name, for a copy to register
    /// the queues it fills.
    pub(crate) fn queue_registry(&self) -> Option<String> {
        each!(self, s => QueueSystem::queue_registry(s))
    }

    /// How a copy tells jobs apart.
    pub(crate) fn job_identity(&self) -> copy::Identity {
        each!(self, s => QueueSystem::job_identity(s))
    }

    /// The Redis type the jobs of the queue or set `name` are in.
    pub(crate) fn store_of(&self, name: &str) -> lists::Store {
        match self.queue_named(name).map(|q| q.role) {
            Some(QueueRole::DeadLetter) => self.dead_store(),
            Some(QueueRole::Scheduled | QueueRole::Retry) => lists::Store::SortedSet,
            _ => lists::Store::List,
        }
    }

    /// What a copy skips, in words, for plans.
    pub(crate) fn copy_rule(&self) -> &'static str {
        each!(self, s => QueueSystem::copy_rule(s))
    }

    /// What replicate copies of a queue whose jobs live in hashes.
    pub(crate) fn copy_sets(&self, queue: &str, dead: bool) -> Option<hashed_copy::QueueCopy> {
        each!(self, s => QueueSystem::copy_sets(s, queue, dead))
    }

    /// The Redis type of the dead set.
    pub(crate) fn dead_store(&self) -> lists::Store {
        each!(self, s => QueueSystem::dead_store(s))
    }

    /// The columns of `get jobs`.
    pub(crate) fn job_table(&self) -> JobTable {
        fn t<T: QueueSystem>(_: &T) -> JobTable {
            T::JOB_TABLE
        }
        each!(self, s => t(s))
    }

    /// Every dead set, per queue where the system keeps one per queue.
    pub(crate) async fn dead_sets(&self, conn: &Conn) -> RedisResult<Vec<dead::DeadSet>> {
        each!(self, s => QueueSystem::dead_sets(s, conn).await)
    }

    /// Why this system cannot do `verb` (`None`: it can).
    pub(crate) fn unsupported(&self, verb: Verb) -> Option<String> {
        each!(self, s => QueueSystem::unsupported(s, verb))
    }

    /// The pause flags of `queues` (or with `all`, every one).
    pub(crate) async fn pause_flags(
        &self,
        conn: &Conn,
        queues: &[String],
        all: bool,
    ) -> RedisResult<Vec<PauseFlag>> {
        each!(self, s => QueueSystem::pause_flags(s, conn, queues, all).await)
    }

    /// The commands [`System::set_paused`] sends.
    pub(crate) fn pause_needed(&self, flag: &PauseFlag, paused: bool) -> Vec<guard::Needed> {
        each!(self, s => QueueSystem::pause_needed(s, flag, paused))
    }

    /// Sets or clears one pause flag.
    pub(crate) async fn set_paused(
        &self,
        conn: &Conn,
        flag: &PauseFlag,
        paused: bool,
    ) -> RedisResult<()> {
        each!(self, s => QueueSystem::set_paused(s, conn, flag, paused).await)
    }

    /// Every process `quiet`/`stop workers` could signal.
    pub(crate) async fn signal_candidates(&self, conn: &Conn) -> RedisResult<Vec<Worker>> {
        each!(self, s => QueueSystem::signal_candidates(s, conn).await)
    }

    /// The commands [`System::signal`] sends (for `ACL DRYRUN`).
    pub(crate) fn signal_needed(&self, identity: &str, sig: signals::Signal) -> Vec<guard::Needed> {
        each!(self, s => QueueSystem::signal_needed(s, identity, sig))
    }

    /// What the system calls `sig` on the wire.
    pub(crate) fn signal_name(&self, sig: signals::Signal) -> &'static str {
        each!(self, s => QueueSystem::signal_name(s, sig))
    }

    /// Sends `sig` to one process, as the system's own API does.
    pub(crate) async fn signal(
        &self,
        conn: &Conn,
        identity: &str,
        sig: signals::Signal,
    ) -> RedisResult<()> {
        each!(self, s => QueueSystem::signal(s, conn, identity, sig).await)
    }

    /// A queue by its name or its key; `None` when neither.
    pub(crate) fn queue_named(&self, name: &str) -> Option<QueueRef> {
        each!(self, s => QueueSystem::queue_named(s, name))
    }

    /// Every queue with its length and the age of its next job.
    pub(crate) async fn queue_details(&self, conn: &Conn) -> RedisResult<Vec<QueueDetail>> {
        each!(self, s => QueueSystem::queue_details(s, conn).await)
    }

    /// Every worker Redis can show, sorted by id.
    pub(crate) async fn workers(&self, conn: &Conn) -> RedisResult<(Vec<Worker>, ScanNotes)> {
        each!(self, s => QueueSystem::workers(s, conn).await)
    }

    /// Up to `n` jobs of `key` without removing them.
    pub(crate) async fn peek(
        &self,
        conn: &Conn,
        key: &str,
        n: u64,
        from_end: bool,
    ) -> RedisResult<Peek> {
        each!(self, s => QueueSystem::peek(s, conn, key, n, from_end).await)
    }

    /// The length of every queue.
    pub(crate) async fn queue_lengths(&self, conn: &Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
        each!(self, s => QueueSystem::queue_lengths(s, conn).await)
    }

    /// Reads every figure.
    pub(crate) async fn figures(&self, conn: &Conn) -> RedisResult<Figures> {
        each!(self, s => QueueSystem::figures(s, conn).await)
    }

    /// Reads the given orphans again; returns those still orphaned.
    pub(crate) async fn recheck_orphans(
        &self,
        conn: &Conn,
        orphans: &[OrphanRef],
    ) -> RedisResult<Vec<OrphanRef>> {
        each!(self, s => QueueSystem::recheck_orphans(s, conn, orphans).await)
    }
}

/// Crash injection for the tests of the crash-safe protocols:
/// `QCTL_FAULT=POINT:N` aborts the process, like `kill -9`, the Nth time
/// it reaches `POINT` (`requeue-after-stage`, `requeue-after-push`,
/// `move-after-claim`, `move-after-push`, `copy-before-push`, `hashed-copy-before-step`,
/// `restore-after-step`, `orphan-before-take`, `orphan-after-stage`,
/// `sidekiq-before-move`);
/// `QCTL_FAULT=POINT:N:int` sends it SIGINT there instead, a Ctrl-C at
/// exactly that point; `POINT:N:pause` stops there until the file named by
/// `QCTL_FAULT_RESUME` exists (at most 60 s), for a test to change the
/// world in between.
pub(crate) fn fault(point: &str) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static SEEN: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
    let Ok(spec) = std::env::var("QCTL_FAULT") else {
        return;
    };
    let mut parts = spec.split(':');
    let (Some(p), Some(n)) = (parts.next(), parts.next()) else {
        return;
    };
    let action = parts.next();
    let seen = {
        let mut g = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let c = g
            .get_or_insert_with(HashMap::new)
            .entry(point.to_string())
            .or_insert(0);
        *c += 1;
        *c
    };
    if p == point && n.parse::<u64>().ok() == Some(seen) {
        if action == Some("pause") {
            eprintln!("QCTL_FAULT: paused at {point} #{seen}");
            let resume = std::env::var_os("QCTL_FAULT_RESUME").unwrap_or_default();
            let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !std::path::Path::new(&resume).exists() && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            return;
        }
        if action == Some("int") {
            eprintln!("QCTL_FAULT: SIGINT at {point} #{seen}");
            // SAFETY: raise(3) on this process; the gate handles SIGINT.
            unsafe { libc::raise(libc::SIGINT) };
            return;
        }
        eprintln!("QCTL_FAULT: aborting at {point} #{seen}");
        std::process::abort();
    }
}
