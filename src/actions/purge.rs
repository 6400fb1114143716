//! `qctl purge-dlq`: empties each target's dead-letter list without
//! blocking Redis. By default the list is renamed, in one script, to a
//! backup key in the same hash slot with an expiry (`--keep-backup`), so
//! the purge is O(1) on the server whatever the length and `restore-dlq`
//! can undo it; `--no-backup` frees it with UNLINK (in the background).

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::PurgeDlqArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::{guard, lists};
use serde_json::json;
use std::time::Duration;

/// From this length on, how Redis frees the backup at expiry matters.
const LARGE: u64 = 100_000;

pub(crate) struct PurgeDlq {
    /// `None`: `--no-backup`.
    pub(crate) keep: Option<Duration>,
}

pub(crate) struct PurgePlan {
    key: String,
    store: lists::Store,
    length: u64,
    /// Some primary has `lazyfree-lazy-expire no` (known only for large
    /// lists, and when CONFIG GET is allowed).
    sync_expiry: bool,
    memory_bytes: Option<u64>,
    warnings: Vec<String>,
}

impl Action for PurgeDlq {
    const NAME: &'static str = "purge-dlq";
    const COUNTS: &'static [&'static str] = &["purged"];
    const KEEPS_BACKUPS: bool = true;
    type Plan = PurgePlan;

    fn verb(&self) -> crate::systems::Verb {
        crate::systems::Verb::PurgeDlq
    }

    fn headline(&self) -> String {
        match self.keep {
            Some(k) => format!(
                "purge-dlq: each dead-letter list is renamed to a backup kept {}",
                crate::output::duration(k)
            ),
            None => "purge-dlq --no-backup: each dead-letter list is freed with UNLINK".into(),
        }
    }

    fn notes(&self) -> Vec<String> {
        match self.keep {
            Some(k) => vec![format!(
                "memory is freed only when a backup expires (in {}); until then `qctl get backups` lists it and `qctl restore-dlq` puts it back",
                crate::output::duration(k)
            )],
            None => vec!["with --no-backup the jobs cannot be restored".into()],
        }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<PurgePlan, ContextError> {
        let key = t.system.dead_letter().key;
        let store = t.system.dead_store();
        let length = super::dead_length(conn, &key, store).await?;
        let mut sync_expiry = false;
        let mut memory_bytes = None;
        if self.keep.is_some() && length >= LARGE {
            for node in conn.nodes() {
                let mut c = redis::cmd("CONFIG");
                c.arg("GET").arg("lazyfree-lazy-expire");
                if let Ok(v) = conn.query_node::<Vec<String>>(&node, &c).await
                    && v.get(1).is_some_and(|v| v == "no")
                {
                    sync_expiry = true;
                }
            }
            let mut c = redis::cmd("MEMORY");
            c.arg("USAGE").arg(&key).arg("SAMPLES").arg(5);
            memory_bytes = conn.query::<Option<u64>>(&c).await.ok().flatten();
        }
        let mut warnings = Vec::new();
        if length > 0 {
            // The name is a placeholder of the same slot: only the
            // commands and the key pattern matter to the ACL.
            let backup = lists::new_backup_key(&key, jiff::Timestamp::now());
            let needed = lists::purge_needed(&key, self.keep.map(|_| backup.as_str()));
            if let guard::Checked::Unknown(why) = guard::may_run(conn, &needed).await? {
                warnings.push(why);
            }
            warnings.extend(guard::memory_warning(conn).await);
        }
        Ok(PurgePlan {
            key,
            store,
            length,
            sync_expiry,
            memory_bytes,
            warnings,
        })
    }

    fn view(&self, p: &PurgePlan) -> PlanView {
        let detail = if p.length == 0 {
            format!("{} is empty: nothing to purge", p.key)
        } else {
            match self.keep {
                Some(k) => format!(
                    "{} -> backup (same slot), expires in {}",
                    p.key,
                    crate::output::duration(k)
                ),
                None => format!("{} -> UNLINK, no backup", p.key),
            }
        };
        let mut warnings = p.warnings.clone();
        if p.sync_expiry {
            warnings.push(format!(
                "lazyfree-lazy-expire is no: when the backup expires, Redis frees its {} jobs{} synchronously and blocks meanwhile; run CONFIG SET lazyfree-lazy-expire yes first, or use --no-backup (UNLINK frees in the background)",
                p.length,
                p.memory_bytes
                    .map(|b| format!(" (~{})", crate::output::human_bytes(b)))
                    .unwrap_or_default()
            ));
        }
        PlanView {
            count: p.length,
            detail,
            warnings,
            ..PlanView::default()
        }
    }

    fn dry_counts(&self, p: &PurgePlan) -> Vec<(&'static str, u64)> {
        vec![("purged", p.length)]
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &PurgePlan, _step: Step) -> Applied {
        let result = match self.keep {
            Some(keep) => {
                let backup = lists::new_backup_key(&p.key, jiff::Timestamp::now());
                lists::rename_to_backup(conn, &p.key, &backup, keep, p.store)
                    .await
                    .map(|n| (n, (n > 0).then_some(backup)))
            }
            None => lists::unlink_list(conn, &p.key, p.store)
                .await
                .map(|n| (n, None)),
        };
        match result {
            Ok((n, backup)) => Applied {
                counts: vec![("purged", n)],
                before: json!({"key": p.key, "length": n, "planned": p.length}),
                after: json!({
                    "key": p.key,
                    "length": 0,
                    "backup_key": backup,
                    "backup_expires_in_ms": backup.as_ref().and(self.keep).map(|k| k.as_millis() as u64),
                }),
                backup_key: backup,
                ..Applied::default()
            },
            Err(e) => Applied {
                counts: vec![("purged", 0)],
                before: json!({"key": p.key, "planned": p.length}),
                after: json!(null),
                error: Some(guard::step_error(conn, &e)),
                ..Applied::default()
            },
        }
    }
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &PurgeDlqArgs) -> Result<ExitCode> {
    let action = PurgeDlq {
        keep: (!args.no_backup).then_some(args.keep_backup),
    };
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        action,
    )
}
