//! Route policy end to end in a real Envoy: the Auth0, Logto and Curity guides' setups, path and
//! scope tricks, claims forwarded to the upstream, token sources, several providers, CORS.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use base64::Engine;
use serde_json::{json, Value};
use support::{EnvoyOptions, IdpOptions, Response, Testbed};
use testbed::idp::IdpServer;
use testbed::mint::{Alg, MintRequest};

const REALM: &str = "policy";
const LOGTO_ISSUER: &str = "https://tenant.logto.example.test/oidc";

fn jwks_uri(idp: &IdpServer) -> String {
    format!("http://127.0.0.1:{}/.well-known/jwks.json", idp.port())
}

/// The mock as one provider, `auth0`, with every algorithm and no extras.
fn auth0_provider(idp: &IdpServer) -> Value {
    json!({
        "name": "auth0",
        "issuer": idp.issuer(),
        "audiences": [idp.audience()],
        "remote_jwks": {"http_uri": {"uri": jwks_uri(idp), "cluster": "idp", "timeout": "2s"}}
    })
}

/// Two providers sharing the mock's keys: "auth0" (the mock's issuer, RS256, Auth0's
/// `permissions`) and "logto" (issuer ending in /oidc, ES384 only), with the guides' routes.
fn guides_config(idp: &IdpServer) -> Value {
    json!({
        "realm": REALM,
        "providers": [
            {
                "name": "auth0",
                "issuer": idp.issuer(),
                "audiences": [idp.audience()],
                "remote_jwks": {"http_uri": {"uri": jwks_uri(idp), "cluster": "idp", "timeout": "2s"}},
                "algorithms": ["RS256"],
                "claim_to_headers": [
                    {"claim_name": "sub", "header_name": "x-user-id"},
                    {"claim_name": "role", "header_name": "x-role"},
                    {"claim_name": "scope", "header_name": "x-scope"},
                    {"claim_name": "org.id", "header_name": "x-org-id"},
                    {"claim_name": "permissions", "header_name": "x-permissions"}
                ],
                "forward_payload_header": "x-jwt-payload",
                "from_params": ["access_token"],
                "from_cookies": ["session"],
                "from_headers": [{"name": "x-api-token", "value_prefix": "Token "}]
            },
            {
                "name": "logto",
                "issuer": LOGTO_ISSUER,
                "audiences": ["https://api.logto.example.test"],
                "remote_jwks": {"http_uri": {"uri": jwks_uri(idp), "cluster": "idp", "timeout": "2s"}},
                "algorithms": ["ES384"],
                "claim_to_headers": [{"claim_name": "sub", "header_name": "x-logto-sub"}],
                "forward": true
            }
        ],
        "rules": [
            {"match": {"path": "/"}, "requires": {"public": {}}},
            {"match": {"path_separated_prefix": "/admin"}, "requires": {"all": [
                {"token": {"providers": ["auth0"]}},
                {"scopes": {"all_of": ["read:admin"]}}
            ]}},
            {"match": {"path_separated_prefix": "/user"}, "requires": {"token": {"providers": ["auth0"]}}},
            {"match": {"path_separated_prefix": "/logto"}, "requires": {"token": {"providers": ["logto"]}}},
            {"match": {"path_separated_prefix": "/editors", "methods": ["GET"]}, "requires": {"any": [
                {"claim": {"name": "role", "equals": "admin"}},
                {"claim": {"name": "groups", "contains": "editors"}}
            ]}},
            {"match": {"prefix": "/internal"}, "requires": {"deny": {}}}
        ]
    })
}

fn start(raw_paths: bool) -> Testbed {
    Testbed::start_with(
        IdpOptions::default(),
        |opts: &mut EnvoyOptions| opts.raw_paths = raw_paths,
        guides_config,
    )
}

fn auth0_token(tb: &Testbed, claims: Value) -> String {
    let mut request = MintRequest::new(Alg::Rs256);
    for (name, value) in claims.as_object().unwrap() {
        request = request.claim(name, value.clone());
    }
    tb.mint(&request)
}

