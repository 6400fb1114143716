//! Edits to a contexts file: `use-context`, `set-context`, `delete-context`.
//!
//! An edit goes to the file that defined the entry and is spliced into that
//! file's text, so that every other byte (other entries, comments, secrets as
//! written) stays as it was; a one-line `- { name: ... }` entry is
//! rewritten as one line in the same style. Only a list in YAML flow style
//! (`contexts: [...]`) is re-serialised whole, which keeps every value but
//! drops comments: that is announced on stderr and the old file is kept as
//! `<file>.bak`. The
//! result is checked by loading it again before it replaces the file,
//! atomically (temp file + rename), with mode 0600. A contexts file that is
//! a symlink is followed: its target is replaced, in its own directory,
//! and keeps its mode.

use super::load::{merge_checked, parse_file};
use super::model::RawContext;
use super::*;
use crate::error::{CliError, Result};
use std::io::Write;
use std::path::Path;

/// Changes asked of `set-context`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ContextEdit {
    pub(crate) cluster: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) schema: Option<String>,
    pub(crate) color: Option<String>,
    pub(crate) protected: Option<bool>,
    pub(crate) enabled: Option<bool>,
    /// `k=v` sets, `k-` removes.
    pub(crate) labels: Vec<String>,
}

fn no_file(config: &Config) -> CliError {
    super::load::no_contexts_file(config.location.as_ref())
}

/// Sets `current-context`, in the file that sets it (else the first file).
pub(crate) fn use_context(config: &Config, name: &str) -> Result<PathBuf> {
    if config.sources.is_empty() {
        return Err(no_file(config));
    }
    if config.context(name).is_none() {
        return Err(crate::select::unknown_context(config, name));
    }
    let idx = config
        .raw()?
        .iter()
        .position(|r| r.current_context.is_some())
        .unwrap_or(0);
    let text = &config.sources[idx].text;
    let raw = &config.raw()?[idx];
    let new_text = match &raw.current_context {
        Some(cc) => {
            let (start, len) = byte_span(&cc.referenced);
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
            let value_end = (start + len).min(line_end);
            // Replace the scalar (with its quotes, if any), keep a trailing comment.
            let tail = &text[value_end..line_end];
            let tail = if tail.trim_start().starts_with('#') || tail.trim().is_empty() {
                tail.trim_start_matches(['"', '\''])
            } else {
                ""
            };
            let key_end = text[line_start..]
                .find(':')
                .map_or(start, |i| line_start + i + 1);
            format!(
                "{} {}{}{}",
                &text[..key_end],
                yaml_scalar(name),
                if tail.trim().is_empty() { "" } else { tail },
                &text[line_end..]
            )
        }
        None => {
            insert_after_api_version(text, &format!("current-context: {}\n", yaml_scalar(name)))
        }
    };
    commit(config, idx, Edited::Entry(new_text))
}

/// Creates or changes a context; returns the file written and whether the
/// context is new.
pub(crate) fn set_context(
    config: &Config,
    name: &str,
    edit: &ContextEdit,
) -> Result<(PathBuf, bool)> {
    if config.sources.is_empty() {
        return Err(no_file(config));
    }
    let existing = config.context(name).map(|c| c.source);
    let idx = existing.unwrap_or(0);
    let raw = &config.raw()?[idx];
    let text = &config.sources[idx].text;
    let entry = raw.contexts.iter().find(|c| c.value.name == name);
    let mut ctx = match entry {
        Some(e) => e.value.clone(),
        None => {
            let Some(cluster) = &edit.cluster else {
                return Err(CliError::usage(format!(
                    "context `{name}` does not exist yet: --cluster is required to create it"
                ))
                .with_hint(format!(
                    "qctl config set-context {name} --cluster CLUSTER [--user USER]"
                )));
            };
            RawContext {
                name: name.to_string(),
                cluster: cluster.clone(),
                ..Default::default()
            }
        }
    };
    apply_edit(&mut ctx, edit)?;
    let block = serde_saphyr::to_string(&ctx)
        .map_err(|e| CliError::failure(format!("cannot write YAML: {e}")))?;
    let spliced = match entry {
        Some(e) => item_range(text, &e.referenced).map(|it| {
            format!(
                "{}{}{}",
                &text[..it.start],
                it.render(&ctx, &block),
                &text[it.end..]
            )
        }),
        None => append_context(text, raw, &block, &ctx),
    };
    // A splice must leave exactly the edit: every other context as it was.
    let mut want: Vec<RawContext> = raw.contexts.iter().map(|c| c.value.clone()).collect();
    match want.iter_mut().find(|c| c.name == name) {
        Some(c) => *c = ctx.clone(),
        None => want.push(ctx.clone()),
    }
    let new_text = match spliced.filter(|t| contexts_are(t, &want)) {
        Some(t) => Edited::Entry(t),
        None => Edited::Whole(reserialize_with(raw, |r| {
            match r.contexts.iter_mut().find(|c| c.value.name == name) {
                Some(c) => c.value = ctx.clone(),
                None => r.contexts.push(serde_saphyr::Spanned::new(
                    ctx.clone(),
                    serde_saphyr::Location::UNKNOWN,
                    serde_saphyr::Location::UNKNOWN,
                )),
            }
        })?),
    };
    let path = commit(config, idx, new_text)?;
    Ok((path, entry.is_none()))
}

