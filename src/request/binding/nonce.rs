//! Stateless DPoP server nonces (RFC 9449 section 9).
//!
//! A nonce is an HMAC-SHA256, under the configured secret, of the provider's name and the index
//! of the current time window. Nothing is stored: every proxy of a fleet that shares the secret
//! (and roughly the time) issues and accepts the same nonces, and a proof can be at most two
//! windows old, whatever its `iat` says. The nonce of the window before the current one is still
//! accepted, so a client is not refused for a nonce that turned over in flight.

use crate::config::binding::NonceSettings;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the HMAC kept in a nonce (128 bits, 22 base64url characters).
const NONCE_BYTES: usize = 16;

fn for_window(settings: &NonceSettings, provider: &str, window: u64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&settings.secret) else {
        return String::new();
    };
    mac.update(b"jwt-authn-wasm dpop nonce\0");
    mac.update(provider.as_bytes());
    mac.update(b"\0");
    mac.update(&window.to_be_bytes());
    let tag = mac.finalize().into_bytes();
    URL_SAFE_NO_PAD.encode(tag.get(..NONCE_BYTES).unwrap_or_default())
}

fn window(settings: &NonceSettings, now: u64) -> u64 {
    now / settings.window_seconds.max(1)
}

/// The nonce a client must use now, for `provider`'s proofs.
pub fn current(settings: &NonceSettings, provider: &str, now: u64) -> String {
    for_window(settings, provider, window(settings, now))
}

/// Whether `nonce` is the current or the previous window's nonce.
pub fn accepts(settings: &NonceSettings, provider: &str, nonce: &str, now: u64) -> bool {
    let current = window(settings, now);
    [Some(current), current.checked_sub(1)]
        .into_iter()
        .flatten()
        .any(|w| {
            let expected = for_window(settings, provider, w);
            !expected.is_empty() && expected.as_bytes() == nonce.as_bytes()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(secret: &str) -> NonceSettings {
        NonceSettings {
            secret: secret.as_bytes().to_vec(),
            window_seconds: 60,
        }
    }

    #[test]
    fn a_nonce_lives_for_its_window_and_the_next_then_expires() {
        let s = settings("0123456789abcdef0123456789abcdef");
        let issued = current(&s, "idp", 1_000_020);
        assert_eq!(issued.len(), 22);
        assert!(accepts(&s, "idp", &issued, 1_000_020));
        assert!(accepts(&s, "idp", &issued, 1_000_020 + 60));
        assert!(!accepts(&s, "idp", &issued, 1_000_020 + 120));
        assert!(!accepts(&s, "other", &issued, 1_000_020));
        assert!(!accepts(
            &settings("another secret of 32 bytes......"),
            "idp",
            &issued,
            1_000_020
        ));
        assert!(!accepts(&s, "idp", "", 1_000_020));
    }
}
