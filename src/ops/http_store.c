/* GET /stores/<store>/<key>: interactive queries over HTTP. Until the
 * query interface exists this answers 501. */
#include <string.h>

#include "http_int.h"

enum MHD_Result ks__http_store(ks_app_t *app, struct MHD_Connection *c,
                               const char *path, ks_http_value_cb *value_cb,
                               void *opaque) {
        (void)app;
        (void)path;
        (void)value_cb;
        (void)opaque;
        static const char text[] = "store queries are not available\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(
                sizeof(text) - 1, (void *)text, MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        enum MHD_Result ok = MHD_queue_response(c, 501, r);
        MHD_destroy_response(r);
        return ok;
}
