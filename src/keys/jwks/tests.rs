use super::*;
use p384::ecdsa::signature::Signer as _;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::rand_core::OsRng;
use rsa::signature::SignatureEncoding;
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::json;
use sha2::Sha256;
use std::sync::OnceLock;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Two real 2048-bit keys, made once: generation is the slow part.
fn rsa_keys() -> &'static [RsaPrivateKey; 2] {
    static KEYS: OnceLock<[RsaPrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            RsaPrivateKey::new(&mut OsRng, 2048).unwrap(),
            RsaPrivateKey::new(&mut OsRng, 2048).unwrap(),
        ]
    })
}

fn rsa_jwk(key: &RsaPrivateKey, extra: Value) -> Value {
    let mut jwk = json!({
        "kty": "RSA",
        "n": b64(&key.n().to_bytes_be()),
        "e": b64(&key.e().to_bytes_be()),
    });
    merge(&mut jwk, extra);
    jwk
}

/// An RSA JWK with a made-up odd modulus of `bytes` bytes (top bit set): enough for parsing.
fn fake_rsa_jwk(bytes: usize, e: &[u8], extra: Value) -> Value {
    let mut n = vec![0xc5_u8; bytes];
    if let Some(last) = n.last_mut() {
        *last = 0x01;
    }
    let mut jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(e)});
    merge(&mut jwk, extra);
    jwk
}

fn ec_signing_key(seed: u8) -> p384::ecdsa::SigningKey {
    let mut scalar = [seed; 48];
    scalar[0] = 0x01;
    p384::ecdsa::SigningKey::from_slice(&scalar).unwrap()
}

fn ec_jwk(key: &p384::ecdsa::SigningKey, extra: Value) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    let mut jwk = json!({
        "kty": "EC",
        "crv": "P-384",
        "x": b64(point.x().unwrap()),
        "y": b64(point.y().unwrap()),
    });
    merge(&mut jwk, extra);
    jwk
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        for (name, value) in extra {
            if value == json!("<remove>") {
                target.remove(&name);
            } else {
                target.insert(name, value);
            }
        }
    }
}

