/* Topology test driver: tasks for partition 0 of every sub-topology, a
 * mocked wall clock, and a collector that keeps output in per-topic FIFO
 * queues. Output to a topic some source reads is also queued for processing
 * (a repartition topic), and handled before ks_test_driver_pipe() returns. */
#include "kstreams/test_driver.h"

#include <stdlib.h>
#include <string.h>

#include "../common/config_int.h"
#include "../common/util_int.h"
#include "../state/state_dir_int.h"
#include "../task/task_int.h"

/* A feedback loop through a topic would never end; stop it. */
#define MAX_INTERNAL_RECORDS 1000000

struct ks_test_record_s {
        char *topic;
        int32_t partition;
        void *key, *value;
        size_t klen, vlen;
        int key_null, value_null;
        int64_t timestamp;
        ks_headers_t *headers;
        int64_t offset;
        ks_test_record_t *next;
};

typedef struct {
        char *topic;
        ks_test_record_t *head, *tail;
        size_t cnt;
        int64_t next_offset;
} out_queue_t;

struct ks_test_driver_s {
        ks_topology_t *topo;
        ks_config_t *conf;
        ks__rocks_env_t *rocks;
        char *state_dir;
        ks__task_t **tasks; /* one per sub-topology */
        size_t task_cnt;
        int64_t wall_clock;
        ks__cache_budget_t cache;
        ks__global_t **globals; /* one per global table */
        out_queue_t *outs;
        size_t out_cnt;
        ks_test_record_t *internal_head, *internal_tail; /* to process */
        int64_t *input_offsets;      /* per source topic, see input_offset() */
        ks__perr_handler_t on_error; /* the tasks point at it */
};

static void record_free(ks_test_record_t *r) {
        if (!r)
                return;
        free(r->topic);
        free(r->key);
        free(r->value);
        ks_headers_destroy(r->headers);
        free(r);
}

void ks_test_record_destroy(ks_test_record_t *rec) {
        record_free(rec);
}

static ks_test_record_t *record_new(const char *topic, int32_t partition,
                                    const void *k, size_t kl, const void *v,
                                    size_t vl, int64_t ts,
                                    const ks_headers_t *hdrs) {
        ks_test_record_t *r = calloc(1, sizeof(*r));
        if (!r)
                return NULL;
        r->topic = ks__strdup(topic);
        r->partition = partition;
        r->key_null = !k;
        r->value_null = !v;
        r->key = malloc(kl + 1);
        r->value = malloc(vl + 1);
        r->headers = hdrs ? ks_headers_copy(hdrs) : ks_headers_new();
        if (!r->topic || !r->key || !r->value || !r->headers) {
                record_free(r);
                return NULL;
        }
        if (k)
                memcpy(r->key, k, kl);
        if (v)
                memcpy(r->value, v, vl);
        r->klen = k ? kl : 0;
        r->vlen = v ? vl : 0;
        r->timestamp = ts;
        return r;
}

static out_queue_t *out_queue(ks_test_driver_t *d, const char *topic,
                              int create) {
        for (size_t i = 0; i < d->out_cnt; i++)
                if (!strcmp(d->outs[i].topic, topic))
                        return &d->outs[i];
        if (!create)
                return NULL;
        out_queue_t *nv = realloc(d->outs, (d->out_cnt + 1) * sizeof(*nv));
        if (!nv)
                return NULL;
        d->outs = nv;
        out_queue_t *q = &d->outs[d->out_cnt];
        memset(q, 0, sizeof(*q));
        if (!(q->topic = ks__strdup(topic)))
                return NULL;
        d->out_cnt++;
        return q;
}

