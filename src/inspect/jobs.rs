//! `qctl get jobs QUEUE`: peek at jobs without removing them (`JobList`).
//!
//! Position 0 is what a consumer takes next (the right end, what `RPOP`
//! returns) for every list; `--from-end` starts at the other end and keeps
//! the same numbering. Payloads that are not JSON objects are shown raw and
//! flagged (`valid: false`), never fatal.

use super::list::{ListRun, ListView};
use super::read::{ReadTarget, Reader};
use crate::cli::GetJobsArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ErrorKind, ExitCode, Result};
use crate::output::Styled;
use crate::output::age;
use crate::settings::Settings;
use crate::systems::{Job, Payload, Peek, System};
use base64::Engine;
use serde::Serialize;

/// A `JobList` item.
#[derive(Debug, Serialize)]
pub(crate) struct JobItem {
    pub(crate) context: String,
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) position: u64,
    /// What the listed jobs are (SPEC 10.2): waiting, scheduled, retry,
    /// dead, completed.
    pub(crate) state: &'static str,
    /// The payload is a JSON object; when false, `payload` is the raw text
    /// (or null, with `payload_base64`, when it is not UTF-8).
    pub(crate) valid: bool,
    pub(crate) id: Option<String>,
    /// What runs it (Sidekiq's `class`); `null` where the kind has none.
    pub(crate) name: Option<String>,
    /// The queue the job belongs to, where the kind records it (a dead
    /// Sidekiq job's own queue); `null` elsewhere.
    pub(crate) job_queue: Option<String>,
    pub(crate) priority: Option<String>,
    pub(crate) retries: Option<u64>,
    pub(crate) age_s: Option<f64>,
    pub(crate) run_at: Option<String>,
    pub(crate) failed_at: Option<String>,
    /// The last error, one line.
    pub(crate) error: Option<String>,
    pub(crate) filepath: Option<String>,
    pub(crate) payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload_base64: Option<String>,
    /// For jobs kept in a hash of their own (RQ): how the payload is
    /// encoded when it is not shown (`pickle`: `payload` is null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload_encoding: Option<&'static str>,
    /// The system's own word for the job's state (RQ `status`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) started_age_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ended_age_s: Option<f64>,
    /// The job hash's readable fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// What is wrong with this entry (its hash is gone, a field is
    /// garbage); never fatal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) problems: Vec<String>,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

/// One queue or set read.
pub(crate) struct JobSet {
    queue: String,
    key: String,
    state: &'static str,
    peek: Peek,
}

pub(crate) struct JobsOut {
    context: String,
    color: Option<String>,
    sets: Vec<JobSet>,
    /// Said once per context under the table.
    notes: Vec<String>,
    now: jiff::Timestamp,
}

pub(crate) struct JobsReader {
    /// `None`: every queue's jobs in `state`.
    pub(crate) queue: Option<String>,
    /// `--state`: the jobs of the queue in this state.
    pub(crate) state: Option<String>,
    /// `--match`: only the jobs whose stored text matches (the matcher
    /// `requeue --match` uses).
    pub(crate) glob: Option<crate::systems::glob::Glob>,
    pub(crate) limit: u64,
    pub(crate) from_end: bool,
}

/// The SPEC 10.3 state a `--state` word means (`None`: not a state).
fn state_of(word: &str) -> Option<&'static str> {
    Some(match word {
        "waiting" | "queued" | "wait" | "prioritized" => "waiting",
        "active" | "started" | "processing" | "wip" => "active",
        "scheduled" | "delayed" | "schedule" => "scheduled",
        "retry" | "retrying" => "retry",
        "dead" | "failed" | "dlq" | "dead-letter" => "dead",
        "completed" | "finished" => "completed",
        "deferred" => "deferred",
        _ => return None,
    })
}

/// Jobs `--match` reads at most per context.
const MATCH_READ: u64 = 10_000;

