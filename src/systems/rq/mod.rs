//! RQ (Python's Redis Queue, 3.x), as it writes Redis (see
//! docs/rq-layout.md, checked against RQ 3.0.0):
//!
//! * SET `rq:queues` holds queue **keys** (`rq:queue:default`); each is a
//!   LIST of job ids, RPUSHed at enqueue, popped from the head (index 0
//!   runs next). A one-queue worker BLMOVEs the head into
//!   `rq:queue:<q>:intermediate` before it registers the job.
//! * Per queue, ZSETs of job ids: `rq:wip:<q>` (StartedJobRegistry; member
//!   `<job id>:<execution id>`, score = heartbeat expiry), `rq:failed:<q>`
//!   and `rq:finished:<q>` (score = when the entry expires),
//!   `rq:scheduled:<q>` (score = run at), `rq:deferred:<q>`.
//! * Each job is a HASH `rq:job:<id>` (see [`jobs`]); its last result,
//!   with a failure's traceback, is in the STREAM `rq:results:<id>`.
//! * SET `rq:workers` holds worker keys (`rq:worker:<name>`); each HASH has
//!   `last_heartbeat`, `state`, `queues`, `pid`, `hostname`, and a TTL that
//!   every heartbeat sets to the time until its next one + 60 s. A SET
//!   `rq:worker:<name>:executions` names its running `<job>:<execution>`.
//! * STRING `rq:suspended`: every worker stops taking jobs (RQ's only
//!   pause).
//!
//! Every key starts with the prefix (`RQ_KEY_PREFIX`, default `rq`).
//! Reads here are pure reads, one pipeline per phase: none of RQ's own
//! readers that clean up as they go (registry `count()`, `Worker.all()`).

use crate::connect::Conn;
use crate::systems::schema::{self as opts, SchemaError, SchemaOptions};
use crate::systems::{
    Figures, OrphanRef, Peek, ProcessInfo, QueueDetail, QueueRef, QueueRole, ScanNotes, SchemaKind,
    Verb, Worker, WorkerState,
};
use redis::{RedisResult, Value};

mod copy;
mod find;
pub(crate) mod jobs;
mod write;

/// A worker hash whose TTL is below this has missed its heartbeat by more
/// than 10 s: every RQ heartbeat sets the TTL to the time until the next
/// one plus 60 s (busy: `job_monitoring_interval` + 60, beating every
/// `job_monitoring_interval`; idle: `worker_ttl` + 60, beating every
/// `worker_ttl` - 15 at the latest).
pub(crate) const STALE_TTL_MS: i64 = 50_000;

/// A worker hash without a TTL (not RQ's doing) is stale once its
/// `last_heartbeat` is older than RQ's default idle hash TTL.
pub(crate) const STALE_BEAT_NO_TTL_S: f64 = 480.0;

/// RQ's own default queue (`Queue()`), whose failed registry is the dead
/// set qctl names when one is needed without a queue.
pub(crate) const DEFAULT_QUEUE: &str = "default";

/// A `kind: rq` schema's options.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Schema {
    /// `RQ_KEY_PREFIX` (default `rq`).
    pub(crate) prefix: String,
    /// Only these queues (default: every queue in SET `<prefix>:queues`).
    pub(crate) queues: Option<Vec<String>>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema {
            prefix: "rq".into(),
            queues: None,
        }
    }
}

impl Schema {
    const OPTIONS: &'static [&'static str] = &["prefix", "queues"];

    pub(crate) fn parse(o: &SchemaOptions) -> Result<Schema, SchemaError> {
        opts::check_known(SchemaKind::Rq, o, Self::OPTIONS)?;
        let prefix = opts::string(o, "prefix")?.unwrap_or_else(|| "rq".into());
        // RQ's own rule for RQ_KEY_PREFIX (rq/defaults.py).
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:{}-".contains(c))
        {
            return Err(SchemaError::new(
                format!("prefix `{prefix}` is not a prefix RQ accepts"),
                "RQ_KEY_PREFIX allows only letters, digits and _ . : - { }; write prefix: rq",
            ));
        }
        let queues = opts::string_list(o, "queues")?.filter(|q| !q.is_empty());
        if let Some(q) = queues
            .as_ref()
            .and_then(|q| q.iter().find(|q| q.is_empty()))
        {
            return Err(SchemaError::new(
                format!("queue name `{q}` is empty"),
                "list RQ queue names as the workers use them: queues: [default, high]",
            ));
        }
        Ok(Schema { prefix, queues })
    }
}

