//! Socket options the generator (and the soak client, which compiles this
//! file in) sets that std does not offer.

use std::os::fd::AsRawFd;

/// SO_LINGER 0: closing the socket resets the connection (RST) instead of
/// a clean FIN, as a client that vanishes would.
pub fn set_linger_zero(sock: &impl AsRawFd) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a descriptor the caller owns, with a correctly
    // sized value.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&l as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}
