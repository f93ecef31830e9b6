//! The token pipeline a request runs: `authenticator::prepare` (strict parsing, provider, `alg`
//! allowlist, claims) then `Prepared::verify` against a fixed key set, plus the parser alone with
//! tight limits and the `at+jwt` policy.
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
use libfuzzer_sys::fuzz_target;

/// The clock the seeds were minted for (their `exp` is ten years later).
const NOW: u64 = 1_795_438_100;

/// The public keys (`rsa-1`, `ec-1`) of the mock provider that minted the seed tokens.
const KEYS: &str = include_str!("../keys.json");

struct Fixture {
    config: Config,
    keys: KeySet,
}

fn fixture() -> &'static Fixture {
    thread_local! {
        // libFuzzer runs one thread, and the fixture holds `Rc`s (not `Sync`).
        static FIXTURE: &'static Fixture = Box::leak(Box::new(build()));
    }
    FIXTURE.with(|fixture| *fixture)
}

fn build() -> Fixture {
    let config = serde_json::json!({
        "providers": [{
            "name": "fuzz",
            "issuer": "https://idp.fuzz.test/",
            "audiences": ["https://api.fuzz.test"],
            "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
        }]
    });
    let Ok(config) = Config::parse(config.to_string().as_bytes()) else {
        panic!("the fuzz configuration does not parse");
    };
    let Ok(parsed) = KeySet::parse(
        KEYS.as_bytes(),
        &jwt_authn_wasm::verify::Verifier::default(),
    ) else {
        panic!("the fuzz key set does not parse");
    };
    Fixture {
        config,
        keys: parsed.keys,
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
            if let Err(err) = prepared.verify(&fixture.keys) {
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
