//! Strict base64url (RFC 7515 §2, RFC 4648 §5): URL-safe alphabet, no padding, no whitespace,
//! canonical (unused trailing bits must be zero).
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! # use oauth_filter::__internal::jose::base64url;
//! assert_eq!(base64url::decode("Zm9v").unwrap(), b"foo");
//! assert!(base64url::decode("Zm9v=").is_err()); // padding
//! assert!(base64url::decode("Zm9vYh").is_err()); // non-canonical: unused bits set
//! # }
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The input was not strict base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64Error;

impl std::fmt::Display for Base64Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not canonical unpadded base64url")
    }
}

impl std::error::Error for Base64Error {}

/// Decodes strict base64url. `URL_SAFE_NO_PAD` requires no padding and zero trailing bits.
pub fn decode(input: &str) -> Result<Vec<u8>, Base64Error> {
    URL_SAFE_NO_PAD.decode(input).map_err(|_| Base64Error)
}

/// Whether every byte is in the base64url alphabet (RFC 4648 §5, no padding): a check that
/// needs no decoding, for input refused before any cryptography. Range tests folded without
/// an early exit, which the compiler turns into SIMD compares: this runs over every new
/// token's payload (an early-exit `all` cost about 9 instructions a byte).
pub(crate) fn is_alphabet(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |ok, &b| {
        let lower = b | 0x20; // ASCII letters fold to lower case; digits, '-' and '_' do not
        ok & ((lower.wrapping_sub(b'a') < 26)
            | (b.wrapping_sub(b'0') < 10)
            | (b == b'-')
            | (b == b'_'))
    })
}

/// Decodes base64 the way a lenient decoder would: either alphabet, padding or not, unused bits
/// ignored. Only to *route* a token that strict decoding refused (so that a re-encoded token of
/// a trusted issuer is still recognised as one); never to verify anything.
pub(crate) fn decode_lenient(input: &str) -> Option<Vec<u8>> {
    use base64::alphabet::URL_SAFE;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let unified: String = input
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    LENIENT.decode(unified).ok()
}

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_canonical_forms() {
        for bad in [
            "Zm9v=", "Zm9v==", "Zm+v", "Zm/v", "Zm 9v", "Zm9v\n", "Z", "Zm9vYh", "Zg=", "Zh",
        ] {
            assert!(decode(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("Zg").unwrap(), b"f");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn the_alphabet_test_is_the_rfc_4648_alphabet() {
        for b in 0..=u8::MAX {
            let rfc = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
            assert_eq!(is_alphabet(&[b]), rfc, "byte {b:#04x}");
            // One bad byte anywhere in a long run is found (the fold has no early exit).
            let mut run = vec![b'A'; 100];
            run[57] = b;
            assert_eq!(is_alphabet(&run), rfc, "byte {b:#04x} inside a run");
        }
        assert!(is_alphabet(b""));
    }
}
