//! `qctl get workers`: one row per (context, worker) (`WorkerList`).

use super::list::{ListRun, ListView};
use super::read::{ReadTarget, Reader};
use crate::cli::GetWorkersArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ExitCode, Result};
use crate::output::{ABSENT, Styled, age, list_or_none, or_absent};
use crate::settings::Settings;
use crate::systems::{ScanNotes, Worker, WorkerState};
use serde::Serialize;

/// A `WorkerList` item.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerItem {
    pub(crate) context: String,
    pub(crate) worker: String,
    pub(crate) state: WorkerState,
    pub(crate) in_flight: u64,
    /// Milliseconds left on the heartbeat; -1 when it has no expiry; null
    /// when orphaned.
    pub(crate) heartbeat_ttl_ms: Option<i64>,
    pub(crate) job_id: Option<String>,
    /// What a process says of itself where the kind keeps it (Sidekiq:
    /// hostname, pid, tag, concurrency, queues, quiet, beat age, busy
    /// jobs); `null` elsewhere.
    pub(crate) process: Option<Box<crate::systems::ProcessInfo>>,
    /// The list holding its in-flight jobs (go-redis-work-queue: the
    /// schema's processing pattern with the worker's id); `null` where a
    /// system keeps none per worker.
    pub(crate) processing_key: Option<String>,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

pub(crate) struct WorkersOut {
    context: String,
    color: Option<String>,
    workers: Vec<Worker>,
    notes: ScanNotes,
    /// go-redis-work-queue's processing pattern, for `processing_key`.
    processing: Option<crate::systems::gowork::KeyPattern>,
}

pub(crate) struct WorkersReader;

impl Reader for WorkersReader {
    type Out = WorkersOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<WorkersOut, ContextError> {
        let (workers, notes) = t.system.workers(conn).await.map_err(|e| conn.error(&e))?;
        let processing = match &t.system {
            crate::systems::System::GoRedisWorkQueue(g) => Some(g.processing_pattern()),
            _ => None,
        };
        Ok(WorkersOut {
            context: t.context().to_string(),
            color: t.color.clone(),
            workers,
            notes,
            processing,
        })
    }
}

pub(crate) struct WorkersView {
    pub(crate) state: Option<WorkerState>,
}

/// `4.5s`-style TTLs; `-` without a heartbeat.
fn ttl(ms: Option<i64>) -> String {
    match ms {
        None => ABSENT.into(),
        Some(-1) => "no expiry".into(),
        Some(ms) if ms < 10_000 => format!("{:.1}s", ms as f64 / 1000.0),
        Some(ms) => crate::output::age(Some((ms / 1000) as u64)),
    }
}

impl ListView for WorkersView {
    type Out = WorkersOut;
    type Item = WorkerItem;
    const KIND: &'static str = "WorkerList";
    const FIELDS: &'static [&'static str] = &[
        "context",
        "worker",
        "state",
        "in_flight",
        "heartbeat_ttl_ms",
        "job_id",
        "process",
        "processing_key",
    ];
    const SORT_ALIASES: &'static [(&'static str, &'static str)] = &[
        ("name", "worker"),
        ("heartbeat", "heartbeat_ttl_ms"),
        ("age", "process.beat_age_s"),
    ];
    const NOUN: &'static str = "worker";

    fn items(&self, out: WorkersOut) -> (Vec<WorkerItem>, Vec<String>) {
        let mut notes = Vec::new();
        if out.notes.non_utf8_keys > 0 {
            notes.push(format!(
                "{}: {} keys matching the worker patterns are not UTF-8 and were skipped",
                out.context, out.notes.non_utf8_keys
            ));
        }
        if out.notes.wrong_type_keys > 0 {
            notes.push(format!(
                "{}: {} keys matching the worker patterns hold another type than expected and were skipped",
                out.context, out.notes.wrong_type_keys
            ));
        }
        let items = out
            .workers
            .into_iter()
            .filter(|w| self.state.is_none_or(|s| s == w.state))
            .map(|w| WorkerItem {
                processing_key: out.processing.as_ref().map(|p| p.key(&w.worker)),
                context: out.context.clone(),
                worker: w.worker,
                state: w.state,
                in_flight: w.in_flight,
                heartbeat_ttl_ms: w.heartbeat_ttl_ms,
                job_id: w.job_id,
                process: w.process,
                color: out.color.clone(),
            })
            .collect();
        (items, notes)
    }

    fn headers(&self, wide: bool) -> Vec<&'static str> {
        let mut h = vec![
            "CONTEXT",
            "WORKER",
            "STATE",
            "IN-FLIGHT",
            "HEARTBEAT",
            "JOB",
        ];
        if wide {
            h.extend([
                "QUEUES",
                "HOST",
                "PID",
                "TAG",
                "THREADS",
                "QUIET",
                "BUSY-JOBS",
                "CONNECTED",
                "PROCESSING-KEY",
            ]);
        }
        h
    }

    fn row(&self, w: &WorkerItem, wide: bool) -> Vec<Styled> {
        let p = w.process.as_ref();
        let heartbeat = match p.and_then(|p| p.beat_age_s) {
            Some(age) => format!("{age:.1}s ago"),
            None => ttl(w.heartbeat_ttl_ms),
        };
        let mut row: Vec<Styled> = vec![
            Styled::colored(&w.context, w.color.as_deref()),
            w.worker.clone().into(),
            Styled::colored(
                w.state.as_str(),
                Some(match w.state {
                    WorkerState::Active => "green",
                    WorkerState::Orphaned => "red",
                }),
            ),
            w.in_flight.to_string().into(),
            heartbeat.into(),
            or_absent(w.job_id.clone()).into(),
        ];
        if wide {
            // A list the system keeps is `<none>` when empty; a value it
            // does not keep at all is `-`.
            let list =
                |v: Option<&Vec<String>>| v.map_or_else(|| ABSENT.into(), |v| list_or_none(v));
            row.push(list(p.map(|p| &p.queues)).into());
            row.push(or_absent(p.and_then(|p| p.hostname.clone())).into());
            row.push(or_absent(p.and_then(|p| p.pid).map(|n| n.to_string())).into());
            row.push(or_absent(p.and_then(|p| p.tag.clone())).into());
            row.push(or_absent(p.and_then(|p| p.concurrency).map(|n| n.to_string())).into());
            row.push(
                or_absent(
                    p.and_then(|p| p.quiet)
                        .map(|q| if q { "yes" } else { "no" }.to_string()),
                )
                .into(),
            );
            // A worker known only as a connection (BullMQ) has no busy
            // list in Redis: unknown, not empty.
            row.push(list(p.filter(|p| p.addr.is_none()).map(|p| &p.busy_jobs)).into());
            row.push(or_absent(p.and_then(|p| p.connected_s).map(|s| age(Some(s)))).into());
            row.push(or_absent(w.processing_key.clone()).into());
        }
        row
    }

    fn name(&self, w: &WorkerItem) -> String {
        format!("{}/{}", w.context, w.worker)
    }

    fn match_names<'i>(&self, w: &'i WorkerItem) -> Vec<&'i str> {
        vec![w.worker.as_str()]
    }
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &GetWorkersArgs) -> Result<ExitCode> {
    ListRun::for_selection(config, settings, &args.watch, "qctl get workers")?
        .shaped(&args.list, &args.workers)
        .run(WorkersReader, &WorkersView { state: args.state })
}
