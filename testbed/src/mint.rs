//! Signing keys and JWT minting, as pure functions usable without any server.
//!
//! Well-formed tokens ([`Minter::mint`]) are signed by `jsonwebtoken` (its RustCrypto backend),
//! so the filter's verifier is checked against someone else's JWT library; `jsonwebtoken` has
//! no ES512, which [`es512_jws`] signs with the `p521` crate instead. Tokens no well-behaved
//! issuer would produce ([`Minter::sign_raw`], [`sign_raw_with`]) keep every byte of the header
//! and payload the test gives: they are signed by the RustCrypto signers directly
//! ([`Key::sign`]).

use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::EncodePrivateKey as _;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Sha256, Sha384, Sha512};

/// The default RSA modulus size; 2048 bits is what real identity providers use.
pub const DEFAULT_RSA_BITS: usize = 2048;

/// Bytes of a generated HMAC secret: 512 bits, enough for HS512 (RFC 7518 section 3.2).
const HMAC_SECRET_BYTES: usize = 64;

/// Default token lifetime in seconds.
pub const DEFAULT_LIFETIME_SECS: i64 = 300;

/// Default `aud` claim.
pub const DEFAULT_AUDIENCE: &str = "https://api.example.test";

/// Default `sub` claim.
pub const DEFAULT_SUBJECT: &str = "user-1";

/// A JWS algorithm the testbed can sign with: every one of RFC 7518's (and RFC 8037's EdDSA)
/// that the filter verifies.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt).
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// ECDSA over P-256 with SHA-256, signature as raw fixed-width `r || s`.
    Es256,
    /// ECDSA over P-384 with SHA-384, signature as raw fixed-width `r || s`.
    Es384,
    /// ECDSA over P-521 with SHA-512, signature as raw fixed-width `r || s`.
    Es512,
    /// Ed25519 (RFC 8037).
    EdDsa,
    /// HMAC with SHA-256: a shared secret, never published in a JWKS.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl Alg {
    /// Every algorithm, in RFC 7518's order (EdDSA after the ECDSA ones, HMAC last).
    pub const ALL: [Alg; 13] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::Es512,
        Alg::EdDsa,
        Alg::Hs256,
        Alg::Hs384,
        Alg::Hs512,
    ];

    /// The algorithms with a public key, which an identity provider publishes: [`Alg::ALL`]
    /// but HMAC, which comes last there.
    pub const ASYMMETRIC: [Alg; 10] = match Alg::ALL.first_chunk::<10>() {
        Some(first) => *first,
        None => unreachable!(),
    };

    /// The RSA algorithms (PKCS#1 v1.5 and PSS), which take an RSA key of any size.
    pub const RSA: [Alg; 6] = match Alg::ALL.first_chunk::<6>() {
        Some(first) => *first,
        None => unreachable!(),
    };

    /// The identity provider's default keys: `rsa-1` (RS256) and `ec-1` (ES384).
    pub const DEFAULT: [Alg; 2] = [Alg::Rs256, Alg::Es384];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::Es512 => "ES512",
            Alg::EdDsa => "EdDSA",
            Alg::Hs256 => "HS256",
            Alg::Hs384 => "HS384",
            Alg::Hs512 => "HS512",
        }
    }

    /// Parses the exact (case-sensitive) JOSE name.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether this is an HMAC algorithm (a shared secret rather than a key pair).
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::Hs256 | Alg::Hs384 | Alg::Hs512)
    }

    /// The key id of this algorithm's key of generation `n`: `rsa-N` (RS256) and `ec-N`
    /// (ES384), the identity provider's historical two, and `<alg>-N` (lower case) for the rest.
    pub fn kid(self, generation: u32) -> String {
        match self {
            Alg::Rs256 => format!("rsa-{generation}"),
            Alg::Es384 => format!("ec-{generation}"),
            other => format!("{}-{generation}", other.name().to_ascii_lowercase()),
        }
    }

    /// `jsonwebtoken`'s name for this algorithm; `None` for ES512, which it lacks.
    pub(crate) fn jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        use jsonwebtoken::Algorithm as J;
        Some(match self {
            Alg::Rs256 => J::RS256,
            Alg::Rs384 => J::RS384,
            Alg::Rs512 => J::RS512,
            Alg::Ps256 => J::PS256,
            Alg::Ps384 => J::PS384,
            Alg::Ps512 => J::PS512,
            Alg::Es256 => J::ES256,
            Alg::Es384 => J::ES384,
            Alg::Es512 => return None,
            Alg::EdDsa => J::EdDSA,
            Alg::Hs256 => J::HS256,
            Alg::Hs384 => J::HS384,
            Alg::Hs512 => J::HS512,
        })
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Alg {
    type Err = String;

    fn from_str(name: &str) -> Result<Alg, String> {
        Alg::from_name(name).ok_or_else(|| format!("{name:?} is not a JOSE signature algorithm"))
    }
}

impl TryFrom<String> for Alg {
    type Error = String;

