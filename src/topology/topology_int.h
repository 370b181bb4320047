/* Topology internals: node and store definitions and the sub-topologies
 * computed by ks_topology_build().
 *
 * Before build, nodes refer to parents and stores by name only. Build
 * resolves the names into pointers, fills every node's children in the order
 * the children were added (the order records are forwarded in), checks the
 * graph, and groups nodes into sub-topologies (connected components of the
 * parent edges and store connections) numbered by their first node. A built
 * topology never changes again, so tasks on any thread may read it.
 *
 * The builder API is topology.c, the build build.c, the internal topics
 * internal_topics.c and describe() describe.c. */
#ifndef KS_TOPOLOGY_INT_H
#define KS_TOPOLOGY_INT_H

#include "kstreams/topology.h"

#include <sys/types.h>

#include "../common/error_int.h"

typedef enum {
        KS_NODE_SOURCE,
        KS_NODE_PROCESSOR,
        KS_NODE_SINK,
} ks__node_kind_t;

typedef struct ks__node_s ks__node_t;

/** A record handed to a processor (borrowed slices). The task makes them
 *  from its input; the DSL makes them for callbacks on rows it keeps. */
struct ks_record_s {
        const void *key;
        size_t klen;
        const void *value;
        size_t vlen;
        int64_t timestamp;
        const ks_headers_t *headers;
};

/** What a processor sends while @p on holds is not tied to the input
 *  record being processed (a record cache letting an older entry out): it
 *  carries no origin, so no replay is taken for a duplicate of it. Nests.
 *  Implemented by the task layer. */
void ks__context_detach_origin(ks_context_t *ctx, int on);

/** A record the current processor drops as too late for its window: logged
 *  at debug level with @p fmt and counted in the task's dropped-records
 *  (reason late). Implemented by the task layer. */
void ks__context_record_late(ks_context_t *ctx, const char *fmt, ...)
        KS_PRINTF(2, 3);

/** A record the current processor drops as a duplicate of one it let
 *  through (deduplication): counted in the task's dropped-records (reason
 *  duplicate), not logged (dropping duplicates is the step's work).
 *  Implemented by the task layer. */
void ks__context_record_duplicate(ks_context_t *ctx);

/** The topic of one record, for a sink without a fixed topic. */
typedef const char *(ks__topic_extractor_cb)(void *opaque,
                                             const ks_record_t *rec);

struct ks__node_s {
        char *name;
        ks__node_kind_t kind;
        size_t index;     /* insertion order */
        int subtopology;  /* after build */
        size_t sub_index; /* position in its sub-topology's node array */

        char **parent_names;
        size_t parent_cnt;
        ks__node_t **parents; /* after build */
        ks__node_t **children;
        size_t child_cnt;

        /* source */
        char **topics;
        size_t topic_cnt;
        ks_timestamp_extractor_cb *tsx;
        void *tsx_opaque;
        /* source and sink */
        ks_serde_t *key_serde, *value_serde;
        /* processor */
        ks_processor_init_cb *init;
        ks_processor_process_cb *process;
        ks_processor_close_cb *close;
        /* internal: write out what the processor holds back (its record
         * cache) before a commit; forwards like process() */
        ks_err_t (*flush)(ks_context_t *ctx, void *state);
        void *opaque;
        size_t *stores; /* indexes into topology stores, after build */
        size_t store_cnt;
        /* source and sink of an internal (repartition) topic: its topics
         * hold "<suffix>" until ks__topology_bind() prefixes the
         * application.id */
        int internal;
        int partitions; /* internal sink: its topic's partitions, 0: as the
                           sub-topology's sources, -1: as the sub-topology
                           reading it */
        /* sink: a topic, or an extractor choosing one per record */
        char *topic;
        ks__topic_extractor_cb *topic_extractor;
        void *topic_extractor_opaque;
        ks_partitioner_cb *partitioner;
        void *partitioner_opaque;
};

