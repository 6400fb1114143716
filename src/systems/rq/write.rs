//! RQ's writes, each what RQ 3's own code does to the keys (read in its
//! `registry.py`, `queue.py`, `job.py`, `scheduler.py`, `suspension.py`,
//! `command.py`), but in one server-side step where RQ takes several:
//!
//! * the dead sets: each queue's failed registry `rq:failed:<q>` (ids
//!   scored by their expiry; the job hash, its results stream and its
//!   dependents/dependencies sets go with them into a purge's backup, see
//!   `systems::hashed`, their expiry instants kept);
//! * `requeue --from dead`: `FailedJobRegistry.requeue()` (what `rq
//!   requeue` runs): out of the registry (RQ `ZREM`s before its pipeline:
//!   a crash between loses the job; here both are one script),
//!   `started_at`/`ended_at` emptied and `exc_info` set to an empty
//!   compressed string as `job._exc_info = ''` saves it, `status` queued,
//!   `origin`, `enqueued_at` now, the job's `ttl` applied as `cleanup()`
//!   does, `RPUSH` onto `rq:queue:<origin>` and the queue registered in
//!   `rq:queues`;
//! * `requeue --from scheduled`: what the scheduler's
//!   `enqueue_scheduled_jobs` does to a due job, now;
//! * `pause --all` / `resume --all`: `rq suspend` / `rq resume` (`SET
//!   rq:suspended 1` / `DEL`): RQ has no per-queue pause;
//! * `stop workers`: `send_shutdown_command` (`PUBLISH rq:pubsub:<name>
//!   {"command": "shutdown"}`): the worker finishes its job and exits.

use super::Rq;
use crate::connect::Conn;
use crate::systems::dead::{DeadSet, DeadStore};
use crate::systems::guard::Needed;
use crate::systems::hashed::HashedSet;
use crate::systems::requeue::hashed::HashedMove;
use crate::systems::signals::Signal;
use crate::systems::{PauseFlag, Worker};
use redis::RedisResult;

/// RQ's timestamp (`%Y-%m-%dT%H:%M:%S.%fZ`, UTC) of the server's clock.
macro_rules! now_fn {
    () => {
        r#"
local function rq_now()
  local t = redis.call('TIME')
  local s, us = tonumber(t[1]), tonumber(t[2])
  local days = math.floor(s / 86400)
  local rem = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, us)
end
"#
    };
}

/// One job back to its queue. KEYS[3] `rq:queues`. C[2] the queue key
/// prefix, C[3] the registry's queue, C[4] `failed` | `scheduled`.
macro_rules! move_fn {
    () => {
        r#"
local function qctl_checks(to)
  return {{'HSET', C[1] .. 'x', 'status', 'queued'}, {'HMGET', C[1] .. 'x', 'origin'},
    {'RPUSH', C[2] .. (to or 'x'), 'x'}, {'LPUSH', C[2] .. (to or 'x'), 'x'},
    {'SADD', KEYS[3], 'x'}, {'EXPIRE', C[1] .. 'x', '1'}}
end
local function qctl_move(id, job, reset, to)
  local f = redis.call('HMGET', job, 'origin', 'ttl', 'number_of_retries', 'enqueue_at_front',
    'enqueue_at_front_on_retry', 'ended_at')
  local origin = C[3]
  if C[4] == 'failed' then
    origin = to or f[1]
    if not origin or origin == '' then origin = C[3] end
  elseif to then
    origin = to
  end
  redis.call('ZREM', KEYS[1], id)
  if C[4] == 'failed' then
    redis.call('HSET', job, 'started_at', '', 'ended_at', '',
      'exc_info', string.char(0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01))
  end
  redis.call('HSET', job, 'status', 'queued', 'origin', origin, 'enqueued_at', rq_now())
  if reset and f[3] then redis.call('HSET', job, 'retries_left', f[3]) end
  local ttl = tonumber(f[2])
  if ttl and ttl > 0 then
    redis.call('EXPIRE', job, ttl)
    if redis.call('EXISTS', job .. ':dependents') == 1 then redis.call('EXPIRE', job .. ':dependents', ttl) end
    if redis.call('EXISTS', job .. ':dependencies') == 1 then redis.call('EXPIRE', job .. ':dependencies', ttl) end
  end
  local front = C[4] == 'scheduled' and ((f[5] == '1' and f[6] and f[6] ~= '') or f[4] == '1')
  if front then
    redis.call('LPUSH', C[2] .. origin, id)
  else
    redis.call('RPUSH', C[2] .. origin, id)
  end
  redis.call('SADD', KEYS[3], C[2] .. origin)
end
"#
    };
}

