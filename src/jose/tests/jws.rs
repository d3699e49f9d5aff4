//! Compact JWS parsing, one test per rejection, and RFC 8037 Appendix A.4.

use super::support::{
    b64, header_json, join, signed_token, signing_key, TestResult, PAYLOAD_JSON, TEST_KID,
};
use crate::jose::algorithm::Algorithm;
use crate::jose::base64url;
use crate::jose::error::{JoseError, TokenPart};
use crate::jose::jws::{
    assemble, parse, sign_ed25519, signing_input, verify_ed25519, ParseOptions, ParsedJws,
    MAX_TOKEN_BYTES,
};

/// RFC 8037 Appendix A.4.
const RFC8037_JWS: &str = concat!(
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.",
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg",
);
const RFC8037_HEADER: &str = r#"{"alg":"EdDSA"}"#;
const RFC8037_PAYLOAD: &[u8] = b"Example of Ed25519 signing";

const OPTS: ParseOptions<'static> = ParseOptions::eddsa_only();

fn parse_default(token: &str) -> Result<ParsedJws, JoseError> {
    parse(token, &OPTS)
}

fn valid_token() -> Result<String, Box<dyn std::error::Error>> {
    signed_token(&header_json("EdDSA"), PAYLOAD_JSON)
}

/// The token's three segments.
fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// A valid token with one segment replaced.
fn with_segment(index: usize, replacement: &str) -> Result<String, Box<dyn std::error::Error>> {
    let mut parts = segments(&valid_token()?);
    if let Some(part) = parts.get_mut(index) {
        *part = replacement.to_owned();
    }
    Ok(parts.join("."))
}

fn signature_segment() -> Result<String, Box<dyn std::error::Error>> {
    Ok(segments(&valid_token()?).pop().unwrap_or_default())
}

// --- RFC 8037 A.4: raw signing input, signing and verification (no kid, non-JSON payload) ---

#[test]
fn rfc8037_a4_signer_reproduces_the_jws_byte_for_byte() -> TestResult {
    let encoded_header = base64url::encode(RFC8037_HEADER.as_bytes());
    assert_eq!(encoded_header, "eyJhbGciOiJFZERTQSJ9");
    let input = signing_input(&encoded_header, RFC8037_PAYLOAD);
    assert!(RFC8037_JWS.starts_with(&format!("{input}.")));
    assert_eq!(
        sign_ed25519(&encoded_header, RFC8037_PAYLOAD, &signing_key()?),
        RFC8037_JWS
    );
    assert_eq!(
        assemble(&input, &signing_key()?.sign(input.as_bytes())),
        RFC8037_JWS
    );
    Ok(())
}

#[test]
fn rfc8037_a4_signature_verifies() -> TestResult {
    let (input, signature) = RFC8037_JWS.rsplit_once('.').ok_or("no dot")?;
    let signature = base64url::decode(signature)?;
    let key = signing_key()?.verifying_key();
    assert_eq!(key.verify(input.as_bytes(), &signature), Ok(()));
    assert_eq!(
        key.verify(
            b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmd",
            &signature
        ),
        Err(JoseError::InvalidSignature)
    );
    Ok(())
}

#[test]
fn rfc8037_a4_token_is_refused_by_the_strict_parser_for_lack_of_kid() {
    assert_eq!(parse_default(RFC8037_JWS), Err(JoseError::MissingKid));
}

// --- accepted tokens ---

#[test]
fn parses_and_verifies_a_valid_token() -> TestResult {
    let token = valid_token()?;
    let parsed = parse_default(&token)?;
    assert_eq!(parsed.header().alg, Algorithm::EdDSA);
    assert_eq!(parsed.header().kid, TEST_KID);
    assert_eq!(
        parsed.payload().get("sub"),
        Some(&serde_json::json!("user-1"))
    );
    assert_eq!(parsed.payload_bytes(), PAYLOAD_JSON.as_bytes());
    assert_eq!(parsed.signature().len(), 64);
    let (input, _) = token.rsplit_once('.').ok_or("no dot")?;
    assert_eq!(parsed.signing_input(), input);
    assert_eq!(
        verify_ed25519(&parsed, &signing_key()?.verifying_key()),
        Ok(())
    );
    Ok(())
}

#[test]
fn accepts_a_token_of_exactly_the_maximum_size() -> TestResult {
    let token = valid_token()?;
    let opts = ParseOptions {
        max_token_bytes: token.len(),
        ..OPTS
    };
    assert!(parse(&token, &opts).is_ok());
    Ok(())
}

// --- rejected tokens ---

#[test]
fn too_large_is_checked_before_decoding() {
    let token = "!".repeat(9 * 1024);
    assert!(token.len() > MAX_TOKEN_BYTES);
    assert_eq!(parse_default(&token), Err(JoseError::TokenTooLarge));
}

