//! Where a fetched key set comes from: the JWKS URI or the OIDC discovery document, the Envoy
//! cluster, and the refresh, retry and staleness timings.

use super::{
    parse_duration_ms, ConfigError, DEFAULT_CACHE_CONTROL_MAX_MS, DEFAULT_CACHE_CONTROL_MIN_MS,
    DEFAULT_CACHE_DURATION_MS, DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_STALENESS_MS, DEFAULT_UNKNOWN_KID_REFETCH_MS,
};
use serde::Deserialize;

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemoteJwks {
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
pub(super) struct RawDiscovery {
    cluster: String,
    #[serde(default)]
    timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttpUri {
    uri: String,
    cluster: String,
    #[serde(default)]
    timeout: Option<String>,
}

impl RemoteJwks {
    pub(super) fn validate(
        raw: RawRemoteJwks,
        issuer: Option<&str>,
        at: &str,
    ) -> Result<Self, ConfigError> {
        let duration = |value: Option<String>, name: &str, default: u64| match value {
            Some(text) => parse_duration_ms(&text, &format!("{at}.{name}")),
            None => Ok(default),
        };
        let endpoint = match (raw.http_uri, raw.oidc_discovery) {
            (Some(uri), None) => {
                JwksEndpoint::Uri(HttpUri::validate(uri, &format!("{at}.http_uri"))?)
            }
            (None, Some(discovery)) => {
                let issuer = issuer.ok_or(ConfigError::new(
                    format!("{at}.oidc_discovery"),
                    "discovery needs the provider's `issuer`: the document is found from it",
                ))?;
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

    pub(super) fn validate(raw: RawHttpUri, at: &str) -> Result<Self, ConfigError> {
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
