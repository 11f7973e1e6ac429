//! libuv glue: a `uv_poll` on the core's epoll descriptor and a `uv_timer`
//! for its deadlines, both on the loop of the JavaScript thread that started
//! the server. Node exports libuv's symbols to addons (as it does for C++
//! addons that include `uv.h`); Node-API hands out the loop with
//! `napi_get_uv_event_loop`. Handle sizes come from `uv_handle_size`, so no
//! libuv struct layout is assumed.
//!
//! Everything here runs on the JavaScript thread.

use napi::sys;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::time::Duration;

const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
const UV_READABLE: c_int = 1;
/// Generous room for a `uv_poll_t` / `uv_timer_t` (checked at start).
const HANDLE_BYTES: usize = 512;

type PollCb = unsafe extern "C" fn(*mut c_void, c_int, c_int);
type TimerCb = unsafe extern "C" fn(*mut c_void);
type CloseCb = unsafe extern "C" fn(*mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(lp: *mut sys::uv_loop_s, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    fn uv_poll_stop(handle: *mut c_void) -> c_int;
    fn uv_timer_init(lp: *mut sys::uv_loop_s, handle: *mut c_void) -> c_int;
    fn uv_timer_start(handle: *mut c_void, cb: TimerCb, timeout: u64, repeat: u64) -> c_int;
    fn uv_timer_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: Option<CloseCb>);
    fn uv_handle_set_data(handle: *mut c_void, data: *mut c_void);
    fn uv_handle_get_data(handle: *const c_void) -> *mut c_void;
    fn uv_strerror(err: c_int) -> *const std::ffi::c_char;
}

/// What the uv callbacks need; freed once both handles have closed.
struct State {
    env: sys::napi_env,
    callback: sys::napi_ref,
    resource: sys::napi_ref,
    async_ctx: sys::napi_async_context,
    poll: *mut c_void,
    timer: *mut c_void,
    open_handles: u8,
    stopped: bool,
    /// The `Watch` still exists; the state is freed once it is gone and
    /// both handles have closed, whichever comes last.
    owned: bool,
}

/// Owner of the watch (held by `NativeServer`).
pub struct Watch {
    state: *mut State,
}

fn handle_mem() -> *mut c_void {
    Box::into_raw(Box::new([0u64; HANDLE_BYTES / 8])).cast()
}

unsafe fn free_handle_mem(p: *mut c_void) {
    drop(Box::from_raw(p.cast::<[u64; HANDLE_BYTES / 8]>()));
}

fn uv_err(rc: c_int) -> String {
    unsafe { std::ffi::CStr::from_ptr(uv_strerror(rc)) }
        .to_string_lossy()
        .into_owned()
}

