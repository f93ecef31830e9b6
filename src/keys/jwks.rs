//! A provider's JSON Web Key Set (RFC 7517), parsed once per fetched version, and key selection.
//!
//! Every entry of `keys` is judged on its own, so one key this filter cannot use (an encryption
//! key, an HMAC secret, an Ed448 key, a broken modulus) never costs the keys that are fine. Each
//! skipped entry is reported as a [`SkippedKey`] so the caller can log why, without the key itself.
//!
//! Policy, per entry (RFC 8725 section 3.1: the key decides how it is used, never the token):
//! - `kty` must be `RSA`, `EC` or `OKP`; `oct` (an HMAC secret) only in a key set from the
//!   configuration ([`KeySet::parse_local`]), never in a fetched one.
//! - `use`, when present, must be `sig`; `key_ops`, when present, must contain `verify`.
//! - `alg`, when present, must be an asymmetric algorithm this filter verifies ([`Algorithm`])
//!   and fit the key type and curve; the key is then used for that algorithm only.
//! - RSA: a modulus of 2048 to 4096 bits and an exponent of 65537 or 3.
//! - EC: `crv` is `P-256`, `P-384` or `P-521`, `x` and `y` are at most the curve's width (32, 48
//!   or 66 bytes; shorter ones are left-padded with zeros, as Envoy reads them) and the point is
//!   on the curve.
//! - OKP: `crv` is `Ed25519` and `x` is a canonical 32-byte point not of small order.
//! - Binary members (`n`, `e`, `x`, `y`) are base64url **without padding**, as RFC 7517/7518
//!   require; a padded, standard-alphabet or whitespace-broken value skips the key. Real identity
//!   providers publish unpadded values, and being strict here keeps one canonical encoding.
//! - Members that are JSON `null` count as absent; an empty `kid` counts as no `kid`
//!   (like Envoy's jwt_verify_lib).
//!
//! Keys are prepared for the [`Verifier`]'s plan as they are parsed (DER for the host, tables
//! for our own arithmetic), so a key set costs its conversions once per generation.
//!
//! Google's x509 key map (`{"<kid>": "<PEM certificate>"}`, as Firebase and Google service
//! accounts publish) is read too: each certificate's public key under its kid.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::verify::{
    Algorithm, Curve, KeyError, KeyKind, Message, Preparation, PublicKey, Verifier,
};

pub use crate::verify::key::{MAX_RSA_MODULUS_BITS, MIN_RSA_MODULUS_BITS};

/// At most this many characters of a skipped key's `kid` are kept for the log line, so a hostile
/// document cannot make one warning arbitrarily long.
pub const MAX_REPORTED_KID_CHARS: usize = 64;

/// One usable key of the set, with the members that take part in key selection.
#[derive(Debug)]
pub struct Jwk {
    /// The key's `kid`, if it has a non-empty one.
    pub kid: Option<String>,
    /// The key's `alg`, if it names one; it then fits [`Jwk::key`].
    pub alg: Option<Algorithm>,
    /// The public key, prepared for the verifier's plan.
    pub key: PublicKey,
}

impl Jwk {
    /// Whether this key may be tried for a token with header `kid` and `alg`: the key type fits
    /// `alg`, the key's `alg` is absent or equal, and when both sides have a `kid` they are equal.
    /// A key without `kid` is tried for any token; a token without `kid` tries every fitting key.
    /// An empty token `kid` counts as none.
    pub fn is_candidate(&self, kid: Option<&str>, alg: Algorithm) -> bool {
        let kid_fits = match (kid.filter(|kid| !kid.is_empty()), self.kid.as_deref()) {
            (Some(wanted), Some(own)) => wanted == own,
            _ => true,
        };
        kid_fits && self.key.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }
}

