//! Checks an id_token the way a relying party does: signature against the published JWKS, then
//! issuer, audience, nonce, expiry and `at_hash`. Independent of the core's own JWT code on purpose,
//! so the bench cannot agree with a bug it shares.

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

use crate::client::BoxError;

/// EC and Ed25519 keys are parsed once, as a client library caches the keys it imported.
pub enum PublicKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256(ParsedPublicKey),
    Ed25519(ParsedPublicKey),
}

pub struct Jwks {
    keys: Vec<(String, PublicKey)>,
}

impl Jwks {
    pub fn parse(doc: &Value) -> Result<Jwks, BoxError> {
        let mut keys = Vec::new();
        for k in doc["keys"].as_array().ok_or("jwks without keys")? {
            let field = |name: &str| -> Result<Vec<u8>, BoxError> {
                Ok(B64.decode(k[name].as_str().ok_or_else(|| format!("jwk without {name}"))?)?)
            };
            let kid = k["kid"].as_str().ok_or("jwk without kid")?.to_string();
            let key = match (k["kty"].as_str(), k["crv"].as_str()) {
                (Some("RSA"), _) => PublicKey::Rsa { n: field("n")?, e: field("e")? },
                (Some("EC"), Some("P-256")) => {
                    let mut point = vec![4u8];
                    point.extend(field("x")?);
                    point.extend(field("y")?);
                    PublicKey::P256(ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)?)
                }
                (Some("OKP"), Some("Ed25519")) => {
                    PublicKey::Ed25519(ParsedPublicKey::new(&signature::ED25519, field("x")?)?)
                }
                _ => continue,
            };
            keys.push((kid, key));
        }
        Ok(Jwks { keys })
    }

    /// Verifies the signature and returns header and claims.
    pub fn verify(&self, token: &str) -> Result<(Value, Value), BoxError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err("not a compact JWS".into());
        };
        let header: Value = serde_json::from_slice(&B64.decode(h)?)?;
        let kid = header["kid"].as_str().ok_or("no kid")?;
        let (_, key) = self.keys.iter().find(|(k, _)| k == kid).ok_or("kid not in the JWKS")?;
        let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
        let sig = B64.decode(s)?;
        let ok = match (key, header["alg"].as_str()) {
            (PublicKey::Rsa { n, e }, Some("RS256")) => {
                RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig).is_ok()
            }
            (PublicKey::P256(key), Some("ES256")) | (PublicKey::Ed25519(key), Some("EdDSA")) => {
                key.verify_sig(signed, &sig).is_ok()
            }
            _ => false,
        };
        if !ok {
            return Err("bad signature".into());
        }
        Ok((header, serde_json::from_slice(&B64.decode(p)?)?))
    }
}

/// OIDC Core §3.1.3.7 for the checks a bench client can make.
pub fn check_id_token(
    jwks: &Jwks,
    token: &str,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    access_token: &str,
) -> Result<Value, BoxError> {
    let (header, claims) = jwks.verify(token)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    if claims["iss"] != issuer {
        return Err("id_token iss mismatch".into());
    }
    if claims["aud"] != client_id {
        return Err("id_token aud mismatch".into());
    }
    if claims["nonce"] != nonce {
        return Err("id_token nonce mismatch".into());
    }
    if claims["exp"].as_i64().is_none_or(|e| e <= now) {
        return Err("id_token expired".into());
    }
    let digest = match header["alg"].as_str() {
        Some("EdDSA") => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, access_token.as_bytes()),
        _ => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes()),
    };
    let half = &digest.as_ref()[..digest.as_ref().len() / 2];
    if claims["at_hash"] != B64.encode(half) {
        return Err("id_token at_hash mismatch".into());
    }
    Ok(claims)
}
