//! TLS end to end: a real server on a background thread, rustls clients
//! (and hand-written bytes for what no TLS client sends) on 127.0.0.1.
//! Certificates are made by each test with rcgen; none is committed.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::Message;
use wsrt::config::{ClientAuth, TlsVersion};
use wsrt::{Config, EventType, Events, Server, TlsInfo};

const WAIT: Duration = Duration::from_secs(10);

/// A test CA and what it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A leaf certificate and its key, as PEM.
struct Leaf {
    cert: String,
    key: String,
    der: CertificateDer<'static>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for these DNS names (and 127.0.0.1).
    fn server(&self, names: &[&str]) -> Leaf {
        let mut sans: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        sans.push("127.0.0.1".into());
        self.leaf(CertificateParams::new(sans).unwrap())
    }

    /// A client certificate with this common name.
    fn client(&self, cn: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Test, Inc.");
        self.leaf(params)
    }

    fn leaf(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(self.pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
        roots
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(ca: &Ca, client_cert: Option<&Leaf>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots());
    let mut config = match client_cert {
        None => builder.with_no_client_auth(),
        Some(leaf) => {
            let key =
                rustls::pki_types::pem::PemObject::from_pem_slice(leaf.key.as_bytes()).unwrap();
            builder
                .with_client_auth_cert(vec![leaf.der.clone()], key)
                .unwrap()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// A TLS connection with the handshake done (or its error).
fn connect(addr: SocketAddr, config: Arc<ClientConfig>, name: &str) -> std::io::Result<Tls> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let conn = ClientConnection::new(config, name).unwrap();
    let mut tls = StreamOwned::new(conn, tcp(addr));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

fn wss(addr: SocketAddr, config: Arc<ClientConfig>, name: &str) -> tungstenite::WebSocket<Tls> {
    let tls = connect(addr, config, name).expect("TLS handshake");
    let (ws, resp) = tungstenite::client(format!("wss://{name}/ws"), tls).expect("upgrade");
    assert_eq!(resp.status(), 101);
    ws
}

/// What the app saw of a request.
#[derive(Debug, Clone)]
enum Seen {
    Open(wsrt::ConnId, Option<TlsInfo>),
    SseOpen(Option<TlsInfo>),
}

type Call = Box<dyn FnOnce(&mut Server) + Send>;

/// A server on a background thread: echo on /ws, an event stream on /sse
/// that gets "hello", every request's TLS info to the test.
struct TestServer {
    addr: SocketAddr,
    seen: Receiver<Seen>,
    calls: Sender<Call>,
    stop: Arc<AtomicBool>,
}

impl TestServer {
    fn start(config: Config) -> TestServer {
        let mut server = Server::bind(config.websocket("/ws").sse("/sse")).expect("bind");
        let addr = server.local_addr();
        let (seen_tx, seen) = mpsc::channel();
        let (calls, call_rx) = mpsc::channel::<Call>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            let mut events = Events::new();
            while !stop2.load(Ordering::SeqCst) {
                server
                    .poll(&mut events, Some(Duration::from_millis(5)))
                    .unwrap();
                for ev in &events {
                    let tls = || events.request(ev).and_then(|r| r.tls.as_deref().cloned());
                    match ev.kind {
                        EventType::Open => {
                            let _ = seen_tx.send(Seen::Open(ev.conn, tls()));
                        }
                        EventType::SseOpen => {
                            let _ = seen_tx.send(Seen::SseOpen(tls()));
                            let event = wsrt::SseEvent {
                                data: "hello",
                                ..Default::default()
                            };
                            server.sse_send(ev.conn, &event).unwrap();
                        }
                        EventType::Message => {
                            let data = events.payload(ev).to_vec();
                            server.send(ev.conn, ev.message_kind(), &data).unwrap();
                        }
                        _ => {}
                    }
                }
                while let Ok(call) = call_rx.try_recv() {
                    call(&mut server);
                }
            }
        });
        TestServer {
            addr,
            seen,
            calls,
            stop,
        }
    }

    fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Server) -> R + Send + 'static) -> R {
        let (tx, rx) = mpsc::channel();
        self.calls
            .send(Box::new(move |s| {
                let _ = tx.send(f(s));
            }))
            .unwrap();
        rx.recv_timeout(WAIT).expect("server thread ran the call")
    }

    fn next_seen(&self) -> Seen {
        self.seen.recv_timeout(WAIT).expect("a request")
    }

    /// Waits until `pred` holds of the stats.
    fn wait_stats(&self, what: &str, pred: impl Fn(&wsrt::Stats) -> bool) -> wsrt::Stats {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.call(|s| s.stats());
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}: {s:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn tls_config(leaves: &[&Leaf]) -> Config {
    let mut c = Config::new("127.0.0.1:0");
    c.tls.cert = leaves.iter().map(|l| l.cert.clone()).collect();
    c.tls.key = leaves.iter().map(|l| l.key.clone()).collect();
    c
}

#[test]
fn wss_echo_and_https_event_stream() {
    let ca = Ca::new("Test CA");
    let leaf = ca.server(&["localhost"]);
    let server = TestServer::start(tls_config(&[&leaf]));
    let config = client_config(&ca, None);

    let mut ws = wss(server.addr, config.clone(), "localhost");
    let Seen::Open(_, Some(info)) = server.next_seen() else {
        panic!("a TLS open")
    };
    assert_eq!(info.version, "TLSv1.3");
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    assert!(info.cipher.starts_with("TLS13_"), "{}", info.cipher);
    assert_eq!(info.peer_subject, None);
    for i in 0..100 {
        ws.send(Message::text(format!("m{i}"))).unwrap();
    }
    let big = vec![7u8; 1 << 20];
    ws.send(Message::binary(big.clone())).unwrap();
    for i in 0..100 {
        assert_eq!(ws.read().unwrap(), Message::text(format!("m{i}")));
    }
    assert_eq!(ws.read().unwrap(), Message::binary(big));
    ws.close(None).unwrap();
    while ws.read().is_ok() {}

    let mut tls = connect(server.addr, config, "localhost").unwrap();
    tls.write_all(b"GET /sse HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(12).any(|w| w == b"data: hello\n") {
        let n = tls.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert!(matches!(server.next_seen(), Seen::SseOpen(Some(_))));
    let stats = server.call(|s| s.stats());
    assert_eq!((stats.tls_handshakes, stats.tls_failures), (2, 0));
}

#[test]
fn sni_picks_the_certificate_and_defaults_to_the_first() {
    let ca = Ca::new("Test CA");
    let a = ca.server(&["a.test"]);
    let b = ca.server(&["*.b.test"]);
    let server = TestServer::start(tls_config(&[&a, &b]));
    let config = client_config(&ca, None);
    let presented = |name: &str| {
        let tls = connect(server.addr, config.clone(), name).expect(name);
        tls.conn.peer_certificates().unwrap()[0].clone()
    };
    assert_eq!(presented("a.test"), a.der);
    assert_eq!(presented("www.b.test"), b.der);
    // An IP address sends no SNI: the first certificate.
    assert_eq!(presented("127.0.0.1"), a.der);
    // A name no certificate has: the first, which the client refuses.
    assert!(connect(server.addr, config.clone(), "c.test").is_err());
}

#[test]
fn client_certificates_required_and_verified() {
    let ca = Ca::new("Test CA");
    let clients = Ca::new("Client CA");
    let leaf = ca.server(&["localhost"]);
    let mut c = tls_config(&[&leaf]);
    c.tls.ca = vec![clients.pem.clone()];
    c.tls.client_auth = ClientAuth::Required;
    let server = TestServer::start(c);

    let alice = clients.client("alice");
    let mut ws = wss(server.addr, client_config(&ca, Some(&alice)), "localhost");
    let Seen::Open(_, Some(info)) = server.next_seen() else {
        panic!("a TLS open")
    };
    assert_eq!(
        info.peer_subject.as_deref(),
        Some(r"O=Test\, Inc.,CN=alice")
    );
    assert_eq!(info.peer_certificate.as_deref(), Some(&alice.der[..]));
    ws.send(Message::text("hi")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hi"));

    // No certificate, and one from a CA the server does not trust.
    let refused = |config| {
        // TLS 1.3: the client hears of the refusal on its first read.
        match connect(server.addr, config, "localhost") {
            Err(_) => {}
            Ok(mut tls) => {
                let _ = tls.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n");
                let mut buf = [0u8; 64];
                assert!(
                    tls.read(&mut buf).is_err(),
                    "read succeeded without a valid certificate"
                );
            }
        }
    };
    refused(client_config(&ca, None));
    refused(client_config(
        &ca,
        Some(&Ca::new("Other").client("mallory")),
    ));
    server.wait_stats("two refused", |s| {
        s.tls_failures == 2 && s.tls_handshakes == 1
    });
}

#[test]
fn reload_changes_new_connections_only() {
    let ca = Ca::new("Test CA");
    let first = ca.server(&["localhost"]);
    let second = ca.server(&["localhost"]);
    let server = TestServer::start(tls_config(&[&first]));
    let config = client_config(&ca, None);

    let mut old = wss(server.addr, config.clone(), "localhost");
    assert_eq!(
        old.get_ref().conn.peer_certificates().unwrap()[0],
        first.der
    );

    // A bad reload changes nothing.
    let bad = tls_config(&[&Leaf {
        key: ca.server(&["x"]).key,
        ..ca.server(&["x"])
    }]);
    let err = server.call(move |s| s.reload_tls(&bad.tls)).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let missing = {
        let mut c = tls_config(&[&first]);
        c.tls.cert = vec!["/nonexistent/cert.pem".into()];
        c
    };
    let err = server
        .call(move |s| s.reload_tls(&missing.tls))
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");

    let new = tls_config(&[&second]);
    server.call(move |s| s.reload_tls(&new.tls)).unwrap();
    let fresh = connect(server.addr, config, "localhost").unwrap();
    assert_eq!(fresh.conn.peer_certificates().unwrap()[0], second.der);
    // The old connection goes on with its certificate.
    old.send(Message::text("still here")).unwrap();
    assert_eq!(old.read().unwrap(), Message::text("still here"));
}

/// Reads until EOF or an error; what came.
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn bad_clients_are_refused_and_counted() {
    let ca = Ca::new("Test CA");
    let leaf = ca.server(&["localhost"]);
    let mut c = tls_config(&[&leaf]);
    c.tls.min_version = TlsVersion::Tls13;
    c.handshake_timeout = Duration::from_millis(300);
    let server = TestServer::start(c);

    // Plain HTTP: a plain answer saying what to do.
    let mut s = tcp(server.addr);
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let answer = String::from_utf8(read_all(&mut s)).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(answer.contains("This port speaks TLS"), "{answer}");

    // A handshake record with garbage in it: an alert, then the end.
    let mut s = tcp(server.addr);
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x04, 0xff, 0, 0, 0])
        .unwrap();
    let got = read_all(&mut s);
    assert_eq!(got.first(), Some(&0x15), "an alert record: {got:?}");

    // A client offering TLS 1.2 only: a protocol_version alert (70).
    let only12 = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_no_client_auth();
    let err = connect(server.addr, Arc::new(only12), "localhost").expect_err("refused");
    assert!(err.to_string().contains("ProtocolVersion"), "{err}");

    // A client that starts a handshake and stalls: dropped by the
    // handshake timeout while the others are served.
    let mut stalled = tcp(server.addr);
    stalled.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let mut ws = wss(server.addr, client_config(&ca, None), "localhost");
    ws.send(Message::text("served")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("served"));
    assert!(read_all(&mut stalled).is_empty());

    server.wait_stats("four refused, one served", |s| {
        s.tls_failures == 4 && s.tls_handshakes == 1 && s.connections == 1
    });
}

/// TLS record headers seen by a client, counted on the way in.
struct RecordCounter<R> {
    inner: R,
    /// Bytes left in the current record (header or body).
    header: Vec<u8>,
    body_left: usize,
    records: usize,
}

impl<R: Read> Read for RecordCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            if self.body_left > 0 {
                let take = self.body_left.min(rest.len());
                self.body_left -= take;
                rest = &rest[take..];
                continue;
            }
            let take = (5 - self.header.len()).min(rest.len());
            self.header.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.header.len() == 5 {
                self.body_left = u16::from_be_bytes([self.header[3], self.header[4]]) as usize;
                self.header.clear();
                self.records += 1;
            }
        }
        Ok(n)
    }
}

