//! The Redis CONFIG parameters `replicate --what config` may align (and
//! shell completion offers).

/// The parameters `--what config` aligns by default (Redis 7 names).
pub(crate) const ALLOW_LIST: &[&str] = &[
    "maxmemory-policy",
    "maxmemory-samples",
    "maxmemory-eviction-tenacity",
    "timeout",
    "tcp-keepalive",
    "notify-keyspace-events",
    "hz",
    "dynamic-hz",
    "active-expire-effort",
    "lazyfree-lazy-eviction",
    "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del",
    "lazyfree-lazy-user-del",
    "lazyfree-lazy-user-flush",
    "replica-lazy-flush",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-monitor-threshold",
    "busy-reply-threshold",
    "list-max-listpack-size",
    "list-compress-depth",
];

/// Aligned only when named exactly with `--config-param`.
pub(crate) const NAMED_ONLY: &[&str] = &["maxmemory"];
