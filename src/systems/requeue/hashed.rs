//! `requeue --from dead|scheduled` out of a sorted set of ids whose jobs
//! live in hashes (BullMQ's `:failed` and `:delayed`, RQ's failed and
//! scheduled registries): each chosen job back to its queue exactly once,
//! while the framework's workers (and its own schedulers) run.
//!
//! The protocol is shared; what one job's return means is the system's
//! own: a Lua fragment ([`HashedMove::body`]) that does to the job what
//! the framework's own retry does (BullMQ `job.retry()`: the fields it
//! clears, the wait list or the prioritized set, the marker, the events
//! stream entry; RQ `rq requeue`: `status`, the origin queue), but in the
//! same server-side step as the removal from the set. Each step is one
//! script: the ACL prelude for every command the fragment may run, the
//! run's lock (fencing: a run that stalled past its lock stops), then per
//! id chosen from a window read just before: still in the set (`ZSCORE`)
//! and its hash still there, else it is left alone and counted; the
//! fragment moves it. A crash at any instant leaves each job either in its
//! set or back in its queue, never both, never neither.

use crate::connect::Conn;
use crate::systems::glob::Glob;
use crate::systems::guard::{self, Needed};
use crate::systems::requeue::{self as mv, Pacer, StepCount};
use crate::systems::slots::sibling_key;
use redis::RedisResult;

/// How one system puts one job of one set back.
#[derive(Debug, Clone)]
pub(crate) struct HashedMove {
    /// The sorted set of ids.
    pub(crate) set: String,
    /// Keys the fragment uses, `KEYS[3]` on (declared to Redis).
    pub(crate) keys: Vec<String>,
    /// Constant arguments: the fragment's table `C` from `C[2]` (`C[1]`
    /// is `job_prefix`).
    pub(crate) consts: Vec<String>,
    /// A job's hash is `job_prefix .. id`.
    pub(crate) job_prefix: String,
    /// The hash fields `--match` looks at, as a JSON object of them.
    pub(crate) match_fields: Vec<&'static str>,
    /// Lua defining `qctl_checks()` (the `qctl_may` tables for every
    /// command `qctl_move` may run) and `qctl_move(id, job, reset, to)`,
    /// called only for an id still in `KEYS[1]` whose hash `job` exists;
    /// it does the whole move, the `ZREM` from `KEYS[1]` included.
    pub(crate) body: &'static str,
    /// What the fragment sends, for `ACL DRYRUN`.
    pub(crate) needed: Vec<Needed>,
    /// Whether `--to` can send a job to another queue (RQ: its hash is
    /// global; BullMQ: no, the hash is named after its queue).
    pub(crate) takes_to: bool,
    /// The ids to consider, known up front (orphans found in a list or
    /// by score), instead of the set's lowest-scored ids; `qctl_move`
    /// then checks each itself and returns 1 (moved), 0 (no longer an
    /// orphan: left alone) or -1 (its hash is gone).
    pub(crate) ids: Option<Vec<String>>,
}

impl HashedMove {
    /// The run's lock, beside the set.
    pub(crate) fn lock(&self) -> String {
        sibling_key(&self.set, "qctl-requeue:lock")
    }

    /// Every command a run sends, for `ACL DRYRUN`.
    pub(crate) fn needed(&self) -> Vec<Needed> {
        let lock = self.lock();
        let mut keys: Vec<&str> = vec![&self.set, &lock];
        keys.extend(self.keys.iter().map(String::as_str));
        let mut n = Needed::scripts(&keys);
        n.extend([
            Needed::new("SET", &lock, &["x", "PX", "1000"]),
            Needed::new("GET", &lock, &[]),
            Needed::new("PEXPIRE", &lock, &["1000"]),
            Needed::new("DEL", &lock, &[]),
            Needed::new("ZRANGE", &self.set, &["0", "-1"]),
            Needed::new("ZSCORE", &self.set, &["x"]),
            Needed::new("ZREM", &self.set, &["x"]),
        ]);
        n.extend(self.needed.iter().cloned());
        n
    }
}

/// What a run asks of each job.
#[derive(Debug, Clone, Default)]
pub(crate) struct Choice {
    pub(crate) glob: Option<Glob>,
    pub(crate) reset_retries: bool,
    /// Every job to this queue instead of its own (where the system can).
    pub(crate) to: Option<String>,
}

/// KEYS: set, lock, then the system's. ARGV: holder, lock ttl ms, the
/// number of constants, the constants, reset ('1'/'0'), to ('' for each
/// job's own), then the ids. Returns {moved, gone, missing}.
const FRAME: &str = r#"
local C = {}
local nc = tonumber(ARGV[3])
for i = 1, nc do C[i] = ARGV[3 + i] end
local reset = ARGV[4 + nc] == '1'
local to = ARGV[5 + nc]
if to == '' then to = nil end
"#;

