//! Whole-list operations on a list-based dead-letter queue (go-redis-work-
//! queue's; RQ and Asynq keep theirs in other types and will get their own):
//! purge to a backup in one MULTI/EXEC, find backups, restore one merged
//! with whatever arrived since.
//!
//! Backups are named `<dlq, same slot>:qctl-backup:<UTC stamp>-<nonce>`
//! (see `slots::sibling_key`), so RENAME and the restore script work on
//! Redis Cluster, `get backups` finds them with one SCAN pattern, and the
//! stamp sorts them by age.

use super::guard::{self, Needed};
use super::slots::sibling_key;
use crate::connect::Conn;
use redis::{RedisResult, Value};
use std::time::Duration;

/// The Redis type a dead set's jobs are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// A LIST of payloads (go-redis-work-queue).
    List,
    /// A ZSET of payloads scored by a time (Sidekiq's `dead`).
    SortedSet,
}

impl Store {
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Store::List => "list",
            Store::SortedSet => "zset",
        }
    }

    fn count_cmd(self) -> &'static str {
        match self {
            Store::List => "LLEN",
            Store::SortedSet => "ZCARD",
        }
    }
}

/// The length of the list `key` (0 when missing).
pub(crate) async fn length(conn: &Conn, key: &str) -> RedisResult<u64> {
    conn.query(redis::cmd("LLEN").arg(key)).await
}

/// Pushes `jobs` onto the producer end (the left) of the list `key`.
pub(crate) async fn push(conn: &Conn, key: &str, jobs: &[Vec<u8>]) -> RedisResult<u64> {
    conn.query(redis::cmd("LPUSH").arg(key).arg(jobs)).await
}

/// TYPE and length of `key` as `store` (a missing key is empty).
pub(crate) async fn store_state(conn: &Conn, key: &str, store: Store) -> RedisResult<ListState> {
    let mut p = redis::pipe();
    p.cmd("TYPE")
        .arg(key)
        .cmd(store.count_cmd())
        .arg(key)
        .ignore_errors();
    let v: Vec<Value> = conn.pipe_slot(&p).await?;
    let kind = match v.first() {
        Some(Value::SimpleString(s)) => s.clone(),
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => "none".into(),
    };
    if kind == store.type_name() || kind == "none" {
        Ok(ListState::List(match v.get(1) {
            Some(Value::Int(n)) => *n as u64,
            _ => 0,
        }))
    } else {
        Ok(ListState::WrongType(kind))
    }
}

/// What a dead-letter key holds before a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListState {
    /// A list (or no key: length 0).
    List(u64),
    /// Another type: qctl will not touch it.
    WrongType(String),
}

/// TYPE and LLEN of `key`, in one round trip (a plain pipeline: a server
/// at maxmemory refuses reads queued in MULTI).
pub(crate) async fn list_state(conn: &Conn, key: &str) -> RedisResult<ListState> {
    let mut p = redis::pipe();
    p.cmd("TYPE").arg(key).cmd("LLEN").arg(key).ignore_errors();
    let v: Vec<Value> = conn.pipe_slot(&p).await?;
    let kind = match v.first() {
        Some(Value::SimpleString(s)) => s.clone(),
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::Okay) => "ok".into(),
        _ => "none".into(),
    };
    match kind.as_str() {
        "list" | "none" => Ok(ListState::List(match v.get(1) {
            Some(Value::Int(n)) => *n as u64,
            _ => 0,
        })),
        other => Ok(ListState::WrongType(other.to_string())),
    }
}

/// The prefix every backup of `key` starts with.
pub(crate) fn backup_prefix(key: &str) -> String {
    sibling_key(key, "qctl-backup:")
}

/// A fresh, unique backup name for `key`.
pub(crate) fn new_backup_key(key: &str, now: jiff::Timestamp) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_i128(now.as_nanosecond());
    let nonce = h.finish() & 0xffff_ffff;
    format!("{}{}-{nonce:08x}", backup_prefix(key), stamp(now))
}

/// `20261123T101500.123Z`: sortable, readable, no `:`.
fn stamp(t: jiff::Timestamp) -> String {
    let ms = t.as_millisecond().rem_euclid(1000);
    format!("{}.{ms:03}Z", t.strftime("%Y%m%dT%H%M%S"))
}

/// The time in a backup's name.
pub(crate) fn backup_time(backup: &str, key: &str) -> Option<jiff::Timestamp> {
    let rest = backup.strip_prefix(&backup_prefix(key))?;
    let (secs, rest) = rest.split_once('.')?;
    let ms: i64 = rest.get(..3)?.parse().ok()?;
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S", secs).ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    ts.checked_add(jiff::SignedDuration::from_millis(ms)).ok()
}

