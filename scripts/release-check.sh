#!/usr/bin/env bash
# The release binary, checked: builds `cargo build --release --locked`, then
#   - size: the stripped binary is at most 25 MB (profile.release has strip = true);
#   - linked libraries: `ldd` shows only the C library family (libc, libm, libgcc_s, libpthread,
#     libdl, librt, the loader, the vdso): TLS is rustls, SQLite is bundled;
#   - a smoke test of every subcommand with that binary, in a temp HOME and TRON_DATA_DIR;
#   - timings: `--version` wall time and `serve` start to listening.
# Prints a table (check | result | detail) and exits non-zero if a required check failed.
# `scripts/test.sh` runs it; run it alone with `scripts/release-check.sh` (`--no-build` checks
# the binary already in target/release).
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
case "${1:-}" in
  "") ;;
  --no-build) build=0 ;;
  *) echo "usage: scripts/release-check.sh [--no-build]" >&2; exit 2 ;;
esac

readonly MAX_BYTES=$((25 * 1024 * 1024))
readonly ALLOWED_LIBS='^(linux-vdso|linux-gate|ld-linux[-a-z0-9_.]*|libc|libm|libgcc_s|libpthread|libdl|librt)\.so'
bin="${CARGO_TARGET_DIR:-target}/release/tron"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tron-release-check.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- the table ---------------------------------------------------------------------------
rows=()
failed=0
# record CHECK RESULT DETAIL; RESULT is ok, FAIL or expected (a known, accepted outcome).
record() {
  rows+=("$1|$2|$3")
  [[ "$2" == FAIL ]] && failed=1
  return 0
}
print_table() {
  printf '\n%-22s | %-8s | %s\n' check result detail
  printf '%s\n' "-----------------------+----------+------------------------------------------------"
  local row check result detail
  for row in "${rows[@]}"; do
    IFS='|' read -r check result detail <<<"$row"
    printf '%-22s | %-8s | %s\n' "$check" "$result" "$detail"
  done
}

# Milliseconds since the epoch; bash 5's EPOCHREALTIME saves a `date` process per reading.
now_ms() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then
    local t="${EPOCHREALTIME/[.,]/}"
    echo $((t / 1000))
  else
    date +%s%3N
  fi
}
# The first line of a file, for the table.
first_line() { head -n 1 "$1" 2>/dev/null | cut -c 1-100; }

# Every smoke run gets a clean environment: no API keys or TRON_* settings from the caller.
mkdir -p "$tmp/home" "$tmp/data"
clean_env=(env -i PATH="$PATH" HOME="$tmp/home" TRON_DATA_DIR="$tmp/data")
tron() { "${clean_env[@]}" "$bin" "$@"; }

# run_case NAME WANT_EXIT GREP -- ARGS...: runs tron ARGS, records ok when the exit code is
# WANT_EXIT and stdout+stderr contain GREP (an extended regex; empty matches anything).
run_case() {
  local name="$1" want="$2" pattern="$3"
  shift 4
  local out="$tmp/${name//[^a-zA-Z0-9]/_}.out" code=0
  tron "$@" >"$out" 2>&1 </dev/null || code=$?
  if [[ "$code" == "$want" ]] && grep -Eq -- "${pattern:-.}" "$out"; then
    record "$name" ok "exit $code: $(first_line "$out")"
  else
    record "$name" FAIL "exit $code (want $want, output matching '$pattern'): $(first_line "$out")"
  fi
}

# --- build -------------------------------------------------------------------------------
if ((build)); then
  printf '==> cargo build --release --locked\n'
  start=$(now_ms)
  cargo build --release --locked
  record build ok "cargo build --release --locked: $(( ($(now_ms) - start) / 1000 )) s"
elif [[ ! -x "$bin" ]]; then
  echo "release-check: no $bin to check; build it or drop --no-build" >&2
  exit 1
else
  record build skipped "--no-build: checking the existing $bin"
fi

# --- size --------------------------------------------------------------------------------
size=$(stat -c %s "$bin")
size_mb="$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1048576 }') MB"
if [[ "$(file -b "$bin" 2>/dev/null)" == *"not stripped"* ]]; then
  record size FAIL "$size_mb, but not stripped (is strip = true still in profile.release?)"
elif ((size > MAX_BYTES)); then
  record size FAIL "$size_mb > 25 MB"
else
  record size ok "$size_mb (limit 25 MB)"
fi

# --- linked libraries --------------------------------------------------------------------
if ! command -v ldd >/dev/null; then
  record "linked libraries" FAIL "ldd not found"
elif ! ldd "$bin" >"$tmp/ldd.out" 2>&1; then
  record "linked libraries" ok "statically linked: $(first_line "$tmp/ldd.out")"
