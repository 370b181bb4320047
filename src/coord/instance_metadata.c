/* Instance metadata (see instance_metadata_int.h): the thread describing
 * the consumer group, and the table of partition owners.
 *
 * The table is one array of owners per source topic (by topology index,
 * as many as the topic's partitions), each an index into the servers
 * seen, or -1 (no member owns it) or -2 (its member carries no server).
 * A description builds a new table, which replaces the old one under the
 * mutex; `known` is cleared as soon as this instance's tasks change and
 * set again by the next description of a Stable group. */
#include "instance_metadata_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "clients_int.h"

#define DESCRIBE_MS 5000  /* one description's timeout */
#define REFRESH_MS  10000 /* a Stable group is described again */
#define RETRY_MS    500   /* after a failure or an unstable group */
#define TICK_MS     100   /* the thread looks at the registry */
#define MAX_MEMBERS 65536 /* bounds of what a description may carry */
#define MAX_SERVERS 4096
#define UNOWNED     (-1)
#define NO_SERVER   (-2)

typedef struct {
        int32_t **owner; /* per topic index: per partition */
        char **servers;
        size_t server_cnt;
} table_t;

struct ks__imeta_s {
        ks__imeta_env_t env;
        rd_kafka_t *admin;
        pthread_t tid;
        int started; /* tid runs */
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int stop;      /* under lock */
        int known;     /* under lock: the table is current */
        char why[256]; /* under lock: why not, when not */
        table_t table; /* under lock */
};

int ks__imeta_member_server(const char *client_id, char *out, size_t size) {
        const char *mark = client_id ? strstr(client_id, KS_SERVER_MARK) : NULL;
        if (!mark)
                return 0;
        /* The last mark: a user's client.id may hold the mark too. */
        for (const char *n; (n = strstr(mark + 1, KS_SERVER_MARK));)
                mark = n;
        const char *s = mark + strlen(KS_SERVER_MARK);
        if (!ks__server_valid(s) || strlen(s) >= size)
                return 0;
        memcpy(out, s, strlen(s) + 1);
        return 1;
}

static void table_free(const ks__imeta_env_t *env, table_t *t) {
        int32_t n = ks__topology_topic_count(env->topo);
        for (int32_t i = 0; t->owner && i < n; i++)
                free(t->owner[i]);
        free(t->owner);
        for (size_t i = 0; i < t->server_cnt; i++)
                free(t->servers[i]);
        free(t->servers);
        memset(t, 0, sizeof(*t));
}

static int table_init(const ks__imeta_env_t *env, table_t *t) {
        int32_t n = ks__topology_topic_count(env->topo);
        memset(t, 0, sizeof(*t));
        if (!(t->owner = calloc((size_t)n + 1, sizeof(*t->owner))) ||
            !(t->servers = calloc(MAX_SERVERS, sizeof(*t->servers))))
                return -1;
        for (int32_t i = 0; i < n; i++) {
                int32_t parts = env->topic_partitions[i];
                if (!(t->owner[i] = malloc(((size_t)parts + 1) *
                                           sizeof(*t->owner[i]))))
                        return -1;
                for (int32_t p = 0; p < parts; p++)
                        t->owner[i][p] = UNOWNED;
        }
        return 0;
}

/* The index of @p server in the table, added if new; -1 when full. */
static int32_t server_index(table_t *t, const char *server) {
        for (size_t i = 0; i < t->server_cnt; i++)
                if (!strcmp(t->servers[i], server))
                        return (int32_t)i;
        if (t->server_cnt == MAX_SERVERS ||
            !(t->servers[t->server_cnt] = ks__strdup(server)))
                return -1;
        return (int32_t)t->server_cnt++;
}

static void set_unknown(ks__imeta_t *m, const char *fmt, ...) KS_PRINTF(2, 3);
static void set_unknown(ks__imeta_t *m, const char *fmt, ...) {
        va_list ap;
        pthread_mutex_lock(&m->lock);
        m->known = 0;
        va_start(ap, fmt);
        vsnprintf(m->why, sizeof(m->why), fmt, ap);
        va_end(ap);
        pthread_mutex_unlock(&m->lock);
}

/* Build a table from the group's description; 1 if the group is Stable
 * and the table was taken. */
