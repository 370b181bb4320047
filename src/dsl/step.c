/* What every DSL step shares: its base and class, adding it to the
 * topology, its per-task state, the emitter mappers answer through and the
 * checks on what they did.
 *
 * A step is added once: from then on the topology owns it and frees it
 * with ks__dsl_step_free(), which calls the class's free for the family's
 * own fields. The emitter forwards what a mapper emits at once, or keeps
 * it (capture) for steps that do more with it (group_by, joins); either
 * way it counts the calls, so a step can demand exactly one, and it
 * refuses an emit call other than the one the step takes. */
#include "dsl_int.h"

#include <stdarg.h>
#include <stdlib.h>

/* --- steps --------------------------------------------------------------- */

void *ks__dsl_step_named(ks_builder_t *b, const ks__dsl_class_t *cls,
                         size_t size, char *name, void *opaque) {
        if (!name)
                return NULL;
        ks__dsl_step_t *st = calloc(1, size);
        if (!st) {
                free(name);
                ks__dsl_oom(b);
                return NULL;
        }
        st->cls = cls;
        st->name = name;
        st->opaque = opaque;
        return st;
}

void *ks__dsl_step_new(ks_builder_t *b, const ks__dsl_class_t *cls, size_t size,
                       const char *user, const char *kind, void *opaque) {
        return ks__dsl_step_named(b, cls, size, ks__dsl_name(b, user, kind),
                                  opaque);
}

void ks__dsl_step_free(void *p) {
        ks__dsl_step_t *st = p;
        if (!st)
                return;
        if (st->cls->free)
                st->cls->free(st);
        free(st->name);
        free(st->store);
        free(st);
}

ks__dsl_step_t *ks__dsl_add_step(ks_builder_t *b, void *p,
                                 const char *const *parents,
                                 size_t parent_cnt) {
        ks__dsl_step_t *st = p;
        const ks__dsl_class_t *cls = st->cls;
        ks_error_t *e = NULL;
        ks_err_t err = ks__topology_own(b->topo, st, ks__dsl_step_free);
        if (err) {
                ks__dsl_oom(b);
                return NULL;
        }
        err = ks_topology_add_processor(b->topo, st->name, cls->init,
                                        cls->process, cls->close, st, parents,
                                        parent_cnt, &e);
        if (!err && st->store)
                err = ks_topology_connect_store(b->topo, st->store, st->name,
                                                &e);
        if (ks__dsl_failed_call(b, err, e, st->name))
                return NULL;
        if (cls->flush)
                ks__topology_set_flush(b->topo, st->name, cls->flush);
        return st;
}

char *ks__dsl_add_node(ks_builder_t *b, void *p, const char *const *parents,
                       size_t parent_cnt) {
        ks__dsl_step_t *st = p;
        if (!st)
                return NULL;
        char *name = ks__strdup(st->name);
        if (!name) {
                ks__dsl_step_free(st);
                ks__dsl_oom(b);
                return NULL;
        }
        if (!ks__dsl_add_step(b, st, parents, parent_cnt)) {
                free(name);
                return NULL;
        }
        return name;
}

char *ks__dsl_chain(ks_builder_t *b, const char *parent, void *st) {
        const char *parents[] = {parent};
        return ks__dsl_add_node(b, st, parents, 1);
}

/* --- per-task state ------------------------------------------------------ */

static void state_free(ks__dsl_state_t *in) {
        ks_headers_destroy(in->no_headers);
        ks_buf_destroy(in->buf);
        ks_buf_destroy(in->buf2);
        ks_buf_destroy(in->row);
        free(in);
}

/* Open the step's store in this task: a table's timestamped or versioned
 * store (and the key-value handle under it), or a key-value store. */
static ks_err_t open_store(ks_context_t *ctx, const ks__dsl_step_t *st,
                           ks__dsl_state_t *in) {
        if (st->versioned) {
                ks_err_t err = ks_context_get_versioned_kv_store(ctx, st->store,
                                                                 &in->versions);
                if (!err)
                        in->store = ks__versioned_kv_store_kv(in->versions);
                return err;
        }
        if (!st->timestamped)
                return ks_context_get_kv_store(ctx, st->store, &in->store);
        ks_err_t err =
                ks_context_get_timestamped_kv_store(ctx, st->store, &in->rows);
        if (!err)
                in->store = ks__timestamped_kv_store_kv(in->rows);
        return err;
}

