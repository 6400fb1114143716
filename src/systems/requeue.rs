//! Moving jobs from one list to another (dead-letter -> work queue) so that
//! a worker fleet consuming the destination meanwhile never sees a job lost
//! or doubled, in O(1) server work per job.
//!
//! Each step is one Lua script on the source's hash slot. It takes a window
//! of up to `WINDOW` jobs from the source's consumer end (the oldest) and
//! pushes the chosen ones on, the others onto a *kept* list beside the
//! source, in order, and only then trims the window off the source: every
//! write that can be refused runs before the one that removes anything, and
//! the ACL prelude (`guard`) checks them all before the first. No LREM:
//! every job is touched a constant number of times. At the end (and at the
//! start of any later run) the kept list goes back to the source's consumer
//! end in its order: the DLQ looks as before, minus the moved jobs.
//!
//! Which jobs move (`--match`, `--reset-retries`) is decided here, on the
//! client, with a linear-time matcher over a window read just before: the
//! script gets the positions and exact bytes of the chosen jobs, checks
//! that each is still there, byte for byte, and moves them. So no step
//! runs a pattern on the server, and none takes more than about a
//! millisecond whatever the pattern.
//!
//! * Same slot (always on a standalone server): the script pushes straight
//!   into the destination. Every job is in exactly one list at every moment:
//!   exactly once.
//! * Across slots on Redis Cluster no command spans both keys, so a batch
//!   goes through a *staging* list in the source's slot. (1) The script moves
//!   the batch into staging and records a marker `{batch id, destination}`,
//!   atomically. (2) One script on the destination's slot pushes the batch
//!   unless the destination's receipts (a sorted set beside it) already
//!   hold the batch id, and adds the id, atomically. (3) A script clears
//!   staging and the marker if the marker still names that batch and the
//!   lock is still this run's. A crash between (1) and (2) leaves the batch
//!   in staging with no receipt: the next run pushes it. A crash between
//!   (2) and (3) leaves it in staging with a receipt: the next run only
//!   clears staging. A run that stalled past its lock and wakes up finds
//!   the receipt its successor left and pushes nothing. Receipts expire a
//!   day after the last batch.
//!
//! A lock beside the source (`SET NX PX`, refreshed by every step, which
//! fails once the lock is no longer its own) keeps two runs off the same
//! DLQ; a run whose holder is a dead process on this host takes the lock
//! over at once, otherwise it expires after `lock_ttl()`.

pub(crate) mod hashed;
pub(crate) mod set;

use super::glob::Glob;
use super::guard::{self, Needed};
use super::slots::{key_slot, sibling_key};
use crate::connect::Conn;
use redis::{RedisResult, Value};
use std::time::Duration;

/// Jobs per script call: short enough not to stall Redis (a few ms).
pub(crate) const WINDOW: u64 = 1_000;
/// How long a receipt outlives its batch.
const RECEIPT_TTL_MS: u64 = 24 * 3600 * 1000;

