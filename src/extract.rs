//! Finding the bearer token in a request.
//!
//! Header values arrive as raw bytes: a value that is not ASCII is refused as `invalid_header`
//! rather than decoded, so no byte sequence a client sends can trap the VM.

use crate::error::{AuthError, ErrorCode};

/// Takes the token out of an `Authorization` value (`None` when the header is absent).
///
/// The scheme is compared case-insensitively (RFC 7235 section 2.1); exactly one token must
/// follow it, separated by spaces.
pub fn bearer_token(authorization: Option<&[u8]>) -> Result<&str, AuthError> {
    let raw = authorization.ok_or_else(AuthError::missing)?;
    let value = std::str::from_utf8(raw)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .ok_or(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header contains characters that are not allowed",
        ))?;
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.is_empty() {
        return Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header is empty",
        ));
    }
    let (scheme, rest) = match value.find([' ', '\t']) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::foreign_scheme());
    }
    let token = rest.trim_matches(|c| c == ' ' || c == '\t');
    if token.is_empty() {
        return Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header has no token after Bearer",
        ));
    }
    if token.contains([' ', '\t', ',']) {
        return Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header must carry exactly one token",
        ));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: &[u8]) -> ErrorCode {
        bearer_token(Some(value)).unwrap_err().code
    }

    #[test]
    fn takes_the_token_after_bearer() {
        assert_eq!(
            bearer_token(Some(b"Bearer abc.def.ghi")).unwrap(),
            "abc.def.ghi"
        );
        assert_eq!(bearer_token(Some(b"bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(Some(b"BEARER   abc  ")).unwrap(), "abc");
        assert_eq!(bearer_token(Some(b"\tBearer\tabc")).unwrap(), "abc");
    }

    #[test]
    fn missing_header() {
        let err = bearer_token(None).unwrap_err();
        assert_eq!(err.code, ErrorCode::AuthorizationHeaderMissing);
        assert!(!err.bearer_attempted);
    }

    #[test]
    fn foreign_scheme_is_invalid_header_without_bearer_error() {
        let err = bearer_token(Some(b"Basic dXNlcjpwYXNz")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidHeader);
        assert!(!err.bearer_attempted);
        assert_eq!(code(b"Bearerabc"), ErrorCode::InvalidHeader);
        assert_eq!(code(b"abc.def.ghi"), ErrorCode::InvalidHeader);
    }

    #[test]
    fn malformed_bearer_headers() {
        for value in [
            &b"Bearer"[..],
            b"Bearer   ",
            b"Bearer a b",
            b"Bearer a,Bearer b",
            b"",
            b"   ",
        ] {
            assert_eq!(code(value), ErrorCode::InvalidHeader, "{value:?}");
        }
        assert!(
            bearer_token(Some(b"Bearer a b"))
                .unwrap_err()
                .bearer_attempted
        );
    }

    #[test]
    fn non_ascii_bytes_are_invalid_header() {
        assert_eq!(code(b"Bearer \xff\xfe"), ErrorCode::InvalidHeader);
        assert_eq!(code("Bearer tökén".as_bytes()), ErrorCode::InvalidHeader);
        assert_eq!(code(b"Bearer a\x00b"), ErrorCode::InvalidHeader);
    }
}
