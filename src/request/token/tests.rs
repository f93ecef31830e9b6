use super::*;
use crate::config::token::{MAX_JSON_DEPTH, MAX_KID_BYTES, MAX_TOKEN_BYTES};

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

fn token(header: &str, payload: &str) -> String {
    format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
}

fn err(token: &str) -> AuthError {
    UntrustedToken::parse(token).unwrap_err()
}

fn header_err(header: &str) -> &'static str {
    err(&token(header, "{}")).description
}

fn payload_err(payload: &str) -> &'static str {
    err(&token(r#"{"alg":"RS256"}"#, payload)).description
}

#[test]
fn parses_a_well_formed_token() {
    let text = token(
        r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
        r#"{"sub":"u"}"#,
    );
    let parsed = UntrustedToken::parse(&text).unwrap();
    assert_eq!(parsed.header.alg, "RS256");
    assert_eq!(parsed.header.kid.as_deref(), Some("k1"));
    assert_eq!(parsed.claims["sub"], "u");
    assert_eq!(parsed.signature, b"sig");
    let dot = text.rfind('.').unwrap();
    assert_eq!(parsed.signing_input, &text.as_bytes()[..dot]);
}

#[test]
fn wrong_part_counts_are_invalid_token() {
    for text in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "...", "...."] {
        assert_eq!(err(text).code, ErrorCode::InvalidToken, "{text}");
    }
}

#[test]
fn thousands_of_segments_are_refused_by_counting_four() {
    let many = "a.".repeat(4_000);
    assert_eq!(err(&many).description, "Token is not a JWS in compact form");
    let dots = ".".repeat(MAX_TOKEN_BYTES);
    assert_eq!(err(&dots).description, "Token is not a JWS in compact form");
}

