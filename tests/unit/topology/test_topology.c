/* Topology builder: validation errors naming the culprit, sub-topologies and
 * describe() output. */
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "common/config_int.h"
#include "topology/topology_int.h"

static ks_err_t noop(ks_context_t *ctx, const ks_record_t *rec, void *st) {
        return ks_context_forward(ctx, NULL, 0, NULL, 0);
}

#define P(...) ((const char *const[]){__VA_ARGS__})
#define N(...) (sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

static void add_proc(ks_topology_t *t, const char *name, const char *parent) {
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_processor(t, name, NULL, noop, NULL, NULL,
                                           P(parent), 1, &e));
}

static void test_duplicate_and_bad_names(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_ASSERT_ERROR(ks_topology_add_processor(t, "src", NULL, noop, NULL,
                                                   NULL, P("src"), 1, &e),
                         e, KS_ERR_TOPOLOGY, "\"src\"", "already exists");
        KST_ASSERT_ERROR(
                ks_topology_add_source(t, "src2", P("in"), 1, NULL, NULL, &e),
                e, KS_ERR_TOPOLOGY, "topic \"in\"", "source \"src\"");
        KST_ASSERT_ERROR(ks_topology_add_source(t, "src3", P("a", "a"), 2, NULL,
                                                NULL, &e),
                         e, KS_ERR_TOPOLOGY, "topic \"a\" twice");
        KST_ASSERT_ERROR(ks_topology_add_source(t, "src4", P("bad topic"), 1,
                                                NULL, NULL, &e),
                         e, KS_ERR_INVALID_ARG, "\"bad topic\"", "' '");
        KST_ASSERT_ERROR(ks_topology_add_sink(t, "out", "..", NULL, NULL,
                                              P("src"), 1, &e),
                         e, KS_ERR_INVALID_ARG, "\"..\"");
        char longname[300];
        memset(longname, 'x', sizeof(longname) - 1);
        longname[299] = 0;
        KST_ASSERT_ERROR(ks_topology_add_sink(t, "out", longname, NULL, NULL,
                                              P("src"), 1, &e),
                         e, KS_ERR_INVALID_ARG, "249");
        KST_ASSERT_ERROR(ks_topology_add_processor(t, "p", NULL, noop, NULL,
                                                   NULL, NULL, 0, &e),
                         e, KS_ERR_TOPOLOGY, "\"p\"", "at least one parent");
        KST_ASSERT_ERROR(ks_topology_add_processor(t, "p", NULL, NULL, NULL,
                                                   NULL, P("src"), 1, &e),
                         e, KS_ERR_INVALID_ARG, "process callback");
        KST_ASSERT_ERROR(ks_topology_add_kv_store(t, "bad/store",
                                                  KS_STORE_ROCKSDB, 0, &e),
                         e, KS_ERR_INVALID_ARG, "store name", "bad/store");
        KST_OK_E(ks_topology_add_kv_store(t, "st", KS_STORE_ROCKSDB, 0, &e));
        KST_ASSERT_ERROR(
                ks_topology_add_kv_store(t, "st", KS_STORE_IN_MEMORY, 0, &e), e,
                KS_ERR_TOPOLOGY, "store \"st\" already exists");
        ks_topology_destroy(t);
}

static void test_unknown_parent(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        add_proc(t, "p", "nope");
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY,
                         "processor \"p\"", "unknown parent \"nope\"");
        /* The topology stays editable: adding the parent fixes it. */
        add_proc(t, "nope", "src");
        KST_OK_E(ks_topology_build(t, &e));
        ks_topology_destroy(t);
}

static void test_cycle(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_processor(t, "a", NULL, noop, NULL, NULL,
                                           P("src", "c"), 2, &e));
        add_proc(t, "b", "a");
        add_proc(t, "c", "b");
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY, "cycle",
                         "processor \"a\"");
        ks_topology_destroy(t);
}

static void test_sink_as_parent(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_sink(t, "out", "o", NULL, NULL, P("src"), 1,
                                      &e));
        add_proc(t, "p", "out");
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY,
                         "sink \"out\"", "no children");
        ks_topology_destroy(t);
}

static void test_store_connections(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        add_proc(t, "p", "src");
        KST_OK_E(
                ks_topology_add_kv_store(t, "lonely", KS_STORE_ROCKSDB, 0, &e));
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY,
                         "store \"lonely\"", "not connected");
        KST_OK_E(ks_topology_connect_store(t, "lonely", "p", &e));
        KST_OK_E(ks_topology_connect_store(t, "ghost", "p", &e));
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY,
                         "unknown store \"ghost\"");
        ks_topology_destroy(t);

        t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_add_kv_store(t, "s", KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_connect_store(t, "s", "src", &e));
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY,
                         "store \"s\"", "\"src\"", "a source");
        ks_topology_destroy(t);
}