/// How long a lock lives without a refresh: 30 s (`QCTL_LOCK_TTL_MS`, a
/// test hook, shortens it).
pub(crate) fn lock_ttl() -> Duration {
    std::env::var("QCTL_LOCK_TTL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|ms| (100..=3_600_000).contains(ms))
        .map_or(Duration::from_secs(30), Duration::from_millis)
}

fn ttl_ms() -> u64 {
    lock_ttl().as_millis() as u64
}

/// The keys one requeue run uses.
#[derive(Debug, Clone)]
pub(crate) struct MoveKeys {
    pub(crate) src: String,
    pub(crate) dst: String,
    pub(crate) kept: String,
    pub(crate) staging: String,
    pub(crate) marker: String,
    pub(crate) lock: String,
}

impl MoveKeys {
    pub(crate) fn new(src: &str, dst: &str) -> Self {
        MoveKeys {
            src: src.to_string(),
            dst: dst.to_string(),
            kept: sibling_key(src, "qctl-requeue:kept"),
            staging: sibling_key(src, "qctl-requeue:staging"),
            marker: sibling_key(src, "qctl-requeue:batch"),
            lock: sibling_key(src, "qctl-requeue:lock"),
        }
    }

    /// Whether one script can touch source and destination together.
    pub(crate) fn same_slot(&self, conn: &Conn) -> bool {
        !conn.is_cluster() || key_slot(self.src.as_bytes()) == key_slot(self.dst.as_bytes())
    }

    /// Every command a run sends (for `ACL DRYRUN` in pre-flight).
    pub(crate) fn needed(&self, same_slot: bool) -> Vec<Needed> {
        let mut n = Needed::scripts(&[&self.src, &self.dst]);
        n.extend([
            Needed::new("SET", &self.lock, &["x", "PX", "1000"]),
            Needed::new("GET", &self.lock, &[]),
            Needed::new("PEXPIRE", &self.lock, &["1000"]),
            Needed::new("DEL", &self.lock, &[]),
            Needed::new("LRANGE", &self.src, &["0", "-1"]),
            Needed::new("LTRIM", &self.src, &["0", "-1"]),
            Needed::new("RPUSH", &self.src, &["x"]),
            Needed::new("LPUSH", &self.kept, &["x"]),
            Needed::new("LRANGE", &self.kept, &["0", "-1"]),
            Needed::new("LTRIM", &self.kept, &["0", "-1"]),
            Needed::new("LPUSH", &self.dst, &["x"]),
        ]);
        if !same_slot {
            let r = receipts_key(&self.dst);
            n.extend([
                Needed::new("LPUSH", &self.staging, &["x"]),
                Needed::new("LRANGE", &self.staging, &["0", "-1"]),
                Needed::new("SET", &self.marker, &["x"]),
                Needed::new("GET", &self.marker, &[]),
                Needed::new("DEL", &self.staging, &[]),
                Needed::new("ZSCORE", &r, &["x"]),
                Needed::new("ZADD", &r, &["0", "x"]),
                Needed::new("ZREMRANGEBYSCORE", &r, &["0", "0"]),
                Needed::new("PEXPIRE", &r, &["1000"]),
            ]);
        }
        n
    }
}

/// The receipts of batches pushed into `dst` across slots (a sorted set of
/// batch ids by time, in `dst`'s slot).
pub(crate) fn receipts_key(dst: &str) -> String {
    sibling_key(dst, "qctl-receipts")
}

/// What earlier runs left beside a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Leftovers {
    pub(crate) staged: u64,
    pub(crate) kept: u64,
    /// `host pid run` of a run holding the lock.
    pub(crate) lock_holder: Option<String>,
}

pub(crate) async fn leftovers(conn: &Conn, k: &MoveKeys) -> RedisResult<Leftovers> {
    let mut p = redis::pipe();
    p.cmd("LLEN")
        .arg(&k.staging)
        .cmd("LLEN")
        .arg(&k.kept)
        .cmd("GET")
        .arg(&k.lock);
    let (staged, kept, lock): (u64, u64, Option<String>) = {
        let v: Vec<Value> = conn.pipe_slot(&p).await?;
        redis::FromRedisValue::from_redis_value(Value::Array(v))?
    };
    Ok(Leftovers {
        staged,
        kept,
        lock_holder: lock,
    })
}

/// What a run asks of each job.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) glob: Option<Glob>,
    pub(crate) reset_retries: bool,
}

impl Filter {
    /// Whether the client must read each window to choose (else the server
    /// moves whole windows).
    pub(crate) fn chooses(&self) -> bool {
        self.glob.is_some() || self.reset_retries
    }

    pub(crate) fn wants(&self, job: &[u8]) -> bool {
        self.glob.as_ref().is_none_or(|g| g.matches(job))
    }
}

/// How many of the source's jobs (from the consumer end) match, up to
/// `limit`: reads windows of 10,000 (LRANGE), never the whole list at once.
pub(crate) async fn count_matching(
    conn: &Conn,
    src: &str,
    glob: &Glob,
    limit: u64,
) -> RedisResult<u64> {
    const READ: i64 = 10_000;
    let mut found = 0u64;
    let mut off: i64 = 0;
    loop {
        let mut c = redis::cmd("LRANGE");
        c.arg(src).arg(-(off + READ)).arg(-(off + 1));
        let page: Vec<Vec<u8>> = conn.query(&c).await?;
        for v in page.iter().rev() {
            if glob.matches(v) {
                found += 1;
                if found >= limit {
                    return Ok(found);
                }
            }
        }
        if (page.len() as i64) < READ {
            return Ok(found);
        }
        off += READ;
    }
}

