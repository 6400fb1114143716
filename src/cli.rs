//! clap types only: the command surface of SPEC sections 3 and 4.
//!
//! Nothing here talks to Redis or reads the contexts file; `settings`
//! resolves these into plain structs the commands use. The completers
//! attached with `add = ...` (from `complete`) read the contexts file, but
//! run only when a shell asks for completions (`COMPLETE=bash qctl -- ...`).

use crate::complete;
use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter};
use std::path::PathBuf;
use std::time::Duration;

pub(crate) mod help;
mod signal;
pub(crate) use signal::{QuietCommand, SignalWorkersArgs, StopCommand};

#[derive(Debug, Parser)]
#[command(
    name = "qctl",
    version,
    about = "kubectl for Redis-backed job queues: one command, many Redis deployments",
    long_about = None,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Value parsers, one per flag, each checking the flag's documented range
/// (`crate::limits`); the range is in the flag's help too.
mod ranged {
    use crate::limits::*;
    use std::time::Duration;

    macro_rules! dur {
        ($name:ident, $range:expr) => {
            pub(crate) fn $name(s: &str) -> Result<Duration, String> {
                $range.parse(s)
            }
        };
    }
    dur!(timeout, TIMEOUT);
    dur!(connect_timeout, CONNECT_TIMEOUT);
    dur!(pause, PAUSE);
    dur!(interval, WATCH_INTERVAL);
    dur!(sample, SAMPLE);
    dur!(keep_backup, KEEP_BACKUP);
    dur!(wait_timeout, BENCH_WAIT);
    dur!(max_latency, MAX_LATENCY);

    pub(crate) fn scan_limit(s: &str) -> Result<u64, String> {
        SCAN_LIMIT.parse(s)
    }

    pub(crate) fn max_concurrency(s: &str) -> Result<usize, String> {
        MAX_CONCURRENCY.parse(s).map(|n| n as usize)
    }
    pub(crate) fn max_parallel(s: &str) -> Result<usize, String> {
        MAX_PARALLEL.parse(s).map(|n| n as usize)
    }
    pub(crate) fn jobs_limit(s: &str) -> Result<u64, String> {
        JOBS_LIMIT.parse(s)
    }
    pub(crate) fn requeue_limit(s: &str) -> Result<u64, String> {
        REQUEUE_LIMIT.parse(s)
    }
    pub(crate) fn bench_count(s: &str) -> Result<u64, String> {
        BENCH_COUNT.parse(s)
    }
    pub(crate) fn payload_size(s: &str) -> Result<usize, String> {
        BENCH_PAYLOAD.parse(s).map(|n| n as usize)
    }
    pub(crate) fn max_dead_letter(s: &str) -> Result<u64, String> {
        MAX_DEAD_LETTER.parse(s)
    }
    pub(crate) fn max_orphaned_jobs(s: &str) -> Result<u64, String> {
        MAX_ORPHANED_JOBS.parse(s)
    }
    pub(crate) fn memory_percent(s: &str) -> Result<f64, String> {
        let t = s.trim().trim_end_matches('%');
        match t.parse::<f64>() {
            Ok(v) => MAX_MEMORY_PERCENT.check(v),
            _ => Err(format!(
                "`{s}` is not a percentage; write it like 80 or 92.5 ({})",
                MAX_MEMORY_PERCENT.describe()
            )),
        }
    }

    pub(crate) fn rate(s: &str) -> Result<f64, String> {
        match s.trim().trim_end_matches("/s").parse::<f64>() {
            Ok(r) => BENCH_RATE.check(r),
            _ => Err(format!(
                "`{s}` is not a rate; write jobs per second, like 100 or 2.5 ({})",
                BENCH_RATE.describe()
            )),
        }
    }

