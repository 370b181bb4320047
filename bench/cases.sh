#!/usr/bin/env bash
# The benchmark cases, run by bench/run.sh with KS_TEST_BOOTSTRAP set to the
# real broker and BENCH_JAVA_CP to the compiled Kafka Streams program.
set -euo pipefail
set -f # the Java class path holds a wildcard
bin="$1"
bs="$KS_TEST_BOOTSTRAP"
n="${BENCH_RECORDS:-1000000}"
size="${BENCH_SIZE:-100}"
lines="${BENCH_LINES:-500000}"
rate="${BENCH_RATE:-5000}"
parts=6
tag="bench-$$-$(date +%s)"
state="$(mktemp -d /tmp/kstreams-bench-java-XXXXXX)"
trap 'rm -rf "$state"' EXIT
events="${BENCH_EVENTS:-1000000}"
close_events="${BENCH_CLOSE_EVENTS:-50000}"
windowed="${BENCH_WINDOWED:-1}"
join="${BENCH_JOIN:-1}"
join_events="${BENCH_JOIN_EVENTS:-500000}"
repeat="${BENCH_REPEAT:-3}"
mkdir -p bench/results
stamp="$(date +%Y%m%d-%H%M%S)"
csv="bench/results/$stamp.csv"
echo "case,baseline,records,processing_s,wall_s,records_per_s,cpu_s,peak_rss_kb,p50_ms,p99_ms" > "$csv"

say() { echo "bench: $*" >&2; }
topic() { "$bin" create "$bs" "$1" "$parts"; }
# java CASE IN OUT APP CACHE [KEY=VALUE...]: the Kafka Streams program.
java_cmd() {
        local what="$1" in="$2" out="$3" app="$4" cache="$5"
        shift 5
        echo java -cp "$BENCH_JAVA_CP" KsBench "$what" "$bs" "$in" "$out" \
                "$app" "$state/$app" "$cache" "$@"
}

# BENCH_WINDOWED=only: the windowed cases alone; BENCH_JOIN=only: the
# stream-stream join alone (both "only": those two); =0 skips them.
run_main=1 run_windowed=1 run_join=1
[ "$windowed" != 0 ] || run_windowed=0
[ "$join" != 0 ] || run_join=0
if [ "$windowed" = only ] || [ "$join" = only ]; then
        run_main=0
        [ "$windowed" = only ] || run_windowed=0
        [ "$join" = only ] || run_join=0
fi
if [ "$run_main" = 1 ]; then
# Stateless: map+filter over fixed-size records.
topic "$tag-in"
say "producing $n records of $size bytes to $tag-in ($parts partitions)"
"$bin" produce "$bs" "$tag-in" "$n" "$size" "$parts"
base="stateless/passthrough (librdkafka)"
say "stateless: plain librdkafka, kstreams-c, Kafka Streams, $repeat rounds"
for r in $(seq 1 "$repeat"); do
        for c in pt lib java; do topic "$tag-sl-$c-$r"; done
        "$bin" run "$base" "$base" count "$bs" "$tag-sl-pt-$r" "$n" -- \
                "$bin" serve passthrough "$bs" "$tag-in" "$tag-sl-pt-$r" >> "$csv"
        "$bin" run "stateless/kstreams-c" "$base" count "$bs" "$tag-sl-lib-$r" "$n" -- \
                "$bin" serve stateless "$bs" "$tag-in" "$tag-sl-lib-$r" >> "$csv"
        # shellcheck disable=SC2046
        "$bin" run "stateless/kafka-streams" "$base" count "$bs" "$tag-sl-java-$r" "$n" -- \
                $(java_cmd stateless "$tag-in" "$tag-sl-java-$r" "$tag-sl-java-$r" 10485760) >> "$csv"
done

# Word count: lines of text, counted per word through a re-keyed topic.
topic "$tag-lines"
say "producing $lines lines of text to $tag-lines"
words=$("$bin" produce-lines "$bs" "$tag-lines" "$lines" "$parts")
say "the lines hold $words words"
for c in pt lib lib-words java java-cache; do topic "$tag-wc-$c"; done
wbase="wordcount/kafka-streams cache off"
"$bin" run "wordcount/passthrough (librdkafka)" "wordcount/passthrough (librdkafka)" \
        count "$bs" "$tag-wc-pt" "$lines" -- \
        "$bin" serve passthrough "$bs" "$tag-lines" "$tag-wc-pt" >> "$csv"
# shellcheck disable=SC2046
"$bin" run "$wbase" "$wbase" words "$bs" "$tag-wc-java" "$lines" -- \
        $(java_cmd wordcount "$tag-lines" "$tag-wc-java" "$tag-wc-java" 0) >> "$csv"
# shellcheck disable=SC2046
"$bin" run "wordcount/kafka-streams cache 10MB" "$wbase" words "$bs" "$tag-wc-java-cache" "$lines" -- \
        $(java_cmd wordcount "$tag-lines" "$tag-wc-java-cache" "$tag-wc-java-cache" 10485760 \
                commit.interval.ms=1000) >> "$csv"
