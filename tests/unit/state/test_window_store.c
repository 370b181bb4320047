/* Window store behaviour, run identically against the RocksDB and the
 * in-memory backend, with fetches checked against a reference model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kst_store.h"

#define RETENTION      1000 /* segments of 60 s */
#define WINDOW         100
#define SEG_MS         60000
#define LONG_RETENTION 250000 /* segments of 125 s */

typedef struct {
        kst_store_t *st;
        ks_kv_store_t *kv;
        ks_window_store_t *ws;
        int64_t retention;
        int dups; /* KS_STORE_F_RETAIN_DUPLICATES */
} fixture_t;

static void open_store(fixture_t *f) {
        f->kv = kst_store_open(f->st);
        /* The window store owns the key-value handle from here on. */
        f->ws = ks__window_store_new(f->kv, f->retention, WINDOW, f->dups);
        assert_non_null(f->ws);
        assert_ptr_equal(ks__window_store_kv(f->ws), f->kv);
}

static void close_store(fixture_t *f) {
        ks__window_store_destroy(f->ws);
        f->kv = NULL;
        f->ws = NULL;
        kst_store_closed(f->st);
}

/* Open the store again as a task moving back would find it: RocksDB keeps
 * what was committed; in memory, what the store held comes back through
 * the restore path (as from its changelog). */
static void reopen(fixture_t *f) {
        kst_entries_t *es = f->st->backend == KS_STORE_IN_MEMORY
                                    ? kst_store_entries(f->kv)
                                    : NULL;
        close_store(f);
        open_store(f);
        if (es)
                kst_store_restore(f->st, f->kv, es);
}

static int setup(void **state, ks_store_backend_t backend, int64_t retention,
                 int dups) {
        fixture_t *f = calloc(1, sizeof(*f));
        f->st = kst_store_new(backend, "w");
        f->retention = retention;
        f->dups = dups;
        open_store(f);
        *state = f;
        return 0;
}

static int setup_rocksdb(void **state) {
        return setup(state, KS_STORE_ROCKSDB, RETENTION, 0);
}
static int setup_memory(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, RETENTION, 0);
}
static int setup_rocksdb_dups(void **state) {
        return setup(state, KS_STORE_ROCKSDB, RETENTION, 1);
}
static int setup_memory_dups(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, RETENTION, 1);
}

static int setup_rocksdb_long(void **state) {
        return setup(state, KS_STORE_ROCKSDB, LONG_RETENTION, 0);
}
static int setup_memory_long(void **state) {
        return setup(state, KS_STORE_IN_MEMORY, LONG_RETENTION, 0);
}

static int teardown(void **state) {
        fixture_t *f = *state;
        close_store(f);
        kst_store_destroy(f->st);
        free(f);
        return 0;
}

static void commit(fixture_t *f) {
        kst_store_commit(f->st);
}

static void put_s(ks_window_store_t *ws, const char *k, int64_t start,
                  const char *v) {
        KST_OK(ks_window_store_put(ws, k, strlen(k), start, v,
                                   v ? strlen(v) : 0));
}

