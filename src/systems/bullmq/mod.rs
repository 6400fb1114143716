//! BullMQ (6.x; the layout before 6.0's pause change read too), as it
//! writes Redis (see docs/bullmq-layout.md, checked against BullMQ 6.7):
//!
//! * Every key of queue `<q>` starts with `<p>:<q>:` (`<p>` the prefix,
//!   `bull` by default; a hash tag such as `{bull}` on Redis Cluster, which
//!   puts every key of every queue in one slot).
//! * LISTs of job ids `wait` (the right end runs next), `active` and, before
//!   6.0, `paused` (`wait` renamed while paused); ZSETs of ids
//!   `prioritized` (priority * 2^32 + counter), `delayed` (due ms * 4096 +
//!   seq: backoff retries wait here too), `completed` and `failed` (both
//!   scored by finishedOn ms).
//! * Each job is a HASH `<p>:<q>:<id>` (`name`, `data` JSON, `timestamp`
//!   ms, `atm` attempts made, `failedReason`, `finishedOn`, ...); an active
//!   job's owner holds `<p>:<q>:<id>:lock` (PX lockDuration, renewed).
//! * HASH `<p>:<q>:meta` marks a queue (`version`; `paused` = 1 while
//!   paused). Queues are found by SCAN for it.
//! * A worker writes no key about itself: its blocking connection is named
//!   `<p>:<base64(q)>` (`:w:<name>` with a worker name) in CLIENT LIST.
//!
//! Reads here are pure reads: BullMQ's own getters are scripts that may
//! RPOP a legacy `0:` marker; qctl skips such a marker instead.

use crate::connect::Conn;
use crate::systems::schema::{self as opts, SchemaError, SchemaOptions};
use crate::systems::{QueueRef, QueueRole, SchemaKind, Verb};
use redis::RedisResult;

mod copy;
mod find;
mod job;
mod read;
mod workers;
mod write;

/// A `kind: bullmq` schema's options.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Schema {
    /// The key prefix (BullMQ's `prefix` option), without the trailing `:`.
    pub(crate) prefix: String,
    /// Only these queues (default: every queue whose `:meta` exists).
    pub(crate) queues: Option<Vec<String>>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema {
            prefix: DEFAULT_PREFIX.into(),
            queues: None,
        }
    }
}

/// BullMQ's default `prefix`.
pub(crate) const DEFAULT_PREFIX: &str = "bull";

impl Schema {
    const OPTIONS: &'static [&'static str] = &["prefix", "queues"];

    pub(crate) fn parse(o: &SchemaOptions) -> Result<Schema, SchemaError> {
        opts::check_known(SchemaKind::BullMq, o, Self::OPTIONS)?;
        let prefix = opts::string(o, "prefix")?.unwrap_or_else(|| DEFAULT_PREFIX.into());
        let prefix = prefix.strip_suffix(':').unwrap_or(&prefix).to_string();
        if prefix.is_empty() || prefix.contains(char::is_whitespace) {
            return Err(SchemaError::new(
                format!("prefix `{prefix}` is empty or holds a space"),
                "write the prefix the Queue and Worker options use: prefix: bull (or \"{bull}\" on Redis Cluster)",
            ));
        }
        let queues = opts::string_list(o, "queues")?.filter(|q| !q.is_empty());
        if let Some(q) = queues.as_ref().and_then(|q| {
            q.iter()
                .find(|q| q.is_empty() || q.contains(':') || q.contains(char::is_whitespace))
        }) {
            return Err(SchemaError::new(
                format!(
                    "queue name `{q}` is empty or holds a `:` or a space (BullMQ queue names cannot)"
                ),
                "list the queue names as the Queue and Worker constructors take them: queues: [emails, reports]",
            ));
        }
        Ok(Schema { prefix, queues })
    }
}

/// Where BullMQ keeps a queue's jobs, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Wait,
    Prioritized,
    /// The pre-6.0 `:paused` list.
    Paused,
    Delayed,
    Active,
    Completed,
    Failed,
}