impl Rq {
    /// Each queue's failed registry, with each job's hash, results stream
    /// and dependency sets.
    pub(crate) async fn dead_sets(&self, conn: &Conn) -> RedisResult<Vec<DeadSet>> {
        let job = self.key("job:");
        Ok(self
            .found_queues(conn)
            .await?
            .into_iter()
            .map(|q| {
                let key = self.registry_key("failed", &q);
                DeadSet {
                    store: DeadStore::Hashed(HashedSet {
                        set: key.clone(),
                        keys: vec![
                            (job.clone(), String::new()),
                            (self.key("results:"), String::new()),
                            (job.clone(), ":dependents".into()),
                            (job.clone(), ":dependencies".into()),
                        ],
                    }),
                    queue: Some(q),
                    key,
                }
            })
            .collect())
    }

    /// `requeue --from dead` (each failed registry, as `rq requeue`) or
    /// `scheduled` (each scheduled registry, as the scheduler).
    pub(crate) async fn requeue_moves(
        &self,
        conn: &Conn,
        from: &str,
    ) -> RedisResult<Vec<HashedMove>> {
        let (segment, mode) = match from {
            "dead" => ("failed", "failed"),
            "scheduled" => ("scheduled", "scheduled"),
            _ => return Ok(Vec::new()),
        };
        let queues_key = self.key("queues");
        let queue_prefix = self.key("queue:");
        let job = self.key("job:");
        Ok(self
            .found_queues(conn)
            .await?
            .into_iter()
            .map(|q| HashedMove {
                set: self.registry_key(segment, &q),
                keys: vec![queues_key.clone()],
                consts: vec![queue_prefix.clone(), q.clone(), mode.to_string()],
                job_prefix: job.clone(),
                match_fields: vec!["description", "origin", "status"],
                body: MOVE_BODY,
                needed: vec![
                    Needed::new("HSET", &format!("{job}x"), &["status", "queued"]),
                    Needed::new("HMGET", &format!("{job}x"), &["origin"]),
                    Needed::new("RPUSH", &format!("{queue_prefix}{q}"), &["x"]),
                    Needed::new("LPUSH", &format!("{queue_prefix}{q}"), &["x"]),
                    Needed::new("SADD", &queues_key, &["x"]),
                    Needed::new("EXPIRE", &format!("{job}x"), &["1"]),
                ],
                takes_to: true,
                ids: None,
            })
            .collect())
    }

    /// Per queue, the started registry's entries past their expiry (by the
    /// server's clock): jobs whose worker died.
    pub(crate) async fn orphan_moves(&self, conn: &Conn) -> RedisResult<Vec<HashedMove>> {
        let queues = self.found_queues(conn).await?;
        let t: Vec<String> = conn.query(&redis::cmd("TIME")).await?;
        let now = t.first().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        let cmds: Vec<redis::Cmd> = queues
            .iter()
            .map(|q| {
                let mut c = redis::cmd("ZRANGEBYSCORE");
                c.arg(self.registry_key("wip", q))
                    .arg("-inf")
                    .arg(format!("({now}"))
                    .arg("LIMIT")
                    .arg(0)
                    .arg(100_000);
                c
            })
            .collect();
        let found: Vec<Vec<String>> = if cmds.is_empty() {
            Vec::new()
        } else {
            conn.each_key(&cmds).await?
        };
        let queues_key = self.key("queues");
        let queue_prefix = self.key("queue:");
        let job = self.key("job:");
        Ok(queues
            .into_iter()
            .zip(found)
            .map(|(q, ids)| HashedMove {
                set: self.registry_key("wip", &q),
                keys: vec![queues_key.clone()],
                consts: vec![queue_prefix.clone(), q.clone()],
                job_prefix: job.clone(),
                match_fields: vec!["description"],
                body: ORPHAN_BODY,
                needed: vec![
                    Needed::new("ZREM", &self.registry_key("wip", &q), &["x"]),
                    Needed::new("HSET", &format!("{job}x"), &["status", "queued"]),
                    Needed::new("RPUSH", &format!("{queue_prefix}{q}"), &["x"]),
                    Needed::new("SADD", &queues_key, &["x"]),
                ],
                takes_to: true,
                ids: Some(ids),
            })
            .collect())
    }

