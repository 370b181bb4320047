/* The stream-table join with a grace period (KIP-923): stream records are
 * held back until the stream side's time has moved @p grace past them,
 * then joined, oldest first, with the versioned table's row as of each
 * record's timestamp, so a table update arriving late (within the grace)
 * still meets the stream records it should.
 *
 * Stream time is the largest timestamp of the stream records the step has
 * taken (those with a key and a value; the others are dropped, as by the
 * join without grace). With deadline = stream time - grace, a record
 * older than the deadline when it arrives is joined at once (Kafka Streams
 * does not buffer it); the others are buffered, and after each record
 * every buffered record at or before the deadline is joined and
 * forgotten. The output keeps the stream record's key and timestamp;
 * released records carry no headers and no origin (they are let out while
 * another record is processed).
 *
 * The buffer is a logged key-value store of the step
 * ("<name>-buffer"):
 *   0x00                                  -> be64 stream time | be64 seq
 *   0x01 | be64(ts ^ sign) | be64 seq     -> be32 key length | key | value
 * so records go out by one range scan in (timestamp, arrival) order. The
 * 0x00 entry, written in the flush before each commit, holds stream time
 * and the next sequence number, so both survive failover with the records
 * they belong to; opening the step also walks the held records, so the
 * next sequence number is above theirs whatever that entry says. What the
 * buffer holds is bounded by the stream records of one grace period. An
 * entry read back that does not fit this layout is KS_ERR_STORE naming
 * the store. */
#include "dsl_int.h"

#include <stdlib.h>
#include <string.h>

#define SIGN_BIT      ((uint64_t)1 << 63)
#define META_MARK     0x00
#define RECORD_MARK   0x01
#define ENTRY_KEY_LEN 17
#define RELEASE_BATCH 512
#define RELEASE_BYTES ((size_t)1 << 20) /* a batch stops past this */
#define TS_NONE       INT64_MIN

typedef struct {
        ks__dsl_step_t base; /* base.store: the table's versioned store */
        ks_value_joiner_cb *joiner;
        ks_join_kind_t kind;
        int64_t grace;
        char *buffer; /* the buffer store */
} grace_step_t;

typedef struct {
        ks__dsl_state_t base;
        ks_kv_store_t *buf;      /* the buffer store */
        int64_t observed, saved; /* stream time; as last written */
        uint64_t seq, saved_seq; /* the next sequence number; written */
        int64_t earliest;        /* no buffered record is older */
        int earliest_known;      /* earliest learnt by a scan */
        ks_buf_t *key, *batch;   /* scratch */
} grace_state_t;

/* Join stream record (@p key, @p value) at @p ts with the table's row as
 * of @p ts and forward the result (or nothing). @p headers: NULL for the
 * record being processed's. */
static ks_err_t join_one(ks_context_t *ctx, grace_state_t *in, const void *key,
                         size_t klen, const void *value, size_t vlen,
                         int64_t ts, const ks_headers_t *headers) {
        const grace_step_t *st = (const grace_step_t *)in->base.step;
        const void *row;
        size_t rlen;
        ks_err_t err = ks__dsl_lookup_as_of(in->base.versions, key, klen, ts,
                                            &row, &rlen);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->base.store, ks_err2str(err));
        if (!row && st->kind == KS_JOIN_INNER)
                return KS_ERR_NO_ERROR;
        ks_buf_reset(in->base.buf);
        err = st->joiner(st->base.opaque, value, vlen, row, rlen, in->base.buf);
        if (err)
                return ks_context_set_error(ctx,
                                            "step %s: the joiner failed (%s)",
                                            st->base.name, ks_err2str(err));
        return ks_context_forward_record(ctx, NULL, key, klen,
                                         ks_buf_data(in->base.buf),
                                         ks_buf_len(in->base.buf), ts, headers);
}

/* in->key = the entry key of (@p ts, @p seq). */
static ks_err_t entry_key(grace_state_t *in, int64_t ts, uint64_t seq) {
        uint8_t k[ENTRY_KEY_LEN];
        k[0] = RECORD_MARK;
        ks__be64_put(k + 1, (uint64_t)ts ^ SIGN_BIT);
        ks__be64_put(k + 9, seq);
        ks_buf_reset(in->key);
        return ks_buf_append(in->key, k, sizeof(k));
}

static ks_err_t bad_entry(ks_context_t *ctx, const grace_state_t *in,
                          const char *what, size_t len) {
        ks_context_set_error(ctx,
                             "step %s: buffer store %s holds %s (%zu "
                             "bytes)",
                             in->base.step->name, in->buf->name, what, len);
        return KS_ERR_STORE;
}

