//! Copying a list into another list on another server, idempotently:
//! a job whose identity is already in the target is skipped. Identities
//! are 64-bit fingerprints (of the job id, or of the exact bytes of a
//! payload that is not JSON with an id), so a target of millions of jobs
//! costs 8 bytes per job, and the source is streamed in windows.

use super::guard::{self, Needed};
use super::slots::sibling_key;
use crate::connect::Conn;
use redis::{RedisResult, Value};
use std::hash::BuildHasher;

/// Jobs read (and pushed) per round trip.
pub(crate) const WINDOW: i64 = 5_000;

/// How jobs are told apart: by `id` (a copy of go-redis-work-queue jobs:
/// the SPEC's rule), by `jid` (a copy of Sidekiq jobs), or by their exact
/// bytes (a move: a job leaves the source only when the very same payload
/// is on the target, so a different job that happens to share its id never
/// stands in for it). `Hash`: jobs kept each in its own hash, the lists
/// and sets holding only ids (BullMQ, RQ): told by that id, copied by
/// `hashed_copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Identity {
    Id,
    Jid,
    Hash,
}

impl Identity {
    pub(crate) fn of(self, job: &[u8]) -> u64 {
        match self {
            Identity::Id => fingerprint(job),
            Identity::Jid => match jid_ref(job) {
                Some(jid) => HASH.hash_one((b'i', jid.as_bytes())),
                None => bytes_fingerprint(job),
            },
            Identity::Hash => HASH.hash_one((b'i', job)),
        }
    }
}

/// One fixed seed: fingerprints must agree between runs and processes.
const HASH: foldhash::fast::FixedState = foldhash::fast::FixedState::with_seed(0x7163_746c);

/// A job's identity by its exact bytes.
fn bytes_fingerprint(job: &[u8]) -> u64 {
    HASH.hash_one((b'b', job))
}

/// The identity of a job: its `id` when it has one, else its bytes.
pub(crate) fn fingerprint(job: &[u8]) -> u64 {
    match super::gowork::job_id_ref(job) {
        Some(id) => HASH.hash_one((b'i', id.as_bytes())),
        None => bytes_fingerprint(job),
    }
}

/// A Sidekiq job's `jid` (a string); `None` when the payload is not JSON
/// with one.
fn jid_ref(bytes: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct JidOnly<'a> {
        #[serde(borrow, default)]
        jid: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<JidOnly>(bytes).ok()?.jid
}

/// A set of fingerprints: sorted, with an index on the top 16 bits, so a
/// lookup reads one index slot and a short run of the array (fingerprints
/// are uniform) instead of ~20 cache lines of a plain binary search over
/// megabytes. 8 bytes a job plus 256 KiB.
#[derive(Debug, Default, Clone)]
pub(crate) struct Fingerprints {
    sorted: Vec<u64>,
    /// `index[b]` = the first position whose top 16 bits are >= b.
    index: Vec<u32>,
}

