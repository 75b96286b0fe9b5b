//! Inbound TLS: the gateway's listener speaks HTTPS (rustls on aws-lc-rs, HTTP/2 and HTTP/1.1
//! by ALPN), asks for client certificates when configured, and reloads its files on SIGHUP.
//!
//! ```toml
//! [server.tls]
//! cert_file = "/etc/gateway/server.pem"       # chain, leaf first
//! key_file = "/etc/gateway/server-key.pem"
//! client_certificates = "optional"            # "none" (default) | "optional" | "required"
//! client_ca_file = "/etc/gateway/clients.pem" # omit: any certificate binds (RFC 8705 §2.2)
//!
//! [server]
//! client_cert_header_from = ["10.0.0.0/8"]    # RFC 9440 Client-Cert from these proxies only
//! ```
//!
//! Client certificates serve certificate-bound tokens (RFC 8705): a token whose `cnf` holds
//! `x5t#S256` passes only on a connection with that certificate. Without `client_ca_file`,
//! any certificate is accepted whose key the client proves in the handshake (self-signed
//! certificates, RFC 8705 §2.2): only its thumbprint matters for the binding. With it, the
//! certificate must chain to one of its CAs.
//!
//! On SIGHUP the files are read again; new connections use the new certificate, open ones keep
//! theirs, and files that do not load leave the running configuration in place (logged).

use oauth_filter::ConfigError;
use oauth_filter::mtls::AnyClientCertificate;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;

/// `server.tls.client_certificates`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ClientCertificates {
    /// Not asked for (certificate-bound tokens are refused).
    #[default]
    None,
    /// Asked for; connections without one are served.
    Optional,
    /// Required: the handshake fails without one.
    Required,
}

/// `[server.tls]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServerTls {
    pub(crate) cert_file: PathBuf,
    pub(crate) key_file: PathBuf,
    #[serde(default)]
    pub(crate) client_certificates: ClientCertificates,
    pub(crate) client_ca_file: Option<PathBuf>,
}

/// The files of `[server.tls]`, validated once at load; read again on every SIGHUP.
#[derive(Debug, Clone)]
pub(crate) struct InboundTls {
    raw: RawServerTls,
}

impl InboundTls {
    /// Checks the settings and that the files load.
    pub(crate) fn new(raw: RawServerTls) -> Result<Self, ConfigError> {
        if raw.client_ca_file.is_some() && raw.client_certificates == ClientCertificates::None {
            return Err(ConfigError::new(
                "server.tls.client_ca_file",
                "set, but client_certificates is \"none\": no certificate would be asked for \
                 (set client_certificates to \"optional\" or \"required\")",
            ));
        }
        let tls = Self { raw };
        tls.server_config()?;
        Ok(tls)
    }

    /// What `check-config` prints.
    pub(crate) fn describe(&self) -> String {
        let asked = if self.raw.client_certificates == ClientCertificates::Required {
            "required"
        } else {
            "optional"
        };
        let clients = match (self.raw.client_certificates, &self.raw.client_ca_file) {
            (ClientCertificates::None, _) => "no client certificates".to_owned(),
            (_, None) => format!(
                "client certificates {asked}, any certificate (thumbprint binding, RFC 8705 §2.2)"
            ),
            (_, Some(ca)) => format!(
                "client certificates {asked}, from the CAs in {}",
                ca.display()
            ),
        };
        format!("certificate {}, {clients}", self.raw.cert_file.display())
    }

    /// Reads the files and builds the rustls configuration.
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
        let raw = &self.raw;
        let read = |key: &str, path: &PathBuf| {
            std::fs::read(path)
                .map_err(|e| ConfigError::new(key, format!("cannot read {}: {e}", path.display())))
        };
        let pem = read("server.tls.cert_file", &raw.cert_file)?;
        let chain = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                ConfigError::new("server.tls.cert_file", format!("not PEM certificates: {e}"))
            })?;
        if chain.is_empty() {
            return Err(ConfigError::new(
                "server.tls.cert_file",
                "holds no certificate",
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&read("server.tls.key_file", &raw.key_file)?)
            .map_err(|e| {
                ConfigError::new("server.tls.key_file", format!("not a PEM private key: {e}"))
            })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::new("server.tls", e.to_string()))?;
        let required = raw.client_certificates == ClientCertificates::Required;
        let builder = match (raw.client_certificates, &raw.client_ca_file) {
            (ClientCertificates::None, _) => builder.with_no_client_auth(),
            (_, None) if required => {
                builder.with_client_cert_verifier(AnyClientCertificate::required())
            }
            (_, None) => builder.with_client_cert_verifier(AnyClientCertificate::optional()),
            (_, Some(ca_file)) => {
                let key = "server.tls.client_ca_file";
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&read(key, ca_file)?) {
                    let cert = cert
                        .map_err(|e| ConfigError::new(key, format!("not PEM certificates: {e}")))?;
                    roots
                        .add(cert)
                        .map_err(|e| ConfigError::new(key, format!("not a CA certificate: {e}")))?;
                }
                if roots.is_empty() {
                    return Err(ConfigError::new(key, "holds no certificate"));
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if required {
                    verifier
                } else {
                    verifier.allow_unauthenticated()
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| ConfigError::new(key, e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            ConfigError::new(
                "server.tls.key_file",
                format!("does not go with the certificate of cert_file: {e}"),
            )
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

/// Reloads `tls` on every SIGHUP into `current`, keeping the old configuration when the new
/// files do not load.
pub(crate) fn reload_on_sighup(
    tls: InboundTls,
    current: tokio::sync::watch::Sender<Arc<rustls::ServerConfig>>,
) {
    // Registered before READY is printed: a SIGHUP from then on reloads, never kills.
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP: TLS files are not reloaded");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match tls.server_config() {
                Ok(config) => {
                    current.send_replace(config);
                    tracing::info!("TLS certificate and key reloaded");
                }
                Err(e) => {
                    tracing::error!(error = %e, "TLS reload failed; the previous certificate stays in use");
                }
            }
        }
    });
}
