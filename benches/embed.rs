//! Embedding benches: model throughput (sentences per second at batch 32), single-query
//! latency, and sqlite-vec nearest-neighbour search over 100,000 stored vectors.
//!
//! The model benches use the test model (all-MiniLM-L6-v2 int8) from $TRON_TEST_EMBED_DIR
//! (`export TRON_TEST_EMBED_DIR="$(python3 scripts/fetch-test-model.py)"`); without it they
//! are skipped. The search benches need nothing but the `vector-search` feature: sqlite-vec's
//! exact scan, and the in-memory exact scan (`MemoryIndex`) a long-running server would use.

use criterion::{criterion_group, criterion_main, Criterion};

#[cfg(feature = "embed")]
fn model(c: &mut Criterion) {
    use tron::embed::locate::{runtime_in, ModelSpec};
    use tron::embed::model::{Embedder, LoadOptions};

    let Some(dir) = std::env::var_os("TRON_TEST_EMBED_DIR").map(std::path::PathBuf::from) else {
        eprintln!("embed benches skipped: TRON_TEST_EMBED_DIR is not set");
        return;
    };
    let files =
        ModelSpec { dir: dir.clone(), dtype: "fp32".into(), pooling: None }.resolve().expect("model files");
    let runtime = runtime_in(&dir).expect("runtime in TRON_TEST_EMBED_DIR");
    let embedder =
        Embedder::load(&files, &LoadOptions { runtime, dimensions: None, max_tokens: 256 }).expect("load");

    // Memory-entry-like texts of varied length (10 to 40 words).
    let words = "the agent fixed a failing test in the event store by batching inserts and moving \
                 sqlite writes to a dedicated thread so the websocket server stays responsive while \
                 reconstruction of long sessions replays every message and tool result in order";
    let words: Vec<&str> = words.split_whitespace().collect();
    let texts: Vec<String> = (0..32).map(|i| words[..10 + (i * 7) % 31].join(" ")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();

    let mut g = c.benchmark_group("embed");
    g.sample_size(10);
    g.throughput(criterion::Throughput::Elements(32));
    g.bench_function("batch32", |b| b.iter(|| embedder.embed(&refs).unwrap()));
    // The same 32 texts one run each, to compare with one padded batch.
    g.bench_function("sequential32", |b| {
        b.iter(|| {
            for t in &refs {
                embedder.embed_one(t).unwrap();
            }
        })
    });
    g.throughput(criterion::Throughput::Elements(1));
    g.bench_function("single_query", |b| {
        b.iter(|| embedder.embed_one("how did we speed up sqlite writes").unwrap())
    });
    g.finish();
}

#[cfg(not(feature = "embed"))]
fn model(_: &mut Criterion) {}

#[cfg(feature = "vector-search")]
fn search(c: &mut Criterion) {
    use rusqlite::Connection;
    use tron::embed::pool::l2_normalize;
    use tron::embed::store::{register, MemoryIndex, VectorTable};

    const N: usize = 100_000;
    register();
    let mut g = c.benchmark_group("vector_search");
    g.sample_size(10);
    for dims in [384usize, 512] {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("v.db")).unwrap();
        let table = VectorTable::ensure(&conn, dims).unwrap();
        // Deterministic pseudo-random unit vectors (xorshift).
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut unit = |n: usize| {
            let mut v: Vec<f32> = (0..n).map(|_| next()).collect();
            l2_normalize(&mut v);
            v
        };
        conn.execute_batch("BEGIN").unwrap();
        for chunk in 0..N / 1000 {
            let rows: Vec<(String, String, Vec<f32>)> = (0..1000)
                .map(|i| (format!("e{}", chunk * 1000 + i), format!("w{}", i % 7), unit(dims)))
                .collect();
            table.upsert(&conn, &rows).unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
        let query = unit(dims);
        g.bench_with_input(criterion::BenchmarkId::new("knn10_100k", dims), &dims, |b, _| {
            b.iter(|| table.search(&conn, &query, 10, None).unwrap())
        });
        g.bench_with_input(criterion::BenchmarkId::new("knn10_100k_one_workspace", dims), &dims, |b, _| {
            b.iter(|| table.search(&conn, &query, 10, Some("w3")).unwrap())
        });
        let started = std::time::Instant::now();
        let index = MemoryIndex::load(&conn, &table).unwrap();
        eprintln!(
            "vector_search {dims} dims: MemoryIndex::load of {} vectors took {:?}",
            index.len(),
            started.elapsed()
        );
        g.bench_with_input(criterion::BenchmarkId::new("in_memory_knn10_100k", dims), &dims, |b, _| {
            b.iter(|| index.search(&query, 10, None).unwrap())
        });
    }
    g.finish();
}

#[cfg(not(feature = "vector-search"))]
fn search(_: &mut Criterion) {}

criterion_group!(benches, model, search);
criterion_main!(benches);
