//! `replicate --what config`: aligns an allow-list of Redis CONFIG
//! parameters with the source's values.
//!
//! Only parameters that are about behaviour, not about the host, are on
//! the list: eviction policy, timeouts, keyspace notifications, the
//! background task rate, lazy freeing, slow-log and latency thresholds and
//! list encoding. Memory size (`maxmemory`) differs between hosts, so it is
//! aligned only when named (`--config-param maxmemory`); persistence,
//! networking, paths, replication and security parameters are never
//! touched. Values are read with `CONFIG GET` and set with `CONFIG SET` on
//! every primary of a cluster (one node of a standalone), runtime only
//! unless `--persist` (then `CONFIG REWRITE` on each of those nodes).

use crate::connect::{Conn, Node};
use crate::error::{ContextError, ErrorKind};
use crate::systems::glob::Glob;
use serde::Serialize;
use std::collections::BTreeMap;

pub(crate) use crate::params::{ALLOW_LIST, NAMED_ONLY};

/// One parameter that changes (or would) on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ConfigChange {
    pub(crate) parameter: String,
    pub(crate) old: String,
    pub(crate) new: String,
    /// The primary (`host:port`), on a cluster target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
}

impl ConfigChange {
    pub(crate) fn describe(&self) -> String {
        let at = self
            .node
            .as_ref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default();
        format!(
            "{} {} -> {}{at}",
            self.parameter,
            show(&self.old),
            show(&self.new)
        )
    }
}