impl Fingerprints {
    pub(crate) fn new(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        if v.is_empty() {
            return Fingerprints::default();
        }
        let mut index = Vec::with_capacity((1 << 16) + 1);
        let mut pos = 0usize;
        for b in 0..=(1u64 << 16) {
            while pos < v.len() && (v[pos] >> 48) < b {
                pos += 1;
            }
            index.push(pos as u32);
        }
        Fingerprints { sorted: v, index }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub(crate) fn contains(&self, f: u64) -> bool {
        if self.sorted.is_empty() {
            return false;
        }
        let b = (f >> 48) as usize;
        let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
        self.sorted[lo..hi].binary_search(&f).is_ok()
    }
}

/// The fingerprints of every job in `key`, by `identity`.
pub(crate) async fn fingerprints_by(
    conn: &Conn,
    key: &str,
    identity: Identity,
) -> RedisResult<Fingerprints> {
    let mut out = Vec::new();
    let mut off: i64 = 0;
    loop {
        let page: Vec<Vec<u8>> = conn
            .query(redis::cmd("LRANGE").arg(key).arg(off).arg(off + WINDOW - 1))
            .await?;
        out.extend(page.iter().map(|j| identity.of(j)));
        if (page.len() as i64) < WINDOW {
            break;
        }
        off += WINDOW;
    }
    Ok(Fingerprints::new(out))
}

/// One window of the source, counted from the consumer end (the right):
/// window `n` holds the jobs at right-offsets `n*WINDOW ..`, oldest first.
pub(crate) async fn source_window(conn: &Conn, key: &str, n: i64) -> RedisResult<Vec<Vec<u8>>> {
    let off = n * WINDOW;
    let mut page: Vec<Vec<u8>> = conn
        .query(
            redis::cmd("LRANGE")
                .arg(key)
                .arg(-(off + WINDOW))
                .arg(-(off + 1)),
        )
        .await?;
    page.reverse();
    Ok(page)
}

/// The windows of a source list, oldest first, read by a task of their
/// own up to two windows ahead of the reader (so reading overlaps the work
/// done on each). Ends after the first short window or an error; dropping
/// it stops the task.
pub(crate) struct Windows {
    rx: tokio::sync::mpsc::Receiver<RedisResult<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Windows {
    pub(crate) fn start(conn: &Conn, key: &str) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        let conn = conn.clone();
        let key = key.to_string();
        let task = tokio::spawn(async move {
            let mut n = 0;
            loop {
                let w = source_window(&conn, &key, n).await;
                let last = w.as_ref().map_or(true, |w| (w.len() as i64) < WINDOW);
                if tx.send(w).await.is_err() || last {
                    break;
                }
                n += 1;
            }
        });
        Windows { rx, task }
    }

    pub(crate) async fn next(&mut self) -> Option<RedisResult<Vec<Vec<u8>>>> {
        self.rx.recv().await
    }
}

impl Drop for Windows {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Splits a window into the jobs to copy (in order) and the number already
/// in the target, by `identity`.
pub(crate) fn missing_by<'a>(
    window: &'a [Vec<u8>],
    existing: &Fingerprints,
    identity: Identity,
) -> (Vec<&'a [u8]>, u64) {
    if existing.is_empty() {
        return (window.iter().map(Vec::as_slice).collect(), 0);
    }
    let mut dup = 0;
    let out = window
        .iter()
        .filter(|j| {
            let there = existing.contains(identity.of(j));
            dup += u64::from(there);
            !there
        })
        .map(Vec::as_slice)
        .collect();
    (out, dup)
}

/// The lock of a queue that replicate reads from with `--move` or writes
/// into: one key for both roles, so two runs in opposite directions, or two
/// into one target, never overlap.
pub(crate) fn queue_lock(key: &str) -> String {
    sibling_key(key, "qctl-replicate:lock")
}

/// The keys a `--move` uses beside a source list, in its hash slot: the
/// staging list a window waits in while it is copied, the id of that
/// window (targets keep receipts by it), and the lock that keeps a second
/// move, or a copy into this queue, off it.
#[derive(Debug, Clone)]
pub(crate) struct MoveKeys {
    pub(crate) src: String,
    pub(crate) staging: String,
    pub(crate) marker: String,
    pub(crate) lock: String,
}

impl MoveKeys {
    pub(crate) fn new(src: &str) -> Self {
        MoveKeys {
            src: src.to_string(),
            staging: sibling_key(src, "qctl-move:staging"),
            marker: sibling_key(src, "qctl-move:window"),
            lock: queue_lock(src),
        }
    }

    /// Every command a move sends to the source (for `ACL DRYRUN`).
    pub(crate) fn needed(&self) -> Vec<Needed> {
        let mut n = Needed::scripts(&[&self.src, &self.staging]);
        n.extend(lock_needed(&self.lock));
        n.extend([
            Needed::new("LRANGE", &self.src, &["0", "-1"]),
            Needed::new("LTRIM", &self.src, &["0", "-1"]),
            Needed::new("RPUSH", &self.staging, &["x"]),
            Needed::new("LRANGE", &self.staging, &["0", "-1"]),
            Needed::new("SET", &self.marker, &["x"]),
            Needed::new("GET", &self.marker, &[]),
            Needed::new("UNLINK", &self.staging, &[]),
        ]);
        n
    }
}

/// The commands of taking, refreshing and releasing a lock.
pub(crate) fn lock_needed(lock: &str) -> Vec<Needed> {
    vec![
        Needed::new("SET", lock, &["x", "PX", "1000"]),
        Needed::new("GET", lock, &[]),
        Needed::new("PEXPIRE", lock, &["1000"]),
        Needed::new("DEL", lock, &[]),
    ]
}

/// Where a target names its queues (Sidekiq's SET `queues`): every push
/// into `dst` also adds `name` to `set`, in the same step, so the queue is
/// never invisible to the system's own API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Register {
    pub(crate) set: String,
    pub(crate) name: String,
}