/// Whether a state's ids are in a LIST or a ZSET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    List,
    SortedSet,
}

impl State {
    /// Every state, in the order `get queues` lists them.
    pub(crate) const ALL: [State; 7] = [
        State::Wait,
        State::Prioritized,
        State::Paused,
        State::Delayed,
        State::Active,
        State::Completed,
        State::Failed,
    ];

    /// The key suffix (`<p>:<q>:<suffix>`).
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            State::Wait => "wait",
            State::Prioritized => "prioritized",
            State::Paused => "paused",
            State::Delayed => "delayed",
            State::Active => "active",
            State::Completed => "completed",
            State::Failed => "failed",
        }
    }

    /// The names `get jobs QUEUE:<name>` takes for this state: BullMQ's
    /// own first, then SPEC 10.2's.
    fn aliases(self) -> &'static [&'static str] {
        match self {
            State::Wait => &["wait", "waiting"],
            State::Prioritized => &["prioritized", "priority"],
            State::Paused => &["paused"],
            State::Delayed => &["delayed", "scheduled"],
            State::Active => &["active"],
            State::Completed => &["completed"],
            State::Failed => &["failed", "dead", "dlq", "dead-letter", "dead_letter"],
        }
    }

    pub(crate) fn store(self) -> Store {
        match self {
            State::Wait | State::Paused | State::Active => Store::List,
            _ => Store::SortedSet,
        }
    }

    pub(crate) fn role(self) -> QueueRole {
        match self {
            State::Wait | State::Prioritized | State::Paused => QueueRole::Work,
            State::Delayed => QueueRole::Scheduled,
            State::Active => QueueRole::Active,
            State::Completed => QueueRole::Completed,
            State::Failed => QueueRole::DeadLetter,
        }
    }

    fn named(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.aliases().contains(&name))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct BullMq {
    pub(crate) schema: Schema,
}

impl BullMq {
    without!(signals, "BullMQ workers take no commands through Redis");

    pub(crate) const JOB_TABLE: crate::systems::JobTable = crate::systems::JobTable::NameDetail;

    pub(crate) fn new(schema: Schema) -> Self {
        BullMq { schema }
    }

    /// What BullMQ cannot do, and why.
    pub(crate) fn unsupported(&self, verb: Verb) -> Option<String> {
        let why = match verb {
            Verb::Quiet | Verb::Stop => {
                "BullMQ workers take no commands through Redis".to_string()
            }
            Verb::Bench => "bench enqueues marked go-redis-work-queue payloads and watches its completed list; BullMQ keeps completed jobs per queue, but a synthetic job needs a processor that every BullMQ fleet would have to run".to_string(),
            Verb::PurgeDlq
            | Verb::RestoreDlq
            | Verb::Requeue { from: "dead" | "scheduled" }
            | Verb::RequeueOrphaned
            | Verb::Pause { .. }
            | Verb::Resume { .. }
            | Verb::Replicate => return None,
            Verb::Requeue { from } => format!(
                "requeue --from {from}: BullMQ keeps retries waiting for their backoff in each queue's :delayed set: use --from scheduled"
            ),
        };
        Some(why)
    }

    /// `<p>:<q>:<suffix>`.
    pub(crate) fn key(&self, queue: &str, suffix: &str) -> String {
        format!("{}:{queue}:{suffix}", self.schema.prefix)
    }

    /// Whether every key lives in one hash slot (a hash tag in the
    /// prefix), so one pipeline reaches all of them on a cluster.
    pub(crate) fn one_slot(&self) -> bool {
        super::slots::hash_tag(self.schema.prefix.as_bytes()).is_some()
    }

    /// The queue (or set) of `queue`'s jobs in `state`. The waiting list
    /// is named after the queue itself; the others `<q>:<state>`.
    pub(crate) fn state_ref(&self, queue: &str, state: State) -> QueueRef {
        QueueRef {
            name: if state == State::Wait {
                queue.to_string()
            } else {
                format!("{queue}:{}", state.suffix())
            },
            key: self.key(queue, state.suffix()),
            role: state.role(),
        }
    }

