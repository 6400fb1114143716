//! The write side: the safety gate every write verb goes through (SPEC
//! section 6), and the verbs on it.
//!
//! A verb is an [`Action`]: what it measures on one target (its plan) and
//! what it does there. [`run::run`] owns everything else, once for all
//! verbs: policy (`gate::admit`), the pre-flight plan on stderr, `--dry-run`,
//! the typed confirmation, the strategy, Ctrl-C, the audit log and the
//! `ActionResult`.

pub mod audit;
pub mod gate;
pub mod purge;
pub mod requeue;
pub mod restore;
mod result;
mod run;
mod strategy;

pub use result::{ActionResult, Status};
pub use run::{Action, Applied, PlanView, Step, run};