/* Split a buffered record's value into key and value. */
static int split_record(const uint8_t *v, size_t vl, const void **keyp,
                        size_t *klenp, const void **valuep, size_t *vlenp) {
        if (vl < 4 || ks__be32_get(v) > vl - 4)
                return 0;
        *klenp = ks__be32_get(v);
        *keyp = v + 4;
        *valuep = v + 4 + *klenp;
        *vlenp = vl - 4 - *klenp;
        return 1;
}

/* Join and forget every buffered record at or before @p deadline, oldest
 * first, in batches (each copied out of its iterator before the joins
 * write to the buffer; RELEASE_BATCH records or RELEASE_BYTES, at least
 * one). Each scan starts where no record can be before: at the earliest
 * held, then past the batch let out, never over the records let out
 * before (deletes, which a RocksDB iterator steps over until a
 * compaction). */
static ks_err_t release(ks_context_t *ctx, grace_state_t *in,
                        int64_t deadline) {
        if (in->earliest_known && deadline < in->earliest)
                return KS_ERR_NO_ERROR; /* most records: nothing is due */
        uint8_t from[ENTRY_KEY_LEN] = {RECORD_MARK};
        size_t fromlen = 1;
        if (in->earliest_known) {
                ks__be64_put(from + 1, (uint64_t)in->earliest ^ SIGN_BIT);
                fromlen = ENTRY_KEY_LEN; /* sequence number 0 */
        }
        ks_err_t err = KS_ERR_NO_ERROR;
        size_t peak = 0; /* the largest batch */
        for (int more = 1; more && !err;) {
                ks_kv_iter_t *it;
                if ((err = ks_kv_store_range(in->buf, from, fromlen, NULL, 0,
                                             &it)))
                        break;
                ks_buf_reset(in->batch);
                size_t cnt = 0;
                int64_t next = INT64_MAX; /* nothing buffered */
                const void *k, *v;
                size_t kl, vl;
                more = 0;
                while (ks_kv_iter_next(it, &k, &kl, &v, &vl)) {
                        const uint8_t *kb = k;
                        if (kb[0] != RECORD_MARK)
                                break;
                        if (kl != ENTRY_KEY_LEN) {
                                err = bad_entry(ctx, in, "a record key", kl);
                                break;
                        }
                        int64_t ts = (int64_t)(ks__be64_get(kb + 1) ^ SIGN_BIT);
                        if (ts > deadline) {
                                next = ts;
                                break;
                        }
                        if (cnt == RELEASE_BATCH ||
                            ks_buf_len(in->batch) >= RELEASE_BYTES) {
                                more = 1;
                                break;
                        }
                        if (vl > UINT32_MAX) {
                                err = bad_entry(ctx, in, "a record value", vl);
                                break;
                        }
                        uint8_t len[4];
                        ks__be32_put(len, (uint32_t)vl);
                        if ((err = ks_buf_append(in->batch, kb, kl)) ||
                            (err = ks_buf_append(in->batch, len, 4)) ||
                            (err = ks_buf_append(in->batch, v, vl)))
                                break;
                        cnt++;
                }
                if (!err)
                        err = ks_kv_iter_error(it);
                ks_kv_iter_destroy(it);
                if (!err && !more) {
                        in->earliest = next;
                        in->earliest_known = 1;
                }
                if (ks_buf_len(in->batch) > peak)
                        peak = ks_buf_len(in->batch);
                const uint8_t *p = ks_buf_data(in->batch);
                for (size_t i = 0; i < cnt && !err; i++) {
                        const uint8_t *ek = p;
                        memcpy(from, ek, ENTRY_KEY_LEN); /* the next scan's */
                        fromlen = ENTRY_KEY_LEN;
                        size_t rl = ks__be32_get(p + ENTRY_KEY_LEN);
                        const uint8_t *rv = p + ENTRY_KEY_LEN + 4;
                        p = rv + rl;
                        const void *key, *value;
                        size_t klen, vlen;
                        if (!split_record(rv, rl, &key, &klen, &value, &vlen)) {
                                err = bad_entry(ctx, in, "a record value", rl);
                                break;
                        }
                        int64_t ts = (int64_t)(ks__be64_get(ek + 1) ^ SIGN_BIT);
                        /* Forgotten first: a failed join leaves nothing
                         * half done to join again. */
                        if ((err = ks_kv_store_delete(
                                     in->buf, ek, ENTRY_KEY_LEN, NULL, NULL)))
                                break;
                        ks__context_detach_origin(ctx, 1);
                        err = join_one(ctx, in, key, klen, value, vlen, ts,
                                       in->base.no_headers);
                        ks__context_detach_origin(ctx, 0);
                }
        }
        /* A batch of large records: its room goes with it. */
        if (peak > RELEASE_BYTES) {
                ks_buf_t *b = ks_buf_new();
                if (b) {
                        ks_buf_destroy(in->batch);
                        in->batch = b;
                }
        }
        return err;
}

