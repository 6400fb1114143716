//! Man pages: `qctl.1`, and one page per subcommand, nested ones included,
//! named after the whole command (`qctl-get-clusters.1`,
//! `qctl-config-use-context.1`).
//!
//! Each page is put together from clap_mangen's section renderers (title,
//! NAME, DESCRIPTION, OPTIONS, SUBCOMMANDS, ...) and sections of our own:
//! a SYNOPSIS that shows the values (`--config PATH`; clap_mangen's shows
//! only the flags), EXIT STATUS (SPEC section 7), NOTES (the text after a
//! verb's help), EXAMPLES (the table in `cli/help.rs`, the same as `--help`
//! shows), SEE ALSO, and on `qctl.1` ENVIRONMENT and FILES.
//!
//! Nothing in a page depends on the machine or the day: no date, and the
//! version is the crate's, so the pages checked in under `man/` stay equal
//! to what the binary generates (`tests/it/generated.rs` checks that).

use crate::cli::help;
use crate::error::ExitCode;
use clap_mangen::roff::{Inline, Roff, bold, italic, roman};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes every page into `dir` (created if missing) and returns their paths,
/// `qctl.1` first.
pub(crate) fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = help::base().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, None, "", dir, &mut written)?;
    Ok(written)
}

fn write_tree(
    cmd: &clap::Command,
    parent: Option<&clap::Command>,
    path: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> std::io::Result<()> {
    let file = dir.join(format!("{}.1", page_name(cmd)));
    std::fs::write(&file, page(cmd, parent, path)?)?;
    written.push(file);
    for sub in visible_subcommands(cmd) {
        let sub_path = join(path, sub.get_name());
        write_tree(sub, Some(cmd), &sub_path, dir, written)?;
    }
    Ok(())
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path} {name}")
    }
}

/// `qctl-get-clusters` (clap sets the display name when it builds).
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// What roff (under clap_mangen) writes at the top of each rendering; kept
/// only at the top of the page.
const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// One page: clap_mangen's sections and ours, in the order of man-pages(7).
fn page(
    cmd: &clap::Command,
    parent: Option<&clap::Command>,
    path: &str,
) -> std::io::Result<Vec<u8>> {
    // The footer names the program and its version on every page (the
    // default would name the subcommand: "clusters 0.1.0").
    let man =
        clap_mangen::Man::new(cmd.clone()).source(format!("qctl {}", env!("CARGO_PKG_VERSION")));
    let root = parent.is_none();
    let mut out = Vec::new();
    add(&mut out, |w| man.render_title(w))?;
    add(&mut out, |w| man.render_name_section(w))?;
    add(&mut out, |w| synopsis(cmd, root).to_writer(w))?;
    add(&mut out, |w| man.render_description_section(w))?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        add(&mut out, |w| man.render_options_section(w))?;
    }
    if visible_subcommands(cmd).next().is_some() {
        add(&mut out, |w| man.render_subcommands_section(w))?;
    }
    add(&mut out, |w| exit_status().to_writer(w))?;
    if root {
        add(&mut out, |w| environment().to_writer(w))?;
        add(&mut out, |w| files().to_writer(w))?;
    }
    if cmd.get_version().is_some() {
        add(&mut out, |w| man.render_version_section(w))?;
    }
    if let Some(text) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        add(&mut out, |w| notes(&text.to_string()).to_writer(w))?;
    }
    if let Some(entry) = help::entry(path) {
        add(&mut out, |w| examples(entry.examples).to_writer(w))?;
    }
    add(&mut out, |w| see_also(cmd, parent, path).to_writer(w))?;
    Ok(out)
}

/// Appends one rendered section, without roff's preamble after the first.
fn add(
    out: &mut Vec<u8>,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    let body = match buf.strip_prefix(ROFF_PREAMBLE.as_bytes()) {
        Some(rest) if !out.is_empty() => rest,
        _ => &buf[..],
    };
    out.extend_from_slice(body);
    Ok(())
}

