//! HTTP clients for tests, the bench driver and the `mock-idp mint` command.
//!
//! [`request`] and [`request_url`] are ureq: every well-formed request goes through a real,
//! independent HTTP client. [`raw_request`] writes bytes to a `TcpStream` as given; it exists
//! only for the hostile tests, which must send what no HTTP client will (NUL, DEL or control
//! bytes in header values, and the like) to check that Envoy and the filter refuse it cleanly.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ureq::config::AutoHeaderValue;
use ureq::http;

/// The largest response head [`request`] accepts (Envoy's local replies and the testbed's own
/// are far smaller; ureq's default is 64 KiB).
const MAX_RESPONSE_HEAD_BYTES: usize = 1024 * 1024;

/// A response.
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

/// The shared ureq agent: every status is a response (tests look at 4xx and 5xx), redirects
/// are returned rather than followed, no proxy from the environment, no pooled connections (no
/// state leaks between requests), and no `User-Agent` or `Accept` of its own, so upstreams see
/// only the headers a test sends.
fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .allow_non_standard_methods(true)
            .max_response_header_size(MAX_RESPONSE_HEAD_BYTES)
            .user_agent(AutoHeaderValue::None)
            .accept(AutoHeaderValue::None)
            .build()
            .into()
    })
}

/// Sends one request to `addr` and reads the whole response, failing after `timeout` overall.
///
/// `Host` is added unless `headers` has one, `Content-Length` when `body` is non-empty. Header
/// values may hold any byte HTTP allows in a field value (obs-text included); for others use
/// [`raw_request`].
pub fn request(
    addr: impl ToSocketAddrs,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let addr = resolve(addr)?;
    request_url(
        method,
        &format!("http://{addr}{target}"),
        headers,
        body,
        timeout,
    )
}

/// [`request`] to a full `http://` URL.
pub fn request_url(
    method: &str,
    url: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let invalid =
        |e: &dyn std::fmt::Display| io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        let value = http::HeaderValue::from_bytes(value).map_err(|e| invalid(&e))?;
        builder = builder.header(*name, value);
    }
    fn run<B: ureq::AsSendBody>(
        request: http::Request<B>,
        timeout: Duration,
    ) -> Result<http::Response<ureq::Body>, ureq::Error> {
        let request = agent()
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        agent().run(request)
    }
    // An empty body is no body: no `Content-Length: 0` on a GET.
    let sent = if body.is_empty() {
        run(builder.body(()).map_err(|e| invalid(&e))?, timeout)
    } else {
        run(builder.body(body).map_err(|e| invalid(&e))?, timeout)
    };
    let mut response = sent.map_err(io_error)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            (name.as_str().to_owned(), value)
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .map_err(io_error)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// ureq's error as the `io::Error` callers match on (refused, reset, timed out).
fn io_error(error: ureq::Error) -> io::Error {
    match error {
        ureq::Error::Io(e) => e,
        ureq::Error::Timeout(_) => io::Error::new(io::ErrorKind::TimedOut, error.to_string()),
        other => io::Error::other(other.to_string()),
    }
}

fn resolve(addr: impl ToSocketAddrs) -> io::Result<std::net::SocketAddr> {
    addr.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "address did not resolve"))
}

/// Sends `GET`-style bytes no HTTP client would: `method target HTTP/1.1`, `Host` (unless
/// `headers` has one), each header as `name: value` with the value's bytes verbatim, and
/// `Connection: close`, then `body` as is (with no `Content-Length` of its own). Reads the
/// response only as far as its framing says (`Content-Length`, chunked, else to EOF), not to
/// EOF, since Envoy holds a connection open for a second after a local reply.
///
/// Only for the hostile tests; use [`request`] for anything an HTTP client can send.
pub fn raw_request(
    addr: impl ToSocketAddrs,
    method: &str,
    target: &str,
    headers: &[(&str, &[u8])],
    body: &[u8],
    timeout: Duration,
) -> io::Result<Response> {
    let deadline = Instant::now() + timeout;
    let addr = resolve(addr)?;
    let mut out = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        out.extend_from_slice(format!("Host: {addr}\r\n").as_bytes());
    }
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(body);

    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(&out)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(response) = parse_response(&raw, false)? {
            return Ok(response);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete response in time",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A reset after the response began (the peer closed with our input unread) ends it.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw, true)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a complete response",
        )
    })
}

