//! Git-level operations on one repository, without the event log: find the repository,
//! read HEAD, status and the worktree list, add and remove a worktree, commit everything.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::git::Git;
use super::{WorktreeError, MERGE_DIR_PREFIX, WORKTREES_DIR};

/// One entry of `git worktree list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitWorktree {
    /// Its directory.
    pub path: PathBuf,
    /// Checked-out commit (absent in an empty repository).
    pub head: Option<String>,
    /// Checked-out branch, without `refs/heads/` (absent when detached).
    pub branch: Option<String>,
    /// Git reports the directory gone (`prunable`).
    pub prunable: bool,
}

/// What one commit recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStats {
    /// The new commit.
    pub hash: String,
    /// Files in it.
    pub files_changed: Vec<String>,
    /// Lines inserted.
    pub insertions: i64,
    /// Lines deleted.
    pub deletions: i64,
}

/// The main repository root of `dir` (also when `dir` is inside a linked worktree).
pub fn repo_root(dir: &Path) -> Result<PathBuf, WorktreeError> {
    if !dir.is_dir() {
        return Err(WorktreeError::NotARepo(dir.to_owned()));
    }
    let git = Git::new(dir);
    let common = git
        .run(&["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .map_err(|_| WorktreeError::NotARepo(dir.to_owned()))?;
    let common = PathBuf::from(common);
    match common.file_name().and_then(|n| n.to_str()) {
        Some(".git") => Ok(common.parent().unwrap_or(&common).to_owned()),
        _ => {
            let top = git
                .run(&["rev-parse", "--show-toplevel"])
                .map_err(|_| WorktreeError::NotARepo(dir.to_owned()))?;
            Ok(PathBuf::from(top))
        }
    }
}

/// The commit `rev` names, in full; `None` when it names none.
pub fn resolve_commit(dir: &Path, rev: &str) -> Result<Option<String>, WorktreeError> {
    let out = Git::new(dir).output(&[
        "rev-parse",
        "--verify",
        "--quiet",
        "--end-of-options",
        &format!("{rev}^{{commit}}"),
    ])?;
    Ok(out.ok.then_some(out.stdout))
}

/// Whether `refs/heads/<branch>` exists.
pub fn branch_exists(dir: &Path, branch: &str) -> Result<bool, WorktreeError> {
    Git::new(dir).check(&["show-ref", "--verify", "--quiet", &format!("refs/heads/{branch}")])
}

/// The branch checked out in `dir`; `None` when detached.
pub fn current_branch(dir: &Path) -> Result<Option<String>, WorktreeError> {
    let out = Git::new(dir).output(&["symbolic-ref", "--short", "-q", "HEAD"])?;
    Ok(out.ok.then_some(out.stdout).filter(|b| !b.is_empty()))
}

/// Files with uncommitted changes in `dir` (untracked ones included), as git names them.
pub fn dirty_files(dir: &Path) -> Result<Vec<String>, WorktreeError> {
    let out = Git::new(dir).run(&["status", "--porcelain=v1", "-z", "--untracked-files=all"])?;
    let mut files = Vec::new();
    let mut fields = out.split('\0').filter(|f| !f.is_empty());
    while let Some(entry) = fields.next() {
        if entry.len() < 4 {
            continue;
        }
        let (code, path) = entry.split_at(3);
        files.push(path.to_owned());
        // A rename or copy is followed by its source.
        if code.starts_with('R') || code.starts_with('C') {
            fields.next();
        }
    }
    Ok(files)
}

/// Files left unmerged by a failed merge, rebase or squash in `dir`.
pub fn conflicted_files(dir: &Path) -> Result<Vec<String>, WorktreeError> {
    let out = Git::new(dir).run(&["diff", "--name-only", "--diff-filter=U", "-z"])?;
    let mut files: Vec<String> = out.split('\0').filter(|f| !f.is_empty()).map(str::to_owned).collect();
    files.dedup();
    Ok(files)
}

/// Every worktree of the repository at `repo`, the main one first.
pub fn worktrees(repo: &Path) -> Result<Vec<GitWorktree>, WorktreeError> {
    let out = Git::new(repo).run(&["worktree", "list", "--porcelain", "-z"])?;
    let mut list = Vec::new();
    let mut current: Option<GitWorktree> = None;
    for field in out.split('\0') {
        if field.is_empty() {
            list.extend(current.take());
        } else if let Some(path) = field.strip_prefix("worktree ") {
            list.extend(current.take());
            current =
                Some(GitWorktree { path: PathBuf::from(path), head: None, branch: None, prunable: false });
        } else if let Some(wt) = current.as_mut() {
            if let Some(head) = field.strip_prefix("HEAD ") {
                wt.head = Some(head.to_owned()).filter(|h| h.chars().any(|c| c != '0'));
            } else if let Some(branch) = field.strip_prefix("branch ") {
                wt.branch = Some(branch.strip_prefix("refs/heads/").unwrap_or(branch).to_owned());
            } else if field.starts_with("prunable") {
                wt.prunable = true;
            }
        }
    }
    list.extend(current);
    Ok(list)
}

/// Whether two paths name the same directory (symlinks such as macOS's /var resolved).
pub fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// The worktree of `repo` at `path`, if git knows one there.
pub fn worktree_at(repo: &Path, path: &Path) -> Result<Option<GitWorktree>, WorktreeError> {
    Ok(worktrees(repo)?.into_iter().find(|w| same_dir(&w.path, path)))
}

/// Adds `.worktrees/` to the repository's `info/exclude` (once), so the main checkout does
/// not list session worktrees as untracked files.
pub fn exclude_worktrees_dir(repo: &Path) -> Result<(), WorktreeError> {
    let common = Git::new(repo).run(&["rev-parse", "--path-format=absolute", "--git-common-dir"])?;
    let exclude = Path::new(&common).join("info").join("exclude");
    let line = format!("/{WORKTREES_DIR}/");
    let existing = std::fs::read_to_string(&exclude).unwrap_or_default();
    if existing.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    if let Some(dir) = exclude.parent() {
        std::fs::create_dir_all(dir).map_err(WorktreeError::io(dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&exclude)
        .map_err(WorktreeError::io(&exclude))?;
    let sep = if existing.is_empty() || existing.ends_with('\n') { "" } else { "\n" };
    write!(f, "{sep}# session worktrees of tron\n{line}\n").map_err(WorktreeError::io(&exclude))
}

/// Adds a worktree at `path` on `branch`: a new branch from `base`, or the existing branch
/// when `base` is `None`.
pub fn add_worktree(repo: &Path, path: &Path, branch: &str, base: Option<&str>) -> Result<(), WorktreeError> {
    exclude_worktrees_dir(repo)?;
    let path_str = path.to_string_lossy();
    let git = Git::new(repo);
    match base {
        Some(base) => git.run(&["worktree", "add", "--quiet", "-b", branch, &path_str, base]),
        None => git.run(&["worktree", "add", "--quiet", &path_str, branch]),
    }
    .map(drop)
}

/// Removes the worktree at `path` (`force`: even with uncommitted changes); the branch stays.
pub fn remove_worktree(repo: &Path, path: &Path, force: bool) -> Result<(), WorktreeError> {
    let path_str = path.to_string_lossy();
    let mut args = vec!["worktree", "remove"];
    if force {
        // Twice: also a locked worktree.
        args.extend(["--force", "--force"]);
    }
    args.push(&path_str);
    Git::new(repo).run(&args).map(drop)
}

/// Forgets worktrees whose directory is gone.
pub fn prune_worktrees(repo: &Path) -> Result<(), WorktreeError> {
    Git::new(repo).run(&["worktree", "prune"]).map(drop)
}

/// Commits every change in `dir` (new, changed and deleted files) with `message`; `None`
/// when there was nothing to commit.
pub fn commit_all(dir: &Path, message: &str) -> Result<Option<CommitStats>, WorktreeError> {
    let git = Git::new(dir);
    git.run(&["add", "-A"])?;
    let staged = git.run(&["diff", "--cached", "--name-only", "-z"])?;
    let files: Vec<String> = staged.split('\0').filter(|f| !f.is_empty()).map(str::to_owned).collect();
    if files.is_empty() {
        return Ok(None);
    }
    let (insertions, deletions) = parse_shortstat(&git.run(&["diff", "--cached", "--shortstat"])?);
    git.run(&["commit", "--quiet", "--no-verify", "-m", message])?;
    let hash = git.run(&["rev-parse", "HEAD"])?;
    Ok(Some(CommitStats { hash, files_changed: files, insertions, deletions }))
}

/// `(insertions, deletions)` of a `--shortstat` line.
pub fn parse_shortstat(line: &str) -> (i64, i64) {
    let mut ins = 0;
    let mut del = 0;
    for part in line.split(',') {
        let part = part.trim();
        let n = part.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
        if part.contains("insertion") {
            ins = n;
        } else if part.contains("deletion") {
            del = n;
        }
    }
    (ins, del)
}

/// How many commits `dir`'s HEAD has that `base` has not.
pub fn commits_since(dir: &Path, base: &str) -> Result<i64, WorktreeError> {
    let n = Git::new(dir).run(&["rev-list", "--count", &format!("{base}..HEAD")])?;
    Ok(n.trim().parse().unwrap_or(0))
}

/// Whether `commit` is contained in `branch`.
pub fn is_ancestor(dir: &Path, commit: &str, branch: &str) -> Result<bool, WorktreeError> {
    Git::new(dir).check(&["merge-base", "--is-ancestor", commit, &format!("refs/heads/{branch}")])
}

/// Whether a directory name under `.worktrees/` is a merge's temporary worktree.
pub fn is_merge_dir(name: &str) -> bool {
    name.starts_with(MERGE_DIR_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortstat_lines_parse_with_and_without_either_count() {
        assert_eq!(parse_shortstat(" 2 files changed, 3 insertions(+), 1 deletion(-)"), (3, 1));
        assert_eq!(parse_shortstat(" 1 file changed, 1 insertion(+)"), (1, 0));
        assert_eq!(parse_shortstat(" 1 file changed, 4 deletions(-)"), (0, 4));
        assert_eq!(parse_shortstat(""), (0, 0));
    }
}
