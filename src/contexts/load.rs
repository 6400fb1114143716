//! Finding, parsing, checking and merging contexts files.
//!
//! Order of search (SPEC section 2): `--config`, else `QCTL_CONFIG` (a
//! colon-separated list merged like `KUBECONFIG`: the first file that defines
//! a name wins), else `$XDG_CONFIG_HOME/qctl/config.yaml`. Every problem is
//! reported as `path:line:column: what is wrong`, with a hint.

use super::model::{Mode, RawFile};
use super::*;
use crate::error::{CliError, Result};
use serde_saphyr::Location;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// How the contexts files were found.
#[derive(Debug, Clone)]
pub(crate) enum ConfigLocation {
    Flag(PathBuf),
    Env(Vec<PathBuf>),
    Default(PathBuf),
}

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"))
}

/// `$XDG_CONFIG_HOME/qctl/config.yaml`, else `~/.config/qctl/config.yaml`.
pub(crate) fn default_path() -> PathBuf {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("qctl/config.yaml"),
        None => home().join(".config/qctl/config.yaml"),
    }
}

/// Expands a leading `~/`.
pub(crate) fn expand_tilde(p: &str) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home().join(rest),
        None => PathBuf::from(p),
    }
}

pub(crate) fn locate(flag: Option<&Path>) -> ConfigLocation {
    if let Some(p) = flag {
        return ConfigLocation::Flag(p.to_path_buf());
    }
    if let Some(v) = std::env::var_os("QCTL_CONFIG").filter(|v| !v.is_empty()) {
        let paths = std::env::split_paths(&v)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        return ConfigLocation::Env(paths);
    }
    ConfigLocation::Default(default_path())
}