"$bin" run "wordcount/kstreams-c cache off" "$wbase" words "$bs" "$tag-wc-lib" "$lines" -- \
        "$bin" serve wordcount "$bs" "$tag-lines" "$tag-wc-lib" "$tag-wc-lib-words" >> "$csv"
# The DSL word count, through its repartition topic: without the record
# cache, and with 10 MB and 1 s commits as the Kafka Streams case.
for c in dsl dsl-cache; do topic "$tag-wc-$c"; done
BENCH_CONF="statestore.cache.max.bytes=0" \
        "$bin" run "wordcount/kstreams-c DSL cache off" "$wbase" words "$bs" "$tag-wc-dsl" "$lines" -- \
        "$bin" serve wordcount-dsl "$bs" "$tag-lines" "$tag-wc-dsl" >> "$csv"
BENCH_CONF="statestore.cache.max.bytes=10485760 commit.interval.ms=1000" \
        "$bin" run "wordcount/kstreams-c DSL cache 10MB" "$wbase" words "$bs" "$tag-wc-dsl-cache" "$lines" -- \
        "$bin" serve wordcount-dsl "$bs" "$tag-lines" "$tag-wc-dsl-cache" >> "$csv"
# The same topology under exactly_once_v2 (transactions of 100 ms),
# against at-least-once with the same 100 ms commits, in alternating rounds
# (a single run of either varies by 20% on a 2-core machine).
ebase="wordcount/kstreams-c at-least-once 100ms"
say "word count, at-least-once and exactly-once at 100 ms commits: $repeat rounds"
for r in $(seq 1 "$repeat"); do
        for c in alos100 alos100-words eos eos-words; do topic "$tag-wc-$c-$r"; done
        BENCH_CONF="commit.interval.ms=100" \
                "$bin" run "$ebase" "$ebase" words "$bs" "$tag-wc-alos100-$r" "$lines" -- \
                "$bin" serve wordcount "$bs" "$tag-lines" "$tag-wc-alos100-$r" "$tag-wc-alos100-words-$r" >> "$csv"
        BENCH_CONF="processing.guarantee=exactly_once_v2" \
                "$bin" run "wordcount/kstreams-c exactly-once" "$ebase" \
                words "$bs" "$tag-wc-eos-$r" "$lines" -- \
                "$bin" serve wordcount "$bs" "$tag-lines" "$tag-wc-eos-$r" "$tag-wc-eos-words-$r" >> "$csv"
done

# Restore: a store of n records rebuilt from its changelog.
say "restore: $n records of $size bytes, $repeat rounds"
for r in $(seq 1 "$repeat"); do
        "$bin" restore "$bs" "$n" "$size" "$parts" >> "$csv"
done

# Latency at a fixed offered rate.
say "latency: $rate records/s for 10 s"
lbase="latency/passthrough (librdkafka)"
# Each pipeline reads its own input from the start.
for c in pt lib java; do topic "$tag-lat-$c-in"; topic "$tag-lat-$c"; done
"$bin" latency "$lbase" "$lbase" "$bs" "$tag-lat-pt-in" "$tag-lat-pt" "$rate" 10 -- \
        "$bin" serve passthrough "$bs" "$tag-lat-pt-in" "$tag-lat-pt" >> "$csv"
"$bin" latency "latency/kstreams-c" "$lbase" "$bs" "$tag-lat-lib-in" "$tag-lat-lib" "$rate" 10 -- \
        "$bin" serve stateless "$bs" "$tag-lat-lib-in" "$tag-lat-lib" >> "$csv"
# shellcheck disable=SC2046
"$bin" latency "latency/kafka-streams" "$lbase" "$bs" "$tag-lat-java-in" "$tag-lat-java" "$rate" 10 -- \
        $(java_cmd stateless "$tag-lat-java-in" "$tag-lat-java" "$tag-lat-java" 10485760) >> "$csv"

fi # run_main

