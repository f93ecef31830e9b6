use super::*;
use crate::verify::Algorithm;
use serde_json::json;

/// The smallest valid configuration: one remote provider.
pub(crate) fn minimal() -> serde_json::Value {
    json!({
        "providers": [{
            "name": "idp",
            "issuer": "https://idp.example.test/",
            "audiences": ["https://api.example.test"],
            "remote_jwks": {
                "http_uri": {
                    "uri": "https://idp.example.test/.well-known/jwks.json",
                    "cluster": "idp",
                    "timeout": "2s"
                }
            }
        }]
    })
}

/// Parses a configuration written as JSON.
pub(crate) fn parse(value: serde_json::Value) -> Result<Config, ConfigError> {
    Config::parse(value.to_string().as_bytes())
}

#[test]
fn minimal_config_gets_defaults() {
    let config = parse(minimal()).unwrap();
    let provider = &config.providers[0];
    assert_eq!(provider.algorithms, Algorithm::ASYMMETRIC.to_vec());
    assert_eq!(config.crypto, CryptoMode::Auto);
    assert_eq!(provider.clock_skew_seconds, 60);
    assert!(provider.require_expiration);
    let remote = provider.jwks.remote().unwrap();
    assert_eq!(remote.cache_duration_ms, 600_000);
    assert_eq!(remote.cache_control_min_ms, 300_000);
    assert_eq!(remote.cache_control_max_ms, 86_400_000);
    assert_eq!(remote.unknown_kid_refetch_ms, 1_000);
    assert_eq!(remote.max_staleness_ms, 86_400_000);
    assert_eq!(remote.max_body_bytes, 256 * 1024);
    let uri = remote.first_uri();
    assert_eq!(uri.authority, "idp.example.test");
    assert_eq!(uri.path, "/.well-known/jwks.json");
    assert_eq!(uri.scheme, "https");
    assert_eq!(uri.timeout_ms, 2_000);
    assert_eq!(config.realm, DEFAULT_REALM);
    assert_eq!(config.key_wait_timeout_ms, 5_000);
}

#[test]
fn unknown_field_is_rejected_with_its_path() {
    let mut value = minimal();
    value["providers"][0]["remote_jwks"]["http_uri"]["timout"] = json!("1s");
    let err = parse(value).unwrap_err();
    assert_eq!(err.field, "providers[0].remote_jwks.http_uri.timout");
    assert!(err.message.contains("unknown field `timout`"), "{err}");
}

#[test]
fn wrong_type_names_the_field() {
    let mut value = minimal();
    value["providers"][0]["audiences"] = json!("https://api.example.test");
    let err = parse(value).unwrap_err();
    assert_eq!(err.field, "providers[0].audiences");
}

#[test]
fn empty_and_non_json_configuration_is_rejected() {
    assert!(Config::parse(b"").is_err());
    assert!(Config::parse(b"  ").is_err());
    assert!(Config::parse(b"not json").is_err());
    assert!(Config::parse(b"{\"providers\": []}").is_err());
    assert!(Config::parse(&[0xff, 0xfe]).is_err());
}

#[test]
fn unsupported_algorithm_is_rejected() {
    for alg in ["none", "HS256", "rs256", "ES256K", "Ed25519", ""] {
        let mut value = minimal();
        value["providers"][0]["algorithms"] = json!(["RS256", alg]);
        let err = parse(value).unwrap_err();
        assert_eq!(err.field, "providers[0].algorithms[1]", "{alg}");
    }
    for alg in Algorithm::ASYMMETRIC {
        let mut value = minimal();
        value["providers"][0]["algorithms"] = json!([alg.name()]);
        assert_eq!(parse(value).unwrap().providers[0].algorithms, vec![alg]);
    }
    let mut value = minimal();
    value["providers"][0]["algorithms"] = json!([]);
    assert_eq!(parse(value).unwrap_err().field, "providers[0].algorithms");
}

#[test]
fn crypto_host_refuses_what_boringssl_cannot_verify() {
    let mut value = minimal();
    value["crypto"] = json!("host");
    let config = parse(value.clone()).unwrap();
    assert_eq!(config.crypto, CryptoMode::Host);
    let names: Vec<&str> = config.providers[0]
        .algorithms
        .iter()
        .map(|a| a.name())
        .collect();
    assert_eq!(
        names,
        ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
    );
    for alg in ["PS256", "PS512", "EdDSA"] {
        value["providers"][0]["algorithms"] = json!(["RS256", alg]);
        let err = parse(value.clone()).unwrap_err();
        assert_eq!(err.field, "providers[0].algorithms[1]", "{alg}");
        assert!(err.message.contains("crypto: host"), "{err}");
    }
    let mut value = minimal();
    value["crypto"] = json!("fips");
    assert_eq!(parse(value).unwrap_err().field, "crypto");
}

