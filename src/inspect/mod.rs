//! The read side: per-context probes turned into view models.
//!
//! A probe connects, measures a PING, reads the queue system's figures and
//! the server's INFO (on every primary of a cluster), and never writes. A
//! user whose ACL forbids INFO still gets every figure it can read; the rest
//! come back `None` with a note.

pub(crate) mod backups;
pub(crate) mod clusters;
pub(crate) mod compare;
pub(crate) mod describe;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod list;
pub(crate) mod queues;
pub(crate) mod read;
pub(crate) mod workers;

use crate::connect::Conn;
use crate::contexts::{Config, HealthThresholds, Mode};
use crate::error::ContextError;
use crate::settings::Settings;
use crate::systems::Figures;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Server facts from INFO; `None` where the user may not read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServerInfo {
    pub(crate) redis_version: Option<String>,
    pub(crate) uptime_s: Option<u64>,
    pub(crate) used_memory: Option<u64>,
    pub(crate) maxmemory: Option<u64>,
    pub(crate) maxmemory_policy: Option<String>,
}

/// What one context looked like.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub(crate) context: String,
    pub(crate) mode: Mode,
    pub(crate) endpoint: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) color: Option<String>,
    pub(crate) latency: Duration,
    pub(crate) info: ServerInfo,
    /// CONFIG values (only when asked for, and permitted).
    pub(crate) server_config: Option<ServerConfig>,
    /// The queue schema's name and queues.
    pub(crate) schema: String,
    /// The queue system (the schema's `kind`).
    pub(crate) system: &'static str,
    pub(crate) queue_schema: Vec<crate::systems::QueueRef>,
    pub(crate) worker_patterns: String,
    pub(crate) figures: Figures,
    /// `--sample` rates.
    pub(crate) rates: Option<Rates>,
    /// Orphaned jobs still orphaned at a second reading (health only).
    pub(crate) confirmed_orphaned_jobs: Option<u64>,
    /// Things the user should know (fields that could not be read).
    pub(crate) notes: Vec<String>,
}

/// Parses INFO text into field -> value.
pub(crate) fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// INFO's text, decoded lossily: one byte that is not UTF-8 (a config file
/// path, say) must not make a healthy server unreadable.
pub(crate) async fn info_text(
    conn: &Conn,
    node: &crate::connect::Node,
    sections: &[&str],
) -> Result<String, redis::RedisError> {
    let mut cmd = redis::cmd("INFO");
    for s in sections {
        cmd.arg(*s);
    }
    let bytes: Vec<u8> = conn.query_node(node, &cmd).await?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// INFO on every primary, merged: memory summed, version and policy from
/// the first primary, uptime the smallest. A field that is missing or does
/// not read (not a number, or bytes that are not UTF-8) is `None`, and its
/// name is in the returned list, for a note.
async fn server_info(conn: &Conn) -> Result<(ServerInfo, Vec<&'static str>), redis::RedisError> {
    let mut merged = ServerInfo::default();
    let mut unreadable: Vec<&'static str> = Vec::new();
    // Every primary at once: one round trip, however many there are.
    let nodes = conn.nodes();
    let texts = futures_util::future::try_join_all(
        nodes
            .iter()
            .map(|node| info_text(conn, node, &["server", "memory"])),
    )
    .await?;
    for (i, text) in texts.into_iter().enumerate() {
        let f = parse_info(&text);
        let mut text_of = |k: &'static str| info_field(&f, k, false, &mut unreadable);
        let (version, policy) = (text_of("redis_version"), text_of("maxmemory_policy"));
        let mut num = |k: &'static str| {
            info_field(&f, k, true, &mut unreadable).and_then(|v| v.parse::<u64>().ok())
        };
        let (uptime, used, max) = (
            num("uptime_in_seconds"),
            num("used_memory"),
            num("maxmemory"),
        );
        if i == 0 {
            merged.redis_version = version;
            merged.maxmemory_policy = policy;
            merged.uptime_s = uptime;
            merged.used_memory = used;
            merged.maxmemory = max;
        } else {
            merged.uptime_s = merged.uptime_s.min(uptime);
            merged.used_memory = merged.used_memory.zip(used).map(|(a, b)| a + b);
            merged.maxmemory = merged.maxmemory.zip(max).map(|(a, b)| a + b);
        }
    }
    Ok((merged, unreadable))
}

