//! go-redis-work-queue (SPEC section 1): work queues, `completed` and the
//! dead-letter queue are lists; each busy worker has a processing list and a
//! heartbeat string with a TTL.
//!
//! Reading workers never uses KEYS and never one round trip per key: one SCAN
//! per primary with a large COUNT (one pass covers both the processing and
//! heartbeat patterns when they share a prefix), deduplicated, then LLEN and
//! PTTL pipelined per primary in batches.

use crate::systems::SchemaKind;
use crate::systems::Verb;
use crate::systems::schema::{self as opts, SchemaError, SchemaOptions};
use crate::systems::{
    Figures, Job, OrphanRef, Payload, Peek, QueueDetail, QueueRef, QueueRole, ScanNotes, Worker,
    WorkerState,
};

mod find;
pub(crate) mod orphaned;

use crate::connect::{Conn, Node};
use redis::RedisResult;

/// SCAN COUNT: large, so a million-key keyspace takes ~100 round trips.
pub(crate) const SCAN_COUNT: usize = 10_000;
/// Keys per pipelined batch.
pub(crate) const BATCH: usize = 2_000;

#[derive(Debug, Clone)]
pub(crate) struct GoRedisWorkQueue {
    pub(crate) schema: Schema,
}

/// A go-redis-work-queue schema's options: its key names.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Schema {
    /// Work queues in priority order: (name, key).
    pub(crate) queues: Vec<(String, String)>,
    pub(crate) completed: String,
    pub(crate) dead_letter: String,
    pub(crate) processing_pattern: String,
    pub(crate) heartbeat_pattern: String,
}

impl Default for Schema {
    /// The layout go-redis-work-queue writes (SPEC section 1).
    fn default() -> Self {
        Schema {
            queues: vec![
                ("high".into(), "jobqueue:high_priority".into()),
                ("low".into(), "jobqueue:low_priority".into()),
            ],
            completed: "jobqueue:completed".into(),
            dead_letter: "jobqueue:dead_letter".into(),
            processing_pattern: "jobqueue:worker:*:processing".into(),
            heartbeat_pattern: "jobqueue:processing:worker:*".into(),
        }
    }
}

impl Schema {
    const OPTIONS: &'static [&'static str] = &[
        "queues",
        "completed",
        "dead-letter",
        "processing-pattern",
        "heartbeat-pattern",
    ];

    /// The options of a `kind: go-redis-work-queue` schema; what is left
    /// out is go-redis-work-queue's default.
    pub(crate) fn parse(o: &SchemaOptions) -> Result<Schema, SchemaError> {
        opts::check_known(SchemaKind::GoRedisWorkQueue, o, Self::OPTIONS)?;
        let d = Schema::default();
        let schema = Schema {
            queues: opts::string_map(o, "queues")?
                .filter(|q| !q.is_empty())
                .unwrap_or(d.queues),
            completed: opts::string(o, "completed")?.unwrap_or(d.completed),
            dead_letter: opts::string(o, "dead-letter")?.unwrap_or(d.dead_letter),
            processing_pattern: opts::string(o, "processing-pattern")?
                .unwrap_or(d.processing_pattern),
            heartbeat_pattern: opts::string(o, "heartbeat-pattern")?.unwrap_or(d.heartbeat_pattern),
        };
        for (field, pat) in [
            ("processing-pattern", &schema.processing_pattern),
            ("heartbeat-pattern", &schema.heartbeat_pattern),
        ] {
            if pat.matches('*').count() != 1 {
                return Err(SchemaError::new(
                    format!("{field} `{pat}` must hold exactly one `*` (the worker id)"),
                    "for example jobqueue:worker:*:processing",
                ));
            }
        }
        for (name, key) in &schema.queues {
            if matches!(name.as_str(), "dlq" | "dead-letter" | "completed") || key.is_empty() {
                return Err(SchemaError::new(
                    format!("work queue `{name}` is reserved or has an empty key"),
                    "name work queues like high, low, default",
                ));
            }
        }
        Ok(schema)
    }
}

/// A one-`*` key pattern, split around the star.
#[derive(Debug, Clone)]
pub(crate) struct KeyPattern {
    prefix: String,
    suffix: String,
}

