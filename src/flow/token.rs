//! `POST /orgs/{org}/token`: the request opened (`opening`), then its grant: `refresh_token`
//! (`refresh`) or the token exchange (`exchange`); anything else is `unsupported_grant_type`.

use super::exchange::Exchange;
use super::opening::{Open, Opened, Opening};
use super::refresh::Refresh;
use super::{unexpected, Outcome, Request, Step};
use crate::api_error::ApiError;
use crate::exchange::request::GRANT_TYPE;
use crate::org::OrgId;
use crate::reply::Reply;

pub struct Token {
    request: Request,
    grant: Grant,
}

enum Grant {
    Opening(Opening),
    Refresh(Refresh),
    Exchange(Exchange),
    /// Answered.
    Finished,
}

impl Token {
    pub fn begin(request: Request, org: OrgId) -> (Self, Step) {
        let flow = Self {
            request,
            grant: Grant::Opening(Opening::default()),
        };
        (flow, Step::Need(Opening::first(org)))
    }

    pub fn resume(&mut self, outcome: Outcome) -> Step {
        match &mut self.grant {
            Grant::Opening(opening) => match opening.resume(&self.request, outcome) {
                Opened::Need(effect) => Step::Need(effect),
                Opened::Answered(reply) => {
                    self.grant = Grant::Finished;
                    Step::Done(reply)
                }
                Opened::Ready(open) => self.grant_of(open),
            },
            Grant::Refresh(refresh) => refresh.resume(&self.request, outcome),
            Grant::Exchange(exchange) => exchange.resume(&self.request, outcome),
            Grant::Finished => unexpected(),
        }
    }

    fn grant_of(&mut self, open: Open) -> Step {
        self.grant = Grant::Finished;
        let grant = match open.params.require("grant_type") {
            Ok(g) => g.to_owned(),
            Err(e) => return Step::Done(Reply::error(&e).shared(&open.cors)),
        };
        match grant.as_str() {
            "refresh_token" => {
                let (refresh, step) = Refresh::begin(open);
                self.grant = Grant::Refresh(refresh);
                step
            }
            GRANT_TYPE => {
                let (exchange, step) = Exchange::begin(open);
                self.grant = Grant::Exchange(exchange);
                step
            }
            _ => Step::Done(
                Reply::error(&ApiError::UnsupportedGrantType(format!(
                    "grant_type {grant} is not supported; supported: refresh_token, {GRANT_TYPE}"
                )))
                .shared(&open.cors),
            ),
        }
    }
}
