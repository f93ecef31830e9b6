//! State one VM shares between its root context and its requests, and the host services the
//! pure core reaches through traits (shared data, the clock, randomness).

use super::metrics::Metrics;
use crate::config::Config;
use crate::keys::jwks::KeySet;
use crate::keys::store::{
    Availability, KeyVersion, ProviderStore, SetError, SharedData, WorkerKeys,
};
use crate::request::flow::{KeySource, TokenCache};
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
    /// The shared-data entries of each remote provider, in configuration order.
    pub stores: Vec<Option<ProviderStore>>,
    /// The key sets of local providers, parsed at configure time.
    pub local: Vec<Option<Rc<KeySet>>>,
    /// This VM's parsed copies of the remote key sets.
    pub keys: WorkerKeys,
    /// Where this VM verifies each algorithm (probed once, at configure).
    pub verifier: Verifier,
    /// Paused requests by context id.
    pub waiters: BTreeMap<u32, Waiter>,
    /// This VM's metric ids.
    pub metrics: Metrics,
    /// This VM's verified tokens.
    pub cache: TokenCache,
}

impl VmState {
    /// An unconfigured VM.
    pub fn new() -> Self {
        Self {
            config: None,
            hit_plan: None,
            stores: Vec::new(),
            local: Vec::new(),
            keys: WorkerKeys::new(0, Verifier::default()),
            verifier: Verifier::default(),
            waiters: BTreeMap::new(),
            metrics: Metrics::default(),
            cache: TokenCache::new(crate::config::token::CacheConfig::default()),
        }
    }

    /// A [`KeySource`] over this VM's key sets at time `now_ms`.
    /// A [`KeySource`] over this VM's key sets at time `now_ms`, and the token cache.
    pub fn keys_and_cache<'a>(
        &'a mut self,
        config: &'a Config,
        now_ms: u64,
    ) -> (VmKeys<'a>, &'a mut TokenCache) {
        (
            VmKeys {
                keys: &mut self.keys,
                stores: &self.stores,
                local: &self.local,
                config,
                now_ms,
            },
            &mut self.cache,
        )
    }
}

/// This VM's view of the providers' key sets, read through shared data.
pub struct VmKeys<'a> {
    keys: &'a mut WorkerKeys,
    stores: &'a [Option<ProviderStore>],
    local: &'a [Option<Rc<KeySet>>],
    config: &'a Config,
    now_ms: u64,
}

impl<'a> VmKeys<'a> {
    fn remote(&self, index: usize) -> Option<(&'a ProviderStore, &'a crate::config::RemoteJwks)> {
        let stores: &'a [Option<ProviderStore>] = self.stores;
        let config: &'a Config = self.config;
        let store = stores.get(index)?.as_ref()?;
        let remote = config.providers.get(index)?.jwks.remote()?;
        Some((store, remote))
    }
}

impl KeySource for VmKeys<'_> {
    fn availability(&mut self, index: usize) -> Availability {
        if let Some(Some(set)) = self.local.get(index) {
            return Availability::Ready(
                Rc::clone(set),
                KeyVersion {
                    generation: 1,
                    fetches: 0,
                },
            );
        }
        let Some((store, remote)) = self.remote(index) else {
            return Availability::Unavailable;
        };
        let staleness = remote.max_staleness_ms;
        self.keys
            .current(index, store, &HostShared, self.now_ms, staleness)
    }

    fn request_refetch(&mut self, index: usize) -> bool {
        match self.remote(index) {
            Some((store, remote)) => {
                store.request_refetch(&HostShared, self.now_ms, remote.unknown_kid_refetch_ms)
            }
            None => false,
        }
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

/// A random number from WASI's `random_get`, through std's randomly keyed hasher.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    hasher.finish()
}
