/* What the HTTP endpoint's parts share: http.c serves, http_store.c
 * answers store reads (and says where a key lives). */
#ifndef KS_HTTP_INT_H
#define KS_HTTP_INT_H

#include <microhttpd.h>

#include "kstreams/http.h"

/** Answer GET /stores/<path> ("<store>/<key>", as sent: percent-encoded). */
enum MHD_Result ks__http_store(ks_app_t *app, struct MHD_Connection *c,
                               const char *path, ks_http_value_cb *value_cb,
                               void *opaque);

#endif
