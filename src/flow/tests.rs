//! The flows driven natively: a fake driver performs each effect from a script, records what was
//! asked, and the tests check the effects in order and the reply.

use std::rc::Rc;

use super::*;
use crate::body::MAX_BODY_BYTES;
use crate::jose::base64url;
use crate::jose::ed25519::Ed25519SigningKey;
use crate::jose::jwk::thumbprint;
use crate::org::{OrgRecord, OrgSettings};
use crate::signing_key::{KeyStatus, SealedSeed, SigningKeyRecord};

pub const NOW_MS: u64 = 1_790_000_000_000;
const SEED: [u8; 32] = [7; 32];

pub fn signing_record(org: &OrgId) -> SigningKeyRecord {
    let pk = Ed25519SigningKey::from_seed(&SEED).unwrap().public_key();
    SigningKeyRecord {
        kid: thumbprint(&pk),
        org: org.clone(),
        public_key: base64url::encode(&pk),
        sealed_seed: SealedSeed {
            master_key_id: "m".into(),
            iv: "i".into(),
            ciphertext: "c".into(),
        },
        status: KeyStatus::Active,
        created_at: NOW_MS / 1000 - 86_400,
        created_at_ms: NOW_MS - 86_400_000,
        retired_at: None,
    }
}

/// An org `acme` with `settings` (JSON merged over the defaults) and one active signing key.
pub fn org_with(settings: serde_json::Value) -> Rc<OrgState> {
    let id = OrgId::parse("acme").unwrap();
    let mut base = serde_json::to_value(OrgSettings::default()).unwrap();
    for (k, v) in settings.as_object().unwrap() {
        base[k] = v.clone();
    }
    let record = OrgRecord {
        id: id.clone(),
        settings: serde_json::from_value(base).unwrap(),
        created_at: 1,
        updated_at: 1,
    };
    Rc::new(OrgState::new(
        record,
        &[signing_record(&id)],
        vec![],
        vec![],
        NOW_MS / 1000,
    ))
}

pub fn request(method: &str, path: &str) -> Request {
    Request {
        method: method.into(),
        path: path.into(),
        issuer_origin: "https://auth.example".into(),
        now_ms: NOW_MS,
        random: vec![3; 128],
        ..Request::default()
    }
}

/// What the fake driver answers to each effect.
pub struct Fake {
    pub org: Result<Rc<OrgState>, ApiError>,
    pub body: Option<Vec<u8>>,
    pub limit: Option<bool>,
    pub admission: Result<Option<Admission>, ApiError>,
    pub sign: bool,
    /// What opening the presented refresh token gives.
    pub opened: Option<Vec<u8>>,
    /// The shard's answer to a refresh.
    pub shard: Option<String>,
    /// The shard's answer to a check.
    pub check: Option<String>,
    /// What an identity provider's key gives, and whether signatures verify.
    pub upstream_key: Result<(), ApiError>,
    pub verified: Option<bool>,
    /// Who the caller is.
    pub caller: Result<crate::principal::Principal, ApiError>,
    /// The shard's answer to a revocation.
    pub revoke: Option<String>,
    pub seen: Vec<Effect>,
}

impl Fake {
    pub fn new(org: Rc<OrgState>) -> Self {
        Self {
            org: Ok(org),
            body: Some(Vec::new()),
            limit: Some(true),
            admission: Ok(Some(admission(9))),
            sign: true,
            opened: None,
            shard: Some(serde_json::to_string(&crate::family::Decision::Rotate).unwrap()),
            check: Some(r#"{"active":true}"#.into()),
            upstream_key: Ok(()),
            verified: Some(true),
            caller: Ok(crate::principal::Principal::Operator),
            revoke: Some("{}".into()),
            seen: Vec::new(),
        }
    }

    fn perform(&mut self, effect: &Effect) -> Outcome {
        self.seen.push(effect.clone());
        match effect {
            Effect::LoadOrg(_) => Outcome::Org(self.org.clone()),
            Effect::ReadBody { .. } => Outcome::Body(self.body.clone()),
            Effect::Limit { .. } => Outcome::Limit(self.limit),
            Effect::Admit { .. } => Outcome::Admission(self.admission.clone()),
            Effect::SignAndSeal { input, .. } => Outcome::SignedAndSealed(self.sign.then(|| {
                let key = Ed25519SigningKey::from_seed(&SEED).unwrap();
                (key.sign(input.as_bytes()), vec![1, 2, 3])
            })),
            Effect::Open { .. } => Outcome::Opened(self.opened.clone()),
            Effect::Seal { plaintext, .. } => {
                Outcome::Sealed(self.sign.then(|| plaintext.iter().rev().copied().collect()))
            }
            Effect::Sign { input } => Outcome::Signed(self.sign.then(|| {
                Ed25519SigningKey::from_seed(&SEED)
                    .unwrap()
                    .sign(input.as_bytes())
            })),
            Effect::ShardCall { op: "check", .. } => Outcome::Shard(self.check.clone()),
            Effect::ShardCall { op: "revoke", .. } => Outcome::Shard(self.revoke.clone()),
            Effect::Authenticate { .. } => Outcome::Caller(self.caller.clone()),
            Effect::ShardCall { .. } => Outcome::Shard(self.shard.clone()),
            Effect::UpstreamKey { .. } => Outcome::KeyReady(self.upstream_key.clone()),
            Effect::Verify { .. } | Effect::VerifyOwn { .. } => Outcome::Verified(self.verified),
            Effect::Refund | Effect::Flush => Outcome::Done,
        }
    }

    /// Runs `request` through its flow; the reply, with the effects asked in `self.seen`.
    pub fn run(&mut self, request: Request) -> Reply {
        self.run_overriding(request, |_| None)
    }

    /// [`Fake::run`], with `answer` giving the outcome of the effects it chooses to answer
    /// itself (`None`: the fake performs it).
    pub fn run_overriding(
        &mut self,
        request: Request,
        mut answer: impl FnMut(&Effect) -> Option<Outcome>,
    ) -> Reply {
        let route = Public::route(&request.method, &request.path).expect("a flow serves it");
        let (mut flow, mut step) = Public::begin(request, &route);
        for _ in 0..20 {
            match step {
                Step::Done(reply) => return reply,
                Step::Need(effect) => {
                    let outcome = match answer(&effect) {
                        Some(outcome) => {
                            self.seen.push(effect);
                            outcome
                        }
                        None => self.perform(&effect),
                    };
                    step = flow.resume(outcome);
                }
            }
        }
        panic!("the flow did not end")
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        self.seen
            .iter()
            .map(|e| match e {
                Effect::LoadOrg(_) => "org",
                Effect::ReadBody { .. } => "body",
                Effect::Limit { .. } => "limit",
                Effect::Admit { .. } => "admit",
                Effect::Refund => "refund",
                Effect::SignAndSeal { .. } => "sign",
                Effect::Flush => "flush",
                Effect::Open { .. } => "open",
                Effect::Seal { .. } => "seal",
                Effect::Sign { .. } => "sign",
                Effect::ShardCall { .. } => "shard",
                Effect::UpstreamKey { .. } => "key",
                Effect::Verify { .. } => "verify",
                Effect::VerifyOwn { .. } => "verify_own",
                Effect::Authenticate { .. } => "caller",
            })
            .collect()
    }
}

pub fn admission(remaining: u64) -> Admission {
    Admission {
        allowed: true,
        limit: 10,
        remaining,
        reset: 2_000_000_000,
    }
}

pub fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_ref())
}

