//! What `--help` and the man pages say beyond the clap types: a few real
//! examples per verb (kubectl's "Examples:"), the pages each page points to,
//! and the global options hidden where they mean nothing.
//!
//! [`command`] is the clap command qctl parses with, completes with and
//! writes its man pages from (`man.rs` starts from [`base`] and renders the
//! examples itself, as an EXAMPLES section). The unit tests below check the
//! table against the command: an entry for a subcommand that does not exist
//! fails, a visible subcommand without examples fails, and every example
//! must parse as the verb it is listed under (`tests/it/help.rs` runs them
//! against a real redis-server). A new verb: its entry in [`ENTRIES`], or
//! until then one line in `NO_EXAMPLES_YET` in the tests below.

use super::Cli;
use clap::CommandFactory;
use std::fmt::Write as _;

/// One example: what it does (a short phrase, no full stop), and the line.
pub(crate) struct Example {
    pub(crate) what: &'static str,
    pub(crate) line: &'static str,
}

/// The help of one subcommand, keyed by its path without `qctl` (`""` is
/// `qctl` itself, then `get clusters`, `purge-dlq`, `config use-context`).
pub(crate) struct Entry {
    pub(crate) path: &'static str,
    pub(crate) examples: &'static [Example],
    /// Related pages for SEE ALSO, as paths; the parent and the children
    /// are added without being listed here.
    pub(crate) see_also: &'static [&'static str],
}

const fn ex(what: &'static str, line: &'static str) -> Example {
    Example { what, line }
}

