//! The end of the key's road: one VM's key sets, as the request's road asks for them.
//!
//! Per provider, [`ProviderKeys`] says where its keys come from: the configuration (parsed
//! once, at configure time) or shared data (published by whichever VM fetched them, parsed
//! once per generation into this VM's [`WorkerKeys`]). [`VmKeySets::at`] lends the request's
//! road a [`KeySource`] over them for one moment.

use crate::config::{Config, JwksSource, RemoteJwks};
use crate::keys::jwks::KeySet;
use crate::keys::missing::MissingKids;
use crate::keys::store::{Availability, KeyVersion, ProviderStore, SharedData, WorkerKeys};
use crate::verify::Verifier;
use std::rc::Rc;

/// The key sets of the configured providers, as this VM currently sees them.
pub trait KeySource {
    /// Whether provider `index` has keys now.
    fn availability(&mut self, index: usize) -> Availability;

    /// Asks for provider `index`'s keys to be fetched again because a token names a `kid` they
    /// lack; `seen` is the version the request just checked.
    fn request_refetch(&mut self, index: usize, kid: &str, seen: KeyVersion) -> Refetch;

    /// Records that provider `index`'s keys still lacked `kid` when a request's wait for it ran
    /// out, so the next tokens naming it are refused at once ([`MissingKids`]).
    fn kid_not_found(&mut self, index: usize, kid: &str);
}

/// What a request whose `kid` is unknown does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refetch {
    /// Wait until the provider's completed-fetch count reaches this, then decide again.
    Await(u64),
    /// A fetch completed since this VM last read the keys: read them again before asking.
    Recheck,
    /// No fetch is coming for it: local keys, refetching turned off, or a kid recently waited
    /// for in vain. Decide now.
    Refused,
}

/// Unknown-`kid` refetch requests of one provider since the last [`VmKeySets::take_refetches`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefetchCounts {
    /// Requests that brought a fetch forward.
    pub allowed: u64,
    /// Requests that joined a fetch already due, scheduled or under way, or were refused
    /// (a kid recently waited for in vain, refetching off).
    pub suppressed: u64,
}

/// Where one provider's keys come from.
#[derive(Clone, Debug)]
pub enum ProviderKeys {
    /// Written in the configuration, parsed at configure time.
    Local(Rc<KeySet>),
    /// Fetched, and kept in shared data under these entries.
    Remote(ProviderStore),
    /// Neither: a local key set that did not parse (configure refuses to start first).
    Missing,
}

/// The version a local key set reports: it never changes.
const LOCAL_VERSION: KeyVersion = KeyVersion {
    generation: 1,
    fetches: 0,
};

/// One VM's key sets: per provider where they come from, and its parsed copies of the fetched
/// ones.
#[derive(Debug, Default)]
pub struct VmKeySets {
    providers: Vec<ProviderKeys>,
    worker: WorkerKeys,
    missing: MissingKids,
    refetches: Vec<RefetchCounts>,
}

impl VmKeySets {
    /// The key sets of `config`'s providers: `local` from [`crate::keys::local::local_key_sets`],
    /// fetched ones parsed for `verifier`. Creates each remote provider's shared-data record
    /// (see [`ProviderStore::ensure_initialized`] for why this runs at configure time).
    pub fn new(
        config: &Config,
        local: Vec<Option<Rc<KeySet>>>,
        verifier: Verifier,
        shared: &dyn SharedData,
    ) -> Self {
        let mut local = local.into_iter();
        let providers = config
            .providers
            .iter()
            .map(|provider| match (&provider.jwks, local.next().flatten()) {
                (JwksSource::Remote(remote), _) => {
                    let store = ProviderStore::new(provider, remote);
                    if let Err(err) = store.ensure_initialized(shared) {
                        log::warn!(
                            "provider {}: could not initialise shared data: {err:?}",
                            provider.name
                        );
                    }
                    ProviderKeys::Remote(store)
                }
                (JwksSource::Local(_), Some(keys)) => ProviderKeys::Local(keys),
                (JwksSource::Local(_), None) => ProviderKeys::Missing,
            })
            .collect::<Vec<_>>();
        Self {
            worker: WorkerKeys::new(providers.len(), verifier),
            missing: MissingKids::default(),
            refetches: vec![RefetchCounts::default(); providers.len()],
            providers,
        }
    }

    /// Each provider's shared-data entries (`None` for local keys), for the fetcher.
    pub fn stores(&self) -> Vec<Option<ProviderStore>> {
        self.providers
            .iter()
            .map(|keys| match keys {
                ProviderKeys::Remote(store) => Some(store.clone()),
                ProviderKeys::Local(_) | ProviderKeys::Missing => None,
            })
            .collect()
    }

    /// Seconds since each fetched provider's last good key set, for those that have one.
    pub fn ages_s(&self, shared: &dyn SharedData, now_ms: u64) -> Vec<(usize, u64)> {
        let mut ages = Vec::new();
        for (index, keys) in self.providers.iter().enumerate() {
            if let ProviderKeys::Remote(store) = keys {
                let (state, _) = store.read_state(shared);
                if state.generation != 0 {
                    ages.push((index, now_ms.saturating_sub(state.fetched_at_ms) / 1_000));
                }
            }
        }
        ages
    }

    /// Takes a key set this VM fetched and published as `generation` (see
    /// [`WorkerKeys::install`]).
    pub fn install(&mut self, index: usize, generation: u64, keys: Rc<KeySet>) {
        self.worker.install(index, generation, keys);
    }

    /// Each provider's unknown-`kid` refetch requests since the last call (for metrics).
    pub fn take_refetches(&mut self) -> Vec<RefetchCounts> {
        self.refetches.iter_mut().map(std::mem::take).collect()
    }

