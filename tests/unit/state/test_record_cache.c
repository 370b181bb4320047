/* Record caches in front of in-memory store handles: reads through the
 * cache, flush order, LRU eviction against a shared budget, detaching
 * without writing, and listener errors. Entries count key + value + 64
 * bytes against the budget. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ks_test.h"
#include "state/record_cache_int.h"
#include "state/store_int.h"

#define OVERHEAD 64

/* What the listener saw, in order: "key=value@ts" ("key=-@ts": deleted). */
typedef struct {
        ks_kv_store_t *store;
        char seen[64][64];
        size_t seen_cnt;
        void *arg;   /* the argument of the last call */
        int fail_at; /* fail the call with this number (1-based), 0 never */
        int writes;  /* 1: write what is let out to the store */
} listener_t;

static ks_err_t listen(void *opaque, void *arg, const void *key, size_t klen,
                       const void *value, size_t vlen, int64_t ts) {
        listener_t *l = opaque;
        l->arg = arg;
        assert_true(l->seen_cnt < 64);
        snprintf(l->seen[l->seen_cnt++], 64, "%.*s=%.*s@%lld", (int)klen,
                 (const char *)key, value ? (int)vlen : 1,
                 value ? (const char *)value : "-", (long long)ts);
        if (l->fail_at && (int)l->seen_cnt == l->fail_at)
                return KS_ERR_STATE;
        if (!l->writes)
                return KS_ERR_NO_ERROR;
        ks_err_t err =
                value ? ks_kv_store_put(l->store, key, klen, value, vlen)
                      : ks_kv_store_delete(l->store, key, klen, NULL, NULL);
        return err == KS_ERR_NOT_FOUND ? KS_ERR_NO_ERROR : err;
}

static ks_kv_store_t *store_new(ks__cache_budget_t *budget) {
        ks_kv_store_t *s =
                ks__kv_store_new("s", KS_STORE_IN_MEMORY, &ks__memory_store_ops,
                                 ks__memory_store_new(), NULL);
        assert_non_null(s);
        s->cache_budget = budget;
        return s;
}

static void put(ks_kv_store_t *s, const char *k, const char *v, int64_t ts,
                void *arg) {
        KST_OK(ks__record_cache_put(s->cache, k, strlen(k), v,
                                    v ? strlen(v) : 0, ts, arg));
}

/* @p want NULL: no value. Reads through the cache. */
static void expect_get(ks_kv_store_t *s, const char *k, const char *want) {
        const void *v = NULL;
        size_t n = 0;
        ks_err_t err = ks__record_cache_get(s, k, strlen(k), &v, &n);
        if (!want) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(v, want, n);
}

/* The store itself, without the cache. */
static void expect_stored(ks_kv_store_t *s, const char *k, const char *want) {
        const void *v = NULL;
        size_t n = 0;
        ks_err_t err = ks_kv_store_get(s, k, strlen(k), &v, &n);
        if (!want) {
                assert_int_equal(err, KS_ERR_NOT_FOUND);
                return;
        }
        KST_OK(err);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(v, want, n);
}

