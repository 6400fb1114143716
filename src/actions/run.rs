//! The gate, once for every write verb (SPEC section 6): select, apply
//! policy, measure every target concurrently (the plan, on stderr), stop
//! there on `--dry-run`, ask for the typed target names (or check
//! `--yes-i-typed`), then write target by target as the strategy says,
//! appending one audit line per target, and print the `ActionResult`.
//!
//! `--timeout` bounds each round trip here, not a target's whole run: a
//! million-job requeue is many short steps, each bounded.

use super::result::{ActionResult, ResultItem, Status};
use super::{audit, gate, strategy};
use crate::cli::Strategy;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Outcome, Result};
use crate::fanout::fan_out;
use crate::inspect::read::{ConnSettings, ReadTarget, runtime, targets};
use crate::output::Styled;
use crate::settings::Settings;
use crate::settings::WriteSettings;
use indexmap::IndexMap;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How one target's plan reads in the pre-flight table.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanView {
    /// Jobs it would change.
    pub(crate) count: u64,
    /// What would happen, in a few words.
    pub(crate) detail: String,
    /// Shown under the plan, prefixed with the context.
    pub(crate) warnings: Vec<String>,
    /// Left out of the plan's total (replicate --move's source: its jobs
    /// are the ones the targets gain).
    pub(crate) not_in_total: bool,
}

/// What a write did on one target.
#[derive(Debug, Clone, Default)]
pub(crate) struct Applied {
    pub(crate) counts: Vec<(&'static str, u64)>,
    pub(crate) backup_key: Option<String>,
    /// For the audit line: the target before and after.
    pub(crate) before: serde_json::Value,
    pub(crate) after: serde_json::Value,
    /// Set when the write failed or stopped part-way (the counts say how
    /// far it got).
    pub(crate) error: Option<ContextError>,
    pub(crate) warnings: Vec<String>,
    /// Fields beyond the counts (replicate's `config_changes`).
    pub(crate) extra: serde_json::Map<String, serde_json::Value>,
}

/// What a running write may look at: Ctrl-C, and its progress bar.
#[derive(Clone)]
pub(crate) struct Step {
    interrupted: Arc<AtomicBool>,
    pub(crate) progress: ProgressBar,
}

impl Step {
    /// Ctrl-C was pressed: finish the server-side step in flight, start no
    /// other.
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
}

/// A write verb.
pub(crate) trait Action: Send + Sync + 'static {
    /// The verb (`purge-dlq`): results, audit lines, `allowed-actions`.
    const NAME: &'static str;
    /// The count fields it reports (`purged`, `moved`, ...).
    const COUNTS: &'static [&'static str];
    /// The count fields of this run, when they depend on its flags.
    fn counts(&self) -> &'static [&'static str] {
        Self::COUNTS
    }
    /// Fields beyond the counts every result item carries (null until
    /// measured), such as replicate's `config_changes`.
    fn extra_fields(&self) -> &'static [&'static str] {
        &[]
    }
    /// Extra fields a dry run reports: what would change.
    fn dry_extra(&self, _plan: &Self::Plan) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
    /// Whether this run touches jobs at all (the plan's JOBS column and
    /// total); replicate `--what config` does not.
    fn moves_jobs(&self) -> bool {
        true
    }
    /// Whether the targets' applies are one operation (replicate
    /// `--move`: the first to run drives it, the others wait for its
    /// outcome). Then none waits for a `--max-concurrency` slot, and a
    /// Ctrl-C does not turn a participant into "never started": it gets
    /// its share of what the operation did.
    fn one_operation(&self) -> bool {
        false
    }
    /// Whether results carry a `backup_key` column.
    const KEEPS_BACKUPS: bool = false;
    /// Whether a write is long enough to deserve a progress bar.
    const PROGRESS: bool = false;
    type Plan: Send + Sync + 'static;

    /// One line above the plan ("purge-dlq: backups kept 24h").
    fn headline(&self) -> String;
    /// Lines under the plan, once.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The lines under this plan, knowing how many jobs it would change
    /// in all: a note that does not apply (memory freed when a backup of
    /// no job expires) is left out.
    fn plan_notes(&self, _jobs: u64) -> Vec<String> {
        self.notes()
    }
    /// Measures one target; writes nothing.
    fn plan(
        &self,
        conn: &Conn,
        target: &ReadTarget,
    ) -> impl Future<Output = std::result::Result<Self::Plan, ContextError>> + Send;
    fn view(&self, plan: &Self::Plan) -> PlanView;
    /// The counts a dry run reports: what would change.
    fn dry_counts(&self, plan: &Self::Plan) -> Vec<(&'static str, u64)>;
    /// The verb, as a queue system is asked whether it can run it.
    fn verb(&self) -> crate::systems::Verb;
    /// Why a context's queue system cannot run this verb (`None`: it
    /// can): the system's own answer.
    fn unsupported(&self, system: &crate::systems::System) -> Option<String> {
        system.unsupported(self.verb())
    }
    /// Targets that must not run together, seen across every plan (two
    /// names for one server, say): (context, why) for each to refuse.
    fn conflicts(&self, _plans: &[(&str, &Self::Plan)]) -> Vec<(String, String)> {
        Vec::new()
    }
    /// A reason to refuse the whole run after pre-flight, before the plan
    /// is printed (a `quiet workers NAME` that matches no process on any
    /// target). `all_measured` is false when some target could not be.
    fn refuse(&self, _plans: &[(&str, &Self::Plan)], _all_measured: bool) -> Option<CliError> {
        None
    }
    /// Writes one target.
    fn apply(
        &self,
        conn: &Conn,
        target: &ReadTarget,
        plan: &Self::Plan,
        step: Step,
    ) -> impl Future<Output = Applied> + Send;
}

