//! The interactive part of an OAuth login: the authorization URL, a one-shot callback
//! server on 127.0.0.1 for the redirect (checking `state`), or — `--no-browser`, or a
//! provider whose redirect page is its own (Anthropic) — reading the code or the whole
//! redirect URL pasted on stdin. Ends with the code-for-token exchange; storing the grant
//! is the caller's job, so a failed login changes nothing.

use std::io::BufRead;
use std::time::Duration;

use super::file::AuthError;
use super::oauth::{Grant, OAuthConfig};
use super::pkce::{parse_query, random_token, Pkce};

/// How to run a login.
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// Print the URL and read the code from stdin instead of running a callback server.
    pub no_browser: bool,
    /// Do not try to open a browser (the URL is printed either way).
    pub no_open: bool,
    /// Give up waiting for the redirect after this long (default 5 minutes).
    pub timeout: Option<Duration>,
}

/// What came back on the redirect.
#[derive(Debug)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

impl Callback {
    fn from_pairs(pairs: Vec<(String, String)>) -> Callback {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let error = get("error").map(|e| match get("error_description") {
            Some(d) => format!("{e} ({d})"),
            None => e,
        });
        Callback { code: get("code"), state: get("state"), error }
    }

    /// The text pasted by the user: a redirect URL, `code#state`, or the bare code.
    fn from_paste(text: &str) -> Callback {
        let text = text.trim();
        if text.contains("code=") || text.contains("error=") {
            return Self::from_pairs(parse_query(text));
        }
        match text.split_once('#') {
            Some((code, state)) => {
                Callback { code: Some(code.to_owned()), state: Some(state.to_owned()), error: None }
            }
            None => {
                Callback { code: Some(text.to_owned()).filter(|c| !c.is_empty()), state: None, error: None }
            }
        }
    }

    /// The code, after checking the provider's error and the state.
    fn into_code(self, name: &str, state: &str, state_required: bool) -> Result<String, AuthError> {
        if let Some(e) = self.error {
            return Err(AuthError::OAuth(format!("{name} sign-in was refused: {e}")));
        }
        match self.state.as_deref() {
            Some(s) if s != state => {
                return Err(AuthError::OAuth(format!(
                    "{name} sign-in failed: the redirect's state does not match this login (a stale or forged redirect); try again"
                )))
            }
            None if state_required => {
                return Err(AuthError::OAuth(format!("{name} sign-in failed: the redirect has no state")))
            }
            _ => {}
        }
        self.code.ok_or_else(|| AuthError::OAuth(format!("{name} sign-in failed: no authorization code")))
    }
}

/// Whether the redirect URI points at this machine over plain HTTP (a callback server can
/// answer it): `(host, port, path)`.
fn loopback(uri: &str) -> Option<(String, u16, String)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) =
        rest.split_once('/').map_or((rest, String::from("/")), |(a, p)| (a, format!("/{p}")));
    let (host, port) = authority.rsplit_once(':').map_or((authority, Some(80)), |(h, p)| (h, p.parse().ok()));
    matches!(host, "localhost" | "127.0.0.1").then(|| (host.to_owned(), port.unwrap_or(80), path))
}

/// Runs `login` for `cfg`: prints the URL on stderr through `say`, waits for the redirect
/// (or reads the pasted code from stdin), exchanges the code.
pub async fn login(
    cfg: &OAuthConfig,
    opts: &LoginOptions,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Grant, AuthError> {
    let name = cfg.provider.store_id();
    let pkce = Pkce::generate();
    let state = random_token();
    let timeout = opts.timeout.unwrap_or(Duration::from_secs(300));
    let server = if opts.no_browser { None } else { loopback(&cfg.redirect_uri) };
    let (code, redirect_uri) = match server {
        Some((host, port, path)) => {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
                AuthError::OAuth(format!(
                    "cannot listen on 127.0.0.1:{port} for the {name} sign-in redirect ({e}); use --no-browser"
                ))
            })?;
            let port = listener.local_addr().map_err(|e| AuthError::OAuth(e.to_string()))?.port();
            let redirect_uri = format!("http://{host}:{port}{path}");
            let url = cfg.authorize_url(&pkce.challenge, &state, &redirect_uri);
            say(&format!("Open this URL to sign in to {name}:\n{url}"));
            if !opts.no_open {
                open_browser(&url);
            }
            say(&format!("Waiting for the redirect to {redirect_uri} ..."));
            let got = wait_for_redirect(listener, &path, &state, timeout).await?;
            (got.into_code(name, &state, true)?, redirect_uri)
        }
        None => {
            let url = cfg.authorize_url(&pkce.challenge, &state, &cfg.redirect_uri);
            say(&format!("Open this URL to sign in to {name}:\n{url}"));
            if !opts.no_open && !opts.no_browser {
                open_browser(&url);
            }
            say("Paste the authorization code (or the whole URL you were sent to) and press Enter:");
            let line = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map(|_| line)
            })
            .await
            .map_err(|e| AuthError::OAuth(e.to_string()))?
            .map_err(|e| AuthError::OAuth(format!("cannot read the code from stdin: {e}")))?;
            (Callback::from_paste(&line).into_code(name, &state, false)?, cfg.redirect_uri.clone())
        }
    };
    cfg.exchange_code(&code, &pkce.verifier, &state, &redirect_uri).await
}

