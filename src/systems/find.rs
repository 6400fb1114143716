//! Where a job is, by its id (`get job ID`, `describe job ID`), and what a
//! worker holds (`describe worker`): the answers every system gives in the
//! same terms, and the bounded scans of lists and sorted sets that systems
//! without an index of their jobs (go-redis-work-queue, Sidekiq) share.
//!
//! A system that keeps each job in a hash of its own (BullMQ, RQ) reads
//! that hash by id and asks its lists and sets where the id is (LPOS with
//! MAXLEN, ZRANK). A system that keeps payloads in lists and sets is read in
//! chunks of [`SCAN_CHUNK`] from the end a consumer takes next, at most
//! `scan_limit` entries per key: never one command over a huge key, and a
//! note when a key was left unread beyond the bound.

use super::{Job, System, Worker};
use crate::connect::Conn;
use redis::{RedisResult, Value};
use serde::Serialize;

/// How far a lookup reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FindOptions {
    /// Entries read at most per list or set that is scanned (and the
    /// MAXLEN of an LPOS).
    pub(crate) scan_limit: u64,
    /// Also read what the system keeps of each job's history.
    pub(crate) detail: bool,
}

/// `--scan-limit`'s default.
pub(crate) const DEFAULT_SCAN_LIMIT: u64 = 100_000;
/// Entries per LRANGE/ZRANGE of a scan.
pub(crate) const SCAN_CHUNK: u64 = 1_000;

/// One place a job was found.
#[derive(Debug, Clone)]
pub(crate) struct JobLocation {
    /// The id looked for.
    pub(crate) id: String,
    /// The queue or set, as `get queues` names it.
    pub(crate) queue: String,
    pub(crate) key: String,
    /// The SPEC 10.2 state of that set (waiting, active, scheduled, retry,
    /// dead, completed, deferred), or the system's own word where it has
    /// no such set (`canceled`, `unlisted`).
    pub(crate) state: &'static str,
    /// Index from the end a consumer takes next (0: the next job), or the
    /// rank in a sorted set; `None` where the job is in no list (a job a
    /// Sidekiq process runs, an RQ job whose hash no set names).
    pub(crate) position: Option<u64>,
    /// The worker holding it, for a job in flight.
    pub(crate) worker: Option<String>,
    pub(crate) job: Job,
    /// With [`FindOptions::detail`].
    pub(crate) history: Option<JobHistory>,
}

/// What a system keeps of a job's past: attempts, the last error with its
/// backtrace decoded, and dated events.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct JobHistory {
    /// Attempts made so far (failed or not), where the system counts them.
    pub(crate) attempts: Option<u64>,
    /// How many more times it may run after a failure, where the system
    /// says.
    pub(crate) retries_left: Option<u64>,
    pub(crate) error_class: Option<String>,
    pub(crate) error_message: Option<String>,
    /// The last error's backtrace, one line per entry.
    pub(crate) backtrace: Vec<String>,
    /// Earlier errors, newest first (BullMQ's stacktrace, RQ's results).
    pub(crate) errors: Vec<String>,
    pub(crate) events: Vec<JobEvent>,
    /// The job's own log lines (BullMQ `job.log`).
    pub(crate) logs: Vec<String>,
    /// What could not be read or decoded, one phrase each.
    pub(crate) problems: Vec<String>,
    /// The job record's other readable fields, where it is a hash whose
    /// payload is one field (BullMQ: `opts`, `returnvalue`, `progress`...).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub(crate) fields: serde_json::Map<String, serde_json::Value>,
}

/// One dated thing that happened to a job.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct JobEvent {
    /// RFC 3339, UTC.
    pub(crate) at: String,
    /// `created`, `enqueued`, `started`, `failed`, `retried`, `finished`,
    /// `died`, `result`.
    pub(crate) event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

impl JobHistory {
    /// Adds an event when its time is known.
    pub(crate) fn event(
        &mut self,
        at: Option<jiff::Timestamp>,
        event: &str,
        detail: Option<String>,
    ) {
        if let Some(t) = at {
            self.events.push(JobEvent {
                at: t.to_string(),
                event: event.to_string(),
                detail,
            });
        }
    }