impl KeyPattern {
    pub(crate) fn new(p: &str) -> Self {
        let (prefix, suffix) = p.split_once('*').unwrap_or((p, ""));
        KeyPattern {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        }
    }
    /// The worker id in `key`, when `key` matches.
    pub(crate) fn id<'k>(&self, key: &'k str) -> Option<&'k str> {
        if key.len() >= self.prefix.len() + self.suffix.len()
            && key.starts_with(&self.prefix)
            && key.ends_with(&self.suffix)
        {
            Some(&key[self.prefix.len()..key.len() - self.suffix.len()])
        } else {
            None
        }
    }
    pub(crate) fn key(&self, id: &str) -> String {
        format!("{}{id}{}", self.prefix, self.suffix)
    }
}

/// Escapes Redis glob metacharacters.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn common_prefix(a: &str, b: &str) -> String {
    a.chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect()
}

/// A live heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Heartbeat {
    /// PTTL in ms (-1: no expiry).
    pub(crate) ttl_ms: i64,
    /// Id of the job in its value (read only for `get workers`).
    pub(crate) job_id: Option<String>,
}

/// What one scan of a context found about its workers, keyed by worker id.
#[derive(Debug, Default)]
pub(crate) struct WorkerScan {
    /// worker id -> (index of its node, length of its processing list);
    /// non-empty lists only.
    pub(crate) processing: foldhash::HashMap<String, (usize, u64)>,
    /// worker id -> its live heartbeat.
    pub(crate) heartbeats: foldhash::HashMap<String, Heartbeat>,
    pub(crate) notes: ScanNotes,
}

/// How much a scan reads per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// LLEN and PTTL: the figures.
    Counts,
    /// Also the heartbeat's value, for the job id.
    Full,
}

/// The keys of one SCAN page, split by pattern: (worker id, key).
#[derive(Debug, Default)]
struct PageKeys {
    processing: Vec<(String, Vec<u8>)>,
    heartbeats: Vec<(String, Vec<u8>)>,
    non_utf8: u64,
}

/// What was read for one page.
#[derive(Debug, Default)]
struct PageRead {
    processing: Vec<(String, u64)>,
    heartbeats: Vec<(String, Heartbeat)>,
    /// Keys of the wrong type (skipped).
    wrong_type: u64,
}

/// SCAN pages whose reads may be in flight at once (bounds memory).
const PAGES_IN_FLIGHT: usize = 3;

impl GoRedisWorkQueue {
    pub(crate) const JOB_TABLE: crate::systems::JobTable =
        crate::systems::JobTable::PriorityFilepath;

    without!(pause, "go-redis-work-queue has no pause flag");
    without!(
        signals,
        "go-redis-work-queue workers take no commands through Redis"
    );
    without!(hashed_jobs);

    /// Its one dead set, shared by every queue.
    pub(crate) async fn dead_sets(
        &self,
        _conn: &Conn,
    ) -> RedisResult<Vec<crate::systems::dead::DeadSet>> {
        Ok(vec![crate::systems::dead::DeadSet {
            queue: None,
            key: self.dead_letter().key,
            store: crate::systems::dead::DeadStore::List,
        }])
    }

    /// What go-redis-work-queue cannot do, and why.
    pub(crate) fn unsupported(&self, verb: Verb) -> Option<String> {
        let why = match verb {
            Verb::PurgeDlq
            | Verb::RestoreDlq
            | Verb::Requeue { from: "dead" }
            | Verb::RequeueOrphaned
            | Verb::Replicate
            | Verb::Bench => return None,
            Verb::Requeue { from } => format!(
                "requeue --from {from}: go-redis-work-queue re-queues retries at once and schedules nothing, so only --from dead applies"
            ),
            Verb::Pause { .. } | Verb::Resume { .. } => "go-redis-work-queue has no pause flag: its workers read their queues whatever qctl writes".into(),
            Verb::Quiet | Verb::Stop => "go-redis-work-queue workers take no commands through Redis".into(),
        };
        Some(why)
    }

    pub(crate) fn new(schema: Schema) -> Self {
        GoRedisWorkQueue { schema }
    }

    pub(crate) fn processing_pattern(&self) -> KeyPattern {
        KeyPattern::new(&self.schema.processing_pattern)
    }

    pub(crate) fn heartbeat_pattern(&self) -> KeyPattern {
        KeyPattern::new(&self.schema.heartbeat_pattern)
    }