/// Removes a context from the file that defined it.
pub(crate) fn delete_context(config: &Config, name: &str) -> Result<PathBuf> {
    let Some(ctx) = config.context(name) else {
        return Err(crate::select::unknown_context(config, name));
    };
    let idx = ctx.source;
    let raw = &config.raw()?[idx];
    let text = &config.sources[idx].text;
    let entry = raw
        .contexts
        .iter()
        .find(|c| c.value.name == name)
        .expect("context came from this file");
    let spliced = item_range(text, &entry.referenced).map(|it| {
        let cut = format!("{}{}", &text[..it.start], &text[it.end..]);
        if raw.contexts.len() == 1 {
            // The last one: leave `contexts: []`, not a `contexts:` of null.
            set_key_line(&cut, "contexts:", "contexts: []")
        } else {
            cut
        }
    });
    let want: Vec<RawContext> = raw
        .contexts
        .iter()
        .filter(|c| c.value.name != name)
        .map(|c| c.value.clone())
        .collect();
    let new_text = match spliced.filter(|t| contexts_are(t, &want)) {
        Some(t) => Edited::Entry(t),
        None => Edited::Whole(reserialize_with(raw, |r| {
            r.contexts.retain(|c| c.value.name != name)
        })?),
    };
    commit(config, idx, new_text)
}

/// The new text of a file, and how much of it changed.
enum Edited {
    /// Only the entry: every other byte as it was.
    Entry(String),
    /// Re-serialised whole (a flow-style list): comments are lost.
    Whole(String),
}

/// Whether `text` parses and lists exactly `want` as its contexts.
fn contexts_are(text: &str, want: &[RawContext]) -> bool {
    let Ok(raw) = serde_saphyr::from_str::<RawFile>(text) else {
        return false;
    };
    let yaml = |c: &RawContext| serde_saphyr::to_string(c).ok();
    raw.contexts.len() == want.len()
        && raw
            .contexts
            .iter()
            .zip(want)
            .all(|(got, want)| yaml(&got.value).is_some() && yaml(&got.value) == yaml(want))
}

fn apply_edit(ctx: &mut RawContext, edit: &ContextEdit) -> Result<()> {
    if let Some(c) = &edit.cluster {
        ctx.cluster = c.clone();
    }
    if let Some(u) = &edit.user {
        ctx.user = if u.is_empty() { None } else { Some(u.clone()) };
    }
    if let Some(s) = &edit.schema {
        ctx.schema = if s.is_empty() { None } else { Some(s.clone()) };
    }
    if let Some(c) = &edit.color {
        ctx.color = if c.is_empty() { None } else { Some(c.clone()) };
    }
    if let Some(p) = edit.protected {
        ctx.protected = p;
    }
    if let Some(e) = edit.enabled {
        ctx.enabled = if e { None } else { Some(false) };
    }
    for l in &edit.labels {
        if let Some((k, v)) = l.split_once('=') {
            ctx.labels.insert(k.to_string(), v.to_string());
        } else if let Some(k) = l.strip_suffix('-') {
            ctx.labels.remove(k);
        } else {
            return Err(CliError::usage(format!(
                "--label `{l}`: expected KEY=VALUE, or KEY- to remove"
            )));
        }
    }
    Ok(())
}

fn byte_span(loc: &serde_saphyr::Location) -> (usize, usize) {
    let span = loc.span();
    let start = span.byte_offset().unwrap_or(span.offset()) as usize;
    let len = span.byte_len().unwrap_or(span.len()) as usize;
    (start, len)
}

fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !matches!(
            s,
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("strings serialise")
    }
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| i <= text.len())
        .collect()
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// One block-sequence item: its byte range (from its dash line's start to
/// the end of its last line, trailing blank lines excluded) and its
/// indentation.
struct Item {
    start: usize,
    end: usize,
    indent: String,
    /// Set when the item is a flow map on the dash's line(s), as the README
    /// writes them: `  - { name: a, cluster: c }  # comment`.
    flow: Option<FlowItem>,
}

