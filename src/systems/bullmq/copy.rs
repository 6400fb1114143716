//! What `replicate` copies of a BullMQ queue (see `systems::hashed_copy`
//! for how): with `--what queues` its `:wait` list (order kept, after what
//! waits on the target), `:prioritized` and `:delayed` (scores kept); with
//! `--what dead-letter` its `:failed` set (scores kept). Each job's hash
//! `<p>:<q>:<id>` and its `:logs` go with it, the id kept. A job is the
//! same job on the target when `name`, `data`, `opts` and `timestamp` (what
//! BullMQ's `storeJob` writes once, at creation) are equal; running it
//! changes only the other fields.
//!
//! On the target, as BullMQ's own add does (`addStandardJob`,
//! `addPrioritizedJob`, `addDelayedJob`): the `:id` counter is raised past
//! the copied numeric ids (BullMQ INCRs it for its next job and would
//! otherwise overwrite a copied hash); `:pc` past the copied priority
//! counters; the `:marker` gets `0 "0"` when waiting or prioritized jobs
//! were added and the queue is neither paused nor at its concurrency (so
//! idle workers wake), or the next delayed time as `"1"`; `:meta` gets
//! `opts.maxLenEvents` when it has none (BullMQ's `getOrSetMaxEvents`),
//! which also makes the queue visible to qctl's discovery there. No
//! `:events` entries are written.
//!
//! `:active` (in flight on the source's workers), `:completed` and the
//! legacy `:paused` list are not copied.

use super::{BullMq, State};
use crate::systems::guard::Needed;
use crate::systems::hashed_copy::{CopySet, Counter, QueueCopy, Side, Wake};
use crate::systems::lists::Store;

/// `:meta` as `getOrSetMaxEvents` leaves it; the type checks every wake
/// runs before the step writes. `W[1]` marker, `W[2]` meta, `W[3]` active.
macro_rules! common {
    () => {
        r#"
local function qctl_types(want)
  for k, ty in ipairs(want) do
    local t = redis.call('TYPE', W[k])['ok']
    if t ~= 'none' and t ~= ty then
      error({err = 'WRONGTYPE ' .. W[k] .. ' holds a ' .. t .. ', not a ' .. ty .. ': nothing was copied by this step'})
    end
  end
end
local function qctl_meta()
  if not redis.call('HGET', W[2], 'opts.maxLenEvents') then
    redis.call('HSET', W[2], 'opts.maxLenEvents', 10000)
  end
end
"#
    };
}

/// Waiting and prioritized jobs: `addBaseMarkerIfNeeded` after
/// `isQueuePausedOrMaxed`.
const READY: &str = concat!(
    common!(),
    r#"
local qctl_ready = false
local function qctl_wake_prepare()
  qctl_types({'zset', 'hash', 'list'})
  local a = redis.call('HMGET', W[2], 'paused', 'concurrency')
  qctl_ready = not a[1]
  local c = tonumber(a[2])
  if qctl_ready and c then qctl_ready = redis.call('LLEN', W[3]) < c end
  return {{'ZADD', W[1], '0', '0'}, {'HSET', W[2], 'opts.maxLenEvents', '1'}}
end
local function qctl_wake(copied)
  qctl_meta()
  if qctl_ready then redis.call('ZADD', W[1], 0, '0') end
end
"#
);

/// Delayed jobs: `addDelayMarkerIfNeeded`.
const DELAYED: &str = concat!(
    common!(),
    r#"
local function qctl_wake_prepare()
  qctl_types({'zset', 'hash'})
  return {{'ZADD', W[1], '0', '1'}, {'HSET', W[2], 'opts.maxLenEvents', '1'}}
end
local function qctl_wake(copied)
  qctl_meta()
  local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local next = tonumber(r[2])
  if next ~= nil then redis.call('ZADD', W[1], next / 0x1000, '1') end
end
"#
);

/// Failed jobs: only `:meta`.
const FAILED: &str = concat!(
    common!(),
    r#"
local function qctl_wake_prepare()
  qctl_types({'zset', 'hash'})
  return {{'HSET', W[2], 'opts.maxLenEvents', '1'}}
end
local function qctl_wake(copied)
  qctl_meta()
end
"#
);