static ks_err_t collector_send(void *opaque, const char *topic,
                               int32_t partition, const void *key, size_t klen,
                               const void *value, size_t vlen,
                               int64_t timestamp, const ks_headers_t *headers,
                               const ks__origin_t *origin, ks_error_t **errp) {
        ks_test_driver_t *d = opaque;
        /* Every topic has one partition under the driver. */
        int32_t p = partition < 0 ? 0 : partition;
        /* Output to a topic a source reads is also processed (repartition). */
        int loops_back = ks__topology_source_for(d->topo, topic) != NULL;
        out_queue_t *q = out_queue(d, topic, 1);
        ks_test_record_t *r = q ? record_new(topic, p, key, klen, value, vlen,
                                             timestamp, headers)
                                : NULL;
        ks_test_record_t *internal =
                r && loops_back ? record_new(topic, p, key, klen, value, vlen,
                                             timestamp, headers)
                                : NULL;
        if (!r || (loops_back && !internal)) {
                record_free(r);
                return ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
        }
        r->offset = q->next_offset++;
        if (q->tail)
                q->tail->next = r;
        else
                q->head = r;
        q->tail = r;
        q->cnt++;
        if (internal) {
                internal->offset = r->offset;
                if (d->internal_tail)
                        d->internal_tail->next = internal;
                else
                        d->internal_head = internal;
                d->internal_tail = internal;
        }
        return KS_ERR_NO_ERROR;
}

static int32_t collector_partition_count(void *opaque, const char *topic) {
        return 1;
}

static int64_t driver_clock(void *opaque) {
        return ((ks_test_driver_t *)opaque)->wall_clock;
}

ks_test_driver_t *ks_test_driver_new(ks_topology_t *topo,
                                     const ks_config_t *conf,
                                     int64_t initial_wall_clock_ms,
                                     ks_error_t **errp) {
        if (!topo) {
                ks__error_set(errp, KS_ERR_INVALID_ARG, "NULL topology");
                return NULL;
        }
        if (ks_topology_build(topo, errp))
                return NULL;
        const char *app_id = conf ? ks_config_get(conf, "application.id") : "";
        if (ks__topology_bind(topo, *app_id ? app_id : "test-driver", errp))
                return NULL;
        const char *dlq =
                conf ? ks_config_get(conf,
                                     "errors.dead.letter.queue.topic.name")
                     : "";
        if (*dlq && ks__topology_source_for(topo, dlq)) {
                ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                              "errors.dead.letter.queue.topic.name: topic %s "
                              "is read by the topology; the dead-letter queue "
                              "must be another topic",
                              dlq);
                return NULL;
        }
        if (*dlq && ks__topology_is_internal_topic(
                            topo, *app_id ? app_id : "test-driver", dlq)) {
                ks__error_set(errp, KS_ERR_INVALID_CONFIG,
                              "errors.dead.letter.queue.topic.name: topic %s "
                              "is an internal topic of the application; the "
                              "dead-letter queue must be another topic",
                              dlq);
                return NULL;
        }
        ks_test_driver_t *d = calloc(1, sizeof(*d));
        if (!d) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        d->topo = ks__topology_ref(topo);
        d->wall_clock = initial_wall_clock_ms;
        d->conf = conf ? ks_config_dup(conf) : ks_config_new();
        d->tasks = calloc(topo->sub_cnt, sizeof(*d->tasks));
        d->globals = calloc(topo->global_cnt + 1, sizeof(*d->globals));
        for (size_t i = 0; d->globals && i < topo->global_cnt; i++)
                if (!(d->globals[i] = ks__global_new(topo->globals[i].store))) {
                        ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                        goto fail;
                }
        if (!d->conf || !d->tasks) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                goto fail;
        }
        if (ks__rocks_env_new(d->conf, &d->rocks, errp))
                goto fail;
        if (ks__mkdtemp(ks_config_get(d->conf, "state.dir"), "test-driver-",
                        &d->state_dir, errp))
                goto fail;
        ks__task_env_t env = {
                .conf = d->conf,
                .rocks = d->rocks,
                .state_dir = d->state_dir,
                .collector = {collector_send, collector_partition_count, NULL,
                              d, NULL},
                .clock = driver_clock,
                .clock_opaque = d,
                .cache = &d->cache,
                .globals = d->globals,
                .on_error = &d->on_error,
        };
        d->cache.max = ks__config_int(d->conf, "statestore.cache.max.bytes");
        for (size_t i = 0; i < topo->sub_cnt; i++) {
                if (ks__task_new(topo, (int)i, 0, &env, &d->tasks[i], errp))
                        goto fail;
                d->task_cnt++;
                if (ks__task_start(d->tasks[i], errp))
                        goto fail;
        }
        return d;