    pub(crate) fn queues(&self) -> Vec<QueueRef> {
        let mut q: Vec<QueueRef> = self
            .schema
            .queues
            .iter()
            .map(|(name, key)| QueueRef {
                name: name.clone(),
                key: key.clone(),
                role: QueueRole::Work,
            })
            .collect();
        q.push(QueueRef {
            name: "completed".into(),
            key: self.schema.completed.clone(),
            role: QueueRole::Completed,
        });
        q.push(QueueRef {
            name: "dead-letter".into(),
            key: self.schema.dead_letter.clone(),
            role: QueueRole::DeadLetter,
        });
        q
    }

    pub(crate) fn dead_letter(&self) -> QueueRef {
        QueueRef {
            name: "dead-letter".into(),
            key: self.schema.dead_letter.clone(),
            role: QueueRole::DeadLetter,
        }
    }

    pub(crate) fn requeue_source(&self, from: &str) -> Option<super::RequeueSource> {
        (from == "dead").then(|| super::RequeueSource {
            key: self.schema.dead_letter.clone(),
            store: super::lists::Store::List,
            own_queue: None,
            hashed: false,
        })
    }

    pub(crate) fn discovers_queues(&self) -> bool {
        false
    }

    pub(crate) async fn found_queues(&self, _conn: &Conn) -> RedisResult<Vec<String>> {
        Ok(self.schema.queues.iter().map(|(n, _)| n.clone()).collect())
    }

    pub(crate) fn queue_registry(&self) -> Option<String> {
        None
    }

    pub(crate) fn job_identity(&self) -> super::copy::Identity {
        super::copy::Identity::Id
    }