/// A target after pre-flight: its open connection and its plan.
type Pre<P> = std::result::Result<(Conn, Arc<ReadTarget>, Arc<P>), ContextError>;

/// One selected context's place in the run.
enum Slot {
    /// Index into the admitted targets.
    Target(usize),
    Skipped(String),
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

fn item(
    context: &str,
    color: Option<String>,
    counts: &[&'static str],
    extra: &[&'static str],
) -> ResultItem {
    ResultItem {
        context: context.to_string(),
        status: Status::Skipped,
        reason: None,
        kind: None,
        counts: counts
            .iter()
            .map(|c| (*c, None))
            .collect::<IndexMap<_, _>>(),
        extra: extra
            .iter()
            .map(|f| (f.to_string(), serde_json::Value::Null))
            .collect(),
        backup_key: None,
        warnings: Vec::new(),
        duration_ms: 0,
        color,
    }
}

fn fill_counts(item: &mut ResultItem, counts: &[(&'static str, u64)]) {
    for (k, v) in counts {
        item.counts.insert(k, Some(*v));
    }
}

fn fail(item: &mut ResultItem, e: &ContextError) {
    item.status = Status::Error;
    item.kind = Some(e.kind);
    item.reason = Some(e.message.clone());
}

/// Runs a write verb through the gate, on the selection (`--context`,
/// `-l`, `-A`).
pub(crate) fn run<A: Action>(
    config: &Config,
    settings: &Settings,
    w: &WriteSettings,
    action: A,
) -> Result<ExitCode> {
    check_flags(w)?;
    let set = crate::select::select(config, &settings.select)?;
    run_on(config, settings, w, action, set)
}

/// Gate flags that do not go together (exit 2, before anything else).
fn check_flags(w: &WriteSettings) -> Result<()> {
    if w.pause.is_some() && w.strategy == Strategy::Parallel {
        return Err(
            CliError::usage("--pause applies to --strategy rolling and canary")
                .with_hint("add --strategy rolling, or drop --pause"),
        );
    }
    Ok(())
}

/// Runs a write verb through the gate on a given target set (a verb with
/// its own target rules, such as replicate's `--to`).
/// 5. The writes, step by step (the strategy's steps; the targets of one
/// step concurrently, within `max_concurrency`), each target's audit line
/// written as soon as its write returns.
struct Run<'a, A: Action> {
    steps: &'a [Vec<usize>],
    names: &'a [String],
    pre: Arc<Vec<Pre<A::Plan>>>,
    action: Arc<A>,
    interrupted: Arc<AtomicBool>,
    bars: &'a [indicatif::ProgressBar],
    waiting: Option<Arc<crate::progress::Waiting>>,
    audit: Arc<audit::Writer>,
    max_concurrency: usize,
    pause: Option<Duration>,
    strategy: Strategy,
}

/// Per target: what its write did and how long it took (`None`: never
/// started).
type Outcomes = Vec<Option<(Applied, Duration)>>;

impl<A: Action> Run<'_, A> {
    /// The outcomes, and the target whose failure stopped a rolling or
    /// canary run.
    async fn execute(self) -> (Outcomes, Option<String>) {
        let int = self.interrupted.clone();
        let signals = tokio::spawn(async move { watch_signals(int).await });
        let mut done: Vec<Option<(Applied, Duration)>> =
            (0..self.names.len()).map(|_| None).collect();
        let mut stopped_by: Option<String> = None;
        for (si, step) in self.steps.iter().enumerate() {
            if si > 0
                && let Some(pause) = self.pause
                && stopped_by.is_none()
            {
                let until = Instant::now() + pause;
                while Instant::now() < until && !self.interrupted.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50).min(until - Instant::now())).await;
                }
            }
            if self.interrupted.load(Ordering::SeqCst)
                || stopped_by.is_some()
                || self.audit.failed()
            {
                break;
            }
            let one = self.action.one_operation();
            let slots = if one {
                step.len()
            } else {
                self.max_concurrency
            };
            let sem = Arc::new(tokio::sync::Semaphore::new(slots.max(1)));
            let mut set = tokio::task::JoinSet::new();
            for &i in step {
                let pre = self.pre.clone();
                let action = self.action.clone();
                let sem = sem.clone();
                let st = Step {
                    interrupted: self.interrupted.clone(),
                    progress: self.bars[i].clone(),
                };
                let waiting = self.waiting.clone();
                let audit = self.audit.clone();
                let name = self.names[i].clone();
                set.spawn(async move {
                    let _done = crate::progress::DoneOnDrop(waiting, i);
                    let _permit = sem.acquire_owned().await.expect("never closed");
                    if (st.interrupted() || audit.failed()) && !one {
                        return (i, None);
                    }
                    let (conn, t, plan) = match &pre[i] {
                        Ok(x) => x.clone(),
                        Err(_) => return (i, None),
                    };
                    let started = Instant::now();
                    let applied = action.apply(&conn, &t, &plan, st.clone()).await;
                    let took = started.elapsed();
                    st.progress.finish_and_clear();
                    // Written (and flushed) before the permit goes to the
                    // next target.
                    audit.record(
                        &name,
                        &applied.before,
                        &applied.after,
                        applied.error.as_ref().map(|e| e.message.as_str()),
                        ms(took),
                    );
                    (i, Some((applied, took)))
                });
            }
            while let Some(j) = set.join_next().await {
                if let Ok((i, r)) = j {
                    done[i] = r;
                }
            }
            if strategy::stops_on_failure(self.strategy) {
                for &i in step {
                    let failed = match (&self.pre[i], &done[i]) {
                        (Err(_), _) => true,
                        (Ok(_), Some((a, _))) => a.error.is_some(),
                        _ => false,
                    };
                    if failed && stopped_by.is_none() {
                        stopped_by = Some(self.names[i].clone());
                    }
                }
            }
        }
        signals.abort();
        if let Some(w) = &self.waiting {
            w.finish();
        }
        (done, stopped_by)
    }
}