impl ConfigLocation {
    /// The files looked at, and what named them, for messages:
    /// `/a.yaml, /b.yaml (from QCTL_CONFIG)`.
    pub(crate) fn describe(&self) -> String {
        match self {
            ConfigLocation::Flag(p) => format!("{} (from --config)", p.display()),
            ConfigLocation::Env(ps) if ps.is_empty() => "no file (QCTL_CONFIG lists none)".into(),
            ConfigLocation::Env(ps) => format!(
                "{} (from QCTL_CONFIG)",
                ps.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            ConfigLocation::Default(p) => format!(
                "{} (the default: neither --config nor QCTL_CONFIG is set)",
                p.display()
            ),
        }
    }
}

/// "No contexts file": which files were looked at, and how to get one.
pub(crate) fn no_contexts_file(location: Option<&ConfigLocation>) -> CliError {
    let location = location.cloned().unwrap_or_else(|| locate(None));
    let create = match &location {
        ConfigLocation::Flag(p) | ConfigLocation::Default(p) => p.clone(),
        ConfigLocation::Env(ps) => ps.first().cloned().unwrap_or_else(default_path),
    };
    CliError::failure(format!(
        "no contexts file found; looked at {}",
        location.describe()
    ))
    .with_hint(format!(
        "create {} (start from config.example.yaml), or pass --config PATH; to try qctl on throwaway local servers first, run `qctl demo`",
        create.display()
    ))
}

/// The largest contexts file qctl reads: a 1,000-context file is about
/// 200 KiB, so this is generous, and it keeps `--config /dev/zero` from
/// reading without end.
pub(crate) const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Reads a contexts file: a regular file of at most [`MAX_FILE_BYTES`].
/// It is opened without blocking (a FIFO with no writer would otherwise
/// hang the open) and checked on the opened descriptor, so what is checked
/// is what is read.
pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let shown = path.display();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| CliError::failure(format!("{shown}: cannot read: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::failure(format!("{shown}: cannot read: {e}")))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a named pipe (FIFO)"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a file"
        };
        return Err(CliError::failure(format!(
            "{shown}: not a regular file ({what}); a contexts file must be a regular file"
        ))
        .with_hint(
            "point --config (or QCTL_CONFIG) at a YAML file, e.g. ~/.config/qctl/config.yaml",
        ));
    }
    let too_big = || {
        CliError::failure(format!(
            "{shown}: larger than {} MiB, the most a contexts file may be",
            MAX_FILE_BYTES / (1024 * 1024)
        ))
        .with_hint("is this the right file? a contexts file with 1,000 contexts is about 200 KiB")
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The size may change under us: never read more than the limit.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::failure(format!("{shown}: cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Loads, checks and merges the contexts files.
pub(crate) fn load(flag: Option<&Path>) -> Result<Config> {
    let location = locate(flag);
    let paths: Vec<PathBuf> = match &location {
        ConfigLocation::Flag(p) => {
            if !p.exists() {
                return Err(CliError::failure(format!(
                    "{}: no such file (named by --config)",
                    p.display()
                ))
                .with_hint("check the path, or copy config.example.yaml there to start"));
            }
            vec![p.clone()]
        }
        // Like KUBECONFIG: files in the list that do not exist are skipped.
        ConfigLocation::Env(ps) => ps.iter().filter(|p| p.exists()).cloned().collect(),
        ConfigLocation::Default(p) => {
            if p.exists() {
                vec![p.clone()]
            } else {
                vec![]
            }
        }
    };
    let mut sources = Vec::new();
    for path in paths {
        let bytes = read_bounded(&path)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            CliError::failure(format!("{}: not valid UTF-8", path.display()))
                .with_hint("a contexts file is UTF-8 YAML")
        })?;
        sources.push(SourceFile { path, text });
    }
    let mut config = checked(&sources, true)?;
    config.location = Some(location);
    Ok(config)
}

/// Checks and merges files already read: the result a run with the same
/// files kept (`cache.rs`), else parsed and checked here (and kept).
/// `warn`: print the warnings about secrets others can read (completion
/// prints nothing).
pub(crate) fn checked(sources: &[SourceFile], warn: bool) -> Result<Config> {
    if let Some((config, password_files)) = super::cache::read(sources) {
        if warn {
            warn_readable_password_files(&password_files);
        }
        return Ok(config);
    }
    let mut raws = Vec::new();
    let mut password_files = Vec::new();
    let mut any_secret = false;
    for s in sources {
        let raw = parse_file(&s.path, &s.text)?;
        any_secret |= warn_readable_secrets(&s.path, &raw, &mut password_files, warn);
        raws.push(raw);
    }
    let config = merge(sources, raws)?;
    super::cache::write(&config, password_files, any_secret);
    Ok(config)
}

fn at(path: &Path, loc: Location) -> String {
    if loc == Location::UNKNOWN {
        format!("{}", path.display())
    } else {
        format!("{}:{}:{}", path.display(), loc.line(), loc.column())
    }
}

/// A config error at a place in a file.
fn config_error(
    path: &Path,
    loc: Location,
    msg: impl AsRef<str>,
    hint: impl Into<String>,
) -> CliError {
    CliError::failure(format!("{}: {}", at(path, loc), msg.as_ref())).with_hint(hint)
}

fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#') || t == "---"
    })
}

/// Parses one file, turning serde errors into located, hinted messages.
pub(crate) fn parse_file(path: &Path, text: &str) -> Result<RawFile> {
    if is_blank_yaml(text) {
        return Err(
            CliError::failure(format!("{}: the file is empty", path.display())).with_hint(
                "a contexts file starts with `apiVersion: qctl/v1`; see config.example.yaml",
            ),
        );
    }
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| {
        let loc = e.location().unwrap_or(Location::UNKNOWN);
        let full = e.to_string();
        let first = full.lines().next().unwrap_or("").trim();
        // "error: line 4 column 5: unknown field ..." -> "unknown field ..."
        let msg = first
            .strip_prefix("error: ")
            .unwrap_or(first)
            .split_once(": ")
            .filter(|(head, _)| head.starts_with("line "))
            .map(|(_, m)| m)
            .unwrap_or(first)
            .to_string();
        if let Some(m) = budget_message(&msg) {
            return config_error(
                path,
                loc,
                m,
                "a contexts file is a small YAML document; is this the right file?",
            );
        }
        let (msg, hint) = match duplicate_key(&msg) {
            Some(key) => (
                format!("duplicate key `{key}`: it is already set earlier in the same mapping"),
                format!(
                    "keep one `{key}:` and remove the other (YAML allows a key once per mapping)"
                ),
            ),
            None => {
                let hint = hint_for_serde_message(&msg);
                (msg, hint)
            }
        };
        config_error(path, loc, msg, hint)
    })?;
    if raw.api_version.is_none() {
        return Err(config_error(
            path,
            Location::UNKNOWN,
            "missing `apiVersion`",
            "add `apiVersion: qctl/v1` as the first line",
        ));
    }
    Ok(raw)
}

