/* Task internals shared by the files of src/task (see task_int.h for the
 * task's API): the task object, its processor context, its punctuation
 * queue and its state manager.
 *
 * The task (task.c) is split along Kafka Streams' seams: the processor
 * context with forwarding and sinks (context.c, ProcessorContextImpl), the
 * punctuation queue (punctuation.c, PunctuationQueue) and the state manager
 * (state_manager.c, ProcessorStateManager). Each works on the one
 * `struct ks__task_s` below; none is used without a task.
 *
 * Invariants:
 *  - `pending` holds the first error raised below the entry point that is
 *    running (process, punctuate, flush, start); the entry point hands it
 *    to its caller with ks__task_take_pending() and clears it, so it is
 *    NULL between entry points.
 *  - `ctx.node` is the node whose callback runs, NULL outside callbacks;
 *    ks__context_run() restores the whole context after each callback.
 *  - Arrays indexed like the sub-topology's nodes (`insts`) or stores
 *    (`sm.slots`, `sm.logs`) have exactly node_cnt / store_cnt entries.
 *
 * @locality the task's stream thread. */
#ifndef KS_TASK_IMPL_INT_H
#define KS_TASK_IMPL_INT_H

#include "task_int.h"

#include "../common/error_int.h"
#include "../common/metrics_int.h"

struct ks_context_s {
        ks__task_t *task;
        ks__node_t *node; /* node being run */
        /* Metadata of the input record (or punctuation) being handled. */
        const char *topic;
        int32_t partition;
        int64_t offset;
        int64_t timestamp;
        const ks_headers_t *headers;
        char *user_error; /* message set by ks_context_set_error() */
};

/* One punctuation schedule. `next` is the next time it is due; `spent`:
 * that time lies past INT64_MAX, so the schedule never fires again. */
struct ks_punctuation_s {
        ks__task_t *task;
        ks__node_t *node;
        ks_punctuation_type_t type;
        int64_t interval;
        int64_t next;
        int spent;
        ks_punctuator_cb *cb;
        void *opaque;
        int cancelled;
};

/* The task's schedules in the order they were made (both types in one
 * array). Cancelled schedules stay until the end of the firing pass that
 * sees them, so a punctuator may cancel any schedule, its own included. */
typedef struct {
        ks_punctuation_t **items;
        size_t cnt;
        int firing; /* a pass is running: a punctuator advancing time
                       must not start another */
} ks__punct_queue_t;

/* One source topic of the task: its source node and input position. */
typedef struct {
        ks__node_t *source;
        const char *topic; /* owned by the source node */
        int64_t partition_time;
        int64_t next_offset; /* to checkpoint; -1 before the first record */
        int32_t topic_index; /* the topic's index in the topology */
} ks__source_part_t;

typedef struct {
        void *state;
        int initialized;
} ks__node_inst_t;

/* Change logging of one store. */
typedef struct {
        ks__task_t *task;
        char *topic;        /* NULL: not logged */
        uint64_t slot;      /* the collector's slot of its position, 0 */
        int64_t checkpoint; /* next offset to restore from, -1: beginning */
        int64_t persisted;  /* last checkpoint a restore wrote, -1: none */
        int from_source;    /* the topic is the store's source topic: not
                               written, its position is the input's */
} ks__changelog_t;

/* One store of the task. `kv` holds the bytes: the key-value store
 * itself, or the handle a timestamped, versioned, window or session store
 * is built on, which that store owns (restore, change logging and
 * clearing work on it alike). */
typedef struct {
        ks_store_type_t type;
        ks_kv_store_t *kv;
        ks_window_store_t *window;   /* KS_STORE_TYPE_WINDOW; owns kv */
        ks_session_store_t *session; /* KS_STORE_TYPE_SESSION; owns kv */
        /* KS_STORE_TYPE_TIMESTAMPED_KV; owns kv */
        ks_timestamped_kv_store_t *timestamped;
        /* KS_STORE_TYPE_VERSIONED_KV; owns kv */
        ks_versioned_kv_store_t *versioned;
} ks__store_slot_t;

/* The state manager's part of the task: the task directory, its lock and
 * database, and one slot and one changelog per store of the sub-topology.
 * `dir` and `lock_fd` are set only when the task has persistent stores. */
typedef struct {
        ks__store_slot_t *slots; /* parallel to sub->stores */
        ks__changelog_t *logs;   /* parallel to sub->stores */
        ks__task_db_t *db;       /* NULL without persistent stores */
        char *dir;               /* <state_dir>/<id> */
        int lock_fd;             /* flock()ed <dir>/.lock, or -1 */
} ks__state_mgr_t;

