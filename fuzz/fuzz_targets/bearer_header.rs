//! `Authorization` header extraction over arbitrary bytes, then the token parser on whatever it
//! lets through.
#![no_main]

use jwt_authn_wasm::config::token::Limits;
use jwt_authn_wasm::error::ErrorCode;
use jwt_authn_wasm::request::extract;
use jwt_authn_wasm::request::token::UntrustedToken;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match extract::bearer_token(Some(data)) {
        Ok(token) => {
            assert!(data.len() <= Limits::default().max_authorization_bytes);
            assert!(!token.is_empty());
            assert!(token.bytes().all(|b| b.is_ascii_graphic() && b != b','));
            let _ = UntrustedToken::parse(token);
        }
        Err(err) => {
            assert_eq!(err.code, ErrorCode::InvalidHeader);
            let _ = err.reply("fuzz");
        }
    }
    let tight = Limits {
        max_authorization_bytes: 64,
        ..Limits::default()
    };
    if extract::bearer_token_with(Some(data), &tight).is_ok() {
        assert!(data.len() <= 64);
    }
});
