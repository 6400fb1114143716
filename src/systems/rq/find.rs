//! An RQ job by id, through its own index: the hash `rq:job:<id>` names
//! the job's `origin` queue and its `status`; then qctl asks where the id
//! is among that queue's keys: LPOS in the queue and its `:intermediate`
//! list (MAXLEN `scan_limit`), ZRANK/ZSCORE in its `scheduled`, `failed`,
//! `finished`, `deferred` and `canceled` registries, and a bounded scan of
//! `wip` (whose members are `<id>:<execution>`). An id whose hash is gone
//! is looked for in every queue's registries, and flagged.
//!
//! The history: `status`, the times, `retries_left`, `worker_name`, the
//! results stream (`rq:results:<id>`, one entry per ended run, its
//! `exc_string` base64(zlib(traceback))) and `exc_info` (zlib, older RQ),
//! decoded whole. Pickles (`data`, `return_value`) are never unpickled.

use super::{Rq, cmd, jobs};
use crate::connect::Conn;
use crate::systems::find::{
    self, FindOptions, Found, JobHistory, JobLocation, ScanStore, WORKER_JOBS, WorkerDetail,
};
use crate::systems::{QueueRole, Worker};
use redis::{RedisResult, Value};

/// Results read per job with the history.
const RESULTS: u64 = 10;

/// The registries `find` asks by ZRANK, with the state each means.
const RANKED: &[(&str, &str, QueueRole)] = &[
    ("scheduled", "scheduled", QueueRole::Scheduled),
    ("failed", "dead", QueueRole::DeadLetter),
    ("finished", "completed", QueueRole::Completed),
    ("deferred", "deferred", QueueRole::Deferred),
    ("canceled", "canceled", QueueRole::Deferred),
];

/// The `get queues` name of a registry of `q` (`failed:q`); RQ's canceled
/// registry is not listed there, and keeps its own name.
fn registry_name(segment: &str, q: &str) -> String {
    let shown = match segment {
        "wip" => "started",
        other => other,
    };
    format!("{shown}:{q}")
}

/// Field/value pairs of a stream's entries (XREVRANGE), newest first.
fn stream_entries(v: &Value) -> Vec<Vec<(String, Vec<u8>)>> {
    let Value::Array(entries) = v else {
        return Vec::new();
    };
    let bytes = |v: &Value| -> Option<Vec<u8>> {
        match v {
            Value::BulkString(b) => Some(b.clone()),
            Value::SimpleString(s) => Some(s.clone().into_bytes()),
            _ => None,
        }
    };
    entries
        .iter()
        .filter_map(|e| {
            let Value::Array(e) = e else { return None };
            let mut out = Vec::new();
            match e.get(1)? {
                Value::Array(kv) => {
                    for pair in kv.chunks(2) {
                        if let [k, v] = pair {
                            out.push((String::from_utf8_lossy(&bytes(k)?).into_owned(), bytes(v)?));
                        }
                    }
                }
                Value::Map(kv) => {
                    for (k, v) in kv {
                        out.push((String::from_utf8_lossy(&bytes(k)?).into_owned(), bytes(v)?));
                    }
                }
                _ => return None,
            }
            Some(out)
        })
        .collect()
}

/// RQ's result types.
fn result_type(t: &str) -> &'static str {
    match t {
        "1" => "succeeded",
        "2" => "failed",
        "3" => "stopped",
        "4" => "retried",
        "5" => "retries exhausted",
        _ => "ended",
    }
}

/// An epoch-seconds float as a time.
fn epoch(s: &str) -> Option<jiff::Timestamp> {
    let f: f64 = s.trim().parse().ok()?;
    if !f.is_finite() {
        return None;
    }
    jiff::Timestamp::from_microsecond((f * 1e6) as i64).ok()
}

