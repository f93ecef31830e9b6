//! JWKS documents as a provider (or whoever sits between it and Envoy) might serve them.
#![no_main]

use jwt_authn_wasm::keys::jwks::{KeyMatch, KeySet};
use jwt_authn_wasm::verify::Algorithm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match KeySet::parse(data, &jwt_authn_wasm::verify::Verifier::default()) {
        Ok(parsed) => {
            for skipped in &parsed.skipped {
                let _ = skipped.to_string();
            }
            let keys = parsed.keys;
            assert!(!keys.is_empty());
            for jwk in keys.iter() {
                if let Some(kid) = &jwk.kid {
                    assert!(keys.has_kid(kid));
                }
            }
            // Signatures of every plausible length, none of them valid, against every key.
            for alg in Algorithm::ALL {
                for len in [0, 1, 96, 256, 512] {
                    let signature = vec![1_u8; len];
                    let outcome = keys.verify_with(None, alg, b"e30.e30", &signature);
                    assert_ne!(outcome, KeyMatch::Verified);
                }
            }
        }
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
