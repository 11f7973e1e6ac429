//! Building a configuration from C: create, set options, add routes and
//! their headers, pass to wsrt_server_new, free.
//!
//! Options go to the core's schema as they come (`Config::set_by_id`,
//! `Config::set_text`, `Config::list_mut`): ranges, the rule for zero,
//! which options are lists or strings and the messages are the core's. The `WSRT_OPT_*` constants and the choice constants are
//! generated into the header from that schema (see
//! `tests/support/header.rs`).

use crate::conv::{arg_mut, bytes, free_boxed, opt_str, out_ptr, req_str};
use crate::error::{guard, guard_value, invalid, wsrt_result};
use std::ffi::c_char;
use wsrt::{options, Config, OptionValue, Route, RouteKind};

/// Opaque server configuration. Create with wsrt_config_new, free with
/// wsrt_config_free.
pub struct wsrt_config {
    pub(crate) inner: Config,
}

/// Route kind for wsrt_config_add_route: a WebSocket endpoint.
pub const WSRT_ROUTE_WEBSOCKET: u32 = 1;
/// Route kind for wsrt_config_add_route: a Server-Sent Events stream.
pub const WSRT_ROUTE_SSE: u32 = 2;
/// Route kind for wsrt_config_add_route: plain Engine.IO v4 sessions
/// (conventionally "/engine.io/"); their messages arrive as
/// WSRT_EVENT_MESSAGE and wsrt_send answers them. No subprotocols, no
/// WSRT_ROUTE_APPROVE.
pub const WSRT_ROUTE_ENGINEIO: u32 = 3;
/// Route kind for wsrt_config_add_route: Socket.IO v5 over Engine.IO
/// (conventionally "/socket.io/"), serving the namespaces added with
/// wsrt_config_add_namespace (none until then: "/" too must be added).
/// WSRT_ROUTE_APPROVE makes each connection to a namespace a
/// WSRT_EVENT_REQUEST.
pub const WSRT_ROUTE_SOCKETIO: u32 = 4;

/// Route flag: the app accepts or rejects each request itself
/// (WSRT_EVENT_REQUEST, then wsrt_accept or wsrt_reject).
pub const WSRT_ROUTE_APPROVE: u32 = 1;

/// Creates a configuration with every option at its default, listening on
/// `listen`: "host:port" where host is an IPv4 address, a name
/// ("localhost": every address it resolves to is bound) or a bracketed
/// IPv6 address ("127.0.0.1:9001", "localhost:0", "[::1]:0",
/// "0.0.0.0:80", "[::]:80"); port 0 picks a free port. The address is
/// resolved and checked by wsrt_server_new. `listen` is copied. Writes the
/// new object to `*out`; the caller owns it and frees it with
/// wsrt_config_free.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_new(
    listen: *const c_char,
    out: *mut *mut wsrt_config,
) -> wsrt_result {
    guard(|| {
        let out = out_ptr(out, "out")?;
        let listen = req_str(listen, "listen")?;
        *out = Box::into_raw(Box::new(wsrt_config {
            inner: Config::new(listen),
        }));
        Ok(())
    })
}

/// Frees a configuration. NULL is ignored.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_free(config: *mut wsrt_config) {
    free_boxed(config)
}

unsafe fn config_mut<'a>(config: *mut wsrt_config) -> wsrt::Result<&'a mut Config> {
    arg_mut(config, "config").map(|c| &mut c.inner)
}

/// Adds a route at `path` (exact match, starting with '/'; checked by
/// wsrt_server_new): WSRT_ROUTE_WEBSOCKET, WSRT_ROUTE_SSE,
/// WSRT_ROUTE_ENGINEIO or WSRT_ROUTE_SOCKETIO. `flags` is 0 or
/// WSRT_ROUTE_APPROVE. `subprotocols` is NULL or a comma-separated list in
/// order of preference ("chat,superchat"). Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_route(
    config: *mut wsrt_config,
    path: *const c_char,
    kind: u32,
    flags: u32,
    subprotocols: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let path = req_str(path, "path")?;
        let kind = match kind {
            WSRT_ROUTE_WEBSOCKET => RouteKind::WebSocket,
            WSRT_ROUTE_SSE => RouteKind::Sse,
            WSRT_ROUTE_ENGINEIO => RouteKind::EngineIo,
            WSRT_ROUTE_SOCKETIO => RouteKind::SocketIo {
                namespaces: Vec::new(),
            },
            _ => {
                return Err(invalid(format!(
                    "kind must be WSRT_ROUTE_WEBSOCKET, WSRT_ROUTE_SSE, WSRT_ROUTE_ENGINEIO \
                     or WSRT_ROUTE_SOCKETIO, not {kind}"
                )))
            }
        };
        if flags & !WSRT_ROUTE_APPROVE != 0 {
            return Err(invalid(format!(
                "flags must be 0 or WSRT_ROUTE_APPROVE, not {flags}"
            )));
        }
        let mut route = Route::new(path, kind);
        route.approve = flags & WSRT_ROUTE_APPROVE != 0;
        if let Some(list) = opt_str(subprotocols, "subprotocols")? {
            route.subprotocols = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        cfg.routes.push(route);
        Ok(())
    })
}

