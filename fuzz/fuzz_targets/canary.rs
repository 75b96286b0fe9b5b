//! Crashes on purpose on its seed input (`canary`): CI runs it alone through `scripts/fuzz.sh`
//! and requires the script to fail, proving that a crashing target cannot pass. Never part of
//! the default run.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert!(!data.starts_with(b"canary"), "the canary crashed, as it must");
});
