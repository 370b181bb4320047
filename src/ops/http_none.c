/* The HTTP endpoint of a library built without libmicrohttpd: refused. */
#include "kstreams/http.h"

#include "../common/error_int.h"

ks_http_t *ks_http_start(ks_app_t *app, const char *listen,
                         ks_http_value_cb *value_cb, void *opaque,
                         ks_error_t **errp) {
        (void)app;
        (void)listen;
        (void)value_cb;
        (void)opaque;
        ks__error_set(errp, KS_ERR_STATE,
                      "this build of kstreams-c has no HTTP endpoint: "
                      "rebuild with libmicrohttpd (-Dhttp=enabled)");
        return NULL;
}

int ks_http_port(const ks_http_t *http) {
        (void)http;
        return -1;
}

void ks_http_stop(ks_http_t *http) {
        (void)http;
}
