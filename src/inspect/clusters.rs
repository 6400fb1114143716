//! `qctl get clusters`: one row per context (SPEC section 4, `ClusterList`).
//!
//! STATUS is `healthy` when every `health` check passes on this reading,
//! `degraded` when the context answered but a check failed, `unreachable`
//! when it did not answer (an `errors` entry in JSON).

use super::list::{ListRun, ListView};
use super::{Probe, ProbeReader, Rates, checks};
use crate::cli::GetClustersArgs;
use crate::contexts::{Config, Mode};
use crate::error::{ContextError, ExitCode, Result};
use crate::output::Styled;
use crate::output::{age, bytes, labels_text, rate};
use crate::settings::Settings;
use serde::Serialize;
use std::collections::BTreeMap;

/// A `ClusterList` item.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterItem {
    pub(crate) context: String,
    pub(crate) status: &'static str,
    pub(crate) latency_ms: f64,
    pub(crate) redis_version: Option<String>,
    pub(crate) mode: Mode,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) endpoint: String,
    /// The queue system (the schema's `kind`).
    pub(crate) system: &'static str,
    pub(crate) queued: Option<u64>,
    pub(crate) scheduled: Option<u64>,
    pub(crate) retrying: Option<u64>,
    pub(crate) processing: Option<u64>,
    pub(crate) dead_letter: Option<u64>,
    pub(crate) completed: Option<u64>,
    pub(crate) processed_total: Option<u64>,
    pub(crate) failed_total: Option<u64>,
    pub(crate) workers: Option<u64>,
    pub(crate) orphaned_workers: Option<u64>,
    pub(crate) orphaned_jobs: Option<u64>,
    pub(crate) paused_queues: Option<u64>,
    pub(crate) used_memory_bytes: Option<u64>,
    pub(crate) maxmemory_bytes: Option<u64>,
    pub(crate) maxmemory_policy: Option<String>,
    pub(crate) uptime_s: Option<u64>,
    /// `--sample` rates; `null` without `--sample`.
    pub(crate) rates: Option<Rates>,
    /// Failed health checks behind `degraded`.
    pub(crate) problems: Vec<String>,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

pub(crate) fn item(p: &Probe, config: &Config) -> ClusterItem {
    let failed: Vec<String> = checks(p, &config.preferences.health)
        .into_iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.message))
        .collect();
    let f = &p.figures;
    ClusterItem {
        context: p.context.clone(),
        status: if failed.is_empty() {
            "healthy"
        } else {
            "degraded"
        },
        latency_ms: (p.latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        redis_version: p.info.redis_version.clone(),
        mode: p.mode,
        labels: p.labels.clone(),
        endpoint: p.endpoint.clone(),
        system: p.system,
        queued: f.queued,
        scheduled: f.scheduled,
        retrying: f.retrying,
        processing: f.processing,
        dead_letter: f.dead_letter,
        completed: f.completed,
        processed_total: f.processed_total,
        failed_total: f.failed_total,
        workers: f.workers,
        orphaned_workers: f.orphaned_workers,
        orphaned_jobs: f.orphaned_jobs,
        paused_queues: f.paused_queues,
        used_memory_bytes: p.info.used_memory,
        maxmemory_bytes: p.info.maxmemory,
        maxmemory_policy: p.info.maxmemory_policy.clone(),
        uptime_s: p.info.uptime_s,
        rates: p.rates,
        problems: failed,
        color: p.color.clone(),
    }
}

fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Standalone => "standalone",
        Mode::Cluster => "cluster",
    }
}

/// The figures a `get clusters` table shows.
const TABLE_FIGURES: &[&str] = &[
    "queued",
    "processing",
    "dead_letter",
    "workers",
    "orphaned_jobs",
];

/// A figure in a table: `-` where the kind has none.
pub(crate) fn figure(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |n| n.to_string())
}