fn doc(keys: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

fn parse(keys: Vec<Value>) -> Result<ParsedKeySet, JwksError> {
    KeySet::parse(&doc(keys), &crate::verify::Verifier::default())
}

/// Parses `[good key, entry]` and returns the reason the entry was skipped, if it was.
fn skip_reason(entry: Value) -> Option<SkipReason> {
    let parsed = parse(vec![ec_jwk(&ec_signing_key(7), json!({})), entry]).unwrap();
    match parsed.skipped.as_slice() {
        [] => {
            assert_eq!(parsed.keys.len(), 2);
            None
        }
        [one] => {
            assert_eq!(one.index, 1);
            assert_eq!(parsed.keys.len(), 1);
            Some(one.reason)
        }
        more => panic!("more than one skipped: {more:?}"),
    }
}

#[test]
fn parses_rsa_and_ec_keys_in_document_order() {
    let parsed = parse(vec![
        rsa_jwk(
            &rsa_keys()[0],
            json!({"kid": "r1", "alg": "RS256", "use": "sig"}),
        ),
        ec_jwk(
            &ec_signing_key(1),
            json!({"kid": "e1", "alg": "ES384", "key_ops": ["verify"]}),
        ),
        ec_jwk(&ec_signing_key(2), json!({})),
    ])
    .unwrap();
    assert!(parsed.skipped.is_empty());
    let keys: Vec<&Jwk> = parsed.keys.iter().collect();
    assert_eq!(keys.len(), 3);
    assert_eq!(parsed.keys.len(), 3);
    assert!(!parsed.keys.is_empty());
    assert_eq!(keys[0].kid.as_deref(), Some("r1"));
    assert_eq!(keys[0].alg, Some(Algorithm::Rs256));
    assert!(keys[0].key.kind() == KeyKind::Rsa);
    assert_eq!(keys[1].kid.as_deref(), Some("e1"));
    assert_eq!(keys[1].alg, Some(Algorithm::Es384));
    assert!(keys[1].key.kind() == KeyKind::Ec(Curve::P384));
    assert_eq!(keys[2].kid, None);
    assert_eq!(keys[2].alg, None);
}

#[test]
fn skips_unsupported_key_types() {
    let oct = json!({"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"});
    assert_eq!(skip_reason(oct), Some(SkipReason::UnsupportedKty));
    // A secret is never taken from a key set, with or without an alg.
    let oct_plain = json!({"kty": "oct", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"});
    assert_eq!(skip_reason(oct_plain), Some(SkipReason::UnsupportedKty));
    // RFC 8037 section A.2's Ed25519 key is usable; Ed448 and X25519 are not.
    let okp =
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(skip_reason(okp), None);
    for crv in ["Ed448", "X25519"] {
        let other =
            json!({"kty": "OKP", "crv": crv, "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(
            skip_reason(other),
            Some(SkipReason::UnsupportedCurve),
            "{crv}"
        );
    }
    let short =
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcH"});
    assert_eq!(skip_reason(short), Some(SkipReason::Ed25519Length));
    let eddsa_on_x25519 = json!({"kty": "OKP", "crv": "X25519", "alg": "EdDSA", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    assert_eq!(skip_reason(eddsa_on_x25519), Some(SkipReason::AlgMismatch));
    assert_eq!(
        skip_reason(json!({"kty": "rsa"})),
        Some(SkipReason::UnsupportedKty)
    );
    assert_eq!(
        skip_reason(json!({"kid": "k"})),
        Some(SkipReason::MissingMember("kty"))
    );
    assert_eq!(
        skip_reason(json!({"kty": 1})),
        Some(SkipReason::WrongType("kty"))
    );
    assert_eq!(
        skip_reason(json!("not an object")),
        Some(SkipReason::NotAnObject)
    );
    assert_eq!(skip_reason(json!([1, 2])), Some(SkipReason::NotAnObject));
}

#[test]
fn skips_keys_not_meant_for_verification() {
    let key = ec_signing_key(3);
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"use": "enc"}))),
        Some(SkipReason::NotForSignatures)
    );
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"use": "SIG"}))),
        Some(SkipReason::NotForSignatures)
    );
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"use": 1}))),
        Some(SkipReason::WrongType("use"))
    );
    assert_eq!(skip_reason(ec_jwk(&key, json!({"use": "sig"}))), None);
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"key_ops": ["encrypt", "sign"]}))),
        Some(SkipReason::NoVerifyOperation)
    );
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"key_ops": []}))),
        Some(SkipReason::NoVerifyOperation)
    );
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"key_ops": "verify"}))),
        Some(SkipReason::WrongType("key_ops"))
    );
    assert_eq!(
        skip_reason(ec_jwk(&key, json!({"key_ops": ["sign", "verify"]}))),
        None
    );
}

#[test]
fn skips_unsupported_and_contradicting_algs() {
    let ec = ec_signing_key(4);
    // Unknown names, and the HMAC family, which a key set never supplies.
    for alg in ["HS256", "HS512", "none", "es384", "ES256K", "Ed25519", ""] {
        assert_eq!(
            skip_reason(ec_jwk(&ec, json!({"alg": alg}))),
            Some(SkipReason::UnsupportedAlg),
            "{alg}"
        );
    }
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"alg": 384}))),
        Some(SkipReason::WrongType("alg"))
    );
    // Known algorithms that do not fit a P-384 key.
    for alg in ["RS256", "RS384", "PS256", "ES256", "ES512", "EdDSA"] {
        assert_eq!(
            skip_reason(ec_jwk(&ec, json!({"alg": alg}))),
            Some(SkipReason::AlgMismatch),
            "{alg}"
        );
    }
    let rsa = fake_rsa_jwk(256, &[1, 0, 1], json!({"alg": "ES384"}));
    assert_eq!(skip_reason(rsa), Some(SkipReason::AlgMismatch));
    let p256_claiming_es384 = ec_jwk(&ec, json!({"crv": "P-256", "alg": "ES384"}));
    assert_eq!(
        skip_reason(p256_claiming_es384),
        Some(SkipReason::AlgMismatch)
    );
}

