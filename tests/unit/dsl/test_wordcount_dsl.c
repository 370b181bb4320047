/* The DSL word count against the Processor API one under the test driver:
 * the same lines give the same output records, in the same order, and
 * both end with the same counts as a count made here. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "wordcount_topology.h"

#define LINES 400

static const char *vocab[] = {"Kafka", "stream", "TABLE", "join", "x1",
                              "count", "state",  "store", "a",    "naïve"};

static void test_same_output(void **state) {
        (void)state;
        ks_error_t *e = NULL;
        ks_topology_t *papi = wordcount_topology(KS_STORE_ROCKSDB, &e);
        ks_topology_t *dsl = wordcount_dsl_topology_on(WORDCOUNT_INPUT,
                                                       WORDCOUNT_OUTPUT, &e);
        assert_non_null(papi);
        assert_non_null(dsl);
        ks_config_t *c1 = kst_config("wc-papi");
        ks_config_t *c2 = kst_config("wc-dsl");
        ks_test_driver_t *d1 = ks_test_driver_new(papi, c1, 0, &e);
        ks_test_driver_t *d2 = ks_test_driver_new(dsl, c2, 0, &e);
        assert_non_null(d1);
        assert_non_null(d2);
        unsigned seed = 7;
        int64_t total = 0;
        for (int l = 0; l < LINES; l++) {
                char line[256] = "";
                int n = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 7;
                for (int w = 0; w < n; w++) {
                        seed = seed * 1103515245u + 12345u;
                        strcat(line, w % 3 ? ", " : " ");
                        strcat(line, vocab[(seed >> 16) % 10]);
                }
                for (const char *p = line; *p; p++) /* words here */
                        if (isalnum((unsigned char)*p) &&
                            (p == line || !isalnum((unsigned char)p[-1])))
                                total++;
                KST_OK_E(ks_test_driver_pipe(d1, WORDCOUNT_INPUT, NULL, 0, line,
                                             strlen(line), 10 + l, NULL, &e));
                KST_OK_E(ks_test_driver_pipe(d2, WORDCOUNT_INPUT, NULL, 0, line,
                                             strlen(line), 10 + l, NULL, &e));
        }
        assert_int_equal(ks_test_driver_output_size(d1, WORDCOUNT_OUTPUT),
                         (size_t)total);
        assert_int_equal(ks_test_driver_output_size(d2, WORDCOUNT_OUTPUT),
                         (size_t)total);
        ks_test_record_t *a, *b;
        while ((a = ks_test_driver_read_output(d1, WORDCOUNT_OUTPUT))) {
                b = ks_test_driver_read_output(d2, WORDCOUNT_OUTPUT);
                assert_non_null(b);
                size_t ka, kb, va, vb;
                const void *pka = ks_test_record_key(a, &ka);
                const void *pkb = ks_test_record_key(b, &kb);
                const void *pva = ks_test_record_value(a, &va);
                const void *pvb = ks_test_record_value(b, &vb);
                assert_int_equal(ka, kb);
                assert_memory_equal(pka, pkb, ka);
                assert_int_equal(va, vb);
                assert_memory_equal(pva, pvb, va);
                assert_int_equal(ks_test_record_timestamp(a),
                                 ks_test_record_timestamp(b));
                ks_test_record_destroy(a);
                ks_test_record_destroy(b);
        }
        assert_null(ks_test_driver_read_output(d2, WORDCOUNT_OUTPUT));
        ks_test_driver_destroy(d1);
        ks_test_driver_destroy(d2);
        ks_config_destroy(c1);
        ks_config_destroy(c2);
        ks_topology_destroy(papi);
        ks_topology_destroy(dsl);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_output),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