    fn try_from(name: String) -> Result<Alg, String> {
        name.parse()
    }
}

impl From<Alg> for &'static str {
    fn from(alg: Alg) -> &'static str {
        alg.name()
    }
}

/// Why minting failed.
#[derive(Debug)]
pub enum MintError {
    /// RSA key generation failed.
    Rsa(rsa::Error),
    /// A RustCrypto signer failed.
    Signature(rsa::signature::Error),
    /// `jsonwebtoken` refused to sign.
    Jwt(jsonwebtoken::errors::Error),
    /// A private key could not be encoded as DER for `jsonwebtoken`.
    KeyEncoding(String),
    /// Header or payload could not be serialised, or a request could not be parsed.
    Json(serde_json::Error),
    /// A token given to a helper is not three base64url parts.
    MalformedToken,
    /// A key does not match the algorithm it was asked to sign with.
    WrongKeyType {
        /// The requested algorithm.
        alg: Alg,
        /// The key's id.
        kid: String,
    },
    /// The minter has no key for this algorithm.
    NoKey(Alg),
    /// The request itself is inconsistent (for example, an issuer that is not a string).
    InvalidRequest(String),
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::Rsa(e) => write!(f, "RSA: {e}"),
            MintError::Signature(e) => write!(f, "signing: {e}"),
            MintError::Jwt(e) => write!(f, "jsonwebtoken: {e}"),
            MintError::KeyEncoding(e) => write!(f, "key encoding: {e}"),
            MintError::Json(e) => write!(f, "JSON: {e}"),
            MintError::MalformedToken => f.write_str("not a compact JWS (three base64url parts)"),
            MintError::WrongKeyType { alg, kid } => {
                write!(f, "key {kid:?} cannot sign {alg}")
            }
            MintError::NoKey(alg) => write!(f, "no {alg} signing key"),
            MintError::InvalidRequest(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for MintError {}

impl From<rsa::Error> for MintError {
    fn from(e: rsa::Error) -> Self {
        MintError::Rsa(e)
    }
}

impl From<rsa::signature::Error> for MintError {
    fn from(e: rsa::signature::Error) -> Self {
        MintError::Signature(e)
    }
}

impl From<jsonwebtoken::errors::Error> for MintError {
    fn from(e: jsonwebtoken::errors::Error) -> Self {
        MintError::Jwt(e)
    }
}

impl From<serde_json::Error> for MintError {
    fn from(e: serde_json::Error) -> Self {
        MintError::Json(e)
    }
}

/// Private key material of one of the supported types.
#[derive(Clone)]
pub enum KeyMaterial {
    /// An RSA key, for RS* and PS*.
    Rsa(RsaPrivateKey),
    /// A P-256 key, for ES256.
    P256(p256::ecdsa::SigningKey),
    /// A P-384 key, for ES384.
    P384(p384::ecdsa::SigningKey),
    /// A P-521 key, for ES512.
    P521(p521::ecdsa::SigningKey),
    /// An Ed25519 key, for EdDSA.
    Ed25519(ed25519_dalek::SigningKey),
    /// An HMAC secret, for HS*.
    Hmac(Vec<u8>),
}

impl KeyMaterial {
    /// Fresh material for `alg` (an RSA modulus of `rsa_bits`).
    fn generate(alg: Alg, rsa_bits: usize) -> Result<KeyMaterial, MintError> {
        let mut rng = rand::thread_rng();
        Ok(match alg {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
                KeyMaterial::Rsa(RsaPrivateKey::new(&mut rng, rsa_bits)?)
            }
            Alg::Es256 => KeyMaterial::P256(p256::ecdsa::SigningKey::random(&mut rng)),
            Alg::Es384 => KeyMaterial::P384(p384::ecdsa::SigningKey::random(&mut rng)),
            Alg::Es512 => KeyMaterial::P521(p521::ecdsa::SigningKey::random(&mut rng)),
            Alg::EdDsa => {
                let mut seed = ed25519_dalek::SecretKey::default();
                rng.fill_bytes(&mut seed);
                KeyMaterial::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            Alg::Hs256 | Alg::Hs384 | Alg::Hs512 => {
                let mut secret = vec![0; HMAC_SECRET_BYTES];
                rng.fill_bytes(&mut secret);
                KeyMaterial::Hmac(secret)
            }
        })
    }

    /// Whether this material can sign `alg`.
    fn fits(&self, alg: Alg) -> bool {
        match self {
            KeyMaterial::Rsa(_) => Alg::RSA.contains(&alg),
            KeyMaterial::P256(_) => alg == Alg::Es256,
            KeyMaterial::P384(_) => alg == Alg::Es384,
            KeyMaterial::P521(_) => alg == Alg::Es512,
            KeyMaterial::Ed25519(_) => alg == Alg::EdDsa,
            KeyMaterial::Hmac(_) => alg.is_hmac(),
        }
    }

    /// The key as `jsonwebtoken` takes it (PKCS#1 DER for RSA, PKCS#8 DER for EC and Ed25519);
    /// `None` for P-521, which it cannot sign with.
    fn encoding_key(&self) -> Result<Option<jsonwebtoken::EncodingKey>, MintError> {
        let der_error = |e: &dyn fmt::Display| MintError::KeyEncoding(e.to_string());
        Ok(Some(match self {
            KeyMaterial::Rsa(key) => {
                let der = key.to_pkcs1_der().map_err(|e| der_error(&e))?;
                jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes())
            }
            KeyMaterial::P256(key) => {
                let der = key.to_pkcs8_der().map_err(|e| der_error(&e))?;
                jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes())
            }
            KeyMaterial::P384(key) => {
                let der = key.to_pkcs8_der().map_err(|e| der_error(&e))?;
                jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes())
            }
            KeyMaterial::P521(_) => return Ok(None),
            KeyMaterial::Ed25519(key) => {
                let der = key.to_pkcs8_der().map_err(|e| der_error(&e))?;
                jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes())
            }
            KeyMaterial::Hmac(secret) => jsonwebtoken::EncodingKey::from_secret(secret),
        }))
    }
}

