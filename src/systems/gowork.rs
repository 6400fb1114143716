//! go-redis-work-queue (SPEC section 1): work queues, `completed` and the
//! dead-letter queue are lists; each busy worker has a processing list and a
//! heartbeat string with a TTL.
//!
//! Reading workers never uses KEYS and never one round trip per key: one SCAN
//! per primary with a large COUNT (one pass covers both the processing and
//! heartbeat patterns when they share a prefix), deduplicated, then LLEN and
//! PTTL pipelined per primary in batches.

use super::{Figures, OrphanRef, QueueRef, QueueRole};
use crate::connect::{Conn, Node};
use crate::contexts::QueueSchema;
use redis::RedisResult;
use std::collections::{HashMap, HashSet};

/// SCAN COUNT: large, so a million-key keyspace takes ~100 round trips.
pub const SCAN_COUNT: usize = 10_000;
/// Keys per pipelined batch.
pub const BATCH: usize = 2_000;

#[derive(Debug, Clone)]
pub struct GoRedisWorkQueue {
    pub schema: QueueSchema,
}

/// A one-`*` key pattern, split around the star.
#[derive(Debug, Clone)]
pub struct KeyPattern {
    prefix: String,
    suffix: String,
}

impl KeyPattern {
    pub fn new(p: &str) -> Self {
        let (prefix, suffix) = p.split_once('*').unwrap_or((p, ""));
        KeyPattern {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        }
    }
    /// The worker id in `key`, when `key` matches.
    pub fn id<'k>(&self, key: &'k str) -> Option<&'k str> {
        if key.len() >= self.prefix.len() + self.suffix.len()
            && key.starts_with(&self.prefix)
            && key.ends_with(&self.suffix)
        {
            Some(&key[self.prefix.len()..key.len() - self.suffix.len()])
        } else {
            None
        }
    }
    pub fn key(&self, id: &str) -> String {
        format!("{}{id}{}", self.prefix, self.suffix)
    }
}

/// Escapes Redis glob metacharacters.
pub fn glob_escape(s: &str) -> String {
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

/// What one scan of a context found about its workers.
#[derive(Debug, Default)]
pub struct WorkerScan {
    /// processing key -> (node, length), only non-empty lists.
    pub processing: HashMap<String, u64>,
    /// live heartbeat key -> PTTL in ms (-1: no expiry).
    pub heartbeats: HashMap<String, i64>,
}

impl GoRedisWorkQueue {
    pub fn new(schema: QueueSchema) -> Self {
        GoRedisWorkQueue { schema }
    }

    pub fn processing_pattern(&self) -> KeyPattern {
        KeyPattern::new(&self.schema.processing_pattern)
    }

    pub fn heartbeat_pattern(&self) -> KeyPattern {
        KeyPattern::new(&self.schema.heartbeat_pattern)
    }

    pub fn queues(&self) -> Vec<QueueRef> {
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

    /// LLEN of each named queue.
    pub async fn queue_lengths(&self, conn: &mut Conn) -> RedisResult<Vec<(QueueRef, u64)>> {
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

    /// Scans every primary for processing lists and heartbeats.
    pub async fn scan_workers(&self, conn: &mut Conn) -> RedisResult<WorkerScan> {
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
        let mut scan = WorkerScan::default();
        for node in conn.nodes() {
            let mut proc_keys = Vec::new();
            let mut hb_keys = Vec::new();
            for pattern in &patterns {
                for key in conn.scan_node(&node, pattern, SCAN_COUNT).await? {
                    if pp.id(&key).is_some() {
                        proc_keys.push(key);
                    } else if hp.id(&key).is_some() {
                        hb_keys.push(key);
                    }
                }
            }
            proc_keys.sort();
            proc_keys.dedup();
            hb_keys.sort();
            hb_keys.dedup();
            for (key, len) in batched(conn, &node, "LLEN", &proc_keys).await? {
                if len > 0 {
                    scan.processing.insert(key, len as u64);
                }
            }
            for (key, ttl) in batched(conn, &node, "PTTL", &hb_keys).await? {
                if ttl != -2 {
                    scan.heartbeats.insert(key, ttl);
                }
            }
        }
        Ok(scan)
    }

    /// Orphans: non-empty processing lists whose heartbeat key is gone.
    pub fn orphans(&self, scan: &WorkerScan) -> Vec<OrphanRef> {
        let pp = self.processing_pattern();
        let hp = self.heartbeat_pattern();
        let mut out: Vec<OrphanRef> = scan
            .processing
            .iter()
            .filter_map(|(key, len)| {
                let id = pp.id(key)?;
                (!scan.heartbeats.contains_key(&hp.key(id))).then(|| OrphanRef {
                    worker: id.to_string(),
                    key: key.clone(),
                    jobs: *len,
                })
            })
            .collect();
        out.sort_by(|a, b| a.worker.cmp(&b.worker));
        out
    }

    pub async fn figures(&self, conn: &mut Conn) -> RedisResult<Figures> {
        let queues = self.queue_lengths(conn).await?;
        let scan = self.scan_workers(conn).await?;
        let orphans = self.orphans(&scan);
        let sum = |role: QueueRole| {
            queues
                .iter()
                .filter(|(q, _)| q.role == role)
                .map(|(_, n)| *n)
                .sum()
        };
        Ok(Figures {
            queued: sum(QueueRole::Work),
            completed: sum(QueueRole::Completed),
            dead_letter: sum(QueueRole::DeadLetter),
            processing: scan.processing.values().sum(),
            workers: scan.heartbeats.len() as u64,
            orphaned_workers: orphans.len() as u64,
            orphaned_jobs: orphans.iter().map(|o| o.jobs).sum(),
            orphans,
            queues,
        })
    }

    /// Second reading of some orphans: still non-empty, still no heartbeat.
    pub async fn recheck_orphans(
        &self,
        conn: &mut Conn,
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

/// Runs `CMD key` for each key on one node, pipelined in batches.
async fn batched(
    conn: &mut Conn,
    node: &Node,
    cmd: &str,
    keys: &[String],
) -> RedisResult<Vec<(String, i64)>> {
    let mut out = Vec::with_capacity(keys.len());
    let mut seen = HashSet::new();
    for chunk in keys.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for k in chunk {
            pipe.cmd(cmd).arg(k);
        }
        let values: Vec<i64> = conn.pipe_node(node, &pipe).await?;
        for (k, v) in chunk.iter().zip(values) {
            if seen.insert(k.clone()) {
                out.push((k.clone(), v));
            }
        }
    }
    Ok(out)
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
    fn escaping_and_prefixes() {
        assert_eq!(glob_escape("{q}[1]*"), "{q}\\[1\\]\\*");
        assert_eq!(
            common_prefix("jobqueue:worker:", "jobqueue:processing:worker:"),
            "jobqueue:"
        );
    }
}
