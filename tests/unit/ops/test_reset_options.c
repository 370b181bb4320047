/* kstreams-reset's command line, with no broker: every option and its
 * value checked, unknown options and bad values refused naming the
 * option; dates and durations parsed exactly (dates against the C
 * library's timegm()); which topic names are an application's internal
 * topics; client properties from a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ks_test.h"

#include "reset_int.h"

#define MAXARGS 32

/* Parse the NULL-terminated arguments after the program name. */
static int parse(ks__reset_opts_t *o, char *err, const char *first, ...) {
        char *argv[MAXARGS] = {"kstreams-reset"};
        int argc = 1;
        va_list ap;
        va_start(ap, first);
        for (const char *a = first; a && argc < MAXARGS;
             a = va_arg(ap, const char *))
                argv[argc++] = (char *)a;
        va_end(ap);
        err[0] = '\0';
        return ks__reset_opts_parse(argc, argv, o, err, KS_RESET_ERR_MAX);
}

/* The parse fails with a message containing @p needle. */
#define REFUSED(needle, ...)                                                   \
        do {                                                                   \
                ks__reset_opts_t o_;                                           \
                char e_[KS_RESET_ERR_MAX];                                     \
                assert_int_equal(parse(&o_, e_, __VA_ARGS__, NULL), -1);       \
                if (!strstr(e_, needle))                                       \
                        fail_msg("\"%s\" does not say \"%s\"", e_, needle);    \
                ks__reset_opts_clear(&o_);                                     \
        } while (0)

#define BASE "--application-id", "app", "--bootstrap-servers", "b:9092"

static void test_defaults_and_lists(void **state) {
        ks__reset_opts_t o;
        char err[KS_RESET_ERR_MAX];
        assert_int_equal(parse(&o, err, BASE, NULL), 0);
        assert_string_equal(o.app_id, "app");
        assert_string_equal(o.bootstrap, "b:9092");
        assert_int_equal(o.point, KS_RESET_TO_EARLIEST);
        assert_int_equal(o.timeout_ms, 30000);
        assert_int_equal(o.input.cnt, 0);
        assert_false(o.internal_given || o.local || o.dry_run);
        ks__reset_opts_clear(&o);

        assert_int_equal(
                parse(&o, err, BASE, "--input-topics", "a,b",
                      "--input-topics=c,a", "--intermediate-topics", "m",
                      "--internal-topics", "app-s-changelog,app-x-repartition",
                      "--to-offset", "42", "--local", "--state-dir=/tmp/s",
                      "--dry-run", "--timeout-ms", "5000", "--config-file",
                      "f.properties", NULL),
                0);
        assert_int_equal(o.input.cnt, 3); /* "a" once */
        assert_string_equal(o.input.v[0], "a");
        assert_string_equal(o.input.v[1], "b");
        assert_string_equal(o.input.v[2], "c");
        assert_int_equal(o.intermediate.cnt, 1);
        assert_int_equal(o.internal.cnt, 2);
        assert_true(o.internal_given);
        assert_int_equal(o.point, KS_RESET_TO_OFFSET);
        assert_int_equal(o.offset, 42);
        assert_true(o.local && o.dry_run);
        assert_string_equal(o.state_dir, "/tmp/s");
        assert_int_equal(o.timeout_ms, 5000);
        assert_string_equal(o.config_file, "f.properties");
        ks__reset_opts_clear(&o);

        /* An empty --internal-topics: delete none. */
        assert_int_equal(parse(&o, err, BASE, "--internal-topics=", NULL), 0);
        assert_true(o.internal_given);
        assert_int_equal(o.internal.cnt, 0);
        ks__reset_opts_clear(&o);

        assert_int_equal(parse(&o, err, BASE, "--to-datetime",
                               "2026-12-01T10:00:00.000Z", NULL),
                         0);
        assert_int_equal(o.point, KS_RESET_TO_DATETIME);
        assert_int_equal(o.ts_ms, 1796119200000LL);
        ks__reset_opts_clear(&o);
        assert_int_equal(parse(&o, err, BASE, "--by-duration", "PT1H30M", NULL),
                         0);
        assert_int_equal(o.point, KS_RESET_BY_DURATION);
        assert_int_equal(o.duration_ms, 5400000);
        ks__reset_opts_clear(&o);
        assert_int_equal(parse(&o, err, BASE, "--to-latest", NULL), 0);
        assert_int_equal(o.point, KS_RESET_TO_LATEST);
        ks__reset_opts_clear(&o);

        assert_int_equal(parse(&o, err, "--help", NULL), 1);
        ks__reset_opts_clear(&o);
}

