use super::UntrustedToken;
use crate::error::{AuthError, ErrorCode};
use crate::keys::jwks::{KeyMatch, KeySet};
use crate::request::claims::{self, ClaimRules};
use crate::verify::Algorithm;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};
use testbed::mint::{sign_raw_with, Alg, Key, KeyMaterial, MintRequest, Minter};

const ISSUER: &str = "https://idp.example.test/";
const AUDIENCE: &str = "https://api.example.test";

fn minter() -> &'static Minter {
    static MINTER: std::sync::OnceLock<Minter> = std::sync::OnceLock::new();
    MINTER.get_or_init(|| Minter::generate(ISSUER, AUDIENCE).unwrap())
}

fn attacker(alg: Alg) -> &'static Key {
    static RSA: std::sync::OnceLock<Key> = std::sync::OnceLock::new();
    static EC: std::sync::OnceLock<Key> = std::sync::OnceLock::new();
    let cell = match alg {
        Alg::Rs256 => &RSA,
        Alg::Es384 => &EC,
        other => unreachable!("no attacker key for {other}"),
    };
    // The attacker's keys reuse the real kids, the most confusing case.
    cell.get_or_init(|| Key::generate(alg, minter().signing_key(alg).unwrap().kid()).unwrap())
}

fn jwks() -> serde_json::Value {
    json!({"keys": [
        minter().signing_key(Alg::Rs256).unwrap().public_jwk(),
        minter().signing_key(Alg::Es384).unwrap().public_jwk(),
    ]})
}

fn now() -> u64 {
    u64::try_from(testbed::mint::now_secs()).unwrap()
}

fn claims() -> String {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": now() + 300}).to_string()
}

/// The authenticator's steps, with `allowed` as the provider's allowlist.
fn run_with(token: &str, allowed: &[Algorithm]) -> Result<(), AuthError> {
    let invalid = |description| AuthError::new(ErrorCode::InvalidToken, description);
    let parsed = UntrustedToken::parse(token)?;
    let alg = Algorithm::from_name(&parsed.header.alg)
        .filter(|alg| allowed.contains(alg))
        .ok_or(invalid("Token algorithm is not allowed"))?;
    let audiences = [AUDIENCE.to_string()];
    let rules = ClaimRules {
        issuer: Some(ISSUER),
        audiences: &audiences,
        clock_skew_seconds: 60,
        require_expiration: true,
        max_lifetime_seconds: None,
        subjects: None,
    };
    claims::check(&parsed.claims, &rules, now())?;
    let keys = KeySet::parse(
        jwks().to_string().as_bytes(),
        &crate::verify::Verifier::default(),
    )
    .unwrap()
    .keys;
    match keys.verify_with(
        parsed.header.kid.as_deref(),
        alg,
        parsed.signing_input,
        &parsed.signature,
    ) {
        KeyMatch::Verified => Ok(()),
        KeyMatch::NoCandidateKey => Err(invalid("No key of the issuer matches the token")),
        KeyMatch::BadSignature => Err(invalid("Token signature is invalid")),
    }
}

/// With the default allowlist: every asymmetric algorithm.
fn run(token: &str) -> Result<(), AuthError> {
    run_with(token, &Algorithm::ASYMMETRIC)
}

