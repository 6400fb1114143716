//! BullMQ's queues, figures and jobs, read in as few round trips as the
//! layout allows: one SCAN pass per primary to find the queues, one
//! pipeline for every count of every queue (the prefix's hash tag puts them
//! all in one slot on a cluster), one more for what those replies name (the
//! next jobs' hashes, the locks of active jobs).

use super::job::{self, Hash};
use super::{BullMq, State, Store};
use crate::connect::Conn;
use crate::systems::{
    Figures, Job, OrphanRef, Payload, Peek, QueueDetail, QueueRef, ScanNotes, Worker,
};
use redis::{Cmd, RedisError, RedisResult, Value};

/// At most this many queues are read per context (the SCAN for `:meta`
/// stops there).
pub(crate) const MAX_QUEUES: usize = 10_000;
/// Commands per pipeline (sent concurrently on one connection).
const CHUNK: usize = 4_096;

/// One command's reply, or the error the server gave it.
pub(crate) type Reply = Result<Value, RedisError>;

/// The queue names a context has.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub(crate) names: Vec<String>,
    /// The SCAN found more than [`MAX_QUEUES`].
    pub(crate) truncated: bool,
}

/// What one queue's keys held.
#[derive(Debug, Clone, Default)]
struct QueueRead {
    name: String,
    /// By [`State::ALL`] index.
    lengths: [u64; 7],
    /// The id a consumer takes next (the oldest, for the finished sets).
    next: [Option<String>; 7],
    paused: bool,
    active_ids: Vec<String>,
    /// `count` of `:metrics:completed` and `:metrics:failed`.
    metrics: (Option<u64>, Option<u64>),
}

/// What to read besides the counts.
#[derive(Debug, Clone, Copy, Default)]
struct What {
    active_ids: bool,
    metrics: bool,
}

/// The server's words for an error reply: `WRONGTYPE Operation against...`.
pub(crate) fn reply_text(e: &RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(c), Some(d)) => format!("{c} {d}"),
        (Some(c), None) => c.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "an error reply".into(),
    }
}