impl Rq {
    pub(crate) async fn find_jobs(
        &self,
        conn: &Conn,
        ids: &[String],
        opts: FindOptions,
    ) -> RedisResult<Found> {
        let mut found = Found::default();
        let count = if opts.detail { RESULTS } else { 1 };
        let mut cmds = Vec::with_capacity(ids.len() * 2);
        for id in ids {
            cmds.push(cmd("HGETALL", &self.job_key(id)));
            let mut x = cmd("XREVRANGE", &self.results_key(id));
            x.arg("+").arg("-").arg("COUNT").arg(count);
            cmds.push(x);
        }
        let v: Vec<Value> = conn.each_key(&cmds).await?;
        let mut all_queues: Option<Vec<String>> = None;
        for (id, pair) in ids.iter().zip(v.chunks(2)) {
            let fields: Vec<(Vec<u8>, Vec<u8>)> =
                redis::from_redis_value_ref(&pair[0]).unwrap_or_default();
            let results = &pair[1];
            let origin = fields
                .iter()
                .find(|(k, _)| k == b"origin")
                .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
                .filter(|o| !o.is_empty());
            let queues = match &origin {
                Some(q) => vec![q.clone()],
                None => {
                    if all_queues.is_none() {
                        all_queues = Some(self.found_queues(conn).await?);
                    }
                    all_queues.clone().unwrap_or_default()
                }
            };
            let before = found.hits.len();
            for q in &queues {
                self.places(conn, id, q, &fields, results, opts, &mut found)
                    .await?;
            }
            if found.hits.len() == before && !fields.is_empty() {
                // A hash no queue or registry of its origin names.
                let q = origin.clone().unwrap_or_default();
                let job = jobs::parse_job(id, &fields, results, &q, QueueRole::Work, None);
                let history = opts.detail.then(|| history(&fields, results));
                found.hits.push(JobLocation {
                    id: id.clone(),
                    queue: q,
                    key: self.job_key(id),
                    state: "unlisted",
                    position: None,
                    worker: None,
                    job,
                    history,
                });
            }
        }
        if !found.notes.is_empty() {
            found.notes.sort();
            found.notes.dedup();
        }
        Ok(found)
    }

    /// Every place `id` is among queue `q`'s keys.
    #[allow(clippy::too_many_arguments)]
    async fn places(
        &self,
        conn: &Conn,
        id: &str,
        q: &str,
        fields: &[(Vec<u8>, Vec<u8>)],
        results: &Value,
        opts: FindOptions,
        found: &mut Found,
    ) -> RedisResult<()> {
        let ctx = &conn.context;
        let push = |found: &mut Found,
                    queue: String,
                    key: String,
                    state: &'static str,
                    role: QueueRole,
                    position: Option<u64>,
                    score: Option<f64>,
                    worker: Option<String>| {
            let job = jobs::parse_job(id, fields, results, q, role, score);
            let history = opts.detail.then(|| history(fields, results));
            found.hits.push(JobLocation {
                id: id.to_string(),
                queue,
                key,
                state,
                position,
                worker,
                job,
                history,
            });
        };
        // The queue and the list a one-queue worker moves a job through.
        let qkey = self.queue_key(q);
        for (key, state, role) in [
            (qkey.clone(), "waiting", QueueRole::Work),
            (format!("{qkey}:intermediate"), "active", QueueRole::Active),
        ] {
            let mut lpos = cmd("LPOS", &key);
            lpos.arg(id).arg("MAXLEN").arg(opts.scan_limit);
            let llen = cmd("LLEN", &key);
            match conn.query::<Option<i64>>(&lpos).await {
                Ok(Some(idx)) => push(
                    found,
                    q.to_string(),
                    key.clone(),
                    state,
                    role,
                    Some(idx.max(0) as u64),
                    None,
                    None,
                ),
                Ok(None) => {
                    let len: u64 = conn.query(&llen).await.unwrap_or(0);
                    if len > opts.scan_limit {
                        found.notes.push(find::bound_note(
                            ctx,
                            &key,
                            opts.scan_limit,
                            len - opts.scan_limit,
                        ));
                    }
                }
                Err(e) => found
                    .notes
                    .push(format!("{ctx}: {key}: LPOS failed ({e}): not searched")),
            }
        }
        let mut cmds = Vec::with_capacity(RANKED.len() * 2);
        for (seg, _, _) in RANKED {
            let key = self.registry_key(seg, q);
            let mut r = cmd("ZRANK", &key);
            r.arg(id);
            cmds.push(r);
            let mut s = cmd("ZSCORE", &key);
            s.arg(id);
            cmds.push(s);
        }
        let v: Vec<Value> = conn.each_key(&cmds).await?;
        for ((seg, state, role), pair) in RANKED.iter().zip(v.chunks(2)) {
            if let Some(rank) = find::int_of(&pair[0]) {
                let score = find::text_of(&pair[1]).and_then(|s| s.parse::<f64>().ok());
                push(
                    found,
                    registry_name(seg, q),
                    self.registry_key(seg, q),
                    state,
                    *role,
                    Some(rank.max(0) as u64),
                    score,
                    None,
                );
            }
        }
        // Started: members are `<id>:<execution>`.
        let wip = self.registry_key("wip", q);
        let s = find::scan_key(
            conn,
            &wip,
            ScanStore::SortedSet,
            &[id.to_string()],
            opts.scan_limit,
            &|m| {
                std::str::from_utf8(m)
                    .ok()
                    .map(|m| jobs::job_id_of(m).to_string())
            },
        )
        .await?;
        if let Some(kind) = &s.wrong_type {
            found.notes.push(find::wrong_type_note(ctx, &wip, kind));
        }
        if s.unread > 0 {
            found
                .notes
                .push(find::bound_note(ctx, &wip, opts.scan_limit, s.unread));
        }
        let worker = fields
            .iter()
            .find(|(k, _)| k == b"worker_name")
            .and_then(|(_, v)| String::from_utf8(v.clone()).ok())
            .filter(|w| !w.is_empty());
        for (_, pos, _, score) in s.hits {
            push(
                found,
                registry_name("wip", q),
                wip.clone(),
                "active",
                QueueRole::Active,
                Some(pos),
                score,
                worker.clone(),
            );
        }
        Ok(())
    }

