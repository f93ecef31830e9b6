//! ECDSA over P-384 with SHA-384 (JWS `ES384`), verification only, with fixed-base tables.
//!
//! A verification computes `R = u1*G + u2*Q` and checks `x(R) mod n == r`. Both `G` and the
//! public key `Q` are fixed for a key's whole life, so both multiplications use fixed-base
//! tables of signed windows: for every window position `i` the table holds `j * 2^(W*i) * P`
//! for `j = 1..=2^(W-1)` as affine points. A scalar is recoded into signed digits in
//! `[-2^(W-1), 2^(W-1)]` and the product is one mixed addition per non-zero digit: no doubling
//! at all. The generator's table is built once per VM, each key's when its key set is parsed.
//!
//! All arithmetic is this crate's (no `p384` crate in the filter: it cost ~90 KB of `.wasm`):
//! the field is the crate-private `fe384` module's 28-bit-limb Montgomery form (Jacobian
//! coordinates, `a = -3` doubling, mixed additions); inversions, in the field while building
//! tables and mod n once per signature, are a variable-time binary extended Euclid on 64-bit
//! words; the two products mod n are a 32-bit-limb Montgomery multiplication. Everything here
//! handles public values only, so variable time is fine; `tests/fastpath.rs` checks the whole
//! verification against RustCrypto's `p384`, `tests/wycheproof.rs` against Wycheproof, and the
//! tests below check each piece against `p384`'s field and scalar types.

use std::sync::OnceLock;

use sha2::{Digest as _, Sha384};

use super::fe384::{self, Fe};

/// Window width in bits: 65 positions of 32 points (about 200 KB per table) and at most 65
/// additions per scalar multiplication.
const W: usize = 6;

/// Signed digits per 384-bit scalar: one per window plus a final carry.
const DIGITS: usize = 384_usize.div_ceil(W) + 1;

/// Points per window position: multiples 1 ..= 2^(W-1).
const PER_WINDOW: usize = 1 << (W - 1);

/// Byte length of a P-384 scalar or coordinate.
const LEN: usize = 48;

/// The field prime p, big-endian.
const P: [u8; LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
];

/// The group order n, big-endian.
const N: [u8; LEN] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73,
];

/// The curve coefficient b, big-endian.
const B: [u8; LEN] = [
    0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b, 0xe3, 0xf8, 0x2d, 0x19,
    0x18, 0x1d, 0x9c, 0x6e, 0xfe, 0x81, 0x41, 0x12, 0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a,
    0xc6, 0x56, 0x39, 0x8d, 0x8a, 0x2e, 0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef,
];

/// The generator's x coordinate, big-endian.
const GX: [u8; LEN] = [
    0xaa, 0x87, 0xca, 0x22, 0xbe, 0x8b, 0x05, 0x37, 0x8e, 0xb1, 0xc7, 0x1e, 0xf3, 0x20, 0xad, 0x74,
    0x6e, 0x1d, 0x3b, 0x62, 0x8b, 0xa7, 0x9b, 0x98, 0x59, 0xf7, 0x41, 0xe0, 0x82, 0x54, 0x2a, 0x38,
    0x55, 0x02, 0xf2, 0x5d, 0xbf, 0x55, 0x29, 0x6c, 0x3a, 0x54, 0x5e, 0x38, 0x72, 0x76, 0x0a, 0xb7,
];

/// The generator's y coordinate, big-endian.
const GY: [u8; LEN] = [
    0x36, 0x17, 0xde, 0x4a, 0x96, 0x26, 0x2c, 0x6f, 0x5d, 0x9e, 0x98, 0xbf, 0x92, 0x92, 0xdc, 0x29,
    0xf8, 0xf4, 0x1d, 0xbd, 0x28, 0x9a, 0x14, 0x7c, 0xe9, 0xda, 0x31, 0x13, 0xb5, 0xf0, 0xb8, 0xc0,
    0x0a, 0x60, 0xb1, 0xce, 0x1d, 0x7e, 0x81, 0x9d, 0x7a, 0x43, 0x1d, 0x7c, 0x90, 0xea, 0x0e, 0x5f,
];

/// An affine point that is not the identity.
#[derive(Clone, Copy, Debug)]
struct Affine {
    x: Fe,
    y: Fe,
}

