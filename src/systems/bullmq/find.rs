//! A BullMQ job by id, through its own index: the hash `<p>:<q>:<id>` of
//! each queue (one pipeline for every queue), then, for each hash that
//! exists, where the id is: LPOS in `wait`, `paused` and `active` (from the
//! end that runs next, MAXLEN `scan_limit`), ZRANK and ZSCORE in
//! `prioritized`, `delayed`, `completed`, `failed` and `waiting-children`.
//! The history is the hash's: `atm`/`ats` (attempts made and started),
//! `stc` (stalls), `failedReason`, `stacktrace` (one stack per failed
//! attempt, JSON), the times, and the job's log (`<id>:logs`).

use super::job::{self, Hash};
use super::{BullMq, State};
use crate::connect::Conn;
use crate::systems::Worker;
use crate::systems::find::{self, FindOptions, Found, JobHistory, JobLocation, WorkerDetail};
use redis::{Cmd, RedisResult, Value};

/// Lines of a job's log read at most.
const LOG_LINES: i64 = 100;

fn cmd(name: &str, key: &str) -> Cmd {
    let mut c = redis::cmd(name);
    c.arg(key);
    c
}

/// Where an id can be besides [`State::ALL`]: a flow parent waiting for
/// its children.
const WAITING_CHILDREN: &str = "waiting-children";

/// Commands per state asked of one hit.
fn place_cmds(b: &BullMq, queue: &str, id: &str, limit: u64, out: &mut Vec<Cmd>) {
    for s in State::ALL {
        let key = b.key(queue, s.suffix());
        match s.store() {
            super::Store::List => {
                out.push(cmd("LLEN", &key));
                let mut last = cmd("LINDEX", &key);
                last.arg(-1);
                out.push(last);
                let mut lpos = cmd("LPOS", &key);
                lpos.arg(id).arg("RANK").arg(-1).arg("MAXLEN").arg(limit);
                out.push(lpos);
            }
            super::Store::SortedSet => {
                let mut r = cmd("ZRANK", &key);
                r.arg(id);
                out.push(r);
                let mut sc = cmd("ZSCORE", &key);
                sc.arg(id);
                out.push(sc);
            }
        }
    }
    let key = b.key(queue, WAITING_CHILDREN);
    let mut r = cmd("ZRANK", &key);
    r.arg(id);
    out.push(r);
    let mut sc = cmd("ZSCORE", &key);
    sc.arg(id);
    out.push(sc);
}

const PLACE_CMDS: usize = 3 * 3 + 2 * 4 + 2;

fn ok(r: &Result<Value, redis::RedisError>) -> Option<&Value> {
    r.as_ref().ok().filter(|v| !matches!(v, Value::Nil))
}

