//! Signing keys and JWT minting, as pure functions usable without any server.
//!
//! Signing is implemented here directly (not through a JWT library) so that tests control every
//! byte of the header and payload, including deliberately broken tokens that a library would
//! refuse to produce.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;

/// The RSA modulus size; 2048 bits is what real identity providers use for RS256.
const RSA_BITS: usize = 2048;

/// Default token lifetime in seconds.
pub const DEFAULT_LIFETIME_SECS: i64 = 300;

/// Default `aud` claim.
pub const DEFAULT_AUDIENCE: &str = "https://api.example.test";

/// Default `sub` claim.
pub const DEFAULT_SUBJECT: &str = "user-1";

/// A JWS algorithm the testbed can sign with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA over P-384 with SHA-384, signature as raw fixed-width `r || s`.
    #[serde(rename = "ES384")]
    Es384,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es384 => "ES384",
        }
    }

    /// Parses the exact JOSE name.
    pub fn from_name(name: &str) -> Option<Alg> {
        match name {
            "RS256" => Some(Alg::Rs256),
            "ES384" => Some(Alg::Es384),
            _ => None,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why minting failed.
#[derive(Debug)]
pub enum MintError {
    /// RSA key generation or signing failed.
    Rsa(rsa::Error),
    /// ECDSA signing failed.
    Ecdsa(p384::ecdsa::Error),
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
    /// The request itself is inconsistent (for example, an issuer that is not a string).
    InvalidRequest(String),
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MintError::Rsa(e) => write!(f, "RSA: {e}"),
            MintError::Ecdsa(e) => write!(f, "ECDSA: {e}"),
            MintError::Json(e) => write!(f, "JSON: {e}"),
            MintError::MalformedToken => f.write_str("not a compact JWS (three base64url parts)"),
            MintError::WrongKeyType { alg, kid } => {
                write!(f, "key {kid:?} cannot sign {alg}")
            }
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

impl From<p384::ecdsa::Error> for MintError {
    fn from(e: p384::ecdsa::Error) -> Self {
        MintError::Ecdsa(e)
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
    /// An RSA key, used with RS256.
    Rsa(RsaPrivateKey),
    /// A P-384 key, used with ES384.
    Ec(p384::ecdsa::SigningKey),
}

/// A private signing key with its key id.
#[derive(Clone)]
pub struct Key {
    kid: String,
    material: KeyMaterial,
}

impl fmt::Debug for Key {
    // Never print private key material, even in test logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// Generates a fresh key for `alg` with id `kid`.
    ///
    /// Generating a key and not publishing it is how tests get an "unknown key": a token signed
    /// with it carries a plausible (even colliding) `kid` but matches nothing in the JWKS.
    pub fn generate(alg: Alg, kid: impl Into<String>) -> Result<Key, MintError> {
        let mut rng = rand::thread_rng();
        let material = match alg {
            Alg::Rs256 => KeyMaterial::Rsa(RsaPrivateKey::new(&mut rng, RSA_BITS)?),
            Alg::Es384 => KeyMaterial::Ec(p384::ecdsa::SigningKey::random(&mut rng)),
        };
        Ok(Key {
            kid: kid.into(),
            material,
        })
    }

    /// Wraps existing key material.
    pub fn from_material(kid: impl Into<String>, material: KeyMaterial) -> Key {
        Key {
            kid: kid.into(),
            material,
        }
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        match self.material {
            KeyMaterial::Rsa(_) => Alg::Rs256,
            KeyMaterial::Ec(_) => Alg::Es384,
        }
    }

    /// The private key material.
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// The public key as a JWK (RFC 7517/7518), base64url without padding.
    pub fn public_jwk(&self) -> Value {
        match &self.material {
            KeyMaterial::Rsa(key) => json!({
                "kty": "RSA",
                "kid": self.kid,
                "use": "sig",
                "alg": "RS256",
                "n": b64(&key.n().to_bytes_be()),
                "e": b64(&key.e().to_bytes_be()),
            }),
            KeyMaterial::Ec(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC",
                    "kid": self.kid,
                    "use": "sig",
                    "alg": "ES384",
                    "crv": "P-384",
                    "x": b64(&point.x().map(|x| x.to_vec()).unwrap_or_default()),
                    "y": b64(&point.y().map(|y| y.to_vec()).unwrap_or_default()),
                })
            }
        }
    }

    /// Signs `message` (the JWS signing input) with this key's algorithm.
    ///
    /// RS256 is PKCS#1 v1.5 over SHA-256; ES384 is the fixed-width 96-byte `r || s` that JWS
    /// requires (RFC 7518 section 3.4), not the DER encoding most libraries default to.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, MintError> {
        match &self.material {
            KeyMaterial::Rsa(key) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone());
                Ok(signer.try_sign(message)?.to_vec())
            }
            KeyMaterial::Ec(key) => {
                let signature: p384::ecdsa::Signature = key.try_sign(message)?;
                Ok(signature.to_bytes().to_vec())
            }
        }
    }
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

