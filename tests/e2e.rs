//! The filter end to end: a real Envoy (two workers) with the built .wasm, the mock identity
//! provider and the echo upstream, each on a free loopback port, owned by the test.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{eventually, EnvoyOptions, IdpOptions, Response, Testbed};
use testbed::idp::{Fault, IdpServer};
use testbed::mint::{tamper_signature, Alg, MintRequest};

const REALM: &str = "e2e";

/// The plugin configuration for the mock provider, with a few overridable knobs.
fn plugin_config(idp: &IdpServer, cache_duration: &str) -> Value {
    json!({
        "realm": REALM,
        "key_wait_timeout": "3s",
        "providers": [{
            "name": "mock",
            "issuer": idp.issuer(),
            "audiences": [idp.audience()],
            "remote_jwks": {
                "http_uri": {
                    "uri": format!("http://127.0.0.1:{}/.well-known/jwks.json", idp.port()),
                    "cluster": "idp",
                    "timeout": "1s"
                },
                "cache_duration": cache_duration,
                "cache_control_min": "1s"
            }
        }]
    })
}

/// Starts the testbed; the mock provider's `Cache-Control: max-age` equals `cache_duration` so
/// the refresh interval is the one the test names (90% of it, at least 1 s).
fn start(cache_duration: &'static str) -> Testbed {
    let seconds: u64 = cache_duration.trim_end_matches('s').parse().unwrap();
    Testbed::start_with(
        IdpOptions {
            max_age_secs: Some(seconds),
            ..IdpOptions::default()
        },
        |_| {},
        |idp| plugin_config(idp, cache_duration),
    )
}

