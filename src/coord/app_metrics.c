/* The application's metrics (kstreams/metrics.h): a snapshot gathers the
 * application level and what each stream thread last published; the
 * statistics thread hands the JSON form to the user's callback every
 * statistics.interval.ms. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "app_int.h"
#include "thread_metrics_int.h"

#define APP_GROUP "stream-metrics"

ks_metrics_t *ks_app_metrics(ks_app_t *app) {
        ks_metrics_t *set = ks__mset_new();
        if (!app || !set)
                return set;
        char client[256];
        const char *cid = ks_config_get(app->conf, "client.id");
        pthread_mutex_lock(&app->lock);
        snprintf(client, sizeof(client), "%s%s%s",
                 cid && *cid ? cid : app->app_id, *app->process_id ? "-" : "",
                 app->process_id);
        const char *tags[] = {"client-id", client, NULL};
        ks__mset_add(set, APP_GROUP, "state",
                     "the application's state: 0 CREATED, 1 REBALANCING, 2 "
                     "RUNNING, 3 PENDING_SHUTDOWN, 4 NOT_RUNNING, 5 ERROR",
                     (double)app->state, tags);
        int alive = 0;
        for (int i = 0; i < app->thread_cnt; i++)
                alive += ks__thread_state(app->threads[i]) != KS_THREAD_DEAD;
        ks__mset_add(set, APP_GROUP, "alive-stream-threads",
                     "stream threads running", alive, tags);
        ks__mset_add(set, APP_GROUP, "block-cache-usage",
                     "bytes in use in RocksDB's block cache (shared by "
                     "every store of the instance)",
                     (double)ks__rocks_env_cache_usage(app->rocks), tags);
        for (int i = 0; i < app->thread_cnt; i++)
                ks__thread_copy_metrics(app->threads[i], set);
        pthread_mutex_unlock(&app->lock);
        if (ks__mset_failed(set)) {
                ks_metrics_destroy(set);
                return NULL;
        }
        return set;
}

char *ks_app_metrics_prometheus(ks_app_t *app, size_t *len) {
        ks_metrics_t *m = ks_app_metrics(app);
        char *s = m ? ks__mset_prometheus(m, len) : NULL;
        ks_metrics_destroy(m);
        return s;
}

char *ks_app_metrics_json(ks_app_t *app, size_t *len) {
        ks_metrics_t *m = ks_app_metrics(app);
        char *s = m ? ks__mset_json(m, ks__wallclock_ms(), len) : NULL;
        ks_metrics_destroy(m);
        return s;
}

void ks_app_set_stats_callback(ks_app_t *app, ks_stats_cb *cb, void *opaque) {
        if (!app)
                return;
        pthread_mutex_lock(&app->lock);
        app->stats_cb = cb;
        app->stats_opaque = opaque;
        pthread_mutex_unlock(&app->lock);
}

static void deadline(struct timespec *dl, int64_t every) {
        clock_gettime(CLOCK_REALTIME, dl);
        dl->tv_sec += every / 1000;
        dl->tv_nsec += (every % 1000) * 1000000;
        if (dl->tv_nsec >= 1000000000) {
                dl->tv_sec++;
                dl->tv_nsec -= 1000000000;
        }
}

static void *stats_main(void *arg) {
        ks_app_t *app = arg;
        int64_t every = ks__config_int(app->conf, "statistics.interval.ms");
        struct timespec dl;
        deadline(&dl, every);
        pthread_mutex_lock(&app->lock);
        while (!__atomic_load_n(&app->stopping, __ATOMIC_SEQ_CST)) {
                /* The condition is signalled at every state change of the
                 * app or a thread: the deadline stays until it passes. */
                if (pthread_cond_timedwait(&app->cond, &app->lock, &dl) !=
                    ETIMEDOUT)
                        continue;
                deadline(&dl, every);
                ks_stats_cb *cb = app->stats_cb;
                void *opaque = app->stats_opaque;
                pthread_mutex_unlock(&app->lock);
                size_t len = 0;
                char *json = cb ? ks_app_metrics_json(app, &len) : NULL;
                if (json)
                        cb(opaque, json, len);
                free(json);
                pthread_mutex_lock(&app->lock);
        }
        pthread_mutex_unlock(&app->lock);
        return NULL;
}

void ks__app_stats_start(ks_app_t *app) {
        if (app->stats_cb &&
            ks__config_int(app->conf, "statistics.interval.ms") > 0 &&
            !pthread_create(&app->stats_thread, NULL, stats_main, app))
                app->stats_started = 1;
}

void ks__app_stats_join(ks_app_t *app) {
        if (app->stats_started)
                pthread_join(app->stats_thread, NULL);
        app->stats_started = 0;
}
