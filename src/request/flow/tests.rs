use super::*;
use crate::keys::jwks::KeySet;
use crate::request::view::ConnectionProperty;
use serde_json::json;
use std::rc::Rc;
use testbed::mint::{tamper_signature, Alg, MintRequest, Minter};

const ISSUER: &str = "https://idp.example.test/";
const AUDIENCE: &str = "https://api.example.test";

/// Request headers: `:method` GET, `:path` /, plus the given ones.
struct Headers(Vec<(String, Vec<u8>)>);

impl Headers {
    fn auth(authorization: Option<&str>) -> Self {
        let mut headers = Self::request("GET", "/");
        if let Some(value) = authorization {
            headers
                .0
                .push(("authorization".into(), value.as_bytes().to_vec()));
        }
        headers
    }

    fn request(method: &str, path: &str) -> Self {
        Self(vec![
            (":method".into(), method.as_bytes().to_vec()),
            (":path".into(), path.as_bytes().to_vec()),
        ])
    }

    fn with(mut self, name: &str, value: &str) -> Self {
        self.0.push((name.into(), value.as_bytes().to_vec()));
        self
    }
}

impl RequestView for Headers {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// The route's properties, as the entries `@route_name`, `@route_requirement` and
    /// `@route_metadata`.
    fn route(&self, property: RouteProperty) -> Option<Vec<u8>> {
        self.header(match property {
            RouteProperty::Name => "@route_name",
            RouteProperty::Requirement => "@route_requirement",
            RouteProperty::Metadata => "@route_metadata",
        })
    }

    /// The connection's properties, as the entry `@peer_certificate_sha256`.
    fn connection(&self, property: ConnectionProperty) -> Option<Vec<u8>> {
        self.header(match property {
            ConnectionProperty::PeerCertificateSha256 => "@peer_certificate_sha256",
        })
    }
}

/// One verifier for every fake of this module (leaked once per test thread).
fn test_verifier() -> &'static crate::verify::Verifier {
    thread_local! {
        static VERIFIER: &'static crate::verify::Verifier =
            Box::leak(Box::new(crate::verify::Verifier::default()));
    }
    VERIFIER.with(|verifier| *verifier)
}

/// Binding services for fakes whose tests bind no tokens: every proof is new, nothing timed.
macro_rules! no_replays {
    ($($fake:ty),*) => {$(
        impl crate::verify::VerificationTiming for $fake {}

        impl crate::request::binding::BindingServices for $fake {
            fn verifier(&self) -> &crate::verify::Verifier {
                test_verifier()
            }
            fn record_proof(
                &mut self,
                _index: usize,
                _id: &[u8; 16],
                _expires_at: u64,
                _now: u64,
            ) -> crate::request::binding::Recorded {
                crate::request::binding::Recorded::First
            }
        }
    )*};
}

no_replays!(Keys, Rotating);

struct Keys(Availability);

impl KeySource for Keys {
    fn availability(&mut self, _index: usize) -> Availability {
        self.0.clone()
    }
    fn request_refetch(
        &mut self,
        _index: usize,
        _kid: &str,
        _seen: crate::keys::store::KeyVersion,
    ) -> Refetch {
        Refetch::Refused
    }
    fn kid_not_found(&mut self, _index: usize, _kid: &str) {}
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
        minter.signing_key(Alg::Rs256).unwrap().public_jwk(),
        minter.signing_key(Alg::Es384).unwrap().public_jwk(),
    ]});
    let parsed = KeySet::parse(
        jwks.to_string().as_bytes(),
        &crate::verify::Verifier::default(),
    )
    .unwrap();
    Keys(Availability::Ready(
        Rc::new(parsed.keys),
        crate::keys::store::KeyVersion {
            generation: 1,
            fetches: 1,
        },
    ))
}

fn no_cache() -> TokenCache {
    TokenCache::new(crate::config::token::CacheConfig {
        capacity: 0,
        max_ttl_secs: 0,
    })
}

fn now_ms() -> u64 {
    u64::try_from(testbed::mint::now_secs()).unwrap() * 1_000
}

fn decide(authorization: Option<&str>, keys: &mut Keys) -> Decision {
    on_request_headers(
        &config(),
        &Headers::auth(authorization),
        keys,
        &mut no_cache(),
        now_ms(),
    )
}

