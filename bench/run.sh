#!/usr/bin/env bash
# Build the benchmarks (release build in build-bench/), start the real Kafka
# broker from tests/broker/, run every case against it and print the table;
# the CSV goes to bench/results/<date>.csv.
#   BENCH_RECORDS (default 1000000), BENCH_SIZE (bytes, default 100)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
[ -d build-bench ] || meson setup build-bench --buildtype=release \
        -Dtests=false >/dev/null
ninja -C build-bench bench/kstreams-bench >/dev/null
tests/broker/broker.sh fetch
exec tests/broker/broker.sh run -- bench/cases.sh build-bench/bench/kstreams-bench
