//! `qctl quiet workers [NAME...]` and `qctl stop workers [NAME...]` (SPEC
//! 10.4): the signal a queue system's own API sends its worker processes
//! through Redis (Sidekiq: `Process#quiet!` = TSTP, `#stop!` = TERM, see
//! `systems::signals`), through the gate like every write.
//!
//! * NAME matches a process's identity, its tag or its hostname (globs),
//!   or `CONTEXT/IDENTITY` (what `get workers -o name` prints). No NAME:
//!   every live process of each target.
//! * Only live processes get a signal; an orphaned one (stale heartbeat)
//!   cannot read it, and the plan says so.
//! * A NAME that matches no process on any target refuses the whole run
//!   (exit 1, with a did-you-mean); one that matches on some targets only
//!   leaves the others at `signalled: 0`, like an empty DLQ purged.
//! * `--strategy rolling --pause DUR`: one context after another, a rolling
//!   restart of a fleet. Inside a context every chosen process is signalled
//!   at once.

use super::run::{Action, Applied, PlanView, Step};
use crate::cli::SignalWorkersArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Result};
use crate::inspect::read::ReadTarget;
use crate::settings::Settings;
use crate::systems::glob::Glob;
use crate::systems::signals::{self, Signal};
use crate::systems::{Verb, Worker, guard};
use serde_json::json;
use std::time::{Duration, Instant};

/// How many processes a plan line names before "and N more".
const LISTED: usize = 5;

/// One NAME argument.
#[derive(Debug, Clone)]
struct NamePattern {
    text: String,
    /// Against identity, tag and hostname.
    whole: Glob,
    /// `CONTEXT/REST`: REST against that context's processes only.
    scoped: Option<(String, Glob)>,
}

impl NamePattern {
    fn parse(text: &str) -> Result<NamePattern> {
        let bad = |e: String| {
            CliError::usage(format!("NAME {text}: {e}"))
                .with_hint("NAME is an identity, tag or hostname, globs allowed: 'web-1:*'")
        };
        if text.is_empty() {
            return Err(bad("is empty".into()));
        }
        let whole = Glob::parse(text).map_err(bad)?;
        let scoped = match text.split_once('/') {
            Some((c, rest)) if !c.is_empty() && !rest.is_empty() => {
                Some((c.to_string(), Glob::parse(rest).map_err(bad)?))
            }
            _ => None,
        };
        Ok(NamePattern {
            text: text.to_string(),
            whole,
            scoped,
        })
    }

    fn matches(&self, context: &str, w: &Worker) -> bool {
        let by = |g: &Glob| {
            let m = |s: &str| g.matches(s.as_bytes());
            let p = w.process.as_ref();
            m(&w.worker)
                || p.and_then(|p| p.tag.as_deref()).is_some_and(m)
                || p.and_then(|p| p.hostname.as_deref()).is_some_and(m)
        };
        by(&self.whole)
            || self
                .scoped
                .as_ref()
                .is_some_and(|(c, g)| c == context && by(g))
    }
}

/// `quiet workers` (`STOP = false`) or `stop workers` (`STOP = true`).
pub(crate) struct SignalWorkers<const STOP: bool> {
    names: Vec<NamePattern>,
    /// `--one-by-one`: inside a context, the next process only once the
    /// one before acted on its signal; `--pause` between them.
    one_by_one: Option<Option<Duration>>,
}

/// How long `--one-by-one` waits for a process to act on its signal: as
/// long as the signal lives.
const ACT_TIMEOUT: Duration = Duration::from_secs(60);
const ACT_POLL: Duration = Duration::from_millis(250);

/// A process that would get the signal.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    identity: String,
    tag: Option<String>,
    busy: u64,
    quiet: Option<bool>,
}

impl Chosen {
    fn describe(&self) -> String {
        let mut bits = Vec::new();
        if let Some(t) = &self.tag {
            bits.push(format!("tag {t}"));
        }
        bits.push(format!("busy {}", self.busy));
        if self.quiet == Some(true) {
            bits.push("already quiet".into());
        }
        format!("{} ({})", self.identity, bits.join(", "))
    }
}

