//! Token exchange (RFC 8693): an identity provider's token traded for one of ours. The pure
//! parts: request parameters, the subject token's checks, the provider's JWKS, the policy
//! (scope, audience, claim mapping), and the actor token (upgrade or delegation). The worker
//! layer fetches keys and verifies signatures through WebCrypto.

pub mod actor;
pub mod grant;
pub mod policy;
pub mod request;
pub mod subject_token;
pub mod upstream_jwks;
