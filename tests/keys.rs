//! The key lifecycle end to end, in a real Envoy with two workers, against the mock identity
//! provider's fault modes: outages and last-good keys, maximum staleness, refetch on an unknown
//! `kid`, OIDC discovery, local keys, and metrics. Rotation under traffic, cold start and the
//! random-kid flood are in tests/rotation.rs.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::{eventually, IdpOptions, Response, Testbed};
use testbed::idp::{Fault, IdpServer};
use testbed::mint::{Alg, MintRequest};

fn jwks_uri(idp: &IdpServer) -> String {
    format!("http://127.0.0.1:{}/.well-known/jwks.json", idp.port())
}

/// One remote provider with the given `remote_jwks` extras.
fn config(idp: &IdpServer, remote: Value) -> Value {
    let mut remote_jwks = json!({
        "http_uri": {"uri": jwks_uri(idp), "cluster": "idp", "timeout": "1s"},
        "cache_control_min": "1s"
    });
    for (k, v) in remote.as_object().unwrap() {
        remote_jwks[k] = v.clone();
    }
    json!({
        "key_wait_timeout": "3s",
        "providers": [{
            "name": "mock",
            "issuer": idp.issuer(),
            "audiences": [idp.audience()],
            "remote_jwks": remote_jwks
        }]
    })
}

fn start(max_age: u64, remote: Value) -> Testbed {
    Testbed::start_with(
        IdpOptions {
            max_age_secs: Some(max_age),
            ..IdpOptions::default()
        },
        |_| {},
        move |idp| config(idp, remote),
    )
}

fn code(response: &Response) -> String {
    response.json()["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn last_good_keys_survive_an_outage_until_the_maximum_staleness() {
    let tb = start(1, json!({"cache_duration": "1s", "max_staleness": "4s"}));
    let token = tb.mint(&MintRequest::new(Alg::Es384));
    assert_eq!(tb.get_with_token("/", &token).status, 200);

    tb.idp.set_fault(Fault::Down);
    let down_at = Instant::now();
    let fetches = tb.idp.jwks_fetches();
    assert!(eventually(Duration::from_secs(5), || tb.idp.jwks_fetches() > fetches));
    // Fetching fails, the last good keys still serve.
    assert_eq!(
        tb.get_with_token("/", &token).status,
        200,
        "{}",
        tb.envoy.log_tail(20)
    );
    // Past the maximum staleness (4 s after the last success) the provider answers 503.
    assert!(
        eventually(Duration::from_secs(10), || tb
            .get_with_token("/", &token)
            .status
            == 503),
        "{}",
        tb.envoy.log_tail(30)
    );
    assert!(
        down_at.elapsed() >= Duration::from_secs(2),
        "503 came too early"
    );
    let r = tb.get_with_token("/", &token);
    assert_eq!(code(&r), "jwks_unavailable");

    // The provider comes back: so do the keys, without restarting Envoy.
    tb.idp.set_fault(Fault::None);
    assert!(
        eventually(Duration::from_secs(40), || tb
            .get_with_token("/", &token)
            .status
            == 200),
        "{}",
        tb.envoy.log_tail(30)
    );
}

#[test]
fn every_fault_mode_keeps_the_last_good_keys_and_is_logged() {
    let tb = start(1, json!({"cache_duration": "1s"}));
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/", &token).status, 200);
    for (fault, logged) in [
        (Fault::Status500, "key fetch failed: HTTP status 500"),
        (Fault::Garbage, "key fetch failed: unusable key set"),
        (Fault::Oversized, "exceeds the 262144-byte limit"),
        (Fault::EmptyKeys, "key fetch failed: unusable key set"),
        // A callout that times out or cannot connect arrives as Envoy's own 504 or 503.
        (
            Fault::Slow(Duration::from_millis(2_500)),
            "key fetch failed: HTTP status 504",
        ),
        (Fault::Down, "key fetch failed: HTTP status 503"),
    ] {
        tb.idp.set_fault(fault);
        let seen = eventually(Duration::from_secs(15), || tb.envoy.log().contains(logged));
        assert!(
            seen,
            "{fault:?}: no `{logged}` in the log:\n{}",
            tb.envoy.log_tail(20)
        );
        assert_eq!(tb.get_with_token("/", &token).status, 200, "{fault:?}");
        // Clear the fault and let one good fetch happen before the next mode.
        tb.idp.set_fault(Fault::None);
        let fetches = tb.idp.jwks_fetches();
        assert!(eventually(Duration::from_secs(40), || tb
            .idp
            .jwks_fetches()
            > fetches + 1));
    }
    assert!(!tb.envoy.log().contains("panicked at"));
}

#[test]
fn a_rotated_key_is_picked_up_by_refetch_on_unknown_kid() {
    let tb = start(600, json!({"cache_duration": "600s"}));
    let old = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/", &old).status, 200);
    let fetches = tb.idp.jwks_fetches();

    tb.idp.rotate().unwrap();
    let new = tb.mint(&MintRequest::new(Alg::Rs256));
    // The very first request with the new kid waits for one refetch and succeeds.
    let r = tb.get_with_token("/", &new);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), tb.envoy.log_tail(20));
    assert_eq!(tb.idp.jwks_fetches(), fetches + 1);
    assert_eq!(
        tb.get_with_token("/", &old).status,
        200,
        "old keys are still published"
    );
}

