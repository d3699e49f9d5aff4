//! RFC 8037 Appendix A.1–A.3 and JWK (de)serialization rules.

use serde_json::json;

use super::support::{array, signing_key, TestResult, RFC8037_X};
use crate::jose::base64url;
use crate::jose::error::JoseError;
use crate::jose::jwk::{thumbprint, Jwks, OkpJwk};

/// RFC 8037 Appendix A.3.
const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

fn rfc8037_public_key() -> Result<[u8; 32], Box<dyn std::error::Error>> {
    Ok(array::<32>(base64url::decode(RFC8037_X)?)?)
}

#[test]
fn rfc8037_a1_private_key_derives_the_public_key() -> TestResult {
    assert_eq!(signing_key()?.public_key(), rfc8037_public_key()?);
    Ok(())
}

#[test]
fn rfc8037_a3_thumbprint() -> TestResult {
    assert_eq!(thumbprint(&rfc8037_public_key()?), RFC8037_THUMBPRINT);
    Ok(())
}

#[test]
fn from_public_key_serializes_to_the_full_jwk() -> TestResult {
    let jwk = OkpJwk::from_public_key(&rfc8037_public_key()?);
    assert_eq!(jwk.kid(), RFC8037_THUMBPRINT);
    assert_eq!(jwk.x(), RFC8037_X);
    assert_eq!(
        serde_json::to_string(&jwk)?,
        format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","kid":"{RFC8037_THUMBPRINT}","alg":"EdDSA","use":"sig"}}"#
        )
    );
    Ok(())
}

#[test]
fn deserializes_what_it_serializes() -> TestResult {
    let jwk = OkpJwk::with_kid(&rfc8037_public_key()?, "key-1")?;
    let parsed: OkpJwk = serde_json::from_str(&serde_json::to_string(&jwk)?)?;
    assert_eq!(parsed, jwk);
    assert_eq!(parsed.verifying_key()?.to_bytes(), rfc8037_public_key()?);
    Ok(())
}

#[test]
fn rfc8037_a2_public_jwk_deserializes_with_thumbprint_kid() -> TestResult {
    let parsed: OkpJwk =
        serde_json::from_value(json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X}))?;
    assert_eq!(parsed.kid(), RFC8037_THUMBPRINT);
    Ok(())
}

#[test]
fn deserialization_rejects_wrong_members() {
    let cases = [
        json!({"kty":"EC","crv":"Ed25519","x":RFC8037_X}),
        json!({"kty":"OKP","crv":"X25519","x":RFC8037_X}),
        json!({"kty":"OKP","crv":"Ed448","x":RFC8037_X}),
        json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X,"alg":"RS256"}),
        json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X,"use":"enc"}),
        json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X,"d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}),
        json!({"kty":"OKP","crv":"Ed25519","x":format!("{RFC8037_X}=")}),
        json!({"kty":"OKP","crv":"Ed25519","x":base64url::encode(&[1; 31])}),
        json!({"kty":"OKP","crv":"Ed25519","x":base64url::encode(&[1; 33])}),
        json!({"kty":"OKP","crv":"Ed25519","x":RFC8037_X,"kid":""}),
        json!({"kty":"OKP","crv":"Ed25519"}),
        json!({"crv":"Ed25519","x":RFC8037_X}),
    ];
    for case in cases {
        assert!(
            serde_json::from_value::<OkpJwk>(case.clone()).is_err(),
            "accepted {case}"
        );
    }
}

#[test]
fn with_kid_rejects_empty_kid() -> TestResult {
    assert_eq!(
        OkpJwk::with_kid(&rfc8037_public_key()?, ""),
        Err(JoseError::InvalidKid)
    );
    Ok(())
}

#[test]
fn jwks_serializes_and_finds_keys() -> TestResult {
    let jwk = OkpJwk::from_public_key(&rfc8037_public_key()?);
    let jwks = Jwks {
        keys: vec![jwk.clone()],
    };
    let json = serde_json::to_value(&jwks)?;
    assert_eq!(json, json!({"keys":[serde_json::to_value(&jwk)?]}));
    let parsed: Jwks = serde_json::from_value(json)?;
    assert_eq!(parsed, jwks);
    assert_eq!(parsed.find(RFC8037_THUMBPRINT), Some(&jwk));
    assert_eq!(
        parsed
            .verifying_key(RFC8037_THUMBPRINT)
            .map(|key| key.to_bytes()),
        Ok(rfc8037_public_key()?)
    );
    assert_eq!(
        parsed.verifying_key("other").map(|key| key.to_bytes()),
        Err(JoseError::UnknownKid)
    );
    Ok(())
}
