//! Signing keys: generation, the stored form, the published JWKS.
//!
//! Keys are parsed once when the provider opens (signing with a pre-parsed key is several times
//! faster than re-deriving it per token) and shared by every request.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// A JWS signing algorithm Connectivly can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Result<SigningAlg> {
        match s {
            "RS256" => Ok(SigningAlg::RS256),
            "ES256" => Ok(SigningAlg::ES256),
            "EdDSA" => Ok(SigningAlg::EdDSA),
            other => Err(Error::config(format!("unsupported signing algorithm {other:?} (RS256, ES256, EdDSA)"))),
        }
    }

    /// The algorithm a setting names, in any case (`es256`): a setting is not a JOSE header, and the
    /// one name per algorithm leaves no ambiguity.
    pub fn parse_any_case(s: &str) -> Option<SigningAlg> {
        [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// Marks a sealed (encrypted) private key in the store; PKCS#8 DER never starts with these bytes.
const SEALED_MAGIC: &[u8] = b"CLYK1";

fn sealing_key(secret: &str) -> aws_lc_rs::aead::LessSafeKey {
    // HKDF turns an operator's passphrase-like secret into a uniform AES-256 key.
    let salt = aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, b"connectivly signing keys");
    let prk = salt.extract(secret.as_bytes());
    let okm = prk.expand(&[b"aes-256-gcm v1"], &aws_lc_rs::aead::AES_256_GCM).expect("HKDF output length is valid");
    let mut key = [0u8; 32];
    okm.fill(&mut key).expect("HKDF fill of 32 bytes");
    let unbound = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_256_GCM, &key).expect("AES-256 key");
    aws_lc_rs::aead::LessSafeKey::new(unbound)
}

/// Whether a stored key is in its sealed (encrypted) form.
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(SEALED_MAGIC)
}

/// Encrypts a private key for storage (AES-256-GCM, random nonce, the magic as associated data).
pub fn seal(der: &[u8], secret: &str) -> Result<Vec<u8>> {
    let key = sealing_key(secret);
    let nonce_bytes = crate::secrets::random_bytes::<12>();
    let nonce = aws_lc_rs::aead::Nonce::assume_unique_for_key(nonce_bytes);
    let mut buf = der.to_vec();
    key.seal_in_place_append_tag(nonce, aws_lc_rs::aead::Aad::from(SEALED_MAGIC), &mut buf)
        .map_err(|_| Error::internal("key encryption failed"))?;
    let mut out = Vec::with_capacity(SEALED_MAGIC.len() + 12 + buf.len());
    out.extend_from_slice(SEALED_MAGIC);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&buf);
    Ok(out)
}

/// The PKCS#8 DER of a stored key, decrypting it when it was sealed.
pub fn unseal(stored: &[u8], secret: Option<&str>, kid: &str) -> Result<Vec<u8>> {
    let Some(rest) = stored.strip_prefix(SEALED_MAGIC) else { return Ok(stored.to_vec()) };
    let secret = secret.ok_or_else(|| {
        Error::config(format!("signing key {kid} is encrypted: set the secret (CONNECTIVLY_SECRET) it was sealed with"))
    })?;
    if rest.len() < 12 + 16 {
        return Err(Error::config(format!("signing key {kid} is corrupt")));
    }
    let (nonce, ct) = rest.split_at(12);
    let nonce =
        aws_lc_rs::aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| Error::config("corrupt key nonce"))?;
    let mut buf = ct.to_vec();
    let plain = sealing_key(secret)
        .open_in_place(nonce, aws_lc_rs::aead::Aad::from(SEALED_MAGIC), &mut buf)
        .map_err(|_| Error::config(format!("signing key {kid} cannot be decrypted: wrong secret")))?;
    Ok(plain.to_vec())
}

/// A key as the store keeps it.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 DER of the private key, or its sealed form when a secret is configured.
    pub private_der: Vec<u8>,
    pub created_at: i64,
    /// Set when a newer key took over signing; the key stays published for verification.
    pub retired_at: Option<i64>,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A key parsed and ready to sign and verify.
pub struct LoadedKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    signer: Signer,
    /// Parsed once: re-parsing an RSA public key costs several µs of every verification.
    verifier: signature::ParsedPublicKey,
    jwk: Value,
}

impl std::fmt::Debug for LoadedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Generates a fresh key record for `alg`.
pub fn generate(alg: SigningAlg, now: i64) -> Result<KeyRecord> {
    let gen_err = |_| Error::internal("key generation failed");
    let private_der = match alg {
        SigningAlg::RS256 => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(gen_err)?;
            kp.as_der().map_err(gen_err)?.as_ref().to_vec()
        }
        SigningAlg::ES256 => {
            let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(gen_err)?;
            kp.to_pkcs8v1().map_err(gen_err)?.as_ref().to_vec()
        }
        SigningAlg::EdDSA => {
            let kp = Ed25519KeyPair::generate().map_err(gen_err)?;
            kp.to_pkcs8v1().map_err(gen_err)?.as_ref().to_vec()
        }
    };
    let kid = {
        let digest = crate::secrets::sha256_b64(&private_der);
        // The kid is derived from the key but reveals nothing usable: a truncated digest of it.
        format!("{}-{}", alg.as_str().to_ascii_lowercase(), &digest[..16])
    };
    Ok(KeyRecord { kid, alg, private_der, created_at: now, retired_at: None })
}

impl LoadedKey {
    pub fn load(rec: &KeyRecord) -> Result<LoadedKey> {
        Self::load_with(rec, None)
    }

