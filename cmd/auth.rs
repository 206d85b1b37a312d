//! `tron auth`: sign in with OAuth, store API keys, show what is stored (never a secret),
//! sign out. Flag parsing and printing only; the work is in `tron::auth`.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use tron::auth::{
    env_credential_vars, expiry, fresh_tokens, login, update, AuthFile, LoginOptions, OAuthConfig,
    OAuthProvider,
};
use tron::llm::models::ProviderKind;
use tron::settings::Paths;

use crate::output::{print_json, print_out};

#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Debug, Subcommand)]
enum AuthCommand {
    /// Sign in with OAuth: anthropic (Claude Pro/Max), openai-codex (ChatGPT), google
    /// (Cloud Code Assist) or google-antigravity
    Login {
        /// anthropic, openai-codex (or openai), google, google-antigravity
        provider: String,
        /// Print the URL and read the code (or the redirect URL) from stdin instead of
        /// waiting for the browser's redirect
        #[arg(long)]
        no_browser: bool,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show each provider's stored credential: kind, expiry, account (never the secret)
    Status {
        /// Print as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove a provider's stored keys and tokens
    Logout {
        /// anthropic, openai, openai-codex, google, ...
        provider: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Store an API key for a provider, read from stdin (never from the command line)
    SetKey {
        /// anthropic, openai, openai-codex, google
        provider: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
    /// Refresh a provider's stored OAuth tokens now if they expire within 5 minutes
    Refresh {
        /// anthropic, openai-codex, google
        provider: String,
        /// Print the result as JSON
        #[arg(long)]
        json: bool,
    },
}

const KEY_PROVIDERS: &[&str] = &["anthropic", "openai", "openai-codex", "google"];

pub fn run(args: AuthArgs) -> Result<()> {
    let path = Paths::from_env().auth_file();
    let env = |n: &str| std::env::var(n).ok();
    match args.command {
        AuthCommand::Login { provider, no_browser, json } => {
            let p = oauth_provider(&provider)?;
            // A file that does not parse stops the login before anything happens.
            let file = AuthFile::load(&path)?;
            let cfg = OAuthConfig::new(p, &env, file.as_ref())?;
            let opts = LoginOptions {
                no_browser,
                no_open: env("TRON_AUTH_NO_OPEN").is_some_and(|v| !v.is_empty() && v != "0"),
                timeout: env("TRON_AUTH_LOGIN_TIMEOUT_SECS")
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_secs),
            };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let say = |m: &str| eprintln!("{m}");
            let grant = rt.block_on(login(&cfg, &opts, &say))?;
            update(&path, |f| grant.store(p, f))?;
            let id = p.store_id();
            if json {
                print_json(&json!({
                    "provider": id, "kind": "oauth", "expiresAt": grant.tokens.expires_at,
                    "account": grant.account, "authFile": path,
                }))
            } else {
                let who = grant.account.as_deref().map(|a| format!(" as {a}")).unwrap_or_default();
                print_out(format_args!(
                    "signed in to {id}{who}; token valid until {} (refreshed automatically); saved to {}\n",
                    expiry(grant.tokens.expires_at),
                    path.display()
                ))
            }
        }
        AuthCommand::Status { json } => status(&path, json),
        AuthCommand::Logout { provider, json } => {
            let id = store_id(&provider);
            if AuthFile::load(&path)?.is_none() {
                return report(json, &id, false, &format!("{id}: nothing stored (no auth file)\n"));
            }
            let removed = update(&path, |f| f.remove_provider(&id))?;
            let text =
                if removed { format!("signed out of {id}\n") } else { format!("{id}: nothing stored\n") };
            report(json, &id, removed, &text)
        }
        AuthCommand::SetKey { provider, json } => {
            let id = store_id(&provider);
            if !KEY_PROVIDERS.contains(&id.as_str()) {
                bail!("unknown provider {provider:?}: expected one of {}", KEY_PROVIDERS.join(", "));
            }
            AuthFile::load(&path)?;
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprintln!("Paste the {id} API key and press Enter (then Ctrl-D):");
            }
            let mut key = String::new();
            stdin.read_to_string(&mut key).context("cannot read the key from stdin")?;
            let key = key.trim();
            if key.is_empty() {
                bail!("no API key on stdin (pipe it in: `printf %s \"$KEY\" | tron auth set-key {id}`)");
            }
            if key.contains(char::is_whitespace) {
                bail!("the text on stdin is not one API key (it holds whitespace)");
            }
            update(&path, |f| f.set_api_key(&id, key))?;
            if json {
                print_json(&json!({"provider": id, "kind": "apiKey", "saved": true, "authFile": path}))
            } else {
                print_out(format_args!("saved the {id} API key to {}\n", path.display()))
            }
        }
        AuthCommand::Refresh { provider, json } => {
            let p = oauth_provider(&provider)?;
            let file = AuthFile::load(&path)?;
            let cfg = OAuthConfig::new(p, &env, file.as_ref())?;
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let tokens = rt.block_on(fresh_tokens(&path, &cfg, None))?;
            if json {
                print_json(
                    &json!({"provider": p.store_id(), "kind": "oauth", "expiresAt": tokens.expires_at}),
                )
            } else {
                print_out(format_args!("{}: token valid until {}\n", p.store_id(), expiry(tokens.expires_at)))
            }
        }
    }
}

fn oauth_provider(name: &str) -> Result<OAuthProvider> {
    OAuthProvider::parse(name).with_context(|| {
        format!("unknown provider {name:?} for OAuth: expected anthropic, openai-codex, google or google-antigravity")
    })
}

/// The auth file key for a provider name (`openai-codex` stays, `google-antigravity` is
/// `google`, anything else as given).
fn store_id(name: &str) -> String {
    match name {
        "codex" | "chatgpt" => "openai-codex".into(),
        "google-antigravity" | "antigravity" | "gemini" => "google".into(),
        "claude" => "anthropic".into(),
        other => other.to_owned(),
    }
}

fn report(json: bool, id: &str, removed: bool, text: &str) -> Result<()> {
    if json {
        print_json(&json!({"provider": id, "removed": removed}))
    } else {
        print_out(format_args!("{text}"))
    }
}

fn status(path: &Path, json: bool) -> Result<()> {
    let file = AuthFile::load(path)?;
    let providers = file.as_ref().map(|f| f.status()).unwrap_or_default();
    // Which credential variables are set in the environment (names only; they win).
    let mut env_vars: Vec<&str> = Vec::new();
    for kind in [ProviderKind::Anthropic, ProviderKind::OpenAi, ProviderKind::Google] {
        env_vars.extend(
            env_credential_vars(kind).iter().filter(|v| std::env::var(v).is_ok_and(|s| !s.is_empty())),
        );
    }
    for var in ["OPENAI_OAUTH_TOKEN", tron::agent::setup::GOOGLE_OAUTH_TOKEN] {
        if std::env::var(var).is_ok_and(|s| !s.is_empty()) {
            env_vars.push(var);
        }
    }
    if json {
        return print_json(&json!({
            "authFile": path, "exists": file.is_some(), "providers": providers, "environment": env_vars,
        }));
    }
    let mut text = format!("auth file: {}{}\n", path.display(), if file.is_some() { "" } else { " (none)" });
    let now = chrono::Utc::now().timestamp_millis();
    for p in &providers {
        text.push_str(&format!("{:<14} {}", p.provider, p.kind));
        if let Some(at) = p.expires_at {
            let state = if at <= now { "expired" } else { "expires" };
            text.push_str(&format!(", {state} {}", expiry(at)));
        }
        if p.kind == "oauth" && p.has_api_key {
            text.push_str(", API key also stored");
        }
        if let Some(a) = &p.account {
            text.push_str(&format!(", account {a}"));
        }
        if !p.accounts.is_empty() {
            text.push_str(&format!(", accounts: {}", p.accounts.join(", ")));
        }
        text.push('\n');
    }
    if providers.is_empty() {
        text.push_str("no stored credentials (tron auth login PROVIDER, tron auth set-key PROVIDER)\n");
    }
    if !env_vars.is_empty() {
        text.push_str(&format!("environment (wins over the file): {}\n", env_vars.join(", ")));
    }
    print_out(format_args!("{text}"))
}
