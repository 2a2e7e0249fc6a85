#!/usr/bin/env bash
# Kafka -> word count -> Kafka, Squall vs Flink's own Kafka connector, side
# by side: one Apache Kafka broker (KRaft, one node, as the tests'
# broker.rs), one input topic of N Shakespeare lines (4 partitions), then
# RUNS alternating runs of
#   squall: `squall run` (release) of a YAML: kafka spout (bounded,
#           lines) -> split_words -> stateful_count -> kafka sink
#           (exactly_once), checkpoints every second, parallelism 2;
#   flink:  benches/flink-kafka (KafkaSource bounded to the latest offsets
#           -> split -> keyBy -> sum -> KafkaSink EXACTLY_ONCE), checkpoints
#           every second, parallelism 2, a local MiniCluster from `java`;
# each into a fresh output topic (2 partitions), whose read_committed
# records are counted and digested (word -> highest count) against the
# reference. Prints whole-process wall time, CPU time (user+sys) and peak
# RSS (/usr/bin/time -v) per run, the medians and the Squall/Flink ratios.
#
# Usage: scripts/bench-kafka-flink.sh [N_LINES (200000)] [RUNS (3)]
# Env: SQUALL_BIN (default: cargo build --release -p squall-cli, in
#      $CARGO_TARGET_DIR or target/), FLINK_HEAP (default 1g).
# Needs: java 17, mvn (Maven Central on first run), the corpus
#        (scripts/fetch-corpus.sh), /usr/bin/time.
set -euo pipefail
N=${1:-200000}
RUNS=${2:-3}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[[ -d data/shakespeare ]] || bash scripts/fetch-corpus.sh
KAFKA_LIB=$(bash scripts/fetch-kafka.sh)

# Flink's job, built outside the repository.
cache=$HOME/.cache/squall/flink-kafka-bench
mkdir -p "$cache"
mvn -q -B -f benches/flink-kafka/pom.xml -Dbuild.dir="$cache/target" package \
    dependency:build-classpath -Dmdep.outputFile="$cache/classpath.txt" >&2
FLINK_CP="$cache/target/classes:$(cat "$cache/classpath.txt")"

if [[ -z "${SQUALL_BIN:-}" ]]; then
    cargo build --release -q -p squall-cli --bin squall >&2
    SQUALL_BIN="${CARGO_TARGET_DIR:-$root/target}/release/squall"
fi

