//! When a VM fetches a provider's keys, and what it does with the answer.
//!
//! Every VM runs a [`KeyFetcher`] on its tick. For each remote provider whose fetch is due
//! (the refresh schedule, an unknown-`kid` refetch, or a retry after a failure), the fetcher
//! takes the provider's lease in shared data ([`ProviderStore::try_acquire`]), so one VM of the
//! process fetches while the others wait for the result. With OpenID discovery it first fetches
//! the discovery document, checks its `issuer`, and follows its `jwks_uri`. A JWKS is parsed
//! once, here; the document is published to shared data for the other VMs and the parsed set
//! is handed back to this VM's own workers ([`FetchEvent::Published`]), so it is not parsed a
//! second time. A failure keeps the last good keys and schedules a retry: with backoff while
//! those keys serve, every second while there are none (a cold start, or past `max_staleness`).
//!
//! The host supplies the callouts through [`Callouts`] and [`FetchResponse`], so all of this
//! runs natively in tests.

use crate::config::{Config, HttpUri, JwksEndpoint, Provider, RemoteJwks};
use crate::keys::jwks::{KeySet, ParsedKeySet};
use crate::keys::store::{retry_delay_ms, unusable_retry_delay_ms, ProviderStore, SharedData};
use crate::verify::Verifier;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A lease outlives the fetches it covers by this much before another VM may take over.
const LEASE_MARGIN_MS: u64 = 2_000;

/// The `user-agent` of every fetch, so IdP logs can tell this filter's requests apart.
const USER_AGENT: &str = concat!("jwt-authn-wasm/", env!("CARGO_PKG_VERSION"));

/// Starting HTTP callouts: Envoy's `dispatch_http_call` in the host.
pub trait Callouts {
    /// Starts a request to `cluster` and returns its token, or why it could not start.
    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, String>;
}

/// The answer to a callout, as far as the fetcher reads it.
pub trait FetchResponse {
    /// A response header (`:status` included), by lower-case name.
    fn header(&self, name: &str) -> Option<String>;
    /// The body's size in bytes, known before it is read.
    fn body_size(&self) -> usize;
    /// The body.
    fn body(&self) -> Result<Vec<u8>, String>;
}

/// Which document a callout fetches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The OpenID discovery document, which names the JWKS URI.
    Discovery,
    /// The JWKS itself.
    Jwks,
}

/// What a finished fetch means for this VM.
#[derive(Debug)]
pub enum FetchEvent {
    /// A key set was published; `keys` is its parsed form, for this VM's workers.
    Published {
        /// The provider's index.
        provider: usize,
        /// The generation the key set was published under.
        generation: u64,
        /// The parsed key set.
        keys: Rc<KeySet>,
    },
    /// A fetch failed; the retry is scheduled and the last good keys stay in use.
    Failed {
        /// The provider's index.
        provider: usize,
    },
}

/// One VM's fetches: which are in flight, and the providers they are for.
#[derive(Debug)]
pub struct KeyFetcher {
    config: Rc<Config>,
    stores: Vec<Option<ProviderStore>>,
    verifier: Verifier,
    /// Identifies this VM as a lease holder (never 0, which means "no holder").
    vm_token: u64,
    /// Callouts in flight: token to provider index and phase.
    in_flight: BTreeMap<u32, (usize, Phase)>,
}

impl KeyFetcher {
    /// A fetcher for `config`'s remote providers (`stores`, one slot per provider), parsing
    /// key sets for `verifier`; `vm_token` tells this VM's leases apart.
    pub fn new(
        config: Rc<Config>,
        stores: Vec<Option<ProviderStore>>,
        verifier: Verifier,
        vm_token: u64,
    ) -> Self {
        Self {
            config,
            stores,
            verifier,
            vm_token: vm_token | 1,
            in_flight: BTreeMap::new(),
        }
    }