fn denied(authorization: Option<&str>) -> ErrorCode {
    match decide(authorization, &mut ready()) {
        Decision::Deny(err, _) => err.code,
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
            // Not forwarded by default: the credentials are removed before the upstream.
            Decision::Allow(edits) => {
                assert_eq!(edits.removals().collect::<Vec<_>>(), ["authorization"])
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
    let claims =
        json!({"iss": ISSUER, "aud": AUDIENCE, "exp": testbed::mint::now_secs() + 60}).to_string();
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
    let pending = match decide(Some(&header), &mut Keys(Availability::Pending)) {
        Decision::Wait(pending) => *pending,
        other => panic!("expected a wait, got {other:?}"),
    };
    let config = config();
    assert!(matches!(
        on_keys_changed(
            &config,
            pending.clone(),
            &mut Keys(Availability::Pending),
            &mut no_cache(),
            false,
            now_ms()
        ),
        Decision::Wait(_)
    ));
    assert!(matches!(
        on_keys_changed(
            &config,
            pending.clone(),
            &mut ready(),
            &mut no_cache(),
            false,
            now_ms()
        ),
        Decision::Allow(_)
    ));
    match on_keys_changed(
        &config,
        pending,
        &mut Keys(Availability::Pending),
        &mut no_cache(),
        true,
        now_ms(),
    ) {
        Decision::Deny(err, _) => assert_eq!(err.code, ErrorCode::JwksUnavailable),
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_fetches_without_keys_answer_503_at_once() {
    let header = bearer(&MintRequest::new(Alg::Rs256));
    match decide(Some(&header), &mut Keys(Availability::Unavailable)) {
        Decision::Deny(err, _) => {
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
    no_replays!(NoKeys);
    impl KeySource for NoKeys {
        fn availability(&mut self, _: usize) -> Availability {
            panic!("keys consulted for a malformed token")
        }
        fn kid_not_found(&mut self, _: usize, _: &str) {
            panic!("a malformed token's kid recorded")
        }
        fn request_refetch(
            &mut self,
            _: usize,
            _: &str,
            _: crate::keys::store::KeyVersion,
        ) -> Refetch {
            panic!("refetch asked for a malformed token")
        }
    }
    let headers = Headers::auth(Some("Bearer a.b.c"));
    assert!(matches!(
        on_request_headers(&config(), &headers, &mut NoKeys, &mut no_cache(), now_ms()),
        Decision::Deny(..)
    ));
}

fn guide_config() -> Config {
    let value = json!({
        "providers": [{
            "name": "idp",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}},
            "claim_to_headers": [
                {"claim_name": "sub", "header_name": "X-User"},
                {"claim_name": "org.id", "header_name": "x-org"}
            ],
            "forward_payload_header": "x-jwt-payload",
            "from_params": ["access_token"]
        }],
        "rules": [
            {"match": {"path": "/"}, "requires": {"public": {}}},
            {"match": {"path_separated_prefix": "/admin"}, "requires": {"scopes": {"all_of": ["read:admin"]}}},
            {"match": {"path_separated_prefix": "/user"}, "requires": {"token": {}}},
            {"match": {"prefix": "/internal"}, "requires": {"deny": {}}}
        ]
    });
    Config::parse(value.to_string().as_bytes()).unwrap()
}

fn run(config: &Config, headers: &Headers) -> Decision {
    on_request_headers(config, headers, &mut ready(), &mut no_cache(), now_ms())
}

fn code_of(decision: Decision) -> ErrorCode {
    match decision {
        Decision::Deny(err, _) => err.code,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[test]
fn public_routes_ignore_credentials_but_strip_owned_headers() {
    let config = guide_config();
    let headers = Headers::request("GET", "/").with("authorization", "Basic garbage");
    match run(&config, &headers) {
        Decision::Allow(edits) => {
            assert_eq!(
                edits.removals().collect::<Vec<_>>(),
                ["x-user", "x-org", "x-jwt-payload"]
            );
            assert!(edits.set.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scoped_route_authenticates_first_then_checks_scope() {
    let config = guide_config();
    let admin = Headers::request("GET", "/admin");
    assert_eq!(
        code_of(run(&config, &admin)),
        ErrorCode::AuthorizationHeaderMissing
    );
    let bad = Headers::request("GET", "/admin").with("authorization", "Bearer x.y.z");
    assert_eq!(code_of(run(&config, &bad)), ErrorCode::InvalidToken);
    let plain = bearer(&MintRequest::new(Alg::Rs256).claim("scope", "read:admin2 READ:ADMIN"));
    match run(
        &config,
        &Headers::request("GET", "/admin/x").with("authorization", &plain),
    ) {
        Decision::Deny(err, _) => {
            assert_eq!(err.code, ErrorCode::InsufficientScope);
            assert_eq!(err.scope.as_deref(), Some("read:admin"));
        }
        other => panic!("{other:?}"),
    }
    let scoped = bearer(&MintRequest::new(Alg::Rs256).claim("scope", "openid read:admin"));
    assert!(matches!(
        run(
            &config,
            &Headers::request("GET", "/admin").with("authorization", &scoped)
        ),
        Decision::Allow(_)
    ));
}

#[test]
fn path_tricks_meet_the_admin_rule() {
    let config = guide_config();
    let plain = bearer(&MintRequest::new(Alg::Es384));
    for path in [
        "/admin",
        "/admin?x",
        "/admin/",
        "/%61dmin",
        "//admin",
        "/user/../admin",
        "/user/%2e%2e/admin",
    ] {
        let headers = Headers::request("GET", path).with("authorization", &plain);
        assert_eq!(
            code_of(run(&config, &headers)),
            ErrorCode::InsufficientScope,
            "{path}"
        );
    }
    // `/administrator` is not under `/admin`; no rule matches it, so the default denies.
    let headers = Headers::request("GET", "/administrator").with("authorization", &plain);
    assert_eq!(code_of(run(&config, &headers)), ErrorCode::AccessDenied);
}

#[test]
fn deny_rules_and_the_default() {
    let config = guide_config();
    let plain = bearer(&MintRequest::new(Alg::Es384));
    let headers = Headers::request("GET", "/internal/x").with("authorization", &plain);
    assert_eq!(code_of(run(&config, &headers)), ErrorCode::AccessDenied);
    assert_eq!(
        code_of(run(&config, &Headers::request("GET", "/elsewhere"))),
        ErrorCode::AccessDenied
    );
}

#[test]
fn verified_claims_reach_the_upstream_and_the_token_does_not() {
    let config = guide_config();
    let token = minter()
        .mint(&MintRequest::new(Alg::Rs256).claim("org", json!({"id": 42})))
        .unwrap();
    let headers = Headers::request("GET", &format!("/user?a=1&access_token={token}&b=2"));
    match run(&config, &headers) {
        Decision::Allow(edits) => {
            assert_eq!(edits.path.as_deref(), Some("/user?a=1&b=2"));
            assert!(edits.set.contains(&("x-user".into(), "user-1".into())));
            assert!(edits.set.contains(&("x-org".into(), "42".into())));
            let payload = token.split('.').nth(1).unwrap();
            assert!(edits
                .set
                .contains(&("x-jwt-payload".into(), payload.into())));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn cors_preflight_passes_without_a_token() {
    let config = guide_config();
    let preflight = Headers::request("OPTIONS", "/admin")
        .with("origin", "https://app.example.test")
        .with("access-control-request-method", "POST");
    assert!(matches!(run(&config, &preflight), Decision::Allow(_)));
    // A bare OPTIONS is not a preflight.
    let bare = Headers::request("OPTIONS", "/admin");
    assert_eq!(
        code_of(run(&config, &bare)),
        ErrorCode::AuthorizationHeaderMissing
    );
}

/// Request headers that record which names were read (each read is a host call).
struct Reads<'a>(&'a Headers, std::cell::RefCell<Vec<String>>);

impl RequestView for Reads<'_> {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        self.1.borrow_mut().push(name.to_string());
        self.0.header(name)
    }

    fn route(&self, property: RouteProperty) -> Option<Vec<u8>> {
        self.1.borrow_mut().push(format!("{property:?}"));
        self.0.route(property)
    }

    fn connection(&self, property: ConnectionProperty) -> Option<Vec<u8>> {
        self.1.borrow_mut().push(format!("{property:?}"));
        self.0.connection(property)
    }
}

#[test]
fn the_method_is_read_only_when_a_rule_or_a_preflight_needs_it() {
    let token = bearer(&MintRequest::new(Alg::Rs256));
    let with_token = Headers::request("GET", "/").with("authorization", &token);
    let names_read = |config: &Config, headers: &Headers| {
        let reads = Reads(headers, Default::default());
        let decision = on_request_headers(config, &reads, &mut ready(), &mut no_cache(), now_ms());
        (matches!(decision, Decision::Allow(_)), reads.1.into_inner())
    };
    // No rules: only the token's header.
    assert_eq!(
        names_read(&config(), &with_token),
        (true, vec!["authorization".to_string()])
    );
    // Without a token, the preflight check reads the method (and stops there for a GET).
    assert_eq!(
        names_read(&config(), &Headers::request("GET", "/")),
        (
            false,
            vec!["authorization".to_string(), ":method".to_string()]
        )
    );
    // A rule on methods needs it first.
    let mut value = json!({
        "providers": [{"name": "idp", "issuer": ISSUER, "audiences": [AUDIENCE],
            "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}}],
        "rules": [{"match": {"prefix": "/", "methods": ["GET"]}, "requires": {"token": {}}}]
    });
    let with_methods = Config::parse(value.to_string().as_bytes()).unwrap();
    assert_eq!(
        names_read(&with_methods, &with_token),
        (
            true,
            vec![
                ":method".to_string(),
                ":path".to_string(),
                "authorization".to_string()
            ]
        )
    );
    // With the preflight bypass off, a denial never reads it.
    value.as_object_mut().unwrap().remove("rules");
    value["bypass_cors_preflight"] = json!(false);
    let no_bypass = Config::parse(value.to_string().as_bytes()).unwrap();
    assert_eq!(
        names_read(&no_bypass, &Headers::request("GET", "/")),
        (false, vec!["authorization".to_string()])
    );
}

#[test]
fn a_cached_token_skips_verification_but_not_the_route() {
    let config = guide_config();
    let mut cache = TokenCache::new(crate::config::token::CacheConfig::default());
    let token = bearer(&MintRequest::new(Alg::Rs256).claim("scope", "read:admin"));
    let plain = bearer(&MintRequest::new(Alg::Rs256));
    let user = Headers::request("GET", "/user").with("authorization", &token);
    assert!(matches!(
        on_request_headers(&config, &user, &mut ready(), &mut cache, now_ms()),
        Decision::Allow(_)
    ));
    assert_eq!(cache.stats().inserts, 1);
    // Second time: a hit, with the same upstream edits.
    let admin = Headers::request("GET", "/admin").with("authorization", &token);
    match on_request_headers(&config, &admin, &mut ready(), &mut cache, now_ms()) {
        Decision::Allow(edits) => {
            assert!(edits.set.contains(&("x-user".into(), "user-1".into())))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.stats().hits, 1);
    // A cached token without the scope is still refused on the scoped route.
    let plain_user = Headers::request("GET", "/user").with("authorization", &plain);
    assert!(matches!(
        on_request_headers(&config, &plain_user, &mut ready(), &mut cache, now_ms()),
        Decision::Allow(_)
    ));
    let plain_admin = Headers::request("GET", "/admin").with("authorization", &plain);
    match on_request_headers(&config, &plain_admin, &mut ready(), &mut cache, now_ms()) {
        Decision::Deny(err, _) => assert_eq!(err.code, ErrorCode::InsufficientScope),
        other => panic!("{other:?}"),
    }
    assert_eq!(cache.stats().hits, 2);
    // Once the key set is gone (stale), a cached token does not bypass the 503.
    match on_request_headers(
        &config,
        &admin,
        &mut Keys(Availability::Unavailable),
        &mut cache,
        now_ms(),
    ) {
        Decision::Deny(err, _) => assert_eq!(err.code, ErrorCode::JwksUnavailable),
        other => panic!("{other:?}"),
    }
    // Past its expiry (plus skew), a cached token misses and the full path refuses it.
    let later = now_ms() + 400_000;
    match on_request_headers(&config, &admin, &mut ready(), &mut cache, later) {
        Decision::Deny(err, _) => assert_eq!(err.code, ErrorCode::TokenExpired),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_cached_token_hits_in_every_form_the_header_allows() {
    let config = config();
    let mut cache = TokenCache::new(crate::config::token::CacheConfig::default());
    let token = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let forms = [
        format!("Bearer {token}"),
        format!("bEARER {token}"),
        format!("Bearer  {token}"),
        format!("Bearer {token} "),
        format!("Bearer\t{token}\t"),
        format!(" Bearer {token}"),
    ];
    for (seen, form) in forms.iter().enumerate() {
        let headers = Headers::auth(Some(form));
        let decision = on_request_headers(&config, &headers, &mut ready(), &mut cache, now_ms());
        assert!(
            matches!(decision, Decision::Allow(_)),
            "{form:?}: {decision:?}"
        );
        let stats = cache.stats();
        assert_eq!((stats.inserts, stats.hits), (1, seen as u64), "{form:?}");
    }
    // A cached token inside a malformed header is still refused, and never hits.
    for form in [
        format!("Bearer {token} x"),
        format!("Bearer {token},{token}"),
        format!("Bearer {token}\u{7f}"),
    ] {
        let headers = Headers::auth(Some(&form));
        match on_request_headers(&config, &headers, &mut ready(), &mut cache, now_ms()) {
            Decision::Deny(err, _) => {
                assert_eq!(err.code, ErrorCode::InvalidHeader, "{form:?}")
            }
            other => panic!("{form:?}: {other:?}"),
        }
    }
    assert_eq!(cache.stats().hits, forms.len() as u64 - 1);
}

/// Two providers (the second with its own issuer), with `extra` merged into the first and
/// `top` into the configuration.
fn plan_config(extra: serde_json::Value, top: serde_json::Value) -> Config {
    let mut first = json!({
        "name": "idp",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
    });
    if let (Some(first), Some(extra)) = (first.as_object_mut(), extra.as_object()) {
        first.extend(extra.clone());
    }
    let mut value = json!({"realm": "test", "providers": [first, {
        "name": "other",
        "issuer": "https://other.example.test/",
        "remote_jwks": {"http_uri": {"uri": "http://other/jwks", "cluster": "other"}}
    }]});
    if let (Some(value), Some(top)) = (value.as_object_mut(), top.as_object()) {
        value.extend(top.clone());
    }
    Config::parse(value.to_string().as_bytes()).unwrap()
}

#[test]
fn the_hit_plan_covers_only_configurations_where_the_token_alone_decides() {
    assert!(HitPlan::new(&config()).is_some());
    assert!(HitPlan::new(&plan_config(json!({"forward": true}), json!({}))).is_some());
    let public = json!([{"match": {"prefix": "/"}, "requires": {"public": {}}}]);
    assert_eq!(
        HitPlan::new(&plan_config(json!({}), json!({"rules": public}))),
        None
    );
    let scoped = json!([{"match": {"prefix": "/"}, "requires": {"scopes": {"all_of": ["read"]}}}]);
    assert_eq!(
        HitPlan::new(&plan_config(json!({}), json!({"rules": scoped}))),
        None
    );
    // `Authorization: Bearer` always comes before a provider's other sources.
    let other_header = json!({"from_headers": [{"name": "x-token"}]});
    assert!(HitPlan::new(&plan_config(other_header, json!({}))).is_some());
    // Claims copied upstream depend on the token's claims: no plan when an accepted
    // provider copies any.
    let claims = plan_config(
        json!({"claim_to_headers": [{"claim_name": "sub", "header_name": "x-user-id"}]}),
        json!({}),
    );
    assert_eq!(HitPlan::new(&claims), None);
    let payload = plan_config(
        json!({"forward_payload_header": "x-jwt-payload"}),
        json!({}),
    );
    assert_eq!(HitPlan::new(&payload), None);
    // ... unless the requirement accepts only the providers that do not.
    let other_only = plan_config(
        json!({"claim_to_headers": [{"claim_name": "sub", "header_name": "x-user-id"}]}),
        json!({"default": {"token": {"providers": ["other"]}}}),
    );
    let plan = HitPlan::new(&other_only).unwrap();
    assert_eq!(plan.candidates, Some(vec![1]));
}

#[test]
fn the_hit_plan_decides_as_the_full_path_does() {
    let configs = [
        config(),
        plan_config(json!({}), json!({})),
        plan_config(json!({"forward": true}), json!({})),
        // A plan for the second provider only: the first one's tokens are not its to answer.
        plan_config(
            json!({"claim_to_headers": [{"claim_name": "sub", "header_name": "x-sub"}]}),
            json!({"default": {"token": {"providers": ["other"]}}}),
        ),
    ];
    let rs256 = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let es384 = minter().mint(&MintRequest::new(Alg::Es384)).unwrap();
    let uncached = minter()
        .mint(&MintRequest::new(Alg::Rs256).claim("jti", "never-seen"))
        .unwrap();
    let long = format!("Bearer {}", "a".repeat(9_000));
    let forms = |token: &str| {
        vec![
            format!("Bearer {token}"),
            format!("bearer {token}"),
            format!("BEARER {token}"),
            format!("Bearer  {token}"),
            format!("Bearer {token} "),
            format!(" Bearer {token}"),
            format!("Bearer {token}x"),
            format!("Basic {token}"),
            format!("Bearer {uncached}"),
            "Bearer ".to_string(),
            String::new(),
            long.clone(),
        ]
    };
    let accepting = plan_config(json!({}), json!({}));
    let mut answered = 0;
    for config in &configs {
        let plan = HitPlan::new(config).unwrap();
        // Both tokens verified by the full path of a configuration that accepts them (a
        // lookup without keys drops an entry, so every case starts from this state).
        let warm = || {
            let mut cache = TokenCache::new(crate::config::token::CacheConfig::default());
            for token in [&rs256, &es384] {
                let headers = Headers::auth(Some(&format!("Bearer {token}")));
                let first =
                    on_request_headers(&accepting, &headers, &mut ready(), &mut cache, now_ms());
                assert!(matches!(first, Decision::Allow(_)), "{first:?}");
            }
            cache
        };
        for token in [&rs256, &es384] {
            for form in forms(token) {
                for mut keys in [ready(), Keys(Availability::Pending)] {
                    let mut cache = warm();
                    let Some(Decision::Allow(edits)) =
                        plan.decide(form.as_bytes(), &mut keys, &mut cache, now_ms())
                    else {
                        continue;
                    };
                    answered += 1;
                    let full = on_request_headers(
                        config,
                        &Headers::auth(Some(&form)),
                        &mut keys,
                        &mut cache,
                        now_ms(),
                    );
                    match full {
                        Decision::Allow(expected) => assert_eq!(edits, expected, "{form:?}"),
                        other => panic!(
                            "{form:?}: the plan allowed what the full path decided as {other:?}"
                        ),
                    }
                }
            }
        }
        // A key set of another generation invalidates the entries: no answer from the plan.
        let mut rotated = Keys(Availability::Ready(
            match ready().0 {
                Availability::Ready(set, _) => set,
                _ => unreachable!(),
            },
            crate::keys::store::KeyVersion {
                generation: 2,
                fetches: 2,
            },
        ));
        let header = format!("Bearer {rs256}");
        let mut cache = warm();
        let covered = plan.decide(header.as_bytes(), &mut ready(), &mut cache, now_ms());
        assert_eq!(
            covered.is_some(),
            plan.candidates.as_deref().is_none_or(|c| c.contains(&0))
        );
        assert!(plan
            .decide(header.as_bytes(), &mut rotated, &mut cache, now_ms())
            .is_none());
    }
    // The plan answers the common form, in any case of its scheme, for the three
    // configurations that cover the token's provider (2 tokens x 3 forms each), and nothing
    // else: other forms, other tokens, no keys, a provider its requirement does not accept.
    assert_eq!(answered, 3 * 2 * 3);
}

#[test]
fn configured_limits_and_access_token_typ() {
    let provider = json!({
        "name": "idp",
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}},
        "require_typ_at_jwt": true
    });
    let decide = |config: &Config, token: &str| {
        on_request_headers(
            config,
            &Headers::auth(Some(token)),
            &mut ready(),
            &mut no_cache(),
            now_ms(),
        )
    };
    let limited = json!({"limits": {"max_token_bytes": 200}, "providers": [provider.clone()]});
    let limited = Config::parse(limited.to_string().as_bytes()).unwrap();
    let token = bearer(&MintRequest::new(Alg::Es384));
    match decide(&limited, &token) {
        Decision::Deny(err, _) => assert_eq!(err.description, "Token is too large"),
        other => panic!("{other:?}"),
    }
    let config = Config::parse(json!({"providers": [provider]}).to_string().as_bytes()).unwrap();
    match decide(&config, &token) {
        Decision::Deny(err, _) => assert_eq!(err.code, ErrorCode::InvalidToken),
        other => panic!("{other:?}"),
    }
    let access = bearer(&MintRequest {
        typ: Some("at+jwt".into()),
        ..MintRequest::new(Alg::Es384)
    });
    assert!(matches!(decide(&config, &access), Decision::Allow(_)));
}

/// Named requirements, a `requirement_map`, and a path rule, to see which one wins.
fn route_config() -> Config {
    let value = json!({
        "realm": "test",
        "providers": [{
            "name": "idp",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
        }],
        "requirements": {
            "admin": {"scopes": {"all_of": ["admin"]}},
            "open": {"public": {}},
            "closed": {"deny": {}}
        },
        "requirement_map": {"admin-route": "admin", "open-route": "open"},
        "rules": [{"match": {"prefix": "/rule-open"}, "requires": {"public": {}}}],
        "default": {"token": {}}
    });
    Config::parse(value.to_string().as_bytes()).unwrap()
}

fn code_for(headers: &Headers) -> Result<(), (ErrorCode, &'static str)> {
    match on_request_headers(
        &route_config(),
        headers,
        &mut ready(),
        &mut no_cache(),
        now_ms(),
    ) {
        Decision::Allow(_) => Ok(()),
        Decision::Deny(err, _) => Err((err.code, err.description)),
        other => panic!("expected a verdict, got {other:?}"),
    }
}

#[test]
fn the_route_chooses_the_requirement_before_path_rules() {
    let plain = bearer(&MintRequest::new(Alg::Rs256));
    let admin = bearer(&MintRequest::new(Alg::Rs256).claim("scope", "read admin"));
    let scope = (
        ErrorCode::InsufficientScope,
        "The token does not grant access to this resource",
    );
    // No route choice: rules, then the default.
    assert_eq!(code_for(&Headers::request("GET", "/rule-open/x")), Ok(()));
    assert_eq!(
        code_for(&Headers::request("GET", "/x")).unwrap_err().0,
        ErrorCode::AuthorizationHeaderMissing
    );
    assert_eq!(code_for(&Headers::auth(Some(&plain))), Ok(()));
    // `requirement_map` by route name, over the path rule.
    let mapped = |name: &str, path: &str| Headers::request("GET", path).with("@route_name", name);
    assert_eq!(code_for(&mapped("open-route", "/x")), Ok(()));
    assert_eq!(
        code_for(&mapped("admin-route", "/rule-open").with("authorization", &plain)),
        Err(scope)
    );
    assert_eq!(
        code_for(&mapped("admin-route", "/").with("authorization", &admin)),
        Ok(())
    );
    // A route name the map lacks falls back to the rules.
    assert_eq!(code_for(&mapped("elsewhere", "/rule-open")), Ok(()));
    // The route's metadata wins over its name.
    let named = mapped("open-route", "/rule-open").with("@route_requirement", "closed");
    assert_eq!(
        code_for(&named),
        Err((ErrorCode::AccessDenied, "No rule allows this request"))
    );
    let named = mapped("open-route", "/").with("@route_requirement", "admin");
    assert_eq!(code_for(&named.with("authorization", &plain)), Err(scope));
}

#[test]
fn a_route_naming_an_unknown_requirement_is_refused() {
    for name in ["nope", "", "Admin", "admin\u{0}"] {
        let headers = Headers::request("GET", "/rule-open")
            .with("@route_name", "open-route")
            .with("@route_requirement", name);
        assert_eq!(
            code_for(&headers),
            Err((
                ErrorCode::AccessDenied,
                "The route names a requirement that is not configured"
            )),
            "{name:?}"
        );
    }
    // Our namespace without a string `requirement` (Envoy gives no string for a number or a
    // struct) is refused too, not sent on to the path rules.
    let headers = Headers::request("GET", "/rule-open")
        .with("@route_name", "open-route")
        .with("@route_metadata", "\n\x12\n\x0ejwt_authn_wasm\x12\x00");
    assert_eq!(
        code_for(&headers),
        Err((
            ErrorCode::AccessDenied,
            "The route names a requirement that is not configured"
        ))
    );
    // Another filter's metadata (Envoy Gateway's on every route) says nothing to us.
    let headers = Headers::request("GET", "/rule-open")
        .with("@route_metadata", "\n\x13\n\renvoy-gateway\x12\x02\n\x00");
    assert_eq!(code_for(&headers), Ok(()));
}

#[test]
fn without_named_requirements_the_route_is_never_read() {
    let headers =
        Headers::auth(Some(&bearer(&MintRequest::new(Alg::Rs256)))).with("@route_requirement", "x");
    let view = Reads(&headers, std::cell::RefCell::new(Vec::new()));
    let decision = on_request_headers(&config(), &view, &mut ready(), &mut no_cache(), now_ms());
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    let reads = view.1.borrow();
    assert!(!reads.is_empty());
    assert!(
        !reads
            .iter()
            .any(|r| r == "Name" || r == "Requirement" || r == "Metadata"),
        "{reads:?}"
    );
}

/// A provider that publishes the RS256 key only after `publish_after` fetches; each
/// `request_refetch` is answered with the next fetch, like a store whose fetch is due.
struct Rotating {
    without: Rc<KeySet>,
    with: Rc<KeySet>,
    fetches: u64,
    publish_after: u64,
    asked: usize,
    not_found: Vec<String>,
}

impl Rotating {
    fn new(publish_after: u64) -> Self {
        let set = |jwks: serde_json::Value| {
            Rc::new(
                KeySet::parse(
                    jwks.to_string().as_bytes(),
                    &crate::verify::Verifier::default(),
                )
                .unwrap()
                .keys,
            )
        };
        let rs = minter().signing_key(Alg::Rs256).unwrap().public_jwk();
        let es = minter().signing_key(Alg::Es384).unwrap().public_jwk();
        Self {
            without: set(json!({"keys": [es.clone()]})),
            with: set(json!({"keys": [es, rs]})),
            fetches: 1,
            publish_after,
            asked: 0,
            not_found: Vec::new(),
        }
    }

    /// One more fetch completed.
    fn fetched(&mut self) {
        self.fetches += 1;
    }
}

impl KeySource for Rotating {
    fn availability(&mut self, _index: usize) -> Availability {
        let published = self.fetches > self.publish_after;
        let set = if published { &self.with } else { &self.without };
        Availability::Ready(
            Rc::clone(set),
            crate::keys::store::KeyVersion {
                generation: if published { 2 } else { 1 },
                fetches: self.fetches,
            },
        )
    }
    fn request_refetch(
        &mut self,
        _index: usize,
        _kid: &str,
        seen: crate::keys::store::KeyVersion,
    ) -> Refetch {
        self.asked += 1;
        Refetch::Await(seen.fetches + 1)
    }
    fn kid_not_found(&mut self, _index: usize, kid: &str) {
        self.not_found.push(kid.to_string());
    }
}

#[test]
fn an_unknown_kid_is_held_through_refetches_until_its_key_arrives() {
    let config = config();
    let header = bearer(&MintRequest::new(Alg::Rs256));
    let now = now_ms();
    // Published two fetches late (a token signed before its key was published): the request
    // waits through both refetches, and passes.
    let mut keys = Rotating::new(2);
    let mut cache = no_cache();
    let mut decision = on_request_headers(
        &config,
        &Headers::auth(Some(&header)),
        &mut keys,
        &mut cache,
        now,
    );
    for round in 0..2 {
        let Decision::Wait(pending) = decision else {
            panic!("round {round}: {decision:?}")
        };
        // Before the awaited fetch answers, the request stays held without asking again.
        let asked = keys.asked;
        let again = on_keys_changed(
            &config,
            (*pending).clone(),
            &mut keys,
            &mut cache,
            false,
            now,
        );
        assert!(matches!(again, Decision::Wait(_)));
        assert_eq!(keys.asked, asked);
        keys.fetched();
        decision = on_keys_changed(&config, *pending, &mut keys, &mut cache, false, now);
    }
    assert!(matches!(decision, Decision::Allow(_)), "{decision:?}");
    assert_eq!(keys.asked, 2);
    assert!(keys.not_found.is_empty());
}

#[test]
fn an_unknown_kid_whose_wait_runs_out_is_refused_and_remembered() {
    let config = config();
    let header = bearer(&MintRequest::new(Alg::Rs256));
    let now = now_ms();
    let mut keys = Rotating::new(u64::MAX);
    let mut cache = no_cache();
    let Decision::Wait(pending) = on_request_headers(
        &config,
        &Headers::auth(Some(&header)),
        &mut keys,
        &mut cache,
        now,
    ) else {
        panic!("not held")
    };
    keys.fetched();
    match on_keys_changed(&config, *pending, &mut keys, &mut cache, true, now) {
        Decision::Deny(err, Some(0)) => assert_eq!(err.code, ErrorCode::InvalidToken),
        other => panic!("{other:?}"),
    }
    assert_eq!(keys.not_found, [Alg::Rs256.kid(1)]);
}

/// Two routes that tolerate failures, beside one that does not; filter state on.
fn tolerant_config() -> Config {
    let value = json!({
        "providers": [{
            "name": "idp",
            "issuer": ISSUER,
            "audiences": [AUDIENCE],
            "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}},
            "claim_to_headers": [{"claim_name": "sub", "header_name": "x-user"}]
        }],
        "filter_state": {"claims": [{"claim_name": "sub", "key": "sub"}]},
        "rules": [
            {"match": {"prefix": "/missing"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/failed"}, "requires": {"allow_missing_or_failed": {"providers": ["idp"]}}},
            {"match": {"prefix": "/user"}, "requires": {"token": {}}}
        ]
    });
    Config::parse(value.to_string().as_bytes()).unwrap()
}

/// The failure an allowed request was let through with, after checking the forged claim
/// header is stripped and the filter state says why.
fn tolerated(decision: Decision) -> Option<ErrorCode> {
    let Decision::Allow(edits) = decision else {
        panic!("expected the request through, got {decision:?}");
    };
    assert!(edits.removals().any(|name| name == "x-user"));
    let status = edits
        .state
        .iter()
        .find(|(name, _)| name.ends_with(".status"))
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned());
    match edits.tolerated {
        Some(code) => {
            assert!(edits.set.is_empty(), "{:?}", edits.set);
            assert_eq!(edits.provider, None);
            assert_eq!(status.as_deref(), Some(code.as_str()));
        }
        None => assert_eq!(status.as_deref(), Some("ok")),
    }
    edits.tolerated
}

#[test]
fn allow_missing_passes_no_token_but_not_a_bad_one() {
    let config = tolerant_config();
    let at = |authorization: Option<&str>| {
        let mut headers = Headers::request("GET", "/missing").with("x-user", "forged");
        if let Some(value) = authorization {
            headers = headers.with("authorization", value);
        }
        run(&config, &headers)
    };
    assert_eq!(
        tolerated(at(None)),
        Some(ErrorCode::AuthorizationHeaderMissing)
    );
    // Another scheme is no bearer token: Envoy's extractor does not see it either.
    assert_eq!(
        tolerated(at(Some("Basic dXNlcjpwYXNz"))),
        Some(ErrorCode::InvalidHeader)
    );
    assert_eq!(
        tolerated(at(Some(&bearer(&MintRequest::new(Alg::Rs256))))),
        None
    );
    let expired = bearer(&MintRequest {
        expired: true,
        ..MintRequest::new(Alg::Rs256)
    });
    assert_eq!(code_of(at(Some(&expired))), ErrorCode::TokenExpired);
    assert_eq!(
        code_of(at(Some("Bearer not-a-jwt"))),
        ErrorCode::InvalidToken
    );
    assert_eq!(code_of(at(Some("Bearer"))), ErrorCode::InvalidHeader);
    // The route without a tolerant requirement is unchanged.
    assert_eq!(
        code_of(run(&config, &Headers::request("GET", "/user"))),
        ErrorCode::AuthorizationHeaderMissing
    );
}

#[test]
fn allow_missing_or_failed_passes_every_failure_and_records_it() {
    let config = tolerant_config();
    let at = |authorization: &str| {
        run(
            &config,
            &Headers::request("GET", "/failed")
                .with("x-user", "forged")
                .with("authorization", authorization),
        )
    };
    let expired = bearer(&MintRequest {
        expired: true,
        ..MintRequest::new(Alg::Rs256)
    });
    let forged = format!(
        "Bearer {}",
        tamper_signature(&minter().mint(&MintRequest::new(Alg::Rs256)).unwrap()).unwrap()
    );
    assert_eq!(tolerated(at(&expired)), Some(ErrorCode::TokenExpired));
    assert_eq!(tolerated(at(&forged)), Some(ErrorCode::InvalidToken));
    assert_eq!(tolerated(at("Bearer")), Some(ErrorCode::InvalidHeader));
    let valid = at(&bearer(&MintRequest::new(Alg::Rs256)));
    let Decision::Allow(edits) = &valid else {
        panic!("{valid:?}");
    };
    assert_eq!(edits.set, [("x-user".to_string(), "user-1".to_string())]);
    assert_eq!(tolerated(valid), None);

    // Keys that never come: the wait ends in 503 jwks_unavailable, let through here too.
    let header = bearer(&MintRequest::new(Alg::Rs256));
    let headers = Headers::request("GET", "/failed").with("authorization", &header);
    let pending = match on_request_headers(
        &config,
        &headers,
        &mut Keys(Availability::Pending),
        &mut no_cache(),
        now_ms(),
    ) {
        Decision::Wait(pending) => *pending,
        other => panic!("expected a wait, got {other:?}"),
    };
    let decision = on_keys_changed(
        &config,
        pending,
        &mut Keys(Availability::Pending),
        &mut no_cache(),
        true,
        now_ms(),
    );
    assert_eq!(tolerated(decision), Some(ErrorCode::JwksUnavailable));
}

#[test]
fn tolerant_requirements_stand_alone() {
    for (requires, field) in [
        (
            json!({"any": [{"token": {}}, {"allow_missing": {}}]}),
            "rules[0].requires.any[1]",
        ),
        (
            json!({"allow_missing_or_failed": {"providers": ["nope"]}}),
            "rules[0].requires.allow_missing_or_failed.providers[0]",
        ),
    ] {
        let value = json!({
            "providers": [{
                "name": "idp",
                "issuer": ISSUER,
                "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
            }],
            "rules": [{"match": {"prefix": "/"}, "requires": requires}]
        });
        let err = Config::parse(value.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.field, field, "{err:?}");
    }
    assert!(!config().tolerates_failures());
    assert!(tolerant_config().tolerates_failures());
}
