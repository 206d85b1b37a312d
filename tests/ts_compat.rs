//! Databases written by the TypeScript Tron server open, read and keep working in tron.
//!
//! The fixtures (`tests/fixtures/ts/*.sql`) are SQL dumps made by `make_fixtures.py`, which
//! builds each database the way the TypeScript server does, from its own statement of the TS
//! schema (not from tron's migrations). Each test loads a dump into a fresh file with plain
//! rusqlite, reads what the TypeScript server wrote (raw SQL, before tron touches the file),
//! then opens the file with `EventStore` and checks tron against those raw rows.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::Connection;
use serde_json::{json, Map, Value};
use tempfile::TempDir;
use tron::events::{
    blobs::hash_hex, transfer, EventPayload, EventStore, EventType, ListOptions, NewEvent, OpenMode,
    SearchOptions,
};

const V9: &str = include_str!("fixtures/ts/ts_v9.sql");
const V4: &str = include_str!("fixtures/ts/ts_v4_ended_at.sql");
const SUMMARY_PREFIX: &str = "[Context from earlier in this conversation]";
const ACK: &str = "I understand the previous context. Let me continue helping you.";

type Row = Map<String, Value>;

struct Fixture {
    _dir: TempDir,
    path: PathBuf,
}

/// Loads a dump into a new database file with rusqlite alone, in WAL mode like every file the
/// TS server opened.
fn load(dump: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.db");
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    conn.execute_batch(dump).expect("fixture dump loads");
    Fixture { _dir: dir, path }
}

fn open(path: &Path) -> EventStore {
    EventStore::open(path, OpenMode::Existing).expect("TS database opens in tron")
}

/// Raw rows as JSON objects keyed by column name (BLOBs as UTF-8 text).
fn rows(path: &Path, sql: &str) -> Vec<Row> {
    let conn = Connection::open(path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let out = stmt
        .query_map([], |r| {
            let mut row = Map::new();
            for (i, name) in names.iter().enumerate() {
                let v = match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => json!(n),
                    ValueRef::Real(f) => json!(f),
                    ValueRef::Text(t) | ValueRef::Blob(t) => json!(String::from_utf8_lossy(t)),
                };
                row.insert(name.clone(), v);
            }
            Ok(row)
        })
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap();
    out
}

fn scalar(path: &Path, sql: &str) -> Value {
    rows(path, sql)
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next())
        .map(|(_, v)| v)
        .unwrap_or(Value::Null)
}

fn s(row: &Row, col: &str) -> String {
    row[col].as_str().unwrap_or_else(|| panic!("{col} is not text: {row:?}")).to_owned()
}

fn payload(row: &Row) -> Value {
    serde_json::from_str(row["payload"].as_str().unwrap()).unwrap()
}

fn session_id(path: &Path, where_: &str) -> String {
    scalar(path, &format!("SELECT id FROM sessions WHERE {where_}")).as_str().unwrap().to_owned()
}

/// The raw event rows of a session, in sequence order.
fn raw_events(path: &Path, session: &str) -> Vec<Row> {
    rows(path, &format!("SELECT * FROM events WHERE session_id = '{session}' ORDER BY sequence"))
}

fn by_type<'a>(events: &'a [Row], t: &str) -> Vec<&'a Row> {
    events.iter().filter(|r| r["type"] == t).collect()
}

