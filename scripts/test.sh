#!/usr/bin/env bash
# Build kstreams-c and run every test: once in a normal build with warnings as
# errors, once more under AddressSanitizer + UndefinedBehaviorSanitizer. The
# integration tests run against librdkafka's mock cluster (in-process) and a
# real Apache Kafka broker, which this script fetches (first run), starts
# once for both builds and stops at the end, also when interrupted.
#
# KS_TEST_BOOTSTRAP=host:port runs the suite against an existing cluster
# instead of starting one.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--with-broker" ]; then
        scripts/deps.sh

        echo "== format (.clang-format)"
        git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format --dry-run -Werror
        echo "ok: every C and C++ file is formatted"

        setup() {
                local dir="$1"; shift
                if [ ! -d "$dir" ]; then
                        meson setup "$dir" -Dwerror=true "$@" >/dev/null
                fi
                ninja -C "$dir"
        }
        echo "== build ($PWD/build-test)"
        setup build-test --buildtype=debugoptimized
        echo "== build with AddressSanitizer + UndefinedBehaviorSanitizer ($PWD/build-asan)"
        setup build-asan --buildtype=debug -Db_sanitize=address,undefined \
                -Db_lundef=false -Dc_args=-fno-sanitize-recover=all \
                -Dcpp_args=-fno-sanitize-recover=all

        if [ -n "${KS_TEST_BOOTSTRAP:-}" ]; then
                echo "== Kafka: the cluster at $KS_TEST_BOOTSTRAP"
                exec "$0" --with-broker
        fi
        echo "== Kafka broker (tests/broker/broker.sh)"
        tests/broker/broker.sh fetch
        exec tests/broker/broker.sh run -- "$0" --with-broker
fi

# Run one build's suite; a skipped test fails the run, since every test
# has what it needs here.
run_suite() {
        local dir="$1"
        meson test -C "$dir" --print-errorlogs --num-processes 2
        if ! grep -Eq '^Skipped: +0 *$' "$dir/meson-logs/testlog.txt"; then
                echo "error: tests were skipped in $dir (see above)" >&2
                exit 1
        fi
}

echo "== tests ($PWD/build-test)"
run_suite build-test

echo "== tests under AddressSanitizer + UndefinedBehaviorSanitizer"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite build-asan