    pub(crate) fn copy_rule(&self) -> &'static str {
        "jobs already in a target list are skipped; copies go after the jobs waiting there"
    }

    pub(crate) fn dead_store(&self) -> super::lists::Store {
        super::lists::Store::List
    }

    pub(crate) fn worker_patterns(&self) -> String {
        format!(
            "processing={} heartbeat={}",
            self.schema.processing_pattern, self.schema.heartbeat_pattern
        )
    }

    /// A queue by schema name, alias or key.
    pub(crate) fn queue_named(&self, name: &str) -> Option<QueueRef> {
        let wanted = match name {
            "dlq" | "dead_letter" | "deadletter" => "dead-letter",
            other => other,
        };
        let queues = self.queues();
        queues
            .iter()
            .find(|q| q.name == wanted)
            .or_else(|| queues.iter().find(|q| q.key == name))
            .cloned()
    }

    /// LLEN of each named queue.
    pub(crate) async fn queue_lengths(&self, conn: &Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
        let queues = self.queues();
        let cmds: Vec<redis::Cmd> = queues
            .iter()
            .map(|q| {
                let mut c = redis::cmd("LLEN");
                c.arg(&q.key);
                c
            })
            .collect();
        let lens: Vec<u64> = conn.each_key(&cmds).await?;
        Ok(queues.into_iter().zip(lens).collect())
    }

    /// Length of each queue and the job at its right end (the next one).
    pub(crate) async fn queue_details(&self, conn: &Conn) -> RedisResult<Vec<QueueDetail>> {
        let queues = self.queues();
        let mut cmds = Vec::with_capacity(queues.len() * 2);
        for q in &queues {
            let mut llen = redis::cmd("LLEN");
            llen.arg(&q.key);
            let mut next = redis::cmd("LINDEX");
            next.arg(&q.key).arg(-1);
            cmds.push(llen);
            cmds.push(next);
        }
        let values: Vec<redis::Value> = conn.each_key(&cmds).await?;
        let mut out = Vec::with_capacity(queues.len());
        for (q, pair) in queues.into_iter().zip(values.chunks(2)) {
            let length: u64 = redis::from_redis_value_ref(&pair[0])?;
            let next: Option<Vec<u8>> = redis::from_redis_value_ref(&pair[1])?;
            out.push(QueueDetail {
                queue: q,
                length,
                next_created: next.and_then(|b| parse_job(&b).created),
                paused: None,
            });
        }
        Ok(out)
    }

    /// Up to `n` jobs from one end of `key`, with the list's length, read
    /// in one MULTI/EXEC so positions are exact.
    pub(crate) async fn peek(
        &self,
        conn: &Conn,
        key: &str,
        n: u64,
        from_end: bool,
    ) -> RedisResult<Peek> {
        super::store::peek_list(conn, key, n, from_end, &|b| parse_job(b)).await
    }

    /// Scans every primary (concurrently) for processing lists and
    /// heartbeats, streamed: each SCAN page's keys are read (pipelined, in
    /// a task of their own) while the next page is fetched, with at most
    /// [`PAGES_IN_FLIGHT`] pages held at once.
    async fn scan(&self, conn: &Conn, detail: Detail) -> RedisResult<WorkerScan> {
        let pp = self.processing_pattern();
        let hp = self.heartbeat_pattern();
        let prefix = common_prefix(&pp.prefix, &hp.prefix);
        let patterns: Vec<String> = if prefix.is_empty() {
            vec![
                format!("{}*{}", glob_escape(&pp.prefix), glob_escape(&pp.suffix)),
                format!("{}*{}", glob_escape(&hp.prefix), glob_escape(&hp.suffix)),
            ]
        } else {
            vec![format!("{}*", glob_escape(&prefix))]
        };
        let nodes = conn.nodes();
        let per_node = nodes.iter().enumerate().map(|(ni, node)| {
            let (pp, hp, patterns) = (&pp, &hp, &patterns);
            async move {
                let mut scan = WorkerScan::default();
                for pattern in patterns {
                    scan_pattern(conn, ni, node, pattern, pp, hp, detail, &mut scan).await?;
                }
                RedisResult::Ok(scan)
            }
        });
        let scans = futures_util::future::try_join_all(per_node).await?;
        let mut all = WorkerScan::default();
        for s in scans {
            all.processing.extend(s.processing);
            all.heartbeats.extend(s.heartbeats);
            all.notes.non_utf8_keys += s.notes.non_utf8_keys;
            all.notes.wrong_type_keys += s.notes.wrong_type_keys;
        }
        Ok(all)
    }

    /// Every worker Redis can show: a heartbeat (active), or a non-empty
    /// processing list without one (orphaned).
    pub(crate) async fn workers(&self, conn: &Conn) -> RedisResult<(Vec<Worker>, ScanNotes)> {
        let mut scan = self.scan(conn, Detail::Full).await?;
        let mut list: Vec<Worker> = Vec::with_capacity(scan.processing.len() + 16);
        // (index in `list`, node) of each orphan, for its job id.
        let mut orphans: Vec<(usize, usize)> = Vec::new();
        for (id, (node, len)) in scan.processing.drain() {
            let hb = scan.heartbeats.remove(&id);
            if hb.is_none() {
                orphans.push((list.len(), node));
            }
            list.push(Worker {
                state: if hb.is_some() {
                    WorkerState::Active
                } else {
                    WorkerState::Orphaned
                },
                in_flight: len,
                heartbeat_ttl_ms: hb.as_ref().map(|h| h.ttl_ms),
                job_id: hb.and_then(|h| h.job_id),
                worker: id,
                process: None,
            });
        }
        // Heartbeats without a processing list: alive, between jobs.
        for (id, hb) in scan.heartbeats.drain() {
            list.push(Worker {
                worker: id,
                state: WorkerState::Active,
                in_flight: 0,
                heartbeat_ttl_ms: Some(hb.ttl_ms),
                job_id: hb.job_id,
                process: None,
            });
        }
        // An orphan's job: the one it took last (BRPOPLPUSH pushes on the
        // left), read per node in pipelined batches.
        let pp = self.processing_pattern();
        let nodes = conn.nodes();
        let mut batches = Vec::new();
        for (ni, node) in nodes.iter().enumerate() {
            let mine: Vec<usize> = orphans
                .iter()
                .filter(|(_, n)| *n == ni)
                .map(|(i, _)| *i)
                .collect();
            for chunk in mine.chunks(BATCH) {
                let mut pipe = redis::pipe();
                for i in chunk {
                    pipe.cmd("LINDEX").arg(pp.key(&list[*i].worker)).arg(0);
                }
                batches.push((chunk.to_vec(), node, pipe));
            }
        }
        let reads = futures_util::future::try_join_all(
            batches
                .iter()
                .map(|(_, node, pipe)| conn.pipe_node::<Option<Vec<u8>>>(node, pipe)),
        )
        .await?;
        for ((chunk, _, _), values) in batches.iter().zip(reads) {
            for (i, v) in chunk.iter().zip(values) {
                list[*i].job_id = v.and_then(|b| job_id(&b));
            }
        }
        list.sort_unstable_by(|a, b| a.worker.cmp(&b.worker));
        Ok((list, scan.notes))
    }

    /// Orphans: non-empty processing lists whose heartbeat key is gone.
    pub(crate) fn orphans(&self, scan: &WorkerScan) -> Vec<OrphanRef> {
        let pp = self.processing_pattern();
        let mut out: Vec<OrphanRef> = scan
            .processing
            .iter()
            .filter(|(id, _)| !scan.heartbeats.contains_key(*id))
            .map(|(id, (_, len))| OrphanRef {
                worker: id.clone(),
                key: pp.key(id),
                jobs: *len,
            })
            .collect();
        out.sort_by(|a, b| a.worker.cmp(&b.worker));
        out
    }

    pub(crate) async fn figures(&self, conn: &Conn) -> RedisResult<Figures> {
        const ABSENT: &[(&str, &str)] = &[
            ("scheduled", "go-redis-work-queue has no scheduled jobs"),
            ("retrying", "go-redis-work-queue re-queues a retry at once"),
            ("processed_total", "go-redis-work-queue keeps no counters"),
            ("failed_total", "go-redis-work-queue keeps no counters"),
            ("paused_queues", "go-redis-work-queue has no pause"),
        ];
        let (queues, scan) =
            tokio::try_join!(self.queue_lengths(conn), self.scan(conn, Detail::Counts))?;
        let orphans = self.orphans(&scan);
        let sum = |role: QueueRole| {
            queues
                .iter()
                .filter(|(q, _)| q.role == role)
                .map(|(_, n)| *n)
                .sum()
        };
        Ok(Figures {
            queued: Some(sum(QueueRole::Work)),
            completed: Some(sum(QueueRole::Completed)),
            dead_letter: Some(sum(QueueRole::DeadLetter)),
            processing: Some(scan.processing.values().map(|(_, n)| n).sum()),
            workers: Some(scan.heartbeats.len() as u64),
            orphaned_workers: Some(orphans.len() as u64),
            orphaned_jobs: Some(orphans.iter().map(|o| o.jobs).sum()),
            orphans,
            queues,
            absent: ABSENT.to_vec(),
            ..Figures::default()
        })
    }

    /// Second reading of some orphans: still non-empty, still no heartbeat.
    pub(crate) async fn recheck_orphans(
        &self,
        conn: &Conn,
        orphans: &[OrphanRef],
    ) -> RedisResult<Vec<OrphanRef>> {
        let hp = self.heartbeat_pattern();
        let mut still = Vec::new();
        // Batched: one pipeline per batch on a standalone server (a third
        // of 100,000 workers orphaned must not mean 33,000 round trips).
        for chunk in orphans.chunks(BATCH / 2) {
            let mut cmds = Vec::with_capacity(chunk.len() * 2);
            for o in chunk {
                let mut llen = redis::cmd("LLEN");
                llen.arg(&o.key);
                let mut exists = redis::cmd("EXISTS");
                exists.arg(hp.key(&o.worker));
                cmds.push(llen);
                cmds.push(exists);
            }
            let r: Vec<u64> = conn.each_key(&cmds).await?;
            for (o, pair) in chunk.iter().zip(r.chunks(2)) {
                if pair[0] > 0 && pair[1] == 0 {
                    still.push(OrphanRef {
                        jobs: pair[0],
                        ..o.clone()
                    });
                }
            }
        }
        Ok(still)
    }
}

