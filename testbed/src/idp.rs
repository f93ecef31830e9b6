//! A mock OpenID Connect identity provider: discovery document, JWKS, a token minting endpoint
//! and switchable fault modes, so tests can drive the filter's key fetching through every
//! failure it must survive.
//!
//! Routes (served at the root and, when the issuer URL has a path such as `/oidc`, also under
//! that path, as Logto-style providers do):
//! - `GET /.well-known/openid-configuration`: discovery (fault modes apply, counted).
//! - `GET /.well-known/jwks.json`: the JWKS with `Cache-Control: max-age=N` (fault modes apply,
//!   counted).
//! - `POST /mint`: body is a [`MintRequest`] as JSON (may be empty); answers `{"token": "..."}`.
//! - `POST /control`: any of `{"rotate": true}`, `{"fault": "none|down|500|slow|garbage|
//!   oversized|empty_keys"}`, `{"slow_ms": N}`, `{"remove_key": "kid"}`, `{"max_age": N}`,
//!   `{"reset_stats": true}`; answers the resulting state.
//! - `GET /stats`: `{"jwks_fetches": N, "discovery_fetches": N}`.
//!
//! Keys: one per algorithm of [`IdpOptions::algorithms`] (by default `rsa-1` for RS256 and
//! `ec-1` for ES384), named by [`Alg::kid`]. HMAC keys sign tokens but are never published:
//! a filter takes HS* secrets only from its local configuration ([`IdpServer::hmac_secret`]).

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{Handler, Reply, Request, Response, Server};
use crate::mint::{
    generate_keys, Alg, Key, MintError, MintRequest, Minter, DEFAULT_AUDIENCE, DEFAULT_RSA_BITS,
};

/// The issuer used when none is configured. It is deliberately not the server's address:
/// Envoy reaches the provider through a cluster, so the two are independent in production too.
pub const DEFAULT_ISSUER: &str = "https://idp.example.test/";

/// Default `Cache-Control: max-age` of the JWKS, in seconds.
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;

/// Default delay of [`Fault::Slow`] when it is switched on through `/control` without `slow_ms`.
pub const DEFAULT_SLOW_MS: u64 = 3000;

/// Size of the [`Fault::Oversized`] JWKS body: comfortably past any sane fetch limit.
const OVERSIZED_BYTES: usize = 1024 * 1024 + 1024;

/// How to start an [`IdpServer`].
#[derive(Clone, Debug, Default)]
pub struct IdpOptions {
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The `iss` of minted tokens and of the discovery document; default [`DEFAULT_ISSUER`].
    pub issuer: Option<String>,
    /// The default `aud` of minted tokens; default [`DEFAULT_AUDIENCE`].
    pub audience: Option<String>,
    /// The JWKS `Cache-Control: max-age`; default [`DEFAULT_MAX_AGE_SECS`].
    pub max_age_secs: Option<u64>,
    /// One signing key per algorithm listed, published in this order (HMAC keys excepted);
    /// default [`Alg::DEFAULT`] (`rsa-1` and `ec-1`). [`Alg::ALL`] gives every algorithm.
    pub algorithms: Option<Vec<Alg>>,
    /// The modulus size of the RSA keys; default [`DEFAULT_RSA_BITS`].
    pub rsa_bits: Option<usize>,
}

/// How the discovery and JWKS routes misbehave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Close the connection without any response.
    Down,
    /// Answer 500.
    Status500,
    /// Wait this long, then answer normally.
    Slow(Duration),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Answer 200 with a valid JWKS padded to over 1 MiB.
    Oversized,
    /// Answer 200 with `{"keys":[]}`.
    EmptyKeys,
}

impl Fault {
    /// The name used by `/control` (`slow` for any [`Fault::Slow`]).
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Down => "down",
            Fault::Status500 => "500",
            Fault::Slow(_) => "slow",
            Fault::Garbage => "garbage",
            Fault::Oversized => "oversized",
            Fault::EmptyKeys => "empty_keys",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;

    /// Parses a `/control` fault name; `slow` gets [`DEFAULT_SLOW_MS`].
    fn from_str(s: &str) -> Result<Fault, String> {
        Ok(match s {
            "none" => Fault::None,
            "down" => Fault::Down,
            "500" => Fault::Status500,
            "slow" => Fault::Slow(Duration::from_millis(DEFAULT_SLOW_MS)),
            "garbage" => Fault::Garbage,
            "oversized" => Fault::Oversized,
            "empty_keys" => Fault::EmptyKeys,
            other => return Err(format!("unknown fault {other:?}")),
        })
    }
}

