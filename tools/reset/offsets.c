/* New offsets: earliest, latest, a time or an offset turned into each
 * partition's offset.
 *
 * librdkafka 2.0 has no ListOffsets admin request, so the tool's consumer
 * asks: the watermarks (rd_kafka_query_watermark_offsets()) for earliest
 * and latest and to keep --to-offset within a partition's range, and
 * rd_kafka_offsets_for_times() for a time, whose answer is the first
 * offset whose record's timestamp is at or after it, or the end when no
 * record is that late. */
#include "reset_int.h"

#include <stdlib.h>
#include <string.h>

/* The watermarks of every partition of @p parts, into @p low / @p high. */
static int watermarks(rd_kafka_t *rk,
                      const rd_kafka_topic_partition_list_t *parts,
                      int timeout_ms, int64_t *low, int64_t *high, char *err,
                      size_t errsize) {
        for (int i = 0; i < parts->cnt; i++) {
                const rd_kafka_topic_partition_t *p = &parts->elems[i];
                rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
                        rk, p->topic, p->partition, &low[i], &high[i],
                        timeout_ms);
                if (e) {
                        snprintf(err, errsize,
                                 "reading the offsets of %s [%d]: %s", p->topic,
                                 (int)p->partition, rd_kafka_err2str(e));
                        return -1;
                }
        }
        return 0;
}

/* The offsets at time @p ts_ms into @p parts; the end where no record is
 * that late. */
static int at_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts,
                   int64_t ts_ms, const int64_t *high, int timeout_ms,
                   char *err, size_t errsize) {
        rd_kafka_topic_partition_list_t *q =
                rd_kafka_topic_partition_list_copy(parts);
        for (int i = 0; i < q->cnt; i++)
                q->elems[i].offset = ts_ms;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, q, timeout_ms);
        int rc = 0;
        if (e) {
                snprintf(err, errsize,
                         "looking up the offsets at time %lld: %s",
                         (long long)ts_ms, rd_kafka_err2str(e));
                rc = -1;
        }
        for (int i = 0; !rc && i < q->cnt; i++) {
                const rd_kafka_topic_partition_t *p =
                        rd_kafka_topic_partition_list_find(
                                q, parts->elems[i].topic,
                                parts->elems[i].partition);
                if (!p || p->err) {
                        snprintf(
                                err, errsize,
                                "looking up the offset of %s [%d] at time "
                                "%lld: %s",
                                parts->elems[i].topic,
                                (int)parts->elems[i].partition,
                                (long long)ts_ms,
                                rd_kafka_err2str(
                                        p ? p->err
                                          : RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION));
                        rc = -1;
                } else {
                        /* -1: no record that late. */
                        parts->elems[i].offset =
                                p->offset < 0 ? high[i] : p->offset;
                }
        }
        rd_kafka_topic_partition_list_destroy(q);
        return rc;
}

int ks__reset_resolve(rd_kafka_t *rk, const ks__reset_opts_t *o,
                      ks__reset_point_t point, int64_t now_ms,
                      rd_kafka_topic_partition_list_t *parts, char *err,
                      size_t errsize) {
        if (!parts->cnt)
                return 0;
        int64_t *low = calloc((size_t)parts->cnt, sizeof(*low));
        int64_t *high = calloc((size_t)parts->cnt, sizeof(*high));
        int rc = -1;
        if (!low || !high) {
                snprintf(err, errsize, "out of memory");
                goto out;
        }
        if (watermarks(rk, parts, o->timeout_ms, low, high, err, errsize))
                goto out;
        int64_t ts = 0;
        switch (point) {
        case KS_RESET_TO_EARLIEST:
        case KS_RESET_TO_LATEST:
        case KS_RESET_TO_OFFSET:
                for (int i = 0; i < parts->cnt; i++) {
                        int64_t v = point == KS_RESET_TO_EARLIEST ? low[i]
                                    : point == KS_RESET_TO_LATEST ? high[i]
                                                                  : o->offset;
                        /* Kafka's tool keeps --to-offset within range. */
                        parts->elems[i].offset = v < low[i]    ? low[i]
                                                 : v > high[i] ? high[i]
                                                               : v;
                }
                rc = 0;
                break;
        case KS_RESET_BY_DURATION:
                ts = now_ms - o->duration_ms;
                rc = at_time(rk, parts, ts < 0 ? 0 : ts, high, o->timeout_ms,
                             err, errsize);
                break;
        case KS_RESET_TO_DATETIME:
                rc = at_time(rk, parts, o->ts_ms, high, o->timeout_ms, err,
                             errsize);
                break;
        }
out:
        free(low);
        free(high);
        return rc;
}
