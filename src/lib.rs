//! jwt-authn-wasm: JWT bearer-token authentication for Envoy, run through proxy-wasm.
//!
//! Everything outside [`host`] is a pure core: it never touches proxy-wasm, takes the clock as an
//! argument, and is tested natively with `cargo test`. The `host` module (built only for wasm32)
//! is the thin layer that reads headers, talks to shared data and dispatches HTTP callouts.

pub mod authenticator;
pub mod cache;
pub mod claims;
pub mod config;
pub mod error;
pub mod extract;
pub mod flow;
pub mod jwks;
pub mod keystore;
pub mod path;
pub mod pem;
pub mod policy;
pub mod sources;
pub mod token;
pub mod upstream;
pub mod verify;

#[cfg(target_arch = "wasm32")]
mod host;