static ks_err_t grace_process(ks_context_t *ctx, const ks_record_t *rec,
                              void *state) {
        grace_state_t *in = state;
        const grace_step_t *st = (const grace_step_t *)in->base.step;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        int64_t ts = ks_record_timestamp(rec);
        if (!key || !value || klen > UINT32_MAX)
                return KS_ERR_NO_ERROR; /* as Kafka Streams: dropped */
        if (in->observed == TS_NONE || ts > in->observed)
                in->observed = ts;
        int64_t deadline = ks__ts_sub(in->observed, st->grace);
        ks_err_t err;
        if (!st->grace || ts < deadline) {
                /* Too old to wait for anything: joined now. */
                if ((err = join_one(ctx, in, key, klen, value, vlen, ts, NULL)))
                        return err;
        } else {
                /* Never wrapped to 0: a record held there would be
                 * overwritten. (2^64 records take longer than anyone
                 * waits; a number this high was written by someone
                 * else.) */
                if (in->seq == UINT64_MAX) {
                        ks_context_set_error(ctx,
                                             "step %s: buffer store %s: no "
                                             "sequence number left",
                                             st->base.name, in->buf->name);
                        return KS_ERR_STORE;
                }
                if ((err = entry_key(in, ts, in->seq)))
                        return err;
                uint8_t len[4];
                ks__be32_put(len, (uint32_t)klen);
                ks_buf_t *b = in->base.buf;
                ks_buf_reset(b);
                if ((err = ks_buf_append(b, len, 4)) ||
                    (klen && (err = ks_buf_append(b, key, klen))) ||
                    (vlen && (err = ks_buf_append(b, value, vlen))) ||
                    (err = ks_kv_store_put(in->buf, ks_buf_data(in->key),
                                           ks_buf_len(in->key), ks_buf_data(b),
                                           ks_buf_len(b))))
                        return err;
                in->seq++;
                if (in->earliest_known && ts < in->earliest)
                        in->earliest = ts;
        }
        return release(ctx, in, deadline);
}

/* Past the held records: the next sequence number is above every one
 * held, and stream time at least their latest timestamp (a buffer whose
 * 0x00 entry is missing or behind, written by something else, must not
 * have records overwritten). One walk over one grace period's records. */
static ks_err_t learn_held(ks_context_t *ctx, grace_state_t *in) {
        static const uint8_t lo[1] = {RECORD_MARK};
        ks_kv_iter_t *it;
        ks_err_t err = ks_kv_store_range(in->buf, lo, 1, NULL, 0, &it);
        if (err)
                return err;
        const void *k;
        size_t kl;
        in->earliest = INT64_MAX;
        while (!err && ks_kv_iter_next(it, &k, &kl, NULL, NULL)) {
                const uint8_t *kb = k;
                if (kb[0] != RECORD_MARK)
                        break;
                if (kl != ENTRY_KEY_LEN) {
                        err = bad_entry(ctx, in, "a record key", kl);
                        break;
                }
                int64_t ts = (int64_t)(ks__be64_get(kb + 1) ^ SIGN_BIT);
                uint64_t seq = ks__be64_get(kb + 9);
                if (seq == UINT64_MAX) { /* the next would wrap to 0 */
                        err = bad_entry(ctx, in,
                                        "a record with the last sequence "
                                        "number",
                                        kl);
                        break;
                }
                if (in->earliest == INT64_MAX)
                        in->earliest = ts;
                if (in->observed == TS_NONE || ts > in->observed)
                        in->observed = ts;
                if (seq >= in->seq)
                        in->seq = seq + 1;
        }
        if (!err)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        in->earliest_known = !err;
        return err;
}