/// Every command a copy (or, with `receipts`, a move) sends to a target.
pub(crate) fn target_needed(dst: &str, receipts: bool, register: Option<&Register>) -> Vec<Needed> {
    let lock = queue_lock(dst);
    let mut n = Needed::scripts(&[dst, &lock]);
    n.extend(lock_needed(&lock));
    n.push(Needed::new("LPUSH", dst, &["x"]));
    n.push(Needed::new("WATCH", &lock, &[]));
    n.push(Needed(vec!["MULTI".into()]));
    n.push(Needed(vec!["EXEC".into()]));
    if let Some(r) = register {
        n.push(Needed::new("SADD", &r.set, &["x"]));
    }
    if receipts {
        let r = super::requeue::receipts_key(dst);
        n.extend([
            Needed::new("ZSCORE", &r, &["x"]),
            Needed::new("ZADD", &r, &["0", "x"]),
            Needed::new("ZREMRANGEBYSCORE", &r, &["0", "0"]),
            Needed::new("PEXPIRE", &r, &["1000"]),
        ]);
    }
    n
}

/// Moves up to ARGV[1] jobs from the consumer end of KEYS[1] into the
/// staging list KEYS[2] (same order: its consumer end is the oldest), names
/// the window ARGV[4] in KEYS[4], and returns them oldest first, if the
/// lock KEYS[3] is held by ARGV[2] (refreshed to ARGV[3] ms). Refuses while
/// staging holds jobs: a window is claimed only once the previous one is
/// confirmed everywhere. Copies before it trims.
const CLAIM: &str = r#"
qctl_may({'RPUSH', KEYS[2], 'x'}, {'SET', KEYS[4], 'x'}, {'LTRIM', KEYS[1], '0', '-1'},
  {'PEXPIRE', KEYS[3], '1'})
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return redis.error_reply('QCTLLOCK the move lock ' .. KEYS[3] .. ' is no longer held by this run')
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if redis.call('LLEN', KEYS[2]) > 0 then
  return redis.error_reply('QCTLSTAGED ' .. KEYS[2] .. ' still holds jobs of an earlier window')
end
local items = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local n = #items
if n == 0 then return {} end
for i = 1, n, 1000 do
  redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, n)))
end
redis.call('SET', KEYS[4], ARGV[4])
redis.call('LTRIM', KEYS[1], 0, -n - 1)
local out = {}
for i = n, 1, -1 do out[#out + 1] = items[i] end
return out
"#;

/// Drops the staging list KEYS[1] and its window id KEYS[3] if the lock
/// KEYS[2] is held by ARGV[1].
const CLEAR: &str = r#"
qctl_may({'UNLINK', KEYS[1]})
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the move lock ' .. KEYS[2] .. ' is no longer held by this run')
end
return redis.call('UNLINK', KEYS[1], KEYS[3])
"#;

/// Pushes jobs into a target list, fenced by its lock. KEYS: dst, lock[,
/// receipts][, registry]. ARGV: holder, window id, now ms, receipt ttl ms,
/// `1` with receipts (a move), the queue's name for the registry (`""`:
/// none), jobs oldest first. With receipts, a window already receipted is
/// not pushed again (returns -1). Returns the number pushed.
const PUSH: &str = r#"
local moving = ARGV[5] == '1'
local reg = nil
if ARGV[6] ~= '' then reg = KEYS[moving and 4 or 3] end
qctl_may({'LPUSH', KEYS[1], 'x'}, moving and {'ZADD', KEYS[3], '0', 'x'} or {'GET', KEYS[2]},
  moving and {'ZREMRANGEBYSCORE', KEYS[3], '0', '0'} or {'GET', KEYS[2]},
  moving and {'PEXPIRE', KEYS[3], '1'} or {'GET', KEYS[2]},
  reg and {'SADD', reg, 'x'} or {'GET', KEYS[2]})
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the replicate lock ' .. KEYS[2] .. ' is no longer held by this run')
end
if #ARGV == 6 then return 0 end
if moving and redis.call('ZSCORE', KEYS[3], ARGV[2]) then return -1 end
if reg then redis.call('SADD', reg, ARGV[6]) end
for i = 7, #ARGV, 1000 do
  redis.call('LPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if moving then
  local now = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[3], now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[4]))
  redis.call('PEXPIRE', KEYS[3], ARGV[4])
