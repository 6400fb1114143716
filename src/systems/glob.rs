//! `--match` patterns: Redis's glob syntax (`*`, `?`, `[a-z]`, `[^x]` or
//! `[!x]`, `\` escapes), matched against whole payloads, on the client only
//! (the plan's count and the choice of each requeue step use the same
//! matcher), in time linear in the payload for a given pattern: no pattern
//! ever runs on the server.

/// One piece of a glob.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Any,
    One,
    Byte(u8),
    /// Ranges (inclusive) and whether the class is negated.
    Class(Vec<(u8, u8)>, bool),
}

/// A parsed glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
    text: String,
}

impl Glob {
    pub(crate) fn parse(text: &str) -> Result<Glob, String> {
        let b = text.as_bytes();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'*' => {
                    if tokens.last() != Some(&Token::Any) {
                        tokens.push(Token::Any);
                    }
                }
                b'?' => tokens.push(Token::One),
                b'\\' => {
                    i += 1;
                    let Some(&c) = b.get(i) else {
                        return Err("ends with a lone `\\`; write `\\\\` for a backslash".into());
                    };
                    tokens.push(Token::Byte(c));
                }
                b'[' => {
                    let mut j = i + 1;
                    let negated = matches!(b.get(j), Some(b'^' | b'!'));
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(&c) = b.get(j) else {
                            return Err(format!(
                                "`[` at byte {i} is never closed; write `\\[` for a literal bracket"
                            ));
                        };
                        if c == b']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == b'\\' {
                            j += 1;
                            *b.get(j).ok_or("ends inside a `[...]` class")?
                        } else {
                            c
                        };
                        if b.get(j + 1) == Some(&b'-') && b.get(j + 2).is_some_and(|c| *c != b']') {
                            let mut hi = b[j + 2];
                            j += 2;
                            if hi == b'\\' {
                                j += 1;
                                hi = *b.get(j).ok_or("ends inside a `[...]` class")?;
                            }
                            ranges.push((lo.min(hi), lo.max(hi)));
                        } else {
                            ranges.push((lo, lo));
                        }
                        j += 1;
                    }
                    tokens.push(Token::Class(ranges, negated));
                    i = j;
                }
                c => tokens.push(Token::Byte(c)),
            }
            i += 1;
        }
        Ok(Glob {
            tokens,
            text: text.to_string(),
        })
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    fn one(t: &Token, c: u8) -> bool {
        match t {
            Token::One => true,
            Token::Byte(b) => *b == c,
            Token::Class(r, neg) => r.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *neg,
            Token::Any => unreachable!("handled by the caller"),
        }
    }

    /// Whether the whole of `s` matches (linear-time star backtracking).
    pub(crate) fn matches(&self, s: &[u8]) -> bool {
        let (mut ti, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match self.tokens.get(ti) {
                Some(Token::Any) => {
                    star = Some((ti, si));
                    ti += 1;
                }
                Some(t) if Self::one(t, s[si]) => {
                    ti += 1;
                    si += 1;
                }
                _ => match star {
                    Some((st, ss)) => {
                        ti = st + 1;
                        si = ss + 1;
                        star = Some((st, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[ti..].iter().all(|t| *t == Token::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Glob::parse(p).unwrap().matches(s.as_bytes())
    }

    #[test]
    fn redis_glob_semantics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbbd"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(m("h[!e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m(
            r#"*"filepath":"/data/invoices/*"#,
            r#"{"id":"1","filepath":"/data/invoices/2026/a.pdf","retries":3}"#
        ));
        assert!(!m(
            r#"*"filepath":"/data/invoices/*"#,
            r#"{"id":"1","filepath":"/data/reports/a.pdf"}"#
        ));
        assert!(Glob::parse("[abc").is_err());
        assert!(Glob::parse("abc\\").is_err());
    }

    #[test]
    fn many_stars_stay_linear_in_the_payload() {
        // Backtracking translations take seconds on this; the last-star
        // matcher is O(payload x pattern).
        let g = Glob::parse(r#"*"*"*"*"*"*x"#).unwrap();
        let job = format!("{{{}}}", "\"a\":\"b\",".repeat(20_000));
        let t = std::time::Instant::now();
        for _ in 0..10 {
            assert!(!g.matches(job.as_bytes()));
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }
}
