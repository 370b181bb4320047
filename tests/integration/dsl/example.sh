#!/bin/sh
# A DSL example program as a test: it checks its own output against what it
# computes from its input and exits 0 only when all of it matches.
#   example.sh EXAMPLE_BINARY mock|kafka
set -eu
bin="$1"
case "$2" in
mock) exec "$bin" ;;
kafka)
        if [ -z "${KS_TEST_BOOTSTRAP:-}" ]; then
                echo "SKIP: needs the real Kafka broker (KS_TEST_BOOTSTRAP)"
                exit 77
        fi
        exec "$bin" --bootstrap-servers "$KS_TEST_BOOTSTRAP"
        ;;
esac
echo "unknown broker $2" >&2
exit 2
