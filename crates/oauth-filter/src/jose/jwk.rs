//! JSON Web Keys (RFC 7517, RFC 7518 §6, RFC 8037) turned into pre-parsed aws-lc-rs verifying keys.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! use oauth_filter::__internal::jose::{Algorithm, VerifyingKey};
//! let jwk = serde_json::json!({
//!     "kty": "OKP", "crv": "Ed25519", "use": "sig",
//!     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
//! });
//! let key = VerifyingKey::from_jwk(jwk.as_object().unwrap(), &Algorithm::DEFAULT_ASYMMETRIC).unwrap();
//! assert!(key.fits(Algorithm::EdDSA));
//! assert!(!key.fits(Algorithm::ES256));
//! # }
//! ```
//!
//! A key is parsed once, when its key set is loaded, into one `ParsedPublicKey` per algorithm it
//! may verify, so a request pays only for the signature check. RSA and ECDSA signatures are
//! checked on a digest of the signing input made first (`ParsedPublicKey::verify_digest_sig`):
//! the same aws-lc check as the one-call form, without the message-digest context that form
//! builds and copies on every call (2,500 fewer instructions per RS256 verification by
//! callgrind); aws-lc-rs refuses a digest of another algorithm than the key's, and every
//! Wycheproof signature vector runs through this path. Every check the JWK allows is made
//! here: `use` must be `sig`, `key_ops` must contain `verify`, the JWK's `alg` must be known and
//! fit the key type and curve, RSA moduli are 2048 to 8192 bits with an exponent above 1 and not
//! of the ROCA (CVE-2017-15361) form, EC points must be on their curve. Symmetric (`oct`) keys are
//! never taken from a JWK: HMAC needs an explicitly configured shared secret.
//!
//! The ROCA fingerprint test is the one step here not delegated to a crate: no maintained Rust
//! crate offers it, it is a public-key property check (no secret, no cryptographic operation),
//! and Wycheproof's JWK vectors require rejecting such keys.

use super::alg::{Algorithm, Curve, KeyFamily};
use super::base64url;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use serde_json::{Map, Value};
use std::fmt;

/// Why a JWK cannot be used. Keys that fail are skipped by key sets, never fatal to the set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRejected(pub(crate) &'static str);

impl KeyRejected {
    /// A short, fixed reason.
    pub fn reason(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for KeyRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key rejected: {}", self.0)
    }
}

impl std::error::Error for KeyRejected {}

enum Material {
    /// One parsed key per algorithm this key may verify.
    Asymmetric(Vec<(Algorithm, ParsedPublicKey)>),
    Hmac(Algorithm, Box<hmac::Key>),
}

/// A key that verifies JWS signatures, bound to the algorithms it may be used with.
pub struct VerifyingKey {
    kid: Option<String>,
    material: Material,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material (an HMAC key is a secret).
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms())
            .finish()
    }
}

const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

fn member_str<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, KeyRejected> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(KeyRejected("a JWK member has the wrong type")),
    }
}

