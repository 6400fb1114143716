//! `qctl get queues`: one row per (context, queue) (`QueueList`).

use super::list::{ListRun, ListView, Trend, sparkline};
use super::read::{ReadTarget, Reader};
use crate::cli::GetQueuesArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ExitCode, Result};
use crate::output::Styled;
use crate::output::{age, rate};
use crate::settings::Settings;
use crate::systems::{QueueDetail, QueueRole, age_s};
use serde::Serialize;

/// A `QueueList` item.
#[derive(Debug, Serialize)]
pub(crate) struct QueueItem {
    pub(crate) context: String,
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) role: QueueRole,
    /// What its jobs are (SPEC 10.2): waiting, scheduled, retry, dead,
    /// completed.
    pub(crate) state: &'static str,
    /// Paused by the system's own flag; `null` where the kind has no pause.
    pub(crate) paused: Option<bool>,
    pub(crate) length: u64,
    /// Age in seconds of the job a consumer would take next (from its
    /// `creation_time`); null when the queue is empty or the job has no
    /// readable time.
    pub(crate) oldest_age_s: Option<f64>,
    pub(crate) schema: String,
    /// The queue system (the schema's `kind`).
    pub(crate) system: &'static str,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

/// What one context answered.
pub(crate) struct QueuesOut {
    context: String,
    color: Option<String>,
    schema: String,
    system: &'static str,
    details: Vec<QueueDetail>,
    now: jiff::Timestamp,
}

pub(crate) struct QueuesReader;

impl Reader for QueuesReader {
    type Out = QueuesOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<QueuesOut, ContextError> {
        let details = t
            .system
            .queue_details(conn)
            .await
            .map_err(|e| conn.error(&e))?;
        Ok(QueuesOut {
            context: t.context().to_string(),
            color: t.color.clone(),
            schema: t.schema.clone(),
            system: t.system.kind(),
            details,
            now: jiff::Timestamp::now(),
        })
    }
}

pub(crate) struct QueuesView;

impl ListView for QueuesView {
    type Out = QueuesOut;
    type Item = QueueItem;
    const KIND: &'static str = "QueueList";
    const FIELDS: &'static [&'static str] = &[
        "context",
        "queue",
        "key",
        "role",
        "state",
        "paused",
        "length",
        "oldest_age_s",
        "schema",
        "system",
    ];
    const SORT_ALIASES: &'static [(&'static str, &'static str)] =
        &[("name", "queue"), ("age", "oldest_age_s")];
    const NOUN: &'static str = "queue";

    fn items(&self, out: QueuesOut) -> (Vec<QueueItem>, Vec<String>) {
        let items = out
            .details
            .into_iter()
            .map(|d| QueueItem {
                context: out.context.clone(),
                queue: d.queue.name,
                key: d.queue.key,
                role: d.queue.role,
                state: d.queue.role.state(),
                paused: d.paused,
                length: d.length,
                oldest_age_s: if d.length == 0 {
                    None
                } else {
                    age_s(d.next_created, out.now)
                },
                schema: out.schema.clone(),
                system: out.system,
                color: out.color.clone(),
            })
            .collect();
        (items, Vec::new())
    }

    fn headers(&self, wide: bool) -> Vec<&'static str> {
        let mut h = vec!["CONTEXT", "QUEUE", "KEY", "ROLE", "LENGTH", "OLDEST"];
        if wide {
            h.extend(["STATE", "SCHEMA", "SYSTEM"]);
        }
        h
    }

    fn row(&self, q: &QueueItem, wide: bool) -> Vec<Styled> {
        let role_color = match q.role {
            QueueRole::DeadLetter if q.length > 0 => Some("red"),
            _ => None,
        };
        let mut row = vec![
            Styled::colored(&q.context, q.color.as_deref()),
            q.queue.clone().into(),
            q.key.clone().into(),
            Styled::colored(q.role.as_str(), role_color),
            q.length.to_string().into(),
            age(q.oldest_age_s.map(|s| s as u64)).into(),
        ];
        if wide {
            row.push(q.state.into());
            row.push(q.schema.clone().into());
            row.push(q.system.into());
        }
        row
    }

    fn name(&self, q: &QueueItem) -> String {
        format!("{}/{}", q.context, q.queue)
    }

    fn match_names<'i>(&self, q: &'i QueueItem) -> Vec<&'i str> {
        let mut names = vec![q.queue.as_str(), q.key.as_str()];
        if q.role == QueueRole::DeadLetter {
            // `get jobs dlq` takes this word too.
            names.push("dlq");
        }
        names
    }

    fn trend_sample(&self, q: &QueueItem) -> Option<(String, Vec<Option<u64>>)> {
        Some((format!("{}\0{}", q.context, q.key), vec![Some(q.length)]))
    }

    fn trend_headers(&self) -> &'static [&'static str] {
        &["TREND", "RATE"]
    }

    /// The length over the last polls, and its change per second (a
    /// queue's arrivals and departures are not told apart by its length).
    fn trend_cells(&self, t: &Trend) -> Vec<Styled> {
        vec![
            sparkline(&t.series(0)).into(),
            rate(t.change_per_s(0), true).into(),
        ]
    }
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &GetQueuesArgs) -> Result<ExitCode> {
    ListRun::for_selection(config, settings, &args.watch, "qctl get queues")?
        .shaped(&args.list, &args.queues)
        .run(QueuesReader, &QueuesView)
}
