/* Stream threads (see stream_thread_int.h).
 *
 * The loop: poll the consumer (rebalance callbacks run inside the poll),
 * queue what it returns with the task manager, initialize new tasks,
 * restore stores in bounded steps, process a bounded number of records,
 * fire wall-clock punctuation, serve delivery reports, commit every
 * commit.interval.ms. No step stays away from the consumer's poll for
 * long, so a large restore never costs the group membership.
 *
 * At-least-once commit: let the caches and duplicate marks out, flush the
 * producer (every output and changelog record acknowledged; the first send
 * error surfaces here), write each task's stores with their checkpoints,
 * then commit the offsets, which carry the changelog positions.
 * Exactly-once commit: the same, with output, changelogs and offsets in
 * one transaction, and the stores written only once it has committed. */
#include "stream_thread_int.h"

#include <assert.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "clients_int.h"
#include "instance_metadata_int.h"
#include "stream_thread_impl_int.h"

#define RESTORE_STEP_MS 100   /* restore time between consumer polls */
#define PROCESS_STEP    1000  /* records processed between polls */
#define POLL_BATCH      500   /* records taken from the consumer at once */
#define TXN_CALL_MS     30000 /* each transactional call */

/* Records the main consumer keeps prefetched. Once that many are queued,
 * librdkafka (2.0) stops fetching until its broker thread next wakes, up
 * to a second later: the default, 100000, caps a consumer at about that
 * many records a second. The bytes stay bounded by
 * queued.max.messages.kbytes. */
#define QUEUED_MIN_MESSAGES "500000"

/* --- state ---------------------------------------------------------------- */

static int legal(ks__thread_state_t from, ks__thread_state_t to) {
        switch (from) {
        case KS_THREAD_CREATED:
                return to == KS_THREAD_STARTING || to == KS_THREAD_STOPPING;
        case KS_THREAD_STARTING:
        case KS_THREAD_ASSIGNED:
        case KS_THREAD_RUNNING:
                return to != KS_THREAD_CREATED && to != KS_THREAD_DEAD;
        case KS_THREAD_STOPPING:
                return to == KS_THREAD_DEAD;
        case KS_THREAD_DEAD:
                return 0;
        }
        return 0;
}

void ks__thread_set_state(ks__thread_t *thr, ks__thread_state_t to) {
        ks__thread_state_t from = ks__thread_state(thr);
        if (from == to)
                return;
        assert(legal(from, to));
        __atomic_store_n(&thr->state, (int)to, __ATOMIC_SEQ_CST);
        thr->env.listener.state(thr->env.listener.opaque, thr, to);
}

ks__thread_state_t ks__thread_state(const ks__thread_t *thr) {
        return (ks__thread_state_t)__atomic_load_n(&thr->state,
                                                   __ATOMIC_SEQ_CST);
}

void ks__thread_fail(ks__thread_t *thr, ks_error_t *e, int replaceable) {
        if (thr->fatal) {
                ks_error_destroy(e);
                return;
        }
        thr->fatal = e ? e
                       : ks__error_new(KS_ERR_FATAL, KS_ERROR_F_FATAL,
                                       "stream thread failed");
        thr->fatal_replaceable = replaceable;
}

static void failf(ks__thread_t *thr, int replaceable, ks_err_t code,
                  const char *fmt, ...) KS_PRINTF(4, 5);
static void failf(ks__thread_t *thr, int replaceable, ks_err_t code,
                  const char *fmt, ...) {
        ks_error_t *e = NULL;
        va_list ap;
        va_start(ap, fmt);
        ks__error_vsetf(&e, code, KS_ERROR_F_FATAL, fmt, ap);
        va_end(ap);
        ks__thread_fail(thr, e, replaceable);
}

int64_t ks__thread_progress(const ks__thread_t *thr) {
        return ks__tmgr_processed(thr->tasks) + ks__tmgr_duplicates(thr->tasks);
}

