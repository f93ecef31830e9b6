//! Certificate-bound tokens (RFC 8705 section 3): the token's `cnf["x5t#S256"]` must be the
//! base64url SHA-256 of the DER client certificate the request came with.
//!
//! Envoy gives the digest of the downstream connection's peer certificate as 64 lower-case hex
//! characters (`connection.sha256_peer_certificate_digest`). Behind an edge that terminates
//! TLS, the operator may name a header in Envoy's `x-forwarded-client-cert` format instead: its
//! last element (the one the nearest hop, the trusted edge, appended) gives `Hash=<hex>`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// The base64url form of a SHA-256 given as 64 hex characters; `None` when it is not that.
pub fn thumbprint_of_hex(hex: &[u8]) -> Option<String> {
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(URL_SAFE_NO_PAD.encode(digest))
}

/// The `Hash` of the last element of an `x-forwarded-client-cert` value, as hex bytes.
///
/// Elements are separated by commas and pairs by semicolons, outside double quotes (a
/// `Subject="CN=a,O=b"` holds both); keys compare case-insensitively.
pub fn forwarded_hash(value: &[u8]) -> Option<Vec<u8>> {
    let last = split_unquoted(value, b',').into_iter().next_back()?;
    split_unquoted(last, b';').into_iter().find_map(|pair| {
        let at = pair.iter().position(|&b| b == b'=')?;
        let (key, hash) = pair.split_at(at);
        let key = key.trim_ascii();
        key.eq_ignore_ascii_case(b"hash")
            .then(|| hash.get(1..).unwrap_or_default().trim_ascii().to_vec())
    })
}

/// `value` split at each `separator` outside double quotes (a backslash escapes inside them).
fn split_unquoted(value: &[u8], separator: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, &byte) in value.iter().enumerate() {
        match (quoted, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (_, _, b'"') => quoted = !quoted,
            (false, _, b) if b == separator => {
                parts.push(value.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(value.get(start..).unwrap_or_default());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a2e8a8c9e2bd4b1ad9b7f9fc8b8e76b3c30e2c31d8de3e6a5ee1e4f7c1f84d20";

    #[test]
    fn a_hex_digest_becomes_the_x5t_s256_form() {
        let thumbprint = thumbprint_of_hex(HEX.as_bytes()).unwrap();
        assert_eq!(thumbprint.len(), 43);
        assert_eq!(URL_SAFE_NO_PAD.decode(&thumbprint).unwrap()[0], 0xa2);
        assert_eq!(thumbprint_of_hex(b"abc"), None);
        assert_eq!(thumbprint_of_hex(&[b'z'; 64]), None);
    }

    #[test]
    fn the_last_element_of_a_forwarded_client_cert_header_counts() {
        let value = format!(
            "By=spiffe://a;Hash=forged;Subject=\"CN=x,O=y\",By=spiffe://edge;Subject=\"CN=c,O=d;e\";hash={HEX}"
        );
        assert_eq!(forwarded_hash(value.as_bytes()).unwrap(), HEX.as_bytes());
        assert_eq!(forwarded_hash(b"By=x;URI=y"), None);
    }
}
