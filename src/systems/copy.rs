//! Copying a list into another list on another server, idempotently:
//! a job whose identity is already in the target is skipped. Identities
//! are 64-bit fingerprints (of the job id, or of the exact bytes of a
//! payload that is not JSON with an id), so a target of millions of jobs
//! costs 8 bytes per job, and the source is streamed in windows.

use crate::connect::Conn;
use redis::RedisResult;
use std::hash::BuildHasher;

/// Jobs read (and pushed) per round trip.
pub const WINDOW: i64 = 5_000;

/// The identity of a job: its `id` when it has one, else its bytes.
pub fn fingerprint(job: &[u8]) -> u64 {
    let h = foldhash::fast::FixedState::with_seed(0x7163_746c);
    match super::gowork::job_id(job) {
        Some(id) => h.hash_one((b'i', id.as_bytes())),
        None => h.hash_one((b'b', job)),
    }
}

/// The fingerprints of every job in `key`, sorted (binary search).
pub async fn fingerprints(conn: &Conn, key: &str) -> RedisResult<Vec<u64>> {
    let mut out = Vec::new();
    let mut off: i64 = 0;
    loop {
        let page: Vec<Vec<u8>> = conn
            .query(redis::cmd("LRANGE").arg(key).arg(off).arg(off + WINDOW - 1))
            .await?;
        out.extend(page.iter().map(|j| fingerprint(j)));
        if (page.len() as i64) < WINDOW {
            break;
        }
        off += WINDOW;
    }
    out.sort_unstable();
    Ok(out)
}

/// One window of the source, counted from the consumer end (the right):
/// window `n` holds the jobs at right-offsets `n*WINDOW ..`, oldest first.
pub async fn source_window(conn: &Conn, key: &str, n: i64) -> RedisResult<Vec<Vec<u8>>> {
    let off = n * WINDOW;
    let mut page: Vec<Vec<u8>> = conn
        .query(
            redis::cmd("LRANGE")
                .arg(key)
                .arg(-(off + WINDOW))
                .arg(-(off + 1)),
        )
        .await?;
    page.reverse();
    Ok(page)
}

/// Splits a window into the jobs to copy (in order) and the number already
/// in the target.
pub fn missing<'a>(window: &'a [Vec<u8>], existing: &[u64]) -> (Vec<&'a [u8]>, u64) {
    let mut dup = 0;
    let out = window
        .iter()
        .filter(|j| {
            let there = existing.binary_search(&fingerprint(j)).is_ok();
            dup += u64::from(there);
            !there
        })
        .map(Vec::as_slice)
        .collect();
    (out, dup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_id_or_the_bytes() {
        let a = br#"{"id":"j1","retries":0}"#;
        let b = br#"{"retries":3, "id":"j1"}"#;
        assert_eq!(fingerprint(a), fingerprint(b), "same id, same job");
        assert_ne!(fingerprint(a), fingerprint(br#"{"id":"j2"}"#));
        assert_ne!(fingerprint(b"not json"), fingerprint(b"not json "));
        assert_ne!(fingerprint(b"j1"), fingerprint(a));
        let existing = {
            let mut v = vec![fingerprint(a)];
            v.sort_unstable();
            v
        };
        let window = vec![b.to_vec(), b"x".to_vec()];
        let (out, dup) = missing(&window, &existing);
        assert_eq!(dup, 1);
        assert_eq!(out, vec![&b"x"[..]]);
    }
}
