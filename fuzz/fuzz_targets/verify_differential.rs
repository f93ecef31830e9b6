//! The filter's signature verification, through its key set (`KeySet::verify_with`, as a
//! request verifies), against the stock RustCrypto crates: both must give the same answer for
//! every input, for every algorithm.
//!
//! The key set is `fuzz/all_keys.json` (see tests/fuzz_fixtures.rs): RSA 2048 (no `alg`, so
//! every RS and PS algorithm), RSA 2048 with e = 3 (`RS256`), RSA 3072 (`PS384`), RSA 4096
//! (`RS512`), P-256 (`ES256`), P-384 (no `alg`), P-521 (`ES512`), Ed25519 and a 64-byte HMAC
//! secret. The reference tries every key the token's `alg` fits (the key type, and the JWK's
//! `alg` when it has one) and accepts when one verifies: `rsa` 0.9 PKCS#1 v1.5 and PSS (salt
//! as long as the digest), `p256`, `p384`, `p521` over raw `r || s`, `ed25519-dalek`'s strict
//! verification (the filter's own EdDSA crate: this checks the lengths and key binding around
//! it), `hmac` with the full tag.
//!
//! The first byte picks the check, modulo 14:
//! - `0..=12`: `Algorithm::ALL[i]` (RS256 ... HS512): two bytes of signature length
//!   (big-endian), the signature, then the signing input;
//! - `13`: the raw RSA operation `s^e mod n` for a modulus the fuzzer picks (odd, top bit set,
//!   62 to 512 bytes) and e = 3 or 65537, against `BigUint::modpow`.
//!
//! Seeds hold a valid signature of every algorithm, so mutations probe the edges of "valid".
#![no_main]

use jwt_authn_wasm::keys::jwks::{KeyMatch, KeySet};
use jwt_authn_wasm::verify::own::rsa::RsaVerifyingKey;
use jwt_authn_wasm::verify::Algorithm;
use libfuzzer_sys::fuzz_target;
use p384::ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::BigUint;

const KEYS: &str = include_str!("../all_keys.json");

/// One key as the stock crates take it.
enum Stock {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Secret(Vec<u8>),
}

struct StockKey {
    /// The JWK's `alg`, which binds the key to one algorithm.
    alg: Option<Algorithm>,
    key: Stock,
}

struct Fixture {
    keys: KeySet,
    stock: Vec<StockKey>,
}

fn b64(value: &serde_json::Value) -> Vec<u8> {
    use base64::Engine as _;
    let text = value.as_str().unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_default()
}

fn fixture() -> &'static Fixture {
    thread_local! {
        // libFuzzer runs one thread, and the fixture holds `Rc`s (not `Sync`).
        static FIXTURE: &'static Fixture = Box::leak(Box::new(build()));
    }
    FIXTURE.with(|fixture| *fixture)
}

fn stock_key(jwk: &serde_json::Value) -> Option<Stock> {
    let sec1 = || {
        let mut sec1 = vec![4_u8];
        sec1.extend(b64(&jwk["x"]));
        sec1.extend(b64(&jwk["y"]));
        sec1
    };
    Some(match (jwk["kty"].as_str()?, jwk["crv"].as_str()) {
        ("RSA", _) => Stock::Rsa(
            rsa::RsaPublicKey::new(
                BigUint::from_bytes_be(&b64(&jwk["n"])),
                BigUint::from_bytes_be(&b64(&jwk["e"])),
            )
            .ok()?,
        ),
        ("EC", Some("P-256")) => {
            Stock::P256(p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1()).ok()?)
        }
        ("EC", Some("P-384")) => {
            Stock::P384(p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1()).ok()?)
        }
        ("EC", Some("P-521")) => {
            Stock::P521(p521::ecdsa::VerifyingKey::from_sec1_bytes(&sec1()).ok()?)
        }
        ("OKP", Some("Ed25519")) => Stock::Ed25519(
            ed25519_dalek::VerifyingKey::from_bytes(&b64(&jwk["x"]).try_into().ok()?).ok()?,
        ),
        ("oct", _) => Stock::Secret(b64(&jwk["k"])),
        _ => return None,
    })
}

fn build() -> Fixture {
    let Ok(parsed) = KeySet::parse_local(KEYS, &jwt_authn_wasm::verify::Verifier::default()) else {
        panic!("the fuzz key set does not parse");
    };
    if !parsed.skipped.is_empty() {
        panic!("the fuzz key set has skipped keys: {:?}", parsed.skipped);
    }
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(KEYS) else {
        panic!("all_keys.json is not JSON");
    };
    let mut stock = Vec::new();
    for jwk in doc["keys"].as_array().into_iter().flatten() {
        let Some(key) = stock_key(jwk) else {
            panic!("the stock crates refuse a fuzz key: {jwk}");
        };
        let alg = jwk["alg"].as_str().and_then(Algorithm::from_name);
        stock.push(StockKey { alg, key });
    }
    if stock.len() != parsed.keys.len() {
        panic!("the fuzz key set lost keys");
    }
    Fixture {
        keys: parsed.keys,
        stock,
    }
}

