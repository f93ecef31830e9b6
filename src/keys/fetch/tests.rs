use super::*;
use crate::config::tests::{minimal, parse};
use crate::keys::store::tests::MemoryShared;
use crate::keys::store::FetchState;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use std::cell::Cell;

const NOW: u64 = 1_700_000_000_000;

/// A started callout: cluster, headers, timeout.
type Started = (String, Vec<(String, String)>, u64);

/// Records every callout started; refuses them all when `refuse` is set.
#[derive(Default)]
struct FakeCallouts {
    started: Vec<Started>,
    refuse: bool,
}

impl Callouts for FakeCallouts {
    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, String> {
        if self.refuse {
            return Err("BadArgument".into());
        }
        let headers = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        self.started.push((cluster.into(), headers, timeout_ms));
        Ok(self.started.len() as u32)
    }
}

impl FakeCallouts {
    fn header(&self, callout: usize, name: &str) -> Option<&str> {
        self.started[callout]
            .1
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A response; `body()` counts its reads, so a test can see a body was never read.
struct FakeResponse {
    status: &'static str,
    cache_control: Option<&'static str>,
    body: Vec<u8>,
    reads: Cell<usize>,
}

fn response(status: &'static str, body: impl Into<Vec<u8>>) -> FakeResponse {
    FakeResponse {
        status,
        cache_control: None,
        body: body.into(),
        reads: Cell::new(0),
    }
}

impl FetchResponse for FakeResponse {
    fn header(&self, name: &str) -> Option<String> {
        match name {
            ":status" => Some(self.status.into()),
            "cache-control" => self.cache_control.map(String::from),
            _ => None,
        }
    }
    fn body_size(&self) -> usize {
        self.body.len()
    }
    fn body(&self) -> Result<Vec<u8>, String> {
        self.reads.set(self.reads.get() + 1);
        Ok(self.body.clone())
    }
}

/// A JWKS with one Ed25519 key.
pub(crate) fn jwks() -> Vec<u8> {
    let public = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let x = URL_SAFE_NO_PAD.encode(public.to_bytes());
    json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "x": x}]})
        .to_string()
        .into_bytes()
}

fn fetcher(config: serde_json::Value, vm: u64) -> (KeyFetcher, ProviderStore) {
    let config = parse(config).unwrap();
    let provider = &config.providers[0];
    let store = ProviderStore::new(provider, provider.jwks.remote().unwrap());
    let fetcher = KeyFetcher::new(
        Rc::new(config),
        vec![Some(store.clone())],
        Verifier::default(),
        vm,
    );
    (fetcher, store)
}

/// Hands `response` to `fetcher` as the answer to callout `token`; it must be the fetcher's.
fn answer(
    fetcher: &mut KeyFetcher,
    shared: &MemoryShared,
    callouts: &mut FakeCallouts,
    token: u32,
    response: &FakeResponse,
    now_ms: u64,
) -> Vec<FetchEvent> {
    fetcher
        .on_response(token, Some(response), shared, callouts, now_ms, 0)
        .unwrap()
}

