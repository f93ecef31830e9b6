//! The plugin configuration: JSON in Envoy's `configuration` field, validated before the plugin
//! starts.
//!
//! Field names follow Envoy's `jwt_authn` (`issuer`, `audiences`, `remote_jwks.http_uri`,
//! `cache_duration`, `clock_skew_seconds`, ...) where the concept is the same. Unknown fields are
//! rejected so a typo never silently weakens authentication. Every error names the field it is
//! about, so an operator can fix it from one log line.

pub mod rules;
pub mod token;

use crate::config::token::TokenSource;
use crate::verify::{Algorithm, CryptoMode};
use rules::{RawRequirement, RawRule, Requirement, Rule};
use serde::Deserialize;
use std::fmt;

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
/// Default minimum time between refetches triggered by an unknown `kid`.
pub const DEFAULT_UNKNOWN_KID_REFETCH_MS: u64 = 30_000;
/// Default for how long last-good keys are used while fetching fails: 24 hours.
pub const DEFAULT_MAX_STALENESS_MS: u64 = 86_400_000;
/// Default cap on a JWKS or discovery response body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// Default for how long a request may wait for a provider's first key set.
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
    /// The token sources of all providers, in provider order, without repeats.
    pub all_sources: Vec<TokenSource>,
    /// Size and depth limits on what a request may present.
    pub limits: crate::config::token::Limits,
    /// Where signatures are verified (`crypto`: auto, host or wasm).
    pub crypto: CryptoMode,
}

/// A claim copied into a request header for the upstream (Envoy's `claim_to_headers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimToHeader {
    /// The claim: exact name, else a dotted path into nested objects.
    pub claim_name: String,
    /// The lower-case header name.
    pub header_name: String,
}

/// One identity provider: who issues tokens, for whom, and where its keys are.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    /// Unique name, used in logs, shared-data keys and (later) route rules.
    pub name: String,
    /// The exact `iss` its tokens carry.
    pub issuer: String,
    /// Accepted `aud` values; empty means the audience is not checked (as in Envoy).
    pub audiences: Vec<String>,
    /// Where the key set comes from.
    pub jwks: JwksSource,
    /// The allowlist of `alg` values.
    pub algorithms: Vec<Algorithm>,
    /// Tolerance for `exp` and `nbf`, in seconds.
    pub clock_skew_seconds: u64,
    /// Whether a token without `exp` is refused.
    pub require_expiration: bool,
    /// Where tokens of this provider are taken from.
    pub sources: Vec<TokenSource>,
    /// Keep the token in the request sent upstream.
    pub forward: bool,
    /// Header that receives the token's payload (base64url, as in the token).
    pub forward_payload_header: Option<String>,
    /// Claims copied to headers.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// Claims that hold scopes.
    pub scope_claims: Vec<String>,
    /// Which `typ` header values are accepted (RFC 9068 access tokens only, or any JWT).
    pub typ_policy: crate::config::token::TypPolicy,
}

/// Where a provider's keys come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// Fetched over HTTP and refreshed.
    Remote(RemoteJwks),
    /// A JWKS document or one PEM public key carried in the configuration, parsed at configure
    /// time by [`crate::keys::local`]. Only here may `oct` keys (HMAC secrets) appear.
    Local(String),
}

impl JwksSource {
    /// The remote settings, if the keys are fetched.
    pub fn remote(&self) -> Option<&RemoteJwks> {
        match self {
            Self::Remote(remote) => Some(remote),
            Self::Local(_) => None,
        }
    }
}

/// How the JWKS URI is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksEndpoint {
    /// Configured directly.
    Uri(HttpUri),
    /// Read from the issuer's OpenID discovery document at this URI.
    Discovery(HttpUri),
}

/// A key set fetched over HTTP through an Envoy cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteJwks {
    /// The JWKS URI, or the discovery document that names it.
    pub endpoint: JwksEndpoint,
    /// Refresh interval when the response has no usable `Cache-Control: max-age`.
    pub cache_duration_ms: u64,
    /// Lower bound on an honoured `max-age`.
    pub cache_control_min_ms: u64,
    /// Upper bound on an honoured `max-age`.
    pub cache_control_max_ms: u64,
    /// Minimum time between refetches for an unknown `kid`; 0 turns them off.
    pub unknown_kid_refetch_ms: u64,
    /// How long last-good keys stay in use after the last successful fetch.
    pub max_staleness_ms: u64,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
}

