//! Route rules as configured: which requests need what, as data.
//!
//! Rules are tried in order on the normalized path (see [`crate::path`]) and method; the first
//! match decides. A requirement is a small boolean language over the verified token: a token from
//! some providers, scopes, claim conditions, and `all`/`any` of those. It is a tree of data,
//! compiled once from the configuration; [`crate::request::policy`] evaluates it against a
//! verified token.

pub mod matcher;

use serde::Deserialize;
use serde_json::Value;

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
    /// Like `Token`, but a request with no token at all passes (Envoy's `allow_missing`); a
    /// token that is present must be valid.
    AllowMissing(Vec<usize>),
    /// Like `Token`, but every request passes, with or without a valid token (Envoy's
    /// `allow_missing_or_failed`); the failure is left for later filters and logs.
    AllowMissingOrFailed(Vec<usize>),
    /// Scopes of the valid token.
    Scopes(ScopeMode, Vec<String>),
    /// A condition on a claim of the valid token (`name` may be a dotted path).
    Claim(String, ClaimTest),
    /// Every sub-requirement.
    All(Vec<Requirement>),
    /// At least one sub-requirement.
    Any(Vec<Requirement>),
}

/// Which of the configuration's requirements a request is held to.
///
/// The route chooses first (by a name in its metadata, or its name in `requirement_map`), then
/// the first path rule that matches, then `default`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequirementId {
    /// `default`: no route choice and no rule matched.
    Default,
    /// The requirement of `rules[i]`.
    Rule(usize),
    /// The `i`-th named requirement (names in sorted order).
    Named(usize),
}

/// One rule: a match and its requirement.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Which requests it covers.
    pub route: RouteMatch,
    /// What they need.
    pub requires: Requirement,
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
    AllowMissing {
        #[serde(default)]
        providers: Vec<String>,
    },
    AllowMissingOrFailed {
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

/// The indices of the providers `names` lists (`at` is the requirement's field path).
fn provider_indices(
    providers: &[String],
    names: &[String],
    at: &str,
) -> Result<Vec<usize>, Invalid> {
    let mut indices = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let index = providers.iter().position(|p| p == name).ok_or_else(|| {
            invalid(
                &format!("{at}.providers[{i}]"),
                format!("no provider is named `{name}`"),
            )
        })?;
        indices.push(index);
    }
    Ok(indices)
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
            Self::Public {}
            | Self::Deny {}
            | Self::AllowMissing { .. }
            | Self::AllowMissingOrFailed { .. }
                if !top =>
            {
                return Err(invalid(
                    at,
                    "`public`, `deny`, `allow_missing` and `allow_missing_or_failed` stand alone, not inside `all`/`any`",
                ))
            }
            Self::Public {} => Requirement::Public,
            Self::Deny {} => Requirement::Deny,
            Self::Token { providers: names } => {
                Requirement::Token(provider_indices(providers, &names, &format!("{at}.token"))?)
            }
            Self::AllowMissing { providers: names } => Requirement::AllowMissing(
                provider_indices(providers, &names, &format!("{at}.allow_missing"))?,
            ),
            Self::AllowMissingOrFailed { providers: names } => Requirement::AllowMissingOrFailed(
                provider_indices(providers, &names, &format!("{at}.allow_missing_or_failed"))?,
            ),
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

    fn route(value: Value) -> Result<RouteMatch, Invalid> {
        let raw: RawMatch = serde_json::from_value(value).unwrap();
        raw.validate()
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
}
