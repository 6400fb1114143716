//! Sidekiq (6.x; 7.x layouts read too), as it writes Redis (see
//! docs/sidekiq-layout.md, checked against Sidekiq 6.4.1):
//!
//! * SET `queues` names the queues; each is a LIST `queue:<q>` of job JSON
//!   (LPUSH by clients, BRPOP by processes: the right end runs next).
//! * ZSETs `schedule` (score: run at), `retry` (score: retry at) and
//!   `dead` (score: died at), scores in float seconds.
//! * SET `processes` names the processes; each has a HASH `<identity>`
//!   (`info` JSON, `busy`, `beat`, `quiet`) and, while busy, a HASH
//!   `<identity>:workers` (7.x: `:work`) of tid -> `{queue, payload (a JSON
//!   string), run_at}`, both expiring 60 s after the last beat (every 5 s).
//!   A SIGKILLed process stays in `processes` until something prunes it;
//!   its hash lingers up to 60 s with a stale `beat`.
//! * STRINGs `stat:processed` (failures included) and `stat:failed`.
//!
//! With redis-namespace, every key starts with `<namespace>:`; values
//! (set members, identities in JSON) do not.
//!
//! Reads here are pure reads: nothing of Sidekiq's own pruning
//! (`ProcessSet.new` SREMs dead members).

use crate::connect::Conn;
use crate::systems::SchemaKind;
use crate::systems::Verb;
use crate::systems::schema::{self as opts, SchemaError, SchemaOptions};
use crate::systems::{
    Figures, Job, OrphanRef, Payload, Peek, ProcessInfo, QueueDetail, QueueRef, QueueRole,
    ScanNotes, Worker, WorkerState,
};
use redis::{RedisResult, Value};

mod find;
pub(crate) mod signals;

/// A process whose last beat is older than this is dead (six missed
/// beats; its hash expires 60 s after the last one).
pub(crate) const STALE_BEAT_S: f64 = 30.0;

/// A `kind: sidekiq` schema's options.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Default)]
pub(crate) struct Schema {
    /// redis-namespace prefix (without the `:`).
    pub(crate) namespace: Option<String>,
    /// Only these queues (default: every queue in SET `queues`).
    pub(crate) queues: Option<Vec<String>>,
}

