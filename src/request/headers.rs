//! How the request's road reads the request: one trait the host implements.

/// Read access to the request's headers (pseudo-headers included), as raw bytes.
pub trait RequestHeaders {
    /// The value of header `name` (lower case), if present.
    fn header(&self, name: &str) -> Option<Vec<u8>>;
}
