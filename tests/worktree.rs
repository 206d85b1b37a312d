//! Session worktrees on real git repositories made in temp dirs: the `tron worktree` CLI
//! (real binary, `--json`), the library under parallel sessions, dirty trees, conflicts and
//! crashes, and the `worktree.*` methods through a real server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::{json, Value};
use tron::events::{EventStore, NewSession, OpenMode};
use tron::platform::worktree::{recovery, service, FindingKind, RemoveMode, Strategy};

/// A repository (`main`, one commit with `a.txt`) and an event database with sessions in it.
struct Fixture {
    dir: tempfile::TempDir,
    repo: PathBuf,
    db: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = StdCommand::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A new repository at `path` with its own identity (no global git config needed).
fn init_repo(path: &Path) {
    std::fs::create_dir_all(path).unwrap();
    git(path, &["init", "--quiet", "-b", "main"]);
    for (k, v) in
        [("user.name", "tron test"), ("user.email", "test@tron.invalid"), ("commit.gpgsign", "false")]
    {
        git(path, &["config", k, v]);
    }
    std::fs::write(path.join("a.txt"), "one\n").unwrap();
    git(path, &["add", "-A"]);
    git(path, &["commit", "--quiet", "-m", "first"]);
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        init_repo(&repo);
        let db = dir.path().join("prod.db");
        EventStore::open(&db, OpenMode::Create).unwrap();
        Fixture { dir, repo, db }
    }

    fn store(&self) -> EventStore {
        EventStore::open(&self.db, OpenMode::Existing).unwrap()
    }

    /// A new session working in the repository.
    fn session(&self) -> String {
        let (row, _) = self
            .store()
            .create_session(NewSession {
                working_directory: self.repo.display().to_string(),
                model: "claude-sonnet-4-5".into(),
                ..Default::default()
            })
            .unwrap();
        row.id.to_string()
    }

    fn tron(&self, args: &[&str]) -> Command {
        let mut cmd = Command::cargo_bin("tron").unwrap();
        cmd.env_remove("TRON_EVENT_STORE_DB").env_remove("TRON_DATA_DIR").arg("worktree").args(args);
        cmd.arg("--db").arg(&self.db).arg("--json");
        cmd
    }

    /// `tron worktree ARGS --json`, which must succeed; its JSON.
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.tron(args).assert().success().get_output().stdout.clone();
        serde_json::from_slice(&out).unwrap()
    }

    /// `tron worktree ARGS`, which must fail with exit code `code`; its stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.tron(args).assert().code(code).get_output().stderr.clone();
        String::from_utf8(out).unwrap()
    }

    /// The types and payloads of the worktree events of `session`.
    fn worktree_events(&self, session: &str) -> Vec<(String, Value)> {
        self.store()
            .events(session)
            .unwrap()
            .into_iter()
            .filter(|e| e.event_type.as_str().starts_with("worktree."))
            .map(|e| {
                // Every payload is one the typed model reads.
                e.typed().unwrap_or_else(|err| panic!("{} payload: {err}", e.event_type.as_str()));
                (e.event_type.as_str().to_owned(), e.payload)
            })
            .collect()
    }

    fn main_head(&self) -> String {
        git(&self.repo, &["rev-parse", "refs/heads/main"])
    }
}

