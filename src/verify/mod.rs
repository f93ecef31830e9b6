//! Checking one JWS signature with one key, on the backend the [`Plan`] chose for its algorithm.
//!
//! - [`alg`]: the algorithms and what each needs of a key.
//! - [`key`]: a key in the forms its backends need, built once per key-set generation.
//! - [`plan`]: which backend verifies which algorithm, and why.
//! - the backends, behind [`SignatureBackend`]: [`host`] (Envoy's BoringSSL through a foreign
//!   call), [`own`] (this crate's arithmetic, tuned for V8) and [`rustcrypto`] (crates).
//!
//! Every length and range check happens before any arithmetic or foreign call, and nothing
//! here panics on attacker-controlled bytes: a signature that is not valid is `false`.

pub mod alg;
pub mod host;
pub mod key;
pub mod own;
pub mod plan;
pub mod rustcrypto;
#[cfg(test)]
pub(crate) mod testing;

use std::cell::OnceCell;
use std::rc::Rc;

use sha2::{Digest as _, Sha256, Sha384, Sha512};

pub use alg::{Algorithm, Curve, HashAlg, KeyKind};
pub use host::{HostCrypto, NoHostCrypto};
pub use key::{KeyError, Preparation, PublicKey};
pub use plan::{Backend, CryptoMode, Plan};

/// A signing input (`BASE64URL(header) || '.' || BASE64URL(payload)`) and its digest, computed
/// at most once however many candidate keys are tried.
pub struct Message<'a> {
    text: &'a [u8],
    digest: OnceCell<(HashAlg, Vec<u8>)>,
}

impl<'a> Message<'a> {
    /// The signing input, not hashed yet.
    pub fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            digest: OnceCell::new(),
        }
    }

    /// The signing input itself.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// The digest with `hash` (one algorithm per token, so one hash per message).
    pub fn digest(&self, hash: HashAlg) -> &[u8] {
        let (cached, digest) = self.digest.get_or_init(|| (hash, hash_of(hash, self.text)));
        if *cached == hash {
            digest
        } else {
            // Never reached by the verifier (a token has one alg); correct all the same.
            &[]
        }
    }
}

/// The digest of `text` with `hash`.
pub fn hash_of(hash: HashAlg, text: &[u8]) -> Vec<u8> {
    match hash {
        HashAlg::Sha256 => Sha256::digest(text).to_vec(),
        HashAlg::Sha384 => Sha384::digest(text).to_vec(),
        HashAlg::Sha512 => Sha512::digest(text).to_vec(),
    }
}

/// One place signatures are checked.
pub trait SignatureBackend {
    /// Whether `signature` is valid for `message` under `alg` with `key`; `false` for a key
    /// without this backend's form, and for anything malformed.
    fn verify(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &Message<'_>,
        signature: &[u8],
    ) -> bool;
}

/// Envoy's BoringSSL, through the host's `verify_signature`.
pub struct HostBackend<'h>(pub &'h dyn HostCrypto);

impl SignatureBackend for HostBackend<'_> {
    fn verify(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &Message<'_>,
        signature: &[u8],
    ) -> bool {
        let Some(spki) = key.spki_der.as_deref() else {
            return false;
        };
        let der_signature;
        let signature = match alg.key_kind() {
            // RFC 8017 section 8.2.2 step 1: exactly k bytes (the host would also refuse).
            KeyKind::Rsa if signature.len() == key.rsa_bits().div_ceil(8) => signature,
            KeyKind::Ec(curve) => match host::ecdsa_signature_der(signature, curve) {
                Some(der) => {
                    der_signature = der;
                    &der_signature
                }
                None => return false,
            },
            _ => return false,
        };
        host::verify(self.0, alg.hash(), spki, signature, message.text()) == Some(true)
    }
}

/// This crate's own arithmetic: RSA PKCS#1 v1.5 and PSS, ECDSA P-384.
pub struct OwnBackend;

impl SignatureBackend for OwnBackend {
    fn verify(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &Message<'_>,
        signature: &[u8],
    ) -> bool {
        use Algorithm::*;
        match (alg, &key.rsa, &key.ec) {
            (Rs256 | Rs384 | Rs512, Some(rsa), _) => {
                rsa.verify_pkcs1v15(alg.hash(), message.digest(alg.hash()), signature)
            }
            (Ps256 | Ps384 | Ps512, Some(rsa), _) => {
                rsa.verify_pss(alg.hash(), message.digest(alg.hash()), signature)
            }
            // Exactly 96 bytes, r and s in 1..n (so the all-zero signature of CVE-2022-21449
            // never verifies); checked inside before any point arithmetic.
            (Es384, _, Some(key::EcForm::OwnP384(p384))) => {
                p384.verify_prehashed(message.digest(alg.hash()), signature)
            }
            _ => false,
        }
    }
}

/// RustCrypto crates: ECDSA P-256 and P-521, Ed25519, HMAC.
pub struct RustCryptoBackend;

impl SignatureBackend for RustCryptoBackend {
    fn verify(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &Message<'_>,
        signature: &[u8],
    ) -> bool {
        rustcrypto::verify(alg, key, message, signature)
    }
}

/// Every algorithm's backend for one VM: the [`Plan`] and the host to call.
#[derive(Clone)]
pub struct Verifier {
    plan: Plan,
    host: Rc<dyn HostCrypto>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl Default for Verifier {
    /// In-sandbox code only, no host.
    fn default() -> Self {
        Self::new(Plan::default(), Rc::new(NoHostCrypto))
    }
}

impl Verifier {
    /// A verifier that follows `plan`, calling `host` for the algorithms it gives the host.
    pub fn new(plan: Plan, host: Rc<dyn HostCrypto>) -> Self {
        Self { plan, host }
    }

    /// The plan keys are prepared for.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Checks `signature` over `message` with `key` on `alg`'s backend. `false` when the key
    /// does not fit `alg`, when no backend verifies `alg` in this plan, and for any signature
    /// that is not valid.
    pub fn verify(
        &self,
        alg: Algorithm,
        key: &PublicKey,
        message: &Message<'_>,
        signature: &[u8],
    ) -> bool {
        if !key.fits(alg) {
            return false;
        }
        match self.plan.backend(alg) {
            Some(Backend::Host) => {
                HostBackend(self.host.as_ref()).verify(alg, key, message, signature)
            }
            Some(Backend::Own) => OwnBackend.verify(alg, key, message, signature),
            Some(Backend::RustCrypto) => RustCryptoBackend.verify(alg, key, message, signature),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests;

/// Timing of signature verifications, for the per-algorithm histogram. The core has no clock of
/// its own; the host samples (timing costs two clock reads and a metric write).
pub trait VerificationTiming {
    /// The start, in microseconds, of a verification of `alg` to time; `None` when this one is
    /// not (by default, none is: only the host layer has a clock and a histogram).
    fn timing_start(&self, alg: Algorithm) -> Option<u64> {
        let _ = alg;
        None
    }
    /// The timed verification of `alg` that began at `start` is done.
    fn timing_end(&self, alg: Algorithm, start: u64) {
        let _ = (alg, start);
    }
}