/// Renames a list aside with an expiry, or unlinks it: one script, so it
/// is atomic and still runs on a server at maxmemory (RENAME, PEXPIRE and
/// UNLINK need no memory; MULTI would be refused there). KEYS: key[,
/// backup]. ARGV: keep ms, the key's type (`list`, `zset`). Returns the
/// jobs moved (0 when there was no key).
const PURGE: &str = r#"
if KEYS[2] then
  qctl_may({'RENAME', KEYS[1], KEYS[2]}, {'PEXPIRE', KEYS[2], '1'})
else
  qctl_may({'UNLINK', KEYS[1]})
end
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return 0 end
if t ~= ARGV[2] then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. t .. ', not a ' .. ARGV[2])
end
local n
if t == 'zset' then n = redis.call('ZCARD', KEYS[1]) else n = redis.call('LLEN', KEYS[1]) end
if KEYS[2] then
  redis.call('RENAME', KEYS[1], KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
else
  redis.call('UNLINK', KEYS[1])
end
return n
"#;

/// Moves `key` aside to `backup` (expiring after `keep`), atomically.
/// Returns the number of jobs moved (0 when the key did not exist: then no
/// backup exists either).
pub(crate) async fn rename_to_backup(
    conn: &Conn,
    key: &str,
    backup: &str,
    keep: Duration,
    store: Store,
) -> RedisResult<u64> {
    let script = guard::script(PURGE);
    let mut inv = script.prepare_invoke();
    inv.key(key)
        .key(backup)
        .arg(keep.as_millis() as u64)
        .arg(store.type_name());
    conn.invoke(&inv).await
}

/// Frees `key` (in the background), atomically with its count.
pub(crate) async fn unlink_list(conn: &Conn, key: &str, store: Store) -> RedisResult<u64> {
    let script = guard::script(PURGE);
    let mut inv = script.prepare_invoke();
    inv.key(key).arg(0).arg(store.type_name());
    conn.invoke(&inv).await
}

/// Every command a purge sends (for `ACL DRYRUN`).
pub(crate) fn purge_needed(key: &str, backup: Option<&str>) -> Vec<Needed> {
    match backup {
        Some(b) => {
            let mut n = Needed::scripts(&[key, b]);
            n.push(Needed::new("RENAME", key, &[b]));
            n.push(Needed::new("PEXPIRE", b, &["1000"]));
            n
        }
        None => {
            let mut n = Needed::scripts(&[key]);
            n.push(Needed::new("UNLINK", key, &[]));
            n
        }
    }
}

/// Every command a restore sends (for `ACL DRYRUN`).
pub(crate) fn restore_needed(backup: &str, key: &str, store: Store) -> Vec<Needed> {
    let mut n = Needed::scripts(&[backup, key]);
    n.extend([
        Needed::new("PERSIST", backup, &[]),
        Needed::new("RENAME", backup, &[key]),
    ]);
    match store {
        Store::List => n.extend([
            Needed::new("RPUSH", key, &["x"]),
            Needed::new("LRANGE", backup, &["0", "-1"]),
            Needed::new("LTRIM", backup, &["0", "-1"]),
        ]),
        Store::SortedSet => n.extend([
            Needed::new("ZADD", key, &["0", "x"]),
            Needed::new("ZRANGE", backup, &["0", "-1"]),
            Needed::new("ZREM", backup, &["x"]),
        ]),
    }
    n
}

/// A DLQ backup.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Backup {
    pub(crate) key: String,
    pub(crate) jobs: u64,
    pub(crate) created: Option<jiff::Timestamp>,
    /// Milliseconds left; `None` when it never expires.
    pub(crate) ttl_ms: Option<i64>,
}

/// Every backup of `key`, newest first.
pub(crate) async fn backups(conn: &Conn, key: &str, store: Store) -> RedisResult<Vec<Backup>> {
    let pattern = format!("{}*", super::gowork::glob_escape(&backup_prefix(key)));
    let keys = conn.scan_match(&pattern).await?;
    describe_backups(conn, key, keys, store).await
}

