//! Compact JWS encoding and verification over the provider's own keys.
//!
//! Deliberately small: Connectivly only verifies tokens it signed itself, so the header must name a
//! `kid` from its key set, the `alg` must be that key's algorithm (no `none`, no algorithm confusion)
//! and unknown critical extensions are refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::keys::{KeySet, LoadedKey};

/// Largest token accepted for verification; ours are far smaller.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The JOSE header of every token we sign.
#[derive(Serialize)]
struct SignedHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

pub fn encode(key: &LoadedKey, typ: &str, claims: &impl Serialize) -> Result<String> {
    let header = SignedHeader { alg: key.alg.as_str(), typ, kid: &key.kid };
    let mut out = String::with_capacity(512);
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(&header).map_err(|_| Error::internal("jwt header"))?, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims).map_err(|_| Error::internal("jwt claims"))?, &mut out);
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(sig, &mut out);
    Ok(out)
}

/// A token whose signature checked out.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The header's `typ`, when it has one.
    pub typ: Option<String>,
    pub claims: Value,
}

/// The header fields verification reads, borrowed from the decoded bytes: parsed on every
/// verification, so no map of owned strings is built for them.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Cow<'a, str>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Present,
}

/// Whether a header field was there at all, whatever its value (even `null`).
#[derive(Default)]
struct Present(bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| Present(true))
    }
}

/// Verifies the signature of `token` against `keys` and returns header and claims. Claims
/// (expiry, issuer, audience) are the caller's to check.
pub fn verify(token: &str, keys: &KeySet) -> Result<Verified> {
    let bad = || Error::invalid_token("the token is malformed or its signature is invalid");
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad());
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let header_json = URL_SAFE_NO_PAD.decode(h).map_err(|_| bad())?;
    // A JSON array would fill the struct field by field too; a JOSE header is an object.
    if header_json.trim_ascii_start().first() != Some(&b'{') {
        return Err(bad());
    }
    let header: Header<'_> = serde_json::from_slice(&header_json).map_err(|_| bad())?;
    if header.crit.0 {
        return Err(bad());
    }
    let key = keys.by_kid(&header.kid).ok_or_else(bad)?;
    if key.alg.as_str() != header.alg {
        return Err(bad());
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?;
    let signed_len = h.len() + 1 + p.len();
    if !key.verify(&token.as_bytes()[..signed_len], &sig) {
        return Err(bad());
    }
    let claims: Value = decode_json(p).ok_or_else(bad)?;
    Ok(Verified { typ: header.typ.map(Cow::into_owned), claims })
}

/// The `kid` a token's header names, without verifying anything.
pub fn peek_kid(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let header = decode_json(token.split('.').next()?)?;
    header.get("kid").and_then(Value::as_str).map(str::to_string)
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.is_object().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{SigningAlg, generate};
    use serde_json::json;

    fn keyset(alg: SigningAlg) -> KeySet {
        KeySet::load(&[generate(alg, 1).unwrap()]).unwrap()
    }

    #[test]
    fn round_trip_and_tamper() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let ks = keyset(alg);
            let key = ks.signing_key(alg).unwrap();
            let t = encode(key, "at+jwt", &json!({"sub": "alice"})).unwrap();
            let v = verify(&t, &ks).unwrap();
            assert_eq!(v.claims["sub"], "alice");
            assert_eq!(v.typ.as_deref(), Some("at+jwt"));
            // Swap the payload: signature must fail.
            let parts: Vec<&str> = t.split('.').collect();
            let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
            let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
            assert!(verify(&forged, &ks).is_err());
        }
    }

    #[test]
    fn rejects_alg_none_and_foreign_keys() {
        let ks = keyset(SigningAlg::RS256);
        let key = ks.signing_key(SigningAlg::RS256).unwrap();
        let h = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, key.kid));
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#);
        assert!(verify(&format!("{h}.{p}."), &ks).is_err());
        let other = keyset(SigningAlg::RS256);
        let t = encode(other.signing_key(SigningAlg::RS256).unwrap(), "JWT", &json!({})).unwrap();
        assert!(verify(&t, &ks).is_err());
        for junk in ["", ".", "..", "a.b.c", "a.b.c.d", "\u{0}.\u{0}.\u{0}"] {
            assert!(verify(junk, &ks).is_err());
        }
    }

    #[test]
    fn refuses_critical_extensions_and_odd_headers_even_when_signed() {
        let ks = keyset(SigningAlg::ES256);
        let key = ks.signing_key(SigningAlg::ES256).unwrap();
        let signed = |header: String| {
            let mut t = URL_SAFE_NO_PAD.encode(header);
            t.push('.');
            t.push_str(&URL_SAFE_NO_PAD.encode(br#"{"sub":"alice"}"#));
            let sig = key.sign(t.as_bytes()).unwrap();
            t.push('.');
            t.push_str(&URL_SAFE_NO_PAD.encode(sig));
            t
        };
        let kid = &key.kid;
        let good = signed(format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"at+jwt","x5t":"ignored"}}"#));
        assert_eq!(verify(&good, &ks).unwrap().typ.as_deref(), Some("at+jwt"));
        for header in [
            format!(r#"{{"alg":"ES256","kid":"{kid}","crit":["exp"]}}"#),
            format!(r#"{{"alg":"ES256","kid":"{kid}","crit":null}}"#),
            format!(r#"{{"alg":"ES256","kid":"{kid}","kid":"{kid}"}}"#),
            format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
            r#"{"alg":"ES256","kid":7}"#.to_string(),
            r#"{"alg":"ES256"}"#.to_string(),
            format!(r#"["ES256","{kid}"]"#),
        ] {
            assert!(verify(&signed(header.clone()), &ks).is_err(), "accepted {header}");
        }
    }
}
