//! Key sets in proxy-wasm shared data: one fetcher at a time, one copy for every worker.
//!
//! Per provider, shared data holds two entries: the raw JWKS document and a small
//! [`FetchState`] record. The state record is the coordination point: it carries a lease (which
//! VM is fetching, until when), the schedule of the next fetch, and a generation number that
//! rises with every published document. Workers read only the small record per request and
//! re-read and re-parse the document only when its generation changed.
//!
//! Envoy's shared data has compare-and-swap on existing keys but no atomic create, so
//! [`ProviderStore::ensure_initialized`] creates the record from `on_configure`, which Envoy
//! runs first on the main thread (canary VM), before any worker VM can race for the lease.

use crate::config::{Provider, RemoteJwks};
use crate::keys::jwks::KeySet;
use crate::verify::Verifier;
use std::rc::Rc;

/// Process-wide key/value storage with compare-and-swap: proxy-wasm shared data.
pub trait SharedData {
    /// The value and its CAS token, or `None` when the key does not exist (or cannot be read).
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Stores `value`; with `Some(cas)` only if the stored CAS still equals it.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), SetError>;
}

/// Why a shared-data write did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetError {
    /// Another VM wrote the entry since it was read.
    CasMismatch,
    /// The host refused the write for another reason.
    Host,
}

/// The coordination record of one provider's key set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FetchState {
    /// Rises with every published document; 0 means no key set yet.
    pub generation: u64,
    /// When the current document was fetched (ms since the epoch).
    pub fetched_at_ms: u64,
    /// When the next fetch is due (ms since the epoch).
    pub next_fetch_at_ms: u64,
    /// Failed fetches since the last success.
    pub failures: u32,
    /// The VM holding the fetch lease (0: none).
    pub lease_holder: u64,
    /// When the lease lapses, so another VM can take over from a holder that died.
    pub lease_expires_at_ms: u64,
    /// When a request with an unknown `kid` last brought the refresh forward.
    pub unknown_kid_refetch_at_ms: u64,
    /// Fetches completed, successful or not: a request waiting for a refetch waits for this.
    pub fetches: u64,
}

const STATE_FORMAT: u8 = 3;
const STATE_LEN: usize = 1 + 8 * 7 + 4;

impl FetchState {
    /// Fixed-size little-endian encoding, cheap to read on every request.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STATE_LEN);
        out.push(STATE_FORMAT);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.fetched_at_ms.to_le_bytes());
        out.extend_from_slice(&self.next_fetch_at_ms.to_le_bytes());
        out.extend_from_slice(&self.failures.to_le_bytes());
        out.extend_from_slice(&self.lease_holder.to_le_bytes());
        out.extend_from_slice(&self.lease_expires_at_ms.to_le_bytes());
        out.extend_from_slice(&self.unknown_kid_refetch_at_ms.to_le_bytes());
        out.extend_from_slice(&self.fetches.to_le_bytes());
        out
    }

    /// Decodes a record; anything malformed reads as `None`.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (&format, rest) = bytes.split_first()?;
        if format != STATE_FORMAT || bytes.len() != STATE_LEN {
            return None;
        }
        let mut cursor = Cursor(rest);
        Some(Self {
            generation: cursor.u64()?,
            fetched_at_ms: cursor.u64()?,
            next_fetch_at_ms: cursor.u64()?,
            failures: cursor.u32()?,
            lease_holder: cursor.u64()?,
            lease_expires_at_ms: cursor.u64()?,
            unknown_kid_refetch_at_ms: cursor.u64()?,
            fetches: cursor.u64()?,
        })
    }

    /// Whether a fetch is due and no live lease stands in the way.
    pub fn fetch_due(&self, now_ms: u64) -> bool {
        now_ms >= self.next_fetch_at_ms && !self.lease_held(now_ms)
    }

    /// Whether some VM holds an unexpired lease.
    pub fn lease_held(&self, now_ms: u64) -> bool {
        self.lease_holder != 0 && now_ms < self.lease_expires_at_ms
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_le_bytes)
    }
}

/// How long to wait after the `failures`-th consecutive failed fetch: 1 s doubling to 30 s,
/// plus up to 20% jitter from `random`, so VMs and proxies do not retry in lockstep.
pub fn retry_delay_ms(failures: u32, random: u64) -> u64 {
    let exponent = failures.saturating_sub(1).min(5);
    let base = (1_000u64 << exponent).min(30_000);
    base + random % (base / 5 + 1)
}