/// A point in Jacobian coordinates: `(X/Z^2, Y/Z^3)`; `Z = 0` is the identity.
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Jacobian {
    const IDENTITY: Self = Self {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    fn from_affine(p: &Affine) -> Self {
        Self {
            x: p.x,
            y: p.y,
            z: Fe::ONE,
        }
    }

    fn is_identity(&self) -> bool {
        self.z.is_zero()
    }

    /// `2 * self` ("dbl-2001-b", a = -3).
    fn double(&self) -> Self {
        if self.is_identity() || self.y.is_zero() {
            return Self::IDENTITY;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.multiply(&gamma);
        let t = self.x.sub(&delta).multiply(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let beta4 = beta.double().double();
        let x3 = alpha.square().sub(&beta4.double());
        let z3 = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma_sq8 = gamma.square().double().double().double();
        let y3 = alpha.multiply(&beta4.sub(&x3)).sub(&gamma_sq8);
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// `self + q` ("madd-2007-bl"), with the exceptional cases handled explicitly.
    fn add_affine(&self, q: &Affine) -> Self {
        if self.is_identity() {
            return Self::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x.multiply(&z1z1);
        let s2 = q.y.multiply(&self.z).multiply(&z1z1);
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y).double();
        if h.is_zero() {
            return if r.is_zero() {
                Self::from_affine(q).double()
            } else {
                Self::IDENTITY
            };
        }
        let hh = h.square();
        let i = hh.double().double();
        let j = h.multiply(&i);
        let v = self.x.multiply(&i);
        let x3 = r.square().sub(&j).sub(&v.double());
        let y3 = r.multiply(&v.sub(&x3)).sub(&self.y.multiply(&j).double());
        let z3 = self.z.add(&h).square().sub(&z1z1).sub(&hh);
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }
}

/// Converts points to affine with one field inversion for the whole batch (Montgomery's
/// trick). `None` if any point is the identity (never the case for table entries).
fn normalize(points: &[Jacobian]) -> Option<Vec<Affine>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = Fe::ONE;
    for p in points {
        if p.is_identity() {
            return None;
        }
        prefix.push(acc);
        acc = acc.multiply(&p.z);
    }
    let mut inv = invert_fe_vartime(&acc)?;
    let mut out = vec![
        Affine {
            x: Fe::ZERO,
            y: Fe::ZERO,
        };
        points.len()
    ];
    for ((p, before), slot) in points.iter().zip(&prefix).zip(out.iter_mut()).rev() {
        // inv = 1 / (z_0 ... z_k); z_k^-1 = inv * (z_0 ... z_{k-1}).
        let z_inv = inv.multiply(before);
        inv = inv.multiply(&p.z);
        let z_inv2 = z_inv.square();
        *slot = Affine {
            x: p.x.multiply(&z_inv2),
            y: p.y.multiply(&z_inv2).multiply(&z_inv),
        };
    }
    Some(out)
}

/// A fixed-base table of one point (see the module docs).
struct Table {
    /// `points[i * PER_WINDOW + (j - 1)] = j * 2^(W*i) * P`, packed (see [`Packed`]).
    points: Vec<Packed>,
}

/// An affine point as the packed limbs of `x` and `y` (112 bytes instead of 224).
#[derive(Clone, Copy, Debug)]
struct Packed {
    x: [u32; fe384::L],
    y: [u32; fe384::L],
}

impl Table {
    fn new(point: &Affine) -> Option<Self> {
        let mut points = Vec::with_capacity(DIGITS * PER_WINDOW);
        let mut base = *point;
        for _ in 0..DIGITS {
            let mut window = Vec::with_capacity(PER_WINDOW + 1);
            let mut multiple = Jacobian::from_affine(&base);
            for _ in 0..PER_WINDOW {
                window.push(multiple);
                multiple = multiple.add_affine(&base);
            }
            // The next base, 2^W * base, is normalized in the same batch.
            let mut next = Jacobian::from_affine(&base);
            for _ in 0..W {
                next = next.double();
            }
            window.push(next);
            let mut affine = normalize(&window)?;
            base = affine.pop()?;
            for p in affine {
                points.push(Packed {
                    x: p.x.pack(),
                    y: p.y.pack(),
                });
            }
        }
        Some(Self { points })
    }

    /// `acc + k * P` for the scalar whose little-endian signed digits are `digits`.
    fn mul(&self, digits: &[i8; DIGITS], mut acc: Jacobian) -> Jacobian {
        for (window, &digit) in self.points.chunks_exact(PER_WINDOW).zip(digits) {
            let magnitude = usize::from(digit.unsigned_abs());
            if magnitude == 0 {
                continue;
            }
            if let Some(point) = window.get(magnitude - 1) {
                let y = Fe::unpack(&point.y);
                acc = acc.add_affine(&Affine {
                    x: Fe::unpack(&point.x),
                    y: if digit > 0 { y } else { y.neg() },
                });
            }
        }
        acc
    }
}

/// Signed base-2^W digits of a scalar given as 48 big-endian bytes (a value below n < 2^384).
fn recode(be: &[u8; LEN]) -> [i8; DIGITS] {
    let mut digits = [0_i8; DIGITS];
    let bit = |i: usize| -> i32 {
        if i >= 8 * LEN {
            return 0;
        }
        be.get(LEN - 1 - i / 8)
            .map_or(0, |byte| i32::from((byte >> (i % 8)) & 1))
    };
    let mut carry = 0_i32;
    for (index, digit) in digits.iter_mut().enumerate() {
        let mut value = carry;
        for b in 0..W {
            value += bit(index * W + b) << b;
        }
        let half = 1_i32 << (W - 1);
        if value > half {
            value -= 1 << W;
            carry = 1;
        } else {
            carry = 0;
        }
        // |value| <= 2^(W-1) = 32 fits an i8.
        *digit = value as i8;
    }
    digits
}

/// `a + b` for 48-byte big-endian numbers, `None` on overflow past 2^384.
fn add_be(a: &[u8; LEN], b: &[u8; LEN]) -> Option<[u8; LEN]> {
    let mut out = [0_u8; LEN];
    let mut carry = 0_u16;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b).rev() {
        let sum = u16::from(*x) + u16::from(*y) + carry;
        *o = sum as u8;
        carry = sum >> 8;
    }
    (carry == 0).then_some(out)
}

/// `x^-1 mod m` (`m` odd, `x < m`) by the binary extended Euclidean algorithm, in variable
/// time (`x` is public): several times faster in V8 than fiat-crypto's constant-time divsteps.
/// `None` for zero, or when `x` and `m` share a factor (never for the primes used here), and,
/// defensively, if the loop ran longer than it can.
fn invert_mod_vartime(x: &[u64; 6], m: &[u64; 6]) -> Option<[u64; 6]> {
    let one = {
        let mut one = [0_u64; 6];
        one[0] = 1;
        one
    };
    let mut u = *x;
    let mut v = *m;
    // Invariants: x1 * x = u and x2 * x = v (mod m), x1 and x2 in [0, m).
    let mut x1 = one;
    let mut x2 = [0_u64; 6];
    if u == [0; 6] {
        return None;
    }
    // Each round removes at least one bit from u or v: 2 * 384 rounds are plenty.
    for _ in 0..2 * 8 * LEN + 2 {
        if u == one {
            return Some(x1);
        }
        if v == one {
            return Some(x2);
        }
        while u[0] & 1 == 0 {
            shr1(&mut u, 0);
            halve_mod(&mut x1, m);
        }
        while v[0] & 1 == 0 {
            shr1(&mut v, 0);
            halve_mod(&mut x2, m);
        }
        if less_than_words(&u, &v) {
            sub_words(&mut v, &u);
            sub_mod(&mut x2, &x1, m);
        } else {
            sub_words(&mut u, &v);
            sub_mod(&mut x1, &x2, m);
        }
        if u == [0; 6] || v == [0; 6] {
            return None;
        }
    }
    None
}

/// `x^-1` in the field, through [`invert_mod_vartime`] (table building only).
fn invert_fe_vartime(x: &Fe) -> Option<Fe> {
    let inverse = invert_mod_vartime(&words_from_be(&x.to_be_bytes()), &words_from_be(&P))?;
    Fe::from_be_bytes(&be_from_words(&inverse))
}

/// n as words, and its Montgomery constants for 32-bit limbs: `-n^-1 mod 2^32` and
/// `2^768 mod n`. Computed once per VM.
struct ScalarMont {
    n_words: [u64; 6],
    n: [u32; 12],
    n0_inv: u32,
    r2: [u32; 12],
}

fn scalar_mont() -> &'static ScalarMont {
    static MONT: OnceLock<ScalarMont> = OnceLock::new();
    MONT.get_or_init(|| {
        let n_words = words_from_be(&N);
        let n = limbs32(&n_words);
        // Newton's iteration doubles the correct low bits each step: 1 -> 2 -> ... -> 32.
        let mut inv = 1_u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2_u32.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        // 2^384 mod n = 2^384 - n (n < 2^384 < 2n), then 384 doublings mod n give 2^768 mod n.
        let mut r = [0_u64; 6];
        sub_words(&mut r, &n_words);
        for _ in 0..384 {
            let before = r;
            let carry = add_words(&mut r, &before);
            if carry || !less_than_words(&r, &n_words) {
                sub_words(&mut r, &n_words);
            }
        }
        ScalarMont {
            n_words,
            n,
            n0_inv: inv.wrapping_neg(),
            r2: limbs32(&r),
        }
    })
}

/// Six 64-bit words as twelve 32-bit limbs, little-endian.
fn limbs32(words: &[u64; 6]) -> [u32; 12] {
    let mut out = [0_u32; 12];
    for (pair, word) in out.chunks_exact_mut(2).zip(words) {
        for (limb, half) in pair.iter_mut().zip([*word as u32, (*word >> 32) as u32]) {
            *limb = half;
        }
    }
    out
}

/// The inverse of [`limbs32`].
fn words64(limbs: &[u32; 12]) -> [u64; 6] {
    let mut out = [0_u64; 6];
    for (word, pair) in out.iter_mut().zip(limbs.chunks_exact(2)) {
        *word = pair
            .iter()
            .rev()
            .fold(0, |acc, &limb| (acc << 32) | u64::from(limb));
    }
    out
}

/// `a * b * 2^-384 mod n` for `a, b < n` (CIOS Montgomery multiplication; every product and
/// sum fits a `u64`: `(2^32-1)^2 + 2 (2^32-1) = 2^64 - 1`).
fn mont_mul_n(a: &[u32; 12], b: &[u32; 12], mont: &ScalarMont) -> [u32; 12] {
    let mut t = [0_u32; 14];
    for &bi in b {
        let mut carry = 0_u64;
        for (tj, &aj) in t.iter_mut().zip(a) {
            let sum = u64::from(*tj) + u64::from(aj) * u64::from(bi) + carry;
            *tj = sum as u32;
            carry = sum >> 32;
        }
        let sum = u64::from(t[12]) + carry;
        t[12] = sum as u32;
        t[13] = (sum >> 32) as u32;
        let m = t[0].wrapping_mul(mont.n0_inv);
        // t + m * n is divisible by 2^32: shift down one limb as it is added.
        let mut carry = (u64::from(t[0]) + u64::from(m) * u64::from(mont.n[0])) >> 32;
        let mut shifted = [0_u32; 14];
        for ((out, &tj), &nj) in shifted
            .iter_mut()
            .zip(t.iter().skip(1))
            .zip(mont.n.iter().skip(1))
        {
            let sum = u64::from(tj) + u64::from(m) * u64::from(nj) + carry;
            *out = sum as u32;
            carry = sum >> 32;
        }
        let sum = u64::from(t[12]) + carry;
        shifted[11] = sum as u32;
        shifted[12] = t[13] + (sum >> 32) as u32;
        t = shifted;
    }
    // Below 2n: one conditional subtraction.
    let mut out = [0_u32; 12];
    for (o, limb) in out.iter_mut().zip(&t) {
        *o = *limb;
    }
    let mut words = words64(&out);
    if t[12] != 0 || !less_than_words(&words, &mont.n_words) {
        sub_words(&mut words, &mont.n_words);
    }
    limbs32(&words)
}

/// `a * b mod n` for `a, b < n`.
fn mul_mod_n(a: &[u64; 6], b: &[u64; 6]) -> [u64; 6] {
    let mont = scalar_mont();
    // (a b R^-1) R^2 R^-1 = a b.
    let ab = mont_mul_n(&limbs32(a), &limbs32(b), mont);
    words64(&mont_mul_n(&ab, &mont.r2, mont))
}

/// 48 big-endian bytes as six little-endian 64-bit words.
fn words_from_be(be: &[u8; LEN]) -> [u64; 6] {
    let mut words = [0_u64; 6];
    for (word, chunk) in words.iter_mut().zip(be.rchunks_exact(8)) {
        *word = chunk.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b));
    }
    words
}