pub(crate) struct SignalPlan {
    chosen: Vec<Chosen>,
    /// Matched, but dead: no signal.
    orphaned: Vec<String>,
    /// Live processes no NAME matched.
    others: usize,
    /// Per NAME: whether it matched any process here (live or not).
    matched: Vec<bool>,
    /// Identities, tags and hostnames seen (for a did-you-mean).
    known: Vec<String>,
    warnings: Vec<String>,
    /// The system's name for the signal (Sidekiq: TSTP, TERM).
    signal: &'static str,
}

impl<const STOP: bool> SignalWorkers<STOP> {
    const SIGNAL: Signal = if STOP { Signal::Stop } else { Signal::Quiet };

    fn pick(&self, context: &str, all: &[Worker]) -> SignalPlan {
        let mut plan = SignalPlan {
            chosen: Vec::new(),
            orphaned: Vec::new(),
            others: 0,
            matched: vec![false; self.names.len()],
            known: Vec::new(),
            warnings: Vec::new(),
            signal: "",
        };
        for w in all {
            plan.known.push(w.worker.clone());
            if let Some(p) = &w.process {
                plan.known.extend(p.tag.iter().cloned());
                plan.known.extend(p.hostname.iter().cloned());
            }
            let mut hit = self.names.is_empty();
            for (i, n) in self.names.iter().enumerate() {
                if n.matches(context, w) {
                    plan.matched[i] = true;
                    hit = true;
                }
            }
            let live = signals::is_live(w);
            match (hit, live) {
                (true, true) => plan.chosen.push(Chosen {
                    identity: w.worker.clone(),
                    tag: w.process.as_ref().and_then(|p| p.tag.clone()),
                    busy: w.in_flight,
                    quiet: w.process.as_ref().and_then(|p| p.quiet),
                }),
                (true, false) => plan.orphaned.push(w.worker.clone()),
                (false, true) => plan.others += 1,
                (false, false) => {}
            }
        }
        plan.known.sort();
        plan.known.dedup();
        plan
    }

    fn names_text(&self) -> String {
        self.names
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl<const STOP: bool> Action for SignalWorkers<STOP> {
    const NAME: &'static str = if STOP {
        "stop-workers"
    } else {
        "quiet-workers"
    };
    const COUNTS: &'static [&'static str] = &["signalled"];
    type Plan = SignalPlan;

