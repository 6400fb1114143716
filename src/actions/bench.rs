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
//! was newest when it started). A retention job capping the list
//! meanwhile is fine; one that trims away entries before the next 50 ms
//! poll read them makes those count as not seen, and the error says so.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::BenchArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use serde_json::json;
use std::time::{Duration, Instant};

const POLL: Duration = Duration::from_millis(50);
/// Jobs per LPUSH (and per LREM pipeline when cleaning up) at most.
const BATCH: u64 = 500;
/// Bytes of payloads per LREM pipeline at most.
const CLEANUP_BYTES: usize = 8 << 20;

pub(crate) struct Bench {
    count: u64,
    rate: f64,
    queue: String,
    payload_size: usize,
    wait: Duration,
}

pub(crate) struct BenchPlan {
    key: String,
    completed: String,
    dead: String,
    waiting: u64,
    /// Live workers (`Figures.workers`); `Some(0)`: nobody would run them.
    workers: Option<u64>,
    /// Why permissions could not be checked ahead, when they could not.
    acl_unknown: Option<String>,
}

/// The jobs one run enqueued: enough to rebuild each one's bytes.
struct Sent {
    run: String,
    priority: &'static str,
    size: usize,
    /// (first job number, creation time) of each LPUSH batch, in order.
    batches: Vec<(u64, String)>,
}

impl Sent {
    /// Job `n`'s bytes, exactly as they were pushed.
    fn payload(&self, n: u64) -> Vec<u8> {
        let i = self.batches.partition_point(|(first, _)| *first <= n);
        let created = &self.batches[i.saturating_sub(1)].1;
        payload(&self.run, n, self.priority, self.size, created).into_bytes()
    }
}