static int take_description(ks__imeta_t *m,
                            const rd_kafka_ConsumerGroupDescription_t *g) {
        const rd_kafka_error_t *ge = rd_kafka_ConsumerGroupDescription_error(g);
        if (ge) {
                set_unknown(m, "describing group %s failed: %s", m->env.app_id,
                            rd_kafka_error_string(ge));
                return 0;
        }
        rd_kafka_consumer_group_state_t st =
                rd_kafka_ConsumerGroupDescription_state(g);
        if (st != RD_KAFKA_CONSUMER_GROUP_STATE_STABLE) {
                set_unknown(m, "group %s is %s (rebalancing)", m->env.app_id,
                            rd_kafka_consumer_group_state_name(st));
                return 0;
        }
        size_t members = rd_kafka_ConsumerGroupDescription_member_count(g);
        if (members > MAX_MEMBERS)
                members = MAX_MEMBERS;
        table_t t;
        if (table_init(&m->env, &t)) {
                table_free(&m->env, &t);
                set_unknown(m, "out of memory");
                return 0;
        }
        for (size_t i = 0; i < members; i++) {
                const rd_kafka_MemberDescription_t *md =
                        rd_kafka_ConsumerGroupDescription_member(g, i);
                const rd_kafka_MemberAssignment_t *ma =
                        md ? rd_kafka_MemberDescription_assignment(md) : NULL;
                const rd_kafka_topic_partition_list_t *l =
                        ma ? rd_kafka_MemberAssignment_partitions(ma) : NULL;
                if (!l)
                        continue;
                char server[KS_SERVER_MAX + 1];
                int32_t si = NO_SERVER;
                if (ks__imeta_member_server(
                            rd_kafka_MemberDescription_client_id(md), server,
                            sizeof(server)))
                        si = server_index(&t, server);
                if (si == -1)
                        si = NO_SERVER;
                for (int k = 0; k < l->cnt; k++) {
                        const rd_kafka_topic_partition_t *tp = &l->elems[k];
                        int32_t ti = tp->topic ? ks__topology_topic_index(
                                                         m->env.topo, tp->topic)
                                               : -1;
                        if (ti < 0 || tp->partition < 0 ||
                            tp->partition >= m->env.topic_partitions[ti])
                                continue;
                        t.owner[ti][tp->partition] = si;
                }
        }
        pthread_mutex_lock(&m->lock);
        table_free(&m->env, &m->table);
        m->table = t;
        m->known = 1;
        m->why[0] = '\0';
        pthread_mutex_unlock(&m->lock);
        return 1;
}

static int stopping(ks__imeta_t *m) {
        pthread_mutex_lock(&m->lock);
        int s = m->stop;
        pthread_mutex_unlock(&m->lock);
        return s || __atomic_load_n(m->env.stopping, __ATOMIC_SEQ_CST);
}

/* Describe the group once; 1 if the table is now current. */
static int describe(ks__imeta_t *m) {
        char err[256];
        rd_kafka_queue_t *q = rd_kafka_queue_new(m->admin);
        rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(
                m->admin, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
        if (!q || !o) {
                if (q)
                        rd_kafka_queue_destroy(q);
                if (o)
                        rd_kafka_AdminOptions_destroy(o);
                set_unknown(m, "out of memory");
                return 0;
        }
        rd_kafka_AdminOptions_set_request_timeout(o, DESCRIBE_MS, err,
                                                  sizeof(err));
        const char *groups[] = {m->env.app_id};
        rd_kafka_DescribeConsumerGroups(m->admin, groups, 1, o, q);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_event_t *ev = NULL;
        int64_t until = ks__now_ms() + DESCRIBE_MS + 1000;
        while (!ev && !stopping(m) && ks__now_ms() < until)
                ev = rd_kafka_queue_poll(q, 200);
        int ok = 0;
        const rd_kafka_DescribeConsumerGroups_result_t *res =
                ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
        size_t n = 0;
        const rd_kafka_ConsumerGroupDescription_t **gs =
                res ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n)
                    : NULL;
        if (!ev)
                set_unknown(m, "no description of group %s yet", m->env.app_id);
        else if (rd_kafka_event_error(ev))
                set_unknown(m, "describing group %s failed: %s", m->env.app_id,
                            rd_kafka_event_error_string(ev));
        else if (!gs || n != 1)
                set_unknown(m, "describing group %s gave %zu groups",
                            m->env.app_id, n);
        else
                ok = take_description(m, gs[0]);
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_queue_destroy(q);
        return ok;
}

