//! The public ids of Engine.IO sessions and Socket.IO sockets: 22
//! characters of base64url, holding the entity's whole `ConnId` (its loop,
//! slot and generation: a lookup costs no map, and a request that reaches
//! another loop of the server knows which loop to hand it to) and 64
//! random bits (so that an id cannot be guessed from another).

use crate::event::{ConnId, IdKind, LoopTag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The length of a session id, socket id or private id.
pub(super) const ID_LEN: usize = 22;

/// A session id, socket id or private session id as text.
pub(super) type IdText = [u8; ID_LEN];

/// Makes the ids of one loop: each new entity gets the next generation,
/// and every id carries the loop's tag.
#[derive(Default)]
pub(crate) struct IdCounter {
    generation: u32,
    tag: LoopTag,
}

impl IdCounter {
    pub fn new(tag: LoopTag) -> IdCounter {
        IdCounter { generation: 0, tag }
    }

    /// The loop these ids are made for.
    pub fn loop_index(&self) -> usize {
        self.tag.index()
    }

    /// A new id for the entity of `kind` in `slot`.
    pub fn next(&mut self, kind: IdKind, slot: usize) -> ConnId {
        self.generation = crate::event::next_generation(self.generation);
        ConnId::new(self.generation, kind, slot).tagged(self.tag)
    }
}

/// Random bytes from the OS, fetched a few hundred at a time.
#[derive(Default)]
pub(super) struct IdSource {
    pool: Vec<u8>,
}

impl IdSource {
    fn random8(&mut self) -> [u8; 8] {
        if self.pool.len() < 8 {
            self.pool.resize(512, 0);
            if getrandom::fill(&mut self.pool).is_err() {
                // No OS randomness: ids stay unique (slot and generation)
                // but become guessable; this does not happen on Linux.
                self.pool.iter_mut().for_each(|b| *b = 0);
            }
        }
        let mut r = [0u8; 8];
        r.copy_from_slice(&self.pool[self.pool.len() - 8..]);
        self.pool.truncate(self.pool.len() - 8);
        r
    }

    /// A new id text for the entity `id`.
    pub fn make(&mut self, id: ConnId) -> IdText {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&id.raw().to_be_bytes());
        bytes[8..].copy_from_slice(&self.random8());
        let mut text = [0u8; ID_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("16 bytes are 22 characters");
        debug_assert_eq!(n, ID_LEN);
        text
    }
}

/// The entity an id text names, if it is well formed: its `ConnId`, of
/// `kind` (the caller still compares the whole text with the entity's).
pub(super) fn decode(text: &str, kind: IdKind) -> Option<ConnId> {
    if text.len() != ID_LEN {
        return None;
    }
    let mut bytes = [0u8; 16];
    let n = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
    if n != 16 {
        return None;
    }
    let raw = u64::from_be_bytes(bytes[..8].try_into().expect("eight bytes"));
    let id = ConnId::from_raw(raw);
    (raw >> 32 != 0 && id.kind() == kind).then_some(id)
}

/// The text of an id, for the protocol.
pub(super) fn as_str(text: &IdText) -> &str {
    std::str::from_utf8(text).expect("base64url is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_entity_and_loop_and_differ() {
        let mut src = IdSource::default();
        let id = ConnId::new(77, IdKind::Socket, 12345);
        let a = src.make(id);
        let b = src.make(id);
        assert_ne!(a, b, "64 random bits each");
        assert_eq!(decode(as_str(&a), IdKind::Socket), Some(id));
        assert_eq!(decode(as_str(&a), IdKind::Session), None, "another kind");
        assert_eq!(decode("short", IdKind::Socket), None);
        assert_eq!(decode("!!!!!!!!!!!!!!!!!!!!!!", IdKind::Socket), None);
        let on_loop_3 = ConnId::new(77, IdKind::Session, 9).tagged(LoopTag::new(3, 4));
        let text = src.make(on_loop_3);
        let back = decode(as_str(&text), IdKind::Session).unwrap();
        assert_eq!((back, back.loop_index()), (on_loop_3, 3));
    }
}