/// The published keys and the current signing keys.
struct KeyRing {
    /// Keys listed in the JWKS, oldest first.
    published: Vec<Arc<Key>>,
    /// Signs new tokens; may hold a key already removed from `published`.
    minter: Minter,
    /// Number of the last generated key generation (`rsa-N`, `ec-N`).
    generation: u32,
    /// A rotation in two steps, between its steps ([`IdpServer::begin_rotation`]).
    upcoming: Option<(RotationOrder, Vec<Arc<Key>>)>,
}

/// Which half of a key rotation an identity provider does first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotationOrder {
    /// Publish the new key, sign with it later: the order IdPs are meant to follow.
    PublishThenSign,
    /// Sign with the new key before it is published (a lagging CDN, a replica behind).
    SignThenPublish,
}

impl KeyRing {
    /// Signs with `keys` from now on and publishes those with a public half.
    fn adopt(&mut self, keys: Vec<Arc<Key>>) -> Result<(), MintError> {
        self.minter = Minter::new(
            self.minter.issuer(),
            self.minter.audience(),
            keys.iter().cloned(),
        )?;
        self.published
            .extend(keys.into_iter().filter(|key| !key.alg().is_hmac()));
        Ok(())
    }
}

/// State shared between the handle and the server threads.
struct State {
    issuer: String,
    /// The issuer URL's path without a trailing slash (`""` or e.g. `"/oidc"`).
    prefix: String,
    base_url: String,
    /// The algorithms with a key, in publishing order.
    algorithms: Vec<Alg>,
    rsa_bits: usize,
    keys: Mutex<KeyRing>,
    fault: Mutex<Fault>,
    max_age_secs: AtomicU64,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
}

impl State {
    fn keys(&self) -> MutexGuard<'_, KeyRing> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }

    fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys()
            .published
            .iter()
            .map(|k| k.public_jwk())
            .collect();
        json!({ "keys": keys })
    }

    fn minter(&self) -> Minter {
        self.keys().minter.clone()
    }

    fn discovery(&self) -> Value {
        let base = format!("{}{}", self.base_url, self.prefix);
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{base}/.well-known/jwks.json"),
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": self
                .algorithms
                .iter()
                .filter(|alg| !alg.is_hmac())
                .map(|alg| alg.name())
                .collect::<Vec<_>>(),
        })
    }

    fn rotate(&self) -> Result<(), MintError> {
        let generation = self.keys().generation + 1;
        // Generate outside the lock: RSA key generation takes a noticeable moment.
        let keys = generate_keys(&self.algorithms, generation, self.rsa_bits)?;
        let mut ring = self.keys();
        ring.adopt(keys)?;
        ring.generation = ring.generation.max(generation);
        Ok(())
    }

    fn begin_rotation(&self, order: RotationOrder) -> Result<(), MintError> {
        self.finish_rotation()?;
        let generation = self.keys().generation + 1;
        let keys = generate_keys(&self.algorithms, generation, self.rsa_bits)?;
        let mut ring = self.keys();
        ring.generation = ring.generation.max(generation);
        match order {
            RotationOrder::PublishThenSign => ring
                .published
                .extend(keys.iter().filter(|key| !key.alg().is_hmac()).cloned()),
            RotationOrder::SignThenPublish => {
                ring.minter = Minter::new(
                    ring.minter.issuer(),
                    ring.minter.audience(),
                    keys.iter().cloned(),
                )?;
            }
        }
        ring.upcoming = Some((order, keys));
        Ok(())
    }

    fn finish_rotation(&self) -> Result<(), MintError> {
        let mut ring = self.keys();
        match ring.upcoming.take() {
            Some((RotationOrder::PublishThenSign, keys)) => {
                ring.minter = Minter::new(ring.minter.issuer(), ring.minter.audience(), keys)?;
            }
            Some((RotationOrder::SignThenPublish, keys)) => ring
                .published
                .extend(keys.into_iter().filter(|key| !key.alg().is_hmac())),
            None => {}
        }
        Ok(())
    }

    fn remove_key(&self, kid: &str) -> bool {
        let mut ring = self.keys();
        let before = ring.published.len();
        ring.published.retain(|k| k.kid() != kid);
        ring.published.len() != before
    }

    fn kids(&self) -> Vec<String> {
        self.keys()
            .published
            .iter()
            .map(|k| k.kid().to_owned())
            .collect()
    }

    fn stats(&self) -> Value {
        json!({
            "jwks_fetches": self.jwks_fetches.load(Ordering::SeqCst),
            "discovery_fetches": self.discovery_fetches.load(Ordering::SeqCst),
        })
    }

    fn control_state(&self) -> Value {
        let fault = self.fault();
        let mut state = json!({
            "fault": fault.name(),
            "kids": self.kids(),
            "max_age": self.max_age_secs.load(Ordering::SeqCst),
            "stats": self.stats(),
        });
        if let (Fault::Slow(d), Some(obj)) = (fault, state.as_object_mut()) {
            let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
            obj.insert("slow_ms".into(), ms.into());
        }
        state
    }

    /// Strips the issuer path prefix, so every route is reachable with and without it.
    fn route<'a>(&self, path: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            return path;
        }
        match path.strip_prefix(self.prefix.as_str()) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        }
    }

    fn handle(&self, request: &Request) -> Reply {
        let route = self.route(request.path());
        match (request.method.as_str(), route) {
            ("GET" | "HEAD", "/.well-known/openid-configuration") => {
                self.discovery_fetches.fetch_add(1, Ordering::SeqCst);
                self.faulty(|| Response::json(200, &self.discovery()))
            }
            ("GET" | "HEAD", "/.well-known/jwks.json") => {
                self.jwks_fetches.fetch_add(1, Ordering::SeqCst);
                let max_age = self.max_age_secs.load(Ordering::SeqCst);
                self.faulty(|| {
                    Response::json(200, &self.jwks())
                        .with_header("Cache-Control", &format!("max-age={max_age}"))
                })
            }
            ("POST", "/mint") => Reply::Respond(self.handle_mint(&request.body)),
            ("POST", "/control") => Reply::Respond(self.handle_control(&request.body)),
            ("GET", "/stats") => Reply::Respond(Response::json(200, &self.stats())),
            (_, "/.well-known/openid-configuration" | "/.well-known/jwks.json" | "/stats") => {
                Reply::Respond(method_not_allowed("GET"))
            }
            (_, "/mint" | "/control") => Reply::Respond(method_not_allowed("POST")),
            _ => Reply::Respond(Response::json(404, &json!({"error": "not found"}))),
        }
    }

    /// Applies the current fault mode to a key-material route.
    fn faulty(&self, normal: impl FnOnce() -> Response) -> Reply {
        let max_age = self.max_age_secs.load(Ordering::SeqCst);
        let response = match self.fault() {
            Fault::None => normal(),
            Fault::Down => return Reply::Hangup,
            Fault::Status500 => Response::json(500, &json!({"error": "injected failure"})),
            Fault::Slow(delay) => {
                thread::sleep(delay);
                normal()
            }
            Fault::Garbage => Response::new(
                200,
                "application/json",
                "<html>this is not the JSON you are looking for",
            ),
            Fault::Oversized => {
                let mut jwks = self.jwks();
                if let Some(obj) = jwks.as_object_mut() {
                    obj.insert("padding".into(), "x".repeat(OVERSIZED_BYTES).into());
                }
                Response::json(200, &jwks)
            }
            Fault::EmptyKeys => Response::json(200, &json!({"keys": []}))
                .with_header("Cache-Control", &format!("max-age={max_age}")),
        };
        Reply::Respond(response)
    }

    fn handle_mint(&self, body: &[u8]) -> Response {
        let request: MintRequest = if body.iter().all(u8::is_ascii_whitespace) {
            MintRequest::default()
        } else {
            match serde_json::from_slice(body) {
                Ok(r) => r,
                Err(e) => return bad_request(&format!("invalid mint request: {e}")),
            }
        };
        match self.minter().mint(&request) {
            Ok(token) => Response::json(200, &json!({ "token": token })),
            Err(e @ MintError::NoKey(_)) => bad_request(&e.to_string()),
            Err(e) => Response::json(500, &json!({"error": e.to_string()})),
        }
    }

    fn handle_control(&self, body: &[u8]) -> Response {
        let command: Value = match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Value::Object(map),
            Ok(_) => return bad_request("control body must be a JSON object"),
            Err(e) => return bad_request(&format!("invalid control JSON: {e}")),
        };
        if let Err(why) = self.apply_control(&command) {
            return bad_request(&why);
        }
        Response::json(200, &self.control_state())
    }

    fn apply_control(&self, command: &Value) -> Result<(), String> {
        let known = [
            "rotate",
            "fault",
            "slow_ms",
            "remove_key",
            "max_age",
            "reset_stats",
        ];
        if let Some(unknown) = command
            .as_object()
            .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
        {
            return Err(format!("unknown control field {unknown:?}"));
        }
        let slow_ms = match command.get("slow_ms") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or("slow_ms must be a non-negative integer")?),
        };
        match command.get("fault") {
            None => {
                if let Some(ms) = slow_ms {
                    self.set_fault(Fault::Slow(Duration::from_millis(ms)));
                }
            }
            Some(name) => {
                let name = name.as_str().ok_or("fault must be a string")?;
                let fault = match (name.parse::<Fault>()?, slow_ms) {
                    (Fault::Slow(_), Some(ms)) => Fault::Slow(Duration::from_millis(ms)),
                    (fault, _) => fault,
                };
                self.set_fault(fault);
            }
        }
        if let Some(v) = command.get("max_age") {
            let secs = v.as_u64().ok_or("max_age must be a non-negative integer")?;
            self.max_age_secs.store(secs, Ordering::SeqCst);
        }
        if let Some(kid) = command.get("remove_key") {
            let kid = kid.as_str().ok_or("remove_key must be a string")?;
            if !self.remove_key(kid) {
                return Err(format!("no published key {kid:?}"));
            }
        }
        if command.get("reset_stats").and_then(Value::as_bool) == Some(true) {
            self.jwks_fetches.store(0, Ordering::SeqCst);
            self.discovery_fetches.store(0, Ordering::SeqCst);
        }
        if command.get("rotate").and_then(Value::as_bool) == Some(true) {
            self.rotate().map_err(|e| format!("rotation failed: {e}"))?;
        }
        Ok(())
    }
}

