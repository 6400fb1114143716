//! For `--verbose`: an incremental reader of what a Redis client sends (RESP
//! arrays of bulk strings, or inline commands). It keeps the first few words
//! of each command, never a whole payload, and hides arguments that can be
//! secrets (AUTH, HELLO ... AUTH, CONFIG SET, ACL SETUSER, MIGRATE).

/// Words kept of each command, and bytes kept of each word.
const KEEP_WORDS: usize = 6;
const KEEP_BYTES: usize = 40;
/// Bytes kept of an inline command's line.
const KEEP_INLINE: usize = 256;

/// One command as read: its first words (truncated) and how many it had.
#[derive(Default)]
pub struct Command {
    words: Vec<Vec<u8>>,
    nargs: usize,
}

enum State {
    Start,
    ArrayLen,
    BulkStart,
    BulkLen,
    BulkData(usize),
    BulkEnd(usize),
    Inline,
    /// Not RESP we understand: stop reading this connection.
    Lost,
}

pub struct Parser {
    state: State,
    num: usize,
    args_left: usize,
    keep: bool,
    cmd: Command,
    line: Vec<u8>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser {
            state: State::Start,
            num: 0,
            args_left: 0,
            keep: false,
            cmd: Command::default(),
            line: Vec::new(),
        }
    }

    /// Reads `data`, calling `out` for each command it completes.
    pub fn feed(&mut self, mut data: &[u8], out: &mut impl FnMut(Command)) {
        while let Some(&b) = data.first() {
            match self.state {
                State::Lost => return,
                State::BulkData(left) => {
                    let take = left.min(data.len());
                    if self.keep {
                        let word = self.cmd.words.last_mut().expect("kept word");
                        let room = KEEP_BYTES.saturating_sub(word.len());
                        word.extend_from_slice(&data[..take.min(room)]);
                    }
                    data = &data[take..];
                    self.state = if take == left {
                        State::BulkEnd(2)
                    } else {
                        State::BulkData(left - take)
                    };
                    continue;
                }
                _ => {}
            }
            data = &data[1..];
            match self.state {
                State::Start => match b {
                    b'*' => {
                        self.num = 0;
                        self.state = State::ArrayLen;
                    }
                    b'\r' | b'\n' => {}
                    _ => {
                        self.line.clear();
                        self.line.push(b);
                        self.state = State::Inline;
                    }
                },
                State::ArrayLen | State::BulkLen => match b {
                    b'0'..=b'9' => {
                        self.num = self
                            .num
                            .saturating_mul(10)
                            .saturating_add(usize::from(b - b'0'));
                    }
                    b'\r' => {}
                    b'\n' if matches!(self.state, State::ArrayLen) => {
                        self.cmd = Command {
                            words: Vec::new(),
                            nargs: self.num,
                        };
                        self.args_left = self.num;
                        self.state = if self.num == 0 {
                            State::Start
                        } else {
                            State::BulkStart
                        };
                    }
                    b'\n' => {
                        self.keep = self.cmd.words.len() < KEEP_WORDS;
                        if self.keep {
                            self.cmd.words.push(Vec::new());
                        }
                        self.state = if self.num == 0 {
                            State::BulkEnd(2)
                        } else {
                            State::BulkData(self.num)
                        };
                    }
                    _ => self.state = State::Lost,
                },
                State::BulkStart => {
                    if b == b'$' {
                        self.num = 0;
                        self.state = State::BulkLen;
                    } else {
                        self.state = State::Lost;
                    }
                }
                State::BulkEnd(n) => {
                    if n > 1 {
                        self.state = State::BulkEnd(n - 1);
                    } else {
                        self.args_left -= 1;
                        if self.args_left == 0 {
                            out(std::mem::take(&mut self.cmd));
                            self.state = State::Start;
                        } else {
                            self.state = State::BulkStart;
                        }
                    }
                }
                State::Inline => {
                    if b == b'\n' {
                        let text = String::from_utf8_lossy(&self.line).into_owned();
                        let all: Vec<&str> = text.split_whitespace().collect();
                        if !all.is_empty() {
                            out(Command {
                                words: all
                                    .iter()
                                    .take(KEEP_WORDS)
                                    .map(|w| w.as_bytes()[..w.len().min(KEEP_BYTES)].to_vec())
                                    .collect(),
                                nargs: all.len(),
                            });
                        }
                        self.state = State::Start;
                    } else if self.line.len() < KEEP_INLINE {
                        self.line.push(b);
                    }
                }
                State::BulkData(_) | State::Lost => unreachable!(),
            }
        }
    }
}

