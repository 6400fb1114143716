//! `qctl config ...`: local reads and edits of the contexts file.

use crate::cli::{ConfigCommand, OutputFormat, SetContextArgs};
use crate::contexts::{self, Config, ContextEdit, Mode, redact_url};
use crate::error::{CliError, ExitCode, Result};
use crate::output::{ListDoc, Styled};
use crate::settings::Settings;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) fn run(cmd: &ConfigCommand, config: &Config, settings: &Settings) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::GetContexts => get_contexts(config, settings, None),
        ConfigCommand::CurrentContext => current_context(config, settings),
        ConfigCommand::UseContext { name } => use_context(config, settings, name),
        ConfigCommand::SetContext(args) => set_context(config, settings, args),
        ConfigCommand::DeleteContext { name } => {
            let path = contexts::delete_context(config, name)?;
            settings.printer.note(&format!(
                "Deleted context \"{name}\" from {}.",
                path.display()
            ));
            if config.current_context.as_deref() == Some(name.as_str()) {
                settings.printer.warn(
                    "this removed the current context; run `qctl config use-context NAME` to pick another",
                );
            }
            Ok(ExitCode::Ok)
        }
        ConfigCommand::View { minify, raw } => view(config, settings, *minify, *raw),
        ConfigCommand::Validate => validate(config, settings),
    }
}

/// One row of `config get-contexts` (`ContextList` item).
#[derive(Debug, Serialize)]
struct ContextItem {
    name: String,
    current: bool,
    cluster: String,
    user: Option<String>,
    schema: String,
    mode: Mode,
    server: String,
    labels: BTreeMap<String, String>,
    color: Option<String>,
    protected: bool,
    enabled: bool,
    allowed_actions: Option<Vec<String>>,
    file: String,
}

/// The current context as every other command sees it: `QCTL_CONTEXT`
/// when it is set (a name, a list or a glob), else `current-context` from
/// the file.
struct Current {
    names: Vec<String>,
    /// Set when `QCTL_CONTEXT` decided it.
    from_env: bool,
}

fn current(config: &Config, settings: &Settings) -> Result<Current> {
    let env = settings
        .select
        .env_context
        .as_deref()
        .filter(|s| !s.trim().is_empty());
    match env {
        Some(env) => {
            let args = crate::select::SelectArgs {
                env_context: Some(env.to_string()),
                ..Default::default()
            };
            let set = crate::select::select(config, &args)?;
            Ok(Current {
                names: set.typed_order,
                from_env: true,
            })
        }
        None => Ok(Current {
            names: config.current_context.iter().cloned().collect(),
            from_env: false,
        }),
    }
}

/// `prod-eu (from QCTL_CONTEXT; the file's current-context is staging)`.
fn from_env_note(config: &Config, names: &[String]) -> String {
    let file = match &config.current_context {
        Some(c) => format!("the file's current-context is {c}"),
        None => "the file sets no current-context".into(),
    };
    format!("{} (from QCTL_CONTEXT; {file})", names.join(","))
}

fn items(config: &Config, current: &[String]) -> Vec<ContextItem> {
    config
        .contexts
        .iter()
        .map(|c| {
            let cluster = config.cluster(&c.cluster).expect("checked on load");
            ContextItem {
                name: c.name.clone(),
                current: current.contains(&c.name),
                cluster: c.cluster.clone(),
                user: c.user.clone(),
                schema: c.schema.clone(),
                mode: cluster.mode,
                server: cluster
                    .urls
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(","),
                labels: c.labels.clone(),
                color: c.color.clone(),
                protected: c.protected,
                enabled: c.enabled,
                allowed_actions: c.allowed_actions.clone(),
                file: config.sources[c.source].path.display().to_string(),
            }
        })
        .collect()
}

pub(crate) use crate::output::labels_text;

/// Where the context before the last switch is remembered (for
/// `use-context -`): `$XDG_STATE_HOME/qctl/previous-context`, else
/// `~/.local/state/qctl/previous-context`; never the contexts file.
fn previous_path() -> std::path::PathBuf {
    match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => std::path::PathBuf::from(dir).join("qctl/previous-context"),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into()))
            .join(".local/state/qctl/previous-context"),
    }
}

