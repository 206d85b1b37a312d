//! Crash and concurrency reliability of the SQLite event store, on real files.
//!
//! What this proves:
//! - **SIGKILL at random moments** (40 rounds, fixed seed): a child process appending in a
//!   loop is killed mid-flight again and again on the same file. After every kill the file
//!   opens, every event the child saw committed is there with the sequence it was given,
//!   the session's sequences are exactly `0..=max` (no hole, no duplicate, so a batch is
//!   all-or-nothing), the parent links form one chain, the cached `event_count` and head
//!   match the rows, and `PRAGMA integrity_check` is `ok`.
//! - **Two writer processes** appending 300 events each, once to the same session and once
//!   to two sessions of one file: both finish without error and the sessions stay one
//!   gap-free, duplicate-free chain each.
//! - **A locked database**: an append waits for an `EXCLUSIVE` lock held elsewhere and then
//!   succeeds; when the lock outlives the (shortened) busy timeout and retries, the error
//!   is `Locked` and names the file.
//!
//! Children are this test binary re-executed with `--exact child_append_loop` and the
//! `TRON_TEST_CHILD_*` variables; without them `child_append_loop` does nothing. Nothing
//! here asserts on timing.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use serde_json::json;
use tron::events::{EventStore, NewEvent, NewSession, OpenMode, StoreError};

const ENV_DB: &str = "TRON_TEST_CHILD_DB";
const ENV_SESSION: &str = "TRON_TEST_CHILD_SESSION";
/// When set, the child appends this many events and exits; otherwise it loops forever.
const ENV_COUNT: &str = "TRON_TEST_CHILD_COUNT";
/// A tag the child puts into its payloads (tells two writers apart).
const ENV_TAG: &str = "TRON_TEST_CHILD_TAG";

/// The child side. Does nothing in a normal test run.
#[test]
fn child_append_loop() {
    let Ok(db) = std::env::var(ENV_DB) else { return };
    let session = std::env::var(ENV_SESSION).expect("child needs a session id");
    let count: Option<u64> = std::env::var(ENV_COUNT).ok().map(|c| c.parse().expect("count"));
    let tag = std::env::var(ENV_TAG).unwrap_or_default();
    let store = EventStore::open(&db, OpenMode::Existing).expect("child opens the database");
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(out, "READY").unwrap();
    out.flush().unwrap();
    let mut i: u64 = 0;
    while count.is_none_or(|c| i < c) {
        // Mostly single appends; every fifth iteration a batch of three (one transaction).
        let committed = if count.is_none() && i % 5 == 4 {
            let batch: Vec<_> = (0..3)
                .map(|k| NewEvent::raw("message.user", json!({"content": format!("{tag} batch {i}.{k}")})))
                .collect();
            store.append_batch(&session, &batch).expect("child batch append")
        } else {
            let role = if i.is_multiple_of(2) { "message.user" } else { "message.assistant" };
            let payload = if role == "message.user" {
                json!({"content": format!("{tag} user {i}")})
            } else {
                json!({"content": [{"type": "text", "text": format!("{tag} assistant {i}")}], "turn": i})
            };
            vec![store.append(&session, NewEvent::raw(role, payload)).expect("child append")]
        };
        for e in &committed {
            writeln!(out, "COMMITTED {} {}", e.sequence, e.id).unwrap();
        }
        out.flush().unwrap();
        i += 1;
    }
}

fn spawn_child(db: &Path, session: &str, count: Option<u64>, tag: &str) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_append_loop", "--nocapture", "--test-threads=1"])
        .env(ENV_DB, db)
        .env(ENV_SESSION, session)
        .env(ENV_TAG, tag)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match count {
        Some(c) => cmd.env(ENV_COUNT, c.to_string()),
        None => cmd.env_remove(ENV_COUNT),
    };
    cmd.spawn().expect("re-exec the test binary")
}

/// What the child printed, line by line, as it arrives.
enum Line {
    Ready,
    Committed(i64, String),
}

fn read_lines(child: &mut Child) -> mpsc::Receiver<Line> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            // A line cut by the kill has no newline: ignore it.
            if buf.last() != Some(&b'\n') {
                break;
            }
            // libtest writes `test child_append_loop ... ` with no newline before the
            // child's first line, so a marker may start mid-line.
            let line = String::from_utf8_lossy(&buf);
            let start = ["COMMITTED ", "READY"].iter().filter_map(|m| line.find(m)).min();
            let Some(start) = start else { continue };
            let mut parts = line[start..].split_whitespace();
            let parsed = match parts.next() {
                Some("READY") => Some(Line::Ready),
                Some("COMMITTED") => {
                    match (parts.next().and_then(|s| s.parse().ok()), parts.next(), parts.next()) {
                        (Some(seq), Some(id), None) => Some(Line::Committed(seq, id.to_owned())),
                        _ => None,
                    }
                }
                _ => None,
            };
            if let Some(l) = parsed {
                if tx.send(l).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

fn new_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    (dir, path)
}