struct FlowItem {
    /// What follows the closing brace on its line (spaces, a comment),
    /// without the newline.
    trailing: String,
    /// `{ a: 1 }` rather than `{a: 1}`.
    spaced: bool,
}

impl Item {
    /// The item as it will be written: `ctx` in the style of this one.
    fn render(&self, ctx: &RawContext, block: &str) -> String {
        match &self.flow {
            Some(f) => format!(
                "{}- {}{}\n",
                self.indent,
                flow_context(ctx, f.spaced),
                f.trailing
            ),
            None => indent_item(block, &self.indent),
        }
    }
}

/// Finds the item holding `loc`. `None` when it is not a block-sequence
/// item (a flow sequence, `contexts: [...]`), or one this cannot read.
fn item_range(text: &str, loc: &serde_saphyr::Location) -> Option<Item> {
    let (offset, _) = byte_span(loc);
    let starts = line_starts(text);
    let line_of = |off: usize| starts.partition_point(|&s| s <= off) - 1;
    let mut l = line_of(offset.min(text.len().saturating_sub(1)));
    let line = |i: usize| {
        let s = starts[i];
        let e = starts.get(i + 1).copied().unwrap_or(text.len());
        text[s..e].trim_end_matches('\n')
    };
    // Find the line holding this item's dash: this one or one above.
    loop {
        let t = line(l).trim_start();
        if t.starts_with("- ") || t == "-" {
            break;
        }
        if t.contains('{') || t.contains('[') || l == 0 {
            return None;
        }
        l -= 1;
    }
    let first = line(l);
    let dash_indent = indent_of(first);
    let after_dash = first[dash_indent + 1..].trim_start();
    if after_dash.starts_with('{') {
        let open = starts[l] + first.len() - after_dash.len();
        let close = flow_end(text, open)?;
        let line_end = text[close..].find('\n').map_or(text.len(), |i| close + i);
        let trailing = &text[close..line_end];
        if !(trailing.trim().is_empty() || trailing.trim_start().starts_with('#')) {
            return None;
        }
        return Some(Item {
            start: starts[l],
            end: (line_end + 1).min(text.len()),
            indent: " ".repeat(dash_indent),
            flow: Some(FlowItem {
                trailing: trailing.trim_end().to_string(),
                spaced: after_dash.starts_with("{ "),
            }),
        });
    }
    if after_dash.starts_with('[') {
        return None;
    }
    let mut end_line = l + 1;
    let mut last_content = l;
    while end_line < starts.len() {
        let t = line(end_line);
        if t.trim().is_empty() {
            end_line += 1;
            continue;
        }
        if indent_of(t) <= dash_indent {
            break;
        }
        last_content = end_line;
        end_line += 1;
    }
    let start = starts[l];
    let end = starts.get(last_content + 1).copied().unwrap_or(text.len());
    Some(Item {
        start,
        end,
        indent: " ".repeat(dash_indent),
        flow: None,
    })
}

/// The byte just past the bracket that closes the one at `open`, skipping
/// quoted scalars and comments. `None` when it is never closed.
fn flow_end(text: &str, open: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut prev = b' ';
    let mut i = open;
    while i < b.len() {
        let c = b[i];
        match c {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            // A quote opens a scalar only where a scalar starts.
            b'"' | b'\'' if matches!(prev, b'{' | b'[' | b',' | b':' | b' ' | b'\n') => {
                i += 1;
                while i < b.len() {
                    if c == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == c {
                        if c == b'\'' && b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'#' if matches!(prev, b' ' | b'\t' | b'\n') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        prev = b.get(i).copied().unwrap_or(b' ');
        i += 1;
    }
    None
}

/// A context as a one-line flow map, in the order of `RawContext`'s fields
/// and with the same fields left out as the block form.
fn flow_context(ctx: &RawContext, spaced: bool) -> String {
    let braces = |parts: Vec<String>| {
        if spaced {
            format!("{{ {} }}", parts.join(", "))
        } else {
            format!("{{{}}}", parts.join(", "))
        }
    };
    let mut parts = vec![
        format!("name: {}", yaml_scalar(&ctx.name)),
        format!("cluster: {}", yaml_scalar(&ctx.cluster)),
    ];
    if let Some(u) = &ctx.user {
        parts.push(format!("user: {}", yaml_scalar(u)));
    }
    if let Some(s) = &ctx.schema {
        parts.push(format!("schema: {}", yaml_scalar(s)));
    }
    if !ctx.labels.is_empty() {
        let labels = ctx
            .labels
            .iter()
            .map(|(k, v)| format!("{}: {}", yaml_scalar(k), yaml_scalar(v)))
            .collect();
        parts.push(format!("labels: {}", braces(labels)));
    }
    if let Some(c) = &ctx.color {
        parts.push(format!("color: {}", yaml_scalar(c)));
    }
    if ctx.protected {
        parts.push("protected: true".into());
    }
    if let Some(a) = &ctx.allowed_actions {
        let list: Vec<String> = a.iter().map(|x| yaml_scalar(x)).collect();
        parts.push(format!("allowed-actions: [{}]", list.join(", ")));
    }
    if let Some(e) = ctx.enabled {
        parts.push(format!("enabled: {e}"));
    }
    braces(parts)
}

/// Turns `a: 1\nb: 2\n` into `{indent}- a: 1\n{indent}  b: 2\n`.
fn indent_item(block: &str, indent: &str) -> String {
    let mut out = String::new();
    for (i, line) in block.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{indent}- {line}\n"));
        } else if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("{indent}  {line}\n"));
        }
    }
    out
}

