//! `qctl describe job ID`: where the job is (the lookup of `get job`), its
//! full payload, and its history where the system keeps one: attempts,
//! retries left, the last error with its backtrace decoded (Sidekiq's
//! compressed `error_backtrace`, RQ's `exc_info` and results stream,
//! BullMQ's `stacktrace`), earlier errors, dated events and the job's log
//! (`JobDescription`). A job found in several places (a copy on another
//! context, a set it is moving between) gets one block per place.

use super::locate::{FindReader, ids_of, not_found, status_of};
use super::text::{Block, NONE, when};
use super::{Described, finish, read, selection};
use crate::cli::DescribeJobArgs;
use crate::contexts::Config;
use crate::error::{ExitCode, Result};
use crate::settings::Settings;
use crate::systems::Payload;
use crate::systems::find::{FindOptions, JobHistory, JobLocation};
use base64::Engine;
use serde::Serialize;

/// A `JobDescription` item.
#[derive(Debug, Serialize)]
pub(crate) struct JobDescription {
    pub(crate) context: String,
    pub(crate) id: String,
    pub(crate) system: &'static str,
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) state: &'static str,
    pub(crate) position: Option<u64>,
    pub(crate) worker: Option<String>,
    /// The payload is one the system would accept.
    pub(crate) valid: bool,
    pub(crate) name: Option<String>,
    pub(crate) job_queue: Option<String>,
    pub(crate) priority: Option<String>,
    /// Attempts that failed so far.
    pub(crate) retries: Option<u64>,
    pub(crate) created_at: Option<String>,
    pub(crate) age_s: Option<f64>,
    pub(crate) run_at: Option<String>,
    pub(crate) failed_at: Option<String>,
    /// The last error, one line.
    pub(crate) error: Option<String>,
    /// The system's own word for its state (RQ `status`).
    pub(crate) status: Option<String>,
    /// The payload as stored: JSON, the raw text when it is not JSON,
    /// `null` with `payload_base64` when not UTF-8, `null` with
    /// `payload_encoding` when qctl does not show it (RQ's pickles).
    pub(crate) payload: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload_encoding: Option<&'static str>,
    /// A job kept in a hash: its readable fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fields: Option<serde_json::Map<String, serde_json::Value>>,
    pub(crate) history: JobHistory,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) problems: Vec<String>,
}

fn item(
    context: &str,
    system: &'static str,
    h: JobLocation,
    now: jiff::Timestamp,
) -> JobDescription {
    let job = h.job;
    let status = status_of(&job);
    let age_s = job.age_s(now);
    let mut problems = Vec::new();
    let (payload, payload_base64, payload_encoding, fields) = match job.payload {
        Payload::Json(v) => (v, None, None, None),
        Payload::Text(t) => (serde_json::Value::String(t), None, None, None),
        Payload::Binary(b) => (
            serde_json::Value::Null,
            Some(base64::engine::general_purpose::STANDARD.encode(b)),
            None,
            None,
        ),
        Payload::Hash(hj) => {
            problems.extend(hj.problems.iter().cloned());
            (
                hj.payload.clone().unwrap_or(serde_json::Value::Null),
                None,
                hj.encoding,
                Some(hj.fields.clone()),
            )
        }
    };
    let mut history = h.history.unwrap_or_default();
    problems.append(&mut history.problems);
    JobDescription {
        context: context.to_string(),
        id: h.id,
        system,
        queue: h.queue,
        key: h.key,
        state: h.state,
        position: h.position,
        worker: h.worker,
        valid: job.valid,
        name: job.name,
        job_queue: job.queue,
        priority: job.priority,
        retries: job.retries,
        created_at: job.created.map(|t| t.to_string()),
        age_s,
        run_at: job.run_at.map(|t| t.to_string()),
        failed_at: job.failed_at.map(|t| t.to_string()),
        error: job.error,
        status,
        payload,
        payload_base64,
        payload_encoding,
        fields,
        history,
        problems,
    }
}

fn ts(s: &Option<String>) -> Option<jiff::Timestamp> {
    s.as_deref().and_then(|t| t.parse().ok())
}

