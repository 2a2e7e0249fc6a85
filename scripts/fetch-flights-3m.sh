#!/usr/bin/env bash
# Fetches the benchmark input: the 3,000,000 real US flights of 2001 (in
# time order) of the npm package `vega-datasets` (data/flights-3m.parquet),
# converted with pyarrow (from PyPI) into data/flights-3m/:
#   flights-3m.csv        all flights: date (unix ms), delay, distance, origin, destination
#   parts/part-0.csv, parts/part-1.csv  the even and the odd rows: two
#                         time-ordered partitions, one per spout task
# Does nothing if they are there. Only the window benchmark needs them.
#
# Usage: scripts/fetch-flights-3m.sh
# Needs: npm, python3 with pip, network access to npm and PyPI (first run only).
set -euo pipefail

readonly VERSION=3.2.1
readonly ROWS=3000000
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/data/flights-3m"

if [[ -f "$dest/flights-3m.csv" && -f "$dest/parts/part-1.csv" ]]; then
    echo "flights-3m already present in ${dest#"$root"/}"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "vega-datasets@$VERSION" --silent >/dev/null)
tar -xzf "$tmp/vega-datasets-$VERSION.tgz" -C "$tmp" package/data/flights-3m.parquet
python3 -c 'import pyarrow' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyarrow >&2

mkdir -p "$dest/parts"
python3 - "$tmp/package/data/flights-3m.parquet" "$dest" "$ROWS" <<'PY'
import sys
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as csv
import pyarrow.parquet as pq

table = pq.read_table(sys.argv[1])
if table.num_rows != int(sys.argv[3]):
    sys.exit(f"error: expected {sys.argv[3]} flights, found {table.num_rows}")
ms = pc.divide(table["date"].cast(pa.int64()), 1000)
table = table.set_column(0, "date", ms)
dest = sys.argv[2]
csv.write_csv(table, f"{dest}/flights-3m.csv")
index = pa.array(range(table.num_rows))
for part in (0, 1):
    mask = pc.equal(pc.bit_wise_and(index, 1), part)
    csv.write_csv(table.filter(mask), f"{dest}/parts/part-{part}.csv")
PY
echo "fetched $ROWS flights of vega-datasets $VERSION from npm into ${dest#"$root"/}"