# Windowed aggregations: keyed events with their event time in the record
# timestamps (some out of order, some too late), counted per device in
# tumbling windows of 1 min (emitted on update, and on window close) and in
# sessions of 5 min inactivity (on update), 10 s grace, by kstreams-c and
# Kafka Streams, in alternating rounds. Both run with their default record
# cache (10 MB) and 1 s commits (as the word count with a cache: the last
# counts leave the cache at a commit). The harness checks every output record
# against a model of the input and ends a run when the output holds the
# final count of every window (see docs/benchmarks.md). The on-close case
# reads the first BENCH_CLOSE_EVENTS events only (the library's time per
# event grows with the input there, and Kafka Streams runs it at about
# 1,000 events/s), and Kafka Streams emits closed windows at once in it, as
# the library does (by default at most once a second per task, which left
# windows out). BENCH_WINDOWED=0 skips them.
if [ "$run_windowed" = 1 ]; then
        # The events are stamped in January 2026: their topics keep records
        # of any age (the broker's 7-day retention would delete them, and
        # the output stamped with their times, under the running cases).
        etopic() { "$bin" create "$bs" "$1" "$parts" retention.ms=-1; }
        etopic "$tag-ev"
        say "producing $events events to $tag-ev ($parts partitions)"
        say "$("$bin" produce-events "$bs" "$tag-ev" "$events" "$parts")"
        etopic "$tag-ev-close"
        say "producing the first $close_events of them to $tag-ev-close"
        say "$("$bin" produce-events "$bs" "$tag-ev-close" "$close_events" "$parts")"
        say "windowed: kstreams-c and Kafka Streams, $repeat rounds"
        for r in $(seq 1 "$repeat"); do
                for c in windowed-update windowed-close session-update; do
                        label="${c/-//}" # windowed/update, ...
                        jbase="$label kafka-streams"
                        input="$tag-ev" ne="$events" jextra=()
                        if [ "$c" = windowed-close ]; then
                                input="$tag-ev-close" ne="$close_events"
                                jextra=(__emit.interval.ms.kstreams.windowed.aggregation__=0)
                        fi
                        # Who goes first alternates from round to round.
                        order="java lib"
                        [ $((r % 2)) = 1 ] || order="lib java"
                        for who in $order; do
                                out="$tag-$c-$who-$r"
                                etopic "$out"
                                if [ "$who" = java ]; then
                                        # shellcheck disable=SC2046
                                        "$bin" run "$jbase" "$jbase" "$c" "$bs" "$out" \
                                                "$ne" "$input" -- \
                                                $(java_cmd "$c" "$input" "$out" "$out" 10485760 \
                                                        commit.interval.ms=1000 "${jextra[@]}") >> "$csv"
                                else
                                        BENCH_CONF="commit.interval.ms=1000" BENCH_APP_ID="$out" \
                                                "$bin" run "$label kstreams-c" "$jbase" "$c" \
                                                "$bs" "$out" "$ne" "$input" -- \
                                                "$bin" serve "$c" "$bs" "$input" "$out" >> "$csv"
                                fi
                        done
                done
        done
fi

# Stream-stream join: ad impressions and clicks keyed by ad id, event time
# in the record timestamps (the last 3 hours), joined (inner) within 10 min
# with 1 min grace, the joiner concatenating the values, by kstreams-c and
# Kafka Streams in alternating rounds, beside a plain librdkafka copy of
# both inputs. Both run with their default record cache (10 MB, unused by
# the join) and 1 s commits, as the windowed cases. The harness ends a run
# when the output holds as many records as the input has joined pairs
# (computed by the generator), then checks, once the application has
# committed its input, that it holds exactly those pairs (see
# bench/join_bench.c). BENCH_JOIN=0 skips it.
if [ "$run_join" = 1 ]; then
        topic "$tag-imp"
        topic "$tag-clk"
        say "producing $join_events impressions to $tag-imp and $join_events clicks to $tag-clk"
        jout=$("$bin" produce-join "$bs" "$tag-imp" "$tag-clk" "$join_events" "$parts")
        read -r pairs sum <<<"$jout"
        jbase="join/inner kafka-streams"
        pbase="join/passthrough (librdkafka)"
        say "stream join: plain librdkafka, kstreams-c and Kafka Streams, $repeat rounds"
        for r in $(seq 1 "$repeat"); do
                topic "$tag-join-pt-$r"
                "$bin" run "$pbase" "$pbase" count "$bs" "$tag-join-pt-$r" $((2 * join_events)) -- \
                        "$bin" serve passthrough "$bs" "$tag-imp,$tag-clk" "$tag-join-pt-$r" >> "$csv"
                # Who goes first alternates from round to round.
                order="java lib"
                [ $((r % 2)) = 1 ] || order="lib java"
                for who in $order; do
                        out="$tag-join-$who-$r"
                        topic "$out"
                        if [ "$who" = java ]; then
                                # shellcheck disable=SC2046
                                "$bin" run "$jbase" "$jbase" stream-join "$bs" "$out" \
                                        "$pairs" "$tag-imp" "$tag-clk" "$sum" -- \
                                        $(java_cmd stream-join "$tag-imp,$tag-clk" "$out" "$out" 10485760 \
                                                commit.interval.ms=1000) >> "$csv"
                        else
                                BENCH_CONF="commit.interval.ms=1000" BENCH_APP_ID="$out" \
                                        "$bin" run "join/inner kstreams-c" "$jbase" stream-join "$bs" "$out" \
                                        "$pairs" "$tag-imp" "$tag-clk" "$sum" -- \
                                        "$bin" serve stream-join "$bs" "$tag-imp" "$out" "$tag-clk" >> "$csv"
                        fi
                done
        done
fi

python3 bench/table.py "$csv"
