/* Restoring the stores of DSL tables into a task, as the changelog reader
 * does (ks__task_restore_put() per record, then the checkpoint): a table
 * read from its topic is restored from that topic's plain values, each row
 * stamped with its record's timestamp; a table with a changelog of its own
 * gets the stored bytes (timestamp and value) back as they are, which is
 * what the task logs. Then the task processes with what was restored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "state/state_dir_int.h"
#include "task/task_int.h"
#include "topology/topology_int.h"

#define APP "table-restore"

/* The collector: the last output record and the last changelog record. */
typedef struct {
        char out_topic[64], log_topic[128];
        char out_value[64], log_value[64];
        size_t out_len, log_len;
        int64_t out_ts;
        int outs, logs;
        uint64_t slots;
} sink_t;

static ks_err_t c_send(void *opaque, const char *topic, int32_t partition,
                       const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t timestamp,
                       const ks_headers_t *headers, const ks__origin_t *origin,
                       ks_error_t **errp) {
        (void)partition, (void)key, (void)klen, (void)headers, (void)origin;
        (void)errp;
        sink_t *s = opaque;
        snprintf(s->out_topic, sizeof(s->out_topic), "%s", topic);
        assert_true(vlen <= sizeof(s->out_value));
        memcpy(s->out_value, value, vlen);
        s->out_len = vlen;
        s->out_ts = timestamp;
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
        (void)partition, (void)key, (void)klen, (void)timestamp, (void)slot;
        (void)errp;
        sink_t *s = opaque;
        snprintf(s->log_topic, sizeof(s->log_topic), "%s", topic);
        assert_true(vlen <= sizeof(s->log_value));
        memcpy(s->log_value, value, vlen);
        s->log_len = vlen;
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

/* "<view>|<the user's row>", "none" without one. */
static ks_err_t tag(void *o, const void *l, size_t ll, const void *r, size_t rl,
                    ks_buf_t *out) {
        (void)o;
        ks_err_t err = ks_buf_append(out, l, ll);
        if (!err)
                err = ks_buf_append(out, "|", 1);
        return err ? err
               : r ? ks_buf_append(out, r, rl)
                   : ks_buf_append(out, "none", 4);
}

static size_t store_index(ks__task_t *t, const char *name) {
        for (size_t i = 0; i < ks__task_store_count(t); i++)
                if (!strcmp(ks__task_store_name(t, i), name))
                        return i;
        fail_msg("no store %s", name);
        return 0;
}

static void expect_row(ks_timestamped_kv_store_t *st, const char *key,
                       const char *value, int64_t ts) {
        const void *v;
        size_t vl;
        int64_t got;
        ks_err_t err = ks_timestamped_kv_store_get(st, key, strlen(key), &v,
                                                   &vl, &got);
        if (!value) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(vl, strlen(value));
        assert_memory_equal(v, value, vl);
        assert_int_equal(got, ts);
}

static void restore(ks__task_t *t, size_t i, const char *key, const char *value,
                    int64_t ts) {
        KST_OK(ks__task_restore_put(t, i, key, key ? strlen(key) : 0, value,
                                    value ? strlen(value) : 0, ts));
}

static void test_restore_table_rows(void **state) {
        (void)state;
        /* users: a table read from its topic; latest: the views as a
         * table, with a changelog of its own; both in one sub-topology. */
        ks_builder_t *b = ks_builder_new();
        ks_table_t *users = ks_builder_table(b, "users", NULL, NULL, "users");
        const char *vt[] = {"views"};
        ks_stream_t *views = ks_builder_stream(b, vt, 1, NULL, NULL, NULL);
        KST_OK(ks_stream_to(
                ks_stream_left_join_table(views, users, tag, NULL, NULL), "out",
                NULL));
        assert_non_null(ks_stream_to_table(views, "latest", NULL));
        ks_topology_t *topo = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_builder_build(b, &topo, &e));
        ks_builder_destroy(b);
        assert_int_equal(ks_topology_subtopology_count(topo), 1);
        KST_OK_E(ks__topology_bind(topo, APP, &e));

        ks_config_t *conf = kst_config(APP);
        ks__rocks_env_t *rocks = NULL;
        char *dir = NULL;
        KST_OK_E(ks__rocks_env_new(conf, &rocks, &e));
        KST_OK_E(ks__mkdtemp(kst_tmpdir(), "table-restore-", &dir, &e));
        sink_t sink = {0};
        ks__task_env_t env = {
                .conf = conf,
                .rocks = rocks,
                .state_dir = dir,
                .collector = {c_send, c_partitions, c_flush, &sink,
                              c_send_changelog, c_slot_open, c_slot_close,
                              c_slot_offset},
                .clock = c_clock,
        };
        ks__task_t *t = NULL;
        KST_OK_E(ks__task_new(topo, 0, 0, &env, &t, &e));
        size_t iu = store_index(t, "users"), il = store_index(t, "latest");
        assert_true(ks__task_changelog_from_source(t, iu));
        assert_string_equal(ks__task_changelog_topic(t, iu), "users");
        assert_false(ks__task_changelog_from_source(t, il));
        assert_string_equal(ks__task_changelog_topic(t, il),
                            APP "-latest-changelog");

        /* The table's topic: plain values at their records' timestamps,
         * out of order, with a null key (skipped) and a tombstone. */
        restore(t, iu, "u1", "ann", 1000);
        restore(t, iu, NULL, "nobody", 1100);
        restore(t, iu, "u2", "bob", 1200);
        restore(t, iu, "u1", "amy", 900);
        restore(t, iu, "u3", "cy", 1300);
        restore(t, iu, "u3", NULL, 1400);
        KST_OK_E(ks__task_restore_checkpoint(t, iu, 6, 1, &e));
        /* The changelog of "latest": stored bytes, copied as they are (the
         * record's own timestamp plays no part). */
        ks_buf_t *row = ks_buf_new();
        KST_OK(ks__ts_value_append(row, 77, "cart", 4));
        KST_OK(ks__task_restore_put(t, il, "u1", 2, ks_buf_data(row),
                                    ks_buf_len(row), 123456));
        KST_OK_E(ks__task_restore_checkpoint(t, il, 1, 1, &e));
        KST_OK_E(ks__task_start(t, &e));

        ks_timestamped_kv_store_t *us =
                ks__task_timestamped_kv_store(t, "users");
        ks_timestamped_kv_store_t *ls =
                ks__task_timestamped_kv_store(t, "latest");
        assert_non_null(us);
        assert_non_null(ls);
        expect_row(us, "u1", "amy", 900);
        expect_row(us, "u2", "bob", 1200);
        expect_row(us, "u3", NULL, 0);
        expect_row(us, "", NULL, 0);
        expect_row(ls, "u1", "cart", 77);

        /* The task reads the restored rows: a view joins u1's row, and the
         * views' table logs its stored bytes, timestamp first. */
        KST_OK_E(ks__task_process(t, "views", 0, 0, "u1", 2, "home", 4, 5000,
                                  NULL, &e));
        KST_OK_E(ks__task_flush_caches(t, &e));
        assert_int_equal(sink.outs, 1);
        assert_string_equal(sink.out_topic, "out");
        assert_int_equal(sink.out_len, 8);
        assert_memory_equal(sink.out_value, "home|amy", 8);
        assert_int_equal(sink.out_ts, 5000);
        expect_row(ls, "u1", "home", 5000);
        assert_int_equal(sink.logs, 1);
        assert_string_equal(sink.log_topic, APP "-latest-changelog");
        ks_buf_reset(row);
        KST_OK(ks__ts_value_append(row, 5000, "home", 4));
        assert_int_equal(sink.log_len, ks_buf_len(row));
        assert_memory_equal(sink.log_value, ks_buf_data(row), sink.log_len);
        /* The source table logs nothing: its topic is its changelog. */
        KST_OK_E(ks__task_process(t, "users", 0, 6, "u4", 2, "dee", 3, 6000,
                                  NULL, &e));
        KST_OK_E(ks__task_flush_caches(t, &e));
        assert_int_equal(sink.logs, 1);
        expect_row(us, "u4", "dee", 6000);

        ks_buf_destroy(row);
        ks__task_destroy(t);
        ks__rocks_env_destroy(rocks);
        ks__rmtree(dir);
        free(dir);
        ks_config_destroy(conf);
        ks_topology_destroy(topo);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_restore_table_rows),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
