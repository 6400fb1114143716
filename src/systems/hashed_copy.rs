//! Copying jobs kept in hashes (their ids in a list or a sorted set: BullMQ's
//! `:wait`, `:prioritized`, `:delayed`, `:failed`; RQ's `rq:queue:<q>` and
//! registries) from one server to another, idempotently, ids kept.
//!
//! The source is read window by window ([`WINDOW`] ids from the consumer
//! end of a list, oldest first, or by rank from a sorted set, with their
//! scores), then each window's hashes (`HGETALL`, `PTTL`) and the keys
//! beside them ([`Side`]: BullMQ's `:logs` lists; RQ's `rq:results:<id>`
//! streams, under another prefix, with their TTLs). On the target, one script per window
//! (cut at [`STEP_BYTES`] of job data, so each stays a few ms) checks the
//! ACL for every command it may run (`qctl_may`) and that this run still
//! holds the target set's replicate lock (a run that stalled past its lock
//! writes nothing), then, per id:
//!
//! * no hash of that id on the target: the hash is created (every field,
//!   its TTL, the side keys) and the id added to the target set (a list at
//!   its producer end, so the target's own waiting jobs run first and the
//!   copies keep their order: LPUSH for BullMQ's `:wait`, whose consumer is
//!   the right end, RPUSH for RQ's queues, run from the head; a sorted set
//!   with its score);
//! * a hash of that id that is the same job (the system's
//!   [`CopySet::same_fields`] equal, e.g. BullMQ's `name`, `data`, `opts`,
//!   `timestamp`: what a job is created with, not what running it changes)
//!   is skipped and counted a duplicate, whatever state it is in there;
//! * a hash of that id holding another job (or a key of another type) is a
//!   conflict: counted, never overwritten.
//!
//! Then the counters are raised (never lowered) past the copied ids
//! ([`Counter::Id`]: BullMQ's `:id`, which its next job INCRs; ids that are
//! not plain numbers leave it alone) and scores ([`Counter::ScoreLow32`]:
//! BullMQ's `:pc`), and the system's own fragment runs ([`Wake`]: BullMQ's
//! marker, so idle workers wake). A window is one atomic step, so a copy
//! killed at any instant and run again ends with each job exactly once on
//! the target: a re-run finds the copied ones and skips them.

use super::guard::{self, Needed};
use super::lists::Store;
use crate::connect::Conn;
use redis::{RedisResult, Value};

/// Ids read per window (each costs a handful of commands on the target).
pub(crate) const WINDOW: i64 = 200;

/// A step sends at most about this many bytes of job data (one job more
/// when a single job is larger).
pub(crate) const STEP_BYTES: usize = 1 << 20;

/// A counter the target's system takes new ids (or scores) from, raised
/// past what a copy brings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counter {
    /// Past the highest copied id that is a plain decimal number (BullMQ
    /// `INCR`s `:id` for each new job, and would reuse a copied id).
    Id(String),
    /// Past the low 32 bits of the highest copied score (BullMQ's `:pc`,
    /// the FIFO counter inside a priority: `priority * 2^32 + pc`).
    ScoreLow32(String),
}

impl Counter {
    fn key(&self) -> &str {
        match self {
            Counter::Id(k) | Counter::ScoreLow32(k) => k,
        }
    }
}

/// What a system does on the target after a step added jobs, as its own
/// "add" does (BullMQ: the marker that wakes idle workers): a Lua fragment
/// defining `qctl_wake_prepare()` (its reads, run before the step's first
/// write so a key of the wrong type fails the step before it changed
/// anything; returns the `qctl_may` tables of what `qctl_wake` may send)
/// and `qctl_wake(copied)`. It sees its keys as `W[1]`, `W[2]`, ... and the
/// set as `KEYS[1]`.
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    pub(crate) keys: Vec<String>,
    pub(crate) body: &'static str,
    /// What it sends, for `ACL DRYRUN`.
    pub(crate) needed: Vec<Needed>,
}

/// What a key beside a job hash holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SideKind {
    /// A list (BullMQ's `:logs`), copied item by item (`RPUSH`).
    List,
    /// A stream (RQ's results), copied entry by entry with its entry ids
    /// (`XADD key <id> ...`).
    Stream,
}

