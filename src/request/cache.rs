//! A per-worker cache of verified tokens, so a token seen again skips parsing and the signature.
//!
//! Pure (no proxy-wasm): the clock and the key-set generations come in as arguments.
//!
//! - **Key**: the whole token text. A 64-bit hash of it ([`TokenKey`], from [`key`]) finds the
//!   entry, and the stored text is compared with the request's in full before an entry counts
//!   as a hit: no two tokens can share an entry, whatever their hashes (a collision costs a miss,
//!   never a wrong hit). Only tokens that passed every check are ever inserted.
//! - **Entry**: what the flow needs after verification, shared as an `Rc<T>` (the caller picks
//!   `T`, e.g. its `Verified` with the provider index and the parsed claims), plus the provider
//!   index, the key-set generation it was verified under, `exp`, `nbf` and the clock skew.
//! - **Validity on a hit**: the provider's *current* generation must equal the entry's (a key
//!   rotation or removal invalidates every entry verified under the old set, even before
//!   [`VerifiedCache::clear`] is called), and `exp`/`nbf` are re-checked with the skew exactly as
//!   the uncached path checks them (`now > exp + skew` is expired, `now + skew < nbf` is not yet
//!   valid). Anything that fails is a [`Lookup::Miss`], and the caller runs the full path, which
//!   then produces the right error; an expired entry is dropped at once.
//! - **Lifetime**: never past `exp + skew` (the last second the uncached path accepts); a token
//!   without `exp` (allowed when `require_expiration` is off) lives at most
//!   [`CacheConfig::max_ttl_secs`] after insertion.
//! - **Bound**: at most [`CacheConfig::capacity`] entries, evicted with CLOCK (second chance: an
//!   entry hit since the hand last passed survives one sweep); expired entries are taken first
//!   when the hand meets them. Capacity 0 disables the cache.
//! - **Hot path**: a hit is one multiply-rotate hash over the token (8 bytes a step), one
//!   hash-map probe, one comparison of the token bytes and an `Rc` clone; no allocation, no
//!   JSON. A SHA-256 here cost about 3 µs per request inside Envoy's V8 (`make bench`, see the
//!   README's Performance section); this hash costs a tenth of that, and the byte comparison
//!   makes the key exact instead of merely collision-resistant.
//! - **Why an attacker gains nothing from the hash**: entries are only ever made from tokens
//!   that verified, so a crafted token can at most land on an existing entry's hash; its bytes
//!   then differ, and it takes the full path like any unknown token.
//!
//! Default capacity 1024 (Envoy's jwt_cache defaults to 100): an entry costs its token text
//! plus its claims (typically 1-3 KB together), so 1024 entries stay near 1-3 MB per worker
//! while covering the active tokens of a busy service; a hit saves 100-4000 µs of signature
//! work in V8.

use crate::config::token::CacheConfig;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// A token as the cache sees it: its text and a 64-bit hash of that text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenKey<'a> {
    hash: u64,
    token: &'a [u8],
}

/// How many of a token's last bytes its hash covers.
const HASHED_TAIL: usize = 32;

/// The cache key of `token`: its whole text (header, payload and signature), found through a
/// hash of its length and its last [`HASHED_TAIL`] bytes.
///
/// Only verified tokens are stored, and a verified token ends with its signature, whose last 32
/// characters (192 bits) no one without the issuer's key can choose: hashing them alone spreads
/// the entries as well as hashing everything, for a 32-byte pass instead of a whole-token one.
/// A hit still needs every byte to match.
pub fn key(token: &[u8]) -> TokenKey<'_> {
    let tail = token
        .get(token.len().saturating_sub(HASHED_TAIL)..)
        .unwrap_or(token);
    TokenKey {
        hash: hash(token.len(), tail),
        token,
    }
}

