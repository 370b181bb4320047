/* Punctuation [PunctuationQueue]: the schedules processors make with
 * ks_context_schedule(), and firing them.
 *
 * A task keeps its schedules of both types in one array, in the order they
 * were made (`ks__punct_queue_t`). A firing pass takes the schedules that
 * existed when it began, fires each due one at most once, earliest due
 * time first, and only then frees the cancelled ones, so a punctuator may
 * cancel any schedule, its own included, and schedules made during a pass
 * wait for the next. Stream-time schedules are aligned to 0 and so fire
 * at the first record; wall-clock ones first fire one interval after they
 * were made. A jump over several intervals fires once, then realigns to
 * the schedule's grid. Schedule arithmetic never overflows: a schedule
 * whose next time would lie past INT64_MAX is spent and fires no more. */
#include "task_impl_int.h"

#include <stdlib.h>

#include "../common/util_int.h"

ks_err_t ks_context_schedule(ks_context_t *ctx, int64_t interval_ms,
                             ks_punctuation_type_t type, ks_punctuator_cb *cb,
                             void *opaque, ks_punctuation_t **handlep) {
        if (!ctx || !cb || interval_ms < 1 ||
            (type != KS_PUNCTUATE_STREAM_TIME &&
             type != KS_PUNCTUATE_WALL_CLOCK_TIME))
                return KS_ERR_INVALID_ARG;
        ks__task_t *t = ctx->task;
        ks_punctuation_t *p = calloc(1, sizeof(*p));
        if (!p)
                return KS_ERR_NO_MEMORY;
        ks_punctuation_t **nv =
                realloc(t->puncs.items, (t->puncs.cnt + 1) * sizeof(*nv));
        if (!nv) {
                free(p);
                return KS_ERR_NO_MEMORY;
        }
        t->puncs.items = nv;
        p->task = t;
        p->node = ctx->node;
        p->type = type;
        p->interval = interval_ms;
        p->cb = cb;
        p->opaque = opaque;
        /* Stream time: aligned to 0, fires as soon as there is data.
         * Wall clock: first fire one interval from now (Kafka Streams). */
        if (type == KS_PUNCTUATE_STREAM_TIME) {
                p->next = 0;
        } else {
                int64_t now = ks__task_clock(t);
                p->next = ks__ts_add(now, interval_ms);
                p->spent = now > INT64_MAX - interval_ms;
        }
        t->puncs.items[t->puncs.cnt++] = p;
        if (handlep)
                *handlep = p;
        return KS_ERR_NO_ERROR;
}

void ks_punctuation_cancel(ks_punctuation_t *punctuation) {
        if (punctuation)
                punctuation->cancelled = 1;
}

static ks_err_t call_punctuator(ks_context_t *ctx, void *due) {
        ks_punctuation_t *p = due;
        return p->cb(ctx, ctx->timestamp, p->opaque);
}

void ks__punct_queue_clear(ks__punct_queue_t *q) {
        for (size_t i = 0; i < q->cnt; i++)
                free(q->items[i]);
        free(q->items);
        q->items = NULL;
        q->cnt = 0;
}

static void purge_cancelled(ks__task_t *t) {
        size_t w = 0;
        for (size_t i = 0; i < t->puncs.cnt; i++) {
                if (t->puncs.items[i]->cancelled)
                        free(t->puncs.items[i]);
                else
                        t->puncs.items[w++] = t->puncs.items[i];
        }
        t->puncs.cnt = w;
}

/* Move @p p, due at or before @p now, to the first point of its grid
 * (next + k * interval) after @p now: a jump over several intervals fires
 * once, then realigns. The arithmetic is exact over the whole range of
 * int64 (unsigned, since now - next may exceed INT64_MAX); a point past
 * INT64_MAX never comes, and the schedule is spent. */
static void reschedule(ks_punctuation_t *p, int64_t now) {
        uint64_t interval = (uint64_t)p->interval;
        uint64_t span = (uint64_t)now - (uint64_t)p->next;
        uint64_t room = (uint64_t)INT64_MAX - (uint64_t)p->next;
        uint64_t k = span / interval + 1;
        if (k > room / interval) {
                p->next = INT64_MAX;
                p->spent = 1;
                return;
        }
        p->next = (int64_t)((uint64_t)p->next + k * interval);
}

/* Fire every due punctuation of @p type, earliest schedule first, each at
 * most once for this call; missed intervals are skipped, not replayed. */
ks_err_t ks__punctuate(ks__task_t *t, ks_punctuation_type_t type, int64_t now) {
        if (t->puncs.firing)
                return KS_ERR_NO_ERROR; /* a punctuator advanced time */
        t->puncs.firing = 1;
        ks_err_t err = KS_ERR_NO_ERROR;
        size_t cnt = t->puncs.cnt; /* schedules added now wait their turn */
        unsigned char *fired = cnt ? calloc(cnt, 1) : NULL;
        if (cnt && !fired)
                err = KS_ERR_NO_MEMORY;
        while (!err) {
                ks_punctuation_t *due = NULL;
                size_t due_i = 0;
                for (size_t i = 0; i < cnt; i++) {
                        ks_punctuation_t *p = t->puncs.items[i];
                        if (fired[i] || p->cancelled || p->spent ||
                            p->type != type || p->next > now)
                                continue;
                        if (!due || p->next < due->next) {
                                due = p;
                                due_i = i;
                        }
                }
                if (!due)
                        break;
                fired[due_i] = 1;
                t->punctuated++;
                reschedule(due, now);
                err = ks__context_run(t, due->node, KS__CALL_PUNCTUATE, now,
                                      call_punctuator, due);
                if (err) {
                        /* No record: the handler decides, nothing is
                         * counted or written to the dead-letter queue. */
                        ks_error_context_t ec = {
                                .partition = t->partition,
                                .offset = -1,
                                .timestamp = now,
                                .task_id = t->id,
                                .headers = t->no_headers,
                        };
                        err = ks__task_on_error(t, &ec, err);
                }
        }
        free(fired);
        purge_cancelled(t);
        t->puncs.firing = 0;
        return err;
}

ks_err_t ks__task_punctuate_wall_clock(ks__task_t *t, int64_t now,
                                       ks_error_t **errp) {
        return ks__task_take_pending(
                t, ks__punctuate(t, KS_PUNCTUATE_WALL_CLOCK_TIME, now), errp);
}
