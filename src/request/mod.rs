//! The request's road, in the order a request travels it.
//!
//! 1. [`sources`] and [`extract`]: find the token (header, query, cookie) and take it out.
//! 2. [`token`]: parse the compact JWS strictly, trusting nothing yet.
//! 3. [`authenticator`]: choose the provider by `iss`, check the cheap things, find the key and
//!    verify the signature ([`crate::verify`]).
//! 4. [`claims`]: `iss`, `aud`, `exp`, `nbf`.
//! 5. [`binding`]: a token bound to a key (DPoP) or a client certificate needs its proof.
//! 6. [`policy`]: the requirement the route or rule chose (scopes, claims).
//! 7. The reply ([`crate::error::ErrorReply`]) or [`upstream`]'s edits, and what [`state`]
//!    leaves for the filters and access logs after this one.
//!
//! [`flow`] runs the steps in this order and returns one [`flow::Decision`]; [`cache`] lets a
//! token seen before skip steps 2-4. The host lets it read the request (headers, route,
//! connection) through [`view::RequestView`].

pub mod authenticator;
pub mod binding;
pub mod cache;
pub mod claims;
pub mod extract;
pub mod flow;
pub mod policy;
pub mod sources;
pub mod state;
pub mod token;
pub mod upstream;
pub mod view;