/* --- rebalances ----------------------------------------------------------- */

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
        ks__thread_t *thr = opaque;
        ks_error_t *e = NULL;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                ks__log(thr->env.conf, KS_LOG_INFO, "REBALANCE",
                        "%s: assigned %d partitions", thr->client_id,
                        parts->cnt);
                if (ks__tmgr_assign(thr->tasks, parts, &e))
                        ks__thread_fail(thr, e, 1);
                else if (ks__thread_state(thr) != KS_THREAD_STOPPING)
                        ks__thread_set_state(thr, KS_THREAD_ASSIGNED);
                thr->assigned = 1;
                return;
        }
        if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
                ks__log(thr->env.conf, KS_LOG_INFO, "REBALANCE",
                        "%s: revoked %d partitions", thr->client_id,
                        parts->cnt);
                if (ks__thread_state(thr) != KS_THREAD_STOPPING)
                        ks__thread_set_state(thr, KS_THREAD_STARTING);
                if (thr->eos && rd_kafka_assignment_lost(rk))
                        ks__sproducer_abort_quietly(thr->producer);
                else if (!thr->fatal && !thr->closing &&
                         ks__tmgr_task_count(thr->tasks) &&
                         ks__thread_commit(thr, 1, &e))
                        ks__thread_fail(thr, e, 1);
        } else {
                ks__log(thr->env.conf, KS_LOG_WARNING, "REBALANCE", "%s: %s",
                        thr->client_id, rd_kafka_err2str(err));
                if (thr->eos)
                        ks__sproducer_abort_quietly(thr->producer);
        }
        ks__tmgr_close_all(thr->tasks);
        thr->assigned = 0;
        rd_kafka_assign(rk, NULL);
}

/* --- the loop ------------------------------------------------------------- */

/* A consumer event that is not a record. */
static void consumer_event(ks__thread_t *thr, const rd_kafka_message_t *m) {
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
        switch (m->err) {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
                if (topic)
                        ks__tmgr_mark_end(thr->tasks, topic, m->partition);
                return;
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                failf(thr, 0, KS_ERR_TOPOLOGY,
                      "source topic %s does not exist (deleted?): %s",
                      topic ? topic : "?", rd_kafka_message_errstr(m));
                return;
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
                failf(thr, 0, KS_ERR_KAFKA,
                      "not authorized to read source topic %s: %s",
                      topic ? topic : "?", rd_kafka_message_errstr(m));
                return;
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
                failf(thr, 0, KS_ERR_KAFKA,
                      "not authorized to use consumer group %s: %s",
                      thr->env.app_id, rd_kafka_message_errstr(m));
                return;
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
        case RD_KAFKA_RESP_ERR__FATAL:
                failf(thr, 0, KS_ERR_KAFKA, "consumer: %s",
                      rd_kafka_message_errstr(m));
                return;
        default:
                ks__log(thr->env.conf, KS_LOG_WARNING, "CONSUMER", "%s: %s",
                        thr->client_id, rd_kafka_message_errstr(m));
        }
}

/* Errors librdkafka reports outside of records (authentication, fatal). */
static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
        ks__thread_t *thr = opaque;
        (void)rk;
        if (ks__authorization_error(err) || err == RD_KAFKA_RESP_ERR__FATAL)
                failf(thr, 0, KS_ERR_KAFKA, "%s: %s", rd_kafka_err2name(err),
                      reason);
        else
                ks__log(thr->env.conf, KS_LOG_WARNING, "CONSUMER", "%s: %s",
                        thr->client_id, reason);
}

static int stopping(const ks__thread_t *thr) {
        return __atomic_load_n(thr->env.stopping, __ATOMIC_SEQ_CST);
}

