/* The HTTP endpoint of a running word count (two stream threads), read
 * with a real HTTP client (scrape.py: Python's urllib, and the Prometheus
 * client library's parser for /metrics):
 *   - /health answers 200 while RUNNING and 503 once closed;
 *   - /metrics parses, holds the stable family names, and the threads'
 *     process-total sums to the lines plus the words;
 *   - GET /stores/counts/<word> answers every word's independent count;
 *     unknown words and stores answer 404;
 *   - /topology?format=dot is a graph of both sub-topologies.
 * Also: a malformed listen address and a port in use are refused; keys
 * are percent-decoded with their length (a %00 is a byte of the key, not
 * its end; a malformed escape is 400); and the endpoint serves in a
 * process holding more descriptors than select() can watch. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kst_wordcount.h"
#include "wordcount_topology.h"

#include "kstreams/http.h"
#include "kstreams/metrics.h"

#define PARTITIONS 3
#define LINES      800

static int count_text(void *opaque, const char *store, const void *value,
                      size_t vlen, char *out, size_t out_size) {
        (void)opaque;
        (void)store;
        int64_t n;
        if (ks_int64_decode(value, vlen, &n, NULL))
                return -1;
        return snprintf(out, out_size, "%lld\n", (long long)n);
}

static int scrape(int port, const char *args) {
        char cmd[4096];
        snprintf(cmd, sizeof(cmd), "%s %s/scrape.py http://127.0.0.1:%d %s",
                 KST_PYTHON, KST_OPS_DIR, port, args);
        int rc = system(cmd);
        return rc;
}

/* GET @p path from 127.0.0.1:@p port: the status (-1 if no answer) and
 * the body in @p body. */
static int get(int port, const char *path, char *body, size_t size) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        char buf[8192];
        size_t n = 0;
        if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
                int len = snprintf(buf, sizeof(buf),
                                   "GET %s HTTP/1.1\r\nHost: x\r\n"
                                   "Connection: close\r\n\r\n",
                                   path);
                assert_int_equal(write(fd, buf, (size_t)len), len);
                ssize_t r;
                while (n < sizeof(buf) - 1 &&
                       (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
                        n += (size_t)r;
        }
        close(fd);
        buf[n] = '\0';
        int status = -1;
        const char *b = strstr(buf, "\r\n\r\n");
        if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1 || !b)
                return -1;
        snprintf(body, size, "%s", b + 4);
        return status;
}

/* Keys as bytes: a %00 or a malformed escape does not read another key,
 * and a fully escaped word reads the word. */
static void check_keys(const kst_wc_t *f, int port) {
        int w = 0;
        while (!f->expect[w])
                w++;
        char path[512], body[4096], want[64];
        snprintf(want, sizeof(want), "%lld\n", (long long)f->expect[w]);
        snprintf(path, sizeof(path), "/stores/counts/%s%%00x", f->words[w]);
        assert_int_equal(get(port, path, body, sizeof(body)), 404);
        snprintf(path, sizeof(path), "/stores/counts/%s%%00", f->words[w]);
        assert_int_equal(get(port, path, body, sizeof(body)), 404);
        snprintf(path, sizeof(path), "/stores/counts/%s%%2", f->words[w]);
        assert_int_equal(get(port, path, body, sizeof(body)), 400);
        size_t at = (size_t)snprintf(path, sizeof(path), "/stores/counts/");
        for (const char *c = f->words[w]; *c; c++)
                at += (size_t)snprintf(path + at, sizeof(path) - at, "%%%02X",
                                       (unsigned char)*c);
        assert_int_equal(get(port, path, body, sizeof(body)), 200);
        assert_string_equal(body, want);
        snprintf(path, sizeof(path), "/stores/c%%6Funts/%s", f->words[w]);
        assert_int_equal(get(port, path, body, sizeof(body)), 200);
        assert_string_equal(body, want);
}

typedef struct {
        ks_app_t *app;
        double want;
} settle_t;

static int settled(void *opaque) {
        settle_t *s = opaque;
        ks_metrics_t *m = ks_app_metrics(s->app);
        double sum = 0;
        for (size_t i = 0; i < ks_metrics_count(m); i++) {
                const char *n, *g;
                double v;
                ks_metrics_get(m, i, &n, &g, NULL, &v);
                if (!strcmp(g, "stream-thread-metrics") &&
                    !strcmp(n, "process-total"))
                        sum += v;
        }
        ks_metrics_destroy(m);
        return sum == s->want;
}