/// The key of serde-saphyr's "duplicate mapping key: KEY, set
/// DuplicateKeyPolicy in Options if acceptable" (its advice is about its
/// API, not the user's file).
fn duplicate_key(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("duplicate mapping key")?;
    let rest = rest.trim_start_matches(':').trim_start();
    let key = rest
        .split_once(", set DuplicateKeyPolicy")
        .map_or(rest, |(k, _)| k)
        .trim();
    Some(key.trim_matches(['`', '"', '\''])).filter(|k| !k.is_empty())
}

/// The YAML parser's limits (`budget breached: Nodes { nodes: 250001 }`)
/// in words.
fn budget_message(msg: &str) -> Option<String> {
    let rest = msg.strip_prefix("budget breached: ")?;
    let name = rest.split([' ', '{']).next().unwrap_or("");
    let what = match name {
        "Nodes" | "Events" => "more than 250,000 YAML values",
        "Depth" => "YAML nested more than 64 levels deep",
        "Aliases" | "Anchors" | "AliasAnchorRatio" => "too many YAML aliases or anchors",
        "Documents" => "too many YAML documents",
        "ScalarBytes" => "more than 64 MiB of text",
        "MergeKeys" => "too many YAML merge keys (<<)",
        _ => "more than the YAML parser's limits allow",
    };
    Some(format!(
        "the file holds {what}, far more than any contexts file"
    ))
}

