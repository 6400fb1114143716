//! A Sidekiq job by jid: Sidekiq keeps no index of its jobs, so every queue
//! (LIST) and the `schedule`, `retry` and `dead` sets (ZSETs of payloads)
//! are scanned in bounded chunks (`find::scan_key`), and every process's
//! busy entries (`<identity>:workers`, 7.x `:work`) are read for jobs in
//! flight. The history is the payload's own: `retry_count`,
//! `error_class`/`error_message`, `failed_at`/`retried_at` and
//! `error_backtrace`, which Sidekiq 6+ stores zlib-compressed and base64'd
//! (an array of lines before).

use super::{Sidekiq, json_time, parse_job, score_time};
use crate::connect::Conn;
use crate::systems::find::{
    self, FindOptions, Found, JobHistory, JobLocation, ScanStore, WORKER_JOBS, WorkerDetail,
};
use crate::systems::{Job, Payload, QueueRole, Worker};
use redis::{RedisResult, Value};

/// The jid of a payload.
fn jid_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Jid {
        jid: Option<String>,
    }
    serde_json::from_slice::<Jid>(bytes).ok()?.jid
}

/// The payload of a busy entry (`{queue, payload, run_at}`; `payload` a
/// JSON string in 6.x, an object in some 7.x versions).
fn work_payload(work: &[u8]) -> Option<(String, Option<String>, Option<f64>)> {
    let w: serde_json::Value = serde_json::from_slice(work).ok()?;
    let payload = match w.get("payload")? {
        serde_json::Value::String(s) => s.clone(),
        v @ serde_json::Value::Object(_) => v.to_string(),
        _ => return None,
    };
    Some((
        payload,
        w.get("queue").and_then(|q| q.as_str()).map(String::from),
        w.get("run_at").and_then(|r| r.as_f64()),
    ))
}

impl Sidekiq {
    pub(crate) async fn find_jobs(
        &self,
        conn: &Conn,
        ids: &[String],
        opts: FindOptions,
    ) -> RedisResult<Found> {
        let mut found = Found::default();
        let ctx = conn.context.clone();
        let mut keys: Vec<(String, String, QueueRole)> = self
            .queue_names(conn)
            .await?
            .into_iter()
            .map(|q| {
                let r = self.queue_ref(&q);
                (r.name, r.key, r.role)
            })
            .collect();
        keys.extend(self.set_refs().into_iter().map(|r| (r.name, r.key, r.role)));
        for (name, key, role) in keys {
            let store = if role == QueueRole::Work {
                ScanStore::List
            } else {
                ScanStore::SortedSet
            };
            let s = find::scan_key(conn, &key, store, ids, opts.scan_limit, &jid_of).await?;
            if let Some(kind) = &s.wrong_type {
                found.notes.push(find::wrong_type_note(&ctx, &key, kind));
            }
            if s.unread > 0 {
                found
                    .notes
                    .push(find::bound_note(&ctx, &key, opts.scan_limit, s.unread));
            }
            for (k, pos, bytes, score) in s.hits {
                let mut job = parse_job(&bytes, score);
                if matches!(role, QueueRole::Scheduled | QueueRole::Retry) {
                    job.run_at = score.and_then(score_time);
                }
                let history = opts
                    .detail
                    .then(|| history(&job, role, score.and_then(score_time)));
                found.hits.push(JobLocation {
                    id: ids[k].clone(),
                    queue: name.clone(),
                    key: key.clone(),
                    state: role.state(),
                    position: Some(pos),
                    worker: None,
                    job,
                    history,
                });
            }
        }
        // In flight: every process's busy entries.
        let mut procs: Vec<String> = conn
            .query(redis::cmd("SMEMBERS").arg(self.key("processes")))
            .await?;
        procs.sort();
        let mut cmds = Vec::with_capacity(procs.len() * 2);
        for p in &procs {
            for suffix in ["workers", "work"] {
                let mut c = redis::cmd("HGETALL");
                c.arg(self.key(&format!("{p}:{suffix}")));
                cmds.push(c);
            }
        }
        let replies: Vec<Value> = if cmds.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&cmds).await?
        };
        for (p, pair) in procs.iter().zip(replies.chunks(2)) {
            for (suffix, v) in ["workers", "work"].iter().zip(pair) {
                let entries: Vec<(Vec<u8>, Vec<u8>)> =
                    redis::from_redis_value_ref(v).unwrap_or_default();
                for (_tid, work) in entries {
                    let Some((payload, queue, run_at)) = work_payload(&work) else {
                        continue;
                    };
                    for id in ids {
                        if !find::contains(payload.as_bytes(), id.as_bytes())
                            || jid_of(payload.as_bytes()).as_deref() != Some(id.as_str())
                        {
                            continue;
                        }
                        let job = parse_job(payload.as_bytes(), None);
                        let history = opts.detail.then(|| {
                            let mut h = history(&job, QueueRole::Active, None);
                            h.event(run_at.and_then(score_time), "started", Some(p.clone()));
                            h.sort();
                            h
                        });
                        found.hits.push(JobLocation {
                            id: id.clone(),
                            queue: queue
                                .clone()
                                .or_else(|| job.queue.clone())
                                .unwrap_or_default(),
                            key: self.key(&format!("{p}:{suffix}")),
                            state: "active",
                            position: None,
                            worker: Some(p.clone()),
                            job,
                            history,
                        });
                    }
                }
            }
        }
        Ok(found)
    }

    /// A process's hash (`info` JSON spread out, `busy`, `beat`, `quiet`,
    /// `rtt_us`, `rss`) and its busy entries' jobs.
    pub(crate) async fn worker_detail(&self, conn: &Conn, w: &Worker) -> RedisResult<WorkerDetail> {
        let key = self.key(&w.worker);
        let cmds: Vec<redis::Cmd> = [key.clone(), format!("{key}:workers"), format!("{key}:work")]
            .iter()
            .map(|k| {
                let mut c = redis::cmd("HGETALL");
                c.arg(k);
                c
            })
            .collect();
        let v: Vec<Value> = conn.each_key(&cmds).await?;
        let mut d = WorkerDetail::default();
        let hash: Vec<(String, Vec<u8>)> = redis::from_redis_value_ref(&v[0]).unwrap_or_default();
        for (k, val) in &hash {
            let text = String::from_utf8_lossy(val).into_owned();
            if k == "info" {
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(m)) => {
                        for (ik, iv) in m {
                            let shown = match iv {
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            };
                            d.fields.push((ik, shown));
                        }
                    }
                    _ => d.fields.push(("info".into(), text)),
                }
            } else {
                d.fields.push((k.clone(), text));
            }
        }
        if hash.is_empty() {
            d.notes.push(format!(
                "{}: the process hash {key} is gone (it expires 60 s after the last beat)",
                conn.context
            ));
        }
        for v in &v[1..] {
            let entries: Vec<(Vec<u8>, Vec<u8>)> =
                redis::from_redis_value_ref(v).unwrap_or_default();
            for (_tid, work) in entries.into_iter().take(WORKER_JOBS as usize) {
                if let Some((payload, _, _)) = work_payload(&work) {
                    d.jobs.push(parse_job(payload.as_bytes(), None));
                }
            }
        }
        Ok(d)
    }
}

