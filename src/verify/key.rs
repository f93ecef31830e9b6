//! A public key (or a configured secret) in the forms its backends need, built once per
//! key-set generation so that no request converts or precomputes anything.
//!
//! Which forms a key carries follows the [`Plan`]: the DER SubjectPublicKeyInfo for the host,
//! Montgomery constants or fixed-base tables for our own arithmetic, a parsed RustCrypto key
//! for a crate. Each constructor validates the key whatever the backend (an EC point is on its
//! curve, an Ed25519 point is canonical and not of small order), so a bad key is refused when
//! the key set is read, with a reason, not at the first token.

use std::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsBasepointTable, EdwardsPoint};
use curve25519_dalek::traits::BasepointTable as _;

use crate::verify::alg::{Algorithm, Curve, KeyKind};
use crate::verify::host;
use crate::verify::own::p384::{self as own_p384, P384VerifyingKey};
use crate::verify::own::rsa::RsaVerifyingKey;
use crate::verify::plan::{Backend, Plan};

/// Smallest RSA modulus accepted: shorter keys are within reach of factoring (NIST SP 800-131A).
pub const MIN_RSA_MODULUS_BITS: usize = 2048;

/// Largest RSA modulus accepted; it also bounds the cost of one verification a token can cause.
pub const MAX_RSA_MODULUS_BITS: usize = 4096;

/// Why a key cannot be used. Messages name no key material.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyError {
    /// The RSA modulus is shorter than [`MIN_RSA_MODULUS_BITS`].
    RsaModulusTooShort,
    /// The RSA modulus is longer than [`MAX_RSA_MODULUS_BITS`].
    RsaModulusTooLong,
    /// The RSA public exponent is neither 65537 nor 3 (Envoy's jwt_verify_lib rule).
    RsaExponentNotAllowed,
    /// The RSA key is malformed in another way (an even modulus, ...).
    RsaInvalid,
    /// An EC coordinate is not exactly the curve's width.
    EcCoordinateLength,
    /// The EC point is not on its curve.
    EcPointInvalid,
    /// An Ed25519 key is not 32 bytes.
    Ed25519Length,
    /// An Ed25519 key is not a canonical encoding of a point, or the point has small order.
    Ed25519Invalid,
    /// A secret is shorter than the hash of an algorithm it is for (RFC 7518 section 3.2).
    SecretTooShort,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RsaModulusTooShort => {
                write!(f, "RSA modulus shorter than {MIN_RSA_MODULUS_BITS} bits")
            }
            Self::RsaModulusTooLong => {
                write!(f, "RSA modulus longer than {MAX_RSA_MODULUS_BITS} bits")
            }
            Self::RsaExponentNotAllowed => f.write_str("RSA exponent is not 65537 or 3"),
            Self::RsaInvalid => f.write_str("malformed RSA public key"),
            Self::EcCoordinateLength => f.write_str("EC coordinate has the wrong length for crv"),
            Self::EcPointInvalid => f.write_str("EC point is not on the curve"),
            Self::Ed25519Length => f.write_str("Ed25519 key is not 32 bytes"),
            Self::Ed25519Invalid => {
                f.write_str("Ed25519 key is not a canonical point of large order")
            }
            Self::SecretTooShort => f.write_str("secret is shorter than the algorithm's hash"),
        }
    }
}

/// An EC key's forms: the host's DER, or the in-wasm key of its curve's backend.
pub(crate) enum EcForm {
    /// Our own P-384, with its ~210 KB fixed-base table.
    OwnP384(Box<P384VerifyingKey>),
    /// RustCrypto's P-256.
    P256(p256::ecdsa::VerifyingKey),
    /// RustCrypto's P-521.
    P521(Box<p521::ecdsa::VerifyingKey>),
}

/// How much a key is prepared when it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preparation {
    /// A key of a key set, kept for a whole generation and used for many tokens: per-key
    /// tables are worth building (an Ed25519 key's costs ~3 ms once and saves ~40 us per
    /// verification in V8).
    Tables,
    /// A key carried in one message (a DPoP proof's `jwk`): no per-key tables.
    Plain,
}

