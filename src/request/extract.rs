//! Finding the bearer token in a request.
//!
//! Header values arrive as raw bytes: a value that is not ASCII is refused as `invalid_header`
//! rather than decoded, so no byte sequence a client sends can trap the VM. A value longer than
//! [`Limits::max_authorization_bytes`] is refused before it is even scanned: `invalid_token`
//! when it starts with `Bearer ` (the token is too large), `invalid_header` otherwise.

use crate::config::token::Limits;
use crate::error::{AuthError, ErrorCode};

/// Takes the token out of an `Authorization` value (`None` when the header is absent), with the
/// default [`Limits`].
pub fn bearer_token(authorization: Option<&[u8]>) -> Result<&str, AuthError> {
    bearer_token_with(authorization, &Limits::default())
}

/// Takes the token out of an `Authorization` value (`None` when the header is absent).
///
/// The scheme is compared case-insensitively (RFC 7235 section 2.1); exactly one token must
/// follow it, separated by spaces or tabs. Only visible ASCII, spaces and tabs are accepted.
pub fn bearer_token_with<'a>(
    authorization: Option<&'a [u8]>,
    limits: &Limits,
) -> Result<&'a str, AuthError> {
    let raw = authorization.ok_or_else(AuthError::missing)?;
    if raw.len() > limits.max_authorization_bytes {
        // `Bearer ` and more: a well-formed header whose token is too large. Only the scheme
        // is looked at; the rest is never scanned.
        if common_form_token(raw).is_some() {
            return Err(AuthError::new(
                ErrorCode::InvalidToken,
                "Token is too large",
            ));
        }
        return Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header is too large",
        ));
    }
    if let Some(token) = common_form(raw) {
        return Ok(token);
    }
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
    let (scheme, rest) = match value.bytes().position(|b| b == b' ' || b == b'\t') {
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
    if has_separator(token) {
        return Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header must carry exactly one token",
        ));
    }
    Ok(token)
}

/// Whether an `Authorization` value is in the `DPoP` scheme (RFC 9449 section 7.1): `DPoP`
/// in any case, then a space or a tab.
pub fn is_dpop_scheme(raw: &[u8]) -> bool {
    let start = raw
        .iter()
        .position(|b| *b != b' ' && *b != b'\t')
        .unwrap_or(raw.len());
    raw.get(start..start + 5).is_some_and(|head| {
        head.get(..4)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"dpop"))
            && matches!(head.get(4), Some(b' ' | b'\t'))
    })
}

/// Takes the token out of an `Authorization: DPoP <token>` value: the rules of
/// [`bearer_token_with`] for the `DPoP` scheme. `None` when the value is in another scheme.
pub fn dpop_token_with<'a>(raw: &'a [u8], limits: &Limits) -> Option<Result<&'a str, AuthError>> {
    if !is_dpop_scheme(raw) {
        return None;
    }
    if raw.len() > limits.max_authorization_bytes {
        return Some(Err(AuthError::new(
            ErrorCode::InvalidToken,
            "Token is too large",
        )));
    }
    let value = std::str::from_utf8(raw)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)));
    let Some(value) = value else {
        return Some(Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header contains characters that are not allowed",
        )));
    };
    let token = value
        .trim_matches([' ', '\t'])
        .get(4..)
        .unwrap_or_default()
        .trim_matches([' ', '\t']);
    Some(if token.is_empty() {
        Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header has no token after DPoP",
        ))
    } else if has_separator(token) {
        Err(AuthError::new(
            ErrorCode::InvalidHeader,
            "Authorization header must carry exactly one token",
        ))
    } else {
        Ok(token)
    })
}

/// The token of a value in the common form `Bearer <token>` (any case, one space, nothing after
/// the token) whose token bytes are all visible ASCII other than a comma: then the complete parse
/// below would return the same token. `None` sends the value through that parse, which also
/// names what is wrong. Every request with a token goes through here first.
fn common_form(raw: &[u8]) -> Option<&str> {
    let token = common_form_token(raw)?;
    if !is_token_text(token) {
        return None;
    }
    std::str::from_utf8(token).ok()
}

