//! Every algorithm end to end in a real Envoy, under each `crypto` mode: a valid token of each
//! is allowed, a tampered one gets `401 invalid_token`, and the confusion cases are refused.
//!
//! Keys are generated and tokens signed here with RustCrypto (`rsa`, `p256`, `p384`, `p521`,
//! `ed25519-dalek`, `hmac`), not with the filter's code, and reach the filter as `local_jwks`
//! (one key per algorithm, `kid` = the algorithm's name), so the host's BoringSSL path
//! (`verify_signature`) and the in-sandbox paths are both exercised inside Envoy.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use rsa::traits::PublicKeyParts as _;
use serde_json::{json, Value};
use sha2::{Sha256, Sha384, Sha512};
use support::Testbed;

const ISSUER: &str = "https://algorithms.example.test/";
const AUDIENCE: &str = "https://api.example.test";
const SECRET: &[u8] = b"a shared secret of sixty-four bytes, for every HMAC hash size!!!";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// One private key per algorithm name (`RS256-3072` and `RS256-4096` for the larger RSA keys).
struct Keys {
    rsa: Vec<(usize, rsa::RsaPrivateKey)>,
    p256: p256::ecdsa::SigningKey,
    p384: p384::ecdsa::SigningKey,
    p521: p521::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
}

impl Keys {
    fn generate() -> Keys {
        let mut rng = rsa::rand_core::OsRng;
        let mut seed = [0_u8; 32];
        rsa::rand_core::RngCore::fill_bytes(&mut rng, &mut seed);
        Keys {
            rsa: [2048, 3072, 4096]
                .map(|bits| (bits, rsa::RsaPrivateKey::new(&mut rng, bits).unwrap()))
                .into(),
            p256: p256::ecdsa::SigningKey::random(&mut rng),
            p384: p384::ecdsa::SigningKey::random(&mut rng),
            p521: p521::ecdsa::SigningKey::random(&mut rng),
            ed25519: ed25519_dalek::SigningKey::from_bytes(&seed),
        }
    }

    fn rsa(&self, bits: usize) -> &rsa::RsaPrivateKey {
        &self.rsa.iter().find(|(b, _)| *b == bits).unwrap().1
    }

    /// The JWKS: an RSA key per RS/PS algorithm and size, an EC key per curve, Ed25519, and
    /// one HMAC secret for the three HS algorithms.
    fn jwks(&self) -> Value {
        let mut keys = Vec::new();
        for (bits, key) in &self.rsa {
            for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
                keys.push(
                    json!({"kty": "RSA", "kid": kid(alg, *bits), "alg": alg, "use": "sig",
                    "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())}),
                );
            }
        }
        let ec = |crv: &str, alg: &str, point: &[u8], width: usize| {
            json!({"kty": "EC", "crv": crv, "kid": alg, "alg": alg,
                "x": b64(&point[1..1 + width]), "y": b64(&point[1 + width..])})
        };
        let p256 = self.p256.verifying_key().to_encoded_point(false);
        keys.push(ec("P-256", "ES256", p256.as_bytes(), 32));
        let p384 = self.p384.verifying_key().to_encoded_point(false);
        keys.push(ec("P-384", "ES384", p384.as_bytes(), 48));
        let p521 = p521::ecdsa::VerifyingKey::from(&self.p521).to_encoded_point(false);
        keys.push(ec("P-521", "ES512", p521.as_bytes(), 66));
        keys.push(
            json!({"kty": "OKP", "crv": "Ed25519", "kid": "EdDSA", "alg": "EdDSA",
            "x": b64(self.ed25519.verifying_key().as_bytes())}),
        );
        keys.push(json!({"kty": "oct", "kid": "HS", "k": b64(SECRET)}));
        json!({ "keys": keys })
    }

    /// A token of `alg` (an RSA key of `bits`), signed by RustCrypto.
    fn token(&self, alg: &str, bits: usize) -> String {
        let kid = if alg.starts_with("HS") {
            "HS".to_string()
        } else {
            kid(alg, bits)
        };
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 300;
        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "exp": exp});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let message = input.as_bytes();
        let mut rng = rsa::rand_core::OsRng;
        let rsa = || self.rsa(bits).clone();
        let signature: Vec<u8> = match alg {
            "RS256" => rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa())
                .sign(message)
                .to_vec(),
            "RS384" => rsa::pkcs1v15::SigningKey::<Sha384>::new(rsa())
                .sign(message)
                .to_vec(),
            "RS512" => rsa::pkcs1v15::SigningKey::<Sha512>::new(rsa())
                .sign(message)
                .to_vec(),
            "PS256" => rsa::pss::SigningKey::<Sha256>::new(rsa())
                .sign_with_rng(&mut rng, message)
                .to_vec(),
            "PS384" => rsa::pss::SigningKey::<Sha384>::new(rsa())
                .sign_with_rng(&mut rng, message)
                .to_vec(),
            "PS512" => rsa::pss::SigningKey::<Sha512>::new(rsa())
                .sign_with_rng(&mut rng, message)
                .to_vec(),
            "ES256" => {
                let sig: p256::ecdsa::Signature = self.p256.sign(message);
                sig.to_bytes().to_vec()
            }
            "ES384" => {
                let sig: p384::ecdsa::Signature = self.p384.sign(message);
                sig.to_bytes().to_vec()
            }
            "ES512" => {
                let sig: p521::ecdsa::Signature = self.p521.sign(message);
                sig.to_bytes().to_vec()
            }
            "EdDSA" => self.ed25519.sign(message).to_bytes().to_vec(),
            hs => {
                use hmac::Mac as _;
                match hs {
                    "HS256" => hmac::Hmac::<Sha256>::new_from_slice(SECRET)
                        .unwrap()
                        .chain_update(message)
                        .finalize()
                        .into_bytes()
                        .to_vec(),
                    "HS384" => hmac::Hmac::<Sha384>::new_from_slice(SECRET)
                        .unwrap()
                        .chain_update(message)
                        .finalize()
                        .into_bytes()
                        .to_vec(),
                    _ => hmac::Hmac::<Sha512>::new_from_slice(SECRET)
                        .unwrap()
                        .chain_update(message)
                        .finalize()
                        .into_bytes()
                        .to_vec(),
                }
            }
        };
        format!("{input}.{}", b64(&signature))
    }
}

fn kid(alg: &str, bits: usize) -> String {
    if alg.starts_with('R') || alg.starts_with('P') {
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
