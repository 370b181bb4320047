#!/usr/bin/env bash
# Build kstreams-c and run the word-count demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -d build ] || meson setup build --buildtype=debugoptimized >/dev/null
ninja -C build examples/wordcount >/dev/null
exec build/examples/wordcount "$@"
