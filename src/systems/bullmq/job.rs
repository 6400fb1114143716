//! A BullMQ job as its hash `<p>:<q>:<id>` holds it (docs/bullmq-layout.md,
//! "Job hash"), and the `:delayed` score.

use super::State;
use crate::systems::{Job, Payload};
use redis::Value;

/// What HGETALL of a job's key answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Hash {
    /// The hash's fields (empty: the key does not exist).
    Fields(Vec<(String, Vec<u8>)>),
    /// The key holds another type, or the read failed (the server's words).
    Unreadable(String),
}

impl Hash {
    /// From an HGETALL reply (an error reply kept as [`Hash::Unreadable`]).
    pub(crate) fn from_reply(v: Result<Value, redis::RedisError>) -> Hash {
        match v {
            Ok(v) => match redis::from_redis_value::<Vec<(Vec<u8>, Vec<u8>)>>(v) {
                Ok(pairs) => Hash::Fields(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
                        .collect(),
                ),
                Err(_) => Hash::Unreadable("an unexpected reply".into()),
            },
            Err(e) => Hash::Unreadable(super::read::reply_text(&e)),
        }
    }
}

/// The due time of a `:delayed` score (`due_ms * 4096 + seq`), read as an
/// integer from the score's text; `None` when it is no such number.
pub(crate) fn delayed_due(score: &str) -> Option<jiff::Timestamp> {
    let n: u64 = match score.parse::<u64>() {
        Ok(n) => n,
        // Redis may print a large double in exponent form; only an
        // integral, finite, non-negative one is a BullMQ score.
        Err(_) => {
            let f: f64 = score.parse().ok()?;
            if !f.is_finite() || f < 0.0 || f.fract() != 0.0 || f >= 1.8e19 {
                return None;
            }
            f as u64
        }
    };
    ms_time(i64::try_from(n >> 12).ok()?)
}

/// A time in epoch milliseconds.
pub(crate) fn ms_time(ms: i64) -> Option<jiff::Timestamp> {
    jiff::Timestamp::from_millisecond(ms).ok()
}

fn ms_field(text: Option<&str>) -> Option<jiff::Timestamp> {
    ms_time(text?.trim().parse::<i64>().ok()?)
}

/// The first line of `s`, at most 200 characters.
pub(crate) fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push_str("...");
    }
    out
}

