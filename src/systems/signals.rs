//! Signals to worker processes through Redis (`quiet workers`, `stop
//! workers`, SPEC 10.4), for the systems whose processes read one: each
//! system sends them its own way ([`QueueSystem::signal`](super::QueueSystem::signal)).

use super::{Worker, WorkerState};

/// What a process is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Finish the jobs in hand, take no new ones.
    Quiet,
    /// Stop gracefully.
    Stop,
}

/// Whether a process can read a signal (its heartbeat is fresh).
pub(crate) fn is_live(w: &Worker) -> bool {
    w.state == WorkerState::Active
}
