/* The application's state machine (Kafka Streams' KafkaStreams.State):
 *
 *     CREATED -> REBALANCING <-> RUNNING -> PENDING_SHUTDOWN -> NOT_RUNNING
 *         \           |             |            ^
 *          +----------+-------------+--> ERROR --+
 *
 * The app is RUNNING when every stream thread is, REBALANCING while any is
 * joining, initializing or restoring. A fatal error moves it to ERROR and
 * tells every thread to stop; only close() leaves ERROR. */
#include "app_int.h"

#include <assert.h>

#include "../common/config_int.h"

static const char *const STATE_NAMES[] = {
        "CREATED",          "REBALANCING", "RUNNING",
        "PENDING_SHUTDOWN", "NOT_RUNNING", "ERROR",
};

const char *ks_app_state_name(ks_app_state_t state) {
        return (unsigned)state < sizeof(STATE_NAMES) / sizeof(*STATE_NAMES)
                       ? STATE_NAMES[state]
                       : "UNKNOWN";
}

static int legal(ks_app_state_t from, ks_app_state_t to) {
        switch (from) {
        case KS_APP_CREATED:
                return to == KS_APP_REBALANCING || to == KS_APP_ERROR ||
                       to == KS_APP_PENDING_SHUTDOWN;
        case KS_APP_REBALANCING:
                return to == KS_APP_RUNNING || to == KS_APP_ERROR ||
                       to == KS_APP_PENDING_SHUTDOWN;
        case KS_APP_RUNNING:
                return to == KS_APP_REBALANCING || to == KS_APP_ERROR ||
                       to == KS_APP_PENDING_SHUTDOWN;
        case KS_APP_PENDING_SHUTDOWN:
                return to == KS_APP_NOT_RUNNING;
        case KS_APP_ERROR:
                return to == KS_APP_PENDING_SHUTDOWN;
        case KS_APP_NOT_RUNNING:
                return 0;
        }
        return 0;
}

/* The one place the state changes; call with the lock held. Returns 1 if
 * it changed (the caller notifies once unlocked). */
static int transition(ks_app_t *app, ks_app_state_t to, ks_app_state_t *from) {
        if (app->state == to)
                return 0;
        assert(legal(app->state, to));
        *from = app->state;
        app->state = to;
        pthread_cond_broadcast(&app->cond);
        return 1;
}

static void notify(ks_app_t *app, ks_app_state_t to, ks_app_state_t from) {
        ks__log(app->conf, KS_LOG_INFO, "APP", "state %s -> %s",
                ks_app_state_name(from), ks_app_state_name(to));
        if (app->state_cb)
                app->state_cb(app->state_opaque, to, from);
}

void ks__app_set_state(ks_app_t *app, ks_app_state_t to) {
        ks_app_state_t from;
        pthread_mutex_lock(&app->lock);
        int changed = transition(app, to, &from);
        pthread_mutex_unlock(&app->lock);
        if (changed)
                notify(app, to, from);
}

void ks__app_fail(ks_app_t *app, ks_error_t *err) {
        ks_app_state_t from;
        pthread_mutex_lock(&app->lock);
        if (!app->error) {
                app->error = err;
                err = NULL;
        }
        /* Once shutting down, an error is kept but the state stays. */
        int changed = legal(app->state, KS_APP_ERROR) &&
                      transition(app, KS_APP_ERROR, &from);
        __atomic_store_n(&app->stopping, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&app->lock);
        if (!err)
                ks__log(app->conf, KS_LOG_ERR, "APP", "fatal: %s",
                        ks_error_message(app->error));
        ks_error_destroy(err);
        if (changed)
                notify(app, KS_APP_ERROR, from);
}

void ks__app_threads_changed(ks_app_t *app) {
        ks_app_state_t from;
        pthread_mutex_lock(&app->lock);
        /* RUNNING only once every thread has started and runs. */
        int all_running = app->thread_cnt == app->thread_target;
        for (int i = 0; i < app->thread_cnt; i++)
                if (app->threads[i] &&
                    ks__thread_state(app->threads[i]) != KS_THREAD_RUNNING)
                        all_running = 0;
        ks_app_state_t to = all_running ? KS_APP_RUNNING : KS_APP_REBALANCING;
        int changed = (app->state == KS_APP_RUNNING ||
                       app->state == KS_APP_REBALANCING) &&
                      transition(app, to, &from);
        pthread_cond_broadcast(&app->cond); /* close() waits for deaths */
        pthread_mutex_unlock(&app->lock);
        if (changed)
                notify(app, to, from);
}
