#!/usr/bin/env bash
# Side-by-side benchmark: Squall against a plain single-threaded Rust loop,
# Apache Flink 2.3 (DataStream, local MiniCluster) and Apache Storm 2.8
# (its word-count topology, LocalCluster), on the same generated inputs,
# each run timed as a whole process (/usr/bin/time -v: wall, user+sys CPU,
# peak RSS), alternating engines run after run, medians over the runs.
#
# Workloads (inputs from a seeded generator, the same bytes on every
# machine: crates/squall/benches/inputs/mod.rs):
#   words:   word count of --words-mb MB of text (200 MB: ~35 M words,
#            ~20 k distinct). plain = the loop of `cargo bench --bench
#            word_count`; squall = examples/word-count.yaml; flink =
#            benches/flink FlinkWordCount; storm = benches/storm.
#   windows: sum of value per key per 10 s tumbling event-time window of
#            --events CSV rows ts_ms,key,value (10 000 keys, up to 2 s out
#            of order). plain = a loop over the csv crate; squall =
#            examples/sums-per-10s.yaml; flink = FlinkWindowSum.
# Every run's totals are checked against the generator's (words: total and
# distinct words; windows: the sum of all sums and the (window, key) rows).
# Then: Squall's word count on a two-worker cluster against local mode
# (crates/squall-cli/benches/cluster.rs), and the end-to-end latency of a
# keyed count at half its peak rate (crates/squall/benches/sidebyside.rs).
#
# Usage: scripts/bench-vs-flink.sh [--words-mb 200] [--events 20000000]
#          [--reps 3] [--parallelism 1,2] [--engines plain,squall,flink,storm]
#          [--workloads words,windows] [--heap 2g] [--cluster-copies 40]
#          [--latency-secs 10] [--no-cluster] [--no-latency] [--max-load L]
#          [--squall-in-bench]
# --max-load L: before each run, wait (10 min at most) until the 1-minute
# load average is below L (e.g. 1.5 for a run on a quiet machine).
# --squall-in-bench: run Squall's YAML topologies with the sidebyside bench's
# `yaml` subcommand (the same engine, built-in components and allocator as
# `squall run`, without building the CLI with its SQL and connectors).
# Quick run: scripts/bench-vs-flink.sh --words-mb 50 --events 5000000 --reps 1
# Env: SQUALL_BIN (default: cargo build --release -p squall-cli),
#      SIDEBYSIDE_BIN (default: cargo bench -p squall --bench sidebyside --no-run),
#      SQUALL_BENCH_CACHE (default ~/.cache/squall-bench: jars, classes,
#      generated inputs).
# Needs: a JDK 17 (Debian: openjdk-17-jdk-headless) and mvn (Maven Central on
#        the first run), /usr/bin/time (Debian: time), python3; etcd and the
#        corpus (scripts/setup.sh installs both) for the cluster line.
set -euo pipefail

words_mb=200 events=20000000 reps=3 parallelisms=1,2 engines=plain,squall,flink,storm
workloads=words,windows heap=2g cluster_copies=40 latency_secs=10 cluster=1 latency=1 max_load= in_bench=0
while (($#)); do
    case $1 in
        --words-mb) words_mb=$2; shift ;;
        --events) events=$2; shift ;;
        --reps) reps=$2; shift ;;
        --parallelism) parallelisms=$2; shift ;;
        --engines) engines=$2; shift ;;
        --workloads) workloads=$2; shift ;;
        --heap) heap=$2; shift ;;
        --cluster-copies) cluster_copies=$2; shift ;;
        --latency-secs) latency_secs=$2; shift ;;
        --no-cluster) cluster=0 ;;
        --no-latency) latency=0 ;;
        --max-load) max_load=$2; shift ;;
        --squall-in-bench) in_bench=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cache="${SQUALL_BENCH_CACHE:-$HOME/.cache/squall-bench}"
mkdir -p "$cache"
has() { [[ ",$1," == *",$2,"* ]]; }
log() { echo "$*" >&2; }

# --- Build: the squall binary, the Rust pieces, the Java jobs -------------
if [[ -z "${SQUALL_BIN:-}" ]] && ((!in_bench)); then
    cargo build --release -q -p squall-cli --bin squall >&2
    SQUALL_BIN="${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')}/release/squall"
