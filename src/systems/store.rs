//! The Redis types jobs live in, shared by the queue systems: a LIST of
//! payloads (go-redis-work-queue's queues, Sidekiq's `queue:<q>`) and a
//! ZSET of payloads scored by a time (Sidekiq's `schedule`, `retry`,
//! `dead`). Reads here; each system parses its own payloads.

use super::{Job, Peek};
use crate::connect::Conn;
use redis::RedisResult;

/// Up to `n` jobs of the list `key` without removing them. Position 0 is
/// what a consumer takes next (the right end); `from_end` starts at the
/// other end and keeps the numbering.
pub(crate) async fn peek_list(
    conn: &Conn,
    key: &str,
    n: u64,
    from_end: bool,
    parse: &(dyn Fn(&[u8]) -> Job + Sync),
) -> RedisResult<Peek> {
    let mut ty = redis::cmd("TYPE");
    ty.arg(key);
    let kind: String = conn.query(&ty).await?;
    if kind != "list" && kind != "none" {
        return Ok(Peek {
            length: 0,
            jobs: Vec::new(),
            wrong_type: Some(kind),
        });
    }
    if n == 0 {
        let mut llen = redis::cmd("LLEN");
        llen.arg(key);
        let length: u64 = conn.query(&llen).await?;
        return Ok(Peek {
            length,
            jobs: Vec::new(),
            wrong_type: None,
        });
    }
    let n = n.min(i64::MAX as u64) as i64;
    // A plain pipeline, not MULTI: a server at maxmemory refuses every
    // command queued in a transaction, reads too. One client's
    // pipeline runs back to back, so the length matches the range.
    let mut pipe = redis::pipe();
    pipe.cmd("LLEN").arg(key);
    if from_end {
        pipe.cmd("LRANGE").arg(key).arg(0).arg(n - 1);
    } else {
        pipe.cmd("LRANGE").arg(key).arg(-n).arg(-1);
    }
    let (length, items): (u64, Vec<Vec<u8>>) = {
        let v: Vec<redis::Value> = conn.pipe_slot(&pipe).await?;
        (
            redis::from_redis_value_ref(&v[0])?,
            redis::from_redis_value_ref(&v[1])?,
        )
    };
    let jobs = if from_end {
        // LRANGE 0.. starts at the left end: the last a consumer takes.
        items
            .iter()
            .enumerate()
            .map(|(i, b)| (length.saturating_sub(1 + i as u64), parse(b)))
            .collect()
    } else {
        items
            .iter()
            .rev()
            .enumerate()
            .map(|(i, b)| (i as u64, parse(b)))
            .collect()
    };
    Ok(Peek {
        length,
        jobs,
        wrong_type: None,
    })
}

/// Up to `n` members of the sorted set `key` with their scores, lowest
/// score first (position 0: the next to run, or the oldest dead);
/// `from_end` starts at the highest and keeps the numbering.
pub(crate) async fn peek_zset(
    conn: &Conn,
    key: &str,
    n: u64,
    from_end: bool,
    parse: &(dyn Fn(&[u8], f64) -> Job + Sync),
) -> RedisResult<Peek> {
    let kind: String = conn.query(redis::cmd("TYPE").arg(key)).await?;
    if kind != "zset" && kind != "none" {
        return Ok(Peek {
            length: 0,
            jobs: Vec::new(),
            wrong_type: Some(kind),
        });
    }
    let n = n.min(i64::MAX as u64) as i64;
    let mut pipe = redis::pipe();
    pipe.cmd("ZCARD").arg(key);
    if n > 0 {
        if from_end {
            pipe.cmd("ZRANGE")
                .arg(key)
                .arg(-n)
                .arg(-1)
                .arg("WITHSCORES");
        } else {
            pipe.cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(n - 1)
                .arg("WITHSCORES");
        }
    }
    let v: Vec<redis::Value> = conn.pipe_slot(&pipe).await?;
    let length: u64 = redis::from_redis_value_ref(&v[0])?;
    let items: Vec<(Vec<u8>, f64)> = match v.get(1) {
        Some(x) => redis::from_redis_value_ref(x)?,
        None => Vec::new(),
    };
    let jobs = if from_end {
        items
            .iter()
            .rev()
            .enumerate()
            .map(|(i, (b, score))| (length.saturating_sub(1 + i as u64), parse(b, *score)))
            .collect()
    } else {
        items
            .iter()
            .enumerate()
            .map(|(i, (b, score))| (i as u64, parse(b, *score)))
            .collect()
    };
    Ok(Peek {
        length,
        jobs,
        wrong_type: None,
    })
}