impl RemoteJwks {
    /// The endpoint callouts go to first (the discovery document, or the JWKS itself).
    pub fn first_uri(&self) -> &HttpUri {
        match &self.endpoint {
            JwksEndpoint::Uri(uri) | JwksEndpoint::Discovery(uri) => uri,
        }
    }

    /// When to refresh after a success at `now_ms`, given the response's `max-age` (seconds):
    /// 90% of the clamped `max-age`, so keys are renewed before they expire, else
    /// `cache_duration`.
    pub fn next_refresh_ms(&self, now_ms: u64, max_age_seconds: Option<u64>) -> u64 {
        let interval = match max_age_seconds {
            Some(seconds) => {
                let clamped = seconds
                    .saturating_mul(1_000)
                    .clamp(self.cache_control_min_ms, self.cache_control_max_ms);
                (clamped / 10).saturating_mul(9).max(1_000)
            }
            None => self.cache_duration_ms,
        };
        now_ms.saturating_add(interval)
    }
}

/// An HTTP endpoint reached through a named Envoy cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUri {
    /// The URI as configured.
    pub uri: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host and optional port: the callout's `:authority`.
    pub authority: String,
    /// Path and query: the callout's `:path`.
    pub path: String,
    /// The Envoy cluster the callout goes to.
    pub cluster: String,
    /// Callout timeout in milliseconds.
    pub timeout_ms: u64,
}

// ---- The wire format, as serde reads it ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
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
    bypass_cors_preflight: Option<bool>,
    #[serde(default)]
    jwt_cache_config: Option<RawCacheConfig>,
    /// `auto` (default), `host` or `wasm`.
    crypto: Option<String>,
    #[serde(default)]
    limits: Option<RawLimits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
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
struct RawCacheConfig {
    #[serde(default)]
    jwt_cache_size: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    name: String,
    issuer: String,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    remote_jwks: Option<RawRemoteJwks>,
    #[serde(default)]
    local_jwks: Option<RawLocalJwks>,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    clock_skew_seconds: Option<u64>,
    #[serde(default)]
    require_expiration: Option<bool>,
    #[serde(default)]
    from_headers: Vec<RawHeaderSource>,
    #[serde(default)]
    from_params: Vec<String>,
    #[serde(default)]
    from_cookies: Vec<String>,
    #[serde(default)]
    forward: bool,
    #[serde(default)]
    forward_payload_header: Option<String>,
    #[serde(default)]
    claim_to_headers: Vec<RawClaimToHeader>,
    #[serde(default)]
    scope_claims: Option<Vec<String>>,
    #[serde(default)]
    require_typ_at_jwt: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaderSource {
    name: String,
    #[serde(default)]
    value_prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaimToHeader {
    header_name: String,
    claim_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemoteJwks {
    #[serde(default)]
    http_uri: Option<RawHttpUri>,
    #[serde(default)]
    oidc_discovery: Option<RawDiscovery>,
    #[serde(default)]
    cache_duration: Option<String>,
    #[serde(default)]
    cache_control_min: Option<String>,
    #[serde(default)]
    cache_control_max: Option<String>,
    #[serde(default)]
    unknown_kid_refetch_interval: Option<String>,
    #[serde(default)]
    max_staleness: Option<String>,
    #[serde(default)]
    max_body_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    cluster: String,
    #[serde(default)]
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocalJwks {
    inline_string: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpUri {
    uri: String,
    cluster: String,
    #[serde(default)]
    timeout: Option<String>,
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
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let raw: RawConfig = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
            let field = e.path().to_string();
            ConfigError::new(field, e.into_inner().to_string())
        })?;
        deserializer
            .end()
            .map_err(|e| ConfigError::new("", e.to_string()))?;
        Self::validate(raw)
    }

    fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
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
                    "two providers have the same issuer; tokens could not be told apart",
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
        Ok(Self {
            providers,
            realm,
            key_wait_timeout_ms,
            rules,
            default,
            bypass_cors_preflight: raw.bypass_cors_preflight.unwrap_or(true),
            tokens_in_params,
            rules_match_methods,
            all_sources,
            limits,
            crypto,
            owned_headers: owned_headers.into(),
            token_cache,
        })
    }

    /// The requirement for a request: the first matching rule's (with its index), else the
    /// default's (`None`).
    pub fn requirement_for(
        &self,
        method: &str,
        normalized_path: &str,
    ) -> (Option<usize>, &Requirement) {
        match self
            .rules
            .iter()
            .position(|rule| rule.route.matches(method, normalized_path))
        {
            Some(index) => (Some(index), self.rule_requirement(Some(index))),
            None => (None, &self.default),
        }
    }

    /// The requirement of rule `index`, or the default for `None` (or an index out of range).
    pub fn rule_requirement(&self, index: Option<usize>) -> &Requirement {
        index
            .and_then(|i| self.rules.get(i))
            .map_or(&self.default, |rule| &rule.requires)
    }

    /// The provider whose issuer is exactly `issuer`.
    pub fn provider_by_issuer(&self, issuer: &str) -> Option<(usize, &Provider)> {
        self.providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.issuer == issuer)
    }
}

