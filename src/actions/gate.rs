//! The write gate of SPEC section 6, the parts that decide before anything
//! is sent: which selected contexts a write verb may touch (protected
//! contexts only when named literally; `allowed-actions`), and whether a
//! confirmation names exactly the target set.
//!
//! Every write verb goes through here; none decides these rules itself.

use crate::contexts::Config;
use crate::error::CliError;
use crate::select::TargetSet;

/// What the gate decided for one selected context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    Target,
    /// Left out by policy, with the reason shown in the plan and the
    /// result (`status: skipped`).
    Skipped(String),
}

/// The selection, split into targets and skipped contexts (file order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admitted {
    pub(crate) targets: Vec<String>,
    pub(crate) skipped: Vec<(String, String)>,
}

/// Applies the per-context policy for `action` (a write verb's name).
/// `unsupported` says why a queue system cannot run the verb (SPEC 10.4:
/// such a target is skipped with `not supported by <kind>: <why>`).
pub(crate) fn admit(
    config: &Config,
    set: &TargetSet,
    action: &str,
    unsupported: &dyn Fn(&crate::systems::System) -> Option<String>,
) -> Admitted {
    let mut out = Admitted {
        targets: Vec::new(),
        skipped: Vec::new(),
    };
    for t in &set.targets {
        let Some(ctx) = config.context(&t.name) else {
            continue;
        };
        let verdict = if ctx.protected && !t.literal {
            Admission::Skipped(format!(
                "protected: a write reaches it only when named literally (--context {})",
                t.name
            ))
        } else if let Some(allowed) = &ctx.allowed_actions
            && !allowed.iter().any(|a| a == action)
        {
            Admission::Skipped(if allowed.is_empty() {
                format!("allowed-actions is empty: no write verb may run here, {action} included")
            } else {
                format!(
                    "allowed-actions ({}) leaves out {action}",
                    allowed.join(", ")
                )
            })
        } else if let Some(system) = config
            .schema(&ctx.schema)
            .map(|s| crate::systems::System::for_schema(&s.system))
            && let Some(why) = unsupported(&system)
        {
            Admission::Skipped(format!("not supported by {}: {why}", system.kind()))
        } else {
            Admission::Target
        };
        match verdict {
            Admission::Target => out.targets.push(t.name.clone()),
            Admission::Skipped(r) => out.skipped.push((t.name.clone(), r)),
        }
    }
    out
}

/// A context's name as the plan shows it: `prod (protected)` for a
/// protected context (a target only because it was named literally).
pub(crate) fn plan_name(name: &str, protected: bool) -> String {
    if protected {
        format!("{name} (protected)")
    } else {
        name.to_string()
    }
}

fn strategy_word(s: crate::cli::Strategy) -> &'static str {
    match s {
        crate::cli::Strategy::Parallel => "parallel",
        crate::cli::Strategy::Rolling => "rolling",
        crate::cli::Strategy::Canary => "canary",
    }
}

/// At most this many steps are spelt out in a plan; the rest are counted.
const STEPS_SHOWN: usize = 20;

