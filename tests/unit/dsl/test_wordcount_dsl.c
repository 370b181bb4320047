/* The DSL word count against the Processor API one under the test driver.
 * With the record cache off (statestore.cache.max.bytes 0) the same lines
 * give the same output records, in the same order. With it on, the driver
 * commits after each line, so a word repeated in a line goes out once,
 * with its count after the line: one record per distinct word of each
 * line, and the same final counts. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "wordcount_topology.h"

#define LINES 400

static const char *vocab[] = {"Kafka", "stream", "TABLE", "join", "x1",
                              "count", "state",  "store", "a",    "x2"};

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
        kst_set(c2, "statestore.cache.max.bytes", "0");
        ks_test_driver_t *d1 = ks_test_driver_new(papi, c1, 0, &e);
        ks_test_driver_t *d2 = ks_test_driver_new(dsl, c2, 0, &e);
        assert_non_null(d1);
        assert_non_null(d2);
        /* The cached one: another application (a topology serves one). */
        ks_topology_t *dsl3 = wordcount_dsl_topology_on(WORDCOUNT_INPUT,
                                                        WORDCOUNT_OUTPUT, &e);
        ks_config_t *c3 = kst_config("wc-dsl-cached");
        ks_test_driver_t *d3 = ks_test_driver_new(dsl3, c3, 0, &e);
        assert_non_null(d3);
        int64_t counts[10] = {0};
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
                int seen[10] = {0};
                for (int w = 0; w < 10; w++) /* words as the topology */
                        for (const char *p = line; (p = strstr(p, vocab[w]));
                             p++)
                                if ((p == line ||
                                     !isalnum((unsigned char)p[-1])) &&
                                    !isalnum(
                                            (unsigned char)p[strlen(vocab[w])]))
                                        seen[w]++, counts[w]++;
                KST_OK_E(ks_test_driver_pipe(d1, WORDCOUNT_INPUT, NULL, 0, line,
                                             strlen(line), 10 + l, NULL, &e));
                KST_OK_E(ks_test_driver_pipe(d2, WORDCOUNT_INPUT, NULL, 0, line,
                                             strlen(line), 10 + l, NULL, &e));
                KST_OK_E(ks_test_driver_pipe(d3, WORDCOUNT_INPUT, NULL, 0, line,
                                             strlen(line), 10 + l, NULL, &e));
                /* Cached: one record per distinct word, in the order the
                 * words were first written in the line. */
                size_t got = ks_test_driver_output_size(d3, WORDCOUNT_OUTPUT);
                size_t distinct = 0;
                for (int w = 0; w < 10; w++)
                        distinct += seen[w] > 0;
                assert_int_equal(got, distinct);
                ks_test_record_t *r;
                while ((r = ks_test_driver_read_output(d3, WORDCOUNT_OUTPUT))) {
                        size_t kl, vl;
                        const char *k = ks_test_record_key(r, &kl);
                        const void *v = ks_test_record_value(r, &vl);
                        int64_t cnt;
                        KST_OK(ks_int64_decode(v, vl, &cnt, NULL));
                        int found = 0;
                        for (int w = 0; w < 10; w++) {
                                char lw[16];
                                size_t j = 0;
                                for (; vocab[w][j]; j++)
                                        lw[j] = (char)tolower(
                                                (unsigned char)vocab[w][j]);
                                if (kl == j && !memcmp(k, lw, kl)) {
                                        found = 1;
                                        assert_true(seen[w] > 0);
                                        assert_int_equal(cnt, counts[w]);
                                }
                        }
                        assert_true(found);
                        assert_int_equal(ks_test_record_timestamp(r), 10 + l);
                        ks_test_record_destroy(r);
                }
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
        ks_test_driver_destroy(d3);
        ks_config_destroy(c1);
        ks_config_destroy(c2);
        ks_config_destroy(c3);
        ks_topology_destroy(dsl3);
        ks_topology_destroy(papi);
        ks_topology_destroy(dsl);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_same_output),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