/// Did-you-mean for "unknown field `x`, expected one of a, b" messages.
fn hint_for_serde_message(msg: &str) -> String {
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = msg.strip_prefix(prefix)
            && let Some((word, tail)) = rest.split_once('`')
        {
            let expected: Vec<&str> = tail
                .split_once("expected one of ")
                .or_else(|| tail.split_once("expected "))
                .map(|(_, list)| {
                    list.split(',')
                        .map(|s| s.trim().trim_matches('`'))
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if let Some(s) = did_you_mean(word, expected.iter().copied()) {
                return format!("did you mean `{s}`?");
            }
            if !expected.is_empty() {
                return format!("valid here: {}", expected.join(", "));
            }
        }
    }
    "see config.example.yaml for every field and its type".to_string()
}

/// Whether group or others may read `p` (false when it cannot be read).
fn readable_by_others(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// Warns, like ssh, about a secret that group or others can read: a file
/// holding a password (inline, or in a server URL), or a `password-file`
/// (listed in `password_files`, checked again on every run). Returns
/// whether the file holds a secret itself.
fn warn_readable_secrets(
    path: &Path,
    raw: &RawFile,
    password_files: &mut Vec<super::cache::PasswordFile>,
    warn: bool,
) -> bool {
    let inline = raw.users.iter().any(|u| u.value.password.is_some());
    let in_url = raw.clusters.iter().any(|c| {
        let c = &c.value;
        c.server
            .iter()
            .chain(&c.nodes)
            .any(|u| redact_url(&u.value) != u.value)
    });
    let what = match (inline, in_url) {
        (true, false) => Some("an inline password"),
        (false, true) => Some("a password in a server URL"),
        (true, true) => Some("an inline password and a password in a server URL"),
        (false, false) => None,
    };
    if let Some(what) = what
        && warn
        && readable_by_others(path)
    {
        eprintln!(
            "warning: {} holds {what} and is readable by group or others; run `chmod 600 {}` (or use password-env / password-file)",
            path.display(),
            path.display()
        );
    }
    let start = password_files.len();
    for u in &raw.users {
        if let Some(f) = &u.value.password_file {
            password_files.push(super::cache::PasswordFile {
                file: expand_tilde(f),
                user: u.value.name.clone(),
                source: path.to_path_buf(),
            });
        }
    }
    if warn {
        warn_readable_password_files(&password_files[start..]);
    }
    inline || in_url
}

fn warn_readable_password_files(files: &[super::cache::PasswordFile]) {
    for p in files {
        if readable_by_others(&p.file) {
            eprintln!(
                "warning: password-file {} (user `{}` in {}) is readable by group or others; run `chmod 600 {}`",
                p.file.display(),
                p.user,
                p.source.display(),
                p.file.display()
            );
        }
    }
}

fn parse_duration(path: &Path, loc: Location, field: &str, s: &str) -> Result<std::time::Duration> {
    humantime::parse_duration(s.trim()).map_err(|e| {
        config_error(
            path,
            loc,
            format!("{field}: `{s}` is not a duration ({e})"),
            "write durations like 500ms, 5s, 2m",
        )
    })
}

/// Checks a server URL: scheme, host, port, database.
pub(crate) fn check_url(url: &str) -> std::result::Result<(), String> {
    let shown = redact_url(url);
    let parsed = url::Url::parse(url).map_err(|e| format!("`{shown}` is not a valid URL ({e})"))?;
    match parsed.scheme() {
        "redis" | "rediss" => {
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(format!("`{shown}` has no host"));
            }
            let path = parsed.path().trim_start_matches('/');
            if !path.is_empty() && path.parse::<u32>().is_err() {
                return Err(format!(
                    "`{shown}`: the path must be a database number, like /0"
                ));
            }
            Ok(())
        }
        "unix" => {
            if parsed.path().is_empty() || parsed.path() == "/" {
                return Err(format!("`{shown}` names no socket path"));
            }
            Ok(())
        }
        other => Err(format!(
            "`{shown}`: unsupported scheme `{other}` (use redis://, rediss:// or unix://)"
        )),
    }
}

fn check_name(path: &Path, loc: Location, what: &str, name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | '*' | '?' | '[' | ']' | '/' | '='));
    if bad {
        return Err(config_error(
            path,
            loc,
            format!("{what} name `{name}` is not allowed"),
            "names may not be empty nor contain spaces, commas, `/`, `=` or glob characters (* ? [ ])",
        ));
    }
    Ok(())
}

/// Loads a configuration from text, as if read from `path` (tests).
#[cfg(test)]
pub(crate) fn from_text(path: &Path, text: &str) -> Result<Config> {
    let sources = vec![SourceFile {
        path: path.to_path_buf(),
        text: text.to_string(),
    }];
    let raw = parse_file(path, text)?;
    merge(&sources, vec![raw])
}

/// Checks and merges already-read files (used by writes to validate an edit).
pub(crate) fn merge_checked(sources: &[SourceFile], raws: Vec<RawFile>) -> Result<Config> {
    merge(sources, raws)
}

