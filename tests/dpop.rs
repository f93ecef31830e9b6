//! DPoP-bound tokens (RFC 9449) end to end in a real Envoy with two workers: proofs made by the
//! testbed's DPoP client (jsonwebtoken), tokens bound to its key by the mock provider, and each
//! check failing on its own, with the exact status, code and `WWW-Authenticate`.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use serde_json::{json, Value};
use support::{one_provider_config, raw_get, Response, Testbed};
use testbed::idp::IdpServer;
use testbed::mint::{Alg, MintRequest};
use testbed::{DpopClient, ProofRequest};

const REALM: &str = "dpop";
const SECRET: &str = "an operator's nonce secret, 32+ bytes long";

fn provider(idp: &IdpServer, dpop: Value) -> Value {
    one_provider_config(idp, REALM, json!({"dpop": dpop}))
}

fn htu(tb: &Testbed, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", tb.envoy.port)
}

fn send(tb: &Testbed, method: &str, path: &str, token: &str, proofs: &[&str]) -> Response {
    let authorization = format!("DPoP {token}");
    let mut headers: Vec<(&str, &[u8])> = vec![("authorization", authorization.as_bytes())];
    for proof in proofs {
        headers.push(("dpop", proof.as_bytes()));
    }
    tb.envoy.request(method, path, &headers)
}

fn assert_refused(response: &Response, code: &str, challenge: &str, what: &str) {
    assert_eq!(response.status, 401, "{what}: {}", response.text());
    assert_eq!(response.json()["code"], code, "{what}");
    assert_eq!(
        response.header("www-authenticate"),
        Some(challenge),
        "{what}"
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{what}"
    );
}

/// The `DPoP` challenge part for an error.
fn dpop_error(error: &str, description: &str) -> String {
    format!("DPoP error=\"{error}\", error_description=\"{description}\", algs=\"{ALGS}\"")
}

const ALGS: &str = "RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA";