end
return #ARGV - 6
"#;

/// How long a move's receipts outlive their window.
const RECEIPT_TTL_MS: u64 = 24 * 3600 * 1000;

/// Pushes `jobs` (oldest first) into `dst` if this run holds its lock.
/// With `window` (a move), at most once per window id: `Ok(None)` when the
/// target already had that window. With no jobs it writes nothing and only
/// checks (the ACL and the lock): a move probes every target so before it
/// takes the first window out of the source. With `register`, the queue is
/// added to the target's registry set in the same step (on a cluster whose
/// registry is in another slot, by an SADD just before: a queue named
/// there with no jobs yet is harmless).
pub(crate) async fn push_fenced(
    conn: &Conn,
    dst: &str,
    register: Option<&Register>,
    holder: &str,
    window: Option<&str>,
    jobs: &[&[u8]],
) -> RedisResult<Option<u64>> {
    let mut register = register;
    if let Some(r) = register
        && conn.is_cluster()
        && super::slots::key_slot(r.set.as_bytes()) != super::slots::key_slot(dst.as_bytes())
    {
        if !jobs.is_empty() {
            conn.query::<i64>(redis::cmd("SADD").arg(&r.set).arg(&r.name))
                .await?;
        }
        register = None;
    }
    let script = guard::script(PUSH);
    let mut inv = script.prepare_invoke();
    inv.key(dst).key(queue_lock(dst));
    if window.is_some() {
        inv.key(super::requeue::receipts_key(dst));
    }
    if let Some(r) = register {
        inv.key(&r.set);
    }
    inv.arg(holder)
        .arg(window.unwrap_or(""))
        .arg(jiff::Timestamp::now().as_millisecond())
        .arg(RECEIPT_TTL_MS)
        .arg(if window.is_some() { "1" } else { "0" })
        .arg(register.map_or("", |r| r.name.as_str()));
    for j in jobs {
        inv.arg(*j);
    }
    let n: i64 = conn.invoke(&inv).await?;
    Ok((n >= 0).then_some(n as u64))
}

