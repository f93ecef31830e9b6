//! The binding checks with proofs from a DPoP client built on `jsonwebtoken` (testbed), tokens
//! from the mock provider's minter, and the replay cache over in-memory shared data.

use super::replay::ReplayCache;
use super::*;
use crate::config::tests::{minimal, parse};
use crate::keys::store::tests::MemoryShared;
use crate::request::token::UntrustedToken;
use serde_json::json;
use testbed::{Alg, DpopClient, MintRequest, Minter, ProofRequest};

const HTU: &str = "https://api.example.test/orders";

struct Services {
    verifier: Verifier,
    keys: super::keys::ProofKeys,
    shared: MemoryShared,
    cache: ReplayCache,
}

impl Services {
    fn new() -> Self {
        let cache = ReplayCache::new("idp", 64);
        let shared = MemoryShared::default();
        cache.ensure_slots(&shared).unwrap();
        Self {
            verifier: Verifier::default(),
            keys: Default::default(),
            shared,
            cache,
        }
    }
}

impl crate::verify::VerificationTiming for Services {}

impl BindingServices for Services {
    fn verifier(&self) -> &Verifier {
        &self.verifier
    }
    fn record_proof(&mut self, _: usize, id: &[u8; 16], expires_at: u64, now: u64) -> Recorded {
        self.cache.record(&self.shared, id, expires_at, now)
    }
    fn proof_keys(&mut self) -> Option<&mut super::keys::ProofKeys> {
        Some(&mut self.keys)
    }
}

fn provider(dpop: Value, mtls: Value) -> Provider {
    let mut value = minimal();
    value["providers"][0]["dpop"] = dpop;
    value["providers"][0]["mtls_bound"] = mtls;
    parse(value).unwrap().providers.remove(0)
}

fn minter() -> &'static Minter {
    static MINTER: std::sync::OnceLock<Minter> = std::sync::OnceLock::new();
    MINTER.get_or_init(|| {
        Minter::generate("https://idp.example.test/", "https://api.example.test").unwrap()
    })
}

fn client() -> &'static DpopClient {
    static CLIENT: std::sync::OnceLock<DpopClient> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| DpopClient::generate(Alg::Es256).unwrap())
}

fn token(cnf: Option<Value>) -> String {
    let mut request = MintRequest::new(Alg::Rs256);
    if let Some(cnf) = cnf {
        request = request.claim("cnf", cnf);
    }
    minter().mint(&request).unwrap()
}

fn now() -> u64 {
    u64::try_from(testbed::mint::now_secs()).unwrap()
}

fn request(proofs: Vec<String>) -> Presented {
    Presented {
        proofs: proofs.into_iter().map(String::into_bytes).collect(),
        method: b"POST".to_vec(),
        scheme: b"https".to_vec(),
        authority: b"api.example.test".to_vec(),
        target: b"/orders?page=2".to_vec(),
        ..Presented::default()
    }
}

/// The outcome for `token` from `source`, with `presented`, under `provider`.
fn outcome(
    provider: &Provider,
    token: &str,
    source: TokenSource,
    presented: &Presented,
    services: &mut Services,
) -> Result<(), (ErrorCode, &'static str)> {
    let claims = UntrustedToken::parse(token).unwrap().claims;
    let bound = Bound {
        index: 0,
        provider,
        claims: &claims,
        token: token.as_bytes(),
        source: &source,
        presented,
    };
    check(&bound, services, &Limits::default(), now()).map_err(|e| (e.code, e.description))
}

/// The outcome for `token` presented with the DPoP scheme and the one proof `proof`.
fn with_proof(
    provider: &Provider,
    token: &str,
    proof: String,
    services: &mut Services,
) -> Result<(), (ErrorCode, &'static str)> {
    let presented = request(vec![proof]);
    outcome(
        provider,
        token,
        TokenSource::AuthorizationDpop,
        &presented,
        services,
    )
}

fn proof(token: &str, change: impl FnOnce(&mut ProofRequest)) -> String {
    let mut request = ProofRequest::new("POST", HTU, token);
    change(&mut request);
    client().proof(&request).unwrap()
}

#[test]
fn a_bound_token_with_its_proof_passes_once_and_its_replay_is_refused() {
    let provider = provider(json!("allowed"), Value::Null);
    let token = token(Some(client().cnf().unwrap()));
    let presented = request(vec![proof(&token, |_| {})]);
    let mut services = Services::new();
    let dpop = TokenSource::AuthorizationDpop;
    assert_eq!(
        outcome(&provider, &token, dpop.clone(), &presented, &mut services),
        Ok(())
    );
    assert_eq!(
        outcome(&provider, &token, dpop, &presented, &mut services),
        Err((
            ErrorCode::InvalidDpopProof,
            "DPoP proof has been used before"
        ))
    );
}