    fn extra_fields(&self) -> &'static [&'static str] {
        &["processes"]
    }

    fn moves_jobs(&self) -> bool {
        false
    }

    fn headline(&self) -> String {
        if STOP {
            "stop workers: each process gets Sidekiq's TERM signal and stops gracefully (busy jobs get its shutdown timeout, -t, then go back to their queue)".into()
        } else {
            "quiet workers: each process gets Sidekiq's TSTP signal and takes no new jobs (busy jobs finish)".into()
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut n = vec![
            "a process reads its signal at its next heartbeat (within 5 s); an unread signal expires after 60 s".to_string(),
        ];
        if STOP {
            n.push("a stopped process leaves `qctl get workers`; qctl starts nothing again: your process manager (systemd, Kubernetes...) does".into());
        } else {
            n.push("`qctl get workers -o wide` shows QUIET true up to ~10 s later; only a restart (stop workers) undoes quiet".into());
        }
        n.extend(self.notes_one_by_one());
        n
    }

    fn verb(&self) -> Verb {
        if STOP { Verb::Stop } else { Verb::Quiet }
    }

    async fn plan(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<SignalPlan, ContextError> {
        let all = t
            .system
            .signal_candidates(conn)
            .await
            .map_err(|e| conn.error(&e))?;
        let mut plan = self.pick(t.context(), &all);
        plan.signal = t.system.signal_name(Self::SIGNAL);
        if let Some(first) = plan.chosen.first() {
            // One process's commands stand for all: the same commands on
            // keys of the same pattern.
            let needed = t.system.signal_needed(&first.identity, Self::SIGNAL);
            if let guard::Checked::Unknown(why) = guard::may_run(conn, &needed).await? {
                plan.warnings.push(why);
            }
            plan.warnings.extend(guard::memory_warning(conn).await);
        }
        if !plan.orphaned.is_empty() {
            plan.warnings.push(format!(
                "{} matched but orphaned (no heartbeat for over 30 s), so it gets no signal: a dead process cannot read one ({})",
                crate::output::count(plan.orphaned.len() as u64, "process"),
                plan.orphaned.join(", ")
            ));
        }
        Ok(plan)
    }

    fn view(&self, p: &SignalPlan) -> PlanView {
        let sig = p.signal;
        let mut detail = if p.chosen.is_empty() {
            if self.names.is_empty() {
                "no live process: nothing to signal".to_string()
            } else {
                format!(
                    "no live process matches {}: nothing to signal",
                    self.names_text()
                )
            }
        } else {
            let mut listed: Vec<String> =
                p.chosen.iter().take(LISTED).map(Chosen::describe).collect();
            if p.chosen.len() > LISTED {
                listed.push(format!("and {} more", p.chosen.len() - LISTED));
            }
            format!(
                "{sig} -> {}: {}",
                crate::output::count(p.chosen.len() as u64, "process"),
                listed.join("; ")
            )
        };
        if p.others > 0 {
            detail.push_str(&format!(
                " ({} left alone)",
                crate::output::count(p.others as u64, "other process")
            ));
        }
        PlanView {
            count: p.chosen.len() as u64,
            detail,
            warnings: p.warnings.clone(),
            not_in_total: false,
        }
    }

    fn dry_counts(&self, p: &SignalPlan) -> Vec<(&'static str, u64)> {
        vec![("signalled", p.chosen.len() as u64)]
    }

    fn dry_extra(&self, p: &SignalPlan) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert(
            "processes".into(),
            json!(p.chosen.iter().map(|c| &c.identity).collect::<Vec<_>>()),
        );
        m
    }

    fn refuse(&self, plans: &[(&str, &SignalPlan)], all_measured: bool) -> Option<CliError> {
        if self.names.is_empty() || !all_measured {
            return None;
        }
        let unmatched: Vec<&NamePattern> = self
            .names
            .iter()
            .enumerate()
            .filter(|(i, _)| !plans.iter().any(|(_, p)| p.matched[*i]))
            .map(|(_, n)| n)
            .collect();
        let first = unmatched.first()?;
        let contexts: Vec<&str> = plans.iter().map(|(c, _)| *c).collect();
        let listed: Vec<String> = unmatched.iter().map(|n| format!("`{}`", n.text)).collect();
        let e = CliError::failure(format!(
            "no process matches {} on {} ({}); nothing was changed",
            listed.join(", "),
            if contexts.len() == 1 {
                "the target"
            } else {
                "any target"
            },
            contexts.join(", ")
        ));
        let known: Vec<&str> = plans
            .iter()
            .flat_map(|(_, p)| p.known.iter().map(String::as_str))
            .collect();
        let looking = first.scoped.as_ref().map_or(first.text.as_str(), |_| {
            first.text.split_once('/').map_or("", |(_, r)| r)
        });
        Some(match crate::output::did_you_mean(looking, known.iter().copied()) {
            Some(s) => e.with_hint(format!(
                "did you mean `{s}`? `qctl get workers` lists the processes (NAME matches an identity, tag or hostname; globs allowed)"
            )),
            None => e.with_hint(
                "`qctl get workers` lists the processes; NAME matches an identity, tag or hostname, globs allowed ('web-1:*')",
            ),
        })
    }

    async fn apply(&self, conn: &Conn, t: &ReadTarget, p: &SignalPlan, step: Step) -> Applied {
        let sig = Self::SIGNAL;
        let before = json!({
            "processes": p.chosen.iter().map(|c| json!({
                "identity": c.identity, "tag": c.tag, "busy": c.busy, "quiet": c.quiet,
            })).collect::<Vec<_>>(),
        });
        let mut signalled: Vec<String> = Vec::new();
        let mut gone: Vec<String> = Vec::new();
        let mut error = None;
        if !p.chosen.is_empty() {
            // Read again: a process that stopped or died since the plan
            // gets nothing.
            match t.system.signal_candidates(conn).await {
                Err(e) => error = Some(conn.error(&e)),
                Ok(now) => {
                    for c in &p.chosen {
                        if step.interrupted() {
                            break;
                        }
                        if !now
                            .iter()
                            .any(|w| w.worker == c.identity && signals::is_live(w))
                        {
                            gone.push(c.identity.clone());
                            continue;
                        }
                        if let Some(pause) = self.one_by_one
                            && !signalled.is_empty()
                            && let Some(d) = pause
                        {
                            sleep_unless_interrupted(d, &step).await;
                            if step.interrupted() {
                                break;
                            }
                        }
                        match t.system.signal(conn, &c.identity, sig).await {
                            Ok(()) => signalled.push(c.identity.clone()),
                            Err(e) => {
                                error = Some(guard::step_error(conn, &e));
                                break;
                            }
                        }
                        if self.one_by_one.is_some()
                            && let Err(e) = self.wait_acted(conn, t, &c.identity, &step).await
                        {
                            error = Some(e);
                            break;
                        }
                    }
                }
            }
        }
        let mut warnings = Vec::new();
        if !gone.is_empty() {
            warnings.push(format!(
                "{} stopped or died since the plan and got no signal: {}",
                crate::output::count(gone.len() as u64, "process"),
                gone.join(", ")
            ));
        }
        let mut extra = serde_json::Map::new();
        extra.insert("processes".into(), json!(signalled));
        Applied {
            counts: vec![("signalled", signalled.len() as u64)],
            before,
            after: json!({
                "signal": t.system.signal_name(sig),
                "signalled": signalled,
                "gone": gone,
            }),
            error,
            warnings,
            extra,
            ..Applied::default()
        }
    }
}

