//! `worktree.getStatus|commit|merge|list|acquire|release` and `git.clone`.
//!
//! The worktree work itself is [`crate::platform::worktree`]; here it runs on the blocking
//! pool, over a [`Journal`] that reads and appends through the store's writer thread. The
//! `worktree.*` events it persists are not broadcast (the TypeScript server sends
//! `event.new` only for `events.append` and `message.delete`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::store_error;
use crate::core::errors::{RpcError, RpcErrorCode};
use crate::events::SessionEvent;
use crate::platform::worktree::journal::{self, Journal, SessionInfo};
use crate::platform::worktree::{service, RemoveMode, Strategy, WorktreeError, WorktreeRecord};
use crate::rpc::params::{opt_bool, opt_str, required_str, Params};
use crate::rpc::ServerState;

/// The event log as the worktree service sees it from the server.
struct StoreJournal {
    state: Arc<ServerState>,
    rt: tokio::runtime::Handle,
}

impl StoreJournal {
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&crate::events::EventStore) -> Result<T, WorktreeError> + Send + 'static,
    ) -> Result<T, WorktreeError> {
        self.rt.block_on(self.state.store.run(move |s| Ok(f(s))))?
    }
}

impl Journal for StoreJournal {
    fn session(&self, id: &str) -> Result<Option<SessionInfo>, WorktreeError> {
        let id = id.to_owned();
        self.run(move |s| journal::session_in(s, &id))
    }

    fn records(&self) -> Result<Vec<WorktreeRecord>, WorktreeError> {
        self.run(journal::records_in)
    }

    fn known_dirs(&self) -> Result<Vec<PathBuf>, WorktreeError> {
        self.run(journal::known_dirs_in)
    }

    fn append(&self, session: &str, event_type: &str, payload: Value) -> Result<SessionEvent, WorktreeError> {
        let (id, kind) = (session.to_owned(), event_type.to_owned());
        let event = self.rt.block_on(
            self.state
                .store
                .run(move |s| s.append(&id, crate::events::NewEvent::raw(kind.as_str(), payload))),
        )?;
        Ok(event)
    }
}

/// Runs `f` with the server's journal on the blocking pool.
async fn with_journal<T: Send + 'static>(
    state: &Arc<ServerState>,
    f: impl FnOnce(&dyn Journal) -> Result<T, WorktreeError> + Send + 'static,
) -> Result<T, RpcError> {
    let j = StoreJournal { state: state.clone(), rt: tokio::runtime::Handle::current() };
    tokio::task::spawn_blocking(move || f(&j))
        .await
        .map_err(|e| RpcError::internal(e.to_string()))?
        .map_err(rpc_error)
}

/// A worktree error as the wire error.
fn rpc_error(e: WorktreeError) -> RpcError {
    use WorktreeError as W;
    if let W::Store(s) = e {
        return store_error(s);
    }
    let code = match &e {
        W::SessionNotFound(_) => RpcErrorCode::SessionNotFound,
        W::NotARepo(_) | W::BadRef { .. } | W::BadStrategy(_) | W::NoTarget(_) => RpcErrorCode::InvalidParams,
        W::SessionArchived(_)
        | W::AlreadyAcquired { .. }
        | W::PathTaken(_)
        | W::Dirty { .. }
        | W::TargetDirty { .. } => RpcErrorCode::InvalidOperation,
        W::NoWorktree(_) => RpcErrorCode::NotFound,
        W::Git { .. } | W::GitMissing(_) => RpcErrorCode::GitError,
        W::Io { .. } | W::Store(_) => RpcErrorCode::FilesystemError,
    };
    RpcError::new(code, e.to_string())
}

/// `{isolated, branch, baseCommit, path, baseBranch?, repoRoot?}` (the iOS `WorktreeInfo`).
fn info(r: &WorktreeRecord) -> Value {
    let mut v =
        json!({ "isolated": r.isolated, "branch": r.branch, "baseCommit": r.base_commit, "path": r.path });
    if let Some(b) = &r.base_branch {
        v["baseBranch"] = json!(b);
    }
    if let Some(root) = &r.repo_root {
        v["repoRoot"] = json!(root);
    }
    v
}

/// `worktree.getStatus {sessionId}` -> `{hasWorktree, worktree?: {isolated, branch,
/// baseCommit, path, baseBranch?, repoRoot?, hasUncommittedChanges, commitCount, isMerged?}}`.
pub async fn get_status(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let status = with_journal(state, move |j| service::status(j, &session)).await?;
    Ok(match status {
        Some(s) => {
            let mut w = info(&s.record);
            w["hasUncommittedChanges"] = json!(s.has_uncommitted_changes);
            w["commitCount"] = json!(s.commit_count);
            if let Some(m) = s.is_merged {
                w["isMerged"] = json!(m);
            }
            json!({ "hasWorktree": true, "worktree": w })
        }
        None => json!({ "hasWorktree": false }),
    })
}