/// The text `--match` looks at: the payload as stored (JSON, text or
/// bytes); for a job kept in a hash, its readable fields and payload as
/// one JSON object.
fn match_text(p: &Payload) -> Vec<u8> {
    match p {
        Payload::Json(v) => serde_json::to_vec(v).unwrap_or_default(),
        Payload::Text(t) => t.as_bytes().to_vec(),
        Payload::Binary(b) => b.clone(),
        Payload::Hash(h) => {
            let mut m = h.fields.clone();
            if let Some(v) = &h.payload {
                m.insert("data".into(), v.clone());
            }
            serde_json::to_vec(&serde_json::Value::Object(m)).unwrap_or_default()
        }
    }
}

/// The states `--state` takes.
const STATES: &str = "waiting, active, scheduled, retry, dead, completed, deferred (and the systems' own words: queued, prioritized, delayed, started, failed, finished)";

/// `QUEUE --state STATE` on one context: the queue or set holding
/// QUEUE's jobs in that state (`Q:failed` on BullMQ, `failed:Q` on RQ),
/// else a set shared by every queue (Sidekiq's `dead`, `retry`,
/// `schedule`; go-redis-work-queue's dead-letter list): then `true`.
pub(crate) fn resolve_state(
    system: &System,
    queue: &str,
    word: &str,
) -> Option<(crate::systems::QueueRef, bool)> {
    let want = state_of(word)?;
    let ok = |q: &crate::systems::QueueRef| q.role.state() == want;
    if want == "waiting" && word != "prioritized" {
        return system.queue_named(queue).filter(ok).map(|q| (q, false));
    }
    for cand in [format!("{queue}:{word}"), format!("{word}:{queue}")] {
        if let Some(q) = system.queue_named(&cand).filter(ok) {
            return Some((q, false));
        }
    }
    if want == "dead" {
        let d = system.dead_letter();
        if !d.key.contains('*') {
            return Some((d, true));
        }
    }
    system.queue_named(word).filter(ok).map(|q| (q, true))
}

/// The queue `name` means on a context: a schema name, alias or key, else
/// the name itself as a key; and the state of its jobs.
fn resolve(system: &System, name: &str) -> (String, String, &'static str) {
    match system.queue_named(name) {
        Some(q) => (q.name, q.key, q.role.state()),
        None => (name.to_string(), name.to_string(), "waiting"),
    }
}

