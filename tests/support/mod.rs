//! Shared harness for the integration tests: starts Envoy with the filter in front of the
//! testbed's echo upstream and mock identity provider, and talks raw HTTP/1.1 to it.
//!
//! Test code: failures panic with enough context (the Envoy log tail) to diagnose them, since a
//! panic is how a test reports.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]
// Panicking with a clear message is how this harness reports a broken environment.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]
// Re-exported for the tests' convenience; not every test binary uses each one.
#![allow(unused_imports)]

use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
pub use testbed::{client, Alg, EchoServer, Fault, IdpOptions, IdpServer, MintRequest};

/// Per-request timeout of [`http_request`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// How long Envoy may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Lines of Envoy log shown when something goes wrong.
const LOG_TAIL_LINES: usize = 60;
/// A plugin configuration with `realm` and one provider, `idp`: the mock identity provider's
/// issuer, audience and key set (through the `idp` cluster), plus the members of `settings`.
pub fn one_provider_config(idp: &IdpServer, realm: &str, settings: Value) -> Value {
    let mut provider = json!({
        "name": "idp",
        "issuer": idp.issuer(),
        "audiences": [idp.audience()],
        "remote_jwks": {"http_uri": {
            "uri": format!("http://127.0.0.1:{}/.well-known/jwks.json", idp.port()),
            "cluster": "idp", "timeout": "2s"}},
    });
    if let (Some(provider), Value::Object(settings)) = (provider.as_object_mut(), settings) {
        provider.extend(settings);
    }
    json!({"realm": realm, "providers": [provider]})
}

/// A port that was free a moment ago. Prefer letting servers bind port 0 where possible; this
/// is for the few cases that need a number up front.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A response read by [`http_request`].
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    /// Lower-cased names, values decoded lossily, wire order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as JSON; panics with the body text if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response (HTTP {}) is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as lossy UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl From<client::Response> for Response {
    fn from(r: client::Response) -> Self {
        Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

/// Sends one HTTP/1.1 request with `Connection: close` to 127.0.0.1:`port`; header values are
/// raw bytes, sent verbatim. Panics on connection errors or after [`REQUEST_TIMEOUT`].
pub fn http_request(port: u16, method: &str, target: &str, headers: &[(&str, &[u8])]) -> Response {
    http_request_body(port, method, target, headers, b"")
}

/// [`http_request`] with a body (`Content-Length` is added unless given).
pub fn http_request_body(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Response {
    try_http_request(port, method, target, headers, body)
        .unwrap_or_else(|e| panic!("{method} {target} on 127.0.0.1:{port} failed: {e}"))
}

/// [`http_request_body`] returning the error instead of panicking, for tests that expect the
/// connection to be refused or reset.
pub fn try_http_request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> std::io::Result<Response> {
    client::request(
        ("127.0.0.1", port),
        method,
        target,
        headers,
        body,
        REQUEST_TIMEOUT,
    )
    .map(Response::from)
}

/// `GET target` on 127.0.0.1:`port` with header values sent byte for byte, for the hostile
/// requests no HTTP client sends (NUL, DEL, control or non-ASCII bytes in a header value, which
/// ureq refuses): [`testbed::client::raw_request`]. The response is read only as far as its
/// framing says: Envoy holds a connection open for its one-second delayed close after a local
/// reply. Panics on connection errors or after [`REQUEST_TIMEOUT`].
pub fn raw_get(port: u16, target: &str, headers: &[(&str, &[u8])]) -> Response {
    client::raw_request(
        ("127.0.0.1", port),
        "GET",
        target,
        headers,
        b"",
        REQUEST_TIMEOUT,
    )
    .map(Response::from)
    .unwrap_or_else(|e| panic!("raw GET {target} on 127.0.0.1:{port} failed: {e}"))
}

/// How to start Envoy.
#[derive(Clone, Debug)]
pub struct EnvoyOptions {
    /// The filter's configuration, serialised into the `StringValue` Envoy hands the plugin.
    pub plugin_config: Value,
    /// Port of the `idp` cluster.
    pub idp_port: u16,
    /// Port of the `echo` cluster every route goes to.
    pub upstream_port: u16,
    /// Envoy worker threads (`--concurrency`).
    pub concurrency: u32,
    /// Leave the wasm filter out, to check the harness itself without a built filter.
    pub without_filter: bool,
    /// The `.wasm` to load; `None` uses [`default_wasm_path`].
    pub wasm_path: Option<PathBuf>,
    /// Envoy's `--log-level`.
    pub log_level: String,
    /// Turn Envoy's own path normalization off, so tests see the filter's alone.
    pub raw_paths: bool,
    /// The virtual host's routes; `None` is one route, prefix `/`, to `echo`.
    pub routes: Option<Value>,
    /// HTTP filters placed after ours, before the router (an RBAC filter, say).
    pub filters_after: Vec<Value>,
    /// The connection manager's `access_log` list.
    pub access_log: Option<Value>,
    /// The ingress listener's `transport_socket` (a `DownstreamTlsContext`); `None`: plain HTTP.
    pub downstream_tls: Option<Value>,
    /// The connection manager's `forward_client_cert_details` (`None`: Envoy's default,
    /// `SANITIZE`, which drops a client's `x-forwarded-client-cert`).
    pub forward_client_cert_details: Option<String>,
}

impl Default for EnvoyOptions {
    fn default() -> Self {
        EnvoyOptions {
            plugin_config: json!({}),
            idp_port: 0,
            upstream_port: 0,
            concurrency: 2,
            without_filter: false,
            wasm_path: None,
            log_level: "info".to_owned(),
            raw_paths: false,
            routes: None,
            filters_after: Vec::new(),
            access_log: None,
            downstream_tls: None,
            forward_client_cert_details: None,
        }
    }
}

/// The package root (the workspace root for the main package's tests).
fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `$JWT_AUTHN_WASM`, else the release build of the filter.
pub fn default_wasm_path() -> PathBuf {
    match std::env::var_os("JWT_AUTHN_WASM") {
        Some(p) => PathBuf::from(p),
        None => manifest_dir().join("target/wasm32-wasip1/release/jwt_authn_wasm.wasm"),
    }
}

/// `$ENVOY_BIN`, else the project's `.venv/bin/envoy`, else `envoy` from `PATH`.
pub fn envoy_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ENVOY_BIN") {
        return PathBuf::from(p);
    }
    let venv = manifest_dir().join(".venv/bin/envoy");
    if venv.is_file() {
        return venv;
    }
    PathBuf::from("envoy")
}

