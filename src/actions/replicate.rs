//! `qctl replicate --from CONTEXT --to CONTEXT[,...]`: copies queues and
//! the dead-letter queue from one context to others through the gate.
//!
//! Its targets are exactly `--to` (named literally: a protected context may
//! be one); `--context`, `-l` and `-A` do not apply. Jobs are appended at
//! the producer end of each target list, oldest first, so the jobs already
//! waiting there run first and the copied ones keep their order. A job
//! whose identity (`systems::copy::fingerprint`) is already in the target
//! list is skipped, so a run cut short anywhere and started again ends with
//! each job once. The source is read in windows, each window pushed while
//! the next is read: memory is bounded by the window and the target's
//! fingerprints (8 bytes a job).

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::{ReplicateArgs, ReplicateWhat};
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::{ConnSettings, ReadTarget, targets};
use crate::select::{Target, TargetSet, unknown_context};
use crate::settings::Settings;
use crate::systems::System;
use crate::systems::copy;
use serde_json::json;
use std::sync::Arc;

pub struct Replicate {
    source: Arc<ReadTarget>,
    /// Schema names of the queues to copy (`high`, `dead-letter`, ...).
    queues: Vec<String>,
    cs: ConnSettings,
    conn: tokio::sync::OnceCell<std::result::Result<Conn, ContextError>>,
}

/// One queue on one target.
pub struct QueuePlan {
    name: String,
    src: String,
    dst: String,
    source_jobs: u64,
    to_copy: u64,
    duplicates: u64,
}

pub struct ReplicatePlan {
    queues: Vec<QueuePlan>,
}

impl Replicate {
    /// The source connection, opened once (by the first target's plan) and
    /// shared.
    async fn source(&self) -> std::result::Result<Conn, ContextError> {
        self.conn
            .get_or_init(|| async {
                let ep = &self.source.ep;
                Conn::open(
                    ep,
                    self.cs.connect_timeout,
                    self.cs.timeout,
                    self.cs.verbose,
                )
                .await
            })
            .await
            .clone()
    }

    fn source_error(&self, e: &ContextError) -> ContextError {
        ContextError {
            context: e.context.clone(),
            kind: e.kind,
            message: format!("source {}: {}", self.source.context(), e.message),
        }
    }
}