fail:
        ks_test_driver_destroy(d);
        return NULL;
}

void ks_test_driver_destroy(ks_test_driver_t *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->task_cnt; i++)
                ks__task_destroy(d->tasks[i]);
        free(d->tasks);
        for (size_t i = 0; d->globals && i < d->topo->global_cnt; i++)
                ks__global_destroy(d->globals[i]);
        free(d->globals);
        ks__rocks_env_destroy(d->rocks);
        if (d->state_dir)
                ks__rmtree(d->state_dir);
        free(d->state_dir);
        for (size_t i = 0; i < d->out_cnt; i++) {
                ks_test_record_t *r = d->outs[i].head;
                while (r) {
                        ks_test_record_t *n = r->next;
                        record_free(r);
                        r = n;
                }
                free(d->outs[i].topic);
        }
        free(d->outs);
        while (d->internal_head) {
                ks_test_record_t *n = d->internal_head->next;
                record_free(d->internal_head);
                d->internal_head = n;
        }
        free(d->input_offsets);
        ks_config_destroy(d->conf);
        ks_topology_destroy(d->topo);
        free(d);
}

void ks_test_driver_set_processing_error_handler(ks_test_driver_t *d,
                                                 ks_processing_error_cb *cb,
                                                 void *opaque) {
        if (!d)
                return;
        d->on_error.cb = cb;
        d->on_error.opaque = opaque;
}

static ks__task_t *task_for(ks_test_driver_t *d, const char *topic) {
        ks__node_t *src = ks__topology_source_for(d->topo, topic);
        return src ? d->tasks[src->subtopology] : NULL;
}

/* Next input offset of a source topic: one counter per topic, kept in the
 * output queue of that topic so piped and internal records share it. */
static int64_t input_offset(ks_test_driver_t *d, const char *topic) {
        out_queue_t *q = out_queue(d, topic, 1);
        return q ? q->next_offset++ : 0;
}

static ks_err_t drain_internal(ks_test_driver_t *d, ks_error_t **errp);

static ks_err_t commit_all(ks_test_driver_t *d, ks_error_t **errp) {
        /* The record caches first; what they let out into repartition
         * topics is processed (and cached) downstream, and flushed in
         * turn. */
        for (size_t round = 0; round <= d->task_cnt; round++) {
                for (size_t i = 0; i < d->task_cnt; i++) {
                        ks_err_t err = ks__task_flush_caches(d->tasks[i], errp);
                        if (err)
                                return err;
                }
                if (!d->internal_head)
                        break;
                ks_err_t err = drain_internal(d, errp);
                if (err)
                        return err;
        }
        for (size_t i = 0; i < d->task_cnt; i++) {
                ks_err_t err = ks__task_commit(d->tasks[i], errp);
                if (err)
                        return err;
        }
        return KS_ERR_NO_ERROR;
}

static ks_err_t drain_internal(ks_test_driver_t *d, ks_error_t **errp) {
        size_t n = 0;
        ks_err_t err = KS_ERR_NO_ERROR;
        while (d->internal_head && !err) {
                ks_test_record_t *r = d->internal_head;
                d->internal_head = r->next;
                if (!d->internal_head)
                        d->internal_tail = NULL;
                if (++n > MAX_INTERNAL_RECORDS) {
                        err = ks__error_set(errp, KS_ERR_TOPOLOGY,
                                            "more than %d records looped "
                                            "through topic %s: the topology "
                                            "feeds its own input",
                                            MAX_INTERNAL_RECORDS, r->topic);
                        record_free(r);
                        break;
                }
                err = ks__task_process(task_for(d, r->topic), r->topic, 0,
                                       r->offset, r->key_null ? NULL : r->key,
                                       r->klen, r->value_null ? NULL : r->value,
                                       r->vlen, r->timestamp, r->headers, errp);
                record_free(r);
        }
        while (err && d->internal_head) { /* drop the rest of this pipe */
                ks_test_record_t *nx = d->internal_head->next;
                record_free(d->internal_head);
                d->internal_head = nx;
        }
        d->internal_tail = d->internal_head ? d->internal_tail : NULL;
        return err;
}

