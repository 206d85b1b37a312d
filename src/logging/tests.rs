//! Unit tests of the layer + sink together: a real SQLite file in a temp dir.

use std::path::Path;

use proptest::prelude::*;
use tracing_subscriber::layer::SubscriberExt;

use super::query::{query_logs, LogQuery};
use super::*;
use crate::events::{EventStore, OpenMode};

fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.db");
    EventStore::open(&path, OpenMode::Create).unwrap();
    (dir, path)
}

fn rows(path: &Path, q: &LogQuery) -> Vec<query::LogRow> {
    let store = EventStore::open(path, OpenMode::Existing).unwrap();
    query_logs(store.connection(), q).unwrap()
}

#[test]
fn events_become_rows_with_span_fields_levels_and_redacted_data() {
    let (_dir, path) = database();
    let (handle, guard) = sink::start(&path, SinkConfig::default()).unwrap();
    let subscriber = tracing_subscriber::registry().with(SqliteLayer::with_sink(handle));
    tracing::subscriber::with_default(subscriber, || {
        let span =
            tracing::info_span!("rpc", request_id = "REQ-1", session_id = "sess_1", method = "agent.prompt");
        let _e = span.enter();
        tracing::info!(turn = 2, attempt = 1, "turn started");
        tracing::warn!(component = "llm", error = "overloaded", "retrying the provider");
        tracing::trace!(header = "x-api-key: sk-ant-api03-SECRETSECRET", "sent sk-proj-abcdefghijkl");
    });
    guard.flush();
    let all = rows(&path, &LogQuery::default());
    assert_eq!(all.len(), 3, "{all:?}");
    let (a, b, c) = (&all[0], &all[1], &all[2]);
    assert_eq!((a.level.as_str(), a.level_num, a.turn), ("info", 30, Some(2)));
    assert_eq!(a.session_id.as_deref(), Some("sess_1"));
    assert_eq!(a.component, "tron::logging::tests");
    assert_eq!(a.message, "turn started");
    assert_eq!(a.data.as_ref().unwrap()["request_id"], "REQ-1");
    assert_eq!(a.data.as_ref().unwrap()["method"], "agent.prompt");
    assert_eq!(a.data.as_ref().unwrap()["attempt"], 1);
    assert_eq!((b.level.as_str(), b.level_num, b.component.as_str()), ("warn", 40, "llm"));
    assert_eq!(b.error_message.as_deref(), Some("overloaded"));
    assert_eq!((c.level.as_str(), c.level_num), ("trace", 10));
    let stored = serde_json::to_string(&all).unwrap();
    assert!(!stored.contains("SECRETSECRET") && !stored.contains("abcdefghijkl"), "{stored}");
    assert_eq!(c.message, "sent sk-[REDACTED]");

    let warn = rows(&path, &LogQuery { min_level: Some(Level::Warn), ..Default::default() });
    assert_eq!(warn.len(), 1);
    let found = rows(&path, &LogQuery { search: Some("retry*".into()), ..Default::default() });
    assert_eq!(found.iter().map(|r| r.id).collect::<Vec<_>>(), [b.id]);
    // A component and the ones below it; not a mere prefix of a name.
    let of = |c: &str| rows(&path, &LogQuery { component: Some(c.into()), ..Default::default() }).len();
    assert_eq!((of("llm"), of("tron::logging"), of("tron::logging::tests"), of("tron::log")), (1, 2, 2, 0));
    let last = rows(&path, &LogQuery { limit: 2, ..Default::default() });
    assert_eq!(last.iter().map(|r| r.id).collect::<Vec<_>>(), [b.id, c.id], "newest last");
    assert_eq!(guard.dropped(), 0);
}

