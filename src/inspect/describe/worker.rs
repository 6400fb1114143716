//! `qctl describe worker NAME`: a worker as `get workers` lists it (a glob
//! picks several): active or orphaned, its heartbeat, queues, the jobs it
//! holds (ids and classes), and what its system keeps of it: Sidekiq's
//! process hash (hostname, pid, concurrency, busy, quiet...), RQ's worker
//! hash (birth, counts, working time...), BullMQ's connection, go-redis-
//! work-queue's processing list and heartbeat key (`WorkerDescription`).

use super::text::{Block, ago};
use super::{Described, contexts_phrase, finish, read, selection};
use crate::cli::DescribeWorkerArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Result};
use crate::inspect::read::{ReadTarget, Reader};
use crate::settings::Settings;
use crate::systems::{ProcessInfo, WorkerState};
use serde::Serialize;

/// A job a worker holds.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HeldJob {
    pub(crate) id: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) queue: Option<String>,
    pub(crate) created_at: Option<String>,
    pub(crate) valid: bool,
}

/// A `WorkerDescription` item.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerDescription {
    pub(crate) context: String,
    pub(crate) system: &'static str,
    pub(crate) worker: String,
    pub(crate) state: WorkerState,
    pub(crate) in_flight: u64,
    /// Milliseconds left on the heartbeat key, where it has one.
    pub(crate) heartbeat_ttl_ms: Option<i64>,
    /// Seconds since the last beat, where the system records it.
    pub(crate) heartbeat_age_s: Option<f64>,
    pub(crate) job_id: Option<String>,
    pub(crate) process: Option<ProcessInfo>,
    pub(crate) jobs: Vec<HeldJob>,
    /// What the system stores about the worker, field by field.
    pub(crate) fields: indexmap::IndexMap<String, String>,
}

pub(crate) struct WorkerOut {
    items: Vec<WorkerDescription>,
    notes: Vec<String>,
    known: Vec<String>,
}

struct WorkerReader {
    name: String,
    pattern: Option<glob::Pattern>,
}

impl WorkerReader {
    fn matches(&self, w: &str) -> bool {
        w == self.name || self.pattern.as_ref().is_some_and(|p| p.matches(w))
    }
}

impl Reader for WorkerReader {
    type Out = WorkerOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<WorkerOut, ContextError> {
        let (workers, _) = t.system.workers(conn).await.map_err(|e| conn.error(&e))?;
        let known: Vec<String> = workers.iter().map(|w| w.worker.clone()).collect();
        let mut items = Vec::new();
        let mut notes = Vec::new();
        for w in workers.into_iter().filter(|w| self.matches(&w.worker)) {
            let d = t
                .system
                .worker_detail(conn, &w)
                .await
                .map_err(|e| conn.error(&e))?;
            notes.extend(d.notes);
            items.push(WorkerDescription {
                context: t.context().to_string(),
                system: t.system.kind(),
                heartbeat_age_s: w.process.as_ref().and_then(|p| p.beat_age_s),
                process: w.process.map(|p| *p),
                worker: w.worker,
                state: w.state,
                in_flight: w.in_flight,
                heartbeat_ttl_ms: w.heartbeat_ttl_ms,
                job_id: w.job_id,
                jobs: d
                    .jobs
                    .into_iter()
                    .map(|j| HeldJob {
                        id: j.id,
                        name: j.name.or(j.priority),
                        queue: j.queue,
                        created_at: j.created.map(|c| c.to_string()),
                        valid: j.valid,
                    })
                    .collect(),
                fields: d.fields.into_iter().collect(),
            });
        }
        Ok(WorkerOut {
            items,
            notes,
            known,
        })
    }
}

fn heartbeat(d: &WorkerDescription) -> String {
    match (d.heartbeat_age_s, d.heartbeat_ttl_ms) {
        (Some(a), Some(ms)) if ms >= 0 => {
            format!("{a:.1}s ago (expires in {:.1}s)", ms as f64 / 1000.0)
        }
        (Some(a), _) => format!("{a:.1}s ago"),
        (None, Some(-1)) => "key without expiry".into(),
        (None, Some(ms)) => format!("key expires in {:.1}s", ms as f64 / 1000.0),
        (None, None) => String::new(),
    }
}