impl<R: Write> Write for RecordCounter<R> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[test]
fn messages_queued_together_go_out_in_few_records() {
    let ca = Ca::new("Test CA");
    let leaf = ca.server(&["localhost"]);
    let server = TestServer::start(tls_config(&[&leaf]));
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(client_config(&ca, None), name).unwrap();
    let counter = RecordCounter {
        inner: tcp(server.addr),
        header: Vec::new(),
        body_left: 0,
        records: 0,
    };
    let mut tls = StreamOwned::new(conn, counter);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    let (mut ws, _) = tungstenite::client("wss://localhost/ws", tls).unwrap();
    let Seen::Open(conn, _) = server.next_seen() else {
        panic!("open")
    };
    // 1,000 messages of 30 bytes (32,000 bytes framed), queued in one
    // loop turn: two full records and a part, not a record each.
    let before = ws.get_ref().sock.records;
    server.call(move |s| {
        for i in 0..1000 {
            s.send_text(conn, &format!("{i:030}")).unwrap();
        }
    });
    for i in 0..1000 {
        assert_eq!(ws.read().unwrap(), Message::text(format!("{i:030}")));
    }
    let records = ws.get_ref().sock.records - before;
    assert!(records <= 3, "{records} records for 32,000 bytes");
}

/// A masked binary WebSocket frame, as a client sends it.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    assert!((126..=0xffff).contains(&payload.len()));
    let mask = [0x11, 0x22, 0x33, 0x44];
    let mut frame = vec![0x82, 0x80 | 126];
    frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    frame
}