static void expect_fetch(ks_window_store_t *ws, const char *k, int64_t start,
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

/* Render an iterator as "key@start=value,..." to compare with a string. */
static void expect_iter(ks_window_iter_t *it, const char *want) {
        char got[4096] = "";
        const void *k, *v;
        size_t kl, vl;
        int64_t start;
        while (ks_window_iter_next(it, &k, &kl, &start, &v, &vl)) {
                char one[256];
                snprintf(one, sizeof(one), "%s%.*s@%lld=%.*s", *got ? "," : "",
                         (int)kl, (const char *)k, (long long)start, (int)vl,
                         (const char *)v);
                strcat(got, one);
        }
        assert_int_equal(ks_window_iter_error(it), KS_ERR_NO_ERROR);
        ks_window_iter_destroy(it);
        assert_string_equal(got, want);
}

static void test_put_fetch_delete(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        assert_string_equal(ks_window_store_name(ws), "w");
        assert_int_equal(ks_window_store_retention_ms(ws), RETENTION);
        put_s(ws, "ab", 100, "1");
        put_s(ws, "ab", 200, "2");
        put_s(ws, "abc", 100, "3"); /* extends "ab": must not mix with it */
        put_s(ws, "", 150, "empty-key");
        put_s(ws, "ab", -100, "neg"); /* negative starts sort first */
        commit(f);
        expect_fetch(ws, "ab", 100, "1");
        expect_fetch(ws, "ab", 200, "2");
        expect_fetch(ws, "ab", -100, "neg");
        expect_fetch(ws, "abc", 100, "3");
        expect_fetch(ws, "abc", 200, NULL);
        expect_fetch(ws, "", 150, "empty-key");
        put_s(ws, "ab", 100, "1b"); /* overwrite */
        expect_fetch(ws, "ab", 100, "1b");
        put_s(ws, "ab", 200, NULL); /* delete */
        expect_fetch(ws, "ab", 200, NULL);
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, -1000, 1000, &it));
        expect_iter(it, "ab@-100=neg,ab@100=1b");
        KST_OK(ks_window_store_backward_fetch_range(ws, "ab", 2, -1000, 1000,
                                                    &it));
        expect_iter(it, "ab@100=1b,ab@-100=neg");
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, 0, 99, &it));
        expect_iter(it, "");
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, 500, 0, &it));
        expect_iter(it, "");
        KST_OK(ks_window_store_all(ws, &it));
        /* By segment (-100 is in the one before 0's), key, start. */
        expect_iter(it, "ab@-100=neg,@150=empty-key,ab@100=1b,abc@100=3");
        /* Bad arguments. */
        assert_int_equal(ks_window_store_put(NULL, "a", 1, 0, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_window_store_put(ws, NULL, 1, 0, "v", 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_window_store_put(ws, "a", 1, 0, NULL, 1),
                         KS_ERR_INVALID_ARG);
        assert_int_equal(ks_window_store_fetch_range(ws, "a", 1, 0, 1, NULL),
                         KS_ERR_INVALID_ARG);
}

/* Count what the backing key-value store physically holds. */
static size_t physical_count(fixture_t *f) {
        return kst_store_physical(f->st, f->kv);
}

static void test_retention(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        put_s(ws, "k", 0, "a");
        put_s(ws, "k", 500, "b");
        put_s(ws, "j", 900, "c");
        expect_fetch(ws, "k", 0, "a");
        /* Observed stream time 1000: windows at or before 0 expire. */
        put_s(ws, "j", 1000, "d");
        expect_fetch(ws, "k", 0, NULL);
        expect_fetch(ws, "k", 500, "b");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "k", 1, INT64_MIN, INT64_MAX,
                                           &it));
        expect_iter(it, "k@500=b");
        /* A put into an expired window is dropped, logged and counted. */
        kst_log_clear();
        put_s(ws, "k", -5, "late");
        assert_true(kst_log_contains("dropping a put for the window "
                                     "starting at -5, expired"));
        assert_int_equal(ks__window_store_expired_puts(ws), 1);
        expect_fetch(ws, "k", -5, NULL);
        put_s(ws, "k", 1, "live"); /* 1 > 1000 - 1000: still live */
        expect_fetch(ws, "k", 1, "live");
        /* Expired windows are reclaimed once the horizon crosses a segment
         * (60 s here): advance far and only live windows remain. */
        put_s(ws, "z", 200000, "far");
        commit(f);
        KST_OK(ks_window_store_all(ws, &it));
        expect_iter(it, "z@200000=far");
        assert_int_equal(physical_count(f), 1);
}

static void test_reopen_learns_stream_time(void **state) {
        fixture_t *f = *state;
        put_s(f->ws, "k", 5000, "x");
        put_s(f->ws, "k", 4500, "y");
        commit(f);
        reopen(f);
        /* Observed stream time 5000 comes back from the stored windows. */
        put_s(f->ws, "k", 3000, "old");
        expect_fetch(f->ws, "k", 3000, NULL);
        assert_int_equal(ks__window_store_expired_puts(f->ws), 1);
        expect_fetch(f->ws, "k", 4500, "y");
}

/* Random puts and deletes against a model of (key, start) -> value, with
 * the model applying the same retention rule independently. */
