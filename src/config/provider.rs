//! One identity provider's compiled settings: issuer, audiences, key source, allowlist, token
//! sources and claim headers, checked once when the configuration is read.

use super::binding::{BindingMode, Dpop, MtlsBound};
use super::remote::{RawRemoteJwks, RemoteJwks};
use super::token::{is_token_char, TokenSource};
use super::{ConfigError, DEFAULT_CLOCK_SKEW_SECONDS};
use crate::verify::{Algorithm, CryptoMode};
use serde::Deserialize;

/// A claim copied into a request header for the upstream (Envoy's `claim_to_headers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimToHeader {
    /// The claim: exact name, else a dotted path into nested objects.
    pub claim_name: String,
    /// The lower-case header name.
    pub header_name: String,
}

/// What a token's `sub` must match (Envoy's `subjects`, a `StringMatcher` without `safe_regex`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectMatcher {
    /// How `sub` is compared with `value`.
    pub kind: SubjectMatch,
    /// The text compared with.
    pub value: String,
    /// Compare ASCII case-insensitively.
    pub ignore_case: bool,
}

/// The comparisons of [`SubjectMatcher`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectMatch {
    /// `sub` equals the value.
    Exact,
    /// `sub` starts with it.
    Prefix,
    /// `sub` ends with it.
    Suffix,
    /// `sub` contains it.
    Contains,
}

impl SubjectMatcher {
    /// Whether `sub` matches. Byte comparisons, not `str::contains`: the two-way searcher
    /// costs about 10 KB of module for subjects a few dozen bytes long.
    pub fn matches(&self, sub: &str) -> bool {
        let (sub, value) = (sub.as_bytes(), self.value.as_bytes());
        let same = |part: &[u8]| {
            if self.ignore_case {
                part.eq_ignore_ascii_case(value)
            } else {
                part == value
            }
        };
        let n = value.len();
        match self.kind {
            SubjectMatch::Exact => same(sub),
            SubjectMatch::Prefix => sub.get(..n).is_some_and(same),
            SubjectMatch::Suffix => sub
                .len()
                .checked_sub(n)
                .and_then(|at| sub.get(at..))
                .is_some_and(same),
            SubjectMatch::Contains => sub.windows(n.max(1)).any(same),
        }
    }
}

/// One identity provider: who issues tokens, for whom, and where its keys are.
#[derive(Clone, Debug, PartialEq)]
pub struct Provider {
    /// Unique name, used in logs, shared-data keys and (later) route rules.
    pub name: String,
    /// The exact `iss` its tokens carry; `None` (Envoy's jwt_authn allows it too) takes a token
    /// with any `iss`, or none, once no other provider claims it.
    pub issuer: Option<String>,
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
    /// The longest `exp - iat` accepted, in seconds (Envoy's `max_lifetime`); with it, a token
    /// needs both claims.
    pub max_lifetime_seconds: Option<u64>,
    /// Where tokens of this provider are taken from.
    pub sources: Vec<TokenSource>,
    /// Keep the token in the request sent upstream.
    pub forward: bool,
    /// Have Envoy choose the route again after the claim headers are set (Envoy's field of the
    /// same name), so routes can match on claims.
    pub clear_route_cache: bool,
    /// Header that receives the token's payload (base64url, as in the token).
    pub forward_payload_header: Option<String>,
    /// Pad that payload with `=` to a multiple of four characters (Envoy's
    /// `pad_forward_payload_header`), for upstreams whose base64 decoder needs it.
    pub pad_forward_payload_header: bool,
    /// What `sub` must match; `None` takes any subject.
    pub subjects: Option<SubjectMatcher>,
    /// Claims copied to headers.
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// Claims that hold scopes.
    pub scope_claims: Vec<String>,
    /// Which `typ` header values are accepted (RFC 9068 access tokens only, or any JWT).
    pub typ_policy: crate::config::token::TypPolicy,
    /// DPoP-bound tokens (RFC 9449).
    pub dpop: Dpop,
    /// Certificate-bound tokens (RFC 8705).
    pub mtls_bound: MtlsBound,
}