#[test]
fn too_large_for_a_custom_limit() -> TestResult {
    let token = valid_token()?;
    let opts = ParseOptions {
        max_token_bytes: token.len() - 1,
        ..OPTS
    };
    assert_eq!(parse(&token, &opts).err(), Some(JoseError::TokenTooLarge));
    Ok(())
}

#[test]
fn two_parts() -> TestResult {
    let parts = segments(&valid_token()?);
    let token = parts.get(..2).ok_or("short")?.join(".");
    assert_eq!(parse_default(&token).err(), Some(JoseError::MalformedToken));
    Ok(())
}

#[test]
fn four_parts() -> TestResult {
    let token = format!("{}.{}", valid_token()?, signature_segment()?);
    assert_eq!(parse_default(&token).err(), Some(JoseError::MalformedToken));
    Ok(())
}

#[test]
fn empty_part() -> TestResult {
    for index in 0..3 {
        assert_eq!(
            parse_default(&with_segment(index, "")?).err(),
            Some(JoseError::MalformedToken),
            "segment {index}"
        );
    }
    assert_eq!(parse_default("").err(), Some(JoseError::MalformedToken));
    assert_eq!(parse_default("..").err(), Some(JoseError::MalformedToken));
    Ok(())
}

#[test]
fn padding() -> TestResult {
    // 64 signature bytes need 86 characters; padded base64 would add "==".
    let padded = format!("{}==", signature_segment()?);
    assert_eq!(
        parse_default(&with_segment(2, &padded)?).err(),
        Some(JoseError::InvalidBase64(Some(TokenPart::Signature)))
    );
    let header = b64(&header_json("EdDSA"));
    let padding = "=".repeat((4 - header.len() % 4) % 4);
    assert_eq!(
        parse_default(&with_segment(0, &format!("{header}{padding}="))?).err(),
        Some(JoseError::InvalidBase64(Some(TokenPart::Header)))
    );
    Ok(())
}

#[test]
fn non_canonical_trailing_bits() -> TestResult {
    // "e30" is "{}"; "e31" decodes to the same bytes with a non-zero unused bit.
    assert_eq!(b64("{}"), "e30");
    assert_eq!(
        parse_default(&with_segment(1, "e31")?).err(),
        Some(JoseError::InvalidBase64(Some(TokenPart::Payload)))
    );
    Ok(())
}

#[test]
fn standard_alphabet() -> TestResult {
    let signature = signature_segment()?;
    for replacement in ["+", "/"] {
        let standard = format!("{replacement}{}", signature.get(1..).unwrap_or_default());
        assert_eq!(
            parse_default(&with_segment(2, &standard)?).err(),
            Some(JoseError::InvalidBase64(Some(TokenPart::Signature)))
        );
    }
    Ok(())
}

#[test]
fn header_not_json() -> TestResult {
    let token = signed_token("not json", PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::InvalidJson));
    Ok(())
}

#[test]
fn header_json_array() -> TestResult {
    let token = signed_token(r#"["EdDSA"]"#, PAYLOAD_JSON)?;
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::HeaderNotObject)
    );
    Ok(())
}

#[test]
fn duplicate_member_in_header() -> TestResult {
    let token = signed_token(r#"{"alg":"EdDSA","kid":"a","kid":"b"}"#, PAYLOAD_JSON)?;
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::DuplicateJsonMember)
    );
    Ok(())
}

#[test]
fn duplicate_member_in_payload() -> TestResult {
    let token = signed_token(&header_json("EdDSA"), r#"{"sub":"a","sub":"b"}"#)?;
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::DuplicateJsonMember)
    );
    Ok(())
}

#[test]
fn duplicate_nested_member() -> TestResult {
    let token = signed_token(&header_json("EdDSA"), r#"{"cnf":{"jkt":"a","jkt":"b"}}"#)?;
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::DuplicateJsonMember)
    );
    Ok(())
}

#[test]
fn alg_none() -> TestResult {
    let token = signed_token(&header_json("none"), PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::UnsupportedAlg));
    Ok(())
}

