//! Every algorithm on every plan, signed by RustCrypto (someone else's signer), through the
//! stand-in host where the plan gives the host an algorithm.

use std::rc::Rc;
use std::sync::OnceLock;

use ed25519_dalek::Signer as _;
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use sha2::{Sha256, Sha384, Sha512};

use super::testing::RustCryptoHost;
use super::*;

const INPUT: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0";

fn plans() -> Vec<(&'static str, Verifier)> {
    vec![
        (
            "auto+host",
            Verifier::new(Plan::new(CryptoMode::Auto, true), Rc::new(RustCryptoHost)),
        ),
        (
            "auto-no-host",
            Verifier::new(Plan::new(CryptoMode::Auto, false), Rc::new(NoHostCrypto)),
        ),
        (
            "wasm",
            Verifier::new(Plan::new(CryptoMode::Wasm, true), Rc::new(RustCryptoHost)),
        ),
        (
            "host",
            Verifier::new(Plan::new(CryptoMode::Host, true), Rc::new(RustCryptoHost)),
        ),
    ]
}

fn rsa_key(bits: usize) -> &'static RsaPrivateKey {
    static KEYS: OnceLock<[RsaPrivateKey; 3]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let mut rng = rsa::rand_core::OsRng;
        [2048, 3072, 4096].map(|bits| RsaPrivateKey::new(&mut rng, bits).unwrap())
    });
    &keys[(bits - 2048) / 1024]
}

/// A signature by RustCrypto, and the verifying key prepared for `verifier`'s plan.
fn signed(alg: Algorithm, verifier: &Verifier, rsa_bits: usize) -> (PublicKey, Vec<u8>) {
    use Algorithm::*;
    let plan = verifier.plan();
    let mut rng = rsa::rand_core::OsRng;
    match alg {
        Rs256 | Rs384 | Rs512 | Ps256 | Ps384 | Ps512 => {
            let private = rsa_key(rsa_bits).clone();
            let public = PublicKey::rsa(
                &private.n().to_bytes_be(),
                &private.e().to_bytes_be(),
                &[alg],
                plan,
            )
            .unwrap();
            let signature = match alg {
                Rs256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(private)
                    .sign(INPUT)
                    .to_vec(),
                Rs384 => rsa::pkcs1v15::SigningKey::<Sha384>::new(private)
                    .sign(INPUT)
                    .to_vec(),
                Rs512 => rsa::pkcs1v15::SigningKey::<Sha512>::new(private)
                    .sign(INPUT)
                    .to_vec(),
                // The pss signing key's salt defaults to the digest length (RFC 7518 3.5).
                Ps256 => rsa::pss::SigningKey::<Sha256>::new(private)
                    .sign_with_rng(&mut rng, INPUT)
                    .to_vec(),
                Ps384 => rsa::pss::SigningKey::<Sha384>::new(private)
                    .sign_with_rng(&mut rng, INPUT)
                    .to_vec(),
                _ => rsa::pss::SigningKey::<Sha512>::new(private)
                    .sign_with_rng(&mut rng, INPUT)
                    .to_vec(),
            };
            (public, signature)
        }
        Es256 => {
            let signing = p256::ecdsa::SigningKey::random(&mut rng);
            let point = signing.verifying_key().to_encoded_point(false);
            let public =
                PublicKey::ec(Curve::P256, point.x().unwrap(), point.y().unwrap(), plan).unwrap();
            let signature: p256::ecdsa::Signature = signing.sign(INPUT);
            (public, signature.to_bytes().to_vec())
        }
        Es384 => {
            let signing = p384::ecdsa::SigningKey::random(&mut rng);
            let point = signing.verifying_key().to_encoded_point(false);
            let public =
                PublicKey::ec(Curve::P384, point.x().unwrap(), point.y().unwrap(), plan).unwrap();
            let signature: p384::ecdsa::Signature = signing.sign(INPUT);
            (public, signature.to_bytes().to_vec())
        }
        Es512 => {
            let signing = p521::ecdsa::SigningKey::random(&mut rng);
            let point = p521::ecdsa::VerifyingKey::from(&signing).to_encoded_point(false);
            let public =
                PublicKey::ec(Curve::P521, point.x().unwrap(), point.y().unwrap(), plan).unwrap();
            let signature: p521::ecdsa::Signature = signing.sign(INPUT);
            (public, signature.to_bytes().to_vec())
        }
        EdDsa => {
            let mut seed = [0_u8; 32];
            rsa::rand_core::RngCore::fill_bytes(&mut rng, &mut seed);
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public =
                PublicKey::ed25519(signing.verifying_key().as_bytes(), Preparation::Tables)
                    .unwrap();
            (public, signing.sign(INPUT).to_bytes().to_vec())
        }
        Hs256 | Hs384 | Hs512 => {
            use hmac::Mac as _;
            let secret = [0x5a_u8; 64];
            let public = PublicKey::secret(&secret, &[alg]).unwrap();
            let tag = match alg {
                Hs256 => hmac::Hmac::<Sha256>::new_from_slice(&secret)
                    .unwrap()
                    .chain_update(INPUT)
                    .finalize()
                    .into_bytes()
                    .to_vec(),
                Hs384 => hmac::Hmac::<Sha384>::new_from_slice(&secret)
                    .unwrap()
                    .chain_update(INPUT)
                    .finalize()
                    .into_bytes()
                    .to_vec(),
                _ => hmac::Hmac::<Sha512>::new_from_slice(&secret)
                    .unwrap()
                    .chain_update(INPUT)
                    .finalize()
                    .into_bytes()
                    .to_vec(),
            };
            (public, tag)
        }
    }
}