/// The records rustls has sealed for the client, as bytes for the wire.
fn sealed(tls: &mut Tls) -> Vec<u8> {
    let mut wire = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut wire).unwrap();
    }
    wire
}

#[test]
fn a_read_that_completes_more_plaintext_than_it_brings_delivers_all_of_it() {
    let ca = Ca::new("Test CA");
    let leaf = ca.server(&["localhost"]);
    let server = TestServer::start(tls_config(&[&leaf]));
    let mut ws = wss(server.addr, client_config(&ca, None), "localhost");
    assert!(matches!(server.next_seen(), Seen::Open(..)));
    // One message filling one full record (16 KiB of plaintext), its
    // ciphertext sent in two reads: the second completes the record, so
    // it yields more plaintext than the ciphertext it brings. All of it
    // must reach the protocol now: the socket is drained, no further
    // readable edge would fetch a rest left inside rustls.
    let payload: Vec<u8> = (0..16 * 1024 - 8).map(|i| (i % 251) as u8).collect();
    let tls = ws.get_mut();
    tls.conn
        .writer()
        .write_all(&client_frame(&payload))
        .unwrap();
    let wire = sealed(tls);
    assert_eq!(
        wire.len(),
        5 + 16 * 1024 + 1 + 16,
        "one full TLS 1.3 record"
    );
    tls.sock.write_all(&wire[..1000]).unwrap();
    // Long enough for the server to read the first part alone.
    std::thread::sleep(Duration::from_millis(200));
    tls.sock.write_all(&wire[1000..]).unwrap();
    assert_eq!(ws.read().unwrap(), Message::binary(payload));

    // And many large messages in a row, the way a client streams them.
    let big: Vec<u8> = (0..(1 << 20)).map(|i| (i % 253) as u8).collect();
    for _ in 0..5 {
        ws.send(Message::binary(big.clone())).unwrap();
        assert_eq!(ws.read().unwrap(), Message::binary(big.clone()));
    }
}

