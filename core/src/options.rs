//! The option schema of the front contract: every setting's name in each
//! front, its unit, range, default and what zero means, written once. The
//! fronts hand values over as they got them ([`OptionValue`]); the checks
//! and the messages are here.
//!
//! The one rule for zero: **0 turns a timer or a limit off** (a timeout of
//! 0 never fires, a size or count limit of 0 is no limit). Levels and
//! choices have no "off"; for them 0 is an ordinary value or out of range.
//! Durations cross every boundary in milliseconds.

use crate::config::{defaults, ClientAuth, Config, SlowConsumerPolicy, Spelling, TlsVersion};
use crate::error::{Error, Result};
use crate::proto::{DeflateMode, OverflowPolicy};
use std::time::Duration;

/// What an option's number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A duration in milliseconds; 0 turns the timer off.
    Millis,
    /// A size limit in bytes; 0 is no limit.
    Bytes,
    /// A count limit; 0 is no limit.
    Count,
    /// A number from a fixed range (a zlib level); 0 is a value if the
    /// range holds it.
    Level,
    /// One of named choices (Python and Node use the names, C the numbers).
    Choice(&'static [(&'static str, u64)]),
    /// A list of strings; one string is a list of one.
    List,
    /// One string (an address); empty is unset.
    Text,
    /// On or off: a boolean (C: 1 or 0); 0 is off.
    Flag,
    /// A number of threads; 0 (or the string "auto") is one per core the
    /// process may run on.
    Threads,
}

/// One option of the contract.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// The C constant's value (`WSRT_OPT_*`).
    pub id: u32,
    /// The name in Python (a keyword argument) and in the C constant
    /// (upper-cased, after `WSRT_OPT_`).
    pub name: &'static str,
    /// The name in Node (an option property).
    pub js_name: &'static str,
    /// The field of [`Config`] in Rust.
    pub rust_name: &'static str,
    pub unit: Unit,
    /// The range a value other than an "off" zero must lie in.
    pub min: u64,
    pub max: u64,
    pub default: u64,
    pub doc: &'static str,
}

impl OptionSpec {
    /// The C constant's name.
    pub fn c_name(&self) -> String {
        format!("WSRT_OPT_{}", self.name.to_ascii_uppercase())
    }

    /// Whether 0 turns this option off (a timer or a limit).
    pub fn zero_is_off(&self) -> bool {
        matches!(self.unit, Unit::Millis | Unit::Bytes | Unit::Count)
    }

    /// What 0 means, for the documentation.
    pub fn zero_meaning(&self) -> &'static str {
        match self.unit {
            Unit::Millis => "timer off",
            Unit::Bytes | Unit::Count => "no limit",
            Unit::Level if self.min == 0 => "a value",
            Unit::Flag => "off",
            Unit::Threads => "one per usable core",
            Unit::List | Unit::Text => "empty: unset",
            Unit::Choice(c) if c.iter().any(|(_, v)| *v == 0) => "a value",
            _ => "refused",
        }
    }

    /// The choice's number for a name, or its name for a number.
    fn choice(&self, name: &str) -> Option<u64> {
        match self.unit {
            Unit::Choice(c) => c.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
            _ => None,
        }
    }

    fn choice_name(&self, v: u64) -> Option<&'static str> {
        match self.unit {
            Unit::Choice(c) => c.iter().find(|(_, n)| *n == v).map(|(n, _)| *n),
            _ => None,
        }
    }

    /// Checks a number for this option; the message names the option as
    /// `shown`.
    fn check(&self, v: u64, shown: &str) -> Result<u64> {
        if v == 0 && (self.zero_is_off() || self.unit == Unit::Threads) {
            return Ok(0);
        }
        let valid = match self.unit {
            Unit::Choice(_) => self.choice_name(v).is_some(),
            _ => (self.min..=self.max).contains(&v),
        };
        match valid {
            true => Ok(v),
            false => Err(self.refusal(shown, &v)),
        }
    }

    /// The one message for a value out of range, whatever its type.
    fn refusal(&self, shown: &str, got: &dyn std::fmt::Display) -> Error {
        if let Unit::Choice(c) = self.unit {
            let names: Vec<String> = c.iter().map(|(n, v)| format!("\"{n}\" ({v})")).collect();
            return Error::invalid(format!(
                "{shown} must be one of {}, not {got}",
                names.join(", ")
            ));
        }
        let off = match self.unit {
            Unit::Millis => "0 (off) or ",
            Unit::Bytes | Unit::Count => "0 (no limit) or ",
            Unit::Threads => "0 or \"auto\" (one per usable core) or ",
            _ => "",
        };
        let unit = match self.unit {
            Unit::Millis => " milliseconds",
            Unit::Bytes => " bytes",
            _ => "",
        };
        Error::invalid(format!(
            "{shown} must be {off}{}-{}{unit}, not {got}",
            self.min, self.max
        ))
    }
}