static void test_refused(void **state) {
        REFUSED("unknown option \"--bogus\"", BASE, "--bogus");
        REFUSED("unknown option \"stray\"", BASE, "stray");
        REFUSED("--application-id is required", "--bootstrap-servers", "b");
        REFUSED("--bootstrap-servers is required", "--application-id", "a");
        REFUSED("--application-id: \"a/b\"", "--application-id", "a/b",
                "--bootstrap-servers", "b");
        REFUSED("--application-id: \"..\"", "--application-id", "..",
                "--bootstrap-servers", "b");
        REFUSED("--bootstrap-servers needs a value", "--application-id", "a",
                "--bootstrap-servers");
        /* A forgotten value is not taken from the next option. */
        REFUSED("--input-topics needs a value", BASE, "--input-topics",
                "--to-latest");
        REFUSED("--dry-run takes no value", BASE, "--dry-run=yes");
        REFUSED("--input-topics: \"a,,b\": an empty", BASE, "--input-topics",
                "a,,b");
        REFUSED("--input-topics: \"a,\": an empty", BASE, "--input-topics",
                "a,");
        REFUSED("--intermediate-topics: \"b c\" is not a valid", BASE,
                "--intermediate-topics", "a,b c");
        REFUSED("--to-latest and --to-earliest", BASE, "--to-latest",
                "--to-earliest");
        REFUSED("--to-earliest and --to-offset", BASE, "--to-earliest",
                "--to-offset", "3");
        REFUSED("--to-offset: \"-1\"", BASE, "--to-offset=-1");
        REFUSED("--to-offset: \"12x\"", BASE, "--to-offset", "12x");
        REFUSED("--to-datetime: \"2026-02-29T00:00:00Z\"", BASE,
                "--to-datetime", "2026-02-29T00:00:00Z");
        REFUSED("--by-duration: \"1h\"", BASE, "--by-duration", "1h");
        REFUSED("--timeout-ms: \"10\"", BASE, "--timeout-ms", "10");
        REFUSED("--local needs --state-dir", BASE, "--local");
        REFUSED("--state-dir is only used with --local", BASE, "--state-dir",
                "/tmp/x");
        REFUSED("--force: removing active members", BASE, "--force");
        REFUSED("\"t\" is in both", BASE, "--input-topics", "t",
                "--intermediate-topics", "t");
        /* Never a topic not named as an internal topic of the app. */
        REFUSED("--internal-topics: \"other-s-changelog\" is not named", BASE,
                "--internal-topics", "other-s-changelog");
        REFUSED("--internal-topics: \"app-changelog\" is not named", BASE,
                "--internal-topics", "app-changelog");
        REFUSED("\"app-s-changelog\" is also an input", BASE, "--input-topics",
                "app-s-changelog", "--internal-topics", "app-s-changelog");
}

