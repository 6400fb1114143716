//! `qctl compare [CONTEXT...]`: contexts side by side (`Comparison`).
//!
//! The first context named is the baseline; every other value carries its
//! delta to the baseline, absolute and in percent (`null` when the baseline
//! is 0). Two different questions are answered apart:
//!
//! - anomalies: a figure of one context deviating from the mean of the
//!   others by more than the threshold. Live queues always differ a
//!   little, so these fail `--exit-code` only with `--fail-on-anomaly`;
//! - drift: configuration that should be the same and is not (Redis
//!   major.minor version, maxmemory, maxmemory-policy, appendonly, save,
//!   the queue schema). `--exit-code` exits 5 on drift.

use super::{Probe, ProbeReader, probe_all};
use crate::cli::{CompareArgs, OutputFormat};
use crate::contexts::{Config, Mode};
use crate::error::{CliError, ContextError, ExitCode, Outcome, Result};
use crate::output::Styled;
use crate::output::rate;
use crate::select::{SelectArgs, select};
use crate::settings::Settings;
use serde::Serialize;

pub(crate) const DEFAULT_THRESHOLD: f64 = 10.0;

/// One context's value of a metric, with its delta to the baseline.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Cell {
    pub(crate) context: String,
    #[serde(serialize_with = "whole")]
    pub(crate) value: Option<f64>,
    /// `value - baseline`; null for the baseline itself or a missing value.
    #[serde(serialize_with = "whole")]
    pub(crate) delta: Option<f64>,
    /// `delta / baseline * 100`; null when the baseline is 0.
    pub(crate) delta_percent: Option<f64>,
    /// The delta exceeds the threshold (any change from a baseline of 0
    /// does).
    pub(crate) beyond_threshold: bool,
}

/// One row: a figure across the contexts.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Metric {
    /// `jobs`, `workers` or `rates`.
    pub(crate) group: &'static str,
    /// Stable name for scripts: `queued`, `queued.high`, `processing`,
    /// `dead_letter`, `completed`, `workers.active`, `workers.orphaned`,
    /// `completed_per_s`, ...
    pub(crate) metric: String,
    pub(crate) values: Vec<Cell>,
}

/// A context deviating from the mean of the others.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Anomaly {
    pub(crate) metric: String,
    pub(crate) context: String,
    #[serde(serialize_with = "whole1")]
    pub(crate) value: f64,
    #[serde(serialize_with = "whole1")]
    pub(crate) mean_of_others: f64,
    /// Null when the mean of the others is 0.
    pub(crate) deviation_percent: Option<f64>,
}

/// A configuration value that differs between contexts.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Drift {
    /// `redis_version`, `maxmemory`, `maxmemory-policy`, `appendonly`,
    /// `save`, `queue-schema`.
    pub(crate) field: &'static str,
    pub(crate) baseline: Option<String>,
    /// Every context's value, in column order (null: could not be read).
    pub(crate) values: indexmap::IndexMap<String, Option<String>>,
    /// The contexts whose value differs from the baseline's.
    pub(crate) differs: Vec<String>,
}

/// What each context runs, for the "Server" rows.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ServerFacts {
    pub(crate) context: String,
    pub(crate) mode: Mode,
    /// The queue system (the schema's `kind`).
    pub(crate) system: &'static str,
    /// The endpoint, password redacted.
    pub(crate) endpoint: String,
    pub(crate) redis_version: Option<String>,
    /// CONFIG GET maxmemory of the first primary: per node, as configured
    /// (what drift compares).
    pub(crate) maxmemory: Option<String>,
    /// INFO's maxmemory summed over every primary (`get clusters`'
    /// `maxmemory_bytes`).
    pub(crate) maxmemory_bytes: Option<u64>,
    /// INFO's used_memory summed over every primary.
    pub(crate) used_memory_bytes: Option<u64>,
    pub(crate) maxmemory_policy: Option<String>,
    pub(crate) appendonly: Option<String>,
    pub(crate) save: Option<String>,
    pub(crate) schema: String,
}