/// A value as a front received it.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue<'a> {
    /// An integer (C, Python `int`). Out of the `u64` range is out of
    /// range, never wrapped.
    Int(i128),
    /// A JavaScript number: must be a whole number.
    Number(f64),
    /// A string (a choice's name).
    Str(&'a str),
    /// A boolean: never a valid value here, refused with a clear message
    /// (Python counts `True` as an int).
    Bool(bool),
    /// A list of strings.
    List(Vec<String>),
    /// None / null / undefined: the default.
    Default,
    /// A value of a type no option takes (an object, a function, ...),
    /// named as its front calls it ("an object").
    Other(&'a str),
}

impl OptionValue<'_> {
    fn type_name(&self) -> &str {
        match self {
            OptionValue::Int(_) | OptionValue::Number(_) => "a number",
            OptionValue::Str(_) => "a string",
            OptionValue::Bool(_) => "a boolean",
            OptionValue::List(_) => "a list",
            OptionValue::Default => "nothing",
            OptionValue::Other(t) => t,
        }
    }
}

/// Largest timer: 2^31-1 ms (24.8 days, JavaScript's own timer limit),
/// which also keeps deadline arithmetic far from overflow.
pub const MAX_MILLIS: u64 = (1 << 31) - 1;
/// Largest size: 2^53-1, exact as a JavaScript number.
pub const MAX_BYTES: u64 = (1 << 53) - 1;

/// The names after the first for a number are aliases (Node's spelling).
const TLS_VERSIONS: &[(&str, u64)] = &[("1.2", 12), ("1.3", 13), ("TLSv1.2", 12), ("TLSv1.3", 13)];
const TLS_CLIENT_AUTH: &[(&str, u64)] = &[("none", 0), ("optional", 1), ("required", 2)];
const OVERFLOW_POLICIES: &[(&str, u64)] = &[("reject", 0), ("close", 1)];
const DEFLATE_MODES: &[(&str, u64)] = &[("off", 0), ("shared", 1), ("per-connection", 2)];
/// 0 is left for "the configured policy" in per-publish options.
pub const SLOW_CONSUMER_POLICIES: &[(&str, u64)] = &[("drop", 1), ("close", 2)];

macro_rules! spec {
    ($id:expr, $name:literal, $js:literal, $rust:literal, $unit:expr, $min:expr, $max:expr, $default:expr, $doc:literal) => {
        OptionSpec {
            id: $id,
            name: $name,
            js_name: $js,
            rust_name: $rust,
            unit: $unit,
            min: $min,
            max: $max,
            default: $default,
            doc: $doc,
        }
    };
}

