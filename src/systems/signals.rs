//! Signals to worker processes through Redis (`quiet workers`, `stop
//! workers`, SPEC 10.4), for the systems whose processes read one.
//!
//! Sidekiq: `Sidekiq::Process#quiet!` / `#stop!` push `TSTP` / `TERM` onto
//! the process's own list, in one MULTI, as Sidekiq's API does (see
//! docs/sidekiq-layout.md, "Signals"):
//!
//! ```text
//! MULTI; LPUSH [ns:]<identity>-signals TSTP|TERM; EXPIRE [ns:]<identity>-signals 60; EXEC
//! ```
//!
//! The process RPOPs the list at its next heartbeat (within 5 s); `TSTP`
//! stops it fetching new jobs (busy ones finish; `quiet` reads `"true"` one
//! beat later), `TERM` stops it gracefully (busy jobs get its `-t` seconds,
//! then go back to their queue). The 60 s expiry drops a signal nobody
//! reads. A dead (orphaned) process never reads one, so it gets none.
//!
//! go-redis-work-queue workers read nothing from Redis: not supported.

use super::guard::Needed;
use super::sidekiq::Sidekiq;
use super::{SchemaKind, System, Worker, WorkerState};
use crate::connect::Conn;
use redis::RedisResult;

/// How long an unread signal lives (what Sidekiq's API sets).
pub(crate) const SIGNAL_TTL_S: u64 = 60;

/// What a process is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Finish the jobs in hand, take no new ones.
    Quiet,
    /// Stop gracefully.
    Stop,
}

impl Signal {
    /// Sidekiq's name for it.
    pub(crate) fn sidekiq_name(self) -> &'static str {
        match self {
            Signal::Quiet => "TSTP",
            Signal::Stop => "TERM",
        }
    }
}

/// Why `kind`'s workers cannot be signalled (`None`: they can).
pub(crate) fn unsupported(kind: SchemaKind) -> Option<&'static str> {
    match kind {
        SchemaKind::Sidekiq => None,
        SchemaKind::GoRedisWorkQueue => {
            Some("go-redis-work-queue workers take no commands through Redis")
        }
    }
}

impl Sidekiq {
    /// `[ns:]<identity>-signals`.
    pub(crate) fn signals_key(&self, identity: &str) -> String {
        self.key(&format!("{identity}-signals"))
    }
}

impl System {
    /// Every process that could be signalled, live and orphaned (the
    /// orphaned ones are shown, never signalled).
    pub(crate) async fn signal_candidates(&self, conn: &Conn) -> RedisResult<Vec<Worker>> {
        match self {
            System::Sidekiq(s) => Ok(s.workers(conn).await?.0),
            System::GoRedisWorkQueue(_) => Ok(Vec::new()),
        }
    }

    /// The commands [`System::signal`] sends to `identity` (for `ACL
    /// DRYRUN`).
    pub(crate) fn signal_needed(&self, identity: &str, sig: Signal) -> Vec<Needed> {
        match self {
            System::Sidekiq(s) => {
                let key = s.signals_key(identity);
                vec![
                    Needed(vec!["MULTI".into()]),
                    Needed::new("LPUSH", &key, &[sig.sidekiq_name()]),
                    Needed::new("EXPIRE", &key, &[&SIGNAL_TTL_S.to_string()]),
                    Needed(vec!["EXEC".into()]),
                ]
            }
            System::GoRedisWorkQueue(_) => Vec::new(),
        }
    }

    /// Sends `sig` to one process: one MULTI, as the system's own API does.
    pub(crate) async fn signal(&self, conn: &Conn, identity: &str, sig: Signal) -> RedisResult<()> {
        match self {
            System::Sidekiq(s) => {
                let key = s.signals_key(identity);
                let mut p = redis::pipe();
                p.atomic()
                    .cmd("LPUSH")
                    .arg(&key)
                    .arg(sig.sidekiq_name())
                    .cmd("EXPIRE")
                    .arg(&key)
                    .arg(SIGNAL_TTL_S);
                let _: Vec<redis::Value> = conn.pipe_slot(&p).await?;
                Ok(())
            }
            System::GoRedisWorkQueue(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "go-redis-work-queue workers take no commands through Redis",
            ))),
        }
    }
}

/// Whether a process can read a signal (its heartbeat is fresh).
pub(crate) fn is_live(w: &Worker) -> bool {
    w.state == WorkerState::Active
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::sidekiq::Schema;

    #[test]
    fn keys_and_commands_follow_sidekiqs_api() {
        let s = System::Sidekiq(Sidekiq::new(Schema {
            namespace: Some("shop".into()),
            queues: None,
        }));
        let n = s.signal_needed("vm:1:ab", Signal::Quiet);
        assert_eq!(n[0].0, vec!["MULTI"]);
        assert_eq!(n[1].0, vec!["LPUSH", "shop:vm:1:ab-signals", "TSTP"]);
        assert_eq!(n[2].0, vec!["EXPIRE", "shop:vm:1:ab-signals", "60"]);
        assert_eq!(n[3].0, vec!["EXEC"]);
        assert_eq!(Signal::Stop.sidekiq_name(), "TERM");
        assert!(unsupported(SchemaKind::Sidekiq).is_none());
        assert!(unsupported(SchemaKind::GoRedisWorkQueue).is_some());
    }
}
