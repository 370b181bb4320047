#!/usr/bin/env bash
# A real Apache Kafka broker (KRaft) for the test suite and the benchmarks.
#
#   broker.sh fetch                      fetch the broker's jars (once)
#   broker.sh start [options]            start; print bootstrap.servers
#   broker.sh stop DIR                   stop the cluster started in DIR
#   broker.sh run [options] -- CMD...    start, run CMD with
#                                        KS_TEST_BOOTSTRAP set, stop (also
#                                        when interrupted); CMD's status
#
# Options:
#   --brokers 1|3    one combined broker+controller, or three (replication
#                    factor 3, min.insync.replicas 2); default 1
#   --heap SIZE      JVM heap per broker, default 512m
#   --dir DIR        where the cluster keeps its config, data, logs and PIDs
#                    (default: a new temporary directory)
#
# The jars come from Maven Central through tests/broker/pom.xml into
# $KS_BROKER_CACHE (default ~/.cache/kstreams-c/kafka-<version>), outside
# the repository. A failed fetch is an error that says so.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' \
        "$HERE/pom.xml")"
CACHE="${KS_BROKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kstreams-c/kafka-$KAFKA_VERSION}"
LIBS="$CACHE/libs"

say() { echo "broker: $*" >&2; }
die() {
        say "$*"
        exit 1
}

fetch() {
        if [ -f "$CACHE/.complete" ]; then
                return 0
        fi
        command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka $KAFKA_VERSION"
        command -v java >/dev/null || die "Java is needed to run the Kafka broker"
        say "fetching Kafka $KAFKA_VERSION and its dependencies into $CACHE"
        local t0=$SECONDS
        rm -rf "$LIBS"
        mkdir -p "$LIBS"
        if ! mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
                -DoutputDirectory="$LIBS" -DincludeScope=runtime >&2; then
                die "could not fetch the Kafka broker's jars from Maven Central (mvn failed); the integration tests need them"
        fi
        ls "$LIBS"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 ||
                die "the fetch did not bring kafka_2.13-$KAFKA_VERSION.jar"
        touch "$CACHE/.complete"
        say "fetched $(ls "$LIBS" | wc -l) jars, $(du -sh "$LIBS" | cut -f1), in $((SECONDS - t0)) s"
}

# Free loopback TCP ports, one per line.
free_ports() {
        python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

probe_bin() {
        local bin="$CACHE/probe"
        if [ ! -x "$bin" ] || [ "$HERE/probe.c" -nt "$bin" ]; then
                # shellcheck disable=SC2046
                cc -O1 -o "$bin.tmp" "$HERE/probe.c" \
                        $(pkg-config --cflags --libs rdkafka) ||
                        die "cannot build the metadata probe (librdkafka-dev missing?)"
                mv "$bin.tmp" "$bin"
        fi
        echo "$bin"
}

stop() {
        local dir="$1"
        [ -d "$dir" ] || return 0
        local pids=()
        for f in "$dir"/node*/pid; do
                [ -f "$f" ] && pids+=("$(cat "$f")")
        done
        for p in "${pids[@]}"; do
                kill -TERM "$p" 2>/dev/null || true
        done
        # Up to 15 s for a clean shutdown, then SIGKILL.
        local deadline=$((SECONDS + 15))
        for p in "${pids[@]}"; do
                while kill -0 "$p" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
                        sleep 0.2
                done
                kill -KILL "$p" 2>/dev/null || true
        done
        rm -rf "$dir"
}

start() {
        local brokers=1 heap=512m dir=""
        while [ $# -gt 0 ]; do
                case "$1" in
                --brokers) brokers="$2"; shift 2 ;;
                --heap) heap="$2"; shift 2 ;;
                --dir) dir="$2"; shift 2 ;;
                *) die "unknown option $1" ;;
                esac
        done
        [ "$brokers" = 1 ] || [ "$brokers" = 3 ] || die "--brokers is 1 or 3"
        fetch
        local probe
        probe="$(probe_bin)"
        [ -n "$dir" ] || dir="$(mktemp -d "${TMPDIR:-/tmp}/ks-broker.XXXXXX")"
        mkdir -p "$dir"
        local t0=$SECONDS
        mapfile -t ports < <(free_ports $((brokers * 2)))
        local cluster_id
        # A cluster id that starts with "-" reads as an option to
        # kafka-storage (one in 64 ids would): draw again, as Kafka does.
        cluster_id="$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