/// Every option, by C id.
pub static OPTIONS: &[OptionSpec] = &[
    spec!(1, "max_message_size", "maxMessageSize", "max_message_size", Unit::Bytes, 1, MAX_BYTES, defaults::MAX_MESSAGE_SIZE,
        "Largest WebSocket message accepted (reassembled and inflated); a bigger one closes with 1009."),
    spec!(2, "max_head_bytes", "maxHeadBytes", "max_head_bytes", Unit::Bytes, 64, MAX_BYTES, defaults::MAX_HEAD_BYTES,
        "Largest HTTP request head; a bigger one is answered 431."),
    spec!(3, "max_headers", "maxHeaders", "max_headers", Unit::Count, 1, 65_535, defaults::MAX_HEADERS,
        "Most request headers; more is answered 431."),
    spec!(4, "handshake_timeout_ms", "handshakeTimeoutMs", "handshake_timeout", Unit::Millis, 1, MAX_MILLIS, defaults::HANDSHAKE_TIMEOUT_MS,
        "Time to send a complete request head (and for the app to approve it), from accept; then the connection is dropped. On Linux a connection is accepted once its first bytes are in, or about 1 s after it opened if it sent none (TCP_DEFER_ACCEPT)."),
    spec!(5, "idle_timeout_ms", "idleTimeoutMs", "idle_timeout", Unit::Millis, 1, MAX_MILLIS, defaults::IDLE_TIMEOUT_MS,
        "A WebSocket peer silent for half of this is pinged; silent for all of it, dropped (1006)."),
    spec!(6, "close_timeout_ms", "closeTimeoutMs", "close_timeout", Unit::Millis, 1, MAX_MILLIS, defaults::CLOSE_TIMEOUT_MS,
        "Time a close handshake, a final flush and a graceful shutdown may take."),
    spec!(7, "max_buffered", "maxBuffered", "max_buffered", Unit::Bytes, 1024, MAX_BYTES, defaults::MAX_BUFFERED,
        "Bytes the app's sends may queue for one connection; past it a send meets overflow_policy."),
    spec!(8, "read_pause_buffered", "readPauseBuffered", "read_pause_buffered", Unit::Bytes, 1, MAX_BYTES, defaults::READ_PAUSE_BUFFERED,
        "While more than this is queued for a connection, it is not read (a peer that does not read cannot make us queue more)."),
    spec!(9, "overflow_policy", "overflowPolicy", "overflow_policy", Unit::Choice(OVERFLOW_POLICIES), 0, 1, 0,
        "A send past max_buffered: \"reject\" refuses it (backpressure error; a drain event follows), \"close\" closes the connection with 1008."),
    spec!(10, "sse_keepalive_ms", "sseKeepaliveMs", "sse_keepalive", Unit::Millis, 1, MAX_MILLIS, defaults::SSE_KEEPALIVE_MS,
        "A comment on an event stream quiet this long, so proxies keep it open and dead clients are found."),
    spec!(11, "max_connections", "maxConnections", "max_connections", Unit::Count, 1, crate::event::MAX_SLOTS as u64 - 1, defaults::MAX_CONNECTIONS,
        "Connections beyond this are accepted and closed at once."),
    spec!(12, "deflate", "deflate", "deflate.mode", Unit::Choice(DEFLATE_MODES), 0, 2, 0,
        "permessage-deflate: \"off\", \"shared\" (no context takeover, contexts shared by the loop) or \"per-connection\" (context takeover as the client offers)."),
    spec!(13, "deflate_threshold", "deflateThreshold", "deflate.threshold", Unit::Bytes, 1, MAX_BYTES, defaults::DEFLATE_THRESHOLD,
        "Messages shorter than this go out uncompressed."),
    spec!(14, "deflate_level", "deflateLevel", "deflate.level", Unit::Level, 0, 9, defaults::DEFLATE_LEVEL,
        "zlib compression level."),
    spec!(15, "deflate_window_bits", "deflateWindowBits", "deflate.window_bits", Unit::Level, 9, 15, defaults::DEFLATE_WINDOW_BITS,
        "Our compressor's window (smaller: less memory, less compression)."),
    spec!(16, "slow_consumer_limit", "slowConsumerLimit", "slow_consumer_limit", Unit::Bytes, 1024, MAX_BYTES, defaults::SLOW_CONSUMER_LIMIT,
        "A publish finds a subscriber with more than this queued slow."),
    spec!(17, "slow_consumer_policy", "slowConsumerPolicy", "slow_consumer_policy", Unit::Choice(SLOW_CONSUMER_POLICIES), 1, 2, 2,
        "What a publish does with a slow subscriber: \"drop\" skips the message for it, \"close\" closes it (1008)."),
    spec!(18, "allowed_origins", "allowedOrigins", "allowed_origins", Unit::List, 0, 0, 0,
        "Origins browsers may connect from; a WebSocket, SSE or Engine.IO request with another Origin is answered 403. Empty: any."),
    spec!(19, "sio_ping_interval_ms", "sioPingIntervalMs", "sio_ping_interval", Unit::Millis, 1, MAX_MILLIS, defaults::SIO_PING_INTERVAL_MS,
        "Engine.IO heartbeat: the server pings each session this often (Engine.IO's pingInterval)."),
    spec!(20, "sio_ping_timeout_ms", "sioPingTimeoutMs", "sio_ping_timeout", Unit::Millis, 1, MAX_MILLIS, defaults::SIO_PING_TIMEOUT_MS,
        "A session that has not answered a ping within this is closed (\"ping timeout\")."),
    spec!(21, "sio_connect_timeout_ms", "sioConnectTimeoutMs", "sio_connect_timeout", Unit::Millis, 1, MAX_MILLIS, defaults::SIO_CONNECT_TIMEOUT_MS,
        "A Socket.IO session that has joined no namespace by then is closed."),
    spec!(22, "sio_upgrade_timeout_ms", "sioUpgradeTimeoutMs", "sio_upgrade_timeout", Unit::Millis, 1, MAX_MILLIS, defaults::SIO_UPGRADE_TIMEOUT_MS,
        "An upgrade from long-polling to WebSocket not completed by then is abandoned (the session stays on polling)."),
    spec!(23, "sio_max_payload", "sioMaxPayload", "sio_max_payload", Unit::Bytes, 1, MAX_BYTES, defaults::SIO_MAX_PAYLOAD,
        "Largest Engine.IO message on a WebSocket and largest long-polling POST (Engine.IO's maxPayload, Socket.IO's maxHttpBufferSize); more closes the session (a POST is answered 413)."),
    spec!(24, "sio_recovery_window_ms", "sioRecoveryWindowMs", "sio_recovery_window", Unit::Millis, 1, MAX_MILLIS, 0,
        "Socket.IO connection state recovery: a socket dropped for a transport reason may come back this long after with its id, rooms and missed broadcasts (0: off)."),
    spec!(25, "cors_origins", "corsOrigins", "cors_origins", Unit::List, 0, 0, 0,
        "Origins whose pages may read Engine.IO answers (CORS); \"*\" for any. Empty: no CORS headers."),
    spec!(26, "cors_credentials", "corsCredentials", "cors_credentials", Unit::Flag, 0, 1, 0,
        "CORS answers allow credentials (cookies); the allowed origin is then named, never \"*\"."),
    spec!(27, "tls_cert", "tlsCert", "tls.cert", Unit::List, 0, 0, 0,
        "TLS certificate chains, each a PEM file's path or PEM text. Set: the server speaks TLS (https, wss) on listen, or on tls_listen. With several, a client gets the first whose names match the server name it asks for (SNI), else the first."),
    spec!(28, "tls_key", "tlsKey", "tls.key", Unit::List, 0, 0, 0,
        "The private keys of tls_cert, in the same order, each a PEM file's path or PEM text."),
    spec!(29, "tls_ca", "tlsCa", "tls.ca", Unit::List, 0, 0, 0,
        "CA certificates (PEM paths or text) that client certificates are verified against; needs tls_client_auth."),
    spec!(30, "tls_client_auth", "tlsClientAuth", "tls.client_auth", Unit::Choice(TLS_CLIENT_AUTH), 0, 2, 0,
        "Client certificates: \"none\" asks for none, \"optional\" verifies one if sent, \"required\" refuses a handshake without a valid one. The verified subject is in the request."),
    spec!(31, "tls_min_version", "tlsMinVersion", "tls.min_version", Unit::Choice(TLS_VERSIONS), 12, 13, 12,
        "Oldest TLS version accepted: \"1.2\" or \"1.3\" (\"TLSv1.2\", \"TLSv1.3\" also read). A client offering only older versions is refused with a protocol_version alert."),
    spec!(32, "tls_listen", "tlsListen", "tls.listen", Unit::Text, 0, 0, 0,
        "host:port for TLS beside a plain listen (the two side by side, one server). Empty: listen itself speaks TLS when tls_cert is set."),
    spec!(33, "cluster_redis_url", "clusterRedisUrl", "cluster.redis_url", Unit::Text, 0, 0, 0,
        "Where the cluster's Redis is (redis://host:port/, redis+unix:///path): every publish also goes to the servers sharing it, and theirs reach this one's subscribers. Redis down: local delivery goes on, cross-server publishes are dropped (counted) until it is back. Empty: no cluster."),
    spec!(34, "workers", "workers", "workers", Unit::Threads, 1, crate::event::MAX_LOOPS as u64, 1,
        "Event loops, each on a thread of its own with its own listener on the shared port (SO_REUSEPORT): I/O, TLS, parsing and compression run in parallel; handlers still run on the application's one thread and see one stream of events. 0 or \"auto\": one per usable core."),
];