/// An Ed25519 public key `A` in the forms RFC 8032 verification needs.
pub(crate) struct Ed25519Key {
    /// The key's encoding, hashed into each signature's challenge (RFC 8032 section 5.1.7).
    pub(crate) encoded: [u8; 32],
    /// `-A`, for the variable-base double multiplication.
    pub(crate) minus_a: EdwardsPoint,
    /// A fixed-base table of `-A` (~30 KB), with [`Preparation::Tables`].
    pub(crate) minus_a_table: Option<Box<EdwardsBasepointTable>>,
}

/// A validated key with its prepared forms.
pub struct PublicKey {
    kind: KeyKind,
    /// SubjectPublicKeyInfo DER, when some algorithm of this key runs on the host.
    pub(crate) spki_der: Option<Box<[u8]>>,
    /// Our own RSA arithmetic's key, when some algorithm of this key runs in wasm.
    pub(crate) rsa: Option<RsaVerifyingKey>,
    /// The in-wasm EC key, when this key's algorithm runs in wasm.
    pub(crate) ec: Option<EcForm>,
    /// The Ed25519 key.
    pub(crate) ed25519: Option<Ed25519Key>,
    /// The configured HMAC secret.
    pub(crate) secret: Option<Box<[u8]>>,
    /// RSA modulus bits, for logs.
    rsa_bits: usize,
}

impl fmt::Debug for PublicKey {
    /// The kind and which forms exist; never key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kind", &self.kind)
            .field("host_form", &self.spki_der.is_some())
            .field("wasm_form", &(self.rsa.is_some() || self.ec.is_some()))
            .finish_non_exhaustive()
    }
}

/// Which backends the algorithms in `algs` use, under `plan`.
fn uses(plan: &Plan, algs: &[Algorithm], backend: Backend) -> bool {
    algs.iter().any(|&alg| plan.backend(alg) == Some(backend))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}

impl PublicKey {
    fn empty(kind: KeyKind) -> Self {
        Self {
            kind,
            spki_der: None,
            rsa: None,
            ec: None,
            ed25519: None,
            secret: None,
            rsa_bits: 0,
        }
    }