impl Reader for JobsReader {
    type Out = JobsOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<JobsOut, ContextError> {
        let mut targets: Vec<(String, String, &'static str, bool)> = Vec::new();
        match (&self.queue, &self.state) {
            (Some(queue), None) => {
                let (q, k, st) = resolve(&t.system, queue);
                targets.push((q, k, st, false));
            }
            (Some(queue), Some(word)) => match resolve_state(&t.system, queue, word) {
                Some((q, shared)) => targets.push((q.name, q.key, q.role.state(), shared)),
                None => {
                    return Err(ContextError {
                        context: t.context().to_string(),
                        kind: ErrorKind::Config,
                        message: format!(
                            "{} keeps no {word} jobs for {queue}; states: {STATES}",
                            t.system.kind()
                        ),
                    });
                }
            },
            (None, word) => {
                // Every queue's set in that state (a shared set once, whole).
                let word = word.as_deref().unwrap_or("waiting");
                let queues = t
                    .system
                    .found_queues(conn)
                    .await
                    .map_err(|e| conn.error(&e))?;
                for q in queues {
                    if let Some((r, shared)) = resolve_state(&t.system, &q, word)
                        && !targets.iter().any(|(_, k, _, _)| *k == r.key)
                    {
                        targets.push((r.name, r.key, r.role.state(), shared));
                    }
                }
            }
        }
        let mut notes = Vec::new();
        let mut sets = Vec::with_capacity(targets.len());
        let mut room = self.limit;
        for (queue, key, state, shared) in targets {
            if room == 0 {
                break;
            }
            // With --match, read up to the most `get jobs` shows and keep
            // the first that match.
            let read_n = if self.glob.is_some() {
                MATCH_READ.max(room)
            } else {
                room
            };
            let mut peek = t
                .system
                .peek(conn, &key, read_n, self.from_end)
                .await
                .map_err(|e| conn.error(&e))?;
            if let Some(kind) = &peek.wrong_type {
                return Err(ContextError {
                    context: t.context().to_string(),
                    kind: ErrorKind::Redis,
                    message: format!("key `{key}` holds a {kind}, not a list of jobs"),
                });
            }
            if let Some(g) = &self.glob {
                let read = peek.jobs.len();
                peek.jobs
                    .retain(|(_, j)| g.matches(&match_text(&j.payload)));
                notes.push(format!(
                    "{}: {} of the {read} jobs of {queue} read match {}{}",
                    t.context(),
                    peek.jobs.len(),
                    g.as_str(),
                    if (read as u64) < peek.length {
                        format!(" ({} more not read)", peek.length - read as u64)
                    } else {
                        String::new()
                    }
                ));
            }
            if shared && let Some(own) = &self.queue {
                // One set for every queue: keep the jobs that name this
                // one (those that name none are kept: they may be its).
                let read = peek.jobs.len();
                peek.jobs.retain(|(_, j)| match &j.payload {
                    Payload::Json(v) => v
                        .get("queue")
                        .and_then(|q| q.as_str())
                        .is_none_or(|q| q == own),
                    _ => true,
                });
                notes.push(format!(
                    "{}: {key} holds every queue's {state} jobs: {} of the {read} read are {own}'s",
                    t.context(),
                    peek.jobs.len(),
                ));
            }
            peek.jobs.truncate(room as usize);
            room -= peek.jobs.len() as u64;
            sets.push(JobSet {
                queue,
                key,
                state,
                peek,
            });
        }
        Ok(JobsOut {
            context: t.context().to_string(),
            color: t.color.clone(),
            sets,
            notes,
            now: jiff::Timestamp::now(),
        })
    }
}

/// The columns: go-redis-work-queue's own (priority, filepath) when every
/// context speaks it, else the ones every kind has (name, detail).
pub(crate) struct JobsView {
    pub(crate) generic: bool,
}

fn item(out: &JobsOut, set: &JobSet, position: u64, job: Job) -> JobItem {
    let age_s = job.age_s(out.now);
    let mut hash = None;
    let (payload, payload_base64) = match job.payload {
        Payload::Json(v) => (v, None),
        Payload::Text(t) => (serde_json::Value::String(t), None),
        Payload::Binary(b) => (
            serde_json::Value::Null,
            Some(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        Payload::Hash(mut h) => {
            let p = h.payload.take().unwrap_or(serde_json::Value::Null);
            hash = Some(*h);
            (p, None)
        }
    };
    let is_hash = hash.is_some();
    let h = hash.unwrap_or_default();
    JobItem {
        context: out.context.clone(),
        queue: set.queue.clone(),
        key: set.key.clone(),
        position,
        state: set.state,
        valid: job.valid,
        age_s,
        id: job.id,
        name: job.name,
        job_queue: job.queue,
        run_at: job.run_at.map(|t| t.to_string()),
        failed_at: job.failed_at.map(|t| t.to_string()),
        error: job.error,
        priority: job.priority,
        retries: job.retries,
        filepath: job.filepath,
        payload,
        payload_base64,
        payload_encoding: h.encoding,
        status: h.status,
        started_age_s: crate::systems::age_s(h.started, out.now),
        ended_age_s: crate::systems::age_s(h.ended, out.now),
        fields: is_hash.then_some(h.fields),
        problems: h.problems,
        color: out.color.clone(),
    }
}

trait OrPriority {
    fn or_else_priority(self, p: &Option<String>) -> String;
}

impl OrPriority for String {
    /// A job's name, else its priority (go-redis-work-queue's jobs have no
    /// name).
    fn or_else_priority(self, p: &Option<String>) -> String {
        if self.is_empty() {
            p.clone().unwrap_or_default()
        } else {
            self
        }
    }
}

/// Text for a table cell: control characters escaped, at most `max` chars.
fn escape(text: &str, max: usize) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    if escaped.chars().count() > max {
        let cut: String = escaped.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    } else {
        escaped
    }
}

/// A payload shortened for a table cell, control characters escaped.
fn preview(j: &JobItem, max: usize) -> String {
    let text = match (&j.payload, &j.payload_base64) {
        (_, Some(b)) => format!("base64:{b}"),
        (serde_json::Value::Null, _) if j.payload_encoding.is_some() => {
            format!("({}, not shown)", j.payload_encoding.unwrap_or_default())
        }
        (serde_json::Value::String(s), _) if !j.valid => s.clone(),
        (v, _) => v.to_string(),
    };
    escape(&text, max)
}

impl ListView for JobsView {
    type Out = JobsOut;
    type Item = JobItem;
    const KIND: &'static str = "JobList";
    const FIELDS: &'static [&'static str] = &[
        "context",
        "queue",
        "key",
        "position",
        "state",
        "valid",
        "id",
        "name",
        "job_queue",
        "priority",
        "retries",
        "age_s",
        "run_at",
        "failed_at",
        "error",
        "filepath",
        "payload",
        "payload_base64",
        "payload_encoding",
        "status",
        "started_age_s",
        "ended_age_s",
        "fields",
        "problems",
    ];
    const SORT_ALIASES: &'static [(&'static str, &'static str)] = &[("age", "age_s")];

    fn items(&self, mut out: JobsOut) -> (Vec<JobItem>, Vec<String>) {
        let mut notes = std::mem::take(&mut out.notes);
        if let [set] = out.sets.as_slice()
            && set.peek.length == 0
            && set.queue == set.key
        {
            notes.push(format!(
                "{}: key `{}` is empty or does not exist",
                out.context, set.key
            ));
        }
        let jobs = || out.sets.iter().flat_map(|s| s.peek.jobs.iter());
        let invalid = jobs()
            .filter(|(_, j)| !j.valid && !matches!(j.payload, Payload::Hash(_)))
            .count();
        // Jobs kept in hashes: each problem once, with how many have it.
        let mut problems: Vec<(String, usize)> = Vec::new();
        for (_, j) in jobs() {
            if let Payload::Hash(h) = &j.payload {
                for p in &h.problems {
                    match problems.iter_mut().find(|(q, _)| q == p) {
                        Some((_, n)) => *n += 1,
                        None => problems.push((p.clone(), 1)),
                    }
                }
            }
        }
        for (p, n) in problems {
            notes.push(format!(
                "{}: {n} of the jobs shown: {p} (flagged under `problems`)",
                out.context
            ));
        }
        if invalid > 0 {
            notes.push(format!(
                "{}: {invalid} of the jobs shown are not valid JSON job payloads (shown raw, `valid: false`)",
                out.context
            ));
        }
        let sets = std::mem::take(&mut out.sets);
        let mut items = Vec::new();
        for mut set in sets {
            let jobs = std::mem::take(&mut set.peek.jobs);
            items.extend(jobs.into_iter().map(|(pos, j)| item(&out, &set, pos, j)));
        }
        (items, notes)
    }

    fn headers(&self, wide: bool) -> Vec<&'static str> {
        let mut h = if self.generic {
            vec![
                "CONTEXT", "QUEUE", "POS", "ID", "NAME", "RETRIES", "AGE", "DETAIL",
            ]
        } else {
            vec![
                "CONTEXT", "QUEUE", "POS", "ID", "PRIORITY", "RETRIES", "AGE", "FILEPATH",
            ]
        };
        if wide {
            h.push("PAYLOAD");
        }
        h
    }

