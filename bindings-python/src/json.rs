//! Socket.IO arguments between the core's JSON text and Python values, in
//! one pass each way, without Python's `json` module: an event's arguments
//! become the handler's tuple here, and what a handler returns is written
//! here as the ack's JSON. serde_json reads and writes the text; this file
//! only converts its values to Python's and back (a `DeserializeSeed` that
//! builds Python objects as serde_json reads, a `Serialize` over borrowed
//! Python values).
//!
//! Each direction gives up (`None`) on what it does not convert exactly as
//! Python's `json` does, for `wsrt._sio` to do it with `json` as before:
//! text serde_json refuses (a lone surrogate escape, which no Rust string
//! holds; a number out of f64 range, which `json` reads as inf), integers
//! beyond 64 bits (serde_json reads them as floats), `-0`; values other
//! than None, bool, int (64-bit), finite float, str, list, tuple, dict with
//! str keys and bytes-likes; a str with a lone surrogate; nesting too deep.

use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};
use std::cell::{Cell, RefCell};
use std::fmt;

/// Deeper than this, the parser and the writer leave the value to Python
/// (whose encoder reports a circular reference or recursion).
const MAX_DEPTH: usize = 100;

/// Why a conversion stopped part-way, kept beside serde's error (which
/// carries only a message): a Python error to raise, or none for "leave
/// it to Python's `json`".
#[derive(Default)]
struct Stop(Cell<Option<PyErr>>);

impl Stop {
    /// serde's error for `e`, which is kept to be raised.
    fn raise<E: de::Error>(&self, e: PyErr) -> E {
        self.0.set(Some(e));
        E::custom("a Python error")
    }

    fn raise_ser<E: ser::Error>(&self, e: PyErr) -> E {
        self.0.set(Some(e));
        E::custom("a Python error")
    }

    /// The outcome of a conversion that serde_json reported as failed:
    /// the Python error, if one stopped it, else None (Python's turn).
    fn outcome<T>(self) -> PyResult<Option<T>> {
        match self.0.into_inner() {
            Some(e) => Err(e),
            None => Ok(None),
        }
    }
}

/// serde's error for "leave it to Python's `json`".
fn give_up_de<E: de::Error>() -> E {
    E::custom("left to Python's json")
}

fn give_up_ser<E: ser::Error>() -> E {
    E::custom("left to Python's json")
}

/// Parses `text`, a JSON array the core has checked, into a tuple of
/// Python values (after `lead`, if given); each `{"_placeholder": true, "num": n}` (n an integer
/// below `attachments.len()`) becomes the attachment `n`, as
/// `wsrt._sio._unpack` does. None if the text needs Python's parser.
pub fn parse_args<'py>(
    py: Python<'py>,
    text: &str,
    attachments: &[Bound<'py, PyBytes>],
    lead: Option<Bound<'py, PyAny>>,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let reader = Reader {
        py,
        attachments,
        stop: Stop::default(),
    };
    let mut args = Args {
        inline: Default::default(),
        len: 0,
        more: Vec::new(),
    };
    if let Some(v) = lead {
        args.push(v);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let top = ArgsVisitor {
        reader: &reader,
        args: &mut args,
    };
    match de.deserialize_seq(top).and_then(|()| de.end()) {
        Ok(()) => args.into_tuple(py).map(Some),
        Err(_) => reader.stop.outcome(),
    }
}

/// A call's values: the first few on the stack, so that the usual event
/// costs no allocation for them.
struct Args<'py> {
    inline: [Option<Bound<'py, PyAny>>; 4],
    len: usize,
    more: Vec<Bound<'py, PyAny>>,
}

impl<'py> Args<'py> {
    fn push(&mut self, v: Bound<'py, PyAny>) {
        match self.inline.get_mut(self.len) {
            Some(slot) => *slot = Some(v),
            None => self.more.push(v),
        }
        self.len += 1;
    }

    fn into_tuple(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let first = self.inline.into_iter().take(self.len);
        let first = first.map(|v| v.expect("each of the first `len` slots is set"));
        if self.more.is_empty() {
            return PyTuple::new(py, first);
        }
        let all: Vec<_> = first.chain(self.more).collect();
        PyTuple::new(py, all)
    }
}

/// What every value of one parse shares.
struct Reader<'a, 'py> {
    py: Python<'py>,
    attachments: &'a [Bound<'py, PyBytes>],
    stop: Stop,
}

