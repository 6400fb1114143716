//! `qctl get job ID [ID...]`: where each job is, one row per place it was
//! found in the selected contexts: CONTEXT, ID, QUEUE, STATE, POSITION
//! (index from the end a consumer takes next, or the sorted-set rank), and
//! `-o wide` the job's name (class, task) and when it was enqueued
//! (`JobLocationList`). Each system looks the id up its own way
//! (`systems::find`): through the job's hash where jobs have one (BullMQ,
//! RQ), by a bounded scan of its lists and sets otherwise. An id found
//! nowhere is a failure (exit 1) naming the contexts searched.

use super::selection;
use crate::cli::{GetJobArgs, OutputFormat};
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Outcome, Result};
use crate::inspect::read::{ReadTarget, Reader};
use crate::output::Styled;
use crate::settings::Settings;
use crate::systems::find::{FindOptions, Found};
use serde::Serialize;

/// Reads where the ids are in one context.
pub(crate) struct FindReader {
    pub(crate) ids: Vec<String>,
    pub(crate) opts: FindOptions,
}

/// One context's answer.
pub(crate) struct FindOut {
    pub(crate) context: String,
    pub(crate) color: Option<String>,
    pub(crate) system: &'static str,
    pub(crate) found: Found,
    pub(crate) now: jiff::Timestamp,
}

impl Reader for FindReader {
    type Out = FindOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<FindOut, ContextError> {
        let found = t
            .system
            .find_jobs(conn, &self.ids, self.opts)
            .await
            .map_err(|e| conn.error(&e))?;
        Ok(FindOut {
            context: t.context().to_string(),
            color: t.color.clone(),
            system: t.system.kind(),
            found,
            now: jiff::Timestamp::now(),
        })
    }
}

/// A `JobLocationList` item.
#[derive(Debug, Serialize)]
pub(crate) struct JobLocationItem {
    pub(crate) context: String,
    pub(crate) id: String,
    pub(crate) system: &'static str,
    /// The queue or set, as `get queues` names it.
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) state: &'static str,
    /// Index from the end a consumer takes next, or the sorted-set rank;
    /// `null` for a job in no list (run by a Sidekiq process).
    pub(crate) position: Option<u64>,
    pub(crate) worker: Option<String>,
    /// What runs it (class, task, function).
    pub(crate) name: Option<String>,
    /// The queue the job belongs to, where it records one.
    pub(crate) job_queue: Option<String>,
    pub(crate) enqueued_at: Option<String>,
    /// The system's own word for its state (RQ `status`).
    pub(crate) status: Option<String>,
    pub(crate) valid: bool,
    #[serde(skip)]
    pub(crate) color: Option<String>,
}

