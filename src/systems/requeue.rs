//! Moving jobs from one list to another (dead-letter -> work queue) so that
//! a worker fleet consuming the destination meanwhile never sees a job lost
//! or doubled, in O(1) server work per job.
//!
//! Each step is one Lua script on the source's hash slot. It takes a window
//! of up to `WINDOW` jobs from the source's consumer end (the oldest) and,
//! job by job, pushes the ones that match `--match` (up to `--limit`) on,
//! and the others onto a *kept* list beside the source, in order. No LREM:
//! every job is touched a constant number of times. At the end (and at the
//! start of any later run) the kept list goes back to the source's consumer
//! end in its order: the DLQ looks as before, minus the moved jobs.
//!
//! * Same slot (always on a standalone server): the script pushes straight
//!   into the destination. Every job is in exactly one list at every moment:
//!   exactly once.
//! * Across slots on Redis Cluster no command spans both keys, so a batch
//!   goes through a *staging* list in the source's slot. (1) The script moves
//!   the batch into staging and records a marker `{batch id, destination}`,
//!   atomically. (2) One MULTI/EXEC on the destination's slot pushes the
//!   batch and sets a *receipt* key named after the batch id, atomically.
//!   (3) A script clears staging and the marker if the marker still names
//!   that batch. A crash between (1) and (2) leaves the batch in staging
//!   with no receipt: the next run pushes it. A crash between (2) and (3)
//!   leaves it in staging with a receipt: the next run only clears staging.
//!   So a re-run after a crash reconciles by batch id and ends with each
//!   job exactly once, while nothing ever exists only in qctl's memory.
//!
//! A lock beside the source (`SET NX PX`, refreshed by every step) keeps
//! two runs off the same DLQ; a run whose holder is a dead process on this
//! host takes the lock over at once, otherwise it expires after `LOCK_TTL`.

use super::glob::Glob;
use super::slots::{key_slot, sibling_key};
use crate::connect::Conn;
use redis::{RedisResult, Value};
use std::time::Duration;

/// Jobs per script call: short enough not to stall Redis (a few ms).
pub const WINDOW: u64 = 1_000;
pub const LOCK_TTL: Duration = Duration::from_secs(30);
/// How long a receipt outlives a crash.
const RECEIPT_TTL_MS: u64 = 24 * 3600 * 1000;

/// The keys one requeue run uses.
#[derive(Debug, Clone)]
pub struct MoveKeys {
    pub src: String,
    pub dst: String,
    pub kept: String,
    pub staging: String,
    pub marker: String,
    pub lock: String,
}

impl MoveKeys {
    pub fn new(src: &str, dst: &str) -> Self {
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
    pub fn same_slot(&self, conn: &Conn) -> bool {
        !conn.is_cluster() || key_slot(self.src.as_bytes()) == key_slot(self.dst.as_bytes())
    }
}

fn receipt_key(dst: &str, batch: &str) -> String {
    sibling_key(dst, &format!("qctl-requeue:receipt:{batch}"))
}

/// What earlier runs left beside a source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leftovers {
    pub staged: u64,
    pub kept: u64,
    /// `host pid run` of a run holding the lock.
    pub lock_holder: Option<String>,
}

pub async fn leftovers(conn: &Conn, k: &MoveKeys) -> RedisResult<Leftovers> {
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

/// How many of the source's jobs (from the consumer end) match, up to
/// `limit`: reads windows of 10,000 (LRANGE), never the whole list at once.
pub async fn count_matching(conn: &Conn, src: &str, glob: &Glob, limit: u64) -> RedisResult<u64> {
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
pub async fn lock(
    conn: &Conn,
    key: &str,
    holder: &str,
    verb: &str,
) -> RedisResult<Result<(), String>> {
    let script = redis::Script::new(TAKE_LOCK);
    let ttl = LOCK_TTL.as_millis() as u64;
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
    let ours = h == crate::actions::audit::host();
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
        "another {verb} holds {key} ({cur}); wait for it, or for the lock to expire (within {}s of its last step)",
        LOCK_TTL.as_secs()
    )))
}

pub async fn unlock(conn: &Conn, key: &str, holder: &str) -> RedisResult<()> {
    let script = redis::Script::new(RELEASE_LOCK);
    let mut inv = script.prepare_invoke();
    inv.key(key).arg(holder);
    conn.invoke::<i64>(&inv).await.map(|_| ())
}

/// One step: see the module comment. KEYS: src, out, kept, lock[, marker].
/// ARGV: window, Lua pattern ('' = all), reset '1'/'0', room, lock holder,
/// lock ttl ms[, marker value]. Returns {moved, taken[, moved jobs...]}.
const MOVE: &str = r#"
local function reset_retries(v)
  local ok, obj = pcall(cjson.decode, v)
  if not ok or type(obj) ~= 'table' or type(obj['retries']) ~= 'number' or obj['retries'] == 0 then
    return v
  end
  local r = string.gsub(v, '("retries"%s*:%s*)%-?[%d%.eE%+]+', '%10', 1)
  return r
