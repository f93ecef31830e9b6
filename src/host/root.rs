//! The root context: configuration, the key-fetch schedule, and waking paused requests.

use super::http::{apply, Filter};
use super::shared::{now_ms, random_u64, HostShared, VmState};
use crate::config::Config;
use crate::flow::{self, Decision};
use crate::jwks::KeySet;
use crate::keystore::{retry_delay_ms, ProviderStore, WorkerKeys};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// How often each VM checks the fetch schedule and its paused requests.
const TICK: Duration = Duration::from_millis(200);
/// A lease outlives the fetch timeout by this much before another VM may take over.
const LEASE_MARGIN_MS: u64 = 2_000;
/// Largest JWKS body accepted; larger ones count as a failed fetch.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The plugin's root context, one per VM.
pub struct Root {
    vm: Rc<RefCell<VmState>>,
    /// Identifies this VM as a lease holder.
    vm_token: u64,
    /// Callouts in flight: token to provider index.
    in_flight: BTreeMap<u32, usize>,
}

impl Root {
    /// An unconfigured root context.
    pub fn new() -> Self {
        Self {
            vm: Rc::new(RefCell::new(VmState::new())),
            vm_token: random_u64() | 1,
            in_flight: BTreeMap::new(),
        }
    }

    fn config(&self) -> Option<Rc<Config>> {
        self.vm.borrow().config.clone()
    }

    /// Starts every fetch that is due and whose lease this VM wins.
    fn fetch_due_key_sets(&mut self, now: u64) {
        let Some(config) = self.config() else { return };
        let stores = self.vm.borrow().stores.clone();
        for (index, (provider, store)) in config.providers.iter().zip(stores.iter()).enumerate() {
            if self.in_flight.values().any(|&i| i == index) {
                continue;
            }
            let uri = &provider.remote_jwks.http_uri;
            let lease_ms = uri.timeout_ms.saturating_add(LEASE_MARGIN_MS);
            if !store.try_acquire(&HostShared, self.vm_token, now, lease_ms) {
                continue;
            }
            let user_agent = concat!("jwt-authn-wasm/", env!("CARGO_PKG_VERSION"));
            let headers = vec![
                (":method", "GET"),
                (":path", uri.path.as_str()),
                (":authority", uri.authority.as_str()),
                (":scheme", uri.scheme.as_str()),
                ("accept", "application/json"),
                ("user-agent", user_agent),
            ];
            let timeout = Duration::from_millis(uri.timeout_ms);
            match hostcalls::dispatch_http_call(&uri.cluster, headers, None, vec![], timeout) {
                Ok(token) => {
                    log::debug!("provider {}: fetching keys from {}", provider.name, uri.uri);
                    self.in_flight.insert(token, index);
                }
                Err(status) => {
                    log::warn!(
                        "provider {}: could not start the key fetch through cluster `{}` ({status:?}); does the cluster exist?",
                        provider.name,
                        uri.cluster
                    );
                    self.fetch_failed(index, store, now);
                }
            }
        }
    }

    fn fetch_failed(&self, index: usize, store: &ProviderStore, now: u64) {
        let (state, _) = store.read_state(&HostShared);
        let delay = retry_delay_ms(state.failures.saturating_add(1), random_u64());
        if let Err(err) = store.record_failure(&HostShared, now.saturating_add(delay)) {
            log::warn!(
                "provider #{index}: could not record the failed fetch in shared data: {err:?}"
            );
        }
    }

    /// Handles a finished key fetch: publish a usable key set, or count a failure.
    fn on_key_fetch(&mut self, index: usize, num_headers: usize, body_size: usize) {
        let Some(config) = self.config() else { return };
        let (Some(provider), Some(store)) = (
            config.providers.get(index),
            self.vm.borrow().stores.get(index).cloned(),
        ) else {
            return;
        };
        let now = now_ms();
        let outcome = read_key_fetch(num_headers, body_size);
        match outcome {
            Ok((document, parsed)) => {
                for skipped in &parsed.skipped {
                    log::warn!("provider {}: skipping key {skipped}", provider.name);
                }
                let next = now.saturating_add(provider.remote_jwks.cache_duration_ms);
                match store.publish(&HostShared, &document, now, next) {
                    Ok(generation) => log::info!(
                        "provider {}: key set updated ({} usable keys, generation {generation})",
                        provider.name,
                        parsed.keys.len()
                    ),
                    Err(err) => log::warn!(
                        "provider {}: could not publish the key set to shared data: {err:?}",
                        provider.name
                    ),
                }
            }
            Err(reason) => {
                log::warn!(
                    "provider {}: key fetch from {} failed: {reason}",
                    provider.name,
                    provider.remote_jwks.http_uri.uri
                );
                self.fetch_failed(index, &store, now);
            }
        }
    }

