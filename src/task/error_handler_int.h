/* Processing errors and the dead-letter queue (KIP-1033, KIP-1034): the
 * error context a processing-error handler is handed, the handler a
 * driver gives its tasks, and the headers of a dead-letter record, which
 * the stream thread's collector also builds for records it could not
 * deliver.
 *
 * A dead-letter record is the failed record's key and value as they were,
 * its headers (less any __streams.errors.* header it carried) and the
 * KS_DLQ_HEADER_* headers below. The message header is cut to
 * KS_DLQ_MESSAGE_MAX bytes and the other added headers are short (a name
 * of the error table, a topic name, a node name, two decimal numbers), so
 * a dead-letter record is at most its source record plus
 * KS_DLQ_HEADERS_MAX bytes. */
#ifndef KS_ERROR_HANDLER_INT_H
#define KS_ERROR_HANDLER_INT_H

#include "kstreams/error_handler.h"
#include "kstreams/headers.h"

/* KIP-1034's header names. */
#define KS_DLQ_HEADER_PREFIX    "__streams.errors."
#define KS_DLQ_HEADER_EXCEPTION KS_DLQ_HEADER_PREFIX "exception"
#define KS_DLQ_HEADER_MESSAGE   KS_DLQ_HEADER_PREFIX "message"
#define KS_DLQ_HEADER_TOPIC     KS_DLQ_HEADER_PREFIX "topic"
#define KS_DLQ_HEADER_PARTITION KS_DLQ_HEADER_PREFIX "partition"
#define KS_DLQ_HEADER_OFFSET    KS_DLQ_HEADER_PREFIX "offset"
#define KS_DLQ_HEADER_PROCESSOR KS_DLQ_HEADER_PREFIX "processor"

/* The longest error message a dead-letter record carries (bytes). */
#define KS_DLQ_MESSAGE_MAX 1024
/* A bound on the headers a dead-letter record adds to its source record:
 * names, the message, a topic name and a node name (each at most 249
 * bytes: Kafka's topic limit; node names longer than that are cut), the
 * error name and two decimal numbers. */
#define KS_DLQ_NAME_MAX    249
#define KS_DLQ_HEADERS_MAX (KS_DLQ_MESSAGE_MAX + 2 * KS_DLQ_NAME_MAX + 512)

/* What a handler is told (see error_handler.h); every pointer is
 * borrowed for the handler's call. */
struct ks_error_context_s {
        const char *topic; /* NULL: a punctuator */
        int32_t partition;
        int64_t offset; /* -1: a punctuator, or not written (production) */
        int64_t timestamp;
        const char *processor; /* NULL: deserialization, production */
        const char *task_id;
        const void *key, *value; /* NULL: null */
        size_t klen, vlen;
        const ks_headers_t *headers; /* never NULL */
};

/* A processing-error handler and its opaque, as a driver hands it to its
 * tasks (borrowed; it outlives them). cb NULL: the configuration's
 * processing.exception.handler decides. */
typedef struct {
        ks_processing_error_cb *cb;
        void *opaque;
} ks__perr_handler_t;

/** The headers of a dead-letter record of a record whose headers were
 *  @p orig (NULL: none): those, less any KS_DLQ_HEADER_PREFIX one, then
 *  exception = ks_err_name(@p code), message (cut to
 *  KS_DLQ_MESSAGE_MAX), topic, partition and offset (decimal), and the
 *  processor when @p processor is not NULL.
 *  @returns new headers (the caller destroys them), NULL: out of
 *  memory. */
ks_headers_t *ks__dlq_headers(const ks_headers_t *orig, ks_err_t code,
                              const char *message, const char *topic,
                              int32_t partition, int64_t offset,
                              const char *processor);

#endif
