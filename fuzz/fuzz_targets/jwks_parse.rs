//! JWKS documents as a provider (or whoever sits between it and Envoy) might serve them, read
//! both as a fetched key set (`KeySet::parse`: `oct` keys are skipped) and as a configured one
//! (`KeySet::parse_local`: `oct` keys, HMAC secrets, are taken), then every key is tried with
//! every algorithm. Seeds hold a key of every algorithm (`all_keys.json`).
#![no_main]

use jwt_authn_wasm::keys::jwks::{KeyMatch, KeySet, ParsedKeySet};
use jwt_authn_wasm::verify::{Algorithm, KeyKind};
use libfuzzer_sys::fuzz_target;

/// Every algorithm's signature length for the keys a set may hold (HMAC tags 32/48/64, ECDSA
/// 64/96/132, Ed25519 64, RSA 256 to 512 bytes), and some that are none of them.
const LENGTHS: [usize; 11] = [0, 1, 32, 48, 64, 96, 132, 256, 384, 512, 513];

fn check(parsed: ParsedKeySet, fetched: bool) {
    for skipped in &parsed.skipped {
        let _ = skipped.to_string();
    }
    let keys = parsed.keys;
    assert!(!keys.is_empty());
    for jwk in keys.iter() {
        if let Some(kid) = &jwk.kid {
            assert!(keys.has_kid(kid));
        }
        // A fetched set never yields a secret.
        assert!(!(fetched && jwk.key.kind() == KeyKind::Secret));
        if let Some(alg) = jwk.alg {
            assert!(jwk.key.fits(alg));
        }
    }
    // Signatures of every plausible length, none of them valid, against every key.
    for alg in Algorithm::ALL {
        for len in LENGTHS {
            let signature = vec![1_u8; len];
            let outcome = keys.verify_with(None, alg, b"e30.e30", &signature);
            assert_ne!(outcome, KeyMatch::Verified);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let verifier = jwt_authn_wasm::verify::Verifier::default();
    match KeySet::parse(data, &verifier) {
        Ok(parsed) => check(parsed, true),
        Err(err) => {
            let _ = err.to_string();
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        match KeySet::parse_local(text, &verifier) {
            Ok(parsed) => check(parsed, false),
            Err(err) => {
                let _ = err.to_string();
            }
        }
    }
});
