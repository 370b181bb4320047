/**
 * @file kstreams/windows.h
 * @brief Window definitions, windowed keys and their serdes.
 *
 * Windows group a key's records by event time (the record timestamp, in
 * milliseconds), as Kafka Streams' TimeWindows, SlidingWindows and
 * SessionWindows do:
 *  - time windows of a fixed size, epoch-aligned: tumbling (advance =
 *    size) or hopping (advance < size); a window is [start, start + size),
 *    and a record at t belongs to every window with start <= t < end.
 *    Starts are never negative (records before the epoch fall only in the
 *    windows that start at or after 0), as in Kafka Streams;
 *  - sliding windows of a maximum time difference d, aligned to the
 *    records: a window is [start, start + d], both ends inclusive, and
 *    each distinct set of records that fits in such a window is aggregated
 *    in exactly one window (KIP-450): a key's record at t has the window
 *    [t - d, t] ending at it and, once a later record of the key lies
 *    within d after it, the window [t + 1, t + 1 + d] starting just after
 *    it. Records before d, whose windows would start before 0, all share
 *    [0, d], as in Kafka Streams;
 *  - session windows: a key's records closer than the inactivity gap form
 *    one session [first record, last record]; a record between two
 *    sessions merges them;
 *  - join windows, of stream-stream joins only: the time span around a
 *    record in which records of the other stream join it.
 *
 * Grace: a window accepts records until stream time (the largest timestamp
 * the aggregation has seen) passes its end plus the grace period (a
 * session: its end plus grace plus gap, as since Kafka 3.0); later
 * records are dropped, logged at debug level and counted in the
 * "dropped-records" and "dropped-records-late" metrics. A record of a
 * sliding-window aggregation too late for some of the windows it would
 * update or make only is dropped from those, counted once for each, as in
 * Kafka Streams. As since Kafka 3.0, the grace period is always explicit:
 * "_and_grace" or "_no_grace".
 *
 * A window definition is a small object owned by the caller until it is
 * handed to ks_grouped_windowed_by() (dsl.h), which takes it over.
 * Constructors do not check their arguments: ks_grouped_windowed_by()
 * does, and fails the builder with a message naming the bad value.
 *
 * Windowed keys: the key of a windowed aggregation's table is the
 * record's key followed by the window, byte for byte what Kafka Streams'
 * serdes write, so a Java consumer reads it with them:
 *  - time and sliding windows (TimeWindowedSerde): key | 8-byte big-endian
 *    start; the end is start + window size (which the reader must know);
 *  - session windows (SessionWindowedSerde): key | 8-byte big-endian end |
 *    8-byte big-endian start.
 *
 * Thread-safety: constructors and codecs are thread-safe; a window
 * definition is used by one thread at a time.
 */
#ifndef KSTREAMS_WINDOWS_H
#define KSTREAMS_WINDOWS_H

#include "common.h"
#include "error.h"

KS_BEGIN_DECLS

/** A window definition (time, sliding or session windows). */
typedef struct ks_windows_s ks_windows_t;

/** The kinds of windows. */
typedef enum ks_window_kind_e {
        KS_WINDOWS_TIME,    /**< tumbling or hopping, [start, end) */
        KS_WINDOWS_SLIDING, /**< sliding, [start, end] */
        KS_WINDOWS_SESSION, /**< sessions, [start, end] */
        KS_WINDOWS_JOIN,    /**< join windows of stream-stream joins */
} ks_window_kind_t;

/**
 * @brief Tumbling time windows of @p size_ms accepting records up to
 *        @p grace_ms after their end (advance them with
 *        ks_time_windows_advance_by() for hopping windows).
 * @returns a new definition, NULL when out of memory.
 */
KS_EXPORT ks_windows_t *ks_time_windows_of_size_and_grace(int64_t size_ms,
                                                          int64_t grace_ms);
/** @brief Tumbling time windows of @p size_ms with no grace period. */
KS_EXPORT ks_windows_t *ks_time_windows_of_size_no_grace(int64_t size_ms);
/**
 * @brief Make @p w hopping windows that start every @p advance_ms
 *        (0 < advance <= size; advance = size is tumbling). A record falls
 *        in size / advance windows, at most 100000.
 * @returns @p w (NULL stays NULL).
 */
KS_EXPORT ks_windows_t *ks_time_windows_advance_by(ks_windows_t *w,
                                                   int64_t advance_ms);
/** @brief Sliding windows of at most @p time_difference_ms between their
 *         records, with grace @p grace_ms. */
KS_EXPORT ks_windows_t *
ks_sliding_windows_of_time_difference_and_grace(int64_t time_difference_ms,
                                                int64_t grace_ms);
/** @brief Sliding windows with no grace period. */
KS_EXPORT ks_windows_t *
ks_sliding_windows_of_time_difference_no_grace(int64_t time_difference_ms);
/** @brief Session windows closed by @p gap_ms of inactivity, with grace
 *         @p grace_ms. */