/// The changes in a few words: a change made alike on several primaries
/// of a cluster is told once ("hz 10 -> 20 on 3 primaries").
pub(crate) fn summary(changes: &[ConfigChange]) -> String {
    let mut groups: Vec<(&ConfigChange, usize)> = Vec::new();
    for c in changes {
        match groups
            .iter_mut()
            .find(|(g, _)| g.parameter == c.parameter && g.old == c.old && g.new == c.new)
        {
            Some((_, n)) => *n += 1,
            None => groups.push((c, 1)),
        }
    }
    groups
        .iter()
        .map(|(c, n)| {
            if *n > 1 {
                format!(
                    "{} {} -> {} on {n} primaries",
                    c.parameter,
                    show(&c.old),
                    show(&c.new)
                )
            } else {
                c.describe()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(v: &str) -> String {
    if v.is_empty() {
        "\"\"".into()
    } else {
        v.to_string()
    }
}

/// The parameters a run aligns: the allow-list, or the ones named with
/// `--config-param` (names or globs over the allow-list; `maxmemory` only
/// by its exact name). `Err` says what is wrong with a name.
pub(crate) fn params(named: &[String]) -> Result<Vec<String>, String> {
    if named.is_empty() {
        return Ok(ALLOW_LIST.iter().map(|s| s.to_string()).collect());
    }
    let mut out: Vec<String> = Vec::new();
    for n in named.iter().map(|n| n.trim().to_lowercase()) {
        if n.is_empty() {
            continue;
        }
        let found: Vec<String> = if NAMED_ONLY.contains(&n.as_str()) {
            vec![n.clone()]
        } else {
            let g = Glob::parse(&n).map_err(|e| format!("--config-param {n}: {e}"))?;
            ALLOW_LIST
                .iter()
                .filter(|p| g.matches(p.as_bytes()))
                .map(|p| p.to_string())
                .collect()
        };
        if found.is_empty() {
            return Err(format!(
                "--config-param {n} is not a parameter replicate aligns; it aligns {} and maxmemory (only when named)",
                ALLOW_LIST.join(", ")
            ));
        }
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    if out.is_empty() {
        return Err("--config-param names no parameter".into());
    }
    Ok(out)
}

/// The values of `params` on every node of `conn` (a parameter the server
/// does not know is absent from its map).
pub(crate) async fn read(
    conn: &Conn,
    params: &[String],
) -> redis::RedisResult<Vec<(Node, BTreeMap<String, String>)>> {
    let mut out = Vec::new();
    for node in conn.nodes() {
        let mut pipe = redis::pipe();
        for p in params {
            pipe.cmd("CONFIG").arg("GET").arg(p);
        }
        let replies: Vec<redis::Value> = conn.pipe_node(&node, &pipe).await?;
        let mut values = BTreeMap::new();
        for reply in replies {
            let pairs: Vec<String> =
                redis::FromRedisValue::from_redis_value(reply.extract_error()?)?;
            for kv in pairs.chunks(2) {
                if let [k, v] = kv {
                    values.insert(k.clone(), v.clone());
                }
            }
        }
        out.push((node, values));
    }
    Ok(out)
}

/// A CONFIG GET the server refused, as the target's error.
pub(crate) fn refused(conn: &Conn, e: &redis::RedisError, what: &str) -> ContextError {
    let mut err = conn.error(e);
    // Only a server's own refusal (NOPERM, an unknown or renamed command)
    // is a refusal; a timeout or a lost connection says what it is.
    if e.code().is_none() {
        return err;
    }
    err.message = format!(
        "it refuses CONFIG {what} ({}): managed Redis and restricted ACL users often do; its config is left alone (run with --what queues to copy jobs only)",
        err.message
    );
    if err.kind == ErrorKind::Protocol {
        err.kind = ErrorKind::Redis;
    }
    err
}

/// The source's values: one per parameter. On a cluster whose primaries
/// disagree the parameter is left out, with a note.
pub(crate) fn source_values(
    nodes: &[(Node, BTreeMap<String, String>)],
    params: &[String],
) -> (BTreeMap<String, String>, Vec<String>) {
    let mut values = BTreeMap::new();
    let mut notes = Vec::new();
    for p in params {
        let seen: Vec<&String> = nodes.iter().filter_map(|(_, v)| v.get(p)).collect();
        let Some(first) = seen.first() else {
            continue;
        };
        if seen.iter().any(|v| v != first) {
            notes.push(format!(
                "the source's primaries disagree on {p}: it is left alone"
            ));
            continue;
        }
        values.insert(p.clone(), (*first).clone());
    }
    (values, notes)
}

/// What would change on a target, and parameters it does not know.
pub(crate) fn diff(
    want: &BTreeMap<String, String>,
    nodes: &[(Node, BTreeMap<String, String>)],
    cluster: bool,
) -> (Vec<ConfigChange>, Vec<String>) {
    let mut changes = Vec::new();
    let mut unknown = Vec::new();
    for (node, have) in nodes {
        for (p, new) in want {
            match have.get(p) {
                None => {
                    if !unknown.contains(p) {
                        unknown.push(p.clone());
                    }
                }
                Some(old) if old != new => changes.push(ConfigChange {
                    parameter: p.clone(),
                    old: old.clone(),
                    new: new.clone(),
                    node: cluster.then(|| format!("{}:{}", node.host, node.port)),
                }),
                Some(_) => {}
            }
        }
    }
    let warnings = unknown
        .into_iter()
        .map(|p| format!("this server does not know CONFIG {p}: left alone"))
        .collect();
    (changes, warnings)
}

/// Sets `want` on every node of `conn` where it differs (read again now,
/// so `old` is what was replaced), then `CONFIG REWRITE` on each node when
/// `persist`. Returns the changes made, and the error that stopped it.
pub(crate) async fn apply(
    conn: &Conn,
    want: &BTreeMap<String, String>,
    persist: bool,
) -> (Vec<ConfigChange>, Option<ContextError>) {
    let params: Vec<String> = want.keys().cloned().collect();
    let nodes = match read(conn, &params).await {
        Ok(n) => n,
        Err(e) => return (Vec::new(), Some(refused(conn, &e, "GET"))),
    };
    let (changes, _) = diff(want, &nodes, conn.is_cluster());
    let mut done = Vec::new();
    for (node, _) in &nodes {
        let at = |c: &ConfigChange| match &c.node {
            Some(n) => *n == format!("{}:{}", node.host, node.port),
            None => true,
        };
        for c in changes.iter().filter(|c| at(c)) {
            let r: redis::RedisResult<()> = conn
                .query_node(
                    node,
                    redis::cmd("CONFIG")
                        .arg("SET")
                        .arg(&c.parameter)
                        .arg(&c.new),
                )
                .await;
            if let Err(e) = r {
                let mut err = conn.error(&e);
                err.message = format!(
                    "CONFIG SET {} {} failed: {}{}",
                    c.parameter,
                    show(&c.new),
                    err.message,
                    if done.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " (already changed: {})",
                            done.iter()
                                .map(ConfigChange::describe)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
                return (done, Some(err));
            }
            done.push(c.clone());
        }
        if persist {
            let r: redis::RedisResult<()> = conn
                .query_node(node, redis::cmd("CONFIG").arg("REWRITE"))
                .await;
            if let Err(e) = r {
                let mut err = conn.error(&e);
                err.message = format!(
                    "CONFIG REWRITE failed ({}): the changes are live but not saved to the config file",
                    err.message
                );
                return (done, Some(err));
            }
        }
    }
    (done, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_default_to_the_allow_list_without_maxmemory() {
        let p = params(&[]).unwrap();
        assert!(p.contains(&"maxmemory-policy".to_string()));
        assert!(!p.contains(&"maxmemory".to_string()));
    }

    #[test]
    fn named_params_are_names_or_globs_and_maxmemory_only_exactly() {
        assert_eq!(params(&["maxmemory".into()]).unwrap(), vec!["maxmemory"]);
        let p = params(&["maxmemory*".into()]).unwrap();
        assert!(!p.contains(&"maxmemory".to_string()), "{p:?}");
        assert!(p.contains(&"maxmemory-policy".to_string()));
        let lazy = params(&["lazyfree-*".into(), "HZ".into()]).unwrap();
        assert_eq!(lazy.len(), 6, "{lazy:?}");
        assert!(
            params(&["save".into()])
                .unwrap_err()
                .contains("not a parameter")
        );
        assert!(params(&["requirepass".into()]).is_err());
    }

    fn node(port: u16, kv: &[(&str, &str)]) -> (Node, BTreeMap<String, String>) {
        (
            Node {
                host: "127.0.0.1".into(),
                port,
            },
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn source_disagreement_and_diff() {
        let ps: Vec<String> = vec!["hz".into(), "timeout".into(), "x".into()];
        let src = [
            node(1, &[("hz", "50"), ("timeout", "0")]),
            node(2, &[("hz", "50"), ("timeout", "300")]),
        ];
        let (want, notes) = source_values(&src, &ps);
        assert_eq!(want.len(), 1);
        assert_eq!(notes.len(), 1, "timeout disagrees");
        let target = [node(3, &[("hz", "10")]), node(4, &[("hz", "50")])];
        let (changes, warnings) = diff(&want, &target, true);
        assert_eq!(
            changes,
            vec![ConfigChange {
                parameter: "hz".into(),
                old: "10".into(),
                new: "50".into(),
                node: Some("127.0.0.1:3".into()),
            }]
        );
        assert!(warnings.is_empty());
        let (_, warnings) = diff(
            &[("busy-reply-threshold".to_string(), "5000".to_string())].into(),
            &[node(1, &[])],
            false,
        );
        assert_eq!(warnings.len(), 1);
    }
}
