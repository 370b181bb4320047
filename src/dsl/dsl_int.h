/* DSL internals: the builder, the stream and table handles, and the step
 * base every operator family builds on.
 *
 * The DSL compiles streams and tables into topology nodes through the
 * Processor API. Each operation adds steps: processors whose `opaque` is a
 * step struct of the operator's family, starting with ks__dsl_step_t. The
 * step's class (ks__dsl_class_t, one static table per step kind) holds the
 * processor callbacks the family registers with the topology, so adding an
 * operator adds a file, not a case to a central switch. The topology owns
 * every step (ks__topology_own) and frees it with ks__dsl_step_free, so a
 * topology outlives its builder.
 *
 * At run time a step's processor state is either the step itself (steps
 * that keep nothing per task) or a ks__dsl_state_t, possibly embedded first
 * in a family's larger state: the step's store, two scratch buffers and an
 * empty header set, made for one task by ks__dsl_init.
 *
 * Handles (streams, tables, grouped streams, splits) are small records of a
 * node name, serdes and flags, owned by the builder and freed with it. The
 * builder keeps the first error; a step on a NULL handle, or on a builder
 * that failed, returns NULL.
 *
 * @locality build on one thread; steps run on the thread of the task
 * processing the record. */
#ifndef KS_DSL_INT_H
#define KS_DSL_INT_H

#include "kstreams/dsl.h"

#include "../common/error_int.h"
#include "../common/util_int.h"
#include "../serde/serde_int.h"
#include "../state/store_int.h"
#include "../topology/topology_int.h"

/* --- the builder and its handles (builder.c) ----------------------------- */

typedef struct ks__dsl_handle_s {
        struct ks__dsl_handle_s *next;
        void (*free_fn)(void *);
} ks__dsl_handle_t;

struct ks_builder_s {
        ks_topology_t *topo;
        ks_error_t *err; /* the first error; no step is taken after it */
        int index;       /* the next step index, for default names */
        int built;
        ks__dsl_handle_t *handles;
        ks_serde_t **serdes; /* references the handles point to */
        size_t serde_cnt;
};

struct ks_stream_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        char *node;
        ks_serde_t *key_serde, *value_serde;
        int repartition_required; /* the key changed upstream */
};

struct ks_table_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        char *node;
        char *store; /* NULL: not materialized */
        ks_serde_t *key_serde, *value_serde;
        /* A windowed table: its windows (a copy), its store a window or
         * session store. NULL: a plain table. */
        ks_windows_t *windows;
        /* > 0: a versioned table, its store a versioned key-value store
         * keeping this much history (ms). */
        int64_t history_ms;
};

/* Where a grouping's aggregations read (grouped.c). */
typedef struct {
        char *node;   /* the grouped node, or the grouping step */
        char *name;   /* the repartition topic's middle part, or NULL */
        char *source; /* its repartition source, once made */
} ks__dsl_grouping_t;

struct ks_grouped_stream_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        ks__dsl_grouping_t g;
        ks_serde_t *key_serde, *value_serde;
        int repartition;
};

/** Where the aggregations of @p g read (copy; NULL: the builder failed):
 *  its node, or the source of its repartition topic (named after @p g's
 *  name, else @p store), made once; null keys dropped before it if
 *  @p drop_null_keys. */
char *ks__dsl_grouping_source(ks_builder_t *b, ks__dsl_grouping_t *g,
                              int repartition, int drop_null_keys,
                              const char *store, ks_serde_t *ks,
                              ks_serde_t *vs);

/** Keep the first error of @p b (later ones are dropped). */
void ks__dsl_fail(ks_builder_t *b, ks_err_t code, const char *fmt, ...)
        KS_PRINTF(3, 4);

/** ks__dsl_fail() for an allocation that failed. */
void ks__dsl_oom(ks_builder_t *b);

/** Take the outcome of a topology call about @p what: 0 if @p err is
 *  none, else 1 with the error kept. Destroys @p e either way. */