    /// Every state's queue of `queue`.
    pub(crate) fn refs_of(&self, queue: &str) -> Vec<QueueRef> {
        State::ALL
            .into_iter()
            .map(|s| self.state_ref(queue, s))
            .collect()
    }

    /// What is known without Redis: the schema's queues (if it lists
    /// them), each in every state.
    pub(crate) fn queues(&self) -> Vec<QueueRef> {
        self.schema
            .queues
            .iter()
            .flatten()
            .flat_map(|q| self.refs_of(q))
            .collect()
    }

    /// `(queue, state)` of a name (`mail`, `mail:failed`, `mail:dead`,
    /// `mail:scheduled`, ...) or a key (`bull:mail:failed`).
    pub(crate) fn parse_name(&self, name: &str) -> Option<(String, State)> {
        let rest = name
            .strip_prefix(self.schema.prefix.as_str())
            .and_then(|r| r.strip_prefix(':'));
        let (queue, state) = match rest.and_then(|r| r.rsplit_once(':')) {
            // A full key: `<p>:<q>:<suffix>`, BullMQ's suffix only.
            Some((q, s)) if State::ALL.iter().any(|st| st.suffix() == s) => (
                q.to_string(),
                State::ALL.into_iter().find(|st| st.suffix() == s)?,
            ),
            _ => match name.split_once(':') {
                Some((q, s)) => (q.to_string(), State::named(s)?),
                None => (name.to_string(), State::Wait),
            },
        };
        if queue.is_empty() || queue.contains(':') {
            return None;
        }
        match &self.schema.queues {
            Some(list) if !list.contains(&queue) => None,
            _ => Some((queue, state)),
        }
    }

    /// A queue by name or key. Any name can be a BullMQ queue, so an
    /// unknown name is one unless the schema lists its queues.
    pub(crate) fn queue_named(&self, name: &str) -> Option<QueueRef> {
        let (q, s) = self.parse_name(name)?;
        Some(self.state_ref(&q, s))
    }

    /// BullMQ has a failed set per queue, no single dead-letter queue: the
    /// first listed queue's, else a key pattern that names every queue's
    /// (read as a literal key, it holds nothing). Only the writes, not
    /// built yet for BullMQ, would need one.
    pub(crate) fn dead_letter(&self) -> QueueRef {
        match self.schema.queues.as_ref().and_then(|q| q.first()) {
            Some(q) => self.state_ref(q, State::Failed),
            None => QueueRef {
                name: "failed".into(),
                key: self.key("*", "failed"),
                role: QueueRole::DeadLetter,
            },
        }
    }

    /// Where workers live, as one comparable string (drift).
    pub(crate) fn worker_patterns(&self) -> String {
        format!("client-names={}:<base64(queue)>", self.schema.prefix)
    }

    /// `dead` (each queue's `:failed`) and `scheduled` (`:delayed`): jobs
    /// in hashes, each back to its own queue ([`BullMq::requeue_moves`]).
    pub(crate) fn requeue_source(&self, from: &str) -> Option<super::RequeueSource> {
        let suffix = match from {
            "dead" => "failed",
            "scheduled" => "delayed",
            _ => return None,
        };
        Some(super::RequeueSource {
            key: self.key("*", suffix),
            store: super::lists::Store::SortedSet,
            own_queue: None,
            hashed: true,
        })
    }

    pub(crate) fn discovers_queues(&self) -> bool {
        self.schema.queues.is_none()
    }

    pub(crate) async fn found_queues(&self, conn: &Conn) -> RedisResult<Vec<String>> {
        Ok(self.queue_names(conn).await?.names)
    }

    /// BullMQ registers a queue by its `:meta` hash, not in a set.
    pub(crate) fn queue_registry(&self) -> Option<String> {
        None
    }

