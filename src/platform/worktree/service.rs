//! A session's worktree from creation to release, each step written to the event log.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::journal::{self, Journal, WorktreeRecord};
use super::merge::{self, MergeOutcome, Strategy};
use super::repo;
use super::{file_list, WorktreeError, BRANCH_PREFIX, WORKTREES_DIR};

/// How a new worktree starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// Branch or commit to start from (default: the repository's HEAD).
    pub base: Option<String>,
    /// Branch name (default `session/<sessionId>`).
    pub branch: Option<String>,
    /// A forked session: start from the HEAD of this (parent) session's worktree, and
    /// merge back into the branch the parent's worktree came from.
    pub from_session: Option<String>,
}

/// What a commit recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// The new commit.
    pub commit_hash: String,
    /// Its message.
    pub message: String,
    /// Files in it.
    pub files_changed: Vec<String>,
    /// Lines inserted.
    pub insertions: i64,
    /// Lines deleted.
    pub deletions: i64,
}

/// What to do with uncommitted changes when a worktree is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoveMode {
    /// Refuse (nothing is lost).
    #[default]
    Refuse,
    /// Commit them to the session branch first.
    Commit,
    /// Discard them.
    Discard,
}

/// A session's worktree now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// What the log records.
    #[serde(flatten)]
    pub record: WorktreeRecord,
    /// The directory has uncommitted changes.
    pub has_uncommitted_changes: bool,
    /// Commits on the branch since the base commit.
    pub commit_count: i64,
    /// The branch's commits are all in the base branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_merged: Option<bool>,
}

/// What a removal did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    /// The released worktree.
    #[serde(flatten)]
    pub record: WorktreeRecord,
    /// The commit made of uncommitted changes first (with [`RemoveMode::Commit`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_commit: Option<String>,
    /// The directory was removed (it may have been gone already).
    pub deleted: bool,
}

/// Generated commit message of `tron worktree commit` and of a removal with `--commit`
/// (the TypeScript server's release auto-commit).
pub fn auto_save_message(session: &str) -> String {
    format!("Session {session} auto-save")
}

/// The commit made of a session's changes before its branch is merged.
pub fn pre_merge_message(session: &str) -> String {
    format!("Pre-merge commit for {session}")
}

/// The merge (or squash) commit's message.
pub fn merge_message(session: &str, strategy: Strategy) -> String {
    match strategy {
        Strategy::Squash => format!("Squash merge session {session}"),
        _ => format!("Merge session {session}"),
    }
}

/// The worktree `session` holds, if any.
pub fn record_of(j: &dyn Journal, session: &str) -> Result<Option<WorktreeRecord>, WorktreeError> {
    Ok(j.records()?.into_iter().find(|r| r.session_id == session))
}

fn held(j: &dyn Journal, session: &str) -> Result<WorktreeRecord, WorktreeError> {
    if j.session(session)?.is_none() {
        return Err(WorktreeError::SessionNotFound(session.to_owned()));
    }
    record_of(j, session)?.filter(|r| r.isolated).ok_or_else(|| WorktreeError::NoWorktree(session.to_owned()))
}

/// Session ids become directory and branch names: only plain ones.
fn check_session_id(session: &str) -> Result<(), WorktreeError> {
    let ok = !session.is_empty()
        && !session.starts_with('.')
        && session.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(WorktreeError::SessionNotFound(session.to_owned()))
    }
}