/// Adds namespace `nsp` ("/", "/admin"; checked by wsrt_server_new) to
/// the Socket.IO route at `path`, which must have been added first.
/// Clients connecting to a namespace not added are refused ("Invalid
/// namespace"). Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_namespace(
    config: *mut wsrt_config,
    path: *const c_char,
    nsp: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let path = req_str(path, "path")?;
        let nsp = req_str(nsp, "nsp")?;
        let route = cfg
            .routes
            .iter_mut()
            .find(|r| r.path == path)
            .ok_or_else(|| invalid(format!("no route at {path:?}")))?;
        match &mut route.kind {
            RouteKind::SocketIo { namespaces } => {
                namespaces.push(nsp.to_string());
                Ok(())
            }
            _ => Err(invalid(format!(
                "the route at {path:?} is not a WSRT_ROUTE_SOCKETIO route"
            ))),
        }
    })
}

/// Adds a fixed `200` response at `path` (a page, a health check). The
/// body (`len` bytes; NULL allowed when `len` is 0) and content type are
/// copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_static(
    config: *mut wsrt_config,
    path: *const c_char,
    content_type: *const c_char,
    body: *const u8,
    len: usize,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let kind = RouteKind::Static {
            content_type: req_str(content_type, "content_type")?.to_string(),
            body: bytes::Bytes::copy_from_slice(bytes(body, len, "body")?),
        };
        cfg.routes.push(Route::new(req_str(path, "path")?, kind));
        Ok(())
    })
}

/// Adds a response header to every answer of the route at `path` that
/// opens it (the 101, the event-stream head, the static page), e.g. CORS
/// or `Cache-Control`. The route must have been added first. The header
/// is checked by wsrt_server_new (an HTTP token, a value without CR, LF or
/// NUL, not one wsrt writes itself). Strings are copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_header(
    config: *mut wsrt_config,
    path: *const c_char,
    name: *const c_char,
    value: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        cfg.add_route_header(
            req_str(path, "path")?,
            req_str(name, "name")?,
            req_str(value, "value")?,
        )
    })
}

/// Sets option `option` (a WSRT_OPT_* id) to `value`: milliseconds, bytes,
/// a count, a level, a choice's number (WSRT_DEFLATE_SHARED, ...) or a
/// flag (1 on, 0 off). List options take wsrt_config_add_item, string
/// options wsrt_config_set_str. 0 turns a timer or a limit off; a value
/// out of the option's range (or an unknown id) fails with
/// WSRT_ERR_INVALID_ARGUMENT and a message naming the option, leaving the
/// configuration as it was.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_set(
    config: *mut wsrt_config,
    option: u32,
    value: u64,
) -> wsrt_result {
    guard(|| config_mut(config)?.set_by_id(option, OptionValue::Int(value as i128)))
}

/// Sets an option by its name ("idle_timeout_ms"; the WSRT_OPT_* name in
/// lower case) from text: a whole number, or a choice by name or number
/// ("per-connection", "2"), a flag as 1 or 0; a list option
/// ("allowed_origins", "cors_origins") takes a comma-separated list, which
/// replaces the list. Errors as wsrt_config_set, the message naming the option as
/// given. Strings are only read.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_set_by_name(
    config: *mut wsrt_config,
    name: *const c_char,
    value: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        cfg.set_text(req_str(name, "name")?, req_str(value, "value")?)
    })
}

/// The WSRT_OPT_* id of the option named `name` ("idle_timeout_ms"), or 0
/// if there is none (or `name` is NULL or not UTF-8). 0 is no option's
/// id, so wsrt_config_set(cfg, wsrt_option_id(name), v) reports an
/// unknown name as an error.
#[no_mangle]
pub unsafe extern "C" fn wsrt_option_id(name: *const c_char) -> u32 {
    guard_value(0, || match req_str(name, "name") {
        Ok(n) => options::by_name(n).map_or(0, |o| o.id),
        Err(_) => 0,
    })
}

