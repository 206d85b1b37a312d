//! Merging a session branch into a target branch: fast-forward, merge, squash or rebase.
//!
//! Nothing is lost: the merge runs where the target branch is checked out (which must be
//! clean), or, when it is checked out nowhere, in a temporary worktree made for the merge
//! and removed after it. A conflict aborts the merge (the target branch stays where it was)
//! and the outcome names the conflicting files.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::git::Git;
use super::repo::{self, conflicted_files, dirty_files};
use super::{file_list, WorktreeError, MERGE_DIR_PREFIX, WORKTREES_DIR};

static MERGE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How a session branch goes into its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Only when the target has nothing the session branch lacks; no new commit.
    FastForward,
    /// A merge commit (`--no-ff`), the TypeScript server's default.
    Merge,
    /// One new commit on the target with all of the session's changes.
    Squash,
    /// The session branch is replayed on the target, then the target fast-forwarded to it.
    Rebase,
}

impl Strategy {
    /// The name on the wire and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FastForward => "fast-forward",
            Self::Merge => "merge",
            Self::Squash => "squash",
            Self::Rebase => "rebase",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = WorktreeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fast-forward" | "ff" | "fastForward" | "ff-only" => Ok(Self::FastForward),
            "merge" => Ok(Self::Merge),
            "squash" => Ok(Self::Squash),
            "rebase" => Ok(Self::Rebase),
            other => Err(WorktreeError::BadStrategy(other.to_owned())),
        }
    }
}

/// How a merge went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeOutcome {
    /// The target branch moved.
    pub success: bool,
    /// The target's new head, when it moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_commit: Option<String>,
    /// Files in conflict (the merge was aborted).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<String>,
    /// Why it did not happen, when not for conflicts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The strategy used.
    pub strategy: Strategy,
    /// The branch merged.
    pub source_branch: String,
    /// The branch merged into.
    pub target_branch: String,
}

/// Where the target branch is checked out for the merge.
struct Place {
    dir: PathBuf,
    /// Made for this merge; removed after it.
    temporary: bool,
    repo: PathBuf,
}

impl Place {
    fn find(repo: &Path, target: &str) -> Result<Self, WorktreeError> {
        if let Some(dir) = clean_checkout(repo, target)? {
            return Ok(Self { dir, temporary: false, repo: repo.to_owned() });
        }
        let dir =
            repo.join(WORKTREES_DIR).join(format!("{MERGE_DIR_PREFIX}{}", crate::core::ids::short_hex()));
        repo::add_worktree(repo, &dir, target, None)?;
        Ok(Self { dir, temporary: true, repo: repo.to_owned() })
    }
}

/// Where `target` is checked out, if anywhere; `TargetDirty` when that checkout has
/// uncommitted changes (a merge there could lose them).
fn clean_checkout(repo: &Path, target: &str) -> Result<Option<PathBuf>, WorktreeError> {
    let Some(w) = repo::worktrees(repo)?.into_iter().find(|w| w.branch.as_deref() == Some(target)) else {
        return Ok(None);
    };
    let dirty = dirty_files(&w.path)?;
    if !dirty.is_empty() {
        return Err(WorktreeError::TargetDirty {
            branch: target.to_owned(),
            path: w.path.display().to_string(),
            files: file_list(&dirty),
        });
    }
    Ok(Some(w.path))
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.temporary {
            if let Err(e) = repo::remove_worktree(&self.repo, &self.dir, true) {
                tracing::warn!(error = %e, dir = %self.dir.display(), "could not remove a merge's temporary worktree");
            }
        }
    }
}

/// Refuses a merge that cannot start: a branch that does not exist, or a target checked out
/// with uncommitted changes. Changes nothing.
pub fn preflight(repo: &Path, source: &str, target: &str) -> Result<(), WorktreeError> {
    for (what, branch) in [("source branch", source), ("target branch", target)] {
        if !repo::branch_exists(repo, branch)? {
            return Err(WorktreeError::BadRef {
                what,
                name: branch.to_owned(),
                kind: "a branch",
                repo: repo.to_owned(),
            });
        }
    }
    clean_checkout(repo, target)?;
    Ok(())
}

/// Merges `source` into `target` in the repository at `repo`. `session_dir` is where
/// `source` is checked out (the rebase runs there). `message` is the merge or squash
/// commit's message. The session branch must be committed (the caller commits first).
pub fn merge(
    repo: &Path,
    session_dir: &Path,
    source: &str,
    target: &str,
    strategy: Strategy,
    message: &str,
) -> Result<MergeOutcome, WorktreeError> {
    // One merge at a time in this process: a second `git merge` in the same checkout would
    // fail on git's index lock, and its clean-up must never abort the first one's merge.
    let _one_at_a_time = MERGE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    preflight(repo, source, target)?;
    let mut outcome = MergeOutcome {
        success: false,
        merge_commit: None,
        conflicts: Vec::new(),
        error: None,
        strategy,
        source_branch: source.to_owned(),
        target_branch: target.to_owned(),
    };
    if strategy == Strategy::Rebase {
        let git = Git::new(session_dir);
        let out = git.output(&["rebase", "--quiet", target])?;
        if !out.ok {
            outcome.conflicts = conflicted_files(session_dir)?;
            git.output(&["rebase", "--abort"])?;
            if outcome.conflicts.is_empty() {
                outcome.error = Some(out.stderr);
            }
            return Ok(outcome);
        }
    }
    let place = Place::find(repo, target)?;
    let git = Git::new(&place.dir);
    let before = git.run(&["rev-parse", "HEAD"])?;
    let out = match strategy {
        Strategy::FastForward | Strategy::Rebase => git.output(&["merge", "--ff-only", "--quiet", source])?,
        Strategy::Merge => git.output(&["merge", "--no-ff", "--quiet", "-m", message, source])?,
        Strategy::Squash => git.output(&["merge", "--squash", "--quiet", source])?,
    };
    if !out.ok {
        outcome.conflicts = conflicted_files(&place.dir)?;
        // Back to exactly where the target was (the place was clean before).
        match strategy {
            Strategy::Merge => drop(git.output(&["merge", "--abort"])?),
            _ => drop(git.output(&["reset", "--merge"])?),
        }
        if git.run(&["rev-parse", "HEAD"])? != before {
            git.run(&["reset", "--hard", "--quiet", &before])?;
        }
        if outcome.conflicts.is_empty() {
            outcome.error = Some(match strategy {
                Strategy::FastForward => format!(
                    "{target} has commits that {source} lacks, so it cannot be fast-forwarded; \
                     use merge, squash or rebase"
                ),
                _ => out.stderr,
            });
        }
        return Ok(outcome);
    }
    if strategy == Strategy::Squash && !git.check(&["diff", "--cached", "--quiet"])? {
        git.run(&["commit", "--quiet", "--no-verify", "-m", message])?;
    }
    outcome.success = true;
    outcome.merge_commit = Some(git.run(&["rev-parse", "HEAD"])?);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_by_their_wire_names_and_refuse_others() {
        for s in [Strategy::FastForward, Strategy::Merge, Strategy::Squash, Strategy::Rebase] {
            assert_eq!(s.as_str().parse::<Strategy>().unwrap(), s);
        }
        let e = "octopus".parse::<Strategy>().unwrap_err().to_string();
        assert!(e.contains("octopus") && e.contains("squash"), "{e}");
    }
}
