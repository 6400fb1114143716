//! Reading every selected context: once (`read_all`) or over and over on
//! per-context schedules (`watch_all`). A [`Reader`] says what one context
//! reads over an open connection; this module owns connecting, budgets,
//! concurrency and ordering.

use crate::connect::{Conn, Endpoint};
use crate::contexts::{Config, Mode};
use crate::error::{ContextError, ErrorKind};
use crate::fanout::{fan_out, raise_fd_limit};
use crate::settings::Settings;
use crate::systems::System;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// One context, resolved before any connection is made.
#[derive(Debug, Clone)]
pub(crate) struct ReadTarget {
    pub(crate) ep: Endpoint,
    pub(crate) system: System,
    pub(crate) schema: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) color: Option<String>,
}

impl ReadTarget {
    pub(crate) fn context(&self) -> &str {
        &self.ep.context
    }
    pub(crate) fn mode(&self) -> Mode {
        self.ep.mode
    }
}

/// What one context reads, given an open connection.
pub(crate) trait Reader: Send + Sync + 'static {
    type Out: Send + 'static;
    fn read(
        &self,
        conn: &Conn,
        target: &ReadTarget,
    ) -> impl Future<Output = Result<Self::Out, ContextError>> + Send;
}

/// Connection settings a task needs, owned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnSettings {
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) verbose: bool,
}

impl ConnSettings {
    pub(crate) fn from(settings: &Settings) -> Self {
        ConnSettings {
            connect_timeout: settings.connect_timeout,
            timeout: settings.timeout,
            verbose: settings.verbose > 0,
        }
    }
}

/// Resolves the targets (endpoint, queue system) of the named contexts, in
/// the given order; warns once about insecure TLS.
pub(crate) fn targets(
    config: &Config,
    settings: &Settings,
    names: &[String],
) -> Vec<Result<Arc<ReadTarget>, ContextError>> {
    let out: Vec<Result<Arc<ReadTarget>, ContextError>> = names
        .iter()
        .map(|n| {
            let ctx = config
                .context(n)
                .expect("selection only yields known contexts");
            let schema = config.schema(&ctx.schema).expect("checked on load");
            Ok(Arc::new(ReadTarget {
                ep: Endpoint::resolve(config, ctx)?,
                system: System::for_schema(&schema.system),
                schema: schema.name.clone(),
                labels: ctx.labels.clone(),
                color: ctx.color.clone(),
            }))
        })
        .collect();
    for t in out.iter().flatten() {
        if t.ep.tls.insecure_skip_verify {
            settings.printer.warn(&format!(
                "context `{}`: insecure-skip-verify is set: the server's TLS certificate is not checked",
                t.ep.context
            ));
        }
    }
    raise_fd_limit((names.len() as u64 * 8 + 64).max(1024));
    out
}

/// Opens a connection and reads one context.
async fn read_one<R: Reader>(
    reader: &R,
    target: &ReadTarget,
    cs: ConnSettings,
) -> Result<R::Out, ContextError> {
    let conn = Conn::open_for_reads(&target.ep, cs.connect_timeout, cs.timeout, cs.verbose).await?;
    reader.read(&conn, target).await
}

/// Reads every target once, concurrently; one result per target, in the
/// targets' order. `extra_budget` is added to each context's `--timeout`
/// (a `--sample` pause is not the server's fault).
pub(crate) fn read_all<R: Reader>(
    settings: &Settings,
    names: &[String],
    targets: Vec<Result<Arc<ReadTarget>, ContextError>>,
    reader: R,
    extra_budget: Duration,
) -> Vec<Result<R::Out, ContextError>> {
    let cs = ConnSettings::from(settings);
    let reader = Arc::new(reader);
    let budget = settings.timeout + extra_budget;
    let waiting = crate::progress::Waiting::start(settings.printer.quiet, "reading", names);
    runtime().block_on(async {
        fan_out(
            names,
            settings.max_concurrency,
            Some(budget),
            waiting,
            |i| {
                let target = targets[i].clone();
                let reader = reader.clone();
                async move {
                    let t = target?;
                    read_one(&*reader, &t, cs).await
                }
            },
        )
        .await
    })
}

/// The tokio runtime for network verbs.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

/// One poll of one context under `--watch`.
#[derive(Debug)]
pub(crate) struct Poll<T> {
    /// Index of the context in the targets.
    pub(crate) index: usize,
    pub(crate) context: String,
    pub(crate) time: jiff::Timestamp,
    pub(crate) result: Result<T, ContextError>,
}

/// How `--watch` repolls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WatchSchedule {
    pub(crate) interval: Duration,
    /// Each wait is `interval` plus a random share of this, drawn per
    /// context and per poll, so contexts drift apart instead of polling in
    /// lockstep.
    pub(crate) jitter: Duration,
}

