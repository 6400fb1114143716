//! Sidekiq's signals: `Sidekiq::Process#quiet!` / `#stop!` push `TSTP` /
//! `TERM` onto the process's own list, in one MULTI, as Sidekiq's API does
//! (see docs/sidekiq-layout.md, "Signals"):
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

use super::Sidekiq;
use crate::connect::Conn;
use crate::systems::Worker;
use crate::systems::guard::Needed;
use crate::systems::signals::Signal;
use redis::RedisResult;

/// How long an unread signal lives (what Sidekiq's API sets).
pub(crate) const SIGNAL_TTL_S: u64 = 60;

/// Sidekiq's name for a signal.
pub(crate) fn name(sig: Signal) -> &'static str {
    match sig {
        Signal::Quiet => "TSTP",
        Signal::Stop => "TERM",
    }
}

impl Sidekiq {
    /// `[ns:]<identity>-signals`.
    pub(crate) fn signals_key(&self, identity: &str) -> String {
        self.key(&format!("{identity}-signals"))
    }

    /// Every process, live and orphaned.
    pub(crate) async fn signal_candidates(&self, conn: &Conn) -> RedisResult<Vec<Worker>> {
        Ok(self.workers(conn).await?.0)
    }

    /// MULTI, LPUSH, EXPIRE, EXEC.
    pub(crate) fn signal_needed(&self, identity: &str, sig: Signal) -> Vec<Needed> {
        let key = self.signals_key(identity);
        vec![
            Needed(vec!["MULTI".into()]),
            Needed::new("LPUSH", &key, &[name(sig)]),
            Needed::new("EXPIRE", &key, &[&SIGNAL_TTL_S.to_string()]),
            Needed(vec!["EXEC".into()]),
        ]
    }

    pub(crate) fn signal_name(&self, sig: Signal) -> &'static str {
        name(sig)
    }

    /// One MULTI, as `Process#quiet!`/`#stop!` send it.
    pub(crate) async fn signal(&self, conn: &Conn, identity: &str, sig: Signal) -> RedisResult<()> {
        let key = self.signals_key(identity);
        let mut p = redis::pipe();
        p.atomic()
            .cmd("LPUSH")
            .arg(&key)
            .arg(name(sig))
            .cmd("EXPIRE")
            .arg(&key)
            .arg(SIGNAL_TTL_S);
        let _: Vec<redis::Value> = conn.pipe_slot(&p).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::Verb;
    use crate::systems::sidekiq::Schema;

    #[test]
    fn keys_and_commands_follow_sidekiqs_api() {
        let s = Sidekiq::new(Schema {
            namespace: Some("shop".into()),
            queues: None,
        });
        let n = s.signal_needed("vm:1:ab", Signal::Quiet);
        assert_eq!(n[0].0, vec!["MULTI"]);
        assert_eq!(n[1].0, vec!["LPUSH", "shop:vm:1:ab-signals", "TSTP"]);
        assert_eq!(n[2].0, vec!["EXPIRE", "shop:vm:1:ab-signals", "60"]);
        assert_eq!(n[3].0, vec!["EXEC"]);
        assert_eq!(name(Signal::Stop), "TERM");
        assert!(s.unsupported(Verb::Quiet).is_none());
    }
}