impl<'py> Reader<'_, 'py> {
    fn check<T, E: de::Error>(&self, r: PyResult<T>) -> Result<T, E> {
        r.map_err(|e| self.stop.raise(e))
    }

    /// The attachment a placeholder object stands for, if it is one: the
    /// rule of `wsrt._sio._unpack`.
    fn placeholder(&self, dict: &Bound<'py, PyDict>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if self.attachments.is_empty() {
            return Ok(None);
        }
        let marked = dict
            .get_item("_placeholder")?
            .is_some_and(|v| v.is(&*PyBool::new(self.py, true)));
        let num = match dict.get_item("num")? {
            Some(n) if marked && n.is_exact_instance_of::<PyInt>() => n.extract::<usize>().ok(),
            _ => None,
        };
        Ok(num
            .and_then(|n| self.attachments.get(n))
            .map(|a| a.clone().into_any()))
    }
}

/// The top-level array: its items go to `args`.
struct ArgsVisitor<'r, 'a, 'py> {
    reader: &'r Reader<'a, 'py>,
    args: &'r mut Args<'py>,
}

impl<'de> Visitor<'de> for ArgsVisitor<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let item = ValueSeed {
            reader: self.reader,
            depth: 1,
        };
        while let Some(v) = seq.next_element_seed(item)? {
            self.args.push(v);
        }
        Ok(())
    }
}

/// One value at `depth` (the top-level array's items are at 1), read as
/// its Python object.
#[derive(Clone, Copy)]
struct ValueSeed<'r, 'a, 'py> {
    reader: &'r Reader<'a, 'py>,
    depth: usize,
}

impl<'de, 'py> DeserializeSeed<'de> for ValueSeed<'_, '_, 'py> {
    type Value = Bound<'py, PyAny>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(give_up_de());
        }
        d.deserialize_any(self)
    }
}

impl<'de, 'py> Visitor<'de> for ValueSeed<'_, '_, 'py> {
    type Value = Bound<'py, PyAny>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(self.reader.py.None().into_bound(self.reader.py))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PyBool::new(self.reader.py, v).to_owned().into_any())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(PyInt::new(self.reader.py, v).into_any())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(PyInt::new(self.reader.py, v).into_any())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // serde_json (without arbitrary_precision) reads an integer beyond
        // 64 bits, and `-0`, as a float; Python's json as an int. A float
        // literal of such a value (1e19, -0.0) cannot be told apart: both
        // go to Python, which reads each as it should.
        const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
        if v.abs() >= TWO_POW_63 || (v == 0.0 && v.is_sign_negative()) {
            return Err(give_up_de());
        }
        Ok(PyFloat::new(self.reader.py, v).into_any())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.reader.py, v).into_any())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let item = ValueSeed {
            depth: self.depth + 1,
            ..self
        };
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(item)? {
            items.push(v);
        }
        let list = self.reader.check(PyList::new(self.reader.py, items))?;
        Ok(list.into_any())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let reader = self.reader;
        let dict = PyDict::new(reader.py);
        let value = ValueSeed {
            depth: self.depth + 1,
            ..self
        };
        while let Some(key) = map.next_key_seed(KeySeed(reader.py))? {
            let v = map.next_value_seed(value)?;
            // A repeated key: the last value wins, as with Python's json.
            reader.check(dict.set_item(key, v))?;
        }
        let att = reader.check(reader.placeholder(&dict))?;
        Ok(att.unwrap_or_else(|| dict.into_any()))
    }
}

/// An object's key, read as a str.
struct KeySeed<'py>(Python<'py>);

impl<'de, 'py> DeserializeSeed<'de> for KeySeed<'py> {
    type Value = Bound<'py, PyString>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, 'py> Visitor<'de> for KeySeed<'py> {
    type Value = Bound<'py, PyString>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PyString::new(self.0, v))
    }
}

/// Whether a handler's return value is one of the types that are never
/// awaitable (exactly: None, tuple, list, dict, str, int, float, bool,
/// bytes), as `wsrt._sio._PLAIN` lists them.
pub fn is_plain(v: &Bound<'_, PyAny>) -> bool {
    v.is_none()
        || v.is_exact_instance_of::<PyTuple>()
        || v.is_exact_instance_of::<PyString>()
        || v.is_exact_instance_of::<PyDict>()
        || v.is_exact_instance_of::<PyList>()
        || v.is_exact_instance_of::<PyInt>()
        || v.is_exact_instance_of::<PyFloat>()
        || v.is_exact_instance_of::<PyBool>()
        || v.is_exact_instance_of::<PyBytes>()
}

