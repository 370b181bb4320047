/* Shared test fixtures: temporary state directories, configurations and
 * assertions on error objects. Every test includes this after cmocka. */
#ifndef KS_TEST_H
#define KS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kstreams/kstreams.h"

/** A fresh directory for this process, removed at exit. */
const char *kst_tmpdir(void);

/** A configuration with application.id @p app_id and state.dir in
 *  kst_tmpdir(); logging is captured (see kst_log_contains()). */
ks_config_t *kst_config(const char *app_id);

/** Set a key or fail the test. */
void kst_set(ks_config_t *conf, const char *key, const char *value);

/** Non-zero if a captured log line contains @p needle. */
int kst_log_contains(const char *needle);

/** Forget captured log lines. */
void kst_log_clear(void);

/** Print the captured log to stderr (before failing a test, to say why). */
void kst_log_print(void);

/** Assert that @p err equals @p code, that @p error carries the same code,
 *  and that its message contains every NULL-terminated needle; then destroy
 *  @p error. KST_ASSERT_ERROR evaluates the call first and resets the error
 *  variable. */
void kst_assert_error(ks_err_t err, ks_error_t *error, ks_err_t code, ...);

#define KST_ASSERT_ERROR(call, error, code, ...)                               \
        do {                                                                   \
                ks_err_t kst_r_ = (call); /* before reading error */           \
                kst_assert_error(kst_r_, (error), (code), __VA_ARGS__,         \
                                 (const char *)0);                             \
                (error) = NULL;                                                \
        } while (0)

/** Assert success. */
#define KST_OK(expr)                                                           \
        do {                                                                   \
                ks_err_t kst_r_ = (expr);                                      \
                if (kst_r_)                                                    \
                        fail_msg("%s -> %s", #expr, ks_err_name(kst_r_));      \
        } while (0)

/** Assert success of a call that takes `&e` (a `ks_error_t *e` in scope) as
 *  its error pointer; print the message otherwise. Leaves e NULL. */
#define KST_OK_E(call_with_e)                                                  \
        do {                                                                   \
                e = NULL;                                                      \
                ks_err_t kst_r_ = (call_with_e);                               \
                if (kst_r_)                                                    \
                        fail_msg("%s -> %s: %s", #call_with_e,                 \
                                 ks_err_name(kst_r_), ks_error_message(e));    \
                ks_error_destroy(e);                                           \
                e = NULL;                                                      \
        } while (0)

/** Read one output record and check topic, key, value (as bytes; NULL means
 *  null) and timestamp. */
void kst_expect_output(ks_test_driver_t *drv, const char *topic,
                       const void *key, size_t klen, const void *value,
                       size_t vlen, int64_t ts);

#endif
