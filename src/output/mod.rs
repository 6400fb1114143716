//! View models -> table / wide / json / yaml / name, and every other byte
//! qctl writes to stdout or stderr.
//!
//! Renderers never talk to Redis. Tables go to stdout (`render_table`) in
//! kubectl's borderless style; JSON and YAML come from the same `Serialize`
//! documents and are never coloured. Notes, warnings and progress go to
//! stderr.

use crate::cli::{ColorChoice, OutputFormat};
use crate::error::{ContextError, Result};
use serde::Serialize;
use std::io::{IsTerminal, Write};

pub(crate) mod columns;

/// Decides colour once: `--color`, then `NO_COLOR`, then "is stdout a
/// terminal".
pub(crate) fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            !no_color && std::io::stdout().is_terminal()
        }
    }
}

/// Text made safe for a terminal: every control character (ESC, CR, LF,
/// BEL, DEL, C1 ...) is shown escaped (`\x1b`, `\u{9b}`), so a context
/// name or a server's reply can never move the cursor or recolour the
/// screen. Used by error rendering, notes, warnings and every table cell.
pub(crate) fn escape_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            if (c as u32) < 0x80 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `n` and `noun`, plural unless `n` is 1: `1 job`, `3 jobs`.
pub(crate) fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// A duration as a user would type it: `24h`, `90m`, `30s`, `1h 30m 5s`.
pub(crate) fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if d.subsec_millis() == 0 && s > 0 {
        if s.is_multiple_of(3600) {
            return format!("{}h", s / 3600);
        }
        if s.is_multiple_of(60) {
            return format!("{}m", s / 60);
        }
        if s < 60 {
            return format!("{s}s");
        }
    }
    humantime::format_duration(d).to_string()
}

/// The same decision for stderr (plans, prompts, progress).
pub(crate) fn use_color_stderr(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            !no_color && std::io::stderr().is_terminal()
        }
    }
}

/// The list envelope of SPEC section 5.
#[derive(Debug, Serialize)]
pub(crate) struct ListDoc<T: Serialize> {
    #[serde(rename = "apiVersion")]
    pub(crate) api_version: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) items: Vec<T>,
    pub(crate) errors: Vec<ContextError>,
    /// Sums over the items (`get clusters`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) totals: Option<serde_json::Value>,
}

impl<T: Serialize> ListDoc<T> {
    pub(crate) fn new(kind: &'static str, items: Vec<T>, errors: Vec<ContextError>) -> Self {
        ListDoc {
            api_version: "qctl/v1",
            kind,
            items,
            errors,
            totals: None,
        }
    }
}

/// One table cell: text and an optional colour name (a context's `color`,
/// a status).
#[derive(Debug, Clone, Default)]
pub(crate) struct Styled {
    pub(crate) text: String,
    pub(crate) color: Option<String>,
}

impl Styled {
    pub(crate) fn plain(text: impl Into<String>) -> Self {
        Styled {
            text: text.into(),
            color: None,
        }
    }
    pub(crate) fn colored(text: impl Into<String>, color: Option<&str>) -> Self {
        Styled {
            text: text.into(),
            color: color.map(String::from),
        }
    }
}

impl From<String> for Styled {
    fn from(s: String) -> Self {
        Styled::plain(s)
    }
}

impl From<&str> for Styled {
    fn from(s: &str) -> Self {
        Styled::plain(s)
    }
}

/// The SGR code of a colour name, for lines qctl aligns itself.
pub(crate) fn ansi_color(name: &str) -> Option<u8> {
    Some(match name {
        "black" => 30,
        "red" => 31,
        "green" => 32,
        "yellow" => 33,
        "blue" => 34,
        "magenta" | "purple" => 35,
        "cyan" => 36,
        "white" => 37,
        "gray" => 90,
        _ => return None,
    })
}

/// The 256-colour palette index of a context colour, as terminals show
/// `ESC[38;5;Nm` (the bright variants; gray is the light one).
fn color_of(name: &str) -> Option<u8> {
    Some(match name {
        "black" => 0,
        "red" => 9,
        "green" => 10,
        "yellow" => 11,
        "blue" => 12,
        "magenta" | "purple" => 13,
        "cyan" => 14,
        "white" => 15,
        "gray" => 7,
        _ => return None,
    })
}