/// How long to wait after a failed fetch while the provider has no usable keys (none fetched
/// yet, or the last good ones past `max_staleness`): a short fixed 1 s, plus up to 20%
/// jitter, so the first valid token passes within about a second of the IdP coming back. This
/// is one fetch a second per process while the IdP stays down, instead of the backoff's two a
/// minute; requests are failing meanwhile, so recovering at once is worth it.
pub fn unusable_retry_delay_ms(random: u64) -> u64 {
    const BASE: u64 = 1_000;
    BASE + random % (BASE / 5 + 1)
}

/// The fetch a request with an unknown `kid` waits for ([`ProviderStore::request_refetch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefetchGrant {
    /// The completed-fetch count ([`FetchState::fetches`]) once that fetch has answered.
    pub awaited: u64,
    /// Whether this request brought the fetch forward (false: it joined one already due,
    /// scheduled or under way).
    pub brought_forward: bool,
}

/// The shared-data entries of one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderStore {
    state_key: String,
    jwks_key: String,
    jwks_uri_key: String,
}

/// How many times a state update is retried when other VMs keep writing.
const CAS_ATTEMPTS: usize = 8;

impl ProviderStore {
    /// Names the entries after the provider and where its keys come from, so two plugin
    /// instances sharing a `vm_id` only share a key set when they fetch the same one.
    pub fn new(provider: &Provider, remote: &RemoteJwks) -> Self {
        let uri = remote.first_uri();
        let base = format!("jwt_authn/v2/{}|{}|{}", provider.name, uri.cluster, uri.uri);
        Self {
            state_key: format!("{base}/state"),
            jwks_key: format!("{base}/jwks"),
            jwks_uri_key: format!("{base}/jwks_uri"),
        }
    }

    /// Remembers the `jwks_uri` a discovery document named, for whichever VM fetches next.
    pub fn store_jwks_uri(&self, store: &dyn SharedData, uri: &str) -> Result<(), SetError> {
        store.set(&self.jwks_uri_key, uri.as_bytes(), None)
    }

    /// The last `jwks_uri` discovery found.
    pub fn read_jwks_uri(&self, store: &dyn SharedData) -> Option<String> {
        store
            .get(&self.jwks_uri_key)
            .and_then(|(bytes, _)| String::from_utf8(bytes).ok())
            .filter(|uri| !uri.is_empty())
    }

    /// Brings the next fetch forward for a token whose `kid` no key has, and says which fetch
    /// the request should wait for: the completed-fetch count that fetch brings.
    ///
    /// Unknown-`kid` refetches start at most once per `min_interval_ms`: a request inside the
    /// interval schedules the fetch for the interval's end (or joins one already due or under
    /// way), so it waits rather than being refused, and a flood of random kids still costs
    /// one fetch per interval. `None` when `min_interval_ms` is 0 (refetching off).
    pub fn request_refetch(
        &self,
        store: &dyn SharedData,
        now_ms: u64,
        min_interval_ms: u64,
    ) -> Option<RefetchGrant> {
        if min_interval_ms == 0 {
            return None;
        }
        for _ in 0..CAS_ATTEMPTS {
            let (state, cas) = self.read_state(store);
            let awaited = state.fetches.saturating_add(1);
            let joined = RefetchGrant {
                awaited,
                brought_forward: false,
            };
            if state.lease_held(now_ms) {
                return Some(joined);
            }
            let last = state.unknown_kid_refetch_at_ms;
            let start_at = if last == 0 {
                now_ms
            } else {
                now_ms.max(last.saturating_add(min_interval_ms))
            };
            if state.next_fetch_at_ms <= start_at {
                return Some(joined);
            }
            let next = FetchState {
                unknown_kid_refetch_at_ms: start_at.max(1),
                next_fetch_at_ms: start_at,
                ..state
            };
            if store.set(&self.state_key, &next.encode(), cas).is_ok() {
                return Some(RefetchGrant {
                    awaited,
                    brought_forward: true,
                });
            }
        }
        // Other VMs kept writing the record: one of them is scheduling the same fetch.
        let (state, _) = self.read_state(store);
        Some(RefetchGrant {
            awaited: state.fetches.saturating_add(1),
            brought_forward: false,
        })
    }