#[test]
fn bytes_after_close_notify_in_the_same_read_end_the_connection() {
    let ca = Ca::new("Test CA");
    let leaf = ca.server(&["localhost"]);
    let server = TestServer::start(tls_config(&[&leaf]));
    let mut ws = wss(server.addr, client_config(&ca, None), "localhost");
    assert!(matches!(server.next_seen(), Seen::Open(..)));
    // close_notify and records after it, in one write and more than
    // rustls takes in at once: it takes no ciphertext after close_notify,
    // which must not keep the loop on the rest.
    let tls = ws.get_mut();
    tls.conn.send_close_notify();
    tls.conn.writer().write_all(&[b'x'; 32 * 1024]).unwrap();
    let wire = sealed(tls);
    tls.sock.write_all(&wire).unwrap();
    // The loop still serves others, and ends this connection.
    let mut other = wss(server.addr, client_config(&ca, None), "localhost");
    other.send(Message::text("served")).unwrap();
    assert_eq!(other.read().unwrap(), Message::text("served"));
    server.wait_stats("the closed connection ended", |s| s.connections == 1);
}

/// One HTTP/1.1 exchange on a kept-alive TLS stream: the body of the answer.
fn exchange(tls: &mut Tls, request: &str) -> String {
    tls.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                assert!(head.starts_with("http/1.1 200"), "{head}");
                return String::from_utf8_lossy(&got[end + 4..end + 4 + len]).into_owned();
            }
        }
        let n = tls.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn socket_io_sockets_carry_the_tls_handshake() {
    let ca = Ca::new("Test CA");
    let leaf = ca.server(&["localhost"]);
    let server = TestServer::start(tls_config(&[&leaf]).socket_io("/socket.io/", ["/"]));
    let mut tls = connect(server.addr, client_config(&ca, None), "localhost").unwrap();
    let open = exchange(
        &mut tls,
        "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    let sid = open
        .split("\"sid\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let body = "40";
    let ok = exchange(
        &mut tls,
        &format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert_eq!(ok, "ok");
    let Seen::Open(_, Some(info)) = server.next_seen() else {
        panic!("the socket's open carries the TLS handshake")
    };
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
}
