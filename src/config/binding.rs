//! Sender-constrained tokens, as one provider configures them: DPoP (RFC 9449) and
//! certificate-bound tokens (RFC 8705).
//!
//! Both are `off` unless configured. Each takes the short form (`"dpop": "required"`) or an
//! object with `mode` and its settings. The checks themselves are [`crate::request::binding`].

use super::{json_path, ConfigError};
use crate::verify::{Algorithm, CryptoMode};
use serde::Deserialize;
use serde_json::Value;

/// How strictly a provider holds its tokens to a binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BindingMode {
    /// Not checked (tokens are bearer tokens, whatever they carry).
    #[default]
    Off,
    /// A bound token must prove its binding; an unbound token passes as a bearer token.
    Allowed,
    /// Every token must be bound and prove it.
    Required,
}

impl BindingMode {
    fn parse(text: &str, at: &str) -> Result<Self, ConfigError> {
        match text {
            "off" => Ok(Self::Off),
            "allowed" => Ok(Self::Allowed),
            "required" => Ok(Self::Required),
            _ => Err(ConfigError::new(
                at,
                format!("unknown mode `{text}`; expected off, allowed or required"),
            )),
        }
    }
}

/// Default age a DPoP proof may have (its `iat` before now): 5 minutes, as Auth0's SDK.
pub const DEFAULT_DPOP_MAX_AGE_SECONDS: u64 = 300;
/// Default entries of the DPoP replay cache per provider.
pub const DEFAULT_REPLAY_CACHE_ENTRIES: usize = 65_536;
/// Default lifetime of one server nonce window.
pub const DEFAULT_NONCE_WINDOW_SECONDS: u64 = 60;
/// Shortest nonce secret accepted, in bytes (the HMAC key).
pub const MIN_NONCE_SECRET_BYTES: usize = 32;

/// A provider's DPoP settings (RFC 9449).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dpop {
    /// Off, allowed (bound tokens prove it, bearer tokens pass) or required.
    pub mode: BindingMode,
    /// Algorithms a proof may be signed with (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be, in seconds; the provider's clock skew is added, and a
    /// proof may be that skew in the future.
    pub max_age_seconds: u64,
    /// The external `scheme://authority` requests arrive at (behind a TLS-terminating edge);
    /// `None`: the request's own `:scheme` and `:authority`.
    pub origin: Option<String>,
    /// Take the scheme and authority from `x-forwarded-proto` and `x-forwarded-host` (only
    /// behind an edge that sets them and removes clients' copies).
    pub trust_forwarded_headers: bool,
    /// Server nonces (RFC 9449 section 9), if configured.
    pub nonce: Option<NonceSettings>,
    /// Proof ids remembered per provider, across every worker of the process.
    pub replay_cache_entries: usize,
}

impl Dpop {
    /// The `algs` parameter of a `DPoP` challenge.
    pub fn algs(&self) -> String {
        self.algorithms
            .iter()
            .map(|alg| alg.name())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Stateless server nonces: an HMAC of the time window under a secret every proxy of a fleet
/// shares, so any of them accepts a nonce another issued.
#[derive(Clone, PartialEq, Eq)]
pub struct NonceSettings {
    /// The HMAC key (never logged).
    pub secret: Vec<u8>,
    /// Seconds one nonce is current; the previous window's nonce is accepted too.
    pub window_seconds: u64,
}

impl std::fmt::Debug for NonceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceSettings")
            .field("secret", &"<redacted>")
            .field("window_seconds", &self.window_seconds)
            .finish()
    }
}

/// Where the client certificate's SHA-256 comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCertSource {
    /// The downstream TLS connection Envoy terminates.
    Connection,
    /// The last element's `Hash` of this header (lower-case name), set by a trusted edge that
    /// terminates TLS in front of Envoy (Envoy's `x-forwarded-client-cert` format).
    ForwardedHeader(String),
}

