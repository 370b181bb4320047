/* Suppression of a table's changes (Kafka Streams' KTableSuppressProcessor):
 * the latest change per key is held in a buffer and sent when its time
 * comes: a windowed table's window closes (its end at or before stream time
 * minus the windows' grace), or stream time has moved the time limit past
 * the key's first held change.
 *
 * The buffer is a logged key-value store of the step ("<name>-store"):
 *   0x00                               -> be64 stream time (before commits)
 *   0x01 | be64(due ^ sign) | key      -> be64 timestamp | flag | value
 *   0x02 | key                         -> be64 due
 * where `due` is the window end or the time of the key's first change, and
 * flag 1 marks a value, 0 a tombstone. Entries are sent in `due` order, so
 * the oldest first. The step counts held records and bytes; over a bound
 * it sends the oldest early or stops the task, as configured. */
#include "dsl_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SIGN_BIT   ((uint64_t)1 << 63)
#define TIME_KEY   "\x00"
#define ENTRY_MARK 0x01
#define KEY_MARK   0x02
#define EMIT_BATCH 512

typedef struct {
        ks__dsl_step_t base;
        int until_close;                /* else: a time limit */
        ks_windows_t w;                 /* until_close: the table's windows */
        int64_t limit;                  /* time limit, or the windows' grace */
        int64_t max_records, max_bytes; /* 0: unbounded */
        ks_buffer_full_t when_full;
} suppress_step_t;

typedef struct {
        ks__dsl_state_t base; /* base.store: the buffer */
        int64_t observed, saved;
        int64_t records, bytes; /* held */
        /* No held record is due before next_due (known once a scan has
         * seen the buffer; holding a record lowers it). */
        int64_t next_due;
        int next_known;
        ks_buf_t *k1, *k2, *batch;
} suppress_state_t;

/* --- keys ---------------------------------------------------------------- */

static ks_err_t entry_key(ks_buf_t *out, int64_t due, const void *key,
                          size_t klen) {
        ks_buf_reset(out);
        uint8_t *p = ks__buf_extend(out, 9 + klen);
        if (!p)
                return KS_ERR_NO_MEMORY;
        p[0] = ENTRY_MARK;
        ks__be64_put(p + 1, (uint64_t)due ^ SIGN_BIT);
        if (klen)
                memcpy(p + 9, key, klen);
        return KS_ERR_NO_ERROR;
}

static ks_err_t key_key(ks_buf_t *out, const void *key, size_t klen) {
        ks_buf_reset(out);
        uint8_t m = KEY_MARK;
        ks_err_t err = ks_buf_append(out, &m, 1);
        return err || !klen ? err : ks_buf_append(out, key, klen);
}

/* Bytes one held record costs (its two entries). */
static int64_t cost(size_t klen, size_t vlen) {
        return (int64_t)(2 * klen + vlen + 9 + 1 + 9 + 8 + 1);
}

/* --- sending ------------------------------------------------------------- */

/* Send and forget held entry @p k (an entry key) with value @p v. */
static ks_err_t send_entry(ks_context_t *ctx, suppress_state_t *in,
                           const uint8_t *k, size_t kl, const uint8_t *v,
                           size_t vl) {
        const void *key = k + 9;
        size_t klen = kl - 9;
        if (vl < 9) { /* not an entry (a bad changelog): forget it */
                in->records--;
                in->bytes -= cost(klen, 0);
                ks_err_t err =
                        ks_kv_store_delete(in->base.store, k, kl, NULL, NULL);
                return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
        }
        int64_t ts = (int64_t)ks__be64_get(v);
        int has = v[8];
        ks_err_t err = key_key(in->k2, key, klen);
        if (!err)
                err = ks_kv_store_delete(in->base.store, ks_buf_data(in->k2),
                                         ks_buf_len(in->k2), NULL, NULL);
        if (!err || err == KS_ERR_NOT_FOUND)
                err = ks_kv_store_delete(in->base.store, k, kl, NULL, NULL);
        if (err && err != KS_ERR_NOT_FOUND)
                return err;
        in->records--;
        in->bytes -= cost(klen, vl - 9);
        ks__context_detach_origin(ctx, 1);
        err = ks_context_forward_record(ctx, NULL, key, klen,
                                        has ? v + 9 : NULL, has ? vl - 9 : 0,
                                        ts, in->base.no_headers);
        ks__context_detach_origin(ctx, 0);
        return err;
}

