//! Jobs kept in hashes, with only their ids in a sorted set (BullMQ's
//! `<prefix>:<queue>:failed`, RQ's `rq:failed:<queue>`): purge to a backup
//! and restore, each job with its hash (and the keys beside it, such as
//! BullMQ's `:logs`), window by window, each window one atomic script.
//!
//! A purge moves, per id in the set: the job's keys are RENAMEd to the
//! backup's side (`<backup>:k<i>:<id>`, same slot as the backup, so the
//! step also runs on Redis Cluster when the system's keys share a hash
//! tag, as BullMQ's `{bull}` prefix makes them), given the backup's
//! expiry; the hash's own expiry instant (or none, or "the hash was
//! already gone") is written to the backup's meta hash; the id goes from
//! the set to the backup set with its score. Killed between windows, each
//! job is either in the set with its keys or in the backup with its keys:
//! a re-run purges the rest into a second backup, and both restore. The
//! framework never sees a half-purged job: its id and its hash leave its
//! keyspace in the same step.
//!
//! A restore reverses it: the backup set and meta hash lose their expiry
//! first (so they cannot expire half-restored), then per id the keys are
//! renamed back with their original expiry instant (`PEXPIREAT`, or
//! `PERSIST` for none), and the id goes back into the set with its score.
//! An id whose hash exists again in the framework's keyspace (a job of
//! the same id was created since) is never overwritten: it stays in the
//! backup and is counted as a conflict. A job whose original expiry
//! passed while it was in the backup is dropped, as the framework would
//! have dropped it, and counted as expired.
//!
//! Every step checks the ACL for every command first (`qctl_may`), and
//! needs no memory beyond what the moved keys already take, except the
//! meta hash (a few bytes per job).

use super::guard::{self, Needed};
use super::slots::sibling_key;
use crate::connect::Conn;
use redis::RedisResult;
use std::time::Duration;

/// Ids per step: each id costs about ten commands inside the script, so a
/// step stays around a millisecond.
pub(crate) const WINDOW: u64 = 200;

/// Where one set's jobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HashedSet {
    /// The sorted set of ids.
    pub(crate) set: String,
    /// Each job's keys as (prefix, suffix) around its id, its hash first:
    /// BullMQ `[("bull:q:", ""), ("bull:q:", ":logs")]`, RQ
    /// `[("rq:job:", "")]`.
    pub(crate) keys: Vec<(String, String)>,
}

/// A backup's own key beside it: `<set>:qctl-backup-<what>:<stamp>`, in
/// the backup's slot, and outside the `<set>:qctl-backup:*` pattern `get
/// backups` scans (so a backup of a million jobs is still one key there).
fn side(backup: &str, what: &str) -> String {
    match backup.split_once(":qctl-backup:") {
        Some((head, stamp)) => format!("{head}:qctl-backup-{what}:{stamp}"),
        None => sibling_key(backup, what),
    }
}

/// The meta hash of a backup (id -> original expiry, ms since the epoch;
/// `-1` none, `-2` the hash was already gone when purged).
pub(crate) fn meta_key(backup: &str) -> String {
    side(backup, "meta")
}

/// Where a backup keeps the `i`th key of each job.
fn backup_job_prefix(backup: &str, i: usize) -> String {
    format!("{}:", side(backup, &format!("k{i}")))
}

/// One purge step. KEYS: set, backup, meta. ARGV: keep ms, n, then per job
/// key template: its prefix, its suffix, its backup prefix. Returns {moved,
/// left in the set}.
const PURGE: &str = r#"
local keep, n = ARGV[1], tonumber(ARGV[2])
local tpl = {}
for i = 3, #ARGV, 3 do tpl[#tpl + 1] = {ARGV[i], ARGV[i + 1], ARGV[i + 2]} end
local checks = {{'ZREM', KEYS[1], 'x'}, {'ZADD', KEYS[2], '0', 'x'}, {'PEXPIRE', KEYS[2], '1'},
  {'HSET', KEYS[3], 'x', '1'}, {'PEXPIRE', KEYS[3], '1'}}
