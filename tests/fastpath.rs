//! The fast verification paths (src/verify/own/) against RustCrypto, differentially. (The
//! Wycheproof vectors, for these paths and for every other algorithm, are in
//! tests/wycheproof.rs.)
//!
//! - Differential: at least 100,000 signatures, valid and tampered, each verified by the fast
//!   path and by the stock crate (`rsa` 0.9 `pkcs1v15::VerifyingKey<Sha256>`, `p384` 0.13
//!   `ecdsa::VerifyingKey`): the two must agree on every one, and the valid ones must verify.
//!   A few fixed keys sign a few hundred messages; each signature then goes through many
//!   deterministic mutations (bit flips, byte edits, truncation, extension, other messages,
//!   r/s swaps, s -> n - s, values at and around the group order or modulus).
//! - The raw RSA operation `s^e mod n` against `BigUint::modpow` for odd moduli of several
//!   sizes.
//!
//! `FASTPATH_CASES` overrides the number of differential cases (default 100,000).

// Test code: a panic is a failed test.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use jwt_authn_wasm::verify::own::p384::P384VerifyingKey;
use jwt_authn_wasm::verify::own::rsa::RsaVerifyingKey;
use p384::ecdsa::signature::{Signer as _, Verifier as _};
use rsa::rand_core::{OsRng, RngCore as _};
use rsa::signature::SignatureEncoding as _;
use rsa::traits::PublicKeyParts as _;
use sha2::Sha256;

/// P-384 group order n, big-endian.
const P384_N: [u8; 48] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

fn cases() -> usize {
    std::env::var("FASTPATH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn exponent(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(0_u32, |acc, &b| (acc << 8) | u32::from(b))
}

/// Deterministic mutations of a signature; index 0 is the signature itself.
fn mutate(sig: &[u8], index: usize, rng_word: u32, modulus: &[u8]) -> Vec<u8> {
    let mut out = sig.to_vec();
    let len = out.len();
    let pos = rng_word as usize % len;
    match index % 12 {
        0 => {}
        1 => out[pos] ^= 1 << (rng_word >> 29),
        2 => out[pos] = out[pos].wrapping_add(1),
        3 => out[len - 1] ^= 0x01,
        4 => out[0] ^= 0x80,
        5 => {
            out.pop();
        }
        6 => out.push(0),
        7 => out.insert(0, 0),
        8 => out = modulus.to_vec(),
        9 => {
            // modulus - 1, modulus + 1 (as far as the length allows)
            out = modulus.to_vec();
            if let Some(last) = out.last_mut() {
                *last = last.wrapping_add(if rng_word & 1 == 0 { 0xff } else { 1 });
            }
        }
        10 => out.iter_mut().for_each(|b| *b = 0),
        _ => out.iter_mut().for_each(|b| *b = 0xff),
    }
    out
}

#[test]
fn differential_rs256_against_rsa_crate() {
    let total = cases() / 2;
    let keys: Vec<rsa::RsaPrivateKey> = (0..2)
        .map(|_| rsa::RsaPrivateKey::new(&mut OsRng, 2048).unwrap())
        .collect();
    let mut done = 0_usize;
    let mut valid = 0_usize;
    let mut message_index = 0_u64;
    while done < total {
        for private in &keys {
            let public = private.to_public_key();
            let fast = RsaVerifyingKey::new(
                &public.n().to_bytes_be(),
                exponent(&public.e().to_bytes_be()),
            )
            .unwrap();
            let stock = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public.clone());
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(private.clone());
            message_index += 1;
            let message = format!("eyJhbGciOiJSUzI1NiJ9.message-{message_index}");
            let sig = signer.sign(message.as_bytes()).to_vec();
            let modulus = public.n().to_bytes_be();
            // Many mutations per (slow) signature.
            for index in 0..240 {
                let word = OsRng.next_u32();
                let candidate = mutate(&sig, index, word, &modulus);
                let msg = if index % 24 == 13 {
                    format!("{message}x")
                } else {
                    message.clone()
                };
                let got = fast.verify_pkcs1v15_sha256(msg.as_bytes(), &candidate);
                let reference = rsa::pkcs1v15::Signature::try_from(candidate.as_slice())
                    .is_ok_and(|s| stock.verify(msg.as_bytes(), &s).is_ok());
                assert_eq!(
                    got, reference,
                    "RS256 case {index}: fast {got}, rsa {reference}"
                );
                if index == 0 {
                    assert!(got);
                }
                valid += usize::from(got);
                done += 1;
            }
        }
    }
    println!("RS256 differential: {done} cases, {valid} valid");
}

