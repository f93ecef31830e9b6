//! Conformance with Envoy's JWT library: every `verify`-stage vector of
//! ../shared/jwt_verify_lib_vectors for RS256 and ES384, run through the pure core (token parsing,
//! claims at the case's fixed clock, key selection, signature) exactly as the filter runs it.
//!
//! Agreement is accept versus reject, plus the error code the library's status maps to. Where this
//! project differs on purpose, the case is listed in `DELIBERATE` with the reason (the README's
//! "Conformance" section repeats the list); the test fails if the set of disagreements changes.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use jwt_authn_wasm::authenticator;
use jwt_authn_wasm::config::Config;
use jwt_authn_wasm::error::ErrorCode;
use jwt_authn_wasm::jwks::KeySet;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Cases where this filter deliberately disagrees with jwt_verify_lib, and why.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "jvl_rs256_long_claims_ok",
        "the token is about 11 KB, over the 8 KiB token size limit (refused before decoding)",
    ),
    (
        "jvl_pem_rs256_ok",
        "PEM key sets are not supported; providers publish JWKS",
    ),
    (
        "jvl_pem_es384_curve_unspecified_ok",
        "PEM key sets are not supported; providers publish JWKS",
    ),
    (
        "jvl_x509_nokid_ok",
        "Google's x509 certificate map is not a JWKS and is not supported",
    ),
    (
        "jvl_x509_real_token_ok",
        "Google's x509 certificate map is not a JWKS and is not supported",
    ),
];

/// Cases whose key set has a trailing comma (`jwks_strict_json_ok: false`): protobuf's JSON parser
/// accepts it, this filter's strict parser refuses the document (a fetch of it fails). They are
/// also run with the comma removed, and must then agree.
const LENIENT_JSON_ONLY: &str = "key set is not strict JSON (trailing comma); refused as a whole";

fn vectors() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/jwt_verify_lib_vectors");
    dir.join("manifest.json").exists().then_some(dir)
}

/// The code this filter should answer for a jwt_verify_lib status, `None` for `Ok`.
fn expected_code(status: &str) -> Option<ErrorCode> {
    match status {
        "Ok" => None,
        "JwtExpired" => Some(ErrorCode::TokenExpired),
        "JwtNotYetValid" | "JwtAudienceNotAllowed" => Some(ErrorCode::InvalidClaims),
        _ => Some(ErrorCode::InvalidToken),
    }
}

/// Removes commas that directly precede `}` or `]` (outside strings), the only leniency the
/// vectors need.
fn strip_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Runs one case through the core: `Ok(())` if accepted, else the code.
fn run(case: &Value, jwks: &str) -> Result<(), Result<ErrorCode, String>> {
    let claims = &case["claims"];
    let issuer = claims["iss"].as_str().unwrap_or("https://issuer.invalid/");
    let audiences = case["audiences"].clone();
    let config = json!({
        "providers": [{
            "name": "vectors",
            "issuer": issuer,
            "audiences": if audiences.is_null() { json!([]) } else { audiences },
            "remote_jwks": {"http_uri": {"uri": "https://vectors.invalid/jwks", "cluster": "c"}},
            "clock_skew_seconds": case["clock_skew_seconds"].as_u64().unwrap_or(60),
            // jwt_verify_lib accepts tokens without `exp`.
            "require_expiration": false
        }]
    });
    let config = Config::parse(config.to_string().as_bytes()).unwrap();
    let now = case["now"].as_u64().unwrap();
    let token = case["token"].as_str().unwrap();
    let prepared = authenticator::prepare(&config, None, token, now).map_err(|e| Ok(e.code))?;
    let keys = KeySet::parse(
        jwks.as_bytes(),
        &jwt_authn_wasm::verify::Verifier::default(),
    )
    .map_err(|e| Err(format!("key set refused: {e}")))?;
    prepared
        .verify(&keys.keys)
        .map(|_| ())
        .map_err(|e| Ok(e.code))
}

#[test]
fn rs256_and_es384_verify_vectors() {
    let Some(dir) = vectors() else {
        eprintln!("conformance vectors not found beside the checkout; skipped");
        return;
    };
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut agreed = 0;
    let mut disagreements: Vec<(String, String)> = Vec::new();
    let mut total = 0;
    for entry in &manifest {
        if entry["stage"] != "verify" || !matches!(entry["alg"].as_str(), Some("RS256" | "ES384")) {
            continue;
        }
        total += 1;
        let name = entry["name"].as_str().unwrap().to_string();
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(entry["file"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        let expected = expected_code(case["expected_status"].as_str().unwrap());
        let jwks = case["jwks"].as_str().unwrap_or_default();
        let outcome = if case["jwks_type"] == "PEM" {
            Err(Err("PEM key set".to_string()))
        } else {
            run(&case, jwks)
        };
        let agrees = |outcome: &Result<(), Result<ErrorCode, String>>| match (outcome, expected) {
            (Ok(()), None) => true,
            (Err(Ok(code)), Some(want)) => *code == want,
            _ => false,
        };
        if agrees(&outcome) {
            agreed += 1;
            continue;
        }
        if case["jwks_strict_json_ok"] == false {
            let lenient = run(&case, &strip_trailing_commas(jwks));
            assert!(
                agrees(&lenient),
                "{name}: still disagrees with the trailing comma removed: {lenient:?}, expected {expected:?}"
            );
            disagreements.push((name, LENIENT_JSON_ONLY.to_string()));
        } else {
            disagreements.push((name, format!("{outcome:?}, expected {expected:?}")));
        }
    }
    println!("{agreed} of {total} RS256/ES384 verify vectors agree");
    for (name, why) in &disagreements {
        println!("  differs: {name}: {why}");
    }
    let unexplained: Vec<&(String, String)> = disagreements
        .iter()
        .filter(|(name, why)| {
            why != LENIENT_JSON_ONLY && !DELIBERATE.iter().any(|(n, _)| n == name)
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "unexplained disagreements: {unexplained:#?}"
    );
    let listed_but_agreeing: Vec<&&str> = DELIBERATE
        .iter()
        .map(|(n, _)| n)
        .filter(|n| !disagreements.iter().any(|(d, _)| d == **n))
        .collect();
    assert!(
        listed_but_agreeing.is_empty(),
        "now agree, update DELIBERATE: {listed_but_agreeing:?}"
    );
    assert_eq!(total, 33, "the vector set changed");
}
