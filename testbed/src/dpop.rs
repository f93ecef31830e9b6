//! DPoP proofs (RFC 9449) as a client makes them: a key of its own, and per request a JWS with
//! `typ: dpop+jwt` and the public key in its `jwk` header, signed by `jsonwebtoken`. The key's
//! RFC 7638 thumbprint (what a bound token's `cnf.jkt` holds) is `jsonwebtoken`'s too, so the
//! filter's own thumbprint and proof checks meet an independent implementation.

use crate::mint::{b64, now_secs, Alg, Key, MintError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A DPoP client: one proof key.
#[derive(Clone, Debug)]
pub struct DpopClient {
    key: Key,
}

/// What one proof says; [`ProofRequest::new`] fills in a fresh `jti` and `iat` now.
#[derive(Clone, Debug)]
pub struct ProofRequest {
    /// `htm`.
    pub htm: String,
    /// `htu`.
    pub htu: String,
    /// The access token, for `ath`; `None` leaves `ath` out.
    pub token: Option<String>,
    /// `nonce`, when the server asked for one.
    pub nonce: Option<String>,
    /// `iat`.
    pub iat: i64,
    /// `jti`.
    pub jti: String,
    /// The header's `typ`.
    pub typ: String,
}

impl ProofRequest {
    /// A proof for `htm` and `htu`, bound to `token`, issued now with a random `jti`.
    pub fn new(htm: &str, htu: &str, token: &str) -> Self {
        Self {
            htm: htm.into(),
            htu: htu.into(),
            token: Some(token.into()),
            nonce: None,
            iat: now_secs(),
            jti: b64(&rand::random::<[u8; 16]>()),
            typ: "dpop+jwt".into(),
        }
    }
}

impl DpopClient {
    /// A client with a fresh key for `alg` (any algorithm `jsonwebtoken` signs: not ES512, not
    /// HMAC).
    pub fn generate(alg: Alg) -> Result<Self, MintError> {
        let key = Key::generate(alg, "dpop")?;
        if key.encoding.is_none() || alg.is_hmac() {
            return Err(MintError::WrongKeyType {
                alg,
                kid: "dpop".into(),
            });
        }
        Ok(Self { key })
    }

    /// The public key as the proof's `jwk` header carries it: the key members only.
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk();
        if let Some(obj) = jwk.as_object_mut() {
            obj.remove("kid");
            obj.remove("use");
            obj.remove("alg");
        }
        jwk
    }

    /// The key's RFC 7638 SHA-256 thumbprint, as `jsonwebtoken` computes it: the `cnf.jkt` of
    /// a token bound to this client.
    pub fn thumbprint(&self) -> Result<String, MintError> {
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(self.public_jwk())?;
        Ok(jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256))
    }

    /// The `cnf` claim of a token bound to this client.
    pub fn cnf(&self) -> Result<Value, MintError> {
        Ok(json!({ "jkt": self.thumbprint()? }))
    }

    /// A signed proof.
    pub fn proof(&self, request: &ProofRequest) -> Result<String, MintError> {
        let (Some(encoding), Some(alg)) = (&self.key.encoding, self.key.alg().jsonwebtoken())
        else {
            return Err(MintError::WrongKeyType {
                alg: self.key.alg(),
                kid: "dpop".into(),
            });
        };
        let jwk = self.public_jwk();
        let mut header = jsonwebtoken::Header::new(alg);
        header.typ = Some(request.typ.clone());
        header.jwk = Some(serde_json::from_value(jwk)?);
        let mut claims = json!({
            "htm": request.htm,
            "htu": request.htu,
            "iat": request.iat,
            "jti": request.jti,
        });
        if let Some(obj) = claims.as_object_mut() {
            if let Some(token) = &request.token {
                obj.insert("ath".into(), ath(token).into());
            }
            if let Some(nonce) = &request.nonce {
                obj.insert("nonce".into(), nonce.clone().into());
            }
        }
        Ok(jsonwebtoken::encode(&header, &claims, encoding)?)
    }
}

impl DpopClient {
    /// Signs `header` and `claims` exactly as given, for proofs no well-behaved client makes
    /// (a private key in `jwk`, a wrong `typ`).
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> Result<String, MintError> {
        crate::mint::sign_raw_with(&self.key, &header.to_string(), &claims.to_string())
    }

    /// The signing key, for a test that needs its private members.
    pub fn key(&self) -> &Key {
        &self.key
    }
}

/// base64url(SHA-256(token)): a proof's `ath`.
pub fn ath(token: &str) -> String {
    b64(&Sha256::digest(token.as_bytes()))
}
