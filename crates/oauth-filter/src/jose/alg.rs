//! JWS algorithms (RFC 7518 §3, RFC 8037) and their aws-lc-rs verification parameters.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! use oauth_filter::__internal::jose::Algorithm;
//! assert_eq!(Algorithm::from_name("ES256"), Some(Algorithm::ES256));
//! assert_eq!(Algorithm::from_name("none"), None); // never an algorithm
//! assert_eq!(Algorithm::from_name("rs256"), None); // names are case-sensitive
//! # }
//! ```

use aws_lc_rs::signature as sig;

/// A JWS signature algorithm this crate can verify. `none` is deliberately absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(clippy::upper_case_acronyms)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1 SHA-256, salt 32.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1 SHA-384, salt 48.
    PS384,
    /// RSASSA-PSS with SHA-512, MGF1 SHA-512, salt 64.
    PS512,
    /// ECDSA on P-256 with SHA-256 (R||S signature).
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// Ed25519 (RFC 8037 `EdDSA` with `crv` `Ed25519`).
    EdDSA,
    /// HMAC SHA-256: only with a configured shared secret, never from a JWKS.
    HS256,
    /// HMAC SHA-384: only with a configured shared secret.
    HS384,
    /// HMAC SHA-512: only with a configured shared secret.
    HS512,
}

/// The key family an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    Ec(Curve),
    Ed25519,
    Hmac,
}

/// The NIST curves JOSE uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }
    /// Length of one coordinate in bytes (RFC 7518 §6.2.1.2: full length, zero-padded).
    pub(crate) fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

impl Algorithm {
    /// The algorithms the FAPI 2.0 Security Profile (§5.4) allows: PS256, ES256, EdDSA.
    pub const FAPI2: [Self; 3] = [Self::PS256, Self::ES256, Self::EdDSA];

    /// The default allow-list: every asymmetric algorithm. HMAC needs an explicit shared secret.
    pub const DEFAULT_ASYMMETRIC: [Self; 10] = [
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::EdDSA,
    ];

    /// Parses a JOSE `alg` value. Exact, case-sensitive; `none` and unknown names give `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "RS256" => Self::RS256,
            "RS384" => Self::RS384,
            "RS512" => Self::RS512,
            "PS256" => Self::PS256,
            "PS384" => Self::PS384,
            "PS512" => Self::PS512,
            "ES256" => Self::ES256,
            "ES384" => Self::ES384,
            "ES512" => Self::ES512,
            // RFC 9864 fully specified name for the same primitive.
            "EdDSA" | "Ed25519" => Self::EdDSA,
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            _ => return None,
        })
    }

    /// The registered JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::EdDSA => "EdDSA",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// True for the HMAC algorithms.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    pub(crate) fn family(self) -> KeyFamily {
        match self {
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                KeyFamily::Rsa
            }
            Self::ES256 => KeyFamily::Ec(Curve::P256),
            Self::ES384 => KeyFamily::Ec(Curve::P384),
            Self::ES512 => KeyFamily::Ec(Curve::P521),
            Self::EdDSA => KeyFamily::Ed25519,
            Self::HS256 | Self::HS384 | Self::HS512 => KeyFamily::Hmac,
        }
    }

    /// aws-lc-rs verification parameters for the asymmetric algorithms.
    pub(crate) fn verification(self) -> Option<&'static dyn sig::VerificationAlgorithm> {
        Some(match self {
            Self::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            Self::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::ES384 => &sig::ECDSA_P384_SHA384_FIXED,
            Self::ES512 => &sig::ECDSA_P521_SHA512_FIXED,
            Self::EdDSA => &sig::ED25519,
            Self::HS256 | Self::HS384 | Self::HS512 => return None,
        })
    }

    /// The digest an RSA or ECDSA signature is made over; `None` for EdDSA (which signs the
    /// message itself) and HMAC.
    pub(crate) fn digest(self) -> Option<&'static aws_lc_rs::digest::Algorithm> {
        use aws_lc_rs::digest;
        Some(match self {
            Self::RS256 | Self::PS256 | Self::ES256 => &digest::SHA256,
            Self::RS384 | Self::PS384 | Self::ES384 => &digest::SHA384,
            Self::RS512 | Self::PS512 | Self::ES512 => &digest::SHA512,
            Self::EdDSA | Self::HS256 | Self::HS384 | Self::HS512 => return None,
        })
    }

    pub(crate) fn rsa_parameters(self) -> Option<&'static sig::RsaParameters> {
        Some(match self {
            Self::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Self::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Self::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            Self::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }

    pub(crate) fn hmac(self) -> Option<aws_lc_rs::hmac::Algorithm> {
        match self {
            Self::HS256 => Some(aws_lc_rs::hmac::HMAC_SHA256),
            Self::HS384 => Some(aws_lc_rs::hmac::HMAC_SHA384),
            Self::HS512 => Some(aws_lc_rs::hmac::HMAC_SHA512),
            _ => None,
        }
    }

    /// Minimum HMAC key length: the hash output size (RFC 7518 §3.2).
    pub(crate) fn min_hmac_key_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