int ks__dsl_failed_call(ks_builder_t *b, ks_err_t err, ks_error_t *e,
                        const char *what);

/** Whether operation @p what may add steps to @p b (NULL: no). */
int ks__dsl_usable(ks_builder_t *b, const char *what);

/** ks__dsl_usable(), and then, if @p cb_name is set, ks__dsl_need() of
 *  @p cb: whether operation @p what may go on. */
int ks__dsl_start(ks_builder_t *b, const char *what, const void *cb,
                  const char *cb_name);

/** The builder of stream @p s if operation @p what may add steps. */
ks_builder_t *ks__dsl_stream_start(ks_stream_t *s, const char *what);

/** 1 if @p p is set, else 0 with an error: @p arg of @p what is NULL. */
int ks__dsl_need(ks_builder_t *b, const void *p, const char *what,
                 const char *arg);

/** Keep a reference to serde @p s for the builder's lifetime; returns it. */
ks_serde_t *ks__dsl_keep_serde(ks_builder_t *b, ks_serde_t *s);

/** A zeroed handle of @p size bytes (ks__dsl_handle_t first), freed with
 *  the builder by @p free_fn; NULL (builder failed) on OOM. */
void *ks__dsl_handle_new(ks_builder_t *b, size_t size, void (*free_fn)(void *));

/** ks__dsl_handle_new() for the handle of node @p node; NULL (and @p node
 *  freed) if @p node is NULL (the builder failed) or on OOM. The caller
 *  stores @p node in the handle. */
void *ks__dsl_node_handle(ks_builder_t *b, size_t size, void (*free_fn)(void *),
                          char *node);

/** A step name: @p user, or "<kind>-<index>". The index is taken either
 *  way, so naming one step never renames the others. NULL on OOM. */
char *ks__dsl_name(ks_builder_t *b, const char *user, const char *kind);

/** "<base>-<suffix>" (a step or store of a multi-step operation, with no
 *  index of its own), NULL on OOM. */
char *ks__dsl_name_of(ks_builder_t *b, const char *base, const char *suffix);

/** A store name: @p user, or "<prefix>-STATE-STORE-<index>"; the index is
 *  taken either way. NULL on OOM. */
char *ks__dsl_store_name(ks_builder_t *b, const char *user, const char *prefix);

/** Add persistent store @p name, a timestamped key-value store (a table's
 *  rows) if @p timestamped, else a key-value store; @p what names the step
 *  for errors. 1 on success. */
int ks__dsl_add_store(ks_builder_t *b, const char *name, const char *what,
                      int timestamped);

/** Add persistent versioned key-value store @p name keeping @p history_ms
 *  of history (a versioned table's rows). 1 on success. */
int ks__dsl_add_versioned_store(ks_builder_t *b, const char *name,
                                const char *what, int64_t history_ms);

/** An internal topic @p topic: a sink "<topic>-sink" under @p parents and
 *  a source "<topic>-source" reading it. @p partitions as
 *  ks__node_t.partitions. Returns the source's name (copy), NULL if the
 *  builder failed. */
char *ks__dsl_internal_topic(ks_builder_t *b, const char *topic,
                             const char *const *parents, size_t parent_cnt,
                             int partitions, ks_serde_t *key_serde,
                             ks_serde_t *value_serde);

/** Records of @p parent through the repartition topic "<base>-repartition"
 *  (@p partitions as ks__dsl_internal_topic): the source reading them back
 *  (copy), NULL if the builder failed. */
char *ks__dsl_repartition(ks_builder_t *b, const char *parent, const char *base,
                          int partitions, ks_serde_t *ks, ks_serde_t *vs);

/** The stream out of node @p node (taken over; NULL: the builder failed). */
ks_stream_t *ks__dsl_stream_new(ks_builder_t *b, char *node, ks_serde_t *ks,
                                ks_serde_t *vs, int repartition_required);