/// The option with this C id.
pub fn by_id(id: u32) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.id == id)
}

/// The TLS option with this name (what a reload takes); another option's
/// name is refused.
pub fn tls_option(name: &str) -> Result<&'static OptionSpec> {
    match by_name(name) {
        Some(o) if o.rust_name.starts_with("tls.") => Ok(o),
        Some(_) => Err(Error::invalid_type(format!(
            "a TLS reload takes the tls_* options only, not {name:?}"
        ))),
        None => Err(Error::invalid_type(format!("unknown option {name:?}"))),
    }
}

/// A TLS reload being prepared: the running settings, changed option by
/// option. Only `tls_*` options are taken; what is not set stays.
#[derive(Debug, Clone)]
pub struct TlsReload {
    scratch: Config,
}

impl TlsReload {
    pub(crate) fn from(running: &crate::config::TlsOptions) -> TlsReload {
        let mut scratch = Config::new("");
        scratch.tls = running.clone();
        TlsReload { scratch }
    }

    /// Sets one `tls_*` option by name, as `Config::set` does.
    pub fn set(&mut self, name: &str, value: OptionValue<'_>) -> Result<()> {
        tls_option(name)?;
        self.scratch.set(name, value)
    }

    /// What to give `Server::reload_tls`.
    pub fn options(&self) -> &crate::config::TlsOptions {
        &self.scratch.tls
    }
}

