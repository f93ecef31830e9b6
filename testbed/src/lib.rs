//! Test infrastructure for the jwt-authn-wasm filter: a mock OpenID Connect identity provider,
//! an echo upstream, token minting, and a raw HTTP client.
//!
//! Everything binds 127.0.0.1 only, and each server runs hyper on a tokio runtime of its own
//! thread, so integration tests can start their own isolated set of servers in-process, and
//! `make run` can start the same servers as the `mock-idp` and `echo-upstream` binaries. Tokens
//! are minted with `jsonwebtoken` (and `p521` for ES512); requests go out through `ureq`.

pub mod client;
pub mod dpop;
pub mod echo;
pub mod http;
pub mod idp;
pub mod mint;
pub mod process;

pub use dpop::{DpopClient, ProofRequest};
pub use echo::EchoServer;
pub use idp::{Fault, IdpOptions, IdpServer};
pub use mint::{Alg, Key, MintError, MintRequest, Minter};
