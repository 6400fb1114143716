//! Queue schemas: which system a context speaks, and that system's own
//! options, parsed by the system itself (the contexts file only knows a
//! schema's `name` and `kind`).

use super::SchemaKind;
use indexmap::IndexMap;
use serde_json::Value;

/// A schema's options as written, by key (everything but `name` and
/// `kind`).
pub(crate) type SchemaOptions = IndexMap<String, Value>;

/// What is wrong with a schema's options, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaError {
    pub(crate) message: String,
    pub(crate) hint: String,
}

impl SchemaError {
    pub(crate) fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        SchemaError {
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// Options shared by the parsers: unknown keys are an error naming the
/// kind's own options, with a did-you-mean.
pub(crate) fn check_known(
    kind: SchemaKind,
    options: &SchemaOptions,
    known: &[&str],
) -> Result<(), SchemaError> {
    for key in options.keys() {
        if !known.contains(&key.as_str()) {
            let hint = match crate::output::did_you_mean(key, known.iter().copied()) {
                Some(s) => format!(
                    "did you mean `{s}`? {} options: {}",
                    kind.as_str(),
                    known.join(", ")
                ),
                None => format!("{} options: {}", kind.as_str(), known.join(", ")),
            };
            return Err(SchemaError::new(
                format!("`{key}` is not an option of {}", kind.as_str()),
                hint,
            ));
        }
    }
    Ok(())
}

/// A string option, if present.
pub(crate) fn string(options: &SchemaOptions, key: &str) -> Result<Option<String>, SchemaError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(SchemaError::new(
            format!("`{key}` must be a string, not {}", describe(other)),
            format!("write {key}: \"...\""),
        )),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A mapping of strings to strings (`queues: { high: key }`), in order.
pub(crate) fn string_map(
    options: &SchemaOptions,
    key: &str,
) -> Result<Option<Vec<(String, String)>>, SchemaError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(SchemaError::new(
                    format!(
                        "`{key}.{k}` must be a string (a key name), not {}",
                        describe(other)
                    ),
                    format!("write {key}: {{ {k}: \"prefix:{k}\" }}"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(SchemaError::new(
            format!(
                "`{key}` must be a mapping of name to key, not {}",
                describe(other)
            ),
            format!("write {key}: {{ high: \"jobqueue:high_priority\" }}"),
        )),
    }
}

/// A list of strings (`queues: [default, mail]`).
pub(crate) fn string_list(
    options: &SchemaOptions,
    key: &str,
) -> Result<Option<Vec<String>>, SchemaError> {
    match options.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(SchemaError::new(
                    format!("`{key}` must list names, not {}", describe(other)),
                    format!("write {key}: [default, mail]"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(SchemaError::new(
            format!("`{key}` must be a list of names, not {}", describe(other)),
            format!("write {key}: [default, mail]"),
        )),
    }
}
