#!/usr/bin/env bash
# Runs schemathesis (PyPI; scripts/setup.sh installs it) against the REST
# API of a running nimbus, as its OpenAPI document (/api/openapi.json)
# describes it: every check but three (below): no 5xx, status codes,
# content types, headers and bodies as documented, authentication
# enforced, stateful sequences, over HTTPS with a
# certificate made here (openssl), with the full token. Starts etcd, one
# nimbus and one supervisor on 127.0.0.1 (free ports) with a finished word
# count in place, and stops them at the end. Exit 0: nothing found.
#
# Usage: scripts/schemathesis.sh [MAX_EXAMPLES]   (default 20 per operation)
# Needs: etcd, openssl, schemathesis, and a built `squall` (cargo build -p
# squall-cli; SQUALL_BIN overrides the binary's path).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
examples="${1:-20}"
bin="${SQUALL_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/squall}"
[[ -x "$bin" ]] || { echo "no squall binary at $bin: run cargo build -p squall-cli" >&2; exit 2; }
for tool in etcd openssl schemathesis; do
    command -v "$tool" >/dev/null || { echo "no $tool on PATH: run scripts/setup.sh" >&2; exit 2; }
done

dir="$(mktemp -d -t squall-schemathesis.XXXXXX)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"

# A CA and nimbus's certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=squall schemathesis CA" -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=nimbus" \
    -keyout "$dir/nimbus.key" -out "$dir/nimbus.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/ext"
openssl x509 -req -in "$dir/nimbus.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/ext" -out "$dir/nimbus.crt" 2>/dev/null

export SQUALL__ETCD_ENDPOINTS="[\"http://127.0.0.1:$etcd_port\"]"
export SQUALL__API_TOKEN="schemathesis-token"
export SQUALL__API_READ_TOKEN="schemathesis-read-token"
export SQUALL__NIMBUS__API_ADDR="127.0.0.1:$api_port"
export SQUALL__NIMBUS__DRPC_REQUEST_TIMEOUT_MS=300
export SQUALL__API_TLS__CERT="$dir/nimbus.crt" SQUALL__API_TLS__KEY="$dir/nimbus.key"
export SQUALL__API_TLS__CA="$dir/ca.crt"
export SQUALL__SUPERVISOR__WORK_DIR="$dir/work" SQUALL__BLOB_STORE="$dir/blobs"

pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap stop EXIT INT TERM

etcd --data-dir "$dir/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" >"$dir/etcd.log" 2>&1 &
pids+=($!)
"$bin" nimbus >"$dir/nimbus.log" 2>&1 &
pids+=($!)
"$bin" supervisor --id sup-a --slots 2 >"$dir/sup-a.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do "$bin" list >/dev/null 2>&1 && break; sleep 0.1; done
"$bin" list >/dev/null

# A finished word count, so that routes naming a topology find one.
"$bin" submit "$root/examples/word-count.yaml" --set input="$root/data/shakespeare" \
    --set output="$dir/wc.csv" >/dev/null
for _ in $(seq 600); do "$bin" list 2>/dev/null | grep -q finished && break; sleep 0.1; done

# Left out, by design rather than by defect:
# - positive_data_acceptance: a request that fits the schema may still be
#   refused with 400/404 for what it asks (activating a topology that is
#   over, a rebalance that changes nothing, workers: 0);
# - use_after_free: DELETE kills a topology, and a killed topology stays
#   listed with its state, as in Storm;
# - negative_data_rejection: integer parameters (u64) accept values past the
#   int64 bounds the document gives.
# DRPC calls and state queries answer 502/503/504 by design (the topology
# failed or timed out the call, the worker owning the key is gone): they run
# in a second pass without not_a_server_error. A DRPC spout's long poll may
# wait 30 s by design (wait_ms), hence the long time limits.
excluded="positive_data_acceptance,use_after_free,negative_data_rejection"
by_design='^/(drpc/\{function\}|api/v1/topologies/\{name\}/query/.*)$'
run() {
    # In the temporary folder: schemathesis leaves its cache in .schemathesis/.
    (cd "$dir" && schemathesis run "https://127.0.0.1:$api_port/api/openapi.json" \
        --tls-verify "$dir/ca.crt" \
        -H "Authorization: Bearer $SQUALL__API_TOKEN" \
        --checks all --max-examples "$examples" --seed 19 --workers 2 \
        --request-timeout 40 --max-response-time 35 "$@")
}
status=0
run --exclude-checks "$excluded" --exclude-path-regex "$by_design" || status=$?
run --exclude-checks "$excluded,not_a_server_error" --include-path-regex "$by_design" \
    || status=$?
if [[ $status -ne 0 ]]; then
    echo "--- nimbus log (last 40 lines)"; tail -n 40 "$dir/nimbus.log"
fi
exit "$status"
