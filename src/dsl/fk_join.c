/* Foreign-key table-table joins: four steps over two internal topics, and
 * the wire format they speak.
 *
 * Left rows subscribe to the right row their foreign key names, through
 * the topic "<name>-subscription-registration" (keyed, so partitioned, by
 * the foreign key); the right side keeps the subscriptions and answers
 * through "<name>-subscription-response" (keyed by the left key), on each
 * subscription and whenever the right row changes. The left side joins an
 * answer only if it is about the row's current value. Both topics' sinks
 * are "partitioned like the reader" (partitions -1).
 *
 *   subscribe (left)       keeps each row's foreign key ("<name>-fk-prev");
 *                          sends unsubscribe/subscribe, answers rows
 *                          without a foreign key itself
 *   subscription-receive   keeps subscriptions ("<name>-subscriptions"),
 *   (right)                answers each with the right row
 *   right-update (right)   answers every subscriber of a changed row
 *   response (left)        drops stale answers, joins the rest
 *
 * Wire format, values (the hash is the 64-bit FNV-1a of the left value the
 * message is about, big-endian):
 *   subscription  [0 unsubscribe | 1 subscribe][hash][left key]
 *   response      [0 no right row | 1 right row | 2 left row deleted]
 *                 [hash][right value]
 * Subscription store key: [4-byte big-endian length of the foreign key]
 * [foreign key][left key], value the hash; a prefix scan finds a right
 * row's subscribers. These formats travel between instances: never change
 * them.
 *
 * Timestamps, as in Kafka Streams: a result carries the later of the left
 * row's and the right row's timestamps. A subscription travels at the left
 * row's timestamp; the receive step answers at the later of that and the
 * right row's, the right-update step at the right row's; the response step
 * takes the later of the answer's and the current left row's. */
#include "dsl_int.h"

#include <stdio.h>
#include <stdlib.h>

#define FK_UNSUBSCRIBE 0
#define FK_SUBSCRIBE   1
#define FK_NO_VALUE    0 /* response: the right row does not exist */
#define FK_VALUE       1
#define FK_DELETED     2 /* response: the left row is gone */

#define FK_HEAD        9 /* [tag][8-byte hash] */

/* One struct for the four steps; each uses its own fields. */
typedef struct {
        ks__dsl_step_t base;
        ks_mapper_cb *fk_extractor; /* subscribe */
        char *sub_sink;             /* subscribe: the subscription sink */
        char *resp_step;            /* subscribe: the response step */
        char *resp_sink;            /* receive, right-update */
        char *right;                /* receive: the right table's store */
        ks_value_joiner_cb *joiner; /* response */
        ks_join_kind_t kind;        /* response */
} fk_step_t;

typedef struct {
        ks__dsl_state_t base;
        /* receive: the key-value handle under the right table's store */
        ks_kv_store_t *right;
} fk_receive_state_t;

static void fk_step_free(ks__dsl_step_t *p) {
        fk_step_t *st = (fk_step_t *)p;
        free(st->sub_sink);
        free(st->resp_step);
        free(st->resp_sink);
        free(st->right);
}

/* "<tag><hash><bytes>" into @p out. */
static ks_err_t fk_encode(ks_buf_t *out, int tag, uint64_t hash,
                          const void *data, size_t n) {
        uint8_t h[FK_HEAD];
        h[0] = (uint8_t)tag;
        ks__be64_put(h + 1, hash);
        ks_buf_reset(out);
        ks_err_t err = ks_buf_append(out, h, sizeof(h));
        return err || !data ? err : ks_buf_append(out, data, n);
}

/* The subscription store key of (@p fk, @p key); @p key NULL: the prefix
 * of all of @p fk's subscriptions. */
static ks_err_t fk_sub_key(ks_buf_t *b, const void *fk, size_t fl,
                           const void *key, size_t kl) {
        uint8_t n[4];
        ks__be32_put(n, (uint32_t)fl);
        ks_buf_reset(b);
        ks_err_t err = ks_buf_append(b, n, 4);
        if (!err)
                err = ks_buf_append(b, fk, fl);
        return err || !key ? err : ks_buf_append(b, key, kl);
}

