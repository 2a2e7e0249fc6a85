#!/usr/bin/env bash
# Builds the web UI (ui/src, with dagre, uPlot and esbuild from npm at the
# versions of ui/package-lock.json) into ui/dist/, which is committed and
# embedded in the `squall` binary (crates/squall-cluster/src/nimbus/ui.rs), so that
# building Squall needs no node. Run it after changing ui/src and commit
# ui/dist with the change.
#
#   scripts/build-ui.sh            rebuild ui/dist
#   scripts/build-ui.sh --check    build into a temporary folder and fail if
#                                  ui/dist differs (scripts/test.sh runs it)
set -euo pipefail
cd "$(dirname "$0")/../ui"
if ! command -v npm >/dev/null 2>&1; then
    echo "npm is missing: run scripts/setup.sh (Debian's nodejs and npm)" >&2
    exit 1
fi
if ! npm ls --silent >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --loglevel=error
fi
if [ "${1:-}" = "--check" ]; then
    out="$(mktemp -d)"
    trap 'rm -rf "$out"' EXIT
    node build.mjs --out "$out"
    if ! diff -r "$out" dist >/dev/null; then
        diff -r "$out" dist | head -n 20 >&2 || true
        echo "ui/dist is not what ui/src builds: run scripts/build-ui.sh and commit ui/dist" >&2
        exit 1
    fi
    echo "ui/dist is up to date with ui/src"
else
    node build.mjs
    echo "built ui/dist ($(du -sh dist | cut -f1))"
fi
