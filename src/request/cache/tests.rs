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
    let token = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlLWJ5dGVzLW9mLWEtc2lnbmF0dXJl";
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