/// Every visible subcommand's examples, in the order of `qctl --help`.
/// Keep each line short (the help wraps at the terminal's width) and
/// correct for today's flags: the tests parse every line.
pub(crate) const ENTRIES: &[Entry] = &[
    Entry {
        path: "",
        examples: &[
            ex("Every context at a glance", "qctl get clusters -A"),
            ex(
                "Every production context's health (exit 5 if one is not healthy)",
                "qctl health -l env=prod",
            ),
            ex(
                "Throwaway local servers with queue data, and a short tour",
                "qctl demo",
            ),
        ],
        see_also: &[],
    },
    Entry {
        path: "get",
        examples: &[
            ex("Every context at a glance", "qctl get clusters -A"),
            ex(
                "The queues of every production context",
                "qctl get queues -l env=prod",
            ),
            ex(
                "The first 5 jobs of prod-eu's dead-letter queue",
                "qctl get jobs dead-letter --context prod-eu -n 5",
            ),
        ],
        see_also: &["compare", "health"],
    },
    Entry {
        path: "get clusters",
        examples: &[
            ex(
                "Every context: status, latency, queue depths, memory",
                "qctl get clusters -A",
            ),
            ex(
                "The contexts named prod-*, the most dead letters first",
                "qctl get clusters 'prod-*' --sort-by -dlq",
            ),
            ex(
                "Only the columns you name (any field of -o json)",
                "qctl get clusters -A -o custom-columns=CONTEXT:.context,DLQ:.dead_letter",
            ),
        ],
        see_also: &["health", "compare"],
    },
    Entry {
        path: "get queues",
        examples: &[
            ex("The queues of the current context", "qctl get queues"),
            ex(
                "The high queues and dead letters of every context, longest first",
                "qctl get queues -A 'h*' dlq --sort-by -length",
            ),
            ex(
                "One JSON line per context every 10s, for a log shipper",
                "qctl get queues -A --watch --interval 10s -o json",
            ),
        ],
        see_also: &["get jobs", "pause"],
    },
    Entry {
        path: "get workers",
        examples: &[
            ex(
                "The workers of staging",
                "qctl get workers --context staging",
            ),
            ex(
                "Workers that died with jobs in flight, one name per line",
                "qctl get workers -A --state orphaned -o name",
            ),
            ex(
                "The Sidekiq processes of one host on shop",
                "qctl get workers --context shop 'web-1:*'",
            ),
        ],
        see_also: &["requeue", "quiet workers", "stop workers"],
    },
    Entry {
        path: "get job",
        examples: &[
            ex(
                "Where job 7f3c9a1e is, on every context: queue, state, position",
                "qctl get job 7f3c9a1e -A",
            ),
            ex(
                "Two jobs, with their class and enqueue time",
                "qctl get job 7f3c9a1e 9b2d4e11 --context prod-eu -o wide",
            ),
        ],
        see_also: &["describe job", "get jobs"],
    },
    Entry {
        path: "describe",
        examples: &[
            ex(
                "prod-eu's server, queue system, figures and health checks",
                "qctl describe cluster prod-eu",
            ),
            ex(
                "A queue's depth and its dead jobs grouped by error",
                "qctl describe queue dead-letter --context prod-eu",
            ),
            ex(
                "A job's place, payload and history",
                "qctl describe job 7f3c9a1e --context prod-eu",
            ),
        ],
        see_also: &["get"],
    },
    Entry {
        path: "describe cluster",
        examples: &[
            ex("The current context, in sections", "qctl describe cluster"),
            ex(
                "Every production context, as JSON",
                "qctl describe cluster -l env=prod -o json",
            ),
        ],
        see_also: &["get clusters", "health", "compare"],
    },
    Entry {
        path: "describe queue",
        examples: &[
            ex(
                "The dead-letter queue of prod-eu: depth, age, errors",
                "qctl describe queue dead-letter --context prod-eu",
            ),
            ex(
                "The high queue with its rates over one second",
                "qctl describe queue high --context prod-eu --sample 1s",
            ),
        ],
        see_also: &["get queues", "get jobs"],
    },
    Entry {
        path: "describe worker",
        examples: &[
            ex(
                "One worker of staging: heartbeat and jobs in flight",
                "qctl describe worker worker-7 --context staging",
            ),
            ex(
                "Every worker whose name starts with worker-, as JSON",
                "qctl describe worker 'worker-*' --context staging -o json",
            ),
        ],
        see_also: &["get workers", "requeue"],
    },
    Entry {
        path: "describe job",
        examples: &[
            ex(
                "Job 7f3c9a1e: where it is, its payload and history",
                "qctl describe job 7f3c9a1e --context prod-eu",
            ),
            ex(
                "The same, looked up on every context, as YAML",
                "qctl describe job 7f3c9a1e -A -o yaml",
            ),
        ],
        see_also: &["get job", "requeue"],
    },
    Entry {
        path: "get jobs",
        examples: &[
            ex(
                "The next 5 jobs a consumer would take from high",
                "qctl get jobs high -n 5",
            ),
            ex(
                "Dead-letter jobs that name an invoice file (what requeue --match moves)",
                "qctl get jobs dead-letter --match '*\"/data/invoices/*'",
            ),
            ex(
                "The dead jobs of every queue on shop, as JSON with their payloads",
                "qctl get jobs --state dead --context shop -o json",
            ),
        ],
        see_also: &["get queues", "requeue"],
    },
    Entry {
        path: "get backups",
        examples: &[
            ex(
                "The DLQ backups purge-dlq kept, on every context",
                "qctl get backups -A",
            ),
            ex(
                "Their keys, for restore-dlq --backup",
                "qctl get backups --context staging -o json",
            ),
        ],
        see_also: &["purge-dlq", "restore-dlq"],
    },
    Entry {
        path: "get contexts",
        examples: &[
            ex(
                "The contexts of the contexts file, the current one marked",
                "qctl get contexts",
            ),
            ex(
                "Only their names, one per line",
                "qctl get contexts -o name",
            ),
        ],
        see_also: &["use-context", "config get-contexts"],
    },
    Entry {
        path: "compare",
        examples: &[
            ex(
                "Two regions side by side, the first the baseline",
                "qctl compare prod-us prod-eu",
            ),
            ex(
                "CI: flag only what doubled, and exit 5 when settings drifted",
                "qctl compare prod-us staging --threshold 100 --exit-code",
            ),
            ex(
                "Every production context, with measured rates",
                "qctl compare -l env=prod --sample 2s",
            ),
        ],
        see_also: &["get clusters", "health", "replicate"],
    },
    Entry {
        path: "health",
        examples: &[
            ex(
                "Check every context (exit 5 if one is degraded or unreachable)",
                "qctl health -A",
            ),
            ex(
                "Cron or CI: nothing but the outcome, with this run's own thresholds",
                "qctl health -l env=prod --max-dead-letter 50 --max-latency 1s -q",
            ),
            ex(
                "Each context's checks, as JSON for monitoring",
                "qctl health -A -o json",
            ),
        ],
        see_also: &["get clusters", "compare"],
    },
    Entry {
        path: "purge-dlq",
        examples: &[
            ex(
                "What purging prod-eu's dead-letter queue would do (writes nothing)",
                "qctl purge-dlq --context prod-eu --dry-run",
            ),
            ex(
                "Purge staging's, keeping a backup for 24h (asks you to type the name)",
                "qctl purge-dlq --context staging",
            ),
            ex(
                "From a script: name the targets, keep the backup a week",
                "qctl purge-dlq --context staging --yes-i-typed=staging --keep-backup 7d",
            ),
        ],
        see_also: &["get backups", "restore-dlq", "requeue"],
    },
    Entry {
        path: "restore-dlq",
        examples: &[
            ex(
                "What putting staging's newest backup back would do",
                "qctl restore-dlq --context staging --dry-run",
            ),
            ex(
                "Put it back, without a prompt",
                "qctl restore-dlq --context staging --yes-i-typed=staging",
            ),
        ],
        see_also: &["get backups", "purge-dlq"],
    },
    Entry {
        path: "requeue",
        examples: &[
            ex(
                "What moving prod-eu's dead-letter jobs back to high would do",
                "qctl requeue --context prod-eu --to high --dry-run",
            ),
            ex(
                "Failed invoice jobs to low, their retries reset",
                "qctl requeue --context staging --to low --match '*\"/data/invoices/*' --reset-retries",
            ),
            ex(
                "Dead workers' in-flight jobs back to their queues",
                "qctl requeue --orphaned --context staging --dry-run",
            ),
        ],
        see_also: &["get jobs", "get workers", "purge-dlq"],
    },
    Entry {
        path: "replicate",
        examples: &[
            ex(
                "What copying staging's queues to two contexts would do",
                "qctl replicate --from staging --to prod-us,prod-eu --dry-run",
            ),
            ex(
                "Align staging's Redis settings (an allow-list) with prod-us's",
                "qctl replicate --from prod-us --to staging --what config --dry-run",
            ),
            ex(
                "Move the queues: off the source once on staging (confirmed like a target)",
                "qctl replicate --from prod-us --to staging --move --yes-i-typed=prod-us,staging",
            ),
        ],
        see_also: &["compare", "pause", "quiet workers"],
    },
    Entry {
        path: "quiet",
        examples: &[
            ex(
                "Which of shop's Sidekiq processes would be quieted",
                "qctl quiet workers --context shop --dry-run",
            ),
            ex(
                "Quiet them (asks you to type the name)",
                "qctl quiet workers --context shop",
            ),
        ],
        see_also: &["stop", "get workers"],
    },
    Entry {
        path: "quiet workers",
        examples: &[
            ex(
                "Which of shop's Sidekiq processes would be quieted",
                "qctl quiet workers --context shop --dry-run",
            ),
            ex(
                "The processes of one host, without a prompt",
                "qctl quiet workers 'web-1:*' --context shop --yes-i-typed=shop",
            ),
        ],
        see_also: &["stop workers", "get workers"],
    },
    Entry {
        path: "stop",
        examples: &[
            ex(
                "Which of shop's Sidekiq processes would be stopped",
                "qctl stop workers --context shop --dry-run",
            ),
            ex(
                "A rolling restart, context by context, 30s apart",
                "qctl stop workers -l team=shop --strategy rolling --pause 30s",
            ),
        ],
        see_also: &["quiet", "get workers"],
    },
    Entry {
        path: "stop workers",
        examples: &[
            ex(
                "Which of shop's Sidekiq processes would be stopped",
                "qctl stop workers --context shop --dry-run",
            ),
            ex(
                "A rolling restart, context by context and process by process",
                "qctl stop workers -l team=shop --strategy rolling --pause 30s --one-by-one",
            ),
        ],
        see_also: &["quiet workers", "get workers"],
    },
    Entry {
        path: "pause",
        examples: &[
            ex(
                "What pausing the queue low on mail-eu would do",
                "qctl pause low --context mail-eu --dry-run",
            ),
            ex(
                "Every queue, without a prompt (on RQ: rq suspend)",
                "qctl pause --all --context reports-eu --yes-i-typed=reports-eu",
            ),
        ],
        see_also: &["resume", "get queues"],
    },
    Entry {
        path: "resume",
        examples: &[
            ex(
                "What resuming the queue low on mail-eu would do",
                "qctl resume low --context mail-eu --dry-run",
            ),
            ex(
                "Every queue, without a prompt (on RQ: rq resume)",
                "qctl resume --all --context reports-eu --yes-i-typed=reports-eu",
            ),
        ],
        see_also: &["pause", "get queues"],
    },
    Entry {
        path: "config",
        examples: &[
            ex(
                "The contexts, the current one marked",
                "qctl config get-contexts",
            ),
            ex(
                "A context for the cluster entry stage, labelled",
                "qctl config set-context staging --cluster stage --label env=staging",
            ),
            ex(
                "The current context and what it refers to, secrets redacted",
                "qctl config view --minify",
            ),
        ],
        see_also: &["use-context", "get contexts"],
    },
    Entry {
        path: "config get-contexts",
        examples: &[
            ex(
                "The contexts, the current one marked",
                "qctl config get-contexts",
            ),
            ex(
                "With their cluster, labels and file",
                "qctl config get-contexts -o wide",
            ),
        ],
        see_also: &["get contexts"],
    },
    Entry {
        path: "config current-context",
        examples: &[
            ex(
                "The context a verb targets without --context, -l or -A",
                "qctl config current-context",
            ),
            ex(
                "As JSON, with where it comes from (QCTL_CONTEXT or the file)",
                "qctl config current-context -o json",
            ),
        ],
        see_also: &["current-context", "config use-context"],
    },
    Entry {
        path: "config use-context",
        examples: &[
            ex("Switch to staging", "qctl config use-context staging"),
            ex(
                "Back to the context before the last switch",
                "qctl config use-context -",
            ),
        ],
        see_also: &["use-context", "config current-context"],
    },
    Entry {
        path: "config set-context",
        examples: &[
            ex(
                "A new context for the cluster entry stage",
                "qctl config set-context staging --cluster stage --label env=staging",
            ),
            ex(
                "Protect prod-us: written only when named in --context",
                "qctl config set-context prod-us --protected",
            ),
            ex(
                "Remove the label canary, colour the context red",
                "qctl config set-context prod-us --label canary- --context-color red",
            ),
        ],
        see_also: &["config delete-context", "config view"],
    },
    Entry {
        path: "config delete-context",
        examples: &[ex(
            "Remove the context old-staging",
            "qctl config delete-context old-staging",
        )],
        see_also: &["config set-context", "config get-contexts"],
    },
    Entry {
        path: "config view",
        examples: &[
            ex(
                "The merged contexts file, secrets REDACTED",
                "qctl config view",
            ),
            ex(
                "Only the current context and what it refers to",
                "qctl config view --minify",
            ),
            ex("Secrets as written", "qctl config view --raw"),
        ],
        see_also: &["config validate", "config set-context"],
    },
    Entry {
        path: "config validate",
        examples: &[
            ex("Check the contexts file", "qctl config validate"),
            ex(
                "Check another file before installing it",
                "qctl --config ./new-config.yaml config validate",
            ),
        ],
        see_also: &["config view"],
    },
    Entry {
        path: "use-context",
        examples: &[
            ex("Switch to staging", "qctl use-context staging"),
            ex(
                "Back to the context before the last switch",
                "qctl use-context -",
            ),
            ex("The contexts, the current one marked", "qctl use-context"),
        ],
        see_also: &["current-context", "config use-context", "get contexts"],
    },
    Entry {
        path: "current-context",
        examples: &[
            ex(
                "The context a verb targets without --context, -l or -A",
                "qctl current-context",
            ),
            ex(
                "QCTL_CONTEXT wins over the file's current-context",
                "QCTL_CONTEXT=prod-us qctl current-context",
            ),
        ],
        see_also: &["use-context", "config current-context"],
    },
    Entry {
        path: "version",
        examples: &[
            ex("The version", "qctl version"),
            ex("As JSON", "qctl version -o json"),
        ],
        see_also: &[],
    },
    Entry {
        path: "bench",
        examples: &[
            ex(
                "The plan for 1000 synthetic jobs at 200/s on staging",
                "qctl bench --context staging --count 1000 --rate 200 --dry-run",
            ),
            ex(
                "Run it on the queue low, without a prompt",
                "qctl bench --context staging --count 1000 --rate 200 --queue low --yes-i-typed=staging",
            ),
        ],
        see_also: &["get clusters"],
    },
    Entry {
        path: "demo",
        examples: &[
            ex(
                "Start the servers, take the tour, then try qctl on them",
                "qctl demo",
            ),
            ex(
                "The tour only: remove the servers after it",
                "qctl demo --no-wait",
            ),
        ],
        see_also: &[],
    },
    Entry {
        path: "completion",
        examples: &[
            ex(
                "bash: completion in this shell (add it to ~/.bashrc)",
                "source <(qctl completion bash)",
            ),
            ex(
                "zsh: install the script in a directory on $fpath",
                "qctl completion zsh > ~/.zfunc/_qctl",
            ),
            ex(
                "fish: install the script where fish looks for it",
                "qctl completion fish > ~/.config/fish/completions/qctl.fish",
            ),
        ],
        see_also: &[],
    },
];

