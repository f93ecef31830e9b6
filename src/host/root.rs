//! The root context: configuration, the tick that drives key fetches ([`KeyFetcher`]), and
//! waking paused requests.

use super::callouts::{HostCallouts, HostResponse};
use super::http::{apply, Filter};
use super::metrics::Metrics;
use super::shared::{now_ms, random_u64, HostShared, VmState};
use crate::config::binding::BindingMode;
use crate::config::Config;
use crate::keys::fetch::{FetchEvent, FetchResponse, KeyFetcher};
use crate::keys::local::local_key_sets;
use crate::keys::source::VmKeySets;
use crate::request::binding::keys::ProofKeys;
use crate::request::binding::replay::ReplayCache;
use crate::request::flow::{self, Decision};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// How often each VM checks the fetch schedule and its paused requests.
const TICK: Duration = Duration::from_millis(200);

/// The plugin's root context, one per VM.
pub struct Root {
    vm: Rc<RefCell<VmState>>,
    /// When the active configuration was applied (ms), for the time to the first key set.
    configured_at_ms: u64,
    /// This VM's key fetches; `None` until configured.
    fetcher: Option<KeyFetcher>,
}

impl Root {
    /// An unconfigured root context.
    pub fn new() -> Self {
        Self {
            vm: Rc::new(RefCell::new(VmState::new())),
            configured_at_ms: 0,
            fetcher: None,
        }
    }

    fn config(&self) -> Option<Rc<Config>> {
        self.vm.borrow().config.clone()
    }

    /// Counts finished fetches and gives this VM's workers the key sets it parsed.
    fn record(&self, events: Vec<FetchEvent>, now: u64) {
        let mut vm = self.vm.borrow_mut();
        for event in events {
            match event {
                FetchEvent::Published {
                    provider,
                    generation,
                    keys,
                } => {
                    vm.metrics.fetched(provider, true);
                    if generation == 1 {
                        let waited = now.saturating_sub(self.configured_at_ms);
                        vm.metrics.first_keys(provider, waited);
                    }
                    vm.keys.install(provider, generation, keys);
                }
                FetchEvent::Failed { provider } => vm.metrics.fetched(provider, false),
            }
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
            let go_on = apply(decision, config, &self.vm.borrow().metrics);
            if go_on {
                if let Err(status) = hostcalls::resume_http_request() {
                    log::warn!("could not resume a request that waited for keys: {status:?}");
                }
            }
        }
    }

    /// Publishes how old each provider's keys are.
    fn record_key_ages(&self, now: u64) {
        let vm = self.vm.borrow();
        for (index, seconds) in vm.keys.ages_s(&HostShared, now) {
            vm.metrics.key_age(index, seconds);
        }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        num_headers: usize,
        body_size: usize,
        _num_trailers: usize,
    ) {
        let Some(fetcher) = self.fetcher.as_mut() else {
            return;
        };
        let response = HostResponse::read(num_headers, body_size);
        let now = now_ms();
        let Some(events) = fetcher.on_response(
            token_id,
            response.as_ref().map(|r| r as &dyn FetchResponse),
            &HostShared,
            &mut HostCallouts,
            now,
            random_u64(),
        ) else {
            return;
        };
        self.record(events, now);
        // This VM's requests see what it just published (or its failure) at once.
        self.vm.borrow_mut().keys.invalidate();
        if let Some(config) = self.config() {
            self.wake_waiters(&config, now);
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
        for provider in &config.providers {
            if provider.audiences.is_empty() {
                log::warn!(
                    "provider {}: no audiences configured; `aud` is not checked",
                    provider.name
                );
            }
        }
        // Each DPoP provider's replay cache: its slots exist before any worker records a proof.
        let replay: Vec<Option<ReplayCache>> = config
            .providers
            .iter()
            .map(|provider| {
                (provider.dpop.mode != BindingMode::Off)
                    .then(|| ReplayCache::new(&provider.name, provider.dpop.replay_cache_entries))
            })
            .collect();
        for (cache, provider) in replay.iter().zip(&config.providers) {
            if let Some(Err(err)) = cache.as_ref().map(|cache| cache.ensure_slots(&HostShared)) {
                log::error!(
                    "jwt-authn-wasm refuses to start: provider {}: the DPoP replay cache could \
                     not be created in shared data ({err:?})",
                    provider.name
                );
                return false;
            }
        }
        let config = Rc::new(config);
        self.configured_at_ms = now_ms();
        let keys = VmKeySets::new(&config, local, verifier.clone(), &HostShared);
        self.fetcher = Some(KeyFetcher::new(
            Rc::clone(&config),
            keys.stores(),
            verifier.clone(),
            random_u64(),
        ));
        {
            let mut vm = self.vm.borrow_mut();
            vm.keys = keys;
            vm.verifier = verifier;
            vm.replay = replay;
            vm.metrics = Metrics::define(&config, vm.verifier.plan());
            vm.cache = crate::request::flow::TokenCache::new(config.token_cache);
            vm.hit_plan = crate::request::flow::HitPlan::new(&config).map(Rc::new);
            // Proof headers were checked under the old limits and signature plan.
            vm.proof_keys = ProofKeys::default();
            vm.config = Some(config);
        }
        if let Err(status) = hostcalls::set_tick_period(TICK) {
            log::warn!("could not set the tick period: {status:?}");
        }
        true
    }

    fn on_tick(&mut self) {
        let Some(config) = self.config() else { return };
        let now = now_ms();
        if let Some(fetcher) = self.fetcher.as_mut() {
            let events = fetcher.start_due(&HostShared, &mut HostCallouts, now, random_u64());
            self.record(events, now);
        }
        // Once a tick, requests re-read the fetch state (key sets other VMs published).
        self.vm.borrow_mut().keys.invalidate();
        self.wake_waiters(&config, now);
        self.record_key_ages(now);
        let mut vm = self.vm.borrow_mut();
        for (index, counts) in vm.keys.take_refetches().into_iter().enumerate() {
            vm.metrics
                .refetches(index, counts.allowed, counts.suppressed);
        }
        vm.metrics.flush();
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Filter::new(context_id, Rc::clone(&self.vm))))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