const LOOP: &str = r#"
local checks = qctl_checks(to)
checks[#checks + 1] = {'PEXPIRE', KEYS[2], '1'}
checks[#checks + 1] = {'ZREM', KEYS[1], 'x'}
qctl_may(unpack(checks))
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[2] .. ' is no longer held by this run')
end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local moved, gone, missing = 0, 0, 0
for i = 6 + nc, #ARGV do
  local id = ARGV[i]
  if qctl_checks_itself then
    local r = qctl_move(id, C[1] .. id, reset, to)
    if r == 1 then moved = moved + 1 elseif r == 0 then gone = gone + 1 else missing = missing + 1 end
  elseif not redis.call('ZSCORE', KEYS[1], id) then
    gone = gone + 1
  elseif redis.call('EXISTS', C[1] .. id) == 0 then
    missing = missing + 1
  else
    qctl_move(id, C[1] .. id, reset, to)
    moved = moved + 1
  end
end
return {moved, gone, missing}
"#;

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Moved {
    pub(crate) count: StepCount,
    /// Ids no longer in the set (taken by the framework or another tool
    /// since the window was read).
    pub(crate) gone: u64,
    /// Ids in the set whose hash is gone: left alone.
    pub(crate) missing: u64,
}

/// The match text of one job: its `match_fields` as a JSON object (values
/// that are JSON themselves embedded as JSON).
fn match_text(m: &HashedMove, values: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut obj = serde_json::Map::new();
    for (f, v) in m.match_fields.iter().zip(values) {
        let Some(v) = v else { continue };
        let val = match serde_json::from_slice::<serde_json::Value>(v) {
            Ok(j @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => j,
            _ => serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
        };
        obj.insert((*f).to_string(), val);
    }
    serde_json::to_vec(&serde_json::Value::Object(obj)).unwrap_or_default()
}

/// The ids among `ids` that the glob chooses (all without one).
async fn chosen(
    conn: &Conn,
    m: &HashedMove,
    c: &Choice,
    ids: Vec<String>,
) -> RedisResult<Vec<String>> {
    let Some(g) = &c.glob else {
        return Ok(ids);
    };
    let mut p = redis::pipe();
    for id in &ids {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(format!("{}{id}", m.job_prefix))
            .arg(&m.match_fields);
        p.add_command(cmd);
    }
    let rows: Vec<Vec<Option<Vec<u8>>>> = if ids.is_empty() {
        Vec::new()
    } else {
        conn.pipe_slot(&p).await?
    };
    Ok(ids
        .into_iter()
        .zip(rows)
        .filter(|(_, r)| g.matches(&match_text(m, r)))
        .map(|(id, _)| id)
        .collect())
}

/// The jobs of the set that would move, up to `limit` (for the plan).
pub(crate) async fn count(conn: &Conn, m: &HashedMove, c: &Choice, limit: u64) -> RedisResult<u64> {
    const READ: i64 = 2_000;
    if c.glob.is_none() {
        let n: u64 = conn.query(redis::cmd("ZCARD").arg(&m.set)).await?;
        return Ok(n.min(limit));
    }
    let mut found = 0u64;
    let mut off: i64 = 0;
    loop {
        let ids: Vec<String> = conn
            .query(
                redis::cmd("ZRANGE")
                    .arg(&m.set)
                    .arg(off)
                    .arg(off + READ - 1),
            )
            .await?;
        let n = ids.len() as i64;
        found += chosen(conn, m, c, ids).await?.len() as u64;
        if found >= limit {
            return Ok(limit);
        }
        if n < READ {
            return Ok(found);
        }
        off += READ;
    }
}

/// One step: reads up to `window` of the lowest-scored ids from `start`,
/// chooses, and moves the chosen ones (at most `room`).
pub(crate) async fn step(
    conn: &Conn,
    m: &HashedMove,
    c: &Choice,
    start: u64,
    window: u64,
    room: u64,
    holder: &str,
) -> RedisResult<Moved> {
    let ids: Vec<String> = match &m.ids {
        Some(all) => all
            .iter()
            .skip(start as usize)
            .take(window.max(1) as usize)
            .cloned()
            .collect(),
        None => {
            conn.query(
                redis::cmd("ZRANGE")
                    .arg(&m.set)
                    .arg(start)
                    .arg(start + window.max(1) - 1),
            )
            .await?
        }
    };
    let read = ids.len() as u64;
    let bytes = ids.iter().map(|i| i.len() as u64).sum();
    let mut picks = chosen(conn, m, c, ids).await?;
    picks.truncate(room as usize);
    let mut out = Moved {
        count: StepCount {
            moved: 0,
            taken: read,
            bytes,
        },
        ..Moved::default()
    };
    if picks.is_empty() {
        return Ok(out);
    }
    let script = guard::script(&format!(
        "{FRAME}\nlocal qctl_checks_itself = {}\n{}\n{LOOP}",
        m.ids.is_some(),
        m.body
    ));
    let mut inv = script.prepare_invoke();
    inv.key(&m.set).key(m.lock());
    for k in &m.keys {
        inv.key(k);
    }
    inv.arg(holder)
        .arg(mv::lock_ttl().as_millis() as u64)
        .arg(m.consts.len() + 1)
        .arg(&m.job_prefix);
    for k in &m.consts {
        inv.arg(k);
    }
    inv.arg(if c.reset_retries { "1" } else { "0" })
        .arg(c.to.as_deref().unwrap_or(""));
    for id in &picks {
        inv.arg(id);
    }
    crate::systems::fault("hashed-before-move");
    let (moved, gone, missing): (u64, u64, u64) = conn.invoke(&inv).await?;
    out.count.moved = moved;
    out.gone = gone;
    out.missing = missing;
    Ok(out)
}

/// Ids per step at most: each costs a dozen commands inside the script.
pub(crate) const MAX_WINDOW: u64 = 300;

/// A fresh pacer for the steps.
pub(crate) fn pacer() -> Pacer {
    Pacer::default()
}
