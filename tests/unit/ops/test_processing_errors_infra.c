/* The processing-error handler must never let pass an error that is not
 * the record's doing, whatever came first in the traversal. A processor
 * forwards to a child that fails (a processing error, which
 * log_and_continue may drop), ignores that, and then writes its store,
 * whose changelog send the collector refuses, or sends to a sink the
 * collector refuses. Dropping the record would lose the changelog record
 * (the store holds a write its changelog never gets: lost on restore) or
 * the output: the task must fail, naming the refused send. A task with
 * only the processing error drops the record, as the control. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "state/state_dir_int.h"
#include "task/task_int.h"
#include "topology/topology_int.h"

#define APP    "perr-infra"
#define P(...) ((const char *const[]){__VA_ARGS__})

/* The collector: refuses changelog or output records when told to. */
typedef struct {
        int refuse_changelog, refuse_output;
        int outs, logs;
        uint64_t slots;
} sink_t;

static ks_err_t c_send(void *opaque, const char *topic, int32_t partition,
                       const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t timestamp,
                       const ks_headers_t *headers, const ks__origin_t *origin,
                       ks_error_t **errp) {
        (void)partition, (void)key, (void)klen, (void)value, (void)vlen;
        (void)timestamp, (void)headers, (void)origin;
        sink_t *s = opaque;
        if (s->refuse_output)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "cannot produce to %s: refused", topic);
        s->outs++;
        return KS_ERR_NO_ERROR;
}

static int32_t c_partitions(void *opaque, const char *topic) {
        (void)opaque, (void)topic;
        return 1;
}

static ks_err_t c_flush(void *opaque, ks_error_t **errp) {
        (void)opaque, (void)errp;
        return KS_ERR_NO_ERROR;
}

static ks_err_t c_send_changelog(void *opaque, const char *topic,
                                 int32_t partition, const void *key,
                                 size_t klen, const void *value, size_t vlen,
                                 int64_t timestamp, uint64_t slot,
                                 ks_error_t **errp) {
        (void)partition, (void)key, (void)klen, (void)value, (void)vlen;
        (void)timestamp, (void)slot;
        sink_t *s = opaque;
        if (s->refuse_changelog)
                return ks__error_set(errp, KS_ERR_KAFKA,
                                     "cannot produce to %s: refused", topic);
        s->logs++;
        return KS_ERR_NO_ERROR;
}

static uint64_t c_slot_open(void *opaque) {
        return ++((sink_t *)opaque)->slots;
}

static void c_slot_close(void *opaque, uint64_t slot) {
        (void)opaque, (void)slot;
}

static int64_t c_slot_offset(void *opaque, uint64_t slot) {
        (void)opaque, (void)slot;
        return -1;
}

static int64_t c_clock(void *opaque) {
        (void)opaque;
        return 0;
}

/* Forwards to "child" (ignoring its failure), then to the sink (ignoring
 * that too), then writes the record to store "s". */
static ks_err_t parent(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)st;
        size_t kl, vl;
        const void *k = ks_record_key(rec, &kl);
        const void *v = ks_record_value(rec, &vl);
        ks_kv_store_t *s;
        KST_OK(ks_context_get_kv_store(ctx, "s", &s));
        (void)ks_context_forward_to(ctx, "child", k, kl, v, vl);
        (void)ks_context_forward_to(ctx, "sink", k, kl, v, vl);
        (void)ks_kv_store_put(s, k, kl, v, vl);
        return KS_ERR_NO_ERROR;
}

static ks_err_t child(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        (void)rec, (void)st;
        return ks_context_set_error(ctx, "child refuses");
}

typedef struct {
        ks_topology_t *topo;
        ks_config_t *conf;
        ks__rocks_env_t *rocks;
        char *dir;
        sink_t sink;
        ks__task_t *task;
} fixture_t;

