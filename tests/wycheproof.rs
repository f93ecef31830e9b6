//! Wycheproof for every JOSE algorithm and every key size Wycheproof has, through the filter's
//! own entry: each group's key is written as a JWK (with `kid`, `use: sig` and the JOSE `alg`),
//! read by `KeySet::parse` (or `KeySet::parse_local` for an `oct` secret) and every vector is
//! checked with `KeySet::verify_with`, the call the request path makes, so key policy, key
//! binding and the backend the plan picks all take part.
//!
//! Rules: `valid` must verify, `invalid` must not, `acceptable` is only run (it must not panic).
//! A group whose key our rules refuse (an RSA modulus above 4096 bits, an HMAC secret shorter
//! than its hash) must be refused when the key set is read, with the expected reason; its
//! vectors count as `refused key`. A group whose parameters are not JOSE's (a PSS salt other
//! than the digest length or MGF1 with another hash, a truncated HMAC tag, an ECDSA hash other
//! than the curve's, a DER ECDSA signature) must have every vector rejected, valid or not;
//! only in the PSS groups can a damaged vector turn into a JOSE-valid signature (the salt-0
//! file's "s_len changed to 32"), so there the `invalid` ones get the answer of RustCrypto's
//! `rsa` with JOSE's parameters.
//! Every file must run at least one case, and every vector of a file is accounted for (run,
//! refused or skipped with a stated reason), so a file that yields nothing fails.
//!
//! Plans: `wasm` and `auto` without the host (`NoHostCrypto`). The host plan is not run here:
//! its RustCrypto stand-in (`src/verify/testing.rs`) is `#[cfg(test)]` and crate-private, so an
//! integration test cannot reach it (`src/verify/tests.rs` runs every algorithm through it).
//!
//! Files left out, and why:
//! - RSA PKCS#1 v1.5 with SHA-224, SHA3-*, SHA-512/224, SHA-512/256, and RSASSA-PSS with SHA-1,
//!   SHA-512/224, SHA-512/256 or SHAKE: no JOSE algorithm uses those hashes. In
//!   `rsa_pss_misc`, the groups hashing with SHA-1 or SHA-224 are skipped for the same reason
//!   (counted as `skipped`).
//! - `rsa_pss_*_params` files that have a plain twin: the same keys and vectors, differing only
//!   in the ASN.1 parameters of the key, which a JWK does not carry.
//! - ECDSA over curves JOSE does not name (secp256k1, brainpool, secp224r1, ...), and SHA-3 or
//!   SHAKE hashes; Ed448 (the filter refuses Ed448 keys).
//!
//! The two tests at the end run the own-arithmetic keys directly (`RsaVerifyingKey`,
//! `P384VerifyingKey`), the P-384 one against `p384` too.

// Test code: a panic is a failed test.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_authn_wasm::keys::jwks::{self, JwksError, KeyMatch, KeySet, SkipReason};
use jwt_authn_wasm::verify::own::p384::P384VerifyingKey;
use jwt_authn_wasm::verify::own::rsa::RsaVerifyingKey;
use jwt_authn_wasm::verify::{
    Algorithm, CryptoMode, KeyError, Message, NoHostCrypto, Plan, PublicKey, Verifier,
};
use p384::ecdsa::signature::Verifier as _;
use serde_json::json;
use wycheproof::{HashFunction, TestResult};

const KID: &str = "wycheproof";

/// The plans that run natively without a host.
fn plans() -> Vec<(&'static str, Verifier)> {
    vec![
        (
            "wasm",
            Verifier::new(Plan::new(CryptoMode::Wasm, false), Rc::new(NoHostCrypto)),
        ),
        (
            "auto-no-host",
            Verifier::new(Plan::new(CryptoMode::Auto, false), Rc::new(NoHostCrypto)),
        ),
    ]
}

/// What a group's vectors must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Follow Wycheproof's `result`.
    AsLabelled,
    /// Not JOSE's parameters: nothing verifies, whatever the label.
    Rejected,
    /// Labelled `invalid` in a group with non-JOSE parameters, where the damage may have made
    /// a JOSE-valid signature (the salt-0 file's "s_len changed to 32"): the answer of an
    /// independent implementation with JOSE's parameters.
    Reference(bool),
}

