//! Counters and gauges through proxy-wasm metrics, visible in Envoy's stats (prefixed
//! `wasmcustom.`) and in `/stats/prometheus`. Every name is listed in the README.
//!
//! A host call costs about as much as the rest of a cache hit, so request counters are summed
//! in the VM and handed to Envoy on the next tick (every 200 ms), not per request.

use crate::config::Config;
use crate::error::ErrorCode;
use crate::verify::{Algorithm, Plan};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::Cell;

/// Metric ids of one VM (ids are per VM; the stats behind them are shared by name).
///
/// A counter is an index into `counters`, which holds its host id and the increments not yet
/// handed over: a request adds to a `Cell`, with no map to search and no allocation.
#[derive(Default)]
pub struct Metrics {
    allowed: Option<usize>,
    denied: Vec<(ErrorCode, usize)>,
    /// Requests let through without a verified token, by the failure tolerated (only defined
    /// when a requirement tolerates failures).
    unverified: Vec<(ErrorCode, usize)>,
    providers: Vec<ProviderMetrics>,
    cache_hits: Option<usize>,
    cache_misses: Option<usize>,
    /// Each counter's host id, and its increments since the last [`Metrics::flush`].
    counters: Vec<(u32, Cell<u64>)>,
    /// Per algorithm (by [`Algorithm::index`]), the host id of its verification-time histogram.
    verify_histograms: Vec<Option<u32>>,
    /// Per algorithm, its verifications since the last one timed.
    since_timed: Vec<Cell<u32>>,
}

/// One verification in this many is timed: timing costs two clock reads and a metric write
/// (about 1.5 µs), against 30 µs and more for the verification itself.
pub const VERIFICATION_SAMPLE: u32 = 8;

#[derive(Default)]
struct ProviderMetrics {
    allowed: Option<usize>,
    denied: Option<usize>,
    fetch_success: Option<usize>,
    fetch_failure: Option<usize>,
    /// Requests paused for this provider's keys (the first set, or a refetch for a new kid).
    held: Option<usize>,
    /// Unknown-`kid` refetch requests that brought a fetch forward.
    refetch_allowed: Option<usize>,
    /// Unknown-`kid` refetch requests that joined a fetch already coming, or were refused.
    refetch_suppressed: Option<usize>,
    /// Live DPoP proof ids evicted from a full replay-cache slot (only with DPoP on).
    replay_evictions: Option<usize>,
    /// A gauge, recorded directly (host id).
    key_age: Option<u32>,
    /// A gauge: milliseconds from configuration to the first usable key set (host id).
    first_keys: Option<u32>,
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

impl Metrics {
    /// Defines every metric for `config` (from `on_configure`, never from `_initialize`).
    ///
    /// Names carry their labels as `.code.<code>` and `.provider.<name>` segments, which the
    /// `stats_tags` in envoy.yaml turn into Prometheus labels ([`Config::metric_root`]).
    pub fn define(config: &Config, plan: &Plan) -> Self {
        let mut counters = Vec::new();
        let mut counter = |name: String| {
            define(MetricType::Counter, &name).map(|id| {
                counters.push((id, Cell::new(0)));
                counters.len() - 1
            })
        };
        let root = config.metric_root();
        let allowed = counter(format!("{root}.requests_allowed"));
        let denied = ErrorCode::ALL
            .iter()
            .filter_map(|code| {
                counter(format!("{root}.requests_denied.code.{}", code.as_str()))
                    .map(|slot| (*code, slot))
            })
            .collect();
        let unverified = if config.tolerates_failures() {
            ErrorCode::ALL
                .iter()
                .filter_map(|code| {
                    counter(format!(
                        "{root}.requests_allowed_unverified.code.{}",
                        code.as_str()
                    ))
                    .map(|slot| (*code, slot))
                })
                .collect()
        } else {
            Vec::new()
        };
        let providers = config
            .providers
            .iter()
            .map(|p| {
                let at = format!("{root}.provider.{}", p.name);
                ProviderMetrics {
                    allowed: counter(format!("{at}.requests_allowed")),
                    denied: counter(format!("{at}.requests_denied")),
                    fetch_success: counter(format!("{at}.jwks_fetch_success")),
                    fetch_failure: counter(format!("{at}.jwks_fetch_failure")),
                    held: counter(format!("{at}.requests_held_for_keys")),
                    refetch_allowed: counter(format!("{at}.unknown_kid_refetch.allowed")),
                    refetch_suppressed: counter(format!("{at}.unknown_kid_refetch.suppressed")),
                    replay_evictions: if p.dpop.mode == crate::config::binding::BindingMode::Off {
                        None
                    } else {
                        counter(format!("{at}.dpop_replay_evictions"))
                    },
                    key_age: define(MetricType::Gauge, &format!("{at}.jwks_age_seconds")),
                    first_keys: define(
                        MetricType::Gauge,
                        &format!("{at}.first_key_set_milliseconds"),
                    ),
                }
            })
            .collect();
        let cache_hits = counter(format!("{root}.token_cache.hits"));
        let cache_misses = counter(format!("{root}.token_cache.misses"));
        // A histogram per algorithm some provider accepts (for tokens or DPoP proofs), named by
        // the backend the plan gives it.
        let verify_histograms = Algorithm::ALL
            .iter()
            .map(|&alg| {
                let used = config
                    .providers
                    .iter()
                    .any(|p| p.algorithms.contains(&alg) || p.dpop.algorithms.contains(&alg));
                let backend = plan.backend(alg).filter(|_| used)?;
                define(
                    MetricType::Histogram,
                    &format!(
                        "{root}.verify.alg.{}.backend.{}.duration_us",
                        alg.name(),
                        backend.name()
                    ),
                )
            })
            .collect();
        Self {
            verify_histograms,
            since_timed: Algorithm::ALL.iter().map(|_| Cell::new(0)).collect(),
            allowed,
            denied,
            unverified,
            providers,
            cache_hits,
            cache_misses,
            counters,
        }
    }

