#!/usr/bin/env bash
# Nexmark SQL, Squall against Flink SQL 2.3, on the same event files and
# the same SQL text: `squall nexmark` writes the events once (CSV); each
# query runs as crates/squall-sql/nexmark/ddl-files.sql + qN.sql into a
# blackhole sink, by `squall sql` and by Flink's TableEnvironment (a local
# MiniCluster in one JVM: benches/flink-sql/NexmarkSql.java, compiled
# against the jars of PyPI's apache-flink 2.3.0). Each
# run is a whole process timed by /usr/bin/time -v (wall, user+sys CPU,
# peak RSS); the engines alternate run after run; the table gives medians
# and the ratios: events read per CPU-second (events per second per core:
# the rows of the tables the query reads, bids for q0-q2) and peak memory.
# `--queries all`: every query Squall runs from ddl-files.sql (q0-q5,
# q7-q9, q11, q15-q22; Flink ran q0-q5, q7-q9 on 2026-12-07, the others
# untried); a run that fails is named at the end, not in the tables.
#
# Usage: scripts/bench-sql-vs-flink.sh [--events 2000000] [--reps 3]
#          [--queries q0,q1,q2|all] [--parallelism 1] [--heap 2g]
# Env: SQUALL_BIN (default: cargo build --release -p squall-cli),
#      FLINK_VENV (default /tmp/peers/venv; made with
#      `pip install apache-flink==2.3.0` if missing),
#      SQUALL_BENCH_CACHE (default ~/.cache/squall-bench: the events and
#      the compiled Java class).
# Needs: a JDK 17 (javac), python3 with venv, /usr/bin/time.
set -euo pipefail

events=2000000 reps=3 queries=q0,q1,q2 parallelism=1 heap=2g
while (($#)); do
    case $1 in
        --events) events=$2; shift ;;
        --reps) reps=$2; shift ;;
        --queries) queries=$2; shift ;;
        --parallelism) parallelism=$2; shift ;;
        --heap) heap=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${SQUALL_BENCH_CACHE:-$HOME/.cache/squall-bench}"
venv="${FLINK_VENV:-/tmp/peers/venv}"
mkdir -p "$cache"
log() { echo "$*" >&2; }

if [[ -z "${SQUALL_BIN:-}" ]]; then
    cargo build --release -q -p squall-cli --bin squall >&2
    SQUALL_BIN="$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/squall"
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pyflink' 2>/dev/null; then
    log "installing apache-flink 2.3.0 into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q apache-flink==2.3.0
fi

flink_lib="$(echo "$venv"/lib/python3*/site-packages/pyflink/lib)"
classes="$cache/flink-sql-classes"
mkdir -p "$classes"
javac -d "$classes" -cp "$flink_lib/*" benches/flink-sql/NexmarkSql.java
# The module opens Flink itself passes to its JVMs on Java 17
# (pyflink/conf/config.yaml, env.java.opts.all).
opens=$(python3 - "$flink_lib/../conf/config.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
print(" ".join(re.findall(r"--add-(?:opens|exports)=\S+", text)))
PY
)

data="$cache/nexmark-$events"
if [[ ! -s "$data/bid.csv" ]]; then
    "$SQUALL_BIN" nexmark "$data" --events "$events" >&2
fi
bids=$(wc -l < "$data/bid.csv")
nexmark=crates/squall-sql/nexmark
results=$(mktemp) failed=$(mktemp)
trap 'rm -f "$results" "$failed"' EXIT