    fn row(&self, j: &JobItem, wide: bool) -> Vec<Styled> {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        if self.generic {
            let description = j
                .fields
                .as_ref()
                .and_then(|f| f.get("description"))
                .and_then(|d| d.as_str());
            let detail = if let Some(p) = j.problems.first() {
                p.clone()
            } else if !j.valid {
                preview(j, 40)
            } else if let Some(e) = &j.error {
                e.clone()
            } else if let Some(f) = &j.filepath {
                f.clone()
            } else if let Some(d) = description {
                d.to_string()
            } else {
                j.payload
                    .get("args")
                    .map(|a| format!("args {a}"))
                    .unwrap_or_default()
            };
            let queue = match &j.job_queue {
                Some(q) if *q != j.queue => format!("{} ({q})", j.queue),
                _ => j.queue.clone(),
            };
            let mut row = vec![
                Styled::colored(&j.context, j.color.as_deref()),
                queue.into(),
                j.position.to_string().into(),
                if j.valid {
                    opt(&j.id).into()
                } else {
                    Styled::colored("(invalid)", Some("red"))
                },
                opt(&j.name).or_else_priority(&j.priority).into(),
                j.retries.map(|r| r.to_string()).unwrap_or_default().into(),
                j.age_s
                    .map(|s| age(Some(s as u64)))
                    .unwrap_or_default()
                    .into(),
                escape(&detail, 60).into(),
            ];
            if wide {
                row.push(preview(j, 80).into());
            }
            return crate::output::fill_blanks(row);
        }
        let mut row = vec![
            Styled::colored(&j.context, j.color.as_deref()),
            j.queue.clone().into(),
            j.position.to_string().into(),
            if j.valid {
                opt(&j.id).into()
            } else {
                Styled::colored("(invalid)", Some("red"))
            },
            opt(&j.priority).into(),
            j.retries.map(|r| r.to_string()).unwrap_or_default().into(),
            j.age_s
                .map(|s| age(Some(s as u64)))
                .unwrap_or_default()
                .into(),
            if j.valid {
                opt(&j.filepath).into()
            } else {
                preview(j, 40).into()
            },
        ];
        if wide {
            row.push(preview(j, 80).into());
        }
        crate::output::fill_blanks(row)
    }

