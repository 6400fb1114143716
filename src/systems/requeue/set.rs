//! `requeue --from dead|retry|scheduled` out of a sorted set of JSON jobs
//! that each name their queue (Sidekiq's `dead`, `retry` and `schedule`;
//! the set, the queue prefix and the queue registry come from the system's
//! [`OwnQueue`](crate::systems::OwnQueue)): each back to its own queue (or `--to`), exactly once, while Sidekiq
//! processes (and their scheduler, which moves due jobs out of `retry` and
//! `schedule` itself) run.
//!
//! Sidekiq's own retry is two round trips (a MULTI that removes the entry
//! by score, then a pipeline that pushes it): a crash between them loses
//! the job. Here each step is one Lua script (with the ACL prelude): for
//! each job qctl chose in a window it read just before, the script checks
//! the exact member is still in the set, `SADD queues`, `LPUSH` the job
//! onto its queue and only then `ZREM`s it. A job the scheduler took in
//! between is simply not there any more: skipped, never pushed twice. A
//! crash at any instant leaves every job either in its set or in its queue.
//!
//! The job on its way back gets what a fresh push has (a new
//! `enqueued_at`; with `--reset-retries` no `retry_count`), every other
//! byte of its JSON kept. A lock beside the set keeps two runs apart.

use crate::connect::Conn;
use crate::systems::glob::Glob;
use crate::systems::guard::{self, Needed};
use crate::systems::requeue::{self as mv, Pacer, StepCount};
use crate::systems::slots::sibling_key;
use redis::RedisResult;

/// The keys of one run.
#[derive(Debug, Clone)]
pub(crate) struct SetKeys {
    /// The sorted set (`dead`, `retry`, `schedule`, namespaced).
    pub(crate) set: String,
    pub(crate) lock: String,
    /// The `queues` set, and the prefix of queue keys (`queue:`).
    pub(crate) queues: String,
    pub(crate) queue_prefix: String,
}

impl SetKeys {
    pub(crate) fn new(set: &str, own: &crate::systems::OwnQueue) -> Self {
        SetKeys {
            set: set.to_string(),
            lock: sibling_key(set, "qctl-requeue:lock"),
            queues: own.registry.clone(),
            queue_prefix: own.prefix.clone(),
        }
    }

    /// Every command a run sends, for `ACL DRYRUN` (`queue` stands for
    /// the queues the jobs go to).
    pub(crate) fn needed(&self, queue: &str) -> Vec<Needed> {
        let q = format!("{}{queue}", self.queue_prefix);
        let mut n = Needed::scripts(&[&self.set, &self.queues, &q]);
        n.extend([
            Needed::new("SET", &self.lock, &["x", "PX", "1000"]),
            Needed::new("GET", &self.lock, &[]),
            Needed::new("PEXPIRE", &self.lock, &["1000"]),
            Needed::new("DEL", &self.lock, &[]),
            Needed::new("ZRANGE", &self.set, &["0", "-1"]),
            Needed::new("ZSCORE", &self.set, &["x"]),
            Needed::new("ZREM", &self.set, &["x"]),
            Needed::new("SADD", &self.queues, &["x"]),
            Needed::new("LPUSH", &q, &["x"]),
        ]);
        n
    }
}

/// What a run asks of each job.
#[derive(Debug, Clone, Default)]
pub(crate) struct Choice {
    pub(crate) glob: Option<Glob>,
    pub(crate) reset_retries: bool,
    /// Every job to this queue instead of its own.
    pub(crate) to: Option<String>,
}

/// KEYS: set, lock, queues. ARGV: holder, lock ttl ms, queue key prefix,
/// then per job: member, queue name, payload to push. Returns {moved,
/// gone}: jobs moved, and jobs no longer in the set (taken by Sidekiq's
/// scheduler or another tool since the window was read).
const MOVE: &str = r#"
qctl_may({'SADD', KEYS[3], 'x'}, {'LPUSH', ARGV[3] .. 'x', 'x'}, {'ZREM', KEYS[1], 'x'},
  {'PEXPIRE', KEYS[2], '1'})
for i = 4, #ARGV, 3 do
  qctl_may({'LPUSH', ARGV[3] .. ARGV[i + 1], 'x'})
