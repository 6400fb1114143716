//! Redis Cluster hash slots, and names for keys qctl creates next to a
//! user's key (DLQ backups, requeue staging lists, locks, receipts) so that
//! they live in the same hash slot: multi-key steps on them (RENAME, a Lua
//! script, MULTI/EXEC) then work on Redis Cluster as on a single server.

/// CRC16/XMODEM, the checksum Redis Cluster hashes keys with.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` Redis Cluster hashes: the text between the first `{`
/// and the next `}` when that is not empty, else the whole key.
pub(crate) fn hash_tag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|b| *b == b'{')?;
    let close = key[open + 1..].iter().position(|b| *b == b'}')?;
    if close == 0 {
        return None;
    }
    Some(&key[open + 1..open + 1 + close])
}

/// The hash slot of `key` (0..16384).
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key).unwrap_or(key)) % 16384
}

/// A key named after `key` with `suffix`, in the same hash slot:
/// `{jobqueue:dead_letter}:qctl-backup:...` for a key without a hash tag,
/// `{jobqueue}:dead_letter:qctl-backup:...` for one with a tag (the tag is
/// kept). A key that has no tag but contains `}` (so cannot be wrapped)
/// gets a short tag found to hash to the same slot.
pub(crate) fn sibling_key(key: &str, suffix: &str) -> String {
    if hash_tag(key.as_bytes()).is_some() {
        return format!("{key}:{suffix}");
    }
    if !key.is_empty() && !key.contains('}') {
        return format!("{{{key}}}:{suffix}");
    }
    let slot = key_slot(key.as_bytes());
    let tag = (0u32..)
        .map(|n| format!("qctl-slot-{n}"))
        .find(|t| key_slot(t.as_bytes()) == slot)
        .expect("every slot is reached by some tag");
    format!("{{{tag}}}{key}:{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from CLUSTER KEYSLOT on Redis 7.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(
            key_slot(b"jobqueue:dead_letter"),
            key_slot(b"{jobqueue:dead_letter}:x")
        );
        assert_eq!(
            key_slot(b"{user1000}.following"),
            key_slot(b"{user1000}.followers")
        );
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_eq!(hash_tag(b"foo{}{bar}"), None);
        assert_eq!(hash_tag(b"foo{{bar}}zap"), Some(&b"{bar"[..]));
    }

    #[test]
    fn siblings_share_the_slot() {
        for key in [
            "jobqueue:dead_letter",
            "{jobqueue}:dead_letter",
            "a{}b",
            "x}y",
            "weird{",
            "",
        ] {
            let s = sibling_key(key, "qctl-backup:20261123T101500Z-1");
            assert_eq!(
                key_slot(s.as_bytes()),
                key_slot(key.as_bytes()),
                "{key} -> {s}"
            );
            assert!(s.ends_with(":qctl-backup:20261123T101500Z-1"));
        }
        assert_eq!(
            sibling_key("jobqueue:dead_letter", "qctl-backup:1"),
            "{jobqueue:dead_letter}:qctl-backup:1"
        );
        assert_eq!(
            sibling_key("{jobqueue}:dead_letter", "qctl-backup:1"),
            "{jobqueue}:dead_letter:qctl-backup:1"
        );
    }
}
