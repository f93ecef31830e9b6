//! The algorithms verified by RustCrypto crates inside the sandbox: ES256 (`p256`) and ES512
//! (`p521`) where the host has no `verify_signature` or the operator chose `wasm`, EdDSA
//! (`curve25519-dalek`'s arithmetic, strict) and the HMAC family (`hmac`) always.

use std::sync::OnceLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{EdwardsBasepointTable, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::BasepointTable as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

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

/// RFC 8032 verification (section 5.1.7), strict as `ed25519-dalek`'s `verify_strict`: the
/// signature exactly 64 bytes, `S` below the group order, and `[S]B - [k]A` equal to `R`
/// (compared as canonical encodings, so a non-canonical `R` never matches) and not of small
/// order; the key was checked when it was read.
///
/// With the key's fixed-base table, `[S]B` and `[k](-A)` are two table multiplications
/// (64 additions each, no doublings): ~79 us in V8 against ~118 for `verify_strict`'s
/// variable-base double multiplication (docs/algorithms.md).
fn ed25519(key: &PublicKey, message: &Message<'_>, signature: &[u8]) -> bool {
    let Some(key) = &key.ed25519 else {
        return false;
    };
    let (Some(r), Some(s)) = (
        signature
            .get(..32)
            .and_then(|r| <[u8; 32]>::try_from(r).ok()),
        signature
            .get(32..)
            .and_then(|s| <[u8; 32]>::try_from(s).ok()),
    ) else {
        return false;
    };
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else {
        return false;
    };
    let mut challenge = Sha512::new();
    challenge.update(r);
    challenge.update(key.encoded);
    challenge.update(message.text());
    let k = Scalar::from_bytes_mod_order_wide(&challenge.finalize().into());
    let r_computed = match &key.minus_a_table {
        Some(table) => base_table().mul_base(&s) + table.mul_base(&k),
        None => EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &key.minus_a, &s),
    };
    !r_computed.is_small_order() && r_computed.compress().0 == r
}

/// The fixed-base table of Ed25519's base point, built once per VM on first use (~3 ms)
/// rather than shipped: curve25519-dalek's static one would add ~30 KB to the module.
fn base_table() -> &'static EdwardsBasepointTable {
    static TABLE: OnceLock<Box<EdwardsBasepointTable>> = OnceLock::new();
    TABLE.get_or_init(|| Box::new(EdwardsBasepointTable::create(&ED25519_BASEPOINT_POINT)))
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