end
if redis.call('GET', KEYS[4]) ~= ARGV[5] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[4] .. ' is no longer held by this run')
end
redis.call('PEXPIRE', KEYS[4], ARGV[6])
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local taken = #items
if taken == 0 then return {0, 0} end
redis.call('LTRIM', KEYS[1], 0, -taken - 1)
local pat, reset, room = ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
local out, keep = {}, {}
for i = taken, 1, -1 do
  local v = items[i]
  if #out < room and (pat == '' or string.find(v, pat)) then
    if reset then v = reset_retries(v) end
    out[#out + 1] = v
  else
    keep[#keep + 1] = v
  end
end
if #keep > 0 then redis.call('LPUSH', KEYS[3], unpack(keep)) end
if #out > 0 then
  redis.call('LPUSH', KEYS[2], unpack(out))
  if KEYS[5] then
    redis.call('SET', KEYS[5], ARGV[7])
    return {#out, taken, unpack(out)}
  end
end
return {#out, taken}
"#;

const CLEAR_STAGED: &str = r#"
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 1
end
return 0
"#;

/// What a run asks of each step.
#[derive(Debug, Clone)]
pub struct Filter {
    pub lua_pattern: Vec<u8>,
    pub reset_retries: bool,
}

/// The outcome of one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCount {
    pub moved: u64,
    pub taken: u64,
}

/// A fresh run id: 16 hex digits.
pub fn batch_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_i128(jiff::Timestamp::now().as_nanosecond());
    format!("{:016x}", h.finish())
}

/// One step of at most `window` jobs, moving at most `room`.
pub async fn step(
    conn: &Conn,
    k: &MoveKeys,
    f: &Filter,
    window: u64,
    room: u64,
    holder: &str,
) -> RedisResult<StepCount> {
    let script = redis::Script::new(MOVE);
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
    inv.arg(window)
        .arg(&f.lua_pattern[..])
        .arg(if f.reset_retries { "1" } else { "0" })
        .arg(room)
        .arg(holder)
        .arg(LOCK_TTL.as_millis() as u64);
    if !same {
        inv.arg(&marker);
    }
    let reply: Vec<Value> = conn.invoke(&inv).await?;
    let num = |i: usize| match reply.get(i) {
        Some(Value::Int(n)) => *n as u64,
        _ => 0,
    };
    let counted = StepCount {
        moved: num(0),
        taken: num(1),
    };
    if !same && counted.moved > 0 {
        let jobs: Vec<Vec<u8>> = reply[2..]
            .iter()
            .map(|v| match v {
                Value::BulkString(b) => b.clone(),
                _ => Vec::new(),
            })
            .collect();
        super::fault("requeue-after-stage");
        finish_staged(conn, k, &k.dst, &batch, &marker, jobs).await?;
    }
    Ok(counted)
}

/// Steps (2) and (3) of a cross-slot batch: push with a receipt, then
/// clear staging. `jobs` are oldest first.
async fn finish_staged(
    conn: &Conn,
    k: &MoveKeys,
    dst: &str,
    batch: &str,
    marker: &str,
    jobs: Vec<Vec<u8>>,
) -> RedisResult<()> {
    let receipt = receipt_key(dst, batch);
    let mut p = redis::pipe();
    p.atomic()
        .cmd("LPUSH")
        .arg(dst)
        .arg(jobs)
        .ignore()
        .cmd("SET")
        .arg(&receipt)
        .arg(1)
        .arg("PX")
        .arg(RECEIPT_TTL_MS)
        .ignore();
    let _: Vec<Value> = conn.pipe_slot(&p).await?;
    super::fault("requeue-after-push");
    clear_staged(conn, k, marker).await?;
    let _: i64 = conn.query(redis::cmd("DEL").arg(&receipt)).await?;
    Ok(())
}

async fn clear_staged(conn: &Conn, k: &MoveKeys, marker: &str) -> RedisResult<()> {
    let script = redis::Script::new(CLEAR_STAGED);
    let mut inv = script.prepare_invoke();
    inv.key(&k.staging).key(&k.marker).arg(marker);
    conn.invoke::<i64>(&inv).await.map(|_| ())
}

/// What `recover` put right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Staged jobs pushed to their destination now (no receipt found).
    pub pushed: u64,
    /// Staged jobs already pushed before the crash (receipt found): cleared.
    pub already_pushed: u64,
    /// Kept (non-matching) jobs put back into the source.
    pub kept_restored: u64,
}

/// Finishes what an earlier run (or this one) left beside the source: a
/// staged batch, and the kept list. Idempotent; call under the lock.
pub async fn recover(conn: &Conn, k: &MoveKeys) -> RedisResult<Recovered> {
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
        let receipt = receipt_key(to, batch);
        let seen: bool = conn.query(redis::cmd("EXISTS").arg(&receipt)).await?;
        let n = staged.len() as u64;
        let marker = marker.unwrap_or_default();
        if seen {
            clear_staged(conn, k, &marker).await?;
            let _: i64 = conn.query(redis::cmd("DEL").arg(&receipt)).await?;
            r.already_pushed = n;
        } else {
            let mut jobs = staged;
            jobs.reverse();
            finish_staged(conn, k, to, batch, &marker, jobs).await?;
            r.pushed = n;
        }
    }
    loop {
        let (moved, left) = super::lists::restore_step(conn, &k.kept, &k.src, WINDOW).await?;
        r.kept_restored += moved;
        if left == 0 || moved == 0 {
            break;
        }
    }
    Ok(r)
}

/// The lock holder string for this process.
pub fn holder() -> String {
    format!(
        "{} {} {}",
        crate::actions::audit::host(),
        std::process::id(),
        batch_id()
    )
}

/// Room for a step when there is no limit.
pub const NO_LIMIT: u64 = u64::MAX >> 11;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_keys_share_the_source_slot() {
        let k = MoveKeys::new("jobqueue:dead_letter", "jobqueue:high_priority");
        for side in [&k.kept, &k.staging, &k.marker, &k.lock] {
            assert_eq!(
                key_slot(side.as_bytes()),
                key_slot(k.src.as_bytes()),
                "{side}"
            );
        }
        let r = receipt_key("{q}:high", "abc");
        assert_eq!(key_slot(r.as_bytes()), key_slot(b"{q}:high"));
    }
}