ks_err_t ks_test_driver_pipe(ks_test_driver_t *d, const char *topic,
                             const void *key, size_t key_size,
                             const void *value, size_t value_size,
                             int64_t timestamp, const ks_headers_t *headers,
                             ks_error_t **errp) {
        if (!d || !topic)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "pipe needs a driver and a topic");
        const ks__global_def_t *g = ks__topology_global_for(d->topo, topic);
        if (g) {
                /* A global table's topic: straight into its store. */
                ks_error_t *e = NULL;
                if (ks_serde_validate(g->key_serde, key, key_size, &e) ||
                    ks_serde_validate(g->value_serde, value, value_size, &e)) {
                        ks_err_t err = ks__error_set(
                                errp, KS_ERR_SERDE,
                                "global table %s (topic %s): %s", g->store,
                                topic, ks_error_message(e));
                        ks_error_destroy(e);
                        return err;
                }
                return ks__global_apply(d->globals[g - d->topo->globals], key,
                                        key_size, value, value_size);
        }
        ks__task_t *t = task_for(d, topic);
        if (!t)
                return ks__error_set(errp, KS_ERR_NOT_FOUND,
                                     "topic \"%s\" is not read by any source "
                                     "of the topology",
                                     topic);
        ks_err_t err = ks__task_process(t, topic, 0, input_offset(d, topic),
                                        key, key_size, value, value_size,
                                        timestamp, headers, errp);
        if (!err)
                err = drain_internal(d, errp);
        if (!err)
                err = commit_all(d, errp);
        return err;
}

ks_err_t ks_test_driver_advance_wall_clock(ks_test_driver_t *d,
                                           int64_t advance_ms,
                                           ks_error_t **errp) {
        if (!d || advance_ms < 0)
                return ks__error_set(errp, KS_ERR_INVALID_ARG,
                                     "the wall clock only moves forward "
                                     "(advance %lld ms)",
                                     (long long)advance_ms);
        d->wall_clock = ks__ts_add(d->wall_clock, advance_ms);
        for (size_t i = 0; i < d->task_cnt; i++) {
                ks_err_t err = ks__task_punctuate_wall_clock(
                        d->tasks[i], d->wall_clock, errp);
                if (!err)
                        err = drain_internal(d, errp);
                if (err)
                        return err;
        }
        return commit_all(d, errp);
}

int64_t ks_test_driver_wall_clock(const ks_test_driver_t *d) {
        return d->wall_clock;
}

size_t ks_test_driver_output_size(const ks_test_driver_t *d,
                                  const char *topic) {
        if (!d || !topic)
                return 0;
        for (size_t i = 0; i < d->out_cnt; i++)
                if (!strcmp(d->outs[i].topic, topic))
                        return d->outs[i].cnt;
        return 0;
}

ks_test_record_t *ks_test_driver_read_output(ks_test_driver_t *d,
                                             const char *topic) {
        if (!d || !topic)
                return NULL;
        out_queue_t *q = out_queue(d, topic, 0);
        if (!q || !q->head)
                return NULL;
        ks_test_record_t *r = q->head;
        q->head = r->next;
        if (!q->head)
                q->tail = NULL;
        q->cnt--;
        r->next = NULL;
        return r;
}