work=$(mktemp -d)
broker_pid=
cleanup() {
    if [[ -n "$broker_pid" ]]; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
controller=$(free_port)
brokers=127.0.0.1:$port
cat > "$work/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$work/logs
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
min.insync.replicas=1
default.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
kjava() { java -Xmx512m -Xms64m -XX:+UseSerialGC -Djava.awt.headless=true -cp "$KAFKA_LIB/*" "$@"; }
kjava kafka.tools.StorageTool format --standalone -t c3F1YWxsLXRlc3RjbHVzdA \
    -c "$work/server.properties" > "$work/format.log" 2>&1
# Not through kjava: $! must be java's own pid, for the cleanup to kill it.
java -Xmx512m -Xms64m -XX:+UseSerialGC -Djava.awt.headless=true -cp "$KAFKA_LIB/*" \
    kafka.Kafka "$work/server.properties" > "$work/broker.log" 2>&1 &
broker_pid=$!
tool() { java -Xmx256m -cp "$FLINK_CP" KafkaTool "$@" 2>/dev/null; }
for _ in $(seq 120); do
    tool create "$brokers" lines 4 && break
    kill -0 "$broker_pid" || { cat "$work/broker.log" >&2; exit 1; }
    sleep 1
done
ref=$(tool produce "$brokers" lines "$N" data/shakespeare)
echo "Apache Kafka 4.1.1 (one KRaft node, 127.0.0.1), $N lines of Shakespeare in 4 partitions: reference $ref"
ref_words=$(sed 's/.*words=\([0-9]*\).*/\1/' <<<"$ref")
ref_digest=$(sed 's/.*digest=\([0-9a-f]*\).*/\1/' <<<"$ref")

squall_yaml() { # $1 output topic, $2 checkpoint dir
    cat <<YAML
name: kafka-wc
config:
  guarantee: exactly_once
  checkpoint_interval_ms: 1000
  checkpoint_dir: "$2"
spouts:
  - id: lines
    type: kafka
    parallelism: 2
    settings: { brokers: "$brokers", topics: [lines], format: { type: lines }, bounded: true, group_id: squall-$1 }
bolts:
  - { id: split, type: split_words, parallelism: 2, settings: { field: line } }
  - { id: count, type: stateful_count, parallelism: 2, settings: { fields: [word] } }
  - id: sink
    type: kafka
    parallelism: 2
    settings: { brokers: "$brokers", topic: $1, delivery: exactly_once, key_field: word, transactional_id_prefix: squall-$1 }
streams:
  - { from: lines, to: split, grouping: shuffle }
  - { from: split, to: count, grouping: { fields: [word] } }
  - { from: count, to: sink, grouping: shuffle }
YAML
}

# One measured run: $1 engine, $2 run number. Appends "engine wall cpu rss_mb" to $work/results.
run() {
    local engine=$1 i=$2 out="$1-out-$2" tv="$work/time-$1-$2"
    tool create "$brokers" "$out" 2
    if [[ $engine == squall ]]; then
        squall_yaml "$out" "$work/ckpt-$i" > "$work/wc-$i.yaml"
        /usr/bin/time -v -o "$tv" "$SQUALL_BIN" run --quiet "$work/wc-$i.yaml" \
            > "$work/squall-$i.log" 2>&1 || { tail -20 "$work/squall-$i.log" >&2; exit 1; }
    else
        /usr/bin/time -v -o "$tv" java -Xms"${FLINK_HEAP:-1g}" -Xmx"${FLINK_HEAP:-1g}" \
            --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED \
            --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
            -cp "$FLINK_CP" FlinkKafkaWordCount "$brokers" lines "$out" 2 \
            > "$work/flink-$i.log" 2>&1 || { grep -m5 -A5 Exception "$work/flink-$i.log" >&2; exit 1; }
    fi
    local wall cpu rss got records digest
    wall=$(awk '/Elapsed \(wall clock\)/{n=split($NF,a,":"); s=0; for(k=1;k<=n;k++) s=s*60+a[k]; print s}' "$tv")
    cpu=$(awk '/User time|System time/{s+=$NF} END{print s}' "$tv")
    rss=$(awk '/Maximum resident set size/{printf "%.0f", $NF/1024}' "$tv")
    got=$(tool count "$brokers" "$out")
    records=$(sed 's/records=\([0-9]*\).*/\1/' <<<"$got")
    digest=$(sed 's/.*digest=\([0-9a-f]*\).*/\1/' <<<"$got")
    local ok=ok
    [[ $records == "$ref_words" && $digest == "$ref_digest" ]] || ok="MISMATCH (reference words=$ref_words digest=$ref_digest)"
    printf "%-7s run %d: wall %7.2f s  cpu %7.2f s  peak RSS %5d MB  output %s %s\n" \
        "$engine" "$i" "$wall" "$cpu" "$rss" "$got" "$ok"
    echo "$engine $wall $cpu $rss" >> "$work/results"
    [[ $ok == ok ]] || exit 1
}

for i in $(seq "$RUNS"); do
    if (( i % 2 )); then run squall "$i"; run flink "$i"; else run flink "$i"; run squall "$i"; fi
done

median() { sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "median of $RUNS (whole process: start-up, job, shutdown):"
declare -A m
for e in squall flink; do
    for k in 2 3 4; do m[$e$k]=$(awk -v e=$e -v k=$k '$1==e{print $k}' "$work/results" | median); done
    printf "%-7s wall %7.2f s  cpu %7.2f s  peak RSS %5d MB  %8.0f words/s (wall)\n" \
        "$e" "${m[${e}2]}" "${m[${e}3]}" "${m[${e}4]}" "$(awk -v w="$ref_words" -v s="${m[${e}2]}" 'BEGIN{print w/s}')"
done
awk -v a="${m[squall2]}" -v b="${m[flink2]}" -v c="${m[squall3]}" -v d="${m[flink3]}" \
    -v e="${m[squall4]}" -v f="${m[flink4]}" \
    'BEGIN{printf "squall/flink: wall %.2fx  cpu %.2fx  peak RSS %.2fx\n", a/b, c/d, e/f}'