/// The sets RQ keeps per queue besides the queue itself: the key segment,
/// the role, and the names `get jobs` takes for it (`failed:default`, or
/// `failed` alone for the default queue).
const REGISTRIES: &[(&str, QueueRole, &[&str])] = &[
    ("scheduled", QueueRole::Scheduled, &["scheduled"]),
    (
        "failed",
        QueueRole::DeadLetter,
        &["failed", "dead", "dlq", "dead-letter", "dead_letter"],
    ),
    ("finished", QueueRole::Completed, &["finished", "completed"]),
    ("wip", QueueRole::Active, &["started", "wip", "active"]),
    ("deferred", QueueRole::Deferred, &["deferred"]),
];

/// Names of a queue itself (`queued:default` = `default`).
const WORK_ALIASES: &[&str] = &["queue", "queued", "waiting"];

#[derive(Debug, Clone)]
pub(crate) struct Rq {
    pub(crate) schema: Schema,
}

/// One worker hash, as read.
#[derive(Debug, Clone)]
struct RqWorker {
    name: String,
    /// Its hash exists.
    exists: bool,
    stale: bool,
    pttl_ms: i64,
    info: ProcessInfo,
}

/// Per queue: its lengths.
#[derive(Debug, Clone, Default)]
struct QueueCounts {
    queued: u64,
    intermediate: u64,
    /// ZCARD of each of [`REGISTRIES`], in order.
    registries: [u64; 5],
    /// `wip` entries whose score (heartbeat expiry) has passed.
    abandoned: u64,
}

/// Server time in float seconds (`TIME`), so that scores and ages do not
/// depend on this host's clock.
fn server_time(v: &Value) -> Option<f64> {
    let (s, us): (u64, u64) = redis::from_redis_value_ref(v).ok()?;
    Some(s as f64 + us as f64 / 1e6)
}

fn local_now() -> f64 {
    jiff::Timestamp::now().as_microsecond() as f64 / 1e6
}

fn cmd(name: &str, key: &str) -> redis::Cmd {
    let mut c = redis::cmd(name);
    c.arg(key);
    c
}

impl Rq {
    pub(crate) const JOB_TABLE: crate::systems::JobTable = crate::systems::JobTable::NameDetail;

    pub(crate) fn new(schema: Schema) -> Self {
        Rq { schema }
    }

    /// `<prefix>:<k>`.
    pub(crate) fn key(&self, k: &str) -> String {
        format!("{}:{k}", self.schema.prefix)
    }

    fn queue_key(&self, q: &str) -> String {
        self.key(&format!("queue:{q}"))
    }

    fn registry_key(&self, segment: &str, q: &str) -> String {
        self.key(&format!("{segment}:{q}"))
    }

    pub(crate) fn job_key(&self, id: &str) -> String {
        self.key(&format!("job:{id}"))
    }

    pub(crate) fn results_key(&self, id: &str) -> String {
        self.key(&format!("results:{id}"))
    }

    fn work_ref(&self, q: &str) -> QueueRef {
        QueueRef {
            name: q.to_string(),
            key: self.queue_key(q),
            role: QueueRole::Work,
        }
    }

