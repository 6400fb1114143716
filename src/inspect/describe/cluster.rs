//! `qctl describe cluster [CONTEXT...]`: a context's server (version, mode,
//! the nodes of a cluster with their addresses and roles, memory per node
//! and summed, maxmemory policy, persistence, uptime), the settings
//! `compare` checks, its queue system and what that system supports (the
//! capability table), its figures (with why a figure is null) and each
//! health check with its threshold (`ClusterDescription`).

use super::text::{Block, NONE};
use super::{Described, finish, read, selection};
use crate::cli::DescribeClusterArgs;
use crate::connect::Conn;
use crate::contexts::{Config, Mode};
use crate::error::{CliError, ContextError, ExitCode, Result};
use crate::inspect::read::{ReadTarget, Reader};
use crate::inspect::{Check, Probe, ProbeReader, checks, info_text, parse_info};
use crate::output::{age, bytes, labels_text};
use crate::settings::Settings;
use crate::systems::{QueueRole, System, Verb};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One node, as INFO (primaries) and CLUSTER NODES (every node) show it.
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct NodeItem {
    pub(crate) address: String,
    /// `primary` or `replica`.
    pub(crate) role: String,
    /// A replica's primary (its address).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replica_of: Option<String>,
    /// Slot ranges a primary serves (`0-5460`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) slots: Option<String>,
    /// CLUSTER NODES flags beyond the role (`fail`, `pfail`, `handshake`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) flags: Vec<String>,
    pub(crate) redis_version: Option<String>,
    pub(crate) used_memory_bytes: Option<u64>,
    pub(crate) maxmemory_bytes: Option<u64>,
    pub(crate) uptime_s: Option<u64>,
    pub(crate) connected_clients: Option<u64>,
}

/// Persistence as the server reports it.
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Persistence {
    /// CONFIG `appendonly` (first primary).
    pub(crate) appendonly: Option<String>,
    /// CONFIG `save` (first primary).
    pub(crate) save: Option<String>,
    /// INFO `aof_enabled` (first primary).
    pub(crate) aof_enabled: Option<bool>,
    /// INFO `rdb_last_save_time`, RFC 3339.
    pub(crate) rdb_last_save: Option<String>,
    pub(crate) rdb_last_bgsave_status: Option<String>,
    pub(crate) rdb_changes_since_last_save: Option<u64>,
}

/// Each write verb, and whether this system can do it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Capability {
    pub(crate) verb: &'static str,
    pub(crate) supported: bool,
    pub(crate) reason: Option<String>,
}

/// The queue system of a context.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SystemItem {
    pub(crate) kind: &'static str,
    pub(crate) schema: String,
    pub(crate) worker_patterns: String,
    pub(crate) queues: Vec<QueueLength>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct QueueLength {
    pub(crate) queue: String,
    pub(crate) key: String,
    pub(crate) role: QueueRole,
    pub(crate) length: u64,
}

/// The settings `compare` checks for drift, as CONFIG GET gives them on
/// the first primary (`maxmemory` per node); `null` when not permitted.
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct ServerSettings {
    pub(crate) maxmemory: Option<String>,
    pub(crate) maxmemory_policy: Option<String>,
    pub(crate) appendonly: Option<String>,
    pub(crate) save: Option<String>,
}

/// A `ClusterDescription` item.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterDescription {
    pub(crate) context: String,
    /// `healthy` when every check passes, else `degraded`.
    pub(crate) status: &'static str,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) endpoint: String,
    pub(crate) mode: Mode,
    pub(crate) latency_ms: f64,
    pub(crate) redis_version: Option<String>,
    pub(crate) uptime_s: Option<u64>,
    /// Summed over the primaries (`memory_scope` says).
    pub(crate) used_memory_bytes: Option<u64>,
    /// Summed over the primaries (0: a node without a limit).
    pub(crate) maxmemory_bytes: Option<u64>,
    /// `summed over N primaries` or `one server`.
    pub(crate) memory_scope: String,
    pub(crate) maxmemory_policy: Option<String>,
    pub(crate) persistence: Persistence,
    pub(crate) nodes: Vec<NodeItem>,
    pub(crate) settings: Option<ServerSettings>,
    pub(crate) system: SystemItem,
    pub(crate) capabilities: Vec<Capability>,
    /// Every SPEC 10.2 figure; `null` where the kind has none.
    pub(crate) figures: BTreeMap<&'static str, Option<u64>>,
    /// Why a figure is `null`.
    pub(crate) absent: BTreeMap<&'static str, &'static str>,
    pub(crate) checks: Vec<Check>,
}