#[test]
fn skips_other_curves_and_bad_points() {
    let ec = ec_signing_key(5);
    // P-384 coordinates under another curve's name: the wrong width.
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"crv": "P-256"}))),
        Some(SkipReason::EcCoordinateLength)
    );
    // Shorter coordinates are left-padded (see PublicKey::ec): then not a P-521 point.
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"crv": "P-521"}))),
        Some(SkipReason::EcPointInvalid)
    );
    for crv in ["secp256k1", "P-192", "p-384"] {
        assert_eq!(
            skip_reason(ec_jwk(&ec, json!({"crv": crv}))),
            Some(SkipReason::UnsupportedCurve),
            "{crv}"
        );
    }
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"crv": "<remove>"}))),
        Some(SkipReason::MissingMember("crv"))
    );
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": "<remove>"}))),
        Some(SkipReason::MissingMember("x"))
    );
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"y": null}))),
        Some(SkipReason::MissingMember("y"))
    );
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"y": 5}))),
        Some(SkipReason::WrongType("y"))
    );
    // A short coordinate is left-padded, and then not on the curve; an empty one is refused.
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": b64(&[1; 47])}))),
        Some(SkipReason::EcPointInvalid)
    );
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": ""}))),
        Some(SkipReason::EcCoordinateLength)
    );
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"y": b64(&[1; 49])}))),
        Some(SkipReason::EcCoordinateLength)
    );

    // Off the curve: change one bit of a valid y.
    let point = ec.verifying_key().to_encoded_point(false);
    let mut y = point.y().unwrap().to_vec();
    y[47] ^= 0x01;
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"y": b64(&y)}))),
        Some(SkipReason::EcPointInvalid)
    );
    // Coordinates not below the field prime.
    let all_ones = b64(&[0xff; 48]);
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": all_ones, "y": all_ones}))),
        Some(SkipReason::EcPointInvalid)
    );
    // All-zero coordinates (what an identity point would look like) are not a valid point.
    let zeros = b64(&[0; 48]);
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": zeros, "y": zeros}))),
        Some(SkipReason::EcPointInvalid)
    );
}

#[test]
fn rsa_size_and_exponent_policy() {
    let f4 = [1_u8, 0, 1];
    assert_eq!(skip_reason(fake_rsa_jwk(256, &f4, json!({}))), None);
    assert_eq!(skip_reason(fake_rsa_jwk(512, &f4, json!({}))), None);
    assert_eq!(
        skip_reason(fake_rsa_jwk(128, &f4, json!({}))),
        Some(SkipReason::RsaModulusTooShort)
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(255, &f4, json!({}))),
        Some(SkipReason::RsaModulusTooShort)
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(513, &f4, json!({}))),
        Some(SkipReason::RsaModulusTooLong)
    );
    assert_eq!(skip_reason(fake_rsa_jwk(256, &[3], json!({}))), None);
    assert_eq!(skip_reason(fake_rsa_jwk(256, &[0, 3], json!({}))), None);
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &[17], json!({}))),
        Some(SkipReason::RsaExponentNotAllowed)
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &[1], json!({}))),
        Some(SkipReason::RsaExponentNotAllowed)
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &[], json!({}))),
        Some(SkipReason::RsaExponentNotAllowed)
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &[1, 0, 0, 0, 1], json!({}))),
        Some(SkipReason::RsaExponentNotAllowed)
    );
    // A leading zero byte in n does not change its value or its size.
    let mut n = vec![0_u8];
    n.extend_from_slice(&[0xc5; 256]);
    assert_eq!(
        skip_reason(json!({"kty": "RSA", "n": b64(&n), "e": "AQAB"})),
        None
    );
    // An even modulus cannot be an RSA modulus.
    let even = b64(&[0xc4; 256]);
    assert_eq!(
        skip_reason(json!({"kty": "RSA", "n": even, "e": "AQAB"})),
        Some(SkipReason::RsaInvalid)
    );
    assert_eq!(
        skip_reason(json!({"kty": "RSA", "e": "AQAB"})),
        Some(SkipReason::MissingMember("n"))
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &f4, json!({"e": "<remove>"}))),
        Some(SkipReason::MissingMember("e"))
    );
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &f4, json!({"n": []}))),
        Some(SkipReason::WrongType("n"))
    );
}

