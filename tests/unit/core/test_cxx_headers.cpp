// The public headers compile as C++17 and link from C++.
#include <kstreams/kstreams.h>
#include <kstreams/serde_avro.h>

#include <cstdio>
#include <cstring>

int main() {
        if (ks_version() != KS_VERSION ||
            std::strcmp(ks_version_str(), KS_VERSION_STRING) != 0) {
                std::puts("not ok 1 - version mismatch");
                return 1;
        }
        ks_config_t *conf = ks_config_new();
        ks_error_t *err = nullptr;
        if (ks_config_set(conf, "no.such.key", "1", &err) !=
                    KS_ERR_UNKNOWN_CONFIG ||
            !std::strstr(ks_error_message(err), "no.such.key")) {
                std::puts("not ok 1 - config error from C++");
                return 1;
        }
        ks_error_destroy(err);
        ks_config_destroy(conf);
        std::puts("ok 1 - headers compile and link as C++17");
        return 0;
}