pub fn body_json(reply: &Reply) -> serde_json::Value {
    serde_json::from_str(reply.body.as_deref().expect("a body")).unwrap()
}

const ANON: &str = "/orgs/acme/sessions/anonymous";

fn anonymous(origin: Option<&str>) -> Request {
    Request {
        origin: origin.map(str::to_owned),
        content_type: Some("application/x-www-form-urlencoded".into()),
        ..request("POST", ANON)
    }
}

#[test]
fn routes_only_what_a_flow_serves() {
    for (method, path) in [
        ("POST", ANON),
        ("GET", "/orgs/acme/.well-known/jwks.json"),
        ("GET", "/orgs/acme/.well-known/openid-configuration"),
        ("GET", "/.well-known/oauth-authorization-server/orgs/acme"),
        ("POST", "/orgs/acme/introspect"),
        ("POST", "/orgs/acme/revoke"),
        ("OPTIONS", ANON),
    ] {
        assert!(Public::route(method, path).is_some(), "{method} {path}");
    }
    assert!(Public::route("POST", "/orgs/acme/token").is_some());
    for (method, path) in [
        ("GET", ANON),
        ("GET", "/admin/v1/orgs/acme"),
        ("GET", "/healthz"),
        ("GET", "/nowhere"),
    ] {
        assert!(Public::route(method, path).is_none(), "{method} {path}");
    }
}

#[test]
fn each_flow_reads_only_the_headers_it_uses() {
    let reads = |method: &str, path: &str| {
        let route = Public::route(method, path).unwrap();
        [
            Header::Origin,
            Header::ContentType,
            Header::ContentLength,
            Header::ClientIp,
            Header::Authorization,
        ]
        .into_iter()
        .filter(|h| route.reads(*h))
        .map(Header::name)
        .collect::<Vec<_>>()
    };
    assert!(reads("GET", "/orgs/acme/.well-known/jwks.json").is_empty());
    assert_eq!(reads("OPTIONS", ANON), ["origin"]);
    assert_eq!(
        reads("POST", ANON),
        [
            "origin",
            "content-type",
            "content-length",
            "cf-connecting-ip"
        ]
    );
    assert_eq!(
        reads("POST", "/orgs/acme/token"),
        ["origin", "content-type", "content-length"]
    );
    assert_eq!(
        reads("POST", "/orgs/acme/introspect"),
        ["origin", "content-type", "content-length", "authorization"]
    );
}

#[test]
fn an_anonymous_session_is_limited_counted_signed_and_flushed() {
    let org = org_with(serde_json::json!({ "allowed_origins": ["https://app.example"] }));
    let mut fake = Fake::new(org);
    fake.body = Some(b"device_id=laptop-1".to_vec());
    let reply = fake.run(anonymous(Some("https://app.example")));
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        fake.kinds(),
        ["org", "body", "limit", "admit", "sign", "flush"]
    );
    assert_eq!(
        fake.seen[2],
        Effect::Limit {
            binding: "ANON_RATE_STANDARD",
            key: "acme:unknown".into()
        }
    );
    let body = body_json(&reply);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "session");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("rt1."));
    let token = body["access_token"].as_str().unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64url::decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!(claims["iss"], "https://auth.example/orgs/acme");
    assert_eq!(claims["device_id"], "laptop-1");
    assert_eq!(claims["iat"], NOW_MS / 1000);
    assert_eq!(
        header(&reply, "Access-Control-Allow-Origin"),
        Some("https://app.example")
    );
    assert_eq!(header(&reply, "X-RateLimit-Remaining"), Some("9"));
    assert_eq!(header(&reply, "Cache-Control"), Some("no-store"));
}

