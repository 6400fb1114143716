//! The write side: the safety gate every write verb goes through (SPEC
//! section 6), and the verbs on it.
//!
//! A verb is an [`Action`]: what it measures on one target (its plan) and
//! what it does there. [`run::run`] owns everything else, once for all
//! verbs: policy (`gate::admit`), the pre-flight plan on stderr, `--dry-run`,
//! the typed confirmation, the strategy, Ctrl-C, the audit log and the
//! `ActionResult`.

pub(crate) mod audit;
pub(crate) mod bench;
pub(crate) mod gate;
pub(crate) mod pause;
pub(crate) mod purge;
pub(crate) mod replicate;
pub(crate) mod requeue;
pub(crate) mod requeue_orphaned;
pub(crate) mod restore;
mod result;
mod run;
pub(crate) mod signal;
mod strategy;

pub(crate) use run::{run, run_on};

use crate::connect::Conn;
use crate::error::{ContextError, ErrorKind};
use crate::systems::lists::{ListState, Store, list_state, store_state};

/// The length of the dead set at `key` as `store` (0 when missing); a key
/// of another type fails the target.
pub(crate) async fn dead_length(conn: &Conn, key: &str, store: Store) -> Result<u64, ContextError> {
    match store_state(conn, key, store)
        .await
        .map_err(|e| conn.error(&e))?
    {
        ListState::List(n) => Ok(n),
        ListState::WrongType(kind) => Err(ContextError {
            context: conn.context.clone(),
            kind: ErrorKind::Redis,
            message: format!(
                "{key} holds a {kind}, not a {}: qctl leaves it alone",
                store.type_name()
            ),
        }),
    }
}

/// The lengths of many sets (0 when missing) in two batches, every TYPE
/// then every length; a key of another type fails the target.
pub(crate) async fn set_lengths(
    conn: &Conn,
    keys: &[(&str, Store)],
) -> Result<Vec<u64>, ContextError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let err = |e: redis::RedisError| conn.error(&e);
    let cmds: Vec<redis::Cmd> = keys
        .iter()
        .map(|(k, _)| {
            let mut c = redis::cmd("TYPE");
            c.arg(*k);
            c
        })
        .collect();
    let types: Vec<String> = conn.each_key(&cmds).await.map_err(err)?;
    for ((key, store), ty) in keys.iter().zip(&types) {
        if ty != "none" && ty != store.type_name() {
            return Err(ContextError {
                context: conn.context.clone(),
                kind: ErrorKind::Redis,
                message: format!(
                    "{key} holds a {ty}, not a {}: qctl leaves it alone",
                    store.type_name()
                ),
            });
        }
    }
    let cmds: Vec<redis::Cmd> = keys
        .iter()
        .map(|(k, store)| {
            let mut c = redis::cmd(match store {
                Store::List => "LLEN",
                Store::SortedSet => "ZCARD",
            });
            c.arg(*k);
            c
        })
        .collect();
    conn.each_key(&cmds).await.map_err(err)
}

/// The length of the list at `key` (0 when missing); a key of another type
/// fails the target: a write verb never touches what it does not know.
pub(crate) async fn list_length(conn: &Conn, key: &str) -> Result<u64, ContextError> {
    match list_state(conn, key).await.map_err(|e| conn.error(&e))? {
        ListState::List(n) => Ok(n),
        ListState::WrongType(kind) => Err(ContextError {
            context: conn.context.clone(),
            kind: ErrorKind::Redis,
            message: format!("{key} holds a {kind}, not a list: qctl leaves it alone"),
        }),
    }
}
