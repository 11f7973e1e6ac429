//! A connection's transport: a TCP socket, or TLS over one.
//!
//! TLS is rustls driven by the loop's readiness like everything else: the
//! loop reads ciphertext into its one read buffer (one syscall for up to
//! 64 KiB), hands it to rustls here and takes the plaintext out; writes
//! hand the write queue's slices to rustls in one call, which seals them
//! into as few records as their size needs, and write those with `writev`.
//! A plain connection pays one enum match per read and per flush.

use super::writeq::{BufferPool, WriteQueue};
use crate::tls::TlsInfo;
use mio::net::TcpStream;
use rustls::{ServerConfig, ServerConnection};
use std::io::{self, IoSlice, Write};
use std::net::Shutdown;
use std::sync::Arc;

pub(super) enum Stream {
    Plain(TcpStream),
    /// Boxed: an idle plain connection should not carry TLS state's size.
    Tls(Box<TlsStream>),
}

pub(super) struct TlsStream {
    tcp: TcpStream,
    tls: ServerConnection,
    /// No byte has come yet: the first tells a TLS client from a plain
    /// HTTP one.
    fresh: bool,
    /// The handshake completed (counted once).
    established: bool,
    /// close_notify is queued.
    closing: bool,
}

/// What a TLS connection's received bytes gave.
pub(super) enum TlsInput {
    /// Plaintext, this much of it in the buffer.
    Data(usize),
    /// The peer sent close_notify: the end of its data.
    Closed,
}

/// Why a TLS connection is refused.
pub(super) enum TlsFailure {
    /// The client spoke something else first (plain HTTP on a TLS port).
    NotTls,
    /// rustls refused the handshake or a record; an alert is queued.
    Refused(rustls::Error),
}

impl Stream {
    pub fn tls(tcp: TcpStream, config: &Arc<ServerConfig>) -> io::Result<Stream> {
        let tls = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
        Ok(Stream::Tls(Box::new(TlsStream {
            tcp,
            tls,
            fresh: true,
            established: false,
            closing: false,
        })))
    }

    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.tcp,
        }
    }

    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &mut t.tcp,
        }
    }

    /// Whether this is a TLS connection whose handshake never completed.
    pub fn tls_unfinished(&self) -> bool {
        matches!(self, Stream::Tls(t) if !t.established)
    }

    /// The handshake's outcome for the request (`None` for plain TCP).
    pub fn tls_info(&self) -> Option<TlsInfo> {
        match self {
            Stream::Tls(t) if t.established => Some(TlsInfo::of(&t.tls)),
            _ => None,
        }
    }

    /// Writes the queue out. `Ok(true)` once everything, TLS records
    /// included, is with the kernel; `Ok(false)` when the socket is full.
    pub fn flush(&mut self, queue: &mut WriteQueue, pool: &mut BufferPool) -> io::Result<bool> {
        match self {
            Stream::Plain(s) => queue.flush(s, pool),
            Stream::Tls(t) => Ok(queue.flush(&mut **t, pool)? && t.write_sealed()?),
        }
    }

    /// Ends our side after a full flush: TLS first queues close_notify and
    /// waits until it is written. `Ok(false)`: not yet (the socket is
    /// full; the next writable edge flushes again).
    pub fn close_write(&mut self) -> io::Result<bool> {
        if let Stream::Tls(t) = self {
            if !t.closing {
                t.closing = true;
                t.tls.send_close_notify();
            }
            if !t.write_sealed()? {
                return Ok(false);
            }
        }
        // The peer may be gone already; then there is nothing to end.
        let _ = self.tcp().shutdown(Shutdown::Write);
        Ok(true)
    }
}

impl TlsStream {
    /// Hands received ciphertext to rustls, one piece at a time, and
    /// collects the plaintext into `plain`, growing it as needed.
    /// Returns the plaintext's length, or `Closed` once close_notify came.
    /// `Ok(true)` in the second field: the handshake completed now.
    pub fn receive(
        &mut self,
        mut cipher: &[u8],
        plain: &mut Vec<u8>,
    ) -> Result<(TlsInput, bool), TlsFailure> {
        if std::mem::take(&mut self.fresh) && cipher.first() != Some(&0x16) {
            // Not a handshake record: every TLS client starts with one.
            return Err(TlsFailure::NotTls);
        }
        let mut filled = 0;
        let mut closed = false;
        while !cipher.is_empty() {
            // A slice reader: a copy, no syscall. Never refused for a full
            // plaintext buffer: it is emptied after every piece.
            if self.tls.read_tls(&mut cipher).is_err() {
                break;
            }
            let state = self
                .tls
                .process_new_packets()
                .map_err(TlsFailure::Refused)?;
            // All of it, always: a piece can complete a record whose start
            // came with an earlier read, so there can be more plaintext
            // than the ciphertext handed in here. Whatever stayed inside
            // rustls would wait for a readable edge that never comes, the
            // socket being drained.
            let end = filled + state.plaintext_bytes_to_read();
            if plain.len() < end {
                plain.resize(end, 0);
            }
            // Cannot block: rustls holds exactly this much (read in a loop
            // all the same, in case a read stops at a record's end).
            while filled < end {
                match io::Read::read(&mut self.tls.reader(), &mut plain[filled..end]) {
                    Ok(n) if n > 0 => filled += n,
                    _ => break,
                }
            }
            if state.peer_has_closed() {
                // rustls takes no more ciphertext after close_notify: the
                // rest of `cipher` would never shrink.
                closed = true;
                break;
            }
        }
        let now_established = !self.established && !self.tls.is_handshaking();
        self.established |= now_established;
        let input = match (filled, closed) {
            (0, true) => TlsInput::Closed,
            (n, _) => TlsInput::Data(n),
        };
        Ok((input, now_established))
    }

    /// Whether rustls has records (handshake, alerts) to send.
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Writes the records rustls has sealed. `Ok(true)`: none left.
    fn write_sealed(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Best effort, once: the alert rustls queued for a refused handshake,
    /// or a plain-text answer for a plain HTTP client, before the socket
    /// is dropped.
    pub fn send_refusal(&mut self, failure: &TlsFailure) {
        match failure {
            TlsFailure::Refused(_) => {
                let _ = self.write_sealed();
            }
            TlsFailure::NotTls => {
                let body = "This port speaks TLS: use https:// or wss://.\n";
                let answer = format!(
                    "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = self.tcp.write(answer.as_bytes());
            }
        }
    }
}

/// The write queue's view of a TLS connection: plaintext goes in, sealed
/// records go out with `writev`.
impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // Records already sealed go first: rustls holds at most one batch
        // (its buffer limit), so what waits stays in our queue, counted
        // for backpressure. Nothing is sealed before the handshake ends.
        if self.tls.is_handshaking() || !self.write_sealed()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.tls.writer().write_vectored(bufs)?;
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.write_sealed()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
