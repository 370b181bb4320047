/* The commit metadata codec: what a committed offset carries is bounded,
 * round-trips exactly, and anything else (another application's, another
 * task's, malformed, oversized) is refused whole. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"

#include "coord/commit_meta_int.h"

#define TAG 0x1234abcdu

static void test_round_trip(void **state) {
        int64_t pos[5] = {0, -1, 42, INT64_MAX, 7};
        char buf[KS_COMMIT_META_MAX];
        size_t len =
                ks__commit_meta_encode(buf, sizeof(buf), TAG, 3, 17, pos, 5);
        assert_true(len > 0);
        assert_string_equal(buf, "ks2;1234abcd;3_17;0=0;2=42;3="
                                 "9223372036854775807;4=7");
        int64_t out[5];
        assert_int_equal(ks__commit_meta_decode(buf, len, TAG, 3, 17, out, 5),
                         0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(out[i], pos[i]);
        /* No stores: just the header. */
        len = ks__commit_meta_encode(buf, sizeof(buf), TAG, 0, 0, NULL, 0);
        assert_int_equal(ks__commit_meta_decode(buf, len, TAG, 0, 0, out, 0),
                         0);
}

/* The worst case of the largest topology the application accepts fits,
 * whatever the partitions: the size depends on the store count only. */
static void test_bound(void **state) {
        size_t n = 0;
        while (ks__commit_meta_max(n + 1) <= KS_COMMIT_META_MAX)
                n++;
        assert_true(n >= 40);
        int64_t *pos = malloc(n * sizeof(*pos));
        for (size_t i = 0; i < n; i++)
                pos[i] = INT64_MAX;
        char buf[KS_COMMIT_META_MAX];
        size_t len = ks__commit_meta_encode(buf, sizeof(buf), 0xffffffffu,
                                            INT32_MAX, INT32_MAX, pos, n);
        assert_true(len > 0 && len < ks__commit_meta_max(n));
        int64_t *out = malloc(n * sizeof(*out));
        assert_int_equal(ks__commit_meta_decode(buf, len, 0xffffffffu,
                                                INT32_MAX, INT32_MAX, out, n),
                         0);
        assert_memory_equal(out, pos, n * sizeof(*out));
        /* A buffer too small is refused, not overrun. */
        char small[40];
        memset(small, 'x', sizeof(small));
        assert_int_equal(ks__commit_meta_encode(small, 30, TAG, 1, 1, pos, n),
                         0);
        assert_int_equal(small[35], 'x');
        free(pos);
        free(out);
}

static void expect_refused(const char *m, size_t n) {
        int64_t out[4] = {5, 5, 5, 5};
        if (ks__commit_meta_decode(m, strlen(m), TAG, 1, 2, out, n) != -1)
                fail_msg("accepted: \"%s\"", m);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(out[i], -1);
}

static void test_refused(void **state) {
        expect_refused("", 4);
        expect_refused("ks1;c0=5;h1.2=3.4", 4);        /* the old format */
        expect_refused("ks2;1234abce;1_2;0=5", 4);     /* another app */
        expect_refused("ks2;1234abcd;1_3;0=5", 4);     /* another task */
        expect_refused("ks2;1234abcd;2_2;0=5", 4);     /* another sub */
        expect_refused("ks2;1234abcd;1_2;4=5", 4);     /* no such store */
        expect_refused("ks2;1234abcd;1_2;0=5;0=6", 4); /* twice */
        expect_refused("ks2;1234abcd;1_2;0=-5", 4);    /* negative */
        expect_refused("ks2;1234abcd;1_2;0=05", 4);    /* leading zero */
        expect_refused("ks2;1234abcd;1_2;0=9223372036854775808", 4);
        expect_refused("ks2;1234abcd;1_2;00=5", 4);
        expect_refused("ks2;1234abcd;1_2;0=5;", 4); /* trailing */
        expect_refused("ks2;1234abcd;1_2;0=", 4);   /* truncated */
        expect_refused("ks2;1234abcd;1_2;0", 4);
        expect_refused("ks2;1234abcd;1_2;x=1", 4);
        expect_refused("ks2;1234abcd;1_2 ;0=1", 4);
        expect_refused("ks2;1234ABCD;1_2;0=1", 4);
        expect_refused("ks2;1234abcd;1_2;99999999999999999999=1", 4);
        expect_refused("ks2;1234abcd;1_2;1=1\n", 4);
        /* Over the bound, even if well formed. */
        char *big = malloc(KS_COMMIT_META_MAX + 64);
        int w = snprintf(big, KS_COMMIT_META_MAX + 64, "ks2;1234abcd;1_2;0=1");
        while ((size_t)w < KS_COMMIT_META_MAX + 8)
                big[w++] = '0';
        big[w] = '\0';
        expect_refused(big, 4);
        free(big);
}

/* Random bytes and random mutations of a valid text: never a crash (ASan
 * checks the reads), and an accepted one decodes to in-range positions. */
static void test_random(void **state) {
        uint64_t x = 88172645463325252ULL;
        char base[128];
        int64_t pos[4] = {1, 22, 333, 4444};
        size_t blen =
                ks__commit_meta_encode(base, sizeof(base), TAG, 1, 2, pos, 4);
        for (int round = 0; round < 200000; round++) {
                char buf[160];
                size_t len;
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                if (round % 2) {
                        len = (size_t)(x % sizeof(buf));
                        for (size_t i = 0; i < len; i++) {
                                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                                buf[i] = (char)x;
                        }
                } else {
                        memcpy(buf, base, blen);
                        len = blen;
                        buf[x % len] = (char)(x >> 16);
                        if ((x >> 40) % 3 == 0)
                                len = (size_t)((x >> 8) % (len + 1));
                }
                int64_t out[4];
                char *heap = malloc(len ? len : 1); /* exact size: ASan */
                memcpy(heap, buf, len);
                if (!ks__commit_meta_decode(heap, len, TAG, 1, 2, out, 4))
                        for (int i = 0; i < 4; i++)
                                assert_true(out[i] >= -1);
                free(heap);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_bound),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_random),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
