//! BullMQ workers, as CLIENT LIST shows them: a Worker writes no key about
//! itself; its blocking connection is named `<p>:<base64(queue)>`, or
//! `<p>:<base64(queue)>:w:<name>` for a named worker (QueueEvents
//! connections end in `:qe` and are no workers). On a cluster the blocking
//! client keeps a named connection on every node it talked to; as BullMQ's
//! own `Queue#getWorkers` does, each queue's workers are those of the node
//! where it has the most.

use super::BullMq;
use super::read::Names;
use crate::connect::Conn;
use crate::systems::{ProcessInfo, Worker, WorkerState};
use base64::Engine as _;
use redis::RedisResult;
use std::collections::BTreeMap;

/// One line of CLIENT LIST.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Client {
    /// Which primary listed it (index into `Conn::nodes`).
    pub(crate) node: usize,
    pub(crate) addr: String,
    pub(crate) name: String,
    pub(crate) age: Option<u64>,
    pub(crate) idle: Option<u64>,
}

/// The named connections of a CLIENT LIST reply.
pub(crate) fn parse_client_list(text: &str, node: usize) -> Vec<Client> {
    text.lines()
        .filter_map(|line| {
            let mut c = Client {
                node,
                ..Client::default()
            };
            for field in line.split(' ') {
                let Some((k, v)) = field.split_once('=') else {
                    continue;
                };
                match k {
                    "addr" => c.addr = v.to_string(),
                    "name" => c.name = v.to_string(),
                    "age" => c.age = v.parse().ok(),
                    "idle" => c.idle = v.parse().ok(),
                    _ => {}
                }
            }
            (!c.name.is_empty()).then_some(c)
        })
        .collect()
}

/// A worker connection and its worker name.
type Named<'c> = (&'c Client, Option<String>);

impl BullMq {
    /// `(queue, worker name)` of a worker connection's name; `None` for any
    /// other connection.
    pub(crate) fn worker_of(&self, client_name: &str) -> Option<(String, Option<String>)> {
        let rest = client_name
            .strip_prefix(self.schema.prefix.as_str())?
            .strip_prefix(':')?;
        let (b64, tail) = match rest.split_once(':') {
            Some((b, t)) => (b, Some(t)),
            None => (rest, None),
        };
        let wname = match tail {
            None => None,
            Some(t) => Some(t.strip_prefix("w:")?.to_string()),
        };
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        let queue = String::from_utf8(bytes).ok()?;
        if queue.is_empty() {
            return None;
        }
        Some((queue, wname))
    }

    /// CLIENT LIST of every primary (concurrently).
    pub(crate) async fn connections(&self, conn: &Conn) -> RedisResult<Vec<Client>> {
        let lists = conn
            .nodes()
            .into_iter()
            .enumerate()
            .map(|(i, node)| async move {
                let text: String = conn
                    .query_node(&node, redis::cmd("CLIENT").arg("LIST"))
                    .await?;
                RedisResult::Ok(parse_client_list(&text, i))
            });
        Ok(futures_util::future::try_join_all(lists)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// The worker connections among `clients`, for the schema's queues (or
    /// any queue, when it lists none), sorted by worker.
    pub(crate) fn workers_of(&self, clients: &[Client], _names: &Names) -> Vec<Worker> {
        // queue -> node -> its connections there.
        let mut by_queue: BTreeMap<String, BTreeMap<usize, Vec<Named<'_>>>> = BTreeMap::new();
        for c in clients {
            let Some((queue, wname)) = self.worker_of(&c.name) else {
                continue;
            };
            if let Some(list) = &self.schema.queues
                && !list.contains(&queue)
            {
                continue;
            }
            by_queue
                .entry(queue)
                .or_default()
                .entry(c.node)
                .or_default()
                .push((c, wname));
        }
        let mut out: Vec<Worker> = Vec::new();
        for (queue, nodes) in by_queue {
            // The node with the most (the first such, in node order).
            let Some(best) = nodes
                .into_values()
                .reduce(|a, b| if b.len() > a.len() { b } else { a })
            else {
                continue;
            };
            for (c, wname) in best {
                let label = match &wname {
                    Some(n) => format!("{queue}:w:{n}"),
                    None => queue.clone(),
                };
                let host = c
                    .addr
                    .rsplit_once(':')
                    .map(|(h, _)| h.to_string())
                    .filter(|h| !h.is_empty());
                out.push(Worker {
                    worker: format!("{label}@{}", c.addr),
                    state: WorkerState::Active,
                    // BullMQ's locks hold a token, not the worker: which
                    // jobs a connection runs is not in Redis.
                    in_flight: 0,
                    heartbeat_ttl_ms: None,
                    job_id: None,
                    process: Some(Box::new(ProcessInfo {
                        hostname: host,
                        tag: wname,
                        queues: vec![queue.clone()],
                        beat_age_s: c.idle.map(|i| i as f64),
                        addr: Some(c.addr.clone()),
                        connection: Some(c.name.clone()),
                        connected_s: c.age,
                        idle_s: c.idle,
                        ..ProcessInfo::default()
                    })),
                });
            }
        }
        out.sort_by(|a, b| a.worker.cmp(&b.worker));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::bullmq::Schema;

    #[test]
    fn worker_connections_are_named_after_their_queue() {
        let b = BullMq::new(Schema::default());
        assert_eq!(b.worker_of("bull:cTE="), Some(("q1".into(), None)));
        assert_eq!(
            b.worker_of("bull:cTE=:w:w1"),
            Some(("q1".into(), Some("w1".into())))
        );
        assert_eq!(b.worker_of("bull:cTE=:qe"), None);
        assert_eq!(b.worker_of("bull:!!!"), None);
        assert_eq!(b.worker_of("other:cTE="), None);
        assert_eq!(b.worker_of("bullx:cTE="), None);
        let t = BullMq::new(Schema {
            prefix: "{bull}".into(),
            queues: None,
        });
        assert_eq!(t.worker_of("{bull}:Y3E=:w:w1").unwrap().0, "cq");
    }

    #[test]
    fn client_list_lines_parse_and_each_queue_keeps_its_busiest_node() {
        let text = "id=3 addr=127.0.0.1:5000 laddr=127.0.0.1:6379 fd=8 name=bull:cTE= age=10 idle=2 flags=b db=0 cmd=bzpopmin user=default\n\
                    id=4 addr=127.0.0.1:5001 laddr=127.0.0.1:6379 fd=9 name= age=10 idle=0 flags=N cmd=evalsha\n\
                    id=5 addr=[::1]:5002 fd=9 name=bull:cTE=:qe age=1 idle=1 cmd=xread\n";
        let a = parse_client_list(text, 0);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].addr, "127.0.0.1:5000");
        assert_eq!((a[0].age, a[0].idle), (Some(10), Some(2)));
        let b = BullMq::new(Schema::default());
        let mut all = a.clone();
        all.extend(parse_client_list(
            "id=1 addr=10.0.0.1:1 name=bull:cTE= age=1 idle=1\nid=2 addr=10.0.0.2:2 name=bull:cTE= age=1 idle=1\n",
            1,
        ));
        let w = b.workers_of(&all, &Names::default());
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w.iter().all(|w| w.worker.starts_with("q1@10.0.0.")));
        let p = w[0].process.as_ref().unwrap();
        assert_eq!(p.queues, vec!["q1".to_string()]);
        assert_eq!(p.hostname.as_deref(), Some("10.0.0.1"));
    }
}