const TAKE_LOCK: &str = r#"
qctl_may({'SET', KEYS[1], 'x', 'PX', '1'})
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"#;

const RELEASE_LOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Takes the lock at `key` for `holder` (`host pid run`) on behalf of
/// `verb`. `Err` names who holds it.
pub(crate) async fn lock(
    conn: &Conn,
    key: &str,
    holder: &str,
    verb: &str,
) -> RedisResult<Result<(), String>> {
    let script = guard::script(TAKE_LOCK);
    let ttl = ttl_ms();
    let mut inv = script.prepare_invoke();
    inv.key(key).arg("").arg(holder).arg(ttl);
    // "" never equals a holder: a plain SET NX.
    if conn.invoke::<i64>(&inv).await? == 1 {
        return Ok(Ok(()));
    }
    let cur: Option<String> = conn.query(redis::cmd("GET").arg(key)).await?;
    let Some(cur) = cur else {
        return Box::pin(lock(conn, key, holder, verb)).await;
    };
    let mut parts = cur.splitn(3, ' ');
    let (h, pid) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let ours = h == crate::host::name();
    if ours
        && let Ok(pid) = pid.parse::<i32>()
        && pid != std::process::id() as i32
        && !pid_alive(pid)
    {
        let mut inv = script.prepare_invoke();
        inv.key(key).arg(&cur).arg(holder).arg(ttl);
        if conn.invoke::<i64>(&inv).await? == 1 {
            return Ok(Ok(()));
        }
    }
    Ok(Err(format!(
        "another {verb} holds {key} ({cur}); nothing was changed here: wait for it to finish, or for its lock to expire (within {}s of its last step), then run this again",
        lock_ttl().as_secs().max(1)
    )))
}

pub(crate) async fn unlock(conn: &Conn, key: &str, holder: &str) -> RedisResult<()> {
    let script = redis::Script::new(RELEASE_LOCK);
    let mut inv = script.prepare_invoke();
    inv.key(key).arg(holder);
    conn.invoke::<i64>(&inv).await.map(|_| ())
}

/// One step: see the module comment. KEYS: src, out, kept, lock[, marker].
/// ARGV: window, mode ('all' | 'chosen'), lock holder, lock ttl ms, marker
/// value ('' on one slot), then for 'chosen' the number of chosen jobs and,
/// for each, its position from the consumer end (1 = the oldest), its exact
/// bytes, and what to push instead ('' = the same). Returns {moved, taken[,
/// bytes taken[, moved jobs, oldest first, across slots]}.
const MOVE: &str = r#"
local cross = KEYS[5] ~= nil
qctl_may({'LPUSH', KEYS[2], 'x'}, {'LPUSH', KEYS[3], 'x'}, {'LTRIM', KEYS[1], '0', '-1'},
  {'PEXPIRE', KEYS[4], '1'}, cross and {'SET', KEYS[5], 'x'} or {'GET', KEYS[4]})
if redis.call('GET', KEYS[4]) ~= ARGV[3] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[4] .. ' is no longer held by this run')
end
local n = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], -n, -1)
if #items < n then
  if ARGV[2] == 'chosen' then
    return redis.error_reply('QCTLCHANGED the dead-letter queue ' .. KEYS[1] .. ' changed under this run')
  end
  n = #items