    /// Events oldest first.
    pub(crate) fn sort(&mut self) {
        self.events.sort_by(|a, b| a.at.cmp(&b.at));
    }
}

/// What a lookup found, and what it could only search in part.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    pub(crate) hits: Vec<JobLocation>,
    /// Said once per context: keys read only up to the bound, keys of
    /// another type.
    pub(crate) notes: Vec<String>,
}

/// What a system keeps about one worker beyond its `get workers` row.
#[derive(Debug, Clone, Default)]
pub(crate) struct WorkerDetail {
    /// (field, value) as the system stores them, in its order.
    pub(crate) fields: Vec<(String, String)>,
    /// The jobs it holds, as far as Redis tells.
    pub(crate) jobs: Vec<Job>,
    pub(crate) notes: Vec<String>,
}

/// At most this many in-flight jobs of one worker are read.
pub(crate) const WORKER_JOBS: u64 = 100;

impl System {
    /// Every place each of `ids` is, in every queue and set.
    pub(crate) async fn find_jobs(
        &self,
        conn: &Conn,
        ids: &[String],
        opts: FindOptions,
    ) -> RedisResult<Found> {
        each!(self, s => s.find_jobs(conn, ids, opts).await)
    }

    /// What the system keeps about `w`, and the jobs it holds.
    pub(crate) async fn worker_detail(&self, conn: &Conn, w: &Worker) -> RedisResult<WorkerDetail> {
        each!(self, s => s.worker_detail(conn, w).await)
    }
}

/// Whether `hay` holds `needle` (a cheap test before parsing a payload).
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// What a bounded scan of one key found.
#[derive(Debug, Default)]
pub(crate) struct Scanned {
    /// (index into the ids, position, entry, score)
    pub(crate) hits: Vec<(usize, u64, Vec<u8>, Option<f64>)>,
    /// The key holds another type (nothing read).
    pub(crate) wrong_type: Option<String>,
    /// Entries not read because of the bound (0 when all were).
    pub(crate) unread: u64,
}

/// Which Redis type a scanned key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanStore {
    /// A LIST whose right end a consumer takes next (position 0).
    List,
    /// A ZSET, lowest score first (position = rank).
    SortedSet,
}

/// Reads `key` in chunks of [`SCAN_CHUNK`], at most `limit` entries, and
/// keeps the first entry of each id in `ids` that `id_of` names (entries
/// that do not hold an id's text are not parsed). Stops once every id is
/// found in this key.
pub(crate) async fn scan_key(
    conn: &Conn,
    key: &str,
    store: ScanStore,
    ids: &[String],
    limit: u64,
    id_of: &(dyn Fn(&[u8]) -> Option<String> + Sync),
) -> RedisResult<Scanned> {
    let mut out = Scanned::default();
    let mut p = redis::pipe();
    p.cmd("TYPE").arg(key);
    p.cmd(match store {
        ScanStore::List => "LLEN",
        ScanStore::SortedSet => "ZCARD",
    })
    .arg(key)
    .ignore_errors();
    let v: Vec<Value> = conn.pipe_slot(&p).await?;
    let kind = match v.first() {
        Some(Value::SimpleString(s)) => s.clone(),
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        _ => "none".into(),
    };
    let want = match store {
        ScanStore::List => "list",
        ScanStore::SortedSet => "zset",
    };
    if kind == "none" {
        return Ok(out);
    }
    if kind != want {
        out.wrong_type = Some(kind);
        return Ok(out);
    }
    let length = match v.get(1) {
        Some(Value::Int(n)) => (*n).max(0) as u64,
        _ => 0,
    };
    let mut found = vec![false; ids.len()];
    let mut offset: u64 = 0;
    let end = length.min(limit);
    while offset < end && found.iter().any(|f| !f) {
        let n = SCAN_CHUNK.min(end - offset);
        let (entries, scores): (Vec<Vec<u8>>, Vec<Option<f64>>) = match store {
            ScanStore::List => {
                // From the right: index -1 is position 0.
                let start = -((offset + n) as i64);
                let stop = -((offset + 1) as i64);
                let mut c = redis::cmd("LRANGE");
                c.arg(key).arg(start).arg(stop);
                let mut items: Vec<Vec<u8>> = conn.query(&c).await?;
                items.reverse();
                let k = items.len();
                (items, vec![None; k])
            }
            ScanStore::SortedSet => {
                let mut c = redis::cmd("ZRANGE");
                c.arg(key).arg(offset).arg(offset + n - 1).arg("WITHSCORES");
                let items: Vec<(Vec<u8>, f64)> = conn.query(&c).await?;
                items.into_iter().map(|(m, s)| (m, Some(s))).unzip()
            }
        };
        if entries.is_empty() {
            break;
        }
        let read = entries.len() as u64;
        for (i, (e, score)) in entries.into_iter().zip(scores).enumerate() {
            for (k, id) in ids.iter().enumerate() {
                if found[k] || !contains(&e, id.as_bytes()) {
                    continue;
                }
                if id_of(&e).as_deref() == Some(id.as_str()) {
                    found[k] = true;
                    out.hits.push((k, offset + i as u64, e.clone(), score));
                }
            }
        }
        offset += read;
    }
    if found.iter().any(|f| !f) && length > offset {
        out.unread = length - offset;
    }
    Ok(out)
}