/* Learn stream time and the next sequence number from the buffer. */
static ks_err_t grace_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        grace_state_t *in = (grace_state_t *)base;
        const grace_step_t *st = (const grace_step_t *)base->step;
        in->observed = in->saved = TS_NONE;
        if (!(in->key = ks_buf_new()) || !(in->batch = ks_buf_new()))
                return KS_ERR_NO_MEMORY;
        ks_err_t err = ks_context_get_kv_store(ctx, st->buffer, &in->buf);
        if (err)
                return ks_context_set_error(ctx, "step %s: store %s: %s",
                                            st->base.name, st->buffer,
                                            ks_err2str(err));
        static const uint8_t meta[1] = {META_MARK};
        const void *v;
        size_t vl;
        err = ks_kv_store_get(in->buf, meta, 1, &v, &vl);
        if (!err && vl != 16)
                return bad_entry(ctx, in, "a stream time entry", vl);
        if (!err) {
                in->observed = in->saved = (int64_t)ks__be64_get(v);
                in->seq = in->saved_seq = ks__be64_get((const uint8_t *)v + 8);
                if (in->seq == UINT64_MAX)
                        return bad_entry(ctx, in,
                                         "a stream time entry with the last "
                                         "sequence number",
                                         vl);
        } else if (err != KS_ERR_NOT_FOUND) {
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->buffer, ks_err2str(err));
        }
        if ((err = learn_held(ctx, in)) && err != KS_ERR_STORE)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->buffer, ks_err2str(err));
        return err;
}

static void grace_release(ks__dsl_state_t *base) {
        grace_state_t *in = (grace_state_t *)base;
        ks_buf_destroy(in->key);
        ks_buf_destroy(in->batch);
}

/* Write stream time and the next sequence number before a commit. */
static ks_err_t grace_flush(ks_context_t *ctx, void *state) {
        (void)ctx;
        grace_state_t *in = state;
        if (!in || (in->observed == in->saved && in->seq == in->saved_seq))
                return KS_ERR_NO_ERROR;
        static const uint8_t meta[1] = {META_MARK};
        uint8_t b[16];
        ks__be64_put(b, (uint64_t)in->observed);
        ks__be64_put(b + 8, in->seq);
        ks_err_t err = ks_kv_store_put(in->buf, meta, 1, b, sizeof(b));
        if (!err) {
                in->saved = in->observed;
                in->saved_seq = in->seq;
        }
        return err;
}

static void grace_free(ks__dsl_step_t *base) {
        free(((grace_step_t *)base)->buffer);
}

static const ks__dsl_class_t grace_class = {KS__DSL_STATEFUL(grace_process),
                                            .flush = grace_flush,
                                            .free = grace_free,
                                            .state_size = sizeof(grace_state_t),
                                            .open = grace_open,
                                            .release = grace_release};

/* --- building ------------------------------------------------------------ */

ks_stream_t *ks_stream_join_table_with_grace(ks_stream_t *s, ks_table_t *t,
                                             ks_join_kind_t kind,
                                             ks_value_joiner_cb *joiner,
                                             void *opaque, int64_t grace_ms,
                                             const char *name) {
        const char *what = "join_table_with_grace";
        ks_builder_t *b = ks__dsl_stream_start(s, what);
        if (!b || !ks__dsl_materialized(b, t, what) ||
            !ks__dsl_need(b, (void *)joiner, what, "joiner"))
                return NULL;
        const char *bad = NULL;
        if (!t->history_ms)
                bad = "the table is not versioned (make it with "
                      "ks_builder_versioned_table() or "
                      "ks_stream_to_versioned_table())";
        else if (kind != KS_JOIN_INNER && kind != KS_JOIN_LEFT)
                bad = "only inner and left joins";
        else if (grace_ms < 0)
                bad = "the grace period is negative";
        else if (grace_ms > t->history_ms)
                bad = "the grace period is longer than the table's history "
                      "retention (the rows it would need are gone)";
        if (bad) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG, "%s: %s", what, bad);
                return NULL;
        }
        if (s->repartition_required && !(s = ks_stream_repartition(s, 0, NULL)))
                return NULL;
        grace_step_t *st = ks__dsl_step_new(
                b, &grace_class, sizeof(*st), name,
                kind == KS_JOIN_INNER ? "KSTREAM-JOIN" : "KSTREAM-LEFTJOIN",
                opaque);
        if (!st)
                return NULL;
        st->joiner = joiner;
        st->kind = kind;
        st->grace = grace_ms;
        st->base.versioned = 1;
        if (!(st->base.store = ks__strdup(t->store)) ||
            !(st->buffer = ks__dsl_name_of(b, st->base.name, "buffer"))) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        if (!ks__dsl_add_store(b, st->buffer, st->base.name, 0)) {
                ks__dsl_step_free(st);
                return NULL;
        }
        char *buffer = ks__strdup(st->buffer);
        char *node = ks__dsl_chain(b, s->node, st);
        ks_error_t *e = NULL;
        if (node &&
            (!buffer ||
             ks__dsl_failed_call(
                     b, ks_topology_connect_store(b->topo, buffer, node, &e), e,
                     node))) {
                if (!buffer)
                        ks__dsl_oom(b);
                free(node);
                node = NULL;
        }
        free(buffer);
        return ks__dsl_stream_new(b, node, s->key_serde, NULL, 0);
}
