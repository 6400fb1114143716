//! Whole-list operations on a list-based dead-letter queue (go-redis-work-
//! queue's; RQ and Asynq keep theirs in other types and will get their own):
//! purge to a backup in one MULTI/EXEC, find backups, restore one merged
//! with whatever arrived since.
//!
//! Backups are named `<dlq, same slot>:qctl-backup:<UTC stamp>-<nonce>`
//! (see `slots::sibling_key`), so RENAME and the restore script work on
//! Redis Cluster, `get backups` finds them with one SCAN pattern, and the
//! stamp sorts them by age.

use super::slots::sibling_key;
use crate::connect::Conn;
use redis::{RedisResult, Value};
use std::time::Duration;

/// What a dead-letter key holds before a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListState {
    /// A list (or no key: length 0).
    List(u64),
    /// Another type: qctl will not touch it.
    WrongType(String),
}

/// TYPE and LLEN of `key`, in one round trip.
pub async fn list_state(conn: &Conn, key: &str) -> RedisResult<ListState> {
    let mut p = redis::pipe();
    p.atomic()
        .cmd("TYPE")
        .arg(key)
        .cmd("LLEN")
        .arg(key)
        .ignore_errors();
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
pub fn backup_prefix(key: &str) -> String {
    sibling_key(key, "qctl-backup:")
}

/// A fresh, unique backup name for `key`.
pub fn new_backup_key(key: &str, now: jiff::Timestamp) -> String {
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
pub fn backup_time(backup: &str, key: &str) -> Option<jiff::Timestamp> {
    let rest = backup.strip_prefix(&backup_prefix(key))?;
    let (secs, rest) = rest.split_once('.')?;
    let ms: i64 = rest.get(..3)?.parse().ok()?;
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S", secs).ok()?;
    let ts = dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    ts.checked_add(jiff::SignedDuration::from_millis(ms)).ok()
}

/// Moves `key` aside in one MULTI/EXEC: LLEN, RENAME to `backup`, PEXPIRE.
/// Returns the number of jobs moved (0 when the key did not exist: then no
/// backup exists either).
pub async fn rename_to_backup(
    conn: &Conn,
    key: &str,
    backup: &str,
    keep: Duration,
) -> RedisResult<u64> {
    let mut p = redis::pipe();
    p.atomic()
        .cmd("LLEN")
        .arg(key)
        .cmd("RENAME")
        .arg(key)
        .arg(backup)
        .cmd("PEXPIRE")
        .arg(backup)
        .arg(keep.as_millis() as u64)
        .ignore_errors();
    exec_count(conn.pipe_slot(&p).await?)
}

/// Frees `key` in one MULTI/EXEC: LLEN, UNLINK (freed in the background).
pub async fn unlink_list(conn: &Conn, key: &str) -> RedisResult<u64> {
    let mut p = redis::pipe();
    p.atomic()
        .cmd("LLEN")
        .arg(key)
        .cmd("UNLINK")
        .arg(key)
        .ignore_errors();
    exec_count(conn.pipe_slot(&p).await?)
}

/// The LLEN answer of a MULTI/EXEC; a WRONGTYPE from it is an error, a
/// "no such key" from RENAME means there was nothing to move.
fn exec_count(v: Vec<Value>) -> RedisResult<u64> {
    match v.first() {
        Some(Value::Int(n)) => Ok(*n as u64),
        Some(Value::ServerError(e)) => Err(e.clone().into()),
        other => Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected reply to LLEN in MULTI/EXEC",
            format!("{other:?}"),
        ))),
    }
}

/// A DLQ backup.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub key: String,
    pub jobs: u64,
    pub created: Option<jiff::Timestamp>,
    /// Milliseconds left; `None` when it never expires.
    pub ttl_ms: Option<i64>,
}

/// Every backup of `key`, newest first.
pub async fn backups(conn: &Conn, key: &str) -> RedisResult<Vec<Backup>> {
    let pattern = format!("{}*", super::gowork::glob_escape(&backup_prefix(key)));
    let keys = conn.scan_match(&pattern).await?;
    let mut cmds = Vec::with_capacity(keys.len() * 2);
    for k in &keys {
        let mut c = redis::cmd("LLEN");
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

/// One restore step: (jobs moved, jobs left in the backup).
pub async fn restore_step(conn: &Conn, backup: &str, key: &str, n: u64) -> RedisResult<(u64, u64)> {
    let script = redis::Script::new(RESTORE);
    let mut inv = script.prepare_invoke();
    inv.key(backup).key(key).arg(n);
    let (moved, left): (u64, u64) = conn.invoke(&inv).await?;
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
