//! The fuzz targets' key set for every algorithm (`fuzz/all_keys.json`) and their seeds with
//! valid signatures (`fuzz/seeds/{verify_differential,token_pipeline,jwks_parse}/`).
//!
//! - `committed_seeds_verify` (always run): every committed seed that carries a signature is
//!   valid under `fuzz/all_keys.json`, and every algorithm has one in each target, so the
//!   fuzzers start from valid signatures of all thirteen algorithms.
//! - `regenerate` (ignored): makes new keys with the testbed and rewrites the key set and
//!   those seeds: `cargo test --test fuzz_fixtures -- --ignored regenerate`.
//!
//! The key set: an RSA-2048 key without `alg` (all six RS and PS algorithms), an RSA-2048 key
//! with e = 3 (`RS256`), RSA-3072 (`PS384`), RSA-4096 (`RS512`), P-256 (`ES256`), P-384 (no
//! `alg`), P-521 (`ES512`), Ed25519 (`EdDSA`) and a 64-byte `oct` secret without `alg` (the
//! three HS algorithms).

// Test code: a panic is a failed test.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_authn_wasm::keys::jwks::{KeyMatch, KeySet};
use jwt_authn_wasm::verify::{Algorithm, Verifier};
use serde_json::json;
use testbed::mint::KeyMaterial;
use testbed::{Alg, Key};

/// The clock of `fuzz/fuzz_targets/token_pipeline.rs`.
const NOW: u64 = 1_795_438_100;

/// Which of the first byte's values names which check in `verify_differential`.
const MODPOW_MODE: u8 = 13;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// One key of the fixture: the testbed key for each algorithm it signs, and whether its JWK
/// names an `alg`.
struct FixtureKey {
    kid: &'static str,
    algs: Vec<Alg>,
    jwk_alg: Option<Alg>,
    material: KeyMaterial,
}

fn rsa(bits: usize, exponent: u32) -> KeyMaterial {
    let mut rng = rsa::rand_core::OsRng;
    KeyMaterial::Rsa(
        rsa::RsaPrivateKey::new_with_exp(&mut rng, bits, &rsa::BigUint::from(exponent)).unwrap(),
    )
}

fn material(alg: Alg) -> KeyMaterial {
    Key::generate(alg, "x").unwrap().material().clone()
}

