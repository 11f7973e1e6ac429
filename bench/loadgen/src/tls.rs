//! The generator's TLS client: rustls with the ring provider (as core),
//! trusting only the run's CA (`--tls CA.pem`), TLS 1.3 unless
//! `--tls-version 1.2`; key exchange X25519 (see below). Session resumption is off: every connection makes
//! a full handshake (the handshake scenario measures exactly that), and
//! the generator ignores the tickets a server sends.
use rustls::client::Resumption;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use std::sync::Arc;

pub struct Tls {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// `ca`: a PEM file of the certificates to trust; `version`: "1.2" or
    /// "1.3" (only that version is offered); `name`: the server name
    /// checked against the certificate and sent as SNI (an IP address is
    /// checked but, as the standard says, not sent).
    ///
    /// `first`: the TLS 1.3 cipher suite offered first ("aes256", rustls's
    /// default order, "aes128", browsers' first choice, or "chacha20");
    /// servers that follow the client's order (rustls, OpenSSL by
    /// default) take it.
    pub fn new(ca: &str, version: &str, name: &str, first: &str) -> Result<Tls, String> {
        // ring, as core (see core/Cargo.toml); its deprecation notes only
        // the missing post-quantum key exchange.
        #[allow(deprecated)]
        let mut provider = rustls::crypto::ring::default_provider();
        // X25519 first, as browsers, OpenSSL and Node offer: ring's default
        // order puts secp384r1 first, and a server that follows the client
        // (rustls, OpenSSL) would then do P-384 (about 10x the cost).
        provider.kx_groups = vec![
            rustls::crypto::ring::kx_group::X25519,
            rustls::crypto::ring::kx_group::SECP256R1,
            rustls::crypto::ring::kx_group::SECP384R1,
        ];
        let want = match first {
            "aes256" => rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
            "aes128" => rustls::CipherSuite::TLS13_AES_128_GCM_SHA256,
            "chacha20" => rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            _ => {
                return Err(format!(
                    "--tls-cipher {first:?}: aes256, aes128 or chacha20"
                ))
            }
        };
        provider.cipher_suites.sort_by_key(|s| s.suite() != want);
        let provider = Arc::new(provider);
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| format!("--tls {ca}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--tls {ca}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("--tls {ca}: no certificate in it"));
        }
        for c in certs {
            roots.add(c).map_err(|e| format!("--tls {ca}: {e}"))?;
        }
        let versions: &[&'static rustls::SupportedProtocolVersion] = match version {
            "1.3" => &[&rustls::version::TLS13],
            "1.2" => &[&rustls::version::TLS12],
            _ => return Err(format!("--tls-version {version:?}: 1.2 or 1.3")),
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.resumption = Resumption::disabled();
        let name = ServerName::try_from(name.to_owned())
            .map_err(|_| format!("--sni {name:?}: not a server name"))?;
        Ok(Tls {
            config: Arc::new(config),
            name,
        })
    }

    pub fn client(&self) -> Result<ClientConnection, rustls::Error> {
        ClientConnection::new(self.config.clone(), self.name.clone())
    }
}
