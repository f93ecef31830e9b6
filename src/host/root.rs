//! The root context: configuration, the key-fetch schedule, and waking paused requests.

use super::http::{apply, Filter};
use super::metrics::Metrics;
use super::shared::{now_ms, random_u64, HostShared, VmState};
use crate::config::{Config, HttpUri, JwksEndpoint, JwksSource, RemoteJwks};
use crate::keys::jwks::{KeySet, ParsedKeySet};
use crate::keys::local::local_key_sets;
use crate::keys::store::{retry_delay_ms, ProviderStore, WorkerKeys};
use crate::request::flow::{self, Decision};
use crate::verify::Verifier;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType, MapType};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

/// How often each VM checks the fetch schedule and its paused requests.
const TICK: Duration = Duration::from_millis(200);
/// A lease outlives the fetches it covers by this much before another VM may take over.
const LEASE_MARGIN_MS: u64 = 2_000;

/// Which document a callout fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The OpenID discovery document, which names the JWKS URI.
    Discovery,
    /// The JWKS itself.
    Jwks,
}

/// The plugin's root context, one per VM.
pub struct Root {
    vm: Rc<RefCell<VmState>>,
    /// Identifies this VM as a lease holder.
    vm_token: u64,
    /// Callouts in flight: token to provider index and phase.
    in_flight: BTreeMap<u32, (usize, Phase)>,
}

/// A successful callout response.
struct Fetched {
    body: Vec<u8>,
    max_age: Option<u64>,
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

    fn store(&self, index: usize) -> Option<ProviderStore> {
        self.vm.borrow().stores.get(index).cloned().flatten()
    }

    /// Starts every fetch that is due and whose lease this VM wins.
    fn fetch_due_key_sets(&mut self, config: &Config, now: u64) {
        for (index, provider) in config.providers.iter().enumerate() {
            let (Some(remote), Some(store)) = (provider.jwks.remote(), self.store(index)) else {
                continue;
            };
            if self.in_flight.values().any(|&(i, _)| i == index) {
                continue;
            }
            let lease_ms = remote
                .first_uri()
                .timeout_ms
                .saturating_mul(2)
                .saturating_add(LEASE_MARGIN_MS);
            if !store.try_acquire(&HostShared, self.vm_token, now, lease_ms) {
                continue;
            }
            match &remote.endpoint {
                JwksEndpoint::Uri(uri) => {
                    self.dispatch(index, Phase::Jwks, uri, &provider.name, &store, now)
                }
                JwksEndpoint::Discovery(uri) => {
                    self.dispatch(index, Phase::Discovery, uri, &provider.name, &store, now)
                }
            }
        }
    }

