/* Window and session stores restored from a changelog holding records that
 * no store wrote (another client's, a corrupted topic's): keys too short
 * or too long for their key length, keys whose segment id does not match
 * their time, sessions that end before they start. The stores must pass
 * over them: never learn observed stream time from them (which would hide
 * or expire the real windows), never hand them to a caller (who could not
 * remove them). Run on both backends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_store.h"

#define RETENTION 1000  /* segments of 60 s */
#define SEG_MS    60000 /* max(retention / 2, 60 s) */
#define WINDOW    100
#define SIGN      ((uint64_t)1 << 63)

typedef struct {
        kst_store_t *st;
        ks_kv_store_t *kv;
        ks_window_store_t *ws;
        ks_session_store_t *ss;
        int session;
} fixture_t;

static void open_store(fixture_t *f) {
        f->kv = kst_store_open(f->st);
        if (f->session)
                f->ss = ks__session_store_new(f->kv, RETENTION);
        else
                f->ws = ks__window_store_new(f->kv, RETENTION, WINDOW, 0);
        assert_true(f->session ? f->ss != NULL : f->ws != NULL);
}

static void close_store(fixture_t *f) {
        if (f->session)
                ks__session_store_destroy(f->ss);
        else
                ks__window_store_destroy(f->ws);
        f->kv = NULL;
        f->ws = NULL;
        f->ss = NULL;
        kst_store_closed(f->st);
}

static int setup(void **state, ks_store_backend_t backend, int session) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->st = kst_store_new(backend, "crafted");
        f->session = session;
        open_store(f);
        *state = f;
        return 0;
}

static int setup_window_rocksdb(void **state) {
        return setup(state, KS_STORE_ROCKSDB, 0);
}
static int setup_window_memory(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, 0);
}
static int setup_session_rocksdb(void **state) {
        return setup(state, KS_STORE_ROCKSDB, 1);
}
static int setup_session_memory(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, 1);
}

static int teardown(void **state) {
        fixture_t *f = *state;
        close_store(f);
        kst_store_destroy(f->st);
        free(f);
        return 0;
}

static void put64(uint8_t *p, uint64_t v) {
        for (int i = 7; i >= 0; i--)
                *p++ = (uint8_t)(v >> (8 * i));
}

/* A stored key written by hand: be64(segment ^ sign) | be32(@p klen_field)
 * | key | be64(time ^ sign) | (sessions) be64(start ^ sign). */
static size_t raw_key(uint8_t *out, int64_t seg, uint32_t klen_field,
                      const char *key, int64_t time, int session,
                      int64_t start) {
        size_t kl = strlen(key), n = 0;
        put64(out, (uint64_t)seg ^ SIGN);
        n += 8;
        for (int i = 3; i >= 0; i--)
                out[n++] = (uint8_t)(klen_field >> (8 * i));
        memcpy(out + n, key, kl);
        n += kl;
        put64(out + n, (uint64_t)time ^ SIGN);
        n += 8;
        if (session) {
                put64(out + n, (uint64_t)start ^ SIGN);
                n += 8;
        }
        return n;
}

/* Reopen the store as a moving task finds it, with @p cnt crafted records
 * restored after what it held (in memory the held entries come back
 * through the restore path too). */
static void reopen_with(fixture_t *f, uint8_t (*keys)[64], const size_t *lens,
                        size_t cnt) {
        kst_entries_t *es = f->st->backend == KS_STORE_IN_MEMORY
                                    ? kst_store_entries(f->kv)
                                    : NULL;
        close_store(f);
        open_store(f);
        if (es)
                kst_store_restore(f->st, f->kv, es);
        for (size_t i = 0; i < cnt; i++)
                kst_store_restore_put(f->kv, keys[i], lens[i], "evil", 4);
        kst_store_restore_end(f->st);
}

static void expect_window(ks_window_store_t *ws, const char *k, int64_t start,
                          const char *v) {
        const void *out;
        size_t n;
        ks_err_t err = ks_window_store_fetch(ws, k, strlen(k), start, &out, &n);
        if (!v) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(v));
        assert_memory_equal(out, v, n);
}

static void expect_window_iter(ks_window_iter_t *it, const char *want) {
        char got[1024] = "";
        const void *k, *v;
        size_t kl, vl;
        int64_t start;
        while (ks_window_iter_next(it, &k, &kl, &start, &v, &vl)) {
                char one[128];
                snprintf(one, sizeof(one), "%s%.*s@%lld=%.*s", *got ? "," : "",
                         (int)kl, (const char *)k, (long long)start, (int)vl,
                         (const char *)v);
                strcat(got, one);
        }
        KST_OK(ks_window_iter_error(it));
        ks_window_iter_destroy(it);
        assert_string_equal(got, want);
}

static void expect_session_iter(ks_session_iter_t *it, const char *want) {
        char got[1024] = "";
        const void *k, *v;
        size_t kl, vl;
        int64_t start, end;
        while (ks_session_iter_next(it, &k, &kl, &start, &end, &v, &vl)) {
                char one[128];
                snprintf(one, sizeof(one), "%s%.*s@[%lld,%lld]=%.*s",
                         *got ? "," : "", (int)kl, (const char *)k,
                         (long long)start, (long long)end, (int)vl,
                         (const char *)v);
                strcat(got, one);
        }
        KST_OK(ks_session_iter_error(it));
        ks_session_iter_destroy(it);
        assert_string_equal(got, want);
}

