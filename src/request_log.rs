//! The one structured log line of every request (readable with `wrangler tail`): request id, org,
//! endpoint, method, status, outcome and duration. Built only from these fields, so no token,
//! secret or refresh token can reach a log through it.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine<'a> {
    pub request_id: &'a str,
    pub method: &'a str,
    /// The endpoint's name (`token`, `anonymous_session`, `admin_org_keys`…), or `none`.
    pub endpoint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org: Option<&'a str>,
    pub status: u16,
    /// `ok`, or the error code answered.
    pub outcome: &'a str,
    pub duration_ms: u64,
}

impl LogLine<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A request id: the edge's `cf-ray` when present (so logs join Cloudflare's), else random hex.
pub fn request_id(cf_ray: Option<&str>, random: &[u8; 8]) -> String {
    match cf_ray {
        Some(ray)
            if !ray.is_empty() && ray.len() <= 64 && ray.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            ray.to_owned()
        }
        _ => random.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// `version` or `version+revision`.
pub fn version(revision: Option<&str>) -> String {
    let v = env!("CARGO_PKG_VERSION");
    match revision.filter(|r| !r.is_empty()) {
        Some(r) => format!("{v}+{r}"),
        None => v.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_the_fields_and_nothing_else() {
        let line = LogLine {
            request_id: "r1",
            method: "POST",
            endpoint: "token",
            org: Some("acme"),
            status: 400,
            outcome: "invalid_grant",
            duration_ms: 3,
        };
        let v: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 7);
        assert_eq!(v["outcome"], "invalid_grant");
        let anon = LogLine { org: None, ..line };
        assert!(!anon.to_json().contains("org"));
    }

    #[test]
    fn request_ids() {
        assert_eq!(request_id(Some("8a3b-AMS"), &[0; 8]), "8a3b-AMS");
        assert_eq!(request_id(None, &[0xab; 8]), "abababababababab");
        assert_eq!(request_id(Some("bad id"), &[1; 8]), "0101010101010101");
        assert_eq!(version(None), env!("CARGO_PKG_VERSION"));
        assert!(version(Some("abc123")).ends_with("+abc123"));
    }
}
