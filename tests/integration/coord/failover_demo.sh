#!/bin/sh
# The failover demo as a test: three instances, one killed with SIGKILL
# mid-stream; the demo exits 0 only when every final count equals an
# independent count of its input.
#   failover_demo.sh WORDCOUNT_BINARY mock|kafka
set -eu
bin="$1"
case "$2" in
mock) exec "$bin" --lines 6000 --seed 7 ;;
kafka)
        if [ -z "${KS_TEST_BOOTSTRAP:-}" ]; then
                echo "SKIP: needs the real Kafka broker (KS_TEST_BOOTSTRAP)"
                exit 77
        fi
        exec "$bin" --lines 6000 --seed 7 --bootstrap-servers "$KS_TEST_BOOTSTRAP"
        ;;
esac
echo "unknown broker $2" >&2
exit 2
