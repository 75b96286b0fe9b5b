//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` holds `x5t#S256` is good
//! only on a TLS connection whose client certificate has that SHA-256 thumbprint.
//!
//! ```
//! use oauth_filter::{ClientCertificate, RequestParts};
//! // The adapter (or your acceptor) hands the filter the connection's client certificate:
//! let cert = ClientCertificate::from_der(b"...DER bytes of the client certificate...".to_vec());
//! assert_eq!(cert.thumbprint().len(), 43); // base64url(SHA-256), as in `cnf.x5t#S256`
//! let parts = RequestParts::new()
//!     .authorization(b"Bearer eyJ...")
//!     .client_certificate(cert.der());
//! # let _ = parts;
//! // Behind a TLS-terminating proxy that forwards it per RFC 9440 (only from a trusted proxy!):
//! let forwarded = ClientCertificate::from_client_cert_header(b":MIIB:").unwrap();
//! assert_eq!(forwarded.der(), [0x30, 0x82, 0x01]);
//! ```
//!
//! Where the certificate comes from:
//! - **tower / axum**: put a [`ClientCertificate`] in the request's extensions; the layer reads
//!   it. With a rustls acceptor (feature `rustls`), [`ClientCertificate::from_connection`]
//!   takes it from the `ServerConnection`, and [`AnyClientCertificate`] asks clients for a
//!   certificate without requiring a CA; the `axum_mtls` example serves axum over TLS so.
//! - **actix-web**: [`HttpServer::on_connect`] with its rustls `TlsStream`, storing a
//!   [`ClientCertificate`] in the connection data; the adapter reads `conn_data` (see
//!   [`crate::actix`]).
//! - **the gateway**: its own TLS listener (`[tls]`), or the `Client-Cert` header from a
//!   configured trusted proxy.
//!
//! Only the thumbprint matters for the binding (RFC 8705 §2.2, self-signed certificates): this
//! module does not validate chains; a CA policy belongs to the TLS acceptor.
//!
//! [`HttpServer::on_connect`]: https://docs.rs/actix-web/4/actix_web/struct.HttpServer.html#method.on_connect

use crate::error::AuthError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::sync::Arc;

/// The client certificate of the request's TLS connection (the end-entity certificate, DER).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    der: Arc<[u8]>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.thumbprint())
            .finish()
    }
}

/// Why a forwarded `Client-Cert` header (RFC 9440 §2.2) was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientCertHeaderError {
    /// Not a structured-field byte sequence (`:` base64 `:`), or not valid base64.
    Malformed,
    /// An empty certificate.
    Empty,
}

impl std::fmt::Display for ClientCertHeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the Client-Cert header is not a base64 byte sequence (RFC 9440)",
            Self::Empty => "the Client-Cert header holds an empty certificate",
        })
    }
}

impl std::error::Error for ClientCertHeaderError {}

/// Largest forwarded certificate read, in bytes of header (certificates are a few KiB).
const MAX_CLIENT_CERT_HEADER: usize = 16 * 1024;

impl ClientCertificate {
    /// The certificate from its DER bytes, as the TLS stack gives them.
    pub fn from_der(der: impl Into<Arc<[u8]>>) -> Self {
        Self { der: der.into() }
    }

    /// The end-entity certificate of a peer chain, as `rustls::ServerConnection::
    /// peer_certificates()` returns it: `None` when the client sent none.
    pub fn from_peer_certificates<C: AsRef<[u8]>>(chain: Option<&[C]>) -> Option<Self> {
        let first = chain?.first()?.as_ref();
        (!first.is_empty()).then(|| Self::from_der(first))
    }

    /// The certificate a TLS-terminating proxy forwarded in `Client-Cert` (RFC 9440 §2.2: a
    /// structured-field byte sequence, `:` standard base64 of the DER `:`).
    ///
    /// Honour this header only on requests from a proxy you trust, and remove it from every
    /// other request: anyone can send it.
    pub fn from_client_cert_header(value: &[u8]) -> Result<Self, ClientCertHeaderError> {
        if value.len() > MAX_CLIENT_CERT_HEADER {
            return Err(ClientCertHeaderError::Malformed);
        }
        let inner = value
            .trim_ascii()
            .strip_prefix(b":")
            .and_then(|v| v.strip_suffix(b":"))
            .ok_or(ClientCertHeaderError::Malformed)?;
        let der = STANDARD
            .decode(inner)
            .map_err(|_| ClientCertHeaderError::Malformed)?;
        if der.is_empty() {
            return Err(ClientCertHeaderError::Empty);
        }
        Ok(Self::from_der(der))
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The RFC 8705 §3.1 thumbprint: base64url (no padding) of the SHA-256 of the DER, the
    /// value a bound token carries in `cnf.x5t#S256`.
    pub fn thumbprint(&self) -> String {
        thumbprint(&self.der)
    }

    /// The certificate as an RFC 9440 `Client-Cert` header value, for a proxy that forwards it.
    pub fn to_client_cert_header(&self) -> String {
        format!(":{}:", STANDARD.encode(&self.der))
    }
}

#[cfg(feature = "rustls")]
impl ClientCertificate {
    /// The client certificate of a rustls server connection, once its handshake is done.
    pub fn from_connection(conn: &rustls::ServerConnection) -> Option<Self> {
        Self::from_peer_certificates(conn.peer_certificates())
    }
}

/// A rustls client-certificate verifier for certificate-bound tokens without a CA (RFC 8705
/// §2.2, "self-signed certificate mutual TLS"): it asks for a certificate, accepts any, and
/// checks that the client holds its private key (the handshake signature, by rustls with
/// aws-lc-rs). Whether the token is bound to that certificate is the filter's check.
///
/// Use it only for binding: it says nothing about who the client is. With a CA bundle, use
/// rustls' `WebPkiClientVerifier` instead (optional clients: `allow_unauthenticated`).
///
/// ```
/// # #[cfg(feature = "rustls")] {
/// use oauth_filter::mtls::AnyClientCertificate;
/// let verifier = AnyClientCertificate::optional();
/// let config = rustls::ServerConfig::builder().with_client_cert_verifier(verifier);
/// # let _ = config;
/// # }
/// ```
#[cfg(feature = "rustls")]
#[derive(Debug)]
pub struct AnyClientCertificate {
    mandatory: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

#[cfg(feature = "rustls")]
impl AnyClientCertificate {
    /// Clients may send a certificate; connections without one carry no certificate (and
    /// certificate-bound tokens on them are refused).
    pub fn optional() -> Arc<Self> {
        Self::new(false)
    }