/// Per-file counts of vectors, by what was checked.
#[derive(Debug, Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
    /// Vectors of groups with non-JOSE parameters, rejected.
    non_jose: usize,
    /// Vectors of non-JOSE groups judged by a reference implementation (`rsa`'s PSS).
    reference: usize,
    /// Of those, how many verify.
    reference_verified: usize,
    /// Vectors of groups whose key the filter refuses.
    refused_key: usize,
    /// Vectors of groups skipped with a stated reason.
    skipped: usize,
}

impl Tally {
    fn cases(&self) -> usize {
        self.valid
            + self.invalid
            + self.acceptable
            + self.non_jose
            + self.reference
            + self.refused_key
    }

    /// Prints the counts and fails when nothing ran or a vector is unaccounted for.
    fn finish(self, file: &str, declared: usize) -> Self {
        println!(
            "wycheproof {file}: {} cases ({} valid verified, {} invalid rejected, {} acceptable \
             run, {} non-JOSE rejected, {} as the reference says ({} of them verify), {} under \
             a refused key; {} skipped) on {} plans",
            self.cases(),
            self.valid,
            self.invalid,
            self.acceptable,
            self.non_jose,
            self.reference,
            self.reference_verified,
            self.refused_key,
            self.skipped,
            plans().len()
        );
        assert!(self.cases() > 0, "{file}: no vector ran");
        assert_eq!(
            self.cases() + self.skipped,
            declared,
            "{file}: every vector must be run, refused or skipped"
        );
        self
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn bits(n: &[u8]) -> usize {
    let n = strip_leading_zeros(n);
    n.first().map_or(0, |top| {
        8 * (n.len() - 1) + (8 - top.leading_zeros() as usize)
    })
}

fn jose_hash(hash: HashFunction) -> Option<usize> {
    match hash {
        HashFunction::Sha2_256 => Some(32),
        HashFunction::Sha2_384 => Some(48),
        HashFunction::Sha2_512 => Some(64),
        _ => None,
    }
}

/// The key set of one JWK, read as a fetched JWKS is.
fn key_set(jwk: serde_json::Value, verifier: &Verifier) -> Result<KeySet, JwksError> {
    let doc = json!({ "keys": [jwk] }).to_string();
    KeySet::parse(doc.as_bytes(), verifier).map(|parsed| {
        assert!(parsed.skipped.is_empty());
        parsed.keys
    })
}

/// Asserts that a one-key document was refused for `reason`.
fn assert_refused(result: Result<KeySet, JwksError>, reason: SkipReason, what: &str) {
    match result {
        Err(JwksError::NoUsableKeys { skipped }) => {
            assert_eq!(skipped.len(), 1, "{what}");
            assert_eq!(skipped[0].reason, reason, "{what}");
        }
        Err(other) => panic!("{what}: refused as a document ({other}), not for its key"),
        Ok(_) => panic!("{what}: the key should be refused ({reason})"),
    }
}

/// The request path's check, which must find the key a candidate.
fn verifies(keys: &KeySet, alg: Algorithm, msg: &[u8], sig: &[u8]) -> bool {
    match keys.verify_with(Some(KID), alg, msg, sig) {
        KeyMatch::Verified => true,
        KeyMatch::BadSignature => false,
        KeyMatch::NoCandidateKey => panic!("the {alg} key is not a candidate for {alg}"),
    }
}

/// Checks one vector's outcome against its label and counts it.
fn judge(
    tally: &mut Tally,
    expect: Expect,
    what: &str,
    (tc_id, comment, result): (usize, &str, TestResult),
    outcomes: &[(&str, bool)],
) {
    for &(plan, got) in outcomes {
        match (expect, result) {
            (Expect::Rejected, _) => assert!(
                !got,
                "{what} tcId {tc_id} ({comment}) [{plan}]: non-JOSE parameters must not verify"
            ),
            (Expect::Reference(reference), _) => assert_eq!(
                got, reference,
                "{what} tcId {tc_id} ({comment}) [{plan}]: disagrees with the reference"
            ),
            (Expect::AsLabelled, TestResult::Valid) => {
                assert!(
                    got,
                    "{what} tcId {tc_id} ({comment}) [{plan}] should verify"
                )
            }
            (Expect::AsLabelled, TestResult::Invalid) => {
                assert!(
                    !got,
                    "{what} tcId {tc_id} ({comment}) [{plan}] must not verify"
                )
            }
            (Expect::AsLabelled, TestResult::Acceptable) => {}
        }
    }
    match (expect, result) {
        (Expect::Rejected, _) => tally.non_jose += 1,
        (Expect::Reference(reference), _) => {
            tally.reference += 1;
            tally.reference_verified += usize::from(reference);
        }
        (_, TestResult::Valid) => tally.valid += 1,
        (_, TestResult::Invalid) => tally.invalid += 1,
        (_, TestResult::Acceptable) => tally.acceptable += 1,
    }
}

// ---------------------------------------------------------------------------------------------
// RSASSA-PKCS1-v1_5: RS256, RS384, RS512

fn rsa_jwk(n: &[u8], e: &[u8], alg: Option<Algorithm>) -> serde_json::Value {
    let mut jwk = json!({
        "kty": "RSA",
        "kid": KID,
        "use": "sig",
        "n": b64(strip_leading_zeros(n)),
        "e": b64(strip_leading_zeros(e)),
    });
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg.name());
    }
    jwk
}

