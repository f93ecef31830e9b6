//! The P-384 base field for the per-signature work, on 28-bit limbs (fourteen, each in a
//! `u64`) in Montgomery form with `R = 2^392`.
//!
//! Why not fiat-crypto's 32-bit Montgomery code: in V8 every 32-bit add-with-carry becomes
//! several 64-bit operations. With 28-bit limbs a product is below 2^56 and a column of the
//! Montgomery product is a plain sum of at most 14 of them, so no carry is handled inside a
//! column. `p = 2^384 - 2^128 - 2^96 + 2^32 - 1` is `-1 mod 2^32`, so `-p^-1 mod 2^28 = 1`: the
//! quotient digit is the column's low limb itself.
//!
//! Values are kept in `[0, 2p)` with every limb below 2^28. As `R > 16p`, a Montgomery product of
//! two such values is again below `2p` without a final subtraction; additions and subtractions
//! reduce by one conditional `2p`. Comparisons canonicalize to `[0, p)` first.

/// Limbs per element.
pub(crate) const L: usize = 14;

/// Bits per limb.
const BITS: u32 = 28;

/// The low `BITS` bits.
const MASK: u64 = (1 << BITS) - 1;

/// The field prime p, little-endian 28-bit limbs.
const P: [u64; L] = [
    0xfffffff, 0x000000f, 0x0000000, 0xffff000, 0xffeffff, 0xfffffff, 0xfffffff, 0xfffffff,
    0xfffffff, 0xfffffff, 0xfffffff, 0xfffffff, 0xfffffff, 0x00fffff,
];

/// `2p`, little-endian 28-bit limbs.
const P2: [u64; L] = [
    0xffffffe, 0x000001f, 0x0000000, 0xfffe000, 0xffdffff, 0xfffffff, 0xfffffff, 0xfffffff,
    0xfffffff, 0xfffffff, 0xfffffff, 0xfffffff, 0xfffffff, 0x01fffff,
];

/// `R^2 mod p`, little-endian 28-bit limbs (to enter Montgomery form).
const R2: [u64; L] = [
    0x0010000, 0xfe00000, 0x0ffffff, 0x0000000, 0x0000002, 0x0000000, 0xffffe00, 0x0000fff,
    0x0020000, 0x0100000, 0x0000000, 0x0000000, 0x0000000, 0x0000000,
];

/// A field element `x` as `x * R mod p`, possibly plus p (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fe([u64; L]);

impl Fe {
    pub(crate) const ZERO: Self = Self([0; L]);