/// A key beside each job hash, copied with it when the hash is created on
/// the target (and only when that key does not exist there yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Side {
    /// The key is `prefix .. id .. suffix`; `None`: the job hash's prefix.
    pub(crate) prefix: Option<String>,
    pub(crate) suffix: &'static str,
    pub(crate) kind: SideKind,
    /// Copied with its remaining TTL (RQ's results expire with the job).
    pub(crate) ttl: bool,
}

impl Side {
    /// A list `<job hash> .. suffix`, no TTL (BullMQ's `:logs`).
    pub(crate) fn list(suffix: &'static str) -> Side {
        Side {
            prefix: None,
            suffix,
            kind: SideKind::List,
            ttl: false,
        }
    }

    fn prefix<'a>(&'a self, set: &'a CopySet) -> &'a str {
        self.prefix.as_deref().unwrap_or(&set.job_prefix)
    }

    fn key(&self, set: &CopySet, id: &[u8]) -> Vec<u8> {
        let mut k = self.prefix(set).as_bytes().to_vec();
        k.extend_from_slice(id);
        k.extend_from_slice(self.suffix.as_bytes());
        k
    }
}

/// One set of ids whose jobs live in hashes, on one side of a copy.
#[derive(Debug, Clone)]
pub(crate) struct CopySet {
    /// How plans and results name it (`mail`, `mail:delayed`).
    pub(crate) name: String,
    /// The key holding the ids.
    pub(crate) key: String,
    /// A list or a sorted set.
    pub(crate) store: Store,
    /// For a list: its head (index 0) runs next (RQ: read from the head,
    /// copies `RPUSH`ed at the tail); `false`: its consumer is the right
    /// end (BullMQ's `:wait`: read from the right, copies `LPUSH`ed).
    pub(crate) head_first: bool,
    /// A job's hash is `job_prefix .. id`.
    pub(crate) job_prefix: String,
    /// Keys beside each hash (BullMQ's `:logs`, RQ's results), copied
    /// with it.
    pub(crate) side: Vec<Side>,
    /// The fields that tell whether the target's hash of an id is the same
    /// job; empty: every field.
    pub(crate) same_fields: Vec<&'static str>,
    pub(crate) counters: Vec<Counter>,
    pub(crate) wake: Option<Wake>,
}

/// A queue's sets a copy takes, and those it leaves (with why).
#[derive(Debug, Clone, Default)]
pub(crate) struct QueueCopy {
    pub(crate) sets: Vec<CopySet>,
    /// (key, store, why): BullMQ's `:active` ("in flight on the source's
    /// workers"), counted for the plan.
    pub(crate) left: Vec<(String, Store, &'static str)>,
}

impl CopySet {
    /// Every key a step declares: the set, the lock, the counters, the
    /// wake keys.
    fn keys(&self) -> Vec<String> {
        let mut k = vec![self.key.clone(), super::copy::queue_lock(&self.key)];
        k.extend(self.counters.iter().map(|c| c.key().to_string()));
        if let Some(w) = &self.wake {
            k.extend(w.keys.iter().cloned());
        }
        k
    }

    /// Whether a step's keys (and the job hashes) share one hash slot, as
    /// a script on Redis Cluster needs.
    pub(crate) fn one_slot(&self) -> bool {
        use super::slots::key_slot;
        let slot = key_slot(self.key.as_bytes());
        let job = format!("{}x", self.job_prefix);
        let sides: Vec<Vec<u8>> = self.side.iter().map(|s| s.key(self, b"x")).collect();
        self.keys()
            .iter()
            .chain(std::iter::once(&job))
            .all(|k| key_slot(k.as_bytes()) == slot)
            && sides.iter().all(|k| key_slot(k) == slot)
    }

