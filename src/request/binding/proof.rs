//! A DPoP proof (RFC 9449 section 4): a JWS the client signs per request with the key its token
//! is bound to, carried in the `DPoP` header.
//!
//! [`Proof::verify`] checks what the proof says about itself: its structure (the strict rules
//! of [`crate::request::token`]), `typ: dpop+jwt`, an allowed asymmetric `alg`, a public `jwk`
//! with no private member whose thumbprint is the token's `cnf.jkt` (before anything is done
//! with the key), the signature under that key, and the claims' types. What the proof says
//! about the request and the token (`htm`, `htu`, `iat`, `jti`, `ath`) is checked by the
//! caller, [`super::check`].

use crate::config::binding::Dpop;
use crate::config::token::Limits;
use crate::error::{AuthError, ErrorCode};
use crate::keys::jwks;
use crate::request::binding::keys::ProofHeader;
use crate::request::binding::BindingServices;
use crate::request::token::parse_json_object;
use crate::verify::{Algorithm, Message};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::rc::Rc;

/// Longest `jti` accepted, in bytes (real ones are a UUID or 16-32 random bytes).
pub const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private key has (RFC 7518 section 6): a proof whose `jwk` carries
/// any of them is refused (RFC 9449 section 4.3, check 7), whatever else it holds.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof whose signature holds under its own `jwk`.
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    /// Its algorithm.
    pub alg: Algorithm,
    /// The RFC 7638 SHA-256 thumbprint of its `jwk`, base64url: what `cnf.jkt` must equal.
    pub thumbprint: String,
    /// `htm`: the HTTP method.
    pub htm: String,
    /// `htu`: the HTTP URI, as written.
    pub htu: String,
    /// `iat`, in whole seconds.
    pub iat: u64,
    /// `jti`: the proof's unique id.
    pub jti: String,
    /// `ath`: base64url(SHA-256(access token)), when present.
    pub ath: Option<String>,
    /// `nonce`, when present.
    pub nonce: Option<String>,
}

fn invalid(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// The token names another key than the proof's (`invalid_token`: the token is what does not
/// fit this proof).
fn bound_elsewhere() -> AuthError {
    AuthError::new(
        ErrorCode::InvalidToken,
        "Token is bound to another key than the DPoP proof's",
    )
}

fn decode(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid("DPoP proof is not valid base64url"))
}

fn string<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims.get(name).and_then(Value::as_str)
}

impl Proof {
    /// Parses `text` and verifies its signature with its own key, under `dpop`'s algorithms,
    /// for a token bound to key thumbprint `jkt`.
    ///
    /// A proof whose `jwk` has another thumbprint is refused before its key is parsed or its
    /// signature checked: a key is converted for the verifier (for P-384, a table of ~210 KB)
    /// only when it is the one the token is bound to, so a stolen token sent with proofs of
    /// ever new keys costs no more than a thumbprint each.
    pub fn verify(
        text: &str,
        dpop: &Dpop,
        jkt: &str,
        limits: &Limits,
        services: &mut dyn BindingServices,
    ) -> Result<Self, AuthError> {
        if text.len() > limits.max_token_bytes {
            return Err(invalid("DPoP proof is too large"));
        }
        let mut parts = text.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("DPoP proof is not a JWS in compact form"));
        };
        let cached = services
            .proof_keys()
            .and_then(|headers| headers.get(header_b64));
        let header = match cached {
            Some(header) => {
                if !dpop.algorithms.contains(&header.alg) {
                    return Err(invalid("DPoP proof algorithm is not allowed"));
                }
                if header.thumbprint != jkt {
                    return Err(bound_elsewhere());
                }
                header
            }
            None => {
                let header = Rc::new(check_header(header_b64, dpop, jkt, limits, services)?);
                if let Some(headers) = services.proof_keys() {
                    headers.insert(header_b64.to_string(), Rc::clone(&header));
                }
                header
            }
        };
        let alg = header.alg;
        let signature = decode(signature_b64)?;
        let signing_input = text
            .as_bytes()
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(invalid("DPoP proof is not a JWS in compact form"))?;
        let started = services.timing_start(alg);
        let verified = services.verifier().verify(
            alg,
            &header.key.key,
            &Message::new(signing_input),
            &signature,
        );
        if let Some(start) = started {
            services.timing_end(alg, start);
        }
        if !verified {
            return Err(invalid("DPoP proof signature is invalid"));
        }
        let claims = parse_json_object(&decode(payload_b64)?, limits.max_json_depth)
            .map_err(|_| invalid("DPoP proof payload is not a JSON object"))?;
        let htm = string(&claims, "htm").ok_or(invalid("DPoP proof has no htm"))?;
        let htu = string(&claims, "htu").ok_or(invalid("DPoP proof has no htu"))?;
        let jti = string(&claims, "jti")
            .filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI_BYTES)
            .ok_or(invalid("DPoP proof has no usable jti"))?;
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .filter(|iat| iat.is_finite() && *iat >= 0.0 && *iat < 1e11)
            .ok_or(invalid("DPoP proof has no usable iat"))?;
        let optional = |name: &str| match claims.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.clone())),
            Some(_) => Err(invalid("DPoP proof claim has the wrong type")),
        };
        Ok(Self {
            alg,
            thumbprint: header.thumbprint.clone(),
            htm: htm.to_string(),
            htu: htu.to_string(),
            iat: iat as u64,
            jti: jti.to_string(),
            ath: optional("ath")?,
            nonce: optional("nonce")?,
        })
    }
}