#[test]
fn differential_es384_against_p384_crate() {
    let total = cases() / 2;
    let keys: Vec<p384::ecdsa::SigningKey> = (0..3)
        .map(|_| p384::ecdsa::SigningKey::random(&mut OsRng))
        .collect();
    let prepared: Vec<(P384VerifyingKey, p384::ecdsa::VerifyingKey)> = keys
        .iter()
        .map(|k| {
            let point = k.verifying_key().to_encoded_point(false);
            (
                P384VerifyingKey::from_coordinates(point.x().unwrap(), point.y().unwrap()).unwrap(),
                *k.verifying_key(),
            )
        })
        .collect();
    let mut order = P384_N.to_vec();
    order.extend_from_slice(&P384_N);
    let mut done = 0_usize;
    let mut valid = 0_usize;
    let mut message_index = 0_u64;
    while done < total {
        for (signer, (fast, stock)) in keys.iter().zip(&prepared) {
            message_index += 1;
            let message = format!("eyJhbGciOiJFUzM4NCJ9.message-{message_index}");
            let sig: p384::ecdsa::Signature = signer.sign(message.as_bytes());
            let sig = sig.to_bytes().to_vec();
            for index in 0..40 {
                let word = OsRng.next_u32();
                let mut candidate = mutate(&sig, index, word, &order);
                match index {
                    // s -> n - s: also a valid signature (ECDSA malleability), accepted by both.
                    12 => {
                        let s = p384::Scalar::from_slice(&sig[48..]).unwrap();
                        candidate[48..].copy_from_slice(&(-s).to_bytes());
                    }
                    // r and s swapped.
                    13 => {
                        candidate[..48].copy_from_slice(&sig[48..]);
                        candidate[48..].copy_from_slice(&sig[..48]);
                    }
                    // Another key's valid signature shape: wrong key.
                    14 => candidate = sig.clone(),
                    _ => {}
                }
                let (fast, stock) = if index == 14 {
                    let other = &prepared[(message_index as usize) % prepared.len()];
                    (&other.0, &other.1)
                } else {
                    (fast, stock)
                };
                let msg = if index % 20 == 15 {
                    format!("{message}x")
                } else {
                    message.clone()
                };
                let got = fast.verify(msg.as_bytes(), &candidate);
                let reference = p384::ecdsa::Signature::from_slice(&candidate)
                    .is_ok_and(|s| stock.verify(msg.as_bytes(), &s).is_ok());
                assert_eq!(
                    got, reference,
                    "ES384 case {index}: fast {got}, p384 {reference}"
                );
                if index == 0 || index == 12 {
                    assert!(got);
                }
                valid += usize::from(got);
                done += 1;
            }
        }
    }
    println!("ES384 differential: {done} cases, {valid} valid");
}

#[test]
fn public_op_matches_bigint_modpow_on_random_inputs() {
    // The raw RSA operation on random values below the modulus, for odd moduli of several sizes
    // (not only valid RSA moduli), against num-bigint's modpow.
    for (bytes, e) in [(256, 65_537), (384, 3), (512, 65_537), (300, 65_537)] {
        let mut n = vec![0_u8; bytes];
        OsRng.fill_bytes(&mut n);
        n[0] |= 0x80;
        n[bytes - 1] |= 1;
        let key = RsaVerifyingKey::new(&n, e).unwrap();
        let big_n = rsa::BigUint::from_bytes_be(&n);
        for _ in 0..200 {
            let mut s = vec![0_u8; bytes];
            OsRng.fill_bytes(&mut s);
            s[0] &= 0x7f;
            let expected = rsa::BigUint::from_bytes_be(&s).modpow(&rsa::BigUint::from(e), &big_n);
            let mut expected = expected.to_bytes_be();
            while expected.len() < bytes {
                expected.insert(0, 0);
            }
            assert_eq!(key.public_op(&s).unwrap(), expected);
        }
    }
}