#[test]
fn discovery_finds_the_keys_and_checks_the_issuer() {
    let tb = Testbed::start_with(
        IdpOptions {
            max_age_secs: Some(600),
            ..IdpOptions::default()
        },
        |_| {},
        |idp| {
            json!({
                "providers": [
                    {
                        "name": "discovered",
                        "issuer": idp.issuer(),
                        "audiences": [idp.audience()],
                        "remote_jwks": {"oidc_discovery": {"cluster": "idp", "timeout": "1s"}}
                    },
                    {
                        "name": "impostor",
                        "issuer": "https://impostor.example.test/",
                        "remote_jwks": {"oidc_discovery": {"cluster": "idp", "timeout": "1s"}}
                    }
                ]
            })
        },
    );
    let token = tb.mint(&MintRequest::new(Alg::Es384));
    let r = tb.get_with_token("/", &token);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), tb.envoy.log_tail(20));
    assert!(tb.idp.discovery_fetches() >= 2);
    assert!(tb.idp.jwks_fetches() >= 1);
    // The same keys under an issuer the discovery document does not name: never trusted.
    let impostor =
        tb.mint(&MintRequest::new(Alg::Es384).claim("iss", "https://impostor.example.test/"));
    let r = tb.get_with_token("/", &impostor);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(tb.envoy.log().contains(
        "provider impostor: discovery failed: the discovery document names another issuer"
    ));
}

#[test]
fn local_keys_need_no_fetch() {
    let tb = Testbed::start(|idp| {
        json!({
            "providers": [{
                "name": "local",
                "issuer": idp.issuer(),
                "audiences": [idp.audience()],
                "local_jwks": {"inline_string": idp.jwks().to_string()}
            }]
        })
    });
    tb.idp.set_fault(Fault::Down);
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/", &token).status, 200);
    assert_eq!(tb.idp.jwks_fetches(), 0);
}

