//! RQ jobs: ids in a queue LIST or a registry ZSET, each job in its HASH
//! `rq:job:<id>`, its last result in the STREAM `rq:results:<id>`.
//!
//! * `data` is zlib(pickle of `(func_name, instance, args, kwargs)`)
//!   (`JSONSerializer`: zlib(JSON)); RQ falls back to the raw bytes when
//!   they are not zlib. A pickle is **never unpickled** (that would run
//!   code): `payload: null`, `payload_encoding: "pickle"`; JSON is shown.
//! * The error: RQ 3 reads the latest result (`XREVRANGE … COUNT 1`), whose
//!   `exc_string` is base64(zlib(traceback)); older jobs and requeued ones
//!   may have `exc_info`, zlib(traceback) (RQ falls back to the raw text).
//!   qctl shows the last line of the traceback.
//! * Times are UTC ISO 8601 strings with microseconds and a `Z`; an unset
//!   one is `""`.
//!
//! An id whose hash is gone (expired, deleted), a hash without `data`, a
//! field that is not text, garbage `data` or `exc_info`: flagged on the job
//! (`problems`), never fatal.

use super::Rq;
use crate::connect::Conn;
use crate::systems::{HashJob, Job, Payload, Peek, QueueRole};
use base64::Engine;
use redis::{RedisResult, Value};
use std::io::Read;

/// At most this much of a decompressed `data` is read (to tell a pickle
/// from JSON); a JSON payload beyond it is not shown.
const DATA_LIMIT: u64 = 1 << 20;
/// At most this much of a decompressed traceback is read; its last line is
/// kept from a sliding window, so longer ones still show their error.
const TRACEBACK_LIMIT: u64 = 64 << 20;
/// The last bytes of a traceback kept while reading it.
const TAIL: usize = 8 << 10;

/// Fields that hold pickles or the payload: never shown as text.
const OPAQUE_FIELDS: &[&str] = &["data", "exc_info", "meta", "result"];

/// An RQ time (`2026-12-02T02:27:12.954849Z`, or without the fraction).
pub(crate) fn parse_time(s: &str) -> Option<jiff::Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    s.parse::<jiff::Timestamp>().ok()
}

/// The job id of a registry member: `rq:wip:<q>` members are
/// `<job id>:<execution id>` (execution ids are hex, without `:`).
pub(crate) fn job_id_of(member: &str) -> &str {
    match member.rsplit_once(':') {
        Some((job, exec)) if !job.is_empty() && exec.bytes().all(|b| b.is_ascii_hexdigit()) => job,
        _ => member,
    }
}

/// zlib-decompresses at most `limit` bytes; `Ok(None)` when there are
/// more (the first `limit` are not returned either).
fn inflate(bytes: &[u8], limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .take(limit + 1)
        .read_to_end(&mut out)?;
    Ok((out.len() as u64 <= limit).then_some(out))
}

/// The last `TAIL` bytes of zlib-compressed text, reading at most
/// `TRACEBACK_LIMIT`.
fn inflate_tail(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut d = flate2::read::ZlibDecoder::new(bytes).take(TRACEBACK_LIMIT);
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        let n = d.read(&mut buf)?;
        if n == 0 {
            break;
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * TAIL {
            tail.drain(..tail.len() - TAIL);
        }
    }
    Ok(tail)
}

/// The last non-empty line of a traceback (`jobs.Error: message`), at most
/// 200 characters.
pub(crate) fn last_line(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
    let mut out: String = line
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if line.chars().count() > 200 {
        out.push_str("...");
    }
    Some(out)
}

