/* The word-count example under the test driver, on both store backends:
 * every output record is checked against a running count computed here,
 * independently of the topology. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "wordcount_topology.h"

typedef struct {
        char word[32];
        int64_t n;
} ref_t;

static ref_t refs[256];
static size_t ref_cnt;

static int64_t ref_bump(const char *w) {
        for (size_t i = 0; i < ref_cnt; i++)
                if (!strcmp(refs[i].word, w))
                        return ++refs[i].n;
        snprintf(refs[ref_cnt].word, sizeof(refs[0].word), "%s", w);
        refs[ref_cnt].n = 1;
        return refs[ref_cnt++].n;
}

static void run(ks_store_backend_t backend) {
        static const char *lines[] = {
                "Hello world",
                "hello, HELLO; hello!",
                "",
                "   ",
                "the quick brown fox",
                "The lazy dog -- the end",
                "x1 x2 x1 X1",
                "naïve café", /* non-ASCII bytes split words */
        };
        ks_error_t *e = NULL;
        ref_cnt = 0;
        ks_topology_t *t = wordcount_topology(backend, &e);
        assert_non_null(t);
        ks_config_t *c = kst_config("wordcount-test");
        ks_test_driver_t *d = ks_test_driver_new(t, c, 0, &e);
        assert_non_null(d);
        int64_t ts = 1000;
        size_t checked = 0;
        for (int round = 0; round < 3; round++) {
                for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
                        const char *line = lines[i];
                        KST_OK_E(ks_test_driver_pipe(d, WORDCOUNT_INPUT, NULL,
                                                     0, line, strlen(line), ts,
                                                     NULL, &e));
                        /* Expected outputs: the words in order, with running
                         * counts, all stamped with the line's timestamp. */
                        const char *p = line;
                        for (;;) {
                                while (*p && !isalnum((unsigned char)*p))
                                        p++;
                                if (!*p)
                                        break;
                                char w[32];
                                size_t wl = 0;
                                while (isalnum((unsigned char)*p))
                                        w[wl++] = (char)tolower(
                                                (unsigned char)*p++);
                                w[wl] = 0;
                                uint8_t v[8];
                                ks_int64_encode(ref_bump(w), v);
                                kst_expect_output(d, WORDCOUNT_OUTPUT, w, wl, v,
                                                  8, ts);
                                checked++;
                        }
                        assert_int_equal(
                                ks_test_driver_output_size(d, WORDCOUNT_OUTPUT),
                                0);
                        ts += 10;
                }
        }
        assert_int_equal(checked, 3 * 21); /* 2+3+0+0+4+5+4+3 words a round */
        /* The store holds the final counts. */
        ks_kv_store_t *s;
        KST_OK(ks_test_driver_get_kv_store(d, WORDCOUNT_STORE, &s));
        uint64_t n;
        KST_OK(ks_kv_store_approximate_num_entries(s, &n));
        if (backend == KS_STORE_IN_MEMORY)
                assert_int_equal(n, ref_cnt);
        for (size_t i = 0; i < ref_cnt; i++) {
                const void *v;
                size_t vl;
                int64_t got;
                KST_OK(ks_kv_store_get(s, refs[i].word, strlen(refs[i].word),
                                       &v, &vl));
                KST_OK(ks_int64_decode(v, vl, &got, NULL));
                assert_int_equal(got, refs[i].n);
        }
        assert_int_equal(ks_test_driver_get_kv_store(d, "nope", &s),
                         KS_ERR_NOT_FOUND);
        ks_test_driver_destroy(d);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

static void test_wordcount_rocksdb(void **state) {
        run(KS_STORE_ROCKSDB);
}
static void test_wordcount_in_memory(void **state) {
        run(KS_STORE_IN_MEMORY);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wordcount_rocksdb),
                cmocka_unit_test(test_wordcount_in_memory),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
