//! Checking one JWS signature with one public key.
//!
//! Both algorithms go through `jwt_compact::Algorithm`, so the crate has one verification
//! interface: RS256 uses jwt-compact's own [`Rsa::rs256`], and ES384, which jwt-compact 0.8 does
//! not ship, is implemented here over `p384` as [`Es384`]. Every length check happens before any
//! big-number arithmetic, and nothing here panics on attacker-controlled bytes.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::alg::{Rsa, RsaSignature};
use jwt_compact::{Algorithm as JwtAlgorithm, AlgorithmSignature};
use p384::ecdsa::signature::{Signer, Verifier};
use rsa::traits::PublicKeyParts;

use crate::alg::Algorithm;
use crate::jwks::KeyMaterial;

/// Byte length of an ES384 JWS signature: `r || s`, each a 48-byte big-endian P-384 scalar
/// (RFC 7518 section 3.4). DER, the other common ECDSA encoding, is not valid in a JWS.
pub const ES384_SIGNATURE_LEN: usize = 96;

/// ECDSA over P-384 with SHA-384 (JWS `ES384`), as a `jwt_compact::Algorithm`, because
/// jwt-compact 0.8 ships ES256 and ES256K but not ES384.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Es384;

/// The ES384 algorithm value, named like jwt-compact's own algorithm constants.
pub const ES384: Es384 = Es384;

/// A raw ES384 signature, exactly [`ES384_SIGNATURE_LEN`] bytes of `r || s`.
///
/// Construction only checks the length; the range of `r` and `s` (both in `1..n`) is checked by
/// [`Es384::verify_signature`], so a zero or oversized scalar can never verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Es384Signature([u8; ES384_SIGNATURE_LEN]);

impl AlgorithmSignature for Es384Signature {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(ES384_SIGNATURE_LEN);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        <[u8; ES384_SIGNATURE_LEN]>::try_from(slice)
            .map(Self)
            .map_err(|_| anyhow::anyhow!("an ES384 signature is exactly 96 bytes of r || s"))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

impl JwtAlgorithm for Es384 {
    type SigningKey = p384::ecdsa::SigningKey;
    type VerifyingKey = p384::ecdsa::VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        // `Signer` hashes with SHA-384 (P-384's associated digest) and signs deterministically
        // (RFC 6979).
        let signature: p384::ecdsa::Signature = signing_key.sign(message);
        let mut raw = [0_u8; ES384_SIGNATURE_LEN];
        // Both sides are 96 bytes by type (2 x 48-byte field elements).
        raw.copy_from_slice(&signature.to_bytes());
        Es384Signature(raw)
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        verifying_key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        // `from_slice` rejects r or s equal to zero or not below the group order, which is what
        // keeps the all-zero signature of CVE-2022-21449 from verifying.
        match p384::ecdsa::Signature::from_slice(&signature.0) {
            Ok(parsed) => verifying_key.verify(message, &parsed).is_ok(),
            Err(_) => false,
        }
    }
}

