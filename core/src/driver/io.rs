//! Moving bytes: reading into the loop's buffer and handing it to the
//! protocol, and writing queues out with `writev`.

use super::stream::{Stream, TlsFailure, TlsInput};
use super::{Driver, READ_BUDGET, READ_BUDGET_BYTES};
use crate::event::{Event, EventType};
use std::io::{self, Read};

/// The most ciphertext read at once from a TLS connection.
const TLS_READ: usize = 64 * 1024;

impl Driver {
    /// Reads what the socket has. `hung_up`: the readiness event said the
    /// peer shut its side, so read on to EOF even after a short read (that
    /// FIN will not be reported again by edge-triggered epoll).
    pub(super) fn on_readable(&mut self, slot: usize, hung_up: bool) {
        let pause = self.config.read_pause_buffered;
        if let Some(conn) = self.conns.get_mut(slot) {
            // Remembered: if reading is paused now, the resumed read must
            // still go on to the EOF this edge announced.
            conn.hung_up |= hung_up;
        }
        let mut read = 0;
        for _ in 0..READ_BUDGET {
            if read >= READ_BUDGET_BYTES {
                break;
            }
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            let waiting = !conn.proto.wants_input();
            if waiting || (pause != 0 && conn.out.len() > pause) {
                conn.read_ready = true;
                if waiting {
                    // Nothing is read while the app decides, but a client
                    // that hangs up must still be noticed: otherwise the app
                    // hears of it only after the handshake timeout.
                    let mut probe = [0u8; 1];
                    match conn.socket.tcp().peek(&mut probe) {
                        Ok(0) => self.on_eof(slot),
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                            ) => {}
                        Err(_) => self.end(slot, 1006, "connection reset"),
                    }
                }
                return;
            }
            let mut buf = self.read_blocks.take();
            // Within the turn's budget; TLS records are decrypted into a
            // buffer of their own, kept to the size a read had before.
            let cap = match conn.socket {
                Stream::Tls(_) => TLS_READ,
                Stream::Plain(_) => READ_BUDGET_BYTES - read,
            };
            let room = buf.len().min(cap);
            let result = conn.socket.tcp_mut().read(&mut buf[..room]);
            match result {
                Ok(0) => {
                    self.read_blocks.put_back(buf, 0, false);
                    self.on_eof(slot);
                    return;
                }
                Ok(n) => {
                    read += n;
                    conn.read_ready = false;
                    if matches!(conn.socket, Stream::Tls(_)) {
                        let went_on = self.receive_tls(slot, &buf[..n]);
                        self.read_blocks.put_back(buf, n, false);
                        if !went_on {
                            return;
                        }
                    } else {
                        // Payloads the protocol hands out from these bytes
                        // are lent to the batch (see `Events::store`).
                        self.events.lend_from(&buf[..n]);
                        self.with_proto(slot, |c, cx| c.handle_read(&mut buf[..n], cx));
                        let lent = self.events.end_lending();
                        if let Some(part) = self.read_blocks.put_back(buf, n, lent) {
                            self.events.set_lent_part(part);
                        }
                    }
                    if n < room && !self.conns.get(slot).is_some_and(|c| c.hung_up) {
                        // A short read drained the socket; epoll will report
                        // new bytes as a new edge.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.read_blocks.put_back(buf, 0, false);
                    conn.read_ready = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.read_blocks.put_back(buf, 0, false);
                }
                Err(_) => {
                    self.read_blocks.put_back(buf, 0, false);
                    self.end(slot, 1006, "connection reset");
                    return;
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.read_ready = true;
            self.resume.push(slot);
        }
    }

    /// Ciphertext read from a TLS connection: its plaintext goes to the
    /// protocol as one read would, handshake records are queued for the
    /// flush. False when the connection is done with reading (refused,
    /// closed).
    fn receive_tls(&mut self, slot: usize, cipher: &[u8]) -> bool {
        let mut plain = std::mem::take(&mut self.tls_plain);
        let Stream::Tls(t) = &mut self.conns[slot].socket else {
            unreachable!("receive_tls is for TLS connections")
        };
        let received = t.receive(cipher, &mut plain);
        let wants_write = t.wants_write();
        let went_on = match received {
            Ok((input, established)) => {
                self.tls_counters.handshakes += established as u64;
                if wants_write {
                    self.mark_dirty(slot);
                }
                match input {
                    TlsInput::Data(0) => true,
                    TlsInput::Data(n) => {
                        self.with_proto(slot, |c, cx| c.handle_read(&mut plain[..n], cx));
                        self.conns.contains(slot)
                    }
                    TlsInput::Closed => {
                        self.on_eof(slot);
                        false
                    }
                }
            }
            Err(failure) => {
                t.send_refusal(&failure);
                let reason = match &failure {
                    TlsFailure::NotTls => "TLS: not a TLS client".to_string(),
                    TlsFailure::Refused(e) => format!("TLS: {e}"),
                };
                self.end(slot, 1006, &reason);
                false
            }
        };
        self.tls_plain = plain;
        went_on
    }

    fn on_eof(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.peer_eof = true;
        conn.read_ready = false;
        self.with_proto(slot, |c, cx| c.handle_eof(cx));
        // Try once to get the last bytes out (an error answer, a close
        // echo): the peer may only have shut its sending side.
        if self.conns.contains(slot) {
            self.flush_slot(slot);
        }
    }

    pub(super) fn flush_dirty(&mut self) {
        let mut i = 0;
        while i < self.dirty.len() {
            let slot = self.dirty[i];
            if let Some(c) = self.conns.get_mut(slot) {
                c.dirty = false;
                self.flush_slot(slot);
            }
            i += 1;
        }
        self.dirty.clear();
    }

    /// Writes what the socket takes; handles FIN, drain, the end of a
    /// lingering connection and read resumption.
    pub(super) fn flush_slot(&mut self, slot: usize) {
        let pause = self.config.read_pause_buffered;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        match conn.socket.flush(&mut conn.out, &mut self.pool) {
            Ok(true) => {
                if conn.wants_drain {
                    conn.wants_drain = false;
                    if conn.proto.is_live() {
                        let ev = Event::new(EventType::Drain, conn.id, conn.user_data);
                        self.events.push(ev);
                    }
                }
                if !conn.write_shut && conn.proto.fin_after_flush() {
                    match conn.socket.close_write() {
                        Ok(true) => conn.write_shut = true,
                        // close_notify waits for a writable edge.
                        Ok(false) => return,
                        Err(_) => return self.end(slot, 1006, "write failed"),
                    }
                }
                if conn.peer_eof && (conn.write_shut || conn.proto.is_lingering()) {
                    // Both sides are done and everything is written.
                    return self.end(slot, 1006, "");
                }
                if conn.read_ready {
                    self.resume.push(slot);
                }
            }
            Ok(false) => {
                conn.out.unpin();
                conn.wants_drain = true;
                if conn.read_ready && (pause == 0 || conn.out.len() <= pause) {
                    self.resume.push(slot);
                }
            }
            Err(_) => self.end(slot, 1006, "write failed"),
        }
    }

    pub(super) fn run_resumed(&mut self) {
        if self.resume.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.resume);
        // A slot can be pushed more than once in a turn (its read budget ran
        // out, then a flush emptied its queue); it gets one budget per turn.
        list.sort_unstable();
        list.dedup();
        for &slot in &list {
            if self.conns.get(slot).is_some_and(|c| c.read_ready) {
                self.on_readable(slot, false);
            }
        }
        list.clear();
        if self.resume.is_empty() {
            self.resume = list; // keep the allocation
        }
    }
}
