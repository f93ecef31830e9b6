//! Sender-constrained tokens: a token bound to a key (DPoP, RFC 9449) or to a client
//! certificate (RFC 8705) is accepted only from a request that proves it holds them.
//!
//! Runs after the token's signature and claims hold, on a fresh verification and on a cache hit
//! alike, and before the route's requirement. What the request presents is read once, when the
//! request arrives ([`Presented::read`]), so a request paused for keys is decided on the same
//! facts. A proof is recorded in the replay cache only once everything else about the request
//! holds, so a refused request never spends a cache entry.

pub mod certificate;
pub mod htu;
pub mod keys;
pub mod nonce;
pub mod proof;
pub mod replay;

use crate::config::binding::{BindingMode, BindingReads, ClientCertSource};
use crate::config::token::{Limits, TokenSource};
use crate::config::Provider;
use crate::error::{AuthError, ErrorCode};
use crate::request::view::{ConnectionProperty, RequestView};
use crate::verify::Verifier;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use proof::Proof;
pub use replay::Recorded;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// What the request's road needs from the host to check a binding.
pub trait BindingServices: crate::verify::VerificationTiming {
    /// The verifier for proof signatures (the VM's, with its backends).
    fn verifier(&self) -> &Verifier;
    /// Records DPoP proof `id` of provider `index`, acceptable until `expires_at` (seconds).
    fn record_proof(&mut self, index: usize, id: &[u8; 16], expires_at: u64, now: u64) -> Recorded;
    /// This worker's checked proof headers, when it keeps them (by default it does not).
    fn proof_keys(&mut self) -> Option<&mut keys::ProofKeys> {
        None
    }
}

/// What a request presents besides its token, read when it arrives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Presented {
    /// Every `DPoP` header value (a proof; more than one is refused).
    pub proofs: Vec<Vec<u8>>,
    /// `:method`.
    pub method: Vec<u8>,
    /// `:scheme`.
    pub scheme: Vec<u8>,
    /// `:authority`.
    pub authority: Vec<u8>,
    /// `:path`.
    pub target: Vec<u8>,
    /// `x-forwarded-proto`, when some provider trusts it.
    pub forwarded_proto: Option<Vec<u8>>,
    /// `x-forwarded-host`, when some provider trusts it.
    pub forwarded_host: Option<Vec<u8>>,
    /// The connection's client certificate SHA-256, as Envoy gives it (hex).
    pub connection_certificate: Option<Vec<u8>>,
    /// The values of the headers some provider takes the certificate hash from.
    pub certificate_headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Presented {
    /// Reads what `reads` asks for from `request`; the DPoP proof and the request line only for
    /// a token in the DPoP scheme (`via_dpop`), the only one they are checked for.
    pub fn read(reads: &BindingReads, request: &dyn RequestView, via_dpop: bool) -> Self {
        let header = |name: &str| request.header(name).unwrap_or_default();
        let mut presented = Self::default();
        if reads.dpop && via_dpop {
            presented.proofs = request.header_values("dpop");
            presented.method = header(":method");
            if reads.request_origin {
                presented.scheme = header(":scheme");
                presented.authority = header(":authority");
            }
            presented.target = header(":path");
            if reads.forwarded {
                presented.forwarded_proto = request.header("x-forwarded-proto");
                presented.forwarded_host = request.header("x-forwarded-host");
            }
        }
        if reads.connection_certificate {
            presented.connection_certificate =
                request.connection(ConnectionProperty::PeerCertificateSha256);
        }
        presented.certificate_headers = reads
            .certificate_headers
            .iter()
            .map(|name| (name.clone(), request.header(name)))
            .collect();
        presented
    }
}

fn invalid_token(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidToken, description)
}

fn invalid_proof(description: &'static str) -> AuthError {
    AuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// What one binding check needs about the token and the request.
pub struct Bound<'a> {
    /// The provider's index, for its replay cache.
    pub index: usize,
    /// The provider.
    pub provider: &'a Provider,
    /// The verified claims.
    pub claims: &'a Map<String, Value>,
    /// The token's text (for `ath`).
    pub token: &'a [u8],
    /// Where the token came from (`Authorization: DPoP` or not).
    pub source: &'a TokenSource,
    /// What the request presented.
    pub presented: &'a Presented,
}

/// Checks the bindings `bound.provider` enforces, at `now` (seconds).
pub fn check(
    bound: &Bound<'_>,
    services: &mut dyn BindingServices,
    limits: &Limits,
    now: u64,
) -> Result<(), AuthError> {
    let provider = bound.provider;
    let cnf = bound.claims.get("cnf").and_then(Value::as_object);
    if provider.dpop.mode != BindingMode::Off {
        let via_dpop = *bound.source == TokenSource::AuthorizationDpop;
        let jkt = match cnf.and_then(|cnf| cnf.get("jkt")) {
            None => None,
            Some(Value::String(jkt)) => Some(jkt.as_str()),
            Some(_) => return Err(invalid_token("Token has a malformed cnf.jkt")),
        };
        match (via_dpop, jkt) {
            (false, Some(_)) => {
                return Err(invalid_token(
                    "A DPoP-bound token must be presented with the DPoP scheme, not Bearer",
                ))
            }
            (false, None) if provider.dpop.mode == BindingMode::Required => {
                return Err(invalid_token("This resource requires a DPoP-bound token"))
            }
            (false, None) => {}
            (true, None) => return Err(invalid_token("Token has no DPoP key binding (cnf.jkt)")),
            (true, Some(jkt)) => dpop(bound, jkt, services, limits, now)?,
        }
    }
    if provider.mtls_bound.mode != BindingMode::Off {
        certificate_bound(bound, cnf)?;
    }
    Ok(())
}

