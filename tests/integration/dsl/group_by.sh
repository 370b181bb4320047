#!/bin/sh
# The DSL word count across three instances: group_by moves every word to
# the instance owning its partition through the repartition topic
# "<application.id>-words-repartition" (made by the application on the
# real broker), one instance is killed mid-stream, and the demo exits 0
# only when every final count equals an independent count of the input.
#   group_by.sh WORDCOUNT_BINARY mock|kafka
set -eu
bin="$1"
log="${TMPDIR:-/tmp}/dsl-group-by-$2-$$.log"
case "$2" in
mock) set -- "$bin" --dsl --lines 6000 --seed 9 ;;
kafka)
        if [ -z "${KS_TEST_BOOTSTRAP:-}" ]; then
                echo "SKIP: needs the real Kafka broker (KS_TEST_BOOTSTRAP)"
                exit 77
        fi
        set -- "$bin" --dsl --lines 6000 --seed 9 \
                --bootstrap-servers "$KS_TEST_BOOTSTRAP"
        ;;
*)
        echo "unknown broker $2" >&2
        exit 2
        ;;
esac
"$@" >"$log" 2>&1 || {
        tail -60 "$log"
        exit 1
}
# The words went through the repartition topic, into their own
# sub-topology.
for want in 'Sink: words-repartition-sink (topic: words-repartition)' \
        'Source: words-repartition-source (topics: \[words-repartition\])' \
        'Sub-topology: 1'; do
        if ! grep -q "$want" "$log"; then
                head -40 "$log"
                echo "FAILED: the topology lacks: $want"
                exit 1
        fi
done
grep '^OK:' "$log"
rm -f "$log"
