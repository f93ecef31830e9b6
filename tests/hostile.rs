//! Hostile clients against a real Envoy (two workers) with the built filter: a stream of
//! malformed, oversized, forged and confusing requests, each of which must get a clean refusal
//! (a 401 from the filter, or Envoy's own 4xx where its codec refuses first), with a valid token
//! still answered 200 and a forged one 401 after every single one. At the end no VM has trapped
//! and none was reloaded.
//!
//! SECURITY.md maps each rule to the request here that shows it.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use support::{raw_get as get, Response, Testbed};
use testbed::http::{Reply, Server};
use testbed::idp::IdpServer;
use testbed::mint::{sign_raw_with, tamper_signature, Alg, Key, KeyMaterial, MintRequest, Minter};

const REALM: &str = "hostile";

fn plugin_config(idp: &IdpServer) -> Value {
    json!({
        "realm": REALM,
        "key_wait_timeout": "3s",
        "providers": [{
            "name": "mock",
            "issuer": idp.issuer(),
            "audiences": [idp.audience()],
            "remote_jwks": {
                "http_uri": {
                    "uri": format!("http://127.0.0.1:{}/.well-known/jwks.json", idp.port()),
                    "cluster": "idp",
                    "timeout": "1s"
                },
                "cache_duration": "600s",
                // No refetch for unknown kids, so the provider's fetch count is exact: any fetch
                // beyond the first would have been caused by a token's jku/x5u.
                "unknown_kid_refetch_interval": "0s"
            }
        }]
    })
}

/// A loopback HTTP server that counts every request it gets, whatever the path.
struct Counter {
    server: Server,
    hits: Arc<AtomicU64>,
}

