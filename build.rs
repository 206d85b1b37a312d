//! Stamps `tron --version` with the git commit and the enabled cargo features:
//! `tron 0.1.0 (commit 1a2b3c4, features: default)`. No build-dependencies on purpose.

use std::path::Path;
use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    watch_git_head();

    // Cargo sets CARGO_FEATURE_<NAME> for every enabled feature, so new features show up here.
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase().replace('_', "-")))
        .collect();
    features.sort();
    let features = if features.is_empty() { "none".to_string() } else { features.join(", ") };

    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=TRON_VERSION_LINE={version} (commit {commit}, features: {features})");
}

/// Reruns this script only when the checked-out commit can have changed: HEAD (branch switch)
/// and the file of the current branch (new commit). Without a repository (a crates tarball),
/// only when this file changes.
fn watch_git_head() {
    println!("cargo:rerun-if-changed=build.rs");
    let watch = |p: Option<String>| {
        // A path that does not exist would make cargo rerun the script on every build.
        if let Some(p) = p.filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={p}");
        }
    };
    watch(git(&["rev-parse", "--git-path", "HEAD"]));
    // On a detached HEAD there is no branch: HEAD itself holds the commit.
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(git(&["rev-parse", "--git-path", &branch]));
        // A packed branch has no file of its own; its commit lives in packed-refs.
        watch(git(&["rev-parse", "--git-path", "packed-refs"]));
    }
}

/// One line of `git` output in the package directory, or None if git or the repository is
/// missing. The package must be a checkout itself (has `.git`): a crates tarball unpacked inside
/// some other repository must not borrow that repository's commit.
fn git(args: &[&str]) -> Option<String> {
    let dir = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    if !Path::new(&dir).join(".git").exists() {
        return None;
    }
    let out = Command::new("git").args(args).current_dir(&dir).output().ok()?;
    let line = String::from_utf8(out.stdout).ok()?.trim().to_string();
    if !out.status.success() || line.is_empty() {
        return None;
    }
    // Relative paths (from --git-path) are relative to the package directory.
    Some(if args.first() == Some(&"rev-parse") && args.get(1) == Some(&"--git-path") {
        Path::new(&dir).join(line).to_string_lossy().into_owned()
    } else {
        line
    })
}
