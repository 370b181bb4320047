/* What a committed input offset carries: the committed state's changelog
 * positions.
 *
 * Under at-least-once, the offsets a task commits are tied to the state it
 * had when it committed them: the metadata of each committed offset holds
 * the changelog position of each of the task's logged stores (among them
 * the store of its duplicate marks, see origin_int.h). A new owner restores
 * every store exactly to those positions, so input, state and marks of one
 * commit always go together.
 *
 * The text is printable and bounded: "ks2;<tag>;<task>;<i>=<pos>;..." with
 * <tag> the application's tag (8 hex digits), <task> "<sub>_<partition>",
 * <i> a store's index in its sub-topology and <pos> the offset after the
 * last change of that store. Its length depends on the number of the
 * sub-topology's stores only, never on partitions or data; the application
 * refuses a topology whose metadata could exceed KS_COMMIT_META_MAX (Kafka
 * refuses metadata over offset.metadata.max.bytes, 4096 by default).
 * Decoding treats the bytes as untrusted: anything malformed, foreign
 * (another tag or task) or out of range is rejected as a whole. */
#ifndef KS_COMMIT_META_INT_H
#define KS_COMMIT_META_INT_H

#include <stddef.h>
#include <stdint.h>

#define KS_COMMIT_META_MAX 2048

/** The longest metadata for a task with @p store_cnt stores. */
size_t ks__commit_meta_max(size_t store_cnt);

/** Write the metadata of task <sub>_<partition> into @p buf (NUL
 *  terminated): positions @p pos[0 .. n-1], those < 0 left out. Returns
 *  the length, or 0 if it does not fit in @p cap. */
size_t ks__commit_meta_encode(char *buf, size_t cap, uint32_t tag, int sub,
                              int32_t partition, const int64_t *pos, size_t n);

/** Read metadata @p m of @p len bytes (not NUL terminated) for task
 *  <sub>_<partition> into @p pos[0 .. n-1] (entries it does not name are
 *  set to -1). Returns 0, or -1 when it is not this application's metadata
 *  for this task or is malformed (then @p pos is all -1). */
int ks__commit_meta_decode(const void *m, size_t len, uint32_t tag, int sub,
                           int32_t partition, int64_t *pos, size_t n);

#endif
