//! The RQ fixture itself (common::rq): a real `rq worker` (RQ 3) works jobs
//! enqueued through RQ's own API, api.py reports what RQ's API sees, and
//! that report only reads.

use std::fs::File;
use std::process::Stdio;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::rq::{self, RqOptions, RqWorker};
use crate::common::{RedisServer, wait_for};

const WAIT: Duration = Duration::from_secs(15);

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Commands `api.py report` may send: reads only.
const READ_COMMANDS: &[&str] = &[
    "HELLO",
    "MULTI",
    "EXEC",
    "INFO",
    "EXISTS",
    "SMEMBERS",
    "SCARD",
    "LLEN",
    "LRANGE",
    "ZRANGE",
    "ZCARD",
    "ZSCORE",
    "HGET",
    "HGETALL",
    "XREVRANGE",
];

/// Runs `api.py report` under `redis-cli monitor` and returns the commands
/// the report's connection sent (every other client is idle by then).
fn monitored_report(server: &RedisServer) -> (Value, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("monitor.log");
    let mut monitor = server
        .cli_command()
        .arg("monitor")
        .stdout(File::create(&path).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redis-cli monitor");
    assert!(
        wait_for(Duration::from_secs(5), || std::fs::read_to_string(&path)
            .is_ok_and(|s| s.starts_with("OK"))),
        "redis-cli monitor did not start"
    );
    let report = rq::report(server);
    thread::sleep(Duration::from_millis(200));
    let _ = monitor.kill();
    let _ = monitor.wait();
    let log = std::fs::read_to_string(&path).unwrap();
    let commands = log
        .lines()
        .skip(1)
        .filter_map(|l| {
            // 1796178433.336122 [0 127.0.0.1:35826] "SMEMBERS" "rq:queues"
            let cmd = l.split("] \"").nth(1)?;
            Some(cmd.split('"').next()?.to_ascii_uppercase())
        })
        .collect();
    (report, commands)
}

#[test]
fn rq_worker_works_jobs_and_api_reports_them() {
    if !rq::available("rq_worker_works_jobs_and_api_reports_them") {
        return;
    }
    let server = RedisServer::start();
    let ok = rq::ids(&rq::api(&server, &["enqueue", "default", "ok", "20"]));
    let fail = rq::ids(&rq::api(
        &server,
        &["enqueue", "default", "fail", "5", "[\"x\"]"],
    ));
    let later = rq::ids(&rq::api(
        &server,
        &["enqueue_in", "default", "3600", "ok", "3"],
    ));
    assert_eq!((ok.len(), fail.len(), later.len()), (20, 5, 3));
    let r = rq::report(&server);
    let q = rq::queue(&r, "default");
    assert_eq!(u(&q["count"]), 25, "{r:#}");
    // RPUSH at enqueue, the worker pops the head: job_ids[0] runs first.
    assert_eq!(rq::ids(&q["job_ids"])[0], ok[0]);

    let mut w = RqWorker::start(&server, RqOptions::default());
    let r = rq::wait_for_report(&server, WAIT, |r| {
        let q = rq::queue(r, "default");
        q["finished"]["count"] == 20 && q["failed"]["count"] == 5
    });
    let q = rq::queue(&r, "default");
    assert_eq!(u(&q["count"]), 0, "{r:#}");
    assert_eq!(u(&q["scheduled"]["count"]), 3, "{r:#}");
    assert_eq!(u(&q["started"]["count"]), 0, "{r:#}");
    assert_eq!(
        sorted(rq::ids(&q["finished"]["job_ids"])),
        sorted(ok.clone())
    );
    assert_eq!(
        sorted(rq::ids(&q["failed"]["job_ids"])),
        sorted(fail.clone())
    );
    assert_eq!(
        sorted(rq::ids(&q["scheduled"]["job_ids"])),
        sorted(later.clone())
    );
    // rq:failed:<q> is scored by expiry (now + failure_ttl, 1 year), and
    // rq:scheduled:<q> by run-at.
    let failed_score = q["failed"]["scores"][&fail[0]].as_f64().unwrap();
    assert!(failed_score > now() + 31_536_000.0 - 60.0, "{failed_score}");
    let run_at = q["scheduled"]["scores"][&later[0]].as_f64().unwrap();
    assert!((run_at - (now() + 3600.0)).abs() < 60.0, "{run_at}");

    let workers = r["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1, "{r:#}");
    assert_eq!(workers[0]["name"], w.name());
    assert_eq!(u(&workers[0]["pid"]), u64::from(w.pid()));
    assert_eq!(workers[0]["queues"], serde_json::json!(["default"]));
    assert_eq!(workers[0]["successful_job_count"], 20);
    assert_eq!(workers[0]["failed_job_count"], 5);
    assert_eq!(r["suspended"], false);

    // The error, through RQ's API and raw.
    let job = &rq::api(&server, &["job", &fail[0]])["jobs"][0];
    assert_eq!(job["status"], "failed");
    assert_eq!(job["func_name"], "jobs.fail");
    assert_eq!(job["result"]["type"], "FAILED");
    let exc = job["result"]["exc_string"].as_str().unwrap();
    assert!(
        exc.contains("QctlFixtureError: qctl fixture failure: fail ['x']"),
        "{exc}"
    );
    assert_eq!(server.cli(&["TYPE", "rq:queues"]), "set");
    assert_eq!(server.cli(&["SMEMBERS", "rq:queues"]), "rq:queue:default");
    assert_eq!(
        server.cli(&["TYPE", &format!("rq:job:{}", fail[0])]),
        "hash"
    );
    assert_eq!(
        server.cli(&["HGET", &format!("rq:job:{}", fail[0]), "status"]),
        "failed"
    );
    assert_eq!(
        server.cli(&["TYPE", &format!("rq:results:{}", fail[0])]),
        "stream"
    );
    assert_eq!(server.cli(&["TYPE", "rq:failed:default"]), "zset");
    assert_eq!(server.cli(&["TYPE", &w.key()]), "hash");
    assert_eq!(server.cli(&["SMEMBERS", "rq:workers"]), w.key());

    // record: each job's id in qctl:done, once.
    let rec = rq::ids(&rq::api(&server, &["enqueue", "default", "record", "3"]));
    let mut conn = server.conn();
    assert!(wait_for(WAIT, || {
        redis::cmd("LLEN")
            .arg("qctl:done")
            .query::<usize>(&mut conn)
            .unwrap_or(0)
            == 3
    }));
    let done: Vec<String> = redis::cmd("LRANGE")
        .arg("qctl:done")
        .arg(0)
        .arg(-1)
        .query(&mut conn)
        .unwrap();
    assert_eq!(done, rec);

    // A slow job keeps the worker busy: one rq:wip entry <job>:<execution>.
    let slow = rq::ids(&rq::api(
        &server,
        &["enqueue", "default", "slow", "1", "[30]"],
    ));
    let r = rq::wait_for_report(&server, WAIT, |r| {
        rq::queue(r, "default")["started"]["count"] == 1 && r["workers"][0]["state"] == "busy"
    });
    let started = &rq::queue(&r, "default")["started"];
    assert_eq!(rq::ids(&started["job_ids"]), slow);
    let exec = &started["executions"][0];
    assert_eq!(exec["job_id"], slow[0].as_str());
    // Score: heartbeat expiry, now + min(timeout 180, monitoring 30) + 60.
    let wip_score = exec["score"].as_f64().unwrap();
    assert!((wip_score - (now() + 90.0)).abs() < 10.0, "{wip_score}");
    assert_eq!(r["workers"][0]["current_job_id"], slow[0].as_str());
    let member = format!("{}:{}", slow[0], exec["execution_id"].as_str().unwrap());
    assert_eq!(server.cli(&["ZRANGE", "rq:wip:default", "0", "-1"]), member);
    assert_eq!(server.cli(&["SMEMBERS", &w.executions_key()]), member);

    // Suspension: one global STRING.
    rq::api(&server, &["suspend"]);
    assert_eq!(server.cli(&["TYPE", "rq:suspended"]), "string");
    assert_eq!(rq::report(&server)["suspended"], true);
    rq::api(&server, &["resume"]);
    assert_eq!(rq::report(&server)["suspended"], false);

    // A crash: SIGKILL leaves the worker registered and the job started.
    w.kill();
    assert!(!w.is_running());
    let (r, commands) = monitored_report(&server);
    let q = rq::queue(&r, "default");
    assert_eq!(rq::ids(&q["started"]["job_ids"]), slow, "{r:#}");
    assert_eq!(r["workers"][0]["state"], "busy", "{r:#}");
    let writes: Vec<&String> = commands
        .iter()
        .filter(|c| !READ_COMMANDS.contains(&c.as_str()))
        .collect();
    assert!(
        writes.is_empty(),
        "api.py report sent {writes:?}; all: {commands:?}"
    );
    assert!(commands.iter().any(|c| c == "SMEMBERS"), "{commands:?}");
    assert_eq!(
        rq::api(&server, &["job", &slow[0]])["jobs"][0]["status"],
        "started"
    );
}

#[test]
fn rq_burst_worker_runs_due_scheduled_jobs_and_exits() {
    if !rq::available("rq_burst_worker_runs_due_scheduled_jobs_and_exits") {
        return;
    }
    let server = RedisServer::start();
    let now_ids = rq::ids(&rq::api(&server, &["enqueue", "high", "record", "2"]));
    let due = rq::ids(&rq::api(
        &server,
        &["enqueue_in", "low", "1", "record", "1"],
    ));
    thread::sleep(Duration::from_millis(1100));
    let opts = RqOptions {
        burst: true,
        ..RqOptions::with_queues(&["high", "low"])
    };
    let mut w = RqWorker::start(&server, opts);
    let status = w.wait_exit(WAIT).expect("burst worker exits");
    assert!(status.success(), "{status}\n{}", w.logs());
    let mut done: Vec<String> = server
        .cli(&["LRANGE", "qctl:done", "0", "-1"])
        .lines()
        .map(String::from)
        .collect();
    done.sort();
    let mut expected = [now_ids, due].concat();
    expected.sort();
    assert_eq!(done, expected);
    let r = rq::report(&server);
    assert_eq!(r["workers"], serde_json::json!([]), "{r:#}");
    assert_eq!(u(&rq::queue(&r, "low")["scheduled"]["count"]), 0, "{r:#}");
    // The worker unregistered; its hash stays 60 s with `death`.
    let ttl: i64 = server.cli(&["TTL", &w.key()]).parse().unwrap();
    assert!((1..=60).contains(&ttl), "{ttl}");
    assert!(!server.cli(&["HGET", &w.key(), "death"]).is_empty());
    // Default RQ_KEY_PREFIX: every key RQ wrote starts with `rq:`.
    let keys = server.cli(&["KEYS", "*"]);
    for k in keys.lines() {
        assert!(
            k.starts_with("rq:") || k == "qctl:done",
            "unexpected key {k}"
        );
    }
}