#[test]
fn base64url_must_be_unpadded_and_url_safe() {
    // 3 exponent bytes encode without padding; a 2-byte e needs one '=' when padded.
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &[1, 0, 1], json!({"e": "AQAB"}))),
        None
    );
    for bad_e in [
        "AQAB=", "AQ==", "AQ=", "AQ AB", " AQAB", "AQAB\n", "AQ.AB", "A", "AR",
    ] {
        assert_eq!(
            skip_reason(fake_rsa_jwk(256, &[1, 0, 1], json!({"e": bad_e}))),
            Some(SkipReason::BadBase64Url("e")),
            "{bad_e:?}"
        );
    }
    // The standard alphabet's '+' and '/' are refused; their url-safe twins are fine.
    let ec = ec_signing_key(6);
    let point = ec.verifying_key().to_encoded_point(false);
    let x = b64(point.x().unwrap());
    let standard = x.replace('-', "+").replace('_', "/");
    if standard != x {
        assert_eq!(
            skip_reason(ec_jwk(&ec, json!({"x": standard}))),
            Some(SkipReason::BadBase64Url("x"))
        );
    }
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": "+/+/"}))),
        Some(SkipReason::BadBase64Url("x"))
    );
    // 48 bytes encode to 64 characters with no padding; a padded form does not exist, but
    // a trailing '=' anyway is refused.
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"x": format!("{x}=")}))),
        Some(SkipReason::BadBase64Url("x"))
    );
    // A 2-byte value padded to "AQA=" is refused; unpadded "AQA" is the only accepted form.
    assert_eq!(
        skip_reason(fake_rsa_jwk(256, &[1, 0, 1], json!({"e": "AQA="}))),
        Some(SkipReason::BadBase64Url("e"))
    );
}

#[test]
fn null_members_are_absent_and_empty_kid_is_no_kid() {
    let ec = ec_signing_key(8);
    let parsed = parse(vec![ec_jwk(
        &ec,
        json!({"kid": "", "alg": null, "use": null, "key_ops": null}),
    )])
    .unwrap();
    let jwk = parsed.keys.iter().next().unwrap();
    assert_eq!(jwk.kid, None);
    assert_eq!(jwk.alg, None);
    assert_eq!(
        skip_reason(ec_jwk(&ec, json!({"kid": 12}))),
        Some(SkipReason::WrongType("kid"))
    );
}

#[test]
fn one_bad_key_keeps_the_good_ones() {
    let parsed = parse(vec![
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        ec_jwk(&ec_signing_key(9), json!({"kid": "good-1"})),
        fake_rsa_jwk(128, &[1, 0, 1], json!({"kid": "weak"})),
        ec_jwk(&ec_signing_key(10), json!({"kid": "good-2"})),
        ec_jwk(&ec_signing_key(11), json!({"kid": "enc", "use": "enc"})),
    ])
    .unwrap();
    let kids: Vec<_> = parsed
        .keys
        .iter()
        .map(|jwk| jwk.kid.clone().unwrap())
        .collect();
    assert_eq!(kids, ["good-1", "good-2"]);
    assert_eq!(
        parsed.skipped,
        vec![
            SkippedKey {
                index: 0,
                kid: Some("hmac".into()),
                reason: SkipReason::UnsupportedKty
            },
            SkippedKey {
                index: 2,
                kid: Some("weak".into()),
                reason: SkipReason::RsaModulusTooShort
            },
            SkippedKey {
                index: 4,
                kid: Some("enc".into()),
                reason: SkipReason::NotForSignatures
            },
        ]
    );
}