/// An error the server gave one command (WRONGTYPE, NOPERM, an unknown
/// command), as opposed to a connection that failed.
pub(crate) fn is_reply_error(e: &RedisError) -> bool {
    !(e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_cluster_error())
        && matches!(
            e.kind(),
            redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
        )
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Double(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e19 => {
            Some(format!("{}", *f as i128))
        }
        Value::Double(f) => Some(f.to_string()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn int_of(r: &Reply) -> u64 {
    match r {
        Ok(Value::Int(n)) => (*n).max(0) as u64,
        Ok(v) => text_of(v).and_then(|t| t.parse().ok()).unwrap_or(0),
        Err(_) => 0,
    }
}

/// The strings of an array reply (ids); nothing for an error.
fn strings_of(r: &Reply) -> Vec<String> {
    match r {
        Ok(Value::Array(items)) | Ok(Value::Set(items)) => {
            items.iter().filter_map(text_of).collect()
        }
        _ => Vec::new(),
    }
}

/// `(member, score text)` pairs of a ZRANGE WITHSCORES reply, RESP2
/// (flat) or RESP3 (pairs).
fn scored_of(r: &Reply) -> Vec<(String, String)> {
    let Ok(Value::Array(items)) = r else {
        return Vec::new();
    };
    if items.iter().all(|i| matches!(i, Value::Array(_))) {
        return items
            .iter()
            .filter_map(|i| match i {
                Value::Array(p) if p.len() == 2 => Some((text_of(&p[0])?, text_of(&p[1])?)),
                _ => None,
            })
            .collect();
    }
    items
        .chunks(2)
        .filter_map(|p| match p {
            [m, s] => Some((text_of(m)?, text_of(s)?)),
            _ => None,
        })
        .collect()
}

/// A BullMQ ≤4 marker (`0:<delay>`) at a list's consumer end.
fn is_marker(id: &str) -> bool {
    id.starts_with("0:")
}

fn cmd(name: &str, key: &str) -> Cmd {
    let mut c = redis::cmd(name);
    c.arg(key);
    c
}

impl BullMq {
    /// Sends `cmds`, keeping each one's error reply as its own: one
    /// pipeline per [`CHUNK`] on a standalone server or when the prefix's
    /// hash tag puts every key in one slot; otherwise one routed command
    /// each, sent concurrently (the cluster client pipelines them per node).
    /// A failed connection fails the whole read.
    pub(crate) async fn send(&self, conn: &Conn, cmds: Vec<Cmd>) -> RedisResult<Vec<Reply>> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        if !conn.is_cluster() || self.one_slot() {
            let chunks = cmds.chunks(CHUNK).map(|chunk| {
                let mut p = redis::pipe();
                p.ignore_errors();
                for c in chunk {
                    p.add_command(c.clone());
                }
                async move { conn.pipe_slot::<Value>(&p).await }
            });
            let replies = futures_util::future::try_join_all(chunks).await?;
            return Ok(replies
                .into_iter()
                .flatten()
                .map(|v| v.extract_error())
                .collect());
        }
        futures_util::future::try_join_all(cmds.iter().map(|c| async move {
            match conn.query::<Value>(c).await {
                Ok(v) => Ok(Ok(v)),
                Err(e) if is_reply_error(&e) => Ok(Err(e)),
                Err(e) => Err(e),
            }
        }))
        .await
    }

    /// The schema's queues, else every `<p>:<q>:meta` on every primary
    /// (SCAN, concurrently per node; at most [`MAX_QUEUES`]), sorted.
    pub(crate) async fn queue_names(&self, conn: &Conn) -> RedisResult<Names> {
        if let Some(q) = &self.schema.queues {
            return Ok(Names {
                names: q.clone(),
                truncated: false,
            });
        }
        let prefix = format!("{}:", self.schema.prefix);
        let pattern = format!("{}*:meta", crate::systems::gowork::glob_escape(&prefix));
        let per_node = conn.nodes().into_iter().map(|node| {
            let (pattern, prefix) = (pattern.clone(), prefix.clone());
            async move {
                let mut found: Vec<String> = Vec::new();
                let mut cursor: u64 = 0;
                loop {
                    let mut c = redis::cmd("SCAN");
                    c.arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(crate::systems::gowork::SCAN_COUNT);
                    let (next, keys): (u64, Vec<Vec<u8>>) = conn.query_node(&node, &c).await?;
                    for k in keys {
                        let Ok(k) = std::str::from_utf8(&k) else {
                            continue;
                        };
                        if let Some(q) = k
                            .strip_prefix(prefix.as_str())
                            .and_then(|r| r.strip_suffix(":meta"))
                            .filter(|q| !q.is_empty() && !q.contains(':'))
                        {
                            found.push(q.to_string());
                        }
                    }
                    cursor = next;
                    if cursor == 0 || found.len() > MAX_QUEUES {
                        break;
                    }
                }
                RedisResult::Ok(found)
            }
        });
        let mut names: Vec<String> = futures_util::future::try_join_all(per_node)
            .await?
            .into_iter()
            .flatten()
            .collect();
        names.sort();
        names.dedup();
        let truncated = names.len() > MAX_QUEUES;
        names.truncate(MAX_QUEUES);
        Ok(Names { names, truncated })
    }

    /// The counts (and with `what`, more) of every queue in `names`, in one
    /// pipeline.
    async fn read_queues(
        &self,
        conn: &Conn,
        names: &[String],
        what: What,
    ) -> RedisResult<Vec<QueueRead>> {
        let mut cmds = Vec::with_capacity(names.len() * 16);
        for q in names {
            for s in State::ALL {
                let key = self.key(q, s.suffix());
                match s.store() {
                    Store::List => {
                        cmds.push(cmd("LLEN", &key));
                        // The last two: the next id, and the one after a
                        // legacy marker.
                        let mut r = cmd("LRANGE", &key);
                        r.arg(-2).arg(-1);
                        cmds.push(r);
                    }
                    Store::SortedSet => {
                        cmds.push(cmd("ZCARD", &key));
                        let mut r = cmd("ZRANGE", &key);
                        r.arg(0).arg(0);
                        cmds.push(r);
                    }
                }
            }
            let mut h = cmd("HEXISTS", &self.key(q, "meta"));
            h.arg("paused");
            cmds.push(h);
            if what.active_ids {
                let mut r = cmd("LRANGE", &self.key(q, "active"));
                r.arg(0).arg(-1);
                cmds.push(r);
            }
            if what.metrics {
                for m in ["metrics:completed", "metrics:failed"] {
                    let mut c = cmd("HGET", &self.key(q, m));
                    c.arg("count");
                    cmds.push(c);
                }
            }
        }
        let per_queue = 7 * 2 + 1 + usize::from(what.active_ids) + 2 * usize::from(what.metrics);
        let replies = self.send(conn, cmds).await?;
        let mut out = Vec::with_capacity(names.len());
        for (q, r) in names.iter().zip(replies.chunks(per_queue)) {
            let mut read = QueueRead {
                name: q.clone(),
                ..QueueRead::default()
            };
            for (i, s) in State::ALL.into_iter().enumerate() {
                let (len, range) = (&r[i * 2], &r[i * 2 + 1]);
                let mut n = int_of(len);
                match s.store() {
                    Store::List => {
                        let mut tail = strings_of(range);
                        if tail.last().is_some_and(|l| is_marker(l)) {
                            tail.pop();
                            n = n.saturating_sub(1);
                        }
                        read.next[i] = tail.pop();
                    }
                    Store::SortedSet => {
                        read.next[i] = strings_of(range).into_iter().next();
                    }
                }
                read.lengths[i] = n;
            }
            let mut at = 14;
            read.paused = int_of(&r[at]) == 1;
            at += 1;
            if what.active_ids {
                read.active_ids = strings_of(&r[at]);
                at += 1;
            }
            if what.metrics {
                let count = |r: &Reply| match r {
                    Ok(Value::Nil) | Err(_) => None,
                    other => Some(int_of(other)),
                };
                read.metrics = (count(&r[at]), count(&r[at + 1]));
            }
            out.push(read);
        }
        Ok(out)
    }

    fn lengths_of(&self, reads: &[QueueRead]) -> Vec<(QueueRef, u64)> {
        reads
            .iter()
            .flat_map(|r| {
                State::ALL
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (self.state_ref(&r.name, s), r.lengths[i]))
            })
            .collect()
    }

    /// Every queue in every state with its length.
    pub(crate) async fn queue_lengths(&self, conn: &Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
        let names = self.queue_names(conn).await?;
        let reads = self
            .read_queues(conn, &names.names, What::default())
            .await?;
        Ok(self.lengths_of(&reads))
    }

    /// Every queue in every state (the legacy `:paused` list only where it
    /// holds jobs) with its length, paused flag and the time of its next
    /// job: created (`timestamp`), or finished (`finishedOn`) for the
    /// completed and failed sets.
    pub(crate) async fn queue_details(&self, conn: &Conn) -> RedisResult<Vec<QueueDetail>> {
        let names = self.queue_names(conn).await?;
        let reads = self
            .read_queues(conn, &names.names, What::default())
            .await?;
        let mut wanted: Vec<(usize, usize, String)> = Vec::new();
        let mut cmds = Vec::new();
        for (qi, r) in reads.iter().enumerate() {
            for (si, id) in r.next.iter().enumerate() {
                if let Some(id) = id {
                    let mut c = cmd("HMGET", &self.key(&r.name, id));
                    c.arg("timestamp").arg("finishedOn");
                    cmds.push(c);
                    wanted.push((qi, si, id.clone()));
                }
            }
        }
        let times = self.send(conn, cmds).await?;
        let mut next_time = vec![[None; 7]; reads.len()];
        for ((qi, si, _), t) in wanted.into_iter().zip(times) {
            let fields = strings_of(&t);
            let ms = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| f.parse::<i64>().ok())
                    .and_then(job::ms_time)
            };
            let finished = matches!(State::ALL[si], State::Completed | State::Failed);
            next_time[qi][si] = if finished { ms(1).or(ms(0)) } else { ms(0) };
        }
        let mut out = Vec::new();
        for (qi, r) in reads.iter().enumerate() {
            for (si, s) in State::ALL.into_iter().enumerate() {
                if s == State::Paused && r.lengths[si] == 0 {
                    continue;
                }
                out.push(QueueDetail {
                    queue: self.state_ref(&r.name, s),
                    length: r.lengths[si],
                    next_created: next_time[qi][si],
                    paused: Some(r.paused),
                });
            }
        }
        Ok(out)
    }

    /// The active jobs of `reads` whose lock is gone, per queue. Each id's
    /// lock is asked before its place in `:active` (LPOS), in one pipeline:
    /// a job that finished meanwhile (BullMQ drops the lock and the id in
    /// one script) is then not counted.
    async fn orphans_of(&self, conn: &Conn, reads: &[QueueRead]) -> RedisResult<Vec<OrphanRef>> {
        let mut cmds = Vec::new();
        let mut of: Vec<usize> = Vec::new();
        for (qi, r) in reads.iter().enumerate() {
            for id in &r.active_ids {
                cmds.push(cmd("EXISTS", &self.key(&r.name, &format!("{id}:lock"))));
                let mut lpos = cmd("LPOS", &self.key(&r.name, "active"));
                lpos.arg(id);
                cmds.push(lpos);
                of.push(qi);
            }
        }
        let replies = self.send(conn, cmds).await?;
        let mut counts = vec![0u64; reads.len()];
        for (qi, pair) in of.into_iter().zip(replies.chunks(2)) {
            let locked = int_of(&pair[0]) == 1;
            let still_active = match &pair[1] {
                Ok(Value::Nil) => false,
                Ok(_) => true,
                // A server without LPOS (< 6.0.6): the lock alone decides.
                Err(_) => true,
            };
            if !locked && still_active {
                counts[qi] += 1;
            }
        }
        Ok(reads
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(r, jobs)| OrphanRef {
                worker: r.name.clone(),
                key: self.key(&r.name, "active"),
                jobs,
            })
            .collect())
    }

    /// SPEC 10.2's figures, summed over the queues.
    pub(crate) async fn figures(&self, conn: &Conn) -> RedisResult<Figures> {
        let names = self.queue_names(conn).await?;
        let what = What {
            active_ids: true,
            metrics: true,
        };
        let (reads, clients) =
            tokio::try_join!(self.read_queues(conn, &names.names, what), async {
                Ok(self.connections(conn).await)
            })?;
        let orphans = self.orphans_of(conn, &reads).await?;
        let sum = |states: &[State]| -> u64 {
            reads
                .iter()
                .map(|r| {
                    State::ALL
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| states.contains(s))
                        .map(|(i, _)| r.lengths[i])
                        .sum::<u64>()
                })
                .sum()
        };
        let mut absent: Vec<(&'static str, &'static str)> = vec![
            (
                "retrying",
                "bullmq keeps no retry set: a failed job waiting on a backoff is in :delayed (counted in scheduled), one without a backoff back in :wait",
            ),
            (
                "orphaned_workers",
                "bullmq records no owner for an active job (its lock holds a token, not a worker); orphaned_jobs counts active jobs whose lock is gone",
            ),
        ];
        let workers = match clients {
            Ok(c) => Some(self.workers_of(&c, &names).len() as u64),
            // A connection that failed fails the reading; a refusal
            // (NOPERM, CLIENT renamed away) leaves only this figure out.
            Err(e) if !is_reply_error(&e) => return Err(e),
            Err(_) => {
                absent.push((
                    "workers",
                    "bullmq workers are known only as named connections in CLIENT LIST, which this server refused (the user needs +client|list)",
                ));
                None
            }
        };
        let metered = !reads.is_empty()
            && reads
                .iter()
                .all(|r| r.metrics.0.is_some() || r.metrics.1.is_some());
        let (processed_total, failed_total) = if metered {
            let done: u64 = reads.iter().map(|r| r.metrics.0.unwrap_or(0)).sum();
            let failed: u64 = reads.iter().map(|r| r.metrics.1.unwrap_or(0)).sum();
            (Some(done + failed), Some(failed))
        } else {
            let why = "bullmq counts finished jobs only where its workers run with the `metrics` option (:metrics:completed, :metrics:failed), and not on every queue here";
            absent.push(("processed_total", why));
            absent.push(("failed_total", why));
            (None, None)
        };
        if names.truncated {
            absent.push((
                "queued",
                "more than 10000 bullmq queues: only the first 10000 by name are counted",
            ));
        }
        Ok(Figures {
            queued: Some(sum(&[State::Wait, State::Prioritized, State::Paused])),
            scheduled: Some(sum(&[State::Delayed])),
            retrying: None,
            dead_letter: Some(sum(&[State::Failed])),
            processing: Some(sum(&[State::Active])),
            completed: Some(sum(&[State::Completed])),
            processed_total,
            failed_total,
            workers,
            orphaned_workers: None,
            orphaned_jobs: Some(orphans.iter().map(|o| o.jobs).sum()),
            paused_queues: Some(reads.iter().filter(|r| r.paused).count() as u64),
            orphans,
            absent,
            queues: self.lengths_of(&reads),
        })
    }

    /// Orphans read again: the active jobs of their queues still without a
    /// lock.
    pub(crate) async fn recheck_orphans(
        &self,
        conn: &Conn,
        orphans: &[OrphanRef],
    ) -> RedisResult<Vec<OrphanRef>> {
        let names: Vec<String> = orphans.iter().map(|o| o.worker.clone()).collect();
        let reads = self
            .read_queues(
                conn,
                &names,
                What {
                    active_ids: true,
                    ..What::default()
                },
            )
            .await?;
        self.orphans_of(conn, &reads).await
    }

    /// Every worker connection, sorted.
    pub(crate) async fn workers(&self, conn: &Conn) -> RedisResult<(Vec<Worker>, ScanNotes)> {
        let names = self.queue_names(conn).await?;
        let clients = self.connections(conn).await?;
        Ok((self.workers_of(&clients, &names), ScanNotes::default()))
    }

    /// Up to `n` jobs of one of a queue's lists or sets, each read from its
    /// hash: position 0 is the next to run (the right end of a list, the
    /// lowest score of a set; for the finished sets, the oldest).
    pub(crate) async fn peek(
        &self,
        conn: &Conn,
        key: &str,
        n: u64,
        from_end: bool,
    ) -> RedisResult<Peek> {
        let Some((queue, state)) = self.parse_name(key) else {
            return raw_peek(conn, key, n, from_end).await;
        };
        let key = self.key(&queue, state.suffix());
        let n = n.min(i64::MAX as u64 - 1) as i64;
        let list = state.store() == Store::List;
        let mut cmds = vec![
            cmd("TYPE", &key),
            cmd(if list { "LLEN" } else { "ZCARD" }, &key),
        ];
        if list {
            let mut tail = cmd("LINDEX", &key);
            tail.arg(-1);
            cmds.push(tail);
        }
        if n > 0 {
            let mut r = cmd(if list { "LRANGE" } else { "ZRANGE" }, &key);
            match (list, from_end) {
                // One more than asked: a legacy marker may take a place.
                (true, false) => r.arg(-(n + 1)).arg(-1),
                (true, true) => r.arg(0).arg(n),
                (false, false) => r.arg(0).arg(n - 1),
                (false, true) => r.arg(-n).arg(-1),
            };
            if !list {
                r.arg("WITHSCORES");
            }
            cmds.push(r);
        }
        let r = self.send(conn, cmds).await?;
        let kind = r[0].as_ref().ok().and_then(text_of).unwrap_or_default();
        let want = if list { "list" } else { "zset" };
        if kind != want && kind != "none" {
            return Ok(Peek {
                length: 0,
                jobs: Vec::new(),
                wrong_type: Some(kind),
            });
        }
        let mut length = int_of(&r[1]);
        // (position, id, score)
        let mut ids: Vec<(u64, String, Option<String>)> = Vec::new();
        if list {
            let marker = r[2]
                .as_ref()
                .ok()
                .and_then(text_of)
                .is_some_and(|t| is_marker(&t));
            if marker {
                length = length.saturating_sub(1);
            }
            let items = r.get(3).map(strings_of).unwrap_or_default();
            ids = if from_end {
                // Left end first: the last a consumer takes. A marker is
                // the rightmost element, at index `length` now.
                items
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| (*i as u64) < length)
                    .take(n as usize)
                    .map(|(i, id)| (length - 1 - i as u64, id, None))
                    .collect()
            } else {
                items
                    .into_iter()
                    .rev()
                    .skip(usize::from(marker))
                    .take(n as usize)
                    .enumerate()
                    .map(|(i, id)| (i as u64, id, None))
                    .collect()
            };
        } else if let Some(range) = r.get(2) {
            let items = scored_of(range);
            ids = if from_end {
                items
                    .into_iter()
                    .rev()
                    .enumerate()
                    .map(|(i, (id, s))| (length.saturating_sub(1 + i as u64), id, Some(s)))
                    .collect()
            } else {
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, (id, s))| (i as u64, id, Some(s)))
                    .collect()
            };
        }
        let hashes = self
            .send(
                conn,
                ids.iter()
                    .map(|(_, id, _)| cmd("HGETALL", &self.key(&queue, id)))
                    .collect(),
            )
            .await?;
        let jobs = ids
            .into_iter()
            .zip(hashes)
            .map(|((pos, id, score), h)| {
                let hash_key = self.key(&queue, &id);
                let job = job::parse(
                    &id,
                    &queue,
                    &hash_key,
                    state,
                    &Hash::from_reply(h),
                    score.as_deref(),
                );
                (pos, job)
            })
            .collect();
        Ok(Peek {
            length,
            jobs,
            wrong_type: None,
        })
    }
}

/// A key that is none of a BullMQ queue's: its members shown raw.
async fn raw_peek(conn: &Conn, key: &str, n: u64, from_end: bool) -> RedisResult<Peek> {
    let kind: String = conn.query(redis::cmd("TYPE").arg(key)).await?;
    let raw = |b: &[u8]| Job {
        valid: false,
        payload: match std::str::from_utf8(b) {
            Ok(t) => Payload::Text(t.to_string()),
            Err(_) => Payload::Binary(b.to_vec()),
        },
        ..Job::default()
    };
    if kind == "zset" {
        crate::systems::store::peek_zset(conn, key, n, from_end, &|b, _| raw(b)).await
    } else {
        crate::systems::store::peek_list(conn, key, n, from_end, &raw).await
    }
}
