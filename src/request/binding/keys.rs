//! DPoP proof keys a worker has already parsed, by their JWK: a client signs every proof with
//! the same key, so its JWK is decoded, checked on its curve and converted for the verifier once,
//! not on every request.

use crate::keys::jwks::Jwk;
use std::collections::HashMap;
use std::rc::Rc;

/// Keys kept per worker; past this the map starts again empty (a flood of one-time keys costs
/// what it would without the cache, and memory stays bounded).
pub const PROOF_KEYS: usize = 256;

/// Parsed proof keys by their JWK's text (the whole object, members in order): every member
/// takes part in the key policy, so only the very same JWK reuses a parse.
#[derive(Debug, Default)]
pub struct ProofKeys {
    keys: HashMap<String, Rc<Jwk>>,
}

impl ProofKeys {
    /// The key parsed before under `id`.
    pub fn get(&self, id: &str) -> Option<Rc<Jwk>> {
        self.keys.get(id).cloned()
    }

    /// Keeps `key` under `id`.
    pub fn insert(&mut self, id: String, key: Rc<Jwk>) {
        if self.keys.len() >= PROOF_KEYS {
            self.keys.clear();
        }
        self.keys.insert(id, key);
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