/// What a dry run reports: each target's counts as they would change.
fn dry_results<A: Action>(
    action: &A,
    slots: &[(String, Slot)],
    pre: &[Pre<A::Plan>],
    views: &[Option<PlanView>],
    color_of: &dyn Fn(&str) -> Option<String>,
) -> Vec<ResultItem> {
    slots
        .iter()
        .map(|(name, slot)| {
            let mut it = item(name, color_of(name), action.counts(), action.extra_fields());
            match slot {
                Slot::Skipped(r) => it.reason = Some(r.clone()),
                Slot::Target(i) => match &pre[*i] {
                    Ok((_, _, plan)) => {
                        it.status = Status::Ok;
                        fill_counts(&mut it, &action.dry_counts(plan));
                        it.extra.extend(action.dry_extra(plan));
                        it.warnings = views[*i]
                            .as_ref()
                            .map(|v| v.warnings.clone())
                            .unwrap_or_default();
                    }
                    Err(e) => fail(&mut it, e),
                },
            }
            it
        })
        .collect()
}

/// The admitted targets, and every selected context's place in the run.
type Admitted = (Vec<String>, Vec<(String, Slot)>);

/// Policy first (protected, allowed-actions, what the queue system can
/// do): the admitted targets in file order, and every selected context's
/// place in the run. None admitted is a refusal.
fn admit_targets<A: Action>(
    config: &Config,
    set: &crate::select::TargetSet,
    action: &A,
) -> Result<Admitted> {
    let admitted = gate::admit(config, set, A::NAME, &|k| action.unsupported(k));
    if admitted.targets.is_empty() {
        let why: Vec<String> = admitted
            .skipped
            .iter()
            .map(|(n, r)| format!("{n}: {r}"))
            .collect();
        let hint = if admitted
            .skipped
            .iter()
            .all(|(_, r)| r.starts_with("not supported by"))
        {
            "the queue systems of the selected contexts cannot do this: the README's capability table says what each can"
        } else {
            "name a protected context literally with --context NAME, or check allowed-actions in the contexts file"
        };
        return Err(CliError::refused(format!(
            "no selected context may run {}; nothing was changed ({})",
            A::NAME,
            why.join("; ")
        ))
        .with_hint(hint));
    }
    let names = admitted.targets.clone();
    let slots: Vec<(String, Slot)> = set
        .targets
        .iter()
        .filter_map(|t| {
            if let Some(i) = names.iter().position(|n| *n == t.name) {
                Some((t.name.clone(), Slot::Target(i)))
            } else {
                admitted
                    .skipped
                    .iter()
                    .find(|(n, _)| *n == t.name)
                    .map(|(n, r)| (n.clone(), Slot::Skipped(r.clone())))
            }
        })
        .collect();
    Ok((names, slots))
}