    fn registry_refs(&self, q: &str) -> impl Iterator<Item = QueueRef> + '_ {
        let q = q.to_string();
        REGISTRIES.iter().map(move |(seg, role, names)| QueueRef {
            name: format!("{}:{q}", names[0]),
            key: self.registry_key(seg, &q),
            role: *role,
        })
    }

    /// Every queue and set of these queues: the queues first, then each
    /// queue's registries.
    fn refs(&self, names: &[String]) -> Vec<QueueRef> {
        let mut out: Vec<QueueRef> = names.iter().map(|n| self.work_ref(n)).collect();
        for n in names {
            out.extend(self.registry_refs(n));
        }
        out
    }

    /// What is known without Redis: the schema's queues (if it lists them)
    /// and their registries.
    pub(crate) fn queues(&self) -> Vec<QueueRef> {
        self.refs(self.schema.queues.as_deref().unwrap_or_default())
    }

    fn allowed(&self, q: &str) -> bool {
        !q.is_empty()
            && self
                .schema
                .queues
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| n == q))
    }

    /// The default queue when a registry is named without a queue: the
    /// schema's only queue, else RQ's `default`.
    fn lone_queue(&self) -> String {
        match self.schema.queues.as_deref() {
            Some([only]) => only.clone(),
            _ => DEFAULT_QUEUE.to_string(),
        }
    }

    /// A queue or registry by name or key: `default` (the queue),
    /// `failed:default` / `dead:default` (its failed registry), the same
    /// for `scheduled`, `finished`/`completed`, `started`/`wip`/`active`,
    /// `deferred`, `queued:default`; a registry alone (`failed`, `dlq`)
    /// means the default queue's; full keys (`rq:failed:default`) too.
    pub(crate) fn queue_named(&self, name: &str) -> Option<QueueRef> {
        let tail = name
            .strip_prefix(self.schema.prefix.as_str())
            .and_then(|t| t.strip_prefix(':'));
        if let Some(t) = tail {
            if let Some(q) = t.strip_prefix("queue:") {
                return self.allowed(q).then(|| self.work_ref(q));
            }
            for (seg, role, names) in REGISTRIES {
                if let Some(q) = t.strip_prefix(seg).and_then(|r| r.strip_prefix(':')) {
                    return self.allowed(q).then(|| QueueRef {
                        name: format!("{}:{q}", names[0]),
                        key: self.registry_key(seg, q),
                        role: *role,
                    });
                }
            }
        }
        for (seg, role, names) in REGISTRIES {
            let q = if names.contains(&name) {
                Some(self.lone_queue())
            } else {
                names
                    .iter()
                    .find_map(|n| name.strip_prefix(n).and_then(|r| r.strip_prefix(':')))
                    .map(String::from)
            };
            if let Some(q) = q {
                return self.allowed(&q).then(|| QueueRef {
                    key: self.registry_key(seg, &q),
                    name: format!("{}:{q}", names[0]),
                    role: *role,
                });
            }
        }
        let q = WORK_ALIASES
            .iter()
            .find_map(|n| name.strip_prefix(n).and_then(|r| r.strip_prefix(':')))
            .unwrap_or(name);
        self.allowed(q).then(|| self.work_ref(q))
    }

    /// The failed registry of the default queue (RQ keeps one per queue:
    /// the write verbs go through `dead_sets`, which lists every one).
    pub(crate) fn dead_letter(&self) -> QueueRef {
        let q = self.lone_queue();
        QueueRef {
            key: self.registry_key("failed", &q),
            name: format!("failed:{q}"),
            role: QueueRole::DeadLetter,
        }
    }

    pub(crate) fn worker_patterns(&self) -> String {
        format!(
            "workers={} suspended={}",
            self.key("workers"),
            self.key("suspended")
        )
    }

    /// Queue names from the members of SET `<prefix>:queues` (queue keys).
    fn names_from_members(&self, members: Vec<Vec<u8>>) -> Vec<String> {
        let prefix = self.key("queue:");
        let mut names: Vec<String> = members
            .into_iter()
            .filter_map(|m| String::from_utf8(m).ok())
            .filter_map(|m| m.strip_prefix(&prefix).map(String::from))
            .filter(|n| self.allowed(n))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The first phase of every read: the queue names (unless the schema
    /// lists them), the worker keys, the suspend flag and the server's
    /// clock, in one round trip.
    async fn first_phase(&self, conn: &Conn) -> RedisResult<(Vec<String>, Vec<String>, bool, f64)> {
        let cmds = vec![
            cmd("SMEMBERS", &self.key("queues")),
            cmd("SMEMBERS", &self.key("workers")),
            cmd("EXISTS", &self.key("suspended")),
            redis::cmd("TIME"),
        ];
        let cmds = if self.schema.queues.is_some() {
            cmds[1..].to_vec()
        } else {
            cmds
        };
        let mut v: Vec<Value> = conn.each_key(&cmds).await?;
        let time = v
            .pop()
            .as_ref()
            .and_then(server_time)
            .unwrap_or_else(local_now);
        let suspended: bool = redis::from_redis_value(v.pop().unwrap_or_default())?;
        let workers: Vec<Vec<u8>> = redis::from_redis_value(v.pop().unwrap_or_default())?;
        let mut workers: Vec<String> = workers
            .into_iter()
            .filter_map(|w| String::from_utf8(w).ok())
            .collect();
        workers.sort();
        let names = match &self.schema.queues {
            Some(q) => q.clone(),
            None => {
                let m: Vec<Vec<u8>> = redis::from_redis_value(v.pop().unwrap_or_default())?;
                self.names_from_members(m)
            }
        };
        Ok((names, workers, suspended, time))
    }

    /// Commands counting one queue; [`Self::parse_counts`] reads them.
    fn count_cmds(&self, q: &str, now: f64, out: &mut Vec<redis::Cmd>) {
        out.push(cmd("LLEN", &self.queue_key(q)));
        out.push(cmd("LLEN", &format!("{}:intermediate", self.queue_key(q))));
        for (seg, _, _) in REGISTRIES {
            out.push(cmd("ZCARD", &self.registry_key(seg, q)));
        }
        // What StartedJobRegistry.cleanup would call abandoned
        // (ZRANGEBYSCORE 0 now).
        let mut c = cmd("ZCOUNT", &self.registry_key("wip", q));
        c.arg("-inf").arg(format!("{now:.6}"));
        out.push(c);
    }

    const COUNT_CMDS: usize = 3 + REGISTRIES.len();

    fn parse_counts(v: &[Value]) -> RedisResult<QueueCounts> {
        let n = |i: usize| -> RedisResult<u64> { Ok(redis::from_redis_value_ref(&v[i])?) };
        let mut registries = [0; 5];
        for (i, r) in registries.iter_mut().enumerate() {
            *r = n(2 + i)?;
        }
        Ok(QueueCounts {
            queued: n(0)?,
            intermediate: n(1)?,
            registries,
            abandoned: n(2 + REGISTRIES.len())?,
        })
    }

    /// Commands reading one worker; [`Self::parse_worker`] reads them.
    fn worker_cmds(&self, key: &str, out: &mut Vec<redis::Cmd>) {
        let mut h = cmd("HMGET", key);
        h.arg(&[
            "last_heartbeat",
            "state",
            "queues",
            "pid",
            "hostname",
            "death",
        ]);
        out.push(h);
        out.push(cmd("PTTL", key));
        out.push(cmd("SMEMBERS", &format!("{key}:executions")));
    }

    fn parse_worker(&self, key: &str, v: &[Value], now: f64) -> RqWorker {
        let fields: Vec<Option<String>> = redis::from_redis_value_ref(&v[0]).unwrap_or_default();
        let f = |i: usize| fields.get(i).cloned().flatten().filter(|s| !s.is_empty());
        let pttl_ms: i64 = redis::from_redis_value_ref(&v[1]).unwrap_or(-2);
        let executions: Vec<Vec<u8>> = redis::from_redis_value_ref(&v[2]).unwrap_or_default();
        let mut busy_jobs: Vec<String> = executions
            .iter()
            .map(|e| jobs::job_id_of(&String::from_utf8_lossy(e)).to_string())
            .collect();
        busy_jobs.sort();
        let beat = f(0).and_then(|b| jobs::parse_time(&b));
        let beat_age_s = beat.map(|b| {
            let age = now - b.as_microsecond() as f64 / 1e6;
            (age.max(0.0) * 1000.0).round() / 1000.0
        });
        let exists = pttl_ms != -2;
        let stale = f(5).is_some()
            || if pttl_ms >= 0 {
                pttl_ms < STALE_TTL_MS
            } else {
                beat_age_s.is_none_or(|a| a > STALE_BEAT_NO_TTL_S)
            };
        let prefix = self.key("worker:");
        RqWorker {
            name: key.strip_prefix(&prefix).unwrap_or(key).to_string(),
            exists,
            stale,
            pttl_ms,
            info: ProcessInfo {
                hostname: f(4),
                pid: f(3).and_then(|p| p.parse().ok()),
                tag: None,
                concurrency: None,
                queues: f(2)
                    .map(|q| q.split(',').map(String::from).collect())
                    .unwrap_or_default(),
                quiet: None,
                beat_age_s,
                busy_jobs,
                ..ProcessInfo::default()
            },
        }
    }

    /// Every queue's counts, and the workers when asked, in two round
    /// trips.
    async fn snapshot(
        &self,
        conn: &Conn,
        with_workers: bool,
    ) -> RedisResult<(Vec<(String, QueueCounts)>, Vec<RqWorker>, bool, f64)> {
        let (names, worker_keys, suspended, now) = self.first_phase(conn).await?;
        let mut cmds = Vec::new();
        for q in &names {
            self.count_cmds(q, now, &mut cmds);
        }
        let worker_keys = if with_workers {
            worker_keys
        } else {
            Vec::new()
        };
        for w in &worker_keys {
            self.worker_cmds(w, &mut cmds);
        }
        let v: Vec<Value> = if cmds.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&cmds).await?
        };
        let (counts, rest) = v.split_at(names.len() * Self::COUNT_CMDS);
        let counts = names
            .into_iter()
            .zip(counts.chunks(Self::COUNT_CMDS))
            .map(|(n, c)| Ok((n, Self::parse_counts(c)?)))
            .collect::<RedisResult<Vec<_>>>()?;
        let workers = worker_keys
            .iter()
            .zip(rest.chunks(3))
            .map(|(k, r)| self.parse_worker(k, r, now))
            .filter(|w| w.exists)
            .collect();
        Ok((counts, workers, suspended, now))
    }

    fn lengths_of(&self, counts: &[(String, QueueCounts)]) -> Vec<(QueueRef, u64)> {
        let mut out: Vec<(QueueRef, u64)> = counts
            .iter()
            .map(|(n, c)| (self.work_ref(n), c.queued))
            .collect();
        for (n, c) in counts {
            out.extend(self.registry_refs(n).zip(c.registries));
        }
        out
    }

    /// Every queue and registry with its length.
    pub(crate) async fn queue_lengths(&self, conn: &Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
        let (counts, _, _, _) = self.snapshot(conn, false).await?;
        Ok(self.lengths_of(&counts))
    }

    /// Every queue and registry with its length and the time of the job at
    /// its head (a queue: `enqueued_at` of the next job; scheduled and
    /// deferred: `created_at`; failed and finished: `ended_at`; started:
    /// `started_at`), paused while `rq:suspended` exists.
    pub(crate) async fn queue_details(&self, conn: &Conn) -> RedisResult<Vec<QueueDetail>> {
        let (names, _, suspended, now) = self.first_phase(conn).await?;
        // The keys follow from the names alone: their counts and their
        // heads go in one batch (the names, this, then the heads' times).
        let mut refs: Vec<QueueRef> = names.iter().map(|n| self.work_ref(n)).collect();
        for n in &names {
            refs.extend(self.registry_refs(n));
        }
        let mut cmds = Vec::new();
        for q in &names {
            self.count_cmds(q, now, &mut cmds);
        }
        for q in &refs {
            let mut c = cmd(
                if q.role == QueueRole::Work {
                    "LRANGE"
                } else {
                    "ZRANGE"
                },
                &q.key,
            );
            c.arg(0).arg(0);
            cmds.push(c);
        }
        let v: Vec<Value> = if cmds.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&cmds).await?
        };
        let (counts, heads) = v.split_at(names.len() * Self::COUNT_CMDS);
        let counts = names
            .into_iter()
            .zip(counts.chunks(Self::COUNT_CMDS))
            .map(|(n, c)| Ok((n, Self::parse_counts(c)?)))
            .collect::<RedisResult<Vec<_>>>()?;
        let lengths = self.lengths_of(&counts);
        debug_assert!(lengths.iter().zip(&refs).all(|((a, _), b)| a.key == b.key));
        let heads: Vec<Vec<Vec<u8>>> = heads
            .iter()
            .map(redis::from_redis_value_ref)
            .collect::<Result<_, _>>()?;
        let ids: Vec<Option<String>> = heads
            .iter()
            .zip(&lengths)
            .map(|(h, (q, _))| {
                h.first().map(|m| {
                    let m = String::from_utf8_lossy(m);
                    if q.role == QueueRole::Active {
                        jobs::job_id_of(&m).to_string()
                    } else {
                        m.into_owned()
                    }
                })
            })
            .collect();
        let times: Vec<redis::Cmd> = ids
            .iter()
            .flatten()
            .map(|id| {
                let mut c = cmd("HMGET", &self.job_key(id));
                c.arg(&["enqueued_at", "created_at", "started_at", "ended_at"]);
                c
            })
            .collect();
        let times: Vec<Vec<Option<String>>> = if times.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&times).await?
        };
        let mut times = times.into_iter();
        Ok(lengths
            .into_iter()
            .zip(ids)
            .map(|((queue, length), id)| {
                let t = id.and_then(|_| times.next()).unwrap_or_default();
                let at = |i: usize| {
                    t.get(i)
                        .cloned()
                        .flatten()
                        .and_then(|s| jobs::parse_time(&s))
                };
                let next_created = match queue.role {
                    QueueRole::Work => at(0).or_else(|| at(1)),
                    QueueRole::Active => at(2).or_else(|| at(0)),
                    QueueRole::DeadLetter | QueueRole::Completed => at(3).or_else(|| at(1)),
                    _ => at(1),
                };
                QueueDetail {
                    paused: (queue.role == QueueRole::Work).then_some(suspended),
                    queue,
                    length,
                    next_created,
                }
            })
            .collect())
    }

    fn to_worker(w: RqWorker) -> Worker {
        Worker {
            state: if w.stale {
                WorkerState::Orphaned
            } else {
                WorkerState::Active
            },
            in_flight: w.info.busy_jobs.len() as u64,
            heartbeat_ttl_ms: (!w.stale).then_some(w.pttl_ms),
            job_id: w.info.busy_jobs.first().cloned(),
            worker: w.name,
            process: Some(Box::new(w.info)),
        }
    }

    /// One row per worker hash of SET `<prefix>:workers` (a member whose
    /// hash is gone is a worker RQ's own `Worker.all()` would prune: not
    /// shown).
    pub(crate) async fn workers(&self, conn: &Conn) -> RedisResult<(Vec<Worker>, ScanNotes)> {
        let workers = self.snapshot_workers(conn).await?;
        Ok((
            workers.into_iter().map(Self::to_worker).collect(),
            ScanNotes::default(),
        ))
    }

    /// Only the workers (the queues are not counted), in two round trips.
    async fn snapshot_workers(&self, conn: &Conn) -> RedisResult<Vec<RqWorker>> {
        let first = [cmd("SMEMBERS", &self.key("workers")), redis::cmd("TIME")];
        let v: Vec<Value> = conn.each_key(&first).await?;
        let now = v.get(1).and_then(server_time).unwrap_or_else(local_now);
        let keys: Vec<Vec<u8>> = redis::from_redis_value_ref(&v[0])?;
        let mut keys: Vec<String> = keys
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .collect();
        keys.sort();
        let mut cmds = Vec::new();
        for k in &keys {
            self.worker_cmds(k, &mut cmds);
        }
        let r: Vec<Value> = if cmds.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&cmds).await?
        };
        Ok(keys
            .iter()
            .zip(r.chunks(3))
            .map(|(k, r)| self.parse_worker(k, r, now))
            .filter(|w| w.exists)
            .collect())
    }

    pub(crate) async fn figures(&self, conn: &Conn) -> RedisResult<Figures> {
        let (counts, workers, suspended, _) = self.snapshot(conn, true).await?;
        let reg = |seg: &str| -> u64 {
            let i = REGISTRIES
                .iter()
                .position(|(s, _, _)| *s == seg)
                .unwrap_or(0);
            counts.iter().map(|(_, c)| c.registries[i]).sum()
        };
        let orphans: Vec<OrphanRef> = counts
            .iter()
            .filter(|(_, c)| c.abandoned > 0)
            .map(|(n, c)| OrphanRef {
                worker: format!("wip:{n}"),
                key: self.registry_key("wip", n),
                jobs: c.abandoned,
            })
            .collect();
        Ok(Figures {
            queued: Some(counts.iter().map(|(_, c)| c.queued).sum()),
            scheduled: Some(reg("scheduled")),
            retrying: None,
            dead_letter: Some(reg("failed")),
            // Started jobs, and jobs a worker has taken off a queue but not
            // yet registered (its `:intermediate` list).
            processing: Some(reg("wip") + counts.iter().map(|(_, c)| c.intermediate).sum::<u64>()),
            completed: Some(reg("finished")),
            processed_total: None,
            failed_total: None,
            workers: Some(workers.iter().filter(|w| !w.stale).count() as u64),
            orphaned_workers: Some(workers.iter().filter(|w| w.stale).count() as u64),
            orphaned_jobs: Some(orphans.iter().map(|o| o.jobs).sum()),
            paused_queues: Some(if suspended { counts.len() as u64 } else { 0 }),
            orphans,
            absent: vec![
                (
                    "retrying",
                    "rq keeps no retry set (a retried job goes back to its queue or to scheduled)",
                ),
                (
                    "processed_total",
                    "rq counts jobs per worker process only, and forgets them when the worker exits",
                ),
                (
                    "failed_total",
                    "rq counts jobs per worker process only, and forgets them when the worker exits",
                ),
            ],
            queues: self.lengths_of(&counts),
        })
    }

    /// The `wip` registries read again: the entries still past their score.
    pub(crate) async fn recheck_orphans(
        &self,
        conn: &Conn,
        orphans: &[OrphanRef],
    ) -> RedisResult<Vec<OrphanRef>> {
        if orphans.is_empty() {
            return Ok(Vec::new());
        }
        let t: Value = conn.query(&redis::cmd("TIME")).await?;
        let now = server_time(&t).unwrap_or_else(local_now);
        let cmds: Vec<redis::Cmd> = orphans
            .iter()
            .map(|o| {
                let mut c = cmd("ZCOUNT", &o.key);
                c.arg("-inf").arg(format!("{now:.6}"));
                c
            })
            .collect();
        let n: Vec<u64> = conn.each_key(&cmds).await?;
        Ok(orphans
            .iter()
            .zip(n)
            .filter(|(_, n)| *n > 0)
            .map(|(o, n)| OrphanRef {
                jobs: n,
                ..o.clone()
            })
            .collect())
    }

    pub(crate) async fn peek(
        &self,
        conn: &Conn,
        key: &str,
        n: u64,
        from_end: bool,
    ) -> RedisResult<Peek> {
        jobs::peek(self, conn, key, n, from_end).await
    }

    /// `dead` (each failed registry) and `scheduled` (each scheduled
    /// registry): jobs in hashes, each back to its origin queue
    /// ([`Rq::requeue_moves`]).
    pub(crate) fn requeue_source(&self, from: &str) -> Option<super::RequeueSource> {
        let segment = match from {
            "dead" => "failed",
            "scheduled" => "scheduled",
            _ => return None,
        };
        Some(super::RequeueSource {
            key: self.registry_key(segment, "*"),
            store: super::lists::Store::SortedSet,
            own_queue: None,
            hashed: true,
        })
    }

    pub(crate) fn discovers_queues(&self) -> bool {
        self.schema.queues.is_none()
    }

    pub(crate) async fn found_queues(&self, conn: &Conn) -> RedisResult<Vec<String>> {
        if let Some(q) = &self.schema.queues {
            return Ok(q.clone());
        }
        let m: Vec<Vec<u8>> = conn.query(&cmd("SMEMBERS", &self.key("queues"))).await?;
        Ok(self.names_from_members(m))
    }

    /// `None`: SET `<prefix>:queues` holds queue keys, not the names a
    /// list copy registers; a hashed copy registers the key itself
    /// (`copy.rs`).
    pub(crate) fn queue_registry(&self) -> Option<String> {
        None
    }

    /// Each job is its own hash `rq:job:<id>`, told by its id (`copy.rs`).
    pub(crate) fn job_identity(&self) -> super::copy::Identity {
        super::copy::Identity::Hash
    }

    pub(crate) fn copy_rule(&self) -> &'static str {
        "job hashes and their results streams copied with their ids and TTLs: one already on a target is skipped when it is the same job, counted under conflicts and left alone when it is another; queued jobs go after those queued there, in the source's order; scheduled and failed scores kept; started, finished and deferred jobs are not copied"
    }

    pub(crate) fn dead_store(&self) -> super::lists::Store {
        super::lists::Store::SortedSet
    }

    /// What RQ cannot do (yet), and why.
    pub(crate) fn unsupported(&self, verb: Verb) -> Option<String> {
        let why = match verb {
            Verb::PurgeDlq
            | Verb::RestoreDlq
            | Verb::Requeue { from: "dead" | "scheduled" }
            | Verb::RequeueOrphaned
            | Verb::Pause { all: true }
            | Verb::Resume { all: true }
            | Verb::Replicate
            | Verb::Stop => return None,
            Verb::Requeue { from } => format!(
                "requeue --from {from}: RQ keeps jobs waiting to retry in each queue's scheduled registry: use --from scheduled"
            ),
            Verb::Pause { all: false } | Verb::Resume { all: false } => "RQ has no per-queue pause: its suspend (rq suspend) stops every worker of the deployment; use --all".to_string(),
            Verb::Quiet => {
                "RQ workers take no quiet command: `rq` has shutdown (stop workers) only".to_string()
            }
            Verb::Bench => "bench is go-redis-work-queue's: an RQ job is a pickled call of a function every RQ fleet would have to import".to_string(),
        };
        Some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rq(prefix: &str, queues: Option<&[&str]>) -> Rq {
        Rq::new(Schema {
            prefix: prefix.into(),
            queues: queues.map(|q| q.iter().map(|s| s.to_string()).collect()),
        })
    }

    #[test]
    fn names_and_keys_follow_rqs_layout() {
        let r = rq("rq", None);
        let q = r.queue_named("default").unwrap();
        assert_eq!(
            (q.key.as_str(), q.role),
            ("rq:queue:default", QueueRole::Work)
        );
        let f = r.queue_named("failed:mail").unwrap();
        assert_eq!(
            (f.name.as_str(), f.key.as_str()),
            ("failed:mail", "rq:failed:mail")
        );
        assert_eq!(f.role, QueueRole::DeadLetter);
        assert_eq!(r.queue_named("dlq").unwrap().key, "rq:failed:default");
        assert_eq!(r.queue_named("started:a").unwrap().key, "rq:wip:a");
        assert_eq!(r.queue_named("rq:wip:a").unwrap().role, QueueRole::Active);
        assert_eq!(r.queue_named("completed:a").unwrap().key, "rq:finished:a");
        assert_eq!(r.queue_named("rq:queue:a").unwrap().name, "a");
        assert_eq!(r.queue_named("queued:a").unwrap().key, "rq:queue:a");
        assert_eq!(
            r.queue_named("deferred:a").unwrap().role,
            QueueRole::Deferred
        );
        let p = rq("{py}", Some(&["high", "low"]));
        assert_eq!(p.queue_named("high").unwrap().key, "{py}:queue:high");
        assert!(p.queue_named("mail").is_none());
        assert!(p.queue_named("failed:mail").is_none());
        assert_eq!(
            p.queue_named("{py}:scheduled:low").unwrap().name,
            "scheduled:low"
        );
        assert_eq!(p.queues().len(), 2 + 2 * REGISTRIES.len());
        let one = rq("rq", Some(&["emails"]));
        assert_eq!(one.queue_named("dead").unwrap().key, "rq:failed:emails");
        assert_eq!(
            r.names_from_members(vec![
                b"rq:queue:b".to_vec(),
                b"rq:queue:a".to_vec(),
                b"other".to_vec(),
                vec![0xff]
            ]),
            vec!["a", "b"]
        );
    }

    #[test]
    fn schemas_are_checked() {
        let mut o = SchemaOptions::new();
        assert_eq!(Schema::parse(&o).unwrap(), Schema::default());
        o.insert("prefix".into(), "my rq".into());
        assert!(Schema::parse(&o).is_err());
        o.insert("prefix".into(), "{rq}".into());
        assert_eq!(Schema::parse(&o).unwrap().prefix, "{rq}");
        o.insert("prefx".into(), "x".into());
        let e = Schema::parse(&o).unwrap_err();
        assert!(e.hint.contains("did you mean `prefix`"), "{e:?}");
    }

    #[test]
    fn every_write_says_why() {
        let r = rq("rq", None);
        assert!(r.unsupported(Verb::Quiet).unwrap().contains("shutdown"));
        assert!(r.unsupported(Verb::Bench).unwrap().contains("pickled"));
        assert!(r.unsupported(Verb::Requeue { from: "dead" }).is_none());
        assert!(r.unsupported(Verb::Pause { all: true }).is_none());
        assert!(r.unsupported(Verb::Stop).is_none());
        assert!(r.unsupported(Verb::Replicate).is_none());
        assert!(
            r.unsupported(Verb::Pause { all: false })
                .unwrap()
                .contains("--all")
        );
    }

    #[test]
    fn a_worker_is_stale_once_it_missed_its_heartbeat() {
        let r = rq("rq", None);
        let now = 1_796_178_500.0;
        let w = |beat: &str, pttl: i64, death: Option<&str>| {
            let fields = Value::Array(vec![
                Value::BulkString(beat.into()),
                Value::BulkString(b"busy".to_vec()),
                Value::BulkString(b"default,high".to_vec()),
                Value::BulkString(b"42".to_vec()),
                Value::BulkString(b"vm".to_vec()),
                death.map_or(Value::Nil, |d| Value::BulkString(d.into())),
            ]);
            let ex = Value::Array(vec![Value::BulkString(b"j1:abc".to_vec())]);
            r.parse_worker("rq:worker:w1", &[fields, Value::Int(pttl), ex], now)
        };
        let live = w("2026-12-02T02:27:12.954849Z", 85_000, None);
        assert!(!live.stale && live.exists);
        assert_eq!(live.name, "w1");
        assert_eq!(live.info.queues, vec!["default", "high"]);
        assert_eq!(live.info.pid, Some(42));
        assert_eq!(live.info.busy_jobs, vec!["j1"]);
        assert!(w("2026-12-02T02:27:12Z", 40_000, None).stale);
        assert!(w("x", 400_000, Some("2026-12-02T02:27:12Z")).stale);
        assert!(!w("x", 400_000, None).stale, "an idle worker beats rarely");
        assert!(w("x", -1, None).stale, "no TTL and no readable beat");
        assert!(!w("x", -2, None).exists);
    }
}
