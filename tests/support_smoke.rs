//! Checks the integration-test harness itself, without the filter: Envoy starts from the
//! generated bootstrap, proxies to the echo upstream, and the mock identity provider answers.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use support::{http_request, EnvoyOptions, IdpOptions, Testbed};

#[test]
fn envoy_without_filter_proxies_to_echo_and_idp_is_reachable() {
    let tb = Testbed::start_with(
        IdpOptions::default(),
        |opts: &mut EnvoyOptions| opts.without_filter = true,
        |_| serde_json::json!({}),
    );

    let r = tb.get("/hello/world?x=1", &[("X-Test", b"yes")]);
    assert_eq!(r.status, 200, "{}", r.text());
    let echoed = r.json();
    assert_eq!(echoed["method"], "GET");
    assert_eq!(echoed["path"], "/hello/world?x=1");
    assert_eq!(echoed["headers"]["x-test"], "yes");

    // The connection manager normalises paths before routing.
    let r = tb.get("/a//b/../c", &[]);
    assert_eq!(r.json()["path"], "/a/c");

    let jwks = http_request(tb.idp.port(), "GET", "/.well-known/jwks.json", &[]);
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("cache-control"), Some("max-age=300"));
    assert_eq!(jwks.json()["keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(tb.idp.jwks_fetches(), 1);

    let (status, stats) = tb
        .envoy
        .admin_get("/stats?filter=cluster.echo.upstream_rq_total");
    assert_eq!(status, 200);
    assert!(
        stats.contains("cluster.echo.upstream_rq_total: 2"),
        "{stats}"
    );
    assert_eq!(tb.envoy.stat("cluster.echo.upstream_rq_total"), Some(2));
}