/// `get clusters` rows.
pub(crate) struct ClustersView<'a> {
    pub(crate) config: &'a Config,
    pub(crate) sampled: bool,
}

impl ListView for ClustersView<'_> {
    type Out = Probe;
    type Item = ClusterItem;
    const KIND: &'static str = "ClusterList";

    fn items(&self, p: Probe) -> (Vec<ClusterItem>, Vec<String>) {
        let mut notes = p.notes.clone();
        // The figures the table shows, when this kind has none of them.
        for (figure, why) in &p.figures.absent {
            if TABLE_FIGURES.contains(figure) {
                notes.push(format!("{figure}: {why} (shown as -)"));
            }
        }
        (vec![item(&p, self.config)], notes)
    }

    fn headers(&self, wide: bool) -> Vec<&'static str> {
        let mut h = vec![
            "CONTEXT",
            "STATUS",
            "LATENCY",
            "VERSION",
            "MODE",
            "QUEUED",
            "PROCESSING",
            "DLQ",
            "WORKERS",
            "MEMORY",
        ];
        if self.sampled {
            h.extend(["COMPLETED/S", "DLQ/S", "QUEUED/S"]);
        }
        if wide {
            h.extend([
                "SYSTEM",
                "ORPHANED",
                "MAXMEMORY",
                "POLICY",
                "UPTIME",
                "LABELS",
                "ENDPOINT",
            ]);
        }
        h
    }

    fn row(&self, it: &ClusterItem, wide: bool) -> Vec<Styled> {
        let status_color = if it.status == "healthy" {
            "green"
        } else {
            "yellow"
        };
        let mut row: Vec<Styled> = vec![
            Styled::colored(&it.context, it.color.as_deref()),
            Styled::colored(it.status, Some(status_color)),
            format!("{:.1}ms", it.latency_ms).into(),
            it.redis_version
                .clone()
                .unwrap_or_else(|| "-".into())
                .into(),
            mode_str(it.mode).into(),
            figure(it.queued).into(),
            figure(it.processing).into(),
            figure(it.dead_letter).into(),
            figure(it.workers).into(),
            bytes(it.used_memory_bytes).into(),
        ];
        if self.sampled {
            let r = it.rates.as_ref();
            row.push(rate(r.and_then(|r| r.completed_per_s), false).into());
            row.push(rate(r.and_then(|r| r.dead_lettered_per_s), false).into());
            row.push(rate(r.map(|r| r.queued_change_per_s), true).into());
        }
        if wide {
            row.push(it.system.into());
            row.push(figure(it.orphaned_jobs).into());
            row.push(match it.maxmemory_bytes {
                Some(0) => "unlimited".into(),
                m => bytes(m).into(),
            });
            row.push(
                it.maxmemory_policy
                    .clone()
                    .unwrap_or_else(|| "-".into())
                    .into(),
            );
            row.push(age(it.uptime_s).into());
            row.push(labels_text(&it.labels).into());
            row.push(it.endpoint.clone().into());
        }
        row
    }

    fn error_row(&self, e: &ContextError, color: Option<&str>, wide: bool) -> Option<Vec<Styled>> {
        let mut row: Vec<Styled> = vec![
            Styled::colored(&e.context, color),
            Styled::colored("unreachable", Some("red")),
        ];
        row.extend((2..self.headers(wide).len()).map(|_| Styled::plain("-")));
        Some(row)
    }

    fn name(&self, it: &ClusterItem) -> String {
        it.context.clone()
    }
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &GetClustersArgs,
) -> Result<ExitCode> {
    let mut list = ListRun::for_selection(config, settings, &args.watch, "qctl get clusters")?;
    list.extra_budget = args.sample.unwrap_or_default();
    let reader = ProbeReader {
        sample: args.sample,
        ..Default::default()
    };
    let view = ClustersView {
        config,
        sampled: args.sample.is_some(),
    };
    list.run(reader, &view)
}
