//! The per-message hot path as plain Node-API functions. Methods generated
//! by `#[napi]` unwrap and type-check their class instance and track borrows
//! on every call, which costs more than the send itself for small messages;
//! these functions carry the server in their `data` pointer instead (an `Rc`
//! released by the function's finalizer) and read their arguments directly.

use crate::{conn, sent, throw, utf8_into, Shared};
use napi::bindgen_prelude::{Error, Result, Status, ToNapiValue, TypeName, ValueType};
use napi::sys;
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use wsrt::MessageKind;

/// A JavaScript value made here, returned as is.
pub struct RawJs(sys::napi_value);

impl ToNapiValue for RawJs {
    unsafe fn to_napi_value(_env: sys::napi_env, v: Self) -> Result<sys::napi_value> {
        Ok(v.0)
    }
}

impl TypeName for RawJs {
    fn type_name() -> &'static str {
        "Function"
    }
    fn value_type() -> ValueType {
        ValueType::Function
    }
}

type RawCallback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(Rc::from_raw(
        data.cast_const()
            .cast::<std::cell::UnsafeCell<crate::Core>>(),
    ));
}

/// Makes a function that calls `cb` with `core` as its data.
///
/// # Safety
/// `env` is the current environment, on its JavaScript thread.
pub unsafe fn function(
    env: sys::napi_env,
    name: &CStr,
    cb: RawCallback,
    core: &Shared,
) -> Result<RawJs> {
    let data = Rc::into_raw(core.clone()).cast_mut().cast::<c_void>();
    let mut f = ptr::null_mut();
    let st = sys::napi_create_function(
        env,
        name.as_ptr(),
        name.count_bytes() as isize,
        Some(cb),
        data,
        &mut f,
    );
    if st != sys::Status::napi_ok {
        release(env, data, ptr::null_mut());
        return Err(Error::new(
            Status::GenericFailure,
            "napi_create_function failed",
        ));
    }
    let st = sys::napi_add_finalizer(
        env,
        f,
        data,
        Some(release),
        ptr::null_mut(),
        ptr::null_mut(),
    );
    if st != sys::Status::napi_ok {
        release(env, data, ptr::null_mut());
        return Err(Error::new(
            Status::GenericFailure,
            "napi_add_finalizer failed",
        ));
    }
    Ok(RawJs(f))
}

/// Arguments and data of a call; `None` if Node-API refused (an exception
/// is then pending).
unsafe fn args<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> (&'static mut crate::Core, [sys::napi_value; N]) {
    let mut argc = N;
    let mut argv = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    sys::napi_get_cb_info(
        env,
        info,
        &mut argc,
        argv.as_mut_ptr(),
        ptr::null_mut(),
        &mut data,
    );
    // SAFETY: data is the Rc made in `function`, alive while the function is.
    let core = &mut *(*data.cast::<std::cell::UnsafeCell<crate::Core>>()).get();
    (core, argv)
}

unsafe fn u32_arg(env: sys::napi_env, v: sys::napi_value) -> Option<u32> {
    let mut n = 0u32;
    (sys::napi_get_value_uint32(env, v, &mut n) == sys::Status::napi_ok).then_some(n)
}

unsafe fn boolean(env: sys::napi_env, b: bool) -> sys::napi_value {
    let mut out = ptr::null_mut();
    sys::napi_get_boolean(env, b, &mut out);
    out
}

unsafe fn type_error(env: sys::napi_env, msg: &CStr) -> sys::napi_value {
    sys::napi_throw_type_error(env, c"ERR_INVALID_ARG_TYPE".as_ptr(), msg.as_ptr());
    ptr::null_mut()
}

unsafe fn guarded(env: sys::napi_env, f: impl FnOnce() -> sys::napi_value) -> sys::napi_value {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            sys::napi_throw_error(
                env,
                c"ERR_WSRT_INTERNAL".as_ptr(),
                c"wsrt: internal error (panic)".as_ptr(),
            );
            ptr::null_mut()
        }
    }
}

fn finish(env: sys::napi_env, r: std::result::Result<bool, crate::Fail>) -> sys::napi_value {
    match r {
        Ok(b) => unsafe { boolean(env, b) },
        Err(f) => {
            let _: Error = throw(env, f);
            ptr::null_mut()
        }
    }
}

/// `send(slot, gen, bytes: Uint8Array, binary: boolean): boolean`
pub unsafe extern "C" fn send(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    guarded(env, || {
        let (core, argv) = args::<4>(env, info);
        let (Some(slot), Some(gen)) = (u32_arg(env, argv[0]), u32_arg(env, argv[1])) else {
            return type_error(env, c"wsrt: bad connection id");
        };
        let Some(bytes) = uint8_array(env, argv[2]) else {
            return type_error(env, c"wsrt: expected a Uint8Array");
        };
        let mut binary = false;
        sys::napi_get_value_bool(env, argv[3], &mut binary);
        let kind = if binary {
            MessageKind::Binary
        } else {
            MessageKind::Text
        };
        let r = core
            .srv()
            .and_then(|s| sent(s.send(conn(slot, gen), kind, bytes)));
        finish(env, r)
    })
}

