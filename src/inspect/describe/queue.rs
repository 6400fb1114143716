//! `qctl describe queue NAME`: a queue (as `get queues` names it, or its
//! key) with its keys, role, depth, the age of its next job, whether it is
//! paused, the sets that hold its jobs in other states (its own, or the
//! system's shared ones, marked), rates with `--sample`, and its recent
//! dead jobs grouped by error (`QueueDescription`).

use super::text::{Block, NONE};
use super::{Described, contexts_phrase, finish, read, selection};
use crate::cli::DescribeQueueArgs;
use crate::connect::Conn;
use crate::contexts::Config;
use crate::error::{CliError, ContextError, ExitCode, Result};
use crate::inspect::jobs::resolve_state;
use crate::inspect::read::{ReadTarget, Reader};
use crate::inspect::{Rates, rates};
use crate::output::{age, rate};
use crate::settings::Settings;
use crate::systems::{Job, QueueDetail, QueueRef, QueueRole, age_s};
use serde::Serialize;
use std::time::{Duration, Instant};

/// Dead jobs read at most for the error groups (the newest).
pub(crate) const DEAD_READ: u64 = 1_000;

/// The states whose sets describe a work queue, besides its own.
const STATES: &[&str] = &[
    "prioritized",
    "active",
    "scheduled",
    "retry",
    "dead",
    "completed",
    "deferred",
];

/// A queue or set of the described queue.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SetItem {
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) role: QueueRole,
    pub(crate) state: &'static str,
    pub(crate) length: u64,
    pub(crate) oldest_age_s: Option<f64>,
    pub(crate) paused: Option<bool>,
    /// One set holds every queue's jobs in this state (Sidekiq's `retry`,
    /// go-redis-work-queue's dead-letter list).
    pub(crate) shared: bool,
}

/// Dead jobs with the same job name and error.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ErrorGroup {
    pub(crate) name: Option<String>,
    /// The error, numbers masked as `N` and long hex ids as `X`.
    pub(crate) error: Option<String>,
    /// The newest job's error as it is.
    pub(crate) example_error: Option<String>,
    pub(crate) count: u64,
    /// The newest failure of the group, RFC 3339.
    pub(crate) last_failed_at: Option<String>,
    pub(crate) example_id: Option<String>,
}

/// The recent dead jobs of the queue.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeadJobs {
    /// The dead set read.
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) shared: bool,
    /// Jobs in the set.
    pub(crate) total: u64,
    /// Read (the newest first).
    pub(crate) read: u64,
    /// Of those read, the ones of this queue.
    pub(crate) matched: u64,
    pub(crate) groups: Vec<ErrorGroup>,
}

/// A `QueueDescription` item.
#[derive(Debug, Serialize)]
pub(crate) struct QueueDescription {
    pub(crate) context: String,
    pub(crate) system: &'static str,
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) role: QueueRole,
    pub(crate) state: &'static str,
    pub(crate) length: u64,
    pub(crate) oldest_age_s: Option<f64>,
    pub(crate) paused: Option<bool>,
    /// Every set of this queue's jobs, the queue itself first.
    pub(crate) sets: Vec<SetItem>,
    /// With `--sample`: over the queue's own sets (shared sets left out).
    pub(crate) rates: Option<Rates>,
    pub(crate) dead: Option<DeadJobs>,
}

pub(crate) enum QueueOut {
    Found(Box<QueueDescription>, Vec<String>),
    Missing(Vec<String>),
}

struct QueueReader {
    name: String,
    sample: Option<Duration>,
}

fn set_item(d: &QueueDetail, shared: bool, now: jiff::Timestamp) -> SetItem {
    SetItem {
        queue: d.queue.name.clone(),
        key: d.queue.key.clone(),
        role: d.queue.role,
        state: d.queue.role.state(),
        length: d.length,
        oldest_age_s: if d.length == 0 {
            None
        } else {
            age_s(d.next_created, now)
        },
        paused: d.paused,
        shared,
    }
}