end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[2] .. ' is no longer held by this run')
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local moved, gone = 0, 0
for i = 4, #ARGV, 3 do
  if redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    redis.call('SADD', KEYS[3], ARGV[i + 1])
    redis.call('LPUSH', ARGV[3] .. ARGV[i + 1], ARGV[i + 2])
    redis.call('ZREM', KEYS[1], ARGV[i])
    moved = moved + 1
  else
    gone = gone + 1
  end
end
return {moved, gone}
"#;

/// The jobs of the set that match, up to `limit` (for the plan), and how
/// many go to each queue.
pub(crate) async fn count(
    conn: &Conn,
    k: &SetKeys,
    c: &Choice,
    limit: u64,
) -> RedisResult<(u64, Vec<(String, u64)>)> {
    const READ: i64 = 5_000;
    let mut found = 0u64;
    let mut per: Vec<(String, u64)> = Vec::new();
    let mut off: i64 = 0;
    loop {
        let page: Vec<Vec<u8>> = conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(&k.set)
                    .arg(off)
                    .arg(off + READ - 1),
            )
            .await?;
        for job in &page {
            if found >= limit {
                return Ok((found, per));
            }
            if let Some((q, _)) = chosen(job, c) {
                found += 1;
                match per.iter_mut().find(|(n, _)| *n == q) {
                    Some((_, n)) => *n += 1,
                    None => per.push((q, 1)),
                }
            }
        }
        if (page.len() as i64) < READ {
            return Ok((found, per));
        }
        off += READ;
    }
}

/// Whether `job` moves, and (queue, payload to push).
fn chosen(job: &[u8], c: &Choice) -> Option<(String, Vec<u8>)> {
    if !c.glob.as_ref().is_none_or(|g| g.matches(job)) {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(job).ok()?;
    let own = v.get("queue").and_then(|q| q.as_str()).map(String::from);
    let queue = c.to.clone().or(own)?;
    if queue.is_empty() {
        return None;
    }
    Some((queue, fresh_payload(job, c.reset_retries)))
}

/// The job as a fresh push has it: `enqueued_at` now, and with `reset`
/// no `retry_count`; every other byte kept.
pub(crate) fn fresh_payload(job: &[u8], reset: bool) -> Vec<u8> {
    let now = jiff::Timestamp::now().as_microsecond() as f64 / 1e6;
    let mut out =
        crate::systems::json_edit::set_top_level(job, "enqueued_at", &format!("{now:.6}"))
            .unwrap_or_else(|| job.to_vec());
    if reset && let Some(r) = crate::systems::json_edit::remove_top_level(&out, "retry_count") {
        out = r;
    }
    out
}

/// One step: reads up to `window` of the lowest-scored jobs, chooses, and
/// moves the chosen ones. `taken` counts the jobs read.
pub(crate) async fn step(
    conn: &Conn,
    k: &SetKeys,
    c: &Choice,
    start: u64,
    window: u64,
    room: u64,
    holder: &str,
) -> RedisResult<(StepCount, u64)> {
    let page: Vec<Vec<u8>> = conn
        .query(
            redis::cmd("ZRANGE")
                .arg(&k.set)
                .arg(start)
                .arg(start + window - 1),
        )
        .await?;
    let read = page.len() as u64;
    let bytes = page.iter().map(|j| j.len() as u64).sum();
    let mut picks: Vec<(Vec<u8>, String, Vec<u8>)> = Vec::new();
    for job in page {
        if picks.len() as u64 >= room {
            break;
        }
        if let Some((q, payload)) = chosen(&job, c) {
            picks.push((job, q, payload));
        }
    }
    if picks.is_empty() {
        return Ok((
            StepCount {
                moved: 0,
                taken: read,
                bytes,
            },
            0,
        ));
    }
    let script = guard::script(MOVE);
    let mut inv = script.prepare_invoke();
    inv.key(&k.set)
        .key(&k.lock)
        .key(&k.queues)
        .arg(holder)
        .arg(mv::lock_ttl().as_millis() as u64)
        .arg(&k.queue_prefix);
    for (member, q, payload) in &picks {
        inv.arg(&member[..]).arg(q).arg(&payload[..]);
    }
    crate::systems::fault("sidekiq-before-move");
    let (moved, gone): (u64, u64) = conn.invoke(&inv).await?;
    Ok((
        StepCount {
            moved,
            taken: read,
            bytes,
        },
        gone,
    ))
}

/// A fresh pacer for the steps (jobs can be large: backtraces).
pub(crate) fn pacer() -> Pacer {
    Pacer::default()
}
