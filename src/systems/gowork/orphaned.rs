//! `requeue --orphaned` for go-redis-work-queue: the jobs of a processing
//! list whose heartbeat key is gone (a dead worker's in-flight jobs) go
//! back to a work queue, each exactly once, and never a live worker's.
//!
//! go-redis-work-queue's own reaper does `RPOP` then `LPUSH`: a crash
//! between the two loses the job. Here each step is one Lua script (with
//! the ACL prelude of `guard`, pushing before it trims) on the processing
//! list's slot that, in the same script:
//!
//! * checks the run's lock on the processing list (fencing: a run that
//!   stalled past its lock stops);
//! * checks the heartbeat key is still absent, when it shares the
//!   processing list's slot (always on a standalone server); otherwise a
//!   separate `EXISTS` reads it just before the script (see "Across
//!   slots");
//! * checks the list is still what the plan saw (its length and its newest
//!   job, at the left end, where `BRPOPLPUSH` pushes) and that each job it
//!   takes is still there byte for byte: a worker that is alive after all
//!   (between its `BRPOPLPUSH` and its heartbeat `SET` at the plan, say)
//!   has taken or finished a job since, so its list changed and it is left
//!   alone;
//! * takes up to a window of jobs from the consumer end (the right, the
//!   oldest) and pushes them (`LPUSH`, the back of the line, like the
//!   reaper) to the queue each job's `priority` names, or to a staging
//!   list across slots, then trims them off.
//!
//! Across slots on Redis Cluster (the default schema's keys all hash
//! apart) a batch of jobs bound for one queue goes through the staging +
//! receipt protocol of [`super`]: staging list and marker beside the
//! processing list (`{<processing key>}:qctl-orphaned:staging`/`:batch`),
//! `PUSH_STAGED` with receipts on the destination's slot, then clearing.
//! A crash at any point leaves the batch in staging with its marker; the
//! next run's plan finds markers by `SCAN` (the processing list itself may
//! be empty by then) and finishes them first.
//!
//! What the heartbeat check guarantees: when the heartbeat key shares the
//! processing list's slot, no job of a worker whose heartbeat exists when
//! the script runs is ever taken. Otherwise (the default schema on a
//! cluster) it is read just before the script: a worker that comes back in
//! that gap (a few hundred microseconds) loses nothing, but its in-flight
//! job may run twice.
//!
//! Crash points (`QCTL_FAULT`): `orphan-after-stage` (a batch staged, not
//! pushed), `orphan-after-push` (pushed with its receipt, staging not
//! cleared), `orphan-before-take` (before each worker's first step, after
//! the lock and recovery: for tests that change the world there).

use crate::connect::Conn;
use crate::systems::guard::{self, Needed};
use crate::systems::requeue::{self as mv, MoveKeys, StepCount};
use crate::systems::slots::{key_slot, sibling_key};
use redis::{RedisResult, Value};

/// The suffix of a batch marker's key: `SCAN` finds leftovers by it.
pub(crate) const MARKER_SUFFIX: &str = "qctl-orphaned:batch";

/// The side keys beside one processing list (`dst` unused: each batch
/// names its own destination in its marker).
pub(crate) fn side_keys(processing: &str) -> MoveKeys {
    MoveKeys {
        src: processing.to_string(),
        dst: String::new(),
        kept: sibling_key(processing, "qctl-orphaned:kept"),
        staging: sibling_key(processing, "qctl-orphaned:staging"),
        marker: sibling_key(processing, MARKER_SUFFIX),
        lock: sibling_key(processing, "qctl-orphaned:lock"),
    }
}

/// Where each job goes: the work queue its `priority` names, else the
/// lowest-priority work queue; or one queue for all (`--to`).
#[derive(Debug, Clone)]
pub(crate) struct Routes {
    /// Destination keys; an index into this is a route.
    pub(crate) keys: Vec<String>,
    /// (priority name, index into `keys`).
    by_priority: Vec<(String, usize)>,
    /// Where jobs without a usable priority go.
    pub(crate) fallback: usize,
    /// `--to`: every job goes to `keys[0]`.
    pub(crate) fixed: bool,
}

