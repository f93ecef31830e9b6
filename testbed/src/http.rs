//! A deliberately small HTTP/1.1 server on `std::net`, shared by the mock identity provider and
//! the echo upstream.
//!
//! It exists so the testbed needs no async runtime or web framework: one thread accepts, and
//! each connection gets its own thread that serves requests until the peer closes, asks for
//! `Connection: close`, or the server is dropped. That model keeps Envoy's pooled keep-alive
//! upstream connections cheap (no thread spawn per request) while staying easy to reason about
//! in tests.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Upper bound on the request line plus headers. Generous so that tests can push 64 KiB
/// headers through Envoy and still see them echoed.
const MAX_HEAD_BYTES: usize = 1024 * 1024;

/// Upper bound on a request body; the testbed never needs more and it bounds memory use.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One parsed HTTP/1.x request.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The method token exactly as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The request target exactly as sent, query string included.
    pub target: String,
    /// The minor version of `HTTP/1.x`; it decides the default keep-alive behaviour.
    pub version_minor: u8,
    /// Header names lower-cased, values as raw bytes (they need not be UTF-8), in wire order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body, de-chunked if it was sent with `Transfer-Encoding: chunked`.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The target without its query string, which is what routing looks at.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// Whether the connection should be closed after answering this request
    /// (RFC 9112 section 9.3: `close` on 1.1, absence of `keep-alive` on 1.0).
    fn wants_close(&self) -> bool {
        let has_token = |token: &str| {
            self.headers
                .iter()
                .filter(|(n, _)| n == "connection")
                .flat_map(|(_, v)| v.split(|b| *b == b','))
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        };
        if self.version_minor == 0 {
            !has_token("keep-alive")
        } else {
            has_token("close")
        }
    }
}

/// An HTTP response to send.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers; `Content-Length` and `Connection` are added by the server.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the given status, content type and body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".to_owned(), content_type.to_owned())],
            body: body.into(),
        }
    }

    /// An `application/json` response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self::new(status, "application/json", value.to_string())
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", text)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What a handler wants done with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Send this response.
    Respond(Response),
    /// Close the connection without any response, simulating a crashed or unreachable peer.
    Hangup,
}

/// The request handler shared by every connection thread.
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Open connections, kept so that dropping the server can unblock their threads.
type ConnRegistry = Arc<Mutex<HashMap<u64, TcpStream>>>;

/// A running server on 127.0.0.1; dropping it stops accepting and closes open connections.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept_thread: Option<JoinHandle<()>>,
    conns: ConnRegistry,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0 picks a free port) and serves `handler` on background threads.
    pub fn start(port: u16, handler: Handler) -> io::Result<Server> {
        Server::from_listener(TcpListener::bind(("127.0.0.1", port))?, handler)
    }

    /// Serves `handler` on an already bound listener, for callers that need the port before
    /// they can build their handler.
    pub fn from_listener(listener: TcpListener, handler: Handler) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: ConnRegistry = Arc::default();
        let accept_thread = {
            let stop = Arc::clone(&stop);
            let conns = Arc::clone(&conns);
            thread::Builder::new()
                .name(format!("http-accept-{}", addr.port()))
                .spawn(move || accept_loop(&listener, &stop, &conns, &handler))?
        };
        Ok(Server {
            addr,
            stop,
            accept_thread: Some(accept_thread),
            conns,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A blocking accept() only returns when someone connects, so connect to ourselves.
        // If that fails the accept thread is left detached rather than risking a hung drop.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(handle) = self.accept_thread.take() {
            if woke {
                let _ = handle.join();
            }
        }
        let conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        for stream in conns.values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, conns: &ConnRegistry, handler: &Handler) {
    let next_id = AtomicU64::new(0);
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            // Transient accept errors (EMFILE, ECONNABORTED) must not kill the server.
            thread::sleep(Duration::from_millis(5));
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, clone);
        }
        let registry = Arc::clone(conns);
        let handler = Arc::clone(handler);
        let spawned = thread::Builder::new()
            .name("http-conn".to_owned())
            .spawn(move || {
                let _ = serve_connection(stream, &handler);
                registry
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&id);
            });
        if spawned.is_err() {
            conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&id);
        }
    }
}

