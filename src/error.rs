//! Authentication failures and the JSON reply each one becomes.
//!
//! The `code` strings and statuses are the project's documented contract (README, "Error codes").
//! Descriptions are fixed sentences chosen by this filter: nothing from the request (least of all
//! the token) is ever echoed back.

use std::fmt;
use std::rc::Rc;

/// A failure category with a stable machine-readable code and an HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No credentials were presented at all.
    AuthorizationHeaderMissing,
    /// The header holding the credentials is malformed (wrong scheme, no token, several tokens).
    InvalidHeader,
    /// The token is not a well-formed, correctly signed JWS from a known provider.
    InvalidToken,
    /// The token's `exp` has passed (beyond the clock skew).
    TokenExpired,
    /// A claim (`iss`, `aud`, `nbf`, or another required one) does not hold.
    InvalidClaims,
    /// A valid token lacks a scope the route requires.
    InsufficientScope,
    /// No usable key set could be obtained for the token's provider.
    JwksUnavailable,
    /// A route rule refuses the request outright (or no rule matched and the default denies).
    AccessDenied,
    /// The DPoP proof is missing, malformed, replayed or does not fit the request (RFC 9449).
    InvalidDpopProof,
    /// The DPoP proof lacks the current server nonce; the reply carries one (RFC 9449 section 9).
    UseDpopNonce,
}

impl ErrorCode {
    /// Every code, for metrics and documentation.
    pub const ALL: [ErrorCode; 10] = [
        Self::AuthorizationHeaderMissing,
        Self::InvalidHeader,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::InvalidClaims,
        Self::InsufficientScope,
        Self::JwksUnavailable,
        Self::AccessDenied,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
    ];

    /// The `code` member of the JSON reply.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationHeaderMissing => "authorization_header_missing",
            Self::InvalidHeader => "invalid_header",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::InvalidClaims => "invalid_claims",
            Self::InsufficientScope => "insufficient_scope",
            Self::JwksUnavailable => "jwks_unavailable",
            Self::AccessDenied => "access_denied",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status of the local reply.
    pub fn status(self) -> u32 {
        match self {
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::JwksUnavailable => 503,
            _ => 401,
        }
    }

    /// The RFC 6750 section 3.1 `error` attribute for `WWW-Authenticate`, if any.
    ///
    /// Missing credentials and a foreign scheme carry none (RFC 6750 section 3: a client that did
    /// not try Bearer is not told of an error); a malformed Bearer header is `invalid_request`.
    fn rfc6750_error(self) -> Option<&'static str> {
        match self {
            Self::AuthorizationHeaderMissing | Self::JwksUnavailable | Self::AccessDenied => None,
            Self::InvalidHeader => Some("invalid_request"),
            Self::InvalidToken | Self::TokenExpired | Self::InvalidClaims => Some("invalid_token"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::InvalidDpopProof => Some("invalid_dpop_proof"),
            Self::UseDpopNonce => Some("use_dpop_nonce"),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a request was refused: a code plus a fixed human sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    /// The category, which fixes status and `code`.
    pub code: ErrorCode,
    /// A sentence for people; never contains request data.
    pub description: &'static str,
    /// Whether RFC 6750's `error` attribute applies: false for a header in a foreign scheme.
    pub bearer_attempted: bool,
    /// Scopes to name in `WWW-Authenticate` for `insufficient_scope`.
    pub scope: Option<String>,
    /// The `DPoP` challenge to send, when the provider (or the route) accepts DPoP.
    pub dpop: Option<Rc<DpopChallenge>>,
    /// Whether the token came in the `DPoP` scheme (the error then goes on that challenge).
    pub via_dpop: bool,
    /// A server nonce for the client (`DPoP-Nonce`), with `use_dpop_nonce`.
    pub nonce: Option<String>,
}

/// What a `DPoP` challenge says (RFC 9449 section 7.1), worked out once per provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopChallenge {
    /// The `algs` parameter: the proof algorithms accepted, space-separated.
    pub algs: String,
    /// Whether `Bearer` is accepted too (`allowed`): then both schemes are challenged.
    pub bearer_too: bool,
}

impl AuthError {
    /// A failure of the given code with a fixed description.
    pub const fn new(code: ErrorCode, description: &'static str) -> Self {
        Self {
            code,
            description,
            bearer_attempted: true,
            scope: None,
            dpop: None,
            via_dpop: false,
            nonce: None,
        }
    }