fn check(verifier: &Verifier, alg: Algorithm, key: &PublicKey, text: &[u8], sig: &[u8]) -> bool {
    verifier.verify(alg, key, &Message::new(text), sig)
}

#[test]
fn every_algorithm_verifies_and_refuses_tampering_on_every_plan() {
    for (name, verifier) in plans() {
        for alg in Algorithm::ALL {
            let supported = verifier.plan().backend(alg).is_some();
            let (key, signature) = signed(alg, &verifier, 2048);
            assert_eq!(
                check(&verifier, alg, &key, INPUT, &signature),
                supported,
                "{name} {alg}: a valid signature"
            );
            for position in [0, signature.len() / 2, signature.len() - 1] {
                let mut flipped = signature.clone();
                flipped[position] ^= 0x01;
                assert!(
                    !check(&verifier, alg, &key, INPUT, &flipped),
                    "{name} {alg}: bit flip at {position}"
                );
            }
            let mut other = INPUT.to_vec();
            other[5] ^= 0x20;
            assert!(
                !check(&verifier, alg, &key, &other, &signature),
                "{name} {alg}: another message"
            );
            assert!(
                !check(&verifier, alg, &key, INPUT, &signature[1..]),
                "{name} {alg}: short"
            );
            let longer = [signature.as_slice(), &[0]].concat();
            assert!(
                !check(&verifier, alg, &key, INPUT, &longer),
                "{name} {alg}: long"
            );
            let leading = [&[0], signature.as_slice()].concat();
            assert!(
                !check(&verifier, alg, &key, INPUT, &leading),
                "{name} {alg}: leading zero"
            );
            assert!(
                !check(&verifier, alg, &key, INPUT, &[]),
                "{name} {alg}: empty"
            );
            let zeros = vec![0_u8; signature.len()];
            assert!(
                !check(&verifier, alg, &key, INPUT, &zeros),
                "{name} {alg}: all zero"
            );
            let ones = vec![0xff_u8; signature.len()];
            assert!(
                !check(&verifier, alg, &key, INPUT, &ones),
                "{name} {alg}: all ones"
            );
        }
    }
}

#[test]
fn larger_rsa_keys_on_every_plan() {
    for (name, verifier) in plans() {
        for bits in [3072, 4096] {
            for alg in [
                Algorithm::Rs256,
                Algorithm::Rs512,
                Algorithm::Ps256,
                Algorithm::Ps512,
            ] {
                let supported = verifier.plan().backend(alg).is_some();
                let (key, signature) = signed(alg, &verifier, bits);
                assert_eq!(signature.len(), bits / 8);
                assert_eq!(
                    check(&verifier, alg, &key, INPUT, &signature),
                    supported,
                    "{name} {alg} {bits}"
                );
            }
        }
    }
}

#[test]
fn a_key_never_verifies_another_family_or_curve() {
    for (name, verifier) in plans() {
        let signed_all: Vec<_> = Algorithm::ALL
            .into_iter()
            .map(|alg| (alg, signed(alg, &verifier, 2048)))
            .collect();
        for (alg, (_, signature)) in &signed_all {
            for (key_alg, (key, _)) in &signed_all {
                if key.kind() != alg.key_kind() {
                    assert!(
                        !check(&verifier, *alg, key, INPUT, signature),
                        "{name}: {alg} with a {key_alg} key"
                    );
                }
            }
        }
    }
}