    /// A worker's hash as RQ writes it, and the jobs of its executions.
    pub(crate) async fn worker_detail(&self, conn: &Conn, w: &Worker) -> RedisResult<WorkerDetail> {
        let key = self.key(&format!("worker:{}", w.worker));
        let mut d = WorkerDetail::default();
        let hash: Vec<(String, Vec<u8>)> = conn.query(&cmd("HGETALL", &key)).await?;
        for (k, v) in hash {
            d.fields.push((k, String::from_utf8_lossy(&v).into_owned()));
        }
        let ids: Vec<String> = w
            .process
            .as_ref()
            .map(|p| p.busy_jobs.clone())
            .unwrap_or_default()
            .into_iter()
            .take(WORKER_JOBS as usize)
            .collect();
        if ids.is_empty() {
            return Ok(d);
        }
        let mut cmds = Vec::with_capacity(ids.len() * 2);
        for id in &ids {
            cmds.push(cmd("HGETALL", &self.job_key(id)));
            let mut x = cmd("XREVRANGE", &self.results_key(id));
            x.arg("+").arg("-").arg("COUNT").arg(1);
            cmds.push(x);
        }
        let v: Vec<Value> = conn.each_key(&cmds).await?;
        for (id, pair) in ids.iter().zip(v.chunks(2)) {
            let fields: Vec<(Vec<u8>, Vec<u8>)> =
                redis::from_redis_value_ref(&pair[0]).unwrap_or_default();
            d.jobs.push(jobs::parse_job(
                id,
                &fields,
                &pair[1],
                "",
                QueueRole::Active,
                None,
            ));
        }
        Ok(d)
    }
}