/// Failures the TypeScript server reports in the result (`success: false, error`) rather
/// than as an error response.
fn in_result(e: &WorktreeError) -> bool {
    !matches!(e, WorktreeError::SessionNotFound(_) | WorktreeError::BadStrategy(_) | WorktreeError::Store(_))
}

/// `worktree.commit {sessionId, message}` -> `{success, commitHash?, filesChanged?,
/// insertions?, deletions?, error?}`; nothing to commit is `{success: true, filesChanged: []}`.
pub async fn commit(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let message = required_str(p, "message")?.to_owned();
    let out = with_journal(state, move |j| Ok(service::commit(j, &session, Some(&message)))).await?;
    match out {
        Ok(Some(c)) => Ok(json!({
            "success": true,
            "commitHash": c.commit_hash,
            "filesChanged": c.files_changed,
            "insertions": c.insertions,
            "deletions": c.deletions,
        })),
        Ok(None) => Ok(json!({ "success": true, "filesChanged": [] })),
        Err(e) if in_result(&e) => Ok(json!({ "success": false, "error": e.to_string() })),
        Err(e) => Err(rpc_error(e)),
    }
}

/// `worktree.merge {sessionId, targetBranch?, strategy?}` -> `{success, mergeCommit?,
/// conflicts?, error?}`. `strategy`: `merge` (default), `squash`, `rebase`, `fast-forward`;
/// `targetBranch` defaults to the branch the worktree was created from.
pub async fn merge(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let target = opt_str(p, "targetBranch")?.map(str::to_owned);
    let strategy: Strategy = opt_str(p, "strategy")?.unwrap_or("merge").parse().map_err(rpc_error)?;
    // A merge commits the worktree (and a rebase rewrites it): not while the agent writes.
    state.check_idle(&session)?;
    let out =
        with_journal(state, move |j| Ok(service::merge(j, &session, target.as_deref(), strategy))).await?;
    match out {
        Ok(o) => {
            let mut v = json!({ "success": o.success });
            if let Some(c) = &o.merge_commit {
                v["mergeCommit"] = json!(c);
            }
            if !o.conflicts.is_empty() {
                v["conflicts"] = json!(o.conflicts);
            }
            if let Some(e) = &o.error {
                v["error"] = json!(e);
            }
            Ok(v)
        }
        Err(e)
            if in_result(&e) && !matches!(e, WorktreeError::BadRef { .. } | WorktreeError::NoTarget(_)) =>
        {
            Ok(json!({ "success": false, "error": e.to_string() }))
        }
        Err(e) => Err(rpc_error(e)),
    }
}

/// `worktree.list` -> `{worktrees: [{sessionId, path, branch, baseCommit, isolated,
/// baseBranch?, repoRoot?}]}`: the worktrees sessions hold.
pub async fn list(state: &Arc<ServerState>) -> Result<Value, RpcError> {
    let records = with_journal(state, |j| j.records()).await?;
    let worktrees: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut v = info(r);
            v["sessionId"] = json!(r.session_id);
            v
        })
        .collect();
    Ok(json!({ "worktrees": worktrees }))
}

/// `worktree.acquire {sessionId, base?, branch?, parentSessionId?}` -> `{acquired: true,
/// path, branch, baseCommit, baseBranch?}`: a worktree for the session, from its
/// repository's HEAD, `base`, or the HEAD of the parent session's worktree (a fork).
pub async fn acquire(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let opts = service::CreateOptions {
        base: opt_str(p, "base")?.filter(|s| !s.is_empty()).map(str::to_owned),
        branch: opt_str(p, "branch")?.filter(|s| !s.is_empty()).map(str::to_owned),
        from_session: opt_str(p, "parentSessionId")?.filter(|s| !s.is_empty()).map(str::to_owned),
    };
    // As the TypeScript coordinator's acquire: a session that already holds a worktree (its
    // own request, or lazy isolation at its creation) gets that one back.
    let r = with_journal(state, move |j| match service::record_of(j, &session)? {
        Some(held) if held.isolated && opts == service::CreateOptions::default() => Ok(held),
        _ => service::create(j, &session, &opts),
    })
    .await?;
    let mut v = json!({ "acquired": true, "path": r.path, "branch": r.branch, "baseCommit": r.base_commit });
    if let Some(b) = &r.base_branch {
        v["baseBranch"] = json!(b);
    }
    Ok(v)
}