#[test]
fn duplicate_names_and_issuers_are_rejected() {
    let mut value = minimal();
    let copy = value["providers"][0].clone();
    value["providers"].as_array_mut().unwrap().push(copy);
    assert_eq!(parse(value.clone()).unwrap_err().field, "providers[1].name");
    value["providers"][1]["name"] = json!("other");
    assert_eq!(parse(value).unwrap_err().field, "providers[1].issuer");
}

#[test]
fn issuer_may_be_left_out_by_one_provider() {
    let mut value = minimal();
    value["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("issuer");
    let config = parse(value.clone()).unwrap();
    assert_eq!(config.providers[0].issuer, None);
    assert_eq!(config.provider_without_issuer(), Some(0));

    let mut two = value.clone();
    let mut copy = value["providers"][0].clone();
    copy["name"] = json!("other");
    two["providers"].as_array_mut().unwrap().push(copy);
    let err = parse(two).unwrap_err();
    assert_eq!(err.field, "providers[1].issuer");
    assert!(
        err.message.contains("only one provider may omit `issuer`"),
        "{err}"
    );

    value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
    let err = parse(value).unwrap_err();
    assert_eq!(err.field, "providers[0].remote_jwks.oidc_discovery");
    assert!(
        err.message
            .contains("discovery needs the provider's `issuer`"),
        "{err}"
    );

    let mut empty = minimal();
    empty["providers"][0]["issuer"] = json!("");
    let err = parse(empty).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.as_str()),
        (
            "providers[0].issuer",
            "must not be empty (leave it out to accept any issuer)"
        )
    );
}

#[test]
fn bad_uris_are_rejected() {
    for uri in [
        "idp.example.test/jwks",
        "ftp://idp/jwks",
        "https:///jwks",
        "https://user@idp/jwks",
        "https://idp/jw ks",
        "https://idp/jwks#frag",
    ] {
        let mut value = minimal();
        value["providers"][0]["remote_jwks"]["http_uri"]["uri"] = json!(uri);
        let err = parse(value).unwrap_err();
        assert_eq!(err.field, "providers[0].remote_jwks.http_uri.uri", "{uri}");
    }
}

#[test]
fn uri_without_path_gets_root() {
    let mut value = minimal();
    value["providers"][0]["remote_jwks"]["http_uri"]["uri"] = json!("http://idp:8080");
    let config = parse(value).unwrap();
    let uri = config.providers[0].jwks.remote().unwrap().first_uri();
    assert_eq!(
        (uri.authority.as_str(), uri.path.as_str()),
        ("idp:8080", "/")
    );
}

#[test]
fn durations_parse_like_protobuf_json() {
    assert_eq!(parse_duration_ms("5s", "f").unwrap(), 5_000);
    assert_eq!(parse_duration_ms("0.25s", "f").unwrap(), 250);
    assert_eq!(parse_duration_ms("1.5s", "f").unwrap(), 1_500);
    for bad in [
        "5",
        "s",
        "-1s",
        "1.s",
        ".5s",
        "1e3s",
        "5ms",
        "0.0001s",
        "9999999999s",
    ] {
        assert!(parse_duration_ms(bad, "f").is_err(), "{bad}");
    }
}

#[test]
fn zero_timeout_and_tiny_cache_duration_are_rejected() {
    let mut value = minimal();
    value["providers"][0]["remote_jwks"]["http_uri"]["timeout"] = json!("0s");
    assert!(parse(value).is_err());
    let mut value = minimal();
    value["providers"][0]["remote_jwks"]["cache_duration"] = json!("0.5s");
    assert!(parse(value).is_err());
}

#[test]
fn realm_must_be_header_safe() {
    let mut value = minimal();
    value["realm"] = json!("a\"b");
    assert_eq!(parse(value).unwrap_err().field, "realm");
}