#[test]
fn bad_base64_is_refused() {
    let good = token(r#"{"alg":"RS256"}"#, "{}");
    assert!(UntrustedToken::parse(&good).is_ok());
    let (h, rest) = good.split_once('.').unwrap();
    for bad in [
        format!("{good}="),               // padding
        format!("{h}=.{rest}"),           // padding on the header
        good.replacen('.', "+.", 1),      // standard alphabet
        good.replacen('.', "/.", 1),      // standard alphabet
        good.replacen('.', " .", 1),      // whitespace
        good.replacen('.', "\n.", 1),     // line break
        good.replacen('.', "%3D.", 1),    // percent-encoding
        good.replacen('.', "\u{e9}.", 1), // non-ASCII
        format!("A{good}"),               // a length no base64 has (4n + 1)
        format!("QR.{rest}"),             // non-canonical trailing bits ("QQ" is canonical)
    ] {
        assert_eq!(
            err(&bad).description,
            "Token is not valid base64url",
            "{bad:?}"
        );
    }
}

#[test]
fn header_must_name_an_algorithm() {
    assert_eq!(err(&token("{}", "{}")).code, ErrorCode::InvalidToken);
    for header in [
        "{}",
        r#"{"alg":1}"#,
        r#"{"alg":null}"#,
        r#"{"alg":["RS256"]}"#,
    ] {
        assert_eq!(
            header_err(header),
            "Token header has no algorithm",
            "{header}"
        );
    }
    for header in ["[]", "not json", "", "\"RS256\"", "null"] {
        assert_eq!(
            header_err(header),
            "Token header is not a JSON object",
            "{header}"
        );
    }
}

#[test]
fn payload_must_be_an_object() {
    for payload in ["[1]", "x", "", "null", "1", "\"eyJ.a.b\""] {
        assert_eq!(
            payload_err(payload),
            "Token payload is not a JSON object",
            "{payload}"
        );
    }
}

#[test]
fn header_and_payload_must_be_utf8_json() {
    let sig = b64("sig");
    let good_header = b64(r#"{"alg":"RS256"}"#);
    for raw in [
        &b"\xff\xfe{}"[..],
        b"{\"alg\":\"RS256\xff\"}",
        b"\xef\xbb\xbf{\"alg\":\"RS256\"}", // a byte-order mark
        b"{\"alg\":\"RS256\"}\x00",
        b"{\"alg\":\"RS256\"} {}", // trailing data
        b"{\"alg\":\"\\ud800\"}",  // a lone surrogate
        b"{\"alg\":\"RS256\",}",   // trailing comma
        b"{'alg':'RS256'}",
        b"{\"alg\":\"RS256\",\"x\":NaN}",
        b"{\"alg\":\"RS256\",\"x\":Infinity}",
        b"{\"alg\":\"RS256\",\"x\":1e400}",
    ] {
        let header = URL_SAFE_NO_PAD.encode(raw);
        let as_header = format!("{header}.{}.{sig}", b64("{}"));
        assert_eq!(
            err(&as_header).description,
            "Token header is not a JSON object",
            "{raw:?}"
        );
        let as_payload = format!("{good_header}.{header}.{sig}");
        assert_eq!(
            err(&as_payload).description,
            "Token payload is not a JSON object",
            "{raw:?}"
        );
    }
}

#[test]
fn duplicate_members_are_refused_at_every_level() {
    for header in [
        r#"{"alg":"RS256","alg":"none"}"#,
        r#"{"alg":"RS256","kid":"a","kid":"b"}"#,
        r#"{"alg":"RS256","\u0061lg":"none"}"#,
        r#"{"alg":"RS256","x":{"y":1,"y":1}}"#,
    ] {
        assert_eq!(
            header_err(header),
            "Token header has a duplicate member",
            "{header}"
        );
    }
    for payload in [
        r#"{"iss":"a","iss":"b"}"#,
        r#"{"aud":"a","aud":["b"]}"#,
        r#"{"exp":1,"\u0065xp":2}"#,
        r#"{"a":{"b":1,"b":2}}"#,
        r#"{"a":[1,{"b":1,"c":{"d":0,"d":0}}]}"#,
    ] {
        assert_eq!(
            payload_err(payload),
            "Token payload has a duplicate member",
            "{payload}"
        );
    }
    // The same name in different objects is no duplicate.
    let fine = token(
        r#"{"alg":"RS256"}"#,
        r#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}"#,
    );
    UntrustedToken::parse(&fine).unwrap();
}

fn nested(depth: usize) -> String {
    // `depth` levels in all: the top-level object plus `depth - 1` arrays.
    let inner = depth.saturating_sub(1);
    format!(
        r#"{{"alg":"RS256","x":{}{}}}"#,
        "[".repeat(inner),
        "]".repeat(inner)
    )
}

#[test]
fn json_depth_is_limited() {
    let at_limit = nested(MAX_JSON_DEPTH);
    UntrustedToken::parse(&token(&at_limit, "{}")).unwrap();
    UntrustedToken::parse(&token(r#"{"alg":"RS256"}"#, &at_limit)).unwrap();
    let over = nested(MAX_JSON_DEPTH + 1);
    assert_eq!(header_err(&over), "Token header is nested too deeply");
    assert_eq!(payload_err(&over), "Token payload is nested too deeply");
    // Objects count as much as arrays.
    let objects = format!("{}1{}", r#"{"a":"#.repeat(40), "}".repeat(40));
    assert_eq!(payload_err(&objects), "Token payload is nested too deeply");
    // Far beyond serde_json's own limit of 128, inside the token size limit.
    let deep = format!("{}{}", "[".repeat(2_500), "]".repeat(2_500));
    assert_eq!(payload_err(&deep), "Token payload is nested too deeply");
    // A tighter configured limit applies.
    let limits = Limits {
        max_json_depth: 2,
        ..Limits::default()
    };
    let text = token(r#"{"alg":"RS256"}"#, r#"{"a":{"b":1}}"#);
    UntrustedToken::parse_with(&text, &limits, TypPolicy::Jwt).unwrap();
    let text = token(r#"{"alg":"RS256"}"#, r#"{"a":{"b":[]}}"#);
    let refused = UntrustedToken::parse_with(&text, &limits, TypPolicy::Jwt).unwrap_err();
    assert_eq!(refused.description, "Token payload is nested too deeply");
}

#[test]
fn strict_json_parser_direct() {
    assert_eq!(parse_json_object(b"{}", 1).unwrap(), Map::new());
    assert_eq!(
        parse_json_object(b" {\"a\": [1, 2.5, -3, true, null, \"s\"]} ", 2).unwrap()["a"][1],
        2.5
    );
    assert_eq!(parse_json_object(b"{}", 0), Err(JsonError::TooDeep));
    assert_eq!(parse_json_object(b"[]", 5), Err(JsonError::NotAnObject));
    assert_eq!(parse_json_object(b"1", 5), Err(JsonError::NotAnObject));
    assert_eq!(
        parse_json_object(b"{\"a\":1,\"a\":1}", 5),
        Err(JsonError::DuplicateMember)
    );
    assert_eq!(parse_json_object(b"{\"a\":1", 5), Err(JsonError::Syntax));
    assert_eq!(parse_json_object(b"{} {}", 5), Err(JsonError::Syntax));
    // A megabyte of brackets: refused at the limit, no stack overflow, no large allocation.
    let deep = "[".repeat(1 << 20);
    let text = format!("{{\"a\":{deep}");
    assert_eq!(
        parse_json_object(text.as_bytes(), 32),
        Err(JsonError::TooDeep)
    );
    // With a limit above serde_json's own (128), serde_json's still stops the descent.
    assert_eq!(
        parse_json_object(text.as_bytes(), 10_000),
        Err(JsonError::Syntax)
    );
    // Big integers and floats keep their JSON meaning.
    let map = parse_json_object(
        b"{\"u\":18446744073709551615,\"i\":-9223372036854775808,\"f\":1e300}",
        1,
    )
    .unwrap();
    assert_eq!(map["u"], u64::MAX);
    assert_eq!(map["i"], i64::MIN);
    assert_eq!(map["f"], 1e300);
}

#[test]
fn crit_b64_nested_and_encrypted_are_refused() {
    for (header, description) in [
        (
            r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
            "Token uses an unsupported critical header",
        ),
        (
            r#"{"alg":"RS256","crit":["exp"]}"#,
            "Token uses an unsupported critical header",
        ),
        (
            r#"{"alg":"RS256","crit":[]}"#,
            "Token uses an unsupported critical header",
        ),
        (
            r#"{"alg":"RS256","b64":false}"#,
            "Token uses an unsupported critical header",
        ),
        (
            r#"{"alg":"RS256","cty":"JWT"}"#,
            "Nested or encrypted tokens are not accepted",
        ),
        (
            r#"{"alg":"RS256","cty":"json"}"#,
            "Nested or encrypted tokens are not accepted",
        ),
        (
            r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#,
            "Nested or encrypted tokens are not accepted",
        ),
        (
            r#"{"alg":"RS256","zip":"DEF"}"#,
            "Nested or encrypted tokens are not accepted",
        ),
    ] {
        assert_eq!(header_err(header), description, "{header}");
    }
    // A JWE in compact form has five parts.
    let jwe = format!("{}.a.b.c.d", b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
    assert_eq!(err(&jwe).description, "Token is not a JWS in compact form");
}

#[test]
fn key_location_headers_are_never_read() {
    // Parsing keeps only alg, kid and typ: there is nowhere for jku & co. to go.
    let header = r#"{"alg":"RS256","kid":"k","jku":"http://127.0.0.1:1/jwks","x5u":"http://127.0.0.1:1/x5u","jwk":{"kty":"oct","k":"AA"},"x5c":["MIIB"],"x5t":"AA"}"#;
    let text = token(header, "{}");
    let parsed = UntrustedToken::parse(&text).unwrap();
    assert_eq!(
        parsed.header,
        Header {
            alg: "RS256".into(),
            kid: Some("k".into()),
            typ: None
        }
    );
}

#[test]
fn typ_allowlist() {
    for typ in [
        "JWT",
        "jwt",
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "application/jwt",
    ] {
        let header = format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#);
        assert!(
            UntrustedToken::parse(&token(&header, "{}")).is_ok(),
            "{typ}"
        );
    }
    for typ in [
        "JOSE+JSON",
        "JOSE",
        "",
        "jwt ",
        "application/jose",
        "secevent+jwt",
    ] {
        let header = format!(r#"{{"alg":"RS256","typ":"{typ}"}}"#);
        assert_eq!(header_err(&header), "Token type is not accepted", "{typ}");
    }
    assert_eq!(
        header_err(r#"{"alg":"RS256","typ":1}"#),
        "Token type is not a string"
    );
    assert_eq!(
        header_err(r#"{"alg":"RS256","typ":null}"#),
        "Token type is not a string"
    );
}

#[test]
fn typ_policy_can_require_at_jwt() {
    let limits = Limits::default();
    let parse = |header: &str| {
        UntrustedToken::parse_with(&token(header, "{}"), &limits, TypPolicy::AccessToken)
            .map(|_| ())
            .map_err(|e| e.description)
    };
    assert_eq!(parse(r#"{"alg":"RS256","typ":"at+jwt"}"#), Ok(()));
    assert_eq!(
        parse(r#"{"alg":"RS256","typ":"application/AT+JWT"}"#),
        Ok(())
    );
    for header in [
        r#"{"alg":"RS256"}"#,
        r#"{"alg":"RS256","typ":"JWT"}"#,
        r#"{"alg":"RS256","typ":"application/jwt"}"#,
        r#"{"alg":"RS256","typ":"at+jwt+x"}"#,
    ] {
        assert_eq!(parse(header), Err("Token type must be at+jwt"), "{header}");
    }
    // The same check on its own, for a caller that learns the policy after parsing.
    assert!(TypPolicy::AccessToken.check(Some("at+jwt")).is_ok());
    assert!(TypPolicy::AccessToken.check(None).is_err());
    assert!(TypPolicy::Jwt.check(None).is_ok());
    assert!(TypPolicy::Jwt.check(Some("JWT")).is_ok());
}

#[test]
fn kid_is_limited() {
    let at_limit = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(MAX_KID_BYTES));
    UntrustedToken::parse(&token(&at_limit, "{}")).unwrap();
    let over = format!(
        r#"{{"alg":"RS256","kid":"{}"}}"#,
        "k".repeat(MAX_KID_BYTES + 1)
    );
    assert_eq!(header_err(&over), "Token key id is too long");
    assert_eq!(
        header_err(r#"{"alg":"RS256","kid":7}"#),
        "Token key id is not a string"
    );
    assert_eq!(
        header_err(r#"{"alg":"RS256","kid":{"a":1}}"#),
        "Token key id is not a string"
    );
}

#[test]
fn oversized_token_is_refused_before_decoding() {
    let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
    assert_eq!(err(&huge).description, "Token is too large");
    let limits = Limits {
        max_token_bytes: 10,
        ..Limits::default()
    };
    let refused = UntrustedToken::parse_with("aaaa.bbbb.cc", &limits, TypPolicy::Jwt).unwrap_err();
    assert_eq!(refused.description, "Token is too large");
}

#[test]
fn empty_signature_is_refused() {
    let text = format!("{}.{}.", b64(r#"{"alg":"RS256"}"#), b64("{}"));
    assert_eq!(err(&text).description, "Token is not signed");
}

#[test]
fn default_limits_are_the_documented_ones() {
    let limits = Limits::default();
    assert_eq!(limits.max_token_bytes, 8 * 1024);
    assert_eq!(limits.max_authorization_bytes, 8 * 1024 + 256);
    assert_eq!(limits.max_kid_bytes, 256);
    assert_eq!(limits.max_json_depth, 32);
}