/// `use-context NAME` (or `-`, the one before the last switch): writes
/// `current-context` in the contexts file and remembers the one it
/// replaces.
pub(crate) fn use_context(config: &Config, settings: &Settings, name: &str) -> Result<ExitCode> {
    let state = previous_path();
    let name = if name == "-" {
        match std::fs::read_to_string(&state) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                return Err(CliError::failure(format!(
                    "no previous context to go back to ({} holds none yet)",
                    state.display()
                ))
                .with_hint(
                    "qctl remembers the context a `qctl use-context NAME` switched away from",
                ));
            }
        }
    } else {
        name.to_string()
    };
    let before = config.current_context.clone();
    let path = contexts::use_context(config, &name)?;
    if let Some(prev) = before.filter(|p| *p != name) {
        let written = state
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&state, format!("{prev}\n")));
        if let Err(e) = written {
            settings.printer.warn(&format!(
                "could not remember {prev} for `use-context -` in {}: {e}",
                state.display()
            ));
        }
    }
    settings.printer.note(&format!(
        "Switched to context \"{name}\" (in {}).",
        path.display()
    ));
    Ok(ExitCode::Ok)
}

/// The JSON fields of a `ContextList` item.
pub(crate) const CONTEXT_FIELDS: &[&str] = &[
    "name",
    "current",
    "cluster",
    "user",
    "schema",
    "mode",
    "server",
    "labels",
    "color",
    "protected",
    "enabled",
    "allowed_actions",
    "file",
];

pub(crate) fn get_contexts(
    config: &Config,
    settings: &Settings,
    sort: Option<&crate::output::columns::SortKey>,
) -> Result<ExitCode> {
    let p = &settings.printer;
    if let Some(k) = sort {
        crate::output::columns::check_root(&k.path, CONTEXT_FIELDS, "--sort-by")
            .map_err(CliError::usage)?;
    }
    for c in p.columns.iter().flat_map(|c| c.iter()) {
        crate::output::columns::check_root(
            &c.path,
            CONTEXT_FIELDS,
            &format!("custom-columns `{}`", c.header),
        )
        .map_err(CliError::usage)?;
    }
    let current = match current(config, settings) {
        Ok(c) => c,
        Err(e) => {
            p.warn(&format!("{}; no context is marked current", e.message));
            Current {
                names: Vec::new(),
                from_env: true,
            }
        }
    };
    if current.from_env && !current.names.is_empty() {
        p.note(&format!(
            "current context: {}",
            from_env_note(config, &current.names)
        ));
    }
    let mut items = items(config, &current.names);
    if let Some(k) = sort {
        items = crate::inspect::list::sort_items(items, k);
    }
    match p.format {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::CustomColumns => {
            p.document(&ListDoc::new("ContextList", items, vec![]))?;
        }
        OutputFormat::Name => p.names(items.into_iter().map(|i| i.name))?,
        OutputFormat::Table | OutputFormat::Wide => {
            let wide = p.format == OutputFormat::Wide;
            let mut headers = vec![
                "CURRENT",
                "NAME",
                "CLUSTER",
                "USER",
                "LABELS",
                "PROTECTED",
                "ENABLED",
            ];
            if wide {
                headers.extend(["SCHEMA", "MODE", "SERVER", "ALLOWED-ACTIONS", "FILE"]);
            }
            let rows = items
                .into_iter()
                .map(|i| {
                    let mut row: Vec<Styled> = vec![
                        if i.current { "*" } else { "" }.into(),
                        Styled::colored(i.name, i.color.as_deref()),
                        i.cluster.into(),
                        crate::output::or_absent(i.user).into(),
                        labels_text(&i.labels).into(),
                        if i.protected { "yes" } else { "no" }.into(),
                        if i.enabled { "yes" } else { "no" }.into(),
                    ];
                    if wide {
                        row.push(i.schema.into());
                        row.push(format!("{:?}", i.mode).to_lowercase().into());
                        row.push(i.server.into());
                        row.push(
                            i.allowed_actions
                                .map(|a| crate::output::list_or_none(&a))
                                .unwrap_or_else(|| "<all>".into())
                                .into(),
                        );
                        row.push(i.file.into());
                    }
                    row
                })
                .collect();
            p.table(&headers, rows)?;
        }
    }
    Ok(ExitCode::Ok)
}