/// The text with `ctx` added after the last context, in that one's style;
/// `None` when that cannot be done by a splice.
fn append_context(text: &str, raw: &RawFile, block: &str, ctx: &RawContext) -> Option<String> {
    if let Some(last) = raw.contexts.last() {
        let it = item_range(text, &last.referenced)?;
        let mut t = text[..it.end].to_string();
        if !t.ends_with('\n') {
            t.push('\n');
        }
        // A new entry carries no comment of its own.
        let new = Item {
            flow: it.flow.map(|f| FlowItem {
                trailing: String::new(),
                ..f
            }),
            ..it
        };
        return Some(format!("{t}{}{}", new.render(ctx, block), &text[new.end..]));
    }
    let has_key = text.lines().any(|l| l.starts_with("contexts:"));
    if has_key {
        // `contexts: []` or `contexts:` with nothing under it.
        let item = indent_item(block, "  ");
        return Some(set_key_line(
            text,
            "contexts:",
            &format!("contexts:\n{}", item.trim_end_matches('\n')),
        ));
    }
    let mut t = text.to_string();
    if !t.ends_with('\n') {
        t.push('\n');
    }
    Some(format!("{t}contexts:\n{}", indent_item(block, "  ")))
}

/// Replaces the whole top-level line that starts with `key`.
fn set_key_line(text: &str, key: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len() + replacement.len());
    for line in text.split_inclusive('\n') {
        if line.starts_with(key) {
            out.push_str(replacement);
            if line.ends_with('\n') {
                out.push('\n');
            }
        } else {
            out.push_str(line);
        }
    }
    out
}

fn insert_after_api_version(text: &str, line: &str) -> String {
    match text.lines().position(|l| l.starts_with("apiVersion:")) {
        Some(i) => {
            let starts = line_starts(text);
            let at = starts.get(i + 1).copied().unwrap_or(text.len());
            let sep = if at == text.len() && !text.ends_with('\n') {
                "\n"
            } else {
                ""
            };
            format!("{}{sep}{line}{}", &text[..at], &text[at..])
        }
        None => format!("{line}{text}"),
    }
}

/// The flow-style fallback: re-serialise the whole document.
fn reserialize_with(raw: &RawFile, f: impl FnOnce(&mut RawFile)) -> Result<String> {
    // Round-trip through YAML to get an owned, editable copy.
    let text = serde_saphyr::to_string(raw)
        .map_err(|e| CliError::failure(format!("cannot write YAML: {e}")))?;
    let mut copy: RawFile = serde_saphyr::from_str(&text)
        .map_err(|e| CliError::failure(format!("cannot re-read YAML: {e}")))?;
    f(&mut copy);
    serde_saphyr::to_string(&copy).map_err(|e| CliError::failure(format!("cannot write YAML: {e}")))
}

