//! A raw HTTP/1.1 client for tests and the `mock-idp mint` command.
//!
//! It writes exactly the bytes it is given, so tests can send header values that are not UTF-8,
//! oversized headers or odd targets that a higher-level client would refuse or normalise. Every
//! request uses `Connection: close` and the response is read to EOF, which keeps the parser
//! trivial and means no connection state leaks between requests.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A parsed response.
#[derive(Clone, Debug, Default)]
pub struct Response {
    /// Status code of the final (non-1xx) response.
    pub status: u16,
    /// Header names lower-cased, values decoded lossily as UTF-8, in wire order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if needed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request to `addr` and reads the whole response, failing after `timeout` overall.
///
/// `Host` is added unless `headers` has one; `Content-Length` is added when `body` is non-empty
/// and `headers` has none; `Connection: close` is always added.
pub fn request(
    addr: impl ToSocketAddrs,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let addr = addr
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address did not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&encode_request(addr, method, target, headers, body))?;
    stream.flush()?;

    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "response not complete before the deadline",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(buf.get(..n).unwrap_or_default());
                // Stop at the end of the response rather than waiting for the peer to close:
                // Envoy delays its close after a local reply (delayed_close_timeout, 1 s).
                if is_complete(&raw) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset after a complete response (the peer closed with unread input) is fine.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw)
}

fn encode_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
) -> Vec<u8> {
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\n").as_bytes());
    if !has("host") {
        out.extend_from_slice(format!("Host: {addr}\r\n").as_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() && !has("content-length") && !has("transfer-encoding") {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);
    out
}

/// Whether `raw` holds a whole final response framed by `Content-Length` or chunked encoding
/// (a response framed by the connection's close is complete only at EOF).
fn is_complete(raw: &[u8]) -> bool {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let (head, rest) = raw.split_at(head_end);
    let body = rest.get(4..).unwrap_or_default();
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    if head.starts_with("http/1.1 1") || head.starts_with("http/1.0 1") {
        return is_complete(body);
    }
    let header = |name: &str| {
        head.split("\r\n")
            .filter_map(|line| line.split_once(':'))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    if header("transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
        return body.ends_with(b"0\r\n\r\n");
    }
    match header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(length) => body.len() >= length,
        None => false,
    }
}

fn invalid(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

/// Parses a complete response read to EOF, skipping interim 1xx responses.
fn parse_response(mut raw: &[u8]) -> io::Result<Response> {
    loop {
        let head_end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| invalid("connection closed before the response head ended"))?;
        let (head, rest) = raw.split_at(head_end);
        let rest = rest.get(4..).unwrap_or_default();
        let head = String::from_utf8_lossy(head);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("malformed status line"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
            })
            .collect();
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().ends_with("chunked"));
        response.body = if chunked {
            dechunk(rest)?
        } else if let Some(len) = response
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            rest.get(..len)
                .ok_or_else(|| invalid("body shorter than Content-Length"))?
                .to_vec()
        } else {
            rest.to_vec()
        };
        return Ok(response);
    }
}

fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("truncated chunk size line"))?;
        let (line, after) = rest.split_at(line_end);
        let size_text = String::from_utf8_lossy(line);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        let after = after.get(2..).unwrap_or_default();
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(
            after
                .get(..size)
                .ok_or_else(|| invalid("truncated chunk"))?,
        );
        rest = after.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_skips_interim_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 3\r\n\r\nabcIGNORED";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.body, b"abc");
    }

    #[test]
    fn parses_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn reads_to_eof_without_length() {
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nhello").unwrap();
        assert_eq!(r.text(), "hello");
    }

    #[test]
    fn sends_raw_header_bytes() {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let out = encode_request(addr, "GET", "/x", &[("X-Bin", b"\xff\x00")], b"");
        assert!(out.windows(12).any(|w| w == b"X-Bin: \xff\x00\r\nC"));
        assert!(out.ends_with(b"Connection: close\r\n\r\n"));
    }
}
