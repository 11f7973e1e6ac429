//! JavaScript values to the core's types, and the core's errors to
//! JavaScript errors. A value of the wrong type is the core's `InvalidType`
//! error; what a value may be is for the core to say.

use napi::bindgen_prelude::{Error, FromNapiValue, Result, Status};
use napi::sys::{self, ValueType as T};
use std::ptr;
use wsrt::MessageKind::{self, Binary, Text};
use wsrt::{ConnId, OptionValue};

type CoreResult<T> = wsrt::Result<T>;

/// The room [`Js::utf8_into`] offers a string before asking its length.
const SMALL_STRING: usize = 256;

fn ok(st: sys::napi_status) -> bool {
    st == sys::Status::napi_ok
}

/// Throws the core's error as its JavaScript class with its `code`, and
/// returns what napi-rs takes for "an exception is pending".
pub fn throw(env: sys::napi_env, e: &wsrt::Error) -> Error {
    let kind = e.kind();
    let code = std::ffi::CString::new(kind.node_code()).unwrap_or_default();
    let msg = std::ffi::CString::new(e.message().replace('\0', " ")).unwrap_or_default();
    let f = match kind.js_class() {
        "RangeError" => sys::napi_throw_range_error,
        "TypeError" => sys::napi_throw_type_error,
        _ => sys::napi_throw_error,
    };
    unsafe { f(env, code.as_ptr(), msg.as_ptr()) };
    Error::new(Status::PendingException, e.message().to_string())
}

/// A JavaScript value of the current call, converted on demand.
#[derive(Clone, Copy)]
pub struct Js {
    pub env: sys::napi_env,
    pub v: sys::napi_value,
}

impl FromNapiValue for Js {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> Result<Self> {
        Ok(Js { env, v })
    }
}

/// A connection's id, as JavaScript carries it (a `bigint`).
pub struct Id(pub ConnId);

impl FromNapiValue for Id {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> Result<Self> {
        let id = (Js { env, v })
            .id("connection id")
            .map_err(|e| throw(env, &e))?;
        Ok(Id(id.unwrap_or(ConnId::NONE)))
    }
}

// SAFETY (every method): `env` and `v` come from the Node-API call being
// served, on the JavaScript thread.
impl Js {
    pub fn kind(self) -> sys::napi_valuetype {
        let mut t = T::napi_undefined;
        unsafe { sys::napi_typeof(self.env, self.v, &mut t) };
        t
    }

    pub fn nullish(self) -> bool {
        matches!(self.kind(), T::napi_undefined | T::napi_null)
    }