fn refused(token: &str) -> &'static str {
    let err = run(token).unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidToken, "{err}");
    err.description
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` with the signature given as bytes.
fn with_signature(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(signature)
    )
}

fn replace_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64(signature))
}

/// HMAC-SHA256 (RFC 2104), for forging HS256 tokens keyed with public key bytes.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0_u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

fn rsa_modulus() -> Vec<u8> {
    let KeyMaterial::Rsa(key) = minter().signing_key(Alg::Rs256).unwrap().material() else {
        unreachable!()
    };
    use rsa::traits::PublicKeyParts;
    key.n().to_bytes_be()
}

#[test]
fn valid_tokens_pass() {
    for alg in [Alg::Rs256, Alg::Es384] {
        run(&minter().mint(&MintRequest::new(alg)).unwrap()).unwrap();
    }
}

#[test]
fn alg_none_in_any_spelling() {
    for alg in ["none", "None", "NONE", "nOnE", "none ", ""] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        // Unsigned, as a none token is meant to be, and with a real signature too.
        let unsigned = format!("{}.{}.", b64(header.as_bytes()), b64(claims().as_bytes()));
        assert_eq!(refused(&unsigned), "Token is not signed", "{alg}");
        let signed = minter().sign_raw(Alg::Rs256, &header, &claims()).unwrap();
        assert_eq!(refused(&signed), "Token algorithm is not allowed", "{alg}");
    }
}

#[test]
fn hmac_keyed_with_the_public_key_is_refused() {
    let public_jwk = minter()
        .signing_key(Alg::Rs256)
        .unwrap()
        .public_jwk()
        .to_string();
    for alg in ["HS256", "HS384", "HS512", "hs256"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#);
        for secret in [rsa_modulus(), public_jwk.clone().into_bytes()] {
            let input = format!("{}.{}", b64(header.as_bytes()), b64(claims().as_bytes()));
            let mac = hmac_sha256(&secret, input.as_bytes());
            let forged = format!("{input}.{}", b64(&mac));
            assert_eq!(refused(&forged), "Token algorithm is not allowed", "{alg}");
        }
    }
}

#[test]
fn algorithms_outside_the_allowlist() {
    for alg in ["es384", "rs256", "RSA-OAEP", "ES256K", "Ed25519", "HS256"] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let signed = minter().sign_raw(Alg::Rs256, &header, &claims()).unwrap();
        assert_eq!(refused(&signed), "Token algorithm is not allowed", "{alg}");
    }
    // Allowed algorithms on an RS256 signature: the set's keys name their own `alg`
    // (RS256, ES384), so no key is a candidate for any other.
    for (alg, why) in [
        ("RS384", "No key of the issuer matches the token"),
        ("RS512", "No key of the issuer matches the token"),
        ("PS256", "No key of the issuer matches the token"),
        ("ES256", "No key of the issuer matches the token"),
        ("ES512", "No key of the issuer matches the token"),
        ("EdDSA", "No key of the issuer matches the token"),
    ] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let signed = minter().sign_raw(Alg::Rs256, &header, &claims()).unwrap();
        assert_eq!(refused(&signed), why, "{alg}");
    }
    // An allowlist narrower than the supported set is honoured.
    let rs = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let err = run_with(&rs, &[Algorithm::Es384]).unwrap_err();
    assert_eq!(err.description, "Token algorithm is not allowed");
}

#[test]
fn alg_must_fit_the_key_type_and_curve() {
    // ES384 naming the RSA key's kid, signed by the EC key: the RSA key is no candidate.
    let header = r#"{"alg":"ES384","kid":"rsa-1"}"#;
    let token = minter().sign_raw(Alg::Es384, header, &claims()).unwrap();
    assert_eq!(refused(&token), "No key of the issuer matches the token");
    // RS256 naming the EC key's kid.
    let header = r#"{"alg":"RS256","kid":"ec-1"}"#;
    let token = minter().sign_raw(Alg::Rs256, header, &claims()).unwrap();
    assert_eq!(refused(&token), "No key of the issuer matches the token");
    // RS256 header over an ES384 signature (and the reverse), no kid: every fitting key fails.
    let token = minter()
        .sign_raw(Alg::Es384, r#"{"alg":"RS256"}"#, &claims())
        .unwrap();
    assert_eq!(refused(&token), "Token signature is invalid");
    let token = minter()
        .sign_raw(Alg::Rs256, r#"{"alg":"ES384"}"#, &claims())
        .unwrap();
    assert_eq!(refused(&token), "Token signature is invalid");
}

#[test]
fn key_location_headers_never_supply_the_key() {
    for alg in [Alg::Rs256, Alg::Es384] {
        let key = attacker(alg);
        let jwk = key.public_jwk();
        for member in [
            json!({"jku": "http://127.0.0.1:9/jwks.json"}),
            json!({"x5u": "http://127.0.0.1:9/cert.pem"}),
            json!({"jwk": jwk}),
            json!({"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
        ] {
            let mut header = member.as_object().unwrap().clone();
            header.insert("alg".into(), alg.name().into());
            header.insert("kid".into(), key.kid().into());
            let header = serde_json::Value::Object(header).to_string();
            let forged = sign_raw_with(key, &header, &claims()).unwrap();
            assert_eq!(refused(&forged), "Token signature is invalid", "{header}");
            // The same headers on a token the real key signed change nothing.
            let real = minter().sign_raw(alg, &header, &claims()).unwrap();
            run(&real).unwrap();
        }
    }
}

#[test]
fn crit_and_b64_false_are_refused_even_when_signed() {
    for header in [
        r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
        r#"{"alg":"RS256","crit":["urn:example"],"urn:example":1}"#,
    ] {
        let token = minter().sign_raw(Alg::Rs256, header, &claims()).unwrap();
        assert_eq!(refused(&token), "Token uses an unsupported critical header");
    }
}

#[test]
fn nested_tokens_are_refused_even_when_signed() {
    let inner = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let header = r#"{"alg":"RS256","cty":"JWT"}"#;
    // A nested JWT's payload is the inner token, which is not a JSON object either.
    let nested = minter().sign_raw(Alg::Rs256, header, &inner).unwrap();
    assert_eq!(
        refused(&nested),
        "Nested or encrypted tokens are not accepted"
    );
    let quoted = format!("\"{inner}\"");
    let nested = minter()
        .sign_raw(Alg::Rs256, r#"{"alg":"RS256"}"#, &quoted)
        .unwrap();
    assert_eq!(refused(&nested), "Token payload is not a JSON object");
}

#[test]
fn duplicate_claims_are_refused_even_when_signed() {
    let payload = format!(
        r#"{{"iss":"https://evil/","aud":"{AUDIENCE}","exp":{},"iss":"{ISSUER}"}}"#,
        now() + 60
    );
    let token = minter()
        .sign_raw(Alg::Rs256, r#"{"alg":"RS256"}"#, &payload)
        .unwrap();
    assert_eq!(refused(&token), "Token payload has a duplicate member");
}

#[test]
fn es384_signature_encodings() {
    let token = minter().mint(&MintRequest::new(Alg::Es384)).unwrap();
    let (input, _) = token.rsplit_once('.').unwrap();
    let KeyMaterial::P384(key) = minter().signing_key(Alg::Es384).unwrap().material() else {
        unreachable!()
    };
    use p384::ecdsa::signature::Signer;
    let signature: p384::ecdsa::Signature = key.sign(input.as_bytes());
    // The same signature as DER is refused; raw r || s passes.
    let der = signature.to_der();
    assert_eq!(
        refused(&replace_signature(&token, der.as_bytes())),
        "Token signature is invalid"
    );
    run(&replace_signature(&token, &signature.to_bytes())).unwrap();
    // CVE-2022-21449: r = s = 0.
    assert_eq!(
        refused(&replace_signature(&token, &[0; 96])),
        "Token signature is invalid"
    );
    // r or s equal to the group order n, or all ones.
    let n = hex_bytes("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973");
    let raw = signature.to_bytes();
    let (r, s) = raw.split_at(48);
    for bad in [
        [n.as_slice(), s].concat(),
        [r, n.as_slice()].concat(),
        [n.as_slice(), n.as_slice()].concat(),
        vec![0xff; 96],
        [&[0_u8; 48][..], s].concat(),
        [r, &[0_u8; 48][..]].concat(),
    ] {
        assert_eq!(
            refused(&replace_signature(&token, &bad)),
            "Token signature is invalid"
        );
    }
    // Lengths other than 96.
    for len in [0_usize, 1, 64, 95, 97, 104, 132] {
        let bad = vec![1_u8; len];
        let expected = if len == 0 {
            "Token is not signed"
        } else {
            "Token signature is invalid"
        };
        assert_eq!(refused(&replace_signature(&token, &bad)), expected, "{len}");
    }
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rsa_signature_encodings() {
    let token = minter().mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let (_, signature) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let n = rsa_modulus();
    assert_eq!(signature.len(), n.len());
    // One byte longer (a leading zero), one shorter, the modulus itself, above it, zero, one.
    let mut above = n.clone();
    *above.last_mut().unwrap() = above.last().unwrap().wrapping_add(1);
    for bad in [
        [&[0_u8][..], &signature].concat(),
        signature[1..].to_vec(),
        n.clone(),
        vec![0xff; n.len()],
        above,
        vec![0; n.len()],
        [vec![0; n.len() - 1], vec![1]].concat(),
    ] {
        assert_eq!(
            refused(&replace_signature(&token, &bad)),
            "Token signature is invalid"
        );
    }
    run(&replace_signature(&token, &signature)).unwrap();
}

#[test]
fn deep_and_huge_inputs_are_refused_cheaply() {
    let deep = format!(
        r#"{{"alg":"RS256","x":{}{}}}"#,
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    let token = with_signature(&deep, &claims(), b"sig");
    assert_eq!(refused(&token), "Token header is nested too deeply");
    let huge = "a".repeat(1 << 20);
    assert_eq!(refused(&huge), "Token is too large");
    let segments = "a.".repeat(4_000);
    assert_eq!(refused(&segments), "Token is not a JWS in compact form");
}
