//! Small helpers shared by the family parsers: reading a body, and tolerant field access
//! for objects whose field types vary between API generations (ids as numbers or strings).
//!
//! Errors name the field (`devices[2].serialNumber`), never quote the body. Pure, no IO.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::ParseError;

/// Deserializes a whole body, with a clear message for an empty one.
pub(crate) fn from_body<T: DeserializeOwned>(context: &str, body: &str) -> Result<T, ParseError> {
    if body.trim().is_empty() {
        return Err(ParseError::new(format!("{context}: empty body")));
    }
    serde_json::from_str(body).map_err(|e| ParseError::json(context, &e))
}

/// The value as a JSON object, or an error naming `context`.
pub(crate) fn object<'a>(
    context: &str,
    v: &'a Value,
) -> Result<&'a Map<String, Value>, ParseError> {
    v.as_object()
        .ok_or_else(|| ParseError::new(format!("{context}: expected an object, got {}", kind(v))))
}

/// A text field; numbers and booleans are accepted and written out, null or missing is
/// `None`.
pub(crate) fn opt_str(
    context: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(field_error(context, key, "a string", other)),
    }
}

/// An integer field; integral floats and numeric strings are accepted.
pub(crate) fn opt_i64(
    context: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<i64>, ParseError> {
    let v = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let parsed = match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| field_error(context, key, "an integer", v))
}

/// A number field; numeric strings are accepted.
pub(crate) fn opt_f64(
    context: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<f64>, ParseError> {
    let v = match obj.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let parsed = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    parsed
        .map(Some)
        .ok_or_else(|| field_error(context, key, "a number", v))
}

/// A boolean field; `"true"` / `"false"` strings are accepted.
pub(crate) fn opt_bool(
    context: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, ParseError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(field_error(context, key, "a boolean", other)),
    }
}

fn field_error(context: &str, key: &str, expected: &str, got: &Value) -> ParseError {
    ParseError::new(format!(
        "{context}.{key}: expected {expected}, got {}",
        kind(got)
    ))
}

/// The JSON type of a value, for messages that must not quote the value.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerant_fields() {
        let v = json!({"a": "x", "n": 5, "f": 5.0, "s": "7", "b": "TRUE", "o": {}, "z": null});
        let o = v.as_object().unwrap();
        assert_eq!(opt_str("t", o, "a").unwrap().as_deref(), Some("x"));
        assert_eq!(opt_str("t", o, "n").unwrap().as_deref(), Some("5"));
        assert_eq!(opt_str("t", o, "missing").unwrap(), None);
        assert_eq!(opt_str("t", o, "z").unwrap(), None);
        assert_eq!(
            opt_str("t", o, "o").unwrap_err().to_string(),
            "t.o: expected a string, got an object"
        );
        assert_eq!(opt_i64("t", o, "n").unwrap(), Some(5));
        assert_eq!(opt_i64("t", o, "f").unwrap(), Some(5));
        assert_eq!(opt_i64("t", o, "s").unwrap(), Some(7));
        assert!(opt_i64("t", o, "a").is_err());
        assert_eq!(opt_f64("t", o, "s").unwrap(), Some(7.0));
        assert_eq!(opt_bool("t", o, "b").unwrap(), Some(true));
        assert!(opt_bool("t", o, "n").is_err());
    }

    #[test]
    fn empty_and_garbage_bodies() {
        let e = from_body::<Value>("x", "  ").unwrap_err();
        assert_eq!(e.to_string(), "x: empty body");
        let e = from_body::<Value>("x", "{\"a\":").unwrap_err();
        assert!(e.to_string().starts_with("x: EOF"), "{e}");
    }
}