    fn dispatch(
        &mut self,
        index: usize,
        phase: Phase,
        uri: &HttpUri,
        name: &str,
        store: &ProviderStore,
        now: u64,
    ) {
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
                log::debug!("provider {name}: fetching {}", uri.uri);
                self.in_flight.insert(token, (index, phase));
            }
            Err(status) => {
                log::warn!(
                    "provider {name}: could not start the fetch of {} through cluster `{}` ({status:?}); does the cluster exist?",
                    uri.uri,
                    uri.cluster
                );
                self.fetch_failed(index, store, now);
            }
        }
    }

    fn fetch_failed(&self, index: usize, store: &ProviderStore, now: u64) {
        self.vm.borrow().metrics.fetched(index, false);
        let (state, _) = store.read_state(&HostShared);
        let delay = retry_delay_ms(state.failures.saturating_add(1), random_u64());
        if let Err(err) = store.record_failure(&HostShared, now.saturating_add(delay)) {
            log::warn!(
                "provider #{index}: could not record the failed fetch in shared data: {err:?}"
            );
        }
    }

    /// Handles a finished callout: discovery leads to the JWKS fetch; a JWKS is published.
    fn on_fetch(&mut self, index: usize, phase: Phase, num_headers: usize, body_size: usize) {
        let Some(config) = self.config() else { return };
        let (Some(provider), Some(store)) = (config.providers.get(index), self.store(index)) else {
            return;
        };
        let Some(remote) = provider.jwks.remote() else {
            return;
        };
        let now = now_ms();
        let response = read_response(num_headers, body_size, remote.max_body_bytes);
        match phase {
            Phase::Discovery => {
                let found = response
                    .and_then(|r| jwks_uri_from_discovery(&r.body, &provider.issuer, remote));
                let uri = match found {
                    Ok(uri) => {
                        if let Err(err) = store.store_jwks_uri(&HostShared, &uri.uri) {
                            log::warn!(
                                "provider {}: could not store the jwks_uri: {err:?}",
                                provider.name
                            );
                        }
                        uri
                    }
                    Err(reason) => {
                        let last = store.read_jwks_uri(&HostShared).and_then(|u| {
                            HttpUri::from_discovered(
                                &u,
                                &remote.first_uri().cluster,
                                remote.first_uri().timeout_ms,
                            )
                            .ok()
                        });
                        match last {
                            Some(uri) => {
                                log::warn!(
                                    "provider {}: discovery failed ({reason}); using the last known jwks_uri",
                                    provider.name
                                );
                                uri
                            }
                            None => {
                                log::warn!(
                                    "provider {}: discovery failed: {reason}",
                                    provider.name
                                );
                                self.fetch_failed(index, &store, now);
                                return;
                            }
                        }
                    }
                };
                self.dispatch(index, Phase::Jwks, &uri, &provider.name, &store, now);
            }
            Phase::Jwks => match response
                .and_then(|fetched| parse_key_set(fetched, &self.vm.borrow().verifier))
            {
                Ok((document, parsed, max_age)) => {
                    for skipped in &parsed.skipped {
                        log::warn!("provider {}: {skipped}", provider.name);
                    }
                    let next = remote.next_refresh_ms(now, max_age);
                    match store.publish(&HostShared, &document, now, next) {
                        Ok(generation) => {
                            self.vm.borrow().metrics.fetched(index, true);
                            log::info!(
                                "provider {}: key set fetched ({} usable keys, generation {generation}, next refresh in {} s)",
                                provider.name,
                                parsed.keys.len(),
                                next.saturating_sub(now) / 1_000
                            );
                        }
                        Err(err) => log::warn!(
                            "provider {}: could not publish the key set to shared data: {err:?}",
                            provider.name
                        ),
                    }
                }
                Err(reason) => {
                    log::warn!("provider {}: key fetch failed: {reason}", provider.name);
                    self.fetch_failed(index, &store, now);
                }
            },
        }
    }

    /// Decides paused requests whose keys arrived or whose wait ran out.
    fn wake_waiters(&mut self, config: &Config, now: u64) {
        let mut ready = Vec::new();
        {
            let mut guard = self.vm.borrow_mut();
            let vm = &mut *guard;
            let ids: Vec<u32> = vm.waiters.keys().copied().collect();
            for id in ids {
                let Some(waiter) = vm.waiters.get(&id) else {
                    continue;
                };
                let expired = now >= waiter.deadline_ms;
                let pending = waiter.pending.clone();
                let (mut keys, cache) = vm.keys_and_cache(config, now);
                match flow::on_keys_changed(config, pending, &mut keys, cache, expired, now) {
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
            let go_on = apply(decision, &config.realm, &self.vm.borrow().metrics);
            if go_on {
                if let Err(status) = hostcalls::resume_http_request() {
                    log::warn!("could not resume a request that waited for keys: {status:?}");
                }
            }
        }
    }

    /// Publishes how old each provider's keys are.
    fn record_key_ages(&self, config: &Config, now: u64) {
        let vm = self.vm.borrow();
        for (index, _) in config.providers.iter().enumerate() {
            if let Some(store) = vm.stores.get(index).and_then(Option::as_ref) {
                let (state, _) = store.read_state(&HostShared);
                if state.generation != 0 {
                    vm.metrics
                        .key_age(index, now.saturating_sub(state.fetched_at_ms) / 1_000);
                }
            }
        }
    }
}

/// Reads a callout's response: a 200 with a body within the size limit.
fn read_response(
    num_headers: usize,
    body_size: usize,
    max_body_bytes: usize,
) -> Result<Fetched, String> {
    if num_headers == 0 {
        return Err("no response (connection failed, reset or timed out)".into());
    }
    let headers = hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders)
        .map_err(|status| format!("response headers unreadable ({status:?})"))?;
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    let status = header(":status").unwrap_or_default();
    if status != "200" {
        return Err(format!("HTTP status {status}"));
    }
    if body_size > max_body_bytes {
        return Err(format!(
            "body of {body_size} bytes exceeds the {max_body_bytes}-byte limit"
        ));
    }
    let body = hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
        .map_err(|status| format!("body unreadable ({status:?})"))?
        .unwrap_or_default();
    let max_age = header("cache-control").and_then(|value| max_age(&value));
    Ok(Fetched { body, max_age })
}

