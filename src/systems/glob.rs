//! `--match` patterns: Redis's glob syntax (`*`, `?`, `[a-z]`, `[^x]` or
//! `[!x]`, `\` escapes), matched against whole payloads. The same pattern
//! is matched here (to measure a plan) and on the server, translated to a
//! Lua pattern (to move jobs atomically); both read bytes, so they agree.

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
pub struct Glob {
    tokens: Vec<Token>,
    text: String,
}

impl Glob {
    pub fn parse(text: &str) -> Result<Glob, String> {
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

    pub fn as_str(&self) -> &str {
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
    pub fn matches(&self, s: &[u8]) -> bool {
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

    /// The same pattern as an anchored Lua pattern (for `string.find`),
    /// as bytes: every byte of the glob survives, whatever it is.
    pub fn to_lua(&self) -> Vec<u8> {
        fn lit(out: &mut Vec<u8>, c: u8) {
            if !(c.is_ascii_alphanumeric() || c >= 0x80) {
                out.push(b'%');
            }
            out.push(c);
        }
        let mut out = vec![b'^'];
        for t in &self.tokens {
            match t {
                Token::Any => out.extend_from_slice(b".*"),
                Token::One => out.push(b'.'),
                Token::Byte(c) => lit(&mut out, *c),
                Token::Class(ranges, neg) => {
                    out.push(b'[');
                    if *neg {
                        out.push(b'^');
                    }
                    // Ranges are spelled out: Lua cannot range over
                    // escaped bytes.
                    for (lo, hi) in ranges {
                        for c in *lo..=*hi {
                            lit(&mut out, c);
                        }
                    }
                    out.push(b']');
                }
            }
        }
        out.push(b'$');
        out
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
    fn lua_translation_escapes_every_magic_byte() {
        let g = Glob::parse("a.b*[x-z]?%").unwrap();
        assert_eq!(g.to_lua(), b"^a%.b.*[xyz].%%$");
        let g = Glob::parse("[^]]").unwrap();
        assert_eq!(g.to_lua(), b"^[^%]]$");
    }
}
