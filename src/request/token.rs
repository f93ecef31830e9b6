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
mod tests {
    use super::*;
    use crate::config::token::{MAX_JSON_DEPTH, MAX_KID_BYTES, MAX_TOKEN_BYTES};

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    fn err(token: &str) -> AuthError {
        UntrustedToken::parse(token).unwrap_err()
    }

    fn header_err(header: &str) -> &'static str {
        err(&token(header, "{}")).description
    }

    fn payload_err(payload: &str) -> &'static str {
        err(&token(r#"{"alg":"RS256"}"#, payload)).description
    }

    #[test]
    fn parses_a_well_formed_token() {
        let text = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"u"}"#,
        );
        let parsed = UntrustedToken::parse(&text).unwrap();
        assert_eq!(parsed.header.alg, "RS256");
        assert_eq!(parsed.header.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.claims["sub"], "u");
        assert_eq!(parsed.signature, b"sig");
        let dot = text.rfind('.').unwrap();
        assert_eq!(parsed.signing_input, &text.as_bytes()[..dot]);
    }

    #[test]
    fn wrong_part_counts_are_invalid_token() {
        for text in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "...", "...."] {
            assert_eq!(err(text).code, ErrorCode::InvalidToken, "{text}");
        }
    }

    #[test]
    fn thousands_of_segments_are_refused_by_counting_four() {
        let many = "a.".repeat(4_000);
        assert_eq!(err(&many).description, "Token is not a JWS in compact form");
        let dots = ".".repeat(MAX_TOKEN_BYTES);
        assert_eq!(err(&dots).description, "Token is not a JWS in compact form");
    }

    #[test]
    fn bad_base64_is_refused() {
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        assert!(UntrustedToken::parse(&good).is_ok());
        let (h, rest) = good.split_once('.').unwrap();
        for bad in [
            format!("{good}="),               // padding
            format!("{h}=.{rest}"),           // padding on the header
            good.replacen('.', "+.", 1),      // standard alphabet
            good.replacen('.', "/.", 1),      // standard alphabet
            good.replacen('.', " .", 1),      // whitespace
            good.replacen('.', "\n.", 1),     // line break
            good.replacen('.', "%3D.", 1),    // percent-encoding
            good.replacen('.', "\u{e9}.", 1), // non-ASCII
            format!("A{good}"),               // a length no base64 has (4n + 1)
            format!("QR.{rest}"),             // non-canonical trailing bits ("QQ" is canonical)
        ] {
            assert_eq!(
                err(&bad).description,
                "Token is not valid base64url",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn header_must_name_an_algorithm() {
        assert_eq!(err(&token("{}", "{}")).code, ErrorCode::InvalidToken);
        for header in [
            "{}",
            r#"{"alg":1}"#,
            r#"{"alg":null}"#,
            r#"{"alg":["RS256"]}"#,
        ] {
            assert_eq!(
                header_err(header),
                "Token header has no algorithm",
                "{header}"
            );
        }
        for header in ["[]", "not json", "", "\"RS256\"", "null"] {
            assert_eq!(
                header_err(header),
                "Token header is not a JSON object",
                "{header}"
            );
        }
    }

    #[test]
    fn payload_must_be_an_object() {
        for payload in ["[1]", "x", "", "null", "1", "\"eyJ.a.b\""] {
            assert_eq!(
                payload_err(payload),
                "Token payload is not a JSON object",
                "{payload}"
            );
        }
    }

    #[test]
    fn header_and_payload_must_be_utf8_json() {
        let sig = b64("sig");
        let good_header = b64(r#"{"alg":"RS256"}"#);
        for raw in [
            &b"\xff\xfe{}"[..],
            b"{\"alg\":\"RS256\xff\"}",
            b"\xef\xbb\xbf{\"alg\":\"RS256\"}", // a byte-order mark
            b"{\"alg\":\"RS256\"}\x00",
            b"{\"alg\":\"RS256\"} {}", // trailing data
            b"{\"alg\":\"\\ud800\"}",  // a lone surrogate
            b"{\"alg\":\"RS256\",}",   // trailing comma
            b"{'alg':'RS256'}",
            b"{\"alg\":\"RS256\",\"x\":NaN}",
            b"{\"alg\":\"RS256\",\"x\":Infinity}",
            b"{\"alg\":\"RS256\",\"x\":1e400}",
        ] {
            let header = URL_SAFE_NO_PAD.encode(raw);
            let as_header = format!("{header}.{}.{sig}", b64("{}"));
            assert_eq!(
                err(&as_header).description,
                "Token header is not a JSON object",
                "{raw:?}"
            );
            let as_payload = format!("{good_header}.{header}.{sig}");
            assert_eq!(
                err(&as_payload).description,
                "Token payload is not a JSON object",
                "{raw:?}"
            );
        }
    }

    #[test]
    fn duplicate_members_are_refused_at_every_level() {
        for header in [
            r#"{"alg":"RS256","alg":"none"}"#,
            r#"{"alg":"RS256","kid":"a","kid":"b"}"#,
            r#"{"alg":"RS256","\u0061lg":"none"}"#,
            r#"{"alg":"RS256","x":{"y":1,"y":1}}"#,
        ] {
            assert_eq!(
                header_err(header),
                "Token header has a duplicate member",
                "{header}"
            );
        }
        for payload in [
            r#"{"iss":"a","iss":"b"}"#,
            r#"{"aud":"a","aud":["b"]}"#,
            r#"{"exp":1,"\u0065xp":2}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[1,{"b":1,"c":{"d":0,"d":0}}]}"#,
        ] {
            assert_eq!(
                payload_err(payload),
                "Token payload has a duplicate member",
                "{payload}"
            );
        }
        // The same name in different objects is no duplicate.
        let fine = token(
            r#"{"alg":"RS256"}"#,
            r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#,
        );
        UntrustedToken::parse(&fine).unwrap();
    }

    fn nested(depth: usize) -> String {
        // `depth` levels in all: the top-level object plus `depth - 1` arrays.
        let inner = depth.saturating_sub(1);
        format!(
            r#"{{"alg":"RS256","x":{}{}}}"#,
            "[".repeat(inner),
            "]".repeat(inner)
        )
    }

    #[test]
    fn json_depth_is_limited() {
        let at_limit = nested(MAX_JSON_DEPTH);
        UntrustedToken::parse(&token(&at_limit, "{}")).unwrap();
        UntrustedToken::parse(&token(r#"{"alg":"RS256"}"#, &at_limit)).unwrap();
        let over = nested(MAX_JSON_DEPTH + 1);
        assert_eq!(header_err(&over), "Token header is nested too deeply");
        assert_eq!(payload_err(&over), "Token payload is nested too deeply");
        // Objects count as much as arrays.
        let objects = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
        assert_eq!(payload_err(&objects), "Token payload is nested too deeply");
        // Far beyond serde_json's own limit of 128, inside the token size limit.
        let deep = format!("{}{}", "[".repeat(2_500), "]".repeat(2_500));
        assert_eq!(payload_err(&deep), "Token payload is nested too deeply");
        // A tighter configured limit applies.
        let limits = Limits {
            max_json_depth: 2,
            ..Limits::default()
        };
        let text = token(r#"{"alg":"RS256"}"#, r#"{"a":{"b":1}}"#);
        UntrustedToken::parse_with(&text, &limits, TypPolicy::Jwt).unwrap();
        let text = token(r#"{"alg":"RS256"}"#, r#"{"a":{"b":[]}}"#);
        let refused = UntrustedToken::parse_with(&text, &limits, TypPolicy::Jwt).unwrap_err();
        assert_eq!(refused.description, "Token payload is nested too deeply");
    }

    #[test]
    fn strict_json_parser_direct() {
        assert_eq!(parse_json_object(b"{}", 1).unwrap(), Map::new());
        assert_eq!(
            parse_json_object(b" {\"a\": [1, 2.5, -3, true, null, \"s\"]} ", 2).unwrap()["a"][1],
            2.5
        );
        assert_eq!(parse_json_object(b"{}", 0), Err(JsonError::TooDeep));
        assert_eq!(parse_json_object(b"[]", 5), Err(JsonError::NotAnObject));
        assert_eq!(parse_json_object(b"1", 5), Err(JsonError::NotAnObject));
        assert_eq!(
            parse_json_object(b"{\"a\":1,\"a\":1}", 5),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(parse_json_object(b"{\"a\":1", 5), Err(JsonError::Syntax));
        assert_eq!(parse_json_object(b"{} {}", 5), Err(JsonError::Syntax));
        // A megabyte of brackets: refused at the limit, no stack overflow, no large allocation.
        let deep = "[".repeat(1 << 20);
        let text = format!("{{\"a\":{deep}");
        assert_eq!(
            parse_json_object(text.as_bytes(), 32),
            Err(JsonError::TooDeep)
        );
        // With a limit above serde_json's own (128), serde_json's still stops the descent.
        assert_eq!(
            parse_json_object(text.as_bytes(), 10_000),
            Err(JsonError::Syntax)
        );
        // Big integers and floats keep their JSON meaning.
        let map = parse_json_object(
            b"{\"u\":18446744073709551615,\"i\":-9223372036854775808,\"f\":1e300}",
            1,
        )
        .unwrap();
        assert_eq!(map["u"], u64::MAX);
        assert_eq!(map["i"], i64::MIN);
        assert_eq!(map["f"], 1e300);
    }

    #[test]
    fn crit_b64_nested_and_encrypted_are_refused() {
        for (header, description) in [
            (
                r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
                "Token uses an unsupported critical header",
            ),
            (
                r#"{"alg":"RS256","crit":["exp"]}"#,
                "Token uses an unsupported critical header",
            ),
            (
                r#"{"alg":"RS256","crit":[]}"#,
                "Token uses an unsupported critical header",
            ),
            (
                r#"{"alg":"RS256","b64":false}"#,
                "Token uses an unsupported critical header",
            ),
            (
                r#"{"alg":"RS256","cty":"JWT"}"#,
                "Nested or encrypted tokens are not accepted",
            ),
            (
                r#"{"alg":"RS256","cty":"json"}"#,
                "Nested or encrypted tokens are not accepted",
            ),
            (
                r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
                "Nested or encrypted tokens are not accepted",
            ),
            (
                r#"{"alg":"RS256","zip":"DEF"}"#,
                "Nested or encrypted tokens are not accepted",
            ),
        ] {
            assert_eq!(header_err(header), description, "{header}");
        }
        // A JWE in compact form has five parts.
        let jwe = format!("{}.a.b.c.d", b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
        assert_eq!(err(&jwe).description, "Token is not a JWS in compact form");
    }

    #[test]
    fn key_location_headers_are_never_read() {
        // Parsing keeps only alg, kid and typ: there is nowhere for jku & co. to go.
        let header = r#"{"alg":"RS256","kid":"k","jku":"http://127.0.0.1:1/jwks","x5u":"http://127.0.0.1:1/x5u","jwk":{"kty":"oct","k":"AA"},"x5c":["MIIB"],"x5t":"AA"}"#;
        let text = token(header, "{}");
        let parsed = UntrustedToken::parse(&text).unwrap();
        assert_eq!(
            parsed.header,
            Header {
                alg: "RS256".into(),
                kid: Some("k".into()),
                typ: None
            }
        );
    }

    #[test]
    fn typ_allowlist() {
        for typ in [
            "JWT",
            "jwt",
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "application/jwt",
        ] {
            let header = format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#);
            assert!(
                UntrustedToken::parse(&token(&header, "{}")).is_ok(),
                "{typ}"
            );
        }
        for typ in [
            "JOSE+JSON",
            "JOSE",
            "",
            "jwt ",
            "application/jose",
            "secevent+jwt",
        ] {
            let header = format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#);
            assert_eq!(header_err(&header), "Token type is not accepted", "{typ}");
        }
        assert_eq!(
            header_err(r#"{"alg":"RS256","typ":1}"#),
            "Token type is not a string"
        );
        assert_eq!(
            header_err(r#"{"alg":"RS256","typ":null}"#),
            "Token type is not a string"
        );
    }

    #[test]
    fn typ_policy_can_require_at_jwt() {
        let limits = Limits::default();
        let parse = |header: &str| {
            UntrustedToken::parse_with(&token(header, "{}"), &limits, TypPolicy::AccessToken)
                .map(|_| ())
                .map_err(|e| e.description)
        };
        assert_eq!(parse(r#"{"alg":"RS256","typ":"at+jwt"}"#), Ok(()));
        assert_eq!(
            parse(r#"{"alg":"RS256","typ":"application/AT+JWT"}"#),
            Ok(())
        );
        for header in [
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"RS256","typ":"JWT"}"#,
            r#"{"alg":"RS256","typ":"application/jwt"}"#,
            r#"{"alg":"RS256","typ":"at+jwt+x"}"#,
        ] {
            assert_eq!(parse(header), Err("Token type must be at+jwt"), "{header}");
        }
        // The same check on its own, for a caller that learns the policy after parsing.
        assert!(TypPolicy::AccessToken.check(Some("at+jwt")).is_ok());
        assert!(TypPolicy::AccessToken.check(None).is_err());
        assert!(TypPolicy::Jwt.check(None).is_ok());
        assert!(TypPolicy::Jwt.check(Some("JWT")).is_ok());
    }

    #[test]
    fn kid_is_limited() {
        let at_limit = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(MAX_KID_BYTES));
        UntrustedToken::parse(&token(&at_limit, "{}")).unwrap();
        let over = format!(
            r#"{{"alg":"RS256","kid":"{}"}}"#,
            "k".repeat(MAX_KID_BYTES + 1)
        );
        assert_eq!(header_err(&over), "Token key id is too long");
        assert_eq!(
            header_err(r#"{"alg":"RS256","kid":7}"#),
            "Token key id is not a string"
        );
        assert_eq!(
            header_err(r#"{"alg":"RS256","kid":{"a":1}}"#),
            "Token key id is not a string"
        );
    }

    #[test]
    fn oversized_token_is_refused_before_decoding() {
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(err(&huge).description, "Token is too large");
        let limits = Limits {
            max_token_bytes: 10,
            ..Limits::default()
        };
        let refused =
            UntrustedToken::parse_with("aaaa.bbbb.cc", &limits, TypPolicy::Jwt).unwrap_err();
        assert_eq!(refused.description, "Token is too large");
    }

    #[test]
    fn empty_signature_is_refused() {
        let text = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(err(&text).description, "Token is not signed");
    }

    #[test]
    fn default_limits_are_the_documented_ones() {
        let limits = Limits::default();
        assert_eq!(limits.max_token_bytes, 8 * 1024);
        assert_eq!(limits.max_authorization_bytes, 8 * 1024 + 256);
        assert_eq!(limits.max_kid_bytes, 256);
        assert_eq!(limits.max_json_depth, 32);
    }
}

/// The RFC 8725 rules through the same steps the authenticator takes (parse, `alg` allowlist,
/// claims, key selection, signature) with real keys: every hostile token is refused with
/// `invalid_token` and never panics, and a valid one still passes. (The end-to-end proof through
/// Envoy is `tests/hostile.rs`.)
#[cfg(test)]
mod hostile {
    use super::UntrustedToken;
    use crate::error::{AuthError, ErrorCode};
    use crate::keys::jwks::{KeyMatch, KeySet};
    use crate::request::claims::{self, ClaimRules};
    use crate::verify::Algorithm;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;
    use sha2::{Digest, Sha256};
    use testbed::mint::{sign_raw_with, Alg, Key, KeyMaterial, MintRequest, Minter};

    const ISSUER: &str = "https://idp.example.test/";
    const AUDIENCE: &str = "https://api.example.test";

    fn minter() -> &'static Minter {
        static MINTER: std::sync::OnceLock<Minter> = std::sync::OnceLock::new();
        MINTER.get_or_init(|| Minter::generate(ISSUER, AUDIENCE).unwrap())
    }

    fn attacker(alg: Alg) -> &'static Key {
        static RSA: std::sync::OnceLock<Key> = std::sync::OnceLock::new();
        static EC: std::sync::OnceLock<Key> = std::sync::OnceLock::new();
        let cell = match alg {
            Alg::Rs256 => &RSA,
            Alg::Es384 => &EC,
            other => unreachable!("no attacker key for {other}"),
        };
        // The attacker's keys reuse the real kids, the most confusing case.
        cell.get_or_init(|| Key::generate(alg, minter().signing_key(alg).unwrap().kid()).unwrap())
    }

    fn jwks() -> serde_json::Value {
        json!({"keys": [
            minter().signing_key(Alg::Rs256).unwrap().public_jwk(),
            minter().signing_key(Alg::Es384).unwrap().public_jwk(),
        ]})
    }

    fn now() -> u64 {
        u64::try_from(testbed::mint::now_secs()).unwrap()
    }

    fn claims() -> String {
        json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": now() + 300}).to_string()
    }

    /// The authenticator's steps, with `allowed` as the provider's allowlist.
    fn run_with(token: &str, allowed: &[Algorithm]) -> Result<(), AuthError> {
        let invalid = |description| AuthError::new(ErrorCode::InvalidToken, description);
        let parsed = UntrustedToken::parse(token)?;
        let alg = Algorithm::from_name(&parsed.header.alg)
            .filter(|alg| allowed.contains(alg))
            .ok_or(invalid("Token algorithm is not allowed"))?;
        let audiences = [AUDIENCE.to_string()];
        let rules = ClaimRules {
            issuer: ISSUER,
            audiences: &audiences,
            clock_skew_seconds: 60,
            require_expiration: true,
        };
        claims::check(&parsed.claims, &rules, now())?;
        let keys = KeySet::parse(
            jwks().to_string().as_bytes(),
            &crate::verify::Verifier::default(),
        )
        .unwrap()
        .keys;
        match keys.verify_with(
            parsed.header.kid.as_deref(),
            alg,
            parsed.signing_input,
            &parsed.signature,
        ) {
            KeyMatch::Verified => Ok(()),
            KeyMatch::NoCandidateKey => Err(invalid("No key of the issuer matches the token")),
            KeyMatch::BadSignature => Err(invalid("Token signature is invalid")),
        }
    }

    /// With the default allowlist: every asymmetric algorithm.
    fn run(token: &str) -> Result<(), AuthError> {
        run_with(token, &Algorithm::ASYMMETRIC)
    }

    fn refused(token: &str) -> &'static str {
        let err = run(token).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidToken, "{err}");
        err.description
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `header.payload.signature` with the signature given as bytes.
    fn with_signature(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(signature)
        )
    }

    fn replace_signature(token: &str, signature: &[u8]) -> String {
        let (input, _) = token.rsplit_once('.').unwrap();
        format!("{input}.{}", b64(signature))
    }

    /// HMAC-SHA256 (RFC 2104), for forging HS256 tokens keyed with public key bytes.
    fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut block = [0_u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
        let inner = Sha256::new()
            .chain_update(pad(0x36))
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(pad(0x5c))
            .chain_update(inner)
            .finalize()
            .to_vec()
    }

    fn rsa_modulus() -> Vec<u8> {
        let KeyMaterial::Rsa(key) = minter().signing_key(Alg::Rs256).unwrap().material() else {
            unreachable!()
        };
        use rsa::traits::PublicKeyParts;
        key.n().to_bytes_be()
    }

    #[test]
    fn valid_tokens_pass() {
        for alg in [Alg::Rs256, Alg::Es384] {
            run(&minter().mint(&MintRequest::new(alg)).unwrap()).unwrap();
        }
    }

    #[test]
    fn alg_none_in_any_spelling() {
        for alg in ["none", "None", "NONE", "nOnE", "none ", ""] {
            let header = format!(r#"{{"alg":"{alg}"}}"#);
            // Unsigned, as a none token is meant to be, and with a real signature too.
            let unsigned = format!("{}.{}.", b64(header.as_bytes()), b64(claims().as_bytes()));
            assert_eq!(refused(&unsigned), "Token is not signed", "{alg}");
            let signed = minter().sign_raw(Alg::Rs256, &header, &claims()).unwrap();
            assert_eq!(refused(&signed), "Token algorithm is not allowed", "{alg}");
        }
    }

    #[test]
    fn hmac_keyed_with_the_public_key_is_refused() {
        let public_jwk = minter()
            .signing_key(Alg::Rs256)
            .unwrap()
            .public_jwk()
            .to_string();
        for alg in ["HS256", "HS384", "HS512", "hs256"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#);
            for secret in [rsa_modulus(), public_jwk.clone().into_bytes()] {
                let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
                let mac = hmac_sha256(&secret, input.as_bytes());
                let forged = format!("{input}.{}", b64(&mac));
                assert_eq!(refused(&forged), "Token algorithm is not allowed", "{alg}");
            }
        }
    }

    #[test]
    fn algorithms_outside_the_allowlist() {
        for alg in ["es384", "rs256", "RSA-OAEP", "ES256K", "Ed25519", "HS256"] {
            let header = format!(r#"{{"alg":"{alg}"}}"#);
            let signed = minter().sign_raw(Alg::Rs256, &header, &claims()).unwrap();
            assert_eq!(refused(&signed), "Token algorithm is not allowed", "{alg}");
        }
        // Allowed algorithms on an RS256 signature: the set's keys name their own `alg`
        // (RS256, ES384), so no key is a candidate for any other.
        for (alg, why) in [
            ("RS384", "No key of the issuer matches the token"),
            ("RS512", "No key of the issuer matches the token"),
            ("PS256", "No key of the issuer matches the token"),
            ("ES256", "No key of the issuer matches the token"),
            ("ES512", "No key of the issuer matches the token"),
            ("EdDSA", "No key of the issuer matches the token"),
        ] {
            let header = format!(r#"{{"alg":"{alg}"}}"#);
            let signed = minter().sign_raw(Alg::Rs256, &header, &claims()).unwrap();
            assert_eq!(refused(&signed), why, "{alg}");
        }
        // An allowlist narrower than the supported set is honoured.
        let rs = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
        let err = run_with(&rs, &[Algorithm::Es384]).unwrap_err();
        assert_eq!(err.description, "Token algorithm is not allowed");
    }

    #[test]
    fn alg_must_fit_the_key_type_and_curve() {
        // ES384 naming the RSA key's kid, signed by the EC key: the RSA key is no candidate.
        let header = r#"{"alg":"ES384","kid":"rsa-1"}"#;
        let token = minter().sign_raw(Alg::Es384, header, &claims()).unwrap();
        assert_eq!(refused(&token), "No key of the issuer matches the token");
        // RS256 naming the EC key's kid.
        let header = r#"{"alg":"RS256","kid":"ec-1"}"#;
        let token = minter().sign_raw(Alg::Rs256, header, &claims()).unwrap();
        assert_eq!(refused(&token), "No key of the issuer matches the token");
        // RS256 header over an ES384 signature (and the reverse), no kid: every fitting key fails.
        let token = minter()
            .sign_raw(Alg::Es384, r#"{"alg":"RS256"}"#, &claims())
            .unwrap();
        assert_eq!(refused(&token), "Token signature is invalid");
        let token = minter()
            .sign_raw(Alg::Rs256, r#"{"alg":"ES384"}"#, &claims())
            .unwrap();
        assert_eq!(refused(&token), "Token signature is invalid");
    }

    #[test]
    fn key_location_headers_never_supply_the_key() {
        for alg in [Alg::Rs256, Alg::Es384] {
            let key = attacker(alg);
            let jwk = key.public_jwk();
            for member in [
                json!({"jku": "http://127.0.0.1:9/jwks.json"}),
                json!({"x5u": "http://127.0.0.1:9/cert.pem"}),
                json!({"jwk": jwk}),
                json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
            ] {
                let mut header = member.as_object().unwrap().clone();
                header.insert("alg".into(), alg.name().into());
                header.insert("kid".into(), key.kid().into());
                let header = serde_json::Value::Object(header).to_string();
                let forged = sign_raw_with(key, &header, &claims()).unwrap();
                assert_eq!(refused(&forged), "Token signature is invalid", "{header}");
                // The same headers on a token the real key signed change nothing.
                let real = minter().sign_raw(alg, &header, &claims()).unwrap();
                run(&real).unwrap();
            }
        }
    }

    #[test]
    fn crit_and_b64_false_are_refused_even_when_signed() {
        for header in [
            r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
            r#"{"alg":"RS256","crit":["urn:example"],"urn:example":1}"#,
        ] {
            let token = minter().sign_raw(Alg::Rs256, header, &claims()).unwrap();
            assert_eq!(refused(&token), "Token uses an unsupported critical header");
        }
    }

    #[test]
    fn nested_tokens_are_refused_even_when_signed() {
        let inner = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
        let header = r#"{"alg":"RS256","cty":"JWT"}"#;
        // A nested JWT's payload is the inner token, which is not a JSON object either.
        let nested = minter().sign_raw(Alg::Rs256, header, &inner).unwrap();
        assert_eq!(
            refused(&nested),
            "Nested or encrypted tokens are not accepted"
        );
        let quoted = format!("\"{inner}\"");
        let nested = minter()
            .sign_raw(Alg::Rs256, r#"{"alg":"RS256"}"#, &quoted)
            .unwrap();
        assert_eq!(refused(&nested), "Token payload is not a JSON object");
    }

    #[test]
    fn duplicate_claims_are_refused_even_when_signed() {
        let payload = format!(
            r#"{{"iss":"https://evil/","aud":"{AUDIENCE}","exp":{},"iss":"{ISSUER}"}}"#,
            now() + 60
        );
        let token = minter()
            .sign_raw(Alg::Rs256, r#"{"alg":"RS256"}"#, &payload)
            .unwrap();
        assert_eq!(refused(&token), "Token payload has a duplicate member");
    }

    #[test]
    fn es384_signature_encodings() {
        let token = minter().mint(&MintRequest::new(Alg::Es384)).unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        let KeyMaterial::P384(key) = minter().signing_key(Alg::Es384).unwrap().material() else {
            unreachable!()
        };
        use p384::ecdsa::signature::Signer;
        let signature: p384::ecdsa::Signature = key.sign(input.as_bytes());
        // The same signature as DER is refused; raw r || s passes.
        let der = signature.to_der();
        assert_eq!(
            refused(&replace_signature(&token, der.as_bytes())),
            "Token signature is invalid"
        );
        run(&replace_signature(&token, &signature.to_bytes())).unwrap();
        // CVE-2022-21449: r = s = 0.
        assert_eq!(
            refused(&replace_signature(&token, &[0; 96])),
            "Token signature is invalid"
        );
        // r or s equal to the group order n, or all ones.
        let n = hex_bytes("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973");
        let raw = signature.to_bytes();
        let (r, s) = raw.split_at(48);
        for bad in [
            [n.as_slice(), s].concat(),
            [r, n.as_slice()].concat(),
            [n.as_slice(), n.as_slice()].concat(),
            vec![0xff; 96],
            [&[0_u8; 48][..], s].concat(),
            [r, &[0_u8; 48][..]].concat(),
        ] {
            assert_eq!(
                refused(&replace_signature(&token, &bad)),
                "Token signature is invalid"
            );
        }
        // Lengths other than 96.
        for len in [0_usize, 1, 64, 95, 97, 104, 132] {
            let bad = vec![1_u8; len];
            let expected = if len == 0 {
                "Token is not signed"
            } else {
                "Token signature is invalid"
            };
            assert_eq!(refused(&replace_signature(&token, &bad)), expected, "{len}");
        }
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rsa_signature_encodings() {
        let token = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
        let (_, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let n = rsa_modulus();
        assert_eq!(signature.len(), n.len());
        // One byte longer (a leading zero), one shorter, the modulus itself, above it, zero, one.
        let mut above = n.clone();
        *above.last_mut().unwrap() = above.last().unwrap().wrapping_add(1);
        for bad in [
            [&[0_u8][..], &signature].concat(),
            signature[1..].to_vec(),
            n.clone(),
            vec![0xff; n.len()],
            above,
            vec![0; n.len()],
            [vec![0; n.len() - 1], vec![1]].concat(),
        ] {
            assert_eq!(
                refused(&replace_signature(&token, &bad)),
                "Token signature is invalid"
            );
        }
        run(&replace_signature(&token, &signature)).unwrap();
    }

    #[test]
    fn deep_and_huge_inputs_are_refused_cheaply() {
        let deep = format!(
            r#"{{"alg":"RS256","x":{}{}}}"#,
            "[".repeat(2_000),
            "]".repeat(2_000)
        );
        let token = with_signature(&deep, &claims(), b"sig");
        assert_eq!(refused(&token), "Token header is nested too deeply");
        let huge = "a".repeat(1 << 20);
        assert_eq!(refused(&huge), "Token is too large");
        let segments = "a.".repeat(4_000);
        assert_eq!(refused(&segments), "Token is not a JWS in compact form");
    }
}