static void test_datetime(void **state) {
        int64_t ms;
        assert_int_equal(ks__reset_parse_datetime("1970-01-01T00:00:00Z", &ms),
                         0);
        assert_int_equal(ms, 0);
        assert_int_equal(
                ks__reset_parse_datetime("2026-12-01T10:00:00.000Z", &ms), 0);
        assert_int_equal(ms, 1796119200000LL);
        /* No zone is UTC; fractions of 1..3 digits are milliseconds. */
        assert_int_equal(ks__reset_parse_datetime("2026-12-01T10:00:00.5", &ms),
                         0);
        assert_int_equal(ms, 1796119200500LL);
        assert_int_equal(
                ks__reset_parse_datetime("2026-12-01T10:00:00.05", &ms), 0);
        assert_int_equal(ms, 1796119200050LL);
        /* Zones: the same instant three ways. */
        assert_int_equal(
                ks__reset_parse_datetime("2026-12-01T12:30:00+02:30", &ms), 0);
        assert_int_equal(ms, 1796119200000LL);
        assert_int_equal(
                ks__reset_parse_datetime("2026-12-01T05:00:00-0500", &ms), 0);
        assert_int_equal(ms, 1796119200000LL);
        assert_int_equal(
                ks__reset_parse_datetime("2024-02-29T23:59:59.999Z", &ms), 0);
        assert_int_equal(ms, 1709251199999LL);

        const char *bad[] = {
                "",
                "2026-12-01",
                "2026-12-01 10:00:00Z",
                "2026-12-01T10:00Z",
                "2026-12-01T10:00:00.Z",
                "2026-12-01T10:00:00.1234Z",
                "2026-12-01T10:00:00ZZ",
                "2026-12-01T10:00:00+2",
                "2026-12-01T10:00:00+02:",
                "2026-12-01T10:00:00+24:00",
                "2026-12-01T24:00:00Z",
                "2026-12-01T10:60:00Z",
                "2026-12-01T10:00:60Z",
                "2026-00-01T10:00:00Z",
                "2026-04-31T10:00:00Z",
                "2100-02-29T10:00:00Z",
                "1969-12-31T23:59:59Z",
                "1970-01-01T00:30:00+01:00",
                "+2026-12-01T10:00:00Z",
                "2026-12-01T10:00:00Z ",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (!ks__reset_parse_datetime(bad[i], &ms))
                        fail_msg("\"%s\" was taken as %lld", bad[i],
                                 (long long)ms);

        /* Random instants against timegm(). */
        srand(20261201);
        for (int i = 0; i < 5000; i++) {
                struct tm tm = {0};
                tm.tm_year = 70 + rand() % 300;
                tm.tm_mon = rand() % 12;
                tm.tm_mday = 1 + rand() % 28;
                tm.tm_hour = rand() % 24;
                tm.tm_min = rand() % 60;
                tm.tm_sec = rand() % 60;
                int msec = rand() % 1000;
                time_t t = timegm(&tm);
                char s[64];
                snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03d",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
                assert_int_equal(ks__reset_parse_datetime(s, &ms), 0);
                assert_int_equal(ms, (int64_t)t * 1000 + msec);
        }
}

static void test_duration(void **state) {
        static const struct {
                const char *s;
                int64_t ms;
        } good[] = {
                {"PT1H", 3600000},
                {"PT0S", 0},
                {"P1D", 86400000},
                {"P2DT30M", 2 * 86400000LL + 30 * 60000},
                {"P1DT2H3M4S", 86400000LL + 2 * 3600000 + 3 * 60000 + 4000},
                {"PT90S", 90000},
                {"PT0.5S", 500},
                {"PT1.25S", 1250},
                {"PT1M0.001S", 60001},
                {"P999999999D", 999999999LL * 86400000},
        };
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                int64_t ms = -1;
                if (ks__reset_parse_duration(good[i].s, &ms))
                        fail_msg("\"%s\" refused", good[i].s);
                assert_int_equal(ms, good[i].ms);
        }
        const char *bad[] = {"",
                             "P",
                             "PT",
                             "1H",
                             "PT1",
                             "PT1X",
                             "PT1M1H",
                             "PT1H1H",
                             "P1H",
                             "PT1D",
                             "-PT1H",
                             "PT-1H",
                             "P1DT",
                             "PT1.S",
                             "PT1.5M",
                             "PT1.2345S",
                             "P1000000000D",
                             "pt1h",
                             "PT1H ",
                             "P1D2D"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int64_t ms;
                if (!ks__reset_parse_duration(bad[i], &ms))
                        fail_msg("\"%s\" was taken as %lld", bad[i],
                                 (long long)ms);
        }
}