static void expect_seen(const listener_t *l, const char *const *want,
                        size_t n) {
        assert_int_equal(l->seen_cnt, n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(l->seen[i], want[i]);
}

static void test_no_budget_no_cache(void **state) {
        (void)state;
        listener_t l = {.writes = 1};
        ks__cache_budget_t zero = {.used = 0, .max = 0};
        ks_kv_store_t *none = store_new(NULL), *off = store_new(&zero);
        KST_OK(ks__record_cache_attach(none, listen, &l));
        KST_OK(ks__record_cache_attach(off, listen, &l));
        assert_null(none->cache);
        assert_null(off->cache);
        /* Reads go straight to the store. */
        KST_OK(ks_kv_store_put(none, "a", 1, "1", 1));
        expect_get(none, "a", "1");
        expect_get(none, "b", NULL);
        ks__record_cache_detach(none); /* no cache: no-op */
        ks__kv_store_destroy(none);
        ks__kv_store_destroy(off);
}

static void test_read_through_and_flush(void **state) {
        (void)state;
        ks__cache_budget_t budget = {.used = 0, .max = 1 << 20};
        ks_kv_store_t *s = store_new(&budget);
        listener_t l = {.store = s, .writes = 1};
        KST_OK(ks__record_cache_attach(s, listen, &l));
        assert_non_null(s->cache);
        KST_OK(ks_kv_store_put(s, "old", 3, "stored", 6));
        put(s, "a", "1", 10, NULL);
        put(s, "b", "22", 20, NULL);
        put(s, "a", "333", 30, NULL); /* a is now the newest */
        put(s, "old", NULL, 40, NULL);
        assert_int_equal(budget.used, (1 + 3 + OVERHEAD) + (1 + 2 + OVERHEAD) +
                                              (3 + OVERHEAD));
        /* Reads see the cache; the store is untouched. */
        expect_get(s, "a", "333");
        expect_get(s, "b", "22");
        expect_get(s, "old", NULL);
        expect_get(s, "none", NULL);
        expect_stored(s, "a", NULL);
        expect_stored(s, "old", "stored");
        assert_int_equal(l.seen_cnt, 0);
        /* Flush: oldest write first, each with its last timestamp. */
        int arg;
        KST_OK(ks__record_cache_flush(s->cache, &arg));
        const char *want[] = {"b=22@20", "a=333@30", "old=-@40"};
        expect_seen(&l, want, 3);
        assert_ptr_equal(l.arg, &arg);
        expect_stored(s, "a", "333");
        expect_stored(s, "old", NULL);
        /* The entries stay, clean: a second flush writes nothing. */
        KST_OK(ks__record_cache_flush(s->cache, NULL));
        assert_int_equal(l.seen_cnt, 3);
        expect_get(s, "b", "22");
        ks__record_cache_detach(s);
        assert_null(s->cache);
        assert_int_equal(budget.used, 0);
        ks__kv_store_destroy(s);
}

static void test_eviction_lru(void **state) {
        (void)state;
        /* Room for three entries of one-byte keys and values. */
        ks__cache_budget_t budget = {.used = 0, .max = 3 * (2 + OVERHEAD)};
        ks_kv_store_t *s = store_new(&budget);
        listener_t l = {.store = s, .writes = 1};
        KST_OK(ks__record_cache_attach(s, listen, &l));
        put(s, "a", "1", 1, NULL);
        put(s, "b", "2", 2, NULL);
        put(s, "c", "3", 3, NULL);
        put(s, "a", "4", 4, NULL); /* a moves to the newest */
        assert_int_equal(l.seen_cnt, 0);
        int arg;
        put(s, "d", "5", 5, &arg); /* over budget: b, the oldest, goes */
        const char *want1[] = {"b=2@2"};
        expect_seen(&l, want1, 1);
        assert_ptr_equal(l.arg, &arg);
        expect_stored(s, "b", "2");
        expect_get(s, "b", "2"); /* from the store now */
        assert_int_equal(budget.used, 3 * (2 + OVERHEAD));
        /* A clean entry is dropped without being written again. */
        KST_OK(ks__record_cache_flush(s->cache, NULL));
        const char *want2[] = {"b=2@2", "c=3@3", "a=4@4", "d=5@5"};
        expect_seen(&l, want2, 4);
        put(s, "e", "6", 6, NULL);
        expect_seen(&l, want2, 4);
        /* A value larger than the budget stays: the entry being put is
         * never let out, the others are. */
        put(s, "f",
            "a-long-value-of-more-than-the-whole-budget-"
            "........................................"
            "........................................"
            "........................................",
            7, NULL);
        const char *want3[] = {"b=2@2", "c=3@3", "a=4@4", "d=5@5", "e=6@6"};
        expect_seen(&l, want3, 5);
        expect_get(s, "a", "4");
        assert_true(budget.used > budget.max);
        ks__kv_store_destroy(s); /* closing drops the cache unwritten */
        assert_int_equal(budget.used, 0);
        assert_int_equal(l.seen_cnt, 5);
}

static void test_shared_budget(void **state) {
        (void)state;
        ks__cache_budget_t budget = {.used = 0, .max = 4 * (2 + OVERHEAD)};
        ks_kv_store_t *s1 = store_new(&budget), *s2 = store_new(&budget);
        listener_t l1 = {.store = s1, .writes = 1};
        listener_t l2 = {.store = s2, .writes = 1};
        KST_OK(ks__record_cache_attach(s1, listen, &l1));
        KST_OK(ks__record_cache_attach(s2, listen, &l2));
        put(s1, "a", "1", 1, NULL);
        put(s1, "b", "2", 2, NULL);
        put(s2, "x", "1", 3, NULL);
        put(s2, "y", "2", 4, NULL);
        assert_int_equal(budget.used, 4 * (2 + OVERHEAD));
        /* Over the shared budget: the cache being written lets out its own
         * oldest entry, not the other cache's older ones. */
        put(s2, "z", "3", 5, NULL);
        assert_int_equal(l1.seen_cnt, 0);
        const char *want[] = {"x=1@3"};
        expect_seen(&l2, want, 1);
        /* Detaching one cache returns its bytes to the budget, unwritten. */
        ks__record_cache_detach(s1);
        assert_int_equal(l1.seen_cnt, 0);
        expect_stored(s1, "a", NULL);
        assert_int_equal(budget.used, 2 * (2 + OVERHEAD));
        ks__kv_store_destroy(s1);
        ks__kv_store_destroy(s2);
        assert_int_equal(budget.used, 0);
}

static void test_listener_errors(void **state) {
        (void)state;
        ks__cache_budget_t budget = {.used = 0, .max = 2 * (2 + OVERHEAD)};
        ks_kv_store_t *s = store_new(&budget);
        listener_t l = {.store = s, .fail_at = 1};
        KST_OK(ks__record_cache_attach(s, listen, &l));
        put(s, "a", "1", 1, NULL);
        put(s, "b", "2", 2, NULL);
        /* The eviction's error comes back from the put; the entry is gone. */
        assert_int_equal(
                ks__record_cache_put(s->cache, "c", 1, "3", 1, 3, NULL),
                KS_ERR_STATE);
        expect_get(s, "a", NULL);
        expect_get(s, "c", "3");
        /* A flush stops at the first error; the next one goes on from
         * there. */
        l.fail_at = 2;
        assert_int_equal(ks__record_cache_flush(s->cache, NULL), KS_ERR_STATE);
        const char *want[] = {"a=1@1", "b=2@2"};
        expect_seen(&l, want, 2);
        l.fail_at = 0;
        KST_OK(ks__record_cache_flush(s->cache, NULL));
        const char *want2[] = {"a=1@1", "b=2@2", "c=3@3"};
        expect_seen(&l, want2, 3);
        ks__kv_store_destroy(s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_no_budget_no_cache),
                cmocka_unit_test(test_read_through_and_flush),
                cmocka_unit_test(test_eviction_lru),
                cmocka_unit_test(test_shared_budget),
                cmocka_unit_test(test_listener_errors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