fi
tools=${SIDEBYSIDE_BIN:-}
[[ -n "$tools" ]] || tools=$(cargo bench -q -p squall --bench sidebyside --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json, sys
for m in map(json.loads, sys.stdin):
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "sidebyside" and m.get("executable"):
        print(m["executable"])')
[[ -x "$tools" ]] || { log "error: could not build the sidebyside bench"; exit 1; }
squall_run=("${SQUALL_BIN:-}" run --quiet)
((in_bench)) && squall_run=("$tools" yaml)

# A Maven project of benches/ built into the cache; prints its classpath.
java_build() {
    local dir="$cache/$1"
    mvn -q -B -f "benches/$1/pom.xml" -Dbuild.dir="$dir/target" package \
        dependency:build-classpath -Dmdep.outputFile="$dir/classpath.txt" >&2 || return 1
    echo "$dir/target/classes:$(cat "$dir/classpath.txt")"
}
if has "$engines" flink; then flink_cp=$(java_build flink); fi
if has "$engines" storm && has "$workloads" words; then
    storm_cp=$(java_build storm) || { log "Apache Storm's jars could not be fetched: no storm rows"; engines=${engines//storm/}; }
fi
java_opts=(-Xms"$heap" -Xmx"$heap" --add-opens=java.base/java.lang=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED)

# --- Inputs (generated once per size, kept in the cache) -----------------
data="$cache/data"
words_dir="$data/words-${words_mb}mb-seed42"
events_dir="$data/events-${events}-seed7"
if has "$workloads" words && [[ ! -f "$words_dir/words.txt.expected" ]]; then
    log "generating $words_mb MB of words into $words_dir"
    rm -rf "$words_dir"; mkdir -p "$words_dir"
    "$tools" gen-words "$words_dir/words.txt" --mb "$words_mb" --parts-dir "$words_dir/parts" >&2
fi
if has "$workloads" windows && [[ ! -f "$events_dir/events.csv.expected" ]]; then
    log "generating $events events into $events_dir"
    rm -rf "$events_dir"; mkdir -p "$events_dir"
    "$tools" gen-events "$events_dir/events.csv" --rows "$events" --parts-dir "$events_dir/parts" >&2
fi
expect() { sed -n "s/.*\b$2=\([0-9]*\).*/\1/p" "$1"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
results="$work/results.tsv"
: > "$results"

# A value from a RESULT line of a log.
field() { grep -m1 '^RESULT' "$1" | sed -n "s/.*\b$2=\([0-9]*\).*/\1/p"; }

# One measured run: workload engine parallelism rep. Checks its totals and
# appends "workload engine p wall cpu rss_mb load1" to $results.
run() {
    local w=$1 e=$2 p=$3 rep=$4 out="$work/$1-$2-$3-$4" got_total got_rows want_total want_rows
    local input parts cmd=()
    if [[ $w == words ]]; then input="$words_dir/words.txt" parts="$words_dir/parts"
    else input="$events_dir/events.csv" parts="$events_dir/parts"; fi
    # Engines that read one file per task get the part files at p > 1.
    local per_task=$input
    ((p > 1)) && per_task=$parts
    case $e-$w in
        plain-words) cmd=("$tools" plain-words "$input") ;;
        plain-windows) cmd=("$tools" plain-windows "$input") ;;
        squall-words) cmd=("${squall_run[@]}" examples/word-count.yaml --set "input=$input"
            --set "output=$out.csv" --set "parallelism=$p") ;;
        squall-windows) cmd=("${squall_run[@]}" examples/sums-per-10s.yaml --set "input=$per_task"
            --set "output=$out.csv" --set "late=$out-late.csv" --set "parallelism=$p") ;;
        flink-words) cmd=(java "${java_opts[@]}" -cp "$flink_cp" FlinkWordCount "$per_task" "$p") ;;
        flink-windows) cmd=(java "${java_opts[@]}" -cp "$flink_cp" FlinkWindowSum "$per_task" "$p") ;;
        # Storm's LocalCluster leaves a folder per run (logs, storm_rocks) in
        # java.io.tmpdir: keep them in $work, deleted at exit.
        storm-words) mkdir -p "$work/storm-tmp"
            cmd=(java "${java_opts[@]}" -Djava.io.tmpdir="$work/storm-tmp" -cp "$storm_cp"
                StormWordCount "$per_task" "$p") ;;
        *) return 0 ;;
    esac
    local load1 waited=0
    while [[ -n $max_load ]] && awk -v l="$max_load" '{exit !($1 >= l)}' /proc/loadavg && ((waited < 600)); do
        sleep 5; waited=$((waited + 5))
    done
    load1=$(cut -d' ' -f1 /proc/loadavg)
    if ! /usr/bin/time -v -o "$out.time" "${cmd[@]}" > "$out.log" 2>&1; then
        log "error: $e $w p$p failed:"; tail -20 "$out.log" >&2; exit 1
    fi
    # The totals: from the output file (squall) or the RESULT line.
    if [[ $e == squall ]]; then
        read -r got_rows got_total < <(awk -F, 'NR > 1 { n++; s += $NF } END { print n + 0, s + 0 }' "$out.csv")
    elif [[ $w == words ]]; then
        got_total=$(field "$out.log" words) got_rows=$(field "$out.log" distinct)
    else
        got_total=$(field "$out.log" sum) got_rows=$(field "$out.log" pairs)
    fi
    if [[ $w == words ]]; then
        want_total=$(expect "$words_dir/words.txt.expected" words)
        want_rows=$(expect "$words_dir/words.txt.expected" distinct)
    else
        want_total=$(expect "$events_dir/events.csv.expected" sum)
        want_rows=$(expect "$events_dir/events.csv.expected" pairs)
    fi
    local wall cpu rss
    wall=$(awk '/Elapsed \(wall clock\)/{n=split($NF,a,":"); s=0; for(k=1;k<=n;k++) s=s*60+a[k]; print s}' "$out.time")
    cpu=$(awk '/User time|System time/{s+=$NF} END{print s}' "$out.time")
    rss=$(awk '/Maximum resident set size/{printf "%.0f", $NF/1024}' "$out.time")
    printf "%-7s %-6s p%d run %d: wall %7.2f s  cpu %7.2f s  peak RSS %5d MB  total %s rows %s  load %s\n" \
        "$w" "$e" "$p" "$rep" "$wall" "$cpu" "$rss" "$got_total" "$got_rows" "$load1"
    if [[ $got_total != "$want_total" || $got_rows != "$want_rows" ]]; then
        log "error: $e $w p$p: total $got_total rows $got_rows, the generator's $want_total and $want_rows"
        exit 1
    fi
    printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$w" "$e" "$p" "$wall" "$cpu" "$rss" "$load1" >> "$results"
    rm -f "$out.csv"
}

