//! `tx`, the command line for org admins, pipelines and servers. It talks to the worker over
//! HTTP only, authenticating with an org key (`TX_KEY_ID` + `TX_KEY_SECRET`: every call is signed
//! with a fresh two-minute credential, the secret never leaves the machine) or the operator token
//! (`TX_OPERATOR_TOKEN`). Credentials come from the environment, never from arguments.
//!
//! Exit codes: 0 success, 1 the worker refused (its error is printed), 2 bad usage or
//! credential, 3 the worker could not be reached.

mod client;
mod output;
mod transfer;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use crate::admin_credential::{admin_audience, mint, MAX_LIFETIME_SECS};
use crate::ids::random_id;
use crate::jose::ed25519::Ed25519SigningKey;
use crate::jose::{header::encode_ed25519_header, jws};
use client::{now, random16, CliError, Client, Credential};
use output::{cell, table, time};

#[derive(Parser)]
#[command(
    name = "tx",
    version,
    about = "Manage token-exchange orgs, keys and tokens"
)]
struct Cli {
    /// The worker's base URL.
    #[arg(
        long,
        env = "TX_URL",
        default_value = "http://127.0.0.1:8787",
        global = true
    )]
    url: String,
    /// The org to act on.
    #[arg(long, env = "TX_ORG", global = true)]
    org: Option<String>,
    /// Print the worker's JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Orgs (creating one needs the operator token).
    #[command(subcommand)]
    Orgs(OrgsCommand),
    /// Org keys: the credentials of servers, pipelines and admins.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The keys the worker signs the org's tokens with.
    #[command(subcommand, name = "signing-keys")]
    SigningKeys(SigningKeysCommand),
    /// Rotate the org's signing key (same as `signing-keys rotate`).
    Rotate(RotateArgs),
    /// Identity providers whose tokens the org accepts in token exchange.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Revoke a session (--sub --sid), a subject (--sub), a token (--sub --jti) or a key (--kid).
    Revoke {
        #[arg(long)]
        sub: Option<String>,
        #[arg(long)]
        sid: Option<String>,
        #[arg(long)]
        jti: Option<String>,
        #[arg(long, conflicts_with_all = ["sub", "sid", "jti"])]
        kid: Option<String>,
    },
    /// After a master-key rotation: re-seal every stored secret under the current MASTER_KEY, in
    /// the org given, or in every org (operator).
    Reseal,
    /// The org's audit log, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Tokens signed locally with the org key in TX_KEY_ID / TX_KEY_SECRET.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Subcommand)]
enum OrgsCommand {
    /// Create an org (operator only).
    Create {
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// A JSON file of org settings (see the README).
        #[arg(long)]
        settings: Option<PathBuf>,
    },
    /// Show the org and its settings.
    Get,
    /// Replace the org's settings with a JSON file.
    Update {
        #[arg(long)]
        settings: PathBuf,
    },
    /// Print the org's configuration as JSON: settings, providers, key metadata; no secret.
    Export,
    /// Create or update an org from an export. HS256 provider secrets come from
    /// TX_PROVIDER_SECRET_<ID> variables; keys are recreated (new secrets) with --recreate-keys.
    Import {
        #[arg(long)]
        file: PathBuf,
        /// Import under this org id instead of the exported one.
        #[arg(long = "as")]
        as_org: Option<String>,
        #[arg(long)]
        recreate_keys: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KeyUse {
    Production,
    Ci,
    Admin,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its secret is printed this once.
    Create {
        #[arg(long)]
        name: String,
        /// A named scope set.
        #[arg(
            long = "use",
            conflicts_with = "scopes",
            required_unless_present = "scopes"
        )]
        key_use: Option<KeyUse>,
        /// Explicit scopes, comma-separated (e.g. keys:read,audit:read).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// Restrict the audiences of tokens signed with the key (repeatable).
        #[arg(long = "audience")]
        audiences: Vec<String>,
    },
    /// List the org's keys (never their secrets).
    List,
    /// Show one key.
    Get {
        #[arg(long)]
        key: String,
    },
    /// Revoke a key at once.
    #[command(alias = "revoke")]
    Delete {
        #[arg(long)]
        key: String,
    },
}