/* One turn of the loop. */
static ks_err_t turn(ks__thread_t *thr, int *busy, ks_error_t **errp) {
        int timeout = *busy || ks__tmgr_restore_active(thr->tasks)
                              ? 0
                              : (int)thr->poll_ms;
        /* Full queues: process before taking more. */
        int64_t t0 = ks__now_ns();
        rd_kafka_message_t *m =
                ks__tmgr_has_room(thr->tasks)
                        ? rd_kafka_consumer_poll(thr->consumer, timeout)
                        : NULL;
        int64_t t1 = ks__now_ns();
        if (timeout > 0)
                thr->metrics.blocked_ns += t1 - t0;
        ks_err_t err = KS_ERR_NO_ERROR;
        for (int k = 0; m; k++) {
                if (m->err) {
                        consumer_event(thr, m);
                        rd_kafka_message_destroy(m);
                } else if (!err) {
                        err = ks__tmgr_enqueue(thr->tasks, m, errp);
                } else {
                        rd_kafka_message_destroy(m);
                }
                m = k + 1 < POLL_BATCH && !thr->fatal
                            ? rd_kafka_consumer_poll(thr->consumer, 0)
                            : NULL;
        }
        ks__meter_record(&thr->metrics.poll, 1, ks__now_ns() - t0);
        if (err || thr->fatal)
                return err;
        if ((err = ks__tmgr_initialize(thr->tasks, errp)))
                return err;
        if (ks__tmgr_restore_active(thr->tasks) &&
            (err = ks__tmgr_restore(thr->tasks, RESTORE_STEP_MS, errp)))
                return err;
        int did = 0;
        t0 = ks__now_ns();
        if ((err = ks__tmgr_process(thr->tasks, PROCESS_STEP, &did, errp)))
                return err;
        *busy = did > 0;
        if (did > 0)
                ks__meter_record(&thr->metrics.process, did, ks__now_ns() - t0);
        uint64_t fired = ks__tmgr_punctuations(thr->tasks);
        t0 = ks__now_ns();
        if ((err = ks__tmgr_punctuate(thr->tasks, ks__wallclock_ms(), errp)))
                return err;
        fired = ks__tmgr_punctuations(thr->tasks) - fired;
        if (fired)
                ks__meter_record(&thr->metrics.punctuate, (int64_t)fired,
                                 ks__now_ns() - t0);
        rd_kafka_poll(ks__sproducer_rk(thr->producer), 0);
        ks__tmgr_update_dropped(thr->tasks);
        int64_t now = ks__now_ms();
        if (ks__tmgr_task_count(thr->tasks) &&
            (now - thr->last_commit >= thr->commit_interval ||
             ks__sproducer_broken(thr->producer) ||
             (thr->commit_retry_at && now >= thr->commit_retry_at) ||
             ks__tmgr_commit_requested(thr->tasks))) {
                t0 = ks__now_ns();
                int64_t commits = thr->commits;
                if ((err = ks__thread_commit(thr, 0, errp)))
                        return err;
                /* Commits that had nothing to commit are not counted. */
                if (thr->commits != commits)
                        ks__meter_record(&thr->metrics.commit, 1,
                                         ks__now_ns() - t0);
        }
        ks__thread_publish_metrics(thr, 0);
        if (thr->assigned)
                ks__thread_set_state(thr, ks__tmgr_restoring(thr->tasks)
                                                  ? KS_THREAD_ASSIGNED
                                                  : KS_THREAD_RUNNING);
        return KS_ERR_NO_ERROR;
}

/* Leave after a failure: abort, close the tasks without committing. */
static void stop_failed(ks__thread_t *thr) {
        int replaceable = thr->fatal_replaceable > 0;
        ks_error_t *f = thr->fatal;
        thr->fatal = NULL;
        if (thr->eos)
                ks__sproducer_abort_quietly(thr->producer);
        rd_kafka_flush(ks__sproducer_rk(thr->producer), 5000);
        ks__tmgr_close_all(thr->tasks);
        rd_kafka_consumer_close(thr->consumer);
        thr->env.listener.failed(
                thr->env.listener.opaque, thr,
                ks__error_new(ks_error_code(f), KS_ERROR_F_FATAL, "%s: %s",
                              thr->client_id, ks_error_message(f)),
                replaceable);
        ks_error_destroy(f);
}

/* Leave cleanly: commit while the group is stable, and leave only when
 * every thread of the app has (a member leaving starts a rebalance that
 * would refuse the others' commits). */
static void stop_clean(ks__thread_t *thr) {
        ks_error_t *e = NULL;
        if (ks__tmgr_task_count(thr->tasks) && ks__thread_commit(thr, 1, &e))
                ks__thread_fail(thr, e, 1);
        thr->closing = 1;
        thr->env.listener.closing(thr->env.listener.opaque);
        rd_kafka_consumer_close(thr->consumer);
        ks__tmgr_close_all(thr->tasks);
        if (thr->fatal) {
                ks_error_t *f = thr->fatal;
                thr->fatal = NULL;
                thr->env.listener.failed(thr->env.listener.opaque, thr, f, 0);
        }
}

