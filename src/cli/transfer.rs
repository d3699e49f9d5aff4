//! Export and import of an org's configuration, for backups and for moving between environments.
//! The export holds the settings, the identity providers and the metadata of org keys and signing
//! keys: never a private key, sealed or not, and never a provider's HS256 secret (write-only in the
//! worker; an import takes it from the environment). Keys cannot be moved, only recreated.

use serde_json::{json, Value};

use super::client::{CliError, Client};

pub const FORMAT: &str = "token-exchange/org-export/v1";

/// The environment variable an import reads an HS256 provider's secret from.
pub fn provider_secret_var(provider_id: &str) -> String {
    format!(
        "TX_PROVIDER_SECRET_{}",
        provider_id.to_ascii_uppercase().replace('-', "_")
    )
}

pub fn export(client: &Client, org: &str) -> Result<Value, CliError> {
    let record = client.admin("GET", &format!("/orgs/{org}"), None)?;
    let providers = client.admin("GET", &format!("/orgs/{org}/providers"), None)?;
    let keys = client.admin("GET", &format!("/orgs/{org}/keys"), None)?;
    let signing = client.admin("GET", &format!("/orgs/{org}/signing-keys"), None)?;
    Ok(json!({
        "format": FORMAT,
        "org": { "id": record["id"], "settings": record["settings"] },
        "providers": providers["providers"],
        "org_keys": keys["keys"],
        "signing_keys": signing["keys"],
    }))
}

/// The body to PUT for an exported provider: its settings, without what the worker adds.
fn provider_body(view: &Value) -> Value {
    let mut body = view.clone();
    if let Some(o) = body.as_object_mut() {
        for added in ["id", "has_hs256_secret", "created_at", "updated_at"] {
            o.remove(added);
        }
    }
    body
}

/// Imports `doc` into `org` (created when absent, which needs the operator): settings, providers,
/// a signing key when the org has none, and with `recreate_keys` a new org key for each active one
/// exported (same name, scopes and conditions; new id and secret, in the report, shown once).
pub fn import(
    client: &Client,
    doc: &Value,
    org: &str,
    recreate_keys: bool,
    secret_of: impl Fn(&str) -> Option<String>,
) -> Result<Value, CliError> {
    if doc["format"] != FORMAT {
        return Err(CliError::Usage(format!("not an export of format {FORMAT}")));
    }
    client.admin(
        "PUT",
        &format!("/orgs/{org}"),
        Some(&doc["org"]["settings"]),
    )?;
    let mut providers = Vec::new();
    for view in doc["providers"].as_array().into_iter().flatten() {
        let id = view["id"].as_str().unwrap_or_default();
        let mut body = provider_body(view);
        if view["has_hs256_secret"] == true {
            let var = provider_secret_var(id);
            match secret_of(&var) {
                Some(secret) => body["hs256_secret"] = json!(secret),
                None => {
                    providers.push(json!({ "id": id, "imported": false, "needs": var }));
                    continue;
                }
            }
        }
        client.admin("PUT", &format!("/orgs/{org}/providers/{id}"), Some(&body))?;
        providers.push(json!({ "id": id, "imported": true }));
    }
    let signing = client.admin("GET", &format!("/orgs/{org}/signing-keys"), None)?;
    let has_signer = signing["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|k| k["status"] == "active");
    if !has_signer {
        client.admin("POST", &format!("/orgs/{org}/signing-keys"), None)?;
    }
    let mut keys = Vec::new();
    for key in doc["org_keys"].as_array().into_iter().flatten() {
        if key["status"] != "active" {
            continue;
        }
        if !recreate_keys {
            keys.push(json!({ "name": key["name"], "recreated": false }));
            continue;
        }
        let body = json!({ "name": key["name"], "scopes": key["scopes"], "conditions": key["conditions"] });
        let created = client.admin("POST", &format!("/orgs/{org}/keys"), Some(&body))?;
        keys.push(json!({
            "name": key["name"], "recreated": true, "id": created["id"], "secret": created["secret"],
        }));
    }
    Ok(json!({
        "org": org,
        "providers": providers,
        "signing_key_created": !has_signer,
        "org_keys": keys,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_bodies_drop_what_the_worker_adds() {
        let view = json!({"id": "g", "issuer": "https://i", "has_hs256_secret": false,
                          "created_at": 1, "updated_at": 2, "algorithms": ["RS256"]});
        assert_eq!(
            provider_body(&view),
            json!({"issuer": "https://i", "algorithms": ["RS256"]})
        );
        assert_eq!(
            provider_secret_var("corp-sso"),
            "TX_PROVIDER_SECRET_CORP_SSO"
        );
    }
}