#[test]
fn an_unlimited_org_without_a_rate_limit_only_signs() {
    let org = org_with(serde_json::json!({ "tier": "enterprise", "anonymous_rate_limit": "off" }));
    let mut fake = Fake::new(org);
    let reply = fake.run(anonymous(None));
    assert_eq!(reply.status, 200);
    assert_eq!(fake.kinds(), ["org", "body", "sign"]);
    assert_eq!(header(&reply, "X-RateLimit-Limit"), None);
    assert_eq!(header(&reply, "Access-Control-Allow-Origin"), None);
}

#[test]
fn a_refused_address_is_not_counted() {
    let mut fake = Fake::new(org_with(
        serde_json::json!({ "anonymous_rate_limit": "strict" }),
    ));
    fake.limit = Some(false);
    let reply = fake.run(anonymous(None));
    assert_eq!((reply.status, reply.outcome), (429, "rate_limit_exceeded"));
    assert_eq!(header(&reply, "Retry-After"), Some("60"));
    assert!(body_json(&reply)["message"]
        .as_str()
        .unwrap()
        .contains("10 per minute"));
    assert_eq!(fake.kinds(), ["org", "body", "limit"]);
}

#[test]
fn a_failed_limiter_is_a_server_error() {
    let mut fake = Fake::new(org_with(serde_json::json!({})));
    fake.limit = None;
    assert_eq!(fake.run(anonymous(None)).status, 500);
    assert_eq!(fake.kinds(), ["org", "body", "limit"]);
}

#[test]
fn a_used_up_quota_answers_429() {
    let mut fake = Fake::new(org_with(serde_json::json!({})));
    fake.admission = Err(ApiError::RateLimited {
        retry_after: 5,
        message: "used up".into(),
    });
    let reply = fake.run(anonymous(None));
    assert_eq!(reply.status, 429);
    assert_eq!(header(&reply, "Retry-After"), Some("5"));
    assert_eq!(fake.kinds(), ["org", "body", "limit", "admit"]);
}

#[test]
fn a_failed_signature_refunds_its_admission_once() {
    let mut fake = Fake::new(org_with(serde_json::json!({})));
    fake.sign = false;
    let reply = fake.run(anonymous(None));
    assert_eq!((reply.status, reply.outcome), (500, "server_error"));
    assert_eq!(
        fake.kinds(),
        ["org", "body", "limit", "admit", "sign", "refund"]
    );
}

#[test]
fn an_org_without_a_signing_key_refunds_and_says_so() {
    let id = OrgId::parse("acme").unwrap();
    let record = OrgRecord {
        id,
        settings: OrgSettings::default(),
        created_at: 1,
        updated_at: 1,
    };
    let org = Rc::new(OrgState::new(record, &[], vec![], vec![], NOW_MS / 1000));
    let mut fake = Fake::new(org);
    let reply = fake.run(anonymous(None));
    assert_eq!(reply.status, 503);
    assert!(body_json(&reply)["error_description"]
        .as_str()
        .unwrap()
        .contains("no active signing key"));
    assert_eq!(fake.kinds(), ["org", "body", "limit", "admit", "refund"]);
}

#[test]
fn a_foreign_origin_is_refused_before_the_body_is_read() {
    let mut fake = Fake::new(org_with(serde_json::json!({})));
    let reply = fake.run(anonymous(Some("https://evil.example")));
    assert_eq!((reply.status, reply.outcome), (403, "access_denied"));
    assert_eq!(header(&reply, "Access-Control-Allow-Origin"), None);
    assert_eq!(fake.kinds(), ["org"]);
}

#[test]
fn an_unknown_org_is_404() {
    let mut fake = Fake::new(org_with(serde_json::json!({})));
    fake.org = Err(ApiError::NotFound);
    assert_eq!(fake.run(anonymous(None)).status, 404);
    assert_eq!(fake.kinds(), ["org"]);
}

#[test]
fn bodies_too_large_unreadable_or_malformed() {
    let org = org_with(serde_json::json!({}));
    let mut fake = Fake::new(org.clone());
    let declared = Request {
        content_length: Some("999999".into()),
        ..anonymous(None)
    };
    assert_eq!(fake.run(declared).status, 413);
    assert_eq!(fake.kinds(), ["org"]);

    let mut fake = Fake::new(org.clone());
    fake.body = Some(vec![b'a'; MAX_BODY_BYTES + 1]);
    assert_eq!(fake.run(anonymous(None)).status, 413);

    let mut fake = Fake::new(org.clone());
    fake.body = None;
    let reply = fake.run(anonymous(None));
    assert_eq!(reply.status, 400);
    assert!(body_json(&reply)["error_description"]
        .as_str()
        .unwrap()
        .contains("could not read"));

    let mut fake = Fake::new(org.clone());
    fake.body = Some(b"device_id=a&device_id=b".to_vec());
    assert_eq!(fake.run(anonymous(None)).status, 400);

    let mut fake = Fake::new(org);
    fake.body = Some(b"x".to_vec());
    let reply = fake.run(Request {
        content_type: Some("text/plain".into()),
        ..anonymous(None)
    });
    assert_eq!(reply.status, 415);
}