/// Adds an origin ("https://example.com") to the allow-list
/// (WSRT_OPT_ALLOWED_ORIGINS). Once the list is non-empty, WebSocket and
/// SSE requests with an `Origin` header not on it are answered 403. The
/// same as wsrt_config_add_item(config, WSRT_OPT_ALLOWED_ORIGINS, origin).
/// The string is copied; checked by wsrt_server_new.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_allow_origin(
    config: *mut wsrt_config,
    origin: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let origin = req_str(origin, "origin")?.to_string();
        cfg.allowed_origins.push(origin);
        Ok(())
    })
}

/// The schema's entry for a C option id (the message for an unknown id
/// is the one wsrt_config_set gives).
fn spec_of(option: u32) -> wsrt::Result<&'static options::OptionSpec> {
    options::by_id(option).ok_or_else(|| {
        invalid(format!(
            "unknown option id {option} (the WSRT_OPT_ constants are 1-{})",
            options::OPTIONS.len()
        ))
    })
}

/// The call that sets an option of `spec`'s kind, for the message that
/// sends a caller there.
fn setter(spec: &options::OptionSpec) -> &'static str {
    match spec.unit {
        options::Unit::List => "wsrt_config_add_item",
        options::Unit::Text => "wsrt_config_set_str",
        _ => "wsrt_config_set",
    }
}

/// Appends `value` to the list option `option` (a WSRT_OPT_* id of a list
/// of strings: WSRT_OPT_ALLOWED_ORIGINS, WSRT_OPT_CORS_ORIGINS,
/// WSRT_OPT_TLS_CERT, WSRT_OPT_TLS_KEY, WSRT_OPT_TLS_CA), e.g.
/// wsrt_config_add_item(cfg, WSRT_OPT_CORS_ORIGINS, "*") or
/// wsrt_config_add_item(cfg, WSRT_OPT_TLS_CERT, "/etc/ssl/site.pem"). The
/// entries are checked (and files read) by wsrt_server_new. Fails with
/// WSRT_ERR_INVALID_ARGUMENT for an option that is not a list. The string
/// is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_add_item(
    config: *mut wsrt_config,
    option: u32,
    value: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let value = req_str(value, "value")?.to_string();
        let spec = spec_of(option)?;
        let list = cfg.list_mut(option).ok_or_else(|| {
            invalid(format!(
                "{} is not a list: set it with {}",
                spec.c_name(),
                setter(spec)
            ))
        })?;
        list.push(value);
        Ok(())
    })
}

/// Sets the string option `option` (a WSRT_OPT_* id of a string:
/// WSRT_OPT_TLS_LISTEN) to `value`, e.g.
/// wsrt_config_set_str(cfg, WSRT_OPT_TLS_LISTEN, "127.0.0.1:8443"); ""
/// unsets it. Checked by wsrt_server_new. Fails with
/// WSRT_ERR_INVALID_ARGUMENT and a message naming the option for an
/// option that is not a string (numbers take wsrt_config_set, lists
/// wsrt_config_add_item), leaving the configuration as it was. The string
/// is copied.
#[no_mangle]
pub unsafe extern "C" fn wsrt_config_set_str(
    config: *mut wsrt_config,
    option: u32,
    value: *const c_char,
) -> wsrt_result {
    guard(|| {
        let cfg = config_mut(config)?;
        let value = req_str(value, "value")?;
        let spec = spec_of(option)?;
        if spec.unit != options::Unit::Text {
            return Err(invalid(format!(
                "{} is not a string option: set it with {}",
                spec.c_name(),
                setter(spec)
            )));
        }
        cfg.set_by_id(option, OptionValue::Str(value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// Every list option of the schema can be appended to from C, and
    /// every string option set: the core keeps the fields, C only calls.
    #[test]
    fn every_list_and_text_option_is_reachable() {
        let mut cfg = wsrt_config {
            inner: Config::new("127.0.0.1:0"),
        };
        let v = CString::new("x").unwrap();
        for spec in options::OPTIONS {
            let (add, set) = unsafe {
                (
                    wsrt_config_add_item(&mut cfg, spec.id, v.as_ptr()),
                    wsrt_config_set_str(&mut cfg, spec.id, v.as_ptr()),
                )
            };
            let list = spec.unit == options::Unit::List;
            let text = spec.unit == options::Unit::Text;
            assert_eq!(add == crate::WSRT_OK, list, "add_item on {}", spec.name);
            assert_eq!(set == crate::WSRT_OK, text, "set_str on {}", spec.name);
        }
    }
}