static void test_internal_names(void **state) {
        static const struct {
                const char *topic;
                int internal;
        } cases[] = {
                {"app-counts-changelog", 1},
                {"app-KSTREAM-ORIGIN-MARKS-1-changelog", 1},
                {"app-words-repartition", 1},
                {"app-j-left-repartition", 1},
                {"app-fk-subscription-registration", 1},
                {"app-fk-subscription-response", 1},
                {"app-changelog", 0},  /* no name */
                {"app--changelog", 0}, /* an empty name */
                {"app-counts", 0},     /* a user topic of the app's prefix */
                {"app-counts-changelog2", 0},
                {"apple-counts-changelog", 0},
                {"other-counts-changelog", 0},
                {"app", 0},
                {"app-", 0},
                {"counts-changelog", 0},
                {"app-x-subscription", 0},
                {"app-bad name-changelog", 0},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                if (ks__reset_is_internal("app", cases[i].topic) !=
                    cases[i].internal)
                        fail_msg("%s: internal is %d", cases[i].topic,
                                 !cases[i].internal);
        assert_false(ks__reset_is_internal("", "-x-changelog"));
}

/* Properties from a file: comments, spaces, and errors naming the line
 * and the key. */
static void test_config_file(void **state) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/client.properties", kst_tmpdir());
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs("# security\n! also a comment\n\n  client.id = my-reset \n"
              "socket.timeout.ms=12345\r\n",
              f);
        fclose(f);
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        char err[KS_RESET_ERR_MAX] = "", v[64];
        size_t vl = sizeof(v);
        assert_int_equal(ks__reset_load_props(c, path, err, sizeof(err)), 0);
        assert_int_equal(rd_kafka_conf_get(c, "client.id", v, &vl),
                         RD_KAFKA_CONF_OK);
        assert_string_equal(v, "my-reset");
        vl = sizeof(v);
        assert_int_equal(rd_kafka_conf_get(c, "socket.timeout.ms", v, &vl),
                         RD_KAFKA_CONF_OK);
        assert_string_equal(v, "12345");
        rd_kafka_conf_destroy(c);

        static const struct {
                const char *text, *needle;
        } bad[] = {
                {"a.b.c=1\n", ":1: a.b.c: No such configuration property"},
                {"client.id=x\nno equals sign\n", ":2: not key=value"},
                {" = v\n", ":1: empty key"},
                {"socket.timeout.ms=abc\n", ":1: socket.timeout.ms: "},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                f = fopen(path, "w");
                fputs(bad[i].text, f);
                fclose(f);
                c = rd_kafka_conf_new();
                assert_int_equal(
                        ks__reset_load_props(c, path, err, sizeof(err)), -1);
                if (!strstr(err, bad[i].needle) || !strstr(err, path))
                        fail_msg("\"%s\" does not say \"%s\"", err,
                                 bad[i].needle);
                rd_kafka_conf_destroy(c);
        }
        c = rd_kafka_conf_new();
        assert_int_equal(ks__reset_load_props(c, "/nonexistent/x.properties",
                                              err, sizeof(err)),
                         -1);
        assert_non_null(strstr(err, "/nonexistent/x.properties: No such file"));
        rd_kafka_conf_destroy(c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_and_lists),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_datetime),
                cmocka_unit_test(test_duration),
                cmocka_unit_test(test_internal_names),
                cmocka_unit_test(test_config_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