/// Every algorithm name, for error messages.
fn algorithm_names(algs: &[Algorithm]) -> String {
    algs.iter()
        .map(|alg| alg.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A provider's `algorithms`: by default every asymmetric algorithm the `crypto` mode can
/// verify; HMAC only when listed, and only for a provider with `local_jwks` (an HMAC secret
/// is never fetched).
fn algorithms(
    names: Option<Vec<String>>,
    at: &str,
    crypto: CryptoMode,
    local: bool,
) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(names) = names else {
        return Ok(Algorithm::ASYMMETRIC
            .into_iter()
            .filter(|&alg| crypto.supports(alg))
            .collect());
    };
    if names.is_empty() {
        return Err(ConfigError::new(at, "must list at least one algorithm"));
    }
    let mut algorithms = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let field = format!("{at}[{i}]");
        let alg = Algorithm::from_name(name).ok_or_else(|| {
            ConfigError::new(
                &field,
                format!(
                    "unsupported algorithm `{name}`; supported: {}",
                    algorithm_names(&Algorithm::ALL)
                ),
            )
        })?;
        if !crypto.supports(alg) {
            return Err(ConfigError::new(
                &field,
                format!(
                    "`{name}` cannot be verified with `crypto: host` (Envoy's BoringSSL \
                     verifies RS256/384/512 and ES256/384/512 only)"
                ),
            ));
        }
        if alg.is_symmetric() && !local {
            return Err(ConfigError::new(
                &field,
                format!("`{name}` needs the secret in `local_jwks`: HMAC keys are never fetched"),
            ));
        }
        if !algorithms.contains(&alg) {
            algorithms.push(alg);
        }
    }
    Ok(algorithms)
}

