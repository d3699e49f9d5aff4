use serde_json::{json, Map, Value};

use super::support::TestResult;
use crate::jose::claims::{
    is_valid_scope, validate, Audience, Claims, ValidationOptions, MAX_LEEWAY_SECS,
};
use crate::jose::error::JoseError;

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://auth.example";
const AUDIENCE: &str = "api";

fn base_json() -> Value {
    json!({
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "exp": NOW + 600,
        "iat": NOW,
        "jti": "id-1",
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn with(name: &str, value: Value) -> Map<String, Value> {
    let mut map = object(base_json());
    map.insert(name.to_owned(), value);
    map
}

fn without(name: &str) -> Map<String, Value> {
    let mut map = object(base_json());
    map.remove(name);
    map
}

fn claims() -> Result<Claims, JoseError> {
    Claims::from_object(object(base_json()))
}

fn opts(now: u64, leeway_secs: u64) -> ValidationOptions<'static> {
    ValidationOptions {
        leeway_secs,
        ..ValidationOptions::new(now, ISSUER, AUDIENCE)
    }
}

// --- decoding ---

#[test]
fn decodes_every_claim_and_keeps_extra_ones() -> TestResult {
    let mut map = object(base_json());
    map.insert("nbf".to_owned(), json!(NOW - 5));
    map.insert("scope".to_owned(), json!("read write:org"));
    map.insert("sid".to_owned(), json!("s-1"));
    map.insert("anon".to_owned(), json!(true));
    let claims = Claims::from_object(map)?;
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub, "user-1");
    assert_eq!(claims.aud, Audience::One(AUDIENCE.to_owned()));
    assert_eq!(claims.exp, NOW + 600);
    assert_eq!(claims.nbf, Some(NOW - 5));
    assert_eq!(claims.iat, NOW);
    assert_eq!(claims.jti, "id-1");
    assert_eq!(claims.sid.as_deref(), Some("s-1"));
    assert_eq!(claims.scopes().collect::<Vec<_>>(), ["read", "write:org"]);
    assert!(claims.has_scope("write:org"));
    assert!(!claims.has_scope("write"));
    assert_eq!(object(json!({"anon": true})), claims.extra);
    Ok(())
}

#[test]
fn missing_required_claims() {
    for name in ["iss", "sub", "aud", "exp", "iat", "jti"] {
        assert_eq!(
            Claims::from_object(without(name)),
            Err(JoseError::MissingClaim(name)),
            "{name}"
        );
    }
}

#[test]
fn string_claims_must_be_non_empty_strings() {
    for name in ["iss", "sub", "jti"] {
        for value in [json!(""), json!(1), json!(null), json!(["x"])] {
            assert_eq!(
                Claims::from_object(with(name, value)),
                Err(JoseError::InvalidClaim(name)),
                "{name}"
            );
        }
    }
    assert_eq!(
        Claims::from_object(with("sid", json!(1))),
        Err(JoseError::InvalidClaim("sid"))
    );
}

#[test]
fn numeric_dates_must_be_non_negative_integers() {
    for name in ["exp", "iat", "nbf"] {
        for value in [
            json!(1.5),
            json!(1700000000.0),
            json!(-1),
            json!("1700000000"),
            json!(null),
            json!(true),
            json!(18446744073709551616.0),
        ] {
            assert_eq!(
                Claims::from_object(with(name, value.clone())),
                Err(JoseError::InvalidClaim(name)),
                "{name} = {value}"
            );
        }
    }
}

#[test]
fn numeric_date_exponent_form_is_rejected() -> TestResult {
    let map = crate::jose::strict_json::parse_object(
        br#"{"iss":"i","sub":"s","aud":"a","exp":1e3,"iat":0,"jti":"j"}"#,
    )?;
    assert_eq!(
        Claims::from_object(map),
        Err(JoseError::InvalidClaim("exp"))
    );
    Ok(())
}

#[test]
fn aud_as_string_and_as_array() -> TestResult {
    let one = Claims::from_object(with("aud", json!("api")))?;
    assert_eq!(one.aud, Audience::One("api".to_owned()));
    assert!(one.aud.contains("api"));
    let many = Claims::from_object(with("aud", json!(["web", "api"])))?;
    assert_eq!(
        many.aud,
        Audience::Many(vec!["web".to_owned(), "api".to_owned()])
    );
    assert!(many.aud.contains("api"));
    assert!(!many.aud.contains("API"));
    assert_eq!(validate(&many, &opts(NOW, 0)), Ok(()));
    Ok(())
}

#[test]
fn aud_must_be_well_formed() {
    for value in [
        json!([]),
        json!(""),
        json!([""]),
        json!([1]),
        json!(1),
        json!({}),
    ] {
        assert_eq!(
            Claims::from_object(with("aud", value.clone())),
            Err(JoseError::InvalidClaim("aud")),
            "aud = {value}"
        );
    }
}

#[test]
fn scope_must_follow_rfc6749_grammar() {
    for scope in [
        "",
        " read",
        "read ",
        "read  write",
        "re\"ad",
        "re\\ad",
        "réad",
        "read\twrite",
    ] {
        assert!(!is_valid_scope(scope), "{scope:?}");
        assert_eq!(
            Claims::from_object(with("scope", json!(scope))),
            Err(JoseError::InvalidClaim("scope")),
            "{scope:?}"
        );
    }
    for scope in ["read", "read write", "a!#[]~ x:y/z"] {
        assert!(is_valid_scope(scope), "{scope:?}");
    }
}

// --- validation ---

#[test]
fn valid_claims_pass() -> TestResult {
    assert_eq!(validate(&claims()?, &opts(NOW, 0)), Ok(()));
    assert_eq!(
        validate(&claims()?, &ValidationOptions::new(NOW, ISSUER, AUDIENCE)),
        Ok(())
    );
    Ok(())
}

#[test]
fn leeway_too_large() -> TestResult {
    assert_eq!(
        validate(&claims()?, &opts(NOW, MAX_LEEWAY_SECS + 1)),
        Err(JoseError::LeewayTooLarge)
    );
    assert_eq!(validate(&claims()?, &opts(NOW, MAX_LEEWAY_SECS)), Ok(()));
    Ok(())
}

#[test]
fn invalid_issuer() -> TestResult {
    let options = ValidationOptions {
        issuer: "https://evil.example",
        ..opts(NOW, 0)
    };
    assert_eq!(
        validate(&claims()?, &options),
        Err(JoseError::InvalidIssuer)
    );
    Ok(())
}

#[test]
fn invalid_audience() -> TestResult {
    let options = ValidationOptions {
        audience: "other",
        ..opts(NOW, 0)
    };
    assert_eq!(
        validate(&claims()?, &options),
        Err(JoseError::InvalidAudience)
    );
    Ok(())
}

#[test]
fn expired_boundaries_without_leeway() -> TestResult {
    let claims = claims()?;
    assert_eq!(validate(&claims, &opts(claims.exp - 1, 0)), Ok(()));
    assert_eq!(
        validate(&claims, &opts(claims.exp, 0)),
        Err(JoseError::Expired)
    );
    Ok(())
}

#[test]
fn expired_boundaries_with_leeway() -> TestResult {
    let claims = claims()?;
    assert_eq!(validate(&claims, &opts(claims.exp, 30)), Ok(()));
    assert_eq!(validate(&claims, &opts(claims.exp + 29, 30)), Ok(()));
    assert_eq!(
        validate(&claims, &opts(claims.exp + 30, 30)),
        Err(JoseError::Expired)
    );
    Ok(())
}

#[test]
fn not_yet_valid_boundaries() -> TestResult {
    let claims = Claims::from_object(with("nbf", json!(NOW + 100)))?;
    assert_eq!(validate(&claims, &opts(NOW + 100, 0)), Ok(()));
    assert_eq!(validate(&claims, &opts(NOW + 70, 30)), Ok(()));
    assert_eq!(
        validate(&claims, &opts(NOW + 69, 30)),
        Err(JoseError::NotYetValid)
    );
    assert_eq!(
        validate(&claims, &opts(NOW + 99, 0)),
        Err(JoseError::NotYetValid)
    );
    Ok(())
}

#[test]
fn issued_in_future_boundaries() -> TestResult {
    let claims = Claims::from_object(with("iat", json!(NOW + 100)))?;
    assert_eq!(validate(&claims, &opts(NOW + 70, 30)), Ok(()));
    assert_eq!(
        validate(&claims, &opts(NOW + 69, 30)),
        Err(JoseError::IssuedInFuture)
    );
    Ok(())
}

#[test]
fn too_old_boundaries() -> TestResult {
    let claims = claims()?;
    let at = |now: u64| ValidationOptions {
        max_age_secs: Some(300),
        ..opts(now, 10)
    };
    assert_eq!(validate(&claims, &at(NOW + 310)), Ok(()));
    assert_eq!(validate(&claims, &at(NOW + 311)), Err(JoseError::TooOld));
    Ok(())
}

#[test]
fn far_future_dates_do_not_overflow() -> TestResult {
    let claims = Claims::from_object(with("exp", json!(u64::MAX)))?;
    assert_eq!(validate(&claims, &opts(u64::MAX - 1, 300)), Ok(()));
    Ok(())
}

// --- serialization ---

#[test]
fn serializes_single_audience_as_string_and_omits_absent_options() -> TestResult {
    let mut claims = claims()?;
    claims.extra.insert("anon".to_owned(), json!(true));
    let value: Value = serde_json::from_slice(&claims.to_json()?)?;
    assert_eq!(
        value,
        json!({"iss":ISSUER,"sub":"user-1","aud":AUDIENCE,"exp":NOW+600,"iat":NOW,"jti":"id-1","anon":true})
    );
    claims.aud = Audience::Many(vec!["api".to_owned()]);
    assert_eq!(serde_json::to_value(&claims.aud)?, json!("api"));
    claims.aud = Audience::Many(vec!["api".to_owned(), "web".to_owned()]);
    assert_eq!(serde_json::to_value(&claims.aud)?, json!(["api", "web"]));
    Ok(())
}

#[test]
fn to_json_round_trips() -> TestResult {
    let mut map = object(base_json());
    map.insert("nbf".to_owned(), json!(NOW));
    map.insert("scope".to_owned(), json!("read"));
    map.insert("sid".to_owned(), json!("s"));
    let claims = Claims::from_object(map)?;
    assert_eq!(Claims::from_json(&claims.to_json()?)?, claims);
    assert_eq!(
        serde_json::from_slice::<Claims>(&claims.to_json()?)?,
        claims
    );
    Ok(())
}

#[test]
fn to_json_rejects_extra_claims_shadowing_named_ones() -> TestResult {
    let mut claims = claims()?;
    claims.extra.insert("exp".to_owned(), json!(0));
    assert_eq!(claims.to_json(), Err(JoseError::InvalidClaim("exp")));
    Ok(())
}

#[test]
fn to_json_rejects_malformed_values() -> TestResult {
    let mut claims = claims()?;
    claims.scope = Some("a  b".to_owned());
    assert_eq!(claims.to_json(), Err(JoseError::InvalidClaim("scope")));
    let mut claims = self::claims()?;
    claims.aud = Audience::Many(Vec::new());
    assert_eq!(claims.to_json(), Err(JoseError::InvalidClaim("aud")));
    Ok(())
}

#[test]
fn serde_deserialize_applies_the_same_rules() {
    let result = serde_json::from_value::<Claims>(json!({
        "iss": ISSUER, "sub": "s", "aud": "a", "exp": 1.5, "iat": 0, "jti": "j"
    }));
    assert!(result.is_err());
}

#[test]
fn from_json_rejects_duplicates() {
    assert_eq!(
        Claims::from_json(br#"{"iss":"i","iss":"j"}"#),
        Err(JoseError::DuplicateJsonMember)
    );
}
