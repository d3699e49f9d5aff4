//! Native micro-benchmark of the pure core's Ed25519 JWS signing and verification, the way the
//! worker does them: access-token claims (`SessionView::access_claims`) → `serde_json` → signing
//! input under the `at+jwt` header → Ed25519 → compact JWS (as `worker::sessions::sign`, except
//! that the worker signs through WebCrypto and this signs with the core's `ed25519-compact`
//! signer); and back: `jws::parse` (header validation) → JWKS key → `verify_ed25519` →
//! `decode_claims` → `claims::validate`.
//!
//! `cargo bench --bench jose [filter]` prints a markdown table: per case, a warm-up, then 5
//! samples of a fixed number of iterations (sized from the warm-up so a case runs about 1 s),
//! and the median, min and max ns/op of the samples. No harness, no dependencies beyond the
//! crate's own. Native numbers: the same code compiled to WebAssembly in workerd is slower. The
//! worker verifies tokens with this very code (`introspection::vouch`, `exchange::actor`), but it
//! signs through WebCrypto, so case (a) is the core's signer, not what production signing costs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use token_exchange::ids::SessionIds;
use token_exchange::introspection;
use token_exchange::jose::base64url;
use token_exchange::jose::claims::{decode_claims, validate, Claims, ValidationOptions};
use token_exchange::jose::ed25519::{Ed25519SigningKey, Ed25519VerifyingKey};
use token_exchange::jose::header::encode_ed25519_header;
use token_exchange::jose::jwk::{Jwks, OkpJwk};
use token_exchange::jose::jws::{self, ParseOptions};
use token_exchange::jose::strict_json;
use token_exchange::org::{DEFAULT_ACCESS_TOKEN_TTL_SECS, DEFAULT_SCOPE};
use token_exchange::session::SessionView;

/// Samples per case; the median is reported.
const SAMPLES: u32 = 5;
/// Warm-up per case, which also sizes the samples.
const WARM_UP: Duration = Duration::from_millis(100);
/// One sample's target duration: `SAMPLES` of them make about 1 s per case.
const SAMPLE_TARGET: Duration = Duration::from_millis(200);

/// A fixed, public benchmark seed (not a secret of any deployment).
const SEED: [u8; 32] = [7; 32];
const ISSUER: &str = "https://auth.example.com/orgs/acme";
/// 2027-01-15T08:00:00Z: any time within the token's life.
const NOW: u64 = 1_800_000_000;
/// The worker's leeway on its own tokens (`exchange::actor`).
const LEEWAY_SECS: u64 = 5;

/// An anonymous session's first access token and everything needed to make and check it.
struct Fixture {
    key: Ed25519SigningKey,
    verifying_key: Ed25519VerifyingKey,
    jwks: Jwks,
    /// base64url of `{"alg":"EdDSA","typ":"at+jwt","kid":<thumbprint>}`, as the org cache keeps it.
    encoded_header: String,
    audiences: Vec<String>,
    ids: SessionIds,
    /// The compact JWS.
    token: String,
    /// `<header>.<payload>` of `token`.
    signing_input: String,
    signature: [u8; 64],
    /// The base64url payload segment of `token`.
    payload_segment: String,
}

impl Fixture {
    fn new() -> Self {
        let key = Ed25519SigningKey::from_seed(&SEED).expect("benchmark seed");
        let jwk = OkpJwk::from_public_key(&key.public_key());
        let encoded_header = encode_ed25519_header(jwk.kid(), "at+jwt");
        let ids = SessionIds::from_random(&std::array::from_fn(|i| i as u8 * 5 + 1));
        let mut fixture = Fixture {
            verifying_key: key.verifying_key(),
            key,
            jwks: Jwks { keys: vec![jwk] },
            encoded_header,
            audiences: vec![ISSUER.to_owned()],
            ids,
            token: String::new(),
            signing_input: String::new(),
            signature: [0; 64],
            payload_segment: String::new(),
        };
        fixture.token = fixture.sign_claims();
        let (input, signature) = fixture.token.rsplit_once('.').expect("three segments");
        fixture.signing_input = input.to_owned();
        fixture.signature = base64url::decode(signature)
            .expect("base64url signature")
            .try_into()
            .expect("64-byte signature");
        fixture.payload_segment = input.split_once('.').expect("two segments").1.to_owned();
        fixture
    }

    /// An anonymous session's view, as `worker::sessions` builds it.
    fn view(&self) -> SessionView<'_> {
        SessionView {
            issuer: ISSUER,
            audiences: &self.audiences,
            subject: &self.ids.subject,
            session_id: &self.ids.session_id,
            scope: DEFAULT_SCOPE,
            device_id: Some("tab-1"),
            exchanged: None,
        }
    }

    /// Claims → signing input (serialize, base64url), as the worker prepares it.
    fn signing_input(&self) -> String {
        let view = self.view();
        let claims = view.access_claims(
            &self.ids.jti,
            NOW - 60,
            DEFAULT_ACCESS_TOKEN_TTL_SECS,
            NOW + 86_400,
        );
        let payload = serde_json::to_vec(&claims).expect("claims serialize");
        jws::signing_input(&self.encoded_header, &payload)
    }

    /// Claims → compact JWS, step by step as `worker::sessions::sign`.
    fn sign_claims(&self) -> String {
        let input = self.signing_input();
        let signature = self.key.sign(input.as_bytes());
        jws::assemble(&input, &signature)
    }

    /// Compact JWS → validated claims: the pure core's verification path for our own tokens.
    fn verify_token(&self, token: &str) -> Claims {
        let parsed = jws::parse(
            token,
            &ParseOptions::eddsa_only().with_expected_typ("at+jwt"),
        )
        .expect("parse");
        let key = self
            .jwks
            .verifying_key(&parsed.header().kid)
            .expect("known kid");
        jws::verify_ed25519(&parsed, &key).expect("signature");
        let claims = decode_claims(&parsed).expect("claims");
        let opts = ValidationOptions {
            leeway_secs: LEEWAY_SECS,
            ..ValidationOptions::new(NOW, ISSUER, ISSUER)
        };
        validate(&claims, &opts).expect("valid claims");
        claims
    }
}

