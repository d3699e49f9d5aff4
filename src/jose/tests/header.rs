use serde_json::{json, Map, Value};

use crate::jose::algorithm::Algorithm;
use crate::jose::base64url;
use crate::jose::error::JoseError;
use crate::jose::header::{encode_ed25519_header, same_media_type, Header, MAX_KID_BYTES};
use crate::jose::strict_json;

const EDDSA: &[Algorithm] = &[Algorithm::EdDSA];

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn check(value: Value) -> Result<Header, JoseError> {
    Header::from_object(object(value), EDDSA, None, &[])
}

fn check_typ(value: Value, expected: &str) -> Result<Header, JoseError> {
    Header::from_object(object(value), EDDSA, Some(expected), &[])
}

#[test]
fn kid_may_be_optional_for_other_issuers() {
    let header = Header::validate(object(json!({"alg":"EdDSA"})), EDDSA, None, &[], false);
    assert_eq!(header.map(|h| h.kid), Ok(String::new()));
    let header = Header::validate(object(json!({"alg":"EdDSA"})), EDDSA, None, &[], true);
    assert_eq!(header.err(), Some(JoseError::MissingKid));
    let header = Header::validate(
        object(json!({"alg":"EdDSA","kid":7})),
        EDDSA,
        None,
        &[],
        false,
    );
    assert_eq!(header.err(), Some(JoseError::InvalidKid));
}

#[test]
fn accepts_minimal_header() {
    let header = check(json!({"alg":"EdDSA","kid":"k1"}));
    assert_eq!(header.as_ref().map(|h| h.alg), Ok(Algorithm::EdDSA));
    assert_eq!(header.as_ref().map(|h| h.kid.as_str()), Ok("k1"));
    assert_eq!(header.as_ref().map(|h| h.typ.clone()), Ok(None));
    assert_eq!(header.map(|h| h.crit), Ok(None));
}

#[test]
fn alg_rules() {
    assert_eq!(check(json!({"kid":"k"})), Err(JoseError::MissingAlg));
    assert_eq!(
        check(json!({"alg":"none","kid":"k"})),
        Err(JoseError::UnsupportedAlg)
    );
    assert_eq!(
        check(json!({"alg":null,"kid":"k"})),
        Err(JoseError::UnsupportedAlg)
    );
    assert_eq!(
        check(json!({"alg":["EdDSA"],"kid":"k"})),
        Err(JoseError::UnsupportedAlg)
    );
    assert_eq!(
        check(json!({"alg":"HS256","kid":"k"})),
        Err(JoseError::AlgNotAllowed)
    );
    let allowed = [Algorithm::EdDSA, Algorithm::HS256];
    let header = Header::from_object(
        object(json!({"alg":"HS256","kid":"k"})),
        &allowed,
        None,
        &[],
    );
    assert_eq!(header.map(|h| h.alg), Ok(Algorithm::HS256));
}

#[test]
fn kid_rules() {
    assert_eq!(check(json!({"alg":"EdDSA"})), Err(JoseError::MissingKid));
    assert_eq!(
        check(json!({"alg":"EdDSA","kid":""})),
        Err(JoseError::InvalidKid)
    );
    assert_eq!(
        check(json!({"alg":"EdDSA","kid":7})),
        Err(JoseError::InvalidKid)
    );
    let longest = "k".repeat(MAX_KID_BYTES);
    assert!(check(json!({"alg":"EdDSA","kid":longest})).is_ok());
    let too_long = "k".repeat(MAX_KID_BYTES + 1);
    assert_eq!(
        check(json!({"alg":"EdDSA","kid":too_long})),
        Err(JoseError::InvalidKid)
    );
}

#[test]
fn crit_listing_an_unknown_extension_is_unsupported() {
    assert_eq!(
        check(json!({"alg":"EdDSA","kid":"k","crit":["exp"],"exp":1})),
        Err(JoseError::UnsupportedCrit)
    );
}

#[test]
fn crit_listing_an_understood_extension_is_accepted() {
    let header = Header::from_object(
        object(json!({"alg":"EdDSA","kid":"k","crit":["ext"],"ext":1})),
        EDDSA,
        None,
        &["ext"],
    );
    assert_eq!(header.map(|h| h.crit), Ok(Some(vec!["ext".to_owned()])));
}

#[test]
fn crit_must_be_well_formed() {
    for crit in [
        json!([]),
        json!("ext"),
        json!(null),
        json!([1]),
        json!(["ext", "ext"]),
        json!(["alg"]),
        json!(["kid"]),
        json!(["missing"]),
    ] {
        let header = Header::from_object(
            object(json!({"alg":"EdDSA","kid":"k","crit":crit,"ext":1})),
            EDDSA,
            None,
            &["ext", "missing", "alg", "kid"],
        );
        assert_eq!(header, Err(JoseError::InvalidCrit), "crit {crit}");
    }
}

#[test]
fn typ_is_optional_unless_expected() {
    let header = check(json!({"alg":"EdDSA","kid":"k","typ":"anything"}));
    assert_eq!(header.map(|h| h.typ), Ok(Some("anything".to_owned())));
    assert_eq!(
        check(json!({"alg":"EdDSA","kid":"k","typ":1})),
        Err(JoseError::UnexpectedTyp)
    );
    assert_eq!(
        check_typ(json!({"alg":"EdDSA","kid":"k"}), "JWT"),
        Err(JoseError::UnexpectedTyp)
    );
}

#[test]
fn typ_mismatch_is_rejected() {
    assert_eq!(
        check_typ(json!({"alg":"EdDSA","kid":"k","typ":"JOSE"}), "at+jwt"),
        Err(JoseError::UnexpectedTyp)
    );
    assert_eq!(
        check_typ(json!({"alg":"EdDSA","kid":"k","typ":"text/jwt"}), "jwt"),
        Err(JoseError::UnexpectedTyp)
    );
}

#[test]
fn typ_matches_with_application_prefix_and_any_case() {
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/AT+jwt",
    ] {
        let header = check_typ(json!({"alg":"EdDSA","kid":"k","typ":typ}), "at+jwt");
        assert_eq!(header.map(|h| h.typ), Ok(Some(typ.to_owned())));
    }
    assert!(same_media_type("JWT", "application/jwt"));
    assert!(!same_media_type("jwt", "text/jwt"));
}

#[test]
fn keeps_every_parameter() {
    let header = check(json!({"alg":"EdDSA","kid":"k","x-custom":[1]}));
    assert_eq!(
        header.map(|h| h.params.get("x-custom").cloned()),
        Ok(Some(json!([1])))
    );
}

#[test]
fn encodes_our_header_exactly() -> Result<(), JoseError> {
    let encoded = encode_ed25519_header("k1", "at+jwt");
    let json = base64url::decode(&encoded)?;
    assert_eq!(json, br#"{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}"#);
    let header = Header::from_object(
        strict_json::parse_object(&json)?,
        EDDSA,
        Some("at+jwt"),
        &[],
    )?;
    assert_eq!(header.kid, "k1");
    Ok(())
}

#[test]
fn encoding_escapes_json_strings() -> Result<(), JoseError> {
    let json = base64url::decode(&encode_ed25519_header("a\"b\\c", "JWT"))?;
    assert_eq!(json, br#"{"alg":"EdDSA","typ":"JWT","kid":"a\"b\\c"}"#);
    Ok(())
}
