//! BullMQ's writes, each what BullMQ's own API does to the keys (BullMQ
//! 6.7's Lua commands, read in its `dist/cjs/commands`), in one
//! server-side step:
//!
//! * the dead sets: each queue's `:failed` (ids; the job hashes and their
//!   `:logs` go with them into a purge's backup, see `systems::hashed`);
//! * `requeue --from dead`: `job.retry()` (`reprocessJob`): out of
//!   `:failed`; `finishedOn`, `processedOn` and `failedReason` cleared
//!   (`--reset-retries`: also `atm` and `ats`, as `resetAttemptsMade` and
//!   `resetAttemptsStarted` do); to `:wait` (`LPUSH`, `RPUSH` for a `lifo`
//!   job) or, with a priority, to `:prioritized`; the `:marker` when the
//!   queue is neither paused nor at its concurrency; a flow child back in
//!   its parent's dependencies; a `waiting` entry (`prev failed`) on the
//!   `:events` stream, capped as BullMQ caps it;
//! * `requeue --from scheduled`: `job.promote()` (`promote`): out of
//!   `:delayed` to `:wait` or `:prioritized`, the marker, `delay` 0, a
//!   `waiting` entry (`prev delayed`);
//! * `pause`/`resume`: `queue.pause()`/`resume()` (`pause`): `:meta
//!   paused`, the marker, a `paused`/`resumed` event; a resume also drains
//!   a legacy `:paused` list (BullMQ before 6) into `:wait`, 7,000 ids a
//!   step as BullMQ does.

use super::BullMq;
use crate::connect::Conn;
use crate::systems::PauseFlag;
use crate::systems::dead::{DeadSet, DeadStore};
use crate::systems::guard::{self, Needed};
use crate::systems::hashed::HashedSet;
use crate::systems::requeue::hashed::HashedMove;
use redis::RedisResult;

/// What `qctl_move` shares: `paused_or_maxed()` (BullMQ's
/// `isQueuePausedOrMaxed`) and the push to wait or prioritized. KEYS[3]
/// events, [4] wait, [5] meta, [6] active, [7] marker, [8] prioritized,
/// [9] pc.
macro_rules! common {
    () => {
        r#"
local function qctl_checks(to)
  if to then
    error({err = 'QCTLUSAGE a BullMQ job belongs to its queue (its hash is named after it): requeue puts it back into its own queue; nothing was changed'})
  end
  return {{'HDEL', C[1] .. 'x', 'finishedOn'}, {'HSET', C[1] .. 'x', 'delay', '0'},
    {'LPUSH', KEYS[4], 'x'}, {'RPUSH', KEYS[4], 'x'}, {'LPOP', KEYS[4]}, {'ZADD', KEYS[7], '0', '0'},
    {'ZADD', KEYS[8], '0', 'x'}, {'INCR', KEYS[9]}, {'HSET', KEYS[5], 'opts.maxLenEvents', '1'},
    {'XADD', KEYS[3], 'MAXLEN', '~', '1', '*', 'event', 'waiting'}}
end
local function paused_or_maxed()
  local a = redis.call('HMGET', KEYS[5], 'paused', 'concurrency')
  if a[1] then return true end
  if a[2] then return redis.call('LLEN', KEYS[6]) >= tonumber(a[2]) end
  return false
end
local function back_to_wait(id, job, push)
  local pm = paused_or_maxed()
  local prio = tonumber(redis.call('HGET', job, 'priority')) or 0
  if prio == 0 then
    redis.call(push, KEYS[4], id)
  else
    local c = redis.call('INCR', KEYS[9])
    redis.call('ZADD', KEYS[8], prio * 0x100000000 + c % 0x100000000, id)
  end
  if not pm then redis.call('ZADD', KEYS[7], 0, '0') end
end
"#
    };
}

