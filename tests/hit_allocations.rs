//! A cache hit allocates nothing beyond reading the header (issue 5, "hot path hygiene"):
//! the whole decision on a cached token, by the full path and by the hit plan the host uses,
//! counted by a global allocator that counts only while a test asks it to, on the test's own
//! thread.

// Test code: a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jwt_authn_wasm::config::Config;
use jwt_authn_wasm::keys::jwks::KeySet;
use jwt_authn_wasm::keys::source::KeySource;
use jwt_authn_wasm::keys::store::{Availability, KeyVersion};
use jwt_authn_wasm::request::flow::{self, Decision, TokenCache};
use jwt_authn_wasm::request::view::{RequestView, RouteProperty};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use testbed::mint::{Alg, MintRequest, Minter};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed to the system allocator unchanged; only a counter moves.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is System's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            COUNT.with(|c| c.set(c.get() + 1));
        }
        // SAFETY: the caller's contract is System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (usize, T) {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (COUNT.with(Cell::get), out)
}

const ISSUER: &str = "https://idp.example.test/";
const AUDIENCE: &str = "https://api.example.test";

/// Request headers as the host hands them over: each read is a fresh buffer (one allocation).
struct Headers(String);

impl RequestView for Headers {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        (name == "authorization").then(|| self.0.as_bytes().to_vec())
    }

    fn route(&self, _: RouteProperty) -> Option<Vec<u8>> {
        None
    }

    fn connection(&self, _: jwt_authn_wasm::request::view::ConnectionProperty) -> Option<Vec<u8>> {
        None
    }
}

struct Keys(Availability);

impl KeySource for Keys {
    fn availability(&mut self, _index: usize) -> Availability {
        self.0.clone()
    }
    fn request_refetch(
        &mut self,
        _index: usize,
        _kid: &str,
        _seen: jwt_authn_wasm::keys::store::KeyVersion,
    ) -> jwt_authn_wasm::keys::source::Refetch {
        jwt_authn_wasm::keys::source::Refetch::Refused
    }
    fn kid_not_found(&mut self, _index: usize, _kid: &str) {}
}

/// A cache hit verifies nothing, so it times nothing.
impl jwt_authn_wasm::verify::VerificationTiming for Keys {}

/// No token here is bound: a proof check would be a defect, so it is one.
impl jwt_authn_wasm::request::binding::BindingServices for Keys {
    fn verifier(&self) -> &jwt_authn_wasm::verify::Verifier {
        unreachable!("no provider here binds tokens")
    }
    fn record_proof(
        &mut self,
        _: usize,
        _: &[u8; 16],
        _: u64,
        _: u64,
    ) -> jwt_authn_wasm::request::binding::Recorded {
        unreachable!("no provider here binds tokens")
    }
    fn proof_keys(&mut self) -> Option<&mut jwt_authn_wasm::request::binding::keys::ProofKeys> {
        unreachable!("no provider here binds tokens")
    }
}

#[test]
fn a_cache_hit_allocates_only_the_header_it_reads() {
    let minter = Minter::generate(ISSUER, AUDIENCE).unwrap();
    let jwks = json!({"keys": [
        minter.signing_key(Alg::Rs256).unwrap().public_jwk(),
        minter.signing_key(Alg::Es384).unwrap().public_jwk(),
    ]});
    let keys = KeySet::parse(
        jwks.to_string().as_bytes(),
        &jwt_authn_wasm::verify::Verifier::default(),
    )
    .unwrap();
    let mut keys = Keys(Availability::Ready(
        Rc::new(keys.keys),
        KeyVersion {
            generation: 1,
            fetches: 1,
        },
    ));
    // The bench's configuration: one remote provider, default token sources, no rules.
    let config = Config::parse(
        json!({
            "realm": "bench",
            "providers": [{
                "name": "idp",
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "remote_jwks": {"http_uri": {"uri": "http://idp/jwks", "cluster": "idp"}}
            }]
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let mut cache = TokenCache::new(jwt_authn_wasm::config::token::CacheConfig::default());
    let now_ms = u64::try_from(testbed::mint::now_secs()).unwrap() * 1_000;
    for alg in [Alg::Rs256, Alg::Es384] {
        let headers = Headers(format!(
            "Bearer {}",
            minter.mint(&MintRequest::new(alg)).unwrap()
        ));
        let first = flow::on_request_headers(&config, &headers, &mut keys, &mut cache, now_ms);
        assert!(matches!(first, Decision::Allow(_)), "{first:?}");
        let hits = cache.stats().hits;
        let (count, decision) = allocations(|| {
            let decision =
                flow::on_request_headers(&config, &headers, &mut keys, &mut cache, now_ms);
            // The edits are applied and dropped inside the request too.
            let allowed = matches!(&decision, Decision::Allow(edits)
                if edits.removals().eq(["authorization"]));
            drop(decision);
            allowed
        });
        assert!(decision, "{alg:?}: a hit removes the token's header");
        assert_eq!(cache.stats().hits, hits + 1, "{alg:?}");
        assert_eq!(count, 1, "{alg:?}: allocations on a cache hit");
        // The host answers this configuration's hits through its hit plan, with the header it
        // already read: no allocation at all.
        let plan = flow::HitPlan::new(&config).unwrap();
        let (count, edits) = allocations(|| {
            let edits = plan.decide(headers.0.as_bytes(), &mut keys, &mut cache, now_ms);
            matches!(edits, Some(Decision::Allow(e)) if e.removals().eq(["authorization"]))
        });
        assert!(
            edits,
            "{alg:?}: the plan answers the hit and removes the header"
        );
        assert_eq!(count, 0, "{alg:?}: allocations of the hit plan");
    }
}
