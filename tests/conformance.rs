//! Conformance with Envoy's JWT library: every `verify`- and `time`-stage vector of
//! ../shared/jwt_verify_lib_vectors, all 15 algorithms, run through the pure core (token parsing,
//! claims at the case's fixed clock, key selection, signature) exactly as the filter runs it,
//! with the key set as a provider's `local_jwks` (a JWKS, or one PEM key as Envoy also takes).
//!
//! Agreement is accept versus reject, plus the error code the library's status maps to. Where this
//! project differs on purpose, the case is listed in `DELIBERATE` with the reason
//! (docs/conformance.md repeats the list); the test fails if the set of disagreements changes,
//! and when the vectors are missing.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use jwt_authn_wasm::config::Config;
use jwt_authn_wasm::error::ErrorCode;
use jwt_authn_wasm::keys::local::local_key_set;
use jwt_authn_wasm::request::authenticator;
use jwt_authn_wasm::verify::Verifier;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Cases where this filter deliberately disagrees with jwt_verify_lib, and why.
const DELIBERATE: &[(&str, &str)] = &[
    (
        "jvl_x509_nokid_ok",
        "the token's signature is padded base64url (`=`), which RFC 7515 section 2 forbids; \
         tokens are parsed strictly",
    ),
    (
        "jvl_pem_es256_token_vs_key_alg_es512",
        "a key whose `alg` contradicts its curve is skipped when the key set is read, so a \
         key set of only that key is refused at configuration (upstream keeps it and refuses tokens)",
    ),
    (
        "jvl_pem_eddsa_key_alg_rs256",
        "a key whose `alg` contradicts its type is skipped when the key set is read, so a key \
         set of only that key is refused at configuration (upstream keeps it and refuses tokens)",
    ),
];

fn vectors() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/jwt_verify_lib_vectors");
    assert!(
        dir.join("manifest.json").exists(),
        "{} is missing: the conformance vectors are part of the test suite",
        dir.display()
    );
    dir
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

/// The token header's `alg`, as the case's key set must be configured for.
fn token_alg(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap_or_default();
    let header: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    header["alg"].as_str().unwrap_or_default().to_string()
}

/// Runs one case through the core: `Ok(())` if accepted, else the code (`Err(Err(..))` when the
/// configuration itself is refused).
fn run(case: &Value) -> Result<(), Result<ErrorCode, String>> {
    let audiences = case["audiences"].clone();
    let token = case["token"].as_str().unwrap();
    // The time stage's signatures are junk by design (some are not even canonical base64url,
    // which this parser refuses); only the time check is meaningful, so any bytes do.
    let junk_signed;
    let token = if case["stage"] == "time" {
        let (input, _) = token.rsplit_once('.').unwrap();
        junk_signed = format!("{input}.AAAA");
        junk_signed.as_str()
    } else {
        token
    };
    // The library checks neither the issuer nor a token size of its own (Envoy's bound is its
    // 60 KiB request-header limit): the provider leaves `issuer` out, as jwt_authn allows, and the
    // token limit is raised to that bound. Both are filter-level checks with their own tests.
    let mut provider = json!({
        "name": "vectors",
        "audiences": if audiences.is_null() { json!([]) } else { audiences },
        "clock_skew_seconds": case["clock_skew_seconds"].as_u64().unwrap_or(60),
        // jwt_verify_lib accepts tokens without `exp`.
        "require_expiration": false
    });
    match case["jwks"].as_str() {
        Some(jwks) => {
            provider["local_jwks"] = json!({ "inline_string": jwks });
            // HMAC keys are used only where listed; list the case's own algorithm then.
            let alg = token_alg(token);
            if alg.starts_with("HS") {
                provider["algorithms"] = json!([alg]);
            }
        }
        // The time stage: the signature is never reached.
        None => {
            provider["remote_jwks"] =
                json!({"http_uri": {"uri": "https://vectors.invalid/jwks", "cluster": "c"}});
        }
    }
    let config = json!({
        "providers": [provider],
        "limits": {"max_token_bytes": 60 * 1024, "max_authorization_bytes": 60 * 1024 + 256},
    });
    let config = Config::parse(config.to_string().as_bytes()).map_err(|e| Err(e.to_string()))?;
    // Local keys are parsed as the host parses them at configure time.
    let keys = local_key_set(&config.providers[0], 0, &Verifier::default())
        .map_err(|e| Err(e.to_string()))?;
    let now = case["now"].as_u64().unwrap();
    let prepared = authenticator::prepare(&config, None, token, now).map_err(|e| {
        println!("    {}: {}", case["name"], e.description);
        Ok(e.code)
    })?;
    if case["stage"] == "time" {
        return Ok(());
    }
    let keys = keys.ok_or(Err("no key set".to_string()))?;
    prepared.verify(&keys).map(|_| ()).map_err(|e| Ok(e.code))
}