    pub(crate) fn percent(s: &str) -> Result<f64, String> {
        let t = s.trim().trim_end_matches('%');
        match t.parse::<f64>() {
            Ok(v) => THRESHOLD.check(v),
            _ => Err(format!(
                "`{s}` is not a percentage; write it like 10 or 12.5 ({})",
                THRESHOLD.describe()
            )),
        }
    }
}

/// Shown under their own heading, after each verb's own options.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Contexts file to read (else QCTL_CONFIG, else ~/.config/qctl/config.yaml)
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,

    /// Target context; repeatable, comma-separated, globs allowed ('prod-*')
    #[arg(long = "context", global = true, value_name = "NAME", add = ArgValueCompleter::new(complete::context_list))]
    pub(crate) context: Vec<String>,

    /// Label selector, kubectl syntax: env=prod,region in (a,b),!canary
    #[arg(short = 'l', long, global = true, value_name = "EXPR")]
    pub(crate) selector: Option<String>,

    /// Every enabled context
    #[arg(short = 'A', long = "all-contexts", global = true)]
    pub(crate) all_contexts: bool,

    /// Per-context budget, 1ms to 1h [default: 5s]
    #[arg(long, global = true, value_name = "DUR", value_parser = ranged::timeout)]
    pub(crate) timeout: Option<Duration>,

    /// Connection budget, 1ms to 10m [default: 2s]
    #[arg(long, global = true, value_name = "DUR", value_parser = ranged::connect_timeout)]
    pub(crate) connect_timeout: Option<Duration>,

    /// Contexts in flight at once, 1 to 10000 [default: 256]
    #[arg(long, global = true, value_name = "N", value_parser = ranged::max_concurrency)]
    pub(crate) max_concurrency: Option<usize>,

    /// Output format: table, wide, json, yaml, name, or custom-columns=HEADER:FIELD,... over the JSON fields [default: table]
    ///
    /// In a table, `-` is a value that is absent and `<none>` an empty list. What wide adds: get clusters: SYSTEM, ORPHANED, MAXMEMORY (summed over a cluster's primaries, as MEMORY is), POLICY, UPTIME, LABELS, ENDPOINT; get queues: STATE, SCHEMA, SYSTEM; get workers: QUEUES, HOST, PID, TAG, THREADS, QUIET, BUSY-JOBS, CONNECTED, PROCESSING-KEY; get jobs: PAYLOAD; get backups: CREATED; get contexts: SCHEMA, MODE, SERVER, ALLOWED-ACTIONS, FILE; health: SYSTEM, ENDPOINT, PASSED CHECKS; compare: rows for the system, maxmemory and memory summed over primaries, the endpoint; the write verbs' results: WARNINGS. current-context, version and completion print the same in every table format.
    #[arg(short = 'o', long, global = true, value_name = "FMT", value_parser = output_format, add = ArgValueCandidates::new(complete::output_formats))]
    pub(crate) output: Option<OutputArg>,

    /// Tables without their header line
    #[arg(long, global = true)]
    pub(crate) no_headers: bool,

    /// When to colour tables
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub(crate) color: ColorChoice,

    /// Nothing but results: no progress, no notes
    #[arg(short = 'q', long, global = true)]
    pub(crate) quiet: bool,

    /// Log each Redis command sent, per context, to stderr
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
    Name,
    /// `custom-columns=HEADER:FIELD,...`; the columns are in [`OutputArg`].
    #[value(skip)]
    CustomColumns,
}

/// `-o`'s value: a format, and the columns of `custom-columns=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutputArg {
    pub(crate) format: OutputFormat,
    pub(crate) columns: Option<std::sync::Arc<Vec<crate::output::columns::Column>>>,
}

