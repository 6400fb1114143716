//! Running qctl on a real terminal: util-linux `script` gives it a pty,
//! with the workspace's hermetic environment.

use super::Workspace;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

impl Workspace {
    /// `script -q -e -c "exec CMDLINE" /dev/null` with this workspace's
    /// qctl environment (TERM=dumb unless changed): `cmdline`, one simple
    /// command, runs on a pty. `exec` puts qctl itself in the terminal's
    /// foreground group: a shell waiting in between would get Ctrl-C too,
    /// and dash (Debian's /bin/sh) then exits 130 whatever qctl returns.
    pub fn on_pty(&self, cmdline: &str) -> Command {
        let std = self.qctl_std();
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", &format!("exec {cmdline}"), "/dev/null"])
            .envs(
                std.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env("TERM", "dumb")
            // The same shell on every machine (script runs $SHELL -c).
            .env("SHELL", "/bin/sh")
            .current_dir(self.path());
        cmd
    }
}

/// A process on a pty, its output collected as it comes.
pub struct Pty {
    child: Child,
    stdin: Option<ChildStdin>,
    seen: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Pty {
    /// Spawns `cmd` (from [`Workspace::on_pty`]) with piped stdio.
    pub fn spawn(mut cmd: Command) -> Pty {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("`script` (util-linux) runs");
        let mut stdout = child.stdout.take().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let stdin = child.stdin.take();
        Pty {
            child,
            stdin,
            seen,
            reader: Some(reader),
        }
    }

    /// Everything the terminal showed so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Whether `needle` showed up within `timeout`.
    pub fn wait_for_text(&self, needle: &str, timeout: Duration) -> bool {
        super::wait_for(timeout, || self.text().contains(needle))
    }

    /// Types `bytes` on the terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// The pid of the command on the terminal (`script`'s child, which
    /// `exec` made the command itself).
    pub fn command_pid(&self) -> Option<i32> {
        let id = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Whether the process exited within `timeout`.
    pub fn exits_within(&mut self, timeout: Duration) -> bool {
        super::wait_for(timeout, || self.child.try_wait().unwrap().is_some())
    }

    /// Waits for the end: the exit code and everything shown.
    pub fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        drop(self.stdin.take());
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        (status.code().unwrap_or(-1), self.text())
    }
}

impl Drop for Pty {
    /// A test that fails before the command ends must not leave it (and
    /// whatever it started: a waiting `qctl demo` keeps its servers)
    /// running: SIGTERM to the command on the terminal, then `script`.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        if let Some(pid) = self.command_pid() {
            // SAFETY: kill(2) on the process this test started.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let _ = super::wait_for(Duration::from_secs(5), || {
            self.child.try_wait().ok().flatten().is_some()
        });
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