/// Why one entry of `keys` was left out. Messages name members, never their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The entry is not a JSON object.
    NotAnObject,
    /// A member this key type needs is absent (or `null`).
    MissingMember(&'static str),
    /// A member has the wrong JSON type (a number where a string belongs, ...).
    WrongType(&'static str),
    /// `kty` is not `RSA`, `EC` or `OKP` (`oct` secrets are never taken from a key set).
    UnsupportedKty,
    /// `use` is present and not `sig`.
    NotForSignatures,
    /// `key_ops` is present and does not contain `verify`.
    NoVerifyOperation,
    /// `alg` names an algorithm this filter does not verify from a key set.
    UnsupportedAlg,
    /// `alg` contradicts `kty` or `crv` (an RSA key with `ES384`, a P-256 key with `ES384`).
    AlgMismatch,
    /// A binary member is not unpadded base64url.
    BadBase64Url(&'static str),
    /// The RSA modulus is shorter than [`MIN_RSA_MODULUS_BITS`].
    RsaModulusTooShort,
    /// The RSA modulus is longer than [`MAX_RSA_MODULUS_BITS`].
    RsaModulusTooLong,
    /// The RSA public exponent is neither 65537 nor 3.
    RsaExponentNotAllowed,
    /// The RSA key is malformed in another way (an even modulus, ...).
    RsaInvalid,
    /// `crv` is not one this filter verifies (secp256k1, Ed448, X25519, ...).
    UnsupportedCurve,
    /// `x` or `y` is empty or longer than the curve's width.
    EcCoordinateLength,
    /// `(x, y)` is not a point on the curve.
    EcPointInvalid,
    /// An Ed25519 `x` is not 32 bytes.
    Ed25519Length,
    /// An Ed25519 `x` is not a canonical point of large order.
    Ed25519Invalid,
    /// An `oct` key shorter than its algorithm's hash.
    SecretTooShort,
    /// An x509 map entry that is not a readable certificate with a supported key.
    BadCertificate,
}

impl From<KeyError> for SkipReason {
    fn from(err: KeyError) -> Self {
        match err {
            KeyError::RsaModulusTooShort => Self::RsaModulusTooShort,
            KeyError::RsaModulusTooLong => Self::RsaModulusTooLong,
            KeyError::RsaExponentNotAllowed => Self::RsaExponentNotAllowed,
            KeyError::RsaInvalid => Self::RsaInvalid,
            KeyError::EcCoordinateLength => Self::EcCoordinateLength,
            KeyError::EcPointInvalid => Self::EcPointInvalid,
            KeyError::Ed25519Length => Self::Ed25519Length,
            KeyError::Ed25519Invalid => Self::Ed25519Invalid,
            KeyError::SecretTooShort => Self::SecretTooShort,
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAnObject => f.write_str("entry is not a JSON object"),
            Self::MissingMember(member) => write!(f, "missing \"{member}\""),
            Self::WrongType(member) => write!(f, "\"{member}\" has the wrong JSON type"),
            Self::UnsupportedKty => f.write_str("unsupported kty"),
            Self::NotForSignatures => f.write_str("use is not \"sig\""),
            Self::NoVerifyOperation => f.write_str("key_ops does not allow \"verify\""),
            Self::UnsupportedAlg => f.write_str("unsupported alg"),
            Self::AlgMismatch => f.write_str("alg does not fit the key type or curve"),
            Self::BadBase64Url(member) => write!(f, "\"{member}\" is not unpadded base64url"),
            Self::RsaModulusTooShort => KeyError::RsaModulusTooShort.fmt(f),
            Self::RsaModulusTooLong => KeyError::RsaModulusTooLong.fmt(f),
            Self::RsaExponentNotAllowed => KeyError::RsaExponentNotAllowed.fmt(f),
            Self::RsaInvalid => KeyError::RsaInvalid.fmt(f),
            Self::UnsupportedCurve => f.write_str("unsupported crv"),
            Self::EcCoordinateLength => KeyError::EcCoordinateLength.fmt(f),
            Self::EcPointInvalid => KeyError::EcPointInvalid.fmt(f),
            Self::Ed25519Length => KeyError::Ed25519Length.fmt(f),
            Self::Ed25519Invalid => KeyError::Ed25519Invalid.fmt(f),
            Self::SecretTooShort => KeyError::SecretTooShort.fmt(f),
            Self::BadCertificate => f.write_str("not a readable certificate with a supported key"),
        }
    }
}

/// One entry of `keys` that was left out, so the caller can log one warning per key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position of the entry in the document's `keys` array.
    pub index: usize,
    /// The entry's `kid` when it is a string, cut to [`MAX_REPORTED_KID_CHARS`] characters.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key #{}", self.index)?;
        if let Some(kid) = &self.kid {
            // Debug formatting quotes and escapes, so a kid cannot forge log lines.
            write!(f, " (kid {kid:?})")?;
        }
        write!(f, " skipped: {}", self.reason)
    }
}