impl Action for Replicate {
    const NAME: &'static str = "replicate";
    const COUNTS: &'static [&'static str] = &["copied", "skipped_duplicates"];
    const PROGRESS: bool = true;
    type Plan = ReplicatePlan;

    fn headline(&self) -> String {
        format!(
            "replicate from {}: {} (jobs already in a target list are skipped; copies go after the jobs waiting there)",
            self.source.context(),
            self.queues.join(", ")
        )
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<ReplicatePlan, ContextError> {
        let src_conn = self.source().await.map_err(|e| self.source_error(&e))?;
        let mut queues = Vec::new();
        for name in &self.queues {
            let src = self
                .source
                .system
                .queue_named(name)
                .map(|q| q.key)
                .ok_or_else(|| ContextError {
                    context: self.source.context().to_string(),
                    kind: ErrorKind::Config,
                    message: format!("the source's schema has no queue {name}"),
                })?;
            let dst = t
                .system
                .queue_named(name)
                .map(|q| q.key)
                .ok_or_else(|| ContextError {
                    context: t.context().to_string(),
                    kind: ErrorKind::Config,
                    message: format!("this context's schema ({}) has no queue {name}", t.schema),
                })?;
            let source_jobs = super::list_length(&src_conn, &src).await?;
            super::list_length(conn, &dst).await?;
            let existing = copy::fingerprints(conn, &dst)
                .await
                .map_err(|e| conn.error(&e))?;
            let (mut to_copy, mut duplicates) = (0, 0);
            let mut n = 0;
            loop {
                let w = copy::source_window(&src_conn, &src, n)
                    .await
                    .map_err(|e| self.source_error(&src_conn.error(&e)))?;
                let (missing, dup) = copy::missing(&w, &existing);
                to_copy += missing.len() as u64;
                duplicates += dup;
                if (w.len() as i64) < copy::WINDOW {
                    break;
                }
                n += 1;
            }
            queues.push(QueuePlan {
                name: name.clone(),
                src,
                dst,
                source_jobs,
                to_copy,
                duplicates,
            });
        }
        Ok(ReplicatePlan { queues })
    }

    fn view(&self, p: &ReplicatePlan) -> PlanView {
        PlanView {
            count: p.queues.iter().map(|q| q.to_copy).sum(),
            detail: p
                .queues
                .iter()
                .map(|q| {
                    format!(
                        "{}: {} to copy, {} already there",
                        q.name, q.to_copy, q.duplicates
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
            warnings: Vec::new(),
        }
    }

    fn dry_counts(&self, p: &ReplicatePlan) -> Vec<(&'static str, u64)> {
        vec![
            ("copied", p.queues.iter().map(|q| q.to_copy).sum()),
            (
                "skipped_duplicates",
                p.queues.iter().map(|q| q.duplicates).sum(),
            ),
        ]
    }

    async fn apply(&self, conn: &Conn, _t: &ReadTarget, p: &ReplicatePlan, step: Step) -> Applied {
        let before = json!(
            p.queues
                .iter()
                .map(|q| json!({
                    "queue": q.name, "from": q.src, "to": q.dst, "source_jobs": q.source_jobs,
                    "planned": q.to_copy, "duplicates": q.duplicates,
                }))
                .collect::<Vec<_>>()
        );
        let (mut copied, mut dups) = (0u64, 0u64);
        let mut per_queue = Vec::new();
        let mut error = None;
        match self.source().await {
            Err(e) => error = Some(self.source_error(&e)),
            Ok(src_conn) => {
                for q in &p.queues {
                    match copy_queue(&src_conn, conn, q, &step).await {
                        Ok((c, d, stopped)) => {
                            copied += c;
                            dups += d;
                            per_queue.push(
                                json!({"queue": q.name, "copied": c, "skipped_duplicates": d}),
                            );
                            if stopped {
                                error = Some(ContextError {
                                    context: conn.context.clone(),
                                    kind: ErrorKind::RefusedByUser,
                                    message: format!(
                                        "interrupted (Ctrl-C) after copying {copied} jobs; run replicate again to finish (copied jobs are skipped)"
                                    ),
                                });
                                break;
                            }
                        }
                        Err((c, d, e)) => {
                            copied += c;
                            dups += d;
                            let mut e = e;
                            e.message = format!(
                                "{} (after copying {copied} jobs; run replicate again to finish: copied jobs are skipped)",
                                e.message
                            );
                            error = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        Applied {
            counts: vec![("copied", copied), ("skipped_duplicates", dups)],
            before,
            after: json!({"queues": per_queue}),
            error,
            ..Applied::default()
        }
    }
}

/// Copies one queue: (copied, duplicates, interrupted), or how far it got
/// and the error.
async fn copy_queue(
    src: &Conn,
    dst: &Conn,
    q: &QueuePlan,
    step: &Step,
) -> std::result::Result<(u64, u64, bool), (u64, u64, ContextError)> {
    let (mut copied, mut dups) = (0u64, 0u64);
    let existing = copy::fingerprints(dst, &q.dst)
        .await
        .map_err(|e| (0, 0, dst.error(&e)))?;
    let mut n = 0;
    let mut window = copy::source_window(src, &q.src, n)
        .await
        .map_err(|e| (0, 0, src.error(&e)))?;
    loop {
        if step.interrupted() {
            return Ok((copied, dups, true));
        }
        let last = (window.len() as i64) < copy::WINDOW;
        let (missing, dup) = copy::missing(&window, &existing);
        let push = async {
            if missing.is_empty() {
                return Ok(());
            }
            dst.query::<u64>(redis::cmd("LPUSH").arg(&q.dst).arg(&missing))
                .await
                .map(|_| ())
        };
        // The next window is read while this one is pushed.
        let next = async {
            if last {
                Ok(Vec::new())
            } else {
                copy::source_window(src, &q.src, n + 1).await
            }
        };
        let (pushed, next) = tokio::join!(push, next);
        pushed.map_err(|e| (copied, dups, dst.error(&e)))?;
        copied += missing.len() as u64;
        dups += dup;
        step.progress.inc(missing.len() as u64);
        if last {
            return Ok((copied, dups, false));
        }
        window = next.map_err(|e| (copied, dups, src.error(&e)))?;
        n += 1;
    }
}

/// `--to` exactly (plus nothing else): names checked, file order, literal.
fn target_set(config: &Config, settings: &Settings, args: &ReplicateArgs) -> Result<TargetSet> {
    let sel = &settings.select;
    if !sel.contexts.is_empty() || sel.selector.is_some() || sel.all {
        return Err(CliError::usage(
            "replicate's targets are exactly --to: --context, -l and -A do not apply",
        )
        .with_hint("name the targets with --to CONTEXT[,CONTEXT...]"));
    }
    if config.context(&args.from).is_none() {
        return Err(unknown_context(config, &args.from));
    }
    let mut typed: Vec<String> = Vec::new();
    for n in args.to.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if config.context(n).is_none() {
            return Err(unknown_context(config, n));
        }
        if n == args.from {
            return Err(CliError::usage(format!("--to {n} is also --from")));
        }
        if !typed.iter().any(|t| t == n) {
            typed.push(n.to_string());
        }
    }
    if typed.is_empty() {
        return Err(CliError::usage("--to names no context"));
    }
    let targets = config
        .contexts
        .iter()
        .filter(|c| typed.contains(&c.name))
        .map(|c| Target {
            name: c.name.clone(),
            literal: true,
        })
        .collect();
    Ok(TargetSet {
        targets,
        typed_order: typed,
    })
}

/// The schema names of the queues to copy, from the source's schema.
fn queue_names(system: &System, args: &ReplicateArgs) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let work: Vec<String> = system.work_queues().into_iter().map(|q| q.name).collect();
    if args.what.contains(&ReplicateWhat::Queues) {
        if args.queues.is_empty() {
            names.extend(work.iter().cloned());
        } else {
            for q in &args.queues {
                if !work.contains(q) {
                    return Err(CliError::usage(format!(
                        "--queue {q} is not a work queue of the source's schema"
                    ))
                    .with_hint(format!("work queues: {}", work.join(", "))));
                }
                names.push(q.clone());
            }
        }
    }
    if args.what.contains(&ReplicateWhat::DeadLetter) {
        names.push(system.dead_letter().name);
    }
    Ok(names)
}

pub fn run(config: &Config, settings: &Settings, args: &ReplicateArgs) -> Result<ExitCode> {
    if args.move_jobs {
        return Err(CliError::usage(
            "replicate --move is not available yet: copy, then purge or requeue on the source",
        ));
    }
    if args.what.contains(&ReplicateWhat::Config) || !args.config_params.is_empty() || args.persist
    {
        return Err(CliError::usage(
            "replicate --what config is not available yet: it copies queues and dead-letter for now",
        ));
    }
    let set = target_set(config, settings, args)?;
    let source = match targets(config, settings, std::slice::from_ref(&args.from)).remove(0) {
        Ok(t) => t,
        Err(e) => {
            return Err(CliError::failure(format!(
                "source {}: {}",
                e.context, e.message
            )));
        }
    };
    let queues = queue_names(&source.system, args)?;
    if queues.is_empty() {
        return Err(CliError::usage("nothing to copy: --what names no queue"));
    }
    let action = Replicate {
        source,
        queues,
        cs: ConnSettings::from(settings),
        conn: tokio::sync::OnceCell::new(),
    };
    super::run_on(config, settings, &args.write, action, set)
}
