//! The HTTP URI a DPoP proof names (`htu`), compared after RFC 3986's syntax- and scheme-based
//! normalization (sections 6.2.2 and 6.2.3), ignoring query and fragment (RFC 9449 section 4.3).
//!
//! Both sides go through [`normalize`]: the scheme and host are lower-cased, a default port is
//! dropped, an empty path becomes `/`, percent-encodings of unreserved characters are decoded and
//! the others get upper-case hex. Dot segments are left as they are: Envoy's own path
//! normalization (when on) has already removed them from `:path`.

pub use crate::config::binding::normalized_origin as origin;

/// The request's URI for comparison: `origin` and the normalized path of `target` (`:path`).
pub fn of_request(origin: &str, target: &str) -> Option<String> {
    Some(format!("{origin}{}", path(target)?))
}

/// A proof's `htu`, normalized; `None` for anything that is not an absolute `http(s)` URI with
/// a host (and no user information).
pub fn normalize(htu: &str) -> Option<String> {
    let (scheme, rest) = htu.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if authority.is_empty()
        || authority.contains('@')
        || !authority.bytes().all(|b| b.is_ascii_graphic())
    {
        return None;
    }
    of_request(&origin(scheme, authority), target)
}

/// The path of a request target without query and fragment, normalized; `/` when empty.
fn path(target: &str) -> Option<String> {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    let raw = target.get(..end)?;
    if raw.is_empty() {
        return Some("/".into());
    }
    if !raw.starts_with('/') || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(hex, 16).ok()?;
            if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(value));
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            out.push(char::from(byte));
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_normalize_alike() {
        let want = Some("https://api.example.test/a/b%2F~".to_string());
        for htu in [
            "https://api.example.test/a/b%2F~",
            "HTTPS://API.Example.TEST:443/a/b%2f%7E",
            "https://api.example.test/a/b%2F~?query=1#frag",
        ] {
            assert_eq!(normalize(htu), want, "{htu}");
        }
        assert_eq!(normalize("http://h:80").as_deref(), Some("http://h/"));
        assert_eq!(
            normalize("http://h:8080/x").as_deref(),
            Some("http://h:8080/x")
        );
        assert_eq!(
            of_request(&origin("https", "H:443"), "/x?y").as_deref(),
            Some("https://h/x")
        );
    }

    #[test]
    fn what_is_not_an_http_uri_does_not_normalize() {
        for htu in [
            "/relative",
            "ftp://h/",
            "https://",
            "https://user@h/",
            "https://h/%zz",
            "https://h/a b",
            "https://h/%4",
        ] {
            assert_eq!(normalize(htu), None, "{htu}");
        }
    }
}
