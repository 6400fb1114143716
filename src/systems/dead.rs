//! A system's dead sets, whatever their jobs are stored in, for
//! `purge-dlq`, `restore-dlq` and `get backups`: one list of payloads
//! (go-redis-work-queue), one sorted set of payloads (Sidekiq's `dead`), or
//! a sorted set of ids per queue whose jobs live in hashes (BullMQ's
//! `:failed`, RQ's failed registry). The verbs ask a [`DeadSet`]; the
//! storage modules (`lists`, `hashed`) do the steps.

use super::guard::Needed;
use super::hashed::{self, HashedSet, Restored};
use super::lists::{self, Backup, Store};
use crate::connect::Conn;
use redis::RedisResult;
use std::time::Duration;

/// How a dead set keeps its jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeadStore {
    /// A LIST of payloads.
    List,
    /// A ZSET of payloads, scored by a time.
    SortedSet,
    /// A ZSET of ids; each job's hash (and keys beside it) by id.
    #[allow(dead_code)] // BullMQ's and RQ's, built on branches of issue 22
    Hashed(HashedSet),
}

/// One dead set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadSet {
    /// The queue whose dead jobs these are; `None` when one set holds
    /// every queue's.
    pub(crate) queue: Option<String>,
    pub(crate) key: String,
    pub(crate) store: DeadStore,
}

impl DeadSet {
    /// The Redis type of the key itself.
    pub(crate) fn key_store(&self) -> Store {
        match self.store {
            DeadStore::List => Store::List,
            DeadStore::SortedSet | DeadStore::Hashed(_) => Store::SortedSet,
        }
    }

    /// Whether a purge or restore is many steps (one per window of jobs)
    /// rather than one.
    pub(crate) fn windowed(&self) -> bool {
        matches!(self.store, DeadStore::Hashed(_))
    }

    /// Every command a purge sends (for `ACL DRYRUN`); `backup` `None`: no
    /// backup.
    pub(crate) fn purge_needed(&self, backup: Option<&str>) -> Vec<Needed> {
        match (&self.store, backup) {
            (DeadStore::Hashed(h), Some(b)) => hashed::purge_needed(h, b),
            (DeadStore::Hashed(h), None) => hashed::drop_needed(h),
            _ => lists::purge_needed(&self.key, backup),
        }
    }

    /// One purge step into `backup` (kept `keep`), or without backup:
    /// (jobs purged, jobs left). A list or a sorted set of payloads goes
    /// whole, in one step.
    pub(crate) async fn purge_step(
        &self,
        conn: &Conn,
        backup: Option<&str>,
        keep: Duration,
    ) -> RedisResult<(u64, u64)> {
        match (&self.store, backup) {
            (DeadStore::Hashed(h), Some(b)) => {
                hashed::purge_step(conn, h, b, keep, hashed::WINDOW).await
            }
            (DeadStore::Hashed(h), None) => hashed::drop_step(conn, h, hashed::WINDOW).await,
            (_, Some(b)) => lists::rename_to_backup(conn, &self.key, b, keep, self.key_store())
                .await
                .map(|n| (n, 0)),
            (_, None) => lists::unlink_list(conn, &self.key, self.key_store())
                .await
                .map(|n| (n, 0)),
        }
    }

    /// Every backup of each of `sets`, newest first each (one SCAN for
    /// many sets).
    pub(crate) async fn backups_of(conn: &Conn, sets: &[DeadSet]) -> RedisResult<Vec<Vec<Backup>>> {
        let mut out = vec![Vec::new(); sets.len()];
        for store in [Store::List, Store::SortedSet] {
            let idx: Vec<usize> = (0..sets.len())
                .filter(|i| sets[*i].key_store() == store)
                .collect();
            let keys: Vec<&str> = idx.iter().map(|i| sets[*i].key.as_str()).collect();
            for (i, b) in idx.iter().zip(lists::backups_of(conn, &keys, store).await?) {
                out[*i] = b;
            }
        }
        Ok(out)
    }

    /// Every command a restore sends.
    pub(crate) fn restore_needed(&self, backup: &str) -> Vec<Needed> {
        match &self.store {
            DeadStore::Hashed(h) => hashed::restore_needed(h, backup),
            _ => lists::restore_needed(backup, &self.key, self.key_store()),
        }
    }

    /// One restore step: up to `n` jobs from `backup` back, looking past the
    /// `skip` conflicts already left in front.
    pub(crate) async fn restore_step(
        &self,
        conn: &Conn,
        backup: &str,
        skip: u64,
        n: u64,
    ) -> RedisResult<Restored> {
        match &self.store {
            DeadStore::Hashed(h) => hashed::restore_step(conn, h, backup, skip, n).await,
            _ => {
                let (moved, left) =
                    lists::restore_step(conn, backup, &self.key, n, self.key_store()).await?;
                Ok(Restored {
                    restored: moved,
                    left,
                    ..Restored::default()
                })
            }
        }
    }
}