fn required_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, KeyRejected> {
    let s = member_str(jwk, name)?.ok_or(KeyRejected("a required JWK member is missing"))?;
    base64url::decode(s).map_err(|_| KeyRejected("a JWK member is not strict base64url"))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

fn bit_length(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

impl VerifyingKey {
    /// Builds a verifying key from a public JWK, for the algorithms in `allowed` that fit it.
    pub fn from_jwk(jwk: &Map<String, Value>, allowed: &[Algorithm]) -> Result<Self, KeyRejected> {
        let kty = member_str(jwk, "kty")?.ok_or(KeyRejected("missing kty"))?;
        if let Some(u) = member_str(jwk, "use")? {
            if u != "sig" {
                return Err(KeyRejected("use is not sig"));
            }
        }
        if let Some(ops) = jwk.get("key_ops") {
            let ops = ops
                .as_array()
                .ok_or(KeyRejected("key_ops is not an array"))?;
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return Err(KeyRejected("key_ops does not include verify"));
            }
        }
        let jwk_alg = match member_str(jwk, "alg")? {
            None => None,
            Some(name) => Some(Algorithm::from_name(name).ok_or(KeyRejected("unsupported alg"))?),
        };
        let kid = member_str(jwk, "kid")?.map(str::to_owned);

        let family = match kty {
            "RSA" => KeyFamily::Rsa,
            "EC" => {
                let crv = member_str(jwk, "crv")?.ok_or(KeyRejected("missing crv"))?;
                KeyFamily::Ec(Curve::from_name(crv).ok_or(KeyRejected("unsupported curve"))?)
            }
            "OKP" => match member_str(jwk, "crv")? {
                Some("Ed25519") => KeyFamily::Ed25519,
                _ => return Err(KeyRejected("unsupported OKP curve")),
            },
            "oct" => return Err(KeyRejected("symmetric keys are never taken from a JWK set")),
            _ => return Err(KeyRejected("unsupported kty")),
        };
        if let Some(alg) = jwk_alg {
            if alg.family() != family {
                return Err(KeyRejected("alg does not fit the key type or curve"));
            }
        }
        // One key, one algorithm: a JWK's `alg` names it; without one, the key gets the first
        // algorithm of the allow-list (in its order) that fits its type and curve. An RSA key
        // without `alg` would otherwise verify RS* and PS* alike, letting a token choose how
        // the key is used (the RFC 7518 §3 / RFC 8725 §3.1 "one key, one algorithm" rule).
        // Azure-style sets (RSA keys without `alg`) keep working with the default list, whose
        // first RSA entry is RS256.
        let algorithms: Vec<Algorithm> = allowed
            .iter()
            .copied()
            .find(|a| a.family() == family && jwk_alg.is_none_or(|j| j == *a))
            .into_iter()
            .collect();
        if algorithms.is_empty() {
            return Err(KeyRejected("no allowed algorithm fits this key"));
        }

        let parsed = match family {
            KeyFamily::Rsa => rsa_keys(jwk, &algorithms)?,
            KeyFamily::Ec(curve) => {
                let x = required_bytes(jwk, "x")?;
                let y = required_bytes(jwk, "y")?;
                if x.len() != curve.coordinate_len() || y.len() != curve.coordinate_len() {
                    return Err(KeyRejected("EC coordinate has the wrong length"));
                }
                let mut point = Vec::with_capacity(1 + 2 * curve.coordinate_len());
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                parse_each(&algorithms, &point)?
            }
            KeyFamily::Ed25519 => {
                let x = required_bytes(jwk, "x")?;
                if x.len() != 32 {
                    return Err(KeyRejected("Ed25519 key has the wrong length"));
                }
                parse_each(&algorithms, &x)?
            }
            KeyFamily::Hmac => {
                return Err(KeyRejected("symmetric keys are never taken from a JWK set"));
            }
        };
        Ok(Self {
            kid,
            material: Material::Asymmetric(parsed),
        })
    }

    /// An HMAC key from a configured shared secret. The secret must be at least as long as the
    /// hash output (RFC 7518 §3.2): 32, 48 or 64 bytes.
    pub fn from_shared_secret(
        alg: Algorithm,
        secret: &[u8],
        kid: Option<String>,
    ) -> Result<Self, KeyRejected> {
        let hmac_alg = alg.hmac().ok_or(KeyRejected("not an HMAC algorithm"))?;
        if secret.len() < alg.min_hmac_key_len() {
            return Err(KeyRejected("shared secret is shorter than the hash output"));
        }
        Ok(Self {
            kid,
            material: Material::Hmac(alg, Box::new(hmac::Key::new(hmac_alg, secret))),
        })
    }

    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        match &self.material {
            Material::Asymmetric(keys) => keys.iter().map(|(a, _)| *a).collect(),
            Material::Hmac(a, _) => vec![*a],
        }
    }

    /// True when this key may verify signatures made with `alg`.
    pub fn fits(&self, alg: Algorithm) -> bool {
        match &self.material {
            Material::Asymmetric(keys) => keys.iter().any(|(a, _)| *a == alg),
            Material::Hmac(a, _) => *a == alg,
        }
    }

    /// Verifies `signature` over `message` with `alg`. False on any failure.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Asymmetric(keys) => {
                keys.iter()
                    .find(|(a, _)| *a == alg)
                    .is_some_and(|(_, key)| match alg.digest() {
                        // The digest first, then the check on it: the same verification, without
                        // the message-digest context aws-lc's one-call form builds and copies.
                        Some(d) => key
                            .verify_digest_sig(&aws_lc_rs::digest::digest(d, message), signature)
                            .is_ok(),
                        None => key.verify_sig(message, signature).is_ok(),
                    })
            }
            Material::Hmac(a, key) => *a == alg && hmac::verify(key, message, signature).is_ok(),
        }
    }
}

fn parse_each(
    algorithms: &[Algorithm],
    bytes: &[u8],
) -> Result<Vec<(Algorithm, ParsedPublicKey)>, KeyRejected> {
    algorithms
        .iter()
        .map(|alg| {
            let v = alg
                .verification()
                .ok_or(KeyRejected("not an asymmetric algorithm"))?;
            ParsedPublicKey::new(v, bytes)
                .map(|k| (*alg, k))
                .map_err(|_| KeyRejected("public key is invalid for its curve"))
        })
        .collect()
}

