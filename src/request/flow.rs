//! One request's authentication and authorization, as decisions the host carries out.
//!
//! The flow reads headers and key sets through two small traits, so the whole decision path runs
//! natively in tests; the proxy-wasm layer only supplies the traits and applies the [`Decision`].
//!
//! Order: strip headers the filter owns; find the route rule; take the token from the sources of
//! the providers the rule accepts; answer from the verified-token cache, or check it without
//! keys, get the provider's keys (or wait for the first set) and verify; check the rule's
//! requirement (403 on a shortfall); add claim headers and drop credentials before the upstream.
//! A CORS preflight that would not be allowed is let through instead (checked last, so requests
//! with a token never read `:method` unless a rule matches on it).

use crate::config::rules::{Requirement, RequirementId};
use crate::config::token::TokenSource;
use crate::config::{Config, ROUTE_METADATA_NAMESPACE};
use crate::error::{AuthError, ErrorCode};
use crate::keys::source::{KeySource, Refetch};
use crate::keys::store::Availability;
use crate::path;
use crate::request::authenticator::{self, Prepared, Verified};
use crate::request::binding::{self, BindingServices, Bound, Presented};
use crate::request::cache::{self, Lookup, Validity, VerifiedCache};
use crate::request::policy::Grant;
use crate::request::sources;
use crate::request::state;
use crate::request::upstream::Edits;
use crate::request::view::{has_filter_metadata, RequestView, RouteProperty};
use crate::verify::VerificationTiming;
use std::borrow::Cow;
use std::rc::Rc;

/// The one verdict on a request, whichever road reached it (the full path, a cache hit through
/// [`HitPlan`], or a paused request when its keys arrive): what the host must do with it. A
/// denial carries its [`AuthError`], whose code gives the status and the reply.
#[derive(Debug)]
pub enum Decision {
    /// Let it through after these edits.
    Allow(Edits),
    /// Answer locally with this failure; the provider, when one was chosen (for metrics).
    Deny(AuthError, Option<usize>),
    /// Pause it until the provider's first key set arrives, or a refetch for its unknown `kid`
    /// answers (or the wait times out).
    Wait(Box<Pending>),
}

/// A request paused for keys: everything needed to finish it.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The token, checked except for its signature.
    pub prepared: Prepared,
    /// The requirement the route or a rule chose.
    pub requirement: RequirementId,
    /// Where the token came from.
    pub source: TokenSource,
    /// The original request target (`:path`).
    pub target: String,
    /// Edits decided so far (header stripping).
    pub edits: Edits,
    /// Set once the token's `kid` was found unknown: the completed-fetch count worth looking at
    /// again (the request is held until that fetch answers, then decided or held for the next).
    pub awaiting_fetch: Option<u64>,
    /// The token's text, to cache it once it verifies.
    pub token: String,
    /// What the request presented for a bound token, read when it arrived.
    pub presented: Option<Box<Presented>>,
}

/// What the request's road reaches outside itself: the key sets, for bound tokens the verifier
/// and the replay cache, and a clock for timing signature verifications.
pub trait RequestServices: KeySource + BindingServices + VerificationTiming {}

impl<T: KeySource + BindingServices + VerificationTiming + ?Sized> RequestServices for T {}

/// The per-worker cache of verified tokens the flow consults.
pub type TokenCache = VerifiedCache<Verified>;

fn keys_unavailable() -> AuthError {
    AuthError::new(
        ErrorCode::JwksUnavailable,
        "The keys of the token issuer are not available",
    )
}

