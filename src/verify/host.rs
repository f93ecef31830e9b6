//! Envoy's BoringSSL, reached through the `verify_signature` foreign function of Envoy's wasm
//! host (source/extensions/common/wasm/ext/verify_signature.proto).
//!
//! The host runs `EVP_DigestVerify`: RSA PKCS#1 v1.5 and ECDSA only (PSS verifies false and
//! Ed25519 fails), with the key as DER SubjectPublicKeyInfo and an ECDSA signature in DER.
//! This module encodes all of that by hand (a few length-delimited fields and TLVs): the SPKI
//! once per key-set generation, the signature and the call's arguments per verification.
//!
//! The call itself sits behind [`HostCrypto`], implemented by `src/host/` with proxy-wasm and
//! by tests with an independent decoder and RustCrypto.

use crate::verify::alg::{Curve, HashAlg};

/// Why a foreign call gave no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostCallError {
    /// The host has no `verify_signature` (another proxy-wasm host, an older Envoy).
    NotFound,
    /// The host refused the call (bad arguments, an internal error).
    Failed,
}

/// Envoy's `verify_signature` foreign function: encoded `VerifySignatureArguments` in, encoded
/// `VerifySignatureResult` out.
pub trait HostCrypto {
    /// Calls the function once.
    fn verify_signature(&self, arguments: &[u8]) -> Result<Vec<u8>, HostCallError>;
}

/// A host without the function: every call is [`HostCallError::NotFound`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHostCrypto;

impl HostCrypto for NoHostCrypto {
    fn verify_signature(&self, _arguments: &[u8]) -> Result<Vec<u8>, HostCallError> {
        Err(HostCallError::NotFound)
    }
}

/// Verifies with the host: `Some(valid)` when it answered, `None` when it could not.
pub fn verify(
    host: &dyn HostCrypto,
    hash: HashAlg,
    spki_der: &[u8],
    signature: &[u8],
    text: &[u8],
) -> Option<bool> {
    let arguments = encode_arguments(hash, spki_der, signature, text);
    let reply = host.verify_signature(&arguments).ok()?;
    decode_result(&reply)
}

/// What a probe of the host found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostStatus {
    /// `verify_signature` verified the known-good vector and refused its tampered copy.
    Works,
    /// There is no such function.
    Absent,
    /// The function exists and answered wrongly or not at all: not to be trusted.
    Broken,
}

/// The P-256 public key of RFC 6979 appendix A.2.5, as SubjectPublicKeyInfo: the probe's
/// signature must verify with it, and the same signature over another text must not.
const PROBE_SPKI: [u8; 91] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x60, 0xfe, 0xd4, 0xba, 0x25,
    0x5a, 0x9d, 0x31, 0xc9, 0x61, 0xeb, 0x74, 0xc6, 0x35, 0x6d, 0x68, 0xc0, 0x49, 0xb8, 0x92, 0x3b,
    0x61, 0xfa, 0x6c, 0xe6, 0x69, 0x62, 0x2e, 0x60, 0xf2, 0x9f, 0xb6, 0x79, 0x03, 0xfe, 0x10, 0x08,
    0xb8, 0xbc, 0x99, 0xa4, 0x1a, 0xe9, 0xe9, 0x56, 0x28, 0xbc, 0x64, 0xf2, 0xf1, 0xb2, 0x0c, 0x2d,
    0x7e, 0x9f, 0x51, 0x77, 0xa3, 0xc2, 0x94, 0xd4, 0x46, 0x22, 0x99,
];
/// RFC 6979 appendix A.2.5's P-256 / SHA-256 signature of "sample", as raw `r || s`.
const PROBE_SIGNATURE: [u8; 64] = [
    0xef, 0xd4, 0x8b, 0x2a, 0xac, 0xb6, 0xa8, 0xfd, 0x11, 0x40, 0xdd, 0x9c, 0xd4, 0x5e, 0x81, 0xd6,
    0x9d, 0x2c, 0x87, 0x7b, 0x56, 0xaa, 0xf9, 0x91, 0xc3, 0x4d, 0x0e, 0xa8, 0x4e, 0xaf, 0x37, 0x16,
    0xf7, 0xcb, 0x1c, 0x94, 0x2d, 0x65, 0x7c, 0x41, 0xd4, 0x36, 0xc7, 0xa1, 0xb6, 0xe2, 0x9f, 0x65,
    0xf3, 0xe9, 0x00, 0xdb, 0xb9, 0xaf, 0xf4, 0x06, 0x4d, 0xc4, 0xab, 0x2f, 0x84, 0x3a, 0xcd, 0xa8,
];
const PROBE_TEXT: &[u8] = b"sample";