/// Why our key rules refuse this RSA key, if they do.
fn rsa_refusal(n: &[u8], e: &[u8]) -> Option<SkipReason> {
    let bits = bits(n);
    if bits < 2048 {
        Some(SkipReason::RsaModulusTooShort)
    } else if bits > 4096 {
        Some(SkipReason::RsaModulusTooLong)
    } else if !matches!(strip_leading_zeros(e), [0x03] | [0x01, 0x00, 0x01]) {
        Some(SkipReason::RsaExponentNotAllowed)
    } else {
        None
    }
}

fn pkcs1(name: wycheproof::rsa_pkcs1_verify::TestName, alg: Algorithm) -> Tally {
    let set = wycheproof::rsa_pkcs1_verify::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let pss = match alg {
        Algorithm::Rs256 => Algorithm::Ps256,
        Algorithm::Rs384 => Algorithm::Ps384,
        _ => Algorithm::Ps512,
    };
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert_eq!(jose_hash(group.hash), Some(alg.hash().len()), "{file}");
        let (n, e) = (&group.key.n, &group.key.e);
        let what = format!(
            "{file} ({} bits, e {:02x?})",
            bits(n),
            strip_leading_zeros(e)
        );
        if let Some(reason) = rsa_refusal(n, e) {
            for (_, verifier) in plans() {
                assert_refused(key_set(rsa_jwk(n, e, Some(alg)), &verifier), reason, &what);
                assert_refused(key_set(rsa_jwk(n, e, None), &verifier), reason, &what);
            }
            tally.refused_key += group.tests.len();
            continue;
        }
        let prepared: Vec<_> = plans()
            .into_iter()
            .map(|(plan, verifier)| {
                let bound = key_set(rsa_jwk(n, e, Some(alg)), &verifier).unwrap();
                let unbound = key_set(rsa_jwk(n, e, None), &verifier).unwrap();
                (plan, bound, unbound)
            })
            .collect();
        for test in &group.tests {
            let outcomes: Vec<_> = prepared
                .iter()
                .map(|(plan, bound, unbound)| {
                    let got = verifies(bound, alg, &test.msg, &test.sig);
                    // A key without `alg` verifies the same.
                    assert_eq!(verifies(unbound, alg, &test.msg, &test.sig), got);
                    if got {
                        // The JWK's `alg` binds the key: PSS may not even try it...
                        assert_eq!(
                            bound.verify_with(Some(KID), pss, &test.msg, &test.sig),
                            KeyMatch::NoCandidateKey
                        );
                        // ...and without `alg`, a PKCS#1 signature is no PSS signature.
                        assert!(!verifies(unbound, pss, &test.msg, &test.sig));
                    }
                    (*plan, got)
                })
                .collect();
            let label = (test.tc_id, test.comment.as_str(), test.result);
            judge(&mut tally, Expect::AsLabelled, &what, label, &outcomes);
        }
    }
    tally.finish(&file, set.number_of_tests)
}

