/* Temperature alerts with event-time windows. Sensors send Avro readings
 * (device, temperature, event time); the application averages each
 * device's temperature over 1-minute tumbling windows that accept readings
 * up to 10 s late, and when a window closes (stream time past its end plus
 * grace) it sends an alert for every window whose average is above 30 C:
 *
 *   readings (Avro) -> event time from the value -> group by device
 *     -> 1-minute windows, grace 10 s, emitted on window close
 *     -> average -> above 30 C -> alerts
 *
 *   alerts [--bootstrap-servers B]
 *
 * Readings arrive slightly out of order (never late) and a few arrive two
 * minutes late (too late: dropped). At the end every device reports once
 * more, two minutes on, which closes the last windows. Exit status 0 when
 * the alerts are exactly those this program computes from its input: each
 * window above the threshold once, with its average and reading count. */
#include <avro.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <kstreams/serde_avro.h>

#include "example.h"

/* Event time starts two hours ago, on a whole minute: recent enough for
 * the changelogs' time retention (a day beyond the windows'), which
 * would delete records stamped with older times. */
static int64_t start_ms;

static void set_start(void) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t ms = (int64_t)now.tv_sec * 1000 - 2 * 3600 * 1000;
        start_ms = ms - ms % 60000;
}

#define DEVICES   8
#define PARTS     3
#define MINUTES   10
#define EVERY_MS  5000 /* each device reports every 5 s */
#define WINDOW_MS 60000
#define GRACE_MS  10000
#define THRESHOLD 30.0

static const char *schema =
        "{\"type\": \"record\", \"name\": \"Reading\", \"namespace\": "
        "\"sensors\", \"fields\": ["
        "{\"name\": \"device\", \"type\": \"string\"},"
        "{\"name\": \"temperature\", \"type\": \"double\"},"
        "{\"name\": \"event_time\", \"type\": {\"type\": \"long\", "
        "\"logicalType\": \"timestamp-millis\"}}]}";

/* --- the input, the same for the application and the check --------------- */

typedef struct {
        int device;
        double temp;
        int64_t ts;
        int too_late; /* sent two minutes after its time */
} reading_t;

#define READINGS (DEVICES * MINUTES * 60000 / EVERY_MS)

static reading_t readings[READINGS];

/* Device d's temperature at minute m: 20-25 C, but devices 3 and 5 run
 * hot for a few minutes. */
static double temp_at(int d, int i, int minute) {
        double t = 20.0 + (double)((d * 7 + i * 3) % 50) / 10.0;
        if ((d == 3 && minute >= 2 && minute <= 4) || (d == 5 && minute == 7))
                t += 12.0;
        return t;
}

static void make_input(void) {
        int n = 0;
        for (int i = 0; i < MINUTES * 60000 / EVERY_MS; i++)
                for (int d = 0; d < DEVICES; d++) {
                        int64_t ts = start_ms + (int64_t)i * EVERY_MS +
                                     (int64_t)(d * 311 % EVERY_MS);
                        readings[n++] = (reading_t){
                                d,
                                temp_at(d, i, (int)((ts - start_ms) / 60000)),
                                ts, (i * DEVICES + d) % 97 == 13};
                }
}

/* --- the application -------------------------------------------------------
 */

/* Event time: the reading's event_time field. */
static int64_t event_time(void *opaque, const char *topic, int32_t partition,
                          const void *key, size_t kl, const void *value,
                          size_t vl, int64_t record_ts,
                          int64_t partition_time) {
        (void)topic, (void)partition, (void)key, (void)kl;
        (void)record_ts, (void)partition_time;
        ks_serde_t *serde = opaque;
        avro_value_t v, f;
        int64_t ts = -1;
        if (ks_serde_avro_value_new(serde, &v))
                return -1;
        if (!ks_serde_avro_decode(serde, value, vl, &v, NULL) &&
            !avro_value_get_by_name(&v, "event_time", &f, NULL))
                avro_value_get_long(&f, &ts);
        avro_value_decref(&v);
        return ts;
}

/* The aggregate: sum of temperatures and count, 8 + 8 bytes. */
static ks_err_t zero(void *o, ks_buf_t *agg) {
        (void)o;
        uint8_t b[16] = {0};
        ks_double_encode(0.0, b);
        return ks_buf_append(agg, b, 16);
}

static ks_err_t add_reading(void *opaque, const ks_record_t *r, const void *agg,
                            size_t alen, ks_buf_t *out) {
        ks_serde_t *serde = opaque;
        double sum;
        int64_t n;
        if (alen != 16 || ks_double_decode(agg, 8, &sum, NULL) ||
            ks_int64_decode((const uint8_t *)agg + 8, 8, &n, NULL))
                return KS_ERR_SERDE;
        size_t vl;
        const void *value = ks_record_value(r, &vl);
        avro_value_t v, f;
        double t = 0;
        if (ks_serde_avro_value_new(serde, &v))
                return KS_ERR_NO_MEMORY;
        ks_err_t err = ks_serde_avro_decode(serde, value, vl, &v, NULL);
        if (!err && (avro_value_get_by_name(&v, "temperature", &f, NULL) ||
                     avro_value_get_double(&f, &t)))
                err = KS_ERR_SERDE;
        avro_value_decref(&v);
        if (err)
                return err;
        uint8_t b[16];
        ks_double_encode(sum + t, b);
        ks_int64_encode(n + 1, b + 8);
        return ks_buf_append(out, b, 16);
}

