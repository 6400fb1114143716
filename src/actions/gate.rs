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

    #[test]
    fn the_question_reads_well_for_one_and_several() {
        assert_eq!(question(1), "Type the target context's name to confirm");
        assert_eq!(
            question(3),
            "Type the names of the 3 target contexts to confirm (comma-separated)"
        );
    }
}