#[test]
fn wycheproof_rs256() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    pkcs1(Rsa2048Sha256, Algorithm::Rs256);
    pkcs1(Rsa3072Sha256, Algorithm::Rs256);
    pkcs1(Rsa4096Sha256, Algorithm::Rs256);
    let t = pkcs1(Rsa8192Sha256, Algorithm::Rs256);
    assert_eq!(t.cases(), t.refused_key, "8192-bit keys are refused");
}

#[test]
fn wycheproof_rs384() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    pkcs1(Rsa2048Sha384, Algorithm::Rs384);
    pkcs1(Rsa3072Sha384, Algorithm::Rs384);
    pkcs1(Rsa4096Sha384, Algorithm::Rs384);
    let t = pkcs1(Rsa8192Sha384, Algorithm::Rs384);
    assert_eq!(t.cases(), t.refused_key, "8192-bit keys are refused");
}

#[test]
fn wycheproof_rs512() {
    use wycheproof::rsa_pkcs1_verify::TestName::*;
    pkcs1(Rsa2048Sha512, Algorithm::Rs512);
    pkcs1(Rsa3072Sha512, Algorithm::Rs512);
    pkcs1(Rsa4096Sha512, Algorithm::Rs512);
    let t = pkcs1(Rsa8192Sha512, Algorithm::Rs512);
    assert_eq!(t.cases(), t.refused_key, "8192-bit keys are refused");
}

// ---------------------------------------------------------------------------------------------
// RSASSA-PSS: PS256, PS384, PS512 (MGF1 with the message hash, salt as long as the digest)

fn pss(name: wycheproof::rsa_pss_verify::TestName) -> Tally {
    let set = wycheproof::rsa_pss_verify::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let alg = match group.hash {
            HashFunction::Sha2_256 => Algorithm::Ps256,
            HashFunction::Sha2_384 => Algorithm::Ps384,
            HashFunction::Sha2_512 => Algorithm::Ps512,
            // SHA-1, SHA-224, SHA-512/t, SHAKE: no JOSE algorithm.
            _ => {
                tally.skipped += group.tests.len();
                continue;
            }
        };
        let jose = group.mgf == wycheproof::Mgf::Mgf1
            && group.mgf_hash == Some(group.hash)
            && group.salt_size == alg.hash().len();
        let (n, e) = (&group.key.n, &group.key.e);
        let what = format!(
            "{file} ({} bits, {alg}, MGF1-{:?}, salt {})",
            bits(n),
            group.mgf_hash,
            group.salt_size
        );
        if let Some(reason) = rsa_refusal(n, e) {
            for (_, verifier) in plans() {
                assert_refused(key_set(rsa_jwk(n, e, Some(alg)), &verifier), reason, &what);
            }
            tally.refused_key += group.tests.len();
            continue;
        }
        let rs = match alg {
            Algorithm::Ps256 => Algorithm::Rs256,
            Algorithm::Ps384 => Algorithm::Rs384,
            _ => Algorithm::Rs512,
        };
        let prepared: Vec<_> = plans()
            .into_iter()
            .map(|(plan, verifier)| {
                let bound = key_set(rsa_jwk(n, e, Some(alg)), &verifier).unwrap();
                let unbound = key_set(rsa_jwk(n, e, None), &verifier).unwrap();
                (plan, bound, unbound)
            })
            .collect();
        for test in &group.tests {
            let outcomes: Vec<_> = prepared
                .iter()
                .map(|(plan, bound, unbound)| {
                    let got = verifies(bound, alg, &test.msg, &test.sig);
                    assert_eq!(verifies(unbound, alg, &test.msg, &test.sig), got);
                    if test.result == TestResult::Valid {
                        assert_eq!(
                            bound.verify_with(Some(KID), rs, &test.msg, &test.sig),
                            KeyMatch::NoCandidateKey
                        );
                        assert!(!verifies(unbound, rs, &test.msg, &test.sig));
                    }
                    (*plan, got)
                })
                .collect();
            let expect = match (jose, test.result) {
                (true, _) => Expect::AsLabelled,
                (false, TestResult::Valid) => Expect::Rejected,
                (false, _) => Expect::Reference(reference_pss(alg, n, e, &test.msg, &test.sig)),
            };
            let label = (test.tc_id, test.comment.as_str(), test.result);
            judge(&mut tally, expect, &what, label, &outcomes);
        }
    }
    tally.finish(&file, set.number_of_tests)
}

