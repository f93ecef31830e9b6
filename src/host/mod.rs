//! The proxy-wasm layer: Envoy's side of the filter, kept thin.
//!
//! [`root::Root`] owns the configuration, drives the key fetches ([`crate::keys::fetch`]) and holds the VM's state shared with
//! every request; [`http::Filter`] runs one request through [`crate::request::flow`]. Host calls go
//! through `proxy_wasm::hostcalls` directly, never through SDK defaults that unwrap (see
//! FIELD_NOTES: reading a non-UTF-8 header with the string getters traps the VM).
//!
//! `make build` keeps only the module exports listed in the Makefile's `WASM_EXPORTS` (Envoy
//! skips a callback the module does not export, and each exported one costs a VM call per
//! request). A callback newly implemented here must be added to that list, or Envoy never calls
//! it.

mod callouts;
mod crypto;
mod http;
mod metrics;
mod root;
mod shared;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::Root::new())
    });
}}
