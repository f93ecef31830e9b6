//! A proxy-wasm HTTP filter that does nothing: the floor of any Wasm filter in Envoy's V8.
//!
//! Configured with the string `host-calls`, it makes the host calls every bearer-token filter
//! must make on a request it lets through, and nothing else: read the clock, read the
//! `authorization` header, remove it. That is the floor for a JWT filter whose decision itself
//! cost nothing (bench listener `wasm_floor`).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { host_calls: false }) });
}}

struct Root {
    host_calls: bool,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.host_calls = self.get_plugin_configuration().as_deref() == Some(b"host-calls");
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Empty {
            host_calls: self.host_calls,
        }))
    }
}

struct Empty {
    host_calls: bool,
}

impl Context for Empty {}

impl HttpContext for Empty {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.host_calls {
            let now = hostcalls::get_current_time().ok();
            let header =
                hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "authorization")
                    .ok()
                    .flatten();
            if now.is_some() && header.is_some() {
                let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, "authorization");
            }
        }
        Action::Continue
    }
}
