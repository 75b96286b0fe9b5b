//! Signing keys for the test issuer, generated with aws-lc-rs.

use crate::b64url;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use serde_json::{Value, json};

pub(crate) fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SystemRandom only fails if the OS has no entropy source; a zero id is still usable.
    let _ = SystemRandom::new().fill(&mut b);
    u64::from_le_bytes(b)
}

/// The algorithms the test issuer signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSA 2048 PKCS#1 v1.5 SHA-256.
    RS256,
    /// RSA 2048 PSS SHA-256.
    PS256,
    /// ECDSA P-256 SHA-256.
    ES256,
    /// ECDSA P-384 SHA-384.
    ES384,
    /// ECDSA P-521 SHA-512.
    ES512,
    /// Ed25519.
    EdDSA,
}

fn ec_alg(alg: SigningAlg) -> &'static signature::EcdsaSigningAlgorithm {
    match alg {
        SigningAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        SigningAlg::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        _ => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
    }
}

impl SigningAlg {
    /// Parses a JOSE name (`RS256`, `ES256`, `EdDSA`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::RS256,
            Self::PS256,
            Self::ES256,
            Self::ES384,
            Self::ES512,
            Self::EdDSA,
        ]
        .into_iter()
        .find(|a| a.name() == name)
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
        }
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key and its public JWK.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Key generation failed inside aws-lc-rs.
#[derive(Debug, Clone, Copy)]
pub struct KeyGenerationFailed;

impl SigningKey {
    /// Generates a key for `alg` with a random `kid`.
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyGenerationFailed> {
        let kid = format!("{}-{:016x}", alg.name().to_ascii_lowercase(), random_u64());
        Self::generate_with_kid(alg, &kid)
    }

    /// Generates a key for `alg` with the given `kid`.
    pub fn generate_with_kid(alg: SigningAlg, kid: &str) -> Result<Self, KeyGenerationFailed> {
        let pair = match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => {
                Pair::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyGenerationFailed)?)
            }
            SigningAlg::ES256 | SigningAlg::ES384 | SigningAlg::ES512 => {
                Pair::Ec(EcdsaKeyPair::generate(ec_alg(alg)).map_err(|_| KeyGenerationFailed)?)
            }
            SigningAlg::EdDSA => {
                Pair::Ed(Ed25519KeyPair::generate().map_err(|_| KeyGenerationFailed)?)
            }
        };
        Self::from_pair(alg, kid, pair)
    }

    /// Loads a key saved with [`SigningKey::pkcs8_der`] (for a development issuer that keeps
    /// its key across restarts).
    pub fn from_pkcs8(alg: SigningAlg, kid: &str, der: &[u8]) -> Result<Self, KeyGenerationFailed> {
        let pair = match alg {
            SigningAlg::RS256 | SigningAlg::PS256 => {
                Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|_| KeyGenerationFailed)?)
            }
            SigningAlg::ES256 | SigningAlg::ES384 | SigningAlg::ES512 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(ec_alg(alg), der).map_err(|_| KeyGenerationFailed)?,
            ),
            SigningAlg::EdDSA => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(|_| KeyGenerationFailed)?)
            }
        };
        Self::from_pair(alg, kid, pair)
    }

    /// The private key as PKCS#8 DER. Secret: for development state files only.
    pub fn pkcs8_der(&self) -> Result<Vec<u8>, KeyGenerationFailed> {
        use aws_lc_rs::encoding::AsDer;
        match &self.pair {
            Pair::Rsa(kp) => kp.as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ec(kp) => kp.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Pair::Ed(kp) => kp.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
        }
        .map_err(|_| KeyGenerationFailed)
    }

    fn from_pair(alg: SigningAlg, kid: &str, pair: Pair) -> Result<Self, KeyGenerationFailed> {
        let mut jwk = match &pair {
            Pair::Rsa(kp) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                json!({"kty": "RSA", "n": b64url(&c.n), "e": b64url(&c.e)})
            }
            Pair::Ec(kp) => {
                let (crv, len) = match alg {
                    SigningAlg::ES256 => ("P-256", 32),
                    SigningAlg::ES384 => ("P-384", 48),
                    _ => ("P-521", 66),
                };
                let point = kp.public_key().as_ref();
                let x = point.get(1..1 + len).ok_or(KeyGenerationFailed)?;
                let y = point.get(1 + len..1 + 2 * len).ok_or(KeyGenerationFailed)?;
                json!({"kty": "EC", "crv": crv, "x": b64url(x), "y": b64url(y)})
            }
            Pair::Ed(kp) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(kp.public_key().as_ref())})
            }
        };
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), json!(kid));
            o.insert("alg".into(), json!(alg.name()));
            o.insert("use".into(), json!("sig"));
        }
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
            jwk,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }
    /// The algorithm.
    pub fn alg(&self) -> SigningAlg {
        self.alg
    }
    /// The public JWK (with `kid`, `alg`, `use`).
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The public key as X.509 SubjectPublicKeyInfo DER (for key-confusion attack tests).
    pub fn public_key_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        let der = match &self.pair {
            Pair::Rsa(kp) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ec(kp) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ed(kp) => kp.public_key().as_der().map(|d| d.as_ref().to_vec()),
        };
        der.unwrap_or_default()
    }

    /// The public key as a PEM `PUBLIC KEY` block.
    pub fn public_key_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.public_key_der());
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(chunk));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Signs `message`. Returns an empty signature only if aws-lc-rs fails internally.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(kp) => {
                let padding: &'static dyn signature::RsaEncoding = if self.alg == SigningAlg::PS256
                {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut sig = vec![0; kp.public_modulus_len()];
                match kp.sign(padding, &rng, message, &mut sig) {
                    Ok(()) => sig,
                    Err(_) => Vec::new(),
                }
            }
            Pair::Ec(kp) => kp
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .unwrap_or_default(),
            Pair::Ed(kp) => kp.sign(message).as_ref().to_vec(),
        }
    }
}