    /// Every command a copy sends to this set's target (for `ACL DRYRUN`).
    pub(crate) fn target_needed(&self) -> Vec<Needed> {
        let keys = self.keys();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut n = Needed::scripts(&refs);
        n.extend(super::copy::lock_needed(&keys[1]));
        let job = format!("{}x", self.job_prefix);
        n.extend([
            Needed::new("TYPE", &self.key, &[]),
            Needed::new("EXISTS", &job, &[]),
            Needed::new("HGET", &job, &["name"]),
            Needed::new("HSET", &job, &["f", "v"]),
            Needed::new("PEXPIRE", &job, &["1000"]),
        ]);
        n.push(match self.store {
            Store::List if self.head_first => Needed::new("RPUSH", &self.key, &["x"]),
            Store::List => Needed::new("LPUSH", &self.key, &["x"]),
            Store::SortedSet => Needed::new("ZADD", &self.key, &["NX", "0", "x"]),
        });
        for s in &self.side {
            let k = String::from_utf8_lossy(&s.key(self, b"x")).into_owned();
            n.push(match s.kind {
                SideKind::List => Needed::new("RPUSH", &k, &["x"]),
                SideKind::Stream => Needed::new("XADD", &k, &["1-1", "f", "v"]),
            });
            if s.ttl {
                n.push(Needed::new("PEXPIRE", &k, &["1000"]));
            }
        }
        for c in &self.counters {
            n.push(Needed::new("GET", c.key(), &[]));
            n.push(Needed::new("SET", c.key(), &["1"]));
        }
        if let Some(w) = &self.wake {
            n.extend(w.needed.iter().cloned());
        }
        n
    }
}

/// One job read from the source.
#[derive(Debug, Clone)]
pub(crate) struct SourceJob {
    pub(crate) id: Vec<u8>,
    /// Its score in a sorted set, as Redis prints it.
    pub(crate) score: Option<String>,
    /// `HGETALL` (field, value) pairs.
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Milliseconds left to live (`None`: no expiry).
    pub(crate) pttl: Option<i64>,
    /// Per [`CopySet::side`], what it holds (empty when none, or when the
    /// key is of another type).
    pub(crate) side: Vec<SideItems>,
}

/// One side key as read from the source.
#[derive(Debug, Clone, Default)]
pub(crate) struct SideItems {
    /// Milliseconds left to live (`None`: no expiry, or not asked).
    pub(crate) pttl: Option<i64>,
    /// A list's items; a stream's entries flattened as `id, 2n, f1, v1,
    /// ... fn, vn` each.
    pub(crate) items: Vec<Vec<u8>>,
}

impl SourceJob {
    fn bytes(&self) -> usize {
        self.id.len()
            + self
                .fields
                .iter()
                .map(|(f, v)| f.len() + v.len())
                .sum::<usize>()
            + self
                .side
                .iter()
                .flat_map(|s| &s.items)
                .map(Vec::len)
                .sum::<usize>()
    }
}

/// One window of a source set's ids (with scores for a sorted set): list
/// windows from the consumer end, oldest first; sorted sets by rank, lowest
/// score first.
pub(crate) async fn id_window(
    conn: &Conn,
    set: &CopySet,
    n: i64,
) -> RedisResult<Vec<(Vec<u8>, Option<String>)>> {
    let off = n * WINDOW;
    match set.store {
        Store::List if set.head_first => {
            let ids: Vec<Vec<u8>> = conn
                .query(
                    redis::cmd("LRANGE")
                        .arg(&set.key)
                        .arg(off)
                        .arg(off + WINDOW - 1),
                )
                .await?;
            Ok(ids.into_iter().map(|i| (i, None)).collect())
        }
        Store::List => {
            let mut ids: Vec<Vec<u8>> = conn
                .query(
                    redis::cmd("LRANGE")
                        .arg(&set.key)
                        .arg(-(off + WINDOW))
                        .arg(-(off + 1)),
                )
                .await?;
            ids.reverse();
            Ok(ids.into_iter().map(|i| (i, None)).collect())
        }
        Store::SortedSet => {
            let v: Vec<Value> = conn
                .query(
                    redis::cmd("ZRANGE")
                        .arg(&set.key)
                        .arg(off)
                        .arg(off + WINDOW - 1)
                        .arg("WITHSCORES"),
                )
                .await?;
            Ok(super::copy::scored(v)?
                .into_iter()
                .map(|(m, s)| (m, Some(s)))
                .collect())
        }
    }
}

/// The value of an error-tolerant pipeline reply, as bytes pairs.
fn pairs(v: &Value) -> Vec<(Vec<u8>, Vec<u8>)> {
    fn bytes(v: &Value) -> Option<Vec<u8>> {
        match v {
            Value::BulkString(b) => Some(b.clone()),
            Value::SimpleString(s) => Some(s.clone().into_bytes()),
            Value::Int(n) => Some(n.to_string().into_bytes()),
            _ => None,
        }
    }
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| match c {
                [f, v] => Some((bytes(f)?, bytes(v)?)),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m
            .iter()
            .filter_map(|(f, v)| Some((bytes(f)?, bytes(v)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A stream's `XRANGE` reply flattened as [`SideItems::items`]; an entry
/// without fields (which `XADD` could not write) is left out.
fn entries(v: &Value) -> Vec<Vec<u8>> {
    let Value::Array(es) = v else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in es {
        let Value::Array(parts) = e else { continue };
        let (Some(Value::BulkString(id)), Some(fields)) = (parts.first(), parts.get(1)) else {
            continue;
        };
        let p = pairs(fields);
        if p.is_empty() {
            continue;
        }
        out.push(id.clone());
        out.push((p.len() * 2).to_string().into_bytes());
        for (f, v) in p {
            out.push(f);
            out.push(v);
        }
    }
    out
}

fn items(v: &Value) -> Vec<Vec<u8>> {
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|i| match i {
                Value::BulkString(b) => Some(b.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The jobs of `ids` as the source holds them, in order; `missing` counts
/// ids whose hash is gone (expired, or removed since the ids were read),
/// or is not a hash: left out.
pub(crate) async fn read_jobs(
    conn: &Conn,
    set: &CopySet,
    ids: Vec<(Vec<u8>, Option<String>)>,
) -> RedisResult<(Vec<SourceJob>, u64)> {
    if ids.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let per = 2 + set.side.iter().map(|s| 1 + s.ttl as usize).sum::<usize>();
    let mut p = redis::pipe();
    p.ignore_errors();
    for (id, _) in &ids {
        let mut key = set.job_prefix.as_bytes().to_vec();
        key.extend_from_slice(id);
        p.cmd("HGETALL").arg(&key).cmd("PTTL").arg(&key);
        for s in &set.side {
            let k = s.key(set, id);
            match s.kind {
                SideKind::List => p.cmd("LRANGE").arg(&k).arg(0).arg(-1),
                SideKind::Stream => p.cmd("XRANGE").arg(&k).arg("-").arg("+"),
            };
            if s.ttl {
                p.cmd("PTTL").arg(&k);
            }
        }
    }
    let replies: Vec<Value> = conn.pipe_slot(&p).await?;
    let mut out = Vec::with_capacity(ids.len());
    let mut missing = 0;
    for ((id, score), r) in ids.into_iter().zip(replies.chunks(per)) {
        let fields = r.first().map(pairs).unwrap_or_default();
        if fields.is_empty() {
            missing += 1;
            continue;
        }
        let ttl_of = |v: Option<&Value>| match v {
            Some(Value::Int(n)) if *n > 0 => Some(*n),
            _ => None,
        };
        let pttl = ttl_of(r.get(1));
        let mut at = 2;
        let mut side = Vec::with_capacity(set.side.len());
        for s in &set.side {
            let v = r.get(at).unwrap_or(&Value::Nil);
            let items = match s.kind {
                SideKind::List => items(v),
                SideKind::Stream => entries(v),
            };
            let pttl = if s.ttl { ttl_of(r.get(at + 1)) } else { None };
            at += 1 + s.ttl as usize;
            side.push(SideItems { pttl, items });
        }
        out.push(SourceJob {
            id,
            score,
            fields,
            pttl,
            side,
        });
    }
    Ok((out, missing))
}

/// Whether `id` is a plain decimal number that `INCR` could reach: no sign,
/// no leading zero, within i64.
pub(crate) fn numeric_id(id: &[u8]) -> Option<u64> {
    if id.is_empty() || id.len() > 19 || id[0] == b'0' || !id.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(id)
        .ok()?
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= i64::MAX as u64)
}

/// The low 32 bits of a score that is a whole number (BullMQ's priority
/// scores); `None` for anything else.
fn score_low32(score: &str) -> Option<u64> {
    let f: f64 = score.parse().ok()?;
    if !(0.0..9.007_199_254_740_992e15).contains(&f) || f.fract() != 0.0 {
        return None;
    }
    Some((f as u64) & 0xFFFF_FFFF)
}

/// What a counter should be raised to for `jobs` (`""`: leave it).
fn counter_floor(c: &Counter, jobs: &[SourceJob]) -> String {
    let max = match c {
        Counter::Id(_) => jobs.iter().filter_map(|j| numeric_id(&j.id)).max(),
        Counter::ScoreLow32(_) => jobs
            .iter()
            .filter_map(|j| j.score.as_deref().and_then(score_low32))
            .max(),
    };
    max.map(|m| m.to_string()).unwrap_or_default()
}

/// KEYS: set, lock, counters, wake keys. ARGV: holder, job prefix, `l`
/// (a list, copies LPUSHed), `r` (a list, copies RPUSHed) or `z`, the
/// number of counters, their floors (`""`: leave), the number of sides,
/// per side its prefix, suffix, `l` (list) or `x` (stream) and `1` (TTL
/// copied) or `0`, the number
/// of same-fields, the fields, then per job: id, score, pttl (`0`: none),
/// 2 * fields, the fields and values, then per side: pttl (`0`: none), n,
/// n items. Returns {copied, duplicates, conflicts}.
const STEP: &str = r#"
local prefix, list, tail = ARGV[2], ARGV[3] ~= 'z', ARGV[3] == 'r'
local i = 4
local nc = tonumber(ARGV[i])
local floors = {}
for k = 1, nc do floors[k] = ARGV[i + k] end
i = i + nc + 1
local ns = tonumber(ARGV[i])
local side = {}
for k = 1, ns do
  local b = i + 4 * (k - 1)
  side[k] = {prefix = ARGV[b + 1], suffix = ARGV[b + 2], stream = ARGV[b + 3] == 'x', ttl = ARGV[b + 4] == '1'}
end
i = i + 4 * ns + 1
local nf = tonumber(ARGV[i])
local same = {}
for k = 1, nf do same[k] = ARGV[i + k] end
i = i + nf + 1
local W = {}
for k = 3 + nc, #KEYS do W[#W + 1] = KEYS[k] end
"#;

/// The fragment of a set without a [`Wake`].
const NO_WAKE: &str = r#"
local function qctl_wake_prepare() return {} end
local function qctl_wake(copied) end
"#;

const STEP_LOOP: &str = r#"
local checks = {{'HSET', prefix .. 'x', 'f', 'v'}, {'PEXPIRE', prefix .. 'x', '1'},
  list and {tail and 'RPUSH' or 'LPUSH', KEYS[1], 'x'} or {'ZADD', KEYS[1], 'NX', '0', 'x'}, {'PEXPIRE', KEYS[2], '1'}}
for _, s in ipairs(side) do
  local sk = s.prefix .. 'x' .. s.suffix
  checks[#checks + 1] = s.stream and {'XADD', sk, '1-1', 'f', 'v'} or {'RPUSH', sk, 'x'}
  if s.ttl then checks[#checks + 1] = {'PEXPIRE', sk, '1'} end
end
for k = 1, nc do checks[#checks + 1] = {'SET', KEYS[2 + k], '1'} end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return redis.error_reply('QCTLLOCK the replicate lock ' .. KEYS[2] .. ' is no longer held by this run')
end
-- Every read that could fail on a key of another type, before any write.
local want = list and 'list' or 'zset'
local ty = redis.call('TYPE', KEYS[1])['ok']
if ty ~= 'none' and ty ~= want then
  return redis.error_reply('WRONGTYPE ' .. KEYS[1] .. ' holds a ' .. ty .. ', not a ' .. want .. ': nothing was copied into it')
end
local cur = {}
for k = 1, nc do
  local t = redis.call('TYPE', KEYS[2 + k])['ok']
  if t ~= 'none' and t ~= 'string' then
    return redis.error_reply('WRONGTYPE ' .. KEYS[2 + k] .. ' holds a ' .. t .. ', not a counter: nothing was copied')
  end
  cur[k] = redis.call('GET', KEYS[2 + k])
end
for _, c in ipairs(qctl_wake_prepare()) do checks[#checks + 1] = c end
qctl_may(unpack(checks))
local function field_of(f0, n, name)
  for k = f0, f0 + n - 1, 2 do
    if ARGV[k] == name then return ARGV[k + 1] end
  end
  return false
end
local function is_same(key, f0, n)
  if redis.call('TYPE', key)['ok'] ~= 'hash' then return false end
  if #same == 0 then
    if redis.call('HLEN', key) * 2 ~= n then return false end
    for k = f0, f0 + n - 1, 2 do
      if redis.call('HGET', key, ARGV[k]) ~= ARGV[k + 1] then return false end
    end
    return true
  end
  for _, name in ipairs(same) do
    if redis.call('HGET', key, name) ~= field_of(f0, n, name) then return false end
  end
  return true
end
local copied, dups, clash = 0, 0, 0
while i <= #ARGV do
  local id, score, pttl, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local f0 = i + 4
  i = f0 + n
  local key = prefix .. id
  if redis.call('EXISTS', key) == 1 then
    if is_same(key, f0, n) then dups = dups + 1 else clash = clash + 1 end
    for _ = 1, #side do i = i + 2 + tonumber(ARGV[i + 1]) end
  else
    for k = f0, f0 + n - 1, 1000 do
      redis.call('HSET', key, unpack(ARGV, k, math.min(k + 999, f0 + n - 1)))
    end
    if pttl > 0 then redis.call('PEXPIRE', key, pttl) end
    for _, s in ipairs(side) do
      local sp, m = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
      local sk = s.prefix .. id .. s.suffix
      local last = i + 1 + m
      if m > 0 and redis.call('EXISTS', sk) == 0 then
        if s.stream then
          local k = i + 2
          while k < last do
            local nf = tonumber(ARGV[k + 1])
            redis.call('XADD', sk, ARGV[k], unpack(ARGV, k + 2, k + 1 + nf))
            k = k + 2 + nf
          end
        else
          for k = i + 2, last, 1000 do
            redis.call('RPUSH', sk, unpack(ARGV, k, math.min(k + 999, last)))
          end
        end
        if s.ttl and sp > 0 then redis.call('PEXPIRE', sk, sp) end
      end
      i = last + 1
    end
    if tail then
      redis.call('RPUSH', KEYS[1], id)
    elseif list then
      redis.call('LPUSH', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[1], 'NX', score, id)
    end
    copied = copied + 1
  end
end
local function bigger(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
for k = 1, nc do
  local c = cur[k]
  if c then c = string.gsub(c, '^0+', '') end
  if floors[k] ~= '' and (not c or (string.match(c, '^%d*$') and bigger(floors[k], c))) then
    redis.call('SET', KEYS[2 + k], floors[k])
  end
end
if copied > 0 then qctl_wake(copied) end
return {copied, dups, clash}
"#;

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Copied {
    pub(crate) copied: u64,
    pub(crate) duplicates: u64,
    pub(crate) conflicts: u64,
}

impl std::ops::AddAssign for Copied {
    fn add_assign(&mut self, o: Copied) {
        self.copied += o.copied;
        self.duplicates += o.duplicates;
        self.conflicts += o.conflicts;
    }
}

fn script_of(set: &CopySet) -> redis::Script {
    // The fragment reads its keys from `W`, declared before it, so it
    // never needs to know how many counters come before them.
    let wake = set.wake.as_ref().map_or(NO_WAKE, |w| w.body);
    guard::script(&format!("{STEP}\n{wake}\n{STEP_LOOP}"))
}

/// Copies `jobs` (read from the source, in order) into the target set,
/// in steps of at most [`STEP_BYTES`], if this run holds the lock.
pub(crate) async fn copy_jobs(
    conn: &Conn,
    set: &CopySet,
    holder: &str,
    jobs: &[SourceJob],
) -> RedisResult<Copied> {
    let mut done = Copied::default();
    let script = script_of(set);
    let mut start = 0;
    while start < jobs.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < jobs.len() && (end == start || bytes + jobs[end].bytes() <= STEP_BYTES) {
            bytes += jobs[end].bytes();
            end += 1;
        }
        let chunk = &jobs[start..end];
        let mut inv = script.prepare_invoke();
        for k in set.keys() {
            inv.key(k);
        }
        inv.arg(holder)
            .arg(&set.job_prefix)
            .arg(match set.store {
                Store::List if set.head_first => "r",
                Store::List => "l",
                Store::SortedSet => "z",
            })
            .arg(set.counters.len());
        for c in &set.counters {
            inv.arg(counter_floor(c, chunk));
        }
        inv.arg(set.side.len());
        for s in &set.side {
            inv.arg(s.prefix(set))
                .arg(s.suffix)
                .arg(match s.kind {
                    SideKind::List => "l",
                    SideKind::Stream => "x",
                })
                .arg(if s.ttl { "1" } else { "0" });
        }
        inv.arg(set.same_fields.len());
        for f in &set.same_fields {
            inv.arg(*f);
        }
        for j in chunk {
            inv.arg(j.id.as_slice())
                .arg(j.score.as_deref().unwrap_or("0"))
                .arg(j.pttl.unwrap_or(0))
                .arg(j.fields.len() * 2);
            for (f, v) in &j.fields {
                inv.arg(f.as_slice()).arg(v.as_slice());
            }
            for s in &j.side {
                inv.arg(s.pttl.unwrap_or(0)).arg(s.items.len());
                for it in &s.items {
                    inv.arg(it.as_slice());
                }
            }
        }
        let (copied, duplicates, conflicts): (u64, u64, u64) = conn.invoke(&inv).await?;
        done += Copied {
            copied,
            duplicates,
            conflicts,
        };
        start = end;
    }
    Ok(done)
}

/// What a plan expects one window to do: (new, duplicates, conflicts,
/// missing on the source), compared as a step would, without writing.
pub(crate) async fn classify(
    src: &Conn,
    dst: &Conn,
    src_set: &CopySet,
    dst_set: &CopySet,
    ids: &[(Vec<u8>, Option<String>)],
) -> RedisResult<(Copied, u64)> {
    let fields = &src_set.same_fields;
    let read = |conn: &Conn, prefix: &str| {
        let mut p = redis::pipe();
        p.ignore_errors();
        for (id, _) in ids {
            let mut key = prefix.as_bytes().to_vec();
            key.extend_from_slice(id);
            p.cmd("TYPE").arg(&key);
            if fields.is_empty() {
                p.cmd("HGETALL").arg(&key);
            } else {
                p.cmd("HMGET").arg(&key).arg(fields);
            }
        }
        let conn = conn.clone();
        async move { conn.pipe_slot::<Value>(&p).await }
    };
    let (a, b) = if ids.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        (
            read(src, &src_set.job_prefix).await?,
            read(dst, &dst_set.job_prefix).await?,
        )
    };
    let kind = |v: &Value| match v {
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        _ => "none".into(),
    };
    let norm = |v: &Value| -> Vec<(Vec<u8>, Vec<u8>)> {
        if fields.is_empty() {
            let mut p = pairs(v);
            p.sort();
            p
        } else {
            match v {
                Value::Array(vals) => fields
                    .iter()
                    .zip(vals)
                    .filter_map(|(f, v)| match v {
                        Value::BulkString(b) => Some((f.as_bytes().to_vec(), b.clone())),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        }
    };
    let mut out = Copied::default();
    let mut missing = 0;
    for (s, d) in a.chunks(2).zip(b.chunks(2)) {
        if kind(&s[0]) != "hash" {
            missing += 1;
        } else if kind(&d[0]) == "none" {
            out.copied += 1;
        } else if kind(&d[0]) == "hash" && norm(&s[1]) == norm(&d[1]) {
            out.duplicates += 1;
        } else {
            out.conflicts += 1;
        }
    }
    Ok((out, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_numbers_raise_the_id_counter() {
        assert_eq!(numeric_id(b"42"), Some(42));
        assert_eq!(numeric_id(b"9223372036854775807"), Some(i64::MAX as u64));
        for bad in [
            &b""[..],
            b"0",
            b"007",
            b"-3",
            b"12a",
            b"order-9",
            b"9223372036854775808",
            b"99999999999999999999",
        ] {
            assert_eq!(numeric_id(bad), None, "{bad:?}");
        }
        let job = |id: &str, score: Option<&str>| SourceJob {
            id: id.as_bytes().to_vec(),
            score: score.map(String::from),
            fields: vec![(b"name".to_vec(), b"x".to_vec())],
            pttl: None,
            side: Vec::new(),
        };
        let jobs = [job("7", None), job("custom", None), job("12", None)];
        assert_eq!(counter_floor(&Counter::Id("c".into()), &jobs), "12");
        assert_eq!(counter_floor(&Counter::Id("c".into()), &jobs[1..2]), "");
        // priority 5, counter 3 and priority 1, counter 9
        let p = [
            job("1", Some("21474836483")),
            job("2", Some("4294967305")),
            job("3", Some("nan")),
        ];
        assert_eq!(counter_floor(&Counter::ScoreLow32("pc".into()), &p), "9");
    }

    #[test]
    fn a_step_is_cut_by_bytes() {
        let big = SourceJob {
            id: b"1".to_vec(),
            score: None,
            fields: vec![(b"data".to_vec(), vec![b'x'; STEP_BYTES])],
            pttl: None,
            side: vec![SideItems {
                pttl: None,
                items: vec![b"log".to_vec()],
            }],
        };
        assert!(big.bytes() > STEP_BYTES);
    }
}