impl Counter {
    fn start() -> Counter {
        let hits = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&hits);
        let server = Server::start(
            0,
            Arc::new(move |_request| {
                counted.fetch_add(1, Ordering::SeqCst);
                let jwks = json!({"keys": []});
                Reply::Respond(testbed::http::Response::json(200, &jwks))
            }),
        )
        .expect("start the counting server");
        Counter { server, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port())
    }

    fn hits(&self) -> u64 {
        self.hits.load(Ordering::SeqCst)
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64(header).b64(payload).b64(signature)`, strings used verbatim.
fn assemble(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(signature)
    )
}

fn replace_signature(token: &str, signature: &[u8]) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{}", b64(signature))
}

/// HMAC-SHA256 (RFC 2104), to forge HS256 tokens keyed with public key bytes.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0_u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The request stream and its bookkeeping.
struct Probe<'a> {
    tb: &'a Testbed,
    minter: Minter,
    sent: usize,
}

impl Probe<'_> {
    fn good_claims(&self) -> Value {
        json!({
            "iss": self.minter.issuer(),
            "aud": self.minter.audience(),
            "sub": "mallory",
            "exp": testbed::mint::now_secs() + 300,
        })
    }

    /// A valid token still passes and a forged one is still refused: the worker that took the
    /// last hostile request is alive (with two workers, alternating algorithms and fresh
    /// connections reach both over the run).
    fn still_alive(&mut self, after: &str) {
        let alg = if self.sent.is_multiple_of(2) {
            Alg::Rs256
        } else {
            Alg::Es384
        };
        let good = self.minter.mint(&MintRequest::new(alg)).unwrap();
        let bearer = format!("Bearer {good}");
        let r = get(
            self.tb.envoy.port,
            "/alive",
            &[("authorization", bearer.as_bytes())],
        );
        assert_eq!(
            r.status,
            200,
            "valid {alg} token refused after `{after}`: {}\n{}",
            r.text(),
            self.tb.envoy.log_tail(30)
        );
        let forged = tamper_signature(&good).unwrap();
        let bearer = format!("Bearer {forged}");
        let r = get(
            self.tb.envoy.port,
            "/alive",
            &[("authorization", bearer.as_bytes())],
        );
        assert_eq!(r.status, 401, "forged token after `{after}`: {}", r.text());
        assert_eq!(r.json()["code"], "invalid_token");
    }

    /// Sends one request with these headers and returns the response, after the liveness check.
    fn send(&mut self, name: &str, headers: &[(&str, &[u8])]) -> Response {
        let started = std::time::Instant::now();
        let r = get(self.tb.envoy.port, "/hostile", headers);
        let took = started.elapsed();
        self.sent += 1;
        self.still_alive(name);
        if std::env::var_os("HOSTILE_TIMING").is_some() {
            eprintln!("{took:?} + {:?} alive: {name}", started.elapsed() - took);
        }
        r
    }

    /// Expects a local reply from the filter: `status`, JSON `code`, exact description.
    fn refused_with(
        &mut self,
        name: &str,
        headers: &[(&str, &[u8])],
        code: &str,
        description: &str,
    ) {
        let r = self.send(name, headers);
        assert_eq!(r.status, 401, "{name}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        let body = r.json();
        assert_eq!(body["code"], code, "{name}: {body}");
        assert_eq!(body["description"], description, "{name}: {body}");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.starts_with(&format!("Bearer realm=\"{REALM}\""))),
            "{name}: {:?}",
            r.headers
        );
    }

    /// `Authorization: Bearer <token>` refused with `code` and `description`.
    fn token_refused(&mut self, name: &str, token: &str, code: &str, description: &str) {
        let value = format!("Bearer {token}");
        self.refused_with(
            name,
            &[("authorization", value.as_bytes())],
            code,
            description,
        );
    }

    /// A token signed by the provider's real key over this header and payload, refused.
    fn signed_refused(
        &mut self,
        name: &str,
        alg: Alg,
        header: &str,
        payload: &str,
        code: &str,
        description: &str,
    ) {
        let token = self.minter.sign_raw(alg, header, payload).unwrap();
        self.token_refused(name, &token, code, description);
    }

    fn token_accepted(&mut self, name: &str, token: &str) {
        let value = format!("Bearer {token}");
        let r = self.send(name, &[("authorization", value.as_bytes())]);
        assert_eq!(r.status, 200, "{name}: {}", r.text());
    }
}

const NOT_JWS: &str = "Token is not a JWS in compact form";
const BAD_BASE64: &str = "Token is not valid base64url";
const BAD_SIGNATURE: &str = "Token signature is invalid";
const NOT_ALLOWED: &str = "Token algorithm is not allowed";

#[test]
fn hostile_requests_get_clean_refusals_and_never_kill_a_vm() {
    let counter = Counter::start();
    let tb = Testbed::start(plugin_config);
    let minter = tb.idp.minter();
    let mut probe = Probe {
        tb: &tb,
        minter: minter.clone(),
        sent: 0,
    };
    // The first request waits for the key set; from here on the filter has keys.
    probe.still_alive("start");
    let fetches_at_start = tb.idp.jwks_fetches();
    let claims = probe.good_claims().to_string();
    let rs_header = r#"{"alg":"RS256","kid":"rsa-1"}"#;

    // ---- The header itself ----
    let invalid_chars = "Authorization header contains characters that are not allowed";
    // Bytes above 0x7f are legal on the wire (obs-text): they reach the filter, which refuses them
    // without decoding.
    for (name, value) in [
        ("non-UTF-8 bytes", &b"Bearer \xff\xfe\x80\xc3\x28"[..]),
        ("an encoded surrogate", b"Bearer \xed\xa0\x80"),
        ("an overlong encoding", b"Bearer \xc0\xae"),
        ("Latin-1 in the token", b"Bearer abc\xe9.def.ghi"),
        ("UTF-8 in the token", "Bearer t\u{f6}k\u{e9}n".as_bytes()),
        ("a non-breaking space", "Bearer\u{a0}abc".as_bytes()),
    ] {
        probe.refused_with(
            name,
            &[("authorization", value)],
            "invalid_header",
            invalid_chars,
        );
    }
    // Control characters never reach the filter: Envoy's HTTP/1 codec answers 400 itself.
    for (name, value) in [
        ("DEL in the token", &b"Bearer abc\x7f.def.ghi"[..]),
        ("an escape character", b"Bearer \x1b[31m"),
        ("a NUL byte", b"Bearer a\x00b"),
    ] {
        let r = probe.send(name, &[("authorization", value)]);
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert!(
            r.header("www-authenticate").is_none(),
            "{name}: the filter answered"
        );
    }
    // Junk in a header the filter does not read changes nothing.
    let good = minter.mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let bearer = format!("Bearer {good}");
    let r = probe.send(
        "non-UTF-8 in another header",
        &[
            ("x-junk", b"\xff\xfe\x80"),
            ("authorization", bearer.as_bytes()),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    probe.refused_with(
        "two tokens",
        &[("authorization", format!("Bearer {good} {good}").as_bytes())],
        "invalid_header",
        "Authorization header must carry exactly one token",
    );
    probe.refused_with(
        "a comma list",
        &[(
            "authorization",
            format!("Bearer {good},Bearer {good}").as_bytes(),
        )],
        "invalid_header",
        "Authorization header must carry exactly one token",
    );
    // Two Authorization fields: Envoy joins them with a comma (RFC 9110 section 5.3), so the
    // filter sees two credentials and refuses both orders; neither token is picked silently.
    let garbage = b"Bearer not.a.token".as_slice();
    for (name, fields) in [
        ("two headers, valid first", [bearer.as_bytes(), garbage]),
        ("two headers, valid last", [garbage, bearer.as_bytes()]),
        (
            "the valid header twice",
            [bearer.as_bytes(), bearer.as_bytes()],
        ),
    ] {
        probe.refused_with(
            name,
            &[("authorization", fields[0]), ("Authorization", fields[1])],
            "invalid_header",
            "Authorization header must carry exactly one token",
        );
    }
    // Odd paths with a valid token: whatever Envoy's path handling answers, the filter survives.
    for path in ["/%ff%fe/%00", "/a/../../b", "/%2e%2e/%2F", "//x//"] {
        let r = get(tb.envoy.port, path, &[("authorization", bearer.as_bytes())]);
        probe.sent += 1;
        probe.still_alive(path);
        assert!(r.status < 500, "{path}: {} {}", r.status, r.text());
    }
    // Over the filter's Authorization limit (8 KiB + 256) but under Envoy's 60 KiB of headers:
    // a well-formed Bearer header carries a token that is too large; any other value is a bad
    // header.
    let big = format!("Bearer {}", "a".repeat(9 * 1024));
    probe.refused_with(
        "a 9 KiB bearer token",
        &[("authorization", big.as_bytes())],
        "invalid_token",
        "Token is too large",
    );
    let big_other = format!("Basic {}", "a".repeat(9 * 1024));
    probe.refused_with(
        "a 9 KiB Basic header",
        &[("authorization", big_other.as_bytes())],
        "invalid_header",
        "Authorization header is too large",
    );
    // 64 KiB: Envoy's codec refuses it (431) before any filter runs.
    let huge = format!("Bearer {}", "a".repeat(64 * 1024));
    let r = probe.send("a 64 KiB header", &[("authorization", huge.as_bytes())]);
    assert_eq!(r.status, 431, "{}", r.text());

    // ---- Shapes that are not one compact JWS ----
    let many = format!("{}a", "a.".repeat(3_000));
    probe.token_refused("thousands of segments", &many, "invalid_token", NOT_JWS);
    let dots = ".".repeat(4_000);
    probe.token_refused("only dots", &dots, "invalid_token", NOT_JWS);
    let good_es = minter.mint(&MintRequest::new(Alg::Es384)).unwrap();
    let jwe = format!("{}.a.b.c.d", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
    probe.token_refused("a compact JWE (five parts)", &jwe, "invalid_token", NOT_JWS);
    let (input, signature) = good_es.rsplit_once('.').unwrap();
    for (name, token, description) in [
        ("padding", format!("{good_es}=="), BAD_BASE64),
        (
            "the standard alphabet",
            format!("{input}.+{}", &signature[1..]),
            BAD_BASE64,
        ),
        (
            "a space in the token",
            format!("{input}.{}%20", &signature[1..]),
            BAD_BASE64,
        ),
        (
            "4n+1 characters",
            format!("{input}.{signature}A"),
            BAD_BASE64,
        ),
        (
            "a percent-escaped dot",
            format!("{input}%2E{signature}"),
            NOT_JWS,
        ),
    ] {
        probe.token_refused(name, &token, "invalid_token", description);
    }
    let oversized = format!(
        "{}.{}.{}",
        b64(rs_header.as_bytes()),
        "a".repeat(8 * 1024),
        "sig"
    );
    probe.token_refused(
        "a token over 8 KiB",
        &oversized,
        "invalid_token",
        "Token is too large",
    );

    // ---- Header and payload JSON (all signed with the provider's real key) ----
    let deep = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let deep_header = format!(r#"{{"alg":"RS256","kid":"rsa-1","x":{}}}"#, deep(2_000));
    probe.signed_refused(
        "deep JSON in the header",
        Alg::Rs256,
        &deep_header,
        &claims,
        "invalid_token",
        "Token header is nested too deeply",
    );
    let mut deep_claims = probe.good_claims();
    deep_claims["x"] = serde_json::from_str(&deep(100)).unwrap();
    probe.signed_refused(
        "deep JSON in the payload",
        Alg::Rs256,
        rs_header,
        &deep_claims.to_string(),
        "invalid_token",
        "Token payload is nested too deeply",
    );
    let raw_deep = format!(r#"{{"iss":"{}","x":{}}}"#, minter.issuer(), deep(2_500));
    let token = assemble(rs_header, &raw_deep, b"sig");
    probe.token_refused(
        "2,500 levels in the payload",
        &token,
        "invalid_token",
        "Token payload is nested too deeply",
    );
    // Nesting within the limit is fine.
    let mut nested_ok = probe.good_claims();
    nested_ok["authorization_details"] = serde_json::from_str(&deep(10)).unwrap();
    let token = minter
        .sign_raw(Alg::Rs256, rs_header, &nested_ok.to_string())
        .unwrap();
    probe.token_accepted("ten levels of nesting", &token);

    let issuer = minter.issuer().to_owned();
    let audience = minter.audience().to_owned();
    let exp = testbed::mint::now_secs() + 300;
    for (name, payload, code, description) in [
        (
            "a duplicate iss",
            format!(r#"{{"iss":"https://evil/","aud":"{audience}","exp":{exp},"iss":"{issuer}"}}"#),
            "invalid_token",
            "Token payload has a duplicate member",
        ),
        (
            "a duplicate nested member",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp},"x":{{"a":1,"a":2}}}}"#),
            "invalid_token",
            "Token payload has a duplicate member",
        ),
        (
            "an escaped duplicate exp",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp},"\u0065xp":1}}"#),
            "invalid_token",
            "Token payload has a duplicate member",
        ),
        (
            "exp as a string",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":"{exp}"}}"#),
            "invalid_claims",
            "A time claim is not a number",
        ),
        (
            "exp beyond 9999",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":1e300}}"#),
            "invalid_claims",
            "A time claim is out of range",
        ),
        (
            "nbf negative",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp},"nbf":-1}}"#),
            "invalid_claims",
            "A time claim is out of range",
        ),
        (
            "iat null",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp},"iat":null}}"#),
            "invalid_claims",
            "A time claim is not a number",
        ),
        (
            "iss not a string",
            format!(r#"{{"iss":["{issuer}"],"aud":"{audience}","exp":{exp}}}"#),
            "invalid_claims",
            "Token issuer is not a string",
        ),
        (
            "aud with a number",
            format!(r#"{{"iss":"{issuer}","aud":["{audience}",1],"exp":{exp}}}"#),
            "invalid_claims",
            "Token audience is not a string",
        ),
        (
            "sub not a string",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp},"sub":1}}"#),
            "invalid_claims",
            "A registered claim is not a string",
        ),
        (
            "a number out of JSON's range",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":1e999}}"#),
            "invalid_token",
            "Token payload is not a JSON object",
        ),
        (
            "a lone surrogate",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp},"x":"\ud800"}}"#),
            "invalid_token",
            "Token payload is not a JSON object",
        ),
        (
            "trailing data",
            format!(r#"{{"iss":"{issuer}","aud":"{audience}","exp":{exp}}} {{}}"#),
            "invalid_token",
            "Token payload is not a JSON object",
        ),
        (
            "a JSON array",
            format!(r#"[{{"iss":"{issuer}","aud":"{audience}","exp":{exp}}}]"#),
            "invalid_token",
            "Token payload is not a JSON object",
        ),
    ] {
        probe.signed_refused(name, Alg::Rs256, rs_header, &payload, code, description);
    }
    // Bytes that are not UTF-8 inside the JSON.
    let mut latin1 = br#"{"alg":"RS256","kid":"rsa-1","x":""#.to_vec();
    latin1.extend([0xe9, b'"', b'}']);
    let token = format!(
        "{}.{}.{}",
        b64(&latin1),
        b64(claims.as_bytes()),
        b64(b"sig")
    );
    probe.token_refused(
        "Latin-1 in the header JSON",
        &token,
        "invalid_token",
        "Token header is not a JSON object",
    );
    for (name, header, description) in [
        (
            "a duplicate alg",
            r#"{"alg":"RS256","kid":"rsa-1","alg":"none"}"#,
            "Token header has a duplicate member",
        ),
        (
            "a 300-byte kid",
            &*format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(300)),
            "Token key id is too long",
        ),
        (
            "a typ that is no JWT",
            r#"{"alg":"RS256","kid":"rsa-1","typ":"secevent+jwt"}"#,
            "Token type is not accepted",
        ),
        (
            "crit with b64 false",
            r#"{"alg":"RS256","kid":"rsa-1","crit":["b64"],"b64":false}"#,
            "Token uses an unsupported critical header",
        ),
        (
            "an unknown crit",
            r#"{"alg":"RS256","kid":"rsa-1","crit":["urn:x"],"urn:x":1}"#,
            "Token uses an unsupported critical header",
        ),
        (
            "a nested JWT (cty)",
            r#"{"alg":"RS256","kid":"rsa-1","cty":"JWT"}"#,
            "Nested or encrypted tokens are not accepted",
        ),
        (
            "an encrypted header (enc)",
            r#"{"alg":"RS256","kid":"rsa-1","enc":"A256GCM"}"#,
            "Nested or encrypted tokens are not accepted",
        ),
    ] {
        probe.signed_refused(
            name,
            Alg::Rs256,
            header,
            &claims,
            "invalid_token",
            description,
        );
    }
    // typ at+jwt is accepted by default.
    let at_jwt = minter
        .mint(&MintRequest {
            typ: Some("at+jwt".into()),
            ..MintRequest::new(Alg::Es384)
        })
        .unwrap();
    probe.token_accepted("typ at+jwt", &at_jwt);

    // ---- alg: none, HMAC with the public key, outside the allowlist, wrong key type ----
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let unsigned = format!("{}.{}.", b64(header.as_bytes()), b64(claims.as_bytes()));
        probe.token_refused(
            &format!("alg {alg}, unsigned"),
            &unsigned,
            "invalid_token",
            "Token is not signed",
        );
        probe.signed_refused(
            &format!("alg {alg}, signed"),
            Alg::Rs256,
            &header,
            &claims,
            "invalid_token",
            NOT_ALLOWED,
        );
    }
    let rsa_key = minter.signing_key(Alg::Rs256).unwrap();
    let KeyMaterial::Rsa(private) = rsa_key.material() else {
        unreachable!()
    };
    let modulus = private.n().to_bytes_be();
    let public_jwk = rsa_key.public_jwk().to_string();
    let jwks_text = tb.idp.jwks().to_string();
    for (what, secret) in [
        ("the modulus", modulus.clone()),
        ("the public JWK", public_jwk.into_bytes()),
        ("the JWKS document", jwks_text.into_bytes()),
    ] {
        for alg in ["HS256", "HS384", "HS512"] {
            let header = format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#);
            let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
            let mac = hmac_sha256(&secret, input.as_bytes());
            let forged = format!("{input}.{}", b64(&mac));
            probe.token_refused(
                &format!("{alg} keyed with {what}"),
                &forged,
                "invalid_token",
                NOT_ALLOWED,
            );
        }
    }
    // Algorithms we support, naming a key published for RS256: the key does not fit.
    for alg in ["RS512", "PS256", "ES256", "EdDSA"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#);
        probe.signed_refused(
            &format!("alg {alg} naming the RS256 key"),
            Alg::Rs256,
            &header,
            &claims,
            "invalid_token",
            "No key of the issuer matches the token",
        );
    }
    // Names that are not JOSE algorithms (they are case-sensitive) are never allowed.
    for alg in ["rs256", "RS1", "ES256K"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"rsa-1"}}"#);
        probe.signed_refused(
            &format!("alg {alg}"),
            Alg::Rs256,
            &header,
            &claims,
            "invalid_token",
            NOT_ALLOWED,
        );
    }
    probe.signed_refused(
        "ES384 naming the RSA key",
        Alg::Es384,
        r#"{"alg":"ES384","kid":"rsa-1"}"#,
        &claims,
        "invalid_token",
        "No key of the issuer matches the token",
    );
    probe.signed_refused(
        "RS256 header over an ES384 signature",
        Alg::Es384,
        r#"{"alg":"RS256"}"#,
        &claims,
        "invalid_token",
        BAD_SIGNATURE,
    );

    // ---- Keys named or carried by the token: never used, never fetched ----
    let idp_jwks = format!(
        "http://127.0.0.1:{}/.well-known/jwks.json?from=token",
        tb.idp.port()
    );
    for alg in [Alg::Rs256, Alg::Es384] {
        let real_kid = minter.signing_key(alg).unwrap().kid().to_owned();
        let attacker = Key::generate(alg, real_kid.clone()).unwrap();
        let stranger = Key::generate(alg, "attacker").unwrap();
        for (member, value) in [
            ("jku", json!(counter.url("/jwks.json"))),
            ("jku", json!(idp_jwks)),
            ("x5u", json!(counter.url("/cert.pem"))),
            ("x5u", json!(idp_jwks)),
            ("jwk", attacker.public_jwk()),
            (
                "x5c",
                json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
            ),
        ] {
            for (who, key) in [("same kid", &attacker), ("own kid", &stranger)] {
                let mut header = serde_json::Map::new();
                header.insert("alg".into(), alg.name().into());
                header.insert("kid".into(), key.kid().into());
                header.insert(member.into(), value.clone());
                let header = Value::Object(header).to_string();
                let forged = sign_raw_with(key, &header, &claims).unwrap();
                let description = if who == "own kid" {
                    "No key of the issuer matches the token"
                } else {
                    BAD_SIGNATURE
                };
                probe.token_refused(
                    &format!("{member} ({who}, {alg})"),
                    &forged,
                    "invalid_token",
                    description,
                );
            }
            // The same header on a token the provider signed: ignored, the token is valid.
            let mut header = serde_json::Map::new();
            header.insert("alg".into(), alg.name().into());
            header.insert("kid".into(), real_kid.clone().into());
            header.insert(member.into(), value);
            let real = minter
                .sign_raw(alg, &Value::Object(header).to_string(), &claims)
                .unwrap();
            probe.token_accepted(&format!("{member} on a real token ({alg})"), &real);
        }
    }

    // ---- Signature encodings ----
    let es = minter.mint(&MintRequest::new(Alg::Es384)).unwrap();
    let (es_input, _) = es.rsplit_once('.').unwrap();
    let KeyMaterial::P384(ec_key) = minter.signing_key(Alg::Es384).unwrap().material() else {
        unreachable!()
    };
    let signature: p384::ecdsa::Signature =
        p384::ecdsa::signature::Signer::sign(ec_key, es_input.as_bytes());
    let der = signature.to_der();
    probe.token_refused(
        "ES384 signature in DER",
        &replace_signature(&es, der.as_bytes()),
        "invalid_token",
        BAD_SIGNATURE,
    );
    probe.token_accepted(
        "the same signature as raw r||s",
        &replace_signature(&es, &signature.to_bytes()),
    );
    probe.token_refused(
        "ES384 r = s = 0 (CVE-2022-21449)",
        &replace_signature(&es, &[0; 96]),
        "invalid_token",
        BAD_SIGNATURE,
    );
    let order = hex("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973");
    let raw = signature.to_bytes();
    let (r, s) = raw.split_at(48);
    for (name, bad) in [
        ("ES384 r = n", [order.as_slice(), s].concat()),
        ("ES384 s = n", [r, order.as_slice()].concat()),
        ("ES384 all ones", vec![0xff; 96]),
        ("ES384 95 bytes", raw[1..].to_vec()),
        ("ES384 97 bytes", [&[0_u8][..], &raw].concat()),
    ] {
        probe.token_refused(
            name,
            &replace_signature(&es, &bad),
            "invalid_token",
            BAD_SIGNATURE,
        );
    }
    let rs = minter.mint(&MintRequest::new(Alg::Rs256)).unwrap();
    let (_, rs_signature) = rs.rsplit_once('.').unwrap();
    let rs_signature = URL_SAFE_NO_PAD.decode(rs_signature).unwrap();
    let mut above = modulus.clone();
    *above.last_mut().unwrap() = above.last().unwrap().wrapping_add(1);
    for (name, bad) in [
        ("RSA signature = modulus", modulus.clone()),
        ("RSA signature above the modulus", above),
        ("RSA signature all ones", vec![0xff; modulus.len()]),
        ("RSA signature zero", vec![0; modulus.len()]),
        (
            "RSA signature with a leading zero",
            [&[0_u8][..], &rs_signature].concat(),
        ),
        ("RSA signature one byte short", rs_signature[1..].to_vec()),
    ] {
        probe.token_refused(
            name,
            &replace_signature(&rs, &bad),
            "invalid_token",
            BAD_SIGNATURE,
        );
    }

    // ---- Nothing was fetched on a token's say-so ----
    assert_eq!(counter.hits(), 0, "a token made the filter fetch a URL");
    // Refetching for unknown kids is off here (`unknown_kid_refetch_interval: 0s`), so the
    // configured JWKS is fetched once; the bound of one more covers a retry of that first fetch.
    assert!(
        tb.idp.jwks_fetches() <= fetches_at_start + 1,
        "tokens made the filter fetch the provider's JWKS more than the rate limit allows: {} > {}",
        tb.idp.jwks_fetches(),
        fetches_at_start + 1
    );

    // ---- No VM failed ----
    let log = tb.envoy.log();
    assert!(
        !log.contains("panicked at"),
        "a VM panicked:\n{}",
        tb.envoy.log_tail(40)
    );
    assert!(
        !log.contains("Uncaught RuntimeError"),
        "a VM trapped:\n{}",
        tb.envoy.log_tail(40)
    );
    assert_eq!(tb.envoy.stat("wasm.jwt_authn.vm_reload_failure"), Some(0));
    assert!(probe.sent > 100, "only {} hostile requests", probe.sent);
    eprintln!(
        "{} hostile requests, each followed by a liveness check",
        probe.sent
    );
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}