fn logto_token(tb: &Testbed) -> String {
    tb.mint(&MintRequest {
        typ: Some("at+jwt".into()),
        ..MintRequest::new(Alg::Es384)
            .claim("iss", LOGTO_ISSUER)
            .claim("aud", "https://api.logto.example.test")
            .claim("sub", "logto-user")
    })
}

fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

fn code(response: &Response) -> String {
    response.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn assert_code(response: &Response, status: u16, expected: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(code(response), expected, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
}

fn upstream_headers(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["headers"].clone()
}

/// An RBAC filter placed after this one: requests under `prefix` need filter state `key` equal
/// to `value`; everything else is allowed.
fn rbac_requiring(prefix: &str, key: &str, value: &str) -> Value {
    json!({
        "name": "envoy.filters.http.rbac",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC",
            "rules": {"action": "ALLOW", "policies": {
                "elsewhere": {
                    "permissions": [{"not_rule": {"url_path": {"path": {"prefix": prefix}}}}],
                    "principals": [{"any": true}]
                },
                "filter-state": {
                    "permissions": [{"any": true}],
                    "principals": [{"filter_state": {
                        "key": key,
                        "string_match": {"exact": value}
                    }}]
                }
            }}
        }
    })
}

/// A file access log at `path`, one line per request in `format`.
fn file_access_log(path: &str, format: &str) -> Value {
    json!([{
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": path,
            "log_format": {"text_format_source": {"inline_string": format}}
        }
    }])
}

/// The access log's lines once it holds `expected.len()` of them (Envoy writes it
/// asynchronously, flushed every second by default), asserted equal to `expected`.
fn assert_access_log(path: &std::path::Path, expected: &[&str]) {
    let mut lines = Vec::new();
    let complete = support::wait_until(std::time::Duration::from_secs(10), &mut || {
        lines = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        lines.len() >= expected.len()
    });
    assert!(complete, "access log: {lines:?}");
    assert_eq!(lines, expected);
}

#[test]
fn auth0_guide_public_user_and_scoped_admin() {
    let tb = start(false);
    let forged: &[(&str, &[u8])] = &[
        ("x-user-id", b"forged"),
        ("x-jwt-payload", b"forged"),
        ("x-role", b"admin"),
    ];

    // Public: no token needed, credentials ignored, forged identity headers still removed.
    let r = tb.get("/", forged);
    let headers = upstream_headers(&r);
    assert!(headers.get("x-user-id").is_none(), "{headers}");
    assert!(headers.get("x-role").is_none(), "{headers}");
    let r = tb.get("/", &[("authorization", b"Basic garbage")]);
    assert_eq!(r.status, 200);

    // Any signed-in user.
    assert_code(&tb.get("/user", &[]), 401, "authorization_header_missing");
    let token = auth0_token(
        &tb,
        json!({"role": "member", "org": {"id": 7}, "permissions": ["read:a", "write:b"]}),
    );
    let mut with_token = forged.to_vec();
    let auth = bearer(&token);
    with_token.push(("authorization", &auth));
    let headers = upstream_headers(&tb.get("/user/profile", &with_token));
    assert_eq!(headers["x-user-id"], "user-1");
    assert_eq!(headers["x-role"], "member");
    assert_eq!(headers["x-org-id"], "7");
    assert_eq!(headers["x-permissions"], "read:a,write:b");
    assert_eq!(headers["x-jwt-payload"], token.split('.').nth(1).unwrap());
    assert!(
        headers.get("authorization").is_none(),
        "forward is off: {headers}"
    );

    // A permission: authentication first (401), then the scope (403).
    assert_code(&tb.get("/admin", &[]), 401, "authorization_header_missing");
    assert_code(
        &tb.get_with_token("/admin", "bad.token.here"),
        401,
        "invalid_token",
    );
    let r = tb.get_with_token("/admin", &token);
    assert_code(&r, 403, "insufficient_scope");
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!(
            "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"The token does not grant access to this resource\", scope=\"read:admin\""
        ).as_str())
    );
    for near_miss in [
        json!({"scope": "read:admin2"}),
        json!({"scope": "read"}),
        json!({"scope": "READ:ADMIN"}),
        json!({"scope": "read:admin2 read admin"}),
        json!({"permissions": ["read:admin2", "READ:ADMIN"]}),
        json!({"scp": "read: admin"}),
    ] {
        let r = tb.get_with_token("/admin", &auth0_token(&tb, near_miss.clone()));
        assert_code(&r, 403, "insufficient_scope");
        let _ = near_miss;
    }
    for granted in [
        json!({"scope": "openid read:admin"}),
        json!({"scp": ["read:admin"]}),
        json!({"permissions": ["read:admin"]}),
    ] {
        let r = tb.get_with_token("/admin/users", &auth0_token(&tb, granted.clone()));
        assert_eq!(r.status, 200, "{granted}: {}", r.text());
    }

    // No rule matches: denied by default. An explicit deny rule too.
    assert_code(
        &tb.get_with_token("/administrator", &token),
        403,
        "access_denied",
    );
    assert_code(
        &tb.get_with_token("/internal/metrics", &token),
        403,
        "access_denied",
    );
}

