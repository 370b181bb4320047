/* Error table and error objects. */
#include <string.h>

#include "ks_test.h"
#include "common/error_int.h"

static void test_err2str_covers_table(void **state) {
        assert_string_equal(ks_err2str(KS_ERR_NO_ERROR), "Success");
        assert_string_equal(ks_err_name(KS_ERR_SERDE), "KS_ERR_SERDE");
        assert_string_equal(ks_err_name(KS_ERR_STORE_CLOSED),
                            "KS_ERR_STORE_CLOSED");
        /* Every code of the table has its own name and description. */
#define CHECK(code, name, desc)                                                \
        assert_string_equal(ks_err_name(KS_ERR_##name), "KS_ERR_" #name);      \
        assert_string_equal(ks_err2str(KS_ERR_##name), desc);
        KS_ERR_MAP(CHECK)
#undef CHECK
        assert_string_equal(ks_err2str((ks_err_t)-999), "Unknown error");
        assert_string_equal(ks_err_name((ks_err_t)-999), "KS_ERR_UNKNOWN");
}

static void test_error_object(void **state) {
        ks_error_t *e = NULL;
        assert_int_equal(
                ks__error_setf(&e, KS_ERR_KAFKA,
                               KS_ERROR_F_RETRIABLE | KS_ERROR_F_TXN_ABORT,
                               "broker %d said %s", 3, "no"),
                KS_ERR_KAFKA);
        assert_int_equal(ks_error_code(e), KS_ERR_KAFKA);
        assert_string_equal(ks_error_message(e), "broker 3 said no");
        assert_true(ks_error_is_retriable(e));
        assert_true(ks_error_txn_requires_abort(e));
        assert_false(ks_error_is_fatal(e));
        /* A second error replaces the first without leaking it. */
        ks__error_setf(&e, KS_ERR_FATAL, KS_ERROR_F_FATAL, "fenced");
        assert_true(ks_error_is_fatal(e));
        assert_false(ks_error_is_retriable(e));
        assert_string_equal(ks_error_message(e), "fenced");
        ks_error_destroy(e);
        /* NULL is harmless everywhere. */
        ks_error_destroy(NULL);
        assert_int_equal(ks_error_code(NULL), KS_ERR_NO_ERROR);
        assert_string_equal(ks_error_message(NULL), "");
        assert_int_equal(ks__error_set(NULL, KS_ERR_IO, "x"), KS_ERR_IO);
}

static void test_version(void **state) {
        assert_int_equal(ks_version(), KS_VERSION);
        assert_string_equal(ks_version_str(), KS_VERSION_STRING);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_err2str_covers_table),
                cmocka_unit_test(test_error_object),
                cmocka_unit_test(test_version),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
