//! The read side: per-context probes turned into view models.
//!
//! A probe connects, measures a PING, reads the queue system's figures and
//! the server's INFO (on every primary of a cluster), and never writes. A
//! user whose ACL forbids INFO still gets every figure it can read; the rest
//! come back `None` with a note.

pub mod clusters;
pub mod health;

use crate::connect::{Conn, Endpoint};
use crate::contexts::{Config, HealthThresholds, Mode};
use crate::error::ContextError;
use crate::fanout::fan_out;
use crate::settings::Settings;
use crate::systems::{Figures, System};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Server facts from INFO; `None` where the user may not read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerInfo {
    pub redis_version: Option<String>,
    pub uptime_s: Option<u64>,
    pub used_memory: Option<u64>,
    pub maxmemory: Option<u64>,
    pub maxmemory_policy: Option<String>,
}

/// What one context looked like.
#[derive(Debug, Clone)]
pub struct Probe {
    pub context: String,
    pub mode: Mode,
    pub endpoint: String,
    pub labels: BTreeMap<String, String>,
    pub color: Option<String>,
    pub latency: Duration,
    pub info: ServerInfo,
    pub figures: Figures,
    /// Orphaned jobs still orphaned at a second reading (health only).
    pub confirmed_orphaned_jobs: Option<u64>,
    /// Things the user should know (fields that could not be read).
    pub notes: Vec<String>,
}

/// Parses INFO text into field -> value.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// INFO on every primary, merged: memory summed, version and policy from
/// the first primary, uptime the smallest.
async fn server_info(conn: &mut Conn) -> Result<ServerInfo, redis::RedisError> {
    let mut merged = ServerInfo::default();
    for (i, node) in conn.nodes().iter().enumerate() {
        let mut cmd = redis::cmd("INFO");
        cmd.arg("server").arg("memory");
        let text: String = conn.query_node(node, &cmd).await?;
        let f = parse_info(&text);
        let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
        if i == 0 {
            merged.redis_version = f.get("redis_version").cloned();
            merged.maxmemory_policy = f.get("maxmemory_policy").cloned();
            merged.uptime_s = num("uptime_in_seconds");
            merged.used_memory = num("used_memory");
            merged.maxmemory = num("maxmemory");
        } else {
            merged.uptime_s = merged.uptime_s.min(num("uptime_in_seconds"));
            merged.used_memory = merged
                .used_memory
                .zip(num("used_memory"))
                .map(|(a, b)| a + b);
            merged.maxmemory = merged.maxmemory.zip(num("maxmemory")).map(|(a, b)| a + b);
        }
    }
    Ok(merged)
}

fn is_noperm(e: &redis::RedisError) -> bool {
    e.code() == Some("NOPERM") || e.to_string().contains("NOPERM")
}

/// Probes one context. `second_reading`: read orphans again after a short
/// pause (a worker between BRPOPLPUSH and its heartbeat SET reads as
/// orphaned for an instant).
pub async fn probe_one(
    ep: Endpoint,
    system: System,
    labels: BTreeMap<String, String>,
    color: Option<String>,
    settings: &ProbeSettings,
) -> Result<Probe, ContextError> {
    let mut conn = Conn::open(
        &ep,
        settings.connect_timeout,
        settings.timeout,
        settings.verbose,
    )
    .await?;
    let start = Instant::now();
    let _: String = conn
        .query(&redis::cmd("PING"))
        .await
        .map_err(|e| conn.error(&e))?;
    let latency = start.elapsed();
    let mut notes = Vec::new();
    let figures = system
        .figures(&mut conn)
        .await
        .map_err(|e| conn.error(&e))?;
    let info = match server_info(&mut conn).await {
        Ok(i) => i,
        Err(e) if is_noperm(&e) => {
            notes.push(format!(
                "{}: INFO is not permitted for this user (it needs +info, in @dangerous): version, memory and uptime are null",
                ep.context
            ));
            ServerInfo::default()
        }
        Err(e) => return Err(conn.error(&e)),
    };
    let mut confirmed = None;
    if settings.second_reading {
        if figures.orphans.is_empty() {
            confirmed = Some(0);
        } else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let still = system
                .recheck_orphans(&mut conn, &figures.orphans)
                .await
                .map_err(|e| conn.error(&e))?;
            confirmed = Some(still.iter().map(|o| o.jobs).sum());
        }
    }
    Ok(Probe {
        context: ep.context.clone(),
        mode: ep.mode,
        endpoint: ep.display_url(),
        labels,
        color,
        latency,
        info,
        figures,
        confirmed_orphaned_jobs: confirmed,
        notes,
    })
}