/// The name alone on stdout, for scripts; where it came from on stderr
/// when that is `QCTL_CONTEXT` rather than the file.
pub(crate) fn current_context(config: &Config, settings: &Settings) -> Result<ExitCode> {
    let c = current(config, settings)?;
    if c.names.is_empty() {
        return Err(CliError::failure("current-context is not set")
            .with_hint("run `qctl config use-context NAME`"));
    }
    if settings.printer.is_machine() {
        settings.printer.document(&serde_json::json!({
            "apiVersion": "qctl/v1",
            "kind": "CurrentContext",
            "name": c.names.join(","),
            "source": if c.from_env { "QCTL_CONTEXT" } else { "current-context" },
        }))?;
    } else {
        settings
            .printer
            .stdout(&format!("{}\n", c.names.join(",")))?;
    }
    if c.from_env {
        settings.printer.note(&from_env_note(config, &c.names));
    }
    Ok(ExitCode::Ok)
}

fn set_context(config: &Config, settings: &Settings, a: &SetContextArgs) -> Result<ExitCode> {
    let edit = ContextEdit {
        cluster: a.cluster_name.clone(),
        user: a.user.clone(),
        schema: a.schema.clone(),
        color: a.context_color.clone(),
        protected: a.protected,
        enabled: a.enabled,
        labels: a.labels.clone(),
    };
    let (path, created) = contexts::set_context(config, &a.name, &edit)?;
    settings.printer.note(&format!(
        "Context \"{}\" {} (in {}).",
        a.name,
        if created { "created" } else { "modified" },
        path.display()
    ));
    Ok(ExitCode::Ok)
}

use crate::output::REDACTED;

/// Replaces the password in a URL's userinfo with REDACTED.
fn redact_url_for_view(v: &mut Value) {
    if let Value::String(s) = v {
        *s = redact_url(s);
    }
}

/// The merged document as `config view` shows it.
fn merged_view(config: &Config, minify: bool, raw: bool) -> Result<Value> {
    let mut doc = serde_json::Map::new();
    doc.insert("apiVersion".into(), "qctl/v1".into());
    doc.insert("kind".into(), "Config".into());
    if let Some(cc) = &config.current_context {
        doc.insert("current-context".into(), cc.clone().into());
    }
    let mut firsts: BTreeMap<&str, Value> = BTreeMap::new();
    let mut lists: Vec<(&str, Vec<Value>)> = ["clusters", "users", "contexts", "queue-schemas"]
        .iter()
        .map(|k| (*k, Vec::new()))
        .collect();
    for r in config.raw()? {
        let v = serde_json::to_value(r)
            .map_err(|e| CliError::failure(format!("cannot render: {e}")))?;
        for key in ["audit-log", "preferences"] {
            if let Some(x) = v.get(key) {
                firsts.entry(key).or_insert_with(|| x.clone());
            }
        }
        for (key, list) in lists.iter_mut() {
            for item in v.get(*key).and_then(Value::as_array).into_iter().flatten() {
                let name = item.get("name");
                if !list.iter().any(|x| x.get("name") == name) {
                    list.push(item.clone());
                }
            }
        }
    }
    if minify {
        let Some(cc) = &config.current_context else {
            return Err(CliError::failure("--minify needs a current-context")
                .with_hint("run `qctl config use-context NAME` first"));
        };
        let ctx = config.context(cc).expect("checked on load");
        let keep = |key: &str, name: &str| -> bool {
            match key {
                "contexts" => name == ctx.name,
                "clusters" => name == ctx.cluster,
                "users" => ctx.user.as_deref() == Some(name),
                _ => name == ctx.schema,
            }
        };
        for (key, list) in lists.iter_mut() {
            list.retain(|x| {
                keep(
                    key,
                    x.get("name").and_then(Value::as_str).unwrap_or_default(),
                )
            });
        }
    }
    for (k, v) in firsts {
        doc.insert(k.into(), v);
    }
    for (key, mut list) in lists {
        if !raw {
            for item in list.iter_mut() {
                if key == "users"
                    && let Some(p) = item.get_mut("password")
                {
                    *p = REDACTED.into();
                }
                if key == "clusters" {
                    if let Some(s) = item.get_mut("server") {
                        redact_url_for_view(s);
                    }
                    if let Some(Value::Array(nodes)) = item.get_mut("nodes") {
                        nodes.iter_mut().for_each(redact_url_for_view);
                    }
                }
            }
        }
        if !list.is_empty() {
            doc.insert(key.into(), Value::Array(list));
        }
    }
    Ok(Value::Object(doc))
}

