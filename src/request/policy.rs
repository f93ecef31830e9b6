//! Route policy: does a verified token meet the matched rule's requirement?
//!
//! Authentication comes first: a route with any requirement but `public` needs a valid token,
//! and only then are its conditions checked (401 before 403). The requirement tree itself is
//! configuration data ([`crate::config::rules`]). A claim is found by [`claim`] and written into
//! headers and filter state as [`render`] renders it, so every consumer reads a claim alike.

use crate::config::rules::{ClaimTest, Requirement, ScopeMode};
use serde_json::{Map, Value};

/// What a verified token offers to a requirement.
pub struct Grant<'a> {
    /// The provider that verified it.
    pub provider: usize,
    /// Its verified claims.
    pub claims: &'a Map<String, Value>,
    /// Claims holding scopes, for this provider.
    pub scope_claims: &'a [String],
}

/// A failed authorization check: which scopes, if any, would have helped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shortfall {
    /// The scopes of the first unmet scope requirement, for `WWW-Authenticate`.
    pub scopes: Vec<String>,
}

impl Requirement {
    /// Providers whose tokens can possibly satisfy this requirement (`None`: any provider).
    pub fn candidates(&self) -> Option<Vec<usize>> {
        match self {
            Self::Public | Self::Deny | Self::Scopes(..) | Self::Claim(..) => None,
            Self::Token(providers)
            | Self::AllowMissing(providers)
            | Self::AllowMissingOrFailed(providers)
                if providers.is_empty() =>
            {
                None
            }
            Self::Token(providers)
            | Self::AllowMissing(providers)
            | Self::AllowMissingOrFailed(providers) => Some(providers.clone()),
            Self::All(children) => {
                children
                    .iter()
                    .fold(None, |acc, child| match (acc, child.candidates()) {
                        (None, other) | (other, None) => other,
                        (Some(a), Some(b)) => {
                            Some(a.into_iter().filter(|p| b.contains(p)).collect())
                        }
                    })
            }
            Self::Any(children) => {
                let mut union: Vec<usize> = Vec::new();
                for child in children {
                    match child.candidates() {
                        None => return None,
                        Some(set) => {
                            for p in set {
                                if !union.contains(&p) {
                                    union.push(p);
                                }
                            }
                        }
                    }
                }
                Some(union)
            }
        }
    }

    /// Checks the requirement against a verified token.
    pub fn check(&self, grant: &Grant<'_>) -> Result<(), Shortfall> {
        match self {
            Self::Public => Ok(()),
            Self::Deny => Err(Shortfall::default()),
            Self::Token(providers)
            | Self::AllowMissing(providers)
            | Self::AllowMissingOrFailed(providers) => {
                if providers.is_empty() || providers.contains(&grant.provider) {
                    Ok(())
                } else {
                    Err(Shortfall::default())
                }
            }
            Self::Scopes(mode, wanted) => {
                let held = |scope: &String| has_scope(grant, scope);
                let ok = match mode {
                    ScopeMode::AllOf => wanted.iter().all(held),
                    ScopeMode::AnyOf => wanted.iter().any(held),
                };
                if ok {
                    Ok(())
                } else {
                    Err(Shortfall {
                        scopes: wanted.clone(),
                    })
                }
            }
            Self::Claim(name, test) => {
                if claim_passes(claim(grant.claims, name), test) {
                    Ok(())
                } else {
                    Err(Shortfall::default())
                }
            }
            Self::All(children) => children.iter().try_for_each(|child| child.check(grant)),
            Self::Any(children) => {
                let mut first: Option<Shortfall> = None;
                for child in children {
                    match child.check(grant) {
                        Ok(()) => return Ok(()),
                        Err(shortfall) => {
                            if first.as_ref().is_none_or(|f| f.scopes.is_empty()) {
                                first = Some(shortfall);
                            }
                        }
                    }
                }
                Err(first.unwrap_or_default())
            }
        }
    }
}

/// Looks a claim up by its exact name first (Auth0's namespaced claims contain dots), then as a
/// dotted path into nested objects.
pub fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(name) {
        return Some(value);
    }
    let mut parts = name.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn claim_passes(value: Option<&Value>, test: &ClaimTest) -> bool {
    let Some(value) = value else { return false };
    match test {
        ClaimTest::Equals(expected) => value == expected,
        ClaimTest::Contains(expected) => match (value, expected) {
            (Value::Array(items), _) => items.contains(expected),
            (Value::String(text), Value::String(word)) => {
                text.split_whitespace().any(|w| w == word)
            }
            _ => false,
        },
    }
}

