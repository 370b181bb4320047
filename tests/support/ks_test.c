/* Shared test fixtures (see ks_test.h). */
#define _GNU_SOURCE
#include "ks_test.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];
static char *log_lines; /* guarded by log_lock: the library logs from its
                         * stream threads too */
static size_t log_len;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
        return remove(path);
}

static void cleanup(void) {
        if (tmpdir[0])
                nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        /* A failed test may leave an app's threads logging. */
        pthread_mutex_lock(&log_lock);
        free(log_lines);
        log_lines = NULL;
        log_len = 0;
        pthread_mutex_unlock(&log_lock);
}

const char *kst_tmpdir(void) {
        if (!tmpdir[0]) {
                const char *base = getenv("TMPDIR");
                snprintf(tmpdir, sizeof(tmpdir), "%s/kstreams-test-XXXXXX",
                         base && *base ? base : "/tmp");
                if (!mkdtemp(tmpdir))
                        fail_msg("mkdtemp %s failed", tmpdir);
                atexit(cleanup);
        }
        return tmpdir;
}

static void capture(void *opaque, int level, const char *fac, const char *msg) {
        size_t n = strlen(fac) + strlen(msg) + 4;
        pthread_mutex_lock(&log_lock);
        char *nl = realloc(log_lines, log_len + n + 1);
        if (nl) {
                log_lines = nl;
                log_len += (size_t)snprintf(log_lines + log_len, n + 1,
                                            "%s: %s\n", fac, msg);
        }
        pthread_mutex_unlock(&log_lock);
        if (getenv("KST_VERBOSE"))
                fprintf(stderr, "[%d] %s: %s\n", level, fac, msg);
}

int kst_log_contains(const char *needle) {
        pthread_mutex_lock(&log_lock);
        int found = log_lines && strstr(log_lines, needle) != NULL;
        pthread_mutex_unlock(&log_lock);
        return found;
}

void kst_log_clear(void) {
        pthread_mutex_lock(&log_lock);
        log_len = 0;
        if (log_lines)
                log_lines[0] = 0;
        pthread_mutex_unlock(&log_lock);
}

void kst_log_print(void) {
        pthread_mutex_lock(&log_lock);
        fprintf(stderr, "---- captured library log ----\n%s----\n",
                log_lines ? log_lines : "");
        pthread_mutex_unlock(&log_lock);
}

void kst_set(ks_config_t *conf, const char *key, const char *value) {
        ks_error_t *e = NULL;
        if (ks_config_set(conf, key, value, &e))
                fail_msg("config %s=%s: %s", key, value, ks_error_message(e));
}

ks_config_t *kst_config(const char *app_id) {
        ks_config_t *c = ks_config_new();
        assert_non_null(c);
        kst_set(c, "application.id", app_id);
        kst_set(c, "state.dir", kst_tmpdir());
        ks_config_set_log_cb(c, capture, NULL);
        return c;
}

void kst_assert_error(ks_err_t err, ks_error_t *error, ks_err_t code, ...) {
        if (err != code)
                fail_msg("expected %s, got %s (%s)", ks_err_name(code),
                         ks_err_name(err), ks_error_message(error));
        assert_non_null(error);
        assert_int_equal(ks_error_code(error), code);
        va_list ap;
        va_start(ap, code);
        const char *needle;
        while ((needle = va_arg(ap, const char *))) {
                if (!strstr(ks_error_message(error), needle))
                        fail_msg("message \"%s\" lacks \"%s\"",
                                 ks_error_message(error), needle);
        }
        va_end(ap);
        ks_error_destroy(error);
}

void kst_expect_output(ks_test_driver_t *drv, const char *topic,
                       const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t ts) {
        ks_test_record_t *r = ks_test_driver_read_output(drv, topic);
        if (!r)
                fail_msg("no more output on %s", topic);
        size_t kl, vl;
        const void *k = ks_test_record_key(r, &kl);
        const void *v = ks_test_record_value(r, &vl);
        if (key) {
                assert_non_null(k);
                assert_int_equal(kl, klen);
                assert_memory_equal(k, key, klen);
        } else {
                assert_null(k);
        }
        if (value) {
                assert_non_null(v);
                assert_int_equal(vl, vlen);
                assert_memory_equal(v, value, vlen);
        } else {
                assert_null(v);
        }
        assert_int_equal(ks_test_record_timestamp(r), ts);
        assert_string_equal(ks_test_record_topic(r), topic);
        ks_test_record_destroy(r);
}