/// The figures, in the order `get clusters` and SPEC 10.2 name them.
const FIGURES: &[&str] = &[
    "queued",
    "scheduled",
    "retrying",
    "processing",
    "dead_letter",
    "completed",
    "processed_total",
    "failed_total",
    "workers",
    "orphaned_workers",
    "orphaned_jobs",
    "paused_queues",
];

/// The write verbs, as a user types them, and what each asks a system.
const VERBS: &[(&str, Verb)] = &[
    ("purge-dlq", Verb::PurgeDlq),
    ("restore-dlq", Verb::RestoreDlq),
    ("requeue --from dead", Verb::Requeue { from: "dead" }),
    ("requeue --from retry", Verb::Requeue { from: "retry" }),
    (
        "requeue --from scheduled",
        Verb::Requeue { from: "scheduled" },
    ),
    ("requeue --orphaned", Verb::RequeueOrphaned),
    ("replicate", Verb::Replicate),
    ("pause QUEUE", Verb::Pause { all: false }),
    ("pause --all", Verb::Pause { all: true }),
    ("resume QUEUE", Verb::Resume { all: false }),
    ("resume --all", Verb::Resume { all: true }),
    ("quiet workers", Verb::Quiet),
    ("stop workers", Verb::Stop),
    ("bench", Verb::Bench),
];

pub(crate) fn capabilities(system: &System) -> Vec<Capability> {
    VERBS
        .iter()
        .map(|(verb, v)| {
            let reason = system.unsupported(*v);
            Capability {
                verb,
                supported: reason.is_none(),
                reason,
            }
        })
        .collect()
}

/// What one context answered.
pub(crate) struct ClusterOut {
    probe: Probe,
    nodes: Vec<NodeItem>,
    persistence: Persistence,
    capabilities: Vec<Capability>,
    notes: Vec<String>,
}

struct ClusterReader;

/// INFO of one primary: its node row and its persistence fields.
async fn node_info(conn: &Conn, node: &crate::connect::Node) -> Option<BTreeMap<String, String>> {
    let text = info_text(
        conn,
        node,
        &["server", "memory", "persistence", "replication", "clients"],
    )
    .await
    .ok()?;
    Some(parse_info(&text))
}

/// `<addr>` of a CLUSTER NODES address field (`ip:port@cport[,hostname]`).
fn node_address(field: &str) -> String {
    field.split(['@', ',']).next().unwrap_or(field).to_string()
}

/// Every node of CLUSTER NODES: (id, row).
fn parse_cluster_nodes(text: &str) -> Vec<(String, NodeItem, Option<String>)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 8 {
            continue;
        }
        let flags: Vec<&str> = parts[2].split(',').collect();
        let role = if flags.contains(&"master") {
            "primary"
        } else if flags.contains(&"slave") {
            "replica"
        } else {
            "unknown"
        };
        let slots: Vec<&str> = parts[8..]
            .iter()
            .filter(|s| !s.starts_with('['))
            .copied()
            .collect();
        let master = (parts[3] != "-").then(|| parts[3].to_string());
        out.push((
            parts[0].to_string(),
            NodeItem {
                address: node_address(parts[1]),
                role: role.into(),
                slots: (!slots.is_empty()).then(|| slots.join(",")),
                flags: flags
                    .iter()
                    .filter(|f| !matches!(**f, "master" | "slave" | "myself" | "noflags"))
                    .map(|f| f.to_string())
                    .collect(),
                ..NodeItem::default()
            },
            master,
        ));
    }
    out
}