impl Routes {
    /// By priority over the schema's work queues (name, key), highest
    /// first. `None` when there is no work queue.
    pub(crate) fn by_priority(queues: &[(String, String)]) -> Option<Routes> {
        if queues.is_empty() {
            return None;
        }
        Some(Routes {
            keys: queues.iter().map(|(_, k)| k.clone()).collect(),
            by_priority: queues
                .iter()
                .enumerate()
                .map(|(i, (n, _))| (n.clone(), i))
                .collect(),
            fallback: queues.len() - 1,
            fixed: false,
        })
    }

    pub(crate) fn fixed(key: &str) -> Routes {
        Routes {
            keys: vec![key.to_string()],
            by_priority: Vec::new(),
            fallback: 0,
            fixed: true,
        }
    }

    /// The destination of `job`, and whether it fell back (no priority
    /// naming a queue, or not JSON).
    pub(crate) fn route(&self, job: &[u8]) -> (usize, bool) {
        if self.fixed {
            return (0, false);
        }
        #[derive(serde::Deserialize)]
        struct Priority<'a> {
            #[serde(borrow, default)]
            priority: Option<std::borrow::Cow<'a, str>>,
        }
        let p = serde_json::from_slice::<Priority>(job)
            .ok()
            .and_then(|p| p.priority);
        match p.and_then(|p| self.by_priority.iter().find(|(n, _)| *n == p)) {
            Some((_, i)) => (*i, false),
            None => (self.fallback, true),
        }
    }
}

/// A worker found dead: its processing list as the plan read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Orphan {
    pub(crate) worker: String,
    pub(crate) processing: String,
    pub(crate) heartbeat: String,
    pub(crate) len: u64,
    /// The newest job (left end) at the plan.
    pub(crate) head: Vec<u8>,
}

/// One reading of a processing list and its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reading {
    pub(crate) len: u64,
    pub(crate) head: Option<Vec<u8>>,
    pub(crate) tail: Option<Vec<u8>>,
    pub(crate) heartbeat: bool,
}

impl Reading {
    fn orphaned(&self) -> bool {
        self.len > 0 && !self.heartbeat
    }
}

/// Reads each (processing, heartbeat) pair: LLEN, LINDEX 0, LINDEX -1,
/// EXISTS, batched.
pub(crate) async fn read(conn: &Conn, pairs: &[(String, String)]) -> RedisResult<Vec<Reading>> {
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(500) {
        let mut cmds = Vec::with_capacity(chunk.len() * 4);
        for (p, h) in chunk {
            let mut c = redis::cmd("LLEN");
            c.arg(p);
            cmds.push(c);
            let mut c = redis::cmd("LINDEX");
            c.arg(p).arg(0);
            cmds.push(c);
            let mut c = redis::cmd("LINDEX");
            c.arg(p).arg(-1);
            cmds.push(c);
            let mut c = redis::cmd("EXISTS");
            c.arg(h);
            cmds.push(c);
        }
        let v: Vec<Value> = conn.each_key(&cmds).await?;
        for r in v.chunks(4) {
            let bytes = |v: &Value| match v {
                Value::BulkString(b) => Some(b.clone()),
                _ => None,
            };
            let int = |v: &Value| match v {
                Value::Int(n) => (*n).max(0) as u64,
                _ => 0,
            };
            out.push(Reading {
                len: int(&r[0]),
                head: bytes(&r[1]),
                tail: bytes(&r[2]),
                heartbeat: int(&r[3]) > 0,
            });
        }
    }
    Ok(out)
}

/// The candidates (worker, processing, heartbeat) that are orphaned in both
/// readings and did not change between them.
pub(crate) fn confirmed(
    candidates: &[(String, String, String)],
    first: &[Reading],
    second: &[Reading],
) -> Vec<Orphan> {
    candidates
        .iter()
        .zip(first.iter().zip(second))
        .filter(|(_, (a, b))| a.orphaned() && a == b)
        .filter_map(|((w, p, h), (_, b))| {
            Some(Orphan {
                worker: w.clone(),
                processing: p.clone(),
                heartbeat: h.clone(),
                len: b.len,
                head: b.head.clone()?,
            })
        })
        .collect()
}

