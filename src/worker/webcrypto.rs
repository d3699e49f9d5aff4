//! The runtime's WebCrypto, from Rust: Ed25519 signing (4x faster than signing in wasm), HKDF key
//! derivation and AES-256-GCM sealing. Keys are imported once and kept as `CryptoKey`s by callers.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

use crate::api_error::ApiError;
use crate::bounded_map::BoundedMap;
use crate::jose::base64url;
use crate::signing_key::pkcs8_from_seed;

fn subtle() -> Result<SubtleCrypto, ApiError> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    global
        .crypto()
        .map(|c| c.subtle())
        .map_err(|_| ApiError::Misconfigured("WebCrypto is not available".into()))
}

fn usages(list: &[&str]) -> Array {
    list.iter().map(|u| JsValue::from_str(u)).collect()
}

fn object(members: &[(&str, &JsValue)]) -> Result<Object, ApiError> {
    let o = Object::new();
    for (k, v) in members {
        Reflect::set(&o, &JsValue::from_str(k), v).map_err(|_| ApiError::Internal)?;
    }
    Ok(o)
}

async fn resolve(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, JsValue> {
    JsFuture::from(promise?).await
}

async fn to_key(promise: Result<js_sys::Promise, JsValue>) -> Result<CryptoKey, ApiError> {
    resolve(promise)
        .await
        .map(JsCast::unchecked_into)
        .map_err(|_| ApiError::Internal)
}

fn bytes_of(buffer: JsValue) -> Vec<u8> {
    Uint8Array::new(&buffer).to_vec()
}

/// Imports an Ed25519 private key (PKCS #8 DER) for signing; not extractable.
pub async fn import_ed25519_signing_key(pkcs8: &[u8]) -> Result<CryptoKey, ApiError> {
    let der = Uint8Array::from(pkcs8);
    to_key(subtle()?.import_key_with_str("pkcs8", &der, "Ed25519", false, &usages(&["sign"]))).await
}

/// The Ed25519 public key of `seed`, derived by the runtime (RFC 8032, as ed25519-compact derives
/// it). Size: with this, no Ed25519 code is compiled into the worker's wasm.
pub async fn ed25519_public_key(seed: &[u8; 32]) -> Result<[u8; 32], ApiError> {
    let der = Uint8Array::from(&pkcs8_from_seed(seed)[..]);
    let subtle = subtle()?;
    let key =
        to_key(subtle.import_key_with_str("pkcs8", &der, "Ed25519", true, &usages(&["sign"])))
            .await?;
    let jwk = resolve(subtle.export_key("jwk", &key))
        .await
        .map_err(|_| ApiError::Internal)?;
    let x = Reflect::get(&jwk, &JsValue::from_str("x"))
        .ok()
        .and_then(|x| x.as_string())
        .ok_or(ApiError::Internal)?;
    base64url::decode(&x)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(ApiError::Internal)
}

/// Imports the master secret as HKDF key material.
pub async fn import_hkdf_key(secret: &[u8]) -> Result<CryptoKey, ApiError> {
    let raw = Uint8Array::from(secret);
    to_key(subtle()?.import_key_with_str("raw", &raw, "HKDF", false, &usages(&["deriveKey"]))).await
}

/// Derives a non-extractable AES-256-GCM key: HKDF-SHA-256 with an empty salt and `info`.
pub async fn derive_aes_key(master: &CryptoKey, info: &str) -> Result<CryptoKey, ApiError> {
    let params = object(&[
        ("name", &"HKDF".into()),
        ("hash", &"SHA-256".into()),
        ("salt", &Uint8Array::new_with_length(0).into()),
        ("info", &Uint8Array::from(info.as_bytes()).into()),
    ])?;
    let aes = object(&[
        ("name", &"AES-GCM".into()),
        ("length", &JsValue::from_f64(256.0)),
    ])?;
    let usages = usages(&["encrypt", "decrypt"]);
    to_key(subtle()?.derive_key_with_object_and_object(&params, master, &aes, false, &usages)).await
}

fn gcm_params(iv: &[u8; 12], aad: &[u8]) -> Result<Object, ApiError> {
    object(&[
        ("name", &"AES-GCM".into()),
        ("iv", &Uint8Array::from(&iv[..]).into()),
        ("additionalData", &Uint8Array::from(aad).into()),
    ])
}

/// AES-256-GCM encryption; returns ciphertext || tag.
pub async fn aes_gcm_seal(
    key: &CryptoKey,
    iv: &[u8; 12],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, ApiError> {
    let params = gcm_params(iv, aad)?;
    resolve(subtle()?.encrypt_with_object_and_u8_array(&params, key, plaintext))
        .await
        .map(bytes_of)
        .map_err(|_| ApiError::Internal)
}

/// AES-256-GCM decryption; `None` when the tag does not verify (wrong key, org, or tampering).
pub async fn aes_gcm_open(
    key: &CryptoKey,
    iv: &[u8; 12],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Option<Vec<u8>>, ApiError> {
    let params = gcm_params(iv, aad)?;
    Ok(
        resolve(subtle()?.decrypt_with_object_and_u8_array(&params, key, ciphertext))
            .await
            .map(bytes_of)
            .ok(),
    )
}

/// Fills a buffer from the runtime's CSPRNG.
pub fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|_| ApiError::Internal)?;
    Ok(buf)
}

/// Imports a public key from its JWK members for verifying `alg` (RS256 or ES256).
pub async fn import_verify_jwk(
    jwk: &serde_json::Map<String, serde_json::Value>,
    alg: crate::jose::Algorithm,
) -> Result<CryptoKey, ApiError> {
    use crate::jose::Algorithm;
    let key_data: Object = js_sys::JSON::parse(&serde_json::Value::Object(jwk.clone()).to_string())
        .map_err(|_| ApiError::Internal)?
        .unchecked_into();
    let params = match alg {
        Algorithm::RS256 => object(&[
            ("name", &"RSASSA-PKCS1-v1_5".into()),
            ("hash", &"SHA-256".into()),
        ])?,
        Algorithm::ES256 => object(&[("name", &"ECDSA".into()), ("namedCurve", &"P-256".into())])?,
        Algorithm::EdDSA => object(&[("name", &"Ed25519".into())])?,
        Algorithm::HS256 => return Err(ApiError::Internal),
    };
    to_key(subtle()?.import_key_with_object("jwk", &key_data, &params, false, &usages(&["verify"])))
        .await
}

thread_local! {
    /// Ed25519 public keys imported for verifying, by their bytes (signing keys and org keys: few).
    static ED25519_PUBLIC: std::cell::RefCell<BoundedMap<[u8; 32], CryptoKey>> =
        std::cell::RefCell::new(BoundedMap::new(256));
}

/// The imported verify key of `public_key`, if this isolate holds it (a [`verify_ed25519`] with it
/// imported it): what the flows' `VerifyOwn` effect verifies with, without awaiting an import.
pub fn cached_ed25519_key(public_key: &[u8; 32]) -> Option<CryptoKey> {
    ED25519_PUBLIC.with(|c| c.borrow().get(public_key).cloned())
}

/// Verifies an Ed25519 signature with a raw public key through WebCrypto (far cheaper than
/// verifying in wasm); the imported key is kept for the isolate's life.
pub async fn verify_ed25519(
    public_key: &[u8; 32],
    signature: &[u8],
    data: &[u8],
) -> Result<bool, ApiError> {
    let key = match cached_ed25519_key(public_key) {
        Some(k) => k,
        None => {
            let raw = Uint8Array::from(&public_key[..]);
            let k = to_key(subtle()?.import_key_with_str(
                "raw",
                &raw,
                "Ed25519",
                false,
                &usages(&["verify"]),
            ))
            .await?;
            ED25519_PUBLIC.with(|c| c.borrow_mut().insert(*public_key, k.clone()));
            k
        }
    };
    verify_signature(&key, crate::jose::Algorithm::EdDSA, signature, data).await
}

/// Imports an HMAC-SHA-256 key for verifying.
pub async fn import_hmac_key(secret: &[u8]) -> Result<CryptoKey, ApiError> {
    let raw = Uint8Array::from(secret);
    let params = object(&[("name", &"HMAC".into()), ("hash", &"SHA-256".into())])?;
    to_key(subtle()?.import_key_with_object("raw", &raw, &params, false, &usages(&["verify"])))
        .await
}

/// Verifies a JWS signature for RS256, ES256 (raw r||s, as JWS and WebCrypto both use) or HS256
/// (constant time, inside WebCrypto). `false` for a signature that does not verify.
pub async fn verify_signature(
    key: &CryptoKey,
    alg: crate::jose::Algorithm,
    signature: &[u8],
    data: &[u8],
) -> Result<bool, ApiError> {
    let params: Object = verify_params(alg).unchecked_into();
    let sig = Uint8Array::from(signature);
    let data = Uint8Array::from(data);
    let promise =
        subtle()?.verify_with_object_and_buffer_source_and_buffer_source(&params, key, &sig, &data);
    Ok(resolve(promise)
        .await
        .map(|v| v.as_bool() == Some(true))
        .unwrap_or(false))
}

thread_local! {
    /// WebCrypto's `verify` parameters of each JWS algorithm, made once per isolate.
    static VERIFY_PARAMS: std::cell::RefCell<Vec<(crate::jose::Algorithm, JsValue)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// WebCrypto's `verify` parameters for a JWS signature of `alg` (RS256, ES256 with raw r||s as
/// JWS and WebCrypto both use, HS256, EdDSA).
pub fn verify_params(alg: crate::jose::Algorithm) -> JsValue {
    use crate::jose::Algorithm;
    VERIFY_PARAMS.with(|cache| {
        if let Some((_, params)) = cache.borrow().iter().find(|(a, _)| *a == alg) {
            return params.clone();
        }
        let params = match alg {
            Algorithm::RS256 => object(&[("name", &"RSASSA-PKCS1-v1_5".into())]),
            Algorithm::ES256 => object(&[("name", &"ECDSA".into()), ("hash", &"SHA-256".into())]),
            Algorithm::HS256 => object(&[("name", &"HMAC".into())]),
            Algorithm::EdDSA => object(&[("name", &"Ed25519".into())]),
        }
        .map_or(JsValue::UNDEFINED, JsValue::from);
        cache.borrow_mut().push((alg, params.clone()));
        params
    })
}

/// GETs `url` with a deadline; the status, the `Cache-Control` header and the body (at most
/// `max_bytes`). `Err` with a short reason for a network failure, a timeout or an oversize body.
pub async fn fetch_with_timeout(
    url: &str,
    timeout_ms: u32,
    max_bytes: usize,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    let global: WorkerGlobalScope = js_sys::global().unchecked_into();
    let init = web_sys::RequestInit::new();
    init.set_method("GET");
    let signal = web_sys::AbortSignal::timeout_with_u32(timeout_ms);
    init.set_signal(Some(&signal));
    let response: web_sys::Response = JsFuture::from(global.fetch_with_str_and_init(url, &init))
        .await
        .map_err(|_| "unreachable or timed out".to_string())?
        .unchecked_into();
    let status = response.status();
    let cache_control = response.headers().get("cache-control").ok().flatten();
    let buffer = JsFuture::from(
        response
            .array_buffer()
            .map_err(|_| "unreadable body".to_string())?,
    )
    .await
    .map_err(|_| "body unreadable or timed out".to_string())?;
    let bytes = Uint8Array::new(&buffer);
    if bytes.length() as usize > max_bytes {
        return Err("response too large".into());
    }
    Ok((status, cache_control, bytes.to_vec()))
}