    pub fn load_with(rec: &KeyRecord, secret: Option<&str>) -> Result<LoadedKey> {
        let der = unseal(&rec.private_der, secret, &rec.kid)?;
        let rec = &KeyRecord { private_der: der, ..rec.clone() };
        let bad = |_| Error::config(format!("signing key {} in the store cannot be parsed", rec.kid));
        let (signer, public_raw, mut jwk) = match rec.alg {
            SigningAlg::RS256 => {
                let kp = RsaKeyPair::from_pkcs8(&rec.private_der).map_err(bad)?;
                let pk = kp.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64(pk.modulus().big_endian_without_leading_zero()),
                    "e": b64(pk.exponent().big_endian_without_leading_zero()),
                });
                let raw = pk.as_ref().to_vec();
                (Signer::Rsa(kp), raw, jwk)
            }
            SigningAlg::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rec.private_der)
                    .map_err(bad)?;
                let raw = kp.public_key().as_ref().to_vec();
                if raw.len() != 65 || raw[0] != 4 {
                    return Err(Error::config("unexpected P-256 public key encoding"));
                }
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65])});
                (Signer::Ec(kp), raw, jwk)
            }
            SigningAlg::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8(&rec.private_der).map_err(bad)?;
                let raw = kp.public_key().as_ref().to_vec();
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&raw)});
                (Signer::Ed(kp), raw, jwk)
            }
        };
        let algorithm: &'static dyn signature::VerificationAlgorithm = match rec.alg {
            SigningAlg::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            SigningAlg::EdDSA => &signature::ED25519,
        };
        let verifier = signature::ParsedPublicKey::new(algorithm, &public_raw).map_err(|_| {
            Error::config(format!("the public half of signing key {} in the store cannot be parsed", rec.kid))
        })?;
        let obj = jwk.as_object_mut().expect("jwk is an object");
        obj.insert("kid".into(), Value::String(rec.kid.clone()));
        obj.insert("alg".into(), Value::String(rec.alg.as_str().into()));
        obj.insert("use".into(), Value::String("sig".into()));
        Ok(LoadedKey {
            kid: rec.kid.clone(),
            alg: rec.alg,
            created_at: rec.created_at,
            retired_at: rec.retired_at,
            signer,
            verifier,
            jwk,
        })
    }

    /// The public JWK (with `kid`, `alg`, `use`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let err = |_| Error::internal("signing failed");
        match &self.signer {
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), msg, &mut sig)
                    .map_err(err)?;
                Ok(sig)
            }
            Signer::Ec(kp) => Ok(kp.sign(&aws_lc_rs::rand::SystemRandom::new(), msg).map_err(err)?.as_ref().to_vec()),
            Signer::Ed(kp) => Ok(kp.sign(msg).as_ref().to_vec()),
        }
    }

    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.verifier.verify_sig(msg, sig).is_ok()
    }
}

/// The keys in force: one signing key per algorithm in use, plus every published key for verification.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<LoadedKey>,
}

impl KeySet {
    pub fn load(records: &[KeyRecord]) -> Result<KeySet> {
        Self::load_with(records, None)
    }

    pub fn load_with(records: &[KeyRecord], secret: Option<&str>) -> Result<KeySet> {
        let mut keys = records.iter().map(|r| LoadedKey::load_with(r, secret)).collect::<Result<Vec<_>>>()?;
        // Newest first, so the active key for an algorithm is the first unretired one.
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.kid.cmp(&b.kid)));
        Ok(KeySet { keys })
    }

    /// The key that signs new tokens with `alg`.
    pub fn signing_key(&self, alg: SigningAlg) -> Option<&LoadedKey> {
        self.keys.iter().find(|k| k.alg == alg && k.retired_at.is_none())
    }

    pub fn all(&self) -> &[LoadedKey] {
        &self.keys
    }

    pub fn by_kid(&self, kid: &str) -> Option<&LoadedKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn algorithms(&self) -> Vec<SigningAlg> {
        let mut algs: Vec<SigningAlg> = Vec::new();
        for k in &self.keys {
            if k.retired_at.is_none() && !algs.contains(&k.alg) {
                algs.push(k.alg);
            }
        }
        algs
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        json!({"keys": self.keys.iter().map(|k| k.jwk().clone()).collect::<Vec<_>>()})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_need_the_right_secret() {
        let rec = generate(SigningAlg::ES256, 1).unwrap();
        let sealed = KeyRecord { private_der: seal(&rec.private_der, "a-long-enough-secret").unwrap(), ..rec.clone() };
        assert!(!sealed.private_der.windows(16).any(|w| rec.private_der.windows(16).any(|x| x == w)));
        assert!(LoadedKey::load_with(&sealed, Some("a-long-enough-secret")).is_ok());
        assert_eq!(
            LoadedKey::load_with(&sealed, Some("another-secret-123")).unwrap_err().kind(),
            crate::ErrorKind::Config
        );
        assert_eq!(LoadedKey::load_with(&sealed, None).unwrap_err().kind(), crate::ErrorKind::Config);
        // Keys stored before a secret was configured still load.
        assert!(LoadedKey::load_with(&rec, Some("a-long-enough-secret")).is_ok());
    }

    #[test]
    fn each_algorithm_signs_and_verifies() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let rec = generate(alg, 1).unwrap();
            let key = LoadedKey::load(&rec).unwrap();
            let sig = key.sign(b"hello").unwrap();
            assert!(key.verify(b"hello", &sig), "{alg:?}");
            assert!(!key.verify(b"hellO", &sig), "{alg:?}");
            assert_eq!(key.jwk()["kid"], rec.kid);
            assert_eq!(key.jwk()["use"], "sig");
        }
    }
}