fn block(d: &WorkerDescription) -> Block {
    let mut b = Block::new();
    let p = d.process.as_ref();
    b.field("Context", &d.context)
        .field("Worker", &d.worker)
        .field("System", d.system)
        .field("State", d.state.as_str())
        .field("Heartbeat", heartbeat(d))
        .field("Queues", p.map(|p| p.queues.join(", ")).unwrap_or_default())
        .field("In Flight", d.in_flight.to_string());
    if let Some(p) = p {
        b.section("Process", |s| {
            // What this system records; nothing for what it has not.
            s.opt("Hostname", p.hostname.clone())
                .opt("Pid", p.pid.map(|n| n.to_string()));
            if let Some(t) = &p.tag {
                s.field("Tag", t);
            }
            if let Some(c) = p.concurrency {
                s.field("Concurrency", c.to_string());
            }
            if let Some(q) = p.quiet {
                s.field("Quiet", if q { "yes" } else { "no" });
            }
            if let Some(a) = &p.addr {
                s.field("Address", a);
            }
            if let Some(c) = &p.connection {
                s.field("Connection", c);
            }
            if let Some(c) = p.connected_s {
                s.field("Connected", crate::output::age(Some(c)));
            }
            if let Some(i) = p.idle_s {
                s.field("Idle", format!("{i}s"));
            }
        });
    }
    b.section("Jobs", |s| {
        s.table(
            &["ID", "NAME", "QUEUE", "CREATED"],
            d.jobs
                .iter()
                .map(|j| {
                    vec![
                        if j.valid {
                            j.id.clone().unwrap_or_default()
                        } else {
                            "(invalid)".into()
                        },
                        j.name.clone().unwrap_or_default(),
                        j.queue.clone().unwrap_or_default(),
                        j.created_at
                            .as_deref()
                            .and_then(|c| c.parse::<jiff::Timestamp>().ok())
                            .and_then(|c| {
                                ago(crate::systems::age_s(Some(c), jiff::Timestamp::now()))
                            })
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    });
    b.section("Stored", |s| {
        for (k, v) in &d.fields {
            s.field(k, v);
        }
    });
    b
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &DescribeWorkerArgs,
) -> Result<ExitCode> {
    let names = selection(config, settings)?;
    let pattern = if args.worker.contains(['*', '?', '[']) {
        Some(glob::Pattern::new(&args.worker).map_err(|e| {
            CliError::usage(format!("`{}` is not a valid pattern: {e}", args.worker))
                .with_hint("globs look like 'host-*' or 'default@*'")
        })?)
    } else {
        None
    };
    let reader = WorkerReader {
        name: args.worker.clone(),
        pattern,
    };
    let results = read(config, settings, &names, reader, std::time::Duration::ZERO)
        .into_iter()
        .zip(&names)
        .map(|(r, n)| {
            r.map(|out| {
                let mut notes = out.notes;
                if out.items.is_empty() && names.len() > 1 {
                    notes.push(format!("{n}: no worker `{}`", args.worker));
                }
                Described {
                    context: n.clone(),
                    items: out
                        .items
                        .into_iter()
                        .map(|d| {
                            let b = block(&d);
                            let name = format!("{}/{}", d.context, d.worker);
                            (d, b, name)
                        })
                        .collect(),
                    notes,
                    known: out.known,
                }
            })
        })
        .collect();
    let worker = args.worker.clone();
    finish(
        settings,
        "WorkerDescription",
        results,
        move |ctxs, known| {
            let e = CliError::failure(format!("no worker `{worker}` in {}", contexts_phrase(ctxs)));
            match crate::contexts::did_you_mean(&worker, known.iter().map(String::as_str)) {
                Some(s) => e.with_hint(format!("did you mean `{s}`?")),
                None if known.is_empty() => e.with_hint("no worker is running there now"),
                None => e.with_hint("`qctl get workers` lists the workers"),
            }
        },
    )
}