fn view(config: &Config, settings: &Settings, minify: bool, raw: bool) -> Result<ExitCode> {
    let doc = merged_view(config, minify, raw)?;
    let mut printer = settings.printer.clone();
    if !printer.is_machine() {
        printer.format = OutputFormat::Yaml;
    }
    printer.document(&doc)?;
    Ok(ExitCode::Ok)
}

#[derive(Serialize)]
struct Validation {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'static str,
    valid: bool,
    files: Vec<String>,
    contexts: usize,
    clusters: usize,
    users: usize,
    queue_schemas: usize,
    warnings: Vec<String>,
}

fn validate(config: &Config, settings: &Settings) -> Result<ExitCode> {
    if config.sources.is_empty() {
        return Err(contexts::no_contexts_file(config.location.as_ref()));
    }
    // A current-context that names no context fails every command that
    // relies on it.
    if let Some(cc) = &config.current_context
        && config.context(cc).is_none()
    {
        let place = config
            .raw()?
            .iter()
            .zip(&config.sources)
            .find_map(|(r, s)| {
                r.current_context
                    .as_ref()
                    .filter(|c| !c.value.is_empty())
                    .map(|c| (s, c.referenced))
            })
            .map(|(s, loc)| {
                if loc == serde_saphyr::Location::UNKNOWN {
                    format!("{}: ", s.path.display())
                } else {
                    format!("{}:{}:{}: ", s.path.display(), loc.line(), loc.column())
                }
            })
            .unwrap_or_default();
        let names = config.contexts.iter().map(|c| c.name.as_str());
        let hint = match contexts::did_you_mean(cc, names) {
            Some(s) => format!("did you mean `{s}`? run `qctl config use-context {s}`"),
            None => {
                "run `qctl config use-context NAME` with a context from `qctl config get-contexts`"
                    .into()
            }
        };
        return Err(CliError::failure(format!(
            "{place}current-context `{cc}` names a context that is not defined"
        ))
        .with_hint(hint));
    }
    // Password sources that would fail when their context is used.
    let mut warnings = Vec::new();
    for u in &config.users {
        match &u.password {
            contexts::PasswordSource::Env(var) if std::env::var_os(var).is_none() => {
                warnings.push(format!(
                    "user `{}`: password-env `{var}` is not set in this environment",
                    u.name
                ))
            }
            contexts::PasswordSource::File(f) if !f.exists() => warnings.push(format!(
                "user `{}`: password-file {} does not exist",
                u.name,
                f.display()
            )),
            _ => {}
        }
    }
    let v = Validation {
        api_version: "qctl/v1",
        kind: "Validation",
        valid: true,
        files: config
            .sources
            .iter()
            .map(|s| s.path.display().to_string())
            .collect(),
        contexts: config.contexts.len(),
        clusters: config.clusters.len(),
        users: config.users.len(),
        queue_schemas: config.schemas.len(),
        warnings,
    };
    let p = &settings.printer;
    if p.is_machine() {
        p.document(&v)?;
    } else {
        for w in &v.warnings {
            p.warn(w);
        }
        let n = |n: usize, what: &str| crate::output::count(n as u64, what);
        p.stdout(&format!(
            "{}: valid ({}, {}, {}, {})\n",
            v.files.join(":"),
            n(v.contexts, "context"),
            n(v.clusters, "cluster"),
            n(v.users, "user"),
            n(v.queue_schemas, "queue schema")
        ))?;
    }
    Ok(ExitCode::Ok)
}
