#!/usr/bin/env bash
# Queryable state in one command: runs examples/word-count-queryable.yaml
# (`squall run --query`), reads the count of each word given while it runs
# and once it finished (`squall query`), then stops it. See
# docs/queryable-state.md.
#
# Usage: scripts/query-demo.sh WORD...      (e.g. scripts/query-demo.sh love hamlet)
# Needs: the corpus (scripts/fetch-corpus.sh). SQUALL_BIN names a squall
# binary to use instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { echo "usage: $0 WORD..." >&2; exit 2; }
if [[ -z "${SQUALL_BIN:-}" ]]; then
    cargo build --release --quiet -p squall-cli
    SQUALL_BIN="${CARGO_TARGET_DIR:-target}/release/squall"
fi
log="$(mktemp)" out="$(mktemp -d)"
cleanup() { kill -INT "${run_pid:-}" 2>/dev/null || true; rm -rf "$log" "$out"; }
trap cleanup EXIT
"$SQUALL_BIN" run examples/word-count-queryable.yaml --quiet --query 127.0.0.1:0 \
    --set output="$out/word-count.csv" >/dev/null 2>"$log" &
run_pid=$!
until grep -q '^query API on ' "$log"; do sleep 0.05; done
url="$(sed -n 's/^query API on \([^ ]*\).*/\1/p' "$log")"
count() { "$SQUALL_BIN" query word-count-queryable count count "$1" --server "$url" \
    | sed -n 's/.*"value": \(.*\)$/\1/p'; }
for word in "$@"; do echo "while running: $word = $(count "$word")"; done
until grep -q '^finished' "$log"; do sleep 0.1; done
for word in "$@"; do echo "finished:      $word = $(count "$word")"; done
