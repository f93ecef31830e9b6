//! Microbenchmark of the signature paths, natively or as wasm32-wasip1 under V8 (node's WASI).
//!
//! ```text
//! verify-bench FIXTURE_DIR [SECONDS_PER_CASE] [SECONDS_PER_ALGORITHM]
//! ```
//!
//! `FIXTURE_DIR` holds `jwks.json` and `rs256.txt` / `es384.txt` (one token per line), written by
//! `bench-driver`. Each case runs for about `SECONDS_PER_CASE` (default 1.5) and prints one JSON
//! object per line: the filter's own path (`KeySet::verify_with` with the key set parsed once, as
//! the filter does) and the stock RustCrypto path (rsa 0.9 / p384 0.13 verify) side by side, so
//! one run on one noisy machine gives a ratio.
//!
//! Every other `<alg>.txt` in the directory (`rs384.txt`, `ps256.txt`, `es512.txt`,
//! `eddsa.txt`, ...) is timed for `SECONDS_PER_ALGORITHM` (default 1.0) on the backend the filter
//! uses inside the sandbox (`crypto: wasm`, the plan of a host without `verify_signature`): our
//! own RSA (PKCS#1 v1.5 and PSS) and P-384, RustCrypto's `p256` and `p521`, `ed25519-dalek`. The
//! host's BoringSSL (`crypto: auto` for RS*, ES256, ES512) exists only inside Envoy:
//! `bench-driver`'s `wasm_crypto_*` listeners and `callgrind-envoy.py --algorithms` measure it.
//!
//! It also times the filter's whole request decision (`flow::on_request_headers`: token lookup,
//! cache probe, checks, verification, route requirement, upstream edits) with the bench's plugin
//! configuration: once for a token in the verified-token cache (a hit), once with the cache off
//! (every request parses and verifies).

use std::rc::Rc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwt_authn_wasm::config::token::CacheConfig;
use jwt_authn_wasm::config::Config;
use jwt_authn_wasm::keys::jwks::KeySet;
use jwt_authn_wasm::keys::source::KeySource;
use jwt_authn_wasm::keys::store::{Availability, KeyVersion};
use jwt_authn_wasm::request::flow::{self, Decision, TokenCache};
use jwt_authn_wasm::request::view::{RequestView, RouteProperty};
use jwt_authn_wasm::verify::{Algorithm, Plan};
use p384::ecdsa::signature::Verifier as _;
use serde_json::Value;

struct Token {
    kid: Option<String>,
    /// The header's `alg`.
    alg: String,
    signing_input: Vec<u8>,
    signature: Vec<u8>,
    /// `Bearer <token>`, for the whole-decision benchmark.
    bearer: Vec<u8>,
    /// The payload's claims.
    claims: Value,
}

/// A `GET /` request with one `Authorization` header.
struct Request<'a>(&'a [u8]);

impl RequestView for Request<'_> {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        match name {
            ":method" => Some(b"GET".to_vec()),
            ":path" => Some(b"/".to_vec()),
            ":authority" => Some(b"bench".to_vec()),
            "authorization" => Some(self.0.to_vec()),
            _ => None,
        }
    }

    fn route(&self, _: RouteProperty) -> Option<Vec<u8>> {
        None
    }

    fn connection(&self, _: jwt_authn_wasm::request::view::ConnectionProperty) -> Option<Vec<u8>> {
        None
    }
}

/// One provider whose key set is ready (generation 1), as a worker sees it after the first fetch.
struct ReadyKeys(Rc<KeySet>);

impl KeySource for ReadyKeys {
    fn availability(&mut self, _index: usize) -> Availability {
        Availability::Ready(
            Rc::clone(&self.0),
            KeyVersion {
                generation: 1,
                fetches: 1,
            },
        )
    }
    fn request_refetch(
        &mut self,
        _index: usize,
        _kid: &str,
        _seen: jwt_authn_wasm::keys::store::KeyVersion,
    ) -> jwt_authn_wasm::keys::source::Refetch {
        jwt_authn_wasm::keys::source::Refetch::Refused
    }
    fn kid_not_found(&mut self, _index: usize, _kid: &str) {}
}

/// Nothing here is timed: the benchmark times whole decisions itself.
impl jwt_authn_wasm::verify::VerificationTiming for ReadyKeys {}

