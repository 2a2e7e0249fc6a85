#!/usr/bin/env bash
# DRPC in one command: starts a DRPC server (`squall drpc-server`), runs
# examples/drpc-count.yaml against it (`squall run`, a Python count bolt),
# calls the function `count` once per word given (`squall drpc`) and prints
# each answer, then stops both. See docs/drpc.md.
#
# Usage: scripts/drpc-demo.sh WORD...      (e.g. scripts/drpc-demo.sh love Hamlet)
# Needs: the corpus (scripts/fetch-corpus.sh) and pystorm (scripts/setup.sh).
# SQUALL_BIN names a squall binary to use instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -gt 0 ]] || { echo "usage: $0 WORD..." >&2; exit 2; }
if [[ -z "${SQUALL_BIN:-}" ]]; then
    cargo build --release --quiet -p squall-cli
    SQUALL_BIN="${CARGO_TARGET_DIR:-target}/release/squall"
fi
out="$(mktemp)"
cleanup() { kill "${run_pid:-}" "${server_pid:-}" 2>/dev/null || true; rm -f "$out"; }
trap cleanup EXIT
"$SQUALL_BIN" drpc-server --listen 127.0.0.1:0 --timeout-ms 30000 >"$out" &
server_pid=$!
until grep -q '^drpc server on ' "$out"; do sleep 0.1; done
url="$(sed -n 's/^drpc server on //p' "$out")"
"$SQUALL_BIN" run examples/drpc-count.yaml --quiet --set server="$url" &
run_pid=$!
for word in "$@"; do
    # The first call waits (up to the timeout) for the topology to start.
    echo "$word: $("$SQUALL_BIN" drpc count "$word" --server "$url")"
done
