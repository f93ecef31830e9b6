//! Certificate-bound tokens (RFC 8705) end to end: an Envoy TLS listener that asks for client
//! certificates, certificates made by the test with the `openssl` command, requests sent with
//! `curl`, and tokens whose `cnf["x5t#S256"]` names one certificate.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{one_provider_config, Testbed};
use testbed::mint::{Alg, MintRequest};

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required for this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and two client certificates, in `dir`.
fn certificates(dir: &Path) {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    let (ca_key, ca_pem) = (p("ca.key"), p("ca.pem"));
    ca.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_pem,
        "-subj",
        "/CN=test-ca",
        "-days",
        "2",
    ]);
    run("openssl", &ca);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for name in ["server", "client", "other"] {
        let (key, csr, pem) = (
            p(&format!("{name}.key")),
            p(&format!("{name}.csr")),
            p(&format!("{name}.pem")),
        );
        let subject = format!("/CN={name}");
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend(["-keyout", &key, "-out", &csr, "-subj", &subject]);
        run("openssl", &req);
        let ext = p("san.ext");
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

/// base64url(SHA-256(DER)) of a PEM certificate: its `x5t#S256`.
fn x5t(pem: &Path) -> String {
    let text = std::fs::read_to_string(pem).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    URL_SAFE_NO_PAD.encode(Sha256::digest(STANDARD.decode(body).unwrap()))
}

/// `GET path` over TLS, with the client certificate `client` (if any) and the bearer token.
fn get(
    port: u16,
    dir: &Path,
    client: Option<&str>,
    path: &str,
    token: &str,
) -> (u16, Value, String) {
    let ca = dir.join("ca.pem");
    let url = format!("https://127.0.0.1:{port}{path}");
    let auth = format!("authorization: Bearer {token}");
    let mut args: Vec<String> = vec!["-sS".into(), "--cacert".into(), ca.to_string_lossy().into()];
    if let Some(name) = client {
        args.extend([
            "--cert".into(),
            dir.join(format!("{name}.pem")).to_string_lossy().into(),
        ]);
        args.extend([
            "--key".into(),
            dir.join(format!("{name}.key")).to_string_lossy().into(),
        ]);
    }
    args.extend(["-H".into(), auth, "-D".into(), "-".into(), url]);
    let out = Command::new("curl")
        .args(&args)
        .output()
        .expect("curl is required for this test");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
    let challenge = head
        .lines()
        .find_map(|l| l.strip_prefix("www-authenticate: "))
        .unwrap_or_default()
        .to_string();
    (
        status,
        serde_json::from_str(body).unwrap_or(Value::Null),
        challenge,
    )
}

fn tls(dir: &Path) -> Value {
    let file = |name: &str| json!({"filename": dir.join(name).to_string_lossy()});
    json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            // Asked for and verified against the CA, but optional: a request without one must
            // reach the filter, which refuses a bound token for it.
            "require_client_certificate": false,
            "common_tls_context": {
                "tls_certificates": [{"certificate_chain": file("server.pem"), "private_key": file("server.key")}],
                "validation_context": {"trusted_ca": file("ca.pem")}
            }
        }
    })
}

fn temp_dir() -> PathBuf {
    support::unique_temp_dir("mtls")
}

#[test]
fn a_certificate_bound_token_passes_only_with_its_certificate() {
    let dir = temp_dir();
    certificates(&dir);
    let tb = Testbed::start_with(
        Default::default(),
        |options| options.downstream_tls = Some(tls(&dir)),
        |idp| one_provider_config(idp, "mtls", json!({"mtls_bound": "required"})),
    );
    let port = tb.envoy.port;
    let bound = tb.mint(
        &MintRequest::new(Alg::Rs256)
            .claim("cnf", json!({"x5t#S256": x5t(&dir.join("client.pem"))})),
    );
    let (status, body, _) = get(port, &dir, Some("client"), "/api", &bound);
    assert_eq!(status, 200, "{body}");

    let refused = |client: Option<&str>, token: &str, description: &str| {
        let (status, body, challenge) = get(port, &dir, client, "/api", token);
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token")),
            "{description}: {body}"
        );
        assert_eq!(body["description"], description);
        assert_eq!(
            challenge.trim_end(),
            format!("Bearer realm=\"mtls\", error=\"invalid_token\", error_description=\"{description}\"")
        );
    };
    refused(
        Some("other"),
        &bound,
        "Token is bound to another client certificate",
    );
    refused(
        None,
        &bound,
        "A client certificate is required for this certificate-bound token",
    );
    let plain = tb.mint(&MintRequest::new(Alg::Rs256));
    refused(
        Some("client"),
        &plain,
        "This resource requires a certificate-bound token",
    );
    // Still alive, still passing.
    assert_eq!(get(port, &dir, Some("client"), "/api", &bound).0, 200);
}

/// Behind an edge that terminates TLS: the certificate's hash comes from the
/// `x-forwarded-client-cert` header the operator names, its last element (the edge's). Envoy's
/// connection manager must forward the header (here `ALWAYS_FORWARD_ONLY`); by default it drops it.
#[test]
fn behind_a_tls_edge_the_named_forwarded_header_gives_the_certificate() {
    let dir = temp_dir();
    certificates(&dir);
    let tb = Testbed::start_with(
        Default::default(),
        |options| options.forward_client_cert_details = Some("ALWAYS_FORWARD_ONLY".into()),
        |idp| {
            one_provider_config(
                idp,
                "mtls",
                json!({"mtls_bound": {"mode": "required", "forwarded_client_cert_header": "x-forwarded-client-cert"}}),
            )
        },
    );
    let client = x5t(&dir.join("client.pem"));
    let hex: String = URL_SAFE_NO_PAD
        .decode(&client)
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let other: String = URL_SAFE_NO_PAD
        .decode(x5t(&dir.join("other.pem")))
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let bound = tb.mint(&MintRequest::new(Alg::Rs256).claim("cnf", json!({"x5t#S256": client})));
    let auth = format!("Bearer {bound}");
    let send = |xfcc: Option<String>| {
        let mut headers: Vec<(&str, Vec<u8>)> = vec![("authorization", auth.clone().into_bytes())];
        if let Some(value) = xfcc {
            headers.push(("x-forwarded-client-cert", value.into_bytes()));
        }
        let borrowed: Vec<(&str, &[u8])> =
            headers.iter().map(|(n, v)| (*n, v.as_slice())).collect();
        tb.envoy.get("/api", &borrowed)
    };
    let edge = |hash: &str| format!("By=spiffe://edge;Hash={hash};Subject=\"CN=client,O=test\"");
    assert_eq!(send(Some(edge(&hex))).status, 200);
    // A client's own element first, the edge's last: the edge's counts.
    let forged_first = format!("Hash={other};By=x,{}", edge(&hex));
    assert_eq!(send(Some(forged_first)).status, 200);
    let forged_last = send(Some(format!("{},Hash={other}", edge(&hex))));
    assert_eq!(
        (
            forged_last.status,
            forged_last.json()["description"].clone()
        ),
        (401, json!("Token is bound to another client certificate"))
    );
    let missing = send(None);
    assert_eq!(
        (missing.status, missing.json()["description"].clone()),
        (
            401,
            json!("A client certificate is required for this certificate-bound token")
        )
    );
}
