//! The end of the key's road: one VM's key sets, as the request's road asks for them.
//!
//! Per provider, [`ProviderKeys`] says where its keys come from: the configuration (parsed
//! once, at configure time) or shared data (published by whichever VM fetched them, parsed
//! once per generation into this VM's [`WorkerKeys`]). [`VmKeySets::at`] lends the request's
//! road a [`KeySource`] over them for one moment.

use crate::config::{Config, JwksSource, RemoteJwks};
use crate::keys::jwks::KeySet;
use crate::keys::store::{Availability, KeyVersion, ProviderStore, SharedData, WorkerKeys};
use crate::verify::Verifier;
use std::rc::Rc;

/// The key sets of the configured providers, as this VM currently sees them.
pub trait KeySource {
    /// Whether provider `index` has keys now.
    fn availability(&mut self, index: usize) -> Availability;

    /// Asks for provider `index`'s keys to be fetched again because a token names a `kid` they
    /// lack. True when a fetch is due or under way (worth waiting for); false when rate-limited
    /// or not possible (local keys).
    fn request_refetch(&mut self, index: usize) -> bool;
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

    fn request_refetch(&mut self, index: usize) -> bool {
        let Some((store, remote)) = remote(&self.sets.providers, self.config, index) else {
            return false;
        };
        store.request_refetch(self.shared, self.now_ms, remote.unknown_kid_refetch_ms)
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
        assert!(at.request_refetch(0));
        assert!(!at.request_refetch(1), "local keys are never fetched");
        // The remote provider's record was created at configure time; the fetcher gets its
        // store, and nothing for the local one.
        let stores = sets.stores();
        assert!(stores[0].is_some() && stores[1].is_none());
        let (state, _) = stores[0].as_ref().unwrap().read_state(&shared);
        assert_eq!(state.generation, 0);
    }
}
