//! Shell completion: the registration scripts, and the names they complete.
//!
//! A registration script (`qctl completion bash`, the same text as
//! `COMPLETE=bash qctl`) makes the shell run `COMPLETE=bash qctl -- qctl get
//! ...` on every TAB. [`from_env`], the first thing `run()` does, answers
//! that with clap_complete's engine, which walks the clap command and calls
//! the completers below for the argument under the cursor.
//!
//! The completers read the contexts file the way qctl does (`--config PATH`
//! when it is on the line being completed, else `QCTL_CONFIG`, else the
//! default path), but leniently and quietly: a file that is missing or does
//! not parse gives no candidates and no message, a file whose references do
//! not check out still gives its names. They never connect to Redis.

use crate::cli::Shell;
use crate::contexts::{self, COLORS, ConfigLocation, QueueSchema};
use crate::error::ExitCode;
use crate::systems::{QueueRole, System};
use clap_complete::engine::CompletionCandidate;
use clap_complete::env::{CompleteEnv, Shells};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// The environment variable that turns a run of qctl into a completion request.
pub(crate) const VAR: &str = "COMPLETE";
/// The command the scripts complete, and the one they call: from PATH, never
/// an absolute path, so a script is the same on every machine.
pub(crate) const BIN: &str = "qctl";

/// Answers a completion request (`COMPLETE=SHELL qctl ...`) and returns its
/// exit code; `None` when this is an ordinary run. Must run before anything
/// is printed to stdout.
pub(crate) fn from_env() -> Option<ExitCode> {
    let value = std::env::var_os(VAR).filter(|v| !v.is_empty() && v != "0")?;
    // The value may be a path, as in `COMPLETE=$SHELL` (clap_complete takes
    // the file stem). An unknown shell is a person at a prompt: say so.
    let stem = Path::new(&value)
        .file_stem()
        .unwrap_or(value.as_os_str())
        .to_string_lossy()
        .into_owned();
    let shells = Shells::builtins();
    let Some(shell) = shells
        .completer(&stem)
        .and_then(|c| <Shell as clap::ValueEnum>::from_str(c.name(), false).ok())
    else {
        eprintln!("error: {VAR}={stem}: not a shell qctl completes for");
        eprintln!("  hint: {VAR} names one of bash, zsh, fish, powershell, elvish (or unset it)");
        return Some(ExitCode::Usage);
    };
    // No words after `--`: the shell wants the registration script. Ours is
    // clap_complete's, plus the zsh autoload fix (see `registration`), so
    // `COMPLETE=zsh qctl` and `qctl completion zsh` print the same.
    let args: Vec<OsString> = std::env::args_os().collect();
    let registering = match args.iter().skip(1).position(|a| a == "--") {
        Some(i) => i + 2 == args.len(),
        None => true,
    };
    if registering {
        let written = registration(shell).and_then(|script| {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(&script)?;
            out.flush()
        });
        return Some(match written {
            Ok(()) => ExitCode::Ok,
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok,
            Err(e) => {
                eprintln!("error: cannot write the completion script: {e}");
                ExitCode::Failure
            }
        });
    }
    let current_dir = std::env::current_dir().ok();
    let env = CompleteEnv::with_factory(completion_command)
        .var(VAR)
        .bin(BIN)
        .completer(BIN);
    match env.try_complete(args, current_dir.as_deref()) {
        Ok(true) => Some(ExitCode::Ok),
        Ok(false) => None,
        // A shell mid-completion: a message would land in the middle of
        // the user's command line. The scripts treat a failure as "no
        // candidates".
        Err(_) => Some(ExitCode::Failure),
    }
}

/// The command line as completion sees it: every alias is hidden, so that a
/// TAB offers the documented names (`get clusters`, not `get cluster`),
/// while a line that uses an alias (`get cluster --con<TAB>`) still
/// completes. (clap_complete offers one name per subcommand, and with
/// visible aliases that was the alias, which sorts first.)
fn completion_command() -> clap::Command {
    fn hide_aliases(cmd: clap::Command) -> clap::Command {
        // clap takes `&'static str` names; a completion run is one short
        // process, and these are a few short words.
        let aliases: Vec<&'static str> = cmd
            .get_all_aliases()
            .map(|a| &*String::from(a).leak())
            .collect();
        cmd.visible_alias(None)
            .aliases(aliases)
            .mut_subcommands(hide_aliases)
    }
    hide_aliases(crate::cli::help::command())
}