fn check(st: sys::napi_status, what: &str) -> Result<(), String> {
    if st == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(format!("{what} failed (napi status {st})"))
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
        if uv_handle_size(UV_POLL) > HANDLE_BYTES || uv_handle_size(UV_TIMER) > HANDLE_BYTES {
            return Err("libuv handles are larger than expected".into());
        }
        let mut ty = 0;
        check(sys::napi_typeof(env, callback, &mut ty), "napi_typeof")?;
        if ty != sys::ValueType::napi_function {
            return Err("the callback is not a function".into());
        }
        let mut lp: *mut sys::uv_loop_s = ptr::null_mut();
        check(
            sys::napi_get_uv_event_loop(env, &mut lp),
            "napi_get_uv_event_loop",
        )?;
        let mut resource = ptr::null_mut();
        check(
            sys::napi_create_object(env, &mut resource),
            "napi_create_object",
        )?;
        let mut name = ptr::null_mut();
        let label = "wsrt.Server";
        check(
            sys::napi_create_string_utf8(
                env,
                label.as_ptr().cast(),
                label.len() as isize,
                &mut name,
            ),
            "napi_create_string_utf8",
        )?;
        let mut async_ctx = ptr::null_mut();
        check(
            sys::napi_async_init(env, resource, name, &mut async_ctx),
            "napi_async_init",
        )?;
        let mut cb_ref = ptr::null_mut();
        check(
            sys::napi_create_reference(env, callback, 1, &mut cb_ref),
            "napi_create_reference",
        )?;
        let mut res_ref = ptr::null_mut();
        check(
            sys::napi_create_reference(env, resource, 1, &mut res_ref),
            "napi_create_reference",
        )?;
        let state = Box::into_raw(Box::new(State {
            env,
            callback: cb_ref,
            resource: res_ref,
            async_ctx,
            poll: handle_mem(),
            timer: handle_mem(),
            open_handles: 0,
            stopped: false,
            owned: true,
        }));
        let s = &mut *state;
        let rc = uv_poll_init(lp, s.poll, fd);
        if rc != 0 {
            free_handle_mem(s.poll);
            free_handle_mem(s.timer);
            release_js(s);
            drop(Box::from_raw(state));
            return Err(format!("uv_poll_init: {}", uv_err(rc)));
        }
        s.open_handles += 1;
        uv_handle_set_data(s.poll, state.cast());
        // uv_timer_init cannot fail on a live loop.
        uv_timer_init(lp, s.timer);
        s.open_handles += 1;
        uv_handle_set_data(s.timer, state.cast());
        let watch = Watch { state };
        let rc = uv_poll_start(s.poll, UV_READABLE, on_poll);
        if rc != 0 {
            watch.stop();
            return Err(format!("uv_poll_start: {}", uv_err(rc)));
        }
        // Best effort: without it a worker that exits with the server still
        // running leaks the handles.
        sys::napi_add_env_cleanup_hook(env, Some(on_env_teardown), state.cast());
        Ok(watch)
    }

    /// Arms the timer for `after` (`None`: only I/O can wake us).
    pub fn arm_timer(&self, after: Option<Duration>) {
        let s = unsafe { &mut *self.state };
        if s.stopped {
            return;
        }
        unsafe {
            match after {
                None => {
                    uv_timer_stop(s.timer);
                }
                Some(d) => {
                    let ms = d.as_nanos().div_ceil(1_000_000).min(u64::MAX as u128) as u64;
                    uv_timer_start(s.timer, on_timer, ms, 0);
                }
            }
        }
    }

    /// Stops both handles and closes them; the state is freed when libuv
    /// has finished with them. Call before the watched fd is closed.
    pub fn stop(self) {
        unsafe {
            let s = &mut *self.state;
            sys::napi_remove_env_cleanup_hook(s.env, Some(on_env_teardown), self.state.cast());
            close_handles(s);
            s.owned = false;
            if s.open_handles == 0 {
                release_js(s);
                drop(Box::from_raw(self.state));
            }
        }
    }
}

unsafe fn close_handles(s: &mut State) {
    if s.stopped {
        return;
    }
    s.stopped = true;
    uv_poll_stop(s.poll);
    uv_timer_stop(s.timer);
    uv_close(s.poll, Some(on_closed));
    uv_close(s.timer, Some(on_closed));
}

unsafe fn release_js(s: &mut State) {
    sys::napi_delete_reference(s.env, s.callback);
    sys::napi_delete_reference(s.env, s.resource);
    sys::napi_async_destroy(s.env, s.async_ctx);
}

unsafe extern "C" fn on_closed(handle: *mut c_void) {
    let state = uv_handle_get_data(handle).cast::<State>();
    free_handle_mem(handle);
    let s = &mut *state;
    s.open_handles -= 1;
    if s.open_handles == 0 && !s.owned {
        release_js(s);
        drop(Box::from_raw(state));
    }
}

/// The environment is going away (worker exit) with the server still
/// running: close the handles so the loop can be closed.
unsafe extern "C" fn on_env_teardown(arg: *mut c_void) {
    close_handles(&mut *arg.cast::<State>());
}

unsafe extern "C" fn on_poll(handle: *mut c_void, _status: c_int, _events: c_int) {
    call_js(uv_handle_get_data(handle).cast());
}

unsafe extern "C" fn on_timer(handle: *mut c_void) {
    call_js(uv_handle_get_data(handle).cast());
}

/// Runs the JavaScript callback as Node runs its own I/O callbacks
/// (`napi_make_callback`: async context, then the nextTick and microtask
/// queues). An exception it throws becomes an uncaught exception.
unsafe fn call_js(state: *mut State) {
    // Copied out: the callback may stop the watch (which writes the state).
    let (env, callback, resource, async_ctx, stopped) = {
        let s = &*state;
        (s.env, s.callback, s.resource, s.async_ctx, s.stopped)
    };
    if stopped {
        return;
    }
    let mut scope = ptr::null_mut();
    if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
        return;
    }
    let mut func = ptr::null_mut();
    let mut recv = ptr::null_mut();
    sys::napi_get_reference_value(env, callback, &mut func);
    sys::napi_get_reference_value(env, resource, &mut recv);
    let mut result = ptr::null_mut();
    let st = sys::napi_make_callback(env, async_ctx, recv, func, 0, ptr::null(), &mut result);
    if st == sys::Status::napi_pending_exception {
        let mut exc = ptr::null_mut();
        if sys::napi_get_and_clear_last_exception(env, &mut exc) == sys::Status::napi_ok {
            sys::napi_fatal_exception(env, exc);
        }
    }
    sys::napi_close_handle_scope(env, scope);
}