/// `job.retry()` of a failed job.
const RETRY: &str = concat!(
    common!(),
    r#"
local function qctl_move(id, job, reset, to)
  redis.call('ZREM', KEYS[1], id)
  local rm = {'finishedOn', 'processedOn', 'failedReason'}
  if reset then rm[#rm + 1] = 'atm'; rm[#rm + 1] = 'ats' end
  redis.call('HDEL', job, unpack(rm))
  local push = 'LPUSH'
  local o = redis.call('HGET', job, 'opts')
  if o then
    local ok, d = pcall(cjson.decode, o)
    if ok and type(d) == 'table' and d.lifo == true then push = 'RPUSH' end
  end
  back_to_wait(id, job, push)
  local parent = redis.call('HGET', job, 'parentKey')
  if parent and redis.call('EXISTS', parent) == 1 then
    if redis.call('ZREM', parent .. ':unsuccessful', job) == 1 or redis.call('HDEL', parent .. ':failed', job) == 1 then
      redis.call('SADD', parent .. ':dependencies', job)
    end
  end
  local max = redis.call('HGET', KEYS[5], 'opts.maxLenEvents')
  if not max then
    max = 10000
    redis.call('HSET', KEYS[5], 'opts.maxLenEvents', max)
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', max, '*', 'event', 'waiting', 'jobId', id, 'prev', 'failed')
end
"#
);

/// `job.promote()` of a delayed job.
const PROMOTE: &str = concat!(
    common!(),
    r#"
local function qctl_move(id, job, reset, to)
  redis.call('ZREM', KEYS[1], id)
  local marker = redis.call('LINDEX', KEYS[4], 0)
  if marker and string.sub(marker, 1, 2) == '0:' then redis.call('LPOP', KEYS[4]) end
  back_to_wait(id, job, 'LPUSH')
  redis.call('XADD', KEYS[3], '*', 'event', 'waiting', 'jobId', id, 'prev', 'delayed')
  redis.call('HSET', job, 'delay', 0)
  if reset then redis.call('HDEL', job, 'atm', 'ats') end
end
"#
);

/// An orphaned active job back to wait, as BullMQ's stalled check
/// (`moveStalledJobsToWait`) moves a job whose lock is gone: out of
/// `:active` (`LREM`), its stall count raised, `RPUSH`ed onto `:wait` (it
/// runs next), the marker, `waiting` (prev active) and `stalled` events.
/// KEYS[10] `:stalled` (the candidates of BullMQ's own next check).
const ORPHAN: &str = concat!(
    common!(),
    r#"
local qctl_base_checks = qctl_checks
qctl_checks = function(to)
  local c = qctl_base_checks(to)
  c[#c + 1] = {'LREM', KEYS[6], '1', 'x'}
  c[#c + 1] = {'HINCRBY', C[1] .. 'x', 'stc', '1'}
  c[#c + 1] = {'SREM', KEYS[10], 'x'}
  return c
end
local function qctl_move(id, job, reset, to)
  if redis.call('EXISTS', job) == 0 then return -1 end
  if redis.call('EXISTS', job .. ':lock') == 1 then return 0 end
  if redis.call('LREM', KEYS[6], 1, id) == 0 then return 0 end
  redis.call('HINCRBY', job, 'stc', 1)
  redis.call('SREM', KEYS[10], id)
  back_to_wait(id, job, 'RPUSH')
  redis.call('XADD', KEYS[3], '*', 'event', 'waiting', 'jobId', id, 'prev', 'active')
  redis.call('XADD', KEYS[3], '*', 'event', 'stalled', 'jobId', id)
  return 1
end
"#
);

/// `queue.pause()` / `resume()`. KEYS: meta, marker, events, legacy
/// paused, wait, prioritized, delayed. ARGV: 'paused' | 'resumed'.
/// Returns the ids left in the legacy `:paused` list (a resume drains
/// 7,000 a call).
const PAUSE: &str = r#"
qctl_may({'HSET', KEYS[1], 'paused', '1'}, {'HDEL', KEYS[1], 'paused'}, {'DEL', KEYS[2]},
  {'ZADD', KEYS[2], '0', '0'}, {'XADD', KEYS[3], '*', 'event', ARGV[1]},
  {'RENAME', KEYS[4], KEYS[5]}, {'RPUSH', KEYS[5], 'x'}, {'LTRIM', KEYS[4], '0', '-1'})
local left = 0
if ARGV[1] == 'paused' then
  redis.call('HSET', KEYS[1], 'paused', 1)
  redis.call('DEL', KEYS[2])
else
  redis.call('HDEL', KEYS[1], 'paused')
  if redis.call('EXISTS', KEYS[4]) == 1 then
    if redis.call('EXISTS', KEYS[5]) == 0 then
      redis.call('RENAME', KEYS[4], KEYS[5])
    else
      local jobs = redis.call('LRANGE', KEYS[4], 0, 6999)
      redis.call('RPUSH', KEYS[5], unpack(jobs))
      redis.call('LTRIM', KEYS[4], #jobs, -1)
      left = redis.call('LLEN', KEYS[4])
    end
  end
  if redis.call('LLEN', KEYS[5]) + redis.call('ZCARD', KEYS[6]) > 0 then
    redis.call('ZADD', KEYS[2], 0, '0')
  else
    local d = redis.call('ZRANGE', KEYS[7], 0, 0, 'WITHSCORES')
    local next = tonumber(d[2])
    if next ~= nil then redis.call('ZADD', KEYS[2], next / 0x1000, '1') end
  end
end
redis.call('XADD', KEYS[3], '*', 'event', ARGV[1])
return left
"#;

impl BullMq {
    /// Each queue's `:failed` set, its jobs' hashes and `:logs` beside.
    pub(crate) async fn dead_sets(&self, conn: &Conn) -> RedisResult<Vec<DeadSet>> {
        Ok(self
            .found_queues(conn)
            .await?
            .into_iter()
            .map(|q| {
                let job = format!("{}:{q}:", self.schema.prefix);
                let key = self.key(&q, "failed");
                DeadSet {
                    store: DeadStore::Hashed(HashedSet {
                        set: key.clone(),
                        keys: vec![(job.clone(), String::new()), (job, ":logs".into())],
                    }),
                    queue: Some(q),
                    key,
                }
            })
            .collect())
    }

    /// The keys a move out of one of `queue`'s sets uses (KEYS[3..]).
    fn move_keys(&self, queue: &str) -> Vec<String> {
        [
            "events",
            "wait",
            "meta",
            "active",
            "marker",
            "prioritized",
            "pc",
        ]
        .iter()
        .map(|s| self.key(queue, s))
        .collect()
    }

    /// `requeue --from dead` (`:failed`, as `job.retry()`) or `scheduled`
    /// (`:delayed`, as `job.promote()`), per queue.
    pub(crate) async fn requeue_moves(
        &self,
        conn: &Conn,
        from: &str,
    ) -> RedisResult<Vec<HashedMove>> {
        let (suffix, body) = match from {
            "dead" => ("failed", RETRY),
            "scheduled" => ("delayed", PROMOTE),
            _ => return Ok(Vec::new()),
        };
        Ok(self
            .found_queues(conn)
            .await?
            .into_iter()
            .map(|q| {
                let keys = self.move_keys(&q);
                let job = format!("{}:{q}:", self.schema.prefix);
                let mut needed = vec![
                    Needed::new("HDEL", &format!("{job}x"), &["finishedOn"]),
                    Needed::new("HSET", &format!("{job}x"), &["delay", "0"]),
                    Needed::new("HGET", &format!("{job}x"), &["priority"]),
                    Needed::new("HMGET", &keys[2], &["paused", "concurrency"]),
                    Needed::new("LPUSH", &keys[1], &["x"]),
                    Needed::new("ZADD", &keys[4], &["0", "0"]),
                    Needed::new("ZADD", &keys[5], &["0", "x"]),
                    Needed::new("INCR", &keys[6], &[]),
                    Needed::new("XADD", &keys[0], &["*", "event", "waiting"]),
                ];
                if from == "dead" {
                    needed.push(Needed::new("HSET", &keys[2], &["opts.maxLenEvents", "1"]));
                }
                HashedMove {
                    set: self.key(&q, suffix),
                    keys,
                    consts: Vec::new(),
                    job_prefix: job,
                    match_fields: vec!["name", "data", "failedReason"],
                    body,
                    needed,
                    takes_to: false,
                    ids: None,
                }
            })
            .collect())
    }

    /// Per queue, the ids in `:active` whose `:lock` is gone (no worker
    /// holds them: killed, or stalled past its lock), as BullMQ's stalled
    /// check finds them; each checked again in its step.
    pub(crate) async fn orphan_moves(&self, conn: &Conn) -> RedisResult<Vec<HashedMove>> {
        let queues = self.found_queues(conn).await?;
        let lists: Vec<redis::Cmd> = queues
            .iter()
            .map(|q| {
                let mut c = redis::cmd("LRANGE");
                c.arg(self.key(q, "active")).arg(0).arg(99_999);
                c
            })
            .collect();
        let active: Vec<Vec<String>> = if lists.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&lists).await?
        };
        // Every queue's locks in one batch (one round trip per node, not
        // one per queue).
        let ids: Vec<Vec<String>> = active
            .into_iter()
            .map(|ids| ids.into_iter().filter(|i| !i.starts_with("0:")).collect())
            .collect();
        let locks: Vec<redis::Cmd> = queues
            .iter()
            .zip(&ids)
            .flat_map(|(q, ids)| {
                ids.iter().map(move |id| {
                    let mut c = redis::cmd("EXISTS");
                    c.arg(format!("{}:{q}:{id}:lock", self.schema.prefix));
                    c
                })
            })
            .collect();
        let held: Vec<i64> = if locks.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&locks).await?
        };
        let mut held = held.into_iter();
        let mut out = Vec::new();
        for (q, ids) in queues.into_iter().zip(ids) {
            let orphans: Vec<String> = ids
                .into_iter()
                .zip(held.by_ref())
                .filter(|(_, h)| *h == 0)
                .map(|(i, _)| i)
                .collect();
            let mut keys = self.move_keys(&q);
            keys.push(self.key(&q, "stalled"));
            let job = format!("{}:{q}:", self.schema.prefix);
            out.push(HashedMove {
                set: self.key(&q, "active"),
                needed: vec![
                    Needed::new("LREM", &keys[3], &["1", "x"]),
                    Needed::new("HINCRBY", &format!("{job}x"), &["stc", "1"]),
                    Needed::new("SREM", &keys[7], &["x"]),
                    Needed::new("RPUSH", &keys[1], &["x"]),
                    Needed::new("ZADD", &keys[4], &["0", "0"]),
                    Needed::new("XADD", &keys[0], &["*", "event", "stalled"]),
                ],
                keys,
                consts: Vec::new(),
                job_prefix: job,
                match_fields: vec!["name", "data"],
                body: ORPHAN,
                takes_to: false,
                ids: Some(orphans),
            });
        }
        Ok(out)
    }

    /// Each named queue's `:meta paused` (every queue's with `all`).
    pub(crate) async fn pause_flags(
        &self,
        conn: &Conn,
        queues: &[String],
        all: bool,
    ) -> RedisResult<Vec<PauseFlag>> {
        let names = if all {
            self.found_queues(conn).await?
        } else {
            queues.to_vec()
        };
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let cmds: Vec<redis::Cmd> = names
            .iter()
            .map(|q| {
                let mut c = redis::cmd("HEXISTS");
                c.arg(self.key(q, "meta")).arg("paused");
                c
            })
            .collect();
        let paused: Vec<i64> = conn.each_key(&cmds).await?;
        Ok(names
            .into_iter()
            .zip(paused)
            .map(|(q, p)| PauseFlag {
                key: self.key(&q, "meta"),
                queue: Some(q),
                paused: p == 1,
            })
            .collect())
    }

    fn pause_keys(&self, queue: &str) -> Vec<String> {
        [
            "meta",
            "marker",
            "events",
            "paused",
            "wait",
            "prioritized",
            "delayed",
        ]
        .iter()
        .map(|s| self.key(queue, s))
        .collect()
    }

    pub(crate) fn pause_needed(&self, flag: &PauseFlag, paused: bool) -> Vec<Needed> {
        let Some(q) = &flag.queue else {
            return Vec::new();
        };
        let k = self.pause_keys(q);
        let refs: Vec<&str> = k.iter().map(String::as_str).collect();
        let mut n = Needed::scripts(&refs);
        if paused {
            n.push(Needed::new("HSET", &k[0], &["paused", "1"]));
            n.push(Needed::new("DEL", &k[1], &[]));
        } else {
            n.push(Needed::new("HDEL", &k[0], &["paused"]));
            n.push(Needed::new("ZADD", &k[1], &["0", "0"]));
            n.push(Needed::new("RENAME", &k[3], &[&k[4]]));
            n.push(Needed::new("RPUSH", &k[4], &["x"]));
            n.push(Needed::new("LTRIM", &k[3], &["0", "-1"]));
        }
        n.push(Needed::new("XADD", &k[2], &["*", "event", "paused"]));
        n
    }

    /// `queue.pause()` / `resume()`: one script (a resume repeats it while
    /// a legacy `:paused` list still holds ids, 7,000 a step).
    pub(crate) async fn set_paused(
        &self,
        conn: &Conn,
        flag: &PauseFlag,
        paused: bool,
    ) -> RedisResult<()> {
        let Some(q) = &flag.queue else {
            return Ok(());
        };
        let script = guard::script(PAUSE);
        loop {
            let mut inv = script.prepare_invoke();
            for k in self.pause_keys(q) {
                inv.key(k);
            }
            inv.arg(if paused { "paused" } else { "resumed" });
            let left: u64 = conn.invoke(&inv).await?;
            if paused || left == 0 {
                return Ok(());
            }
        }
    }
}