#[test]
fn pkcs1_and_pss_are_not_interchangeable() {
    let verifier = Verifier::new(Plan::new(CryptoMode::Wasm, false), Rc::new(NoHostCrypto));
    let private = rsa_key(2048).clone();
    let key = PublicKey::rsa(
        &private.n().to_bytes_be(),
        &private.e().to_bytes_be(),
        &Algorithm::ALL,
        verifier.plan(),
    )
    .unwrap();
    let pkcs1 = rsa::pkcs1v15::SigningKey::<Sha256>::new(private.clone())
        .sign(INPUT)
        .to_vec();
    let pss = rsa::pss::SigningKey::<Sha256>::new(private.clone())
        .sign_with_rng(&mut rsa::rand_core::OsRng, INPUT)
        .to_vec();
    assert!(check(&verifier, Algorithm::Rs256, &key, INPUT, &pkcs1));
    assert!(check(&verifier, Algorithm::Ps256, &key, INPUT, &pss));
    assert!(!check(&verifier, Algorithm::Ps256, &key, INPUT, &pkcs1));
    assert!(!check(&verifier, Algorithm::Rs256, &key, INPUT, &pss));
    // Another hash with the same key.
    assert!(!check(&verifier, Algorithm::Rs384, &key, INPUT, &pkcs1));
    assert!(!check(&verifier, Algorithm::Ps384, &key, INPUT, &pss));
    // PSS with a salt length other than the digest length (RFC 7518 section 3.5).
    for salt in [0, 20, 31, 33] {
        let other = rsa::pss::SigningKey::<Sha256>::new_with_salt_len(private.clone(), salt)
            .sign_with_rng(&mut rsa::rand_core::OsRng, INPUT)
            .to_vec();
        assert!(
            !check(&verifier, Algorithm::Ps256, &key, INPUT, &other),
            "salt {salt}"
        );
    }
}

#[test]
fn keys_are_validated_whatever_the_backend() {
    for (name, verifier) in plans() {
        let plan = verifier.plan();
        // A point off the curve, for each curve.
        for curve in [Curve::P256, Curve::P384, Curve::P521] {
            let width = curve.coordinate_len();
            let x = vec![1_u8; width];
            let y = vec![2_u8; width];
            assert_eq!(
                PublicKey::ec(curve, &x, &y, plan).unwrap_err(),
                KeyError::EcPointInvalid,
                "{name} {curve:?}"
            );
            let longer = [&[0_u8][..], &x].concat();
            assert_eq!(
                PublicKey::ec(curve, &longer, &y, plan).unwrap_err(),
                KeyError::EcCoordinateLength,
                "{name} {curve:?}"
            );
            assert_eq!(
                PublicKey::ec(curve, &[], &y, plan).unwrap_err(),
                KeyError::EcCoordinateLength,
                "{name} {curve:?}"
            );
        }
        let private = rsa_key(2048);
        let n = private.n().to_bytes_be();
        assert_eq!(
            PublicKey::rsa(&n, &[0x01, 0x00, 0x03], &[Algorithm::Rs256], plan).unwrap_err(),
            KeyError::RsaExponentNotAllowed
        );
        assert_eq!(
            PublicKey::rsa(&n[..128], &[1, 0, 1], &[Algorithm::Rs256], plan).unwrap_err(),
            KeyError::RsaModulusTooShort
        );
        let mut even = n.clone();
        *even.last_mut().unwrap() &= 0xfe;
        assert_eq!(
            PublicKey::rsa(&even, &[1, 0, 1], &[Algorithm::Rs256], plan).unwrap_err(),
            KeyError::RsaInvalid
        );
    }
    // Ed25519: the identity (small order) and a non-canonical y (p + 1, i.e. y = 1 again).
    let mut identity = [0_u8; 32];
    identity[0] = 1;
    assert_eq!(
        PublicKey::ed25519(&identity, Preparation::Plain).unwrap_err(),
        KeyError::Ed25519Invalid
    );
    let mut non_canonical = [0xff_u8; 32];
    non_canonical[0] = 0xee;
    non_canonical[31] = 0x7f;
    assert_eq!(
        PublicKey::ed25519(&non_canonical, Preparation::Tables).unwrap_err(),
        KeyError::Ed25519Invalid
    );
    assert_eq!(
        PublicKey::ed25519(&[9; 31], Preparation::Plain).unwrap_err(),
        KeyError::Ed25519Length
    );
    // HMAC secrets at least as long as the hash.
    assert_eq!(
        PublicKey::secret(&[1; 47], &[Algorithm::Hs256, Algorithm::Hs384]).unwrap_err(),
        KeyError::SecretTooShort
    );
    assert!(PublicKey::secret(&[1; 48], &[Algorithm::Hs384]).is_ok());
}