static void test_built_is_frozen(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_ASSERT_ERROR(ks_topology_build(t, &e), e, KS_ERR_TOPOLOGY,
                         "no nodes");
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        KST_OK_E(ks_topology_build(t, &e));
        KST_OK_E(ks_topology_build(t, &e)); /* idempotent */
        KST_ASSERT_ERROR(
                ks_topology_add_source(t, "x", P("in2"), 1, NULL, NULL, &e), e,
                KS_ERR_STATE, "already built");
        KST_ASSERT_ERROR(
                ks_topology_add_kv_store(t, "s", KS_STORE_ROCKSDB, 0, &e), e,
                KS_ERR_STATE, "already built");
        KST_ASSERT_ERROR(
                ks_topology_sink_set_partitioner(t, "src", NULL, NULL, &e), e,
                KS_ERR_STATE, "already built");
        ks_topology_destroy(t);
}

/* Two independent pipelines plus a third joined to the first through a
 * shared store: two sub-topologies. */
static ks_topology_t *sample(void) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "lines", P("text"), 1,
                                        ks_serde_string(), ks_serde_string(),
                                        &e));
        add_proc(t, "split", "lines");
        add_proc(t, "count", "split");
        KST_OK_E(ks_topology_add_sink(t, "counts-out", "counts",
                                      ks_serde_string(), ks_serde_int64(),
                                      P("count"), 1, &e));
        KST_OK_E(ks_topology_add_source(t, "clicks", P("click-a", "click-b"), 2,
                                        NULL, NULL, &e));
        add_proc(t, "tally", "clicks");
        KST_OK_E(ks_topology_add_source(t, "resets", P("reset"), 1, NULL, NULL,
                                        &e));
        add_proc(t, "reset-counts", "resets");
        KST_OK_E(ks_topology_add_kv_store(t, "word-counts", KS_STORE_ROCKSDB, 0,
                                          &e));
        KST_OK_E(ks_topology_connect_store(t, "word-counts", "count", &e));
        KST_OK_E(ks_topology_connect_store(t, "word-counts", "reset-counts",
                                           &e));
        return t;
}

static void test_subtopologies(void **state) {
        ks_topology_t *t = sample();
        assert_int_equal(ks_topology_subtopology_count(t), 2);
        /* Sub-topology 0: lines, split, count, counts-out, resets,
         * reset-counts (joined by the store); 1: clicks, tally. */
        assert_int_equal(t->subs[0].node_cnt, 6);
        assert_int_equal(t->subs[1].node_cnt, 2);
        assert_string_equal(t->subs[1].nodes[0]->name, "clicks");
        assert_int_equal(ks__topology_node(t, "reset-counts")->subtopology, 0);
        assert_int_equal(t->subs[0].store_cnt, 1);
        assert_int_equal(t->subs[1].store_cnt, 0);
        ks_topology_destroy(t);
}

static void test_describe(void **state) {
        ks_topology_t *t = sample();
        char *d = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_describe(t, &d, &e));
        const char *want =
                "Topologies:\n"
                "   Sub-topology: 0\n"
                "    Source: lines (topics: [text])\n"
                "      --> split\n"
                "    Processor: split (stores: [])\n"
                "      --> count\n"
                "      <-- lines\n"
                "    Processor: count (stores: [word-counts])\n"
                "      --> counts-out\n"
                "      <-- split\n"
                "    Sink: counts-out (topic: counts)\n"
                "      <-- count\n"
                "    Source: resets (topics: [reset])\n"
                "      --> reset-counts\n"
                "    Processor: reset-counts (stores: [word-counts])\n"
                "      --> none\n"
                "      <-- resets\n"
                "\n"
                "   Sub-topology: 1\n"
                "    Source: clicks (topics: [click-a, click-b])\n"
                "      --> tally\n"
                "    Processor: tally (stores: [])\n"
                "      --> none\n"
                "      <-- clicks\n"
                "\n";
        assert_string_equal(d, want);
        ks_free(d);
        ks_topology_destroy(t);
}

/* The Graphviz form of sample(): a cluster per sub-topology holding its
 * nodes, topics linked to their sources and sinks, the store linked to
 * both its processors; names with quotes escaped. */