/// The inverse of [`words_from_be`].
fn be_from_words(words: &[u64; 6]) -> [u8; LEN] {
    let mut be = [0_u8; LEN];
    for (chunk, word) in be.rchunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    be
}

fn less_than_words(a: &[u64; 6], b: &[u64; 6]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo 2^384; returns the borrow.
fn sub_words(a: &mut [u64; 6], b: &[u64; 6]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *x = d2;
        borrow = b1 || b2;
    }
    borrow
}

/// `a += b` modulo 2^384; returns the carry.
fn add_words(a: &mut [u64; 6], b: &[u64; 6]) -> bool {
    let mut carry = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (s1, c1) = x.overflowing_add(y);
        let (s2, c2) = s1.overflowing_add(u64::from(carry));
        *x = s2;
        carry = c1 || c2;
    }
    carry
}

/// `a >>= 1`, with `top` shifted in as bit 383.
fn shr1(a: &mut [u64; 6], top: u64) {
    let mut incoming = top;
    for word in a.iter_mut().rev() {
        let out = *word & 1;
        *word = (*word >> 1) | (incoming << 63);
        incoming = out;
    }
}

/// `x = x / 2 mod m` for `x < m`, `m` odd.
fn halve_mod(x: &mut [u64; 6], m: &[u64; 6]) {
    if x[0] & 1 == 0 {
        shr1(x, 0);
    } else {
        let carry = add_words(x, m);
        shr1(x, u64::from(carry));
    }
}

