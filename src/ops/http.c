/* The HTTP endpoint (kstreams/http.h) over libmicrohttpd: a request is
 * answered on the server's thread from the application's read-only
 * interfaces (metrics, state, topology description, store queries). */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "kstreams/http.h"
#include "kstreams/metrics.h"

#include "../common/error_int.h"
#include "../coord/app_int.h"
#include "http_int.h"

struct ks_http_s {
        ks_app_t *app;
        struct MHD_Daemon *d;
        ks_http_value_cb *value_cb;
        void *opaque;
        int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *type, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode) {
        struct MHD_Response *r =
                MHD_create_response_from_buffer(len, body, mode);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        enum MHD_Result ok = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ok;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status,
                                  const char *text) {
        return reply(c, status, "text/plain; charset=utf-8", (void *)text,
                     strlen(text), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result metrics(ks_http_t *h, struct MHD_Connection *c) {
        size_t len = 0;
        char *text = ks_app_metrics_prometheus(h->app, &len);
        if (!text)
                return reply_text(c, 500, "out of memory\n");
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                     len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result health(ks_http_t *h, struct MHD_Connection *c) {
        ks_app_state_t st = ks_app_state(h->app);
        char text[64];
        snprintf(text, sizeof(text), "%s\n", ks_app_state_name(st));
        return reply_text(c, st == KS_APP_RUNNING ? 200 : 503, text);
}

static enum MHD_Result topology(ks_http_t *h, struct MHD_Connection *c) {
        const char *fmt =
                MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "format");
        int dot = fmt && !strcmp(fmt, "dot");
        if (fmt && !dot && strcmp(fmt, "text"))
                return reply_text(c, 400, "format is text or dot\n");
        char *text = NULL;
        ks_error_t *e = NULL;
        if ((dot ? ks_topology_describe_dot
                 : ks_topology_describe)(h->app->topo, &text, &e)) {
                char msg[512];
                snprintf(msg, sizeof(msg), "%s\n", ks_error_message(e));
                ks_error_destroy(e);
                return reply_text(c, 500, msg);
        }
        return reply(c, 200,
                     dot ? "text/vnd.graphviz; charset=utf-8"
                         : "text/plain; charset=utf-8",
                     text, strlen(text), MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
        ks_http_t *h = cls;
        (void)version;
        (void)upload;
        /* No request body is read: answer at the first call. */
        if (*upload_size) {
                *upload_size = 0;
                return MHD_YES;
        }
        (void)con_cls;
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
                return reply_text(c, 405, "only GET and HEAD\n");
        if (!strcmp(url, "/metrics"))
                return metrics(h, c);
        if (!strcmp(url, "/health"))
                return health(h, c);
        if (!strcmp(url, "/topology"))
                return topology(h, c);
        if (!strncmp(url, "/stores/", 8))
                return ks__http_store(h->app, c, url + 8, h->value_cb,
                                      h->opaque);
        return reply_text(c, 404, "not found\n");
}

/* URLs reach answer() as sent: a key's bytes may hold NUL and '/', which
 * libmicrohttpd's decoding in place would cut or confuse with the path's
 * separators; http_store.c decodes each segment with its length. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
        (void)cls;
        (void)c;
        return strlen(s);
}

/* "host:port" (host may be [v6]) to a socket address. */
static int resolve(const char *listen, struct sockaddr_storage *sa,
                   ks_error_t **errp) {
        const char *colon = listen ? strrchr(listen, ':') : NULL;
        if (!colon || colon == listen || !colon[1]) {
                ks__error_set(errp, KS_ERR_INVALID_ARG,
                              "HTTP listen address \"%s\" is not host:port",
                              listen ? listen : "(null)");
                return -1;
        }
        char host[256];
        size_t hl = (size_t)(colon - listen);
        if (*listen == '[' && hl >= 2 && listen[hl - 1] == ']') {
                listen++;
                hl -= 2;
        }
        if (hl >= sizeof(host)) {
                ks__error_set(errp, KS_ERR_INVALID_ARG,
                              "HTTP listen host is too long");
                return -1;
        }
        memcpy(host, listen, hl);
        host[hl] = '\0';
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 0 || port > 65535) {
                ks__error_set(errp, KS_ERR_INVALID_ARG,
                              "HTTP listen port \"%s\" is not a port number",
                              colon + 1);
                return -1;
        }
        struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
                                 .ai_socktype = SOCK_STREAM},
                        *ai = NULL;
        int rc = getaddrinfo(host, colon + 1, &hints, &ai);
        if (rc || !ai) {
                ks__error_set(errp, KS_ERR_INVALID_ARG,
                              "HTTP listen host \"%s\": %s", host,
                              gai_strerror(rc));
                return -1;
        }
        memcpy(sa, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        return 0;
}

ks_http_t *ks_http_start(ks_app_t *app, const char *listen,
                         ks_http_value_cb *value_cb, void *opaque,
                         ks_error_t **errp) {
        if (!app) {
                ks__error_set(errp, KS_ERR_INVALID_ARG, "no application");
                return NULL;
        }
        struct sockaddr_storage sa;
        if (resolve(listen, &sa, errp))
                return NULL;
        ks_http_t *h = calloc(1, sizeof(*h));
        if (!h) {
                ks__error_set(errp, KS_ERR_NO_MEMORY, "out of memory");
                return NULL;
        }
        h->app = app;
        h->value_cb = value_cb;
        h->opaque = opaque;
        /* poll or epoll, not select(): a process with many stores holds
         * more than FD_SETSIZE descriptors, and select() refuses those. */
        unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
        if (sa.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        h->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, h,
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)64,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped,
                                NULL, MHD_OPTION_END);
        if (!h->d) {
                ks__error_set(errp, KS_ERR_IO, "cannot listen on %s for HTTP",
                              listen);
                free(h);
                return NULL;
        }
        const union MHD_DaemonInfo *i =
                MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
        h->port = i ? i->port : -1;
        return h;
}

int ks_http_port(const ks_http_t *h) {
        return h ? h->port : -1;
}

void ks_http_stop(ks_http_t *h) {
        if (!h)
                return;
        MHD_stop_daemon(h->d);
        free(h);
}
