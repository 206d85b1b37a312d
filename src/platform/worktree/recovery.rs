//! Finding and pruning orphan worktrees: after a crash, an archived session, or a worktree
//! directory deleted by hand.
//!
//! A scan compares what the log records with what git knows, in every repository the log
//! mentions (session working directories and recorded worktrees):
//! - `active`: recorded, the session is live and git knows the directory: left alone;
//! - `session-ended`: recorded, but the session is archived or gone;
//! - `missing`: recorded, but git no longer knows the directory (deleted by hand);
//! - `unrecorded`: a worktree `.worktrees/<id>` on `session/<id>` that no session holds (a
//!   crash between creating it and recording it), or a merge's temporary worktree. Other
//!   worktrees under `.worktrees/` (other tools use the name too) are not tron's: ignored.
//!
//! Prune never loses work: uncommitted changes are committed to the worktree's branch
//! first (`[RECOVERED] Session <id>`, the TypeScript server's recovery message) and a
//! worktree whose changes cannot be committed is left in place with the reason. Branches
//! are always kept. A directory git does not know is never deleted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::journal::{self, Journal, WorktreeRecord};
use super::repo;
use super::service::{self, RemoveMode};
use super::{WorktreeError, BRANCH_PREFIX, WORKTREES_DIR};

/// What a scan found about one worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Held by a live session.
    Active,
    /// Held by an archived or deleted session.
    SessionEnded,
    /// Recorded, but git no longer knows the directory.
    Missing,
    /// A worktree under `.worktrees/` that no session holds.
    Unrecorded,
}

/// One worktree a scan looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// What it is.
    pub state: FindingKind,
    /// The session it belongs (or belonged) to, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Its directory.
    pub path: String,
    /// Its branch, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The repository.
    pub repo_root: String,
    /// The log's record, for recorded worktrees.
    #[serde(skip)]
    pub record: Option<WorktreeRecord>,
}

/// What prune did with one orphan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pruned {
    /// The orphan.
    #[serde(flatten)]
    pub finding: Finding,
    /// The commit made of its uncommitted changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<String>,
    /// Its directory is gone now.
    pub removed: bool,
    /// Why it was left in place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PruneReport {
    /// The orphans and what happened to each.
    pub pruned: Vec<Pruned>,
    /// Worktrees left alone because live sessions hold them.
    pub active: usize,
}

/// The commit message of changes rescued from an orphan.
pub fn recovered_message(session: &str) -> String {
    format!("[RECOVERED] Session {session}")
}

/// Every session worktree of every repository the log knows, with its state.
pub fn scan(j: &dyn Journal) -> Result<Vec<Finding>, WorktreeError> {
    let records: Vec<WorktreeRecord> = j.records()?.into_iter().filter(|r| r.isolated).collect();
    let mut repos: Vec<PathBuf> = Vec::new();
    let add_repo = |root: PathBuf, repos: &mut Vec<PathBuf>| {
        if !repos.iter().any(|r| repo::same_dir(r, &root)) {
            repos.push(root);
        }
    };
    let mut findings = Vec::new();
    for r in &records {
        let root = match r.repo() {
            Some(root) => root,
            None => repo::repo_root(Path::new(&r.path)).unwrap_or_else(|_| PathBuf::from(&r.path)),
        };
        let known = root.is_dir()
            && repo::worktree_at(&root, Path::new(&r.path)).ok().flatten().is_some_and(|w| !w.prunable);
        let live = j.session(&r.session_id)?.is_some_and(|s| !s.archived);
        let state = match (known, live) {
            (false, _) => FindingKind::Missing,
            (true, false) => FindingKind::SessionEnded,
            (true, true) => FindingKind::Active,
        };
        findings.push(Finding {
            state,
            session_id: Some(r.session_id.clone()),
            path: r.path.clone(),
            branch: Some(r.branch.clone()),
            repo_root: root.display().to_string(),
            record: Some(r.clone()),
        });
        if root.is_dir() {
            add_repo(root, &mut repos);
        }
    }
    for dir in j.known_dirs()? {
        if let Ok(root) = repo::repo_root(&dir) {
            add_repo(root, &mut repos);
        }
    }
    for root in repos {
        let base = root.join(WORKTREES_DIR);
        let Ok(list) = repo::worktrees(&root) else { continue };
        for w in list {
            let inside = w.path.parent().is_some_and(|p| repo::same_dir(p, &base));
            if !inside || records.iter().any(|r| repo::same_dir(Path::new(&r.path), &w.path)) {
                continue;
            }
            let name = w.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            // Only what tron made: `<id>` on `session/<id>`, or a merge's temporary worktree
            // (other tools keep worktrees in `.worktrees/` too; those are not ours to touch).
            let ours =
                repo::is_merge_dir(&name) || w.branch.as_deref() == Some(&format!("{BRANCH_PREFIX}{name}"));
            if !ours {
                continue;
            }
            findings.push(Finding {
                state: FindingKind::Unrecorded,
                session_id: (!repo::is_merge_dir(&name)).then_some(name),
                path: w.path.display().to_string(),
                branch: w.branch,
                repo_root: root.display().to_string(),
                record: None,
            });
        }
    }
    Ok(findings)
}

/// Removes every orphan of `findings` safely (see the module doc); live ones stay.
pub fn prune(j: &dyn Journal, findings: Vec<Finding>) -> PruneReport {
    let mut report = PruneReport::default();
    for finding in findings {
        if finding.state == FindingKind::Active {
            report.active += 1;
            continue;
        }
        let mut done = Pruned { finding, committed: None, removed: false, error: None };
        if let Err(e) = prune_one(j, &mut done) {
            done.error = Some(e.to_string());
        }
        done.removed = !Path::new(&done.finding.path).exists();
        report.pruned.push(done);
    }
    report
}

fn prune_one(j: &dyn Journal, done: &mut Pruned) -> Result<(), WorktreeError> {
    let f = &done.finding;
    let path = PathBuf::from(&f.path);
    let root = PathBuf::from(&f.repo_root);
    let merge_dir = f.state == FindingKind::Unrecorded && f.session_id.is_none();
    if f.state != FindingKind::Missing && !merge_dir {
        let session = f.session_id.clone().unwrap_or_default();
        let message = recovered_message(&session);
        if let Some(stats) = repo::commit_all(&path, &message)? {
            if f.record.is_some() && j.session(&session)?.is_some() {
                let payload = journal::commit_payload(
                    &stats.hash,
                    &message,
                    &stats.files_changed,
                    stats.insertions,
                    stats.deletions,
                );
                j.append(&session, "worktree.commit", payload)?;
            }
            done.committed = Some(stats.hash);
        }
    }
    match &f.record {
        Some(record) => service::release(j, record.clone(), RemoveMode::Refuse).map(drop),
        // A merge's temporary worktree holds no work of its own: only a checkout of the
        // target (and at most a merge in progress that never reached the target).
        None => repo::remove_worktree(&root, &path, merge_dir),
    }
}

/// What `tron serve` runs at startup: scan, then prune the orphans.
pub fn recover(j: &dyn Journal) -> Result<PruneReport, WorktreeError> {
    Ok(prune(j, scan(j)?))
}
