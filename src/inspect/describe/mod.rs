//! `qctl describe cluster|queue|worker|job NAME`: everything qctl knows
//! about one thing, as `kubectl describe` shows it: titled sections of
//! `Key:  value` lines, one block per selected context that has the thing
//! (each block names its context), and with `-o json|yaml` one document
//! (`ClusterDescription`, `QueueDescription`, `WorkerDescription`,
//! `JobDescription`) whose `items` say the same, and whose `errors` name the
//! contexts that did not answer, as every list does.
//!
//! Also `qctl get job ID...` (`locate`): where each job is, one row per
//! place, through the same per-system lookup as `describe job`.
//!
//! A thing that no answering context has is a failure (exit 1) naming the
//! contexts searched, with a did-you-mean where qctl knows the names.

pub(crate) mod cluster;
pub(crate) mod job;
pub(crate) mod locate;
pub(crate) mod queue;
mod text;
pub(crate) mod worker;

use super::read::{Reader, read_all, targets};
use crate::cli::OutputFormat;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Outcome, Result};
use crate::output::ListDoc;
use crate::settings::Settings;
use serde::Serialize;
use std::time::Duration;
pub(crate) use text::Block;

/// What one context has of the thing described.
pub(crate) struct Described<T> {
    pub(crate) context: String,
    /// (document item, text block, `-o name` line), in display order.
    pub(crate) items: Vec<(T, Block, String)>,
    /// Said on stderr (hidden by `-q`).
    pub(crate) notes: Vec<String>,
    /// Names this context has, for a did-you-mean when nothing matched.
    pub(crate) known: Vec<String>,
}

impl<T> Default for Described<T> {
    fn default() -> Self {
        Described {
            context: String::new(),
            items: Vec::new(),
            notes: Vec::new(),
            known: Vec::new(),
        }
    }
}

/// The selected contexts, in file order.
pub(crate) fn selection(config: &Config, settings: &Settings) -> Result<Vec<String>> {
    let set = crate::select::select(config, &settings.select)?;
    Ok(set.names().into_iter().map(String::from).collect())
}

/// Reads every named context with `reader`.
pub(crate) fn read<R: Reader>(
    config: &Config,
    settings: &Settings,
    names: &[String],
    reader: R,
    extra_budget: Duration,
) -> Vec<std::result::Result<R::Out, ContextError>> {
    let t = targets(config, settings, names);
    read_all(settings, names, t, reader, extra_budget)
}

/// Prints what the contexts answered and folds it into an exit code. When
/// no answering context has the thing, `missing(contexts, known names)`
/// is the error (exit 1).
pub(crate) fn finish<T: Serialize>(
    settings: &Settings,
    kind: &'static str,
    results: Vec<std::result::Result<Described<T>, ContextError>>,
    missing: impl FnOnce(&[String], Vec<String>) -> CliError,
) -> Result<ExitCode> {
    let p = &settings.printer;
    let mut outcome = Outcome::default();
    let mut items = Vec::new();
    let mut blocks = Vec::new();
    let mut names = Vec::new();
    let mut errors = Vec::new();
    let mut answered: Vec<String> = Vec::new();
    let mut known: Vec<String> = Vec::new();
    for r in results {
        match r {
            Ok(d) => {
                outcome.succeeded += 1;
                answered.push(d.context.clone());
                for n in &d.notes {
                    p.note(&format!("note: {n}"));
                }
                if d.items.is_empty() {
                    for k in d.known {
                        if !known.contains(&k) {
                            known.push(k);
                        }
                    }
                }
                for (item, block, name) in d.items {
                    items.push(item);
                    blocks.push(block);
                    names.push(name);
                }
            }
            Err(e) => {
                outcome.failed += 1;
                errors.push(e);
            }
        }
    }
    let found = !items.is_empty();
    match p.format {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns => {
            p.document(&ListDoc::new(kind, items, errors.clone()))?;
        }
        OutputFormat::Name => {
            p.names(names)?;
            for e in &errors {
                eprintln!("{}", e.line());
            }
        }
        OutputFormat::Table | OutputFormat::Wide => {
            let text: Vec<String> = blocks.iter().map(Block::render).collect();
            if !text.is_empty() {
                p.stdout(&text.join("\n"))?;
            }
            for e in &errors {
                eprintln!("{}", e.line());
            }
        }
    }
    if !found && outcome.succeeded > 0 {
        return Err(missing(&answered, known));
    }
    Ok(outcome.exit_code())
}

/// Contexts as a phrase: `context a`, `contexts a, b`.
pub(crate) fn contexts_phrase(names: &[String]) -> String {
    match names {
        [one] => format!("context {one}"),
        many => format!("contexts {}", many.join(", ")),
    }
}
