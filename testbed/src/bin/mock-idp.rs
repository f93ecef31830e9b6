//! Mock OpenID Connect identity provider for manual runs (`make run`).
//!
//! ```text
//! mock-idp [--port 8081] [--issuer URL] [--audience AUD] [--max-age SECS]
//!          [--algorithms RS256,PS256,...| --all-algorithms] [--rsa-bits 2048]
//! mock-idp mint [--url http://127.0.0.1:8081] [--alg RS256|ES384|...] [--claims JSON]
//!               [--lifetime SECS] [--expired] [--kid KID] [--no-kid] [--typ TYP]
//!               [--unknown-key]
//! mock-idp dpop [--url http://127.0.0.1:8081] --htm GET --htu URL [--alg ES256|EdDSA|...]
//! ```
//!
//! The server publishes one key per algorithm (default RS256 and ES384: `rsa-1`, `ec-1`; HMAC
//! keys are never published), prints one `mock-idp listening on 127.0.0.1:PORT issuer=...
//! kids=...` line and serves until killed; `mint` asks a running server for a token and prints just the token, so shell
//! scripts can use `TOKEN=$(mock-idp mint ...)`. `dpop` makes a fresh DPoP key, has the server mint
//! an RS256 token bound to it (`cnf.jkt`) and prints `DPOP_TOKEN=...` and `DPOP_PROOF=...` (a proof
//! for `--htm` and `--htu`), for `eval`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value};
use testbed::{client, Alg, DpopClient, IdpOptions, IdpServer, MintRequest, ProofRequest};

const USAGE: &str = "usage:
  mock-idp [--port 8081] [--issuer URL] [--audience AUD] [--max-age SECS]
           [--algorithms RS256,PS256,... | --all-algorithms] [--rsa-bits 2048]
  mock-idp mint [--url http://127.0.0.1:8081] [--alg RS256|ES384|...] [--claims JSON]
                [--lifetime SECS] [--expired] [--kid KID] [--no-kid] [--typ TYP] [--unknown-key]
  mock-idp dpop [--url http://127.0.0.1:8081] --htm GET --htu URL [--alg ES256|EdDSA|...]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mint") => mint(args.get(1..).unwrap_or_default()),
        Some("dpop") => dpop(args.get(1..).unwrap_or_default()),
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
            "--algorithms" => {
                let algs = value(&mut it, flag)?
                    .split(',')
                    .map(|name| name.trim().parse::<Alg>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{flag}: {e}"))?;
                opts.algorithms = Some(algs);
            }
            "--all-algorithms" => opts.algorithms = Some(Alg::ALL.to_vec()),
            "--rsa-bits" => opts.rsa_bits = Some(number(value(&mut it, flag)?, flag)?),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let idp = IdpServer::start(opts).map_err(|e| format!("cannot start: {e}"))?;
    println!(
        "mock-idp listening on 127.0.0.1:{} issuer={} kids={}",
        idp.port(),
        idp.issuer(),
        idp.kids().join(",")
    );
    // A supervising script may be reading stdout through a pipe, which is block-buffered.
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// A DPoP-bound token and one proof for it, as shell assignments.
fn dpop(args: &[String]) -> Result<(), String> {
    let (mut url, mut htm, mut htu, mut alg) =
        ("http://127.0.0.1:8081".to_owned(), None, None, Alg::Es256);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--url" => url = value(&mut it, flag)?.to_owned(),
            "--htm" => htm = Some(value(&mut it, flag)?.to_owned()),
            "--htu" => htu = Some(value(&mut it, flag)?.to_owned()),
            "--alg" => {
                alg = value(&mut it, flag)?
                    .parse()
                    .map_err(|e| format!("--alg: {e}"))?
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let (Some(htm), Some(htu)) = (htm, htu) else {
        return Err(format!("dpop needs --htm and --htu\n{USAGE}"));
    };
    let client = DpopClient::generate(alg).map_err(|e| format!("--alg: {e}"))?;
    let cnf = client.cnf().map_err(|e| e.to_string())?;
    let mut request = MintRequest::new(Alg::Rs256);
    request.claims.insert("cnf".into(), cnf);
    let token = mint_token(&url, &request)?;
    let proof = client
        .proof(&ProofRequest::new(&htm, &htu, &token))
        .map_err(|e| e.to_string())?;
    println!("DPOP_TOKEN={token}");
    println!("DPOP_PROOF={proof}");
    Ok(())
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
                request.alg = name.parse().map_err(|e| format!("--alg: {e}"))?;
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
    println!("{}", mint_token(&url, &request)?);
    Ok(())
}

/// Asks the server at `url` for the token `request` describes.
fn mint_token(url: &str, request: &MintRequest) -> Result<String, String> {
    if !url.starts_with("http://") {
        return Err("--url must start with http://".to_owned());
    }
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    let response = client::request_url(
        "POST",
        &format!("{}/mint", url.trim_end_matches('/')),
        &[("Content-Type", b"application/json")],
        &body,
        Duration::from_secs(15),
    )
    .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let json = response
        .json()
        .map_err(|_| format!("HTTP {}: {}", response.status, response.text()))?;
    match (response.status, json.get("token").and_then(Value::as_str)) {
        (200, Some(token)) => Ok(token.to_owned()),
        _ => Err(format!("HTTP {}: {json}", response.status)),
    }
}