static void *thread_main(void *arg) {
        ks__thread_t *thr = arg;
        ks_error_t *e = NULL;
        ks__thread_set_state(thr, KS_THREAD_STARTING);
        thr->last_commit = ks__now_ms();
        if (thr->eos && ks__sproducer_init(thr->producer, &e))
                ks__thread_fail(thr, e, 0);
        int busy = 0;
        while (!stopping(thr) && !thr->fatal) {
                e = NULL;
                if (turn(thr, &busy, &e))
                        ks__thread_fail(thr, e, 1);
                else
                        ks_error_destroy(e);
        }
        ks__thread_set_state(thr, KS_THREAD_STOPPING);
        if (thr->fatal)
                stop_failed(thr);
        else
                stop_clean(thr);
        rd_kafka_flush(ks__sproducer_rk(thr->producer), 5000);
        ks__tmgr_update_dropped(thr->tasks);
        ks__thread_publish_metrics(thr, 1);
        ks__thread_set_state(thr, KS_THREAD_DEAD);
        return NULL;
}

/* --- creation ------------------------------------------------------------- */

static void consumer_setup(rd_kafka_conf_t *c, void *opaque) {
        rd_kafka_conf_set_opaque(c, opaque);
        rd_kafka_conf_set_rebalance_cb(c, rebalance_cb);
        rd_kafka_conf_set_error_cb(c, error_cb);
        rd_kafka_conf_set_stats_cb(c, ks__thread_stats_cb);
}

static void thread_free(ks__thread_t *thr) {
        ks__tmgr_destroy(thr->tasks);
        if (thr->restore) {
                rd_kafka_consumer_close(thr->restore);
                rd_kafka_destroy(thr->restore);
        }
        if (thr->consumer)
                rd_kafka_destroy(thr->consumer);
        ks__sproducer_destroy(thr->producer);
        ks__rcollector_destroy(thr->collector);
        ks_error_destroy(thr->fatal);
        ks__tmetrics_destroy(&thr->metrics);
        free(thr);
}

/* The clients: a producer (transactional under exactly_once_v2, with an id
 * stable across restarts of the instance: <application.id>-<instance>-
 * <thread>, which fences what an earlier run of the same thread left
 * open), a restore consumer, and the group member. */
