//! The signature algorithms this filter accepts.
//!
//! Only asymmetric algorithms exist here on purpose: `none` and the HMAC family can never be
//! named in configuration, so no token can be checked with a public key used as an HMAC secret.

use std::fmt;

/// A JWS `alg` this filter can verify (RFC 7518 section 3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA over P-384 with SHA-384, signature as raw 96-byte `r || s`.
    Es384,
}

impl Algorithm {
    /// Every supported algorithm, in the order they are documented.
    pub const ALL: [Algorithm; 2] = [Algorithm::Rs256, Algorithm::Es384];

    /// Parses the exact, case-sensitive JOSE name (`"RS256"`, `"ES384"`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "ES384" => Some(Self::Es384),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es384 => "ES384",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