impl crate::config::TlsOptions {
    /// A TLS option's name as the application spells it (`snake`: its
    /// Python/C name).
    pub(crate) fn name(&self, snake: &'static str) -> &'static str {
        match self.spelling {
            Spelling::Snake => snake,
            Spelling::Camel => by_name(snake).map_or(snake, |o| o.js_name),
        }
    }
}

impl crate::config::ClusterOptions {
    /// `cluster_redis_url` as the application spelled it.
    pub(crate) fn url_name(&self) -> &'static str {
        let o = by_id(33).expect("cluster_redis_url is in the schema");
        match self.spelling {
            Spelling::Snake => o.name,
            Spelling::Camel => o.js_name,
        }
    }
}

/// The option with this Python/C name or Node name.
pub fn by_name(name: &str) -> Option<&'static OptionSpec> {
    OPTIONS.iter().find(|o| o.name == name || o.js_name == name)
}

fn millis(d: Duration) -> u64 {
    // Rounded up, so a sub-millisecond timer is not mistaken for "off".
    d.as_nanos().div_ceil(1_000_000).min(u64::MAX as u128) as u64
}

impl Config {
    /// Sets an option by name (Python, C or Node spelling) from a value as
    /// a front received it. The message of an error names the option as
    /// `name`.
    pub fn set(&mut self, name: &str, value: OptionValue<'_>) -> Result<()> {
        let spec =
            by_name(name).ok_or_else(|| Error::invalid_type(format!("unknown option {name:?}")))?;
        if name == spec.js_name && name != spec.name {
            if spec.rust_name.starts_with("tls.") {
                self.tls.spelling = Spelling::Camel;
            } else if spec.rust_name.starts_with("cluster.") {
                self.cluster.spelling = Spelling::Camel;
            }
        }
        self.set_spec(spec, name, value)
    }

    /// Sets an option from text (a configuration file, C's
    /// `wsrt_config_set_by_name`): a whole number, or a choice's name.
    pub fn set_text(&mut self, name: &str, text: &str) -> Result<()> {
        let value = match text.trim().parse::<i128>() {
            Ok(n) => OptionValue::Int(n),
            Err(_) => OptionValue::Str(text.trim()),
        };
        let spec =
            by_name(name).ok_or_else(|| Error::invalid(format!("unknown option {name:?}")))?;
        if spec.unit == Unit::Text {
            return self.set_spec(spec, name, OptionValue::Str(text.trim()));
        }
        if spec.unit == Unit::List {
            let list = text.split(',').map(str::trim).filter(|s| !s.is_empty());
            return self.set_spec(
                spec,
                name,
                OptionValue::List(list.map(String::from).collect()),
            );
        }
        self.set_spec(spec, name, value)
    }