/// Why a whole document was refused; the previous key set, if any, should then stay in use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksError {
    /// The bytes are not JSON (position of the first error, 1-based).
    NotJson {
        /// Line of the syntax error.
        line: usize,
        /// Column of the syntax error.
        column: usize,
    },
    /// The JSON value is not an object.
    NotAnObject,
    /// The object has no `keys` member, or it is not an array.
    NoKeysArray,
    /// Not one entry of `keys` is usable; `skipped` says why for each.
    NoUsableKeys {
        /// Every entry, with its reason.
        skipped: Vec<SkippedKey>,
    },
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson { line, column } => {
                write!(
                    f,
                    "key set is not valid JSON (line {line}, column {column})"
                )
            }
            Self::NotAnObject => f.write_str("key set JSON is not an object"),
            Self::NoKeysArray => f.write_str("key set JSON has no \"keys\" array"),
            Self::NoUsableKeys { skipped } => {
                write!(f, "JSON without usable keys ({} skipped)", skipped.len())
            }
        }
    }
}

impl std::error::Error for JwksError {}

/// The outcome of [`KeySet::parse`]: the usable keys and the entries that were left out.
#[derive(Debug)]
pub struct ParsedKeySet {
    /// The usable keys, at least one.
    pub keys: KeySet,
    /// Entries that were skipped, in document order.
    pub skipped: Vec<SkippedKey>,
}

/// The result of checking a token against a whole key set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMatch {
    /// A candidate key verified the signature.
    Verified,
    /// No key fits the token's `kid` and `alg`; the caller may refetch the set on an unknown kid.
    NoCandidateKey,
    /// Candidate keys exist, and none verifies the signature.
    BadSignature,
}

/// A provider's usable keys in document order, never empty, with the verifier they were
/// prepared for.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<Jwk>,
    verifier: Verifier,
}

impl KeySet {
    /// Parses a JWKS document for `verifier`, skipping each entry that fails the policy in the
    /// module docs.
    ///
    /// Fails when the document as a whole is unusable, including when no entry is usable, so an
    /// empty or all-foreign set never replaces a working one.
    pub fn parse(doc: &[u8], verifier: &Verifier) -> Result<ParsedKeySet, JwksError> {
        Self::parse_document(doc, verifier, Secrets::Refused)
    }

