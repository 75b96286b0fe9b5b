//! JWKS documents: any bytes, parsed and every key checked, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = oauth_filter::fuzzing::jwks(data);
});