/// One INFO field, `None` (and named in `unreadable`) when it is missing,
/// held bytes that were not UTF-8, or is not a whole number when `number`.
fn info_field(
    f: &BTreeMap<String, String>,
    k: &'static str,
    number: bool,
    unreadable: &mut Vec<&'static str>,
) -> Option<String> {
    let v = f
        .get(k)
        .filter(|v| !v.contains('\u{FFFD}'))
        .filter(|v| !number || v.parse::<u64>().is_ok())
        .cloned();
    if v.is_none() && !unreadable.contains(&k) {
        unreadable.push(k);
    }
    v
}

fn is_noperm(e: &redis::RedisError) -> bool {
    e.code() == Some("NOPERM") || e.to_string().contains("NOPERM")
}

/// Rates measured by `--sample`: two readings of the queue lengths.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub(crate) struct Rates {
    /// Seconds between the two readings, as measured.
    pub(crate) interval_s: f64,
    /// Jobs that reached `completed` per second; `null` when the list
    /// shrank (trimmed or purged between the readings).
    pub(crate) completed_per_s: Option<f64>,
    /// Jobs that reached the dead-letter queue per second; `null` when it
    /// shrank (purged or requeued between the readings).
    pub(crate) dead_lettered_per_s: Option<f64>,
    /// Change of `queued` per second (negative: draining).
    pub(crate) queued_change_per_s: f64,
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Rates between two readings of the queue lengths `dt` apart.
pub(crate) fn rates(
    before: &[(crate::systems::QueueRef, u64)],
    after: &[(crate::systems::QueueRef, u64)],
    dt: Duration,
) -> Rates {
    use crate::systems::QueueRole;
    let sum = |r: &[(crate::systems::QueueRef, u64)], role: QueueRole| -> i64 {
        r.iter()
            .filter(|(q, _)| q.role == role)
            .map(|(_, n)| *n as i64)
            .sum()
    };
    let secs = dt.as_secs_f64().max(1e-9);
    let per_s = |role| (sum(after, role) - sum(before, role)) as f64 / secs;
    let growth = |role| {
        let v = per_s(role);
        (v >= 0.0).then(|| round3(v))
    };
    Rates {
        interval_s: round3(dt.as_secs_f64()),
        completed_per_s: growth(QueueRole::Completed),
        dead_lettered_per_s: growth(QueueRole::DeadLetter),
        queued_change_per_s: round3(per_s(QueueRole::Work)),
    }
}

/// Reads what `get clusters`, `health` and `compare` show of a context.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProbeReader {
    /// Read orphans again after a short pause (a worker between
    /// BRPOPLPUSH and its heartbeat SET reads as orphaned for an instant).
    pub(crate) second_reading: bool,
    /// Read the queue lengths twice, this far apart, for [`Rates`].
    pub(crate) sample: Option<Duration>,
    /// Also read the CONFIG values `compare` checks for drift.
    pub(crate) config: bool,
}

