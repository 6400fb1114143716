//! `get jobs QUEUE --state STATE` on each system, checked with the
//! framework's own API: a queue's dead (failed) jobs on Sidekiq (one dead
//! set for every queue: only that queue's), BullMQ (`Q:failed`) and RQ
//! (`failed:Q`); an unknown state is a usage error, a state a system does
//! not keep a clear per-context error.

use serde_json::Value;

use crate::common::bullmq::{self, BullWorker, BullWorkerOptions, PREFIX};
use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::sidekiq;
use crate::common::*;

fn one(ws: &Workspace, s: &RedisServer, kind: &str) -> std::path::PathBuf {
    ws.write(
        &format!("{kind}.yaml"),
        &format!(
            "apiVersion: qctl/v1\nclusters:\n  - {{ name: x, server: \"{}\" }}\ncurrent-context: x\ncontexts:\n  - {{ name: x, cluster: x, schema: s }}\nqueue-schemas:\n  - name: s\n    kind: {kind}\n",
            s.url()
        ),
    )
}

fn ids(doc: &Value) -> Vec<String> {
    let mut v: Vec<String> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap_or_default().to_string())
        .collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn state_picks_the_queues_jobs_in_that_state_on_every_system() {
    let ws = Workspace::new();
    if sidekiq::available("state_picks_the_queues_jobs_in_that_state_on_every_system") {
        let s = RedisServer::start();
        let cfg = one(&ws, &s, "sidekiq");
        let mail = sidekiq::jids(&sidekiq::api(&s, None, &["dead", "FailJob", "3", "mail"]));
        sidekiq::api(&s, None, &["dead", "FailJob", "4", "default"]);
        let (code, doc, err) = run_json(
            &ws,
            &cfg,
            &[
                "get", "jobs", "mail", "--state", "dead", "-n", "100", "-o", "json",
            ],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(ids(&doc), sorted(mail), "only mail's dead jobs: {doc}");
        assert!(
            doc["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["state"] == "dead"),
            "{doc}"
        );
    }
    if bullmq::available("state_picks_the_queues_jobs_in_that_state_on_every_system") {
        let s = RedisServer::start();
        let cfg = one(&ws, &s, "bullmq");
        let failed = bullmq::ids(&bullmq::api(
            &s,
            PREFIX,
            &["add", "mail", "fail", "3", r#"{"attempts":1}"#],
        ));
        let mut w = BullWorker::start(&s, BullWorkerOptions::queue("mail"));
        bullmq::wait_for_report(
            &s,
            PREFIX,
            &["mail"],
            std::time::Duration::from_secs(30),
            |r| r["queues"][0]["counts"]["failed"] == 3,
        );
        w.stop();
        for word in ["failed", "dead"] {
            let (code, doc, err) = run_json(
                &ws,
                &cfg,
                &["get", "jobs", "mail", "--state", word, "-o", "json"],
            );
            assert_eq!(code, 0, "{err}");
            assert_eq!(ids(&doc), sorted(failed.clone()), "{word}: {doc}");
        }
        let (code, _, err) = run_raw(&ws, &cfg, &["get", "jobs", "mail", "--state", "retry"]);
        assert_ne!(code, 0);
        assert!(err.contains("bullmq keeps no retry jobs for mail"), "{err}");
    }
    if rq::available("state_picks_the_queues_jobs_in_that_state_on_every_system") {
        let s = RedisServer::start();
        let cfg = one(&ws, &s, "rq");
        let failed = rq::ids(&rq::api(&s, &["enqueue", "mail", "fail", "2"]));
        let low = rq::ids(&rq::api(&s, &["enqueue", "low", "fail", "1"]));
        let mut w = RqWorker::start(
            &s,
            RqOptions {
                burst: true,
                with_scheduler: false,
                ..RqOptions::with_queues(&["mail", "low"])
            },
        );
        assert!(w.wait_exit(std::time::Duration::from_secs(60)).is_some());
        let (code, doc, err) = run_json(
            &ws,
            &cfg,
            &["get", "jobs", "mail", "--state", "failed", "-o", "json"],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(ids(&doc), sorted(failed.clone()), "{doc}");
        // No QUEUE: every queue's failed jobs.
        let (code, doc, err) =
            run_json(&ws, &cfg, &["get", "jobs", "--state", "dead", "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        let mut all = failed;
        all.extend(low);
        assert_eq!(ids(&doc), sorted(all), "{doc}");
    }
    let s = RedisServer::start();
    let cfg = one(&ws, &s, "go-redis-work-queue");
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "jobs", "high", "--state", "sleeping"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a state"), "{err}");
    let (code, _, err) = run_raw(&ws, &cfg, &["get", "jobs"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--state"), "{err}");
}