/// JSON arguments and their binary attachments, as the core takes them.
pub struct Packed<'py> {
    pub json: String,
    pub attachments: Vec<Bound<'py, PyBytes>>,
}

thread_local! {
    /// The text buffer of the last `Packed` of this thread, kept for the
    /// next: an ack costs no allocation for its JSON.
    static SPARE: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Spare buffers above this size are let go rather than kept.
const MAX_SPARE: usize = 64 * 1024;

fn keep_spare(buf: Vec<u8>) {
    if buf.capacity() <= MAX_SPARE {
        SPARE.set(buf);
    }
}

impl<'py> Packed<'py> {
    pub fn slices(&self) -> Vec<&[u8]> {
        self.attachments.iter().map(|a| a.as_bytes()).collect()
    }

    /// The JSON text, taken out (the buffer is not kept for reuse).
    pub fn take_json(&mut self) -> String {
        std::mem::take(&mut self.json)
    }
}

impl Drop for Packed<'_> {
    fn drop(&mut self) {
        keep_spare(std::mem::take(&mut self.json).into_bytes());
    }
}

/// Writes `args` (a tuple's or list's items) as a JSON array, each
/// bytes-like value (at any depth) a placeholder for its attachment,
/// numbered in the order met, as `wsrt._sio._pack` does. None if a value
/// is left to Python's encoder (which then gives the same text or the
/// same error).
pub fn pack_args<'py>(args: &Bound<'py, PyAny>) -> PyResult<Option<Packed<'py>>> {
    pack(Top::Items(args))
}

/// A handler's return value as an ack's arguments: none for None, a
/// tuple's items, or the one value.
pub fn pack_result<'py>(value: &Bound<'py, PyAny>) -> PyResult<Option<Packed<'py>>> {
    if value.is_instance_of::<PyTuple>() {
        pack(Top::Items(value))
    } else if value.is_none() {
        pack(Top::Nothing)
    } else {
        pack(Top::One(value))
    }
}

/// What an array of arguments is made of.
enum Top<'v, 'py> {
    /// A tuple's or list's items.
    Items(&'v Bound<'py, PyAny>),
    /// One value.
    One(&'v Bound<'py, PyAny>),
    Nothing,
}

/// `top` as a JSON array, written by serde_json into this thread's spare
/// buffer.
fn pack<'py>(top: Top<'_, 'py>) -> PyResult<Option<Packed<'py>>> {
    let w = Writer::default();
    let mut buf = SPARE.take();
    buf.clear();
    let mut out = Buf(buf);
    let written = match top {
        Top::Items(v) => serde_json::to_writer(&mut out, &Items { w: &w, v, depth: 0 }),
        Top::One(v) => serde_json::to_writer(&mut out, &[Value { w: &w, v, depth: 1 }]),
        Top::Nothing => serde_json::to_writer(&mut out, &[(); 0]),
    };
    let Buf(buf) = out;
    if written.is_err() {
        keep_spare(buf);
        return w.stop.outcome();
    }
    // SAFETY: serde_json writes UTF-8 only (its own `to_string` relies on
    // it the same way); this skips a second pass over every ack's text.
    let json = unsafe { String::from_utf8_unchecked(buf) };
    Ok(Some(Packed {
        json,
        attachments: w.attachments.into_inner(),
    }))
}

/// serde_json's output buffer. Most of its writes are one byte (a
/// bracket, quote, comma or colon): pushed in place, they cost no call to
/// `memcpy` as `Vec`'s own `write_all` makes for each.
struct Buf(Vec<u8>);

impl std::io::Write for Buf {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match bytes {
            [b] => self.0.push(*b),
            _ => self.0.extend_from_slice(bytes),
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What every value of one write shares: the attachments met so far.
#[derive(Default)]
struct Writer<'py> {
    attachments: RefCell<Vec<Bound<'py, PyBytes>>>,
    stop: Stop,
}

impl<'py> Writer<'py> {
    /// A placeholder for `b`, the next attachment.
    fn attach<S: Serializer>(&self, b: Bound<'py, PyBytes>, s: S) -> Result<S::Ok, S::Error> {
        let num = {
            let mut atts = self.attachments.borrow_mut();
            atts.push(b);
            atts.len() - 1
        };
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("_placeholder", &true)?;
        m.serialize_entry("num", &num)?;
        m.end()
    }
}

/// A list's or tuple's items at `depth`, as a JSON array.
struct Items<'w, 'v, 'py> {
    w: &'w Writer<'py>,
    v: &'v Bound<'py, PyAny>,
    depth: usize,
}