/* Send held entries, oldest first, while they are due by @p bound (or,
 * with @p early, while the buffer is over its bounds). */
static ks_err_t send_due(ks_context_t *ctx, suppress_state_t *in,
                         const suppress_step_t *st, int64_t bound, int early) {
        uint8_t lo[1] = {ENTRY_MARK}, hi[9];
        hi[0] = ENTRY_MARK;
        ks__be64_put(hi + 1, (uint64_t)bound ^ SIGN_BIT);
        if (!early && in->next_known && bound < in->next_due)
                return KS_ERR_NO_ERROR; /* most records: nothing is due */
        ks_err_t err = KS_ERR_NO_ERROR;
        for (int more = 1; more && !err;) {
                ks_kv_iter_t *it;
                if ((err = ks_kv_store_range(in->base.store, lo, 1, NULL, 0,
                                             &it)))
                        return err;
                ks_buf_reset(in->batch);
                size_t cnt = 0;
                int64_t recs = in->records, bytes = in->bytes;
                const void *k, *v;
                size_t kl, vl;
                int64_t next = INT64_MAX; /* none held */
                more = 0;
                while (ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                        const uint8_t *kb = k;
                        if (kb[0] != ENTRY_MARK)
                                break;
                        /* Too short to be an entry (a bad changelog): taken
                         * to be forgotten, not walked past on every record
                         * (uncounted: opening counts entries only). */
                        int entry = kl >= 9;
                        int over =
                                (st->max_records && recs > st->max_records) ||
                                (st->max_bytes && bytes > st->max_bytes);
                        if (entry &&
                            (early ? !over : memcmp(kb + 1, hi + 1, 8) > 0)) {
                                next = (int64_t)(ks__be64_get(kb + 1) ^
                                                 SIGN_BIT);
                                break;
                        }
                        if (cnt == EMIT_BATCH) {
                                more = 1;
                                break;
                        }
                        uint8_t len[8];
                        ks__be32_put(len, (uint32_t)kl);
                        ks__be32_put(len + 4, (uint32_t)vl);
                        if ((err = ks_buf_append(in->batch, len, 8)) ||
                            (err = ks_buf_append(in->batch, k, kl)) ||
                            (err = ks_buf_append(in->batch, v, vl)))
                                break;
                        if (entry) {
                                recs--;
                                bytes -= cost(kl - 9, vl >= 9 ? vl - 9 : 0);
                        }
                        cnt++;
                }
                if (!err)
                        err = ks_kv_iter_error(it);
                ks_kv_iter_destroy(it);
                if (!err && !more) {
                        in->next_due = next;
                        in->next_known = 1;
                }
                const uint8_t *p = ks_buf_data(in->batch);
                for (size_t i = 0; i < cnt && !err; i++) {
                        size_t kl2 = ks__be32_get(p), vl2 = ks__be32_get(p + 4);
                        if (kl2 >= 9)
                                err = send_entry(ctx, in, p + 8, kl2,
                                                 p + 8 + kl2, vl2);
                        else if ((err = ks_kv_store_delete(
                                          in->base.store, p + 8, kl2, NULL,
                                          NULL)) == KS_ERR_NOT_FOUND)
                                err = KS_ERR_NO_ERROR;
                        p += 8 + kl2 + vl2;
                }
        }
        return err;
}

/* --- processing ---------------------------------------------------------- */

/* When the held change of @p key is due: its window's end, or the time
 * limit from @p first (the key's first held change). 0 if the key carries
 * no window. */
static int due_of(const suppress_step_t *st, const ks_record_t *rec,
                  int64_t first, int64_t *duep) {
        if (!st->until_close) {
                *duep = first;
                return 1;
        }
        int64_t end;
        if (st->w.kind == KS_WINDOWS_SESSION
                    ? ks_windowed_key_session(rec->key, rec->klen, NULL, NULL,
                                              NULL, &end)
                    : ks_windowed_key_time(rec->key, rec->klen, st->w.size,
                                           NULL, NULL, NULL, &end))
                return 0;
        *duep = end;
        return 1;
}