/// The plan's lines on how the targets are gone through: the strategy,
/// the order, each step's contexts (run together: `--max-parallel` per
/// step) and the pauses between steps. `steps` index `names`.
pub(crate) fn strategy_lines(
    w: &crate::settings::WriteSettings,
    names: &[String],
    steps: &[Vec<usize>],
    protected: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    use crate::cli::Strategy;
    let shown = |i: &usize| plan_name(&names[*i], protected(&names[*i]));
    let list = |step: &[usize]| step.iter().map(shown).collect::<Vec<_>>().join(", ");
    let pause = w.pause.map(crate::output::duration);
    let per_step = |n: Option<usize>, default: &str| match n {
        Some(n) => format!(
            "at most {} at once (--max-parallel {n})",
            crate::output::count(n as u64, "context")
        ),
        None => default.to_string(),
    };
    let mut out = Vec::new();
    let head = match w.strategy {
        // The default, every target at once: nothing to spell out.
        Strategy::Parallel if steps.len() <= 1 => return out,
        _ if names.len() == 1 => {
            out.push(format!(
                "strategy: {}: one target",
                strategy_word(w.strategy)
            ));
            return out;
        }
        Strategy::Parallel => format!(
            "strategy: parallel in {} steps, {}; a failure does not stop the others",
            steps.len(),
            per_step(w.max_parallel, "")
        ),
        Strategy::Rolling => format!(
            "strategy: rolling in {}, {}, {}; stops at the first failure",
            crate::output::count(steps.len() as u64, "step"),
            per_step(w.max_parallel, "one context at a time"),
            match &pause {
                Some(p) => format!("{p} pause between steps"),
                None => "no pause between steps".into(),
            }
        ),
        Strategy::Canary => format!(
            "strategy: canary: {} alone first, then the rest only if it succeeded ({}), {}; stops at the first failure",
            steps.first().map(|s| list(s)).unwrap_or_default(),
            per_step(w.max_parallel, "all at once"),
            match &pause {
                Some(p) => format!("{p} pause between steps"),
                None => "no pause between steps".into(),
            }
        ),
    };
    out.push(head);
    let order: Vec<String> = steps.iter().flatten().map(shown).collect();
    out.push(format!("  order: {}", order.join(", ")));
    for (si, step) in steps.iter().enumerate().take(STEPS_SHOWN) {
        if si > 0
            && let Some(p) = &pause
        {
            out.push(format!("  pause {p}"));
        }
        let canary = if w.strategy == Strategy::Canary && si == 0 {
            " (canary)"
        } else {
            ""
        };
        out.push(format!(
            "  step {}{canary}: {}{}",
            si + 1,
            list(step),
            if step.len() > 1 {
                format!(" ({} at once)", step.len())
            } else {
                String::new()
            }
        ));
    }
    if steps.len() > STEPS_SHOWN {
        let rest = &steps[STEPS_SHOWN..];
        out.push(format!(
            "  ... and {} more {} ({} contexts), in the order above",
            rest.len(),
            if rest.len() == 1 { "step" } else { "steps" },
            rest.iter().map(Vec::len).sum::<usize>()
        ));
    }
    out
}

/// The question: "Type the target context's name to confirm", or for
/// several "Type the names of the 3 target contexts to confirm
/// (comma-separated)".
pub(crate) fn question(n: usize) -> String {
    if n == 1 {
        "Type the target context's name to confirm".into()
    } else {
        format!("Type the names of the {n} target contexts to confirm (comma-separated)")
    }
}

/// Asks on the terminal for the target names (the question on stderr, the
/// answer a line of stdin, edited by the terminal as usual); returns what
/// was typed, checked by [`confirm_typed`]. Ctrl-D refuses at once.
pub(crate) fn prompt(targets: &[String]) -> Result<String, CliError> {
    use std::io::{BufRead, Write};
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{}: ", question(targets.len()));
    let _ = err.flush();
    drop(err);
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        // Ctrl-D: on an empty line the input ends; after some text, a
        // second Ctrl-D ends it without Enter.
        Ok(_) if !line.ends_with('\n') => {
            eprintln!();
            Err(CliError::refused(
                "the confirmation was ended with Ctrl-D instead of Enter; nothing was changed",
            ))
        }
        Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Err(CliError::new(
            crate::error::ExitCode::Interrupted,
            "interrupted at the confirmation prompt; nothing was changed",
        )),
        Err(e) => Err(CliError::refused(format!(
            "could not read the confirmation ({e}); nothing was changed"
        ))),
    }
}

