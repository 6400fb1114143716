//! A go-redis-work-queue job by id: its queues, `completed` and the
//! dead-letter list are lists of payloads with no index, so each is scanned
//! in bounded chunks from its consumer end (`find::scan_key`), and the
//! processing lists of every worker (found by the same SCAN as `get
//! workers`) are read in pipelined batches, each at most `scan_limit` long.

use super::{BATCH, Detail, GoRedisWorkQueue, job_id, parse_job};
use crate::connect::Conn;
use crate::systems::Worker;
use crate::systems::find::{
    self, FindOptions, Found, JobHistory, JobLocation, ScanStore, WORKER_JOBS, WorkerDetail,
};
use redis::RedisResult;

impl GoRedisWorkQueue {
    pub(crate) async fn find_jobs(
        &self,
        conn: &Conn,
        ids: &[String],
        opts: FindOptions,
    ) -> RedisResult<Found> {
        let mut found = Found::default();
        let ctx = conn.context.clone();
        for q in self.queues() {
            let s = find::scan_key(conn, &q.key, ScanStore::List, ids, opts.scan_limit, &|b| {
                job_id(b)
            })
            .await?;
            if let Some(kind) = &s.wrong_type {
                found.notes.push(find::wrong_type_note(&ctx, &q.key, kind));
            }
            if s.unread > 0 {
                found
                    .notes
                    .push(find::bound_note(&ctx, &q.key, opts.scan_limit, s.unread));
            }
            for (k, pos, bytes, _) in s.hits {
                found.hits.push(self.location(
                    &ids[k],
                    &q.name,
                    &q.key,
                    q.role.state(),
                    Some(pos),
                    None,
                    &bytes,
                    opts,
                ));
            }
        }
        // In flight: each worker's processing list, read whole up to the
        // bound, in pipelined batches per node.
        let scan = self.scan(conn, Detail::Counts).await?;
        let pp = self.processing_pattern();
        let nodes = conn.nodes();
        let mut lists: Vec<(usize, String, u64)> = scan
            .processing
            .iter()
            .map(|(w, (node, len))| (*node, w.clone(), *len))
            .collect();
        lists.sort();
        for (ni, node) in nodes.iter().enumerate() {
            let mine: Vec<&(usize, String, u64)> = lists.iter().filter(|l| l.0 == ni).collect();
            for chunk in mine.chunks(BATCH) {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                for (_, w, _) in chunk {
                    pipe.cmd("LRANGE")
                        .arg(pp.key(w))
                        .arg(0)
                        .arg(opts.scan_limit.saturating_sub(1).min(i64::MAX as u64));
                }
                let values: Vec<redis::Value> = conn.pipe_node(node, &pipe).await?;
                for ((_, w, len), v) in chunk.iter().zip(values) {
                    let Ok(items) = redis::from_redis_value::<Vec<Vec<u8>>>(v) else {
                        continue;
                    };
                    let key = pp.key(w);
                    if *len > opts.scan_limit {
                        found.notes.push(find::bound_note(
                            &ctx,
                            &key,
                            opts.scan_limit,
                            len - opts.scan_limit,
                        ));
                    }
                    for item in &items {
                        for id in ids {
                            if find::contains(item, id.as_bytes())
                                && job_id(item).as_deref() == Some(id.as_str())
                            {
                                found.hits.push(self.location(
                                    id,
                                    &key,
                                    &key,
                                    "active",
                                    None,
                                    Some(w.clone()),
                                    item,
                                    opts,
                                ));
                            }
                        }
                    }
                }
            }
        }
        Ok(found)
    }

    #[allow(clippy::too_many_arguments)]
    fn location(
        &self,
        id: &str,
        queue: &str,
        key: &str,
        state: &'static str,
        position: Option<u64>,
        worker: Option<String>,
        bytes: &[u8],
        opts: FindOptions,
    ) -> JobLocation {
        let job = parse_job(bytes);
        let history = opts.detail.then(|| {
            // go-redis-work-queue keeps only the retry count in the
            // payload: no errors, no times but the creation.
            let mut h = JobHistory {
                attempts: job.retries,
                ..JobHistory::default()
            };
            h.event(job.created, "created", None);
            if state == "dead" {
                h.problems.push(
                    "go-redis-work-queue records no error on a job: why it died is not in Redis"
                        .into(),
                );
            }
            h
        });
        JobLocation {
            id: id.to_string(),
            queue: queue.to_string(),
            key: key.to_string(),
            state,
            position,
            worker,
            job,
            history,
        }
    }

    /// A worker's heartbeat (its value is the job it runs) and the jobs in
    /// its processing list.
    pub(crate) async fn worker_detail(&self, conn: &Conn, w: &Worker) -> RedisResult<WorkerDetail> {
        let processing = self.processing_pattern().key(&w.worker);
        let heartbeat = self.heartbeat_pattern().key(&w.worker);
        let mut lrange = redis::cmd("LRANGE");
        lrange.arg(&processing).arg(0).arg(WORKER_JOBS as i64 - 1);
        let mut ty = redis::cmd("TYPE");
        ty.arg(&processing);
        let kind: String = conn.query(&ty).await?;
        let items: Vec<Vec<u8>> = if kind == "list" {
            conn.query(&lrange).await?
        } else {
            Vec::new()
        };
        let mut ttl = redis::cmd("PTTL");
        ttl.arg(&heartbeat);
        let pttl: i64 = conn.query(&ttl).await?;
        let mut d = WorkerDetail::default();
        d.fields.push(("processing list".into(), processing));
        d.fields.push((
            "heartbeat key".into(),
            if pttl == -2 {
                format!("{heartbeat} (gone)")
            } else {
                heartbeat
            },
        ));
        if w.in_flight > WORKER_JOBS {
            d.notes.push(format!(
                "{}: the first {WORKER_JOBS} of its {} in-flight jobs are shown",
                conn.context, w.in_flight
            ));
        }
        d.jobs = items.iter().map(|b| parse_job(b)).collect();
        Ok(d)
    }
}