fn bad_request(why: &str) -> Response {
    Response::json(400, &json!({ "error": why }))
}

fn method_not_allowed(allow: &str) -> Response {
    Response::json(405, &json!({"error": "method not allowed"})).with_header("Allow", allow)
}

/// A running mock identity provider; dropping it stops the server.
pub struct IdpServer {
    state: Arc<State>,
    server: Server,
}

impl IdpServer {
    /// Generates a key per algorithm (by default `rsa-1` and `ec-1`) and starts serving on
    /// 127.0.0.1.
    pub fn start(opts: IdpOptions) -> io::Result<IdpServer> {
        let issuer = opts.issuer.unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let audience = opts.audience.unwrap_or_else(|| DEFAULT_AUDIENCE.to_owned());
        let algorithms = opts.algorithms.unwrap_or_else(|| Alg::DEFAULT.to_vec());
        let rsa_bits = opts.rsa_bits.unwrap_or(DEFAULT_RSA_BITS);
        let mut ring = KeyRing {
            published: Vec::new(),
            minter: Minter::new(issuer.clone(), audience, []).map_err(io::Error::other)?,
            generation: 1,
            upcoming: None,
        };
        generate_keys(&algorithms, 1, rsa_bits)
            .and_then(|keys| ring.adopt(keys))
            .map_err(io::Error::other)?;
        let prefix = issuer_path(&issuer);
        // Bind first: the base URL in the discovery document needs the port.
        let listener = TcpListener::bind(("127.0.0.1", opts.port))?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(State {
            issuer,
            prefix,
            base_url: format!("http://127.0.0.1:{port}"),
            algorithms,
            rsa_bits,
            keys: Mutex::new(ring),
            fault: Mutex::new(Fault::None),
            max_age_secs: AtomicU64::new(opts.max_age_secs.unwrap_or(DEFAULT_MAX_AGE_SECS)),
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
        });
        let handler: Handler = {
            let state = Arc::clone(&state);
            Arc::new(move |request: &Request| state.handle(request))
        };
        let server = Server::from_listener(listener, handler)?;
        Ok(IdpServer { state, server })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The issuer (`iss` of minted tokens and of discovery).
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The default audience of minted tokens.
    pub fn audience(&self) -> String {
        self.state.minter().audience().to_owned()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// The JWKS URL advertised by discovery.
    pub fn jwks_uri(&self) -> String {
        format!(
            "{}{}/.well-known/jwks.json",
            self.state.base_url, self.state.prefix
        )
    }

    /// The discovery document URL (under the issuer path, if any).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}{}/.well-known/openid-configuration",
            self.state.base_url, self.state.prefix
        )
    }

