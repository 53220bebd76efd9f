//! Random secrets, their hashes, and constant-time comparison.
//!
//! Every bearer secret (session id, code, client secret, API key) is 256 bits from the OS CSPRNG,
//! base64url-encoded behind a short prefix that says what it is (so a leaked value is recognisable
//! by secret scanners). Only SHA-256 digests are stored. A fast unsalted hash is the right tool for
//! 256-bit random values: there is nothing to brute-force, and a deterministic digest lets the store
//! look a secret up by its hash without ever holding the secret itself.

use aws_lc_rs::{digest, rand::SecureRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Prefixes that name each kind of secret.
pub mod prefix {
    pub const SESSION: &str = "cly_ses_";
    pub const CODE: &str = "cly_ac_";
    pub const REFRESH: &str = "cly_rt_";
    pub const REGISTRATION: &str = "cly_rg_";
    pub const CLIENT_SECRET: &str = "cly_cs_";
    pub const API_KEY: &str = "cly_ak_";
    pub const CLIENT_ID: &str = "cly_ci_";
    pub const BINDING: &str = "cly_bn_";
    pub const CONSENT_TICKET: &str = "cly_ct_";
}

/// `n` random bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut buf).expect("the OS random number generator failed");
    buf
}

/// A new 256-bit secret behind `prefix`.
pub fn new_secret(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 43);
    s.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(random_bytes::<32>(), &mut s);
    s
}

/// A new public identifier (128 bits) behind `prefix`: unguessable, but not a secret.
pub fn new_id(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 22);
    s.push_str(prefix);
    URL_SAFE_NO_PAD.encode_string(random_bytes::<16>(), &mut s);
    s
}

/// The stored form of a secret: base64url(SHA-256(secret)).
pub fn hash_secret(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn verify_secret(secret: &str, stored_hash: &str) -> bool {
    constant_time_eq(hash_secret(secret).as_bytes(), stored_hash.as_bytes())
}

/// Constant-time equality of two byte strings (the length is not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// base64url(SHA-256(input)) — the PKCE S256 transform and the OIDC half-hash building block.
pub fn sha256_b64(input: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, input))
}

/// HMAC-SHA256 of `msg` under `key`, base64url — used to derive per-session CSRF tokens.
pub fn hmac_b64(key: &[u8], msg: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key);
    URL_SAFE_NO_PAD.encode(aws_lc_rs::hmac::sign(&key, msg))
}

/// Whether `s` looks like a secret minted with `prefix` (cheap shape check before any lookup).
pub fn has_shape(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 43
        && s.starts_with(prefix)
        && s[prefix.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_256_bit_and_distinct() {
        let a = new_secret(prefix::CODE);
        let b = new_secret(prefix::CODE);
        assert_ne!(a, b);
        assert!(has_shape(&a, prefix::CODE));
        assert_eq!(URL_SAFE_NO_PAD.decode(&a[prefix::CODE.len()..]).unwrap().len(), 32);
    }

    #[test]
    fn hash_verifies_only_the_same_secret() {
        let s = new_secret(prefix::CLIENT_SECRET);
        let h = hash_secret(&s);
        assert!(verify_secret(&s, &h));
        assert!(!verify_secret(&new_secret(prefix::CLIENT_SECRET), &h));
        assert!(!h.contains(&s[prefix::CLIENT_SECRET.len()..]));
    }

    #[test]
    fn pkce_s256_matches_rfc7636_appendix_b() {
        assert_eq!(
            sha256_b64(b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
