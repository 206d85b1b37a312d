//! Logging benches: records/s into SQLite through the sink (target: 100,000 records/s
//! without blocking the caller), the caller-side cost of one log call, and redaction.
//!
//! `cargo bench --bench logging`

use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tracing_subscriber::layer::SubscriberExt;
use tron::events::{EventStore, OpenMode};
use tron::logging::{redact, sink, Level, SinkConfig, SqliteLayer};

const RECORDS: u64 = 20_000;

fn database() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prod.db");
    EventStore::open(&path, OpenMode::Create).unwrap();
    (dir, path)
}

/// Records/s committed: RECORDS events emitted, then a flush; the queue is big enough that
/// nothing is dropped (checked), so this is the writer's sustained rate.
fn sink_throughput(c: &mut Criterion) {
    let (_dir, path) = database();
    let config = SinkConfig { capacity: RECORDS as usize * 2, min_level: Level::Trace, ..Default::default() };
    let (handle, guard) = sink::start(&path, config).unwrap();
    let subscriber = tracing_subscriber::registry().with(SqliteLayer::with_sink(handle));
    let mut g = c.benchmark_group("logging/sink");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    let mut emit_time = Duration::ZERO;
    let mut emitted = 0u64;
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("records_committed", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let t = Instant::now();
                    let span = tracing::info_span!("rpc", request_id = "REQ-1", session_id = "sess_bench");
                    let _e = span.enter();
                    for i in 0..RECORDS {
                        tracing::info!(turn = 3, i, component = "bench", "a record of moderate length {i}");
                    }
                    emit_time += t.elapsed();
                    emitted += RECORDS;
                    guard.flush();
                }
                start.elapsed()
            })
        });
    });
    g.finish();
    eprintln!(
        "logging/sink: caller side {:.0} ns per record while the writer ran; dropped {} of {}",
        emit_time.as_nanos() as f64 / emitted.max(1) as f64,
        guard.dropped(),
        emitted
    );
    assert_eq!(guard.dropped(), 0, "the throughput bench must not drop");
}

/// The cost of one log call on the caller's thread.
fn caller_cost(c: &mut Criterion) {
    let (_dir, path) = database();
    let (handle, guard) = sink::start(&path, SinkConfig::default()).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::DEBUG)
        .with(SqliteLayer::with_sink(handle));
    let mut g = c.benchmark_group("logging/caller");
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("info_event_into_queue", |b| {
            b.iter_batched(
                || guard.flush(), // start each batch with room in the queue
                |()| {
                    for i in 0..1_000u64 {
                        tracing::info!(turn = 3, i, "turn started {i}");
                    }
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function("filtered_out_trace_event", |b| b.iter(|| tracing::trace!(i = 1, "never stored")));
    });
    g.finish();
    eprintln!("logging/caller: dropped {} (queue full while measuring)", guard.dropped());
}

fn redaction(c: &mut Criterion) {
    let clean = "2026-01-02T03:04:05.678Z  INFO rpc{request_id=REQ-1 method=agent.prompt}: tron::rpc: turn started turn=3 tokens=1200";
    let secret = r#"2026-01-02T03:04:05.678Z TRACE request params={"apiKey":"sk-ant-api03-abcdefghijklmnop","x":"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc"}"#;
    let mut g = c.benchmark_group("logging/redact");
    g.bench_function("clean_line", |b| b.iter(|| black_box(redact(black_box(clean)))));
    g.bench_function("line_with_secrets", |b| b.iter(|| black_box(redact(black_box(secret)))));
    g.finish();
}

/// The floor SQLite sets on the same schema: the same rows as the sink bench writes, as plain
/// prepared INSERTs in transactions of 512, on one connection, with nothing else running
/// (the `logs_fts` trigger and the eight indexes of `logs` included, as the sink has them).
fn sqlite_floor(c: &mut Criterion) {
    let (_dir, path) = database();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;").unwrap();
    let mut g = c.benchmark_group("logging/floor");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("plain_batched_inserts", |b| {
        b.iter(|| {
            for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(512) {
                conn.execute_batch("BEGIN").unwrap();
                {
                    let mut insert = conn
                        .prepare_cached(
                            "INSERT INTO logs (timestamp, level, level_num, component, message, session_id, \
                             turn, depth, data) VALUES (?1, 'info', 30, 'bench', ?2, 'sess_bench', 3, 0, ?3)",
                        )
                        .unwrap();
                    for i in chunk {
                        let ts = format!("2026-11-27T18:00:{:02}.{:03}Z", i / 1000 % 60, i % 1000);
                        let message = format!("a record of moderate length {i}");
                        let data = format!("{{\"i\":{i},\"requestId\":\"REQ-1\"}}");
                        insert.execute(rusqlite::params![ts, message, data]).unwrap();
                    }
                }
                conn.execute_batch("COMMIT").unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, sink_throughput, sqlite_floor, caller_cost, redaction);
criterion_main!(benches);