KS_EXPORT ks_windows_t *
ks_session_windows_of_inactivity_gap_and_grace(int64_t gap_ms,
                                               int64_t grace_ms);
/** @brief Session windows with no grace period. */
KS_EXPORT ks_windows_t *
ks_session_windows_of_inactivity_gap_no_grace(int64_t gap_ms);

/**
 * @brief Join windows (Kafka Streams' JoinWindows) of a stream-stream join
 *        (ks_stream_join() in dsl.h): a left record at t joins the right
 *        records of its key at [t - before, t + after], both inclusive;
 *        this sets before = after = @p time_difference_ms. A record is
 *        accepted until stream time passes the end of its window plus
 *        @p grace_ms (a left record: t + after + grace; a right one:
 *        t + before + grace); later ones are dropped as late.
 */
KS_EXPORT ks_windows_t *
ks_join_windows_of_time_difference_and_grace(int64_t time_difference_ms,
                                             int64_t grace_ms);
/** @brief Join windows with no grace period. */
KS_EXPORT ks_windows_t *
ks_join_windows_of_time_difference_no_grace(int64_t time_difference_ms);
/**
 * @brief Set how far before a left record's timestamp its window reaches
 *        (may be negative as long as before + after >= 0, which the join
 *        checks). Kafka Streams' JoinWindows.before().
 * @returns @p w (NULL stays NULL).
 */
KS_EXPORT ks_windows_t *ks_join_windows_before(ks_windows_t *w,
                                               int64_t before_ms);
/** @brief Set how far after a left record's timestamp its window reaches,
 *         as ks_join_windows_before(). JoinWindows.after(). */
KS_EXPORT ks_windows_t *ks_join_windows_after(ks_windows_t *w,
                                              int64_t after_ms);

/** @brief The kind of @p w. */
KS_EXPORT ks_window_kind_t ks_windows_kind(const ks_windows_t *w);
/** @brief The window size in ms: the size of time windows, the time
 *         difference of sliding windows, the gap of session windows,
 *         before + after of join windows. */
KS_EXPORT int64_t ks_windows_size_ms(const ks_windows_t *w);
/** @brief The grace period in ms. */
KS_EXPORT int64_t ks_windows_grace_ms(const ks_windows_t *w);

/** @brief Free a definition not handed to ks_grouped_windowed_by() or a
 *         stream-stream join. NULL is a no-op. */
KS_EXPORT void ks_windows_destroy(ks_windows_t *w);

/** @name Windowed keys
 * @{ */
/**
 * @brief Split a time-windowed key (key | 8-byte start) of windows of
 *        @p window_size_ms (sliding windows: their time difference).
 * @param keyp receives the key's bytes (inside @p data), @p endp the end:
 *        start + size, saturating at INT64_MAX (any output may be NULL)
 * @returns KS_ERR_NO_ERROR, or KS_ERR_SERDE when @p size is under 8 bytes.
 */
KS_EXPORT ks_err_t ks_windowed_key_time(const void *data, size_t size,
                                        int64_t window_size_ms,
                                        const void **keyp, size_t *key_sizep,
                                        int64_t *startp, int64_t *endp);
/**
 * @brief Split a session-windowed key (key | 8-byte end | 8-byte start).
 * @returns KS_ERR_NO_ERROR, or KS_ERR_SERDE when @p size is under 16 bytes
 *          or the end is before the start.
 */
KS_EXPORT ks_err_t ks_windowed_key_session(const void *data, size_t size,
                                           const void **keyp, size_t *key_sizep,
                                           int64_t *startp, int64_t *endp);
/**
 * @brief Append the time-windowed key of (@p key, @p start) to @p out.
 * @returns KS_ERR_NO_ERROR, KS_ERR_NO_MEMORY, KS_ERR_INVALID_ARG.
 */
KS_EXPORT ks_err_t ks_windowed_key_time_encode(ks_buf_t *out, const void *key,
                                               size_t key_size, int64_t start);
/** @brief Append the session-windowed key of (@p key, [@p start, @p end])
 *         to @p out. */
KS_EXPORT ks_err_t ks_windowed_key_session_encode(ks_buf_t *out,
                                                  const void *key,
                                                  size_t key_size,
                                                  int64_t start, int64_t end);
/**
 * @brief A serde of time-windowed keys whose key part is checked with
 *        @p inner (NULL: bytes); the new serde holds a reference to it.
 *        Kafka Streams' TimeWindowedSerde.
 * @returns the serde (release with ks_serde_destroy()), NULL on OOM.
 */
KS_EXPORT ks_serde_t *ks_serde_time_windowed(ks_serde_t *inner);
/** @brief A serde of session-windowed keys (SessionWindowedSerde). */
KS_EXPORT ks_serde_t *ks_serde_session_windowed(ks_serde_t *inner);
/** @} */

KS_END_DECLS

#endif