/// 3./4. The typed confirmation: exactly the target set.
fn confirm<A: Action>(w: &WriteSettings, names: &[String], interactive: bool) -> Result<()> {
    match &w.yes_i_typed {
        Some(t) => gate::confirm(names, t),
        None if interactive => gate::confirm_typed(names, &gate::prompt(names)?),
        None => Err(CliError::refused(format!(
            "{} changes Redis and stdin is not a terminal, so it cannot ask; nothing was changed",
            A::NAME
        ))
        .with_hint(format!(
            "to confirm from a script, name exactly the targets: --yes-i-typed={}",
            names.join(",")
        ))),
    }
}

pub(crate) fn run_on<A: Action>(
    config: &Config,
    settings: &Settings,
    w: &WriteSettings,
    action: A,
    set: crate::select::TargetSet,
) -> Result<ExitCode> {
    check_flags(w)?;
    let p = &settings.printer;
    let (names, slots) = admit_targets(config, &set, &action)?;
    let color_of = |name: &str| config.context(name).and_then(|c| c.color.clone());
    let resolved = targets(config, settings, &names);
    let rt = runtime();
    let action = Arc::new(action);
    let cs = ConnSettings::from(settings);

    // 1. Pre-flight: connect to every target and measure, concurrently.
    // Budgets are per round trip (the connection's response timeout).
    let mut pre: Vec<Pre<A::Plan>> = rt.block_on(fan_out(
        &names,
        settings.max_concurrency,
        None,
        crate::progress::Waiting::start(p.quiet, "checking targets", &names),
        |i| {
            let target = resolved[i].clone();
            let action = action.clone();
            async move {
                let t = target?;
                let conn = Conn::open_for_writes(&t.ep, cs.connect_timeout, cs.timeout, cs.verbose)
                    .await?;
                let plan = action.plan(&conn, &t).await?;
                Ok((conn, t, Arc::new(plan)))
            }
        },
    ));
    let conflicts = {
        let ok: Vec<(&str, &A::Plan)> = names
            .iter()
            .zip(&pre)
            .filter_map(|(n, r)| r.as_ref().ok().map(|(_, _, p)| (n.as_str(), &**p)))
            .collect();
        if let Some(e) = action.refuse(&ok, ok.len() == names.len()) {
            return Err(e);
        }
        action.conflicts(&ok)
    };
    for (context, message) in conflicts {
        if let Some(i) = names.iter().position(|n| *n == context) {
            pre[i] = Err(ContextError {
                context,
                kind: crate::error::ErrorKind::Config,
                message,
            });
        }
    }
    let views: Vec<Option<PlanView>> = pre
        .iter()
        .map(|r| r.as_ref().ok().map(|(_, _, plan)| action.view(plan)))
        .collect();

    // The steps the strategy makes of the targets: in the plan, then run.
    let canary_first = set
        .typed_order
        .iter()
        .find_map(|n| names.iter().position(|t| t == n))
        .unwrap_or(0);
    let steps = strategy::steps(w.strategy, names.len(), canary_first, w.max_parallel);
    let protected = |name: &str| config.context(name).is_some_and(|c| c.protected);

    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let prompting = w.yes_i_typed.is_none() && interactive && !w.dry_run;
    if !p.quiet || prompting {
        let jobs: u64 = views
            .iter()
            .flatten()
            .filter(|v| !v.not_in_total)
            .map(|v| v.count)
            .sum();
        print_plan::<A>(
            settings,
            &PlanText {
                headline: action.headline(),
                notes: action.plan_notes(jobs),
                strategy: gate::strategy_lines(w, &names, &steps, &protected),
            },
            &slots,
            &pre,
            &views,
            &|n: &str| (color_of(n), protected(n)),
            w.dry_run,
            action.moves_jobs(),
        );
    }

    // 2. --dry-run stops here.
    if w.dry_run {
        let results = dry_results(&*action, &slots, &pre, &views, &color_of);
        return finish::<A>(
            settings,
            action.counts(),
            ActionResult::new(A::NAME, true, false, results),
        );
    }

    confirm::<A>(w, &names, interactive)?;

    // The audit log must be writable before anything changes.
    let audit_path = audit::path(config.audit_log.as_deref());
    audit::open(&audit_path).map_err(|e| {
        CliError::failure(format!(
            "cannot open the audit log {}: {e}; nothing was changed",
            audit_path.display()
        ))
        .with_hint("set audit-log: in the contexts file to a writable path")
    })?;

    // 5. The writes, step by step.
    let interrupted = Arc::new(AtomicBool::new(false));
    let bars = progress_bars::<A>(settings, &names, &views);
    // Verbs without per-job bars get the spinner naming who is left.
    let waiting = if A::PROGRESS {
        None
    } else {
        crate::progress::Waiting::start(p.quiet, A::NAME, &names)
    };
    // Each target's audit line is written as soon as its write returns;
    // when one cannot be, nothing further starts.
    let audit = Arc::new(audit::Writer::new(
        audit_path.clone(),
        A::NAME,
        audit::scrub_args(&std::env::args().collect::<Vec<_>>()),
    ));
    let pre = Arc::new(pre);
    let run = Run {
        steps: &steps,
        names: &names,
        pre: pre.clone(),
        action: action.clone(),
        interrupted: interrupted.clone(),
        bars: &bars,
        waiting: waiting.clone(),
        audit: audit.clone(),
        max_concurrency: settings.max_concurrency,
        pause: w.pause,
        strategy: w.strategy,
    };
    let (outcomes, stopped_by) = rt.block_on(run.execute());
    // Targets never started: why.
    let audit_error = audit.error();
    let not_started = if let Some(e) = &audit_error {
        format!("not started: {e}")
    } else if interrupted.load(Ordering::SeqCst) {
        "interrupted (Ctrl-C) before it started".to_string()
    } else if let Some(n) = &stopped_by {
        format!(
            "not reached: --strategy {} stopped after {n} failed",
            strategy_name(w.strategy)
        )
    } else {
        "not reached".to_string()
    };

    // 6. Results (the audit lines are written).
    let mut results = Vec::with_capacity(slots.len());
    for (name, slot) in &slots {
        let mut it = item(name, color_of(name), action.counts(), action.extra_fields());
        match slot {
            Slot::Skipped(r) => it.reason = Some(r.clone()),
            Slot::Target(i) => match (&pre[*i], &outcomes[*i]) {
                (Err(e), _) => fail(&mut it, e),
                (Ok(_), None) => it.reason = Some(not_started.clone()),
                (Ok(_), Some((a, took))) => {
                    fill_counts(&mut it, &a.counts);
                    it.backup_key = a.backup_key.clone();
                    it.extra.extend(a.extra.clone());
                    it.warnings = a.warnings.clone();
                    it.duration_ms = ms(*took);
                    match &a.error {
                        None => it.status = Status::Ok,
                        Some(e) => fail(&mut it, e),
                    }
                }
            },
        }
        results.push(it);
    }
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    let code = finish::<A>(
        settings,
        action.counts(),
        ActionResult::new(A::NAME, false, was_interrupted, results),
    )?;
    if let Some(e) = audit_error {
        let left = outcomes.iter().filter(|o| o.is_none()).count();
        return Err(CliError::failure(format!(
            "{e}; {} stopped there{}: the result above is what was done",
            A::NAME,
            if left > 0 {
                format!(" ({} not started)", crate::output::count(left as u64, "target"))
            } else {
                String::new()
            }
        ))
        .with_hint("set audit-log: in the contexts file to a writable path, then run the verb again for the targets not started"));
    }
    Ok(if was_interrupted {
        ExitCode::Interrupted
    } else {
        code
    })
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Parallel => "parallel",
        Strategy::Rolling => "rolling",
        Strategy::Canary => "canary",
    }
}