/// `qctl get clusters [--sample DUR] [-w|--watch] ... [global options]`:
/// every visible option with its value name; on `qctl.1` the global
/// options one by one, on the others as one `[global options]` (listed
/// under GLOBAL OPTIONS).
fn synopsis(cmd: &clap::Command, root: bool) -> Roff {
    let mut roff = Roff::new();
    // From here on: no hyphens added inside flags and paths, ragged right.
    roff.control("nh", []);
    roff.control("ad", ["l"]);
    roff.control("SH", ["SYNOPSIS"]);
    let name = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let mut line = vec![bold(name)];
    let is_global = |a: &clap::Arg| a.get_help_heading() == Some(help::GLOBAL_HEADING);
    let visible: Vec<&clap::Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .collect();
    let own: Vec<&clap::Arg> = visible
        .iter()
        .copied()
        .filter(|a| root || !is_global(a))
        .collect();
    // Own options, then -h and -V (clap adds them last).
    let (builtin, own): (Vec<&clap::Arg>, Vec<&clap::Arg>) = own
        .into_iter()
        .partition(|a| matches!(a.get_id().as_str(), "help" | "version"));
    for a in own.iter().chain(&builtin) {
        line.push(roman(" "));
        line.extend(option(a));
    }
    if !root && visible.iter().any(|a| is_global(a)) {
        line.extend([roman(" ["), italic("global options"), roman("]")]);
    }
    for a in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = a
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
        let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
        let dots = if many { "..." } else { "" };
        line.push(roman(" "));
        if a.is_required_set() {
            line.extend([italic(value), roman(dots)]);
        } else {
            line.extend([roman("["), italic(value), roman(format!("{dots}]"))]);
        }
    }
    if visible_subcommands(cmd).next().is_some() {
        line.extend([roman(" "), italic("COMMAND")]);
    }
    roff.text(line);
    roff
}

/// `[-o|--output FMT]`, `--to CONTEXT[,CONTEXT...]` (required),
/// `[--context NAME]...` (repeatable), `[--protected[=BOOL]]`.
fn option(a: &clap::Arg) -> Vec<Inline> {
    let mut v = Vec::new();
    let required = a.is_required_set();
    if !required {
        v.push(roman("["));
    }
    match (a.get_short(), a.get_long()) {
        (Some(s), Some(l)) => v.extend([bold(format!("-{s}")), roman("|"), bold(format!("--{l}"))]),
        (Some(s), None) => v.push(bold(format!("-{s}"))),
        (None, Some(l)) => v.push(bold(format!("--{l}"))),
        (None, None) => {}
    }
    let num = a.get_num_args().unwrap_or_default();
    if num.takes_values() {
        let value = a
            .get_value_names()
            .map(|v| v.join(" "))
            .unwrap_or_else(|| a.get_id().as_str().to_uppercase());
        if num.min_values() == 0 {
            v.extend([roman("[="), italic(value), roman("]")]);
        } else {
            v.extend([roman(" "), italic(value)]);
        }
    }
    if !required {
        v.push(roman("]"));
    }
    let repeatable = matches!(
        a.get_action(),
        clap::ArgAction::Append | clap::ArgAction::Count
    );
    if repeatable {
        v.push(roman("..."));
    }
    v
}

/// Every exit code and its meaning, SPEC section 7.
pub(crate) const EXIT_CODES: &[ExitCode] = &[
    ExitCode::Ok,
    ExitCode::Failure,
    ExitCode::Usage,
    ExitCode::Partial,
    ExitCode::Refused,
    ExitCode::CheckFailed,
    ExitCode::Interrupted,
];