    /// Each job is its own hash, told by its id (`copy.rs`).
    pub(crate) fn job_identity(&self) -> super::copy::Identity {
        super::copy::Identity::Hash
    }

    pub(crate) fn copy_rule(&self) -> &'static str {
        "job hashes copied with their ids: one already on a target is skipped when it is the same job, counted under conflicts and left alone when it is another; waiting jobs go after those waiting there, scores kept; the :id counter raised past copied ids; active and completed jobs are not copied"
    }

    /// The Redis type of a failed set: a ZSET of ids pointing at job hashes
    /// (purge and restore go through `dead_sets`, which moves the hashes
    /// with the ids).
    pub(crate) fn dead_store(&self) -> super::lists::Store {
        super::lists::Store::SortedSet
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bull(prefix: &str, queues: Option<&[&str]>) -> BullMq {
        BullMq::new(Schema {
            prefix: prefix.into(),
            queues: queues.map(|q| q.iter().map(|s| s.to_string()).collect()),
        })
    }

    #[test]
    fn names_and_keys() {
        let b = bull("bull", None);
        let q = b.queue_named("mail").unwrap();
        assert_eq!(
            (q.key.as_str(), q.role),
            ("bull:mail:wait", QueueRole::Work)
        );
        let f = b.queue_named("mail:dead").unwrap();
        assert_eq!(f.key, "bull:mail:failed");
        assert_eq!(f.name, "mail:failed");
        assert_eq!(f.role, QueueRole::DeadLetter);
        assert_eq!(
            b.queue_named("mail:scheduled").unwrap().key,
            "bull:mail:delayed"
        );
        assert_eq!(
            b.queue_named("bull:mail:active").unwrap().role,
            QueueRole::Active
        );
        assert_eq!(b.queue_named("bull:mail:wait").unwrap().name, "mail");
        assert!(b.queue_named("mail:nonsense").is_none());
        assert!(b.queue_named("").is_none());
        let t = bull("{bull}", Some(&["cq"]));
        assert!(t.one_slot() && !b.one_slot());
        assert_eq!(
            t.queue_named("{bull}:cq:prioritized").unwrap().name,
            "cq:prioritized"
        );
        assert!(t.queue_named("other").is_none());
        assert_eq!(t.dead_letter().key, "{bull}:cq:failed");
        assert_eq!(t.queues().len(), 7);
    }

    #[test]
    fn schemas_parse_and_refuse() {
        let o = |y: serde_json::Value| -> SchemaOptions {
            y.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        assert_eq!(
            Schema::parse(&o(serde_json::json!({}))).unwrap(),
            Schema::default()
        );
        let s = Schema::parse(&o(
            serde_json::json!({"prefix": "{bull}:", "queues": ["a"]}),
        ))
        .unwrap();
        assert_eq!(s.prefix, "{bull}");
        let e = Schema::parse(&o(serde_json::json!({"prefx": "x"}))).unwrap_err();
        assert!(e.hint.contains("did you mean `prefix`"), "{e:?}");
        assert!(Schema::parse(&o(serde_json::json!({"queues": ["a:b"]}))).is_err());
        assert!(Schema::parse(&o(serde_json::json!({"prefix": ""}))).is_err());
    }

    #[test]
    fn capabilities_say_why() {
        let b = bull("bull", None);
        assert!(b.unsupported(Verb::Pause { all: false }).is_none());
        assert!(b.unsupported(Verb::PurgeDlq).is_none());
        assert!(b.unsupported(Verb::Replicate).is_none());
        assert!(b.unsupported(Verb::Requeue { from: "dead" }).is_none());
        assert!(b.unsupported(Verb::Requeue { from: "scheduled" }).is_none());
        assert!(
            b.unsupported(Verb::Requeue { from: "retry" })
                .unwrap()
                .contains("--from scheduled")
        );
        assert!(b.unsupported(Verb::Stop).unwrap().contains("no commands"));
        assert!(b.unsupported(Verb::Bench).unwrap().contains("processor"));
    }
}
