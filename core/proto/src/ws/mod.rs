//! The WebSocket frame decoder (the receiving half of RFC 6455 §5). The
//! connection logic around it (close handshake, pings, compression,
//! sending) is in [`crate::Connection`].

mod receiver;

pub use receiver::*;