/// A random duration in `[0, max]` (jitter only; not for secrets).
fn random_up_to(max: Duration, salt: u64) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    if max.is_zero() {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    let r = h.finish();
    let nanos = max.as_nanos() as u64;
    Duration::from_nanos(r % (nanos + 1))
}

/// Why a watch stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchEnd {
    /// Ctrl-C or SIGTERM.
    Signal,
    /// `on_poll` asked to stop (e.g. stdout closed).
    Stopped,
}

/// Polls every target on its own schedule until a signal, handing each
/// poll to `on_poll` as it lands. A context keeps its connection between
/// polls and reconnects after a failure; a failing context never holds up
/// the others. `on_poll` returns `false` to stop.
pub(crate) fn watch_all<R, F>(
    settings: &Settings,
    targets: Vec<Result<Arc<ReadTarget>, ContextError>>,
    names: &[String],
    reader: R,
    schedule: WatchSchedule,
    extra_budget: Duration,
    mut on_poll: F,
) -> WatchEnd
where
    R: Reader,
    F: FnMut(Vec<Poll<R::Out>>) -> bool,
{
    let cs = ConnSettings::from(settings);
    let budget = settings.timeout + extra_budget;
    let reader = Arc::new(reader);
    let sem = Arc::new(tokio::sync::Semaphore::new(settings.max_concurrency.max(1)));
    let rt = runtime();
    rt.block_on(async move {
        // Bounded: when stdout is slow (a paused pager), pollers wait
        // instead of piling up answers in memory.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Poll<R::Out>>(names.len().max(1) * 2);
        for (i, target) in targets.into_iter().enumerate() {
            let tx = tx.clone();
            let reader = reader.clone();
            let sem = sem.clone();
            let name = names[i].clone();
            tokio::spawn(async move {
                let target = match target {
                    Ok(t) => t,
                    Err(e) => {
                        // A context that cannot even be resolved (an unset
                        // password variable) reports once.
                        let _ = tx
                            .send(Poll {
                                index: i,
                                context: name,
                                time: jiff::Timestamp::now(),
                                result: Err(e),
                            })
                            .await;
                        return;
                    }
                };
                let mut conn: Option<Conn> = None;
                let mut n: u64 = 0;
                loop {
                    let result = {
                        let _permit = sem.acquire().await.expect("never closed");
                        let attempt = async {
                            if conn.is_none() {
                                conn = Some(
                                    Conn::open_for_reads(
                                        &target.ep,
                                        cs.connect_timeout,
                                        cs.timeout,
                                        cs.verbose,
                                    )
                                    .await?,
                                );
                            }
                            let c = conn.as_ref().expect("just opened");
                            reader.read(c, &target).await
                        };
                        match tokio::time::timeout(budget, attempt).await {
                            Ok(r) => r,
                            Err(_) => Err(ContextError {
                                context: name.clone(),
                                kind: ErrorKind::Timeout,
                                message: format!(
                                    "no answer within {}",
                                    humantime::format_duration(budget)
                                ),
                            }),
                        }
                    };
                    if result.is_err() {
                        conn = None;
                    }
                    let poll = Poll {
                        index: i,
                        context: name.clone(),
                        time: jiff::Timestamp::now(),
                        result,
                    };
                    if tx.send(poll).await.is_err() {
                        return;
                    }
                    n += 1;
                    let wait =
                        schedule.interval + random_up_to(schedule.jitter, (i as u64) << 32 | n);
                    tokio::time::sleep(wait).await;
                }
            });
        }
        drop(tx);
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).expect("a SIGINT handler installs");
        let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler installs");
        // If the loop below is stuck writing to a blocked stdout, a signal
        // still ends the watch (with 130, like the normal path).
        let mut int2 = signal(SignalKind::interrupt()).expect("a SIGINT handler installs");
        let mut term2 = signal(SignalKind::terminate()).expect("a SIGTERM handler installs");
        tokio::spawn(async move {
            tokio::select! {
                _ = int2.recv() => {}
                _ = term2.recv() => {}
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            std::process::exit(crate::error::ExitCode::Interrupted as i32);
        });
        loop {
            tokio::select! {
                _ = int.recv() => return WatchEnd::Signal,
                _ = term.recv() => return WatchEnd::Signal,
                first = rx.recv() => {
                    let Some(first) = first else { return WatchEnd::Stopped };
                    // Hand over everything that has landed, so a redraw
                    // covers a burst of polls at once.
                    let mut batch = vec![first];
                    while let Ok(p) = rx.try_recv() {
                        batch.push(p);
                    }
                    if !on_poll(batch) {
                        return WatchEnd::Stopped;
                    }
                }
            }
        }
    })
}