/// Leftovers of an earlier run cut short: staged batches, found by their
/// markers. Returns (processing key, staged jobs) for the keys `belongs`
/// accepts.
pub(crate) async fn staged_leftovers(
    conn: &Conn,
    belongs: impl Fn(&str) -> bool,
) -> RedisResult<Vec<(String, u64)>> {
    let markers = conn.scan_match(&format!("*:{MARKER_SUFFIX}")).await?;
    let mut out = Vec::new();
    for m in markers {
        let value: Option<String> = conn.query(redis::cmd("GET").arg(&m)).await?;
        let Some(from) = value
            .as_deref()
            .and_then(|v| serde_json::from_str::<serde_json::Value>(v).ok())
            .and_then(|v| v["from"].as_str().map(String::from))
        else {
            continue;
        };
        if !belongs(&from) || side_keys(&from).marker != m {
            continue;
        }
        let staged: u64 = conn
            .query(redis::cmd("LLEN").arg(side_keys(&from).staging))
            .await?;
        out.push((from, staged));
    }
    Ok(out)
}

/// Every command a run on `o` sends, for `ACL DRYRUN`.
pub(crate) fn needed(
    conn: &Conn,
    processing: &str,
    heartbeat: &str,
    routes: &Routes,
) -> Vec<Needed> {
    let k = side_keys(processing);
    let p = processing;
    let mut n = vec![
        Needed::new("SET", &k.lock, &["x", "PX", "1000"]),
        Needed::new("GET", &k.lock, &[]),
        Needed::new("PEXPIRE", &k.lock, &["1000"]),
        Needed::new("DEL", &k.lock, &[]),
        Needed::new("LLEN", p, &[]),
        Needed::new("LINDEX", p, &["0"]),
        Needed::new("LRANGE", p, &["0", "-1"]),
        Needed::new("LTRIM", p, &["0", "-1"]),
        Needed::new("RPUSH", p, &["x"]),
        Needed::new("EXISTS", heartbeat, &[]),
        Needed::new("LRANGE", &k.kept, &["0", "-1"]),
        Needed::new("LTRIM", &k.kept, &["0", "-1"]),
        Needed::new("GET", &k.marker, &[]),
        Needed::new("LRANGE", &k.staging, &["0", "-1"]),
    ];
    let hb_here = !conn.is_cluster() || key_slot(heartbeat.as_bytes()) == key_slot(p.as_bytes());
    let mut script_keys: Vec<&str> = vec![p, &k.lock];
    if hb_here {
        script_keys.push(heartbeat);
    }
    for d in &routes.keys {
        n.push(Needed::new("LPUSH", d, &["x"]));
        if same_slot(conn, p, d) {
            let mut keys = script_keys.clone();
            keys.push(d);
            n.extend(Needed::scripts(&keys));
        } else {
            let r = mv::receipts_key(d);
            n.extend(Needed::scripts(&[d, &r]));
            n.extend([
                Needed::new("ZSCORE", &r, &["x"]),
                Needed::new("ZADD", &r, &["0", "x"]),
                Needed::new("ZREMRANGEBYSCORE", &r, &["0", "0"]),
                Needed::new("PEXPIRE", &r, &["1000"]),
            ]);
        }
    }
    if routes.keys.iter().any(|d| !same_slot(conn, p, d)) {
        let mut keys = script_keys.clone();
        keys.extend([k.staging.as_str(), k.marker.as_str()]);
        n.extend(Needed::scripts(&keys));
        n.extend(Needed::scripts(&[&k.staging, &k.marker, &k.lock]));
        n.extend([
            Needed::new("LPUSH", &k.staging, &["x"]),
            Needed::new("SET", &k.marker, &["x"]),
            Needed::new("DEL", &k.staging, &[]),
        ]);
    }
    n
}

fn same_slot(conn: &Conn, a: &str, b: &str) -> bool {
    !conn.is_cluster() || key_slot(a.as_bytes()) == key_slot(b.as_bytes())
}