/// The name clap_complete knows the shell by.
pub(crate) fn shell_name(shell: Shell) -> &'static str {
    match shell {
        Shell::Bash => "bash",
        Shell::Zsh => "zsh",
        Shell::Fish => "fish",
        Shell::Powershell => "powershell",
        Shell::Elvish => "elvish",
    }
}

/// The registration script for `shell`, printed by both `qctl completion
/// SHELL` and `COMPLETE=SHELL qctl`: clap_complete's, for the command `qctl`
/// found on PATH.
///
/// For zsh, one line is added. clap_complete's script is written to be
/// sourced; installed as `_qctl` in a directory on `$fpath`, zsh runs the
/// file as the function `_qctl` on the first TAB, which only registers the
/// real completer, so that first TAB offered nothing. The added line runs
/// the completer in that case, and does nothing when the file is sourced.
pub(crate) fn registration(shell: Shell) -> std::io::Result<Vec<u8>> {
    let name = shell_name(shell);
    let shells = Shells::builtins();
    let completer = shells
        .completer(name)
        .ok_or_else(|| std::io::Error::other(format!("clap_complete knows no shell `{name}`")))?;
    let cmd = crate::cli::help::command();
    let mut buf = Vec::new();
    completer.write_registration(VAR, cmd.get_name(), BIN, BIN, &mut buf)?;
    if shell == Shell::Zsh {
        let function = format!(
            "_clap_dynamic_completer_{}",
            cmd.get_name().replace('-', "_")
        );
        buf.extend_from_slice(
            format!(
                "# Autoloaded from $fpath as _{BIN}: complete on this first call too.\n\
                 [[ ${{funcstack[1]-}} = _{BIN} ]] && {function} \"$@\"\n"
            )
            .as_bytes(),
        );
    }
    Ok(buf)
}

// ---------------------------------------------------------------------------
// What the completers know: the contexts files, read leniently.

/// One context, as far as completion cares.
#[derive(Debug, Clone)]
struct KnownContext {
    name: String,
    cluster: String,
    schema: String,
    labels: BTreeMap<String, String>,
    enabled: bool,
}

/// The names in the contexts files, merged first-wins like `contexts::load`.
#[derive(Debug, Default)]
struct Known {
    current: Option<String>,
    contexts: Vec<KnownContext>,
    clusters: Vec<String>,
    users: Vec<String>,
    schemas: Vec<QueueSchema>,
}

impl Known {
    /// Reads each file that exists and parses; skips the others silently.
    fn read(paths: &[PathBuf]) -> Known {
        let sources: Vec<contexts::SourceFile> = paths
            .iter()
            .filter_map(|path| {
                let text = crate::contexts::read_bounded(path)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())?;
                Some(contexts::SourceFile {
                    path: path.clone(),
                    text,
                })
            })
            .collect();
        // Files that check out: what qctl itself would use (kept between
        // runs, so a TAB does not parse an unchanged file again); else
        // whatever each file that parses names.
        let mut known = match contexts::checked(&sources, false) {
            Ok(config) => Known::of(&config),
            _ => {
                let mut known = Known::default();
                for s in &sources {
                    known.add_text(&s.path, &s.text);
                }
                known
            }
        };
        if !known.schemas.iter().any(|s| s.name == "default") {
            known.schemas.insert(0, QueueSchema::builtin_default());
        }
        known
    }

    fn of(config: &contexts::Config) -> Known {
        Known {
            current: config.current_context.clone(),
            contexts: config
                .contexts
                .iter()
                .map(|c| KnownContext {
                    name: c.name.clone(),
                    cluster: c.cluster.clone(),
                    schema: c.schema.clone(),
                    labels: c.labels.clone(),
                    enabled: c.enabled,
                })
                .collect(),
            clusters: config.clusters.iter().map(|c| c.name.clone()).collect(),
            users: config.users.iter().map(|u| u.name.clone()).collect(),
            schemas: config.schemas.clone(),
        }
    }

    fn add_text(&mut self, path: &Path, text: &str) {
        let Ok(raw) = contexts::parse_file(path, text) else {
            return;
        };
        if self.current.is_none()
            && let Some(cc) = raw.current_context.as_ref().filter(|c| !c.value.is_empty())
        {
            self.current = Some(cc.value.clone());
        }
        for c in &raw.clusters {
            push_new(&mut self.clusters, &c.value.name);
        }
        for u in &raw.users {
            push_new(&mut self.users, &u.value.name);
        }
        for s in &raw.queue_schemas {
            if !self.schemas.iter().any(|k| k.name == s.value.name)
                && let Ok(schema) = contexts::parse_schema(path, s)
            {
                self.schemas.push(schema);
            }
        }
        for c in &raw.contexts {
            let c = &c.value;
            if self.contexts.iter().any(|k| k.name == c.name) {
                continue;
            }
            self.contexts.push(KnownContext {
                name: c.name.clone(),
                cluster: c.cluster.clone(),
                schema: c.schema.clone().unwrap_or_else(|| "default".into()),
                labels: c.labels.clone(),
                enabled: c.enabled.unwrap_or(true),
            });
        }
    }

    fn context(&self, name: &str) -> Option<&KnownContext> {
        self.contexts.iter().find(|c| c.name == name)
    }

    fn schema(&self, name: &str) -> Option<&QueueSchema> {
        self.schemas.iter().find(|s| s.name == name)
    }
}

