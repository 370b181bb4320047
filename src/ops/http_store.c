/* GET /stores/<store>/<key>: interactive queries over HTTP. The key is
 * the rest of the path, percent-decoded here with its length (so %00 and
 * %2F are bytes of the key), taken as the key's bytes. With
 * application.server set, a key another instance holds is redirected
 * there (307); the rest is answered from this instance's stores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "kstreams/query.h"

#include "http_int.h"

#define MAX_VALUE_TEXT 65536

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status,
                               const char *type, void *body, size_t len,
                               enum MHD_ResponseMemoryMode mode,
                               const char *location) {
        struct MHD_Response *r =
                MHD_create_response_from_buffer(len, body, mode);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        if (location)
                MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
        if (status == 503)
                MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
        enum MHD_Result ok = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ok;
}

static enum MHD_Result text(struct MHD_Connection *c, unsigned status,
                            const char *body) {
        return respond(c, status, "text/plain; charset=utf-8", (void *)body,
                       strlen(body), MHD_RESPMEM_MUST_COPY, NULL);
}

static int hex_digit(char ch) {
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

/* Percent-decode @p n bytes of @p s into @p out (room for @p n); the
 * decoded length, or -1 for a '%' not followed by two hex digits. */
static ssize_t pct_decode(const char *s, size_t n, char *out) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '%') {
                        out[o++] = s[i];
                        continue;
                }
                if (n - i < 3)
                        return -1;
                int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
                if (h < 0 || l < 0)
                        return -1;
                out[o++] = (char)(h << 4 | l);
                i += 2;
        }
        return (ssize_t)o;
}

/* http://<host>/stores/<store>/<key percent-encoded> */
static char *location(const char *host, const char *store, const char *key,
                      size_t klen) {
        size_t n = strlen(host) + strlen(store) + 3 * klen + 32;
        char *loc = malloc(n);
        if (!loc)
                return NULL;
        size_t at =
                (size_t)snprintf(loc, n, "http://%s/stores/%s/", host, store);
        static const char hex[] = "0123456789ABCDEF";
        for (size_t i = 0; i < klen && at + 4 < n; i++) {
                unsigned char ch = (unsigned char)key[i];
                if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
                    ch == '.' || ch == '~') {
                        loc[at++] = (char)ch;
                } else {
                        loc[at++] = '%';
                        loc[at++] = hex[ch >> 4];
                        loc[at++] = hex[ch & 15];
                }
        }
        loc[at] = '\0';
        return loc;
}

static enum MHD_Result value_answer(struct MHD_Connection *c, const char *store,
                                    void *v, size_t vlen,
                                    ks_http_value_cb *value_cb, void *opaque) {
        if (!value_cb)
                return respond(c, 200, "application/octet-stream", v, vlen,
                               MHD_RESPMEM_MUST_FREE, NULL);
        char *out = malloc(MAX_VALUE_TEXT);
        int n = out ? value_cb(opaque, store, v, vlen, out, MAX_VALUE_TEXT)
                    : -1;
        free(v);
        if (n < 0 || n > MAX_VALUE_TEXT) {
                free(out);
                return text(c, 500, "the value could not be formatted\n");
        }
        return respond(c, 200, "text/plain; charset=utf-8", out, (size_t)n,
                       MHD_RESPMEM_MUST_FREE, NULL);
}

/* Answer for @p key (@p klen bytes) of @p store. */
static enum MHD_Result answer_key(ks_app_t *app, struct MHD_Connection *c,
                                  const char *store, const char *key,
                                  size_t klen, ks_http_value_cb *value_cb,
                                  void *opaque) {
        /* Another instance's key: send the client there. */
        char host[512];
        int32_t partition;
        int local = 1;
        ks_error_t *e = NULL;
        if (!ks_app_query_metadata_for_key(app, store, key, klen, host,
                                           sizeof(host), &partition, &local,
                                           &e) &&
            !local) {
                char *loc = location(host, store, key, klen);
                if (!loc)
                        return text(c, 500, "out of memory\n");
                enum MHD_Result r =
                        respond(c, 307, "text/plain; charset=utf-8", loc,
                                strlen(loc), MHD_RESPMEM_MUST_COPY, loc);
                free(loc);
                return r;
        }
        ks_error_destroy(e);
        e = NULL;

        void *v = NULL;
        size_t vlen = 0;
        ks_err_t err =
                ks_app_query_kv(app, store, key, klen, &v, &vlen, NULL, &e);
        char msg[600];
        snprintf(msg, sizeof(msg), "%s\n", e ? ks_error_message(e) : "");
        ks_error_destroy(e);
        switch (err) {
        case KS_ERR_NO_ERROR:
                if (!v)
                        return text(c, 404, "no such key\n");
                return value_answer(c, store, v, vlen, value_cb, opaque);
        case KS_ERR_NOT_FOUND:
                return text(c, 404, msg);
        case KS_ERR_STORE_TYPE:
                return text(c, 400, msg);
        case KS_ERR_STORE_MIGRATED:
        case KS_ERR_STORE_RESTORING:
        case KS_ERR_STATE:
                return text(c, 503, msg);
        default:
                return text(c, 500, msg);
        }
}

enum MHD_Result ks__http_store(ks_app_t *app, struct MHD_Connection *c,
                               const char *path, ks_http_value_cb *value_cb,
                               void *opaque) {
        const char *slash = strchr(path, '/');
        if (!slash || slash == path || !slash[1])
                return text(c, 400, "use /stores/<store>/<key>\n");
        char store[256];
        size_t sl = (size_t)(slash - path);
        if (sl >= sizeof(store))
                return text(c, 404, "no such store\n");
        ssize_t dl = pct_decode(path, sl, store);
        if (dl < 0)
                return text(c, 400, "malformed %-escape in the store name\n");
        store[dl] = '\0';
        if (memchr(store, '\0', (size_t)dl))
                return text(c, 404, "no such store\n");
        /* The key: at most the request's size (libmicrohttpd bounds it). */
        size_t raw = strlen(slash + 1);
        char *key = malloc(raw + 1);
        if (!key)
                return text(c, 500, "out of memory\n");
        ssize_t kl = pct_decode(slash + 1, raw, key);
        if (kl < 0) {
                free(key);
                return text(c, 400, "malformed %-escape in the key\n");
        }
        enum MHD_Result r =
                answer_key(app, c, store, key, (size_t)kl, value_cb, opaque);
        free(key);
        return r;
}