/// What RQ keeps of a job's past: its hash's times and counters, its
/// results stream, and `exc_info`.
fn history(fields: &[(Vec<u8>, Vec<u8>)], results: &Value) -> JobHistory {
    let mut h = JobHistory::default();
    let text = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k.as_bytes())
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
    };
    let time = |k: &str| text(k).and_then(|t| jobs::parse_time(&t));
    h.retries_left = text("retries_left").and_then(|r| r.parse().ok());
    let entries = stream_entries(results);
    for (i, e) in entries.iter().enumerate() {
        let get = |k: &str| e.iter().find(|(f, _)| f == k).map(|(_, v)| v.as_slice());
        let kind = get("type")
            .map(|t| result_type(&String::from_utf8_lossy(t)))
            .unwrap_or("ended");
        let traceback = match get("exc_string").filter(|x| !x.is_empty()) {
            Some(x) => match find::unbase64_inflate(x, find::BACKTRACE_LIMIT) {
                Ok(t) => Some(t),
                Err(why) => {
                    h.problems.push(format!("a result's exc_string is {why}"));
                    None
                }
            },
            None => None,
        };
        let last = traceback
            .as_deref()
            .and_then(|t| find::lines_of(t).last().cloned());
        if i == 0 {
            if let Some(t) = &traceback {
                h.backtrace = find::lines_of(t);
            }
        } else if let Some(l) = &last {
            h.errors.push(l.clone());
        }
        let worker = get("worker_name")
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .filter(|w| !w.is_empty());
        let detail = match (&last, &worker) {
            (Some(l), Some(w)) => Some(format!("{l} (worker {w})")),
            (Some(l), None) => Some(l.clone()),
            (None, Some(w)) => Some(format!("worker {w}")),
            (None, None) => None,
        };
        let at = get("execution_ended_at").and_then(|t| epoch(&String::from_utf8_lossy(t)));
        h.event(at, kind, detail);
    }
    if h.backtrace.is_empty()
        && let Some((_, raw)) = fields.iter().find(|(k, _)| k == b"exc_info")
        && !raw.is_empty()
    {
        match find::inflate_text(raw, find::BACKTRACE_LIMIT) {
            Ok(t) => h.backtrace = find::lines_of(&t),
            Err(_) => {
                h.problems
                    .push("exc_info is not zlib-compressed (shown as stored)".into());
                h.backtrace = find::lines_of(&String::from_utf8_lossy(raw));
            }
        }
    }
    if let Some(last) = h.backtrace.last().cloned() {
        match last.split_once(": ") {
            Some((class, msg)) if !class.contains(' ') => {
                h.error_class = Some(class.to_string());
                h.error_message = Some(msg.to_string());
            }
            _ => h.error_message = Some(last),
        }
    }
    h.event(time("created_at"), "created", None);
    h.event(time("enqueued_at"), "enqueued", text("origin"));
    h.event(
        time("started_at"),
        "started",
        text("worker_name").map(|w| format!("by {w}")),
    );
    let status = text("status");
    if entries.is_empty() {
        h.event(time("ended_at"), "ended", status.clone());
    }
    h.sort();
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    #[test]
    fn results_and_exc_info_make_the_history() {
        use base64::Engine;
        let tb = "Traceback (most recent call last):\n  File \"jobs.py\", line 53, in fail\njobs.QctlFixtureError: qctl fixture failure: fail [7]\n";
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(tb.as_bytes()).unwrap();
        let exc = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
        let results = Value::Array(vec![Value::Array(vec![
            bulk(b"1-0"),
            Value::Array(vec![
                bulk(b"type"),
                bulk(b"2"),
                bulk(b"worker_name"),
                bulk(b"w1"),
                bulk(b"exc_string"),
                bulk(exc.as_bytes()),
                bulk(b"execution_ended_at"),
                bulk(b"1796178448.559492"),
            ]),
        ])]);
        let fields = vec![
            (b"status".to_vec(), b"failed".to_vec()),
            (
                b"created_at".to_vec(),
                b"2026-12-02T02:27:12.954849Z".to_vec(),
            ),
            (b"retries_left".to_vec(), b"2".to_vec()),
        ];
        let h = history(&fields, &results);
        assert_eq!(h.backtrace.len(), 3);
        assert_eq!(h.error_class.as_deref(), Some("jobs.QctlFixtureError"));
        assert_eq!(
            h.error_message.as_deref(),
            Some("qctl fixture failure: fail [7]")
        );
        assert_eq!(h.retries_left, Some(2));
        let events: Vec<&str> = h.events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(events, ["created", "failed"], "{:?}", h.events);
        assert!(
            h.events[1]
                .detail
                .as_deref()
                .unwrap()
                .ends_with("(worker w1)")
        );
        // Older RQ: the traceback in exc_info, zlib'd, no results.
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b"Traceback\nValueError: boom\n").unwrap();
        let mut old = fields.clone();
        old.push((b"exc_info".to_vec(), e.finish().unwrap()));
        let h = history(&old, &Value::Nil);
        assert_eq!(h.error_class.as_deref(), Some("ValueError"));
        assert_eq!(result_type("4"), "retried");
        assert_eq!(registry_name("wip", "q"), "started:q");
    }
}
