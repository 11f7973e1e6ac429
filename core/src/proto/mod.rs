//! Sans-I/O protocol codecs: bytes in, events and bytes out. Nothing here
//! touches a socket, a clock or a thread, so all of it is unit-tested and
//! property-tested on its own.

pub mod deflate;
pub mod frame;
pub mod http;
pub mod mask;
pub mod sse;
pub mod utf8;
pub mod ws;
