//! Echo upstream for manual runs (`make run`): `echo-upstream [--port 8082]`.
//!
//! Answers every request with a JSON description of it (see `testbed::echo`) until killed.

use std::io::Write as _;
use std::process::ExitCode;

use testbed::EchoServer;

fn main() -> ExitCode {
    let mut port: u16 = 8082;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let parsed = match arg.as_str() {
            "--port" => args.next().and_then(|p| p.parse().ok()),
            _ => None,
        };
        match parsed {
            Some(p) => port = p,
            None => {
                eprintln!("usage: echo-upstream [--port 8082]");
                return ExitCode::from(2);
            }
        }
    }
    let server = match EchoServer::start(port) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("echo-upstream: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(2);
        }
    };
    println!("echo-upstream listening on 127.0.0.1:{}", server.port());
    // A supervising script may be reading stdout through a pipe, which is block-buffered.
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