/// A copy's push on a standalone target, fenced without a script: `WATCH`
/// the target's lock, check it is this run's, then `MULTI; [SADD]; LPUSH;
/// EXEC`, which Redis aborts if the lock changed (was refreshed, expired,
/// or taken by another run) since the WATCH; a refresh by this run's own
/// keeper is retried. A plain LPUSH costs the server about a third of the
/// same push through a script. `conn` must be this push's own connection
/// (WATCH and MULTI are per connection): nothing else may use it.
pub(crate) async fn push_watched(
    conn: &Conn,
    dst: &str,
    register: Option<&Register>,
    holder: &str,
    jobs: &[&[u8]],
) -> RedisResult<u64> {
    let lock = queue_lock(dst);
    for _ in 0..8 {
        // WATCH, GET and MULTI in one round trip; each must answer, or the
        // fence is not up (were MULTI refused, say by an ACL, a pipelined
        // LPUSH would run at once, unfenced): the LPUSH is sent only after.
        let mut w = redis::pipe();
        w.cmd("WATCH")
            .arg(&lock)
            .cmd("GET")
            .arg(&lock)
            .cmd("MULTI")
            .ignore_errors();
        let opened: Vec<Value> = conn.pipe_slot(&w).await?;
        let discard = || async {
            let _ = conn.query::<Value>(&redis::cmd("DISCARD")).await;
            let _ = conn.query::<Value>(&redis::cmd("UNWATCH")).await;
        };
        if let Err(e) = refused(opened.first()).and(refused(opened.get(2))) {
            discard().await;
            return Err(e);
        }
        let cur = match opened.get(1) {
            Some(Value::BulkString(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        if cur.as_deref() != Some(holder) {
            discard().await;
            return Err(lost_lock(&lock));
        }
        let mut t = redis::pipe();
        if let Some(r) = register {
            t.cmd("SADD").arg(&r.set).arg(&r.name);
        }
        t.cmd("LPUSH")
            .arg(dst)
            .arg(jobs)
            .cmd("EXEC")
            .ignore_errors();
        let replies: Vec<Value> = conn.pipe_slot(&t).await?;
        match replies.last() {
            // EXEC's reply: the queued commands' replies, or nil when a
            // watched key changed (this run's keeper refreshed the lock, or
            // another run took it): look again.
            Some(Value::Array(_)) => return Ok(jobs.len() as u64),
            Some(Value::Nil) => continue,
            other => {
                // A queued command refused (EXECABORT): nothing ran.
                for r in &replies {
                    refused(Some(r))?;
                }
                refused(other)?;
                return Err(lost_lock(&lock));
            }
        }
    }
    Err(lost_lock(&lock))
}

/// An error reply as an error.
fn refused(v: Option<&Value>) -> RedisResult<()> {
    match v {
        Some(Value::ServerError(e)) => Err(e.clone().into()),
        _ => Ok(()),
    }
}

fn lost_lock(lock: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "QCTLLOCK",
        format!("the replicate lock {lock} is no longer held by this run"),
    ))
}

/// Extends the lock KEYS[1] to ARGV[2] ms if ARGV[1] still holds it.
const REFRESH: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Keeps a lock alive while a run holds it (every third of its TTL), so a
/// slow step (reading a big target's fingerprints, a slow push) never lets
/// it lapse; stops when dropped. A process that stalls stops refreshing:
/// its lock lapses, and every later step of it is refused by its fence.
pub(crate) struct LockKeeper(tokio::task::JoinHandle<()>);

impl LockKeeper {
    pub(crate) fn start(conn: &Conn, lock: &str, holder: &str) -> Self {
        let (conn, lock, holder) = (conn.clone(), lock.to_string(), holder.to_string());
        LockKeeper(tokio::spawn(async move {
            let ttl = super::requeue::lock_ttl();
            loop {
                tokio::time::sleep(ttl / 3).await;
                let script = redis::Script::new(REFRESH);
                let mut inv = script.prepare_invoke();
                inv.key(&lock).arg(&holder).arg(ttl.as_millis() as u64);
                let _ = conn.invoke::<i64>(&inv).await;
            }
        }))
    }
}

impl Drop for LockKeeper {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Claims the next window of a move (see `CLAIM`), naming it `window`.
pub(crate) async fn claim(
    conn: &Conn,
    k: &MoveKeys,
    holder: &str,
    n: i64,
    window: &str,
) -> RedisResult<Vec<Vec<u8>>> {
    let script = guard::script(CLAIM);
    let mut inv = script.prepare_invoke();
    inv.key(&k.src)
        .key(&k.staging)
        .key(&k.lock)
        .key(&k.marker)
        .arg(n)
        .arg(holder)
        .arg(super::requeue::lock_ttl().as_millis() as u64)
        .arg(window);
    let jobs: Vec<Vec<u8>> = conn.invoke(&inv).await?;
    Ok(jobs)
}

/// What an interrupted move left in staging, oldest first, with its window
/// id (a fresh one when an older qctl left it without one).
pub(crate) async fn staged(conn: &Conn, k: &MoveKeys) -> RedisResult<(Vec<Vec<u8>>, String)> {
    let mut jobs: Vec<Vec<u8>> = conn
        .query(redis::cmd("LRANGE").arg(&k.staging).arg(0).arg(-1))
        .await?;
    jobs.reverse();
    let id: Option<String> = conn.query(redis::cmd("GET").arg(&k.marker)).await?;
    Ok((jobs, id.unwrap_or_else(super::requeue::batch_id)))
}

/// The staging list's length (0 when there is none).
pub(crate) async fn staged_len(conn: &Conn, k: &MoveKeys) -> RedisResult<u64> {
    conn.query(redis::cmd("LLEN").arg(&k.staging)).await
}

/// Drops the staging list once its window is confirmed on every target.
pub(crate) async fn clear_staging(conn: &Conn, k: &MoveKeys, holder: &str) -> RedisResult<()> {
    let script = guard::script(CLEAR);
    let mut inv = script.prepare_invoke();
    inv.key(&k.staging).key(&k.lock).key(&k.marker).arg(holder);
    conn.invoke::<i64>(&inv).await.map(|_| ())
}

/// A sorted set's entry: the member (a job) and its score as Redis prints
/// it, so writing it back gives the very same double.
pub(crate) type Scored = (Vec<u8>, String);

/// Pairs a `WITHSCORES` reply (flat in RESP2, pairs in RESP3).
pub(crate) fn scored(v: Vec<redis::Value>) -> RedisResult<Vec<Scored>> {
    use redis::Value;
    fn text(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::BulkString(b) => Some(b.clone()),
            Value::SimpleString(s) => Some(s.clone().into_bytes()),
            Value::Double(f) => Some(f.to_string().into_bytes()),
            Value::Int(n) => Some(n.to_string().into_bytes()),
            _ => None,
        }
    }
    let bad = || {
        redis::RedisError::from((
            redis::ErrorKind::Client,
            "unexpected ZRANGE WITHSCORES reply",
        ))
    };
    let mut out = Vec::with_capacity(v.len() / 2);
    let mut it = v.into_iter();
    while let Some(first) = it.next() {
        let (m, s) = match first {
            Value::Array(pair) if pair.len() == 2 => (text(&pair[0]), text(&pair[1])),
            m => {
                let s = it.next().ok_or_else(bad)?;
                (text(&m), text(&s))
            }
        };
        let (Some(m), Some(s)) = (m, s) else {
            return Err(bad());
        };
        out.push((m, String::from_utf8(s).map_err(|_| bad())?));
    }
    Ok(out)
}

/// Window `n` of a sorted set by rank, lowest score first (the oldest
/// death first), with scores.
pub(crate) async fn zset_window(conn: &Conn, key: &str, n: i64) -> RedisResult<Vec<Scored>> {
    let off = n * WINDOW;
    let v: Vec<redis::Value> = conn
        .query(
            redis::cmd("ZRANGE")
                .arg(key)
                .arg(off)
                .arg(off + WINDOW - 1)
                .arg("WITHSCORES"),
        )
        .await?;
    scored(v)
}

/// The fingerprints of every member of the sorted set `key`, by `identity`.
pub(crate) async fn zset_fingerprints(
    conn: &Conn,
    key: &str,
    identity: Identity,
) -> RedisResult<Fingerprints> {
    let mut out = Vec::new();
    let mut off: i64 = 0;
    loop {
        let page: Vec<Vec<u8>> = conn
            .query(redis::cmd("ZRANGE").arg(key).arg(off).arg(off + WINDOW - 1))
            .await?;
        out.extend(page.iter().map(|j| identity.of(j)));
        if (page.len() as i64) < WINDOW {
            break;
        }
        off += WINDOW;
    }
    Ok(Fingerprints::new(out))
}

/// Splits a window of entries into those to copy (in order) and the number
/// already in the target.
pub(crate) fn zset_missing<'a>(
    window: &'a [Scored],
    existing: &Fingerprints,
    identity: Identity,
) -> (Vec<&'a Scored>, u64) {
    let mut dup = 0;
    let out = window
        .iter()
        .filter(|(m, _)| {
            let there = !existing.is_empty() && existing.contains(identity.of(m));
            dup += u64::from(there);
            !there
        })
        .collect();
    (out, dup)
}