/// One step. KEYS: processing, lock, [heartbeat,] then the destinations
/// (direct) or staging and marker (staged). ARGV: heartbeat checked here
/// ('1'/'0'), holder, lock ttl ms, expected length, expected newest job,
/// mode ('direct' | 'staged'), marker value, n, then per job from the
/// oldest: its output (1-based, among the output keys) and its exact bytes.
/// Returns {-1} when the heartbeat is back, {-2} when the list changed,
/// {-3} when staging is not empty, else {n, bytes}.
const TAKE: &str = r#"
local hb = ARGV[1] == '1'
local o = hb and 4 or 3
local staged = ARGV[6] == 'staged'
local checks = {{'LTRIM', KEYS[1], '0', '-1'}, {'PEXPIRE', KEYS[2], '1'}}
if staged then
  checks[#checks + 1] = {'LPUSH', KEYS[o], 'x'}
  checks[#checks + 1] = {'SET', KEYS[o + 1], 'x'}
else
  for i = o, #KEYS do checks[#checks + 1] = {'LPUSH', KEYS[i], 'x'} end
end
qctl_may(unpack(checks))
if redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return redis.error_reply('QCTLLOCK the requeue lock ' .. KEYS[2] .. ' is no longer held by this run')
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
if hb and redis.call('EXISTS', KEYS[3]) == 1 then return {-1} end
if redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[4]) or redis.call('LINDEX', KEYS[1], 0) ~= ARGV[5] then
  return {-2}
end
local n = tonumber(ARGV[8])
local items = redis.call('LRANGE', KEYS[1], -n, -1)
if #items ~= n then return {-2} end
local outs = {}
local at = 9
local bytes = 0
for j = 1, n do
  local item = items[n - j + 1]
  if item ~= ARGV[at + 1] then return {-2} end
  local d = tonumber(ARGV[at])
  if outs[d] == nil then outs[d] = {} end
  local t = outs[d]
  t[#t + 1] = item
  bytes = bytes + #item
  at = at + 2
end
if staged then
  if redis.call('EXISTS', KEYS[o]) == 1 then return {-3} end
  redis.call('LPUSH', KEYS[o], unpack(outs[1]))
  redis.call('SET', KEYS[o + 1], ARGV[7])
else
  for d, t in pairs(outs) do redis.call('LPUSH', KEYS[o + d - 1], unpack(t)) end
end
redis.call('LTRIM', KEYS[1], 0, -n - 1)
return {n, bytes}
"#;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Took {
    /// Jobs moved: the counts, and per destination (index into the
    /// routes' keys) how many.
    Moved(StepCount, Vec<(usize, u64)>, u64),
    /// The heartbeat key is back: the worker is alive; nothing moved.
    Alive,
    /// The list is not what the plan saw: nothing moved.
    Changed,
    /// Nothing left.
    Empty,
}

/// One step on `o`: reads up to `window` of the oldest jobs, routes them,
/// and moves them in one script (see the module comment). `expect_len` is
/// the list's length now as this run knows it.
pub(crate) async fn take(
    conn: &Conn,
    o: &Orphan,
    routes: &Routes,
    expect_len: u64,
    window: u64,
    holder: &str,
) -> RedisResult<Took> {
    let k = side_keys(&o.processing);
    let page: Vec<Vec<u8>> = conn
        .query(
            redis::cmd("LRANGE")
                .arg(&o.processing)
                .arg(-(window.max(1) as i64))
                .arg(-1),
        )
        .await?;
    if page.is_empty() {
        return Ok(Took::Empty);
    }
    // Oldest first.
    let jobs: Vec<Vec<u8>> = page.into_iter().rev().collect();
    let routed: Vec<(usize, bool)> = jobs.iter().map(|j| routes.route(j)).collect();
    let here = |d: usize| same_slot(conn, &o.processing, &routes.keys[d]);
    let first = routed[0].0;
    let direct = here(first);
    // A batch: jobs all pushed straight (same slot), or all bound for the
    // one queue in another slot.
    let n = routed
        .iter()
        .take_while(|(d, _)| if direct { here(*d) } else { *d == first })
        .count();
    let hb_here = same_slot(conn, &o.processing, &o.heartbeat);
    if !hb_here {
        let back: bool = conn.query(redis::cmd("EXISTS").arg(&o.heartbeat)).await?;
        if back {
            return Ok(Took::Alive);
        }
    }
    // Output keys, and each job's output among them (1-based).
    let mut outs: Vec<usize> = Vec::new();
    let mut which: Vec<usize> = Vec::with_capacity(n);
    if direct {
        for (d, _) in &routed[..n] {
            let i = match outs.iter().position(|x| x == d) {
                Some(i) => i,
                None => {
                    outs.push(*d);
                    outs.len() - 1
                }
            };
            which.push(i + 1);
        }
    } else {
        which = vec![1; n];
    }
    let batch = mv::batch_id();
    let marker = serde_json::json!({
        "batch": batch,
        "to": routes.keys[first],
        "from": o.processing,
    })
    .to_string();
    let script = guard::script(TAKE);
    let mut inv = script.prepare_invoke();
    inv.key(&o.processing).key(&k.lock);
    if hb_here {
        inv.key(&o.heartbeat);
    }
    if direct {
        for d in &outs {
            inv.key(&routes.keys[*d]);
        }
    } else {
        inv.key(&k.staging).key(&k.marker);
    }
    inv.arg(if hb_here { "1" } else { "0" })
        .arg(holder)
        .arg(mv::lock_ttl().as_millis() as u64)
        .arg(expect_len)
        .arg(&o.head[..])
        .arg(if direct { "direct" } else { "staged" })
        .arg(if direct { "" } else { marker.as_str() })
        .arg(n);
    for (j, w) in jobs[..n].iter().zip(&which) {
        inv.arg(*w).arg(&j[..]);
    }
    let reply: Vec<i64> = conn.invoke(&inv).await?;
    match reply.first().copied() {
        Some(-1) => return Ok(Took::Alive),
        Some(-2) => return Ok(Took::Changed),
        Some(-3) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "a staged batch is still waiting beside this processing list",
                k.staging.clone(),
            )));
        }
        _ => {}
    }
    let bytes = reply.get(1).copied().unwrap_or(0).max(0) as u64;
    let mut per: Vec<(usize, u64)> = Vec::new();
    for (d, _) in &routed[..n] {
        match per.iter_mut().find(|(x, _)| x == d) {
            Some((_, c)) => *c += 1,
            None => per.push((*d, 1)),
        }
    }
    let fell_back = routed[..n].iter().filter(|(_, f)| *f).count() as u64;
    if !direct {
        crate::systems::fault("orphan-after-stage");
        mv::finish_staged(
            conn,
            &k,
            &routes.keys[first],
            &batch,
            &marker,
            jobs[..n].to_vec(),
            holder,
            "orphan-after-push",
        )
        .await?;
    }
    Ok(Took::Moved(
        StepCount {
            moved: n as u64,
            taken: n as u64,
            bytes,
        },
        per,
        fell_back,
    ))
}

