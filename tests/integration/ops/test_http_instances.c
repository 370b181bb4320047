/* Store reads over HTTP across three instances on the real broker (the
 * mock cluster has no DescribeConsumerGroups): each instance of a word
 * count serves its endpoint at its application.server; asked for every
 * word, each instance answers its own words and redirects the others to
 * the instance holding them, and a real HTTP client (scrape.py) following
 * the redirects gets every word's independent count from every
 * instance. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#include "kstreams/http.h"
#include "kstreams/query.h"

#define PARTITIONS 3
#define VOCAB      30
#define INSTANCES  3

typedef struct {
        kst_wc_t *f;
        ks_app_t *apps[INSTANCES];
        ks_http_t *http[INSTANCES];
        char servers[INSTANCES][32];
        char why[512];
} fix_t;

static int count_text(void *opaque, const char *store, const void *value,
                      size_t vlen, char *out, size_t out_size) {
        (void)opaque;
        (void)store;
        int64_t n;
        if (ks_int64_decode(value, vlen, &n, NULL))
                return -1;
        return snprintf(out, out_size, "%lld\n", (long long)n);
}

/* A port nobody listens on now (it may be taken before we bind it: the
 * caller tries again then). */
static int free_port(void) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t sl = sizeof(sa);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

/* Instance @p a with its endpoint listening at its application.server. */
static void start_instance(fix_t *x, int a) {
        kst_wc_t *f = x->f;
        char *dir;
        if (asprintf(&dir, "%s/http-instance-%d", kst_tmpdir(), a) < 0)
                fail();
        for (int tries = 0; !x->http[a]; tries++) {
                assert_true(tries < 10);
                snprintf(x->servers[a], sizeof(x->servers[a]), "127.0.0.1:%d",
                         free_port());
                ks_config_t *c = kst_app_config(
                        f->broker, f->app_id,
                        (const char *const[]){
                                "state.dir", dir, "commit.interval.ms", "100",
                                "application.server", x->servers[a], NULL});
                ks_error_t *e = NULL;
                ks_topology_t *t = wordcount_topology_on(
                        f->in, f->words_topic, f->out, KS_STORE_ROCKSDB, &e);
                assert_non_null(t);
                x->apps[a] = ks_app_new(t, c, &e);
                assert_non_null(x->apps[a]);
                ks_topology_destroy(t);
                ks_config_destroy(c);
                x->http[a] = ks_http_start(x->apps[a], x->servers[a],
                                           count_text, NULL, &e);
                if (!x->http[a]) {
                        assert_int_equal(ks_error_code(e), KS_ERR_IO);
                        ks_error_destroy(e);
                        ks_app_destroy(x->apps[a]);
                        x->apps[a] = NULL;
                }
        }
        ks_error_t *e = NULL;
        if (ks_app_start(x->apps[a], &e))
                fail_msg("start: %s", ks_error_message(e));
        free(dir);
}

/* Every instance knows every word's owner, and the owner has the count. */
static int all_known(void *opaque) {
        fix_t *x = opaque;
        kst_wc_t *f = x->f;
        for (int i = 0; i < f->vocab; i++) {
                const char *w = f->words[i];
                for (int a = 0; a < INSTANCES; a++) {
                        char host[64];
                        int32_t p;
                        int local;
                        ks_error_t *e = NULL;
                        if (ks_app_query_metadata_for_key(
                                    x->apps[a], WORDCOUNT_STORE, w, strlen(w),
                                    host, sizeof(host), &p, &local, &e)) {
                                snprintf(x->why, sizeof(x->why), "%s: %s", w,
                                         ks_error_message(e));
                                ks_error_destroy(e);
                                return 0;
                        }
                        if (!local)
                                continue;
                        void *v = NULL;
                        size_t vl = 0;
                        int64_t n = -1;
                        if (!ks_app_query_kv(x->apps[a], WORDCOUNT_STORE, w,
                                             strlen(w), &v, &vl, NULL, &e) &&
                            v)
                                ks_int64_decode(v, vl, &n, NULL);
                        ks_error_destroy(e);
                        free(v);
                        if (n != f->expect[i]) {
                                snprintf(x->why, sizeof(x->why),
                                         "%s: %lld at its owner, want %lld", w,
                                         (long long)n, (long long)f->expect[i]);
                                return 0;
                        }
                }
        }
        return 1;
}

static void test_three_endpoints(void **state) {
        (void)state;
        fix_t *x = calloc(1, sizeof(*x));
        assert_non_null(x);
        kst_wc_t *f = x->f =
                kst_wc_fixture(NULL, 1, "httpi", PARTITIONS, VOCAB, 4242);
        kst_wc_produce(f, 200, 6, KST_WC_MIXED);
        for (int a = 0; a < INSTANCES; a++)
                start_instance(x, a);
        kst_wc_wait_counts(f, x->apps[0], 120000);
        if (!kst_wait_for(x->apps[0], 120000, 200, all_known, x))
                fail_msg("owners never all known: %s", x->why);

        char counts[512];
        snprintf(counts, sizeof(counts), "%s/http-counts-%s.txt", kst_tmpdir(),
                 f->app_id);
        FILE *fp = fopen(counts, "w");
        assert_non_null(fp);
        for (int w = 0; w < f->vocab; w++)
                if (f->expect[w])
                        fprintf(fp, "%s %lld\n", f->words[w],
                                (long long)f->expect[w]);
        fclose(fp);
        for (int a = 0; a < INSTANCES; a++) {
                char cmd[2048];
                snprintf(cmd, sizeof(cmd),
                         "%s %s/scrape.py http://%s --health 200 --counts %s "
                         "--redirects",
                         KST_PYTHON, KST_OPS_DIR, x->servers[a], counts);
                assert_int_equal(system(cmd), 0);
        }
        remove(counts);
        for (int a = INSTANCES - 1; a >= 0; a--) {
                KST_OK(ks_app_close(x->apps[a], 60000));
                ks_http_stop(x->http[a]);
                ks_app_destroy(x->apps[a]);
        }
        kst_wc_destroy(f);
        free(x);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_three_endpoints),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
