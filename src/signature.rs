//! Checking one JWS signature with one public key.
//!
//! Both algorithms run on this crate's own schedules over prepared keys ([`crate::crypto`]):
//! RS256 with the modulus' Montgomery constants computed at key-set parse time, ES384 with
//! fixed-base tables of the generator and of the key. Every length check happens before any
//! arithmetic, and nothing here panics on attacker-controlled bytes.

use sha2::{Digest as _, Sha256, Sha384};

use crate::alg::Algorithm;
use crate::jwks::KeyMaterial;

/// Byte length of an ES384 JWS signature: `r || s`, each a 48-byte big-endian P-384 scalar
/// (RFC 7518 section 3.4). DER, the other common ECDSA encoding, is not valid in a JWS.
pub const ES384_SIGNATURE_LEN: usize = 96;

/// The digest of a signing input for one algorithm, computed once for all candidate keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prehashed {
    alg: Algorithm,
    digest: [u8; 48],
    len: usize,
}

impl Prehashed {
    /// Hashes `signing_input` with `alg`'s digest (SHA-256 for RS256, SHA-384 for ES384).
    pub fn new(alg: Algorithm, signing_input: &[u8]) -> Self {
        let mut digest = [0_u8; 48];
        let len = match alg {
            Algorithm::Rs256 => {
                digest[..32].copy_from_slice(&Sha256::digest(signing_input));
                32
            }
            Algorithm::Es384 => {
                digest.copy_from_slice(&Sha384::digest(signing_input));
                48
            }
        };
        Self { alg, digest, len }
    }

    fn bytes(&self) -> &[u8] {
        self.digest.get(..self.len).unwrap_or_default()
    }
}

/// Verifies `signature` over `signing_input` (the token's `header.payload` text) with one key.
///
/// Returns `false`, never panics, for anything that is not a valid signature: a key type that
/// does not fit `alg` (an RSA key for ES384, a P-384 key for RS256), a signature of the wrong
/// length (an RSA signature must be exactly as long as the modulus; an ES384 one exactly 96
/// bytes), or bytes that simply do not verify.
pub fn verify(alg: Algorithm, key: &KeyMaterial, signing_input: &[u8], signature: &[u8]) -> bool {
    verify_prehashed(&Prehashed::new(alg, signing_input), key, signature)
}