    /// One: `R mod p`.
    pub(crate) const ONE: Self = Self([
        0x0000100, 0xffff000, 0xfffffff, 0x00fffff, 0x1000000, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);

    /// From 48 big-endian bytes; `None` unless the value is below p.
    pub(crate) fn from_be_bytes(bytes: &[u8; 48]) -> Option<Self> {
        let mut limbs = [0_u64; L];
        super::pack_be(bytes, &mut limbs);
        if !less_than(&limbs, &P) {
            return None;
        }
        Some(Self(mont_mul(&limbs, &R2)))
    }

    /// The canonical value (in `[0, p)`, out of Montgomery form) as 48 big-endian bytes.
    pub(crate) fn to_be_bytes(self) -> [u8; 48] {
        let mut one = [0_u64; L];
        one[0] = 1;
        // x * R * R^-1 = x, below 2p; then below p.
        let mut limbs = mont_mul(&self.0, &one);
        if !less_than(&limbs, &P) {
            sub_assign(&mut limbs, &P);
        }
        let mut out = [0_u8; 48];
        super::unpack_be(&limbs, &mut out);
        out
    }

    /// The limbs as `u32`s (each is below 2^28): half the memory, for tables.
    pub(crate) fn pack(&self) -> [u32; L] {
        let mut out = [0_u32; L];
        for (o, &limb) in out.iter_mut().zip(&self.0) {
            *o = limb as u32;
        }
        out
    }

    /// The inverse of [`Self::pack`].
    pub(crate) fn unpack(packed: &[u32; L]) -> Self {
        let mut out = [0_u64; L];
        for (o, &limb) in out.iter_mut().zip(packed) {
            *o = u64::from(limb);
        }
        Self(out)
    }

    pub(crate) fn multiply(&self, other: &Self) -> Self {
        Self(mont_mul(&self.0, &other.0))
    }

    pub(crate) fn square(&self) -> Self {
        Self(mont_sqr(&self.0))
    }

    pub(crate) fn add(&self, other: &Self) -> Self {
        let mut out = [0_u64; L];
        let mut carry = 0_u64;
        for ((o, a), b) in out.iter_mut().zip(&self.0).zip(&other.0) {
            let sum = a + b + carry;
            *o = sum & MASK;
            carry = sum >> BITS;
        }
        // Below 4p < 2^392: no carry out of the top limb.
        if !less_than(&out, &P2) {
            sub_assign(&mut out, &P2);
        }
        Self(out)
    }

    pub(crate) fn double(&self) -> Self {
        self.add(self)
    }

    pub(crate) fn sub(&self, other: &Self) -> Self {
        let mut out = self.0;
        if sub_assign(&mut out, &other.0) {
            // Negative: add 2p (modulo 2^392, which drops the borrow).
            let mut carry = 0_u64;
            for (o, q) in out.iter_mut().zip(&P2) {
                let sum = *o + q + carry;
                *o = sum & MASK;
                carry = sum >> BITS;
            }
        }
        Self(out)
    }

    pub(crate) fn neg(&self) -> Self {
        Self::ZERO.sub(self)
    }

    /// The value in `[0, p)` (still in Montgomery form).
    fn canonical(&self) -> [u64; L] {
        let mut out = self.0;
        if !less_than(&out, &P) {
            sub_assign(&mut out, &P);
        }
        out
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.canonical() == [0; L]
    }

    pub(crate) fn equals(&self, other: &Self) -> bool {
        self.canonical() == other.canonical()
    }
}

/// `a < b`.
fn less_than(a: &[u64; L], b: &[u64; L]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo 2^392; `true` when it borrowed (`a < b`).
fn sub_assign(a: &mut [u64; L], b: &[u64; L]) -> bool {
    let mut borrow = 0_u64;
    for (x, &y) in a.iter_mut().zip(b) {
        let diff = x.wrapping_sub(y).wrapping_sub(borrow);
        *x = diff & MASK;
        borrow = (diff >> 63) & 1;
    }
    borrow != 0
}

/// `a * b * R^-1 mod p` for `a, b < 2p`, result below `2p`, by product scanning: column
/// `k` sums `a[j] * b[k - j]` and `m[j] * p[k - j]` (at most 28 products below 2^56, so
/// no carry inside a column), and `m[k]` is the column's low limb (`-p^-1 = 1 mod 2^28`).
/// Straight-line code generated for 14 limbs.
#[allow(clippy::too_many_lines)]
fn mont_mul(a: &[u64; L], b: &[u64; L]) -> [u64; L] {
    let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13] = *a;
    let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11, b12, b13] = *b;
    let [_, p1, _, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13] = P;
    let mut t: u64;
    t = a0 * b0;
    let m0 = t & MASK;
    let mut carry = (t >> BITS) + m0;
    t = carry + a0 * b1 + a1 * b0 + m0 * p1;
    let m1 = t & MASK;
    carry = (t >> BITS) + m1;
    t = carry + a0 * b2 + a1 * b1 + a2 * b0 + m1 * p1;
    let m2 = t & MASK;
    carry = (t >> BITS) + m2;
    t = carry + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0 + m0 * p3 + m2 * p1;
    let m3 = t & MASK;
    carry = (t >> BITS) + m3;
    t = carry + a0 * b4 + a1 * b3 + a2 * b2 + a3 * b1 + a4 * b0 + m0 * p4 + m1 * p3 + m3 * p1;
    let m4 = t & MASK;
    carry = (t >> BITS) + m4;
    t = carry
        + a0 * b5
        + a1 * b4
        + a2 * b3
        + a3 * b2
        + a4 * b1
        + a5 * b0
        + m0 * p5
        + m1 * p4
        + m2 * p3
        + m4 * p1;
    let m5 = t & MASK;
    carry = (t >> BITS) + m5;
    t = carry
        + a0 * b6
        + a1 * b5
        + a2 * b4
        + a3 * b3
        + a4 * b2
        + a5 * b1
        + a6 * b0
        + m0 * p6
        + m1 * p5
        + m2 * p4
        + m3 * p3
        + m5 * p1;
    let m6 = t & MASK;
    carry = (t >> BITS) + m6;
    t = carry
        + a0 * b7
        + a1 * b6
        + a2 * b5
        + a3 * b4
        + a4 * b3
        + a5 * b2
        + a6 * b1
        + a7 * b0
        + m0 * p7
        + m1 * p6
        + m2 * p5
        + m3 * p4
        + m4 * p3
        + m6 * p1;
    let m7 = t & MASK;
    carry = (t >> BITS) + m7;
    t = carry
        + a0 * b8
        + a1 * b7
        + a2 * b6
        + a3 * b5
        + a4 * b4
        + a5 * b3
        + a6 * b2
        + a7 * b1
        + a8 * b0
        + m0 * p8
        + m1 * p7
        + m2 * p6
        + m3 * p5
        + m4 * p4
        + m5 * p3
        + m7 * p1;
    let m8 = t & MASK;
    carry = (t >> BITS) + m8;
    t = carry
        + a0 * b9
        + a1 * b8
        + a2 * b7
        + a3 * b6
        + a4 * b5
        + a5 * b4
        + a6 * b3
        + a7 * b2
        + a8 * b1
        + a9 * b0
        + m0 * p9
        + m1 * p8
        + m2 * p7
        + m3 * p6
        + m4 * p5
        + m5 * p4
        + m6 * p3
        + m8 * p1;
    let m9 = t & MASK;
    carry = (t >> BITS) + m9;
    t = carry
        + a0 * b10
        + a1 * b9
        + a2 * b8
        + a3 * b7
        + a4 * b6
        + a5 * b5
        + a6 * b4
        + a7 * b3
        + a8 * b2
        + a9 * b1
        + a10 * b0
        + m0 * p10
        + m1 * p9
        + m2 * p8
        + m3 * p7
        + m4 * p6
        + m5 * p5
        + m6 * p4
        + m7 * p3
        + m9 * p1;
    let m10 = t & MASK;
    carry = (t >> BITS) + m10;
    t = carry
        + a0 * b11
        + a1 * b10
        + a2 * b9
        + a3 * b8
        + a4 * b7
        + a5 * b6
        + a6 * b5
        + a7 * b4
        + a8 * b3
        + a9 * b2
        + a10 * b1
        + a11 * b0
        + m0 * p11
        + m1 * p10
        + m2 * p9
        + m3 * p8
        + m4 * p7
        + m5 * p6
        + m6 * p5
        + m7 * p4
        + m8 * p3
        + m10 * p1;
    let m11 = t & MASK;
    carry = (t >> BITS) + m11;
    t = carry
        + a0 * b12
        + a1 * b11
        + a2 * b10
        + a3 * b9
        + a4 * b8
        + a5 * b7
        + a6 * b6
        + a7 * b5
        + a8 * b4
        + a9 * b3
        + a10 * b2
        + a11 * b1
        + a12 * b0
        + m0 * p12
        + m1 * p11
        + m2 * p10
        + m3 * p9
        + m4 * p8
        + m5 * p7
        + m6 * p6
        + m7 * p5
        + m8 * p4
        + m9 * p3
        + m11 * p1;
    let m12 = t & MASK;
    carry = (t >> BITS) + m12;
    t = carry
        + a0 * b13
        + a1 * b12
        + a2 * b11
        + a3 * b10
        + a4 * b9
        + a5 * b8
        + a6 * b7
        + a7 * b6
        + a8 * b5
        + a9 * b4
        + a10 * b3
        + a11 * b2
        + a12 * b1
        + a13 * b0
        + m0 * p13
        + m1 * p12
        + m2 * p11
        + m3 * p10
        + m4 * p9
        + m5 * p8
        + m6 * p7
        + m7 * p6
        + m8 * p5
        + m9 * p4
        + m10 * p3
        + m12 * p1;
    let m13 = t & MASK;
    carry = (t >> BITS) + m13;
    t = carry
        + a1 * b13
        + a2 * b12
        + a3 * b11
        + a4 * b10
        + a5 * b9
        + a6 * b8
        + a7 * b7
        + a8 * b6
        + a9 * b5
        + a10 * b4
        + a11 * b3
        + a12 * b2
        + a13 * b1
        + m1 * p13
        + m2 * p12
        + m3 * p11
        + m4 * p10
        + m5 * p9
        + m6 * p8
        + m7 * p7
        + m8 * p6
        + m9 * p5
        + m10 * p4
        + m11 * p3
        + m13 * p1;
    let o0 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a2 * b13
        + a3 * b12
        + a4 * b11
        + a5 * b10
        + a6 * b9
        + a7 * b8
        + a8 * b7
        + a9 * b6
        + a10 * b5
        + a11 * b4
        + a12 * b3
        + a13 * b2
        + m2 * p13
        + m3 * p12
        + m4 * p11
        + m5 * p10
        + m6 * p9
        + m7 * p8
        + m8 * p7
        + m9 * p6
        + m10 * p5
        + m11 * p4
        + m12 * p3;
    let o1 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a3 * b13
        + a4 * b12
        + a5 * b11
        + a6 * b10
        + a7 * b9
        + a8 * b8
        + a9 * b7
        + a10 * b6
        + a11 * b5
        + a12 * b4
        + a13 * b3
        + m3 * p13
        + m4 * p12
        + m5 * p11
        + m6 * p10
        + m7 * p9
        + m8 * p8
        + m9 * p7
        + m10 * p6
        + m11 * p5
        + m12 * p4
        + m13 * p3;
    let o2 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a4 * b13
        + a5 * b12
        + a6 * b11
        + a7 * b10
        + a8 * b9
        + a9 * b8
        + a10 * b7
        + a11 * b6
        + a12 * b5
        + a13 * b4
        + m4 * p13
        + m5 * p12
        + m6 * p11
        + m7 * p10
        + m8 * p9
        + m9 * p8
        + m10 * p7
        + m11 * p6
        + m12 * p5
        + m13 * p4;
    let o3 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a5 * b13
        + a6 * b12
        + a7 * b11
        + a8 * b10
        + a9 * b9
        + a10 * b8
        + a11 * b7
        + a12 * b6
        + a13 * b5
        + m5 * p13
        + m6 * p12
        + m7 * p11
        + m8 * p10
        + m9 * p9
        + m10 * p8
        + m11 * p7
        + m12 * p6
        + m13 * p5;
    let o4 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a6 * b13
        + a7 * b12
        + a8 * b11
        + a9 * b10
        + a10 * b9
        + a11 * b8
        + a12 * b7
        + a13 * b6
        + m6 * p13
        + m7 * p12
        + m8 * p11
        + m9 * p10
        + m10 * p9
        + m11 * p8
        + m12 * p7
        + m13 * p6;
    let o5 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a7 * b13
        + a8 * b12
        + a9 * b11
        + a10 * b10
        + a11 * b9
        + a12 * b8
        + a13 * b7
        + m7 * p13
        + m8 * p12
        + m9 * p11
        + m10 * p10
        + m11 * p9
        + m12 * p8
        + m13 * p7;
    let o6 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a8 * b13
        + a9 * b12
        + a10 * b11
        + a11 * b10
        + a12 * b9
        + a13 * b8
        + m8 * p13
        + m9 * p12
        + m10 * p11
        + m11 * p10
        + m12 * p9
        + m13 * p8;
    let o7 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a9 * b13
        + a10 * b12
        + a11 * b11
        + a12 * b10
        + a13 * b9
        + m9 * p13
        + m10 * p12
        + m11 * p11
        + m12 * p10
        + m13 * p9;
    let o8 = t & MASK;
    carry = t >> BITS;
    t = carry
        + a10 * b13
        + a11 * b12
        + a12 * b11
        + a13 * b10
        + m10 * p13
        + m11 * p12
        + m12 * p11
        + m13 * p10;
    let o9 = t & MASK;
    carry = t >> BITS;
    t = carry + a11 * b13 + a12 * b12 + a13 * b11 + m11 * p13 + m12 * p12 + m13 * p11;
    let o10 = t & MASK;
    carry = t >> BITS;
    t = carry + a12 * b13 + a13 * b12 + m12 * p13 + m13 * p12;
    let o11 = t & MASK;
    carry = t >> BITS;
    t = carry + a13 * b13 + m13 * p13;
    let o12 = t & MASK;
    carry = t >> BITS;
    // Below 2p < 2^392: the last carry is the top limb.
    [o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, carry]
}