    /// Sets an option by C id.
    pub fn set_by_id(&mut self, id: u32, value: OptionValue<'_>) -> Result<()> {
        let spec = by_id(id).ok_or_else(|| {
            Error::invalid(format!(
                "unknown option id {id} (the WSRT_OPT_ constants are 1-{})",
                OPTIONS.len()
            ))
        })?;
        self.set_spec(spec, &spec.c_name(), value)
    }

    fn set_spec(&mut self, spec: &OptionSpec, shown: &str, value: OptionValue<'_>) -> Result<()> {
        if spec.unit == Unit::List {
            let list = match value {
                OptionValue::List(l) => l,
                OptionValue::Str(s) => vec![s.to_string()],
                OptionValue::Default => Vec::new(),
                other => {
                    return Err(Error::invalid_type(format!(
                        "{shown} must be a string or a list of strings, not {}",
                        other.type_name()
                    )))
                }
            };
            *self
                .list_mut(spec.id)
                .expect("every list option has a field") = list;
            return Ok(());
        }
        if spec.unit == Unit::Text {
            let text = match value {
                OptionValue::Str(s) => s.to_string(),
                OptionValue::Default => String::new(),
                other => {
                    return Err(Error::invalid_type(format!(
                        "{shown} must be a string, not {}",
                        other.type_name()
                    )))
                }
            };
            *self
                .text_mut(spec.id)
                .expect("every text option has a field") = text;
            return Ok(());
        }
        if spec.unit == Unit::Flag {
            let on = match value {
                OptionValue::Default => spec.default == 1,
                OptionValue::Bool(b) => b,
                OptionValue::Int(0) => false,
                OptionValue::Int(1) => true,
                OptionValue::Number(0.0) => false,
                OptionValue::Number(1.0) => true,
                OptionValue::Int(_) | OptionValue::Number(_) => {
                    return Err(Error::invalid(format!(
                        "{shown} must be true or false (1 or 0)"
                    )))
                }
                other => {
                    return Err(Error::invalid_type(format!(
                        "{shown} must be a boolean, not {}",
                        other.type_name()
                    )))
                }
            };
            self.store(spec.id, on as u64);
            return Ok(());
        }
        let v = match value {
            OptionValue::Default => spec.default,
            OptionValue::Int(i) => u64::try_from(i).map_err(|_| spec.refusal(shown, &i))?,
            OptionValue::Number(f) => {
                if !f.is_finite() || f.fract() != 0.0 {
                    return Err(Error::invalid(format!(
                        "{shown} must be a whole number, not {f}"
                    )));
                }
                if f < 0.0 || f > u64::MAX as f64 {
                    return Err(spec.refusal(shown, &f));
                }
                f as u64
            }
            OptionValue::Str(s) => match spec.unit {
                Unit::Choice(_) => spec
                    .choice(s)
                    .ok_or_else(|| spec.refusal(shown, &format!("{s:?}")))?,
                Unit::Threads if s == "auto" => 0,
                Unit::Threads => {
                    return Err(Error::invalid_type(format!(
                        "{shown} must be a number or \"auto\", not {s:?}"
                    )))
                }
                _ => {
                    return Err(Error::invalid_type(format!(
                        "{shown} must be a number, not a string"
                    )))
                }
            },
            OptionValue::Bool(_) | OptionValue::List(_) | OptionValue::Other(_) => {
                let want = match spec.unit {
                    Unit::Choice(_) => "a string",
                    _ => "a number",
                };
                return Err(Error::invalid_type(format!(
                    "{shown} must be {want}, not {}",
                    value.type_name()
                )));
            }
        };
        let v = spec.check(v, shown)?;
        self.store(spec.id, v);
        Ok(())
    }

    /// The list a list option keeps (`None` for an id that is no list).
    pub fn list_mut(&mut self, id: u32) -> Option<&mut Vec<String>> {
        Some(match id {
            18 => &mut self.allowed_origins,
            25 => &mut self.cors_origins,
            27 => &mut self.tls.cert,
            28 => &mut self.tls.key,
            29 => &mut self.tls.ca,
            _ => return None,
        })
    }

    /// The string a text option keeps (`None` for an id that is no text).
    pub fn text_mut(&mut self, id: u32) -> Option<&mut String> {
        Some(match id {
            32 => &mut self.tls.listen,
            33 => &mut self.cluster.redis_url,
            _ => return None,
        })
    }

