//! Token verification against the provider's own keys: never a panic, never an acceptance.
#![no_main]

use std::sync::OnceLock;

use connectivly::keys::{KeySet, SigningAlg, generate};
use libfuzzer_sys::fuzz_target;

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        KeySet::load(&[generate(SigningAlg::ES256, 1).unwrap(), generate(SigningAlg::EdDSA, 1).unwrap()]).unwrap()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    // Random input cannot carry a valid signature of a key generated in this process.
    assert!(connectivly::jwt::verify(s, keys()).is_err());
    let _ = connectivly::jwt::peek_kid(s);
});
