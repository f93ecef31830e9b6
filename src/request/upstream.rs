//! What the upstream sees of an authenticated request: claim headers, the payload header, and
//! no credentials unless forwarding is on.

use crate::config::token::TokenSource;
use crate::config::{Config, Provider};
use crate::error::ErrorCode;
use crate::request::policy::{claim, render};
use crate::request::sources;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::rc::Rc;

/// Changes to the request before it continues upstream.
///
/// Removals are two fields, not one list, so that the common request (no claim headers, token
/// in `Authorization`) allocates nothing here: the owned headers are the configuration's own
/// list, shared, and the credential's name is a constant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edits {
    /// Headers this filter owns (lower-case), removed from every request.
    pub owned: Rc<[String]>,
    /// The header that carried the token (lower-case), removed unless its provider forwards it.
    pub credential: Option<Cow<'static, str>>,
    /// Headers to set, after removal.
    pub set: Vec<(String, String)>,
    /// A replacement `:path` (a token taken from the query is cut out of it).
    pub path: Option<String>,
    /// The cookie that carried the token, cut out of the `Cookie` header
    /// ([`sources::without_cookie`]) unless its provider forwards it.
    pub cookie: Option<String>,
    /// The provider whose token was verified (`None` on public routes), for metrics.
    pub provider: Option<usize>,
    /// Filter-state properties for later filters and access logs ([`crate::request::state`]).
    pub state: crate::request::state::Properties,
    /// Whether Envoy chooses the route again after these edits (`clear_route_cache`).
    pub clear_route_cache: bool,
    /// The failure let through by `allow_missing` or `allow_missing_or_failed`: the request
    /// goes on without a verified token (counted, and left in filter state, as this code).
    pub tolerated: Option<ErrorCode>,
}

impl Edits {
    /// Every header to remove (lower-case): the owned ones, then the credential.
    pub fn removals(&self) -> impl Iterator<Item = &str> {
        self.owned
            .iter()
            .map(String::as_str)
            .chain(self.credential.as_deref())
    }

    /// Removal of every header the filter owns, so a client can never forge one.
    pub fn strip_owned(config: &Config) -> Self {
        // Every field spelled out: `Default` would allocate an empty `Rc` only to drop it.
        Self {
            owned: Rc::clone(&config.owned_headers),
            credential: None,
            set: Vec::new(),
            path: None,
            cookie: None,
            provider: None,
            state: Vec::new(),
            clear_route_cache: false,
            tolerated: None,
        }
    }

    /// Adds what a verified token from `provider` contributes.
    pub fn add_verified(
        &mut self,
        provider: &Provider,
        claims: &Map<String, Value>,
        payload_b64: &str,
        source: &TokenSource,
        target: &str,
    ) {
        for mapping in &provider.claim_to_headers {
            if let Some(value) = claim(claims, &mapping.claim_name).and_then(render) {
                self.set.push((mapping.header_name.clone(), value));
            }
        }
        if let Some(name) = &provider.forward_payload_header {
            let mut payload = payload_b64.to_string();
            if provider.pad_forward_payload_header {
                while !payload.len().is_multiple_of(4) {
                    payload.push('=');
                }
            }
            self.set.push((name.clone(), payload));
        }
        self.clear_route_cache = provider.clear_route_cache;
        if !provider.forward {
            match source {
                TokenSource::AuthorizationBearer | TokenSource::AuthorizationDpop => {
                    self.credential = Some(Cow::Borrowed("authorization"))
                }
                TokenSource::Header { name, .. } => {
                    self.credential = Some(Cow::Owned(name.clone()))
                }
                TokenSource::Param(name) => {
                    self.path = Some(sources::without_query_param(target, name))
                }
                TokenSource::Cookie(name) => self.cookie = Some(name.clone()),
            }
        }
    }
}