fn push_new(v: &mut Vec<String>, name: &str) {
    if !v.iter().any(|n| n == name) {
        v.push(name.to_string());
    }
}

// ---------------------------------------------------------------------------
// The command line being completed.

/// What the words of the line being completed say about where to look.
#[derive(Debug, Default, PartialEq)]
struct Line {
    /// `--config PATH`.
    config: Option<PathBuf>,
    /// `--context` values, comma lists split.
    contexts: Vec<String>,
    /// `replicate --from`.
    from: Option<String>,
    /// `-A` or `-l`: the selection may be any context.
    any: bool,
}

impl Line {
    /// The words of a completion request: what follows the first `--` in
    /// qctl's own arguments (`qctl -- qctl get ...`), less the command name.
    fn from_args() -> Line {
        let args: Vec<OsString> = std::env::args_os().collect();
        let words: Vec<String> = match args.iter().position(|a| a == "--") {
            Some(i) => args[i + 1..]
                .iter()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            None => Vec::new(),
        };
        Line::parse(&words)
    }

    fn parse(words: &[String]) -> Line {
        let mut line = Line::default();
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            if w == "--" {
                break;
            }
            // `--flag value` or `--flag=value`
            let mut value_of = |flag: &str| -> Option<String> {
                if w == flag {
                    i += 1;
                    words.get(i).cloned()
                } else {
                    w.strip_prefix(flag)
                        .and_then(|r| r.strip_prefix('='))
                        .map(str::to_string)
                }
            };
            if let Some(v) = value_of("--config") {
                line.config = Some(contexts::expand_tilde(&v));
            } else if let Some(v) = value_of("--context") {
                line.contexts
                    .extend(v.split(',').filter(|s| !s.is_empty()).map(str::to_string));
            } else if let Some(v) = value_of("--from") {
                line.from = Some(v);
            } else if w == "--all-contexts" || w == "--selector" || w.starts_with("--selector=") {
                line.any = true;
            } else if let Some(flags) = w.strip_prefix('-').filter(|f| !f.starts_with('-')) {
                // A cluster of short flags: -A, -qA, -l EXPR, -lEXPR; -o
                // and -n take a value and end the cluster.
                for c in flags.chars() {
                    match c {
                        'A' | 'l' => {
                            line.any = true;
                            break;
                        }
                        'o' | 'n' => break,
                        _ => {}
                    }
                }
            }
            i += 1;
        }
        line
    }

    /// The files to read, in the order qctl reads them.
    fn config_paths(&self) -> Vec<PathBuf> {
        match contexts::locate(self.config.as_deref()) {
            ConfigLocation::Flag(p) | ConfigLocation::Default(p) => vec![p],
            ConfigLocation::Env(ps) => ps,
        }
    }
}

// ---------------------------------------------------------------------------
// The completers clap_complete calls (attached in `cli`). Each reads the
// files afresh: one TAB, one read.

fn known_and_line() -> (Known, Line) {
    let line = Line::from_args();
    let known = Known::read(&line.config_paths());
    (known, line)
}

fn utf8(current: &OsStr) -> Option<&str> {
    current.to_str()
}

/// One context name: `--from`, `--to` (clap splits its comma list), `compare`'s
/// arguments, `config use-context/set-context/delete-context`.
pub(crate) fn context_name(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = utf8(current) else {
        return Vec::new();
    };
    let (known, _) = known_and_line();
    context_candidates(&known, "", current)
}