    /// Starts every fetch that is due and whose lease this VM wins. `random` jitters retries.
    pub fn start_due(
        &mut self,
        shared: &dyn SharedData,
        callouts: &mut dyn Callouts,
        now_ms: u64,
        random: u64,
    ) -> Vec<FetchEvent> {
        let config = Rc::clone(&self.config);
        let mut events = Vec::new();
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
            if !store.try_acquire(shared, self.vm_token, now_ms, lease_ms) {
                continue;
            }
            let (phase, uri) = match &remote.endpoint {
                JwksEndpoint::Uri(uri) => (Phase::Jwks, uri),
                JwksEndpoint::Discovery(uri) => (Phase::Discovery, uri),
            };
            let started = self.dispatch(index, phase, uri, provider, callouts);
            if !started {
                events.push(self.failed(index, &store, shared, now_ms, random));
            }
        }
        events
    }

    /// Handles the answer to callout `token` (`None`: no response at all: the connection
    /// failed, was reset or timed out). `None` when the token is not one of this fetcher's.
    pub fn on_response(
        &mut self,
        token: u32,
        response: Option<&dyn FetchResponse>,
        shared: &dyn SharedData,
        callouts: &mut dyn Callouts,
        now_ms: u64,
        random: u64,
    ) -> Option<Vec<FetchEvent>> {
        let (index, phase) = self.in_flight.remove(&token)?;
        let config = Rc::clone(&self.config);
        let (Some(provider), Some(store)) = (config.providers.get(index), self.store(index)) else {
            return Some(Vec::new());
        };
        let Some(remote) = provider.jwks.remote() else {
            return Some(Vec::new());
        };
        let body = read_body(response, remote.max_body_bytes);
        let event = match phase {
            Phase::Discovery => {
                let uri = match body
                    .and_then(|(b, _)| jwks_uri(&b, provider.issuer.as_deref(), remote))
                {
                    Ok(uri) => {
                        if let Err(err) = store.store_jwks_uri(shared, &uri.uri) {
                            log::warn!(
                                "provider {}: could not store the jwks_uri: {err:?}",
                                provider.name
                            );
                        }
                        Some(uri)
                    }
                    Err(reason) => {
                        let last = last_jwks_uri(&store, shared, remote);
                        match &last {
                            Some(_) => log::warn!(
                                "provider {}: discovery failed ({reason}); using the last known jwks_uri",
                                provider.name
                            ),
                            None => {
                                log::warn!("provider {}: discovery failed: {reason}", provider.name)
                            }
                        }
                        last
                    }
                };
                match uri {
                    Some(uri) if self.dispatch(index, Phase::Jwks, &uri, provider, callouts) => {
                        None
                    }
                    _ => Some(self.failed(index, &store, shared, now_ms, random)),
                }
            }
            Phase::Jwks => Some(match body.and_then(|(b, age)| self.parse(b, age)) {
                Ok((document, parsed, max_age)) => {
                    for skipped in &parsed.skipped {
                        log::warn!("provider {}: {skipped}", provider.name);
                    }
                    let keys = parsed.keys;
                    let next = remote.next_refresh_ms(now_ms, max_age);
                    match store.publish(shared, &document, now_ms, next) {
                        Ok(generation) => {
                            log::info!(
                                "provider {}: key set fetched ({} usable keys, generation {generation}, next refresh in {} s)",
                                provider.name,
                                keys.len(),
                                next.saturating_sub(now_ms) / 1_000
                            );
                            FetchEvent::Published {
                                provider: index,
                                generation,
                                keys: Rc::new(keys),
                            }
                        }
                        Err(err) => {
                            log::warn!(
                                "provider {}: could not publish the key set to shared data: {err:?}",
                                provider.name
                            );
                            self.failed(index, &store, shared, now_ms, random)
                        }
                    }
                }
                Err(reason) => {
                    log::warn!("provider {}: key fetch failed: {reason}", provider.name);
                    self.failed(index, &store, shared, now_ms, random)
                }
            }),
        };
        Some(event.into_iter().collect())
    }

    fn store(&self, index: usize) -> Option<ProviderStore> {
        self.stores.get(index).cloned().flatten()
    }

    /// Starts one callout; false (with a log line) when the host refused it.
    fn dispatch(
        &mut self,
        index: usize,
        phase: Phase,
        uri: &HttpUri,
        provider: &Provider,
        callouts: &mut dyn Callouts,
    ) -> bool {
        let headers = [
            (":method", "GET"),
            (":path", uri.path.as_str()),
            (":authority", uri.authority.as_str()),
            (":scheme", uri.scheme.as_str()),
            ("accept", "application/json"),
            ("user-agent", USER_AGENT),
        ];
        match callouts.dispatch(&uri.cluster, &headers, uri.timeout_ms) {
            Ok(token) => {
                log::debug!("provider {}: fetching {}", provider.name, uri.uri);
                self.in_flight.insert(token, (index, phase));
                true
            }
            Err(reason) => {
                log::warn!(
                    "provider {}: could not start the fetch of {} through cluster `{}` ({reason}); does the cluster exist?",
                    provider.name,
                    uri.uri,
                    uri.cluster
                );
                false
            }
        }
    }

    /// Records a failure: the retry is scheduled (with backoff while the last good keys still
    /// serve, every second while there are none) and the lease released.
    fn failed(
        &self,
        index: usize,
        store: &ProviderStore,
        shared: &dyn SharedData,
        now_ms: u64,
        random: u64,
    ) -> FetchEvent {
        let (state, _) = store.read_state(shared);
        let max_staleness_ms = self
            .config
            .providers
            .get(index)
            .and_then(|p| p.jwks.remote())
            .map_or(u64::MAX, |remote| remote.max_staleness_ms);
        let unusable =
            state.generation == 0 || now_ms.saturating_sub(state.fetched_at_ms) > max_staleness_ms;
        let delay = if unusable {
            unusable_retry_delay_ms(random)
        } else {
            retry_delay_ms(state.failures.saturating_add(1), random)
        };
        if let Err(err) = store.record_failure(shared, now_ms.saturating_add(delay)) {
            log::warn!(
                "provider #{index}: could not record the failed fetch in shared data: {err:?}"
            );
        }
        FetchEvent::Failed { provider: index }
    }

    /// Parses a fetched JWKS: the only parse of this document on this VM.
    fn parse(
        &self,
        body: Vec<u8>,
        max_age: Option<u64>,
    ) -> Result<(Vec<u8>, ParsedKeySet, Option<u64>), String> {
        let parsed = KeySet::parse(&body, &self.verifier)
            .map_err(|err| format!("unusable key set: {err}"))?;
        Ok((body, parsed, max_age))
    }
}

