#!/bin/sh
# Exactly-once word count under failures, on the real broker (the mock
# does not implement transactions): the demo exits 0 only when, read with
# read_committed, every word's counts are exactly 1, 2, ..., N and N is
# the independent count.
#   chaos.sh WORDCOUNT_BINARY kills|zombie
#     kills:  200,000 lines over 3 instances, 10 kill -9 of random
#             instances at random points, each restarted on its state;
#     zombie: an instance stopped (SIGSTOP) past its session timeout,
#             twice, then resumed: its late commits must be refused.
set -eu
bin="$1"
if [ -z "${KS_TEST_BOOTSTRAP:-}" ]; then
        echo "SKIP: needs the real Kafka broker (KS_TEST_BOOTSTRAP)"
        exit 77
fi
log="${TMPDIR:-/tmp}/eos-chaos-$2-$$.log"
# On failure: the end of the log, then what explains it (an instance that
# stopped by itself, errors, warnings), last so that a cut log keeps it.
failed() {
        tail -60 "$log"
        echo "---- why: instances that stopped, errors and warnings"
        grep -a 'exited (status\|failed:\|^%[0-4]|\|fatal\|not running' \
                "$log" | tail -40 || true
        [ -z "${1:-}" ] || echo "$1"
        echo "(full log: $log)"
        exit 1
}
case "$2" in
kills)
        "$bin" --eos --kills 10 --lines 200000 --seed 11 \
                --bootstrap-servers "$KS_TEST_BOOTSTRAP" >"$log" 2>&1 || failed
        kills=$(grep -c '\[demo\] kill [0-9]* of' "$log" || true)
        if [ "$kills" -lt 10 ]; then
                failed "FAILED: $kills kills instead of 10"
        fi
        ;;
zombie)
        "$bin" --eos --zombie --lines 100000 --seed 12 \
                --bootstrap-servers "$KS_TEST_BOOTSTRAP" >"$log" 2>&1 || failed
        # The stopped instance must have had its commits refused.
        if ! grep -q '\[instance 2\] closed after .* [1-9][0-9]* transactions aborted' "$log"; then
                failed "FAILED: the stopped instance aborted no transaction"
        fi
        ;;
*)
        echo "unknown mode $2" >&2
        exit 2
        ;;
esac
grep -a 'exactly-once:\|^OK\|kill [0-9]* of\|SIGSTOP\|SIGCONT\|transactions aborted' "$log"
rm -f "$log"
