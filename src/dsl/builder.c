/* The DSL builder: its topology, first error, handles, names, stores and
 * internal topics.
 *
 * A builder owns a topology under construction, the handles it gave out
 * (a singly linked list, each with its own free function) and a reference
 * to every serde a handle points to. Step names come from one counter:
 * every step takes an index whether or not it is named, so naming one step
 * never changes the default names of the others ("<KIND>-<index>", index
 * in ten digits, as Kafka Streams). The first error is kept; once it is
 * set, or once the topology is built, no step is added. */
#include "dsl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../serde/serde_int.h"

void ks__dsl_fail(ks_builder_t *b, ks_err_t code, const char *fmt, ...) {
        if (b->err)
                return;
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(&b->err, code, 0, fmt, ap);
        va_end(ap);
}

void ks__dsl_oom(ks_builder_t *b) {
        ks__dsl_fail(b, KS_ERR_NO_MEMORY, "out of memory");
}

int ks__dsl_failed_call(ks_builder_t *b, ks_err_t err, ks_error_t *e,
                        const char *what) {
        if (!err) {
                ks_error_destroy(e);
                return 0;
        }
        ks__dsl_fail(b, err, "%s: %s", what,
                     e ? ks_error_message(e) : ks_err2str(err));
        ks_error_destroy(e);
        return 1;
}

ks_builder_t *ks_builder_new(void) {
        ks_builder_t *b = calloc(1, sizeof(*b));
        if (b && !(b->topo = ks_topology_new())) {
                free(b);
                return NULL;
        }
        return b;
}

void ks_builder_destroy(ks_builder_t *b) {
        if (!b)
                return;
        while (b->handles) {
                ks__dsl_handle_t *h = b->handles;
                b->handles = h->next;
                h->free_fn(h);
        }
        for (size_t i = 0; i < b->serde_cnt; i++)
                ks_serde_destroy(b->serdes[i]);
        free(b->serdes);
        ks_error_destroy(b->err);
        ks_topology_destroy(b->topo);
        free(b);
}

ks_topology_t *ks_builder_topology(ks_builder_t *b) {
        return b ? b->topo : NULL;
}

ks_err_t ks_builder_build(ks_builder_t *b, ks_topology_t **topop,
                          ks_error_t **errp) {
        if (!b || !topop)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "build needs a builder and a topology "
                                     "pointer");
        if (b->err)
                return ks__error_set(errp, ks_error_code(b->err), "%s",
                                     ks_error_message(b->err));
        ks_err_t err = ks_topology_build(b->topo, errp);
        if (err)
                return err;
        b->built = 1;
        *topop = ks__topology_ref(b->topo);
        return KS_ERR_NO_ERROR;
}

int ks__dsl_usable(ks_builder_t *b, const char *what) {
        if (!b)
                return 0;
        if (b->built)
                ks__dsl_fail(b, KS_ERR_STATE,
                             "%s: the builder has built its topology", what);
        return !b->err;
}

int ks__dsl_start(ks_builder_t *b, const char *what, const void *cb,
                  const char *cb_name) {
        return ks__dsl_usable(b, what) &&
               (!cb_name || ks__dsl_need(b, cb, what, cb_name));
}

ks_builder_t *ks__dsl_stream_start(ks_stream_t *s, const char *what) {
        return s && ks__dsl_usable(s->b, what) ? s->b : NULL;
}

int ks__dsl_need(ks_builder_t *b, const void *p, const char *what,
                 const char *arg) {
        if (!p)
                ks__dsl_fail(b, KS_ERR_INVALID_ARG, "%s: %s may not be NULL",
                             what, arg);
        return p != NULL;
}

ks_serde_t *ks__dsl_keep_serde(ks_builder_t *b, ks_serde_t *s) {
        if (!s)
                return NULL;
        ks_serde_t **v =
                realloc(b->serdes, (b->serde_cnt + 1) * sizeof(*b->serdes));
        if (!v) {
                ks__dsl_oom(b);
                return NULL;
        }
        b->serdes = v;
        b->serdes[b->serde_cnt++] = ks__serde_ref(s);
        return s;
}

void *ks__dsl_handle_new(ks_builder_t *b, size_t size,
                         void (*free_fn)(void *)) {
        ks__dsl_handle_t *h = calloc(1, size);
        if (!h) {
                ks__dsl_oom(b);
                return NULL;
        }
        h->free_fn = free_fn;
        h->next = b->handles;
        b->handles = h;
        return h;
}

void *ks__dsl_node_handle(ks_builder_t *b, size_t size, void (*free_fn)(void *),
                          char *node) {
        void *h = node ? ks__dsl_handle_new(b, size, free_fn) : NULL;
        if (!h)
                free(node);
        return h;
}

/* A copy of @p s, or NULL with the builder failed. */
static char *dup_or_fail(ks_builder_t *b, const char *s) {
        char *d = ks__strdup(s);
        if (!d)
                ks__dsl_oom(b);
        return d;
}

char *ks__dsl_name(ks_builder_t *b, const char *user, const char *kind) {
        int index = b->index++;
        char buf[64];
        if (!user || !*user)
                snprintf(buf, sizeof(buf), "%.40s-%010d", kind, index);
        return dup_or_fail(b, user && *user ? user : buf);
}