static void test_endpoint(void **state) {
        kst_wc_t *f = *state;
        kst_wc_produce(f, LINES, 6, KST_WC_SPREAD);
        ks_config_t *c = kst_app_config(
                f->broker, f->app_id,
                (const char *const[]){"num.stream.threads", "2",
                                      "commit.interval.ms", "100", NULL});
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(f->in, f->words_topic, f->out,
                                                 KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = kst_app_start(t, c, NULL, NULL);
        ks_http_t *h = ks_http_start(app, "127.0.0.1:0", count_text, NULL, &e);
        if (!h)
                fail_msg("ks_http_start: %s", ks_error_message(e));
        int port = ks_http_port(h);
        assert_true(port > 0);

        /* The same port again, and malformed addresses. */
        char busy[64];
        snprintf(busy, sizeof(busy), "127.0.0.1:%d", port);
        assert_null(ks_http_start(app, busy, NULL, NULL, &e));
        assert_int_equal(ks_error_code(e), KS_ERR_IO);
        ks_error_destroy(e);
        e = NULL;
        static const char *const bad[] = {
                "127.0.0.1", ":80", "host:", "127.0.0.1:99999", "127.0.0.1:x"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_null(ks_http_start(app, bad[i], NULL, NULL, &e));
                assert_int_equal(ks_error_code(e), KS_ERR_INVALID_ARG);
                ks_error_destroy(e);
                e = NULL;
        }

        kst_wc_wait_counts(f, app, 60000);
        kst_wait_state(app, KS_APP_RUNNING, 30000);
        settle_t s = {app, (double)LINES + (double)f->total_words};
        assert_true(kst_wait_for(app, 30000, 50, settled, &s));

        char counts[512];
        snprintf(counts, sizeof(counts), "%s/http-counts-%s.txt",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", f->app_id);
        FILE *fp = fopen(counts, "w");
        assert_non_null(fp);
        for (int w = 0; w < f->vocab; w++)
                if (f->expect[w])
                        fprintf(fp, "%s %lld\n", f->words[w],
                                (long long)f->expect[w]);
        fclose(fp);
        char args[1024];
        snprintf(args, sizeof(args),
                 "--health 200 --processed %.0f "
                 "--counts %s --dot",
                 s.want, counts);
        assert_int_equal(scrape(port, args), 0);
        remove(counts);
        check_keys(f, port);

        assert_int_equal(ks_app_close(app, 30000), 0);
        assert_int_equal(scrape(port, "--health 503"), 0);
        ks_http_stop(h);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
}

/* With more descriptors open than FD_SETSIZE (RocksDB keeps a table
 * file open per SST: an instance with many stores does), the endpoint
 * still starts and answers. The app is never started. */
static void test_many_descriptors(void **state) {
        (void)state;
        struct rlimit rl;
        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < 1200 && rl.rlim_max >= 1200) {
                rl.rlim_cur = 1200;
                assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
        }
        if (rl.rlim_cur < 1200)
                skip();
        int fds[1100], n = 0;
        while (n < 1100 && (fds[n] = open("/dev/null", O_RDONLY)) >= 0 &&
               fds[n] < FD_SETSIZE + 16)
                n++;
        assert_true(n < 1100 && fds[n] >= FD_SETSIZE + 16);
        n++;

        char id[64];
        snprintf(id, sizeof(id), "http-fds-%d", (int)getpid());
        ks_config_t *c = kst_config(id);
        kst_set(c, "bootstrap.servers", "127.0.0.1:9");
        ks_error_t *e = NULL;
        ks_topology_t *t = wordcount_topology_on(
                "fds-in", "fds-words", "fds-out", KS_STORE_ROCKSDB, &e);
        assert_non_null(t);
        ks_app_t *app = ks_app_new(t, c, &e);
        assert_non_null(app);
        ks_http_t *h = ks_http_start(app, "127.0.0.1:0", NULL, NULL, &e);
        if (!h)
                fail_msg("ks_http_start: %s", ks_error_message(e));
        char body[256];
        assert_int_equal(get(ks_http_port(h), "/health", body, sizeof(body)),
                         503);
        assert_string_equal(body, "CREATED\n");
        ks_http_stop(h);
        ks_app_destroy(app);
        ks_topology_destroy(t);
        ks_config_destroy(c);
        while (n--)
                close(fds[n]);
}

static int setup(void **state) {
        *state = kst_wc_fixture("mock", 1, "http", PARTITIONS, 30, 9);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_endpoint, setup,
                                                kst_wc_teardown),
                cmocka_unit_test(test_many_descriptors),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
