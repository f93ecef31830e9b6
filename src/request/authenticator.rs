//! One token's path from text to a verified claim set: cheap checks first, the signature last.
//!
//! [`prepare`] does everything that needs no key (structure, provider, `alg` allowlist, claims),
//! so garbage and expired tokens cost microseconds. [`Prepared::verify`] then finds the key and
//! checks the signature. The split also lets a request wait for a provider's first key set
//! holding only a [`Prepared`] token.

use crate::config::{Config, Provider};
use crate::error::{AuthError, ErrorCode};
use crate::keys::jwks::{KeyMatch, KeySet};
use crate::request::claims::{self, ClaimRules};
use crate::request::token::UntrustedToken;
use crate::verify::Algorithm;
use serde_json::{Map, Value};

/// A token whose structure and claims passed; its signature is not checked yet.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// Index of the provider (in configuration order) whose keys must verify it.
    pub provider: usize,
    /// The token's algorithm, already on the provider's allowlist.
    pub alg: Algorithm,
    /// The token's `kid`, if any.
    pub kid: Option<String>,
    /// The payload; trusted only after [`Prepared::verify`].
    pub claims: Map<String, Value>,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
}

/// A token whose signature and claims hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// Index of the provider that issued it.
    pub provider: usize,
    /// The verified payload.
    pub claims: Map<String, Value>,
    /// The payload exactly as the token carried it (base64url), for `forward_payload_header`.
    pub payload_b64: String,
}

/// Picks the provider for an untrusted `iss` among `candidates` (`None`: every provider).
///
/// A configured provider that this route does not accept is `invalid_claims`. An issuer no
/// provider has (or no `iss`) goes to the provider configured without an issuer, when the route
/// accepts it; otherwise it is judged against the only candidate if there is one (so it reads
/// as `invalid_claims` too); with several candidates there is no key set to check it with:
/// `invalid_token`.
fn select_provider(
    config: &Config,
    candidates: Option<&[usize]>,
    issuer: Option<&str>,
) -> Result<usize, AuthError> {
    let allowed = |index: usize| candidates.is_none_or(|c| c.contains(&index));
    let known = issuer
        .and_then(|iss| config.provider_by_issuer(iss))
        .map(|(i, _)| i);
    match known {
        Some(index) if allowed(index) => return Ok(index),
        Some(_) => {
            return Err(AuthError::new(
                ErrorCode::InvalidClaims,
                "Token issuer is not accepted",
            ))
        }
        None => {}
    }
    if let Some(index) = config.provider_without_issuer().filter(|&i| allowed(i)) {
        return Ok(index);
    }
    let only = match candidates {
        Some([only]) => Some(*only),
        Some(_) => None,
        None if config.providers.len() == 1 => Some(0),
        None => None,
    };
    only.ok_or(AuthError::new(
        ErrorCode::InvalidToken,
        "Token issuer is not known",
    ))
}

/// Checks everything about `token` that needs no key, at `now` (seconds since the epoch), for a
/// route that accepts tokens of `candidates` (`None`: any provider).
pub fn prepare(
    config: &Config,
    candidates: Option<&[usize]>,
    token: &str,
    now: u64,
) -> Result<Prepared, AuthError> {
    let parsed =
        UntrustedToken::parse_with(token, &config.limits, crate::config::token::TypPolicy::Jwt)?;
    let index = select_provider(config, candidates, claims::issuer(&parsed.claims))?;
    let provider = config.providers.get(index).ok_or(AuthError::new(
        ErrorCode::InvalidToken,
        "Token issuer is not known",
    ))?;
    let alg = Algorithm::from_name(&parsed.header.alg)
        .filter(|alg| provider.algorithms.contains(alg))
        .ok_or(AuthError::new(
            ErrorCode::InvalidToken,
            "Token algorithm is not allowed",
        ))?;
    // A provider that takes only RFC 9068 access tokens is known only now.
    provider.typ_policy.check(parsed.header.typ.as_deref())?;
    claims::check(&parsed.claims, &rules(provider), now)?;
    Ok(Prepared {
        provider: index,
        alg,
        kid: parsed.header.kid,
        claims: parsed.claims,
        signing_input: parsed.signing_input.to_vec(),
        signature: parsed.signature,
    })
}