#[test]
fn rules_and_forwarding_fields_validate_with_their_paths() {
    let mut value = minimal();
    value["rules"] = json!([
        {"match": {"path": "/"}, "requires": {"public": {}}},
        {"match": {"prefix": "/admin"}, "requires": {"token": {"providers": ["nope"]}}}
    ]);
    assert_eq!(
        parse(value).unwrap_err().field,
        "rules[1].requires.token.providers[0]"
    );
    let mut value = minimal();
    value["rules"] =
        json!([{"match": {"prefix": "/a"}, "requires": {"scopes": {"all_of": ["a"]}}, "extra": 1}]);
    assert!(parse(value).unwrap_err().field.starts_with("rules[0]"));
    let mut value = minimal();
    value["providers"][0]["claim_to_headers"] =
        json!([{"claim_name": "sub", "header_name": "Authorization"}]);
    assert_eq!(
        parse(value).unwrap_err().field,
        "providers[0].claim_to_headers[0].header_name"
    );
    let mut value = minimal();
    value["providers"][0]["forward_payload_header"] = json!("bad header");
    assert_eq!(
        parse(value).unwrap_err().field,
        "providers[0].forward_payload_header"
    );
    let mut value = minimal();
    value["providers"][0]["from_cookies"] = json!(["a;b"]);
    assert_eq!(
        parse(value).unwrap_err().field,
        "providers[0].from_cookies[0]"
    );
}

#[test]
fn default_requirement_depends_on_rules() {
    let config = parse(minimal()).unwrap();
    assert_eq!(config.default, Requirement::Token(vec![]));
    assert!(config.bypass_cors_preflight);
    let mut value = minimal();
    value["rules"] = json!([{"match": {"path": "/"}, "requires": {"public": {}}}]);
    assert_eq!(parse(value.clone()).unwrap().default, Requirement::Deny);
    value["default"] = json!({"token": {}});
    assert_eq!(parse(value).unwrap().default, Requirement::Token(vec![]));
}

#[test]
fn sources_keep_authorization_first() {
    let mut value = minimal();
    value["providers"][0]["from_headers"] = json!([{"name": "X-Token", "value_prefix": "Token "}]);
    value["providers"][0]["from_params"] = json!(["access_token"]);
    value["providers"][0]["from_cookies"] = json!(["session"]);
    let config = parse(value).unwrap();
    assert_eq!(
        config.providers[0].sources,
        vec![
            TokenSource::AuthorizationBearer,
            TokenSource::Header {
                name: "x-token".into(),
                prefix: "Token ".into()
            },
            TokenSource::Param("access_token".into()),
            TokenSource::Cookie("session".into()),
        ]
    );
}

#[test]
fn discovery_and_local_keys() {
    let mut value = minimal();
    value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
    let config = parse(value).unwrap();
    match &config.providers[0].jwks.remote().unwrap().endpoint {
        JwksEndpoint::Discovery(uri) => {
            assert_eq!(uri.path, "/.well-known/openid-configuration");
            assert_eq!(uri.authority, "idp.example.test");
            assert_eq!(uri.cluster, "idp");
        }
        other => panic!("{other:?}"),
    }
    let mut value = minimal();
    value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}, "http_uri": {"uri": "http://a/", "cluster": "c"}});
    assert_eq!(parse(value).unwrap_err().field, "providers[0].remote_jwks");
    let mut value = minimal();
    value["providers"][0]["issuer"] = json!("not-a-url");
    value["providers"][0]["remote_jwks"] = json!({"oidc_discovery": {"cluster": "idp"}});
    assert!(parse(value)
        .unwrap_err()
        .message
        .contains("discovery needs an http(s) issuer URL"));
    let mut value = minimal();
    value["providers"][0]["remote_jwks"] = serde_json::Value::Null;
    value["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("remote_jwks");
    value["providers"][0]["local_jwks"] = json!({"inline_string": "{\"keys\": []}"});
    // An empty local key set parses here, and is refused by `keys::local`.
    assert!(parse(value.clone()).is_ok());
    value["providers"][0]
        .as_object_mut()
        .unwrap()
        .remove("local_jwks");
    assert_eq!(parse(value).unwrap_err().field, "providers[0]");
}

#[test]
fn refresh_follows_max_age_within_bounds() {
    let config = parse(minimal()).unwrap();
    let remote = config.providers[0].jwks.remote().unwrap();
    assert_eq!(remote.next_refresh_ms(0, None), 600_000);
    assert_eq!(remote.next_refresh_ms(0, Some(3_600)), 3_240_000);
    assert_eq!(remote.next_refresh_ms(0, Some(1)), 270_000);
    assert_eq!(remote.next_refresh_ms(0, Some(10_000_000)), 77_760_000);
    assert_eq!(remote.next_refresh_ms(u64::MAX, Some(u64::MAX)), u64::MAX);
}

