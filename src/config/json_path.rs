//! Typed deserialization of configuration JSON whose errors name the field they are about
//! (`providers[0].remote_jwks.http_uri.timout`), without wrapping serde's visitors.
//!
//! serde_json reports where in the text an error happened (line and column); the field path
//! is read back from the text up to that point by [`path_at`], a small scanner that follows
//! objects, keys and array indexes. Wrapping every visitor instead (serde_path_to_error, used
//! before) instantiated the whole configuration's deserializer a second time: ~100 KB of the
//! module.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ConfigError;

/// `bytes` as one JSON document of type `T`; a serde error becomes a [`ConfigError`] on the
/// field it is about.
pub(super) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ConfigError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    T::deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value))
        .map_err(|err| {
            let offset = offset_of(bytes, err.line(), err.column());
            ConfigError::new(path_at(bytes, offset), err.to_string())
        })
}

/// `value` (a part of the configuration at field path `at`) as `T`; the error's field is
/// `at` followed by the path inside `value`, and its message has no position (that of a
/// re-encoded text would mislead).
pub(super) fn from_value<T: DeserializeOwned>(value: &Value, at: &str) -> Result<T, ConfigError> {
    let text = value.to_string();
    from_slice(text.as_bytes()).map_err(|err| {
        let field = match err.field.as_str() {
            "" => at.to_string(),
            inner if inner.starts_with('[') => format!("{at}{inner}"),
            inner => format!("{at}.{inner}"),
        };
        let message = match err.message.rfind(" at line ") {
            Some(end) => err.message.get(..end).unwrap_or_default().to_string(),
            None => err.message,
        };
        ConfigError::new(field, message)
    })
}

/// The byte offset of serde_json's 1-based `line` and `column` (the column counts the bytes
/// of the line read so far); `bytes.len()` when past the end.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    (line_start + column).min(bytes.len())
}

/// One open container while scanning.
enum Frame {
    /// An object and its current key (`None` before the first key, and after a comma).
    Object(Option<String>),
    /// An array and the index of its current element.
    Array(usize),
}

/// The field path at byte `end` of the JSON text `bytes`: each open object's current key and
/// each open array's index, as `a.b[2].c`; empty at the top level. A key that was just read
/// is part of the path (an unknown field is named), and so is a container that was just
/// closed (a missing field is reported on its object).
pub(super) fn path_at(bytes: &[u8], end: usize) -> String {
    let text = bytes.get(..end).unwrap_or(bytes);
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while let Some(&byte) = text.get(i) {
        match byte {
            b'{' => stack.push(Frame::Object(None)),
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array(index)) => *index += 1,
                Some(Frame::Object(key)) => *key = None,
                None => {}
            },
            b'"' => {
                let (string, next) = read_string(text, i + 1);
                if let Some(Frame::Object(key @ None)) = stack.last_mut() {
                    *key = Some(string);
                }
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object(None) => break,
            Frame::Array(index) => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}

/// The string starting after an opening quote at `start` (escapes kept as written, which is
/// the key for every plain-ASCII name) and the offset after its closing quote.
fn read_string(text: &[u8], start: usize) -> (String, usize) {
    let mut i = start;
    while let Some(&byte) = text.get(i) {
        match byte {
            b'\\' => i += 2,
            b'"' => {
                let raw = text.get(start..i).unwrap_or_default();
                return (String::from_utf8_lossy(raw).into_owned(), i + 1);
            }
            _ => i += 1,
        }
    }
    let raw = text.get(start..).unwrap_or_default();
    (String::from_utf8_lossy(raw).into_owned(), text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_keys_and_indexes() {
        let text = br#"{"a": {"b": [1, {"c": 2}]}, "d": 3}"#;
        let at = |needle: &str| {
            let start = text
                .windows(needle.len())
                .position(|w| w == needle.as_bytes())
                .unwrap();
            path_at(text, start + needle.len())
        };
        assert_eq!(at(r#"{"a""#), "a");
        assert_eq!(at(r#""b": [1"#), "a.b[0]");
        assert_eq!(at(r#"{"c""#), "a.b[1].c");
        assert_eq!(at(r#"2}"#), "a.b[1]");
        assert_eq!(at(r#"]}"#), "a");
        assert_eq!(at(r#""d""#), "d");
        assert_eq!(path_at(text, text.len()), "");
        assert_eq!(path_at(text, 1), "");
    }

    #[test]
    fn strings_with_brackets_and_escaped_quotes_do_not_confuse_it() {
        let text = br#"{"k\"[": "v,{]", "x": 1}"#;
        let end = text.len() - 2;
        assert_eq!(path_at(text, end), "x");
    }

    #[test]
    fn offsets_count_lines_and_columns_from_one() {
        let text = b"{\n  \"a\": 1,\n  \"b\": x\n}";
        assert_eq!(offset_of(text, 1, 0), 0);
        assert_eq!(offset_of(text, 2, 5), 7);
        assert_eq!(offset_of(text, 9, 1), text.len());
        let err = from_slice::<std::collections::BTreeMap<String, u8>>(text).unwrap_err();
        assert_eq!(err.field, "b");
        assert!(err.message.contains("line 3"), "{err}");
    }

    #[test]
    fn values_get_the_outer_path_and_no_position() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Inner {
            #[allow(dead_code)]
            mode: String,
        }
        let err = from_value::<Inner>(&serde_json::json!({"mode": "x", "modes": 1}), "p[0].dpop")
            .unwrap_err();
        assert_eq!(err.field, "p[0].dpop.modes");
        assert!(err.message.starts_with("unknown field `modes`"), "{err}");
        assert!(!err.message.contains("line"), "{err}");
        let err = from_value::<Inner>(&serde_json::json!({}), "p[0].dpop").unwrap_err();
        assert_eq!(err.field, "p[0].dpop");
        assert_eq!(err.message, "missing field `mode`");
    }
}
