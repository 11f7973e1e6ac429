//! libuv glue, on the JavaScript thread: a `uv_poll` on the core's epoll
//! descriptor and a `uv_timer` for its deadlines, on the loop Node-API hands
//! out. Node exports libuv's symbols to addons; handle sizes come from
//! `uv_handle_size`, so no libuv struct layout is assumed.

use napi::sys;
use std::ffi::{c_int, c_void};
use std::ptr::null_mut;
use std::time::Duration;

const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
const UV_READABLE: c_int = 1;

/// Room for a `uv_poll_t` or a `uv_timer_t` (checked at start).
type Handle = [u64; 64];
type Cb = unsafe extern "C" fn(*mut Handle);
type PollCb = unsafe extern "C" fn(*mut Handle, c_int, c_int);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut sys::uv_loop_s, h: *mut Handle, fd: c_int) -> c_int;
    fn uv_poll_start(h: *mut Handle, events: c_int, cb: PollCb) -> c_int;
    fn uv_poll_stop(h: *mut Handle) -> c_int;
    fn uv_timer_init(lp: *mut sys::uv_loop_s, h: *mut Handle) -> c_int;
    fn uv_timer_start(h: *mut Handle, cb: Cb, timeout: u64, repeat: u64) -> c_int;
    fn uv_timer_stop(h: *mut Handle) -> c_int;
    fn uv_close(h: *mut Handle, cb: Cb);
    fn uv_handle_set_data(h: *mut Handle, data: *mut c_void);
    fn uv_handle_get_data(h: *const Handle) -> *mut c_void;
    fn uv_strerror(err: c_int) -> *const std::ffi::c_char;
}

/// The handles and what their callbacks need; freed once the `Watch` is
/// gone and both handles have closed, whichever comes last.
struct State {
    poll: Handle,
    timer: Handle,
    env: sys::napi_env,
    callback: sys::napi_ref,
    async_ctx: sys::napi_async_context,
    /// Handles not yet closed, plus one while the `Watch` exists.
    refs: u8,
    stopped: bool,
}

/// Owner of the watch (held by `NativeServer`).
pub struct Watch(*mut State);

fn check(st: sys::napi_status) -> Result<(), String> {
    match st {
        sys::Status::napi_ok => Ok(()),
        _ => Err(format!(
            "setting up the libuv watch failed (napi status {st})"
        )),
    }
}

impl Watch {
    /// # Safety
    /// `env` and `callback` (a function) come from the current Node-API call.
    pub unsafe fn start(
        env: sys::napi_env,
        fd: c_int,
        callback: sys::napi_value,
    ) -> Result<Watch, String> {
        let room = size_of::<Handle>();
        if uv_handle_size(UV_POLL) > room || uv_handle_size(UV_TIMER) > room {
            return Err("libuv handles are larger than expected".into());
        }
        let (mut lp, mut name, mut async_ctx, mut cb) =
            (null_mut(), null_mut(), null_mut(), null_mut());
        check(sys::napi_get_uv_event_loop(env, &mut lp))?;
        let label = c"wsrt.Server".as_ptr();
        check(sys::napi_create_string_latin1(env, label, 11, &mut name))?;
        check(sys::napi_async_init(env, null_mut(), name, &mut async_ctx))?;
        check(sys::napi_create_reference(env, callback, 1, &mut cb))?;
        let (poll, timer, callback, refs, stopped) = ([0; 64], [0; 64], cb, 1, false);
        let state = State {
            poll,
            timer,
            env,
            callback,
            async_ctx,
            refs,
            stopped,
        };
        let s = Box::into_raw(Box::new(state));
        let rc = uv_poll_init(lp, &mut (*s).poll, fd);
        if rc != 0 {
            release(s);
            return Err(format!("uv_poll_init: {}", uv_err(rc)));
        }
        uv_timer_init(lp, &mut (*s).timer); // cannot fail on a live loop
        uv_handle_set_data(&mut (*s).poll, s.cast());
        uv_handle_set_data(&mut (*s).timer, s.cast());
        (*s).refs += 2;
        let rc = uv_poll_start(&mut (*s).poll, UV_READABLE, on_poll);
        if rc != 0 {
            Watch(s).stop();
            return Err(format!("uv_poll_start: {}", uv_err(rc)));
        }
        // Without it, a worker that exits with the server running leaks.
        sys::napi_add_env_cleanup_hook(env, Some(on_env_teardown), s.cast());
        Ok(Watch(s))
    }