    /// The option's current value as a number (milliseconds, bytes, a
    /// choice's number).
    pub fn get(&self, id: u32) -> Option<u64> {
        let d = &self.deflate;
        Some(match id {
            1 => self.max_message_size as u64,
            2 => self.max_head_bytes as u64,
            3 => self.max_headers as u64,
            4 => millis(self.handshake_timeout),
            5 => millis(self.idle_timeout),
            6 => millis(self.close_timeout),
            7 => self.max_buffered as u64,
            8 => self.read_pause_buffered as u64,
            9 => match self.overflow_policy {
                OverflowPolicy::Reject => 0,
                OverflowPolicy::Close => 1,
            },
            10 => millis(self.sse_keepalive),
            11 => self.max_connections as u64,
            12 => match d.mode {
                DeflateMode::Off => 0,
                DeflateMode::Shared => 1,
                DeflateMode::PerConnection => 2,
            },
            13 => d.threshold as u64,
            14 => d.level as u64,
            15 => d.window_bits as u64,
            16 => self.slow_consumer_limit as u64,
            17 => match self.slow_consumer_policy {
                SlowConsumerPolicy::Drop => 1,
                SlowConsumerPolicy::Close => 2,
            },
            19 => millis(self.sio_ping_interval),
            20 => millis(self.sio_ping_timeout),
            21 => millis(self.sio_connect_timeout),
            22 => millis(self.sio_upgrade_timeout),
            23 => self.sio_max_payload as u64,
            24 => millis(self.sio_recovery_window),
            26 => self.cors_credentials as u64,
            30 => self.tls.client_auth as u64,
            34 => self.workers as u64,
            31 => self.tls.min_version as u64,
            _ => return None,
        })
    }

    /// Stores a checked value.
    fn store(&mut self, id: u32, v: u64) {
        let size = v.min(usize::MAX as u64) as usize;
        let d = &mut self.deflate;
        match id {
            1 => self.max_message_size = size,
            2 => self.max_head_bytes = size,
            3 => self.max_headers = size,
            4 => self.handshake_timeout = Duration::from_millis(v),
            5 => self.idle_timeout = Duration::from_millis(v),
            6 => self.close_timeout = Duration::from_millis(v),
            7 => self.max_buffered = size,
            8 => self.read_pause_buffered = size,
            9 => {
                self.overflow_policy = match v {
                    1 => OverflowPolicy::Close,
                    _ => OverflowPolicy::Reject,
                }
            }
            10 => self.sse_keepalive = Duration::from_millis(v),
            11 => self.max_connections = size,
            12 => {
                d.mode = match v {
                    1 => DeflateMode::Shared,
                    2 => DeflateMode::PerConnection,
                    _ => DeflateMode::Off,
                }
            }
            13 => d.threshold = size,
            14 => d.level = v as u32,
            15 => d.window_bits = v as u8,
            16 => self.slow_consumer_limit = size,
            17 => {
                self.slow_consumer_policy = match v {
                    1 => SlowConsumerPolicy::Drop,
                    _ => SlowConsumerPolicy::Close,
                }
            }
            19 => self.sio_ping_interval = Duration::from_millis(v),
            20 => self.sio_ping_timeout = Duration::from_millis(v),
            21 => self.sio_connect_timeout = Duration::from_millis(v),
            22 => self.sio_upgrade_timeout = Duration::from_millis(v),
            23 => self.sio_max_payload = size,
            24 => self.sio_recovery_window = Duration::from_millis(v),
            26 => self.cors_credentials = v == 1,
            30 => {
                self.tls.client_auth = match v {
                    1 => ClientAuth::Optional,
                    2 => ClientAuth::Required,
                    _ => ClientAuth::None,
                }
            }
            31 => {
                self.tls.min_version = match v {
                    13 => TlsVersion::Tls13,
                    _ => TlsVersion::Tls12,
                }
            }
            34 => self.workers = v as usize,
            _ => unreachable!("option ids are checked before storing"),
        }
    }

    /// How many loops `workers` asks for: 0 is one per core the process
    /// may run on (its CPU affinity), at most what ids can tell apart.
    pub fn loops(&self) -> usize {
        let n = match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        n.min(crate::event::MAX_LOOPS)
    }

