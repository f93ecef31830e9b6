//! Every algorithm end to end in a real Envoy, under each `crypto` mode: a valid token of each
//! is allowed, a tampered one gets `401 invalid_token`, and the confusion cases are refused.
//!
//! Keys are generated and tokens minted by the testbed (`jsonwebtoken` with its RustCrypto
//! backend, and `p521` for ES512, which jsonwebtoken lacks), not with the filter's code, and
//! reach the filter as `local_jwks` (one key per algorithm, `kid` = the algorithm's name), so
//! the host's BoringSSL path (`verify_signature`) and the in-sandbox paths are both exercised
//! inside Envoy.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Value};
use sha2::Sha256;
use support::Testbed;
use testbed::mint::{Alg, Key, KeyMaterial, MintRequest, Minter};

const ISSUER: &str = "https://algorithms.example.test/";
const AUDIENCE: &str = "https://api.example.test";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The testbed's minters: every algorithm with 2048-bit RSA keys, and the RSA algorithms with
/// 3072- and 4096-bit keys.
struct Keys {
    minters: Vec<(usize, Minter)>,
}

impl Keys {
    fn generate() -> Keys {
        let minters = [
            (2048, &Alg::ALL[..]),
            (3072, &Alg::RSA[..]),
            (4096, &Alg::RSA[..]),
        ]
        .map(|(bits, algs)| {
            let keys = algs
                .iter()
                .map(|&alg| Arc::new(Key::generate_with_bits(alg, kid(alg, bits), bits).unwrap()));
            (bits, Minter::new(ISSUER, AUDIENCE, keys).unwrap())
        });
        Keys {
            minters: minters.into(),
        }
    }

    fn minter(&self, bits: usize) -> &Minter {
        &self.minters.iter().find(|(b, _)| *b == bits).unwrap().1
    }

    fn rsa(&self, bits: usize) -> &rsa::RsaPrivateKey {
        let key = self.minter(bits).signing_key(Alg::Rs256).unwrap();
        let KeyMaterial::Rsa(private) = key.material() else {
            unreachable!("an RS256 key is RSA")
        };
        private
    }

    /// The JWKS: every minter's keys, HMAC secrets (`oct`, one per HS algorithm) included.
    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .minters
            .iter()
            .flat_map(|(_, minter)| minter.keys().iter().map(|key| key.public_jwk()))
            .collect();
        json!({ "keys": keys })
    }

    /// A token of `alg` (an RSA key of `bits`), minted by the testbed.
    fn token(&self, alg: &str, bits: usize) -> String {
        let alg = Alg::from_name(alg).unwrap();
        self.minter(bits).mint(&MintRequest::new(alg)).unwrap()
    }
}

fn kid(alg: Alg, bits: usize) -> String {
    if Alg::RSA.contains(&alg) {
        format!("{alg}-{bits}")
    } else {
        alg.to_string()
    }
}

/// The token with one bit of its signature flipped (in the middle, so every length keeps).
fn tampered(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    format!("{input}.{}", b64(&bytes))
}

/// Starts Envoy with `crypto` and `algorithms`, the JWKS as `local_jwks` (without the HMAC
/// secret when no HS algorithm is listed: such a key set refuses to start).
fn start(keys: &Keys, crypto: &str, algorithms: &[&str]) -> Testbed {
    let mut jwks = keys.jwks();
    if !algorithms.iter().any(|alg| alg.starts_with("HS")) {
        jwks["keys"]
            .as_array_mut()
            .unwrap()
            .retain(|key| key["kty"] != "oct");
    }
    Testbed::start(|_| {
        json!({
            "realm": "algorithms",
            "crypto": crypto,
            "providers": [{
                "name": "all",
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "algorithms": algorithms,
                "local_jwks": {"inline_string": jwks.to_string()}
            }]
        })
    })
}

const ALL: [&str; 13] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "HS256", "HS384", "HS512",
];

fn assert_allowed(tb: &Testbed, token: &str, what: &str) {
    let response = tb.get_with_token("/anything", token);
    assert_eq!(response.status, 200, "{what}: {}", response.text());
}