fn schema(path: &Path) -> Vec<Row> {
    rows(path, "SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
}

fn index_columns(path: &Path, index: &str) -> Vec<String> {
    rows(path, &format!("SELECT name FROM pragma_index_info('{index}') ORDER BY seqno"))
        .iter()
        .map(|r| s(r, "name"))
        .collect()
}

/// The shape of a schema, whitespace aside: each table with its columns (name, type, not
/// null, default, key), each index with its table, columns, order and predicate, each trigger
/// with its table. FTS5 tables by name (their shadow tables are FTS5's business).
fn schema_shape(path: &Path) -> Vec<String> {
    let objects = rows(
        path,
        "SELECT type, name, tbl_name, COALESCE(sql, '') AS sql FROM sqlite_master
         WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '%\\_fts\\_%' ESCAPE '\\' ORDER BY type, name",
    );
    objects
        .iter()
        .map(|o| {
            let (kind, name, sql) = (s(o, "type"), s(o, "name"), s(o, "sql"));
            let detail = match kind.as_str() {
                "table" if sql.starts_with("CREATE VIRTUAL TABLE") => String::new(),
                "table" => json!(rows(
                    path,
                    &format!(
                        "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}')"
                    )
                ))
                .to_string(),
                "index" => {
                    let cols = rows(
                        path,
                        &format!("SELECT name, \"desc\" FROM pragma_index_xinfo('{name}') WHERE key = 1"),
                    );
                    let predicate = sql
                        .split_once(" WHERE ")
                        .map(|(_, w)| w.split_whitespace().collect::<Vec<_>>().join(" "));
                    format!("{} {} {predicate:?}", s(o, "tbl_name"), json!(cols))
                }
                _ => s(o, "tbl_name"),
            };
            format!("{kind} {name} {detail}")
        })
        .collect()
}

/// Every event of the database reads back as the TS server wrote it, with a typed view.
fn check_events_verbatim(path: &Path, raw: &[Row]) {
    let store = open(path);
    let sessions: Vec<String> = rows(path, "SELECT id FROM sessions").iter().map(|r| s(r, "id")).collect();
    let mut seen = 0;
    for sid in &sessions {
        let events = store.events(sid).unwrap();
        let expected: Vec<&Row> = raw.iter().filter(|r| r["session_id"] == sid.as_str()).collect();
        assert_eq!(events.len(), expected.len(), "event count of {sid}");
        for (e, r) in events.iter().zip(expected) {
            assert_eq!(e.id.as_str(), s(r, "id"));
            assert_eq!(e.parent_id.as_deref(), r["parent_id"].as_str());
            assert_eq!(e.session_id.as_str(), sid);
            assert_eq!(e.workspace_id.as_str(), s(r, "workspace_id"));
            assert_eq!(e.timestamp, s(r, "timestamp"));
            assert_eq!(e.event_type.as_str(), s(r, "type"));
            assert_eq!(json!(e.sequence), r["sequence"]);
            assert_eq!(e.checksum, None);
            assert_eq!(e.payload, payload(r), "payload of {} ({})", e.id, e.event_type);
            assert_eq!(store.event(&e.id).unwrap(), *e);
            match e.typed() {
                Ok(EventPayload::Unknown { event_type, payload }) => {
                    assert!(!e.event_type.is_known(), "{} parsed as unknown", e.event_type);
                    assert_eq!(event_type, e.event_type.as_str());
                    assert_eq!(payload, e.payload);
                }
                Ok(typed) => {
                    assert!(e.event_type.is_known());
                    assert_eq!(
                        typed.to_value(),
                        e.payload,
                        "typed round trip of {} loses data",
                        e.event_type
                    );
                }
                Err(err) => panic!("typed view of TS {} {} fails: {err}\n{}", e.event_type, e.id, e.payload),
            }
            seen += 1;
        }
    }
    assert_eq!(seen, raw.len(), "every TS event belongs to a listed session");
}

/// What a TS server reading the file relies on, checked with raw SQL.
fn check_ts_readable(path: &Path) {
    assert_eq!(scalar(path, "PRAGMA integrity_check"), json!("ok"));
    assert!(rows(path, "PRAGMA foreign_key_check").is_empty(), "dangling references");
    let bad = rows(
        path,
        "SELECT e.id FROM events e WHERE NOT json_valid(e.payload) OR e.checksum IS NOT NULL
           OR CASE WHEN e.parent_id IS NULL THEN e.sequence != 0 OR e.type != 'session.start'
                   ELSE e.sequence = 0 AND e.type != 'session.fork' END
           OR e.depth != COALESCE((SELECT p.depth + 1 FROM events p WHERE p.id = e.parent_id), 0)
           OR e.workspace_id != (SELECT workspace_id FROM sessions WHERE id = e.session_id)
           OR COALESCE(e.role, '') != CASE e.type WHEN 'message.user' THEN 'user'
                WHEN 'message.assistant' THEN 'assistant' WHEN 'tool.call' THEN 'tool'
                WHEN 'tool.result' THEN 'tool' ELSE '' END
           OR e.tool_name IS NOT COALESCE(json_extract(e.payload, '$.toolName'), json_extract(e.payload, '$.name'))
           OR e.tool_call_id IS NOT json_extract(e.payload, '$.toolCallId')
           OR e.turn IS NOT json_extract(e.payload, '$.turn')
           OR e.input_tokens IS NOT json_extract(e.payload, '$.tokenUsage.inputTokens')
           OR e.output_tokens IS NOT json_extract(e.payload, '$.tokenUsage.outputTokens')
           OR e.cache_read_tokens IS NOT json_extract(e.payload, '$.tokenUsage.cacheReadTokens')
           OR e.cache_creation_tokens IS NOT json_extract(e.payload, '$.tokenUsage.cacheCreationTokens')",
    );
    assert!(bad.is_empty(), "events rows a TS server would misread: {bad:?}");
    let sessions = rows(
        path,
        "SELECT s.id FROM sessions s WHERE s.event_count != (SELECT count(*) FROM events WHERE session_id = s.id)
           OR s.head_event_id IS NOT (SELECT id FROM events WHERE session_id = s.id ORDER BY sequence DESC LIMIT 1)
           OR s.root_event_id IS NOT (SELECT id FROM events WHERE session_id = s.id AND sequence = 0)
           OR (SELECT count(*) FROM events WHERE session_id = s.id)
              != (SELECT count(DISTINCT sequence) FROM events WHERE session_id = s.id)",
    );
    assert!(sessions.is_empty(), "session rows out of step with their events: {sessions:?}");
    let trigger =
        scalar(path, "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'events_fts_insert'");
    assert!(trigger.as_str().unwrap().contains("memory.ledger"), "a TS server would replace the FTS trigger");
}

// ----- opening and migrating ----------------------------------------------------------------

#[test]
fn v9_opens_without_migrating_and_reopens_idempotently() {
    let fx = load(V9);
    let versions_before = rows(&fx.path, "SELECT * FROM schema_version ORDER BY version");
    let schema_before = schema(&fx.path);
    assert_eq!(versions_before.len(), 9);
    drop(open(&fx.path));
    assert_eq!(scalar(&fx.path, "SELECT MAX(version) FROM schema_version"), json!(9));
    assert_eq!(rows(&fx.path, "SELECT * FROM schema_version ORDER BY version"), versions_before);
    let schema_after = schema(&fx.path);
    let added: Vec<&Row> = schema_after.iter().filter(|r| !schema_before.contains(r)).collect();
    let removed: Vec<&Row> = schema_before.iter().filter(|r| !schema_after.contains(r)).collect();
    assert!(removed.is_empty(), "tron changed TS schema objects: {removed:?}");
    assert!(
        added.iter().all(|r| r["name"] == "idx_events_session_sequence_unique"),
        "tron added more than its unique sequence index: {added:?}"
    );
    drop(open(&fx.path));
    assert_eq!(rows(&fx.path, "SELECT * FROM schema_version ORDER BY version"), versions_before);
    assert_eq!(schema(&fx.path), schema_after);
    check_ts_readable(&fx.path);
}

#[test]
fn v4_ended_at_database_migrates_to_9() {
    let fx = load(V4);
    let old = rows(&fx.path, "SELECT * FROM schema_version ORDER BY version");
    assert_eq!(old.len(), 4);
    let ended = session_id(&fx.path, "ended_at IS NOT NULL");
    let ended_at = scalar(&fx.path, "SELECT ended_at FROM sessions WHERE ended_at IS NOT NULL");
    let raw = rows(&fx.path, "SELECT * FROM events ORDER BY session_id, sequence");

    let store = open(&fx.path);
    let versions = rows(&fx.path, "SELECT * FROM schema_version ORDER BY version");
    assert_eq!(&versions[..4], &old[..], "TS-applied versions are kept as written");
    let expected = [
        (5, "Add trace correlation columns to logs table"),
        (6, "Register memory_vectors schema version (table created at runtime after sqlite-vec load)"),
        (7, "Add persistent task management system (projects, tasks, dependencies, activity)"),
        (8, "Add areas table and area_id to projects/tasks for PARA model support"),
        (9, "Rename sessions ended_at to archived_at"),
    ];
    assert_eq!(versions.len(), 9);
    for (row, (v, desc)) in versions[4..].iter().zip(expected) {
        assert_eq!((row["version"].clone(), s(row, "description")), (json!(v), desc.to_owned()));
        let at = s(row, "applied_at");
        let shape: String = at.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect();
        assert_eq!(shape, "9999-99-99 99:99:99", "applied_at {at:?} is not datetime('now')");
    }

    // 009: the column is renamed with its data, the indexes follow.
    let cols: Vec<String> = rows(&fx.path, "SELECT name FROM pragma_table_info('sessions')")
        .iter()
        .map(|r| s(r, "name"))
        .collect();
    assert!(cols.contains(&"archived_at".into()) && !cols.contains(&"ended_at".into()), "{cols:?}");
    assert_eq!(index_columns(&fx.path, "idx_sessions_archived"), ["archived_at"]);
    assert_eq!(index_columns(&fx.path, "idx_sessions_spawning"), ["spawning_session_id", "archived_at"]);
    assert_eq!(
        scalar(&fx.path, "SELECT count(*) FROM sqlite_master WHERE name = 'idx_sessions_ended'"),
        json!(0)
    );
    // Same schema as a database the current TS server created at 9 (and tron opened), except
    // the two-column spawning index that TS's own 009 also leaves on renamed databases.
    let fresh = load(V9);
    drop(open(&fresh.path));
    let (migrated, reference) = (schema_shape(&fx.path), schema_shape(&fresh.path));
    let only_migrated: Vec<&String> = migrated.iter().filter(|x| !reference.contains(x)).collect();
    let only_fresh: Vec<&String> = reference.iter().filter(|x| !migrated.contains(x)).collect();
    assert_eq!(only_migrated.len(), 1, "{only_migrated:#?}\nvs\n{only_fresh:#?}");
    assert_eq!(only_fresh.len(), 1, "{only_fresh:#?}");
    assert!(
        only_migrated[0].starts_with("index idx_sessions_spawning ")
            && only_fresh[0].starts_with("index idx_sessions_spawning ")
    );
    let listed = store.list_sessions(&ListOptions::default()).unwrap();
    assert!(listed.iter().all(|r| r.id.as_str() != ended), "an ended session is archived");
    assert_eq!(listed.len(), 1);
    let all = store.list_sessions(&ListOptions { include_archived: true, ..Default::default() }).unwrap();
    let old_session = all.iter().find(|r| r.id.as_str() == ended).expect("ended session listed with --all");
    assert_eq!(json!(old_session.archived_at), ended_at);
    assert_eq!(old_session.title.as_deref(), Some("Legacy cleanup"));
    assert_eq!((old_session.event_count, old_session.message_count), (6, 2));

    // 005, 007 (open backlog item becomes a task), 008 and the start-up repairs.
    assert_eq!(scalar(&fx.path, "SELECT depth FROM logs"), json!(0));
    assert_eq!(scalar(&fx.path, "SELECT trace_id IS NULL FROM logs"), json!(1));
    let tasks = rows(&fx.path, "SELECT id, title, status, tags, created_by_session_id, area_id FROM tasks");
    assert_eq!(tasks.len(), 1, "only the open backlog item migrates: {tasks:?}");
    assert_eq!(s(&tasks[0], "id"), "task_0a1b2c3d4e5f");
    assert_eq!(s(&tasks[0], "tags"), r##"["#migrated-from-backlog"]"##);
    assert_eq!(
        (s(&tasks[0], "status"), s(&tasks[0], "created_by_session_id")),
        ("pending".into(), ended.clone())
    );
    assert_eq!(scalar(&fx.path, "SELECT count(*) FROM tasks_fts WHERE tasks_fts MATCH 'walrus'"), json!(1));
    drop(store);

    check_events_verbatim(&fx.path, &raw);
    // The active session keeps working: append, reconstruct.
    let store = open(&fx.path);
    let active = session_id(&fx.path, "archived_at IS NULL");
    let msgs: Vec<Value> =
        store.messages(&active).unwrap().messages().map(|m| serde_json::to_value(m).unwrap()).collect();
    assert_eq!(
        msgs.iter().map(|m| m["role"].as_str().unwrap()).collect::<Vec<_>>(),
        ["user", "assistant", "toolResult"]
    );
    assert_eq!(
        msgs[2],
        json!({"role": "toolResult", "toolCallId": "toolu_legacyLs", "content": "auth.ts\nmain.ts", "isError": false})
    );
    let head = store.session(&active).unwrap().head_event_id.unwrap();
    let e = store
        .append(&active, NewEvent::raw("message.user", json!({"content": "thanks, walrus gone"})))
        .unwrap();
    assert_eq!((e.sequence, e.parent_id.as_ref()), (7, Some(&head)));
    // As in TS, a user message discards tool results no assistant message followed up on.
    let roles: Vec<String> =
        store.messages(&active).unwrap().messages().map(|m| m.role().to_owned()).collect();
    assert_eq!(roles, ["user", "assistant", "user"]);
    drop(store);
    drop(open(&fx.path));
    assert_eq!(
        scalar(&fx.path, "SELECT count(*) FROM schema_version"),
        json!(9),
        "reopening adds no version"
    );
    check_ts_readable(&fx.path);
}

#[test]
fn duplicate_sequences_from_old_ts_builds_are_tolerated() {
    // TS builds before the append transaction fix could give two events one sequence number.
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let ev = raw_events(&fx.path, &a);
    Connection::open(&fx.path).unwrap().execute(
        "INSERT INTO events (id, session_id, parent_id, sequence, depth, type, timestamp, payload, workspace_id, role)
         SELECT 'evt_0d0d0d0d0d0d', session_id, parent_id, sequence, depth, type, timestamp,
                '{\"content\":\"a twin prompt\"}', workspace_id, role FROM events WHERE id = ?1",
        [s(&ev[1], "id")],
    ).unwrap();
    let store = open(&fx.path);
    assert_eq!(
        scalar(
            &fx.path,
            "SELECT count(*) FROM sqlite_master WHERE name = 'idx_events_session_sequence_unique'"
        ),
        json!(0)
    );
    assert_eq!(store.events(&a).unwrap().len(), ev.len() + 1);
    let e =
        store.append(&a, NewEvent::raw("message.user", json!({"content": "after the duplicates"}))).unwrap();
    assert_eq!(json!(e.sequence), json!(ev.last().unwrap()["sequence"].as_i64().unwrap() + 1));
    assert_eq!(store.messages(&a).unwrap().messages().count(), 5);
    assert_eq!(store.search("twin", &SearchOptions::default()).unwrap().len(), 1);
}

// ----- reading ------------------------------------------------------------------------------

#[test]
fn sessions_list_with_ts_titles_models_and_counters() {
    let fx = load(V9);
    let raw = rows(&fx.path, "SELECT * FROM sessions");
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let b = session_id(&fx.path, "parent_session_id IS NOT NULL");
    let store = open(&fx.path);
    let listed = store.list_sessions(&ListOptions::default()).unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [a.as_str(), b.as_str()],
        "archived one left out"
    );
    let all = store.list_sessions(&ListOptions { include_archived: true, ..Default::default() }).unwrap();
    assert_eq!(all.len(), raw.len());
    for r in &raw {
        let row = all.iter().find(|x| x.id.as_str() == s(r, "id")).unwrap();
        let got = serde_json::to_value(row).unwrap();
        for (col, key) in [
            ("workspace_id", "workspaceId"),
            ("head_event_id", "headEventId"),
            ("root_event_id", "rootEventId"),
            ("title", "title"),
            ("latest_model", "latestModel"),
            ("working_directory", "workingDirectory"),
            ("parent_session_id", "parentSessionId"),
            ("fork_from_event_id", "forkFromEventId"),
            ("created_at", "createdAt"),
            ("last_activity_at", "lastActivityAt"),
            ("archived_at", "archivedAt"),
            ("event_count", "eventCount"),
            ("message_count", "messageCount"),
            ("turn_count", "turnCount"),
            ("total_input_tokens", "totalInputTokens"),
            ("total_output_tokens", "totalOutputTokens"),
            ("last_turn_input_tokens", "lastTurnInputTokens"),
            ("total_cost", "totalCost"),
            ("total_cache_read_tokens", "totalCacheReadTokens"),
            ("total_cache_creation_tokens", "totalCacheCreationTokens"),
            ("spawning_session_id", "spawningSessionId"),
            ("spawn_type", "spawnType"),
            ("spawn_task", "spawnTask"),
        ] {
            assert_eq!(got[key], r[col], "{} {col}", row.id);
        }
        assert!(row.tags.is_empty());
    }
    // The stored totals are TS's (message.assistant and stream.turn_end both counted), not a recount.
    let row_a = all.iter().find(|x| x.id.as_str() == a).unwrap();
    let assistant_input = scalar(
        &fx.path,
        &format!(
            "SELECT SUM(input_tokens) FROM events WHERE session_id = '{a}' AND type = 'message.assistant'"
        ),
    );
    assert_eq!(json!(row_a.total_input_tokens), json!(2 * assistant_input.as_i64().unwrap()));
    assert_eq!(row_a.latest_model, "claude-opus-4-20250514", "the model switch is in the cached column");
    // Previews as TS computes them: latest message of each role, deleted or not.
    let (user, assistant) = store.previews(&a).unwrap();
    assert_eq!(user.as_deref(), Some("Actually, also mention the kiwi deadline."));
    assert_eq!(assistant.as_deref(), Some("Added tests/auth.test.ts covering token expiry."));
}

#[test]
fn every_ts_event_reads_back_verbatim_and_typed() {
    let fx = load(V9);
    let raw = rows(&fx.path, "SELECT * FROM events ORDER BY session_id, sequence");
    assert_eq!(raw.len(), 29);
    check_events_verbatim(&fx.path, &raw);
    let store = open(&fx.path);
    let unknown = raw.iter().find(|r| r["type"] == "future.event_type").unwrap();
    let e = store.event(&s(unknown, "id")).unwrap();
    assert_eq!(e.event_type, EventType::Unknown("future.event_type".into()));
    assert_eq!(e.payload["nested"], json!({"levels": [1, 2.5, {"deep": null}], "ok": true}));
    assert_eq!(serde_json::to_string(&e.payload).unwrap(), s(unknown, "payload"), "byte for byte");
}

#[test]
fn messages_reconstruct_the_ts_conversation() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let b = session_id(&fx.path, "parent_session_id IS NOT NULL");
    let ev_a = raw_events(&fx.path, &a);
    let ev_b = raw_events(&fx.path, &b);
    let store = open(&fx.path);
    let to_json = |r: &tron::events::Reconstructed| -> (Vec<Value>, Vec<Option<String>>) {
        let msgs =
            r.messages_with_event_ids.iter().map(|m| serde_json::to_value(&m.message).unwrap()).collect();
        let ids = r
            .messages_with_event_ids
            .iter()
            .flat_map(|m| m.event_ids.iter().map(|i| i.as_ref().map(|i| i.to_string())))
            .collect();
        (msgs, ids)
    };

    // A: compaction replaces the history, the deleted prompt is gone, the unknown type ignored.
    let summary = payload(by_type(&ev_a, "compact.summary")[0])["summary"].as_str().unwrap().to_owned();
    let users = by_type(&ev_a, "message.user");
    let assistants = by_type(&ev_a, "message.assistant");
    let (msgs, ids) = to_json(&store.messages(&a).unwrap());
    assert_eq!(
        msgs,
        [
            json!({"role": "user", "content": format!("{SUMMARY_PREFIX}\n\n{summary}")}),
            json!({"role": "assistant", "content": [{"type": "text", "text": ACK}]}),
            json!({"role": "user", "content": payload(users[1])["content"]}),
            json!({"role": "assistant", "content": payload(assistants[2])["content"]}),
        ]
    );
    assert_eq!(ids, [None, None, Some(s(users[1], "id")), Some(s(assistants[2], "id"))]);

    // B (fork): A's history to the fork point, tool result as toolResult, thinking kept.
    let tool_result = payload(by_type(&ev_a, "tool.result")[0]);
    let expected_b = [
        json!({"role": "user", "content": payload(users[0])["content"]}),
        json!({"role": "assistant", "content": payload(assistants[0])["content"]}),
        json!({"role": "toolResult", "toolCallId": tool_result["toolCallId"], "content": tool_result["content"], "isError": false}),
        json!({"role": "assistant", "content": payload(assistants[1])["content"]}),
        json!({"role": "user", "content": "What about the PKCE verifier?"}),
        json!({"role": "assistant", "content": payload(by_type(&ev_b, "message.assistant")[0])["content"]}),
    ];
    let (msgs, ids) = to_json(&store.messages(&b).unwrap());
    assert_eq!(msgs, expected_b);
    assert_eq!(msgs[1]["content"][0]["signature"], json!("EqQBCkYIAxgCIkDsig0123456789abcdef=="));
    assert_eq!(ids[2], None, "tool results carry no event id");
    let at_fork = to_json(&store.messages_at(&s(assistants[1], "id")).unwrap()).0;
    assert_eq!(at_fork, expected_b[..4]);
}

