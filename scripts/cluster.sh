#!/usr/bin/env bash
# Starts a whole Squall cluster on this machine, for trying it out: etcd, one
# nimbus and two supervisors (2 slots each), all on 127.0.0.1, with their
# data and logs in one folder. Stops everything on Ctrl-C.
#
# Usage: scripts/cluster.sh [FOLDER]     (default: a new temporary folder)
# Then, in another shell, with the environment it prints:
#   squall submit examples/word-count.yaml --set input=$PWD/data/shakespeare --set output=/tmp/wc.csv
#   squall list
#   squall deactivate word-count; squall activate word-count
#   squall submit --binary target/debug/examples/cluster_word_count --name wc --set input=... --set output=...
#   mkdir -p /tmp/squall-word-count-eo; squall submit examples/word-count-exactly-once.yaml
#   squall rebalance word-count-eo --parallelism count=4
#   squall kill word-count-eo --wait 5
# Needs: etcd (Debian: apt-get install etcd-server) and a built `squall`
# (cargo build -p squall-cli; SQUALL_BIN overrides the binary's path).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-$(mktemp -d -t squall-cluster.XXXXXX)}"
mkdir -p "$dir"
bin="${SQUALL_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/squall}"
[[ -x "$bin" ]] || { echo "no squall binary at $bin: run cargo build -p squall-cli" >&2; exit 2; }
command -v etcd >/dev/null || { echo "no etcd on PATH: apt-get install etcd-server" >&2; exit 2; }

export SQUALL__ETCD_ENDPOINTS='["http://127.0.0.1:2379"]'
export SQUALL__API_TOKEN="${SQUALL__API_TOKEN:-dev-token}"
export SQUALL__NIMBUS__API_ADDR=127.0.0.1:7700
export SQUALL__SUPERVISOR__WORK_DIR="$dir/work"
export SQUALL__BLOB_STORE="$dir/blobs"   # uploaded topology binaries

pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait || true
}
trap stop EXIT INT TERM

# --snapshot-count 10000 (etcd 3.6's default; 3.4 keeps 100,000 raft
# entries in memory between snapshots, which the soak saw as slow growth).
etcd --data-dir "$dir/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --snapshot-count 10000 \
    --listen-peer-urls http://127.0.0.1:2380 >"$dir/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/2379) 2>/dev/null && break
    sleep 0.1
done
"$bin" nimbus >"$dir/nimbus.log" 2>&1 &
pids+=($!)
for id in sup-1 sup-2; do
    "$bin" supervisor --id "$id" --slots 2 >"$dir/$id.log" 2>&1 &
    pids+=($!)
done

cat <<MSG
Squall cluster running (logs and data in $dir). In another shell:
  export SQUALL__ETCD_ENDPOINTS='$SQUALL__ETCD_ENDPOINTS' SQUALL__API_TOKEN='$SQUALL__API_TOKEN'
  $bin list
Web UI: http://$SQUALL__NIMBUS__API_ADDR/#token=$SQUALL__API_TOKEN
Ctrl-C stops it.
MSG
wait -n "${pids[@]}"
echo "a daemon exited; see the logs in $dir" >&2