/// RustCrypto's RSASSA-PSS with JOSE's parameters (MGF1 with the same hash, salt as long as
/// the digest; `rsa` 0.9 checks the salt length exactly).
fn reference_pss(alg: Algorithm, n: &[u8], e: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    use rsa::signature::Verifier as _;
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(n),
        rsa::BigUint::from_bytes_be(e),
    )
    .unwrap();
    let Ok(sig) = rsa::pss::Signature::try_from(sig) else {
        return false;
    };
    match alg {
        Algorithm::Ps256 => rsa::pss::VerifyingKey::<sha2::Sha256>::new(key)
            .verify(msg, &sig)
            .is_ok(),
        Algorithm::Ps384 => rsa::pss::VerifyingKey::<sha2::Sha384>::new(key)
            .verify(msg, &sig)
            .is_ok(),
        _ => rsa::pss::VerifyingKey::<sha2::Sha512>::new(key)
            .verify(msg, &sig)
            .is_ok(),
    }
}

#[test]
fn wycheproof_ps256() {
    use wycheproof::rsa_pss_verify::TestName::*;
    pss(RsaPss2048Sha256Mgf1SaltLen32);
    pss(RsaPss3072Sha256Mgf1SaltLen32);
    pss(RsaPss4096Sha256Mgf1SaltLen32);
}

#[test]
fn wycheproof_ps384() {
    use wycheproof::rsa_pss_verify::TestName::*;
    pss(RsaPss2048Sha384Mgf1SaltLen48);
    pss(RsaPss4096Sha384Mgf1SaltLen48);
}

#[test]
fn wycheproof_ps512() {
    use wycheproof::rsa_pss_verify::TestName::*;
    pss(RsaPss4096Sha512Mgf1SaltLen64);
}

/// Salt lengths and MGF hashes JOSE does not use: every signature made with them is rejected,
/// and the damaged ones get the answer `rsa` gives with JOSE's parameters.
#[test]
fn wycheproof_pss_other_parameters_are_rejected() {
    use wycheproof::rsa_pss_verify::TestName::*;
    for name in [
        RsaPss2048Sha256Mgf1SaltLen0,
        RsaPss2048Sha256Mgf1Sha1_20,
        RsaPss4096Sha512Mgf1SaltLen32,
        RsaPss2048Sha512Mgf1Sha256SaltLen32WithParams,
    ] {
        let t = pss(name);
        assert_eq!(t.cases(), t.non_jose + t.reference, "{name:?}");
        assert!(t.non_jose > 0, "{name:?}");
    }
}

/// Every combination of SHA-2 hash, MGF1 hash and salt length: the JOSE ones verify, the
/// others do not.
#[test]
fn wycheproof_pss_misc() {
    let t = pss(wycheproof::rsa_pss_verify::TestName::RsaPssmisc);
    assert_eq!(t.valid, 3, "one JOSE group per PS algorithm");
    assert!(t.non_jose > 0);
}

// ---------------------------------------------------------------------------------------------
// ECDSA in JOSE's fixed-width r || s: ES256, ES384, ES512

fn ecdsa(name: wycheproof::ecdsa::TestName, alg: Algorithm, expect: Expect) -> Tally {
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let (crv, width) = match alg {
        Algorithm::Es256 => ("P-256", 32),
        Algorithm::Es384 => ("P-384", 48),
        _ => ("P-521", 66),
    };
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let point = &group.key.key;
        assert_eq!(point.len(), 1 + 2 * width, "{file}: uncompressed point");
        assert_eq!(point[0], 4);
        let jwk = json!({
            "kty": "EC",
            "crv": crv,
            "kid": KID,
            "use": "sig",
            "alg": alg.name(),
            "x": b64(&point[1..=width]),
            "y": b64(&point[1 + width..]),
        });
        let prepared: Vec<_> = plans()
            .into_iter()
            .map(|(plan, verifier)| (plan, key_set(jwk.clone(), &verifier).unwrap()))
            .collect();
        for test in &group.tests {
            let outcomes: Vec<_> = prepared
                .iter()
                .map(|(plan, keys)| (*plan, verifies(keys, alg, &test.msg, &test.sig)))
                .collect();
            let label = (test.tc_id, test.comment.as_str(), test.result);
            judge(&mut tally, expect, &file, label, &outcomes);
        }
    }
    tally.finish(&file, set.number_of_tests)
}