/// `worktree.release {sessionId, force?}` -> `{released: true, sessionId, finalCommit?,
/// deleted}`: uncommitted changes are committed first (the TypeScript server's auto-commit
/// on release) unless `force` discards them; the branch is kept.
pub async fn release(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let session = required_str(p, "sessionId")?.to_owned();
    let mode = if opt_bool(p, "force")?.unwrap_or(false) { RemoveMode::Discard } else { RemoveMode::Commit };
    state.check_idle(&session)?;
    let id = session.clone();
    let r = with_journal(state, move |j| service::remove(j, &id, mode)).await?;
    let mut v = json!({ "released": true, "sessionId": session, "deleted": r.deleted });
    if let Some(c) = &r.final_commit {
        v["finalCommit"] = json!(c);
    }
    Ok(v)
}

/// How a session created in a git repository is isolated (`session.isolation.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// The TypeScript server's default: the first session in a repository works in its
    /// main checkout; a session created there while that one is still open gets a worktree.
    Lazy,
    /// Every session in a repository gets a worktree.
    Always,
    /// Worktrees only on request (`worktree.acquire`, `tron worktree create`).
    Never,
}

impl Isolation {
    /// The mode the settings ask for: `session.isolation.mode` `always` or `never`, else lazy.
    pub fn from_settings(settings: &crate::settings::Settings) -> Self {
        match settings.get("session.isolation.mode").and_then(Value::as_str) {
            Some("always") => Isolation::Always,
            Some("never") => Isolation::Never,
            _ => Isolation::Lazy,
        }
    }
}

/// For `session.create`: gives the new `session` (working in `dir`) its own worktree when
/// the isolation mode asks for one, so that parallel sessions never write into each other's
/// files. In lazy mode the first session of a repository takes its main checkout; a later
/// one gets a worktree while the holder is still open (not archived or deleted). Best effort,
/// as in the TypeScript server: outside a repository, or when git fails, the session works
/// in `dir` (a warning is logged).
pub async fn isolate_new_session(
    state: &Arc<ServerState>,
    session: &str,
    dir: &str,
) -> Option<WorktreeRecord> {
    let mode = Isolation::from_settings(&state.settings.current());
    if mode == Isolation::Never {
        return None;
    }
    let path = PathBuf::from(dir);
    let root = tokio::task::spawn_blocking(move || crate::platform::worktree::repo::repo_root(&path))
        .await
        .ok()?
        .ok()?;
    if mode == Isolation::Lazy {
        // Held across the check so that two sessions created at once cannot both take it.
        let mut owners = state.main_checkouts.lock().await;
        let holder = owners.get(&root).cloned();
        let open = match holder {
            Some(h) => {
                let row = state.store.run(move |s| s.session(&h)).await;
                row.is_ok_and(|r| r.archived_at.is_none())
            }
            None => false,
        };
        if !open {
            owners.insert(root, session.to_owned());
            return None;
        }
    }
    let id = session.to_owned();
    match with_journal(state, move |j| service::create(j, &id, &service::CreateOptions::default())).await {
        Ok(record) => Some(record),
        Err(e) => {
            tracing::warn!(session_id = session, error = %e.message, "the new session works in the main checkout");
            None
        }
    }
}

/// For `session.fork`: when the parent session holds a worktree, the fork gets its own,
/// started from the parent's HEAD (`forkedFrom` in `worktree.acquired`); its path. A fork of
/// a session without a worktree works in the parent's directory, as before.
pub async fn acquire_for_fork(state: &Arc<ServerState>, parent: &str, fork: &str) -> Option<String> {
    let (parent, fork) = (parent.to_owned(), fork.to_owned());
    let acquired = with_journal(state, move |j| {
        if !service::record_of(j, &parent)?.is_some_and(|r| r.isolated) {
            return Ok(None);
        }
        let opts = service::CreateOptions { from_session: Some(parent), ..Default::default() };
        service::create(j, &fork, &opts).map(|r| Some(r.path))
    })
    .await;
    acquired.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "the fork works in its parent's directory");
        None
    })
}

/// Releases the worktree of a session that ends (`session.archive`, `session.delete`):
/// uncommitted changes are committed to its branch first (the TypeScript server's
/// auto-commit on release), the branch is kept. Best effort: a worktree that cannot be
/// released stays, and `tron worktree prune` (or the next `tron serve` start) finds it.
pub async fn release_at_end(state: &Arc<ServerState>, session: &str) {
    state.main_checkouts.lock().await.retain(|_, holder| holder != session);
    if state.run(session).is_some() {
        // Its agent still writes there; prune takes it once the session is over.
        return;
    }
    let id = session.to_owned();
    let released = with_journal(state, move |j| match service::record_of(j, &id)? {
        Some(r) if r.isolated => service::remove(j, &id, RemoveMode::Commit).map(Some),
        _ => Ok(None),
    })
    .await;
    if let Err(e) = released {
        tracing::warn!(session_id = session, error = %e.message, "the ended session's worktree stays for prune");
    }
}