fn assert_invalid_token(tb: &Testbed, token: &str, what: &str, description: &str) {
    let response = tb.get_with_token("/anything", token);
    assert_eq!(response.status, 401, "{what}: {}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{what}"
    );
    assert_eq!(response.json()["code"], "invalid_token", "{what}");
    assert_eq!(response.json()["description"], description, "{what}");
    assert_eq!(
        response.header("www-authenticate"),
        Some(format!(r#"Bearer realm="algorithms", error="invalid_token", error_description="{description}""#).as_str()),
        "{what}"
    );
}

#[test]
fn every_algorithm_in_envoy_under_auto_and_wasm() {
    let keys = Keys::generate();
    for crypto in ["auto", "wasm"] {
        let tb = start(&keys, crypto, &ALL);
        let expected_log = if crypto == "auto" {
            "signature backends: RS256=host RS384=host RS512=host PS256=own PS384=own PS512=own \
             ES256=host ES384=own ES512=host EdDSA=rustcrypto"
        } else {
            "signature backends: RS256=own RS384=own RS512=own PS256=own PS384=own PS512=own \
             ES256=rustcrypto ES384=own ES512=rustcrypto EdDSA=rustcrypto"
        };
        assert!(
            tb.envoy.log().contains(expected_log),
            "{crypto}: {}",
            tb.envoy.log_tail(40)
        );
        for alg in ALL {
            let token = keys.token(alg, 2048);
            assert_allowed(&tb, &token, &format!("{crypto} {alg}"));
            assert_invalid_token(
                &tb,
                &tampered(&token),
                &format!("{crypto} tampered {alg}"),
                "Token signature is invalid",
            );
        }
        for bits in [3072, 4096] {
            for alg in ["RS256", "RS512", "PS256", "PS512"] {
                let token = keys.token(alg, bits);
                assert_allowed(&tb, &token, &format!("{crypto} {alg} {bits}"));
                assert_invalid_token(
                    &tb,
                    &tampered(&token),
                    &format!("{crypto} tampered {alg} {bits}"),
                    "Token signature is invalid",
                );
            }
        }
    }
}

#[test]
fn crypto_host_verifies_with_boringssl_only() {
    let keys = Keys::generate();
    let host = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"];
    let tb = start(&keys, "host", &host);
    assert!(
        tb.envoy.log().contains(
            "signature backends: RS256=host RS384=host RS512=host PS256=refused PS384=refused \
             PS512=refused ES256=host ES384=host ES512=host EdDSA=refused"
        ),
        "{}",
        tb.envoy.log_tail(40)
    );
    for alg in host {
        let token = keys.token(alg, 2048);
        assert_allowed(&tb, &token, alg);
        assert_invalid_token(&tb, &tampered(&token), alg, "Token signature is invalid");
    }
    for alg in ["PS256", "EdDSA", "HS256"] {
        assert_invalid_token(
            &tb,
            &keys.token(alg, 2048),
            alg,
            "Token algorithm is not allowed",
        );
    }
}

#[test]
fn confusion_and_malformed_signatures_are_refused_in_envoy() {
    let keys = Keys::generate();
    let tb = start(&keys, "auto", &ALL);
    let resign = |token: &str, header: Value| {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", b64(header.to_string().as_bytes()))
    };
    // An RS256 signature presented as PS256, with the same key's kid.
    let rs = keys.token("RS256", 2048);
    let as_pss = resign(&rs, json!({"alg": "PS256", "kid": "RS256-2048"}));
    assert_invalid_token(
        &tb,
        &as_pss,
        "RS256 as PS256",
        "No key of the issuer matches the token",
    );
    // HS256 keyed with an RSA key's public modulus, naming the RSA key.
    let modulus = keys.rsa(2048).n().to_bytes_be();
    let header = b64(json!({"alg": "HS256", "kid": "RS256-2048"})
        .to_string()
        .as_bytes());
    let payload = rs.split('.').nth(1).unwrap();
    let input = format!("{header}.{payload}");
    let mac = {
        use hmac::Mac as _;
        hmac::Hmac::<Sha256>::new_from_slice(&modulus)
            .unwrap()
            .chain_update(input.as_bytes())
            .finalize()
            .into_bytes()
    };
    let forged = format!("{input}.{}", b64(&mac));
    assert_invalid_token(
        &tb,
        &forged,
        "HS256 with a public key",
        "No key of the issuer matches the token",
    );
    // alg none.
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none"}"#));
    assert_invalid_token(&tb, &none, "none", "Token is not signed");
    // ES256 as DER instead of r || s, and the all-zero signature (CVE-2022-21449).
    let es = keys.token("ES256", 2048);
    let (es_input, es_sig) = es.rsplit_once('.').unwrap();
    let raw = URL_SAFE_NO_PAD.decode(es_sig).unwrap();
    let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
    for (what, signature) in [
        ("ES256 DER", der.as_bytes().to_vec()),
        ("ES256 zeros", vec![0; 64]),
        ("ES256 truncated", raw[..63].to_vec()),
    ] {
        let token = format!("{es_input}.{}", b64(&signature));
        assert_invalid_token(&tb, &token, what, "Token signature is invalid");
    }
    // An ES256 token naming the P-384 key.
    let es_on_384 = resign(&es, json!({"alg": "ES256", "kid": "ES384"}));
    assert_invalid_token(
        &tb,
        &es_on_384,
        "ES256 on P-384",
        "No key of the issuer matches the token",
    );
}

/// `r`, `s` and RSA signatures at and past their bounds, through Envoy's BoringSSL
/// (`crypto: host`) inside a real Envoy: each gets `401 invalid_token`, and a valid token still
/// passes after all of them (no VM failed). Wycheproof's own vectors cannot go this way (their
/// messages are not JWS signing inputs); `src/verify/tests.rs` runs the host path's encodings
/// against a stand-in decoder, `tests/wycheproof.rs` the in-sandbox backends.
#[test]
fn host_backend_refuses_signatures_at_and_past_their_bounds_in_envoy() {
    let keys = Keys::generate();
    let tb = start(&keys, "host", &["RS256", "ES256", "ES384", "ES512"]);
    let hex = |text: &str| -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    };
    // The group orders (FIPS 186-4, D.1.2), big-endian at the JOSE widths.
    let orders = [
        ("ES256", hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")),
        (
            "ES384",
            hex("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973"),
        ),
        (
            "ES512",
            hex("01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409"),
        ),
    ];
    for (alg, n) in &orders {
        let token = keys.token(alg, 2048);
        let (input, signature) = token.rsplit_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
        let width = raw.len() / 2;
        assert_eq!(width, n.len(), "{alg}: the order's width");
        let (r, s) = raw.split_at(width);
        let join = |a: &[u8], b: &[u8]| [a, b].concat();
        let zero = vec![0u8; width];
        let ones = vec![0xffu8; width];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("r = 0", join(&zero, s)),
            ("s = 0", join(r, &zero)),
            ("r = n", join(n, s)),
            ("s = n", join(r, n)),
            ("r all ones", join(&ones, s)),
            ("s all ones", join(r, &ones)),
            ("one byte more", [raw.as_slice(), &[0]].concat()),
            ("one byte less", raw[..raw.len() - 1].to_vec()),
            ("r and s swapped", join(s, r)),
        ];
        for (what, bytes) in cases {
            let forged = format!("{input}.{}", b64(&bytes));
            assert_invalid_token(
                &tb,
                &forged,
                &format!("{alg} {what}"),
                "Token signature is invalid",
            );
        }
        assert_allowed(&tb, &token, alg);
    }
    let token = keys.token("RS256", 2048);
    let (input, signature) = token.rsplit_once('.').unwrap();
    let raw = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let modulus = keys.rsa(2048).n().to_bytes_be();
    let mut above = modulus.clone();
    *above.last_mut().unwrap() = above.last().unwrap().wrapping_add(1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("= the modulus", modulus.clone()),
        ("= the modulus + 1", above),
        ("all ones", vec![0xff; modulus.len()]),
        ("zero", vec![0; modulus.len()]),
        ("a leading zero byte", [&[0u8][..], &raw].concat()),
        ("one byte short", raw[1..].to_vec()),
    ];
    for (what, bytes) in cases {
        let forged = format!("{input}.{}", b64(&bytes));
        assert_invalid_token(
            &tb,
            &forged,
            &format!("RS256 {what}"),
            "Token signature is invalid",
        );
    }
    assert_allowed(&tb, &token, "RS256 after the forgeries");
}