static double average(const void *agg, int64_t *np) {
        double sum;
        ks_double_decode(agg, 8, &sum, NULL);
        ks_int64_decode((const uint8_t *)agg + 8, 8, np, NULL);
        return *np ? sum / (double)*np : 0;
}

static int hot(void *o, const ks_record_t *r) {
        (void)o;
        size_t vl;
        const void *v = ks_record_value(r, &vl);
        int64_t n;
        return v && vl == 16 && average(v, &n) > THRESHOLD;
}

/* "<device> [<start>, <end>) avg <a> over <n> readings" */
static ks_err_t describe_alert(void *o, const ks_record_t *r,
                               ks_emitter_t *out) {
        (void)o;
        size_t kl, vl;
        const void *k = ks_record_key(r, &kl);
        const void *v = ks_record_value(r, &vl);
        const void *dev;
        size_t dl;
        int64_t start, end, n;
        if (ks_windowed_key_time(k, kl, WINDOW_MS, &dev, &dl, &start, &end))
                return KS_ERR_SERDE;
        double avg = average(v, &n);
        char text[160];
        int len = snprintf(text, sizeof(text),
                           "%.*s [%lld, %lld) avg %.2f over %lld readings",
                           (int)dl, (const char *)dev, (long long)start,
                           (long long)end, avg, (long long)n);
        return ks_emit_value(out, text, (size_t)len);
}

/* --- the check ---------------------------------------------------------------
 */

typedef struct {
        int device;
        int64_t start;
        double sum;
        int64_t n;
        int seen;
} window_t;

#define MAXWIN (DEVICES * (MINUTES + 3))

typedef struct {
        window_t w[MAXWIN];
        int nw, alerts, got, bad;
} check_t;

static void expected(check_t *c) {
        for (int i = 0; i < READINGS; i++) {
                const reading_t *r = &readings[i];
                if (r->too_late)
                        continue;
                int64_t start = r->ts - r->ts % WINDOW_MS;
                int j = 0;
                while (j < c->nw &&
                       (c->w[j].device != r->device || c->w[j].start != start))
                        j++;
                if (j == c->nw)
                        c->w[c->nw++] = (window_t){r->device, start, 0, 0, 0};
                c->w[j].sum += r->temp;
                c->w[j].n++;
        }
        for (int j = 0; j < c->nw; j++)
                c->alerts += c->w[j].sum / (double)c->w[j].n > THRESHOLD;
}

static int check(void *opaque, const rd_kafka_message_t *m) {
        check_t *c = opaque;
        c->got++;
        const void *dev;
        size_t dl;
        int64_t start, end;
        char text[160];
        snprintf(text, sizeof(text), "%.*s", (int)m->len,
                 (const char *)m->payload);
        int j = -1;
        if (!ks_windowed_key_time(m->key, m->key_len, WINDOW_MS, &dev, &dl,
                                  &start, &end))
                for (int i = 0; i < c->nw && j < 0; i++) {
                        char name[16];
                        snprintf(name, sizeof(name), "sensor-%d",
                                 c->w[i].device);
                        if (c->w[i].start == start && dl == strlen(name) &&
                            !memcmp(dev, name, dl))
                                j = i;
                }
        char want[160] = "(no such window)";
        if (j >= 0)
                snprintf(want, sizeof(want),
                         "sensor-%d [%lld, %lld) avg %.2f over %lld readings",
                         c->w[j].device, (long long)c->w[j].start,
                         (long long)(c->w[j].start + WINDOW_MS),
                         c->w[j].sum / (double)c->w[j].n, (long long)c->w[j].n);
        if (j < 0 || c->w[j].seen++ || strcmp(text, want) ||
            c->w[j].sum / (double)c->w[j].n <= THRESHOLD) {
                c->bad++;
                printf("UNEXPECTED: %s (want %s)\n", text, want);
        } else {
                printf("  ALERT %s\n", text);
        }
        return c->got >= c->alerts;
}

/* --- main --------------------------------------------------------------------
 */

static int send_reading(example_t *x, ks_serde_t *serde, const char *topic,
                        const reading_t *r, int64_t send_ts) {
        avro_value_t v, f;
        if (ks_serde_avro_value_new(serde, &v))
                return -1;
        char dev[16];
        snprintf(dev, sizeof(dev), "sensor-%d", r->device);
        ks_buf_t *b = ks_buf_new();
        int rc = !b || avro_value_get_by_name(&v, "device", &f, NULL) ||
                 avro_value_set_string(&f, dev) ||
                 avro_value_get_by_name(&v, "temperature", &f, NULL) ||
                 avro_value_set_double(&f, r->temp) ||
                 avro_value_get_by_name(&v, "event_time", &f, NULL) ||
                 avro_value_set_long(&f, r->ts) ||
                 ks_serde_avro_encode(serde, &v, b, NULL);
        if (!rc)
                example_send_at(x, topic, dev, ks_buf_data(b), ks_buf_len(b),
                                send_ts);
        ks_buf_destroy(b);
        avro_value_decref(&v);
        return rc ? -1 : 0;
}

