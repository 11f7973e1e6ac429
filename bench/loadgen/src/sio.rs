//! The client side of Engine.IO v4 and Socket.IO v5 over the WebSocket
//! transport, as far as the generator needs it: the handshake path, the
//! open packet, connecting namespace "/", answering the server's pings,
//! and Socket.IO packets parsed enough to match acks and events. Each
//! Engine.IO packet travels in a WebSocket text frame of its own: `0` open,
//! `1` close, `2` ping, `3` pong, `4` message (a Socket.IO packet follows:
//! `0` connect, `1` disconnect, `2` event, `3` ack, `4` connect error, `5`
//! and `6` their binary forms), `6` noop.
//!
//! A small JSON reader is here too: it checks what a server's serializer
//! wrote whatever its spacing or key order, on the slow path only (the
//! scenarios first compare against the bytes a compact serializer writes).
use crate::ws;
use std::borrow::Cow;

/// The handshake path: the WebSocket transport straight away, no polling.
pub const PATH: &str = "/socket.io/?EIO=4&transport=websocket";

pub const CONNECT: u8 = 0;
pub const DISCONNECT: u8 = 1;
pub const EVENT: u8 = 2;
pub const ACK: u8 = 3;
pub const CONNECT_ERROR: u8 = 4;

/// A Socket.IO packet (the part of an Engine.IO message after the `4`).
#[derive(Debug, PartialEq)]
pub struct Packet<'a> {
    pub kind: u8,
    /// The namespace, "/" when the packet names none.
    pub nsp: &'a str,
    pub id: Option<u64>,
    /// The JSON data, as written (may be empty).
    pub data: &'a [u8],
}

/// Parses a Socket.IO packet: `<type>[<attachments>-][<nsp>,][<id>][<json>]`.
pub fn parse_packet(p: &[u8]) -> Result<Packet<'_>, String> {
    let bad = || {
        format!(
            "bad Socket.IO packet {:?}",
            String::from_utf8_lossy(&p[..p.len().min(80)])
        )
    };
    let kind = match p.first() {
        Some(c @ b'0'..=b'6') => c - b'0',
        _ => return Err(bad()),
    };
    if kind == 5 || kind == 6 {
        return Err("binary Socket.IO packet: no scenario sends binary data".into());
    }
    let mut i = 1;
    let mut nsp = "/";
    if p.get(i) == Some(&b'/') {
        let end = p[i..]
            .iter()
            .position(|&c| c == b',')
            .map_or(p.len(), |e| i + e);
        nsp = std::str::from_utf8(&p[i..end]).map_err(|_| bad())?;
        i = (end + 1).min(p.len());
    }
    let start = i;
    let mut id: u64 = 0;
    while let Some(d @ b'0'..=b'9') = p.get(i) {
        id = id
            .checked_mul(10)
            .and_then(|v| v.checked_add((d - b'0') as u64))
            .ok_or_else(bad)?;
        i += 1;
    }
    Ok(Packet {
        kind,
        nsp,
        id: (i > start).then_some(id),
        data: &p[i..],
    })
}

/// Appends one client text frame holding `parts` back to back.
pub fn put_text(out: &mut Vec<u8>, parts: &[&[u8]]) {
    ws::put_header(out, ws::TEXT, parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// Decimal digits of `v` (no allocation).
pub struct Dec {
    buf: [u8; 20],
    at: usize,
}

impl Dec {
    pub fn new(mut v: u64) -> Dec {
        let mut d = Dec {
            buf: [0; 20],
            at: 20,
        };
        loop {
            d.at -= 1;
            d.buf[d.at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                return d;
            }
        }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.at..]
    }
}

/// What the Engine.IO open packet said.
#[derive(Debug, Default, Clone)]
pub struct Open {
    pub ping_interval: Option<f64>,
    pub ping_timeout: Option<f64>,
    pub max_payload: Option<f64>,
}

pub fn parse_open(json: &[u8]) -> Result<Open, String> {
    let v = parse_json(json).map_err(|e| format!("open packet: {e}"))?;
    v.get("sid")
        .and_then(Value::as_str)
        .ok_or("open packet without a sid")?;
    let num = |k| v.get(k).and_then(Value::as_num);
    Ok(Open {
        ping_interval: num("pingInterval"),
        ping_timeout: num("pingTimeout"),
        max_payload: num("maxPayload"),
    })
}

/// Where a connection is in the Engine.IO and Socket.IO handshakes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Phase {
    /// Waiting for the Engine.IO open packet.
    #[default]
    Opening,
    /// `40` sent, waiting for the namespace's CONNECT answer.
    Connecting,
    Connected,
}

