//! How the request's road reads the request: one trait the host implements.

/// A property of the route Envoy matched, beside the headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteProperty {
    /// `xds.route_name`: the route's name, which `requirement_map` is keyed by.
    Name,
    /// The route's `metadata.filter_metadata["jwt_authn_wasm"].requirement`: the name of the
    /// requirement the route chooses (a string; anything else reads as absent).
    Requirement,
    /// `xds.route_metadata`: the route's whole `envoy.config.core.v3.Metadata`, protobuf-encoded,
    /// read only to tell our namespace without a string `requirement` from no namespace at all.
    Metadata,
}

/// A property of the downstream connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionProperty {
    /// `connection.sha256_peer_certificate_digest`: the SHA-256 of the client certificate's
    /// DER, as 64 lower-case hex characters; absent without a client certificate.
    PeerCertificateSha256,
}

/// Read access to the request: its headers (pseudo-headers included), its route and its
/// connection, as raw bytes.
pub trait RequestView {
    /// The value of header `name` (lower case), if present (the first, if it repeats).
    fn header(&self, name: &str) -> Option<Vec<u8>>;

    /// Every value of header `name`, in order, for a header that must not repeat (`DPoP`): as
    /// separate values, or joined into one with `,` (Envoy's form; a caller refuses both).
    fn header_values(&self, name: &str) -> Vec<Vec<u8>> {
        self.header(name).into_iter().collect()
    }

    /// The route's `property`, if the route has it. Read only when requirements are named.
    fn route(&self, property: RouteProperty) -> Option<Vec<u8>>;

    /// The connection's `property`, if it has it. Read only for certificate-bound tokens.
    fn connection(&self, property: ConnectionProperty) -> Option<Vec<u8>>;
}

/// Whether `metadata`, an encoded `envoy.config.core.v3.Metadata`, has a `filter_metadata` entry
/// keyed `namespace`. Bytes that do not decode count as having it, so the caller refuses.
pub fn has_filter_metadata(metadata: &[u8], namespace: &str) -> bool {
    let mut fields = Fields(metadata);
    while let Some(field) = fields.next_field() {
        match field {
            // `map<string, Struct> filter_metadata = 1`: entries whose key is field 1.
            Ok((1, Some(entry))) => {
                let mut entry = Fields(entry);
                while let Some(part) = entry.next_field() {
                    match part {
                        Ok((1, Some(key))) if key == namespace.as_bytes() => return true,
                        Ok(_) => {}
                        Err(()) => return true,
                    }
                }
            }
            Ok(_) => {}
            Err(()) => return true,
        }
    }
    false
}

/// A protobuf message's fields: (number, bytes of a length-delimited value).
struct Fields<'a>(&'a [u8]);

/// One field: its number and, if length-delimited, its bytes; `Err` when it does not decode.
type Field<'a> = Result<(u64, Option<&'a [u8]>), ()>;

impl<'a> Fields<'a> {
    fn varint(&mut self) -> Result<u64, ()> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.0.split_first().ok_or(())?;
            self.0 = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(())
    }

    fn skip(&mut self, len: u64) -> Result<&'a [u8], ()> {
        let len = usize::try_from(len).map_err(|_| ())?;
        if len > self.0.len() {
            return Err(());
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }

    fn next_field(&mut self) -> Option<Field<'a>> {
        if self.0.is_empty() {
            return None;
        }
        Some(self.read_field())
    }

    fn read_field(&mut self) -> Field<'a> {
        let tag = self.varint()?;
        let value = match tag & 7 {
            0 => self.varint().map(|_| None)?,
            1 => self.skip(8).map(|_| None)?,
            2 => {
                let len = self.varint()?;
                Some(self.skip(len)?)
            }
            5 => self.skip(4).map(|_| None)?,
            _ => return Err(()),
        };
        Ok((tag >> 3, value))
    }
}

#[cfg(test)]
mod tests {
    use super::has_filter_metadata;

    #[test]
    fn finds_the_namespace_among_filter_metadata_keys() {
        // What Envoy 1.40 gives for `filter_metadata {jwt_authn_wasm: {requirment: "open"}}`.
        let ours = b"\n(\n\x0ejwt_authn_wasm\x12\x16\n\x14\n\nrequirment\x12\x06\x1a\x04open";
        assert!(has_filter_metadata(ours, "jwt_authn_wasm"));
        assert!(!has_filter_metadata(ours, "envoy-gateway"));
        // Another filter's namespace only, as Envoy Gateway puts on every route.
        let theirs = b"\n\x13\n\renvoy-gateway\x12\x02\n\x00";
        assert!(!has_filter_metadata(theirs, "jwt_authn_wasm"));
        assert!(!has_filter_metadata(b"", "jwt_authn_wasm"));
        // A value that names us is not a key.
        let value_only = b"\n\x12\n\x02ns\x12\x0cjwt_authn_wa";
        assert!(!has_filter_metadata(value_only, "jwt_authn_wasm"));
        // Truncated or undecodable bytes fail closed.
        for bad in [&ours[..10], b"\n\xff", b"\x0f", b"\n\x05\n\xff\xff"] {
            assert!(has_filter_metadata(bad, "jwt_authn_wasm"), "{bad:?}");
        }
    }
}