    /// Counts one event for `counter`, to be handed over at the next [`Metrics::flush`].
    fn add(&self, counter: Option<usize>) {
        if let Some((_, pending)) = counter.and_then(|slot| self.counters.get(slot)) {
            pending.set(pending.get().saturating_add(1));
        }
    }

    /// Hands the summed increments to the host (from `on_tick`).
    pub fn flush(&self) {
        for (id, pending) in &self.counters {
            let count = pending.replace(0);
            if count > 0 {
                let _ = hostcalls::increment_metric(*id, i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
    }

    /// Counts an allowed request.
    pub fn allowed(&self, provider: Option<usize>) {
        self.add(self.allowed);
        if let Some(p) = provider.and_then(|i| self.providers.get(i)) {
            self.add(p.allowed);
        }
    }

    /// Counts a request let through despite `code` (`allow_missing`, `allow_missing_or_failed`).
    pub fn allowed_unverified(&self, code: ErrorCode) {
        self.add(
            self.unverified
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, slot)| *slot),
        );
    }

    /// Counts a denied request by code (and provider, when one was chosen).
    pub fn denied(&self, code: ErrorCode, provider: Option<usize>) {
        self.add(
            self.denied
                .iter()
                .find(|(c, _)| *c == code)
                .map(|(_, slot)| *slot),
        );
        if let Some(p) = provider.and_then(|i| self.providers.get(i)) {
            self.add(p.denied);
        }
    }

    /// Counts a key fetch outcome (on the VM that fetched).
    pub fn fetched(&self, provider: usize, ok: bool) {
        if let Some(p) = self.providers.get(provider) {
            self.add(if ok { p.fetch_success } else { p.fetch_failure });
        }
    }

    /// Counts a live DPoP proof id evicted from `provider`'s replay cache.
    pub fn replay_evicted(&self, provider: usize) {
        if let Some(p) = self.providers.get(provider) {
            self.add(p.replay_evictions);
        }
    }

    /// Counts a request paused for `provider`'s keys.
    pub fn held(&self, provider: usize) {
        if let Some(p) = self.providers.get(provider) {
            self.add(p.held);
        }
    }

    /// Adds `provider`'s unknown-`kid` refetch requests since the last tick.
    pub fn refetches(&self, provider: usize, allowed: u64, suppressed: u64) {
        let Some(p) = self.providers.get(provider) else {
            return;
        };
        for (slot, count) in [
            (p.refetch_allowed, allowed),
            (p.refetch_suppressed, suppressed),
        ] {
            if let Some((_, pending)) = slot.and_then(|slot| self.counters.get(slot)) {
                pending.set(pending.get().saturating_add(count));
            }
        }
    }

    /// Records how long `provider`'s first usable key set took, from configuration.
    pub fn first_keys(&self, provider: usize, milliseconds: u64) {
        if let Some(id) = self.providers.get(provider).and_then(|p| p.first_keys) {
            let _ = hostcalls::record_metric(id, milliseconds);
        }
    }

    /// Records the age of a provider's key set.
    pub fn key_age(&self, provider: usize, seconds: u64) {
        if let Some(id) = self.providers.get(provider).and_then(|p| p.key_age) {
            let _ = hostcalls::record_metric(id, seconds);
        }
    }

    /// Whether the verification of `alg` about to run is one to time (one in
    /// [`VERIFICATION_SAMPLE`] of each algorithm's, so no mix of traffic starves one).
    pub fn sample_verification(&self, alg: Algorithm) -> bool {
        let Some(count) = self.since_timed.get(alg.index()) else {
            return false;
        };
        let n = count.get().wrapping_add(1) % VERIFICATION_SAMPLE;
        count.set(n);
        n == 0
            && self
                .verify_histograms
                .get(alg.index())
                .is_some_and(Option::is_some)
    }

    /// Records a timed verification of `alg` that took `micros`.
    pub fn verification(&self, alg: Algorithm, micros: u64) {
        if let Some(Some(id)) = self.verify_histograms.get(alg.index()) {
            let _ = hostcalls::record_metric(*id, micros);
        }
    }

    /// Counts a verified-token cache lookup.
    pub fn cache(&self, hit: bool) {
        self.add(if hit {
            self.cache_hits
        } else {
            self.cache_misses
        });
    }
}
