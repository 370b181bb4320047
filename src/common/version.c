/* Run-time version and the allocator the public API hands memory out with. */
#include <stdlib.h>

#include "kstreams/common.h"
#include "kstreams/version.h"

int ks_version(void) {
        return KS_VERSION;
}

const char *ks_version_str(void) {
        return KS_VERSION_STRING;
}

void ks_free(void *ptr) {
        free(ptr);
}
