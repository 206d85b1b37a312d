//! Git worktrees that isolate sessions: each session can work in its own checkout, on its
//! own branch, so parallel sessions never trample each other's files.
//!
//! Layout (the TypeScript server's): a session's worktree is `<repo>/.worktrees/<sessionId>`
//! on the branch `session/<sessionId>` (the directory is added to the repository's
//! `.git/info/exclude`, so the main checkout never sees it as untracked).
//!
//! Owns: creating a worktree for a session ([`service::create`], from HEAD or a named base),
//! committing its working directory ([`service::commit`]), merging its branch back
//! ([`merge`]: fast-forward, merge, squash or rebase; a conflict aborts the merge, leaves the
//! target branch as it was and names the conflicting files), releasing it
//! ([`service::remove`]: refuses a dirty worktree unless told to commit or discard first;
//! the branch is always kept) and finding and pruning orphans ([`recovery`]). Every change
//! is written to the event log as `worktree.acquired`, `worktree.commit`, `worktree.merged`
//! and `worktree.released` (the TypeScript payloads), through a [`Journal`]; the log is the
//! source of truth for which session holds which worktree.
//!
//! When a worktree is made is the caller's choice: `tron worktree create`, the RPC
//! `worktree.acquire`, a fork of a session that holds one, and `tron serve`'s isolation of
//! new sessions (`session.isolation.mode`: lazy by default, as in the TypeScript server —
//! the first session of a repository works in its main checkout, a session created while
//! that one is open gets a worktree; `always`; `never`), decided in rpc/handlers/worktree.rs.
//!
//! Every git operation runs the `git` binary through [`git::Git`] (writes must be done by
//! git itself, and the few reads cost a couple of milliseconds each, so one runner serves
//! both). Must not: speak the wire (rpc/handlers/worktree.rs shapes results), print, or run
//! on the async runtime (callers use a blocking thread).

pub mod git;
pub mod journal;
pub mod merge;
pub mod recovery;
pub mod repo;
pub mod service;

use std::path::PathBuf;

pub use journal::{Journal, WorktreeRecord};
pub use merge::{MergeOutcome, Strategy};
pub use recovery::{Finding, FindingKind, PruneReport};
pub use service::{CommitInfo, RemoveMode, Status};

/// Branches of session worktrees are `session/<sessionId>`.
pub const BRANCH_PREFIX: &str = "session/";
/// Session worktrees live in this directory of the repository root.
pub const WORKTREES_DIR: &str = ".worktrees";
/// Temporary worktrees a merge makes for a target branch that is checked out nowhere start
/// with this (inside [`WORKTREES_DIR`]); a crash can leave one behind for prune.
pub const MERGE_DIR_PREFIX: &str = ".merge-";

/// What can go wrong, each saying what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// The git binary could not be started.
    #[error("cannot run git: {0} (is git installed and on PATH?)")]
    GitMissing(String),
    /// A git command failed.
    #[error("`{command}` failed in {}: {stderr}", dir.display())]
    Git {
        /// The command line.
        command: String,
        /// Where it ran.
        dir: PathBuf,
        /// What git said.
        stderr: String,
    },
    /// The directory is not inside a git repository.
    #[error("{} is not inside a git repository (run `git init` there, or pick a repository)", .0.display())]
    NotARepo(PathBuf),
    /// A base or target that is not a commit or branch.
    #[error("{what} {name:?} is not {kind} of {}", repo.display())]
    BadRef {
        /// `base` or `target branch`.
        what: &'static str,
        /// The name given.
        name: String,
        /// `a commit` or `a branch`.
        kind: &'static str,
        /// The repository.
        repo: PathBuf,
    },
    /// No session with that id in the event log.
    #[error("no session {0} in the event log (see `tron events list`)")]
    SessionNotFound(String),
    /// The session is archived.
    #[error("session {0} is archived; unarchive it before giving it a worktree")]
    SessionArchived(String),
    /// The session holds no worktree.
    #[error("session {0} has no worktree (create one with `tron worktree create {0}`)")]
    NoWorktree(String),
    /// The session already holds a worktree.
    #[error("session {session} already has a worktree at {path}")]
    AlreadyAcquired {
        /// The session.
        session: String,
        /// Its worktree.
        path: String,
    },
    /// Something else is in the way of a new worktree.
    #[error("{} already exists; run `tron worktree prune` or remove it", .0.display())]
    PathTaken(PathBuf),
    /// The session's worktree has uncommitted changes and nothing was said about them.
    #[error(
        "the worktree of session {session} at {path} has uncommitted changes ({files}); commit \
         them first (`tron worktree commit {session}`), or remove with --commit to commit them \
         or --force to discard them"
    )]
    Dirty {
        /// The session.
        session: String,
        /// Its worktree.
        path: String,
        /// The changed files.
        files: String,
    },
    /// The target of a merge is checked out with uncommitted changes.
    #[error(
        "branch {branch} is checked out at {path} with uncommitted changes ({files}); commit \
         or stash them before merging into it"
    )]
    TargetDirty {
        /// The target branch.
        branch: String,
        /// Where it is checked out.
        path: String,
        /// The changed files.
        files: String,
    },
    /// No target branch given and none recorded.
    #[error("session {0} was not created from a branch; name the branch to merge into")]
    NoTarget(String),
    /// An unknown merge strategy.
    #[error("unknown merge strategy {0:?}: use fast-forward, merge, squash or rebase")]
    BadStrategy(String),
    /// The event log failed.
    #[error(transparent)]
    Store(#[from] crate::events::StoreError),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        source: std::io::Error,
    },
}

impl WorktreeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Shortens a list of files for a message: the first few, then how many more.
pub(crate) fn file_list(files: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = files.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if files.len() > SHOWN {
        s.push_str(&format!(" and {} more", files.len() - SHOWN));
    }
    s
}
