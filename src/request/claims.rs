//! Registered-claim checks (RFC 7519 section 4.1): `iss`, `aud`, `exp`, `nbf`.
//!
//! Time comes in as an argument, never from a clock here, so tests fix it and the host passes
//! proxy-wasm's `get_current_time`.

use crate::error::{AuthError, ErrorCode};
use serde_json::{Map, Value};

/// Latest NumericDate accepted: 9999-12-31T23:59:59Z. Later values are refused as malformed
/// rather than compared, so no arithmetic on them can overflow; the host clock (proxy-wasm's
/// `u64` nanoseconds) ends in 2554, so no real `exp` is cut short by this bound.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// What a provider demands of a token's claims.
#[derive(Clone, Copy, Debug)]
pub struct ClaimRules<'a> {
    /// The exact `iss` required; `None` takes any (a string, or none).
    pub issuer: Option<&'a str>,
    /// Accepted audiences; empty means `aud` is not checked.
    pub audiences: &'a [String],
    /// Tolerance for `exp` and `nbf`.
    pub clock_skew_seconds: u64,
    /// Whether `exp` must be present.
    pub require_expiration: bool,
    /// The longest `exp - iat` accepted; with it, both claims must be present.
    pub max_lifetime_seconds: Option<u64>,
    /// What `sub` must match; with it, `sub` must be present.
    pub subjects: Option<&'a crate::config::provider::SubjectMatcher>,
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