fn new_session(store: &EventStore, dir: &str) -> String {
    let (row, _) = store
        .create_session(NewSession {
            working_directory: dir.into(),
            model: "test-model".into(),
            ..Default::default()
        })
        .unwrap();
    row.id.as_str().to_owned()
}

/// Checks one session's rows: sequences exactly `0..=max`, one parent chain from the root,
/// cached count and head matching. Returns the rows as (sequence, id).
fn check_session(store: &EventStore, session: &str) -> Vec<(i64, String)> {
    let conn = store.connection();
    let mut stmt = conn
        .prepare("SELECT sequence, id, parent_id FROM events WHERE session_id = ?1 ORDER BY sequence, id")
        .unwrap();
    let rows: Vec<(i64, String, Option<String>)> = stmt
        .query_map([session], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let seqs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let expected: Vec<i64> = (0..rows.len() as i64).collect();
    assert_eq!(seqs, expected, "sequences of {session} have a hole or a duplicate");
    assert_eq!(rows[0].2, None, "the root has no parent");
    for w in rows.windows(2) {
        assert_eq!(
            w[1].2.as_deref(),
            Some(w[0].1.as_str()),
            "event {} (sequence {}) does not follow sequence {}",
            w[1].1,
            w[1].0,
            w[0].0
        );
    }
    let row = store.session(session).unwrap();
    assert_eq!(row.event_count, rows.len() as i64, "cached event_count of {session}");
    assert_eq!(row.message_count, rows.len() as i64 - 1, "cached message_count of {session}");
    assert_eq!(row.head_event_id.as_ref().map(|h| h.as_str()), Some(rows.last().unwrap().1.as_str()), "head");
    rows.into_iter().map(|(s, id, _)| (s, id)).collect()
}

fn integrity_ok(store: &EventStore) {
    let result: String = store.connection().query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(result, "ok");
}

#[test]
fn sigkill_at_random_moments_loses_nothing_committed() {
    const ROUNDS: usize = 40;
    let (_dir, db) = new_db();
    let session = {
        let store = EventStore::open(&db, OpenMode::Create).unwrap();
        new_session(&store, "/w/kill")
    };
    let mut rng = fastrand::Rng::with_seed(0x7e57_c0de);
    let mut reported: Vec<(i64, String)> = Vec::new();
    let mut rounds_with_appends = 0;
    for round in 0..ROUNDS {
        let mut child = spawn_child(&db, &session, None, "kill");
        let lines = read_lines(&mut child);
        // Every eighth round is killed early (maybe while it opens the file); the others
        // some milliseconds into the append loop.
        let early = round % 8 == 7;
        if !early {
            match lines.recv_timeout(Duration::from_secs(60)) {
                Ok(Line::Ready) => {}
                _ => {
                    let _ = child.kill();
                    let out = child.wait_with_output().unwrap();
                    panic!("round {round}: child never got ready: {}", String::from_utf8_lossy(&out.stderr));
                }
            }
        }
        let delay = if early { rng.u64(0..10) } else { rng.u64(5..=80) };
        thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr);
        // The child must have died of the kill, not of an error of its own.
        assert!(status.code().is_none(), "round {round}: child exited on its own ({status}): {stderr}");
        let before = reported.len();
        // The reader thread ends at EOF, so this drains everything the child printed.
        reported.extend(lines.iter().filter_map(|l| match l {
            Line::Committed(seq, id) => Some((seq, id)),
            Line::Ready => None,
        }));
        if reported.len() > before {
            rounds_with_appends += 1;
        }

        let store = EventStore::open(&db, OpenMode::Existing)
            .unwrap_or_else(|e| panic!("round {round}: the database does not open after SIGKILL: {e}"));
        let rows = check_session(&store, &session);
        let by_id: std::collections::HashMap<&str, i64> =
            rows.iter().map(|(s, id)| (id.as_str(), *s)).collect();
        for (seq, id) in &reported {
            assert_eq!(
                by_id.get(id.as_str()),
                Some(seq),
                "round {round}: committed event {id} (sequence {seq}) lost"
            );
        }
        integrity_ok(&store);
    }
    eprintln!(
        "{ROUNDS} kills, {rounds_with_appends} of them mid-append-loop, {} events committed",
        reported.len()
    );
    assert!(
        rounds_with_appends >= ROUNDS / 2,
        "only {rounds_with_appends} of {ROUNDS} rounds got as far as committing an event"
    );
    assert!(reported.len() >= ROUNDS, "only {} events committed over {ROUNDS} rounds", reported.len());
}