    /// An RSA key from its big-endian modulus and exponent, prepared for the algorithms in
    /// `algs` (those its JWK `alg` allows) under `plan`.
    pub fn rsa(n: &[u8], e: &[u8], algs: &[Algorithm], plan: &Plan) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let bits = n.first().map_or(0, |top| {
            8 * (n.len() - 1) + (8 - top.leading_zeros() as usize)
        });
        if bits < MIN_RSA_MODULUS_BITS {
            return Err(KeyError::RsaModulusTooShort);
        }
        if bits > MAX_RSA_MODULUS_BITS {
            return Err(KeyError::RsaModulusTooLong);
        }
        let e_value = match strip_leading_zeros(e) {
            [0x01, 0x00, 0x01] => 65_537,
            [0x03] => 3,
            _ => return Err(KeyError::RsaExponentNotAllowed),
        };
        if n.last().is_none_or(|b| b & 1 == 0) {
            return Err(KeyError::RsaInvalid);
        }
        let mut key = Self::empty(KeyKind::Rsa);
        key.rsa_bits = bits;
        if uses(plan, algs, Backend::Host) {
            key.spki_der = Some(host::rsa_spki(n, strip_leading_zeros(e)).into_boxed_slice());
        }
        if uses(plan, algs, Backend::Own) {
            key.rsa = Some(RsaVerifyingKey::new(n, e_value).map_err(|_| KeyError::RsaInvalid)?);
        }
        Ok(key)
    }

    /// An EC key from its affine coordinates, checked to lie on `curve`.
    ///
    /// RFC 7518 section 6.2.1.2 asks for the curve's full width; a coordinate that is shorter
    /// is left-padded with zeros, as BoringSSL and jwt_verify_lib read it (encoders that drop
    /// a leading zero byte exist, most often for P-521). A longer one is refused.
    pub fn ec(curve: Curve, x: &[u8], y: &[u8], plan: &Plan) -> Result<Self, KeyError> {
        let width = curve.coordinate_len();
        if x.len() > width || y.len() > width || x.is_empty() || y.is_empty() {
            return Err(KeyError::EcCoordinateLength);
        }
        let pad = |v: &[u8]| {
            let mut full = vec![0_u8; width - v.len()];
            full.extend_from_slice(v);
            full
        };
        let (x, y) = (pad(x), pad(y));
        let (x, y) = (x.as_slice(), y.as_slice());
        let alg = match curve {
            Curve::P256 => Algorithm::Es256,
            Curve::P384 => Algorithm::Es384,
            Curve::P521 => Algorithm::Es512,
        };
        let mut sec1 = Vec::with_capacity(1 + 2 * width);
        sec1.push(0x04);
        sec1.extend_from_slice(x);
        sec1.extend_from_slice(y);
        let backend = plan.backend(alg);
        // Every curve is checked here, whichever backend will verify.
        let form = match (curve, backend) {
            (Curve::P384, Some(Backend::Own)) => Some(EcForm::OwnP384(Box::new(
                P384VerifyingKey::from_coordinates(x, y).ok_or(KeyError::EcPointInvalid)?,
            ))),
            (Curve::P384, _) => {
                if !own_p384::is_on_curve(x, y) {
                    return Err(KeyError::EcPointInvalid);
                }
                None
            }
            (Curve::P256, _) => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map_err(|_| KeyError::EcPointInvalid)?;
                (backend == Some(Backend::RustCrypto)).then_some(EcForm::P256(key))
            }
            (Curve::P521, _) => {
                let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map_err(|_| KeyError::EcPointInvalid)?;
                (backend == Some(Backend::RustCrypto)).then(|| EcForm::P521(Box::new(key)))
            }
        };
        let mut key = Self::empty(KeyKind::Ec(curve));
        key.ec = form;
        if backend == Some(Backend::Host) {
            key.spki_der = Some(host::ec_spki(curve, x, y).into_boxed_slice());
        }
        Ok(key)
    }

    /// An Ed25519 key (RFC 8037 `x`): a canonical encoding of a point that is not of small
    /// order, so that strict verification has a sound key to start from.
    pub fn ed25519(x: &[u8], preparation: Preparation) -> Result<Self, KeyError> {
        let encoded: [u8; 32] = x.try_into().map_err(|_| KeyError::Ed25519Length)?;
        let point = CompressedEdwardsY(encoded)
            .decompress()
            .ok_or(KeyError::Ed25519Invalid)?;
        // Decompression accepts a y at or above p; only the canonical encoding is a key here.
        if point.is_small_order() || point.compress().0 != encoded {
            return Err(KeyError::Ed25519Invalid);
        }
        let minus_a = -point;
        let minus_a_table = (preparation == Preparation::Tables)
            .then(|| Box::new(EdwardsBasepointTable::create(&minus_a)));
        let mut public = Self::empty(KeyKind::Ed25519);
        public.ed25519 = Some(Ed25519Key {
            encoded,
            minus_a,
            minus_a_table,
        });
        Ok(public)
    }

    /// A shared secret for the HMAC algorithms in `algs`, each of which needs a secret at
    /// least as long as its hash.
    pub fn secret(secret: &[u8], algs: &[Algorithm]) -> Result<Self, KeyError> {
        if algs
            .iter()
            .any(|alg| alg.is_symmetric() && secret.len() < alg.hash().len())
        {
            return Err(KeyError::SecretTooShort);
        }
        let mut key = Self::empty(KeyKind::Secret);
        key.secret = Some(secret.into());
        Ok(key)
    }

    /// The kind of key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// Whether this key can verify `alg` at all, so a token can never pick a key of another
    /// type or curve.
    pub fn fits(&self, alg: Algorithm) -> bool {
        alg.key_kind() == self.kind
    }

    /// RSA modulus size in bits (0 for other kinds).
    pub fn rsa_bits(&self) -> usize {
        self.rsa_bits
    }
}
