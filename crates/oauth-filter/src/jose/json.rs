//! Strict JSON for JOSE objects: RFC 8259 text, UTF-8, and no duplicate member names.
//!
//! ```
//! # #[cfg(feature = "__internal")] {
//! # use oauth_filter::__internal::jose::json::parse_object;
//! assert!(parse_object(br#"{"alg":"RS256"}"#).is_ok());
//! assert!(parse_object(br#"{"alg":"RS256","alg":"none"}"#).is_err());
//! # }
//! ```
//!
//! `serde_json` keeps the last of duplicate members, which lets a header or claim set say two
//! things at once (RFC 7515 §5.2 and RFC 7519 §7.2 require rejecting or a single deterministic
//! choice; we reject). This module owns that one step: a small `serde` visitor that builds a
//! `serde_json::Value` and fails on a repeated name at any depth. Parsing itself, UTF-8 checks,
//! escape handling and the nesting limit stay with `serde_json`.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A JSON value parsed with duplicate member names rejected.
struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if members.insert(name, value).is_some() {
                return Err(de::Error::custom("duplicate member name"));
            }
        }
        Ok(Value::Object(members))
    }
}

/// Every top-level string member named `name` of a JSON object, read leniently: duplicate
/// names are all kept (so no reading of the object can hide one), other members are skipped
/// unparsed. `None` if the text is not a JSON object. For routing only, never for validation.
pub(crate) fn lenient_member_strings(text: &[u8], name: &str) -> Option<Vec<String>> {
    struct Collect<'n>(&'n str);
    impl<'de> Visitor<'de> for Collect<'_> {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
            let mut found = Vec::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == self.0 {
                    if let Value::String(s) = map.next_value::<Value>()? {
                        found.push(s);
                    }
                } else {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let found = de.deserialize_map(Collect(name)).ok()?;
    de.end().ok()?;
    Some(found)
}

/// Why a JSON text was refused. The message never contains the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not valid JSON (syntax, encoding, nesting deeper than 128, or a duplicate member name).
    Invalid,
    /// Valid JSON, but not an object where an object was required.
    NotAnObject,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid => f.write_str("invalid JSON or duplicate member name"),
            Self::NotAnObject => f.write_str("JSON value is not an object"),
        }
    }
}

impl std::error::Error for JsonError {}

/// Parses `bytes` as one strict JSON value (UTF-8, no duplicate names at any depth).
pub fn parse_value(bytes: &[u8]) -> Result<Value, JsonError> {
    serde_json::from_slice::<StrictValue>(bytes)
        .map(|v| v.0)
        .map_err(|_| JsonError::Invalid)
}

/// Parses `bytes` as a strict JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(JsonError::NotAnObject),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicates_at_any_depth() {
        assert_eq!(parse_object(br#"{"a":1,"a":1}"#), Err(JsonError::Invalid));
        assert_eq!(
            parse_object(br#"{"x":{"a":1,"a":2}}"#),
            Err(JsonError::Invalid)
        );
        assert_eq!(
            parse_object(br#"{"x":[{"a":1,"a":2}]}"#),
            Err(JsonError::Invalid)
        );
        // Escaped spelling of the same name is the same name.
        assert_eq!(
            parse_object(br#"{"alg":1,"\u0061lg":2}"#),
            Err(JsonError::Invalid)
        );
    }

    #[test]
    fn rejects_non_objects_bad_utf8_and_trailing_data() {
        assert_eq!(parse_object(b"[1]"), Err(JsonError::NotAnObject));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonError::Invalid));
        assert_eq!(parse_object(br#"{"a":"\ud800"}"#), Err(JsonError::Invalid));
        assert_eq!(parse_object(br#"{"a":1} x"#), Err(JsonError::Invalid));
        assert_eq!(parse_object(b""), Err(JsonError::Invalid));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_value(deep.as_bytes()), Err(JsonError::Invalid));
    }

    #[test]
    fn accepts_ordinary_objects() {
        let m = parse_object(br#"{ "a" : [1, 2.5, "x", null, true], "b": {"c": -3} }"#).unwrap();
        assert_eq!(m.len(), 2);
    }
}