static void fixture_init(fixture_t *f) {
        ks_error_t *e = NULL;
        memset(f, 0, sizeof(*f));
        f->topo = ks_topology_new();
        KST_OK_E(ks_topology_add_source(f->topo, "src", P("in"), 1, NULL, NULL,
                                        &e));
        KST_OK_E(ks_topology_add_processor(f->topo, "parent", NULL, parent,
                                           NULL, NULL, P("src"), 1, &e));
        KST_OK_E(ks_topology_add_processor(f->topo, "child", NULL, child, NULL,
                                           NULL, P("parent"), 1, &e));
        KST_OK_E(ks_topology_add_sink(f->topo, "sink", "out", NULL, NULL,
                                      P("parent"), 1, &e));
        KST_OK_E(ks_topology_add_kv_store(f->topo, "s", KS_STORE_IN_MEMORY, 0,
                                          &e));
        KST_OK_E(ks_topology_connect_store(f->topo, "s", "parent", &e));
        KST_OK_E(ks_topology_build(f->topo, &e));
        KST_OK_E(ks__topology_bind(f->topo, APP, &e));
        f->conf = kst_config(APP);
        kst_set(f->conf, "processing.exception.handler", "log_and_continue");
        KST_OK_E(ks__rocks_env_new(f->conf, &f->rocks, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "perr-infra-", &f->dir, &e));
}

static void task_start(fixture_t *f) {
        ks_error_t *e = NULL;
        ks__task_env_t env = {
                .conf = f->conf,
                .rocks = f->rocks,
                .state_dir = f->dir,
                .collector = {c_send, c_partitions, c_flush, &f->sink,
                              c_send_changelog, c_slot_open, c_slot_close,
                              c_slot_offset},
                .clock = c_clock,
        };
        KST_OK_E(ks__task_new(f->topo, 0, 0, &env, &f->task, &e));
        KST_OK_E(ks__task_start(f->task, &e));
}

static void fixture_clear(fixture_t *f) {
        ks__task_destroy(f->task);
        ks__rocks_env_destroy(f->rocks);
        ks__rmtree(f->dir);
        free(f->dir);
        ks_config_destroy(f->conf);
        ks_topology_destroy(f->topo);
}

/* Control: only the child's processing error; the record is dropped. */
static void test_processing_error_dropped(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f);
        task_start(&f);
        ks_error_t *e = NULL;
        KST_OK_E(ks__task_process(f.task, "in", 0, 0, "k", 1, "v", 1, 10, NULL,
                                  &e));
        assert_int_equal(ks__task_dropped_processing(f.task), 1);
        assert_int_equal(f.sink.outs, 1);
        assert_int_equal(f.sink.logs, 1);
        fixture_clear(&f);
}

/* The changelog send is refused after the child's error: the task fails
 * with the changelog's error, nothing is dropped. */
static void test_changelog_refused_after_processing_error(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f);
        task_start(&f);
        f.sink.refuse_changelog = 1;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks__task_process(f.task, "in", 0, 0, "k", 1, "v", 1,
                                          10, NULL, &e),
                         e, KS_ERR_KAFKA, "changelog",
                         APP "-s-changelog: cannot produce");
        assert_int_equal(ks__task_dropped_processing(f.task), 0);
        assert_int_equal(f.sink.logs, 0);
        fixture_clear(&f);
}

/* The same with the sink's send refused. */
static void test_output_refused_after_processing_error(void **state) {
        (void)state;
        fixture_t f;
        fixture_init(&f);
        task_start(&f);
        f.sink.refuse_output = 1;
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks__task_process(f.task, "in", 0, 0, "k", 1, "v", 1,
                                          10, NULL, &e),
                         e, KS_ERR_KAFKA, "sink \"sink\" (topic out)",
                         "cannot produce to out");
        assert_int_equal(ks__task_dropped_processing(f.task), 0);
        assert_int_equal(f.sink.outs, 0);
        fixture_clear(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_processing_error_dropped),
                cmocka_unit_test(test_changelog_refused_after_processing_error),
                cmocka_unit_test(test_output_refused_after_processing_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
