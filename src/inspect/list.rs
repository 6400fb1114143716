//! The shape every `get` verb shares: read the selected contexts (once, or
//! again and again under `--watch`), turn each answer into list items, and
//! print them as a table, JSON/YAML (`ListDoc`), NDJSON or names.

use super::read::{Poll, ReadTarget, Reader, WatchEnd, WatchSchedule, read_all, watch_all};
use crate::cli::OutputFormat;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Outcome, Result};
use crate::output::{ListDoc, Styled};
use crate::settings::Settings;
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// How one kind of list turns a context's answer into items and rows.
pub(crate) trait ListView {
    /// What the reader returns for one context.
    type Out;
    type Item: Serialize;
    /// The document kind (`QueueList`, ...).
    const KIND: &'static str;
    /// Items (in display order) and notes for stderr.
    fn items(&self, out: Self::Out) -> (Vec<Self::Item>, Vec<String>);
    fn headers(&self, wide: bool) -> Vec<&'static str>;
    fn row(&self, item: &Self::Item, wide: bool) -> Vec<Styled>;
    /// A row standing for a failed context, when the view has one.
    fn error_row(
        &self,
        _e: &ContextError,
        _color: Option<&str>,
        _wide: bool,
    ) -> Option<Vec<Styled>> {
        None
    }
    /// The `-o name` line of an item.
    fn name(&self, item: &Self::Item) -> String;
}

/// One context's place in the output: its items or its error.
enum Slot<I> {
    Items(Vec<I>),
    Error(ContextError),
}

/// Everything a list verb needs besides its reader and view.
pub(crate) struct ListRun<'a> {
    pub(crate) config: &'a Config,
    pub(crate) settings: &'a Settings,
    pub(crate) names: Vec<String>,
    pub(crate) targets: Vec<std::result::Result<Arc<ReadTarget>, ContextError>>,
    /// Added to `--timeout` per context (e.g. a `--sample` pause).
    pub(crate) extra_budget: Duration,
    pub(crate) watch: Option<WatchSchedule>,
    /// The command line, for the `--watch` title.
    pub(crate) title: String,
}

