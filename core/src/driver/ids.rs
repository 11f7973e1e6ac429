//! The public ids of Engine.IO sessions and Socket.IO sockets: 20
//! characters of base64url (as the reference server's), holding the
//! entity's slot and generation (so that a lookup costs no map) and 64
//! random bits (so that an id cannot be guessed from another).

use crate::event::{ConnId, IdKind, LoopTag, MAX_GENERATION};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The length of a session id, socket id or private id.
pub(super) const ID_LEN: usize = 20;

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

    /// A new id for the entity of `kind` in `slot`.
    pub fn next(&mut self, kind: IdKind, slot: usize) -> ConnId {
        self.generation = crate::event::next_generation(self.generation);
        ConnId::new(self.generation, kind, slot).tagged(self.tag)
    }

    pub fn tag(&self) -> LoopTag {
        self.tag
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
        let raw = id.raw();
        let mut bytes = [0u8; 15];
        bytes[..3].copy_from_slice(&(id.slot() as u32).to_be_bytes()[1..]);
        bytes[3..7].copy_from_slice(&((raw >> 32) as u32).to_be_bytes());
        bytes[7..].copy_from_slice(&self.random8());
        let mut text = [0u8; ID_LEN];
        let n = URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("15 bytes are 20 characters");
        debug_assert_eq!(n, ID_LEN);
        text
    }
}

/// The entity an id text names, if it is well formed: its `ConnId` of
/// `kind` on the loop `tag` names (the text does not carry the loop; the
/// caller still compares the whole text with the entity's).
pub(super) fn decode(text: &str, kind: IdKind, tag: LoopTag) -> Option<ConnId> {
    if text.len() != ID_LEN {
        return None;
    }
    let mut bytes = [0u8; 15];
    let n = URL_SAFE_NO_PAD.decode_slice(text, &mut bytes).ok()?;
    if n != 15 {
        return None;
    }
    let slot = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
    let generation = u32::from_be_bytes([bytes[3], bytes[4], bytes[5], bytes[6]]);
    let generation = generation & MAX_GENERATION;
    (generation != 0).then(|| ConnId::new(generation, kind, slot).tagged(tag))
}

/// The text of an id, for the protocol.
pub(super) fn as_str(text: &IdText) -> &str {
    std::str::from_utf8(text).expect("base64url is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_their_entity_and_differ() {
        let mut src = IdSource::default();
        let id = ConnId::new(77, IdKind::Socket, 12345);
        let a = src.make(id);
        let b = src.make(id);
        assert_ne!(a, b, "64 random bits each");
        let tag = LoopTag::default();
        assert_eq!(decode(as_str(&a), IdKind::Socket, tag), Some(id));
        assert_eq!(decode("short", IdKind::Socket, tag), None);
        assert_eq!(decode("!!!!!!!!!!!!!!!!!!!!", IdKind::Socket, tag), None);
        let on_loop_3 = ConnId::new(77, IdKind::Socket, 12345).tagged(LoopTag::new(3, 4));
        let text = src.make(on_loop_3);
        assert_eq!(
            decode(as_str(&text), IdKind::Socket, LoopTag::new(3, 4)),
            Some(on_loop_3)
        );
    }
}