/// `a = a - b mod m` for `a, b < m`.
fn sub_mod(a: &mut [u64; 6], b: &[u64; 6], m: &[u64; 6]) {
    if sub_words(a, b) {
        add_words(a, m);
    }
}

/// The point `(x, y)` if both coordinates are below p and it lies on the curve
/// `y^2 = x^3 - 3x + b`.
fn affine_on_curve(x: &[u8; LEN], y: &[u8; LEN]) -> Option<Affine> {
    let (x, y) = (Fe::from_be_bytes(x)?, Fe::from_be_bytes(y)?);
    let b = Fe::from_be_bytes(&B)?;
    let three_x = x.double().add(&x);
    let rhs = x.square().multiply(&x).sub(&three_x).add(&b);
    y.square().equals(&rhs).then_some(Affine { x, y })
}

/// Whether `(x, y)` (48 bytes each, big-endian) is a point on P-384, without building a key's
/// table (for a key only the host will use).
pub fn is_on_curve(x: &[u8], y: &[u8]) -> bool {
    let (Ok(x), Ok(y)) = (<&[u8; LEN]>::try_from(x), <&[u8; LEN]>::try_from(y)) else {
        return false;
    };
    affine_on_curve(x, y).is_some()
}

fn generator_table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| Table::new(&affine_on_curve(&GX, &GY)?))
        .as_ref()
}