/// What a session hands its scenario.
pub enum Got<'a> {
    /// The namespace answered `40{"sid":...}`: the socket is connected.
    Connected,
    /// An event or an ack on namespace "/", once connected.
    Packet(Packet<'a>),
}

/// Engine.IO-level counters over every connection.
#[derive(Default)]
pub struct Counters {
    /// The first open packet seen.
    pub open: Option<Open>,
    /// Pings answered with a pong.
    pub pings: u64,
    /// Sockets whose namespace connect was answered.
    pub connected: usize,
    /// Packets before the connect answer, or on other namespaces, ignored.
    pub ignored: u64,
    /// Sockets whose connect answer carried a `pid`: the server has
    /// connection state recovery on, and appends an offset (a string) as
    /// the last argument of what it broadcasts (socket.io's clients keep it
    /// and drop nothing; the scenarios accept it where they check events).
    pub recovering: usize,
}

/// One Socket.IO client connection: its WebSocket reader and phase, and
/// its own ping count (the smoke checks every connection answered one).
#[derive(Default)]
pub struct Session {
    reader: ws::Reader,
    pub phase: Phase,
    pub pings: u32,
    /// The connect answer carried a `pid` (see `Counters::recovering`).
    pub recovering: bool,
}

impl Session {
    /// Consumes the whole frames at the front of `data`: answers the open
    /// packet with `40` and pings with pongs, fails on a close, a
    /// disconnect or a connect error, and hands the connect answer and then
    /// every packet on "/" to `on`. Returns the bytes consumed.
    pub fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        n: &mut Counters,
        mut on: impl FnMut(Got<'_>, &mut Vec<u8>) -> Result<(), String>,
    ) -> Result<usize, String> {
        let mut reader = std::mem::take(&mut self.reader);
        let r = reader.feed(data, out, |op, p, out| {
            if op != ws::TEXT {
                return Err("a binary frame: no scenario sends binary data".into());
            }
            match p.first() {
                Some(b'2') => {
                    put_text(out, &[b"3", &p[1..]]);
                    self.pings += 1;
                    n.pings += 1;
                    Ok(())
                }
                Some(b'3') | Some(b'6') => Ok(()),
                Some(b'0') if self.phase == Phase::Opening => {
                    let open = parse_open(&p[1..])?;
                    n.open.get_or_insert(open);
                    put_text(out, &[b"40"]);
                    self.phase = Phase::Connecting;
                    Ok(())
                }
                Some(b'1') => Err("the server closed the Engine.IO session".into()),
                Some(b'4') if self.phase != Phase::Opening => {
                    let pk = parse_packet(&p[1..])?;
                    if pk.nsp != "/" {
                        n.ignored += 1;
                        return Ok(());
                    }
                    match pk.kind {
                        CONNECT if self.phase == Phase::Connecting => {
                            let v =
                                parse_json(pk.data).map_err(|e| format!("connect answer: {e}"))?;
                            if v.get("sid").and_then(Value::as_str).is_none() {
                                return Err("connect answer without a sid".into());
                            }
                            if v.get("pid").and_then(Value::as_str).is_some() {
                                self.recovering = true;
                                n.recovering += 1;
                            }
                            self.phase = Phase::Connected;
                            n.connected += 1;
                            on(Got::Connected, out)
                        }
                        CONNECT_ERROR => Err(format!(
                            "connect error {}",
                            String::from_utf8_lossy(pk.data)
                        )),
                        DISCONNECT => Err("the server disconnected the socket".into()),
                        EVENT | ACK if self.phase == Phase::Connected => on(Got::Packet(pk), out),
                        EVENT | ACK => {
                            n.ignored += 1;
                            Ok(())
                        }
                        k => Err(format!("unexpected Socket.IO packet type {k}")),
                    }
                }
                _ => Err(format!(
                    "unexpected Engine.IO packet {:?} ({:?})",
                    String::from_utf8_lossy(&p[..p.len().min(60)]),
                    self.phase
                )),
            }
        });
        self.reader = reader;
        r
    }
}

// ---------------------------------------------------------------- JSON

#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Value<'a>>),
    Obj(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Obj(kv) => kv.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }
    pub fn as_arr(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::Arr(a) => Some(a),
            _ => None,
        }
    }
}

