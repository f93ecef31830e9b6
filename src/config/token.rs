//! What the configuration says about tokens: where they may come from, how large they may be,
//! which `typ` a provider accepts, and how many verified tokens a worker remembers.

use crate::error::{AuthError, ErrorCode};

/// One place a token can be presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 section 2.1).
    AuthorizationBearer,
    /// `Authorization: DPoP <token>` (RFC 9449 section 7.1), for a provider with DPoP on; the
    /// request must carry a `DPoP` proof header too.
    AuthorizationDpop,
    /// A header (lower-case name) whose value is `prefix` followed by the token.
    Header {
        /// Lower-case header name.
        name: String,
        /// Text before the token, compared case-insensitively; may be empty.
        prefix: String,
    },
    /// A query parameter.
    Param(String),
    /// A cookie.
    Cookie(String),
}

/// Tokens longer than this are refused before any decoding (8 KiB, as large IdP tokens go).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Default bound of a whole `Authorization` value: a maximal token plus room for the scheme and
/// spaces.
pub const MAX_AUTHORIZATION_BYTES: usize = MAX_TOKEN_BYTES + 256;

/// Default bound of a token's `kid`. Real key ids are a few dozen bytes (a UUID, a thumbprint).
pub const MAX_KID_BYTES: usize = 256;

/// Default bound of JSON nesting in a token's header and payload: well above any real claim set
/// (RFC 9396 `authorization_details` nests four deep) and far below serde_json's own 128.
pub const MAX_JSON_DEPTH: usize = 32;

/// Size limits applied to what a client sends, each checked before the work it bounds.
///
/// Every limit is refused with a 401 and a fixed description; none of them makes the filter
/// allocate more than the input it already holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `Authorization` header value, in bytes ([`crate::request::extract`]).
    pub max_authorization_bytes: usize,
    /// Largest compact token, in bytes, checked before any decoding.
    pub max_token_bytes: usize,
    /// Largest `kid` header value, in bytes.
    pub max_kid_bytes: usize,
    /// Deepest nesting of arrays and objects in the header and the payload; the top-level object
    /// counts as one level.
    pub max_json_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_authorization_bytes: MAX_AUTHORIZATION_BYTES,
            max_token_bytes: MAX_TOKEN_BYTES,
            max_kid_bytes: MAX_KID_BYTES,
            max_json_depth: MAX_JSON_DEPTH,
        }
    }
}

/// Which `typ` header values a provider accepts (RFC 8725 section 3.11, RFC 9068 section 4).
///
/// Media types compare case-insensitively, and the `application/` prefix may be left out
/// (RFC 7515 section 4.1.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TypPolicy {
    /// `typ` absent, `JWT` or `at+jwt`.
    #[default]
    Jwt,
    /// Only `at+jwt`: JWT access tokens (RFC 9068), so an ID token or any other JWT of the same
    /// issuer cannot be replayed as an access token.
    AccessToken,
}

/// `typ` values accepted under [`TypPolicy::Jwt`] (RFC 7519 section 5.1, RFC 9068 section 2.1).
const JWT_TYP: [&str; 4] = ["jwt", "at+jwt", "application/jwt", "application/at+jwt"];

/// `typ` values accepted under [`TypPolicy::AccessToken`].
const ACCESS_TOKEN_TYP: [&str; 2] = ["at+jwt", "application/at+jwt"];

impl TypPolicy {
    /// Checks a token's `typ` header against this policy.
    pub fn check(self, typ: Option<&str>) -> Result<(), AuthError> {
        let accepted: &[&str] = match self {
            Self::Jwt => &JWT_TYP,
            Self::AccessToken => &ACCESS_TOKEN_TYP,
        };
        match typ {
            None if self == Self::Jwt => Ok(()),
            None => Err(malformed("Token type must be at+jwt")),
            Some(typ) if accepted.iter().any(|t| t.eq_ignore_ascii_case(typ)) => Ok(()),
            Some(_) if self == Self::AccessToken => Err(malformed("Token type must be at+jwt")),
            Some(_) => Err(malformed("Token type is not accepted")),
        }
    }
}

fn malformed(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidToken, description)
}

/// Sizing of a verified-token cache ([`crate::request::cache`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// Most entries held; 0 disables caching (every lookup misses, nothing is stored).
    pub capacity: usize,
    /// Longest life of an entry whose token has no `exp`.
    pub max_ttl_secs: u64,
}

/// Default number of entries (see the module docs for why).
pub const DEFAULT_CAPACITY: usize = 1024;

/// Default life of an entry for a token without `exp`: Envoy's default JWKS `cache_duration`.
pub const DEFAULT_MAX_TTL_SECS: u64 = 600;

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: DEFAULT_CAPACITY,
            max_ttl_secs: DEFAULT_MAX_TTL_SECS,
        }
    }
}

/// RFC 9110 `tchar`.
pub fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}