fn rsa_keys(
    jwk: &Map<String, Value>,
    algorithms: &[Algorithm],
) -> Result<Vec<(Algorithm, ParsedPublicKey)>, KeyRejected> {
    let n_raw = required_bytes(jwk, "n")?;
    let e_raw = required_bytes(jwk, "e")?;
    let n = strip_leading_zeros(&n_raw);
    let e = strip_leading_zeros(&e_raw);
    let bits = bit_length(n);
    if bits < MIN_RSA_BITS {
        return Err(KeyRejected("RSA modulus is shorter than 2048 bits"));
    }
    if bits > MAX_RSA_BITS {
        return Err(KeyRejected("RSA modulus is longer than 8192 bits"));
    }
    // e must be an odd integer above 1 (RFC 8017 §3.1); 1 makes every "signature" trivial.
    if bit_length(e) < 2 || e.last().is_none_or(|b| b & 1 == 0) || e.len() > 8 {
        return Err(KeyRejected("RSA exponent is invalid"));
    }
    if is_roca_modulus(n) {
        return Err(KeyRejected(
            "RSA modulus has the ROCA (CVE-2017-15361) fingerprint",
        ));
    }
    let components = RsaPublicKeyComponents { n, e };
    algorithms
        .iter()
        .map(|alg| {
            let params = alg
                .rsa_parameters()
                .ok_or(KeyRejected("not an RSA algorithm"))?;
            components
                .to_parsed_public_key(params)
                .map(|k| (*alg, k))
                .map_err(|_| KeyRejected("RSA public key is invalid"))
        })
        .collect()
}

/// Small primes of the ROCA test (Nemec et al., CCS 2017): a ROCA modulus n has, for each of
/// them, n mod p inside the subgroup generated by 65537 mod p. For a random modulus the chance
/// of that holding for all of them is negligible.
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

