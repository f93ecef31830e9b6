//! Strict parsing of a compact JWS (RFC 7515 section 7.1) before anything is trusted.
//!
//! Parsing checks structure only. Nothing here is believed until the signature has been checked
//! against a key of the provider the (still untrusted) `iss` names.
//!
//! What "strict" means here (RFC 8725 and the project's hardening rules):
//! - exactly three parts, each base64url without padding, without foreign characters and with
//!   canonical trailing bits;
//! - header and payload are UTF-8 JSON objects with no member name repeated at any nesting level
//!   and at most [`Limits::max_json_depth`] levels of nesting ([`parse_json_object`]);
//! - every size is bounded ([`Limits`]) and checked before the work it bounds;
//! - `alg` is a string (the provider's allowlist is applied by the caller); `kid` a string of at
//!   most [`Limits::max_kid_bytes`]; `typ` absent or an accepted media type ([`TypPolicy`]);
//! - `crit` (so any JWS extension, `b64: false` included), `b64`, and the markers of nested and
//!   encrypted tokens (`cty`, `enc`, `zip`) are refused;
//! - `jku`, `x5u`, `jwk`, `x5c` (and `x5t`) are never read: keys come only from the provider's
//!   configured JWKS, so a token cannot name, embed or make the filter fetch its own key.

use crate::config::token::{Limits, TypPolicy};
use crate::error::{AuthError, ErrorCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;

/// The JOSE header members this filter acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `alg` exactly as written; checked against the provider's allowlist later.
    pub alg: String,
    /// `kid`, when present.
    pub kid: Option<String>,
    /// `typ`, when present.
    pub typ: Option<String>,
}

/// A token split into its parts, with header and payload decoded but nothing verified.
#[derive(Clone, Debug, PartialEq)]
pub struct UntrustedToken<'a> {
    /// The decoded JOSE header.
    pub header: Header,
    /// The decoded payload: a JSON object.
    pub claims: Map<String, Value>,
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers.
    pub signing_input: &'a [u8],
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

fn malformed(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidToken, description)
}

impl<'a> UntrustedToken<'a> {
    /// Splits and decodes a compact JWS with the default [`Limits`] and [`TypPolicy`].
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        Self::parse_with(token, &Limits::default(), TypPolicy::default())
    }

    /// Splits and decodes a compact JWS, refusing anything that is not exactly one.
    ///
    /// `typ` is checked against `typ_policy`; a caller that only knows the policy once the
    /// provider is chosen can parse with [`TypPolicy::Jwt`] and call [`TypPolicy::check`] later.
    pub fn parse_with(
        token: &'a str,
        limits: &Limits,
        typ_policy: TypPolicy,
    ) -> Result<Self, AuthError> {
        if token.len() > limits.max_token_bytes {
            return Err(malformed("Token is too large"));
        }
        // At most four pieces are ever looked at, so `a.a.a.....` costs no more than `a.a.a.a`.
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("Token is not a JWS in compact form"));
        };
        let header_bytes = decode_part(header_b64)?;
        let payload_bytes = decode_part(payload_b64)?;
        let signature = decode_part(signature_b64)?;
        if signature.is_empty() {
            return Err(malformed("Token is not signed"));
        }
        let header = parse_header(&header_bytes, limits, typ_policy)?;
        let claims = parse_json_object(&payload_bytes, limits.max_json_depth).map_err(|err| {
            malformed(match err {
                JsonError::DuplicateMember => "Token payload has a duplicate member",
                JsonError::TooDeep => "Token payload is nested too deeply",
                JsonError::Syntax | JsonError::NotAnObject => "Token payload is not a JSON object",
            })
        })?;
        // Both lengths are at most `token.len()`, so the sum cannot overflow.
        let signing_len = header_b64
            .len()
            .saturating_add(1)
            .saturating_add(payload_b64.len());
        let signing_input = token
            .as_bytes()
            .get(..signing_len)
            .ok_or_else(|| malformed("Token is not a JWS in compact form"))?;
        Ok(Self {
            header,
            claims,
            signing_input,
            signature,
        })
    }
}

fn decode_part(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| malformed("Token is not valid base64url"))
}