/// How RQ's `data` is encoded, and the payload when it is JSON; `Err`:
/// what is wrong with it.
fn read_data(raw: &[u8]) -> Result<(&'static str, Option<serde_json::Value>), &'static str> {
    let inflated = match inflate(raw, DATA_LIMIT) {
        Ok(Some(d)) => Some(d),
        Ok(None) => None,
        // RQ's fallback: data that is not zlib is taken as it is.
        Err(_) => Some(raw.to_vec()),
    };
    let Some(d) = inflated else {
        // Larger than qctl reads; zlib of a pickle starts with 0x80 too.
        let mut first = [0u8; 1];
        return match flate2::read::ZlibDecoder::new(raw).read_exact(&mut first) {
            Ok(()) if first[0] == 0x80 => Ok(("pickle", None)),
            _ => Ok(("json", None)),
        };
    };
    // Pickle protocol 2 and up opens with PROTO (0x80); RQ uses the
    // highest (5).
    if d.first() == Some(&0x80) {
        return Ok(("pickle", None));
    }
    match serde_json::from_slice::<serde_json::Value>(&d) {
        Ok(v @ serde_json::Value::Array(_)) => Ok(("json", Some(v))),
        _ => Err("data is neither a pickle nor JSON (RQ cannot load this job)"),
    }
}

/// The field/value pairs of a stream entry (`XREVRANGE … COUNT 1`).
fn latest_entry(v: &Value) -> Option<Vec<(String, Vec<u8>)>> {
    let entries = match v {
        Value::Array(a) => a,
        _ => return None,
    };
    let entry = match entries.first()? {
        Value::Array(e) => e,
        _ => return None,
    };
    let bytes = |v: &Value| -> Option<Vec<u8>> {
        match v {
            Value::BulkString(b) => Some(b.clone()),
            Value::SimpleString(s) => Some(s.clone().into_bytes()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    match entry.get(1)? {
        Value::Array(kv) => {
            for pair in kv.chunks(2) {
                if let [k, v] = pair {
                    out.push((String::from_utf8_lossy(&bytes(k)?).into_owned(), bytes(v)?));
                }
            }
        }
        Value::Map(kv) => {
            for (k, v) in kv {
                out.push((String::from_utf8_lossy(&bytes(k)?).into_owned(), bytes(v)?));
            }
        }
        _ => return None,
    }
    Some(out)
}

/// The error of the latest result, if it is a failure: `Ok(None)` when
/// there is none, `Err` when `exc_string` is unreadable.
fn result_error(v: &Value) -> Result<Option<String>, &'static str> {
    let Some(entry) = latest_entry(v) else {
        return Ok(None);
    };
    let Some((_, exc)) = entry.iter().find(|(k, _)| k == "exc_string") else {
        return Ok(None);
    };
    if exc.is_empty() {
        return Ok(None);
    }
    let z = base64::engine::general_purpose::STANDARD
        .decode(exc)
        .map_err(|_| "the latest result's exc_string is not base64")?;
    let text = inflate_tail(&z).map_err(|_| "the latest result's exc_string is not zlib")?;
    Ok(last_line(&text))
}

/// A job as RQ keeps it: `id` (its registry member), `fields` (HGETALL),
/// `result` (XREVRANGE of its results stream), the role of the set it was
/// listed in and its score there.
pub(crate) fn parse_job(
    id: &str,
    fields: &[(Vec<u8>, Vec<u8>)],
    result: &Value,
    listed_in: &str,
    role: QueueRole,
    score: Option<f64>,
) -> Job {
    let mut h = HashJob::default();
    let run_at = if role == QueueRole::Scheduled {
        score.and_then(score_time)
    } else {
        None
    };
    if fields.is_empty() {
        h.problems
            .push("its job hash is gone (expired or deleted)".into());
        return Job {
            valid: false,
            id: Some(id.to_string()),
            queue: Some(listed_in.to_string()),
            run_at,
            payload: Payload::Hash(Box::new(h)),
            ..Job::default()
        };
    }
    let raw = |k: &str| {
        fields
            .iter()
            .find(|(f, _)| f == k.as_bytes())
            .map(|(_, v)| v)
    };
    let mut not_text = 0;
    for (k, v) in fields {
        let Ok(k) = std::str::from_utf8(k) else {
            not_text += 1;
            continue;
        };
        if OPAQUE_FIELDS.contains(&k) {
            continue;
        }
        match std::str::from_utf8(v) {
            Ok(v) => {
                h.fields.insert(k.to_string(), v.into());
            }
            Err(_) => not_text += 1,
        }
    }
    h.fields.sort_keys();
    if not_text > 0 {
        h.problems
            .push("fields that are not text (left out of `fields`)".into());
    }
    let text = |k: &str| {
        h.fields
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let missing: Vec<&str> = ["status", "origin", "created_at", "description"]
        .into_iter()
        .filter(|k| text(k).is_none())
        .collect();
    if !missing.is_empty() {
        h.problems
            .push(format!("no {} in its hash", missing.join(", ")));
    }
    let mut valid = true;
    match raw("data") {
        None => {
            valid = false;
            h.problems
                .push("no data in its hash (RQ cannot load this job)".into());
        }
        Some(d) => match read_data(d) {
            Ok((enc, payload)) => {
                h.encoding = Some(enc);
                h.payload = payload;
            }
            Err(p) => {
                valid = false;
                h.problems.push(p.into());
            }
        },
    }
    let mut time = |k: &str| -> Option<jiff::Timestamp> {
        let s = text(k)?;
        let t = parse_time(&s);
        if t.is_none() {
            h.problems.push(format!("{k} is not a time"));
        }
        t
    };
    let created = time("enqueued_at").or_else(|| time("created_at"));
    let started = time("started_at");
    let ended = time("ended_at");
    h.started = started;
    h.ended = ended;
    let status = text("status");
    // RQ 3's error is its latest result's; `exc_info` is older RQ's (and a
    // requeue writes it empty).
    let error = match result_error(result) {
        Ok(Some(e)) => Some(e),
        Ok(None) => match raw("exc_info").filter(|e| !e.is_empty()) {
            None => None,
            Some(e) => match inflate_tail(e) {
                Ok(t) => last_line(&t),
                Err(_) => {
                    h.problems
                        .push("exc_info is not zlib-compressed (shown as stored)".into());
                    last_line(e)
                }
            },
        },
        Err(p) => {
            h.problems.push(p.into());
            None
        }
    };
    let name = text("func_name").or_else(|| {
        let d = text("description")?;
        let f = d.split('(').next().unwrap_or("").trim().to_string();
        (!f.is_empty()).then_some(f)
    });
    let failed_at = (status.as_deref() == Some("failed"))
        .then_some(ended)
        .flatten();
    h.status = status;
    Job {
        valid,
        id: Some(id.to_string()),
        name,
        queue: text("origin").or_else(|| Some(listed_in.to_string())),
        priority: None,
        // RQ keeps no count of failed attempts (`retries_left` is in
        // `fields`).
        retries: None,
        filepath: None,
        created,
        run_at,
        failed_at,
        error,
        payload: Payload::Hash(Box::new(h)),
    }
}

/// A ZSET score (epoch seconds).
fn score_time(s: f64) -> Option<jiff::Timestamp> {
    if !s.is_finite() {
        return None;
    }
    jiff::Timestamp::from_microsecond((s * 1e6) as i64).ok()
}

/// What a key holds and how it lists jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Listing {
    /// A LIST of ids, the head next (a queue, its `:intermediate`).
    List,
    /// A ZSET of ids (or `<id>:<execution>`), lowest score first.
    SortedSet,
}

/// Up to `n` jobs of a queue or registry, without changing anything:
/// TYPE; then the length and the ids; then each job's hash and latest
/// result, in one pipeline. Position 0 is the head of a queue (what a
/// worker takes next) or the lowest score of a registry.
pub(crate) async fn peek(
    rq: &Rq,
    conn: &Conn,
    key: &str,
    n: u64,
    from_end: bool,
) -> RedisResult<Peek> {
    let named = rq.queue_named(key).filter(|q| q.key == key);
    let kind: String = conn.query(&super::cmd("TYPE", key)).await?;
    let listing = match kind.as_str() {
        "list" => Listing::List,
        "zset" => Listing::SortedSet,
        "none" => match named.as_ref().map(|q| q.role) {
            Some(QueueRole::Work) | None => Listing::List,
            Some(_) => Listing::SortedSet,
        },
        other => {
            return Ok(Peek {
                length: 0,
                jobs: Vec::new(),
                wrong_type: Some(other.to_string()),
            });
        }
    };
    let role = named.as_ref().map_or(QueueRole::Work, |q| q.role);
    // The queue itself: a registry is named `<registry>:<queue>`.
    let listed_in = named.as_ref().map_or_else(
        || key.to_string(),
        |q| match q.role {
            QueueRole::Work => q.name.clone(),
            _ => q
                .name
                .split_once(':')
                .map_or_else(|| q.name.clone(), |(_, queue)| queue.to_string()),
        },
    );
    let n = n.min(i64::MAX as u64) as i64;
    let mut cmds = vec![super::cmd(
        if listing == Listing::List {
            "LLEN"
        } else {
            "ZCARD"
        },
        key,
    )];
    if n > 0 {
        let (start, stop) = if from_end { (-n, -1) } else { (0, n - 1) };
        let mut c = super::cmd(
            if listing == Listing::List {
                "LRANGE"
            } else {
                "ZRANGE"
            },
            key,
        );
        c.arg(start).arg(stop);
        if listing == Listing::SortedSet {
            c.arg("WITHSCORES");
        }
        cmds.push(c);
    }
    let v: Vec<Value> = conn.each_key(&cmds).await?;
    let length: u64 = redis::from_redis_value_ref(&v[0])?;
    let mut members: Vec<(String, Option<f64>)> = match (v.get(1), listing) {
        (None, _) => Vec::new(),
        (Some(x), Listing::List) => {
            let ids: Vec<Vec<u8>> = redis::from_redis_value_ref(x)?;
            ids.into_iter()
                .map(|i| (String::from_utf8_lossy(&i).into_owned(), None))
                .collect()
        }
        (Some(x), Listing::SortedSet) => {
            let ids: Vec<(Vec<u8>, f64)> = redis::from_redis_value_ref(x)?;
            ids.into_iter()
                .map(|(i, s)| (String::from_utf8_lossy(&i).into_owned(), Some(s)))
                .collect()
        }
    };
    if from_end {
        // The far end first, numbered from the head.
        members.reverse();
    }
    // Only `wip` members are `<job id>:<execution id>`; ids elsewhere may
    // hold a `:`.
    let ids: Vec<String> = members
        .iter()
        .map(|(m, _)| {
            if role == QueueRole::Active {
                job_id_of(m).to_string()
            } else {
                m.clone()
            }
        })
        .collect();
    let mut cmds = Vec::with_capacity(ids.len() * 2);
    for id in &ids {
        cmds.push(super::cmd("HGETALL", &rq.job_key(id)));
        let mut x = super::cmd("XREVRANGE", &rq.results_key(id));
        x.arg("+").arg("-").arg("COUNT").arg(1);
        cmds.push(x);
    }
    let v: Vec<Value> = if cmds.is_empty() {
        Vec::new()
    } else {
        conn.each_key(&cmds).await?
    };
    let jobs = ids
        .iter()
        .zip(members.iter())
        .zip(v.chunks(2))
        .enumerate()
        .map(|(i, ((id, (_, score)), r))| {
            let fields: Vec<(Vec<u8>, Vec<u8>)> =
                redis::from_redis_value_ref(&r[0]).unwrap_or_default();
            let job = parse_job(id, &fields, &r[1], &listed_in, role, *score);
            let pos = if from_end {
                length.saturating_sub(1 + i as u64)
            } else {
                i as u64
            };
            (pos, job)
        })
        .collect();
    Ok(Peek {
        length,
        jobs,
        wrong_type: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn z(b: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn hash(pairs: &[(&str, &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
            .collect()
    }

    fn result(exc: &str) -> Value {
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"1-0".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"type".to_vec()),
                Value::BulkString(b"2".to_vec()),
                Value::BulkString(b"exc_string".to_vec()),
                Value::BulkString(exc.as_bytes().to_vec()),
            ]),
        ])])
    }

    #[test]
    fn jobs_read_as_rq_writes_them() {
        let data = z(b"\x80\x05\x95...pickle");
        let tb = "Traceback (most recent call last):\n  File \"x\"\njobs.QctlFixtureError: qctl fixture failure: fail ['x']\n";
        let exc = base64::engine::general_purpose::STANDARD.encode(z(tb.as_bytes()));
        let f = hash(&[
            ("status", b"failed"),
            ("created_at", b"2026-12-02T02:27:12.954849Z"),
            ("enqueued_at", b"2026-12-02T02:27:12.962018Z"),
            ("started_at", b"2026-12-02T02:27:13.000000Z"),
            ("ended_at", b"2026-12-02T02:27:14.5Z"),
            ("origin", b"default"),
            ("description", b"jobs.fail('x')"),
            ("data", &data),
            ("worker_name", b""),
        ]);
        let j = parse_job(
            "a1",
            &f,
            &result(&exc),
            "default",
            QueueRole::DeadLetter,
            Some(1.0),
        );
        assert!(j.valid);
        assert_eq!(j.name.as_deref(), Some("jobs.fail"));
        assert_eq!(j.queue.as_deref(), Some("default"));
        assert_eq!(
            j.error.as_deref(),
            Some("jobs.QctlFixtureError: qctl fixture failure: fail ['x']")
        );
        assert!(j.failed_at.is_some() && j.created.is_some() && j.run_at.is_none());
        let Payload::Hash(h) = &j.payload else {
            panic!("a hash job")
        };
        assert_eq!(h.encoding, Some("pickle"));
        assert!(h.payload.is_none());
        assert!(h.problems.is_empty(), "{:?}", h.problems);
        assert_eq!(h.status.as_deref(), Some("failed"));
        assert!(!h.fields.contains_key("data"));
        assert_eq!(h.fields["worker_name"], "");

        // exc_info in the hash (older RQ), zlib or raw.
        let mut f2 = f.clone();
        f2.push((b"exc_info".to_vec(), z(b"Traceback\nValueError: boom\n")));
        let j = parse_job(
            "a1",
            &f2,
            &Value::Array(vec![]),
            "default",
            QueueRole::DeadLetter,
            None,
        );
        assert_eq!(j.error.as_deref(), Some("ValueError: boom"));
        let mut f3 = f.clone();
        f3.push((b"exc_info".to_vec(), b"\xffnot zlib\nKeyError: k".to_vec()));
        let j = parse_job(
            "a1",
            &f3,
            &Value::Nil,
            "default",
            QueueRole::DeadLetter,
            None,
        );
        assert_eq!(j.error.as_deref(), Some("KeyError: k"));
        let Payload::Hash(h) = &j.payload else {
            panic!()
        };
        assert!(
            h.problems[0].contains("exc_info is not zlib"),
            "{:?}",
            h.problems
        );
    }

    #[test]
    fn bad_jobs_are_flagged_never_fatal() {
        let gone = parse_job("x", &[], &Value::Nil, "default", QueueRole::Work, None);
        assert!(!gone.valid);
        let Payload::Hash(h) = &gone.payload else {
            panic!()
        };
        assert!(h.problems[0].contains("hash is gone"));

        let garbage = hash(&[
            ("status", b"queued"),
            ("origin", b"q"),
            ("data", b"\x01\x02garbage"),
            ("created_at", b"yesterday"),
            ("description", b"\xff\xfe"),
        ]);
        let j = parse_job(
            "g",
            &garbage,
            &result("!!not base64"),
            "q",
            QueueRole::Work,
            None,
        );
        assert!(!j.valid);
        let Payload::Hash(h) = &j.payload else {
            panic!()
        };
        let all = h.problems.join("; ");
        for want in [
            "not text",
            "no description in its hash",
            "neither a pickle nor JSON",
            "created_at is not a time",
            "exc_string is not base64",
        ] {
            assert!(all.contains(want), "{want}: {all}");
        }
        let nodata = parse_job(
            "n",
            &hash(&[("status", b"queued")]),
            &Value::Nil,
            "q",
            QueueRole::Work,
            None,
        );
        assert!(!nodata.valid);

        // JSONSerializer data is shown; a zlib bomb is not read whole.
        let j = parse_job(
            "j",
            &hash(&[("data", &z(br#"["jobs.ok", null, [1], {}]"#))]),
            &Value::Nil,
            "q",
            QueueRole::Work,
            None,
        );
        let Payload::Hash(h) = &j.payload else {
            panic!()
        };
        assert_eq!(h.encoding, Some("json"));
        assert_eq!(h.payload.as_ref().unwrap()[0], "jobs.ok");
        let mut big = vec![0x80u8];
        big.extend(std::iter::repeat_n(0u8, (DATA_LIMIT as usize) * 2));
        assert_eq!(read_data(&z(&big)), Ok(("pickle", None)));
    }

    #[test]
    fn members_times_and_lines() {
        assert_eq!(
            job_id_of("ccdb-9b5:9318eeab6829459fb0c001d01766bef2"),
            "ccdb-9b5"
        );
        assert_eq!(job_id_of("plain-id"), "plain-id");
        assert_eq!(job_id_of("my:job:id"), "my:job:id");
        assert!(parse_time("2026-12-02T02:27:12.954849Z").is_some());
        assert!(parse_time("2026-12-02T02:27:12Z").is_some());
        assert!(parse_time("").is_none());
        assert_eq!(last_line(b"a\nb\n\n  \n").as_deref(), Some("b"));
        assert_eq!(last_line(b"").as_deref(), None);
    }
}