/// Probes the host once (per VM): absent, working, or present but not trustworthy.
pub fn probe(host: &dyn HostCrypto) -> HostStatus {
    let Some(der) = ecdsa_signature_der(&PROBE_SIGNATURE, Curve::P256) else {
        return HostStatus::Broken;
    };
    let good = encode_arguments(HashAlg::Sha256, &PROBE_SPKI, &der, PROBE_TEXT);
    match host.verify_signature(&good) {
        Err(HostCallError::NotFound) => return HostStatus::Absent,
        Err(HostCallError::Failed) => return HostStatus::Broken,
        Ok(reply) if decode_result(&reply) != Some(true) => return HostStatus::Broken,
        Ok(_) => {}
    }
    let bad = encode_arguments(HashAlg::Sha256, &PROBE_SPKI, &der, b"samplf");
    match host
        .verify_signature(&bad)
        .map(|reply| decode_result(&reply))
    {
        Ok(Some(false)) => HostStatus::Works,
        _ => HostStatus::Broken,
    }
}

/// `VerifySignatureArguments`: 1 `hash_function`, 2 `public_key` (DER), 3 `signature`, 4 `text`.
pub fn encode_arguments(hash: HashAlg, spki_der: &[u8], signature: &[u8], text: &[u8]) -> Vec<u8> {
    let name = hash.host_name().as_bytes();
    let mut out =
        Vec::with_capacity(name.len() + spki_der.len() + signature.len() + text.len() + 20);
    for (field, bytes) in [(1_u8, name), (2, spki_der), (3, signature), (4, text)] {
        out.push(field << 3 | 2);
        push_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    out
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// `VerifySignatureResult`: field 1 `result` (bool), field 2 `error` (string). `None` for bytes
/// that are not such a message; an absent `result` is `false`, as protobuf defaults it.
pub fn decode_result(mut bytes: &[u8]) -> Option<bool> {
    let mut result = false;
    while !bytes.is_empty() {
        let tag = read_varint(&mut bytes)?;
        match tag & 7 {
            0 => {
                let value = read_varint(&mut bytes)?;
                if tag >> 3 == 1 {
                    result = value != 0;
                }
            }
            2 => {
                let len = usize::try_from(read_varint(&mut bytes)?).ok()?;
                bytes = bytes.get(len..)?;
            }
            _ => return None,
        }
    }
    Some(result)
}

/// A DER TLV: `tag`, the definite length, then `content`.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 4);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER holding the unsigned big-endian `value` (minimal, with a zero byte where the
/// top bit is set).
fn der_unsigned(value: &[u8]) -> Vec<u8> {
    let first = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    let trimmed = value.get(first..).unwrap_or_default();
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    der(0x02, &content)
}

/// `rsaEncryption` with its NULL parameters.
const RSA_ALGORITHM_ID: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// SubjectPublicKeyInfo of an RSA key (RFC 8017 appendix A.1.1 inside RFC 5280's SPKI).
pub fn rsa_spki(n: &[u8], e: &[u8]) -> Vec<u8> {
    let mut key = der_unsigned(n);
    key.extend_from_slice(&der_unsigned(e));
    let rsa_public_key = der(0x30, &key);
    let mut bits = Vec::with_capacity(rsa_public_key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(&rsa_public_key);
    let mut spki = RSA_ALGORITHM_ID.to_vec();
    spki.extend_from_slice(&der(0x03, &bits));
    der(0x30, &spki)
}

/// SubjectPublicKeyInfo of an EC point given by its fixed-width affine coordinates
/// (RFC 5480: `id-ecPublicKey` with the named curve, the point uncompressed).
pub fn ec_spki(curve: Curve, x: &[u8], y: &[u8]) -> Vec<u8> {
    // id-ecPublicKey, then the curve's OID.
    let mut algorithm = vec![0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    algorithm.extend_from_slice(match curve {
        Curve::P256 => &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07][..],
        Curve::P384 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22][..],
        Curve::P521 => &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23][..],
    });
    let mut bits = Vec::with_capacity(2 + x.len() + y.len());
    bits.extend_from_slice(&[0x00, 0x04]);
    bits.extend_from_slice(x);
    bits.extend_from_slice(y);
    let mut spki = der(0x30, &algorithm);
    spki.extend_from_slice(&der(0x03, &bits));
    der(0x30, &spki)
}

/// A JOSE ECDSA signature (`r || s`, each exactly the curve's width: RFC 7518 section 3.4) as
/// the DER `ECDSA-Sig-Value` BoringSSL takes. `None` for any other length, or a zero `r` or
/// `s` (never valid; refused before the call).
pub fn ecdsa_signature_der(signature: &[u8], curve: Curve) -> Option<Vec<u8>> {
    let width = curve.coordinate_len();
    if signature.len() != 2 * width {
        return None;
    }
    let (r, s) = signature.split_at(width);
    if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
        return None;
    }
    let mut content = der_unsigned(r);
    content.extend_from_slice(&der_unsigned(s));
    Some(der(0x30, &content))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;

    #[test]
    fn varints_and_result_messages() {
        for value in [0_u64, 1, 127, 128, 300, 16_383, 16_384, u64::from(u32::MAX)] {
            let mut out = Vec::new();
            push_varint(&mut out, value);
            assert_eq!(read_varint(&mut out.as_slice()), Some(value));
        }
        assert_eq!(decode_result(&[0x08, 0x01]), Some(true));
        assert_eq!(decode_result(&[0x08, 0x00]), Some(false));
        assert_eq!(decode_result(&[]), Some(false));
        // result false with an error string.
        assert_eq!(decode_result(b"\x12\x03bad"), Some(false));
        assert_eq!(decode_result(b"\x12\x03bad\x08\x01"), Some(true));
        // Truncated, or a wire type that is not in the message.
        assert_eq!(decode_result(&[0x08]), None);
        assert_eq!(decode_result(b"\x12\x05bad"), None);
        assert_eq!(decode_result(&[0x0d, 1, 2, 3, 4]), None);
    }

    #[test]
    fn arguments_have_the_four_fields_in_order() {
        let encoded = encode_arguments(HashAlg::Sha384, b"k", b"sig", &[7; 200]);
        let mut expected = b"\x0a\x06sha384\x12\x01k\x1a\x03sig\x22\xc8\x01".to_vec();
        expected.extend_from_slice(&[7; 200]);
        assert_eq!(encoded, expected);
    }

    #[test]
    fn rsa_spki_decodes_with_rustcrypto() {
        let n = [&[0xc5_u8][..], &[0x11; 255]].concat();
        let spki = rsa_spki(&n, &[0x01, 0x00, 0x01]);
        let key = rsa::RsaPublicKey::from_public_key_der(&spki).unwrap();
        assert_eq!(key.n().to_bytes_be(), n);
        assert_eq!(key.e().to_bytes_be(), vec![1, 0, 1]);
    }

    #[test]
    fn ec_spki_decodes_with_rustcrypto() {
        let p256 = p256::SecretKey::from_slice(&[0x42; 32])
            .unwrap()
            .public_key();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&p256, false);
        let spki = ec_spki(Curve::P256, point.x().unwrap(), point.y().unwrap());
        assert_eq!(p256::PublicKey::from_public_key_der(&spki).unwrap(), p256);

        let p384 = p384::SecretKey::from_slice(&[0x42; 48])
            .unwrap()
            .public_key();
        let point = p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&p384, false);
        let spki = ec_spki(Curve::P384, point.x().unwrap(), point.y().unwrap());
        assert_eq!(p384::PublicKey::from_public_key_der(&spki).unwrap(), p384);

        let mut scalar = [0_u8; 66];
        scalar[65] = 7;
        let p521 = p521::SecretKey::from_slice(&scalar).unwrap().public_key();
        let point = p521::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&p521, false);
        let spki = ec_spki(Curve::P521, point.x().unwrap(), point.y().unwrap());
        assert_eq!(p521::PublicKey::from_public_key_der(&spki).unwrap(), p521);
    }

    #[test]
    fn ecdsa_signatures_convert_to_rustcrypto_der() {
        let der = ecdsa_signature_der(&PROBE_SIGNATURE, Curve::P256).unwrap();
        let parsed = p256::ecdsa::Signature::from_der(&der).unwrap();
        assert_eq!(parsed.to_bytes()[..], PROBE_SIGNATURE);
        // Small values: minimal encodings, a zero byte before a set top bit.
        let mut small = [0_u8; 64];
        small[31] = 0x80;
        small[63] = 0x01;
        assert_eq!(
            ecdsa_signature_der(&small, Curve::P256).unwrap(),
            [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]
        );
        // P-521: 132 bytes, a two-byte length.
        let wide = [0xff_u8; 132];
        let der = ecdsa_signature_der(&wide, Curve::P521).unwrap();
        // Each half gains a zero byte: two 69-byte INTEGERs.
        assert_eq!(&der[..3], &[0x30, 0x81, 0x8a]);
        // Wrong widths and zero halves never reach the host.
        assert_eq!(ecdsa_signature_der(&[1; 63], Curve::P256), None);
        assert_eq!(ecdsa_signature_der(&[1; 96], Curve::P256), None);
        let mut zero_s = PROBE_SIGNATURE;
        zero_s[32..].fill(0);
        assert_eq!(ecdsa_signature_der(&zero_s, Curve::P256), None);
    }

    #[test]
    fn the_probe_vector_is_a_real_signature() {
        use p256::ecdsa::signature::Verifier as _;
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(&PROBE_SPKI).unwrap();
        let signature = p256::ecdsa::Signature::from_slice(&PROBE_SIGNATURE).unwrap();
        assert!(key.verify(PROBE_TEXT, &signature).is_ok());
        assert!(key.verify(b"samplf", &signature).is_err());
    }

    #[test]
    fn probe_tells_absent_from_working_from_broken() {
        struct Fixed(Result<Vec<u8>, HostCallError>);
        impl HostCrypto for Fixed {
            fn verify_signature(&self, _: &[u8]) -> Result<Vec<u8>, HostCallError> {
                self.0.clone()
            }
        }
        assert_eq!(probe(&NoHostCrypto), HostStatus::Absent);
        assert_eq!(
            probe(&Fixed(Err(HostCallError::Failed))),
            HostStatus::Broken
        );
        // Says yes to everything, or no to everything: not trusted.
        assert_eq!(probe(&Fixed(Ok(vec![0x08, 0x01]))), HostStatus::Broken);
        assert_eq!(probe(&Fixed(Ok(vec![0x08, 0x00]))), HostStatus::Broken);
        assert_eq!(
            probe(&crate::verify::testing::RustCryptoHost),
            HostStatus::Works
        );
    }
}