/// No provider here binds tokens, so no proof is ever checked.
impl jwt_authn_wasm::request::binding::BindingServices for ReadyKeys {
    fn verifier(&self) -> &jwt_authn_wasm::verify::Verifier {
        self.0.verifier()
    }
    fn record_proof(
        &mut self,
        _: usize,
        _: &[u8; 16],
        _: u64,
        _: u64,
    ) -> jwt_authn_wasm::request::binding::Recorded {
        jwt_authn_wasm::request::binding::Recorded::Unavailable
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{path}: {e}"))
}

fn tokens(path: &str) -> Result<Vec<Token>, String> {
    let text = String::from_utf8(read(path)?).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.split('.');
        let (Some(h), Some(p), Some(s)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("malformed token".into());
        };
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        out.push(Token {
            kid: header["kid"].as_str().map(str::to_owned),
            alg: header["alg"].as_str().unwrap_or_default().to_owned(),
            signing_input: format!("{h}.{p}").into_bytes(),
            signature: URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())?,
            bearer: format!("Bearer {line}").into_bytes(),
            claims,
        });
    }
    if out.is_empty() {
        return Err(format!("{path}: no tokens"));
    }
    Ok(out)
}

/// Runs `f` over and over for about `budget`, returns microseconds per call.
fn time(budget: Duration, mut f: impl FnMut(usize) -> bool) -> Result<f64, String> {
    // Warm up (and check every call succeeds).
    for i in 0..3 {
        if !f(i) {
            return Err("verification failed".into());
        }
    }
    let start = Instant::now();
    let mut n = 0_usize;
    while n < 5 || start.elapsed() < budget {
        if !f(n) {
            return Err("verification failed".into());
        }
        n += 1;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn b64_member(jwk: &Value, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk[name].as_str().ok_or(format!("no {name}"))?;
    URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
}

/// What verifies `alg` inside the sandbox (the `crypto: wasm` plan).
fn implementation(alg: Algorithm) -> &'static str {
    use Algorithm::*;
    match alg {
        Rs256 | Rs384 | Rs512 => "own RSA, PKCS#1 v1.5",
        Ps256 | Ps384 | Ps512 => "own RSA, PSS",
        Es384 => "own P-384",
        Es256 => "RustCrypto p256",
        Es512 => "RustCrypto p521",
        EdDsa => "ed25519-dalek",
        Hs256 | Hs384 | Hs512 => "RustCrypto hmac",
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: verify-bench FIXTURE_DIR [SECONDS] [SECONDS_PER_ALGORITHM]")?;
    let secs: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1.5);
    let budget = Duration::from_secs_f64(secs);
    let alg_secs: f64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let alg_budget = Duration::from_secs_f64(alg_secs);
    let runtime = if cfg!(target_arch = "wasm32") {
        "wasm (V8)"
    } else {
        "native"
    };
    let doc = read(&format!("{dir}/jwks.json"))?;
    let rs = tokens(&format!("{dir}/rs256.txt"))?;
    let es = tokens(&format!("{dir}/es384.txt"))?;

    // The historical figure: the mock IdP's two default keys (`rsa-1`, `ec-1`), whatever else
    // the run's key set holds; then the whole set.
    let two_keys = {
        let mut all: Value = serde_json::from_slice(&doc).map_err(|e| e.to_string())?;
        if let Some(keys) = all["keys"].as_array_mut() {
            keys.retain(|k| k["kid"] == "rsa-1" || k["kid"] == "ec-1");
        }
        all.to_string().into_bytes()
    };
    let parse_us = time(budget, |_| {
        KeySet::parse(&two_keys, &jwt_authn_wasm::verify::Verifier::default()).is_ok()
    })?;
    let all_keys = serde_json::from_slice::<Value>(&doc)
        .ok()
        .and_then(|d| d["keys"].as_array().map(Vec::len))
        .unwrap_or(0);
    let parse_all_us = time(alg_budget, |_| {
        KeySet::parse(&doc, &jwt_authn_wasm::verify::Verifier::default()).is_ok()
    })?;
    let set = KeySet::parse(&doc, &jwt_authn_wasm::verify::Verifier::default())
        .map_err(|e| e.to_string())?
        .keys;

    let fast = |alg: Algorithm, toks: &[Token]| {
        time(budget, |i| {
            let t = &toks[i % toks.len()];
            set.verify_with(t.kid.as_deref(), alg, &t.signing_input, &t.signature)
                == jwt_authn_wasm::keys::jwks::KeyMatch::Verified
        })
    };
    let rs_fast = fast(Algorithm::Rs256, &rs)?;
    let es_fast = fast(Algorithm::Es384, &es)?;

    // Every algorithm with a fixture, on its in-sandbox backend (RS256 and ES384: the figures
    // just measured).
    let plan = Plan::default();
    let mut per_alg = serde_json::Map::new();
    for alg in Algorithm::ASYMMETRIC {
        let path = format!("{dir}/{}.txt", alg.name().to_ascii_lowercase());
        if !std::path::Path::new(&path).exists() {
            continue;
        }
        let toks = tokens(&path)?;
        if toks.iter().any(|t| t.alg != alg.name()) {
            return Err(format!("{path}: a token whose alg is not {alg}"));
        }
        let us = match alg {
            Algorithm::Rs256 => rs_fast,
            Algorithm::Es384 => es_fast,
            _ => time(alg_budget, |i| {
                let t = &toks[i % toks.len()];
                set.verify_with(t.kid.as_deref(), alg, &t.signing_input, &t.signature)
                    == jwt_authn_wasm::keys::jwks::KeyMatch::Verified
            })?,
        };
        per_alg.insert(
            alg.name().to_owned(),
            serde_json::json!({
                "backend": plan.backend(alg).map_or("none", |b| b.name()),
                "implementation": implementation(alg),
                "us": us,
            }),
        );
    }

    // Stock RustCrypto, keys built once from the same document.
    let jwks: Value = serde_json::from_slice(&doc).map_err(|e| e.to_string())?;
    let keys = jwks["keys"].as_array().ok_or("no keys")?;
    // The keys of the RS256 and ES384 tokens (the set has a key per algorithm).
    let key_of = |t: &Token| {
        keys.iter()
            .find(|k| k["kid"].as_str() == t.kid.as_deref())
            .ok_or(format!("no key {:?}", t.kid))
    };
    let rsa_jwk = key_of(&rs[0])?;
    let ec_jwk = key_of(&es[0])?;
    let rsa_key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&b64_member(rsa_jwk, "n")?),
        rsa::BigUint::from_bytes_be(&b64_member(rsa_jwk, "e")?),
    )
    .map_err(|e| e.to_string())?;
    let rsa_verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(rsa_key);
    let mut sec1 = vec![4_u8];
    sec1.extend(b64_member(ec_jwk, "x")?);
    sec1.extend(b64_member(ec_jwk, "y")?);
    let ec_verifier =
        p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(|e| e.to_string())?;
    let rs_stock = time(budget, |i| {
        let t = &rs[i % rs.len()];
        rsa::pkcs1v15::Signature::try_from(t.signature.as_slice())
            .is_ok_and(|sig| rsa_verifier.verify(&t.signing_input, &sig).is_ok())
    })?;
    let es_stock = time(budget, |i| {
        let t = &es[i % es.len()];
        p384::ecdsa::Signature::from_slice(&t.signature)
            .is_ok_and(|sig| ec_verifier.verify(&t.signing_input, &sig).is_ok())
    })?;

    // The whole request decision, with the bench listener's plugin configuration.
    let first = &rs[0].claims;
    let audience = match &first["aud"] {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    let plugin = serde_json::json!({
        "realm": "bench",
        "providers": [{
            "name": "mock",
            "issuer": first["iss"],
            "audiences": [audience],
            "remote_jwks": {"http_uri": {"uri": "http://127.0.0.1/jwks", "cluster": "idp", "timeout": "5s"}, "cache_duration": "600s"},
            "algorithms": ["RS256", "ES384"],
            "clock_skew_seconds": 60
        }]
    });
    let config = Config::parse(plugin.to_string().as_bytes()).map_err(|e| format!("{e:?}"))?;
    let mut keys = ReadyKeys(Rc::new(set));
    let decide = |toks: &[Token], cache: CacheConfig, keys: &mut ReadyKeys| {
        let mut cache = TokenCache::new(cache);
        time(budget, |i| {
            let t = &toks[i % toks.len()];
            matches!(
                flow::on_request_headers(&config, &Request(&t.bearer), keys, &mut cache, now_ms()),
                Decision::Allow(_)
            )
        })
    };
    let off = CacheConfig {
        capacity: 0,
        ..CacheConfig::default()
    };
    let rs_hit = decide(&rs[..1], CacheConfig::default(), &mut keys)?;
    let rs_miss = decide(&rs, off, &mut keys)?;
    let es_hit = decide(&es[..1], CacheConfig::default(), &mut keys)?;
    let es_miss = decide(&es, off, &mut keys)?;
    println!(
        "{}",
        serde_json::json!({
            "runtime": runtime,
            "jwks_parse_us": parse_us,
            "jwks_parse_all_us": parse_all_us,
            "jwks_keys": all_keys,
            "verify": per_alg,
            "rs256_filter_us": rs_fast,
            "rs256_stock_us": rs_stock,
            "es384_filter_us": es_fast,
            "es384_stock_us": es_stock,
            "rs256_decide_hit_us": rs_hit,
            "rs256_decide_miss_us": rs_miss,
            "es384_decide_hit_us": es_hit,
            "es384_decide_miss_us": es_miss,
        })
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("verify-bench: {e}");
        std::process::exit(1);
    }
}