/// A 64-bit hash of `len` and `bytes`: multiply-rotate over 8-byte words, then a 64-bit
/// finalizer so every output bit depends on every input bit (the hash map indexes by a few).
fn hash(len: usize, bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (len as u64).wrapping_mul(K);
    let (words, rest) = bytes.as_chunks::<8>();
    for word in words {
        h = (h ^ u64::from_le_bytes(*word))
            .wrapping_mul(K)
            .rotate_left(29);
    }
    let mut tail = [0_u8; 8];
    for (to, from) in tail.iter_mut().zip(rest) {
        *to = *from;
    }
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    // MurmurHash3's fmix64.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Whether `a` and `b` hold the same bytes, compared 8 at a time: slice equality calls
/// `memcmp`, which on wasm32 is a byte loop (12 % of a cache hit's time in V8 for a 700-byte
/// token). Words come from `as_chunks`, which reads them in place: `copy_from_slice` into a
/// buffer is an out-of-line call and a `memory.copy` per word at the release opt-level.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let ((words_a, rest_a), (words_b, rest_b)) = (a.as_chunks::<8>(), b.as_chunks::<8>());
    words_a
        .iter()
        .zip(words_b)
        .all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && rest_a == rest_b
}

/// What the caller knows about a token once it has verified it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Index of the provider whose key set verified it.
    pub provider: usize,
    /// That key set's generation.
    pub generation: u64,
    /// The `exp` claim in whole seconds (rounded down), if any.
    pub exp: Option<u64>,
    /// The `nbf` claim in whole seconds (rounded up), if any.
    pub nbf: Option<u64>,
    /// The provider's clock skew.
    pub skew: u64,
}

/// Counters, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Entries stored.
    pub inserts: u64,
    /// Entries pushed out to make room.
    pub evictions: u64,
    /// Entries dropped because their token expired or their key set changed.
    pub invalidations: u64,
}

/// The answer of [`VerifiedCache::lookup`].
#[derive(Debug)]
pub enum Lookup<T> {
    /// The token verified before and is still valid now.
    Hit {
        /// The provider that verified it.
        provider: usize,
        /// What the caller stored.
        value: Rc<T>,
    },
    /// Run the full path (and [`VerifiedCache::insert`] if the token verifies).
    Miss,
}

/// Hashes a `u64` that already is a well-mixed hash by passing it through.
#[derive(Default)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else in rather than lose it.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

struct Slot<T> {
    hash: u64,
    /// The token's text, compared in full on every hit.
    token: Box<[u8]>,
    validity: Validity,
    /// Last second (inclusive) at which the entry may be used.
    not_after: u64,
    value: Rc<T>,
    referenced: bool,
}

/// A bounded map from tokens to verified results (see the module docs).
pub struct VerifiedCache<T> {
    config: CacheConfig,
    /// Slot position by token hash; one entry per hash (a second token with the same hash
    /// replaces the first).
    index: HashMap<u64, usize, BuildHasherDefault<PassThroughHasher>>,
    slots: Vec<Slot<T>>,
    hand: usize,
    stats: CacheStats,
}

impl<T> VerifiedCache<T> {
    /// An empty cache; memory grows with use up to `config.capacity` entries.
    pub fn new(config: CacheConfig) -> Self {
        Self {
            config,
            index: HashMap::default(),
            slots: Vec::new(),
            hand: 0,
            stats: CacheStats::default(),
        }
    }

