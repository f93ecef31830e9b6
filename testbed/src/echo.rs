//! An upstream that answers every request with a JSON description of what it received, so
//! tests can see exactly which headers and target the filter let through to the backend.
//!
//! Response body (always `200 application/json`):
//! `{"method": "GET", "path": "/a?b=c", "headers": {"x-name": "value"}, "body_bytes": 0}`
//! - `path` is the full request target as received, query included.
//! - header names are lower-cased; values are decoded as UTF-8 lossily (invalid bytes become
//!   U+FFFD); a header that occurs more than once has its values joined with `", "` in the order
//!   received, as RFC 9110 section 5.3 allows for list-valued fields.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use serde_json::json;

use crate::http::{Handler, Reply, Request, Response, Server};

/// A running echo upstream; dropping it stops the server.
pub struct EchoServer {
    server: Server,
}

impl EchoServer {
    /// Starts serving on 127.0.0.1:`port` (0 picks a free port).
    pub fn start(port: u16) -> io::Result<EchoServer> {
        let handler: Handler = Arc::new(|request: &Request| Reply::Respond(echo(request)));
        Ok(EchoServer {
            server: Server::start(port, handler)?,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }
}

/// The echo response for `request`.
pub fn echo(request: &Request) -> Response {
    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in &request.headers {
        let value = String::from_utf8_lossy(value);
        headers
            .entry(name.as_str())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    Response::json(
        200,
        &json!({
            "method": request.method,
            "path": request.target,
            "headers": headers,
            "body_bytes": request.body.len(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn echoes_target_headers_and_body_size() {
        let echo = EchoServer::start(0).unwrap();
        let r = client::request(
            ("127.0.0.1", echo.port()),
            "POST",
            "/a/b?x=1&y=%2F",
            &[("X-Dup", b"one"), ("x-dup", b"two"), ("X-Bin", b"ok\xff")],
            b"hello",
            T,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v = r.json().unwrap();
        assert_eq!(v["method"], "POST");
        assert_eq!(v["path"], "/a/b?x=1&y=%2F");
        assert_eq!(v["headers"]["x-dup"], "one, two");
        assert_eq!(v["headers"]["x-bin"], "ok\u{fffd}");
        assert_eq!(v["body_bytes"], 5);
    }

    #[test]
    fn keeps_connections_alive_and_decodes_chunked_bodies() {
        let echo = EchoServer::start(0).unwrap();
        let stream = TcpStream::connect(("127.0.0.1", echo.port())).unwrap();
        stream.set_read_timeout(Some(T)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let read_one = |reader: &mut BufReader<TcpStream>| -> (String, serde_json::Value) {
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            (head, serde_json::from_slice(&body).unwrap())
        };
        for i in 0..3 {
            write!(writer, "GET /k{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let (head, body) = read_one(&mut reader);
            assert!(head.starts_with("HTTP/1.1 200"));
            assert!(!head.to_ascii_lowercase().contains("connection: close"));
            assert_eq!(body["path"], format!("/k{i}"));
        }
        writer
            .write_all(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
            .unwrap();
        let (head, body) = read_one(&mut reader);
        assert!(head.to_ascii_lowercase().contains("connection: close"));
        assert_eq!(body["body_bytes"], 7);
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0, "server closed");
    }

    #[test]
    fn rejects_malformed_and_oversized_heads() {
        let echo = EchoServer::start(0).unwrap();
        let addr = ("127.0.0.1", echo.port());
        let big = vec![b'a'; 2 * 1024 * 1024];
        let r = client::request(addr, "GET", "/", &[("X-Big", &big)], b"", T);
        // The server may answer 431 or reset while we are still writing.
        if let Ok(r) = r {
            assert_eq!(r.status, 431);
        }
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(T)).unwrap();
        s.write_all(b"NONSENSE\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    }
}
