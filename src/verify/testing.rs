//! A stand-in for Envoy's `verify_signature` in native tests: it decodes the protobuf and the
//! DER with RustCrypto (not with this crate's encoders), and verifies as BoringSSL's
//! `EVP_DigestVerify` would: RSA PKCS#1 v1.5 and DER ECDSA only.

use p256::pkcs8::DecodePublicKey as _;
use rsa::signature::Verifier as _;

use crate::verify::host::{HostCallError, HostCrypto};

/// Verifies like the host, with RustCrypto.
pub(crate) struct RustCryptoHost;

/// The four fields of `VerifySignatureArguments`.
#[derive(Default)]
struct Arguments {
    hash: String,
    key: Vec<u8>,
    signature: Vec<u8>,
    text: Vec<u8>,
}

fn decode(mut bytes: &[u8]) -> Option<Arguments> {
    fn varint(bytes: &mut &[u8]) -> Option<usize> {
        let mut value = 0_usize;
        for shift in (0..35).step_by(7) {
            let (&b, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut out = Arguments::default();
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        if tag & 7 != 2 {
            return None;
        }
        let len = varint(&mut bytes)?;
        let (value, rest) = bytes.split_at_checked(len)?;
        bytes = rest;
        match tag >> 3 {
            1 => out.hash = String::from_utf8(value.to_vec()).ok()?,
            2 => out.key = value.to_vec(),
            3 => out.signature = value.to_vec(),
            4 => out.text = value.to_vec(),
            _ => return None,
        }
    }
    Some(out)
}

fn verify(args: &Arguments) -> bool {
    use sha2::{Sha256, Sha384, Sha512};
    let (key, sig, text) = (&args.key, &args.signature, &args.text);
    if let Ok(rsa_key) = rsa::RsaPublicKey::from_public_key_der(key) {
        let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_slice()) else {
            return false;
        };
        return match args.hash.as_str() {
            "sha256" => rsa::pkcs1v15::VerifyingKey::<Sha256>::new(rsa_key)
                .verify(text, &sig)
                .is_ok(),
            "sha384" => rsa::pkcs1v15::VerifyingKey::<Sha384>::new(rsa_key)
                .verify(text, &sig)
                .is_ok(),
            "sha512" => rsa::pkcs1v15::VerifyingKey::<Sha512>::new(rsa_key)
                .verify(text, &sig)
                .is_ok(),
            _ => false,
        };
    }
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let digest = match args.hash.as_str() {
        "sha256" => crate::verify::hash_of(crate::verify::HashAlg::Sha256, text),
        "sha384" => crate::verify::hash_of(crate::verify::HashAlg::Sha384, text),
        "sha512" => crate::verify::hash_of(crate::verify::HashAlg::Sha512, text),
        _ => return false,
    };
    if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(key) {
        return p256::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok());
    }
    if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(key) {
        return p384::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok());
    }
    if let Ok(k) = p521::PublicKey::from_public_key_der(key) {
        let Ok(k) = p521::ecdsa::VerifyingKey::from_affine(*k.as_affine()) else {
            return false;
        };
        return p521::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(&digest, &s).is_ok());
    }
    false
}

impl HostCrypto for RustCryptoHost {
    fn verify_signature(&self, arguments: &[u8]) -> Result<Vec<u8>, HostCallError> {
        let args = decode(arguments).ok_or(HostCallError::Failed)?;
        // A garbage key is `result: false`, as in Envoy.
        Ok(if verify(&args) {
            vec![0x08, 0x01]
        } else {
            b"\x12\x06failed".to_vec()
        })
    }
}