    /// Decides paused requests whose keys arrived or whose wait ran out.
    fn wake_waiters(&mut self, now: u64) {
        let Some(config) = self.config() else { return };
        let mut ready = Vec::new();
        {
            let mut vm = self.vm.borrow_mut();
            let ids: Vec<u32> = vm.waiters.keys().copied().collect();
            for id in ids {
                let Some(waiter) = vm.waiters.get(&id) else {
                    continue;
                };
                let expired = now >= waiter.deadline_ms;
                let pending = waiter.pending.clone();
                match flow::on_keys_changed(&config, pending, &mut vm.key_source(), expired) {
                    Decision::Wait(_) => {}
                    decision => {
                        vm.waiters.remove(&id);
                        ready.push((id, decision));
                    }
                }
            }
        }
        for (id, decision) in ready {
            if hostcalls::set_effective_context(id).is_err() {
                continue;
            }
            if apply(decision, &config.realm) {
                if let Err(status) = hostcalls::resume_http_request() {
                    log::warn!("could not resume a request that waited for keys: {status:?}");
                }
            }
        }
    }
}

/// Reads a callout's response: a 200 whose body is a JWKS with at least one usable key.
fn read_key_fetch(
    num_headers: usize,
    body_size: usize,
) -> Result<(Vec<u8>, crate::jwks::ParsedKeySet), String> {
    if num_headers == 0 {
        return Err("no response (connection failed, reset or timed out)".into());
    }
    let headers = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
        .map_err(|status| format!("response headers unreadable ({status:?})"))?;
    let status = headers
        .iter()
        .find(|(name, _)| name == ":status")
        .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_default();
    if status != "200" {
        return Err(format!("HTTP status {status}"));
    }
    if body_size > MAX_JWKS_BYTES {
        return Err(format!(
            "body of {body_size} bytes exceeds the {MAX_JWKS_BYTES}-byte limit"
        ));
    }
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .map_err(|status| format!("body unreadable ({status:?})"))?
        .unwrap_or_default();
    let parsed = KeySet::parse(&body).map_err(|err| format!("unusable key set: {err}"))?;
    Ok((body, parsed))
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some(index) = self.in_flight.remove(&token_id) {
            self.on_key_fetch(index, num_headers, body_size);
            self.wake_waiters(now_ms());
        }
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        log::info!("jwt-authn-wasm {} starting", env!("CARGO_PKG_VERSION"));
        true
    }

    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let config = match Config::parse(&bytes) {
            Ok(config) => config,
            Err(err) => {
                log::error!("jwt-authn-wasm refuses to start: {err}");
                return false;
            }
        };
        let stores: Vec<ProviderStore> = config.providers.iter().map(ProviderStore::new).collect();
        for (provider, store) in config.providers.iter().zip(&stores) {
            if let Err(err) = store.ensure_initialized(&HostShared) {
                log::warn!(
                    "provider {}: could not initialise shared data: {err:?}",
                    provider.name
                );
            }
            if provider.audiences.is_empty() {
                log::warn!(
                    "provider {}: no audiences configured; `aud` is not checked",
                    provider.name
                );
            }
        }
        {
            let mut vm = self.vm.borrow_mut();
            vm.keys = WorkerKeys::new(config.providers.len());
            vm.stores = stores;
            vm.config = Some(Rc::new(config));
        }
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            log::warn!("could not set the tick period: {status:?}");
        }
        true
    }

    fn on_tick(&mut self) {
        let now = now_ms();
        self.fetch_due_key_sets(now);
        self.wake_waiters(now);
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(context_id, Rc::clone(&self.vm))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
