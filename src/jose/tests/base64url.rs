use crate::jose::base64url::{decode, decode_part, encode};
use crate::jose::error::{JoseError, TokenPart};

const INVALID: Result<Vec<u8>, JoseError> = Err(JoseError::InvalidBase64(None));

#[test]
fn encodes_url_safe_without_padding() {
    assert_eq!(encode(b""), "");
    assert_eq!(encode(b"a"), "YQ");
    assert_eq!(encode(b"ab"), "YWI");
    assert_eq!(encode(b"abc"), "YWJj");
    assert_eq!(encode(&[0xfb, 0xff]), "-_8");
}

#[test]
fn round_trips_every_length() {
    let bytes: Vec<u8> = (0u8..=40).map(|i| i.wrapping_mul(37)).collect();
    for len in 0..=bytes.len() {
        let prefix = bytes.get(..len).unwrap_or_default();
        assert_eq!(decode(&encode(prefix)).as_deref(), Ok(prefix));
    }
}

#[test]
fn rejects_padding() {
    assert_eq!(decode("YQ=="), INVALID);
    assert_eq!(decode("YWI="), INVALID);
    assert_eq!(decode("YWJj===="), INVALID);
    assert_eq!(decode("="), INVALID);
}

#[test]
fn rejects_non_zero_trailing_bits() {
    // "YQ" is the canonical encoding of "a"; "YR" sets one of the four unused bits.
    assert_eq!(decode("YQ"), Ok(b"a".to_vec()));
    assert_eq!(decode("YR"), INVALID);
    // "YWI" is "ab"; "YWJ" sets one of the two unused bits.
    assert_eq!(decode("YWI"), Ok(b"ab".to_vec()));
    assert_eq!(decode("YWJ"), INVALID);
}

#[test]
fn rejects_impossible_lengths() {
    assert_eq!(decode("Y"), INVALID);
    assert_eq!(decode("YWJjZ"), INVALID);
}

#[test]
fn rejects_standard_alphabet_and_other_characters() {
    assert_eq!(decode("-_8"), Ok(vec![0xfb, 0xff]));
    assert_eq!(decode("+_8"), INVALID);
    assert_eq!(decode("-/8"), INVALID);
    assert_eq!(decode("YQ\n"), INVALID);
    assert_eq!(decode(" YQ"), INVALID);
    assert_eq!(decode("Y.Q"), INVALID);
    assert_eq!(decode("YQé"), INVALID);
}

#[test]
fn decode_part_names_the_segment() {
    assert_eq!(
        decode_part("YQ=", TokenPart::Payload),
        Err(JoseError::InvalidBase64(Some(TokenPart::Payload)))
    );
    assert_eq!(decode_part("YQ", TokenPart::Header), Ok(b"a".to_vec()));
}