#define NKEYS   5
#define NSTARTS 40
static void test_matches_reference_model(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        static const char *keys[NKEYS] = {"a", "aa", "b", "ba", "c"};
        int model[NKEYS][NSTARTS]; /* value or -1 */
        memset(model, -1, sizeof(model));
        int64_t observed = INT64_MIN;
        unsigned seed = 7;
        for (int step = 0; step < 3000; step++) {
                seed = seed * 1103515245u + 12345u;
                int ki = (int)((seed >> 8) % NKEYS);
                int si = (int)((seed >> 16) % NSTARTS);
                int64_t start = (int64_t)si * 50; /* 0 .. 1950 */
                int del = (seed >> 28) % 5 == 0;
                int val = step;
                char vbuf[16];
                snprintf(vbuf, sizeof(vbuf), "%d", val);
                KST_OK(ks_window_store_put(ws, keys[ki], strlen(keys[ki]),
                                           start, del ? NULL : vbuf,
                                           del ? 0 : strlen(vbuf)));
                int expired =
                        observed != INT64_MIN && start <= observed - RETENTION;
                if (!expired) {
                        model[ki][si] = del ? -1 : val;
                        if (!del && start > observed)
                                observed = start;
                }
                if (step % 300 == 0)
                        commit(f);
        }
        commit(f);
        for (int ki = 0; ki < NKEYS; ki++) {
                char want[4096] = "";
                for (int si = 0; si < NSTARTS; si++) {
                        int64_t start = (int64_t)si * 50;
                        if (model[ki][si] < 0 || start <= observed - RETENTION)
                                continue;
                        char one[64];
                        snprintf(one, sizeof(one), "%s%s@%lld=%d",
                                 *want ? "," : "", keys[ki], (long long)start,
                                 model[ki][si]);
                        strcat(want, one);
                }
                ks_window_iter_t *it;
                KST_OK(ks_window_store_fetch_range(
                        ws, keys[ki], strlen(keys[ki]), 0, 100000, &it));
                expect_iter(it, want);
        }
}

/* Windows at both ends of time, put one by one; after each put, every
 * window put so far is fetched and the whole store iterated, and checked
 * against a model that computes expiry in 128 bits: a window is readable
 * while its start > observed - retention, where the observed stream time
 * is the largest start put. Retention arithmetic must neither overflow
 * (UBSan) nor clamp a window into expiry or out of it. */
#define EDGE_PUTS 16
typedef struct {
        const char *key;
        int64_t start;
} edge_put_t;

/* The order of ks_window_store_all() between puts i and j: segment of the
 * start (segments of 60 s, floored), key, start. */
static int order(int i, int j, const edge_put_t *p) {
        __int128 si = p[i].start, sj = p[j].start;
        si = (si - (si < 0 ? 59999 : 0)) / 60000;
        sj = (sj - (sj < 0 ? 59999 : 0)) / 60000;
        if (si != sj)
                return si < sj ? -1 : 1;
        int c = strcmp(p[i].key, p[j].key);
        if (c)
                return c;
        return p[i].start < p[j].start ? -1 : p[i].start > p[j].start;
}