fn fixture_keys() -> Vec<FixtureKey> {
    use Alg::*;
    vec![
        FixtureKey {
            kid: "rsa-2048",
            algs: vec![Rs256, Rs384, Rs512, Ps256, Ps384, Ps512],
            jwk_alg: None,
            material: rsa(2048, 65_537),
        },
        FixtureKey {
            kid: "rsa-2048-e3",
            algs: vec![Rs256],
            jwk_alg: Some(Rs256),
            material: rsa(2048, 3),
        },
        FixtureKey {
            kid: "rsa-3072",
            algs: vec![Ps384],
            jwk_alg: Some(Ps384),
            material: rsa(3072, 65_537),
        },
        FixtureKey {
            kid: "rsa-4096",
            algs: vec![Rs512],
            jwk_alg: Some(Rs512),
            material: rsa(4096, 65_537),
        },
        FixtureKey {
            kid: "es256",
            algs: vec![Es256],
            jwk_alg: Some(Es256),
            material: material(Es256),
        },
        FixtureKey {
            kid: "es384",
            algs: vec![Es384],
            jwk_alg: None,
            material: material(Es384),
        },
        FixtureKey {
            kid: "es512",
            algs: vec![Es512],
            jwk_alg: Some(Es512),
            material: material(Es512),
        },
        FixtureKey {
            kid: "ed25519",
            algs: vec![EdDsa],
            jwk_alg: Some(EdDsa),
            material: material(EdDsa),
        },
        FixtureKey {
            kid: "hmac",
            algs: vec![Hs256, Hs384, Hs512],
            jwk_alg: None,
            material: material(Hs512),
        },
    ]
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn write(path: PathBuf, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

/// The header and payload JSON of a token_pipeline seed for `alg` signed by `kid`.
fn token_parts(alg: Alg, kid: &str) -> (String, String) {
    // HMAC keys exist only for the provider with local keys.
    let issuer = if alg.is_hmac() {
        "https://local.fuzz.test/"
    } else {
        "https://idp.fuzz.test/"
    };
    let header = json!({"alg": alg.name(), "kid": kid, "typ": "JWT"}).to_string();
    let payload = json!({
        "iss": issuer,
        "aud": "https://api.fuzz.test",
        "sub": "fuzz",
        "iat": NOW,
        "exp": NOW + 10 * 365 * 86_400,
    })
    .to_string();
    (header, payload)
}

#[test]
#[ignore = "rewrites fuzz/all_keys.json and the fuzz seeds with new keys"]
fn regenerate() {
    let dir = fuzz_dir();
    let keys = fixture_keys();
    let mut jwks = Vec::new();
    for key in &keys {
        let signer = Key::new(key.algs[0], key.kid, key.material.clone()).unwrap();
        let mut jwk = signer.public_jwk();
        match key.jwk_alg {
            Some(alg) => jwk["alg"] = json!(alg.name()),
            None => {
                jwk.as_object_mut().unwrap().remove("alg");
            }
        }
        jwks.push(jwk.clone());
        write(
            dir.join(format!("seeds/jwks_parse/key_{}", key.kid)),
            json!({ "keys": [jwk] }).to_string().as_bytes(),
        );
    }
    let document = serde_json::to_string_pretty(&json!({ "keys": jwks })).unwrap() + "\n";
    write(dir.join("all_keys.json"), document.as_bytes());
    write(dir.join("seeds/jwks_parse/all_keys"), document.as_bytes());

    for key in &keys {
        for &alg in &key.algs {
            let signer = Key::new(alg, key.kid, key.material.clone()).unwrap();
            let name = format!("{}_{}", alg.name().to_ascii_lowercase(), key.kid);
            // verify_differential: the algorithm's index, the signature's length (two bytes,
            // big-endian), the signature, the signing input.
            let (header, payload) = token_parts(alg, key.kid);
            let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
            let signature = signer.sign(input.as_bytes()).unwrap();
            let index = Algorithm::from_name(alg.name()).unwrap().index();
            let mut seed = vec![u8::try_from(index).unwrap()];
            seed.extend(u16::try_from(signature.len()).unwrap().to_be_bytes());
            seed.extend(&signature);
            seed.extend(input.as_bytes());
            write(dir.join(format!("seeds/verify_differential/{name}")), &seed);
            // token_pipeline: the compact token, and `header \0 payload \0 signature`.
            let token = format!("{input}.{}", b64(&signature));
            write(
                dir.join(format!("seeds/token_pipeline/{name}")),
                token.as_bytes(),
            );
            let mut structured = header.into_bytes();
            structured.push(0);
            structured.extend(payload.as_bytes());
            structured.push(0);
            structured.extend(&signature);
            write(
                dir.join(format!("seeds/token_pipeline/{name}_structured")),
                &structured,
            );
        }
    }
}

/// Whether `signature` over `input` verifies for `alg` under the fixture's key set.
fn fixture_verifies(keys: &KeySet, alg: &str, input: &[u8], signature: &[u8]) -> Algorithm {
    let alg = Algorithm::from_name(alg).unwrap();
    assert_eq!(
        keys.verify_with(None, alg, input, signature),
        KeyMatch::Verified,
        "a {alg} seed does not verify"
    );
    alg
}

#[test]
fn committed_seeds_verify() {
    let dir = fuzz_dir();
    let document = std::fs::read_to_string(dir.join("all_keys.json")).unwrap();
    let parsed = KeySet::parse_local(&document, &Verifier::default()).unwrap();
    assert!(parsed.skipped.is_empty(), "{:?}", parsed.skipped);
    let keys = parsed.keys;

    let mut differential = Vec::new();
    for entry in std::fs::read_dir(dir.join("seeds/verify_differential")).unwrap() {
        let seed = std::fs::read(entry.unwrap().path()).unwrap();
        let mode = seed[0];
        if mode % 14 == MODPOW_MODE {
            continue;
        }
        let alg = Algorithm::ALL[usize::from(mode % 14)];
        let len = usize::from(u16::from_be_bytes([seed[1], seed[2]]));
        let (signature, input) = seed[3..].split_at(len);
        differential.push(fixture_verifies(&keys, alg.name(), input, signature));
    }

    let mut pipeline = Vec::new();
    for entry in std::fs::read_dir(dir.join("seeds/token_pipeline")).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with("_structured")
        {
            continue;
        }
        let seed = std::fs::read(&path).unwrap();
        let mut parts = seed.splitn(3, |&b| b == 0);
        let (header, payload, signature) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap_or_default(),
        );
        let input = format!("{}.{}", b64(header), b64(payload));
        let header: serde_json::Value = serde_json::from_slice(header).unwrap();
        // The older seeds of the mock provider's keys (fuzz/keys.json) are not checked here.
        let kid = header["kid"].as_str().unwrap_or_default();
        if !keys.has_kid(kid) {
            continue;
        }
        pipeline.push(fixture_verifies(
            &keys,
            header["alg"].as_str().unwrap(),
            input.as_bytes(),
            signature,
        ));
    }

    for alg in Algorithm::ALL {
        assert!(
            differential.contains(&alg),
            "no valid {alg} seed for verify_differential"
        );
        assert!(
            pipeline.contains(&alg),
            "no valid {alg} seed for token_pipeline"
        );
    }
    println!(
        "fuzz seeds: {} verify_differential and {} token_pipeline seeds verify",
        differential.len(),
        pipeline.len()
    );
}