ks_err_t ks__dsl_init(ks_context_t *ctx, void *opaque, void **statep) {
        const ks__dsl_step_t *st = opaque;
        const ks__dsl_class_t *cls = st->cls;
        ks__dsl_state_t *in =
                calloc(1, cls->state_size ? cls->state_size : sizeof(*in));
        if (!in)
                return KS_ERR_NO_MEMORY;
        in->step = st;
        ks_err_t err = st->store ? open_store(ctx, st, in) : KS_ERR_NO_ERROR;
        if (err)
                err = ks_context_set_error(ctx, "step %s: store %s: %s",
                                           st->name, st->store,
                                           ks_err2str(err));
        else if (!(in->buf = ks_buf_new()) || !(in->buf2 = ks_buf_new()) ||
                 !(in->no_headers = ks_headers_new()) ||
                 (in->rows && !(in->row = ks_buf_new())))
                err = KS_ERR_NO_MEMORY;
        else if (cls->open && (err = cls->open(ctx, in)) && cls->release)
                cls->release(in);
        if (err) {
                state_free(in);
                return err;
        }
        *statep = in;
        return KS_ERR_NO_ERROR;
}

void ks__dsl_close(ks_context_t *ctx, void *state) {
        (void)ctx;
        ks__dsl_state_t *in = state;
        if (!in)
                return;
        if (in->step->cls->release)
                in->step->cls->release(in);
        state_free(in);
}

