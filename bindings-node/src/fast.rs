//! The per-message hot paths (send, acknowledge) as plain Node-API
//! functions. `#[napi]` methods unwrap and check their instance on every
//! call, which costs more than a small send; these functions carry the
//! server in their `data` pointer (an `Rc` their finalizer releases) and
//! read their arguments directly.

use crate::js::{self, Js};
use crate::{running, sent, Core, Shared};
use napi::bindgen_prelude::{Error, Result, Status, Unknown};
use napi::sys;
use std::cell::UnsafeCell;
use std::ffi::{c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use wsrt::proto::sio;
use wsrt::{ConnId, MessageKind};

type V = sys::napi_value;

unsafe extern "C" fn release(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    drop(Rc::from_raw(data.cast_const().cast::<UnsafeCell<Core>>()));
}

/// [`send`] as a JavaScript function holding `core`: for strings
/// (`TEXT`) or for Uint8Arrays, so that the per-message call asks V8 no
/// types (JavaScript knows them for free).
///
/// # Safety
/// `env` is the current environment, on its JavaScript thread.
pub unsafe fn send_function<const TEXT: bool>(
    env: sys::napi_env,
    core: &Shared,
) -> Result<Unknown<'static>> {
    function(env, core, c"send", send::<TEXT>)
}

/// A JavaScript function named `name` running `cb` with `core` as its data.
unsafe fn function(
    env: sys::napi_env,
    core: &Shared,
    name: &CStr,
    cb: unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> V,
) -> Result<Unknown<'static>> {
    let data = Rc::into_raw(core.clone()).cast_mut().cast::<c_void>();
    let (mut f, none) = (ptr::null_mut(), ptr::null_mut());
    let len = name.to_bytes().len() as isize;
    let mut st = sys::napi_create_function(env, name.as_ptr(), len, Some(cb), data, &mut f);
    if st == sys::Status::napi_ok {
        st = sys::napi_add_finalizer(env, f, data, Some(release), none, none.cast());
    }
    if st != sys::Status::napi_ok {
        release(env, data, none);
        return Err(Error::new(Status::GenericFailure, "cannot make a function"));
    }
    Ok(Unknown::from_raw_unchecked(env, f))
}

/// `send(lo, hi, data, binary: boolean): boolean`, `data` a string for
/// `TEXT`, else a Uint8Array (`lo`, `hi`: the connection id's halves, as
/// the batch records carry them: no bigint per message): false when
/// backpressure refused it; other errors are thrown.
pub unsafe extern "C" fn send<const TEXT: bool>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> V {
    call(env, info, "send", |core, [lo, hi, bytes, binary]| {
        let kind = match binary.flag("isBinary")? {
            true => MessageKind::Binary,
            false => MessageKind::Text,
        };
        let half = |v: Js| v.number("connection id").map(|n| n as u32 as u64);
        let id = ConnId::from_raw(half(hi)? << 32 | half(lo)?);
        let bytes = match TEXT {
            true => bytes.text_into(&mut core.scratch, "data")?,
            false => bytes.uint8_array("data")?,
        };
        sent(running(&mut core.server)?.send(id, kind, bytes))
    })
}

/// The body shared by the fast functions: reads `N` arguments and the
/// `Core` from the call's data, runs `body`, and returns its boolean, or
/// throws its error (a panic becomes an internal error named after `what`).
///
/// # Safety
/// `info` is a call of a function made by [`function`] with a `Shared`.
unsafe fn call<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    what: &'static str,
    body: impl FnOnce(&mut Core, [Js; N]) -> wsrt::Result<bool>,
) -> V {
    let run = || {
        let (mut argc, mut argv, mut data) = (N, [ptr::null_mut(); N], ptr::null_mut());
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            &mut data,
        );
        // SAFETY: data is the Rc made in `function`, alive while the
        // function is.
        let core = &mut *(*data.cast::<UnsafeCell<Core>>()).get();
        body(core, argv.map(|v| Js { env, v }))
    };
    let panic = || wsrt::Error::new(wsrt::ErrorKind::Internal, format!("panic in {what}"));
    let mut out = ptr::null_mut();
    match catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|_| Err(panic())) {
        Ok(b) => drop(sys::napi_get_boolean(env, b, &mut out)),
        Err(e) => drop(js::throw(env, &e)),
    }
    out
}

/// [`ack`] as a JavaScript function holding `core`; `ONE_STRING`: its
/// `args` is the acknowledgement's only argument, a string, which it
/// encodes as JSON itself.
///
/// # Safety
/// As [`send_function`].
pub unsafe fn ack_function<const ONE_STRING: bool>(
    env: sys::napi_env,
    core: &Shared,
) -> Result<Unknown<'static>> {
    function(env, core, c"ack", ack::<ONE_STRING>)
}

/// `ack(lo, hi, ackLo, ackHi, args, attachments): boolean` acknowledges
/// the client's event (the socket's and the ack id's halves, as the batch
/// records carry them) with `args`, JSON array text with placeholders for
/// the Uint8Arrays of `attachments` (undefined: none). With `ONE_STRING`,
/// `args` is a string sent as the only argument, and false means "not
/// sent": it holds U+FFFD, maybe a lone surrogate that JSON.stringify
/// would keep, so JavaScript encodes it instead. Errors are thrown.
pub unsafe extern "C" fn ack<const ONE_STRING: bool>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> V {
    call(
        env,
        info,
        "ack",
        |core, [lo, hi, ack_lo, ack_hi, args, attachments]| {
            let half = |v: Js, what| v.number(what).map(|n| n as u32 as u64);
            let id =
                ConnId::from_raw(half(hi, "connection id")? << 32 | half(lo, "connection id")?);
            let ack_id = half(ack_hi, "ack id")? << 32 | half(ack_lo, "ack id")?;
            let Core {
                server,
                scratch,
                json,
                ..
            } = core;
            let text = args.text_into(scratch, "arguments")?;
            // Node-API writes well-formed UTF-8.
            let mut args = std::str::from_utf8(text).unwrap_or_default();
            if ONE_STRING {
                if args.contains('\u{fffd}') {
                    return Ok(false);
                }
                json.clear();
                json.push(b'[');
                sio::write_json_string(json, args);
                json.push(b']');
                args = std::str::from_utf8(json).unwrap_or_default();
            }
            let attachments = match ONE_STRING {
                true => Vec::new(),
                false => attachments.byte_list("attachments")?,
            };
            running(server)?.ack(id, ack_id, args, &attachments)?;
            Ok(true)
        },
    )
}
