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
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn validity(provider: usize, generation: u64, exp: Option<u64>) -> Validity {
        Validity {
            provider,
            generation,
            exp,
            nbf: None,
            skew: 60,
        }
    }

    fn cache(capacity: usize) -> VerifiedCache<String> {
        VerifiedCache::new(CacheConfig {
            capacity,
            max_ttl_secs: 600,
        })
    }

    fn hit(lookup: Lookup<String>) -> Option<(usize, String)> {
        match lookup {
            Lookup::Hit { provider, value } => Some((provider, (*value).clone())),
            Lookup::Miss => None,
        }
    }

    #[test]
    fn the_hash_covers_every_byte_it_is_given() {
        assert_eq!(key(b"a.b.c"), key(b"a.b.c"));
        let token = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLWJ5dGVz".to_vec();
        let base = hash(token.len(), &token);
        for i in 0..token.len() {
            for bit in 0..8 {
                let mut flipped = token.clone();
                flipped[i] ^= 1 << bit;
                assert_ne!(hash(token.len(), &flipped), base, "byte {i} bit {bit}");
            }
        }
        // Length matters even when the extra bytes are zero.
        assert_ne!(hash(2, b"ab"), hash(3, b"ab\0"));
        assert_ne!(hash(0, b""), hash(8, b"\0\0\0\0\0\0\0\0"));
    }

    #[test]
    fn the_key_hashes_the_length_and_the_last_32_bytes() {
        let token =
            b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLWJ5dGVzLW9mLWEtc2lnbmF0dXJl";
        let tail_start = token.len() - HASHED_TAIL;
        for i in 0..token.len() {
            let mut changed = token.to_vec();
            changed[i] ^= 1;
            let (a, b) = (key(token), key(&changed));
            assert_ne!(a, b, "byte {i}");
            // The head is left to the exact comparison; every tail byte moves the hash.
            assert_eq!(a.hash == b.hash, i < tail_start, "byte {i}");
        }
        assert_ne!(key(b"a.b.c").hash, key(b"xa.b.c").hash);
        // Tokens shorter than the tail are hashed whole.
        assert_eq!(key(b"a.b.c").hash, hash(5, b"a.b.c"));
    }

    #[test]
    fn tokens_that_share_a_tail_never_alias() {
        let mut c = cache(4);
        let tail = "s".repeat(HASHED_TAIL);
        let (t1, t2) = (format!("h1.p1.{tail}"), format!("h2.p2.{tail}"));
        assert_eq!(key(t1.as_bytes()).hash, key(t2.as_bytes()).hash);
        c.insert(
            key(t1.as_bytes()),
            validity(0, 1, Some(NOW + 300)),
            NOW,
            Rc::new("v".into()),
        );
        assert!(hit(c.lookup(key(t2.as_bytes()), NOW, |_| Some(1))).is_none());
        assert_eq!(
            hit(c.lookup(key(t1.as_bytes()), NOW, |_| Some(1))),
            Some((0, "v".into()))
        );
    }

    #[test]
    fn a_hit_needs_the_same_bytes_even_when_the_hash_matches() {
        let mut c = cache(4);
        c.insert(
            key(b"t1"),
            validity(0, 1, Some(NOW + 300)),
            NOW,
            Rc::new("v".into()),
        );
        // A different token forged to carry t1's hash.
        let forged = TokenKey {
            hash: key(b"t1").hash,
            token: b"t2",
        };
        assert!(hit(c.lookup(forged, NOW, |_| Some(1))).is_none());
        assert!(hit(c.lookup(key(b"t1"), NOW, |_| Some(1))).is_some());
        // Inserting the other token under the same hash replaces the entry, never aliases it.
        c.insert(
            forged,
            validity(0, 1, Some(NOW + 300)),
            NOW,
            Rc::new("w".into()),
        );
        assert_eq!(c.len(), 1);
        assert!(hit(c.lookup(key(b"t1"), NOW, |_| Some(1))).is_none());
        assert_eq!(
            hit(c.lookup(forged, NOW, |_| Some(1))),
            Some((0, "w".into()))
        );
    }

    #[test]
    fn hit_after_insert_and_counters() {
        let mut c = cache(4);
        let d = key(b"t1");
        assert!(hit(c.lookup(d, NOW, |_| Some(1))).is_none());
        c.insert(d, validity(2, 1, Some(NOW + 300)), NOW, Rc::new("v".into()));
        assert_eq!(hit(c.lookup(d, NOW, |_| Some(1))), Some((2, "v".into())));
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.inserts), (1, 1, 1));
    }

    #[test]
    fn generation_is_passed_the_entrys_provider_and_must_match() {
        let mut c = cache(4);
        let d = key(b"t1");
        c.insert(d, validity(3, 7, Some(NOW + 300)), NOW, Rc::new("v".into()));
        assert!(hit(c.lookup(d, NOW, |p| {
            assert_eq!(p, 3);
            Some(8)
        }))
        .is_none());
        // The stale entry is gone even if the old generation came back.
        assert!(hit(c.lookup(d, NOW, |_| Some(7))).is_none());
        c.insert(d, validity(3, 7, Some(NOW + 300)), NOW, Rc::new("v".into()));
        assert!(hit(c.lookup(d, NOW, |_| None)).is_none());
    }

    #[test]
    fn expiry_follows_exp_plus_skew_like_the_uncached_path() {
        let mut c = cache(4);
        let d = key(b"t1");
        c.insert(d, validity(0, 1, Some(NOW + 10)), NOW, Rc::new("v".into()));
        // Accepted through exp + skew inclusive (uncached: now > exp + skew is expired).
        assert!(hit(c.lookup(d, NOW + 70, |_| Some(1))).is_some());
        assert!(hit(c.lookup(d, NOW + 71, |_| Some(1))).is_none());
        assert!(c.is_empty());
        // Already expired at insertion: not stored.
        c.insert(d, validity(0, 1, Some(NOW - 61)), NOW, Rc::new("v".into()));
        assert!(c.is_empty());
    }

    #[test]
    fn tokens_without_exp_live_at_most_max_ttl() {
        let mut c = cache(4);
        let d = key(b"t1");
        c.insert(d, validity(0, 1, None), NOW, Rc::new("v".into()));
        assert!(hit(c.lookup(d, NOW + 600, |_| Some(1))).is_some());
        assert!(hit(c.lookup(d, NOW + 601, |_| Some(1))).is_none());
    }

    #[test]
    fn nbf_is_rechecked_with_skew() {
        let mut c = cache(4);
        let d = key(b"t1");
        let mut v = validity(0, 1, Some(NOW + 3600));
        v.nbf = Some(NOW + 100);
        c.insert(d, v, NOW + 40, Rc::new("v".into()));
        assert!(hit(c.lookup(d, NOW + 39, |_| Some(1))).is_none());
        assert!(hit(c.lookup(d, NOW + 40, |_| Some(1))).is_some());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn bounded_with_clock_second_chance() {
        let mut c = cache(3);
        let tokens: Vec<[u8; 1]> = (0..10_u8).map(|i| [i]).collect();
        let ds: Vec<TokenKey> = tokens.iter().map(|t| key(t)).collect();
        for d in &ds[..3] {
            c.insert(
                *d,
                validity(0, 1, Some(NOW + 300)),
                NOW,
                Rc::new("v".into()),
            );
        }
        // Touch 0 and 2: 1 is the victim.
        assert!(hit(c.lookup(ds[0], NOW, |_| Some(1))).is_some());
        assert!(hit(c.lookup(ds[2], NOW, |_| Some(1))).is_some());
        c.insert(
            ds[3],
            validity(0, 1, Some(NOW + 300)),
            NOW,
            Rc::new("v".into()),
        );
        assert_eq!(c.len(), 3);
        assert!(hit(c.lookup(ds[1], NOW, |_| Some(1))).is_none());
        for d in [ds[0], ds[2], ds[3]] {
            assert!(hit(c.lookup(d, NOW, |_| Some(1))).is_some());
        }
        for d in &ds {
            c.insert(
                *d,
                validity(0, 1, Some(NOW + 300)),
                NOW,
                Rc::new("v".into()),
            );
            assert!(c.len() <= 3);
        }
        assert_eq!(c.stats().evictions, 8);
        // Index and slots agree.
        let found = ds
            .iter()
            .filter(|d| hit(c.lookup(**d, NOW, |_| Some(1))).is_some())
            .count();
        assert_eq!(found, 3);
    }

    #[test]
    fn replace_and_clear() {
        let mut c = cache(2);
        let (a, b) = (key(b"a"), key(b"b"));
        c.insert(a, validity(0, 1, Some(NOW + 300)), NOW, Rc::new("1".into()));
        c.insert(a, validity(0, 1, Some(NOW + 300)), NOW, Rc::new("2".into()));
        assert_eq!(c.len(), 1);
        assert_eq!(hit(c.lookup(a, NOW, |_| Some(1))), Some((0, "2".into())));
        c.insert(b, validity(1, 1, Some(NOW + 300)), NOW, Rc::new("3".into()));
        c.clear_provider(0);
        assert_eq!(c.len(), 1);
        assert!(hit(c.lookup(b, NOW, |_| Some(1))).is_some());
        c.clear();
        assert!(c.is_empty());
        assert!(hit(c.lookup(b, NOW, |_| Some(1))).is_none());
    }

    #[test]
    fn capacity_zero_disables() {
        let mut c = cache(0);
        let d = key(b"a");
        c.insert(d, validity(0, 1, Some(NOW + 300)), NOW, Rc::new("1".into()));
        assert!(c.is_empty());
        assert!(hit(c.lookup(d, NOW, |_| Some(1))).is_none());
    }

    #[test]
    fn random_operations_keep_index_consistent() {
        let mut c = cache(16);
        let mut x: u64 = 0x1234_5678;
        for step in 0..20_000_u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let token = (x % 40).to_le_bytes();
            let d = key(&token);
            let now = NOW + step / 100;
            match x % 5 {
                0 | 1 => {
                    c.insert(
                        d,
                        validity((x % 3) as usize, 1, Some(now + (x % 50))),
                        now,
                        Rc::new("v".into()),
                    );
                }
                2 => c.clear_provider((x % 3) as usize),
                _ => {
                    let _ = c.lookup(d, now, |_| Some(1));
                }
            }
            assert!(c.len() <= 16);
            assert_eq!(c.index.len(), c.slots.len());
            for (i, s) in c.slots.iter().enumerate() {
                assert_eq!(c.index[&s.hash], i);
            }
        }
    }
}
