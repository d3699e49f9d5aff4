use crate::jose::algorithm::Algorithm;
use crate::jose::error::JoseError;

#[test]
fn names_round_trip() {
    for alg in [
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::HS256,
    ] {
        assert_eq!(Algorithm::from_name(alg.name()), Ok(alg));
        assert_eq!(alg.to_string(), alg.name());
    }
}

#[test]
fn rejects_none_and_unknown_names() {
    for name in [
        "none", "None", "NONE", "eddsa", "Ed25519", "ES384", "HS512", "", " EdDSA",
    ] {
        assert_eq!(Algorithm::from_name(name), Err(JoseError::UnsupportedAlg));
    }
}
