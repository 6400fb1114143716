//! `qctl bench --count N --rate R [--queue Q] [--payload-size B]`: a write
//! verb on the gate. On each target it enqueues N synthetic jobs at R per
//! second, in the queue system's format and marked so nobody mistakes them
//! for real work (`"id":"qctl-bench-<run>-<n>"`, `"bench":true`, a
//! filepath under `/dev/null/qctl-bench/`), then watches the `completed`
//! (and dead-letter) list for those ids until all are seen or
//! `--wait-timeout` passes. It reports throughput (jobs completed per
//! second, from the first enqueue to the last completion) and p50/p95
//! latency (enqueue to first seen in `completed`, to within the 50 ms poll).
//! It never clears or trims `completed`: it reads only what was pushed
//! there since it started (the head of the list, down to the entry that
//! was newest when it started; a retention job trimming the tail
//! meanwhile can hide a completion, which then counts as not seen).

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::BenchArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);
/// Jobs per LPUSH at most.
const BATCH: u64 = 500;

pub struct Bench {
    count: u64,
    rate: f64,
    queue: String,
    payload_size: usize,
    wait: Duration,
}

pub struct BenchPlan {
    key: String,
    completed: String,
    dead: String,
    waiting: u64,
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

/// A bench job: the system's fields, marked, padded to about `size` bytes.
fn payload(run: &str, n: u64, priority: &str, size: usize) -> String {
    let head = format!(
        r#"{{"id":"qctl-bench-{run}-{n}","filepath":"/dev/null/qctl-bench/{run}/{n}","filesize":0,"priority":"{priority}","retries":0,"creation_time":"{}","trace_id":"","span_id":"","bench":true,"pad":""#,
        jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
    );
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// Watches the head of a list for new entries since `len` (LPUSHed by
/// workers): the ids of our jobs among them.
struct Tail {
    key: String,
    len: u64,
}

impl Tail {
    async fn start(conn: &Conn, key: &str) -> redis::RedisResult<Tail> {
        let len: u64 = conn.query(redis::cmd("LLEN").arg(key)).await?;
        Ok(Tail {
            key: key.to_string(),
            len,
        })
    }

    /// New entries since the last call, in one command: everything from
    /// the head down to the newest entry already seen (counted from the
    /// tail, which pushes at the head do not move).
    async fn poll(&mut self, conn: &Conn) -> redis::RedisResult<Vec<Vec<u8>>> {
        let fresh: Vec<Vec<u8>> = conn
            .query(
                redis::cmd("LRANGE")
                    .arg(&self.key)
                    .arg(0)
                    .arg(-(self.len as i64) - 1),
            )
            .await?;
        self.len += fresh.len() as u64;
        Ok(fresh)
    }
}

impl Action for Bench {
    const NAME: &'static str = "bench";
    const COUNTS: &'static [&'static str] = &["enqueued", "completed", "dead_lettered"];
    const PROGRESS: bool = true;
    type Plan = BenchPlan;

    fn extra_fields(&self) -> &'static [&'static str] {
        &["throughput_per_s", "p50_ms", "p95_ms"]
    }

    fn headline(&self) -> String {
        format!(
            "bench: {} synthetic jobs into {} at {}/s, then up to {} for them in completed",
            self.count,
            self.queue,
            self.rate,
            crate::output::duration(self.wait)
        )
    }