    /// No `Authorization` header (nor any other configured token source).
    pub const fn missing() -> Self {
        Self {
            code: ErrorCode::AuthorizationHeaderMissing,
            description: "Authorization header is expected",
            bearer_attempted: false,
            scope: None,
            dpop: None,
            via_dpop: false,
            nonce: None,
        }
    }

    /// Credentials in a scheme other than Bearer: `invalid_header`, without RFC 6750's `error`.
    pub const fn foreign_scheme() -> Self {
        Self {
            code: ErrorCode::InvalidHeader,
            description: "Authorization header must start with Bearer",
            bearer_attempted: false,
            scope: None,
            dpop: None,
            via_dpop: false,
            nonce: None,
        }
    }

    /// The `WWW-Authenticate` value for this failure (RFC 6750 section 3): a `Bearer` challenge,
    /// and a `DPoP` one when DPoP is accepted (RFC 9449 section 7.1; only that one when DPoP
    /// is required). The `error` goes on the challenge of the scheme the client used.
    pub fn www_authenticate(&self, realm: &str) -> String {
        let error = self
            .code
            .rfc6750_error()
            .filter(|_| self.bearer_attempted || self.via_dpop);
        let dpop_error = matches!(
            self.code,
            ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce
        ) || self.via_dpop;
        let Some(dpop) = &self.dpop else {
            let mut value = format!("Bearer realm=\"{}\"", quoted_string_safe(realm));
            if let Some(error) = error {
                self.push_error(&mut value, error, ", ");
            }
            return value;
        };
        let mut value = String::new();
        if dpop.bearer_too {
            value = format!("Bearer realm=\"{}\"", quoted_string_safe(realm));
            if let Some(error) = error.filter(|_| !dpop_error) {
                self.push_error(&mut value, error, ", ");
            }
            value.push_str(", ");
        }
        value.push_str("DPoP ");
        // Under `required` a Bearer attempt is answered on the only challenge there is.
        if let Some(error) = error.filter(|_| dpop_error || !dpop.bearer_too) {
            self.push_error(&mut value, error, "");
            value.push_str(", ");
        }
        value.push_str(&format!("algs=\"{}\"", quoted_string_safe(&dpop.algs)));
        value
    }

    /// Appends `error`, `error_description` and (for a scope shortfall) `scope`, after `lead`.
    fn push_error(&self, value: &mut String, error: &str, lead: &str) {
        value.push_str(&format!(
            "{lead}error=\"{error}\", error_description=\"{}\"",
            quoted_string_safe(self.description)
        ));
        if let Some(scope) = &self.scope {
            value.push_str(&format!(", scope=\"{}\"", quoted_string_safe(scope)));
        }
    }