static void test_extremes_of_time(void **state) {
        fixture_t *f = *state;
        static const edge_put_t puts[EDGE_PUTS] = {
                {"a", INT64_MIN},
                {"b", INT64_MIN + 1},
                {"a", INT64_MIN + RETENTION - 1},
                {"b", INT64_MIN + RETENTION},     /* a@INT64_MIN expires */
                {"a", INT64_MIN},                 /* dropped: expired */
                {"a", INT64_MIN + RETENTION + 1}, /* b@INT64_MIN+1 expires */
                {"b", -1},                        /* all above expire */
                {"a", 0},
                {"b", -RETENTION}, /* dropped: expired */
                {"b", INT64_MAX - RETENTION - 1},
                {"a", INT64_MAX - RETENTION},
                {"b", INT64_MAX - 1},
                {"a", INT64_MAX}, /* ...-1-RETENTION and ...-RETENTION go */
                {"b", INT64_MAX - RETENTION}, /* dropped: expired */
                {"b", INT64_MAX - RETENTION + 1},
                {"a", INT64_MAX}, /* overwrite */
        };
        char vals[EDGE_PUTS][8];
        int live[EDGE_PUTS] = {0}; /* put i holds its window's value */
        int over[EDGE_PUTS] = {0}; /* put i was overwritten by a later one */
        int have_observed = 0;
        int64_t observed = 0;
        uint64_t dropped = 0;
        for (int i = 0; i < EDGE_PUTS; i++) {
                snprintf(vals[i], sizeof(vals[i]), "v%d", i);
                __int128 horizon = (__int128)observed - RETENTION;
                int expired = have_observed && puts[i].start <= horizon;
                put_s(f->ws, puts[i].key, puts[i].start, vals[i]);
                if (expired) {
                        dropped++;
                } else {
                        for (int j = 0; j < i; j++)
                                if (!strcmp(puts[j].key, puts[i].key) &&
                                    puts[j].start == puts[i].start)
                                        live[j] = 0, over[j] = 1;
                        live[i] = 1;
                        if (!have_observed || puts[i].start > observed)
                                observed = puts[i].start;
                        have_observed = 1;
                }
                assert_int_equal(ks__window_store_expired_puts(f->ws), dropped);
                if (i % 5 == 4)
                        commit(f);
                /* Every window put so far, readable or not. */
                horizon = (__int128)observed - RETENTION;
                char want[1024] = "";
                for (int j = 0; j <= i; j++) {
                        int readable = live[j] && puts[j].start > horizon;
                        if (!over[j])
                                expect_fetch(f->ws, puts[j].key, puts[j].start,
                                             readable ? vals[j] : NULL);
                }
                /* The store by segment (60 s of starts), then key ("a" <
                 * "b"), then start: repeatedly the smallest readable
                 * window above the last one in that order. */
                int last = -1;
                for (int n = 0; n <= i; n++) {
                        int best = -1;
                        for (int j = 0; j <= i; j++)
                                if (live[j] && puts[j].start > horizon &&
                                    (last < 0 || order(j, last, puts) > 0) &&
                                    (best < 0 || order(j, best, puts) < 0))
                                        best = j;
                        if (best < 0)
                                break;
                        char one[64];
                        snprintf(one, sizeof(one), "%s%s@%lld=%s",
                                 *want ? "," : "", puts[best].key,
                                 (long long)puts[best].start, vals[best]);
                        strcat(want, one);
                        last = best;
                }
                ks_window_iter_t *it;
                KST_OK(ks_window_store_all(f->ws, &it));
                expect_iter(it, want);
                KST_OK(ks_window_store_fetch_range(f->ws, "a", 1, INT64_MIN,
                                                   INT64_MAX, &it));
                char want_a[1024] = "";
                for (char *p = want, *end; *p; p = end + (*end ? 1 : 0)) {
                        end = strchr(p, ',');
                        if (!end)
                                end = p + strlen(p);
                        if (*p == 'a')
                                snprintf(want_a + strlen(want_a),
                                         sizeof(want_a) - strlen(want_a),
                                         "%s%.*s", *want_a ? "," : "",
                                         (int)(end - p), p);
                }
                expect_iter(it, want_a);
        }
        /* What stays: a@INT64_MAX (overwritten) and
         * b@INT64_MAX-RETENTION+1, b@INT64_MAX-1. */
        commit(f);
        ks_window_iter_t *it;
        KST_OK(ks_window_store_all(f->ws, &it));
        char want[256];
        snprintf(want, sizeof(want), "a@%lld=v15,b@%lld=v14,b@%lld=v11",
                 (long long)INT64_MAX, (long long)(INT64_MAX - RETENTION + 1),
                 (long long)(INT64_MAX - 1));
        expect_iter(it, want);
        assert_int_equal(ks__window_store_expired_puts(f->ws), 3);
        KST_OK(ks_window_store_fetch_all_range(f->ws, INT64_MIN, INT64_MAX,
                                               &it));
        expect_iter(it, want);
        KST_OK(ks_window_store_backward_fetch_range(f->ws, "b", 1, INT64_MIN,
                                                    INT64_MAX, &it));
        snprintf(want, sizeof(want), "b@%lld=v11,b@%lld=v14",
                 (long long)(INT64_MAX - 1),
                 (long long)(INT64_MAX - RETENTION + 1));
        expect_iter(it, want);
        assert_int_equal(ks__window_store_observed(f->ws), INT64_MAX);
        /* Reopened, the store learns observed stream time INT64_MAX from
         * the stored windows and expires the same. */
        reopen(f);
        assert_int_equal(ks__window_store_observed(f->ws), INT64_MAX);
        KST_OK(ks_window_store_all(f->ws, &it));
        snprintf(want, sizeof(want), "a@%lld=v15,b@%lld=v14,b@%lld=v11",
                 (long long)INT64_MAX, (long long)(INT64_MAX - RETENTION + 1),
                 (long long)(INT64_MAX - 1));
        expect_iter(it, want);
        put_s(f->ws, "c", INT64_MAX - RETENTION, "late");
        expect_fetch(f->ws, "c", INT64_MAX - RETENTION, NULL);
        assert_int_equal(ks__window_store_expired_puts(f->ws), 1);
}