#[test]
fn a_dpop_bound_token_passes_with_its_proof_and_every_broken_proof_is_refused() {
    let tb = Testbed::start(|idp| provider(idp, json!("allowed")));
    let client = DpopClient::generate(Alg::Es256).unwrap();
    let token = tb.mint(&MintRequest::new(Alg::Rs256).claim("cnf", client.cnf().unwrap()));
    let url = htu(&tb, "/orders");
    let bearer = format!("Bearer realm=\"{REALM}\"");

    // The proof names the URI without the query; the request has one.
    let proof = client
        .proof(&ProofRequest::new("GET", &url, &token))
        .unwrap();
    let ok = send(&tb, "GET", "/orders?page=2", &token, &[&proof]);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let seen = ok.json();
    assert!(seen["headers"].get("authorization").is_none(), "{seen}");

    // The same proof again, over fresh connections (either worker): a replay.
    for _ in 0..4 {
        assert_refused(
            &send(&tb, "GET", "/orders?page=2", &token, &[&proof]),
            "invalid_dpop_proof",
            &format!(
                "{bearer}, {}",
                dpop_error("invalid_dpop_proof", "DPoP proof has been used before")
            ),
            "replay",
        );
    }

    let fresh = |change: &dyn Fn(&mut ProofRequest)| {
        let mut request = ProofRequest::new("GET", &url, &token);
        change(&mut request);
        client.proof(&request).unwrap()
    };
    let stranger = DpopClient::generate(Alg::Es256).unwrap();
    let cases: Vec<(String, &str, &str, &str)> = vec![
        (
            fresh(&|r| r.htm = "POST".into()),
            "invalid_dpop_proof",
            "invalid_dpop_proof",
            "DPoP proof htm does not match the request method",
        ),
        (
            fresh(&|r| r.htu = htu(&tb, "/other")),
            "invalid_dpop_proof",
            "invalid_dpop_proof",
            "DPoP proof htu does not match the request URI",
        ),
        (
            fresh(&|r| r.iat -= 600),
            "invalid_dpop_proof",
            "invalid_dpop_proof",
            "DPoP proof is too old",
        ),
        (
            fresh(&|r| r.token = None),
            "invalid_dpop_proof",
            "invalid_dpop_proof",
            "DPoP proof ath does not match the token",
        ),
        (
            stranger
                .proof(&ProofRequest::new("GET", &url, &token))
                .unwrap(),
            "invalid_token",
            "invalid_token",
            "Token is bound to another key than the DPoP proof's",
        ),
    ];
    for (proof, code, error, description) in cases {
        assert_refused(
            &send(&tb, "GET", "/orders", &token, &[&proof]),
            code,
            &format!("{bearer}, {}", dpop_error(error, description)),
            description,
        );
    }
    assert_refused(
        &send(&tb, "GET", "/orders", &token, &[]),
        "invalid_dpop_proof",
        &format!(
            "{bearer}, {}",
            dpop_error(
                "invalid_dpop_proof",
                "A DPoP proof header is required with the DPoP scheme"
            )
        ),
        "no proof",
    );
    let (one, two) = (fresh(&|_| {}), fresh(&|_| {}));
    let authorization = format!("DPoP {token}");
    let twice = raw_get(
        tb.envoy.port,
        "/orders",
        &[
            ("authorization", authorization.as_bytes()),
            ("dpop", one.as_bytes()),
            ("dpop", two.as_bytes()),
        ],
    );
    assert_refused(
        &twice,
        "invalid_dpop_proof",
        &format!(
            "{bearer}, {}",
            dpop_error("invalid_dpop_proof", "Exactly one DPoP proof is allowed")
        ),
        "two proofs",
    );

    // A downgrade: the bound token as a bearer token. The error goes on the Bearer challenge.
    assert_refused(
        &tb.get_with_token("/orders", &token),
        "invalid_token",
        &format!(
            "{bearer}, error=\"invalid_token\", error_description=\"A DPoP-bound token must be presented with the DPoP scheme, not Bearer\", DPoP algs=\"{ALGS}\""
        ),
        "downgrade",
    );
    // An unbound token is still a bearer token under `allowed`.
    let plain = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_eq!(tb.get_with_token("/orders", &plain).status, 200);
    // No token at all: both schemes challenged, no error.
    assert_refused(
        &tb.get("/orders", &[]),
        "authorization_header_missing",
        &format!("{bearer}, DPoP algs=\"{ALGS}\""),
        "no token",
    );
    // A proof whose signature was tampered with.
    let mut tampered = fresh(&|_| {});
    let last = tampered.pop().unwrap();
    // The last character holds the signature's last two bits: change them (still canonical).
    tampered.push(if last == 'A' { 'Q' } else { 'A' });
    let response = send(&tb, "GET", "/orders", &token, &[&tampered]);
    assert_eq!(
        (response.status, response.json()["code"].clone()),
        (401, json!("invalid_dpop_proof"))
    );
    // Every request above left the VMs alive.
    assert_eq!(
        send(&tb, "GET", "/orders", &token, &[&fresh(&|_| {})]).status,
        200
    );
}

