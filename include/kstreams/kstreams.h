/**
 * @file kstreams/kstreams.h
 * @brief kstreams-c: Kafka Streams-style stateful stream processing for C.
 *
 * Include this header for the whole API except Avro (kstreams/serde_avro.h,
 * which needs avro-c's headers).
 *
 * Conventions of every header:
 *  - all types are opaque and used through functions; `_destroy(NULL)` is a
 *    no-op;
 *  - fallible functions return ks_err_t; those that can fail several ways
 *    also take `ks_error_t **errp` (may be NULL) for a message naming what was
 *    wrong;
 *  - each header states its thread-safety and who owns what.
 */
#ifndef KSTREAMS_KSTREAMS_H
#define KSTREAMS_KSTREAMS_H

#include "version.h"

#include "app.h"
#include "common.h"
#include "config.h"
#include "dsl.h"
#include "error.h"
#include "error_handler.h"
#include "headers.h"
#include "http.h"
#include "metrics.h"
#include "processor.h"
#include "query.h"
#include "serde.h"
#include "store.h"
#include "test_driver.h"
#include "topology.h"
#include "windows.h"

#endif