fn block(d: &JobDescription, now: jiff::Timestamp) -> Block {
    let mut b = Block::new();
    b.field("Context", &d.context)
        .field("Id", &d.id)
        .field("System", d.system)
        .field("Queue", &d.queue)
        .field("Key", &d.key)
        .field("State", d.state)
        .opt("Status", d.status.clone())
        .opt(
            "Position",
            d.position.map(|p| {
                if p == 0 {
                    "0 (next)".to_string()
                } else {
                    p.to_string()
                }
            }),
        )
        .opt("Worker", d.worker.clone())
        .opt("Name", d.name.clone())
        .opt("Job Queue", d.job_queue.clone())
        .opt("Priority", d.priority.clone())
        .opt("Created", when(ts(&d.created_at), now))
        .opt("Run At", when(ts(&d.run_at), now))
        .opt("Failed At", when(ts(&d.failed_at), now))
        .opt("Retries", d.retries.map(|r| r.to_string()))
        .opt("Error", d.error.clone())
        .field("Valid", if d.valid { "yes" } else { "no" });
    let h = &d.history;
    b.section("History", |s| {
        s.opt("Attempts", h.attempts.map(|n| n.to_string()))
            .opt("Retries Left", h.retries_left.map(|n| n.to_string()))
            .opt("Error Class", h.error_class.clone())
            .opt("Error Message", h.error_message.clone());
        s.section("Events", |e| {
            e.table(
                &["TIME", "EVENT", "DETAIL"],
                h.events
                    .iter()
                    .map(|ev| {
                        vec![
                            ev.at.clone(),
                            ev.event.clone(),
                            ev.detail.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
        });
        s.section("Backtrace", |bt| {
            for l in &h.backtrace {
                bt.text(l);
            }
        });
        if !h.errors.is_empty() {
            s.section("Earlier Errors", |e| {
                for l in &h.errors {
                    e.text(l);
                }
            });
        }
        if !h.logs.is_empty() {
            s.section("Log", |e| {
                for l in &h.logs {
                    e.text(l);
                }
            });
        }
    });
    let mut fields: std::collections::BTreeMap<String, serde_json::Value> =
        d.fields.clone().unwrap_or_default().into_iter().collect();
    for (k, v) in &h.fields {
        fields.insert(k.clone(), v.clone());
    }
    if !fields.is_empty() {
        b.section("Fields", |s| {
            for (k, v) in &fields {
                let shown = match v {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                s.field(k, shown);
            }
        });
    }
    b.section("Payload", |s| {
        match (&d.payload, &d.payload_base64, d.payload_encoding) {
            (_, Some(b64), _) => {
                s.text(&format!("(not UTF-8; base64) {b64}"));
            }
            (serde_json::Value::Null, None, Some(enc)) => {
                s.text(&format!(
                    "({enc}: not shown; qctl never unpickles a payload)"
                ));
            }
            (serde_json::Value::String(t), None, _) if !d.valid => {
                s.text(&format!("(not JSON) {t}"));
            }
            (serde_json::Value::Null, None, None) => {
                s.text(NONE);
            }
            (v, None, _) => {
                s.text(&serde_json::to_string_pretty(v).unwrap_or_default());
            }
        }
    });
    if !d.problems.is_empty() {
        b.section("Problems", |s| {
            for p in &d.problems {
                s.text(p);
            }
        });
    }
    b
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &DescribeJobArgs,
) -> Result<ExitCode> {
    let ids = ids_of(std::slice::from_ref(&args.id))?;
    let names = selection(config, settings)?;
    let reader = FindReader {
        ids: ids.clone(),
        opts: FindOptions {
            scan_limit: args.scan.scan_limit,
            detail: true,
        },
    };
    let results = read(config, settings, &names, reader, std::time::Duration::ZERO)
        .into_iter()
        .map(|r| {
            r.map(|out| {
                let notes = out.found.notes.clone();
                let items = out
                    .found
                    .hits
                    .into_iter()
                    .map(|h| {
                        let d = item(&out.context, out.system, h, out.now);
                        let b = block(&d, out.now);
                        let name = format!("{}/{}/{}", d.context, d.queue, d.id);
                        (d, b, name)
                    })
                    .collect();
                Described {
                    context: out.context,
                    items,
                    notes,
                    known: Vec::new(),
                }
            })
        })
        .collect();
    finish(settings, "JobDescription", results, move |ctxs, _| {
        not_found(&ids, ctxs)
    })
}