/// Sidekiq's `retry` option: the most retries a job gets.
fn max_retries(m: &serde_json::Map<String, serde_json::Value>) -> Option<u64> {
    match m.get("retry")? {
        serde_json::Value::Bool(true) => Some(25),
        serde_json::Value::Bool(false) => Some(0),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// What Sidekiq keeps of a job's past, from its payload; `score` is its
/// time in the set it is in (run at, retry at, died at).
fn history(job: &Job, role: QueueRole, score: Option<jiff::Timestamp>) -> JobHistory {
    let mut h = JobHistory::default();
    let Payload::Json(serde_json::Value::Object(m)) = &job.payload else {
        h.problems
            .push("the payload is not a JSON object: no history to read".into());
        return h;
    };
    let s = |k: &str| m.get(k).and_then(|v| v.as_str()).map(String::from);
    h.attempts = job.retries;
    let retry_count = m.get("retry_count").and_then(|v| v.as_u64());
    h.retries_left = max_retries(m).map(|max| match (role, retry_count) {
        (QueueRole::DeadLetter, _) => 0,
        (_, Some(n)) => max.saturating_sub(n),
        (_, None) => max,
    });
    h.error_class = s("error_class");
    h.error_message = s("error_message");
    match m.get("error_backtrace") {
        Some(serde_json::Value::Array(lines)) => {
            h.backtrace = lines
                .iter()
                .filter_map(|l| l.as_str().map(String::from))
                .collect();
        }
        Some(serde_json::Value::String(packed)) => {
            match find::unbase64_inflate(packed.as_bytes(), find::BACKTRACE_LIMIT) {
                Ok(text) => match serde_json::from_str::<Vec<String>>(&text) {
                    Ok(lines) => h.backtrace = lines,
                    Err(_) => h.backtrace = find::lines_of(&text),
                },
                Err(why) => h
                    .problems
                    .push(format!("error_backtrace is {why}: not decoded")),
            }
        }
        _ => {}
    }
    h.event(json_time(m.get("created_at")), "created", None);
    h.event(json_time(m.get("enqueued_at")), "enqueued", s("queue"));
    h.event(
        json_time(m.get("failed_at")),
        "failed",
        match (&h.error_class, &h.error_message) {
            (Some(c), Some(msg)) => Some(format!("{c}: {}", super::first_line(msg))),
            (Some(c), None) => Some(c.clone()),
            (None, Some(msg)) => Some(super::first_line(msg)),
            (None, None) => None,
        },
    );
    h.event(
        json_time(m.get("retried_at")),
        "retried",
        retry_count.map(|n| format!("retry {}", n + 1)),
    );
    match role {
        QueueRole::DeadLetter => h.event(score, "died", None),
        QueueRole::Retry => h.event(score, "retry due", None),
        QueueRole::Scheduled => h.event(score, "scheduled for", None),
        _ => {}
    }
    h.sort();
    h
}
