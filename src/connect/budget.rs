//! A cap on what one reply may make qctl hold.
//!
//! The redis crate buffers a reply until it is complete, so a peer that
//! answers `$100000000000` and then streams bytes would be buffered without
//! end. [`Budgeted`] wraps the socket and follows the RESP framing of what
//! it reads (headers and lengths only, nothing is copied): a bulk length or
//! an aggregate count above the budget, or a reply that grows past it, ends
//! the connection with an error before the bytes reach the parser. The
//! error's text carries [`MARKER`], which `classify` turns into kind
//! `protocol`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most one reply may be: 256 MiB (Redis's own bulk limit,
/// `proto-max-bulk-len`, defaults to 512 MB; no reply qctl asks for comes
/// near this).
pub(crate) const REPLY_BUDGET: u64 = 256 * 1024 * 1024;
/// The most elements one aggregate reply may announce.
pub(crate) const MAX_ELEMENTS: u64 = 8 * 1024 * 1024;
/// In every budget error, so `classify` can tell it apart.
pub(crate) const MARKER: &str = "reply budget";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the type byte of the next value.
    Type,
    /// In a line (`+`, `-`, `:` ... or a header), up to CRLF.
    Line(u8),
    /// In a bulk payload and its CRLF: bytes left.
    Bulk(u64),
}

/// Follows RESP2/RESP3 framing over a byte stream.
#[derive(Debug)]
pub(crate) struct Skimmer {
    state: State,
    /// Elements still to come in each open aggregate.
    open: Vec<u64>,
    /// Bytes of the reply in progress.
    reply: u64,
    /// The header line being read (lengths are short).
    line: Vec<u8>,
    budget: u64,
}

impl Skimmer {
    pub(crate) fn new(budget: u64) -> Self {
        Skimmer {
            state: State::Type,
            open: Vec::new(),
            reply: 0,
            line: Vec::new(),
            budget,
        }
    }

    fn too_big(&self, what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{what}, over the {MARKER} of {} MiB: this does not look like a Redis server's answer",
                self.budget / (1024 * 1024)
            ),
        )
    }

    /// One value ended: close the aggregates it completes.
    fn value_done(&mut self) {
        while let Some(left) = self.open.last_mut() {
            *left -= 1;
            if *left > 0 {
                return;
            }
            self.open.pop();
        }
        // The top-level reply is complete.
        self.reply = 0;
    }

    fn header(&mut self, kind: u8) -> io::Result<()> {
        let text = String::from_utf8_lossy(&self.line);
        let n: i64 = text.trim().parse().unwrap_or(-1);
        match kind {
            b'$' | b'!' | b'=' => {
                if n < 0 {
                    self.value_done();
                } else if n as u64 > self.budget {
                    return Err(self.too_big(format!("a reply announced {n} bytes")));
                } else {
                    self.state = State::Bulk(n as u64 + 2);
                    return Ok(());
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let n = match kind {
                    b'%' => n.saturating_mul(2),
                    // An attribute map, then the value it is about.
                    b'|' => n.saturating_mul(2).saturating_add(1),
                    _ => n,
                };
                if n <= 0 {
                    self.value_done();
                } else if n as u64 > MAX_ELEMENTS {
                    return Err(self.too_big(format!("a reply announced {n} elements")));
                } else {
                    self.open.push(n as u64);
                }
            }
            _ => self.value_done(),
        }
        self.state = State::Type;
        Ok(())
    }

    /// Follows `bytes`; an error when the reply breaks the budget.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.state {
                State::Bulk(left) => {
                    let n = left.min(bytes.len() as u64);
                    self.add(n)?;
                    bytes = &bytes[n as usize..];
                    if n == left {
                        self.state = State::Type;
                        self.value_done();
                    } else {
                        self.state = State::Bulk(left - n);
                    }
                }
                State::Type => {
                    self.add(1)?;
                    self.line.clear();
                    self.state = State::Line(bytes[0]);
                    bytes = &bytes[1..];
                }
                State::Line(kind) => {
                    let (take, done) = match bytes.iter().position(|&b| b == b'\n') {
                        Some(i) => (i + 1, true),
                        None => (bytes.len(), false),
                    };
                    self.add(take as u64)?;
                    if self.line.len() < 64 {
                        let room = 64 - self.line.len();
                        self.line.extend_from_slice(&bytes[..take.min(room)]);
                    }
                    bytes = &bytes[take..];
                    if done {
                        self.header(kind)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn add(&mut self, n: u64) -> io::Result<()> {
        self.reply += n;
        if self.reply > self.budget {
            return Err(self.too_big(format!("a reply grew past {} bytes", self.budget)));
        }
        Ok(())
    }
}

/// A stream whose reads are followed by a [`Skimmer`].
pub(crate) struct Budgeted<S> {
    inner: S,
    skim: Skimmer,
    failed: Option<String>,
}

impl<S> Budgeted<S> {
    pub(crate) fn new(inner: S, budget: u64) -> Self {
        Budgeted {
            inner,
            skim: Skimmer::new(budget),
            failed: None,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Budgeted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(msg) = &this.failed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, msg.clone())));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if let Err(e) = this.skim.feed(fresh) {
                    // The bytes never reach the parser.
                    buf.set_filled(before);
                    this.failed = Some(e.to_string());
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Budgeted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_replies_pass_and_reset_the_count() {
        let mut s = Skimmer::new(64);
        // Many replies, each small: the budget is per reply.
        for _ in 0..100 {
            s.feed(b"+PONG\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n")
                .unwrap();
        }
        // Split anywhere.
        let whole = b"*3\r\n$3\r\nabc\r\n%1\r\n+k\r\n+v\r\n*0\r\n";
        for b in whole {
            s.feed(&[*b]).unwrap();
        }
        assert_eq!(s.reply, 0);
        assert!(s.open.is_empty());
    }

    #[test]
    fn huge_announcements_and_endless_replies_fail() {
        let e = Skimmer::new(REPLY_BUDGET)
            .feed(b"$100000000000\r\n")
            .unwrap_err();
        assert!(e.to_string().contains(MARKER), "{e}");
        assert!(
            Skimmer::new(REPLY_BUDGET)
                .feed(b"*100000000000\r\n")
                .is_err()
        );
        let mut s = Skimmer::new(1000);
        s.feed(b"*1000000\r\n").unwrap();
        let mut err = None;
        for _ in 0..1000 {
            if let Err(e) = s.feed(b"$1\r\nx\r\n") {
                err = Some(e);
                break;
            }
        }
        assert!(err.is_some(), "a reply growing past the budget fails");
        let mut s = Skimmer::new(1000);
        assert!(s.feed(&[b'+'; 2000]).is_err(), "an endless line fails");
    }
}