#[test]
fn each_check_of_the_proof_fails_on_its_own() {
    let provider = provider(json!("allowed"), Value::Null);
    let token = token(Some(client().cnf().unwrap()));
    let stranger = DpopClient::generate(Alg::Es256).unwrap();
    let mut foreign = ProofRequest::new("POST", HTU, &token);
    foreign.jti = "foreign".into();
    let t = now() as i64;
    let private = {
        let mut jwk = client().public_jwk();
        jwk["d"] = json!("AAAA");
        client()
            .sign_raw(
                &json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}),
                &json!({"htm": "POST", "htu": HTU, "iat": t, "jti": "p",
                        "ath": testbed::dpop::ath(&token)}),
            )
            .unwrap()
    };
    let invalid = ErrorCode::InvalidDpopProof;
    let cases: Vec<(Vec<String>, (ErrorCode, &str))> = vec![
        (
            vec![],
            (
                invalid,
                "A DPoP proof header is required with the DPoP scheme",
            ),
        ),
        (
            vec![proof(&token, |_| {}), proof(&token, |_| {})],
            (invalid, "Exactly one DPoP proof is allowed"),
        ),
        (
            vec![proof(&token, |r| r.htm = "GET".into())],
            (invalid, "DPoP proof htm does not match the request method"),
        ),
        (
            vec![proof(&token, |r| {
                r.htu = "https://api.example.test/other".into()
            })],
            (invalid, "DPoP proof htu does not match the request URI"),
        ),
        (
            vec![proof(&token, |r| r.iat = t - 400)],
            (invalid, "DPoP proof is too old"),
        ),
        (
            vec![proof(&token, |r| r.iat = t + 120)],
            (invalid, "DPoP proof is issued in the future"),
        ),
        (
            vec![proof(&token, |r| r.token = None)],
            (invalid, "DPoP proof ath does not match the token"),
        ),
        (
            vec![proof(&token, |r| r.token = Some("another.token.x".into()))],
            (invalid, "DPoP proof ath does not match the token"),
        ),
        (
            vec![proof(&token, |r| r.typ = "JWT".into())],
            (invalid, "DPoP proof must have typ dpop+jwt"),
        ),
        (
            vec![private],
            (invalid, "DPoP proof jwk must be a public key"),
        ),
        (
            vec![stranger.proof(&foreign).unwrap()],
            (
                ErrorCode::InvalidToken,
                "Token is bound to another key than the DPoP proof's",
            ),
        ),
        (
            vec!["not.a.proof".into()],
            (invalid, "DPoP proof is not valid base64url"),
        ),
    ];
    for (proofs, want) in cases {
        let mut services = Services::new();
        let got = outcome(
            &provider,
            &token,
            TokenSource::AuthorizationDpop,
            &request(proofs.clone()),
            &mut services,
        );
        assert_eq!(got, Err(want), "{proofs:?}");
    }
    // A tampered signature.
    let mut tampered = proof(&token, |_| {});
    // The last character holds the signature's last two bits: change them (still canonical).
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    let got = outcome(
        &provider,
        &token,
        TokenSource::AuthorizationDpop,
        &request(vec![tampered]),
        &mut Services::new(),
    );
    assert!(
        matches!(got, Err((ErrorCode::InvalidDpopProof, _))),
        "{got:?}"
    );
}

#[test]
fn schemes_and_modes_decide_who_needs_a_proof() {
    let allowed = provider(json!("allowed"), Value::Null);
    let required = provider(json!("required"), Value::Null);
    let bound = token(Some(client().cnf().unwrap()));
    let plain = token(None);
    let none = request(vec![]);
    let mut services = Services::new();
    let bearer = TokenSource::AuthorizationBearer;
    let dpop = TokenSource::AuthorizationDpop;
    assert_eq!(
        outcome(&allowed, &plain, bearer.clone(), &none, &mut services),
        Ok(())
    );
    assert_eq!(
        outcome(&allowed, &bound, bearer.clone(), &none, &mut services),
        Err((
            ErrorCode::InvalidToken,
            "A DPoP-bound token must be presented with the DPoP scheme, not Bearer"
        ))
    );
    assert_eq!(
        outcome(&required, &plain, bearer, &none, &mut services),
        Err((
            ErrorCode::InvalidToken,
            "This resource requires a DPoP-bound token"
        ))
    );
    let with_proof = request(vec![proof(&plain, |_| {})]);
    assert_eq!(
        outcome(&allowed, &plain, dpop, &with_proof, &mut services),
        Err((
            ErrorCode::InvalidToken,
            "Token has no DPoP key binding (cnf.jkt)"
        ))
    );
}