fn header_text(headers: &dyn RequestView, name: &str) -> String {
    headers
        .header(name)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// A CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
fn is_cors_preflight(method: &str, headers: &dyn RequestView) -> bool {
    method == "OPTIONS"
        && headers.header("origin").is_some()
        && headers.header("access-control-request-method").is_some()
}

/// Decides a request when its headers arrive; `now_ms` is milliseconds since the epoch.
///
/// `:method` is read only when a rule matches on methods, or to let a CORS preflight through
/// that would otherwise not be allowed: most requests carry a token and never need it, and
/// every header read is a host call.
pub fn on_request_headers(
    config: &Config,
    headers: &dyn RequestView,
    keys: &mut dyn RequestServices,
    cache: &mut TokenCache,
    now_ms: u64,
) -> Decision {
    let method = config
        .rules_match_methods
        .then(|| header_text(headers, ":method"));
    let decision = decide(
        config,
        headers,
        keys,
        cache,
        now_ms,
        method.as_deref().unwrap_or(""),
    );
    if matches!(decision, Decision::Allow(_)) || !config.bypass_cors_preflight {
        return decision;
    }
    let method = method.unwrap_or_else(|| header_text(headers, ":method"));
    if is_cors_preflight(&method, headers) {
        return Decision::Allow(Edits::strip_owned(config));
    }
    decision
}

/// [`on_request_headers`] before the CORS preflight bypass; `method` is empty when no rule
/// needs it.
fn decide(
    config: &Config,
    headers: &dyn RequestView,
    keys: &mut dyn RequestServices,
    cache: &mut TokenCache,
    now_ms: u64,
    method: &str,
) -> Decision {
    // The path matters only to rules and to tokens in query parameters; skip the host call
    // (and the normalization) when neither is configured.
    let target = if config.rules.is_empty() && !config.tokens_in_params {
        String::new()
    } else {
        header_text(headers, ":path")
    };
    let chosen = match choose_requirement(config, headers, method, &target) {
        Ok(chosen) => chosen,
        Err(err) => return Decision::Deny(err, None),
    };
    let decision = held_to(config, chosen, headers, keys, cache, now_ms, target);
    tolerate(config, chosen, challenged(config, chosen, decision))
}

/// The decision on a request held to requirement `chosen`, before [`tolerate`].
fn held_to(
    config: &Config,
    chosen: RequirementId,
    headers: &dyn RequestView,
    keys: &mut dyn RequestServices,
    cache: &mut TokenCache,
    now_ms: u64,
    target: String,
) -> Decision {
    let edits = Edits::strip_owned(config);
    let requirement = config.requirement(chosen);
    match requirement {
        Requirement::Public => return Decision::Allow(edits),
        Requirement::Deny => {
            return Decision::Deny(
                AuthError::new(ErrorCode::AccessDenied, "No rule allows this request"),
                None,
            )
        }
        _ => {}
    }
    let candidates = requirement.candidates();
    let sources = token_sources(config, candidates.as_deref());
    let found = match sources::find_token(&sources, headers, &target, &config.limits) {
        Ok(found) => found,
        Err(err) => return Decision::Deny(err, None),
    };
    let via_dpop = found.source == TokenSource::AuthorizationDpop;
    let presented = config
        .binding_reads
        .as_ref()
        .map(|reads| Box::new(Presented::read(reads, headers, via_dpop)));
    let decision = with_token(
        config, chosen, found, presented, keys, cache, now_ms, target, edits,
    );
    marked_dpop(decision, via_dpop)
}

/// A refusal of a token that came in the DPoP scheme carries its error on the DPoP challenge.
fn marked_dpop(decision: Decision, via_dpop: bool) -> Decision {
    match decision {
        Decision::Deny(mut err, provider) if via_dpop => {
            err.via_dpop = true;
            Decision::Deny(err, provider)
        }
        other => other,
    }
}

/// A refusal gets the `DPoP` challenge of its provider, or (before one is chosen) of the first
/// provider the requirement accepts that takes DPoP.
fn challenged(config: &Config, chosen: RequirementId, decision: Decision) -> Decision {
    let Decision::Deny(mut err, provider) = decision else {
        return decision;
    };
    if err.dpop.is_none() && config.binding_reads.as_ref().is_some_and(|r| r.dpop) {
        err.dpop = match provider {
            Some(index) => config.dpop_challenges.get(index).cloned().flatten(),
            None => {
                let candidates = config.requirement(chosen).candidates();
                config
                    .dpop_challenges
                    .iter()
                    .enumerate()
                    .filter(|(index, _)| candidates.as_ref().is_none_or(|c| c.contains(index)))
                    .find_map(|(_, challenge)| challenge.clone())
            }
        };
    }
    Decision::Deny(err, provider)
}

/// [`held_to`] once a token is found.
#[allow(clippy::too_many_arguments)]
fn with_token(
    config: &Config,
    chosen: RequirementId,
    found: sources::FoundToken,
    presented: Option<Box<Presented>>,
    keys: &mut dyn RequestServices,
    cache: &mut TokenCache,
    now_ms: u64,
    target: String,
    edits: Edits,
) -> Decision {
    let candidates = config.requirement(chosen).candidates();
    // A token verified before (same bytes, same key set, still in time) skips parsing and the
    // signature; the route's own checks still run. A header's token is looked up before its text
    // is checked (see `sources::FoundToken`), and once more if the check trimmed it.
    let now = now_ms / 1_000;
    let candidates_here = candidates.as_deref();
    if let Some(verified) = cached(cache, keys, found.bytes(), now, candidates_here) {
        let request = Request {
            token: found.bytes(),
            source: &found.source,
            target: &target,
            presented: presented.as_deref(),
        };
        return authorize(config, chosen, &verified, &request, keys, now, edits);
    }
    let unchecked_len = found.bytes().len();
    let (token, source) = match found.into_checked(&config.limits) {
        Ok(checked) => checked,
        Err(err) => return Decision::Deny(err, None),
    };
    // The check only trims, so the same length means the same bytes, already looked up.
    if token.len() != unchecked_len {
        if let Some(verified) = cached(cache, keys, token.as_bytes(), now, candidates_here) {
            let request = Request {
                token: token.as_bytes(),
                source: &source,
                target: &target,
                presented: presented.as_deref(),
            };
            return authorize(config, chosen, &verified, &request, keys, now, edits);
        }
    }
    let prepared = match authenticator::prepare(config, candidates_here, &token, now) {
        Ok(prepared) => prepared,
        Err(err) => return Decision::Deny(err, None),
    };
    if let Some(refusal) = source_refused(config, prepared.provider, &source) {
        return refusal;
    }
    let pending = Pending {
        prepared,
        requirement: chosen,
        source,
        target,
        edits,
        awaiting_fetch: None,
        token,
        presented,
    };
    with_keys(config, pending, keys, cache, false, now_ms)
}

/// The requirement a request is held to: the route's choice (the requirement its metadata
/// names, then its name in `requirement_map`), else the first matching rule, else `default`.
/// A route that names a requirement the configuration lacks is refused, never let through.
fn choose_requirement(
    config: &Config,
    request: &dyn RequestView,
    method: &str,
    target: &str,
) -> Result<RequirementId, AuthError> {
    if config.routes_choose() {
        if let Some(name) = request.route(RouteProperty::Requirement) {
            return config.named_requirement(&name).ok_or_else(|| {
                let shown: String = String::from_utf8_lossy(&name).chars().take(64).collect();
                log::warn!(
                    "the route's metadata names requirement {shown:?}, which is not configured: \
                     refusing the request (403 access_denied)"
                );
                AuthError::new(
                    ErrorCode::AccessDenied,
                    "The route names a requirement that is not configured",
                )
            });
        }
        // Our metadata namespace without a string `requirement` is a route misconfigured, not
        // a route that says nothing: refuse rather than fall through to the path rules.
        if request
            .route(RouteProperty::Metadata)
            .is_some_and(|metadata| has_filter_metadata(&metadata, ROUTE_METADATA_NAMESPACE))
        {
            log::warn!(
                "the route's metadata under `jwt_authn_wasm` has no string `requirement`: \
                 refusing the request (403 access_denied)"
            );
            return Err(AuthError::new(
                ErrorCode::AccessDenied,
                "The route names a requirement that is not configured",
            ));
        }
        if !config.requirement_map.is_empty() {
            let mapped = request
                .route(RouteProperty::Name)
                .and_then(|name| config.mapped_requirement(&name));
            if let Some(chosen) = mapped {
                return Ok(chosen);
            }
        }
    }
    // Without rules the path cannot change the requirement: skip normalizing it.
    if config.rules.is_empty() {
        return Ok(RequirementId::Default);
    }
    Ok(config.rule_for(method, &path::normalize(target)))
}

/// The verified result cached for `token` at `now` (seconds), if its provider's key set is still
/// the one it was verified under and `candidates` (when limited) accept that provider.
fn cached(
    cache: &mut TokenCache,
    keys: &mut dyn KeySource,
    token: &[u8],
    now: u64,
    candidates: Option<&[usize]>,
) -> Option<Rc<Verified>> {
    let lookup = cache.lookup(cache::key(token), now, |provider| {
        match keys.availability(provider) {
            Availability::Ready(_, version) => Some(version.generation),
            Availability::Pending | Availability::Unavailable => None,
        }
    });
    match lookup {
        Lookup::Hit { value, .. } if candidates.is_none_or(|c| c.contains(&value.provider)) => {
            Some(value)
        }
        // A miss, or not a provider this route accepts: the full path gives the precise error.
        _ => None,
    }
}

/// A cache hit's whole decision, worked out once for a configuration in which nothing but the
/// token can change it: no rules, a default requirement of `token` (no scopes or claims), tokens
/// taken first from `Authorization: Bearer`, and no claims copied upstream by any provider that
/// requirement accepts. (With one such provider that copies claims there is no plan at all: a
/// plan that declined its hits would make each of them look the token up twice.)
///
/// Why: a hit is most requests, and in Envoy its cost is mostly the code it runs through (the
/// general path touches ~220 more instruction-cache lines than this one: `bench/
/// callgrind-envoy.py`). [`HitPlan::decide`] returns the same verdict type, a [`Decision`],
/// and answers only what [`on_request_headers`] would answer, with the same edits (`tests::the_hit_plan_decides_as_the_full_path_does`); for
/// anything else (a miss, another header form, a provider it does not cover) it answers `None`
/// and the request takes the full path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HitPlan {
    /// Providers the default requirement accepts (`None`: every provider).
    candidates: Option<Vec<usize>>,
    /// Per provider: whether its credential is removed (`forward: false`).
    remove_credential: Vec<bool>,
    owned: Rc<[String]>,
    max_authorization_bytes: usize,
}