/// One case's result, in ns/op.
struct Row {
    name: &'static str,
    median: f64,
    min: f64,
    max: f64,
}

/// The cases run so far, and which ones to run.
struct Bench {
    /// Substrings of the case names to run; all when empty.
    filters: Vec<String>,
    rows: Vec<Row>,
}

impl Bench {
    /// Runs `op` as the case `name` (unless filtered out): a warm-up of [`WARM_UP`] that sizes
    /// a sample, then [`SAMPLES`] samples of that many iterations.
    fn case<R>(&mut self, name: &'static str, mut op: impl FnMut() -> R) {
        if !self.filters.is_empty() && !self.filters.iter().any(|f| name.contains(f.as_str())) {
            return;
        }
        let start = Instant::now();
        let mut warm_iters: u64 = 0;
        while start.elapsed() < WARM_UP {
            black_box(op());
            warm_iters += 1;
        }
        let per_op_ns = start.elapsed().as_nanos() as f64 / warm_iters as f64;
        let iters = ((SAMPLE_TARGET.as_nanos() as f64 / per_op_ns) as u64).max(1);

        let mut samples: Vec<f64> = (0..SAMPLES)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(op());
                }
                start.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect();
        samples.sort_by(f64::total_cmp);
        eprintln!("[jose bench] {name}: {SAMPLES} samples × {iters} iterations");
        self.rows.push(Row {
            name,
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        });
    }

    /// The markdown table.
    fn print(&self) {
        println!("| case | ns/op median | min | max | ops/s |");
        println!("|---|---:|---:|---:|---:|");
        for row in &self.rows {
            println!(
                "| {} | {} | {} | {} | {} |",
                row.name,
                format_ns(row.median),
                format_ns(row.min),
                format_ns(row.max),
                group_thousands((1e9 / row.median).round() as u64),
            );
        }
    }
}

fn format_ns(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.1}")
    } else {
        group_thousands(ns.round() as u64)
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument selects cases by substring.
    let filters = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let mut bench = Bench {
        filters,
        rows: Vec::new(),
    };

    let fx = Fixture::new();
    // The fixture is what the worker makes and accepts.
    let claims = fx.verify_token(&fx.token);
    assert_eq!(claims.sub, fx.ids.subject);
    assert_eq!(claims.scope.as_deref(), Some(DEFAULT_SCOPE));
    assert_eq!(
        fx.sign_claims(),
        fx.token,
        "Ed25519 signing is deterministic"
    );
    assert!(introspection::vouch(&fx.token, &fx.jwks, &[], ISSUER, NOW).is_some());
    let payload_json = base64url::decode(&fx.payload_segment).expect("payload");
    eprintln!(
        "[jose bench] token {} bytes, signing input {} bytes, payload {} bytes: {}",
        fx.token.len(),
        fx.signing_input.len(),
        payload_json.len(),
        String::from_utf8_lossy(&payload_json)
    );

    bench.case(
        "(a) Ed25519 sign of the signing input (ed25519-compact)",
        || fx.key.sign(black_box(fx.signing_input.as_bytes())),
    );
    bench.case(
        "(b) claims → compact JWS (serialize, base64url, sign, assemble)",
        || black_box(&fx).sign_claims(),
    );
    bench.case(
        "(b′) claims → signing input only (serialize, base64url)",
        || black_box(&fx).signing_input(),
    );
    bench.case(
        "(c) verify compact JWS (parse, header, JWKS key, signature, claims)",
        || fx.verify_token(black_box(&fx.token)),
    );
    bench.case(
        "(c′) Ed25519 verify of the signature only (key prepared)",
        || {
            fx.verifying_key
                .verify(black_box(fx.signing_input.as_bytes()), &fx.signature)
                .expect("signature")
        },
    );
    bench.case("(c″) jws::parse only (no signature check)", || {
        jws::parse(black_box(&fx.token), &ParseOptions::eddsa_only()).expect("parse")
    });
    bench.case(
        "(c‴) introspection::vouch (the introspection endpoint's check)",
        || introspection::vouch(black_box(&fx.token), &fx.jwks, &[], ISSUER, NOW),
    );
    bench.case("(d) payload: base64url decode + strict JSON parse", || {
        let bytes = base64url::decode(black_box(&fx.payload_segment)).expect("base64url");
        strict_json::parse_object(&bytes).expect("json")
    });
    bench.case(
        "(d′) payload: base64url decode + serde_json::from_slice (not strict)",
        || {
            let bytes = base64url::decode(black_box(&fx.payload_segment)).expect("base64url");
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
                .expect("json")
        },
    );

    bench.print();
}