echo "side-by-side bench, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: scripts/bench-vs-flink.sh --words-mb $words_mb --events $events --reps $reps --parallelism $parallelisms --engines $engines --heap $heap$( ((in_bench)) && echo ' --squall-in-bench')"
has "$workloads" words && echo "words:   $(cat "$words_dir/words.txt.expected") ($words_dir)"
has "$workloads" windows && echo "windows: $(cat "$events_dir/events.csv.expected") ($events_dir)"
# The runs of one rep, in one order; odd reps run it backwards (A B ... B A).
configs=()
for w in ${workloads//,/ }; do
    for e in ${engines//,/ }; do
        if [[ $e == plain ]]; then configs+=("$w plain 1"); continue; fi
        [[ $e == storm && $w != words ]] && continue
        for p in ${parallelisms//,/ }; do configs+=("$w $e $p"); done
    done
done
for rep in $(seq "$reps"); do
    if ((rep % 2)); then order=("${configs[@]}"); else
        order=(); for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[i]}"); done
    fi
    for c in "${order[@]}"; do
        read -r w e p <<<"$c"
        run "$w" "$e" "$p" "$rep"
    done
done
echo
python3 benches/sidebyside_table.py "$results" \
    "$(has "$workloads" words && expect "$words_dir/words.txt.expected" words || echo 0)" \
    "$(has "$workloads" windows && expect "$events_dir/events.csv.expected" rows || echo 0)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- Cluster mode against local mode --------------------------------------
if ((cluster)); then
    echo
    if ! command -v etcd > /dev/null; then
        echo "cluster: skipped (no etcd on PATH; scripts/setup.sh installs it)"
    else
        [[ -d data/shakespeare ]] || bash scripts/fetch-corpus.sh >&2
        cargo bench -q -p squall-cli --bench cluster -- "$cluster_copies" "$reps" 2> "$work/cluster.err" ||
            { tail -20 "$work/cluster.err" >&2; exit 1; }
        echo "(cluster/local: 'vs local' of the cluster rows; the goal is 85%)"
    fi
fi

# --- End-to-end latency at half the peak rate -----------------------------
if ((latency)); then
    echo
    echo "latency: spout -> count (fields) -> sink, parallelism 2, creation to sink, $latency_secs s per run (first second not counted)"
    "$tools" latency --secs "$latency_secs" --parallelism 2 
fi