#[test]
fn a_declared_empty_body_is_not_read() {
    let mut fake = Fake::new(org_with(serde_json::json!({ "tier": "enterprise" })));
    let reply = fake.run(Request {
        content_length: Some("0".into()),
        ..anonymous(None)
    });
    assert_eq!(reply.status, 200);
    assert_eq!(fake.kinds(), ["org", "limit", "sign"]);
    let mut fake = Fake::new(org_with(serde_json::json!({ "tier": "enterprise" })));
    fake.run(Request {
        content_length: Some("12".into()),
        ..anonymous(None)
    });
    assert_eq!(
        fake.seen[1],
        Effect::ReadBody {
            limit: MAX_BODY_BYTES,
            declared: true
        }
    );
}

#[test]
fn the_orgs_rules_come_before_any_limit() {
    let mut fake = Fake::new(org_with(serde_json::json!({ "anonymous_sessions": false })));
    assert_eq!(fake.run(anonymous(None)).status, 403);
    assert_eq!(fake.kinds(), ["org", "body"]);

    let mut fake = Fake::new(org_with(serde_json::json!({})));
    fake.body = Some(b"device_id=no%20spaces".to_vec());
    assert_eq!(fake.run(anonymous(None)).status, 400);
    assert_eq!(fake.kinds(), ["org", "body"]);
}

