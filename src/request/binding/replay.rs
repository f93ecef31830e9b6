//! The DPoP replay cache: proof ids seen within their acceptance window, shared by every worker
//! of the process through shared data.
//!
//! Shared data has no delete and no atomic create, so the cache is a fixed set of slots, each one
//! shared-data entry created when the configuration is applied ([`ReplayCache::ensure_slots`]) and never
//! removed: memory is bounded by the slot count, whatever the traffic. A slot holds up to
//! [`SLOT_ENTRIES`] entries of a 16-byte proof id (SHA-256 of the proof key's thumbprint and the
//! `jti`) and the second the proof stops being acceptable; expired entries are dropped as the
//! slot is next written. A slot is written with compare-and-swap, so two workers recording the
//! same proof at once cannot both see it first. When a slot is full of live entries, the one
//! closest to expiry is evicted: a cache sized below the traffic lets an old proof be replayed
//! in what is left of its window, which [`Recorded::FirstEvicting`] lets the host count.

use crate::keys::store::{SetError, SharedData};

/// Entries per slot.
pub const SLOT_ENTRIES: usize = 8;
const ENTRY_BYTES: usize = 24;
/// Compare-and-swap attempts before the write is given up as contended.
const ATTEMPTS: usize = 8;

/// What recording a proof id found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Not seen before; now recorded.
    First,
    /// Not seen before; recorded in place of a live entry (the cache is too small).
    FirstEvicting,
    /// Seen before, within its window: a replay.
    Replayed,
    /// Shared data could not be read or written.
    Unavailable,
}

/// The replay cache of one provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayCache {
    name: String,
    prefix: String,
    slots: u32,
}

impl ReplayCache {
    /// The cache of provider `name` holding about `entries` proof ids.
    pub fn new(name: &str, entries: usize) -> Self {
        let slots = u32::try_from(entries.div_ceil(SLOT_ENTRIES).max(1)).unwrap_or(u32::MAX);
        Self {
            name: name.to_string(),
            prefix: format!("jwt_authn/v2/dpop/{name}/{slots}/"),
            slots,
        }
    }

    /// The provider's name, for log lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn key(&self, id: &[u8; 16]) -> String {
        let slot = u32::from_be_bytes([id[0], id[1], id[2], id[3]]) % self.slots;
        format!("{}{slot}", self.prefix)
    }

    /// Creates every slot that does not exist yet. Run when a VM applies the configuration:
    /// Envoy configures the main thread's VM before any worker's, so workers never race to
    /// create a slot (a create cannot be compare-and-swapped). The last slot is created last,
    /// so a VM that finds it skips the rest.
    pub fn ensure_slots(&self, shared: &dyn SharedData) -> Result<(), SetError> {
        let last = format!("{}{}", self.prefix, self.slots - 1);
        if shared.get(&last).is_some() {
            return Ok(());
        }
        for slot in 0..self.slots {
            let key = format!("{}{slot}", self.prefix);
            if shared.get(&key).is_none() {
                shared.set(&key, &[], None)?;
            }
        }
        Ok(())
    }

    /// Records proof `id`, acceptable until `expires_at` (seconds), at `now`.
    pub fn record(
        &self,
        shared: &dyn SharedData,
        id: &[u8; 16],
        expires_at: u64,
        now: u64,
    ) -> Recorded {
        let key = self.key(id);
        for _ in 0..ATTEMPTS {
            let (bytes, cas) = match shared.get(&key) {
                Some((bytes, cas)) => (bytes, Some(cas)),
                None => (Vec::new(), None),
            };
            let mut live: Vec<([u8; 16], u64)> = bytes
                .chunks_exact(ENTRY_BYTES)
                .filter_map(|entry| {
                    let (seen, expiry) = entry.split_at(16);
                    let seen: [u8; 16] = seen.try_into().ok()?;
                    let expiry = u64::from_be_bytes(expiry.try_into().ok()?);
                    (expiry >= now).then_some((seen, expiry))
                })
                .collect();
            if live.iter().any(|(seen, _)| seen == id) {
                return Recorded::Replayed;
            }
            let mut evicting = false;
            if live.len() >= SLOT_ENTRIES {
                if let Some(oldest) = (0..live.len()).min_by_key(|&i| live.get(i).map(|e| e.1)) {
                    live.remove(oldest);
                    evicting = true;
                }
            }
            live.push((*id, expires_at));
            let mut value = Vec::with_capacity(live.len() * ENTRY_BYTES);
            for (seen, expiry) in &live {
                value.extend_from_slice(seen);
                value.extend_from_slice(&expiry.to_be_bytes());
            }
            match shared.set(&key, &value, cas) {
                Ok(()) if evicting => return Recorded::FirstEvicting,
                Ok(()) => return Recorded::First,
                Err(SetError::CasMismatch) => continue,
                Err(SetError::Host) => return Recorded::Unavailable,
            }
        }
        Recorded::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::store::tests::MemoryShared;

    fn id(n: u8, slot_bytes: [u8; 4]) -> [u8; 16] {
        let mut id = [n; 16];
        id[..4].copy_from_slice(&slot_bytes);
        id
    }

    #[test]
    fn a_proof_is_first_once_then_a_replay_until_it_expires() {
        let shared = MemoryShared::default();
        let cache = ReplayCache::new("idp", 64);
        cache.ensure_slots(&shared).unwrap();
        let proof = id(1, [0, 0, 0, 1]);
        assert_eq!(cache.record(&shared, &proof, 1_300, 1_000), Recorded::First);
        assert_eq!(
            cache.record(&shared, &proof, 1_300, 1_200),
            Recorded::Replayed
        );
        // Past its window it is forgotten (and would be refused for its `iat` anyway).
        assert_eq!(cache.record(&shared, &proof, 1_700, 1_301), Recorded::First);
    }

    #[test]
    fn a_full_slot_evicts_the_entry_closest_to_expiry_and_says_so() {
        let shared = MemoryShared::default();
        let cache = ReplayCache::new("idp", 64);
        cache.ensure_slots(&shared).unwrap();
        for n in 0..SLOT_ENTRIES as u8 {
            let got = cache.record(
                &shared,
                &id(n + 1, [0, 0, 0, 0]),
                2_000 + u64::from(n),
                1_000,
            );
            assert_eq!(got, Recorded::First);
        }
        let newest = id(100, [0, 0, 0, 0]);
        assert_eq!(
            cache.record(&shared, &newest, 3_000, 1_000),
            Recorded::FirstEvicting
        );
        // The first (earliest expiry) was evicted; the second is still known.
        assert_eq!(
            cache.record(&shared, &id(2, [0, 0, 0, 0]), 2_001, 1_000),
            Recorded::Replayed
        );
        assert_eq!(
            cache.record(&shared, &newest, 3_000, 1_000),
            Recorded::Replayed
        );
    }

    #[test]
    fn slots_are_created_once_and_bounded() {
        let shared = MemoryShared::default();
        let cache = ReplayCache::new("idp", 100);
        cache.ensure_slots(&shared).unwrap();
        assert_eq!(shared.len(), 13);
        cache.ensure_slots(&shared).unwrap();
        assert_eq!(shared.len(), 13);
        for n in 0..200u8 {
            cache.record(&shared, &id(n, [n, 0, n, 1]), 2_000, 1_000);
        }
        assert_eq!(shared.len(), 13);
    }
}