/* floor(t / SEG_MS), for the model. */
static int64_t seg_of(int64_t t) {
        return t / SEG_MS - (t % SEG_MS < 0);
}

/* Windows put at increasing starts (every 10 s, three keys) against a
 * model of which are physically stored: a segment goes, with one range
 * delete and no delete of any key, as soon as the smallest live start
 * (observed - retention + 1) is past its end; the store then holds only the
 * windows of live segments, and reads return only live windows. */
static void test_segment_drops(void **state) {
        fixture_t *f = *state;
        static const char *keys[] = {"a", "bb", "c"};
        enum { STEPS = 60 };
        int present[STEPS] = {0}; /* step i's windows are stored */
        unsigned drops = 0;
        for (int i = 0; i < STEPS; i++) {
                int64_t start = (int64_t)i * 10000;
                for (int k = 0; k < 3; k++)
                        put_s(f->ws, keys[k], start, keys[k]);
                present[i] = 1;
                commit(f);
                int64_t live = seg_of(start - RETENTION + 1);
                int dropped = 0;
                for (int j = 0; j <= i; j++)
                        if (present[j] && seg_of((int64_t)j * 10000) < live)
                                present[j] = 0, dropped = 1;
                drops += dropped;
                size_t want = 0;
                for (int j = 0; j <= i; j++)
                        want += present[j] ? 3 : 0;
                assert_int_equal(physical_count(f), want);
                assert_int_equal(f->st->range_deletes, drops);
                assert_int_equal(f->st->key_deletes, 0);
        }
        assert_int_equal(drops, 9); /* segments 0..8 */
        /* Only the last start is live; stored or not, no other is read. */
        for (int j = 0; j < STEPS; j++)
                expect_fetch(f->ws, "bb", (int64_t)j * 10000,
                             j == STEPS - 1 ? "bb" : NULL);
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(f->ws, "a", 1, INT64_MIN, INT64_MAX,
                                           &it));
        expect_iter(it, "a@590000=a");
        KST_OK(ks_window_store_all(f->ws, &it));
        /* Keys by length, then bytes. */
        expect_iter(it, "a@590000=a,c@590000=c,bb@590000=bb");
        KST_OK(ks_window_store_fetch_all_range(f->ws, 0, 589999, &it));
        expect_iter(it, "");
}

/* RocksDB: a drop is staged with the task's writes. At the commit it
 * removes the puts staged before it inside the range; a task closing
 * without a commit loses it with them. */
static void test_staged_drop(void **state) {
        fixture_t *f = *state;
        if (f->st->backend != KS_STORE_ROCKSDB)
                return;
        put_s(f->ws, "k", 9500, "a");
        put_s(f->ws, "k", 10000, "b");
        commit(f);
        put_s(f->ws, "j", 9600, "staged");
        put_s(f->ws, "k", 200000, "far"); /* drops segments 0 to 2 */
        assert_int_equal(f->st->range_deletes, 1);
        close_store(f); /* no commit */
        open_store(f);
        assert_int_equal(physical_count(f), 2);
        expect_fetch(f->ws, "k", 9500, "a");
        expect_fetch(f->ws, "k", 10000, "b");
        expect_fetch(f->ws, "j", 9600, NULL);
        assert_int_equal(ks__window_store_observed(f->ws), 10000);
        put_s(f->ws, "j", 9600, "staged");
        put_s(f->ws, "k", 200000, "far");
        commit(f);
        assert_int_equal(physical_count(f), 1);
        expect_fetch(f->ws, "k", 200000, "far");
}

/* The stored key of (key, start) for a store of segments of SEG_MS,
 * written here from the layout's description. */
static size_t raw_key(uint8_t *out, const char *key, int64_t start) {
        uint64_t seg = (uint64_t)seg_of(start) ^ ((uint64_t)1 << 63);
        uint64_t st = (uint64_t)start ^ ((uint64_t)1 << 63);
        size_t kl = strlen(key), n = 0;
        for (int i = 7; i >= 0; i--)
                out[n++] = (uint8_t)(seg >> (8 * i));
        for (int i = 3; i >= 0; i--)
                out[n++] = (uint8_t)((uint64_t)kl >> (8 * i));
        memcpy(out + n, key, kl);
        n += kl;
        for (int i = 7; i >= 0; i--)
                out[n++] = (uint8_t)(st >> (8 * i));
        return n;
}

