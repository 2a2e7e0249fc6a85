#!/usr/bin/env bash
# The chaos soak (issue 19): etcd, two nimbus daemons and three supervisors
# on this machine, an exactly-once word count with a checkpoint every second
# for --minutes (default 30), and a seeded random fault every 20-60 s:
# SIGKILL or SIGSTOP/SIGCONT of a worker, a supervisor, the leading nimbus
# or etcd, or a supervisor's network link cut (network namespaces, when
# permitted). Checks the committed output against the reference computed
# from the seed and prints the faults, recovery times, RSS per daemon and
# checkpoint sizes over time. Not part of the test run.
#
# Usage: scripts/soak.sh [--minutes M] [--seed S] [--rate LINES_PER_S] [--at-least-once]
#                        [--no-netns] [--dir DIR]        (scripts/soak.py --help for all)
# Needs: etcd (apt-get install etcd-server), python3, the corpus
# (scripts/fetch-corpus.sh), iproute2 and root for the link cuts. Builds the
# release binary unless SQUALL_BIN names one. Exit 0 when the output is
# right, memory stayed within its bound and retention held.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${SQUALL_BIN:-}" ]]; then
    (cd "$root" && cargo build --release --locked -p squall-cli)
    SQUALL_BIN="${CARGO_TARGET_DIR:-$root/target}/release/squall"
fi
exec python3 "$root/scripts/soak.py" --bin "$SQUALL_BIN" "$@"