/// Header members that mark a JWS extension, a nested token or an encrypted one; none of them is
/// implemented, so a token carrying one is refused rather than misread (RFC 7515 4.1.11,
/// RFC 7797 section 3, RFC 7519 section 5.2, RFC 7516 section 4.1.2-3).
const REFUSED_MEMBERS: [(&str, &str); 5] = [
    ("crit", "Token uses an unsupported critical header"),
    ("b64", "Token uses an unsupported critical header"),
    ("cty", "Nested or encrypted tokens are not accepted"),
    ("enc", "Nested or encrypted tokens are not accepted"),
    ("zip", "Nested or encrypted tokens are not accepted"),
];

fn parse_header(bytes: &[u8], limits: &Limits, typ_policy: TypPolicy) -> Result<Header, AuthError> {
    let map = parse_json_object(bytes, limits.max_json_depth).map_err(|err| {
        malformed(match err {
            JsonError::DuplicateMember => "Token header has a duplicate member",
            JsonError::TooDeep => "Token header is nested too deeply",
            JsonError::Syntax | JsonError::NotAnObject => "Token header is not a JSON object",
        })
    })?;
    let alg = match map.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(malformed("Token header has no algorithm")),
    };
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(kid)) if kid.len() > limits.max_kid_bytes => {
            return Err(malformed("Token key id is too long"))
        }
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("Token key id is not a string")),
    };
    let typ = match map.get("typ") {
        None => None,
        Some(Value::String(typ)) => Some(typ.clone()),
        Some(_) => return Err(malformed("Token type is not a string")),
    };
    typ_policy.check(typ.as_deref())?;
    for (member, description) in REFUSED_MEMBERS {
        if map.contains_key(member) {
            return Err(malformed(description));
        }
    }
    // `jku`, `x5u`, `jwk`, `x5c`, `x5t` are deliberately not read (RFC 8725 section 3.10).
    Ok(Header { alg, kid, typ })
}

/// Why [`parse_json_object`] refused a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON: bad syntax, invalid UTF-8, a lone surrogate escape, a number out of range,
    /// trailing data.
    Syntax,
    /// Valid JSON, but the top-level value is not an object.
    NotAnObject,
    /// Some object, at any depth, names a member twice (after unescaping).
    DuplicateMember,
    /// Arrays and objects nest deeper than allowed.
    TooDeep,
}

/// Parses a JSON object strictly: UTF-8 JSON text (RFC 8259) whose top-level value is an object,
/// with no duplicate member names in any object at any depth (RFC 7515 section 5.2 and RFC 7519
/// section 4 let a parser refuse them; refusing closes the door to two parsers reading two
/// different claim sets) and at most `max_depth` levels of arrays and objects.
///
/// Depth is enforced while parsing, before a deeper level is entered, so neither the stack nor
/// the heap grows with hostile nesting. `serde_json`'s own recursion limit (128) stays in force
/// as an outer bound.
pub fn parse_json_object(bytes: &[u8], max_depth: usize) -> Result<Map<String, Value>, JsonError> {
    let failure = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let seed = StrictValue {
        depth_left: max_depth,
        failure: &failure,
    };
    let value = seed
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|_| failure.get().unwrap_or(JsonError::Syntax))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

/// A `serde_json::Value` builder that refuses duplicate member names and deep nesting, recording
/// which of the two happened in `failure` (serde's error type cannot carry it).
#[derive(Clone, Copy)]
struct StrictValue<'f> {
    depth_left: usize,
    failure: &'f Cell<Option<JsonError>>,
}

impl StrictValue<'_> {
    fn fail<E: de::Error>(&self, kind: JsonError) -> E {
        self.failure.set(Some(kind));
        E::custom(match kind {
            JsonError::DuplicateMember => "duplicate member name",
            JsonError::TooDeep => "nested too deeply",
            JsonError::Syntax | JsonError::NotAnObject => "invalid JSON",
        })
    }

    /// The seed for the members of a container, or an error when none may be opened here.
    fn enter<E: de::Error>(&self) -> Result<Self, E> {
        match self.depth_left.checked_sub(1) {
            Some(depth_left) => Ok(Self {
                depth_left,
                failure: self.failure,
            }),
            None => Err(self.fail(JsonError::TooDeep)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json never yields a non-finite float; refuse one all the same.
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| self.fail(JsonError::Syntax))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                return Err(self.fail(JsonError::DuplicateMember));
            }
            let value = access.next_value_seed(inner)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests;

/// The RFC 8725 rules through the same steps the authenticator takes (parse, `alg` allowlist,
/// claims, key selection, signature) with real keys: every hostile token is refused with
/// `invalid_token` and never panics, and a valid one still passes. (The end-to-end proof through
/// Envoy is `tests/hostile.rs`.)
#[cfg(test)]
mod hostile;
