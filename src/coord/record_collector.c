/* A stream thread's record collector (see record_collector_int.h).
 *
 * Slots: an array of (generation, last acknowledged offset) with a free
 * list; a handle is (generation << half) | index, never 0. Closing a slot
 * bumps its generation, so a late delivery report of its records no
 * longer matches and is dropped. */
#include "record_collector_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"

#define FLUSH_SLICE_MS 1000

typedef struct {
        uint32_t gen;
        int open;
        int64_t offset; /* last acknowledged, -1 */
} slot_t;

typedef struct {
        char *topic;
        int32_t cnt;   /* -1: unknown */
        int64_t until; /* looked up again after (ks__now_ms()) */
} pcount_t;

#define PCOUNT_MAX     1024   /* topics remembered; then forgotten all */
#define PCOUNT_TTL_MS  300000 /* a known count (partitions may be added) */
#define PCOUNT_MISS_MS 10000  /* an unknown one */

struct ks__rcollector_s {
        const ks_config_t *conf;
        const ks_topology_t *topo;
        ks__origin_scope_t scope;
        int eos;
        int prod_continue;
        char client_id[256];
        ks__sproducer_t *producer;
        ks_error_t *send_error; /* the first failure since the last flush */
        slot_t *slots;
        size_t slot_cnt, slot_cap;
        size_t *free_slots;
        size_t free_cnt;
        const char **through; /* sink topics a source reads */
        size_t through_cnt;
        const char *last_topic; /* the last topic sent to, and ... */
        int last_through;       /* ... whether it is a through topic */
        pcount_t *pcounts;
        size_t pcount_cnt;
        int64_t changelog_sent;
        int64_t send_failures; /* atomic */
        const char *dlq_topic; /* NULL: no dead-letter queue */
        int in_dr;             /* sending from a delivery report */
        int64_t dlq_sent;      /* atomic */
};

/* --- slots -------------------------------------------------------------- */

#define HALF (sizeof(uintptr_t) * 4)

static uintptr_t handle_of(size_t idx, uint32_t gen) {
        return ((uintptr_t)gen << HALF) | (uintptr_t)(idx + 1);
}

static slot_t *slot_get(ks__rcollector_t *c, uintptr_t h) {
        size_t idx = (size_t)(h & (((uintptr_t)1 << HALF) - 1));
        uint32_t gen = (uint32_t)(h >> HALF);
        if (!idx || idx > c->slot_cnt)
                return NULL;
        slot_t *s = &c->slots[idx - 1];
        uint32_t mask = (uint32_t)(((uint64_t)1 << HALF) - 1);
        return s->open && (s->gen & mask) == gen ? s : NULL;
}

static uint64_t slot_open(void *opaque) {
        ks__rcollector_t *c = opaque;
        size_t idx;
        if (c->free_cnt) {
                idx = c->free_slots[--c->free_cnt];
        } else {
                if (c->slot_cnt == c->slot_cap) {
                        size_t nc = c->slot_cap ? c->slot_cap * 2 : 16;
                        slot_t *ns = realloc(c->slots, nc * sizeof(*ns));
                        if (!ns)
                                return 0;
                        c->slots = ns;
                        size_t *nf = realloc(c->free_slots, nc * sizeof(*nf));
                        if (!nf)
                                return 0;
                        c->free_slots = nf;
                        c->slot_cap = nc;
                }
                idx = c->slot_cnt++;
                c->slots[idx].gen = 0;
        }
        slot_t *s = &c->slots[idx];
        s->open = 1;
        s->offset = -1;
        uint32_t mask = (uint32_t)(((uint64_t)1 << HALF) - 1);
        return (uint64_t)handle_of(idx, s->gen & mask);
}

static void slot_close(void *opaque, uint64_t h) {
        ks__rcollector_t *c = opaque;
        slot_t *s = slot_get(c, (uintptr_t)h);
        if (!s)
                return;
        s->open = 0;
        s->gen++;
        c->free_slots[c->free_cnt++] = (size_t)(s - c->slots);
}

