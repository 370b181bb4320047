#!/usr/bin/env bash
# Build kstreams-c and run every test: once in a normal build with warnings as
# errors, once more under AddressSanitizer + UndefinedBehaviorSanitizer, and
# the unit and embedded-broker tests a third time under ThreadSanitizer. The
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
        echo "== build with ThreadSanitizer ($PWD/build-tsan)"
        setup build-tsan --buildtype=debugoptimized -Db_sanitize=thread \
                -Db_lundef=false

        if [ -n "${KS_TEST_BOOTSTRAP:-}" ]; then
                echo "== Kafka: the cluster at $KS_TEST_BOOTSTRAP"
                exec "$0" --with-broker
        fi
        echo "== Kafka broker (tests/broker/broker.sh)"
        tests/broker/broker.sh fetch
        exec tests/broker/broker.sh run -- "$0" --with-broker
fi

# Run one build's suite (or the suites named after it); a skipped test
# fails the run, since every test has what it needs here.
run_suite() {
        local dir="$1"
        shift
        meson test -C "$dir" --print-errorlogs --num-processes 2 "$@"
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

# The stream threads, the global thread, the state cleaner and the
# application's callers share the application handle: every test that runs
# threads without a real broker, under ThreadSanitizer. librdkafka and
# RocksDB are not instrumented; tests/tsan.supp names what of theirs TSan
# cannot see through.
echo "== unit and embedded-broker tests under ThreadSanitizer"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
run_suite build-tsan --suite unit --suite broker-mock
