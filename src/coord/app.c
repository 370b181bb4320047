/* The application handle (see app_int.h): creation, start, the stream
 * threads' lifecycle and what they report, the state cleaner, close and
 * queries. */
#include "app_int.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "../state/state_dir_int.h"
#include "clients_int.h"

ks_app_t *ks_app_new(ks_topology_t *topo, const ks_config_t *conf,
                     ks_error_t **errp) {
        if (!topo || !conf) {
                ks__error_set(errp, KS_ERR_INVALID_ARG,
                              "ks_app_new needs a topology and a config");
                return NULL;
        }
        const char *required[] = {"application.id", "bootstrap.servers"};
        for (size_t i = 0; i < 2; i++) {
                const char *v = ks_config_get(conf, required[i]);
                if (!v || !*v) {
                        ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                      "%s must be set to run an application",
                                      required[i]);
                        return NULL;
                }
        }
        if (ks__config_enum(conf, "processing.guarantee") ==
            KS_GUARANTEE_EXACTLY_ONCE_V2) {
                /* A transaction spans one commit interval: it must end
                 * before the broker aborts it. The producer's timeout as
                 * its client is made: the default, then client.*, then
                 * producer.*. */
                rd_kafka_conf_t *rc = rd_kafka_conf_new();
                char tt[32] = "10000";
                size_t tl = sizeof(tt);
                rd_kafka_conf_set(rc, "transaction.timeout.ms", tt, NULL, 0);
                if (ks__client_conf_apply(conf, KS_CLIENT_PRODUCER, rc, NULL) ||
                    rd_kafka_conf_get(rc, "transaction.timeout.ms", tt, &tl))
                        snprintf(tt, sizeof(tt), "10000");
                rd_kafka_conf_destroy(rc);
                long long timeout = atoll(tt);
                if (ks__config_commit_interval_ms(conf) >= timeout) {
                        ks__error_set(
                                errp, KS_ERR_INVALID_CONFIG,
                                "commit.interval.ms (%lld) must be "
                                "shorter than the producer's "
                                "transaction.timeout.ms (%lld) under "
                                "exactly_once_v2",
                                (long long)ks__config_commit_interval_ms(conf),
                                timeout);
                        return NULL;
                }
        }
        if (ks_topology_build(topo, errp) ||
            ks__topology_bind(topo, ks_config_get(conf, "application.id"),
                              errp))
                return NULL;
        ks_app_t *app = calloc(1, sizeof(*app));
        if (!app) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&app->lock, NULL);
        pthread_cond_init(&app->cond, NULL);
        app->state = KS_APP_CREATED;
        app->lock_fd = -1;
        app->topo = ks__topology_ref(topo);
        app->conf = ks_config_dup(conf);
        if (!app->conf) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                ks_app_destroy(app);
                return NULL;
        }
        app->app_id = ks_config_get(app->conf, "application.id");
        const char *sd = ks_config_get(app->conf, "state.dir");
        size_t n = strlen(sd) + strlen(app->app_id) + 2;
        if (!(app->state_dir = malloc(n))) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                ks_app_destroy(app);
                return NULL;
        }
        snprintf(app->state_dir, n, "%s/%s", sd, app->app_id);
        /* What origin headers and committed metadata carry: honoured only
         * with this application's topology. */
        app->scope.tag = ks__topology_tag(app->topo, app->app_id);
        if (ks__rocks_env_new(app->conf, &app->rocks, errp)) {
                ks_app_destroy(app);
                return NULL;
        }
        if (!(app->queries = ks__qreg_new())) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                ks_app_destroy(app);
                return NULL;
        }
        return app;
}

void ks_app_set_state_listener(ks_app_t *app, ks_app_state_cb *cb,
                               void *opaque) {
        if (!app)
                return;
        app->state_cb = cb;
        app->state_opaque = opaque;
}

void ks_app_set_restore_listener(ks_app_t *app, ks_restore_cb *cb,
                                 void *opaque) {
        if (!app)
                return;
        app->restore_cb = cb;
        app->restore_opaque = opaque;
}

void ks_app_set_uncaught_error_handler(ks_app_t *app, ks_uncaught_error_cb *cb,
                                       void *opaque) {
        if (!app)
                return;
        app->uncaught_cb = cb;
        app->uncaught_opaque = opaque;
}