    /// This value's type, as a message names it ("an object").
    pub fn type_name(self) -> &'static str {
        let types = "undefined|null|a boolean|a number|a string|a symbol|an object|a function";
        types
            .split('|')
            .nth(self.kind() as usize)
            .unwrap_or("a bigint")
    }

    /// The type error for this value, which should have been `want`.
    pub fn wrong(self, what: &str, want: &str) -> wsrt::Error {
        wsrt::Error::invalid_type(format!("{what} must be {want}, not {}", self.type_name()))
    }

    /// A string's UTF-8 into `out` (lone surrogates become U+FFFD, as in
    /// `Buffer.from(string)`); false if this is not a string.
    pub fn utf8_into(self, out: &mut Vec<u8>) -> bool {
        let (mut len, mut n) = (0usize, 0usize);
        let utf8 = |buf: *mut u8, size, len| unsafe {
            ok(sys::napi_get_value_string_utf8(
                self.env,
                self.v,
                buf.cast(),
                size,
                len,
            ))
        };
        // One pass when the string fits what `out` holds already: V8 stops
        // at most 3 bytes short of the room (it never splits a character),
        // so a shorter result is the whole string.
        let room = out.capacity().max(SMALL_STRING);
        out.clear();
        out.reserve(room);
        if !utf8(out.as_mut_ptr(), room, &mut n) {
            return false;
        }
        if n + 4 < room {
            unsafe { out.set_len(n) };
            return true;
        }
        utf8(ptr::null_mut(), 0, &mut len);
        out.reserve(len + 1);
        let written = utf8(out.as_mut_ptr(), len + 1, &mut n);
        unsafe { out.set_len(if written { n } else { 0 }) };
        true
    }

    pub fn string(self, what: &str) -> CoreResult<String> {
        let mut out = Vec::new();
        let text = self
            .utf8_into(&mut out)
            .then(|| String::from_utf8(out).unwrap_or_default());
        text.ok_or_else(|| self.wrong(what, "a string"))
    }

    /// A message's kind: `binary` (a boolean), or by default text for a
    /// string and binary for bytes.
    pub fn message_kind(self, binary: Js, what: &str) -> CoreResult<MessageKind> {
        let binary = match binary.nullish() {
            true => self.kind() != T::napi_string,
            false => binary.flag(what)?,
        };
        Ok(if binary { Binary } else { Text })
    }

    /// This value as an option's value for `f` (`Config::set`, ...), as
    /// received; with `bytes_as_text` (options that take strings: PEM text
    /// may come as a file's bytes), a Buffer or Uint8Array, alone or in an
    /// array, is its UTF-8 text.
    pub fn option<R>(
        self,
        what: &str,
        bytes_as_text: bool,
        f: impl FnOnce(OptionValue) -> CoreResult<R>,
    ) -> CoreResult<R> {
        let text;
        let value = match self.kind() {
            T::napi_undefined | T::napi_null => OptionValue::Default,
            T::napi_number => OptionValue::Number(self.number(what)?),
            T::napi_boolean => OptionValue::Bool(self.flag(what)?),
            _ if self.is_array() => {
                let items = (0..self.len()).map(|i| self.at(i).text(bytes_as_text));
                match items.collect::<Option<Vec<String>>>() {
                    Some(list) => OptionValue::List(list),
                    None if bytes_as_text => {
                        OptionValue::Other("a list with an item that is not a string or a Buffer")
                    }
                    None => OptionValue::Other("a list with an item that is not a string"),
                }
            }
            _ => match self.text(bytes_as_text) {
                Some(t) => {
                    text = t;
                    OptionValue::Str(&text)
                }
                None => OptionValue::Other(self.type_name()),
            },
        };
        f(value)
    }

    /// A string, or (with `bytes`) the UTF-8 text of a Uint8Array (a
    /// sequence that is not UTF-8 becomes U+FFFD); `None` for anything else.
    fn text(self, bytes: bool) -> Option<String> {
        let mut out = Vec::new();
        if self.utf8_into(&mut out) {
            return Some(String::from_utf8(out).unwrap_or_default());
        }
        let b = self.typed::<u8>(sys::TypedarrayType::uint8_array);
        b.filter(|_| bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// A string, or `None` for undefined and null.
    pub fn opt_string(self, what: &str) -> CoreResult<Option<String>> {
        (!self.nullish()).then(|| self.string(what)).transpose()
    }

    /// An event id: a string, or a number as text; `None` for undefined/null.
    pub fn opt_id_text(self, what: &str) -> CoreResult<Option<String>> {
        match self.kind() {
            T::napi_number => Ok(Some(self.number(what)?.to_string())),
            _ => self.opt_string(what),
        }
    }

    pub fn number(self, what: &str) -> CoreResult<f64> {
        let mut n = 0.0;
        let st = unsafe { sys::napi_get_value_double(self.env, self.v, &mut n) };
        ok(st)
            .then_some(n)
            .ok_or_else(|| self.wrong(what, "a number"))
    }

    /// A whole number that fits the core's integer type `I` (the core
    /// words the refusal, and checks the range it accepts).
    pub fn int<I>(self, what: &str) -> CoreResult<I>
    where
        I: TryFrom<i128> + std::fmt::Display + wsrt::options::num_bounds::Bounded,
    {
        wsrt::options::integer(what, OptionValue::Number(self.number(what)?))
    }

    /// A whole number, or `None` for undefined and null.
    pub fn opt_int<I>(self, what: &str) -> CoreResult<Option<I>>
    where
        I: TryFrom<i128> + std::fmt::Display + wsrt::options::num_bounds::Bounded,
    {
        (!self.nullish()).then(|| self.int(what)).transpose()
    }

    pub fn flag(self, what: &str) -> CoreResult<bool> {
        let mut b = false;
        let st = unsafe { sys::napi_get_value_bool(self.env, self.v, &mut b) };
        ok(st)
            .then_some(b)
            .ok_or_else(|| self.wrong(what, "a boolean"))
    }

    /// A `bigint` connection id, or `None` for undefined and null.
    pub fn id(self, what: &str) -> CoreResult<Option<ConnId>> {
        let (mut raw, mut lossless) = (0u64, false);
        if self.nullish() {
            return Ok(None);
        }
        match unsafe {
            sys::napi_get_value_bigint_uint64(self.env, self.v, &mut raw, &mut lossless)
        } {
            sys::Status::napi_ok => Ok(Some(ConnId::from_raw(raw))),
            _ => Err(self.wrong(what, "a WebSocket, an SseStream or a connection id")),
        }
    }

    /// A property (undefined if this is not an object).
    pub fn get(self, name: &std::ffi::CStr) -> Js {
        let mut v = ptr::null_mut();
        unsafe { sys::napi_get_named_property(self.env, self.v, name.as_ptr(), &mut v) };
        Js { v, ..self }
    }

    pub fn is_array(self) -> bool {
        let mut is = false;
        unsafe { sys::napi_is_array(self.env, self.v, &mut is) };
        is
    }

    fn at(self, i: u32) -> Js {
        let mut e = ptr::null_mut();
        unsafe { sys::napi_get_element(self.env, self.v, i, &mut e) };
        Js { v: e, ..self }
    }

    fn len(self) -> u32 {
        let mut n = 0u32;
        unsafe { sys::napi_get_array_length(self.env, self.v, &mut n) };
        n
    }

    /// An array of strings; empty for undefined and null.
    pub fn strings(self, what: &str) -> CoreResult<Vec<String>> {
        match (self.nullish(), self.is_array()) {
            (true, _) => Ok(Vec::new()),
            (_, false) => Err(self.wrong(what, "an array of strings")),
            _ => (0..self.len())
                .map(|i| self.at(i).string(&format!("{what}[{i}]")))
                .collect(),
        }
    }

    /// The enumerable properties of an object; none for undefined and null.
    pub fn entries(self, what: &str) -> CoreResult<Vec<(String, Js)>> {
        let mut keys = ptr::null_mut();
        if self.nullish() {
            return Ok(Vec::new());
        }
        let st = unsafe { sys::napi_get_property_names(self.env, self.v, &mut keys) };
        if self.kind() != T::napi_object || !ok(st) {
            return Err(self.wrong(what, "an object"));
        }
        let keys = Js { v: keys, ..self };
        let mut out = Vec::new();
        for i in 0..keys.len() {
            let (k, mut value) = (keys.at(i), ptr::null_mut());
            unsafe { sys::napi_get_property(self.env, self.v, k.v, &mut value) };
            out.push((k.string(what)?, Js { v: value, ..self }));
        }
        Ok(out)
    }

    /// Response headers: an object of names and string values (undefined
    /// and null: no such header).
    pub fn headers(self) -> CoreResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (name, value) in self.entries("headers")? {
            if let Some(value) = value.opt_string(&format!("header {name}"))? {
                out.push((name, value));
            }
        }
        Ok(out)
    }

    /// The elements of a typed array of kind `ty`, in place.
    pub fn typed<'a, E>(self, ty: sys::napi_typedarray_type) -> Option<&'a mut [E]> {
        let (mut t, mut len, mut data) = (0, 0usize, ptr::null_mut());
        let (buf, off, env) = (ptr::null_mut(), ptr::null_mut(), self.env);
        let st = unsafe {
            sys::napi_get_typedarray_info(env, self.v, &mut t, &mut len, &mut data, buf, off)
        };
        (ok(st) && t == ty).then(|| match len {
            0 => &mut [][..],
            _ => unsafe { std::slice::from_raw_parts_mut(data.cast::<E>(), len) },
        })
    }

    /// A string's UTF-8, in `scratch`.
    pub fn text_into<'a>(self, scratch: &'a mut Vec<u8>, what: &str) -> CoreResult<&'a [u8]> {
        match self.utf8_into(scratch) {
            true => Ok(scratch),
            false => Err(self.wrong(what, "a string")),
        }
    }

    /// A Uint8Array's bytes, in place.
    pub fn uint8_array<'a>(self, what: &str) -> CoreResult<&'a [u8]> {
        let bytes = self.typed::<u8>(sys::TypedarrayType::uint8_array);
        bytes
            .map(|b| &*b)
            .ok_or_else(|| self.wrong(what, "a string, Buffer or typed array"))
    }

    /// An array of Uint8Arrays, in place; empty for undefined and null.
    pub fn byte_list<'a>(self, what: &str) -> CoreResult<Vec<&'a [u8]>> {
        match (self.nullish(), self.is_array()) {
            (true, _) => Ok(Vec::new()),
            (_, false) => Err(self.wrong(what, "an array of Buffers")),
            _ => (0..self.len())
                .map(|i| {
                    let item = self.at(i);
                    let bytes = item.typed::<u8>(sys::TypedarrayType::uint8_array);
                    let want = || item.wrong(&format!("{what}[{i}]"), "a Buffer or Uint8Array");
                    bytes.map(|b| &*b).ok_or_else(want)
                })
                .collect(),
        }
    }

    /// The bytes of a string (its UTF-8, in `scratch`) or of a Uint8Array
    /// (in place; index.js makes one over other views and ArrayBuffers).
    pub fn bytes<'a>(self, scratch: &'a mut Vec<u8>, what: &str) -> CoreResult<&'a [u8]> {
        if self.utf8_into(scratch) {
            return Ok(scratch);
        }
        let bytes = self
            .typed::<u8>(sys::TypedarrayType::uint8_array)
            .map(|b| &*b);
        bytes.ok_or_else(|| self.wrong(what, "a string, Buffer or typed array"))
    }
}
