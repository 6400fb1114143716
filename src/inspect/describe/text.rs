//! kubectl describe's layout: `Key:  value` lines aligned per level,
//! titled sections whose entries are indented two spaces, and small
//! tables inside sections. Every piece of text is escaped for the terminal
//! when rendered (a server's words never drive it), and an empty value is
//! `<none>`, as in kubectl.

/// One line (or block) of a description.
#[derive(Debug, Clone)]
enum Line {
    Field(String, String),
    Section(String, Block),
    Table(Vec<String>, Vec<Vec<String>>),
    Text(String),
}

/// A level of a description: fields, sections, tables and text, in order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Block {
    lines: Vec<Line>,
}

/// The empty value.
pub(crate) const NONE: &str = "<none>";

impl Block {
    pub(crate) fn new() -> Block {
        Block::default()
    }

    /// `Key:  value` (`<none>` when the value is empty).
    pub(crate) fn field(&mut self, key: &str, value: impl Into<String>) -> &mut Block {
        let v = value.into();
        self.lines.push(Line::Field(
            key.to_string(),
            if v.is_empty() { NONE.to_string() } else { v },
        ));
        self
    }

    /// A field whose value may be unknown.
    pub(crate) fn opt(&mut self, key: &str, value: Option<impl Into<String>>) -> &mut Block {
        match value {
            Some(v) => self.field(key, v),
            None => self.field(key, NONE),
        }
    }

    /// A titled section; shown as `Title:  <none>` when `f` adds nothing.
    pub(crate) fn section(&mut self, title: &str, f: impl FnOnce(&mut Block)) -> &mut Block {
        let mut b = Block::new();
        f(&mut b);
        self.lines.push(Line::Section(title.to_string(), b));
        self
    }

    /// A table; a section holding only an empty table reads `<none>`.
    pub(crate) fn table(&mut self, headers: &[&str], rows: Vec<Vec<String>>) -> &mut Block {
        if !rows.is_empty() {
            self.lines.push(Line::Table(
                headers.iter().map(|h| h.to_string()).collect(),
                rows,
            ));
        }
        self
    }

    /// Lines of text, as they are (a payload, a backtrace).
    pub(crate) fn text(&mut self, text: &str) -> &mut Block {
        for l in text.lines() {
            self.lines.push(Line::Text(l.to_string()));
        }
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The description as text, each line ended by `\n`.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.render_at(0, &mut out);
        out
    }

    fn render_at(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        // Keys and empty sections of this level share one column.
        let width = self
            .lines
            .iter()
            .filter_map(|l| match l {
                Line::Field(k, _) => Some(k.chars().count() + 1),
                Line::Section(t, b) if b.is_empty() => Some(t.chars().count() + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            + 2;
        for line in &self.lines {
            match line {
                Line::Field(k, v) => {
                    let key = format!("{}:", esc(k));
                    let mut values = v.lines();
                    let first = values.next().unwrap_or("");
                    out.push_str(&format!("{pad}{key:<width$}{}\n", esc(first)));
                    for more in values {
                        out.push_str(&format!("{pad}{:width$}{}\n", "", esc(more)));
                    }
                }
                Line::Section(t, b) if b.is_empty() => {
                    let key = format!("{}:", esc(t));
                    out.push_str(&format!("{pad}{key:<width$}{NONE}\n"));
                }
                Line::Section(t, b) => {
                    out.push_str(&format!("{pad}{}:\n", esc(t)));
                    b.render_at(indent + 2, out);
                }
                Line::Table(headers, rows) => {
                    let cols = headers.len();
                    let mut widths: Vec<usize> =
                        headers.iter().map(|h| h.chars().count()).collect();
                    let rows: Vec<Vec<String>> = rows
                        .iter()
                        .map(|r| {
                            (0..cols)
                                .map(|i| {
                                    let c = r.get(i).map(String::as_str).unwrap_or("");
                                    let c = if c.is_empty() { "-" } else { c };
                                    esc(&c.replace(['\n', '\r'], " "))
                                })
                                .collect()
                        })
                        .collect();
                    for r in &rows {
                        for (i, c) in r.iter().enumerate() {
                            widths[i] = widths[i].max(c.chars().count());
                        }
                    }
                    let mut emit = |cells: &[String]| {
                        let mut l = pad.clone();
                        for (i, c) in cells.iter().enumerate() {
                            if i + 1 == cols {
                                l.push_str(c);
                            } else {
                                l.push_str(&format!("{c:<w$}   ", w = widths[i]));
                            }
                        }
                        out.push_str(l.trim_end());
                        out.push('\n');
                    };
                    emit(headers);
                    for r in &rows {
                        emit(r);
                    }
                }
                Line::Text(t) if t.trim().is_empty() => out.push('\n'),
                Line::Text(t) => out.push_str(&format!("{pad}{}\n", esc(t))),
            }
        }
    }
}

fn esc(s: &str) -> String {
    crate::output::escape_controls(s).into_owned()
}

/// `3m ago`, from seconds.
pub(crate) fn ago(secs: Option<f64>) -> Option<String> {
    secs.map(|s| format!("{} ago", crate::output::age(Some(s.max(0.0) as u64))))
}

/// A time with its age: `2026-12-02T02:27:12Z (3m ago)`.
pub(crate) fn when(t: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Option<String> {
    let t = t?;
    let age = crate::systems::age_s(Some(t), now).unwrap_or(0.0);
    let rel = if t > now {
        format!(
            "in {}",
            crate::output::age(Some(
                ((t.as_millisecond() - now.as_millisecond()) / 1000) as u64
            ))
        )
    } else {
        format!("{} ago", crate::output::age(Some(age as u64)))
    };
    Some(format!("{} ({rel})", t.strftime("%Y-%m-%dT%H:%M:%SZ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_align_and_sections_indent() {
        let mut b = Block::new();
        b.field("Name", "prod").field("Labels", "");
        b.section("Server", |s| {
            s.field("Version", "7.2.4").field("Mode", "cluster");
            s.table(
                &["ADDRESS", "ROLE"],
                vec![vec!["127.0.0.1:7000".into(), "primary".into()]],
            );
        });
        b.section("Empty", |_| {});
        b.section("Payload", |s| {
            s.text("{\n  \"a\": 1\n}");
        });
        assert_eq!(
            b.render(),
            "Name:    prod\n\
             Labels:  <none>\n\
             Server:\n\
             \x20 Version:  7.2.4\n\
             \x20 Mode:     cluster\n\
             \x20 ADDRESS          ROLE\n\
             \x20 127.0.0.1:7000   primary\n\
             Empty:   <none>\n\
             Payload:\n\
             \x20 {\n\
             \x20   \"a\": 1\n\
             \x20 }\n"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut b = Block::new();
        b.field("Error", "a\u{1b}[31mb");
        b.table(&["X"], vec![vec!["\u{7}".into()]]);
        assert!(!b.render().contains('\u{1b}'));
        assert!(!b.render().contains('\u{7}'));
    }
}