/// Per-file checks, then a first-file-wins merge, then cross references.
fn merge(sources: &[SourceFile], raws: Vec<RawFile>) -> Result<Config> {
    let mut cfg = Config {
        sources: sources.to_vec(),
        ..Default::default()
    };
    let mut seen = [
        HashSet::new(),
        HashSet::new(),
        HashSet::new(),
        HashSet::new(),
    ];
    // Where each context was defined, for reference errors.
    let mut context_locs = Vec::new();
    for (idx, raw) in raws.iter().enumerate() {
        let path = &sources[idx].path;
        let api = raw.api_version.as_ref().expect("checked in parse_file");
        if api.value != "qctl/v1" {
            return Err(config_error(
                path,
                api.referenced,
                format!("unsupported apiVersion `{}`", api.value),
                "this qctl reads `apiVersion: qctl/v1`",
            ));
        }
        if let Some(kind) = &raw.kind
            && kind.value != "Config"
        {
            return Err(config_error(
                path,
                kind.referenced,
                format!("unsupported kind `{}`", kind.value),
                "`kind` is `Config`, or leave it out",
            ));
        }
        if cfg.current_context.is_none()
            && let Some(cc) = &raw.current_context
            && !cc.value.is_empty()
        {
            cfg.current_context = Some(cc.value.clone());
        }
        if cfg.audit_log.is_none()
            && let Some(a) = &raw.audit_log
        {
            cfg.audit_log = Some(expand_tilde(a));
        }
        if idx == 0
            && let Some(p) = &raw.preferences
        {
            cfg.preferences = preferences(path, p)?;
        }
        let mut local = [
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
            HashSet::new(),
        ];
        for c in &raw.clusters {
            let loc = c.referenced;
            check_name(path, loc, "cluster", &c.value.name)?;
            dup_check(path, loc, "cluster", &c.value.name, &mut local[0])?;
            let cluster = cluster(path, c)?;
            if seen[0].insert(cluster.name.clone()) {
                cfg.clusters.push(cluster);
            }
        }
        for u in &raw.users {
            let loc = u.referenced;
            check_name(path, loc, "user", &u.value.name)?;
            dup_check(path, loc, "user", &u.value.name, &mut local[1])?;
            let user = user(path, u)?;
            if seen[1].insert(user.name.clone()) {
                cfg.users.push(user);
            }
        }
        for s in &raw.queue_schemas {
            let loc = s.referenced;
            check_name(path, loc, "queue schema", &s.value.name)?;
            dup_check(path, loc, "queue schema", &s.value.name, &mut local[2])?;
            let schema = schema(path, s)?;
            if seen[2].insert(schema.name.clone()) {
                cfg.schemas.push(schema);
            }
        }
        for c in &raw.contexts {
            let loc = c.referenced;
            check_name(path, loc, "context", &c.value.name)?;
            dup_check(path, loc, "context", &c.value.name, &mut local[3])?;
            let ctx = context(path, idx, c)?;
            if seen[3].insert(ctx.name.clone()) {
                context_locs.push(loc);
                cfg.contexts.push(ctx);
            }
        }
    }
    if !cfg.schemas.iter().any(|s| s.name == "default") {
        cfg.schemas.insert(0, QueueSchema::builtin_default());
    }
    // Cross references, reported where the context is defined.
    for (ctx, loc) in cfg.contexts.iter().zip(&context_locs) {
        let path = &sources[ctx.source].path;
        if cfg.cluster(&ctx.cluster).is_none() {
            return Err(dangling(
                path,
                *loc,
                &ctx.name,
                "cluster",
                &ctx.cluster,
                cfg.clusters.iter().map(|c| c.name.as_str()),
            ));
        }
        if let Some(u) = &ctx.user
            && cfg.user(u).is_none()
        {
            return Err(dangling(
                path,
                *loc,
                &ctx.name,
                "user",
                u,
                cfg.users.iter().map(|c| c.name.as_str()),
            ));
        }
        if cfg.schema(&ctx.schema).is_none() {
            return Err(dangling(
                path,
                *loc,
                &ctx.name,
                "schema",
                &ctx.schema,
                cfg.schemas.iter().map(|c| c.name.as_str()),
            ));
        }
    }
    let _ = cfg.raw.set(raws);
    Ok(cfg)
}

fn dangling<'a>(
    path: &Path,
    loc: Location,
    ctx: &str,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) -> CliError {
    let hint = match did_you_mean(name, known.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let list: Vec<&str> = known.collect();
            if list.is_empty() {
                format!("define it under `{what}s:` (none are defined)")
            } else {
                format!("defined {what}s: {}", list.join(", "))
            }
        }
    };
    let section = if what == "schema" {
        "queue-schemas"
    } else {
        what
    };
    config_error(
        path,
        loc,
        format!("context `{ctx}` names {what} `{name}`, which is not defined"),
        hint.replace("under `schemas:`", &format!("under `{section}:`")),
    )
}