/// Creates a worktree and branch for `session` in the repository of its working directory
/// and writes `worktree.acquired`.
pub fn create(j: &dyn Journal, session: &str, opts: &CreateOptions) -> Result<WorktreeRecord, WorktreeError> {
    check_session_id(session)?;
    let info = j.session(session)?.ok_or_else(|| WorktreeError::SessionNotFound(session.to_owned()))?;
    if info.archived {
        return Err(WorktreeError::SessionArchived(session.to_owned()));
    }
    if let Some(r) = record_of(j, session)? {
        return Err(WorktreeError::AlreadyAcquired { session: session.to_owned(), path: r.path });
    }
    let parent = match &opts.from_session {
        Some(_) if opts.base.is_some() => {
            return Err(WorktreeError::BadRef {
                what: "base",
                name: opts.base.clone().unwrap_or_default(),
                kind: "usable with a parent session (give one or the other)",
                repo: PathBuf::from(&info.working_directory),
            })
        }
        Some(p) => Some(held(j, p)?),
        None => None,
    };
    let repo_root = match parent.as_ref().and_then(WorktreeRecord::repo) {
        Some(root) => root,
        None => repo::repo_root(Path::new(&info.working_directory))?,
    };
    let parent_head = match &parent {
        Some(p) => repo::resolve_commit(Path::new(&p.path), "HEAD")?,
        None => None,
    };
    let base_rev = parent_head.as_deref().or(opts.base.as_deref()).unwrap_or("HEAD");
    let base_commit = repo::resolve_commit(&repo_root, base_rev)?.ok_or_else(|| WorktreeError::BadRef {
        what: "base",
        name: base_rev.to_owned(),
        kind: "a commit",
        repo: repo_root.clone(),
    })?;
    let base_branch = match (&parent, opts.base.as_deref()) {
        (Some(p), _) => p.base_branch.clone(),
        (None, Some(b)) if repo::branch_exists(&repo_root, b)? => Some(b.to_owned()),
        (None, Some(_)) => None,
        (None, None) => repo::current_branch(&repo_root)?,
    };
    let branch = opts.branch.clone().unwrap_or_else(|| format!("{BRANCH_PREFIX}{session}"));
    if bad_branch_name(&repo_root, &branch)? {
        return Err(WorktreeError::BadRef {
            what: "branch",
            name: branch,
            kind: "a valid branch name",
            repo: repo_root,
        });
    }
    let path = repo_root.join(WORKTREES_DIR).join(session);
    if path.exists() {
        return Err(WorktreeError::PathTaken(path));
    }
    // An existing branch (a previous worktree of the session, kept at its release) is
    // checked out again rather than replaced.
    let existing = repo::branch_exists(&repo_root, &branch)?;
    if existing && (opts.base.is_some() || parent.is_some()) {
        return Err(WorktreeError::BadRef {
            what: "branch",
            name: branch,
            kind: "a new branch (it exists; drop --base to reuse it)",
            repo: repo_root,
        });
    }
    repo::add_worktree(&repo_root, &path, &branch, (!existing).then_some(base_commit.as_str()))?;
    let base_commit =
        if existing { repo::resolve_commit(&path, "HEAD")?.unwrap_or(base_commit) } else { base_commit };
    let forked_from =
        parent.map(|p| super::journal::ForkedFrom { session_id: p.session_id, commit: base_commit.clone() });
    let record = WorktreeRecord {
        session_id: session.to_owned(),
        path: path.display().to_string(),
        branch: branch.clone(),
        base_commit,
        base_branch,
        repo_root: Some(repo_root.display().to_string()),
        isolated: true,
        forked_from,
    };
    // Written once the worktree exists; a crash in between leaves a worktree without a
    // record, which prune finds.
    if let Err(e) = j.append(session, "worktree.acquired", journal::acquired_payload(&record)) {
        let _ = repo::remove_worktree(&repo_root, &path, true);
        if !existing {
            let _ = super::git::Git::new(&repo_root).run(&["branch", "-D", &branch]);
        }
        return Err(e);
    }
    Ok(record)
}

/// Whether git refuses `branch` as a branch name.
fn bad_branch_name(repo: &Path, branch: &str) -> Result<bool, WorktreeError> {
    Ok(!super::git::Git::new(repo).check(&["check-ref-format", "--branch", branch])?)
}

/// Commits everything in the worktree of `session` (with `message`, else a generated one)
/// and writes `worktree.commit`; `None` when there was nothing to commit.
pub fn commit(
    j: &dyn Journal,
    session: &str,
    message: Option<&str>,
) -> Result<Option<CommitInfo>, WorktreeError> {
    let record = held(j, session)?;
    commit_in(j, &record, message.map_or_else(|| auto_save_message(session), str::to_owned))
}

fn commit_in(
    j: &dyn Journal,
    record: &WorktreeRecord,
    message: String,
) -> Result<Option<CommitInfo>, WorktreeError> {
    let Some(stats) = repo::commit_all(Path::new(&record.path), &message)? else {
        return Ok(None);
    };
    let payload = journal::commit_payload(
        &stats.hash,
        &message,
        &stats.files_changed,
        stats.insertions,
        stats.deletions,
    );
    j.append(&record.session_id, "worktree.commit", payload)?;
    Ok(Some(CommitInfo {
        commit_hash: stats.hash,
        message,
        files_changed: stats.files_changed,
        insertions: stats.insertions,
        deletions: stats.deletions,
    }))
}