/// A table as qctl prints them (kubectl's look): no borders, columns
/// left-aligned to their widest cell as a terminal shows it, three spaces
/// between columns, no trailing blanks; a coloured cell is wrapped,
/// padding included, in `ESC[38;5;Nm` ... `ESC[39m`. Cells are written
/// with their control characters escaped; rows shorter than the header
/// are filled with empty cells. Linear in the size of the table: a
/// 1,000-row table costs well under a millisecond.
pub(crate) fn render_table(
    headers: &[&str],
    rows: &[Vec<Styled>],
    color: bool,
    no_headers: bool,
) -> String {
    use unicode_width::UnicodeWidthStr;
    let texts: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_controls(&c.text)).collect())
        .collect();
    let ncols = rows
        .iter()
        .map(Vec::len)
        .chain((!no_headers).then_some(headers.len()))
        .max()
        .unwrap_or(0);
    let mut widths = vec![0usize; ncols];
    if !no_headers {
        for (w, h) in widths.iter_mut().zip(headers) {
            *w = (*w).max(h.width());
        }
    }
    for r in &texts {
        for (w, t) in widths.iter_mut().zip(r) {
            *w = (*w).max(t.width());
        }
    }
    let total: usize = widths.iter().sum::<usize>() + 3 * ncols;
    let mut out = String::with_capacity((texts.len() + 1) * (total + 1));
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = (&str, Option<u8>)>| {
        let start = out.len();
        let mut cells = cells.fuse();
        for (i, w) in widths.iter().enumerate() {
            let (text, code) = cells.next().unwrap_or(("", None));
            let pad = if i + 1 == ncols { 0 } else { 3 };
            let fill = w - text.width().min(*w) + pad;
            if let Some(code) = code.filter(|_| color) {
                out.push_str("\x1b[38;5;");
                out.push_str(&code.to_string());
                out.push('m');
                out.push_str(text);
                out.extend(std::iter::repeat_n(' ', fill));
                out.push_str("\x1b[39m");
            } else {
                out.push_str(text);
                out.extend(std::iter::repeat_n(' ', fill));
            }
        }
        let kept = out[start..].trim_end().len();
        out.truncate(start + kept);
        out.push('\n');
    };
    if !no_headers {
        line(&mut out, &mut headers.iter().map(|h| (*h, None)));
    }
    for (r, t) in rows.iter().zip(&texts) {
        line(
            &mut out,
            &mut r
                .iter()
                .zip(t)
                .map(|(c, t)| (t.as_ref(), c.color.as_deref().and_then(color_of))),
        );
    }
    out
}

/// Where all output goes.
#[derive(Debug, Clone)]
pub(crate) struct Printer {
    pub(crate) format: OutputFormat,
    pub(crate) color: bool,
    pub(crate) no_headers: bool,
    pub(crate) quiet: bool,
    /// The columns of `-o custom-columns=`.
    pub(crate) columns: Option<std::sync::Arc<Vec<columns::Column>>>,
}

impl Printer {
    /// JSON, YAML or custom columns: the verb prints its document
    /// (`document`), which custom columns render a row per item of.
    pub(crate) fn is_machine(&self) -> bool {
        matches!(
            self.format,
            OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns
        )
    }

    /// Renders a borderless, kubectl-style table to a string.
    pub(crate) fn render_table(&self, headers: &[&str], rows: Vec<Vec<Styled>>) -> String {
        render_table(headers, &rows, self.color, self.no_headers)
    }

    /// `-o custom-columns`: one row per JSON item.
    pub(crate) fn custom_table(&self, items: &[&serde_json::Value]) -> String {
        let Some(cols) = self.columns.as_deref() else {
            return String::new();
        };
        let headers: Vec<&str> = cols.iter().map(|c| c.header.as_str()).collect();
        let rows = items
            .iter()
            .map(|it| {
                cols.iter()
                    .map(|c| Styled::plain(columns::cell(c.path.get(it))))
                    .collect()
            })
            .collect();
        self.render_table(&headers, rows)
    }