fn dup_check(
    path: &Path,
    loc: Location,
    what: &str,
    name: &str,
    seen: &mut HashSet<String>,
) -> Result<()> {
    if !seen.insert(name.to_string()) {
        return Err(config_error(
            path,
            loc,
            format!("duplicate {what} name `{name}`"),
            format!("each {what} needs a unique name in the file; rename or remove one"),
        ));
    }
    Ok(())
}

fn cluster(path: &Path, c: &serde_saphyr::Spanned<model::RawCluster>) -> Result<Cluster> {
    let raw = &c.value;
    let mode = raw.mode.unwrap_or_default();
    let mut urls = Vec::new();
    if let Some(s) = &raw.server {
        urls.push(s);
    }
    urls.extend(raw.nodes.iter());
    if urls.is_empty() {
        let hint = match mode {
            Mode::Standalone => "add `server: redis://host:6379`",
            Mode::Cluster => "add seed `nodes: [redis://host:6379, ...]`",
        };
        return Err(config_error(
            path,
            c.referenced,
            format!("cluster `{}` has no server", raw.name),
            hint,
        ));
    }
    if mode == Mode::Standalone && !raw.nodes.is_empty() {
        return Err(config_error(
            path,
            raw.nodes[0].referenced,
            format!(
                "cluster `{}` lists `nodes` but is not `mode: cluster`",
                raw.name
            ),
            "add `mode: cluster`, or use one `server:`",
        ));
    }
    for u in &urls {
        check_url(&u.value).map_err(|m| {
            config_error(
                path,
                u.referenced,
                m,
                "servers look like redis://host:6379/0, rediss://host:6380 or unix:///path/to.sock",
            )
        })?;
    }
    if mode == Mode::Cluster && urls.iter().any(|u| u.value.starts_with("unix:")) {
        return Err(config_error(
            path,
            c.referenced,
            "a Redis Cluster is reached over TCP, not unix sockets",
            "use redis:// or rediss:// seed nodes",
        ));
    }
    let tls = raw.tls.clone().unwrap_or_default();
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return Err(config_error(
            path,
            c.referenced,
            format!(
                "cluster `{}`: tls needs both cert-file and key-file",
                raw.name
            ),
            "a client certificate comes with its key",
        ));
    }
    Ok(Cluster {
        name: raw.name.clone(),
        mode,
        urls: urls.iter().map(|u| u.value.clone()).collect(),
        tls: TlsSettings {
            ca_file: tls.ca_file.as_deref().map(expand_tilde),
            cert_file: tls.cert_file.as_deref().map(expand_tilde),
            key_file: tls.key_file.as_deref().map(expand_tilde),
            insecure_skip_verify: tls.insecure_skip_verify,
        },
    })
}

fn user(path: &Path, u: &serde_saphyr::Spanned<model::RawUser>) -> Result<User> {
    let raw = &u.value;
    let sources = [
        raw.password.is_some(),
        raw.password_env.is_some(),
        raw.password_file.is_some(),
    ];
    if sources.iter().filter(|b| **b).count() > 1 {
        return Err(config_error(
            path,
            u.referenced,
            format!(
                "user `{}` sets more than one of password, password-env, password-file",
                raw.name
            ),
            "keep one",
        ));
    }
    let password = if let Some(p) = &raw.password {
        PasswordSource::Inline(Secret::new(p.clone()))
    } else if let Some(e) = &raw.password_env {
        PasswordSource::Env(e.clone())
    } else if let Some(f) = &raw.password_file {
        PasswordSource::File(expand_tilde(f))
    } else {
        PasswordSource::None
    };
    Ok(User {
        name: raw.name.clone(),
        username: raw.username.clone(),
        password,
    })
}