/// `sendText(slot, gen, text: string): boolean`
pub unsafe extern "C" fn send_text(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    guarded(env, || {
        let (core, argv) = args::<3>(env, info);
        let (Some(slot), Some(gen)) = (u32_arg(env, argv[0]), u32_arg(env, argv[1])) else {
            return type_error(env, c"wsrt: bad connection id");
        };
        let r = utf8_into(env, argv[2], &mut core.scratch).and_then(|()| {
            let server = core
                .server
                .as_mut()
                .ok_or_else(|| crate::err(crate::Code::NotRunning, "wsrt: the server is closed"))?;
            sent(server.send(conn(slot, gen), MessageKind::Text, &core.scratch))
        });
        finish(env, r)
    })
}

unsafe fn type_of(env: sys::napi_env, v: sys::napi_value) -> sys::napi_valuetype {
    let mut t = 0;
    sys::napi_typeof(env, v, &mut t);
    t
}

/// The bytes of a Uint8Array, borrowed in place.
unsafe fn uint8_array<'a>(env: sys::napi_env, v: sys::napi_value) -> Option<&'a [u8]> {
    let mut ty = 0;
    let mut len = 0usize;
    let mut data = ptr::null_mut();
    if sys::napi_get_typedarray_info(
        env,
        v,
        &mut ty,
        &mut len,
        &mut data,
        ptr::null_mut(),
        ptr::null_mut(),
    ) != sys::Status::napi_ok
        || ty != sys::TypedarrayType::uint8_array
    {
        return None;
    }
    Some(if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data.cast::<u8>(), len)
    })
}

/// `publish(topic: string | null, data: string | Uint8Array, binary: boolean,
/// excludeSlot: number | undefined, excludeGen: number, onSlow: 0 | 1 | 2,
/// sseEvent: string | undefined, out: Float64Array): undefined`
///
/// A null topic publishes to everyone. `onSlow` 0 is the configured policy,
/// 1 drop, 2 close. Writes `[delivered, dropped, closed, eventId or -1]`
/// into `out`. index.js checks the arguments; this only refuses what it
/// cannot read.
pub unsafe extern "C" fn publish(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    guarded(env, || {
        let (core, argv) = args::<8>(env, info);
        let Ok(out) = crate::f64_array(env, argv[7]) else {
            return type_error(env, c"wsrt: expected a Float64Array for the result");
        };
        if out.len() < 4 {
            return type_error(env, c"wsrt: the result array is too short");
        }
        let r = publish_args(env, core, &argv).map(|report| {
            out[0] = report.delivered as f64;
            out[1] = report.dropped as f64;
            out[2] = report.closed as f64;
            out[3] = report.event_id.map_or(-1.0, |id| id as f64);
        });
        match r {
            Ok(()) => {
                let mut u = ptr::null_mut();
                sys::napi_get_undefined(env, &mut u);
                u
            }
            Err(f) => {
                let _: Error = throw(env, f);
                ptr::null_mut()
            }
        }
    })
}

unsafe fn publish_args(
    env: sys::napi_env,
    core: &mut crate::Core,
    argv: &[sys::napi_value; 8],
) -> std::result::Result<wsrt::Published, crate::Fail> {
    use crate::{err, Code};
    use sys::ValueType as T;
    let bad = |what: &str| err(Code::InvalidArgument, format!("wsrt: publish: {what}"));
    let to_everyone = matches!(type_of(env, argv[0]), T::napi_null | T::napi_undefined);
    if !to_everyone {
        utf8_into(env, argv[0], &mut core.topic_scratch)?;
    }
    let mut binary = false;
    sys::napi_get_value_bool(env, argv[2], &mut binary);
    let kind = if binary {
        MessageKind::Binary
    } else {
        MessageKind::Text
    };
    let text = type_of(env, argv[1]) == T::napi_string;
    if text {
        utf8_into(env, argv[1], &mut core.scratch)?;
    }
    let data: &[u8] = if text {
        &core.scratch
    } else {
        uint8_array(env, argv[1]).ok_or_else(|| bad("expected a string or Uint8Array"))?
    };
    let mut msg = wsrt::Publish::new(kind, data);
    if type_of(env, argv[3]) == T::napi_number {
        let (Some(slot), Some(gen)) = (u32_arg(env, argv[3]), u32_arg(env, argv[4])) else {
            return Err(bad("bad connection id to exclude"));
        };
        msg.exclude = Some(conn(slot, gen));
    }
    msg.on_slow = match u32_arg(env, argv[5]) {
        None | Some(0) => None,
        Some(1) => Some(wsrt::SlowConsumerPolicy::Drop),
        Some(2) => Some(wsrt::SlowConsumerPolicy::Close),
        Some(_) => return Err(bad("onSlow must be 0, 1 or 2")),
    };
    let mut event = Vec::new();
    if type_of(env, argv[6]) == T::napi_string {
        utf8_into(env, argv[6], &mut event)?;
        msg.sse_event =
            Some(std::str::from_utf8(&event).map_err(|_| bad("sseEvent is not UTF-8"))?);
    }
    let server = core
        .server
        .as_mut()
        .ok_or_else(|| err(Code::NotRunning, "wsrt: the server is closed"))?;
    let r = if to_everyone {
        server.publish_all(&msg)
    } else {
        // Checked as UTF-8 by the engine that made it.
        let topic = std::str::from_utf8(&core.topic_scratch).map_err(|_| bad("bad topic"))?;
        server.publish(topic, &msg)
    };
    r.map_err(crate::map_err)
}
