//! Route policy: which requests need what.
//!
//! Rules are tried in order on the normalized path (see [`crate::path`]) and method; the first
//! match decides. A requirement is a small boolean language over the verified token: a token from
//! some providers, scopes, claim conditions, and `all`/`any` of those. Authentication comes
//! first: a route with any requirement but `public` needs a valid token, and only then are its
//! conditions checked (401 before 403).

use serde::Deserialize;
use serde_json::{Map, Value};

/// How a rule's path matches the normalized request path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole path equals this.
    Exact(String),
    /// The path starts with this (plain string prefix).
    Prefix(String),
    /// The path equals this or continues with `/`: `/admin` covers `/admin/x`, not `/administrator`.
    SeparatedPrefix(String),
}

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            Self::Exact(p) => path == p,
            Self::Prefix(p) => path.starts_with(p.as_str()),
            Self::SeparatedPrefix(p) => path
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }
}

/// What a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMatch {
    /// The path condition.
    pub path: PathMatch,
    /// Upper-case methods; empty means any.
    pub methods: Vec<String>,
}

impl RouteMatch {
    /// Whether a request with this method and normalized path matches.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && self.path.matches(path)
    }
}

/// How a scope list must be met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeMode {
    /// Every listed scope.
    AllOf,
    /// At least one listed scope.
    AnyOf,
}

/// A test on one claim's value.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimTest {
    /// The claim equals this JSON value exactly.
    Equals(Value),
    /// The claim is an array with this element, or a space-separated string with this word.
    Contains(Value),
}

/// What a matched request needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Requirement {
    /// Nothing: credentials are ignored.
    Public,
    /// Refused outright: 403 `access_denied`.
    Deny,
    /// A valid token from one of these providers (indices); empty means any provider.
    Token(Vec<usize>),
    /// Scopes of the valid token.
    Scopes(ScopeMode, Vec<String>),
    /// A condition on a claim of the valid token (`name` may be a dotted path).
    Claim(String, ClaimTest),
    /// Every sub-requirement.
    All(Vec<Requirement>),
    /// At least one sub-requirement.
    Any(Vec<Requirement>),
}