ks_err_t ks__dsl_init_stateless(ks_context_t *ctx, void *opaque,
                                void **statep) {
        (void)ctx;
        *statep = opaque;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__dsl_forward(ks_context_t *ctx, const ks_record_t *rec) {
        size_t klen, vlen;
        const void *key = ks_record_key(rec, &klen);
        const void *value = ks_record_value(rec, &vlen);
        return ks_context_forward(ctx, key, klen, value, vlen);
}

ks_err_t ks__dsl_lookup(ks_kv_store_t *store, const void *key, size_t klen,
                        const void **valuep, size_t *vlenp, int64_t *tsp) {
        /* The cache holds stored rows, as the store does. */
        const void *v;
        size_t vl;
        int64_t ts = -1;
        ks_err_t err = ks__record_cache_get(store, key, klen, &v, &vl);
        if (err == KS_ERR_NOT_FOUND) {
                v = NULL;
                vl = 0;
        } else if (err) {
                return err;
        } else if (!ks__ts_value_split(v, vl, &ts, &v, &vl)) {
                return KS_ERR_STORE;
        }
        *valuep = v;
        *vlenp = vl;
        if (tsp)
                *tsp = ts;
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__dsl_lookup_as_of(ks_versioned_kv_store_t *vs, const void *key,
                              size_t klen, int64_t as_of, const void **valuep,
                              size_t *vlenp) {
        ks_err_t err = ks_versioned_kv_store_get_as_of(
                vs, key, klen, as_of, valuep, vlenp, NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

ks_err_t ks__dsl_join_forward(ks_context_t *ctx, const ks__dsl_step_t *st,
                              ks_value_joiner_cb *joiner, const void *key,
                              size_t klen, const void *l, size_t ll,
                              const void *r, size_t rl, int64_t ts,
                              ks_buf_t *out) {
        ks_buf_reset(out);
        ks_err_t err = joiner(st->opaque, l, ll, r, rl, out);
        if (err)
                return ks_context_set_error(ctx,
                                            "step %s: the joiner failed (%s)",
                                            st->name, ks_err2str(err));
        return ks_context_forward_record(ctx, NULL, key, klen, ks_buf_data(out),
                                         ks_buf_len(out), ts, NULL);
}

/* --- the emitter --------------------------------------------------------- */

static const char *const emit_names[] = {
        [KS__EMIT] = "ks_emit()",
        [KS__EMIT_VALUE] = "ks_emit_value()",
        [KS__EMIT_KEY] = "ks_emit_key()",
};

void ks__dsl_emitter_init(ks_emitter_t *out, ks_context_t *ctx,
                          const ks_record_t *rec, ks__emit_t takes,
                          ks_buf_t *key, ks_buf_t *value) {
        *out = (ks_emitter_t){.ctx = ctx,
                              .rec = rec,
                              .takes = takes,
                              .key = key,
                              .value = value,
                              .key_null = 1,
                              .value_null = 1};
}

static ks_err_t emit_check(ks_emitter_t *out, ks__emit_t fn) {
        if (!out || !out->ctx)
                return KS_ERR_INVALID_ARG;
        if (fn != out->takes) {
                ks_emitter_set_error(out,
                                     "the mapper called %s; this step takes %s",
                                     emit_names[fn], emit_names[out->takes]);
                return KS_ERR_INVALID_ARG;
        }
        out->count++;
        return KS_ERR_NO_ERROR;
}

/* Keep @p data (NULL: a null) in @p buf. */
static ks_err_t capture(ks_buf_t *buf, int *nullp, const void *data,
                        size_t size) {
        *nullp = !data;
        ks_buf_reset(buf);
        return data ? ks_buf_append(buf, data, size) : KS_ERR_NO_ERROR;
}

ks_err_t ks_emit(ks_emitter_t *out, const void *key, size_t key_size,
                 const void *value, size_t value_size) {
        ks_err_t err = emit_check(out, KS__EMIT);
        if (err)
                return err;
        if (!out->key)
                return ks_context_forward(out->ctx, key, key_size, value,
                                          value_size);
        err = capture(out->key, &out->key_null, key, key_size);
        if (!err)
                err = capture(out->value, &out->value_null, value, value_size);
        return err;
}

ks_err_t ks_emit_value(ks_emitter_t *out, const void *value,
                       size_t value_size) {
        ks_err_t err = emit_check(out, KS__EMIT_VALUE);
        if (err)
                return err;
        size_t klen;
        const void *key = ks_record_key(out->rec, &klen);
        return ks_context_forward(out->ctx, key, klen, value, value_size);
}

ks_err_t ks_emit_key(ks_emitter_t *out, const void *key, size_t key_size) {
        ks_err_t err = emit_check(out, KS__EMIT_KEY);
        if (err)
                return err;
        if (out->key)
                return capture(out->key, &out->key_null, key, key_size);
        size_t vlen;
        const void *value = ks_record_value(out->rec, &vlen);
        return ks_context_forward(out->ctx, key, key_size, value, vlen);
}

ks_err_t ks_emitter_set_error(ks_emitter_t *out, const char *fmt, ...) {
        if (!out)
                return KS_ERR_PROCESSOR;
        va_list ap;
        va_start(ap, fmt);
        char *msg = ks__vstrdupf(fmt, ap);
        va_end(ap);
        free(out->error);
        out->error = msg;
        return KS_ERR_PROCESSOR;
}

ks_err_t ks__dsl_run_mapper(ks_context_t *ctx, const ks__dsl_step_t *st,
                            ks_mapper_cb *mapper, ks_emitter_t *out,
                            const ks__dsl_mapper_role_t *role) {
        ks_err_t err = mapper(st->opaque, out->rec, out);
        if (!err && role->once && out->count != 1)
                err = ks_context_set_error(ctx,
                                           "step %s: the %s must call %s "
                                           "exactly once per %s; it called "
                                           "it %d times",
                                           st->name, role->role,
                                           emit_names[out->takes], role->per,
                                           out->count);
        else if (err && (out->error || !role->keep_code))
                err = ks_context_set_error(ctx, "step %s: %s", st->name,
                                           out->error ? out->error
                                                      : ks_err2str(err));
        else if (err)
                ks_context_set_error(ctx, "step %s: the %s failed (%s)",
                                     st->name, role->role, ks_err2str(err));
        free(out->error);
        out->error = NULL;
        return err;
}