impl<const STOP: bool> SignalWorkers<STOP> {
    fn notes_one_by_one(&self) -> Option<String> {
        self.one_by_one.map(|pause| {
            format!(
                "--one-by-one: inside each context, the next process gets its signal only once the one before {} (at most {} s each){}",
                if STOP { "has stopped" } else { "reads quiet" },
                ACT_TIMEOUT.as_secs(),
                pause
                    .map(|d| format!(", {} apart", crate::output::duration(d)))
                    .unwrap_or_default()
            )
        })
    }

    /// `--one-by-one`: waits until `identity` stopped (left the process
    /// set, or died) or reads quiet.
    async fn wait_acted(
        &self,
        conn: &Conn,
        t: &ReadTarget,
        identity: &str,
        step: &Step,
    ) -> std::result::Result<(), ContextError> {
        let until = Instant::now() + ACT_TIMEOUT;
        loop {
            let now = t
                .system
                .signal_candidates(conn)
                .await
                .map_err(|e| conn.error(&e))?;
            let acted = match now.iter().find(|w| w.worker == identity) {
                None => true,
                Some(w) if !signals::is_live(w) => true,
                Some(w) => !STOP && w.process.as_ref().and_then(|p| p.quiet) == Some(true),
            };
            if acted || step.interrupted() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(ContextError {
                    context: conn.context.clone(),
                    kind: crate::error::ErrorKind::Timeout,
                    message: format!(
                        "{identity} did not act on its {} signal within {} s (its signal has expired); --one-by-one stopped there: the processes after it got nothing",
                        t.system.signal_name(Self::SIGNAL),
                        ACT_TIMEOUT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(ACT_POLL).await;
        }
    }
}

async fn sleep_unless_interrupted(d: Duration, step: &Step) {
    let until = Instant::now() + d;
    while Instant::now() < until && !step.interrupted() {
        tokio::time::sleep(Duration::from_millis(50).min(until - Instant::now())).await;
    }
}

fn patterns(args: &SignalWorkersArgs) -> Result<Vec<NamePattern>> {
    args.names.iter().map(|n| NamePattern::parse(n)).collect()
}

/// `qctl quiet workers`.
pub(crate) fn run_quiet(
    config: &Config,
    settings: &Settings,
    args: &SignalWorkersArgs,
) -> Result<ExitCode> {
    let action = SignalWorkers::<false> {
        names: patterns(args)?,
        one_by_one: args.one_by_one.then_some(args.write.pause),
    };
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        action,
    )
}

/// `qctl stop workers`.
pub(crate) fn run_stop(
    config: &Config,
    settings: &Settings,
    args: &SignalWorkersArgs,
) -> Result<ExitCode> {
    let action = SignalWorkers::<true> {
        names: patterns(args)?,
        one_by_one: args.one_by_one.then_some(args.write.pause),
    };
    super::run(
        config,
        settings,
        &crate::settings::WriteSettings::resolve(&args.write),
        action,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::{ProcessInfo, WorkerState};

    fn w(id: &str, tag: Option<&str>, state: WorkerState) -> Worker {
        Worker {
            worker: id.into(),
            state,
            in_flight: 1,
            heartbeat_ttl_ms: None,
            job_id: None,
            process: Some(Box::new(ProcessInfo {
                hostname: Some(id.split(':').next().unwrap_or("").into()),
                tag: tag.map(String::from),
                ..ProcessInfo::default()
            })),
        }
    }

    fn quiet(names: &[&str]) -> SignalWorkers<false> {
        SignalWorkers {
            names: names
                .iter()
                .map(|n| NamePattern::parse(n).unwrap())
                .collect(),
            one_by_one: None,
        }
    }

    #[test]
    fn names_match_identity_tag_hostname_and_context() {
        let all = vec![
            w("web-1:10:aa", Some("shop"), WorkerState::Active),
            w("web-2:11:bb", None, WorkerState::Active),
            w("web-1:12:cc", None, WorkerState::Orphaned),
        ];
        let p = quiet(&["web-1:*"]).pick("sk", &all);
        assert_eq!(p.chosen.len(), 1);
        assert_eq!(p.chosen[0].identity, "web-1:10:aa");
        assert_eq!(p.orphaned, vec!["web-1:12:cc"]);
        assert_eq!(p.others, 1);
        assert_eq!(quiet(&["shop"]).pick("sk", &all).chosen.len(), 1);
        assert_eq!(
            quiet(&["web-2"]).pick("sk", &all).chosen[0].identity,
            "web-2:11:bb"
        );
        assert_eq!(quiet(&[]).pick("sk", &all).chosen.len(), 2);
        assert_eq!(quiet(&["sk/web-2:11:bb"]).pick("sk", &all).chosen.len(), 1);
        assert!(
            quiet(&["other/web-2:11:bb"])
                .pick("sk", &all)
                .chosen
                .is_empty()
        );
        let none = quiet(&["web-3*"]).pick("sk", &all);
        assert_eq!(none.matched, vec![false]);
        assert!(NamePattern::parse("[a").is_err());
        assert!(NamePattern::parse("").is_err());
    }

    #[test]
    fn a_name_matching_nothing_anywhere_refuses() {
        let all = vec![w("web-1:10:aa", None, WorkerState::Active)];
        let a = quiet(&["web-1:10:ab", "web-1*"]);
        let p = a.pick("sk", &all);
        let e = a.refuse(&[("sk", &p)], true).expect("refused");
        assert!(e.message.contains("`web-1:10:ab`"), "{}", e.message);
        assert!(!e.message.contains("`web-1*`"), "{}", e.message);
        assert!(e.hint.unwrap().contains("did you mean `web-1:10:aa`"));
        assert!(a.refuse(&[("sk", &p)], false).is_none());
        let ok = quiet(&["web-1*"]);
        assert!(ok.refuse(&[("sk", &ok.pick("sk", &all))], true).is_none());
    }
}
