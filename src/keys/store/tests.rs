use super::*;
use std::cell::RefCell;
use std::collections::HashMap;

/// Shared data with Envoy's semantics: CAS checked only on existing keys.
#[derive(Default)]
pub struct MemoryShared {
    map: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    next_cas: RefCell<u32>,
}

impl MemoryShared {
    /// How many entries exist.
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }
}

impl SharedData for MemoryShared {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.map.borrow().get(key).cloned()
    }
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        let mut map = self.map.borrow_mut();
        if let (Some(cas), Some((_, current))) = (cas, map.get(key)) {
            if cas != 0 && cas != *current {
                return Err(SetError::CasMismatch);
            }
        }
        let mut next = self.next_cas.borrow_mut();
        *next += 1;
        map.insert(key.to_string(), (value.to_vec(), *next));
        Ok(())
    }
}

fn store() -> ProviderStore {
    ProviderStore {
        state_key: "s".into(),
        jwks_key: "j".into(),
        jwks_uri_key: "u".into(),
    }
}

#[test]
fn state_round_trips_and_rejects_garbage() {
    let state = FetchState {
        generation: 3,
        fetched_at_ms: 4,
        next_fetch_at_ms: 5,
        failures: 6,
        lease_holder: 7,
        lease_expires_at_ms: 8,
        unknown_kid_refetch_at_ms: 9,
        fetches: 10,
    };
    assert_eq!(FetchState::decode(&state.encode()), Some(state));
    assert_eq!(FetchState::decode(&[]), None);
    assert_eq!(FetchState::decode(&[STATE_FORMAT + 1; STATE_LEN]), None);
    assert_eq!(FetchState::decode(&state.encode()[..STATE_LEN - 1]), None);
}

#[test]
fn only_one_vm_acquires_the_lease() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    assert!(store.try_acquire(&shared, 1, 1_000, 5_000));
    assert!(!store.try_acquire(&shared, 2, 1_001, 5_000));
    // The lease lapses: another VM takes over.
    assert!(store.try_acquire(&shared, 2, 6_000, 5_000));
}

#[test]
fn a_stale_read_cannot_steal_the_lease() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    let (_, stale_cas) = store.read_state(&shared);
    assert!(store.try_acquire(&shared, 1, 1_000, 5_000));
    let theft = FetchState {
        lease_holder: 2,
        lease_expires_at_ms: 9_999,
        ..FetchState::default()
    };
    assert_eq!(
        shared.set("s", &theft.encode(), stale_cas),
        Err(SetError::CasMismatch)
    );
}

#[test]
fn publish_bumps_generation_and_schedules_refresh() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    assert!(store.try_acquire(&shared, 1, 1_000, 5_000));
    assert_eq!(store.publish(&shared, b"{}", 1_100, 601_100).unwrap(), 1);
    let (state, _) = store.read_state(&shared);
    assert_eq!(state.generation, 1);
    assert_eq!(state.lease_holder, 0);
    assert!(!state.fetch_due(601_099));
    assert!(state.fetch_due(601_100));
    assert_eq!(store.read_document(&shared).unwrap(), b"{}");
    // Nobody fetches before the refresh is due.
    assert!(!store.try_acquire(&shared, 2, 300_000, 5_000));
    assert!(store.try_acquire(&shared, 2, 601_100, 5_000));
}

#[test]
fn failures_count_and_release_the_lease() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    assert!(store.try_acquire(&shared, 1, 1_000, 5_000));
    let state = store.record_failure(&shared, 2_000).unwrap();
    assert_eq!(state.failures, 1);
    assert!(!store.try_acquire(&shared, 1, 1_999, 5_000));
    assert!(store.try_acquire(&shared, 2, 2_000, 5_000));
}

#[test]
fn retry_delay_grows_and_is_capped() {
    assert_eq!(retry_delay_ms(1, 0), 1_000);
    assert_eq!(retry_delay_ms(2, 0), 2_000);
    assert_eq!(retry_delay_ms(20, 0), 30_000);
    assert!(retry_delay_ms(1, u64::MAX) <= 1_200);
    assert!(retry_delay_ms(u32::MAX, u64::MAX) <= 36_000);
}

#[test]
fn worker_availability_follows_the_state() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    let mut worker = WorkerKeys::new(1, Verifier::default());
    assert!(matches!(
        worker.current(0, &store, &shared, 0, 1_000),
        Availability::Pending
    ));
    store.record_failure(&shared, 0).unwrap();
    // Within the poll interval the worker answers from its last read ...
    assert!(matches!(
        worker.current(0, &store, &shared, STATE_POLL_MS - 1, 1_000),
        Availability::Pending
    ));
    // ... afterwards it reads again.
    assert!(matches!(
        worker.current(0, &store, &shared, STATE_POLL_MS, 1_000),
        Availability::Unavailable
    ));
    assert!(matches!(
        worker.current(5, &store, &shared, 0, 1_000),
        Availability::Unavailable
    ));
}