#[test]
fn wycheproof_es256() {
    use wycheproof::ecdsa::TestName::*;
    ecdsa(
        EcdsaSecp256r1Sha256P1363,
        Algorithm::Es256,
        Expect::AsLabelled,
    );
}

#[test]
fn wycheproof_es384() {
    use wycheproof::ecdsa::TestName::*;
    ecdsa(
        EcdsaSecp384r1Sha384P1363,
        Algorithm::Es384,
        Expect::AsLabelled,
    );
}

#[test]
fn wycheproof_es512() {
    use wycheproof::ecdsa::TestName::*;
    ecdsa(
        EcdsaSecp521r1Sha512P1363,
        Algorithm::Es512,
        Expect::AsLabelled,
    );
}

/// DER signatures (JOSE is raw `r || s`) and hashes other than the curve's JOSE hash never
/// verify, valid or not.
#[test]
fn wycheproof_ecdsa_der_and_other_hashes_are_rejected() {
    use wycheproof::ecdsa::TestName::*;
    for (name, alg) in [
        (EcdsaSecp256r1Sha256, Algorithm::Es256),
        (EcdsaSecp384r1Sha384, Algorithm::Es384),
        (EcdsaSecp521r1Sha512, Algorithm::Es512),
        (EcdsaSecp256r1Sha512P1363, Algorithm::Es256),
        (EcdsaSecp384r1Sha512P1363, Algorithm::Es384),
    ] {
        let t = ecdsa(name, alg, Expect::Rejected);
        assert_eq!(t.cases(), t.non_jose, "{name:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// EdDSA (Ed25519, RFC 8037)

#[test]
fn wycheproof_eddsa() {
    let name = wycheproof::eddsa::TestName::Ed25519;
    let set = wycheproof::eddsa::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let jwk = json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": KID,
            "use": "sig",
            "alg": "EdDSA",
            "x": b64(&group.key.pk),
        });
        let prepared: Vec<_> = plans()
            .into_iter()
            .map(|(plan, verifier)| (plan, key_set(jwk.clone(), &verifier).unwrap()))
            .collect();
        // The same key as a DPoP proof carries it: no fixed-base tables, the variable-base path.
        let verifier = Verifier::default();
        let proof_key = jwks::parse_public_jwk(&jwk, &verifier).unwrap();
        for test in &group.tests {
            let mut outcomes: Vec<_> = prepared
                .iter()
                .map(|(plan, keys)| {
                    (
                        *plan,
                        verifies(keys, Algorithm::EdDsa, &test.msg, &test.sig),
                    )
                })
                .collect();
            outcomes.push((
                "proof jwk",
                verifier.verify(
                    Algorithm::EdDsa,
                    &proof_key.key,
                    &Message::new(&test.msg),
                    &test.sig,
                ),
            ));
            let label = (test.tc_id, test.comment.as_str(), test.result);
            judge(&mut tally, Expect::AsLabelled, &file, label, &outcomes);
        }
    }
    tally.finish(&file, set.number_of_tests);
}

// ---------------------------------------------------------------------------------------------
// HMAC: HS256, HS384, HS512 (a configured `oct` key, full-length tags)