/// A P-384 public key with its fixed-base table, ready for many verifications.
pub struct P384VerifyingKey {
    /// The point, uncompressed SEC1 (for diagnostics and comparisons).
    sec1: [u8; 1 + 2 * LEN],
    table: Table,
}

impl std::fmt::Debug for P384VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P384VerifyingKey")
            .field("table_points", &self.table.points.len())
            .finish_non_exhaustive()
    }
}

impl P384VerifyingKey {
    /// Prepares a key from its affine coordinates (48 bytes each, big-endian). `None` when the
    /// coordinates are not field elements or the point is not on the curve.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Option<Self> {
        let (Ok(x), Ok(y)) = (<&[u8; LEN]>::try_from(x), <&[u8; LEN]>::try_from(y)) else {
            return None;
        };
        let affine = affine_on_curve(x, y)?;
        // The generator's table is built by the first key, once per VM, not by a request.
        generator_table()?;
        let mut sec1 = [0_u8; 1 + 2 * LEN];
        for (to, from) in sec1.iter_mut().zip([0x04].iter().chain(x).chain(y)) {
            *to = *from;
        }
        Some(Self {
            sec1,
            table: Table::new(&affine)?,
        })
    }

    /// The key as uncompressed SEC1 bytes (`0x04 || x || y`).
    pub fn to_sec1_bytes(&self) -> &[u8] {
        &self.sec1
    }

    /// Verifies a raw `r || s` ES384 signature (96 bytes) over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let hash = Sha384::digest(message);
        self.verify_prehashed(&hash, signature)
    }

    /// As [`Self::verify`] with the SHA-384 digest of the message already computed.
    pub fn verify_prehashed(&self, hash: &[u8], signature: &[u8]) -> bool {
        if hash.len() != LEN || signature.len() != 2 * LEN {
            return false;
        }
        let (r_bytes, s_bytes) = signature.split_at(LEN);
        let (Ok(r_be), Ok(s_be), Ok(hash)) = (
            <[u8; LEN]>::try_from(r_bytes),
            <[u8; LEN]>::try_from(s_bytes),
            <&[u8; LEN]>::try_from(hash),
        ) else {
            return false;
        };
        // r and s must be in 1..n.
        let n = scalar_mont().n_words;
        let (r, s) = (words_from_be(&r_be), words_from_be(&s_be));
        let in_range = |v: &[u64; 6]| *v != [0; 6] && less_than_words(v, &n);
        if !in_range(&r) || !in_range(&s) {
            return false;
        }
        let Some(s_inv) = invert_mod_vartime(&s, &n) else {
            return false;
        };
        let Some(g_table) = generator_table() else {
            return false;
        };
        // SHA-384 is as wide as n: z is the digest mod n, one subtraction at most (2^384 < 2n).
        let mut z = words_from_be(hash);
        if !less_than_words(&z, &n) {
            sub_words(&mut z, &n);
        }
        let u1 = mul_mod_n(&z, &s_inv);
        let u2 = mul_mod_n(&r, &s_inv);
        let acc = g_table.mul(&recode(&be_from_words(&u1)), Jacobian::IDENTITY);
        let point = self.table.mul(&recode(&be_from_words(&u2)), acc);
        if point.is_identity() {
            return false;
        }
        // x(R) mod n == r without an inversion: x(R) = X / Z^2 is in [0, p), and p < 2n, so
        // x(R) mod n == r means x(R) == r, or x(R) == r + n when r + n < p.
        let z2 = point.z.square();
        let matches = |candidate: &[u8; LEN]| {
            Fe::from_be_bytes(candidate).is_some_and(|x| x.multiply(&z2).equals(&point.x))
        };
        if matches(&r_be) {
            return true;
        }
        match add_be(&r_be, &N) {
            Some(r_plus_n) if r_plus_n < P => matches(&r_plus_n),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p384::elliptic_curve::sec1::ToEncodedPoint as _;
    use p384::elliptic_curve::{Field as _, PrimeField as _};
    use p384::{AffinePoint, FieldElement, ProjectivePoint, Scalar};

    fn be(s: &Scalar) -> [u8; LEN] {
        s.to_bytes().into()
    }

    fn words(s: &Scalar) -> [u64; 6] {
        words_from_be(&be(s))
    }

    fn scalar(w: &[u64; 6]) -> Scalar {
        Option::from(Scalar::from_repr(be_from_words(w).into())).unwrap()
    }

    /// A `p384` point as ours.
    fn ours(point: &AffinePoint) -> Affine {
        let encoded = point.to_encoded_point(false);
        let x: [u8; LEN] = (*encoded.x().unwrap()).into();
        let y: [u8; LEN] = (*encoded.y().unwrap()).into();
        affine_on_curve(&x, &y).unwrap()
    }

    fn random_scalars(n: usize) -> Vec<Scalar> {
        let mut rng = rsa::rand_core::OsRng;
        let mut cases = vec![
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(2_u64),
            -Scalar::from(2_u64),
            Scalar::from(3_u64),
        ];
        for _ in 0..n {
            cases.push(Scalar::random(&mut rng));
        }
        cases
    }

    fn scalar_from_digits(digits: &[i8; DIGITS]) -> Scalar {
        let mut acc = Scalar::ZERO;
        for &d in digits.iter().rev() {
            for _ in 0..W {
                acc = acc.double();
            }
            let magnitude = Scalar::from(u64::from(d.unsigned_abs()));
            acc = if d >= 0 {
                acc + magnitude
            } else {
                acc - magnitude
            };
        }
        acc
    }

    #[test]
    fn recoding_round_trips() {
        let mut cases = random_scalars(200);
        cases.push(Scalar::ZERO);
        for k in cases {
            let digits = recode(&be(&k));
            assert!(digits
                .iter()
                .all(|d| d.unsigned_abs() as usize <= PER_WINDOW));
            assert_eq!(scalar_from_digits(&digits), k);
        }
    }

    #[test]
    fn the_curve_constants_are_p384s() {
        let g = AffinePoint::GENERATOR.to_encoded_point(false);
        assert_eq!(<[u8; LEN]>::from(*g.x().unwrap()), GX);
        assert_eq!(<[u8; LEN]>::from(*g.y().unwrap()), GY);
        assert!(affine_on_curve(&GX, &GY).is_some());
        assert_eq!(be(&-Scalar::ONE), {
            let mut n_minus_1 = N;
            n_minus_1[LEN - 1] -= 1;
            n_minus_1
        });
        let p_minus_1: [u8; LEN] = (-FieldElement::ONE).to_bytes().into();
        assert_eq!(p_minus_1[..LEN - 1], P[..LEN - 1]);
        assert_eq!(p_minus_1[LEN - 1], P[LEN - 1] - 1);
    }

    #[test]
    fn points_off_the_curve_or_out_of_the_field_are_refused() {
        let mut y = GY;
        y[LEN - 1] ^= 1;
        assert!(affine_on_curve(&GX, &y).is_none());
        assert!(affine_on_curve(&P, &GY).is_none());
        assert!(affine_on_curve(&GX, &P).is_none());
        assert!(affine_on_curve(&[0; LEN], &[0; LEN]).is_none());
        assert!(P384VerifyingKey::from_coordinates(&GX, &y).is_none());
        assert!(P384VerifyingKey::from_coordinates(&GX[1..], &GY).is_none());
        assert!(P384VerifyingKey::from_coordinates(&GX, &GY).is_some());
    }

    #[test]
    fn vartime_inversion_matches_fiat() {
        let n = words_from_be(&N);
        for s in random_scalars(2000) {
            let want: Scalar = Option::from(s.invert()).unwrap();
            assert_eq!(invert_mod_vartime(&words(&s), &n), Some(words(&want)));
        }
        assert_eq!(invert_mod_vartime(&[0; 6], &n), None);
        let mut rng = rsa::rand_core::OsRng;
        for _ in 0..300 {
            let x = FieldElement::random(&mut rng);
            let fe = Fe::from_be_bytes(&x.to_bytes().into()).unwrap();
            let want: FieldElement = Option::from(x.invert()).unwrap();
            let want: [u8; LEN] = want.to_bytes().into();
            assert_eq!(invert_fe_vartime(&fe).unwrap().to_be_bytes(), want);
        }
        assert!(invert_fe_vartime(&Fe::ZERO).is_none());
    }

    #[test]
    fn products_mod_n_match_fiat() {
        let cases = random_scalars(2000);
        for pair in cases.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(scalar(&mul_mod_n(&words(&a), &words(&b))), a * b);
        }
        assert_eq!(mul_mod_n(&[0; 6], &words(&-Scalar::ONE)), [0; 6]);
    }

    #[test]
    fn table_multiplication_matches_plain() {
        let table = generator_table().unwrap();
        for k in random_scalars(50) {
            let got = table.mul(&recode(&be(&k)), Jacobian::IDENTITY);
            let want = ours(&(ProjectivePoint::GENERATOR * k).to_affine());
            // x = X / Z^2, y = Y / Z^3.
            let z2 = got.z.square();
            assert!(want.x.multiply(&z2).equals(&got.x));
            assert!(want.y.multiply(&z2).multiply(&got.z).equals(&got.y));
        }
    }
}