/// One rule: a match and its requirement.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Which requests it covers.
    pub route: RouteMatch,
    /// What they need.
    pub requires: Requirement,
}

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
            Self::Token(providers) if providers.is_empty() => None,
            Self::Token(providers) => Some(providers.clone()),
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
            Self::Token(providers) => {
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

// ---- The wire format ----

/// A rule as written in the configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    #[serde(rename = "match")]
    pub(crate) route: RawMatch,
    pub(crate) requires: RawRequirement,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMatch {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    path_separated_prefix: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum RawRequirement {
    Public {},
    Deny {},
    Token {
        #[serde(default)]
        providers: Vec<String>,
    },
    Scopes(RawScopes),
    Claim(RawClaim),
    All(Vec<RawRequirement>),
    Any(Vec<RawRequirement>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScopes {
    #[serde(default)]
    all_of: Option<Vec<String>>,
    #[serde(default)]
    any_of: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClaim {
    name: String,
    #[serde(default)]
    equals: Option<Value>,
    #[serde(default)]
    contains: Option<Value>,
}

/// A validation failure: the field path below the rule and the message.
pub(crate) type Invalid = (String, String);

fn invalid(field: &str, message: impl Into<String>) -> Invalid {
    (field.to_string(), message.into())
}

impl RawRule {
    pub(crate) fn validate(self, providers: &[String]) -> Result<Rule, Invalid> {
        Ok(Rule {
            route: self.route.validate()?,
            requires: self.requires.validate(providers, "requires", true)?,
        })
    }
}

impl RawMatch {
    fn validate(self) -> Result<RouteMatch, Invalid> {
        let path = match (self.path, self.prefix, self.path_separated_prefix) {
            (Some(p), None, None) => PathMatch::Exact(p),
            (None, Some(p), None) => PathMatch::Prefix(p),
            (None, None, Some(p)) => {
                if p.len() > 1 && p.ends_with('/') {
                    return Err(invalid(
                        "match.path_separated_prefix",
                        "must not end with `/` (it already covers the sub-paths)",
                    ));
                }
                PathMatch::SeparatedPrefix(p)
            }
            _ => {
                return Err(invalid(
                    "match",
                    "needs exactly one of `path`, `prefix`, `path_separated_prefix`",
                ))
            }
        };
        let (PathMatch::Exact(p) | PathMatch::Prefix(p) | PathMatch::SeparatedPrefix(p)) = &path;
        if !p.starts_with('/') {
            return Err(invalid("match", "paths must start with `/`"));
        }
        if p.contains(['?', '#']) || crate::path::normalize(p) != *p {
            return Err(invalid(
                "match",
                "paths must be in normalized form (no query, `//`, `.` or `..` segments, or escaped unreserved characters)",
            ));
        }
        let mut methods = Vec::with_capacity(self.methods.len());
        for (i, method) in self.methods.into_iter().enumerate() {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(invalid(
                    &format!("match.methods[{i}]"),
                    "must be an upper-case method name",
                ));
            }
            methods.push(method);
        }
        Ok(RouteMatch { path, methods })
    }
}

fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == b'!' || (b'#'..=b'[').contains(&b) || (b']'..=b'~').contains(&b))
}

impl RawRequirement {
    /// Validates against the provider names; `top` is false inside `all`/`any`.
    pub(crate) fn validate(
        self,
        providers: &[String],
        at: &str,
        top: bool,
    ) -> Result<Requirement, Invalid> {
        Ok(match self {
            Self::Public {} | Self::Deny {} if !top => {
                return Err(invalid(
                    at,
                    "`public` and `deny` stand alone, not inside `all`/`any`",
                ))
            }
            Self::Public {} => Requirement::Public,
            Self::Deny {} => Requirement::Deny,
            Self::Token { providers: names } => {
                let mut indices = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let index = providers.iter().position(|p| p == name).ok_or_else(|| {
                        invalid(
                            &format!("{at}.token.providers[{i}]"),
                            format!("no provider is named `{name}`"),
                        )
                    })?;
                    indices.push(index);
                }
                Requirement::Token(indices)
            }
            Self::Scopes(RawScopes { all_of, any_of }) => {
                let (mode, scopes) = match (all_of, any_of) {
                    (Some(s), None) => (ScopeMode::AllOf, s),
                    (None, Some(s)) => (ScopeMode::AnyOf, s),
                    _ => {
                        return Err(invalid(
                            &format!("{at}.scopes"),
                            "needs exactly one of `all_of`, `any_of`",
                        ))
                    }
                };
                if scopes.is_empty() {
                    return Err(invalid(
                        &format!("{at}.scopes"),
                        "must list at least one scope",
                    ));
                }
                if let Some(bad) = scopes.iter().find(|s| !valid_scope(s)) {
                    return Err(invalid(
                        &format!("{at}.scopes"),
                        format!("`{bad}` is not a scope token (RFC 6749 section 3.3: no spaces, quotes or backslashes)"),
                    ));
                }
                Requirement::Scopes(mode, scopes)
            }
            Self::Claim(RawClaim {
                name,
                equals,
                contains,
            }) => {
                if name.is_empty() {
                    return Err(invalid(&format!("{at}.claim.name"), "must not be empty"));
                }
                let test = match (equals, contains) {
                    (Some(v), None) => ClaimTest::Equals(v),
                    (None, Some(v)) => ClaimTest::Contains(v),
                    _ => {
                        return Err(invalid(
                            &format!("{at}.claim"),
                            "needs exactly one of `equals`, `contains`",
                        ))
                    }
                };
                Requirement::Claim(name, test)
            }
            Self::All(children) | Self::Any(children) if children.is_empty() => {
                return Err(invalid(at, "`all` and `any` need at least one requirement"))
            }
            Self::All(children) => Requirement::All(
                children
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| c.validate(providers, &format!("{at}.all[{i}]"), false))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Any(children) => Requirement::Any(
                children
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| c.validate(providers, &format!("{at}.any[{i}]"), false))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn requirement(value: Value) -> Result<Requirement, Invalid> {
        let raw: RawRequirement = serde_json::from_value(value).unwrap();
        raw.validate(&["a".to_string(), "b".to_string()], "requires", true)
    }

    fn route(value: Value) -> Result<RouteMatch, Invalid> {
        let raw: RawMatch = serde_json::from_value(value).unwrap();
        raw.validate()
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
    fn separated_prefix_respects_segments() {
        let m = route(json!({"path_separated_prefix": "/admin"})).unwrap();
        assert!(m.matches("GET", "/admin"));
        assert!(m.matches("GET", "/admin/"));
        assert!(m.matches("GET", "/admin/x"));
        assert!(!m.matches("GET", "/administrator"));
        assert!(!m.matches("GET", "/"));
    }

    #[test]
    fn exact_prefix_and_methods() {
        let m = route(json!({"path": "/user", "methods": ["GET", "HEAD"]})).unwrap();
        assert!(m.matches("GET", "/user"));
        assert!(m.matches("HEAD", "/user"));
        assert!(!m.matches("POST", "/user"));
        assert!(!m.matches("GET", "/user/"));
        let m = route(json!({"prefix": "/api"})).unwrap();
        assert!(m.matches("DELETE", "/apix"));
    }

    #[test]
    fn bad_matches_are_rejected() {
        assert!(route(json!({})).is_err());
        assert!(route(json!({"path": "/a", "prefix": "/a"})).is_err());
        assert!(route(json!({"path": "a"})).is_err());
        assert!(route(json!({"path": "/a/../b"})).is_err());
        assert!(route(json!({"path": "//a"})).is_err());
        assert!(route(json!({"path": "/a?x"})).is_err());
        assert!(route(json!({"path_separated_prefix": "/admin/"})).is_err());
        assert!(route(json!({"path": "/a", "methods": ["get"]})).is_err());
        assert!(route(json!({"prefix": "/"})).is_ok());
        assert!(route(json!({"prefix": "/api/"})).is_ok());
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
}