static ks_err_t suppress_process(ks_context_t *ctx, const ks_record_t *rec,
                                 void *state) {
        suppress_state_t *in = state;
        const suppress_step_t *st = (const suppress_step_t *)in->base.step;
        ks_kv_store_t *buf = in->base.store;
        if (!rec->key)
                return KS_ERR_NO_ERROR;
        if (rec->timestamp > in->observed)
                in->observed = rec->timestamp;
        /* The key's held change, if any. */
        ks_err_t err = key_key(in->k1, rec->key, rec->klen);
        const void *v;
        size_t vl;
        int64_t first = rec->timestamp, held = INT64_MIN;
        int is_held = 0;
        if (!err && !(err = ks_kv_store_get(buf, ks_buf_data(in->k1),
                                            ks_buf_len(in->k1), &v, &vl))) {
                if (vl != 8)
                        return ks_context_set_error(
                                ctx,
                                "step %s: buffer store %s holds a key "
                                "entry of %zu bytes",
                                st->base.name, buf->name, vl);
                held = first = (int64_t)ks__be64_get(v);
                is_held = 1;
        } else if (err == KS_ERR_NOT_FOUND) {
                err = KS_ERR_NO_ERROR;
        }
        if (err)
                return err;
        int64_t due;
        if (!due_of(st, rec, first, &due))
                return ks_context_set_error(
                        ctx,
                        "step %s: suppressing until window close needs "
                        "windowed keys; got a key of %zu bytes",
                        st->base.name, rec->klen);
        if (is_held) { /* replace it */
                if ((err = entry_key(in->k2, held, rec->key, rec->klen)))
                        return err;
                if (!ks_kv_store_get(buf, ks_buf_data(in->k2),
                                     ks_buf_len(in->k2), &v, &vl)) {
                        in->records--;
                        in->bytes -= cost(rec->klen, vl >= 9 ? vl - 9 : 0);
                }
                err = ks_kv_store_delete(buf, ks_buf_data(in->k2),
                                         ks_buf_len(in->k2), NULL, NULL);
                if (err && err != KS_ERR_NOT_FOUND)
                        return err;
                err = KS_ERR_NO_ERROR;
        }
        if (!rec->value && st->until_close) {
                /* A window never sent needs no tombstone. */
                if (is_held)
                        err = ks_kv_store_delete(buf, ks_buf_data(in->k1),
                                                 ks_buf_len(in->k1), NULL,
                                                 NULL);
                return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
        }
        uint8_t d[8];
        ks__be64_put(d, (uint64_t)due);
        ks_buf_t *val = in->base.buf;
        ks_buf_reset(val);
        uint8_t head[9];
        ks__be64_put(head, (uint64_t)rec->timestamp);
        head[8] = rec->value != NULL;
        if ((err = ks_buf_append(val, head, 9)) ||
            (rec->value && (err = ks_buf_append(val, rec->value, rec->vlen))) ||
            (err = entry_key(in->k2, due, rec->key, rec->klen)) ||
            (err = ks_kv_store_put(buf, ks_buf_data(in->k1), ks_buf_len(in->k1),
                                   d, 8)) ||
            (err = ks_kv_store_put(buf, ks_buf_data(in->k2), ks_buf_len(in->k2),
                                   ks_buf_data(val), ks_buf_len(val))))
                return err;
        in->records++;
        in->bytes += cost(rec->klen, rec->value ? rec->vlen : 0);
        if (in->next_known && due < in->next_due)
                in->next_due = due;
        if ((err = send_due(ctx, in, st, ks__ts_sub(in->observed, st->limit),
                            0)))
                return err;
        int over = (st->max_records && in->records > st->max_records) ||
                   (st->max_bytes && in->bytes > st->max_bytes);
        if (!over)
                return KS_ERR_NO_ERROR;
        if (st->when_full == KS_BUFFER_EMIT_EARLY)
                return send_due(ctx, in, st, INT64_MAX, 1);
        return ks_context_set_error(
                ctx,
                "step %s: the suppression buffer is full (%" PRId64
                " records, %" PRId64 " bytes; bounds %" PRId64 " records, "
                "%" PRId64 " bytes) and is set to shut down when full",
                st->base.name, in->records, in->bytes, st->max_records,
                st->max_bytes);
}