/** The table out of node @p node (taken over; NULL: the builder failed),
 *  its rows in @p store (copied; NULL: not materialized). */
ks_table_t *ks__dsl_table_new(ks_builder_t *b, char *node, const char *store,
                              ks_serde_t *ks, ks_serde_t *vs);

/* --- steps (step.c) ------------------------------------------------------ */

typedef struct ks__dsl_step_s ks__dsl_step_t;

/** Per-task state of a step that keeps some: made by ks__dsl_init, freed
 *  by ks__dsl_close. A family's larger state starts with it. */
typedef struct {
        const ks__dsl_step_t *step;
        /* step->store in this task, or NULL; for a table's store (the step
         * is `timestamped`), the key-value handle under `rows`, holding
         * stored rows (be64 timestamp | value), which the record cache in
         * front of it holds too; for a versioned table's, the handle under
         * `versions`. */
        ks_kv_store_t *store;
        ks_timestamped_kv_store_t *rows; /* a table's store, or NULL */
        /* a versioned table's store (the step is `versioned`), or NULL */
        ks_versioned_kv_store_t *versions;
        ks_buf_t *buf, *buf2; /* scratch */
        ks_buf_t *row;        /* a stored row being written (`rows` set) */
        ks_headers_t *no_headers;
} ks__dsl_state_t;

/** A step kind: the processor callbacks it registers with the topology,
 *  and what its family adds to the common per-task state. */
typedef struct {
        ks_processor_init_cb *init;
        ks_processor_process_cb *process;
        ks_processor_close_cb *close;
        /* Write out what the step holds back (its record cache) before a
         * commit; NULL: it holds nothing back. */
        ks_err_t (*flush)(ks_context_t *ctx, void *state);
        /* Free the family's own fields of the step (NULL: none). */
        void (*free)(ks__dsl_step_t *st);
        /* With ks__dsl_init: the state's size (0: a ks__dsl_state_t), what
         * the family sets up in it once made (errors set on @p ctx) and
         * takes down before it is freed, also after a failed open (NULL:
         * nothing). */
        size_t state_size;
        ks_err_t (*open)(ks_context_t *ctx, ks__dsl_state_t *in);
        void (*release)(ks__dsl_state_t *in);
} ks__dsl_class_t;

/** The start of every step struct. */
struct ks__dsl_step_s {
        const ks__dsl_class_t *cls;
        char *name;      /* its processor's name */
        char *store;     /* the store connected to it, or NULL */
        int timestamped; /* `store` is a table's timestamped store */
        int versioned;   /* `store` is a versioned table's store */
        void *opaque;    /* the user's callback argument */
};

/** A zeroed step of @p size bytes (ks__dsl_step_t first) and class @p cls
 *  named @p name (taken over), passing @p opaque to the user's callbacks;
 *  NULL (builder failed) on OOM or if @p name is NULL. */
void *ks__dsl_step_named(ks_builder_t *b, const ks__dsl_class_t *cls,
                         size_t size, char *name, void *opaque);

/** As ks__dsl_step_named(), named ks__dsl_name(@p user, @p kind). */
void *ks__dsl_step_new(ks_builder_t *b, const ks__dsl_class_t *cls, size_t size,
                       const char *user, const char *kind, void *opaque);

/** Free a step that was not added (NULL: no-op). */
void ks__dsl_step_free(void *st);

/** Add step @p st (taken over, freed on failure) as a processor under
 *  @p parents, connected to its store; NULL if the builder failed. */
ks__dsl_step_t *ks__dsl_add_step(ks_builder_t *b, void *st,
                                 const char *const *parents, size_t parent_cnt);

/** Add step @p st (taken over; NULL: no-op) under @p parents; its node's
 *  name (copy), or NULL if the builder failed. */
char *ks__dsl_add_node(ks_builder_t *b, void *st, const char *const *parents,
                       size_t parent_cnt);