    /// Clients must send a certificate, or the handshake fails.
    pub fn required() -> Arc<Self> {
        Self::new(true)
    }

    fn new(mandatory: bool) -> Arc<Self> {
        Arc::new(Self {
            mandatory,
            algorithms: rustls::crypto::aws_lc_rs::default_provider()
                .signature_verification_algorithms,
        })
    }
}

#[cfg(feature = "rustls")]
impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        // No chain to check (RFC 8705 §2.2). The certificate is parsed, and its key proven,
        // by the handshake signature check below, which rustls always runs after this.
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// base64url(SHA-256(der)).
pub(crate) fn thumbprint(der: &[u8]) -> String {
    crate::dpop::sha256_b64(der)
}

/// The `x5t#S256` a token is bound to, when `cnf` holds exactly that (RFC 8705 §3.1).
pub(crate) fn bound_thumbprint(
    claims: &serde_json::Map<String, serde_json::Value>,
) -> Option<&str> {
    let cnf = claims.get("cnf")?.as_object()?;
    if cnf.len() != 1 {
        return None;
    }
    cnf.get("x5t#S256")?.as_str().filter(|t| !t.is_empty())
}

/// The binding check: the connection's certificate has the token's thumbprint.
pub(crate) fn check(bound_to: &str, certificate: Option<&[u8]>) -> Result<(), AuthError> {
    let der = certificate.ok_or(AuthError::CertificateMissing)?;
    // base64url without padding has one spelling per value, so comparing the encodings is
    // comparing the digests. The thumbprint is public (it is in the token): a plain comparison
    // leaks nothing.
    if thumbprint(der) == bound_to {
        Ok(())
    } else {
        Err(AuthError::CertificateMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_is_base64url_of_sha256_of_the_der() {
        // SHA-256("abc") = ba7816bf…, base64url without padding.
        let c = ClientCertificate::from_der(b"abc".to_vec());
        assert_eq!(
            c.thumbprint(),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        assert!(check(&c.thumbprint(), Some(b"abc")).is_ok());
    }

    #[test]
    fn another_certificate_or_none_is_refused() {
        let t = thumbprint(b"abc");
        assert_eq!(check(&t, Some(b"abd")), Err(AuthError::CertificateMismatch));
        assert_eq!(check(&t, None), Err(AuthError::CertificateMissing));
        // A padded or standard-alphabet value is not the RFC 8705 encoding: no match.
        assert_eq!(
            check(&format!("{t}="), Some(b"abc")),
            Err(AuthError::CertificateMismatch)
        );
        assert_eq!(check("", Some(b"abc")), Err(AuthError::CertificateMismatch));
    }

    #[test]
    fn client_cert_headers_are_strict_byte_sequences() {
        let c = ClientCertificate::from_der(vec![1, 2, 3, 250]);
        let h = c.to_client_cert_header();
        assert_eq!(h, ":AQID+g==:");
        assert_eq!(
            ClientCertificate::from_client_cert_header(h.as_bytes()),
            Ok(c)
        );
        for bad in [
            &b"AQID+g=="[..],
            b":AQID+g==",
            b"AQID+g==:",
            b":AQID_g==:",
            b":not base64:",
            b"\"AQID\"",
        ] {
            assert_eq!(
                ClientCertificate::from_client_cert_header(bad),
                Err(ClientCertHeaderError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            ClientCertificate::from_client_cert_header(b"::"),
            Err(ClientCertHeaderError::Empty)
        );
        let huge = format!(":{}:", "A".repeat(MAX_CLIENT_CERT_HEADER));
        assert!(ClientCertificate::from_client_cert_header(huge.as_bytes()).is_err());
    }

    #[test]
    fn the_first_certificate_of_a_chain_is_the_clients() {
        let chain = [vec![1u8, 2], vec![3u8]];
        let c = ClientCertificate::from_peer_certificates(Some(&chain[..])).unwrap();
        assert_eq!(c.der(), [1, 2]);
        assert!(ClientCertificate::from_peer_certificates::<Vec<u8>>(None).is_none());
        assert!(ClientCertificate::from_peer_certificates::<Vec<u8>>(Some(&[])).is_none());
    }

    #[test]
    fn only_a_cnf_with_exactly_x5t_is_a_certificate_binding() {
        let claims = |v: serde_json::Value| v.as_object().unwrap().clone();
        let c = claims(serde_json::json!({"cnf": {"x5t#S256": "abc"}}));
        assert_eq!(bound_thumbprint(&c), Some("abc"));
        for v in [
            serde_json::json!({"cnf": {"x5t#S256": "abc", "jkt": "x"}}),
            serde_json::json!({"cnf": {"x5t#S256": ""}}),
            serde_json::json!({"cnf": {"x5t#S256": 1}}),
            serde_json::json!({"cnf": "abc"}),
            serde_json::json!({}),
        ] {
            assert_eq!(bound_thumbprint(&claims(v.clone())), None, "{v}");
        }
    }
}
