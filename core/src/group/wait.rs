//! The two waits of a group: a worker on its loop's epoll descriptor
//! (outside the loop's lock, so that the application can reach the loop
//! meanwhile), the application on the eventfd its batches signal.

use std::os::fd::RawFd;
use std::time::Duration;

/// Waits until `fd` is readable or `timeout` passes (`None`: no limit).
/// A signal ends the wait early; callers look again either way.
pub(super) fn wait_readable(fd: RawFd, timeout: Option<Duration>) {
    let ms = match timeout {
        None => -1,
        // Rounded up: a timer due in 0.3 ms must not spin.
        Some(t) => t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32,
    };
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call's duration.
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
}

/// A non-blocking eventfd, readable while signalled.
pub(super) struct EventFd(RawFd);

impl EventFd {
    pub fn new() -> std::io::Result<EventFd> {
        // SAFETY: no pointers; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        match fd {
            -1 => Err(std::io::Error::last_os_error()),
            fd => Ok(EventFd(fd)),
        }
    }

    pub fn raw(&self) -> RawFd {
        self.0
    }

    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: eight bytes from a live u64. A full counter (2^64 - 2
        // signals unread) cannot happen: it is drained as batches go.
        unsafe {
            libc::write(self.0, (&one as *const u64).cast(), 8);
        }
    }

    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: eight bytes into a live u64; EAGAIN when not signalled.
        unsafe {
            libc::read(self.0, (&mut v as *mut u64).cast(), 8);
        }
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is ours and closed once.
        unsafe {
            libc::close(self.0);
        }
    }
}
