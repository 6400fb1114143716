//! The shape every `get` verb shares: read the selected contexts (once, or
//! again and again under `--watch`), turn each answer into list items, and
//! print them as a table, JSON/YAML (`ListDoc`), NDJSON or names.

use super::read::{Poll, ReadTarget, Reader, WatchEnd, WatchSchedule, read_all, watch_all};
use crate::cli::OutputFormat;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Outcome, Result};
use crate::output::columns::{FieldPath, SortKey, cell, check_root};
use crate::output::{ListDoc, Styled, escape_controls};
use crate::settings::Settings;
use serde::Serialize;
use std::collections::HashMap;
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
    /// The top-level fields of an item's JSON, in document order: what
    /// `--sort-by` and `-o custom-columns` take (the `--help` lists them).
    const FIELDS: &'static [&'static str];
    /// Short names `--sort-by` also takes: (`age`, `oldest_age_s`).
    const SORT_ALIASES: &'static [(&'static str, &'static str)] = &[];
    /// What NAME arguments name (`queue`, `worker`), for messages.
    const NOUN: &'static str = "item";
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
    /// The names a NAME argument finds an item by (a queue's name and key).
    fn match_names<'i>(&self, _item: &'i Self::Item) -> Vec<&'i str> {
        Vec::new()
    }
    /// Sums over the items of the contexts that answered (`totals` in
    /// JSON), where the list has them.
    fn totals(&self, _items: &[&Self::Item]) -> Option<serde_json::Value> {
        None
    }
    /// The TOTAL row of a table.
    fn total_row(&self, _totals: &serde_json::Value, _wide: bool) -> Option<Vec<Styled>> {
        None
    }
    /// Under `--watch` on a terminal: an item's key and the figures kept
    /// from each poll for its trend columns.
    fn trend_sample(&self, _item: &Self::Item) -> Option<(String, Vec<Option<u64>>)> {
        None
    }
    /// The trend columns' headers (none: the list has no trends).
    fn trend_headers(&self) -> &'static [&'static str] {
        &[]
    }
    /// The trend cells of one item from its history.
    fn trend_cells(&self, _history: &Trend) -> Vec<Styled> {
        Vec::new()
    }
}

/// The last polls of one item's figures, for `--watch`'s trend columns.
#[derive(Debug, Default)]
pub(crate) struct Trend {
    points: std::collections::VecDeque<(std::time::Instant, Vec<Option<u64>>)>,
}

/// Polls a trend keeps (the sparkline's width).
pub(crate) const TREND_POINTS: usize = 20;

impl Trend {
    fn push(&mut self, at: std::time::Instant, values: Vec<Option<u64>>) {
        if self.points.len() == TREND_POINTS {
            self.points.pop_front();
        }
        self.points.push_back((at, values));
    }

    /// Figure `i` over the kept polls, oldest first.
    pub(crate) fn series(&self, i: usize) -> Vec<Option<u64>> {
        self.points
            .iter()
            .map(|(_, v)| v.get(i).copied().flatten())
            .collect()
    }

    /// Change of figure `i` per second between the last two polls; `None`
    /// before the second poll or where either reading is missing.
    pub(crate) fn change_per_s(&self, i: usize) -> Option<f64> {
        let n = self.points.len();
        if n < 2 {
            return None;
        }
        let (t0, a) = &self.points[n - 2];
        let (t1, b) = &self.points[n - 1];
        let (a, b) = (a.get(i).copied().flatten()?, b.get(i).copied().flatten()?);
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt > 0.0).then(|| (b as f64 - a as f64) / dt)
    }
}