#[test]
fn create_commit_merge_and_remove_through_the_cli() {
    let f = Fixture::new();
    let s = f.session();
    let created = f.ok(&["create", &s]);
    let path = PathBuf::from(created["path"].as_str().unwrap());
    assert_eq!(path, f.repo.join(".worktrees").join(&s));
    assert_eq!(created["branch"], format!("session/{s}"));
    assert_eq!(created["baseBranch"], "main");
    assert_eq!(created["baseCommit"], f.main_head());
    // The main checkout does not see the worktree as an untracked file.
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");

    std::fs::write(path.join("b.txt"), "two\n").unwrap();
    std::fs::write(path.join("a.txt"), "one\nmore\n").unwrap();
    let committed = f.ok(&["commit", &s]);
    let c = &committed["commit"];
    assert_eq!(c["message"], format!("Session {s} auto-save"));
    assert_eq!(c["filesChanged"], json!(["a.txt", "b.txt"]));
    assert_eq!((c["insertions"].as_i64(), c["deletions"].as_i64()), (Some(2), Some(0)));
    assert_eq!(f.ok(&["commit", &s])["commit"], Value::Null, "nothing left to commit");

    let merged = f.ok(&["merge", &s]);
    assert_eq!(merged["success"], true);
    assert_eq!(merged["strategy"], "merge");
    assert_eq!(merged["targetBranch"], "main");
    assert_eq!(merged["mergeCommit"], f.main_head().as_str());
    assert_eq!(git(&f.repo, &["log", "-1", "--format=%s", "main"]), format!("Merge session {s}"));
    assert_eq!(std::fs::read_to_string(f.repo.join("b.txt")).unwrap(), "two\n", "the main checkout follows");

    let listed = f.ok(&["list"]);
    assert_eq!(listed["worktrees"][0]["state"], "active");
    assert_eq!(listed["worktrees"][0]["sessionId"], s.as_str());

    let removed = f.ok(&["remove", &s]);
    assert_eq!(removed["deleted"], true);
    assert!(!path.exists());
    assert!(git(&f.repo, &["branch", "--list", &format!("session/{s}")]).contains(&s), "the branch is kept");

    let events = f.worktree_events(&s);
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["worktree.acquired", "worktree.commit", "worktree.merged", "worktree.released"]);
    let acquired = &events[0].1;
    assert_eq!(acquired["isolated"], true);
    assert_eq!(acquired["path"], path.display().to_string());
    let commit = &events[1].1;
    assert_eq!(commit["commitHash"], commit["hash"]);
    assert_eq!(commit["filesChanged"], json!(["a.txt", "b.txt"]));
    let merged_event = &events[2].1;
    assert_eq!(merged_event["sourceBranch"], format!("session/{s}"));
    assert_eq!(merged_event["mergeCommit"], merged["mergeCommit"]);
    let released = &events[3].1;
    assert_eq!(
        (released["deleted"].as_bool(), released["branchPreserved"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(f.ok(&["list"])["worktrees"].as_array().unwrap().is_empty());

    // A new worktree for the same session takes its kept branch up again.
    let again = f.ok(&["create", &s]);
    assert_eq!(again["branch"], format!("session/{s}"));
    assert!(PathBuf::from(again["path"].as_str().unwrap()).join("b.txt").exists());
}

#[test]
fn parallel_sessions_work_apart_and_a_conflict_leaves_the_target_as_it_was() {
    let f = Fixture::new();
    let (s1, s2) = (f.session(), f.session());
    // Both created at once, each with its own connection to the database.
    let handles: Vec<_> = [s1.clone(), s2.clone()]
        .into_iter()
        .map(|s| {
            let db = f.db.clone();
            std::thread::spawn(move || {
                let store = EventStore::open(&db, OpenMode::Existing).unwrap();
                service::create(&store, &s, &Default::default()).unwrap()
            })
        })
        .collect();
    let records: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_ne!(records[0].path, records[1].path);
    for (r, text) in records.iter().zip(["from one\n", "from two\n"]) {
        std::fs::write(Path::new(&r.path).join("a.txt"), text).unwrap();
    }
    // Each sees only its own change.
    for (r, text) in records.iter().zip(["from one\n", "from two\n"]) {
        assert_eq!(std::fs::read_to_string(Path::new(&r.path).join("a.txt")).unwrap(), text);
    }
    assert_eq!(std::fs::read_to_string(f.repo.join("a.txt")).unwrap(), "one\n");

    let store = f.store();
    let first = service::merge(&store, &records[0].session_id, None, Strategy::Merge).unwrap();
    assert!(first.success, "{first:?}");
    let before = f.main_head();
    let second = service::merge(&store, &records[1].session_id, Some("main"), Strategy::Merge).unwrap();
    assert!(!second.success);
    assert_eq!(second.conflicts, ["a.txt"]);
    assert_eq!(f.main_head(), before, "main did not move");
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "", "the main checkout is clean");
    assert!(!f.repo.join(".git/MERGE_HEAD").exists(), "no merge left in progress");
    assert_eq!(std::fs::read_to_string(f.repo.join("a.txt")).unwrap(), "from one\n");
    // Nothing of the second session was lost: its change was committed on its branch.
    assert_eq!(git(&f.repo, &["show", &format!("session/{s2}:a.txt")]), "from two");
    assert!(f.worktree_events(&s2).iter().all(|(t, _)| t != "worktree.merged"));

    // The CLI says what conflicted and exits 1.
    let err = f.fails(&["merge", &s2, "--strategy", "squash"], 1);
    assert!(err.contains("conflicts in a.txt") && err.contains("main was left as it was"), "{err}");
    assert_eq!(f.main_head(), before);
    // A rebase that conflicts is aborted too: the session branch stays where it was.
    let branch_before = git(&f.repo, &["rev-parse", &format!("session/{s2}")]);
    let rebase = service::merge(&store, &s2, None, Strategy::Rebase).unwrap();
    assert!(!rebase.success);
    assert_eq!(rebase.conflicts, ["a.txt"]);
    assert_eq!(git(&f.repo, &["rev-parse", &format!("session/{s2}")]), branch_before);
    assert_eq!(
        git(Path::new(&records[1].path), &["status", "--porcelain"]),
        "",
        "no rebase left in progress"
    );
    assert_eq!(f.main_head(), before);
    let _ = s1;
}

#[test]
fn fast_forward_squash_and_rebase() {
    let f = Fixture::new();
    let store = f.store();
    let (s1, s2, s3) = (f.session(), f.session(), f.session());
    let r1 = service::create(&store, &s1, &Default::default()).unwrap();
    let r2 = service::create(&store, &s2, &Default::default()).unwrap();
    let r3 = service::create(&store, &s3, &Default::default()).unwrap();
    for (r, file) in [(&r1, "one.txt"), (&r2, "two.txt"), (&r3, "three.txt")] {
        std::fs::write(Path::new(&r.path).join(file), "x\n").unwrap();
        std::fs::write(Path::new(&r.path).join(format!("{file}.more")), "y\n").unwrap();
        service::commit(&store, &r.session_id, Some("first part")).unwrap().unwrap();
        std::fs::write(Path::new(&r.path).join(file), "x\nz\n").unwrap();
    }
    // Fast-forward: main has not moved; the uncommitted change is committed first.
    let ff = service::merge(&store, &s1, None, Strategy::FastForward).unwrap();
    assert!(ff.success, "{ff:?}");
    assert_eq!(f.main_head(), git(Path::new(&r1.path), &["rev-parse", "HEAD"]));
    assert_eq!(git(&f.repo, &["log", "-1", "--format=%s", "main"]), format!("Pre-merge commit for {s1}"));

    // main moved: no fast-forward, and main stays.
    let before = f.main_head();
    let refused = service::merge(&store, &s2, None, Strategy::FastForward).unwrap();
    assert!(!refused.success && refused.conflicts.is_empty());
    assert!(refused.error.unwrap().contains("cannot be fast-forwarded"));
    assert_eq!(f.main_head(), before);

    // Squash: one new commit with both of the session's commits in it.
    let squash = service::merge(&store, &s2, None, Strategy::Squash).unwrap();
    assert!(squash.success, "{squash:?}");
    assert_eq!(git(&f.repo, &["log", "-1", "--format=%s", "main"]), format!("Squash merge session {s2}"));
    assert_eq!(git(&f.repo, &["rev-list", "--count", &format!("{before}..main")]), "1");
    assert_eq!(git(&f.repo, &["show", "main:two.txt"]), "x\nz");

    // Rebase: the session's commits replayed on main, main fast-forwarded; linear history.
    let rebase = service::merge(&store, &s3, None, Strategy::Rebase).unwrap();
    assert!(rebase.success, "{rebase:?}");
    assert_eq!(git(&f.repo, &["rev-list", "--merges", "--count", "main"]), "0");
    assert_eq!(git(&f.repo, &["show", "main:three.txt"]), "x\nz");
    assert_eq!(git(&f.repo, &["show", "main:two.txt"]), "x\nz");
}

#[test]
fn a_target_checked_out_nowhere_is_merged_in_a_temporary_worktree() {
    let f = Fixture::new();
    git(&f.repo, &["branch", "release"]);
    let store = f.store();
    let s = f.session();
    let r = service::create(
        &store,
        &s,
        &service::CreateOptions { base: Some("release".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(r.base_branch.as_deref(), Some("release"));
    std::fs::write(Path::new(&r.path).join("r.txt"), "r\n").unwrap();
    let o = service::merge(&store, &s, None, Strategy::Merge).unwrap();
    assert!(o.success, "{o:?}");
    assert_eq!(git(&f.repo, &["show", "release:r.txt"]), "r");
    assert_eq!(
        git(&f.repo, &["rev-parse", "--abbrev-ref", "HEAD"]),
        "main",
        "the main checkout stays on main"
    );
    let dirs: Vec<_> =
        std::fs::read_dir(f.repo.join(".worktrees")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(dirs, [std::ffi::OsString::from(&s)], "the temporary worktree is gone");
}

#[test]
fn dirty_trees_are_never_lost() {
    let f = Fixture::new();
    let s = f.session();
    let path = PathBuf::from(f.ok(&["create", &s])["path"].as_str().unwrap());
    std::fs::write(path.join("work.txt"), "unsaved\n").unwrap();
    let err = f.fails(&["remove", &s], 1);
    assert!(err.starts_with("error: the worktree of session") && err.contains("work.txt"), "{err}");
    assert!(path.join("work.txt").exists(), "refused: nothing touched");

    // A dirty target is refused before anything happens.
    std::fs::write(f.repo.join("a.txt"), "edited in main\n").unwrap();
    let err = f.fails(&["merge", &s], 1);
    assert!(err.contains("branch main is checked out at") && err.contains("a.txt"), "{err}");
    assert!(git(&path, &["status", "--porcelain"]).contains("work.txt"), "not even committed");
    git(&f.repo, &["checkout", "--", "a.txt"]);

    let removed = f.ok(&["remove", &s, "--commit"]);
    let commit = removed["finalCommit"].as_str().unwrap();
    assert_eq!(git(&f.repo, &["show", &format!("{commit}:work.txt")]), "unsaved");
    assert!(!path.exists());

    // --force discards, as asked.
    let path = PathBuf::from(f.ok(&["create", &s])["path"].as_str().unwrap());
    std::fs::write(path.join("scratch.txt"), "throwaway\n").unwrap();
    assert_eq!(f.ok(&["remove", &s, "--force"])["deleted"], true);
    assert!(!path.exists());
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let f = Fixture::new();
    let s = f.session();
    let err = f.fails(&["create", "sess_nope"], 1);
    assert!(err.contains("no session sess_nope"), "{err}");
    let err = f.fails(&["create", &s, "--base", "no-such-branch"], 1);
    assert!(err.contains("base \"no-such-branch\" is not a commit"), "{err}");
    let err = f.fails(&["commit", &s], 1);
    assert!(err.contains(&format!("session {s} has no worktree")), "{err}");
    let err = f.fails(&["merge", &s, "--strategy", "octopus"], 2);
    assert!(err.contains("octopus"), "{err}");
    assert!(!f.repo.join(".worktrees").exists());
    assert!(f.worktree_events(&s).is_empty());

    f.ok(&["create", &s]);
    let err = f.fails(&["create", &s], 1);
    assert!(err.contains("already has a worktree"), "{err}");
    let err = f.fails(&["merge", &s, "--into", "nowhere"], 1);
    assert!(err.contains("target branch \"nowhere\" is not a branch"), "{err}");

    // A session whose directory is not a repository.
    let (row, _) = f
        .store()
        .create_session(NewSession {
            working_directory: f.dir.path().display().to_string(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        })
        .unwrap();
    let err = f.fails(&["create", row.id.as_str()], 1);
    assert!(err.contains("is not inside a git repository"), "{err}");
}

#[test]
fn orphans_are_found_and_pruned_without_losing_work() {
    let f = Fixture::new();
    let store = f.store();
    let (live, ended, gone) = (f.session(), f.session(), f.session());
    for s in [&live, &ended, &gone] {
        service::create(&store, s, &Default::default()).unwrap();
    }
    // The session ended with uncommitted work in its worktree.
    let ended_path = f.repo.join(".worktrees").join(&ended);
    std::fs::write(ended_path.join("late.txt"), "late\n").unwrap();
    store.set_archived(&ended, true).unwrap();
    // A worktree directory deleted by hand.
    std::fs::remove_dir_all(f.repo.join(".worktrees").join(&gone)).unwrap();
    // A crash between creating a worktree and recording it, with work in it.
    let crashed = f.session();
    let crashed_path = f.repo.join(".worktrees").join(&crashed);
    git(
        &f.repo,
        &["worktree", "add", "--quiet", "-b", &format!("session/{crashed}"), crashed_path.to_str().unwrap()],
    );
    std::fs::write(crashed_path.join("wip.txt"), "wip\n").unwrap();

    // Another tool's worktree in the same directory is none of tron's business.
    let foreign = f.repo.join(".worktrees").join("feature-x");
    git(&f.repo, &["worktree", "add", "--quiet", "-b", "feature-x", foreign.to_str().unwrap()]);
    std::fs::write(foreign.join("theirs.txt"), "theirs\n").unwrap();

    let listed = f.ok(&["list"]);
    let state_of = |s: &str| {
        listed["worktrees"].as_array().unwrap().iter().find(|w| w["sessionId"] == s).unwrap()["state"].clone()
    };
    assert_eq!(state_of(&live), "active");
    assert_eq!(state_of(&ended), "session-ended");
    assert_eq!(state_of(&gone), "missing");
    assert_eq!(state_of(&crashed), "unrecorded");
    assert_eq!(f.ok(&["prune", "--dry-run"])["orphans"].as_array().unwrap().len(), 3);
    assert!(crashed_path.exists(), "a dry run touches nothing");

    let report = f.ok(&["prune"]);
    assert_eq!(report["active"], 1);
    let pruned = report["pruned"].as_array().unwrap();
    assert_eq!(pruned.len(), 3, "{report}");
    assert!(pruned.iter().all(|p| p["removed"] == true && p.get("error").is_none()), "{report}");
    assert!(!ended_path.exists() && !crashed_path.exists());
    assert!(f.repo.join(".worktrees").join(&live).exists(), "the live session keeps its worktree");
    assert!(foreign.join("theirs.txt").exists(), "another tool's worktree is left alone");
    assert!(!listed.to_string().contains("feature-x"));
    // The work of the ended and the crashed session is on their branches.
    assert_eq!(git(&f.repo, &["show", &format!("session/{ended}:late.txt")]), "late");
    assert_eq!(git(&f.repo, &["show", &format!("session/{crashed}:wip.txt")]), "wip");
    assert_eq!(
        git(&f.repo, &["log", "-1", "--format=%s", &format!("session/{crashed}")]),
        format!("[RECOVERED] Session {crashed}")
    );
    // The log says what happened; git forgot the deleted directory.
    let ended_types: Vec<String> = f.worktree_events(&ended).into_iter().map(|(t, _)| t).collect();
    assert_eq!(ended_types, ["worktree.acquired", "worktree.commit", "worktree.released"]);
    assert_eq!(f.worktree_events(&gone).last().unwrap().0, "worktree.released");
    assert!(!git(&f.repo, &["worktree", "list"]).contains(&gone));
    let after = f.ok(&["list"]);
    assert_eq!(after["worktrees"].as_array().unwrap().len(), 1, "{after}");
}

#[test]
fn the_next_serve_start_recovers_a_crash_between_create_and_release() {
    let f = Fixture::new();
    let store = f.store();
    let s = f.session();
    let r = service::create(&store, &s, &Default::default()).unwrap();
    std::fs::write(Path::new(&r.path).join("wip.txt"), "wip\n").unwrap();
    // The session ended, but the process died before releasing the worktree.
    store.set_archived(&s, true).unwrap();
    assert_eq!(recovery::scan(&store).unwrap()[0].state, FindingKind::SessionEnded);

    let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin("tron"));
    cmd.args(["serve", "--port", "0", "--db"]).arg(&f.db);
    cmd.env("TRON_DATA_DIR", f.dir.path()).env("HOME", f.dir.path()).env_remove("TRON_EVENT_STORE_DB");
    let (mut child, _addr) = common::spawn_serve(&mut cmd);
    let _ = child.kill();
    let _ = child.wait();
    assert!(!Path::new(&r.path).exists(), "pruned at startup");
    assert_eq!(git(&f.repo, &["show", &format!("session/{s}:wip.txt")]), "wip");
    assert_eq!(f.worktree_events(&s).last().unwrap().0, "worktree.released");
    assert!(recovery::scan(&store).unwrap().is_empty());
    // A second prune finds nothing to do.
    let again = recovery::prune(&store, recovery::scan(&store).unwrap());
    assert!(again.pruned.is_empty());
    let _ = RemoveMode::Refuse;
}

#[tokio::test]
async fn the_worktree_methods_through_a_real_server() {
    let server = common::start(tron::testing::Script::new([])).await;
    let repo = server.dir.path().join("repo");
    init_repo(&repo);
    let mut c = common::Client::connect(server.addr).await;
    let s = c.session(repo.to_str().unwrap()).await;

    assert_eq!(c.call("worktree.getStatus", json!({"sessionId": s})).await, json!({"hasWorktree": false}));
    let committed = c.call("worktree.commit", json!({"sessionId": s, "message": "m"})).await;
    assert_eq!(committed["success"], false);
    assert!(committed["error"].as_str().unwrap().contains("has no worktree"), "{committed}");

    let acquired = c.call("worktree.acquire", json!({"sessionId": s})).await;
    let path = PathBuf::from(acquired["path"].as_str().unwrap());
    assert_eq!(acquired["branch"], format!("session/{s}"));
    std::fs::write(path.join("b.txt"), "two\n").unwrap();

    let status = c.call("worktree.getStatus", json!({"sessionId": s})).await;
    assert_eq!(status["hasWorktree"], true);
    let w = &status["worktree"];
    assert_eq!((w["isolated"].as_bool(), w["hasUncommittedChanges"].as_bool()), (Some(true), Some(true)));
    assert_eq!((w["commitCount"].as_i64(), w["baseBranch"].as_str()), (Some(0), Some("main")));
    assert_eq!(w["path"], path.display().to_string());

    let committed = c.call("worktree.commit", json!({"sessionId": s, "message": "add b"})).await;
    assert_eq!(committed["success"], true);
    assert_eq!(committed["filesChanged"], json!(["b.txt"]));
    let hash = committed["commitHash"].as_str().unwrap().to_owned();
    assert_eq!(git(&path, &["log", "-1", "--format=%s"]), "add b");
    // The events are persisted, not broadcast (the TypeScript server sends `event.new` only
    // for events.append and message.delete): the client reads them back.
    let history = c.call("events.getSince", json!({"sessionId": s})).await;
    let types: Vec<&str> =
        history["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert!(types.contains(&"worktree.acquired") && types.contains(&"worktree.commit"), "{types:?}");
    assert!(c.pushed().is_empty(), "no event.new: {:?}", c.pushed());
    let status = c.call("worktree.getStatus", json!({"sessionId": s})).await;
    assert_eq!(
        (status["worktree"]["commitCount"].as_i64(), status["worktree"]["isMerged"].as_bool()),
        (Some(1), Some(false))
    );

    let listed = c.call("worktree.list", json!({})).await;
    assert_eq!(listed["worktrees"][0]["sessionId"], s.as_str());
    assert_eq!(listed["worktrees"][0]["branch"], format!("session/{s}"));

    let e = c
        .fail("worktree.merge", json!({"sessionId": s, "targetBranch": "main", "strategy": "octopus"}))
        .await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    let merged = c.call("worktree.merge", json!({"sessionId": s, "targetBranch": "main"})).await;
    assert_eq!(merged["success"], true, "{merged}");
    assert_eq!(merged["mergeCommit"], git(&repo, &["rev-parse", "main"]).as_str());
    assert_eq!(git(&repo, &["rev-parse", "main^2"]), hash);
    let status = c.call("worktree.getStatus", json!({"sessionId": s})).await;
    assert_eq!(status["worktree"]["isMerged"], true);

    let released = c.call("worktree.release", json!({"sessionId": s})).await;
    assert_eq!((released["released"].as_bool(), released["deleted"].as_bool()), (Some(true), Some(true)));
    assert!(!path.exists());
    assert_eq!(c.call("worktree.list", json!({})).await, json!({"worktrees": []}));

    let types: Vec<String> = server
        .persisted(&s)
        .iter()
        .filter_map(|e| e["type"].as_str().filter(|t| t.starts_with("worktree.")).map(str::to_owned))
        .collect();
    assert_eq!(types, ["worktree.acquired", "worktree.commit", "worktree.merged", "worktree.released"]);

    // A session that ends releases its worktree; its uncommitted work is committed first.
    let ending = c.session(repo.to_str().unwrap()).await;
    let acquired = c.call("worktree.acquire", json!({"sessionId": ending})).await;
    let ending_path = PathBuf::from(acquired["path"].as_str().unwrap());
    std::fs::write(ending_path.join("last.txt"), "last\n").unwrap();
    c.call("session.archive", json!({"sessionId": ending})).await;
    assert!(!ending_path.exists());
    assert_eq!(git(&repo, &["show", &format!("session/{ending}:last.txt")]), "last");
    let released = server.persisted(&ending).into_iter().rfind(|e| e["type"] == "worktree.released").unwrap();
    assert_eq!(
        released["payload"]["finalCommit"],
        git(&repo, &["rev-parse", &format!("session/{ending}")]).as_str()
    );

    // Bad input: clear errors.
    let e = c.fail("worktree.getStatus", json!({})).await;
    assert_eq!(e, json!({"code": "INVALID_PARAMS", "message": "sessionId is required"}));
    let e = c.fail("worktree.getStatus", json!({"sessionId": "sess_nope"})).await;
    assert_eq!(e["code"], "SESSION_NOT_FOUND");
    let e = c.fail("worktree.commit", json!({"sessionId": s})).await;
    assert_eq!(e["message"], "message is required");
    let e = c.fail("git.clone", json!({"url": "gitlab.com/a/b", "targetPath": "x"})).await;
    assert_eq!(e["code"], "INVALID_PARAMS");
    std::fs::create_dir_all(server.dir.path().join("taken")).unwrap();
    let e = c.fail("git.clone", json!({"url": "github.com/a/b", "targetPath": "taken"})).await;
    assert_eq!(e["code"], "ALREADY_EXISTS");
    let e = c.fail("git.clone", json!({"url": "github.com/a/b", "targetPath": "../up"})).await;
    assert_eq!(e["message"], "Path traversal not allowed");
}

#[tokio::test]
async fn a_session_holding_a_worktree_runs_its_tools_there() {
    use tron::testing::{Script, ScriptedResponse};
    let script = Script::new([
        ScriptedResponse::tool_call("toolu_w", "Write", json!({"file_path": "notes.txt", "content": "mine"})),
        ScriptedResponse::text("written"),
    ]);
    let server = common::start(script).await;
    // Outside the server's data dir: the guardrails refuse writes into tron's data dir.
    let outside = tempfile::tempdir().unwrap();
    let repo = outside.path().join("repo");
    init_repo(&repo);
    let mut c = common::Client::connect(server.addr).await;
    let s = c.session(repo.to_str().unwrap()).await;
    let path =
        PathBuf::from(c.call("worktree.acquire", json!({"sessionId": s})).await["path"].as_str().unwrap());
    c.call("agent.prompt", json!({"sessionId": s, "prompt": "write notes"})).await;
    c.until("agent.complete").await;
    assert_eq!(std::fs::read_to_string(path.join("notes.txt")).unwrap(), "mine");
    assert!(!repo.join("notes.txt").exists(), "the main checkout is untouched");
}

#[tokio::test]
async fn a_fork_of_a_session_with_a_worktree_gets_its_own_from_the_parents_head() {
    let server = common::start(tron::testing::Script::new([])).await;
    let repo = server.dir.path().join("repo");
    init_repo(&repo);
    let mut c = common::Client::connect(server.addr).await;
    let parent = c.session(repo.to_str().unwrap()).await;
    let parent_path = PathBuf::from(
        c.call("worktree.acquire", json!({"sessionId": parent})).await["path"].as_str().unwrap(),
    );
    std::fs::write(parent_path.join("p.txt"), "parent\n").unwrap();
    let head = c.call("worktree.commit", json!({"sessionId": parent, "message": "parent work"})).await
        ["commitHash"]
        .as_str()
        .unwrap()
        .to_owned();

    let fork = c.call("session.fork", json!({"sessionId": parent})).await;
    let child = fork["newSessionId"].as_str().unwrap().to_owned();
    assert_eq!(fork["worktree"]["isolated"], true, "{fork}");
    let child_path = PathBuf::from(fork["worktree"]["path"].as_str().unwrap());
    assert_eq!(child_path, repo.join(".worktrees").join(&child));
    assert_eq!(std::fs::read_to_string(child_path.join("p.txt")).unwrap(), "parent\n");
    let acquired = server.persisted(&child).into_iter().find(|e| e["type"] == "worktree.acquired").unwrap();
    assert_eq!(acquired["payload"]["forkedFrom"], json!({"sessionId": parent, "commit": head}));
    assert_eq!(acquired["payload"]["baseBranch"], "main", "the fork merges back where its parent does");

    // A fork of a session without a worktree works in the same directory, as before (in
    // another repository, whose main checkout this session is the first to take).
    let other = server.dir.path().join("other");
    init_repo(&other);
    let plain = c.session(other.to_str().unwrap()).await;
    let fork = c.call("session.fork", json!({"sessionId": plain})).await;
    assert_eq!(fork["worktree"], json!({"isolated": false, "path": other.to_str().unwrap()}));
}

#[tokio::test]
async fn parallel_sessions_in_one_repository_are_isolated_lazily() {
    use tron::testing::{Script, ScriptedResponse};
    let script = Script::new([
        ScriptedResponse::tool_call(
            "toolu_1",
            "Write",
            json!({"file_path": "same.txt", "content": "second"}),
        ),
        ScriptedResponse::text("done"),
    ]);
    let server = common::start(script).await;
    // Outside the server's data dir: the guardrails refuse writes into tron's data dir.
    let outside = tempfile::tempdir().unwrap();
    let repo = outside.path().join("repo");
    init_repo(&repo);
    let dir = repo.to_str().unwrap();
    let mut c = common::Client::connect(server.addr).await;

    // The first session takes the main checkout: nothing is created, nothing recorded.
    let first = c.session(dir).await;
    let created = c.until("session.created").await;
    assert_eq!(created["data"]["worktree"], json!({"isolated": false, "path": dir}));
    assert_eq!(c.call("worktree.getStatus", json!({"sessionId": first})).await["hasWorktree"], false);

    // A second session while the first is open gets its own worktree and branch, and its
    // tools write there. (Its session.created reaches unbound clients: the creating client
    // is still bound to the first session when it is published, as in the TypeScript
    // gateway.)
    let mut watcher = common::Client::connect(server.addr).await;
    let second = c.session(dir).await;
    let created = watcher.until("session.created").await;
    assert_eq!(created["sessionId"], second.as_str());
    let wt = &created["data"]["worktree"];
    let path = repo.join(".worktrees").join(&second);
    assert_eq!(wt["isolated"], true, "{created}");
    assert_eq!(wt["path"], path.display().to_string());
    assert_eq!(wt["branch"], format!("session/{second}"));
    let acquired = server.persisted(&second).into_iter().find(|e| e["type"] == "worktree.acquired").unwrap();
    assert_eq!(acquired["payload"]["isolated"], true);
    // Asking for a worktree again gives the same one back.
    let again = c.call("worktree.acquire", json!({"sessionId": second})).await;
    assert_eq!(again["path"], path.display().to_string());
    c.call("agent.prompt", json!({"sessionId": second, "prompt": "write"})).await;
    c.until("agent.complete").await;
    assert_eq!(std::fs::read_to_string(path.join("same.txt")).unwrap(), "second");
    assert!(!repo.join("same.txt").exists(), "the first session's checkout is untouched");

    // Once the first session is archived, the next session takes the main checkout again.
    c.call("session.archive", json!({"sessionId": first})).await;
    let third = c.session(dir).await;
    assert_eq!(c.call("worktree.getStatus", json!({"sessionId": third})).await["hasWorktree"], false);

    // Outside a repository nothing happens at all.
    let plain = server.dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let a = c.session(plain.to_str().unwrap()).await;
    let b = c.session(plain.to_str().unwrap()).await;
    for s in [a, b] {
        assert_eq!(c.call("worktree.getStatus", json!({"sessionId": s})).await["hasWorktree"], false);
    }
}

#[tokio::test]
async fn isolation_always_and_never_follow_the_setting() {
    let server = common::start(tron::testing::Script::new([])).await;
    let repo = server.dir.path().join("repo");
    init_repo(&repo);
    let dir = repo.to_str().unwrap();
    let mut c = common::Client::connect(server.addr).await;
    c.call("settings.update", json!({"settings": {"session": {"isolation": {"mode": "always"}}}})).await;
    let s = c.session(dir).await;
    let status = c.call("worktree.getStatus", json!({"sessionId": s})).await;
    assert_eq!(
        (status["hasWorktree"].as_bool(), status["worktree"]["isolated"].as_bool()),
        (Some(true), Some(true))
    );
    c.call("settings.update", json!({"settings": {"session": {"isolation": {"mode": "never"}}}})).await;
    for _ in 0..2 {
        let s = c.session(dir).await;
        assert_eq!(c.call("worktree.getStatus", json!({"sessionId": s})).await["hasWorktree"], false);
    }
}

#[tokio::test]
async fn a_running_session_is_neither_merged_nor_released() {
    use tron::testing::{Script, ScriptedResponse, Step};
    let script = Script::new([ScriptedResponse::stream([
        Step::Text { text: "Working".into() },
        Step::DelayMs { ms: 30_000 },
    ])]);
    let server = common::start(script).await;
    let repo = server.dir.path().join("repo");
    init_repo(&repo);
    let mut c = common::Client::connect(server.addr).await;
    let s = c.session(repo.to_str().unwrap()).await;
    let path =
        PathBuf::from(c.call("worktree.acquire", json!({"sessionId": s})).await["path"].as_str().unwrap());
    c.call("agent.prompt", json!({"sessionId": s, "prompt": "work"})).await;
    c.until("agent.text_delta").await;
    for method in ["worktree.merge", "worktree.release"] {
        let e = c.fail(method, json!({"sessionId": s, "targetBranch": "main"})).await;
        assert_eq!(e["code"], "SESSION_BUSY", "{method}: {e}");
    }
    assert!(path.exists());
    c.call("agent.abort", json!({"sessionId": s})).await;
    c.until("agent.ready").await;
    assert_eq!(c.call("worktree.release", json!({"sessionId": s})).await["released"], true);
}
