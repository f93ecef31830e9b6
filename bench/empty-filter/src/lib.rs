//! A proxy-wasm HTTP filter that does nothing: the floor of any Wasm filter in Envoy's V8.
//!
//! Configured with the string `host-calls`, it makes the host calls every bearer-token filter
//! must make on a request it lets through, and nothing else: read the clock, read the
//! `authorization` header, remove it. That is the floor for a JWT filter whose decision itself
//! cost nothing (bench listener `wasm_floor`). Configured with `header-calls`, it makes the same
//! calls but the clock (bench listener `wasm_floor_no_clock`, on request), which prices the clock
//! call a JWT filter makes to check `exp`. Configured with `read-call`, it only reads
//! `authorization` (`bench/callgrind-envoy.py --floors` prices the read apart from the removal).

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, MapType};

proxy_wasm::main! {{
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { calls: Calls::None }) });
}}

/// The host calls each request makes.
#[derive(Clone, Copy, PartialEq)]
enum Calls {
    /// None: the empty filter.
    None,
    /// Read `authorization`, nothing else (prices the read apart from the removal).
    Read,
    /// Read `authorization` and remove it.
    Header,
    /// Read the clock, then as [`Calls::Header`].
    ClockAndHeader,
}

struct Root {
    calls: Calls,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        self.calls = match self.get_plugin_configuration().as_deref() {
            Some(b"host-calls") => Calls::ClockAndHeader,
            Some(b"header-calls") => Calls::Header,
            Some(b"read-call") => Calls::Read,
            _ => Calls::None,
        };
        true
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Empty { calls: self.calls }))
    }
}

struct Empty {
    calls: Calls,
}

impl Context for Empty {}

impl HttpContext for Empty {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.calls == Calls::None {
            return Action::Continue;
        }
        let now = if self.calls == Calls::ClockAndHeader {
            hostcalls::get_current_time().ok()
        } else {
            Some(std::time::UNIX_EPOCH)
        };
        let header = hostcalls::get_map_value_bytes(MapType::HttpRequestHeaders, "authorization")
            .ok()
            .flatten();
        if now.is_some() && header.is_some() && self.calls != Calls::Read {
            let _ = hostcalls::remove_map_value(MapType::HttpRequestHeaders, "authorization");
        }
        Action::Continue
    }
}