/// `max-age` of a `Cache-Control` value (RFC 9111 section 5.2.2.1), unless `no-store` or
/// `no-cache` forbid reuse.
fn max_age(value: &str) -> Option<u64> {
    let mut age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return None;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse().ok();
        }
    }
    age
}

fn parse_key_set(
    fetched: Fetched,
    verifier: &Verifier,
) -> Result<(Vec<u8>, ParsedKeySet, Option<u64>), String> {
    let parsed =
        KeySet::parse(&fetched.body, verifier).map_err(|err| format!("unusable key set: {err}"))?;
    Ok((fetched.body, parsed, fetched.max_age))
}

/// The `jwks_uri` of a discovery document whose `issuer` is exactly the configured one
/// (OpenID Connect Discovery 1.0 section 4.3).
fn jwks_uri_from_discovery(
    body: &[u8],
    issuer: &str,
    remote: &RemoteJwks,
) -> Result<HttpUri, String> {
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "the discovery document is not JSON".to_string())?;
    match document.get("issuer").and_then(|v| v.as_str()) {
        Some(found) if found == issuer => {}
        Some(_) => return Err("the discovery document names another issuer".into()),
        None => return Err("the discovery document has no issuer".into()),
    }
    let uri = document
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or("the discovery document has no jwks_uri")?;
    let first = remote.first_uri();
    HttpUri::from_discovered(uri, &first.cluster, first.timeout_ms)
        .map_err(|e| format!("bad jwks_uri: {e}"))
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        if let Some((index, phase)) = self.in_flight.remove(&token_id) {
            self.on_fetch(index, phase, num_headers, body_size);
            // This VM's requests see what it just published (or its failure) at once.
            self.vm.borrow_mut().keys.invalidate();
            if let Some(config) = self.config() {
                self.wake_waiters(&config, now_ms());
            }
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
        let verifier = match super::crypto::verifier(config.crypto) {
            Ok(verifier) => verifier,
            Err(err) => {
                log::error!("jwt-authn-wasm refuses to start: {err}");
                return false;
            }
        };
        let local = match local_key_sets(&config, &verifier) {
            Ok(local) => local,
            Err(err) => {
                log::error!("jwt-authn-wasm refuses to start: {err}");
                return false;
            }
        };
        let mut stores = Vec::with_capacity(config.providers.len());
        for provider in &config.providers {
            match &provider.jwks {
                JwksSource::Remote(remote) => {
                    let store = ProviderStore::new(provider, remote);
                    if let Err(err) = store.ensure_initialized(&HostShared) {
                        log::warn!(
                            "provider {}: could not initialise shared data: {err:?}",
                            provider.name
                        );
                    }
                    stores.push(Some(store));
                }
                JwksSource::Local(_) => stores.push(None),
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
            vm.keys = WorkerKeys::new(config.providers.len(), verifier.clone());
            vm.verifier = verifier;
            vm.stores = stores;
            vm.local = local;
            vm.metrics = Metrics::define(&config);
            vm.cache = crate::request::flow::TokenCache::new(config.token_cache);
            vm.hit_plan = crate::request::flow::HitPlan::new(&config).map(Rc::new);
            vm.config = Some(Rc::new(config));
        }
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            log::warn!("could not set the tick period: {status:?}");
        }
        true
    }

    fn on_tick(&mut self) {
        let Some(config) = self.config() else { return };
        let now = now_ms();
        self.fetch_due_key_sets(&config, now);
        // Once a tick, requests re-read the fetch state (key sets other VMs published).
        self.vm.borrow_mut().keys.invalidate();
        self.wake_waiters(&config, now);
        self.record_key_ages(&config, now);
        self.vm.borrow().metrics.flush();
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(context_id, Rc::clone(&self.vm))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