/* A malformed key (its length field disagrees with its size) in a segment
 * far above the real ones: observed stream time still comes from the real
 * windows, which stay readable and are not overwritten from nothing. */
static void test_window_malformed_key_in_last_segment(void **state) {
        fixture_t *f = *state;
        KST_OK(ks_window_store_put(f->ws, "k", 1, 5000, "v1", 2));
        kst_store_commit(f->st);
        uint8_t keys[2][64];
        size_t lens[2];
        lens[0] = raw_key(keys[0], 1000000, 7, "k", 5000, 0, 0);
        lens[1] = 3; /* too short for anything */
        memcpy(keys[1], "\xff\xff\xff", 3);
        reopen_with(f, keys, lens, 2);
        assert_int_equal(ks_window_store_observed_stream_time(f->ws), 5000);
        expect_window(f->ws, "k", 5000, "v1");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_all(f->ws, &it));
        expect_window_iter(it, "k@5000=v1");
}

/* A well-formed key whose segment id does not match its start: in a
 * segment above the real ones it does not set observed stream time (which
 * would make every real window invisible); in a live segment it is not
 * returned by range reads. */
static void test_window_segment_mismatch(void **state) {
        fixture_t *f = *state;
        KST_OK(ks_window_store_put(f->ws, "k", 1, 120500, "v1", 2));
        kst_store_commit(f->st);
        uint8_t keys[2][64];
        size_t lens[2];
        /* Segment 50, start 100 (segment 0). */
        lens[0] = raw_key(keys[0], 50, 1, "k", 100, 0, 0);
        /* Start 120400 (segment 2) filed under segment 1, which is live
         * (the smallest live start is 119501). */
        lens[1] = raw_key(keys[1], 1, 1, "k", 120400, 0, 0);
        reopen_with(f, keys, lens, 2);
        assert_int_equal(ks_window_store_observed_stream_time(f->ws), 120500);
        expect_window(f->ws, "k", 120500, "v1");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(f->ws, "k", 1, 0, INT64_MAX, &it));
        expect_window_iter(it, "k@120500=v1");
        KST_OK(ks_window_store_all(f->ws, &it));
        expect_window_iter(it, "k@120500=v1");
}

/* A session that ends before it starts is no session: finds never return
 * it (a session aggregation could neither merge nor remove it). */
static void test_session_end_before_start(void **state) {
        fixture_t *f = *state;
        KST_OK(ks_session_store_put(f->ss, "k", 1, 5000, 5100, "v1", 2));
        kst_store_commit(f->st);
        uint8_t keys[1][64];
        size_t lens[1];
        lens[0] = raw_key(keys[0], 0, 1, "k", 5050, 1, 5200);
        reopen_with(f, keys, lens, 1);
        ks_session_iter_t *it;
        KST_OK(ks_session_store_find_sessions(f->ss, "k", 1, 0, 10000, &it));
        expect_session_iter(it, "k@[5000,5100]=v1");
        KST_OK(ks_session_store_fetch(f->ss, "k", 1, &it));
        expect_session_iter(it, "k@[5000,5100]=v1");
}

/* A session filed under a segment that is not its end's: not returned,
 * and not what observed stream time is learnt from. */
static void test_session_segment_mismatch(void **state) {
        fixture_t *f = *state;
        KST_OK(ks_session_store_put(f->ss, "k", 1, 119000, 120500, "v1", 2));
        kst_store_commit(f->st);
        uint8_t keys[2][64];
        size_t lens[2];
        /* End 120000 (segment 2) filed under segment 1, which is live
         * (the smallest live end is 119501). */
        lens[0] = raw_key(keys[0], 1, 1, "k", 120000, 1, 119900);
        lens[1] = raw_key(keys[1], 99, 1, "k", 5200, 1, 5200);
        reopen_with(f, keys, lens, 2);
        assert_int_equal(ks_session_store_observed_stream_time(f->ss), 120500);
        ks_session_iter_t *it;
        KST_OK(ks_session_store_fetch(f->ss, "k", 1, &it));
        expect_session_iter(it, "k@[119000,120500]=v1");
        KST_OK(ks_session_store_find_sessions(f->ss, "k", 1, 119600, 121000,
                                              &it));
        expect_session_iter(it, "k@[119000,120500]=v1");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(
                        test_window_malformed_key_in_last_segment,
                        setup_window_rocksdb, teardown),
                cmocka_unit_test_setup_teardown(
                        test_window_malformed_key_in_last_segment,
                        setup_window_memory, teardown),
                cmocka_unit_test_setup_teardown(test_window_segment_mismatch,
                                                setup_window_rocksdb, teardown),
                cmocka_unit_test_setup_teardown(test_window_segment_mismatch,
                                                setup_window_memory, teardown),
                cmocka_unit_test_setup_teardown(test_session_end_before_start,
                                                setup_session_rocksdb,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_session_end_before_start,
                                                setup_session_memory, teardown),
                cmocka_unit_test_setup_teardown(test_session_segment_mismatch,
                                                setup_session_rocksdb,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_session_segment_mismatch,
                                                setup_session_memory, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
