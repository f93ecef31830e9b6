//! Envoy's HTTP callouts behind the core's [`Callouts`] and [`FetchResponse`] traits.

use crate::keys::fetch::{Callouts, FetchResponse};
use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MapType};
use std::time::Duration;

/// `dispatch_http_call`.
pub struct HostCallouts;

impl Callouts for HostCallouts {
    fn dispatch(
        &mut self,
        cluster: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, String> {
        let timeout = Duration::from_millis(timeout_ms);
        hostcalls::dispatch_http_call(cluster, headers.to_vec(), None, vec![], timeout)
            .map_err(|status| format!("{status:?}"))
    }
}

/// The callout response being handled, read through `get_map_bytes` and `get_buffer`.
pub struct HostResponse {
    headers: Vec<(String, Vec<u8>)>,
    body_size: usize,
}

impl HostResponse {
    /// The response in hand, or `None` when the callout got none (`num_headers` is 0) or its
    /// headers cannot be read.
    pub fn read(num_headers: usize, body_size: usize) -> Option<Self> {
        if num_headers == 0 {
            return None;
        }
        match hostcalls::get_map_bytes(MapType::HttpCallResponseHeaders) {
            Ok(headers) => Some(Self { headers, body_size }),
            Err(status) => {
                log::warn!("key fetch: response headers unreadable ({status:?})");
                None
            }
        }
    }
}

impl FetchResponse for HostResponse {
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    }

    fn body_size(&self) -> usize {
        self.body_size
    }

    fn body(&self) -> Result<Vec<u8>, String> {
        hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, self.body_size)
            .map(Option::unwrap_or_default)
            .map_err(|status| format!("body unreadable ({status:?})"))
    }
}
