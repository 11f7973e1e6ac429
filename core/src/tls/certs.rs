//! Certificates and keys from PEM files or PEM text, and the choice of a
//! certificate by the name a client asks for (SNI).

use crate::error::{Error, Result};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// PEM text as given, or the contents of the file a path names. One rule
/// for every `tls_*` option: text that holds a PEM header is PEM.
fn pem_bytes(source: &str, what: &str) -> Result<Vec<u8>> {
    if source.contains("-----BEGIN ") {
        return Ok(source.as_bytes().to_vec());
    }
    std::fs::read(source).map_err(|e| {
        Error::new(
            crate::ErrorKind::Io,
            format!("{what}: cannot read {source:?}: {e}"),
        )
    })
}

pub(super) fn load_certs(source: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    let pem = pem_bytes(source, what)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::invalid(format!(
                "{what}: bad PEM in {}: {}",
                shown(source),
                pem_error(&e)
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::invalid(format!(
            "{what}: no CERTIFICATE in {}",
            shown(source)
        )));
    }
    Ok(certs)
}

fn load_key(source: &str, what: &str) -> Result<PrivateKeyDer<'static>> {
    let pem = pem_bytes(source, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        Error::invalid(format!(
            "{what}: no usable PRIVATE KEY in {} ({})",
            shown(source),
            pem_error(&e)
        ))
    })
}

/// What is wrong with PEM text, in words (the parser's own messages show
/// byte lists).
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as E;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match e {
        E::MissingSectionEnd { end_marker } => {
            format!("no \"-----END {}-----\" line", text(end_marker))
        }
        E::IllegalSectionStart { line } => format!("a malformed line {:?}", text(line)),
        E::Base64Decode(_) => "its base64 does not decode".to_string(),
        E::NoItemsFound => "none found".to_string(),
        other => other.to_string(),
    }
}

/// A path as itself, PEM text as "the PEM text" (it may hold a key).
fn shown(source: &str) -> String {
    match source.contains("-----BEGIN ") {
        true => "the PEM text".to_string(),
        false => format!("{source:?}"),
    }
}

/// The certificates of a listener and the DNS names each is valid for.
#[derive(Debug)]
pub(super) struct SniResolver {
    certs: Vec<(Arc<CertifiedKey>, Vec<String>)>,
}

impl SniResolver {
    pub fn load(opts: &crate::config::TlsOptions, provider: &CryptoProvider) -> Result<Self> {
        let mut out = Vec::with_capacity(opts.cert.len());
        let (c, k) = (opts.name("tls_cert"), opts.name("tls_key"));
        for (i, (cert, key)) in opts.cert.iter().zip(&opts.key).enumerate() {
            let n = i + 1;
            let chain = load_certs(cert, &format!("{c} #{n}"))?;
            let key = load_key(key, &format!("{k} #{n}"))?;
            let certified = CertifiedKey::from_der(chain, key, provider).map_err(|e| {
                Error::invalid(match e {
                    rustls::Error::InconsistentKeys(_) => format!(
                        "{k} #{n} does not fit {c} #{n}: the key is not the one the certificate names"
                    ),
                    e => format!("{k} #{n} is not usable with {c} #{n}: {e}"),
                })
            })?;
            let names = dns_names(&certified.cert[0])
                .map_err(|e| Error::invalid(format!("{c} #{n}: {e}")))?;
            out.push((Arc::new(certified), names));
        }
        Ok(SniResolver { certs: out })
    }

    /// The first certificate valid for `name`, else the first.
    fn pick(&self, name: Option<&str>) -> Arc<CertifiedKey> {
        name.and_then(|name| {
            self.certs
                .iter()
                .find(|(_, names)| names.iter().any(|n| name_matches(n, name)))
        })
        .unwrap_or(&self.certs[0])
        .0
        .clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()))
    }
}

/// The DNS names in a certificate's subjectAltName.
fn dns_names(cert: &CertificateDer<'_>) -> std::result::Result<Vec<String>, webpki::Error> {
    let cert = webpki::EndEntityCert::try_from(cert)?;
    Ok(cert
        .valid_dns_names()
        .map(|n| n.to_ascii_lowercase())
        .collect())
}

/// Whether the certificate name `pattern` (a DNS name, or `*.` and one
/// wildcard label) covers `name` (RFC 6125: the wildcard is one whole
/// left-most label).
fn name_matches(pattern: &str, name: &str) -> bool {
    let name = name.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(parent) => name
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(parent)),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_cover_one_label() {
        assert!(name_matches("example.com", "EXAMPLE.com"));
        assert!(name_matches("example.com", "example.com."));
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
        assert!(!name_matches("example.com", "a.example.com"));
    }
}
