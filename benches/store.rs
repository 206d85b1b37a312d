//! Event store benchmarks (criterion). Targets from the foundation issue, on 2 cores:
//! append >= 50k events/s batched and >= 5k/s committed one by one; reconstruct a
//! 10,000-event session < 10 ms; FTS search over 1,000,000 events < 20 ms median; open a
//! 100,000-event database and list sessions < 50 ms.
//!
//! `floor/*` measures what SQLite itself does on the same (TypeScript) schema with plain
//! prepared inserts, so the store's own overhead can be read as a ratio.
//!
//! The large databases are built once and kept in target/bench-data/ (delete it to rebuild).

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::{json, Value};
use tron::events::{EventStore, ListOptions, NewEvent, NewSession, OpenMode, SearchOptions};

const VOCAB: usize = 20_000;

fn word(rng: &mut fastrand::Rng) -> String {
    format!("w{}", rng.usize(..VOCAB))
}

fn sentence(rng: &mut fastrand::Rng, words: usize) -> String {
    (0..words).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

/// A realistic mix: user prompts, assistant text with tool use, tool calls and results.
fn event(rng: &mut fastrand::Rng, i: usize) -> NewEvent {
    match i % 4 {
        0 => NewEvent::raw("message.user", json!({"content": sentence(rng, 20)})),
        1 => NewEvent::raw(
            "message.assistant",
            json!({"content": [{"type": "text", "text": sentence(rng, 30)},
                               {"type": "tool_use", "id": format!("c{i}"), "name": "Bash", "input": {"command": "cargo test"}}],
                   "turn": i / 4 + 1, "stopReason": "tool_use",
                   "tokenUsage": {"inputTokens": 1000, "outputTokens": 50, "cacheReadTokens": 900}}),
        ),
        2 => NewEvent::raw(
            "tool.call",
            json!({"toolCallId": format!("c{}", i - 1), "name": "Bash", "arguments": {"command": "cargo test"}, "turn": i / 4 + 1}),
        ),
        _ => NewEvent::raw(
            "tool.result",
            json!({"toolCallId": format!("c{}", i - 2), "content": sentence(rng, 40), "isError": false, "duration": 120}),
        ),
    }
}

fn events(rng: &mut fastrand::Rng, n: usize) -> Vec<NewEvent> {
    (0..n).map(|i| event(rng, i)).collect()
}

fn new_session(store: &EventStore) -> String {
    let (row, _) = store
        .create_session(NewSession {
            working_directory: "/bench/project".into(),
            model: "claude-sonnet-4-5".into(),
            ..Default::default()
        })
        .unwrap();
    row.id.to_string()
}

fn bench_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-data");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A database with `sessions` sessions of `per_session` events, built once.
fn cached_db(name: &str, sessions: usize, per_session: usize) -> PathBuf {
    let path = bench_data().join(name);
    if path.exists() {
        return path;
    }
    let tmp = path.with_extension("building");
    let _ = std::fs::remove_file(&tmp);
    eprintln!("building {} ({} events) ...", path.display(), sessions * per_session);
    {
        let store = EventStore::open(&tmp, OpenMode::Create).unwrap();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..sessions {
            let s = new_session(&store);
            for chunk in events(&mut rng, per_session).chunks(5_000) {
                store.append_batch(&s, chunk).unwrap();
            }
        }
        store.connection().execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    }
    std::fs::rename(&tmp, &path).unwrap();
    path
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = EventStore::open(dir.path().join("append.db"), OpenMode::Create).unwrap();
    let session = new_session(&store);
    let mut rng = fastrand::Rng::with_seed(1);

    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("batched_1000", |b| {
        b.iter_batched(
            || events(&mut rng, 1_000),
            |batch| store.append_batch(&session, &batch).unwrap(),
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_by_one", |b| {
        b.iter_batched(|| event(&mut rng, 0), |e| store.append(&session, e).unwrap(), BatchSize::SmallInput)
    });
    g.finish();

    // The floor: plain prepared inserts of the same rows (every column the store writes,
    // precomputed outside the timed part) into the same schema, FTS trigger included.
    let floor_store = EventStore::open(dir.path().join("floor.db"), OpenMode::Create).unwrap();
    let floor_session = new_session(&floor_store);
    let conn = floor_store.connection();
    let mut seq = 1_000_000i64;
    let mut rows = |n: usize| -> Vec<FloorRow> {
        events(&mut rng, n)
            .into_iter()
            .map(|e| {
                seq += 1;
                FloorRow::new(&e, seq)
            })
            .collect()
    };
    let insert = |rows: Vec<FloorRow>| {
        let mut stmt = conn
            .prepare_cached(
                "INSERT INTO events (id, session_id, parent_id, sequence, depth, type, timestamp, payload, workspace_id,
                    role, tool_name, tool_call_id, turn, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
                 VALUES (?1, ?2, NULL, ?3, 0, ?4, '2026-01-01T00:00:00.000Z', ?5, 'ws', ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL)",
            )
            .unwrap();
        for r in rows {
            stmt.execute(rusqlite::params![
                r.id,
                floor_session,
                r.seq,
                r.kind,
                r.payload,
                r.role,
                r.tool_name,
                r.tool_call_id,
                r.turn,
                r.input,
                r.output,
                r.cache_read
            ])
            .unwrap();
        }
    };
    let mut g = c.benchmark_group("floor");
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("plain_insert_1000", |b| {
        b.iter_batched(
            || rows(1_000),
            |batch| {
                conn.execute_batch("BEGIN").unwrap();
                insert(batch);
                conn.execute_batch("COMMIT").unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("plain_insert_one_by_one", |b| {
        b.iter_batched(
            || rows(1),
            |batch| {
                conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                insert(batch);
                conn.execute_batch("COMMIT").unwrap();
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// One events row with every column precomputed (for the floor).
struct FloorRow {
    id: String,
    seq: i64,
    kind: String,
    payload: String,
    role: Option<&'static str>,
    tool_name: Option<String>,
    tool_call_id: Option<String>,
    turn: Option<i64>,
    input: Option<i64>,
    output: Option<i64>,
    cache_read: Option<i64>,
}

impl FloorRow {
    fn new(e: &NewEvent, seq: i64) -> Self {
        let p = &e.payload;
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let tok = |k: &str| p.get("tokenUsage").and_then(|u| u.get(k)).and_then(Value::as_i64);
        let kind = e.event_type.as_str().to_owned();
        let role = match kind.as_str() {
            "message.user" => Some("user"),
            "message.assistant" => Some("assistant"),
            _ => Some("tool"),
        };
        Self {
            id: format!("evt_f{seq}"),
            seq,
            payload: p.to_string(),
            role,
            tool_name: s("toolName").or_else(|| s("name")),
            tool_call_id: s("toolCallId"),
            turn: p.get("turn").and_then(Value::as_i64),
            input: tok("inputTokens"),
            output: tok("outputTokens"),
            cache_read: tok("cacheReadTokens"),
            kind,
        }
    }
}

fn reconstruct(c: &mut Criterion) {
    let path = cached_db("reconstruct-10k.db", 1, 10_000);
    let store = EventStore::open(&path, OpenMode::Existing).unwrap();
    let session = store.list_sessions(&ListOptions::default()).unwrap()[0].id.to_string();
    assert!(store.messages(&session).unwrap().messages_with_event_ids.len() > 5_000);
    c.bench_function("reconstruct/10k_events", |b| b.iter(|| store.messages(&session).unwrap()));
    // Breakdown: the raw scan the reconstruction starts with, and reading every event.
    c.bench_function("reconstruct/10k_scan_only", |b| {
        b.iter(|| {
            let mut stmt = store
                .connection()
                .prepare_cached(
                    "SELECT id, parent_id, type, payload FROM events WHERE session_id = ?1 ORDER BY sequence",
                )
                .unwrap();
            let rows = stmt
                .query_map([&session], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(3)?))
                })
                .unwrap();
            rows.map(|r| r.unwrap().2.len()).sum::<usize>()
        })
    });
    c.bench_function("history/10k_events", |b| b.iter(|| store.events(&session).unwrap()));
}

fn search(c: &mut Criterion) {
    let path = cached_db("search-1m.db", 100, 10_000);
    let store = EventStore::open(&path, OpenMode::Existing).unwrap();
    let opts = SearchOptions { limit: Some(20), ..Default::default() };
    let mut rng = fastrand::Rng::with_seed(99);
    assert!(!store.search(&word(&mut rng), &opts).unwrap().is_empty());
    let mut g = c.benchmark_group("search/1m_events");
    g.bench_function("one_word", |b| {
        b.iter_batched(|| word(&mut rng), |q| store.search(&q, &opts).unwrap(), BatchSize::SmallInput)
    });
    g.bench_function("two_words", |b| {
        b.iter_batched(
            || format!("{} {}", word(&mut rng), word(&mut rng)),
            |q| store.search(&q, &opts).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let session =
        store.list_sessions(&ListOptions { limit: Some(1), ..Default::default() }).unwrap()[0].id.to_string();
    let in_session = SearchOptions { session_id: Some(session), limit: Some(20), ..Default::default() };
    g.bench_function("one_word_in_session", |b| {
        b.iter_batched(|| word(&mut rng), |q| store.search(&q, &in_session).unwrap(), BatchSize::SmallInput)
    });
    g.finish();
}

fn open_and_list(c: &mut Criterion) {
    let path = cached_db("list-100k.db", 200, 500);
    c.bench_function("open_and_list/100k_events", |b| {
        b.iter(|| {
            let store = EventStore::open(&path, OpenMode::Existing).unwrap();
            let sessions =
                store.list_sessions(&ListOptions { limit: Some(50), ..Default::default() }).unwrap();
            assert_eq!(sessions.len(), 50);
        })
    });
}

fn payload_roundtrip(c: &mut Criterion) {
    let mut rng = fastrand::Rng::with_seed(3);
    let e = event(&mut rng, 1);
    let text = e.payload.to_string();
    c.bench_function("json/assistant_payload_parse", |b| {
        b.iter(|| serde_json::from_str::<Value>(&text).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5)).warm_up_time(Duration::from_secs(1));
    targets = append, reconstruct, search, open_and_list, payload_roundtrip
}
criterion_main!(benches);
