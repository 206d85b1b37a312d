//! `tron worktree`: a git worktree per session (list, create, commit, merge, remove, prune).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;
use tron::events::{EventStore, OpenMode};
use tron::platform::worktree::{recovery, service, FindingKind, RemoveMode, Strategy};
use tron::settings::Paths;

use crate::output::{print_json, print_out};

#[derive(Debug, Args)]
pub struct WorktreeArgs {
    /// The event database [default: $TRON_EVENT_STORE_DB, else $TRON_DATA_DIR/db/prod.db, else ~/.tron/db/prod.db]
    #[arg(long, global = true, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: WorktreeCommand,
}

#[derive(Debug, Subcommand)]
enum WorktreeCommand {
    /// Session worktrees of every repository the event log knows, with their state
    /// (active, session-ended, missing, unrecorded)
    List,
    /// Create a worktree and branch (session/<SESSION>) in the session's repository
    Create {
        session: String,
        /// Branch or commit to start from [default: the repository's HEAD]
        #[arg(long, value_name = "REF")]
        base: Option<String>,
        /// Branch name [default: session/<SESSION>]
        #[arg(long, value_name = "NAME")]
        branch: Option<String>,
        /// A fork: start from the HEAD of this session's worktree (and merge back where it does)
        #[arg(long, value_name = "SESSION", conflicts_with = "base")]
        from_session: Option<String>,
    },
    /// Commit everything in the session's worktree
    Commit {
        session: String,
        /// Commit message [default: "Session <SESSION> auto-save"]
        #[arg(long, short, value_name = "TEXT")]
        message: Option<String>,
    },
    /// Merge the session's branch into a branch (uncommitted changes are committed first;
    /// a conflict leaves the target as it was and names the files)
    Merge {
        session: String,
        /// Branch to merge into [default: the branch the worktree was created from]
        #[arg(long, value_name = "BRANCH")]
        into: Option<String>,
        /// fast-forward, merge (a merge commit), squash or rebase
        #[arg(long, default_value = "merge", value_name = "STRATEGY",
              value_parser = ["fast-forward", "merge", "squash", "rebase"])]
        strategy: String,
    },
    /// Remove the session's worktree (its branch is kept); refuses uncommitted changes
    /// unless --commit or --force
    Remove {
        session: String,
        /// Commit uncommitted changes first
        #[arg(long, conflicts_with = "force")]
        commit: bool,
        /// Discard uncommitted changes
        #[arg(long)]
        force: bool,
    },
    /// Remove orphan worktrees (archived or deleted sessions, crashes, directories deleted
    /// by hand); uncommitted changes are committed to their branch first
    Prune {
        /// Only show what would be pruned
        #[arg(long)]
        dry_run: bool,
    },
}

pub fn run(args: WorktreeArgs) -> Result<()> {
    let json = args.json;
    let db = args.db.unwrap_or_else(|| Paths::from_env().event_db);
    let store = EventStore::open(&db, OpenMode::Existing)?;
    match args.command {
        WorktreeCommand::List => {
            let findings = recovery::scan(&store)?;
            if json {
                return print_json(&json!({ "worktrees": findings }));
            }
            if findings.is_empty() {
                return print_out(format_args!("no session worktrees\n"));
            }
            for f in &findings {
                let state = serde_json::to_value(f.state)?.as_str().unwrap_or_default().to_owned();
                print_out(format_args!(
                    "{:<14} {:<24} {:<32} {}\n",
                    state,
                    f.session_id.as_deref().unwrap_or("-"),
                    f.branch.as_deref().unwrap_or("-"),
                    f.path
                ))?;
            }
            Ok(())
        }
        WorktreeCommand::Create { session, base, branch, from_session } => {
            let r =
                service::create(&store, &session, &service::CreateOptions { base, branch, from_session })?;
            if json {
                return print_json(&r);
            }
            print_out(format_args!("{} on {} (from {})\n", r.path, r.branch, short(&r.base_commit)))
        }
        WorktreeCommand::Commit { session, message } => {
            let c = service::commit(&store, &session, message.as_deref())?;
            match (json, c) {
                (true, Some(c)) => print_json(&json!({"success": true, "commit": c})),
                (true, None) => print_json(&json!({"success": true, "commit": null, "filesChanged": []})),
                (false, Some(c)) => print_out(format_args!(
                    "{} {} ({} files, +{} -{})\n",
                    short(&c.commit_hash),
                    c.message,
                    c.files_changed.len(),
                    c.insertions,
                    c.deletions
                )),
                (false, None) => print_out(format_args!("nothing to commit\n")),
            }
        }
        WorktreeCommand::Merge { session, into, strategy } => {
            let strategy: Strategy = strategy.parse()?;
            let o = service::merge(&store, &session, into.as_deref(), strategy)?;
            if json {
                print_json(&o)?;
            } else if let Some(c) = &o.merge_commit {
                print_out(format_args!(
                    "{} merged into {} ({}): {}\n",
                    o.source_branch,
                    o.target_branch,
                    o.strategy.as_str(),
                    short(c)
                ))?;
            }
            if o.success {
                return Ok(());
            }
            if !o.conflicts.is_empty() {
                anyhow::bail!(
                    "merging {} into {} stopped on conflicts in {}; {} was left as it was",
                    o.source_branch,
                    o.target_branch,
                    o.conflicts.join(", "),
                    o.target_branch
                );
            }
            anyhow::bail!("{}", o.error.unwrap_or_else(|| "the merge failed".into()))
        }
        WorktreeCommand::Remove { session, commit, force } => {
            let mode = match (commit, force) {
                (true, _) => RemoveMode::Commit,
                (_, true) => RemoveMode::Discard,
                _ => RemoveMode::Refuse,
            };
            let r = service::remove(&store, &session, mode)?;
            if json {
                return print_json(&r);
            }
            let kept = format!("branch {} kept", r.record.branch);
            match &r.final_commit {
                Some(c) => print_out(format_args!(
                    "removed {} (changes committed as {}; {kept})\n",
                    r.record.path,
                    short(c)
                )),
                None => print_out(format_args!("removed {} ({kept})\n", r.record.path)),
            }
        }
        WorktreeCommand::Prune { dry_run } => {
            let findings = recovery::scan(&store)?;
            if dry_run {
                let orphans: Vec<_> =
                    findings.into_iter().filter(|f| f.state != FindingKind::Active).collect();
                if json {
                    return print_json(&json!({ "orphans": orphans }));
                }
                for f in &orphans {
                    print_out(format_args!("would prune {} ({:?})\n", f.path, f.state))?;
                }
                return Ok(());
            }
            let report = recovery::prune(&store, findings);
            if json {
                return print_json(&report);
            }
            for p in &report.pruned {
                match (&p.error, &p.committed) {
                    (Some(e), _) => print_out(format_args!("left {}: {e}\n", p.finding.path))?,
                    (None, Some(c)) => print_out(format_args!(
                        "pruned {} (changes committed as {})\n",
                        p.finding.path,
                        short(c)
                    ))?,
                    (None, None) => print_out(format_args!("pruned {}\n", p.finding.path))?,
                }
            }
            print_out(format_args!("{} pruned, {} active left alone\n", report.pruned.len(), report.active))
        }
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
