//! Counters and gauges through proxy-wasm metrics, visible in Envoy's stats (prefixed
//! `wasmcustom.`) and in `/stats/prometheus`. Every name is listed in the README.

use crate::config::Config;
use crate::error::ErrorCode;
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;

/// Metric ids of one VM (ids are per VM; the stats behind them are shared by name).
#[derive(Default)]
pub struct Metrics {
    allowed: Option<u32>,
    denied: Vec<(ErrorCode, u32)>,
    providers: Vec<ProviderMetrics>,
    cache_hits: Option<u32>,
    cache_misses: Option<u32>,
}

#[derive(Default)]
struct ProviderMetrics {
    allowed: Option<u32>,
    denied: Option<u32>,
    fetch_success: Option<u32>,
    fetch_failure: Option<u32>,
    key_age: Option<u32>,
}

fn define(kind: MetricType, name: &str) -> Option<u32> {
    match hostcalls::define_metric(kind, name) {
        Ok(id) => Some(id),
        Err(status) => {
            log::warn!("could not define metric {name}: {status:?}");
            None
        }
    }
}

fn add(id: Option<u32>) {
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

impl Metrics {
    /// Defines every metric for `config` (from `on_configure`, never from `_initialize`).
    pub fn define(config: &Config) -> Self {
        let counter = |name: String| define(MetricType::Counter, &name);
        Self {
            allowed: counter("jwt_authn.requests_allowed".into()),
            denied: ErrorCode::ALL
                .iter()
                .filter_map(|code| {
                    counter(format!("jwt_authn.requests_denied.{}", code.as_str()))
                        .map(|id| (*code, id))
                })
                .collect(),
            providers: config
                .providers
                .iter()
                .map(|p| ProviderMetrics {
                    allowed: counter(format!("jwt_authn.provider.{}.allowed", p.name)),
                    denied: counter(format!("jwt_authn.provider.{}.denied", p.name)),
                    fetch_success: counter(format!(
                        "jwt_authn.provider.{}.jwks_fetch_success",
                        p.name
                    )),
                    fetch_failure: counter(format!(
                        "jwt_authn.provider.{}.jwks_fetch_failure",
                        p.name
                    )),
                    key_age: define(
                        MetricType::Gauge,
                        &format!("jwt_authn.provider.{}.jwks_age_seconds", p.name),
                    ),
                })
                .collect(),
            cache_hits: counter("jwt_authn.token_cache.hits".into()),
            cache_misses: counter("jwt_authn.token_cache.misses".into()),
        }
    }

    /// Counts an allowed request.
    pub fn allowed(&self, provider: Option<usize>) {
        add(self.allowed);
        if let Some(p) = provider.and_then(|i| self.providers.get(i)) {
            add(p.allowed);
        }
    }

    /// Counts a denied request by code (and provider, when one was chosen).
    pub fn denied(&self, code: ErrorCode, provider: Option<usize>) {
        add(self
            .denied
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, id)| *id));
        if let Some(p) = provider.and_then(|i| self.providers.get(i)) {
            add(p.denied);
        }
    }

    /// Counts a key fetch outcome (on the VM that fetched).
    pub fn fetched(&self, provider: usize, ok: bool) {
        if let Some(p) = self.providers.get(provider) {
            add(if ok { p.fetch_success } else { p.fetch_failure });
        }
    }

    /// Records the age of a provider's key set.
    pub fn key_age(&self, provider: usize, seconds: u64) {
        if let Some(id) = self.providers.get(provider).and_then(|p| p.key_age) {
            let _ = hostcalls::record_metric(id, seconds);
        }
    }

    /// Counts a verified-token cache lookup.
    pub fn cache(&self, hit: bool) {
        add(if hit {
            self.cache_hits
        } else {
            self.cache_misses
        });
    }
}