impl Schema {
    const OPTIONS: &'static [&'static str] = &["namespace", "queues"];

    pub(crate) fn parse(o: &SchemaOptions) -> Result<Schema, SchemaError> {
        opts::check_known(SchemaKind::Sidekiq, o, Self::OPTIONS)?;
        let namespace = opts::string(o, "namespace")?
            .map(|n| n.trim_end_matches(':').to_string())
            .filter(|n| !n.is_empty());
        let queues = opts::string_list(o, "queues")?.filter(|q| !q.is_empty());
        if let Some(q) = queues
            .as_ref()
            .and_then(|q| q.iter().find(|q| q.is_empty() || q.contains(' ')))
        {
            return Err(SchemaError::new(
                format!("queue name `{q}` is empty or holds a space"),
                "list Sidekiq queue names as the workers use them: queues: [default, mail]",
            ));
        }
        Ok(Schema { namespace, queues })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Sidekiq {
    pub(crate) schema: Schema,
}

/// The sets Sidekiq keeps jobs in besides its queues, with their roles and
/// the names `get jobs` takes for them.
const SETS: &[(&str, QueueRole, &[&str])] = &[
    ("schedule", QueueRole::Scheduled, &["scheduled", "schedule"]),
    ("retry", QueueRole::Retry, &["retry", "retries", "retrying"]),
    (
        "dead",
        QueueRole::DeadLetter,
        &["dead", "dead-letter", "dlq", "dead_letter", "morgue"],
    ),
];

/// One process, as read.
#[derive(Debug, Clone)]
struct Process {
    identity: String,
    /// Its hash exists (it beat within the last 60 s).
    alive_hash: bool,
    info: ProcessInfo,
    busy_entries: u64,
}

impl Sidekiq {
    without!(pause, "Sidekiq OSS has no queue pause");
    without!(hashed_jobs);

    pub(crate) const JOB_TABLE: crate::systems::JobTable = crate::systems::JobTable::NameDetail;

    /// Its one dead set, shared by every queue.
    pub(crate) async fn dead_sets(
        &self,
        _conn: &Conn,
    ) -> RedisResult<Vec<crate::systems::dead::DeadSet>> {
        Ok(vec![crate::systems::dead::DeadSet {
            queue: None,
            key: self.dead_letter().key,
            store: crate::systems::dead::DeadStore::SortedSet,
        }])
    }

    /// What Sidekiq (OSS) cannot do, and why.
    pub(crate) fn unsupported(&self, verb: Verb) -> Option<String> {
        let why = match verb {
            Verb::PurgeDlq
            | Verb::RestoreDlq
            | Verb::Requeue { .. }
            | Verb::Replicate
            | Verb::Quiet
            | Verb::Stop => return None,
            Verb::RequeueOrphaned => {
                "requeue --orphaned: Sidekiq OSS has no reliable fetch, so a killed process's job is in no queue or set any more (only briefly in its :workers hash); nothing can be put back"
            }
            Verb::Bench => {
                "bench enqueues marked go-redis-work-queue payloads and watches its completed list; Sidekiq keeps no completed jobs to watch, and a synthetic job needs a worker class that every Sidekiq fleet would have to load"
            }
            Verb::Pause { .. } | Verb::Resume { .. } => {
                "Sidekiq OSS has no queue pause (Sidekiq Pro's pause is a paid feature qctl does not speak); quiet workers stops a fleet taking jobs instead"
            }
        };
        Some(why.to_string())
    }

    pub(crate) fn new(schema: Schema) -> Self {
        Sidekiq { schema }
    }

    /// A key with the namespace in front.
    pub(crate) fn key(&self, k: &str) -> String {
        match &self.schema.namespace {
            Some(ns) => format!("{ns}:{k}"),
            None => k.to_string(),
        }
    }

    fn queue_ref(&self, name: &str) -> QueueRef {
        QueueRef {
            name: name.to_string(),
            key: self.key(&format!("queue:{name}")),
            role: QueueRole::Work,
        }
    }

    fn set_refs(&self) -> Vec<QueueRef> {
        SETS.iter()
            .map(|(k, role, names)| QueueRef {
                name: names[0].to_string(),
                key: self.key(k),
                role: *role,
            })
            .collect()
    }

    /// What is known without Redis: the schema's queues (if it lists
    /// them) and the three sets.
    pub(crate) fn queues(&self) -> Vec<QueueRef> {
        let mut q: Vec<QueueRef> = self
            .schema
            .queues
            .iter()
            .flatten()
            .map(|n| self.queue_ref(n))
            .collect();
        q.extend(self.set_refs());
        q
    }

    /// The dead set.
    pub(crate) fn dead_letter(&self) -> QueueRef {
        self.set_refs().remove(2)
    }

    /// A queue or set by name (`default`, `scheduled`, `retry`, `dead`,
    /// `dlq`) or by key. Any name can be a Sidekiq queue, so an unknown
    /// name is a queue unless the schema lists its queues.
    pub(crate) fn queue_named(&self, name: &str) -> Option<QueueRef> {
        for (k, role, names) in SETS {
            if names.contains(&name) || self.key(k) == name {
                return Some(QueueRef {
                    name: names[0].to_string(),
                    key: self.key(k),
                    role: *role,
                });
            }
        }
        let prefix = self.key("queue:");
        let q = name.strip_prefix(&prefix).unwrap_or(name);
        if q.is_empty() {
            return None;
        }
        match &self.schema.queues {
            Some(list) if !list.iter().any(|l| l == q) => None,
            _ => Some(self.queue_ref(q)),
        }
    }

    /// The queue names: the schema's list, else SET `queues`, sorted.
    pub(crate) async fn queue_names(&self, conn: &Conn) -> RedisResult<Vec<String>> {
        if let Some(q) = &self.schema.queues {
            return Ok(q.clone());
        }
        let mut names: Vec<String> = conn
            .query(redis::cmd("SMEMBERS").arg(self.key("queues")))
            .await?;
        names.sort();
        Ok(names)
    }

    /// Every queue and set with its length.
    pub(crate) async fn queue_lengths(&self, conn: &Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
        let mut refs: Vec<QueueRef> = self
            .queue_names(conn)
            .await?
            .iter()
            .map(|n| self.queue_ref(n))
            .collect();
        refs.extend(self.set_refs());
        let cmds: Vec<redis::Cmd> = refs
            .iter()
            .map(|q| {
                let mut c = redis::cmd(if q.role == QueueRole::Work {
                    "LLEN"
                } else {
                    "ZCARD"
                });
                c.arg(&q.key);
                c
            })
            .collect();
        let lens: Vec<u64> = conn.each_key(&cmds).await?;
        Ok(refs.into_iter().zip(lens).collect())
    }

    /// Every queue with its length and the time its next job was enqueued
    /// (Sidekiq's latency), then the sets with the time of their first
    /// entry's job.
    pub(crate) async fn queue_details(&self, conn: &Conn) -> RedisResult<Vec<QueueDetail>> {
        let mut refs: Vec<QueueRef> = self
            .queue_names(conn)
            .await?
            .iter()
            .map(|n| self.queue_ref(n))
            .collect();
        refs.extend(self.set_refs());
        // Each key's length and next entry in one batch: two round trips
        // in all (the queue names, then this).
        let mut cmds: Vec<redis::Cmd> = Vec::with_capacity(refs.len() * 2);
        for q in &refs {
            if q.role == QueueRole::Work {
                let mut n = redis::cmd("LLEN");
                n.arg(&q.key);
                let mut c = redis::cmd("LRANGE");
                c.arg(&q.key).arg(-1).arg(-1);
                cmds.extend([n, c]);
            } else {
                let mut n = redis::cmd("ZCARD");
                n.arg(&q.key);
                let mut c = redis::cmd("ZRANGE");
                c.arg(&q.key).arg(0).arg(0);
                cmds.extend([n, c]);
            }
        }
        let replies: Vec<Value> = conn.each_key(&cmds).await?;
        let mut lengths = Vec::with_capacity(refs.len());
        let mut next: Vec<Vec<Vec<u8>>> = Vec::with_capacity(refs.len());
        for (q, pair) in refs.into_iter().zip(replies.chunks(2)) {
            let len: u64 = redis::from_redis_value(pair[0].clone())?;
            let first: Vec<Vec<u8>> = redis::from_redis_value(pair[1].clone())?;
            lengths.push((q, len));
            next.push(first);
        }
        Ok(lengths
            .into_iter()
            .zip(next)
            .map(|((queue, length), first)| {
                let job = first.first().map(|b| parse_job(b, None));
                let next_created = job.and_then(|j| {
                    if queue.role == QueueRole::Work {
                        j.created
                    } else {
                        j.failed_at.or(j.created)
                    }
                });
                QueueDetail {
                    queue,
                    length,
                    next_created,
                    paused: None,
                }
            })
            .collect())
    }

    /// Every process in SET `processes` (and its hash, busy entries).
    async fn processes(&self, conn: &Conn, now: f64) -> RedisResult<Vec<Process>> {
        let mut ids: Vec<String> = conn
            .query(redis::cmd("SMEMBERS").arg(self.key("processes")))
            .await?;
        ids.sort();
        let mut cmds = Vec::with_capacity(ids.len() * 3);
        for id in &ids {
            let mut c = redis::cmd("HMGET");
            c.arg(self.key(id)).arg(&["info", "busy", "beat", "quiet"]);
            cmds.push(c);
            let mut w6 = redis::cmd("HVALS");
            w6.arg(self.key(&format!("{id}:workers")));
            cmds.push(w6);
            let mut w7 = redis::cmd("HVALS");
            w7.arg(self.key(&format!("{id}:work")));
            cmds.push(w7);
        }
        let replies: Vec<Value> = conn.each_key(&cmds).await?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, r) in ids.into_iter().zip(replies.chunks(3)) {
            let fields: Vec<Option<String>> =
                redis::from_redis_value_ref(&r[0]).unwrap_or_default();
            let field = |i: usize| fields.get(i).cloned().flatten();
            let info: serde_json::Value = field(0)
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default();
            let beat: Option<f64> = field(2).and_then(|b| b.parse().ok());
            let mut busy_jobs = Vec::new();
            for v in &r[1..] {
                let works: Vec<Vec<u8>> = redis::from_redis_value_ref(v).unwrap_or_default();
                for w in works {
                    busy_jobs.push(work_jid(&w).unwrap_or_else(|| "?".into()));
                }
            }
            let s = |k: &str| info.get(k).and_then(|v| v.as_str()).map(String::from);
            out.push(Process {
                alive_hash: field(0).is_some() || beat.is_some(),
                busy_entries: busy_jobs.len() as u64,
                info: ProcessInfo {
                    hostname: s("hostname"),
                    pid: info.get("pid").and_then(|v| v.as_u64()),
                    tag: s("tag").filter(|t| !t.is_empty()),
                    concurrency: info.get("concurrency").and_then(|v| v.as_u64()),
                    queues: info
                        .get("queues")
                        .and_then(|v| v.as_array())
                        .map(|a| {
                            a.iter()
                                .filter_map(|q| q.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                    quiet: field(3).map(|q| q == "true"),
                    beat_age_s: beat.map(|b| ((now - b).max(0.0) * 1000.0).round() / 1000.0),
                    busy_jobs,
                    ..ProcessInfo::default()
                },
                identity: id,
            });
        }
        Ok(out)
    }

    fn is_stale(p: &Process) -> bool {
        p.info.beat_age_s.is_none_or(|a| a > STALE_BEAT_S)
    }

    pub(crate) async fn workers(&self, conn: &Conn) -> RedisResult<(Vec<Worker>, ScanNotes)> {
        let procs = self.processes(conn, now_s()).await?;
        let workers = procs
            .into_iter()
            .filter(|p| p.alive_hash)
            .map(|p| Worker {
                state: if Self::is_stale(&p) {
                    WorkerState::Orphaned
                } else {
                    WorkerState::Active
                },
                in_flight: p.busy_entries,
                heartbeat_ttl_ms: None,
                job_id: p.info.busy_jobs.first().cloned(),
                worker: p.identity,
                process: Some(Box::new(p.info)),
            })
            .collect();
        Ok((workers, ScanNotes::default()))
    }

    pub(crate) async fn figures(&self, conn: &Conn) -> RedisResult<Figures> {
        let now = now_s();
        let (queues, procs, stats) =
            tokio::try_join!(self.queue_lengths(conn), self.processes(conn, now), async {
                let cmds: Vec<redis::Cmd> = ["stat:processed", "stat:failed"]
                    .iter()
                    .map(|k| {
                        let mut c = redis::cmd("GET");
                        c.arg(self.key(k));
                        c
                    })
                    .collect();
                conn.each_key::<Option<u64>>(&cmds).await
            })?;
        let of = |role: QueueRole| -> u64 {
            queues
                .iter()
                .filter(|(q, _)| q.role == role)
                .map(|(_, n)| *n)
                .sum()
        };
        let live: Vec<&Process> = procs
            .iter()
            .filter(|p| p.alive_hash && !Self::is_stale(p))
            .collect();
        let dead: Vec<&Process> = procs
            .iter()
            .filter(|p| p.alive_hash && Self::is_stale(p))
            .collect();
        let orphans: Vec<OrphanRef> = dead
            .iter()
            .map(|p| OrphanRef {
                worker: p.identity.clone(),
                key: self.key(&p.identity),
                jobs: p.busy_entries,
            })
            .collect();
        Ok(Figures {
            queued: Some(of(QueueRole::Work)),
            scheduled: Some(of(QueueRole::Scheduled)),
            retrying: Some(of(QueueRole::Retry)),
            dead_letter: Some(of(QueueRole::DeadLetter)),
            processing: Some(live.iter().map(|p| p.busy_entries).sum()),
            completed: None,
            processed_total: Some(stats[0].unwrap_or(0)),
            failed_total: Some(stats[1].unwrap_or(0)),
            workers: Some(live.len() as u64),
            orphaned_workers: Some(dead.len() as u64),
            orphaned_jobs: Some(orphans.iter().map(|o| o.jobs).sum()),
            paused_queues: None,
            orphans,
            absent: vec![
                ("completed", "sidekiq keeps no completed jobs"),
                ("paused_queues", "sidekiq (OSS) has no queue pause"),
            ],
            queues,
        })
    }

    /// Orphans read again: still a stale beat, still busy entries.
    pub(crate) async fn recheck_orphans(
        &self,
        conn: &Conn,
        orphans: &[OrphanRef],
    ) -> RedisResult<Vec<OrphanRef>> {
        let procs = self.processes(conn, now_s()).await?;
        Ok(orphans
            .iter()
            .filter_map(|o| {
                let p = procs.iter().find(|p| p.identity == o.worker)?;
                (p.alive_hash && Self::is_stale(p) && p.busy_entries > 0).then(|| OrphanRef {
                    jobs: p.busy_entries,
                    ..o.clone()
                })
            })
            .collect())
    }

    /// Up to `n` jobs of a queue or set.
    pub(crate) async fn peek(
        &self,
        conn: &Conn,
        key: &str,
        n: u64,
        from_end: bool,
    ) -> RedisResult<Peek> {
        let role = self.queue_named(key).map_or(QueueRole::Work, |q| q.role);
        if role == QueueRole::Work {
            super::store::peek_list(conn, key, n, from_end, &|b| parse_job(b, None)).await
        } else {
            super::store::peek_zset(conn, key, n, from_end, &|b, score| {
                let mut j = parse_job(b, Some(score));
                if role != QueueRole::DeadLetter {
                    j.run_at = score_time(score);
                }
                j
            })
            .await
        }
    }

    pub(crate) fn requeue_source(&self, from: &str) -> Option<super::RequeueSource> {
        Some(super::RequeueSource {
            key: self
                .queue_named(from)
                .filter(|q| q.role != QueueRole::Work)?
                .key,
            store: super::lists::Store::SortedSet,
            own_queue: Some(super::OwnQueue {
                registry: self.key("queues"),
                prefix: self.key("queue:"),
            }),
            hashed: false,
        })
    }

    pub(crate) fn discovers_queues(&self) -> bool {
        self.schema.queues.is_none()
    }

    pub(crate) async fn found_queues(&self, conn: &Conn) -> RedisResult<Vec<String>> {
        self.queue_names(conn).await
    }

    pub(crate) fn queue_registry(&self) -> Option<String> {
        Some(self.key("queues"))
    }

    pub(crate) fn job_identity(&self) -> super::copy::Identity {
        super::copy::Identity::Jid
    }

    pub(crate) fn copy_rule(&self) -> &'static str {
        "jobs whose jid is already on a target are skipped; copies go after the jobs waiting there; dead jobs keep their scores"
    }

    pub(crate) fn dead_store(&self) -> super::lists::Store {
        super::lists::Store::SortedSet
    }

    /// Where workers live, as one comparable string (drift).
    pub(crate) fn worker_patterns(&self) -> String {
        format!("processes={}", self.key("processes"))
    }
}

fn now_s() -> f64 {
    jiff::Timestamp::now().as_microsecond() as f64 / 1e6
}

/// A Sidekiq time (float seconds since the epoch).
fn score_time(s: f64) -> Option<jiff::Timestamp> {
    if !s.is_finite() {
        return None;
    }
    jiff::Timestamp::from_microsecond((s * 1e6) as i64).ok()
}

fn json_time(v: Option<&serde_json::Value>) -> Option<jiff::Timestamp> {
    match v? {
        serde_json::Value::Number(n) => score_time(n.as_f64()?),
        // Sidekiq 7 may write milliseconds as integers.
        serde_json::Value::String(s) => s.parse::<jiff::Timestamp>().ok(),
        _ => None,
    }
}

/// The jid of a `:workers` entry (`{queue, payload: "<job JSON>", run_at}`).
fn work_jid(work: &[u8]) -> Option<String> {
    let w: serde_json::Value = serde_json::from_slice(work).ok()?;
    let payload = match w.get("payload")? {
        serde_json::Value::String(s) => serde_json::from_str::<serde_json::Value>(s).ok()?,
        v @ serde_json::Value::Object(_) => v.clone(),
        _ => return None,
    };
    payload.get("jid")?.as_str().map(String::from)
}

/// A Sidekiq job: jid, class, queue, the failed attempts, the error, the
/// times. `score` is its sorted-set score (when it is in one).
pub(crate) fn parse_job(bytes: &[u8], score: Option<f64>) -> Job {
    let invalid = |payload| Job {
        valid: false,
        payload,
        ..Job::default()
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return invalid(Payload::Binary(bytes.to_vec()));
    };
    let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(text) else {
        return invalid(Payload::Text(text.to_string()));
    };
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).map(String::from);
    // retry_count is 0 after the first failure: failed attempts are one
    // more, once the job has failed at all.
    let failed = m.contains_key("failed_at") || m.contains_key("error_class");
    let retries = if failed {
        Some(
            m.get("retry_count")
                .and_then(|v| v.as_i64())
                .map_or(1, |n| (n + 1).max(0) as u64),
        )
    } else {
        Some(0)
    };
    let error = match (s("error_class"), s("error_message")) {
        (Some(c), Some(msg)) => Some(format!("{c}: {}", first_line(&msg))),
        (Some(c), None) => Some(c),
        (None, Some(msg)) => Some(first_line(&msg)),
        (None, None) => None,
    };
    let valid = m.get("class").is_some() && m.get("jid").is_some();
    let _ = score;
    Job {
        valid,
        id: s("jid"),
        name: s("class").or_else(|| s("wrapped")),
        queue: s("queue"),
        priority: None,
        retries,
        filepath: None,
        created: json_time(m.get("enqueued_at")).or_else(|| json_time(m.get("created_at"))),
        run_at: None,
        failed_at: json_time(m.get("failed_at")),
        error,
        payload: Payload::Json(serde_json::Value::Object(m)),
    }
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_read_as_sidekiq_writes_them() {
        let j = parse_job(
            br#"{"retry":1,"queue":"default","args":[2],"class":"FlakyFailJob","jid":"f88d","created_at":1796174742.154,"enqueued_at":1796174743.776,"error_message":"qctl fixture failure: FlakyFailJob [2]\nline 2","error_class":"QctlFixtureError","failed_at":1796174742.542,"retry_count":1,"retried_at":1796174743.777}"#,
            Some(1796174743.777709),
        );
        assert!(j.valid);
        assert_eq!(j.id.as_deref(), Some("f88d"));
        assert_eq!(j.name.as_deref(), Some("FlakyFailJob"));
        assert_eq!(j.queue.as_deref(), Some("default"));
        assert_eq!(j.retries, Some(2));
        assert_eq!(
            j.error.as_deref(),
            Some("QctlFixtureError: qctl fixture failure: FlakyFailJob [2]")
        );
        assert!(j.failed_at.is_some());
        let fresh = parse_job(
            br#"{"queue":"q","class":"OkJob","jid":"a","created_at":1.5}"#,
            None,
        );
        assert_eq!(fresh.retries, Some(0));
        assert!(!parse_job(b"{broken", None).valid);
        assert!(!parse_job(br#"{"a":1}"#, None).valid);
    }

    #[test]
    fn names_and_keys_with_a_namespace() {
        let s = Sidekiq::new(Schema {
            namespace: Some("shop".into()),
            queues: None,
        });
        assert_eq!(s.queue_named("dlq").unwrap().key, "shop:dead");
        assert_eq!(s.queue_named("mail").unwrap().key, "shop:queue:mail");
        assert_eq!(s.queue_named("shop:queue:mail").unwrap().name, "mail");
        assert_eq!(
            s.queue_named("scheduled").unwrap().role,
            QueueRole::Scheduled
        );
        let r = Sidekiq::new(Schema {
            namespace: None,
            queues: Some(vec!["default".into()]),
        });
        assert!(r.queue_named("mail").is_none());
        assert_eq!(
            work_jid(br#"{"queue":"default","payload":"{\"jid\":\"89a3\"}","run_at":1}"#)
                .as_deref(),
            Some("89a3")
        );
    }
}