/// The `Comparison` document.
#[derive(Debug, Serialize)]
pub(crate) struct Comparison {
    #[serde(rename = "apiVersion")]
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) baseline: Option<String>,
    pub(crate) contexts: Vec<String>,
    pub(crate) threshold_percent: f64,
    /// Seconds between the two readings of `--sample`; null without it.
    pub(crate) sample_s: Option<f64>,
    pub(crate) metrics: Vec<Metric>,
    pub(crate) anomalies: Vec<Anomaly>,
    pub(crate) drift: Vec<Drift>,
    pub(crate) servers: Vec<ServerFacts>,
    pub(crate) errors: Vec<ContextError>,
}

/// Whole numbers as JSON integers (counts stay counts), others as floats.
fn whole<S: serde::Serializer>(v: &Option<f64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) if v.fract() == 0.0 && v.abs() < 9.0e15 => s.serialize_i64(*v as i64),
        Some(v) => s.serialize_f64(*v),
        None => s.serialize_none(),
    }
}

fn whole1<S: serde::Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    whole(&Some(*v), s)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Builds a metric row from one value per context (baseline first).
pub(crate) fn metric(
    group: &'static str,
    name: String,
    values: Vec<(String, Option<f64>)>,
    threshold: f64,
) -> Metric {
    let base = values.first().and_then(|(_, v)| *v);
    let cells = values
        .iter()
        .enumerate()
        .map(|(i, (ctx, v))| {
            let (delta, pct, beyond) = match (i, base, v) {
                (0, _, _) | (_, None, _) | (_, _, None) => (None, None, false),
                (_, Some(b), Some(v)) => {
                    let d = v - b;
                    if b == 0.0 {
                        (Some(round3(d)), None, d != 0.0)
                    } else {
                        let pct = d / b.abs() * 100.0;
                        (Some(round3(d)), Some(round2(pct)), pct.abs() > threshold)
                    }
                }
            };
            Cell {
                context: ctx.clone(),
                value: *v,
                delta,
                delta_percent: pct,
                beyond_threshold: beyond,
            }
        })
        .collect();
    Metric {
        group,
        metric: name,
        values: cells,
    }
}

/// Contexts whose value deviates from the mean of the others by more than
/// the threshold (a non-zero value against others all at 0 counts).
pub(crate) fn anomalies(m: &Metric, threshold: f64) -> Vec<Anomaly> {
    let known: Vec<(&str, f64)> = m
        .values
        .iter()
        .filter_map(|c| c.value.map(|v| (c.context.as_str(), v)))
        .collect();
    if known.len() < 2 {
        return Vec::new();
    }
    let total: f64 = known.iter().map(|(_, v)| v).sum();
    let mut out = Vec::new();
    for (ctx, v) in &known {
        let mean = (total - v) / (known.len() - 1) as f64;
        let (anomalous, pct) = if mean == 0.0 {
            (*v != 0.0, None)
        } else {
            let pct = (v - mean) / mean.abs() * 100.0;
            (pct.abs() > threshold, Some(round2(pct)))
        };
        if anomalous {
            out.push(Anomaly {
                metric: m.metric.clone(),
                context: ctx.to_string(),
                value: *v,
                mean_of_others: round2(mean),
                deviation_percent: pct,
            });
        }
    }
    out
}

