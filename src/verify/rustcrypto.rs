//! The algorithms verified by RustCrypto crates inside the sandbox: ES256 (`p256`) and ES512
//! (`p521`) where the host has no `verify_signature` or the operator chose `wasm`, EdDSA
//! (`ed25519-dalek`, strict) and the HMAC family (`hmac`) always.

use ed25519_dalek::Signature as Ed25519Signature;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Sha256, Sha384, Sha512};

use crate::verify::alg::Algorithm;
use crate::verify::key::{EcForm, PublicKey};
use crate::verify::Message;

/// Verifies `signature` with the crate form of `key`; `false` when it has none.
pub(crate) fn verify(
    alg: Algorithm,
    key: &PublicKey,
    message: &Message<'_>,
    signature: &[u8],
) -> bool {
    use Algorithm::*;
    match (alg, &key.ec) {
        // `from_slice` takes exactly 2 * width bytes and refuses r or s outside 1..n.
        (Es256, Some(EcForm::P256(verifying))) => p256::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| {
                verifying
                    .verify_prehash(message.digest(alg.hash()), &sig)
                    .is_ok()
            }),
        (Es512, Some(EcForm::P521(verifying))) => p521::ecdsa::Signature::from_slice(signature)
            .is_ok_and(|sig| {
                verifying
                    .verify_prehash(message.digest(alg.hash()), &sig)
                    .is_ok()
            }),
        (EdDsa, _) => ed25519(key, message, signature),
        (Hs256 | Hs384 | Hs512, _) => hmac(alg, key, message, signature),
        _ => false,
    }
}

/// RFC 8032 verification, strict: `S` below the group order, `R` and the key canonical and
/// not of small order (`verify_strict`), the signature exactly 64 bytes.
fn ed25519(key: &PublicKey, message: &Message<'_>, signature: &[u8]) -> bool {
    let (Some(verifying), Ok(bytes)) = (&key.ed25519, <&[u8; 64]>::try_from(signature)) else {
        return false;
    };
    let signature = Ed25519Signature::from_bytes(bytes);
    verifying.verify_strict(message.text(), &signature).is_ok()
}

/// HMAC over the signing input, compared in constant time (the secret is the one thing here
/// that is not public).
fn hmac(alg: Algorithm, key: &PublicKey, message: &Message<'_>, signature: &[u8]) -> bool {
    fn check<M: Mac + hmac::digest::KeyInit>(secret: &[u8], text: &[u8], tag: &[u8]) -> bool {
        match <M as hmac::digest::KeyInit>::new_from_slice(secret) {
            Ok(mut mac) => {
                mac.update(text);
                mac.verify_slice(tag).is_ok()
            }
            Err(_) => false,
        }
    }
    // RFC 7518 section 3.2: a key at least as long as the hash.
    let Some(secret) = key
        .secret
        .as_deref()
        .filter(|secret| secret.len() >= alg.hash().len())
    else {
        return false;
    };
    match alg {
        Algorithm::Hs256 => check::<Hmac<Sha256>>(secret, message.text(), signature),
        Algorithm::Hs384 => check::<Hmac<Sha384>>(secret, message.text(), signature),
        Algorithm::Hs512 => check::<Hmac<Sha512>>(secret, message.text(), signature),
        _ => false,
    }
}
