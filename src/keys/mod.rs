//! The key's road: from a provider's configuration to a parsed key set every worker shares.
//!
//! [`fetch`] decides when a VM fetches (schedule, unknown-`kid` refetch, backoff, the lease)
//! and follows OpenID discovery to the JWKS, through a callout trait the host implements; [`store`] keeps the fetched document and its
//! state in shared data and each worker's parsed copy; [`jwks`] (with [`pem`] for local keys)
//! parses a document into a [`jwks::KeySet`] once per generation; [`local`] parses the keys
//! written in the configuration; [`missing`] remembers kids a request waited for in vain;
//! [`source`] lends the request's road one VM's key sets.

pub mod fetch;
pub mod jwks;
pub mod local;
pub mod missing;
pub mod pem;
pub mod source;
pub mod store;