/// `--context`: a comma-separated list (globs allowed); completes the name
/// after the last comma.
pub(crate) fn context_list(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = utf8(current) else {
        return Vec::new();
    };
    let (known, _) = known_and_line();
    let (done, part) = match current.rfind(',') {
        Some(i) => current.split_at(i + 1),
        None => ("", current),
    };
    context_candidates(&known, done, part)
}

fn context_candidates(known: &Known, prefix: &str, part: &str) -> Vec<CompletionCandidate> {
    known
        .contexts
        .iter()
        .filter(|c| c.name.starts_with(part))
        .map(|c| {
            CompletionCandidate::new(format!("{prefix}{}", c.name))
                .help(Some(context_help(c).into()))
        })
        .collect()
}

/// `cluster=prod-us-east env=prod region=us-east-1`, and `(disabled)`.
fn context_help(c: &KnownContext) -> String {
    let mut help = format!("cluster={}", c.cluster);
    for (k, v) in &c.labels {
        help.push_str(&format!(" {k}={v}"));
    }
    if !c.enabled {
        help.push_str(" (disabled)");
    }
    help
}

/// `set-context --cluster`.
pub(crate) fn cluster_name(current: &OsStr) -> Vec<CompletionCandidate> {
    names(current, |k| &k.clusters)
}

/// `set-context --user`.
pub(crate) fn user_name(current: &OsStr) -> Vec<CompletionCandidate> {
    names(current, |k| &k.users)
}

/// `set-context --schema`.
pub(crate) fn schema_name(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = utf8(current) else {
        return Vec::new();
    };
    let (known, _) = known_and_line();
    known
        .schemas
        .iter()
        .filter(|s| s.name.starts_with(current))
        .map(|s| {
            let queues: Vec<String> = System::for_schema(&s.system)
                .work_queues()
                .into_iter()
                .map(|q| q.name)
                .collect();
            CompletionCandidate::new(s.name.clone()).help(Some(
                format!("{}; queues: {}", s.kind().as_str(), queues.join(", ")).into(),
            ))
        })
        .collect()
}

fn names(current: &OsStr, pick: impl Fn(&Known) -> &Vec<String>) -> Vec<CompletionCandidate> {
    let Some(current) = utf8(current) else {
        return Vec::new();
    };
    let (known, _) = known_and_line();
    pick(&known)
        .iter()
        .filter(|n| n.starts_with(current))
        .map(CompletionCandidate::new)
        .collect()
}

/// `-o`: the formats, and the start of `custom-columns=`.
pub(crate) fn output_formats() -> Vec<CompletionCandidate> {
    [
        ("table", "the default table"),
        ("wide", "the table with more columns"),
        ("json", "the JSON document"),
        ("yaml", "the document as YAML"),
        ("name", "one name per line"),
        ("custom-columns=", "HEADER:FIELD,... over the JSON fields"),
    ]
    .iter()
    .map(|(v, h)| CompletionCandidate::new(*v).help(Some((*h).into())))
    .collect()
}

/// `set-context --context-color`.
pub(crate) fn colors() -> Vec<CompletionCandidate> {
    COLORS
        .iter()
        .map(|c| CompletionCandidate::new(*c))
        .collect()
}

/// `replicate --config-param`: the allow-list, and what is aligned only when named.
pub(crate) fn config_params() -> Vec<CompletionCandidate> {
    use crate::params::{ALLOW_LIST, NAMED_ONLY};
    ALLOW_LIST
        .iter()
        .map(|p| CompletionCandidate::new(*p))
        .chain(
            NAMED_ONLY
                .iter()
                .map(|p| CompletionCandidate::new(*p).help(Some("only when named here".into()))),
        )
        .collect()
}

/// Which queues a completer offers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Queues {
    /// Work queues (`high`, `low`).
    Work,
    /// Work queues, `completed`, `dead-letter` (and `dlq`, offered when typed).
    All,
}

/// `requeue --to`: a work queue of the selected contexts' schemas.
pub(crate) fn work_queues(current: &OsStr) -> Vec<CompletionCandidate> {
    queue_completer(current, Queues::Work, false)
}

/// `replicate --queue`: a work queue of the `--from` context's schema.
pub(crate) fn source_work_queues(current: &OsStr) -> Vec<CompletionCandidate> {
    queue_completer(current, Queues::Work, true)
}