/// Ctrl-C (or SIGTERM) once: stop starting targets and steps; twice: exit
/// now (server-side steps already sent still finish on the server).
async fn watch_signals(flag: Arc<AtomicBool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("interrupted again: exiting now");
            std::process::exit(ExitCode::Interrupted as i32);
        }
        eprintln!(
            "interrupted: finishing the steps in flight, starting nothing new (Ctrl-C again to exit now)"
        );
    }
}

/// One progress bar per target on a terminal; hidden bars otherwise.
fn progress_bars<A: Action>(
    settings: &Settings,
    names: &[String],
    views: &[Option<PlanView>],
) -> Vec<ProgressBar> {
    let show = A::PROGRESS && !settings.printer.quiet && std::io::stderr().is_terminal();
    if !show {
        return names.iter().map(|_| ProgressBar::hidden()).collect();
    }
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let style = crate::progress::job_bar_style(width);
    names
        .iter()
        .zip(views)
        .map(|(n, v)| {
            let bar = multi.add(ProgressBar::new(v.as_ref().map_or(0, |v| v.count)));
            bar.set_style(style.clone());
            bar.set_prefix(n.clone());
            bar
        })
        .collect()
}

/// The lines of a plan besides its table.
struct PlanText {
    headline: String,
    notes: Vec<String>,
    /// How the targets are gone through (`gate::strategy_lines`).
    strategy: Vec<String>,
}

