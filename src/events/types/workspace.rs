//! Working-tree payloads: `file.read`, `file.write`, `file.edit`, `worktree.acquired`,
//! `worktree.commit`, `worktree.released`, `worktree.merged`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::SessionId;

/// Written for change tracking when the agent reads a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReadPayload {
    /// File path.
    pub path: String,
    /// Line range read, when partial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<LineRange>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `{start, end}` line range (`file.read`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineRange {
    /// First line.
    pub start: i64,
    /// Last line.
    pub end: i64,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written for change tracking when the agent writes a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileWritePayload {
    /// File path.
    pub path: String,
    /// Bytes written.
    pub size: i64,
    /// Hash of the content.
    pub content_hash: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written for change tracking when the agent edits a file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileEditPayload {
    /// File path.
    pub path: String,
    /// Replaced text.
    pub old_string: String,
    /// Replacement text.
    pub new_string: String,
    /// Diff of the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when a session gets its working directory (an isolated git worktree or the
/// shared main directory).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeAcquiredPayload {
    /// Filesystem path of the working directory.
    pub path: String,
    /// Git branch.
    pub branch: String,
    /// Starting commit.
    pub base_commit: String,
    /// Whether it is an isolated worktree.
    pub isolated: bool,
    /// Parent session's worktree, for forks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<WorktreeForkedFrom>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `forkedFrom` of `worktree.acquired`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeForkedFrom {
    /// Parent session.
    pub session_id: SessionId,
    /// Commit forked from.
    pub commit: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when changes are committed in the session's worktree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeCommitPayload {
    /// Commit hash.
    pub commit_hash: String,
    /// Commit message.
    pub message: String,
    /// Files in the commit.
    pub files_changed: Vec<String>,
    /// Lines inserted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insertions: Option<i64>,
    /// Lines deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletions: Option<i64>,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when the session releases its working directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeReleasedPayload {
    /// Final commit, when changes were committed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_commit: Option<String>,
    /// Whether the worktree was deleted.
    pub deleted: bool,
    /// Whether the branch was kept.
    pub branch_preserved: bool,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Written when the session's branch is merged into another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorktreeMergedPayload {
    /// Branch merged.
    pub source_branch: String,
    /// Branch merged into.
    pub target_branch: String,
    /// Merge commit.
    pub merge_commit: String,
    /// `merge`, `rebase` or `squash`.
    pub strategy: String,
    /// Fields unknown to this version, kept for the round trip.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
