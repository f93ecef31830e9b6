//! RSA signature verification on 28-bit limbs: RSASSA-PKCS1-v1_5 (JWS `RS256`, `RS384`,
//! `RS512`) and RSASSA-PSS (`PS256`, `PS384`, `PS512`), public keys only.
//!
//! wasm32 has a native 64-bit multiply but no 64x64->128 one, so limbs are multiplied into
//! 64-bit products; at 28 bits a column of the Montgomery product is a plain sum of products,
//! with no carry handling (faster in V8 than 32-bit limbs with carry chains).
//! [`RsaVerifyingKey::new`] computes the Montgomery constants of the modulus once
//! (`-n^-1 mod 2^28` and `R^2 mod n`); a verification is then
//! `s^e mod n` by Montgomery squarings (16 squarings and one multiplication for e = 65537) and a
//! byte-for-byte comparison with the one valid encoding of the digest (RFC 8017 section 8.2.2:
//! encode the expected message and compare, never parse the decrypted one).

use sha2::{Digest, Sha256, Sha384, Sha512};

use crate::verify::alg::HashAlg;

use super::dot;

/// DER prefixes of the `DigestInfo` for SHA-256, SHA-384 and SHA-512 (RFC 8017 section 9.2,
/// note 1): they differ only in the OID's last byte and the digest length.
const SHA256_DIGEST_INFO: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const SHA384_DIGEST_INFO: [u8; 19] = [
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const SHA512_DIGEST_INFO: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

fn digest_info(hash: HashAlg) -> &'static [u8; 19] {
    match hash {
        HashAlg::Sha256 => &SHA256_DIGEST_INFO,
        HashAlg::Sha384 => &SHA384_DIGEST_INFO,
        HashAlg::Sha512 => &SHA512_DIGEST_INFO,
    }
}

/// The digest of the concatenation of `parts`.
fn hash_parts(hash: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
        let mut digest = D::new();
        for part in parts {
            digest.update(part);
        }
        digest.finalize().to_vec()
    }
    match hash {
        HashAlg::Sha256 => run::<Sha256>(parts),
        HashAlg::Sha384 => run::<Sha384>(parts),
        HashAlg::Sha512 => run::<Sha512>(parts),
    }
}

/// `out ^= MGF1(seed, out.len())` with `hash` (RFC 8017 appendix B.2.1).
fn mgf1_xor(hash: HashAlg, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (0_u32..).zip(out.chunks_mut(hash.len())) {
        let block = hash_parts(hash, &[seed, &counter.to_be_bytes()]);
        for (byte, mask) in chunk.iter_mut().zip(block) {
            *byte ^= mask;
        }
    }
}

/// Smallest modulus length (bytes) that can hold the SHA-256 encoding with 8 bytes of padding.
const MIN_MODULUS_BYTES: usize = 3 + 8 + SHA256_DIGEST_INFO.len() + 32;

/// Bits per limb. Products of two limbs are below 2^56, so a 64-bit accumulator takes 256 of
/// them without any carry handling: a column of the Montgomery product is a plain sum.
const LIMB_BITS: u32 = 28;

/// The low `LIMB_BITS` bits.
const LIMB_MASK: u64 = (1 << LIMB_BITS) - 1;

/// Most limbs a modulus may have: each column sum (one for `a*b`, one for `m*n`) adds at most
/// this many products below 2^56, which must stay below 2^64.
const MAX_LIMBS: usize = 255;

/// Largest modulus length (bytes) whose limbs fit [`MAX_LIMBS`] (7,136 bits; JWKS keys are
/// capped at 4,096 bits long before this).
const MAX_MODULUS_BYTES: usize = MAX_LIMBS * LIMB_BITS as usize / 8;

/// Why a modulus or exponent cannot make a key here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaKeyError {
    /// The modulus is even, too short for a SHA-256 PKCS#1 v1.5 encoding, or longer than
    /// 7,136 bits.
    BadModulus,
    /// The exponent is even, below 3, or wider than 32 bits.
    BadExponent,
}

