//! `qctl pause QUEUE...` / `qctl resume QUEUE...` (SPEC 10.4): a queue
//! system's own pause flag. Neither go-redis-work-queue nor Sidekiq OSS
//! has one, so on them the verbs go through the gate and skip every target
//! with the reason; the systems that have one (BullMQ's `:meta paused`,
//! Asynq's `:paused`, RQ's global suspend) plug in here.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::PauseArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{ContextError, ErrorKind, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;

pub(crate) struct Pause {
    pub(crate) queues: Vec<String>,
    /// `resume` rather than `pause`.
    pub(crate) resume: bool,
}

impl Action for Pause {
    const NAME: &'static str = "pause";
    const COUNTS: &'static [&'static str] = &["queues"];
    type Plan = ();

    fn verb(&self) -> crate::systems::Verb {
        if self.resume {
            crate::systems::Verb::Resume
        } else {
            crate::systems::Verb::Pause
        }
    }

    fn headline(&self) -> String {
        format!(
            "{}: {}",
            if self.resume { "resume" } else { "pause" },
            self.queues.join(", ")
        )
    }

    async fn plan(&self, conn: &Conn, _t: &ReadTarget) -> std::result::Result<(), ContextError> {
        // Every kind qctl speaks today is refused at admission.
        Err(ContextError {
            context: conn.context.clone(),
            kind: ErrorKind::Config,
            message: "this queue system has no pause".into(),
        })
    }

    fn view(&self, _p: &()) -> PlanView {
        PlanView::default()
    }

    fn dry_counts(&self, _p: &()) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    async fn apply(&self, _conn: &Conn, _t: &ReadTarget, _p: &(), _step: Step) -> Applied {
        Applied::default()
    }
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &PauseArgs,
    resume: bool,
) -> Result<ExitCode> {
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        Pause {
            queues: args.queues.clone(),
            resume,
        },
    )
}