impl Provider {
    /// Whether tokens of this provider may be held to a binding (DPoP or a certificate), so a
    /// request needs more than its token read.
    pub fn binds(&self) -> bool {
        self.dpop.mode != BindingMode::Off || self.mtls_bound.mode != BindingMode::Off
    }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    name: String,
    #[serde(default)]
    issuer: Option<String>,
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
    max_lifetime: Option<String>,
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
    clear_route_cache: bool,
    #[serde(default)]
    forward_payload_header: Option<String>,
    #[serde(default)]
    pad_forward_payload_header: bool,
    #[serde(default)]
    subjects: Option<RawSubjectMatcher>,
    #[serde(default)]
    claim_to_headers: Vec<RawClaimToHeader>,
    #[serde(default)]
    scope_claims: Option<Vec<String>>,
    #[serde(default)]
    require_typ_at_jwt: bool,
    #[serde(default)]
    dpop: Option<serde_json::Value>,
    #[serde(default)]
    mtls_bound: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSubjectMatcher {
    #[serde(default)]
    exact: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    contains: Option<String>,
    #[serde(default)]
    safe_regex: Option<serde_json::Value>,
    #[serde(default)]
    ignore_case: bool,
}

impl RawSubjectMatcher {
    fn compile(self, at: &str) -> Result<SubjectMatcher, ConfigError> {
        if self.safe_regex.is_some() {
            return Err(ConfigError::new(
                format!("{at}.safe_regex"),
                "regular expressions are not supported (no regex engine in the module); use exact, prefix, suffix or contains",
            ));
        }
        let given = [
            (SubjectMatch::Exact, self.exact),
            (SubjectMatch::Prefix, self.prefix),
            (SubjectMatch::Suffix, self.suffix),
            (SubjectMatch::Contains, self.contains),
        ]
        .into_iter()
        .filter_map(|(kind, value)| value.map(|v| (kind, v)))
        .collect::<Vec<_>>();
        let [(kind, value)] = <[_; 1]>::try_from(given).map_err(|_| {
            ConfigError::new(
                at.to_string(),
                "needs exactly one of exact, prefix, suffix or contains",
            )
        })?;
        if value.is_empty() && kind != SubjectMatch::Exact {
            return Err(ConfigError::new(at.to_string(), "must not be empty"));
        }
        Ok(SubjectMatcher {
            kind,
            value,
            ignore_case: self.ignore_case,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderSource {
    name: String,
    #[serde(default)]
    value_prefix: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClaimToHeader {
    header_name: String,
    claim_name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocalJwks {
    inline_string: String,
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
    pub(super) fn validate(
        raw: RawProvider,
        at: &str,
        crypto: CryptoMode,
    ) -> Result<Self, ConfigError> {
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
        if raw.issuer.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new(
                format!("{at}.issuer"),
                "must not be empty (leave it out to accept any issuer)",
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
        let max_lifetime_seconds = match &raw.max_lifetime {
            Some(text) => {
                let field = format!("{at}.max_lifetime");
                let ms = super::parse_duration_ms(text, &field)?;
                if ms < 1_000 {
                    return Err(ConfigError::new(field, "must be at least 1s"));
                }
                Some(ms / 1_000)
            }
            None => None,
        };
        if clock_skew_seconds > 86_400 {
            return Err(ConfigError::new(
                format!("{at}.clock_skew_seconds"),
                "must be at most 86400 (one day)",
            ));
        }
        let jwks = match (raw.remote_jwks, raw.local_jwks) {
            (Some(remote), None) => JwksSource::Remote(RemoteJwks::validate(
                remote,
                raw.issuer.as_deref(),
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
        let dpop = super::binding::dpop(raw.dpop, &format!("{at}.dpop"), crypto)?;
        let mtls_bound = super::binding::mtls(raw.mtls_bound, &format!("{at}.mtls_bound"))?;
        let mut sources = vec![TokenSource::AuthorizationBearer];
        if dpop.mode != BindingMode::Off {
            sources.push(TokenSource::AuthorizationDpop);
        }
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
        let subjects = match raw.subjects {
            Some(raw) => Some(raw.compile(&format!("{at}.subjects"))?),
            None => None,
        };
        if raw.pad_forward_payload_header && raw.forward_payload_header.is_none() {
            return Err(ConfigError::new(
                format!("{at}.pad_forward_payload_header"),
                "needs forward_payload_header",
            ));
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
            max_lifetime_seconds,
            require_expiration: raw.require_expiration.unwrap_or(true),
            sources,
            forward: raw.forward,
            clear_route_cache: raw.clear_route_cache,
            forward_payload_header,
            pad_forward_payload_header: raw.pad_forward_payload_header,
            subjects,
            claim_to_headers,
            scope_claims,
            typ_policy: if raw.require_typ_at_jwt {
                crate::config::token::TypPolicy::AccessToken
            } else {
                crate::config::token::TypPolicy::Jwt
            },
            dpop,
            mtls_bound,
        })
    }
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