static void test_describe_dot(void **state) {
        ks_topology_t *t = sample();
        char *d = NULL;
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_describe_dot(t, &d, &e));
        assert_true(!strncmp(d, "digraph topology {\n", 19));
        const char *c0 = strstr(d, "subgraph cluster_0 {");
        const char *c1 = strstr(d, "subgraph cluster_1 {");
        assert_non_null(c0);
        assert_non_null(c1);
        /* Each node in its own cluster. */
        const char *in0[] = {"\"node:lines\"",  "\"node:split\"",
                             "\"node:count\"",  "\"node:counts-out\"",
                             "\"node:resets\"", "\"node:reset-counts\""};
        for (size_t i = 0; i < 6; i++) {
                const char *p = strstr(c0, in0[i]);
                assert_true(p && p < c1);
        }
        assert_non_null(strstr(c1, "\"node:tally\""));
        const char *edges[] = {"\"topic:text\" -> \"node:lines\";",
                               "\"topic:click-a\" -> \"node:clicks\";",
                               "\"topic:click-b\" -> \"node:clicks\";",
                               "\"node:split\" -> \"node:count\";",
                               "\"node:counts-out\" -> \"topic:counts\";",
                               "\"node:count\" -> \"store:word-counts\"",
                               "\"node:reset-counts\" -> \"store:word-counts\"",
                               "\"store:word-counts\" [shape=cylinder"};
        for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
                if (!strstr(d, edges[i]))
                        fail_msg("no %s in\n%s", edges[i], d);
        assert_string_equal(d + strlen(d) - 2, "}\n");
        ks_free(d);
        ks_topology_destroy(t);

        t = ks_topology_new();
        KST_OK_E(ks_topology_add_source(t, "a\"b", P("tx"), 1, NULL, NULL, &e));
        add_proc(t, "p\\q", "a\"b");
        KST_OK_E(ks_topology_describe_dot(t, &d, &e));
        assert_non_null(strstr(d, "\"topic:tx\" -> \"node:a\\\"b\";"));
        assert_non_null(strstr(d, "\"node:p\\\\q\""));
        ks_free(d);
        ks_topology_destroy(t);
}

/* The configs each internal topic is created with: a repartition topic
 * "delete"; a key-value store's changelog "compact"; a window or session
 * store's "compact,delete" with retention.ms = the store's retention +
 * windowstore.changelog.additional.retention.ms (default one day). */
static void test_changelog_configs(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        add_proc(t, "p", "src");
        KST_OK_E(ks_topology_add_sink(t, "to-rep", "rep", NULL, NULL, P("p"), 1,
                                      &e));
        KST_OK_E(ks_topology_add_source(t, "from-rep", P("rep"), 1, NULL, NULL,
                                        &e));
        KST_OK(ks__topology_set_internal(t, "to-rep"));
        KST_OK(ks__topology_set_internal(t, "from-rep"));
        add_proc(t, "q", "from-rep");
        KST_OK_E(
                ks_topology_add_kv_store(t, "counts", KS_STORE_ROCKSDB, 0, &e));
        KST_OK_E(ks_topology_add_window_store(t, "wins", KS_STORE_ROCKSDB, 5000,
                                              1000, 0, &e));
        KST_OK_E(ks_topology_add_session_store(t, "sess", KS_STORE_IN_MEMORY,
                                               7000, 0, &e));
        KST_OK_E(ks_topology_add_window_store(
                t, "joins", KS_STORE_ROCKSDB, INT64_MAX - 10, 1000,
                KS_STORE_F_RETAIN_DUPLICATES, &e));
        KST_OK_E(ks_topology_add_window_store(t, "quiet", KS_STORE_ROCKSDB,
                                              5000, 1000,
                                              KS_STORE_F_LOGGING_DISABLED, &e));
        KST_ASSERT_ERROR(ks_topology_add_kv_store(t, "dups", KS_STORE_ROCKSDB,
                                                  KS_STORE_F_RETAIN_DUPLICATES,
                                                  &e),
                         e, KS_ERR_INVALID_ARG, "\"dups\"",
                         "only a window store can retain duplicates");
        static const char *stores[] = {"counts", "wins", "sess", "joins",
                                       "quiet"};
        for (size_t i = 0; i < 5; i++)
                KST_OK_E(ks_topology_connect_store(t, stores[i],
                                                   i % 2 ? "p" : "q", &e));
        KST_OK_E(ks_topology_build(t, &e));
        ks_config_t *c = kst_config("cfg");
        int64_t extra = ks__config_int(
                c, "windowstore.changelog.additional.retention.ms");
        assert_int_equal(extra, 86400000);
        static const struct {
                const char *topic, *policy;
                int64_t retention; /* with extra; -1: none */
        } want[] = {
                {"cfg-rep", "delete", -1},
                {"cfg-counts-changelog", "compact", -1},
                {"cfg-wins-changelog", "compact,delete", 5000 + 86400000},
                {"cfg-sess-changelog", "compact,delete", 7000 + 86400000},
                {"cfg-joins-changelog", "compact,delete", INT64_MAX},
                /* The duplicate marks of the sub-topology reading "rep". */
                {"cfg-KSTREAM-ORIGIN-MARKS-1-changelog", "compact", -1},
        };
        assert_int_equal(ks_topology_internal_topic_count(t), 6);
        for (size_t i = 0; i < 6; i++) {
                char name[128];
                KST_OK(ks_topology_internal_topic(t, "cfg", i, name,
                                                  sizeof(name), NULL));
                assert_string_equal(name, want[i].topic);
                ks__topic_config_t cfg;
                KST_OK(ks__topology_internal_config(t, i, extra, &cfg));
                assert_string_equal(cfg.cleanup_policy, want[i].policy);
                assert_int_equal(cfg.retention_ms, want[i].retention);
                /* The additional retention is configurable. */
                KST_OK(ks__topology_internal_config(t, i, 0, &cfg));
                if (i == 2)
                        assert_int_equal(cfg.retention_ms, 5000);
        }
        ks__topic_config_t cfg;
        assert_int_equal(ks__topology_internal_config(t, 6, extra, &cfg),
                         KS_ERR_INVALID_ARG);
        ks_config_destroy(c);
        ks_topology_destroy(t);
}

