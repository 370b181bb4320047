/* Text description of a built topology, in the layout of Kafka Streams'
 * TopologyDescription: one block per sub-topology, one entry per node with
 * its topics or stores, children (-->) and parents (<--). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/util_int.h"
#include "../serde/serde_int.h"
#include "topology_int.h"

static void put(ks_buf_t *b, int *failed, const char *fmt, ...) KS_PRINTF(3, 4);
static void put(ks_buf_t *b, int *failed, const char *fmt, ...) {
        char line[1024];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (ks_buf_append(b, line,
                          (size_t)n < sizeof(line) ? (size_t)n
                                                   : sizeof(line) - 1))
                *failed = 1;
}

static void put_list(ks_buf_t *b, int *failed, const char *arrow,
                     ks__node_t **nodes, size_t cnt) {
        put(b, failed, "      %s ", arrow);
        if (!cnt)
                put(b, failed, "none");
        for (size_t i = 0; i < cnt; i++)
                put(b, failed, "%s%s", i ? ", " : "", nodes[i]->name);
        put(b, failed, "\n");
}

ks_err_t ks_topology_describe(ks_topology_t *topo, char **outp,
                              ks_error_t **errp) {
        if (!topo || !outp)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "describe needs a topology and an "
                                     "output pointer");
        ks_err_t err = ks_topology_build(topo, errp);
        if (err)
                return err;
        ks_buf_t *b = ks_buf_new();
        int failed = !b;
        if (failed)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        put(b, &failed, "Topologies:\n");
        for (size_t s = 0; s < topo->sub_cnt; s++) {
                ks__subtopology_t *st = &topo->subs[s];
                put(b, &failed, "   Sub-topology: %d\n", st->id);
                for (size_t i = 0; i < st->node_cnt; i++) {
                        ks__node_t *n = st->nodes[i];
                        switch (n->kind) {
                        case KS_NODE_SOURCE:
                                put(b, &failed, "    Source: %s (topics: [",
                                    n->name);
                                for (size_t j = 0; j < n->topic_cnt; j++)
                                        put(b, &failed, "%s%s", j ? ", " : "",
                                            n->topics[j]);
                                put(b, &failed, "])\n");
                                break;
                        case KS_NODE_PROCESSOR:
                                put(b, &failed, "    Processor: %s (stores: [",
                                    n->name);
                                for (size_t j = 0; j < n->store_cnt; j++)
                                        put(b, &failed, "%s%s", j ? ", " : "",
                                            topo->stores[n->stores[j]].name);
                                put(b, &failed, "])\n");
                                break;
                        case KS_NODE_SINK:
                                if (n->topic)
                                        put(b, &failed,
                                            "    Sink: %s (topic: %s)\n",
                                            n->name, n->topic);
                                else
                                        put(b, &failed,
                                            "    Sink: %s (topic chosen per "
                                            "record)\n",
                                            n->name);
                                break;
                        }
                        if (n->kind != KS_NODE_SINK)
                                put_list(b, &failed, "-->", n->children,
                                         n->child_cnt);
                        if (n->kind != KS_NODE_SOURCE)
                                put_list(b, &failed, "<--", n->parents,
                                         n->parent_cnt);
                }
                put(b, &failed, "\n");
        }
        for (size_t i = 0; i < topo->global_cnt; i++)
                put(b, &failed, "   Global store: %s (topic: %s)\n",
                    topo->globals[i].store, topo->globals[i].topic);
        /* Timestamped stores, and versioned, window and session stores
         * with their time parameters. */
        for (size_t i = 0; i < topo->store_cnt; i++) {
                const ks__store_def_t *d = &topo->stores[i];
                if (d->type == KS_STORE_TYPE_WINDOW)
                        put(b, &failed,
                            "   Window store: %s (window size: %lld ms, "
                            "retention: %lld ms%s)\n",
                            d->name, (long long)d->window_size_ms,
                            (long long)d->retention_ms,
                            (d->flags & KS_STORE_F_RETAIN_DUPLICATES)
                                    ? ", duplicates retained"
                                    : "");
                else if (d->type == KS_STORE_TYPE_SESSION)
                        put(b, &failed,
                            "   Session store: %s (retention: %lld ms)\n",
                            d->name, (long long)d->retention_ms);
                else if (d->type == KS_STORE_TYPE_TIMESTAMPED_KV)
                        put(b, &failed, "   Timestamped key-value store: %s\n",
                            d->name);
                else if (d->type == KS_STORE_TYPE_VERSIONED_KV)
                        put(b, &failed,
                            "   Versioned key-value store: %s (history "
                            "retention: %lld ms)\n",
                            d->name, (long long)d->retention_ms);
        }
        char *out = failed ? NULL : malloc(ks_buf_len(b) + 1);
        if (out) {
                memcpy(out, ks_buf_data(b), ks_buf_len(b));
                out[ks_buf_len(b)] = '\0';
        }
        ks_buf_destroy(b);
        if (!out)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        *outp = out;
        return KS_ERR_NO_ERROR;
}
