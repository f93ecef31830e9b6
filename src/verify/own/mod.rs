//! Our own signature arithmetic, tuned for running inside V8 (wasm32), with per-key
//! precomputation.
//!
//! - [`rsa`]: RSASSA-PKCS1-v1_5 and RSASSA-PSS verification with SHA-256/384/512 on 28-bit
//!   limbs (carry-free column sums) with the Montgomery constants of each modulus computed
//!   once, when the key set is parsed.
//! - [`p384`]: ECDSA P-384 / SHA-384 verification with fixed-base signed-window tables for the
//!   generator (once per VM) and for each public key (once per key-set generation), so a
//!   verification needs no point doubling; the field arithmetic is `fe384`'s (28-bit limbs).
//!
//! All of it is variable-time: it only ever handles public keys, public signatures and public
//! messages. Both are checked against RustCrypto's `rsa` and `p384` crates and against the
//! Wycheproof vectors in `tests/wycheproof.rs`.

mod fe384;
pub mod p384;
pub mod rsa;

/// Bits per limb in both the RSA and the P-384 arithmetic.
pub(crate) const LIMB_BITS: u32 = 28;

/// Packs big-endian `bytes` into little-endian 28-bit `limbs` (bits beyond `28 * limbs.len()`
/// are dropped; callers check lengths first).
pub(crate) fn pack_be(bytes: &[u8], limbs: &mut [u64]) {
    let mask = (1_u64 << LIMB_BITS) - 1;
    let mut acc = 0_u64;
    let mut acc_bits = 0_u32;
    let mut out = limbs.iter_mut();
    for &byte in bytes.iter().rev() {
        acc |= u64::from(byte) << acc_bits;
        acc_bits += 8;
        if acc_bits >= LIMB_BITS {
            if let Some(limb) = out.next() {
                *limb = acc & mask;
            }
            acc >>= LIMB_BITS;
            acc_bits -= LIMB_BITS;
        }
    }
    if let Some(limb) = out.next() {
        *limb = acc;
    }
}

/// The inverse of [`pack_be`]: the low `bytes.len()` bytes of the 28-bit `limbs`, big-endian
/// (missing limbs read as zero).
pub(crate) fn unpack_be(limbs: &[u64], bytes: &mut [u8]) {
    let mut acc = 0_u64;
    let mut acc_bits = 0_u32;
    let mut limbs = limbs.iter();
    for byte in bytes.iter_mut().rev() {
        if acc_bits < 8 {
            acc |= limbs.next().copied().unwrap_or(0) << acc_bits;
            acc_bits += LIMB_BITS;
        }
        *byte = acc as u8;
        acc >>= 8;
        acc_bits -= 8;
    }
}

/// `sum x[i] * y[i]` over equal-length slices of limbs (at most 256 products below 2^56),
/// eight products per step.
#[inline(always)]
pub(crate) fn dot(mut x: &[u64], mut y: &[u64]) -> u64 {
    let mut t = 0_u64;
    while let (Some((p, x_rest)), Some((q, y_rest))) =
        (x.split_first_chunk::<8>(), y.split_first_chunk::<8>())
    {
        t += ((p[0] * q[0] + p[1] * q[1]) + (p[2] * q[2] + p[3] * q[3]))
            + ((p[4] * q[4] + p[5] * q[5]) + (p[6] * q[6] + p[7] * q[7]));
        x = x_rest;
        y = y_rest;
    }
    for (p, q) in x.iter().zip(y) {
        t += p * q;
    }
    t
}