/// Global options that mean nothing to a verb: hidden from its help, its
/// man page and completion, but still accepted (scripts that pass them keep
/// working). (verb, the global options it does honour, by id.)
const GLOBALS_HONOURED: &[(&str, &[&str])] = &[
    // Its own servers and contexts file; only -q is read.
    ("demo", &["quiet"]),
    // Prints the version; -o json|yaml prints a document.
    ("version", &["output"]),
    // Prints a script; reads nothing.
    ("completion", &[]),
];

/// The heading of the global options in every verb's help.
pub(crate) const GLOBAL_HEADING: &str = "Global options";

/// The entry of a subcommand path (`"get clusters"`; `""` for qctl).
pub(crate) fn entry(path: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.path == path)
}

/// The clap command with the meaningless global options hidden, not yet
/// built: what the man pages start from.
pub(crate) fn base() -> clap::Command {
    let cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    // (`mut_subcommands` keeps their order, which completion offers.)
    cmd.mut_subcommands(|sub| {
        let Some((_, honoured)) = GLOBALS_HONOURED
            .iter()
            .find(|(verb, _)| *verb == sub.get_name())
        else {
            return sub;
        };
        // A subcommand's own copy of a global option is not replaced when
        // clap propagates the global ones at build time; it still parses
        // the same, and its value still reaches `GlobalArgs`.
        let hidden: Vec<clap::Arg> = globals
            .iter()
            .filter(|a| !honoured.contains(&a.get_id().as_str()))
            .map(|a| a.clone().hide(true))
            .collect();
        sub.args(hidden)
    })
}