/// How long `git.clone` may take.
const CLONE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// `owner/repo` of a GitHub URL (`github.com/o/r`, `https://github.com/o/r.git`, ...).
fn github_repo(url: &str) -> Option<(String, String)> {
    let rest = url.trim();
    let rest = rest.strip_prefix("https://").or_else(|| rest.strip_prefix("http://")).unwrap_or(rest);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let rest = rest.get(..11).filter(|h| h.eq_ignore_ascii_case("github.com/")).map(|_| &rest[11..])?;
    let (owner, name) = rest.split_once('/')?;
    let name = name.strip_suffix(".git").or_else(|| name.strip_suffix(".GIT")).unwrap_or(name);
    let plain = |s: &str| !s.is_empty() && !s.contains('/') && s != "." && s != "..";
    (plain(owner) && plain(name)).then(|| (owner.to_owned(), name.to_owned()))
}

/// `git clone --depth 1 url dest`, killed after [`CLONE_TIMEOUT`].
fn run_clone(url: &str, dest: &Path) -> Result<std::process::Output, RpcError> {
    let git_error = |m: String| RpcError::new(RpcErrorCode::GitError, m);
    let mut child = std::process::Command::new("git")
        .args(["clone", "--depth", "1", url])
        .arg(dest)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        // git prints only errors here (no terminal, no --progress): the pipe never fills.
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| git_error(format!("Failed to spawn git: {e}")))?;
    let deadline = std::time::Instant::now() + CLONE_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| git_error(e.to_string())),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(git_error("Clone timed out. Try again or use a smaller repository.".into()));
            }
        }
    }
}

/// `git.clone {url, targetPath}` -> `{success: true, path, repoName}`: a shallow clone of a
/// public GitHub repository (the only kind the TypeScript server clones).
pub async fn clone(state: &Arc<ServerState>, p: &Params) -> Result<Value, RpcError> {
    let url = required_str(p, "url")?;
    let target = required_str(p, "targetPath")?;
    let (owner, name) = github_repo(url).ok_or_else(|| {
        RpcError::new(RpcErrorCode::InvalidParams, "Enter a valid GitHub URL (e.g., github.com/owner/repo)")
    })?;
    if target.contains("..") {
        return Err(RpcError::invalid_params("Path traversal not allowed"));
    }
    let home = (state.env)("HOME").unwrap_or_else(|| "/".into());
    let target = Path::new(&home).join(target);
    if tokio::fs::symlink_metadata(&target).await.is_ok() {
        return Err(RpcError::new(
            RpcErrorCode::AlreadyExists,
            "Folder already exists. Choose a different name.",
        ));
    }
    if let Some(parent) = target.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(|_| {
            RpcError::new(
                RpcErrorCode::FileNotFound,
                format!("Parent directory does not exist and could not be created: {}", parent.display()),
            )
        })?;
    }
    let url = format!("https://github.com/{owner}/{name}.git");
    let dest = target.clone();
    let out = tokio::task::spawn_blocking(move || run_clone(&url, &dest))
        .await
        .map_err(|e| RpcError::internal(e.to_string()))??;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        let message = if stderr.contains("Repository not found") {
            "Repository not found. Check the URL and ensure the repo is public.".to_owned()
        } else if stderr.contains("Could not resolve host") {
            "Network error. Check your connection.".to_owned()
        } else if stderr.contains("Authentication failed") {
            "Authentication failed. This may be a private repository.".to_owned()
        } else if stderr.is_empty() {
            "Clone failed".to_owned()
        } else {
            stderr
        };
        return Err(RpcError::new(RpcErrorCode::GitError, message));
    }
    Ok(json!({ "success": true, "path": target.display().to_string(), "repoName": name }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_github_repository_urls_are_cloned() {
        let ok = |u: &str| github_repo(u).map(|(o, n)| format!("{o}/{n}"));
        assert_eq!(ok("github.com/mhismail3/tron").as_deref(), Some("mhismail3/tron"));
        assert_eq!(ok("https://www.github.com/a/b.git").as_deref(), Some("a/b"));
        assert_eq!(ok(" http://GitHub.com/a/b ").as_deref(), Some("a/b"));
        for bad in
            ["gitlab.com/a/b", "github.com/a", "github.com/a/b/c", "file:///tmp/x", "github.com/../b", ""]
        {
            assert_eq!(github_repo(bad), None, "{bad}");
        }
    }
}
