#!/usr/bin/env bash
# The whole test suite: what CI (.ci/run) and the README run.
# Installs what it needs (nothing beyond the Rust toolchain yet), then builds and tests
# every target. Benches are compiled (not timed) so they cannot rot; see scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-auto}"

step() { printf '\n==> %s\n' "$*"; }

if cargo fmt --version >/dev/null 2>&1; then
  step "cargo fmt --check"
  cargo fmt --all -- --check
fi

if cargo clippy --version >/dev/null 2>&1; then
  step "cargo clippy (warnings are errors)"
  cargo clippy --locked --all-targets -- -D warnings
fi

step "cargo test (lib, binary, integration tests, doc tests)"
cargo test --locked

if compgen -G "recordings/*.jsonl" >/dev/null; then
  step "tron replay recordings/ (recorded sessions still answer the same)"
  # The binary `cargo test` just built (a `cargo run` would rebuild every dependency
  # without the dev-dependencies' features).
  "${CARGO_TARGET_DIR:-target}/debug/tron" replay recordings/
fi

step "cargo bench --no-run (benches compile)"
cargo bench --locked --no-run

step "all tests passed"