impl HitPlan {
    /// The plan for `config`, or `None` when a hit's outcome may depend on more than its token.
    pub fn new(config: &Config) -> Option<Self> {
        // With rules or route choices, more than the token decides a hit; filter state needs
        // the claims, which the plan does not keep.
        if !config.rules.is_empty() || config.routes_choose() || config.filter_state.is_some() {
            return None;
        }
        let requirement = config.requirement(RequirementId::Default);
        let Requirement::Token(accepted) = requirement else {
            return None;
        };
        let candidates = requirement.candidates();
        if token_sources(config, candidates.as_deref()).first()
            != Some(&TokenSource::AuthorizationBearer)
        {
            return None;
        }
        let plain = config
            .providers
            .iter()
            .enumerate()
            .filter(|(index, _)| accepted.is_empty() || accepted.contains(index))
            .all(|(_, provider)| {
                provider.sources.contains(&TokenSource::AuthorizationBearer)
                    && !provider.binds()
                    && provider.claim_to_headers.is_empty()
                    && provider.forward_payload_header.is_none()
                    && !provider.clear_route_cache
            });
        if !plain {
            return None;
        }
        Some(Self {
            candidates,
            remove_credential: config.providers.iter().map(|p| !p.forward).collect(),
            owned: Rc::clone(&config.owned_headers),
            max_authorization_bytes: config.limits.max_authorization_bytes,
        })
    }