impl Provider {
    fn validate(raw: RawProvider, at: &str, crypto: CryptoMode) -> Result<Self, ConfigError> {
        if raw.name.is_empty()
            || !raw
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(ConfigError::new(
                format!("{at}.name"),
                "must be non-empty and use only letters, digits, `-`, `_` and `.`",
            ));
        }
        if raw.issuer.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.issuer"),
                "must not be empty",
            ));
        }
        if let Some(i) = raw.audiences.iter().position(String::is_empty) {
            return Err(ConfigError::new(
                format!("{at}.audiences[{i}]"),
                "must not be empty",
            ));
        }
        let local = raw.local_jwks.is_some();
        let algorithms = algorithms(raw.algorithms, &format!("{at}.algorithms"), crypto, local)?;
        let clock_skew_seconds = raw.clock_skew_seconds.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS);
        if clock_skew_seconds > 86_400 {
            return Err(ConfigError::new(
                format!("{at}.clock_skew_seconds"),
                "must be at most 86400 (one day)",
            ));
        }
        let jwks = match (raw.remote_jwks, raw.local_jwks) {
            (Some(remote), None) => JwksSource::Remote(RemoteJwks::validate(
                remote,
                &raw.issuer,
                &format!("{at}.remote_jwks"),
            )?),
            // Its keys are parsed once the verifier is known ([`crate::keys::local`]).
            (None, Some(local)) => JwksSource::Local(local.inline_string),
            _ => {
                return Err(ConfigError::new(
                    at,
                    "needs exactly one of `remote_jwks`, `local_jwks`",
                ))
            }
        };
        // `Authorization: Bearer` always counts; other sources come after it, in the order
        // headers, parameters, cookies.
        let mut sources = vec![TokenSource::AuthorizationBearer];
        for (i, source) in raw.from_headers.into_iter().enumerate() {
            let name = header_name(&source.name, &format!("{at}.from_headers[{i}].name"))?;
            sources.push(TokenSource::Header {
                name,
                prefix: source.value_prefix,
            });
        }
        for (i, name) in raw.from_params.into_iter().enumerate() {
            if name.is_empty() || name.contains(['&', '=', '#', '?']) {
                return Err(ConfigError::new(
                    format!("{at}.from_params[{i}]"),
                    "must be a plain query parameter name",
                ));
            }
            sources.push(TokenSource::Param(name));
        }
        for (i, name) in raw.from_cookies.into_iter().enumerate() {
            if name.is_empty() || !name.bytes().all(is_token_char) {
                return Err(ConfigError::new(
                    format!("{at}.from_cookies[{i}]"),
                    "must be a cookie name (RFC 6265 token characters)",
                ));
            }
            sources.push(TokenSource::Cookie(name));
        }
        let forward_payload_header = match raw.forward_payload_header {
            Some(name) => Some(owned_header_name(
                &name,
                &format!("{at}.forward_payload_header"),
            )?),
            None => None,
        };
        let mut claim_to_headers = Vec::with_capacity(raw.claim_to_headers.len());
        for (i, entry) in raw.claim_to_headers.into_iter().enumerate() {
            if entry.claim_name.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.claim_to_headers[{i}].claim_name"),
                    "must not be empty",
                ));
            }
            claim_to_headers.push(ClaimToHeader {
                header_name: owned_header_name(
                    &entry.header_name,
                    &format!("{at}.claim_to_headers[{i}].header_name"),
                )?,
                claim_name: entry.claim_name,
            });
        }
        let scope_claims = raw
            .scope_claims
            .unwrap_or_else(|| ["scope", "scp", "permissions"].map(String::from).to_vec());
        if let Some(i) = scope_claims.iter().position(String::is_empty) {
            return Err(ConfigError::new(
                format!("{at}.scope_claims[{i}]"),
                "must not be empty",
            ));
        }
        Ok(Self {
            name: raw.name,
            issuer: raw.issuer,
            audiences: raw.audiences,
            jwks,
            algorithms,
            clock_skew_seconds,
            require_expiration: raw.require_expiration.unwrap_or(true),
            sources,
            forward: raw.forward,
            forward_payload_header,
            claim_to_headers,
            scope_claims,
            typ_policy: if raw.require_typ_at_jwt {
                crate::config::token::TypPolicy::AccessToken
            } else {
                crate::config::token::TypPolicy::Jwt
            },
        })
    }
}