#[test]
fn alg_missing() -> TestResult {
    let token = signed_token(&format!(r#"{{"kid":"{TEST_KID}"}}"#), PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::MissingAlg));
    Ok(())
}

#[test]
fn alg_not_in_allow_list() -> TestResult {
    let token = signed_token(&header_json("HS256"), PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::AlgNotAllowed));
    Ok(())
}

#[test]
fn alg_key_mismatch() -> TestResult {
    let token = signed_token(&header_json("HS256"), PAYLOAD_JSON)?;
    let opts = ParseOptions {
        allowed_algs: &[Algorithm::EdDSA, Algorithm::HS256],
        ..OPTS
    };
    let parsed = parse(&token, &opts)?;
    assert_eq!(
        verify_ed25519(&parsed, &signing_key()?.verifying_key()),
        Err(JoseError::AlgKeyMismatch)
    );
    Ok(())
}

#[test]
fn kid_missing() -> TestResult {
    let token = signed_token(r#"{"alg":"EdDSA"}"#, PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::MissingKid));
    Ok(())
}

#[test]
fn kid_empty() -> TestResult {
    let token = signed_token(r#"{"alg":"EdDSA","kid":""}"#, PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::InvalidKid));
    Ok(())
}

#[test]
fn crit_unknown() -> TestResult {
    let header = format!(r#"{{"alg":"EdDSA","kid":"{TEST_KID}","crit":["b64"],"b64":false}}"#);
    let token = signed_token(&header, PAYLOAD_JSON)?;
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::UnsupportedCrit)
    );
    Ok(())
}

#[test]
fn crit_empty() -> TestResult {
    let header = format!(r#"{{"alg":"EdDSA","kid":"{TEST_KID}","crit":[]}}"#);
    let token = signed_token(&header, PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::InvalidCrit));
    Ok(())
}

#[test]
fn typ_mismatch() -> TestResult {
    let header = format!(r#"{{"alg":"EdDSA","kid":"{TEST_KID}","typ":"JWT"}}"#);
    let token = signed_token(&header, PAYLOAD_JSON)?;
    let opts = OPTS.with_expected_typ("at+jwt");
    assert_eq!(parse(&token, &opts).err(), Some(JoseError::UnexpectedTyp));
    Ok(())
}

#[test]
fn typ_accepted_with_application_prefix_and_other_case() -> TestResult {
    let header = format!(r#"{{"alg":"EdDSA","kid":"{TEST_KID}","typ":"application/AT+JWT"}}"#);
    let token = signed_token(&header, PAYLOAD_JSON)?;
    let opts = OPTS.with_expected_typ("at+jwt");
    let parsed = parse(&token, &opts)?;
    assert_eq!(parsed.header().typ.as_deref(), Some("application/AT+JWT"));
    Ok(())
}

#[test]
fn bad_signature_bit_flip() -> TestResult {
    let mut signature = base64url::decode(&signature_segment()?)?;
    if let Some(byte) = signature.get_mut(10) {
        *byte ^= 0x01;
    }
    let token = with_segment(2, &base64url::encode(&signature))?;
    let parsed = parse_default(&token)?;
    assert_eq!(
        verify_ed25519(&parsed, &signing_key()?.verifying_key()),
        Err(JoseError::InvalidSignature)
    );
    Ok(())
}

#[test]
fn bad_signature_other_payload() -> TestResult {
    let other = b64(r#"{"sub":"admin"}"#);
    let token = with_segment(1, &other)?;
    let parsed = parse_default(&token)?;
    assert_eq!(
        verify_ed25519(&parsed, &signing_key()?.verifying_key()),
        Err(JoseError::InvalidSignature)
    );
    Ok(())
}

#[test]
fn signature_wrong_length() -> TestResult {
    let signature = base64url::decode(&signature_segment()?)?;
    let short = signature.get(..63).ok_or("short")?;
    let parsed = parse_default(&with_segment(2, &base64url::encode(short))?)?;
    assert_eq!(
        verify_ed25519(&parsed, &signing_key()?.verifying_key()),
        Err(JoseError::InvalidSignatureLength)
    );
    Ok(())
}

#[test]
fn payload_not_an_object() -> TestResult {
    for payload in [r#"["sub"]"#, r#""user-1""#, "1", "null"] {
        let token = signed_token(&header_json("EdDSA"), payload)?;
        assert_eq!(
            parse_default(&token).err(),
            Some(JoseError::PayloadNotObject),
            "payload {payload}"
        );
    }
    Ok(())
}

#[test]
fn trailing_garbage_after_json() -> TestResult {
    let token = signed_token(&header_json("EdDSA"), r#"{"sub":"a"}x"#)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::InvalidJson));
    let token = signed_token(&format!("{} {{}}", header_json("EdDSA")), PAYLOAD_JSON)?;
    assert_eq!(parse_default(&token).err(), Some(JoseError::InvalidJson));
    Ok(())
}

#[test]
fn non_ascii_token() -> TestResult {
    let token = format!("{}é", valid_token()?);
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::InvalidBase64(Some(TokenPart::Signature)))
    );
    let token = join(&["é", &b64("{}"), "AA"]);
    assert_eq!(
        parse_default(&token).err(),
        Some(JoseError::InvalidBase64(Some(TokenPart::Header)))
    );
    Ok(())
}