    /// The edits of an allowed request when `authorization` (the header's value) holds a token
    /// in the cache that this plan covers; `None` sends the request down the full path.
    pub fn decide(
        &self,
        authorization: &[u8],
        keys: &mut dyn KeySource,
        cache: &mut TokenCache,
        now_ms: u64,
    ) -> Option<Decision> {
        if authorization.len() > self.max_authorization_bytes {
            return None;
        }
        let token = crate::request::extract::common_form_token(authorization)?;
        let verified = cached(
            cache,
            keys,
            token,
            now_ms / 1_000,
            self.candidates.as_deref(),
        )?;
        let remove_credential = *self.remove_credential.get(verified.provider)?;
        Some(Decision::Allow(Edits {
            owned: Rc::clone(&self.owned),
            credential: remove_credential.then_some(Cow::Borrowed("authorization")),
            set: Vec::new(),
            path: None,
            cookie: None,
            provider: Some(verified.provider),
            state: Vec::new(),
            clear_route_cache: false,
            tolerated: None,
        }))
    }
}

/// The token sources of the candidate providers, in provider order, without repeats.
fn token_sources<'c>(config: &'c Config, candidates: Option<&[usize]>) -> Cow<'c, [TokenSource]> {
    let Some(candidates) = candidates else {
        // Every provider: precomputed at configuration time, no allocation per request.
        return Cow::Borrowed(&config.all_sources);
    };
    let mut out: Vec<TokenSource> = Vec::new();
    for (index, provider) in config.providers.iter().enumerate() {
        if !candidates.contains(&index) {
            continue;
        }
        for source in &provider.sources {
            if !out.contains(source) {
                out.push(source.clone());
            }
        }
    }
    if out.is_empty() {
        out.push(TokenSource::AuthorizationBearer);
    }
    Cow::Owned(out)
}