/// An RSA public key with its Montgomery constants, ready for many verifications.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaVerifyingKey {
    /// Modulus, little-endian 28-bit limbs (each held in a `u64`), most significant limb
    /// non-zero.
    n: Vec<u64>,
    /// The modulus' limbs in reverse order (most significant first).
    n_rev: Vec<u64>,
    /// `-n^-1 mod 2^28`.
    n0_inv: u64,
    /// `R^2 mod n` with `R = 2^(28 * n.len())`, limbs in reverse order.
    r2_rev: Vec<u64>,
    /// Public exponent, odd and at least 3.
    e: u32,
    /// Modulus length in bytes (`k` of RFC 8017).
    k: usize,
    /// Modulus length in bits.
    bits: usize,
}

impl RsaVerifyingKey {
    /// Prepares a key from the big-endian modulus (leading zero bytes allowed) and exponent.
    pub fn new(n_be: &[u8], e: u32) -> Result<Self, RsaKeyError> {
        let first = n_be.iter().position(|&b| b != 0).unwrap_or(n_be.len());
        let n_be = n_be.get(first..).unwrap_or_default();
        let k = n_be.len();
        if !(MIN_MODULUS_BYTES..=MAX_MODULUS_BYTES).contains(&k)
            || n_be.last().is_none_or(|b| b & 1 == 0)
        {
            return Err(RsaKeyError::BadModulus);
        }
        if e < 3 || e & 1 == 0 {
            return Err(RsaKeyError::BadExponent);
        }
        let bits = n_be
            .first()
            .map_or(0, |top| 8 * (k - 1) + (8 - top.leading_zeros() as usize));
        let n = limbs_from_be(n_be, bits.div_ceil(LIMB_BITS as usize));
        let n0 = n.first().copied().unwrap_or(1);
        // Newton's iteration for n0^-1 mod 2^64: each step doubles the correct low bits
        // (n0 is odd, so x = n0 is already right mod 2^3).
        let mut inv = n0;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2_u64.wrapping_sub(n0.wrapping_mul(inv)));
        }
        let r2_rev = reversed(&r_squared_mod(&n));
        Ok(Self {
            n_rev: reversed(&n),
            n,
            n0_inv: inv.wrapping_neg() & LIMB_MASK,
            r2_rev,
            e,
            k,
            bits,
        })
    }

    /// Modulus length in bytes: an RS256 signature is exactly this long.
    pub fn size(&self) -> usize {
        self.k
    }

    /// Modulus length in bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The public exponent.
    pub fn exponent(&self) -> u32 {
        self.e
    }

    /// Verifies an RS256 signature over `message`. `false` for any signature that is not exactly
    /// `k` bytes, not below the modulus, or not the PKCS#1 v1.5 encoding of SHA-256(`message`).
    pub fn verify_pkcs1v15_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        let hash = Sha256::digest(message);
        self.verify_prehashed(&hash, signature)
    }

    /// As [`Self::verify_pkcs1v15_sha256`] with the SHA-256 digest already computed.
    pub fn verify_prehashed(&self, hash: &[u8], signature: &[u8]) -> bool {
        self.verify_pkcs1v15(HashAlg::Sha256, hash, signature)
    }

    /// RSASSA-PKCS1-v1_5 verification (RFC 8017 section 8.2.2) of a `hash` digest: `false` for
    /// a signature that is not exactly `k` bytes, not below the modulus, or not the one valid
    /// encoding `0x00 01 ff.. 00 || DigestInfo || digest`.
    pub fn verify_pkcs1v15(&self, hash_alg: HashAlg, hash: &[u8], signature: &[u8]) -> bool {
        let prefix = digest_info(hash_alg);
        let tail = prefix.len() + hash.len();
        // At least 8 bytes of 0xff padding (RFC 8017 section 9.2 step 3).
        if signature.len() != self.k || hash.len() != hash_alg.len() || self.k < tail + 11 {
            return false;
        }
        let Some(m) = self.public_op(signature) else {
            return false;
        };
        // EM = 0x00 || 0x01 || 0xff... || 0x00 || DigestInfo || hash, compared from the end.
        let mut expected = m.iter().rev();
        let mut next = || expected.next().copied();
        for &byte in hash.iter().rev().chain(prefix.iter().rev()) {
            if next() != Some(byte) {
                return false;
            }
        }
        if next() != Some(0x00) {
            return false;
        }
        for _ in 0..self.k - 3 - tail {
            if next() != Some(0xff) {
                return false;
            }
        }
        next() == Some(0x01) && next() == Some(0x00) && next().is_none()
    }

    /// RSASSA-PSS verification (RFC 8017 section 8.1.2, EMSA-PSS-VERIFY of section 9.1.2) as
    /// JWS uses it (RFC 7518 section 3.5): MGF1 with the message's hash, and a salt exactly as
    /// long as the digest. `false` for anything else, including another salt length.
    pub fn verify_pss(&self, hash_alg: HashAlg, hash: &[u8], signature: &[u8]) -> bool {
        let h_len = hash_alg.len();
        if signature.len() != self.k || hash.len() != h_len {
            return false;
        }
        let Some(m) = self.public_op(signature) else {
            return false;
        };
        // emBits = modBits - 1; when that is a multiple of 8 the encoded message is one byte
        // shorter than the modulus, and the first byte of m must be zero.
        let em_bits = self.bits - 1;
        let em_len = em_bits.div_ceil(8);
        let em = match m.len() - em_len {
            0 => m.as_slice(),
            1 if m.first() == Some(&0) => m.get(1..).unwrap_or_default(),
            _ => return false,
        };
        let s_len = h_len;
        if em_len < h_len + s_len + 2 || em.last() != Some(&0xbc) {
            return false;
        }
        let db_len = em_len - h_len - 1;
        let (Some(masked_db), Some(h)) = (em.get(..db_len), em.get(db_len..em_len - 1)) else {
            return false;
        };
        // The leftmost 8 * emLen - emBits bits must be zero.
        let unused_bits = 8 * em_len - em_bits;
        let top_mask = 0xff_u8 >> unused_bits;
        if masked_db.first().is_some_and(|b| b & !top_mask != 0) {
            return false;
        }
        let mut db = masked_db.to_vec();
        mgf1_xor(hash_alg, h, &mut db);
        if let Some(first) = db.first_mut() {
            *first &= top_mask;
        }
        // DB = PS (zeros) || 0x01 || salt.
        let ps_len = db_len - s_len - 1;
        let (Some(ps), Some(&separator), Some(salt)) =
            (db.get(..ps_len), db.get(ps_len), db.get(ps_len + 1..))
        else {
            return false;
        };
        if ps.iter().any(|&b| b != 0) || separator != 0x01 {
            return false;
        }
        // H' = Hash(0x00 * 8 || mHash || salt), compared with H.
        let expected = hash_parts(hash_alg, &[&[0_u8; 8], hash, salt]);
        expected.as_slice() == h
    }

    /// `signature^e mod n` as `k` big-endian bytes; `None` when the signature is not below `n`.
    pub fn public_op(&self, signature: &[u8]) -> Option<Vec<u8>> {
        let len = self.n.len();
        if signature.len() > self.k {
            return None;
        }
        let s = limbs_from_be(signature, len);
        // Bytes beyond `len` limbs (only zero bits fit there when the length is `k`) were
        // dropped: refuse any that are not zero.
        if 8 * signature.len() > LIMB_BITS as usize * len {
            let extra = signature.len() * 8 - LIMB_BITS as usize * len;
            let top = signature.first().copied().unwrap_or(0);
            if extra >= 8 || u32::from(top) >> (8 - extra) != 0 {
                return None;
            }
        }
        if !less_than(&s, &self.n) {
            return None;
        }
        let mut m = vec![0_u64; len];
        let mut x = vec![0_u64; len];
        // x = s * R mod n (Montgomery form).
        self.mont_mul(&s, &self.r2_rev, &mut x, &mut m);
        let s_mont_rev = reversed(&x);
        let mut y = vec![0_u64; len];
        let mut scratch = vec![0_u64; len];
        // Left to right over the exponent bits below the top one, except the lowest: x stays
        // in Montgomery form and holds s^(prefix of e).
        let top = 31 - self.e.leading_zeros();
        for bit in (1..top).rev() {
            self.mont_sqr(&x, &mut scratch, &mut y, &mut m);
            std::mem::swap(&mut x, &mut y);
            if (self.e >> bit) & 1 == 1 {
                self.mont_mul(&x, &s_mont_rev, &mut y, &mut m);
                std::mem::swap(&mut x, &mut y);
            }
        }
        // Last bit (e is odd): x^2 in Montgomery form, then times the plain s, which also
        // leaves the Montgomery domain: (s^(e-1) R) * s * R^-1 = s^e.
        self.mont_sqr(&x, &mut scratch, &mut y, &mut m);
        self.mont_mul(&y, &reversed(&s), &mut x, &mut m);
        Some(limbs_to_be(&x, self.k))
    }

    /// `out = a * b * R^-1 mod n` for `a, b < n`, with `b_rev` the limbs of `b` in reverse
    /// order: Montgomery multiplication by product scanning (column by column), with the
    /// quotient digits `m` computed on the way.
    fn mont_mul(&self, a: &[u64], b_rev: &[u64], out: &mut [u64], m: &mut [u64]) {
        let len = self.n.len();
        self.mont_columns(out, m, |k, lo, hi| {
            // a[j] * b[k - j] = a[j] * b_rev[len - 1 - k + j] for j in lo..=hi.
            let start = len - 1 + lo - k;
            match (a.get(lo..=hi), b_rev.get(start..=start + hi - lo)) {
                (Some(x), Some(y)) => dot(x, y),
                _ => 0,
            }
        });
    }

    /// `out = a^2 * R^-1 mod n`: as [`Self::mont_mul`], each cross product computed once and
    /// doubled.
    fn mont_sqr(&self, a: &[u64], a_rev: &mut [u64], out: &mut [u64], m: &mut [u64]) {
        let len = self.n.len();
        for (r, &x) in a_rev.iter_mut().zip(a.iter().rev()) {
            *r = x;
        }
        let a_rev = &*a_rev;
        self.mont_columns(out, m, |k, lo, _| {
            // a[j] * a[k - j] for j in lo..=k - lo: the pairs j < k - j twice, plus a[k/2]^2.
            let half = k.div_ceil(2); // first j with j >= k - j
            let mut t = 0_u64;
            if lo < half {
                let start = len - 1 + lo - k;
                if let (Some(x), Some(y)) = (a.get(lo..half), a_rev.get(start..start + half - lo)) {
                    t = dot(x, y) << 1;
                }
            }
            if k % 2 == 0 {
                if let Some(&d) = a.get(k / 2) {
                    t += d * d;
                }
            }
            t
        });
    }

    /// The Montgomery product column by column: `column(k, lo, hi)` sums the products of the
    /// operands' limbs `j` and `k - j` for `j` in `lo..=hi` (at most `len` products below
    /// 2^56, so no overflow); this adds the products `m[j] * n[k - j]` and the carries.
    fn mont_columns(
        &self,
        out: &mut [u64],
        m: &mut [u64],
        column: impl Fn(usize, usize, usize) -> u64,
    ) {
        let len = self.n.len();
        let n0 = self.n.first().copied().unwrap_or(0);
        let mut carry = 0_u64;
        // Columns 0 .. len: choose m[k] so that the column's low limb becomes zero.
        for k in 0..len {
            let t1 = column(k, 0, k);
            // m[j] * n[k - j] = m[j] * n_rev[len - 1 - k + j] for j in 0..k.
            let t2 = match (m.get(..k), self.n_rev.get(len - 1 - k..len - 1)) {
                (Some(x), Some(y)) => dot(x, y),
                _ => 0,
            };
            let v = carry + (t1 & LIMB_MASK) + (t2 & LIMB_MASK);
            let mk = v.wrapping_mul(self.n0_inv) & LIMB_MASK;
            if let Some(slot) = m.get_mut(k) {
                *slot = mk;
            }
            let v = v + mk * n0;
            carry = (t1 >> LIMB_BITS) + (t2 >> LIMB_BITS) + (v >> LIMB_BITS);
        }
        // Columns len .. 2*len - 1: the result's limbs.
        for k in len..2 * len - 1 {
            let lo = k + 1 - len;
            let t1 = column(k, lo, len - 1);
            // m[j] * n_rev[len - 1 - k + j] for j in lo..len.
            let t2 = match (m.get(lo..), self.n_rev.get(..len - lo)) {
                (Some(x), Some(y)) => dot(x, y),
                _ => 0,
            };
            let v = carry + (t1 & LIMB_MASK) + (t2 & LIMB_MASK);
            if let Some(slot) = out.get_mut(k - len) {
                *slot = v & LIMB_MASK;
            }
            carry = (t1 >> LIMB_BITS) + (t2 >> LIMB_BITS) + (v >> LIMB_BITS);
        }
        if let Some(slot) = out.get_mut(len - 1) {
            *slot = carry & LIMB_MASK;
        }
        // The result is below 2n: at most one subtraction.
        if carry >> LIMB_BITS != 0 || !less_than(out, &self.n) {
            sub_assign(out, &self.n);
        }
    }
}