    /// Makes the next look read shared data again (see [`WorkerKeys::invalidate`]).
    pub fn invalidate(&mut self) {
        self.worker.invalidate();
    }

    /// A [`KeySource`] over these key sets at `now_ms`.
    pub fn at<'a>(
        &'a mut self,
        config: &'a Config,
        shared: &'a dyn SharedData,
        now_ms: u64,
    ) -> KeysAt<'a> {
        KeysAt {
            sets: self,
            config,
            shared,
            now_ms,
        }
    }
}

/// [`VmKeySets`] at one moment, read through shared data.
pub struct KeysAt<'a> {
    sets: &'a mut VmKeySets,
    config: &'a Config,
    shared: &'a dyn SharedData,
    now_ms: u64,
}

/// Provider `index`'s shared-data entries and fetch settings, when its keys are fetched.
fn remote<'s, 'c>(
    providers: &'s [ProviderKeys],
    config: &'c Config,
    index: usize,
) -> Option<(&'s ProviderStore, &'c RemoteJwks)> {
    let Some(ProviderKeys::Remote(store)) = providers.get(index) else {
        return None;
    };
    Some((store, config.providers.get(index)?.jwks.remote()?))
}

impl KeySource for KeysAt<'_> {
    fn availability(&mut self, index: usize) -> Availability {
        if let Some(ProviderKeys::Local(keys)) = self.sets.providers.get(index) {
            return Availability::Ready(Rc::clone(keys), LOCAL_VERSION);
        }
        let Some((store, remote)) = remote(&self.sets.providers, self.config, index) else {
            return Availability::Unavailable;
        };
        self.sets.worker.current(
            index,
            store,
            self.shared,
            self.now_ms,
            remote.max_staleness_ms,
        )
    }

    fn request_refetch(&mut self, index: usize, kid: &str, seen: KeyVersion) -> Refetch {
        let Some((store, remote)) = remote(&self.sets.providers, self.config, index) else {
            return Refetch::Refused;
        };
        let counts = self.sets.refetches.get_mut(index);
        if self.sets.missing.contains(index, kid, self.now_ms) {
            if let Some(counts) = counts {
                counts.suppressed = counts.suppressed.saturating_add(1);
            }
            return Refetch::Refused;
        }
        // This VM reads the fetch state at most every STATE_POLL_MS: a fetch may have brought
        // the kid since. Look before asking for another.
        let (state, _) = store.read_state(self.shared);
        if state.fetches > seen.fetches || state.generation != seen.generation {
            self.sets.worker.invalidate_one(index);
            return Refetch::Recheck;
        }
        let grant = store.request_refetch(self.shared, self.now_ms, remote.unknown_kid_refetch_ms);
        if let Some(counts) = counts {
            if grant.is_some_and(|g| g.brought_forward) {
                counts.allowed = counts.allowed.saturating_add(1);
            } else {
                counts.suppressed = counts.suppressed.saturating_add(1);
            }
        }
        match grant {
            Some(grant) => Refetch::Await(grant.awaited),
            None => Refetch::Refused,
        }
    }

    fn kid_not_found(&mut self, index: usize, kid: &str) {
        if remote(&self.sets.providers, self.config, index).is_some() {
            self.sets.missing.insert(index, kid, self.now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{minimal, parse};
    use crate::keys::store::tests::MemoryShared;
    use serde_json::json;

    #[test]
    fn local_keys_are_ready_and_never_refetched_remote_ones_follow_shared_data() {
        let mut value = minimal();
        let mut local = value["providers"][0].clone();
        local["name"] = json!("local");
        local["issuer"] = json!("https://local.example.test/");
        local.as_object_mut().unwrap().remove("remote_jwks");
        let document = String::from_utf8(crate::keys::fetch::tests::jwks()).unwrap();
        local["local_jwks"] = json!({ "inline_string": document });
        value["providers"].as_array_mut().unwrap().push(local);
        let config = parse(value).unwrap();
        let shared = MemoryShared::default();
        let keys = Rc::new(
            KeySet::parse(
                crate::keys::fetch::tests::jwks().as_slice(),
                &Verifier::default(),
            )
            .unwrap()
            .keys,
        );
        let mut sets = VmKeySets::new(
            &config,
            vec![None, Some(Rc::clone(&keys))],
            Verifier::default(),
            &shared,
        );
        let mut at = sets.at(&config, &shared, 1_000);
        assert!(matches!(at.availability(0), Availability::Pending));
        match at.availability(1) {
            Availability::Ready(set, version) => {
                assert!(Rc::ptr_eq(&set, &keys));
                assert_eq!(version, LOCAL_VERSION);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(at.availability(2), Availability::Unavailable));
        let seen = KeyVersion {
            generation: 0,
            fetches: 0,
        };
        assert_eq!(at.request_refetch(0, "k", seen), Refetch::Await(1));
        assert_eq!(
            at.request_refetch(1, "k", LOCAL_VERSION),
            Refetch::Refused,
            "local keys are never fetched"
        );
        at.kid_not_found(0, "gone");
        assert_eq!(at.request_refetch(0, "gone", seen), Refetch::Refused);
        assert_eq!(
            sets.take_refetches()[0],
            RefetchCounts {
                allowed: 0,
                suppressed: 2
            },
            "the first fetch was already due: the request joined it"
        );
        assert_eq!(sets.take_refetches()[0], RefetchCounts::default());
        // The remote provider's record was created at configure time; the fetcher gets its
        // store, and nothing for the local one.
        let stores = sets.stores();
        assert!(stores[0].is_some() && stores[1].is_none());
        let (state, _) = stores[0].as_ref().unwrap().read_state(&shared);
        assert_eq!(state.generation, 0);
    }
}