/// Decides a paused request again, once keys may have arrived or its wait has run out.
pub fn on_keys_changed(
    config: &Config,
    pending: Pending,
    keys: &mut dyn RequestServices,
    cache: &mut TokenCache,
    wait_expired: bool,
    now_ms: u64,
) -> Decision {
    let requirement = pending.requirement;
    let via_dpop = pending.source == TokenSource::AuthorizationDpop;
    let decision = with_keys(config, pending, keys, cache, wait_expired, now_ms);
    let decision = challenged(config, requirement, marked_dpop(decision, via_dpop));
    tolerate(config, requirement, decision)
}

/// `allow_missing` and `allow_missing_or_failed`: a refusal the requirement tolerates becomes
/// a request let through without a verified token. The headers the filter owns are still
/// stripped (no claim header can be forged), the credential is left as it came, and the failure
/// goes to metrics and filter state, as Envoy's `failed_status_in_metadata` records it.
/// `allow_missing` tolerates only the absence of a token: no token source present, or an
/// `Authorization` header in another scheme (Envoy's extractor does not see those either).
fn tolerate(config: &Config, requirement: RequirementId, decision: Decision) -> Decision {
    let Decision::Deny(err, provider) = decision else {
        return decision;
    };
    let tolerated = match config.requirement(requirement) {
        Requirement::AllowMissing(_) => !err.bearer_attempted,
        Requirement::AllowMissingOrFailed(_) => true,
        _ => false,
    };
    if !tolerated {
        return Decision::Deny(err, provider);
    }
    let mut edits = Edits::strip_owned(config);
    edits.tolerated = Some(err.code);
    if config.filter_state.is_some() {
        let provider = provider.and_then(|index| config.providers.get(index));
        edits.state = state::refused(err.code, provider);
    }
    Decision::Allow(edits)
}

fn with_keys(
    config: &Config,
    mut pending: Pending,
    keys: &mut dyn RequestServices,
    cache: &mut TokenCache,
    wait_expired: bool,
    now_ms: u64,
) -> Decision {
    let index = pending.prepared.provider;
    // At most one re-read: a fetch that completed since this VM last looked may hold the kid.
    let mut rechecked = false;
    let (set, version) = loop {
        let (set, version) = match keys.availability(index) {
            Availability::Ready(set, version) => (set, version),
            Availability::Pending if !wait_expired => return Decision::Wait(Box::new(pending)),
            Availability::Pending | Availability::Unavailable => {
                return Decision::Deny(keys_unavailable(), Some(index))
            }
        };
        let Some(kid) = pending.prepared.kid.as_deref() else {
            break (set, version);
        };
        let unknown = set
            .candidates(Some(kid), pending.prepared.alg)
            .next()
            .is_none();
        if !unknown {
            break (set, version);
        }
        // A `kid` no key has: the provider may have rotated, or may publish the key a moment
        // after signing with it. Hold the request while refetches (rate-limited) run, up to the
        // wait's deadline; then refuse it with the keys at hand, and remember the kid.
        if wait_expired {
            if pending.awaiting_fetch.is_some() {
                keys.kid_not_found(index, kid);
            }
            break (set, version);
        }
        if pending
            .awaiting_fetch
            .is_some_and(|awaited| version.fetches < awaited)
        {
            return Decision::Wait(Box::new(pending));
        }
        match keys.request_refetch(index, kid, version) {
            Refetch::Await(awaited) => {
                pending.awaiting_fetch = Some(awaited);
                return Decision::Wait(Box::new(pending));
            }
            Refetch::Recheck if !rechecked => rechecked = true,
            // The record moved again while being read: the next tick decides.
            Refetch::Recheck => {
                pending.awaiting_fetch = Some(version.fetches.saturating_add(1));
                return Decision::Wait(Box::new(pending));
            }
            Refetch::Refused => break (set, version),
        }
    };
    let Pending {
        prepared,
        requirement,
        source,
        target,
        edits,
        awaiting_fetch: _,
        token,
        presented,
    } = pending;
    let alg = prepared.alg;
    let started = keys.timing_start(alg);
    let verification = prepared.verify(&set);
    if let Some(start) = started {
        keys.timing_end(alg, start);
    }
    let verified = match verification {
        Ok(verified) => Rc::new(verified),
        Err(err) => return Decision::Deny(err, Some(index)),
    };
    if let Some(provider) = config.providers.get(index) {
        let validity = Validity {
            provider: index,
            generation: version.generation,
            exp: whole_seconds(&verified, "exp", f64::floor),
            nbf: whole_seconds(&verified, "nbf", f64::ceil),
            skew: provider.clock_skew_seconds,
        };
        cache.insert(
            cache::key(token.as_bytes()),
            validity,
            now_ms / 1_000,
            Rc::clone(&verified),
        );
    }
    let request = Request {
        token: token.as_bytes(),
        source: &source,
        target: &target,
        presented: presented.as_deref(),
    };
    authorize(
        config,
        requirement,
        &verified,
        &request,
        keys,
        now_ms / 1_000,
        edits,
    )
}