static void *imeta_main(void *arg) {
        ks__imeta_t *m = arg;
        uint64_t seen = ks__qreg_generation(m->env.queries);
        int64_t next = 0;
        int failing = 0;
        while (!stopping(m)) {
                uint64_t gen = ks__qreg_generation(m->env.queries);
                if (gen != seen) {
                        /* A rebalance: what is known is stale. */
                        seen = gen;
                        set_unknown(m, "this instance's tasks changed "
                                       "(rebalance); not described since");
                        next = ks__now_ms() + TICK_MS;
                }
                if (ks__now_ms() >= next) {
                        int ok = describe(m);
                        if (!ok && !failing++)
                                ks__log(m->env.conf, KS_LOG_DEBUG, "QUERY",
                                        "instance metadata unknown: %s",
                                        m->why);
                        if (ok)
                                failing = 0;
                        next = ks__now_ms() + (ok ? REFRESH_MS : RETRY_MS);
                }
                struct timespec dl;
                clock_gettime(CLOCK_REALTIME, &dl);
                dl.tv_nsec += TICK_MS * 1000000L;
                if (dl.tv_nsec >= 1000000000L) {
                        dl.tv_sec++;
                        dl.tv_nsec -= 1000000000L;
                }
                pthread_mutex_lock(&m->lock);
                if (!m->stop)
                        pthread_cond_timedwait(&m->cond, &m->lock, &dl);
                pthread_mutex_unlock(&m->lock);
        }
        return NULL;
}

ks_err_t ks__imeta_start(const ks__imeta_env_t *env, ks__imeta_t **mp,
                         ks_error_t **errp) {
        ks__imeta_t *m = calloc(1, sizeof(*m));
        if (!m)
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        m->env = *env;
        snprintf(m->why, sizeof(m->why), "no description of group %s yet",
                 env->app_id);
        pthread_mutex_init(&m->lock, NULL);
        pthread_cond_init(&m->cond, NULL);
        char cid[300];
        snprintf(cid, sizeof(cid), "%s-%s-metadata", env->app_id,
                 env->process_id);
        ks__client_spec_t spec = {KS_CLIENT_ADMIN, cid, NULL, NULL, NULL, NULL};
        if (!(m->admin = ks__client_new(env->conf, &spec, errp))) {
                ks__imeta_stop(m);
                return KS_ERR_KAFKA;
        }
        if (!(m->started = !pthread_create(&m->tid, NULL, imeta_main, m))) {
                ks__imeta_stop(m);
                return ks__error_set(errp, KS_ERR_FATAL,
                                     "cannot start the metadata thread");
        }
        *mp = m;
        return KS_ERR_NO_ERROR;
}

void ks__imeta_stop(ks__imeta_t *m) {
        if (!m)
                return;
        if (m->admin) {
                pthread_mutex_lock(&m->lock);
                m->stop = 1;
                pthread_cond_broadcast(&m->cond);
                pthread_mutex_unlock(&m->lock);
                if (m->started)
                        pthread_join(m->tid, NULL);
                rd_kafka_destroy(m->admin);
        }
        table_free(&m->env, &m->table);
        pthread_cond_destroy(&m->cond);
        pthread_mutex_destroy(&m->lock);
        free(m);
}

ks_err_t ks__imeta_owner(ks__imeta_t *m, int32_t topic_index, int32_t partition,
                         char *host, size_t size, ks_error_t **errp) {
        ks_err_t err = KS_ERR_NO_ERROR;
        pthread_mutex_lock(&m->lock);
        int32_t o =
                m->known && m->table.owner && topic_index >= 0 &&
                                topic_index <
                                        ks__topology_topic_count(m->env.topo) &&
                                partition >= 0 &&
                                partition < m->env.topic_partitions[topic_index]
                        ? m->table.owner[topic_index][partition]
                        : UNOWNED;
        if (!m->known)
                err = ks__error_setf(
                        errp, KS_ERR_NOT_FOUND, KS_ERROR_F_RETRIABLE,
                        "the owner of partition %" PRId32 " is not known: %s",
                        partition, m->why);
        else if (o == UNOWNED)
                err = ks__error_setf(errp, KS_ERR_NOT_FOUND,
                                     KS_ERROR_F_RETRIABLE,
                                     "no member of group %s owns partition "
                                     "%" PRId32,
                                     m->env.app_id, partition);
        else if (o == NO_SERVER)
                err = ks__error_setf(errp, KS_ERR_NOT_FOUND,
                                     KS_ERROR_F_RETRIABLE,
                                     "the owner of partition %" PRId32
                                     " advertises no application.server",
                                     partition);
        else if (size)
                snprintf(host, size, "%s", m->table.servers[o]);
        pthread_mutex_unlock(&m->lock);
        return err;
}
