//! Registered-claim checks (RFC 7519 section 4.1): `iss`, `aud`, `exp`, `nbf`.
//!
//! Time comes in as an argument, never from a clock here, so tests fix it and the host passes
//! proxy-wasm's `get_current_time`.

use crate::error::{AuthError, ErrorCode};
use serde_json::{Map, Value};

/// Latest NumericDate accepted: 9999-12-31T23:59:59Z. Later values are refused as malformed
/// rather than compared, so no arithmetic on them can overflow.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// What a provider demands of a token's claims.
#[derive(Clone, Copy, Debug)]
pub struct ClaimRules<'a> {
    /// The exact `iss` required.
    pub issuer: &'a str,
    /// Accepted audiences; empty means `aud` is not checked.
    pub audiences: &'a [String],
    /// Tolerance for `exp` and `nbf`.
    pub clock_skew_seconds: u64,
    /// Whether `exp` must be present.
    pub require_expiration: bool,
}

fn invalid(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidClaims, description)
}

/// The string `iss` of a claim set, if it has one.
pub fn issuer(claims: &Map<String, Value>) -> Option<&str> {
    claims.get("iss").and_then(Value::as_str)
}

/// Reads a NumericDate claim: absent, or a finite number within range.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&v) => Ok(Some(v)),
            _ => Err(invalid("A time claim is out of range")),
        },
        Some(_) => Err(invalid("A time claim is not a number")),
    }
}

/// Checks `exp`, `nbf`, `iat`, `iss` and `aud` at time `now` (seconds since the epoch).
///
/// `exp` is checked first so an expired token reads `token_expired` whatever else is wrong with
/// it, as in Envoy's verifier.
pub fn check(
    claims: &Map<String, Value>,
    rules: &ClaimRules<'_>,
    now: u64,
) -> Result<(), AuthError> {
    let now = now as f64;
    let skew = rules.clock_skew_seconds as f64;
    match numeric_date(claims, "exp")? {
        Some(exp) if now > exp + skew => {
            return Err(AuthError::new(ErrorCode::TokenExpired, "Token has expired"))
        }
        Some(_) => {}
        None if rules.require_expiration => return Err(invalid("Token has no expiration time")),
        None => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")? {
        if now + skew < nbf {
            return Err(invalid("Token is not yet valid"));
        }
    }
    numeric_date(claims, "iat")?;
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == rules.issuer => {}
        Some(Value::String(_)) => return Err(invalid("Token issuer is not accepted")),
        Some(_) => return Err(invalid("Token issuer is not a string")),
        None => return Err(invalid("Token has no issuer")),
    }
    if !rules.audiences.is_empty() {
        let accepted = |aud: &str| rules.audiences.iter().any(|a| a == aud);
        let ok = match claims.get("aud") {
            Some(Value::String(aud)) => accepted(aud),
            Some(Value::Array(items)) => {
                let mut any = false;
                for item in items {
                    match item {
                        Value::String(aud) => any |= accepted(aud),
                        _ => return Err(invalid("Token audience is not a string")),
                    }
                }
                any
            }
            Some(_) => return Err(invalid("Token audience is not a string")),
            None => return Err(invalid("Token has no audience")),
        };
        if !ok {
            return Err(invalid("Token audience is not accepted"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn rules(audiences: &[String]) -> ClaimRules<'_> {
        ClaimRules {
            issuer: "https://idp/",
            audiences,
            clock_skew_seconds: 60,
            require_expiration: true,
        }
    }

    fn run(claims: Value) -> Result<(), AuthError> {
        let audiences = vec!["api".to_string()];
        check(claims.as_object().unwrap(), &rules(&audiences), NOW)
    }

    fn code(claims: Value) -> ErrorCode {
        run(claims).unwrap_err().code
    }

    #[test]
    fn valid_claims_pass() {
        run(json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10})).unwrap();
        run(json!({"iss": "https://idp/", "aud": ["x", "api"], "exp": NOW, "nbf": NOW})).unwrap();
        run(json!({"iss": "https://idp/", "aud": "api", "exp": (NOW as f64) + 0.5})).unwrap();
    }

    #[test]
    fn expiry_honours_skew() {
        run(json!({"iss": "https://idp/", "aud": "api", "exp": NOW - 60})).unwrap();
        assert_eq!(
            code(json!({"iss": "https://idp/", "aud": "api", "exp": NOW - 61})),
            ErrorCode::TokenExpired
        );
    }

    #[test]
    fn not_before_honours_skew() {
        run(json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 999, "nbf": NOW + 60}))
            .unwrap();
        assert_eq!(
            code(json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 999, "nbf": NOW + 61})),
            ErrorCode::InvalidClaims
        );
    }

    #[test]
    fn expiration_required_by_default() {
        assert_eq!(
            code(json!({"iss": "https://idp/", "aud": "api"})),
            ErrorCode::InvalidClaims
        );
        let audiences = vec!["api".to_string()];
        let mut lenient = rules(&audiences);
        lenient.require_expiration = false;
        let claims = json!({"iss": "https://idp/", "aud": "api"});
        check(claims.as_object().unwrap(), &lenient, NOW).unwrap();
    }

    #[test]
    fn wrong_types_are_invalid_claims() {
        for claims in [
            json!({"iss": "https://idp/", "aud": "api", "exp": "1800000000"}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "nbf": true}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "iat": null}),
            json!({"iss": "https://idp/", "aud": "api", "exp": -1}),
            json!({"iss": "https://idp/", "aud": "api", "exp": 1e300}),
            json!({"iss": 7, "aud": "api", "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": 7, "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": ["api", 7], "exp": NOW + 10}),
        ] {
            assert_eq!(code(claims.clone()), ErrorCode::InvalidClaims, "{claims}");
        }
    }

    #[test]
    fn issuer_and_audience_must_match_exactly() {
        for claims in [
            json!({"iss": "https://idp", "aud": "api", "exp": NOW + 10}),
            json!({"iss": "https://IDP/", "aud": "api", "exp": NOW + 10}),
            json!({"aud": "api", "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": "API", "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": [], "exp": NOW + 10}),
            json!({"iss": "https://idp/", "exp": NOW + 10}),
        ] {
            assert_eq!(code(claims.clone()), ErrorCode::InvalidClaims, "{claims}");
        }
    }

    #[test]
    fn empty_audience_list_skips_the_check() {
        let claims = json!({"iss": "https://idp/", "exp": NOW + 10});
        check(claims.as_object().unwrap(), &rules(&[]), NOW).unwrap();
    }
}
