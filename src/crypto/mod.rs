//! Signature arithmetic tuned for running inside V8 (wasm32), with per-key precomputation.
//!
//! - [`rsa`]: RSASSA-PKCS1-v1_5 / SHA-256 verification on 32-bit limbs with the Montgomery
//!   constants of each modulus computed once, when the key set is parsed.
//! - [`p384`]: ECDSA P-384 / SHA-384 verification over RustCrypto's `p384` field and point
//!   types, with fixed-base signed-window tables for the generator (once per VM) and for each
//!   public key (once per key-set generation), so a verification needs no point doubling.
//!
//! All of it is variable-time: it only ever handles public keys, public signatures and public
//! messages. Both paths are checked against RustCrypto's `rsa` and `p384` crates and against the
//! Wycheproof vectors in `tests/fastpath.rs`.

pub mod p384;
pub mod rsa;