#[test]
fn document_level_errors() {
    assert!(matches!(
        KeySet::parse(b"not json", &crate::verify::Verifier::default()),
        Err(JwksError::NotJson { line: 1, .. })
    ));
    assert!(matches!(
        KeySet::parse(b"", &crate::verify::Verifier::default()),
        Err(JwksError::NotJson { .. })
    ));
    // Trailing commas are read as Envoy's protobuf parser reads them; any other syntax
    // error is still one, reported where the original text has it.
    assert_eq!(
        KeySet::parse(b"{\"keys\": [],}", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NoUsableKeys { skipped: vec![] }
    );
    assert_eq!(
        KeySet::parse(
            b"{\"keys\": [\"a,]\",],}",
            &crate::verify::Verifier::default()
        )
        .unwrap_err(),
        JwksError::NoUsableKeys {
            skipped: vec![SkippedKey {
                index: 0,
                kid: None,
                reason: SkipReason::NotAnObject
            }]
        }
    );
    assert_eq!(
        KeySet::parse(b"{\"keys\": [,]}", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NotJson {
            line: 1,
            column: 11
        }
    );
    assert!(matches!(
        KeySet::parse(b"\xff\xfe", &crate::verify::Verifier::default()),
        Err(JwksError::NotJson { .. })
    ));
    assert_eq!(
        KeySet::parse(b"[]", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NotAnObject
    );
    assert_eq!(
        KeySet::parse(b"\"keys\"", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NotAnObject
    );
    assert_eq!(
        KeySet::parse(b"{}", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NoKeysArray
    );
    assert_eq!(
        KeySet::parse(b"{\"keys\": 123}", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NoKeysArray
    );
    assert_eq!(
        KeySet::parse(b"{\"keys\": {}}", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NoKeysArray
    );
    assert_eq!(
        KeySet::parse(b"{\"keys\": []}", &crate::verify::Verifier::default()).unwrap_err(),
        JwksError::NoUsableKeys { skipped: vec![] }
    );
    let err = parse(vec![
        json!({"kty": "oct", "k": "c2VjcmV0"}),
        json!({"kty": "EC", "crv": "P-192"}),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        JwksError::NoUsableKeys {
            skipped: vec![
                SkippedKey {
                    index: 0,
                    kid: None,
                    reason: SkipReason::UnsupportedKty
                },
                SkippedKey {
                    index: 1,
                    kid: None,
                    reason: SkipReason::UnsupportedCurve
                },
            ]
        }
    );
    assert_eq!(err.to_string(), "JSON without usable keys (2 skipped)");
    assert_eq!(
        JwksError::NoKeysArray.to_string(),
        "key set JSON has no \"keys\" array"
    );
}

#[test]
fn skipped_kid_is_cut_and_escaped_and_reasons_hold_no_key_material() {
    let long_kid = "é".repeat(100) + "\n";
    let n = [0xc5_u8; 128];
    let n_text = b64(&n);
    let parsed = parse(vec![
        ec_jwk(&ec_signing_key(12), json!({})),
        json!({"kty": "RSA", "kid": long_kid, "n": n_text, "e": "AQAB"}),
    ])
    .unwrap();
    let skipped = &parsed.skipped[0];
    assert_eq!(
        skipped.kid.as_ref().unwrap().chars().count(),
        MAX_REPORTED_KID_CHARS
    );
    let line = skipped.to_string();
    assert!(line.starts_with("key #1 (kid \"ééé"), "{line}");
    assert!(
        line.ends_with("skipped: RSA modulus shorter than 2048 bits"),
        "{line}"
    );
    assert!(!line.contains('\n'));
    assert!(!line.contains(&n_text[..20]));
    for reason in [
        SkipReason::BadBase64Url("n"),
        SkipReason::EcPointInvalid,
        SkipReason::MissingMember("x"),
        SkipReason::WrongType("kid"),
    ] {
        assert!(!reason.to_string().is_empty());
    }
}

/// A set for selection tests:
/// 0 RSA kid "a" alg RS256, 1 RSA kid "b" no alg, 2 RSA no kid, 3 EC kid "a" alg ES384,
/// 4 EC no kid no alg.
fn selection_set() -> KeySet {
    parse(vec![
        fake_rsa_jwk(256, &[1, 0, 1], json!({"kid": "a", "alg": "RS256"})),
        fake_rsa_jwk(256, &[3], json!({"kid": "b"})),
        fake_rsa_jwk(384, &[1, 0, 1], json!({})),
        ec_jwk(&ec_signing_key(13), json!({"kid": "a", "alg": "ES384"})),
        ec_jwk(&ec_signing_key(14), json!({})),
    ])
    .unwrap()
    .keys
}

fn candidate_positions(set: &KeySet, kid: Option<&str>, alg: Algorithm) -> Vec<usize> {
    let all: Vec<&Jwk> = set.iter().collect();
    set.candidates(kid, alg)
        .map(|jwk| {
            all.iter()
                .position(|other| std::ptr::eq(*other, jwk))
                .unwrap()
        })
        .collect()
}

#[test]
fn selection_by_kid_alg_and_key_type() {
    let set = selection_set();
    // Token kid "a": the key with that kid plus kidless keys, of the fitting type only.
    assert_eq!(
        candidate_positions(&set, Some("a"), Algorithm::Rs256),
        [0, 2]
    );
    assert_eq!(
        candidate_positions(&set, Some("a"), Algorithm::Es384),
        [3, 4]
    );
    assert_eq!(
        candidate_positions(&set, Some("b"), Algorithm::Rs256),
        [1, 2]
    );
    // Unknown kid: only kidless keys remain.
    assert_eq!(
        candidate_positions(&set, Some("zzz"), Algorithm::Rs256),
        [2]
    );
    assert_eq!(
        candidate_positions(&set, Some("zzz"), Algorithm::Es384),
        [4]
    );
    // No kid (or an empty one): every fitting key, in document order.
    assert_eq!(candidate_positions(&set, None, Algorithm::Rs256), [0, 1, 2]);
    assert_eq!(
        candidate_positions(&set, Some(""), Algorithm::Rs256),
        [0, 1, 2]
    );
    assert_eq!(candidate_positions(&set, None, Algorithm::Es384), [3, 4]);
    // Kids compare exactly.
    assert_eq!(candidate_positions(&set, Some("A"), Algorithm::Rs256), [2]);
    assert!(set.has_kid("a"));
    assert!(set.has_kid("b"));
    assert!(!set.has_kid("A"));
    assert!(!set.has_kid(""));
    assert_eq!(set.len(), 5);
}

#[test]
fn key_alg_must_equal_token_alg() {
    // A key that says RS256 is never a candidate for ES384, even with a matching kid,
    // and a P-384 key is never a candidate for RS256.
    let set = parse(vec![
        fake_rsa_jwk(256, &[1, 0, 1], json!({"kid": "k", "alg": "RS256"})),
        ec_jwk(&ec_signing_key(15), json!({"kid": "k"})),
    ])
    .unwrap()
    .keys;
    assert_eq!(candidate_positions(&set, Some("k"), Algorithm::Es384), [1]);
    assert_eq!(candidate_positions(&set, Some("k"), Algorithm::Rs256), [0]);

    let only_rsa = parse(vec![fake_rsa_jwk(256, &[1, 0, 1], json!({"kid": "k"}))])
        .unwrap()
        .keys;
    assert_eq!(
        candidate_positions(&only_rsa, Some("k"), Algorithm::Es384),
        Vec::<usize>::new()
    );
    assert_eq!(
        candidate_positions(&only_rsa, None, Algorithm::Es384),
        Vec::<usize>::new()
    );
}

fn rs256_sign(key: &RsaPrivateKey, message: &[u8]) -> Vec<u8> {
    RsaSigningKey::<Sha256>::new(key.clone())
        .sign(message)
        .to_vec()
}

#[test]
fn verify_with_reports_the_outcome() {
    let [first, second] = rsa_keys();
    let ec = ec_signing_key(16);
    let set = parse(vec![
        rsa_jwk(first, json!({"kid": "one", "alg": "RS256"})),
        rsa_jwk(second, json!({"kid": "two"})),
        ec_jwk(&ec, json!({"kid": "three", "alg": "ES384"})),
    ])
    .unwrap()
    .keys;
    let input = b"header.payload";
    let by_second = rs256_sign(second, input);
    assert_eq!(
        set.verify_with(Some("two"), Algorithm::Rs256, input, &by_second),
        KeyMatch::Verified
    );
    // Token without kid: both RSA keys are tried in order and the second one verifies.
    assert_eq!(
        set.verify_with(None, Algorithm::Rs256, input, &by_second),
        KeyMatch::Verified
    );
    // Kid names the other key: a candidate exists, but it did not sign.
    assert_eq!(
        set.verify_with(Some("one"), Algorithm::Rs256, input, &by_second),
        KeyMatch::BadSignature
    );
    assert_eq!(
        set.verify_with(Some("nope"), Algorithm::Rs256, input, &by_second),
        KeyMatch::NoCandidateKey
    );
    // ES384 token naming an RSA key's kid: no candidate.
    let es: p384::ecdsa::Signature = ec.sign(input);
    let es = es.to_bytes().to_vec();
    assert_eq!(
        set.verify_with(Some("one"), Algorithm::Es384, input, &es),
        KeyMatch::NoCandidateKey
    );
    assert_eq!(
        set.verify_with(Some("three"), Algorithm::Es384, input, &es),
        KeyMatch::Verified
    );
    assert_eq!(
        set.verify_with(None, Algorithm::Es384, input, &es),
        KeyMatch::Verified
    );
    assert_eq!(
        set.verify_with(Some("three"), Algorithm::Es384, b"header.other", &es),
        KeyMatch::BadSignature
    );
    assert_eq!(
        set.verify_with(Some("three"), Algorithm::Es384, input, &[0; 96]),
        KeyMatch::BadSignature
    );
    // RS256 token naming the EC key: that key cannot be a candidate.
    assert_eq!(
        set.verify_with(Some("three"), Algorithm::Rs256, input, &by_second),
        KeyMatch::NoCandidateKey
    );
    assert_eq!(
        set.verify_with(Some("two"), Algorithm::Rs256, input, &by_second[1..]),
        KeyMatch::BadSignature
    );
}

/// The public jwt_verify_lib / Envoy conformance vectors (see their README).
mod vectors {
    use super::*;
    use std::path::{Path, PathBuf};

    /// The vectors beside the checkout; a missing copy fails the test rather than passing
    /// it silently. (The verify stage runs in tests/conformance.rs.)
    fn vector_dir() -> Option<PathBuf> {
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/jwt_verify_lib_vectors");
        assert!(dir.is_dir(), "{} is missing", dir.display());
        Some(dir)
    }

    fn cases(dir: &Path, stage: &str) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("cases").join(stage))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn every_jwks_case_parses_without_panicking() {
        let Some(dir) = vector_dir() else { return };
        let mut seen = 0;
        for case in cases(&dir, "jwks") {
            if case["jwks_type"] != "JWKS" {
                continue;
            }
            let name = case["name"].as_str().unwrap();
            let text = case["jwks"].as_str().unwrap();
            let parsed = KeySet::parse(text.as_bytes(), &crate::verify::Verifier::default());
            let outcome = match &parsed {
                Ok(parsed) => format!(
                    "Ok({} keys, {} skipped)",
                    parsed.keys.len(),
                    parsed.skipped.len()
                ),
                Err(err) => format!("Err({err})"),
            };
            println!(
                "{name}: upstream {} / here {outcome}",
                case["expected_status"]
            );
            // This policy is stricter than jwt_verify_lib (fewer algorithms, no x509 map, crv
            // required), never more lenient: a set upstream refuses is refused here too.
            if case["expected_status"] != "Ok" {
                assert!(
                    parsed.is_err(),
                    "{name}: upstream refuses this set, but it parsed here"
                );
            }
            seen += 1;
        }
        assert!(seen > 50, "only {seen} JWKS cases");
    }

    #[test]
    fn google_x509_maps_give_one_key_per_kid() {
        let dir = vector_dir().unwrap();
        let case = cases(&dir, "verify")
            .into_iter()
            .find(|case| case["name"] == "jvl_x509_real_token_ok")
            .unwrap();
        let text = case["jwks"].as_str().unwrap();
        let verifier = crate::verify::Verifier::default();
        let parsed = KeySet::parse(text.as_bytes(), &verifier).unwrap();
        let map: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.keys.len(), map.len());
        for (kid, _) in &map {
            assert!(parsed.keys.has_kid(kid), "{kid}");
        }
        // One certificate cut short: that kid is skipped, the others stay.
        let mut broken = map.clone();
        let (first, value) = map.iter().next().unwrap();
        let cut = value.as_str().unwrap().replacen("MII", "MIJ", 1);
        broken.insert(first.clone(), Value::String(cut));
        let parsed = KeySet::parse(Value::Object(broken).to_string().as_bytes(), &verifier);
        let parsed = parsed.unwrap();
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].reason, SkipReason::BadCertificate);
        // Strings that are not certificates: not a key set at all.
        let plain = json!({"a": "b"}).to_string();
        assert_eq!(
            KeySet::parse(plain.as_bytes(), &verifier).unwrap_err(),
            JwksError::NoKeysArray
        );
    }

    #[test]
    fn es384_jwks_vector_parses() {
        let Some(dir) = vector_dir() else { return };
        let case = cases(&dir, "jwks")
            .into_iter()
            .find(|case| case["name"] == "jvl_jwks_jwks_ec_match_alg_es384_crv_p384")
            .unwrap();
        let parsed = KeySet::parse(
            case["jwks"].as_str().unwrap().as_bytes(),
            &crate::verify::Verifier::default(),
        )
        .unwrap();
        assert!(parsed
            .keys
            .iter()
            .all(|jwk| jwk.key.kind() == KeyKind::Ec(Curve::P384)));
    }
}
