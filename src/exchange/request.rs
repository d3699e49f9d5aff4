//! The parameters of a token-exchange request (RFC 8693 §2.1), checked for shape.

use crate::api_error::ApiError;
use crate::body::Params;
use crate::session::valid_device_id;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
pub const TOKEN_TYPE_ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The `client_id` of issued tokens when the request names none.
pub const DEFAULT_CLIENT_ID: &str = "public";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeRequest<'a> {
    pub subject_token: &'a str,
    pub scope: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub resource: Option<&'a str>,
    pub actor_token: Option<&'a str>,
    pub client_id: &'a str,
}

impl<'a> ExchangeRequest<'a> {
    pub fn parse(params: &'a Params) -> Result<Self, ApiError> {
        let subject_token = params.require("subject_token")?;
        match params.require("subject_token_type")? {
            TOKEN_TYPE_JWT | TOKEN_TYPE_ID_TOKEN => {}
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "subject_token_type: supported are {TOKEN_TYPE_JWT} and {TOKEN_TYPE_ID_TOKEN}"
                )))
            }
        }
        if params
            .get("requested_token_type")
            .is_some_and(|t| t != TOKEN_TYPE_ACCESS_TOKEN)
        {
            return Err(ApiError::invalid_request(format!(
                "requested_token_type: only {TOKEN_TYPE_ACCESS_TOKEN} is issued"
            )));
        }
        let actor_token = match (params.get("actor_token"), params.get("actor_token_type")) {
            (None, None) => None,
            (Some(t), Some(TOKEN_TYPE_ACCESS_TOKEN | TOKEN_TYPE_JWT)) => Some(t),
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_request(format!(
                    "actor_token_type: supported are {TOKEN_TYPE_ACCESS_TOKEN} and {TOKEN_TYPE_JWT}"
                )))
            }
            (Some(_), None) => {
                return Err(ApiError::invalid_request(
                    "actor_token_type is required with actor_token",
                ))
            }
            (None, Some(_)) => {
                return Err(ApiError::invalid_request(
                    "actor_token_type given without actor_token",
                ))
            }
        };
        let client_id = params.get("client_id").unwrap_or(DEFAULT_CLIENT_ID);
        if !valid_device_id(client_id) {
            return Err(ApiError::invalid_request(
                "client_id: 1 to 128 characters of A-Z a-z 0-9 . _ : -",
            ));
        }
        Ok(Self {
            subject_token,
            scope: params.get("scope"),
            audience: params.get("audience"),
            resource: params.get("resource"),
            actor_token,
            client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::parse_params;

    fn parse(body: &str) -> Result<ExchangeRequest<'static>, ApiError> {
        let params = Box::leak(Box::new(
            parse_params(Some("application/x-www-form-urlencoded"), body.as_bytes()).unwrap(),
        ));
        ExchangeRequest::parse(params)
    }

    const JWT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt";
    const AT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token";

    #[test]
    fn a_full_request() {
        let r = parse(&format!(
            "subject_token=t&subject_token_type={JWT}&scope=a%20b&audience=api&resource=https%3A%2F%2Fapi.test\
             &actor_token=x&actor_token_type={AT}&requested_token_type={AT}&client_id=web"
        ))
        .unwrap();
        assert_eq!(r.subject_token, "t");
        assert_eq!(r.scope, Some("a b"));
        assert_eq!(r.audience, Some("api"));
        assert_eq!(r.resource, Some("https://api.test"));
        assert_eq!(r.actor_token, Some("x"));
        assert_eq!(r.client_id, "web");
        assert_eq!(
            parse(&format!("subject_token=t&subject_token_type={JWT}"))
                .unwrap()
                .client_id,
            "public"
        );
    }

    #[test]
    fn malformed_requests_name_the_parameter() {
        for (body, why) in [
            (
                "subject_token_type=x".to_string(),
                "missing parameter: subject_token",
            ),
            (
                "subject_token=t".into(),
                "missing parameter: subject_token_type",
            ),
            (
                "subject_token=t&subject_token_type=saml".into(),
                "subject_token_type:",
            ),
            (
                format!("subject_token=t&subject_token_type={JWT}&requested_token_type={JWT}"),
                "requested_token_type:",
            ),
            (
                format!("subject_token=t&subject_token_type={JWT}&actor_token=a"),
                "actor_token_type is required",
            ),
            (
                format!("subject_token=t&subject_token_type={JWT}&actor_token_type={AT}"),
                "without actor_token",
            ),
            (
                format!(
                    "subject_token=t&subject_token_type={JWT}&actor_token=a&actor_token_type=x"
                ),
                "actor_token_type:",
            ),
            (
                format!("subject_token=t&subject_token_type={JWT}&client_id=a%20b"),
                "client_id",
            ),
        ] {
            let e = parse(&body).unwrap_err();
            assert_eq!(e.code(), "invalid_request", "{body}");
            assert!(e.description().contains(why), "{body}: {e}");
        }
    }
}
