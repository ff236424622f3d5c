//! TLS through rustls: certificate and key from PEM files (PKCS#8, PKCS#1 RSA and SEC1 EC keys),
//! TLS 1.2 and 1.3 only, ALPN `postgresql`, optional client certificates, and reload when the
//! files change. A configuration that does not load stops the server at start; a reload that
//! fails keeps the previous certificate.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use tokio_rustls::TlsAcceptor;

use crate::auth::scram::tls_server_end_point;

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM certificate chain, server certificate first.
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, RSA or SEC1).
    pub key: Option<PathBuf>,
    /// PEM CA certificates that sign client certificates; when set, clients may present one
    /// (it is required only by access rules with `method = "cert"`).
    pub client_ca: Option<PathBuf>,
    /// How often the files are checked for changes, in milliseconds.
    pub reload_check_ms: u64,
}

impl Default for TlsSettings {
    fn default() -> Self {
        Self {
            cert: None,
            key: None,
            client_ca: None,
            reload_check_ms: 5000,
        }
    }
}

/// What a connection is served with; taken once at accept, so a reload during a handshake
/// cannot mix two certificates (channel binding hashes the one actually served).
pub struct TlsServing {
    pub acceptor: TlsAcceptor,
    /// RFC 5929 `tls-server-end-point` of the served certificate, when defined.
    pub end_point: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsServing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServing")
            .field("channel_binding", &self.end_point.is_some())
            .finish()
    }
}

#[derive(Debug)]
pub struct TlsServer {
    settings: TlsSettings,
    current: ArcSwap<TlsServing>,
}

impl TlsServer {
    /// `None` when TLS is not configured.
    pub fn load(settings: &TlsSettings) -> Result<Option<Arc<Self>>, String> {
        match (&settings.cert, &settings.key) {
            (None, None) if settings.client_ca.is_none() => return Ok(None),
            (Some(_), Some(_)) => {}
            _ => return Err("TLS needs both tls.cert and tls.key".into()),
        }
        let serving = build(settings).map_err(|e| format!("TLS is misconfigured: {e}"))?;
        Ok(Some(Arc::new(Self {
            settings: settings.clone(),
            current: ArcSwap::from_pointee(serving),
        })))
    }

    pub fn current(&self) -> Arc<TlsServing> {
        self.current.load_full()
    }

    /// Polls the certificate, key and client CA files; new connections get a reloaded
    /// certificate, established ones keep theirs.
    pub fn watch(self: &Arc<Self>) {
        let paths: Vec<PathBuf> = [
            &self.settings.cert,
            &self.settings.key,
            &self.settings.client_ca,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let every = Duration::from_millis(self.settings.reload_check_ms.max(100));
        crate::reload::watch_files(Arc::downgrade(self), paths, every, |server| {
            match build(&server.settings) {
                Ok(serving) => {
                    tracing::info!("TLS certificate reloaded");
                    server.current.store(Arc::new(serving));
                }
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; the previous one stays in use")
                }
            }
        });
    }
}

fn build(settings: &TlsSettings) -> Result<TlsServing, String> {
    let (cert_path, key_path) = match (&settings.cert, &settings.key) {
        (Some(c), Some(k)) => (c, k),
        _ => return Err("tls.cert and tls.key are required".into()),
    };
    let certs = read_certs(cert_path, "tls.cert")?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        format!(
            "tls.key {}: no usable private key ({e})",
            key_path.display()
        )
    })?;
    // Both ring and aws-lc-rs are in the tree, so the provider is named rather than guessed.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = match &settings.client_ca {
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for ca in read_certs(path, "tls.client_ca")? {
                roots
                    .add(ca)
                    .map_err(|e| format!("tls.client_ca {}: {e}", path.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("tls.client_ca {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let end_point = tls_server_end_point(&certs[0]);
    let mut config = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "tls.cert {} and tls.key {} do not form a usable pair: {e}",
            cert_path.display(),
            key_path.display()
        )
    })?;
    // Direct TLS (PostgreSQL 17 `sslnegotiation=direct`) requires this ALPN; clients that offer
    // ALPN without it are refused by rustls (ALPACA guidance).
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(TlsServing {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        end_point,
    })
}

fn read_certs(path: &PathBuf, setting: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{setting} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{setting} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The common name of a verified client certificate.
pub fn client_common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let name = parsed.subject().iter_common_name().next()?.as_str().ok()?;
    Some(name.to_owned())
}
