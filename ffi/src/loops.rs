//! One poll per loop, for thread-per-core programs: a server with several
//! loops (WSRT_OPT_WORKERS) is split into one wsrt_loop per loop, each
//! polled by a thread of the program's own; calls on connections go
//! through a wsrt_handle (thread-safe, any loop's connection).

use crate::conv::{arg, arg_mut, free_boxed, out_ptr};
use crate::error::{guard, guard_value, wsrt_result};
use crate::handle::wsrt_handle;
use crate::server::{timeout, wsrt_event, wsrt_server, Batch};
use wsrt::LoopPoller;

/// Opaque: one loop of a split server. Made by wsrt_server_split, freed
/// with wsrt_loop_free. Used from one thread at a time (each loop from a
/// thread of its own is the point).
pub struct wsrt_loop {
    poller: LoopPoller,
    batch: Batch,
}

/// Splits a server into its loops (WSRT_OPT_WORKERS of them; one without
/// the option): instead of wsrt_server_poll, which merges every loop's
/// batches onto one thread, each wsrt_loop is polled by a thread of the
/// program's own and hands it that loop's events. Replies and other calls
/// go through a wsrt_handle (wsrt_loop_handle), which reaches any loop.
/// On success `server` is freed (its loops live on in the wsrt_loops) and
/// `loops[0..*count]` are set; fails with WSRT_ERR_INVALID_ARGUMENT if
/// `capacity` is below the loop count (nothing changes then; see
/// wsrt_server_loop_count). The loops stay open until each is freed.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_split(
    server: *mut wsrt_server,
    loops: *mut *mut wsrt_loop,
    capacity: usize,
    count: *mut usize,
) -> wsrt_result {
    guard(|| {
        let count = out_ptr(count, "count")?;
        *count = 0;
        let n = arg_mut(server, "server")?.server.loop_count();
        if loops.is_null() {
            return Err(wsrt::Error::invalid("loops is NULL"));
        }
        if capacity < n {
            return Err(wsrt::Error::invalid(format!(
                "the server has {n} loops; capacity is {capacity}"
            )));
        }
        let owned = Box::from_raw(server);
        let pollers = owned.into_server().into_loop_pollers()?;
        for (i, poller) in pollers.into_iter().enumerate() {
            let l = Box::new(wsrt_loop {
                poller,
                batch: Batch::default(),
            });
            *loops.add(i) = Box::into_raw(l);
        }
        *count = n;
        Ok(())
    })
}

/// How many loops the server runs (WSRT_OPT_WORKERS resolved: 0 is one
/// per usable core); 0 if `server` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_server_loop_count(server: *const wsrt_server) -> usize {
    guard_value(0, || {
        arg(server, "server").map_or(0, |s| s.server.loop_count())
    })
}

/// Closes the loop (its listener and connections; use wsrt_handle_shutdown
/// first for a graceful end) and frees it and the events it handed out.
/// NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_free(lp: *mut wsrt_loop) {
    free_boxed(lp)
}

/// Which loop this is: the loop of every connection whose events it
/// hands out (0 to the loop count - 1); 0 if `lp` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_index(lp: *const wsrt_loop) -> usize {
    guard_value(0, || arg(lp, "loop").map_or(0, |l| l.poller.index()))
}

/// Runs the loop once, as wsrt_server_poll does for a whole server:
/// waits up to `timeout_ms` (-1: until something happens) and handles what
/// arrived; `*events` points at `*count` events of this loop, valid until
/// the next wsrt_loop_poll or wsrt_loop_free of this loop.
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_poll(
    lp: *mut wsrt_loop,
    timeout_ms: i32,
    events: *mut *const wsrt_event,
    count: *mut usize,
) -> wsrt_result {
    guard(|| {
        let l = arg_mut(lp, "loop")?;
        let (events, count) = l.batch.outputs(events, count)?;
        l.poller.poll(l.batch.events(), timeout(timeout_ms))?;
        (*events, *count) = l.batch.convert();
        Ok(())
    })
}

/// The loop's descriptor for a host event loop: readable when
/// wsrt_loop_poll has work (honour wsrt_loop_next_timeout_ms too); -1 if
/// `lp` is NULL or the loop is closed.
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_fd(lp: *const wsrt_loop) -> i32 {
    guard_value(-1, || {
        arg(lp, "loop").map_or(-1, |l| l.poller.raw_fd().unwrap_or(-1))
    })
}

/// Milliseconds until the loop's next timer (rounded up), or -1 if none
/// (or `lp` is NULL).
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_next_timeout_ms(lp: *const wsrt_loop) -> i64 {
    guard_value(-1, || {
        arg(lp, "loop")
            .ok()
            .and_then(|l| l.poller.next_timeout())
            .map_or(-1, |d| {
                d.as_nanos().div_ceil(1_000_000).min(i64::MAX as u128) as i64
            })
    })
}

/// True once a shutdown (wsrt_handle_shutdown reaches every loop) has
/// ended this loop's connections; true if `lp` is NULL.
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_is_finished(lp: *const wsrt_loop) -> bool {
    guard_value(true, || {
        arg(lp, "loop").map_or(true, |l| l.poller.is_finished())
    })
}

/// A handle for calls on any loop's connections and topics, from any
/// thread (see wsrt_handle); NULL if `lp` is NULL. Free it with
/// wsrt_handle_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_loop_handle(lp: *const wsrt_loop) -> *mut wsrt_handle {
    guard_value(std::ptr::null_mut(), || match arg(lp, "loop") {
        Ok(l) => Box::into_raw(Box::new(wsrt_handle::new(l.poller.handle()))),
        Err(_) => std::ptr::null_mut(),
    })
}
