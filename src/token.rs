//! Strict parsing of a compact JWS (RFC 7515 section 7.1) before anything is trusted.
//!
//! Parsing checks structure only. Nothing here is believed until the signature has been checked
//! against a key of the provider the (still untrusted) `iss` names.

use crate::error::{AuthError, ErrorCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// Tokens longer than this are refused before any decoding (8 KiB, as large IdP tokens go).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

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
    /// Splits and decodes a compact JWS, refusing anything that is not exactly one.
    pub fn parse(token: &'a str) -> Result<Self, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed("Token is too large"));
        }
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
        let header = parse_header(&header_bytes)?;
        let claims = match serde_json::from_slice::<Value>(&payload_bytes) {
            Ok(Value::Object(map)) => map,
            _ => return Err(malformed("Token payload is not a JSON object")),
        };
        let signing_len = header_b64.len() + 1 + payload_b64.len();
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

/// Header media types accepted in `typ` (RFC 7519 section 5.1, RFC 9068 section 2.1).
const ACCEPTED_TYP: [&str; 4] = ["jwt", "at+jwt", "application/jwt", "application/at+jwt"];

fn parse_header(bytes: &[u8]) -> Result<Header, AuthError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(malformed("Token header is not a JSON object"));
    };
    let alg = match map.get("alg") {
        Some(Value::String(alg)) => alg.clone(),
        _ => return Err(malformed("Token header has no algorithm")),
    };
    let kid = match map.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("Token key id is not a string")),
    };
    let typ = match map.get("typ") {
        None => None,
        Some(Value::String(typ)) => {
            if !ACCEPTED_TYP.iter().any(|t| t.eq_ignore_ascii_case(typ)) {
                return Err(malformed("Token type is not accepted"));
            }
            Some(typ.clone())
        }
        Some(_) => return Err(malformed("Token type is not a string")),
    };
    // This filter implements no JWS extension, so any critical one is refused (RFC 7515 4.1.11).
    if map.contains_key("crit") {
        return Err(malformed("Token uses an unsupported critical header"));
    }
    // A nested JWT or an encrypted token is never accepted as a plain signed one.
    if map.contains_key("enc") || map.contains_key("cty") {
        return Err(malformed("Nested or encrypted tokens are not accepted"));
    }
    Ok(Header { alg, kid, typ })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    fn err(token: &str) -> AuthError {
        UntrustedToken::parse(token).unwrap_err()
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
        for text in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "..."] {
            assert_eq!(err(text).code, ErrorCode::InvalidToken, "{text}");
        }
    }

    #[test]
    fn bad_base64_is_refused() {
        let good = token(r#"{"alg":"RS256"}"#, "{}");
        assert!(UntrustedToken::parse(&good).is_ok());
        assert_eq!(err(&format!("{good}=")).code, ErrorCode::InvalidToken);
        assert_eq!(
            err(&good.replacen('.', "+.", 1)).code,
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn header_must_name_an_algorithm() {
        assert_eq!(err(&token("{}", "{}")).code, ErrorCode::InvalidToken);
        assert_eq!(
            err(&token(r#"{"alg":1}"#, "{}")).code,
            ErrorCode::InvalidToken
        );
        assert_eq!(err(&token("[]", "{}")).code, ErrorCode::InvalidToken);
        assert_eq!(err(&token("not json", "{}")).code, ErrorCode::InvalidToken);
    }

    #[test]
    fn payload_must_be_an_object() {
        assert_eq!(
            err(&token(r#"{"alg":"RS256"}"#, "[1]")).code,
            ErrorCode::InvalidToken
        );
        assert_eq!(
            err(&token(r#"{"alg":"RS256"}"#, "x")).code,
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn crit_nested_and_encrypted_are_refused() {
        for header in [
            r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
            r#"{"alg":"RS256","cty":"JWT"}"#,
            r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
        ] {
            assert_eq!(
                err(&token(header, "{}")).code,
                ErrorCode::InvalidToken,
                "{header}"
            );
        }
    }

    #[test]
    fn typ_allowlist() {
        for typ in ["JWT", "jwt", "at+jwt", "application/at+jwt"] {
            let header = format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#);
            assert!(
                UntrustedToken::parse(&token(&header, "{}")).is_ok(),
                "{typ}"
            );
        }
        assert!(
            UntrustedToken::parse(&token(r#"{"alg":"RS256","typ":"JOSE+JSON"}"#, "{}")).is_err()
        );
    }

    #[test]
    fn oversized_token_is_refused_before_decoding() {
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(err(&huge).description, "Token is too large");
    }

    #[test]
    fn empty_signature_is_refused() {
        let text = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(err(&text).code, ErrorCode::InvalidToken);
    }
}