impl read::Reader for ProbeReader {
    type Out = Probe;
    async fn read(&self, conn: &Conn, t: &read::ReadTarget) -> Result<Probe, ContextError> {
        // One round trip for everything that needs no discovery: PING (the
        // latency), the system's first reads, INFO on every primary and
        // CONFIG GET are sent together on the multiplexed connection, and
        // the system's later reads follow only what those found.
        let ping = async {
            let start = Instant::now();
            let r: redis::RedisResult<String> = conn.query(&redis::cmd("PING")).await;
            r.map(|_| start.elapsed())
        };
        let config = async {
            if self.config {
                Some(server_config(conn).await)
            } else {
                None
            }
        };
        let (ping, figures, info, config) =
            tokio::join!(ping, t.system.figures(conn), server_info(conn), config);
        let latency = ping.map_err(|e| conn.error(&e))?;
        let mut notes = Vec::new();
        let figures = figures.map_err(|e| conn.error(&e))?;
        let info = match info {
            Ok((i, unreadable)) => {
                if !unreadable.is_empty() {
                    notes.push(format!(
                        "{}: INFO did not give a readable {} (missing, or not UTF-8): null",
                        t.context(),
                        unreadable.join(", ")
                    ));
                }
                i
            }
            Err(e) if is_noperm(&e) => {
                notes.push(format!(
                    "{}: INFO is not permitted for this user (it needs +info, in @dangerous): version, memory and uptime are null",
                    t.context()
                ));
                ServerInfo::default()
            }
            Err(e) => return Err(conn.error(&e)),
        };
        let server_config = match config {
            None => None,
            Some(r) => match r {
                Ok(c) => Some(c),
                Err(e) if is_noperm(&e) => {
                    notes.push(format!(
                        "{}: CONFIG GET is not permitted for this user (it needs +config|get, in @admin): configuration drift is not checked",
                        t.context()
                    ));
                    None
                }
                Err(e) => return Err(conn.error(&e)),
            },
        };
        let mut confirmed = None;
        if self.second_reading {
            if figures.orphans.is_empty() {
                confirmed = Some(0);
            } else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let still = t
                    .system
                    .recheck_orphans(conn, &figures.orphans)
                    .await
                    .map_err(|e| conn.error(&e))?;
                confirmed = Some(still.iter().map(|o| o.jobs).sum());
            }
        }
        let mut measured = None;
        if let Some(pause) = self.sample {
            let first_at = Instant::now();
            let first = t
                .system
                .queue_lengths(conn)
                .await
                .map_err(|e| conn.error(&e))?;
            tokio::time::sleep_until((first_at + pause).into()).await;
            let second_at = Instant::now();
            let second = t
                .system
                .queue_lengths(conn)
                .await
                .map_err(|e| conn.error(&e))?;
            let r = rates(&first, &second, second_at - first_at);
            if r.completed_per_s.is_none() {
                notes.push(format!(
                    "{}: the completed list shrank during the sample (trimmed or purged): completed/s is null",
                    t.context()
                ));
            }
            if r.dead_lettered_per_s.is_none() {
                notes.push(format!(
                    "{}: the dead-letter queue shrank during the sample (purged or requeued): dead-lettered/s is null",
                    t.context()
                ));
            }
            measured = Some(r);
        }
        Ok(Probe {
            context: t.context().to_string(),
            mode: t.mode(),
            endpoint: t.ep.display_url(),
            schema: t.schema.clone(),
            system: t.system.kind(),
            queue_schema: t.system.queues(),
            worker_patterns: t.system.worker_patterns(),
            labels: t.labels.clone(),
            color: t.color.clone(),
            latency,
            info,
            server_config,
            figures,
            confirmed_orphaned_jobs: confirmed,
            rates: measured,
            notes,
        })
    }
}

/// The CONFIG values `compare` checks for drift, from the first primary
/// (`maxmemory` per node, as configured).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServerConfig {
    pub(crate) maxmemory: Option<String>,
    pub(crate) maxmemory_policy: Option<String>,
    pub(crate) appendonly: Option<String>,
    pub(crate) save: Option<String>,
}

async fn server_config(conn: &Conn) -> Result<ServerConfig, redis::RedisError> {
    let node = conn.nodes().remove(0);
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("GET")
        .arg("maxmemory*")
        .arg("appendonly")
        .arg("save");
    // Redis 7 takes several patterns; answers are name/value pairs.
    let pairs: BTreeMap<String, String> = match conn.query_node(&node, &cmd).await {
        Ok(p) => p,
        Err(e) if e.to_string().contains("wrong number of arguments") => {
            // Redis 6 takes one pattern per CONFIG GET.
            let mut all = BTreeMap::new();
            for p in ["maxmemory*", "appendonly", "save"] {
                let mut c = redis::cmd("CONFIG");
                c.arg("GET").arg(p);
                let part: BTreeMap<String, String> = conn.query_node(&node, &c).await?;
                all.extend(part);
            }
            all
        }
        Err(e) => return Err(e),
    };
    Ok(ServerConfig {
        maxmemory: pairs.get("maxmemory").cloned(),
        maxmemory_policy: pairs.get("maxmemory-policy").cloned(),
        appendonly: pairs.get("appendonly").cloned(),
        save: pairs.get("save").cloned(),
    })
}