#[test]
fn an_outcome_the_flow_did_not_ask_for_is_a_server_error() {
    let route = Public::route("POST", ANON).unwrap();
    let (mut flow, _) = Public::begin(anonymous(None), &route);
    match flow.resume(Outcome::Limit(Some(true))) {
        Step::Done(reply) => assert_eq!(reply.status, 500),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_documents_are_public_and_cacheable() {
    let org = org_with(serde_json::json!({ "anonymous_scope": "session read" }));
    let mut fake = Fake::new(org.clone());
    let jwks = fake.run(request("GET", "/orgs/acme/.well-known/jwks.json"));
    assert_eq!(jwks.status, 200);
    assert_eq!(fake.kinds(), ["org"]);
    assert_eq!(
        body_json(&jwks)["keys"][0]["kid"],
        org.signing.as_ref().unwrap().kid
    );
    assert_eq!(header(&jwks, "Access-Control-Allow-Origin"), Some("*"));
    assert!(header(&jwks, "Cache-Control")
        .unwrap()
        .starts_with("public, max-age="));

    let mut fake = Fake::new(org);
    let meta = fake.run(request(
        "GET",
        "/.well-known/oauth-authorization-server/orgs/acme",
    ));
    let body = body_json(&meta);
    assert_eq!(body["issuer"], "https://auth.example/orgs/acme");
    assert_eq!(
        body["token_endpoint"],
        "https://auth.example/orgs/acme/token"
    );
    assert_eq!(
        body["scopes_supported"],
        serde_json::json!(["session", "read"])
    );

    let mut fake = Fake::new(org_with(serde_json::json!({})));
    fake.org = Err(ApiError::NotFound);
    let missing = fake.run(request("GET", "/orgs/acme/.well-known/jwks.json"));
    assert_eq!(missing.status, 404);
    assert_eq!(header(&missing, "Access-Control-Allow-Origin"), Some("*"));
}

mod token {
    use super::*;
    use crate::family::Decision;
    use crate::refresh_token;

    const TOKEN: &str = "/orgs/acme/token";

    /// A session of `acme` that began an hour ago, as its refresh token's plaintext.
    fn session() -> Vec<u8> {
        session_plaintext("sid_1", "anon_1", NOW_MS / 1000 - 3600)
    }

    fn refresh(body: &str) -> (Fake, Reply) {
        refresh_with(org_with(serde_json::json!({})), body, |_| {})
    }

    fn refresh_with(org: Rc<OrgState>, body: &str, setup: impl FnOnce(&mut Fake)) -> (Fake, Reply) {
        let mut fake = Fake::new(org);
        fake.body = Some(body.as_bytes().to_vec());
        fake.opened = Some(session());
        setup(&mut fake);
        let reply = fake.run(Request {
            content_type: Some("application/x-www-form-urlencoded".into()),
            ..request("POST", TOKEN)
        });
        (fake, reply)
    }

    fn presented() -> String {
        format!(
            "grant_type=refresh_token&refresh_token={}",
            refresh_token::encode(&[1; 12], &[9; 40])
        )
    }

    #[test]
    fn a_refresh_opens_checks_counts_seals_calls_the_shard_and_signs() {
        let (fake, reply) = refresh(&presented());
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            fake.kinds(),
            ["org", "body", "open", "admit", "seal", "shard", "sign", "flush"]
        );
        let Effect::ShardCall { shard, op, body } = &fake.seen[5] else {
            panic!("{:?}", fake.seen[5]);
        };
        assert_eq!(*op, "refresh");
        assert!(shard.starts_with("acme"), "{shard}");
        let call: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(call["sub"], "anon_1");
        assert_eq!(call["generation"], 0, "the presented generation");
        let body = body_json(&reply);
        assert_eq!(body["subject"], "anon_1");
        assert_eq!(body["session_id"], "sid_1");
        // The rotated child is the candidate the flow sealed (the fake seals by reversing).
        assert!(body["refresh_token"].as_str().unwrap().starts_with("rt1."));
        assert_eq!(header(&reply, "X-RateLimit-Remaining"), Some("9"));
    }

    #[test]
    fn a_recent_parent_gets_the_same_child() {
        let (_, reply) = refresh_with(org_with(serde_json::json!({})), &presented(), |f| {
            f.shard = Some(
                serde_json::to_string(&Decision::SameChild {
                    child: "rt1.the-child".into(),
                })
                .unwrap(),
            );
        });
        assert_eq!(body_json(&reply)["refresh_token"], "rt1.the-child");
    }

    #[test]
    fn reuse_and_revocation_are_refused_and_not_counted() {
        for (decision, words) in [
            (Decision::Reuse, "already used"),
            (Decision::Revoked, "has been revoked"),
        ] {
            let answer = serde_json::to_string(&decision).unwrap();
            let (fake, reply) = refresh_with(org_with(serde_json::json!({})), &presented(), |f| {
                f.shard = Some(answer)
            });
            assert_eq!((reply.status, reply.outcome), (400, "invalid_grant"));
            assert!(body_json(&reply)["error_description"]
                .as_str()
                .unwrap()
                .contains(words));
            assert_eq!(
                fake.kinds(),
                ["org", "body", "open", "admit", "seal", "shard", "refund"]
            );
        }
    }

    #[test]
    fn an_unreachable_shard_is_503_and_not_counted() {
        let (fake, reply) = refresh_with(org_with(serde_json::json!({})), &presented(), |f| {
            f.shard = None
        });
        assert_eq!(reply.status, 503);
        assert_eq!(fake.kinds().last(), Some(&"refund"));
    }

    #[test]
    fn a_token_no_key_opens_is_invalid_and_never_counted() {
        let (fake, reply) = refresh_with(org_with(serde_json::json!({})), &presented(), |f| {
            f.opened = None
        });
        assert_eq!((reply.status, reply.outcome), (400, "invalid_grant"));
        assert_eq!(fake.kinds(), ["org", "body", "open"]);
    }

    #[test]
    fn malformed_requests_never_reach_a_key() {
        for (body, status, code) in [
            ("", 400, "invalid_request"),
            ("grant_type=password", 400, "unsupported_grant_type"),
            ("grant_type=refresh_token", 400, "invalid_request"),
            (
                "grant_type=refresh_token&refresh_token=nope",
                400,
                "invalid_grant",
            ),
        ] {
            let (fake, reply) = refresh(body);
            assert_eq!((reply.status, reply.outcome), (status, code), "{body}");
            assert_eq!(fake.kinds(), ["org", "body"], "{body}");
        }
    }

    #[test]
    fn more_scope_than_the_session_holds_is_invalid_scope() {
        let body = format!("{}&scope=session%20admin", presented());
        let (fake, reply) = refresh(&body);
        assert_eq!((reply.status, reply.outcome), (400, "invalid_scope"));
        assert_eq!(fake.kinds(), ["org", "body", "open"]);
    }

    #[test]
    fn a_failed_signature_after_the_shard_refunds() {
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.body = Some(presented().into_bytes());
        fake.opened = Some(session());
        // Seal works, the signature fails: sealing and signing share the fake's switch, so
        // only the signature is answered here.
        let reply = fake.run_overriding(
            Request {
                content_type: Some("application/x-www-form-urlencoded".into()),
                ..request("POST", TOKEN)
            },
            |effect| matches!(effect, Effect::Sign { .. }).then_some(Outcome::Signed(None)),
        );
        assert_eq!(reply.status, 500);
        assert_eq!(fake.kinds().last(), Some(&"refund"));
    }

    #[test]
    fn a_foreign_origin_is_refused_before_the_body_is_read() {
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        let reply = fake.run(Request {
            origin: Some("https://evil.example".into()),
            ..request("POST", TOKEN)
        });
        assert_eq!(reply.status, 403);
        assert_eq!(fake.kinds(), ["org"]);
    }
}

mod exchange {
    use super::*;
    use crate::provider::{ProviderRecord, ProviderSettings};

    const TOKEN: &str = "/orgs/acme/token";
    const NOW: u64 = NOW_MS / 1000;

    fn provider() -> ProviderRecord {
        ProviderRecord {
            id: "idp".into(),
            settings: ProviderSettings {
                issuer: "https://idp.test".into(),
                jwks_uri: Some("https://idp.test/jwks".into()),
                jwks: None,
                algorithms: vec!["EdDSA".into()],
                audiences: vec!["client-1".into()],
                leeway_secs: 30,
                max_token_age_secs: None,
                claim_mapping: [("email".to_owned(), "email".to_owned())].into(),
                subject_prefix: "idp|".into(),
                allowed_scopes: vec!["orders:read".into(), "orders:write".into()],
                default_scopes: vec!["orders:read".into()],
                allowed_audiences: vec![],
            },
            sealed_hs256_secret: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    fn org() -> Rc<OrgState> {
        let base = org_with(serde_json::json!({}));
        let id = base.record.id.clone();
        Rc::new(OrgState::new(
            base.record.clone(),
            &[signing_record(&id)],
            vec![],
            vec![provider()],
            NOW,
        ))
    }

    /// A token of the provider's shape (the fake verifies any signature as told).
    fn subject(claims: serde_json::Value) -> String {
        let header = base64url::encode(br#"{"alg":"EdDSA","kid":"k1"}"#);
        let payload = base64url::encode(claims.to_string().as_bytes());
        format!("{header}.{payload}.{}", base64url::encode(&[7; 64]))
    }

    fn good_subject() -> String {
        subject(serde_json::json!({
            "iss": "https://idp.test", "aud": "client-1", "sub": "u1",
            "email": "u1@idp.test", "iat": NOW - 10, "exp": NOW + 300,
        }))
    }

    fn form(subject_token: &str, extra: &str) -> String {
        format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange\
             &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt\
             &subject_token={subject_token}{extra}"
        )
    }

    fn exchange(body: &str, setup: impl FnOnce(&mut Fake)) -> (Fake, Reply) {
        let mut fake = Fake::new(org());
        fake.body = Some(body.as_bytes().to_vec());
        setup(&mut fake);
        let reply = fake.run(Request {
            content_type: Some("application/x-www-form-urlencoded".into()),
            ..request("POST", TOKEN)
        });
        (fake, reply)
    }

    fn claims_of(reply: &Reply) -> serde_json::Value {
        let token = body_json(reply)["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        serde_json::from_slice(&base64url::decode(token.split('.').nth(1).unwrap()).unwrap())
            .unwrap()
    }

    #[test]
    fn an_exchange_verifies_maps_counts_and_issues() {
        let (fake, reply) = exchange(&form(&good_subject(), ""), |_| {});
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            fake.kinds(),
            ["org", "body", "key", "verify", "admit", "sign", "flush"]
        );
        assert_eq!(
            fake.seen[2],
            Effect::UpstreamKey {
                provider: "idp".into(),
                alg: Algorithm::EdDSA,
                kid: "k1".into()
            }
        );
        let body = body_json(&reply);
        assert_eq!(
            body["issued_token_type"],
            "urn:ietf:params:oauth:token-type:access_token"
        );
        assert_eq!(body["subject"], "idp|u1");
        assert_eq!(body["scope"], "orders:read");
        let claims = claims_of(&reply);
        assert_eq!(claims["email"], "u1@idp.test");
        assert_eq!(claims["sub"], "idp|u1");
    }

    #[test]
    fn a_bad_signature_is_refused_and_never_counted() {
        let (fake, reply) = exchange(&form(&good_subject(), ""), |f| f.verified = Some(false));
        assert_eq!((reply.status, reply.outcome), (400, "invalid_request"));
        assert!(body_json(&reply)["error_description"]
            .as_str()
            .unwrap()
            .contains("signature"));
        assert_eq!(fake.kinds(), ["org", "body", "key", "verify"]);
    }

    #[test]
    fn unavailable_keys_are_answered_as_the_driver_says() {
        let (fake, reply) = exchange(&form(&good_subject(), ""), |f| {
            f.upstream_key = Err(ApiError::Unavailable("keys unavailable".into()))
        });
        assert_eq!(reply.status, 503);
        assert_eq!(fake.kinds(), ["org", "body", "key"]);
    }

    #[test]
    fn requests_that_fail_before_any_key() {
        let other_issuer = subject(serde_json::json!({ "iss": "https://evil.test", "sub": "u" }));
        for (body, code) in [
            (form(&good_subject(), "&scope=admin"), "invalid_scope"),
            (form(&other_issuer, ""), "invalid_request"),
            (form("not-a-jwt", ""), "invalid_request"),
            (
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange".into(),
                "invalid_request",
            ),
        ] {
            let (fake, reply) = exchange(&body, |_| {});
            assert_eq!((reply.status, reply.outcome), (400, code), "{body}");
            let kinds = fake.kinds();
            assert!(
                !kinds.contains(&"admit") && !kinds.contains(&"sign"),
                "{body}: {kinds:?}"
            );
        }
    }

    #[test]
    fn expired_subject_tokens_are_refused_after_the_signature() {
        let expired = subject(serde_json::json!({
            "iss": "https://idp.test", "aud": "client-1", "sub": "u1",
            "iat": NOW - 4000, "exp": NOW - 3600,
        }));
        let (fake, reply) = exchange(&form(&expired, ""), |_| {});
        assert_eq!(reply.status, 400);
        assert_eq!(fake.kinds(), ["org", "body", "key", "verify"]);
    }

    /// An anonymous session's access token of the same org, from the anonymous flow.
    fn anonymous_token() -> String {
        let mut fake = Fake::new(org());
        let reply = fake.run(Request {
            content_type: Some("application/x-www-form-urlencoded".into()),
            ..request("POST", "/orgs/acme/sessions/anonymous")
        });
        body_json(&reply)["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn with_actor(actor: &str) -> String {
        form(
            &good_subject(),
            &format!(
                "&actor_token={actor}&actor_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token"
            ),
        )
    }

    #[test]
    fn an_anonymous_actor_token_makes_an_upgrade_after_its_revocation_check() {
        let actor = anonymous_token();
        let (fake, reply) = exchange(&with_actor(&actor), |_| {});
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        assert_eq!(
            fake.kinds(),
            [
                "org",
                "body",
                "key",
                "verify",
                "verify_own",
                "shard",
                "admit",
                "sign",
                "flush"
            ]
        );
        let Effect::ShardCall { op, body, .. } = &fake.seen[5] else {
            panic!("{:?}", fake.seen[5]);
        };
        assert_eq!(*op, "check");
        assert!(body.contains("anon_"), "{body}");
        assert!(claims_of(&reply)["anonymous_sub"]
            .as_str()
            .unwrap()
            .starts_with("anon_"));
    }

    #[test]
    fn a_revoked_or_forged_actor_token_is_refused() {
        let actor = anonymous_token();
        let (fake, reply) = exchange(&with_actor(&actor), |f| {
            f.check = Some(r#"{"active":false}"#.into())
        });
        assert_eq!(reply.status, 400);
        assert!(body_json(&reply)["error_description"]
            .as_str()
            .unwrap()
            .contains("revoked"));
        assert!(!fake.kinds().contains(&"admit"));

        let mut answers = vec![Some(true), Some(false)].into_iter();
        let mut fake = Fake::new(org());
        fake.body = Some(with_actor(&actor).into_bytes());
        // The subject token verifies; the actor token does not.
        let reply = fake.run_overriding(
            Request {
                content_type: Some("application/x-www-form-urlencoded".into()),
                ..request("POST", TOKEN)
            },
            |effect| {
                matches!(effect, Effect::Verify { .. } | Effect::VerifyOwn { .. })
                    .then(|| Outcome::Verified(answers.next().flatten()))
            },
        );
        assert_eq!(reply.status, 400);
        assert!(body_json(&reply)["error_description"]
            .as_str()
            .unwrap()
            .contains("actor_token"));
    }
}

/// The refresh-token plaintext of an anonymous session `sid` of `sub` in `acme` (scope
/// `session`, a day long) that began at `began` (seconds).
fn session_plaintext(sid: &str, sub: &str, began: u64) -> Vec<u8> {
    let org = OrgId::parse("acme").unwrap();
    crate::refresh_token::RefreshPayload::first(
        &crate::refresh_token::NewSession {
            org: &org,
            session_id: sid,
            subject: sub,
            scope: "session",
            device_id: None,
            now: began,
            session_ttl_secs: 86_400,
        },
        &[1; 16],
    )
    .to_json()
}

/// An anonymous session's access token of `acme`, from the anonymous flow.
fn anonymous_access_token() -> String {
    let mut fake = Fake::new(org_with(serde_json::json!({})));
    let reply = fake.run(request("POST", ANON));
    body_json(&reply)["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn form_request(path: &str, body: &str, fake: &mut Fake) -> Reply {
    fake.body = Some(body.as_bytes().to_vec());
    fake.run(Request {
        content_type: Some("application/x-www-form-urlencoded".into()),
        authorization: Some("Bearer whatever".into()),
        ..request("POST", path)
    })
}

mod introspection {
    use super::*;
    use crate::admin_scope::{AdminScope, AdminScopes};
    use crate::principal::Principal;

    const PATH: &str = "/orgs/acme/introspect";

    fn key_of(org: &str, scopes: &[AdminScope]) -> Principal {
        Principal::OrgKey {
            org: OrgId::parse(org).unwrap(),
            key_id: "key_1".into(),
            scopes: AdminScopes::of(scopes),
        }
    }

    #[test]
    fn an_access_token_is_verified_then_checked() {
        let access = anonymous_access_token();
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        let reply = form_request(PATH, &format!("token={access}"), &mut fake);
        assert_eq!(
            fake.kinds(),
            ["org", "caller", "body", "verify_own", "shard"]
        );
        let body = body_json(&reply);
        assert_eq!(body["active"], true);
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["sub"].as_str().unwrap().starts_with("anon_"));
    }

    #[test]
    fn a_refresh_token_is_checked_with_its_generation() {
        let refresh = crate::refresh_token::encode(&[1; 12], &[9; 40]);
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.opened = Some(session_plaintext("sid_1", "anon_1", NOW_MS / 1000 - 60));
        let reply = form_request(PATH, &format!("token={refresh}"), &mut fake);
        assert_eq!(fake.kinds(), ["org", "caller", "body", "open", "shard"]);
        let Effect::ShardCall { body, .. } = &fake.seen[4] else {
            panic!()
        };
        assert!(body.contains(r#""generation":0"#), "{body}");
        let answer = body_json(&reply);
        assert_eq!(answer["active"], true);
        assert_eq!(answer["token_type"], "refresh_token");
        assert_eq!(answer["sid"], "sid_1");
    }

    #[test]
    fn anything_else_is_inactive_and_says_nothing_more() {
        for token in ["garbage", "rt1.nope", "a.b.c"] {
            let mut fake = Fake::new(org_with(serde_json::json!({})));
            let reply = form_request(PATH, &format!("token={token}"), &mut fake);
            assert_eq!(reply.status, 200);
            assert_eq!(
                body_json(&reply),
                serde_json::json!({ "active": false }),
                "{token}"
            );
            assert!(!fake.kinds().contains(&"shard"), "{token}");
        }
        let access = anonymous_access_token();
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.check = Some(r#"{"active":false}"#.into());
        let reply = form_request(PATH, &format!("token={access}"), &mut fake);
        assert_eq!(body_json(&reply), serde_json::json!({ "active": false }));
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.verified = Some(false);
        let reply = form_request(PATH, &format!("token={access}"), &mut fake);
        assert_eq!(body_json(&reply), serde_json::json!({ "active": false }));
    }

    #[test]
    fn callers_are_authenticated_before_the_body_is_read() {
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.caller = Err(ApiError::InvalidToken("missing credential".into()));
        let reply = form_request(PATH, "token=x", &mut fake);
        assert_eq!((reply.status, reply.outcome), (401, "invalid_token"));
        assert_eq!(fake.kinds(), ["org", "caller"]);
        assert!(header(&reply, "WWW-Authenticate").is_some());
    }

    #[test]
    fn a_key_of_another_org_is_an_invalid_credential_here() {
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.caller = Ok(key_of("other", &[AdminScope::TokensIntrospect]));
        let reply = form_request(PATH, "token=x", &mut fake);
        assert_eq!((reply.status, reply.outcome), (401, "invalid_token"));
        assert_eq!(
            header(&reply, "WWW-Authenticate"),
            Some("Bearer error=\"invalid_token\"")
        );
    }

    #[test]
    fn a_key_without_the_scope_is_403_naming_it() {
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.caller = Ok(key_of("acme", &[AdminScope::KeysRead]));
        let reply = form_request(PATH, "token=x", &mut fake);
        assert_eq!((reply.status, reply.outcome), (403, "insufficient_scope"));
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.caller = Ok(key_of("acme", &[AdminScope::TokensIntrospect]));
        let reply = form_request(PATH, "token=x", &mut fake);
        assert_eq!(reply.status, 200);
    }
}

mod revocation {
    use super::*;

    const PATH: &str = "/orgs/acme/revoke";

    #[test]
    fn a_refresh_token_revokes_its_session() {
        let refresh = crate::refresh_token::encode(&[1; 12], &[9; 40]);
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.opened = Some(session_plaintext("sid_9", "anon_9", NOW_MS / 1000 - 60));
        let reply = form_request(PATH, &format!("token={refresh}"), &mut fake);
        assert_eq!((reply.status, reply.body.as_deref()), (200, None));
        assert_eq!(fake.kinds(), ["org", "body", "open", "shard"]);
        let Effect::ShardCall { op, body, .. } = &fake.seen[3] else {
            panic!()
        };
        assert_eq!(*op, "revoke");
        assert!(body.contains("sid_9"), "{body}");
    }

    #[test]
    fn an_access_token_revokes_itself() {
        let access = anonymous_access_token();
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        let reply = form_request(PATH, &format!("token={access}"), &mut fake);
        assert_eq!(reply.status, 200);
        assert_eq!(fake.kinds(), ["org", "body", "verify_own", "shard"]);
        let Effect::ShardCall { body, .. } = &fake.seen[3] else {
            panic!()
        };
        assert!(body.contains(r#""kind":"jti""#), "{body}");
    }

    #[test]
    fn anything_else_is_200_and_touches_nothing() {
        for token in ["garbage", "rt1.nope"] {
            let mut fake = Fake::new(org_with(serde_json::json!({})));
            let reply = form_request(PATH, &format!("token={token}"), &mut fake);
            assert_eq!(
                (reply.status, reply.body.as_deref()),
                (200, None),
                "{token}"
            );
            assert!(!fake.kinds().contains(&"shard"), "{token}");
        }
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        assert_eq!(form_request(PATH, "", &mut fake).status, 400);
    }

    #[test]
    fn a_revocation_that_cannot_be_recorded_is_an_error() {
        let access = anonymous_access_token();
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        fake.revoke = None;
        assert_eq!(
            form_request(PATH, &format!("token={access}"), &mut fake).status,
            503
        );
    }
}

mod preflight {
    use super::*;

    fn preflight(path: &str, origin: Option<&str>, fake: &mut Fake) -> Reply {
        fake.run(Request {
            origin: origin.map(str::to_owned),
            ..request("OPTIONS", path)
        })
    }

    #[test]
    fn documents_are_shared_with_anyone_without_loading_the_org() {
        let mut fake = Fake::new(org_with(serde_json::json!({})));
        let reply = preflight(
            "/orgs/acme/.well-known/jwks.json",
            Some("https://x.example"),
            &mut fake,
        );
        assert_eq!(reply.status, 204);
        assert_eq!(header(&reply, "Access-Control-Allow-Origin"), Some("*"));
        assert!(fake.kinds().is_empty());
    }

    #[test]
    fn org_endpoints_answer_the_origins_the_org_allows() {
        let org = org_with(serde_json::json!({ "allowed_origins": ["https://app.example"] }));
        let mut fake = Fake::new(org.clone());
        let reply = preflight(ANON, Some("https://app.example"), &mut fake);
        assert_eq!(reply.status, 204);
        assert_eq!(
            header(&reply, "Access-Control-Allow-Origin"),
            Some("https://app.example")
        );
        assert!(header(&reply, "Access-Control-Allow-Methods").is_some());
        let mut fake = Fake::new(org.clone());
        assert_eq!(
            preflight("/orgs/acme/token", Some("https://evil.example"), &mut fake).status,
            403
        );
        let mut fake = Fake::new(org);
        let reply = preflight("/orgs/acme/revoke", None, &mut fake);
        assert_eq!(reply.status, 204);
        assert_eq!(header(&reply, "Access-Control-Allow-Origin"), None);
        assert!(fake.kinds().is_empty());
    }
}