/// The command qctl parses with: [`base`], each verb's examples after its
/// help.
pub(crate) fn command() -> clap::Command {
    let cmd = base();
    let header = *cmd.get_styles().get_header();
    decorate(cmd, "", &header)
}

fn decorate(
    cmd: clap::Command,
    path: &str,
    header: &clap::builder::styling::Style,
) -> clap::Command {
    let mut cmd = cmd;
    if let Some(entry) = entry(path) {
        let mut text = String::new();
        if let Some(before) = cmd.get_after_help() {
            let _ = write!(text, "{}\n\n", before.ansi());
        }
        if let Some(fields) = json_fields(path) {
            let _ = write!(
                text,
                "{}JSON fields{} (of each item of -o json; --sort-by and -o custom-columns take them):\n{}\n",
                header.render(),
                header.render_reset(),
                wrap_list(fields, 2, 96)
            );
        }
        let _ = writeln!(
            text,
            "{}Examples:{}",
            header.render(),
            header.render_reset()
        );
        text.push_str(&examples_text(entry.examples));
        cmd = cmd.after_help(clap::builder::StyledStr::from(text));
    }
    cmd.mut_subcommands(|sub| {
        let sub_path = if path.is_empty() {
            sub.get_name().to_string()
        } else {
            format!("{path} {}", sub.get_name())
        };
        decorate(sub, &sub_path, header)
    })
}