fn invalid_data(why: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// The final response in `raw` if it is complete (at `eof`, a body without framing runs to
/// the end); `None` if more bytes are needed. Interim 1xx responses are skipped.
fn parse_response(mut raw: &[u8], eof: bool) -> io::Result<Option<Response>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 128];
        let mut head = httparse::Response::new(&mut headers);
        let head_len = match head.parse(raw).map_err(invalid_data)? {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => return Ok(None),
        };
        let status = head.code.unwrap_or_default();
        let rest = raw.get(head_len..).unwrap_or_default();
        if (100..200).contains(&status) {
            raw = rest;
            continue;
        }
        let headers: Vec<(String, String)> = head
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).trim().to_owned();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect();
        let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let body = if find("transfer-encoding").is_some_and(|v| v.ends_with("chunked")) {
            dechunk(rest)?
        } else if let Some(length) = find("content-length") {
            let length: usize = length.parse().map_err(invalid_data)?;
            rest.get(..length).map(<[u8]>::to_vec)
        } else {
            eof.then(|| rest.to_vec())
        };
        return Ok(body.map(|body| Response {
            status,
            headers,
            body,
        }));
    }
}

/// A chunked body, if it is complete.
fn dechunk(mut rest: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let (start, size) = match httparse::parse_chunk_size(rest).map_err(invalid_data)? {
            httparse::Status::Complete(v) => v,
            httparse::Status::Partial => return Ok(None),
        };
        let size = usize::try_from(size).map_err(invalid_data)?;
        if size == 0 {
            return Ok(Some(body));
        }
        let Some(chunk) = rest.get(start..start + size) else {
            return Ok(None);
        };
        body.extend_from_slice(chunk);
        rest = rest.get(start + size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_skips_interim_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 3\r\n\r\nabcIGNORED";
        let r = parse_response(raw, false).unwrap().unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
        assert_eq!(r.body, b"abc");
        assert!(parse_response(&raw[..raw.len() - 9], false)
            .unwrap()
            .is_none());
    }

    #[test]
    fn parses_chunked_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = parse_response(raw, false).unwrap().unwrap();
        assert_eq!(r.body, b"abcde");
        assert!(parse_response(&raw[..60], false).unwrap().is_none());
    }

    #[test]
    fn reads_to_eof_without_length() {
        let raw = b"HTTP/1.0 200 OK\r\n\r\nhello";
        assert!(parse_response(raw, false).unwrap().is_none());
        let r = parse_response(raw, true).unwrap().unwrap();
        assert_eq!(r.text(), "hello");
    }

    #[test]
    fn raw_request_sends_bytes_verbatim() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0; 1024];
            while !seen.ends_with(b"\r\n\r\n") {
                let n = stream.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            seen
        });
        let r = raw_request(
            ("127.0.0.1", port),
            "GET",
            "/x",
            &[("X-Bin", b"\xff\x00\x7f")],
            b"",
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.status, 204);
        let seen = server.join().unwrap();
        assert!(seen.starts_with(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1:"));
        assert!(seen
            .windows(16)
            .any(|w| w == b"X-Bin: \xff\x00\x7f\r\nConn"));
    }

    #[test]
    fn request_refuses_bytes_http_forbids() {
        let r = request(
            "127.0.0.1:1",
            "GET",
            "/",
            &[("X-Bin", b"a\x00b")],
            b"",
            Duration::from_secs(1),
        );
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