typedef struct {
        char *name;
        ks_store_type_t type;
        ks_store_backend_t backend;
        int flags;
        int64_t retention_ms;   /* window and session stores; versioned
                                   stores: the history retention */
        int64_t window_size_ms; /* window stores */
        int subtopology;        /* after build; -1 if unconnected */
        /* A table's store whose source topic is its changelog: not logged,
         * restored from that topic up to the committed input offset. */
        char *source_topic;
        /* Added by build (a store of duplicate marks): connected to no
         * processor, removed by ks__topology_build_reset(). */
        int internal;
} ks__store_def_t;

typedef struct {
        char *store;
        char *processor;
} ks__connection_t;

/* A global table: every instance keeps all of @p topic in store @p store. */
typedef struct {
        char *store;
        char *topic;
        ks_serde_t *key_serde, *value_serde;
} ks__global_def_t;

typedef struct {
        int id;
        ks__node_t **nodes; /* in insertion order */
        size_t node_cnt;
        size_t *stores; /* indexes into topology stores */
        size_t store_cnt;
} ks__subtopology_t;

struct ks_topology_s {
        int refcnt; /* atomic */
        int built;
        ks__node_t **nodes;
        size_t node_cnt;
        ks__store_def_t *stores;
        size_t store_cnt;
        ks__connection_t *conns;
        size_t conn_cnt;
        ks__subtopology_t *subs;
        size_t sub_cnt;
        char *bound_app; /* the application.id internal topics carry */
        ks__global_def_t *globals;
        size_t global_cnt;
        /* memory the topology frees when destroyed (the DSL's nodes) */
        void **owned;
        void (**owned_free)(void *);
        size_t owned_cnt;
};

/** Free @p ptr with @p free_fn when the topology is destroyed; on failure
 *  frees it at once and returns KS_ERR_NO_MEMORY. */
ks_err_t ks__topology_own(ks_topology_t *topo, void *ptr,
                          void (*free_fn)(void *));

/** Add a sink writing each record to the topic @p extractor names. */
ks_err_t ks__topology_add_dynamic_sink(ks_topology_t *topo, const char *name,
                                       ks__topic_extractor_cb *extractor,
                                       void *opaque, ks_serde_t *key_serde,
                                       ks_serde_t *value_serde,
                                       const char *const *parents,
                                       size_t parent_cnt, ks_error_t **errp);

/** Give processor @p name a flush callback (see ks__node_t). */
ks_err_t ks__topology_set_flush(ks_topology_t *topo, const char *name,
                                ks_err_t (*flush)(ks_context_t *ctx,
                                                  void *state));

/** Add a global table: store @p store holding all of @p topic. */
ks_err_t ks__topology_add_global(ks_topology_t *topo, const char *store,
                                 const char *topic, ks_serde_t *key_serde,
                                 ks_serde_t *value_serde, ks_error_t **errp);

/** The global table reading @p topic, or NULL. */
const ks__global_def_t *ks__topology_global_for(const ks_topology_t *topo,
                                                const char *topic);

/** Make @p topic (read by a source of the store's sub-topology) the
 *  changelog of store @p store: no changelog topic of its own. */
ks_err_t ks__topology_store_source(ks_topology_t *topo, const char *store,
                                   const char *topic);

/** Mark source or sink @p name as reading/writing an internal topic, whose
 *  name (as given) is the suffix after "<application.id>-". */
ks_err_t ks__topology_set_internal(ks_topology_t *topo, const char *name);

/** Give the internal topics of built @p topo the prefix @p app_id. A
 *  topology binds to one application.id: another one is refused. */
ks_err_t ks__topology_bind(ks_topology_t *topo, const char *app_id,
                           ks_error_t **errp);

/** The topic configs an internal topic is created with. */
typedef struct {
        const char *cleanup_policy; /* static string */
        int64_t retention_ms;       /* retention.ms; -1: not set */
} ks__topic_config_t;

