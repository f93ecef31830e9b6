//! Where a provider's tokens may come from, and taking a token out of a request.
//!
//! A token always may come from `Authorization: Bearer`. A provider may add other headers with a
//! prefix, query parameters and cookies (Envoy's `from_headers`, `from_params`, `from_cookies`);
//! unlike Envoy, listing them does not switch the `Authorization` header off.

use crate::config::token::Limits;
use crate::config::token::TokenSource;
use crate::error::{AuthError, ErrorCode};
use crate::request::extract;
use crate::request::view::RequestView;

/// A token and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundToken {
    text: TokenText,
    /// Its source.
    pub source: TokenSource,
}

/// A token's text, checked or still in its `Authorization` value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TokenText {
    /// Checked token text.
    Checked(String),
    /// An `Authorization` value shaped `Bearer <token>` whose token is not checked yet. A cache
    /// hit needs no check: a hit matches a verified token byte for byte, and a verified token is
    /// base64url and dots, which the check accepts as it is. So a hit skips a pass over the
    /// token and its copy; anything else is checked before it is parsed.
    Bearer(Vec<u8>),
}

impl FoundToken {
    /// The token's bytes, checked or not: enough to look it up in the verified-token cache.
    pub fn bytes(&self) -> &[u8] {
        match &self.text {
            TokenText::Checked(token) => token.as_bytes(),
            TokenText::Bearer(value) => extract::common_form_token(value).unwrap_or_default(),
        }
    }

    /// The checked token text and its source, or the error its malformed text gets.
    pub fn into_checked(self, limits: &Limits) -> Result<(String, TokenSource), AuthError> {
        let token = match self.text {
            TokenText::Checked(token) => token,
            TokenText::Bearer(value) => extract::bearer_token_with(Some(&value), limits)?.into(),
        };
        Ok((token, self.source))
    }
}

fn malformed(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidHeader, description)
}

/// Takes the token from the first source (in order) that is present in the request.
///
/// A present but malformed source is an error even if a later source holds a token: the client
/// tried, and guessing which credential it meant is not the filter's job.
pub fn find_token(
    sources: &[TokenSource],
    headers: &dyn RequestView,
    target: &str,
    limits: &Limits,
) -> Result<FoundToken, AuthError> {
    for source in sources {
        let token = match source {
            TokenSource::AuthorizationBearer => match headers.header("authorization") {
                None => continue,
                Some(value)
                    if value.len() <= limits.max_authorization_bytes
                        && extract::common_form_token(&value).is_some() =>
                {
                    return Ok(FoundToken {
                        text: TokenText::Bearer(value),
                        source: source.clone(),
                    });
                }
                // The DPoP scheme, for a route that accepts DPoP: the next source reads it.
                Some(value)
                    if extract::is_dpop_scheme(&value)
                        && sources.contains(&TokenSource::AuthorizationDpop) =>
                {
                    continue
                }
                Some(value) => extract::bearer_token_with(Some(&value), limits)?.to_string(),
            },
            TokenSource::AuthorizationDpop => {
                let Some(value) = headers.header("authorization") else {
                    continue;
                };
                match extract::dpop_token_with(&value, limits) {
                    None => continue,
                    Some(token) => token?.to_string(),
                }
            }
            TokenSource::Header { name, prefix } => match headers.header(name) {
                None => continue,
                Some(value) if value.len() > limits.max_authorization_bytes => {
                    return Err(malformed("Token header is too large"))
                }
                Some(value) => from_prefixed_header(&value, prefix)?,
            },
            TokenSource::Param(name) => match query_param(target, name) {
                None => continue,
                Some(value) => value,
            },
            TokenSource::Cookie(name) => {
                match headers.header("cookie").and_then(|c| cookie(&c, name)) {
                    None => continue,
                    Some(value) => value,
                }
            }
        };
        if token.is_empty() {
            return Err(malformed("The token is empty"));
        }
        return Ok(FoundToken {
            text: TokenText::Checked(token),
            source: source.clone(),
        });
    }
    Err(AuthError::missing())
}

fn from_prefixed_header(value: &[u8], prefix: &str) -> Result<String, AuthError> {
    let text = std::str::from_utf8(value)
        .ok()
        .filter(|v| v.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)))
        .ok_or(malformed(
            "Token header contains characters that are not allowed",
        ))?
        .trim_matches([' ', '\t']);
    let head = text
        .get(..prefix.len())
        .filter(|h| h.eq_ignore_ascii_case(prefix));
    let rest = match head {
        Some(_) => text.get(prefix.len()..).unwrap_or_default(),
        None => {
            return Err(malformed(
                "Token header does not start with the expected prefix",
            ))
        }
    };
    let token = rest.trim_matches([' ', '\t']);
    if extract::has_separator(token) {
        return Err(malformed("Token header must carry exactly one token"));
    }
    Ok(token.to_string())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(if byte == b'+' { b' ' } else { byte });
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query(target: &str) -> Option<&str> {
    let start = target.find('?')?;
    let rest = target.get(start + 1..)?;
    Some(rest.split('#').next().unwrap_or(rest))
}