/// Why reading a request stopped.
enum ReadError {
    /// The peer closed the connection cleanly between requests.
    Closed,
    /// The request was malformed or too large; answer with this status and close.
    Bad(u16, &'static str),
    /// A socket error.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn serve_connection(stream: TcpStream, handler: &Handler) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    loop {
        let request = match read_request(&mut reader, &mut writer) {
            Ok(r) => r,
            Err(ReadError::Closed) => return Ok(()),
            Err(ReadError::Io(e)) => return Err(e),
            Err(ReadError::Bad(status, why)) => {
                let response = Response::text(status, why);
                return write_response(&mut writer, &response, true, false);
            }
        };
        let close = request.wants_close();
        match handler(&request) {
            Reply::Hangup => {
                let _ = writer.shutdown(Shutdown::Both);
                return Ok(());
            }
            Reply::Respond(response) => {
                write_response(&mut writer, &response, close, request.method == "HEAD")?;
            }
        }
        if close {
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

fn read_request(reader: &mut impl BufRead, writer: &mut impl Write) -> Result<Request, ReadError> {
    let head = read_head(reader)?;
    let mut lines = head.split(|b| *b == b'\n').map(trim_cr);
    let request_line = lines.next().unwrap_or_default();
    let request_line = std::str::from_utf8(request_line)
        .map_err(|_| ReadError::Bad(400, "request line is not UTF-8"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, "malformed request line"));
    };
    let version_minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => {
            return Err(ReadError::Bad(
                505,
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ))
        }
    };
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let colon = line
            .iter()
            .position(|b| *b == b':')
            .ok_or(ReadError::Bad(400, "header line without a colon"))?;
        let (name, value) = line.split_at(colon);
        let name = std::str::from_utf8(name)
            .map_err(|_| ReadError::Bad(400, "header name is not UTF-8"))?
            .to_ascii_lowercase();
        let value = value.get(1..).unwrap_or_default().trim_ascii().to_vec();
        headers.push((name, value));
    }
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        version_minor,
        headers,
        body: Vec::new(),
    };

    if request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }

    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().ends_with(b"chunked"));
    if chunked {
        request.body = read_chunked(reader)?;
    } else if let Some(len) = request.header("content-length") {
        let len: usize = std::str::from_utf8(len)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ReadError::Bad(400, "invalid Content-Length"))?;
        if len > MAX_BODY_BYTES {
            return Err(ReadError::Bad(413, "body too large"));
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        request.body = body;
    }
    Ok(request)
}

/// Reads up to and including the blank line that ends the head, returning it without that
/// terminator. Leading empty lines are skipped as RFC 9112 section 2.2 allows.
fn read_head(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader
            .take((MAX_HEAD_BYTES + 1 - before) as u64)
            .read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() {
                Err(ReadError::Closed)
            } else {
                Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()))
            };
        }
        if head.len() > MAX_HEAD_BYTES {
            return Err(ReadError::Bad(431, "request head too large"));
        }
        let line = head.get(before..).unwrap_or_default();
        if trim_cr(line).is_empty() {
            if before == 0 {
                head.clear();
                continue;
            }
            head.truncate(before);
            return Ok(head);
        }
    }
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        reader.take(4096).read_until(b'\n', &mut line)?;
        let size_field = trim_cr(&line)
            .split(|b| *b == b';' || *b == b'\n')
            .next()
            .unwrap_or_default();
        let size = std::str::from_utf8(size_field)
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .ok_or(ReadError::Bad(400, "invalid chunk size"))?;
        if size == 0 {
            // Skip any trailer fields up to the final empty line.
            loop {
                let mut trailer = Vec::new();
                let n = reader
                    .take(MAX_HEAD_BYTES as u64)
                    .read_until(b'\n', &mut trailer)?;
                if n == 0 || trim_cr(&trailer).is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY_BYTES {
            return Err(ReadError::Bad(413, "body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(body.get_mut(start..).unwrap_or_default())?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
    }
}

/// Strips a trailing `\r\n` or `\n`.
fn trim_cr(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn write_response(
    writer: &mut impl Write,
    response: &Response,
    close: bool,
    head_only: bool,
) -> io::Result<()> {
    // Build the whole response first so that it leaves in as few segments as possible.
    let mut out = Vec::with_capacity(256 + response.body.len());
    write!(
        out,
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason_phrase(response.status)
    )?;
    for (name, value) in &response.headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    write!(out, "Content-Length: {}\r\n", response.body.len())?;
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head_only {
        out.extend_from_slice(&response.body);
    }
    writer.write_all(&out)?;
    writer.flush()
}

/// A reason phrase for the status line; clients ignore it, humans reading logs do not.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