fn discovery() -> serde_json::Value {
    let mut config = minimal();
    config["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
    config
}

fn state(store: &ProviderStore, shared: &MemoryShared) -> FetchState {
    store.read_state(shared).0
}

#[test]
fn a_due_fetch_starts_once_and_its_key_set_is_parsed_once_and_published() {
    let shared = MemoryShared::default();
    let (mut fetcher, store) = fetcher(minimal(), 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts::default();
    assert!(fetcher.start_due(&shared, &mut callouts, NOW, 0).is_empty());
    assert_eq!(callouts.started.len(), 1);
    assert_eq!(callouts.started[0].0, "idp");
    assert_eq!(callouts.started[0].2, 2_000);
    assert_eq!(callouts.header(0, ":path"), Some("/.well-known/jwks.json"));
    assert_eq!(callouts.header(0, ":authority"), Some("idp.example.test"));
    assert_eq!(callouts.header(0, "accept"), Some("application/json"));
    assert!(callouts
        .header(0, "user-agent")
        .is_some_and(|ua| ua.starts_with("jwt-authn-wasm/")));
    // In flight: neither this VM nor another starts a second fetch.
    fetcher.start_due(&shared, &mut callouts, NOW + 100, 0);
    let (mut other, _) = self::fetcher(minimal(), 4);
    other.start_due(&shared, &mut callouts, NOW + 100, 0);
    assert_eq!(callouts.started.len(), 1);

    let mut ok = response("200", jwks());
    ok.cache_control = Some("public, max-age=600");
    let events = fetcher
        .on_response(1, Some(&ok), &shared, &mut callouts, NOW + 200, 0)
        .unwrap();
    match events.as_slice() {
        [FetchEvent::Published {
            provider: 0,
            generation: 1,
            keys,
        }] => assert!(keys.has_kid("k1")),
        other => panic!("{other:?}"),
    }
    let state = state(&store, &shared);
    assert_eq!(state.generation, 1);
    assert_eq!(state.failures, 0);
    // 90% of max-age.
    assert_eq!(state.next_fetch_at_ms, NOW + 200 + 540_000);
    assert_eq!(store.read_document(&shared), Some(jwks()));
    // The same token again is no longer this fetcher's.
    assert!(fetcher
        .on_response(1, Some(&ok), &shared, &mut callouts, NOW + 300, 0)
        .is_none());
}

#[test]
fn failures_keep_the_last_keys_and_back_off() {
    let shared = MemoryShared::default();
    let (mut fetcher, store) = fetcher(minimal(), 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts::default();
    let cases: [(&str, Option<FakeResponse>); 4] = [
        ("no response", None),
        ("HTTP 500", Some(response("500", jwks()))),
        ("not JSON", Some(response("200", "<html>"))),
        ("no usable key", Some(response("200", r#"{"keys": []}"#))),
    ];
    // A first good fetch, so the failures below have last good keys to keep.
    fetcher.start_due(&shared, &mut callouts, NOW, 0);
    let events = answer(
        &mut fetcher,
        &shared,
        &mut callouts,
        1,
        &response("200", jwks()),
        NOW,
    );
    assert!(matches!(events.as_slice(), [FetchEvent::Published { .. }]));
    let mut now = state(&store, &shared).next_fetch_at_ms;
    for (attempt, (what, answer)) in cases.iter().enumerate() {
        fetcher.start_due(&shared, &mut callouts, now, 0);
        assert_eq!(callouts.started.len(), attempt + 2, "{what}");
        let token = callouts.started.len() as u32;
        let answer = answer.as_ref().map(|r| r as &dyn FetchResponse);
        let events = fetcher
            .on_response(token, answer, &shared, &mut callouts, now, 0)
            .unwrap();
        assert!(
            matches!(events.as_slice(), [FetchEvent::Failed { provider: 0 }]),
            "{what}: {events:?}"
        );
        let state = state(&store, &shared);
        assert_eq!(state.failures, attempt as u32 + 1, "{what}");
        assert_eq!(state.generation, 1, "{what}: the last good keys stay");
        assert_eq!(state.lease_holder, 0, "{what}: the lease is released");
        // 1 s, 2 s, 4 s, 8 s (no jitter with random 0).
        assert_eq!(state.next_fetch_at_ms, now + (1_000 << attempt), "{what}");
        now = state.next_fetch_at_ms;
    }
}

#[test]
fn without_keys_a_failed_fetch_is_retried_every_second_not_backed_off() {
    let shared = MemoryShared::default();
    let (mut fetcher, store) = fetcher(minimal(), 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts::default();
    let mut now = NOW;
    for attempt in 1..=8u32 {
        fetcher.start_due(&shared, &mut callouts, now, 0);
        let token = callouts.started.len() as u32;
        let events = answer(
            &mut fetcher,
            &shared,
            &mut callouts,
            token,
            &response("503", ""),
            now,
        );
        assert!(matches!(
            events.as_slice(),
            [FetchEvent::Failed { provider: 0 }]
        ));
        let state = state(&store, &shared);
        assert_eq!(state.failures, attempt);
        assert_eq!(state.generation, 0);
        assert_eq!(state.next_fetch_at_ms, now + 1_000, "attempt {attempt}");
        now = state.next_fetch_at_ms;
    }
    assert_eq!(callouts.started.len(), 8);
}

#[test]
fn an_oversized_body_is_refused_unread() {
    let shared = MemoryShared::default();
    let mut config = minimal();
    config["providers"][0]["remote_jwks"]["max_body_bytes"] = json!(1024);
    let (mut fetcher, store) = fetcher(config, 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts::default();
    fetcher.start_due(&shared, &mut callouts, NOW, 0);
    let big = response("200", vec![b' '; 1025]);
    let events = fetcher
        .on_response(1, Some(&big), &shared, &mut callouts, NOW, 0)
        .unwrap();
    assert!(matches!(
        events.as_slice(),
        [FetchEvent::Failed { provider: 0 }]
    ));
    assert_eq!(big.reads.get(), 0);
}

#[test]
fn a_refused_callout_is_a_failure() {
    let shared = MemoryShared::default();
    let (mut fetcher, store) = fetcher(minimal(), 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts {
        refuse: true,
        ..FakeCallouts::default()
    };
    let events = fetcher.start_due(&shared, &mut callouts, NOW, 0);
    assert!(matches!(
        events.as_slice(),
        [FetchEvent::Failed { provider: 0 }]
    ));
    assert_eq!(state(&store, &shared).failures, 1);
}

#[test]
fn discovery_checks_the_issuer_then_fetches_its_jwks_uri() {
    let shared = MemoryShared::default();
    let (mut fetcher, store) = fetcher(discovery(), 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts::default();
    fetcher.start_due(&shared, &mut callouts, NOW, 0);
    assert_eq!(
        callouts.header(0, ":path"),
        Some("/.well-known/openid-configuration")
    );
    let document = json!({
        "issuer": "https://idp.example.test/",
        "jwks_uri": "https://keys.example.test/v1/keys"
    });
    let events = answer(
        &mut fetcher,
        &shared,
        &mut callouts,
        1,
        &response("200", document.to_string()),
        NOW,
    );
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(callouts.started.len(), 2);
    assert_eq!(callouts.started[1].0, "idp");
    assert_eq!(callouts.header(1, ":authority"), Some("keys.example.test"));
    assert_eq!(callouts.header(1, ":path"), Some("/v1/keys"));
    let events = answer(
        &mut fetcher,
        &shared,
        &mut callouts,
        2,
        &response("200", jwks()),
        NOW,
    );
    assert!(matches!(
        events.as_slice(),
        [FetchEvent::Published { generation: 1, .. }]
    ));
}

#[test]
fn discovery_naming_another_issuer_fails_unless_a_jwks_uri_is_known() {
    let shared = MemoryShared::default();
    let (mut fetcher, store) = fetcher(discovery(), 2);
    store.ensure_initialized(&shared).unwrap();
    let mut callouts = FakeCallouts::default();
    let impostor = json!({
        "issuer": "https://evil.example.test/",
        "jwks_uri": "https://evil.example.test/keys"
    })
    .to_string();
    fetcher.start_due(&shared, &mut callouts, NOW, 0);
    let events = answer(
        &mut fetcher,
        &shared,
        &mut callouts,
        1,
        &response("200", impostor.clone()),
        NOW,
    );
    assert!(matches!(
        events.as_slice(),
        [FetchEvent::Failed { provider: 0 }]
    ));
    assert_eq!(
        callouts.started.len(),
        1,
        "the impostor's jwks_uri is never fetched"
    );

    // Once a good discovery stored its jwks_uri, a bad one falls back to it.
    store
        .store_jwks_uri(&shared, "https://keys.example.test/v1/keys")
        .unwrap();
    let later = state(&store, &shared).next_fetch_at_ms;
    fetcher.start_due(&shared, &mut callouts, later, 0);
    assert_eq!(callouts.started.len(), 2);
    answer(
        &mut fetcher,
        &shared,
        &mut callouts,
        2,
        &response("200", impostor),
        later,
    );
    assert_eq!(callouts.started.len(), 3);
    assert_eq!(callouts.header(2, ":authority"), Some("keys.example.test"));
}

#[test]
fn max_age_is_read_unless_reuse_is_forbidden() {
    assert_eq!(max_age("max-age=300"), Some(300));
    assert_eq!(max_age("public, Max-Age=\"60\""), Some(60));
    assert_eq!(max_age("max-age=300, no-cache"), None);
    assert_eq!(max_age("no-store"), None);
    assert_eq!(max_age("max-age=soon"), None);
    assert_eq!(max_age(""), None);
}