    fn notes(&self) -> Vec<String> {
        vec![
            "bench jobs are marked (id qctl-bench-..., \"bench\":true, filepath under /dev/null/qctl-bench/); workers run them like any job; completed is never cleared".into(),
        ]
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<BenchPlan, ContextError> {
        let q = t
            .system
            .queue_named(&self.queue)
            .ok_or_else(|| ContextError {
                context: t.context().to_string(),
                kind: ErrorKind::Config,
                message: format!(
                    "its schema ({}) has no queue {}; its work queues: {}",
                    t.schema,
                    self.queue,
                    t.system
                        .work_queues()
                        .iter()
                        .map(|q| q.name.clone())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let completed = t
            .system
            .queue_named("completed")
            .map(|q| q.key)
            .unwrap_or_default();
        let dead = t.system.dead_letter().key;
        let waiting = super::list_length(conn, &q.key).await?;
        super::list_length(conn, &completed).await?;
        Ok(BenchPlan {
            key: q.key,
            completed,
            dead,
            waiting,
        })
    }

    fn view(&self, p: &BenchPlan) -> PlanView {
        PlanView {
            count: self.count,
            detail: format!(
                "LPUSH {} bench jobs to {} ({} waiting there now), watch {}",
                self.count, p.key, p.waiting, p.completed
            ),
            ..PlanView::default()
        }
    }

    fn dry_counts(&self, _p: &BenchPlan) -> Vec<(&'static str, u64)> {
        vec![("enqueued", self.count)]
    }

    async fn apply(&self, conn: &Conn, t: &ReadTarget, p: &BenchPlan, step: Step) -> Applied {
        let run = crate::systems::requeue::batch_id();
        let priority = if self.queue == "low" { "low" } else { "high" };
        let before = json!({"queue": p.key, "waiting": p.waiting, "run": run});
        let fail = |msg: String, a: &mut Applied| {
            a.error = Some(ContextError {
                context: t.context().to_string(),
                kind: ErrorKind::Redis,
                message: msg,
            });
        };
        let mut a = Applied {
            before,
            ..Applied::default()
        };
        let (mut done, mut dead) = match (
            Tail::start(conn, &p.completed).await,
            Tail::start(conn, &p.dead).await,
        ) {
            (Ok(d), Ok(x)) => (d, x),
            (Err(e), _) | (_, Err(e)) => {
                fail(conn.error(&e).message, &mut a);
                return a;
            }
        };
        let prefix = format!("qctl-bench-{run}-");
        let mut sent: HashMap<String, Instant> = HashMap::new();
        let mut latencies: Vec<f64> = Vec::new();
        let (mut enqueued, mut completed, mut dead_lettered) = (0u64, 0u64, 0u64);
        let started = Instant::now();
        let mut last_done = started;
        let mut deadline: Option<Instant> = None;
        let mut interrupted = false;
        loop {
            // Enqueue what the rate allows by now.
            if enqueued < self.count {
                // Clamped before the cast: a huge --rate means "all now".
                let due = ((started.elapsed().as_secs_f64() * self.rate).floor())
                    .min(self.count as f64) as u64;
                let due = due.saturating_add(1).min(self.count);
                while enqueued < due && !step.interrupted() {
                    let n = (due - enqueued).min(BATCH);
                    let mut cmd = redis::cmd("LPUSH");
                    cmd.arg(&p.key);
                    let at = Instant::now();
                    for i in enqueued..enqueued + n {
                        cmd.arg(payload(&run, i, priority, self.payload_size));
                        sent.insert(format!("{prefix}{i}"), at);
                    }
                    if let Err(e) = conn.query::<u64>(&cmd).await {
                        fail(
                            format!(
                                "{} (after enqueueing {enqueued} bench jobs)",
                                conn.error(&e).message
                            ),
                            &mut a,
                        );
                        break;
                    }
                    enqueued += n;
                }
                if a.error.is_some() {
                    break;
                }
                if enqueued == self.count && deadline.is_none() {
                    deadline = Some(Instant::now() + self.wait);
                }
            }
            // What workers finished (or dead-lettered) since.
            for (tail, is_dead) in [(&mut done, false), (&mut dead, true)] {
                match tail.poll(conn).await {
                    Ok(entries) => {
                        let now = Instant::now();
                        for e in entries {
                            let Some(id) = crate::systems::gowork::job_id_ref(&e) else {
                                continue;
                            };
                            if !id.starts_with(&prefix) {
                                continue;
                            }
                            if let Some(at) = sent.remove(id.as_ref()) {
                                if is_dead {
                                    dead_lettered += 1;
                                } else {
                                    completed += 1;
                                    latencies.push(now.duration_since(at).as_secs_f64() * 1000.0);
                                    last_done = now;
                                }
                                step.progress.inc(1);
                            }
                        }
                    }
                    Err(e) => {
                        fail(conn.error(&e).message, &mut a);
                    }
                }
            }
            if a.error.is_some() {
                break;
            }
            if completed + dead_lettered == self.count {
                break;
            }
            if step.interrupted() {
                interrupted = true;
                break;
            }
            if let Some(d) = deadline
                && Instant::now() >= d
            {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        latencies.sort_by(f64::total_cmp);
        let secs = last_done.duration_since(started).as_secs_f64();
        let throughput = if completed > 0 && secs > 0.0 {
            Some(completed as f64 / secs)
        } else {
            None
        };
        let round = |v: Option<f64>| v.map(|v| (v * 10.0).round() / 10.0);
        a.counts = vec![
            ("enqueued", enqueued),
            ("completed", completed),
            ("dead_lettered", dead_lettered),
        ];
        a.extra
            .insert("throughput_per_s".into(), json!(round(throughput)));
        a.extra
            .insert("p50_ms".into(), json!(round(percentile(&latencies, 50.0))));
        a.extra
            .insert("p95_ms".into(), json!(round(percentile(&latencies, 95.0))));
        a.after = json!({
            "enqueued": enqueued, "completed": completed, "dead_lettered": dead_lettered,
            "throughput_per_s": round(throughput),
        });
        let missing = enqueued - completed - dead_lettered;
        if a.error.is_none() && interrupted {
            fail(
                format!("interrupted (Ctrl-C) with {missing} bench jobs not seen in completed yet"),
                &mut a,
            );
            if let Some(e) = &mut a.error {
                e.kind = ErrorKind::RefusedByUser;
            }
        } else if a.error.is_none() && missing > 0 {
            fail(
                format!(
                    "{missing} of {enqueued} bench jobs not seen in {} within {} (are workers consuming {}?); they stay queued, marked \"bench\":true",
                    p.completed,
                    crate::output::duration(self.wait),
                    p.key
                ),
                &mut a,
            );
        }
        a
    }
}

pub fn run(config: &Config, settings: &Settings, args: &BenchArgs) -> Result<ExitCode> {
    super::run(
        config,
        settings,
        &args.write,
        Bench {
            count: args.count,
            rate: args.rate,
            queue: args.queue.clone(),
            payload_size: args.payload_size,
            wait: args.wait_timeout,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_marked_and_sized() {
        let p = payload("r1", 7, "high", 300);
        let v: serde_json::Value = serde_json::from_str(&p).unwrap();
        assert_eq!(v["id"], "qctl-bench-r1-7");
        assert_eq!(v["bench"], true);
        assert!(
            v["filepath"]
                .as_str()
                .unwrap()
                .starts_with("/dev/null/qctl-bench/")
        );
        assert_eq!(p.len(), 300);
        assert!(payload("r1", 7, "high", 10).len() > 10, "never truncated");
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(51.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