/// One SCAN pattern on one node, streamed (see [`GoRedisWorkQueue::scan`]).
/// SCAN may return a key twice: results land in maps keyed by worker id,
/// so a duplicate is read twice at worst, never counted twice.
#[allow(clippy::too_many_arguments)]
async fn scan_pattern(
    conn: &Conn,
    ni: usize,
    node: &Node,
    pattern: &str,
    pp: &KeyPattern,
    hp: &KeyPattern,
    detail: Detail,
    scan: &mut WorkerScan,
) -> RedisResult<()> {
    // Aborted when dropped: a read that times out stops its page reads too.
    let mut inflight: std::collections::VecDeque<AbortOnDrop> = std::collections::VecDeque::new();
    let merge = |scan: &mut WorkerScan, read: PageRead| {
        scan.notes.wrong_type_keys += read.wrong_type;
        for (id, len) in read.processing {
            if len > 0 {
                scan.processing.insert(id, (ni, len));
            }
        }
        scan.heartbeats.extend(read.heartbeats);
    };
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT);
        let (next, keys): (u64, Vec<Vec<u8>>) = conn.query_node(node, &cmd).await?;
        let mut page = PageKeys::default();
        for raw in keys {
            let Ok(key) = std::str::from_utf8(&raw) else {
                page.non_utf8 += 1;
                continue;
            };
            if let Some(id) = pp.id(key) {
                page.processing.push((id.to_string(), raw));
            } else if let Some(id) = hp.id(key) {
                page.heartbeats.push((id.to_string(), raw));
            }
        }
        scan.notes.non_utf8_keys += page.non_utf8;
        if !page.processing.is_empty() || !page.heartbeats.is_empty() {
            let (c, n) = (conn.clone(), node.clone());
            inflight.push_back(AbortOnDrop(tokio::spawn(async move {
                read_page(&c, &n, page, detail).await
            })));
        }
        while inflight.len() >= PAGES_IN_FLIGHT {
            let read = join(inflight.pop_front().expect("non-empty")).await?;
            merge(scan, read);
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    while let Some(h) = inflight.pop_front() {
        let read = join(h).await?;
        merge(scan, read);
    }
    Ok(())
}