/* A restore brings back windows of segments that have expired since: the
 * first use learns observed stream time from the largest segment (its
 * largest start is not its last key: keys order before starts) and drops
 * the expired segments with one range delete. */
static void test_restore_drops_expired(void **state) {
        fixture_t *f = *state;
        static const struct {
                const char *key;
                int64_t start;
        } restored[] = {
                {"a", 0},      {"b", 30000},  /* segment 0 */
                {"a", 70000},                 /* segment 1 */
                {"a", 130000}, {"b", 120000}, /* segment 2 */
        };
        for (size_t i = 0; i < sizeof(restored) / sizeof(restored[0]); i++) {
                uint8_t k[64];
                size_t kl = raw_key(k, restored[i].key, restored[i].start);
                kst_store_restore_put(f->kv, k, kl, "v", 1);
        }
        kst_store_restore_end(f->st);
        assert_int_equal(ks__window_store_observed(f->ws), 130000);
        assert_int_equal(f->st->range_deletes, 1);
        commit(f);
        assert_int_equal(physical_count(f), 2);
        expect_fetch(f->ws, "a", 130000, "v");
        expect_fetch(f->ws, "b", 120000, NULL); /* stored, expired */
        expect_fetch(f->ws, "a", 70000, NULL);
        put_s(f->ws, "c", 130000 - RETENTION, "late");
        assert_int_equal(ks__window_store_expired_puts(f->ws), 1);
        put_s(f->ws, "c", 130000 - RETENTION + 1, "live");
        expect_fetch(f->ws, "c", 130000 - RETENTION + 1, "live");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_all(f->ws, &it));
        expect_iter(it, "a@130000=v,c@129001=live");
}

/* KS_STORE_F_RETAIN_DUPLICATES: every put kept, in put order within a
 * start; NULL puts ignored; a reopened (or restored) store goes on after
 * the sequence numbers it holds, overwriting none. */
static void test_retain_duplicates(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        put_s(ws, "a", 100, "v1");
        put_s(ws, "a", 100, "v2");
        put_s(ws, "a", 200, "w1");
        put_s(ws, "a", 100, "v3");
        put_s(ws, "b", 100, "x1");
        put_s(ws, "ab", 100, "y1");
        put_s(ws, "a", 100, NULL); /* ignored */
        assert_int_equal(f->st->key_deletes, 0);
        expect_fetch(ws, "a", 100, "v1");
        expect_fetch(ws, "a", 300, NULL);
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "a", 1, 0, 1000, &it));
        expect_iter(it, "a@100=v1,a@100=v2,a@100=v3,a@200=w1");
        KST_OK(ks_window_store_backward_fetch_range(ws, "a", 1, 0, 1000, &it));
        expect_iter(it, "a@200=w1,a@100=v3,a@100=v2,a@100=v1");
        KST_OK(ks_window_store_fetch_range(ws, "a", 1, 150, 1000, &it));
        expect_iter(it, "a@200=w1");
        KST_OK(ks_window_store_all(ws, &it));
        expect_iter(it, "a@100=v1,a@100=v2,a@100=v3,a@200=w1,b@100=x1,"
                        "ab@100=y1");
        commit(f);
        reopen(f);
        ws = f->ws;
        put_s(ws, "a", 100, "v4");
        put_s(ws, "ab", 100, "y2");
        KST_OK(ks_window_store_fetch_range(ws, "a", 1, 0, 1000, &it));
        expect_iter(it, "a@100=v1,a@100=v2,a@100=v3,a@100=v4,a@200=w1");
        KST_OK(ks_window_store_fetch_range(ws, "ab", 2, 0, 1000, &it));
        expect_iter(it, "ab@100=y1,ab@100=y2");
        commit(f);
        assert_int_equal(physical_count(f), 8);
        /* Expiry and segment drops work alike. */
        put_s(ws, "a", 100000, "z");
        put_s(ws, "a", 100, "late");
        assert_int_equal(ks__window_store_expired_puts(ws), 1);
        commit(f);
        assert_int_equal(physical_count(f), 1);
        KST_OK(ks_window_store_all(ws, &it));
        expect_iter(it, "a@100000=z");
}

