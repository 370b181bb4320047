#!/usr/bin/env bash
# The benchmark suite in one command: builds the library's benchmark (release
# build in build-bench/), fetches Kafka Streams (Java) with Maven and
# compiles its side, starts the real Kafka broker from tests/broker/, runs
# every case against it and prints the table; the CSV goes to
# bench/results/<date>.csv and the plot to bench/results/<date>.svg.
#   BENCH_RECORDS (default 1000000), BENCH_SIZE (bytes, default 100),
#   BENCH_LINES (word count input lines, default 500000), BENCH_RATE
#   (latency case, records/s, 5000), BENCH_REPEAT (rounds of the repeated
#   cases, 3), BENCH_EVENTS (windowed cases' input events, 1000000),
#   BENCH_CLOSE_EVENTS (the on-close case's, 50000), BENCH_WINDOWED (0:
#   skip the windowed cases; only: run them alone), BENCH_JOIN_EVENTS (the
#   stream-stream join's records per input topic, 500000), BENCH_JOIN (0:
#   skip the join case; only: run it alone)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# The Kafka Streams side is compiled with javac; the plot is drawn by gnuplot.
missing=()
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
if [ ${#missing[@]} -gt 0 ]; then
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
[ -d build-bench ] || meson setup build-bench --buildtype=release \
        -Dtests=false >/dev/null
ninja -C build-bench bench/kstreams-bench >/dev/null

KAFKA_VERSION=3.9.1
JLIBS="${KS_BENCH_JAVA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams-c/kafka-streams-$KAFKA_VERSION}"
if [ ! -f "$JLIBS/kafka-streams-$KAFKA_VERSION.jar" ]; then
        echo "bench: fetching Kafka Streams $KAFKA_VERSION into $JLIBS" >&2
        mkdir -p "$JLIBS"
        mvn -q -B -f bench/java/pom.xml dependency:copy-dependencies \
                -DincludeScope=runtime -DoutputDirectory="$JLIBS" ||
                { echo "bench: could not fetch Kafka Streams with Maven" >&2; exit 1; }
fi
mkdir -p build-bench/bench/java
javac -d build-bench/bench/java -cp "$JLIBS/*" bench/java/KsBench.java
export BENCH_JAVA_CP="$PWD/build-bench/bench/java:$JLIBS/*"

tests/broker/broker.sh fetch
exec tests/broker/broker.sh run -- bench/cases.sh build-bench/bench/kstreams-bench
