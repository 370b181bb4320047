/**
 * @file kstreams/http.h
 * @brief An optional HTTP endpoint for an application: metrics for
 *        Prometheus, health, the topology and reads of its stores.
 *
 * | path                    | answer                                        |
 * |-------------------------|-----------------------------------------------|
 * | GET /metrics            | ks_app_metrics_prometheus() (text/plain;      |
 * |                         | version=0.0.4)                                |
 * | GET /health             | 200 "RUNNING" while the app runs, else 503    |
 * |                         | and the state's name                          |
 * | GET /topology           | ks_topology_describe(); with ?format=dot,     |
 * |                         | ks_topology_describe_dot()                    |
 * | GET /stores/<s>/<key>   | the value of <key> (the rest of the path,     |
 * |                         | percent-decoded, as the key's bytes: %00 and  |
 * |                         | %2F are bytes of it; a malformed escape is    |
 * |                         | 400) in key-value                             |
 * |                         | store <s>: 200 and the value, 404 when        |
 * |                         | absent or no such store, 307 to the instance  |
 * |                         | holding the key (its application.server),     |
 * |                         | 503 while the store restores or the group     |
 * |                         | rebalances                                    |
 *
 * Everything else is 404, methods other than GET and HEAD 405. The server
 * is libmicrohttpd with one internal thread, at most 64 connections and a
 * 10 s idle timeout; it only reads the application.
 */
#ifndef KSTREAMS_HTTP_H
#define KSTREAMS_HTTP_H

#include <stddef.h>

#include "app.h"
#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** An HTTP endpoint. */
typedef struct ks_http_s ks_http_t;

/**
 * Formats a store's value for an HTTP answer: write at most @p out_size
 * bytes to @p out and return how many, or -1 to answer 500. Called on the
 * server's thread.
 */
typedef int(ks_http_value_cb)(void *opaque, const char *store,
                              const void *value, size_t vlen, char *out,
                              size_t out_size);

/**
 * @brief Serve @p app on @p listen ("host:port"; port 0 picks a free one,
 *        see ks_http_port()).
 * @param value_cb formats store values (NULL: the value's bytes as they
 *        are, application/octet-stream); @p opaque is passed to it.
 * @returns the running endpoint (stop it with ks_http_stop() before
 *          ks_app_destroy()), or NULL with *errp: KS_ERR_INVALID_ARG for a
 *          malformed address, KS_ERR_IO when it cannot listen there,
 *          KS_ERR_STATE when the library was built without libmicrohttpd.
 *          Any thread.
 */
KS_EXPORT ks_http_t *ks_http_start(ks_app_t *app, const char *listen,
                                   ks_http_value_cb *value_cb, void *opaque,
                                   ks_error_t **errp);

/** @brief The port the endpoint listens on. */
KS_EXPORT int ks_http_port(const ks_http_t *http);

/** @brief Stop serving (waits for answers in progress) and free. NULL is a
 *         no-op. */
KS_EXPORT void ks_http_stop(ks_http_t *http);

KS_END_DECLS

#endif