pub(crate) fn schema(
    path: &Path,
    s: &serde_saphyr::Spanned<model::RawSchema>,
) -> Result<QueueSchema> {
    let raw = &s.value;
    let loc = s.referenced;
    let kind_name = raw.kind.as_deref().unwrap_or("go-redis-work-queue");
    let kind = SchemaKind::parse(kind_name).ok_or_else(|| {
        let hint = match did_you_mean(kind_name, SchemaKind::ALL.iter().copied()) {
            Some(k) => format!("did you mean `{k}`?"),
            None => format!("supported kinds: {}", SchemaKind::ALL.join(", ")),
        };
        config_error(
            path,
            loc,
            format!("queue schema `{}`: unknown kind `{kind_name}`", raw.name),
            hint,
        )
    })?;
    let system = crate::systems::parse_schema(kind, &raw.options).map_err(|e| {
        config_error(
            path,
            loc,
            format!("queue schema `{}` ({kind_name}): {}", raw.name, e.message),
            e.hint,
        )
    })?;
    Ok(QueueSchema {
        name: raw.name.clone(),
        system,
    })
}

fn context(
    path: &Path,
    source: usize,
    c: &serde_saphyr::Spanned<model::RawContext>,
) -> Result<Context> {
    let raw = &c.value;
    let loc = c.referenced;
    if let Some(color) = &raw.color
        && !COLORS.contains(&color.as_str())
    {
        let hint = match did_you_mean(color, COLORS.iter().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("colours: {}", COLORS.join(", ")),
        };
        return Err(config_error(
            path,
            loc,
            format!("context `{}`: unknown color `{color}`", raw.name),
            hint,
        ));
    }
    if let Some(actions) = &raw.allowed_actions {
        for a in actions {
            if !WRITE_VERBS.contains(&a.as_str()) {
                let hint = match did_you_mean(a, WRITE_VERBS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("write verbs: {}", WRITE_VERBS.join(", ")),
                };
                return Err(config_error(
                    path,
                    loc,
                    format!(
                        "context `{}`: unknown action `{a}` in allowed-actions",
                        raw.name
                    ),
                    hint,
                ));
            }
        }
    }
    for (k, v) in &raw.labels {
        if !crate::select::valid_label_key(k) || !crate::select::valid_label_value(v) {
            return Err(config_error(
                path,
                loc,
                format!(
                    "context `{}`: label `{k}: {v}` is not a valid label",
                    raw.name
                ),
                "label keys and values use letters, digits, `-`, `_`, `.` and `/`",
            ));
        }
    }
    Ok(Context {
        name: raw.name.clone(),
        cluster: raw.cluster.clone(),
        user: raw.user.clone(),
        schema: raw.schema.clone().unwrap_or_else(|| "default".into()),
        labels: raw.labels.clone(),
        color: raw.color.clone(),
        protected: raw.protected,
        allowed_actions: raw.allowed_actions.clone(),
        enabled: raw.enabled.unwrap_or(true),
        source,
    })
}

