//! The floor: what one signature costs with a key parsed once, measured on this machine, single
//! thread. The token endpoint cannot be cheaper than this; the ratio to it is what we report.

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};

/// A typical access token's signing input (header + claims, base64url), about 400 bytes.
fn payload() -> Vec<u8> {
    vec![b'e'; 400]
}

type Signer = Box<dyn Fn() -> Vec<u8>>;

/// Mean cost of one (sign, verify) for `alg` over about `budget` of work each.
pub fn cost(alg: &str, budget: Duration) -> (Duration, Duration) {
    let msg = payload();
    let rng = SystemRandom::new();
    let (sign, public, verify_alg): (Signer, Vec<u8>, &'static dyn signature::VerificationAlgorithm) = match alg {
        "ES256" => {
            let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
            let public = key.public_key().as_ref().to_vec();
            let m = msg.clone();
            (
                Box::new(move || key.sign(&SystemRandom::new(), &m).unwrap().as_ref().to_vec()),
                public,
                &signature::ECDSA_P256_SHA256_FIXED,
            )
        }
        "EdDSA" => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
            let key = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
            let public = key.public_key().as_ref().to_vec();
            let m = msg.clone();
            (Box::new(move || key.sign(&m).as_ref().to_vec()), public, &signature::ED25519)
        }
        _ => {
            let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
            let public = key.public_key().as_ref().to_vec();
            let m = msg.clone();
            (
                Box::new(move || {
                    let mut sig = vec![0; key.public_modulus_len()];
                    key.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), &m, &mut sig).unwrap();
                    sig
                }),
                public,
                &signature::RSA_PKCS1_2048_8192_SHA256,
            )
        }
    };
    let sig = sign();
    let verify = || UnparsedPublicKey::new(verify_alg, &public).verify(&msg, &sig).is_ok();
    assert!(verify(), "{alg} signature does not verify");
    (mean(budget, || drop(sign())), mean(budget, || assert!(verify())))
}

fn mean(budget: Duration, mut f: impl FnMut()) -> Duration {
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < budget {
        for _ in 0..10 {
            f();
        }
        n += 10;
    }
    start.elapsed() / n
}
