//! What every write shares before it changes anything: the user may run
//! every command it will send, checked twice.
//!
//! 1. In pre-flight, `ACL DRYRUN <user> <command> <key> ...` for each
//!    command a verb will send (Redis >= 7.0, when the user may run `ACL
//!    DRYRUN` and `ACL WHOAMI`): a target whose user lacks one is refused
//!    with the command named, before the confirmation.
//! 2. Inside every server-side step, before its first write, the Lua
//!    prelude [`PRELUDE`] asks `redis.acl_check_cmd` (Redis >= 7.0, no
//!    extra permission needed) for every command the step may run, and
//!    stops the step with `QCTLNOPERM` when one is denied. A script that
//!    Redis would stop half-way (Redis scripts are not rolled back) never
//!    starts, so no job is ever taken out of one list without reaching the
//!    other.
//!
//! On Redis 6.x neither exists; there, every step pushes before it trims,
//! so an ACL refusal half-way leaves a job twice, never nowhere (README,
//! "ACL users").
//!
//! Side keys: qctl's own keys all carry `:qctl-` after the key they serve
//! (see `slots::sibling_key`); [`is_side_key`] tells them.

use crate::connect::Conn;
use crate::error::{ContextError, ErrorKind};
use redis::Value;

/// Lua defining `qctl_may({cmd, key, args...}, ...)`: raises `QCTLNOPERM`
/// naming the first command the ACL denies. Call it before the first write.
pub(crate) const PRELUDE: &str = r#"
local function qctl_may(...)
  if not redis.acl_check_cmd then return end
  for _, c in ipairs({...}) do
    local ok, allowed = pcall(redis.acl_check_cmd, unpack(c))
    if ok and not allowed then
      error({err = 'QCTLNOPERM the ACL does not allow ' .. string.upper(c[1]) .. ' on ' .. tostring(c[2]) .. ': nothing was changed by this step'})
    end
  end
end
"#;

/// A script with the prelude in front.
pub(crate) fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{PRELUDE}\n{body}"))
}

/// One command a verb will send: its name, then its key and arguments as
/// `ACL DRYRUN` wants them (values that do not matter are placeholders).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needed(pub(crate) Vec<String>);

impl Needed {
    pub(crate) fn new(cmd: &str, key: &str, rest: &[&str]) -> Self {
        let mut v = vec![cmd.to_string(), key.to_string()];
        v.extend(rest.iter().map(|s| s.to_string()));
        Needed(v)
    }

    /// EVALSHA and EVAL of a script over `keys` (how redis-rs sends one).
    pub(crate) fn scripts(keys: &[&str]) -> Vec<Needed> {
        let mut out = Vec::new();
        for cmd in ["EVALSHA", "EVAL"] {
            let mut v = vec![
                cmd.to_string(),
                "0000000000000000000000000000000000000000".to_string(),
                keys.len().to_string(),
            ];
            v.extend(keys.iter().map(|k| k.to_string()));
            out.push(Needed(v));
        }
        out
    }
}

/// Whether the server can check permissions at all (`ACL DRYRUN`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checked {
    /// Every command is allowed.
    Allowed,
    /// The server or the user cannot answer: why (shown as a plan note).
    Unknown(String),
}

/// Pre-flight: asks `ACL DRYRUN` for each command, in one pipeline.
/// `Err` names the first denied command; `Ok(Unknown)` when the server
/// cannot say (Redis < 7.0, or the user may not run `ACL DRYRUN`).
pub(crate) async fn may_run(conn: &Conn, needed: &[Needed]) -> Result<Checked, ContextError> {
    let node = conn.nodes().remove(0);
    let user: String = match conn
        .query_node(&node, redis::cmd("ACL").arg("WHOAMI"))
        .await
    {
        Ok(u) => u,
        Err(e) => return Ok(Checked::Unknown(unknown_why(&e))),
    };
    let mut p = redis::pipe();
    p.ignore_errors();
    for n in needed {
        p.cmd("ACL").arg("DRYRUN").arg(&user).arg(&n.0);
    }
    // ACL rules are per node; every node of a cluster has the same ones.
    let replies: Vec<Value> = match conn.pipe_node(&node, &p).await {
        Ok(v) => v,
        Err(e) => return Ok(Checked::Unknown(unknown_why(&e))),
    };
    for (n, r) in needed.iter().zip(replies) {
        let why = match r {
            Value::Okay => continue,
            Value::SimpleString(s) if s == "OK" => continue,
            Value::SimpleString(s) => s,
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::ServerError(e) => {
                let text = e.details().unwrap_or_default().to_string();
                // A command the server does not know (renamed away): the
                // step would fail on it.
                if e.code() == "NOPERM" || text.to_lowercase().contains("dryrun") {
                    return Ok(Checked::Unknown(
                        "the user may not run ACL DRYRUN, so permissions are checked in each step instead".into(),
                    ));
                }
                text
            }
            _ => continue,
        };
        return Err(denied(conn, &user, n, &why));
    }
    Ok(Checked::Allowed)
}