# run ENGINE QUERY: one timed run; appends "engine query wall_s cpu_s rss_kb".
run() {
    local engine=$1 q=$2 tv out
    tv=$(mktemp) out=$(mktemp)
    local sets=(--set "DIR=$data" --set SINK=blackhole --set OUT=unused)
    case $engine in
        squall) /usr/bin/time -v -o "$tv" "$SQUALL_BIN" sql --quiet "$nexmark/ddl-files.sql" \
                    "$nexmark/$q.sql" "${sets[@]}" --set "parallelism=$parallelism" >"$out" 2>&1 ;;
        # shellcheck disable=SC2086 # $opens is a list of flags
        flink) /usr/bin/time -v -o "$tv" java -Xms"$heap" -Xmx"$heap" $opens \
                    -cp "$classes:$flink_lib/*" NexmarkSql "$parallelism" "DIR=$data" \
                    SINK=blackhole OUT=unused "$nexmark/ddl-files.sql" "$nexmark/$q.sql" \
                    >"$out" 2>&1 ;;
    esac || {
        log "error: $engine $q failed:"
        tail -20 "$out" >&2
        echo "$engine $q" >>"$failed"
        rm -f "$tv" "$out"
        return 0
    }
    python3 - "$tv" "$engine" "$q" >>"$results" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def f(k): return re.search(re.escape(k) + r": (.*)", t).group(1).strip()
wall = f("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(wall)))
cpu = float(f("User time (seconds)")) + float(f("System time (seconds)"))
print(sys.argv[2], sys.argv[3], f"{wall:.2f}", f"{cpu:.2f}", f("Maximum resident set size (kbytes)"))
PY
    tail -1 "$results" >&2
    rm -f "$tv" "$out"
}

[[ $queries == all ]] && queries=q0,q1,q2,q3,q4,q5,q7,q8,q9,q11,q15,q16,q17,q18,q19,q20,q21,q22
IFS=, read -r -a qs <<<"$queries"
# The events a query reads: the lines of the tables its FROM clauses name.
lines() { wc -l <"$data/$1.csv"; }
declare -A rows=([bid]=$bids [auction]=$(lines auction) [person]=$(lines person))
read_by() {
    case $1 in
        q3 | q8) echo $((rows[person] + rows[auction])) ;;
        q4 | q6 | q9 | q20) echo $((rows[auction] + rows[bid])) ;;
        *) echo "${rows[bid]}" ;;
    esac
}
events_of=$(for q in "${qs[@]}"; do echo "$q=$(read_by "$q")"; done)
for ((r = 0; r < reps; r++)); do
    for q in "${qs[@]}"; do
        if ((r % 2 == 0)); then run squall "$q"; run flink "$q"; else run flink "$q"; run squall "$q"; fi
    done
done

python3 - "$results" "$bids" "$parallelism" "$events_of" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
bids, p = int(sys.argv[2]), sys.argv[3]
events = dict(kv.split("=") for kv in sys.argv[4].split())
order = lambda q: int(q[1:])
runs = {}
for engine, q, wall, cpu, rss in rows:
    runs.setdefault((q, engine), []).append((float(wall), float(cpu), int(rss)))
n = len(runs[next(iter(runs))])
print(f"Nexmark SQL over {bids} bids from CSV files, parallelism {p}, medians of {n} runs")
print("| query | engine | events read | wall s | CPU s | events/s per core | peak RSS MB |")
print("|---|---|---|---|---|---|---|")
med = {}
for (q, engine), v in sorted(runs.items(), key=lambda kv: (order(kv[0][0]), kv[0][1])):
    e = int(events[q])
    wall = statistics.median(x[0] for x in v)
    cpu = statistics.median(x[1] for x in v)
    rss = statistics.median(x[2] for x in v) / 1024
    med[(q, engine)] = (e / cpu, rss)
    print(f"| {q} | {engine} | {e:,} | {wall:.2f} | {cpu:.2f} | {e / cpu:,.0f} | {rss:,.0f} |")
print()
print("| query | Squall / Flink, events per core | Squall / Flink, peak memory |")
print("|---|---|---|")
for q in sorted({q for q, _ in runs}, key=order):
    if (q, "squall") in med and (q, "flink") in med:
        s, f = med[(q, "squall")], med[(q, "flink")]
        print(f"| {q} | {s[0] / f[0]:.2f}x | {s[1] / f[1]:.2f} |")
PY
if [[ -s $failed ]]; then
    echo
    echo "Failed (not in the tables): $(sort -u "$failed" | paste -sd, -)"
fi