/// A page-read task that is aborted when its handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<RedisResult<PageRead>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn join(mut h: AbortOnDrop) -> RedisResult<PageRead> {
    (&mut h.0).await.map_err(|e| {
        redis::RedisError::from(std::io::Error::other(format!("a page read failed: {e}")))
    })?
}

/// LLEN of a page's processing keys and PTTL (+ the value with `Full`) of
/// its heartbeat keys, pipelined in batches sent concurrently. On a
/// standalone server the values come from one MGET per batch.
async fn read_page(
    conn: &Conn,
    node: &Node,
    page: PageKeys,
    detail: Detail,
) -> RedisResult<PageRead> {
    // A key under the processing pattern that is not a list (WRONGTYPE) is
    // skipped and counted, never fatal for the context.
    let lens = futures_util::future::try_join_all(page.processing.chunks(BATCH).map(|chunk| {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for (_, k) in chunk {
            pipe.cmd("LLEN").arg(k);
        }
        async move { conn.pipe_node::<redis::Value>(node, &pipe).await }
    }));
    let full = detail == Detail::Full;
    let mget = full && !conn.is_cluster();
    let beats =
        futures_util::future::try_join_all(page.heartbeats.chunks(BATCH / 2).map(|chunk| {
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for (_, k) in chunk {
                pipe.cmd("PTTL").arg(k);
                if full && !mget {
                    pipe.cmd("GET").arg(k);
                }
            }
            if mget {
                let mut m = redis::cmd("MGET");
                for (_, k) in chunk {
                    m.arg(k);
                }
                pipe.add_command(m);
            }
            async move { conn.pipe_node::<redis::Value>(node, &pipe).await }
        }));
    let (lens, beats) = tokio::try_join!(lens, beats)?;
    let mut out = PageRead::default();
    for ((id, _), v) in page.processing.into_iter().zip(lens.into_iter().flatten()) {
        match v {
            redis::Value::Int(n) => out.processing.push((id, n.max(0) as u64)),
            _ => out.wrong_type += 1,
        }
    }
    let mut ids = page.heartbeats.into_iter().map(|(id, _)| id);
    for values in beats {
        // Per key: PTTL [GET]; or PTTL... then one MGET array.
        let (ttls, payloads): (Vec<&redis::Value>, Vec<Option<Vec<u8>>>) = if mget {
            let (ttls, last) = values.split_at(values.len() - 1);
            let payloads: Vec<Option<Vec<u8>>> =
                redis::from_redis_value_ref(&last[0]).unwrap_or_default();
            (ttls.iter().collect(), payloads)
        } else if full {
            let mut t = Vec::with_capacity(values.len() / 2);
            let mut p = Vec::with_capacity(values.len() / 2);
            for pair in values.chunks(2) {
                t.push(&pair[0]);
                // A heartbeat that is not a string has no readable job.
                p.push(redis::from_redis_value_ref(&pair[1]).unwrap_or(None));
            }
            (t, p)
        } else {
            (values.iter().collect(), Vec::new())
        };
        for (i, ttl) in ttls.into_iter().enumerate() {
            let id = ids.next().expect("one id per heartbeat key");
            let Ok(ttl) = redis::from_redis_value_ref::<i64>(ttl) else {
                out.wrong_type += 1;
                continue;
            };
            if ttl == -2 {
                // Expired between SCAN and PTTL.
                continue;
            }
            let job_id = payloads.get(i).and_then(|p| p.as_deref()).and_then(job_id);
            out.heartbeats.push((
                id,
                Heartbeat {
                    ttl_ms: ttl,
                    job_id,
                },
            ));
        }
    }
    Ok(out)
}

