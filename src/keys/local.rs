//! Keys written in the configuration (`local_jwks`): parsed once at configure time, for the
//! verifier the host chose, and never fetched.
//!
//! This is the one road local keys take: the host's `on_configure`, the conformance vectors and
//! the tests all call [`local_key_sets`]. A local key set that holds no usable key, or holds
//! HMAC secrets for a provider that does not list an `HS*` algorithm, stops the plugin from
//! starting, with the field path in the error.

use crate::config::{Config, ConfigError, JwksSource, Provider};
use crate::keys::jwks::KeySet;
use crate::verify::{KeyKind, Verifier};
use std::rc::Rc;

/// Provider `index`'s local key set, prepared for `verifier`; `None` for a provider whose keys
/// are fetched.
pub fn local_key_set(
    provider: &Provider,
    index: usize,
    verifier: &Verifier,
) -> Result<Option<KeySet>, ConfigError> {
    let JwksSource::Local(text) = &provider.jwks else {
        return Ok(None);
    };
    let field = format!("providers[{index}].local_jwks.inline_string");
    let parsed = KeySet::parse_local(text, verifier)
        .map_err(|err| ConfigError::new(&field, format!("not a usable key set: {err}")))?;
    let has_secrets = parsed
        .keys
        .iter()
        .any(|jwk| jwk.key.kind() == KeyKind::Secret);
    if has_secrets && !provider.algorithms.iter().any(|alg| alg.is_symmetric()) {
        return Err(ConfigError::new(
            &field,
            "has HMAC keys (kty `oct`), which only HS256, HS384 or HS512 use: list them in \
             `algorithms`, never allowed by default",
        ));
    }
    Ok(Some(parsed.keys))
}

/// Every provider's local key set (one slot per provider, `None` where keys are fetched).
pub fn local_key_sets(
    config: &Config,
    verifier: &Verifier,
) -> Result<Vec<Option<Rc<KeySet>>>, ConfigError> {
    config
        .providers
        .iter()
        .enumerate()
        .map(|(index, provider)| {
            local_key_set(provider, index, verifier).map(|keys| keys.map(Rc::new))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{minimal, parse};
    use crate::verify::Algorithm;
    use serde_json::json;

    #[test]
    fn an_empty_local_key_set_stops_the_plugin() {
        let mut value = minimal();
        let provider = value["providers"][0].as_object_mut().unwrap();
        provider.remove("remote_jwks");
        provider.insert(
            "local_jwks".into(),
            json!({"inline_string": "{\"keys\": []}"}),
        );
        let config = parse(value).unwrap();
        let err = local_key_sets(&config, &Verifier::default()).unwrap_err();
        assert_eq!(err.field, "providers[0].local_jwks.inline_string");
        assert!(err.message.starts_with("not a usable key set"), "{err}");
    }

    #[test]
    fn remote_providers_have_no_local_keys() {
        let config = parse(minimal()).unwrap();
        let sets = local_key_sets(&config, &Verifier::default()).unwrap();
        assert_eq!(sets.len(), 1);
        assert!(sets[0].is_none());
    }

    #[test]
    fn hmac_keys_only_from_local_jwks_and_only_when_listed() {
        let local = |keys: serde_json::Value, algorithms: serde_json::Value| {
            let mut value = minimal();
            let provider = value["providers"][0].as_object_mut().unwrap();
            provider.remove("remote_jwks");
            provider.insert(
                "local_jwks".into(),
                json!({"inline_string": json!({"keys": keys}).to_string()}),
            );
            if !algorithms.is_null() {
                provider.insert("algorithms".into(), algorithms);
            }
            let config = parse(value)?;
            let keys = local_key_set(&config.providers[0], 0, &Verifier::default())?;
            Ok::<_, ConfigError>((config, keys))
        };
        // 32 bytes of `A`.
        let oct =
            json!({"kty": "oct", "kid": "s", "k": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE"});
        let (config, keys) = local(json!([oct.clone()]), json!(["HS256"])).unwrap();
        assert_eq!(config.providers[0].algorithms, vec![Algorithm::Hs256]);
        assert_eq!(keys.unwrap().len(), 1);
        // Never by default.
        let err = local(json!([oct.clone()]), json!(null)).unwrap_err();
        assert_eq!(err.field, "providers[0].local_jwks.inline_string");
        assert!(err.message.contains("HS256"), "{err}");
        // Never for a remote key set.
        let mut value = minimal();
        value["providers"][0]["algorithms"] = json!(["RS256", "HS256"]);
        let err = parse(value).unwrap_err();
        assert_eq!(err.field, "providers[0].algorithms[1]");
        assert!(err.message.contains("local_jwks"), "{err}");
        // A secret shorter than its alg's hash is not a key.
        let short = json!({"kty": "oct", "alg": "HS384", "k": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE"});
        let err = local(json!([short]), json!(["HS384"])).unwrap_err();
        assert_eq!(err.field, "providers[0].local_jwks.inline_string");
    }
}