/// A private signing key for one algorithm, with its key id.
#[derive(Clone)]
pub struct Key {
    kid: String,
    alg: Alg,
    material: KeyMaterial,
    /// The same key for `jsonwebtoken`, built once; `None` for ES512.
    pub(crate) encoding: Option<jsonwebtoken::EncodingKey>,
}

impl fmt::Debug for Key {
    // Never print private key material, even in test logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Generates a fresh key for `alg` with id `kid` (RSA keys of [`DEFAULT_RSA_BITS`]).
    ///
    /// Generating a key and not publishing it is how tests get an "unknown key": a token signed
    /// with it carries a plausible (even colliding) `kid` but matches nothing in the JWKS.
    pub fn generate(alg: Alg, kid: impl Into<String>) -> Result<Key, MintError> {
        Key::generate_with_bits(alg, kid, DEFAULT_RSA_BITS)
    }

    /// [`Key::generate`] with an RSA modulus of `rsa_bits` (ignored for the other algorithms).
    pub fn generate_with_bits(
        alg: Alg,
        kid: impl Into<String>,
        rsa_bits: usize,
    ) -> Result<Key, MintError> {
        Key::new(alg, kid, KeyMaterial::generate(alg, rsa_bits)?)
    }

    /// Wraps existing key material for `alg`; fails if the material cannot sign `alg`.
    pub fn new(alg: Alg, kid: impl Into<String>, material: KeyMaterial) -> Result<Key, MintError> {
        let kid = kid.into();
        if !material.fits(alg) {
            return Err(MintError::WrongKeyType { alg, kid });
        }
        Ok(Key {
            encoding: material.encoding_key()?,
            kid,
            alg,
            material,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The private key material.
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// The HMAC secret, for an HS* key.
    pub fn secret(&self) -> Option<&[u8]> {
        match &self.material {
            KeyMaterial::Hmac(secret) => Some(secret),
            _ => None,
        }
    }

    /// The public key as a JWK (RFC 7517/7518, RFC 8037 for Ed25519), base64url without
    /// padding, with `kid`, `use: sig` and `alg`.
    ///
    /// An HMAC key has no public half: its JWK is the `oct` key itself, secret included, as a
    /// filter's local configuration takes it. The identity provider never publishes it.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &self.material {
            KeyMaterial::Rsa(key) => json!({
                "kty": "RSA",
                "n": b64(&key.n().to_bytes_be()),
                "e": b64(&key.e().to_bytes_be()),
            }),
            KeyMaterial::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                ec_jwk("P-256", point.x(), point.y())
            }
            KeyMaterial::P384(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                ec_jwk("P-384", point.x(), point.y())
            }
            KeyMaterial::P521(key) => {
                let point = p521::ecdsa::VerifyingKey::from(key).to_encoded_point(false);
                ec_jwk("P-521", point.x(), point.y())
            }
            KeyMaterial::Ed25519(key) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(key.verifying_key().as_bytes()),
            }),
            KeyMaterial::Hmac(secret) => json!({"kty": "oct", "k": b64(secret)}),
        };
        if let Some(obj) = jwk.as_object_mut() {
            obj.insert("kid".into(), self.kid.clone().into());
            obj.insert("use".into(), "sig".into());
            obj.insert("alg".into(), self.alg.name().into());
        }
        jwk
    }

    /// Signs `message` (the JWS signing input) with this key's algorithm, with the RustCrypto
    /// signer of that algorithm.
    ///
    /// ECDSA signatures are the fixed-width `r || s` that JWS requires (RFC 7518 section 3.4),
    /// not the DER encoding most libraries default to; PSS uses a salt as long as the hash.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
        let m = message;
        Ok(match (&self.material, self.alg) {
            (KeyMaterial::Rsa(k), Alg::Rs256) => pkcs1v15::<Sha256>(k, m)?,
            (KeyMaterial::Rsa(k), Alg::Rs384) => pkcs1v15::<Sha384>(k, m)?,
            (KeyMaterial::Rsa(k), Alg::Rs512) => pkcs1v15::<Sha512>(k, m)?,
            (KeyMaterial::Rsa(k), Alg::Ps256) => pss::<Sha256>(k, m)?,
            (KeyMaterial::Rsa(k), Alg::Ps384) => pss::<Sha384>(k, m)?,
            (KeyMaterial::Rsa(k), Alg::Ps512) => pss::<Sha512>(k, m)?,
            (KeyMaterial::P256(k), _) => p256::ecdsa::Signature::to_vec(&k.try_sign(m)?),
            (KeyMaterial::P384(k), _) => p384::ecdsa::Signature::to_vec(&k.try_sign(m)?),
            (KeyMaterial::P521(k), _) => p521::ecdsa::Signature::to_vec(&k.try_sign(m)?),
            (KeyMaterial::Ed25519(k), _) => k.try_sign(m)?.to_vec(),
            (KeyMaterial::Hmac(s), Alg::Hs256) => mac::<Hmac<Sha256>>(s, m)?,
            (KeyMaterial::Hmac(s), Alg::Hs384) => mac::<Hmac<Sha384>>(s, m)?,
            (KeyMaterial::Hmac(s), Alg::Hs512) => mac::<Hmac<Sha512>>(s, m)?,
            // Key::new refuses material that does not fit its algorithm.
            _ => {
                return Err(MintError::WrongKeyType {
                    alg: self.alg,
                    kid: self.kid.clone(),
                })
            }
        })
    }
}