impl Reader for ClusterReader {
    type Out = ClusterOut;
    async fn read(
        &self,
        conn: &Conn,
        t: &ReadTarget,
    ) -> std::result::Result<ClusterOut, ContextError> {
        let probe = ProbeReader {
            second_reading: true,
            config: true,
            sample: None,
        }
        .read(conn, t)
        .await?;
        let mut notes = Vec::new();
        let primaries = conn.nodes();
        let mut infos = Vec::with_capacity(primaries.len());
        for n in &primaries {
            infos.push(node_info(conn, n).await);
        }
        let num =
            |f: &BTreeMap<String, String>, k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
        let text = |f: &BTreeMap<String, String>, k: &str| {
            f.get(k).filter(|v| !v.contains('\u{FFFD}')).cloned()
        };
        let row_of = |address: String, f: Option<&BTreeMap<String, String>>| {
            let mut r = NodeItem {
                address,
                ..NodeItem::default()
            };
            if let Some(f) = f {
                r.role = match f.get("role").map(String::as_str) {
                    Some("slave") => "replica".into(),
                    _ => "primary".into(),
                };
                r.redis_version = text(f, "redis_version");
                r.used_memory_bytes = num(f, "used_memory");
                r.maxmemory_bytes = num(f, "maxmemory");
                r.uptime_s = num(f, "uptime_in_seconds");
                r.connected_clients = num(f, "connected_clients");
            } else {
                r.role = "primary".into();
            }
            r
        };
        let mut nodes: Vec<NodeItem> = Vec::new();
        if conn.is_cluster() {
            let mut c = redis::cmd("CLUSTER");
            c.arg("NODES");
            match conn.query::<String>(&c).await {
                Ok(text) => {
                    let all = parse_cluster_nodes(&text);
                    let addr_of: BTreeMap<&str, &str> = all
                        .iter()
                        .map(|(id, n, _)| (id.as_str(), n.address.as_str()))
                        .collect();
                    for (_, n, master) in &all {
                        let info = primaries
                            .iter()
                            .position(|p| format!("{}:{}", p.host, p.port) == n.address)
                            .and_then(|i| infos[i].as_ref());
                        let mut row = row_of(n.address.clone(), info);
                        row.role = n.role.clone();
                        row.slots = n.slots.clone();
                        row.flags = n.flags.clone();
                        row.replica_of = master
                            .as_deref()
                            .map(|m| addr_of.get(m).map_or(m.to_string(), |a| a.to_string()));
                        nodes.push(row);
                    }
                }
                Err(e) => {
                    notes.push(format!(
                        "{}: CLUSTER NODES failed ({e}): only the primaries qctl reads are listed",
                        t.context()
                    ));
                    for (p, info) in primaries.iter().zip(&infos) {
                        nodes.push(row_of(format!("{}:{}", p.host, p.port), info.as_ref()));
                    }
                }
            }
            nodes.sort_by(|a, b| a.address.cmp(&b.address));
        } else {
            nodes.push(row_of(t.ep.display_url(), infos[0].as_ref()));
        }
        let first = infos.first().and_then(|i| i.as_ref());
        let sc = probe.server_config.clone().unwrap_or_default();
        let persistence = Persistence {
            appendonly: sc.appendonly.clone(),
            save: sc.save.clone(),
            aof_enabled: first.and_then(|f| num(f, "aof_enabled")).map(|n| n == 1),
            rdb_last_save: first
                .and_then(|f| num(f, "rdb_last_save_time"))
                .and_then(|s| jiff::Timestamp::from_second(s as i64).ok())
                .map(|t| t.to_string()),
            rdb_last_bgsave_status: first.and_then(|f| text(f, "rdb_last_bgsave_status")),
            rdb_changes_since_last_save: first.and_then(|f| num(f, "rdb_changes_since_last_save")),
        };
        Ok(ClusterOut {
            capabilities: capabilities(&t.system),
            probe,
            nodes,
            persistence,
            notes,
        })
    }
}