/// Commands whose second word names what they do (`CLIENT SETNAME`).
const CONTAINERS: &[&str] = &[
    "ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY",
    "MODULE", "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
];

/// `(name, text)`: the command's name (with its subcommand), for counting
/// runs of the same command, and its first words, secrets hidden.
pub fn describe(cmd: &Command) -> (String, String) {
    let word = |i: usize| cmd.words.get(i).map(|w| printable(w));
    let Some(first) = word(0) else {
        return ("?".into(), "?".into());
    };
    let first = first.to_ascii_uppercase();
    let (name, shown_from) = match word(1) {
        Some(sub) if CONTAINERS.contains(&first.as_str()) => {
            (format!("{first} {}", sub.to_ascii_uppercase()), 2)
        }
        _ => (first.clone(), 1),
    };
    // How many of the words after the name may be shown.
    let visible = match name.as_str() {
        "AUTH" | "MIGRATE" => 0,
        "CONFIG SET" | "ACL SETUSER" => 1,
        "HELLO" => 1, // the protocol version; AUTH user pass may follow
        _ => KEEP_WORDS,
    };
    let mut text = name.clone();
    let mut shown = 0;
    for i in shown_from..cmd.nargs {
        if shown == visible {
            text.push_str(if visible == 0 { " ***" } else { " [hidden]" });
            break;
        }
        match word(i) {
            Some(w) => {
                text.push(' ');
                text.push_str(&w);
                if cmd.words[i].len() >= KEEP_BYTES {
                    text.push('…');
                }
                shown += 1;
            }
            None => {
                text.push_str(&format!(" …(+{} args)", cmd.nargs - i));
                break;
            }
        }
    }
    (name, text)
}

/// Bytes as text: printable ASCII as is, the rest as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = Parser::new();
        let mut seen = Vec::new();
        for c in chunks {
            p.feed(c, &mut |cmd| seen.push(describe(&cmd).1));
        }
        seen
    }

    #[test]
    fn pipelined_commands_split_anywhere() {
        let wire = b"*2\r\n$4\r\nLLEN\r\n$3\r\nabc\r\n*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$4\r\nqctl\r\nPING\r\n";
        let whole = read(&[wire]);
        assert_eq!(whole, ["LLEN abc", "CLIENT SETNAME qctl", "PING"]);
        for cut in 1..wire.len() {
            assert_eq!(read(&[&wire[..cut], &wire[cut..]]), whole, "cut at {cut}");
        }
    }

    #[test]
    fn secrets_are_hidden() {
        let auth = b"*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$6\r\nsecret\r\n";
        let hello = b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$6\r\nsecret\r\n";
        assert_eq!(read(&[auth, hello]), ["AUTH ***", "HELLO 3 [hidden]"]);
    }

    #[test]
    fn long_words_and_many_args_are_cut() {
        let big = vec![b'x'; 1000];
        let mut wire = format!("*8\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", big.len()).into_bytes();
        wire.extend_from_slice(&big);
        wire.extend_from_slice(
            b"\r\n$2\r\nPX\r\n$3\r\n100\r\n$2\r\nNX\r\n$3\r\nGET\r\n$1\r\nz\r\n",
        );
        let got = read(&[&wire]);
        assert_eq!(KEEP_WORDS, 6);
        let want = format!("SET k {}… PX 100 NX …(+2 args)", "x".repeat(KEEP_BYTES));
        assert_eq!(got, [want]);
    }
}