/* The task holding store @p name, which must be of @p type. */
static ks_err_t driver_store(ks_test_driver_t *d, const char *name,
                             ks_store_type_t type, ks__task_t **taskp) {
        if (!d || !name)
                return KS_ERR_INVALID_ARG;
        for (size_t i = 0; i < d->task_cnt; i++) {
                ks_store_type_t have;
                if (ks__task_store_type(d->tasks[i], name, &have))
                        continue;
                if (have != type)
                        return KS_ERR_STORE_TYPE;
                *taskp = d->tasks[i];
                return KS_ERR_NO_ERROR;
        }
        return KS_ERR_NOT_FOUND;
}

ks_err_t ks_test_driver_get_kv_store(ks_test_driver_t *d, const char *name,
                                     ks_kv_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t;
        ks_err_t err = driver_store(d, name, KS_STORE_TYPE_KEY_VALUE, &t);
        if (!err)
                *storep = ks__task_store(t, name);
        return err;
}

ks_err_t
ks_test_driver_get_timestamped_kv_store(ks_test_driver_t *d, const char *name,
                                        ks_timestamped_kv_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t;
        ks_err_t err = driver_store(d, name, KS_STORE_TYPE_TIMESTAMPED_KV, &t);
        if (!err)
                *storep = ks__task_timestamped_kv_store(t, name);
        return err;
}

ks_err_t
ks_test_driver_get_versioned_kv_store(ks_test_driver_t *d, const char *name,
                                      ks_versioned_kv_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t;
        ks_err_t err = driver_store(d, name, KS_STORE_TYPE_VERSIONED_KV, &t);
        if (!err)
                *storep = ks__task_versioned_kv_store(t, name);
        return err;
}

ks_err_t ks_test_driver_get_window_store(ks_test_driver_t *d, const char *name,
                                         ks_window_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t;
        ks_err_t err = driver_store(d, name, KS_STORE_TYPE_WINDOW, &t);
        if (!err)
                *storep = ks__task_window_store(t, name);
        return err;
}

ks_err_t ks_test_driver_get_session_store(ks_test_driver_t *d, const char *name,
                                          ks_session_store_t **storep) {
        if (!storep)
                return KS_ERR_INVALID_ARG;
        ks__task_t *t;
        ks_err_t err = driver_store(d, name, KS_STORE_TYPE_SESSION, &t);
        if (!err)
                *storep = ks__task_session_store(t, name);
        return err;
}

int64_t ks_test_driver_metric(const ks_test_driver_t *d, const char *name) {
        if (!d || !name)
                return -1;
        static uint64_t (*const counters[])(const ks__task_t *) = {
                ks__task_dropped_records,
                ks__task_dropped_late,
                ks__task_dropped_duplicate,
                ks__task_processed_records,
                ks__task_dropped_deserialization,
                ks__task_dropped_processing,
                ks__task_dlq_records};
        static const char *const names[] = {"dropped-records",
                                            "dropped-records-late",
                                            "dropped-records-duplicate",
                                            "process-total",
                                            "dropped-records-deserialization",
                                            "dropped-records-processing-error",
                                            "dlq-records"};
        size_t k = 0, n = sizeof(names) / sizeof(names[0]);
        while (k < n && strcmp(name, names[k]))
                k++;
        if (k == n)
                return -1;
        int64_t sum = 0;
        for (size_t i = 0; i < d->task_cnt; i++)
                sum += (int64_t)counters[k](d->tasks[i]);
        return sum;
}

const char *ks_test_record_topic(const ks_test_record_t *r) {
        return r->topic;
}
int32_t ks_test_record_partition(const ks_test_record_t *r) {
        return r->partition;
}
const void *ks_test_record_key(const ks_test_record_t *r, size_t *sizep) {
        if (sizep)
                *sizep = r->klen;
        return r->key_null ? NULL : r->key;
}
const void *ks_test_record_value(const ks_test_record_t *r, size_t *sizep) {
        if (sizep)
                *sizep = r->vlen;
        return r->value_null ? NULL : r->value;
}
int64_t ks_test_record_timestamp(const ks_test_record_t *r) {
        return r->timestamp;
}
const ks_headers_t *ks_test_record_headers(const ks_test_record_t *r) {
        return r->headers;
}