    fn parse_document(
        doc: &[u8],
        verifier: &Verifier,
        secrets: Secrets,
    ) -> Result<ParsedKeySet, JwksError> {
        let value: Value = match serde_json::from_slice(doc) {
            Ok(value) => value,
            // Envoy reads key sets with protobuf's JSON parser, which accepts a comma before
            // `}` or `]`; key sets copied from Envoy configurations have them. The retry
            // costs nothing on a well-formed document.
            Err(err) => without_trailing_commas(doc)
                .and_then(|lenient| serde_json::from_slice(&lenient).ok())
                .ok_or(JwksError::NotJson {
                    line: err.line(),
                    column: err.column(),
                })?,
        };
        let Value::Object(top) = value else {
            return Err(JwksError::NotAnObject);
        };
        let Some(Value::Array(entries)) = top.get("keys") else {
            return Self::from_x509_map(&top, verifier);
        };
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            match parse_key(entry, verifier, secrets, Preparation::Tables) {
                Ok(jwk) => keys.push(jwk),
                Err(reason) => skipped.push(SkippedKey {
                    index,
                    kid: reported_kid(entry),
                    reason,
                }),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys { skipped });
        }
        Ok(ParsedKeySet {
            keys: KeySet {
                keys,
                verifier: verifier.clone(),
            },
            skipped,
        })
    }

    /// Google's x509 key map (`{"<kid>": "-----BEGIN CERTIFICATE-----...", ...}`), which
    /// Envoy also reads as a key set: each certificate's key under its `kid`, with no `alg`.
    /// An object that is neither this nor a JWKS is [`JwksError::NoKeysArray`].
    fn from_x509_map(
        top: &Map<String, Value>,
        verifier: &Verifier,
    ) -> Result<ParsedKeySet, JwksError> {
        let is_map = !top.is_empty()
            && top
                .values()
                .all(|value| value.as_str().is_some_and(crate::keys::pem::is_certificate));
        if !is_map {
            return Err(JwksError::NoKeysArray);
        }
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (index, (kid, value)) in top.iter().enumerate() {
            let text = value.as_str().unwrap_or_default();
            match crate::keys::pem::parse_certificate(text, verifier.plan()) {
                Ok(key) => keys.push(Jwk {
                    kid: Some(kid.clone()).filter(|kid| !kid.is_empty()),
                    alg: None,
                    key,
                }),
                Err(err) => skipped.push(SkippedKey {
                    index,
                    kid: Some(kid.chars().take(MAX_REPORTED_KID_CHARS).collect()),
                    reason: match err {
                        crate::keys::pem::PemError::Key(err) => err.into(),
                        _ => SkipReason::BadCertificate,
                    },
                }),
            }
        }
        if keys.is_empty() {
            return Err(JwksError::NoUsableKeys { skipped });
        }
        Ok(ParsedKeySet {
            keys: KeySet {
                keys,
                verifier: verifier.clone(),
            },
            skipped,
        })
    }

    /// A key set from configuration (`local_jwks.inline_string`): a JWKS document, in which
    /// alone `oct` keys (HMAC secrets) are accepted, or, as Envoy also takes, one PEM public key.
    pub fn parse_local(text: &str, verifier: &Verifier) -> Result<ParsedKeySet, String> {
        if crate::keys::pem::is_pem(text) {
            let key =
                crate::keys::pem::parse(text, verifier.plan()).map_err(|err| err.to_string())?;
            return Ok(ParsedKeySet {
                keys: Self::from_key(key, verifier),
                skipped: Vec::new(),
            });
        }
        Self::parse_document(text.as_bytes(), verifier, Secrets::Accepted)
            .map_err(|err| err.to_string())
    }

    /// A set of one configured key (a PEM key, an HMAC secret), for `verifier`.
    pub fn from_key(key: PublicKey, verifier: &Verifier) -> Self {
        Self {
            keys: vec![Jwk {
                kid: None,
                alg: None,
                key,
            }],
            verifier: verifier.clone(),
        }
    }

    /// The keys that may be tried for a token with header `kid` and `alg`, in document order
    /// (rules in [`Jwk::is_candidate`], modelled on Envoy's jwt_verify_lib).
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a Jwk> + 'a {
        self.keys
            .iter()
            .filter(move |jwk| jwk.is_candidate(kid, alg))
    }

    /// Checks a signature against every candidate key in order and says how it went, so the
    /// caller can tell an unknown key (maybe refetch) from a forged or damaged token.
    ///
    /// A token without `kid` costs one verification per fitting key (as in Envoy); the signing
    /// input is hashed at most once.
    pub fn verify_with(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> KeyMatch {
        let message = Message::new(signing_input);
        let mut tried_any = false;
        for jwk in self.candidates(kid, alg) {
            tried_any = true;
            if self.verifier.verify(alg, &jwk.key, &message, signature) {
                return KeyMatch::Verified;
            }
        }
        if tried_any {
            KeyMatch::BadSignature
        } else {
            KeyMatch::NoCandidateKey
        }
    }

    /// The verifier this set's keys were prepared for.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Whether some key carries exactly this `kid`, to decide if an unknown kid warrants a refetch.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|jwk| jwk.kid.as_deref() == Some(kid))
    }

    /// Number of usable keys, for logs and metrics.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false` for a parsed set (parsing refuses an empty one); present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// All usable keys in document order, for logs and diagnostics.
    pub fn iter(&self) -> impl Iterator<Item = &Jwk> {
        self.keys.iter()
    }
}

/// Whether a document may carry `oct` keys: only one from the configuration.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secrets {
    Accepted,
    Refused,
}

/// One public key carried in a message instead of a key set (a DPoP proof's `jwk` header),
/// under the policy of a fetched set's entries (so never an `oct` secret).
pub fn parse_public_jwk(entry: &Value, verifier: &Verifier) -> Result<Jwk, SkipReason> {
    parse_key(entry, verifier, Secrets::Refused, Preparation::Plain)
}

