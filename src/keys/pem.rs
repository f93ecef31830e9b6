//! A PEM public key (`-----BEGIN PUBLIC KEY-----`, DER SubjectPublicKeyInfo), the other form
//! Envoy's `local_jwks` takes besides a JWKS.
//!
//! RSA, EC (P-256, P-384, P-521, uncompressed points) and Ed25519 keys; one key per document,
//! with no `kid` and no `alg`, as in Envoy's jwt_verify_lib. The DER reader is strict: definite
//! minimal lengths, no trailing bytes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::verify::{Algorithm, Curve, KeyError, KeyKind, Plan, Preparation, PublicKey};

const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
const END: &str = "-----END PUBLIC KEY-----";
const BEGIN_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";
const END_CERTIFICATE: &str = "-----END CERTIFICATE-----";

/// OID contents (without tag and length) of the algorithms and curves accepted.
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];

/// Why a PEM document gives no key. Messages name no key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PemError {
    /// Not exactly one `PUBLIC KEY` block, or its base64 is broken.
    NotPem,
    /// The DER is not a SubjectPublicKeyInfo this filter reads.
    BadDer,
    /// A key type or curve this filter does not verify.
    Unsupported,
    /// The key itself is refused.
    Key(KeyError),
}

impl std::fmt::Display for PemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotPem => f.write_str("not one PEM `PUBLIC KEY` block"),
            Self::BadDer => f.write_str("not a DER SubjectPublicKeyInfo"),
            Self::Unsupported => f.write_str("unsupported key type or curve"),
            Self::Key(err) => err.fmt(f),
        }
    }
}

/// Whether `text` looks like a PEM document rather than JSON.
pub fn is_pem(text: &str) -> bool {
    text.trim_start().starts_with("-----BEGIN")
}

/// The one public key of a PEM document, prepared for `plan`.
pub fn parse(text: &str, plan: &Plan) -> Result<PublicKey, PemError> {
    spki(&pem_body(text, BEGIN, END)?, plan)
}

/// Whether `text` is one PEM certificate (a value of Google's x509 key map).
pub fn is_certificate(text: &str) -> bool {
    text.trim_start().starts_with(BEGIN_CERTIFICATE)
}

/// The public key of one PEM X.509 certificate, as Google's x509 key maps publish keys
/// (`{"<kid>": "-----BEGIN CERTIFICATE-----..."}`). Only the key is used: like Envoy, the
/// certificate's dates, issuer and signature are not checked; the map's URL is the trust.
pub fn parse_certificate(text: &str, plan: &Plan) -> Result<PublicKey, PemError> {
    let der = pem_body(text, BEGIN_CERTIFICATE, END_CERTIFICATE)?;
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
    let mut outer = Reader(&der);
    let mut certificate = Reader(outer.take(0x30)?);
    outer.end()?;
    let mut tbs = Reader(certificate.take(0x30)?);
    // version [0] EXPLICIT (optional), serialNumber, signature, issuer, validity, subject.
    if tbs.peek() == Some(0xa0) {
        tbs.take(0xa0)?;
    }
    tbs.take(0x02)?;
    for _ in 0..4 {
        tbs.take(0x30)?;
    }
    spki(tbs.take_whole(0x30)?, plan)
}

/// The DER inside one PEM block between `begin` and `end`.
fn pem_body(text: &str, begin: &str, end: &str) -> Result<Vec<u8>, PemError> {
    let body = text
        .trim()
        .strip_prefix(begin)
        .and_then(|rest| rest.strip_suffix(end))
        .ok_or(PemError::NotPem)?;
    if body.contains("-----") {
        return Err(PemError::NotPem);
    }
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).map_err(|_| PemError::NotPem)
}

/// A DER SubjectPublicKeyInfo.
fn spki(der: &[u8], plan: &Plan) -> Result<PublicKey, PemError> {
    let mut outer = Reader(der);
    let mut info = Reader(outer.take(0x30)?);
    outer.end()?;
    let mut algorithm = Reader(info.take(0x30)?);
    let bits = info.take(0x03)?;
    info.end()?;
    let (&unused, key) = bits.split_first().ok_or(PemError::BadDer)?;
    if unused != 0 {
        return Err(PemError::BadDer);
    }
    let oid = algorithm.take(0x06)?;
    if oid == RSA_ENCRYPTION {
        // Parameters: NULL (RFC 3279 section 2.3.1).
        if !algorithm.take(0x05)?.is_empty() {
            return Err(PemError::BadDer);
        }
        algorithm.end()?;
        let mut rsa_key = Reader(key);
        let mut fields = Reader(rsa_key.take(0x30)?);
        rsa_key.end()?;
        let n = unsigned(fields.take(0x02)?)?;
        let e = unsigned(fields.take(0x02)?)?;
        fields.end()?;
        let algs: Vec<Algorithm> = Algorithm::ALL
            .into_iter()
            .filter(|alg| alg.key_kind() == KeyKind::Rsa)
            .collect();
        return PublicKey::rsa(n, e, &algs, plan).map_err(PemError::Key);
    }
    if oid == EC_PUBLIC_KEY {
        let curve = match algorithm.take(0x06)? {
            P256 => Curve::P256,
            P384 => Curve::P384,
            P521 => Curve::P521,
            _ => return Err(PemError::Unsupported),
        };
        algorithm.end()?;
        let width = curve.coordinate_len();
        let point = key.strip_prefix(&[0x04]).ok_or(PemError::Unsupported)?;
        if point.len() != 2 * width {
            return Err(PemError::Key(KeyError::EcCoordinateLength));
        }
        let (x, y) = point.split_at(width);
        return PublicKey::ec(curve, x, y, plan).map_err(PemError::Key);
    }
    if oid == ED25519 {
        // RFC 8410 section 3: the parameters are absent.
        algorithm.end()?;
        return PublicKey::ed25519(key, Preparation::Tables).map_err(PemError::Key);
    }
    Err(PemError::Unsupported)
}