fn item(out: &ClusterOut, config: &Config) -> ClusterDescription {
    let p = &out.probe;
    let mut cs = vec![Check {
        name: "reachable",
        ok: true,
        message: "answered".into(),
    }];
    cs.extend(checks(p, &config.preferences.health));
    let primaries = out.nodes.iter().filter(|n| n.role == "primary").count();
    ClusterDescription {
        context: p.context.clone(),
        status: if cs.iter().all(|c| c.ok) {
            "healthy"
        } else {
            "degraded"
        },
        labels: p.labels.clone(),
        endpoint: p.endpoint.clone(),
        mode: p.mode,
        latency_ms: (p.latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
        redis_version: p.info.redis_version.clone(),
        uptime_s: p.info.uptime_s,
        used_memory_bytes: p.info.used_memory,
        maxmemory_bytes: p.info.maxmemory,
        memory_scope: match p.mode {
            Mode::Cluster => format!("summed over {primaries} primaries"),
            Mode::Standalone => "one server".into(),
        },
        maxmemory_policy: p.info.maxmemory_policy.clone(),
        persistence: out.persistence.clone(),
        nodes: out.nodes.clone(),
        settings: p.server_config.as_ref().map(|c| ServerSettings {
            maxmemory: c.maxmemory.clone(),
            maxmemory_policy: c.maxmemory_policy.clone(),
            appendonly: c.appendonly.clone(),
            save: c.save.clone(),
        }),
        system: SystemItem {
            kind: p.system,
            schema: p.schema.clone(),
            worker_patterns: p.worker_patterns.clone(),
            queues: p
                .figures
                .queues
                .iter()
                .map(|(q, n)| QueueLength {
                    queue: q.name.clone(),
                    key: q.key.clone(),
                    role: q.role,
                    length: *n,
                })
                .collect(),
        },
        capabilities: out.capabilities.clone(),
        figures: FIGURES.iter().map(|f| (*f, p.figures.get(f))).collect(),
        absent: p.figures.absent.iter().copied().collect(),
        checks: cs,
    }
}

fn memory(used: Option<u64>, max: Option<u64>) -> String {
    let max = match max {
        Some(0) => "no maxmemory".to_string(),
        Some(m) => format!("maxmemory {}", bytes(Some(m))),
        None => format!("maxmemory {NONE}"),
    };
    format!("{} used, {max}", bytes(used))
}

fn block(d: &ClusterDescription) -> Block {
    let mut b = Block::new();
    b.field("Context", &d.context)
        .field("Labels", labels_text(&d.labels).replace("<none>", ""))
        .field("Endpoint", &d.endpoint)
        .field("Status", d.status)
        .field("Latency", format!("{:.1}ms", d.latency_ms));
    b.section("Server", |s| {
        s.opt("Version", d.redis_version.clone())
            .field(
                "Mode",
                match d.mode {
                    Mode::Cluster => "cluster",
                    Mode::Standalone => "standalone",
                },
            )
            .field(
                "Uptime",
                if d.uptime_s.is_some() {
                    age(d.uptime_s)
                } else {
                    String::new()
                },
            )
            .field(
                "Memory",
                format!(
                    "{} ({})",
                    memory(d.used_memory_bytes, d.maxmemory_bytes),
                    d.memory_scope
                ),
            )
            .opt("Maxmemory Policy", d.maxmemory_policy.clone());
        s.section("Persistence", |ps| {
            let p = &d.persistence;
            ps.opt("Appendonly", p.appendonly.clone())
                .opt(
                    "Save",
                    p.save.clone().map(|s| {
                        if s.is_empty() {
                            "\"\" (no snapshots)".into()
                        } else {
                            s
                        }
                    }),
                )
                .opt(
                    "AOF Enabled",
                    p.aof_enabled.map(|a| if a { "yes" } else { "no" }),
                )
                .opt("Last RDB Save", p.rdb_last_save.clone())
                .opt("Last Bgsave", p.rdb_last_bgsave_status.clone())
                .opt(
                    "Changes Since Save",
                    p.rdb_changes_since_last_save.map(|n| n.to_string()),
                );
        });
    });
    b.section("Nodes", |s| {
        s.table(
            &[
                "ADDRESS",
                "ROLE",
                "SLOTS",
                "VERSION",
                "MEMORY",
                "MAXMEMORY",
                "UPTIME",
                "CLIENTS",
            ],
            d.nodes
                .iter()
                .map(|n| {
                    let role = match (&n.replica_of, n.flags.is_empty()) {
                        (Some(p), _) => format!("replica of {p}"),
                        (None, true) => n.role.clone(),
                        (None, false) => format!("{} ({})", n.role, n.flags.join(",")),
                    };
                    vec![
                        n.address.clone(),
                        role,
                        n.slots.clone().unwrap_or_default(),
                        n.redis_version.clone().unwrap_or_default(),
                        n.used_memory_bytes
                            .map(|m| bytes(Some(m)))
                            .unwrap_or_default(),
                        match n.maxmemory_bytes {
                            Some(0) => "unlimited".into(),
                            m => m.map(|m| bytes(Some(m))).unwrap_or_default(),
                        },
                        n.uptime_s.map(|u| age(Some(u))).unwrap_or_default(),
                        n.connected_clients
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    });
    b.section(
        "Settings (compare checks; CONFIG GET on the first primary, maxmemory per node)",
        |s| {
            if let Some(c) = &d.settings {
                // Sizes as the tables print them (`256.0MiB`), the bytes beside.
                let max = c.maxmemory.clone().map(|v| match v.parse::<u64>() {
                    Ok(0) => "0 (unlimited)".to_string(),
                    Ok(n) => format!("{} ({n} bytes, per node)", bytes(Some(n))),
                    Err(_) => v,
                });
                s.opt("maxmemory", max)
                    .opt("maxmemory-policy", c.maxmemory_policy.clone())
                    .opt("appendonly", c.appendonly.clone())
                    .opt(
                        "save",
                        c.save
                            .clone()
                            .map(|v| if v.is_empty() { "\"\"".into() } else { v }),
                    );
            }
        },
    );
    b.section("Queue System", |s| {
        s.field("Kind", d.system.kind)
            .field("Schema", &d.system.schema)
            .field("Workers", &d.system.worker_patterns);
        s.section("Queues", |q| {
            q.table(
                &["QUEUE", "KEY", "ROLE", "LENGTH"],
                d.system
                    .queues
                    .iter()
                    .map(|x| {
                        vec![
                            x.queue.clone(),
                            x.key.clone(),
                            x.role.as_str().into(),
                            x.length.to_string(),
                        ]
                    })
                    .collect(),
            );
        });
    });
    b.section("Capabilities", |s| {
        s.table(
            &["VERB", "SUPPORTED", "WHY NOT"],
            d.capabilities
                .iter()
                .map(|c| {
                    vec![
                        c.verb.to_string(),
                        if c.supported { "yes" } else { "no" }.into(),
                        c.reason.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    });
    b.section("Figures", |s| {
        for f in FIGURES {
            let v = match d.figures.get(f).copied().flatten() {
                Some(n) => n.to_string(),
                None => match d.absent.get(f) {
                    Some(why) => format!("{NONE} ({why})"),
                    None => NONE.to_string(),
                },
            };
            s.field(f, v);
        }
    });
    b.section("Health", |s| {
        s.table(
            &["CHECK", "RESULT", "DETAIL"],
            d.checks
                .iter()
                .map(|c| {
                    vec![
                        c.name.to_string(),
                        if c.ok { "pass" } else { "fail" }.into(),
                        c.message.clone(),
                    ]
                })
                .collect(),
        );
    });
    b
}

pub(crate) fn run(
    config: &Config,
    settings: &Settings,
    args: &DescribeClusterArgs,
) -> Result<ExitCode> {
    let names = if args.contexts.is_empty() {
        selection(config, settings)?
    } else {
        if !settings.select.contexts.is_empty() || settings.select.all {
            return Err(CliError::usage(
                "name the contexts to describe either as arguments or with --context/-A, not both",
            )
            .with_hint("for example: qctl describe cluster prod-us-east"));
        }
        let mut sel = settings.select.clone();
        sel.contexts = args.contexts.clone();
        crate::select::select(config, &sel)?
            .names()
            .into_iter()
            .map(String::from)
            .collect()
    };
    // The second reading of orphans (as `health` does) may add a pause.
    let results = read(
        config,
        settings,
        &names,
        ClusterReader,
        Duration::from_millis(250),
    );
    let results = results
        .into_iter()
        .map(|r| {
            r.map(|out| {
                let d = item(&out, config);
                let mut notes = out.probe.notes.clone();
                notes.extend(out.notes.iter().cloned());
                let b = block(&d);
                let name = d.context.clone();
                Described {
                    context: d.context.clone(),
                    items: vec![(d, b, name)],
                    notes,
                    known: Vec::new(),
                }
            })
        })
        .collect();
    finish(settings, "ClusterDescription", results, |_, _| {
        CliError::failure("no context answered")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_parse() {
        let text = "07c3 127.0.0.1:30004@31004,host-a slave e7d1 0 1426238317239 4 connected\n\
                    e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-e7d1]\n\
                    67ed 127.0.0.1:30002@31002 master,fail - 1426238316232 1426238315228 2 disconnected 5461-10922 11000\n\
                    garbage\n";
        let nodes = parse_cluster_nodes(text);
        assert_eq!(nodes.len(), 3);
        let (id, replica, master) = &nodes[0];
        assert_eq!(id, "07c3");
        assert_eq!(replica.address, "127.0.0.1:30004");
        assert_eq!(replica.role, "replica");
        assert_eq!(master.as_deref(), Some("e7d1"));
        assert!(replica.slots.is_none());
        let (_, me, master) = &nodes[1];
        assert_eq!(
            (me.role.as_str(), me.slots.as_deref()),
            ("primary", Some("0-5460"))
        );
        assert!(master.is_none() && me.flags.is_empty());
        let (_, failed, _) = &nodes[2];
        assert_eq!(failed.flags, vec!["fail"]);
        assert_eq!(failed.slots.as_deref(), Some("5461-10922,11000"));
    }

    #[test]
    fn every_write_verb_is_in_the_capability_table() {
        let sys = System::for_schema(&crate::systems::SystemSchema::default());
        let caps = capabilities(&sys);
        assert_eq!(caps.len(), VERBS.len());
        assert!(caps.iter().any(|c| c.verb == "purge-dlq" && c.supported));
        assert!(
            caps.iter()
                .any(|c| c.verb == "quiet workers" && !c.supported && c.reason.is_some())
        );
    }
}