impl BullMq {
    pub(crate) async fn find_jobs(
        &self,
        conn: &Conn,
        ids: &[String],
        opts: FindOptions,
    ) -> RedisResult<Found> {
        let mut found = Found::default();
        let ctx = conn.context.clone();
        let names = self.queue_names(conn).await?;
        if names.truncated {
            found.notes.push(format!(
                "{ctx}: more than {} bullmq queues: only the first by name were searched",
                super::read::MAX_QUEUES
            ));
        }
        let pairs: Vec<(&String, &String)> = names
            .names
            .iter()
            .flat_map(|q| ids.iter().map(move |id| (q, id)))
            .collect();
        let hashes = self
            .send(
                conn,
                pairs
                    .iter()
                    .map(|(q, id)| cmd("HGETALL", &self.key(q, id)))
                    .collect(),
            )
            .await?;
        let hits: Vec<((&String, &String), Hash)> = pairs
            .into_iter()
            .zip(hashes)
            .map(|(p, h)| (p, Hash::from_reply(h)))
            .filter(|(_, h)| !matches!(h, Hash::Fields(f) if f.is_empty()))
            .collect();
        let mut cmds = Vec::with_capacity(hits.len() * PLACE_CMDS);
        for ((q, id), _) in &hits {
            place_cmds(self, q, id, opts.scan_limit, &mut cmds);
        }
        let places = self.send(conn, cmds).await?;
        let mut logs_wanted = Vec::new();
        for (((q, id), hash), r) in hits.iter().zip(places.chunks(PLACE_CMDS)) {
            let hash_key = self.key(q, id);
            let mut at: Vec<(State, &'static str, Option<u64>, Option<String>)> = Vec::new();
            let mut i = 0;
            for s in State::ALL {
                match s.store() {
                    super::Store::List => {
                        let (len, last, lpos) = (&r[i], &r[i + 1], &r[i + 2]);
                        i += 3;
                        let len = ok(len).and_then(find::int_of).unwrap_or(0).max(0) as u64;
                        let marker = ok(last)
                            .and_then(find::text_of)
                            .is_some_and(|t| t.starts_with("0:"));
                        match lpos {
                            Ok(Value::Int(idx)) => {
                                let from_right = len.saturating_sub(1 + *idx as u64);
                                let pos = from_right.saturating_sub(u64::from(marker));
                                at.push((s, s.role().state(), Some(pos), None));
                            }
                            Ok(_) if len > opts.scan_limit => found.notes.push(find::bound_note(
                                &ctx,
                                &self.key(q, s.suffix()),
                                opts.scan_limit,
                                len - opts.scan_limit,
                            )),
                            Ok(_) => {}
                            Err(e) => found.notes.push(format!(
                                "{ctx}: {}: LPOS failed ({}): not searched",
                                self.key(q, s.suffix()),
                                super::read::reply_text(e)
                            )),
                        }
                    }
                    super::Store::SortedSet => {
                        let (rank, score) = (&r[i], &r[i + 1]);
                        i += 2;
                        if let Some(rank) = ok(rank).and_then(find::int_of) {
                            let score = ok(score).and_then(find::text_of);
                            at.push((s, s.role().state(), Some(rank.max(0) as u64), score));
                        }
                    }
                }
            }
            let waiting_children = ok(&r[i]).and_then(find::int_of);
            let fields = match hash {
                Hash::Fields(f) => f.clone(),
                Hash::Unreadable(_) => Vec::new(),
            };
            let mut push = |state: State,
                            word: &'static str,
                            queue: String,
                            key: String,
                            position: Option<u64>,
                            score: Option<String>| {
                let job = job::parse(id, q, &hash_key, state, hash, score.as_deref());
                let history = opts.detail.then(|| history(&fields, state, &job));
                found.hits.push(JobLocation {
                    id: id.to_string(),
                    queue,
                    key,
                    state: word,
                    position,
                    worker: None,
                    job,
                    history,
                });
            };
            let none = at.is_empty() && waiting_children.is_none();
            for (s, word, pos, score) in at {
                let r = self.state_ref(q, s);
                push(s, word, r.name, r.key, pos, score);
            }
            if let Some(rank) = waiting_children {
                push(
                    State::Wait,
                    "deferred",
                    format!("{q}:{WAITING_CHILDREN}"),
                    self.key(q, WAITING_CHILDREN),
                    Some(rank.max(0) as u64),
                    None,
                );
            }
            if none {
                // A hash no list or set names: between two steps of a
                // script, or left behind.
                push(
                    State::Wait,
                    "unlisted",
                    q.to_string(),
                    hash_key.clone(),
                    None,
                    None,
                );
            }
            if opts.detail {
                logs_wanted.push((q.to_string(), id.to_string()));
            }
        }
        if opts.detail && !logs_wanted.is_empty() {
            let logs = self
                .send(
                    conn,
                    logs_wanted
                        .iter()
                        .map(|(q, id)| {
                            let mut c = cmd("LRANGE", &self.key(q, &format!("{id}:logs")));
                            c.arg(-LOG_LINES).arg(-1);
                            c
                        })
                        .collect(),
                )
                .await?;
            // Each job's log goes to its every hit (one hash, many places).
            for ((q, id), l) in logs_wanted.iter().zip(logs) {
                let lines: Vec<String> = match l {
                    Ok(Value::Array(items)) => items.iter().filter_map(find::text_of).collect(),
                    _ => Vec::new(),
                };
                for hit in found.hits.iter_mut() {
                    if hit.id == *id
                        && hit.job.queue.as_deref() == Some(q.as_str())
                        && let Some(h) = hit.history.as_mut()
                    {
                        h.logs = lines.clone();
                    }
                }
            }
        }
        Ok(found)
    }

    /// BullMQ workers write nothing about themselves: their connection is
    /// all there is.
    pub(crate) async fn worker_detail(&self, conn: &Conn, w: &Worker) -> RedisResult<WorkerDetail> {
        let mut d = WorkerDetail::default();
        if let Some(p) = &w.process {
            if let Some(c) = &p.connection {
                d.fields.push(("connection name".into(), c.clone()));
            }
            if let Some(a) = &p.addr {
                d.fields.push(("address".into(), a.clone()));
            }
        }
        d.notes.push(format!(
            "{}: BullMQ's locks hold a token, not the worker: which jobs a worker runs is not in Redis (see get jobs QUEUE:active)",
            conn.context
        ));
        Ok(d)
    }
}

fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .filter(|v| !v.is_empty())
}

