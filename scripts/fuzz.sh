#!/usr/bin/env bash
# Coverage-guided fuzzing of every input that crosses a trust boundary
# (cargo-fuzz / libFuzzer, nightly Rust; targets in fuzz/fuzz_targets/).
# Not part of the test run: long runs belong here.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 30 s, every target)
#        SQUALL_FUZZ_RUNS=1000000 scripts/fuzz.sh 600   (each target stops at 10 min or
#                                                         1 M executions, whichever first)
#
# Each target starts from its seeds (fuzz/seeds/TARGET: real files of the
# repository) and a working corpus kept between runs
# ($SQUALL_FUZZ_CORPUS, default ~/.cache/squall/fuzz-corpus/TARGET). The
# contract: no panic, no hang (-timeout=10 s per input), no allocation
# over -rss_limit_mb=2048. A crash is written to fuzz/artifacts/TARGET/
# and stops the run; make it a regression test. Prints executions and
# coverage per target.
#
# Needs: rustup's nightly toolchain and cargo-fuzz (`cargo install
# cargo-fuzz`; this script installs it when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
export CARGO_TARGET_DIR="${SQUALL_FUZZ_TARGET:-$HOME/.cache/squall-fuzz}"
corpus_root="${SQUALL_FUZZ_CORPUS:-$HOME/.cache/squall/fuzz-corpus}"
runs="${SQUALL_FUZZ_RUNS:-}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd fuzz
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || mapfile -t targets < <(cargo +nightly fuzz list)
# SQUALL_FUZZ_NO_BUILD=1 runs the targets as last built.
[[ -n "${SQUALL_FUZZ_NO_BUILD:-}" ]] || cargo +nightly fuzz build -O
bin="$CARGO_TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
printf '%-20s %12s %10s %8s %8s\n' target executions exec/s cov seconds
for t in "${targets[@]}"; do
    mkdir -p "$corpus_root/$t" "artifacts/$t"
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    started=$SECONDS
    # What `cargo fuzz run -O` runs, without building again.
    seeds=()
    [[ -d "seeds/$t" ]] && seeds=("seeds/$t")
    "$bin/$t" -artifact_prefix="artifacts/$t/" "$corpus_root/$t" "${seeds[@]}" \
        -max_total_time="$seconds" ${runs:+-runs="$runs"} -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 \
        >"$log" 2>&1 || { echo "$t: FAILED (see $log and fuzz/artifacts/$t/)"; tail -30 "$log"; exit 1; }
    # Loading an input must touch no file: anything new here is a defect.
    made=$(git status --porcelain --untracked-files=all -- . | grep '^??' | grep -v -e ' fuzz/artifacts/' -e ' fuzz/corpus/' || true)
    [[ -z "$made" ]] || { echo "$t: FAILED: running it created files in fuzz/:"; echo "$made" | head; exit 1; }
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
    cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
    printf '%-20s %12s %10s %8s %8s\n' "$t" "$execs" "$rate" "$cov" "$((SECONDS - started))"
done