fn preferences(
    path: &Path,
    p: &serde_saphyr::Spanned<model::RawPreferences>,
) -> Result<Preferences> {
    use crate::limits;
    let loc = p.referenced;
    let raw = &p.value;
    let range_error = |field: &str, msg: String| {
        config_error(
            path,
            loc,
            format!("preferences.{field}: {msg}"),
            "see the ranges in README.md (Global flags), or leave the field out for the default",
        )
    };
    let dur = |field: &str,
               v: &Option<String>,
               range: limits::DurationRange|
     -> Result<Option<std::time::Duration>> {
        let Some(s) = v.as_deref() else {
            return Ok(None);
        };
        let d = parse_duration(path, loc, &format!("preferences.{field}"), s)?;
        range.check(d).map(Some).map_err(|m| range_error(field, m))
    };
    let float = |field: &str, v: f64, range: limits::FloatRange| -> Result<f64> {
        range.check(v).map_err(|m| range_error(field, m))
    };
    let mut health = HealthThresholds::default();
    let mut health_in_file = super::HealthInFile::default();
    if let Some(h) = &raw.health {
        health_in_file = super::HealthInFile {
            max_latency: h.max_latency.is_some(),
            max_dead_letter: h.max_dead_letter.is_some(),
            max_orphaned_jobs: h.max_orphaned_jobs.is_some(),
            max_memory_percent: h.max_memory_percent.is_some(),
            require_workers: h.require_workers.is_some(),
        };
        if let Some(d) = dur("health.max-latency", &h.max_latency, limits::MAX_LATENCY)? {
            health.max_latency = d;
        }
        if let Some(v) = h.max_dead_letter {
            health.max_dead_letter = v;
        }
        if let Some(v) = h.max_orphaned_jobs {
            health.max_orphaned_jobs = v;
        }
        if let Some(v) = h.max_memory_percent {
            health.max_memory_percent =
                float("health.max-memory-percent", v, limits::MAX_MEMORY_PERCENT)?;
        }
        if let Some(v) = h.require_workers {
            health.require_workers = v;
        }
    }
    let max_concurrency = raw
        .max_concurrency
        .map(|n| {
            limits::MAX_CONCURRENCY
                .check(n as u64)
                .map(|n| n as usize)
                .map_err(|m| range_error("max-concurrency", m))
        })
        .transpose()?;
    let compare_threshold = raw
        .compare
        .as_ref()
        .and_then(|c| c.threshold)
        .map(|v| float("compare.threshold", v, limits::THRESHOLD))
        .transpose()?;
    Ok(Preferences {
        timeout: dur("timeout", &raw.timeout, limits::TIMEOUT)?,
        connect_timeout: dur(
            "connect-timeout",
            &raw.connect_timeout,
            limits::CONNECT_TIMEOUT,
        )?,
        max_concurrency,
        watch_interval: dur(
            "watch.interval",
            &raw.watch.as_ref().and_then(|w| w.interval.clone()),
            limits::WATCH_INTERVAL,
        )?,
        watch_jitter: dur(
            "watch.jitter",
            &raw.watch.as_ref().and_then(|w| w.jitter.clone()),
            limits::WATCH_JITTER,
        )?,
        compare_threshold,
        health,
        health_in_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        from_text(Path::new("/x/config.yaml"), text)
    }

    #[test]
    fn minimal_file() {
        let cfg = parse(
            "apiVersion: qctl/v1\ncurrent-context: a\nclusters:\n  - name: c\n    server: redis://127.0.0.1:6379\ncontexts:\n  - name: a\n    cluster: c\n",
        )
        .unwrap();
        assert_eq!(cfg.contexts.len(), 1);
        assert_eq!(cfg.contexts[0].schema, "default");
        assert!(cfg.contexts[0].enabled);
        assert_eq!(cfg.current_context.as_deref(), Some("a"));
        assert_eq!(cfg.schemas[0], QueueSchema::builtin_default());
    }

    #[test]
    fn unknown_field_has_location_and_suggestion() {
        let e = parse(
            "apiVersion: qctl/v1\ncontexts:\n  - name: a\n    cluster: c\n    protcted: true\n",
        )
        .unwrap_err();
        assert!(
            e.message
                .starts_with("/x/config.yaml:5:5: unknown field `protcted`"),
            "{}",
            e.message
        );
        assert_eq!(e.hint.as_deref(), Some("did you mean `protected`?"));
    }

    #[test]
    fn dangling_reference_points_at_context() {
        let e = parse(
            "apiVersion: qctl/v1\nclusters:\n  - name: prod\n    server: redis://h\ncontexts:\n  - name: a\n    cluster: prd\n",
        )
        .unwrap_err();
        assert!(e.message.starts_with("/x/config.yaml:6:"), "{}", e.message);
        assert!(e.message.contains("cluster `prd`"));
        assert_eq!(e.hint.as_deref(), Some("did you mean `prod`?"));
    }

    #[test]
    fn urls() {
        assert!(check_url("redis://h:6379/0").is_ok());
        assert!(check_url("rediss://u:p@h:6380").is_ok());
        assert!(check_url("unix:///tmp/r.sock").is_ok());
        assert!(
            check_url("http://h")
                .unwrap_err()
                .contains("unsupported scheme")
        );
        assert!(check_url("redis://h/abc").is_err());
        assert!(
            check_url("redis://:secret@h:notaport")
                .unwrap_err()
                .contains(":REDACTED@")
        );
    }
}
