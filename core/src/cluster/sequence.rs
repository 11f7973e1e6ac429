//! Sequenced publishes: a publish to a topic with history gets its event
//! id from Redis, so every server of the cluster sends it with the same id
//! and keeps it in the same order. One Lua script does the whole step
//! atomically:
//!
//! 1. the topic's epoch (kept in `wsrt:seq:<topic>`, chosen by the first
//!    publisher) and its next sequence number;
//! 2. `XADD` of the envelope to the capped stream `wsrt:h:<topic>` (the
//!    history in Redis: the count bound trims it, the age bound trims it
//!    and lets it expire when the topic goes quiet);
//! 3. `PUBLISH` of the envelope, prefixed with epoch and sequence
//!    ([`super::envelope::split_sequenced`]), to `wsrt:t:<topic>`.
//!
//! Every subscribed server, the publisher included, delivers it when it
//! comes back from Redis, so all of them agree on id and order.

use super::Remote;
use crate::event_id::{CLUSTER_EPOCH, SEQ_MAX};
use crate::pubsub::HistoryLimit;
use std::time::Duration;

/// KEYS: sequence hash, history stream, channel.
/// ARGV: epoch to use if the topic has none, most events (0: any), most
/// age in ms (0: any), envelope.
const SCRIPT: &str = r#"
local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or ARGV[1])
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if seq > tonumber(ARGV[5]) then
  -- Sequence numbers used up: a new epoch, and ids of the old one miss.
  epoch = ARGV[6] + (epoch + 1) % ARGV[6]
  seq = 1
  redis.call('HSET', KEYS[1], 'seq', 1)
  redis.call('DEL', KEYS[2])
end
redis.call('HSET', KEYS[1], 'epoch', epoch)
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[2], '*', 'seq', seq, 'at', ms, 'm', ARGV[4])
else
  redis.call('XADD', KEYS[2], '*', 'seq', seq, 'at', ms, 'm', ARGV[4])
end
local age = tonumber(ARGV[3])
if age > 0 then
  redis.call('XTRIM', KEYS[2], 'MINID', ms - age)
  redis.call('PEXPIRE', KEYS[2], age)
end
redis.call('PUBLISH', KEYS[3], '\2' .. string.format('%d:%d:', epoch, seq) .. ARGV[4])
return seq
"#;

/// Loads the script into Redis (again after a restart emptied its cache);
/// returns the SHA1 `EVALSHA` names it by.
pub(super) fn load(con: &mut redis::Connection) -> redis::RedisResult<String> {
    redis::cmd("SCRIPT").arg("LOAD").arg(SCRIPT).query(con)
}

pub(super) fn seq_key(topic: &str) -> String {
    format!("wsrt:seq:{topic}")
}

pub(super) fn history_key(topic: &str) -> String {
    format!("wsrt:h:{topic}")
}

/// An epoch to propose for a topic Redis has none for, from a random
/// number.
pub(super) fn proposed_epoch(random: u64) -> u64 {
    CLUSTER_EPOCH + random % CLUSTER_EPOCH
}

/// The events of an `XREVRANGE` of a topic's stream (newest first), oldest
/// first, each with its age; entries that do not read as ours are left
/// out.
pub(super) fn read_kept(epoch: u64, kept: &redis::Value) -> Vec<(Duration, Remote)> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let redis::Value::Array(entries) = kept else {
        return Vec::new();
    };
    let mut out: Vec<(Duration, Remote)> = entries
        .iter()
        .filter_map(|entry| {
            let redis::Value::Array(parts) = entry else {
                return None;
            };
            let redis::Value::Array(fields) = parts.get(1)? else {
                return None;
            };
            let field = |name: &[u8]| -> Option<&[u8]> {
                fields.chunks(2).find_map(|kv| match kv {
                    [redis::Value::BulkString(k), redis::Value::BulkString(v)] if k == name => {
                        Some(&v[..])
                    }
                    _ => None,
                })
            };
            let number = |name: &[u8]| -> Option<u64> {
                std::str::from_utf8(field(name)?).ok()?.parse().ok()
            };
            let id = crate::event_id::cluster_id(epoch, number(b"seq")?)?;
            let age = Duration::from_millis(now_ms.saturating_sub(number(b"at")?));
            let e = super::envelope::decode(field(b"m")?).ok()?;
            // A replay excludes no one.
            Some((age, e.to_remote(None, Some(id), false)))
        })
        .collect();
    out.reverse();
    out
}

/// Adds one run of the script to `pipe`.
pub(super) fn add_to(
    pipe: &mut redis::Pipeline,
    sha: &str,
    topic: &str,
    channel: &str,
    epoch: u64,
    limit: HistoryLimit,
    envelope: &[u8],
) {
    pipe.cmd("EVALSHA")
        .arg(sha)
        .arg(3)
        .arg(seq_key(topic))
        .arg(history_key(topic))
        .arg(channel)
        .arg(epoch)
        .arg(limit.max_events)
        .arg(limit.max_age.as_millis() as u64)
        .arg(envelope)
        .arg(SEQ_MAX)
        .arg(CLUSTER_EPOCH)
        .ignore();
}
