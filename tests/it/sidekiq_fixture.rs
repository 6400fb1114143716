//! The Sidekiq fixture itself (common::sidekiq): a real `sidekiq` process works
//! jobs enqueued through Sidekiq's own client, and api.rb reports what
//! Sidekiq's API sees; with and without a redis-namespace.

use std::time::Duration;

use serde_json::Value;

use crate::common::RedisServer;
use crate::common::sidekiq::{self, Sidekiq, SidekiqOptions, key_prefix};

/// Sidekiq writes stats, `busy` and `:workers` only at its 5 s heartbeat.
const HEARTBEAT_WAIT: Duration = Duration::from_secs(15);

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Enqueues 20 OkJob, 5 FailJob (retry 0) and one SlowJob, waits until
/// Sidekiq's API reports them worked, and checks the keys it wrote.
fn works_jobs_and_reports(namespace: Option<&str>) {
    let server = RedisServer::start();
    let opts = SidekiqOptions {
        concurrency: 3,
        tag: Some("qctl-it".into()),
        namespace: namespace.map(String::from),
        ..Default::default()
    };
    let sk = Sidekiq::start(&server, opts);
    let prefix = key_prefix(namespace);

    let slow = sidekiq::jids(&sidekiq::api(
        &server,
        namespace,
        &["enqueue", "SlowJob", "1", "default", "[8]"],
    ));
    let ok = sidekiq::jids(&sidekiq::api(
        &server,
        namespace,
        &["enqueue", "OkJob", "20"],
    ));
    let fail = sidekiq::jids(&sidekiq::api(
        &server,
        namespace,
        &["enqueue", "FailJob", "5", "mail"],
    ));
    assert_eq!((slow.len(), ok.len(), fail.len()), (1, 20, 5));

    let r = sidekiq::wait_for_report(&server, namespace, HEARTBEAT_WAIT, |r| {
        r["stats"]["processed"].as_u64() >= Some(25)
            && r["stats"]["dead_size"] == 5
            && r["workers"].as_array().is_some_and(|w| w.len() == 1)
    });
    let stats = &r["stats"];
    // `processed` counts failed jobs too.
    assert_eq!(u(&stats["failed"]), 5, "{r:#}");
    assert_eq!(u(&stats["retry_size"]), 0, "{r:#}");
    assert_eq!(u(&stats["enqueued"]), 0, "{r:#}");
    assert_eq!(u(&stats["processes_size"]), 1, "{r:#}");
    assert_eq!(u(&stats["workers_size"]), 1, "{r:#}");

    let mut dead: Vec<String> = r["dead"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["class"], "FailJob");
            assert_eq!(e["queue"], "mail");
            assert_eq!(e["retry_count"], 0);
            assert_eq!(e["error_class"], "QctlFixtureError");
            assert!(
                e["error_message"]
                    .as_str()
                    .unwrap()
                    .starts_with("qctl fixture failure: FailJob")
            );
            e["jid"].as_str().unwrap().to_string()
        })
        .collect();
    dead.sort();
    let mut fail_sorted = fail.clone();
    fail_sorted.sort();
    assert_eq!(dead, fail_sorted);

    let procs = r["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{r:#}");
    let p = &procs[0];
    assert_eq!(p["identity"], sk.identity());
    assert_eq!(u(&p["pid"]), u64::from(sk.pid()));
    assert_eq!(p["tag"], "qctl-it");
    assert_eq!(p["concurrency"], 3);
    assert_eq!(p["busy"], 1);
    assert_eq!(p["quiet"], false);

    let w = &r["workers"][0];
    assert_eq!(w["identity"], sk.identity());
    assert_eq!(w["jid"], slow[0].as_str());
    assert_eq!(w["class"], "SlowJob");
    assert_eq!(w["queue"], "default");
    assert!(w["tid"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(w["run_at"].is_u64(), "run_at is integer seconds: {w}");

    // The raw layout, through redis-cli.
    let key = |k: &str| format!("{prefix}{k}");
    assert_eq!(server.cli(&["TYPE", &key("queues")]), "set");
    assert_eq!(server.cli(&["TYPE", &key("processes")]), "set");
    assert_eq!(server.cli(&["TYPE", &key("dead")]), "zset");
    assert_eq!(server.cli(&["TYPE", &sk.process_key()]), "hash");
    assert_eq!(server.cli(&["TYPE", &sk.workers_key()]), "hash");
    assert_eq!(server.cli(&["SMEMBERS", &key("processes")]), sk.identity());
    let ttl: i64 = server.cli(&["TTL", &sk.process_key()]).parse().unwrap();
    assert!((1..=60).contains(&ttl), "process hash TTL {ttl}");
    let info: Value =
        serde_json::from_str(&server.cli(&["HGET", &sk.process_key(), "info"])).unwrap();
    assert_eq!(info["identity"], sk.identity());
    let work = server.cli(&["HVALS", &sk.workers_key()]);
    let work: Value = serde_json::from_str(&work).unwrap();
    let payload: Value = serde_json::from_str(
        work["payload"]
            .as_str()
            .expect("payload is a JSON string inside the JSON"),
    )
    .unwrap();
    assert_eq!(payload["jid"], slow[0].as_str());
    let processed: u64 = server
        .cli(&["GET", &key("stat:processed")])
        .parse()
        .unwrap();
    assert!(processed >= 25);

    let keys = server.cli(&["KEYS", "*"]);
    if let Some(ns) = namespace {
        for k in keys.lines() {
            assert!(
                k.starts_with(&format!("{ns}:")),
                "key {k:?} lacks the namespace prefix; keys:\n{keys}"
            );
        }
    } else {
        assert!(keys.lines().any(|k| k == "stat:processed"), "{keys}");
    }
    drop(sk);
}

#[test]
fn sidekiq_works_jobs_and_api_reports_them() {
    if !sidekiq::available("sidekiq_works_jobs_and_api_reports_them") {
        return;
    }
    works_jobs_and_reports(None);
}

#[test]
fn sidekiq_with_namespace_prefixes_every_key() {
    if !sidekiq::available("sidekiq_with_namespace_prefixes_every_key") {
        return;
    }
    works_jobs_and_reports(Some("qctl_ns"));
}
