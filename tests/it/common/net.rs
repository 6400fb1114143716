//! Loopback network fixtures: free ports, a closed port, a black hole.

use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A currently free TCP port on 127.0.0.1 (bind port 0, read it, release it).
/// Racy by nature: callers must tolerate the port being taken meanwhile.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A loopback port with nothing listening on it: connecting is refused.
/// (Racy in principle: another test could bind the port later; in practice
/// the kernel hands out ephemeral ports randomly, so this is very rare.)
#[derive(Debug)]
pub struct ClosedPort {
    pub port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        ClosedPort { port: free_port() }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A loopback TCP listener that accepts connections and never writes (or
/// reads) anything: clients hang until their own timeouts fire. Accepted
/// connections stay open until the BlackHole is dropped.
///
/// After drop the port refuses connections, though possibly only after a
/// moment: a process forked concurrently (e.g. another test starting a
/// redis-server) briefly holds a copy of the listener fd until its exec.
#[derive(Debug)]
pub struct BlackHole {
    pub port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl BlackHole {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("set_nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            thread::Builder::new()
                .name(format!("blackhole-{port}"))
                .spawn(move || {
                    let mut conns: Vec<TcpStream> = Vec::new();
                    while !stop.load(Ordering::SeqCst) {
                        match listener.accept() {
                            Ok((stream, _)) => {
                                conns.push(stream);
                                accepted.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                                thread::sleep(Duration::from_millis(5));
                            }
                            Err(e) if e.kind() == ErrorKind::Interrupted => {}
                            Err(_) => thread::sleep(Duration::from_millis(5)),
                        }
                    }
                    drop(conns);
                })
                .expect("spawn black hole thread")
        };
        BlackHole {
            port,
            stop,
            accepted,
            thread: Some(thread),
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// How many connections were accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