static ks_err_t make_clients(ks__thread_t *thr, ks_error_t **errp) {
        const ks__thread_env_t *env = &thr->env;
        char txn_id[400], cid[640], restore_group[300], static_id[300] = "";
        snprintf(txn_id, sizeof(txn_id), "%s-%s-%d", env->app_id,
                 env->process_id, env->index + 1);
        snprintf(restore_group, sizeof(restore_group), "%s-restore",
                 env->app_id);
        const char *iid = ks_config_get(env->conf, "instance.id");
        if (iid && *iid)
                snprintf(static_id, sizeof(static_id), "%s-%d", iid,
                         env->index + 1);
        const char *isolation =
                thr->eos ? "read_committed" : "read_uncommitted";
        /* Delivery reports of successful sends only matter for changelog
         * records (their offsets are the changelog positions). */
        int reports = ks_topology_internal_topic_count(env->topo) || thr->eos;
        const char *p_fixed[] = {"enable.idempotence",
                                 "true",
                                 "partitioner",
                                 "murmur2_random",
                                 "delivery.report.only.error",
                                 reports ? "false" : "true",
                                 "transactional.id",
                                 thr->eos ? txn_id : NULL,
                                 NULL};
        /* Kafka Streams' default: a dead instance's open transaction
         * blocks read_committed readers this long at most. */
        const char *p_defaults[] = {"transaction.timeout.ms",
                                    thr->eos ? "10000" : NULL, NULL};
        snprintf(cid, sizeof(cid), "%s-producer", thr->client_id);
        ks__client_spec_t ps = {KS_CLIENT_PRODUCER,   cid,
                                p_defaults,           p_fixed,
                                ks__rcollector_setup, thr->collector};
        if (!(thr->producer = ks__sproducer_new(env->conf, &ps, thr->eos,
                                                TXN_CALL_MS, errp)))
                return KS_ERR_KAFKA;
        ks__rcollector_set_producer(thr->collector, thr->producer);
        /* librdkafka's assign() needs a group id; this consumer never
         * subscribes or commits, so it never joins that group. */
        const char *r_fixed[] = {"group.id",
                                 restore_group,
                                 "enable.auto.commit",
                                 "false",
                                 "enable.partition.eof",
                                 "true",
                                 "auto.offset.reset",
                                 "earliest",
                                 "isolation.level",
                                 isolation,
                                 NULL};
        /* A restore is a burst: twice the prefetch. */
        const char *r_defaults[] = {"queued.min.messages", "1000000", NULL};
        snprintf(cid, sizeof(cid), "%s-restore-consumer", thr->client_id);
        ks__client_spec_t rs = {KS_CLIENT_RESTORE_CONSUMER,
                                cid,
                                r_defaults,
                                r_fixed,
                                NULL,
                                NULL};
        if (!(thr->restore = ks__client_new(env->conf, &rs, errp)))
                return KS_ERR_KAFKA;
        /* The member's client.id carries application.server, which the
         * other instances read from the group's description
         * (instance_metadata.c); fixed, so no user value drops it. */
        snprintf(cid, sizeof(cid), "%s-consumer%s%s", thr->client_id,
                 env->server ? KS_SERVER_MARK : "",
                 env->server ? env->server : "");
        const char *c_fixed[] = {"client.id",
                                 env->server ? cid : NULL,
                                 "group.id",
                                 env->app_id,
                                 "partition.assignment.strategy",
                                 "range",
                                 "enable.auto.commit",
                                 "false",
                                 "enable.auto.offset.store",
                                 "false",
                                 "auto.offset.reset",
                                 "earliest",
                                 "enable.partition.eof",
                                 "true",
                                 "isolation.level",
                                 isolation,
                                 "group.instance.id",
                                 *static_id ? static_id : NULL,
                                 NULL};
        /* librdkafka's statistics feed the broker round-trip metrics
         * (thread_metrics.c). */
        const char *c_defaults[] = {"queued.min.messages", QUEUED_MIN_MESSAGES,
                                    "statistics.interval.ms", "5000", NULL};
        ks__client_spec_t cs = {
                KS_CLIENT_MAIN_CONSUMER, cid, c_defaults, c_fixed,
                consumer_setup,          thr};
        if (!(thr->consumer = ks__client_new(env->conf, &cs, errp)))
                return KS_ERR_KAFKA;
        /* The main queue (errors, statistics) is served by the consumer's
         * poll; nothing else would, and it would grow. */
        rd_kafka_poll_set_consumer(thr->consumer);
        return KS_ERR_NO_ERROR;
}

/* Subscribe to every source topic. */
static ks_err_t subscribe(ks__thread_t *thr, ks_error_t **errp) {
        ks_topology_t *topo = thr->env.topo;
        rd_kafka_topic_partition_list_t *l =
                rd_kafka_topic_partition_list_new(4);
        for (size_t i = 0; i < topo->node_cnt; i++)
                for (size_t j = 0; topo->nodes[i]->kind == KS_NODE_SOURCE &&
                                   j < topo->nodes[i]->topic_cnt;
                     j++)
                        rd_kafka_topic_partition_list_add(
                                l, topo->nodes[i]->topics[j],
                                RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(thr->consumer, l);
        rd_kafka_topic_partition_list_destroy(l);
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA, "subscribe: %s",
                                     rd_kafka_err2str(e));
        return KS_ERR_NO_ERROR;
}