fn output_format(s: &str) -> Result<OutputArg, String> {
    if let Some(spec) = s.strip_prefix("custom-columns=") {
        let columns = crate::output::columns::parse_columns(spec)?;
        return Ok(OutputArg {
            format: OutputFormat::CustomColumns,
            columns: Some(std::sync::Arc::new(columns)),
        });
    }
    if s == "custom-columns" {
        return Err(
            "custom-columns needs its columns: -o custom-columns=NAME:.context,DLQ:.dead_letter"
                .into(),
        );
    }
    match <OutputFormat as ValueEnum>::from_str(s, false) {
        Ok(format) => Ok(OutputArg {
            format,
            columns: None,
        }),
        Err(_) => Err(format!(
            "`{s}` is not an output format; use table, wide, json, yaml, name or custom-columns=HEADER:FIELD,..."
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show clusters, queues, workers, jobs
    #[command(subcommand)]
    Get(GetCommand),
    /// Everything qctl knows about one cluster, queue, worker or job, in sections
    #[command(subcommand)]
    Describe(DescribeCommand),
    /// Side by side: job and worker figures with deltas to the first context, and drift
    Compare(CompareArgs),
    /// Check each context against health thresholds: healthy, degraded or unreachable; exit 5 unless all are healthy
    Health(HealthArgs),
    /// Empty the dead-letter queue on each target, keeping a backup (24h) unless --no-backup
    PurgeDlq(PurgeDlqArgs),
    /// Put the newest DLQ backup back, merged with the jobs that arrived since
    RestoreDlq(RestoreDlqArgs),
    /// Move dead-letter jobs back to a work queue, atomically per job (--orphaned: dead workers' in-flight jobs)
    Requeue(RequeueArgs),
    /// Copy (or --move) queues and dead letters, and align Redis config, from one context to others
    Replicate(ReplicateArgs),
    /// Ask worker processes to take no new jobs (Sidekiq's TSTP signal)
    #[command(subcommand)]
    Quiet(QuietCommand),
    /// Ask worker processes to stop gracefully (Sidekiq's TERM signal)
    #[command(subcommand)]
    Stop(StopCommand),
    /// Pause queues with the queue system's own flag (BullMQ's queue pause, RQ's suspend); systems without one skip with why
    Pause(PauseArgs),
    /// Resume paused queues (the queue system's own flag)
    Resume(PauseArgs),
    /// Read and edit the contexts file
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Switch the current context (`-`: back to the previous one); without a name, list them
    UseContext {
        /// Context name, or `-` for the one before the last switch
        #[arg(add = ArgValueCompleter::new(complete::context_name))]
        name: Option<String>,
    },
    /// Print the current context
    CurrentContext,
    /// Print the version
    Version,
    /// Enqueue marked synthetic jobs and time them to completed: throughput, p50/p95 latency
    Bench(BenchArgs),
    /// Start throwaway local Redis servers with realistic queue data and take a short tour
    Demo(DemoArgs),
    /// Print the shell script that sets up completion (context and queue names come from the contexts file)
    #[command(long_about = COMPLETION_LONG_ABOUT)]
    Completion {
        /// The shell to print the script for
        #[arg(value_enum, value_name = "SHELL")]
        shell: Shell,
    },
    /// Write the man pages (qctl.1, qctl-get.1, ...) into DIR
    #[command(name = "__generate-man", hide = true)]
    GenerateMan {
        /// Directory to write into (created if missing)
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Synthetic jobs to enqueue on each target, 1 to 10000000
    #[arg(long, value_name = "N", value_parser = ranged::bench_count)]
    pub(crate) count: u64,
    /// Jobs enqueued per second on each target, 0.1 to 1000000
    #[arg(long, value_name = "R", value_parser = ranged::rate)]
    pub(crate) rate: f64,
    /// The work queue to enqueue into (a schema name)
    #[arg(long, value_name = "NAME", default_value = "high")]
    pub(crate) queue: String,
    /// Approximate size of each job's JSON payload, in bytes, 1 to 65536
    #[arg(long, value_name = "B", default_value_t = 256, value_parser = ranged::payload_size)]
    pub(crate) payload_size: usize,
    /// How long to wait for the last jobs to show up in completed, 1ms to 24h
    #[arg(long, value_name = "DUR", default_value = "60s", value_parser = ranged::wait_timeout)]
    pub(crate) wait_timeout: Duration,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Stop and remove the servers after the tour (the default off a terminal)
    #[arg(long)]
    pub(crate) no_wait: bool,
}

const COMPLETION_LONG_ABOUT: &str = "\
Print the shell script that sets up completion of qctl's verbs, flags, and \
context and queue names. The script calls `qctl` from PATH on every TAB, and \
qctl answers from the contexts file (QCTL_CONFIG, else \
~/.config/qctl/config.yaml), without connecting to Redis.

bash: `source <(qctl completion bash)` in ~/.bashrc

zsh: `qctl completion zsh > _qctl` in a directory on $fpath

fish: `qctl completion fish > ~/.config/fish/completions/qctl.fish`

powershell: `qctl completion powershell | Out-String | Invoke-Expression` in $PROFILE

elvish: `eval (qctl completion elvish | slurp)` in ~/.config/elvish/rc.elv";

/// The shells `qctl completion` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
    #[value(alias = "pwsh")]
    Powershell,
    Elvish,
}

#[derive(Debug, Subcommand)]
pub(crate) enum GetCommand {
    /// One row per context: status, latency, version, queue figures, memory
    #[command(visible_alias = "cluster")]
    Clusters(GetClustersArgs),
    /// One row per (context, queue): key, role, length, age of the next job
    #[command(visible_alias = "queue")]
    Queues(GetQueuesArgs),
    /// One row per (context, worker): active or orphaned, in-flight jobs, heartbeat
    #[command(visible_alias = "worker")]
    Workers(GetWorkersArgs),
    /// Peek at a queue's jobs without removing them
    Jobs(GetJobsArgs),
    /// Find jobs by id in every queue and set: context, queue, state, position
    Job(GetJobArgs),
    /// DLQ backups kept by purge-dlq: jobs, age, expiry
    #[command(visible_alias = "backup")]
    Backups(GetBackupsArgs),
    /// The contexts of the contexts file, the current one marked
    #[command(visible_alias = "context")]
    Contexts(ListArgs),
}

#[derive(Debug, Args)]
pub(crate) struct GetBackupsArgs {
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
    #[command(flatten)]
    pub(crate) list: ListArgs,
}

/// How a write verb goes through its targets (SPEC section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum Strategy {
    /// Every target at once
    #[default]
    Parallel,
    /// --max-parallel targets at a time, --pause between steps; stop at the first failure
    Rolling,
    /// The first context named alone, then the rest only if it succeeded
    Canary,
}

/// The safety gate's flags, on every write verb.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct WriteArgs {
    /// Print the plan and what would change, change nothing, exit 0
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Confirm without a prompt (scripts, CI) by naming exactly the target contexts, in any order
    #[arg(long, value_name = "NAME[,NAME...]")]
    pub(crate) yes_i_typed: Option<String>,
    /// How to go through the targets
    #[arg(long, value_enum, default_value_t = Strategy::Parallel, value_name = "STRATEGY")]
    pub(crate) strategy: Strategy,
    /// Targets written at once, 1 to 10000 [default: 1 for rolling; all for parallel and canary's second step]
    #[arg(long, value_name = "N", value_parser = ranged::max_parallel)]
    pub(crate) max_parallel: Option<usize>,
    /// Wait this long between the steps of rolling and canary, 1ms to 1h
    #[arg(long, value_name = "DUR", value_parser = ranged::pause)]
    pub(crate) pause: Option<Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct PurgeDlqArgs {
    /// How long the backup is kept before Redis frees it, 1s to 365d
    #[arg(long, value_name = "DUR", value_parser = ranged::keep_backup, default_value = "24h", conflicts_with = "no_backup")]
    pub(crate) keep_backup: Duration,
    /// Free the jobs now with UNLINK, keeping no backup (restore-dlq cannot bring them back)
    #[arg(long)]
    pub(crate) no_backup: bool,
    /// Only this queue's dead set (systems with one per queue: BullMQ, RQ); repeatable
    #[arg(long = "queue", value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RestoreDlqArgs {
    /// Restore this backup (a key from `qctl get backups`) instead of the newest
    #[arg(long, value_name = "KEY")]
    pub(crate) backup: Option<String>,
    /// Only this queue's dead set (systems with one per queue: BullMQ, RQ); repeatable
    #[arg(long = "queue", value_name = "QUEUE", conflicts_with = "backup")]
    pub(crate) queues: Vec<String>,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RequeueArgs {
    /// The work queue to move jobs to: a schema name (high, low) or a full key; required on go-redis-work-queue (with --orphaned: default, the queue each job's priority names; on Sidekiq: default, the queue each job names)
    #[arg(long, value_name = "QUEUE", add = ArgValueCompleter::new(complete::work_queues))]
    pub(crate) to: Option<String>,
    /// The set to take jobs from: dead (the dead-letter queue), retry or scheduled (Sidekiq)
    #[arg(long, value_enum, default_value = "dead", conflicts_with = "orphaned")]
    pub(crate) from: RequeueFrom,
    /// Move the in-flight jobs of dead workers (processing lists without a heartbeat) back to their queue, each exactly once
    #[arg(long)]
    pub(crate) orphaned: bool,
    /// Move at most N jobs per target (the oldest first), 1 to 1000000000
    #[arg(long, value_name = "N", value_parser = ranged::requeue_limit)]
    pub(crate) limit: Option<u64>,
    /// Only jobs whose whole payload matches this Redis-style glob, e.g. '*"filepath":"/data/invoices/*'
    #[arg(long = "match", value_name = "GLOB", conflicts_with = "orphaned")]
    pub(crate) pattern: Option<String>,
    /// Set the payload's retries to 0 on the way
    #[arg(long, conflicts_with = "orphaned")]
    pub(crate) reset_retries: bool,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

#[derive(Debug, Args)]
pub(crate) struct PauseArgs {
    /// The queues to pause or resume
    #[arg(value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    /// Every queue (on RQ, whose pause is deployment-wide: `rq suspend` / `rq resume`)
    #[arg(long)]
    pub(crate) all: bool,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

/// Where `requeue` takes jobs from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RequeueFrom {
    /// The dead jobs (go-redis-work-queue's DLQ, Sidekiq's dead set)
    Dead,
    /// Failed jobs waiting to run again (Sidekiq's retry set)
    Retry,
    /// Jobs waiting for a time (Sidekiq's schedule): they run now
    Scheduled,
}

impl RequeueFrom {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RequeueFrom::Dead => "dead",
            RequeueFrom::Retry => "retry",
            RequeueFrom::Scheduled => "scheduled",
        }
    }
}

/// What `replicate` copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReplicateWhat {
    /// The work queues
    Queues,
    /// The dead-letter queue
    DeadLetter,
    /// An allow-list of Redis CONFIG parameters
    Config,
}

#[derive(Debug, Args)]
pub(crate) struct ReplicateArgs {
    /// The context to copy from
    #[arg(long, value_name = "CONTEXT", add = ArgValueCompleter::new(complete::context_name))]
    pub(crate) from: String,
    /// The contexts to copy to (comma-separated or repeated); exactly these are the targets
    #[arg(
        long,
        value_name = "CONTEXT[,CONTEXT...]",
        required = true,
        value_delimiter = ',',
        add = ArgValueCompleter::new(complete::context_name)
    )]
    pub(crate) to: Vec<String>,
    /// What to copy
    #[arg(long, value_enum, value_name = "WHAT[,WHAT...]", value_delimiter = ',', default_values_t = [ReplicateWhat::Queues])]
    pub(crate) what: Vec<ReplicateWhat>,
    /// Only these queues (schema names such as high, low); repeatable
    #[arg(long = "queue", value_name = "NAME", add = ArgValueCompleter::new(complete::source_work_queues))]
    pub(crate) queues: Vec<String>,
    /// Move instead of copy: jobs leave the source only once they are on every target (the source is confirmed like a target)
    #[arg(long = "move")]
    pub(crate) move_jobs: bool,
    /// With --what config: align only these parameters (names or globs over the allow-list; maxmemory only when named here)
    #[arg(
        long = "config-param",
        value_name = "NAME[,NAME...]",
        value_delimiter = ',',
        add = ArgValueCandidates::new(complete::config_params)
    )]
    pub(crate) config_params: Vec<String>,
    /// Make config changes permanent with CONFIG REWRITE
    #[arg(long)]
    pub(crate) persist: bool,
    #[command(flatten)]
    pub(crate) write: WriteArgs,
}

