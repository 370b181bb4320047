/* The application handle (Kafka Streams' KafkaStreams): what an
 * instance's threads share, and its state machine.
 *
 * The app owns the topology, a copy of the configuration, RocksDB's shared
 * cache, the state directory (locked against a second instance), the
 * global thread, the stream threads and the state cleaner. Threads are
 * given what they need and report through a listener (stream_thread_int.h);
 * nothing below calls the app by name.
 *
 * Locking: lock guards the state, the first error, the thread table and
 * the retired threads; counters are read from the threads with atomics. */
#ifndef KS_APP_INT_H
#define KS_APP_INT_H

#include <pthread.h>

#include "kstreams/app.h"
#include "kstreams/metrics.h"

#include "../state/rocksdb_int.h"
#include "../topology/topology_int.h"
#include "global_thread_int.h"
#include "instance_metadata_int.h"
#include "origin_int.h"
#include "query_registry_int.h"
#include "stream_thread_int.h"

struct ks_app_s {
        ks_topology_t *topo;
        ks_config_t *conf;
        const char *app_id; /* in conf */
        char *state_dir;    /* <state.dir>/<application.id> */
        int lock_fd;        /* flock()ed <state_dir>/.lock, or -1 */
        ks__rocks_env_t *rocks;
        char process_id[80]; /* instance.id, or kept in state_dir; written
                              * under lock (ks_app_metrics() reads it) */
        ks__origin_scope_t scope;
        int32_t *topic_partitions; /* per source topic index */

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
        ks_uncaught_error_cb *uncaught_cb;
        void *uncaught_opaque;
        ks__perr_handler_t on_error; /* the threads' tasks point at it */

        ks__thread_t **threads;
        int thread_cnt;         /* started so far */
        int thread_target;      /* num.stream.threads */
        ks__thread_t **retired; /* replaced threads, joined once dead */
        int retired_cnt;
        int64_t gone[KS_THREAD_METRICS]; /* counters of joined ones */
        ks__global_runner_t *globals;    /* NULL without global tables */

        pthread_t cleaner;
        int cleaner_started;

        ks_stats_cb *stats_cb; /* app_metrics.c */
        void *stats_opaque;
        pthread_t stats_thread;
        int stats_started;
        /* Interactive queries (query.c): the tasks they may read, and
         * the partition owners (NULL without application.server). */
        ks__qreg_t *queries;
        ks__imeta_t *meta;
};

/* --- app_metrics.c -------------------------------------------------------- */

/** Start the statistics thread when there is a callback and an interval. */
void ks__app_stats_start(ks_app_t *app);

/** Wait for the statistics thread (after stopping is set). */
void ks__app_stats_join(ks_app_t *app);

/* --- app_state.c ---------------------------------------------------------- */

/** Move to @p to; asserts that the transition is legal. The listener runs
 *  after the lock is released. */
void ks__app_set_state(ks_app_t *app, ks_app_state_t to);

/** Record @p err as the app's fatal error (the first one wins; taken
 *  over), go to ERROR if the state allows and tell the threads to stop. */
void ks__app_fail(ks_app_t *app, ks_error_t *err);

/** Recompute RUNNING / REBALANCING from the threads' states. */
void ks__app_threads_changed(ks_app_t *app);

/* --- topic_manager.c ------------------------------------------------------ */

/** Check the cluster before any thread starts: metadata, every source
 *  topic, co-partitioning, internal topics (created when missing). Fills
 *  app->topic_partitions. */
ks_err_t ks__topics_check(ks_app_t *app, ks_error_t **errp);

/* --- app.c ------------------------------------------------------------------
 */

/** The stream threads' listener. */
ks__thread_listener_t ks__app_thread_listener(ks_app_t *app);

#endif