/// Applies the per-key policy to one entry of `keys`.
fn parse_key(
    entry: &Value,
    verifier: &Verifier,
    secrets: Secrets,
    preparation: Preparation,
) -> Result<Jwk, SkipReason> {
    let Value::Object(obj) = entry else {
        return Err(SkipReason::NotAnObject);
    };
    let kty = optional_str(obj, "kty")?.ok_or(SkipReason::MissingMember("kty"))?;
    let known = match kty {
        "RSA" | "EC" | "OKP" => true,
        "oct" => secrets == Secrets::Accepted,
        _ => false,
    };
    if !known {
        return Err(SkipReason::UnsupportedKty);
    }
    let kid = optional_str(obj, "kid")?
        .filter(|kid| !kid.is_empty())
        .map(str::to_owned);
    if let Some(usage) = optional_str(obj, "use")? {
        if usage != "sig" {
            return Err(SkipReason::NotForSignatures);
        }
    }
    match obj.get("key_ops") {
        None | Some(Value::Null) => {}
        Some(Value::Array(ops)) => {
            if !ops.iter().any(|op| op.as_str() == Some("verify")) {
                return Err(SkipReason::NoVerifyOperation);
            }
        }
        Some(_) => return Err(SkipReason::WrongType("key_ops")),
    }
    let alg = match optional_str(obj, "alg")? {
        None => None,
        Some(name) => Some(
            Algorithm::from_name(name)
                .filter(|alg| secrets == Secrets::Accepted || !alg.is_symmetric())
                .ok_or(SkipReason::UnsupportedAlg)?,
        ),
    };
    let fits = |kind: KeyKind| alg.is_none_or(|alg| alg.key_kind() == kind);
    let plan = verifier.plan();
    let key = match kty {
        "RSA" => {
            if !fits(KeyKind::Rsa) {
                return Err(SkipReason::AlgMismatch);
            }
            let n = required_base64url(obj, "n")?;
            let e = required_base64url(obj, "e")?;
            let algs: Vec<Algorithm> = match alg {
                Some(alg) => vec![alg],
                None => Algorithm::ALL
                    .into_iter()
                    .filter(|alg| alg.key_kind() == KeyKind::Rsa)
                    .collect(),
            };
            PublicKey::rsa(&n, &e, &algs, plan)?
        }
        "EC" => {
            let curve = match optional_str(obj, "crv")? {
                None => return Err(SkipReason::MissingMember("crv")),
                Some(name) => Curve::from_name(name),
            };
            let Some(curve) = curve else {
                // A key that names an EC algorithm contradicts a curve we do not have.
                return Err(if alg.is_some() {
                    SkipReason::AlgMismatch
                } else {
                    SkipReason::UnsupportedCurve
                });
            };
            if !fits(KeyKind::Ec(curve)) {
                return Err(SkipReason::AlgMismatch);
            }
            let x = required_base64url(obj, "x")?;
            let y = required_base64url(obj, "y")?;
            PublicKey::ec(curve, &x, &y, plan)?
        }
        "oct" => {
            if !fits(KeyKind::Secret) {
                return Err(SkipReason::AlgMismatch);
            }
            let algs: Vec<Algorithm> = alg.into_iter().collect();
            let secret = required_base64url(obj, "k")?;
            // Without `alg`, at least HS256's 32 bytes; a longer hash then needs a longer key
            // at verification (RFC 7518 section 3.2).
            let floor = if algs.is_empty() {
                &[Algorithm::Hs256][..]
            } else {
                &algs
            };
            PublicKey::secret(&secret, floor)?
        }
        _ => {
            match optional_str(obj, "crv")? {
                None => return Err(SkipReason::MissingMember("crv")),
                Some("Ed25519") => {}
                Some(_) if alg.is_some() => return Err(SkipReason::AlgMismatch),
                Some(_) => return Err(SkipReason::UnsupportedCurve),
            }
            if !fits(KeyKind::Ed25519) {
                return Err(SkipReason::AlgMismatch);
            }
            PublicKey::ed25519(&required_base64url(obj, "x")?, preparation)?
        }
    };
    Ok(Jwk { kid, alg, key })
}

/// `doc` with every comma that directly precedes `}` or `]` (outside strings) removed, when it
/// has any.
fn without_trailing_commas(doc: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(doc.len());
    let (mut in_string, mut escaped, mut removed) = (false, false, false);
    for (i, &byte) in doc.iter().enumerate() {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if byte == b',' {
            let next = doc
                .get(i + 1..)
                .and_then(|rest| rest.iter().find(|b| !b.is_ascii_whitespace()));
            // Only a comma after a value: `[,]` stays an error.
            let previous = out.iter().rev().find(|b| !b.is_ascii_whitespace());
            if matches!(next, Some(b'}' | b']')) && !matches!(previous, Some(b'[' | b'{' | b',')) {
                removed = true;
                continue;
            }
        }
        out.push(byte);
    }
    removed.then_some(out)
}

/// A string member that may be absent; `null` counts as absent, other non-strings are refused.
fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    member: &'static str,
) -> Result<Option<&'a str>, SkipReason> {
    match obj.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(SkipReason::WrongType(member)),
    }
}

/// A required binary member, decoded from unpadded base64url (see the module docs).
fn required_base64url(
    obj: &Map<String, Value>,
    member: &'static str,
) -> Result<Vec<u8>, SkipReason> {
    let text = optional_str(obj, member)?.ok_or(SkipReason::MissingMember(member))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| SkipReason::BadBase64Url(member))
}

/// The `kid` of a skipped entry, when it is a string, cut short for logging.
fn reported_kid(entry: &Value) -> Option<String> {
    entry
        .get("kid")
        .and_then(Value::as_str)
        .map(|kid| kid.chars().take(MAX_REPORTED_KID_CHARS).collect())
}

#[cfg(test)]
mod tests;