#[test]
fn ancestors_cross_the_fork() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let b = session_id(&fx.path, "parent_session_id IS NOT NULL");
    let ev_a = raw_events(&fx.path, &a);
    let ev_b = raw_events(&fx.path, &b);
    let fork_point = payload(&ev_b[0])["sourceEventId"].as_str().unwrap().to_owned();
    assert_eq!(ev_b[0]["parent_id"], json!(fork_point));
    let store = open(&fx.path);
    let chain: Vec<String> =
        store.ancestors(&s(ev_b.last().unwrap(), "id")).unwrap().iter().map(|e| e.id.to_string()).collect();
    let upto = ev_a.iter().position(|r| s(r, "id") == fork_point).unwrap();
    let expected: Vec<String> = ev_a[..=upto].iter().chain(&ev_b).map(|r| s(r, "id")).collect();
    assert_eq!(chain, expected, "root of A first, B's head last");
    assert_eq!(store.ancestors(&s(&ev_a[0], "id")).unwrap().len(), 1);
}

#[test]
fn search_finds_a_double_indexed_word_once() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let zebra = rows(&fx.path, "SELECT id FROM events_fts WHERE events_fts MATCH 'zebra'");
    assert_eq!(zebra.len(), 2, "TS wrote a trigger row and an explicit row");
    assert_eq!(zebra[0], zebra[1]);
    let store = open(&fx.path);
    let hits = store.search("zebra", &SearchOptions::default()).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(
        (hits[0].event_id.clone(), hits[0].session_id.clone(), hits[0].event_type.as_str()),
        (s(&zebra[0], "id"), a.clone(), "message.user")
    );
    assert!(hits[0].snippet.contains("<mark>zebra</mark>"), "{}", hits[0].snippet);
    let pkce = store.search("PKCE", &SearchOptions::default()).unwrap();
    let mut ids: Vec<&str> = pkce.iter().map(|h| h.event_id.as_str()).collect();
    ids.dedup();
    assert_eq!((pkce.len(), ids.len()), (2, 2), "user prompt and answer in the fork, once each");
    let scoped = SearchOptions { session_id: Some(a), ..Default::default() };
    assert!(store.search("PKCE", &scoped).unwrap().is_empty());
}