/// The note for a key read only up to the bound.
pub(crate) fn bound_note(context: &str, key: &str, limit: u64, unread: u64) -> String {
    format!(
        "{context}: {key}: only the first {limit} entries were searched ({unread} more not read; raise --scan-limit to search further)"
    )
}

/// The note for a key of another type than a system keeps there.
pub(crate) fn wrong_type_note(context: &str, key: &str, kind: &str) -> String {
    format!("{context}: {key} holds a {kind}, not jobs: not searched")
}

/// A Redis reply as text (bulk, simple, integer), for the systems' own
/// helpers.
pub(crate) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Double(f) => Some(f.to_string()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// An integer reply (`None`: nil, an error, anything else).
pub(crate) fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::BulkString(_) | Value::SimpleString(_) => text_of(v)?.parse().ok(),
        _ => None,
    }
}

/// A zlib-compressed, base64-encoded text (Sidekiq's compressed
/// `error_backtrace`, RQ's `exc_string`), at most `limit` bytes of it.
pub(crate) fn unbase64_inflate(s: &[u8], limit: u64) -> Result<String, &'static str> {
    use base64::Engine;
    // Ruby's Base64.encode64 breaks lines every 60 characters.
    let packed: Vec<u8> = s
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&packed)
        .map_err(|_| "not base64")?;
    inflate_text(&raw, limit)
}

/// zlib-decompressed text, at most `limit` bytes (a longer text is cut).
pub(crate) fn inflate_text(raw: &[u8], limit: u64) -> Result<String, &'static str> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(raw)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| "not zlib")?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// At most this much of a decompressed backtrace or traceback is read.
pub(crate) const BACKTRACE_LIMIT: u64 = 1 << 20;

/// The non-blank lines of a traceback text, trailing blanks cut.
pub(crate) fn lines_of(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    #[test]
    fn compressed_texts_decode() {
        use base64::Engine;
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(br#"["a.rb:1:in `x'","b.rb:2"]"#).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
        assert_eq!(
            unbase64_inflate(b64.as_bytes(), 1 << 20).unwrap(),
            r#"["a.rb:1:in `x'","b.rb:2"]"#
        );
        assert_eq!(unbase64_inflate(b"!!", 10), Err("not base64"));
        assert_eq!(unbase64_inflate(b"aGVsbG8=", 10), Err("not zlib"));
        assert!(contains(b"{\"jid\":\"abc\"}", b"abc"));
        assert!(!contains(b"{}", b""));
        assert_eq!(lines_of("a\n\n  b  \n"), vec!["a", "  b"]);
    }
}
