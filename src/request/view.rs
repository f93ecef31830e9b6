//! How the request's road reads the request: one trait the host implements.

/// A property of the route Envoy matched, beside the headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteProperty {
    /// `xds.route_name`: the route's name, which `requirement_map` is keyed by.
    Name,
    /// The route's `metadata.filter_metadata["jwt_authn_wasm"].requirement`: the name of the
    /// requirement the route chooses.
    Requirement,
}

/// Read access to the request: its headers (pseudo-headers included) and its route, as raw
/// bytes.
pub trait RequestView {
    /// The value of header `name` (lower case), if present.
    fn header(&self, name: &str) -> Option<Vec<u8>>;

    /// The route's `property`, if the route has it. Read only when requirements are named.
    fn route(&self, property: RouteProperty) -> Option<Vec<u8>>;
}
