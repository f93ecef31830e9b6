//! The HTTP/1.1 server shared by the mock identity provider and the echo upstream: hyper on a
//! current-thread tokio runtime of its own, so every server (and every test's set of servers)
//! is isolated from the others, behind a small synchronous handler API.
//!
//! Handlers are plain functions from [`Request`] to [`Reply`] and run on the runtime's blocking
//! pool, so one that sleeps ([`crate::Fault::Slow`]) or generates RSA keys (rotation) holds up
//! only its own request, as a thread per connection would. Connections are kept alive (Envoy
//! pools its upstream connections); dropping the [`Server`] stops the runtime, which closes the
//! listener and every open connection.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// Upper bound on the request line plus headers. Generous so that tests can push 64 KiB
/// headers through Envoy and still see them echoed.
const MAX_HEAD_BYTES: usize = 1024 * 1024;

/// Upper bound on the number of request headers (hyper's default is 100; Envoy adds its own
/// `x-forwarded-*`, `x-request-id`, ... to what a test sends).
const MAX_HEADERS: usize = 1000;

/// Upper bound on a request body; the testbed never needs more and it bounds memory use.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One HTTP/1.x request, its body read whole.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The method token exactly as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The request target as sent, query string included.
    pub target: String,
    /// The minor version of `HTTP/1.x`.
    pub version_minor: u8,
    /// Header names lower-cased, values as raw bytes (they need not be UTF-8); grouped by name
    /// in the order each name first appeared, each name's values in wire order.
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
}

/// An HTTP response to send.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra headers; `Content-Length` (and `Connection` where needed) are added by the server.
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

    /// The response for hyper. A status or header the `http` crate refuses becomes a 500
    /// naming it, so a handler's mistake shows up in the test that made it.
    fn into_hyper(self) -> hyper::Response<Full<Bytes>> {
        let mut response = hyper::Response::new(Full::new(Bytes::from(self.body)));
        match hyper::StatusCode::from_u16(self.status) {
            Ok(status) => *response.status_mut() = status,
            Err(_) => return invalid_response(&format!("status {}", self.status)),
        }
        for (name, value) in &self.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    response.headers_mut().append(name, value);
                }
                _ => return invalid_response(&format!("header {name:?}: {value:?}")),
            }
        }
        response
    }
}

fn invalid_response(what: &str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(format!(
        "the handler's response has an invalid {what}"
    ))));
    *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

/// What a handler wants done with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Send this response.
    Respond(Response),
    /// Close the connection without any response, simulating a crashed or unreachable peer.
    Hangup,
}

/// The request handler shared by every connection.
pub type Handler = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// A running server on 127.0.0.1; dropping it stops accepting and closes open connections.
pub struct Server {
    addr: SocketAddr,
    /// Dropping (or sending on) this ends the runtime thread.
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0 picks a free port) and serves `handler` on its own runtime.
    pub fn start(port: u16, handler: Handler) -> io::Result<Server> {
        Server::from_listener(TcpListener::bind(("127.0.0.1", port))?, handler)
    }

    /// Serves `handler` on an already bound listener, for callers that need the port before
    /// they can build their handler.
    pub fn from_listener(listener: TcpListener, handler: Handler) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name(format!("http-{}", addr.port()))
            .build()?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        // The accept loop is a task of the runtime; the thread drives it until told to stop.
        runtime.spawn(accept_loop(listener, handler));
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name(format!("http-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
                // Dropping the tasks closes the listener and every connection now; a handler
                // still sleeping on the blocking pool finishes unobserved.
                runtime.shutdown_background();
            })?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
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
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, handler: Handler) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&handler)));
            }
            // Transient accept errors (EMFILE, ECONNABORTED) must not kill the server.
            Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

/// The error that makes hyper drop a connection without answering ([`Reply::Hangup`]).
#[derive(Debug)]
struct Hangup;

impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the handler hung up")
    }
}

impl std::error::Error for Hangup {}

async fn serve_connection(stream: tokio::net::TcpStream, handler: Handler) {
    let service = service_fn(move |request| respond(request, Arc::clone(&handler)));
    // Malformed or oversized heads get hyper's own 400 or 431; errors end only this connection.
    let _ = hyper::server::conn::http1::Builder::new()
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn respond(
    request: hyper::Request<Incoming>,
    handler: Handler,
) -> Result<hyper::Response<Full<Bytes>>, Hangup> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return Ok(Response::text(413, "body too large or cut short").into_hyper()),
    };
    let request = Request {
        method: parts.method.as_str().to_owned(),
        target: parts.uri.to_string(),
        version_minor: u8::from(parts.version != hyper::Version::HTTP_10),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
            .collect(),
        body,
    };
    match tokio::task::spawn_blocking(move || handler(&request)).await {
        Ok(Reply::Respond(response)) => Ok(response.into_hyper()),
        Ok(Reply::Hangup) => Err(Hangup),
        Err(_) => Ok(Response::text(500, "the handler panicked").into_hyper()),
    }
}