static int64_t slot_offset(void *opaque, uint64_t h) {
        slot_t *s = slot_get(opaque, (uintptr_t)h);
        return s ? s->offset : -1;
}

/* --- delivery reports ----------------------------------------------------- */

static ks_err_t produce(ks__rcollector_t *c, const char *topic,
                        int32_t partition, const void *key, size_t klen,
                        const void *value, size_t vlen, int64_t ts,
                        const ks_headers_t *hdrs, const ks__origin_rec_t *o,
                        uintptr_t slot, ks_error_t **errp);

/* The headers of @p m, less the origin (NULL when it has none). */
static ks_headers_t *msg_headers(const rd_kafka_message_t *m) {
        rd_kafka_headers_t *rh = NULL;
        if (rd_kafka_message_headers(m, &rh) || !rh)
                return NULL;
        ks_headers_t *h = ks_headers_new();
        const char *name;
        const void *v;
        size_t vl;
        for (size_t i = 0; h && !rd_kafka_header_get_all(rh, i, &name, &v, &vl);
             i++)
                if (strcmp(name, KS_ORIGIN_HEADER))
                        ks_headers_add(h, name, v, v ? vl : 0);
        return h;
}

/* An output record the production handler let go (@p msg says why): its
 * key, value and headers go to the dead-letter queue. No offset: it was
 * never written. */
static ks_err_t dead_letter(ks__rcollector_t *c, const char *topic,
                            int32_t partition, const void *key, size_t klen,
                            const void *value, size_t vlen, int64_t ts,
                            const ks_headers_t *orig, const char *msg,
                            ks_error_t **errp) {
        ks_headers_t *h = ks__dlq_headers(orig, KS_ERR_KAFKA, msg, topic,
                                          partition, -1, NULL);
        ks_error_t *e = NULL;
        ks_err_t err = h ? produce(c, c->dlq_topic, -1, key, klen, value, vlen,
                                   ts > 0 ? ts : 0, h, NULL, 0, &e)
                         : KS_ERR_NO_MEMORY;
        ks_headers_destroy(h);
        if (!err)
                __atomic_add_fetch(&c->dlq_sent, 1, __ATOMIC_RELAXED);
        else
                ks__error_set(errp, err,
                              "%s, and it could not be written to the "
                              "dead-letter queue %s: %s",
                              msg, c->dlq_topic,
                              e ? ks_error_message(e) : ks_err2str(err));
        ks_error_destroy(e);
        return err;
}

/* The same from a delivery report (so before the flush of the commit
 * ends); a failure is the flush's. */
static void dead_letter_dr(ks__rcollector_t *c, const rd_kafka_message_t *m) {
        const char *topic = rd_kafka_topic_name(m->rkt);
        char msg[512];
        snprintf(msg, sizeof(msg),
                 "record to %s [%" PRId32 "] not delivered: %s", topic,
                 m->partition, rd_kafka_err2str(m->err));
        ks_headers_t *orig = msg_headers(m);
        ks_error_t *e = NULL;
        c->in_dr = 1;
        ks_err_t err = dead_letter(
                c, topic, m->partition, m->key, m->key_len, m->payload, m->len,
                rd_kafka_message_timestamp(m, NULL), orig, msg, &e);
        c->in_dr = 0;
        ks_headers_destroy(orig);
        if (err && !c->send_error) {
                c->send_error = e;
                e = NULL;
        }
        ks_error_destroy(e);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        ks__rcollector_t *c = opaque;
        (void)rk;
        uintptr_t h = (uintptr_t)m->_private;
        if (!m->err) {
                slot_t *s = h ? slot_get(c, h) : NULL;
                if (s && m->offset > s->offset)
                        s->offset = m->offset;
                return;
        }
        const char *topic = rd_kafka_topic_name(m->rkt);
        if (c->eos)
                return; /* the transaction fails with it, naming it */
        __atomic_add_fetch(&c->send_failures, 1, __ATOMIC_RELAXED);
        if (c->prod_continue && !h) {
                ks__log(c->conf, KS_LOG_WARNING, "PRODUCE",
                        "record to %s [%" PRId32 "] not delivered: %s; "
                        "continuing (default.production.exception.handler "
                        "is continue)",
                        topic, m->partition, rd_kafka_err2str(m->err));
                if (c->dlq_topic && strcmp(topic, c->dlq_topic))
                        dead_letter_dr(c, m);
                return;
        }
        if (!c->send_error)
                ks__error_setf(&c->send_error, KS_ERR_KAFKA, KS_ERROR_F_FATAL,
                               "a record to %s [%" PRId32
                               "] was not delivered: %s",
                               topic, m->partition, rd_kafka_err2str(m->err));
}