#[test]
fn required_dpop_with_server_nonces() {
    let tb = Testbed::start(|idp| {
        provider(
            idp,
            json!({"mode": "required", "algorithms": ["ES256", "EdDSA"],
                             "nonce": {"secret": SECRET, "window": "60s"}}),
        )
    });
    let client = DpopClient::generate(Alg::EdDsa).unwrap();
    let token = tb.mint(&MintRequest::new(Alg::Es384).claim("cnf", client.cnf().unwrap()));
    let url = htu(&tb, "/api");
    let algs = "ES256 EdDSA";

    // A bearer token is refused, on the only challenge there is.
    let plain = tb.mint(&MintRequest::new(Alg::Rs256));
    assert_refused(
        &tb.get_with_token("/api", &plain),
        "invalid_token",
        &format!("DPoP error=\"invalid_token\", error_description=\"This resource requires a DPoP-bound token\", algs=\"{algs}\""),
        "bearer under required",
    );
    // Without a nonce: use_dpop_nonce, with one to use.
    let first = send(
        &tb,
        "POST",
        "/api",
        &token,
        &[&client
            .proof(&ProofRequest::new("POST", &url, &token))
            .unwrap()],
    );
    assert_refused(
        &first,
        "use_dpop_nonce",
        &format!("DPoP error=\"use_dpop_nonce\", error_description=\"DPoP proof must carry the server's current nonce\", algs=\"{algs}\""),
        "no nonce",
    );
    let nonce = first
        .header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_string();
    assert_eq!(nonce.len(), 22);
    let mut request = ProofRequest::new("POST", &url, &token);
    request.nonce = Some(nonce.clone());
    let ok = send(
        &tb,
        "POST",
        "/api",
        &token,
        &[&client.proof(&request).unwrap()],
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    // A wrong nonce is answered with the current one.
    let mut wrong = ProofRequest::new("POST", &url, &token);
    wrong.nonce = Some("AAAAAAAAAAAAAAAAAAAAAA".into());
    let refused = send(
        &tb,
        "POST",
        "/api",
        &token,
        &[&client.proof(&wrong).unwrap()],
    );
    assert_eq!(refused.json()["code"], "use_dpop_nonce");
    assert_eq!(refused.header("dpop-nonce"), Some(nonce.as_str()));
    // A proof algorithm outside the list.
    let es384 = DpopClient::generate(Alg::Es384).unwrap();
    let bound = tb.mint(&MintRequest::new(Alg::Es384).claim("cnf", es384.cnf().unwrap()));
    let mut request = ProofRequest::new("POST", &url, &bound);
    request.nonce = Some(nonce);
    assert_refused(
        &send(
            &tb,
            "POST",
            "/api",
            &bound,
            &[&es384.proof(&request).unwrap()],
        ),
        "invalid_dpop_proof",
        &dpop_error_with(
            algs,
            "invalid_dpop_proof",
            "DPoP proof algorithm is not allowed",
        ),
        "ES384 proof",
    );
}

fn dpop_error_with(algs: &str, error: &str, description: &str) -> String {
    format!("DPoP error=\"{error}\", error_description=\"{description}\", algs=\"{algs}\"")
}

/// A replay cache smaller than the traffic evicts live proof ids, and says so in a metric: 80
/// proofs into 64 entries (8 slots of 8) evict at least 16.
#[test]
fn an_undersized_replay_cache_counts_its_evictions() {
    let tb =
        Testbed::start(|idp| provider(idp, json!({"mode": "allowed", "replay_cache_entries": 64})));
    let client = DpopClient::generate(Alg::Es256).unwrap();
    let token = tb.mint(&MintRequest::new(Alg::Rs256).claim("cnf", client.cnf().unwrap()));
    let url = htu(&tb, "/api");
    for _ in 0..80 {
        let proof = client
            .proof(&ProofRequest::new("GET", &url, &token))
            .unwrap();
        assert_eq!(send(&tb, "GET", "/api", &token, &[&proof]).status, 200);
    }
    let name = r#"jwt_authn_provider_dpop_replay_evictions{provider="idp"}"#;
    let mut text = String::new();
    let counted = support::eventually(std::time::Duration::from_secs(5), || {
        text = tb.envoy.admin_get("/stats/prometheus").1;
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n >= 16)
    });
    assert!(
        counted,
        "{}",
        text.lines()
            .filter(|l| l.contains("dpop"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(tb
        .envoy
        .log()
        .contains("provider idp: the DPoP replay cache is full"));
}

/// Nonces turn over with their window: the previous window's nonce is still taken, an older one
/// is answered with the current nonce. Windows of 2 s are aligned to the clock, so 2 s after a
/// nonce is issued it is the previous window's, and 4 s after, older.
#[test]
fn a_rotated_nonce_is_taken_for_one_more_window_then_refused() {
    let tb = Testbed::start(|idp| {
        provider(
            idp,
            json!({"mode": "allowed", "nonce": {"secret": SECRET, "window": "2s"}}),
        )
    });
    let client = DpopClient::generate(Alg::Es256).unwrap();
    let token = tb.mint(&MintRequest::new(Alg::Rs256).claim("cnf", client.cnf().unwrap()));
    let url = htu(&tb, "/api");
    let with_nonce = |nonce: Option<String>| {
        let mut request = ProofRequest::new("GET", &url, &token);
        request.nonce = nonce;
        send(
            &tb,
            "GET",
            "/api",
            &token,
            &[&client.proof(&request).unwrap()],
        )
    };
    let asked = with_nonce(None);
    assert_eq!(asked.json()["code"], "use_dpop_nonce");
    let issued = asked.header("dpop-nonce").unwrap().to_string();
    assert_eq!(with_nonce(Some(issued.clone())).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(2_050));
    let next = with_nonce(Some(issued.clone()));
    assert_eq!(
        next.status,
        200,
        "the previous window's nonce: {}",
        next.text()
    );
    std::thread::sleep(std::time::Duration::from_millis(2_050));
    let old = with_nonce(Some(issued.clone()));
    assert_eq!(old.json()["code"], "use_dpop_nonce", "{}", old.text());
    let current = old.header("dpop-nonce").unwrap().to_string();
    assert_ne!(current, issued);
    assert_eq!(with_nonce(Some(current)).status, 200);
}
