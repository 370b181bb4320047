/* The query registry: which tasks of this instance hold stores that
 * interactive queries may read, and the pins that keep a task's database
 * open while a query reads it.
 *
 * Each task a stream thread opens is entered (ks__qreg_add()) with its
 * sub-topology, partition and database; it is marked running once its
 * stores are restored, and leaves the registry when the task closes
 * (ks__qreg_remove(), before the database closes).
 *
 * Queries read an entry's published snapshot: a RocksDB snapshot taken
 * when the task starts (its stores then hold the committed state they were
 * restored to) and again after each commit the group accepted
 * (ks__qreg_committed(): the offsets were committed, or the transaction).
 * A store written by a commit whose offsets the group then refused (a
 * rebalance) is rebuilt by its next owner from the committed position, so
 * it is never published: what a query sees of a key never goes back.
 * Snapshots are reference counted (under the entry's lock) by the entry
 * and by each open iterator reading one. An entry
 * (ks__qtask_t) is reference counted: the registry holds one reference,
 * each query or iterator reading it another, so an entry outlives its
 * task for as long as someone holds it; after its task closed it only
 * answers KS_ERR_STORE_MIGRATED.
 *
 * Locking: one mutex per entry, held by a query for one read (a point
 * lookup, opening a view, one iterator step) and by the stream thread
 * while it removes the entry: removing marks it closed and invalidates
 * every cursor attached to it (their snapshots and RocksDB iterators are
 * released) before the task's database closes. Nothing on the processing
 * path takes a lock; the stream thread takes them only when a task opens,
 * starts or closes. The registry's mutex guards its table only and is
 * never held with an entry's.
 *
 * @locality add, running, remove: the task's stream thread; the rest: any
 *           thread. */
#ifndef KS_QUERY_REGISTRY_INT_H
#define KS_QUERY_REGISTRY_INT_H

#include <stdint.h>

#include "kstreams/error.h"

#include "../state/rocksdb_int.h"

typedef struct ks__qreg_s ks__qreg_t;
typedef struct ks__qtask_s ks__qtask_t;
typedef struct ks__qsnap_s ks__qsnap_t;

/** A reader attached to an entry (an open iterator): the stream thread
 *  calls @p invalidate under the entry's lock when the task closes; it
 *  must release everything that reads the database. */
typedef struct ks__qcursor_s {
        void (*invalidate)(struct ks__qcursor_s *c);
        struct ks__qcursor_s *prev, *next;
} ks__qcursor_t;

/** A new, empty registry (NULL on OOM). */
ks__qreg_t *ks__qreg_new(void);

/** Free @p r; every task must have left it. NULL is a no-op. */
void ks__qreg_destroy(ks__qreg_t *r);

/** Enter task <@p sub>_<@p partition> with database @p db (NULL: no
 *  persistent store), not yet running. NULL when @p r is NULL or out of
 *  memory (the task is then simply not queryable). */
ks__qtask_t *ks__qreg_add(ks__qreg_t *r, int sub, int32_t partition,
                          ks__task_db_t *db);

/** The task of @p t runs: its state is published and queries may read it.
 *  NULL is a no-op. */
void ks__qreg_running(ks__qtask_t *t);

/** The group accepted a commit of the task of @p t: publish its state.
 *  NULL, or a task not running, is a no-op. */
void ks__qreg_committed(ks__qtask_t *t);

/** The task of @p t closes: wait for the read in progress, invalidate the
 *  attached cursors, leave the registry and drop its reference. NULL is a
 *  no-op. */
void ks__qreg_remove(ks__qtask_t *t);

/** Bumped whenever a task enters, starts or leaves (atomic). */
uint64_t ks__qreg_generation(ks__qreg_t *r);

/** The entry of task <@p sub>_<@p partition> with a reference, or NULL
 *  if this instance does not hold it. */
ks__qtask_t *ks__qreg_find(ks__qreg_t *r, int sub, int32_t partition);

/** Every entry of sub-topology @p sub, each with a reference, by
 *  ascending partition, in a malloc'd array (*cntp of them). -1 on OOM. */
int ks__qreg_list(ks__qreg_t *r, int sub, ks__qtask_t ***tasksp, size_t *cntp);

/** Drop a reference. NULL is a no-op. */
void ks__qtask_unref(ks__qtask_t *t);

/** Take @p t's lock (always; release with ks__qtask_unlock()) and say
 *  whether it may be read: KS_ERR_NO_ERROR (running: *dbp its database,
 *  *snapp its published snapshot, valid while the lock is held or a
 *  reference taken), KS_ERR_STORE_RESTORING (not running yet),
 *  KS_ERR_STORE_MIGRATED (closed). */
ks_err_t ks__qtask_lock(ks__qtask_t *t, ks__task_db_t **dbp,
                        ks__qsnap_t **snapp);
void ks__qtask_unlock(ks__qtask_t *t);

/** The RocksDB snapshot of @p s. */
const rocksdb_snapshot_t *ks__qsnap_get(const ks__qsnap_t *s);

/** Take or drop a reference to @p s, with its entry's lock held (NULL:
 *  no-op). */
void ks__qsnap_ref(ks__qsnap_t *s);
void ks__qsnap_unref(ks__qsnap_t *s);

/** The task's partition. */
int32_t ks__qtask_partition(const ks__qtask_t *t);

/** Attach or detach @p c (with the lock held; attach only to a running
 *  entry). */
void ks__qtask_attach(ks__qtask_t *t, ks__qcursor_t *c);
void ks__qtask_detach(ks__qtask_t *t, ks__qcursor_t *c);

#endif