#[derive(Subcommand)]
enum ProvidersCommand {
    List,
    Get {
        #[arg(long)]
        id: String,
    },
    /// Create or replace a provider from a JSON file (see the README for its fields).
    #[command(alias = "create")]
    Put {
        #[arg(long)]
        id: String,
        #[arg(long)]
        file: PathBuf,
    },
    Delete {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum SigningKeysCommand {
    List,
    /// Add an active signing key (prefer `rotate`).
    Create,
    Rotate(RotateArgs),
    /// Stop a signing key signing now; it stays published until its tokens expire.
    Retire {
        #[arg(long)]
        kid: String,
    },
}

#[derive(Args)]
struct RotateArgs {
    /// Emergency: old keys stop signing now instead of when the new key has been published 300 s.
    #[arg(long)]
    immediate: bool,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Sign a token with the org key, for a server or a test. Printed on stdout.
    Mint {
        /// Audience (repeatable). Required unless --admin.
        #[arg(long = "aud")]
        audiences: Vec<String>,
        /// Subject (default: the key id).
        #[arg(long)]
        sub: Option<String>,
        /// Issuer (default: the key id).
        #[arg(long)]
        iss: Option<String>,
        /// Space-separated scopes.
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime in seconds (1 to 3600).
        #[arg(long, default_value_t = 300)]
        ttl: u64,
        /// A credential for the admin API at --url (aud, iss, sub set for it; at most 300 s).
        #[arg(long, conflicts_with_all = ["audiences", "sub", "iss", "scope"])]
        admin: bool,
    },
}

/// Runs the CLI on the process's arguments; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(&cli) {
        Ok(text) => {
            if !text.is_empty() {
                println!("{text}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

fn run(cli: &Cli) -> Result<String, CliError> {
    if let Command::Token(TokenCommand::Mint { .. }) = &cli.command {
        return mint_token(cli);
    }
    let client = Client::new(&cli.url, Credential::from_env()?);
    let org = || {
        cli.org
            .clone()
            .ok_or_else(|| CliError::Usage("no org: pass --org or set TX_ORG".into()))
    };
    let show = |value: Value, human: fn(&Value) -> String| {
        if cli.json {
            serde_json::to_string_pretty(&value).unwrap_or_default()
        } else {
            human(&value)
        }
    };
    Ok(match &cli.command {
        Command::Orgs(OrgsCommand::Create { id, name, settings }) => {
            let mut body = read_settings(settings.as_ref())?;
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            show(
                client.admin("PUT", &format!("/orgs/{id}"), Some(&body))?,
                pretty,
            )
        }
        Command::Orgs(OrgsCommand::Get) => show(
            client.admin("GET", &format!("/orgs/{}", org()?), None)?,
            pretty,
        ),
        Command::Orgs(OrgsCommand::Update { settings }) => {
            let body = read_settings(Some(settings))?;
            show(
                client.admin("PUT", &format!("/orgs/{}", org()?), Some(&body))?,
                pretty,
            )
        }
        Command::Orgs(OrgsCommand::Export) => {
            serde_json::to_string_pretty(&transfer::export(&client, &org()?)?).unwrap_or_default()
        }
        Command::Orgs(OrgsCommand::Import {
            file,
            as_org,
            recreate_keys,
        }) => {
            let doc = read_settings(Some(file))?;
            let target = as_org
                .clone()
                .or_else(|| doc["org"]["id"].as_str().map(str::to_owned))
                .ok_or_else(|| CliError::Usage("the export names no org; use --as".into()))?;
            let secret_of = |var: &str| std::env::var(var).ok().filter(|v| !v.is_empty());
            let report = transfer::import(&client, &doc, &target, *recreate_keys, secret_of)?;
            show(report, import_report)
        }
        Command::Keys(cmd) => keys(cmd, &client, &org()?, &show)?,
        Command::SigningKeys(cmd) => signing_keys(cmd, &client, &org()?, &show)?,
        Command::Rotate(args) => rotate(args, &client, &org()?, &show)?,
        Command::Providers(cmd) => providers(cmd, &client, &org()?, &show)?,
        Command::Revoke { sub, sid, jti, kid } => {
            let mut body = json!({});
            for (name, value) in [("sub", sub), ("sid", sid), ("jti", jti), ("kid", kid)] {
                if let Some(v) = value {
                    body[name] = json!(v);
                }
            }
            let path = format!("/orgs/{}/revocations", org()?);
            show(client.admin("POST", &path, Some(&body))?, |v| {
                let r = &v["revocation"];
                format!(
                    "revoked {} {} (until {})",
                    cell(&r["kind"]),
                    cell(&r["value"]),
                    time(&r["expires_at"])
                )
            })
        }
        Command::Reseal => {
            let orgs: Vec<String> = match &cli.org {
                Some(org) => vec![org.clone()],
                None => client.admin("GET", "/orgs", None)?["orgs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.as_str().map(str::to_owned))
                    .collect(),
            };
            let mut results = Vec::new();
            for org in &orgs {
                let mut r = client.admin("POST", &format!("/orgs/{org}/reseal"), None)?;
                r["org"] = json!(org);
                results.push(r);
            }
            show(json!({ "orgs": results }), |v| {
                list_table(
                    v,
                    "orgs",
                    &["ORG", "SIGNING KEYS", "ORG KEYS", "PROVIDERS"],
                    |r| {
                        vec![
                            cell(&r["org"]),
                            cell(&r["resealed"]["signing_keys"]),
                            cell(&r["resealed"]["org_keys"]),
                            cell(&r["resealed"]["providers"]),
                        ]
                    },
                )
            })
        }
        Command::Audit { limit } => show(
            client.admin(
                "GET",
                &format!("/orgs/{}/audit?limit={limit}", org()?),
                None,
            )?,
            audit_table,
        ),
        Command::Token(_) => unreachable!("handled above"),
    })
}

type Show<'a> = dyn Fn(Value, fn(&Value) -> String) -> String + 'a;

fn keys(cmd: &KeysCommand, client: &Client, org: &str, show: &Show) -> Result<String, CliError> {
    let base = format!("/orgs/{org}/keys");
    Ok(match cmd {
        KeysCommand::Create {
            name,
            key_use,
            scopes,
            audiences,
        } => {
            let mut body = json!({ "name": name, "conditions": { "audiences": audiences } });
            match (key_use, scopes) {
                (Some(u), _) => {
                    body["use"] = json!(u.to_possible_value().map(|v| v.get_name().to_owned()))
                }
                (None, Some(s)) => body["scopes"] = json!(s),
                (None, None) => return Err(CliError::Usage("give --use or --scopes".into())),
            }
            show(client.admin("POST", &base, Some(&body))?, created_key)
        }
        KeysCommand::List => show(client.admin("GET", &base, None)?, keys_table),
        KeysCommand::Get { key } => show(
            client.admin("GET", &format!("{base}/{key}"), None)?,
            key_details,
        ),
        KeysCommand::Delete { key } => show(
            client.admin("DELETE", &format!("{base}/{key}"), None)?,
            |k| format!("revoked {} ({})", cell(&k["id"]), cell(&k["name"])),
        ),
    })
}

fn providers(
    cmd: &ProvidersCommand,
    client: &Client,
    org: &str,
    show: &Show,
) -> Result<String, CliError> {
    let base = format!("/orgs/{org}/providers");
    Ok(match cmd {
        ProvidersCommand::List => show(client.admin("GET", &base, None)?, providers_table),
        ProvidersCommand::Get { id } => {
            show(client.admin("GET", &format!("{base}/{id}"), None)?, pretty)
        }
        ProvidersCommand::Put { id, file } => {
            let body = read_settings(Some(file))?;
            show(
                client.admin("PUT", &format!("{base}/{id}"), Some(&body))?,
                |p| format!("saved provider {} ({})", cell(&p["id"]), cell(&p["issuer"])),
            )
        }
        ProvidersCommand::Delete { id } => {
            client.admin("DELETE", &format!("{base}/{id}"), None)?;
            format!("deleted provider {id}")
        }
    })
}

fn providers_table(v: &Value) -> String {
    list_table(
        v,
        "providers",
        &["ID", "ISSUER", "ALGORITHMS", "SCOPES", "UPDATED"],
        |p| {
            vec![
                cell(&p["id"]),
                cell(&p["issuer"]),
                cell(&p["algorithms"]),
                cell(&p["allowed_scopes"]),
                time(&p["updated_at"]),
            ]
        },
    )
}

fn signing_keys(
    cmd: &SigningKeysCommand,
    client: &Client,
    org: &str,
    show: &Show,
) -> Result<String, CliError> {
    let base = format!("/orgs/{org}/signing-keys");
    Ok(match cmd {
        SigningKeysCommand::List => show(client.admin("GET", &base, None)?, signing_keys_table),
        SigningKeysCommand::Create => show(client.admin("POST", &base, None)?, |k| {
            format!("created signing key {}", cell(&k["kid"]))
        }),
        SigningKeysCommand::Rotate(args) => rotate(args, client, org, show)?,
        SigningKeysCommand::Retire { kid } => show(
            client.admin("POST", &format!("{base}/{kid}/retire"), None)?,
            |k| format!("retired signing key {}", cell(&k["kid"])),
        ),
    })
}

fn rotate(args: &RotateArgs, client: &Client, org: &str, show: &Show) -> Result<String, CliError> {
    let body = json!({ "immediate": args.immediate });
    let value = client.admin(
        "POST",
        &format!("/orgs/{org}/signing-keys/rotate"),
        Some(&body),
    )?;
    Ok(show(value, |k| {
        format!(
            "new signing key {} (published now)\nretiring: {}",
            cell(&k["kid"]),
            match cell(&k["retiring"]).as_str() {
                "" => "none".to_owned(),
                kids => kids.to_owned(),
            }
        )
    }))
}

fn mint_token(cli: &Cli) -> Result<String, CliError> {
    let Command::Token(TokenCommand::Mint {
        audiences,
        sub,
        iss,
        scope,
        ttl,
        admin,
    }) = &cli.command
    else {
        unreachable!("called for token mint only")
    };
    let Credential::OrgKey { id, seed } = Credential::from_env()? else {
        return Err(CliError::Usage(
            "token mint signs with an org key: set TX_KEY_ID and TX_KEY_SECRET".into(),
        ));
    };
    let jti = random_id("", &random16()?);
    if *admin {
        let lifetime = (*ttl).min(MAX_LIFETIME_SECS);
        return mint(&id, &seed, &admin_audience(&cli.url), now(), lifetime, &jti)
            .map_err(|e| CliError::Usage(e.to_string()));
    }
    if audiences.is_empty() {
        return Err(CliError::Usage(
            "give at least one --aud (or --admin)".into(),
        ));
    }
    if !(1..=3600).contains(ttl) {
        return Err(CliError::Usage("--ttl: 1 to 3600 seconds".into()));
    }
    let iat = now();
    let mut claims = json!({
        "iss": iss.as_deref().unwrap_or(&id), "sub": sub.as_deref().unwrap_or(&id),
        "aud": if audiences.len() == 1 { json!(audiences[0]) } else { json!(audiences) },
        "iat": iat, "exp": iat + ttl, "jti": jti,
    });
    if let Some(scope) = scope {
        claims["scope"] = json!(scope);
    }
    let key = Ed25519SigningKey::from_seed(&seed).map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(jws::sign_ed25519(
        &encode_ed25519_header(&id, "JWT"),
        claims.to_string().as_bytes(),
        &key,
    ))
}

fn read_settings(path: Option<&PathBuf>) -> Result<Value, CliError> {
    let Some(path) = path else {
        return Ok(json!({}));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("{}: not JSON: {e}", path.display())))?;
    if !value.is_object() {
        return Err(CliError::Usage(format!(
            "{}: must be a JSON object",
            path.display()
        )));
    }
    Ok(value)
}

/// A table of the objects in `v[member]`, one row each.
fn list_table(v: &Value, member: &str, headers: &[&str], row: fn(&Value) -> Vec<String>) -> String {
    let rows: Vec<Vec<String>> = v[member]
        .as_array()
        .into_iter()
        .flatten()
        .map(row)
        .collect();
    table(headers, &rows)
}

fn import_report(r: &Value) -> String {
    let mut out = vec![format!("imported org {}", cell(&r["org"]))];
    for p in r["providers"].as_array().into_iter().flatten() {
        out.push(match p["needs"].as_str() {
            Some(var) => format!("provider {}: NOT imported, set {var}", cell(&p["id"])),
            None => format!("provider {}: imported", cell(&p["id"])),
        });
    }
    if r["signing_key_created"] == true {
        out.push("signing key: created".into());
    }
    for k in r["org_keys"].as_array().into_iter().flatten() {
        out.push(if k["recreated"] == true {
            format!(
                "key {}: recreated as {} with secret {} (shown this once)",
                cell(&k["name"]),
                cell(&k["id"]),
                cell(&k["secret"])
            )
        } else {
            format!(
                "key {}: not recreated (use --recreate-keys)",
                cell(&k["name"])
            )
        });
    }
    out.join("\n")
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn scopes_cell(k: &Value) -> String {
    match k["use"].as_str() {
        Some(u) => u.to_owned(),
        None => cell(&k["scopes"]),
    }
}

fn created_key(k: &Value) -> String {
    format!(
        "created key {id} ({name}), scopes: {scopes}\n\n\
         secret (shown this once; store it now, it cannot be shown again):\n  {secret}\n\n\
         use it with:\n  export TX_KEY_ID={id} TX_KEY_SECRET={secret}",
        id = cell(&k["id"]),
        name = cell(&k["name"]),
        scopes = cell(&k["scopes"]),
        secret = cell(&k["secret"]),
    )
}

fn keys_table(v: &Value) -> String {
    list_table(
        v,
        "keys",
        &["ID", "NAME", "SCOPES", "STATUS", "CREATED", "LAST USED"],
        |k| {
            vec![
                cell(&k["id"]),
                cell(&k["name"]),
                scopes_cell(k),
                cell(&k["status"]),
                time(&k["created_at"]),
                time(&k["last_used_at"]),
            ]
        },
    )
}

fn key_details(k: &Value) -> String {
    let rows = [
        ("id", cell(&k["id"])),
        ("name", cell(&k["name"])),
        ("scopes", cell(&k["scopes"])),
        ("audiences", cell(&k["conditions"]["audiences"])),
        ("status", cell(&k["status"])),
        ("created", time(&k["created_at"])),
        ("created by", cell(&k["created_by"])),
        ("revoked", time(&k["revoked_at"])),
        ("last used", time(&k["last_used_at"])),
    ];
    rows.iter()
        .map(|(k, v)| format!("{k:<11} {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn signing_keys_table(v: &Value) -> String {
    list_table(v, "keys", &["KID", "STATUS", "CREATED", "RETIRED"], |k| {
        vec![
            cell(&k["kid"]),
            cell(&k["status"]),
            time(&k["created_at"]),
            time(&k["retired_at"]),
        ]
    })
}

fn audit_table(v: &Value) -> String {
    list_table(v, "entries", &["TIME", "ACTOR", "ACTION", "TARGET"], |e| {
        vec![
            time(&json!(e["at_ms"].as_u64().map(|ms| ms / 1000))),
            cell(&e["actor"]),
            cell(&e["action"]),
            cell(&e["target"]),
        ]
    })
}