/// Checks a proof's protected header (`header_b64`, base64url) under `dpop`'s algorithms: its
/// structure, `typ: dpop+jwt`, no unsupported member, an allowed asymmetric `alg`, and a
/// public `jwk` whose thumbprint is `jkt` (compared before the key is parsed) and that fits
/// `alg`.
fn check_header(
    header_b64: &str,
    dpop: &Dpop,
    jkt: &str,
    limits: &Limits,
    services: &mut dyn BindingServices,
) -> Result<ProofHeader, AuthError> {
    let header = parse_json_object(&decode(header_b64)?, limits.max_json_depth)
        .map_err(|_| invalid("DPoP proof header is not a JSON object"))?;
    let typ = string(&header, "typ").unwrap_or_default();
    if !typ.eq_ignore_ascii_case("dpop+jwt") {
        return Err(invalid("DPoP proof must have typ dpop+jwt"));
    }
    for member in ["crit", "b64", "cty", "enc", "zip"] {
        if header.contains_key(member) {
            return Err(invalid("DPoP proof uses an unsupported header"));
        }
    }
    let alg = string(&header, "alg")
        .and_then(Algorithm::from_name)
        .filter(|alg| !alg.is_symmetric() && dpop.algorithms.contains(alg))
        .ok_or(invalid("DPoP proof algorithm is not allowed"))?;
    let Some(jwk_value @ Value::Object(jwk)) = header.get("jwk") else {
        return Err(invalid("DPoP proof has no jwk header"));
    };
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| jwk.contains_key(*member))
    {
        return Err(invalid("DPoP proof jwk must be a public key"));
    }
    let unusable = || invalid("DPoP proof jwk is not a usable public key");
    let thumbprint = thumbprint(jwk).ok_or_else(unusable)?;
    if thumbprint != jkt {
        return Err(bound_elsewhere());
    }
    let key = jwks::parse_public_jwk(jwk_value, services.verifier()).map_err(|_| unusable())?;
    if !key.is_candidate(None, alg) {
        return Err(invalid("DPoP proof jwk does not fit its algorithm"));
    }
    Ok(ProofHeader {
        alg,
        thumbprint,
        key,
    })
}

/// The JWK SHA-256 thumbprint of RFC 7638: the required members in lexicographic order, as
/// compact JSON, hashed and base64url-encoded. `None` for a key type without a definition here.
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members: &[&str] = match string(jwk, "kty")? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, member) in members.iter().enumerate() {
        let value = serde_json::to_string(string(jwk, member)?).ok()?;
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&format!("\"{member}\":{value}"));
    }
    canonical.push('}');
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 section 3.1's example key and thumbprint.
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        assert_eq!(
            thumbprint(json!({"kty": "oct", "k": "AA"}).as_object().unwrap()),
            None
        );
    }
}