#[test]
fn limits_validate() {
    let mut value = minimal();
    value["limits"] = json!({"max_json_depth": 0});
    assert_eq!(parse(value).unwrap_err().field, "limits.max_json_depth");
    let mut value = minimal();
    value["limits"] = json!({"max_token_bytes": 16384, "max_kid_bytes": 64});
    let config = parse(value).unwrap();
    assert_eq!(config.limits.max_token_bytes, 16384);
    assert_eq!(config.limits.max_kid_bytes, 64);
    let mut value = minimal();
    value["limits"] = json!({"max_token_byte": 1});
    assert!(parse(value).is_err());
}

#[test]
fn named_requirements_and_the_route_map_validate_with_their_paths() {
    let mut value = minimal();
    value["requirements"] = json!({
        "admin": {"scopes": {"all_of": ["admin"]}},
        "open": {"public": {}}
    });
    value["requirement_map"] = json!({"admin-route": "admin"});
    let config = parse(value.clone()).unwrap();
    assert!(config.routes_choose());
    let admin = config.named_requirement(b"admin").unwrap();
    assert_eq!(admin, RequirementId::Named(0));
    assert_eq!(
        config.named_requirement(b"open"),
        Some(RequirementId::Named(1))
    );
    assert_eq!(config.named_requirement(b"nope"), None);
    assert_eq!(config.mapped_requirement(b"admin-route"), Some(admin));
    assert_eq!(config.mapped_requirement(b"other-route"), None);
    assert_eq!(
        config.requirement(RequirementId::Named(1)),
        &Requirement::Public
    );
    assert!(!parse(minimal()).unwrap().routes_choose());

    let mut bad = value.clone();
    bad["requirement_map"] = json!({"admin-route": "missing"});
    let err = parse(bad).unwrap_err();
    assert_eq!(err.field, "requirement_map.admin-route");
    assert!(
        err.message.contains("no requirement is named `missing`"),
        "{err}"
    );

    let mut bad = value.clone();
    bad["requirements"]["bad name"] = json!({"public": {}});
    assert_eq!(parse(bad).unwrap_err().field, "requirements.bad name");

    let mut bad = value.clone();
    bad["requirements"]["admin"] = json!({"token": {"providers": ["nope"]}});
    assert_eq!(
        parse(bad).unwrap_err().field,
        "requirements.admin.token.providers[0]"
    );

    let mut bad = value;
    bad["requirement_map"] = json!({"": "admin"});
    assert_eq!(parse(bad).unwrap_err().field, "requirement_map.");
}

#[test]
fn stat_prefix_is_one_unreserved_segment() {
    assert_eq!(parse(minimal()).unwrap().metric_root(), "jwt_authn");
    let mut value = minimal();
    value["stat_prefix"] = json!("edge-1");
    assert_eq!(parse(value).unwrap().metric_root(), "jwt_authn.edge-1");
    for bad in ["", "a.b", "provider", "token_cache", "x y"] {
        let mut value = minimal();
        value["stat_prefix"] = json!(bad);
        assert_eq!(parse(value).unwrap_err().field, "stat_prefix", "{bad:?}");
    }
}

#[test]
fn subjects_take_one_string_match_and_refuse_regexes() {
    use crate::config::provider::{SubjectMatch, SubjectMatcher};
    let with = |subjects: serde_json::Value| {
        let mut value = minimal();
        value["providers"][0]["subjects"] = subjects;
        parse(value)
    };
    let config = with(json!({"prefix": "Spiffe://Example.org/", "ignore_case": true})).unwrap();
    assert_eq!(
        config.providers[0].subjects,
        Some(SubjectMatcher {
            kind: SubjectMatch::Prefix,
            value: "Spiffe://Example.org/".into(),
            ignore_case: true,
        })
    );
    let err = with(json!({"safe_regex": {"regex": ".*"}})).unwrap_err();
    assert_eq!(err.field, "providers[0].subjects.safe_regex");
    for two_or_none in [json!({"exact": "a", "prefix": "b"}), json!({})] {
        let err = with(two_or_none).unwrap_err();
        assert_eq!(err.field, "providers[0].subjects");
    }
    assert_eq!(
        with(json!({"contains": ""})).unwrap_err().field,
        "providers[0].subjects"
    );
    assert_eq!(
        with(json!({"glob": "*"})).unwrap_err().field,
        "providers[0].subjects.glob"
    );
}

#[test]
fn padding_the_payload_header_needs_the_header() {
    let mut value = minimal();
    value["providers"][0]["pad_forward_payload_header"] = json!(true);
    let err = parse(value.clone()).unwrap_err();
    assert_eq!(err.field, "providers[0].pad_forward_payload_header");
    value["providers"][0]["forward_payload_header"] = json!("x-jwt-payload");
    assert!(parse(value).unwrap().providers[0].pad_forward_payload_header);
}
