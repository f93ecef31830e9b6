//! What the filters and access logs after this one learn of the decision: Envoy filter-state
//! properties (`wasm.jwt_authn_wasm.*`), written only when `filter_state` is configured.

use crate::config::state::{FilterState, FILTER_STATE_PREFIX};
use crate::config::Provider;
use crate::error::ErrorCode;
use crate::request::policy::{claim, render};
use serde_json::{Map, Value};

/// `jwt_authn_wasm.status`: `ok`, or the code of the local reply.
const STATUS: &str = "status";
/// `jwt_authn_wasm.provider`: the name of the provider whose token was checked.
const PROVIDER: &str = "provider";
/// `jwt_authn_wasm.payload`: the verified payload as JSON.
const PAYLOAD: &str = "payload";

/// Filter-state properties: (name without the `wasm.` Envoy adds, value).
pub type Properties = Vec<(String, Vec<u8>)>;

fn property(name: &str, value: impl Into<Vec<u8>>) -> (String, Vec<u8>) {
    (format!("{FILTER_STATE_PREFIX}{name}"), value.into())
}

/// What a verified token from `provider` leaves: status `ok`, the provider, the chosen claims
/// (rendered as `claim_to_headers` renders them; an absent claim leaves nothing) and, if asked,
/// the payload.
pub fn verified(
    wanted: &FilterState,
    provider: &Provider,
    claims: &Map<String, Value>,
) -> Properties {
    let mut out = Vec::with_capacity(2 + wanted.claims.len() + usize::from(wanted.payload));
    out.push(property(STATUS, "ok"));
    out.push(property(PROVIDER, provider.name.as_str()));
    for entry in &wanted.claims {
        if let Some(value) = claim(claims, &entry.claim_name).and_then(render) {
            out.push((entry.property.clone(), value.into_bytes()));
        }
    }
    if wanted.payload {
        // A map of JSON values always serializes; an empty object is the fallback anyway.
        let json = serde_json::to_vec(claims).unwrap_or_else(|_| b"{}".to_vec());
        out.push(property(PAYLOAD, json));
    }
    out
}

/// What a refused request leaves: the code of the reply and, when one was chosen, the provider
/// (Envoy's `failed_status_in_metadata`).
pub fn refused(code: ErrorCode, provider: Option<&Provider>) -> Properties {
    let mut out = vec![property(STATUS, code.as_str())];
    if let Some(provider) = provider {
        out.push(property(PROVIDER, provider.name.as_str()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn config(filter_state: Value) -> Config {
        let mut value = crate::config::tests::minimal();
        value["filter_state"] = filter_state;
        Config::parse(value.to_string().as_bytes()).unwrap()
    }

    fn text(properties: &Properties) -> Vec<(&str, String)> {
        properties
            .iter()
            .map(|(k, v)| (k.as_str(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    #[test]
    fn a_verified_token_leaves_status_provider_claims_and_payload() {
        let config = config(json!({
            "claims": [
                {"claim_name": "sub", "key": "sub"},
                {"claim_name": "org.id", "key": "org"},
                {"claim_name": "missing", "key": "missing"},
                {"claim_name": "roles", "key": "roles"}
            ],
            "payload": true
        }));
        let claims = json!({"sub": "user-1", "org": {"id": 7}, "roles": ["a", "b"]});
        let claims = claims.as_object().unwrap();
        let wanted = config.filter_state.as_ref().unwrap();
        let out = verified(wanted, &config.providers[0], claims);
        assert_eq!(
            text(&out),
            vec![
                ("jwt_authn_wasm.status", "ok".to_owned()),
                ("jwt_authn_wasm.provider", "idp".to_owned()),
                ("jwt_authn_wasm.sub", "user-1".to_owned()),
                ("jwt_authn_wasm.org", "7".to_owned()),
                ("jwt_authn_wasm.roles", "a,b".to_owned()),
                (
                    "jwt_authn_wasm.payload",
                    r#"{"org":{"id":7},"roles":["a","b"],"sub":"user-1"}"#.to_owned()
                ),
            ]
        );
    }

    #[test]
    fn a_refusal_leaves_its_code() {
        let config = config(json!({}));
        assert_eq!(
            text(&refused(
                ErrorCode::TokenExpired,
                Some(&config.providers[0])
            )),
            vec![
                ("jwt_authn_wasm.status", "token_expired".to_owned()),
                ("jwt_authn_wasm.provider", "idp".to_owned()),
            ]
        );
        assert_eq!(
            text(&refused(ErrorCode::AuthorizationHeaderMissing, None)),
            vec![(
                "jwt_authn_wasm.status",
                "authorization_header_missing".to_owned()
            )]
        );
    }

    #[test]
    fn keys_are_checked_with_their_paths() {
        for (state, field) in [
            (
                json!({"claims": [{"claim_name": "", "key": "a"}]}),
                "filter_state.claims[0].claim_name",
            ),
            (
                json!({"claims": [{"claim_name": "sub", "key": "a:b"}]}),
                "filter_state.claims[0].key",
            ),
            (
                json!({"claims": [{"claim_name": "sub", "key": "status"}]}),
                "filter_state.claims[0].key",
            ),
            (
                json!({"claims": [{"claim_name": "sub", "key": "a"}, {"claim_name": "x", "key": "a"}]}),
                "filter_state.claims[1].key",
            ),
            (json!({"claim": []}), "filter_state.claim"),
        ] {
            let mut value = crate::config::tests::minimal();
            value["filter_state"] = state;
            let err = Config::parse(value.to_string().as_bytes()).unwrap_err();
            assert!(err.field.starts_with(field), "{err} for {field}");
        }
    }
}
