//! Copying a list into another list on another server, idempotently:
//! a job whose identity is already in the target is skipped. Identities
//! are 64-bit fingerprints (of the job id, or of the exact bytes of a
//! payload that is not JSON with an id), so a target of millions of jobs
//! costs 8 bytes per job, and the source is streamed in windows.

use super::slots::sibling_key;
use crate::connect::Conn;
use redis::RedisResult;
use std::hash::BuildHasher;

/// Jobs read (and pushed) per round trip.
pub const WINDOW: i64 = 5_000;

/// How jobs are told apart: by `id` (a copy: the SPEC's rule), or by
/// their exact bytes (a move: a job leaves the source only when the very
/// same payload is on the target, so a different job that happens to
/// share its id never stands in for it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    Id,
    Bytes,
}

impl Identity {
    pub fn of(self, job: &[u8]) -> u64 {
        match self {
            Identity::Id => fingerprint(job),
            Identity::Bytes => {
                foldhash::fast::FixedState::with_seed(0x7163_746c).hash_one((b'b', job))
            }
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
pub fn fingerprint(job: &[u8]) -> u64 {
    match super::gowork::job_id_ref(job) {
        Some(id) => HASH.hash_one((b'i', id.as_bytes())),
        None => bytes_fingerprint(job),
    }
}

/// A set of fingerprints: sorted, with an index on the top 16 bits, so a
/// lookup reads one index slot and a short run of the array (fingerprints
/// are uniform) instead of ~20 cache lines of a plain binary search over
/// megabytes. 8 bytes a job plus 256 KiB.
#[derive(Debug, Default, Clone)]
pub struct Fingerprints {
    sorted: Vec<u64>,
    /// `index[b]` = the first position whose top 16 bits are >= b.
    index: Vec<u32>,
}

impl Fingerprints {
    pub fn new(mut v: Vec<u64>) -> Self {
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

    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    pub fn contains(&self, f: u64) -> bool {
        if self.sorted.is_empty() {
            return false;
        }
        let b = (f >> 48) as usize;
        let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
        self.sorted[lo..hi].binary_search(&f).is_ok()
    }
}

/// The fingerprints of every job in `key`.
pub async fn fingerprints(conn: &Conn, key: &str) -> RedisResult<Fingerprints> {
    fingerprints_by(conn, key, Identity::Id).await
}

/// The fingerprints of every job in `key`, by `identity`.
pub async fn fingerprints_by(
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
pub async fn source_window(conn: &Conn, key: &str, n: i64) -> RedisResult<Vec<Vec<u8>>> {
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
pub struct Windows {
    rx: tokio::sync::mpsc::Receiver<RedisResult<Vec<Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Windows {
    pub fn start(conn: &Conn, key: &str) -> Self {
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

    pub async fn next(&mut self) -> Option<RedisResult<Vec<Vec<u8>>>> {
        self.rx.recv().await
    }
}

impl Drop for Windows {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Splits a window into the jobs to copy (in order) and the number already
/// in the target.
pub fn missing<'a>(window: &'a [Vec<u8>], existing: &Fingerprints) -> (Vec<&'a [u8]>, u64) {
    missing_by(window, existing, Identity::Id)
}

/// `missing`, by `identity`.
pub fn missing_by<'a>(
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

/// The keys a `--move` uses beside a source list, in its hash slot: the
/// staging list a window waits in while it is copied, and the lock that
/// keeps a second move off the same source.
#[derive(Debug, Clone)]
pub struct MoveKeys {
    pub src: String,
    pub staging: String,
    pub lock: String,
}

impl MoveKeys {
    pub fn new(src: &str) -> Self {
        MoveKeys {
            src: src.to_string(),
            staging: sibling_key(src, "qctl-move:staging"),
            lock: sibling_key(src, "qctl-move:lock"),
        }
    }
}

/// Moves up to ARGV[1] jobs from the consumer end of KEYS[1] into the
/// staging list KEYS[2] (same order: its consumer end is the oldest) and
/// returns them oldest first, if the lock KEYS[3] is held by ARGV[2]
/// (refreshed to ARGV[3] ms). Refuses while staging holds jobs: a window is
/// claimed only once the previous one is confirmed everywhere.
const CLAIM: &str = r#"
if redis.call('GET', KEYS[3]) ~= ARGV[2] then
  return redis.error_reply('QCTLLOCK the move lock ' .. KEYS[3] .. ' is no longer held by this run')
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
if redis.call('LLEN', KEYS[2]) > 0 then
  return redis.error_reply('QCTLSTAGED ' .. KEYS[2] .. ' still holds jobs of an earlier window')
end
local jobs = redis.call('RPOP', KEYS[1], ARGV[1])
if not jobs then return {} end
for i = 1, #jobs, 1000 do
  redis.call('LPUSH', KEYS[2], unpack(jobs, i, math.min(i + 999, #jobs)))
end
return jobs
"#;

/// Drops the staging list KEYS[1] if the lock KEYS[2] is held by ARGV[1].
const CLEAR: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the move lock ' .. KEYS[2] .. ' is no longer held by this run')
end
return redis.call('UNLINK', KEYS[1])
"#;

/// Extends the lock KEYS[1] to ARGV[2] ms if ARGV[1] still holds it.
const REFRESH: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"#;

/// Keeps a move's lock alive while it runs (every third of its TTL), so a
/// slow step (reading a big target's fingerprints, a slow push) never lets
/// it lapse; stops when dropped.
pub struct LockKeeper(tokio::task::JoinHandle<()>);

impl LockKeeper {
    pub fn start(conn: &Conn, k: &MoveKeys, holder: &str) -> Self {
        let (conn, lock, holder) = (conn.clone(), k.lock.clone(), holder.to_string());
        LockKeeper(tokio::spawn(async move {
            let ttl = super::requeue::LOCK_TTL;
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

/// Claims the next window of a move (see `CLAIM`).
pub async fn claim(conn: &Conn, k: &MoveKeys, holder: &str, n: i64) -> RedisResult<Vec<Vec<u8>>> {
    let script = redis::Script::new(CLAIM);
    let mut inv = script.prepare_invoke();
    inv.key(&k.src)
        .key(&k.staging)
        .key(&k.lock)
        .arg(n)
        .arg(holder)
        .arg(super::requeue::LOCK_TTL.as_millis() as u64);
    let jobs: Vec<Vec<u8>> = conn.invoke(&inv).await?;
    Ok(jobs)
}

/// What an interrupted move left in staging, oldest first.
pub async fn staged(conn: &Conn, k: &MoveKeys) -> RedisResult<Vec<Vec<u8>>> {
    let mut jobs: Vec<Vec<u8>> = conn
        .query(redis::cmd("LRANGE").arg(&k.staging).arg(0).arg(-1))
        .await?;
    jobs.reverse();
    Ok(jobs)
}

/// The staging list's length (0 when there is none).
pub async fn staged_len(conn: &Conn, k: &MoveKeys) -> RedisResult<u64> {
    conn.query(redis::cmd("LLEN").arg(&k.staging)).await
}

/// Drops the staging list once its window is confirmed on every target.
pub async fn clear_staging(conn: &Conn, k: &MoveKeys, holder: &str) -> RedisResult<()> {
    let script = redis::Script::new(CLEAR);
    let mut inv = script.prepare_invoke();
    inv.key(&k.staging).key(&k.lock).arg(holder);
    conn.invoke::<i64>(&inv).await.map(|_| ())
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
        let (out, dup) = missing(&window, &existing);
        assert_eq!(dup, 1);
        assert_eq!(out, vec![&b"x"[..]]);
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
            for side in [&k.staging, &k.lock] {
                assert_eq!(
                    key_slot(side.as_bytes()),
                    key_slot(src.as_bytes()),
                    "{side}"
                );
            }
        }
    }
}