#[test]
fn ts_blob_reads_back_and_dedupes() {
    let fx = load(V9);
    let raw = rows(&fx.path, "SELECT payload FROM events WHERE type = 'tool.result'");
    let p = payload(&raw[0]);
    let blob_id = p["blobId"].as_str().unwrap().to_owned();
    let store = open(&fx.path);
    let blob = store.blob(&blob_id).unwrap();
    assert_eq!(blob.content, p["content"].as_str().unwrap().as_bytes());
    assert_eq!(
        (blob.hash.clone(), blob.mime_type.as_str(), blob.ref_count),
        (hash_hex(&blob.content), "text/plain", 1)
    );
    assert_eq!(store.store_blob(&blob.content, "text/plain").unwrap(), blob_id, "same bytes, same TS blob");
    assert_eq!(store.blob(&blob_id).unwrap().ref_count, 2);
}

// ----- writing ------------------------------------------------------------------------------

#[test]
fn appending_to_a_ts_session_continues_its_chain() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let before_events = raw_events(&fx.path, &a);
    let store = open(&fx.path);
    let before = store.session(&a).unwrap();
    let usage =
        json!({"inputTokens": 150, "outputTokens": 40, "cacheReadTokens": 20, "cacheCreationTokens": 0});
    let new = [
        NewEvent::raw("message.user", json!({"content": "one more: add a platypus check"})),
        NewEvent::raw(
            "message.assistant",
            json!({"content": [{"type": "tool_use", "id": "toolu_new1", "name": "Grep", "input": {"pattern": "platypus"}}],
            "tokenUsage": usage, "tokenRecord": {"computed": {"contextWindowTokens": 170}}, "turn": 1,
            "model": "claude-opus-4-20250514", "stopReason": "tool_use"}),
        ),
        NewEvent::raw(
            "tool.call",
            json!({"toolCallId": "toolu_new1", "name": "Grep", "arguments": {"pattern": "platypus"}, "turn": 1}),
        ),
        NewEvent::raw(
            "tool.result",
            json!({"toolCallId": "toolu_new1", "content": "no matches", "isError": false, "duration": 3}),
        ),
        NewEvent::raw("stream.turn_end", json!({"turn": 1, "tokenUsage": usage, "cost": 0.0125})),
    ];
    let mut written = Vec::new();
    for n in &new[..2] {
        written.push(store.append(&a, n.clone()).unwrap());
    }
    written.extend(store.append_batch(&a, &new[2..]).unwrap());
    let last = before_events.last().unwrap();
    assert_eq!(written[0].parent_id.as_deref(), before.head_event_id.as_deref());
    assert_eq!(before.head_event_id.as_deref(), Some(s(last, "id").as_str()));
    for (i, e) in written.iter().enumerate() {
        assert_eq!(json!(e.sequence), json!(last["sequence"].as_i64().unwrap() + 1 + i as i64));
        if i > 0 {
            assert_eq!(e.parent_id.as_ref(), Some(&written[i - 1].id));
        }
    }
    let after = store.session(&a).unwrap();
    assert_eq!(after.head_event_id.as_ref(), Some(&written[4].id));
    assert_eq!((after.event_count, after.message_count), (before.event_count + 5, before.message_count + 2));
    // tron's documented rule: tokens from message events only, cost from an explicit `cost`.
    assert_eq!(after.total_input_tokens, before.total_input_tokens + 150);
    assert_eq!(after.total_output_tokens, before.total_output_tokens + 40);
    assert_eq!(after.total_cache_read_tokens, before.total_cache_read_tokens + 20);
    assert_eq!(after.last_turn_input_tokens, 170);
    assert!((after.total_cost - (before.total_cost + 0.0125)).abs() < 1e-12);
    assert_eq!(after.turn_count, 0);
    assert!(after.last_activity_at > before.last_activity_at);
    drop(store);

    // What a TS server reading the file sees.
    let raw = raw_events(&fx.path, &a);
    let added = &raw[before_events.len()..];
    assert_eq!(added.len(), 5);
    assert_eq!(
        added.iter().map(|r| r["role"].clone()).collect::<Vec<_>>(),
        [json!("user"), json!("assistant"), json!("tool"), json!("tool"), Value::Null]
    );
    assert_eq!(
        (added[2]["tool_name"].clone(), added[2]["tool_call_id"].clone(), added[2]["turn"].clone()),
        (json!("Grep"), json!("toolu_new1"), json!(1))
    );
    assert_eq!(added[3]["tool_call_id"], json!("toolu_new1"));
    assert_eq!(
        (
            added[1]["input_tokens"].clone(),
            added[1]["output_tokens"].clone(),
            added[1]["cache_read_tokens"].clone()
        ),
        (json!(150), json!(40), json!(20))
    );
    assert_eq!(added[1]["depth"], json!(last["depth"].as_i64().unwrap() + 2));
    for (r, n) in added.iter().zip(&new) {
        assert_eq!(payload(r), n.payload);
        assert_eq!(r["workspace_id"], last["workspace_id"]);
    }
    let fts = rows(
        &fx.path,
        "SELECT id FROM events_fts WHERE events_fts MATCH 'platypus' AND type = 'message.user'",
    );
    assert_eq!(fts.len(), 1, "the TS trigger indexed the new prompt");
    check_ts_readable(&fx.path);

    // And tron reads its own additions on top of the TS history.
    let store = open(&fx.path);
    let roles: Vec<String> = store.messages(&a).unwrap().messages().map(|m| m.role().to_owned()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user", "assistant", "toolResult"]);
}