/// A go-redis-work-queue job from its stored bytes; never fails.
pub(crate) fn parse_job(bytes: &[u8]) -> Job {
    let invalid = |payload| Job {
        valid: false,
        payload,
        ..Job::default()
    };
    let Ok(text) = std::str::from_utf8(bytes) else {
        return invalid(Payload::Binary(bytes.to_vec()));
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => {
            let s = |k: &str| m.get(k).and_then(|v| v.as_str()).map(String::from);
            Job {
                valid: true,
                id: m.get("id").and_then(id_text),
                priority: s("priority"),
                retries: m.get("retries").and_then(|v| v.as_u64()),
                filepath: s("filepath"),
                created: m
                    .get("creation_time")
                    .and_then(|v| v.as_str())
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok()),
                payload: Payload::Json(serde_json::Value::Object(m)),
                ..Job::default()
            }
        }
        _ => invalid(Payload::Text(text.to_string())),
    }
}

fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Only the `id` of a payload (cheap: the rest is skipped, not built).
pub(crate) fn job_id(bytes: &[u8]) -> Option<String> {
    job_id_ref(bytes).map(std::borrow::Cow::into_owned)
}

/// The `id` of a payload, borrowed from it when it has no escapes: what
/// `job_id` returns, without allocating in the common case (the copy path
/// fingerprints millions of jobs).
pub(crate) fn job_id_ref(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct IdOnly<'a> {
        #[serde(borrow, default)]
        id: Option<IdRef<'a>>,
    }
    serde_json::from_slice::<IdOnly>(bytes).ok()?.id?.0
}