    fn name(&self, j: &JobItem) -> String {
        match &j.id {
            Some(id) if j.valid => format!("{}/{}/{id}", j.context, j.queue),
            _ => format!("{}/{}/#{}", j.context, j.queue, j.position),
        }
    }
}

/// A name that is no queue of any selected context's schema, has no `:`
/// and is close to a queue name is a typo, not a key.
fn check_queue_name(config: &Config, names: &[String], queue: &str) -> Result<()> {
    let mut known: Vec<String> = Vec::new();
    for n in names {
        let Some(schema) = config.context(n).and_then(|c| config.schema(&c.schema)) else {
            continue;
        };
        let system = System::for_schema(&schema.system);
        if system.queue_named(queue).is_some() {
            return Ok(());
        }
        for q in system.queues() {
            if !known.contains(&q.name) {
                known.push(q.name);
            }
        }
    }
    if queue.contains(':') {
        return Ok(());
    }
    if let Some(s) = crate::contexts::did_you_mean(queue, known.iter().map(String::as_str)) {
        return Err(CliError::failure(format!(
            "`{queue}` is not a queue of the selected contexts' schemas; did you mean `{s}`?"
        ))
        .with_hint(format!(
            "queues: {}, dlq (or a full key such as jobqueue:high_priority)",
            known.join(", ")
        )));
    }
    Ok(())
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &GetJobsArgs) -> Result<ExitCode> {
    let list = ListRun::for_selection(
        config,
        settings,
        &args.watch,
        match &args.queue {
            Some(q) => format!("qctl get jobs {q}"),
            None => "qctl get jobs".to_string(),
        },
    )?;
    if let Some(q) = &args.queue {
        check_queue_name(config, &list.names, q)?;
    } else if args.state.is_none() {
        return Err(CliError::usage(
            "get jobs needs a QUEUE, or --state STATE for that state's jobs of every queue",
        )
        .with_hint("for example: qctl get jobs high, or qctl get jobs --state dead"));
    }
    if let Some(word) = &args.state
        && state_of(word).is_none()
    {
        return Err(CliError::usage(format!("--state {word}: not a state"))
            .with_hint(format!("states: {STATES}")));
    }
    let glob = args
        .pattern
        .as_deref()
        .map(|p| {
            crate::systems::glob::Glob::parse(p).map_err(|e| {
                CliError::usage(format!("--match {p}: {e}"))
                    .with_hint("globs look like '*\"class\":\"FailJob\"*'")
            })
        })
        .transpose()?;
    let reader = JobsReader {
        queue: args.queue.clone(),
        state: args.state.clone(),
        glob,
        limit: args.limit,
        from_end: args.from_end,
    };
    let generic = list.names.iter().any(|n| {
        config
            .context(n)
            .and_then(|c| config.schema(&c.schema))
            .is_some_and(|s| {
                crate::systems::System::for_schema(&s.system).job_table()
                    != crate::systems::JobTable::PriorityFilepath
            })
    });
    list.shaped(&args.list, &[])
        .run(reader, &JobsView { generic })
}
