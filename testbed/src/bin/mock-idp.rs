//! Mock OpenID Connect identity provider for manual runs (`make run`).
//!
//! ```text
//! mock-idp [--port 8081] [--issuer URL] [--audience AUD] [--max-age SECS]
//! mock-idp mint [--url http://127.0.0.1:8081] [--alg RS256|ES384] [--claims JSON]
//!               [--lifetime SECS] [--expired] [--kid KID] [--no-kid] [--typ TYP]
//!               [--unknown-key]
//! ```
//!
//! The server prints one `mock-idp listening on 127.0.0.1:PORT issuer=...` line and serves
//! until killed; `mint` asks a running server for a token and prints just the token, so shell
//! scripts can use `TOKEN=$(mock-idp mint ...)`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};
use testbed::{client, Alg, IdpOptions, IdpServer, MintRequest};

const USAGE: &str = "usage:
  mock-idp [--port 8081] [--issuer URL] [--audience AUD] [--max-age SECS]
  mock-idp mint [--url http://127.0.0.1:8081] [--alg RS256|ES384] [--claims JSON]
                [--lifetime SECS] [--expired] [--kid KID] [--no-kid] [--typ TYP] [--unknown-key]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mint") => mint(args.get(1..).unwrap_or_default()),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => serve(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-idp: {e}");
            ExitCode::from(2)
        }
    }
}

/// Pulls the value following a flag.
fn value<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<&'a str, String> {
    it.next()
        .map(String::as_str)
        .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
}

fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a valid number"))
}

fn serve(args: &[String]) -> Result<(), String> {
    let mut opts = IdpOptions {
        port: 8081,
        ..IdpOptions::default()
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--port" => opts.port = number(value(&mut it, flag)?, flag)?,
            "--issuer" => opts.issuer = Some(value(&mut it, flag)?.to_owned()),
            "--audience" => opts.audience = Some(value(&mut it, flag)?.to_owned()),
            "--max-age" => opts.max_age_secs = Some(number(value(&mut it, flag)?, flag)?),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let idp = IdpServer::start(opts).map_err(|e| format!("cannot start: {e}"))?;
    println!(
        "mock-idp listening on 127.0.0.1:{} issuer={}",
        idp.port(),
        idp.issuer()
    );
    // A supervising script may be reading stdout through a pipe, which is block-buffered.
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn mint(args: &[String]) -> Result<(), String> {
    let mut url = "http://127.0.0.1:8081".to_owned();
    let mut request = MintRequest::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--url" => url = value(&mut it, flag)?.to_owned(),
            "--alg" => {
                let name = value(&mut it, flag)?;
                request.alg = Alg::from_name(name)
                    .ok_or_else(|| format!("--alg: {name:?} is not RS256 or ES384"))?;
            }
            "--claims" => {
                let text = value(&mut it, flag)?;
                request.claims = serde_json::from_str::<Map<String, Value>>(text)
                    .map_err(|e| format!("--claims must be a JSON object: {e}"))?;
            }
            "--lifetime" => request.lifetime_secs = Some(number(value(&mut it, flag)?, flag)?),
            "--expired" => request.expired = true,
            "--kid" => request.kid = Some(value(&mut it, flag)?.to_owned()),
            "--no-kid" => request.omit_kid = true,
            "--typ" => request.typ = Some(value(&mut it, flag)?.to_owned()),
            "--unknown-key" => request.unknown_key = true,
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let authority = url
        .strip_prefix("http://")
        .ok_or("--url must start with http://")?;
    let (authority, prefix) = match authority.find('/') {
        Some(i) => authority.split_at(i),
        None => (authority, ""),
    };
    let body = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let target = format!("{}/mint", prefix.trim_end_matches('/'));
    let response = client::request(
        authority,
        "POST",
        &target,
        &[("Content-Type", b"application/json")],
        &body,
        Duration::from_secs(15),
    )
    .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let json = response
        .json()
        .map_err(|_| format!("HTTP {}: {}", response.status, response.text()))?;
    match (response.status, json.get("token").and_then(Value::as_str)) {
        (200, Some(token)) => {
            println!("{token}");
            Ok(())
        }
        _ => Err(format!("HTTP {}: {json}", response.status)),
    }
}