/// `major.minor` of a Redis version.
fn major_minor(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

/// One drift check: values per context (baseline first), compared through
/// `key`; contexts whose value is unknown are left out.
fn drift(
    field: &'static str,
    values: Vec<(String, Option<String>)>,
    key: fn(&str) -> String,
) -> Option<Drift> {
    // The baseline's value; when it could not be read, the first context
    // that could stands in (a value nobody could read is never drift).
    let base_at = values.iter().position(|(_, v)| v.is_some())?;
    let base = values[base_at].1.clone();
    let base_key = base.as_deref().map(key)?;
    let differs: Vec<String> = values
        .iter()
        .skip(base_at + 1)
        .filter(|(_, v)| v.as_deref().is_some_and(|v| key(v) != base_key))
        .map(|(c, _)| c.clone())
        .collect();
    if differs.is_empty() {
        return None;
    }
    Some(Drift {
        field,
        baseline: base,
        values: values.into_iter().collect(),
        differs,
    })
}

/// The comparison of some probes (baseline first).
pub(crate) fn compare(probes: &[Probe], threshold: f64) -> (Vec<Metric>, Vec<Anomaly>, Vec<Drift>) {
    let mut metrics = Vec::new();
    let col = |f: &dyn Fn(&Probe) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        probes.iter().map(|p| (p.context.clone(), f(p))).collect()
    };
    // Work queues by name, in the baseline's order, then any others.
    let mut queue_names: Vec<String> = Vec::new();
    for p in probes {
        for (q, _) in &p.figures.queues {
            if q.role == crate::systems::QueueRole::Work && !queue_names.contains(&q.name) {
                queue_names.push(q.name.clone());
            }
        }
    }
    for name in &queue_names {
        metrics.push(metric(
            "jobs",
            format!("queued.{name}"),
            col(&|p: &Probe| {
                p.figures
                    .queues
                    .iter()
                    .find(|(q, _)| q.role == crate::systems::QueueRole::Work && &q.name == name)
                    .map(|(_, n)| *n as f64)
            }),
            threshold,
        ));
    }
    type Pick = fn(&Probe) -> Option<f64>;
    fn f(v: Option<u64>) -> Option<f64> {
        v.map(|n| n as f64)
    }
    let figures: [(&'static str, &str, Pick); 11] = [
        ("jobs", "queued", |p| f(p.figures.queued)),
        ("jobs", "scheduled", |p| f(p.figures.scheduled)),
        ("jobs", "retrying", |p| f(p.figures.retrying)),
        ("jobs", "processing", |p| f(p.figures.processing)),
        ("jobs", "dead_letter", |p| f(p.figures.dead_letter)),
        ("jobs", "completed", |p| f(p.figures.completed)),
        ("jobs", "processed_total", |p| f(p.figures.processed_total)),
        ("jobs", "failed_total", |p| f(p.figures.failed_total)),
        ("workers", "workers.active", |p| f(p.figures.workers)),
        ("workers", "workers.orphaned", |p| {
            f(p.figures.orphaned_workers)
        }),
        ("queues", "paused_queues", |p| f(p.figures.paused_queues)),
    ];
    for (group, name, pick) in figures {
        // A figure no compared kind has is left out (its absence is in
        // each context's notes); one some have is compared where it exists.
        let values = col(&pick);
        if values.iter().all(|(_, v)| v.is_none()) {
            continue;
        }
        metrics.push(metric(group, name.to_string(), values, threshold));
    }
    if probes.iter().any(|p| p.rates.is_some()) {
        let rates: [(&str, Pick); 3] = [
            ("completed_per_s", |p| {
                p.rates.and_then(|r| r.completed_per_s)
            }),
            ("dead_lettered_per_s", |p| {
                p.rates.and_then(|r| r.dead_lettered_per_s)
            }),
            ("queued_change_per_s", |p| {
                p.rates.map(|r| r.queued_change_per_s)
            }),
        ];
        for (name, pick) in rates {
            metrics.push(metric("rates", name.to_string(), col(&pick), threshold));
        }
    }
    let anomalies = metrics
        .iter()
        .flat_map(|m| anomalies(m, threshold))
        .collect();

    let facts = |f: &dyn Fn(&Probe) -> Option<String>| -> Vec<(String, Option<String>)> {
        probes.iter().map(|p| (p.context.clone(), f(p))).collect()
    };
    let cfg = |p: &Probe, f: fn(&super::ServerConfig) -> Option<String>| {
        p.server_config.as_ref().and_then(f)
    };
    let drifts = [
        drift(
            "redis_version",
            facts(&|p| p.info.redis_version.clone()),
            major_minor,
        ),
        drift(
            "maxmemory",
            facts(&|p| cfg(p, |c| c.maxmemory.clone())),
            str::to_string,
        ),
        drift(
            "maxmemory-policy",
            facts(&|p| {
                cfg(p, |c| c.maxmemory_policy.clone()).or_else(|| p.info.maxmemory_policy.clone())
            }),
            str::to_string,
        ),
        drift(
            "appendonly",
            facts(&|p| cfg(p, |c| c.appendonly.clone())),
            str::to_string,
        ),
        drift(
            "save",
            facts(&|p| cfg(p, |c| c.save.clone())),
            str::to_string,
        ),
        // The schema is compared between like kinds only: a Sidekiq and a
        // go-redis-work-queue context always differ there, by design.
        drift(
            "queue-schema",
            facts(&|p| (p.system == probes[0].system).then(|| schema_text(p))),
            str::to_string,
        ),
    ];
    (metrics, anomalies, drifts.into_iter().flatten().collect())
}

/// The queue keys a context uses, as one comparable string.
fn schema_text(p: &Probe) -> String {
    p.queue_schema
        .iter()
        .map(|q| format!("{}={}", q.name, q.key))
        .collect::<Vec<_>>()
        .join(" ")
        + &format!(" workers={}", p.worker_patterns)
}

fn facts(p: &Probe) -> ServerFacts {
    let c = p.server_config.clone().unwrap_or_default();
    ServerFacts {
        context: p.context.clone(),
        mode: p.mode,
        system: p.system,
        endpoint: p.endpoint.clone(),
        redis_version: p.info.redis_version.clone(),
        maxmemory: c.maxmemory,
        maxmemory_bytes: p.info.maxmemory,
        used_memory_bytes: p.info.used_memory,
        maxmemory_policy: c.maxmemory_policy.or(p.info.maxmemory_policy.clone()),
        appendonly: c.appendonly,
        save: c.save,
        schema: p.schema.clone(),
    }
}

/// The contexts to compare, in the order typed (the baseline first).
fn targets(config: &Config, settings: &Settings, args: &CompareArgs) -> Result<Vec<String>> {
    let mut sel: SelectArgs = settings.select.clone();
    if !args.contexts.is_empty() {
        if sel.selector.is_some() || sel.all {
            return Err(CliError::usage(
                "name the contexts to compare either as arguments or with -l/-A, not both",
            ));
        }
        let mut named = args.contexts.clone();
        named.append(&mut sel.contexts);
        sel.contexts = named;
    }
    let set = select(config, &sel)?;
    let names = set.typed_order.clone();
    if names.len() < 2 {
        return Err(CliError::usage(format!(
            "compare needs at least two contexts; {} selected ({})",
            names.len(),
            names.join(", ")
        ))
        .with_hint({
            // An example from the user's own file.
            let mut ex: Vec<&str> = names.iter().map(String::as_str).collect();
            for c in &config.contexts {
                if ex.len() < 2 && !ex.contains(&c.name.as_str()) {
                    ex.push(&c.name);
                }
            }
            let ex = if ex.len() == 2 {
                ex.join(" ")
            } else {
                "BASELINE OTHER".to_string()
            };
            format!(
                "name them, the baseline first: qctl compare {ex} (or select several with --context 'GLOB', -l or -A)"
            )
        }));
    }
    Ok(names)
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &CompareArgs) -> Result<ExitCode> {
    let names = targets(config, settings, args)?;
    let threshold = args
        .threshold
        .or(config.preferences.compare_threshold)
        .unwrap_or(DEFAULT_THRESHOLD);
    let results = probe_all(
        config,
        settings,
        &names,
        ProbeReader {
            sample: args.sample,
            config: true,
            ..Default::default()
        },
    );
    let mut outcome = Outcome::default();
    let mut probes: Vec<Probe> = Vec::new();
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(p) => {
                for n in &p.notes {
                    settings.printer.note(&format!("note: {n}"));
                }
                outcome.succeeded += 1;
                probes.push(p);
            }
            Err(e) => {
                outcome.failed += 1;
                errors.push(e);
            }
        }
    }
    if let Some(first) = probes.first()
        && first.context != names[0]
    {
        settings.printer.warn(&format!(
            "the baseline `{}` did not answer; comparing against `{}`",
            names[0], first.context
        ));
    }
    // Figures one kind has and another has not: compared where they exist,
    // and said once per context why they are left out there.
    for p in &probes {
        for (figure, why) in &p.figures.absent {
            if probes.iter().any(|o| o.figures.get(figure).is_some()) {
                settings.printer.note(&format!(
                    "note: {figure} is not compared for {} ({why})",
                    p.context
                ));
            }
        }
    }
    let (metrics, anomalies, drift) = compare(&probes, threshold);
    let checks = args.exit_code || args.fail_on_anomaly;
    outcome.check_failed =
        checks && (!drift.is_empty() || (args.fail_on_anomaly && !anomalies.is_empty()));
    let doc = Comparison {
        api_version: "qctl/v1",
        kind: "Comparison",
        baseline: probes.first().map(|p| p.context.clone()),
        contexts: probes.iter().map(|p| p.context.clone()).collect(),
        threshold_percent: threshold,
        sample_s: probes
            .iter()
            .filter_map(|p| p.rates.map(|r| r.interval_s))
            .next(),
        metrics,
        anomalies,
        drift,
        servers: probes.iter().map(facts).collect(),
        errors,
    };
    let p = &settings.printer;
    match p.format {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns => {
            p.document(&doc)?
        }
        OutputFormat::Name => {
            // The contexts that stand out, for xargs.
            let mut out: Vec<String> = Vec::new();
            let flagged = doc
                .drift
                .iter()
                .flat_map(|d| d.differs.iter())
                .chain(doc.anomalies.iter().map(|a| &a.context));
            for c in flagged {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
            let order: Vec<&String> = doc.contexts.iter().filter(|c| out.contains(c)).collect();
            p.names(order.into_iter().cloned())?;
            report(&doc.errors);
        }
        OutputFormat::Table | OutputFormat::Wide => {
            p.stdout(&table(settings, &doc, p.format == OutputFormat::Wide))?;
            report(&doc.errors);
        }
    }
    Ok(outcome.exit_code())
}