/** ks__dsl_add_node() under the one node @p parent. */
char *ks__dsl_chain(ks_builder_t *b, const char *parent, void *st);

/** Class callbacks of a step keeping state: make it (then the class's
 *  open), and free it (after the class's release). */
ks_err_t ks__dsl_init(ks_context_t *ctx, void *opaque, void **statep);
void ks__dsl_close(ks_context_t *ctx, void *state);

/** Class init of a step that keeps nothing per task: its state is the
 *  step. */
ks_err_t ks__dsl_init_stateless(ks_context_t *ctx, void *opaque, void **statep);

/** Class tables (designators, to which a family may add more): a step
 *  keeping nothing per task, one keeping state, and one writing its own
 *  store through a record cache (table.c). */
#define KS__DSL_STATELESS(process_cb)                                          \
        .init = ks__dsl_init_stateless, .process = (process_cb)
#define KS__DSL_STATEFUL(process_cb)                                           \
        .init = ks__dsl_init, .process = (process_cb), .close = ks__dsl_close
#define KS__DSL_CACHED(process_cb)                                             \
        .init = ks__dsl_init, .process = (process_cb), .close = ks__dsl_close, \
        .flush = ks__dsl_cached_flush, .open = ks__dsl_cached_open,            \
        .release = ks__dsl_cached_release

/** Forward @p rec as it is. */
ks_err_t ks__dsl_forward(ks_context_t *ctx, const ks_record_t *rec);

/* --- the emitter (step.c) ------------------------------------------------ */

/** The emit call a step's mapper makes. */
typedef enum {
        KS__EMIT,       /* ks_emit(): a key and a value */
        KS__EMIT_VALUE, /* ks_emit_value(): a value for the input key */
        KS__EMIT_KEY,   /* ks_emit_key(): a key for the input value */
} ks__emit_t;

struct ks_emitter_s {
        ks_context_t *ctx;
        const ks_record_t *rec;
        ks__emit_t takes;
        int count;
        char *error; /* ks_emitter_set_error()'s message */
        /* Capture (key set): the emitted key (and, for ks_emit(), value)
         * are kept here instead of being forwarded. */
        ks_buf_t *key, *value;
        int key_null, value_null;
};

/** An emitter for @p rec taking @p takes: it forwards what the mapper
 *  emits, or with @p key set keeps it in @p key and @p value. */
void ks__dsl_emitter_init(ks_emitter_t *out, ks_context_t *ctx,
                          const ks_record_t *rec, ks__emit_t takes,
                          ks_buf_t *key, ks_buf_t *value);

/** How a mapper is named in errors, and what it must do. */
typedef struct {
        const char *role; /* "mapper", "key selector", ... */
        const char *per;  /* "record" or "row" */
        int once;         /* it must emit exactly once */
        /* A failure without a message keeps its own code ("the <role>
         * failed (<code>)"); else it is reported as KS_ERR_PROCESSOR. */
        int keep_code;
} ks__dsl_mapper_role_t;

/** Run @p mapper of step @p st on @p out's record and check what it did;
 *  errors are set on @p ctx naming the step. */
ks_err_t ks__dsl_run_mapper(ks_context_t *ctx, const ks__dsl_step_t *st,
                            ks_mapper_cb *mapper, ks_emitter_t *out,
                            const ks__dsl_mapper_role_t *role);

/** Join @p l and @p r with @p joiner of step @p st into @p out, then
 *  forward (key, joined value) at @p ts. */
ks_err_t ks__dsl_join_forward(ks_context_t *ctx, const ks__dsl_step_t *st,
                              ks_value_joiner_cb *joiner, const void *key,
                              size_t klen, const void *l, size_t ll,
                              const void *r, size_t rl, int64_t ts,
                              ks_buf_t *out);