    /// The deployment's one pause flag, `rq:suspended` (`pause --all`).
    pub(crate) async fn pause_flags(
        &self,
        conn: &Conn,
        _queues: &[String],
        _all: bool,
    ) -> RedisResult<Vec<PauseFlag>> {
        let key = self.key("suspended");
        let n: u64 = conn.query(redis::cmd("EXISTS").arg(&key)).await?;
        Ok(vec![PauseFlag {
            queue: None,
            key,
            paused: n == 1,
        }])
    }

    pub(crate) fn pause_needed(&self, flag: &PauseFlag, paused: bool) -> Vec<Needed> {
        if paused {
            vec![Needed::new("SET", &flag.key, &["1"])]
        } else {
            vec![Needed::new("DEL", &flag.key, &[])]
        }
    }

    /// `rq suspend` (`SET rq:suspended 1`) / `rq resume` (`DEL`).
    pub(crate) async fn set_paused(
        &self,
        conn: &Conn,
        flag: &PauseFlag,
        paused: bool,
    ) -> RedisResult<()> {
        if paused {
            conn.query::<()>(redis::cmd("SET").arg(&flag.key).arg(1))
                .await
        } else {
            conn.query::<()>(redis::cmd("DEL").arg(&flag.key)).await
        }
    }

    /// Every worker (the orphaned ones are shown, never signalled).
    pub(crate) async fn signal_candidates(&self, conn: &Conn) -> RedisResult<Vec<Worker>> {
        Ok(self.workers(conn).await?.0)
    }

    fn pubsub_channel(&self, name: &str) -> String {
        self.key(&format!("pubsub:{name}"))
    }

    pub(crate) fn signal_needed(&self, identity: &str, _sig: Signal) -> Vec<Needed> {
        vec![Needed::new(
            "PUBLISH",
            &self.pubsub_channel(identity),
            &[SHUTDOWN],
        )]
    }

    pub(crate) fn signal_name(&self, _sig: Signal) -> &'static str {
        "shutdown"
    }

    /// `send_shutdown_command`: one PUBLISH the worker's pub/sub thread
    /// reads at once.
    pub(crate) async fn signal(&self, conn: &Conn, identity: &str, sig: Signal) -> RedisResult<()> {
        if sig != Signal::Stop {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "RQ workers take no quiet command",
            )));
        }
        let receivers: u64 = conn
            .query(
                redis::cmd("PUBLISH")
                    .arg(self.pubsub_channel(identity))
                    .arg(SHUTDOWN),
            )
            .await?;
        if receivers == 0 {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "no worker listens on its pub/sub channel (it has stopped, or its pub/sub thread is not running)",
            )));
        }
        Ok(())
    }
}

/// What `send_shutdown_command` publishes.
const SHUTDOWN: &str = r#"{"command": "shutdown"}"#;

/// A started job past its expiry (its worker died: no heartbeat extends
/// it) back to its queue, as `rq requeue` would put it. Ids are the
/// registry's members, `<job id>:<execution id>`. KEYS[3] `rq:queues`;
/// C[2] the queue key prefix, C[3] the registry's queue.
macro_rules! orphan_fn {
    () => {
        r#"
local function qctl_checks(to)
  return {{'ZREM', KEYS[1], 'x'}, {'HSET', C[1] .. 'x', 'status', 'queued'},
    {'RPUSH', C[2] .. (to or 'x'), 'x'}, {'SADD', KEYS[3], 'x'}}
end
local function qctl_move(member, _job, reset, to)
  local score = redis.call('ZSCORE', KEYS[1], member)
  if not score then return 0 end
  local t = redis.call('TIME')
  if tonumber(score) > tonumber(t[1]) + tonumber(t[2]) / 1e6 then return 0 end
  local jid = string.match(member, '^(.*):[^:]*$') or member
  local job = C[1] .. jid
  if redis.call('EXISTS', job) == 0 then return -1 end
  local origin = to or redis.call('HGET', job, 'origin')
  if not origin or origin == '' then origin = C[3] end
  redis.call('ZREM', KEYS[1], member)
  redis.call('HSET', job, 'status', 'queued', 'started_at', '', 'origin', origin, 'enqueued_at', rq_now())
  redis.call('RPUSH', C[2] .. origin, jid)
  redis.call('SADD', KEYS[3], C[2] .. origin)
  return 1
end
"#
    };
}

/// The body for orphans.
const ORPHAN_BODY: &str = concat!(now_fn!(), orphan_fn!());

/// The body of [`HashedMove`] for RQ: the date helper and the move.
const MOVE_BODY: &str = concat!(now_fn!(), move_fn!());