fn ms(fields: &[(String, Vec<u8>)], name: &str) -> Option<jiff::Timestamp> {
    job::ms_time(field(fields, name)?.trim().parse().ok()?)
}

/// `QctlFixtureError` of `QctlFixtureError: message`, when the head is an
/// identifier.
fn error_class(first_line: &str) -> Option<String> {
    let (head, _) = first_line.split_once(": ")?;
    (!head.is_empty()
        && head
            .chars()
            .all(|c| c.is_alphanumeric() || "_.$".contains(c)))
    .then(|| head.to_string())
}

/// What BullMQ keeps of a job's past, from its hash.
fn history(fields: &[(String, Vec<u8>)], state: State, job: &crate::systems::Job) -> JobHistory {
    let mut h = JobHistory::default();
    for (k, v) in fields {
        if matches!(k.as_str(), "data" | "stacktrace" | "name") {
            continue;
        }
        let Ok(text) = std::str::from_utf8(v) else {
            h.problems.push(format!("{k} is not text: left out"));
            continue;
        };
        let value = match k.as_str() {
            "opts" | "returnvalue" | "progress" => serde_json::from_str(text)
                .unwrap_or_else(|_| serde_json::Value::String(text.to_string())),
            _ => serde_json::Value::String(text.to_string()),
        };
        h.fields.insert(k.clone(), value);
    }
    let num = |k: &str| field(fields, k).and_then(|v| v.trim().parse::<u64>().ok());
    h.attempts = num("atm").or_else(|| num("attemptsMade"));
    let max = field(fields, "opts")
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
        .and_then(|o| o.get("attempts").and_then(|a| a.as_u64()))
        .unwrap_or(1);
    h.retries_left = Some(if state == State::Failed || state == State::Completed {
        0
    } else {
        max.saturating_sub(h.attempts.unwrap_or(0))
    });
    h.error_message = field(fields, "failedReason").map(String::from);
    match field(fields, "stacktrace").map(serde_json::from_str::<Vec<String>>) {
        Some(Ok(stacks)) => {
            if let Some(last) = stacks.last() {
                h.backtrace = find::lines_of(last);
                h.error_class = h.backtrace.first().and_then(|l| error_class(l));
            }
            h.errors = stacks
                .iter()
                .rev()
                .skip(1)
                .map(|s| s.lines().next().unwrap_or("").to_string())
                .collect();
        }
        Some(Err(_)) => h
            .problems
            .push("stacktrace is not a JSON array of strings: not decoded".into()),
        None => {}
    }
    if let Some(n) = num("stc").filter(|n| *n > 0) {
        h.problems.push(format!(
            "stalled {n} time(s): a worker lost its lock while running it"
        ));
    }
    h.event(ms(fields, "timestamp"), "created", None);
    h.event(
        ms(fields, "processedOn"),
        "started",
        field(fields, "pb").map(|w| format!("by {w}")),
    );
    let finished = match state {
        State::Failed => "failed",
        State::Completed => "completed",
        _ => "finished",
    };
    h.event(
        ms(fields, "finishedOn"),
        finished,
        (state == State::Failed)
            .then(|| job.error.clone())
            .flatten(),
    );
    if state == State::Delayed {
        h.event(job.run_at, "delayed until", None);
    }
    h.sort();
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn the_hash_makes_the_history() {
        let f = hash(&[
            ("name", "fail"),
            ("data", "{}"),
            ("opts", r#"{"attempts":3}"#),
            ("atm", "2"),
            ("stc", "1"),
            ("timestamp", "1796178470212"),
            ("processedOn", "1796178470220"),
            ("failedReason", "qctl fixture failure: fail 7"),
            (
                "stacktrace",
                r#"["QctlFixtureError: first\n    at a (x.js:1:1)","QctlFixtureError: qctl fixture failure: fail 7\n    at b (y.js:2:2)"]"#,
            ),
        ]);
        let job = crate::systems::Job::default();
        let h = history(&f, State::Delayed, &job);
        assert_eq!(h.attempts, Some(2));
        assert_eq!(h.retries_left, Some(1));
        assert_eq!(h.error_class.as_deref(), Some("QctlFixtureError"));
        assert_eq!(h.backtrace[1], "    at b (y.js:2:2)");
        assert_eq!(h.errors, vec!["QctlFixtureError: first"]);
        assert!(h.problems[0].contains("stalled 1 time"));
        assert_eq!(h.fields["opts"]["attempts"], 3);
        assert!(!h.fields.contains_key("data"));
        assert_eq!(error_class("not a class: x"), None);
    }
}
