//! The numbers SSE clients hold as `Last-Event-ID`: `epoch << 33 | seq`,
//! 53 bits in all, so an id is exact as a JavaScript number (and in JSON).
//!
//! Two kinds share the layout and never collide, because the top bit of
//! the 20-bit epoch tells them apart:
//!
//! - a server's own ids (a topic with history on one server): the epoch is
//!   a random tag of the server instance, top bit clear;
//! - a cluster's ids (a topic with history, published through Redis): the
//!   epoch belongs to the topic in Redis, top bit set.
//!
//! An id from another epoch (another instance, an earlier run, a Redis that
//! lost its data) is recognised as a miss instead of being matched to a
//! different event that happens to have the same sequence number.

pub(crate) const SEQ_BITS: u32 = 33;
pub(crate) const SEQ_MAX: u64 = (1 << SEQ_BITS) - 1;
const EPOCH_BITS: u32 = 20;
/// Epochs at or above this are a cluster's.
pub(crate) const CLUSTER_EPOCH: u64 = 1 << (EPOCH_BITS - 1);
/// A server's own tags are below [`CLUSTER_EPOCH`].
pub(crate) const LOCAL_TAG_MAX: u64 = CLUSTER_EPOCH - 1;

pub(crate) fn epoch(id: u64) -> u64 {
    id >> SEQ_BITS
}

/// The id of a cluster event, or `None` outside the cluster's range.
pub(crate) fn cluster_id(epoch: u64, seq: u64) -> Option<u64> {
    let ok = (CLUSTER_EPOCH..2 * CLUSTER_EPOCH).contains(&epoch) && (1..=SEQ_MAX).contains(&seq);
    ok.then_some(epoch << SEQ_BITS | seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_fit_a_javascript_number_and_never_meet_local_ones() {
        let top = cluster_id(2 * CLUSTER_EPOCH - 1, SEQ_MAX).unwrap();
        assert!(top < 1 << 53);
        let local_top = LOCAL_TAG_MAX << SEQ_BITS | SEQ_MAX;
        assert!(local_top < cluster_id(CLUSTER_EPOCH, 1).unwrap());
        assert_eq!(cluster_id(LOCAL_TAG_MAX, 1), None);
        assert_eq!(cluster_id(CLUSTER_EPOCH, 0), None);
        assert_eq!(cluster_id(2 * CLUSTER_EPOCH, 1), None);
        let id = cluster_id(CLUSTER_EPOCH + 3, 77).unwrap();
        assert_eq!((epoch(id), id & SEQ_MAX), (CLUSTER_EPOCH + 3, 77));
    }
}
