//! RFC 8032 §7.1 test vectors, and key / signature error handling.

use sha2::{Digest, Sha512};

use super::support::{array, hex, TestResult};
use crate::jose::ed25519::{Ed25519SigningKey, Ed25519VerifyingKey};
use crate::jose::error::JoseError;

struct Vector {
    name: &'static str,
    secret_key: &'static str,
    public_key: &'static str,
    message: &'static str,
    signature: &'static str,
}

/// The 1023-byte message of RFC 8032 §7.1 "TEST 1024".
const TEST_1024_MESSAGE: &str = concat!(
    "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98",
    "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8",
    "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d",
    "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc",
    "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe",
    "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e",
    "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef",
    "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7",
    "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1",
    "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2",
    "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24",
    "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270",
    "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc",
    "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07",
    "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba",
    "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a",
    "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e",
    "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7",
    "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c",
    "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8",
    "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df",
    "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08",
    "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649",
    "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4",
    "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3",
    "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e",
    "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f",
    "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5",
    "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1",
    "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d",
    "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c",
    "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
);

/// "TEST SHA(abc)": the message is SHA-512("abc").
const SHA_ABC_MESSAGE: &str = concat!(
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a",
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
);

const RFC8032_VECTORS: [Vector; 5] = [
    Vector {
        name: "TEST 1",
        secret_key: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public_key: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature: concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
    },
    Vector {
        name: "TEST 2",
        secret_key: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        public_key: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        message: "72",
        signature: concat!(
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
            "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    },
    Vector {
        name: "TEST 3",
        secret_key: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        public_key: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        message: "af82",
        signature: concat!(
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac",
            "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    },
    Vector {
        name: "TEST 1024",
        secret_key: "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
        public_key: "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
        message: TEST_1024_MESSAGE,
        signature: concat!(
            "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350",
            "aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
        ),
    },
    Vector {
        name: "TEST SHA(abc)",
        secret_key: "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
        public_key: "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
        message: SHA_ABC_MESSAGE,
        signature: concat!(
            "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589",
            "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
        ),
    },
];

#[test]
fn rfc8032_vectors_sign_and_verify_exactly() -> TestResult {
    for vector in &RFC8032_VECTORS {
        let key = Ed25519SigningKey::from_seed(&array::<32>(hex(vector.secret_key)?)?)?;
        let public_key = hex(vector.public_key)?;
        let message = hex(vector.message)?;
        let signature = hex(vector.signature)?;

        assert_eq!(key.public_key().to_vec(), public_key, "{}", vector.name);
        assert_eq!(key.sign(&message).to_vec(), signature, "{}", vector.name);
        let verifying_key = Ed25519VerifyingKey::from_bytes(&public_key)?;
        assert_eq!(verifying_key, key.verifying_key(), "{}", vector.name);
        assert_eq!(
            verifying_key.verify(&message, &signature),
            Ok(()),
            "{}",
            vector.name
        );
    }
    Ok(())
}

#[test]
fn rfc8032_message_lengths_are_as_published() -> TestResult {
    assert_eq!(hex(TEST_1024_MESSAGE)?.len(), 1023);
    assert_eq!(hex(SHA_ABC_MESSAGE)?, Sha512::digest(b"abc").to_vec());
    Ok(())
}

#[test]
fn signing_is_deterministic() -> TestResult {
    let key = Ed25519SigningKey::from_seed(&[7; 32])?;
    assert_eq!(key.sign(b"message"), key.sign(b"message"));
    assert_ne!(key.sign(b"message"), key.sign(b"messagf"));
    Ok(())
}

#[test]
fn all_zero_seed_is_refused() {
    assert_eq!(
        Ed25519SigningKey::from_seed(&[0; 32]).map(|key| key.public_key()),
        Err(JoseError::InvalidKey)
    );
}

#[test]
fn verifying_key_must_be_32_bytes() {
    for len in [0, 31, 33, 64] {
        assert_eq!(
            Ed25519VerifyingKey::from_bytes(&vec![9; len]),
            Err(JoseError::InvalidKey)
        );
    }
}

#[test]
fn verifying_key_must_not_have_small_order() {
    // The neutral element (0, 1): with R = identity and S = 0 it would "verify" anything.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    assert_eq!(
        Ed25519VerifyingKey::from_bytes(&identity),
        Err(JoseError::InvalidKey)
    );
}

#[test]
fn verifying_key_must_be_canonical() {
    // y = 2^255 - 1 is not reduced modulo p = 2^255 - 19.
    let mut non_canonical = [0xff; 32];
    non_canonical[31] = 0x7f;
    assert_eq!(
        Ed25519VerifyingKey::from_bytes(&non_canonical),
        Err(JoseError::InvalidKey)
    );
}

#[test]
fn verify_reports_length_then_mismatch() -> TestResult {
    let key = Ed25519SigningKey::from_seed(&[7; 32])?;
    let verifying_key = key.verifying_key();
    let signature = key.sign(b"message");
    assert_eq!(verifying_key.verify(b"message", &signature), Ok(()));
    assert_eq!(
        verifying_key.verify(b"message", signature.get(..63).unwrap_or_default()),
        Err(JoseError::InvalidSignatureLength)
    );
    assert_eq!(
        verifying_key.verify(b"message", &[signature.as_slice(), &[0]].concat()),
        Err(JoseError::InvalidSignatureLength)
    );
    for bit in [0usize, 255, 256, 511] {
        let mut flipped = signature;
        if let Some(byte) = flipped.get_mut(bit / 8) {
            *byte ^= 1 << (bit % 8);
        }
        assert_eq!(
            verifying_key.verify(b"message", &flipped),
            Err(JoseError::InvalidSignature),
            "bit {bit}"
        );
    }
    assert_eq!(
        verifying_key.verify(b"messagf", &signature),
        Err(JoseError::InvalidSignature)
    );
    Ok(())
}

#[test]
fn debug_output_redacts_the_seed() -> TestResult {
    let seed = [0xab; 32];
    let key = Ed25519SigningKey::from_seed(&seed)?;
    let debug = format!("{key:?}");
    assert!(debug.contains("redacted"));
    assert!(!debug.contains("171, 171"));
    assert!(!debug.to_lowercase().contains("abab"));
    assert!(!debug.contains(&crate::jose::base64url::encode(&seed)));
    Ok(())
}