/// As [`verify`] with the signing input already hashed (so several candidate keys share one
/// digest).
pub fn verify_prehashed(hashed: &Prehashed, key: &KeyMaterial, signature: &[u8]) -> bool {
    match (hashed.alg, key) {
        // RFC 8017 section 8.2.2 step 1: exactly k bytes; checked inside before any arithmetic.
        (Algorithm::Rs256, KeyMaterial::Rsa(public_key)) => {
            public_key.verify_prehashed(hashed.bytes(), signature)
        }
        // Exactly 96 bytes, r and s in 1..n (so the all-zero signature of CVE-2022-21449 never
        // verifies); checked inside before any point arithmetic.
        (Algorithm::Es384, KeyMaterial::P384(public_key)) => {
            signature.len() == ES384_SIGNATURE_LEN
                && public_key.verify_prehashed(hashed.bytes(), signature)
        }
        (Algorithm::Rs256, KeyMaterial::P384(_)) | (Algorithm::Es384, KeyMaterial::Rsa(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::p384::P384VerifyingKey;
    use crate::crypto::rsa::RsaVerifyingKey;
    use p384::ecdsa::signature::Signer;
    use p384::ecdsa::SigningKey as EcSigningKey;
    use rsa::pkcs1v15::SigningKey as RsaSigningKey;
    use rsa::rand_core::OsRng;
    use rsa::signature::SignatureEncoding;
    use rsa::traits::PublicKeyParts;
    use rsa::RsaPrivateKey;
    use sha2::Sha256;
    use std::sync::OnceLock;

    fn ec_material(key: &EcSigningKey) -> KeyMaterial {
        let point = key.verifying_key().to_encoded_point(false);
        KeyMaterial::P384(
            P384VerifyingKey::from_coordinates(point.x().unwrap(), point.y().unwrap()).unwrap(),
        )
    }

    const INPUT: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0";

    /// One 2048-bit key for every test: generation is the slow part.
    fn rsa_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
    }

    fn rsa_material() -> KeyMaterial {
        let key = rsa_key();
        let e = key
            .e()
            .to_bytes_be()
            .iter()
            .fold(0_u32, |a, &b| (a << 8) | u32::from(b));
        KeyMaterial::Rsa(RsaVerifyingKey::new(&key.n().to_bytes_be(), e).unwrap())
    }

    fn rs256_sign(message: &[u8]) -> Vec<u8> {
        RsaSigningKey::<Sha256>::new(rsa_key().clone())
            .sign(message)
            .to_vec()
    }

    fn ec_key() -> EcSigningKey {
        EcSigningKey::random(&mut OsRng)
    }

    fn es384_sign(key: &EcSigningKey, message: &[u8]) -> Vec<u8> {
        let signature: p384::ecdsa::Signature = key.sign(message);
        signature.to_bytes().to_vec()
    }

    #[test]
    fn rs256_valid_signature_verifies() {
        let signature = rs256_sign(INPUT);
        assert_eq!(signature.len(), 256);
        assert!(verify(Algorithm::Rs256, &rsa_material(), INPUT, &signature));
    }

    #[test]
    fn rs256_rejects_other_message_and_flipped_bits() {
        let signature = rs256_sign(INPUT);
        let key = rsa_material();
        assert!(!verify(
            Algorithm::Rs256,
            &key,
            b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN1In0",
            &signature
        ));
        for position in [0, 100, 255] {
            let mut flipped = signature.clone();
            flipped[position] ^= 0x01;
            assert!(
                !verify(Algorithm::Rs256, &key, INPUT, &flipped),
                "bit flip at {position}"
            );
        }
    }

    #[test]
    fn rs256_rejects_wrong_lengths() {
        let signature = rs256_sign(INPUT);
        let key = rsa_material();
        assert!(!verify(Algorithm::Rs256, &key, INPUT, &signature[..255]));
        assert!(!verify(Algorithm::Rs256, &key, INPUT, &[]));
        // A leading zero byte keeps the same integer value but breaks the exact length rule.
        let mut longer = vec![0_u8];
        longer.extend_from_slice(&signature);
        assert!(!verify(Algorithm::Rs256, &key, INPUT, &longer));
        let mut trailing = signature.clone();
        trailing.push(0);
        assert!(!verify(Algorithm::Rs256, &key, INPUT, &trailing));
    }

    #[test]
    fn rs256_rejects_signature_not_below_modulus() {
        let key = rsa_material();
        assert!(!verify(Algorithm::Rs256, &key, INPUT, &[0xff; 256]));
        assert!(!verify(Algorithm::Rs256, &key, INPUT, &[0x00; 256]));
    }

    #[test]
    fn es384_valid_signature_verifies() {
        let signing_key = ec_key();
        let key = ec_material(&signing_key);
        let signature = es384_sign(&signing_key, INPUT);
        assert_eq!(signature.len(), ES384_SIGNATURE_LEN);
        assert!(verify(Algorithm::Es384, &key, INPUT, &signature));
    }

    #[test]
    fn es384_rejects_flipped_bits_and_wrong_key() {
        let signing_key = ec_key();
        let key = ec_material(&signing_key);
        let signature = es384_sign(&signing_key, INPUT);
        for position in [0, 47, 48, 95] {
            let mut flipped = signature.clone();
            flipped[position] ^= 0x80;
            assert!(
                !verify(Algorithm::Es384, &key, INPUT, &flipped),
                "bit flip at {position}"
            );
        }
        let other = ec_material(&ec_key());
        assert!(!verify(Algorithm::Es384, &other, INPUT, &signature));
    }

    #[test]
    fn es384_rejects_wrong_lengths_and_der() {
        let signing_key = ec_key();
        let key = ec_material(&signing_key);
        let signature = es384_sign(&signing_key, INPUT);
        assert!(!verify(Algorithm::Es384, &key, INPUT, &signature[..95]));
        assert!(!verify(Algorithm::Es384, &key, INPUT, &[]));
        let mut longer = signature.clone();
        longer.push(0);
        assert!(!verify(Algorithm::Es384, &key, INPUT, &longer));

        let parsed = p384::ecdsa::Signature::from_slice(&signature).unwrap();
        let der = parsed.to_der();
        assert!(!verify(Algorithm::Es384, &key, INPUT, der.as_bytes()));
        assert!(verify(Algorithm::Es384, &key, INPUT, &signature));
    }

    #[test]
    fn es384_rejects_zero_and_out_of_range_scalars() {
        // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
        let key = ec_material(&ec_key());
        assert!(!verify(
            Algorithm::Es384,
            &key,
            INPUT,
            &[0_u8; ES384_SIGNATURE_LEN]
        ));
        assert!(!verify(
            Algorithm::Es384,
            &key,
            b"",
            &[0_u8; ES384_SIGNATURE_LEN]
        ));
        // r = s = 2^384 - 1 is above the group order n.
        assert!(!verify(
            Algorithm::Es384,
            &key,
            INPUT,
            &[0xff_u8; ES384_SIGNATURE_LEN]
        ));
        // A valid r with s = 0.
        let signing_key = ec_key();
        let key = ec_material(&signing_key);
        let mut signature = es384_sign(&signing_key, INPUT);
        signature[48..].fill(0);
        assert!(!verify(Algorithm::Es384, &key, INPUT, &signature));
    }

    #[test]
    fn key_type_must_fit_algorithm() {
        let signing_key = ec_key();
        let ec = ec_material(&signing_key);
        let es_signature = es384_sign(&signing_key, INPUT);
        let rs_signature = rs256_sign(INPUT);
        assert!(!verify(Algorithm::Rs256, &ec, INPUT, &es_signature));
        assert!(!verify(Algorithm::Rs256, &ec, INPUT, &rs_signature));
        assert!(!verify(
            Algorithm::Es384,
            &rsa_material(),
            INPUT,
            &rs_signature
        ));
        assert!(!verify(
            Algorithm::Es384,
            &rsa_material(),
            INPUT,
            &es_signature
        ));
    }
}
