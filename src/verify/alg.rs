//! The JWS signature algorithms (RFC 7518 section 3.1, RFC 8037), and what each needs of a key.
//!
//! `none` does not exist here, so no configuration can name it. The HMAC family exists only
//! for a provider that configures a shared secret itself: it is never in the default allowlist
//! and a remote JWKS can never supply its key (see `keys`).

use std::fmt;

/// The hash function an algorithm signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-256 (32-byte digest).
    Sha256,
    /// SHA-384 (48-byte digest).
    Sha384,
    /// SHA-512 (64-byte digest).
    Sha512,
}

impl HashAlg {
    /// Digest length in bytes.
    pub fn len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Always `false`; present for API symmetry with [`HashAlg::len`].
    pub fn is_empty(self) -> bool {
        false
    }

    /// The name Envoy's `verify_signature` foreign function takes.
    pub fn host_name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }
}

/// A NIST curve of the ECDSA algorithms (RFC 7518 section 6.2.1.1 names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    /// P-256 (secp256r1), for ES256.
    P256,
    /// P-384 (secp384r1), for ES384.
    P384,
    /// P-521 (secp521r1), for ES512.
    P521,
}

impl Curve {
    /// Parses a JWK `crv`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    /// The JWK `crv` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// Bytes of one coordinate in a JWK, and of `r` and of `s` in a JWS signature.
    pub fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }
}

/// What kind of key an algorithm verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// An RSA public key (`kty: RSA`).
    Rsa,
    /// An EC public key on this curve (`kty: EC`).
    Ec(Curve),
    /// An Ed25519 public key (`kty: OKP`, `crv: Ed25519`).
    Ed25519,
    /// A shared secret (`kty: oct`), only ever from the provider's own configuration.
    Secret,
}

/// A JWS `alg` this filter can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt.
    Ps256,
    /// RSASSA-PSS with SHA-384, MGF1-SHA-384, 48-byte salt.
    Ps384,
    /// RSASSA-PSS with SHA-512, MGF1-SHA-512, 64-byte salt.
    Ps512,
    /// ECDSA over P-256 with SHA-256, signature as raw 64-byte `r || s`.
    Es256,
    /// ECDSA over P-384 with SHA-384, signature as raw 96-byte `r || s`.
    Es384,
    /// ECDSA over P-521 with SHA-512, signature as raw 132-byte `r || s`.
    Es512,
    /// EdDSA over Ed25519 (RFC 8037), strict verification.
    EdDsa,
    /// HMAC with SHA-256, keyed by a configured secret.
    Hs256,
    /// HMAC with SHA-384, keyed by a configured secret.
    Hs384,
    /// HMAC with SHA-512, keyed by a configured secret.
    Hs512,
}

impl Algorithm {
    /// Every algorithm, in the order they are documented.
    pub const ALL: [Algorithm; 13] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::EdDsa,
        Self::Hs256,
        Self::Hs384,
        Self::Hs512,
    ];

    /// The asymmetric algorithms: a provider's allowlist when it names none.
    pub const ASYMMETRIC: [Algorithm; 10] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::Es512,
        Self::EdDsa,
    ];

    /// Parses the exact, case-sensitive JOSE name (`"RS256"`, `"EdDSA"`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Es512 => "ES512",
            Self::EdDsa => "EdDSA",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
        }
    }

    /// Position in [`Algorithm::ALL`], for per-algorithm tables.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The kind of key that verifies this algorithm (RFC 8725 section 3.1: a token's `alg`
    /// must fit the key, never choose how the key is used).
    pub fn key_kind(self) -> KeyKind {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => {
                KeyKind::Rsa
            }
            Self::Es256 => KeyKind::Ec(Curve::P256),
            Self::Es384 => KeyKind::Ec(Curve::P384),
            Self::Es512 => KeyKind::Ec(Curve::P521),
            Self::EdDsa => KeyKind::Ed25519,
            Self::Hs256 | Self::Hs384 | Self::Hs512 => KeyKind::Secret,
        }
    }

    /// The hash the algorithm signs (EdDSA hashes internally with SHA-512).
    pub fn hash(self) -> HashAlg {
        match self {
            Self::Rs256 | Self::Ps256 | Self::Es256 | Self::Hs256 => HashAlg::Sha256,
            Self::Rs384 | Self::Ps384 | Self::Es384 | Self::Hs384 => HashAlg::Sha384,
            Self::Rs512 | Self::Ps512 | Self::Es512 | Self::Hs512 | Self::EdDsa => HashAlg::Sha512,
        }
    }

    /// Whether the algorithm is keyed by a shared secret (the HMAC family).
    pub fn is_symmetric(self) -> bool {
        self.key_kind() == KeyKind::Secret
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for (i, alg) in Algorithm::ALL.into_iter().enumerate() {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
            assert_eq!(alg.index(), i);
        }
        for name in ["rs256", "none", "ES256K", "Ed25519", "EDDSA", "", "HS256 "] {
            assert_eq!(Algorithm::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn asymmetric_is_all_without_hmac() {
        let asymmetric: Vec<_> = Algorithm::ALL
            .into_iter()
            .filter(|alg| !alg.is_symmetric())
            .collect();
        assert_eq!(asymmetric, Algorithm::ASYMMETRIC.to_vec());
    }
}