/// Splits a typed confirmation (`a, b,c`) into names.
pub(crate) fn typed_names(typed: &str) -> Vec<String> {
    let mut v: Vec<String> = typed
        .split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// What was missing from, or extra in, a confirmation; `None` when it
/// names exactly the targets.
fn mismatch(targets: &[String], typed: &str) -> Option<String> {
    let got = typed_names(typed);
    let mut want: Vec<String> = targets.to_vec();
    want.sort();
    want.dedup();
    if got == want {
        return None;
    }
    let missing: Vec<&str> = want
        .iter()
        .filter(|w| !got.contains(w))
        .map(String::as_str)
        .collect();
    let extra: Vec<&str> = got
        .iter()
        .filter(|g| !want.contains(g))
        .map(String::as_str)
        .collect();
    let mut why = Vec::new();
    if !missing.is_empty() {
        why.push(format!("missing {}", missing.join(", ")));
    }
    if !extra.is_empty() {
        why.push(format!("not a target: {}", extra.join(", ")));
    }
    Some(why.join("; "))
}

/// Checks that `--yes-i-typed` names exactly `targets`, in any order;
/// never widens anything. The refusal (exit 4) says what was missing or
/// extra and shows the flag that would match.
pub(crate) fn confirm(targets: &[String], typed: &str) -> Result<(), CliError> {
    match mismatch(targets, typed) {
        None => Ok(()),
        Some(why) => Err(CliError::refused(format!(
            "the confirmation does not name exactly the targets ({why}); nothing was changed"
        ))
        .with_hint(format!("--yes-i-typed={}", targets.join(",")))),
    }
}

/// The same check for names typed at the prompt. The refusal says what was
/// typed and what was expected; it does not show the flag that skips the
/// question (that is for scripts).
pub(crate) fn confirm_typed(targets: &[String], typed: &str) -> Result<(), CliError> {
    let Some(why) = mismatch(targets, typed) else {
        return Ok(());
    };
    let typed = typed.trim();
    let typed = if typed.is_empty() {
        "nothing".to_string()
    } else {
        format!("`{typed}`")
    };
    let mut want = targets.to_vec();
    want.sort();
    Err(CliError::refused(format!(
        "you typed {typed}, expected `{}` ({why}); nothing was changed",
        want.join(", ")
    ))
    .with_hint(if want.len() == 1 {
        "type the target context's name exactly".to_string()
    } else {
        "type every target context's name exactly, in any order, separated by commas or spaces"
            .to_string()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;
    use crate::select::Target;

    fn config() -> Config {
        let yaml = r#"apiVersion: qctl/v1
clusters:
  - { name: c, server: "redis://127.0.0.1:1" }
contexts:
  - { name: prod, cluster: c, protected: true }
  - { name: ro, cluster: c, allowed-actions: [requeue] }
  - { name: none, cluster: c, allowed-actions: [] }
  - { name: staging, cluster: c }
"#;
        crate::contexts::from_text(std::path::Path::new("t.yaml"), yaml).unwrap()
    }

    fn set(names: &[(&str, bool)]) -> TargetSet {
        TargetSet {
            targets: names
                .iter()
                .map(|(n, l)| Target {
                    name: n.to_string(),
                    literal: *l,
                })
                .collect(),
            typed_order: names.iter().map(|(n, _)| n.to_string()).collect(),
        }
    }

    #[test]
    fn protected_needs_a_literal_name() {
        let c = config();
        let a = admit(
            &c,
            &set(&[("prod", false), ("staging", false)]),
            "purge-dlq",
            &|_| None,
        );
        assert_eq!(a.targets, vec!["staging"]);
        assert_eq!(a.skipped[0].0, "prod");
        assert!(
            a.skipped[0].1.contains("--context prod"),
            "{}",
            a.skipped[0].1
        );
        let a = admit(&c, &set(&[("prod", true)]), "purge-dlq", &|_| None);
        assert_eq!(a.targets, vec!["prod"]);
    }

    #[test]
    fn allowed_actions_limit_the_verbs() {
        let c = config();
        let a = admit(
            &c,
            &set(&[("ro", true), ("none", true)]),
            "purge-dlq",
            &|_| None,
        );
        assert!(a.targets.is_empty());
        assert!(a.skipped[0].1.contains("leaves out purge-dlq"));
        assert!(a.skipped[1].1.contains("empty"));
        let a = admit(&c, &set(&[("ro", true)]), "requeue", &|_| None);
        assert_eq!(a.targets, vec!["ro"]);
    }

    #[test]
    fn confirmation_names_exactly_the_targets() {
        let t = vec!["prod-eu".to_string(), "staging".to_string()];
        assert!(confirm(&t, "staging,prod-eu").is_ok());
        assert!(confirm(&t, " prod-eu , staging ").is_ok());
        assert!(confirm(&t, "prod-eu staging").is_ok());
        let e = confirm(&t, "prod-eu").unwrap_err();
        assert_eq!(e.code, ExitCode::Refused);
        assert!(e.message.contains("missing staging"), "{}", e.message);
        assert_eq!(e.hint.as_deref(), Some("--yes-i-typed=prod-eu,staging"));
        let e = confirm(&t, "prod-eu,staging,prod-us").unwrap_err();
        assert!(e.message.contains("not a target: prod-us"), "{}", e.message);
        assert!(confirm(&t, "").is_err());
        assert!(confirm(&t, "prod-*").is_err(), "no globs in a confirmation");
    }

    #[test]
    fn a_refusal_at_the_prompt_shows_no_bypass_flag() {
        let t = vec!["staging".to_string()];
        assert!(confirm_typed(&t, "staging").is_ok());
        let e = confirm_typed(&t, "stagin").unwrap_err();
        assert_eq!(e.code, ExitCode::Refused);
        assert!(
            e.message.contains("you typed `stagin`, expected `staging`"),
            "{}",
            e.message
        );
        assert!(!e.hint.unwrap_or_default().contains("--yes-i-typed"));
        let e = confirm_typed(&t, "  ").unwrap_err();
        assert!(e.message.contains("you typed nothing"), "{}", e.message);
    }

    fn write(
        strategy: crate::cli::Strategy,
        max_parallel: Option<usize>,
        pause_ms: Option<u64>,
    ) -> crate::settings::WriteSettings {
        crate::settings::WriteSettings {
            dry_run: true,
            yes_i_typed: None,
            strategy,
            max_parallel,
            pause: pause_ms.map(std::time::Duration::from_millis),
        }
    }

    #[test]
    fn plans_spell_out_the_strategy() {
        use crate::cli::Strategy;
        let names: Vec<String> = ["a", "prod", "c"].iter().map(|s| s.to_string()).collect();
        let prot = |n: &str| n == "prod";
        let steps = super::super::strategy::steps(Strategy::Rolling, 3, 0, Some(2));
        let l = strategy_lines(
            &write(Strategy::Rolling, Some(2), Some(1500)),
            &names,
            &steps,
            &prot,
        );
        assert_eq!(
            l,
            vec![
                "strategy: rolling in 2 steps, at most 2 contexts at once (--max-parallel 2), 1s 500ms pause between steps; stops at the first failure",
                "  order: a, prod (protected), c",
                "  step 1: a, prod (protected) (2 at once)",
                "  pause 1s 500ms",
                "  step 2: c",
            ]
        );
        let steps = super::super::strategy::steps(Strategy::Canary, 3, 2, None);
        let l = strategy_lines(&write(Strategy::Canary, None, None), &names, &steps, &prot);
        assert_eq!(
            l[0],
            "strategy: canary: c alone first, then the rest only if it succeeded (all at once), no pause between steps; stops at the first failure"
        );
        assert_eq!(l[1], "  order: c, a, prod (protected)");
        assert_eq!(l[2], "  step 1 (canary): c");
        assert_eq!(l[3], "  step 2: a, prod (protected) (2 at once)");
        let steps = super::super::strategy::steps(Strategy::Parallel, 3, 0, None);
        let l = strategy_lines(
            &write(Strategy::Parallel, None, None),
            &names,
            &steps,
            &prot,
        );
        assert!(l.is_empty(), "the default says nothing: {l:?}");
        let l = strategy_lines(
            &write(Strategy::Rolling, None, None),
            &names[..1],
            &[vec![0]],
            &prot,
        );
        assert_eq!(l, vec!["strategy: rolling: one target"]);
        let steps = super::super::strategy::steps(Strategy::Parallel, 3, 0, Some(2));
        let l = strategy_lines(
            &write(Strategy::Parallel, Some(2), None),
            &names,
            &steps,
            &prot,
        );
        assert_eq!(
            l[0],
            "strategy: parallel in 2 steps, at most 2 contexts at once (--max-parallel 2); a failure does not stop the others"
        );
        assert_eq!(l[2], "  step 1: a, prod (protected) (2 at once)");
        let many: Vec<String> = (0..30).map(|i| format!("c{i}")).collect();
        let steps = super::super::strategy::steps(Strategy::Rolling, 30, 0, None);
        let l = strategy_lines(
            &write(Strategy::Rolling, None, None),
            &many,
            &steps,
            &|_| false,
        );
        assert_eq!(l.len(), 2 + 20 + 1, "{l:?}");
        assert_eq!(
            l.last().unwrap(),
            "  ... and 10 more steps (10 contexts), in the order above"
        );
    }

    #[test]
    fn the_question_reads_well_for_one_and_several() {
        assert_eq!(question(1), "Type the target context's name to confirm");
        assert_eq!(
            question(3),
            "Type the names of the 3 target contexts to confirm (comma-separated)"
        );
    }
}
