//! `--context` / `-l` / `-A` / `QCTL_CONTEXT` / `current-context` -> the
//! ordered list of target contexts (SPEC section 3).
//!
//! This is where a prod cluster gets hit by mistake, so the rules are strict
//! and spelled out: a disabled context is reached only when named literally;
//! a glob or selector that matches nothing is an error, not an empty no-op;
//! targets come back in file order, with the order the user typed kept aside
//! for `compare`'s baseline and canary's first target.

use crate::contexts::{Config, did_you_mean};
use crate::error::{CliError, Result};
use std::collections::BTreeMap;

/// What the user asked for on the command line and in the environment.
#[derive(Debug, Default, Clone)]
pub(crate) struct SelectArgs {
    /// `--context` values as typed (each may hold a comma list).
    pub(crate) contexts: Vec<String>,
    pub(crate) selector: Option<String>,
    pub(crate) all: bool,
    /// `QCTL_CONTEXT`.
    pub(crate) env_context: Option<String>,
}

/// One selected context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) name: String,
    /// Named literally in `--context` (not through a glob, `-l`, `-A`,
    /// `QCTL_CONTEXT` or `current-context`): what the write gate asks of a
    /// protected context.
    pub(crate) literal: bool,
}

/// The selection: targets in file order, and the same names in the order
/// the user typed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetSet {
    pub(crate) targets: Vec<Target>,
    pub(crate) typed_order: Vec<String>,
}

impl TargetSet {
    pub(crate) fn names(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.name.as_str()).collect()
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// An "unknown context" error with a did-you-mean (exit 1).
pub(crate) fn unknown_context(config: &Config, name: &str) -> CliError {
    let e = CliError::failure(format!("unknown context `{name}`"));
    match did_you_mean(name, config.contexts.iter().map(|c| c.name.as_str())) {
        Some(s) => e.with_hint(format!("did you mean `{s}`?")),
        None => e.with_hint("`qctl config get-contexts` lists the contexts"),
    }
}

/// Splits `--context a,b --context c` into names.
pub(crate) fn split_names(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Resolves the selection.
pub(crate) fn select(config: &Config, args: &SelectArgs) -> Result<TargetSet> {
    let selector = args
        .selector
        .as_deref()
        .map(|s| {
            Selector::parse(s).map_err(|e| {
                // A one-requirement selector: name it once, not twice.
                let e = e.strip_prefix(&format!("`{}`: ", s.trim())).unwrap_or(&e);
                CliError::usage(format!("invalid selector `{s}`: {e}")).with_hint(
                    "selectors look like env=prod,region in (us-east-1,us-west-2),!canary",
                )
            })
        })
        .transpose()?;
    if args.all && !args.contexts.is_empty() {
        return Err(
            CliError::usage("--all-contexts and --context do not go together")
                .with_hint("use one: -A for every enabled context, or --context NAME"),
        );
    }
    let typed = split_names(&args.contexts);
    if !args.contexts.is_empty() && typed.is_empty() {
        return Err(CliError::usage("--context was given no name"));
    }
    // (name, literal) in typed order; duplicates removed later.
    let mut picked: Vec<(String, bool)> = Vec::new();
    if !typed.is_empty() {
        picked = expand_names(config, &typed, true)?;
    } else if let Some(sel) = &selector {
        picked = config
            .contexts
            .iter()
            .filter(|c| c.enabled && sel.matches(&c.labels))
            .map(|c| (c.name.clone(), false))
            .collect();
        if picked.is_empty() {
            return Err(CliError::failure(format!(
                "no enabled context matches the selector `{}`",
                args.selector.as_deref().unwrap_or_default()
            ))
            .with_hint("`qctl config get-contexts` shows each context's labels"));
        }
    } else if args.all {
        picked = config
            .contexts
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.name.clone(), false))
            .collect();
        if picked.is_empty() {
            return Err(
                CliError::failure("no enabled contexts in the contexts file")
                    .with_hint("add contexts (see config.example.yaml), or enable one"),
            );
        }
    } else if let Some(env) = args.env_context.as_deref().filter(|s| !s.trim().is_empty()) {
        let names = split_names(&[env.to_string()]);
        picked = expand_names(config, &names, false).map_err(|e| CliError {
            message: format!("QCTL_CONTEXT: {}", e.message),
            ..e
        })?;
    } else if let Some(cc) = &config.current_context {
        if config.context(cc).is_none() {
            return Err(CliError::failure(format!(
                "current-context `{cc}` is not defined in the contexts file"
            ))
            .with_hint("run `qctl config use-context NAME` to pick another"));
        }
        picked.push((cc.clone(), false));
    } else {
        let e = if config.sources.is_empty() {
            CliError::failure("no contexts file found, so no context is selected").with_hint(
                "create ~/.config/qctl/config.yaml (see config.example.yaml) or pass --config PATH",
            )
        } else {
            CliError::failure("no context selected and no current-context set").with_hint(
                "run `qctl config use-context NAME`, or pass --context NAME, -l SELECTOR or -A",
            )
        };
        return Err(e);
    }
    // A selector narrows an explicit list as well.
    if let Some(sel) = &selector
        && !typed.is_empty()
    {
        picked.retain(|(name, _)| config.context(name).is_some_and(|c| sel.matches(&c.labels)));
        if picked.is_empty() {
            return Err(CliError::failure(format!(
                "none of the contexts named match the selector `{}`",
                args.selector.as_deref().unwrap_or_default()
            )));
        }
    }
    // Deduplicate: a context named literally anywhere counts as literal.
    let mut typed_order: Vec<String> = Vec::new();
    let mut literal: BTreeMap<String, bool> = BTreeMap::new();
    for (name, lit) in picked {
        let e = literal.entry(name.clone()).or_insert_with(|| {
            typed_order.push(name.clone());
            false
        });
        *e |= lit;
    }
    let targets = config
        .contexts
        .iter()
        .filter_map(|c| {
            literal.get(&c.name).map(|lit| Target {
                name: c.name.clone(),
                literal: *lit,
            })
        })
        .collect();
    Ok(TargetSet {
        targets,
        typed_order,
    })
}

