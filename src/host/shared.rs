//! State one VM shares between its root context and its requests, and the host services the
//! pure core reaches through traits (shared data, the clock, randomness).

use super::metrics::Metrics;
use crate::config::Config;
use crate::keys::source::{KeySource, KeysAt, Refetch, VmKeySets};
use crate::keys::store::{Availability, KeyVersion};
use crate::keys::store::{SetError, SharedData};
use crate::request::binding::keys::ProofKeys;
use crate::request::binding::replay::ReplayCache;
use crate::request::binding::{BindingServices, Recorded};
use crate::request::flow::TokenCache;
use crate::verify::Verifier;
use proxy_wasm::hostcalls;
use proxy_wasm::types::Status;
use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

/// A request paused until its provider's first key set arrives.
pub struct Waiter {
    /// The request's state, checked except for the signature.
    pub pending: crate::request::flow::Pending,
    /// When the wait ends with a 503 (ms since the epoch).
    pub deadline_ms: u64,
}

/// Everything one VM's contexts share.
pub struct VmState {
    /// The active configuration; `None` until `on_configure` succeeds.
    pub config: Option<Rc<Config>>,
    /// How the active configuration answers a cache hit, when nothing but the token matters.
    pub hit_plan: Option<Rc<crate::request::flow::HitPlan>>,
    /// Every provider's key set, local or fetched, as this VM sees it.
    pub keys: VmKeySets,
    /// Where this VM verifies each algorithm (probed once, at configure).
    pub verifier: Verifier,
    /// Paused requests by context id.
    pub waiters: BTreeMap<u32, Waiter>,
    /// This VM's metric ids.
    pub metrics: Metrics,
    /// This VM's verified tokens.
    pub cache: TokenCache,
    /// Per provider, its DPoP replay cache in shared data (`None`: DPoP off).
    pub replay: Vec<Option<ReplayCache>>,
    /// DPoP proof keys this VM has parsed.
    pub proof_keys: ProofKeys,
}

impl VmState {
    /// An unconfigured VM.
    pub fn new() -> Self {
        Self {
            config: None,
            hit_plan: None,
            keys: VmKeySets::default(),
            verifier: Verifier::default(),
            waiters: BTreeMap::new(),
            metrics: Metrics::default(),
            cache: TokenCache::new(crate::config::token::CacheConfig::default()),
            replay: Vec::new(),
            proof_keys: ProofKeys::default(),
        }
    }

    /// The request road's services over this VM's key sets at time `now_ms`, and the token
    /// cache.
    pub fn keys_and_cache<'a>(
        &'a mut self,
        config: &'a Config,
        now_ms: u64,
    ) -> (Services<'a>, &'a mut TokenCache) {
        let services = Services {
            keys: self.keys.at(config, &HostShared, now_ms),
            verifier: &self.verifier,
            replay: &self.replay,
            metrics: &self.metrics,
            proof_keys: &mut self.proof_keys,
        };
        (services, &mut self.cache)
    }
}

/// What the request's road reaches in this VM: its key sets, its verifier, and the DPoP replay
/// caches in shared data.
pub struct Services<'a> {
    keys: KeysAt<'a>,
    verifier: &'a Verifier,
    replay: &'a [Option<ReplayCache>],
    metrics: &'a Metrics,
    proof_keys: &'a mut ProofKeys,
}

impl crate::verify::VerificationTiming for Services<'_> {
    fn timing_start(&self, alg: crate::verify::Algorithm) -> Option<u64> {
        self.metrics.sample_verification(alg).then(now_micros)
    }
    fn timing_end(&self, alg: crate::verify::Algorithm, start: u64) {
        self.metrics
            .verification(alg, now_micros().saturating_sub(start));
    }
}

impl KeySource for Services<'_> {
    fn availability(&mut self, index: usize) -> Availability {
        self.keys.availability(index)
    }
    fn request_refetch(&mut self, index: usize, kid: &str, seen: KeyVersion) -> Refetch {
        self.keys.request_refetch(index, kid, seen)
    }
    fn kid_not_found(&mut self, index: usize, kid: &str) {
        self.keys.kid_not_found(index, kid)
    }
}

impl BindingServices for Services<'_> {
    fn verifier(&self) -> &Verifier {
        self.verifier
    }
    fn record_proof(&mut self, index: usize, id: &[u8; 16], expires_at: u64, now: u64) -> Recorded {
        let Some(Some(cache)) = self.replay.get(index) else {
            return Recorded::Unavailable;
        };
        let recorded = cache.record(&HostShared, id, expires_at, now);
        if recorded == Recorded::FirstEvicting {
            self.metrics.replay_evicted(index);
            log::warn!(
                "provider {}: the DPoP replay cache is full: evicted a live proof id \
                 (raise dpop.replay_cache_entries)",
                cache.name()
            );
        }
        recorded
    }
    fn proof_keys(&mut self) -> Option<&mut ProofKeys> {
        Some(self.proof_keys)
    }
}

/// proxy-wasm shared data as [`SharedData`].
pub struct HostShared;

impl SharedData for HostShared {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(bytes), Some(cas))) => Some((bytes, cas)),
            Ok((Some(bytes), None)) => Some((bytes, 0)),
            _ => None,
        }
    }

    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError> {
        match hostcalls::set_shared_data(key, Some(value), cas) {
            Ok(()) => Ok(()),
            Err(Status::CasMismatch) => Err(SetError::CasMismatch),
            Err(_) => Err(SetError::Host),
        }
    }
}

/// Proxy time in milliseconds since the epoch (0 if the host cannot tell, which it always can).
pub fn now_ms() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Proxy time in microseconds since the epoch.
pub fn now_micros() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A random number from WASI's `random_get`, through std's randomly keyed hasher.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    hasher.finish()
}