/// The bytes after `Bearer ` (any case) when there are some: the token of a value in the common
/// form, not yet checked as token text.
pub fn common_form_token(raw: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = raw.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
}

/// Whether every byte of `bytes` is visible ASCII (0x21 to 0x7e) other than a comma, checked
/// eight bytes at a time (the classic zero-byte and less-than tests on a 64-bit word, which never
/// miss a byte; a false alarm would only cost the complete parse).
fn is_token_text(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let (words, rest) = bytes.as_chunks::<8>();
    let clean = |word: &[u8; 8]| {
        let w = u64::from_le_bytes(*word);
        let below_0x21 = w.wrapping_sub(ONES * 0x21) & !w & HIGH != 0;
        w & HIGH == 0
            && !below_0x21
            && !has_zero_byte(w ^ (ONES * 0x7f))
            && !has_zero_byte(w ^ (ONES * u64::from(b',')))
    };
    words.iter().all(clean) && rest.iter().all(|&b| (0x21..0x7f).contains(&b) && b != b',')
}

/// Whether `token` holds a space, a tab or a comma (a second token or a list).
///
/// A byte scan: `str::contains` with a `char` pattern decodes every character, and this runs on
/// every request over a whole token (it was over a third of a cache hit's time in V8).
pub(crate) fn has_separator(token: &str) -> bool {
    token.bytes().any(|b| matches!(b, b' ' | b'\t' | b','))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: &[u8]) -> ErrorCode {
        bearer_token(Some(value)).unwrap_err().code
    }

    /// The complete parse alone, without the common-form shortcut.
    fn complete_parse(raw: &[u8]) -> Result<String, ErrorCode> {
        let value = std::str::from_utf8(raw)
            .ok()
            .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
            .ok_or(ErrorCode::InvalidHeader)?
            .trim_matches([' ', '\t']);
        let (scheme, rest) = value.split_at(value.find([' ', '\t']).unwrap_or(value.len()));
        let token = rest.trim_matches([' ', '\t']);
        if !scheme.eq_ignore_ascii_case("bearer")
            || token.is_empty()
            || token.contains([' ', '\t', ','])
        {
            return Err(ErrorCode::InvalidHeader);
        }
        Ok(token.to_string())
    }

    /// The shortcut takes a token only where the complete parse takes the same one, and the
    /// word-at-a-time scan agrees with a byte-by-byte one: every byte value at every position of
    /// every word and of the tail, and random values.
    #[test]
    fn common_form_agrees_with_the_complete_parse() {
        let byte_ok = |b: u8| (0x21..0x7f).contains(&b) && b != b',';
        for len in 1..=19 {
            for at in 0..len {
                for b in 0..=255_u8 {
                    let mut value = b"Bearer ".to_vec();
                    value.extend(std::iter::repeat_n(b'a', len));
                    value[7 + at] = b;
                    assert_eq!(is_token_text(&value[7..]), byte_ok(b), "{value:?}");
                    if let Some(token) = common_form(&value) {
                        assert_eq!(complete_parse(&value).as_deref(), Ok(token), "{value:?}");
                    }
                    let expected = complete_parse(&value);
                    let got = bearer_token(Some(&value))
                        .map(str::to_string)
                        .map_err(|e| e.code);
                    assert_eq!(got, expected, "{value:?}");
                }
            }
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"Bb earRtT\t,.-_=\x7f\x00\x80\xffAz09";
        for _ in 0..200_000 {
            let len = usize::try_from(next() % 24).unwrap();
            let mut value = if next() % 2 == 0 {
                b"Bearer ".to_vec()
            } else {
                Vec::new()
            };
            for _ in 0..len {
                let pick = usize::try_from(next() % alphabet.len() as u64).unwrap();
                value.push(alphabet[pick]);
            }
            let expected = complete_parse(&value);
            let got = bearer_token(Some(&value))
                .map(str::to_string)
                .map_err(|e| e.code);
            assert_eq!(got, expected, "{value:?}");
        }
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

    fn description(value: &[u8]) -> &'static str {
        bearer_token(Some(value)).unwrap_err().description
    }

    /// Everything a client can put in the header, each refused with `invalid_header` (or, for a
    /// foreign scheme, without RFC 6750's error) and never a panic.
    #[test]
    fn hostile_header_values() {
        const NOT_ALLOWED: &str = "Authorization header contains characters that are not allowed";
        let mut every_byte = b"Bearer ".to_vec();
        every_byte.extend(0_u8..=255);
        for value in [
            &b"\xff"[..],
            b"\x80",
            b"Bearer \xc3\x28",         // invalid UTF-8
            b"Bearer \xed\xa0\x80",     // an encoded surrogate
            b"Bearer \xf4\x90\x80\x80", // beyond U+10FFFF
            b"Bearer \xc0\xae",         // overlong
            b"Bearer a\rb",
            b"Bearer a\nb",
            b"Bearer a\x7fb",
            b"Bearer a\x1bb",
            b"\x00",
            "Bearer\u{a0}abc".as_bytes(), // a non-breaking space is no separator
            "Bearer abc\u{2028}".as_bytes(),
            &every_byte,
        ] {
            assert_eq!(description(value), NOT_ALLOWED, "{value:?}");
        }
        for value in [
            &b"Bearer a,b"[..],
            b"Bearer ,",
            b"Bearer a\tb",
            b"Bearer a  b c",
        ] {
            assert_eq!(
                description(value),
                "Authorization header must carry exactly one token",
                "{value:?}"
            );
        }
        // Schemes that merely start like Bearer are foreign.
        for value in [
            &b"Bearerx abc"[..],
            b"Bear abc",
            b"Bearer-abc",
            b"Token abc",
            b"\tabc",
        ] {
            let err = bearer_token(Some(value)).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidHeader, "{value:?}");
            assert!(!err.bearer_attempted, "{value:?}");
        }
    }

    #[test]
    fn header_size_is_limited_before_scanning() {
        let limits = Limits::default();
        let prefix = b"Bearer ".len();
        let at_limit = format!(
            "Bearer {}",
            "a".repeat(limits.max_authorization_bytes - prefix)
        );
        assert!(bearer_token(Some(at_limit.as_bytes())).is_ok());
        let over = format!(
            "Bearer {}",
            "a".repeat(limits.max_authorization_bytes - prefix + 1)
        );
        // A well-formed header whose token is too large: the token is refused, not the header.
        let refused = bearer_token(Some(over.as_bytes())).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidToken);
        assert_eq!(refused.description, "Token is too large");
        let other_scheme = format!("Basic {}", "a".repeat(limits.max_authorization_bytes));
        assert_eq!(
            description(other_scheme.as_bytes()),
            "Authorization header is too large"
        );
        // 64 KiB of bytes that are not even ASCII: the size wins, nothing is decoded.
        let huge = vec![0xff_u8; 64 * 1024];
        assert_eq!(description(&huge), "Authorization header is too large");
        assert_eq!(
            bearer_token(Some(&huge)).unwrap_err().code,
            ErrorCode::InvalidHeader
        );
        let tight = Limits {
            max_authorization_bytes: 10,
            ..Limits::default()
        };
        assert_eq!(
            bearer_token_with(Some(b"Bearer abc"), &tight).unwrap(),
            "abc"
        );
        assert_eq!(
            bearer_token_with(Some(b"Bearer abcd"), &tight)
                .unwrap_err()
                .description,
            "Token is too large"
        );
        assert_eq!(
            bearer_token_with(Some(b"Basic abcde"), &tight)
                .unwrap_err()
                .description,
            "Authorization header is too large"
        );
    }
}
