/* A task's input queues and the choice of its next record (see
 * partition_group_int.h). */
#include "partition_group_int.h"

#include <stdlib.h>
#include <string.h>

ks_err_t ks__pgroup_init(ks__pgroup_t *pg, size_t cnt,
                         void (*destroy)(void *msg)) {
        memset(pg, 0, sizeof(*pg));
        pg->queues = calloc(cnt ? cnt : 1, sizeof(*pg->queues));
        if (!pg->queues)
                return KS_ERR_NO_MEMORY;
        pg->cnt = cnt;
        pg->destroy = destroy;
        for (size_t i = 0; i < cnt; i++)
                pg->queues[i].next = pg->queues[i].committed = -1;
        return KS_ERR_NO_ERROR;
}

void ks__pgroup_clear(ks__pgroup_t *pg) {
        for (size_t i = 0; pg->queues && i < pg->cnt; i++) {
                ks__rqueue_t *q = &pg->queues[i];
                for (; q->cnt; q->cnt--) {
                        pg->destroy(q->ring[q->head].msg);
                        q->head = (q->head + 1) % q->cap;
                }
                free(q->ring);
        }
        free(pg->queues);
        memset(pg, 0, sizeof(*pg));
}

ks__rqueue_t *ks__pgroup_find(ks__pgroup_t *pg, const char *topic) {
        for (size_t i = 0; i < pg->cnt; i++)
                if (!strcmp(pg->queues[i].topic, topic))
                        return &pg->queues[i];
        return NULL;
}

int ks__pgroup_add(ks__pgroup_t *pg, ks__rqueue_t *q, void *msg, int64_t offset,
                   int64_t timestamp) {
        (void)pg;
        if (q->cnt == q->cap) {
                size_t nc = q->cap ? q->cap * 2 : 64;
                ks__qrec_t *nr = malloc(nc * sizeof(*nr));
                if (!nr)
                        return -1;
                for (size_t i = 0; i < q->cnt; i++)
                        nr[i] = q->ring[(q->head + i) % q->cap];
                free(q->ring);
                q->ring = nr;
                q->cap = nc;
                q->head = 0;
        }
        q->ring[(q->head + q->cnt++) % q->cap] =
                (ks__qrec_t){msg, offset, timestamp};
        q->next = offset + 1;
        q->at_end = 0;
        return 0;
}

size_t ks__pgroup_queued(const ks__pgroup_t *pg) {
        size_t n = 0;
        for (size_t i = 0; i < pg->cnt; i++)
                n += pg->queues[i].cnt;
        return n;
}

/* 1 while the group should wait for a partition before taking records by
 * timestamp (see max.task.idle.ms). */
static int waiting(ks__pgroup_t *pg, int64_t idle_ms, int64_t now) {
        if (idle_ms < 0 || pg->cnt < 2)
                return 0;
        int any = 0, missing = 0;
        for (size_t i = 0; i < pg->cnt; i++) {
                any |= pg->queues[i].cnt > 0;
                missing |= !pg->queues[i].cnt && !pg->queues[i].at_end;
        }
        if (!any || !missing) {
                pg->blocked_since = 0;
                return 0;
        }
        int64_t limit = idle_ms > 0 ? idle_ms : KS_IDLE_FALLBACK_MS;
        if (!pg->blocked_since)
                pg->blocked_since = now;
        if (now - pg->blocked_since < limit)
                return 1;
        /* Waited long enough: go on until the partition shows up. */
        pg->enforced++;
        return 0;
}

ks__pg_next_t ks__pgroup_next(ks__pgroup_t *pg, int64_t idle_ms, int64_t now,
                              ks__qrec_t *rec, ks__rqueue_t **qp) {
        ks__rqueue_t *best = NULL;
        int64_t best_ts = 0;
        for (size_t i = 0; i < pg->cnt; i++) {
                ks__rqueue_t *q = &pg->queues[i];
                if (!q->cnt)
                        continue;
                int64_t ts = q->ring[q->head].timestamp;
                if (!best || ts < best_ts) {
                        best = q;
                        best_ts = ts;
                }
        }
        if (!best)
                return KS_PG_EMPTY;
        if (waiting(pg, idle_ms, now))
                return KS_PG_WAITING;
        *rec = best->ring[best->head];
        best->head = (best->head + 1) % best->cap;
        best->cnt--;
        *qp = best;
        return KS_PG_RECORD;
}
