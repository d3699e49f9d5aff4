use serde_json::json;

use crate::jose::error::JoseError;
use crate::jose::strict_json::{parse_object, parse_value};

#[test]
fn parses_an_object_with_every_json_type() {
    let text = br#" {"s":"x","i":-1,"u":1,"f":1.5,"b":true,"n":null,"a":[1,{"k":2}],"o":{"k":3}} "#;
    let expected =
        json!({"s":"x","i":-1,"u":1,"f":1.5,"b":true,"n":null,"a":[1,{"k":2}],"o":{"k":3}});
    assert_eq!(parse_value(text), Ok(expected.clone()));
    assert_eq!(
        parse_object(text).map(serde_json::Value::Object),
        Ok(expected)
    );
}

#[test]
fn rejects_duplicate_top_level_member() {
    assert_eq!(
        parse_object(br#"{"a":1,"b":2,"a":3}"#),
        Err(JoseError::DuplicateJsonMember)
    );
}

#[test]
fn rejects_duplicate_nested_member() {
    assert_eq!(
        parse_object(br#"{"a":{"b":{"c":1,"c":1}}}"#),
        Err(JoseError::DuplicateJsonMember)
    );
}

#[test]
fn rejects_duplicate_member_inside_array() {
    assert_eq!(
        parse_object(br#"{"a":[{"x":1},{"y":1,"y":2}]}"#),
        Err(JoseError::DuplicateJsonMember)
    );
}

#[test]
fn compares_names_after_unescaping() {
    assert_eq!(
        parse_object(br#"{"a":1,"\u0061":2}"#),
        Err(JoseError::DuplicateJsonMember)
    );
}

#[test]
fn accepts_same_name_in_different_objects() {
    assert_eq!(
        parse_value(br#"{"a":{"a":1},"b":{"a":2}}"#),
        Ok(json!({"a":{"a":1},"b":{"a":2}}))
    );
}

#[test]
fn rejects_trailing_garbage() {
    assert_eq!(parse_object(br#"{"a":1} x"#), Err(JoseError::InvalidJson));
    assert_eq!(parse_object(br#"{"a":1}{}"#), Err(JoseError::InvalidJson));
    assert_eq!(parse_object(b"{}\0"), Err(JoseError::InvalidJson));
}

#[test]
fn rejects_non_objects() {
    for text in [&b"[1]"[..], b"\"s\"", b"1", b"null", b"true"] {
        assert_eq!(parse_object(text), Err(JoseError::JsonNotObject));
    }
}

#[test]
fn rejects_invalid_json() {
    for text in [
        &b""[..],
        b"{",
        b"{'a':1}",
        b"{\"a\":1,}",
        b"{\"a\":NaN}",
        b"\xef\xbb\xbf{}",
        b"{\"a\":\"\xff\"}",
        br#"{"a":"\ud800"}"#,
    ] {
        assert_eq!(parse_value(text), Err(JoseError::InvalidJson));
    }
}

#[test]
fn rejects_excessive_nesting_without_overflowing_the_stack() {
    let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(parse_value(text.as_bytes()), Err(JoseError::InvalidJson));
}