/// The DPoP proof of a token bound to key thumbprint `jkt` (RFC 9449 section 4.3).
fn dpop(
    bound: &Bound<'_>,
    jkt: &str,
    services: &mut dyn BindingServices,
    limits: &Limits,
    now: u64,
) -> Result<(), AuthError> {
    let settings = &bound.provider.dpop;
    let presented = bound.presented;
    let text = match presented.proofs.as_slice() {
        [] => {
            return Err(invalid_proof(
                "A DPoP proof header is required with the DPoP scheme",
            ))
        }
        [one] => std::str::from_utf8(one)
            .ok()
            .map(|text| text.trim_matches([' ', '\t']))
            .filter(|text| !text.contains(','))
            .ok_or(invalid_proof("Exactly one DPoP proof is allowed"))?,
        _ => return Err(invalid_proof("Exactly one DPoP proof is allowed")),
    };
    let proof = Proof::verify(text, settings, jkt, limits, services)?;
    if proof.htm.as_bytes() != presented.method {
        return Err(invalid_proof(
            "DPoP proof htm does not match the request method",
        ));
    }
    let expected = request_uri(bound.provider, presented).ok_or(invalid_proof(
        "The request URI cannot be compared with the DPoP proof",
    ))?;
    if htu::normalize(&proof.htu).as_deref() != Some(expected.as_str()) {
        return Err(invalid_proof(
            "DPoP proof htu does not match the request URI",
        ));
    }
    let skew = bound.provider.clock_skew_seconds;
    let expires_at = proof
        .iat
        .saturating_add(settings.max_age_seconds)
        .saturating_add(skew);
    if expires_at < now {
        return Err(invalid_proof("DPoP proof is too old"));
    }
    if proof.iat > now.saturating_add(skew) {
        return Err(invalid_proof("DPoP proof is issued in the future"));
    }
    let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(bound.token));
    if proof.ath.as_deref() != Some(ath.as_str()) {
        return Err(invalid_proof("DPoP proof ath does not match the token"));
    }
    if let Some(nonces) = &settings.nonce {
        let name = &bound.provider.name;
        let fresh = proof
            .nonce
            .as_deref()
            .is_some_and(|given| nonce::accepts(nonces, name, given, now));
        if !fresh {
            let mut err = AuthError::new(
                ErrorCode::UseDpopNonce,
                "DPoP proof must carry the server's current nonce",
            );
            err.nonce = Some(nonce::current(nonces, name, now));
            return Err(err);
        }
    }
    let mut hasher = Sha256::new();
    hasher.update(proof.thumbprint.as_bytes());
    hasher.update([0]);
    hasher.update(proof.jti.as_bytes());
    let digest = hasher.finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    match services.record_proof(bound.index, &id, expires_at, now) {
        Recorded::First | Recorded::FirstEvicting => Ok(()),
        Recorded::Replayed => Err(invalid_proof("DPoP proof has been used before")),
        Recorded::Unavailable => Err(invalid_proof("DPoP proof could not be checked for replay")),
    }
}

/// The request's URI as `htu` must name it: the configured origin, the trusted forwarded
/// headers or the request's own scheme and authority, then its path.
fn request_uri(provider: &Provider, presented: &Presented) -> Option<String> {
    let text = |bytes: &[u8]| std::str::from_utf8(bytes).ok().map(str::to_string);
    let first = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .and_then(|v| v.split(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let origin = match &provider.dpop.origin {
        Some(origin) => origin.clone(),
        None => {
            let trust = provider.dpop.trust_forwarded_headers;
            let scheme = trust
                .then(|| first(&presented.forwarded_proto))
                .flatten()
                .or_else(|| text(&presented.scheme))?;
            let authority = trust
                .then(|| first(&presented.forwarded_host))
                .flatten()
                .or_else(|| text(&presented.authority))?;
            if scheme.is_empty() || authority.is_empty() {
                return None;
            }
            htu::origin(&scheme, &authority)
        }
    };
    htu::of_request(&origin, std::str::from_utf8(&presented.target).ok()?)
}

/// A certificate-bound token's `cnf["x5t#S256"]` against the request's client certificate.
fn certificate_bound(bound: &Bound<'_>, cnf: Option<&Map<String, Value>>) -> Result<(), AuthError> {
    let settings = &bound.provider.mtls_bound;
    let x5t = match cnf.and_then(|cnf| cnf.get("x5t#S256")) {
        None if settings.mode == BindingMode::Required => {
            return Err(invalid_token(
                "This resource requires a certificate-bound token",
            ))
        }
        None => return Ok(()),
        Some(Value::String(x5t)) => x5t,
        Some(_) => return Err(invalid_token("Token has a malformed cnf.x5t#S256")),
    };
    let presented = bound.presented;
    let hex = match &settings.client_cert {
        ClientCertSource::Connection => presented.connection_certificate.clone(),
        ClientCertSource::ForwardedHeader(name) => presented
            .certificate_headers
            .iter()
            .find(|(header, _)| header == name)
            .and_then(|(_, value)| value.as_deref())
            .and_then(certificate::forwarded_hash),
    };
    let Some(hex) = hex else {
        return Err(invalid_token(
            "A client certificate is required for this certificate-bound token",
        ));
    };
    match certificate::thumbprint_of_hex(&hex) {
        Some(thumbprint) if thumbprint == *x5t => Ok(()),
        _ => Err(invalid_token(
            "Token is bound to another client certificate",
        )),
    }
}

#[cfg(test)]
mod tests;