    /// Creates the state record if absent (see the module docs for why this runs at configure).
    pub fn ensure_initialized(&self, store: &dyn SharedData) -> Result<(), SetError> {
        match store.get(&self.state_key) {
            Some((bytes, _)) if FetchState::decode(&bytes).is_some() => Ok(()),
            _ => store.set(&self.state_key, &FetchState::default().encode(), None),
        }
    }

    /// The current record and its CAS token.
    pub fn read_state(&self, store: &dyn SharedData) -> (FetchState, Option<u32>) {
        match store.get(&self.state_key) {
            Some((bytes, cas)) => (FetchState::decode(&bytes).unwrap_or_default(), Some(cas)),
            None => (FetchState::default(), None),
        }
    }

    /// Takes the fetch lease if a fetch is due and nobody holds it. True: this VM must fetch.
    pub fn try_acquire(&self, store: &dyn SharedData, vm: u64, now_ms: u64, lease_ms: u64) -> bool {
        let (state, cas) = self.read_state(store);
        if !state.fetch_due(now_ms) {
            return false;
        }
        let next = FetchState {
            lease_holder: vm,
            lease_expires_at_ms: now_ms.saturating_add(lease_ms),
            ..state
        };
        store.set(&self.state_key, &next.encode(), cas).is_ok()
    }

    /// Applies `change` to the record with compare-and-swap, retrying on contention.
    fn update(
        &self,
        store: &dyn SharedData,
        change: impl Fn(&mut FetchState),
    ) -> Result<FetchState, SetError> {
        let mut last = SetError::CasMismatch;
        for _ in 0..CAS_ATTEMPTS {
            let (mut state, cas) = self.read_state(store);
            change(&mut state);
            match store.set(&self.state_key, &state.encode(), cas) {
                Ok(()) => return Ok(state),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Publishes a fetched document (already checked to hold usable keys) and releases the
    /// lease. The generation rises only when the document changed, so workers re-parse (and
    /// drop their verified-token caches) only for a real change. Returns the generation.
    pub fn publish(
        &self,
        store: &dyn SharedData,
        document: &[u8],
        now_ms: u64,
        next_fetch_at_ms: u64,
    ) -> Result<u64, SetError> {
        let changed = self.read_document(store).as_deref() != Some(document);
        if changed {
            store.set(&self.jwks_key, document, None)?;
        }
        let state = self.update(store, |state| {
            if changed || state.generation == 0 {
                state.generation = state.generation.saturating_add(1);
            }
            state.fetches = state.fetches.saturating_add(1);
            state.fetched_at_ms = now_ms;
            state.next_fetch_at_ms = next_fetch_at_ms;
            state.failures = 0;
            state.lease_holder = 0;
            state.lease_expires_at_ms = 0;
        })?;
        Ok(state.generation)
    }

    /// Records a failed fetch, schedules the retry and releases the lease.
    pub fn record_failure(
        &self,
        store: &dyn SharedData,
        next_attempt_at_ms: u64,
    ) -> Result<FetchState, SetError> {
        self.update(store, |state| {
            state.fetches = state.fetches.saturating_add(1);
            state.failures = state.failures.saturating_add(1);
            state.next_fetch_at_ms = next_attempt_at_ms;
            state.lease_holder = 0;
            state.lease_expires_at_ms = 0;
        })
    }

    /// The raw published document.
    pub fn read_document(&self, store: &dyn SharedData) -> Option<Vec<u8>> {
        store.get(&self.jwks_key).map(|(bytes, _)| bytes)
    }
}

/// Which key set a worker holds, and how many fetches had completed when it looked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyVersion {
    /// The key-set generation (rises only when the document changes).
    pub generation: u64,
    /// Completed fetches, successful or not.
    pub fetches: u64,
}

/// Whether a request can be checked against a provider's keys now.
#[derive(Clone, Debug)]
pub enum Availability {
    /// The parsed key set of the newest generation, and its version.
    Ready(Rc<KeySet>, KeyVersion),
    /// No key set yet, but the first fetch has not failed: worth waiting for.
    Pending,
    /// No key set, and fetching has failed: answer 503 now.
    Unavailable,
}

/// How long a worker trusts its last read of a provider's [`FetchState`]: reading shared data
/// is a host call (a lock and a copy), too dear for every request. The host's 200 ms tick and
/// this VM's own fetch results call [`WorkerKeys::invalidate`], so a new key set is seen within
/// one tick, and at once by the VM that fetched it.
pub const STATE_POLL_MS: u64 = 200;

/// One VM's parsed copies of the published key sets, one slot per provider.
///
/// Parsing happens once per generation, never per request; the fetch state is read at most
/// once per [`STATE_POLL_MS`].
#[derive(Debug, Default)]
pub struct WorkerKeys {
    slots: Vec<Option<(u64, Rc<KeySet>)>>,
    /// The last [`FetchState`] read per provider, and when (ms).
    states: Vec<Option<(FetchState, u64)>>,
    /// What key sets are prepared for and verified with.
    verifier: Verifier,
}

impl WorkerKeys {
    /// Slots for `providers` providers, all empty; key sets are parsed for `verifier`.
    pub fn new(providers: usize, verifier: Verifier) -> Self {
        Self {
            slots: (0..providers).map(|_| None).collect(),
            states: (0..providers).map(|_| None).collect(),
            verifier,
        }
    }

    /// Takes the key set this VM just fetched and published as `generation`, so it is not
    /// read back from shared data and parsed a second time.
    pub fn install(&mut self, index: usize, generation: u64, keys: Rc<KeySet>) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some((generation, keys));
        }
    }