/// Verifies `signature` over `signing_input` (the token's `header.payload` text) with one key.
///
/// Returns `false`, never panics, for anything that is not a valid signature: a key type that
/// does not fit `alg` (an RSA key for ES384, a P-384 key for RS256), a signature of the wrong
/// length (an RSA signature must be exactly as long as the modulus; an ES384 one exactly 96
/// bytes), or bytes that simply do not verify.
pub fn verify(alg: Algorithm, key: &KeyMaterial, signing_input: &[u8], signature: &[u8]) -> bool {
    match (alg, key) {
        (Algorithm::Rs256, KeyMaterial::Rsa(public_key)) => {
            verify_rs256(public_key, signing_input, signature)
        }
        (Algorithm::Es384, KeyMaterial::P384(public_key)) => {
            verify_es384(public_key, signing_input, signature)
        }
        (Algorithm::Rs256, KeyMaterial::P384(_)) | (Algorithm::Es384, KeyMaterial::Rsa(_)) => false,
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 through jwt-compact.
fn verify_rs256(public_key: &rsa::RsaPublicKey, signing_input: &[u8], signature: &[u8]) -> bool {
    // RFC 8017 section 8.2.2 step 1: the signature is exactly k bytes, k the modulus length.
    // Checked here so a short or padded signature never reaches the big-number code.
    if signature.len() != public_key.size() {
        return false;
    }
    match RsaSignature::try_from_slice(signature) {
        Ok(parsed) => Rsa::rs256().verify_signature(&parsed, public_key, signing_input),
        Err(_) => false,
    }
}

/// ECDSA P-384 / SHA-384 through [`Es384`].
fn verify_es384(
    public_key: &p384::ecdsa::VerifyingKey,
    signing_input: &[u8],
    signature: &[u8],
) -> bool {
    match Es384Signature::try_from_slice(signature) {
        Ok(parsed) => ES384.verify_signature(&parsed, public_key, signing_input),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::ecdsa::{SigningKey as EcSigningKey, VerifyingKey as EcVerifyingKey};
    use rsa::pkcs1v15::SigningKey as RsaSigningKey;
    use rsa::rand_core::OsRng;
    use rsa::signature::SignatureEncoding;
    use rsa::{RsaPrivateKey, RsaPublicKey};
    use sha2::Sha256;
    use std::sync::OnceLock;

    const INPUT: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0";

    /// One 2048-bit key for every test: generation is the slow part.
    fn rsa_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
    }

    fn rsa_material() -> KeyMaterial {
        KeyMaterial::Rsa(RsaPublicKey::from(rsa_key()))
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
    fn rs256_signature_from_jwt_compact_verifies() {
        let signature = Rsa::rs256().sign(rsa_key(), INPUT);
        assert!(verify(
            Algorithm::Rs256,
            &rsa_material(),
            INPUT,
            &signature.as_bytes()
        ));
    }

    #[test]
    fn es384_valid_signature_verifies() {
        let signing_key = ec_key();
        let key = KeyMaterial::P384(EcVerifyingKey::from(&signing_key));
        let signature = es384_sign(&signing_key, INPUT);
        assert_eq!(signature.len(), ES384_SIGNATURE_LEN);
        assert!(verify(Algorithm::Es384, &key, INPUT, &signature));
    }

    #[test]
    fn es384_algorithm_round_trips_and_has_jose_name() {
        let signing_key = ec_key();
        let verifying_key = EcVerifyingKey::from(&signing_key);
        let signature = ES384.sign(&signing_key, INPUT);
        assert_eq!(ES384.name(), "ES384");
        assert!(ES384.verify_signature(&signature, &verifying_key, INPUT));
        assert!(!ES384.verify_signature(&signature, &verifying_key, b"other"));
        // The jwt-compact signature and the p384 one are the same bytes.
        assert!(verify(
            Algorithm::Es384,
            &KeyMaterial::P384(verifying_key),
            INPUT,
            &signature.as_bytes()
        ));
    }

    #[test]
    fn es384_rejects_flipped_bits_and_wrong_key() {
        let signing_key = ec_key();
        let key = KeyMaterial::P384(EcVerifyingKey::from(&signing_key));
        let signature = es384_sign(&signing_key, INPUT);
        for position in [0, 47, 48, 95] {
            let mut flipped = signature.clone();
            flipped[position] ^= 0x80;
            assert!(
                !verify(Algorithm::Es384, &key, INPUT, &flipped),
                "bit flip at {position}"
            );
        }
        let other = KeyMaterial::P384(EcVerifyingKey::from(&ec_key()));
        assert!(!verify(Algorithm::Es384, &other, INPUT, &signature));
    }

    #[test]
    fn es384_rejects_wrong_lengths_and_der() {
        let signing_key = ec_key();
        let key = KeyMaterial::P384(EcVerifyingKey::from(&signing_key));
        let signature = es384_sign(&signing_key, INPUT);
        assert!(!verify(Algorithm::Es384, &key, INPUT, &signature[..95]));
        assert!(!verify(Algorithm::Es384, &key, INPUT, &[]));
        let mut longer = signature.clone();
        longer.push(0);
        assert!(!verify(Algorithm::Es384, &key, INPUT, &longer));

        let parsed = p384::ecdsa::Signature::from_slice(&signature).unwrap();
        let der = parsed.to_der();
        assert!(!verify(Algorithm::Es384, &key, INPUT, der.as_bytes()));
        assert!(Es384Signature::try_from_slice(der.as_bytes()).is_err());
        assert!(Es384Signature::try_from_slice(&signature).is_ok());
    }

    #[test]
    fn es384_rejects_zero_and_out_of_range_scalars() {
        // CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
        let key = KeyMaterial::P384(EcVerifyingKey::from(&ec_key()));
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
        let key = KeyMaterial::P384(EcVerifyingKey::from(&signing_key));
        let mut signature = es384_sign(&signing_key, INPUT);
        signature[48..].fill(0);
        assert!(!verify(Algorithm::Es384, &key, INPUT, &signature));
    }

    #[test]
    fn key_type_must_fit_algorithm() {
        let signing_key = ec_key();
        let ec = KeyMaterial::P384(EcVerifyingKey::from(&signing_key));
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