    /// Checks the whole configuration (fields may have been set directly
    /// in Rust): every option in range, routes well formed.
    pub fn validate(&self) -> Result<()> {
        for spec in OPTIONS {
            if let Some(v) = self.get(spec.id) {
                spec.check(v, spec.rust_name)?;
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            if !r.path.starts_with('/') {
                return Err(Error::invalid(format!(
                    "route path must start with '/', not {:?}",
                    r.path
                )));
            }
            if self.routes[..i].iter().any(|o| o.path == r.path) {
                return Err(Error::invalid(format!(
                    "route {:?} is defined twice",
                    r.path
                )));
            }
            crate::proto::check_headers(&r.headers).map_err(Error::from)?;
            if let crate::proto::RouteKind::Static { content_type, .. } = &r.kind {
                crate::proto::http::check_header("x", content_type)
                    .map_err(|_| Error::invalid("content type must not contain CR, LF or NUL"))?;
            }
        }
        for o in self.allowed_origins.iter().chain(&self.cors_origins) {
            crate::proto::http::check_header("x", o)
                .map_err(|_| Error::invalid("origins must not contain CR, LF or NUL"))?;
        }
        self.tls.check()?;
        for r in &self.routes {
            if r.kind.is_engine() && !r.subprotocols.is_empty() {
                return Err(Error::invalid("Engine.IO routes take no subprotocols"));
            }
            if matches!(r.kind, crate::proto::RouteKind::EngineIo) && r.approve {
                return Err(Error::invalid(
                    "approval is per namespace: set it on a Socket.IO route",
                ));
            }
            if let crate::proto::RouteKind::SocketIo { namespaces } = &r.kind {
                if let Some(n) = namespaces
                    .iter()
                    .find(|n| !n.starts_with('/') || n.contains(','))
                {
                    return Err(Error::invalid(format!(
                        "a namespace starts with '/' and has no ',', not {n:?}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A per-publish slow-consumer policy as a front received it: the
/// configured policy for nothing (None, undefined, C's 0), else a name or
/// number of `slow_consumer_policy`'s choices.
pub fn on_slow(value: OptionValue<'_>, shown: &str) -> Result<Option<SlowConsumerPolicy>> {
    let spec = by_id(17).expect("slow_consumer_policy is in the schema");
    let v = match value {
        OptionValue::Default | OptionValue::Int(0) => return Ok(None),
        OptionValue::Int(i) => u64::try_from(i).map_err(|_| spec.refusal(shown, &i))?,
        OptionValue::Str(s) => spec
            .choice(s)
            .ok_or_else(|| spec.refusal(shown, &format!("{s:?}")))?,
        other => {
            return Err(Error::invalid_type(format!(
                "{shown} must be a string, not {}",
                other.type_name()
            )))
        }
    };
    let mut c = Config::new("");
    c.set_spec(spec, shown, OptionValue::Int(v as i128))?;
    Ok(Some(c.slow_consumer_policy))
}

/// A whole number for an argument of the integer type `T` (a close code,
/// a status, a port), from a value as a front received it; the message
/// names the argument as `what`.
pub fn integer<T: TryFrom<i128> + std::fmt::Display + num_bounds::Bounded>(
    what: &str,
    value: OptionValue<'_>,
) -> Result<T> {
    let out_of_range = |got: &dyn std::fmt::Display| {
        Error::invalid(format!(
            "{what} must be an integer from {} to {}, not {got}",
            T::MIN_VALUE,
            T::MAX_VALUE
        ))
    };
    let n: i128 = match value {
        OptionValue::Int(i) => i,
        OptionValue::Number(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e38 => f as i128,
        OptionValue::Number(f) => return Err(out_of_range(&f)),
        other => {
            return Err(Error::invalid_type(format!(
                "{what} must be a number, not {}",
                other.type_name()
            )))
        }
    };
    T::try_from(n).map_err(|_| out_of_range(&n))
}

/// The bounds `integer` names in its message.
pub mod num_bounds {
    pub trait Bounded {
        const MIN_VALUE: Self;
        const MAX_VALUE: Self;
    }
    macro_rules! bounded {
        ($($t:ty),*) => {$(impl Bounded for $t {
            const MIN_VALUE: Self = <$t>::MIN;
            const MAX_VALUE: Self = <$t>::MAX;
        })*};
    }
    bounded!(u8, u16, u32, u64, usize, i32, i64);
}
