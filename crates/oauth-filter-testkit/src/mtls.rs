//! A client with a TLS client certificate (RFC 8705): the certificate and key for its TLS
//! connector, and the thumbprint a token bound to it carries (`cnf.x5t#S256`).
//!
//! ```no_run
//! # async fn t() {
//! use oauth_filter_testkit::{MtlsClient, TestIssuer};
//! let issuer = TestIssuer::start().await;
//! let client = MtlsClient::generate("payments-client").unwrap();
//! let token = issuer.mint().claim("cnf", client.cnf()).sign();
//! // A TLS client presents `client.identity_pem()` (certificate and key, PEM) on its connection.
//! # let _ = (token, client.identity_pem());
//! # }
//! ```
//!
//! The certificate is self-signed, as RFC 8705 §2.2 allows: only its thumbprint binds the
//! token. A [`TestCa`] issues them under a CA for acceptors that verify chains.

use crate::b64url;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::{Value, json};

/// Why a certificate could not be made.
#[derive(Debug)]
pub struct CertificateGenerationFailed(rcgen::Error);

impl std::fmt::Display for CertificateGenerationFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "could not make a client certificate: {}", self.0)
    }
}

impl std::error::Error for CertificateGenerationFailed {}

impl From<rcgen::Error> for CertificateGenerationFailed {
    fn from(e: rcgen::Error) -> Self {
        Self(e)
    }
}

/// A client certificate (ECDSA P-256) with its private key.
#[derive(Debug, Clone)]
pub struct MtlsClient {
    cert_der: Vec<u8>,
    cert_pem: String,
    key_pem: String,
    key_der: Vec<u8>,
    thumbprint: String,
}

impl MtlsClient {
    /// A new self-signed client certificate with the common name `name`.
    pub fn generate(name: &str) -> Result<Self, CertificateGenerationFailed> {
        let key = KeyPair::generate()?;
        let cert = params(name)?.self_signed(&key)?;
        Ok(Self::from_parts(cert.der(), cert.pem(), &key))
    }

    fn from_parts(der: &[u8], cert_pem: String, key: &KeyPair) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        Self {
            cert_der: der.to_vec(),
            cert_pem,
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            thumbprint: b64url(digest.as_ref()),
        }
    }

    /// The certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 DER.
    pub fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The private key, PKCS#8 PEM.
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Certificate and key in one PEM, as `reqwest::Identity::from_pem` reads it.
    pub fn identity_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }

    /// base64url(SHA-256(DER)): the certificate's `x5t#S256` (RFC 8705 §3.1).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The `cnf` claim of a token bound to this certificate.
    pub fn cnf(&self) -> Value {
        json!({ "x5t#S256": self.thumbprint })
    }

    /// The certificate as an RFC 9440 `Client-Cert` header value (`:base64(DER):`), as a
    /// TLS-terminating proxy forwards it.
    pub fn client_cert_header(&self) -> String {
        use base64::Engine;
        format!(
            ":{}:",
            base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
        )
    }
}

/// A certificate authority for client certificates.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new self-signed CA with the common name `name`.
    pub fn generate(name: &str) -> Result<Self, CertificateGenerationFailed> {
        let key = KeyPair::generate()?;
        let mut p = params(name)?;
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = p.clone().self_signed(&key)?;
        Ok(Self {
            issuer: Issuer::new(p, key),
            cert_pem: cert.pem(),
        })
    }

    /// The CA certificate, PEM (the acceptor's client CA bundle).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A new client certificate with the common name `name`, issued by this CA.
    pub fn issue(&self, name: &str) -> Result<MtlsClient, CertificateGenerationFailed> {
        let key = KeyPair::generate()?;
        let cert = params(name)?.signed_by(&key, &self.issuer)?;
        Ok(MtlsClient::from_parts(cert.der(), cert.pem(), &key))
    }
}

fn params(name: &str) -> Result<CertificateParams, CertificateGenerationFailed> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.distinguished_name.push(DnType::CommonName, name);
    Ok(p)
}
