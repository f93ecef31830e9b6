//! Every complete plugin configuration shown in the README and in `docs/` (a ```json block with
//! `providers`) parses with the filter's own configuration parser, so the docs cannot drift from
//! the code; and every relative link in them points at a file that exists.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};

use jwt_authn_wasm::config::Config;

/// The fewest complete configurations each page must show, so a block cannot silently vanish.
/// Pages of `docs/` not listed here are checked too, with no minimum.
const MINIMUM_CONFIGURATIONS: &[(&str, usize)] = &[
    ("README.md", 1),
    ("docs/configuration.md", 3),
    ("docs/migrating.md", 3),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every `docs/*.md`, as paths relative to the crate root.
fn pages() -> Vec<String> {
    let mut pages = vec!["README.md".to_owned()];
    let mut docs: Vec<String> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// Parses every complete configuration of one page and returns how many there were.
fn check_configurations(page: &str) -> usize {
    let text = std::fs::read_to_string(root().join(page)).unwrap();
    let mut checked = 0;
    let mut in_json = false;
    let mut block = String::new();
    for line in text.lines() {
        if in_json {
            if line.trim_start().starts_with("```") {
                in_json = false;
                let value: Option<serde_json::Value> = serde_json::from_str(&block).ok();
                if value.as_ref().is_some_and(|v| v.get("providers").is_some()) {
                    if let Err(err) = Config::parse(block.as_bytes()) {
                        panic!("a configuration in {page} does not parse: {err}\n{block}");
                    }
                    checked += 1;
                }
                block.clear();
            } else {
                block.push_str(line);
                block.push('\n');
            }
        } else if line.trim_start().starts_with("```json") {
            in_json = true;
        }
    }
    checked
}

#[test]
fn documented_configurations_parse() {
    for page in pages() {
        let checked = check_configurations(&page);
        let minimum = MINIMUM_CONFIGURATIONS
            .iter()
            .find(|(name, _)| *name == page)
            .map_or(0, |(_, minimum)| *minimum);
        assert!(
            checked >= minimum,
            "only {checked} configurations found in {page}, expected at least {minimum}"
        );
        println!("{checked} configurations in {page} parse");
    }
    for (name, _) in MINIMUM_CONFIGURATIONS {
        assert!(root().join(name).is_file(), "{name} is missing");
    }
}

/// The targets of the page's Markdown links `[text](target)`, outside code blocks.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn documented_relative_links_exist() {
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(root().join(&page)).unwrap();
        let dir = Path::new(&page).parent().unwrap_or(Path::new(""));
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            let path = root().join(dir).join(file);
            assert!(
                path.exists(),
                "{page} links to {target}, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(checked > 0, "no relative links found");
    println!("{checked} relative links point at existing files");
}
