#!/usr/bin/env bash
# Build kstreams-c and run every test: once in a normal build with warnings as
# errors, once more under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh

run_suite() {
        local dir="$1"; shift
        if [ ! -d "$dir" ]; then
                meson setup "$dir" -Dwerror=true "$@" >/dev/null
        fi
        ninja -C "$dir"
        meson test -C "$dir" --print-errorlogs --num-processes 2
}

echo "== format (.clang-format)"
git ls-files '*.c' '*.h' '*.cpp' | xargs clang-format --dry-run -Werror
echo "ok: every C and C++ file is formatted"

echo "== build and test ($PWD/build-test)"
run_suite build-test --buildtype=debugoptimized

echo "== AddressSanitizer + UndefinedBehaviorSanitizer ($PWD/build-asan)"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite build-asan --buildtype=debug -Db_sanitize=address,undefined \
        -Db_lundef=false -Dc_args=-fno-sanitize-recover=all \
        -Dcpp_args=-fno-sanitize-recover=all