impl RemoteJwks {
    fn validate(raw: RawRemoteJwks, issuer: &str, at: &str) -> Result<Self, ConfigError> {
        let duration = |value: Option<String>, name: &str, default: u64| match value {
            Some(text) => parse_duration_ms(&text, &format!("{at}.{name}")),
            None => Ok(default),
        };
        let endpoint = match (raw.http_uri, raw.oidc_discovery) {
            (Some(uri), None) => {
                JwksEndpoint::Uri(HttpUri::validate(uri, &format!("{at}.http_uri"))?)
            }
            (None, Some(discovery)) => {
                let base = issuer.strip_suffix('/').unwrap_or(issuer);
                let uri = RawHttpUri {
                    uri: format!("{base}/.well-known/openid-configuration"),
                    cluster: discovery.cluster,
                    timeout: discovery.timeout,
                };
                let uri =
                    HttpUri::validate(uri, &format!("{at}.oidc_discovery")).map_err(|err| {
                        ConfigError::new(
                            err.field,
                            format!("discovery needs an http(s) issuer URL: {}", err.message),
                        )
                    })?;
                JwksEndpoint::Discovery(uri)
            }
            _ => {
                return Err(ConfigError::new(
                    at,
                    "needs exactly one of `http_uri`, `oidc_discovery`",
                ))
            }
        };
        let cache_duration_ms = duration(
            raw.cache_duration,
            "cache_duration",
            DEFAULT_CACHE_DURATION_MS,
        )?;
        let cache_control_min_ms = duration(
            raw.cache_control_min,
            "cache_control_min",
            DEFAULT_CACHE_CONTROL_MIN_MS,
        )?;
        let cache_control_max_ms = duration(
            raw.cache_control_max,
            "cache_control_max",
            DEFAULT_CACHE_CONTROL_MAX_MS,
        )?;
        for (name, value) in [
            ("cache_duration", cache_duration_ms),
            ("cache_control_min", cache_control_min_ms),
        ] {
            if value < 1_000 {
                return Err(ConfigError::new(
                    format!("{at}.{name}"),
                    "must be at least 1s",
                ));
            }
        }
        if cache_control_max_ms < cache_control_min_ms {
            return Err(ConfigError::new(
                format!("{at}.cache_control_max"),
                "must not be below `cache_control_min`",
            ));
        }
        let unknown_kid_refetch_ms = duration(
            raw.unknown_kid_refetch_interval,
            "unknown_kid_refetch_interval",
            DEFAULT_UNKNOWN_KID_REFETCH_MS,
        )?;
        let max_staleness_ms =
            duration(raw.max_staleness, "max_staleness", DEFAULT_MAX_STALENESS_MS)?;
        if max_staleness_ms < 1_000 {
            return Err(ConfigError::new(
                format!("{at}.max_staleness"),
                "must be at least 1s",
            ));
        }
        let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if !(1_024..=16 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(ConfigError::new(
                format!("{at}.max_body_bytes"),
                "must be between 1024 and 16777216",
            ));
        }
        Ok(Self {
            endpoint,
            cache_duration_ms,
            cache_control_min_ms,
            cache_control_max_ms,
            unknown_kid_refetch_ms,
            max_staleness_ms,
            max_body_bytes,
        })
    }
}

impl HttpUri {
    /// Splits an absolute URI found at run time (a discovery document's `jwks_uri`), to be
    /// fetched through `cluster`.
    pub fn from_discovered(uri: &str, cluster: &str, timeout_ms: u64) -> Result<Self, String> {
        let raw = RawHttpUri {
            uri: uri.to_string(),
            cluster: cluster.to_string(),
            timeout: None,
        };
        let mut parsed = Self::validate(raw, "jwks_uri").map_err(|e| e.message)?;
        parsed.timeout_ms = timeout_ms;
        Ok(parsed)
    }

    fn validate(raw: RawHttpUri, at: &str) -> Result<Self, ConfigError> {
        let bad = |message: &str| ConfigError::new(format!("{at}.uri"), message.to_string());
        let uri = raw.uri;
        let (scheme, rest) = if let Some(rest) = uri.strip_prefix("https://") {
            ("https", rest)
        } else if let Some(rest) = uri.strip_prefix("http://") {
            ("http", rest)
        } else {
            return Err(bad("must be an absolute http:// or https:// URI"));
        };
        if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("must not contain whitespace or control characters"));
        }
        if uri.contains('#') {
            return Err(bad("must not contain a fragment"));
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        if authority.contains('@') {
            return Err(bad("must not carry user information"));
        }
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        if raw.cluster.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.cluster"),
                "must name the Envoy cluster that reaches the identity provider",
            ));
        }
        let timeout_ms = match raw.timeout {
            Some(text) => parse_duration_ms(&text, &format!("{at}.timeout"))?,
            None => DEFAULT_FETCH_TIMEOUT_MS,
        };
        if timeout_ms == 0 {
            return Err(ConfigError::new(
                format!("{at}.timeout"),
                "must be greater than zero",
            ));
        }
        Ok(Self {
            scheme: scheme.to_string(),
            authority: authority.to_string(),
            path,
            cluster: raw.cluster,
            timeout_ms,
            uri,
        })
    }
}

/// RFC 9110 `tchar`.
fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// A header name, lower-cased; pseudo-headers are refused.
fn header_name(name: &str, field: &str) -> Result<String, ConfigError> {
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(ConfigError::new(field, "must be an HTTP header name"));
    }
    Ok(name.to_ascii_lowercase())
}