/// Probes every selected context concurrently; one result per context, in
/// the order given.
pub(crate) fn probe_all(
    config: &Config,
    settings: &Settings,
    names: &[String],
    reader: ProbeReader,
) -> Vec<Result<Probe, ContextError>> {
    let targets = read::targets(config, settings, names);
    let extra = reader.sample.unwrap_or_default()
        + if reader.second_reading {
            Duration::from_millis(250)
        } else {
            Duration::ZERO
        };
    read::read_all(settings, names, targets, reader, extra)
}

/// The `--watch` schedule: `--interval`, else `preferences.watch`, else
/// 2s; jitter from `preferences.watch.jitter`, else a quarter of the
/// interval.
pub(crate) fn watch_schedule(
    config: &Config,
    args: &crate::cli::WatchArgs,
) -> Option<read::WatchSchedule> {
    if !args.watch {
        return None;
    }
    let interval = args
        .interval
        .or(config.preferences.watch_interval)
        .unwrap_or(Duration::from_secs(2));
    let jitter = config.preferences.watch_jitter.unwrap_or(interval / 4);
    Some(read::WatchSchedule { interval, jitter })
}

/// One health check's verdict.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Check {
    pub(crate) name: &'static str,
    pub(crate) ok: bool,
    pub(crate) message: String,
}

/// The checks of SPEC section 4 (`health`), from one probe.
pub(crate) fn checks(p: &Probe, t: &HealthThresholds) -> Vec<Check> {
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
    // Each check runs where its figure exists for this kind.
    if let Some(dead) = f.dead_letter {
        out.push(Check {
            name: "dead-letter",
            ok: dead <= t.max_dead_letter,
            message: format!("{dead} jobs (max {})", t.max_dead_letter),
        });
    }
    if let Some(orphaned) = p.confirmed_orphaned_jobs.or(f.orphaned_jobs) {
        // A kind that knows no owner of a job (BullMQ) says so.
        let whose = match f.orphaned_workers {
            Some(1) => "in 1 dead worker's list".to_string(),
            Some(workers) => format!("in {workers} dead workers' lists"),
            None => "without a live owner".to_string(),
        };
        out.push(Check {
            name: "orphaned-jobs",
            ok: orphaned <= t.max_orphaned_jobs,
            message: format!(
                "{} {whose} (max {})",
                crate::output::count(orphaned, "job"),
                t.max_orphaned_jobs
            ),
        });
    }
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
    if t.require_workers
        && let (Some(queued), Some(workers)) = (f.queued, f.workers)
    {
        out.push(Check {
            name: "workers",
            ok: !(queued > 0 && workers == 0),
            message: format!("{workers} active workers, {queued} jobs queued"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_that_do_not_read_are_none_and_named() {
        let text = String::from_utf8_lossy(
            b"# Server\r\nredis_version:7.\xff\r\nconfig_file:/x/\xff.conf\r\nuptime_in_seconds:12\r\nused_memory:abc\r\n",
        )
        .into_owned();
        let f = parse_info(&text);
        let mut bad = Vec::new();
        assert_eq!(info_field(&f, "redis_version", false, &mut bad), None);
        assert_eq!(
            info_field(&f, "uptime_in_seconds", true, &mut bad).as_deref(),
            Some("12")
        );
        assert_eq!(info_field(&f, "used_memory", true, &mut bad), None);
        assert_eq!(info_field(&f, "maxmemory", true, &mut bad), None);
        assert_eq!(bad, vec!["redis_version", "used_memory", "maxmemory"]);
    }
}
