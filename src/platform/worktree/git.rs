//! The one way tron runs the `git` binary: arguments in, stdout out, and a failure turned
//! into an error that names the command, the directory and what git said.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::WorktreeError;

/// Runs `git` in one directory.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
}

/// What a git command printed and how it ended (for commands whose failure is an answer,
/// such as a merge with conflicts).
#[derive(Debug)]
pub struct GitOutput {
    /// Exit status 0.
    pub ok: bool,
    /// Standard output, trimmed.
    pub stdout: String,
    /// Standard error, trimmed.
    pub stderr: String,
}

impl Git {
    /// git in `dir` (`git -C dir`).
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Self { dir: dir.as_ref().to_owned() }
    }

    /// The directory git runs in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(&self.dir).args(args);
        // Never wait for a password, an editor or a pager; messages in English so the few
        // that are read stay readable.
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_EDITOR", "true")
            .env("GIT_MERGE_AUTOEDIT", "no")
            .env("GIT_PAGER", "cat")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Result<Output, WorktreeError> {
        self.command(args).output().map_err(|e| WorktreeError::GitMissing(e.to_string()))
    }

    /// Runs `git args`; its stdout (trimmed) on success, else [`WorktreeError::Git`].
    pub fn run(&self, args: &[&str]) -> Result<String, WorktreeError> {
        let out = self.output(args)?;
        if out.ok {
            Ok(out.stdout)
        } else {
            Err(WorktreeError::Git {
                command: format!("git {}", args.join(" ")),
                dir: self.dir.clone(),
                stderr: if out.stderr.is_empty() { out.stdout } else { out.stderr },
            })
        }
    }

    /// Runs `git args` and gives back what happened, success or not.
    pub fn output(&self, args: &[&str]) -> Result<GitOutput, WorktreeError> {
        let out = self.spawn(args)?;
        Ok(GitOutput {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// Whether `git args` exits 0 (for questions such as `merge-base --is-ancestor`).
    pub fn check(&self, args: &[&str]) -> Result<bool, WorktreeError> {
        Ok(self.spawn(args)?.status.success())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_command_the_directory_and_what_git_said() {
        let dir = std::env::temp_dir();
        let err =
            Git::new(&dir).run(&["rev-parse", "--verify", "refs/heads/no-such-branch-xyz"]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("git rev-parse --verify refs/heads/no-such-branch-xyz"), "{msg}");
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
    }
}
