//! Every complete plugin configuration shown in the README (a ```json block with `providers`)
//! parses with the filter's own configuration parser, so the docs cannot drift from the code.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use jwt_authn_wasm::config::Config;

#[test]
fn readme_configurations_parse() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut checked = 0;
    let mut in_json = false;
    let mut block = String::new();
    for line in readme.lines() {
        if in_json {
            if line.trim_start().starts_with("```") {
                in_json = false;
                let value: Option<serde_json::Value> = serde_json::from_str(&block).ok();
                if value.as_ref().is_some_and(|v| v.get("providers").is_some()) {
                    if let Err(err) = Config::parse(block.as_bytes()) {
                        panic!("a README configuration does not parse: {err}\n{block}");
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
    assert!(checked >= 4, "only {checked} README configurations found");
    println!("{checked} README configurations parse");
}