struct ks__task_s {
        char id[32];
        ks__task_state_t state;
        ks_topology_t *topo;
        const ks__subtopology_t *sub;
        int32_t partition;
        ks__task_env_t env;
        ks__node_inst_t *insts; /* parallel to sub->nodes */
        ks__state_mgr_t sm;
        ks__source_part_t *parts;
        size_t part_cnt;
        ks__punct_queue_t puncs;
        int64_t stream_time;
        int commit_requested;
        uint64_t dropped, processed;
        uint64_t punctuated;        /* punctuations fired */
        ks__meter_t *node_meters;   /* per node; NULL: recording level INFO */
        uint64_t dropped_late;      /* of dropped: too late for their window */
        uint64_t dropped_duplicate; /* of dropped: deduplicated */
        ks_headers_t *no_headers;
        ks_context_t ctx;
        ks_error_t *pending; /* first error below the current entry point */
        int tsx_kind;
        int deser_handler;
        int proc_handler;         /* processing.exception.handler */
        const char *dlq_topic;    /* NULL: no dead-letter queue */
        const char *pending_node; /* the node that raised `pending` */
        int pending_infra;        /* `pending`: a send the collector
                                     refused, not the record's doing */
        uint64_t dropped_deser;   /* of dropped: deserialization */
        uint64_t dropped_proc;    /* of dropped: processing errors */
        uint64_t dlq_records;     /* written to the dead-letter queue */
        int32_t origin_topic;     /* topology index of the input's topic */
        int32_t emit_seq;         /* outputs of the current input record */
        int detached;             /* > 0: outputs carry no origin */
};

/* --- task.c ------------------------------------------------------------- */

/** Keep the first error of a traversal in t->pending; returns @p code. */
ks_err_t ks__task_pend(ks__task_t *t, ks_err_t code, const char *fmt, ...)
        KS_PRINTF(3, 4);

/** End an entry point: hand the pending error (or @p err, if nothing is
 *  pending) to @p errp, or log it when errp is NULL. */
ks_err_t ks__task_take_pending(ks__task_t *t, ks_err_t err, ks_error_t **errp);

/** The driver's wall clock, ms. */
int64_t ks__task_clock(const ks__task_t *t);

/** The task's input partition of @p topic, or NULL. */
ks__source_part_t *ks__task_source_part(const ks__task_t *t, const char *topic);

/* --- error_handler.c ---------------------------------------------------- */

/** Hand the error @p err of the record or punctuator @p ec describes (its
 *  processor is filled in here) to the processing-error handler, when it
 *  is the record's doing. FAIL: returns @p err, still pending. CONTINUE:
 *  forgets it, counts a record as dropped and writes it to the
 *  dead-letter queue; returns KS_ERR_NO_ERROR, or the error (pending) of
 *  that write. */
ks_err_t ks__task_on_error(ks__task_t *t, ks_error_context_t *ec, ks_err_t err);

/** Before pending an error no handler may let pass (a send the collector
 *  refused): the traversal's error becomes that one, whatever was pending
 *  before (a processing error is logged and replaced), so that the
 *  handler can never drop a record whose changelog or output was lost. */
void ks__task_pend_infra(ks__task_t *t);

/** Write the record @p ec describes to the dead-letter queue, if one is
 *  configured, with the error @p code and @p message. On failure the
 *  error is pending and returned. */
ks_err_t ks__task_dead_letter(ks__task_t *t, const ks_error_context_t *ec,
                              ks_err_t code, const char *message);

/* --- context.c ---------------------------------------------------------- */

/** What a callback run inside the context is doing: it names the callback
 *  in the error message and says which record metadata the callback sees:
 *  the record being processed, or none (topic NULL, offset -1, no
 *  headers). */
typedef enum {
        KS__CALL_INIT,      /* processor init: no record */
        KS__CALL_PROCESS,   /* process(): the record being processed */
        KS__CALL_PUNCTUATE, /* a punctuator: no record, timestamp = time */
        KS__CALL_FLUSH,     /* a record cache flush: no record */
} ks__call_kind_t;

typedef ks_err_t(ks__call_cb)(ks_context_t *ctx, void *arg);

/** Run @p cb with the context on @p node (a processor) and the metadata
 *  @p kind asks for (@p timestamp: the punctuation time, for
 *  KS__CALL_PUNCTUATE), then restore the context. A failure is kept as the
 *  pending error, naming the node, the task and any ks_context_set_error()
 *  text, unless an error is pending already (the first one wins).
 *  @returns the callback's error, or the pending error's code when the
 *  callback returned success over a failure below it. */
ks_err_t ks__context_run(ks__task_t *t, ks__node_t *node, ks__call_kind_t kind,
                         int64_t timestamp, ks__call_cb *cb, void *arg);

/** Hand @p rec to node @p n: a source forwards, a processor processes, a
 *  sink sends. */
ks_err_t ks__context_process(ks__task_t *t, ks__node_t *n,
                             const ks_record_t *rec);

/* --- punctuation.c ------------------------------------------------------ */

/** Fire every due schedule of @p type at @p now (see punctuation.c). */
ks_err_t ks__punctuate(ks__task_t *t, ks_punctuation_type_t type, int64_t now);

/** Free every schedule of @p q. */
void ks__punct_queue_clear(ks__punct_queue_t *q);

/* --- state_manager.c ---------------------------------------------------- */

/** Lock the task directory, open the stores and read their checkpoints. On
 *  failure what was opened stays for ks__state_mgr_close(). */
ks_err_t ks__state_mgr_open(ks__task_t *t, ks_error_t **errp);

/** Stage the source offsets and the changelog positions and write them
 *  with the stores' data in one atomic write. */
ks_err_t ks__state_mgr_commit(ks__task_t *t, ks_error_t **errp);

/** Close the stores (uncommitted writes are dropped) and the database,
 *  and release the directory lock. */
void ks__state_mgr_close(ks__task_t *t);

/** The slot of store @p name, or NULL. */
ks__store_slot_t *ks__state_mgr_slot(ks__task_t *t, const char *name);

#endif