/// Parses one JSON value filling all of `s` (whitespace around allowed).
pub fn parse_json(s: &[u8]) -> Result<Value<'_>, String> {
    let mut p = JsonParser { s, i: 0, depth: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != s.len() {
        return Err(p.err("trailing bytes"));
    }
    Ok(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
    depth: u32,
}

impl<'a> JsonParser<'a> {
    fn err(&self, what: &str) -> String {
        format!(
            "JSON: {what} at byte {} of {:?}",
            self.i,
            String::from_utf8_lossy(&self.s[..self.s.len().min(80)])
        )
    }
    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn lit(&mut self, word: &[u8], v: Value<'a>) -> Result<Value<'a>, String> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err("bad literal"))
        }
    }
    fn value(&mut self) -> Result<Value<'a>, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b'{') | Some(b'[') => {
                self.depth += 1;
                if self.depth > 64 {
                    return Err(self.err("nested too deep"));
                }
                let v = if self.s[self.i] == b'{' {
                    self.object()
                } else {
                    self.array()
                };
                self.depth -= 1;
                v
            }
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while matches!(
                    self.s.get(self.i),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.i += 1;
                }
                std::str::from_utf8(&self.s[start..self.i])
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .map(Value::Num)
                    .ok_or_else(|| self.err("bad number"))
            }
            _ => Err(self.err("expected a value")),
        }
    }
    fn array(&mut self) -> Result<Value<'a>, String> {
        self.i += 1;
        let mut v = Vec::new();
        if self.eat(b']') {
            return Ok(Value::Arr(v));
        }
        loop {
            v.push(self.value()?);
            if self.eat(b']') {
                return Ok(Value::Arr(v));
            }
            if !self.eat(b',') {
                return Err(self.err("expected , or ]"));
            }
        }
    }
    fn object(&mut self) -> Result<Value<'a>, String> {
        self.i += 1;
        let mut v = Vec::new();
        if self.eat(b'}') {
            return Ok(Value::Obj(v));
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return Err(self.err("expected a key"));
            }
            let k = self.string()?;
            if !self.eat(b':') {
                return Err(self.err("expected :"));
            }
            v.push((k, self.value()?));
            if self.eat(b'}') {
                return Ok(Value::Obj(v));
            }
            if !self.eat(b',') {
                return Err(self.err("expected , or }"));
            }
        }
    }
    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(h)
    }
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.i += 1;
        let start = self.i;
        while let Some(&c) = self.s.get(self.i) {
            match c {
                b'"' => {
                    let t = std::str::from_utf8(&self.s[start..self.i])
                        .map_err(|_| self.err("not UTF-8"))?;
                    self.i += 1;
                    return Ok(Cow::Borrowed(t));
                }
                b'\\' => break,
                0..=0x1f => return Err(self.err("control character in a string")),
                _ => self.i += 1,
            }
        }
        // Escapes: decode into an owned string.
        let mut out = std::str::from_utf8(&self.s[start..self.i])
            .map_err(|_| self.err("not UTF-8"))?
            .to_owned();
        loop {
            let run = self.i;
            while let Some(&c) = self.s.get(self.i) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            out.push_str(
                std::str::from_utf8(&self.s[run..self.i]).map_err(|_| self.err("not UTF-8"))?,
            );
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = *self
                        .s
                        .get(self.i)
                        .ok_or_else(|| self.err("unfinished escape"))?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut c = self.hex4()?;
                            if (0xd800..0xdc00).contains(&c) && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("bad surrogate pair"));
                                }
                                c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
                            }
                            out.push(char::from_u32(c).ok_or_else(|| self.err("bad \\u escape"))?);
                        }
                        _ => return Err(self.err("bad escape")),
                    }
                }
                _ => return Err(self.err("unterminated string")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_text(p: &[u8]) -> Vec<u8> {
        let mut f = vec![0x81];
        match p.len() {
            0..=125 => f.push(p.len() as u8),
            _ => {
                f.push(126);
                f.extend_from_slice(&(p.len() as u16).to_be_bytes());
            }
        }
        f.extend_from_slice(p);
        f
    }

    /// The unmasked payloads of the client frames in `out`.
    fn client_texts(mut out: &[u8]) -> Vec<String> {
        let mut v = Vec::new();
        while !out.is_empty() {
            let len = (out[1] & 0x7f) as usize;
            assert!(len < 126);
            v.push(String::from_utf8(out[6..6 + len].to_vec()).unwrap());
            out = &out[6 + len..];
        }
        v
    }

    #[test]
    fn packets() {
        let p = parse_packet(b"3123[\"x\"]").unwrap();
        assert_eq!(
            (p.kind, p.nsp, p.id, p.data),
            (3, "/", Some(123), &b"[\"x\"]"[..])
        );
        let p = parse_packet(b"2[\"room-msg\",{}]").unwrap();
        assert_eq!((p.kind, p.id), (2, None));
        let p = parse_packet(b"2/admin,7[\"a\"]").unwrap();
        assert_eq!((p.nsp, p.id, p.data), ("/admin", Some(7), &b"[\"a\"]"[..]));
        let p = parse_packet(b"0{\"sid\":\"x\"}").unwrap();
        assert_eq!((p.kind, p.id, p.data), (0, None, &b"{\"sid\":\"x\"}"[..]));
        assert!(parse_packet(b"51-[\"a\",{\"_placeholder\":true,\"num\":0}]").is_err());
        assert!(parse_packet(b"x").is_err());
        assert!(parse_packet(b"399999999999999999999999[]").is_err());
    }

    #[test]
    fn json() {
        let v =
            parse_json(br#" {"a": [1, -2.5e3, true, null], "s":"x\"\u00e9\ud83d\ude00", "o":{}} "#)
                .unwrap();
        assert_eq!(
            v.get("a").unwrap().as_arr().unwrap(),
            &[
                Value::Num(1.0),
                Value::Num(-2500.0),
                Value::Bool(true),
                Value::Null
            ]
        );
        assert_eq!(v.get("s").unwrap().as_str(), Some("x\"é😀"));
        assert_eq!(v.get("o"), Some(&Value::Obj(vec![])));
        for bad in [
            &b"[1,]"[..],
            b"{\"a\"}",
            b"\"x",
            b"[1] 2",
            b"tru",
            b"\"\x01\"",
        ] {
            assert!(
                parse_json(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn session_handshake_ping_and_packets() {
        let open = br#"0{"sid":"abc","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000000}"#;
        let mut wire = server_text(open);
        wire.extend(server_text(b"2"));
        wire.extend(server_text(br#"40{"sid":"def"}"#));
        wire.extend(server_text(br#"42["welcome",1]"#));
        wire.extend(server_text(br#"434[1]"#));
        wire.extend(server_text(b"6"));
        let (mut s, mut n, mut out, mut got) = (
            Session::default(),
            Counters::default(),
            Vec::new(),
            Vec::new(),
        );
        let mut buf = Vec::new();
        for b in wire {
            buf.push(b); // byte by byte: frames split anywhere
            let used = s
                .feed(&buf, &mut out, &mut n, |g, _| {
                    got.push(match g {
                        Got::Connected => "connected".to_string(),
                        Got::Packet(p) => {
                            format!("{} {:?} {}", p.kind, p.id, String::from_utf8_lossy(p.data))
                        }
                    });
                    Ok(())
                })
                .unwrap();
            buf.drain(..used);
        }
        assert_eq!(
            got,
            ["connected", "2 None [\"welcome\",1]", "3 Some(4) [1]"]
        );
        assert_eq!(client_texts(&out), ["40", "3"]);
        assert_eq!((n.pings, n.connected, s.phase), (1, 1, Phase::Connected));
        assert_eq!((s.recovering, n.recovering), (false, 0));
        let o = n.open.unwrap();
        assert_eq!((o.ping_interval, o.max_payload), (Some(300.0), Some(1e6)));
    }

    #[test]
    fn session_with_recovery() {
        // A server with connection state recovery answers the connect
        // with a pid (and then appends offsets to what it broadcasts).
        let mut wire = server_text(br#"0{"sid":"a","pingInterval":25000}"#);
        wire.extend(server_text(br#"40{"sid":"b","pid":"c"}"#));
        let (mut s, mut n, mut out) = (Session::default(), Counters::default(), Vec::new());
        s.feed(&wire, &mut out, &mut n, |_, _| Ok(())).unwrap();
        assert_eq!((s.recovering, n.recovering, n.connected), (true, 1, 1));
    }

    #[test]
    fn session_failures() {
        for (frames, why) in [
            (vec![&b"1"[..]], "closed"),
            (
                vec![br#"0{"sid":"a"}"#, br#"44{"message":"no"}"#],
                "connect error",
            ),
            (
                vec![br#"0{"sid":"a"}"#, br#"40{"sid":"b"}"#, b"41"],
                "disconnected",
            ),
            (vec![br#"0{"upgrades":[]}"#], "without a sid"),
            (vec![br#"42["early"]"#], "unexpected Engine.IO packet"),
        ] {
            let wire: Vec<u8> = frames.iter().flat_map(|f| server_text(f)).collect();
            let (mut s, mut n, mut out) = (Session::default(), Counters::default(), Vec::new());
            let e = s.feed(&wire, &mut out, &mut n, |_, _| Ok(())).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn decimal() {
        for v in [0u64, 7, 10, 12345, u64::MAX] {
            assert_eq!(Dec::new(v).bytes(), v.to_string().as_bytes());
        }
    }
}