/// Every backup of each of `keys` (all of one store), newest first each:
/// one SCAN for all of them, however many.
pub(crate) async fn backups_of(
    conn: &Conn,
    keys: &[&str],
    store: Store,
) -> RedisResult<Vec<Vec<Backup>>> {
    if keys.len() <= 1 {
        let mut out = Vec::new();
        for k in keys {
            out.push(backups(conn, k, store).await?);
        }
        return Ok(out);
    }
    let found = conn.scan_match("*:qctl-backup:*").await?;
    let prefixes: std::collections::HashMap<String, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (backup_prefix(k), i))
        .collect();
    let mut per: Vec<Vec<String>> = vec![Vec::new(); keys.len()];
    for f in found {
        if let Some((head, _)) = f.rsplit_once(":qctl-backup:")
            && let Some(i) = prefixes.get(&format!("{head}:qctl-backup:"))
        {
            per[*i].push(f);
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for (k, found) in keys.iter().zip(per) {
        out.push(describe_backups(conn, k, found, store).await?);
    }
    Ok(out)
}

/// Length, expiry and time of each backup of `key` in `keys`, newest first
/// (one that expired meanwhile is left out).
async fn describe_backups(
    conn: &Conn,
    key: &str,
    keys: Vec<String>,
    store: Store,
) -> RedisResult<Vec<Backup>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut cmds = Vec::with_capacity(keys.len() * 2);
    for k in &keys {
        let mut c = redis::cmd(store.count_cmd());
        c.arg(k);
        cmds.push(c);
        let mut c = redis::cmd("PTTL");
        c.arg(k);
        cmds.push(c);
    }
    let v: Vec<i64> = conn.each_key(&cmds).await?;
    let mut out: Vec<Backup> = keys
        .into_iter()
        .enumerate()
        .filter(|(i, _)| v[i * 2 + 1] != -2)
        .map(|(i, k)| Backup {
            created: backup_time(&k, key),
            jobs: v[i * 2].max(0) as u64,
            ttl_ms: (v[i * 2 + 1] >= 0).then_some(v[i * 2 + 1]),
            key: k,
        })
        .collect();
    out.sort_by(|a, b| b.key.cmp(&a.key));
    Ok(out)
}

/// Moves up to `n` jobs from `backup` back into `key`, atomically per
/// call. The backup's jobs are older than anything that arrived in the DLQ
/// since, so they go to the consumer end (the right), in their order; when
/// the DLQ is empty the whole backup is renamed back in O(1). The backup
/// loses its expiry first, so it cannot expire half-restored.
const RESTORE: &str = r#"
qctl_may({'PERSIST', KEYS[1]}, {'RENAME', KEYS[1], KEYS[2]}, {'RPUSH', KEYS[2], 'x'},
  {'LTRIM', KEYS[1], '0', '-1'})
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
redis.call('PERSIST', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local n = redis.call('LLEN', KEYS[1])
  redis.call('RENAME', KEYS[1], KEYS[2])
  return {n, 0}
end
local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items == 0 then return {0, 0} end
redis.call('RPUSH', KEYS[2], unpack(items))
redis.call('LTRIM', KEYS[1], #items, -1)
return {#items, redis.call('LLEN', KEYS[1])}
"#;

/// The same for a sorted set: every member back with its score (a member
/// already there keeps the score it has: it died again since).
const RESTORE_ZSET: &str = r#"
qctl_may({'PERSIST', KEYS[1]}, {'RENAME', KEYS[1], KEYS[2]}, {'ZADD', KEYS[2], '0', 'x'},
  {'ZREM', KEYS[1], 'x'})
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
redis.call('PERSIST', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local n = redis.call('ZCARD', KEYS[1])
  redis.call('RENAME', KEYS[1], KEYS[2])
  return {n, 0}
end
local items = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
if #items == 0 then return {0, 0} end
local members = {}
for i = 1, #items, 2 do
  redis.call('ZADD', KEYS[2], 'NX', items[i + 1], items[i])
  members[#members + 1] = items[i]
end
redis.call('ZREM', KEYS[1], unpack(members))
return {#members, redis.call('ZCARD', KEYS[1])}
"#;

/// One restore step: (jobs moved, jobs left in the backup).
pub(crate) async fn restore_step(
    conn: &Conn,
    backup: &str,
    key: &str,
    n: u64,
    store: Store,
) -> RedisResult<(u64, u64)> {
    let script = guard::script(match store {
        Store::List => RESTORE,
        Store::SortedSet => RESTORE_ZSET,
    });
    let mut inv = script.prepare_invoke();
    inv.key(backup).key(key).arg(n);
    let (moved, left): (u64, u64) = conn.invoke(&inv).await?;
    super::fault("restore-after-step");
    Ok((moved, left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_carry_their_time_and_slot() {
        let now: jiff::Timestamp = "2026-11-23T10:15:00.123Z".parse().unwrap();
        let k = new_backup_key("jobqueue:dead_letter", now);
        assert!(
            k.starts_with("{jobqueue:dead_letter}:qctl-backup:20261123T101500.123Z-"),
            "{k}"
        );
        assert_eq!(backup_time(&k, "jobqueue:dead_letter"), Some(now));
        assert_ne!(k, new_backup_key("jobqueue:dead_letter", now));
        assert_eq!(
            super::super::slots::key_slot(k.as_bytes()),
            super::super::slots::key_slot(b"jobqueue:dead_letter")
        );
    }
}