    /// The JWKS as currently published (ignores fault modes).
    pub fn jwks(&self) -> Value {
        self.state.jwks()
    }

    /// The kids currently published, oldest first.
    pub fn kids(&self) -> Vec<String> {
        self.state.kids()
    }

    /// A snapshot of the current minter (current signing keys and default claims).
    pub fn minter(&self) -> Minter {
        self.state.minter()
    }

    /// Mints a token with the current signing keys.
    pub fn mint(&self, request: &MintRequest) -> Result<String, MintError> {
        self.state.minter().mint(request)
    }

    /// Signs raw header and payload JSON with the current key for `alg`.
    pub fn sign_raw(
        &self,
        alg: Alg,
        header_json: &str,
        payload_json: &str,
    ) -> Result<String, MintError> {
        self.state.minter().sign_raw(alg, header_json, payload_json)
    }

    /// The algorithms the provider has keys for, in publishing order.
    pub fn algorithms(&self) -> &[Alg] {
        &self.state.algorithms
    }

    /// The current signing key for `alg`, if the provider has that algorithm.
    pub fn signing_key(&self, alg: Alg) -> Option<Arc<Key>> {
        self.state.minter().signing_key(alg).ok().cloned()
    }

    /// The current HMAC secret for `alg` (HS256, HS384 or HS512), which is never published:
    /// tests put it in the filter's local configuration.
    pub fn hmac_secret(&self, alg: Alg) -> Option<Vec<u8>> {
        self.state.minter().hmac_secret(alg).map(<[u8]>::to_vec)
    }

    /// Publishes a new key per algorithm (`rsa-N`, `ec-N`, ...) and signs with them from now
    /// on. Older keys stay published, as during a real rotation, until
    /// [`IdpServer::remove_key`].
    pub fn rotate(&self) -> Result<(), MintError> {
        self.state.rotate()
    }

    /// The first half of a two-step rotation: with [`RotationOrder::PublishThenSign`], new keys
    /// are published and the old ones still sign; with [`RotationOrder::SignThenPublish`], new
    /// keys sign and are not yet published. [`IdpServer::finish_rotation`] does the other half
    /// (as does the next `begin_rotation`).
    pub fn begin_rotation(&self, order: RotationOrder) -> Result<(), MintError> {
        self.state.begin_rotation(order)
    }

    /// The second half of the rotation [`IdpServer::begin_rotation`] started; nothing if none.
    pub fn finish_rotation(&self) -> Result<(), MintError> {
        self.state.finish_rotation()
    }

    /// Unpublishes a key; returns whether it was published. Removing a current signing key does
    /// not stop it signing, which is how tests get tokens whose key has been withdrawn.
    pub fn remove_key(&self, kid: &str) -> bool {
        self.state.remove_key(kid)
    }

    /// Sets the fault mode of the discovery and JWKS routes.
    pub fn set_fault(&self, fault: Fault) {
        self.state.set_fault(fault);
    }

    /// The current fault mode.
    pub fn fault(&self) -> Fault {
        self.state.fault()
    }

    /// Sets the JWKS `Cache-Control: max-age`.
    pub fn set_max_age(&self, secs: u64) {
        self.state.max_age_secs.store(secs, Ordering::SeqCst);
    }