/// An error with its numbers and long hex runs (ids, addresses) masked,
/// so that `failure: job 7` and `failure: job 8` fall in one group.
pub(crate) fn fingerprint(error: &str) -> String {
    let mut out = String::with_capacity(error.len());
    let chars: Vec<char> = error.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_hexdigit() {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_hexdigit() {
                j += 1;
            }
            let run = &chars[i..j];
            let word_start = i == 0 || !chars[i - 1].is_alphanumeric();
            let word_end = j == chars.len() || !chars[j].is_alphanumeric();
            if word_start && word_end && run.iter().all(|c| c.is_ascii_digit()) {
                out.push('N');
                i = j;
                continue;
            }
            if word_start && word_end && run.len() >= 8 {
                out.push('X');
                i = j;
                continue;
            }
            out.extend(run);
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// The error groups of `jobs` (same name, same error but for numbers and
/// ids), biggest first.
fn groups(jobs: &[Job]) -> Vec<ErrorGroup> {
    let mut out: Vec<(ErrorGroup, Option<jiff::Timestamp>)> = Vec::new();
    for j in jobs {
        let when = j.failed_at;
        let print = j.error.as_deref().map(fingerprint);
        match out
            .iter_mut()
            .find(|(g, _)| g.name == j.name && g.error == print)
        {
            Some((g, t)) => {
                g.count += 1;
                if when > *t {
                    *t = when;
                    g.last_failed_at = when.map(|w| w.to_string());
                    g.example_id = j.id.clone();
                    g.example_error = j.error.clone();
                }
            }
            None => out.push((
                ErrorGroup {
                    name: j.name.clone(),
                    error: print,
                    example_error: j.error.clone(),
                    count: 1,
                    last_failed_at: when.map(|w| w.to_string()),
                    example_id: j.id.clone(),
                },
                when,
            )),
        }
    }
    let mut g: Vec<ErrorGroup> = out.into_iter().map(|(g, _)| g).collect();
    g.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    g
}

impl Reader for QueueReader {
    type Out = QueueOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<QueueOut, ContextError> {
        let err = |e: redis::RedisError| conn.error(&e);
        let details = t.system.queue_details(conn).await.map_err(err)?;
        let now = jiff::Timestamp::now();
        let by_key = |k: &str| details.iter().find(|d| d.queue.key == k);
        let main = details
            .iter()
            .find(|d| d.queue.name == self.name || d.queue.key == self.name)
            .or_else(|| by_key(&t.system.queue_named(&self.name)?.key));
        let Some(main) = main else {
            return Ok(QueueOut::Missing(
                details.iter().map(|d| d.queue.name.clone()).collect(),
            ));
        };
        let mut notes = Vec::new();
        let q = main.queue.clone();
        let mut sets = vec![set_item(main, false, now)];
        let mut dead_ref: Option<(QueueRef, bool)> = None;
        if q.role == QueueRole::Work {
            for word in STATES {
                let Some((r, shared)) = resolve_state(&t.system, &q.name, word) else {
                    continue;
                };
                if *word == "dead" {
                    dead_ref = Some((r.clone(), shared));
                }
                if sets.iter().any(|s| s.key == r.key) {
                    continue;
                }
                if let Some(d) = by_key(&r.key) {
                    sets.push(set_item(d, shared, now));
                }
            }
        } else if q.role == QueueRole::DeadLetter {
            dead_ref = Some((q.clone(), false));
        }
        let rates = match self.sample {
            None => None,
            Some(pause) => {
                let own: Vec<&str> = sets
                    .iter()
                    .filter(|s| !s.shared)
                    .map(|s| s.key.as_str())
                    .collect();
                let first_at = Instant::now();
                let first = t.system.queue_lengths(conn).await.map_err(err)?;
                tokio::time::sleep_until((first_at + pause).into()).await;
                let second_at = Instant::now();
                let second = t.system.queue_lengths(conn).await.map_err(err)?;
                let keep = |v: Vec<(QueueRef, u64)>| -> Vec<(QueueRef, u64)> {
                    v.into_iter()
                        .filter(|(r, _)| own.contains(&r.key.as_str()))
                        .collect()
                };
                let (first, second) = (keep(first), keep(second));
                let has = |role: QueueRole| first.iter().any(|(r, _)| r.role == role);
                let mut r = rates(&first, &second, second_at - first_at);
                if !has(QueueRole::Completed) {
                    r.completed_per_s = None;
                }
                if !has(QueueRole::DeadLetter) {
                    r.dead_lettered_per_s = None;
                }
                Some(r)
            }
        };
        let dead = match dead_ref {
            None => None,
            Some((r, shared)) => {
                let peek = t
                    .system
                    .peek(conn, &r.key, DEAD_READ, true)
                    .await
                    .map_err(err)?;
                if let Some(kind) = &peek.wrong_type {
                    notes.push(format!(
                        "{}: {} holds a {kind}, not dead jobs: not read",
                        t.context(),
                        r.key
                    ));
                    None
                } else {
                    let read = peek.jobs.len() as u64;
                    let jobs: Vec<Job> = peek
                        .jobs
                        .into_iter()
                        .map(|(_, j)| j)
                        .filter(|j| {
                            !shared
                                || q.role != QueueRole::Work
                                || j.queue.as_deref().or(j.priority.as_deref())
                                    == Some(q.name.as_str())
                        })
                        .collect();
                    Some(DeadJobs {
                        queue: r.name.clone(),
                        key: r.key.clone(),
                        shared,
                        total: peek.length,
                        read,
                        matched: jobs.len() as u64,
                        groups: groups(&jobs),
                    })
                }
            }
        };
        let main = &sets[0];
        Ok(QueueOut::Found(
            Box::new(QueueDescription {
                context: t.context().to_string(),
                system: t.system.kind(),
                queue: main.queue.clone(),
                key: main.key.clone(),
                role: main.role,
                state: main.state,
                length: main.length,
                oldest_age_s: main.oldest_age_s,
                paused: main.paused,
                rates,
                dead,
                sets,
            }),
            notes,
        ))
    }
}

fn yes_no(b: Option<bool>) -> String {
    match b {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => format!("{NONE} (this system has no pause for it)"),
    }
}

fn block(d: &QueueDescription) -> Block {
    let mut b = Block::new();
    b.field("Context", &d.context)
        .field("Queue", &d.queue)
        .field("Key", &d.key)
        .field("System", d.system)
        .field("Role", format!("{} ({} jobs)", d.role.as_str(), d.state))
        .field("Length", d.length.to_string())
        .opt(
            "Oldest",
            d.oldest_age_s
                .map(|s| format!("{} (the next job's age)", age(Some(s as u64)))),
        )
        .field("Paused", yes_no(d.paused));
    b.section("Sets", |s| {
        s.table(
            &["QUEUE", "KEY", "STATE", "LENGTH", "OLDEST", "SHARED"],
            d.sets
                .iter()
                .map(|x| {
                    vec![
                        x.queue.clone(),
                        x.key.clone(),
                        x.state.to_string(),
                        x.length.to_string(),
                        x.oldest_age_s
                            .map(|a| age(Some(a as u64)))
                            .unwrap_or_default(),
                        if x.shared {
                            "yes (every queue's)".into()
                        } else {
                            "no".into()
                        },
                    ]
                })
                .collect(),
        );
    });
    if let Some(r) = &d.rates {
        b.section(&format!("Rates (over {:.1}s)", r.interval_s), |s| {
            s.field("Queued Change", rate(Some(r.queued_change_per_s), true))
                .field(
                    "Completed",
                    r.completed_per_s
                        .map(|v| rate(Some(v), false))
                        .unwrap_or_else(|| {
                            format!("{NONE} (no completed set of its own, or it shrank)")
                        }),
                )
                .field(
                    "Dead-lettered",
                    r.dead_lettered_per_s
                        .map(|v| rate(Some(v), false))
                        .unwrap_or_else(|| {
                            format!("{NONE} (no dead set of its own, or it shrank)")
                        }),
                );
        });
    }
    b.section("Dead Jobs", |s| {
        let Some(dj) = &d.dead else {
            return;
        };
        s.field(
            "Set",
            if dj.shared {
                format!("{} ({}, shared by every queue)", dj.queue, dj.key)
            } else {
                format!("{} ({})", dj.queue, dj.key)
            },
        );
        s.field(
            "Read",
            if dj.shared && d.role == QueueRole::Work {
                format!(
                    "the newest {} of {}; {} are {}'s",
                    dj.read, dj.total, dj.matched, d.queue
                )
            } else {
                format!("the newest {} of {}", dj.read, dj.total)
            },
        );
        s.section("By Error", |g| {
            g.table(
                &["COUNT", "NAME", "ERROR", "LAST FAILED", "EXAMPLE"],
                dj.groups
                    .iter()
                    .map(|x| {
                        vec![
                            x.count.to_string(),
                            x.name.clone().unwrap_or_default(),
                            x.error
                                .clone()
                                .unwrap_or_else(|| "(no error recorded)".into()),
                            x.last_failed_at.clone().unwrap_or_default(),
                            x.example_id.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            );
        });
    });
    b
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &DescribeQueueArgs,
) -> Result<ExitCode> {
    let names = selection(config, settings)?;
    let reader = QueueReader {
        name: args.queue.clone(),
        sample: args.sample,
    };
    let results = read(
        config,
        settings,
        &names,
        reader,
        args.sample.unwrap_or_default(),
    )
    .into_iter()
    .map(|r| {
        r.map(|out| match out {
            QueueOut::Found(d, notes) => {
                let b = block(&d);
                let name = format!("{}/{}", d.context, d.queue);
                Described {
                    context: d.context.clone(),
                    items: vec![(*d, b, name)],
                    notes,
                    known: Vec::new(),
                }
            }
            QueueOut::Missing(known) => Described {
                known,
                ..Described::default()
            },
        })
    });
    // Contexts that answered without the queue, named in the notes.
    let mut results: Vec<_> = results.collect();
    for (r, n) in results.iter_mut().zip(&names) {
        if let Ok(d) = r {
            d.context = n.clone();
            if d.items.is_empty() && names.len() > 1 {
                d.notes.push(format!("{n}: no queue `{}`", args.queue));
            }
        }
    }
    let queue = args.queue.clone();
    finish(settings, "QueueDescription", results, move |ctxs, known| {
        let e = CliError::failure(format!(
            "queue `{queue}` not found in {}",
            contexts_phrase(ctxs)
        ));
        match crate::contexts::did_you_mean(&queue, known.iter().map(String::as_str)) {
            Some(s) => e.with_hint(format!("did you mean `{s}`?")),
            None => e.with_hint("`qctl get queues` lists the queues"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_group_by_their_shape() {
        assert_eq!(
            fingerprint("qctl fixture failure: fail 7"),
            "qctl fixture failure: fail N"
        );
        assert_eq!(
            fingerprint("QctlFixtureError: FailJob [12] id 88035ef0afcde6b52d4e9260"),
            "QctlFixtureError: FailJob [N] id X"
        );
        assert_eq!(fingerprint("deadbeef cafe v2 x86"), "X cafe v2 x86");
        let j = |id: &str, e: &str| Job {
            id: Some(id.into()),
            name: Some("fail".into()),
            error: Some(e.into()),
            ..Job::default()
        };
        let g = groups(&[j("1", "boom 1"), j("2", "boom 2"), j("3", "other")]);
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].count, g[0].error.as_deref()), (2, Some("boom N")));
    }
}