/// Removes the jobs of `numbers` (newest first: LPUSH put them at the head,
/// where LREM's scan starts) from `key`, each by its exact bytes with
/// `LREM key 1 <payload>`; nothing else can match. A job a worker has taken
/// meanwhile is not in `key` and is left to finish. Returns how many were
/// removed.
async fn remove_unfinished(
    conn: &Conn,
    key: &str,
    sent: &Sent,
    numbers: &[u64],
) -> redis::RedisResult<u64> {
    let mut removed = 0u64;
    let mut rest = numbers;
    while !rest.is_empty() {
        let mut pipe = redis::pipe();
        let (mut n, mut bytes) = (0usize, 0usize);
        while n < rest.len() && (n as u64) < BATCH && (n == 0 || bytes < CLEANUP_BYTES) {
            let p = sent.payload(rest[n]);
            bytes += p.len();
            pipe.cmd("LREM").arg(key).arg(1).arg(p);
            n += 1;
        }
        let counts: Vec<u64> = conn.pipe_slot(&pipe).await?;
        removed += counts.iter().sum::<u64>();
        rest = &rest[n..];
    }
    Ok(removed)
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

/// A bench job: the system's fields, marked, padded to about `size` bytes.
/// `created` is its batch's creation time: the same arguments give the same
/// bytes, which is how bench removes exactly its own jobs when it gives up.
fn payload(run: &str, n: u64, priority: &str, size: usize, created: &str) -> String {
    let head = format!(
        r#"{{"id":"qctl-bench-{run}-{n}","filepath":"/dev/null/qctl-bench/{run}/{n}","filesize":0,"priority":"{priority}","retries":0,"creation_time":"{created}","trace_id":"","span_id":"","bench":true,"pad":""#
    );
    let pad = size.saturating_sub(head.len() + 2);
    format!("{head}{}\"}}", "x".repeat(pad))
}

/// Entries read from a list's head per poll at most.
const TAIL_LIMIT: u64 = 100_000;

/// The length and the newest entry, read together.
const TAIL_START: &str = "return {redis.call('LLEN', KEYS[1]), redis.call('LINDEX', KEYS[1], 0)}";

/// What was LPUSHed to KEYS[1] since the newest entry seen (ARGV[2], when
/// ARGV[3] is 1) at length ARGV[1]: `{length now, lost, entries}`.
/// Exact when nothing left the tail meanwhile (the seen entry is then at
/// index `length now - ARGV[1]`); when a retention job trimmed the list
/// (LTRIM to a cap) the seen entry is looked up by value instead (LPOS).
/// `lost` is 1 when it is gone altogether, or more than ARGV[4] entries
/// came in: the newest ARGV[4] are returned and older ones were missed.
const TAIL_POLL: &str = r#"
local len = redis.call('LLEN', KEYS[1])
local limit = tonumber(ARGV[4])
local function top(n) if n <= 0 then return {} end return redis.call('LRANGE', KEYS[1], 0, n - 1) end
if ARGV[3] ~= '1' then
  if len > limit then return {len, 1, top(limit)} end
  return {len, 0, top(len)}
end
local new = len - tonumber(ARGV[1])
if new >= 0 and new <= limit and redis.call('LINDEX', KEYS[1], new) == ARGV[2] then
  return {len, 0, top(new)}
end
local pos = redis.call('LPOS', KEYS[1], ARGV[2], 'MAXLEN', limit + 1)
if pos then return {len, 0, top(pos)} end
return {len, 1, top(math.min(len, limit))}
"#;

/// Watches the head of a list for entries LPUSHed since it started (by
/// workers): one script per poll, which copes with the list being capped
/// by a retention job meanwhile.
struct Tail {
    key: String,
    len: u64,
    /// The newest entry seen; `None` while the list has been empty.
    head: Option<Vec<u8>>,
    /// Entries were trimmed away before qctl read them.
    lost: bool,
    script: redis::Script,
}

impl Tail {
    async fn start(conn: &Conn, key: &str) -> redis::RedisResult<Tail> {
        let script = redis::Script::new(TAIL_START);
        let mut inv = script.prepare_invoke();
        inv.key(key);
        let (len, head): (u64, Option<Vec<u8>>) = conn.invoke(&inv).await?;
        Ok(Tail {
            key: key.to_string(),
            len,
            head,
            lost: false,
            script: redis::Script::new(TAIL_POLL),
        })
    }

    /// New entries since the last call, newest first.
    async fn poll(&mut self, conn: &Conn) -> redis::RedisResult<Vec<Vec<u8>>> {
        let mut inv = self.script.prepare_invoke();
        inv.key(&self.key)
            .arg(self.len)
            .arg(self.head.as_deref().unwrap_or_default())
            .arg(if self.head.is_some() { 1 } else { 0 })
            .arg(TAIL_LIMIT);
        let (len, lost, fresh): (u64, u8, Vec<Vec<u8>>) = conn.invoke(&inv).await?;
        self.len = len;
        self.lost |= lost == 1;
        if let Some(first) = fresh.first() {
            self.head = Some(first.clone());
        }
        Ok(fresh)
    }
}

impl Action for Bench {
    const NAME: &'static str = "bench";
    const COUNTS: &'static [&'static str] = &["enqueued", "completed", "dead_lettered", "removed"];
    const PROGRESS: bool = true;
    type Plan = BenchPlan;

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::Bench
    }

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
            "bench jobs are marked (id qctl-bench-..., \"bench\":true, filepath under /dev/null/qctl-bench/); workers run them like any job; completed is never cleared; when bench gives up (--wait-timeout, Ctrl-C) it removes its jobs still queued".into(),
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
        let workers = t
            .system
            .figures(conn)
            .await
            .map_err(|e| conn.error(&e))?
            .workers;
        // Every command a run sends, cleanup included: a user who may
        // LPUSH but not LREM would leave the jobs behind when bench gives up.
        let mut needed = vec![
            crate::systems::guard::Needed::new("LPUSH", &q.key, &["x"]),
            crate::systems::guard::Needed::new("LREM", &q.key, &["1", "x"]),
        ];
        for k in [&completed, &dead] {
            needed.extend(crate::systems::guard::Needed::scripts(&[k]));
        }
        let acl_unknown = match crate::systems::guard::may_run(conn, &needed).await? {
            crate::systems::guard::Checked::Unknown(why) => Some(why),
            _ => None,
        };
        Ok(BenchPlan {
            key: q.key,
            completed,
            dead,
            waiting,
            workers,
            acl_unknown,
        })
    }

    fn view(&self, p: &BenchPlan) -> PlanView {
        let mut warnings: Vec<String> = p.acl_unknown.iter().cloned().collect();
        if p.workers == Some(0) {
            warnings.push(format!(
                "no worker seen here (workers: 0; go-redis-work-queue shows a worker only while it holds a job, so an idle fleet reads 0 too): if none runs, nothing takes the bench jobs from {}, and bench waits {}, then removes the ones still queued",
                p.key,
                crate::output::duration(self.wait)
            ));
        }
        PlanView {
            count: self.count,
            detail: format!(
                "LPUSH {} bench jobs to {} ({} waiting there now), watch {}",
                self.count, p.key, p.waiting, p.completed
            ),
            warnings,
            ..PlanView::default()
        }
    }

    fn dry_counts(&self, _p: &BenchPlan) -> Vec<(&'static str, u64)> {
        vec![("enqueued", self.count)]
    }

    async fn apply(&self, conn: &Conn, t: &ReadTarget, p: &BenchPlan, step: Step) -> Applied {
        let run = crate::systems::requeue::batch_id();
        let priority = if self.queue == "low" { "low" } else { "high" };
        let mut batches = Sent {
            run: run.clone(),
            priority,
            size: self.payload_size,
            batches: Vec::new(),
        };
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
        // When job n was sent, in microseconds from `started`; SEEN once
        // it showed up (8 bytes a job, indexed by its number).
        const SEEN: u64 = u64::MAX;
        let mut sent: Vec<u64> = Vec::new();
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
                    let at = started.elapsed().as_micros() as u64;
                    let created = jiff::Timestamp::now()
                        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                        .to_string();
                    let mut jobs = Vec::with_capacity(n as usize);
                    for i in enqueued..enqueued + n {
                        jobs.push(
                            payload(&run, i, priority, self.payload_size, &created).into_bytes(),
                        );
                        sent.push(at);
                    }
                    batches.batches.push((enqueued, created));
                    if let Err(e) = crate::systems::lists::push(conn, &p.key, &jobs).await {
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
                            let Some(slot) = id
                                .strip_prefix(&prefix)
                                .and_then(|n| n.parse::<usize>().ok())
                                .and_then(|n| sent.get_mut(n))
                            else {
                                continue;
                            };
                            if *slot == SEEN {
                                continue;
                            }
                            let at = started + Duration::from_micros(*slot);
                            *slot = SEEN;
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
        if let Some(after) = a.after.as_object_mut() {
            after.insert("run".into(), json!(run));
        }
        let missing = enqueued - completed - dead_lettered;
        // Giving up (timeout, Ctrl-C/SIGTERM, an error) with jobs of this
        // run not seen: the ones still queued are removed, exactly.
        let mut removed = 0u64;
        let mut left = String::new();
        if missing > 0 {
            let unseen: Vec<u64> = (0..enqueued)
                .rev()
                .filter(|n| sent[*n as usize] != SEEN)
                .collect();
            match remove_unfinished(conn, &p.key, &batches, &unseen).await {
                Ok(n) => {
                    removed = n;
                    left = format!("; {removed} still queued removed from {}", p.key);
                    if missing > removed {
                        left.push_str(&format!(
                            ", {} taken by workers meanwhile (they finish as usual)",
                            missing - removed
                        ));
                    }
                }
                Err(e) => {
                    left = format!(
                        "; removing them failed ({}): find them with qctl get jobs {} --match '*qctl-bench-{run}-*'",
                        conn.error(&e).message,
                        self.queue
                    );
                }
            }
        }
        a.counts.push(("removed", removed));
        if let Some(after) = a.after.as_object_mut() {
            after.insert("removed".into(), json!(removed));
        }
        if let Some(e) = &mut a.error {
            e.message.push_str(&left);
        }
        if a.error.is_none() && interrupted {
            fail(
                format!(
                    "interrupted (Ctrl-C) with {missing} bench jobs not seen in completed yet{left}"
                ),
                &mut a,
            );
            if let Some(e) = &mut a.error {
                e.kind = ErrorKind::Interrupted;
            }
        } else if a.error.is_none() && missing > 0 && (done.lost || dead.lost) {
            fail(
                format!(
                    "{missing} of {enqueued} bench jobs not seen: {} was trimmed (a retention cap?) faster than qctl read it, so completions went by unseen; raise the cap while benching, or bench fewer jobs{left}",
                    if done.lost { &p.completed } else { &p.dead },
                ),
                &mut a,
            );
        } else if a.error.is_none() && missing > 0 {
            fail(
                format!(
                    "{missing} of {enqueued} bench jobs not seen in {} within {} (are workers consuming {}?){left}",
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

pub(crate) fn run(config: &Config, settings: &Settings, args: &BenchArgs) -> Result<ExitCode> {
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
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
        let p = payload("r1", 7, "high", 300, "2026-01-01T00:00:00.000Z");
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
        assert!(
            payload("r1", 7, "high", 10, "2026-01-01T00:00:00.000Z").len() > 10,
            "never truncated"
        );
    }

    #[test]
    fn a_job_is_rebuilt_byte_for_byte() {
        let sent = Sent {
            run: "r".into(),
            priority: "high",
            size: 100,
            batches: vec![(0, "t0".into()), (500, "t1".into()), (1000, "t2".into())],
        };
        let made = |n, t| payload("r", n, "high", 100, t).into_bytes();
        assert_eq!(sent.payload(0), made(0, "t0"));
        assert_eq!(sent.payload(499), made(499, "t0"));
        assert_eq!(sent.payload(500), made(500, "t1"));
        assert_eq!(sent.payload(1200), made(1200, "t2"));
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(51.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