/* A versioned store: its history retention must be positive; describe()
 * lists it with it; its changelog is compacted. */
static void test_versioned_store(void **state) {
        ks_topology_t *t = ks_topology_new();
        ks_error_t *e = NULL;
        KST_OK_E(ks_topology_add_source(t, "src", P("in"), 1, NULL, NULL, &e));
        add_proc(t, "p", "src");
        KST_ASSERT_ERROR(ks_topology_add_versioned_kv_store(
                                 t, "hist", KS_STORE_ROCKSDB, 0, 0, &e),
                         e, KS_ERR_INVALID_ARG,
                         "versioned key-value store \"hist\"",
                         "history retention 0 ms is not positive");
        KST_ASSERT_ERROR(ks_topology_add_versioned_kv_store(
                                 t, "hist", KS_STORE_ROCKSDB, -5, 0, &e),
                         e, KS_ERR_INVALID_ARG, "-5 ms");
        KST_ASSERT_ERROR(ks_topology_add_versioned_kv_store(
                                 t, "hist", KS_STORE_ROCKSDB, 5,
                                 KS_STORE_F_RETAIN_DUPLICATES, &e),
                         e, KS_ERR_INVALID_ARG,
                         "only a window store can retain duplicates");
        KST_OK_E(ks_topology_add_versioned_kv_store(t, "hist", KS_STORE_ROCKSDB,
                                                    5000, 0, &e));
        KST_ASSERT_ERROR(ks_topology_add_versioned_kv_store(
                                 t, "hist", KS_STORE_IN_MEMORY, 5, 0, &e),
                         e, KS_ERR_TOPOLOGY, "already exists");
        KST_OK_E(ks_topology_connect_store(t, "hist", "p", &e));
        char *d = NULL;
        KST_OK_E(ks_topology_describe(t, &d, &e));
        assert_non_null(strstr(d, "    Processor: p (stores: [hist])\n"));
        assert_non_null(strstr(d, "   Versioned key-value store: hist "
                                  "(history retention: 5000 ms)\n"));
        ks_free(d);
        assert_int_equal(ks_topology_internal_topic_count(t), 1);
        char name[128];
        KST_OK(ks_topology_internal_topic(t, "app", 0, name, sizeof(name),
                                          NULL));
        assert_string_equal(name, "app-hist-changelog");
        ks__topic_config_t cfg;
        KST_OK(ks__topology_internal_config(t, 0, 86400000, &cfg));
        assert_string_equal(cfg.cleanup_policy, "compact");
        assert_int_equal(cfg.retention_ms, -1);
        ks_topology_destroy(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_duplicate_and_bad_names),
                cmocka_unit_test(test_unknown_parent),
                cmocka_unit_test(test_cycle),
                cmocka_unit_test(test_sink_as_parent),
                cmocka_unit_test(test_store_connections),
                cmocka_unit_test(test_built_is_frozen),
                cmocka_unit_test(test_subtopologies),
                cmocka_unit_test(test_describe),
                cmocka_unit_test(test_describe_dot),
                cmocka_unit_test(test_changelog_configs),
                cmocka_unit_test(test_versioned_store),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
