#!/usr/bin/env bash
# Fetches Apache Storm's own multilang clients, `storm.py` (Python) and
# `storm.js` (Node.js), from the Maven Central jars
# `org.apache.storm:multilang-python` and `multilang-javascript` (the files
# Storm ships in `resources/` of those jars), unmodified, into one cache
# folder, and prints the path of storm.py (storm.js is beside it). Does
# nothing but print the path if they are there already. The multilang tests
# (crates/squall-connectors/tests/multilang.rs) run components written
# against them; `STORM_PY` overrides the path they use.
#
# Usage: scripts/fetch-storm-multilang.sh          # prints .../storm.py
# Needs: mvn and a JDK, python3 (to unzip) on the first run, network access
# to Maven Central.
set -euo pipefail

readonly VERSION="${STORM_VERSION:-2.8.4}"
cache="${SQUALL_CACHE:-$HOME/.cache/squall}/storm-multilang-$VERSION"
storm_py="$cache/resources/storm.py"

if [[ -f "$storm_py" && -f "$cache/resources/storm.js" ]]; then
    echo "$storm_py"
    exit 0
fi

mkdir -p "$cache/resources"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for lang in python:storm.py javascript:storm.js; do
    artifact="org.apache.storm:multilang-${lang%%:*}:$VERSION"
    file="${lang#*:}"
    mvn -q -B dependency:copy -Dartifact="$artifact" -DoutputDirectory="$tmp" >&2
    jar="$tmp/multilang-${lang%%:*}-$VERSION.jar"
    if [[ ! -f "$jar" ]]; then
        echo "error: mvn did not produce $(basename "$jar")" >&2
        exit 1
    fi
    (cd "$tmp" && python3 -m zipfile -e "$jar" "extracted-${lang%%:*}" >&2)
    if [[ ! -f "$tmp/extracted-${lang%%:*}/resources/$file" ]]; then
        echo "error: $(basename "$jar") has no resources/$file" >&2
        exit 1
    fi
    cp "$tmp/extracted-${lang%%:*}/resources/$file" "$cache/resources/$file.tmp"
    mv "$cache/resources/$file.tmp" "$cache/resources/$file"
    echo "fetched $file of $artifact from Maven Central" >&2
done
echo "$storm_py"