/// Merges the branch of `session` into `target` (default: the branch it started from):
/// uncommitted changes are committed first; a success writes `worktree.merged`.
pub fn merge(
    j: &dyn Journal,
    session: &str,
    target: Option<&str>,
    strategy: Strategy,
) -> Result<MergeOutcome, WorktreeError> {
    let record = held(j, session)?;
    let target = match target.filter(|t| !t.is_empty()) {
        Some(t) => t.to_owned(),
        None => record.base_branch.clone().ok_or_else(|| WorktreeError::NoTarget(session.to_owned()))?,
    };
    let repo_root = match record.repo() {
        Some(r) => r,
        None => repo::repo_root(Path::new(&record.path))?,
    };
    // A merge that cannot start changes nothing (not even a commit of pending changes).
    merge::preflight(&repo_root, &record.branch, &target)?;
    commit_in(j, &record, pre_merge_message(session))?;
    let outcome = merge::merge(
        &repo_root,
        Path::new(&record.path),
        &record.branch,
        &target,
        strategy,
        &merge_message(session, strategy),
    )?;
    if outcome.success {
        j.append(session, "worktree.merged", journal::merged_payload(&outcome))?;
    }
    Ok(outcome)
}

/// Removes the worktree of `session` (its branch stays) and writes `worktree.released`.
/// Uncommitted changes are refused, committed or discarded as `mode` says.
pub fn remove(j: &dyn Journal, session: &str, mode: RemoveMode) -> Result<Released, WorktreeError> {
    let record = held(j, session)?;
    release(j, record, mode)
}

/// Removes `record`'s worktree and writes `worktree.released` (when the session still
/// exists).
pub(crate) fn release(
    j: &dyn Journal,
    record: WorktreeRecord,
    mode: RemoveMode,
) -> Result<Released, WorktreeError> {
    let path = PathBuf::from(&record.path);
    let repo_root = match record.repo() {
        Some(r) => r,
        None => repo::repo_root(&path)?,
    };
    let known = repo_root.is_dir() && repo::worktree_at(&repo_root, &path)?.is_some_and(|w| !w.prunable);
    let mut final_commit = None;
    if known {
        let dirty = repo::dirty_files(&path)?;
        if !dirty.is_empty() {
            match mode {
                RemoveMode::Refuse => {
                    return Err(WorktreeError::Dirty {
                        session: record.session_id.clone(),
                        path: record.path.clone(),
                        files: file_list(&dirty),
                    })
                }
                RemoveMode::Commit => {
                    final_commit =
                        commit_in(j, &record, auto_save_message(&record.session_id))?.map(|c| c.commit_hash);
                }
                RemoveMode::Discard => {}
            }
        }
        repo::remove_worktree(&repo_root, &path, mode == RemoveMode::Discard)?;
    } else if repo_root.is_dir() {
        repo::prune_worktrees(&repo_root)?;
    }
    let deleted = !path.exists();
    if j.session(&record.session_id)?.is_some() {
        j.append(
            &record.session_id,
            "worktree.released",
            journal::released_payload(&record, final_commit.as_deref(), deleted),
        )?;
    }
    Ok(Released { record, final_commit, deleted })
}

/// The worktree of `session` now; `None` when it holds none.
pub fn status(j: &dyn Journal, session: &str) -> Result<Option<Status>, WorktreeError> {
    if j.session(session)?.is_none() {
        return Err(WorktreeError::SessionNotFound(session.to_owned()));
    }
    let Some(record) = record_of(j, session)? else { return Ok(None) };
    let dir = Path::new(&record.path);
    if !dir.is_dir() {
        return Ok(Some(Status { record, has_uncommitted_changes: false, commit_count: 0, is_merged: None }));
    }
    let has_uncommitted_changes = !repo::dirty_files(dir)?.is_empty();
    let commit_count = repo::commits_since(dir, &record.base_commit).unwrap_or(0);
    let is_merged = match &record.base_branch {
        Some(b) if record.isolated && commit_count > 0 => {
            Some(repo::is_ancestor(dir, "HEAD", b).unwrap_or(false))
        }
        Some(_) if record.isolated => Some(false),
        _ => None,
    };
    Ok(Some(Status { record, has_uncommitted_changes, commit_count, is_merged }))
}