/// A fresh, empty directory under the system temp dir; unique per process and call.
pub fn unique_temp_dir(label: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "jwt-authn-{label}-{}-{n}-{nanos}",
        std::process::id()
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// envoy.yaml's `stats_config` (the tags that make the filter's metrics labelled), read from
/// the file so the tests check what users run.
pub fn stats_config() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("envoy.yaml");
    let text = fs::read_to_string(&path).expect("read envoy.yaml");
    // The section is two-line entries (`- tag_name: x` then `regex: '...'`): read them as text
    // rather than pull in a YAML parser for four lines.
    let mut tags = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        if let Some(name) = line.strip_prefix("- tag_name: ") {
            let regex = lines
                .next()
                .and_then(|l| l.strip_prefix("regex: '"))
                .and_then(|l| l.strip_suffix('\''))
                .expect("a `regex: '...'` line after each tag_name in envoy.yaml");
            tags.push(json!({"tag_name": name, "regex": regex}));
        }
    }
    assert!(tags.len() >= 2, "envoy.yaml has no stats_tags");
    json!({"stats_tags": tags})
}

/// The Envoy bootstrap for `opts`, as JSON (which Envoy accepts as YAML). The listener and
/// admin bind port 0, so parallel tests never race for ports; [`Envoy`] discovers the real
/// ports through the admin address file and `/listeners`.
pub fn bootstrap(opts: &EnvoyOptions, wasm_path: &Path) -> Value {
    let socket =
        |port: u16| json!({"socket_address": {"address": "127.0.0.1", "port_value": port}});
    let cluster = |name: &str, port: u16| {
        json!({
            "name": name,
            "type": "STATIC",
            "connect_timeout": "1s",
            "load_assignment": {
                "cluster_name": name,
                "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(port)}}]}],
            },
        })
    };
    let mut http_filters = Vec::new();
    if !opts.without_filter {
        http_filters.push(json!({
            "name": "envoy.filters.http.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                "config": {
                    "name": "jwt_authn",
                    "root_id": "jwt_authn",
                    "vm_config": {
                        "vm_id": "jwt_authn",
                        "runtime": "envoy.wasm.runtime.v8",
                        "code": {"local": {"filename": wasm_path.to_string_lossy()}},
                    },
                    "configuration": {
                        "@type": "type.googleapis.com/google.protobuf.StringValue",
                        "value": opts.plugin_config.to_string(),
                    },
                },
            },
        }));
    }
    http_filters.extend(opts.filters_after.iter().cloned());
    http_filters.push(json!({
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
        },
    }));
    let mut config = json!({
        "admin": {"address": socket(0)},
        "stats_config": stats_config(),
        "static_resources": {
            "listeners": [{
                "name": "ingress",
                "address": socket(0),
                "filter_chains": [{
                    "filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "codec_type": "AUTO",
                        "normalize_path": !opts.raw_paths,
                        "merge_slashes": !opts.raw_paths,
                        "path_with_escaped_slashes_action": if opts.raw_paths { "KEEP_UNCHANGED" } else { "UNESCAPE_AND_REDIRECT" },
                        "route_config": {
                            "name": "local",
                            "virtual_hosts": [{
                                "name": "all",
                                "domains": ["*"],
                                "routes": opts.routes.clone().unwrap_or_else(|| json!([{"match": {"prefix": "/"}, "route": {"cluster": "echo"}}])),
                            }],
                        },
                        "http_filters": http_filters,
                        "access_log": opts.access_log.clone().unwrap_or_else(|| json!([])),
                    },
                }]}],
            }],
            "clusters": [cluster("echo", opts.upstream_port), cluster("idp", opts.idp_port)],
        },
    });
    if let Some(mode) = &opts.forward_client_cert_details {
        config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"]["forward_client_cert_details"] = json!(mode);
    }
    if let Some(tls) = &opts.downstream_tls {
        config["static_resources"]["listeners"][0]["filter_chains"][0]["transport_socket"] =
            tls.clone();
    }
    config
}

