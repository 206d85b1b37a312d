//! Serialising writers of the auth file: a lock file next to it (`auth.json.lock`, created
//! with `create_new`, removed on drop; one older than [`STALE_AFTER`] is taken over) plus an
//! in-process mutex, so two sessions or two tron processes never refresh the same token at
//! once and lose the rotated refresh token. Every update re-reads the file under the lock.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::file::{AuthError, AuthFile, Tokens};
use super::oauth::{OAuthConfig, REFRESH_BUFFER_MS};

/// A lock file older than this is left over from a crashed process and is taken over.
pub const STALE_AFTER: Duration = Duration::from_secs(60);
const WAIT_AT_MOST: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(25);

/// Held while the auth file is being updated; removing the lock file on drop.
#[derive(Debug)]
pub struct FileLock {
    path: PathBuf,
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_path(auth_file: &Path) -> PathBuf {
    let mut name = auth_file.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "auth.json".into());
    name.push(".lock");
    auth_file.with_file_name(name)
}

/// One attempt: `Some(lock)` when taken.
fn try_lock(auth_file: &Path) -> Result<Option<FileLock>, AuthError> {
    let path = lock_path(auth_file);
    let write_err = |source| AuthError::Write { path: path.clone(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(write_err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            let _ = writeln!(f, "{}", std::process::id());
            Ok(Some(FileLock { path }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let age = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok());
            if age.is_some_and(|a| a > STALE_AFTER) {
                let _ = std::fs::remove_file(&path);
            }
            Ok(None)
        }
        Err(e) => Err(write_err(e)),
    }
}

impl FileLock {
    /// Waits (blocking the thread) for the lock of `auth_file`.
    pub fn acquire_blocking(auth_file: &Path) -> Result<FileLock, AuthError> {
        let start = std::time::Instant::now();
        loop {
            if let Some(l) = try_lock(auth_file)? {
                return Ok(l);
            }
            if start.elapsed() > WAIT_AT_MOST {
                return Err(AuthError::Locked { path: auth_file.to_owned() });
            }
            std::thread::sleep(POLL);
        }
    }

    /// Waits (asynchronously) for the lock of `auth_file`.
    pub async fn acquire(auth_file: &Path) -> Result<FileLock, AuthError> {
        let start = std::time::Instant::now();
        loop {
            if let Some(l) = try_lock(auth_file)? {
                return Ok(l);
            }
            if start.elapsed() > WAIT_AT_MOST {
                return Err(AuthError::Locked { path: auth_file.to_owned() });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Applies `change` to the auth file under its lock (re-read first; a missing file starts
/// empty; a file that does not parse is an error and is left alone) and saves it.
pub fn update<R>(auth_file: &Path, change: impl FnOnce(&mut AuthFile) -> R) -> Result<R, AuthError> {
    let _lock = FileLock::acquire_blocking(auth_file)?;
    let mut file = AuthFile::load_or_empty(auth_file)?;
    let out = change(&mut file);
    file.save()?;
    Ok(out)
}

static REFRESHING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Whether `tokens` should be refreshed at `now_ms` (expired, or expiring within
/// [`REFRESH_BUFFER_MS`]).
pub fn needs_refresh(tokens: &Tokens, now_ms: i64) -> bool {
    tokens.expires_at - REFRESH_BUFFER_MS <= now_ms
}

/// The provider's stored OAuth tokens, refreshed first when they expire within the buffer,
/// or — `rejected` set, after the provider answered 401 — when the stored access token is
/// still the rejected one. Serialised in-process and across processes; the file is re-read
/// under the lock, so a refresh another process just did is used, not repeated.
pub async fn fresh_tokens(
    auth_file: &Path,
    cfg: &OAuthConfig,
    rejected: Option<&str>,
) -> Result<Tokens, AuthError> {
    let id = cfg.provider.store_id();
    let _inproc = REFRESHING.lock().await;
    let _lock = FileLock::acquire(auth_file).await?;
    let path = auth_file.to_owned();
    let mut file = tokio::task::spawn_blocking(move || AuthFile::load(&path))
        .await
        .map_err(|e| AuthError::OAuth(e.to_string()))??
        .ok_or_else(|| AuthError::OAuth(format!("no auth file; run `tron auth login {id}`")))?;
    let stored = match &cfg.account {
        Some(label) => file.account_oauth(id, label),
        None => file.oauth(id),
    };
    let tokens = stored.ok_or_else(|| {
        let which = cfg.account.as_ref().map_or(String::new(), |l| format!(" for account {l:?}"));
        AuthError::OAuth(format!("no {id} OAuth tokens{which} in the auth file; run `tron auth login {id}`"))
    })?;
    let stale = match rejected {
        Some(bad) => tokens.access_token == bad,
        None => needs_refresh(&tokens, chrono::Utc::now().timestamp_millis()),
    };
    if !stale {
        return Ok(tokens);
    }
    let grant = cfg.refresh(&tokens.refresh_token).await.map_err(|e| {
        AuthError::OAuth(format!(
            "{e}; the stored token is kept; run `tron auth login {id}` to sign in again"
        ))
    })?;
    match &cfg.account {
        Some(label) => file.set_account_oauth(id, label, &grant.tokens),
        None => file.set_oauth(id, &grant.tokens),
    }
    tokio::task::spawn_blocking(move || file.save()).await.map_err(|e| AuthError::OAuth(e.to_string()))??;
    Ok(grant.tokens)
}