void ks_app_set_processing_error_handler(ks_app_t *app,
                                         ks_processing_error_cb *cb,
                                         void *opaque) {
        if (!app)
                return;
        /* The threads read it without a lock: only before they exist. */
        pthread_mutex_lock(&app->lock);
        int created = app->state == KS_APP_CREATED;
        if (created) {
                app->on_error.cb = cb;
                app->on_error.opaque = opaque;
        }
        pthread_mutex_unlock(&app->lock);
        if (!created)
                ks__log(app->conf, KS_LOG_WARNING, "APP",
                        "ks_app_set_processing_error_handler() after "
                        "ks_app_start() is ignored");
}

/* One instance per state directory: a second one on the same machine would
 * share (and corrupt) the task directories. */
static ks_err_t lock_state_dir(ks_app_t *app, ks_error_t **errp) {
        app->lock_fd = ks__lock_dir(app->state_dir);
        if (app->lock_fd >= 0)
                return KS_ERR_NO_ERROR;
        if (errno == EWOULDBLOCK)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "state directory %s is in use by another "
                                     "instance of application %s (give each "
                                     "instance its own state.dir)",
                                     app->state_dir, app->app_id);
        return ks__error_set(errp, KS_ERR_IO,
                             "cannot lock state directory %s: %s",
                             app->state_dir, strerror(errno));
}

/* The instance's stable id, which its transactional ids are made of:
 * instance.id when set, else a random id kept in the state directory, so
 * that a restarted instance fences the transactions its previous run left
 * open instead of waiting for them to time out. */
static ks_err_t load_process_id(ks_app_t *app, ks_error_t **errp) {
        const char *iid = ks_config_get(app->conf, "instance.id");
        /* Under the lock: ks_app_metrics() reads it from any thread, an
         * HTTP endpoint's while the app starts. */
        if (iid && *iid) {
                pthread_mutex_lock(&app->lock);
                snprintf(app->process_id, sizeof(app->process_id), "%s", iid);
                pthread_mutex_unlock(&app->lock);
                return KS_ERR_NO_ERROR;
        }
        size_t n = strlen(app->state_dir) + 32;
        char *path = malloc(n);
        if (!path)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        snprintf(path, n, "%s/process-id", app->state_dir);
        ks_err_t err = KS_ERR_NO_ERROR;
        FILE *f = fopen(path, "r");
        char buf[sizeof(app->process_id)] = "";
        if (f) {
                if (!fgets(buf, sizeof(buf), f))
                        buf[0] = '\0';
                fclose(f);
                buf[strcspn(buf, "\r\n")] = '\0';
                for (char *c = buf; *c; c++)
                        if (!isxdigit((unsigned char)*c))
                                buf[0] = '\0'; /* not ours: make another */
        }
        if (strlen(buf) != 32) {
                unsigned char rnd[16];
                FILE *u = fopen("/dev/urandom", "r");
                if (!u || fread(rnd, 1, sizeof(rnd), u) != sizeof(rnd)) {
                        uint64_t x = (uint64_t)ks__now_ms() ^
                                     ((uint64_t)getpid() << 32);
                        for (size_t i = 0; i < sizeof(rnd); i++) {
                                x = x * 6364136223846793005ULL + 1;
                                rnd[i] = (unsigned char)(x >> 56);
                        }
                }
                if (u)
                        fclose(u);
                for (size_t i = 0; i < sizeof(rnd); i++)
                        snprintf(buf + 2 * i, 3, "%02x", rnd[i]);
                if (!(f = fopen(path, "w")) || fprintf(f, "%s\n", buf) < 0)
                        err = ks__error_set(errp, KS_ERR_IO,
                                            "cannot write %s: %s", path,
                                            strerror(errno));
                if (f && fclose(f) && !err)
                        err = ks__error_set(errp, KS_ERR_IO,
                                            "cannot write %s: %s", path,
                                            strerror(errno));
        }
        pthread_mutex_lock(&app->lock);
        snprintf(app->process_id, sizeof(app->process_id), "%s", buf);
        pthread_mutex_unlock(&app->lock);
        free(path);
        return err;
}

/* --- the stream threads ----------------------------------------------------
 */

static ks__thread_env_t thread_env(ks_app_t *app, int index) {
        const char *server = ks_config_get(app->conf, "application.server");
        return (ks__thread_env_t){
                .conf = app->conf,
                .topo = app->topo,
                .rocks = app->rocks,
                .state_dir = app->state_dir,
                .app_id = app->app_id,
                .process_id = app->process_id,
                .globals = ks__globals_stores(app->globals),
                .scope = app->scope,
                .stopping = &app->stopping,
                .restore_cb = app->restore_cb,
                .restore_opaque = app->restore_opaque,
                .on_error = &app->on_error,
                .listener = ks__app_thread_listener(app),
                .index = index,
                .queries = app->queries,
                .server = server && *server ? server : NULL,
        };
}