/// Serves `path` on `listener` until one redirect arrives (other paths get 404), answers it
/// with a short page, and returns what it carried.
async fn wait_for_redirect(
    listener: tokio::net::TcpListener,
    path: &str,
    state: &str,
    timeout: Duration,
) -> Result<Callback, AuthError> {
    use axum::extract::{RawQuery, State};
    use axum::response::{Html, IntoResponse};
    use std::sync::{Arc, Mutex};

    type Slot = Arc<Mutex<Option<tokio::sync::oneshot::Sender<Callback>>>>;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let slot: Slot = Arc::new(Mutex::new(Some(tx)));
    let expected = state.to_owned();
    let handler = move |State(slot): State<Slot>, RawQuery(q): RawQuery| {
        let expected = expected.clone();
        async move {
            let cb = Callback::from_pairs(parse_query(q.as_deref().unwrap_or("")));
            let (status, page) = if cb.error.is_some() {
                (axum::http::StatusCode::OK, "Sign-in was refused. You can close this tab.")
            } else if cb.state.as_deref() != Some(expected.as_str()) {
                (
                    axum::http::StatusCode::BAD_REQUEST,
                    "State mismatch: this redirect is not for the running login.",
                )
            } else {
                (axum::http::StatusCode::OK, "Signed in to tron. You can close this tab.")
            };
            if let Some(tx) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(cb);
            }
            (status, Html(format!("<!doctype html><p>{page}</p>"))).into_response()
        }
    };
    let app = axum::Router::new().route(path, axum::routing::get(handler)).with_state(slot);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await;
    });
    let got = tokio::time::timeout(timeout, rx).await;
    // Let the browser get its page before the server stops.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    match got {
        Ok(Ok(cb)) => Ok(cb),
        Ok(Err(_)) => Err(AuthError::OAuth("the sign-in callback server stopped".into())),
        Err(_) => Err(AuthError::OAuth(format!(
            "no sign-in redirect within {}s; try again or use --no-browser",
            timeout.as_secs()
        ))),
    }
}

/// Tries `open` (macOS) or `xdg-open`; never fails (the URL is printed anyway).
fn open_browser(url: &str) {
    let cmd = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let _ = std::process::Command::new(cmd)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_codes() {
        let cb = Callback::from_paste("http://localhost:1455/auth/callback?code=abc&state=s1\n");
        assert_eq!(cb.into_code("x", "s1", true).unwrap(), "abc");
        assert_eq!(Callback::from_paste("abc#s1").into_code("x", "s1", false).unwrap(), "abc");
        assert_eq!(Callback::from_paste(" abc ").into_code("x", "s1", false).unwrap(), "abc");
        let e = Callback::from_paste("abc#other").into_code("x", "s1", false).unwrap_err().to_string();
        assert!(e.contains("state does not match"), "{e}");
        let e = Callback::from_paste("http://h/cb?error=access_denied&state=s1").into_code("x", "s1", true);
        assert!(e.unwrap_err().to_string().contains("access_denied"));
        assert!(Callback::from_paste("").into_code("x", "s1", false).is_err());
    }

    #[test]
    fn loopback_redirects() {
        assert_eq!(
            loopback("http://localhost:1455/auth/callback"),
            Some(("localhost".into(), 1455, "/auth/callback".into()))
        );
        assert_eq!(loopback("http://localhost:45289"), Some(("localhost".into(), 45289, "/".into())));
        assert_eq!(loopback("http://127.0.0.1:0/cb"), Some(("127.0.0.1".into(), 0, "/cb".into())));
        assert_eq!(loopback("https://console.anthropic.com/oauth/code/callback"), None);
    }
}