/// Expands names and globs in typed order. Globs reach enabled contexts only;
/// a literal name reaches a disabled one too.
fn expand_names(config: &Config, names: &[String], from_flag: bool) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for name in names {
        if is_glob(name) {
            let pat = glob::Pattern::new(name).map_err(|e| {
                CliError::usage(format!("--context `{name}` is not a valid pattern: {e}"))
            })?;
            let before = out.len();
            out.extend(
                config
                    .contexts
                    .iter()
                    .filter(|c| c.enabled && pat.matches(&c.name))
                    .map(|c| (c.name.clone(), false)),
            );
            if out.len() == before {
                return Err(
                    CliError::failure(format!("no enabled context matches `{name}`"))
                        .with_hint("`qctl config get-contexts` lists the contexts"),
                );
            }
        } else {
            if config.context(name).is_none() {
                return Err(unknown_context(config, name));
            }
            out.push((name.clone(), from_flag));
        }
    }
    Ok(out)
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A kubectl label selector: requirements joined by commas, all must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector(pub(crate) Vec<Requirement>);

pub(crate) fn valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 253
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

pub(crate) fn valid_label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn key(k: &str) -> std::result::Result<String, String> {
    let k = k.trim();
    if valid_label_key(k) {
        Ok(k.to_string())
    } else if k.is_empty() {
        Err("a requirement has no key".into())
    } else {
        Err(format!("`{k}` is not a valid label key"))
    }
}

fn value(v: &str) -> std::result::Result<String, String> {
    let v = v.trim();
    if valid_label_value(v) {
        Ok(v.to_string())
    } else {
        Err(format!("`{v}` is not a valid label value"))
    }
}

impl Selector {
    pub(crate) fn parse(s: &str) -> std::result::Result<Selector, String> {
        let mut parts = Vec::new();
        let mut depth = 0i32;
        let mut cur = String::new();
        for ch in s.chars() {
            match ch {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err("unbalanced `)`".into());
            }
            if ch == ',' && depth == 0 {
                parts.push(std::mem::take(&mut cur));
            } else {
                cur.push(ch);
            }
        }
        if depth != 0 {
            return Err("unbalanced `(`".into());
        }
        parts.push(cur);
        let mut reqs = Vec::new();
        for p in parts {
            let p = p.trim();
            if p.is_empty() {
                return Err("empty requirement (two commas, or a trailing comma?)".into());
            }
            reqs.push(Self::requirement(p)?);
        }
        Ok(Selector(reqs))
    }

    fn requirement(p: &str) -> std::result::Result<Requirement, String> {
        if let Some(rest) = p.strip_prefix('!') {
            if rest.contains(['=', '(', ' ']) {
                return Err(format!(
                    "`{p}`: `!` goes only before a bare key, as in !canary"
                ));
            }
            return Ok(Requirement::NotExists(key(rest)?));
        }
        if let Some(open) = p.find('(') {
            let head = p[..open].trim_end();
            let (k, op) = head
                .rsplit_once(char::is_whitespace)
                .ok_or_else(|| format!("`{p}`: expected `key in (a,b)` or `key notin (a,b)`"))?;
            let close = p.rfind(')').ok_or_else(|| format!("`{p}`: missing `)`"))?;
            if !p[close + 1..].trim().is_empty() {
                return Err(format!("`{p}`: unexpected text after `)`"));
            }
            let values = p[open + 1..close]
                .split(',')
                .map(value)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if values.iter().all(String::is_empty) {
                return Err(format!("`{p}`: the set is empty"));
            }
            return match op {
                "in" => Ok(Requirement::In(key(k)?, values)),
                "notin" => Ok(Requirement::NotIn(key(k)?, values)),
                other => Err(format!(
                    "`{p}`: unknown operator `{other}` (use in or notin)"
                )),
            };
        }
        if let Some((k, v)) = p.split_once("!=") {
            return Ok(Requirement::NotEq(key(k)?, value(v)?));
        }
        if let Some((k, v)) = p.split_once("==") {
            return Ok(Requirement::Eq(key(k)?, value(v)?));
        }
        if let Some((k, v)) = p.split_once('=') {
            return Ok(Requirement::Eq(key(k)?, value(v)?));
        }
        if p.contains(char::is_whitespace) {
            return Err(format!(
                "`{p}`: expected key=value, key!=value, key in (...), key notin (...), key or !key"
            ));
        }
        Ok(Requirement::Exists(key(p)?))
    }

    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Eq(k, v) => labels.get(k) == Some(v),
            Requirement::NotEq(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests;