/** The current row of @p key in table store @p store (the key-value handle
 *  under a timestamped store), through its record cache: its value and
 *  timestamp (@p tsp may be NULL); *valuep NULL (and KS_ERR_NO_ERROR) if
 *  there is none. A value from the cache is borrowed until the cache's next
 *  put. KS_ERR_STORE for a stored row too short to hold its timestamp. */
ks_err_t ks__dsl_lookup(ks_kv_store_t *store, const void *key, size_t klen,
                        const void **valuep, size_t *vlenp, int64_t *tsp);

/** The row of @p key in versioned table store @p vs as of @p as_of (the
 *  version valid then): its value, borrowed until the next call on @p vs;
 *  *valuep NULL (and KS_ERR_NO_ERROR) if there is none (no version, a
 *  tombstone, or @p as_of older than the store's history). */
ks_err_t ks__dsl_lookup_as_of(ks_versioned_kv_store_t *vs, const void *key,
                              size_t klen, int64_t as_of, const void **valuep,
                              size_t *vlenp);

/** The timestamp of a result made of a record at @p ts and a row at
 *  @p row_ts (@p row_found 0: none): the later of the two, as Kafka
 *  Streams' table aggregations and table-table joins. */
static inline int64_t ks__dsl_max_ts(int64_t ts, int row_found,
                                     int64_t row_ts) {
        return row_found && row_ts > ts ? row_ts : ts;
}

/* --- shared step kinds --------------------------------------------------- */

/** A step that forwards every record (merge, branches, to_stream). */
void *ks__dsl_pass_new(ks_builder_t *b, const char *user, const char *kind);

/** A step that keeps or drops records by a predicate (stream.c). */
typedef struct {
        ks__dsl_step_t base;
        ks_predicate_cb *pred;
        int negate;
} ks__dsl_filter_step_t;

/** A filter step of class @p cls (NULL: a stream filter). */
void *ks__dsl_filter_new(ks_builder_t *b, const ks__dsl_class_t *cls,
                         const char *user, const char *kind,
                         ks_predicate_cb *pred, void *opaque, int negate);

/** 1 if the filter keeps @p rec. */
int ks__dsl_filter_keeps(const ks__dsl_filter_step_t *st,
                         const ks_record_t *rec);

/** A step whose mapper makes records of each record (stream.c). */
typedef struct {
        ks__dsl_step_t base;
        ks_mapper_cb *mapper;
        ks__emit_t takes;
        int once;
} ks__dsl_map_step_t;

/** A map step of class @p cls (NULL: a stream map step). */
void *ks__dsl_map_new(ks_builder_t *b, const ks__dsl_class_t *cls,
                      const char *user, const char *kind, ks_mapper_cb *mapper,
                      void *opaque, ks__emit_t takes, int once);

/** Run a map step on @p rec: the mapper's records are forwarded, or with
 *  @p key set the key it emits is kept there. */
ks_err_t ks__dsl_map_run(ks_context_t *ctx, const ks__dsl_map_step_t *st,
                         const ks_record_t *rec, ks_buf_t *key, int *key_null);

/* --- tables and their stores (table.c) ----------------------------------- */

/** 1 if @p t is a materialized table of @p b, else 0 with an error. */
int ks__dsl_materialized(ks_builder_t *b, const ks_table_t *t,
                         const char *what);

/** The builder of table-table join @p what of @p left and @p right, if it
 *  may go on: both materialized, and @p cb (named @p cb_name) set. */
ks_builder_t *ks__dsl_table_join_start(const ks_table_t *left,
                                       const ks_table_t *right,
                                       const char *what, const void *cb,
                                       const char *cb_name);

/** Class hooks of a step writing its own store through a record cache. */
ks_err_t ks__dsl_cached_open(ks_context_t *ctx, ks__dsl_state_t *in);
void ks__dsl_cached_release(ks__dsl_state_t *in);
ks_err_t ks__dsl_cached_flush(ks_context_t *ctx, void *state);

