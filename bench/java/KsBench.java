// The Kafka Streams (Java) side of the benchmark: the same topologies as
// the library's cases, run until the process is told to stop (SIGTERM).
//
//   java KsBench stateless|wordcount|windowed-update|windowed-close|
//        session-update|stream-join BOOTSTRAP IN OUT APPLICATION_ID
//        STATE_DIR CACHE_BYTES [KEY=VALUE...]
//
// The windowed cases count the events of kstreams-bench produce-events per
// device (string keys, the record timestamps as event time): in tumbling
// windows of 1 min with 10 s grace, emitted on update or on window close,
// or in sessions of 5 min inactivity with 10 s grace, on update. Their
// output is keyed by WindowedSerdes' windowed keys with 8-byte big-endian
// counts, byte for byte what the library writes.
//
// stream-join reads IN as LEFT,RIGHT (kstreams-bench produce-join: ad
// impressions and clicks keyed by ad id, string values) and joins them
// (inner) within JoinWindows.ofTimeDifferenceAndGrace(10 min, 1 min), the
// joiner concatenating the two values, as bench/join_bench.c does.
//
// Kafka Streams' defaults apply except: bootstrap.servers, application.id,
// state.dir, statestore.cache.max.bytes (set per case), the serdes (given
// per operation) and any KEY=VALUE given (bench/cases.sh says which). The harness (kstreams-bench external) watches
// the output topic and measures the process.
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.EmitStrategy;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.SessionWindows;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindowedKStream;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.kstream.WindowedSerdes;

public final class KsBench {
    /** Upper-cases the first byte, as the library's map does. */
    static byte[] map(byte[] v) {
        byte[] out = v.clone();
        if (out.length > 0 && out[0] >= 'a' && out[0] <= 'z')
            out[0] = (byte) (out[0] - 'a' + 'A');
        return out;
    }

    /** Lower-cased runs of ASCII letters and digits, as the library's split. */
    static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        int start = -1;
        for (int i = 0; i <= line.length(); i++) {
            char c = i < line.length() ? line.charAt(i) : ' ';
            boolean alnum = c < 128 && Character.isLetterOrDigit(c);
            if (alnum && start < 0)
                start = i;
            else if (!alnum && start >= 0) {
                out.add(line.substring(start, i).toLowerCase(Locale.ROOT));
                start = -1;
            }
        }
        return out;
    }

    /** The events grouped by device (their key): no repartition. */
    static KGroupedStream<String, byte[]> events(StreamsBuilder b, String topic) {
        return b.stream(topic, Consumed.with(Serdes.String(), Serdes.ByteArray()))
            .groupByKey(Grouped.with(Serdes.String(), Serdes.ByteArray()));
    }

    public static void main(String[] a) throws Exception {
        if (a.length < 7) {
            System.err.println("usage: KsBench CASE BOOTSTRAP IN OUT APP STATE_DIR CACHE_BYTES [KEY=VALUE...]");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a[1]);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, a[4]);
        p.put(StreamsConfig.STATE_DIR_CONFIG, a[5]);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, Long.parseLong(a[6]));
        for (int i = 7; i < a.length; i++) {
            int eq = a[i].indexOf('=');
            p.put(a[i].substring(0, eq), a[i].substring(eq + 1));
        }
        StreamsBuilder b = new StreamsBuilder();
        if (a[0].equals("stateless")) {
            b.stream(a[2], Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()))
                .mapValues(KsBench::map)
                .filter((k, v) -> v != null && v.length > 0)
                .to(a[3], Produced.with(Serdes.ByteArray(), Serdes.ByteArray()));
        } else if (a[0].equals("wordcount")) {
            b.stream(a[2], Consumed.with(Serdes.ByteArray(), Serdes.String()))
                .flatMapValues(KsBench::words)
                .groupBy((k, w) -> w, Grouped.with(Serdes.String(), Serdes.String()))
                .count(Materialized.as("counts"))
                .toStream()
                .to(a[3], Produced.with(Serdes.String(), Serdes.Long()));
        } else if (a[0].equals("windowed-update") || a[0].equals("windowed-close")) {
            TimeWindowedKStream<String, byte[]> w = events(b, a[2])
                .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), Duration.ofSeconds(10)));
            if (a[0].equals("windowed-close"))
                w = w.emitStrategy(EmitStrategy.onWindowClose());
            w.count()
                .toStream()
                .to(a[3], Produced.with(WindowedSerdes.timeWindowedSerdeFrom(String.class, 60000L),
                    Serdes.Long()));
        } else if (a[0].equals("session-update")) {
            events(b, a[2])
                .windowedBy(SessionWindows.ofInactivityGapAndGrace(Duration.ofMinutes(5),
                    Duration.ofSeconds(10)))
                .count()
                .toStream()
                .to(a[3], Produced.with(WindowedSerdes.sessionWindowedSerdeFrom(String.class),
                    Serdes.Long()));
        } else if (a[0].equals("stream-join")) {
            String[] in = a[2].split(",");
            KStream<String, String> left = b.stream(in[0], Consumed.with(Serdes.String(), Serdes.String()));
            KStream<String, String> right = b.stream(in[1], Consumed.with(Serdes.String(), Serdes.String()));
            left.join(right, (l, r) -> l + r,
                    JoinWindows.ofTimeDifferenceAndGrace(Duration.ofMinutes(10), Duration.ofMinutes(1)),
                    StreamJoined.with(Serdes.String(), Serdes.String(), Serdes.String()))
                .to(a[3], Produced.with(Serdes.String(), Serdes.String()));
        } else {
            System.err.println("unknown case " + a[0]);
            System.exit(2);
        }
        KafkaStreams ks = new KafkaStreams(b.build(), p);
        // Logging goes nowhere: a failure is said here, and ends the
        // process (the harness then reports that it exited early).
        ks.setUncaughtExceptionHandler(e -> {
            System.err.println("KsBench: " + a[0] + " failed: " + e);
            e.printStackTrace();
            return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        ks.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.ERROR)
                Runtime.getRuntime().halt(1);
        });
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            ks.close();
            stopped.countDown();
        }));
        ks.start();
        stopped.await();
    }
}
