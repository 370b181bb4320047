/* Runtime internals: the application and its stream threads.
 *
 * The app owns what its threads share (the topology, the configuration,
 * RocksDB's shared cache, the state directory) and the state machine; each
 * stream thread (stream_thread.c) owns a consumer (one group member), a
 * producer and a restore consumer, and the tasks the group gives it.
 *
 * Locking: app->lock guards the app state, the first error and the
 * threads' reported states; everything else of a thread is touched by that
 * thread only. Counters are read across threads with atomics. */
#ifndef KS_COORD_INT_H
#define KS_COORD_INT_H

#include <pthread.h>

#include "kstreams/app.h"

#include "../state/global_store_int.h"
#include "../state/rocksdb_int.h"
#include "../topology/topology_int.h"

typedef struct ks__thread_s ks__thread_t;

/* What a thread reports to the app. */
typedef enum {
        KS_THREAD_STARTING, /* joining the group */
        KS_THREAD_ASSIGNED, /* has tasks, some restoring */
        KS_THREAD_RUNNING,  /* every task processing */
        KS_THREAD_STOPPING, /* closing */
        KS_THREAD_DEAD,     /* exited */
} ks__thread_state_t;

typedef struct ks__global_runner_s ks__global_runner_t;

struct ks_app_s {
        ks_topology_t *topo;
        ks_config_t *conf;
        const char *app_id; /* in conf */
        char *state_dir;    /* <state.dir>/<application.id> */
        int lock_fd;        /* flock()ed <state_dir>/.lock, or -1 */
        ks__rocks_env_t *rocks;
        char process_id[80]; /* instance.id, or kept in state_dir */

        pthread_mutex_t lock;
        pthread_cond_t cond;
        ks_app_state_t state;
        ks_error_t *error;  /* the first fatal error */
        int stopping;       /* atomic: threads leave their loops */
        int closed_commits; /* threads that committed for close */

        ks_app_state_cb *state_cb;
        void *state_opaque;
        ks_restore_cb *restore_cb;
        void *restore_opaque;

        ks__thread_t **threads;
        int thread_cnt;
        ks__global_runner_t *globals; /* NULL without global tables */
};

/** Load the global tables (every partition of their topics, to the end)
 *  and start the thread that keeps them up to date. *rp is set even on
 *  failure (stop it with ks__globals_stop()). */
ks_err_t ks__globals_start(ks_app_t *app, ks__global_runner_t **rp,
                           ks_error_t **errp);

/** The global stores, one per topology global table (NULL for none). */
ks__global_t *const *ks__globals_stores(const ks__global_runner_t *r);

/** Stop the global thread and free the stores. NULL is a no-op. */
void ks__globals_stop(ks__global_runner_t *r);

/** Record @p err as the app's fatal error (the first one wins) and move to
 *  ERROR. Takes ownership of @p err. */
void ks__app_fail(ks_app_t *app, ks_error_t *err);

/** A thread's state changed: recompute the app state. */
void ks__app_thread_state(ks_app_t *app, ks__thread_t *thr,
                          ks__thread_state_t state);

/** A closing thread has committed: wait (up to 10 s) until every running
 *  thread has, so that none leaves the group before the others commit. */
void ks__app_thread_committed(ks_app_t *app);

/** Create and start stream thread @p index. */
ks_err_t ks__thread_start(ks_app_t *app, int index, ks__thread_t **thrp,
                          ks_error_t **errp);

/** Wait for the thread to exit (it must have been told to stop through
 *  app->stopping), then free it. */
void ks__thread_join(ks__thread_t *thr);

ks__thread_state_t ks__thread_state(const ks__thread_t *thr);

/** The thread's counter @p name (see ks_app_metric()), -1 if unknown. */
int64_t ks__thread_metric(const ks__thread_t *thr, const char *name);

/** Set on @p conf every "prefix..." pass-through key of @p ks (prefix
 *  stripped), failing the call on a key librdkafka refuses. */
ks_err_t ks__rdkafka_conf_apply(const ks_config_t *ks, const char *prefix,
                                void *rd_conf, ks_error_t **errp);

#endif
