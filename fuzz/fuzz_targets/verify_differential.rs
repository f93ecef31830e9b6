//! The filter's own signature verification (`src/verify/own/`) against the stock RustCrypto crates:
//! both must give the same answer for every input.
//!
//! The first byte picks the check:
//! - `0 mod 3`: RS256 with the fixed `rsa-1` key: 256 signature bytes, then the message;
//! - `1 mod 3`: ES384 with the fixed `ec-1` key: 96 signature bytes (`r || s`), then the message;
//! - `2 mod 3`: the raw RSA operation `s^e mod n` for a modulus the fuzzer picks (odd, top bit set,
//!   62 to 512 bytes) and e = 3 or 65537, against `BigUint::modpow`.
//!
//! Seeds hold valid signatures, so mutations probe the edges of "valid".
#![no_main]

use jwt_authn_wasm::keys::jwks::{KeyMatch, KeySet};
use jwt_authn_wasm::verify::own::rsa::RsaVerifyingKey;
use jwt_authn_wasm::verify::Algorithm;
use libfuzzer_sys::fuzz_target;
use p384::ecdsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::BigUint;

const KEYS: &str = include_str!("../keys.json");

struct Fixture {
    keys: KeySet,
    stock_rsa: rsa::pkcs1v15::VerifyingKey<sha2::Sha256>,
    stock_ec: p384::ecdsa::VerifyingKey,
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

fn build() -> Fixture {
    let Ok(parsed) = KeySet::parse(
        KEYS.as_bytes(),
        &jwt_authn_wasm::verify::Verifier::default(),
    ) else {
        panic!("the fuzz key set does not parse");
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(KEYS) else {
        panic!("keys.json is not JSON");
    };
    let key = |kty: &str| {
        doc["keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["kty"] == kty).cloned())
            .unwrap_or_default()
    };
    let rsa_jwk = key("RSA");
    let n = BigUint::from_bytes_be(&b64(&rsa_jwk["n"]));
    let e = BigUint::from_bytes_be(&b64(&rsa_jwk["e"]));
    let Ok(public) = rsa::RsaPublicKey::new(n, e) else {
        panic!("stock rsa refuses the fuzz key");
    };
    let ec_jwk = key("EC");
    let mut sec1 = vec![4_u8];
    sec1.extend(b64(&ec_jwk["x"]));
    sec1.extend(b64(&ec_jwk["y"]));
    let Ok(stock_ec) = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1) else {
        panic!("stock p384 refuses the fuzz key");
    };
    Fixture {
        keys: parsed.keys,
        stock_rsa: rsa::pkcs1v15::VerifyingKey::new(public),
        stock_ec,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fixture = fixture();
    match mode % 3 {
        0 => {
            let Some((sig, message)) = rest.split_at_checked(256) else {
                return;
            };
            let ours = fixture
                .keys
                .verify_with(None, Algorithm::Rs256, message, sig)
                == KeyMatch::Verified;
            let stock = rsa::pkcs1v15::Signature::try_from(sig)
                .is_ok_and(|sig| fixture.stock_rsa.verify(message, &sig).is_ok());
            assert_eq!(ours, stock, "RS256 disagrees with the rsa crate");
        }
        1 => {
            let Some((sig, message)) = rest.split_at_checked(96) else {
                return;
            };
            let ours = fixture
                .keys
                .verify_with(None, Algorithm::Es384, message, sig)
                == KeyMatch::Verified;
            let stock = p384::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|sig| fixture.stock_ec.verify(message, &sig).is_ok());
            assert_eq!(ours, stock, "ES384 disagrees with the p384 crate");
        }
        _ => {
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
        }
    }
});
