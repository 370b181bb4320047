/* Stream threads (Kafka Streams' StreamThread): one consumer-group member
 * each, with a producer, a restore consumer and the tasks the group gives
 * it (task_manager_int.h).
 *
 * A thread knows nothing of the application above it: it is given what it
 * needs (ks__thread_env_t) and reports through the callbacks of a
 * listener.
 *
 * State machine (set_state() asserts the transitions):
 *
 *     CREATED -> STARTING <-> ASSIGNED <-> RUNNING
 *                    \            |          /
 *                     +-------> STOPPING <--+ -> DEAD
 *
 * STARTING: joining the group (or rejoining after a revoke); ASSIGNED:
 * some task is initializing or restoring; RUNNING: every task processes. */
#ifndef KS_STREAM_THREAD_INT_H
#define KS_STREAM_THREAD_INT_H

#include "kstreams/app.h"

#include "../state/global_store_int.h"
#include "../state/rocksdb_int.h"
#include "../task/error_handler_int.h"
#include "../topology/topology_int.h"
#include "origin_int.h"
#include "query_registry_int.h"

typedef struct ks__thread_s ks__thread_t;

typedef enum {
        KS_THREAD_CREATED,
        KS_THREAD_STARTING,
        KS_THREAD_ASSIGNED,
        KS_THREAD_RUNNING,
        KS_THREAD_STOPPING,
        KS_THREAD_DEAD,
} ks__thread_state_t;

/** What a thread reports (called on the thread itself). */
typedef struct {
        void *opaque;
        /* Its state changed. */
        void (*state)(void *opaque, ks__thread_t *thr, ks__thread_state_t st);
        /* It committed for a clean shutdown; returns once the other threads
         * have too (bounded), so that none leaves the group before the
         * others commit. */
        void (*closing)(void *opaque);
        /* It stops on @p err (taken over). @p replaceable: a processing
         * error, which a new thread may get past; otherwise the cluster
         * refuses the application (authorization, deleted topics). */
        void (*failed)(void *opaque, ks__thread_t *thr, ks_error_t *err,
                       int replaceable);
} ks__thread_listener_t;

/** What a thread is given; everything borrowed outlives the thread. */
typedef struct {
        const ks_config_t *conf;
        ks_topology_t *topo;
        ks__rocks_env_t *rocks;
        const char *state_dir;
        const char *app_id;
        const char *process_id;
        ks__global_t *const *globals;
        ks__origin_scope_t scope;
        const int *stopping; /* atomic: leave the loop */
        ks_restore_cb *restore_cb;
        void *restore_opaque;
        const ks__perr_handler_t *on_error; /* the processing-error handler */
        ks__thread_listener_t listener;
        int index;
        ks__qreg_t *queries; /* tasks are entered there for queries */
        /* application.server, carried in the group member's client.id
         * (instance_metadata_int.h); NULL when not set */
        const char *server;
} ks__thread_env_t;

/** Create and start a stream thread. */
ks_err_t ks__thread_start(const ks__thread_env_t *env, ks__thread_t **thrp,
                          ks_error_t **errp);

/** Wait for the thread to end (it must have been told to stop, or have
 *  failed); once only. NULL is a no-op. */
void ks__thread_wait(ks__thread_t *thr);

/** ks__thread_wait(), then free the thread. NULL is a no-op. */
void ks__thread_join(ks__thread_t *thr);

/** The thread's state (any thread). */
ks__thread_state_t ks__thread_state(const ks__thread_t *thr);

/** The names of the threads' counters (see ks_app_metric()), NULL
 *  terminated; "tasks" is a gauge, the others only grow. */
#define KS_THREAD_METRICS 14
extern const char *const ks__thread_metric_names[KS_THREAD_METRICS + 1];

/** The thread's counter @p name (see ks_app_metric()), -1 if unknown; 0
 *  for a NULL thread with a known name. Any thread. */
int64_t ks__thread_metric(const ks__thread_t *thr, const char *name);

/** Test builds: a function called at each step of an exactly-once commit
 *  that carries state changes (NULL in production). */
typedef enum {
        KS_COMMIT_POINT_BEFORE_COMMIT = 1, /* offsets sent, not committed */
        KS_COMMIT_POINT_AFTER_COMMIT,      /* committed, stores not written */
        KS_COMMIT_POINT_AFTER_STATE,       /* stores and checkpoints written */
} ks__commit_point_t;
extern void (*ks__commit_point_hook)(ks__commit_point_t point);

#endif