ks_err_t ks__thread_start(const ks__thread_env_t *env, ks__thread_t **thrp,
                          ks_error_t **errp) {
        ks__thread_t *thr = calloc(1, sizeof(*thr));
        if (!thr)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        thr->env = *env;
        thr->state = KS_THREAD_CREATED;
        ks__tmetrics_init(&thr->metrics);
        const ks_config_t *conf = env->conf;
        const char *cid = ks_config_get(conf, "client.id");
        snprintf(thr->client_id, sizeof(thr->client_id), "%s-StreamThread-%d",
                 cid && *cid ? cid : env->app_id, env->index + 1);
        thr->commit_interval = ks__config_commit_interval_ms(conf);
        thr->poll_ms = ks__config_int(conf, "poll.ms");
        thr->task_timeout = ks__config_int(conf, "task.timeout.ms");
        thr->eos = ks__config_enum(conf, "processing.guarantee") ==
                   KS_GUARANTEE_EXACTLY_ONCE_V2;
        int64_t threads = ks__config_int(conf, "num.stream.threads");
        /* The threads share statestore.cache.max.bytes evenly. */
        thr->cache.max = ks__config_int(conf, "statestore.cache.max.bytes") /
                         (threads > 0 ? threads : 1);
        ks_err_t err = KS_ERR_NO_ERROR;
        if (!(thr->collector = ks__rcollector_new(conf, env->topo, &env->scope,
                                                  thr->eos, thr->client_id)))
                err = ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        if (!err)
                err = make_clients(thr, errp);
        if (!err) {
                ks__tmgr_env_t te = {
                        .conf = conf,
                        .topo = env->topo,
                        .task_env =
                                {
                                        .conf = conf,
                                        .rocks = env->rocks,
                                        .state_dir = env->state_dir,
                                        .collector = ks__rcollector_iface(
                                                thr->collector),
                                        .cache = &thr->cache,
                                        .globals = env->globals,
                                        .on_error = env->on_error,
                                },
                        .consumer = thr->consumer,
                        .restore = thr->restore,
                        .scope = env->scope,
                        .eos = thr->eos,
                        .client_id = thr->client_id,
                        .restore_cb = env->restore_cb,
                        .restore_opaque = env->restore_opaque,
                        .queries = env->queries,
                };
                if (!(thr->tasks = ks__tmgr_new(&te)))
                        err = ks__error_set(errp, KS_ERR_NO_MEMORY,
                                            "out of memory");
        }
        if (!err)
                err = subscribe(thr, errp);
        if (!err && pthread_create(&thr->tid, NULL, thread_main, thr))
                err = ks__error_set(errp, KS_ERR_FATAL,
                                    "cannot start a stream thread");
        if (err) {
                thread_free(thr);
                return err;
        }
        *thrp = thr;
        return KS_ERR_NO_ERROR;
}

void ks__thread_wait(ks__thread_t *thr) {
        if (thr && !thr->joined) {
                pthread_join(thr->tid, NULL);
                thr->joined = 1;
        }
}

void ks__thread_join(ks__thread_t *thr) {
        if (!thr)
                return;
        ks__thread_wait(thr);
        thread_free(thr);
}

const char *const ks__thread_metric_names[KS_THREAD_METRICS + 1] = {
        "process-total",
        "dropped-records",
        "restored-records",
        "commit-total",
        "tasks",
        "duplicates-skipped",
        "transactions-aborted",
        "enforced-processing",
        "dropped-records-late",
        "dropped-records-duplicate",
        "dropped-records-deserialization",
        "dropped-records-processing-error",
        "dropped-records-production-error",
        "dlq-records",
        NULL};

int64_t ks__thread_metric(const ks__thread_t *thr, const char *name) {
        const char *const *names = ks__thread_metric_names;
        size_t i = 0;
        while (names[i] && strcmp(names[i], name))
                i++;
        if (!names[i])
                return -1;
        if (!thr)
                return 0;
        switch (i) {
        case 0:
                return ks__tmgr_processed(thr->tasks);
        case 1:
                return ks__tmgr_dropped(thr->tasks) +
                       ks__rcollector_send_failures(thr->collector);
        case 2:
                return ks__tmgr_restored(thr->tasks);
        case 3:
                return __atomic_load_n(&thr->commits, __ATOMIC_RELAXED);
        case 4:
                return ks__tmgr_tasks_published(thr->tasks);
        case 5:
                return ks__tmgr_duplicates(thr->tasks);
        case 6:
                return ks__sproducer_aborts(thr->producer);
        case 7:
                return ks__tmgr_enforced(thr->tasks);
        case 8:
                return ks__tmgr_dropped_late(thr->tasks);
        case 9:
                return ks__tmgr_dropped_duplicate(thr->tasks);
        case 10:
                return ks__tmgr_dropped_deserialization(thr->tasks);
        case 11:
                return ks__tmgr_dropped_processing(thr->tasks);
        case 12:
                return ks__rcollector_send_failures(thr->collector);
        default:
                return ks__tmgr_dlq_records(thr->tasks) +
                       ks__rcollector_dlq_records(thr->collector);
        }
}