/// `▁▂▃▅▇`: a series scaled between its own lowest and highest value; a
/// gap where a poll had no reading.
pub(crate) fn sparkline(series: &[Option<u64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let known: Vec<u64> = series.iter().flatten().copied().collect();
    let (Some(lo), Some(hi)) = (known.iter().min(), known.iter().max()) else {
        return "-".into();
    };
    series
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if hi == lo => BARS[0],
            Some(v) => BARS[(((v - lo) as f64 / (hi - lo) as f64) * 7.0).round() as usize],
        })
        .collect()
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
    /// `--sort-by`.
    pub(crate) sort: Option<SortKey>,
    /// NAME arguments (globs allowed): only the items they name.
    pub(crate) wanted: Vec<String>,
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
        Ok(Self::for_names(config, settings, names, watch, title))
    }

    /// A list verb over these contexts.
    pub(crate) fn for_names(
        config: &'a Config,
        settings: &'a Settings,
        names: Vec<String>,
        watch: &crate::cli::WatchArgs,
        title: impl Into<String>,
    ) -> ListRun<'a> {
        ListRun {
            config,
            settings,
            targets: super::read::targets(config, settings, &names),
            names,
            extra_budget: Duration::ZERO,
            watch: super::watch_schedule(config, watch),
            title: title.into(),
            sort: None,
            wanted: Vec::new(),
        }
    }

    /// `--sort-by` and NAME arguments.
    pub(crate) fn shaped(mut self, list: &crate::cli::ListArgs, wanted: &[String]) -> Self {
        self.sort = list.sort_by.clone();
        self.wanted = wanted.to_vec();
        self
    }

    pub(crate) fn run<R, V>(mut self, reader: R, view: &V) -> Result<ExitCode>
    where
        R: Reader,
        V: ListView<Out = R::Out>,
    {
        self.sort = self.sort.take().map(resolve_sort::<V>).transpose()?;
        check_columns::<V>(&self.settings.printer)?;
        let wanted = Wanted::parse(&self.wanted)?;
        match self.watch {
            Some(schedule) => self.watch(reader, view, schedule, wanted),
            None => self.once(reader, view, wanted),
        }
    }

    fn once<R, V>(self, reader: R, view: &V, mut wanted: Wanted) -> Result<ExitCode>
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
                    let (mut items, notes) = view.items(out);
                    for n in notes {
                        self.settings.printer.note(&format!("note: {n}"));
                    }
                    wanted.retain(view, &mut items);
                    outcome.succeeded += 1;
                    slots.push(Slot::Items(items));
                }
                Err(e) => {
                    outcome.failed += 1;
                    slots.push(Slot::Error(e));
                }
            }
        }
        let all_items: Vec<&V::Item> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Items(i) => Some(i.iter()),
                Slot::Error(_) => None,
            })
            .flatten()
            .collect();
        let totals = view.totals(&all_items);
        drop(all_items);
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
                if let Some(key) = &self.sort {
                    items = sort_items(items, key);
                }
                let mut doc = ListDoc::new(V::KIND, items, errors);
                doc.totals = totals;
                p.document(&doc)?;
            }
            OutputFormat::Name => {
                let mut names = Vec::new();
                let refs: Vec<&Slot<V::Item>> = slots.iter().collect();
                for e in entries(&refs, self.sort.as_ref()) {
                    if let Entry::Item(i) = e {
                        names.push(view.name(i));
                    }
                }
                p.names(names)?;
                report_errors(&slots);
            }
            OutputFormat::Table | OutputFormat::Wide | OutputFormat::CustomColumns => {
                let refs: Vec<&Slot<V::Item>> = slots.iter().collect();
                let shape = Shape {
                    wide: p.format == OutputFormat::Wide,
                    totals: totals.as_ref().filter(|_| outcome.succeeded > 1),
                    trends: None,
                };
                let text = render(
                    self.config,
                    view,
                    &entries(&refs, self.sort.as_ref()),
                    &shape,
                    p,
                );
                if text.starts_with("No resources") {
                    // Names that found nothing get their own error below.
                    if !wanted.literal_missing() {
                        p.note(text.trim_end());
                    }
                } else {
                    p.stdout(&text)?;
                }
                report_errors(&slots);
            }
        }
        let mut code = outcome.exit_code();
        if let Some(e) = wanted.missing::<V>(&self.names, outcome.failed > 0) {
            eprintln!("error: {}", escape_controls(&e.message));
            if let Some(h) = &e.hint {
                eprintln!("  hint: {}", escape_controls(h));
            }
            code = code.merge(ExitCode::Failure);
        }
        Ok(code)
    }

    fn watch<R, V>(
        self,
        reader: R,
        view: &V,
        schedule: WatchSchedule,
        wanted: Wanted,
    ) -> Result<ExitCode>
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
            sort,
            ..
        } = self;
        let p = settings.printer.clone();
        let tabular = matches!(
            p.format,
            OutputFormat::Table | OutputFormat::Wide | OutputFormat::CustomColumns
        );
        let redraw = tabular && std::io::stdout().is_terminal();
        let mut state: Vec<Option<Slot<V::Item>>> = names.iter().map(|_| None).collect();
        let mut aligner = Aligner::default();
        let mut trends: HashMap<String, Trend> = HashMap::new();
        let mut failure: Option<CliError> = None;
        let mut any_answer = false;
        let mut wanted = wanted;
        let mut entered = false;
        let end = watch_all(
            settings,
            targets,
            &names,
            reader,
            schedule,
            extra_budget,
            |polls: Vec<Poll<R::Out>>| {
                let mut text = String::new();
                if redraw && !entered {
                    // The alternate screen: a tall table redraws in place
                    // and the shell's screen comes back on exit.
                    text.push_str(ENTER_ALT_SCREEN);
                    entered = true;
                }
                let now = std::time::Instant::now();
                for poll in polls {
                    any_answer |= poll.result.is_ok();
                    let (slot, notes) = match poll.result {
                        Ok(out) => {
                            let (mut items, notes) = view.items(out);
                            wanted.retain(view, &mut items);
                            if let Some(key) = &sort {
                                items = sort_items(items, key);
                            }
                            if redraw {
                                for it in &items {
                                    if let Some((k, v)) = view.trend_sample(it) {
                                        trends.entry(k).or_default().push(now, v);
                                    }
                                }
                            }
                            (Slot::Items(items), notes)
                        }
                        Err(e) => (Slot::Error(e), Vec::new()),
                    };
                    for n in notes {
                        if redraw {
                            // Notes would scroll the redrawn screen.
                            continue;
                        }
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
                        _ if !redraw => {
                            // Piped: each poll's rows under one header, in
                            // the columns of the first poll (a new header
                            // when a value no longer fits).
                            let (headers, rows) = table_rows(
                                config,
                                view,
                                &entries(&[&slot], None),
                                &Shape {
                                    wide: p.format == OutputFormat::Wide,
                                    totals: None,
                                    trends: None,
                                },
                                &p,
                            );
                            if !rows.is_empty() {
                                text.push_str(&aligner.render(&p, &headers, &rows));
                            }
                            report_errors(std::slice::from_ref(&slot));
                        }
                        _ => {}
                    }
                    state[poll.index] = Some(slot);
                }
                if redraw {
                    let slots: Vec<&Slot<V::Item>> = state.iter().flatten().collect();
                    let shown = entries(&slots, sort.as_ref());
                    text.push_str("\x1b[H\x1b[2J");
                    text.push_str(&format!(
                        "Every {}: {}    {}\n\n",
                        humantime::format_duration(schedule.interval),
                        title,
                        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S UTC")
                    ));
                    let items: Vec<&V::Item> = shown
                        .iter()
                        .filter_map(|e| match e {
                            Entry::Item(i) => Some(*i),
                            Entry::Error(_) => None,
                        })
                        .collect();
                    let answered = slots.iter().filter(|s| matches!(s, Slot::Items(_))).count();
                    let totals = view.totals(&items).filter(|_| answered > 1);
                    let shape = Shape {
                        wide: p.format == OutputFormat::Wide,
                        totals: totals.as_ref(),
                        trends: Some(&trends),
                    };
                    text.push_str(&render(config, view, &shown, &shape, &p));
                    for e in &shown {
                        if let Entry::Error(e) = e {
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
        if entered {
            let _ = p.stdout(LEAVE_ALT_SCREEN);
        }
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

const ENTER_ALT_SCREEN: &str = "\x1b[?1049h";
const LEAVE_ALT_SCREEN: &str = "\x1b[?1049l";

/// One line of a list: an item, or a context that did not answer.
enum Entry<'s, I> {
    Item(&'s I),
    Error(&'s ContextError),
}

/// The lines of these slots: in the contexts' order, or with `--sort-by`
/// every item sorted and the failed contexts after them.
fn entries<'s, I: Serialize>(slots: &[&'s Slot<I>], sort: Option<&SortKey>) -> Vec<Entry<'s, I>> {
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for s in slots {
        match s {
            Slot::Items(i) if sort.is_some() => items.extend(i.iter()),
            Slot::Items(i) => out.extend(i.iter().map(Entry::Item)),
            Slot::Error(e) if sort.is_some() => errors.push(Entry::Error(e)),
            Slot::Error(e) => out.push(Entry::Error(e)),
        }
    }
    if let Some(key) = sort {
        out.extend(sort_items::<I, &I>(items, key).into_iter().map(Entry::Item));
        out.extend(errors);
    }
    out
}

/// `--sort-by` with its alias resolved and its field checked.
fn resolve_sort<V: ListView>(key: SortKey) -> Result<SortKey> {
    let mut key = key;
    if let Some((_, real)) = V::SORT_ALIASES
        .iter()
        .find(|(alias, _)| key.path.as_str() == format!(".{alias}"))
    {
        key.path = FieldPath::parse(real).expect("aliases name fields");
    }
    check_root(&key.path, V::FIELDS, "--sort-by").map_err(|e| {
        let aliases: Vec<&str> = V::SORT_ALIASES.iter().map(|(a, _)| *a).collect();
        let e = CliError::usage(e);
        if aliases.is_empty() {
            e
        } else {
            e.with_hint(format!("short names: {}", aliases.join(", ")))
        }
    })?;
    Ok(key)
}

/// `-o custom-columns`: every column's field is one of the list's.
fn check_columns<V: ListView>(p: &crate::output::Printer) -> Result<()> {
    for c in p.columns.iter().flat_map(|c| c.iter()) {
        check_root(
            &c.path,
            V::FIELDS,
            &format!("custom-columns `{}`", c.header),
        )
        .map_err(CliError::usage)?;
    }
    Ok(())
}

/// Items in `key`'s order; equal keys keep their order (the contexts').
pub(crate) fn sort_items<I: Serialize + ?Sized, T: std::borrow::Borrow<I>>(
    items: Vec<T>,
    key: &SortKey,
) -> Vec<T> {
    let mut keyed: Vec<(serde_json::Value, T)> = items
        .into_iter()
        .map(|i| (serde_json::to_value(i.borrow()).unwrap_or_default(), i))
        .collect();
    keyed.sort_by(|a, b| key.compare(&a.0, &b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// NAME arguments: globs or names; which of them found an item.
#[derive(Default)]
struct Wanted {
    patterns: Vec<(String, glob::Pattern, bool)>,
    /// Every name seen, for did-you-mean.
    seen: std::collections::BTreeSet<String>,
}

impl Wanted {
    fn parse(names: &[String]) -> Result<Wanted> {
        let mut patterns = Vec::new();
        for n in names {
            let p = glob::Pattern::new(n).map_err(|e| {
                CliError::usage(format!("`{n}` is not a valid name or pattern: {e}")).with_hint(
                    "globs take *, ? and [a-z]; quote them so the shell leaves them alone",
                )
            })?;
            patterns.push((n.clone(), p, false));
        }
        Ok(Wanted {
            patterns,
            seen: Default::default(),
        })
    }

    /// Keeps the items a pattern names (all when none was given).
    fn retain<V: ListView>(&mut self, view: &V, items: &mut Vec<V::Item>) {
        if self.patterns.is_empty() {
            return;
        }
        items.retain(|it| {
            let names = view.match_names(it);
            let mut keep = false;
            for (_, p, found) in &mut self.patterns {
                if names.iter().any(|n| p.matches(n)) {
                    *found = true;
                    keep = true;
                }
            }
            if self.seen.len() < 10_000 {
                self.seen.extend(names.iter().map(|n| n.to_string()));
            }
            keep
        });
    }

    fn literal_missing(&self) -> bool {
        self.patterns
            .iter()
            .any(|(n, _, f)| !f && !n.contains(['*', '?', '[']))
    }

    /// The error for names (not globs) that found nothing.
    fn missing<V: ListView>(&self, contexts: &[String], some_failed: bool) -> Option<CliError> {
        let missing: Vec<&str> = self
            .patterns
            .iter()
            .filter(|(n, _, found)| !found && !n.contains(['*', '?', '[']))
            .map(|(n, _, _)| n.as_str())
            .collect();
        let first = missing.first()?;
        let noun = V::NOUN;
        let names = missing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let place = if contexts.len() == 1 {
            format!("context `{}`", contexts[0])
        } else if some_failed {
            "the contexts that answered".to_string()
        } else {
            format!("any of the {} contexts", contexts.len())
        };
        let (noun_s, verb) = if missing.len() == 1 {
            (noun.to_string(), "is")
        } else {
            (format!("{noun}s"), "are")
        };
        let e = CliError::failure(format!("{noun_s} {names} {verb} not in {place}"));
        Some(
            match crate::output::did_you_mean(first, self.seen.iter().map(String::as_str)) {
                Some(s) => e.with_hint(format!("did you mean `{s}`?")),
                None => e.with_hint(format!(
                    "`qctl get {noun}s` lists them; globs such as '{first}*' match several"
                )),
            },
        )
    }
}

/// How a table is drawn.
struct Shape<'s> {
    wide: bool,
    /// The TOTAL row's figures.
    totals: Option<&'s serde_json::Value>,
    /// `--watch` trends on a terminal.
    trends: Option<&'s HashMap<String, Trend>>,
}

/// The headers and rows of these entries.
fn table_rows<V: ListView>(
    config: &Config,
    view: &V,
    entries: &[Entry<'_, V::Item>],
    shape: &Shape<'_>,
    p: &crate::output::Printer,
) -> (Vec<String>, Vec<Vec<Styled>>) {
    if p.format == OutputFormat::CustomColumns {
        let cols = p.columns.as_deref().map(Vec::as_slice).unwrap_or_default();
        let rows = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Item(i) => {
                    let v = serde_json::to_value(i).unwrap_or_default();
                    Some(
                        cols.iter()
                            .map(|c| Styled::plain(cell(c.path.get(&v))))
                            .collect(),
                    )
                }
                Entry::Error(_) => None,
            })
            .collect();
        return (cols.iter().map(|c| c.header.clone()).collect(), rows);
    }
    let mut headers: Vec<String> = view
        .headers(shape.wide)
        .into_iter()
        .map(String::from)
        .collect();
    let trend_headers = shape.trends.map(|_| view.trend_headers()).unwrap_or(&[]);
    headers.extend(trend_headers.iter().map(|h| h.to_string()));
    let mut rows = Vec::new();
    for e in entries {
        let mut row = match e {
            Entry::Item(i) => {
                let mut row = view.row(i, shape.wide);
                if let Some(trends) = shape.trends
                    && !trend_headers.is_empty()
                    && let Some(t) = view.trend_sample(i).and_then(|(k, _)| trends.get(&k))
                {
                    row.extend(view.trend_cells(t));
                }
                row
            }
            Entry::Error(e) => {
                let color = config.context(&e.context).and_then(|c| c.color.clone());
                match view.error_row(e, color.as_deref(), shape.wide) {
                    Some(r) => r,
                    None => continue,
                }
            }
        };
        row.resize_with(headers.len(), || Styled::plain("-"));
        rows.push(row);
    }
    if let Some(t) = shape.totals
        && let Some(mut row) = view.total_row(t, shape.wide)
    {
        row.resize_with(headers.len(), || Styled::plain(""));
        rows.push(row);
    }
    (headers, rows)
}

/// The table of these entries ("No resources found." when there is
/// nothing, not even a failed context).
fn render<V: ListView>(
    config: &Config,
    view: &V,
    entries: &[Entry<'_, V::Item>],
    shape: &Shape<'_>,
    p: &crate::output::Printer,
) -> String {
    let (headers, rows) = table_rows(config, view, entries, shape, p);
    if rows.is_empty() {
        return if entries.iter().all(|e| matches!(e, Entry::Item(_))) {
            "No resources found.\n".into()
        } else {
            String::new()
        };
    }
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    p.render_table(&headers, rows)
}

/// Piped `--watch` tables: every poll's rows in the columns the first
/// poll set, and a new header line when a value no longer fits.
#[derive(Default)]
struct Aligner {
    widths: Vec<usize>,
}

impl Aligner {
    fn render(
        &mut self,
        p: &crate::output::Printer,
        headers: &[String],
        rows: &[Vec<Styled>],
    ) -> String {
        use unicode_width::UnicodeWidthStr;
        let texts: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| escape_controls(&c.text).into_owned())
                    .collect()
            })
            .collect();
        let mut widths = vec![0; headers.len()];
        for (i, h) in headers.iter().enumerate() {
            widths[i] = if p.no_headers { 0 } else { h.width() };
        }
        for r in &texts {
            for (i, c) in r.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(c.width());
            }
        }
        let mut out = String::new();
        let first = self.widths.is_empty();
        let grew = self.widths.len() != widths.len()
            || widths.iter().zip(&self.widths).any(|(n, o)| n > o);
        if grew {
            self.widths = if first || self.widths.len() != widths.len() {
                widths
            } else {
                widths
                    .iter()
                    .zip(&self.widths)
                    .map(|(n, o)| *n.max(o))
                    .collect()
            };
            if !p.no_headers {
                let cells: Vec<(String, Option<&str>)> =
                    headers.iter().map(|h| (h.clone(), None)).collect();
                out.push_str(&self.line(p, &cells));
            }
        }
        for (r, styled) in texts.into_iter().zip(rows) {
            let cells: Vec<(String, Option<&str>)> = r
                .into_iter()
                .zip(styled)
                .map(|(t, s)| (t, s.color.as_deref()))
                .collect();
            out.push_str(&self.line(p, &cells));
        }
        out
    }

    fn line(&self, p: &crate::output::Printer, cells: &[(String, Option<&str>)]) -> String {
        use unicode_width::UnicodeWidthStr;
        let mut line = String::new();
        let n = cells.len();
        for (i, (text, color)) in cells.iter().enumerate() {
            let pad = if i + 1 == n {
                0
            } else {
                self.widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(text.width())
                    + 3
            };
            match color
                .and_then(crate::output::ansi_color)
                .filter(|_| p.color)
            {
                Some(code) => line.push_str(&format!("\x1b[{code}m{text}\x1b[0m")),
                None => line.push_str(text),
            }
            line.push_str(&" ".repeat(pad));
        }
        let mut line = line.trim_end().to_string();
        line.push('\n');
        line
    }
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