#[test]
fn an_installed_key_set_is_not_parsed_again() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    // Published as generation 1, but what shared data holds would not even parse: a
    // worker that re-read and re-parsed it would have no keys.
    assert_eq!(store.publish(&shared, b"not a JWKS", 0, 60_000).unwrap(), 1);
    let mut worker = WorkerKeys::new(1, Verifier::default());
    use base64::Engine;
    let public = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public.to_bytes());
    let doc = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k","x":"{x}"}}]}}"#);
    let keys = Rc::new(
        KeySet::parse(doc.as_bytes(), &Verifier::default())
            .unwrap()
            .keys,
    );
    worker.install(0, 1, Rc::clone(&keys));
    match worker.current(0, &store, &shared, 0, 1_000) {
        Availability::Ready(current, version) => {
            assert!(Rc::ptr_eq(&current, &keys));
            assert_eq!(version.generation, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_worker_reads_the_state_once_per_poll_interval_unless_invalidated() {
    /// Shared data that counts reads.
    #[derive(Default)]
    struct Counting(MemoryShared, std::cell::Cell<u32>);
    impl SharedData for Counting {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.1.set(self.1.get() + 1);
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
            self.0.set(key, value, cas)
        }
    }
    let shared = Counting::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    let doc = serde_json::json!({"keys": [testbed::mint::Key::generate(testbed::mint::Alg::Es384, "k").unwrap().public_jwk()]}).to_string();
    store.publish(&shared, doc.as_bytes(), 0, 600_000).unwrap();
    let mut worker = WorkerKeys::new(1, Verifier::default());
    shared.1.set(0);
    // First sight: the state and the document.
    assert!(matches!(
        worker.current(0, &store, &shared, 1_000, 60_000),
        Availability::Ready(_, _)
    ));
    assert_eq!(shared.1.get(), 2);
    for now in 1_000..1_000 + STATE_POLL_MS {
        assert!(matches!(
            worker.current(0, &store, &shared, now, 60_000),
            Availability::Ready(_, _)
        ));
    }
    assert_eq!(shared.1.get(), 2, "no read inside the poll interval");
    worker.current(0, &store, &shared, 1_000 + STATE_POLL_MS, 60_000);
    assert_eq!(shared.1.get(), 3, "one read once it is over");
    worker.invalidate();
    worker.current(0, &store, &shared, 1_000 + STATE_POLL_MS, 60_000);
    assert_eq!(shared.1.get(), 4, "and one after invalidate");
    // A clock that went back reads too.
    worker.current(0, &store, &shared, 500, 60_000);
    assert_eq!(shared.1.get(), 5);
}

#[test]
fn unknown_kid_refetch_is_rate_limited_but_never_refused() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    assert!(store.try_acquire(&shared, 1, 1_000, 5_000));
    store.publish(&shared, b"{}", 1_000, 601_000).unwrap();
    let grant = |t: u64| store.request_refetch(&shared, t, 1_000).unwrap();
    // The first miss brings the refresh forward, and waits for the second completed fetch.
    assert_eq!(
        grant(2_000),
        RefetchGrant {
            awaited: 2,
            brought_forward: true
        }
    );
    assert!(store.read_state(&shared).0.fetch_due(2_000));
    // Until that fetch starts, and while it runs, more misses join it.
    assert!(!grant(2_050).brought_forward);
    assert!(store.try_acquire(&shared, 1, 2_100, 5_000));
    assert_eq!(grant(2_150).awaited, 2);
    store.publish(&shared, b"{}", 2_200, 602_200).unwrap();
    // Inside the interval a miss schedules the next fetch for the interval's end (it waits for
    // it, rather than being refused), and the misses after it join that one.
    assert_eq!(
        grant(2_300),
        RefetchGrant {
            awaited: 3,
            brought_forward: true
        }
    );
    let (state, _) = store.read_state(&shared);
    assert_eq!(state.next_fetch_at_ms, 3_000);
    for t in (2_400..3_000).step_by(100) {
        assert!(!grant(t).brought_forward, "{t}");
    }
    assert!(!store.read_state(&shared).0.fetch_due(2_999));
    assert!(store.read_state(&shared).0.fetch_due(3_000));
    assert!(store.try_acquire(&shared, 1, 3_000, 5_000));
    store.publish(&shared, b"{}", 3_050, 603_050).unwrap();
    // So a flood costs one fetch per interval: the next one is due at 4_000.
    assert!(grant(3_100).brought_forward);
    assert_eq!(store.read_state(&shared).0.next_fetch_at_ms, 4_000);
    // Zero turns it off.
    assert_eq!(store.request_refetch(&shared, 99_000, 0), None);
}

#[test]
fn without_usable_keys_a_failed_fetch_is_retried_every_second() {
    for random in [0, 7, 199, 200, u64::MAX] {
        let delay = unusable_retry_delay_ms(random);
        assert!((1_000..=1_200).contains(&delay), "{delay}");
    }
    // The backoff for keys that still serve starts at 1 s and reaches 30 s.
    assert_eq!(retry_delay_ms(1, 0), 1_000);
    assert_eq!(retry_delay_ms(10, 0), 30_000);
}

#[test]
fn an_unchanged_document_keeps_its_generation() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    assert_eq!(store.publish(&shared, b"{\"keys\":1}", 1, 2).unwrap(), 1);
    assert_eq!(store.publish(&shared, b"{\"keys\":1}", 3, 4).unwrap(), 1);
    assert_eq!(store.read_state(&shared).0.fetched_at_ms, 3);
    assert_eq!(store.publish(&shared, b"{\"keys\":2}", 5, 6).unwrap(), 2);
}

#[test]
fn stale_keys_become_unavailable() {
    let shared = MemoryShared::default();
    let store = store();
    store.ensure_initialized(&shared).unwrap();
    let doc = serde_json::json!({"keys": [testbed::mint::Key::generate(testbed::mint::Alg::Es384, "k").unwrap().public_jwk()]}).to_string();
    store
        .publish(&shared, doc.as_bytes(), 10_000, 20_000)
        .unwrap();
    let mut worker = WorkerKeys::new(1, Verifier::default());
    assert!(matches!(
        worker.current(0, &store, &shared, 15_000, 5_000),
        Availability::Ready(
            _,
            KeyVersion {
                generation: 1,
                fetches: 1
            }
        )
    ));
    assert!(matches!(
        worker.current(0, &store, &shared, 15_001, 5_000),
        Availability::Unavailable
    ));
}
