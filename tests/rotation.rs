//! Key rotation and cold start in a real Envoy with two workers: not a single false answer.
//!
//! Against the mock identity provider's two-step rotations and fault modes: publish-then-sign
//! and sign-then-publish under steady traffic (every request 200), a key published right after
//! a refetch, the provider down at start and then back (the first 200 within two seconds), and
//! a flood of random kids (one fetch per interval; a kid waited for in vain is refused at once
//! afterwards). Each test counts the provider's fetches and reads the filter's metrics.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::{eventually, http_request, IdpOptions, Testbed};
use testbed::idp::{Fault, IdpServer, RotationOrder};
use testbed::mint::{Alg, MintRequest};

/// One remote provider; keys live ten minutes, so every fetch here is a refetch or a retry.
fn config(idp: &IdpServer, key_wait_timeout: &str) -> Value {
    json!({
        "key_wait_timeout": key_wait_timeout,
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
                "cache_duration": "600s"
            }
        }]
    })
}

fn start(key_wait_timeout: &'static str, before_envoy: impl FnOnce(&IdpServer)) -> Testbed {
    Testbed::start_with(
        IdpOptions {
            max_age_secs: Some(600),
            algorithms: Some(vec![Alg::Es256]),
            ..IdpOptions::default()
        },
        |_| {},
        move |idp| {
            before_envoy(idp);
            config(idp, key_wait_timeout)
        },
    )
}

fn stat(tb: &Testbed, name: &str) -> u64 {
    tb.envoy
        .stat(&format!("wasmcustom.jwt_authn.provider.mock.{name}"))
        .unwrap_or_else(|| panic!("no stat {name}"))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Steady traffic from `threads` clients, each minting a fresh token from the provider's
/// current signing key for every request, until `stop`; every status and its reply are kept.
fn traffic(tb: &Testbed, threads: usize, stop: &AtomicBool, seen: &Mutex<Vec<(u16, String)>>) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let token = tb.mint(&MintRequest::new(Alg::Es256));
                    let value = bearer(&token);
                    let r = http_request(
                        tb.envoy.port,
                        "GET",
                        "/",
                        &[("Authorization", value.as_bytes())],
                    );
                    let detail = if r.status == 200 {
                        String::new()
                    } else {
                        r.text()
                    };
                    seen.lock().unwrap().push((r.status, detail));
                }
            });
        }
    });
}

#[test]
fn rotations_in_either_order_under_traffic_refuse_no_valid_token() {
    let tb = start("3s", |_| {});
    assert_eq!(
        tb.get_with_token("/", &tb.mint(&MintRequest::new(Alg::Es256)))
            .status,
        200
    );
    let fetches = tb.idp.jwks_fetches();
    let stop = AtomicBool::new(false);
    let seen = Mutex::new(Vec::new());
    let rotations = [
        RotationOrder::PublishThenSign,
        RotationOrder::SignThenPublish,
        RotationOrder::PublishThenSign,
        RotationOrder::SignThenPublish,
    ];
    std::thread::scope(|scope| {
        scope.spawn(|| traffic(&tb, 4, &stop, &seen));
        for order in rotations {
            std::thread::sleep(Duration::from_millis(700));
            tb.idp.begin_rotation(order).unwrap();
            // The other half 0.4 s later: tokens signed with a key not yet published are held
            // through the refetches until it is.
            std::thread::sleep(Duration::from_millis(400));
            tb.idp.finish_rotation().unwrap();
        }
        std::thread::sleep(Duration::from_millis(1_500));
        stop.store(true, Ordering::SeqCst);
    });
    let seen = seen.into_inner().unwrap();
    let refused: Vec<_> = seen.iter().filter(|(status, _)| *status != 200).collect();
    assert!(
        refused.is_empty(),
        "{} of {} requests refused, first: {:?}\n{}",
        refused.len(),
        seen.len(),
        refused.first(),
        tb.envoy.log_tail(30)
    );
    assert!(seen.len() >= 40, "only {} requests sent", seen.len());
    // Each rotation's new kid costs one or two refetches (two when its key is published after
    // the first), shared by both workers; never one per request.
    let extra = tb.idp.jwks_fetches() - fetches;
    assert!(
        (4..=10).contains(&extra),
        "{extra} fetches for 4 rotations and {} requests",
        seen.len()
    );
    // Held requests and refetches show in the metrics (counters reach Envoy on the next tick).
    std::thread::sleep(Duration::from_millis(500));
    assert!(stat(&tb, "requests_held_for_keys") >= 4);
    let allowed = stat(&tb, "unknown_kid_refetch.allowed");
    assert!((1..=extra).contains(&allowed), "{allowed} of {extra}");
}

#[test]
fn a_key_published_right_after_a_refetch_is_found_by_the_next_one() {
    let tb = start("3s", |_| {});
    assert_eq!(
        tb.get_with_token("/", &tb.mint(&MintRequest::new(Alg::Es256)))
            .status,
        200
    );
    let fetches = tb.idp.jwks_fetches();
    tb.idp.rotate().unwrap();
    // Eight requests at once with the new kid, spread over both workers: all pass, on one fetch.
    let token = tb.mint(&MintRequest::new(Alg::Es256));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| tb.get_with_token("/", &token).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses, [200; 8], "{}", tb.envoy.log_tail(20));
    assert_eq!(
        tb.idp.jwks_fetches(),
        fetches + 1,
        "one fetch for every worker"
    );
    // The provider rotates again at once, inside the refetch interval: the next token waits
    // for the interval's refetch instead of being refused until a long window ends.
    tb.idp.rotate().unwrap();
    let token = tb.mint(&MintRequest::new(Alg::Es256));
    let started = Instant::now();
    let r = tb.get_with_token("/", &token);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), tb.envoy.log_tail(20));
    assert!(
        started.elapsed() < Duration::from_millis(2_500),
        "held {:?}",
        started.elapsed()
    );
    assert_eq!(tb.idp.jwks_fetches(), fetches + 2);
}