/// Asserts a local reply: status, JSON code, content type and exact `WWW-Authenticate`.
fn assert_denied(response: &Response, status: u16, code: &str, www_authenticate: &str) {
    assert_eq!(response.status, status, "body: {}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    assert_eq!(response.header("www-authenticate"), Some(www_authenticate));
    let body = response.json();
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["description"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

fn invalid_token_header(description: &str) -> String {
    format!(
        "Bearer realm=\"{REALM}\", error=\"invalid_token\", error_description=\"{description}\""
    )
}

fn bare_header() -> String {
    format!("Bearer realm=\"{REALM}\"")
}

#[test]
fn first_request_after_start_succeeds_and_reaches_the_upstream() {
    let tb = start("600s");
    // No warm-up: the first request arrives before any key set exists and must wait for it.
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    let response = tb.get_with_token("/user?q=1", &token);
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        tb.envoy.log_tail(30)
    );
    let echoed = response.json();
    assert_eq!(echoed["path"], "/user?q=1");
    assert_eq!(echoed["method"], "GET");

    let token = tb.mint(&MintRequest::new(Alg::Es384));
    let response = tb.get_with_token("/user", &token);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["path"], "/user");
    assert_eq!(tb.idp.jwks_fetches(), 1);
}

#[test]
fn every_row_of_the_error_table() {
    let tb = start("600s");
    let ok = tb.mint(&MintRequest::new(Alg::Es384));
    assert_eq!(tb.get_with_token("/", &ok).status, 200);

    let r = tb.get("/user", &[]);
    assert_denied(&r, 401, "authorization_header_missing", &bare_header());

    let r = tb.get("/user", &[("authorization", b"Basic dXNlcjpwYXNz")]);
    assert_denied(&r, 401, "invalid_header", &bare_header());

    let invalid_request = |description: &str| {
        format!("Bearer realm=\"{REALM}\", error=\"invalid_request\", error_description=\"{description}\"")
    };
    let r = tb.get("/user", &[("authorization", b"Bearer")]);
    assert_denied(
        &r,
        401,
        "invalid_header",
        &invalid_request("Authorization header has no token after Bearer"),
    );
    let two = format!("Bearer {ok} {ok}");
    let r = tb.get("/user", &[("authorization", two.as_bytes())]);
    assert_denied(
        &r,
        401,
        "invalid_header",
        &invalid_request("Authorization header must carry exactly one token"),
    );
    // Bytes an HTTP client refuses to send in Authorization: the raw client.
    let r = support::raw_get(
        tb.envoy.port,
        "/user",
        &[("authorization", b"Bearer \xff\xfe\x80")],
    );
    assert_denied(
        &r,
        401,
        "invalid_header",
        &invalid_request("Authorization header contains characters that are not allowed"),
    );
    // Lower-case scheme is the same scheme (RFC 7235).
    let lower = format!("bearer {ok}");
    assert_eq!(
        tb.get("/user", &[("authorization", lower.as_bytes())])
            .status,
        200
    );

    // Tokens that fail: (what it is, the token, `code`, `error_description`).
    let now = testbed::mint::now_secs();
    let claims = json!({"iss": tb.idp.issuer(), "aud": tb.idp.audience(), "exp": now + 60});
    let none = tb
        .idp
        .sign_raw(
            Alg::Rs256,
            r#"{"alg":"none","kid":"rsa-1"}"#,
            &claims.to_string(),
        )
        .unwrap();
    let rows: Vec<(&str, String, &str, &str)> = vec![
        (
            "not a JWS",
            "not-a-token".into(),
            "invalid_token",
            "Token is not a JWS in compact form",
        ),
        (
            "tampered RS256",
            tamper_signature(&tb.mint(&MintRequest::new(Alg::Rs256))).unwrap(),
            "invalid_token",
            "Token signature is invalid",
        ),
        (
            "tampered ES384",
            tamper_signature(&tb.mint(&MintRequest::new(Alg::Es384))).unwrap(),
            "invalid_token",
            "Token signature is invalid",
        ),
        (
            "alg none",
            none,
            "invalid_token",
            "Token algorithm is not allowed",
        ),
        (
            "a key the provider never published",
            tb.mint(&MintRequest {
                unknown_key: true,
                ..MintRequest::new(Alg::Rs256)
            }),
            "invalid_token",
            "Token signature is invalid",
        ),
        (
            "a kid no key has",
            tb.mint(&MintRequest {
                kid: Some("no-such-kid".into()),
                ..MintRequest::new(Alg::Es384)
            }),
            "invalid_token",
            "No key of the issuer matches the token",
        ),
        (
            "expired",
            tb.mint(&MintRequest {
                expired: true,
                ..MintRequest::new(Alg::Rs256)
            }),
            "token_expired",
            "Token has expired",
        ),
        (
            "wrong audience",
            tb.mint(&MintRequest::new(Alg::Rs256).claim("aud", "https://other.example.test")),
            "invalid_claims",
            "Token audience is not accepted",
        ),
        (
            "wrong issuer",
            tb.mint(&MintRequest::new(Alg::Es384).claim("iss", "https://evil.example.test/")),
            "invalid_claims",
            "Token issuer is not accepted",
        ),
        (
            "not yet valid",
            tb.mint(&MintRequest::new(Alg::Rs256).claim("nbf", now + 3_600)),
            "invalid_claims",
            "Token is not yet valid",
        ),
        (
            "no exp",
            tb.mint(&MintRequest::new(Alg::Rs256).claim("exp", Value::Null)),
            "invalid_claims",
            "Token has no expiration time",
        ),
        (
            "exp as a string",
            tb.mint(&MintRequest::new(Alg::Rs256).claim("exp", "2000000000")),
            "invalid_claims",
            "A time claim is not a number",
        ),
    ];
    for (what, token, code, description) in rows {
        let r = tb.get_with_token("/user", &token);
        assert_eq!(r.status, 401, "{what}: {}", r.text());
        assert_denied(&r, 401, code, &invalid_token_header(description));
    }

    // After all of that the VMs are alive and still admit a valid token.
    assert_eq!(tb.get_with_token("/user", &ok).status, 200);
    assert_no_vm_failure(&tb);
}

#[test]
fn jwks_unavailable_until_the_identity_provider_is_up() {
    let tb = Testbed::start_with(
        IdpOptions::default(),
        |_| {},
        |idp| {
            idp.set_fault(Fault::Down);
            plugin_config(idp, "600s")
        },
    );
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    let r = tb.get_with_token("/user", &token);
    assert_denied(&r, 503, "jwks_unavailable", &bare_header());

    tb.idp.set_fault(Fault::None);
    // Retries back off 1 s, 2 s, 4 s ...: the provider recovers without restarting Envoy.
    let recovered = eventually(Duration::from_secs(15), || {
        tb.get_with_token("/user", &token).status == 200
    });
    assert!(recovered, "{}", tb.envoy.log_tail(30));
}

#[test]
fn key_rotation_is_picked_up_on_refresh() {
    let tb = start("1s");
    let old = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/user", &old).status, 200);

    tb.idp.rotate().unwrap();
    let new = tb.mint(&MintRequest::new(Alg::Es384));
    let picked_up = eventually(Duration::from_secs(10), || {
        tb.get_with_token("/user", &new).status == 200
    });
    assert!(picked_up, "{}", tb.envoy.log_tail(30));

    // Remove the old RSA key: tokens signed with it stop working after the next refresh.
    assert!(tb.idp.remove_key("rsa-1"));
    let rejected = eventually(Duration::from_secs(10), || {
        tb.get_with_token("/user", &old).status == 401
    });
    assert!(rejected, "{}", tb.envoy.log_tail(30));
}

#[test]
fn one_fetch_per_refresh_interval_across_workers() {
    let tb = start("2s");
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/", &token).status, 200);
    let start = tb.idp.jwks_fetches();
    std::thread::sleep(Duration::from_millis(6_500));
    let fetched = tb.idp.jwks_fetches() - start;
    // Three VMs (two workers and the main thread) each tick every 200 ms; a refresh every
    // 1.8 s (90% of max-age=2) over 6.5 s allows three or four fetches, never one per VM.
    assert!(
        (3..=4).contains(&fetched),
        "{fetched} fetches in 6.5 s with a 2 s interval"
    );
}

#[test]
fn bad_configuration_refuses_to_start() {
    let mut config = plugin_config_for_port(1);
    config["providers"][0]["remote_jwks"]["http_uri"]["timout"] = json!("1s");
    let options = EnvoyOptions {
        plugin_config: config,
        idp_port: 1,
        upstream_port: 2,
        ..EnvoyOptions::default()
    };
    let bootstrap = support::bootstrap(&options, &support::default_wasm_path());
    let (passed, log) = validate("badconfig", &bootstrap);
    assert!(!passed, "{log}");
    assert!(
        log.contains("jwt-authn-wasm refuses to start: invalid configuration at `providers[0].remote_jwks.http_uri.timout`"),
        "{log}"
    );
}

/// Runs `envoy --mode validate` on `bootstrap` and returns whether it passed and its log.
fn validate(name: &str, bootstrap: &Value) -> (bool, String) {
    let dir = support::unique_temp_dir(name);
    let path = dir.join("envoy.json");
    std::fs::write(&path, bootstrap.to_string()).unwrap();
    let output = std::process::Command::new(support::envoy_binary())
        .args(["--mode", "validate", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    (output.status.success(), log)
}

#[test]
fn a_plugin_without_configuration_refuses_to_start() {
    /// Removes the plugin's `configuration` (the object beside `root_id`), wherever it is.
    fn drop_configuration(value: &mut Value) -> bool {
        match value {
            Value::Object(map) if map.contains_key("root_id") => {
                map.remove("configuration").is_some()
            }
            Value::Object(map) => map.values_mut().any(drop_configuration),
            Value::Array(items) => items.iter_mut().any(drop_configuration),
            _ => false,
        }
    }
    let options = EnvoyOptions {
        plugin_config: plugin_config_for_port(1),
        idp_port: 1,
        upstream_port: 2,
        ..EnvoyOptions::default()
    };
    let mut bootstrap = support::bootstrap(&options, &support::default_wasm_path());
    assert!(
        drop_configuration(&mut bootstrap),
        "no plugin configuration found"
    );
    let (passed, log) = validate("noconfig", &bootstrap);
    assert!(!passed, "{log}");
    assert!(
        log.contains("jwt-authn-wasm refuses to start: invalid configuration: the plugin configuration is empty; it must be a JSON object with `providers`"),
        "{log}"
    );
}

#[test]
fn a_provider_without_issuer_takes_any_issuer_and_none() {
    let tb = Testbed::start(|idp| {
        let mut config = plugin_config(idp, "600s");
        config["providers"][0]
            .as_object_mut()
            .unwrap()
            .remove("issuer");
        config
    });
    for (what, request) in [
        ("its own issuer", MintRequest::new(Alg::Rs256)),
        (
            "another issuer",
            MintRequest::new(Alg::Es384).claim("iss", "https://elsewhere.example.test/"),
        ),
        (
            "no iss",
            MintRequest::new(Alg::Rs256).claim("iss", Value::Null),
        ),
    ] {
        let response = tb.get_with_token("/", &tb.mint(&request));
        assert_eq!(response.status, 200, "{what}: {}", response.text());
    }
    // The issuer is not checked, but the signature, the audience and `exp` still are.
    let forged =
        tamper_signature(&tb.mint(&MintRequest::new(Alg::Rs256).claim("iss", "x"))).unwrap();
    assert_denied(
        &tb.get_with_token("/", &forged),
        401,
        "invalid_token",
        &invalid_token_header("Token signature is invalid"),
    );
    let elsewhere = tb.mint(&MintRequest::new(Alg::Rs256).claim("aud", "https://other.example/"));
    assert_denied(
        &tb.get_with_token("/", &elsewhere),
        401,
        "invalid_claims",
        &invalid_token_header("Token audience is not accepted"),
    );
}

fn plugin_config_for_port(port: u16) -> Value {
    json!({
        "providers": [{
            "name": "mock",
            "issuer": "https://idp.example.test/",
            "remote_jwks": {
                "http_uri": {
                    "uri": format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
                    "cluster": "idp"
                }
            }
        }]
    })
}

/// No VM trapped: a trap logs the panic message or V8's "Uncaught RuntimeError", and the number of
/// live VMs (main thread + two workers + the plugin's) stays where it started.
fn assert_no_vm_failure(tb: &Testbed) {
    let log = tb.envoy.log();
    assert!(
        !log.contains("panicked at"),
        "a VM panicked:\n{}",
        tb.envoy.log_tail(40)
    );
    assert!(
        !log.contains("Uncaught RuntimeError"),
        "a VM trapped:\n{}",
        tb.envoy.log_tail(40)
    );
    assert_eq!(tb.envoy.stat("wasm.jwt_authn.vm_reload_failure"), Some(0));
}