void ks__rcollector_setup(rd_kafka_conf_t *conf, void *collector) {
        rd_kafka_conf_set_opaque(conf, collector);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
}

/* --- sending ------------------------------------------------------------ */

static int is_through(ks__rcollector_t *c, const char *topic) {
        if (topic == c->last_topic)
                return c->last_through;
        int t = 0;
        for (size_t i = 0; !t && i < c->through_cnt; i++)
                t = c->through[i] == topic || !strcmp(c->through[i], topic);
        c->last_topic = topic;
        c->last_through = t;
        return t;
}

static ks_err_t produce(ks__rcollector_t *c, const char *topic,
                        int32_t partition, const void *key, size_t klen,
                        const void *value, size_t vlen, int64_t ts,
                        const ks_headers_t *hdrs, const ks__origin_rec_t *o,
                        uintptr_t slot, ks_error_t **errp) {
        if (ks__sproducer_prepare_send(c->producer))
                return KS_ERR_NO_ERROR; /* the transaction will abort */
        rd_kafka_headers_t *rh = NULL;
        size_t hc = hdrs ? ks_headers_count(hdrs) : 0;
        if (hc || o) {
                rh = rd_kafka_headers_new(hc + 1);
                if (o) {
                        uint8_t ob[KS_ORIGIN_LEN];
                        ks__origin_encode(ob, c->scope.tag, o);
                        rd_kafka_header_add(rh, KS_ORIGIN_HEADER, -1, ob,
                                            sizeof(ob));
                }
                for (size_t i = 0; i < hc; i++) {
                        const char *name;
                        const void *v;
                        size_t vl;
                        if (!ks_headers_get_at(hdrs, i, &name, &v, &vl) &&
                            strcmp(name, KS_ORIGIN_HEADER))
                                rd_kafka_header_add(rh, name, -1, v,
                                                    v ? (ssize_t)vl : 0);
                }
        }
        rd_kafka_t *rk = ks__sproducer_rk(c->producer);
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        rk, RD_KAFKA_V_TOPIC(topic),
                        RD_KAFKA_V_PARTITION(partition < 0
                                                     ? RD_KAFKA_PARTITION_UA
                                                     : partition),
                        RD_KAFKA_V_KEY((void *)key, key ? klen : 0),
                        RD_KAFKA_V_VALUE((void *)value, value ? vlen : 0),
                        RD_KAFKA_V_TIMESTAMP(ts),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_OPAQUE((void *)slot), RD_KAFKA_V_HEADERS(rh),
                        RD_KAFKA_V_END);
                if (!e)
                        return KS_ERR_NO_ERROR; /* headers taken over */
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !c->in_dr) {
                        rd_kafka_poll(rk, 5); /* make room */
                        continue;
                }
                if (rh)
                        rd_kafka_headers_destroy(rh);
                /* The transaction is in an error state (fenced, timed out
                 * and aborted by the coordinator, ...): the thread aborts
                 * it and recovers. */
                if (c->eos && (e == RD_KAFKA_RESP_ERR__FATAL ||
                               e == RD_KAFKA_RESP_ERR__STATE ||
                               e == RD_KAFKA_RESP_ERR__FENCED)) {
                        char why[512];
                        snprintf(why, sizeof(why), "cannot produce to %s: %s",
                                 topic, rd_kafka_err2str(e));
                        ks__sproducer_break(c->producer, why);
                        return KS_ERR_NO_ERROR;
                }
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "cannot produce to %s: %s", topic,
                                     rd_kafka_err2str(e));
        }
}

