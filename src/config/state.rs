//! What the filter leaves in Envoy's filter state for the filters and access logs after it
//! (Envoy's `payload_in_metadata` and `failed_status_in_metadata`, for a Wasm filter).

use super::ConfigError;
use serde::Deserialize;

/// The filter-state namespace: a wasm filter's properties appear to Envoy as `wasm.<key>`, so
/// ours are `wasm.jwt_authn_wasm.<name>`.
pub const FILTER_STATE_PREFIX: &str = "jwt_authn_wasm.";

/// Names the filter writes itself, which a claim's `key` may not take.
const RESERVED_KEYS: [&str; 3] = ["provider", "status", "payload"];

/// A claim copied into filter state, as `claim_to_headers` copies one into a header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimToState {
    /// The claim: exact name, else a dotted path into nested objects.
    pub claim_name: String,
    /// The full property name, `jwt_authn_wasm.<key>`.
    pub property: String,
}

/// The compiled `filter_state` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterState {
    /// Claims of the verified token, one property each.
    pub claims: Vec<ClaimToState>,
    /// Whether the verified payload (JSON) goes to `jwt_authn_wasm.payload`.
    pub payload: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFilterState {
    #[serde(default)]
    claims: Vec<RawClaimToState>,
    #[serde(default)]
    payload: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaimToState {
    claim_name: String,
    key: String,
}

impl RawFilterState {
    pub(super) fn validate(self) -> Result<FilterState, ConfigError> {
        let mut claims: Vec<ClaimToState> = Vec::with_capacity(self.claims.len());
        for (i, entry) in self.claims.into_iter().enumerate() {
            let at = format!("filter_state.claims[{i}]");
            if entry.claim_name.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.claim_name"),
                    "must not be empty",
                ));
            }
            // Access-log formats read `%FILTER_STATE(wasm.jwt_authn_wasm.<key>:PLAIN)%`, so a
            // key must not hold `:` or `)`.
            let key = entry.key;
            if key.is_empty()
                || !key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(ConfigError::new(
                    format!("{at}.key"),
                    "must be non-empty and use only letters, digits, `-`, `_` and `.`",
                ));
            }
            if RESERVED_KEYS.contains(&key.as_str()) {
                return Err(ConfigError::new(
                    format!("{at}.key"),
                    format!("`{key}` is written by the filter itself"),
                ));
            }
            let property = format!("{FILTER_STATE_PREFIX}{key}");
            if claims.iter().any(|c| c.property == property) {
                return Err(ConfigError::new(
                    format!("{at}.key"),
                    format!("`{key}` is used twice"),
                ));
            }
            claims.push(ClaimToState {
                claim_name: entry.claim_name,
                property,
            });
        }
        Ok(FilterState {
            claims,
            payload: self.payload,
        })
    }
}