/// An EC public JWK's curve and coordinates.
fn ec_jwk<B: AsRef<[u8]>>(crv: &str, x: Option<&B>, y: Option<&B>) -> Value {
    let coordinate = |c: Option<&B>| b64(c.map(AsRef::as_ref).unwrap_or_default());
    json!({"kty": "EC", "crv": crv, "x": coordinate(x), "y": coordinate(y)})
}

/// RSASSA-PKCS1-v1_5 with hash `D`.
fn pkcs1v15<D>(key: &RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, MintError>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    let signer = rsa::pkcs1v15::SigningKey::<D>::new(key.clone());
    Ok(signer.try_sign(message)?.to_vec())
}

/// RSASSA-PSS with hash `D` (MGF1 with `D`, salt as long as the hash).
fn pss<D>(key: &RsaPrivateKey, message: &[u8]) -> Result<Vec<u8>, MintError>
where
    D: sha2::Digest + sha2::digest::FixedOutputReset,
{
    let signer = rsa::pss::SigningKey::<D>::new(key.clone());
    Ok(signer
        .try_sign_with_rng(&mut rand::thread_rng(), message)?
        .to_vec())
}

/// The MAC `M` (an `Hmac<D>`) of `message` under `secret`.
fn mac<M: Mac + hmac::digest::KeyInit>(
    secret: &[u8],
    message: &[u8],
) -> Result<Vec<u8>, MintError> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(secret)
        .map_err(|e| MintError::KeyEncoding(e.to_string()))?;
    mac.update(message);
    Ok(mac.finalize().into_bytes().to_vec())
}

/// Base64url without padding, the only encoding JWS uses.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// What token to mint. Every field has a default, so `MintRequest::default()` is a valid,
/// currently-valid RS256 token request; the same shape is the JSON body of `POST /mint`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MintRequest {
    /// The algorithm, and so which of the current signing keys signs.
    pub alg: Alg,
    /// A `kid` header overriding the signing key's own id (the signature is still made with the
    /// current key, so a wrong `kid` here makes a token whose key cannot be found).
    pub kid: Option<String>,
    /// Leave the `kid` header out entirely.
    pub omit_kid: bool,
    /// The `typ` header; `None` means `"JWT"`.
    pub typ: Option<String>,
    /// Leave the `typ` header out entirely.
    pub omit_typ: bool,
    /// Claims merged over the defaults (`iss`, `aud`, `sub`, `iat`, `exp`). A claim given as
    /// JSON `null` removes that default claim, so tests can mint a token without `exp`.
    pub claims: Map<String, Value>,
    /// Seconds from `iat` to `exp`; `None` uses the minter's default. May be negative.
    pub lifetime_secs: Option<i64>,
    /// Mint an already expired token: `iat` 15 minutes ago and `exp` 10 minutes ago, further in
    /// the past than any sane clock-skew leeway. Explicit `claims` still win.
    pub expired: bool,
    /// Sign with a freshly generated key that is not published in the JWKS (the `kid` header is
    /// still the current key's id unless `kid` overrides it).
    pub unknown_key: bool,
}

impl MintRequest {
    /// A default request for `alg`.
    pub fn new(alg: Alg) -> MintRequest {
        MintRequest {
            alg,
            ..MintRequest::default()
        }
    }

    /// Adds or replaces one claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> MintRequest {
        self.claims.insert(name.to_owned(), value.into());
        self
    }
}

