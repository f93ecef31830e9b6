//! DPoP proof headers a worker has already checked, by their text: a client signs every proof
//! with the same key under the same protected header (`typ`, `alg`, `jwk`; what changes per
//! request is in the payload), so the header is decoded, its JWK checked on its curve,
//! thumbprinted and converted for the verifier once, not on every request.

use crate::keys::jwks::Jwk;
use crate::verify::Algorithm;
use std::collections::HashMap;
use std::rc::Rc;

/// Headers kept per worker; past this the map starts again empty (a flood of one-time keys
/// costs what it would without the cache, and memory stays bounded).
pub const PROOF_KEYS: usize = 256;

/// What a proof's protected header establishes whatever its payload: it is a `dpop+jwt` with no
/// unsupported member, its asymmetric `alg`, and its public `jwk` as a key fit for that `alg`.
#[derive(Debug)]
pub struct ProofHeader {
    /// The header's `alg` (whether a provider allows it is checked per request).
    pub alg: Algorithm,
    /// The RFC 7638 SHA-256 thumbprint of its `jwk`, base64url: what `cnf.jkt` must equal.
    pub thumbprint: String,
    /// The `jwk`, parsed under the policy of a fetched key set's entries.
    pub key: Jwk,
}

/// Checked proof headers by the header's base64url text: the same text decodes to the same
/// header, so only the very same header reuses a parse.
#[derive(Debug, Default)]
pub struct ProofKeys {
    headers: HashMap<String, Rc<ProofHeader>>,
}

impl ProofKeys {
    /// The header checked before with text `encoded`.
    pub fn get(&self, encoded: &str) -> Option<Rc<ProofHeader>> {
        self.headers.get(encoded).cloned()
    }

    /// Keeps `header` under its text `encoded`.
    pub fn insert(&mut self, encoded: String, header: Rc<ProofHeader>) {
        if self.headers.len() >= PROOF_KEYS {
            self.headers.clear();
        }
        self.headers.insert(encoded, header);
    }

    /// How many headers are kept.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}