/// Counts the jobs of `o` (from the consumer end, up to `limit`) per
/// destination; returns the total and how many fell back.
pub(crate) async fn count(
    conn: &Conn,
    o: &Orphan,
    routes: &Routes,
    limit: u64,
    per: &mut [u64],
) -> RedisResult<(u64, u64)> {
    const READ: i64 = 10_000;
    let (mut total, mut fell) = (0u64, 0u64);
    let mut off: i64 = 0;
    loop {
        let page: Vec<Vec<u8>> = conn
            .query(
                redis::cmd("LRANGE")
                    .arg(&o.processing)
                    .arg(-(off + READ))
                    .arg(-(off + 1)),
            )
            .await?;
        for j in page.iter().rev() {
            if total >= limit {
                return Ok((total, fell));
            }
            let (d, f) = routes.route(j);
            per[d] += 1;
            total += 1;
            fell += f as u64;
        }
        if (page.len() as i64) < READ {
            return Ok((total, fell));
        }
        off += READ;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_go_to_the_queue_their_priority_names() {
        let r = Routes::by_priority(&[
            ("high".into(), "jobqueue:high_priority".into()),
            ("low".into(), "jobqueue:low_priority".into()),
        ])
        .unwrap();
        assert_eq!(r.route(br#"{"id":"a","priority":"high"}"#), (0, false));
        assert_eq!(r.route(br#"{"id":"a","priority":"low"}"#), (1, false));
        assert_eq!(r.route(br#"{"id":"a","priority":"urgent"}"#), (1, true));
        assert_eq!(r.route(br#"{"id":"a","priority":7}"#), (1, true));
        assert_eq!(r.route(br#"{"id":"a"}"#), (1, true));
        assert_eq!(r.route(b"not json"), (1, true));
        assert_eq!(r.route(&[0xff, 0xfe]), (1, true));
        assert_eq!(
            Routes::fixed("q").route(br#"{"priority":"high"}"#),
            (0, false)
        );
    }

    #[test]
    fn side_keys_share_the_processing_list_slot() {
        for p in ["jobqueue:worker:w1:processing", "{q}:worker:w1:processing"] {
            let k = side_keys(p);
            for side in [&k.kept, &k.staging, &k.marker, &k.lock] {
                assert_eq!(key_slot(side.as_bytes()), key_slot(p.as_bytes()), "{side}");
                assert!(guard::is_side_key(side));
            }
            assert!(k.marker.ends_with(MARKER_SUFFIX));
        }
    }
}