fn report(errors: &[ContextError]) {
    for e in errors {
        eprintln!("{}", e.line());
    }
}

fn number(v: f64, rate_row: bool) -> String {
    if rate_row {
        rate(Some(v), false)
    } else if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn label(m: &Metric) -> String {
    label_of(&m.metric)
}

fn label_of(metric: &str) -> String {
    match metric {
        "queued" => "queued (all)".into(),
        "dead_letter" => "dead-letter".into(),
        "workers.active" => "active".into(),
        "workers.orphaned" => "orphaned".into(),
        "completed_per_s" => "completed/s".into(),
        "dead_lettered_per_s" => "dead-lettered/s".into(),
        "queued_change_per_s" => "queued change/s".into(),
        other => match other.strip_prefix("queued.") {
            Some(q) => format!("queued {q}"),
            None => other.to_string(),
        },
    }
}

/// The row of the configured maxmemory: CONFIG GET on one node.
const MAXMEMORY_PER_NODE: &str = "maxmemory (per node)";
/// `-o wide`'s rows from INFO, summed as `get clusters` sums them.
const MAXMEMORY_SUMMED: &str = "maxmemory (summed over primaries)";
const MEMORY_SUMMED: &str = "memory (summed over primaries)";

/// A server fact as the table prints it, in the table and in drift lines
/// alike: maxmemory as a size (`64.0MiB`, `unlimited`), an empty value
/// as `""`.
fn shown(field: &str, v: &str) -> String {
    if v.is_empty() {
        return "\"\"".into();
    }
    match (field, v.parse::<u64>()) {
        ("maxmemory", Ok(n)) => crate::output::maxmemory(Some(n)),
        _ => v.to_string(),
    }
}

/// The side-by-side table, then anomalies and drift as sentences.
fn table(settings: &Settings, doc: &Comparison, wide: bool) -> String {
    let mut headers: Vec<String> = vec!["FIGURE".into()];
    for (i, c) in doc.contexts.iter().enumerate() {
        headers.push(if i == 0 {
            format!("{c} (baseline)")
        } else {
            c.clone()
        });
    }
    let n = doc.contexts.len();
    let mut rows: Vec<Vec<Styled>> = Vec::new();
    let mut group = "";
    for m in &doc.metrics {
        if m.group != group {
            group = m.group;
            let title = match group {
                "jobs" => "JOBS".to_string(),
                "workers" => "WORKERS".to_string(),
                _ => format!(
                    "RATES ({} sample)",
                    doc.sample_s.map(|s| format!("{s:.1}s")).unwrap_or_default()
                ),
            };
            let mut r = vec![Styled::plain(title)];
            r.extend((0..n).map(|_| Styled::plain("")));
            rows.push(r);
        }
        let rate_row = m.group == "rates";
        let mut r = vec![Styled::plain(format!("  {}", label(m)))];
        for c in &m.values {
            let text = match (c.value, c.delta) {
                (None, _) => "-".to_string(),
                (Some(v), None) => number(v, rate_row),
                (Some(v), Some(d)) => {
                    let pct = match c.delta_percent {
                        Some(p) => format!(", {p:+.1}%"),
                        None => String::new(),
                    };
                    let d = if rate_row {
                        format!("{d:+.1}")
                    } else {
                        format!("{}{}", if d >= 0.0 { "+" } else { "" }, number(d, false))
                    };
                    format!("{} ({d}{pct})", number(v, rate_row))
                }
            };
            r.push(Styled::colored(
                text,
                c.beyond_threshold.then_some("yellow"),
            ));
        }
        rows.push(r);
    }
    // Server facts, drift in red.
    let drifted = |field: &str, ctx: &str| {
        doc.drift
            .iter()
            .any(|d| d.field == field && d.differs.iter().any(|c| c == ctx))
    };
    let mut r = vec![Styled::plain("SERVER")];
    r.extend((0..n).map(|_| Styled::plain("")));
    rows.push(r);
    type Fact = fn(&ServerFacts) -> Option<String>;
    let mut server_rows: Vec<(&str, &'static str, Fact)> = vec![
        ("version", "redis_version", |s| s.redis_version.clone()),
        ("mode", "", |s| {
            Some(match s.mode {
                Mode::Standalone => "standalone".into(),
                Mode::Cluster => "cluster".into(),
            })
        }),
        (MAXMEMORY_PER_NODE, "maxmemory", |s| {
            s.maxmemory.as_deref().map(|m| shown("maxmemory", m))
        }),
        ("maxmemory-policy", "maxmemory-policy", |s| {
            s.maxmemory_policy.clone()
        }),
        ("appendonly", "appendonly", |s| s.appendonly.clone()),
        ("save", "save", |s| s.save.clone()),
        ("schema", "queue-schema", |s| Some(s.schema.clone())),
    ];
    if wide {
        server_rows.extend([
            ("system", "", (|s| Some(s.system.to_string())) as Fact),
            (MAXMEMORY_SUMMED, "", |s| {
                s.maxmemory_bytes.map(|m| crate::output::maxmemory(Some(m)))
            }),
            (MEMORY_SUMMED, "", |s| {
                s.used_memory_bytes.map(|m| crate::output::bytes(Some(m)))
            }),
            ("endpoint", "", |s| Some(s.endpoint.clone())),
        ]);
    }
    for (name, field, pick) in server_rows {
        let mut r = vec![Styled::plain(format!("  {name}"))];
        for s in &doc.servers {
            let v = pick(s).unwrap_or_else(|| crate::output::ABSENT.into());
            let v = if v.is_empty() { "\"\"".into() } else { v };
            if drifted(field, &s.context) {
                r.push(Styled::colored(format!("{v} (drift)"), Some("red")));
            } else {
                r.push(Styled::plain(v));
            }
        }
        rows.push(r);
    }
    let header_refs: Vec<&str> = headers.iter().map(String::as_str).collect();
    let mut text = settings.printer.render_table(&header_refs, rows);
    text.push('\n');
    if doc.anomalies.is_empty() {
        text.push_str(&format!(
            "Anomalies: none (no figure deviates from the mean of the others by more than {}%)\n",
            doc.threshold_percent
        ));
    } else {
        text.push_str(&format!(
            "Anomalies (beyond {}% of the mean of the others):\n",
            doc.threshold_percent
        ));
        // One line per context; with two contexts the baseline's line is
        // the mirror image of the other's and is left out (the JSON lists
        // both).
        let skip = if doc.contexts.len() == 2 { 1 } else { 0 };
        for ctx in doc.contexts.iter().skip(skip) {
            let mine: Vec<String> = doc
                .anomalies
                .iter()
                .filter(|a| &a.context == ctx)
                .map(|a| {
                    let dev = match a.deviation_percent {
                        Some(p) => format!("{p:+.1}%"),
                        None => "others 0".into(),
                    };
                    format!("{} {} ({dev})", label_of(&a.metric), number(a.value, false))
                })
                .collect();
            if !mine.is_empty() {
                text.push_str(&format!("  {ctx}: {}\n", mine.join(", ")));
            }
        }
    }
    if doc.drift.is_empty() {
        text.push_str("Drift: none\n");
    } else {
        text.push_str("Drift:\n");
        for d in &doc.drift {
            for c in &d.differs {
                let v = d.values.get(c).cloned().flatten().unwrap_or_default();
                let base = d.baseline.clone().unwrap_or_default();
                let field = if d.field == "maxmemory" {
                    MAXMEMORY_PER_NODE
                } else {
                    d.field
                };
                text.push_str(&format!(
                    "  {field}: {c} has {}, the baseline {}\n",
                    shown(d.field, &v),
                    shown(d.field, &base)
                ));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(v: &[Option<f64>]) -> Vec<(String, Option<f64>)> {
        v.iter()
            .enumerate()
            .map(|(i, x)| (format!("c{i}"), *x))
            .collect()
    }

    #[test]
    fn deltas_against_the_baseline() {
        let m = metric(
            "jobs",
            "queued".into(),
            vals(&[Some(100.0), Some(125.0), Some(0.0), None]),
            10.0,
        );
        assert_eq!(m.values[0].delta, None);
        assert_eq!(m.values[1].delta, Some(25.0));
        assert_eq!(m.values[1].delta_percent, Some(25.0));
        assert!(m.values[1].beyond_threshold);
        assert_eq!(m.values[2].delta_percent, Some(-100.0));
        assert_eq!(m.values[3].delta, None);
        let zero = metric(
            "jobs",
            "dlq".into(),
            vals(&[Some(0.0), Some(3.0), Some(0.0)]),
            10.0,
        );
        assert_eq!(zero.values[1].delta, Some(3.0));
        assert_eq!(zero.values[1].delta_percent, None);
        assert!(zero.values[1].beyond_threshold);
        assert!(!zero.values[2].beyond_threshold);
        let small = metric("jobs", "q".into(), vals(&[Some(100.0), Some(105.0)]), 10.0);
        assert!(!small.values[1].beyond_threshold);
    }

    #[test]
    fn anomalies_against_the_mean_of_the_others() {
        let m = metric(
            "jobs",
            "q".into(),
            vals(&[Some(100.0), Some(100.0), Some(100.0), Some(200.0)]),
            10.0,
        );
        let a = anomalies(&m, 10.0);
        // c3 is 100% above the others' mean; each 100 is 25% below the
        // mean of the other three (133.3).
        assert_eq!(
            a.iter()
                .find(|a| a.context == "c3")
                .unwrap()
                .deviation_percent,
            Some(100.0)
        );
        assert_eq!(a.len(), 4);
        let same = metric(
            "jobs",
            "q".into(),
            vals(&[Some(50.0), Some(52.0), Some(49.0)]),
            10.0,
        );
        assert!(anomalies(&same, 10.0).is_empty());
        let zeros = metric(
            "jobs",
            "q".into(),
            vals(&[Some(0.0), Some(0.0), Some(4.0)]),
            10.0,
        );
        let a = anomalies(&zeros, 10.0);
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].deviation_percent, None);
    }

    #[test]
    fn drift_values_print_as_the_table_does() {
        assert_eq!(shown("maxmemory", "67108864"), "64.0MiB");
        assert_eq!(shown("maxmemory", "0"), "unlimited");
        assert_eq!(shown("save", ""), "\"\"");
        assert_eq!(shown("save", "3600 1"), "3600 1");
    }

    #[test]
    fn version_drift_is_major_minor() {
        let v = |a: &str, b: &str| {
            vec![
                ("a".to_string(), Some(a.to_string())),
                ("b".to_string(), Some(b.to_string())),
            ]
        };
        assert!(drift("redis_version", v("7.0.15", "7.0.11"), major_minor).is_none());
        let d = drift("redis_version", v("7.0.15", "7.2.4"), major_minor).unwrap();
        assert_eq!(d.differs, vec!["b".to_string()]);
        assert!(
            drift(
                "save",
                vec![("a".into(), Some("".into())), ("b".into(), None)],
                str::to_string
            )
            .is_none()
        );
    }
}
