//! Byte-preserving edits of a JSON object's top-level members: a job's
//! payload keeps every byte qctl does not mean to change (key order,
//! spacing, number formats, nested objects with the same key names).

struct Member {
    name: String,
    key_start: usize,
    /// The value's span.
    value: (usize, usize),
}

/// The byte span of the value of `key` at the top level of a JSON object
/// (the last one, as parsers keep it when a key repeats).
pub(crate) fn top_level_value(s: &[u8], key: &str) -> Option<(usize, usize)> {
    members(s)?
        .into_iter()
        .rev()
        .find(|m| m.name == key)
        .map(|m| m.value)
}

/// `s` with the top-level `key` set to the raw JSON `value` (added at the
/// end when absent); `None` when `s` is not a JSON object.
pub(crate) fn set_top_level(s: &[u8], key: &str, value: &str) -> Option<Vec<u8>> {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(s).ok()?;
    let ms = members(s)?;
    let mut out = Vec::with_capacity(s.len() + key.len() + value.len() + 4);
    match ms.iter().rev().find(|m| m.name == key) {
        Some(m) => {
            out.extend_from_slice(&s[..m.value.0]);
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(&s[m.value.1..]);
        }
        None => {
            let close = s.iter().rposition(|c| *c == b'}')?;
            out.extend_from_slice(&s[..close]);
            if !ms.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(serde_json::to_string(key).ok()?.as_bytes());
            out.push(b':');
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(&s[close..]);
        }
    }
    Some(out)
}

/// `s` without the top-level `key` (every occurrence); `None` when `s` is
/// not a JSON object or has no such key.
pub(crate) fn remove_top_level(s: &[u8], key: &str) -> Option<Vec<u8>> {
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(s).ok()?;
    let ms = members(s)?;
    if !ms.iter().any(|m| m.name == key) {
        return None;
    }
    // Rebuild from the kept members' own bytes, in order.
    let first = ms.first()?.key_start;
    let close = s.iter().rposition(|c| *c == b'}')?;
    let mut out = Vec::with_capacity(s.len());
    out.extend_from_slice(&s[..first]);
    let mut wrote = false;
    for m in ms.iter().filter(|m| m.name != key) {
        if wrote {
            out.push(b',');
        }
        out.extend_from_slice(&s[m.key_start..m.value.1]);
        wrote = true;
    }
    let last_end = ms.last()?.value.1;
    // Whitespace between the last member and `}`.
    out.extend_from_slice(
        &s[last_end..close]
            .iter()
            .copied()
            .filter(|c| c.is_ascii_whitespace())
            .collect::<Vec<_>>(),
    );
    out.extend_from_slice(&s[close..]);
    Some(out)
}

/// The members at the top level of a JSON object, with their spans.
fn members(s: &[u8]) -> Option<Vec<Member>> {
    let ws = |mut i: usize| {
        while s.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    let string_end = |i: usize| -> Option<usize> {
        // s[i] == '"'; the index after the closing quote.
        let mut j = i + 1;
        loop {
            match s.get(j)? {
                b'\\' => j += 2,
                b'"' => return Some(j + 1),
                _ => j += 1,
            }
        }
    };
    let value_end = |i: usize| -> Option<usize> {
        match s.get(i)? {
            b'"' => string_end(i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                loop {
                    match s.get(j)? {
                        b'"' => {
                            j = string_end(j)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                return Some(j + 1);
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
            }
            _ => {
                let mut j = i;
                while s
                    .get(j)
                    .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
                {
                    j += 1;
                }
                Some(j)
            }
        }
    };
    let mut i = ws(0);
    if s.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(i + 1);
    let mut out = Vec::new();
    while s.get(i) == Some(&b'"') {
        let kstart = i;
        let kend = string_end(i)?;
        let name: String = serde_json::from_slice(&s[i..kend]).ok()?;
        i = ws(kend);
        if s.get(i) != Some(&b':') {
            return None;
        }
        let vstart = ws(i + 1);
        let vend = value_end(vstart)?;
        out.push(Member {
            name,
            key_start: kstart,
            value: (vstart, vend),
        });
        i = ws(vend);
        if s.get(i) == Some(&b',') {
            i = ws(i + 1);
        }
    }
    if s.get(i) != Some(&b'}') {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: Option<Vec<u8>>) -> String {
        String::from_utf8(v.unwrap()).unwrap()
    }

    #[test]
    fn edits_keep_every_other_byte() {
        let j = br#"{"retry":0,"queue":"q","args":[{"retry_count":1}],"jid":"a","enqueued_at":1.5,"retry_count":2}"#;
        assert_eq!(
            t(set_top_level(j, "enqueued_at", "9.25")),
            r#"{"retry":0,"queue":"q","args":[{"retry_count":1}],"jid":"a","enqueued_at":9.25,"retry_count":2}"#
        );
        assert_eq!(
            t(remove_top_level(j, "retry_count")),
            r#"{"retry":0,"queue":"q","args":[{"retry_count":1}],"jid":"a","enqueued_at":1.5}"#
        );
        assert_eq!(
            t(set_top_level(br#"{"a":1}"#, "enqueued_at", "2")),
            r#"{"a":1,"enqueued_at":2}"#
        );
        assert_eq!(t(set_top_level(b"{}", "k", "1")), r#"{"k":1}"#);
        assert_eq!(
            t(remove_top_level(br#"{"retry_count":1}"#, "retry_count")),
            "{}"
        );
        assert!(remove_top_level(br#"{"a":1}"#, "b").is_none());
        assert!(set_top_level(b"[1]", "a", "1").is_none());
        assert_eq!(
            top_level_value(br#"{"a":{"b":1},"b":22}"#, "b"),
            Some((17, 19))
        );
    }
}