impl Serialize for Items<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let Ok(t) = self.v.cast::<PyTuple>() {
            self.each(s, t.len(), t.iter())
        } else if let Ok(l) = self.v.cast::<PyList>() {
            self.each(s, l.len(), l.iter())
        } else {
            Err(give_up_ser())
        }
    }
}

impl<'py> Items<'_, '_, 'py> {
    /// The `len` items as a JSON array, one level deeper.
    fn each<S: Serializer>(
        &self,
        s: S,
        len: usize,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
    ) -> Result<S::Ok, S::Error> {
        let (w, depth) = (self.w, self.depth + 1);
        let mut seq = s.serialize_seq(Some(len))?;
        for v in items {
            seq.serialize_element(&Value { w, v: &v, depth })?;
        }
        seq.end()
    }
}

/// One Python value at `depth` (an argument is at 1), as JSON.
struct Value<'w, 'v, 'py> {
    w: &'w Writer<'py>,
    v: &'v Bound<'py, PyAny>,
    depth: usize,
}

impl Serialize for Value<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (v, w) = (self.v, self.w);
        if self.depth > MAX_DEPTH {
            return Err(give_up_ser());
        }
        if v.is_none() {
            s.serialize_unit()
        } else if let Ok(t) = v.cast::<PyString>() {
            // None: a lone surrogate, which Python's json escapes.
            s.serialize_str(utf8(t).ok_or_else(give_up_ser)?)
        } else if v.is_instance_of::<PyBool>() {
            s.serialize_bool(v.is(&*PyBool::new(v.py(), true)))
        } else if v.is_instance_of::<PyInt>() {
            // An error: beyond 64 bits.
            s.serialize_i64(v.extract::<i64>().map_err(|_| give_up_ser())?)
        } else if let Ok(f) = v.cast::<PyFloat>() {
            let f = f.value();
            if !f.is_finite() {
                return Err(give_up_ser()); // Python's encoder refuses it (allow_nan=False)
            }
            // Shortest round trip, with a ".0" or an exponent: a float
            // stays a float for a Python client, as with float.__repr__.
            s.serialize_f64(f)
        } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            Items {
                w,
                v,
                depth: self.depth,
            }
            .serialize(s)
        } else if let Ok(d) = v.cast_exact::<PyDict>() {
            let depth = self.depth + 1;
            let mut m = s.serialize_map(Some(d.len()))?;
            for (k, x) in d.iter() {
                // Other keys: Python's conversions.
                let k = k.cast::<PyString>().map_err(|_| give_up_ser())?;
                m.serialize_entry(utf8(k).ok_or_else(give_up_ser)?, &Value { w, v: &x, depth })?;
            }
            m.end()
        } else if let Ok(b) = v.cast::<PyBytes>() {
            w.attach(b.clone(), s)
        } else if v.is_instance_of::<PyByteArray>() || v.is_instance_of::<PyMemoryView>() {
            // No buffer protocol in the stable ABI before 3.11: copy via bytes().
            let b = v.py().get_type::<PyBytes>().call1((v,));
            let b = b.and_then(|b| Ok(b.cast_into::<PyBytes>()?));
            w.attach(b.map_err(|e| w.stop.raise_ser(e))?, s)
        } else {
            Err(give_up_ser())
        }
    }
}

extern "C" {
    // In every CPython 3 (the stable ABI lists it from 3.10 on): the str's
    // own UTF-8 copy, made once and kept with it, so writing a str costs
    // no allocation per call as `PyString::to_cow` would on the 3.9 ABI.
    fn PyUnicode_AsUTF8AndSize(
        unicode: *mut pyo3::ffi::PyObject,
        size: *mut pyo3::ffi::Py_ssize_t,
    ) -> *const std::ffi::c_char;
}

/// A str's text; None if it holds a lone surrogate (not UTF-8).
pub fn utf8<'a>(s: &'a Bound<'_, PyString>) -> Option<&'a str> {
    let mut len: pyo3::ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a str (the GIL is held, as `Bound` proves); the
    // buffer lives as long as the str, which `'a` borrows.
    let ptr = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut len) };
    if ptr.is_null() {
        drop(PyErr::take(s.py())); // the UnicodeEncodeError of a surrogate
        return None;
    }
    // SAFETY: CPython's UTF-8 of a str is `len` valid UTF-8 bytes.
    Some(unsafe {
        std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr.cast::<u8>(), len as usize))
    })
}