/// What an exit code means (a match, so that a new code needs its line).
fn meaning(code: ExitCode) -> &'static str {
    match code {
        ExitCode::Ok => {
            "Success on every target (targets skipped by policy do not count against it)."
        }
        ExitCode::Failure => {
            "Failure: bad config, an unknown context name, nothing succeeded, an unexpected error."
        }
        ExitCode::Usage => {
            "Usage error: an unknown command or flag, a bad flag value, flags that do not go together."
        }
        ExitCode::Partial => {
            "Partial: some targets succeeded, others failed (see errors in -o json)."
        }
        ExitCode::Refused => "Refused: a write was not confirmed, or no target was allowed.",
        ExitCode::CheckFailed => {
            "Check failed: health found a problem (an unreachable context included), or compare --exit-code found drift."
        }
        ExitCode::Interrupted => "Interrupted (Ctrl-C or SIGTERM).",
    }
}

fn exit_status() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for code in EXIT_CODES {
        roff.control("TP", []);
        roff.text([bold((*code as u8).to_string())]);
        roff.text([roman(meaning(*code))]);
    }
    roff.control("PP", []);
    roff.text([roman(
        "When several apply, the first in this order wins: 2, 1, 4, 5, 3. \
         A closed pipe (qctl get queues | head -1) exits 0 silently.",
    )]);
    roff
}

fn definitions(roff: &mut Roff, items: &[(&str, &str)]) {
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

fn environment() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["ENVIRONMENT"]);
    definitions(
        &mut roff,
        &[
            (
                "QCTL_CONFIG",
                "The contexts files to read when --config is not given: a colon-separated \
                 list, merged like KUBECONFIG (the first file that defines a name wins).",
            ),
            (
                "QCTL_CONTEXT",
                "The target contexts when none of --context, -l and -A is given, instead of \
                 the file's current-context: names, comma-separated, globs allowed.",
            ),
            (
                "NO_COLOR",
                "Set and not empty: no colour under --color auto (--color always still colours).",
            ),
            (
                "XDG_CONFIG_HOME",
                "The default contexts file is $XDG_CONFIG_HOME/qctl/config.yaml \
                 (~/.config/qctl/config.yaml when unset).",
            ),
            (
                "XDG_STATE_HOME",
                "Where the audit log and the previous context go: $XDG_STATE_HOME/qctl/ \
                 (~/.local/state/qctl/ when unset).",
            ),
            (
                "COMPLETE",
                "A shell name (bash, zsh, fish, powershell, elvish): qctl answers a completion \
                 request instead of running, as the scripts of qctl completion ask; with no \
                 words to complete, it prints that shell's script.",
            ),
        ],
    );
    roff
}

fn files() -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["FILES"]);
    definitions(
        &mut roff,
        &[
            (
                "~/.config/qctl/config.yaml",
                "The contexts file: clusters, users, queue schemas, contexts, preferences \
                 (see XDG_CONFIG_HOME, QCTL_CONFIG and --config).",
            ),
            (
                "~/.local/state/qctl/audit.log",
                "The audit log: one JSON line per target of every write, never a secret; \
                 created 0600. audit-log: in the contexts file puts it elsewhere.",
            ),
            (
                "~/.local/state/qctl/previous-context",
                "The context before the last switch, for use-context - (never written into \
                 the contexts file).",
            ),
        ],
    );
    roff
}

/// The text after a verb's help (clap_mangen would call it EXTRA).
fn notes(text: &str) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["NOTES"]);
    for line in text.lines() {
        if line.trim().is_empty() {
            roff.control("PP", []);
        } else {
            roff.text([roman(line)]);
        }
    }
    roff
}

fn examples(examples: &[help::Example]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXAMPLES"]);
    for e in examples {
        roff.control("PP", []);
        roff.text([roman(format!("{}:", e.what))]);
        roff.control("PP", []);
        roff.control("RS", ["4"]);
        roff.control("nf", []);
        roff.text([roman(e.line)]);
        roff.control("fi", []);
        roff.control("RE", []);
    }
    roff
}