/* Random puts and deletes over a long retention (segments of 125 s, so a
 * read spans several), time moving forward with stragglers, against a
 * model: every read (per key forward and backward, every key by time,
 * everything) and what is physically stored, checked after each round. */
#define LONG_SEG 125000
#define MKEYS    4
#define MPUTS    1500
typedef struct {
        int key;
        int64_t start;
        int value; /* -1: deleted */
} mwin_t;
static const char *mkeys[MKEYS] = {"a", "b", "aa", "ba"}; /* store order */
static mwin_t mwins[MPUTS];
static size_t mcnt;

static int64_t lseg(int64_t t) {
        return t / LONG_SEG - (t % LONG_SEG < 0);
}

/* ks_window_store_all()'s order: segment, key (length, bytes), start. */
static int mcmp(const void *a, const void *b) {
        const mwin_t *x = a, *y = b;
        if (lseg(x->start) != lseg(y->start))
                return lseg(x->start) < lseg(y->start) ? -1 : 1;
        if (x->key != y->key)
                return x->key - y->key;
        return (x->start > y->start) - (x->start < y->start);
}

/* Check @p it yields exactly the live model windows of @p key (-1: any)
 * with start in [from, to], in store order (reversed with @p rev). */
static void expect_model(ks_window_iter_t *it, int key, int64_t from,
                         int64_t to, int64_t min_live, int rev) {
        mwin_t sel[MPUTS];
        size_t n = 0;
        for (size_t i = 0; i < mcnt; i++)
                if (mwins[i].value >= 0 && mwins[i].start >= min_live &&
                    mwins[i].start >= from && mwins[i].start <= to &&
                    (key < 0 || mwins[i].key == key))
                        sel[n++] = mwins[i];
        qsort(sel, n, sizeof(sel[0]), mcmp);
        const void *k, *v;
        size_t kl, vl;
        int64_t start;
        for (size_t i = 0; i < n; i++) {
                const mwin_t *w = &sel[rev ? n - 1 - i : i];
                assert_true(ks_window_iter_next(it, &k, &kl, &start, &v, &vl));
                char want[16];
                snprintf(want, sizeof(want), "%d", w->value);
                assert_int_equal(kl, strlen(mkeys[w->key]));
                assert_memory_equal(k, mkeys[w->key], kl);
                assert_int_equal(start, w->start);
                assert_int_equal(vl, strlen(want));
                assert_memory_equal(v, want, vl);
        }
        assert_false(ks_window_iter_next(it, &k, &kl, &start, &v, &vl));
        KST_OK(ks_window_iter_error(it));
        ks_window_iter_destroy(it);
}

static uint64_t rnd(uint64_t *s) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        return *s >> 33;
}