/// A provider's certificate-bound token settings (RFC 8705 section 3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtlsBound {
    /// Off, allowed (a token with `cnf.x5t#S256` must match the certificate) or required.
    pub mode: BindingMode,
    /// Where the certificate's hash is read.
    pub client_cert: ClientCertSource,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDpop {
    mode: String,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    max_age: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    trust_forwarded_headers: bool,
    #[serde(default)]
    nonce: Option<RawNonce>,
    #[serde(default)]
    replay_cache_entries: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNonce {
    secret: String,
    #[serde(default)]
    window: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMtls {
    mode: String,
    #[serde(default)]
    forwarded_client_cert_header: Option<String>,
}

/// A provider's `dpop`: a mode, or an object with `mode` and settings.
pub(super) fn dpop(
    value: Option<Value>,
    at: &str,
    crypto: CryptoMode,
) -> Result<Dpop, ConfigError> {
    let raw = match value {
        None | Some(Value::Null) => return Ok(off_dpop()),
        Some(Value::String(mode)) => RawDpop {
            mode,
            algorithms: None,
            max_age: None,
            origin: None,
            trust_forwarded_headers: false,
            nonce: None,
            replay_cache_entries: None,
        },
        Some(value @ Value::Object(_)) => json_path::from_value(&value, at)?,
        Some(_) => {
            return Err(ConfigError::new(
                at,
                "must be off, allowed, required or an object with `mode`",
            ))
        }
    };
    let mode = BindingMode::parse(&raw.mode, &format!("{at}.mode"))?;
    let algorithms = match raw.algorithms {
        None => Algorithm::ASYMMETRIC
            .into_iter()
            .filter(|&alg| crypto.supports(alg))
            .collect(),
        Some(names) if names.is_empty() => {
            return Err(ConfigError::new(
                format!("{at}.algorithms"),
                "must list at least one algorithm",
            ))
        }
        Some(names) => {
            let mut algorithms = Vec::new();
            for (i, name) in names.iter().enumerate() {
                let field = format!("{at}.algorithms[{i}]");
                let alg = Algorithm::from_name(name)
                    .filter(|alg| !alg.is_symmetric())
                    .ok_or_else(|| {
                        ConfigError::new(
                            &field,
                            format!("`{name}` is not an asymmetric algorithm this filter verifies"),
                        )
                    })?;
                if !crypto.supports(alg) {
                    return Err(ConfigError::new(
                        field,
                        format!("`{name}` cannot be verified with this `crypto` setting"),
                    ));
                }
                if !algorithms.contains(&alg) {
                    algorithms.push(alg);
                }
            }
            algorithms
        }
    };
    let max_age_seconds = match raw.max_age {
        None => DEFAULT_DPOP_MAX_AGE_SECONDS,
        Some(text) => {
            let field = format!("{at}.max_age");
            let ms = super::parse_duration_ms(&text, &field)?;
            if !(1_000..=3_600_000).contains(&ms) {
                return Err(ConfigError::new(field, "must be between 1s and 1h"));
            }
            ms / 1_000
        }
    };
    let origin = match raw.origin {
        None => None,
        Some(text) => Some(origin(&text, &format!("{at}.origin"))?),
    };
    if origin.is_some() && raw.trust_forwarded_headers {
        return Err(ConfigError::new(
            format!("{at}.trust_forwarded_headers"),
            "cannot be combined with `origin`",
        ));
    }
    let nonce = match raw.nonce {
        None => None,
        Some(nonce) => {
            if nonce.secret.len() < MIN_NONCE_SECRET_BYTES {
                return Err(ConfigError::new(
                    format!("{at}.nonce.secret"),
                    format!("must be at least {MIN_NONCE_SECRET_BYTES} bytes"),
                ));
            }
            let window_seconds = match nonce.window {
                None => DEFAULT_NONCE_WINDOW_SECONDS,
                Some(text) => {
                    let field = format!("{at}.nonce.window");
                    let ms = super::parse_duration_ms(&text, &field)?;
                    if !(1_000..=86_400_000).contains(&ms) {
                        return Err(ConfigError::new(field, "must be between 1s and 24h"));
                    }
                    ms / 1_000
                }
            };
            Some(NonceSettings {
                secret: nonce.secret.into_bytes(),
                window_seconds,
            })
        }
    };
    let replay_cache_entries = raw
        .replay_cache_entries
        .unwrap_or(DEFAULT_REPLAY_CACHE_ENTRIES);
    if !(64..=1_048_576).contains(&replay_cache_entries) {
        return Err(ConfigError::new(
            format!("{at}.replay_cache_entries"),
            "must be between 64 and 1048576",
        ));
    }
    Ok(Dpop {
        mode,
        algorithms,
        max_age_seconds,
        origin,
        trust_forwarded_headers: raw.trust_forwarded_headers,
        nonce,
        replay_cache_entries,
    })
}

fn off_dpop() -> Dpop {
    Dpop {
        mode: BindingMode::Off,
        algorithms: Vec::new(),
        max_age_seconds: DEFAULT_DPOP_MAX_AGE_SECONDS,
        origin: None,
        trust_forwarded_headers: false,
        nonce: None,
        replay_cache_entries: DEFAULT_REPLAY_CACHE_ENTRIES,
    }
}

/// `scheme://authority` of an external origin, lower-cased, without a default port or a path.
fn origin(text: &str, at: &str) -> Result<String, ConfigError> {
    let bad = || {
        ConfigError::new(
            at,
            "must be `http://host[:port]` or `https://host[:port]`, without a path",
        )
    };
    let (scheme, authority) = text.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https")
        || authority.is_empty()
        || authority.contains(['/', '?', '#', '@', ' '])
    {
        return Err(bad());
    }
    Ok(normalized_origin(&scheme, authority))
}

/// `scheme://authority`, lower-cased and without the scheme's default port: how a configured
/// origin and a request's (RFC 3986 sections 6.2.2.1 and 6.2.3) are compared.
pub fn normalized_origin(scheme: &str, authority: &str) -> String {
    let scheme = scheme.to_ascii_lowercase();
    let authority = authority.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    let authority = match authority.strip_suffix(default) {
        Some(host) if !default.is_empty() && !host.is_empty() => host,
        _ => authority.as_str(),
    };
    format!("{scheme}://{authority}")
}

/// What a request must be read for, beyond its token, when some provider binds its tokens:
/// worked out once, so a configuration without bindings reads nothing more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BindingReads {
    /// Some provider takes DPoP: the `DPoP` headers, `:method`, `:scheme`, `:authority`, `:path`.
    pub dpop: bool,
    /// Some DPoP provider trusts `x-forwarded-proto` and `x-forwarded-host`.
    pub forwarded: bool,
    /// Some DPoP provider has no configured `origin`: `:scheme` and `:authority` are read.
    pub request_origin: bool,
    /// Some provider binds tokens to the connection's client certificate.
    pub connection_certificate: bool,
    /// Headers some provider takes the client certificate's hash from.
    pub certificate_headers: Vec<String>,
}

impl BindingReads {
    /// The reads `providers` need, or `None` when none of them binds tokens.
    pub fn of(providers: &[super::Provider]) -> Option<Self> {
        let mut reads = Self::default();
        let mut any = false;
        for provider in providers {
            if provider.dpop.mode != BindingMode::Off {
                any = true;
                reads.dpop = true;
                reads.forwarded |= provider.dpop.trust_forwarded_headers;
                reads.request_origin |= provider.dpop.origin.is_none();
            }
            if provider.mtls_bound.mode != BindingMode::Off {
                any = true;
                match &provider.mtls_bound.client_cert {
                    ClientCertSource::Connection => reads.connection_certificate = true,
                    ClientCertSource::ForwardedHeader(name) => {
                        if !reads.certificate_headers.contains(name) {
                            reads.certificate_headers.push(name.clone());
                        }
                    }
                }
            }
        }
        any.then_some(reads)
    }
}

/// A provider's `mtls_bound`: a mode, or an object with `mode` and
/// `forwarded_client_cert_header`.
pub(super) fn mtls(value: Option<Value>, at: &str) -> Result<MtlsBound, ConfigError> {
    let raw = match value {
        None | Some(Value::Null) => RawMtls {
            mode: "off".into(),
            forwarded_client_cert_header: None,
        },
        Some(Value::String(mode)) => RawMtls {
            mode,
            forwarded_client_cert_header: None,
        },
        Some(value @ Value::Object(_)) => json_path::from_value(&value, at)?,
        Some(_) => {
            return Err(ConfigError::new(
                at,
                "must be off, allowed, required or an object with `mode`",
            ))
        }
    };
    let mode = BindingMode::parse(&raw.mode, &format!("{at}.mode"))?;
    let client_cert = match raw.forwarded_client_cert_header {
        None => ClientCertSource::Connection,
        Some(name) => {
            let field = format!("{at}.forwarded_client_cert_header");
            if name.is_empty() || !name.bytes().all(super::token::is_token_char) {
                return Err(ConfigError::new(field, "must be an HTTP header name"));
            }
            ClientCertSource::ForwardedHeader(name.to_ascii_lowercase())
        }
    };
    Ok(MtlsBound { mode, client_cert })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_short_form_and_the_object_form_mean_the_same() {
        let short = dpop(Some(json!("required")), "p.dpop", CryptoMode::Auto).unwrap();
        let long = dpop(
            Some(json!({"mode": "required"})),
            "p.dpop",
            CryptoMode::Auto,
        )
        .unwrap();
        assert_eq!(short, long);
        assert_eq!(short.mode, BindingMode::Required);
        assert_eq!(short.max_age_seconds, 300);
        assert!(short.algorithms.contains(&Algorithm::Es256));
        assert!(!short.algorithms.iter().any(|alg| alg.is_symmetric()));
        assert_eq!(
            dpop(None, "p.dpop", CryptoMode::Auto).unwrap().mode,
            BindingMode::Off
        );
    }

    #[test]
    fn bad_settings_name_their_field() {
        let cases = [
            (json!("sometimes"), "p.dpop.mode"),
            (
                json!({"mode": "allowed", "algorithms": ["HS256"]}),
                "p.dpop.algorithms[0]",
            ),
            (
                json!({"mode": "allowed", "algorithms": []}),
                "p.dpop.algorithms",
            ),
            (
                json!({"mode": "allowed", "max_age": "2h"}),
                "p.dpop.max_age",
            ),
            (
                json!({"mode": "allowed", "origin": "https://a/b"}),
                "p.dpop.origin",
            ),
            (
                json!({"mode": "allowed", "nonce": {"secret": "short"}}),
                "p.dpop.nonce.secret",
            ),
            (
                json!({"mode": "allowed", "replay_cache_entries": 1}),
                "p.dpop.replay_cache_entries",
            ),
            (json!({"mode": "allowed", "typo": 1}), "p.dpop.typo"),
            (json!(7), "p.dpop"),
        ];
        for (value, field) in cases {
            let err = dpop(Some(value.clone()), "p.dpop", CryptoMode::Auto).unwrap_err();
            assert_eq!(err.field, field, "{value}: {err}");
        }
        let err = mtls(Some(json!({"mode": "on"})), "p.mtls_bound").unwrap_err();
        assert_eq!(err.field, "p.mtls_bound.mode");
    }

    #[test]
    fn an_origin_is_normalized_and_a_nonce_secret_is_never_shown() {
        let parsed = dpop(
            Some(
                json!({"mode": "allowed", "origin": "HTTPS://API.Example.test:443",
                        "nonce": {"secret": "s".repeat(32), "window": "30s"}}),
            ),
            "p.dpop",
            CryptoMode::Auto,
        )
        .unwrap();
        assert_eq!(parsed.origin.as_deref(), Some("https://api.example.test"));
        let nonce = parsed.nonce.unwrap();
        assert_eq!(nonce.window_seconds, 30);
        assert!(!format!("{nonce:?}").contains("sss"));
    }

    #[test]
    fn mtls_reads_the_forwarded_header_only_when_named() {
        let plain = mtls(Some(json!("required")), "m").unwrap();
        assert_eq!(plain.client_cert, ClientCertSource::Connection);
        let forwarded = mtls(
            Some(json!({"mode": "allowed", "forwarded_client_cert_header": "X-Forwarded-Client-Cert"})),
            "m",
        )
        .unwrap();
        assert_eq!(
            forwarded.client_cert,
            ClientCertSource::ForwardedHeader("x-forwarded-client-cert".into())
        );
    }
}