/// What [`authorize`] needs of the request besides the verified token.
struct Request<'a> {
    token: &'a [u8],
    source: &'a TokenSource,
    target: &'a str,
    presented: Option<&'a Presented>,
}

/// A NumericDate claim in whole seconds, rounded by `round` (claims were already checked to be
/// finite and within range, so the conversion cannot saturate wrongly).
fn whole_seconds(verified: &Verified, name: &str, round: fn(f64) -> f64) -> Option<u64> {
    let value = verified
        .claims
        .get(name)
        .and_then(serde_json::Value::as_f64)?;
    let rounded = round(value);
    (rounded.is_finite() && rounded >= 0.0).then_some(rounded as u64)
}

/// A refusal when provider `index` does not take tokens from `source` (checked before the
/// signature, and again on a cache hit, where the same token may arrive another way).
fn source_refused(config: &Config, index: usize, source: &TokenSource) -> Option<Decision> {
    let accepted = config
        .providers
        .get(index)
        .is_some_and(|p| p.sources.contains(source));
    (!accepted).then(|| {
        Decision::Deny(
            AuthError::new(
                ErrorCode::InvalidToken,
                "Token was presented where its issuer's tokens are not accepted",
            ),
            Some(index),
        )
    })
}

/// The token's binding (DPoP, certificate) and the route's requirement against a verified
/// token, then the edits for the upstream.
fn authorize(
    config: &Config,
    requirement: RequirementId,
    verified: &Verified,
    request: &Request<'_>,
    services: &mut dyn RequestServices,
    now: u64,
    mut edits: Edits,
) -> Decision {
    let (source, target) = (request.source, request.target);
    let index = verified.provider;
    let Some(provider) = config.providers.get(index) else {
        return Decision::Deny(keys_unavailable(), Some(index));
    };
    if let Some(refusal) = source_refused(config, index, source) {
        return refusal;
    }
    if provider.binds() {
        let nothing = Presented::default();
        let bound = Bound {
            index,
            provider,
            claims: &verified.claims,
            token: request.token,
            source,
            presented: request.presented.unwrap_or(&nothing),
        };
        if let Err(err) = binding::check(&bound, services, &config.limits, now) {
            return Decision::Deny(err, Some(index));
        }
    }
    let grant = Grant {
        provider: index,
        claims: &verified.claims,
        scope_claims: &provider.scope_claims,
    };
    if let Err(shortfall) = config.requirement(requirement).check(&grant) {
        let mut err = AuthError::new(
            ErrorCode::InsufficientScope,
            "The token does not grant access to this resource",
        );
        if !shortfall.scopes.is_empty() {
            err.scope = Some(shortfall.scopes.join(" "));
        }
        return Decision::Deny(err, Some(index));
    }
    edits.provider = Some(index);
    edits.add_verified(
        provider,
        &verified.claims,
        &verified.payload_b64,
        source,
        target,
    );
    if let Some(wanted) = &config.filter_state {
        edits.state = state::verified(wanted, provider, &verified.claims);
    }
    Decision::Allow(edits)
}

#[cfg(test)]
mod tests;