/// The ids asked for, each once, in order; an empty one is a usage error.
pub(crate) fn ids_of(ids: &[String]) -> Result<Vec<String>> {
    if ids.is_empty() {
        return Err(CliError::usage("get job needs a job id").with_hint(
            "to list a queue's jobs instead: qctl get jobs QUEUE (or qctl get jobs --state dead)",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if id.trim().is_empty() {
            return Err(CliError::usage("a job id is empty")
                .with_hint("job ids look like 7f3c9a0e1b2d4c5e6f708192 (Sidekiq) or 42 (BullMQ)"));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    Ok(out)
}

pub(crate) fn status_of(job: &crate::systems::Job) -> Option<String> {
    match &job.payload {
        crate::systems::Payload::Hash(h) => h.status.clone(),
        _ => None,
    }
}

/// The failure for ids found nowhere.
pub(crate) fn not_found(ids: &[String], contexts: &[String]) -> CliError {
    let what = match ids {
        [one] => format!("job `{one}`"),
        many => format!(
            "jobs {}",
            many.iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    CliError::failure(format!(
        "{what} not found in any queue or set of {}",
        super::contexts_phrase(contexts)
    ))
    .with_hint("other contexts: --context NAME or -A; ids are exact (Sidekiq jid, BullMQ/RQ job id, go-redis-work-queue id)")
}

pub(crate) fn run(config: &Config, settings: &Settings, args: &GetJobArgs) -> Result<ExitCode> {
    let ids = ids_of(&args.ids)?;
    let names = selection(config, settings)?;
    let reader = FindReader {
        ids: ids.clone(),
        opts: FindOptions {
            scan_limit: args.scan.scan_limit,
            detail: false,
        },
    };
    let results = super::read(config, settings, &names, reader, std::time::Duration::ZERO);
    let p = &settings.printer;
    let mut outcome = Outcome::default();
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut answered = Vec::new();
    for r in results {
        match r {
            Ok(out) => {
                outcome.succeeded += 1;
                answered.push(out.context.clone());
                for n in &out.found.notes {
                    p.note(&format!("note: {n}"));
                }
                for h in out.found.hits {
                    items.push(JobLocationItem {
                        context: out.context.clone(),
                        system: out.system,
                        status: status_of(&h.job),
                        name: h.job.name.clone().or(h.job.priority.clone()),
                        job_queue: h.job.queue.clone(),
                        enqueued_at: h.job.created.map(|c| c.to_string()),
                        valid: h.job.valid,
                        id: h.id,
                        queue: h.queue,
                        key: h.key,
                        state: h.state,
                        position: h.position,
                        worker: h.worker,
                        color: out.color.clone(),
                    });
                }
            }
            Err(e) => {
                outcome.failed += 1;
                errors.push(e);
            }
        }
    }
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !items.iter().any(|i| &i.id == *id))
        .cloned()
        .collect();
    match p.format {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns => {
            p.document(&LocationDoc {
                api_version: "qctl/v1",
                kind: "JobLocationList",
                items: &items,
                errors: &errors,
                not_found: if answered.is_empty() { &[] } else { &missing },
            })?;
        }
        OutputFormat::Name => {
            p.names(
                items
                    .iter()
                    .map(|i| format!("{}/{}/{}", i.context, i.queue, i.id)),
            )?;
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = p.format == OutputFormat::Wide;
            if !items.is_empty() {
                let mut headers = vec!["CONTEXT", "ID", "QUEUE", "STATE", "POSITION"];
                if wide {
                    headers.extend(["NAME", "ENQUEUED", "WORKER", "KEY"]);
                }
                let rows = items
                    .iter()
                    .map(|i| {
                        let mut r: Vec<Styled> = vec![
                            Styled::colored(&i.context, i.color.as_deref()),
                            i.id.clone().into(),
                            i.queue.clone().into(),
                            Styled::colored(i.state, (i.state == "dead").then_some("red")),
                            i.position
                                .map_or_else(|| "-".into(), |n| n.to_string())
                                .into(),
                        ];
                        if wide {
                            let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                            r.push(dash(&i.name).into());
                            r.push(dash(&i.enqueued_at).into());
                            r.push(dash(&i.worker).into());
                            r.push(i.key.clone().into());
                        }
                        r
                    })
                    .collect();
                p.table(&headers, rows)?;
            }
        }
    }
    if !p.is_machine() {
        for e in &errors {
            eprintln!("{}", e.line());
        }
    }
    if !missing.is_empty() && !answered.is_empty() {
        let e = not_found(&missing, &answered);
        eprintln!("error: {}", crate::output::escape_controls(&e.message));
        if let Some(h) = &e.hint {
            eprintln!("  hint: {}", crate::output::escape_controls(h));
        }
        return Ok(ExitCode::Failure.merge(outcome.exit_code()));
    }
    Ok(outcome.exit_code())
}

#[derive(Serialize)]
struct LocationDoc<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    items: &'a [JobLocationItem],
    errors: &'a [ContextError],
    /// The ids found in no answering context.
    not_found: &'a [String],
}
