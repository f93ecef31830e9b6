//! One request: read the header, decide through [`crate::request::flow`], apply the decision.

use super::metrics::Metrics;
use super::shared::{now_ms, VmState, Waiter};
use crate::config::{Config, ROUTE_METADATA_NAMESPACE};
use crate::error::{AuthError, ErrorReply};
use crate::request::flow::{self, Decision};
use crate::request::sources;
use crate::request::state;
use crate::request::upstream::Edits;
use crate::request::view::{ConnectionProperty, RequestView, RouteProperty};
use proxy_wasm::hostcalls;

/// At most this many requests of one worker wait for keys at a time (each holds its token,
/// at most `limits.max_authorization_bytes`); past it a request is decided at once.
const MAX_WAITERS: usize = 1024;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, MapType};
use std::cell::RefCell;
use std::rc::Rc;

/// The HTTP context of one request.
pub struct Filter {
    context_id: u32,
    vm: Rc<RefCell<VmState>>,
}

impl Filter {
    /// A filter for request `context_id` sharing `vm`.
    pub fn new(context_id: u32, vm: Rc<RefCell<VmState>>) -> Self {
        Self { context_id, vm }
    }
}

/// Request headers read as bytes, so no header value can trap the VM.
fn read_header(name: &str) -> Option<Vec<u8>> {
    hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, name)
        .ok()
        .flatten()
}

/// Request headers for the full path, with `authorization` as the hit plan already read it
/// (`Some`), so a request the plan passes on does not read it twice.
struct HostHeaders {
    authorization: Option<Option<Vec<u8>>>,
}

impl RequestView for HostHeaders {
    fn header(&self, name: &str) -> Option<Vec<u8>> {
        match &self.authorization {
            Some(value) if name == "authorization" => value.clone(),
            _ => read_header(name),
        }
    }

    /// Every value of `name`, as one comma-joined value: Envoy's header read gives only the
    /// first of a repeated header, its `request.headers` property all of them joined with `,`
    /// (one host call for this header, where reading the whole map would copy every header).
    fn header_values(&self, name: &str) -> Vec<Vec<u8>> {
        hostcalls::get_property(vec!["request", "headers", name])
            .ok()
            .flatten()
            .into_iter()
            .collect()
    }

    /// Envoy's `connection.*` properties.
    fn connection(&self, property: ConnectionProperty) -> Option<Vec<u8>> {
        let path = match property {
            ConnectionProperty::PeerCertificateSha256 => {
                vec!["connection", "sha256_peer_certificate_digest"]
            }
        };
        hostcalls::get_property(path).ok().flatten()
    }

    /// Envoy's `xds.*` properties; Envoy walks the path into the route's metadata map and
    /// gives a string value's bytes. A failed read is "the route does not say".
    fn route(&self, property: RouteProperty) -> Option<Vec<u8>> {
        let path = match property {
            RouteProperty::Name => vec!["xds", "route_name"],
            RouteProperty::Requirement => vec![
                "xds",
                "route_metadata",
                "filter_metadata",
                ROUTE_METADATA_NAMESPACE,
                "requirement",
            ],
            RouteProperty::Metadata => vec!["xds", "route_metadata"],
        };
        hostcalls::get_property(path).ok().flatten()
    }
}

/// Sends a local reply for the current effective context.
pub fn send_reply(reply: &ErrorReply) {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    if let Err(status) =
        hostcalls::send_http_response(reply.status, headers, Some(reply.body.as_bytes()))
    {
        log::warn!("could not send the local reply: {status:?}");
    }
}

/// Applies a final decision for the current effective context; true if the request may go on.
pub fn apply(decision: Decision, config: &Config, metrics: &Metrics) -> bool {
    match decision {
        Decision::Allow(edits) => {
            metrics.allowed(edits.provider);
            if let Some(code) = edits.tolerated {
                metrics.allowed_unverified(code);
            }
            apply_edits(&edits);
            set_filter_state(&edits.state);
            if edits.clear_route_cache {
                clear_route_cache();
            }
            true
        }
        Decision::Deny(err, provider) => {
            metrics.denied(err.code, provider);
            if config.filter_state.is_some() {
                let provider = provider.and_then(|i| config.providers.get(i));
                set_filter_state(&state::refused(err.code, provider));
            }
            deny(&err, &config.realm);
            false
        }
        // Callers handle waiting before they get here; a late `Wait` is a timeout.
        Decision::Wait(_) => false,
    }
}