#[test]
fn metrics_show_in_prometheus_stats() {
    let tb = start(600, json!({}));
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/", &token).status, 200);
    assert_eq!(tb.get("/", &[]).status, 401);
    // The same token twice more: cache hits on a worker that has seen it, which this
    // configuration (no rules, no claim headers) answers through its hit plan; counted like any
    // allowed request, the token removed.
    for _ in 0..2 {
        let r = tb.get_with_token("/", &token);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.json()["headers"]["authorization"],
            Value::Null,
            "{}",
            r.text()
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let (status, text) = tb.envoy.admin_get("/stats/prometheus");
    assert_eq!(status, 200);
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "{name} not in /stats/prometheus:\n{}",
                    text.lines()
                        .filter(|l| l.contains("jwt_authn"))
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            })
    };
    // envoy.yaml's stats_tags turn the code and the provider into labels.
    assert_eq!(value("jwt_authn_requests_allowed"), 3);
    assert_eq!(
        value(r#"jwt_authn_requests_denied{code="authorization_header_missing"}"#),
        1
    );
    assert_eq!(
        value(r#"jwt_authn_requests_denied{code="invalid_token"}"#),
        0
    );
    assert_eq!(
        value(r#"jwt_authn_provider_requests_allowed{provider="mock"}"#),
        3
    );
    assert_eq!(
        value(r#"jwt_authn_provider_jwks_fetch_success{provider="mock"}"#),
        1
    );
    assert_eq!(
        value(r#"jwt_authn_provider_jwks_fetch_failure{provider="mock"}"#),
        0
    );
    assert!(value(r#"jwt_authn_provider_jwks_age_seconds{provider="mock"}"#) < 60);
    // Each worker has its own cache, and each request may land on either of the two workers:
    // the first request a worker sees with the token misses, every later one hits.
    let (hits, misses) = (
        value("jwt_authn_token_cache_hits"),
        value("jwt_authn_token_cache_misses"),
    );
    assert_eq!(hits + misses, 3, "hits {hits}, misses {misses}");
    assert!((1..=2).contains(&hits), "hits {hits}, misses {misses}");
}

/// Signature verification times are histograms labelled by algorithm and backend (one
/// verification in eight per VM is timed), through envoy.yaml's `stats_tags`.
#[test]
fn verification_times_are_histograms_by_algorithm_and_backend() {
    let tb = Testbed::start(|idp| {
        let mut config = config(idp, json!({}));
        config["jwt_cache_config"] = json!({"jwt_cache_size": 0});
        config
    });
    for _ in 0..40 {
        for alg in [Alg::Rs256, Alg::Es384] {
            let token = tb.mint(&MintRequest::new(alg));
            assert_eq!(tb.get_with_token("/", &token).status, 200);
        }
    }
    let count = |text: &str, alg: &str, backend: &str| -> u64 {
        text.lines()
            .find(|l| {
                l.starts_with("jwt_authn_verify_duration_us_count{")
                    && l.contains(&format!("alg=\"{alg}\""))
                    && l.contains(&format!("backend=\"{backend}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let mut text = String::new();
    // Histograms reach the admin output on Envoy's stats flush (every 5 s).
    let seen = eventually(Duration::from_secs(12), || {
        text = tb.envoy.admin_get("/stats/prometheus").1;
        count(&text, "RS256", "host") >= 3 && count(&text, "ES384", "own") >= 3
    });
    assert!(
        seen,
        "{}",
        text.lines()
            .filter(|l| l.contains("verify"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    // At most one in eight of 40 per algorithm, whatever the split between the two workers.
    assert!(count(&text, "RS256", "host") <= 5, "{text}");
}

/// `stat_prefix` goes into every metric name after `jwt_authn`, so two instances of the filter
/// (two listeners, two chains) count apart; the labels still apply.
#[test]
fn stat_prefix_names_the_instance_in_its_metrics() {
    let tb = Testbed::start(|idp| {
        let mut config = config(idp, json!({}));
        config["stat_prefix"] = json!("edge");
        config
    });
    let token = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/", &token).status, 200);
    assert_eq!(tb.get("/", &[]).status, 401);
    let wanted = [
        "jwt_authn_edge_requests_allowed{} 1",
        r#"jwt_authn_edge_requests_denied{code="authorization_header_missing"} 1"#,
        r#"jwt_authn_edge_provider_requests_allowed{provider="mock"} 1"#,
    ];
    let mut text = String::new();
    let seen = eventually(Duration::from_secs(5), || {
        text = tb.envoy.admin_get("/stats/prometheus").1;
        wanted.iter().all(|w| text.lines().any(|l| l == *w))
    });
    assert!(
        seen,
        "{}",
        text.lines()
            .filter(|l| l.contains("jwt_authn"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(!text.contains("jwt_authn_requests_allowed"), "{text}");
}