    /// Forgets every fetch state read, so the next [`WorkerKeys::current`] reads shared data.
    pub fn invalidate(&mut self) {
        for state in &mut self.states {
            *state = None;
        }
    }

    /// Forgets provider `index`'s last fetch-state read.
    pub fn invalidate_one(&mut self, index: usize) {
        if let Some(state) = self.states.get_mut(index) {
            *state = None;
        }
    }

    /// Provider `index`'s fetch state: the last read if younger than [`STATE_POLL_MS`].
    fn state(
        &mut self,
        index: usize,
        store: &ProviderStore,
        shared: &dyn SharedData,
        now_ms: u64,
    ) -> FetchState {
        if let Some(Some((state, read_at))) = self.states.get(index) {
            // A clock that went backwards also forces a read.
            if now_ms >= *read_at && now_ms - read_at < STATE_POLL_MS {
                return *state;
            }
        }
        let (state, _) = store.read_state(shared);
        if let Some(slot) = self.states.get_mut(index) {
            *slot = Some((state, now_ms));
        }
        state
    }

    /// The newest key set of provider `index`, re-parsed only when its generation moved;
    /// unavailable once the last successful fetch is older than `max_staleness_ms`.
    pub fn current(
        &mut self,
        index: usize,
        store: &ProviderStore,
        shared: &dyn SharedData,
        now_ms: u64,
        max_staleness_ms: u64,
    ) -> Availability {
        let state = self.state(index, store, shared, now_ms);
        let Some(slot) = self.slots.get_mut(index) else {
            return Availability::Unavailable;
        };
        let stale =
            state.generation != 0 && now_ms.saturating_sub(state.fetched_at_ms) > max_staleness_ms;
        if stale {
            return Availability::Unavailable;
        }
        if let Some((generation, keys)) = slot {
            if *generation == state.generation {
                let version = KeyVersion {
                    generation: *generation,
                    fetches: state.fetches,
                };
                return Availability::Ready(Rc::clone(keys), version);
            }
        }
        if state.generation != 0 {
            let parsed = store
                .read_document(shared)
                .and_then(|doc| KeySet::parse(&doc, &self.verifier).ok());
            if let Some(parsed) = parsed {
                let keys = Rc::new(parsed.keys);
                *slot = Some((state.generation, Rc::clone(&keys)));
                let version = KeyVersion {
                    generation: state.generation,
                    fetches: state.fetches,
                };
                return Availability::Ready(keys, version);
            }
            log::warn!(
                "published key set of generation {} does not parse; keeping the previous one",
                state.generation
            );
        }
        match slot {
            Some((generation, keys)) => Availability::Ready(
                Rc::clone(keys),
                KeyVersion {
                    generation: *generation,
                    fetches: state.fetches,
                },
            ),
            None if state.failures == 0 => Availability::Pending,
            None => Availability::Unavailable,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