#[test]
fn ecdsa_scalars_equal_to_the_group_order_are_refused() {
    // r or s equal to the group order n, for each curve.
    let orders: [(Algorithm, &str); 3] = [
        (
            Algorithm::Es256,
            "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
        ),
        (
            Algorithm::Es384,
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
        ),
        (
            Algorithm::Es512,
            "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
        ),
    ];
    for (name, verifier) in plans() {
        for (alg, order_hex) in orders {
            if verifier.plan().backend(alg).is_none() {
                continue;
            }
            let (key, signature) = signed(alg, &verifier, 2048);
            let order: Vec<u8> = (0..order_hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&order_hex[i..i + 2], 16).unwrap())
                .collect();
            let width = signature.len() / 2;
            let mut r_is_n = order.clone();
            r_is_n.extend_from_slice(&signature[width..]);
            assert!(
                !check(&verifier, alg, &key, INPUT, &r_is_n),
                "{name} {alg}: r = n"
            );
            let mut s_is_n = signature[..width].to_vec();
            s_is_n.extend_from_slice(&order);
            assert!(
                !check(&verifier, alg, &key, INPUT, &s_is_n),
                "{name} {alg}: s = n"
            );
        }
    }
}

#[test]
fn eddsa_refuses_s_at_or_above_the_group_order() {
    let verifier = Verifier::default();
    let signing = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let signature = signing.sign(INPUT).to_bytes();
    // S + L is the same scalar mod L: a malleated signature that strict verification refuses.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10,
    ];
    let mut malleated = signature;
    let mut carry = 0_u16;
    for (byte, l) in malleated[32..].iter_mut().zip(L) {
        let sum = u16::from(*byte) + u16::from(l) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    for preparation in [Preparation::Tables, Preparation::Plain] {
        let key = PublicKey::ed25519(signing.verifying_key().as_bytes(), preparation).unwrap();
        assert!(check(&verifier, Algorithm::EdDsa, &key, INPUT, &signature));
        assert!(!check(&verifier, Algorithm::EdDsa, &key, INPUT, &malleated));
    }
}

/// Both forms of an Ed25519 key (the fixed-base tables of a key set's key, the plain point of
/// a DPoP proof's) agree with ed25519-dalek's `verify_strict`, someone else's verifier, on
/// valid signatures, tampered ones, and signatures whose R is a point of small order.
#[test]
fn eddsa_tables_and_plain_agree_with_verify_strict() {
    use curve25519_dalek::constants::EIGHT_TORSION;
    let verifier = Verifier::default();
    let mut rng = rsa::rand_core::OsRng;
    let mut checked = 0;
    for round in 0..64_u8 {
        let mut seed = [0_u8; 32];
        rsa::rand_core::RngCore::fill_bytes(&mut rng, &mut seed);
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = signing.verifying_key();
        let message = [INPUT, &[round]].concat();
        let valid = signing.sign(&message).to_bytes();
        let mut cases = vec![valid];
        for position in [0, 31, 32, 63, usize::from(round) % 64] {
            let mut tampered = valid;
            tampered[position] ^= 1 << (round % 8);
            cases.push(tampered);
        }
        // R of small order with S = 0 (identity-based forgeries of weak verifiers).
        let mut small = [0_u8; 64];
        small[..32].copy_from_slice(EIGHT_TORSION[usize::from(round) % 8].compress().as_bytes());
        cases.push(small);
        let keys = [Preparation::Tables, Preparation::Plain]
            .map(|preparation| PublicKey::ed25519(public.as_bytes(), preparation).unwrap());
        for case in cases {
            let expected = public
                .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&case))
                .is_ok();
            for key in &keys {
                assert_eq!(
                    check(&verifier, Algorithm::EdDsa, key, &message, &case),
                    expected,
                    "round {round}: {key:?}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 64 * 7 * 2);
}

#[test]
fn the_host_is_asked_only_for_its_algorithms_and_failures_are_false() {
    use std::cell::Cell;
    struct Counting(Cell<u32>);
    impl HostCrypto for Counting {
        fn verify_signature(&self, arguments: &[u8]) -> Result<Vec<u8>, host::HostCallError> {
            self.0.set(self.0.get() + 1);
            RustCryptoHost.verify_signature(arguments)
        }
    }
    let host = Rc::new(Counting(Cell::new(0)));
    let verifier = Verifier::new(Plan::new(CryptoMode::Auto, true), host.clone());
    for alg in Algorithm::ALL {
        let before = host.0.get();
        let (key, signature) = signed(alg, &verifier, 2048);
        assert!(check(&verifier, alg, &key, INPUT, &signature), "{alg}");
        let expected = u32::from(verifier.plan().backend(alg) == Some(Backend::Host));
        assert_eq!(host.0.get() - before, expected, "{alg}");
    }
    // A host that fails every call after the plan was made: every host algorithm is false.
    struct Failing;
    impl HostCrypto for Failing {
        fn verify_signature(&self, _: &[u8]) -> Result<Vec<u8>, host::HostCallError> {
            Err(host::HostCallError::Failed)
        }
    }
    let failing = Verifier::new(Plan::new(CryptoMode::Auto, true), Rc::new(Failing));
    let (key, signature) = signed(Algorithm::Rs256, &failing, 2048);
    assert!(!check(&failing, Algorithm::Rs256, &key, INPUT, &signature));
}