    pub(crate) fn table(&self, headers: &[&str], rows: Vec<Vec<Styled>>) -> Result<()> {
        let text = self.render_table(headers, rows);
        self.stdout(&text)
    }

    /// JSON (pretty) or YAML of a document. JSON is streamed to stdout
    /// (a 100,000-worker list is never held twice in memory).
    pub(crate) fn document<T: Serialize>(&self, doc: &T) -> Result<()> {
        match self.format {
            OutputFormat::CustomColumns => {
                let v = serde_json::to_value(doc).map_err(|e| {
                    crate::error::CliError::failure(format!("cannot render the document: {e}"))
                })?;
                // A list's items, a write verb's per-context results, or
                // the document itself as one row.
                let list = ["items", "results"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(|i| i.as_array()));
                let items: Vec<&serde_json::Value> = match list {
                    Some(items) => items.iter().collect(),
                    None => vec![&v],
                };
                let text = self.custom_table(&items);
                self.stdout(&text)
            }
            OutputFormat::Yaml => {
                let text = serde_saphyr::to_string(doc).map_err(|e| {
                    crate::error::CliError::failure(format!("cannot render YAML: {e}"))
                })?;
                self.stdout(&text)
            }
            _ => {
                let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                serde_json::to_writer_pretty(&mut out, doc).map_err(|e| {
                    match e.io_error_kind() {
                        Some(kind) => crate::error::CliError::from(std::io::Error::from(kind)),
                        None => crate::error::CliError::failure(format!("cannot render JSON: {e}")),
                    }
                })?;
                out.write_all(b"\n")?;
                out.flush()?;
                Ok(())
            }
        }
    }

    /// One name per line, for `-o name`.
    pub(crate) fn names<I: IntoIterator<Item = String>>(&self, names: I) -> Result<()> {
        let mut text = String::new();
        for n in names {
            text.push_str(&n);
            text.push('\n');
        }
        self.stdout(&text)
    }

    /// Writes to stdout in one piece. A closed pipe surfaces as an
    /// `io::ErrorKind::BrokenPipe`, which `main` turns into a silent exit 0.
    pub(crate) fn stdout(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }

    /// A note on stderr (hidden by `-q`).
    pub(crate) fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{}", escape_controls(msg));
        }
    }

    /// A warning on stderr (always shown: it may be about safety).
    pub(crate) fn warn(&self, msg: &str) {
        eprintln!("warning: {}", escape_controls(msg));
    }
}

/// `12.3MiB` / `1.5GiB`: a size in a sentence, as tables print it.
pub(crate) fn human_bytes(b: u64) -> String {
    bytes(Some(b))
}

/// Closest candidate to `word`, for did-you-mean hints: a small edit
/// distance (transpositions count once) or a high Jaro-Winkler score.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter_map(|c| {
            let d = strsim::osa_distance(word, c);
            let jw = strsim::jaro_winkler(word, c);
            (d <= limit || jw > 0.85).then_some((d, -jw, c))
        })
        .min_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
        .map(|(_, _, c)| c)
}

/// How a secret is shown everywhere qctl prints one: `config view`, a URL
/// in an error (`redis://:REDACTED@host`), `-v`'s AUTH/HELLO, audit lines.
pub(crate) const REDACTED: &str = "REDACTED";

/// A table cell for a single value that is absent: a figure the queue
/// system does not have, a field that could not be read, no job.
pub(crate) const ABSENT: &str = "-";
/// A table cell for an empty list: no labels, no queues, no busy jobs, no
/// failed checks.
pub(crate) const NONE: &str = "<none>";

/// A single value, or [`ABSENT`].
pub(crate) fn or_absent(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty())
        .unwrap_or_else(|| ABSENT.to_string())
}

/// A table row with every blank cell shown as [`ABSENT`].
pub(crate) fn fill_blanks(mut row: Vec<Styled>) -> Vec<Styled> {
    for c in &mut row {
        if c.text.is_empty() {
            c.text = ABSENT.to_string();
        }
    }
    row
}

/// A list joined with `,`, or [`NONE`].
pub(crate) fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        NONE.to_string()
    } else {
        v.join(",")
    }
}

