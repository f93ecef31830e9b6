//! Checks what users deploy, one test per part: `docker-compose.yaml` and `deploy/compose/`, the
//! Kubernetes manifests in `deploy/istio/` and `deploy/envoy-gateway/`, the OCI image `make oci`
//! builds, and the version (Cargo.toml, CHANGELOG.md, the plugin's start-up log line).
//!
//! The checks live in `scripts/check_deploy.py` (Python: YAML and JSON Schema); these tests run it
//! section by section and print its report. Envoy (`ENVOY_BIN`) validates the compose layout and
//! the manifests' plugin configurations with the built filter (`JWT_AUTHN_WASM`); `make test` sets
//! both. Checks whose tools are absent (the schemas `make check-deploy` installs with npm, Envoy,
//! the built filter) are reported as SKIP lines; `make check-deploy` runs everything and fails
//! on any skip. Nothing here needs the network or a Docker engine.

// Test code: panicking on a broken expectation is the point.
#![allow(clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn check(section: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let usable = Command::new(&python)
        .args(["-c", "import yaml, jsonschema"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !usable {
        println!("SKIP deploy {section}: {python} without PyYAML and jsonschema (`make check-deploy` makes a venv)");
        return;
    }
    let out = Command::new(&python)
        .arg(root.join("scripts/check_deploy.py"))
        .arg(section)
        .current_dir(root)
        .output()
        .expect("run scripts/check_deploy.py");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "scripts/check_deploy.py {section} failed:\n{}",
        report
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// docker-compose.yaml: the Compose schema, files, ports, commands and mounts against envoy.yaml.
#[test]
fn compose_file_agrees_with_envoy_yaml() {
    check("compose");
}

/// Envoy validates the compose container layout, the edge forwarder and the Kubernetes plugin
/// configurations; the plugin logs `jwt-authn-wasm <Cargo version> starting`.
#[test]
fn envoy_accepts_compose_layout_and_manifest_configs() {
    check("envoy");
}

/// Istio and Envoy Gateway manifests: CRD schemas where installed, fields and cluster names.
#[test]
fn kubernetes_manifests_are_consistent() {
    check("k8s");
}

/// `make oci`'s image: a reproducible OCI layout whose one layer holds exactly plugin.wasm.
#[test]
fn oci_image_layout_is_reproducible_and_well_formed() {
    check("oci");
}

/// Cargo.toml's version, CHANGELOG.md, and the plugin's start-up log line.
#[test]
fn version_is_recorded() {
    check("version");
}
