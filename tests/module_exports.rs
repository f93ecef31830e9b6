//! The module's exports match what the host layer implements.
//!
//! `make build` keeps only the exports in the Makefile's `WASM_EXPORTS` (Envoy skips a callback
//! the module does not export). A proxy-wasm callback implemented in `src/host/` but missing from
//! that list would silently never run; an export listed for a callback nobody implements costs a
//! VM entry per request for nothing. Both are checked here from the sources, and, when
//! `JWT_AUTHN_WASM` names a module built with binaryen (as `make test` does), against the module.

// Test code: panicking on a broken expectation is the point.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Exports every proxy-wasm module needs, whatever it implements.
const ALWAYS: [&str; 6] = [
    "memory",
    "_initialize",
    "proxy_abi_version_0_2_1",
    "proxy_on_memory_allocate",
    "proxy_on_context_create",
    "proxy_on_delete",
];

/// proxy-wasm Rust SDK trait methods and the export through which Envoy calls each.
const CALLBACKS: [(&str, &str); 20] = [
    ("on_vm_start", "proxy_on_vm_start"),
    ("on_configure", "proxy_on_configure"),
    ("on_tick", "proxy_on_tick"),
    ("on_queue_ready", "proxy_on_queue_ready"),
    ("on_done", "proxy_on_done"),
    ("on_log", "proxy_on_log"),
    ("on_http_call_response", "proxy_on_http_call_response"),
    ("on_grpc_call_response", "proxy_on_grpc_receive"),
    ("on_grpc_stream_message", "proxy_on_grpc_receive"),
    ("on_grpc_stream_close", "proxy_on_grpc_close"),
    ("on_http_request_headers", "proxy_on_request_headers"),
    ("on_http_request_body", "proxy_on_request_body"),
    ("on_http_request_trailers", "proxy_on_request_trailers"),
    ("on_http_response_headers", "proxy_on_response_headers"),
    ("on_http_response_body", "proxy_on_response_body"),
    ("on_http_response_trailers", "proxy_on_response_trailers"),
    ("on_new_connection", "proxy_on_new_connection"),
    ("on_downstream_data", "proxy_on_downstream_data"),
    ("on_upstream_data", "proxy_on_upstream_data"),
    ("on_foreign_function", "proxy_on_foreign_function"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The names in the Makefile's `WASM_EXPORTS :=` (continuation lines included).
fn listed_exports() -> BTreeSet<String> {
    let makefile = fs::read_to_string(root().join("Makefile")).unwrap();
    let start = makefile
        .find("WASM_EXPORTS :=")
        .expect("WASM_EXPORTS in the Makefile");
    let mut names = BTreeSet::new();
    for line in makefile[start + "WASM_EXPORTS :=".len()..].lines() {
        let continued = line.trim_end().ends_with('\\');
        names.extend(
            line.trim_end_matches('\\')
                .split_whitespace()
                .map(str::to_string),
        );
        if !continued {
            break;
        }
    }
    names
}

/// The exports the host layer needs: the fixed ones plus one per implemented callback.
fn needed_exports() -> BTreeSet<String> {
    let mut sources = String::new();
    for entry in fs::read_dir(root().join("src/host")).unwrap() {
        sources.push_str(&fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut needed: BTreeSet<String> = ALWAYS.iter().map(|e| e.to_string()).collect();
    for (method, export) in CALLBACKS {
        if sources.contains(&format!("fn {method}(")) {
            needed.insert(export.to_string());
        }
    }
    needed
}

#[test]
fn the_export_list_matches_the_implemented_callbacks() {
    let needed = needed_exports();
    // The callbacks this filter implements today; a change here is a change of the list.
    assert!(needed.contains("proxy_on_request_headers"));
    assert!(needed.contains("proxy_on_http_call_response"));
    assert!(!needed.contains("proxy_on_response_headers"));
    assert_eq!(listed_exports(), needed);
}

fn leb128(bytes: &[u8], at: &mut usize) -> u32 {
    let (mut value, mut shift) = (0_u32, 0);
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

/// The export names of a wasm module (its export section, id 7).
fn module_exports(module: &[u8]) -> BTreeSet<String> {
    assert_eq!(&module[..4], b"\0asm", "not a wasm module");
    let mut at = 8;
    while at < module.len() {
        let id = module[at];
        at += 1;
        let size = leb128(module, &mut at) as usize;
        let end = at + size;
        if id == 7 {
            let mut names = BTreeSet::new();
            let count = leb128(module, &mut at);
            for _ in 0..count {
                let len = leb128(module, &mut at) as usize;
                names.insert(String::from_utf8(module[at..at + len].to_vec()).unwrap());
                at += len;
                at += 1; // kind
                leb128(module, &mut at); // index
            }
            return names;
        }
        at = end;
    }
    BTreeSet::new()
}

#[test]
fn the_built_module_exports_exactly_the_list() {
    let Some(path) = std::env::var_os("JWT_AUTHN_WASM") else {
        eprintln!("JWT_AUTHN_WASM not set (make test sets it): module not checked");
        return;
    };
    let exports = module_exports(&fs::read(path).unwrap());
    if exports.contains("proxy_on_log") {
        eprintln!("module built without binaryen (every SDK export kept): not checked");
        return;
    }
    assert_eq!(exports, listed_exports());
}

#[test]
fn the_export_parser_reads_a_module() {
    // (module (memory 1) (func) (export "memory" (memory 0)) (export "f" (func 0)))
    let module: &[u8] = &[
        0, 97, 115, 109, 1, 0, 0, 0, // magic, version
        1, 4, 1, 96, 0, 0, // type section: () -> ()
        3, 2, 1, 0, // function section
        5, 3, 1, 0, 1, // memory section
        7, 14, 2, 6, b'm', b'e', b'm', b'o', b'r', b'y', 2, 0, 1, b'f', 0, 0, // exports
        10, 4, 1, 2, 0, 11, // code section
    ];
    let names: Vec<String> = module_exports(module).into_iter().collect();
    assert_eq!(names, ["f", "memory"]);
}