/** Set @p key's row to @p value (NULL: delete) stamped @p ts in the
 *  step's own table store and forward the change at @p ts: at once
 *  without a cache (with the input record's headers, or none if
 *  @p drop_headers), else when the cache lets it out. */
ks_err_t ks__dsl_cached_put(ks_context_t *ctx, ks__dsl_state_t *in,
                            const void *key, size_t klen, const void *value,
                            size_t vlen, int64_t ts, int drop_headers);

/** Give step @p st a logged table store of its own (timestamped) named
 *  @p user (default "<prefix>-STATE-STORE-<index>"). 0 (and @p st freed)
 *  on failure. */
int ks__dsl_own_store(ks_builder_t *b, ks__dsl_step_t *st, const char *user,
                      const char *prefix);

/** As ks__dsl_own_store(), the store a versioned key-value store keeping
 *  @p history_ms (> 0) of history (the step is marked `versioned`). */
int ks__dsl_own_versioned_store(ks_builder_t *b, ks__dsl_step_t *st,
                                const char *user, const char *prefix,
                                int64_t history_ms);

/** 1 if table @p t is not versioned, else 0 with an error: operation
 *  @p what does not take a versioned table (yet). */
int ks__dsl_unversioned(ks_builder_t *b, const ks_table_t *t, const char *what);

/** Add step @p st (taken over), which keeps a table's rows in its own
 *  store, under @p parent (NULL: the builder failed): the table. */
ks_table_t *ks__dsl_table_step(ks_builder_t *b, ks__dsl_step_t *st,
                               const char *parent, ks_serde_t *ks,
                               ks_serde_t *vs);

/* --- windows and windowed aggregations (windowed.c) ---------------------- */

struct ks_windows_s {
        ks_window_kind_t kind;
        int64_t size;    /* time: size; sliding: difference; session: gap */
        int64_t advance; /* time windows; else 0 */
        int64_t grace;
        int64_t before, after; /* join windows; size = before + after */
};

struct ks_windowed_stream_s {
        ks__dsl_handle_t h;
        ks_builder_t *b;
        ks_grouped_stream_t *g;
        ks_windows_t w;
        ks_emit_strategy_t emit;
        ks_store_backend_t backend; /* of the step's stores */
        int64_t retention;          /* 0: what the windows need */
};

/** The aggregations a windowed step makes. */
typedef enum { KS__WIN_COUNT, KS__WIN_REDUCE, KS__WIN_AGGREGATE } ks__win_agg_t;

/** A windowed aggregation step: its store (a window or session store) is
 *  `wstore`; `base.store`, when set, is the logged key-value store of what
 *  is still to be emitted on window close ("<wstore>-emit"). */
typedef struct {
        ks__dsl_step_t base;
        ks__win_agg_t kind;
        ks_initializer_cb *init;
        ks_aggregator_cb *add;
        ks_merger_cb *merge;
        ks_windows_t w;
        ks_emit_strategy_t emit;
        char *wstore;
} ks__win_step_t;

/** Per-task state of a windowed step. */
typedef struct {
        ks__dsl_state_t base; /* base.store: the emit store, or NULL */
        ks_window_store_t *ws;
        ks_session_store_t *ss;
        ks_kv_store_t *wkv; /* the key-value handle under ws or ss */
        int64_t observed;   /* stream time the step saw; INT64_MIN: none */
        int64_t saved;      /* observed as last written to the emit store */
        /* Emit on close: no indexed window ends before next_end (known once
         * a scan has seen the index; adding a window lowers it). */
        int64_t next_end;
        int next_known;
        ks_buf_t *key, *agg; /* scratch */
} ks__win_state_t;

/** Time-window steps (window_agg.c), sliding-window steps (sliding_agg.c)
 *  and session steps (session_agg.c). */
extern const ks__dsl_class_t ks__time_window_class;
extern const ks__dsl_class_t ks__sliding_window_class;
extern const ks__dsl_class_t ks__session_window_class;