/// The stock crates' answer for one key: `false` when the key does not fit `alg`.
fn stock_verifies(key: &StockKey, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
    use sha2::{Sha256, Sha384, Sha512};
    use Algorithm::*;
    if key.alg.is_some_and(|own| own != alg) {
        return false;
    }
    fn pkcs1<D>(key: &rsa::RsaPublicKey, message: &[u8], sig: &[u8]) -> bool
    where
        D: sha2::Digest + rsa::pkcs8::AssociatedOid,
    {
        rsa::pkcs1v15::Signature::try_from(sig).is_ok_and(|sig| {
            rsa::pkcs1v15::VerifyingKey::<D>::new(key.clone())
                .verify(message, &sig)
                .is_ok()
        })
    }
    fn pss<D>(key: &rsa::RsaPublicKey, message: &[u8], sig: &[u8]) -> bool
    where
        D: sha2::Digest + sha2::digest::FixedOutputReset,
    {
        rsa::pss::Signature::try_from(sig).is_ok_and(|sig| {
            rsa::pss::VerifyingKey::<D>::new(key.clone())
                .verify(message, &sig)
                .is_ok()
        })
    }
    fn mac<M: hmac::Mac + hmac::digest::KeyInit>(
        secret: &[u8],
        message: &[u8],
        tag: &[u8],
    ) -> bool {
        <M as hmac::digest::KeyInit>::new_from_slice(secret).is_ok_and(|mut mac| {
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        })
    }
    match (&key.key, alg) {
        (Stock::Rsa(k), Rs256) => pkcs1::<Sha256>(k, message, sig),
        (Stock::Rsa(k), Rs384) => pkcs1::<Sha384>(k, message, sig),
        (Stock::Rsa(k), Rs512) => pkcs1::<Sha512>(k, message, sig),
        (Stock::Rsa(k), Ps256) => pss::<Sha256>(k, message, sig),
        (Stock::Rsa(k), Ps384) => pss::<Sha384>(k, message, sig),
        (Stock::Rsa(k), Ps512) => pss::<Sha512>(k, message, sig),
        (Stock::P256(k), Es256) => {
            p256::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| k.verify(message, &sig).is_ok())
        }
        (Stock::P384(k), Es384) => {
            p384::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| k.verify(message, &sig).is_ok())
        }
        (Stock::P521(k), Es512) => {
            p521::ecdsa::Signature::from_slice(sig).is_ok_and(|sig| k.verify(message, &sig).is_ok())
        }
        (Stock::Ed25519(k), EdDsa) => ed25519_dalek::Signature::from_slice(sig)
            .is_ok_and(|sig| k.verify_strict(message, &sig).is_ok()),
        (Stock::Secret(s), Hs256) => mac::<hmac::Hmac<Sha256>>(s, message, sig),
        (Stock::Secret(s), Hs384) => mac::<hmac::Hmac<Sha384>>(s, message, sig),
        (Stock::Secret(s), Hs512) => mac::<hmac::Hmac<Sha512>>(s, message, sig),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    if let Some(&alg) = Algorithm::ALL.get(usize::from(mode % 14)) {
        let Some((len, rest)) = rest.split_first_chunk::<2>() else {
            return;
        };
        let Some((sig, message)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
        else {
            return;
        };
        let ours = fixture.keys.verify_with(None, alg, message, sig);
        assert_ne!(ours, KeyMatch::NoCandidateKey, "{alg} found no key");
        let ours = ours == KeyMatch::Verified;
        let stock = fixture
            .stock
            .iter()
            .any(|key| stock_verifies(key, alg, message, sig));
        assert_eq!(ours, stock, "{alg} disagrees with the stock crates");
        return;
    }
    let Some((&flags, rest)) = rest.split_first() else {
        return;
    };
    let k = (rest.len() / 2).min(512);
    if k < 62 {
        return;
    }
    let (n_bytes, rest) = rest.split_at(k);
    let s_bytes = &rest[..k];
    let mut n_bytes = n_bytes.to_vec();
    n_bytes[0] |= 0x80;
    n_bytes[k - 1] |= 1;
    let e: u32 = if flags & 1 == 0 { 65_537 } else { 3 };
    let Ok(key) = RsaVerifyingKey::new(&n_bytes, e) else {
        panic!("an odd {k}-byte modulus was refused");
    };
    assert_eq!(key.size(), k);
    let n = BigUint::from_bytes_be(&n_bytes);
    let s = BigUint::from_bytes_be(s_bytes);
    let expected = (s < n).then(|| {
        let m = s.modpow(&BigUint::from(e), &n).to_bytes_be();
        let mut padded = vec![0_u8; k - m.len()];
        padded.extend(m);
        padded
    });
    assert_eq!(key.public_op(s_bytes), expected, "s^e mod n disagrees");
    let _ = rsa::RsaPublicKey::new(n, BigUint::from(e)).map(|key| key.size());
});