for _, t in ipairs(tpl) do
  checks[#checks + 1] = {'RENAME', t[1] .. 'x' .. t[2], t[3] .. 'x' .. t[2]}
  checks[#checks + 1] = {'PEXPIRE', t[3] .. 'x' .. t[2], '1'}
end
qctl_may(unpack(checks))
local ty = redis.call('TYPE', KEYS[1])['ok']
if ty == 'none' then return {0, 0} end
if ty ~= 'zset' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. ty .. ', not a zset')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local items = redis.call('ZRANGE', KEYS[1], 0, n - 1, 'WITHSCORES')
local moved = 0
for i = 1, #items, 2 do
  local id, score = items[i], items[i + 1]
  local exp = -2
  for j, tp in ipairs(tpl) do
    local k = tp[1] .. id .. tp[2]
    local ttl = redis.call('PTTL', k)
    if ttl ~= -2 then
      if j == 1 then
        if ttl == -1 then
          exp = -1
        else
          -- The exact instant where the server can say it (Redis >= 7).
          local ok, at = pcall(redis.call, 'PEXPIRETIME', k)
          if ok and type(at) == 'number' and at >= 0 then exp = at else exp = now + ttl end
        end
      end
      local b = tp[3] .. id .. tp[2]
      redis.call('RENAME', k, b)
      redis.call('PEXPIRE', b, keep)
    end
  end
  redis.call('HSET', KEYS[3], id, exp)
  redis.call('ZADD', KEYS[2], score, id)
  redis.call('ZREM', KEYS[1], id)
  moved = moved + 1
end
if moved > 0 then
  redis.call('PEXPIRE', KEYS[2], keep)
  redis.call('PEXPIRE', KEYS[3], keep)
end
return {moved, redis.call('ZCARD', KEYS[1])}
"#;

/// One restore step. KEYS: backup, set, meta. ARGV: the offset of the
/// first id to look at (the conflicts the run already left in front), n,
/// then the templates as for a purge. Returns {restored, conflicts,
/// expired, left in the backup}.
const RESTORE: &str = r#"
local start, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local tpl = {}
for i = 3, #ARGV, 3 do tpl[#tpl + 1] = {ARGV[i], ARGV[i + 1], ARGV[i + 2]} end
local checks = {{'PERSIST', KEYS[1]}, {'PERSIST', KEYS[3]}, {'ZADD', KEYS[2], '0', 'x'},
  {'ZREM', KEYS[1], 'x'}, {'HDEL', KEYS[3], 'x'}, {'DEL', KEYS[3]}}
for _, t in ipairs(tpl) do
  checks[#checks + 1] = {'RENAME', t[3] .. 'x' .. t[2], t[1] .. 'x' .. t[2]}
  checks[#checks + 1] = {'PEXPIREAT', t[1] .. 'x' .. t[2], '1'}
  checks[#checks + 1] = {'PERSIST', t[1] .. 'x' .. t[2]}
  checks[#checks + 1] = {'DEL', t[3] .. 'x' .. t[2]}
end
qctl_may(unpack(checks))
local ty = redis.call('TYPE', KEYS[1])['ok']
if ty == 'none' then return {0, 0, 0, 0} end
if ty ~= 'zset' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. ty .. ', not a zset')
end
local st = redis.call('TYPE', KEYS[2])['ok']
if st ~= 'none' and st ~= 'zset' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[2] .. ' holds a ' .. st .. ', not a zset')
end
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local items = redis.call('ZRANGE', KEYS[1], start, start + n - 1, 'WITHSCORES')
local restored, conflicts, expired = 0, 0, 0
for i = 1, #items, 2 do
  local id, score = items[i], items[i + 1]
  local exp = tonumber(redis.call('HGET', KEYS[3], id) or '-2') or -2
  local clash = false
  for _, tp in ipairs(tpl) do
    if redis.call('EXISTS', tp[3] .. id .. tp[2]) == 1 and redis.call('EXISTS', tp[1] .. id .. tp[2]) == 1 then
      clash = true
    end
  end
  if clash then
    conflicts = conflicts + 1
  elseif exp >= 0 and exp <= now then
    for _, tp in ipairs(tpl) do redis.call('DEL', tp[3] .. id .. tp[2]) end
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[3], id)
    expired = expired + 1
  else
    for _, tp in ipairs(tpl) do
      local b = tp[3] .. id .. tp[2]
      if redis.call('EXISTS', b) == 1 then
        local k = tp[1] .. id .. tp[2]
        redis.call('RENAME', b, k)
        if exp >= 0 then redis.call('PEXPIREAT', k, exp) else redis.call('PERSIST', k) end
      end
    end
    redis.call('ZADD', KEYS[2], 'NX', score, id)
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[3], id)
    restored = restored + 1
  end
end
local left = redis.call('ZCARD', KEYS[1])
if left == 0 then redis.call('DEL', KEYS[3]) end
return {restored, conflicts, expired, left}
"#;

/// One step of a purge without backup. KEYS: set. ARGV: n, then per job
/// key template its prefix and suffix. Returns {dropped, left}.
const DROP: &str = r#"
local n = tonumber(ARGV[1])
local tpl = {}
for i = 2, #ARGV, 2 do tpl[#tpl + 1] = {ARGV[i], ARGV[i + 1]} end
local checks = {{'ZREM', KEYS[1], 'x'}}
for _, t in ipairs(tpl) do checks[#checks + 1] = {'UNLINK', t[1] .. 'x' .. t[2]} end
qctl_may(unpack(checks))
local ty = redis.call('TYPE', KEYS[1])['ok']
if ty == 'none' then return {0, 0} end
if ty ~= 'zset' then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. ty .. ', not a zset')
end
local ids = redis.call('ZRANGE', KEYS[1], 0, n - 1)
for _, id in ipairs(ids) do
  for _, tp in ipairs(tpl) do redis.call('UNLINK', tp[1] .. id .. tp[2]) end
  redis.call('ZREM', KEYS[1], id)
end
return {#ids, redis.call('ZCARD', KEYS[1])}
"#;

/// Frees up to `n` jobs (ids and keys) of the set, with no backup:
/// (dropped, left).
pub(crate) async fn drop_step(conn: &Conn, set: &HashedSet, n: u64) -> RedisResult<(u64, u64)> {
    let script = guard::script(DROP);
    let mut inv = script.prepare_invoke();
    inv.key(&set.set).arg(n.max(1));
    for (prefix, suffix) in &set.keys {
        inv.arg(prefix).arg(suffix);
    }
    conn.invoke(&inv).await
}

/// Every command a purge without backup sends.
pub(crate) fn drop_needed(set: &HashedSet) -> Vec<Needed> {
    let mut n = Needed::scripts(&[&set.set]);
    n.push(Needed::new("ZREM", &set.set, &["x"]));
    for (prefix, suffix) in &set.keys {
        n.push(Needed::new("UNLINK", &format!("{prefix}x{suffix}"), &[]));
    }
    n
}

fn templates(set: &HashedSet, backup: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(set.keys.len() * 3);
    for (i, (prefix, suffix)) in set.keys.iter().enumerate() {
        out.push(prefix.clone());
        out.push(suffix.clone());
        out.push(backup_job_prefix(backup, i));
    }
    out
}

/// Moves up to `n` jobs (ids and their keys) from the set into `backup`,
/// kept `keep`: (moved, left in the set).
pub(crate) async fn purge_step(
    conn: &Conn,
    set: &HashedSet,
    backup: &str,
    keep: Duration,
    n: u64,
) -> RedisResult<(u64, u64)> {
    let script = guard::script(PURGE);
    let mut inv = script.prepare_invoke();
    inv.key(&set.set)
        .key(backup)
        .key(meta_key(backup))
        .arg(keep.as_millis().max(1) as u64)
        .arg(n.max(1));
    for a in templates(set, backup) {
        inv.arg(a);
    }
    let (moved, left): (u64, u64) = conn.invoke(&inv).await?;
    super::fault("hashed-purge-after-step");
    Ok((moved, left))
}

/// What one restore step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Restored {
    pub(crate) restored: u64,
    /// Ids whose keys exist again in the framework's keyspace: left in the
    /// backup, never overwritten.
    pub(crate) conflicts: u64,
    /// Jobs whose own expiry passed while in the backup: dropped.
    pub(crate) expired: u64,
    /// Ids left in the backup (conflicts included).
    pub(crate) left: u64,
}

/// Moves up to `n` jobs from `backup` back into the set, each with its
/// keys and original expiry, looking from the `skip`th id (the conflicts
/// this run already left in front; the caller adds each step's).
pub(crate) async fn restore_step(
    conn: &Conn,
    set: &HashedSet,
    backup: &str,
    skip: u64,
    n: u64,
) -> RedisResult<Restored> {
    let script = guard::script(RESTORE);
    let mut inv = script.prepare_invoke();
    inv.key(backup)
        .key(&set.set)
        .key(meta_key(backup))
        .arg(skip)
        .arg(n.max(1));
    for a in templates(set, backup) {
        inv.arg(a);
    }
    let (restored, conflicts, expired, left): (u64, u64, u64, u64) = conn.invoke(&inv).await?;
    super::fault("hashed-restore-after-step");
    Ok(Restored {
        restored,
        conflicts,
        expired,
        left,
    })
}

/// Every command a purge step sends (for `ACL DRYRUN`), with `x` for an id.
pub(crate) fn purge_needed(set: &HashedSet, backup: &str) -> Vec<Needed> {
    let meta = meta_key(backup);
    let mut n = Needed::scripts(&[&set.set, backup, &meta]);
    n.extend([
        Needed::new("ZRANGE", &set.set, &["0", "-1", "WITHSCORES"]),
        Needed::new("ZREM", &set.set, &["x"]),
        Needed::new("ZADD", backup, &["0", "x"]),
        Needed::new("PEXPIRE", backup, &["1000"]),
        Needed::new("HSET", &meta, &["x", "1"]),
        Needed::new("PEXPIRE", &meta, &["1000"]),
    ]);
    for (i, (prefix, suffix)) in set.keys.iter().enumerate() {
        let k = format!("{prefix}x{suffix}");
        let b = format!("{}x{suffix}", backup_job_prefix(backup, i));
        n.push(Needed::new("PTTL", &k, &[]));
        n.push(Needed::new("RENAME", &k, &[&b]));
        n.push(Needed::new("PEXPIRE", &b, &["1000"]));
    }
    n
}

/// Every command a restore step sends (for `ACL DRYRUN`).
pub(crate) fn restore_needed(set: &HashedSet, backup: &str) -> Vec<Needed> {
    let meta = meta_key(backup);
    let mut n = Needed::scripts(&[backup, &set.set, &meta]);
    n.extend([
        Needed::new("PERSIST", backup, &[]),
        Needed::new("PERSIST", &meta, &[]),
        Needed::new("ZRANGE", backup, &["0", "-1", "WITHSCORES"]),
        Needed::new("ZREM", backup, &["x"]),
        Needed::new("ZADD", &set.set, &["NX", "0", "x"]),
        Needed::new("HGET", &meta, &["x"]),
        Needed::new("HDEL", &meta, &["x"]),
        Needed::new("DEL", &meta, &[]),
    ]);
    for (i, (prefix, suffix)) in set.keys.iter().enumerate() {
        let k = format!("{prefix}x{suffix}");
        let b = format!("{}x{suffix}", backup_job_prefix(backup, i));
        n.push(Needed::new("RENAME", &b, &[&k]));
        n.push(Needed::new("PEXPIREAT", &k, &["1"]));
        n.push(Needed::new("PERSIST", &k, &[]));
        n.push(Needed::new("DEL", &b, &[]));
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::slots::key_slot;

    #[test]
    fn backup_side_keys_share_the_backups_slot() {
        let backup = "{bull}:mail:failed:qctl-backup:20261202T060000.000Z-0000abcd";
        assert_eq!(
            key_slot(meta_key(backup).as_bytes()),
            key_slot(backup.as_bytes())
        );
        let k = format!("{}42", backup_job_prefix(backup, 1));
        assert_eq!(key_slot(k.as_bytes()), key_slot(b"{bull}:mail:42"));
        let prefix = "{bull}:mail:failed:qctl-backup:";
        assert!(
            !meta_key(backup).starts_with(prefix),
            "outside the backups' pattern"
        );
        assert!(!k.starts_with(prefix));
        assert!(crate::systems::guard::is_side_key(&k));
    }

    #[test]
    fn the_acl_check_names_every_key_template() {
        let set = HashedSet {
            set: "bull:q:failed".into(),
            keys: vec![
                ("bull:q:".into(), String::new()),
                ("bull:q:".into(), ":logs".into()),
            ],
        };
        let n = purge_needed(&set, "{bull:q:failed}:qctl-backup:x");
        assert!(
            n.iter()
                .any(|c| c.0[0] == "RENAME" && c.0[1] == "bull:q:x:logs")
        );
        let r = restore_needed(&set, "{bull:q:failed}:qctl-backup:x");
        assert!(
            r.iter()
                .any(|c| c.0[0] == "PEXPIREAT" && c.0[1] == "bull:q:x")
        );
    }
}
