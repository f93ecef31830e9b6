//! The request path as route rules see it: one canonical form per resource.
//!
//! Rules must not be dodged by spelling a path differently, so matching uses the path without
//! query or fragment, with percent-encoded unreserved characters decoded (RFC 3986 section 2.3),
//! other escapes upper-cased, duplicate slashes merged and dot segments removed (section 5.2.4).
//! `%2F` stays encoded: it is data, not a separator (Envoy's `path_with_escaped_slashes_action`
//! decides what happens to it before this filter runs).

/// The canonical form of a request target for rule matching.
pub fn normalize(target: &str) -> String {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    let path = target.get(..end).unwrap_or(target);
    let decoded = decode_unreserved(path);
    let merged = merge_slashes(&decoded);
    let mut out = remove_dot_segments(&merged);
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

fn upper_hex(nibble: u8) -> char {
    char::from_digit(u32::from(nibble), 16).map_or('0', |c| c.to_ascii_uppercase())
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Decodes `%XX` of unreserved characters; upper-cases the hex of every other escape.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        if byte == b'%' {
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) {
                let value = hi * 16 + lo;
                if is_unreserved(value) {
                    out.push(char::from(value));
                } else {
                    out.push('%');
                    out.push(upper_hex(hi));
                    out.push(upper_hex(lo));
                }
                i += 3;
                continue;
            }
        }
        // Non-ASCII bytes cannot occur in a valid HTTP/1 or HTTP/2 path; keep what is there.
        let ch = path
            .get(i..)
            .and_then(|rest| rest.chars().next())
            .unwrap_or('\u{fffd}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

fn merge_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for ch in path.chars() {
        if ch == '/' && out.ends_with('/') {
            continue;
        }
        out.push(ch);
    }
    out
}

/// RFC 3986 section 5.2.4, on a path whose slashes are already merged.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let trailing_slash = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_fragment_are_dropped() {
        assert_eq!(normalize("/admin?x=1"), "/admin");
        assert_eq!(normalize("/admin#top"), "/admin");
        assert_eq!(normalize("/admin?a=/../b"), "/admin");
    }

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(normalize("/%61dmin"), "/admin");
        assert_eq!(normalize("/%41dmin"), "/Admin");
        assert_eq!(normalize("/a%2e%2E/x"), "/a../x");
        assert_eq!(normalize("/a%7e"), "/a~");
    }

    #[test]
    fn reserved_escapes_stay_encoded_in_upper_case() {
        assert_eq!(normalize("/admin%2fx"), "/admin%2Fx");
        assert_eq!(normalize("/a%20b"), "/a%20B".replace('B', "b"));
        assert_eq!(normalize("/bad%zz"), "/bad%zz");
        assert_eq!(normalize("/trailing%"), "/trailing%");
    }

    #[test]
    fn slashes_merge_and_dot_segments_go() {
        assert_eq!(normalize("//admin"), "/admin");
        assert_eq!(normalize("/user/../admin"), "/admin");
        assert_eq!(normalize("/user/%2e%2e/admin"), "/admin");
        assert_eq!(normalize("/./admin/./x"), "/admin/x");
        assert_eq!(normalize("/../../admin"), "/admin");
        assert_eq!(normalize("/admin/"), "/admin/");
        assert_eq!(normalize("/admin/x/.."), "/admin/");
        assert_eq!(normalize(""), "/");
        assert_eq!(normalize("*"), "/*");
        assert_eq!(normalize("/"), "/");
    }
}