static void test_segments_model(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        mcnt = 0;
        int64_t observed = INT64_MIN, base = -300000;
        uint64_t expired = 0;
        unsigned deletes = 0, drops = 0;
        int64_t lowest = INT64_MAX; /* smallest stored segment */
        uint64_t seed = 11;
        for (int step = 0; step < MPUTS; step++) {
                int key = (int)(rnd(&seed) % MKEYS);
                base += (int64_t)(rnd(&seed) % 3000);
                /* Mostly live, some behind the retention (expired). */
                int64_t start = base - (int64_t)(rnd(&seed) % 320000);
                int del = rnd(&seed) % 6 == 0;
                char v[16];
                snprintf(v, sizeof(v), "%d", step);
                put_s(ws, mkeys[key], start, del ? NULL : v);
                int64_t min_live = observed == INT64_MIN
                                           ? INT64_MIN
                                           : observed - LONG_RETENTION + 1;
                if (start < min_live) {
                        expired++;
                } else {
                        size_t i = 0;
                        while (i < mcnt && !(mwins[i].key == key &&
                                             mwins[i].start == start))
                                i++;
                        if (i == mcnt && !del)
                                mwins[mcnt++] = (mwin_t){key, start, step};
                        else if (i < mcnt)
                                mwins[i].value = del ? -1 : step;
                        deletes += del;
                        if (!del && lseg(start) < lowest)
                                lowest = lseg(start);
                        if (!del && start > observed) {
                                observed = start;
                                int64_t live =
                                        lseg(observed - LONG_RETENTION + 1);
                                if (lowest < live) {
                                        drops++;
                                        lowest = live;
                                        /* Physically gone. */
                                        size_t w = 0;
                                        for (size_t j = 0; j < mcnt; j++)
                                                if (lseg(mwins[j].start) >=
                                                    live)
                                                        mwins[w++] = mwins[j];
                                        mcnt = w;
                                }
                        }
                }
                if (step % 100 != 99)
                        continue;
                commit(f);
                int64_t ml = observed - LONG_RETENTION + 1;
                size_t stored = 0;
                for (size_t j = 0; j < mcnt; j++)
                        stored += mwins[j].value >= 0;
                assert_int_equal(physical_count(f), stored);
                assert_int_equal(ks__window_store_expired_puts(ws), expired);
                assert_int_equal(f->st->key_deletes, deletes);
                assert_int_equal(f->st->range_deletes, drops);
                assert_int_equal(ks__window_store_observed(ws), observed);
                ks_window_iter_t *it;
                int64_t from = base - (int64_t)(rnd(&seed) % 300000);
                int64_t to = from + (int64_t)(rnd(&seed) % 200000);
                for (int k = 0; k < MKEYS; k++) {
                        const char *kk = mkeys[k];
                        KST_OK(ks_window_store_fetch_range(ws, kk, strlen(kk),
                                                           from, to, &it));
                        expect_model(it, k, from, to, ml, 0);
                        KST_OK(ks_window_store_backward_fetch_range(
                                ws, kk, strlen(kk), from, to, &it));
                        expect_model(it, k, from, to, ml, 1);
                        KST_OK(ks_window_store_backward_fetch_range(
                                ws, kk, strlen(kk), INT64_MIN, INT64_MAX, &it));
                        expect_model(it, k, INT64_MIN, INT64_MAX, ml, 1);
                }
                KST_OK(ks_window_store_fetch_all_range(ws, from, to, &it));
                expect_model(it, -1, from, to, ml, 0);
                KST_OK(ks_window_store_all(ws, &it));
                expect_model(it, -1, INT64_MIN, INT64_MAX, ml, 0);
        }
        assert_true(drops > 5);
        assert_true(expired > 10);
}

static void test_closed_store(void **state) {
        fixture_t *f = *state;
        ks_window_store_t *ws = f->ws;
        put_s(ws, "a", 10, "1");
        put_s(ws, "a", 20, "2");
        ks_window_iter_t *it;
        KST_OK(ks_window_store_fetch_range(ws, "a", 1, 0, 100, &it));
        assert_int_equal(ks_window_iter_next(it, NULL, NULL, NULL, NULL, NULL),
                         1);
        ks__kv_store_close(f->kv);
        assert_int_equal(ks_window_iter_next(it, NULL, NULL, NULL, NULL, NULL),
                         0);
        assert_int_equal(ks_window_iter_error(it), KS_ERR_STORE_CLOSED);
        ks_window_iter_destroy(it);
        const void *v;
        size_t vl;
        assert_int_equal(ks_window_store_put(ws, "a", 1, 30, "3", 1),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_window_store_fetch(ws, "a", 1, 10, &v, &vl),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_window_store_fetch_range(ws, "a", 1, 0, 9, &it),
                         KS_ERR_STORE_CLOSED);
        assert_int_equal(ks_window_store_all(ws, &it), KS_ERR_STORE_CLOSED);
}

#define BOTH(fn)                                                               \
        cmocka_unit_test_setup_teardown(fn, setup_rocksdb, teardown),          \
                cmocka_unit_test_setup_teardown(fn, setup_memory, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                BOTH(test_put_fetch_delete),
                BOTH(test_retention),
                BOTH(test_reopen_learns_stream_time),
                BOTH(test_matches_reference_model),
                BOTH(test_extremes_of_time),
                BOTH(test_closed_store),
                BOTH(test_segment_drops),
                BOTH(test_staged_drop),
                BOTH(test_restore_drops_expired),
                cmocka_unit_test_setup_teardown(test_retain_duplicates,
                                                setup_rocksdb_dups, teardown),
                cmocka_unit_test_setup_teardown(test_retain_duplicates,
                                                setup_memory_dups, teardown),
                cmocka_unit_test_setup_teardown(test_segments_model,
                                                setup_rocksdb_long, teardown),
                cmocka_unit_test_setup_teardown(test_segments_model,
                                                setup_memory_long, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