fn unknown_why(e: &redis::RedisError) -> String {
    let t = e.to_string();
    if t.contains("NOPERM") {
        "the user may not run ACL WHOAMI/DRYRUN, so permissions are checked in each step instead"
            .into()
    } else {
        "the server cannot check permissions ahead (ACL DRYRUN needs Redis 7.0), so they are checked in each step instead".into()
    }
}

fn denied(conn: &Conn, user: &str, n: &Needed, why: &str) -> ContextError {
    let cmd = n.0.first().cloned().unwrap_or_default().to_uppercase();
    let key = n.0.get(1).cloned().unwrap_or_default();
    let on = if cmd.starts_with("EVAL") {
        String::new()
    } else {
        format!(" on {key}")
    };
    let why = why.trim();
    let why = if why.is_empty() {
        String::new()
    } else {
        format!(" ({why})")
    };
    ContextError {
        context: conn.context.clone(),
        kind: ErrorKind::Redis,
        message: format!(
            "user {user} may not run {cmd}{on}{why}, which this verb needs; nothing was changed: grant it (ACL SETUSER {user} +{}) or use a user that has it",
            cmd.to_lowercase()
        ),
    }
}

/// Whether `key` is one of qctl's own side keys (a backup, a lock, a
/// staging list, a receipt...), which no verb may write jobs into.
pub(crate) fn is_side_key(key: &str) -> bool {
    key.contains(":qctl-")
}

/// The message of a `QCTLNOPERM` refusal from a step, if `e` is one.
pub(crate) fn step_refusal(e: &redis::RedisError) -> Option<String> {
    let t = e.to_string();
    let i = t.find("QCTLNOPERM")?;
    Some(
        t[i + "QCTLNOPERM".len()..]
            .trim()
            .trim_end_matches(['"', ')'])
            .to_string(),
    )
}

/// A failed server-side step in the user's words: an ACL refusal by the
/// prelude, a lock lost to another run, a server at maxmemory.
pub(crate) fn step_error(conn: &Conn, e: &redis::RedisError) -> ContextError {
    let mut ce = conn.error(e);
    let t = e.to_string();
    if let Some(why) = step_refusal(e) {
        ce.message = why;
    } else if t.contains("QCTLLOCK") {
        ce.message = "this run lost its lock (it stalled longer than the lock lives, and another run took over); it stopped without pushing anything twice".into();
    } else if t.contains("OOM") {
        ce.message = "the server is at maxmemory and refused the write (OOM); nothing was changed by this step: free memory first (purge-dlq works on a full server)".into();
    }
    ce
}

/// A plan warning when any primary is at (or over) its maxmemory.
pub(crate) async fn memory_warning(conn: &Conn) -> Option<String> {
    for node in conn.nodes() {
        let raw: Vec<u8> = conn
            .query_node(&node, redis::cmd("INFO").arg("memory"))
            .await
            .ok()?;
        let info = String::from_utf8_lossy(&raw);
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let used: u64 = field("used_memory").and_then(|v| v.parse().ok())?;
        let max: u64 = field("maxmemory").and_then(|v| v.parse().ok())?;
        if max > 0 && used >= max {
            let policy = field("maxmemory_policy").unwrap_or("?");
            return Some(format!(
                "the server is at maxmemory ({} used of {}, policy {policy}): writes that need memory are refused; purge-dlq (RENAME/UNLINK) still works",
                crate::output::human_bytes(used),
                crate::output::human_bytes(max)
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_keys_are_told() {
        assert!(is_side_key("{jobqueue:dead_letter}:qctl-requeue:lock"));
        assert!(is_side_key("{q}:qctl-backup:20261123T101500.123Z-0a"));
        assert!(!is_side_key("jobqueue:high_priority"));
    }

    #[test]
    fn scripts_are_checked_as_both_evals() {
        let n = Needed::scripts(&["a", "b"]);
        assert_eq!(n[0].0[0], "EVALSHA");
        assert_eq!(n[1].0[0], "EVAL");
        assert_eq!(&n[1].0[2..], &["2", "a", "b"]);
    }
}