fn reversed(limbs: &[u64]) -> Vec<u64> {
    limbs.iter().rev().copied().collect()
}

/// Big-endian bytes to `len` little-endian 28-bit limbs (bits beyond `28 * len` are ignored;
/// callers check lengths first).
fn limbs_from_be(bytes: &[u8], len: usize) -> Vec<u64> {
    let mut limbs = vec![0_u64; len];
    super::pack_be(bytes, &mut limbs);
    limbs
}

/// The low `k` bytes of the 28-bit `limbs`, big-endian.
fn limbs_to_be(limbs: &[u64], k: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; k];
    super::unpack_be(limbs, &mut bytes);
    bytes
}

/// `a < b` for equal-length limb slices.
fn less_than(a: &[u64], b: &[u64]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo `2^(28 * len)`, limbs kept below 2^28.
fn sub_assign(a: &mut [u64], b: &[u64]) {
    let mut borrow = 0_u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let diff = x.wrapping_sub(y).wrapping_sub(borrow);
        *x = diff & LIMB_MASK;
        borrow = (diff >> 63) & 1;
    }
}

/// `R^2 mod n`, `R = 2^(28 * n.len())`, by doubling: 2 * 28 * len shifts with a conditional
/// subtraction each, done once per key.
fn r_squared_mod(n: &[u64]) -> Vec<u64> {
    let len = n.len();
    let mut x = vec![0_u64; len];
    if let Some(low) = x.first_mut() {
        *low = 1;
    }
    // 1 < n (n is at least 62 bytes), so x = 1 is already reduced.
    for _ in 0..2 * LIMB_BITS as usize * len {
        // x = 2x mod n; x < n, so 2x < 2n and one subtraction suffices.
        let mut carry = 0_u64;
        for limb in x.iter_mut() {
            let doubled = (*limb << 1) | carry;
            *limb = doubled & LIMB_MASK;
            carry = doubled >> LIMB_BITS;
        }
        if carry != 0 || !less_than(&x, n) {
            sub_assign(&mut x, n);
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_modulus_arithmetic_matches_u128() {
        // A 62-byte odd modulus is the smallest accepted; check s^e mod n against a slow
        // reference on numbers small enough for u128 by using a modulus of leading zero limbs
        // is not possible, so check the algebra instead: (s^3)^(1/3) is not available either;
        // use s = 1 and s = n - 1.
        let mut n = vec![0xc3_u8; MIN_MODULUS_BYTES];
        if let Some(last) = n.last_mut() {
            *last = 0x05;
        }
        for e in [3, 65_537] {
            let key = RsaVerifyingKey::new(&n, e).unwrap();
            let mut one = vec![0_u8; n.len()];
            *one.last_mut().unwrap() = 1;
            assert_eq!(key.public_op(&one).unwrap(), one);
            let mut minus_one = n.clone();
            *minus_one.last_mut().unwrap() -= 1;
            // (n-1)^odd = n-1 mod n.
            assert_eq!(key.public_op(&minus_one).unwrap(), minus_one);
            assert!(key.public_op(&n).is_none());
        }
    }

    #[test]
    fn refuses_bad_keys() {
        assert_eq!(
            RsaVerifyingKey::new(&[0xff; 256], 4),
            Err(RsaKeyError::BadExponent)
        );
        assert_eq!(
            RsaVerifyingKey::new(&[0xfe; 256], 3),
            Err(RsaKeyError::BadModulus)
        );
        assert_eq!(
            RsaVerifyingKey::new(&[0xff; 32], 3),
            Err(RsaKeyError::BadModulus)
        );
        assert_eq!(RsaVerifyingKey::new(&[], 3), Err(RsaKeyError::BadModulus));
        let key = RsaVerifyingKey::new(&[[0_u8; 3].as_slice(), &[0x81; 256]].concat(), 3).unwrap();
        assert_eq!((key.size(), key.bits()), (256, 2048));
    }
}
