/* Ask a Kafka cluster for its metadata until it answers with the expected
 * number of brokers, or a deadline passes. Used by broker.sh to know when a
 * freshly started broker is serving.
 *
 *   probe <bootstrap.servers> <brokers> <timeout-ms>
 *
 * Exit status 0 when the cluster answered, 1 otherwise (the reason on
 * stderr). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long long now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
        if (argc != 4) {
                fprintf(stderr, "usage: %s bootstrap brokers timeout-ms\n",
                        argv[0]);
                return 2;
        }
        int want = atoi(argv[2]);
        long long deadline = now_ms() + atoll(argv[3]);
        char err[512];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], err,
                              sizeof(err)) ||
            rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err))) {
                fprintf(stderr, "probe: %s\n", err);
                return 2;
        }
        rd_kafka_t *rk =
                rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk) {
                fprintf(stderr, "probe: %s\n", err);
                return 2;
        }
        const char *last = "no answer";
        int ok = 0;
        while (!ok && now_ms() < deadline) {
                const struct rd_kafka_metadata *md = NULL;
                rd_kafka_resp_err_t e =
                        rd_kafka_metadata(rk, 0, NULL, &md, 1000);
                if (e) {
                        last = rd_kafka_err2str(e);
                } else {
                        ok = md->broker_cnt >= want;
                        if (!ok)
                                last = "fewer brokers than expected";
                        rd_kafka_metadata_destroy(md);
                }
                if (!ok) {
                        struct timespec pause = {0, 200 * 1000000};
                        nanosleep(&pause, NULL);
                }
        }
        rd_kafka_destroy(rk);
        if (!ok)
                fprintf(stderr, "probe: %s did not answer: %s\n", argv[1],
                        last);
        return ok ? 0 : 1;
}
