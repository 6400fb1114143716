//! The documented range of every numeric flag and preference, in one place.
//!
//! A value outside its range is refused before anything runs: a usage error
//! (exit 2) on the command line, a config error (exit 1) in the contexts
//! file, and the message names the range. The ranges keep every later
//! computation sane (a semaphore of 2^61 permits panics in tokio, a 100 GB
//! payload aborts on allocation, `Instant + 10^9 years` overflows).
//! README.md lists the same ranges; `--help` shows each next to its flag.

use std::time::Duration;

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CountRange {
    pub(crate) min: u64,
    pub(crate) max: u64,
}

impl CountRange {
    /// `Ok(n)` inside the range, else a message naming it.
    pub(crate) fn check(&self, n: u64) -> Result<u64, String> {
        if n < self.min || n > self.max {
            Err(format!("{n} is out of range: {}", self.describe()))
        } else {
            Ok(n)
        }
    }

    /// `1 to 10000`.
    pub(crate) fn describe(&self) -> String {
        format!("must be {} to {}", self.min, self.max)
    }

    /// Parses a command-line value.
    pub(crate) fn parse(&self, s: &str) -> Result<u64, String> {
        let t = s.trim();
        match t.parse::<u64>() {
            Ok(n) => self.check(n),
            Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
                Err(format!("`{s}` is out of range: {}", self.describe()))
            }
            Err(_) => Err(format!("`{s}` is not a whole number ({})", self.describe())),
        }
    }
}

/// An inclusive range of durations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DurationRange {
    pub(crate) min: Duration,
    pub(crate) max: Duration,
}

impl DurationRange {
    pub(crate) fn check(&self, d: Duration) -> Result<Duration, String> {
        if d < self.min || d > self.max {
            Err(format!(
                "{} is out of range: {}",
                humantime::format_duration(d),
                self.describe()
            ))
        } else {
            Ok(d)
        }
    }

    /// `must be 1ms to 1h`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "must be {} to {}",
            show(self.min),
            crate::output::duration(self.max)
        )
    }

    /// Parses `5s`, `250ms`, `2m` and checks the range.
    pub(crate) fn parse(&self, s: &str) -> Result<Duration, String> {
        let d = humantime::parse_duration(s.trim()).map_err(|e| {
            format!(
                "`{s}` is not a duration ({e}); write it like 500ms, 5s, 2m ({})",
                self.describe()
            )
        })?;
        self.check(d)
    }
}

fn show(d: Duration) -> String {
    if d.is_zero() {
        "0s".into()
    } else {
        crate::output::duration(d)
    }
}

/// An inclusive range of decimal numbers (NaN and infinities are outside).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FloatRange {
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl FloatRange {
    pub(crate) fn check(&self, v: f64) -> Result<f64, String> {
        if v.is_finite() && v >= self.min && v <= self.max {
            Ok(v)
        } else {
            Err(format!("{v} is out of range: {}", self.describe()))
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!("must be {} to {}", self.min, self.max)
    }
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `--timeout`, `preferences.timeout`.
pub(crate) const TIMEOUT: DurationRange = DurationRange {
    min: ms(1),
    max: secs(3600),
};
/// `--connect-timeout`, `preferences.connect-timeout`.
pub(crate) const CONNECT_TIMEOUT: DurationRange = DurationRange {
    min: ms(1),
    max: secs(600),
};
/// `--max-concurrency`, `preferences.max-concurrency`.
pub(crate) const MAX_CONCURRENCY: CountRange = CountRange {
    min: 1,
    max: 10_000,
};
/// `--max-parallel` of the write verbs.
pub(crate) const MAX_PARALLEL: CountRange = CountRange {
    min: 1,
    max: 10_000,
};
/// `--pause` of the write verbs.
pub(crate) const PAUSE: DurationRange = DurationRange {
    min: ms(1),
    max: secs(3600),
};
/// `--interval` of `--watch`, `preferences.watch.interval`: below 100ms a
/// watch of 200 contexts would be a load test.
pub(crate) const WATCH_INTERVAL: DurationRange = DurationRange {
    min: ms(100),
    max: secs(86_400),
};
/// `preferences.watch.jitter`.
pub(crate) const WATCH_JITTER: DurationRange = DurationRange {
    min: Duration::ZERO,
    max: secs(86_400),
};
/// `--sample` of `get clusters` and `compare`.
pub(crate) const SAMPLE: DurationRange = DurationRange {
    min: ms(10),
    max: secs(3600),
};
/// `get jobs -n/--limit`.
pub(crate) const JOBS_LIMIT: CountRange = CountRange {
    min: 0,
    max: 10_000,
};
/// `get job --scan-limit`, `describe job --scan-limit`: entries per key.
pub(crate) const SCAN_LIMIT: CountRange = CountRange {
    min: 1,
    max: 100_000_000,
};
/// `requeue --limit`.
pub(crate) const REQUEUE_LIMIT: CountRange = CountRange {
    min: 1,
    max: 1_000_000_000,
};
/// `purge-dlq --keep-backup`.
pub(crate) const KEEP_BACKUP: DurationRange = DurationRange {
    min: secs(1),
    max: secs(365 * 86_400),
};
/// `bench --count`.
pub(crate) const BENCH_COUNT: CountRange = CountRange {
    min: 1,
    max: 10_000_000,
};
/// `bench --rate`, jobs per second.
pub(crate) const BENCH_RATE: FloatRange = FloatRange {
    min: 0.1,
    max: 1_000_000.0,
};
/// `bench --payload-size`, bytes.
pub(crate) const BENCH_PAYLOAD: CountRange = CountRange {
    min: 1,
    max: 65_536,
};
/// `bench --wait-timeout`.
pub(crate) const BENCH_WAIT: DurationRange = DurationRange {
    min: ms(1),
    max: secs(86_400),
};
/// `compare --threshold`, `preferences.compare.threshold`, percent.
pub(crate) const THRESHOLD: FloatRange = FloatRange {
    min: 0.0,
    max: 1_000_000.0,
};
/// `health --max-latency`, `preferences.health.max-latency`.
pub(crate) const MAX_LATENCY: DurationRange = DurationRange {
    min: ms(1),
    max: secs(3600),
};
/// `health --max-memory-percent`, `preferences.health.max-memory-percent`.
pub(crate) const MAX_MEMORY_PERCENT: FloatRange = FloatRange {
    min: 0.0,
    max: 100.0,
};
/// `health --max-dead-letter` (jobs in the dead-letter queue).
pub(crate) const MAX_DEAD_LETTER: CountRange = CountRange {
    min: 0,
    max: 1_000_000_000,
};
/// `health --max-orphaned-jobs`.
pub(crate) const MAX_ORPHANED_JOBS: CountRange = CountRange {
    min: 0,
    max: 1_000_000_000,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_name_themselves() {
        let e = MAX_CONCURRENCY.parse("2305843009213693952").unwrap_err();
        assert!(e.contains("must be 1 to 10000"), "{e}");
        let e = MAX_CONCURRENCY
            .parse("99999999999999999999999")
            .unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        assert!(
            MAX_CONCURRENCY
                .parse("x")
                .unwrap_err()
                .contains("whole number")
        );
        assert_eq!(MAX_CONCURRENCY.parse("256"), Ok(256));
        let e = WATCH_INTERVAL.parse("1ns").unwrap_err();
        assert!(e.contains("must be 100ms to 24h"), "{e}");
        assert!(TIMEOUT.parse("0s").is_err());
        assert!(BENCH_RATE.check(f64::NAN).is_err());
        assert_eq!(BENCH_RATE.check(2.5), Ok(2.5));
    }
}