static ks_err_t coll_send(void *opaque, const char *topic, int32_t partition,
                          const void *key, size_t klen, const void *value,
                          size_t vlen, int64_t ts, const ks_headers_t *hdrs,
                          const ks__origin_t *origin, ks_error_t **errp) {
        ks__rcollector_t *c = opaque;
        ks__origin_rec_t o;
        int stamp = origin && origin->offset >= 0 && origin->topic_index >= 0 &&
                    is_through(c, topic);
        if (stamp)
                o = (ks__origin_rec_t){origin->topic_index, origin->partition,
                                       origin->offset, origin->seq};
        ks_error_t *e = NULL;
        ks_err_t err = produce(c, topic, partition, key, klen, value, vlen, ts,
                               hdrs, stamp ? &o : NULL, 0, &e);
        if (!err || c->eos || !c->prod_continue) {
                if (err && errp) {
                        ks_error_destroy(*errp);
                        *errp = e;
                } else {
                        ks_error_destroy(e);
                }
                return err;
        }
        /* A record the producer refused at once (too large, a topic known
         * not to exist, ...) goes to the production handler too. */
        __atomic_add_fetch(&c->send_failures, 1, __ATOMIC_RELAXED);
        ks__log(c->conf, KS_LOG_WARNING, "PRODUCE",
                "%s; continuing (default.production.exception.handler is "
                "continue)",
                ks_error_message(e));
        err = KS_ERR_NO_ERROR;
        if (c->dlq_topic && strcmp(topic, c->dlq_topic))
                err = dead_letter(c, topic, partition, key, klen, value, vlen,
                                  ts, hdrs, ks_error_message(e), errp);
        ks_error_destroy(e);
        return err;
}

static ks_err_t coll_send_changelog(void *opaque, const char *topic,
                                    int32_t partition, const void *key,
                                    size_t klen, const void *value, size_t vlen,
                                    int64_t ts, uint64_t slot,
                                    ks_error_t **errp) {
        ks__rcollector_t *c = opaque;
        c->changelog_sent++;
        return produce(c, topic, partition, key, klen, value, vlen, ts, NULL,
                       NULL, (uintptr_t)slot, errp);
}

static void pcounts_clear(ks__rcollector_t *c) {
        for (size_t i = 0; i < c->pcount_cnt; i++)
                free(c->pcounts[i].topic);
        c->pcount_cnt = 0;
}

/* Partitions of @p topic (for a sink's own partitioner), from the
 * metadata, remembered for a while (a topic chosen per record may be any
 * topic: the table is bounded, and an unknown topic is looked up again
 * only after PCOUNT_MISS_MS). -1 if unknown. */
static int32_t coll_partition_count(void *opaque, const char *topic) {
        ks__rcollector_t *c = opaque;
        int64_t now = ks__now_ms();
        pcount_t *pc = NULL;
        for (size_t i = 0; !pc && i < c->pcount_cnt; i++)
                if (!strcmp(c->pcounts[i].topic, topic))
                        pc = &c->pcounts[i];
        if (pc && now < pc->until)
                return pc->cnt;
        rd_kafka_t *rk = ks__sproducer_rk(c->producer);
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        const struct rd_kafka_metadata *md = NULL;
        int32_t cnt = -1;
        if (rkt && !rd_kafka_metadata(rk, 0, rkt, &md, 5000)) {
                if (md->topic_cnt == 1 && !md->topics[0].err)
                        cnt = md->topics[0].partition_cnt;
                rd_kafka_metadata_destroy(md);
        }
        if (rkt)
                rd_kafka_topic_destroy(rkt);
        if (!pc) {
                if (c->pcount_cnt >= PCOUNT_MAX)
                        pcounts_clear(c);
                pcount_t *nv =
                        realloc(c->pcounts, (c->pcount_cnt + 1) * sizeof(*nv));
                char *name = nv ? ks__strdup(topic) : NULL;
                if (nv)
                        c->pcounts = nv;
                if (!name)
                        return cnt;
                pc = &c->pcounts[c->pcount_cnt++];
                pc->topic = name;
        }
        pc->cnt = cnt;
        pc->until = now + (cnt > 0 ? PCOUNT_TTL_MS : PCOUNT_MISS_MS);
        return cnt;
}