/// Whether the token holds `scope` in any of the provider's scope claims: exact, case-sensitive.
/// A claim may be a space-separated string (`scope`, RFC 8693/9068) or an array of strings
/// (`scp`, Auth0's `permissions`).
fn has_scope(grant: &Grant<'_>, scope: &str) -> bool {
    grant
        .scope_claims
        .iter()
        .any(|name| match grant.claims.get(name) {
            Some(Value::String(text)) => text.split(' ').any(|s| s == scope),
            Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(scope)),
            _ => false,
        })
}

/// The scopes a token holds, for diagnostics and tests.
pub fn scopes_of(claims: &Map<String, Value>, scope_claims: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for name in scope_claims {
        match claims.get(name) {
            Some(Value::String(text)) => {
                out.extend(text.split(' ').filter(|s| !s.is_empty()).map(String::from))
            }
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(Value::as_str).map(String::from))
            }
            _ => {}
        }
    }
    out
}

/// Renders a claim as a header value: strings as they are, numbers and booleans as JSON, arrays
/// as their rendered elements joined by `,`, objects as compact JSON. `None` for values a header
/// cannot carry (control characters) or an empty array.
pub fn render(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) | Value::Object(_) => value.to_string(),
        Value::Null => return None,
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            if parts.is_empty() {
                return None;
            }
            parts.join(",")
        }
    };
    if text.chars().any(char::is_control) {
        return None;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rules::{Invalid, RawRequirement};
    use serde_json::json;

    fn requirement(value: Value) -> Result<Requirement, Invalid> {
        let raw: RawRequirement = serde_json::from_value(value).unwrap();
        raw.validate(&["a".to_string(), "b".to_string()], "requires", true)
    }

    fn grant<'a>(claims: &'a Map<String, Value>, scope_claims: &'a [String]) -> Grant<'a> {
        Grant {
            provider: 0,
            claims,
            scope_claims,
        }
    }

    fn default_scope_claims() -> Vec<String> {
        vec!["scope".into(), "scp".into(), "permissions".into()]
    }

    #[test]
    fn scopes_match_exactly_and_case_sensitively() {
        let req = requirement(json!({"scopes": {"all_of": ["read:admin"]}})).unwrap();
        let sc = default_scope_claims();
        for (claims, ok) in [
            (json!({"scope": "read:admin"}), true),
            (json!({"scope": "openid read:admin profile"}), true),
            (json!({"scp": ["read:admin"]}), true),
            (json!({"scp": "read:admin"}), true),
            (json!({"permissions": ["read:admin"]}), true),
            (json!({"scope": "read:admin2"}), false),
            (json!({"scope": "read"}), false),
            (json!({"scope": "READ:ADMIN"}), false),
            (json!({"scope": "read:admi"}), false),
            (json!({"scope": "xread:admin"}), false),
            (json!({"scope": ["read", "admin"]}), false),
            (json!({"permissions": "read:admin2 read"}), false),
            (json!({"scope": 7}), false),
            (json!({}), false),
        ] {
            let map = claims.as_object().unwrap().clone();
            assert_eq!(req.check(&grant(&map, &sc)).is_ok(), ok, "{claims}");
        }
        let map = json!({"scope": "read"}).as_object().unwrap().clone();
        assert_eq!(
            req.check(&grant(&map, &sc)).unwrap_err().scopes,
            vec!["read:admin"]
        );
    }

    #[test]
    fn scope_claims_are_configurable() {
        let req = requirement(json!({"scopes": {"all_of": ["read:admin"]}})).unwrap();
        let only_scp = vec!["scp".to_string()];
        let map = json!({"scope": "read:admin"}).as_object().unwrap().clone();
        assert!(req.check(&grant(&map, &only_scp)).is_err());
    }

    #[test]
    fn any_of_and_all_of() {
        let sc = default_scope_claims();
        let any = requirement(json!({"scopes": {"any_of": ["a", "b"]}})).unwrap();
        let all = requirement(json!({"scopes": {"all_of": ["a", "b"]}})).unwrap();
        let map = json!({"scope": "b"}).as_object().unwrap().clone();
        assert!(any.check(&grant(&map, &sc)).is_ok());
        assert!(all.check(&grant(&map, &sc)).is_err());
    }

    #[test]
    fn claim_conditions() {
        let sc = default_scope_claims();
        let equals = requirement(json!({"claim": {"name": "role", "equals": "admin"}})).unwrap();
        let contains =
            requirement(json!({"claim": {"name": "org.roles", "contains": "admin"}})).unwrap();
        let namespaced = requirement(
            json!({"claim": {"name": "https://example.com/roles", "contains": "admin"}}),
        )
        .unwrap();
        let map = json!({
            "role": "admin",
            "org": {"roles": ["user", "admin"]},
            "https://example.com/roles": "admin editor"
        })
        .as_object()
        .unwrap()
        .clone();
        assert!(equals.check(&grant(&map, &sc)).is_ok());
        assert!(contains.check(&grant(&map, &sc)).is_ok());
        assert!(namespaced.check(&grant(&map, &sc)).is_ok());
        let map = json!({"role": "administrator", "org": {"roles": "user"}})
            .as_object()
            .unwrap()
            .clone();
        assert!(equals.check(&grant(&map, &sc)).is_err());
        assert!(contains.check(&grant(&map, &sc)).is_err());
    }

    #[test]
    fn combinations_and_candidates() {
        let req = requirement(json!({"all": [
            {"token": {"providers": ["b"]}},
            {"any": [{"scopes": {"all_of": ["x"]}}, {"claim": {"name": "role", "equals": "admin"}}]}
        ]}))
        .unwrap();
        assert_eq!(req.candidates(), Some(vec![1]));
        let sc = default_scope_claims();
        let map = json!({"role": "admin"}).as_object().unwrap().clone();
        let from_b = Grant {
            provider: 1,
            claims: &map,
            scope_claims: &sc,
        };
        assert!(req.check(&from_b).is_ok());
        let from_a = Grant {
            provider: 0,
            claims: &map,
            scope_claims: &sc,
        };
        assert!(req.check(&from_a).is_err());
        assert_eq!(
            requirement(json!({"token": {}})).unwrap().candidates(),
            None
        );
        let any = requirement(
            json!({"any": [{"token": {"providers": ["a"]}}, {"token": {"providers": ["b"]}}]}),
        )
        .unwrap();
        assert_eq!(any.candidates(), Some(vec![0, 1]));
    }

    #[test]
    fn invalid_requirements_are_rejected() {
        assert!(requirement(json!({"token": {"providers": ["nope"]}})).is_err());
        assert!(requirement(json!({"scopes": {"all_of": []}})).is_err());
        assert!(requirement(json!({"scopes": {"all_of": ["a b"]}})).is_err());
        assert!(requirement(json!({"scopes": {"all_of": ["a\"b"]}})).is_err());
        assert!(requirement(json!({"scopes": {"all_of": ["a"], "any_of": ["b"]}})).is_err());
        assert!(requirement(json!({"claim": {"name": "r"}})).is_err());
        assert!(requirement(json!({"all": []})).is_err());
        assert!(requirement(json!({"all": [{"public": {}}]})).is_err());
        assert!(serde_json::from_value::<RawRequirement>(json!({"publik": {}})).is_err());
        assert!(
            serde_json::from_value::<RawRequirement>(json!({"public": {}, "deny": {}})).is_err()
        );
    }

    #[test]
    fn rendering() {
        assert_eq!(render(&json!("admin")).unwrap(), "admin");
        assert_eq!(render(&json!(42)).unwrap(), "42");
        assert_eq!(render(&json!(1.5)).unwrap(), "1.5");
        assert_eq!(render(&json!(true)).unwrap(), "true");
        assert_eq!(render(&json!(["a", "b", 3])).unwrap(), "a,b,3");
        assert_eq!(render(&json!({"k": "v"})).unwrap(), "{\"k\":\"v\"}");
        assert_eq!(render(&json!([])), None);
        assert_eq!(render(&json!(null)), None);
        assert_eq!(render(&json!("a\r\nx-evil: 1")), None);
    }
}
