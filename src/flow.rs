//! One request's authentication, as decisions the host carries out.
//!
//! The flow reads headers and key sets through two small traits, so the whole decision path runs
//! natively in tests; the proxy-wasm layer only supplies the traits and applies the [`Decision`].

use crate::authenticator::{self, Prepared, Verified};
use crate::config::Config;
use crate::error::{AuthError, ErrorCode};
use crate::extract;
use crate::keystore::Availability;

/// Read access to the request's headers, as raw bytes.
pub trait RequestHeaders {
    /// The value of header `name` (lower case), if present.
    fn header(&self, name: &str) -> Option<Vec<u8>>;
}

/// The key sets of the configured providers, as this VM currently sees them.
pub trait KeySource {
    /// Whether provider `index` has keys now.
    fn availability(&mut self, index: usize) -> Availability;
}

/// What the host must do with the request.
#[derive(Debug)]
pub enum Decision {
    /// Let it through; the token verified.
    Allow(Verified),
    /// Answer locally with this failure.
    Deny(AuthError),
    /// Pause it until the provider's first key set arrives (or the wait times out).
    Wait(Prepared),
}

fn keys_unavailable() -> AuthError {
    AuthError::new(
        ErrorCode::JwksUnavailable,
        "The keys of the token issuer are not available",
    )
}

/// Decides a request when its headers arrive; `now_ms` is milliseconds since the epoch.
pub fn on_request_headers(
    config: &Config,
    headers: &dyn RequestHeaders,
    keys: &mut dyn KeySource,
    now_ms: u64,
) -> Decision {
    let authorization = headers.header("authorization");
    let token = match extract::bearer_token(authorization.as_deref()) {
        Ok(token) => token,
        Err(err) => return Decision::Deny(err),
    };
    match authenticator::prepare(config, token, now_ms / 1_000) {
        Ok(prepared) => with_keys(prepared, keys, false),
        Err(err) => Decision::Deny(err),
    }
}

/// Decides a paused request again, once keys may have arrived or its wait has run out.
pub fn on_keys_changed(
    prepared: Prepared,
    keys: &mut dyn KeySource,
    wait_expired: bool,
) -> Decision {
    with_keys(prepared, keys, wait_expired)
}