#[test]
fn a_nonce_is_asked_for_then_accepted() {
    let secret = "0123456789abcdef0123456789abcdef";
    let provider = provider(
        json!({"mode": "required", "nonce": {"secret": secret, "window": "60s"}}),
        Value::Null,
    );
    let token = token(Some(client().cnf().unwrap()));
    let claims = UntrustedToken::parse(&token).unwrap().claims;
    let mut services = Services::new();
    let presented = request(vec![proof(&token, |_| {})]);
    let bound = Bound {
        index: 0,
        provider: &provider,
        claims: &claims,
        token: token.as_bytes(),
        source: &TokenSource::AuthorizationDpop,
        presented: &presented,
    };
    let err = check(&bound, &mut services, &Limits::default(), now()).unwrap_err();
    assert_eq!(err.code, ErrorCode::UseDpopNonce);
    let nonce = err.nonce.unwrap();
    let settings = provider.dpop.nonce.as_ref().unwrap();
    assert_eq!(nonce, nonce::current(settings, "idp", now()));
    let with_nonce = request(vec![proof(&token, |r| r.nonce = Some(nonce.clone()))]);
    let ok = Bound {
        presented: &with_nonce,
        ..bound
    };
    assert_eq!(check(&ok, &mut services, &Limits::default(), now()), Ok(()));
    let wrong = request(vec![proof(&token, |r| r.nonce = Some("stale".into()))]);
    let err = check(
        &Bound {
            presented: &wrong,
            ..ok
        },
        &mut services,
        &Limits::default(),
        now(),
    )
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::UseDpopNonce);
}

#[test]
fn the_request_uri_comes_from_the_configured_origin_or_trusted_forwarded_headers() {
    let token = token(Some(client().cnf().unwrap()));
    let behind_edge = |presented: &mut Presented| {
        presented.scheme = b"http".to_vec();
        presented.authority = b"envoy.internal:10000".to_vec();
    };
    let mut presented = request(vec![proof(&token, |_| {})]);
    behind_edge(&mut presented);
    let plain = provider(json!("allowed"), Value::Null);
    assert_eq!(
        outcome(
            &plain,
            &token,
            TokenSource::AuthorizationDpop,
            &presented,
            &mut Services::new()
        ),
        Err((
            ErrorCode::InvalidDpopProof,
            "DPoP proof htu does not match the request URI"
        ))
    );
    let origin = provider(
        json!({"mode": "allowed", "origin": "https://API.example.test:443"}),
        Value::Null,
    );
    assert_eq!(
        outcome(
            &origin,
            &token,
            TokenSource::AuthorizationDpop,
            &presented,
            &mut Services::new()
        ),
        Ok(())
    );
    let forwarded = provider(
        json!({"mode": "allowed", "trust_forwarded_headers": true}),
        Value::Null,
    );
    let mut presented = request(vec![proof(&token, |_| {})]);
    behind_edge(&mut presented);
    presented.forwarded_proto = Some(b"https".to_vec());
    presented.forwarded_host = Some(b"api.example.test".to_vec());
    assert_eq!(
        outcome(
            &forwarded,
            &token,
            TokenSource::AuthorizationDpop,
            &presented,
            &mut Services::new()
        ),
        Ok(())
    );
}

#[test]
fn a_certificate_bound_token_needs_its_certificate() {
    let hex = "a2e8a8c9e2bd4b1ad9b7f9fc8b8e76b3c30e2c31d8de3e6a5ee1e4f7c1f84d20";
    let x5t = certificate::thumbprint_of_hex(hex.as_bytes()).unwrap();
    let bound = token(Some(json!({"x5t#S256": x5t})));
    let plain = token(None);
    let allowed = provider(Value::Null, json!("allowed"));
    let required = provider(Value::Null, json!("required"));
    let bearer = TokenSource::AuthorizationBearer;
    let with_cert = Presented {
        connection_certificate: Some(hex.as_bytes().to_vec()),
        ..Presented::default()
    };
    let other_cert = Presented {
        connection_certificate: Some(hex.replace('a', "b").into_bytes()),
        ..Presented::default()
    };
    let no_cert = Presented::default();
    let mut services = Services::new();
    let mut run = |p: &Provider, t: &str, presented: &Presented| {
        outcome(p, t, bearer.clone(), presented, &mut services)
    };
    assert_eq!(run(&allowed, &bound, &with_cert), Ok(()));
    assert_eq!(run(&allowed, &plain, &no_cert), Ok(()));
    assert_eq!(
        run(&allowed, &bound, &other_cert),
        Err((
            ErrorCode::InvalidToken,
            "Token is bound to another client certificate"
        ))
    );
    assert_eq!(
        run(&allowed, &bound, &no_cert),
        Err((
            ErrorCode::InvalidToken,
            "A client certificate is required for this certificate-bound token"
        ))
    );
    assert_eq!(
        run(&required, &plain, &with_cert),
        Err((
            ErrorCode::InvalidToken,
            "This resource requires a certificate-bound token"
        ))
    );
    let forwarded = provider(
        Value::Null,
        json!({"mode": "required", "forwarded_client_cert_header": "x-forwarded-client-cert"}),
    );
    let via_edge = Presented {
        certificate_headers: vec![(
            "x-forwarded-client-cert".into(),
            Some(format!("By=spiffe://edge;Hash={hex};Subject=\"CN=client\"").into_bytes()),
        )],
        ..Presented::default()
    };
    assert_eq!(run(&forwarded, &bound, &via_edge), Ok(()));
    assert_eq!(
        run(&forwarded, &bound, &with_cert),
        Err((
            ErrorCode::InvalidToken,
            "A client certificate is required for this certificate-bound token"
        ))
    );
}