/// A string or number id as text; anything else is no id.
struct IdRef<'a>(Option<std::borrow::Cow<'a, str>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for IdRef<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        use std::borrow::Cow;
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = IdRef<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a job id")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(IdRef(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(IdRef(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(IdRef(Some(Cow::Owned(v))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(IdRef(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(IdRef(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(IdRef(
                    serde_json::Number::from_f64(v).map(|n| Cow::Owned(n.to_string())),
                ))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(IdRef(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(IdRef(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(IdRef(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(IdRef(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = KeyPattern::new("jobqueue:worker:*:processing");
        assert_eq!(p.id("jobqueue:worker:w-1:processing"), Some("w-1"));
        assert_eq!(p.id("jobqueue:worker:processing"), None);
        assert_eq!(p.id("jobqueue:processing:worker:w-1"), None);
        assert_eq!(p.key("w-9"), "jobqueue:worker:w-9:processing");
        let h = KeyPattern::new("{jobqueue}:processing:worker:*");
        assert_eq!(h.id("{jobqueue}:processing:worker:a:b"), Some("a:b"));
    }

    #[test]
    fn jobs_parse_or_are_flagged() {
        let j = parse_job(
            br#"{"id":"j1","filepath":"/f","filesize":3,"priority":"high","retries":2,"creation_time":"2025-01-14T10:30:00.123Z","trace_id":"","span_id":""}"#,
        );
        assert!(j.valid);
        assert_eq!(j.id.as_deref(), Some("j1"));
        assert_eq!(j.retries, Some(2));
        assert_eq!(j.priority.as_deref(), Some("high"));
        let now: jiff::Timestamp = "2025-01-14T10:30:10.123Z".parse().unwrap();
        assert_eq!(j.age_s(now), Some(10.0));
        let offset = parse_job(br#"{"id":7,"creation_time":"2025-01-14T05:30:00-05:00"}"#);
        assert_eq!(offset.id.as_deref(), Some("7"));
        assert_eq!(offset.age_s(now), Some(10.123));
        let text = parse_job(b"not json");
        assert!(!text.valid);
        assert_eq!(text.payload, Payload::Text("not json".into()));
        let scalar = parse_job(b"42");
        assert!(!scalar.valid);
        let bin = parse_job(&[0xff, 0xfe, 0x00]);
        assert!(!bin.valid);
        assert_eq!(bin.payload, Payload::Binary(vec![0xff, 0xfe, 0]));
        assert_eq!(job_id(br#"{"id":"x","big":[1,2,3]}"#).as_deref(), Some("x"));
        assert_eq!(job_id(b"\xff"), None);
        assert_eq!(job_id(br#"{"id":7}"#).as_deref(), Some("7"));
        assert_eq!(job_id(br#"{"id":1.5}"#).as_deref(), Some("1.5"));
        assert_eq!(job_id(br#"{"id":"a\"b"}"#).as_deref(), Some("a\"b"));
        assert_eq!(job_id(br#"{"id":{"x":1},"y":2}"#), None);
        assert_eq!(job_id(br#"{"id":[1,{"a":2}]}"#), None);
        assert_eq!(job_id(br#"{"id":null}"#), None);
        assert_eq!(job_id(br#"{"x":1}"#), None);
        assert!(matches!(
            job_id_ref(br#"{"id":"plain"}"#),
            Some(std::borrow::Cow::Borrowed("plain"))
        ));
    }

    #[test]
    fn queue_names() {
        let s = GoRedisWorkQueue::new(Schema::default());
        assert_eq!(s.queue_named("high").unwrap().key, "jobqueue:high_priority");
        assert_eq!(s.queue_named("dlq").unwrap().role, QueueRole::DeadLetter);
        assert_eq!(
            s.queue_named("dead-letter").unwrap().key,
            "jobqueue:dead_letter"
        );
        assert_eq!(
            s.queue_named("jobqueue:completed").unwrap().name,
            "completed"
        );
        assert!(s.queue_named("hihg").is_none());
    }

    #[test]
    fn escaping_and_prefixes() {
        assert_eq!(glob_escape("{q}[1]*"), "{q}\\[1\\]\\*");
        assert_eq!(
            common_prefix("jobqueue:worker:", "jobqueue:processing:worker:"),
            "jobqueue:"
        );
    }
}

/// `job` with its top-level `retries` set to 0, every other byte kept; `None`
/// when it is not a JSON object with a non-zero number there (nothing to
/// change). Nested `retries` keys are the job's own data and stay.
pub(crate) fn reset_retries(job: &[u8]) -> Option<Vec<u8>> {
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(job).ok()?;
    match obj.get("retries") {
        Some(serde_json::Value::Number(n)) if n.as_f64() != Some(0.0) => {}
        _ => return None,
    }
    let (start, end) = super::json_edit::top_level_value(job, "retries")?;
    let mut out = Vec::with_capacity(job.len());
    out.extend_from_slice(&job[..start]);
    out.push(b'0');
    out.extend_from_slice(&job[end..]);
    Some(out)
}

#[cfg(test)]
mod reset_tests {
    use super::reset_retries;

    #[test]
    fn only_the_top_level_retries_changes() {
        let r = |s: &str| reset_retries(s.as_bytes()).map(|v| String::from_utf8(v).unwrap());
        assert_eq!(
            r(r#"{"id":"n1","meta":{"retries":7},"retries":3}"#).as_deref(),
            Some(r#"{"id":"n1","meta":{"retries":7},"retries":0}"#)
        );
        assert_eq!(
            r(r#"{ "retries" : 2.5e1 , "s":"\"retries\":9", "a":[{"retries":1}] }"#).as_deref(),
            Some(r#"{ "retries" : 0 , "s":"\"retries\":9", "a":[{"retries":1}] }"#)
        );
        assert_eq!(r(r#"{"retries":0,"x":1}"#), None);
        assert_eq!(r(r#"{"meta":{"retries":7}}"#), None);
        assert_eq!(r(r#"{"retries":"3"}"#), None);
        assert_eq!(r("not json"), None);
        assert_eq!(
            r(r#"{"a\"b":{"c":"}"},"retries":-4}"#).as_deref(),
            Some(r#"{"a\"b":{"c":"}"},"retries":0}"#)
        );
    }
}
