//! ECDSA over P-384 with SHA-384 (JWS `ES384`), verification only, with fixed-base tables.
//!
//! A verification computes `R = u1*G + u2*Q` and checks `x(R) mod n == r`. Both `G` and the
//! public key `Q` are fixed for a key's whole life, so both multiplications use fixed-base
//! tables of signed windows: for every window position `i` the table holds `j * 2^(W*i) * P`
//! for `j = 1..=2^(W-1)` as affine points. A scalar is recoded into signed digits in
//! `[-2^(W-1), 2^(W-1)]` and the product is one mixed addition per non-zero digit: no doubling
//! at all. The generator's table is built once per VM, each key's when its key set is parsed.
//!
//! Tables are built with RustCrypto's `p384` 0.13 field (fiat-crypto, for its fast inversion)
//! and stored in the form of the crate-private `fe384` module, whose 28-bit-limb field
//! arithmetic does the per-signature work (Jacobian coordinates, `a = -3` doubling, mixed
//! additions). `s^-1 mod n` is a variable-time binary extended Euclid; the other scalar
//! operations are `p384`'s.

use std::sync::OnceLock;

use p384::elliptic_curve::ops::Reduce;
use p384::elliptic_curve::sec1::{FromEncodedPoint as _, ToEncodedPoint as _};
use p384::elliptic_curve::PrimeField as _;
use p384::{AffinePoint, EncodedPoint, FieldBytes, FieldElement, Scalar, U384};
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

/// The field operations the point formulas need: fiat-crypto's `FieldElement` for building
/// tables (it has a fast inversion), [`Fe`] for the per-signature work.
trait FieldOps: Copy {
    const ZERO: Self;
    const ONE: Self;
    fn f_mul(&self, other: &Self) -> Self;
    fn f_sqr(&self) -> Self;
    fn f_add(&self, other: &Self) -> Self;
    fn f_sub(&self, other: &Self) -> Self;
    fn f_dbl(&self) -> Self;
    fn f_is_zero(&self) -> bool;
}

impl FieldOps for FieldElement {
    const ZERO: Self = FieldElement::ZERO;
    const ONE: Self = FieldElement::ONE;
    fn f_mul(&self, other: &Self) -> Self {
        self.multiply(other)
    }
    fn f_sqr(&self) -> Self {
        self.square()
    }
    fn f_add(&self, other: &Self) -> Self {
        FieldElement::add(self, other)
    }
    fn f_sub(&self, other: &Self) -> Self {
        FieldElement::sub(self, other)
    }
    fn f_dbl(&self) -> Self {
        self.double()
    }
    fn f_is_zero(&self) -> bool {
        bool::from(self.is_zero())
    }
}

impl FieldOps for Fe {
    const ZERO: Self = Fe::ZERO;
    const ONE: Self = Fe::ONE;
    fn f_mul(&self, other: &Self) -> Self {
        self.multiply(other)
    }
    fn f_sqr(&self) -> Self {
        self.square()
    }
    fn f_add(&self, other: &Self) -> Self {
        Fe::add(self, other)
    }
    fn f_sub(&self, other: &Self) -> Self {
        Fe::sub(self, other)
    }
    fn f_dbl(&self) -> Self {
        self.double()
    }
    fn f_is_zero(&self) -> bool {
        self.is_zero()
    }
}

/// An affine point that is not the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Affine<F> {
    x: F,
    y: F,
}

/// A point in Jacobian coordinates: `(X/Z^2, Y/Z^3)`; `Z = 0` is the identity.
#[derive(Clone, Copy, Debug)]
struct Jacobian<F> {
    x: F,
    y: F,
    z: F,
}

impl<F: FieldOps> Jacobian<F> {
    const IDENTITY: Self = Self {
        x: F::ONE,
        y: F::ONE,
        z: F::ZERO,
    };

    fn from_affine(p: &Affine<F>) -> Self {
        Self {
            x: p.x,
            y: p.y,
            z: F::ONE,
        }
    }

    fn is_identity(&self) -> bool {
        self.z.f_is_zero()
    }

    /// `2 * self` ("dbl-2001-b", a = -3).
    fn double(&self) -> Self {
        if self.is_identity() || self.y.f_is_zero() {
            return Self::IDENTITY;
        }
        let delta = self.z.f_sqr();
        let gamma = self.y.f_sqr();
        let beta = self.x.f_mul(&gamma);
        let t = self.x.f_sub(&delta).f_mul(&self.x.f_add(&delta));
        let alpha = t.f_dbl().f_add(&t);
        let beta4 = beta.f_dbl().f_dbl();
        let x3 = alpha.f_sqr().f_sub(&beta4.f_dbl());
        let z3 = self.y.f_add(&self.z).f_sqr().f_sub(&gamma).f_sub(&delta);
        let gamma_sq8 = gamma.f_sqr().f_dbl().f_dbl().f_dbl();
        let y3 = alpha.f_mul(&beta4.f_sub(&x3)).f_sub(&gamma_sq8);
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }

    /// `self + q` ("madd-2007-bl"), with the exceptional cases handled explicitly.
    fn add_affine(&self, q: &Affine<F>) -> Self {
        if self.is_identity() {
            return Self::from_affine(q);
        }
        let z1z1 = self.z.f_sqr();
        let u2 = q.x.f_mul(&z1z1);
        let s2 = q.y.f_mul(&self.z).f_mul(&z1z1);
        let h = u2.f_sub(&self.x);
        let r = s2.f_sub(&self.y).f_dbl();
        if h.f_is_zero() {
            return if r.f_is_zero() {
                Self::from_affine(q).double()
            } else {
                Self::IDENTITY
            };
        }
        let hh = h.f_sqr();
        let i = hh.f_dbl().f_dbl();
        let j = h.f_mul(&i);
        let v = self.x.f_mul(&i);
        let x3 = r.f_sqr().f_sub(&j).f_sub(&v.f_dbl());
        let y3 = r.f_mul(&v.f_sub(&x3)).f_sub(&self.y.f_mul(&j).f_dbl());
        let z3 = self.z.f_add(&h).f_sqr().f_sub(&z1z1).f_sub(&hh);
        Self {
            x: x3,
            y: y3,
            z: z3,
        }
    }
}

/// Converts points to affine with one field inversion for the whole batch (Montgomery's
/// trick). `None` if any point is the identity (never the case for table entries).
fn normalize(points: &[Jacobian<FieldElement>]) -> Option<Vec<Affine<FieldElement>>> {
    let mut prefix = Vec::with_capacity(points.len());
    let mut acc = FieldElement::ONE;
    for p in points {
        if p.is_identity() {
            return None;
        }
        prefix.push(acc);
        acc = acc.multiply(&p.z);
    }
    let mut inv: FieldElement = Option::from(acc.invert())?;
    let mut out = vec![
        Affine {
            x: FieldElement::ZERO,
            y: FieldElement::ZERO,
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
    fn new(point: &Affine<FieldElement>) -> Option<Self> {
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
                    x: to_fe(&p.x)?.pack(),
                    y: to_fe(&p.y)?.pack(),
                });
            }
        }
        Some(Self { points })
    }

    /// `acc + k * P` for the scalar whose little-endian signed digits are `digits`.
    fn mul(&self, digits: &[i8; DIGITS], mut acc: Jacobian<Fe>) -> Jacobian<Fe> {
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

/// A fiat-crypto field element in this module's [`Fe`] form.
fn to_fe(x: &FieldElement) -> Option<Fe> {
    Fe::from_be_bytes(&x.to_bytes().into())
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

/// 48 bytes (callers check the length) as `FieldBytes`.
fn field_bytes(bytes: &[u8]) -> FieldBytes {
    let mut out = FieldBytes::default();
    for (to, from) in out.iter_mut().zip(bytes) {
        *to = *from;
    }
    out
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

/// `s^-1 mod n` by the binary extended Euclidean algorithm, in variable time (`s` is public):
/// several times faster in V8 than fiat-crypto's constant-time divsteps. `None` for zero (and,
/// defensively, if the loop ran longer than it can for an invertible `s`).
fn invert_scalar_vartime(s: &Scalar) -> Option<Scalar> {
    let s_be: [u8; LEN] = s.to_bytes().into();
    let n = words_from_be(&N);
    let one = {
        let mut one = [0_u64; 6];
        one[0] = 1;
        one
    };
    let mut u = words_from_be(&s_be);
    let mut v = n;
    // Invariants: x1 * s = u and x2 * s = v (mod n), x1 and x2 in [0, n).
    let mut x1 = one;
    let mut x2 = [0_u64; 6];
    if u == [0; 6] {
        return None;
    }
    // Each round removes at least one bit from u or v: 2 * 384 rounds are plenty.
    for _ in 0..2 * 8 * LEN + 2 {
        if u == one {
            return scalar_from_words(&x1);
        }
        if v == one {
            return scalar_from_words(&x2);
        }
        while u[0] & 1 == 0 {
            shr1(&mut u, 0);
            halve_mod_n(&mut x1, &n);
        }
        while v[0] & 1 == 0 {
            shr1(&mut v, 0);
            halve_mod_n(&mut x2, &n);
        }
        if less_than_words(&u, &v) {
            sub_words(&mut v, &u);
            sub_mod_n(&mut x2, &x1, &n);
        } else {
            sub_words(&mut u, &v);
            sub_mod_n(&mut x1, &x2, &n);
        }
        if u == [0; 6] || v == [0; 6] {
            return None;
        }
    }
    None
}

/// 48 big-endian bytes as six little-endian 64-bit words.
fn words_from_be(be: &[u8; LEN]) -> [u64; 6] {
    let mut words = [0_u64; 6];
    for (word, chunk) in words.iter_mut().zip(be.rchunks_exact(8)) {
        *word = chunk.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b));
    }
    words
}

fn scalar_from_words(words: &[u64; 6]) -> Option<Scalar> {
    let mut be = [0_u8; LEN];
    for (chunk, word) in be.rchunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    Scalar::from_repr(field_bytes(&be)).into()
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

/// `x = x / 2 mod n` for `x < n`, `n` odd.
fn halve_mod_n(x: &mut [u64; 6], n: &[u64; 6]) {
    if x[0] & 1 == 0 {
        shr1(x, 0);
    } else {
        let carry = add_words(x, n);
        shr1(x, u64::from(carry));
    }
}

/// `a = a - b mod n` for `a, b < n`.
fn sub_mod_n(a: &mut [u64; 6], b: &[u64; 6], n: &[u64; 6]) {
    if sub_words(a, b) {
        add_words(a, n);
    }
}

/// A valid public key point as our affine type (`None` for the identity).
fn to_affine(point: &AffinePoint) -> Option<Affine<FieldElement>> {
    let encoded = point.to_encoded_point(false);
    let x = Option::from(FieldElement::from_bytes(&field_bytes(encoded.x()?)))?;
    let y = Option::from(FieldElement::from_bytes(&field_bytes(encoded.y()?)))?;
    Some(Affine { x, y })
}

fn generator_table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| Table::new(&to_affine(&AffinePoint::GENERATOR)?))
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
        if x.len() != LEN || y.len() != LEN {
            return None;
        }
        let encoded =
            EncodedPoint::from_affine_coordinates(&field_bytes(x), &field_bytes(y), false);
        // Decoding checks both coordinates are below p and the point is on the curve.
        let point: AffinePoint = Option::from(AffinePoint::from_encoded_point(&encoded))?;
        let affine = to_affine(&point)?;
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
        // from_repr refuses values >= n; zero is refused below: r and s must be in 1..n.
        let r: Option<Scalar> = Scalar::from_repr(field_bytes(r_bytes)).into();
        let s: Option<Scalar> = Scalar::from_repr(field_bytes(s_bytes)).into();
        let (Some(r), Some(s)) = (r, s) else {
            return false;
        };
        if bool::from(r.is_zero()) || bool::from(s.is_zero()) {
            return false;
        }
        let Some(s_inv) = invert_scalar_vartime(&s).or_else(|| s.invert().into()) else {
            return false;
        };
        let Some(g_table) = generator_table() else {
            return false;
        };
        // SHA-384 is as wide as n: z is the digest reduced mod n.
        let z = <Scalar as Reduce<U384>>::reduce_bytes(&field_bytes(hash));
        let u1 = z * s_inv;
        let u2 = r * s_inv;
        let acc = g_table.mul(&recode(&u1.to_bytes().into()), Jacobian::IDENTITY);
        let point = self.table.mul(&recode(&u2.to_bytes().into()), acc);
        if point.is_identity() {
            return false;
        }
        // x(R) mod n == r without an inversion: x(R) = X / Z^2 is in [0, p), and p < 2n, so
        // x(R) mod n == r means x(R) == r, or x(R) == r + n when r + n < p.
        let z2 = point.z.square();
        let r_be: [u8; LEN] = r.to_bytes().into();
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
    use p384::elliptic_curve::Field as _;

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
        let mut rng = rsa::rand_core::OsRng;
        let mut cases = vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            -Scalar::from(2_u64),
        ];
        for _ in 0..200 {
            cases.push(Scalar::random(&mut rng));
        }
        for k in cases {
            let digits = recode(&k.to_bytes().into());
            assert!(digits
                .iter()
                .all(|d| d.unsigned_abs() as usize <= PER_WINDOW));
            assert_eq!(scalar_from_digits(&digits), k);
        }
    }

    #[test]
    fn vartime_inversion_matches_fiat() {
        let mut rng = rsa::rand_core::OsRng;
        let mut cases = vec![
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(2_u64),
            -Scalar::from(2_u64),
            Scalar::from(3_u64),
        ];
        for _ in 0..2000 {
            cases.push(Scalar::random(&mut rng));
        }
        for s in cases {
            let want: Scalar = Option::from(s.invert()).unwrap();
            assert_eq!(invert_scalar_vartime(&s), Some(want));
        }
        assert_eq!(invert_scalar_vartime(&Scalar::ZERO), None);
    }

    #[test]
    fn table_multiplication_matches_plain() {
        let mut rng = rsa::rand_core::OsRng;
        let table = generator_table().unwrap();
        for _ in 0..50 {
            let k = Scalar::random(&mut rng);
            let digits = recode(&k.to_bytes().into());
            let got = table.mul(&digits, Jacobian::IDENTITY);
            let want = to_affine(&(p384::ProjectivePoint::GENERATOR * k).to_affine()).unwrap();
            // x = X / Z^2, y = Y / Z^3.
            let z2 = got.z.square();
            assert!(to_fe(&want.x).unwrap().multiply(&z2).equals(&got.x));
            assert!(to_fe(&want.y)
                .unwrap()
                .multiply(&z2)
                .multiply(&got.z)
                .equals(&got.y));
        }
    }
}