#[test]
fn a_client_key_is_parsed_once_and_a_different_jwk_is_not_taken_for_it() {
    let provider = provider(json!("allowed"), Value::Null);
    let token = token(Some(client().cnf().unwrap()));
    let mut services = Services::new();
    for _ in 0..3 {
        let presented = request(vec![proof(&token, |_| {})]);
        assert_eq!(
            outcome(
                &provider,
                &token,
                TokenSource::AuthorizationDpop,
                &presented,
                &mut services
            ),
            Ok(())
        );
    }
    assert_eq!(services.keys.len(), 1);
    // The same key marked for encryption only: refused, not served from the cache.
    let mut jwk = client().public_jwk();
    jwk["use"] = json!("enc");
    let t = now() as i64;
    let marked = client()
        .sign_raw(
            &json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}),
            &json!({"htm": "POST", "htu": HTU, "iat": t, "jti": "enc",
                    "ath": testbed::dpop::ath(&token)}),
        )
        .unwrap();
    assert_eq!(
        with_proof(&provider, &token, marked, &mut services),
        Err((
            ErrorCode::InvalidDpopProof,
            "DPoP proof jwk is not a usable public key"
        ))
    );
}

/// A header checked once is kept by its text, but each provider's `algorithms` still decides:
/// the cached ES256 header is refused where only EdDSA proofs are allowed.
#[test]
fn a_kept_proof_header_still_meets_each_providers_algorithms() {
    let es256 = provider(json!("allowed"), Value::Null);
    let eddsa_only = provider(
        json!({"mode": "allowed", "algorithms": ["EdDSA"]}),
        Value::Null,
    );
    let token = token(Some(client().cnf().unwrap()));
    let mut services = Services::new();
    let dpop = TokenSource::AuthorizationDpop;
    let (first, second) = (proof(&token, |_| {}), proof(&token, |_| {}));
    assert_eq!(first.split('.').next(), second.split('.').next());
    assert_ne!(first, second);
    assert_eq!(
        outcome(
            &es256,
            &token,
            dpop.clone(),
            &request(vec![first]),
            &mut services
        ),
        Ok(())
    );
    assert_eq!(services.keys.len(), 1);
    assert_eq!(
        outcome(
            &eddsa_only,
            &token,
            dpop,
            &request(vec![second]),
            &mut services
        ),
        Err((
            ErrorCode::InvalidDpopProof,
            "DPoP proof algorithm is not allowed"
        ))
    );
}

/// A proof under another key than the token's `cnf.jkt` is refused on its thumbprint alone:
/// its key is never parsed or kept (a P-384 key would cost a ~210 KB table), whatever the key.
#[test]
fn a_proof_key_the_token_is_not_bound_to_is_refused_before_it_is_parsed() {
    let provider = provider(json!("allowed"), Value::Null);
    let token = token(Some(client().cnf().unwrap()));
    let mut services = Services::new();
    for alg in [Alg::Es256, Alg::Es384, Alg::EdDsa] {
        let stranger = DpopClient::generate(alg).unwrap();
        let proof = stranger
            .proof(&ProofRequest::new("POST", HTU, &token))
            .unwrap();
        assert_eq!(
            with_proof(&provider, &token, proof, &mut services),
            Err((
                ErrorCode::InvalidToken,
                "Token is bound to another key than the DPoP proof's"
            )),
            "{alg:?}"
        );
    }
    assert_eq!(services.keys.len(), 0);
}