#[test]
fn records_below_the_sink_level_are_not_stored() {
    let (_dir, path) = database();
    let config = SinkConfig { min_level: Level::Info, ..Default::default() };
    let (handle, guard) = sink::start(&path, config).unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(SqliteLayer::with_sink(handle)),
        || {
            tracing::debug!("quiet");
            tracing::info!("loud");
        },
    );
    drop(guard); // flushes and joins
    let all = rows(&path, &LogQuery::default());
    assert_eq!(all.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(), ["loud"]);
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let (_dir, path) = database();
    let config = SinkConfig { capacity: 4, batch: 4, min_level: Level::Trace };
    let (handle, guard) = sink::start(&path, config).unwrap();
    // Hold the write lock: the writer takes one batch and then waits for the lock.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(SqliteLayer::with_sink(handle)),
        || {
            for i in 0..1000 {
                tracing::info!(i, "record");
            }
        },
    );
    blocker.execute_batch("COMMIT").unwrap();
    guard.flush();
    let stored = rows(&path, &LogQuery::default()).len() as u64;
    assert!(guard.dropped() >= 1000 - 8, "dropped {}", guard.dropped());
    assert_eq!(stored + guard.dropped(), 1000);
}

#[test]
fn without_the_fts_trigger_the_sink_writes_logs_fts_itself() {
    let (_dir, path) = database();
    rusqlite::Connection::open(&path).unwrap().execute_batch("DROP TRIGGER logs_fts_insert").unwrap();
    let (handle, guard) = sink::start(&path, SinkConfig::default()).unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(SqliteLayer::with_sink(handle)),
        || {
            tracing::error!(session_id = "sess_9", error = "disk full", "compaction failed");
        },
    );
    drop(guard);
    let found = rows(&path, &LogQuery { search: Some("disk".into()), ..Default::default() });
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].session_id.as_deref(), Some("sess_9"));
}

#[test]
fn a_missing_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = sink::start(&dir.path().join("nope.db"), SinkConfig::default()).unwrap_err();
    assert!(e.to_string().contains("no event database"), "{e}");
}

#[test]
fn levels_have_the_typescript_names_and_numbers() {
    let all = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error, Level::Fatal];
    let pairs: Vec<(&str, i64)> = all.iter().map(|l| (l.name(), l.num())).collect();
    assert_eq!(
        pairs,
        [("trace", 10), ("debug", 20), ("info", 30), ("warn", 40), ("error", 50), ("fatal", 60)]
    );
    for l in all {
        assert_eq!(l.name().parse::<Level>().unwrap(), l);
    }
    assert!("loud".parse::<Level>().is_err());
}

/// A secret of each kind, and the part of it that must never be seen.
fn secret() -> impl Strategy<Value = (String, String)> {
    let body = "[A-Za-z0-9_-]{8,40}";
    prop_oneof![
        body.prop_map(|b| (format!("sk-ant-api03-{b}"), b)),
        body.prop_map(|b| (format!("sk-{b}"), b)),
        "[A-Za-z0-9_-]{10,39}".prop_map(|b| (format!("AIza{b}"), b)),
        "[A-Za-z0-9._~+/-]{8,60}".prop_map(|b| (format!("Authorization: Bearer {b}"), b)),
        "[A-Za-z0-9._~+/-]{8,60}".prop_map(|b| (format!("bearer {b}"), b)),
        body.prop_map(|b| (format!("x-api-key: {b}"), b)),
        ("(accessToken|refreshToken|apiKey|access_token|refresh_token)", "[^\"\\\\]{8,40}")
            .prop_map(|(k, b)| (format!("{{\"{k}\": \"{b}\"}}"), b)),
        ("(accessToken|refresh_token|apiKey)", "[A-Za-z0-9._-]{8,40}")
            .prop_map(|(k, b)| (format!("{k}={b}"), b)),
    ]
}

proptest! {
    #[test]
    fn any_secret_in_any_text_is_masked(
        before in "\\PC{0,40}",
        (secret, body) in secret(),
        after in "\\PC{0,40}",
        sep in prop_oneof![Just(" "), Just("\n"), Just(", "), Just("\t")],
    ) {
        let text = format!("{before}{sep}{secret}{sep}{after}");
        let out = redact(&text);
        prop_assert!(!out.contains(&body), "{text:?} -> {out:?}");
        // What does not hold a secret is kept.
        prop_assert!(out.contains(redact::MASK));
        prop_assert_eq!(redact(&out).into_owned(), out.into_owned());
    }
}