    /// The local reply Envoy sends for this failure.
    pub fn reply(&self, realm: &str) -> ErrorReply {
        let body = serde_json::json!({
            "code": self.code.as_str(),
            "description": self.description,
        })
        .to_string();
        ErrorReply {
            status: self.code.status(),
            headers: vec![
                ("content-type", "application/json".to_string()),
                ("cache-control", "no-store".to_string()),
                ("www-authenticate", self.www_authenticate(realm)),
            ]
            .into_iter()
            .chain(self.nonce.clone().map(|nonce| ("dpop-nonce", nonce)))
            .collect(),
            body,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for AuthError {}

/// A complete local reply: status, headers and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// HTTP status code.
    pub status: u32,
    /// Response headers, lower-case names.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body `{"code": ..., "description": ...}`.
    pub body: String,
}

/// Keeps only the characters RFC 6750 allows inside its quoted attribute values
/// (%x20-21 / %x23-5B / %x5D-7E), so a realm from configuration cannot break the header.
fn quoted_string_safe(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(*c, ' '..='!' | '#'..='[' | ']'..='~'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(ErrorCode::AuthorizationHeaderMissing.status(), 401);
        assert_eq!(ErrorCode::InvalidHeader.status(), 401);
        assert_eq!(ErrorCode::InvalidToken.status(), 401);
        assert_eq!(ErrorCode::TokenExpired.status(), 401);
        assert_eq!(ErrorCode::InvalidClaims.status(), 401);
        assert_eq!(ErrorCode::InsufficientScope.status(), 403);
        assert_eq!(ErrorCode::JwksUnavailable.status(), 503);
        assert_eq!(ErrorCode::AccessDenied.status(), 403);
        assert_eq!(ErrorCode::InvalidDpopProof.status(), 401);
        assert_eq!(ErrorCode::UseDpopNonce.status(), 401);
    }

    fn challenge(bearer_too: bool) -> Option<Rc<DpopChallenge>> {
        Some(Rc::new(DpopChallenge {
            algs: "ES256 EdDSA".into(),
            bearer_too,
        }))
    }

    #[test]
    fn dpop_challenges_put_the_error_on_the_scheme_the_client_used() {
        let mut missing = AuthError::missing();
        missing.dpop = challenge(true);
        assert_eq!(
            missing.www_authenticate("api"),
            "Bearer realm=\"api\", DPoP algs=\"ES256 EdDSA\""
        );
        let mut bearer = AuthError::new(ErrorCode::InvalidToken, "Bad token");
        bearer.dpop = challenge(true);
        assert_eq!(
            bearer.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Bad token\", DPoP algs=\"ES256 EdDSA\""
        );
        let mut via_dpop = bearer.clone();
        via_dpop.via_dpop = true;
        assert_eq!(
            via_dpop.www_authenticate("api"),
            "Bearer realm=\"api\", DPoP error=\"invalid_token\", error_description=\"Bad token\", algs=\"ES256 EdDSA\""
        );
        let mut proof = AuthError::new(ErrorCode::InvalidDpopProof, "Bad proof");
        proof.dpop = challenge(false);
        assert_eq!(
            proof.www_authenticate("api"),
            "DPoP error=\"invalid_dpop_proof\", error_description=\"Bad proof\", algs=\"ES256 EdDSA\""
        );
        let mut required = AuthError::new(ErrorCode::InvalidToken, "Needs DPoP");
        required.dpop = challenge(false);
        assert_eq!(
            required.www_authenticate("api"),
            "DPoP error=\"invalid_token\", error_description=\"Needs DPoP\", algs=\"ES256 EdDSA\""
        );
        let mut nonce = AuthError::new(ErrorCode::UseDpopNonce, "Use the nonce");
        nonce.dpop = challenge(true);
        nonce.nonce = Some("n0nce".into());
        let reply = nonce.reply("api");
        assert_eq!(reply.status, 401);
        assert!(reply.headers.contains(&("dpop-nonce", "n0nce".to_string())));
        assert!(reply.headers.contains(&(
            "www-authenticate",
            "Bearer realm=\"api\", DPoP error=\"use_dpop_nonce\", error_description=\"Use the nonce\", algs=\"ES256 EdDSA\"".to_string()
        )));
    }

    #[test]
    fn missing_credentials_carry_no_error_attribute() {
        let header = AuthError::missing().www_authenticate("api");
        assert_eq!(header, "Bearer realm=\"api\"");
    }

    #[test]
    fn foreign_scheme_carries_no_error_attribute() {
        assert_eq!(
            AuthError::foreign_scheme().www_authenticate("api"),
            "Bearer realm=\"api\""
        );
    }

    #[test]
    fn failed_token_names_invalid_token() {
        let err = AuthError::new(ErrorCode::TokenExpired, "Token has expired");
        assert_eq!(
            err.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"Token has expired\""
        );
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let mut err = AuthError::new(ErrorCode::InsufficientScope, "Permission denied");
        err.scope = Some("read:admin".into());
        assert_eq!(
            err.www_authenticate("api"),
            "Bearer realm=\"api\", error=\"insufficient_scope\", error_description=\"Permission denied\", scope=\"read:admin\""
        );
    }

    #[test]
    fn reply_is_json_with_code_and_description() {
        let reply = AuthError::new(ErrorCode::InvalidToken, "Bad token").reply("api");
        assert_eq!(reply.status, 401);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["code"], "invalid_token");
        assert_eq!(body["description"], "Bad token");
        assert!(reply
            .headers
            .contains(&("content-type", "application/json".to_string())));
    }

    #[test]
    fn realm_cannot_inject_quotes() {
        let header = AuthError::missing().www_authenticate("a\"b\\c\r\n");
        assert_eq!(header, "Bearer realm=\"abc\"");
    }
}