/// Checks the edited text against all files, then writes it atomically.
/// A whole-file rewrite is announced on stderr first, and the file as it
/// was is kept next to it as `<file>.bak`.
fn commit(config: &Config, idx: usize, edited: Edited) -> Result<PathBuf> {
    let (new_text, whole) = match edited {
        Edited::Entry(t) => (t, false),
        Edited::Whole(t) => (t, true),
    };
    let path = config.sources[idx].path.clone();
    let mut sources = config.sources.clone();
    sources[idx].text = new_text.clone();
    let mut raws = Vec::new();
    for s in &sources {
        raws.push(parse_file(&s.path, &s.text).map_err(|e| {
            CliError::failure(format!("refusing to write an invalid file: {}", e.message))
        })?);
    }
    merge_checked(&sources, raws).map_err(|e| CliError {
        message: format!("not written: {}", e.message),
        ..e
    })?;
    if whole {
        let backup = backup_path(&path);
        eprintln!(
            "warning: {} lists its contexts in YAML flow style (`contexts: [...]`), which qctl cannot edit in place: the whole file is rewritten, so its comments and layout are lost; the file as it was is saved as {}",
            path.display(),
            backup.display()
        );
        write_atomic(&backup, config.sources[idx].text.as_bytes()).map_err(|e| CliError {
            message: format!("not written (the backup failed): {}", e.message),
            ..e
        })?;
    }
    write_atomic(&path, new_text.as_bytes())?;
    Ok(path)
}

/// `config.yaml` -> `config.yaml.bak`, beside it.
fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// Temp file in the same directory, mode 0600, fsync, rename.
///
/// A symlink is followed: the file it points at (through any chain of
/// links) is the one replaced, by a temp file in *that* file's directory,
/// and it keeps its mode; the link itself stays a link.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let (target, mode) = if is_link {
        let target = std::fs::canonicalize(path).map_err(|e| {
            CliError::failure(format!(
                "cannot write {}: it is a symlink whose target cannot be resolved ({e})",
                path.display()
            ))
            .with_hint("fix the link, or replace it with the file itself")
        })?;
        let mode = std::fs::metadata(&target)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o600);
        (target, mode)
    } else {
        (path.to_path_buf(), 0o600)
    };
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.qctl-{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have narrowed `mode(..)`; a kept mode is set as is.
        if mode != 0o600 {
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        let shown = if is_link {
            format!("{} (the target of {})", target.display(), path.display())
        } else {
            path.display().to_string()
        };
        return Err(CliError::failure(format!("cannot write {shown}: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ranges() {
        let text = "contexts:\n  - name: a # first\n    cluster: c\n\n  # about b\n  - name: b\n    cluster: c\nusers: []\n";
        let raw: RawFile = serde_saphyr::from_str(text).unwrap();
        let it = item_range(text, &raw.contexts[0].referenced).unwrap();
        assert_eq!(
            &text[it.start..it.end],
            "  - name: a # first\n    cluster: c\n"
        );
        assert_eq!(it.indent, "  ");
        let it = item_range(text, &raw.contexts[1].referenced).unwrap();
        assert_eq!(&text[it.start..it.end], "  - name: b\n    cluster: c\n");
    }

    #[test]
    fn flow_style_is_not_spliced() {
        let text = "contexts: [{name: a, cluster: c}]\n";
        let raw: RawFile = serde_saphyr::from_str(text).unwrap();
        assert!(item_range(text, &raw.contexts[0].referenced).is_none());
    }

    #[test]
    fn flow_map_items_are_found_whole() {
        let text = "contexts:\n  - { name: a, cluster: c, labels: { env: \"x}\" } }  # keep\n  - {name: b,\n     cluster: c}\nusers: []\n";
        let raw: RawFile = serde_saphyr::from_str(text).unwrap();
        let it = item_range(text, &raw.contexts[0].referenced).unwrap();
        assert_eq!(
            &text[it.start..it.end],
            "  - { name: a, cluster: c, labels: { env: \"x}\" } }  # keep\n"
        );
        let f = it.flow.as_ref().unwrap();
        assert_eq!(f.trailing, "  # keep");
        assert!(f.spaced);
        let it = item_range(text, &raw.contexts[1].referenced).unwrap();
        assert_eq!(&text[it.start..it.end], "  - {name: b,\n     cluster: c}\n");
        assert!(!it.flow.unwrap().spaced);
    }

    #[test]
    fn flow_contexts_render_like_the_readme() {
        let mut ctx = RawContext {
            name: "prod-us".into(),
            cluster: "prod-us".into(),
            color: Some("red".into()),
            protected: true,
            ..Default::default()
        };
        ctx.labels.insert("env".into(), "prod".into());
        assert_eq!(
            flow_context(&ctx, true),
            "{ name: prod-us, cluster: prod-us, labels: { env: prod }, color: red, protected: true }"
        );
        assert_eq!(
            flow_context(&ctx, false),
            "{name: prod-us, cluster: prod-us, labels: {env: prod}, color: red, protected: true}"
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(yaml_scalar("prod-us"), "prod-us");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("a b"), "\"a b\"");
        assert_eq!(yaml_scalar("123"), "\"123\"");
    }
}