/// `a^2 * R^-1 mod p` for `a < 2p`, result below `2p`: [`mont_mul`] with each cross
/// product computed once and doubled. Straight-line code generated for 14 limbs.
#[allow(clippy::too_many_lines)]
fn mont_sqr(a: &[u64; L]) -> [u64; L] {
    let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13] = *a;
    let [_, p1, _, p3, p4, p5, p6, p7, p8, p9, p10, p11, p12, p13] = P;
    let mut t: u64;
    t = a0 * a0;
    let m0 = t & MASK;
    let mut carry = (t >> BITS) + m0;
    t = carry + 2 * (a0 * a1) + m0 * p1;
    let m1 = t & MASK;
    carry = (t >> BITS) + m1;
    t = carry + 2 * (a0 * a2) + a1 * a1 + m1 * p1;
    let m2 = t & MASK;
    carry = (t >> BITS) + m2;
    t = carry + 2 * (a0 * a3 + a1 * a2) + m0 * p3 + m2 * p1;
    let m3 = t & MASK;
    carry = (t >> BITS) + m3;
    t = carry + 2 * (a0 * a4 + a1 * a3) + a2 * a2 + m0 * p4 + m1 * p3 + m3 * p1;
    let m4 = t & MASK;
    carry = (t >> BITS) + m4;
    t = carry + 2 * (a0 * a5 + a1 * a4 + a2 * a3) + m0 * p5 + m1 * p4 + m2 * p3 + m4 * p1;
    let m5 = t & MASK;
    carry = (t >> BITS) + m5;
    t = carry
        + 2 * (a0 * a6 + a1 * a5 + a2 * a4)
        + a3 * a3
        + m0 * p6
        + m1 * p5
        + m2 * p4
        + m3 * p3
        + m5 * p1;
    let m6 = t & MASK;
    carry = (t >> BITS) + m6;
    t = carry
        + 2 * (a0 * a7 + a1 * a6 + a2 * a5 + a3 * a4)
        + m0 * p7
        + m1 * p6
        + m2 * p5
        + m3 * p4
        + m4 * p3
        + m6 * p1;
    let m7 = t & MASK;
    carry = (t >> BITS) + m7;
    t = carry
        + 2 * (a0 * a8 + a1 * a7 + a2 * a6 + a3 * a5)
        + a4 * a4
        + m0 * p8
        + m1 * p7
        + m2 * p6
        + m3 * p5
        + m4 * p4
        + m5 * p3
        + m7 * p1;
    let m8 = t & MASK;
    carry = (t >> BITS) + m8;
    t = carry
        + 2 * (a0 * a9 + a1 * a8 + a2 * a7 + a3 * a6 + a4 * a5)
        + m0 * p9
        + m1 * p8
        + m2 * p7
        + m3 * p6
        + m4 * p5
        + m5 * p4
        + m6 * p3
        + m8 * p1;
    let m9 = t & MASK;
    carry = (t >> BITS) + m9;
    t = carry
        + 2 * (a0 * a10 + a1 * a9 + a2 * a8 + a3 * a7 + a4 * a6)
        + a5 * a5
        + m0 * p10
        + m1 * p9
        + m2 * p8
        + m3 * p7
        + m4 * p6
        + m5 * p5
        + m6 * p4
        + m7 * p3
        + m9 * p1;
    let m10 = t & MASK;
    carry = (t >> BITS) + m10;
    t = carry
        + 2 * (a0 * a11 + a1 * a10 + a2 * a9 + a3 * a8 + a4 * a7 + a5 * a6)
        + m0 * p11
        + m1 * p10
        + m2 * p9
        + m3 * p8
        + m4 * p7
        + m5 * p6
        + m6 * p5
        + m7 * p4
        + m8 * p3
        + m10 * p1;
    let m11 = t & MASK;
    carry = (t >> BITS) + m11;
    t = carry
        + 2 * (a0 * a12 + a1 * a11 + a2 * a10 + a3 * a9 + a4 * a8 + a5 * a7)
        + a6 * a6
        + m0 * p12
        + m1 * p11
        + m2 * p10
        + m3 * p9
        + m4 * p8
        + m5 * p7
        + m6 * p6
        + m7 * p5
        + m8 * p4
        + m9 * p3
        + m11 * p1;
    let m12 = t & MASK;
    carry = (t >> BITS) + m12;
    t = carry
        + 2 * (a0 * a13 + a1 * a12 + a2 * a11 + a3 * a10 + a4 * a9 + a5 * a8 + a6 * a7)
        + m0 * p13
        + m1 * p12
        + m2 * p11
        + m3 * p10
        + m4 * p9
        + m5 * p8
        + m6 * p7
        + m7 * p6
        + m8 * p5
        + m9 * p4
        + m10 * p3
        + m12 * p1;
    let m13 = t & MASK;
    carry = (t >> BITS) + m13;
    t = carry
        + 2 * (a1 * a13 + a2 * a12 + a3 * a11 + a4 * a10 + a5 * a9 + a6 * a8)
        + a7 * a7
        + m1 * p13
        + m2 * p12
        + m3 * p11
        + m4 * p10
        + m5 * p9
        + m6 * p8
        + m7 * p7
        + m8 * p6
        + m9 * p5
        + m10 * p4
        + m11 * p3
        + m13 * p1;
    let o0 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a2 * a13 + a3 * a12 + a4 * a11 + a5 * a10 + a6 * a9 + a7 * a8)
        + m2 * p13
        + m3 * p12
        + m4 * p11
        + m5 * p10
        + m6 * p9
        + m7 * p8
        + m8 * p7
        + m9 * p6
        + m10 * p5
        + m11 * p4
        + m12 * p3;
    let o1 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a3 * a13 + a4 * a12 + a5 * a11 + a6 * a10 + a7 * a9)
        + a8 * a8
        + m3 * p13
        + m4 * p12
        + m5 * p11
        + m6 * p10
        + m7 * p9
        + m8 * p8
        + m9 * p7
        + m10 * p6
        + m11 * p5
        + m12 * p4
        + m13 * p3;
    let o2 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a4 * a13 + a5 * a12 + a6 * a11 + a7 * a10 + a8 * a9)
        + m4 * p13
        + m5 * p12
        + m6 * p11
        + m7 * p10
        + m8 * p9
        + m9 * p8
        + m10 * p7
        + m11 * p6
        + m12 * p5
        + m13 * p4;
    let o3 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a5 * a13 + a6 * a12 + a7 * a11 + a8 * a10)
        + a9 * a9
        + m5 * p13
        + m6 * p12
        + m7 * p11
        + m8 * p10
        + m9 * p9
        + m10 * p8
        + m11 * p7
        + m12 * p6
        + m13 * p5;
    let o4 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a6 * a13 + a7 * a12 + a8 * a11 + a9 * a10)
        + m6 * p13
        + m7 * p12
        + m8 * p11
        + m9 * p10
        + m10 * p9
        + m11 * p8
        + m12 * p7
        + m13 * p6;
    let o5 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a7 * a13 + a8 * a12 + a9 * a11)
        + a10 * a10
        + m7 * p13
        + m8 * p12
        + m9 * p11
        + m10 * p10
        + m11 * p9
        + m12 * p8
        + m13 * p7;
    let o6 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a8 * a13 + a9 * a12 + a10 * a11)
        + m8 * p13
        + m9 * p12
        + m10 * p11
        + m11 * p10
        + m12 * p9
        + m13 * p8;
    let o7 = t & MASK;
    carry = t >> BITS;
    t = carry
        + 2 * (a9 * a13 + a10 * a12)
        + a11 * a11
        + m9 * p13
        + m10 * p12
        + m11 * p11
        + m12 * p10
        + m13 * p9;
    let o8 = t & MASK;
    carry = t >> BITS;
    t = carry + 2 * (a10 * a13 + a11 * a12) + m10 * p13 + m11 * p12 + m12 * p11 + m13 * p10;
    let o9 = t & MASK;
    carry = t >> BITS;
    t = carry + 2 * (a11 * a13) + a12 * a12 + m11 * p13 + m12 * p12 + m13 * p11;
    let o10 = t & MASK;
    carry = t >> BITS;
    t = carry + 2 * (a12 * a13) + m12 * p13 + m13 * p12;
    let o11 = t & MASK;
    carry = t >> BITS;
    t = carry + a13 * a13 + m13 * p13;
    let o12 = t & MASK;
    carry = t >> BITS;
    // Below 2p < 2^392: the last carry is the top limb.
    [o0, o1, o2, o3, o4, o5, o6, o7, o8, o9, o10, o11, o12, carry]
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::elliptic_curve::Field as _;
    use p384::FieldElement;

    fn from_fiat(x: &FieldElement) -> Fe {
        Fe::from_be_bytes(&x.to_bytes().into()).unwrap()
    }

    #[test]
    fn matches_fiat() {
        let mut rng = rsa::rand_core::OsRng;
        let mut values = vec![FieldElement::ZERO, FieldElement::ONE, -FieldElement::ONE];
        for _ in 0..300 {
            values.push(FieldElement::random(&mut rng));
        }
        for pair in values.windows(2) {
            let (x, y) = (pair[0], pair[1]);
            let (fx, fy) = (from_fiat(&x), from_fiat(&y));
            assert!(fx.multiply(&fy).equals(&from_fiat(&x.multiply(&y))));
            assert!(fx.square().equals(&from_fiat(&x.square())));
            assert!(fx.add(&fy).equals(&from_fiat(&x.add(&y))));
            assert!(fx.sub(&fy).equals(&from_fiat(&x.sub(&y))));
            assert!(fx.neg().equals(&from_fiat(&x.neg())));
            assert!(fx.double().equals(&from_fiat(&x.double())));
            assert_eq!(fx.is_zero(), bool::from(x.is_zero()));
            let bytes: [u8; 48] = x.to_bytes().into();
            assert_eq!(fx.to_be_bytes(), bytes);
            assert_eq!(fx.add(&fy).double().to_be_bytes(), {
                let b: [u8; 48] = x.add(&y).double().to_bytes().into();
                b
            });
            // Chains stay in range: many operations on unreduced values.
            let mut acc = fx;
            let mut want = x;
            for _ in 0..20 {
                acc = acc.sub(&fy).double().multiply(&fx).add(&fy).neg();
                want = want.sub(&y).double().multiply(&x).add(&y).neg();
            }
            assert!(acc.equals(&from_fiat(&want)));
        }
        // p itself and larger are refused.
        let p_bytes: [u8; 48] = (-FieldElement::ONE).to_bytes().into();
        let mut p_plus = p_bytes;
        p_plus[47] += 1;
        assert!(Fe::from_be_bytes(&p_plus).is_none());
        assert!(Fe::from_be_bytes(&[0xff; 48]).is_none());
    }
}