/// A header the filter writes: also not one that carries credentials or routing.
fn owned_header_name(name: &str, field: &str) -> Result<String, ConfigError> {
    let name = header_name(name, field)?;
    const RESERVED: [&str; 7] = [
        "authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "te",
    ];
    if RESERVED.contains(&name.as_str()) {
        return Err(ConfigError::new(
            field,
            format!("`{name}` cannot be set by this filter"),
        ));
    }
    Ok(name)
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
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The smallest valid configuration: one remote provider.
    pub(crate) fn minimal() -> serde_json::Value {
        json!({
            "providers": [{
                "name": "idp",
                "issuer": "https://idp.example.test/",
                "audiences": ["https://api.example.test"],
                "remote_jwks": {
                    "http_uri": {
                        "uri": "https://idp.example.test/.well-known/jwks.json",
                        "cluster": "idp",
                        "timeout": "2s"
                    }
                }
            }]
        })
    }

    /// Parses a configuration written as JSON.
    pub(crate) fn parse(value: serde_json::Value) -> Result<Config, ConfigError> {
        Config::parse(value.to_string().as_bytes())
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse(minimal()).unwrap();
        let provider = &config.providers[0];
        assert_eq!(provider.algorithms, Algorithm::ASYMMETRIC.to_vec());
        assert_eq!(config.crypto, CryptoMode::Auto);
        assert_eq!(provider.clock_skew_seconds, 60);
        assert!(provider.require_expiration);
        let remote = provider.jwks.remote().unwrap();
        assert_eq!(remote.cache_duration_ms, 600_000);
        assert_eq!(remote.cache_control_min_ms, 300_000);
        assert_eq!(remote.cache_control_max_ms, 86_400_000);
        assert_eq!(remote.unknown_kid_refetch_ms, 30_000);
        assert_eq!(remote.max_staleness_ms, 86_400_000);
        assert_eq!(remote.max_body_bytes, 256 * 1024);
        let uri = remote.first_uri();
        assert_eq!(uri.authority, "idp.example.test");
        assert_eq!(uri.path, "/.well-known/jwks.json");
        assert_eq!(uri.scheme, "https");
        assert_eq!(uri.timeout_ms, 2_000);
        assert_eq!(config.realm, DEFAULT_REALM);
        assert_eq!(config.key_wait_timeout_ms, 5_000);
    }

    #[test]
    fn unknown_field_is_rejected_with_its_path() {
        let mut value = minimal();
        value["providers"][0]["remote_jwks"]["http_uri"]["timout"] = json!("1s");
        let err = parse(value).unwrap_err();
        assert_eq!(err.field, "providers[0].remote_jwks.http_uri.timout");
        assert!(err.message.contains("unknown field `timout`"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let mut value = minimal();
        value["providers"][0]["audiences"] = json!("https://api.example.test");
        let err = parse(value).unwrap_err();
        assert_eq!(err.field, "providers[0].audiences");
    }

    #[test]
    fn empty_and_non_json_configuration_is_rejected() {
        assert!(Config::parse(b"").is_err());
        assert!(Config::parse(b"  ").is_err());
        assert!(Config::parse(b"not json").is_err());
        assert!(Config::parse(b"{\"providers\": []}").is_err());
        assert!(Config::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn unsupported_algorithm_is_rejected() {
        for alg in ["none", "HS256", "rs256", "ES256K", "Ed25519", ""] {
            let mut value = minimal();
            value["providers"][0]["algorithms"] = json!(["RS256", alg]);
            let err = parse(value).unwrap_err();
            assert_eq!(err.field, "providers[0].algorithms[1]", "{alg}");
        }
        for alg in Algorithm::ASYMMETRIC {
            let mut value = minimal();
            value["providers"][0]["algorithms"] = json!([alg.name()]);
            assert_eq!(parse(value).unwrap().providers[0].algorithms, vec![alg]);
        }
        let mut value = minimal();
        value["providers"][0]["algorithms"] = json!([]);
        assert_eq!(parse(value).unwrap_err().field, "providers[0].algorithms");
    }

    #[test]
    fn crypto_host_refuses_what_boringssl_cannot_verify() {
        let mut value = minimal();
        value["crypto"] = json!("host");
        let config = parse(value.clone()).unwrap();
        assert_eq!(config.crypto, CryptoMode::Host);
        let names: Vec<&str> = config.providers[0]
            .algorithms
            .iter()
            .map(|a| a.name())
            .collect();
        assert_eq!(
            names,
            ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
        );
        for alg in ["PS256", "PS512", "EdDSA"] {
            value["providers"][0]["algorithms"] = json!(["RS256", alg]);
            let err = parse(value.clone()).unwrap_err();
            assert_eq!(err.field, "providers[0].algorithms[1]", "{alg}");
            assert!(err.message.contains("crypto: host"), "{err}");
        }
        let mut value = minimal();
        value["crypto"] = json!("fips");
        assert_eq!(parse(value).unwrap_err().field, "crypto");
    }

    #[test]
    fn duplicate_names_and_issuers_are_rejected() {
        let mut value = minimal();
        let copy = value["providers"][0].clone();
        value["providers"].as_array_mut().unwrap().push(copy);
        assert_eq!(parse(value.clone()).unwrap_err().field, "providers[1].name");
        value["providers"][1]["name"] = json!("other");
        assert_eq!(parse(value).unwrap_err().field, "providers[1].issuer");
    }

    #[test]
    fn bad_uris_are_rejected() {
        for uri in [
            "idp.example.test/jwks",
            "ftp://idp/jwks",
            "https:///jwks",
            "https://user@idp/jwks",
            "https://idp/jw ks",
            "https://idp/jwks#frag",
        ] {
            let mut value = minimal();
            value["providers"][0]["remote_jwks"]["http_uri"]["uri"] = json!(uri);
            let err = parse(value).unwrap_err();
            assert_eq!(err.field, "providers[0].remote_jwks.http_uri.uri", "{uri}");
        }
    }

    #[test]
    fn uri_without_path_gets_root() {
        let mut value = minimal();
        value["providers"][0]["remote_jwks"]["http_uri"]["uri"] = json!("http://idp:8080");
        let config = parse(value).unwrap();
        let uri = config.providers[0].jwks.remote().unwrap().first_uri();
        assert_eq!(
            (uri.authority.as_str(), uri.path.as_str()),
            ("idp:8080", "/")
        );
    }

    #[test]
    fn durations_parse_like_protobuf_json() {
        assert_eq!(parse_duration_ms("5s", "f").unwrap(), 5_000);
        assert_eq!(parse_duration_ms("0.25s", "f").unwrap(), 250);
        assert_eq!(parse_duration_ms("1.5s", "f").unwrap(), 1_500);
        for bad in [
            "5",
            "s",
            "-1s",
            "1.s",
            ".5s",
            "1e3s",
            "5ms",
            "0.0001s",
            "9999999999s",
        ] {
            assert!(parse_duration_ms(bad, "f").is_err(), "{bad}");
        }
    }

    #[test]
    fn zero_timeout_and_tiny_cache_duration_are_rejected() {
        let mut value = minimal();
        value["providers"][0]["remote_jwks"]["http_uri"]["timeout"] = json!("0s");
        assert!(parse(value).is_err());
        let mut value = minimal();
        value["providers"][0]["remote_jwks"]["cache_duration"] = json!("0.5s");
        assert!(parse(value).is_err());
    }

    #[test]
    fn realm_must_be_header_safe() {
        let mut value = minimal();
        value["realm"] = json!("a\"b");
        assert_eq!(parse(value).unwrap_err().field, "realm");
    }

    #[test]
    fn rules_and_forwarding_fields_validate_with_their_paths() {
        let mut value = minimal();
        value["rules"] = json!([
            {"match": {"path": "/"}, "requires": {"public": {}}},
            {"match": {"prefix": "/admin"}, "requires": {"token": {"providers": ["nope"]}}}
        ]);
        assert_eq!(
            parse(value).unwrap_err().field,
            "rules[1].requires.token.providers[0]"
        );
        let mut value = minimal();
        value["rules"] = json!([{"match": {"prefix": "/a"}, "requires": {"scopes": {"all_of": ["a"]}}, "extra": 1}]);
        assert!(parse(value).unwrap_err().field.starts_with("rules[0]"));
        let mut value = minimal();
        value["providers"][0]["claim_to_headers"] =
            json!([{"claim_name": "sub", "header_name": "Authorization"}]);
        assert_eq!(
            parse(value).unwrap_err().field,
            "providers[0].claim_to_headers[0].header_name"
        );
        let mut value = minimal();
        value["providers"][0]["forward_payload_header"] = json!("bad header");
        assert_eq!(
            parse(value).unwrap_err().field,
            "providers[0].forward_payload_header"
        );
        let mut value = minimal();
        value["providers"][0]["from_cookies"] = json!(["a;b"]);
        assert_eq!(
            parse(value).unwrap_err().field,
            "providers[0].from_cookies[0]"
        );
    }

    #[test]
    fn default_requirement_depends_on_rules() {
        let config = parse(minimal()).unwrap();
        assert_eq!(config.default, Requirement::Token(vec![]));
        assert!(config.bypass_cors_preflight);
        let mut value = minimal();
        value["rules"] = json!([{"match": {"path": "/"}, "requires": {"public": {}}}]);
        assert_eq!(parse(value.clone()).unwrap().default, Requirement::Deny);
        value["default"] = json!({"token": {}});
        assert_eq!(parse(value).unwrap().default, Requirement::Token(vec![]));
    }

    #[test]
    fn sources_keep_authorization_first() {
        let mut value = minimal();
        value["providers"][0]["from_headers"] =
            json!([{"name": "X-Token", "value_prefix": "Token "}]);
        value["providers"][0]["from_params"] = json!(["access_token"]);
        value["providers"][0]["from_cookies"] = json!(["session"]);
        let config = parse(value).unwrap();
        assert_eq!(
            config.providers[0].sources,
            vec![
                TokenSource::AuthorizationBearer,
                TokenSource::Header {
                    name: "x-token".into(),
                    prefix: "Token ".into()
                },
                TokenSource::Param("access_token".into()),
                TokenSource::Cookie("session".into()),
            ]
        );
    }

    #[test]
    fn discovery_and_local_keys() {
        let mut value = minimal();
        value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
        let config = parse(value).unwrap();
        match &config.providers[0].jwks.remote().unwrap().endpoint {
            JwksEndpoint::Discovery(uri) => {
                assert_eq!(uri.path, "/.well-known/openid-configuration");
                assert_eq!(uri.authority, "idp.example.test");
                assert_eq!(uri.cluster, "idp");
            }
            other => panic!("{other:?}"),
        }
        let mut value = minimal();
        value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}, "http_uri": {"uri": "http://a/", "cluster": "c"}});
        assert_eq!(parse(value).unwrap_err().field, "providers[0].remote_jwks");
        let mut value = minimal();
        value["providers"][0]["issuer"] = json!("not-a-url");
        value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
        assert!(parse(value)
            .unwrap_err()
            .message
            .contains("discovery needs an http(s) issuer URL"));
        let mut value = minimal();
        value["providers"][0]["remote_jwks"] = serde_json::Value::Null;
        value["providers"][0]
            .as_object_mut()
            .unwrap()
            .remove("remote_jwks");
        value["providers"][0]["local_jwks"] = json!({"inline_string": "{\"keys\": []}"});
        // An empty local key set parses here, and is refused by `keys::local`.
        assert!(parse(value.clone()).is_ok());
        value["providers"][0]
            .as_object_mut()
            .unwrap()
            .remove("local_jwks");
        assert_eq!(parse(value).unwrap_err().field, "providers[0]");
    }

    #[test]
    fn refresh_follows_max_age_within_bounds() {
        let config = parse(minimal()).unwrap();
        let remote = config.providers[0].jwks.remote().unwrap();
        assert_eq!(remote.next_refresh_ms(0, None), 600_000);
        assert_eq!(remote.next_refresh_ms(0, Some(3_600)), 3_240_000);
        assert_eq!(remote.next_refresh_ms(0, Some(1)), 270_000);
        assert_eq!(remote.next_refresh_ms(0, Some(10_000_000)), 77_760_000);
        assert_eq!(remote.next_refresh_ms(u64::MAX, Some(u64::MAX)), u64::MAX);
    }

    #[test]
    fn limits_validate() {
        let mut value = minimal();
        value["limits"] = json!({"max_json_depth": 0});
        assert_eq!(parse(value).unwrap_err().field, "limits.max_json_depth");
        let mut value = minimal();
        value["limits"] = json!({"max_token_bytes": 16384, "max_kid_bytes": 64});
        let config = parse(value).unwrap();
        assert_eq!(config.limits.max_token_bytes, 16384);
        assert_eq!(config.limits.max_kid_bytes, 64);
        let mut value = minimal();
        value["limits"] = json!({"max_token_byte": 1});
        assert!(parse(value).is_err());
    }
}
