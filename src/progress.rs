//! Progress on a terminal, on stderr: hidden when stderr is not a
//! terminal, under `-q`, and for anything quick.
//!
//! [`Waiting`] is the fan-out's indicator: a spinner naming the contexts
//! that have not answered yet, drawn only once a fan-out has taken longer
//! than [`DELAY`], so a command that answers at once prints nothing extra.
//! Per-job bars for the write verbs are in `actions::run`.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a fan-out runs before its spinner appears.
pub(crate) const DELAY: Duration = Duration::from_millis(500);

/// Whether progress may be drawn at all: stderr is a terminal and `-q` is
/// not given.
pub(crate) fn allowed(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

/// Contexts still working, on a delayed spinner.
pub(crate) struct Waiting {
    bar: ProgressBar,
    names: Vec<String>,
    state: Mutex<State>,
}

struct State {
    pending: BTreeSet<usize>,
    finished: bool,
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Waiting {
    /// A spinner for `names`, doing `what` ("reading", "planning"...);
    /// `None` when progress is not allowed (see [`allowed`]).
    pub(crate) fn start(quiet: bool, what: &str, names: &[String]) -> Option<Arc<Waiting>> {
        if !allowed(quiet) || names.is_empty() {
            return None;
        }
        let bar =
            ProgressBar::with_draw_target(Some(names.len() as u64), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{spinner}} {what}: {{pos}}/{{len}} contexts done; left: {{wide_msg}}"
            ))
            .expect("a valid template"),
        );
        let w = Arc::new(Waiting {
            bar,
            names: names.to_vec(),
            state: Mutex::new(State {
                pending: (0..names.len()).collect(),
                finished: false,
            }),
        });
        w.bar.set_message(w.message(&lock(&w.state).pending));
        let weak = Arc::downgrade(&w);
        std::thread::spawn(move || {
            std::thread::sleep(DELAY);
            let Some(w) = weak.upgrade() else { return };
            let st = lock(&w.state);
            if !st.finished {
                w.bar.set_draw_target(ProgressDrawTarget::stderr());
                w.bar.enable_steady_tick(Duration::from_millis(120));
            }
        });
        Some(w)
    }

    /// Up to three pending names, then how many more.
    fn message(&self, pending: &BTreeSet<usize>) -> String {
        let shown: Vec<&str> = pending
            .iter()
            .take(3)
            .map(|&i| self.names[i].as_str())
            .collect();
        let head = shown.join(", ");
        match pending.len() - shown.len() {
            0 => head,
            more => format!("{head}, and {more} more"),
        }
    }

    /// Context `i` answered (or failed, or ran out of time).
    pub(crate) fn done(&self, i: usize) {
        let mut st = lock(&self.state);
        if st.pending.remove(&i) {
            self.bar.set_message(self.message(&st.pending));
            self.bar.inc(1);
        }
    }

    /// Clears the spinner (it never draws again).
    pub(crate) fn finish(&self) {
        let mut st = lock(&self.state);
        st.finished = true;
        self.bar.finish_and_clear();
    }
}

/// `158,004/s`: a rate as a progress bar shows it, whole jobs per second.
pub(crate) fn rate_text(per_sec: f64) -> String {
    let v = if per_sec.is_finite() && per_sec > 0.0 {
        per_sec.round() as u64
    } else {
        0
    };
    format!("{}/s", crate::output::thousands(v))
}

/// The style of a write verb's per-target job bar: `prefix [===>  ]
/// 1200/5000 jobs 158,004/s eta 2s`, the prefix padded to `width`.
pub(crate) fn job_bar_style(width: usize) -> ProgressStyle {
    ProgressStyle::with_template(&format!(
        "{{prefix:{width}}} [{{bar:30}}] {{pos}}/{{len}} jobs {{rate}} eta {{eta}}"
    ))
    .expect("a valid template")
    .with_key(
        "rate",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate_text(s.per_sec()));
        },
    )
    .progress_chars("=> ")
}

/// Tells `Waiting` that context `.1` is done when dropped (at the end of
/// its task, however it ends).
pub(crate) struct DoneOnDrop(pub(crate) Option<Arc<Waiting>>, pub(crate) usize);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        if let Some(w) = &self.0 {
            w.done(self.1);
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(names: &[&str]) -> Waiting {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Waiting {
            bar: ProgressBar::hidden(),
            state: Mutex::new(State {
                pending: (0..names.len()).collect(),
                finished: false,
            }),
            names,
        }
    }

    #[test]
    fn rates_are_whole_and_grouped() {
        assert_eq!(rate_text(158_004.312_6), "158,004/s");
        assert_eq!(rate_text(0.4), "0/s");
        assert_eq!(rate_text(f64::NAN), "0/s");
        assert_eq!(rate_text(999.6), "1,000/s");
    }

    #[test]
    fn names_the_first_three_pending_then_counts() {
        let w = waiting(&["a", "b", "c", "d", "e"]);
        assert_eq!(w.message(&lock(&w.state).pending), "a, b, c, and 2 more");
        w.done(0);
        w.done(0);
        assert_eq!(w.bar.position(), 1, "a context counts once");
        assert_eq!(w.message(&lock(&w.state).pending), "b, c, d, and 1 more");
        w.done(1);
        assert_eq!(w.message(&lock(&w.state).pending), "c, d, e");
    }
}
