//! clap types of `quiet workers` and `stop workers` (SPEC 10.4): the
//! signals a queue system's worker processes read from Redis.

use super::WriteArgs;
use clap::{Args, Subcommand};

/// `qctl quiet ...`
#[derive(Debug, Subcommand)]
pub(crate) enum QuietCommand {
    /// Ask worker processes to take no new jobs (Sidekiq's TSTP); busy jobs finish
    #[command(visible_alias = "worker", after_help = NAME_HELP)]
    Workers(SignalWorkersArgs),
}

/// `qctl stop ...`
#[derive(Debug, Subcommand)]
pub(crate) enum StopCommand {
    /// Ask worker processes to stop gracefully (Sidekiq's TERM); busy jobs get their shutdown timeout, then go back to their queue
    #[command(visible_alias = "worker", after_help = NAME_HELP)]
    Workers(SignalWorkersArgs),
}

const NAME_HELP: &str = "\
NAME matches a process's identity (hostname:pid:nonce), its tag or its hostname, \
globs allowed ('web-1:*'), or CONTEXT/IDENTITY as `qctl get workers -o name` prints it. \
Without NAME, every live process of each target. Orphaned (dead) processes never get a \
signal: they cannot read it. With --strategy rolling --pause DUR, one context after another: \
a rolling restart of a fleet; add --one-by-one to go process by process inside each context too.";

#[derive(Debug, Args)]
pub(crate) struct SignalWorkersArgs {
    /// Processes to signal: identity, tag or hostname (globs allowed), or CONTEXT/IDENTITY [default: every live process]
    #[arg(value_name = "NAME", add = clap_complete::engine::ArgValueCompleter::new(crate::complete::worker_names))]
    pub(crate) names: Vec<String>,
    /// Inside each context, one process at a time: the next only once the one before acted on its signal (stopped, or turned quiet; at most 60 s), --pause between
    #[arg(long)]
    pub(crate) one_by_one: bool,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}