/// Mints tokens with the current signing keys (at most one per algorithm) and the default
/// claims of one issuer.
///
/// Cheap to clone (keys are shared), so the identity provider hands out snapshots.
#[derive(Clone, Debug)]
pub struct Minter {
    issuer: String,
    audience: String,
    lifetime_secs: i64,
    keys: Vec<Arc<Key>>,
}

impl Minter {
    /// A minter for `issuer` signing with `keys`, at most one per algorithm.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: impl IntoIterator<Item = Arc<Key>>,
    ) -> Result<Minter, MintError> {
        let mut minter = Minter {
            issuer: issuer.into(),
            audience: audience.into(),
            lifetime_secs: DEFAULT_LIFETIME_SECS,
            keys: Vec::new(),
        };
        for key in keys {
            if minter.signing_key(key.alg()).is_ok() {
                return Err(MintError::InvalidRequest(format!(
                    "two signing keys for {}",
                    key.alg()
                )));
            }
            minter.keys.push(key);
        }
        Ok(minter)
    }

    /// A minter with freshly generated keys `rsa-1` (RS256) and `ec-1` (ES384).
    pub fn generate(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Minter, MintError> {
        let keys = generate_keys(&Alg::DEFAULT, 1, DEFAULT_RSA_BITS)?;
        Minter::new(issuer, audience, keys)
    }

    /// A minter with a fresh key for each of `algs` (kid [`Alg::kid`] of generation 1, RSA
    /// moduli of `rsa_bits`).
    pub fn generate_for(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        algs: &[Alg],
        rsa_bits: usize,
    ) -> Result<Minter, MintError> {
        Minter::new(issuer, audience, generate_keys(algs, 1, rsa_bits)?)
    }

    /// Changes the default lifetime.
    pub fn with_lifetime(mut self, secs: i64) -> Minter {
        self.lifetime_secs = secs;
        self
    }

    /// The default `iss` claim.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The default `aud` claim.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The current signing keys.
    pub fn keys(&self) -> &[Arc<Key>] {
        &self.keys
    }

    /// The current signing key for `alg`.
    pub fn signing_key(&self, alg: Alg) -> Result<&Arc<Key>, MintError> {
        self.keys
            .iter()
            .find(|key| key.alg() == alg)
            .ok_or(MintError::NoKey(alg))
    }

    /// The current HMAC secret for `alg` (HS256, HS384 or HS512), if this minter has one.
    pub fn hmac_secret(&self, alg: Alg) -> Option<&[u8]> {
        self.signing_key(alg).ok()?.secret()
    }

    /// The default claims for a token issued now, before the request's claims are merged.
    pub fn default_claims(&self, request: &MintRequest) -> Map<String, Value> {
        let now = now_secs();
        let (iat, exp) = if request.expired {
            (now - 900, now - 600)
        } else {
            (
                now,
                now.saturating_add(request.lifetime_secs.unwrap_or(self.lifetime_secs)),
            )
        };
        let mut claims = Map::new();
        claims.insert("iss".into(), self.issuer.clone().into());
        claims.insert("aud".into(), self.audience.clone().into());
        claims.insert("sub".into(), DEFAULT_SUBJECT.into());
        claims.insert("iat".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        claims
    }

    /// Mints a token as described by `request`.
    pub fn mint(&self, request: &MintRequest) -> Result<String, MintError> {
        let current = self.signing_key(request.alg)?;
        if request.unknown_key {
            let stranger = Key::generate_with_bits(request.alg, current.kid(), rsa_bits(current))?;
            self.mint_with_key(&stranger, request)
        } else {
            self.mint_with_key(current, request)
        }
    }

    /// Mints a token with this minter's default claims but signed by `key`, which need not be
    /// published anywhere. `request.alg` and `request.unknown_key` are ignored: the key decides.
    pub fn mint_with_key(&self, key: &Key, request: &MintRequest) -> Result<String, MintError> {
        let typ = (!request.omit_typ).then(|| request.typ.as_deref().unwrap_or("JWT").to_owned());
        let kid =
            (!request.omit_kid).then(|| request.kid.as_deref().unwrap_or(key.kid()).to_owned());
        let mut claims = self.default_claims(request);
        for (name, value) in &request.claims {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
        match (&key.encoding, key.alg.jsonwebtoken(), &key.material) {
            (Some(encoding), Some(alg), _) => {
                let mut header = jsonwebtoken::Header::new(alg);
                header.typ = typ;
                header.kid = kid;
                Ok(jsonwebtoken::encode(&header, &claims, encoding)?)
            }
            (_, _, KeyMaterial::P521(p521)) => es512_jws(p521, typ, kid, &claims),
            _ => Err(MintError::WrongKeyType {
                alg: key.alg,
                kid: key.kid.clone(),
            }),
        }
    }

    /// Signs arbitrary header and payload JSON (used verbatim, not re-serialised) with the
    /// current key for `alg`, for tokens no well-behaved issuer would produce.
    pub fn sign_raw(
        &self,
        alg: Alg,
        header_json: &str,
        payload_json: &str,
    ) -> Result<String, MintError> {
        sign_raw_with(self.signing_key(alg)?, header_json, payload_json)
    }
}

/// The modulus size of an RSA key, else the default (for a stranger key of the same shape).
fn rsa_bits(key: &Key) -> usize {
    match &key.material {
        KeyMaterial::Rsa(rsa) => rsa.size() * 8,
        _ => DEFAULT_RSA_BITS,
    }
}

/// Fresh keys for `algs`, kids of `generation`, generated in parallel (RSA generation takes a
/// noticeable moment each).
pub fn generate_keys(
    algs: &[Alg],
    generation: u32,
    rsa_bits: usize,
) -> Result<Vec<Arc<Key>>, MintError> {
    thread::scope(|scope| {
        let handles: Vec<_> = algs
            .iter()
            .map(|&alg| {
                scope.spawn(move || Key::generate_with_bits(alg, alg.kid(generation), rsa_bits))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                let key = handle.join().map_err(|_| {
                    MintError::InvalidRequest("key generation panicked".to_owned())
                })??;
                Ok(Arc::new(key))
            })
            .collect()
    })
}

/// An ES512 token (which `jsonwebtoken` cannot sign): the same compact JWS, the header and
/// claims serialised here and signed by the `p521` crate.
fn es512_jws(
    key: &p521::ecdsa::SigningKey,
    typ: Option<String>,
    kid: Option<String>,
    claims: &Map<String, Value>,
) -> Result<String, MintError> {
    let mut header = Map::new();
    header.insert("alg".into(), Alg::Es512.name().into());
    header.extend(typ.map(|typ| ("typ".to_owned(), typ.into())));
    header.extend(kid.map(|kid| ("kid".to_owned(), kid.into())));
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header)?),
        b64(&serde_json::to_vec(claims)?)
    );
    let signature: p521::ecdsa::Signature = key.try_sign(input.as_bytes())?;
    Ok(format!("{input}.{}", b64(&signature.to_bytes())))
}

