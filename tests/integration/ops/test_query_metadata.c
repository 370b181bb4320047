/* Key metadata on the real broker (the mock cluster has no
 * DescribeConsumerGroups): three instances of a word count, each with its
 * own application.server; for every word, every instance names the same
 * owner and partition (the partition also computed here with Kafka's
 * murmur2), exactly the owner says it is local, and the owner answers
 * ks_app_query_kv with the independent count while the others answer
 * KS_ERR_STORE_MIGRATED; a short host buffer gets the address cut, and the
 * same answer to whether the key is local. Without application.server the
 * call is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#define PARTITIONS 3
#define VOCAB      30
#define INSTANCES  3

/* Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), written
 * out here as the independent computation of a key's partition. */
static int32_t murmur2(const void *data, size_t len) {
        const uint8_t *d = data;
        const uint32_t m = 0x5bd1e995u;
        uint32_t h = 0x9747b28cu ^ (uint32_t)len;
        size_t i = 0;
        for (; i + 4 <= len; i += 4) {
                uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 |
                             (uint32_t)d[i + 2] << 16 |
                             (uint32_t)d[i + 3] << 24;
                k *= m;
                k ^= k >> 24;
                k *= m;
                h *= m;
                h ^= k;
        }
        switch (len - i) {
        case 3:
                h ^= (uint32_t)d[i + 2] << 16;
                /* fall through */
        case 2:
                h ^= (uint32_t)d[i + 1] << 8;
                /* fall through */
        case 1:
                h ^= d[i];
                h *= m;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return (int32_t)h;
}

typedef struct {
        kst_wc_t *f;
        ks_app_t *apps[INSTANCES];
        char servers[INSTANCES][32];
        char why[512];
} fix_t;

/* Every word's metadata agrees everywhere and names the instance that
 * answers its count. */
static int metadata_consistent(void *opaque) {
        fix_t *x = opaque;
        kst_wc_t *f = x->f;
        for (int i = 0; i < f->vocab; i++) {
                const char *w = f->words[i];
                int32_t want_p =
                        (murmur2(w, strlen(w)) & 0x7fffffff) % PARTITIONS;
                int owner = -1;
                for (int a = 0; a < INSTANCES; a++) {
                        char host[64];
                        int32_t p = -2;
                        int local = -1;
                        ks_error_t *e = NULL;
                        ks_err_t err = ks_app_query_metadata_for_key(
                                x->apps[a], WORDCOUNT_STORE, w, strlen(w), host,
                                sizeof(host), &p, &local, &e);
                        if (err) {
                                snprintf(x->why, sizeof(x->why),
                                         "instance %d, %s: %s", a, w,
                                         ks_error_message(e));
                                ks_error_destroy(e);
                                if (err != KS_ERR_NOT_FOUND)
                                        fail_msg("%s", x->why);
                                return 0;
                        }
                        assert_int_equal(p, want_p);
                        /* A short buffer gets a cut address, never
                         * another answer to "is it here". */
                        char small[10];
                        int local_small = -1;
                        if (ks_app_query_metadata_for_key(
                                    x->apps[a], WORDCOUNT_STORE, w, strlen(w),
                                    small, sizeof(small), NULL, &local_small,
                                    NULL)) {
                                /* The owners changed in between: again. */
                                snprintf(x->why, sizeof(x->why),
                                         "instance %d, %s: owners changed", a,
                                         w);
                                return 0;
                        }
                        if (local_small != local ||
                            strncmp(small, host, sizeof(small) - 1)) {
                                snprintf(x->why, sizeof(x->why),
                                         "%s: %s (local %d) with a short "
                                         "buffer, %s (local %d) with a long "
                                         "one",
                                         w, small, local_small, host, local);
                                return 0;
                        }
                        int o = -1;
                        for (int k = 0; k < INSTANCES; k++)
                                if (!strcmp(host, x->servers[k]))
                                        o = k;
                        if (o < 0)
                                fail_msg("%s: owner %s is no instance", w,
                                         host);
                        if (owner >= 0 && o != owner) {
                                snprintf(x->why, sizeof(x->why),
                                         "%s: instances disagree", w);
                                return 0;
                        }
                        owner = o;
                        if (local != (o == a)) {
                                snprintf(x->why, sizeof(x->why),
                                         "%s: instance %d says local %d", w, a,
                                         local);
                                return 0;
                        }
                }
                for (int a = 0; a < INSTANCES; a++) {
                        void *v = NULL;
                        size_t vl = 0;
                        ks_error_t *e = NULL;
                        ks_err_t err =
                                ks_app_query_kv(x->apps[a], WORDCOUNT_STORE, w,
                                                strlen(w), &v, &vl, NULL, &e);
                        int64_t n = 0;
                        if (!err && v)
                                KST_OK(ks_int64_decode(v, vl, &n, NULL));
                        free(v);
                        int ok = a == owner ? !err && n == f->expect[i]
                                            : err == KS_ERR_STORE_MIGRATED;
                        if (!ok)
                                snprintf(x->why, sizeof(x->why),
                                         "%s: instance %d (owner %d): %s, "
                                         "count %lld of %lld",
                                         w, a, owner,
                                         err ? ks_error_message(e) : "ok",
                                         (long long)n, (long long)f->expect[i]);
                        ks_error_destroy(e);
                        if (!ok)
                                return 0;
                }
        }
        return 1;
}

static void test_three_instances(void **state) {
        fix_t *x = calloc(1, sizeof(*x));
        assert_non_null(x);
        kst_wc_t *f = x->f =
                kst_wc_fixture(NULL, 1, "iqm", PARTITIONS, VOCAB, 31337);
        kst_wc_produce(f, 200, 6, KST_WC_MIXED);
        for (int a = 0; a < INSTANCES; a++) {
                char *dir;
                if (asprintf(&dir, "%s/instance-%d", kst_tmpdir(), a) < 0)
                        fail();
                snprintf(x->servers[a], sizeof(x->servers[a]), "127.0.0.1:%d",
                         7101 + a);
                ks_config_t *c = kst_app_config(
                        f->broker, f->app_id,
                        (const char *const[]){
                                "state.dir", dir, "commit.interval.ms", "100",
                                "application.server", x->servers[a], NULL});
                ks_error_t *e = NULL;
                ks_topology_t *t = wordcount_topology_on(
                        f->in, f->words_topic, f->out, KS_STORE_ROCKSDB, &e);
                x->apps[a] = kst_app_start(t, c, NULL, NULL);
                ks_topology_destroy(t);
                ks_config_destroy(c);
                free(dir);
        }
        kst_wc_wait_counts(f, x->apps[0], 120000);
        if (!kst_wait_for(x->apps[0], 120000, 200, metadata_consistent, x))
                fail_msg("metadata never consistent: %s", x->why);
        for (int a = INSTANCES - 1; a >= 0; a--) {
                KST_OK(ks_app_close(x->apps[a], 60000));
                ks_app_destroy(x->apps[a]);
        }
        kst_wc_destroy(f);
        free(x);
        (void)state;
}

/* Without application.server nobody is told where this instance is. */
static void test_no_server(void **state) {
        kst_wc_t *f = kst_wc_fixture(NULL, 1, "iqn", PARTITIONS, VOCAB, 7);
        char *dir;
        if (asprintf(&dir, "%s/no-server", kst_tmpdir()) < 0)
                fail();
        ks_config_t *c =
                kst_app_config(f->broker, f->app_id,
                               (const char *const[]){"state.dir", dir, NULL});
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        char host[64];
        KST_ASSERT_ERROR(ks_app_query_metadata_for_key(
                                 app, WORDCOUNT_STORE, "w01", 3, host,
                                 sizeof(host), NULL, NULL, &e),
                         e, KS_ERR_STATE, "application.server");
        KST_ASSERT_ERROR(ks_app_query_metadata_for_key(app, "nope", "w01", 3,
                                                       host, sizeof(host), NULL,
                                                       NULL, &e),
                         e, KS_ERR_NOT_FOUND, "nope");
        KST_OK(ks_app_close(app, 60000));
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        free(dir);
        kst_wc_destroy(f);
        (void)state;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_instances),
                cmocka_unit_test(test_no_server),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