fn with_keys(prepared: Prepared, keys: &mut dyn KeySource, wait_expired: bool) -> Decision {
    match keys.availability(prepared.provider) {
        Availability::Ready(set) => match prepared.verify(&set) {
            Ok(verified) => Decision::Allow(verified),
            Err(err) => Decision::Deny(err),
        },
        Availability::Pending if !wait_expired => Decision::Wait(prepared),
        Availability::Pending | Availability::Unavailable => Decision::Deny(keys_unavailable()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::KeySet;
    use serde_json::json;
    use std::rc::Rc;
    use testbed::mint::{tamper_signature, Alg, MintRequest, Minter};

    const ISSUER: &str = "https://idp.example.test/";
    const AUDIENCE: &str = "https://api.example.test";

    struct Headers(Option<Vec<u8>>);

    impl RequestHeaders for Headers {
        fn header(&self, name: &str) -> Option<Vec<u8>> {
            assert_eq!(name, "authorization");
            self.0.clone()
        }
    }

    struct Keys(Availability);

    impl KeySource for Keys {
        fn availability(&mut self, _index: usize) -> Availability {
            self.0.clone()
        }
    }

    fn config() -> Config {
        let value = json!({
            "realm": "test",
            "providers": [{
                "name": "idp",
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
            }]
        });
        Config::parse(value.to_string().as_bytes()).unwrap()
    }

    fn minter() -> &'static Minter {
        static MINTER: std::sync::OnceLock<Minter> = std::sync::OnceLock::new();
        MINTER.get_or_init(|| Minter::generate(ISSUER, AUDIENCE).unwrap())
    }

    fn ready() -> Keys {
        let minter = minter();
        let jwks = json!({"keys": [
            minter.signing_key(Alg::Rs256).public_jwk(),
            minter.signing_key(Alg::Es384).public_jwk(),
        ]});
        let parsed = KeySet::parse(jwks.to_string().as_bytes()).unwrap();
        Keys(Availability::Ready(Rc::new(parsed.keys)))
    }

    fn now_ms() -> u64 {
        u64::try_from(testbed::mint::now_secs()).unwrap() * 1_000
    }

    fn decide(authorization: Option<&str>, keys: &mut Keys) -> Decision {
        let headers = Headers(authorization.map(|v| v.as_bytes().to_vec()));
        on_request_headers(&config(), &headers, keys, now_ms())
    }

    fn denied(authorization: Option<&str>) -> ErrorCode {
        match decide(authorization, &mut ready()) {
            Decision::Deny(err) => err.code,
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    fn bearer(request: &MintRequest) -> String {
        format!("Bearer {}", minter().mint(request).unwrap())
    }

    #[test]
    fn valid_tokens_of_both_algorithms_are_allowed() {
        for alg in [Alg::Rs256, Alg::Es384] {
            let header = bearer(&MintRequest::new(alg));
            match decide(Some(&header), &mut ready()) {
                Decision::Allow(verified) => {
                    assert_eq!(verified.provider, 0);
                    assert_eq!(verified.claims["sub"], "user-1");
                }
                other => panic!("{alg}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_row_of_the_error_table() {
        assert_eq!(denied(None), ErrorCode::AuthorizationHeaderMissing);
        assert_eq!(denied(Some("Basic dXNlcjpwYXNz")), ErrorCode::InvalidHeader);
        assert_eq!(denied(Some("Bearer")), ErrorCode::InvalidHeader);
        assert_eq!(denied(Some("Bearer a b")), ErrorCode::InvalidHeader);
        assert_eq!(denied(Some("Bearer not-a-token")), ErrorCode::InvalidToken);
        let tampered =
            tamper_signature(&minter().mint(&MintRequest::new(Alg::Es384)).unwrap()).unwrap();
        assert_eq!(
            denied(Some(&format!("Bearer {tampered}"))),
            ErrorCode::InvalidToken
        );
        let unknown = MintRequest {
            unknown_key: true,
            ..MintRequest::new(Alg::Rs256)
        };
        assert_eq!(denied(Some(&bearer(&unknown))), ErrorCode::InvalidToken);
        let other_kid = MintRequest {
            kid: Some("nope".into()),
            ..MintRequest::new(Alg::Rs256)
        };
        assert_eq!(denied(Some(&bearer(&other_kid))), ErrorCode::InvalidToken);
        let expired = MintRequest {
            expired: true,
            ..MintRequest::new(Alg::Rs256)
        };
        assert_eq!(denied(Some(&bearer(&expired))), ErrorCode::TokenExpired);
        let wrong_aud = MintRequest::new(Alg::Rs256).claim("aud", "https://other");
        assert_eq!(denied(Some(&bearer(&wrong_aud))), ErrorCode::InvalidClaims);
        let wrong_iss = MintRequest::new(Alg::Rs256).claim("iss", "https://evil/");
        assert_eq!(denied(Some(&bearer(&wrong_iss))), ErrorCode::InvalidClaims);
        let future = MintRequest::new(Alg::Es384).claim("nbf", testbed::mint::now_secs() + 3_600);
        assert_eq!(denied(Some(&bearer(&future))), ErrorCode::InvalidClaims);
        let no_exp = MintRequest::new(Alg::Es384).claim("exp", serde_json::Value::Null);
        assert_eq!(denied(Some(&bearer(&no_exp))), ErrorCode::InvalidClaims);
    }

    #[test]
    fn algorithms_outside_the_allowlist_are_invalid_token() {
        let minter = minter();
        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "exp": testbed::mint::now_secs() + 60})
            .to_string();
        for alg in ["none", "HS256", "RS512", "es384"] {
            let token = minter
                .sign_raw(
                    Alg::Rs256,
                    &format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#),
                    &claims,
                )
                .unwrap();
            assert_eq!(
                denied(Some(&format!("Bearer {token}"))),
                ErrorCode::InvalidToken,
                "{alg}"
            );
        }
    }

    #[test]
    fn a_token_before_any_key_set_waits_then_times_out() {
        let header = bearer(&MintRequest::new(Alg::Rs256));
        let prepared = match decide(Some(&header), &mut Keys(Availability::Pending)) {
            Decision::Wait(prepared) => prepared,
            other => panic!("expected a wait, got {other:?}"),
        };
        assert!(matches!(
            on_keys_changed(prepared.clone(), &mut Keys(Availability::Pending), false),
            Decision::Wait(_)
        ));
        assert!(matches!(
            on_keys_changed(prepared.clone(), &mut ready(), false),
            Decision::Allow(_)
        ));
        match on_keys_changed(prepared, &mut Keys(Availability::Pending), true) {
            Decision::Deny(err) => assert_eq!(err.code, ErrorCode::JwksUnavailable),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn failed_fetches_without_keys_answer_503_at_once() {
        let header = bearer(&MintRequest::new(Alg::Rs256));
        match decide(Some(&header), &mut Keys(Availability::Unavailable)) {
            Decision::Deny(err) => {
                assert_eq!(err.code, ErrorCode::JwksUnavailable);
                assert_eq!(err.code.status(), 503);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_refused_without_consulting_keys() {
        // A key source that would panic shows the keys are never read for malformed tokens.
        struct NoKeys;
        impl KeySource for NoKeys {
            fn availability(&mut self, _: usize) -> Availability {
                panic!("keys consulted for a malformed token")
            }
        }
        let headers = Headers(Some(b"Bearer a.b.c".to_vec()));
        assert!(matches!(
            on_request_headers(&config(), &headers, &mut NoKeys, now_ms()),
            Decision::Deny(_)
        ));
    }
}