/// `--sort-by`, on every list.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ListArgs {
    /// Sort by this JSON field of the items (`-FIELD`: descending), e.g. dead_letter, -age, labels.env
    #[arg(long, value_name = "FIELD", value_parser = sort_key, allow_hyphen_values = true)]
    pub(crate) sort_by: Option<crate::output::columns::SortKey>,
}

fn sort_key(s: &str) -> Result<crate::output::columns::SortKey, String> {
    crate::output::columns::SortKey::parse(s)
}

/// `--watch` and its interval, on every `get` verb.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct WatchArgs {
    /// Keep polling each context and redraw (tables) or print one JSON line per context per poll
    #[arg(short = 'w', long)]
    pub(crate) watch: bool,
    /// Time between polls of one context under --watch, 100ms to 24h [default: 2s, or preferences.watch.interval]
    #[arg(long, value_name = "DUR", value_parser = ranged::interval, requires = "watch")]
    pub(crate) interval: Option<Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct GetClustersArgs {
    /// Only these contexts (globs allowed); with -l or -A, only those of the selection they name
    #[arg(value_name = "CONTEXT", add = ArgValueCompleter::new(complete::context_name))]
    pub(crate) contexts: Vec<String>,
    /// Read each context twice, DUR apart (10ms to 1h), and add measured rates (completed/s, dead-lettered/s, queued change/s)
    #[arg(long, value_name = "DUR", value_parser = ranged::sample)]
    pub(crate) sample: Option<Duration>,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
    #[command(flatten)]
    pub(crate) list: ListArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GetQueuesArgs {
    /// Only these queues, by name or key (globs allowed)
    #[arg(value_name = "QUEUE", add = ArgValueCompleter::new(complete::any_queues))]
    pub(crate) queues: Vec<String>,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
    #[command(flatten)]
    pub(crate) list: ListArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GetWorkersArgs {
    /// Only these workers (globs allowed)
    #[arg(value_name = "WORKER")]
    pub(crate) workers: Vec<String>,
    /// Only workers in this state
    #[arg(long, value_enum, value_name = "STATE")]
    pub(crate) state: Option<crate::systems::WorkerState>,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
    #[command(flatten)]
    pub(crate) list: ListArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GetJobsArgs {
    /// A queue of the schema (high, low, completed, dead-letter or dlq) or a full key; without it, --state STATE for that state's jobs of every queue
    #[arg(add = ArgValueCompleter::new(complete::any_queues))]
    pub(crate) queue: Option<String>,
    /// How many jobs to show per context, 0 to 10000
    #[arg(short = 'n', long = "limit", value_name = "N", default_value_t = 10, value_parser = ranged::jobs_limit)]
    pub(crate) limit: u64,
    /// Start at the other end: the jobs a consumer would take last
    #[arg(long)]
    pub(crate) from_end: bool,
    /// The queue's jobs in this state: waiting, active, scheduled, retry, dead, completed, deferred (or the system's own word: delayed, failed, prioritized, started, finished)
    #[arg(long, value_name = "STATE")]
    pub(crate) state: Option<String>,
    /// Only jobs whose stored payload matches this glob (the matcher requeue --match uses); up to 10000 jobs are read
    #[arg(long = "match", value_name = "GLOB")]
    pub(crate) pattern: Option<String>,
    #[command(flatten)]
    pub(crate) watch: WatchArgs,
    #[command(flatten)]
    pub(crate) list: ListArgs,
}

#[derive(Debug, Args)]
pub(crate) struct GetJobArgs {
    /// Job ids to look for (Sidekiq jid, BullMQ or RQ job id, go-redis-work-queue id)
    #[arg(value_name = "ID")]
    pub(crate) ids: Vec<String>,
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
}

/// How far a job lookup reads where the system keeps no index of its jobs.
#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Entries read at most per list or set scanned for an id (go-redis-work-queue, Sidekiq; the LPOS bound on BullMQ and RQ), 1 to 100000000
    #[arg(long, value_name = "N", default_value_t = crate::systems::find::DEFAULT_SCAN_LIMIT, value_parser = ranged::scan_limit)]
    pub(crate) scan_limit: u64,
}

/// What `describe` shows.
#[derive(Debug, Subcommand)]
pub(crate) enum DescribeCommand {
    /// A context's server (version, nodes, memory, persistence), the settings compare checks, its queue system and what it supports, figures and health checks
    #[command(visible_alias = "clusters")]
    Cluster(DescribeClusterArgs),
    /// A queue's keys, depth, age of the next job, pause, its other sets, rates (--sample) and recent dead jobs grouped by error
    #[command(visible_alias = "queues")]
    Queue(DescribeQueueArgs),
    /// A worker's state, heartbeat, queues, jobs in flight and what its system keeps of it
    #[command(visible_alias = "workers")]
    Worker(DescribeWorkerArgs),
    /// Where a job is, its full payload and its history (attempts, errors, backtrace decoded)
    #[command(visible_alias = "jobs")]
    Job(DescribeJobArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DescribeClusterArgs {
    /// Contexts to describe, globs allowed (default: the selection: --context, -l, -A, current-context)
    #[arg(value_name = "CONTEXT", add = ArgValueCompleter::new(complete::context_name))]
    pub(crate) contexts: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DescribeQueueArgs {
    /// The queue as get queues names it (high, default, mail:failed, failed:default, dead-letter) or its key
    #[arg(value_name = "QUEUE", add = ArgValueCompleter::new(complete::any_queues))]
    pub(crate) queue: String,
    /// Read the queue's lengths twice, DUR apart (10ms to 1h), and add its rates
    #[arg(long, value_name = "DUR", value_parser = ranged::sample)]
    pub(crate) sample: Option<Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct DescribeWorkerArgs {
    /// The worker as get workers lists it; a glob describes every match ('host-*')
    #[arg(value_name = "WORKER", add = ArgValueCompleter::new(complete::worker_names))]
    pub(crate) worker: String,
}

#[derive(Debug, Args)]
pub(crate) struct DescribeJobArgs {
    /// The job's id (Sidekiq jid, BullMQ or RQ job id, go-redis-work-queue id)
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) scan: ScanArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// Contexts to compare, the first the baseline (default: the selection; globs allowed)
    #[arg(value_name = "CONTEXT", add = ArgValueCompleter::new(complete::context_name))]
    pub(crate) contexts: Vec<String>,
    /// Highlight and flag differences beyond this many percent, 0 to 1000000 [default: 10, or preferences.compare.threshold]
    #[arg(long, value_name = "PCT", value_parser = ranged::percent)]
    pub(crate) threshold: Option<f64>,
    /// Exit 5 when configuration drift is found (0 when none)
    #[arg(long)]
    pub(crate) exit_code: bool,
    /// Exit 5 on anomalies too (figures beyond the threshold); implies --exit-code
    #[arg(long)]
    pub(crate) fail_on_anomaly: bool,
    /// Read each context twice, DUR apart (10ms to 1h), and compare measured rates too
    #[arg(long, value_name = "DUR", value_parser = ranged::sample)]
    pub(crate) sample: Option<Duration>,
}

/// `health`'s thresholds; each overrides its `preferences.health` field.
#[derive(Debug, Args, Default)]
pub(crate) struct HealthArgs {
    /// Fail when the dead-letter queue holds more than N jobs, 0 to 1000000000 [default: 100, or preferences.health.max-dead-letter]
    #[arg(long, value_name = "N", value_parser = ranged::max_dead_letter)]
    pub(crate) max_dead_letter: Option<u64>,
    /// Fail when a PING round trip takes longer, 1ms to 1h [default: 250ms, or preferences.health.max-latency]
    #[arg(long, value_name = "DUR", value_parser = ranged::max_latency)]
    pub(crate) max_latency: Option<Duration>,
    /// Fail when more than N orphaned jobs are seen in two readings, 0 to 1000000000 [default: 0, or preferences.health.max-orphaned-jobs]
    #[arg(long, value_name = "N", value_parser = ranged::max_orphaned_jobs)]
    pub(crate) max_orphaned_jobs: Option<u64>,
    /// Fail when used memory is above PCT of maxmemory, 0 to 100 [default: 90, or preferences.health.max-memory-percent]
    #[arg(long, value_name = "PCT", value_parser = ranged::memory_percent)]
    pub(crate) max_memory_percent: Option<f64>,
    /// Fail when jobs are queued and no worker is active; --require-workers=false to skip the check [default: true, or preferences.health.require-workers]
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) require_workers: Option<bool>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// List the contexts
    GetContexts,
    /// Print the current context
    CurrentContext,
    /// Set the current context (`-`: back to the previous one)
    UseContext {
        /// Context name, or `-` for the one before the last switch
        #[arg(add = ArgValueCompleter::new(complete::context_name))]
        name: String,
    },
    /// Create a context, or change one
    SetContext(SetContextArgs),
    /// Remove a context
    DeleteContext {
        /// Context name
        #[arg(add = ArgValueCompleter::new(complete::context_name))]
        name: String,
    },
    /// Print the merged contexts file (secrets REDACTED unless --raw)
    View {
        /// Only the current context and what it refers to
        #[arg(long)]
        minify: bool,
        /// Show secrets as written
        #[arg(long)]
        raw: bool,
    },
    /// Check the contexts file and report the first problem
    Validate,
}

#[derive(Debug, Args)]
pub(crate) struct SetContextArgs {
    /// Context name
    #[arg(add = ArgValueCompleter::new(complete::context_name))]
    pub(crate) name: String,
    /// Cluster entry it points at (required for a new context)
    #[arg(long = "cluster", value_name = "CLUSTER", add = ArgValueCompleter::new(complete::cluster_name))]
    pub(crate) cluster_name: Option<String>,
    /// User entry (empty to clear)
    #[arg(long, value_name = "USER", add = ArgValueCompleter::new(complete::user_name))]
    pub(crate) user: Option<String>,
    /// Queue schema (empty for the built-in default)
    #[arg(long, value_name = "SCHEMA", add = ArgValueCompleter::new(complete::schema_name))]
    pub(crate) schema: Option<String>,
    /// Colour in tables and plans (empty to clear)
    #[arg(long = "context-color", value_name = "COLOR", add = ArgValueCandidates::new(complete::colors))]
    pub(crate) context_color: Option<String>,
    /// Label KEY=VALUE to set, or KEY- to remove; repeatable
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub(crate) labels: Vec<String>,
    /// Mark as protected (writes only when named literally); --protected=false to clear
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) protected: Option<bool>,
    /// Enable or disable (disabled contexts are left out of -A, -l and globs)
    #[arg(long, value_name = "BOOL")]
    pub(crate) enabled: Option<bool>,
}