/// The body of a 200 response within the size limit, and its `Cache-Control: max-age`.
fn read_body(
    response: Option<&dyn FetchResponse>,
    max_body_bytes: usize,
) -> Result<(Vec<u8>, Option<u64>), String> {
    let response = response.ok_or("no response (connection failed, reset or timed out)")?;
    let status = response.header(":status").unwrap_or_default();
    if status != "200" {
        return Err(format!("HTTP status {status}"));
    }
    let size = response.body_size();
    if size > max_body_bytes {
        return Err(format!(
            "body of {size} bytes exceeds the {max_body_bytes}-byte limit"
        ));
    }
    let body = response.body()?;
    let max_age = response
        .header("cache-control")
        .and_then(|value| max_age(&value));
    Ok((body, max_age))
}

/// `max-age` of a `Cache-Control` value (RFC 9111 section 5.2.2.1), unless `no-store` or
/// `no-cache` forbid reuse.
pub fn max_age(value: &str) -> Option<u64> {
    let mut age = None;
    for directive in value.split(',') {
        let lower = directive.trim().to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return None;
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds.trim_matches('"').parse().ok();
        }
    }
    age
}

/// The `jwks_uri` of a discovery document whose `issuer` is exactly the configured one
/// (OpenID Connect Discovery 1.0 section 4.3).
fn jwks_uri(body: &[u8], issuer: Option<&str>, remote: &RemoteJwks) -> Result<HttpUri, String> {
    let document: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| "the discovery document is not JSON".to_string())?;
    // The configuration refuses discovery without an issuer; `None` never matches.
    match document.get("issuer").and_then(|v| v.as_str()) {
        Some(found) if Some(found) == issuer => {}
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

/// The `jwks_uri` the last successful discovery stored, for when discovery fails.
fn last_jwks_uri(
    store: &ProviderStore,
    shared: &dyn SharedData,
    remote: &RemoteJwks,
) -> Option<HttpUri> {
    let first = remote.first_uri();
    store
        .read_jwks_uri(shared)
        .and_then(|uri| HttpUri::from_discovered(&uri, &first.cluster, first.timeout_ms).ok())
}

#[cfg(test)]
pub(crate) mod tests;