fn hmac(name: wycheproof::mac::TestName, alg: Algorithm) -> Tally {
    let set = wycheproof::mac::TestSet::load(name).unwrap();
    let file = format!("{name:?}");
    let h_len = alg.hash().len();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        // JWS carries the whole HMAC output (RFC 7518 section 3.2): a truncated tag never
        // verifies.
        let expect = if group.tag_size == 8 * h_len {
            Expect::AsLabelled
        } else {
            Expect::Rejected
        };
        for test in &group.tests {
            let what = format!(
                "{file} ({}-byte key, {}-bit tag)",
                test.key.len(),
                group.tag_size
            );
            let doc = json!({ "keys": [{
                "kty": "oct",
                "kid": KID,
                "use": "sig",
                "alg": alg.name(),
                "k": b64(&test.key),
            }]})
            .to_string();
            if test.key.len() < h_len {
                // RFC 7518 section 3.2: a key at least as long as the hash; shorter ones are
                // refused when the configuration is read.
                assert_eq!(
                    PublicKey::secret(&test.key, &[alg]).err(),
                    Some(KeyError::SecretTooShort),
                    "{what}"
                );
                for (plan, verifier) in plans() {
                    assert!(
                        KeySet::parse_local(&doc, &verifier).is_err(),
                        "{what} [{plan}]: a short secret must be refused"
                    );
                }
                tally.refused_key += 1;
                continue;
            }
            let outcomes: Vec<_> = plans()
                .into_iter()
                .map(|(plan, verifier)| {
                    let keys = KeySet::parse_local(&doc, &verifier).unwrap().keys;
                    (plan, verifies(&keys, alg, &test.msg, &test.tag))
                })
                .collect();
            let label = (test.tc_id, test.comment.as_str(), test.result);
            judge(&mut tally, expect, &what, label, &outcomes);
        }
    }
    tally.finish(&file, set.number_of_tests)
}

#[test]
fn wycheproof_hs256() {
    hmac(wycheproof::mac::TestName::HmacSha256, Algorithm::Hs256);
}

#[test]
fn wycheproof_hs384() {
    hmac(wycheproof::mac::TestName::HmacSha384, Algorithm::Hs384);
}

#[test]
fn wycheproof_hs512() {
    hmac(wycheproof::mac::TestName::HmacSha512, Algorithm::Hs512);
}

// ---------------------------------------------------------------------------------------------
// The own arithmetic directly (moved from tests/fastpath.rs).

fn exponent(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0_u32, |acc, &b| (acc << 8) | u32::from(b))
}

#[test]
fn wycheproof_own_rsa_pkcs1v15_sha256_2048() {
    use wycheproof::rsa_pkcs1_verify::{TestName, TestSet};
    let set = TestSet::load(TestName::Rsa2048Sha256).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        let key = RsaVerifyingKey::new(&group.key.n, exponent(&group.key.e)).unwrap();
        for test in &group.tests {
            let got = key.verify_pkcs1v15_sha256(&test.msg, &test.sig);
            match test.result {
                TestResult::Valid => assert!(got, "tcId {} should verify", test.tc_id),
                TestResult::Invalid => {
                    assert!(
                        !got,
                        "tcId {} ({}) must not verify",
                        test.tc_id, test.comment
                    )
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} vectors");
    println!("wycheproof own RSA 2048 SHA-256: {checked} vectors");
}

#[test]
fn wycheproof_own_ecdsa_p384_sha384_p1363() {
    use wycheproof::ecdsa::{TestName, TestSet};
    let set = TestSet::load(TestName::EcdsaSecp384r1Sha384P1363).unwrap();
    let mut checked = 0;
    for group in &set.test_groups {
        let point = &group.key.key;
        assert_eq!(point.len(), 97);
        let key = P384VerifyingKey::from_coordinates(&point[1..49], &point[49..]).unwrap();
        let stock = p384::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
        for test in &group.tests {
            let got = key.verify(&test.msg, &test.sig);
            match test.result {
                TestResult::Valid => assert!(got, "tcId {} should verify", test.tc_id),
                TestResult::Invalid => {
                    assert!(
                        !got,
                        "tcId {} ({}) must not verify",
                        test.tc_id, test.comment
                    )
                }
                TestResult::Acceptable => {}
            }
            let reference = p384::ecdsa::Signature::from_slice(&test.sig)
                .is_ok_and(|sig| stock.verify(&test.msg, &sig).is_ok());
            assert_eq!(got, reference, "tcId {} disagrees with p384", test.tc_id);
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} vectors");
    println!("wycheproof own ECDSA P-384 SHA-384 P1363: {checked} vectors");
}