#[test]
fn forking_a_ts_event() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let b = session_id(&fx.path, "parent_session_id IS NOT NULL");
    let ev_a = raw_events(&fx.path, &a);
    let ev_b = raw_events(&fx.path, &b);
    let from = by_type(&ev_a, "message.assistant")[0];
    let store = open(&fx.path);
    let fork = store.fork(&s(from, "id"), Some("Second try".into()), None).unwrap();
    assert_eq!(
        (fork.forked_from_session_id.as_str(), fork.forked_from_event_id.as_str()),
        (a.as_str(), s(from, "id").as_str())
    );
    let row = store.session(&fork.new_session_id).unwrap();
    assert_eq!(row.parent_session_id.as_deref(), Some(a.as_str()));
    assert_eq!(row.latest_model, "claude-opus-4-20250514");
    assert_eq!(
        (row.title.as_deref(), row.event_count, row.working_directory.as_str()),
        (Some("Second try"), 1, "/Users/dev/projects/oauth-demo")
    );
    let root = store.event(&fork.root_event_id).unwrap();
    assert_eq!(
        (root.event_type.as_str(), root.sequence, root.parent_id.as_deref()),
        ("session.fork", 0, Some(s(from, "id").as_str()))
    );
    assert_eq!(
        root.payload,
        json!({"sourceSessionId": a, "sourceEventId": s(from, "id"), "name": "Second try"})
    );
    let roles: Vec<String> =
        store.messages(&fork.new_session_id).unwrap().messages().map(|m| m.role().to_owned()).collect();
    assert_eq!(roles, ["user", "assistant"]);
    let next = store
        .append(&fork.new_session_id, NewEvent::raw("message.user", json!({"content": "retry"})))
        .unwrap();
    assert_eq!((next.sequence, next.parent_id.as_ref()), (1, Some(&root.id)));
    // A fork of the TS fork walks through both sessions.
    let again = store.fork(&s(ev_b.last().unwrap(), "id"), None, None).unwrap();
    assert_eq!(
        store.ancestors(&again.root_event_id).unwrap().len(),
        ev_b.len() + 1 + ev_a.iter().position(|r| r["id"] == payload(&ev_b[0])["sourceEventId"]).unwrap() + 1
    );
    drop(store);
    let raw_root = rows(
        &fx.path,
        &format!("SELECT depth, tool_name, workspace_id FROM events WHERE id = '{}'", root.id),
    );
    assert_eq!(raw_root[0]["depth"], json!(from["depth"].as_i64().unwrap() + 1));
    assert_eq!(raw_root[0]["tool_name"], json!("Second try"), "TS puts a fork's name in tool_name");
    assert_eq!(raw_root[0]["workspace_id"], from["workspace_id"]);
    check_ts_readable(&fx.path);
}