/// Checks `exp`, `nbf`, `iat`, `iss`, `sub`, `jti` and `aud` at time `now` (seconds since the
/// epoch).
///
/// Types are strict: the three times are JSON numbers within `0..=`[`MAX_NUMERIC_DATE`] (a
/// string, `null`, a boolean or a negative number is refused, and JSON has no NaN or infinity),
/// `iss`, `sub` and `jti` are strings, `aud` a string or an array of strings. Comparisons happen in
/// `f64` between bounded values, so nothing here can overflow.
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
    let iat = numeric_date(claims, "iat")?;
    if let Some(max) = rules.max_lifetime_seconds {
        match (iat, numeric_date(claims, "exp")?) {
            (Some(iat), Some(exp)) if exp - iat <= max as f64 => {}
            (Some(_), Some(_)) => return Err(invalid("Token lifetime is too long")),
            _ => return Err(invalid("Token lacks the iat or exp its lifetime needs")),
        }
    }
    match (claims.get("iss"), rules.issuer) {
        (Some(Value::String(iss)), Some(issuer)) if iss == issuer => {}
        (Some(Value::String(_)), Some(_)) => return Err(invalid("Token issuer is not accepted")),
        (Some(Value::String(_)) | None, None) => {}
        (Some(_), _) => return Err(invalid("Token issuer is not a string")),
        (None, Some(_)) => return Err(invalid("Token has no issuer")),
    }
    for name in ["sub", "jti"] {
        if claims.get(name).is_some_and(|value| !value.is_string()) {
            return Err(invalid("A registered claim is not a string"));
        }
    }
    if let Some(subjects) = rules.subjects {
        match claims.get("sub").and_then(Value::as_str) {
            Some(sub) if subjects.matches(sub) => {}
            Some(_) => return Err(invalid("Token subject is not accepted")),
            None => return Err(invalid("Token has no subject")),
        }
    }
    // `aud` is a string or an array of strings (RFC 7519 section 4.1.3) even when it is not
    // checked, so a malformed one never passes on to whatever reads the claims next.
    let audience: Vec<&str> = match claims.get("aud") {
        None => Vec::new(),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .ok_or_else(|| invalid("Token audience is not a string"))?,
        Some(_) => return Err(invalid("Token audience is not a string")),
    };
    if !rules.audiences.is_empty() {
        if !claims.contains_key("aud") {
            return Err(invalid("Token has no audience"));
        }
        if !audience
            .iter()
            .any(|aud| rules.audiences.iter().any(|a| a == aud))
        {
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
            issuer: Some("https://idp/"),
            audiences,
            clock_skew_seconds: 60,
            require_expiration: true,
            max_lifetime_seconds: None,
            subjects: None,
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
            json!({"iss": "https://idp/", "aud": ["api", null], "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": ["api", ["api"]], "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": {"api": true}, "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": null, "exp": NOW + 10}),
            json!({"iss": ["https://idp/"], "aud": "api", "exp": NOW + 10}),
            json!({"iss": null, "aud": "api", "exp": NOW + 10}),
            json!({"iss": "https://idp/", "aud": "api", "exp": [NOW + 10]}),
            json!({"iss": "https://idp/", "aud": "api", "exp": {"t": NOW + 10}}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "nbf": "0"}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "iat": -0.5}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "iat": 253_402_300_800_u64}),
            json!({"iss": "https://idp/", "aud": "api", "exp": u64::MAX}),
            json!({"iss": "https://idp/", "aud": "api", "exp": i64::MIN}),
            json!({"iss": "https://idp/", "aud": "api", "exp": f64::MAX}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "sub": 1}),
            json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "jti": null}),
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
    fn a_provider_without_issuer_takes_any_string_issuer_or_none() {
        let audiences = vec!["api".to_string()];
        let any = ClaimRules {
            issuer: None,
            ..rules(&audiences)
        };
        for claims in [
            json!({"iss": "https://other/", "aud": "api", "exp": NOW + 10}),
            json!({"aud": "api", "exp": NOW + 10}),
        ] {
            check(claims.as_object().unwrap(), &any, NOW).unwrap();
        }
        let claims = json!({"iss": 7, "aud": "api", "exp": NOW + 10});
        let err = check(claims.as_object().unwrap(), &any, NOW).unwrap_err();
        assert_eq!(
            (err.code, err.description),
            (ErrorCode::InvalidClaims, "Token issuer is not a string")
        );
    }

    #[test]
    fn empty_audience_list_skips_the_check_but_not_the_type() {
        for claims in [
            json!({"iss": "https://idp/", "exp": NOW + 10}),
            json!({"iss": "https://idp/", "exp": NOW + 10, "aud": "x"}),
            json!({"iss": "https://idp/", "exp": NOW + 10, "aud": []}),
        ] {
            check(claims.as_object().unwrap(), &rules(&[]), NOW).unwrap();
        }
        for claims in [
            json!({"iss": "https://idp/", "exp": NOW + 10, "aud": 1}),
            json!({"iss": "https://idp/", "exp": NOW + 10, "aud": [1]}),
        ] {
            let err = check(claims.as_object().unwrap(), &rules(&[]), NOW).unwrap_err();
            assert_eq!(err.description, "Token audience is not a string");
        }
    }

    #[test]
    fn time_claims_at_the_edges() {
        // The largest accepted NumericDate, fractional times, and zero.
        run(json!({"iss": "https://idp/", "aud": "api", "exp": MAX_NUMERIC_DATE})).unwrap();
        run(json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "nbf": 0, "iat": 0.0}))
            .unwrap();
        run(json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10, "iat": -0.0})).unwrap();
        // Extreme clocks and skews cannot overflow either.
        let audiences = vec!["api".to_string()];
        let mut wide = rules(&audiences);
        wide.clock_skew_seconds = u64::MAX;
        let claims =
            json!({"iss": "https://idp/", "aud": "api", "exp": 0, "nbf": MAX_NUMERIC_DATE});
        check(claims.as_object().unwrap(), &wide, u64::MAX).unwrap();
        let claims = json!({"iss": "https://idp/", "aud": "api", "exp": MAX_NUMERIC_DATE});
        check(claims.as_object().unwrap(), &rules(&audiences), u64::MAX).unwrap_err();
        check(claims.as_object().unwrap(), &rules(&audiences), 0).unwrap();
    }

    #[test]
    fn max_lifetime_bounds_exp_minus_iat_and_needs_both() {
        let audiences = vec!["api".to_string()];
        let mut bounded = rules(&audiences);
        bounded.max_lifetime_seconds = Some(3_600);
        let base = json!({"iss": "https://idp/", "aud": "api"});
        let with = |extra: Value| {
            let mut claims = base.as_object().unwrap().clone();
            claims.extend(extra.as_object().unwrap().clone());
            check(&claims, &bounded, NOW)
        };
        assert_eq!(with(json!({"iat": NOW, "exp": NOW + 3_600})), Ok(()));
        let too_long = with(json!({"iat": NOW, "exp": NOW + 3_601})).unwrap_err();
        assert_eq!(too_long.code, ErrorCode::InvalidClaims);
        assert_eq!(too_long.description, "Token lifetime is too long");
        let no_iat = with(json!({"exp": NOW + 60})).unwrap_err();
        assert_eq!(
            no_iat.description,
            "Token lacks the iat or exp its lifetime needs"
        );
    }

    #[test]
    fn subjects_check_sub_and_need_it() {
        use crate::config::provider::{SubjectMatch, SubjectMatcher};
        let audiences = vec!["api".to_string()];
        let matcher = |kind, value: &str, ignore_case| SubjectMatcher {
            kind,
            value: value.into(),
            ignore_case,
        };
        let run_with = |matcher: &SubjectMatcher, claims: Value| {
            let rules = ClaimRules {
                subjects: Some(matcher),
                ..rules(&audiences)
            };
            let mut all = json!({"iss": "https://idp/", "aud": "api", "exp": NOW + 10});
            all.as_object_mut()
                .unwrap()
                .extend(claims.as_object().unwrap().clone());
            check(all.as_object().unwrap(), &rules, NOW)
        };
        let spiffe = "spiffe://example.org/ns/a/sa/b";
        for (kind, value, ignore_case, sub, ok) in [
            (SubjectMatch::Exact, spiffe, false, spiffe, true),
            (
                SubjectMatch::Exact,
                spiffe,
                false,
                "spiffe://example.org/ns/a",
                false,
            ),
            (
                SubjectMatch::Prefix,
                "spiffe://example.org/",
                false,
                spiffe,
                true,
            ),
            (
                SubjectMatch::Prefix,
                "spiffe://example.org/",
                false,
                "SPIFFE://example.org/x",
                false,
            ),
            (
                SubjectMatch::Prefix,
                "spiffe://example.org/",
                true,
                "SPIFFE://example.org/x",
                true,
            ),
            (SubjectMatch::Suffix, "/sa/b", false, spiffe, true),
            (SubjectMatch::Suffix, "/sa/c", false, spiffe, false),
            (SubjectMatch::Contains, "/ns/a/", false, spiffe, true),
            (SubjectMatch::Contains, "/ns/z/", false, spiffe, false),
        ] {
            let result = run_with(&matcher(kind, value, ignore_case), json!({"sub": sub}));
            if ok {
                assert_eq!(result, Ok(()), "{kind:?} {value} {sub}");
            } else {
                let err = result.unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidClaims);
                assert_eq!(err.description, "Token subject is not accepted");
            }
        }
        let exact = matcher(SubjectMatch::Exact, spiffe, false);
        let err = run_with(&exact, json!({})).unwrap_err();
        assert_eq!(err.description, "Token has no subject");
        let err = run_with(&exact, json!({"sub": 7})).unwrap_err();
        assert_eq!(err.description, "A registered claim is not a string");
    }
}