/// `env=prod,region=eu`, or `<none>`.
pub(crate) fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return NONE.into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `1.5MiB`-style sizes.
pub(crate) fn bytes(n: Option<u64>) -> String {
    let Some(n) = n else { return "-".into() };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}

/// A maxmemory setting as tables show it: `unlimited` for 0, else a size
/// like [`bytes`] (`64.0MiB`); `-` when unknown.
pub(crate) fn maxmemory(v: Option<u64>) -> String {
    match v {
        Some(0) => "unlimited".into(),
        m => bytes(m),
    }
}

/// `158,004`: a whole number with thousands separators.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `3d4h`-style ages.
pub(crate) fn age(secs: Option<u64>) -> String {
    let Some(s) = secs else { return "-".into() };
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// `12.5/s`-style rates; `signed` shows a `+` on growth.
pub(crate) fn rate(v: Option<f64>, signed: bool) -> String {
    match v {
        None => "-".into(),
        Some(v) if signed && v > 0.0 => format!("+{v:.1}/s"),
        Some(v) => format!("{v:.1}/s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_by_terminal_width_and_colour_padding_included() {
        let rows = vec![
            vec![
                Styled::plain("*"),
                Styled::colored("a", Some("red")),
                Styled::plain("x"),
            ],
            vec![Styled::plain(""), Styled::colored("bé日本", Some("cyan"))],
            vec![Styled::plain(""), Styled::plain("tab\there")],
        ];
        let h = ["CURRENT", "NAME", "LAST"];
        assert_eq!(
            render_table(&h, &rows, false, false),
            "CURRENT   NAME          LAST\n\
             *         a             x\n\
             \x20         bé日本\n\
             \x20         tab\\x09here\n"
        );
        assert_eq!(
            render_table(&h, &rows, true, true),
            "*   \x1b[38;5;9ma             \x1b[39mx\n\
             \x20   \x1b[38;5;14mbé日本        \x1b[39m\n\
             \x20   tab\\x09here\n"
        );
        assert_eq!(render_table(&h, &[], false, true), "");
    }

    fn printer() -> Printer {
        Printer {
            format: OutputFormat::Table,
            color: false,
            no_headers: false,
            quiet: false,
            columns: None,
        }
    }

    #[test]
    fn tables_are_kubectl_style() {
        let t = printer().render_table(
            &["NAME", "STATUS"],
            vec![
                vec!["prod".into(), "healthy".into()],
                vec!["staging-long".into(), "unreachable".into()],
            ],
        );
        assert_eq!(
            t,
            "NAME           STATUS\nprod           healthy\nstaging-long   unreachable\n"
        );
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("prod"), "prod");
        assert_eq!(escape_controls("a\u{1b}[31mb\n"), "a\\x1b[31mb\\x0a");
        assert_eq!(escape_controls("x\u{9b}"), "x\\u{9b}");
        let t = printer().render_table(&["N"], vec![vec!["e\u{1b}x".into()]]);
        assert!(!t.contains('\u{1b}'), "{t}");
    }

    #[test]
    fn sizes_and_counts_read_alike() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(158_004), "158,004");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(maxmemory(Some(0)), "unlimited");
        assert_eq!(maxmemory(Some(64 * 1024 * 1024)), "64.0MiB");
        assert_eq!(maxmemory(None), "-");
        assert_eq!(or_absent(Some(String::new())), "-");
        assert_eq!(list_or_none(&[]), "<none>");
    }

    #[test]
    fn no_headers() {
        let mut p = printer();
        p.no_headers = true;
        let t = p.render_table(&["NAME"], vec![vec!["a".into()]]);
        assert_eq!(t, "a\n");
    }

    #[test]
    fn no_color_means_no_escapes() {
        let t = printer().render_table(&["N"], vec![vec![Styled::colored("x", Some("red"))]]);
        assert!(!t.contains('\u{1b}'));
        let mut p = printer();
        p.color = true;
        let t = p.render_table(&["N"], vec![vec![Styled::colored("x", Some("red"))]]);
        assert!(t.contains('\u{1b}'));
    }
}