/// Builds `b64(header).b64(payload).b64(signature)` with `key`; the strings are used verbatim.
pub fn sign_raw_with(
    key: &Key,
    header_json: &str,
    payload_json: &str,
) -> Result<String, MintError> {
    let signing_input = format!(
        "{}.{}",
        b64(header_json.as_bytes()),
        b64(payload_json.as_bytes())
    );
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}

/// Returns `token` with one bit of its signature flipped.
///
/// The lowest bit of the last byte is flipped so the value stays in range (an RSA signature
/// stays below the modulus, an ECDSA `s` stays below the group order): the token is rejected
/// for a bad signature rather than for a malformed one.
pub fn tamper_signature(token: &str) -> Result<String, MintError> {
    let (signing_input, signature) = token.rsplit_once('.').ok_or(MintError::MalformedToken)?;
    if signing_input.split('.').count() != 2 {
        return Err(MintError::MalformedToken);
    }
    let mut bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| MintError::MalformedToken)?;
    let last = bytes.last_mut().ok_or(MintError::MalformedToken)?;
    *last ^= 1;
    Ok(format!("{signing_input}.{}", b64(&bytes)))
}

/// Decodes the header and payload of a compact JWS without verifying anything, for tests that
/// want to inspect what was minted.
pub fn decode_unverified(token: &str) -> Result<(Value, Value), MintError> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MintError::MalformedToken);
    };
    let decode = |part: &str| -> Result<Value, MintError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| MintError::MalformedToken)?;
        Ok(serde_json::from_slice(&bytes)?)
    };
    Ok((decode(header)?, decode(payload)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::signature::Verifier as _;
    use std::sync::OnceLock;

    /// Key generation is the slow part, so all tests share one minter with every algorithm.
    fn minter() -> &'static Minter {
        static MINTER: OnceLock<Minter> = OnceLock::new();
        MINTER.get_or_init(|| {
            Minter::generate_for(
                "https://idp.example.test/",
                DEFAULT_AUDIENCE,
                &Alg::ALL,
                DEFAULT_RSA_BITS,
            )
            .unwrap()
        })
    }

    fn key(alg: Alg) -> &'static Key {
        minter().signing_key(alg).unwrap()
    }

    fn parts(token: &str) -> (String, Vec<u8>) {
        let (input, sig) = token.rsplit_once('.').unwrap();
        (input.to_owned(), URL_SAFE_NO_PAD.decode(sig).unwrap())
    }

    fn unb64(v: &Value) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
    }

    /// Verifies `token` against `jwk` as `alg`: `jsonwebtoken`'s verifier from the JWK, or for
    /// ES512 (which it lacks) `p521`'s from the JWK's coordinates.
    fn verifies(jwk: &Value, alg: Alg, token: &str) -> bool {
        let (input, sig) = parts(token);
        match alg.jsonwebtoken() {
            Some(jwt_alg) => {
                let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
                let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
                jsonwebtoken::crypto::verify(&b64(&sig), input.as_bytes(), &key, jwt_alg)
                    .unwrap_or(false)
            }
            None => {
                let sec1 = [&[4u8][..], &unb64(&jwk["x"]), &unb64(&jwk["y"])].concat();
                let verifier = p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
                p521::ecdsa::Signature::from_slice(&sig)
                    .is_ok_and(|sig| verifier.verify(input.as_bytes(), &sig).is_ok())
            }
        }
    }

    #[test]
    fn alg_names_kids_and_sets() {
        for alg in Alg::ALL {
            assert_eq!(Alg::from_name(alg.name()), Some(alg));
            assert_eq!(serde_json::to_value(alg).unwrap(), alg.name());
            assert_eq!(Alg::ASYMMETRIC.contains(&alg), !alg.is_hmac());
            assert_eq!(Alg::RSA.contains(&alg), alg.name().starts_with(['R', 'P']));
        }
        assert_eq!(Alg::from_name("rs256"), None);
        assert_eq!(Alg::Rs256.kid(2), "rsa-2");
        assert_eq!(Alg::Es384.kid(1), "ec-1");
        assert_eq!(Alg::Ps256.kid(1), "ps256-1");
        assert_eq!(Alg::EdDsa.kid(3), "eddsa-3");
        assert!(Minter::generate_for("i", "a", &[Alg::Es256, Alg::Es256], 2048).is_err());
        let two = Minter::generate("i", "a").unwrap();
        assert!(matches!(
            two.mint(&MintRequest::new(Alg::Es256)),
            Err(MintError::NoKey(Alg::Es256))
        ));
    }

    #[test]
    fn every_algorithm_mints_and_signs_raw_verifiably() {
        let expected_len = |alg: Alg| match alg {
            Alg::Es256 | Alg::EdDsa => 64,
            Alg::Es384 => 96,
            Alg::Es512 => 132,
            Alg::Hs256 => 32,
            Alg::Hs384 => 48,
            Alg::Hs512 => 64,
            _ => 256,
        };
        for alg in Alg::ALL {
            let key = key(alg);
            let jwk = key.public_jwk();
            assert_eq!(jwk["alg"], alg.name());
            assert_eq!(jwk["kid"], alg.kid(1));
            assert_eq!(key.secret().is_some(), alg.is_hmac(), "{alg}");
            let token = minter().mint(&MintRequest::new(alg)).unwrap();
            let (header, claims) = decode_unverified(&token).unwrap();
            assert_eq!(
                header,
                json!({"alg": alg.name(), "typ": "JWT", "kid": alg.kid(1)})
            );
            assert_eq!(claims["sub"], DEFAULT_SUBJECT);
            assert_eq!(parts(&token).1.len(), expected_len(alg), "{alg}");
            assert!(verifies(&jwk, alg, &token), "{alg}");
            assert!(
                !verifies(&jwk, alg, &tamper_signature(&token).unwrap()),
                "{alg}"
            );

            let raw = minter()
                .sign_raw(alg, r#"{"alg":"whatever" }"#, r#"{"a":1}"#)
                .unwrap();
            assert!(verifies(&jwk, alg, &raw), "raw {alg}");
        }
        assert_eq!(unb64(&key(Alg::Es512).public_jwk()["x"]).len(), 66);
        assert_eq!(unb64(&key(Alg::EdDsa).public_jwk()["x"]).len(), 32);
        assert_eq!(
            minter().hmac_secret(Alg::Hs256).unwrap().len(),
            HMAC_SECRET_BYTES
        );
    }

    #[test]
    fn rs256_and_es384_keep_their_jwk_shape() {
        let jwk = key(Alg::Rs256).public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["kid"], "rsa-1");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(unb64(&jwk["n"]).len(), 256);
        assert_eq!(jwk["e"], "AQAB");
        assert!(!jwk["n"].as_str().unwrap().contains('='));
        let jwk = key(Alg::Es384).public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-384");
        assert_eq!(jwk["kid"], "ec-1");
        assert_eq!(unb64(&jwk["x"]).len(), 48);
        assert_eq!(unb64(&jwk["y"]).len(), 48);
        let smaller = Key::generate_with_bits(Alg::Ps256, "small", 1024).unwrap();
        assert_eq!(unb64(&smaller.public_jwk()["n"]).len(), 128);
        assert!(Key::new(Alg::Es256, "k", smaller.material().clone()).is_err());
    }

    #[test]
    fn header_and_default_claims() {
        let m = minter();
        let before = now_secs();
        let token = m
            .mint(&MintRequest {
                typ: Some("at+jwt".into()),
                ..MintRequest::new(Alg::Es384)
            })
            .unwrap();
        let (header, claims) = decode_unverified(&token).unwrap();
        assert_eq!(
            header,
            json!({"alg": "ES384", "typ": "at+jwt", "kid": "ec-1"})
        );
        assert_eq!(claims["iss"], "https://idp.example.test/");
        assert_eq!(claims["aud"], DEFAULT_AUDIENCE);
        assert_eq!(claims["sub"], DEFAULT_SUBJECT);
        let iat = claims["iat"].as_i64().unwrap();
        assert!(iat >= before && iat <= now_secs());
        assert_eq!(claims["exp"].as_i64().unwrap(), iat + DEFAULT_LIFETIME_SECS);
    }

    #[test]
    fn claims_merge_override_and_remove() {
        let req = MintRequest::new(Alg::Rs256)
            .claim("scope", "read:admin")
            .claim("aud", json!(["a", "b"]))
            .claim("exp", Value::Null);
        let token = minter().mint(&req).unwrap();
        let (_, claims) = decode_unverified(&token).unwrap();
        assert_eq!(claims["scope"], "read:admin");
        assert_eq!(claims["aud"], json!(["a", "b"]));
        assert!(claims.get("exp").is_none());
    }

    #[test]
    fn kid_override_omission_and_expiry() {
        let m = minter();
        let jwk = key(Alg::Rs256).public_jwk();
        let token = m
            .mint(&MintRequest {
                kid: Some("nope".into()),
                ..MintRequest::default()
            })
            .unwrap();
        assert_eq!(decode_unverified(&token).unwrap().0["kid"], "nope");
        // The signature is still the current key's.
        assert!(verifies(&jwk, Alg::Rs256, &token));

        for alg in [Alg::Rs256, Alg::Es512] {
            let token = m
                .mint(&MintRequest {
                    omit_kid: true,
                    omit_typ: true,
                    expired: true,
                    ..MintRequest::new(alg)
                })
                .unwrap();
            let (header, claims) = decode_unverified(&token).unwrap();
            assert_eq!(header, json!({"alg": alg.name()}));
            assert!(claims["exp"].as_i64().unwrap() < now_secs() - 300);
        }

        let token = m
            .mint(&MintRequest {
                lifetime_secs: Some(5),
                ..MintRequest::default()
            })
            .unwrap();
        let claims = decode_unverified(&token).unwrap().1;
        assert_eq!(
            claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
            5
        );
    }

    #[test]
    fn unknown_key_keeps_kid_but_fails_verification() {
        let m = minter();
        for alg in [Alg::Es384, Alg::Hs256] {
            let req = MintRequest {
                unknown_key: true,
                ..MintRequest::new(alg)
            };
            let token = m.mint(&req).unwrap();
            assert_eq!(decode_unverified(&token).unwrap().0["kid"], alg.kid(1));
            assert!(!verifies(&key(alg).public_jwk(), alg, &token), "{alg}");
        }

        let stranger = Key::generate(Alg::Es384, "stranger").unwrap();
        let token = m.mint_with_key(&stranger, &MintRequest::default()).unwrap();
        assert_eq!(decode_unverified(&token).unwrap().0["kid"], "stranger");
        assert!(verifies(&stranger.public_jwk(), Alg::Es384, &token));
    }

    #[test]
    fn sign_raw_uses_strings_verbatim() {
        let m = minter();
        let header = r#"{"alg":"RS256", "kid":"rsa-1","crit":["x"]}"#;
        let payload = r#"{"sub":"a","sub":"b"}"#;
        let token = m.sign_raw(Alg::Rs256, header, payload).unwrap();
        let mut it = token.split('.');
        assert_eq!(
            URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap(),
            header.as_bytes()
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap(),
            payload.as_bytes()
        );
        // PKCS#1 v1.5 is deterministic: the rsa crate's verifier agrees with jsonwebtoken's.
        let KeyMaterial::Rsa(private) = key(Alg::Rs256).material() else {
            unreachable!()
        };
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(private.to_public_key());
        let (input, sig) = parts(&token);
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).unwrap();
        assert!(verifier.verify(input.as_bytes(), &sig).is_ok());
    }

    #[test]
    fn tamper_rejects_malformed_tokens() {
        assert!(tamper_signature("a.b").is_err());
        assert!(tamper_signature("a.b.c.d").is_err());
        assert!(tamper_signature("a.b.").is_err());
    }

    #[test]
    fn mint_request_json_shape() {
        let req: MintRequest = serde_json::from_value(json!({
            "alg": "ES384", "claims": {"scope": "x"}, "lifetime_secs": 10, "kid": "k"
        }))
        .unwrap();
        assert_eq!(req.alg, Alg::Es384);
        assert_eq!(req.lifetime_secs, Some(10));
        assert!(serde_json::from_value::<MintRequest>(json!({"algo": "RS256"})).is_err());
        let hs: MintRequest = serde_json::from_value(json!({"alg": "HS256"})).unwrap();
        assert_eq!(hs.alg, Alg::Hs256);
        assert!(serde_json::from_value::<MintRequest>(json!({"alg": "none"})).is_err());
        assert!(serde_json::from_value::<MintRequest>(json!({"alg": "eddsa"})).is_err());
    }
}