/// `get jobs QUEUE`: any queue of the selected contexts' schemas.
pub(crate) fn any_queues(current: &OsStr) -> Vec<CompletionCandidate> {
    queue_completer(current, Queues::All, false)
}

fn queue_completer(current: &OsStr, which: Queues, from_source: bool) -> Vec<CompletionCandidate> {
    let Some(current) = utf8(current) else {
        return Vec::new();
    };
    let (known, line) = known_and_line();
    let env = std::env::var("QCTL_CONTEXT").ok();
    let schemas = scope(&known, &line, env.as_deref(), from_source);
    let mut out = queue_candidates(&schemas, which, current);
    // Systems that keep their queue names in Redis (Sidekiq's SET queues)
    // are asked briefly.
    if schemas
        .iter()
        .any(|s| System::for_schema(&s.system).discovers_queues())
    {
        let (queues, _) = live_names(&line, env.as_deref(), from_source);
        for (q, kind) in queues {
            if q.starts_with(current) && !out.iter().any(|c| c.get_value() == q.as_str()) {
                out.push(CompletionCandidate::new(q).help(Some(format!("a {kind} queue").into())));
            }
        }
    }
    out
}

/// Worker process identities (of systems whose workers take signals) of
/// the line's contexts (for `quiet`/`stop
/// workers NAME`), read from Redis within a short budget.
pub(crate) fn worker_names(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(current) = utf8(current) else {
        return Vec::new();
    };
    let line = Line::from_args();
    let env = std::env::var("QCTL_CONTEXT").ok();
    let (_, identities) = live_names(&line, env.as_deref(), false);
    identities
        .into_iter()
        .filter(|(id, _)| id.starts_with(current))
        .map(|(id, ctx)| {
            CompletionCandidate::new(id).help(Some(format!("a worker process on {ctx}").into()))
        })
        .collect()
}