ks_err_t ks__rcollector_flush(ks__rcollector_t *c, int64_t timeout_ms,
                              ks_error_t **errp) {
        rd_kafka_t *rk = ks__sproducer_rk(c->producer);
        int64_t deadline = ks__ts_add(ks__now_ms(), timeout_ms);
        rd_kafka_resp_err_t e;
        /* In slices, so that a failure shows before the deadline. */
        do {
                e = rd_kafka_flush(rk, FLUSH_SLICE_MS);
        } while (e == RD_KAFKA_RESP_ERR__TIMED_OUT && !c->send_error &&
                 ks__now_ms() < deadline);
        if (c->send_error)
                return ks__error_set(errp, ks_error_code(c->send_error), "%s",
                                     ks_error_message(c->send_error));
        if (e)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "producer flush: %s after %" PRId64
                                     " ms (task.timeout.ms)",
                                     rd_kafka_err2str(e), timeout_ms);
        return KS_ERR_NO_ERROR;
}

static ks_err_t coll_flush(void *opaque, ks_error_t **errp) {
        ks__rcollector_t *c = opaque;
        return ks__rcollector_flush(
                c, ks__config_int(c->conf, "task.timeout.ms"), errp);
}

void ks__rcollector_reset_error(ks__rcollector_t *c) {
        ks_error_destroy(c->send_error);
        c->send_error = NULL;
}

ks__collector_t ks__rcollector_iface(ks__rcollector_t *c) {
        return (ks__collector_t){
                .send = coll_send,
                .partition_count = coll_partition_count,
                .flush = coll_flush,
                .opaque = c,
                .send_changelog = coll_send_changelog,
                .slot_open = slot_open,
                .slot_close = slot_close,
                .slot_offset = slot_offset,
        };
}

/* --- lifecycle ------------------------------------------------------------ */

ks__rcollector_t *ks__rcollector_new(const ks_config_t *conf,
                                     const ks_topology_t *topo,
                                     const ks__origin_scope_t *scope, int eos,
                                     const char *client_id) {
        ks__rcollector_t *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->conf = conf;
        c->topo = topo;
        c->scope = *scope;
        c->eos = eos;
        c->prod_continue =
                ks__config_enum(conf, "default.production.exception.handler");
        snprintf(c->client_id, sizeof(c->client_id), "%s", client_id);
        c->dlq_topic =
                ks_config_get(conf, "errors.dead.letter.queue.topic.name");
        if (c->dlq_topic && !*c->dlq_topic)
                c->dlq_topic = NULL;
        c->through = calloc(topo->node_cnt + 1, sizeof(*c->through));
        if (!c->through) {
                free(c);
                return NULL;
        }
        for (size_t i = 0; i < topo->node_cnt; i++) {
                const ks__node_t *n = topo->nodes[i];
                if (n->kind == KS_NODE_SINK && n->topic &&
                    ks__topology_source_for(topo, n->topic))
                        c->through[c->through_cnt++] = n->topic;
        }
        return c;
}

void ks__rcollector_set_producer(ks__rcollector_t *c, ks__sproducer_t *p) {
        c->producer = p;
}

void ks__rcollector_destroy(ks__rcollector_t *c) {
        if (!c)
                return;
        pcounts_clear(c);
        free(c->pcounts);
        free(c->slots);
        free(c->free_slots);
        free(c->through);
        ks_error_destroy(c->send_error);
        free(c);
}

int64_t ks__rcollector_changelog_sent(const ks__rcollector_t *c) {
        return c->changelog_sent;
}

int64_t ks__rcollector_send_failures(const ks__rcollector_t *c) {
        return __atomic_load_n(&c->send_failures, __ATOMIC_RELAXED);
}

int64_t ks__rcollector_dlq_records(const ks__rcollector_t *c) {
        return __atomic_load_n(&c->dlq_sent, __ATOMIC_RELAXED);
}