/// The plan on stderr: the headline, a row per selected context (a
/// protected target marked), the total, the strategy, notes and warnings.
#[allow(clippy::too_many_arguments)]
fn print_plan<A: Action>(
    settings: &Settings,
    text: &PlanText,
    slots: &[(String, Slot)],
    pre: &[Pre<A::Plan>],
    views: &[Option<PlanView>],
    style_of: &dyn Fn(&str) -> (Option<String>, bool),
    dry_run: bool,
    jobs: bool,
) {
    let headline = &text.headline;
    let mut printer = settings.printer.clone();
    printer.color = settings.stderr_color;
    printer.no_headers = false;
    let mut rows = Vec::new();
    let mut total = 0u64;
    let mut measured = 0usize;
    let mut warnings = Vec::new();
    for (name, slot) in slots {
        let (color, protected) = style_of(name);
        let row = match slot {
            Slot::Skipped(r) => vec![
                Styled::colored(name, color.as_deref()),
                "-".into(),
                Styled::colored(format!("skipped: {r}"), Some("yellow")),
            ],
            Slot::Target(i) => match (&pre[*i], &views[*i]) {
                (Ok(_), Some(v)) => {
                    if !v.not_in_total {
                        total += v.count;
                    }
                    measured += 1;
                    warnings.extend(v.warnings.iter().map(|w| format!("{name}: {w}")));
                    vec![
                        Styled::colored(gate::plan_name(name, protected), color.as_deref()),
                        v.count.to_string().into(),
                        v.detail.clone().into(),
                    ]
                }
                (Err(e), _) => vec![
                    Styled::colored(gate::plan_name(name, protected), color.as_deref()),
                    "-".into(),
                    Styled::colored(
                        format!("error: {}: {} (left alone)", e.kind, e.message),
                        Some("red"),
                    ),
                ],
                _ => continue,
            },
        };
        rows.push(row);
    }
    let table = if jobs {
        printer.render_table(&["CONTEXT", "JOBS", "PLAN"], rows)
    } else {
        let rows = rows
            .into_iter()
            .map(|mut r| {
                r.remove(1);
                r
            })
            .collect();
        printer.render_table(&["CONTEXT", "PLAN"], rows)
    };
    let mut out = String::new();
    out.push_str(&format!(
        "{}{headline}\n\n",
        if dry_run { "dry run: " } else { "" }
    ));
    for line in table.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    let contexts = crate::output::count(measured as u64, "context");
    if jobs {
        let jobs = crate::output::count(total, "job");
        out.push_str(&format!("\ntotal: {jobs} on {contexts}\n"));
    } else {
        out.push_str(&format!("\ntotal: {contexts}\n"));
    }
    for l in &text.strategy {
        out.push_str(l);
        out.push('\n');
    }
    for n in &text.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    for w in warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    eprint!("{out}");
}

