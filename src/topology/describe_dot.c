/* The topology as a Graphviz graph (ks_topology_describe_dot()): each
 * sub-topology a cluster of its nodes, topics as ellipses shared between
 * the sub-topologies that write and read them (internal ones dashed),
 * state stores as cylinders next to the processors that use them, global
 * stores with their topics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/util_int.h"
#include "topology_int.h"

typedef struct {
        ks_buf_t *b;
        int failed;
} out_t;

static void put(out_t *o, const char *fmt, ...) KS_PRINTF(2, 3);
static void put(out_t *o, const char *fmt, ...) {
        char line[512];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n >= 0 &&
            ks_buf_append(o->b, line,
                          (size_t)n < sizeof(line) ? (size_t)n
                                                   : sizeof(line) - 1))
                o->failed = 1;
}

/* A quoted DOT id: @p prefix then @p name with '"' and '\' escaped. */
static void put_id(out_t *o, const char *prefix, const char *name) {
        put(o, "\"%s", prefix);
        for (const char *p = name; *p; p++)
                put(o, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
        put(o, "\"");
}

static void put_topic(out_t *o, const char *topic, int internal) {
        put_id(o, "topic:", topic);
        put(o, " [shape=ellipse, label=");
        put_id(o, "", topic);
        put(o, internal ? ", style=dashed];\n" : "];\n");
}

static void node_line(out_t *o, ks_topology_t *topo, const ks__node_t *n) {
        put(o, "    ");
        put_id(o, "node:", n->name);
        static const char *const kind[] = {"source", "processor", "sink"};
        put(o, " [shape=%s, label=",
            n->kind == KS_NODE_PROCESSOR ? "box" : "box, style=rounded");
        put(o, "\"%s\\n", kind[n->kind]);
        for (const char *p = n->name; *p; p++)
                put(o, "%s%c", *p == '"' || *p == '\\' ? "\\" : "", *p);
        put(o, "\"];\n");
        (void)topo;
}

static void edges(out_t *o, ks_topology_t *topo, const ks__node_t *n) {
        if (n->kind == KS_NODE_SOURCE)
                for (size_t j = 0; j < n->topic_cnt; j++) {
                        put(o, "  ");
                        put_id(o, "topic:", n->topics[j]);
                        put(o, " -> ");
                        put_id(o, "node:", n->name);
                        put(o, ";\n");
                }
        if (n->kind == KS_NODE_SINK && n->topic) {
                put(o, "  ");
                put_id(o, "node:", n->name);
                put(o, " -> ");
                put_id(o, "topic:", n->topic);
                put(o, ";\n");
        }
        for (size_t j = 0; j < n->child_cnt; j++) {
                put(o, "  ");
                put_id(o, "node:", n->name);
                put(o, " -> ");
                put_id(o, "node:", n->children[j]->name);
                put(o, ";\n");
        }
        for (size_t j = 0; j < n->store_cnt; j++) {
                put(o, "  ");
                put_id(o, "node:", n->name);
                put(o, " -> ");
                put_id(o, "store:", topo->stores[n->stores[j]].name);
                put(o, " [dir=both, style=dotted];\n");
        }
}

static int store_used(const ks_topology_t *topo, size_t store) {
        for (size_t s = 0; s < topo->sub_cnt; s++)
                for (size_t i = 0; i < topo->subs[s].node_cnt; i++) {
                        const ks__node_t *n = topo->subs[s].nodes[i];
                        for (size_t j = 0; j < n->store_cnt; j++)
                                if (n->stores[j] == store)
                                        return 1;
                }
        return 0;
}

ks_err_t ks_topology_describe_dot(ks_topology_t *topo, char **outp,
                                  ks_error_t **errp) {
        if (!topo || !outp)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "describe needs a topology and an "
                                     "output pointer");
        ks_err_t err = ks_topology_build(topo, errp);
        if (err)
                return err;
        out_t o = {ks_buf_new(), 0};
        if (!o.b)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        put(&o, "digraph topology {\n  rankdir=LR;\n"
                "  node [fontname=\"Helvetica\", fontsize=10];\n");
        for (size_t s = 0; s < topo->sub_cnt; s++) {
                const ks__subtopology_t *st = &topo->subs[s];
                put(&o,
                    "  subgraph cluster_%d {\n    label=\"Sub-topology "
                    "%d\";\n    style=rounded;\n",
                    st->id, st->id);
                for (size_t i = 0; i < st->node_cnt; i++)
                        node_line(&o, topo, st->nodes[i]);
                put(&o, "  }\n");
        }
        for (size_t s = 0; s < topo->sub_cnt; s++) {
                const ks__subtopology_t *st = &topo->subs[s];
                for (size_t i = 0; i < st->node_cnt; i++) {
                        const ks__node_t *n = st->nodes[i];
                        for (size_t j = 0;
                             n->kind == KS_NODE_SOURCE && j < n->topic_cnt; j++)
                                put_topic(&o, n->topics[j], n->internal);
                        if (n->kind == KS_NODE_SINK && n->topic)
                                put_topic(&o, n->topic, n->internal);
                        edges(&o, topo, n);
                }
        }
        /* The stores processors use (the runtime's own are left out). */
        for (size_t i = 0; i < topo->store_cnt; i++) {
                if (!store_used(topo, i))
                        continue;
                put(&o, "  ");
                put_id(&o, "store:", topo->stores[i].name);
                put(&o, " [shape=cylinder, label=");
                put_id(&o, "", topo->stores[i].name);
                put(&o, "];\n");
        }
        for (size_t i = 0; i < topo->global_cnt; i++) {
                put_topic(&o, topo->globals[i].topic, 0);
                put(&o, "  ");
                put_id(&o, "store:", topo->globals[i].store);
                put(&o, " [shape=cylinder, label=\"global\\n");
                for (const char *p = topo->globals[i].store; *p; p++)
                        put(&o, "%s%c", *p == '"' || *p == '\\' ? "\\" : "",
                            *p);
                put(&o, "\"];\n  ");
                put_id(&o, "topic:", topo->globals[i].topic);
                put(&o, " -> ");
                put_id(&o, "store:", topo->globals[i].store);
                put(&o, ";\n");
        }
        put(&o, "}\n");
        char *out = o.failed ? NULL : malloc(ks_buf_len(o.b) + 1);
        if (out) {
                memcpy(out, ks_buf_data(o.b), ks_buf_len(o.b));
                out[ks_buf_len(o.b)] = '\0';
        }
        ks_buf_destroy(o.b);
        if (!out)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        *outp = out;
        return KS_ERR_NO_ERROR;
}
