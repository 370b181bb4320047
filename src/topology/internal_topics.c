/* Internal topics: binding the repartition topics to the application.id,
 * and the list of internal topics the application checks and creates.
 *
 * An internal source or sink holds its topic as "<suffix>" until
 * ks__topology_bind() prefixes "<application.id>-", once per topology and
 * under a lock (the application and the test driver may bind from
 * different threads; another id is refused), after checking every new
 * name. The internal-topic list is derived from the built topology each
 * time it is asked: the repartition topics first (one per internal sink,
 * in node order), then the changelog of each logged store connected to a
 * sub-topology (in store order; a table's store whose changelog is its
 * source topic has none), each with the configs it is created with
 * (ks__topology_internal_config()). */
#include "topology_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"

#define OOM(errp) ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory")

static char *prefixed(const char *app_id, const char *suffix) {
        size_t n = strlen(app_id) + strlen(suffix) + 2;
        char *s = malloc(n);
        if (s)
                snprintf(s, n, "%s-%s", app_id, suffix);
        return s;
}

ks_err_t ks__topology_bind(ks_topology_t *topo, const char *app_id,
                           ks_error_t **errp) {
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        if (!topo->built)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "the topology is not built");
        pthread_mutex_lock(&lock);
        ks_err_t err = KS_ERR_NO_ERROR;
        int any = 0;
        for (size_t i = 0; i < topo->node_cnt; i++)
                any |= topo->nodes[i]->internal;
        if (!any) {
                /* nothing to bind */
        } else if (topo->bound_app) {
                if (strcmp(topo->bound_app, app_id))
                        err = ks__error_set(
                                errp, KS_ERR_STATE,
                                "this topology's internal topics belong to "
                                "application.id \"%s\"; build another "
                                "topology for \"%s\"",
                                topo->bound_app, app_id);
        } else {
                /* Every name must be valid before any changes. */
                for (size_t i = 0; !err && i < topo->node_cnt; i++) {
                        ks__node_t *n = topo->nodes[i];
                        if (!n->internal)
                                continue;
                        char *full = prefixed(app_id, n->kind == KS_NODE_SINK
                                                              ? n->topic
                                                              : n->topics[0]);
                        if (!full)
                                err = OOM(errp);
                        else
                                err = ks__topic_name_check(
                                        full, "internal topic", errp);
                        free(full);
                }
                for (size_t i = 0; !err && i < topo->node_cnt; i++) {
                        ks__node_t *n = topo->nodes[i];
                        if (!n->internal)
                                continue;
                        char **slot = n->kind == KS_NODE_SINK ? &n->topic
                                                              : &n->topics[0];
                        size_t cnt = n->kind == KS_NODE_SINK ? 1 : n->topic_cnt;
                        for (size_t j = 0; !err && j < cnt; j++) {
                                char *full = prefixed(app_id, slot[j]);
                                if (!full)
                                        err = OOM(errp);
                                else {
                                        free(slot[j]);
                                        slot[j] = full;
                                }
                        }
                }
                if (!err && !(topo->bound_app = ks__strdup(app_id)))
                        err = OOM(errp);
        }
        pthread_mutex_unlock(&lock);
        return err;
}

/* The i-th logged store connected to a sub-topology, or NULL. */
static const ks__store_def_t *internal_store(const ks_topology_t *topo,
                                             size_t i) {
        for (size_t k = 0; k < topo->store_cnt; k++) {
                const ks__store_def_t *d = &topo->stores[k];
                if ((d->flags & KS_STORE_F_LOGGING_DISABLED) ||
                    d->subtopology < 0 || d->source_topic)
                        continue;
                if (i-- == 0)
                        return d;
        }
        return NULL;
}

/* The i-th internal sink: each writes one repartition topic. */
static const ks__node_t *repartition_sink(const ks_topology_t *topo, size_t i) {
        for (size_t k = 0; k < topo->node_cnt; k++) {
                const ks__node_t *n = topo->nodes[k];
                if (n->kind == KS_NODE_SINK && n->internal && i-- == 0)
                        return n;
        }
        return NULL;
}

static size_t repartition_count(const ks_topology_t *topo) {
        size_t n = 0;
        while (repartition_sink(topo, n))
                n++;
        return n;
}