/// The top-level JSON fields of a list verb's items.
pub(crate) fn json_fields(path: &str) -> Option<&'static [&'static str]> {
    use crate::inspect::list::ListView;
    Some(match path {
        "get clusters" => <crate::inspect::clusters::ClustersView<'static> as ListView>::FIELDS,
        "get queues" => <crate::inspect::queues::QueuesView as ListView>::FIELDS,
        "get workers" => <crate::inspect::workers::WorkersView as ListView>::FIELDS,
        "get jobs" => <crate::inspect::jobs::JobsView as ListView>::FIELDS,
        "get backups" => <crate::inspect::backups::BackupsView as ListView>::FIELDS,
        "get contexts" => crate::commands::config::CONTEXT_FIELDS,
        _ => return None,
    })
}

/// `a, b, c` over lines of at most `width` columns, indented.
fn wrap_list(items: &[&str], indent: usize, width: usize) -> String {
    let mut out = String::new();
    let mut line = " ".repeat(indent);
    for (i, it) in items.iter().enumerate() {
        let piece = if i + 1 == items.len() {
            it.to_string()
        } else {
            format!("{it},")
        };
        if !line.trim().is_empty() && line.len() + 1 + piece.len() > width {
            out.push_str(line.trim_end());
            out.push('\n');
            line = " ".repeat(indent);
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(&piece);
    }
    out.push_str(line.trim_end());
    out.push('\n');
    out
}

/// The examples as `--help` shows them, kubectl's way: `  # what` above
/// `  qctl ...`, a blank line between two.
fn examples_text(examples: &[Example]) -> String {
    examples
        .iter()
        .map(|e| format!("  # {}\n  {}\n", e.what, e.line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A usage error for an unknown verb (`qctl gte`, `qctl get clustrs`),
/// with a did-you-mean; `None` for every other parse error, which clap
/// reports itself. `cmd` is the command the arguments were parsed with.
pub(crate) fn unknown_command(
    cmd: &clap::Command,
    args: &[std::ffi::OsString],
    err: &clap::Error,
) -> Option<crate::error::CliError> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    let Some(ContextValue::String(word)) = err.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    let (parent, path) = parent_of(cmd, args, word)?;
    let subs: Vec<&clap::Command> = parent
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .collect();
    if subs.is_empty() {
        return None;
    }
    // Aliases are candidates too (`get clustr` is one edit from `cluster`),
    // but the hint names the command itself.
    let candidates = subs.iter().flat_map(|s| {
        std::iter::once(s.get_name())
            .chain(s.get_visible_aliases())
            .map(move |n| (n, s.get_name()))
    });
    let pairs: Vec<(&str, &str)> = candidates.collect();
    let best = crate::output::did_you_mean(word, pairs.iter().map(|(n, _)| *n))
        .and_then(|n| pairs.iter().find(|(c, _)| *c == n).map(|(_, name)| *name));
    let e = crate::error::CliError::usage(format!("unknown command \"{word}\" for \"{path}\""));
    Some(match best {
        Some(name) => e.with_hint(format!("did you mean \"{name}\"?")),
        None => e.with_hint(format!("run '{path} --help' for the commands")),
    })
}

/// The command whose subcommand `word` was meant to be, and its path
/// (`qctl get`): the arguments walked the way clap reads them, skipping
/// options and their values.
fn parent_of<'a>(
    root: &'a clap::Command,
    args: &[std::ffi::OsString],
    word: &str,
) -> Option<(&'a clap::Command, String)> {
    let takes_value = |a: &clap::Arg| {
        a.get_num_args()
            .is_some_and(|n| n.takes_values() && n.min_values() > 0)
    };
    let mut cur = root;
    let mut path = root.get_name().to_string();
    let mut helping = false;
    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        let s = arg.to_str()?;
        if s == "--" {
            return None;
        }
        if let Some(long) = s.strip_prefix("--") {
            if !long.contains('=')
                && cur
                    .get_arguments()
                    .find(|a| {
                        a.get_long() == Some(long)
                            || a.get_all_aliases().is_some_and(|v| v.contains(&long))
                    })
                    .is_some_and(takes_value)
            {
                it.next();
            }
            continue;
        }
        if let Some(shorts) = s.strip_prefix('-').filter(|r| !r.is_empty()) {
            // A cluster (`-Aq`, `-oyaml`): the first option that takes a
            // value takes the rest, or the next argument when nothing is left.
            for (i, c) in shorts.char_indices() {
                if cur
                    .get_arguments()
                    .find(|a| a.get_short() == Some(c))
                    .is_some_and(takes_value)
                {
                    if i + c.len_utf8() == shorts.len() {
                        it.next();
                    }
                    break;
                }
            }
            continue;
        }
        if s == word {
            return Some((cur, path));
        }
        // `qctl help get clustrs` names the same commands as `qctl get clustrs`.
        if s == "help" && !helping {
            helping = true;
            continue;
        }
        cur = cur.find_subcommand(s)?;
        path.push(' ');
        path.push_str(cur.get_name());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Visible subcommands without examples yet: each is one line here
    /// until its entry is written.
    const NO_EXAMPLES_YET: &[&str] = &[];

    /// Every visible subcommand's path, `""` for qctl; clap's own `help`
    /// subcommands left out.
    fn visible_paths() -> Vec<String> {
        fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            out.push(path.to_string());
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                if sub.get_name() == "help" {
                    continue;
                }
                let p = if path.is_empty() {
                    sub.get_name().to_string()
                } else {
                    format!("{path} {}", sub.get_name())
                };
                walk(sub, &p, out);
            }
        }
        let mut cmd = command();
        cmd.build();
        let mut out = Vec::new();
        walk(&cmd, "", &mut out);
        out
    }

    #[test]
    fn every_entry_names_a_visible_subcommand_once() {
        let paths = visible_paths();
        let mut seen = std::collections::BTreeSet::new();
        for e in ENTRIES {
            assert!(
                paths.iter().any(|p| p == e.path),
                "examples for `qctl {}`, which is not a visible subcommand",
                e.path
            );
            assert!(seen.insert(e.path), "two entries for `qctl {}`", e.path);
            for related in e.see_also {
                assert!(
                    paths.iter().any(|p| p == related) && *related != e.path,
                    "`qctl {}` sees also `qctl {related}`, which is not another visible subcommand",
                    e.path
                );
            }
        }
        for p in NO_EXAMPLES_YET {
            assert!(
                paths.iter().any(|q| q == p),
                "NO_EXAMPLES_YET lists `qctl {p}`, which is not a visible subcommand"
            );
            assert!(
                entry(p).is_none(),
                "`qctl {p}` has examples now: take it off NO_EXAMPLES_YET"
            );
        }
    }

    #[test]
    fn every_visible_subcommand_has_examples() {
        for p in visible_paths() {
            if NO_EXAMPLES_YET.contains(&p.as_str()) {
                continue;
            }
            let e = entry(&p).unwrap_or_else(|| {
                panic!("`qctl {p}` has no examples: add an entry to ENTRIES in src/cli/help.rs")
            });
            assert!(
                (1..=3).contains(&e.examples.len()),
                "`qctl {p}`: 1 to 3 examples"
            );
        }
    }

    /// The words of an example's qctl command, the shell's way (quotes
    /// removed), from `qctl` up to a pipe, a redirection or `)`.
    fn qctl_words(line: &str) -> Vec<String> {
        let mut words = Vec::new();
        let mut word: Option<String> = None;
        let mut quote = None;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_default().push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_default();
                }
                (None, ' ') => words.extend(word.take()),
                (None, '|' | '>' | ')' | ';') => break,
                (None, '<') if chars.peek() == Some(&'(') => {
                    chars.next();
                    words.clear();
                    word = None;
                }
                (None, c) => word.get_or_insert_default().push(c),
            }
        }
        assert!(quote.is_none(), "unbalanced quotes: {line}");
        words.extend(word);
        let start = words
            .iter()
            .position(|w| w == "qctl")
            .unwrap_or_else(|| panic!("no qctl in: {line}"));
        words.split_off(start)
    }

    #[test]
    fn every_example_parses_as_its_verb() {
        for e in ENTRIES {
            for x in e.examples {
                let words = qctl_words(x.line);
                let matches = command()
                    .try_get_matches_from(&words)
                    .unwrap_or_else(|err| panic!("`{}` does not parse:\n{err}", x.line));
                let mut path = Vec::new();
                let mut m = &matches;
                while let Some((name, sub)) = m.subcommand() {
                    path.push(name);
                    m = sub;
                }
                let path = path.join(" ");
                assert!(
                    e.path.is_empty()
                        || path == e.path
                        || path.starts_with(&format!("{} ", e.path)),
                    "`{}` is listed under `qctl {}` but runs `qctl {path}`",
                    x.line,
                    e.path
                );
                assert!(
                    x.line.len() <= 90 && !x.what.ends_with('.'),
                    "{}: keep examples short, the phrase without a full stop",
                    x.line
                );
            }
        }
    }

    #[test]
    fn help_ends_with_the_examples() {
        let mut cmd = command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("purge-dlq")
            .unwrap()
            .render_help()
            .to_string();
        let tail = help.split("Examples:\n").nth(1).expect(&help);
        assert!(tail.starts_with("  # What purging"), "{tail}");
        assert!(
            tail.contains("\n  qctl purge-dlq --context prod-eu --dry-run\n"),
            "{tail}"
        );
        // The signal verbs keep their own text before the examples.
        let help = cmd
            .find_subcommand_mut("stop")
            .unwrap()
            .find_subcommand_mut("workers")
            .unwrap()
            .render_long_help()
            .to_string();
        let names = help.find("NAME matches").expect(&help);
        assert!(names < help.find("Examples:").unwrap(), "{help}");
    }

    #[test]
    fn hidden_globals_still_parse() {
        let m = command()
            .try_get_matches_from(["qctl", "demo", "--context", "x", "-A", "--no-headers"])
            .unwrap();
        let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&m).unwrap();
        assert_eq!(cli.global.context, ["x"]);
        assert!(cli.global.all_contexts && cli.global.no_headers);
        let mut cmd = command();
        cmd.build();
        let help = cmd
            .find_subcommand_mut("demo")
            .unwrap()
            .render_help()
            .to_string();
        assert!(
            !help.contains("--context") && help.contains("--quiet"),
            "{help}"
        );
        for (verb, honoured) in GLOBALS_HONOURED {
            assert!(cmd.find_subcommand(verb).is_some(), "no verb {verb}");
            for id in *honoured {
                assert!(
                    cmd.get_arguments()
                        .any(|a| a.get_id() == *id && a.is_global_set()),
                    "{verb}: no global option {id}"
                );
            }
        }
    }

    fn unknown(args: &[&str]) -> Option<(String, Option<String>)> {
        let mut cmd = command();
        let args: Vec<std::ffi::OsString> = args.iter().map(Into::into).collect();
        let err = cmd.try_get_matches_from_mut(&args).unwrap_err();
        unknown_command(&cmd, &args, &err).map(|e| (e.message, e.hint))
    }

    #[test]
    fn unknown_verbs_get_a_did_you_mean() {
        let (msg, hint) = unknown(&["qctl", "gte"]).unwrap();
        assert_eq!(msg, "unknown command \"gte\" for \"qctl\"");
        assert_eq!(hint.as_deref(), Some("did you mean \"get\"?"));
        let (msg, hint) = unknown(&["qctl", "--context", "get", "get", "clustrs"]).unwrap();
        assert_eq!(msg, "unknown command \"clustrs\" for \"qctl get\"");
        assert_eq!(hint.as_deref(), Some("did you mean \"clusters\"?"));
        // An alias is matched, the command named.
        let (_, hint) = unknown(&["qctl", "-o", "json", "get", "queeu"]).unwrap();
        assert_eq!(hint.as_deref(), Some("did you mean \"queues\"?"));
        let (msg, hint) = unknown(&["qctl", "-Aoyaml", "config", "use-contxt"]).unwrap();
        assert_eq!(msg, "unknown command \"use-contxt\" for \"qctl config\"");
        assert_eq!(hint.as_deref(), Some("did you mean \"use-context\"?"));
        let (msg, hint) = unknown(&["qctl", "help", "get", "clustrs"]).unwrap();
        assert_eq!(msg, "unknown command \"clustrs\" for \"qctl get\"");
        assert_eq!(hint.as_deref(), Some("did you mean \"clusters\"?"));
        let (_, hint) = unknown(&["qctl", "frobnicate"]).unwrap();
        assert_eq!(hint.as_deref(), Some("run 'qctl --help' for the commands"));
        // Other errors are clap's.
        assert!(unknown(&["qctl", "get", "clusters", "--frob"]).is_none());
        assert!(unknown(&["qctl", "get", "backups", "extra"]).is_none());
    }
}