#[test]
fn path_tricks_meet_the_admin_rule_in_the_filter_alone() {
    // Envoy's normalization off: the filter's own path handling must catch every trick.
    let tb = start(true);
    let token = auth0_token(&tb, json!({}));
    for path in [
        "/admin",
        "/admin?x",
        "/admin/",
        "/%61dmin",
        "//admin",
        "/user/../admin",
        "/user/%2e%2e/admin",
        "/./admin",
    ] {
        let r = tb.get_with_token(path, &token);
        assert_code(&r, 403, "insufficient_scope");
    }
    let scoped = auth0_token(&tb, json!({"scope": "read:admin"}));
    assert_eq!(tb.get_with_token("//admin", &scoped).status, 200);
}

#[test]
fn path_tricks_with_envoy_normalization_on() {
    let tb = start(false);
    let token = auth0_token(&tb, json!({}));
    for path in [
        "/admin?x",
        "/admin/",
        "/%61dmin",
        "//admin",
        "/user/../admin",
    ] {
        let r = tb.get_with_token(path, &token);
        assert_code(&r, 403, "insufficient_scope");
    }
}

#[test]
fn logto_guide_es384_issuer_with_oidc_and_at_jwt() {
    let tb = start(false);
    let token = logto_token(&tb);
    let r = tb.get_with_token("/logto/items", &token);
    let headers = upstream_headers(&r);
    assert_eq!(headers["x-logto-sub"], "logto-user");
    // This provider forwards the token.
    assert_eq!(headers["authorization"], format!("Bearer {token}"));

    // Several providers: a route names which it accepts.
    let auth0 = auth0_token(&tb, json!({}));
    assert_code(
        &tb.get_with_token("/logto/items", &auth0),
        401,
        "invalid_claims",
    );
    assert_code(&tb.get_with_token("/user", &token), 401, "invalid_claims");
    // An issuer no provider has, on a route that accepts several: invalid_token.
    let stranger = auth0_token(
        &tb,
        json!({"iss": "https://unknown.example.test/", "role": "admin"}),
    );
    assert_code(
        &tb.get_with_token("/editors", &stranger),
        401,
        "invalid_token",
    );
    // RS256 is not on logto's allowlist.
    let rs = tb.mint(
        &MintRequest::new(Alg::Rs256)
            .claim("iss", LOGTO_ISSUER)
            .claim("aud", "https://api.logto.example.test"),
    );
    assert_code(&tb.get_with_token("/logto", &rs), 401, "invalid_token");
}

#[test]
fn curity_guide_claim_conditions() {
    let tb = start(false);
    let admin = auth0_token(&tb, json!({"role": "admin"}));
    let editor = auth0_token(
        &tb,
        json!({"role": "member", "groups": ["readers", "editors"]}),
    );
    let reader = auth0_token(&tb, json!({"role": "member", "groups": ["readers"]}));
    assert_eq!(tb.get_with_token("/editors", &admin).status, 200);
    assert_eq!(tb.get_with_token("/editors", &editor).status, 200);
    assert_code(
        &tb.get_with_token("/editors", &reader),
        403,
        "insufficient_scope",
    );
    // The rule is for GET only; POST matches no rule.
    let auth = bearer(&admin);
    let r = tb
        .envoy
        .request("POST", "/editors", &[("authorization", &auth)]);
    assert_code(&r, 403, "access_denied");
}