    /// Arms the timer for `after` (`None`: only I/O can wake us).
    pub fn arm_timer(&self, after: Option<Duration>) {
        let s = self.0;
        unsafe {
            match after {
                _ if (*s).stopped => {}
                None => drop(uv_timer_stop(&mut (*s).timer)),
                Some(d) => {
                    let ms = d.as_nanos().div_ceil(1_000_000).min(u64::MAX as u128) as u64;
                    uv_timer_start(&mut (*s).timer, on_timer, ms, 0);
                }
            }
        }
    }

    /// Stops both handles and closes them (call before the watched fd is
    /// closed); the state is freed when libuv has finished with them.
    pub fn stop(self) {
        unsafe {
            sys::napi_remove_env_cleanup_hook((*self.0).env, Some(on_env_teardown), self.0.cast());
            close_handles(self.0);
            release(self.0);
        }
    }
}

fn uv_err(rc: c_int) -> String {
    let text = unsafe { std::ffi::CStr::from_ptr(uv_strerror(rc)) };
    text.to_string_lossy().into_owned()
}

unsafe fn close_handles(s: *mut State) {
    if !(*s).stopped {
        (*s).stopped = true;
        uv_poll_stop(&mut (*s).poll);
        uv_timer_stop(&mut (*s).timer);
        uv_close(&mut (*s).poll, on_closed);
        uv_close(&mut (*s).timer, on_closed);
    }
}

unsafe fn release(s: *mut State) {
    (*s).refs -= 1;
    if (*s).refs == 0 {
        let s = Box::from_raw(s);
        sys::napi_delete_reference(s.env, s.callback);
        sys::napi_async_destroy(s.env, s.async_ctx);
    }
}

unsafe extern "C" fn on_closed(handle: *mut Handle) {
    release(uv_handle_get_data(handle).cast());
}

/// The environment is going away (worker exit) with the server still
/// running: close the handles so the loop can be closed.
unsafe extern "C" fn on_env_teardown(arg: *mut c_void) {
    close_handles(arg.cast());
}

unsafe extern "C" fn on_poll(handle: *mut Handle, _status: c_int, _events: c_int) {
    call_js(uv_handle_get_data(handle).cast());
}

unsafe extern "C" fn on_timer(handle: *mut Handle) {
    call_js(uv_handle_get_data(handle).cast());
}

/// Runs the JavaScript callback as Node runs its own I/O callbacks
/// (`napi_make_callback`: async context, then the nextTick and microtask
/// queues). An exception it throws becomes an uncaught exception.
unsafe fn call_js(s: *mut State) {
    // Copied out: the callback may stop the watch.
    let (env, callback, async_ctx) = ((*s).env, (*s).callback, (*s).async_ctx);
    let (mut scope, mut func, mut recv, mut result) =
        (null_mut(), null_mut(), null_mut(), null_mut());
    if (*s).stopped || sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
    }
    sys::napi_get_reference_value(env, callback, &mut func);
    sys::napi_get_global(env, &mut recv);
    let st = sys::napi_make_callback(env, async_ctx, recv, func, 0, std::ptr::null(), &mut result);
    let mut exc = null_mut();
    if st == sys::Status::napi_pending_exception
        && sys::napi_get_and_clear_last_exception(env, &mut exc) == sys::Status::napi_ok
    {
        sys::napi_fatal_exception(env, exc);
    }
    sys::napi_close_handle_scope(env, scope);
}