    /// Requests received on the JWKS route, including those answered with a fault.
    pub fn jwks_fetches(&self) -> u64 {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Requests received on the discovery route, including those answered with a fault.
    pub fn discovery_fetches(&self) -> u64 {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// Sets both fetch counters to zero.
    pub fn reset_counters(&self) {
        self.state.jwks_fetches.store(0, Ordering::SeqCst);
        self.state.discovery_fetches.store(0, Ordering::SeqCst);
    }
}

/// The path of an issuer URL without a trailing slash: `""` for `https://h/`, `"/oidc"` for
/// `https://h/oidc/`.
fn issuer_path(issuer: &str) -> String {
    let after_scheme = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    let path = after_scheme
        .find('/')
        .and_then(|i| after_scheme.get(i..))
        .unwrap_or("");
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;

    const T: Duration = Duration::from_secs(10);

    fn get(idp: &IdpServer, path: &str) -> io::Result<client::Response> {
        client::request(("127.0.0.1", idp.port()), "GET", path, &[], b"", T)
    }

    fn post(idp: &IdpServer, path: &str, body: &str) -> client::Response {
        client::request(
            ("127.0.0.1", idp.port()),
            "POST",
            path,
            &[("Content-Type", b"application/json")],
            body.as_bytes(),
            T,
        )
        .unwrap()
    }

    #[test]
    fn issuer_paths() {
        assert_eq!(issuer_path("https://idp.example.test/"), "");
        assert_eq!(issuer_path("https://idp.example.test"), "");
        assert_eq!(issuer_path("https://t.logto.app/oidc"), "/oidc");
        assert_eq!(issuer_path("https://t.logto.app/oidc/"), "/oidc");
    }

    #[test]
    fn fault_names_round_trip() {
        for f in [
            Fault::None,
            Fault::Down,
            Fault::Status500,
            Fault::Garbage,
            Fault::Oversized,
            Fault::EmptyKeys,
        ] {
            assert_eq!(f.name().parse::<Fault>().unwrap(), f);
        }
        assert!(matches!("slow".parse::<Fault>().unwrap(), Fault::Slow(_)));
        assert!("nope".parse::<Fault>().is_err());
    }

    #[test]
    fn serves_discovery_jwks_mint_and_faults() {
        let idp = IdpServer::start(IdpOptions {
            issuer: Some("https://tenant.example.test/oidc".into()),
            max_age_secs: Some(42),
            ..IdpOptions::default()
        })
        .unwrap();

        let disc = get(&idp, "/oidc/.well-known/openid-configuration").unwrap();
        assert_eq!(disc.status, 200);
        let disc = disc.json().unwrap();
        assert_eq!(disc["issuer"], "https://tenant.example.test/oidc");
        assert_eq!(disc["jwks_uri"].as_str().unwrap(), idp.jwks_uri());
        assert!(idp.jwks_uri().ends_with("/oidc/.well-known/jwks.json"));
        assert_eq!(
            get(&idp, "/.well-known/openid-configuration")
                .unwrap()
                .status,
            200
        );
        assert_eq!(idp.discovery_fetches(), 2);

        let jwks = get(&idp, "/oidc/.well-known/jwks.json").unwrap();
        assert_eq!(jwks.header("cache-control"), Some("max-age=42"));
        let kids: Vec<_> = jwks.json().unwrap()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kids, ["rsa-1", "ec-1"]);
        assert_eq!(idp.jwks_fetches(), 1);

        let minted = post(
            &idp,
            "/mint",
            r#"{"alg":"ES384","claims":{"scope":"read"}}"#,
        );
        assert_eq!(minted.status, 200);
        let token = minted.json().unwrap()["token"].as_str().unwrap().to_owned();
        let (header, claims) = crate::mint::decode_unverified(&token).unwrap();
        assert_eq!(header["kid"], "ec-1");
        assert_eq!(claims["iss"], "https://tenant.example.test/oidc");
        assert_eq!(claims["scope"], "read");
        assert_eq!(post(&idp, "/mint", "").status, 200);
        assert_eq!(post(&idp, "/mint", r#"{"bogus":1}"#).status, 400);

        idp.set_fault(Fault::Status500);
        assert_eq!(get(&idp, "/.well-known/jwks.json").unwrap().status, 500);
        idp.set_fault(Fault::Down);
        assert!(get(&idp, "/.well-known/jwks.json").is_err());
        idp.set_fault(Fault::Garbage);
        let garbage = get(&idp, "/.well-known/jwks.json").unwrap();
        assert_eq!(garbage.status, 200);
        assert!(garbage.json().is_err());
        idp.set_fault(Fault::Oversized);
        let big = get(&idp, "/.well-known/jwks.json").unwrap();
        assert!(big.body.len() > 1024 * 1024);
        assert_eq!(big.json().unwrap()["keys"].as_array().unwrap().len(), 2);
        idp.set_fault(Fault::EmptyKeys);
        assert_eq!(
            get(&idp, "/.well-known/jwks.json").unwrap().json().unwrap(),
            json!({"keys": []})
        );

        // Control over HTTP: slow mode, then back to normal.
        let state = post(&idp, "/control", r#"{"fault":"slow","slow_ms":300}"#);
        assert_eq!(state.json().unwrap()["slow_ms"], 300);
        let started = std::time::Instant::now();
        assert_eq!(get(&idp, "/.well-known/jwks.json").unwrap().status, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(post(&idp, "/control", r#"{"fault":"none"}"#).status, 200);
        assert_eq!(idp.fault(), Fault::None);
        assert_eq!(post(&idp, "/control", r#"{"fault":"weird"}"#).status, 400);
        assert_eq!(post(&idp, "/control", r#"{"what":1}"#).status, 400);

        let stats = get(&idp, "/stats").unwrap().json().unwrap();
        assert_eq!(stats["jwks_fetches"], 7);
        assert_eq!(stats["discovery_fetches"], 2);
        post(&idp, "/control", r#"{"reset_stats":true}"#);
        assert_eq!(idp.jwks_fetches(), 0);
        assert_eq!(get(&idp, "/nope").unwrap().status, 404);
    }

    #[test]
    fn publishes_one_key_per_asymmetric_algorithm_and_keeps_hmac_secret() {
        let idp = IdpServer::start(IdpOptions {
            algorithms: Some(Alg::ALL.to_vec()),
            rsa_bits: Some(1536),
            ..IdpOptions::default()
        })
        .unwrap();
        let expected: Vec<String> = Alg::ASYMMETRIC.iter().map(|alg| alg.kid(1)).collect();
        assert_eq!(idp.kids(), expected);
        let jwks = get(&idp, "/.well-known/jwks.json").unwrap().json().unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 10);
        assert!(keys
            .iter()
            .all(|k| k["kty"] != "oct" && k.get("k").is_none()));
        assert_eq!(keys[3]["kid"], "ps256-1");
        assert_eq!(
            keys[3]["n"].as_str().unwrap().len(),
            256,
            "1536-bit modulus"
        );
        let disc = get(&idp, "/.well-known/openid-configuration")
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            disc["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .len(),
            10
        );
        for alg in Alg::ALL {
            let minted = post(&idp, "/mint", &format!(r#"{{"alg":"{alg}"}}"#));
            assert_eq!(minted.status, 200, "{alg}");
            let token = minted.json().unwrap()["token"].as_str().unwrap().to_owned();
            let (header, _) = crate::mint::decode_unverified(&token).unwrap();
            assert_eq!(header["alg"], alg.name());
            assert_eq!(header["kid"], alg.kid(1));
        }
        assert_eq!(idp.hmac_secret(Alg::Hs384).unwrap().len(), 64);
        assert!(idp.hmac_secret(Alg::Rs256).is_none());
        let secret = idp.hmac_secret(Alg::Hs384).unwrap();
        idp.rotate().unwrap();
        assert_eq!(idp.kids().len(), 20);
        assert_eq!(idp.kids().last().unwrap(), "eddsa-2");
        assert_ne!(idp.hmac_secret(Alg::Hs384).unwrap(), secret);
        assert_eq!(idp.signing_key(Alg::Hs384).unwrap().kid(), "hs384-2");

        // The default provider has no ES256 key: minting one is the caller's mistake.
        let default = IdpServer::start(IdpOptions::default()).unwrap();
        assert_eq!(post(&default, "/mint", r#"{"alg":"ES256"}"#).status, 400);
        assert_eq!(default.algorithms(), Alg::DEFAULT);
    }

    #[test]
    fn rotation_and_removal() {
        let idp = IdpServer::start(IdpOptions::default()).unwrap();
        assert_eq!(idp.issuer(), DEFAULT_ISSUER);
        let state = post(&idp, "/control", r#"{"rotate":true}"#).json().unwrap();
        assert_eq!(state["kids"], json!(["rsa-1", "ec-1", "rsa-2", "ec-2"]));
        let token = idp.mint(&MintRequest::default()).unwrap();
        assert_eq!(
            crate::mint::decode_unverified(&token).unwrap().0["kid"],
            "rsa-2"
        );
        idp.rotate().unwrap();
        assert!(idp.remove_key("rsa-1"));
        assert!(!idp.remove_key("rsa-1"));
        assert_eq!(
            post(&idp, "/control", r#"{"remove_key":"ec-1"}"#).status,
            200
        );
        assert_eq!(idp.kids(), ["rsa-2", "ec-2", "rsa-3", "ec-3"]);
        let token = idp.mint(&MintRequest::new(Alg::Es384)).unwrap();
        assert_eq!(
            crate::mint::decode_unverified(&token).unwrap().0["kid"],
            "ec-3"
        );
    }
}
