//! The token pipeline a request runs: `authenticator::prepare` (strict parsing, provider, `alg`
//! allowlist, claims) then `Prepared::verify` against the provider's key set, plus the parser
//! alone with tight limits and the `at+jwt` policy.
//!
//! Two providers, so every algorithm is reached: `https://idp.fuzz.test/` with a fetched key set
//! (the mock provider's `rsa-1` and `ec-1` of `keys.json` and the asymmetric keys of
//! `all_keys.json`; its `oct` key is skipped, as a fetched set's are) and the default allowlist,
//! and `https://local.fuzz.test/` with `all_keys.json` as `local_jwks` and all thirteen
//! algorithms, HS256/384/512 included. Seeds hold valid tokens of every algorithm.
//!
//! An input starting with `{` is read as `header JSON \0 payload JSON \0 signature bytes` and
//! encoded into a token here, so the fuzzer explores the JSON rather than base64; any other
//! input is the token text itself.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_authn_wasm::config::token::{Limits, TypPolicy};
use jwt_authn_wasm::config::Config;
use jwt_authn_wasm::error::ErrorCode;
use jwt_authn_wasm::keys::jwks::KeySet;
use jwt_authn_wasm::request::authenticator;
use jwt_authn_wasm::request::token::UntrustedToken;
use jwt_authn_wasm::verify::Algorithm;
use libfuzzer_sys::fuzz_target;

/// The clock the seeds were minted for (their `exp` is ten years later).
const NOW: u64 = 1_795_438_100;

/// The public keys (`rsa-1`, `ec-1`) of the mock provider that minted the older seed tokens.
const KEYS: &str = include_str!("../keys.json");

/// A key of every algorithm (tests/fuzz_fixtures.rs), which signed the other seeds.
const ALL_KEYS: &str = include_str!("../all_keys.json");

struct Fixture {
    config: Config,
    /// Each provider's keys, in configuration order.
    keys: Vec<KeySet>,
}

fn fixture() -> &'static Fixture {
    thread_local! {
        // libFuzzer runs one thread, and the fixture holds `Rc`s (not `Sync`).
        static FIXTURE: &'static Fixture = Box::leak(Box::new(build()));
    }
    FIXTURE.with(|fixture| *fixture)
}

fn build() -> Fixture {
    let all_algorithms: Vec<&str> = Algorithm::ALL.iter().map(|alg| alg.name()).collect();
    let config = serde_json::json!({
        "providers": [{
            "name": "fuzz",
            "issuer": "https://idp.fuzz.test/",
            "audiences": ["https://api.fuzz.test"],
            "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
        }, {
            "name": "fuzz-local",
            "issuer": "https://local.fuzz.test/",
            "audiences": ["https://api.fuzz.test"],
            "algorithms": all_algorithms,
            "local_jwks": {"inline_string": ALL_KEYS}
        }]
    });
    let Ok(config) = Config::parse(config.to_string().as_bytes()) else {
        panic!("the fuzz configuration does not parse");
    };
    let verifier = jwt_authn_wasm::verify::Verifier::default();
    let (Ok(mock), Ok(all)) = (
        serde_json::from_str::<serde_json::Value>(KEYS),
        serde_json::from_str::<serde_json::Value>(ALL_KEYS),
    ) else {
        panic!("the fuzz key sets are not JSON");
    };
    let fetched: Vec<&serde_json::Value> = [&mock, &all]
        .iter()
        .flat_map(|doc| doc["keys"].as_array().into_iter().flatten())
        .collect();
    let fetched = serde_json::json!({ "keys": fetched }).to_string();
    let (Ok(fetched), Ok(local)) = (
        KeySet::parse(fetched.as_bytes(), &verifier),
        KeySet::parse_local(ALL_KEYS, &verifier),
    ) else {
        panic!("the fuzz key sets do not parse");
    };
    Fixture {
        config,
        keys: vec![fetched.keys, local.keys],
    }
}

fn token_text(data: &[u8]) -> Option<String> {
    if data.first() == Some(&b'{') {
        let mut parts = data.splitn(3, |&b| b == 0);
        let header = parts.next().unwrap_or_default();
        let payload = parts.next().unwrap_or_default();
        let signature = parts.next().unwrap_or_default();
        return Some(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(signature)
        ));
    }
    std::str::from_utf8(data).ok().map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let Some(token) = token_text(data) else {
        return;
    };
    let fixture = fixture();
    match authenticator::prepare(&fixture.config, None, &token, NOW) {
        Ok(prepared) => {
            let Some(keys) = fixture.keys.get(prepared.provider) else {
                panic!("provider {} has no key set", prepared.provider);
            };
            if let Err(err) = prepared.verify(keys) {
                assert_eq!(err.code, ErrorCode::InvalidToken);
            }
        }
        Err(err) => {
            assert_eq!(err.code.status(), 401);
            let _ = err.reply("fuzz");
        }
    }
    let tight = Limits {
        max_token_bytes: 1024,
        max_kid_bytes: 8,
        max_json_depth: 3,
        ..Limits::default()
    };
    if let Ok(parsed) = UntrustedToken::parse_with(&token, &tight, TypPolicy::AccessToken) {
        assert!(token.len() <= tight.max_token_bytes);
        assert!(parsed.header.kid.as_ref().is_none_or(|kid| kid.len() <= 8));
        assert!(parsed.header.typ.is_some());
        assert!(!parsed.signature.is_empty());
    }
});