/// A positive INTEGER's magnitude (a leading zero only where the top bit needs it).
fn unsigned(content: &[u8]) -> Result<&[u8], PemError> {
    match content {
        [] => Err(PemError::BadDer),
        [first, ..] if *first >= 0x80 => Err(PemError::BadDer),
        [0, next, ..] if *next < 0x80 => Err(PemError::BadDer),
        [0, rest @ ..] => Ok(rest),
        _ => Ok(content),
    }
}

/// A cursor over DER TLVs.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The tag of the next TLV.
    fn peek(&self) -> Option<u8> {
        self.0.first().copied()
    }

    /// The whole next TLV (tag and length included), which must have `tag`.
    fn take_whole(&mut self, tag: u8) -> Result<&'a [u8], PemError> {
        let start = self.0;
        let content = self.take(tag)?;
        let header = start.len() - self.0.len() - content.len();
        start.get(..header + content.len()).ok_or(PemError::BadDer)
    }

    /// The content of the next TLV, which must have `tag`.
    fn take(&mut self, tag: u8) -> Result<&'a [u8], PemError> {
        let (&found, rest) = self.0.split_first().ok_or(PemError::BadDer)?;
        if found != tag {
            return Err(PemError::BadDer);
        }
        let (&first, mut rest) = rest.split_first().ok_or(PemError::BadDer)?;
        let len = match first {
            0..=0x7f => usize::from(first),
            0x81 => {
                let (&len, tail) = rest.split_first().ok_or(PemError::BadDer)?;
                rest = tail;
                if len < 0x80 {
                    return Err(PemError::BadDer);
                }
                usize::from(len)
            }
            0x82 => {
                let (len, tail) = rest.split_at_checked(2).ok_or(PemError::BadDer)?;
                rest = tail;
                let len = usize::from(u16::from_be_bytes([
                    *len.first().ok_or(PemError::BadDer)?,
                    *len.get(1).ok_or(PemError::BadDer)?,
                ]));
                if len < 0x100 {
                    return Err(PemError::BadDer);
                }
                len
            }
            _ => return Err(PemError::BadDer),
        };
        let (content, rest) = rest.split_at_checked(len).ok_or(PemError::BadDer)?;
        self.0 = rest;
        Ok(content)
    }

    /// Nothing may follow.
    fn end(&self) -> Result<(), PemError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(PemError::BadDer)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::host::{ec_spki, rsa_spki};

    fn pem(der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!("{BEGIN}\n{}\n{END}\n", lines.join("\n"))
    }

    #[test]
    fn rsa_ec_and_ed25519_keys_read_back() {
        let plan = Plan::default();
        let n = [&[0xc5_u8][..], &[0x11; 254], &[0x13]].concat();
        let key = parse(&pem(&rsa_spki(&n, &[1, 0, 1])), &plan).unwrap();
        assert_eq!(key.kind(), KeyKind::Rsa);
        assert_eq!(key.rsa_bits(), 2048);

        let secret = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
            &secret.public_key(),
            false,
        );
        let der = ec_spki(Curve::P256, point.x().unwrap(), point.y().unwrap());
        assert_eq!(
            parse(&pem(&der), &plan).unwrap().kind(),
            KeyKind::Ec(Curve::P256)
        );

        // RFC 8410 section 10.1's example Ed25519 public key.
        let ed = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----";
        assert_eq!(parse(ed, &plan).unwrap().kind(), KeyKind::Ed25519);
    }

    #[test]
    fn broken_documents_are_refused() {
        let plan = Plan::default();
        let n = [&[0xc5_u8][..], &[0x11; 254], &[0x13]].concat();
        let der = rsa_spki(&n, &[1, 0, 1]);
        let good = pem(&der);
        assert_eq!(parse("", &plan).unwrap_err(), PemError::NotPem);
        assert_eq!(
            parse(&good.replace("PUBLIC KEY", "CERTIFICATE"), &plan).unwrap_err(),
            PemError::NotPem
        );
        assert_eq!(
            parse(&format!("{good}{good}"), &plan).unwrap_err(),
            PemError::NotPem
        );
        assert_eq!(
            parse(&good.replacen('M', "!", 1), &plan).unwrap_err(),
            PemError::NotPem
        );
        // Trailing bytes, a truncated body, a one-byte change of the outer length.
        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(parse(&pem(&trailing), &plan).unwrap_err(), PemError::BadDer);
        assert_eq!(
            parse(&pem(&der[..der.len() - 1]), &plan).unwrap_err(),
            PemError::BadDer
        );
        let mut short = der.clone();
        short[3] -= 1;
        assert!(parse(&pem(&short), &plan).is_err());
        // A small modulus is the key policy's refusal.
        let small = rsa_spki(&[0xc5; 128], &[1, 0, 1]);
        assert_eq!(
            parse(&pem(&small), &plan).unwrap_err(),
            PemError::Key(KeyError::RsaModulusTooShort)
        );
        for cut in 0..der.len() {
            let _ = parse(&pem(&der[..cut]), &plan);
        }
    }
}
