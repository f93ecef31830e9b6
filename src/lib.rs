//! jwt-authn-wasm: JWT bearer-token authentication for Envoy, run through proxy-wasm.
//!
//! Everything outside [`host`] is a pure core: it never touches proxy-wasm, takes the clock as an
//! argument, and is tested natively with `cargo test`. The `host` module (built only for wasm32)
//! is the thin layer that reads headers, talks to shared data and dispatches HTTP callouts.
//!
//! The tree draws two roads, and dependencies only run down this list:
//!
//! - [`error`], [`path`] and [`verify`]: the vocabulary (typed failures and their reply, the
//!   canonical request path) and signature verification, one backend per algorithm.
//! - [`config`]: the configuration, parsed and compiled once into the model both roads read.
//! - [`keys`], the key's road: config → [`keys::fetch`] (schedule, discovery, backoff, lease)
//!   → [`keys::store`] (shared data, one copy for every worker) → [`keys::jwks`] (the key set,
//!   parsed once per generation).
//! - [`request`], the request's road: [`request::sources`] and [`request::extract`] (find the
//!   token) → [`request::token`] (parse it) → [`request::authenticator`] (choose the provider,
//!   find the key, verify) → [`request::claims`] → [`request::binding`] (DPoP proofs, bound
//!   certificates) → [`request::policy`] → the reply
//!   ([`error::ErrorReply`]) or [`request::upstream`]'s edits; [`request::flow`] runs them in
//!   that order, with [`request::cache`] in front.
//! - `host`: proxy-wasm's side, the only place it appears.

pub mod config;
pub mod error;
pub mod keys;
pub mod path;
pub mod request;
pub mod verify;

#[cfg(target_arch = "wasm32")]
mod host;
