//! Writes the seed corpus (`corpus/<target>/`) from real protocol bytes:
//! `cargo run --bin seeds -- corpus`. The files are committed; run this
//! again only when a target's input format changes.

use std::path::Path;
use wsrt_proto::deflate::Deflater;

/// A masked client frame.
fn frame(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut v = vec![first];
    match payload.len() {
        n if n < 126 => v.push(0x80 | n as u8),
        n if n <= 0xffff => {
            v.push(0x80 | 126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            v.push(0x80 | 127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    v.extend_from_slice(&mask);
    v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    v
}

const M: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const TEXT: u8 = 0x81;
const BINARY: u8 = 0x82;
const PING: u8 = 0x89;
const PONG: u8 = 0x8a;
const CLOSE: u8 = 0x88;

fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    frame(CLOSE, &p, M)
}

fn deflated(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Deflater::new(6, 15, true).compress_message(payload, &mut out);
    out
}

/// A `ws_connection` input: configuration, operations, stream.
fn ws(cfg: u8, ops: &[u8], stream: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![cfg, ops.len() as u8];
    v.extend_from_slice(ops);
    for s in stream {
        v.extend_from_slice(s);
    }
    v
}

const WS_HEAD: &[u8] = b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, v2\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
const RAW: u8 = 0xc0;

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus".into());
    let dir = Path::new(&dir);
    let mut n = 0;
    let mut put = |target: &str, name: &str, data: Vec<u8>| {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), data).unwrap();
        n += 1;
    };

    // ws_connection -----------------------------------------------------
    let hello = frame(TEXT, b"hello", M);
    let bin = frame(BINARY, &[0, 1, 2, 0xff], M);
    let frag = [
        frame(0x01, "gr\u{fc}".as_bytes(), M),
        frame(PING, b"mid", M),
        frame(0x00, "\u{df}e".as_bytes(), M),
        frame(0x80, b"!", M),
    ]
    .concat();
    let rfc_hello = frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], M);
    let rfc_again = frame(0xc1, &[0xf2, 0x00, 0x11, 0x00, 0x00], M);
    let rfc_bfinal = frame(0xc1, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00], M);
    let big_text = "{\"seq\":1,\"text\":\"hello wsrt hello wsrt\"}".repeat(30);
    let compressed = frame(0xc1, &deflated(big_text.as_bytes()), M);
    let bomb = frame(0xc2, &deflated(&vec![0u8; 200_000]), M);
    put(
        "ws_connection",
        "plain-messages",
        ws(
            0x00,
            &[6, 2, 0xa8, 0xac, 0xff, 20, 0xaa, 0xb2],
            &[
                &hello,
                &bin,
                &frag,
                &frame(PONG, b"fz", M),
                &close(1000, "done"),
            ],
        ),
    );
    put(
        "ws_connection",
        "deflate-rfc7692",
        ws(
            0x42,
            &[13, 0xa9, 0xff, 12, 0xa8],
            &[&rfc_hello, &rfc_again, &rfc_bfinal, &close(1001, "")],
        ),
    );
    put(
        "ws_connection",
        "deflate-shared",
        ws(
            0x81,
            &[0xa9, 0xff, 0x90, 0xab],
            &[&compressed, &hello, &close(1000, "")],
        ),
    );
    put(
        "ws_connection",
        "deflate-bomb-small-limit",
        ws(0x46, &[0x85], &[&bomb, &hello]),
    );
    put(
        "ws_connection",
        "deflate-no-limit",
        ws(0x43, &[], &[&compressed, &bomb]),
    );
    put(
        "ws_connection",
        "split-frames",
        ws(
            0x00,
            &[0, 0, 1, 2, 0, 4, 0xa8, 0xff, 3],
            &[&frag, &hello, &close(1000, "")],
        ),
    );
    put(
        "ws_connection",
        "violations",
        ws(
            0x04,
            &[6, 0xff, 11],
            &[
                &hello,
                &frame(TEXT, &[0xc3, 0x28], M),
                &frame(0x83, b"x", M),
            ],
        ),
    );
    put(
        "ws_connection",
        "too-big",
        ws(0x04, &[], &[&frame(BINARY, &[7u8; 300], M)]),
    );
    put(
        "ws_connection",
        "bad-close-code",
        ws(0x00, &[], &[&close(1005, ""), &hello]),
    );
    put(
        "ws_connection",
        "app-close-then-peer",
        ws(
            0x00,
            &[0xab, 0xa8, 0xa2, 0xff, 3],
            &[&hello, &close(1000, "")],
        ),
    );
    put(
        "ws_connection",
        "timers",
        ws(0x00, &[0xa5, 0xa5, 0xa4, 0xa6, 0xa7], &[]),
    );
    let pings = [&frame(PING, b"p", M)[..]; 8].concat();
    put(
        "ws_connection",
        "backpressure",
        ws(0x30, &[0xa9, 0xa9, 0xa9, 0xaa, 5, 5, 5], &[&pings]),
    );
    put(
        "ws_connection",
        "raw-handshake",
        ws(
            RAW | 0x02,
            &[0x7f, 0x3f, 0xa8, 0xff, 0xa9],
            &[WS_HEAD, &hello, &rfc_hello, &close(3000, "x")],
        ),
    );
    put(
        "ws_connection",
        "raw-sse",
        ws(
            RAW,
            &[0x7f, 0xa4, 0xb3, 0xb2, 0xa5, 0xae],
            &[b"GET /sse HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 9\r\n\r\n"],
        ),
    );
    put(
        "ws_connection",
        "raw-approval",
        ws(
            RAW,
            &[0x9f, 0xb0, 0xa8, 0xff],
            &[
                b"GET /auth HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n\r\n",
                &hello,
            ],
        ),
    );
    put(
        "ws_connection",
        "raw-reject",
        ws(
            RAW,
            &[0x9f, 0xb1],
            &[b"GET /sse-auth HTTP/1.1\r\nHost: x\r\n\r\n"],
        ),
    );
    put(
        "ws_connection",
        "raw-page",
        ws(RAW, &[], &[b"HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n"]),
    );

    // http_head -----------------------------------------------------------
    let heads: &[(&str, u8, &[u8], &[u8])] = &[
        ("websocket", 0x0f, &[17, 40, 3], WS_HEAD),
        ("sse", 0x0f, &[5], b"GET /sse?x=1 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"),
        ("page-head", 0x0f, &[], b"HEAD /page HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("page-post", 0x0f, &[9], b"POST /page HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
        ("not-found", 0x0f, &[1, 1, 1], b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("http10", 0x0f, &[], b"GET /sse HTTP/1.0\r\n\r\n"),
        ("no-host", 0x0f, &[], b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
        ("bad-version", 0x0f, &[], b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"),
        ("approval", 0x0f, &[30], b"GET /auth HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x85\x01\x02\x03\x04ig\x6fhn"),
        ("engine-poll", 0x0f, &[20], b"GET /engine.io/?EIO=4&transport=polling&t=N8hyd6w HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\n\r\n"),
        ("engine-post", 0x0f, &[60, 2], b"POST /engine.io/?EIO=4&transport=polling&sid=abcdefghijklmnopqrst HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: 13\r\n\r\n4hello\x1e4world"),
        ("socketio-ws", 0x0f, &[], b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
        ("preflight", 0x0f, &[], b"OPTIONS /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nOrigin: https://a.example\r\nAccess-Control-Request-Method: POST\r\n\r\n"),
        ("bad-eio", 0x0f, &[], b"GET /engine.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("too-many-headers", 0x04, &[], b"GET /sse HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
        ("too-long", 0x01, &[10], b"GET /sse HTTP/1.1\r\nHost: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n\r\n"),
        ("garbage", 0x0f, &[], b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
        ("lf-only", 0x0f, &[], b"GET /sse HTTP/1.1\nHost: x\n\n"),
    ];
    for (name, cfg, splits, bytes) in heads {
        let mut v = vec![*cfg, splits.len() as u8];
        v.extend_from_slice(splits);
        v.extend_from_slice(bytes);
        put("http_head", name, v);
    }

    // inflate ---------------------------------------------------------------
    let msgs = |cfg: u8, ms: &[&[u8]]| {
        let mut v = vec![cfg];
        for m in ms {
            v.extend_from_slice(&(m.len() as u16).to_le_bytes());
            v.extend_from_slice(m);
        }
        v
    };
    let h1: &[u8] = &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let h2: &[u8] = &[0xf2, 0x00, 0x11, 0x00, 0x00];
    let stored: &[u8] = &[
        0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let bfinal: &[u8] = &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
    let text = deflated(big_text.as_bytes());
    let zeros = deflated(&vec![0u8; 100_000]);
    let mut ctx = Deflater::new(6, 10, false);
    let (mut c1, mut c2) = (Vec::new(), Vec::new());
    ctx.compress_message(big_text.as_bytes(), &mut c1);
    ctx.compress_message(big_text.as_bytes(), &mut c2);
    put("inflate", "rfc-context", msgs(0x57, &[h1, h2]));
    put("inflate", "rfc-stored", msgs(0x3f, &[stored, h1]));
    put("inflate", "rfc-bfinal", msgs(0x4f, &[bfinal]));
    put("inflate", "text", msgs(0x5f, &[&text, &text]));
    put("inflate", "bomb-limited", msgs(0x3f, &[&zeros]));
    put("inflate", "bomb-unlimited", msgs(0xf7, &[&zeros]));
    put("inflate", "window-10", msgs(0x52, &[&c1, &c2]));
    put("inflate", "corrupt", msgs(0x47, &[&[0xff, 0xff, 0xff], h1]));

    // sse_encode ------------------------------------------------------------
    let sse = |flags: u8, event: &[u8], id: &[u8], retry: &[u8], data: &[u8]| {
        let mut v = vec![flags, event.len() as u8];
        v.extend_from_slice(event);
        v.push(id.len() as u8);
        v.extend_from_slice(id);
        v.extend_from_slice(retry);
        v.extend_from_slice(data);
        v
    };
    put("sse_encode", "plain", sse(0, b"", b"", b"", b"hello"));
    put(
        "sse_encode",
        "all-fields",
        sse(0x07, b"tick", b"42", &[0x10, 0x27], b"a\nb\r\nc\rd"),
    );
    put(
        "sse_encode",
        "leading-space",
        sse(0x03, b" sp", b" 1", b"", b" x\n\n y\n"),
    );
    put(
        "sse_encode",
        "bad-event",
        sse(0x01, b"a\nb", b"", b"", b"x"),
    );
    put("sse_encode", "bad-id", sse(0x02, b"", b"i\x00d", b"", b"x"));
    put("sse_encode", "retry-max", sse(0x08, b"", b"", &[2], b""));
    put(
        "sse_encode",
        "retry-big",
        sse(
            0x0c,
            b"",
            b"",
            &[0xff, 0xff, 0xff, 0xff],
            "\u{fc}\u{1f600}".as_bytes(),
        ),
    );

    // eio_sio ---------------------------------------------------------------
    let eio: &[(&str, u8, &[u8])] = &[
        ("eio-body", 0, b"4hello\x1e2\x1e4world"),
        ("eio-body-binary", 0, b"4hello\x1ebAQIDBA=="),
        ("eio-body-bad", 0, b"4a\x1e9x\x1e4b"),
        ("eio-open", 1, b"0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}"),
        ("eio-probe", 5, b"2probe"),
        ("sio-connect", 2, b"0"),
        ("sio-connect-nsp", 2, b"0/chat,{\"token\":\"abc\"}"),
        ("sio-event", 2, b"2[\"echo\",\"hi\",{\"a\":[1,2]}]"),
        ("sio-event-ack", 2, b"2/chat,12[\"ev\",{\"a\":1}]"),
        ("sio-event-escaped", 2, b"2[\"e\\u0063ho\" , 1.5e3]"),
        ("sio-event-number", 2, b"2[42,\"x\"]"),
        ("sio-ack", 2, b"31[]"),
        ("sio-binary-event", 2, b"51-[\"up\",{\"_placeholder\":true,\"num\":0}]"),
        ("sio-binary-ack", 2, b"6/chat,2-7[{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]"),
        ("sio-connect-error", 2, b"4{\"message\":\"Not authorized\"}"),
        ("sio-disconnect", 2, b"1/chat,"),
        ("sio-reserved", 2, b"2[\"connect\"]"),
        ("sio-built-event", 3, b"\x02\x01\x04echo\x02hi\x05world"),
        ("sio-built-binary", 3, b"\x0d\x03\x02\x03a,b\x02up\x01x"),
        ("sio-built-connect", 3, b"\x08\x01\x07\x00\x05token"),
    ];
    for (name, mode, bytes) in eio {
        let mut v = vec![*mode];
        v.extend_from_slice(bytes);
        put("eio_sio", name, v);
    }

    // engine_session ----------------------------------------------------------
    // Operations: 0x00 text message, 0x80 binary message, 0x90 POST body
    // (each followed by a one-byte length and the bytes), 0x91 GET, 0x92
    // take the poll's payload, 0xa0-0xa7 time, 0xa8-0xb0 the application.
    let session = |cfg: u8, ops: &[(u8, &[u8])]| {
        let mut v = vec![cfg];
        for (op, bytes) in ops {
            v.push(*op);
            if *op < 0x91 {
                v.push(bytes.len() as u8);
                v.extend_from_slice(bytes);
            }
        }
        v
    };
    let t = |s: &'static str| (0x00u8, s.as_bytes());
    let app = |op: u8| (op, &b""[..]);
    put(
        "engine_session",
        "socketio-ws",
        session(
            0,
            &[
                t("40"),
                t("42[\"echo\",\"hi\",{\"a\":1}]"),
                t("4213[\"ask\"]"),
                app(0xac),
                app(0xaa),
                t("430[\"ok\"]"),
                t("451-[\"up\",{\"_placeholder\":true,\"num\":0}]"),
                (0x80, b"\x00\x01\x02"),
                app(0xab),
                app(0xa5),
                t("3"),
                t("40/chat,{\"token\":\"abc\"}"),
                t("41/chat,"),
                t("40/nope,"),
                app(0xa7),
            ],
        ),
    );
    put(
        "engine_session",
        "socketio-approval",
        session(
            4,
            &[
                t("40"),
                app(0xa8),
                t("42[\"a\"]"),
                t("40/chat,"),
                app(0xa9),
                app(0xad),
                app(0xae),
            ],
        ),
    );
    put(
        "engine_session",
        "socketio-polling",
        session(
            1,
            &[
                app(0x92),
                (0x90, b"40\x1e42[\"x\",1]"),
                app(0x91),
                app(0x92),
                (
                    0x90,
                    b"451-[\"b\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID",
                ),
                app(0x91),
                app(0xb1),
                t("2probe"),
                app(0x92),
                t("5"),
                t("42[\"upgraded\"]"),
                app(0xaa),
                app(0xaf),
            ],
        ),
    );
    put(
        "engine_session",
        "socketio-bad",
        session(
            0,
            &[
                t("40"),
                t("451-[\"b\",{\"_placeholder\":true,\"num\":3}]"),
                t("42[\"connect\"]"),
            ],
        ),
    );
    put(
        "engine_session",
        "engineio-plain",
        session(
            2,
            &[t("4hello"), (0x80, b"\xff\x00"), t("2"), app(0xa6), t("1")],
        ),
    );
    eprintln!("wrote {n} seeds under {}", dir.display());
}
