//! Issue a token as the worker will, then accept it as a resource server would.

use serde_json::json;

use super::support::TestResult;
use crate::jose::claims::{
    decode_claims, validate, Audience, Claims, ValidationOptions, DEFAULT_LEEWAY_SECS,
};
use crate::jose::ed25519::Ed25519SigningKey;
use crate::jose::error::JoseError;
use crate::jose::header::encode_ed25519_header;
use crate::jose::jwk::{Jwks, OkpJwk};
use crate::jose::jws::{parse, sign_ed25519, verify_ed25519, ParseOptions};

const SEED: [u8; 32] = [
    0x42, 0x13, 0x37, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
    0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c,
];
const NOW: u64 = 1_750_000_000;
const ISSUER: &str = "https://auth.example";
const TYP: &str = "at+jwt";

fn issue(
    key: &Ed25519SigningKey,
    kid: &str,
) -> Result<(String, Claims), Box<dyn std::error::Error>> {
    let mut extra = serde_json::Map::new();
    extra.insert("anon".to_owned(), json!(true));
    let claims = Claims {
        iss: ISSUER.to_owned(),
        sub: "user-1".to_owned(),
        aud: Audience::Many(vec!["api".to_owned(), "web".to_owned()]),
        exp: NOW + 900,
        nbf: Some(NOW),
        iat: NOW,
        jti: "0f9e8d7c".to_owned(),
        scope: Some("org:read org:write".to_owned()),
        sid: Some("session-1".to_owned()),
        extra,
    };
    let encoded_header = encode_ed25519_header(kid, TYP);
    Ok((
        sign_ed25519(&encoded_header, &claims.to_json()?, key),
        claims,
    ))
}

#[test]
fn sign_parse_verify_decode_validate() -> TestResult {
    let key = Ed25519SigningKey::from_seed(&SEED)?;
    let jwk = OkpJwk::from_public_key(&key.public_key());
    let (token, issued) = issue(&key, jwk.kid())?;

    // The verifier only has the published JWKS.
    let jwks_json = serde_json::to_string(&Jwks { keys: vec![jwk] })?;
    let jwks: Jwks = serde_json::from_str(&jwks_json)?;

    let opts = ParseOptions::eddsa_only().with_expected_typ("application/at+jwt");
    let parsed = parse(&token, &opts)?;
    let verifying_key = jwks.verifying_key(&parsed.header().kid)?;
    verify_ed25519(&parsed, &verifying_key)?;
    let claims = decode_claims(&parsed)?;
    assert_eq!(claims, issued);
    validate(&claims, &ValidationOptions::new(NOW + 1, ISSUER, "api"))?;
    assert_eq!(
        validate(
            &claims,
            &ValidationOptions::new(NOW + 900 + DEFAULT_LEEWAY_SECS, ISSUER, "api")
        ),
        Err(JoseError::Expired)
    );
    Ok(())
}

#[test]
fn a_token_from_another_key_does_not_verify() -> TestResult {
    let key = Ed25519SigningKey::from_seed(&SEED)?;
    let other = Ed25519SigningKey::from_seed(&[0x24; 32])?;
    let (token, _) = issue(&other, &crate::jose::jwk::thumbprint(&key.public_key()))?;
    let parsed = parse(&token, &ParseOptions::default())?;
    assert_eq!(
        verify_ed25519(&parsed, &key.verifying_key()),
        Err(JoseError::InvalidSignature)
    );
    Ok(())
}

#[test]
fn signing_is_reproducible() -> TestResult {
    let key = Ed25519SigningKey::from_seed(&SEED)?;
    assert_eq!(issue(&key, "k")?.0, issue(&key, "k")?.0);
    Ok(())
}
