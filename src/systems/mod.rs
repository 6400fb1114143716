//! The queue-system layer: what a job system's queues, dead letters,
//! in-flight jobs and workers are, and how to read them. Verbs never know key
//! names; they ask a [`System`].
//!
//! One module per system. go-redis-work-queue (lists, heartbeat strings) is
//! the first; Sidekiq, BullMQ, RQ, Asynq and Celery keep jobs in sorted sets
//! and hashes, so the view models here carry an id, a payload and an age, not
//! a list index, and a system that cannot do something says so per context
//! ([`Unsupported`]) instead of silently doing nothing. Adding a system is one
//! module plus one variant of [`System`]; no verb changes.

pub mod gowork;

use crate::connect::Conn;
use crate::contexts::{QueueSchema, SchemaKind};
use redis::RedisResult;
use serde::Serialize;

/// What a queue is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueRole {
    Work,
    Completed,
    DeadLetter,
}

impl QueueRole {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueRole::Work => "work",
            QueueRole::Completed => "completed",
            QueueRole::DeadLetter => "dead-letter",
        }
    }
}

/// A queue named by the schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueRef {
    pub name: String,
    pub key: String,
    pub role: QueueRole,
}

/// A worker whose in-flight jobs have no living owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrphanRef {
    pub worker: String,
    pub key: String,
    pub jobs: u64,
}

/// The figures of SPEC section 1, defined once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    /// (queue, length) for every queue the schema names.
    pub queues: Vec<(QueueRef, u64)>,
    pub queued: u64,
    pub processing: u64,
    pub workers: u64,
    pub orphaned_workers: u64,
    pub orphaned_jobs: u64,
    pub dead_letter: u64,
    pub completed: u64,
    /// The orphans behind `orphaned_*`, for a second reading.
    pub orphans: Vec<OrphanRef>,
}

/// A capability this queue system does not have.
#[derive(Debug, Clone)]
pub struct Unsupported {
    pub kind: &'static str,
    pub what: &'static str,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not supported by {}", self.what, self.kind)
    }
}

/// The queue system of one context.
#[derive(Debug, Clone)]
pub enum System {
    GoRedisWorkQueue(gowork::GoRedisWorkQueue),
}

impl System {
    pub fn for_schema(schema: &QueueSchema) -> System {
        match schema.kind {
            SchemaKind::GoRedisWorkQueue => {
                System::GoRedisWorkQueue(gowork::GoRedisWorkQueue::new(schema.clone()))
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            System::GoRedisWorkQueue(_) => SchemaKind::GoRedisWorkQueue.as_str(),
        }
    }

    /// The queues the schema names, work queues first.
    pub fn queues(&self) -> Vec<QueueRef> {
        match self {
            System::GoRedisWorkQueue(s) => s.queues(),
        }
    }

    /// Reads every figure.
    pub async fn figures(&self, conn: &mut Conn) -> RedisResult<Figures> {
        match self {
            System::GoRedisWorkQueue(s) => s.figures(conn).await,
        }
    }

    /// Reads the given orphans again; returns those still orphaned.
    pub async fn recheck_orphans(
        &self,
        conn: &mut Conn,
        orphans: &[OrphanRef],
    ) -> RedisResult<Vec<OrphanRef>> {
        match self {
            System::GoRedisWorkQueue(s) => s.recheck_orphans(conn, orphans).await,
        }
    }
}