else
  libs=$(awk '{ print $1 }' "$tmp/ldd.out" | sed 's#.*/##' | sort -u)
  unexpected=$(grep -Ev "$ALLOWED_LIBS" <<<"$libs" || true)
  if [[ -n "$unexpected" ]]; then
    record "linked libraries" FAIL "unexpected: $(tr '\n' ' ' <<<"$unexpected")"
  else
    record "linked libraries" ok "$(tr '\n' ' ' <<<"$libs")"
  fi
fi

# --- smoke test of each subcommand -------------------------------------------------------
run_case version 0 '^tron [0-9]+\.[0-9]+\.[0-9]+[^ ]* \(commit ([0-9a-f]+|unknown), features: ' -- --version
# Best of five, so that one slow scheduling slice does not decide the number.
version_ms=""
for _ in 1 2 3 4 5; do
  start=$(now_ms)
  "$bin" --version >/dev/null
  ms=$(($(now_ms) - start))
  if [[ -z "$version_ms" ]] || ((ms < version_ms)); then version_ms=$ms; fi
done

# serve: start in the background, read its "listening on ws://ADDR/ws" line from a fifo (no
# polling, so the startup time is the server's), GET /health, SIGTERM, and it must exit 0.
serve_check() {
  local fifo="$tmp/serve.fifo" err="$tmp/serve.err" line="" addr="" start code=0
  mkfifo "$fifo"
  start=$(now_ms)
  # `env` execs tron, so $! is the server itself (a shell function would put a subshell there).
  "${clean_env[@]}" "$bin" serve --port 0 >"$fifo" 2>"$err" </dev/null &
  server_pid=$!
  exec 4<"$fifo" # stays open until the server is gone, so its later output has a reader
  while IFS= read -r -t 10 line <&4; do
    if [[ "$line" =~ listening\ on\ ws://([^/ ]+)/ws ]]; then
      addr="${BASH_REMATCH[1]}"
      break
    fi
  done
  if [[ -z "$addr" ]]; then
    record serve FAIL "no 'listening on ws://ADDR/ws' line within 10 s: $(first_line "$err")"
    exec 4<&-
    return
  fi
  serve_ms=$(($(now_ms) - start))
  record "serve startup" ok "${serve_ms} ms to listening on $addr"

  local health
  if health=$(http_get "$addr" /health); then
    record "serve /health" ok "$(cut -c 1-80 <<<"$health")"
  else
    record "serve /health" FAIL "GET http://$addr/health: $health"
  fi

  kill -TERM "$server_pid"
  local waited=0
  while kill -0 "$server_pid" 2>/dev/null && ((waited < 100)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid"
    record "serve SIGTERM" FAIL "still running 10 s after SIGTERM (killed)"
  fi
  wait "$server_pid" || code=$?
  server_pid=""
  exec 4<&-
  if ((code == 0)); then
    record "serve SIGTERM" ok "exit 0: $(tail -n 1 "$err")"
  elif ((waited < 100)); then
    record "serve SIGTERM" FAIL "exit $code: $(tail -n 1 "$err")"
  fi
}

# http_get HOST:PORT PATH: prints the body of a 200 response (bash /dev/tcp; no curl needed).
http_get() {
  local host="${1%:*}" port="${1##*:}" path="$2" response
  exec 3<>"/dev/tcp/$host/$port" || { echo "cannot connect"; return 1; }
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$1" >&3
  response=$(timeout 5 cat <&3 || true)
  exec 3<&-
  if [[ "$response" != "HTTP/1.1 200"* ]]; then
    head -n 1 <<<"$response"
    return 1
  fi
  sed '1,/^\r$/d' <<<"$response"
}

serve_ms=""
serve_check

run_case "events list" 0 '' -- events list
run_case "auth status --json" 0 '^[[{]' -- auth status --json
run_case "chat without a key" 1 '^error: .*(credentials|API_KEY|login)' -- chat "say hello"
run_case "replay recordings/" 0 '' -- replay recordings/
# No model in the clean home: a clear error naming the model directory.
run_case "embed without a model" 1 '^error: embedding model not found in .*Qwen3-Embedding' -- embed text "hello"

# The database serve created above holds no session worktrees yet.
run_case "worktree list" 0 '^no session worktrees' -- worktree list

# --- timings -----------------------------------------------------------------------------
record "time --version" ok "${version_ms} ms wall (best of 5)"
if [[ -n "$serve_ms" ]]; then
  record "time serve" ok "${serve_ms} ms from start to listening"
fi

print_table
if ((failed)); then
  printf '\nrelease check FAILED\n'
  exit 1
fi
printf '\nrelease check passed\n'