end
redis.call('PEXPIRE', KEYS[4], ARGV[4])
if n == 0 then return {0, 0} end
local out, keep = {}, {}
if ARGV[2] == 'all' then
  for i = n, 1, -1 do out[#out + 1] = items[i] end
else
  local chosen = {}
  local at = 7
  for _ = 1, tonumber(ARGV[6]) do
    local i = n - tonumber(ARGV[at]) + 1
    if items[i] ~= ARGV[at + 1] then
      return redis.error_reply('QCTLCHANGED the dead-letter queue ' .. KEYS[1] .. ' changed under this run')
    end
    local new = ARGV[at + 2]
    if new == '' then new = ARGV[at + 1] end
    chosen[i] = new
    at = at + 3
  end
  for i = n, 1, -1 do
    if chosen[i] then out[#out + 1] = chosen[i] else keep[#keep + 1] = items[i] end
  end
end
if #out > 0 then redis.call('LPUSH', KEYS[2], unpack(out)) end
if #keep > 0 then redis.call('LPUSH', KEYS[3], unpack(keep)) end
if cross and #out > 0 then redis.call('SET', KEYS[5], ARGV[5]) end
redis.call('LTRIM', KEYS[1], 0, -n - 1)
local bytes = 0
for i = 1, n do bytes = bytes + #items[i] end
if cross and #out > 0 then return {#out, n, bytes, unpack(out)} end
return {#out, n, bytes}
"#;

/// Step (2) across slots. KEYS: dst, receipts. ARGV: batch id, now ms,
/// receipt ttl ms, jobs (oldest first). Pushes unless the batch has a
/// receipt; returns the number pushed.
const PUSH_STAGED: &str = r#"
qctl_may({'LPUSH', KEYS[1], 'x'}, {'ZADD', KEYS[2], '0', 'x'},
  {'ZREMRANGEBYSCORE', KEYS[2], '0', '0'}, {'PEXPIRE', KEYS[2], '1'})
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
for i = 4, #ARGV, 1000 do
  redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
local now = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return #ARGV - 3
"#;

/// Step (3). KEYS: staging, marker, lock. ARGV: marker value, holder.
const CLEAR_STAGED: &str = r#"
qctl_may({'DEL', KEYS[1]})
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[3] .. ' is no longer held by this run')
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"#;

/// Puts up to ARGV[1] kept jobs back at the source's consumer end, in
/// order, if the lock is this run's. KEYS: kept, src, lock. ARGV: n, holder.
/// Returns {moved, left}.
const KEPT_BACK: &str = r#"
qctl_may({'RPUSH', KEYS[2], 'x'}, {'LTRIM', KEYS[1], '0', '-1'})
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[3] .. ' is no longer held by this run')
end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {0, 0} end
redis.call('RPUSH', KEYS[2], unpack(items))
redis.call('LTRIM', KEYS[1], #items, -1)
return {#items, redis.call('LLEN', KEYS[1])}
"#;

/// The outcome of one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct StepCount {
    pub(crate) moved: u64,
    pub(crate) taken: u64,
    /// Payload bytes the step read (to pace the next one).
    pub(crate) bytes: u64,
}

/// Sizes steps so none handles more than `STEP_BYTES` of payload, whatever
/// the jobs weigh: it starts small and doubles up to `WINDOW` while the
/// steps stay light, halving when one was heavy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacer {
    window: u64,
}

/// Payload bytes per step: about a millisecond of server work.
pub(crate) const STEP_BYTES: u64 = 1 << 20;

impl Default for Pacer {
    fn default() -> Self {
        Pacer { window: 100 }
    }
}

impl Pacer {
    pub(crate) fn window(&self) -> u64 {
        self.window
    }

    pub(crate) fn record(&mut self, c: &StepCount) {
        if c.bytes > STEP_BYTES {
            self.window = (self.window / 2).max(1);
        } else if c.taken >= self.window && c.bytes < STEP_BYTES / 2 {
            self.window = (self.window * 2).min(WINDOW);
        }
    }
}

/// A fresh run id: 16 hex digits.
pub(crate) fn batch_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_i128(jiff::Timestamp::now().as_nanosecond());
    format!("{:016x}", h.finish())
}

/// The jobs of a window the client chose: (position from the consumer end,
/// 1 = oldest; exact bytes; what to push instead, empty = the same).
type Picks = Vec<(u64, Vec<u8>, Vec<u8>)>;