/* Learn stream time and the held counts from the buffer store. */
static ks_err_t suppress_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        suppress_state_t *in = (suppress_state_t *)base;
        in->observed = in->saved = INT64_MIN;
        if (!(in->k1 = ks_buf_new()) || !(in->k2 = ks_buf_new()) ||
            !(in->batch = ks_buf_new()))
                return KS_ERR_NO_MEMORY;
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_all(base->store, &it);
        if (err)
                return err;
        const void *k, *v;
        size_t kl, vl;
        while (ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                const uint8_t *kb = k;
                if (kl == 1 && kb[0] == 0 && vl == 8)
                        in->observed = in->saved = (int64_t)ks__be64_get(v);
                else if (kl >= 9 && kb[0] == ENTRY_MARK) {
                        in->records++;
                        in->bytes += cost(kl - 9, vl >= 9 ? vl - 9 : 0);
                }
        }
        err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", base->step->name,
                        base->store->name, ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

static void suppress_release(ks__dsl_state_t *base) {
        suppress_state_t *in = (suppress_state_t *)base;
        ks_buf_destroy(in->k1);
        ks_buf_destroy(in->k2);
        ks_buf_destroy(in->batch);
}

static ks_err_t suppress_flush(ks_context_t *ctx, void *state) {
        (void)ctx;
        suppress_state_t *in = state;
        if (!in || in->observed == in->saved)
                return KS_ERR_NO_ERROR;
        uint8_t b[8];
        ks__be64_put(b, (uint64_t)in->observed);
        ks_err_t err = ks_kv_store_put(in->base.store, TIME_KEY, 1, b, 8);
        if (!err)
                in->saved = in->observed;
        return err;
}

static const ks__dsl_class_t suppress_class = {
        KS__DSL_STATEFUL(suppress_process), .flush = suppress_flush,
        .state_size = sizeof(suppress_state_t), .open = suppress_open,
        .release = suppress_release};

/* --- building ------------------------------------------------------------ */

static ks_table_t *suppress(ks_table_t *t, int until_close, int64_t limit,
                            int64_t max_records, int64_t max_bytes,
                            ks_buffer_full_t when_full, const char *name) {
        const char *what = until_close ? "suppress until window closes"
                                       : "suppress until time limit";
        ks_builder_t *b = t ? t->b : NULL;
        if (!ks__dsl_usable(b, what))
                return NULL;
        const char *bad = NULL;
        if (until_close && !t->windows)
                bad = "the table is not windowed (use a windowed "
                      "aggregation's table)";
        else if (!until_close && limit < 0)
                bad = "the time limit is negative";
        else if (max_records < 0 || max_bytes < 0)
                bad = "a buffer bound is negative (0: unbounded)";
        else if (when_full != KS_BUFFER_EMIT_EARLY &&
                 when_full != KS_BUFFER_SHUT_DOWN)
                bad = "unknown buffer-full policy";
        if (bad) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG, "%s: %s", what, bad);
                return NULL;
        }
        suppress_step_t *st = ks__dsl_step_new(b, &suppress_class, sizeof(*st),
                                               name, "KTABLE-SUPPRESS", NULL);
        if (!st)
                return NULL;
        st->until_close = until_close;
        if (until_close)
                st->w = *t->windows;
        st->limit = until_close ? t->windows->grace : limit;
        st->max_records = max_records;
        st->max_bytes = max_bytes;
        st->when_full = when_full;
        if (!(st->base.store = ks__dsl_name_of(b, st->base.name, "store")) ||
            !ks__dsl_add_store(b, st->base.store, st->base.name, 0)) {
                if (!st->base.store)
                        ks__dsl_oom(b);
                ks__dsl_step_free(st);
                return NULL;
        }
        char *node = ks__dsl_chain(b, t->node, st);
        ks_table_t *nt =
                ks__dsl_table_new(b, node, NULL, t->key_serde, t->value_serde);
        if (nt && t->windows) {
                if (!(nt->windows = malloc(sizeof(*nt->windows))))
                        ks__dsl_oom(b);
                else
                        *nt->windows = *t->windows;
        }
        return nt;
}

ks_table_t *ks_table_suppress_until_window_closes(ks_table_t *t,
                                                  int64_t max_records,
                                                  int64_t max_bytes,
                                                  const char *name) {
        return suppress(t, 1, 0, max_records, max_bytes, KS_BUFFER_SHUT_DOWN,
                        name);
}

ks_table_t *ks_table_suppress_until_time_limit(
        ks_table_t *t, int64_t time_limit_ms, int64_t max_records,
        int64_t max_bytes, ks_buffer_full_t when_full, const char *name) {
        return suppress(t, 0, time_limit_ms, max_records, max_bytes, when_full,
                        name);
}
