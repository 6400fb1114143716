//! Runs one async job per target context, at most `max_concurrency` at a
//! time, each under its own budget, and returns one result per target in the
//! order the targets were given (file order), whatever order they finished in.

use crate::error::{ContextError, ErrorKind};
use crate::progress::Waiting;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Runs `job(i)` for every index, bounded and budgeted; `waiting` (a
/// spinner on a terminal) hears of each context as it ends.
pub(crate) async fn fan_out<T, F, Fut>(
    names: &[String],
    max_concurrency: usize,
    budget: Option<Duration>,
    waiting: Option<Arc<Waiting>>,
    job: F,
) -> Vec<Result<T, ContextError>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T, ContextError>> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(max_concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (i, name) in names.iter().enumerate() {
        let fut = job(i);
        let sem = sem.clone();
        let name = name.clone();
        let waiting = waiting.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore never closes");
            // The budget starts when this context starts, not when the command did.
            let result = match budget {
                Some(b) => match tokio::time::timeout(b, fut).await {
                    Ok(r) => r,
                    Err(_) => Err(ContextError {
                        context: name,
                        kind: ErrorKind::Timeout,
                        message: format!("no answer within {}", humantime::format_duration(b)),
                    }),
                },
                None => fut.await,
            };
            if let Some(w) = &waiting {
                w.done(i);
            }
            (i, result)
        });
    }
    let mut slots: Vec<Option<Result<T, ContextError>>> = (0..names.len()).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((i, r)) => slots[i] = Some(r),
            Err(e) => {
                // A panicking job must not take the others down; it shows as
                // an error for its context (found below as the missing slot).
                eprintln!("warning: internal error in a context job: {e}");
            }
        }
    }
    if let Some(w) = &waiting {
        // Cleared before anyone prints the results.
        w.finish();
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| {
                Err(ContextError {
                    context: names[i].clone(),
                    kind: ErrorKind::Protocol,
                    message: "internal error (see stderr)".into(),
                })
            })
        })
        .collect()
}

/// Raises the open-files soft limit toward `wanted` when the hard limit
/// allows: 200 contexts, each with a socket or three, need more than the
/// common default of 1024 on a cluster-heavy selection.
pub(crate) fn raise_fd_limit(wanted: u64) {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return;
        }
        let target = wanted.min(lim.rlim_max);
        if lim.rlim_cur < target {
            lim.rlim_cur = target;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn results_in_input_order_and_timeouts_per_job() {
        let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
        let results = fan_out(
            &names,
            2,
            Some(Duration::from_millis(200)),
            None,
            |i| async move {
                // Later indexes finish first; index 3 never finishes.
                if i == 3 {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                tokio::time::sleep(Duration::from_millis(50 - i as u64 * 10)).await;
                Ok::<usize, ContextError>(i)
            },
        )
        .await;
        assert_eq!(results.len(), 5);
        for (i, r) in results.iter().enumerate() {
            if i == 3 {
                let e = r.as_ref().unwrap_err();
                assert_eq!(e.kind, ErrorKind::Timeout);
                assert_eq!(e.context, "c3");
            } else {
                assert_eq!(*r.as_ref().unwrap(), i);
            }
        }
    }
}