/// A running Envoy; dropping it kills the process.
pub struct Envoy {
    child: Child,
    /// Port of the ingress listener.
    pub port: u16,
    /// Port of the admin interface.
    pub admin_port: u16,
    /// Temp dir with the bootstrap (`envoy.yaml`) and the log (`envoy.log`).
    pub dir: PathBuf,
    /// Set once a panic message already carried the log tail, so `Drop` does not repeat it.
    log_reported: bool,
}

impl Envoy {
    /// Writes the bootstrap, starts Envoy and waits until `/ready` answers 200.
    pub fn start(opts: EnvoyOptions) -> Envoy {
        let wasm_path = opts.wasm_path.clone().unwrap_or_else(default_wasm_path);
        if !opts.without_filter && !wasm_path.is_file() {
            panic!(
                "filter not found at {} (set JWT_AUTHN_WASM or run `make build` first)",
                wasm_path.display()
            );
        }
        let dir = unique_temp_dir("envoy");
        let config_path = dir.join("envoy.yaml");
        let log_path = dir.join("envoy.log");
        let admin_address_path = dir.join("admin_address");
        let config = serde_json::to_string_pretty(&bootstrap(&opts, &wasm_path))
            .expect("serialise bootstrap");
        fs::write(&config_path, config).expect("write envoy.yaml");
        let log = File::create(&log_path).expect("create envoy.log");
        let log_err = log.try_clone().expect("clone log file handle");

        static BASE_ID: AtomicU32 = AtomicU32::new(0);
        // Shared-memory ids must differ between concurrently running Envoys, across test
        // binaries too, hence the pid.
        let base_id =
            (std::process::id() % 100_000) * 100 + BASE_ID.fetch_add(1, Ordering::Relaxed) % 100;

        let binary = envoy_binary();
        let mut command = Command::new(&binary);
        command
            .arg("-c")
            .arg(&config_path)
            .args(["--concurrency", &opts.concurrency.to_string()])
            .args(["--base-id", &base_id.to_string()])
            .args(["--log-level", &opts.log_level])
            .arg("--disable-hot-restart")
            .arg("--admin-address-path")
            .arg(&admin_address_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        // Envoy must not outlive the test process, even if it is killed; the Envoy may be
        // shared by tests on other threads, so it is tied to the process, not this thread.
        let child = testbed::process::spawn_tied_to_process(command).unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}); set ENVOY_BIN or install Envoy into .venv",
                binary.display()
            )
        });
        let mut envoy = Envoy {
            child,
            port: 0,
            admin_port: 0,
            dir,
            log_reported: false,
        };
        envoy.wait_ready(&admin_address_path);
        envoy
    }

    fn wait_ready(&mut self, admin_address_path: &Path) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("admin address not written yet");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.log_reported = true;
                panic!(
                    "Envoy exited during startup ({status}); log {}:\n{}",
                    self.log_path().display(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            if Instant::now() > deadline {
                self.log_reported = true;
                panic!(
                    "Envoy not ready after {READY_TIMEOUT:?} ({last}); log {}:\n{}",
                    self.log_path().display(),
                    self.log_tail(LOG_TAIL_LINES)
                );
            }
            if self.admin_port == 0 {
                let address = fs::read_to_string(admin_address_path).unwrap_or_default();
                if let Some(port) = address
                    .trim()
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                {
                    self.admin_port = port;
                }
            }
            if self.admin_port != 0 {
                match self.try_admin_get("/ready") {
                    Ok((200, _)) => {
                        self.port = self.discover_listener_port();
                        return;
                    }
                    Ok((status, body)) => last = format!("/ready: {status} {}", body.trim()),
                    Err(e) => last = format!("/ready: {e}"),
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn discover_listener_port(&self) -> u16 {
        let (status, body) = self.admin_get("/listeners?format=json");
        let listeners: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/listeners ({status}) is not JSON ({e}): {body}"));
        listeners
            .get("listener_statuses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|l| l.get("name").and_then(Value::as_str) == Some("ingress"))
            .and_then(|l| l.pointer("/local_address/socket_address/port_value"))
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no ingress listener port in /listeners: {body}"))
    }

    fn try_admin_get(&self, path: &str) -> std::io::Result<(u16, String)> {
        let r = try_http_request(self.admin_port, "GET", path, &[], b"")?;
        let body = r.text();
        Ok((r.status, body))
    }

    /// GETs an admin endpoint (e.g. `/stats?filter=wasm`); returns status and body.
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        self.try_admin_get(path)
            .unwrap_or_else(|e| panic!("admin GET {path} failed: {e}"))
    }

    /// The value of one counter or gauge from `/stats`, if present.
    pub fn stat(&self, name: &str) -> Option<u64> {
        let (_, body) = self.admin_get(&format!("/stats?filter=^{}$", regex_escape(name)));
        body.lines().find_map(|line| {
            let (n, v) = line.split_once(": ")?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
    }

    /// Sends a request through the ingress listener.
    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &[u8])]) -> Response {
        http_request(self.port, method, target, headers)
    }

    /// `GET target` through the ingress listener.
    pub fn get(&self, target: &str, headers: &[(&str, &[u8])]) -> Response {
        self.request("GET", target, headers)
    }

    /// `GET target` with `Authorization: Bearer <token>`.
    pub fn get_with_token(&self, target: &str, token: &str) -> Response {
        let value = format!("Bearer {token}");
        self.get(target, &[("Authorization", value.as_bytes())])
    }

    /// Path of the Envoy log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("envoy.log")
    }

    /// The whole Envoy log so far.
    pub fn log(&self) -> String {
        fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The last `n` lines of the Envoy log.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines
            .get(lines.len().saturating_sub(n)..)
            .unwrap_or_default()
            .join("\n")
    }

    /// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
    pub fn wait_for(&self, timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
        wait_until(timeout, &mut condition)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            // The test failed: keep the files for inspection and show what Envoy said.
            if self.log_reported {
                eprintln!("Envoy files kept in {}", self.dir.display());
                return;
            }
            eprintln!(
                "--- Envoy log tail ({}) ---\n{}\n--- end of Envoy log ---",
                self.log_path().display(),
                self.log_tail(LOG_TAIL_LINES)
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, condition: &mut dyn FnMut() -> bool) -> bool {
    eventually(timeout, condition)
}

/// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (one last try).
pub fn eventually(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escape = "\\.^$|?*+()[]{}".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// An identity provider, an echo upstream and Envoy wired together. Fields drop in declaration
/// order, so Envoy stops before the servers it talks to.
pub struct Testbed {
    pub envoy: Envoy,
    pub idp: IdpServer,
    pub echo: EchoServer,
}

impl Testbed {
    /// Starts everything with default options; `plugin_config` builds the filter configuration
    /// from the running identity provider (its issuer, port, ...).
    pub fn start(plugin_config: impl FnOnce(&IdpServer) -> Value) -> Testbed {
        Testbed::start_with(IdpOptions::default(), |_| {}, plugin_config)
    }

    /// Like [`Testbed::start`] with explicit identity-provider options and a hook to adjust the
    /// Envoy options (concurrency, `without_filter`, ...) after the ports are filled in.
    pub fn start_with(
        idp_options: IdpOptions,
        tweak_envoy: impl FnOnce(&mut EnvoyOptions),
        plugin_config: impl FnOnce(&IdpServer) -> Value,
    ) -> Testbed {
        let idp = IdpServer::start(idp_options).expect("start mock identity provider");
        let echo = EchoServer::start(0).expect("start echo upstream");
        let mut options = EnvoyOptions {
            plugin_config: plugin_config(&idp),
            idp_port: idp.port(),
            upstream_port: echo.port(),
            ..EnvoyOptions::default()
        };
        tweak_envoy(&mut options);
        let envoy = Envoy::start(options);
        Testbed { envoy, idp, echo }
    }

    /// Mints a token with the identity provider's current keys.
    pub fn mint(&self, request: &MintRequest) -> String {
        self.idp.mint(request).expect("mint token")
    }

    /// `GET target` through Envoy with extra headers.
    pub fn get(&self, target: &str, headers: &[(&str, &[u8])]) -> Response {
        self.envoy.get(target, headers)
    }

    /// `GET target` through Envoy with `Authorization: Bearer <token>`.
    pub fn get_with_token(&self, target: &str, token: &str) -> Response {
        self.envoy.get_with_token(target, token)
    }
}