size_t ks_topology_internal_topic_count(const ks_topology_t *topo) {
        if (!topo || !topo->built)
                return 0;
        size_t n = 0;
        while (internal_store(topo, n))
                n++;
        return repartition_count(topo) + n;
}

int ks__topology_internal_reader(const ks_topology_t *topo, size_t i) {
        const ks__node_t *sink = repartition_sink(topo, i);
        const ks__node_t *src =
                sink ? ks__topology_source_for(topo, sink->topic) : NULL;
        return src ? src->subtopology : -1;
}

int ks__topology_internal_partitions(const ks_topology_t *topo, size_t i) {
        const ks__node_t *sink = repartition_sink(topo, i);
        return sink ? sink->partitions : 0;
}

ks_err_t ks__topology_internal_config(const ks_topology_t *topo, size_t i,
                                      int64_t additional_retention_ms,
                                      ks__topic_config_t *cfgp) {
        size_t rcnt = repartition_count(topo);
        cfgp->retention_ms = -1;
        if (i < rcnt) {
                cfgp->cleanup_policy = "delete";
                return KS_ERR_NO_ERROR;
        }
        const ks__store_def_t *d = internal_store(topo, i - rcnt);
        if (!d)
                return KS_ERR_INVALID_ARG;
        /* A versioned store's versions are keys of their own: compaction
         * keeps every version it has not dropped. */
        if (d->type == KS_STORE_TYPE_KEY_VALUE ||
            d->type == KS_STORE_TYPE_TIMESTAMPED_KV ||
            d->type == KS_STORE_TYPE_VERSIONED_KV) {
                cfgp->cleanup_policy = "compact";
                return KS_ERR_NO_ERROR;
        }
        /* Compaction keeps each window's latest value; deletion by time
         * drops the windows the store has dropped (it never logs that),
         * with some slack for stream time running behind. */
        cfgp->cleanup_policy = "compact,delete";
        cfgp->retention_ms =
                ks__ts_add(d->retention_ms, additional_retention_ms);
        return KS_ERR_NO_ERROR;
}

/* A source topic of sub-topology @p sub (borrowed), or NULL. */
static const char *sub_source_topic(const ks_topology_t *topo, int sub) {
        const ks__subtopology_t *st = &topo->subs[sub];
        for (size_t k = 0; k < st->node_cnt; k++)
                if (st->nodes[k]->kind == KS_NODE_SOURCE &&
                    st->nodes[k]->topic_cnt)
                        return st->nodes[k]->topics[0];
        return NULL;
}

/* The name of an internal topic after the application id: the node's
 * topic before binding, the topic less its prefix after. */
static const char *unbound(const ks_topology_t *topo, const char *topic) {
        if (!topo->bound_app)
                return topic;
        return topic + strlen(topo->bound_app) + 1;
}

ks_err_t ks_topology_internal_topic(const ks_topology_t *topo,
                                    const char *app_id, size_t i, char *buf,
                                    size_t size, const char **source_topicp) {
        if (!topo || !app_id || !buf)
                return KS_ERR_INVALID_ARG;
        if (!topo->built)
                return KS_ERR_STATE;
        size_t rcnt = repartition_count(topo);
        int n, sub;
        if (i < rcnt) {
                const ks__node_t *sink = repartition_sink(topo, i);
                n = snprintf(buf, size, "%s-%s", app_id,
                             unbound(topo, sink->topic));
                sub = sink->subtopology;
        } else {
                const ks__store_def_t *d = internal_store(topo, i - rcnt);
                if (!d)
                        return KS_ERR_INVALID_ARG;
                n = snprintf(buf, size, "%s-%s-changelog", app_id, d->name);
                sub = d->subtopology;
        }
        if (n < 0 || (size_t)n >= size)
                return KS_ERR_INVALID_ARG;
        if (source_topicp)
                *source_topicp = sub_source_topic(topo, sub);
        return KS_ERR_NO_ERROR;
}

int ks__topology_is_internal_topic(const ks_topology_t *topo,
                                   const char *app_id, const char *topic) {
        char buf[512];
        size_t n = ks_topology_internal_topic_count(topo);
        for (size_t i = 0; i < n; i++)
                if (!ks_topology_internal_topic(topo, app_id, i, buf,
                                                sizeof(buf), NULL) &&
                    !strcmp(buf, topic))
                        return 1;
        return 0;
}