/// qctl(1), the parent's page, the children's, the related verbs of the
/// help table; on qctl(1) every verb's page, and redis-cli(1), kubectl(1).
fn see_also(cmd: &clap::Command, parent: Option<&clap::Command>, path: &str) -> Roff {
    let mut pages: Vec<String> = Vec::new();
    let mut push = |p: String| {
        if p != page_name(cmd) && !pages.contains(&p) {
            pages.push(p);
        }
    };
    if let Some(parent) = parent {
        push("qctl".into());
        push(page_name(parent));
    }
    for sub in visible_subcommands(cmd) {
        push(page_name(sub));
    }
    for related in help::entry(path).map(|e| e.see_also).unwrap_or_default() {
        push(format!("qctl-{}", related.replace(' ', "-")));
    }
    if parent.is_none() {
        push("redis-cli".into());
        push("kubectl".into());
    }
    let mut line = Vec::new();
    for (i, p) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.extend([bold(p.as_str()), roman("(1)")]);
    }
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    roff.text(line);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exit_code_has_its_meaning_in_order() {
        let codes: Vec<u8> = EXIT_CODES.iter().map(|c| *c as u8).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 130]);
        let text = exit_status().to_roff();
        for c in &codes {
            assert!(text.contains(&format!("\\fB{c}\\fR")), "{text}");
        }
    }

    fn pages() -> (tempfile_dir::Dir, Vec<PathBuf>) {
        let dir = tempfile_dir::Dir::new();
        let pages = write_pages(&dir.0).unwrap();
        (dir, pages)
    }

    /// A directory removed on drop (no dev-dependency in unit tests).
    mod tempfile_dir {
        pub(super) struct Dir(pub(super) std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Dir {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static N: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "qctl-man-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::SeqCst)
                ));
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn synopsis_shows_values_and_sections_are_there() {
        let (dir, written) = pages();
        assert!(written[0].ends_with("qctl.1"));
        let read = |p: &str| std::fs::read_to_string(dir.0.join(p)).unwrap();
        let root = read("qctl.1");
        assert_eq!(root.matches(ROFF_PREAMBLE).count(), 1);
        assert!(root.starts_with(ROFF_PREAMBLE));
        for s in [
            ".SH SYNOPSIS",
            ".SH \"GLOBAL OPTIONS\"",
            ".SH \"EXIT STATUS\"",
            ".SH ENVIRONMENT",
            ".SH FILES",
            ".SH EXAMPLES",
            ".SH \"SEE ALSO\"",
        ] {
            assert!(root.contains(s), "qctl.1 lacks {s}");
        }
        assert!(
            root.contains("[\\fB\\-\\-config\\fR \\fIPATH\\fR]"),
            "{root}"
        );
        assert!(root.contains("\\fBqctl\\-get\\fR(1)") && root.contains("\\fBkubectl\\fR(1)"));
        let purge = read("qctl-purge-dlq.1");
        assert!(
            purge.contains("[\\fB\\-\\-keep\\-backup\\fR \\fIDUR\\fR]")
                && purge.contains("[\\fIglobal options\\fR]"),
            "{purge}"
        );
        assert!(!purge.contains(".SH ENVIRONMENT"));
        assert!(purge.contains("qctl purge\\-dlq \\-\\-context prod\\-eu \\-\\-dry\\-run"));
        assert!(purge.contains("\\fBqctl\\-get\\-backups\\fR(1)"));
        let replicate = read("qctl-replicate.1");
        assert!(
            replicate.contains(" \\fB\\-\\-to\\fR \\fICONTEXT[,CONTEXT...]\\fR"),
            "{replicate}"
        );
        let get_clusters = read("qctl-get-clusters.1");
        assert!(
            get_clusters.contains("\\fBqctl\\-get\\fR(1)"),
            "{get_clusters}"
        );
        // demo's page does not list what demo ignores.
        let demo = read("qctl-demo.1");
        assert!(
            !demo.contains("\\-\\-context") && demo.contains("\\-\\-quiet"),
            "{demo}"
        );
    }
}