fn run_two_writers(db: &Path, sessions: [&str; 2], n: u64) {
    let mut children: Vec<Child> =
        sessions.iter().enumerate().map(|(i, s)| spawn_child(db, s, Some(n), &format!("w{i}"))).collect();
    for (i, child) in children.drain(..).enumerate() {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer {i} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let committed =
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("COMMITTED ")).count();
        assert_eq!(committed as u64, n, "writer {i} reported {committed} commits");
    }
}

#[test]
fn two_writer_processes_on_one_session_form_one_chain() {
    const N: u64 = 300;
    let (_dir, db) = new_db();
    let session = {
        let store = EventStore::open(&db, OpenMode::Create).unwrap();
        new_session(&store, "/w/two")
    };
    run_two_writers(&db, [&session, &session], N);
    let store = EventStore::open(&db, OpenMode::Existing).unwrap();
    let rows = check_session(&store, &session);
    assert_eq!(rows.len() as u64, 2 * N + 1);
    // Both writers really wrote (their tags are in the payloads).
    for tag in ["w0", "w1"] {
        let n: i64 = store
            .connection()
            .query_row(
                "SELECT count(*) FROM events WHERE session_id = ?1 AND payload LIKE ?2",
                [session.as_str(), &format!("%\"{tag} %")],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n as u64, N, "events of writer {tag}");
    }
    integrity_ok(&store);
}

#[test]
fn two_writer_processes_on_two_sessions_of_one_file() {
    const N: u64 = 300;
    let (_dir, db) = new_db();
    let (a, b) = {
        let store = EventStore::open(&db, OpenMode::Create).unwrap();
        (new_session(&store, "/w/a"), new_session(&store, "/w/b"))
    };
    run_two_writers(&db, [&a, &b], N);
    let store = EventStore::open(&db, OpenMode::Existing).unwrap();
    for s in [&a, &b] {
        assert_eq!(check_session(&store, s).len() as u64, N + 1);
    }
    let total: i64 = store.connection().query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(total as u64, 2 * N + 2);
    integrity_ok(&store);
}

/// Holds `BEGIN EXCLUSIVE` on `db` from another connection in another thread until told to
/// let go (or `hold` has passed); `released` is set just before the COMMIT.
fn hold_exclusive_lock(
    db: &Path,
    hold: Duration,
    released: Arc<AtomicBool>,
) -> (thread::JoinHandle<()>, mpsc::Sender<()>) {
    let db = db.to_path_buf();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        let _ = stop_rx.recv_timeout(hold);
        released.store(true, Ordering::SeqCst);
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    (handle, stop_tx)
}

#[test]
fn append_waits_for_a_lock_held_elsewhere_then_succeeds() {
    let (_dir, db) = new_db();
    let store = EventStore::open(&db, OpenMode::Create).unwrap();
    let session = new_session(&store, "/w/lock");
    let released = Arc::new(AtomicBool::new(false));
    let (holder, _stop) = hold_exclusive_lock(&db, Duration::from_millis(300), released.clone());
    let e =
        store.append(&session, NewEvent::raw("message.user", json!({"content": "after the lock"}))).unwrap();
    assert!(released.load(Ordering::SeqCst), "the append went through while the lock was still held");
    holder.join().unwrap();
    assert_eq!(e.sequence, 1);
    check_session(&store, &session);
}

#[test]
fn a_lock_that_outlasts_the_retries_is_reported_naming_the_file() {
    let (_dir, db) = new_db();
    let store = EventStore::open(&db, OpenMode::Create).unwrap();
    let session = new_session(&store, "/w/lock");
    // Shorten SQLite's own wait so that the store's retries give up quickly (the store's
    // default is 5 s per attempt).
    store.connection().busy_timeout(Duration::from_millis(10)).unwrap();
    let released = Arc::new(AtomicBool::new(false));
    let (holder, stop) = hold_exclusive_lock(&db, Duration::from_secs(30), released.clone());
    let err =
        store.append(&session, NewEvent::raw("message.user", json!({"content": "blocked"}))).unwrap_err();
    assert!(!released.load(Ordering::SeqCst));
    stop.send(()).unwrap();
    holder.join().unwrap();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&db.display().to_string()), "the message does not name the file: {msg}");
    // The failed append changed nothing, and the store works once the lock is gone.
    assert_eq!(check_session(&store, &session).len(), 1);
    store.append(&session, NewEvent::raw("message.user", json!({"content": "now"}))).unwrap();
    assert_eq!(check_session(&store, &session).len(), 2);
}