impl BullMq {
    /// The sets `replicate` copies of `queue` (a BullMQ queue name: not a
    /// state's name such as `mail:failed`).
    pub(crate) fn copy_sets(&self, queue: &str, dead: bool) -> Option<QueueCopy> {
        match self.parse_name(queue) {
            Some((q, State::Wait)) if q == queue => {}
            _ => return None,
        }
        let job_prefix = format!("{}:{queue}:", self.schema.prefix);
        let (marker, meta, active) = (
            self.key(queue, "marker"),
            self.key(queue, "meta"),
            self.key(queue, "active"),
        );
        let meta_needed = Needed::new("HSET", &meta, &["opts.maxLenEvents", "10000"]);
        let set = |state: State, counters: Vec<Counter>, wake: Wake| CopySet {
            name: self.state_ref(queue, state).name,
            key: self.key(queue, state.suffix()),
            store: match state.store() {
                super::Store::List => Store::List,
                super::Store::SortedSet => Store::SortedSet,
            },
            job_prefix: job_prefix.clone(),
            head_first: false,
            side: vec![Side::list(":logs")],
            same_fields: vec!["name", "data", "opts", "timestamp"],
            counters,
            wake: Some(wake),
        };
        let id = || Counter::Id(self.key(queue, "id"));
        let ready = || Wake {
            keys: vec![marker.clone(), meta.clone(), active.clone()],
            body: READY,
            needed: vec![
                Needed::new("HMGET", &meta, &["paused", "concurrency"]),
                Needed::new("LLEN", &active, &[]),
                Needed::new("ZADD", &marker, &["0", "0"]),
                meta_needed.clone(),
            ],
        };
        if dead {
            return Some(QueueCopy {
                sets: vec![set(
                    State::Failed,
                    vec![id()],
                    Wake {
                        keys: vec![marker.clone(), meta.clone()],
                        body: FAILED,
                        needed: vec![meta_needed.clone()],
                    },
                )],
                left: Vec::new(),
            });
        }
        Some(QueueCopy {
            sets: vec![
                set(State::Wait, vec![id()], ready()),
                set(
                    State::Prioritized,
                    vec![id(), Counter::ScoreLow32(self.key(queue, "pc"))],
                    ready(),
                ),
                set(
                    State::Delayed,
                    vec![id()],
                    Wake {
                        keys: vec![marker.clone(), meta.clone()],
                        body: DELAYED,
                        needed: vec![
                            Needed::new("ZRANGE", &self.key(queue, "delayed"), &["0", "0"]),
                            Needed::new("ZADD", &marker, &["0", "1"]),
                            meta_needed.clone(),
                        ],
                    },
                ),
            ],
            left: vec![
                (
                    active,
                    Store::List,
                    "active (in flight on the source's workers)",
                ),
                (
                    self.key(queue, "paused"),
                    Store::List,
                    "in the legacy :paused list (resume the queue with BullMQ 6 first)",
                ),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::bullmq::Schema;

    #[test]
    fn a_queue_is_copied_by_its_states() {
        let b = BullMq::new(Schema {
            prefix: "{bull}".into(),
            queues: None,
        });
        let q = b.copy_sets("mail", false).unwrap();
        let names: Vec<&str> = q.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["mail", "mail:prioritized", "mail:delayed"]);
        assert_eq!(q.sets[0].key, "{bull}:mail:wait");
        assert_eq!(q.sets[0].store, Store::List);
        assert_eq!(q.sets[1].store, Store::SortedSet);
        assert!(q.sets.iter().all(|s| s.one_slot()), "one slot with a tag");
        assert_eq!(q.left[0].0, "{bull}:mail:active");
        let d = b.copy_sets("mail", true).unwrap();
        assert_eq!(d.sets.len(), 1);
        assert_eq!(d.sets[0].key, "{bull}:mail:failed");
        assert!(b.copy_sets("mail:failed", false).is_none());
        assert!(b.copy_sets("", false).is_none());
        let plain = BullMq::new(Schema::default());
        assert!(!plain.copy_sets("mail", false).unwrap().sets[0].one_slot());
    }
}
