//! The options' checks, with certificates made here.

use super::acceptor;
use crate::config::{ClientAuth, Config};
use crate::OptionValue;

fn pair() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

fn refusal(c: &Config) -> String {
    acceptor(&c.tls).unwrap_err().to_string()
}

#[test]
fn options_arrive_by_name_as_text_or_lists() {
    let (cert, key) = pair();
    let mut c = Config::new("127.0.0.1:0");
    c.set("tls_cert", OptionValue::Str(&cert)).unwrap();
    c.set("tlsKey", OptionValue::List(vec![key.clone()]))
        .unwrap();
    c.set("tls_min_version", OptionValue::Str("TLSv1.3"))
        .unwrap();
    c.set_text("tls_listen", "127.0.0.1:0").unwrap();
    assert_eq!(c.get(31), Some(13));
    assert_eq!(c.tls.listen, "127.0.0.1:0");
    acceptor(&c.tls).unwrap();
    let err = c.set("tls_listen", OptionValue::Int(443)).unwrap_err();
    assert_eq!(err.to_string(), "tls_listen must be a string, not a number");
    let err = c
        .set("tls_min_version", OptionValue::Str("1.1"))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("tls_min_version must be one of \"1.2\" (12)"),
        "{err}"
    );
}

#[test]
fn each_mistake_gets_a_message_naming_it() {
    let (cert, key) = pair();
    let (_, other_key) = pair();
    let mut c = Config::new("127.0.0.1:0");
    c.tls.cert = vec![cert.clone()];
    assert!(refusal(&c).contains("1 certificate(s) but 0 key(s)"));
    c.tls.key = vec![other_key];
    assert!(refusal(&c).contains("tls_key #1 does not fit tls_cert #1"));
    c.tls.key = vec!["/no/such/key.pem".into()];
    let err = refusal(&c);
    assert!(
        err.contains("tls_key #1: cannot read \"/no/such/key.pem\""),
        "{err}"
    );
    c.tls.key = vec![cert.clone()];
    assert!(refusal(&c).contains("tls_key #1: no usable PRIVATE KEY in the PEM text"));
    c.tls.key = vec![key];
    c.tls.ca = vec![cert.clone()];
    assert!(refusal(&c).contains("set tls_client_auth"));
    c.tls.ca.clear();
    c.tls.client_auth = ClientAuth::Required;
    assert!(refusal(&c).contains("tls_client_auth needs tls_ca"));
    c.tls.ca = vec!["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into()];
    assert!(refusal(&c).starts_with("tls_ca #1"), "{}", refusal(&c));
    c.tls.ca = vec![cert];
    acceptor(&c.tls).unwrap();

    let mut plain = Config::new("127.0.0.1:0");
    plain.tls.listen = "127.0.0.1:0".into();
    assert_eq!(
        plain.validate().unwrap_err().to_string(),
        "tls_listen needs tls_cert and tls_key"
    );
}

#[test]
fn a_reload_by_name_changes_what_it_names_and_takes_tls_options_only() {
    let (cert, key) = pair();
    let (cert2, key2) = pair();
    let mut c = Config::new("127.0.0.1:0");
    c.tls.cert = vec![cert];
    c.tls.key = vec![key];
    c.tls.min_version = crate::config::TlsVersion::Tls13;
    let mut server = crate::Server::bind(c).unwrap();
    let mut reload = server.tls_reload();
    let err = reload.set("max_buffered", OptionValue::Int(1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a TLS reload takes the tls_* options only, not \"max_buffered\""
    );
    reload.set("tls_cert", OptionValue::Str(&cert2)).unwrap();
    reload.set("tlsKey", OptionValue::Str(&key2)).unwrap();
    let options = reload.options().clone();
    server.reload_tls(&options).unwrap();
    let tls = &server.config().tls;
    assert_eq!(tls.cert, vec![cert2]);
    assert_eq!(
        tls.min_version,
        crate::config::TlsVersion::Tls13,
        "what a reload does not name stays"
    );
}

#[test]
fn broken_pem_is_described_in_words() {
    let (cert, key) = pair();
    let mut c = Config::new("127.0.0.1:0");
    c.tls.cert = vec!["-----BEGIN CERTIFICATE-----\nAAAA\n".into()];
    c.tls.key = vec![key];
    assert_eq!(
        refusal(&c),
        "tls_cert #1: bad PEM in the PEM text: no \"-----END CERTIFICATE-----\" line"
    );
    let _ = cert;
}

#[test]
fn messages_name_the_options_as_the_application_wrote_them() {
    let mut c = Config::new("127.0.0.1:0");
    c.set("tlsCert", OptionValue::Str("x.pem")).unwrap();
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "tlsCert and tlsKey pair up: 1 certificate(s) but 0 key(s)"
    );
    let mut c = Config::new("127.0.0.1:0");
    c.set("tls_cert", OptionValue::Str("x.pem")).unwrap();
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "tls_cert and tls_key pair up: 1 certificate(s) but 0 key(s)"
    );
}