/// Mints tokens with the current signing keys and the default claims of one issuer.
///
/// Cheap to clone (keys are shared), so the identity provider hands out snapshots.
#[derive(Clone, Debug)]
pub struct Minter {
    issuer: String,
    audience: String,
    lifetime_secs: i64,
    rsa: Arc<Key>,
    ec: Arc<Key>,
}

impl Minter {
    /// A minter for `issuer` signing with the given keys.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        rsa: Arc<Key>,
        ec: Arc<Key>,
    ) -> Result<Minter, MintError> {
        for (key, alg) in [(&rsa, Alg::Rs256), (&ec, Alg::Es384)] {
            if key.alg() != alg {
                return Err(MintError::WrongKeyType {
                    alg,
                    kid: key.kid().to_owned(),
                });
            }
        }
        Ok(Minter {
            issuer: issuer.into(),
            audience: audience.into(),
            lifetime_secs: DEFAULT_LIFETIME_SECS,
            rsa,
            ec,
        })
    }

    /// A minter with freshly generated keys `rsa-1` and `ec-1`.
    pub fn generate(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Minter, MintError> {
        let rsa = Arc::new(Key::generate(Alg::Rs256, "rsa-1")?);
        let ec = Arc::new(Key::generate(Alg::Es384, "ec-1")?);
        Minter::new(issuer, audience, rsa, ec)
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

    /// The current signing key for `alg`.
    pub fn signing_key(&self, alg: Alg) -> &Arc<Key> {
        match alg {
            Alg::Rs256 => &self.rsa,
            Alg::Es384 => &self.ec,
        }
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
        if request.unknown_key {
            let current = self.signing_key(request.alg);
            let stranger = Key::generate(request.alg, current.kid())?;
            self.mint_with_key(&stranger, request)
        } else {
            self.mint_with_key(self.signing_key(request.alg), request)
        }
    }

    /// Mints a token with this minter's default claims but signed by `key`, which need not be
    /// published anywhere. `request.alg` and `request.unknown_key` are ignored: the key decides.
    pub fn mint_with_key(&self, key: &Key, request: &MintRequest) -> Result<String, MintError> {
        let mut header = Map::new();
        header.insert("alg".into(), key.alg().name().into());
        if !request.omit_typ {
            let typ = request.typ.as_deref().unwrap_or("JWT");
            header.insert("typ".into(), typ.into());
        }
        if !request.omit_kid {
            let kid = request.kid.as_deref().unwrap_or(key.kid());
            header.insert("kid".into(), kid.into());
        }
        let mut claims = self.default_claims(request);
        for (name, value) in &request.claims {
            if value.is_null() {
                claims.remove(name);
            } else {
                claims.insert(name.clone(), value.clone());
            }
        }
        let header = serde_json::to_string(&header)?;
        let payload = serde_json::to_string(&claims)?;
        sign_raw_with(key, &header, &payload)
    }

    /// Signs arbitrary header and payload JSON (used verbatim, not re-serialised) with the
    /// current key for `alg`, for tokens no well-behaved issuer would produce.
    pub fn sign_raw(
        &self,
        alg: Alg,
        header_json: &str,
        payload_json: &str,
    ) -> Result<String, MintError> {
        sign_raw_with(self.signing_key(alg), header_json, payload_json)
    }
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

    /// Key generation is the slow part, so all tests share one minter.
    fn minter() -> &'static Minter {
        static MINTER: OnceLock<Minter> = OnceLock::new();
        MINTER.get_or_init(|| {
            Minter::generate("https://idp.example.test/", DEFAULT_AUDIENCE).unwrap()
        })
    }

    fn parts(token: &str) -> (String, Vec<u8>) {
        let (input, sig) = token.rsplit_once('.').unwrap();
        (input.to_owned(), URL_SAFE_NO_PAD.decode(sig).unwrap())
    }

    fn unb64(v: &Value) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap()
    }

    fn rsa_verify(jwk: &Value, token: &str) -> bool {
        let n = rsa::BigUint::from_bytes_be(&unb64(&jwk["n"]));
        let e = rsa::BigUint::from_bytes_be(&unb64(&jwk["e"]));
        let public = rsa::RsaPublicKey::new(n, e).unwrap();
        let verifier = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public);
        let (input, sig) = parts(token);
        let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig.as_slice()) else {
            return false;
        };
        verifier.verify(input.as_bytes(), &sig).is_ok()
    }

    fn ec_verify(jwk: &Value, token: &str) -> bool {
        let x = unb64(&jwk["x"]);
        let y = unb64(&jwk["y"]);
        // Uncompressed SEC1 point: 0x04 || x || y.
        let sec1 = [&[4u8][..], &x, &y].concat();
        let verifier = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let (input, sig) = parts(token);
        let Ok(sig) = p384::ecdsa::Signature::from_slice(&sig) else {
            return false;
        };
        verifier.verify(input.as_bytes(), &sig).is_ok()
    }

    #[test]
    fn rs256_token_verifies_with_published_jwk() {
        let m = minter();
        let token = m.mint(&MintRequest::new(Alg::Rs256)).unwrap();
        let jwk = m.signing_key(Alg::Rs256).public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["kid"], "rsa-1");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(unb64(&jwk["n"]).len(), 256);
        assert_eq!(jwk["e"], "AQAB");
        assert!(!jwk["n"].as_str().unwrap().contains('='));
        assert_eq!(parts(&token).1.len(), 256);
        assert!(rsa_verify(&jwk, &token));
        assert!(!rsa_verify(&jwk, &tamper_signature(&token).unwrap()));
    }

    #[test]
    fn es384_signature_is_raw_96_bytes_and_verifies() {
        let m = minter();
        let token = m.mint(&MintRequest::new(Alg::Es384)).unwrap();
        let jwk = m.signing_key(Alg::Es384).public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-384");
        assert_eq!(jwk["kid"], "ec-1");
        assert_eq!(unb64(&jwk["x"]).len(), 48);
        assert_eq!(unb64(&jwk["y"]).len(), 48);
        assert_eq!(parts(&token).1.len(), 96);
        assert!(ec_verify(&jwk, &token));
        assert!(!ec_verify(&jwk, &tamper_signature(&token).unwrap()));
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
        let token = m
            .mint(&MintRequest {
                kid: Some("nope".into()),
                ..MintRequest::default()
            })
            .unwrap();
        assert_eq!(decode_unverified(&token).unwrap().0["kid"], "nope");
        // The signature is still the current key's.
        assert!(rsa_verify(&m.signing_key(Alg::Rs256).public_jwk(), &token));

        let token = m
            .mint(&MintRequest {
                omit_kid: true,
                omit_typ: true,
                expired: true,
                ..MintRequest::default()
            })
            .unwrap();
        let (header, claims) = decode_unverified(&token).unwrap();
        assert_eq!(header, json!({"alg": "RS256"}));
        assert!(claims["exp"].as_i64().unwrap() < now_secs() - 300);

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
        let req = MintRequest {
            unknown_key: true,
            ..MintRequest::new(Alg::Es384)
        };
        let token = m.mint(&req).unwrap();
        assert_eq!(decode_unverified(&token).unwrap().0["kid"], "ec-1");
        assert!(!ec_verify(&m.signing_key(Alg::Es384).public_jwk(), &token));

        let stranger = Key::generate(Alg::Es384, "stranger").unwrap();
        let token = m.mint_with_key(&stranger, &MintRequest::default()).unwrap();
        assert_eq!(decode_unverified(&token).unwrap().0["kid"], "stranger");
        assert!(ec_verify(&stranger.public_jwk(), &token));
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
        assert!(rsa_verify(&m.signing_key(Alg::Rs256).public_jwk(), &token));
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
        assert!(serde_json::from_value::<MintRequest>(json!({"alg": "HS256"})).is_err());
    }
}