int main(int argc, char **argv) {
        example_t *x = example_start(argc, argv, "alerts");
        if (!x)
                return 1;
        char in[256], out[256];
        example_topic(x, "readings", in, sizeof(in));
        example_topic(x, "alerts", out, sizeof(out));
        ks_error_t *e = NULL;
        ks_serde_t *avro = ks_serde_avro_new(schema, 0, 0, &e);
        if (!avro) {
                fprintf(stderr, "schema: %s\n", ks_error_message(e));
                return 1;
        }

        ks_builder_t *b = ks_builder_new();
        const char *topics[] = {in};
        ks_stream_t *s = ks_builder_stream(b, topics, 1, ks_serde_string(),
                                           avro, "readings");
        ks_topology_source_set_timestamp_extractor(
                ks_builder_topology(b), "readings", event_time, avro, NULL);
        ks_windowed_stream_t *w = ks_windowed_emit_strategy(
                ks_grouped_windowed_by(
                        ks_stream_group_by_key(s, NULL),
                        ks_time_windows_of_size_and_grace(WINDOW_MS, GRACE_MS)),
                KS_EMIT_ON_WINDOW_CLOSE);
        ks_table_t *avg =
                ks_windowed_aggregate(w, zero, add_reading, NULL, avro,
                                      "temperature-per-minute", "average");
        ks_stream_t *alerts = ks_stream_map_values(
                ks_stream_filter(ks_table_to_stream(avg, NULL), hot, NULL,
                                 "above-threshold"),
                describe_alert, NULL, "describe");
        ks_serde_t *wkeys = ks_serde_time_windowed(ks_serde_string());
        ks_stream_to(ks_stream_with_serdes(alerts, wkeys, ks_serde_string()),
                     out, "alerts");
        ks_serde_destroy(wkeys);
        ks_topology_t *topo = NULL;
        if (ks_builder_build(b, &topo, &e)) {
                fprintf(stderr, "topology: %s\n", ks_error_message(e));
                return 1;
        }
        ks_builder_destroy(b);
        char *desc = NULL;
        if (example_dot(topo))
                return 0;
        if (!ks_topology_describe(topo, &desc, NULL))
                printf("%s", desc);
        ks_free(desc);

        if (example_create(x, in, PARTS) || example_create(x, out, PARTS) ||
            example_create_internal(x, topo, PARTS))
                return 1;
        ks_app_t *app = example_run(x, topo);
        ks_topology_destroy(topo);
        if (!app)
                return 1;
        set_start();
        make_input();
        /* In event-time order, except the too-late readings, which arrive
         * two minutes after their time; then each device once more, two
         * minutes after the last reading. */
        int64_t last = 0;
        int sent_late = 0;
        for (int i = 0; i < READINGS; i++) {
                const reading_t *r = &readings[i];
                for (int j = 0; j < i; j++)
                        if (readings[j].too_late &&
                            readings[j].ts + 120000 > readings[i - 1].ts &&
                            readings[j].ts + 120000 <= r->ts &&
                            (sent_late++,
                             send_reading(x, avro, in, &readings[j],
                                          readings[j].ts)))
                                return 1;
                if (!r->too_late && send_reading(x, avro, in, r, r->ts))
                        return 1;
                last = r->ts;
        }
        for (int d = 0; d < DEVICES; d++) {
                reading_t r = {d, 20.0, last + 120000, 0};
                if (send_reading(x, avro, in, &r, r.ts))
                        return 1;
        }
        if (example_flush(x))
                return 1;
        check_t *c = calloc(1, sizeof(*c));
        if (!c)
                return 1;
        expected(c);
        int late = sent_late;
        printf("%d readings of %d devices over %d minutes, %d of them two "
               "minutes late (the last few never come); %d windows, %d above "
               "%.0f C:\n",
               READINGS, DEVICES, MINUTES, late, c->nw, c->alerts, THRESHOLD);
        /* Every alert once: as many records as alerts, each a different
         * window above the threshold with the computed average. */
        int rc = example_read(x, out, PARTS, check, c, 90000);
        /* The late readings were dropped and counted. */
        int64_t dropped = 0;
        for (int i = 0;
             i < 300 &&
             (dropped = ks_app_metric(app, "dropped-records-late")) < late;
             i++)
                nanosleep(&(struct timespec){0, 100 * 1000000}, NULL);
        printf("%lld readings dropped as too late (%d sent late)\n",
               (long long)dropped, late);
        example_stop(x, app);
        int ok = !rc && !c->bad && c->got == c->alerts && dropped == late;
        printf("%s: %d of %d alerts read as computed, %d unexpected\n",
               ok ? "OK" : "FAILED", c->got - c->bad, c->alerts, c->bad);
        ks_serde_destroy(avro);
        free(c);
        return ok ? 0 : 1;
}