/* Delete @p key from @p store; a missing key is no error. */
static ks_err_t fk_delete(ks_kv_store_t *store, const void *key, size_t kl) {
        ks_err_t err = ks_kv_store_delete(store, key, kl, NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

/* --- subscribe (left) ---------------------------------------------------- */

static ks_err_t subscribe_process(ks_context_t *ctx, const ks_record_t *rec,
                                  void *state) {
        static const ks__dsl_mapper_role_t role = {"foreign key extractor",
                                                   "row", 1, 0};
        ks__dsl_state_t *in = state;
        const fk_step_t *st = (const fk_step_t *)in->step;
        ks_buf_t *fk = in->buf, *msg = in->buf2;
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        if (!key)
                return KS_ERR_NO_ERROR;
        /* The new foreign key (none for a deleted row). */
        ks_emitter_t out;
        ks__dsl_emitter_init(&out, ctx, rec, KS__EMIT_KEY, fk, NULL);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (value && (err = ks__dsl_run_mapper(ctx, &st->base, st->fk_extractor,
                                               &out, &role)))
                return err;
        const void *prev;
        size_t plen;
        ks_err_t ge = ks_kv_store_get(in->store, key, klen, &prev, &plen);
        if (ge && ge != KS_ERR_NOT_FOUND)
                return ge;
        int has_prev = ge == KS_ERR_NO_ERROR;
        int same = has_prev && !out.key_null && plen == ks_buf_len(fk) &&
                   !memcmp(prev, ks_buf_data(fk), plen);
        if (has_prev && !same) {
                /* Leave the old foreign key's row. */
                err = fk_encode(msg, FK_UNSUBSCRIBE, 0, key, klen);
                if (!err)
                        err = ks_context_forward_to(ctx, st->sub_sink, prev,
                                                    plen, ks_buf_data(msg),
                                                    ks_buf_len(msg));
        }
        uint64_t h = value ? ks__fnv1a64(value, vlen) : 0;
        if (err)
                return err;
        if (value && !out.key_null) {
                err = fk_encode(msg, FK_SUBSCRIBE, h, key, klen);
                if (!err)
                        err = ks_context_forward_to(
                                ctx, st->sub_sink, ks_buf_data(fk),
                                ks_buf_len(fk), ks_buf_data(msg),
                                ks_buf_len(msg));
                return err ? err
                           : ks_kv_store_put(in->store, key, klen,
                                             ks_buf_data(fk), ks_buf_len(fk));
        }
        /* Deleted, or no foreign key: answered here. */
        if (has_prev)
                err = fk_delete(in->store, key, klen);
        if (!err)
                err = fk_encode(msg, value ? FK_NO_VALUE : FK_DELETED, h, NULL,
                                0);
        if (!err)
                err = ks_context_forward_to(ctx, st->resp_step, key, klen,
                                            ks_buf_data(msg), ks_buf_len(msg));
        return err;
}

static const ks__dsl_class_t subscribe_class = {
        KS__DSL_STATEFUL(subscribe_process), .free = fk_step_free};

/* --- subscription-receive and right-update (right) ----------------------- */

/* Answer the subscription of left row @p key (@p hash of its value) with
 * the right row @p rv (NULL: none), through the response topic, at
 * @p ts. */
static ks_err_t fk_respond(ks_context_t *ctx, const fk_step_t *st,
                           ks_buf_t *msg, const void *key, size_t kl,
                           uint64_t hash, const void *rv, size_t rl,
                           int64_t ts) {
        ks_err_t err =
                fk_encode(msg, rv ? FK_VALUE : FK_NO_VALUE, hash, rv, rl);
        if (!err)
                err = ks_context_forward_record(ctx, st->resp_sink, key, kl,
                                                ks_buf_data(msg),
                                                ks_buf_len(msg), ts, NULL);
        return err;
}

static ks_err_t receive_process(ks_context_t *ctx, const ks_record_t *rec,
                                void *state) {
        fk_receive_state_t *in = state;
        const fk_step_t *st = (const fk_step_t *)in->base.step;
        ks_buf_t *sub = in->base.buf, *right = in->base.buf2;
        size_t fl, vl;
        const uint8_t *fk = ks_record_key(rec, &fl);
        const uint8_t *v = ks_record_value(rec, &vl);
        if (!fk || !v || vl < FK_HEAD)
                return ks_context_set_error(ctx,
                                            "step %s: a subscription of %zu "
                                            "bytes is not one",
                                            st->base.name, v ? vl : 0);
        uint64_t hash = ks__be64_get(v + 1);
        const void *key = v + FK_HEAD;
        size_t kl = vl - FK_HEAD;
        ks_err_t err = fk_sub_key(sub, fk, fl, key, kl);
        if (err)
                return err;
        if (v[0] == FK_UNSUBSCRIBE)
                return fk_delete(in->base.store, ks_buf_data(sub),
                                 ks_buf_len(sub));
        uint8_t hb[8];
        ks__be64_put(hb, hash);
        if ((err = ks_kv_store_put(in->base.store, ks_buf_data(sub),
                                   ks_buf_len(sub), hb, 8)))
                return err;
        const void *rv;
        size_t rl;
        int64_t rts;
        if ((err = ks__dsl_lookup(in->right, fk, fl, &rv, &rl, &rts)))
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->right, ks_err2str(err));
        /* The right value may sit in a cache a later write moves: copy. */
        ks_buf_reset(right);
        if (rv && (err = ks_buf_append(right, rv, rl)))
                return err;
        return fk_respond(
                ctx, st, sub, key, kl, hash, rv ? ks_buf_data(right) : NULL, rl,
                ks__dsl_max_ts(ks_record_timestamp(rec), rv != NULL, rts));
}

static ks_err_t receive_open(ks_context_t *ctx, ks__dsl_state_t *base) {
        fk_receive_state_t *in = (fk_receive_state_t *)base;
        const fk_step_t *st = (const fk_step_t *)base->step;
        ks_timestamped_kv_store_t *right = NULL;
        ks_err_t err =
                ks_context_get_timestamped_kv_store(ctx, st->right, &right);
        if (!err)
                in->right = ks__timestamped_kv_store_kv(right);
        if (err)
                return ks_context_set_error(ctx, "step %s: store %s: %s",
                                            st->base.name, st->right,
                                            ks_err2str(err));
        return KS_ERR_NO_ERROR;
}

static const ks__dsl_class_t receive_class = {
        KS__DSL_STATEFUL(receive_process), .free = fk_step_free,
        .state_size = sizeof(fk_receive_state_t), .open = receive_open};

static ks_err_t right_update_process(ks_context_t *ctx, const ks_record_t *rec,
                                     void *state) {
        ks__dsl_state_t *in = state;
        const fk_step_t *st = (const fk_step_t *)in->step;
        size_t fl, vl;
        const void *fk = ks_record_key(rec, &fl);
        const void *rv = ks_record_value(rec, &vl);
        if (!fk)
                return KS_ERR_NO_ERROR;
        ks_err_t err = fk_sub_key(in->buf, fk, fl, NULL, 0);
        ks_kv_iter_t *it = NULL;
        if (!err)
                err = ks_kv_store_prefix_scan(in->store, ks_buf_data(in->buf),
                                              ks_buf_len(in->buf), &it);
        const void *sk, *sv;
        size_t skl, svl;
        while (!err && ks_kv_iter_next(it, &sk, &skl, &sv, &svl)) {
                size_t head = 4 + fl;
                if (skl < head || svl != 8)
                        continue;
                err = fk_respond(ctx, st, in->buf2, (const uint8_t *)sk + head,
                                 skl - head, ks__be64_get(sv), rv, vl,
                                 ks_record_timestamp(rec));
        }
        if (!err && it)
                err = ks_kv_iter_error(it);
        ks_kv_iter_destroy(it);
        return err;
}

static const ks__dsl_class_t right_update_class = {
        KS__DSL_STATEFUL(right_update_process), .free = fk_step_free};

/* --- response (left) ----------------------------------------------------- */

static ks_err_t response_process(ks_context_t *ctx, const ks_record_t *rec,
                                 void *state) {
        ks__dsl_state_t *in = state;
        const fk_step_t *st = (const fk_step_t *)in->step;
        size_t kl, ml, ll;
        const void *key = ks_record_key(rec, &kl);
        const uint8_t *m = ks_record_value(rec, &ml);
        if (!key || !m || ml < FK_HEAD)
                return KS_ERR_NO_ERROR;
        const void *lv;
        int64_t lts;
        ks_err_t err = ks__dsl_lookup(in->store, key, kl, &lv, &ll, &lts);
        if (err)
                return ks_context_set_error(
                        ctx, "step %s: reading store %s: %s", st->base.name,
                        st->base.store, ks_err2str(err));
        int64_t ts = ks__dsl_max_ts(ks_record_timestamp(rec), lv != NULL, lts);
        if (m[0] == FK_DELETED || !lv)
                return ks_context_forward_record(ctx, NULL, key, kl, NULL, 0,
                                                 ts, NULL);
        if (ks__be64_get(m + 1) != ks__fnv1a64(lv, ll))
                return KS_ERR_NO_ERROR; /* about an older value: stale */
        if (m[0] == FK_NO_VALUE && st->kind == KS_JOIN_INNER)
                return ks_context_forward_record(ctx, NULL, key, kl, NULL, 0,
                                                 ts, NULL);
        /* The left value may sit in a cache the joiner's output could
         * move: copy. */
        ks_buf_t *l = in->buf2;
        ks_buf_reset(l);
        if ((err = ks_buf_append(l, lv, ll)))
                return err;
        return ks__dsl_join_forward(
                ctx, &st->base, st->joiner, key, kl, ks_buf_data(l),
                ks_buf_len(l), m[0] == FK_VALUE ? m + FK_HEAD : NULL,
                m[0] == FK_VALUE ? ml - FK_HEAD : 0, ts, in->buf);
}

static const ks__dsl_class_t response_class = {
        KS__DSL_STATEFUL(response_process), .free = fk_step_free};

/* --- building ------------------------------------------------------------ */

/* A step "<base>-<suffix>" of class @p cls (no index of its own). */
static fk_step_t *fk_step(ks_builder_t *b, const ks__dsl_class_t *cls,
                          const char *base, const char *suffix) {
        return ks__dsl_step_named(b, cls, sizeof(fk_step_t),
                                  ks__dsl_name_of(b, base, suffix), NULL);
}

/* The internal topic "<base>-<what>" under @p parents; 1 if made. */
static int fk_topic(ks_builder_t *b, const char *base, const char *what,
                    const char *const *parents, size_t parent_cnt) {
        char topic[400];
        snprintf(topic, sizeof(topic), "%s-%s", base, what);
        char *src = ks__dsl_internal_topic(b, topic, parents, parent_cnt, -1,
                                           NULL, NULL);
        free(src);
        return src != NULL;
}

/* Add *@p stp (taken over: *@p stp becomes NULL) under @p parents. */
static int fk_add(ks_builder_t *b, fk_step_t **stp, const char *const *parents,
                  size_t parent_cnt) {
        fk_step_t *st = *stp;
        *stp = NULL;
        return ks__dsl_add_step(b, st, parents, parent_cnt) != NULL;
}

ks_table_t *ks_table_fk_join(ks_table_t *left, ks_table_t *right,
                             ks_mapper_cb *fk_extractor, ks_join_kind_t kind,
                             ks_value_joiner_cb *joiner, void *opaque,
                             const char *name) {
        const char *what = "foreign-key join";
        ks_builder_t *b = ks__dsl_table_join_start(left, right, what,
                                                   (void *)fk_extractor,
                                                   "foreign key extractor");
        if (!b || !ks__dsl_need(b, (void *)joiner, what, "joiner"))
                return NULL;
        if (kind != KS_JOIN_INNER && kind != KS_JOIN_LEFT) {
                ks__dsl_fail(b, KS_ERR_INVALID_ARG,
                             "%s: only inner and left joins (kind %d)", what,
                             (int)kind);
                return NULL;
        }
        char *base = ks__dsl_name(b, name, "KTABLE-FK-JOIN");
        if (!base)
                return NULL;
        ks_table_t *t = NULL;
        fk_step_t *sub = fk_step(b, &subscribe_class, base, "subscribe");
        fk_step_t *recv =
                fk_step(b, &receive_class, base, "subscription-receive");
        fk_step_t *upd = fk_step(b, &right_update_class, base, "right-update");
        fk_step_t *resp = fk_step(b, &response_class, base, "response");
        char *reg_src =
                ks__dsl_name_of(b, base, "subscription-registration-source");
        char *resp_src =
                ks__dsl_name_of(b, base, "subscription-response-source");
        if (!sub || !recv || !upd || !resp || !reg_src || !resp_src)
                goto out;
        sub->base.opaque = opaque;
        sub->fk_extractor = fk_extractor;
        sub->base.store = ks__dsl_name_of(b, base, "fk-prev");
        sub->sub_sink =
                ks__dsl_name_of(b, base, "subscription-registration-sink");
        sub->resp_step = ks__strdup(resp->base.name);
        recv->base.store = ks__dsl_name_of(b, base, "subscriptions");
        recv->right = ks__strdup(right->store);
        recv->resp_sink =
                ks__dsl_name_of(b, base, "subscription-response-sink");
        upd->base.store = ks__strdup(recv->base.store);
        upd->resp_sink = ks__strdup(recv->resp_sink);
        resp->base.opaque = opaque;
        resp->base.store = ks__strdup(left->store);
        resp->base.timestamped = 1; /* the left table's store */
        resp->joiner = joiner;
        resp->kind = kind;
        if (!sub->base.store || !sub->sub_sink || !sub->resp_step ||
            !recv->base.store || !recv->right || !recv->resp_sink ||
            !upd->base.store || !upd->resp_sink || !resp->base.store) {
                ks__dsl_oom(b);
                goto out;
        }
        if (!ks__dsl_add_store(b, sub->base.store, sub->base.store, 0) ||
            !ks__dsl_add_store(b, recv->base.store, recv->base.store, 0))
                goto out;
        /* Left side: subscribe; right side: receive and answer. The steps
         * stay valid once added: the topology owns them. */
        const fk_step_t *s1 = sub, *s2 = recv, *s3 = upd, *s4 = resp;
        const char *lp[] = {left->node};
        const char *rp[] = {right->node};
        const char *regp[] = {reg_src};
        const char *respp[] = {resp_src, s1->base.name};
        const char *subp[] = {s1->base.name};
        const char *answerers[] = {s2->base.name, s3->base.name};
        if (!fk_add(b, &sub, lp, 1) ||
            !fk_topic(b, base, "subscription-registration", subp, 1) ||
            !fk_add(b, &recv, regp, 1) || !fk_add(b, &upd, rp, 1) ||
            !fk_topic(b, base, "subscription-response", answerers, 2) ||
            !fk_add(b, &resp, respp, 2))
                goto out;
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_connect_store(b->topo, s2->right,
                                                 s2->base.name, &e);
        if (ks__dsl_failed_call(b, err, e, s2->base.name))
                goto out;
        char *node = ks__strdup(s4->base.name);
        if (!node)
                ks__dsl_oom(b);
        t = ks__dsl_table_new(b, node, NULL, left->key_serde, NULL);
out:
        ks__dsl_step_free(sub);
        ks__dsl_step_free(recv);
        ks__dsl_step_free(upd);
        ks__dsl_step_free(resp);
        free(reg_src);
        free(resp_src);
        free(base);
        return t;
}