/// Queue names found in Redis, each with its system's kind; and live
/// worker identities, each with its context.
type LiveNames = (Vec<(String, &'static str)>, Vec<(String, String)>);

/// What completion may spend on Redis per TAB, all contexts together.
const LIVE_BUDGET: std::time::Duration = std::time::Duration::from_millis(400);

/// Queue names found in Redis (with their system's kind) and the
/// signallable (identity, context) of the contexts the line will run on, read concurrently within [`LIVE_BUDGET`]; whatever does not
/// answer in time (or any error) is left out, silently.
fn live_names(line: &Line, env: Option<&str>, from_source: bool) -> LiveNames {
    let Ok(config) = contexts::load(line.config.as_deref()) else {
        return Default::default();
    };
    let names: Vec<String> = if from_source {
        line.from.iter().cloned().collect()
    } else if !line.contexts.is_empty() {
        line.contexts.clone()
    } else if let Some(e) = env.filter(|e| !e.trim().is_empty()) {
        e.split(',').map(|s| s.trim().to_string()).collect()
    } else if line.any {
        config.contexts.iter().map(|c| c.name.clone()).collect()
    } else {
        config.current_context.iter().cloned().collect()
    };
    let targets: Vec<(String, crate::connect::Endpoint, System)> = names
        .iter()
        .filter_map(|n| {
            let ctx = config.context(n)?;
            let schema = config.schema(&ctx.schema)?;
            let system = System::for_schema(&schema.system);
            let signals = system.unsupported(crate::systems::Verb::Quiet).is_none()
                || system.unsupported(crate::systems::Verb::Stop).is_none();
            if !system.discovers_queues() && !signals {
                return None;
            }
            let ep = crate::connect::Endpoint::resolve(&config, ctx).ok()?;
            Some((n.clone(), ep, system))
        })
        .collect();
    if targets.is_empty() {
        return Default::default();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Default::default();
    };
    rt.block_on(async {
        let reads = targets.iter().map(|(name, ep, system)| async move {
            let conn = crate::connect::Conn::open(ep, LIVE_BUDGET, LIVE_BUDGET, false)
                .await
                .ok()?;
            let queues: Vec<(String, &'static str)> = if system.discovers_queues() {
                let found = system.found_queues(&conn).await.unwrap_or_default();
                found.into_iter().map(|q| (q, system.kind())).collect()
            } else {
                Vec::new()
            };
            let workers = system.signal_candidates(&conn).await.unwrap_or_default();
            let ids: Vec<(String, String)> = workers
                .into_iter()
                .filter(crate::systems::signals::is_live)
                .map(|w| (w.worker, name.clone()))
                .collect();
            Some((queues, ids))
        });
        let all = tokio::time::timeout(LIVE_BUDGET, futures_util::future::join_all(reads))
            .await
            .unwrap_or_default();
        let mut queues: Vec<(String, &'static str)> = Vec::new();
        let mut ids = Vec::new();
        for (q, i) in all.into_iter().flatten() {
            for (name, kind) in q {
                if !queues.iter().any(|(n, _)| *n == name) {
                    queues.push((name, kind));
                }
            }
            ids.extend(i);
        }
        (queues, ids)
    })
}

/// The schemas of the contexts the command will run on, as far as the line
/// tells: `--from` for replicate; else `--context` (names and globs), else
/// `QCTL_CONTEXT`, else `current-context`. When that says nothing usable (or
/// with `-A`/`-l`), the schemas of every context.
fn scope<'k>(
    known: &'k Known,
    line: &Line,
    env: Option<&str>,
    from_source: bool,
) -> Vec<&'k QueueSchema> {
    let mut picked: Vec<&KnownContext> = Vec::new();
    if from_source {
        picked.extend(line.from.as_deref().and_then(|f| known.context(f)));
    } else if !line.any {
        let named: Vec<String> = if !line.contexts.is_empty() {
            line.contexts.clone()
        } else if let Some(env) = env.filter(|e| !e.trim().is_empty()) {
            env.split(',').map(|s| s.trim().to_string()).collect()
        } else {
            known.current.iter().cloned().collect()
        };
        for name in &named {
            if let Some(c) = known.context(name) {
                picked.push(c);
            } else if let Ok(pat) = glob::Pattern::new(name) {
                picked.extend(
                    known
                        .contexts
                        .iter()
                        .filter(|c| c.enabled && pat.matches(&c.name)),
                );
            }
        }
    }
    if picked.is_empty() {
        picked = known.contexts.iter().collect();
    }
    let mut schemas: Vec<&QueueSchema> = Vec::new();
    for c in picked {
        if let Some(s) = known.schema(&c.schema)
            && !schemas.iter().any(|k| k.name == s.name)
        {
            schemas.push(s);
        }
    }
    if schemas.is_empty() {
        schemas.extend(known.schema("default"));
    }
    schemas
}

fn queue_candidates(
    schemas: &[&QueueSchema],
    which: Queues,
    current: &str,
) -> Vec<CompletionCandidate> {
    // name -> the keys it stands for, in first-seen order.
    let mut queues: Vec<(String, Vec<String>)> = Vec::new();
    for schema in schemas {
        for q in System::for_schema(&schema.system).queues() {
            if which == Queues::Work && q.role != QueueRole::Work {
                continue;
            }
            match queues.iter_mut().find(|(n, _)| *n == q.name) {
                Some((_, keys)) => push_new(keys, &q.key),
                None => queues.push((q.name, vec![q.key])),
            }
        }
    }
    let mut out: Vec<CompletionCandidate> = queues
        .into_iter()
        .filter(|(n, _)| n.starts_with(current))
        .map(|(name, keys)| {
            let help = if keys.len() == 1 {
                keys[0].clone()
            } else {
                format!("{} keys, one per schema", keys.len())
            };
            CompletionCandidate::new(name).help(Some(help.into()))
        })
        .collect();
    if which == Queues::All && "dlq".starts_with(current) {
        // An alias: shown only when nothing else matches (`dl<TAB>`).
        out.push(
            CompletionCandidate::new("dlq")
                .help(Some("the dead-letter queue".into()))
                .hide(true),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
apiVersion: qctl/v1
current-context: staging
clusters:
  - { name: c-east, server: redis://east:6379 }
  - { name: c-stage, server: redis://stage:6379 }
users:
  - { name: ops }
queue-schemas:
  - name: tagged
    queues: { urgent: \"{jq}:urgent\", high: \"{jq}:high\", low: \"{jq}:low\" }
contexts:
  - { name: prod-a, cluster: c-east, labels: { env: prod }, schema: tagged }
  - { name: prod-b, cluster: c-east, enabled: false }
  - { name: staging, cluster: c-stage }
";

    fn known() -> Known {
        let mut k = Known::default();
        k.add_text(Path::new("test.yaml"), FILE);
        k.schemas.insert(0, QueueSchema::builtin_default());
        k
    }

    fn values(c: &[CompletionCandidate]) -> Vec<String> {
        c.iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn contexts_complete_by_prefix_with_help() {
        let k = known();
        let c = context_candidates(&k, "", "pr");
        assert_eq!(values(&c), ["prod-a", "prod-b"]);
        assert_eq!(
            c[0].get_help().unwrap().to_string(),
            "cluster=c-east env=prod"
        );
        assert_eq!(
            c[1].get_help().unwrap().to_string(),
            "cluster=c-east (disabled)"
        );
        assert_eq!(
            values(&context_candidates(&k, "staging,", "prod-")),
            ["staging,prod-a", "staging,prod-b"]
        );
        assert!(context_candidates(&k, "", "zzz").is_empty());
    }

    #[test]
    fn a_bad_file_gives_nothing_and_says_nothing() {
        let mut k = Known::default();
        k.add_text(
            Path::new("x.yaml"),
            "apiVersion: qctl/v1\ncontexts: [ {name: a, protcted: true} ]\n",
        );
        k.add_text(Path::new("y.yaml"), ": : :\n");
        k.add_text(Path::new("z.yaml"), "");
        assert!(k.contexts.is_empty());
        assert!(
            Known::read(&[PathBuf::from("/nonexistent/qctl/config.yaml")])
                .contexts
                .is_empty()
        );
    }

    #[test]
    fn a_dangling_reference_still_gives_names() {
        let mut k = Known::default();
        k.add_text(
            Path::new("x.yaml"),
            "apiVersion: qctl/v1\ncontexts:\n  - { name: lonely, cluster: nowhere }\n",
        );
        assert_eq!(k.contexts[0].name, "lonely");
    }

    #[test]
    fn the_line_is_read_for_config_contexts_and_from() {
        let l = Line::parse(&words(
            "get jobs --config /tmp/q.yaml --context prod-a,staging h",
        ));
        assert_eq!(l.config, Some(PathBuf::from("/tmp/q.yaml")));
        assert_eq!(l.contexts, ["prod-a", "staging"]);
        let l = Line::parse(&words("replicate --from=prod-a --to staging --context=x"));
        assert_eq!(l.from.as_deref(), Some("prod-a"));
        assert_eq!(l.contexts, ["x"]);
        assert!(Line::parse(&words("get jobs -qA")).any);
        assert!(Line::parse(&words("get jobs -l env=prod")).any);
        assert!(!Line::parse(&words("get jobs -o json")).any);
        assert!(!Line::parse(&words("get jobs -- -A")).any);
        assert_eq!(Line::parse(&words("--config")).config, None);
    }

    #[test]
    fn queues_follow_the_selected_contexts() {
        let k = known();
        let names = |line: &str, env: Option<&str>, src: bool, which: Queues| {
            let l = Line::parse(&words(line));
            values(&queue_candidates(&scope(&k, &l, env, src), which, ""))
        };
        // current-context staging: the default schema.
        assert_eq!(
            names("get jobs", None, false, Queues::Work),
            ["high", "low"]
        );
        assert_eq!(
            names("get jobs", None, false, Queues::All),
            ["high", "low", "completed", "dead-letter", "dlq"]
        );
        assert_eq!(
            names("requeue --context prod-a", None, false, Queues::Work),
            ["urgent", "high", "low"]
        );
        assert_eq!(
            names("requeue", Some("prod-*"), false, Queues::Work),
            ["urgent", "high", "low"]
        );
        assert_eq!(
            names("replicate --from prod-a", None, true, Queues::Work),
            ["urgent", "high", "low"]
        );
        // an unknown --from: every context's schemas.
        assert_eq!(
            names("replicate --from nope", None, true, Queues::Work),
            ["urgent", "high", "low"]
        );
        let c = queue_candidates(
            &scope(&k, &Line::parse(&words("-A")), None, false),
            Queues::Work,
            "hi",
        );
        assert_eq!(values(&c), ["high"]);
        assert_eq!(
            c[0].get_help().unwrap().to_string(),
            "2 keys, one per schema"
        );
    }

    #[test]
    fn registration_calls_qctl_from_path() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::Powershell,
            Shell::Elvish,
        ] {
            let text = String::from_utf8(registration(shell).unwrap()).unwrap();
            assert!(text.contains("COMPLETE"), "{shell:?}");
            assert!(!text.contains("/qctl"), "{shell:?}: {text}");
        }
    }
}
