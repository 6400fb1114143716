//! `qctl get clusters`: one row per context (SPEC section 4, `ClusterList`).
//!
//! STATUS is `healthy` when every `health` check passes on this reading,
//! `degraded` when the context answered but a check failed, `unreachable`
//! when it did not answer (an `errors` entry in JSON).

use super::list::{ListRun, ListView, Trend, sparkline};
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
    const FIELDS: &'static [&'static str] = &[
        "context",
        "status",
        "latency_ms",
        "redis_version",
        "mode",
        "labels",
        "endpoint",
        "system",
        "queued",
        "scheduled",
        "retrying",
        "processing",
        "dead_letter",
        "completed",
        "processed_total",
        "failed_total",
        "workers",
        "orphaned_workers",
        "orphaned_jobs",
        "paused_queues",
        "used_memory_bytes",
        "maxmemory_bytes",
        "maxmemory_policy",
        "uptime_s",
        "rates",
        "problems",
    ];
    const SORT_ALIASES: &'static [(&'static str, &'static str)] = &[
        ("name", "context"),
        ("dlq", "dead_letter"),
        ("latency", "latency_ms"),
        ("memory", "used_memory_bytes"),
        ("uptime", "uptime_s"),
        ("version", "redis_version"),
    ];

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

    fn totals(&self, items: &[&ClusterItem]) -> Option<serde_json::Value> {
        let sum = |f: fn(&ClusterItem) -> Option<u64>| -> Option<u64> {
            items.iter().filter_map(|i| f(i)).reduce(|a, b| a + b)
        };
        Some(serde_json::json!({
            "contexts": items.len(),
            "queued": sum(|i| i.queued),
            "scheduled": sum(|i| i.scheduled),
            "retrying": sum(|i| i.retrying),
            "processing": sum(|i| i.processing),
            "dead_letter": sum(|i| i.dead_letter),
            "completed": sum(|i| i.completed),
            "workers": sum(|i| i.workers),
            "orphaned_jobs": sum(|i| i.orphaned_jobs),
            "used_memory_bytes": sum(|i| i.used_memory_bytes),
        }))
    }

    fn total_row(&self, t: &serde_json::Value, wide: bool) -> Option<Vec<Styled>> {
        let n = |k: &str| t.get(k).and_then(serde_json::Value::as_u64);
        let mut row: Vec<Styled> = vec![
            "TOTAL".into(),
            crate::output::count(n("contexts").unwrap_or(0), "context").into(),
            "".into(),
            "".into(),
            "".into(),
            figure(n("queued")).into(),
            figure(n("processing")).into(),
            figure(n("dead_letter")).into(),
            figure(n("workers")).into(),
            bytes(n("used_memory_bytes")).into(),
        ];
        if self.sampled {
            row.extend(["".into(), "".into(), "".into()]);
        }
        if wide {
            row.push("".into());
            row.push(figure(n("orphaned_jobs")).into());
        }
        Some(row)
    }

    fn trend_sample(&self, it: &ClusterItem) -> Option<(String, Vec<Option<u64>>)> {
        // Jobs finished: the system's processed counter, else what reached
        // completed or the dead-letter queue.
        let finished = it.processed_total.or_else(|| {
            it.completed
                .map(|c| c + it.dead_letter.unwrap_or(0))
                .or(it.dead_letter)
        });
        let backlog = it.queued.map(|q| q + it.processing.unwrap_or(0));
        Some((
            it.context.clone(),
            vec![it.queued, it.dead_letter, finished, backlog],
        ))
    }

    fn trend_headers(&self) -> &'static [&'static str] {
        &["QUEUED-TREND", "DLQ-TREND", "IN/S", "OUT/S"]
    }

    /// Queued and dead over the last polls; jobs/s out (finished) and in
    /// (the backlog's growth plus what finished) between the last two.
    fn trend_cells(&self, t: &Trend) -> Vec<Styled> {
        let out = t.change_per_s(2).filter(|v| *v >= 0.0);
        let arrived = t
            .change_per_s(3)
            .zip(out)
            .map(|(b, o)| b + o)
            .filter(|v| *v >= 0.0);
        vec![
            sparkline(&t.series(0)).into(),
            sparkline(&t.series(1)).into(),
            rate(arrived, false).into(),
            rate(out, false).into(),
        ]
    }
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &GetClustersArgs,
) -> Result<ExitCode> {
    let names = selection(config, settings, &args.contexts)?;
    let mut list = ListRun::for_names(config, settings, names, &args.watch, "qctl get clusters")
        .shaped(&args.list, &[]);
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

/// The contexts `get clusters CONTEXT...` reads: the names (globs allowed)
/// as `--context` takes them; with `-l` or `-A`, those of that selection
/// the names match.
fn selection(config: &Config, settings: &Settings, named: &[String]) -> Result<Vec<String>> {
    let mut select = settings.select.clone();
    if named.is_empty() || (select.selector.is_none() && !select.all) {
        select.contexts.extend(named.iter().cloned());
        let set = crate::select::select(config, &select)?;
        return Ok(set.names().into_iter().map(String::from).collect());
    }
    let set = crate::select::select(config, &select)?;
    let chosen: Vec<&str> = set.names();
    let mut keep = std::collections::BTreeSet::new();
    for n in named {
        let pat = glob::Pattern::new(n).map_err(|e| {
            crate::error::CliError::usage(format!("`{n}` is not a valid context pattern: {e}"))
        })?;
        let before = keep.len();
        keep.extend(chosen.iter().filter(|c| pat.matches(c)).copied());
        if keep.len() == before && !chosen.iter().any(|c| pat.matches(c)) {
            if config.context(n).is_none() && !n.contains(['*', '?', '[']) {
                return Err(crate::select::unknown_context(config, n));
            }
            return Err(crate::error::CliError::failure(format!(
                "`{n}` names no context of the selection ({})",
                chosen.join(", ")
            ))
            .with_hint("drop -l/-A to name any context, or name one the selector picks"));
        }
    }
    Ok(chosen
        .into_iter()
        .filter(|c| keep.contains(c))
        .map(String::from)
        .collect())
}
