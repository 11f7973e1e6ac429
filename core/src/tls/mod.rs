//! TLS for the listeners: a rustls server configuration built from the
//! `tls_*` options, and what a handshake tells the application.
//!
//! rustls is sans-I/O; the loop drives it (`driver::stream`). This module
//! only turns options into a `ServerConfig`, once when the server binds and
//! again on each reload: connections hold the `Arc` of the configuration
//! they started with, so a reload changes new connections only.

mod certs;
mod info;

pub use info::TlsInfo;

use crate::config::{ClientAuth, TlsOptions, TlsVersion};
use crate::error::{Error, Result};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::sync::Arc;

/// What a server is given to accept TLS connections with.
pub(crate) type Acceptor = Arc<ServerConfig>;

/// Builds the server configuration the options describe, reading every
/// file they name. Errors name the option and the file.
pub(crate) fn acceptor(opts: &TlsOptions) -> Result<Acceptor> {
    opts.check()?;
    if !opts.enabled() {
        let names = (opts.name("tls_cert"), opts.name("tls_key"));
        return Err(Error::invalid(format!(
            "TLS needs {} and {}",
            names.0, names.1
        )));
    }
    // ring rather than rustls's default aws-lc-rs: see Cargo.toml. Its
    // deprecation notes only the missing post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match opts.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| Error::invalid(format!("TLS versions: {e}")))?;
    let builder = match opts.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let mut roots = RootCertStore::empty();
            for (i, source) in opts.ca.iter().enumerate() {
                let what = format!("{} #{}", opts.name("tls_ca"), i + 1);
                for cert in certs::load_certs(source, &what)? {
                    roots
                        .add(cert)
                        .map_err(|e| Error::invalid(format!("{what}: not a usable CA: {e}")))?;
                }
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots.into(), provider.clone());
            let verifier = match auth {
                ClientAuth::Optional => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            let verifier = verifier
                .build()
                .map_err(|e| Error::invalid(format!("{}: {e}", opts.name("tls_ca"))))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let resolver = certs::SniResolver::load(opts, &provider)?;
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    // HTTP/1.1 is all we speak; a client that offers ALPN without it is
    // refused (no_application_protocol) rather than left to guess.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests;