/** The configs of internal topic @p i of built @p topo: a repartition
 *  topic "delete"; a key-value (timestamped, versioned) store's changelog
 *  "compact"; a window or session store's changelog "compact,delete"
 *  with retention.ms the store's retention plus @p additional_retention_ms
 *  (windowstore.changelog.additional.retention.ms; saturating), as Kafka
 *  Streams creates them: a store drops expired segments without writing
 *  to its changelog, whose time retention removes them instead.
 *  KS_ERR_INVALID_ARG for @p i out of range. */
ks_err_t ks__topology_internal_config(const ks_topology_t *topo, size_t i,
                                      int64_t additional_retention_ms,
                                      ks__topic_config_t *cfgp);

/** The partition count configured for internal topic @p i, 0 for the
 *  default (as many as the sources of the sub-topology writing it). */
int ks__topology_internal_partitions(const ks_topology_t *topo, size_t i);

/** The sub-topology reading repartition topic @p i, -1 if none. */
int ks__topology_internal_reader(const ks_topology_t *topo, size_t i);

/** Take a reference. */
ks_topology_t *ks__topology_ref(ks_topology_t *topo);

/** The node named @p name, or NULL. */
ks__node_t *ks__topology_node(const ks_topology_t *topo, const char *name);

/** The source node of sub-topology @p sub reading @p topic, or NULL. */
ks__node_t *ks__topology_source_for(const ks_topology_t *topo,
                                    const char *topic);

/** 1 if @p topic is one of built @p topo's internal topics (repartition
 *  topics and changelogs) for application @p app_id. */
int ks__topology_is_internal_topic(const ks_topology_t *topo,
                                   const char *app_id, const char *topic);

/* --- source topics (source_topics.c) ------------------------------------ */

/** Number of source topics (of every source node). */
int32_t ks__topology_topic_count(const ks_topology_t *topo);

/** The index of @p topic among the source topics, -1 if none reads it. */
int32_t ks__topology_topic_index(const ks_topology_t *topo, const char *topic);

/** 1 if @p topic is a through topic: a source reads it and a sink of the
 *  topology writes it (a repartition topic, or the user's own). */
int ks__topology_is_through(const ks_topology_t *topo, const char *topic);

/** Stores of duplicate marks are named KS_MARKS_STORE_PREFIX<sub>. */
#define KS_MARKS_STORE_PREFIX "KSTREAM-ORIGIN-MARKS-"

/** The name of sub-topology @p sub's marks store. */
void ks__topology_marks_store_name(int sub, char *buf, size_t size);

/** Sub-topology @p sub's store of duplicate marks, NULL if it has none. */
const char *ks__topology_marks_store(const ks_topology_t *topo, int sub);

/** The tag of @p topo run as @p app_id: a hash of the application.id,
 *  every source topic and every sub-topology's stores in order, which
 *  origin headers and committed metadata carry so that another
 *  application's, or those of a topology with other topics or stores, are
 *  ignored. */
uint32_t ks__topology_tag(const ks_topology_t *topo, const char *app_id);

/* --- shared by the files of src/topology --------------------------------- */

/** "source", "processor" or "sink". */
const char *ks__node_kind_name(ks__node_kind_t kind);

/** The index of store @p name in topo->stores, or -1. */
ssize_t ks__topology_store_index(const ks_topology_t *topo, const char *name);

/** A new store definition named @p name, zeroed but for its name, at the
 *  end of topo->stores (counted); NULL when out of memory. The pointer
 *  lasts until the next store is added. */
ks__store_def_t *ks__topology_store_append(ks_topology_t *topo,
                                           const char *name);

/** Forget what ks_topology_build() computed: resolved parents, children,
 *  store indexes and sub-topologies (build.c). */
void ks__topology_build_reset(ks_topology_t *topo);

#endif