/// Prints the result and folds it into an exit code.
fn finish<A: Action>(
    settings: &Settings,
    counts: &'static [&'static str],
    doc: ActionResult,
) -> Result<ExitCode> {
    let p = &settings.printer;
    let mut outcome = Outcome::default();
    for r in &doc.results {
        match r.status {
            Status::Ok => outcome.succeeded += 1,
            Status::Error => outcome.failed += 1,
            Status::Skipped => {}
        }
    }
    match p.format {
        crate::cli::OutputFormat::Json
        | crate::cli::OutputFormat::Yaml
        | crate::cli::OutputFormat::CustomColumns => p.document(&doc)?,
        crate::cli::OutputFormat::Name => p.names(
            doc.results
                .iter()
                .filter(|r| r.status == Status::Ok)
                .map(|r| format!("{}/{}", r.context, A::NAME)),
        )?,
        _ => {
            let wide = p.format == crate::cli::OutputFormat::Wide;
            let (headers, rows) = doc.table(counts, A::KEEPS_BACKUPS, wide);
            let h: Vec<&str> = headers.iter().map(String::as_str).collect();
            p.table(&h, rows)?;
        }
    }
    let mut code = outcome.exit_code();
    if outcome.succeeded == 0 && outcome.failed == 0 {
        code = ExitCode::Ok;
    }
    Ok(code)
}
