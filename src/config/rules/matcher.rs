//! Route rules compiled into a byte trie of their path patterns, so finding the first rule that
//! matches a request costs a walk along its path, not a test of every rule: a thousand rules
//! cost about what one does.
//!
//! Each node is a path prefix; a rule sits on the node of its pattern, in the list of its kind
//! (exact, prefix, separated prefix), in rule order. Walking the request path, every node
//! passed may hold rules that match (a prefix always does, a separated prefix when the path ends
//! or continues with `/` there, an exact pattern only at the path's end); the first matching
//! rule is the lowest index among them whose methods allow the request.

use super::{PathMatch, Rule};

/// The compiled rules of one configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMatcher {
    nodes: Vec<Node>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Node {
    /// Children by next byte, sorted.
    children: Vec<(u8, u32)>,
    /// Rules, ascending, whose pattern ends here, by kind.
    exact: Vec<u32>,
    prefix: Vec<u32>,
    separated: Vec<u32>,
}

impl RuleMatcher {
    /// Compiles `rules` (in order: the first match wins).
    pub fn new(rules: &[Rule]) -> Self {
        let mut nodes = vec![Node::default()];
        for (index, rule) in rules.iter().enumerate() {
            let Ok(index) = u32::try_from(index) else {
                break;
            };
            let (pattern, kind) = match &rule.route.path {
                PathMatch::Exact(p) => (p, 0),
                PathMatch::Prefix(p) => (p, 1),
                PathMatch::SeparatedPrefix(p) => (p, 2),
            };
            let mut at = 0usize;
            for &byte in pattern.as_bytes() {
                let Some(node) = nodes.get(at) else { break };
                at = match node.children.binary_search_by_key(&byte, |&(b, _)| b) {
                    Ok(i) => node.children.get(i).map_or(0, |&(_, child)| child as usize),
                    Err(i) => {
                        let child = nodes.len();
                        if let Some(node) = nodes.get_mut(at) {
                            node.children.insert(i, (byte, child as u32));
                        }
                        nodes.push(Node::default());
                        child
                    }
                };
            }
            if let Some(node) = nodes.get_mut(at) {
                match kind {
                    0 => node.exact.push(index),
                    1 => node.prefix.push(index),
                    _ => node.separated.push(index),
                }
            }
        }
        Self { nodes }
    }

    /// The index of the first rule of `rules` (the ones compiled) matching `method` and the
    /// normalized `path`.
    pub fn first_match(&self, rules: &[Rule], method: &str, path: &str) -> Option<usize> {
        let path = path.as_bytes();
        let mut best: Option<u32> = None;
        let mut consider = |list: &[u32]| {
            for &index in list {
                if best.is_some_and(|b| b <= index) {
                    return;
                }
                let allowed = rules.get(index as usize).is_some_and(|rule| {
                    let methods = &rule.route.methods;
                    methods.is_empty() || methods.iter().any(|m| m == method)
                });
                if allowed {
                    best = Some(index);
                    return;
                }
            }
        };
        let mut at = 0usize;
        let mut depth = 0usize;
        while let Some(node) = self.nodes.get(at) {
            consider(&node.prefix);
            let next = path.get(depth);
            if next.is_none() || next == Some(&b'/') {
                consider(&node.separated);
            }
            let Some(&byte) = next else {
                consider(&node.exact);
                break;
            };
            match node.children.binary_search_by_key(&byte, |&(b, _)| b) {
                Ok(i) => {
                    at = node
                        .children
                        .get(i)
                        .map_or(usize::MAX, |&(_, c)| c as usize)
                }
                Err(_) => break,
            }
            depth += 1;
        }
        best.map(|index| index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Requirement, RouteMatch};
    use super::*;

    fn rule(path: PathMatch, methods: &[&str]) -> Rule {
        Rule {
            route: RouteMatch {
                path,
                methods: methods.iter().map(|m| m.to_string()).collect(),
            },
            requires: Requirement::Public,
        }
    }

    fn linear(rules: &[Rule], method: &str, path: &str) -> Option<usize> {
        rules.iter().position(|r| r.route.matches(method, path))
    }

    #[test]
    fn the_trie_answers_what_a_scan_of_every_rule_answers() {
        // A small deterministic generator over an alphabet that makes patterns collide.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let pieces = ["/", "a", "ab", "/a", "/b", "x", ""];
        let text = |next: &mut dyn FnMut(u64) -> u64, parts: u64| -> String {
            (0..parts)
                .map(|_| pieces[next(pieces.len() as u64) as usize])
                .collect()
        };
        for _ in 0..300 {
            let count = next(12) + 1;
            let rules: Vec<Rule> = (0..count)
                .map(|_| {
                    let parts = next(4);
                    let pattern = format!("/{}", text(&mut next, parts));
                    let path = match next(3) {
                        0 => PathMatch::Exact(pattern),
                        1 => PathMatch::Prefix(pattern),
                        _ => PathMatch::SeparatedPrefix(pattern),
                    };
                    let methods: &[&str] = if next(3) == 0 { &["POST"] } else { &[] };
                    rule(path, methods)
                })
                .collect();
            let matcher = RuleMatcher::new(&rules);
            for _ in 0..40 {
                let parts = next(5);
                let path = format!("/{}", text(&mut next, parts));
                for method in ["GET", "POST"] {
                    assert_eq!(
                        matcher.first_match(&rules, method, &path),
                        linear(&rules, method, &path),
                        "{method} {path} under {rules:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_thousand_rules_and_the_first_match_still_wins() {
        let mut rules: Vec<Rule> = (0..1000)
            .map(|i| rule(PathMatch::SeparatedPrefix(format!("/r{i:04}")), &[]))
            .collect();
        rules.push(rule(PathMatch::Prefix("/api".into()), &["GET"]));
        rules.push(rule(PathMatch::Prefix("/".into()), &[]));
        let matcher = RuleMatcher::new(&rules);
        assert_eq!(matcher.first_match(&rules, "GET", "/api/x"), Some(1000));
        assert_eq!(matcher.first_match(&rules, "POST", "/api/x"), Some(1001));
        assert_eq!(matcher.first_match(&rules, "GET", "/r0999/y"), Some(999));
        assert_eq!(matcher.first_match(&rules, "GET", "/r09990"), Some(1001));
        assert_eq!(RuleMatcher::new(&[]).first_match(&[], "GET", "/"), None);
    }
}