')"
        local voters="" bootstrap="" i
        for ((i = 1; i <= brokers; i++)); do
                voters+="${voters:+,}$i@127.0.0.1:${ports[$((2 * i - 1))]}"
                bootstrap+="${bootstrap:+,}127.0.0.1:${ports[$((2 * i - 2))]}"
        done
        local rf=1 isr=1
        if [ "$brokers" = 3 ]; then
                rf=3
                isr=2
        fi
        local java_opts=(-Xms"$heap" -Xmx"$heap" -XX:+UseSerialGC
                -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
        for ((i = 1; i <= brokers; i++)); do
                local nd="$dir/node$i"
                mkdir -p "$nd/data" "$nd/logs"
                cat >"$nd/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[$((2 * i - 2))]},CONTROLLER://127.0.0.1:${ports[$((2 * i - 1))]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$((2 * i - 2))]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=5
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=5
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.segment.bytes=1048576
log.cleaner.dedupe.buffer.size=8388608
log.cleaner.backoff.ms=1000
log.retention.check.interval.ms=30000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
                cat >"$nd/log4j.properties" <<EOF
log4j.rootLogger=WARN, file
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$nd/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
                java "${java_opts[@]}" -Dlog4j.configuration="file:$nd/log4j.properties" \
                        -cp "$LIBS/*" kafka.tools.StorageTool format \
                        -t "$cluster_id" -c "$nd/server.properties" \
                        >"$nd/logs/format.log" 2>&1 ||
                        die "formatting the storage of node $i failed: $(tail -3 "$nd/logs/format.log")"
        done
        for ((i = 1; i <= brokers; i++)); do
                local nd="$dir/node$i"
                nohup java "${java_opts[@]}" \
                        -Dlog4j.configuration="file:$nd/log4j.properties" \
                        -Dkafka.logs.dir="$nd/logs" \
                        -cp "$LIBS/*" kafka.Kafka "$nd/server.properties" \
                        >"$nd/logs/stdout.log" 2>&1 </dev/null &
                echo $! >"$nd/pid"
        done
        echo "$bootstrap" >"$dir/bootstrap"
        if ! "$probe" "$bootstrap" "$brokers" 60000; then
                for ((i = 1; i <= brokers; i++)); do
                        say "node $i log:"
                        tail -20 "$dir/node$i/logs/stdout.log" "$dir/node$i/logs/server.log" >&2 || true
                done
                stop "$dir"
                die "Kafka $KAFKA_VERSION did not start"
        fi
        say "Kafka $KAFKA_VERSION: $brokers broker(s) at $bootstrap in $((SECONDS - t0)) s (dir $dir)"
        echo "$bootstrap"
}

run() {
        local opts=()
        while [ $# -gt 0 ] && [ "$1" != "--" ]; do
                opts+=("$1")
                shift
        done
        [ "${1:-}" = "--" ] || die "run needs -- before the command"
        shift
        RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ks-broker.XXXXXX")"
        trap 'stop "$RUN_DIR"' EXIT
        trap 'exit 130' INT TERM
        local bootstrap
        bootstrap="$(start "${opts[@]}" --dir "$RUN_DIR")"
        # The command runs in the background so that a signal to this script
        # is handled at once (bash defers traps while a foreground child
        # runs): it is passed on to the command, then the brokers stop.
        KS_TEST_BOOTSTRAP="$bootstrap" "$@" &
        RUN_CHILD=$!
        trap 'kill -TERM "$RUN_CHILD" 2>/dev/null; exit 130' INT TERM
        local rc=0
        wait "$RUN_CHILD" || rc=$?
        return $rc
}

cmd="${1:-}"
shift || true
case "$cmd" in
fetch) fetch ;;
start) start "$@" ;;
stop) [ $# -eq 1 ] || die "usage: broker.sh stop DIR"; stop "$1" ;;
run) run "$@" ;;
*) die "usage: broker.sh fetch | start [--brokers 1|3] [--heap SIZE] [--dir DIR] | stop DIR | run [options] -- CMD..." ;;
esac