/// Reads the oldest `window` jobs and chooses up to `room` of them.
async fn choose(
    conn: &Conn,
    src: &str,
    f: &Filter,
    window: u64,
    room: u64,
) -> RedisResult<(u64, Picks)> {
    let page: Vec<Vec<u8>> = conn
        .query(redis::cmd("LRANGE").arg(src).arg(-(window as i64)).arg(-1))
        .await?;
    let n = page.len() as u64;
    let mut picks = Vec::new();
    for (i, job) in page.into_iter().rev().enumerate() {
        if picks.len() as u64 >= room {
            break;
        }
        if f.wants(&job) {
            let new = if f.reset_retries {
                super::gowork::reset_retries(&job).unwrap_or_default()
            } else {
                Vec::new()
            };
            picks.push((i as u64 + 1, job, new));
        }
    }
    Ok((n, picks))
}

/// One step of at most `window` jobs, moving at most `room`.
pub(crate) async fn step(
    conn: &Conn,
    k: &MoveKeys,
    f: &Filter,
    window: u64,
    room: u64,
    holder: &str,
) -> RedisResult<StepCount> {
    let script = guard::script(MOVE);
    let mut inv = script.prepare_invoke();
    let same = k.same_slot(conn);
    let batch = batch_id();
    let marker = serde_json::json!({"batch": batch, "to": k.dst}).to_string();
    inv.key(&k.src)
        .key(if same { &k.dst } else { &k.staging })
        .key(&k.kept)
        .key(&k.lock);
    if !same {
        inv.key(&k.marker);
    }
    let mut window = window;
    let picks = if f.chooses() {
        let (n, picks) = choose(conn, &k.src, f, window, room).await?;
        window = n;
        Some(picks)
    } else {
        None
    };
    inv.arg(window)
        .arg(if picks.is_some() { "chosen" } else { "all" })
        .arg(holder)
        .arg(ttl_ms())
        .arg(if same { "" } else { marker.as_str() });
    if let Some(picks) = &picks {
        inv.arg(picks.len());
        for (pos, orig, new) in picks {
            inv.arg(*pos).arg(&orig[..]).arg(&new[..]);
        }
    }
    let reply: Vec<Value> = conn.invoke(&inv).await?;
    let num = |i: usize| match reply.get(i) {
        Some(Value::Int(n)) => *n as u64,
        _ => 0,
    };
    let counted = StepCount {
        moved: num(0),
        taken: num(1),
        bytes: num(2),
    };
    if !same && counted.moved > 0 {
        let jobs: Vec<Vec<u8>> = reply[3..]
            .iter()
            .map(|v| match v {
                Value::BulkString(b) => b.clone(),
                _ => Vec::new(),
            })
            .collect();
        super::fault("requeue-after-stage");
        finish_staged(
            conn,
            k,
            &k.dst,
            &batch,
            &marker,
            jobs,
            holder,
            "requeue-after-push",
        )
        .await?;
    }
    Ok(counted)
}

/// Steps (2) and (3) of a cross-slot batch: push unless already receipted,
/// then clear staging. `jobs` are oldest first. Returns how many it pushed.
/// `fault` names the crash point between the two (`QCTL_FAULT`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn finish_staged(
    conn: &Conn,
    k: &MoveKeys,
    dst: &str,
    batch: &str,
    marker: &str,
    jobs: Vec<Vec<u8>>,
    holder: &str,
    fault: &str,
) -> RedisResult<u64> {
    let script = guard::script(PUSH_STAGED);
    let mut inv = script.prepare_invoke();
    inv.key(dst)
        .key(receipts_key(dst))
        .arg(batch)
        .arg(jiff::Timestamp::now().as_millisecond())
        .arg(RECEIPT_TTL_MS);
    for j in &jobs {
        inv.arg(&j[..]);
    }
    let pushed: u64 = conn.invoke(&inv).await?;
    super::fault(fault);
    clear_staged(conn, k, marker, holder).await?;
    Ok(pushed)
}

async fn clear_staged(conn: &Conn, k: &MoveKeys, marker: &str, holder: &str) -> RedisResult<()> {
    let script = guard::script(CLEAR_STAGED);
    let mut inv = script.prepare_invoke();
    inv.key(&k.staging)
        .key(&k.marker)
        .key(&k.lock)
        .arg(marker)
        .arg(holder);
    conn.invoke::<i64>(&inv).await.map(|_| ())
}

