//! `-o custom-columns=HEADER:FIELD,...` (kubectl's syntax) and
//! `--sort-by FIELD`, both over the JSON document a verb prints: a field is
//! a path into one item (`.dead_letter`, `labels.env`, `rates.completed_per_s`,
//! `process.busy_jobs[0]`), with or without the leading dot, with or
//! without kubectl's `{}` braces.

use serde_json::Value;
use std::cmp::Ordering;

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A path into one item of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldPath {
    steps: Vec<Step>,
    text: String,
}

impl FieldPath {
    pub(crate) fn parse(raw: &str) -> Result<FieldPath, String> {
        let text = raw.trim();
        let inner = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        let inner = inner.strip_prefix('.').unwrap_or(inner);
        if inner.is_empty() {
            return Err(format!(
                "`{raw}` names no field; write a field of the JSON document, like .context or .labels.env"
            ));
        }
        let mut steps = Vec::new();
        for part in inner.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if name.is_empty() && rest.is_empty() {
                return Err(format!(
                    "`{raw}` has an empty step (`..`); write fields separated by one dot, like .rates.completed_per_s"
                ));
            }
            if !name.is_empty() {
                steps.push(Step::Key(name.to_string()));
            }
            while !rest.is_empty() {
                let close = rest.find(']').ok_or_else(|| {
                    format!("`{raw}`: `[` without `]`; write an index like .busy_jobs[0]")
                })?;
                let idx = rest[1..close].trim().parse::<usize>().map_err(|_| {
                    format!(
                        "`{raw}`: `{}` is not an index; write a whole number like [0]",
                        &rest[..=close]
                    )
                })?;
                steps.push(Step::Index(idx));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!(
                        "`{raw}`: `{rest}` after an index; separate fields with a dot"
                    ));
                }
            }
        }
        Ok(FieldPath {
            steps,
            text: format!(".{inner}"),
        })
    }

    /// The top-level field the path starts with.
    pub(crate) fn root(&self) -> Option<&str> {
        match self.steps.first() {
            Some(Step::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The path as written, with its leading dot.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The value at this path in `v`, if any.
    pub(crate) fn get<'a>(&self, v: &'a Value) -> Option<&'a Value> {
        let mut cur = v;
        for s in &self.steps {
            cur = match s {
                Step::Key(k) => cur.get(k)?,
                Step::Index(i) => cur.get(*i)?,
            };
        }
        Some(cur)
    }
}

/// One `HEADER:FIELD` of `-o custom-columns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) header: String,
    pub(crate) path: FieldPath,
}

/// Parses `HEADER:FIELD,HEADER:FIELD`; the message says how to fix it.
pub(crate) fn parse_columns(spec: &str) -> Result<Vec<Column>, String> {
    let mut out = Vec::new();
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((header, field)) = part.split_once(':') else {
            return Err(format!(
                "custom-columns: `{part}` has no `:`; write HEADER:FIELD, like NAME:.context,DLQ:.dead_letter"
            ));
        };
        if header.trim().is_empty() {
            return Err(format!(
                "custom-columns: `{part}` has an empty header; write HEADER:FIELD, like DLQ:.dead_letter"
            ));
        }
        let path = FieldPath::parse(field).map_err(|e| format!("custom-columns: {e}"))?;
        out.push(Column {
            header: header.trim().to_string(),
            path,
        });
    }
    if out.is_empty() {
        return Err(
            "custom-columns needs at least one column; write -o custom-columns=NAME:.context,DLQ:.dead_letter"
                .into(),
        );
    }
    Ok(out)
}

/// A value as a table cell: strings bare, numbers as JSON writes them,
/// lists of scalars comma-joined, `<none>` for null or missing (kubectl's
/// word in custom columns).
pub(crate) fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<none>".into(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.iter().all(|x| !x.is_array() && !x.is_object()) => {
            if a.is_empty() {
                return "<none>".into();
            }
            a.iter()
                .map(|x| cell(Some(x)))
                .collect::<Vec<_>>()
                .join(",")
        }
        Some(Value::Object(o)) if o.values().all(|x| !x.is_array() && !x.is_object()) => {
            if o.is_empty() {
                return "<none>".into();
            }
            o.iter()
                .map(|(k, x)| format!("{k}={}", cell(Some(x))))
                .collect::<Vec<_>>()
                .join(",")
        }
        Some(other) => other.to_string(),
    }
}

/// `--sort-by FIELD`, `-FIELD` for descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortKey {
    pub(crate) path: FieldPath,
    pub(crate) descending: bool,
}

