//! Tests of the JOSE core, one file per module, plus RFC vectors and a full round trip.

mod algorithm;
mod base64url;
mod claims;
mod ed25519;
mod header;
mod jwk;
mod jws;
mod round_trip;
mod strict_json;
mod support;
