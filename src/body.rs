//! Request parameters from a body: `application/x-www-form-urlencoded` (RFC 6749) or a JSON object
//! of strings. Repeated parameters are refused (RFC 6749 §3.2), empty ones are treated as absent
//! (RFC 6749 §3.1).

use crate::api_error::ApiError;
use crate::jose::strict_json;

/// Bodies above this are refused with 413 before they are parsed.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Parameters by name. Every name seen is kept, empty values too, so a repetition is refused
/// whichever of its occurrences is empty; an empty value then reads as absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The parameter, or `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name)
            .ok_or_else(|| ApiError::invalid_request(format!("missing parameter: {name}")))
    }

    fn insert(&mut self, name: String, value: String) -> Result<(), ApiError> {
        if self.0.iter().any(|(k, _)| *k == name) {
            return Err(ApiError::invalid_request(format!(
                "repeated parameter: {name}"
            )));
        }
        self.0.push((name, value));
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Form,
    Json,
}

/// The body's media type from its `Content-Type` (parameters such as charset ignored).
pub fn media_type(content_type: &str) -> Option<MediaType> {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(MediaType::Form)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Some(MediaType::Json)
    } else {
        None
    }
}

/// Parses a body. An empty body is no parameters whatever its type; a non-empty body needs a
/// supported `Content-Type` (415 otherwise).
pub fn parse_params(content_type: Option<&str>, body: &[u8]) -> Result<Params, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if body.is_empty() {
        return Ok(Params::default());
    }
    match content_type.and_then(media_type) {
        Some(MediaType::Form) => parse_form(body),
        Some(MediaType::Json) => parse_json(body),
        None => Err(ApiError::UnsupportedMediaType),
    }
}

fn parse_form(body: &[u8]) -> Result<Params, ApiError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::invalid_request("form body is not UTF-8"));
    }
    let mut params = Params::default();
    for (k, v) in form_urlencoded::parse(body) {
        params.insert(k.into_owned(), v.into_owned())?;
    }
    Ok(params)
}

fn parse_json(body: &[u8]) -> Result<Params, ApiError> {
    let object = strict_json::parse_object(body)
        .map_err(|e| ApiError::invalid_request(format!("JSON body must be an object: {e}")))?;
    let mut params = Params::default();
    for (k, v) in object {
        match v {
            serde_json::Value::String(s) => params.insert(k, s)?,
            serde_json::Value::Null => {}
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "parameter {k} must be a string"
                )))
            }
        }
    }
    Ok(params)
}

/// A JSON request body that must be an object (never an array: serde would take a struct from a
/// positional array), with no duplicate member names, deserialized into `T`. Errors name `what`.
pub fn json_object<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    let object = strict_json::parse_object(body).map_err(|e| {
        ApiError::invalid_request(format!("invalid {what}: must be a JSON object ({e})"))
    })?;
    serde_path_to_error::deserialize(serde_json::Value::Object(object)).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::invalid_request(format!("invalid {what}: {inner}"))
        } else {
            ApiError::invalid_request(format!("invalid {what}: {path}: {inner}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn form_and_json_give_the_same_params() {
        let f = parse_params(FORM, b"grant_type=refresh_token&refresh_token=a%2Bb&scope=").unwrap();
        let j = parse_params(
            JSON,
            br#"{"grant_type":"refresh_token","refresh_token":"a+b","scope":""}"#,
        )
        .unwrap();
        assert_eq!(f, j);
        assert_eq!(f.get("refresh_token"), Some("a+b"));
        assert_eq!(f.get("scope"), None);
        assert_eq!(
            f.require("x").unwrap_err().description(),
            "missing parameter: x"
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let e = parse_params(FORM, b"a=1&a=2").unwrap_err();
        assert_eq!(e.description(), "repeated parameter: a");
        // An empty occurrence still counts, wherever it stands.
        for body in [&b"a=&a=1"[..], b"a=1&a=", b"a=&a="] {
            let e = parse_params(FORM, body).unwrap_err();
            assert_eq!(e.description(), "repeated parameter: a", "{body:?}");
        }
        assert_eq!(
            parse_params(JSON, br#"{"a":"1","a":"2"}"#)
                .unwrap_err()
                .code(),
            "invalid_request"
        );
    }

    #[test]
    fn bad_bodies() {
        assert_eq!(parse_params(None, b"a=1").unwrap_err().status(), 415);
        assert_eq!(
            parse_params(Some("text/plain"), b"a=1")
                .unwrap_err()
                .status(),
            415
        );
        assert!(parse_params(None, b"").unwrap().get("a").is_none());
        assert_eq!(parse_params(JSON, b"[1]").unwrap_err().status(), 400);
        assert_eq!(
            parse_params(JSON, b"{\"a\":1}").unwrap_err().description(),
            "parameter a must be a string"
        );
        assert_eq!(parse_params(JSON, b"{").unwrap_err().status(), 400);
        assert_eq!(parse_params(FORM, b"a=\xff").unwrap_err().status(), 400);
        let big = vec![b'a'; MAX_BODY_BYTES + 1];
        assert_eq!(parse_params(FORM, &big).unwrap_err().status(), 413);
    }

    #[test]
    fn json_objects_only() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct S {
            #[serde(default)]
            a: String,
        }
        assert!(json_object::<S>(b"{}", "s").is_ok());
        let e = json_object::<S>(br#"{"a": 5}"#, "thing").unwrap_err();
        assert!(e.description().starts_with("invalid thing: a: "), "{e}");
        for bad in [
            &b"[]"[..],
            b"[\"x\"]",
            b"{\"a\":\"1\",\"a\":\"2\"}",
            b"",
            b"null",
        ] {
            let e = json_object::<S>(bad, "settings").unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{bad:?}");
            assert!(e.description().contains("settings"), "{e}");
        }
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type("Application/JSON"), Some(MediaType::Json));
        assert_eq!(
            media_type("application/x-www-form-urlencoded;charset=UTF-8"),
            Some(MediaType::Form)
        );
        assert_eq!(media_type("multipart/form-data"), None);
    }
}