/// The first value of query parameter `name`, percent-decoded.
pub fn query_param(target: &str, name: &str) -> Option<String> {
    query(target)?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key)? == name)
            .then(|| percent_decode(value))
            .flatten()
    })
}

/// `target` without any occurrence of query parameter `name` (so the token never reaches the
/// upstream or its access log).
pub fn without_query_param(target: &str, name: &str) -> String {
    let Some(start) = target.find('?') else {
        return target.to_string();
    };
    let (path, rest) = target.split_at(start);
    let rest = rest.get(1..).unwrap_or_default();
    let (query, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            !pair.is_empty() && percent_decode(key).as_deref() != Some(name)
        })
        .collect();
    if kept.is_empty() {
        format!("{path}{fragment}")
    } else {
        format!("{path}?{}{fragment}", kept.join("&"))
    }
}

/// The value of cookie `name` in a `Cookie` header (RFC 6265 section 4.2).
fn cookie(header: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(header).ok()?;
    text.split(';').find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name).then(|| value.trim_matches('"').to_string())
    })
}

/// A `Cookie` header without the cookie `name` (every pair of that name), the other pairs kept
/// as they were, joined by `; ` (RFC 6265 section 5.4). `None` when no other pair is left, so
/// the header goes.
pub fn without_cookie(header: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(header);
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split_once('=').map_or(*pair, |(key, _)| key) != name)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::view::RouteProperty;
    use std::collections::HashMap;

    struct Headers(HashMap<&'static str, &'static [u8]>);

    impl RequestView for Headers {
        fn header(&self, name: &str) -> Option<Vec<u8>> {
            self.0.get(name).map(|v| v.to_vec())
        }

        fn route(&self, _: RouteProperty) -> Option<Vec<u8>> {
            None
        }

        fn connection(&self, _: crate::request::view::ConnectionProperty) -> Option<Vec<u8>> {
            None
        }
    }

    fn headers(pairs: &[(&'static str, &'static [u8])]) -> Headers {
        Headers(pairs.iter().copied().collect())
    }

    fn all_sources() -> Vec<TokenSource> {
        vec![
            TokenSource::AuthorizationBearer,
            TokenSource::Header {
                name: "x-token".into(),
                prefix: "Token ".into(),
            },
            TokenSource::Param("access_token".into()),
            TokenSource::Cookie("session".into()),
        ]
    }

    #[test]
    fn first_present_source_wins() {
        let h = headers(&[
            ("authorization", b"Bearer a.b.c"),
            ("x-token", b"Token d.e.f"),
        ]);
        let found = find_token(&all_sources(), &h, "/", &Limits::default()).unwrap();
        assert_eq!(found.bytes(), b"a.b.c");
        assert_eq!(found.source, TokenSource::AuthorizationBearer);
        let h = headers(&[("x-token", b"token d.e.f")]);
        assert_eq!(
            find_token(&all_sources(), &h, "/", &Limits::default())
                .unwrap()
                .bytes(),
            b"d.e.f"
        );
    }

    #[test]
    fn params_and_cookies() {
        let h = headers(&[]);
        let found = find_token(
            &all_sources(),
            &h,
            "/x?a=1&access_token=t.o.k&b=2",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(found.bytes(), b"t.o.k");
        assert_eq!(found.source, TokenSource::Param("access_token".into()));
        let h = headers(&[("cookie", b"theme=dark; session=c.o.k; x=y")]);
        let found = find_token(&all_sources(), &h, "/", &Limits::default()).unwrap();
        assert_eq!(found.bytes(), b"c.o.k");
    }

    #[test]
    fn nothing_present_is_missing() {
        let err = find_token(
            &all_sources(),
            &headers(&[]),
            "/x?other=1",
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::AuthorizationHeaderMissing);
        // Only configured sources count.
        let h = headers(&[("x-token", b"Token d.e.f")]);
        let err = find_token(
            &[TokenSource::AuthorizationBearer],
            &h,
            "/?access_token=x",
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::AuthorizationHeaderMissing);
    }

    #[test]
    fn malformed_sources_are_invalid_header() {
        for value in [&b"Bearer d.e.f"[..], b"Token a b", b"Token \xff", b"Token "] {
            let h = Headers([("x-token", value)].into_iter().collect());
            let sources = [TokenSource::Header {
                name: "x-token".into(),
                prefix: "Token ".into(),
            }];
            assert_eq!(
                find_token(&sources, &h, "/", &Limits::default())
                    .unwrap_err()
                    .code,
                ErrorCode::InvalidHeader,
                "{value:?}"
            );
        }
    }

    #[test]
    fn a_bearer_token_is_checked_only_when_its_text_is_needed() {
        let limits = Limits::default();
        let bearer = [TokenSource::AuthorizationBearer];
        let cases: [(&[u8], Result<&str, ErrorCode>); 7] = [
            (b"Bearer a.b.c", Ok("a.b.c")),
            (b"Bearer  a.b.c", Ok("a.b.c")),
            (b"bEARER a.b.c", Ok("a.b.c")),
            (b"Bearer a b", Err(ErrorCode::InvalidHeader)),
            // Trailing space: the complete parse trims it (and the cache never matches it).
            (b"Bearer a.b.c ", Ok("a.b.c")),
            (b"Bearer a,b", Err(ErrorCode::InvalidHeader)),
            (b"Bearer \xff", Err(ErrorCode::InvalidHeader)),
        ];
        for (value, expected) in cases {
            let h = Headers([("authorization", value)].into_iter().collect());
            let found = find_token(&bearer, &h, "/", &limits).unwrap();
            // The cache sees the bytes after the scheme as they are ...
            assert_eq!(found.bytes(), &value[7..], "{value:?}");
            // ... and the text, once needed, is what the complete parse gives.
            let checked = found.into_checked(&limits).map(|(token, source)| {
                assert_eq!(source, TokenSource::AuthorizationBearer);
                token
            });
            let checked = checked.map_err(|e| e.code);
            assert_eq!(checked.as_deref().map_err(|e| *e), expected, "{value:?}");
            assert_eq!(
                crate::request::extract::bearer_token_with(Some(value), &limits)
                    .map_err(|e| e.code),
                expected,
                "{value:?}"
            );
        }
        // Values not in the common shape are checked at once, as before.
        for value in [&b"Bearer"[..], b"Bearer ", b"Basic abc", b" Bearer a.b.c"] {
            let h = Headers([("authorization", value)].into_iter().collect());
            let at_once = find_token(&bearer, &h, "/", &limits).map(|f| f.bytes().to_vec());
            let parsed = crate::request::extract::bearer_token_with(Some(value), &limits)
                .map(|t| t.as_bytes().to_vec());
            assert_eq!(
                at_once.map_err(|e| e.code),
                parsed.map_err(|e| e.code),
                "{value:?}"
            );
        }
        // Over the size limit, refused at once: a Bearer value's token is too large.
        let limits = Limits {
            max_authorization_bytes: 10,
            ..Limits::default()
        };
        let h = Headers(
            [("authorization", &b"Bearer a.b.cd"[..])]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            find_token(&bearer, &h, "/", &limits).unwrap_err().code,
            ErrorCode::InvalidToken
        );
    }

    #[test]
    fn the_token_cookie_is_cut_out_of_the_cookie_header() {
        assert_eq!(
            without_cookie(b"theme=dark; session=t.o.k; lang=en", "session").as_deref(),
            Some("theme=dark; lang=en")
        );
        // Every pair of that name; a name that only starts the same stays.
        assert_eq!(
            without_cookie(b"session=a;session=b; sessionid=c", "session").as_deref(),
            Some("sessionid=c")
        );
        assert_eq!(without_cookie(b"session=t.o.k", "session"), None);
        assert_eq!(without_cookie(b" ; session=t ;", "session"), None);
        assert_eq!(
            without_cookie(b"theme=dark", "session").as_deref(),
            Some("theme=dark")
        );
    }

    #[test]
    fn token_param_is_removed_from_the_target() {
        assert_eq!(
            without_query_param("/x?access_token=t&b=2", "access_token"),
            "/x?b=2"
        );
        assert_eq!(
            without_query_param("/x?a=1&access_token=t", "access_token"),
            "/x?a=1"
        );
        assert_eq!(
            without_query_param("/x?access_token=t", "access_token"),
            "/x"
        );
        assert_eq!(
            without_query_param("/x?access%5Ftoken=t&c", "access_token"),
            "/x?c"
        );
        assert_eq!(without_query_param("/x", "access_token"), "/x");
        assert_eq!(without_query_param("/x?a=1#f", "access_token"), "/x?a=1#f");
    }
}