/// The claim rules a provider imposes.
pub fn rules(provider: &Provider) -> ClaimRules<'_> {
    ClaimRules {
        issuer: provider.issuer.as_deref(),
        audiences: &provider.audiences,
        clock_skew_seconds: provider.clock_skew_seconds,
        require_expiration: provider.require_expiration,
        max_lifetime_seconds: provider.max_lifetime_seconds,
        subjects: provider.subjects.as_ref(),
    }
}

impl Prepared {
    /// The payload exactly as the token carries it (base64url), for `forward_payload_header`.
    pub fn payload_b64(&self) -> &str {
        let text = std::str::from_utf8(&self.signing_input).unwrap_or_default();
        text.split_once('.').map_or("", |(_, payload)| payload)
    }

    /// Checks the signature with the provider's key set.
    pub fn verify(self, keys: &KeySet) -> Result<Verified, AuthError> {
        match keys.verify_with(
            self.kid.as_deref(),
            self.alg,
            &self.signing_input,
            &self.signature,
        ) {
            KeyMatch::Verified => Ok(Verified {
                provider: self.provider,
                payload_b64: self.payload_b64().to_string(),
                claims: self.claims,
            }),
            KeyMatch::NoCandidateKey => Err(AuthError::new(
                ErrorCode::InvalidToken,
                "No key of the issuer matches the token",
            )),
            KeyMatch::BadSignature => Err(AuthError::new(
                ErrorCode::InvalidToken,
                "Token signature is invalid",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{minimal, parse};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    /// Two providers: `named` with the issuer `https://idp.example.test/`, `any` without one.
    fn config() -> Config {
        let mut value = minimal();
        let mut any = value["providers"][0].clone();
        any["name"] = json!("any");
        any.as_object_mut().unwrap().remove("issuer");
        value["providers"][0]["name"] = json!("named");
        value["providers"].as_array_mut().unwrap().push(any);
        parse(value).unwrap()
    }

    /// An RS256 token with `claims` and a signature that is never checked here.
    fn token(claims: Value) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        format!("{header}.{payload}.AAAA")
    }

    fn provider_of(candidates: Option<&[usize]>, claims: Value) -> Result<usize, AuthError> {
        prepare(&config(), candidates, &token(claims), NOW).map(|p| p.provider)
    }

    #[test]
    fn a_known_issuer_picks_its_provider_and_any_other_goes_to_the_issuerless_one() {
        let aud = "https://api.example.test";
        let exp = NOW + 60;
        let named = json!({"iss": "https://idp.example.test/", "aud": aud, "exp": exp});
        let other = json!({"iss": "https://other.example.test/", "aud": aud, "exp": exp});
        let none = json!({"aud": aud, "exp": exp});
        assert_eq!(provider_of(None, named.clone()).unwrap(), 0);
        assert_eq!(provider_of(None, other.clone()).unwrap(), 1);
        assert_eq!(provider_of(None, none).unwrap(), 1);
        assert_eq!(provider_of(Some(&[1]), other.clone()).unwrap(), 1);
        // A route that takes only the named provider judges a foreign issuer against it.
        let err = provider_of(Some(&[0]), other).unwrap_err();
        assert_eq!(
            (err.code, err.description),
            (ErrorCode::InvalidClaims, "Token issuer is not accepted")
        );
        // A configured issuer is never taken by the issuerless provider.
        let err = provider_of(Some(&[1]), named).unwrap_err();
        assert_eq!(
            (err.code, err.description),
            (ErrorCode::InvalidClaims, "Token issuer is not accepted")
        );
    }
}