char *ks__dsl_name_of(ks_builder_t *b, const char *base, const char *suffix) {
        char n[400];
        snprintf(n, sizeof(n), "%s-%s", base, suffix);
        return dup_or_fail(b, n);
}

char *ks__dsl_store_name(ks_builder_t *b, const char *user,
                         const char *prefix) {
        char buf[300];
        snprintf(buf, sizeof(buf), "%s-STATE-STORE-%010d", prefix, b->index++);
        return dup_or_fail(b, user ? user : buf);
}

int ks__dsl_add_store(ks_builder_t *b, const char *name, const char *what,
                      int timestamped) {
        ks_error_t *e = NULL;
        ks_err_t err =
                timestamped ? ks_topology_add_timestamped_kv_store(
                                      b->topo, name, KS_STORE_ROCKSDB, 0, &e)
                            : ks_topology_add_kv_store(b->topo, name,
                                                       KS_STORE_ROCKSDB, 0, &e);
        return !ks__dsl_failed_call(b, err, e, what);
}

int ks__dsl_add_versioned_store(ks_builder_t *b, const char *name,
                                const char *what, int64_t history_ms) {
        ks_error_t *e = NULL;
        ks_err_t err = ks_topology_add_versioned_kv_store(
                b->topo, name, KS_STORE_ROCKSDB, history_ms, 0, &e);
        return !ks__dsl_failed_call(b, err, e, what);
}

/* ks__dsl_own_store(), the store a versioned one if @p history_ms > 0. */
static int own_store(ks_builder_t *b, ks__dsl_step_t *st, const char *user,
                     const char *prefix, int64_t history_ms) {
        st->timestamped = !history_ms;
        st->versioned = history_ms > 0;
        if (!(st->store = ks__dsl_store_name(b, user, prefix)) ||
            !(history_ms ? ks__dsl_add_versioned_store(b, st->store, st->name,
                                                       history_ms)
                         : ks__dsl_add_store(b, st->store, st->name, 1))) {
                ks__dsl_step_free(st);
                return 0;
        }
        return 1;
}

int ks__dsl_own_store(ks_builder_t *b, ks__dsl_step_t *st, const char *user,
                      const char *prefix) {
        return own_store(b, st, user, prefix, 0);
}

int ks__dsl_own_versioned_store(ks_builder_t *b, ks__dsl_step_t *st,
                                const char *user, const char *prefix,
                                int64_t history_ms) {
        return own_store(b, st, user, prefix, history_ms);
}

char *ks__dsl_internal_topic(ks_builder_t *b, const char *topic,
                             const char *const *parents, size_t parent_cnt,
                             int partitions, ks_serde_t *key_serde,
                             ks_serde_t *value_serde) {
        char sink[420], src[420]; /* topic names are at most 400 bytes */
        snprintf(sink, sizeof(sink), "%s-sink", topic);
        snprintf(src, sizeof(src), "%s-source", topic);
        const char *topics[] = {topic};
        ks_error_t *e = NULL;
        ks_err_t err =
                ks_topology_add_sink(b->topo, sink, topic, key_serde,
                                     value_serde, parents, parent_cnt, &e);
        if (ks__dsl_failed_call(b, err, e, sink))
                return NULL;
        ks__topology_set_internal(b->topo, sink);
        ks__topology_node(b->topo, sink)->partitions = partitions;
        err = ks_topology_add_source(b->topo, src, topics, 1, key_serde,
                                     value_serde, &e);
        if (ks__dsl_failed_call(b, err, e, src))
                return NULL;
        ks__topology_set_internal(b->topo, src);
        return dup_or_fail(b, src);
}

char *ks__dsl_repartition(ks_builder_t *b, const char *parent, const char *base,
                          int partitions, ks_serde_t *ks, ks_serde_t *vs) {
        char topic[300];
        snprintf(topic, sizeof(topic), "%s-repartition", base);
        const char *parents[] = {parent};
        return ks__dsl_internal_topic(b, topic, parents, 1, partitions, ks, vs);
}

static void stream_free(void *p) {
        ks_stream_t *s = p;
        free(s->node);
        free(s);
}

static void table_free(void *p) {
        ks_table_t *t = p;
        free(t->node);
        free(t->store);
        free(t->windows);
        free(t);
}

ks_stream_t *ks__dsl_stream_new(ks_builder_t *b, char *node, ks_serde_t *ks,
                                ks_serde_t *vs, int repartition_required) {
        ks_stream_t *s = ks__dsl_node_handle(b, sizeof(*s), stream_free, node);
        if (s)
                *s = (ks_stream_t){s->h, b, node, ks, vs, repartition_required};
        return s;
}

ks_table_t *ks__dsl_table_new(ks_builder_t *b, char *node, const char *store,
                              ks_serde_t *ks, ks_serde_t *vs) {
        ks_table_t *t = ks__dsl_node_handle(b, sizeof(*t), table_free, node);
        if (t)
                *t = (ks_table_t){.h = t->h,
                                  .b = b,
                                  .node = node,
                                  .store = store ? dup_or_fail(b, store) : NULL,
                                  .key_serde = ks,
                                  .value_serde = vs};
        return t;
}