impl<'a> ListRun<'a> {
    /// A list verb over the current selection (`--context`, `-l`, `-A`).
    pub(crate) fn for_selection(
        config: &'a Config,
        settings: &'a Settings,
        watch: &crate::cli::WatchArgs,
        title: impl Into<String>,
    ) -> Result<ListRun<'a>> {
        let set = crate::select::select(config, &settings.select)?;
        let names: Vec<String> = set.names().into_iter().map(String::from).collect();
        Ok(ListRun {
            config,
            settings,
            targets: super::read::targets(config, settings, &names),
            names,
            extra_budget: Duration::ZERO,
            watch: super::watch_schedule(config, watch),
            title: title.into(),
        })
    }

    pub(crate) fn run<R, V>(self, reader: R, view: &V) -> Result<ExitCode>
    where
        R: Reader,
        V: ListView<Out = R::Out>,
    {
        match self.watch {
            Some(schedule) => self.watch(reader, view, schedule),
            None => self.once(reader, view),
        }
    }

    fn once<R, V>(self, reader: R, view: &V) -> Result<ExitCode>
    where
        R: Reader,
        V: ListView<Out = R::Out>,
    {
        let results = read_all(
            self.settings,
            &self.names,
            self.targets,
            reader,
            self.extra_budget,
        );
        let mut outcome = Outcome::default();
        let mut slots = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(out) => {
                    let (items, notes) = view.items(out);
                    for n in notes {
                        self.settings.printer.note(&format!("note: {n}"));
                    }
                    outcome.succeeded += 1;
                    slots.push(Slot::Items(items));
                }
                Err(e) => {
                    outcome.failed += 1;
                    slots.push(Slot::Error(e));
                }
            }
        }
        let p = &self.settings.printer;
        match p.format {
            OutputFormat::Json | OutputFormat::Yaml => {
                let mut items = Vec::new();
                let mut errors = Vec::new();
                for s in slots {
                    match s {
                        Slot::Items(i) => items.extend(i),
                        Slot::Error(e) => errors.push(e),
                    }
                }
                p.document(&ListDoc::new(V::KIND, items, errors))?;
            }
            OutputFormat::Name => {
                let mut names = Vec::new();
                for s in &slots {
                    if let Slot::Items(items) = s {
                        names.extend(items.iter().map(|i| view.name(i)));
                    }
                }
                p.names(names)?;
                report_errors(&slots);
            }
            OutputFormat::Table | OutputFormat::Wide => {
                let refs: Vec<&Slot<V::Item>> = slots.iter().collect();
                let text = render(
                    self.config,
                    self.settings,
                    view,
                    &refs,
                    p.format == OutputFormat::Wide,
                    true,
                );
                if text.starts_with("No resources") {
                    p.note(text.trim_end());
                } else {
                    p.stdout(&text)?;
                }
                report_errors(&slots);
            }
        }
        Ok(outcome.exit_code())
    }

    fn watch<R, V>(self, reader: R, view: &V, schedule: WatchSchedule) -> Result<ExitCode>
    where
        R: Reader,
        V: ListView<Out = R::Out>,
    {
        let ListRun {
            config,
            settings,
            names,
            targets,
            extra_budget,
            title,
            ..
        } = self;
        let p = settings.printer.clone();
        let redraw = matches!(p.format, OutputFormat::Table | OutputFormat::Wide)
            && std::io::stdout().is_terminal();
        let mut state: Vec<Option<Slot<V::Item>>> = names.iter().map(|_| None).collect();
        let mut printed_header = false;
        let mut failure: Option<CliError> = None;
        let mut any_answer = false;
        let end = watch_all(
            settings,
            targets,
            &names,
            reader,
            schedule,
            extra_budget,
            |polls: Vec<Poll<R::Out>>| {
                let mut text = String::new();
                for poll in polls {
                    any_answer |= poll.result.is_ok();
                    let (slot, notes) = match poll.result {
                        Ok(out) => {
                            let (items, notes) = view.items(out);
                            (Slot::Items(items), notes)
                        }
                        Err(e) => (Slot::Error(e), Vec::new()),
                    };
                    for n in notes {
                        p.note(&format!("note: {n}"));
                    }
                    match p.format {
                        OutputFormat::Json | OutputFormat::Yaml => {
                            let (items, errors) = match &slot {
                                Slot::Items(i) => (i.iter().collect::<Vec<_>>(), Vec::new()),
                                Slot::Error(e) => (Vec::new(), vec![e]),
                            };
                            let doc = PollDoc {
                                api_version: "qctl/v1",
                                kind: V::KIND,
                                context: &poll.context,
                                time: poll.time.to_string(),
                                items,
                                errors,
                            };
                            if p.format == OutputFormat::Json {
                                text.push_str(
                                    &serde_json::to_string(&doc).expect("documents serialise"),
                                );
                                text.push('\n');
                            } else {
                                text.push_str("---\n");
                                text.push_str(&serde_saphyr::to_string(&doc).unwrap_or_default());
                            }
                        }
                        OutputFormat::Name => {
                            if let Slot::Items(items) = &slot {
                                for i in items {
                                    text.push_str(&view.name(i));
                                    text.push('\n');
                                }
                            }
                            report_errors(std::slice::from_ref(&slot));
                        }
                        OutputFormat::Table | OutputFormat::Wide if !redraw => {
                            // Rendered with the header so columns line up
                            // with the first print; the header is printed once.
                            let t = render(
                                config,
                                settings,
                                view,
                                &[&slot],
                                p.format == OutputFormat::Wide,
                                true,
                            );
                            if !t.is_empty() && !t.starts_with("No resources") {
                                let body = if printed_header && !p.no_headers {
                                    t.split_once('\n').map(|(_, b)| b).unwrap_or("")
                                } else {
                                    &t
                                };
                                printed_header = true;
                                text.push_str(body);
                            }
                            report_errors(std::slice::from_ref(&slot));
                        }
                        _ => {}
                    }
                    state[poll.index] = Some(slot);
                }
                if redraw {
                    let slots: Vec<&Slot<V::Item>> = state.iter().flatten().collect();
                    text.push_str("\x1b[H\x1b[2J");
                    text.push_str(&format!(
                        "Every {}: {}    {}\n\n",
                        humantime::format_duration(schedule.interval),
                        title,
                        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC")
                    ));
                    text.push_str(&render(
                        config,
                        settings,
                        view,
                        &slots,
                        p.format == OutputFormat::Wide,
                        true,
                    ));
                    for s in &slots {
                        if let Slot::Error(e) = s {
                            text.push_str(&e.line());
                            text.push('\n');
                        }
                    }
                }
                match p.stdout(&text) {
                    Ok(()) => true,
                    Err(e) => {
                        failure = Some(e);
                        false
                    }
                }
            },
        );
        match (end, failure) {
            (_, Some(e)) if e.code != ExitCode::Ok => Err(e),
            // Every context failed before it could be polled (an unset
            // password variable...): nothing to watch.
            (WatchEnd::Stopped, _) if !any_answer => Ok(ExitCode::Failure),
            // Ctrl-C or SIGTERM: SPEC section 7's 130, as for any
            // interrupted command (a closed stdout stays 0).
            (WatchEnd::Signal, _) => Ok(ExitCode::Interrupted),
            (WatchEnd::Stopped, _) => Ok(ExitCode::Ok),
        }
    }
}

/// Rows of the given slots (error rows where the view has them).
fn render<V: ListView>(
    config: &Config,
    settings: &Settings,
    view: &V,
    slots: &[&Slot<V::Item>],
    wide: bool,
    headers: bool,
) -> String {
    let mut rows = Vec::new();
    for s in slots {
        match s {
            Slot::Items(items) => rows.extend(items.iter().map(|i| view.row(i, wide))),
            Slot::Error(e) => {
                let color = config.context(&e.context).and_then(|c| c.color.clone());
                if let Some(r) = view.error_row(e, color.as_deref(), wide) {
                    rows.push(r);
                }
            }
        }
    }
    let mut printer = settings.printer.clone();
    printer.no_headers |= !headers;
    if rows.is_empty() {
        return if headers && slots.iter().all(|s| matches!(s, Slot::Items(_))) {
            "No resources found.\n".into()
        } else {
            String::new()
        };
    }
    printer.render_table(&view.headers(wide), rows)
}

/// One `--watch` poll of one context, as an NDJSON line or a YAML document.
#[derive(Serialize)]
struct PollDoc<'a, T: Serialize> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    context: &'a str,
    /// When the poll's answer arrived (RFC 3339, UTC).
    time: String,
    items: Vec<&'a T>,
    errors: Vec<&'a ContextError>,
}

fn report_errors<I>(slots: &[Slot<I>]) {
    for s in slots {
        if let Slot::Error(e) = s {
            eprintln!("{}", e.line());
        }
    }
}