/// Rewrites the request for the upstream. Envoy does not fail these calls on a live request;
/// should it ever, the failure is logged.
fn apply_edits(edits: &Edits) {
    for name in edits.removals() {
        if let Err(status) = hostcalls::remove_map_value(MapType::HttpRequestHeaders, name) {
            log::warn!("could not remove request header {name}: {status:?}");
        }
    }
    for (name, value) in &edits.set {
        if let Err(status) =
            hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
        {
            log::warn!("could not set request header {name}: {status:?}");
        }
    }
    if let Some(name) = &edits.cookie {
        remove_cookie(name);
    }
    if let Some(path) = &edits.path {
        if let Err(status) =
            hostcalls::set_map_value(MapType::HttpRequestHeaders, ":path", Some(path))
        {
            log::warn!("could not rewrite the request path: {status:?}");
        }
    }
}

/// Has Envoy choose the route again, now that the claim headers are set, through its
/// `clear_route_cache` foreign function. Absent (another host), the route stays as it was.
fn clear_route_cache() {
    if let Err(status) = hostcalls::call_foreign_function("clear_route_cache", None) {
        log::warn!("could not clear the route cache (clear_route_cache): {status:?}");
    }
}

/// Writes filter-state properties; Envoy keeps each as `wasm.<name>` for the filters and access
/// logs after this one. A failed write is logged, never fatal.
fn set_filter_state(properties: &state::Properties) {
    for (name, value) in properties {
        if let Err(status) = hostcalls::set_property(vec![name.as_str()], Some(value)) {
            log::warn!("could not set filter state {name}: {status:?}");
        }
    }
}

/// Cuts the cookie that carried the token out of the `Cookie` header (or drops the header).
fn remove_cookie(name: &str) {
    let Ok(Some(header)) = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "cookie")
    else {
        return;
    };
    let rest = sources::without_cookie(&header, name);
    if let Err(status) =
        hostcalls::set_map_value(MapType::HttpRequestHeaders, "cookie", rest.as_deref())
    {
        log::warn!("could not rewrite the cookie header: {status:?}");
    }
}

fn deny(err: &AuthError, realm: &str) {
    log::debug!("request denied: {err}");
    send_reply(&err.reply(realm));
}

impl Context for Filter {}

impl HttpContext for Filter {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let mut guard = self.vm.borrow_mut();
        let vm = &mut *guard;
        let Some(config) = vm.config.clone() else {
            log::error!("request refused: the plugin has no valid configuration");
            send_reply(
                &AuthError::new(
                    crate::error::ErrorCode::JwksUnavailable,
                    "The authentication filter is not configured",
                )
                .reply(crate::config::DEFAULT_REALM),
            );
            return Action::Pause;
        };
        let now = now_ms();
        let before = vm.cache.stats();
        // A cache hit the configuration's hit plan covers is answered here, without the full
        // path (see `flow::HitPlan`); anything else takes the full path.
        let authorization = vm.hit_plan.is_some().then(|| read_header("authorization"));
        if let (Some(plan), Some(Some(value))) = (vm.hit_plan.clone(), &authorization) {
            let (mut keys, cache) = vm.keys_and_cache(&config, now);
            if let Some(decision) = plan.decide(value, &mut keys, cache, now) {
                vm.metrics.cache(true);
                apply(decision, &config, &vm.metrics);
                return Action::Continue;
            }
        }
        let decision = {
            let (mut keys, cache) = vm.keys_and_cache(&config, now);
            let headers = HostHeaders { authorization };
            flow::on_request_headers(&config, &headers, &mut keys, cache, now)
        };
        let after = vm.cache.stats();
        if after.hits > before.hits {
            vm.metrics.cache(true);
        } else if after.misses > before.misses {
            vm.metrics.cache(false);
        }
        match decision {
            Decision::Wait(pending) if vm.waiters.len() >= MAX_WAITERS => {
                // Too many requests held on this worker: decide this one with the keys at hand,
                // so a flood of unknown kids cannot grow memory without bound.
                log::debug!("{MAX_WAITERS} requests already wait for keys: deciding now");
                let decision = {
                    let (mut keys, cache) = vm.keys_and_cache(&config, now);
                    flow::on_keys_changed(&config, *pending, &mut keys, cache, true, now)
                };
                if apply(decision, &config, &vm.metrics) {
                    Action::Continue
                } else {
                    Action::Pause
                }
            }
            Decision::Wait(pending) => {
                vm.metrics.held(pending.prepared.provider);
                vm.waiters.insert(
                    self.context_id,
                    Waiter {
                        pending: *pending,
                        deadline_ms: now.saturating_add(config.key_wait_timeout_ms),
                    },
                );
                Action::Pause
            }
            other => {
                if apply(other, &config, &vm.metrics) {
                    Action::Continue
                } else {
                    Action::Pause
                }
            }
        }
    }
}

impl Drop for Filter {
    fn drop(&mut self) {
        if let Ok(mut vm) = self.vm.try_borrow_mut() {
            vm.waiters.remove(&self.context_id);
        }
    }
}