/** Class free of windowed steps. */
void ks__win_step_free(ks__dsl_step_t *base);

/** Class hooks shared by windowed steps: open the step's stores and learn
 *  its stream time; release; write stream time (and the cache) before a
 *  commit. */
ks_err_t ks__win_open(ks_context_t *ctx, ks__dsl_state_t *base);
void ks__win_release(ks__dsl_state_t *base);
ks_err_t ks__win_flush(ks_context_t *ctx, void *state);

/** Take @p ts into the step's stream time; returns the new stream time. */
int64_t ks__win_observe(ks__win_state_t *in, int64_t ts);

/** A record too late for a window of key @p key: logged at debug level,
 *  counted in the dropped-records metrics. */
void ks__win_late(ks_context_t *ctx, const ks__win_step_t *st,
                  const ks_record_t *rec, int64_t start, int64_t end,
                  int64_t observed);

/** The aggregate of @p old (NULL: a new window) with @p rec folded in,
 *  into @p out; errors are set on @p ctx naming the step. */
ks_err_t ks__win_fold(ks_context_t *ctx, const ks__win_step_t *st,
                      ks__win_state_t *in, const ks_record_t *rec,
                      const void *old, size_t olen, ks_buf_t *out);

/** @p agg1 and @p agg2 (sessions) merged into @p out. */
ks_err_t ks__win_merge(ks_context_t *ctx, const ks__win_step_t *st,
                       const void *key, size_t klen, const void *agg1,
                       size_t len1, const void *agg2, size_t len2,
                       ks_buf_t *out);

/** Emit on close: remember window [@p start, @p end] of @p key as open
 *  (@p on) or no longer (!@p on). */
ks_err_t ks__win_index(ks__win_state_t *in, const void *key, size_t klen,
                       int64_t start, int64_t end, int on);

/** Emit on close: a window the index lets out (@p key, [@p start, @p end]);
 *  the step forwards its final result. */
typedef ks_err_t(ks__win_final_cb)(ks_context_t *ctx, ks__win_state_t *in,
                                   const void *key, size_t klen, int64_t start,
                                   int64_t end);

/** Emit on close: let out, oldest end first, every indexed window whose
 *  end is at most @p bound, and forget it. */
ks_err_t ks__win_emit_closed(ks_context_t *ctx, ks__win_state_t *in,
                             int64_t bound, ks__win_final_cb *final);

/** Stored values of windowed steps: be64 timestamp | aggregate, as Kafka
 *  Streams' timestamped stores (and the tables' rows: store_int.h). */
static inline ks_err_t ks__win_value(ks_buf_t *out, int64_t ts, const void *agg,
                                     size_t len) {
        return ks__ts_value_append(out, ts, agg, len);
}
static inline int ks__win_value_split(const void *v, size_t vl, int64_t *tsp,
                                      const void **aggp, size_t *lenp) {
        return ks__ts_value_split(v, vl, tsp, aggp, lenp);
}

/** The time-windowed key of (@p key, @p start) into in->key. */
ks_err_t ks__win_time_key(ks__win_state_t *in, const void *key, size_t klen,
                          int64_t start);

/** A record cache listener (ks__cache_listener_cb) forwarding the window
 *  the cache lets out (@p wkey, stored value @p value) with its aggregate,
 *  not tied to the record being processed (@p arg: the context). */
ks_err_t ks__win_cache_forward(void *opaque, void *arg, const void *wkey,
                               size_t wklen, const void *value, size_t vlen,
                               int64_t ts);

/** Forward the windowed key in in->key with aggregate @p agg (NULL: a
 *  tombstone) at @p ts, carrying no headers; @p detached: not tied to the
 *  record being processed. */
ks_err_t ks__win_forward(ks_context_t *ctx, ks__win_state_t *in,
                         const void *agg, size_t len, int64_t ts, int detached);

#endif