/// A job of `queue` in `state` from its hash; `score` is its sorted-set
/// score's text (when it is in one). Never fails: a missing hash, a hash
/// that is something else, `data` that is not JSON or a `:delayed` score
/// that is no BullMQ score is flagged (`valid: false`, a note in `error`).
pub(crate) fn parse(
    id: &str,
    queue: &str,
    key: &str,
    state: State,
    hash: &Hash,
    score: Option<&str>,
) -> Job {
    let mut job = Job {
        valid: true,
        id: Some(id.to_string()),
        queue: Some(queue.to_string()),
        payload: Payload::Json(serde_json::Value::Null),
        ..Job::default()
    };
    let fields = match hash {
        Hash::Fields(f) if f.is_empty() => {
            job.valid = false;
            job.error = Some(format!(
                "job hash `{key}` does not exist (removed or expired)"
            ));
            return job;
        }
        Hash::Fields(f) => f,
        Hash::Unreadable(why) => {
            job.valid = false;
            job.error = Some(format!("job hash `{key}` is unreadable: {why}"));
            return job;
        }
    };
    let field = |name: &str| -> Option<&[u8]> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    };
    let text = |name: &str| field(name).and_then(|b| std::str::from_utf8(b).ok());
    job.name = text("name").map(String::from);
    job.payload = match field("data") {
        None => Payload::Json(serde_json::Value::Null),
        Some(b) => match std::str::from_utf8(b) {
            Err(_) => {
                job.valid = false;
                Payload::Binary(b.to_vec())
            }
            Ok(t) => match serde_json::from_str::<serde_json::Value>(t) {
                Ok(v) => Payload::Json(v),
                Err(_) => {
                    job.valid = false;
                    Payload::Text(t.to_string())
                }
            },
        },
    };
    job.created = ms_field(text("timestamp"));
    job.priority = text("priority")
        .and_then(|p| p.trim().parse::<u64>().ok())
        .filter(|p| *p > 0)
        .map(|p| p.to_string());
    // attemptsMade (`atm`; `attemptsMade` before BullMQ 5) counts every
    // finished attempt: for a completed job the last one succeeded.
    let made = text("atm")
        .or_else(|| text("attemptsMade"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(0);
    job.retries = Some(if state == State::Completed {
        made.saturating_sub(1)
    } else {
        made
    });
    job.error = text("failedReason")
        .filter(|r| !r.is_empty())
        .map(first_line);
    if state == State::Failed {
        job.failed_at = ms_field(text("finishedOn"));
    }
    if state == State::Delayed {
        match score {
            Some(s) => match delayed_due(s) {
                Some(t) => job.run_at = Some(t),
                None => {
                    job.valid = false;
                    job.error = Some(format!(
                        "`:delayed` score `{}` is not a BullMQ score (due ms * 4096 + sequence)",
                        first_line(s)
                    ));
                }
            },
            None => job.run_at = None,
        }
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(pairs: &[(&str, &str)]) -> Hash {
        Hash::Fields(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    #[test]
    fn jobs_read_as_bullmq_writes_them() {
        let h = hash(&[
            ("name", "fail"),
            ("data", r#"{"i":0}"#),
            ("opts", r#"{"attempts":1}"#),
            ("timestamp", "1796178470212"),
            ("delay", "0"),
            ("priority", "0"),
            ("atm", "1"),
            ("failedReason", "qctl fixture failure: fail 7\nmore"),
            ("finishedOn", "1796178470225"),
        ]);
        let j = parse(
            "7",
            "q1",
            "bull:q1:7",
            State::Failed,
            &h,
            Some("1796178470225"),
        );
        assert!(j.valid);
        assert_eq!(j.id.as_deref(), Some("7"));
        assert_eq!(j.name.as_deref(), Some("fail"));
        assert_eq!(j.queue.as_deref(), Some("q1"));
        assert_eq!(j.retries, Some(1));
        assert_eq!(j.error.as_deref(), Some("qctl fixture failure: fail 7"));
        assert_eq!(j.payload, Payload::Json(serde_json::json!({"i": 0})));
        assert_eq!(j.created.unwrap().as_millisecond(), 1796178470212);
        assert_eq!(j.failed_at.unwrap().as_millisecond(), 1796178470225);
        assert!(j.priority.is_none());
        let done = parse(
            "8",
            "q1",
            "k",
            State::Completed,
            &hash(&[("atm", "1")]),
            None,
        );
        assert_eq!(done.retries, Some(0));
    }

    #[test]
    fn delayed_scores_decode_as_integers() {
        // due 1796178507117 -> 7357147165151232 (docs/bullmq-layout.md).
        assert_eq!(
            delayed_due("7357147165151232").unwrap().as_millisecond(),
            1796178507117
        );
        assert_eq!(
            delayed_due("7357147165151239").unwrap().as_millisecond(),
            1796178507117
        );
        assert!(delayed_due("inf").is_none());
        assert!(delayed_due("-4096").is_none());
        assert!(delayed_due("1.5").is_none());
        assert!(delayed_due("nan").is_none());
        let j = parse(
            "1",
            "q",
            "k",
            State::Delayed,
            &hash(&[("name", "x")]),
            Some("inf"),
        );
        assert!(!j.valid);
        assert!(j.error.unwrap().contains("`inf`"));
    }

    #[test]
    fn bad_hashes_are_flagged_never_fatal() {
        let gone = parse(
            "9",
            "q",
            "bull:q:9",
            State::Wait,
            &Hash::Fields(vec![]),
            None,
        );
        assert!(!gone.valid);
        assert!(gone.error.unwrap().contains("does not exist"));
        let garbage = parse(
            "1",
            "q",
            "k",
            State::Wait,
            &hash(&[("data", "{not json"), ("timestamp", "soon")]),
            None,
        );
        assert!(!garbage.valid);
        assert_eq!(garbage.payload, Payload::Text("{not json".into()));
        assert!(garbage.created.is_none());
        let bare = parse("2", "q", "k", State::Wait, &hash(&[("name", "only")]), None);
        assert!(bare.valid);
        assert_eq!(bare.name.as_deref(), Some("only"));
        assert_eq!(bare.retries, Some(0));
        let odd = parse(
            "3",
            "q",
            "k",
            State::Wait,
            &Hash::Unreadable("WRONGTYPE".into()),
            None,
        );
        assert!(!odd.valid);
    }
}