#[test]
fn verify_and_time_vectors_of_every_algorithm() {
    let dir = vectors();
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut agreed = 0;
    let mut disagreements: Vec<(String, String)> = Vec::new();
    let mut total = 0;
    let mut algorithms = std::collections::BTreeSet::new();
    for entry in &manifest {
        if !matches!(entry["stage"].as_str(), Some("verify" | "time")) {
            continue;
        }
        total += 1;
        let name = entry["name"].as_str().unwrap().to_string();
        let case: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(entry["file"].as_str().unwrap())).unwrap(),
        )
        .unwrap();
        algorithms.insert(token_alg(case["token"].as_str().unwrap()));
        let expected = expected_code(case["expected_status"].as_str().unwrap());
        let outcome = match case["pem_alg_override"].as_str() {
            // Upstream sets `alg` on the parsed PEM key in code; a PEM key here has none, so
            // the case runs with the key set as a JWK carrying that `alg`.
            Some(alg) => run(&with_pem_as_jwk(&case, alg)),
            None => run(&case),
        };
        let agrees = match (&outcome, expected) {
            (Ok(()), None) => true,
            (Err(Ok(code)), Some(want)) => *code == want,
            _ => false,
        };
        if agrees {
            agreed += 1;
        } else {
            disagreements.push((name, format!("{outcome:?}, expected {expected:?}")));
        }
    }
    println!("{agreed} of {total} verify and time vectors agree, over {algorithms:?}");
    for (name, why) in &disagreements {
        println!("  differs: {name}: {why}");
    }
    let unexplained: Vec<&(String, String)> = disagreements
        .iter()
        .filter(|(name, _)| !DELIBERATE.iter().any(|(n, _)| n == name))
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
    assert_eq!(total, 71, "the vector set changed");
    // 15 algorithms: RS/PS/ES 256-512, EdDSA, HS 256-512.
    assert_eq!(algorithms.len(), 13, "{algorithms:?}");
    assert_eq!(agreed, total - DELIBERATE.len());
    assert_eq!(
        total, 71,
        "the corpus has 67 verify- and 4 time-stage cases"
    );
    assert!(agreed * 100 >= total * 95, "agreement fell below 95 %");
}

/// The case with its PEM key given as a JWK with `alg` (see the caller).
fn with_pem_as_jwk(case: &Value, alg: &str) -> Value {
    let pem = case["jwks"].as_str().unwrap();
    let jwk = pem_to_jwk(pem, alg);
    let mut case = case.clone();
    case["jwks"] = json!(json!({ "keys": [jwk] }).to_string());
    case
}

/// A PEM SubjectPublicKeyInfo as a JWK, decoded with RustCrypto (not with the filter's reader).
fn pem_to_jwk(pem: &str, alg: &str) -> Value {
    use base64::Engine as _;
    use p256::pkcs8::DecodePublicKey as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    if let Ok(key) = p256::PublicKey::from_public_key_pem(pem) {
        let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
        return json!({"kty": "EC", "crv": "P-256", "alg": alg,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    }
    if let Ok(key) = p384::PublicKey::from_public_key_pem(pem) {
        let point = p384::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
        return json!({"kty": "EC", "crv": "P-384", "alg": alg,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    }
    if let Ok(key) = p521::PublicKey::from_public_key_pem(pem) {
        let point = p521::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&key, false);
        return json!({"kty": "EC", "crv": "P-521", "alg": alg,
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())});
    }
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
        return json!({"kty": "OKP", "crv": "Ed25519", "alg": alg, "x": b64(key.as_bytes())});
    }
    let key = rsa::RsaPublicKey::from_public_key_pem(pem).unwrap();
    use rsa::traits::PublicKeyParts as _;
    json!({"kty": "RSA", "alg": alg, "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
}
