#!/usr/bin/env bash
# Fetches Apache Storm's own multilang client for Python, `storm.py`, from
# the Maven Central jar `org.apache.storm:multilang-python` (the file
# Storm ships in `resources/` of that jar), unmodified, into a cache folder,
# and prints the path of storm.py. Does nothing but print the path if it is
# there already. The multilang tests (crates/squall-connectors/tests/
# multilang.rs) run components written against it; `STORM_PY` overrides the
# path they use.
#
# Usage: scripts/fetch-storm-multilang.sh          # prints .../storm.py
# Needs: mvn and a JDK (first run only), network access to Maven Central.
set -euo pipefail

readonly VERSION="${STORM_VERSION:-2.8.4}"
readonly ARTIFACT="org.apache.storm:multilang-python:$VERSION"
cache="${SQUALL_CACHE:-$HOME/.cache/squall}/multilang-python-$VERSION"
storm_py="$cache/resources/storm.py"

if [[ -f "$storm_py" ]]; then
    echo "$storm_py"
    exit 0
fi

mkdir -p "$cache"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mvn -q -B dependency:copy -Dartifact="$ARTIFACT" -DoutputDirectory="$tmp" >&2
jar="$tmp/multilang-python-$VERSION.jar"
if [[ ! -f "$jar" ]]; then
    echo "error: mvn did not produce $(basename "$jar")" >&2
    exit 1
fi
(cd "$tmp" && python3 -m zipfile -e "$jar" extracted >&2)
if [[ ! -f "$tmp/extracted/resources/storm.py" ]]; then
    echo "error: $(basename "$jar") has no resources/storm.py" >&2
    exit 1
fi
mkdir -p "$cache/resources"
cp "$tmp/extracted/resources/storm.py" "$storm_py.tmp"
mv "$storm_py.tmp" "$storm_py"
echo "fetched storm.py of $ARTIFACT from Maven Central" >&2
echo "$storm_py"