fn is_roca_modulus(n_be: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let residue = n_be
            .iter()
            .fold(0u32, |acc, b| (acc * 256 + u32::from(*b)) % p);
        let generator = 65537 % p;
        let mut x = 1u32;
        for _ in 0..p {
            if x == residue {
                return true;
            }
            x = x * generator % p;
            if x == 1 {
                break;
            }
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    const P256: (&str, &str) = (
        "04N0xi21hshyvBp7I167sbE_bXqyqkAPfefdklMO7wY",
        "UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgmw",
    );

    #[test]
    fn ec_key_checks() {
        let ok = obj(json!({"kty":"EC","crv":"P-256","x":P256.0,"y":P256.1}));
        let key = VerifyingKey::from_jwk(&ok, &Algorithm::DEFAULT_ASYMMETRIC).unwrap();
        assert_eq!(key.algorithms(), vec![Algorithm::ES256]);
        let cases = [
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0,"y":P256.1,"use":"enc"}),
                "use is not sig",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0,"y":P256.1,"key_ops":["encrypt"]}),
                "key_ops does not include verify",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0,"y":P256.1,"alg":"ES384"}),
                "alg does not fit the key type or curve",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0,"y":P256.1,"alg":"ES224"}),
                "unsupported alg",
            ),
            (
                json!({"kty":"EC","crv":"P-384","x":P256.0,"y":P256.1}),
                "EC coordinate has the wrong length",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0,"y":"UI8exy-C06a7DUnjIdENkxeFtHM4-l_41LqEw9nVgnw"}),
                "public key is invalid for its curve",
            ),
            (
                json!({"kty":"EC","crv":"secp256k1","x":P256.0,"y":P256.1}),
                "unsupported curve",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0}),
                "a required JWK member is missing",
            ),
            (
                json!({"kty":"EC","crv":"P-256","x":P256.0,"y":1}),
                "a JWK member has the wrong type",
            ),
            (
                json!({"kty":"oct","k":"AAAA"}),
                "symmetric keys are never taken from a JWK set",
            ),
            (json!({"crv":"P-256","x":P256.0,"y":P256.1}), "missing kty"),
        ];
        for (jwk, reason) in cases {
            let err = VerifyingKey::from_jwk(&obj(jwk.clone()), &Algorithm::DEFAULT_ASYMMETRIC)
                .unwrap_err();
            assert_eq!(err.reason(), reason, "{jwk}");
        }
        // Allowed list narrower than the key: no algorithm fits.
        let err = VerifyingKey::from_jwk(&ok, &[Algorithm::RS256]).unwrap_err();
        assert_eq!(err.reason(), "no allowed algorithm fits this key");
    }

    #[test]
    fn rsa_size_and_exponent_checks() {
        let n2048 = base64url::encode(&[0xc5; 256]);
        let n1024 = base64url::encode(&[0xc5; 128]);
        let n_huge = base64url::encode(&[0xc5; 1025]);
        let e = |b: &[u8]| base64url::encode(b);
        let ok = obj(json!({"kty":"RSA","n":n2048,"e":e(&[1,0,1])}));
        let key = VerifyingKey::from_jwk(&ok, &Algorithm::DEFAULT_ASYMMETRIC).unwrap();
        assert_eq!(
            key.algorithms(),
            [Algorithm::RS256],
            "an RSA key without alg serves the first allowed RSA algorithm only"
        );
        let ps_first = [Algorithm::PS384, Algorithm::RS256, Algorithm::ES256];
        let key = VerifyingKey::from_jwk(&ok, &ps_first).unwrap();
        assert_eq!(key.algorithms(), [Algorithm::PS384]);
        assert!(!key.fits(Algorithm::RS256));
        for (n, ex, reason) in [
            (
                &n1024,
                e(&[1, 0, 1]),
                "RSA modulus is shorter than 2048 bits",
            ),
            (
                &n_huge,
                e(&[1, 0, 1]),
                "RSA modulus is longer than 8192 bits",
            ),
            (&n2048, e(&[1]), "RSA exponent is invalid"),
            (&n2048, e(&[0, 1]), "RSA exponent is invalid"),
            (&n2048, e(&[1, 0, 0]), "RSA exponent is invalid"),
            (&n2048, e(&[]), "RSA exponent is invalid"),
        ] {
            let err = VerifyingKey::from_jwk(
                &obj(json!({"kty":"RSA","n":n,"e":ex})),
                &Algorithm::DEFAULT_ASYMMETRIC,
            )
            .unwrap_err();
            assert_eq!(err.reason(), reason);
        }
    }

    #[test]
    fn hmac_secret_length() {
        assert!(VerifyingKey::from_shared_secret(Algorithm::HS256, &[7; 31], None).is_err());
        assert!(VerifyingKey::from_shared_secret(Algorithm::HS256, &[7; 32], None).is_ok());
        assert!(VerifyingKey::from_shared_secret(Algorithm::HS512, &[7; 63], None).is_err());
        assert!(VerifyingKey::from_shared_secret(Algorithm::RS256, &[7; 64], None).is_err());
        let k = VerifyingKey::from_shared_secret(
            Algorithm::HS256,
            b"0123456789abcdef0123456789abcdef",
            None,
        )
        .unwrap();
        assert!(
            !format!("{k:?}").contains("0123"),
            "Debug must not print the secret"
        );
    }

    /// 65537^k, big-endian: of the ROCA form for every prime (its residue mod p is a power of
    /// 65537 by construction), so the check must say yes.
    fn power_of_65537(k: usize) -> Vec<u8> {
        let mut n: Vec<u32> = vec![1]; // little-endian base-2^16 limbs
        for _ in 0..k {
            let mut carry = 0u64;
            for limb in &mut n {
                let v = u64::from(*limb) * 65537 + carry;
                *limb = (v & 0xffff) as u32;
                carry = v >> 16;
            }
            while carry > 0 {
                n.push((carry & 0xffff) as u32);
                carry >>= 16;
            }
        }
        n.iter()
            .rev()
            .flat_map(|l| (*l as u16).to_be_bytes())
            .skip_while(|b| *b == 0)
            .collect()
    }

    #[test]
    fn roca_moduli_are_recognised_and_refused() {
        let n = power_of_65537(128);
        assert!(n.len() * 8 >= 2048, "{} bytes", n.len());
        assert!(is_roca_modulus(&n));
        let jwk = obj(json!({"kty":"RSA","n":base64url::encode(&n),"e":"AQAB"}));
        let err = VerifyingKey::from_jwk(&jwk, &Algorithm::DEFAULT_ASYMMETRIC).unwrap_err();
        assert!(err.reason().contains("ROCA"), "{}", err.reason());
        // Its neighbour (the last bit flipped) is not of that form for some prime.
        let mut not_roca = n.clone();
        if let Some(last) = not_roca.last_mut() {
            *last ^= 1;
        }
        assert!(!is_roca_modulus(&not_roca));
    }

    #[test]
    fn roca_test_has_no_false_positive_on_small_samples() {
        // Moduli that are not ROCA: residues outside the subgroup for some prime.
        assert!(!is_roca_modulus(&[0xc5; 256]));
        assert!(!is_roca_modulus(&[0xff; 256]));
    }
}