/// Every command a copy sends to a sorted-set target.
pub(crate) fn zset_target_needed(dst: &str) -> Vec<Needed> {
    let lock = queue_lock(dst);
    let mut n = Needed::scripts(&[dst, &lock]);
    n.extend(lock_needed(&lock));
    n.push(Needed::new("ZADD", dst, &["NX", "0", "x"]));
    n
}

/// Adds entries to a target sorted set with their scores, never changing
/// one already there (`NX`), if the lock KEYS[2] is held by ARGV[1]. ARGV:
/// holder, then score, member pairs. Returns the number added.
const ZADD: &str = r#"
qctl_may({'ZADD', KEYS[1], 'NX', '0', 'x'})
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the replicate lock ' .. KEYS[2] .. ' is no longer held by this run')
end
local n = 0
for i = 2, #ARGV, 1000 do
  n = n + redis.call('ZADD', KEYS[1], 'NX', unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
return n
"#;

/// Adds `entries` to the sorted set `dst`, scores kept, if this run holds
/// its lock. Returns how many were added.
pub(crate) async fn zadd_fenced(
    conn: &Conn,
    dst: &str,
    holder: &str,
    entries: &[&Scored],
) -> RedisResult<u64> {
    let script = guard::script(ZADD);
    let mut inv = script.prepare_invoke();
    inv.key(dst).key(queue_lock(dst)).arg(holder);
    for (m, s) in entries {
        inv.arg(s.as_str()).arg(m.as_slice());
    }
    let n: i64 = conn.invoke(&inv).await?;
    Ok(n.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_id_or_the_bytes() {
        let a = br#"{"id":"j1","retries":0}"#;
        let b = br#"{"retries":3, "id":"j1"}"#;
        assert_eq!(fingerprint(a), fingerprint(b), "same id, same job");
        assert_ne!(fingerprint(a), fingerprint(br#"{"id":"j2"}"#));
        assert_ne!(fingerprint(b"not json"), fingerprint(b"not json "));
        assert_ne!(fingerprint(b"j1"), fingerprint(a));
        let existing = Fingerprints::new(vec![fingerprint(a)]);
        let window = vec![b.to_vec(), b"x".to_vec()];
        let (out, dup) = missing_by(&window, &existing, Identity::Id);
        assert_eq!(dup, 1);
        assert_eq!(out, vec![&b"x"[..]]);
    }

    #[test]
    fn sidekiq_jobs_are_told_by_jid() {
        let a = br#"{"class":"A","jid":"9f31","args":[1]}"#;
        let b = br#"{"jid":"9f31","class":"A","args":[1],"retry_count":2}"#;
        let j = Identity::Jid;
        assert_eq!(j.of(a), j.of(b));
        assert_ne!(j.of(a), j.of(br#"{"jid":"9f32"}"#));
        assert_ne!(j.of(b"not json"), j.of(b"not json "));
        // An `id` is not a jid.
        assert_ne!(j.of(br#"{"id":"9f31"}"#), j.of(a));
    }

    #[test]
    fn withscores_replies_pair_up() {
        use redis::Value;
        let flat = vec![
            Value::BulkString(b"m1".to_vec()),
            Value::BulkString(b"1796174743.7777090072631836".to_vec()),
        ];
        assert_eq!(
            scored(flat).unwrap(),
            vec![(b"m1".to_vec(), "1796174743.7777090072631836".to_string())]
        );
        let nested = vec![Value::Array(vec![
            Value::BulkString(b"m2".to_vec()),
            Value::Double(1.5),
        ])];
        assert_eq!(
            scored(nested).unwrap(),
            vec![(b"m2".to_vec(), "1.5".into())]
        );
        assert!(scored(vec![Value::BulkString(b"m".to_vec())]).is_err());
    }
}

#[cfg(test)]
mod set_tests {
    use super::*;

    #[test]
    fn the_index_finds_every_member_and_no_other() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let members: Vec<u64> = (0..50_000).map(|_| next()).collect();
        let mut edge = members.clone();
        edge.extend([0, u64::MAX, 1 << 48, (1 << 48) - 1]);
        let set = Fingerprints::new(edge.clone());
        for m in &edge {
            assert!(set.contains(*m), "{m:x}");
        }
        let mut sorted = edge.clone();
        sorted.sort_unstable();
        for _ in 0..50_000 {
            let o = next();
            assert_eq!(set.contains(o), sorted.binary_search(&o).is_ok());
        }
        assert!(!Fingerprints::new(Vec::new()).contains(0));
    }
}

#[cfg(test)]
mod move_tests {
    use super::*;
    use crate::systems::slots::key_slot;

    #[test]
    fn move_keys_share_the_source_slot() {
        for src in ["jobqueue:high_priority", "{q}:dead", "a}b"] {
            let k = MoveKeys::new(src);
            for side in [&k.staging, &k.lock, &k.marker] {
                assert_eq!(
                    key_slot(side.as_bytes()),
                    key_slot(src.as_bytes()),
                    "{side}"
                );
            }
        }
    }
}
