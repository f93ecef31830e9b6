//! The plugin configuration: JSON in Envoy's `configuration` field, validated before the plugin
//! starts.
//!
//! Field names follow Envoy's `jwt_authn` (`issuer`, `audiences`, `remote_jwks.http_uri`,
//! `cache_duration`, `clock_skew_seconds`, ...) where the concept is the same. Unknown fields are
//! rejected so a typo never silently weakens authentication. Every error names the field it is
//! about, so an operator can fix it from one log line.
//!
//! Here: the whole [`Config`] and its limits. [`provider`]: one provider's settings. [`remote`]:
//! where a fetched key set comes from and how often. [`rules`]: the requirement tree.
//! [`token`]: where tokens are read from and their size limits.

pub mod binding;
mod json_path;
pub mod provider;
pub mod remote;
pub mod rules;
pub mod state;
pub mod token;

use crate::config::token::TokenSource;
use crate::verify::CryptoMode;
use provider::RawProvider;
pub use provider::{ClaimToHeader, JwksSource, Provider};
pub use remote::{HttpUri, JwksEndpoint, RemoteJwks};
use rules::{RawRequirement, RawRule, Requirement, RequirementId, Rule};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The route metadata namespace a route names its requirement in:
/// `metadata.filter_metadata["jwt_authn_wasm"].requirement`.
pub const ROUTE_METADATA_NAMESPACE: &str = "jwt_authn_wasm";

/// Envoy's default JWKS cache duration: 10 minutes.
pub const DEFAULT_CACHE_DURATION_MS: u64 = 600_000;
/// Envoy's default clock skew.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Default timeout of one JWKS fetch.
pub const DEFAULT_FETCH_TIMEOUT_MS: u64 = 5_000;
/// Default lower bound on a `Cache-Control: max-age` honoured for a JWKS: 5 minutes.
pub const DEFAULT_CACHE_CONTROL_MIN_MS: u64 = 300_000;
/// Default upper bound on a `Cache-Control: max-age`: 24 hours.
pub const DEFAULT_CACHE_CONTROL_MAX_MS: u64 = 86_400_000;
/// Default minimum time between refetches triggered by an unknown `kid`: short, so a key
/// published a moment late is found while its first requests are held; a flood of random kids
/// still costs one fetch per interval per process.
pub const DEFAULT_UNKNOWN_KID_REFETCH_MS: u64 = 1_000;
/// Default for how long last-good keys are used while fetching fails: 24 hours.
pub const DEFAULT_MAX_STALENESS_MS: u64 = 86_400_000;
/// Default cap on a JWKS or discovery response body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default for how long a request may wait for keys: a provider's first key set, or a refetch
/// for its token's unknown `kid`.
pub const DEFAULT_KEY_WAIT_TIMEOUT_MS: u64 = 5_000;
/// Default `realm` of `WWW-Authenticate`.
pub const DEFAULT_REALM: &str = "jwt-authn-wasm";