static void on_thread_state(void *opaque, ks__thread_t *thr,
                            ks__thread_state_t st) {
        (void)thr;
        (void)st;
        ks__app_threads_changed(opaque);
}

/* A closing thread has committed: wait (up to 10 s) until every running
 * thread has, so that none leaves the group before the others commit. */
static void on_thread_closing(void *opaque) {
        ks_app_t *app = opaque;
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 10;
        pthread_mutex_lock(&app->lock);
        app->closed_commits++;
        pthread_cond_broadcast(&app->cond);
        for (;;) {
                int alive = 0;
                for (int i = 0; i < app->thread_cnt; i++)
                        if (ks__thread_state(app->threads[i]) != KS_THREAD_DEAD)
                                alive++;
                if (app->closed_commits >= alive ||
                    pthread_cond_timedwait(&app->cond, &app->lock, &dl) ==
                            ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&app->lock);
}

/* Take the retired threads that have ended out of the table, keeping
 * their counters; returns them (to join, without the lock), *n of them.
 * Call with the lock held. */
static ks__thread_t **take_dead(ks_app_t *app, int *n) {
        ks__thread_t **dead =
                calloc((size_t)app->retired_cnt + 1, sizeof(*dead));
        *n = 0;
        for (int i = 0; dead && i < app->retired_cnt;) {
                ks__thread_t *r = app->retired[i];
                if (ks__thread_state(r) != KS_THREAD_DEAD) {
                        i++;
                        continue;
                }
                for (int k = 0; k < KS_THREAD_METRICS; k++)
                        if (strcmp(ks__thread_metric_names[k], "tasks"))
                                app->gone[k] += ks__thread_metric(
                                        r, ks__thread_metric_names[k]);
                dead[(*n)++] = r;
                app->retired[i] = app->retired[--app->retired_cnt];
        }
        return dead;
}

/* Replace @p thr by a new thread of the same index (its listener runs on
 * the old thread, which then ends; it is joined by a later replacement or
 * at destroy). */
static int replace_thread(ks_app_t *app, ks__thread_t *thr) {
        pthread_mutex_lock(&app->lock);
        int dead_cnt = 0;
        ks__thread_t **dead = take_dead(app, &dead_cnt);
        int i = 0;
        while (i < app->thread_cnt && app->threads[i] != thr)
                i++;
        ks__thread_t **nr =
                i < app->thread_cnt
                        ? realloc(app->retired,
                                  (size_t)(app->retired_cnt + 1) * sizeof(*nr))
                        : NULL;
        int ok = 0;
        if (nr && !__atomic_load_n(&app->stopping, __ATOMIC_SEQ_CST)) {
                app->retired = nr;
                ks_error_t *e = NULL;
                ks__thread_t *fresh = NULL;
                ks__thread_env_t env = thread_env(app, i);
                if (!ks__thread_start(&env, &fresh, &e)) {
                        app->retired[app->retired_cnt++] = thr;
                        app->threads[i] = fresh;
                        ok = 1;
                } else {
                        ks__log(app->conf, KS_LOG_ERR, "APP",
                                "cannot replace stream thread %d: %s", i + 1,
                                ks_error_message(e));
                }
                ks_error_destroy(e);
        } else if (nr) {
                app->retired = nr;
        }
        pthread_mutex_unlock(&app->lock);
        for (int k = 0; k < dead_cnt; k++)
                ks__thread_join(dead[k]);
        free(dead);
        return ok;
}

/* A thread stops on @p err: the uncaught-error handler decides between
 * replacing it and stopping the instance (Kafka Streams' default). */
static void on_thread_failed(void *opaque, ks__thread_t *thr, ks_error_t *err,
                             int replaceable) {
        ks_app_t *app = opaque;
        ks_uncaught_action_t act = KS_UNCAUGHT_SHUTDOWN_CLIENT;
        if (replaceable && app->uncaught_cb)
                act = app->uncaught_cb(app->uncaught_opaque, err);
        if (act == KS_UNCAUGHT_REPLACE_THREAD && replace_thread(app, thr)) {
                ks__log(app->conf, KS_LOG_WARNING, "APP",
                        "stream thread replaced after: %s",
                        ks_error_message(err));
                ks_error_destroy(err);
                return;
        }
        ks__app_fail(app, err);
}

ks__thread_listener_t ks__app_thread_listener(ks_app_t *app) {
        return (ks__thread_listener_t){app, on_thread_state, on_thread_closing,
                                       on_thread_failed};
}

/* --- the state cleaner ------------------------------------------------------
 */

/* Every state.cleanup.delay.ms, remove the task directories no task has
 * used for that long (tasks that moved to other instances). */
static void *cleaner_main(void *arg) {
        ks_app_t *app = arg;
        int64_t delay = ks__config_int(app->conf, "state.cleanup.delay.ms");
        int64_t wait = delay < 1000 ? 1000 : delay;
        struct timespec dl;
        ks__deadline(&dl, wait);
        pthread_mutex_lock(&app->lock);
        while (!__atomic_load_n(&app->stopping, __ATOMIC_SEQ_CST)) {
                /* Woken by every state change: the deadline stays. */
                if (pthread_cond_timedwait(&app->cond, &app->lock, &dl) !=
                    ETIMEDOUT)
                        continue;
                ks__deadline(&dl, wait);
                pthread_mutex_unlock(&app->lock);
                size_t n = 0;
                ks__state_dir_clean(app->state_dir, delay, &n);
                if (n)
                        ks__log(app->conf, KS_LOG_INFO, "CLEANER",
                                "removed %zu task directories unused for "
                                "%" PRId64 " ms (state.cleanup.delay.ms)",
                                n, delay);
                pthread_mutex_lock(&app->lock);
        }
        pthread_mutex_unlock(&app->lock);
        return NULL;
}

ks_err_t ks_app_start(ks_app_t *app, ks_error_t **errp) {
        if (!app)
                return KS_ERR_INVALID_ARG;
        pthread_mutex_lock(&app->lock);
        ks_app_state_t st = app->state;
        pthread_mutex_unlock(&app->lock);
        if (st != KS_APP_CREATED)
                return ks__error_set(errp, KS_ERR_STATE,
                                     "the app can start only once (it is %s)",
                                     ks_app_state_name(st));
        ks_error_t *e = NULL;
        ks_err_t err = ks__mkdirs(app->state_dir, &e);
        if (!err)
                err = lock_state_dir(app, &e);
        if (!err)
                err = load_process_id(app, &e);
        if (!err)
                err = ks__topics_check(app, &e);
        if (!err) {
                ks__globals_env_t genv = {app->conf, app->topo, app->app_id,
                                          app->process_id, &app->stopping};
                err = ks__globals_start(&genv, &app->globals, &e);
        }
        const char *server = ks_config_get(app->conf, "application.server");
        if (!err && server && *server) {
                ks__imeta_env_t menv = {app->conf,
                                        app->topo,
                                        app->app_id,
                                        app->process_id,
                                        app->topic_partitions,
                                        app->queries,
                                        &app->stopping};
                err = ks__imeta_start(&menv, &app->meta, &e);
        }
        int n = (int)ks__config_int(app->conf, "num.stream.threads");
        app->thread_target = n;
        if (!err && !(app->threads = calloc((size_t)n, sizeof(*app->threads))))
                err = ks__error_set(&e, KS_ERR_NO_MEMORY, "out of memory");
        if (!err)
                ks__app_set_state(app, KS_APP_REBALANCING);
        for (int i = 0; !err && i < n; i++) {
                ks__thread_t *thr;
                ks__thread_env_t env = thread_env(app, i);
                err = ks__thread_start(&env, &thr, &e);
                if (!err) {
                        pthread_mutex_lock(&app->lock);
                        app->threads[i] = thr;
                        app->thread_cnt = i + 1;
                        pthread_mutex_unlock(&app->lock);
                }
        }
        if (!err && !pthread_create(&app->cleaner, NULL, cleaner_main, app))
                app->cleaner_started = 1;
        if (!err)
                ks__app_stats_start(app);
        if (err) {
                if (errp)
                        ks__error_set(errp, err, "%s", ks_error_message(e));
                ks__app_fail(app, e);
        }
        return err;
}

/* --- stop and queries --------------------------------------------------- */

ks_err_t ks_app_close(ks_app_t *app, int timeout_ms) {
        if (!app)
                return KS_ERR_INVALID_ARG;
        pthread_mutex_lock(&app->lock);
        int closing = app->state == KS_APP_PENDING_SHUTDOWN ||
                      app->state == KS_APP_NOT_RUNNING;
        __atomic_store_n(&app->stopping, 1, __ATOMIC_SEQ_CST);
        pthread_cond_broadcast(&app->cond); /* the cleaner leaves */
        pthread_mutex_unlock(&app->lock);
        if (!closing)
                ks__app_set_state(app, KS_APP_PENDING_SHUTDOWN);
        struct timespec dl;
        ks__deadline(&dl, timeout_ms < 0 ? 0 : timeout_ms);
        pthread_mutex_lock(&app->lock);
        int done;
        for (;;) {
                done = 1;
                for (int i = 0; i < app->thread_cnt; i++)
                        if (ks__thread_state(app->threads[i]) != KS_THREAD_DEAD)
                                done = 0;
                if (done)
                        break;
                if (timeout_ms < 0)
                        pthread_cond_wait(&app->cond, &app->lock);
                else if (pthread_cond_timedwait(&app->cond, &app->lock, &dl) ==
                         ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&app->lock);
        if (!done)
                return KS_ERR_TIMED_OUT;
        if (ks_app_state(app) == KS_APP_PENDING_SHUTDOWN)
                ks__app_set_state(app, KS_APP_NOT_RUNNING);
        return KS_ERR_NO_ERROR;
}

void ks_app_destroy(ks_app_t *app) {
        if (!app)
                return;
        if (app->state != KS_APP_CREATED || app->thread_cnt)
                ks_app_close(app, -1);
        if (app->cleaner_started)
                pthread_join(app->cleaner, NULL);
        ks__app_stats_join(app);
        /* Every thread ended before any is freed: a thread's last state
         * change reads the others' states (after close() saw it DEAD). */
        for (int i = 0; i < app->thread_cnt; i++)
                ks__thread_wait(app->threads[i]);
        for (int i = 0; i < app->retired_cnt; i++)
                ks__thread_wait(app->retired[i]);
        for (int i = 0; i < app->thread_cnt; i++)
                ks__thread_join(app->threads[i]);
        for (int i = 0; i < app->retired_cnt; i++)
                ks__thread_join(app->retired[i]);
        ks__imeta_stop(app->meta);
        ks__qreg_destroy(app->queries);
        free(app->threads);
        free(app->retired);
        free(app->topic_partitions);
        ks__globals_stop(app->globals);
        if (app->lock_fd >= 0)
                close(app->lock_fd);
        ks__rocks_env_destroy(app->rocks);
        ks_error_destroy(app->error);
        free(app->state_dir);
        ks_config_destroy(app->conf);
        ks_topology_destroy(app->topo);
        pthread_cond_destroy(&app->cond);
        pthread_mutex_destroy(&app->lock);
        free(app);
}

ks_app_state_t ks_app_state(const ks_app_t *app) {
        ks_app_t *a = (ks_app_t *)app;
        pthread_mutex_lock(&a->lock);
        ks_app_state_t s = a->state;
        pthread_mutex_unlock(&a->lock);
        return s;
}

int ks_app_wait_state(ks_app_t *app, ks_app_state_t state, int timeout_ms) {
        struct timespec dl;
        ks__deadline(&dl, timeout_ms < 0 ? 0 : timeout_ms);
        pthread_mutex_lock(&app->lock);
        for (;;) {
                if (app->state == state)
                        break;
                if ((state == KS_APP_RUNNING || state == KS_APP_REBALANCING) &&
                    (app->state == KS_APP_ERROR ||
                     app->state == KS_APP_NOT_RUNNING))
                        break;
                if (timeout_ms < 0)
                        pthread_cond_wait(&app->cond, &app->lock);
                else if (pthread_cond_timedwait(&app->cond, &app->lock, &dl) ==
                         ETIMEDOUT)
                        break;
        }
        int ok = app->state == state;
        pthread_mutex_unlock(&app->lock);
        return ok;
}

const ks_error_t *ks_app_error(const ks_app_t *app) {
        ks_app_t *a = (ks_app_t *)app;
        pthread_mutex_lock(&a->lock);
        const ks_error_t *e = a->error;
        pthread_mutex_unlock(&a->lock);
        return e;
}

int64_t ks_app_metric(const ks_app_t *app, const char *name) {
        if (!app || !name)
                return -1;
        ks_app_t *a = (ks_app_t *)app;
        int64_t sum = 0;
        pthread_mutex_lock(&a->lock);
        for (int i = 0; i < a->thread_cnt + a->retired_cnt; i++) {
                int64_t v = ks__thread_metric(
                        i < a->thread_cnt ? a->threads[i]
                                          : a->retired[i - a->thread_cnt],
                        name);
                if (v < 0) {
                        sum = -1;
                        break;
                }
                /* A retired thread's tasks are gone. */
                if (i < a->thread_cnt || strcmp(name, "tasks"))
                        sum += v;
        }
        for (int k = 0; sum >= 0 && k < KS_THREAD_METRICS; k++)
                if (!strcmp(ks__thread_metric_names[k], name))
                        sum += a->gone[k];
        pthread_mutex_unlock(&a->lock);
        if (!a->thread_cnt && ks__thread_metric(NULL, name) < 0)
                return -1;
        return sum;
}