impl SortKey {
    pub(crate) fn parse(raw: &str) -> Result<SortKey, String> {
        let t = raw.trim();
        let (descending, field) = match t.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, t),
        };
        Ok(SortKey {
            path: FieldPath::parse(field)?,
            descending,
        })
    }

    /// Orders two items by this key: numbers by value, strings as text,
    /// booleans false first; null and missing values last either way.
    pub(crate) fn compare(&self, a: &Value, b: &Value) -> Ordering {
        let (x, y) = (self.path.get(a), self.path.get(b));
        let present = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
        match (present(x), present(y)) {
            (false, false) => return Ordering::Equal,
            (false, true) => return Ordering::Greater,
            (true, false) => return Ordering::Less,
            _ => {}
        }
        let o = compare_values(x.expect("present"), y.expect("present"));
        if self.descending { o.reverse() } else { o }
    }
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        }
        (Value::String(x), Value::String(y)) => natural(x, y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => x.len().cmp(&y.len()),
        // Mixed kinds: numbers before strings before the rest.
        _ => rank(a).cmp(&rank(b)),
    }
}

fn rank(v: &Value) -> u8 {
    match v {
        Value::Number(_) => 0,
        Value::String(_) => 1,
        Value::Bool(_) => 2,
        _ => 3,
    }
}

/// Text order where runs of digits compare as numbers: `worker-2` before
/// `worker-10`, as a person expects of names.
fn natural(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (p, q) = (trim_zeros(&x[..n]), trim_zeros(&y[..m]));
                let o = p.len().cmp(&q.len()).then_with(|| p.cmp(q));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let i = d.iter().take_while(|c| **c == b'0').count();
    &d[i.min(d.len().saturating_sub(1))..]
}

/// Checks that every field's top level is one of `fields` (the verb's
/// JSON fields); the error names the closest one.
pub(crate) fn check_root(path: &FieldPath, fields: &[&str], what: &str) -> Result<(), String> {
    let Some(root) = path.root() else {
        return Err(format!(
            "{what} `{}` does not start with a field name",
            path.as_str()
        ));
    };
    if fields.contains(&root) {
        return Ok(());
    }
    let hint = match super::did_you_mean(root, fields.iter().copied()) {
        Some(s) => format!("did you mean `{s}`? The fields are: {}", fields.join(", ")),
        None => format!("the fields are: {}", fields.join(", ")),
    };
    Err(format!("{what}: no field `{root}` here; {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths() {
        let v = json!({"context": "a", "labels": {"env": "prod"}, "jobs": [{"id": "x"}]});
        for p in [".context", "context", "{.context}"] {
            assert_eq!(FieldPath::parse(p).unwrap().get(&v), Some(&json!("a")));
        }
        assert_eq!(
            FieldPath::parse(".labels.env").unwrap().get(&v),
            Some(&json!("prod"))
        );
        assert_eq!(
            FieldPath::parse(".jobs[0].id").unwrap().get(&v),
            Some(&json!("x"))
        );
        assert_eq!(FieldPath::parse(".nope").unwrap().get(&v), None);
        assert!(FieldPath::parse(".").is_err());
        assert!(FieldPath::parse(".a..b").is_err());
        assert!(FieldPath::parse(".a[x]").is_err());
        assert!(FieldPath::parse(".a[0").is_err());
    }

    #[test]
    fn columns() {
        let c = parse_columns("NAME:.context,DLQ:dead_letter").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].header, "DLQ");
        assert!(parse_columns("NAME").unwrap_err().contains("HEADER:FIELD"));
        assert!(parse_columns(":.x").is_err());
        assert!(parse_columns("").is_err());
        assert_eq!(cell(Some(&json!(null))), "<none>");
        assert_eq!(cell(None), "<none>");
        assert_eq!(cell(Some(&json!(["a", "b"]))), "a,b");
        assert_eq!(cell(Some(&json!({"env": "prod"}))), "env=prod");
        assert_eq!(cell(Some(&json!(1.5))), "1.5");
    }

    #[test]
    fn sorting() {
        let items = [
            json!({"n": "w-10", "d": 3}),
            json!({"n": "w-2", "d": null}),
            json!({"n": "w-1", "d": 7}),
        ];
        let mut v: Vec<&Value> = items.iter().collect();
        let k = SortKey::parse("n").unwrap();
        v.sort_by(|a, b| k.compare(a, b));
        assert_eq!(
            v.iter()
                .map(|x| x["n"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["w-1", "w-2", "w-10"]
        );
        let k = SortKey::parse("-d").unwrap();
        v.sort_by(|a, b| k.compare(a, b));
        assert_eq!(
            v.iter()
                .map(|x| x["n"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["w-1", "w-10", "w-2"],
            "descending, null last"
        );
    }

    #[test]
    fn roots_are_checked() {
        let p = FieldPath::parse(".dead_leter").unwrap();
        let e = check_root(&p, &["context", "dead_letter"], "--sort-by").unwrap_err();
        assert!(e.contains("did you mean `dead_letter`"), "{e}");
        assert!(check_root(&FieldPath::parse("context").unwrap(), &["context"], "x").is_ok());
    }
}
