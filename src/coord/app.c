/* The application handle: state machine, start-up checks against the
 * cluster, internal topic creation, and the stream threads' lifecycle (see
 * coord_int.h). */
#include "coord_int.h"

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

#define METADATA_TIMEOUT_MS 10000
#define CREATE_TIMEOUT_MS   5000

static const char *const STATE_NAMES[] = {
        "CREATED",          "REBALANCING", "RUNNING",
        "PENDING_SHUTDOWN", "NOT_RUNNING", "ERROR",
};

const char *ks_app_state_name(ks_app_state_t state) {
        return (unsigned)state < sizeof(STATE_NAMES) / sizeof(*STATE_NAMES)
                       ? STATE_NAMES[state]
                       : "UNKNOWN";
}

/* Legal transitions (Kafka Streams' KafkaStreams.State). */
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

/* Move to @p to if legal; call with app->lock held. The listener runs
 * after the lock is released (see set_state). */
static int transition(ks_app_t *app, ks_app_state_t to, ks_app_state_t *fromp) {
        if (app->state == to || !legal(app->state, to))
                return 0;
        *fromp = app->state;
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

static void set_state(ks_app_t *app, ks_app_state_t to) {
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
        int changed = transition(app, KS_APP_ERROR, &from);
        __atomic_store_n(&app->stopping, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&app->lock);
        if (!err)
                ks__log(app->conf, KS_LOG_ERR, "APP", "fatal: %s",
                        ks_error_message(app->error));
        ks_error_destroy(err);
        if (changed)
                notify(app, KS_APP_ERROR, from);
}

void ks__app_thread_state(ks_app_t *app, ks__thread_t *thr,
                          ks__thread_state_t state) {
        (void)thr;
        (void)state;
        ks_app_state_t from, to;
        pthread_mutex_lock(&app->lock);
        int all_running = 1;
        for (int i = 0; i < app->thread_cnt; i++)
                if (app->threads[i] &&
                    ks__thread_state(app->threads[i]) != KS_THREAD_RUNNING)
                        all_running = 0;
        to = all_running ? KS_APP_RUNNING : KS_APP_REBALANCING;
        int changed = (app->state == KS_APP_RUNNING ||
                       app->state == KS_APP_REBALANCING) &&
                      transition(app, to, &from);
        pthread_cond_broadcast(&app->cond); /* close() waits for deaths */
        pthread_mutex_unlock(&app->lock);
        if (changed)
                notify(app, to, from);
}

void ks__app_thread_committed(ks_app_t *app) {
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

typedef struct {
        rd_kafka_conf_t *conf;
        ks_error_t **errp;
        ks_err_t err;
} apply_t;

static void apply_one(void *opaque, const char *key, const char *value) {
        apply_t *a = opaque;
        char buf[512];
        if (a->err)
                return;
        if (rd_kafka_conf_set(a->conf, key, value, buf, sizeof(buf)) !=
            RD_KAFKA_CONF_OK)
                a->err = ks__error_set(a->errp, KS_ERR_INVALID_CONFIG,
                                       "librdkafka refuses %s: %s", key, buf);
}

ks_err_t ks__rdkafka_conf_apply(const ks_config_t *ks, const char *prefix,
                                void *rd_conf, ks_error_t **errp) {
        apply_t a = {rd_conf, errp, KS_ERR_NO_ERROR};
        ks__config_foreach_passthrough(ks, prefix, apply_one, &a);
        return a.err;
}

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
                 * before the broker aborts it. */
                const char *tt =
                        ks_config_get(conf, "producer.transaction.timeout.ms");
                long long timeout = tt ? atoll(tt) : 10000;
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
        if (ks__rocks_env_new(app->conf, &app->rocks, errp)) {
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

/* --- start-up checks ---------------------------------------------------- */

static const rd_kafka_metadata_topic_t *
md_topic(const struct rd_kafka_metadata *md, const char *name) {
        for (int i = 0; i < md->topic_cnt; i++)
                if (!strcmp(md->topics[i].topic, name))
                        return md->topics[i].err ? NULL : &md->topics[i];
        return NULL;
}

static void append(char *buf, size_t size, const char *fmt, ...)
        KS_PRINTF(3, 4);
static void append(char *buf, size_t size, const char *fmt, ...) {
        size_t len = strlen(buf);
        if (len >= size - 1)
                return;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
}

static ks_err_t fetch_metadata(ks_app_t *app, rd_kafka_t *rk,
                               const struct rd_kafka_metadata **mdp,
                               ks_error_t **errp) {
        rd_kafka_resp_err_t e =
                rd_kafka_metadata(rk, 1, NULL, mdp, METADATA_TIMEOUT_MS);
        if (e)
                return ks__error_set(
                        errp, KS_ERR_KAFKA,
                        "cannot read the cluster's metadata from "
                        "bootstrap.servers %s within %d s: %s",
                        ks_config_get(app->conf, "bootstrap.servers"),
                        METADATA_TIMEOUT_MS / 1000, rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

/* Partition count of the sources of each sub-topology (checked equal). */
static ks_err_t check_sources(ks_app_t *app, const struct rd_kafka_metadata *md,
                              int *sub_parts, ks_error_t **errp) {
        ks_topology_t *topo = app->topo;
        char missing[1024] = "";
        for (size_t s = 0; s < topo->sub_cnt; s++) {
                const ks__subtopology_t *sub = &topo->subs[s];
                const char *first = NULL;
                sub_parts[s] = -1;
                for (size_t k = 0; k < sub->node_cnt; k++) {
                        const ks__node_t *n = sub->nodes[k];
                        for (size_t j = 0; n->kind == KS_NODE_SOURCE &&
                                           !n->internal && j < n->topic_cnt;
                             j++) {
                                const rd_kafka_metadata_topic_t *t =
                                        md_topic(md, n->topics[j]);
                                if (!t) {
                                        append(missing, sizeof(missing), "%s%s",
                                               *missing ? ", " : "",
                                               n->topics[j]);
                                        continue;
                                }
                                if (sub_parts[s] < 0) {
                                        sub_parts[s] = t->partition_cnt;
                                        first = n->topics[j];
                                } else if (t->partition_cnt != sub_parts[s]) {
                                        return ks__error_set(
                                                errp, KS_ERR_TOPOLOGY,
                                                "co-partitioning: source "
                                                "topics %s (%d partitions) "
                                                "and %s (%d partitions) of "
                                                "sub-topology %zu must have "
                                                "the same number of "
                                                "partitions",
                                                first, sub_parts[s],
                                                n->topics[j], t->partition_cnt,
                                                s);
                                }
                        }
                }
        }
        if (*missing)
                return ks__error_set(errp, KS_ERR_TOPOLOGY,
                                     "source topic(s) %s do not exist",
                                     missing);
        /* A sub-topology reading a repartition topic has as many partitions
         * as the sub-topologies writing it (the most of them). */
        for (int changed = 1; changed;) {
                changed = 0;
                for (size_t k = 0; k < topo->node_cnt; k++) {
                        const ks__node_t *sink = topo->nodes[k];
                        if (sink->kind != KS_NODE_SINK || !sink->internal ||
                            sink->partitions < 0)
                                continue; /* partitioned like its reader */
                        const ks__node_t *src =
                                ks__topology_source_for(topo, sink->topic);
                        int from = sink->partitions > 0
                                           ? sink->partitions
                                           : sub_parts[sink->subtopology];
                        if (src && from > sub_parts[src->subtopology]) {
                                sub_parts[src->subtopology] = from;
                                changed = 1;
                        }
                }
        }
        return KS_ERR_NO_ERROR;
}

/* Create the missing internal topics; a broker that does not answer
 * CreateTopics (librdkafka's mock) costs CREATE_TIMEOUT_MS, after which the
 * metadata decides. */
static void create_topics(ks_app_t *app, rd_kafka_t *rk,
                          rd_kafka_NewTopic_t **nts, size_t cnt) {
        char err[512];
        rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *opts =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(opts, CREATE_TIMEOUT_MS, err,
                                                  sizeof(err));
        rd_kafka_AdminOptions_set_operation_timeout(opts, CREATE_TIMEOUT_MS,
                                                    err, sizeof(err));
        rd_kafka_CreateTopics(rk, nts, cnt, opts, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CREATE_TIMEOUT_MS + 1000);
        if (!ev) {
                ks__log(app->conf, KS_LOG_WARNING, "APP",
                        "CreateTopics got no answer in %d ms",
                        CREATE_TIMEOUT_MS);
        } else {
                size_t n = 0;
                const rd_kafka_CreateTopics_result_t *r =
                        rd_kafka_event_CreateTopics_result(ev);
                const rd_kafka_topic_result_t **res =
                        r ? rd_kafka_CreateTopics_result_topics(r, &n) : NULL;
                for (size_t i = 0; i < n; i++)
                        if (rd_kafka_topic_result_error(res[i]) &&
                            rd_kafka_topic_result_error(res[i]) !=
                                    RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                                ks__log(app->conf, KS_LOG_WARNING, "APP",
                                        "creating %s: %s",
                                        rd_kafka_topic_result_name(res[i]),
                                        rd_kafka_topic_result_error_string(
                                                res[i]));
                rd_kafka_event_destroy(ev);
        }
        rd_kafka_AdminOptions_destroy(opts);
        rd_kafka_queue_destroy(q);
}

static ks_err_t check_internal(ks_app_t *app, rd_kafka_t *rk,
                               const struct rd_kafka_metadata **mdp,
                               const int *sub_parts, ks_error_t **errp) {
        ks_topology_t *topo = app->topo;
        size_t cnt = ks_topology_internal_topic_count(topo);
        rd_kafka_NewTopic_t **nts = calloc(cnt ? cnt : 1, sizeof(*nts));
        char **names = calloc(cnt ? cnt : 1, sizeof(*names));
        if (!nts || !names) {
                free(nts);
                free(names);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        size_t ncreate = 0;
        ks_err_t err = KS_ERR_NO_ERROR;
        int rf = (int)ks__config_int(app->conf, "replication.factor");
        for (int pass = 0; pass < 2 && !err; pass++) {
                char missing[1024] = "";
                for (size_t i = 0; i < cnt && !err; i++) {
                        char name[512];
                        const char *src;
                        ks_topology_internal_topic(topo, app->app_id, i, name,
                                                   sizeof(name), &src);
                        int want = -1;
                        const ks__node_t *sn =
                                ks__topology_source_for(topo, src);
                        if (sn)
                                want = sub_parts[sn->subtopology];
                        if (ks__topology_internal_partitions(topo, i) > 0)
                                want = ks__topology_internal_partitions(topo,
                                                                        i);
                        else if (ks__topology_internal_partitions(topo, i) <
                                         0 &&
                                 ks__topology_internal_reader(topo, i) >= 0)
                                want = sub_parts[ks__topology_internal_reader(
                                        topo, i)];
                        const rd_kafka_metadata_topic_t *t =
                                md_topic(*mdp, name);
                        if (t && t->partition_cnt != want) {
                                err = ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "internal topic %s has %d "
                                        "partitions, but %s%s has %d",
                                        name, t->partition_cnt,
                                        ks__topology_internal_partitions(topo,
                                                                         i) < 0
                                                ? "the sub-topology reading "
                                                  "it"
                                                : "its source topic ",
                                        ks__topology_internal_partitions(topo,
                                                                         i) < 0
                                                ? ""
                                                : src,
                                        want);
                        } else if (!t && pass == 0) {
                                char e[256];
                                rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
                                        name, want, rf, e, sizeof(e));
                                if (nt) {
                                        rd_kafka_NewTopic_set_config(
                                                nt, "cleanup.policy",
                                                ks__topology_internal_is_repartition(
                                                        topo, i)
                                                        ? "delete"
                                                        : "compact");
                                        names[ncreate] = ks__strdup(name);
                                        nts[ncreate++] = nt;
                                }
                        } else if (!t) {
                                append(missing, sizeof(missing), "%s%s",
                                       *missing ? ", " : "", name);
                        }
                }
                if (err || pass == 1) {
                        if (!err && *missing)
                                err = ks__error_set(
                                        errp, KS_ERR_TOPOLOGY,
                                        "internal topic(s) %s do not exist "
                                        "and could not be created (create "
                                        "them, compacted, with as many "
                                        "partitions as their source topics)",
                                        missing);
                        break;
                }
                if (!ncreate)
                        break;
                create_topics(app, rk, nts, ncreate);
                /* New topics take a moment to show in metadata (and another
                 * instance may be creating them at the same time). */
                int64_t until = ks__now_ms() + CREATE_TIMEOUT_MS;
                do {
                        rd_kafka_metadata_destroy(*mdp);
                        *mdp = NULL;
                        err = fetch_metadata(app, rk, mdp, errp);
                        int all = 1;
                        for (size_t i = 0; !err && i < ncreate; i++)
                                all &= !names[i] ||
                                       md_topic(*mdp, names[i]) != NULL;
                        if (err || all)
                                break;
                        rd_kafka_poll(rk, 200); /* paces the retries */
                } while (ks__now_ms() < until);
        }
        for (size_t i = 0; i < ncreate; i++) {
                rd_kafka_NewTopic_destroy(nts[i]);
                free(names[i]);
        }
        free(nts);
        free(names);
        return err;
}

static ks_err_t check_cluster(ks_app_t *app, ks_error_t **errp) {
        char buf[512];
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        if (rd_kafka_conf_set(rc, "bootstrap.servers",
                              ks_config_get(app->conf, "bootstrap.servers"),
                              buf, sizeof(buf))) {
                rd_kafka_conf_destroy(rc);
                return ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                                     "bootstrap.servers: %s", buf);
        }
        ks_err_t err = ks__rdkafka_conf_apply(app->conf, "admin.", rc, errp);
        if (err) {
                rd_kafka_conf_destroy(rc);
                return err;
        }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, buf, sizeof(buf));
        if (!rk) {
                rd_kafka_conf_destroy(rc);
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "cannot create the admin client: %s", buf);
        }
        const struct rd_kafka_metadata *md = NULL;
        int *sub_parts = calloc(app->topo->sub_cnt + 1, sizeof(int));
        if (!sub_parts)
                err = ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        if (!err)
                err = fetch_metadata(app, rk, &md, errp);
        if (!err)
                err = check_sources(app, md, sub_parts, errp);
        if (!err)
                err = check_internal(app, rk, &md, sub_parts, errp);
        if (md)
                rd_kafka_metadata_destroy(md);
        free(sub_parts);
        rd_kafka_destroy(rk);
        return err;
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
        if (iid && *iid) {
                snprintf(app->process_id, sizeof(app->process_id), "%s", iid);
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
        snprintf(app->process_id, sizeof(app->process_id), "%s", buf);
        free(path);
        return err;
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
                err = check_cluster(app, &e);
        if (!err)
                err = ks__globals_start(app, &app->globals, &e);
        int n = (int)ks__config_int(app->conf, "num.stream.threads");
        if (!err && !(app->threads = calloc((size_t)n, sizeof(*app->threads))))
                err = ks__error_set(&e, KS_ERR_NO_MEMORY, "out of memory");
        if (!err)
                set_state(app, KS_APP_REBALANCING);
        for (int i = 0; !err && i < n; i++) {
                ks__thread_t *thr;
                err = ks__thread_start(app, i, &thr, &e);
                if (!err) {
                        pthread_mutex_lock(&app->lock);
                        app->threads[i] = thr;
                        app->thread_cnt = i + 1;
                        pthread_mutex_unlock(&app->lock);
                }
        }
        if (err) {
                if (errp)
                        ks__error_set(errp, err, "%s", ks_error_message(e));
                ks__app_fail(app, e);
        }
        return err;
}

/* --- stop and queries --------------------------------------------------- */

static void abs_deadline(struct timespec *ts, int timeout_ms) {
        clock_gettime(CLOCK_REALTIME, ts);
        ts->tv_sec += timeout_ms / 1000;
        ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

ks_err_t ks_app_close(ks_app_t *app, int timeout_ms) {
        if (!app)
                return KS_ERR_INVALID_ARG;
        set_state(app, KS_APP_PENDING_SHUTDOWN);
        __atomic_store_n(&app->stopping, 1, __ATOMIC_SEQ_CST);
        struct timespec dl;
        abs_deadline(&dl, timeout_ms < 0 ? 0 : timeout_ms);
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
        set_state(app, KS_APP_NOT_RUNNING);
        return KS_ERR_NO_ERROR;
}

void ks_app_destroy(ks_app_t *app) {
        if (!app)
                return;
        if (app->state != KS_APP_CREATED || app->thread_cnt)
                ks_app_close(app, -1);
        for (int i = 0; i < app->thread_cnt; i++)
                ks__thread_join(app->threads[i]);
        free(app->threads);
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
        abs_deadline(&dl, timeout_ms < 0 ? 0 : timeout_ms);
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
        for (int i = 0; i < a->thread_cnt; i++) {
                int64_t v = ks__thread_metric(a->threads[i], name);
                if (v < 0) {
                        sum = -1;
                        break;
                }
                sum += v;
        }
        pthread_mutex_unlock(&a->lock);
        if (!a->thread_cnt && ks__thread_metric(NULL, name) < 0)
                return -1;
        return sum;
}