/// A configuration that failed to parse or validate, naming the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted path of the field, e.g. `providers[0].remote_jwks.http_uri.timeout`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "invalid configuration: {}", self.message)
        } else {
            write!(
                f,
                "invalid configuration at `{}`: {}",
                self.field, self.message
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration of one plugin instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Identity providers, in configuration order.
    pub providers: Vec<Provider>,
    /// `realm` of every `WWW-Authenticate` header.
    pub realm: String,
    /// How long a request waits for a provider's first key set before a 503.
    pub key_wait_timeout_ms: u64,
    /// Route rules, first match wins.
    pub rules: Vec<Rule>,
    /// What a request that matches no rule needs.
    pub default: Requirement,
    /// Requirements a route chooses by name, sorted by name.
    pub named: Vec<(String, Requirement)>,
    /// Route name (`xds.route_name`) to the index in [`Config::named`], sorted by route name.
    pub requirement_map: Vec<(String, usize)>,
    /// Let CORS preflight requests through without a token.
    pub bypass_cors_preflight: bool,
    /// Every header this filter may set upstream; incoming copies are always removed.
    pub owned_headers: std::rc::Rc<[String]>,
    /// Sizing of each worker's verified-token cache.
    pub token_cache: crate::config::token::CacheConfig,
    /// Whether any provider takes tokens from query parameters.
    pub tokens_in_params: bool,
    /// Whether any rule matches on the method (else `:method` is read only for a CORS check).
    pub rules_match_methods: bool,
    /// The rules compiled for matching ([`rules::matcher`]).
    pub rule_matcher: rules::matcher::RuleMatcher,
    /// Provider indices by issuer, sorted by issuer (first provider of an issuer only).
    pub issuers: Vec<(String, usize)>,
    /// The token sources of all providers, in provider order, without repeats.
    pub all_sources: Vec<TokenSource>,
    /// Size and depth limits on what a request may present.
    pub limits: crate::config::token::Limits,
    /// Where signatures are verified (`crypto`: auto, host or wasm).
    pub crypto: CryptoMode,
    /// What goes to Envoy's filter state for later filters and access logs; `None`: nothing.
    pub filter_state: Option<state::FilterState>,
    /// Inserted after `jwt_authn.` in every metric name, to tell two filter instances apart.
    pub stat_prefix: Option<String>,
    /// What a request is read for beyond its token; `None` when no provider binds tokens.
    pub binding_reads: Option<binding::BindingReads>,
    /// Per provider, its `DPoP` challenge when it takes DPoP.
    pub dpop_challenges: Vec<Option<std::rc::Rc<crate::error::DpopChallenge>>>,
}

// ---- The wire format, as serde reads it ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    providers: Vec<RawProvider>,
    #[serde(default)]
    realm: Option<String>,
    #[serde(default)]
    key_wait_timeout: Option<String>,
    #[serde(default)]
    rules: Option<Vec<RawRule>>,
    #[serde(default)]
    default: Option<RawRequirement>,
    #[serde(default)]
    requirements: BTreeMap<String, RawRequirement>,
    #[serde(default)]
    requirement_map: BTreeMap<String, String>,
    #[serde(default)]
    bypass_cors_preflight: Option<bool>,
    #[serde(default)]
    jwt_cache_config: Option<RawCacheConfig>,
    /// `auto` (default), `host` or `wasm`.
    crypto: Option<String>,
    #[serde(default)]
    limits: Option<RawLimits>,
    #[serde(default)]
    filter_state: Option<state::RawFilterState>,
    #[serde(default)]
    stat_prefix: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    #[serde(default)]
    max_authorization_bytes: Option<usize>,
    #[serde(default)]
    max_token_bytes: Option<usize>,
    #[serde(default)]
    max_kid_bytes: Option<usize>,
    #[serde(default)]
    max_json_depth: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCacheConfig {
    #[serde(default)]
    jwt_cache_size: Option<usize>,
}

impl Config {
    /// Parses and validates the plugin configuration.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError::new(
                "",
                "the plugin configuration is empty; it must be a JSON object with `providers`",
            ));
        }
        let raw: RawConfig = json_path::from_slice(bytes)?;
        Self::validate(raw)
    }

    pub(super) fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        if raw.providers.is_empty() {
            return Err(ConfigError::new(
                "providers",
                "at least one provider is required",
            ));
        }
        let crypto = match raw.crypto.as_deref() {
            None => CryptoMode::Auto,
            Some(name) => CryptoMode::from_name(name)
                .ok_or_else(|| ConfigError::new("crypto", "must be `auto`, `host` or `wasm`"))?,
        };
        let mut providers = Vec::with_capacity(raw.providers.len());
        for (index, provider) in raw.providers.into_iter().enumerate() {
            let at = format!("providers[{index}]");
            let provider = Provider::validate(provider, &at, crypto)?;
            if providers.iter().any(|p: &Provider| p.name == provider.name) {
                return Err(ConfigError::new(
                    format!("{at}.name"),
                    format!("provider name `{}` is used twice", provider.name),
                ));
            }
            if providers
                .iter()
                .any(|p: &Provider| p.issuer == provider.issuer)
            {
                return Err(ConfigError::new(
                    format!("{at}.issuer"),
                    match provider.issuer {
                        Some(_) => {
                            "two providers have the same issuer; tokens could not be told apart"
                        }
                        None => {
                            "only one provider may omit `issuer`: it takes every token whose \
                             issuer no other provider has"
                        }
                    },
                ));
            }
            providers.push(provider);
        }
        let realm = raw.realm.unwrap_or_else(|| DEFAULT_REALM.to_string());
        if realm.is_empty()
            || !realm
                .chars()
                .all(|c| matches!(c, ' '..='!' | '#'..='[' | ']'..='~'))
        {
            return Err(ConfigError::new(
                "realm",
                "must be non-empty printable ASCII without `\"` or `\\`",
            ));
        }
        let key_wait_timeout_ms = match raw.key_wait_timeout {
            Some(text) => parse_duration_ms(&text, "key_wait_timeout")?,
            None => DEFAULT_KEY_WAIT_TIMEOUT_MS,
        };
        let mut limits = crate::config::token::Limits::default();
        if let Some(raw_limits) = raw.limits {
            let checks = [
                (
                    "max_authorization_bytes",
                    raw_limits.max_authorization_bytes,
                    &mut limits.max_authorization_bytes,
                    1_048_576,
                ),
                (
                    "max_token_bytes",
                    raw_limits.max_token_bytes,
                    &mut limits.max_token_bytes,
                    1_048_576,
                ),
                (
                    "max_kid_bytes",
                    raw_limits.max_kid_bytes,
                    &mut limits.max_kid_bytes,
                    65_536,
                ),
                (
                    "max_json_depth",
                    raw_limits.max_json_depth,
                    &mut limits.max_json_depth,
                    128,
                ),
            ];
            for (name, value, slot, max) in checks {
                if let Some(value) = value {
                    if value == 0 || value > max {
                        return Err(ConfigError::new(
                            format!("limits.{name}"),
                            format!("must be between 1 and {max}"),
                        ));
                    }
                    *slot = value;
                }
            }
        }
        let mut token_cache = crate::config::token::CacheConfig::default();
        if let Some(size) = raw.jwt_cache_config.and_then(|c| c.jwt_cache_size) {
            if size > 1_000_000 {
                return Err(ConfigError::new(
                    "jwt_cache_config.jwt_cache_size",
                    "must be at most 1000000 (0 turns the cache off)",
                ));
            }
            token_cache.capacity = size;
        }
        let names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
        let has_rules = raw.rules.is_some();
        let mut rules = Vec::new();
        for (i, rule) in raw.rules.unwrap_or_default().into_iter().enumerate() {
            let rule = rule.validate(&names).map_err(|(field, message)| {
                ConfigError::new(format!("rules[{i}].{field}"), message)
            })?;
            rules.push(rule);
        }
        // Without rules every request needs a valid token; with rules, what no rule matches is
        // denied unless `default` says otherwise.
        let default = match raw.default {
            Some(requirement) => requirement
                .validate(&names, "default", true)
                .map_err(|(field, message)| ConfigError::new(field, message))?,
            None if has_rules => Requirement::Deny,
            None => Requirement::Token(Vec::new()),
        };
        let mut named = Vec::with_capacity(raw.requirements.len());
        for (name, requirement) in raw.requirements {
            let at = format!("requirements.{name}");
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                return Err(ConfigError::new(
                    at,
                    "a requirement name must be non-empty and use only letters, digits, `-`, `_` and `.`",
                ));
            }
            let requirement = requirement
                .validate(&names, &at, true)
                .map_err(|(field, message)| ConfigError::new(field, message))?;
            named.push((name, requirement));
        }
        let mut requirement_map = Vec::with_capacity(raw.requirement_map.len());
        for (route, name) in raw.requirement_map {
            let at = format!("requirement_map.{route}");
            if route.is_empty() {
                return Err(ConfigError::new(at, "a route name must not be empty"));
            }
            let index = named.iter().position(|(n, _)| *n == name).ok_or_else(|| {
                ConfigError::new(&at, format!("no requirement is named `{name}`"))
            })?;
            requirement_map.push((route, index));
        }
        let filter_state = raw.filter_state.map(|f| f.validate()).transpose()?;
        if let Some(prefix) = &raw.stat_prefix {
            // One name segment, and none the metric names themselves begin with, so the
            // `stats_tags` regexes (envoy.yaml) read every name one way.
            let reserved = [
                "provider",
                "requests_allowed",
                "requests_denied",
                "token_cache",
            ];
            if prefix.is_empty()
                || !prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                || reserved.contains(&prefix.as_str())
            {
                return Err(ConfigError::new(
                    "stat_prefix",
                    "must be letters, digits, `-` and `_`, and not `provider`, \
                     `requests_allowed`, `requests_denied` or `token_cache`",
                ));
            }
        }
        let mut owned_headers: Vec<String> = Vec::new();
        for provider in &providers {
            let names = provider
                .claim_to_headers
                .iter()
                .map(|c| &c.header_name)
                .chain(provider.forward_payload_header.as_ref());
            for name in names {
                if !owned_headers.contains(name) {
                    owned_headers.push(name.clone());
                }
            }
        }
        let mut all_sources: Vec<TokenSource> = Vec::new();
        for source in providers.iter().flat_map(|p| p.sources.iter()) {
            if !all_sources.contains(source) {
                all_sources.push(source.clone());
            }
        }
        let tokens_in_params = providers
            .iter()
            .any(|p| p.sources.iter().any(|s| matches!(s, TokenSource::Param(_))));
        let rules_match_methods = rules.iter().any(|rule| !rule.route.methods.is_empty());
        let binding_reads = binding::BindingReads::of(&providers);
        let rule_matcher = rules::matcher::RuleMatcher::new(&rules);
        let mut issuers: Vec<(String, usize)> = Vec::new();
        for (index, provider) in providers.iter().enumerate() {
            if let Some(issuer) = &provider.issuer {
                if let Err(at) = issuers.binary_search_by(|(known, _)| known.cmp(issuer)) {
                    issuers.insert(at, (issuer.clone(), index));
                }
            }
        }
        let dpop_challenges = providers
            .iter()
            .map(|provider| {
                (provider.dpop.mode != binding::BindingMode::Off).then(|| {
                    std::rc::Rc::new(crate::error::DpopChallenge {
                        algs: provider.dpop.algs(),
                        bearer_too: provider.dpop.mode == binding::BindingMode::Allowed,
                    })
                })
            })
            .collect();
        Ok(Self {
            rule_matcher,
            issuers,
            binding_reads,
            dpop_challenges,
            providers,
            realm,
            key_wait_timeout_ms,
            rules,
            default,
            named,
            requirement_map,
            bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(true),
            tokens_in_params,
            rules_match_methods,
            all_sources,
            limits,
            crypto,
            owned_headers: owned_headers.into(),
            token_cache,
            filter_state,
            stat_prefix: raw.stat_prefix,
        })
    }

    /// The start of every metric name: `jwt_authn`, or `jwt_authn.<stat_prefix>`.
    pub fn metric_root(&self) -> String {
        match &self.stat_prefix {
            Some(prefix) => format!("jwt_authn.{prefix}"),
            None => "jwt_authn".to_owned(),
        }
    }

    /// The first rule matching this method and path, else the default.
    pub fn rule_for(&self, method: &str, normalized_path: &str) -> RequirementId {
        self.rule_matcher
            .first_match(&self.rules, method, normalized_path)
            .map_or(RequirementId::Default, RequirementId::Rule)
    }

    /// The requirement `id` stands for (the default for an index out of range, which a
    /// configuration's own ids never are).
    pub fn requirement(&self, id: RequirementId) -> &Requirement {
        match id {
            RequirementId::Default => None,
            RequirementId::Rule(i) => self.rules.get(i).map(|rule| &rule.requires),
            RequirementId::Named(i) => self.named.get(i).map(|(_, requires)| requires),
        }
        .unwrap_or(&self.default)
    }

    /// Whether some requirement lets a failed or missing token through (`allow_missing`,
    /// `allow_missing_or_failed`), so those requests get their own counters.
    pub fn tolerates_failures(&self) -> bool {
        std::iter::once(&self.default)
            .chain(self.rules.iter().map(|rule| &rule.requires))
            .chain(self.named.iter().map(|(_, requires)| requires))
            .any(|r| {
                matches!(
                    r,
                    Requirement::AllowMissing(_) | Requirement::AllowMissingOrFailed(_)
                )
            })
    }

    /// Whether routes may choose requirements (some are named), so the route is read.
    pub fn routes_choose(&self) -> bool {
        !self.named.is_empty()
    }

    /// The named requirement `name` (as the route metadata gives it, bytes).
    pub fn named_requirement(&self, name: &[u8]) -> Option<RequirementId> {
        self.named
            .binary_search_by(|(n, _)| n.as_bytes().cmp(name))
            .ok()
            .map(RequirementId::Named)
    }

    /// The requirement `requirement_map` gives route `route_name`.
    pub fn mapped_requirement(&self, route_name: &[u8]) -> Option<RequirementId> {
        self.requirement_map
            .binary_search_by(|(n, _)| n.as_bytes().cmp(route_name))
            .ok()
            .and_then(|i| self.requirement_map.get(i))
            .map(|&(_, index)| RequirementId::Named(index))
    }

    /// The provider whose issuer is exactly `issuer`.
    pub fn provider_by_issuer(&self, issuer: &str) -> Option<(usize, &Provider)> {
        let at = self
            .issuers
            .binary_search_by(|(known, _)| known.as_str().cmp(issuer))
            .ok()?;
        let index = self.issuers.get(at)?.1;
        Some((index, self.providers.get(index)?))
    }

    /// The one provider configured without an issuer, if any.
    pub fn provider_without_issuer(&self) -> Option<usize> {
        self.providers.iter().position(|p| p.issuer.is_none())
    }
}

/// Parses a protobuf-JSON duration (`"5s"`, `"0.25s"`, `"600s"`) into milliseconds.
pub fn parse_duration_ms(text: &str, field: &str) -> Result<u64, ConfigError> {
    let bad = || {
        ConfigError::new(
            field,
            format!(
                "`{text}` is not a duration; write seconds with an `s`, e.g. \"5s\" or \"0.5s\""
            ),
        )
    };
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty()
        || whole.len() > 9
        || fraction.len() > 3
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    let seconds: u64 = whole.parse().map_err(|_| bad())?;
    let mut millis: u64 = 0;
    for (i, digit) in fraction.bytes().enumerate() {
        let weight = [100, 10, 1].get(i).copied().unwrap_or(0);
        millis += u64::from(digit - b'0') * weight;
    }
    Ok(seconds * 1_000 + millis)
}

#[cfg(test)]
pub(crate) mod tests;
