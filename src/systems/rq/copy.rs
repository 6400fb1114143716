//! What `replicate` copies of an RQ queue (see `systems::hashed_copy` for
//! how): with `--what queues` the queue's list `rq:queue:<q>` (run from its
//! head: read from the head, copies `RPUSH`ed at the tail as RQ's enqueue
//! does, so they keep their run order and go after what waits on the
//! target) and its scheduled registry `rq:scheduled:<q>` (scores, the
//! run-at times, kept); with `--what dead-letter` its failed registry
//! `rq:failed:<q>` (scores, the expiry times, kept). Each job's hash
//! `rq:job:<id>` goes with it, with its remaining TTL (a failed job's
//! `failure_ttl`), and its results stream `rq:results:<id>` (RQ 3 keeps a
//! failure's traceback there), entry ids and TTL kept.
//!
//! A job is the same job on the target when `created_at`, `data` (the
//! zlib'd pickle of the call), `description` and `origin` are equal: what
//! `Job.create` and the enqueue set once. Running it changes `status`,
//! `started_at`, `ended_at`, `worker_name`, `last_heartbeat`, the retry
//! counters and the TTL, never these (each `Job.save` writes them back as
//! read), so a job the target's workers already ran is a duplicate, not a
//! conflict.
//!
//! On the target, as RQ's enqueue and schedule do, the queue's key is added
//! to SET `rq:queues` (else RQ's `Queue.all()` and qctl would not see it).
//!
//! Not copied: the started registry `rq:wip:<q>` and the `:intermediate`
//! list (in flight on the source's workers), `rq:finished:<q>`,
//! `rq:deferred:<q>` (jobs waiting on dependencies) and the dependency
//! SETs `rq:job:<id>:dependents` / `rq:job::<id>:dependencies`: the jobs
//! those name are deferred ones, which are not copied, so a copied parent's
//! dependents would point at jobs the target does not have. The plan counts
//! what is left on the source.

use super::Rq;
use crate::systems::QueueRole;
use crate::systems::guard::Needed;
use crate::systems::hashed_copy::{CopySet, QueueCopy, Side, SideKind, Wake};
use crate::systems::lists::Store;

/// `W[1]` `rq:queues`, `W[2]` the queue's key: registered as RQ's
/// `enqueue_job` / `schedule_job` do (`SADD`).
const REGISTER: &str = r#"
local function qctl_wake_prepare()
  local t = redis.call('TYPE', W[1])['ok']
  if t ~= 'none' and t ~= 'set' then
    error({err = 'WRONGTYPE ' .. W[1] .. ' holds a ' .. t .. ', not a set: nothing was copied by this step'})
  end
  return {{'SADD', W[1], W[2]}}
end
local function qctl_wake(copied)
  redis.call('SADD', W[1], W[2])
end
"#;

/// The fields `Job.create` and the enqueue set once (see the module docs).
const SAME_FIELDS: [&str; 4] = ["created_at", "data", "description", "origin"];

impl Rq {
    /// The sets `replicate` copies of `queue` (an RQ queue name: not a
    /// registry's name such as `failed:default`).
    pub(crate) fn copy_sets(&self, queue: &str, dead: bool) -> Option<QueueCopy> {
        match self.queue_named(queue) {
            Some(q) if q.role == QueueRole::Work && q.name == queue => {}
            _ => return None,
        }
        let queue_key = self.queue_key(queue);
        let queues = self.key("queues");
        let set = |name: String, key: String, store: Store| CopySet {
            name,
            key,
            store,
            head_first: true,
            job_prefix: self.key("job:"),
            side: vec![Side {
                prefix: Some(self.key("results:")),
                suffix: "",
                kind: SideKind::Stream,
                ttl: true,
            }],
            same_fields: SAME_FIELDS.to_vec(),
            counters: Vec::new(),
            wake: Some(Wake {
                keys: vec![queues.clone(), queue_key.clone()],
                body: REGISTER,
                needed: vec![
                    Needed::new("TYPE", &queues, &[]),
                    Needed::new("SADD", &queues, &[&queue_key]),
                ],
            }),
        };
        let registry = |seg: &str| {
            set(
                format!("{seg}:{queue}"),
                self.registry_key(seg, queue),
                Store::SortedSet,
            )
        };
        if dead {
            return Some(QueueCopy {
                sets: vec![registry("failed")],
                left: Vec::new(),
            });
        }
        Some(QueueCopy {
            sets: vec![
                set(queue.to_string(), queue_key.clone(), Store::List),
                registry("scheduled"),
            ],
            left: vec![
                (
                    self.registry_key("wip", queue),
                    Store::SortedSet,
                    "started (in flight on the source's workers)",
                ),
                (
                    format!("{queue_key}:intermediate"),
                    Store::List,
                    "taken by a source worker and not yet started",
                ),
                (
                    self.registry_key("deferred", queue),
                    Store::SortedSet,
                    "deferred (waiting on dependencies)",
                ),
                (
                    self.registry_key("finished", queue),
                    Store::SortedSet,
                    "finished",
                ),
            ],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::rq::Schema;

    #[test]
    fn a_queue_is_copied_by_its_list_and_registries() {
        let r = Rq::new(Schema::default());
        let q = r.copy_sets("default", false).unwrap();
        let names: Vec<&str> = q.sets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["default", "scheduled:default"]);
        assert_eq!(q.sets[0].key, "rq:queue:default");
        assert_eq!(q.sets[0].store, Store::List);
        assert!(q.sets[0].head_first);
        assert_eq!(q.sets[1].key, "rq:scheduled:default");
        assert_eq!(q.sets[1].store, Store::SortedSet);
        assert_eq!(q.sets[0].job_prefix, "rq:job:");
        assert_eq!(q.sets[0].side[0].prefix.as_deref(), Some("rq:results:"));
        assert_eq!(q.left[0].0, "rq:wip:default");
        assert!(!q.sets[0].one_slot(), "rq:queues is in another slot");
        let d = r.copy_sets("default", true).unwrap();
        assert_eq!(d.sets.len(), 1);
        assert_eq!(d.sets[0].key, "rq:failed:default");
        assert!(r.copy_sets("failed:default", false).is_none());
        assert!(r.copy_sets("failed", false).is_none());
        assert!(r.copy_sets("queued:default", false).is_none());
        assert!(r.copy_sets("", false).is_none());
        let tagged = Rq::new(Schema {
            prefix: "{rq}".into(),
            queues: Some(vec!["mail".into()]),
        });
        let t = tagged.copy_sets("mail", false).unwrap();
        assert!(t.sets.iter().all(|s| s.one_slot()), "one slot with a tag");
        assert!(tagged.copy_sets("other", false).is_none());
    }
}
