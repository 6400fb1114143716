//! `qctl pause QUEUE...|--all` / `qctl resume QUEUE...|--all` (SPEC 10.4):
//! a queue system's own pause flag, set as its own API sets it (BullMQ's
//! `:meta paused`, RQ's deployment-wide suspend). Systems without one
//! (go-redis-work-queue, Sidekiq OSS) skip every target with the reason.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::PauseArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::{PauseFlag, guard};
use serde_json::json;

pub(crate) struct Pause {
    pub(crate) queues: Vec<String>,
    /// `--all`: every queue (or the deployment's one flag).
    pub(crate) all: bool,
    /// `resume` rather than `pause`.
    pub(crate) resume: bool,
}

pub(crate) struct PausePlan {
    /// The flags to change.
    change: Vec<PauseFlag>,
    /// The flags already as asked.
    already: Vec<PauseFlag>,
    warnings: Vec<String>,
}

fn flag_name(f: &PauseFlag) -> String {
    match &f.queue {
        Some(q) => q.clone(),
        None => format!("the whole deployment ({})", f.key),
    }
}

fn names(flags: &[PauseFlag]) -> String {
    let n: Vec<String> = flags.iter().take(5).map(flag_name).collect();
    if flags.len() > 5 {
        format!("{}, ... ({} in all)", n.join(", "), flags.len())
    } else {
        n.join(", ")
    }
}

impl Pause {
    fn word(&self) -> &'static str {
        if self.resume { "resume" } else { "pause" }
    }
}

impl Action for Pause {
    const NAME: &'static str = "pause";
    const COUNTS: &'static [&'static str] = &["queues"];
    type Plan = PausePlan;

    fn verb(&self) -> crate::systems::Verb {
        if self.resume {
            crate::systems::Verb::Resume { all: self.all }
        } else {
            crate::systems::Verb::Pause { all: self.all }
        }
    }

    fn moves_jobs(&self) -> bool {
        false
    }

    fn headline(&self) -> String {
        let what = if self.all {
            "every queue".to_string()
        } else {
            self.queues.join(", ")
        };
        if self.resume {
            format!(
                "resume: {what} (the queue system's own pause flag is cleared; workers take jobs again)"
            )
        } else {
            format!(
                "pause: {what} (the queue system's own pause flag: workers take no new jobs, jobs in hand finish, producers still enqueue)"
            )
        }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<PausePlan, ContextError> {
        if !self.all {
            let known = t
                .system
                .found_queues(conn)
                .await
                .map_err(|e| conn.error(&e))?;
            for q in &self.queues {
                if !known.contains(q) {
                    let hint = crate::output::did_you_mean(q, known.iter().map(String::as_str))
                        .map(|s| format!("did you mean {s}? "))
                        .unwrap_or_default();
                    return Err(ContextError {
                        context: conn.context.clone(),
                        kind: ErrorKind::Config,
                        message: format!(
                            "no queue {q} here; {hint}queues: {}",
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        let flags = t
            .system
            .pause_flags(conn, &self.queues, self.all)
            .await
            .map_err(|e| conn.error(&e))?;
        let want = !self.resume;
        let (already, change): (Vec<PauseFlag>, Vec<PauseFlag>) =
            flags.into_iter().partition(|f| f.paused == want);
        let mut warnings = Vec::new();
        if let Some(first) = change.first()
            && let guard::Checked::Unknown(why) =
                guard::may_run(conn, &t.system.pause_needed(first, want)).await?
        {
            warnings.push(why);
        }
        Ok(PausePlan {
            change,
            already,
            warnings,
        })
    }

    fn view(&self, p: &PausePlan) -> PlanView {
        let state = if self.resume { "not paused" } else { "paused" };
        let mut detail = if p.change.is_empty() {
            format!("nothing to {}", self.word())
        } else {
            format!("{} -> {state}", names(&p.change))
        };
        if !p.already.is_empty() {
            detail.push_str(&format!("; already {state}: {}", names(&p.already)));
        }
        PlanView {
            count: p.change.len() as u64,
            detail,
            warnings: p.warnings.clone(),
            ..PlanView::default()
        }
    }

    fn dry_counts(&self, p: &PausePlan) -> Vec<(&'static str, u64)> {
        vec![("queues", p.change.len() as u64)]
    }

    async fn apply(&self, conn: &Conn, t: &ReadTarget, p: &PausePlan, step: Step) -> Applied {
        let want = !self.resume;
        let mut done: Vec<String> = Vec::new();
        let mut error = None;
        for f in &p.change {
            if step.interrupted() {
                error = Some(ContextError {
                    context: conn.context.clone(),
                    kind: ErrorKind::Interrupted,
                    message: format!(
                        "interrupted after {} of {} flags; run {} again to finish",
                        done.len(),
                        p.change.len(),
                        self.word()
                    ),
                });
                break;
            }
            match t.system.set_paused(conn, f, want).await {
                Ok(()) => done.push(flag_name(f)),
                Err(e) => {
                    let mut ce = guard::step_error(conn, &e);
                    ce.message = format!(
                        "{} (after {} of {} flags)",
                        ce.message,
                        done.len(),
                        p.change.len()
                    );
                    error = Some(ce);
                    break;
                }
            }
        }
        Applied {
            counts: vec![("queues", done.len() as u64)],
            before: json!({
                "paused": p.change.iter().chain(&p.already).filter(|f| f.paused).map(flag_name).collect::<Vec<_>>(),
            }),
            after: json!({
                if want { "paused" } else { "resumed" }: done,
                "already": p.already.iter().map(flag_name).collect::<Vec<_>>(),
            }),
            error,
            ..Applied::default()
        }
    }
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &PauseArgs,
    resume: bool,
) -> Result<ExitCode> {
    if args.all != args.queues.is_empty() {
        let verb = if resume { "resume" } else { "pause" };
        return Err(crate::error::CliError::usage(format!(
            "{verb} needs the queues to {verb}, or --all (not both)"
        ))
        .with_hint(format!(
            "for example: qctl {verb} mail, or qctl {verb} --all"
        )));
    }
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        Pause {
            queues: args.queues.clone(),
            all: args.all,
            resume,
        },
    )
}
