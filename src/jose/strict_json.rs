//! Strict JSON for JOSE: one complete JSON text, no duplicate member names at any depth.
//!
//! `serde_json::Map` keeps the last of two equal member names, so a header or claims set could
//! mean one thing to us and another to a different parser; RFC 7515 §5.2 and RFC 7519 §4 allow
//! rejecting such input, and we do. Parsing goes through a `DeserializeSeed` that builds the same
//! `serde_json::Value` but refuses a name it has already seen in the same object; names are
//! compared after unescaping, so `"a"` and `"\u0061"` are duplicates.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::JoseError;

/// Parses one JSON text of any type. Errors: `InvalidJson` (syntax, bad UTF-8 or escapes,
/// nesting deeper than serde_json's limit, trailing non-whitespace) or `DuplicateJsonMember`.
pub fn parse_value(bytes: &[u8]) -> Result<Value, JoseError> {
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictValue {
        duplicate: &duplicate,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if duplicate.get() => Err(JoseError::DuplicateJsonMember),
        Err(_) => Err(JoseError::InvalidJson),
    }
}

/// Parses one JSON text that must be an object; errors as [`parse_value`], plus `JsonNotObject`.
///
/// JWS parsing uses [`parse_value`] itself to report `HeaderNotObject` / `PayloadNotObject`.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JoseError> {
    match parse_value(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(JoseError::JsonNotObject),
    }
}

/// Seed that builds a `Value`, flagging (and failing on) a repeated member name.
#[derive(Clone, Copy)]
struct StrictValue<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value without duplicate member names")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(self)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}