#[test]
fn ts_sessions_export_and_import_unchanged() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let b = session_id(&fx.path, "parent_session_id IS NOT NULL");
    let store = open(&fx.path);
    let mut jsonl = Vec::new();
    let (events_a, events_b) = (store.events(&a).unwrap(), store.events(&b).unwrap());
    transfer::write_jsonl(&events_a, &mut jsonl).unwrap();
    transfer::write_jsonl(&events_b, &mut jsonl).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = EventStore::open(dir.path().join("copy.db"), OpenMode::Create).unwrap();
    copy.import(&transfer::read_jsonl(&jsonl[..]).unwrap(), |_, _| {}).unwrap();
    assert_eq!(copy.events(&a).unwrap(), events_a);
    assert_eq!(copy.events(&b).unwrap(), events_b);
    assert_eq!(copy.messages(&b).unwrap(), store.messages(&b).unwrap());
}

// ----- the CLI --------------------------------------------------------------------------------

#[test]
fn cli_lists_and_reconstructs_a_ts_database() {
    let fx = load(V9);
    let a = session_id(&fx.path, "title = 'Fix OAuth flow'");
    let db = fx.path.to_str().unwrap();
    let out = assert_cmd::Command::cargo_bin("tron")
        .unwrap()
        .args(["events", "list", "--json", "--db", db])
        .assert()
        .success();
    let listed: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    let titles: Vec<&str> = sessions.iter().map(|s| s["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Fix OAuth flow", "Fork of Fix OAuth flow"]);
    assert_eq!(sessions[0]["id"], json!(a));
    assert_eq!(sessions[0]["eventCount"], json!(20));

    let out = assert_cmd::Command::cargo_bin("tron")
        .unwrap()
        .args(["events", "messages", &a, "--db", db])
        .assert()
        .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains(SUMMARY_PREFIX), "{text}");
    assert!(text.contains("regression test with a zebra fixture"), "{text}");
    assert!(text.contains("Added tests/auth.test.ts covering token expiry."), "{text}");
    assert!(!text.contains("kiwi"), "the deleted prompt is shown: {text}");

    let out = assert_cmd::Command::cargo_bin("tron")
        .unwrap()
        .args(["events", "messages", &a, "--json", "--db", db])
        .assert()
        .success();
    let rec: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(rec["messagesWithEventIds"].as_array().unwrap().len(), 4);
}