    /// The sizing this cache was made with.
    pub fn config(&self) -> CacheConfig {
        self.config
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Looks `key` up at `now` (seconds since the epoch). `generation(provider)` gives the
    /// provider's current key-set generation, `None` when it has no key set: a hit needs the
    /// entry's generation to still be current.
    pub fn lookup(
        &mut self,
        key: TokenKey<'_>,
        now: u64,
        generation: impl FnOnce(usize) -> Option<u64>,
    ) -> Lookup<T> {
        let Some(&position) = self.index.get(&key.hash) else {
            self.stats.misses += 1;
            return Lookup::Miss;
        };
        // `None` is unreachable while the index and the slots agree; answer safely anyway.
        let slot = match self.slots.get_mut(position) {
            Some(slot) if same_bytes(&slot.token, key.token) => slot,
            _ => {
                self.stats.misses += 1;
                return Lookup::Miss;
            }
        };
        let current = generation(slot.validity.provider) == Some(slot.validity.generation);
        if !current || now > slot.not_after {
            self.remove_at(position);
            self.stats.invalidations += 1;
            self.stats.misses += 1;
            return Lookup::Miss;
        }
        if slot
            .validity
            .nbf
            .is_some_and(|nbf| now.saturating_add(slot.validity.skew) < nbf)
        {
            // Only a clock that went back gets here: keep the entry, let the full path refuse.
            self.stats.misses += 1;
            return Lookup::Miss;
        }
        slot.referenced = true;
        self.stats.hits += 1;
        Lookup::Hit {
            provider: slot.validity.provider,
            value: Rc::clone(&slot.value),
        }
    }

    /// Stores a token that just verified at `now` (copying its text). An entry that would
    /// already be unusable (expired) is not stored; an existing entry with the same hash is
    /// replaced.
    pub fn insert(&mut self, key: TokenKey<'_>, validity: Validity, now: u64, value: Rc<T>) {
        if self.config.capacity == 0 {
            return;
        }
        let not_after = match validity.exp {
            Some(exp) => exp.saturating_add(validity.skew),
            None => now.saturating_add(self.config.max_ttl_secs),
        };
        if now > not_after {
            return;
        }
        let slot = Slot {
            hash: key.hash,
            token: key.token.into(),
            validity,
            not_after,
            value,
            referenced: false,
        };
        if let Some(&position) = self.index.get(&key.hash) {
            if let Some(existing) = self.slots.get_mut(position) {
                *existing = slot;
                self.stats.inserts += 1;
                return;
            }
        }
        if self.slots.len() >= self.config.capacity {
            self.evict_one(now);
        }
        self.index.insert(key.hash, self.slots.len());
        self.slots.push(slot);
        self.stats.inserts += 1;
    }

    /// Drops every entry (e.g. when a provider's key set changes; entries of an older
    /// generation would miss anyway, this just frees them).
    pub fn clear(&mut self) {
        let dropped = self.slots.len() as u64;
        self.slots.clear();
        self.index.clear();
        self.hand = 0;
        self.stats.invalidations += dropped;
    }

    /// Drops the entries of one provider only.
    pub fn clear_provider(&mut self, provider: usize) {
        let mut position = 0;
        while let Some(slot) = self.slots.get(position) {
            if slot.validity.provider == provider {
                self.remove_at(position);
                self.stats.invalidations += 1;
            } else {
                position += 1;
            }
        }
    }

    /// CLOCK: advance the hand, clearing reference bits, until an unreferenced or expired
    /// entry is found; remove it. Terminates within two sweeps.
    fn evict_one(&mut self, now: u64) {
        let len = self.slots.len();
        if len == 0 {
            return;
        }
        for _ in 0..=2 * len {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let Some(slot) = self.slots.get_mut(self.hand) else {
                return;
            };
            if slot.referenced && now <= slot.not_after {
                slot.referenced = false;
                self.hand += 1;
            } else {
                let position = self.hand;
                self.remove_at(position);
                self.stats.evictions += 1;
                return;
            }
        }
    }

    /// Removes the slot at `position` by moving the last slot into its place.
    fn remove_at(&mut self, position: usize) {
        if position >= self.slots.len() {
            return;
        }
        let removed = self.slots.swap_remove(position);
        self.index.remove(&removed.hash);
        if let Some(moved) = self.slots.get(position) {
            self.index.insert(moved.hash, position);
        }
    }
}

#[cfg(test)]
mod tests;