#[test]
fn other_token_sources() {
    let tb = start(false);
    let token = auth0_token(&tb, json!({}));
    // Query parameter: accepted, then removed before the upstream.
    let r = tb.get(&format!("/user?a=1&access_token={token}&b=2"), &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/user?a=1&b=2");
    // Cookie: accepted, then cut out of the Cookie header; the other cookies stay.
    let cookie = format!("theme=dark; session={token}; lang=en");
    let r = tb.get("/user", &[("cookie", cookie.as_bytes())]);
    assert_eq!(r.status, 200, "{}", r.text());
    let headers = upstream_headers(&r);
    assert_eq!(
        headers.get("cookie").and_then(|v| v.as_str()),
        Some("theme=dark; lang=en"),
        "{headers:?}"
    );
    // The token was the only cookie: the header goes.
    let only = format!("session={token}");
    let headers = upstream_headers(&tb.get("/user", &[("cookie", only.as_bytes())]));
    assert!(headers.get("cookie").is_none(), "{headers:?}");
    // Another header with a prefix: accepted, then removed.
    let header = format!("Token {token}");
    let headers = upstream_headers(&tb.get("/user", &[("x-api-token", header.as_bytes())]));
    assert!(headers.get("x-api-token").is_none());
    assert_code(
        &tb.get("/user", &[("x-api-token", b"Bearer x")]),
        401,
        "invalid_header",
    );
    // Logto's tokens are only accepted from the Authorization header: on a Logto-only route
    // the parameter is not even looked at, and where both providers count it is refused.
    let logto = logto_token(&tb);
    assert_code(
        &tb.get(&format!("/logto?access_token={logto}"), &[]),
        401,
        "authorization_header_missing",
    );
    let r = tb.get(&format!("/editors?access_token={logto}"), &[]);
    assert_code(&r, 401, "invalid_token");
    assert_eq!(
        r.json()["description"],
        "Token was presented where its issuer's tokens are not accepted"
    );
}

#[test]
fn cors_preflight_passes_without_a_token() {
    let tb = start(false);
    let r = tb.envoy.request(
        "OPTIONS",
        "/admin",
        &[
            ("origin", b"https://app.example.test"),
            ("access-control-request-method", b"POST"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["method"], "OPTIONS");
    assert_code(
        &tb.envoy.request("OPTIONS", "/admin", &[]),
        401,
        "authorization_header_missing",
    );
}

/// Routes choose their requirement as Envoy's jwt_authn lets them: by name in the route's
/// metadata (`filter_metadata.jwt_authn_wasm.requirement`), else through `requirement_map` by the
/// route's name, else the path rules, else the default.
#[test]
fn routes_choose_their_requirement_by_metadata_or_by_name() {
    fn route(prefix: &str, name: Option<&str>, requirement: Option<&str>) -> Value {
        let mut route = json!({"match": {"prefix": prefix}, "route": {"cluster": "echo"}});
        if let Some(name) = name {
            route["name"] = json!(name);
        }
        if let Some(requirement) = requirement {
            route["metadata"] =
                json!({"filter_metadata": {"jwt_authn_wasm": {"requirement": requirement}}});
        }
        route
    }
    let routes = json!([
        route("/open", None, Some("open")),
        route("/ruled-public", Some("ruled"), Some("admin")),
        route("/mapped", Some("mapped-route"), None),
        route("/unknown", None, Some("no-such-requirement")),
        json!({"match": {"prefix": "/shape-number"}, "route": {"cluster": "echo"},
               "metadata": {"filter_metadata": {"jwt_authn_wasm": {"requirement": 7}}}}),
        json!({"match": {"prefix": "/shape-struct"}, "route": {"cluster": "echo"},
               "metadata": {"filter_metadata": {"jwt_authn_wasm": {"requirement": {"name": "open"}}}}}),
        json!({"match": {"prefix": "/shape-other-key"}, "route": {"cluster": "echo"},
               "metadata": {"filter_metadata": {"jwt_authn_wasm": {"requirment": "open"}}}}),
        // As Envoy Gateway writes a route: its generated name and its own metadata.
        json!({"match": {"prefix": "/gateway-admin"}, "route": {"cluster": "echo"},
               "name": "httproute/default/api/rule/0/match/0/api_example_com",
               "metadata": {"filter_metadata": {"envoy-gateway": {"resources": [
                   {"kind": "HTTPRoute", "name": "api", "namespace": "default"}]}}}}),
        route("/", Some("catch-all"), None),
    ]);
    let tb = Testbed::start_with(
        IdpOptions::default(),
        |options: &mut EnvoyOptions| options.routes = Some(routes),
        |idp| {
            json!({
                "realm": REALM,
                "providers": [auth0_provider(idp)],
                "requirements": {
                    "admin": {"scopes": {"all_of": ["read:admin"]}},
                    "open": {"public": {}}
                },
                "requirement_map": {
                    "mapped-route": "admin",
                    "httproute/default/api/rule/0/match/0/api_example_com": "admin"
                },
                "rules": [
                    {"match": {"prefix": "/ruled-public"}, "requires": {"public": {}}},
                    {"match": {"prefix": "/"}, "requires": {"token": {}}}
                ]
            })
        },
    );
    let plain = auth0_token(&tb, json!({"scope": "read"}));
    let admin = auth0_token(&tb, json!({"scope": "read read:admin"}));

    // The route's metadata names a public requirement: no token needed.
    assert_eq!(tb.get("/open/x", &[]).status, 200);
    // The metadata wins over a path rule that would make the route public.
    for path in ["/ruled-public", "/mapped/x", "/gateway-admin"] {
        assert_code(&tb.get(path, &[]), 401, "authorization_header_missing");
        let r = tb.get_with_token(path, &plain);
        assert_code(&r, 403, "insufficient_scope");
        assert_eq!(
            r.header("www-authenticate"),
            Some(format!(
                "Bearer realm=\"{REALM}\", error=\"insufficient_scope\", error_description=\"The token does not grant access to this resource\", scope=\"read:admin\""
            ).as_str()),
            "{path}"
        );
        assert_eq!(tb.get_with_token(path, &admin).status, 200, "{path}");
    }
    // A route naming a requirement the filter does not know is refused, token or not.
    // So is metadata of the wrong shape: a number or a struct is no requirement's name.
    for r in [
        tb.get("/unknown", &[]),
        tb.get_with_token("/unknown", &admin),
        tb.get_with_token("/shape-number", &admin),
        tb.get_with_token("/shape-struct", &admin),
        tb.get_with_token("/shape-other-key", &admin),
    ] {
        assert_code(&r, 403, "access_denied");
        assert_eq!(
            r.header("www-authenticate"),
            Some(format!("Bearer realm=\"{REALM}\"").as_str())
        );
    }
    assert!(
        tb.envoy
            .log()
            .contains("names requirement \"no-such-requirement\""),
        "{}",
        tb.envoy.log()
    );
    // A named route that is not in the map falls to the path rules.
    assert_code(&tb.get("/other", &[]), 401, "authorization_header_missing");
    assert_eq!(tb.get_with_token("/other", &plain).status, 200);
}

/// The verified claims reach the filters and the access log after ours through filter state:
/// an RBAC filter allows `/rbac` only for one `sub`, and the access log shows `sub`, the
/// provider and the denial code.
#[test]
fn claims_reach_rbac_and_the_access_log_through_filter_state() {
    let dir = std::env::temp_dir().join(format!(
        "jwt-authn-access-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let access_log = dir.join("access.log");
    let log_path = access_log.to_string_lossy().into_owned();
    let tb = Testbed::start_with(
        IdpOptions::default(),
        move |options: &mut EnvoyOptions| {
            options.filters_after =
                vec![rbac_requiring("/rbac", "wasm.jwt_authn_wasm.sub", "user-1")];
            options.access_log = Some(file_access_log(
                &log_path,
                "%REQ(:PATH)% %RESPONSE_CODE% sub=%FILTER_STATE(wasm.jwt_authn_wasm.sub:PLAIN)% provider=%FILTER_STATE(wasm.jwt_authn_wasm.provider:PLAIN)% status=%FILTER_STATE(wasm.jwt_authn_wasm.status:PLAIN)%\n",
            ));
        },
        |idp| {
            json!({
                "realm": REALM,
                "providers": [auth0_provider(idp)],
                "filter_state": {"claims": [{"claim_name": "sub", "key": "sub"}], "payload": true}
            })
        },
    );
    let user_1 = auth0_token(&tb, json!({"sub": "user-1"}));
    let user_2 = auth0_token(&tb, json!({"sub": "user-2"}));
    assert_eq!(tb.get_with_token("/rbac/x", &user_1).status, 200);
    let r = tb.get_with_token("/rbac/y", &user_2);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.text(), "RBAC: access denied");
    assert_eq!(tb.get_with_token("/elsewhere", &user_2).status, 200);
    let expired = auth0_token(&tb, json!({"exp": 1_000_000_000}));
    assert_code(
        &tb.get_with_token("/expired", &expired),
        401,
        "token_expired",
    );
    assert_code(
        &tb.get("/missing", &[]),
        401,
        "authorization_header_missing",
    );

    let expected = [
        "/rbac/x 200 sub=user-1 provider=auth0 status=ok",
        "/rbac/y 403 sub=user-2 provider=auth0 status=ok",
        "/elsewhere 200 sub=user-2 provider=auth0 status=ok",
        "/expired 401 sub=- provider=- status=token_expired",
        "/missing 401 sub=- provider=- status=authorization_header_missing",
    ];
    assert_access_log(&access_log, &expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A route can match on a claim header: Envoy chooses the route again after the claim headers
/// are set. `clear_route_cache` asks for it explicitly; Envoy 1.40 also does it by itself
/// whenever a Wasm filter changes a request header, so the route follows the claim either way.
#[test]
fn clear_route_cache_lets_a_claim_choose_the_route() {
    // Both routes go to the echo upstream; the header each adds says which one matched.
    let routes = json!([
        {"match": {"prefix": "/", "headers": [{"name": "x-tier", "string_match": {"exact": "gold"}}]},
         "route": {"cluster": "echo"},
         "request_headers_to_add": [{"header": {"key": "x-route", "value": "gold"}}]},
        {"match": {"prefix": "/"}, "route": {"cluster": "echo"},
         "request_headers_to_add": [{"header": {"key": "x-route", "value": "standard"}}]}
    ]);
    for clear in [true, false] {
        let routes = routes.clone();
        let tb = Testbed::start_with(
            IdpOptions::default(),
            |options: &mut EnvoyOptions| options.routes = Some(routes),
            |idp| {
                let mut provider = auth0_provider(idp);
                provider["claim_to_headers"] =
                    json!([{"claim_name": "tier", "header_name": "x-tier"}]);
                provider["clear_route_cache"] = json!(clear);
                json!({"realm": REALM, "providers": [provider]})
            },
        );
        let gold = auth0_token(&tb, json!({"tier": "gold"}));
        let silver = auth0_token(&tb, json!({"tier": "silver"}));
        let headers = upstream_headers(&tb.get_with_token("/", &gold));
        assert_eq!(headers["x-tier"], "gold");
        assert_eq!(headers["x-route"], "gold", "clear_route_cache: {clear}");
        let headers = upstream_headers(&tb.get_with_token("/", &silver));
        assert_eq!(headers["x-route"], "standard", "clear_route_cache: {clear}");
        // A client's own x-tier is removed before the route is chosen again.
        let with_forged = [
            ("authorization", bearer(&silver)),
            ("x-tier", b"gold".to_vec()),
        ];
        let with_forged: Vec<(&str, &[u8])> = with_forged
            .iter()
            .map(|(n, v)| (*n, v.as_slice()))
            .collect();
        let headers = upstream_headers(&tb.get("/", &with_forged));
        assert_eq!(headers["x-tier"], "silver");
        assert_eq!(headers["x-route"], "standard", "clear_route_cache: {clear}");
        // The foreign function exists in Envoy 1.40 and was called without error.
        assert!(
            !tb.envoy.log().contains("could not clear the route cache"),
            "{}",
            tb.envoy.log()
        );
    }
}

#[test]
fn subjects_max_lifetime_and_a_padded_payload_header() {
    let tb = Testbed::start_with(
        IdpOptions::default(),
        |_| {},
        |idp| {
            let mut provider = auth0_provider(idp);
            provider["subjects"] = json!({"prefix": "SVC|", "ignore_case": true});
            provider["max_lifetime"] = json!("3600s");
            provider["forward_payload_header"] = json!("x-jwt-payload");
            provider["pad_forward_payload_header"] = json!(true);
            json!({"realm": REALM, "providers": [provider]})
        },
    );
    let invalid = |description: &str| {
        format!(
            "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
        )
    };
    let denied = |token: &str, description: &str| {
        let r = tb.get_with_token("/", token);
        assert_code(&r, 401, "invalid_claims");
        assert_eq!(
            r.header("www-authenticate"),
            Some(invalid(description).as_str())
        );
    };

    // `sub` matches the prefix in any case; the payload header is padded to a multiple of four
    // and decodes (standard base64url with padding) to the token's own payload.
    for sub in ["svc|billing", "SVC|b", "Svc|ab"] {
        let token = auth0_token(&tb, json!({"sub": sub}));
        let headers = upstream_headers(&tb.get_with_token("/", &token));
        let forwarded = headers["x-jwt-payload"].as_str().unwrap();
        let in_token = token.split('.').nth(1).unwrap();
        assert_eq!(forwarded.len() % 4, 0, "{forwarded}");
        assert_eq!(forwarded.trim_end_matches('='), in_token);
        assert!(forwarded.len() - in_token.len() < 4);
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(forwarded)
            .unwrap();
        let payload: Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(payload["sub"], sub);
    }
    denied(
        &auth0_token(&tb, json!({"sub": "user|svc|x"})),
        "Token subject is not accepted",
    );
    denied(
        &auth0_token(&tb, json!({"sub": Value::Null})),
        "Token has no subject",
    );

    // max_lifetime: exactly an hour passes, a second more does not, and both claims are needed.
    let lifetime = |secs: i64| {
        tb.mint(&MintRequest {
            lifetime_secs: Some(secs),
            ..MintRequest::new(Alg::Rs256).claim("sub", "svc|x")
        })
    };
    assert_eq!(tb.get_with_token("/", &lifetime(3_600)).status, 200);
    denied(&lifetime(3_601), "Token lifetime is too long");
    denied(
        &auth0_token(&tb, json!({"sub": "svc|x", "iat": Value::Null})),
        "Token lacks the iat or exp its lifetime needs",
    );
}

/// `allow_missing` and `allow_missing_or_failed`, as Envoy's: the request goes on, the claim
/// headers a client forged are still removed, and the failure reaches an RBAC filter after this
/// one (filter state `status`), the access log and the labelled metrics.
#[test]
fn allow_missing_and_allow_missing_or_failed_pass_and_record_the_failure() {
    let dir = support::unique_temp_dir("tolerant-access");
    let access_log = dir.join("access.log");
    let log_path = access_log.to_string_lossy().into_owned();
    let tb = Testbed::start_with(
        IdpOptions::default(),
        move |options: &mut EnvoyOptions| {
            // /failed/members needs a verified token: RBAC refuses any other status there.
            options.filters_after = vec![rbac_requiring(
                "/failed/members",
                "wasm.jwt_authn_wasm.status",
                "ok",
            )];
            options.access_log = Some(file_access_log(
                &log_path,
                "%REQ(:PATH)% %RESPONSE_CODE% sub=%FILTER_STATE(wasm.jwt_authn_wasm.sub:PLAIN)% status=%FILTER_STATE(wasm.jwt_authn_wasm.status:PLAIN)%\n",
            ));
        },
        |idp| {
            let mut provider = auth0_provider(idp);
            provider["claim_to_headers"] = json!([{"claim_name": "sub", "header_name": "x-user"}]);
            json!({
                "realm": REALM,
                "providers": [provider],
                "filter_state": {"claims": [{"claim_name": "sub", "key": "sub"}]},
                "rules": [
                    {"match": {"path_separated_prefix": "/missing"}, "requires": {"allow_missing": {}}},
                    {"match": {"path_separated_prefix": "/failed"}, "requires": {"allow_missing_or_failed": {"providers": ["auth0"]}}}
                ]
            })
        },
    );
    let valid = auth0_token(&tb, json!({"sub": "user-1"}));
    let expired = tb.mint(&MintRequest {
        expired: true,
        ..MintRequest::new(Alg::Rs256)
    });
    let forged_user: (&str, &[u8]) = ("x-user", b"admin");
    let with_token = |token: &str| [("authorization", bearer(token))];
    let get = |target: &str, authorization: Option<&[u8]>| {
        let mut headers = vec![forged_user];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        tb.get(target, &headers)
    };

    // allow_missing: no token, or credentials in another scheme, pass without claims; a bad
    // token is still refused.
    let headers = upstream_headers(&get("/missing/a", None));
    assert!(headers.get("x-user").is_none(), "{headers}");
    let headers = upstream_headers(&get("/missing/b", Some(b"Basic dXNlcjpwYXNz")));
    assert!(headers.get("x-user").is_none(), "{headers}");
    assert_eq!(headers["authorization"], "Basic dXNlcjpwYXNz");
    let headers = upstream_headers(&get("/missing/c", Some(&with_token(&valid)[0].1)));
    assert_eq!(headers["x-user"], "user-1");
    let r = get("/missing/d", Some(&with_token(&expired)[0].1));
    assert_code(&r, 401, "token_expired");

    // allow_missing_or_failed: an expired token passes too, without its claims; the RBAC
    // filter after this one still sees that it failed.
    let headers = upstream_headers(&get("/failed/a", Some(&with_token(&expired)[0].1)));
    assert!(headers.get("x-user").is_none(), "{headers}");
    let headers = upstream_headers(&get("/failed/b", Some(b"Bearer not.a.jwt")));
    assert!(headers.get("x-user").is_none(), "{headers}");
    let r = get("/failed/members", Some(&with_token(&expired)[0].1));
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.text(), "RBAC: access denied");
    let headers = upstream_headers(&get("/failed/members", Some(&with_token(&valid)[0].1)));
    assert_eq!(headers["x-user"], "user-1");
    // A route that tolerates nothing is unchanged: no rule matches, so the default denies.
    assert_code(&get("/other", None), 403, "access_denied");

    let expected = [
        "/missing/a 200 sub=- status=authorization_header_missing",
        "/missing/b 200 sub=- status=invalid_header",
        "/missing/c 200 sub=user-1 status=ok",
        "/missing/d 401 sub=- status=token_expired",
        "/failed/a 200 sub=- status=token_expired",
        "/failed/b 200 sub=- status=invalid_token",
        "/failed/members 403 sub=- status=token_expired",
        "/failed/members 200 sub=user-1 status=ok",
        "/other 403 sub=- status=access_denied",
    ];
    assert_access_log(&access_log, &expected);

    // Counted as allowed, and by the failure let through (labelled by envoy.yaml's tags).
    let (mut allowed, mut unverified) = (None, [None; 4]);
    let counted = support::wait_until(std::time::Duration::from_secs(5), &mut || {
        let (_, text) = tb.envoy.admin_get("/stats/prometheus");
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
                .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        };
        allowed = value("jwt_authn_requests_allowed");
        unverified = [
            "authorization_header_missing",
            "invalid_header",
            "token_expired",
            "invalid_token",
        ]
        .map(|code| {
            value(&format!(
                "jwt_authn_requests_allowed_unverified{{code=\"{code}\"}}"
            ))
        });
        allowed == Some(7)
    });
    assert!(counted, "requests_allowed: {allowed:?}");
    assert_eq!(unverified, [Some(1), Some(1), Some(2), Some(1)]);
    let _ = std::fs::remove_dir_all(&dir);
}