#[test]
fn with_the_provider_down_at_start_the_first_valid_token_passes_within_two_seconds_of_its_return() {
    let tb = start("3s", |idp| idp.set_fault(Fault::Down));
    let token = tb.mint(&MintRequest::new(Alg::Es256));
    // Down: 503 jwks_unavailable, at once (the first fetch has failed).
    assert!(eventually(Duration::from_secs(3), || tb.idp.jwks_fetches() > 0));
    let started = Instant::now();
    let r = tb.get_with_token("/", &token);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["code"], "jwks_unavailable");
    assert!(started.elapsed() < Duration::from_millis(500));
    // A long enough outage for a backoff to have grown past 8 s.
    std::thread::sleep(Duration::from_secs(6));
    let failed = tb.idp.jwks_fetches();
    assert!(
        failed >= 5,
        "{failed} fetches in 6 s: retries without keys are every second"
    );
    tb.idp.set_fault(Fault::None);
    let back = Instant::now();
    let mut last = None;
    let passed = eventually(Duration::from_secs(5), || {
        let r = tb.get_with_token("/", &token);
        let ok = r.status == 200;
        last = Some((r.status, r.text()));
        ok
    });
    let took = back.elapsed();
    assert!(passed, "{last:?}\n{}", tb.envoy.log_tail(20));
    assert!(took < Duration::from_secs(2), "first 200 after {took:?}");
    std::thread::sleep(Duration::from_millis(500));
    let first_keys = stat(&tb, "first_key_set_milliseconds");
    assert!(
        (6_000..60_000).contains(&first_keys),
        "first_key_set_milliseconds {first_keys}"
    );
}

#[test]
fn a_flood_of_random_kids_costs_one_fetch_per_interval_and_a_vain_kid_is_refused_at_once() {
    let tb = start("1s", |_| {});
    let good = tb.mint(&MintRequest::new(Alg::Es256));
    assert_eq!(tb.get_with_token("/", &good).status, 200);
    // That first request may have waited for the first key set: count from here.
    std::thread::sleep(Duration::from_millis(500));
    let held_before = stat(&tb, "requests_held_for_keys");
    let fetches = tb.idp.jwks_fetches();
    let started = Instant::now();
    // 16 clients, 8 random kids each: every one is held through a refetch (its key might be
    // published a moment late), then refused when the 1 s wait runs out.
    let statuses: Vec<(u16, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|client| {
                let tb = &tb;
                scope.spawn(move || {
                    (0..8)
                        .map(|i| {
                            let token = tb.mint(&MintRequest {
                                kid: Some(format!("random-{client}-{i}")),
                                ..MintRequest::new(Alg::Es256)
                            });
                            let r = tb.get_with_token("/", &token);
                            (r.status, r.json()["code"].as_str().unwrap_or("").to_owned())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    assert_eq!(statuses.len(), 128);
    for (status, code) in &statuses {
        assert_eq!((*status, code.as_str()), (401, "invalid_token"));
    }
    // A valid token is never held behind the flood.
    let r = tb.get_with_token("/", &good);
    assert_eq!(r.status, 200);
    let extra = tb.idp.jwks_fetches() - fetches;
    let bound = elapsed.as_secs() + 2;
    assert!(
        (1..=bound).contains(&extra),
        "{extra} fetches in {elapsed:?} for 128 random kids (one per second at most)"
    );
    // The last requests may have scheduled one more fetch, a second ahead: let it run.
    std::thread::sleep(Duration::from_millis(1_500));
    let extra = tb.idp.jwks_fetches() - fetches;
    assert_eq!(stat(&tb, "requests_held_for_keys") - held_before, 128);
    let allowed = stat(&tb, "unknown_kid_refetch.allowed");
    assert!(
        (1..=extra).contains(&allowed),
        "{allowed} refetches allowed, {extra} fetches"
    );
    assert!(stat(&tb, "unknown_kid_refetch.suppressed") >= 1);

    // One of those kids again: each worker held it once already, so it is refused at once
    // (at most one more hold, on a worker that had not seen it), with no new fetch.
    let vain = tb.mint(&MintRequest {
        kid: Some("random-0-0".into()),
        ..MintRequest::new(Alg::Es256)
    });
    let fetches = tb.idp.jwks_fetches();
    let mut held = 0;
    for _ in 0..6 {
        let at = Instant::now();
        let r = tb.get_with_token("/", &vain);
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["code"], "invalid_token");
        if at.elapsed() >= Duration::from_millis(500) {
            held += 1;
        }
    }
    assert!(held <= 2, "{held} of 6 replays held");
    // A held replay costs at most the two refetches of its 1 s wait; a refused one none.
    let replay_fetches = tb.idp.jwks_fetches() - fetches;
    assert!(
        replay_fetches <= 2 * held,
        "{replay_fetches} fetches for 6 replays, {held} of them held"
    );
}