/// One context's probe, resolved before the fan-out starts.
#[derive(Debug, Clone)]
struct ProbeJob {
    ep: Endpoint,
    system: System,
    labels: BTreeMap<String, String>,
    color: Option<String>,
}

/// Settings a probe needs, owned so tasks can move them.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub verbose: bool,
    pub second_reading: bool,
}

/// Probes every selected context concurrently; one result per context, in
/// file order.
pub fn probe_all(
    config: &Config,
    settings: &Settings,
    names: &[String],
    second_reading: bool,
) -> Vec<Result<Probe, ContextError>> {
    let ps = ProbeSettings {
        connect_timeout: settings.connect_timeout,
        timeout: settings.timeout,
        verbose: settings.verbose > 0,
        second_reading,
    };
    let jobs: Vec<Result<ProbeJob, ContextError>> = names
        .iter()
        .map(|n| {
            let ctx = config
                .context(n)
                .expect("selection only yields known contexts");
            let schema = config.schema(&ctx.schema).expect("checked on load");
            Ok(ProbeJob {
                ep: Endpoint::resolve(config, ctx)?,
                system: System::for_schema(schema),
                labels: ctx.labels.clone(),
                color: ctx.color.clone(),
            })
        })
        .collect();
    for j in jobs.iter().flatten() {
        if j.ep.tls.insecure_skip_verify {
            settings.printer.warn(&format!(
                "context `{}`: insecure-skip-verify is set: the server's TLS certificate is not checked",
                j.ep.context
            ));
        }
    }
    let budget = settings.timeout;
    let max = settings.max_concurrency;
    crate::fanout::raise_fd_limit((names.len() as u64 * 8 + 64).max(1024));
    let rt = runtime();
    rt.block_on(async {
        fan_out(names, max, Some(budget), |i| {
            let job = jobs[i].clone();
            let ps = ps.clone();
            async move {
                let j = job?;
                probe_one(j.ep, j.system, j.labels, j.color, &ps).await
            }
        })
        .await
    })
}

/// The tokio runtime for network verbs.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// One health check's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub message: String,
}

/// The checks of SPEC section 4 (`health`), from one probe.
pub fn checks(p: &Probe, t: &HealthThresholds) -> Vec<Check> {
    let f = &p.figures;
    let mut out = Vec::new();
    let latency_ms = p.latency.as_secs_f64() * 1000.0;
    out.push(Check {
        name: "latency",
        ok: p.latency <= t.max_latency,
        message: format!(
            "{latency_ms:.1}ms (max {})",
            humantime::format_duration(t.max_latency)
        ),
    });
    out.push(Check {
        name: "dead-letter",
        ok: f.dead_letter <= t.max_dead_letter,
        message: format!("{} jobs (max {})", f.dead_letter, t.max_dead_letter),
    });
    let orphaned = p.confirmed_orphaned_jobs.unwrap_or(f.orphaned_jobs);
    out.push(Check {
        name: "orphaned-jobs",
        ok: orphaned <= t.max_orphaned_jobs,
        message: format!(
            "{orphaned} jobs in {} dead workers' lists (max {})",
            f.orphaned_workers, t.max_orphaned_jobs
        ),
    });
    match (p.info.used_memory, p.info.maxmemory) {
        (Some(used), Some(max)) if max > 0 => {
            let pct = used as f64 * 100.0 / max as f64;
            out.push(Check {
                name: "memory",
                ok: pct <= t.max_memory_percent,
                message: format!("{pct:.1}% of maxmemory (max {}%)", t.max_memory_percent),
            });
        }
        _ => {}
    }
    if t.require_workers {
        out.push(Check {
            name: "workers",
            ok: !(f.queued > 0 && f.workers == 0),
            message: format!("{} active workers, {} jobs queued", f.workers, f.queued),
        });
    }
    out
}
