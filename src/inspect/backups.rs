//! `qctl get backups`: the DLQ backups `purge-dlq` kept, per context
//! (`BackupList`), newest first.

use super::list::{ListRun, ListView};
use super::read::{ReadTarget, Reader};
use crate::cli::GetBackupsArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ExitCode, Result};
use crate::output::Styled;
use crate::output::age;
use crate::settings::Settings;
use crate::systems::dead::DeadSet;
use crate::systems::lists::Backup;
use serde::Serialize;

/// A `BackupList` item.
#[derive(Debug, Serialize)]
pub(crate) struct BackupItem {
    pub(crate) context: String,
    pub(crate) key: String,
    /// The dead-letter list it was taken from.
    pub(crate) queue_key: String,
    pub(crate) jobs: u64,
    /// When the purge happened (from the key's name).
    pub(crate) created: Option<String>,
    pub(crate) age_s: Option<f64>,
    /// Seconds until Redis frees it; null when it never expires.
    pub(crate) expires_in_s: Option<f64>,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

pub(crate) struct BackupsOut {
    context: String,
    color: Option<String>,
    /// Per dead set: its key and its backups, newest first.
    sets: Vec<(String, Vec<Backup>)>,
    now: jiff::Timestamp,
}

pub(crate) struct BackupsReader;

impl Reader for BackupsReader {
    type Out = BackupsOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<BackupsOut, ContextError> {
        let sets = t.system.dead_sets(conn).await.map_err(|e| conn.error(&e))?;
        let backups = DeadSet::backups_of(conn, &sets)
            .await
            .map_err(|e| conn.error(&e))?;
        Ok(BackupsOut {
            context: t.context().to_string(),
            color: t.color.clone(),
            sets: sets.into_iter().map(|s| s.key).zip(backups).collect(),
            now: jiff::Timestamp::now(),
        })
    }
}

pub(crate) struct BackupsView;

impl ListView for BackupsView {
    type Out = BackupsOut;
    type Item = BackupItem;
    const KIND: &'static str = "BackupList";
    const FIELDS: &'static [&'static str] = &[
        "context",
        "key",
        "queue_key",
        "jobs",
        "created",
        "age_s",
        "expires_in_s",
    ];
    const SORT_ALIASES: &'static [(&'static str, &'static str)] =
        &[("age", "age_s"), ("expires", "expires_in_s")];

    fn items(&self, out: BackupsOut) -> (Vec<BackupItem>, Vec<String>) {
        let (context, color, now) = (out.context, out.color, out.now);
        let items = out
            .sets
            .into_iter()
            .flat_map(|(key, backups)| backups.into_iter().map(move |b| (key.clone(), b)))
            .map(|(key, b)| BackupItem {
                context: context.clone(),
                queue_key: key,
                jobs: b.jobs,
                created: b.created.map(|t| t.to_string()),
                age_s: b
                    .created
                    .map(|t| (now.as_millisecond() - t.as_millisecond()).max(0) as f64 / 1000.0),
                expires_in_s: b.ttl_ms.map(|ms| ms as f64 / 1000.0),
                key: b.key,
                color: color.clone(),
            })
            .collect();
        (items, Vec::new())
    }

    fn headers(&self, wide: bool) -> Vec<&'static str> {
        let mut h = vec!["CONTEXT", "KEY", "JOBS", "AGE", "EXPIRES"];
        if wide {
            h.push("CREATED");
        }
        h
    }

    fn row(&self, b: &BackupItem, wide: bool) -> Vec<Styled> {
        let mut row = vec![
            Styled::colored(&b.context, b.color.as_deref()),
            b.key.clone().into(),
            b.jobs.to_string().into(),
            b.age_s
                .map(|s| age(Some(s as u64)))
                .unwrap_or_default()
                .into(),
            match b.expires_in_s {
                Some(s) => format!("in {}", age(Some(s as u64))),
                None => "never".into(),
            }
            .into(),
        ];
        if wide {
            row.push(b.created.clone().unwrap_or_default().into());
        }
        crate::output::fill_blanks(row)
    }

    fn name(&self, b: &BackupItem) -> String {
        format!("{}/{}", b.context, b.key)
    }
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &GetBackupsArgs) -> Result<ExitCode> {
    ListRun::for_selection(config, settings, &args.watch, "qctl get backups")?
        .shaped(&args.list, &[])
        .run(BackupsReader, &BackupsView)
}