/// What `recover` put right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Staged jobs pushed to their destination now (no receipt found).
    pub(crate) pushed: u64,
    /// Staged jobs already pushed before the crash (receipt found): cleared.
    pub(crate) already_pushed: u64,
    /// Kept (non-matching) jobs put back into the source.
    pub(crate) kept_restored: u64,
}

/// Finishes what an earlier run (or this one) left beside the source: a
/// staged batch, and the kept list. Idempotent; call under the lock.
pub(crate) async fn recover(conn: &Conn, k: &MoveKeys, holder: &str) -> RedisResult<Recovered> {
    let mut r = Recovered::default();
    let marker: Option<String> = conn.query(redis::cmd("GET").arg(&k.marker)).await?;
    let staged: Vec<Vec<u8>> = conn
        .query(redis::cmd("LRANGE").arg(&k.staging).arg(0).arg(-1))
        .await?;
    if !staged.is_empty() {
        let meta: serde_json::Value = marker
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .unwrap_or_default();
        let (Some(batch), Some(to)) = (meta["batch"].as_str(), meta["to"].as_str()) else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "staged jobs without a readable batch marker; inspect them by hand",
                k.staging.clone(),
            )));
        };
        let n = staged.len() as u64;
        let marker = marker.clone().unwrap_or_default();
        let mut jobs = staged;
        jobs.reverse();
        let pushed = finish_staged(
            conn,
            k,
            to,
            batch,
            &marker,
            jobs,
            holder,
            "requeue-after-push",
        )
        .await?;
        if pushed == 0 {
            r.already_pushed = n;
        } else {
            r.pushed = n;
        }
    }
    let script = guard::script(KEPT_BACK);
    loop {
        let mut inv = script.prepare_invoke();
        inv.key(&k.kept)
            .key(&k.src)
            .key(&k.lock)
            .arg(WINDOW)
            .arg(holder);
        let (moved, left): (u64, u64) = conn.invoke(&inv).await?;
        r.kept_restored += moved;
        if left == 0 || moved == 0 {
            break;
        }
    }
    Ok(r)
}

/// The lock holder string for this process.
pub(crate) fn holder() -> String {
    format!(
        "{} {} {}",
        crate::host::name(),
        std::process::id(),
        batch_id()
    )
}

/// Room for a step when there is no limit.
pub(crate) const NO_LIMIT: u64 = u64::MAX >> 11;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_keeps_steps_under_the_byte_budget() {
        let mut p = Pacer::default();
        // 200-byte jobs: the window grows to WINDOW.
        for _ in 0..10 {
            let w = p.window();
            p.record(&StepCount {
                moved: w,
                taken: w,
                bytes: w * 200,
            });
        }
        assert_eq!(p.window(), WINDOW);
        // 100 KiB jobs: it halves until a step fits in STEP_BYTES.
        for _ in 0..20 {
            let w = p.window();
            p.record(&StepCount {
                moved: w,
                taken: w,
                bytes: w * 100 * 1024,
            });
        }
        assert!(p.window() * 100 * 1024 <= STEP_BYTES, "{}", p.window());
        // One 5 MiB job: one job a step, never zero.
        p.record(&StepCount {
            moved: 1,
            taken: 1,
            bytes: 5 << 20,
        });
        assert_eq!(p.window(), p.window().max(1));
    }

    #[test]
    fn side_keys_share_the_source_slot() {
        let k = MoveKeys::new("jobqueue:dead_letter", "jobqueue:high_priority");
        for side in [&k.kept, &k.staging, &k.marker, &k.lock] {
            assert_eq!(
                key_slot(side.as_bytes()),
                key_slot(k.src.as_bytes()),
                "{side}"
            );
            assert!(guard::is_side_key(side));
        }
        let r = receipts_key("{q}:high");
        assert_eq!(key_slot(r.as_bytes()), key_slot(b"{q}:high"));
    }
}
