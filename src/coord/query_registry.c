/* The query registry (see query_registry_int.h): a table of entry
 * pointers under one mutex; each entry has its own mutex, state and list
 * of attached cursors, and an atomic reference count. */
#include "query_registry_int.h"

#include <pthread.h>
#include <stdlib.h>

#include "../state/store_view_int.h"

typedef enum { QT_OPEN, QT_RUNNING, QT_CLOSED } qt_state_t;

struct ks__qsnap_s {
        ks__task_db_t *db;
        const rocksdb_snapshot_t *snap;
        int refs; /* under the entry's lock */
};

struct ks__qtask_s {
        ks__qreg_t *reg;
        int sub;
        int32_t partition;
        ks__task_db_t *db;
        pthread_mutex_t lock;
        qt_state_t state;       /* written under lock */
        ks__qcursor_t *cursors; /* under lock */
        ks__qsnap_t *snap;      /* under lock: the published state */
        int refs;               /* atomic */
};

struct ks__qreg_s {
        pthread_mutex_t lock;
        ks__qtask_t **tasks;
        size_t cnt, cap;
        uint64_t gen; /* atomic */
};

ks__qreg_t *ks__qreg_new(void) {
        ks__qreg_t *r = calloc(1, sizeof(*r));
        if (r)
                pthread_mutex_init(&r->lock, NULL);
        return r;
}

void ks__qreg_destroy(ks__qreg_t *r) {
        if (!r)
                return;
        free(r->tasks);
        pthread_mutex_destroy(&r->lock);
        free(r);
}

static void bump(ks__qreg_t *r) {
        __atomic_add_fetch(&r->gen, 1, __ATOMIC_SEQ_CST);
}

uint64_t ks__qreg_generation(ks__qreg_t *r) {
        return __atomic_load_n(&r->gen, __ATOMIC_SEQ_CST);
}

ks__qtask_t *ks__qreg_add(ks__qreg_t *r, int sub, int32_t partition,
                          ks__task_db_t *db) {
        if (!r)
                return NULL;
        ks__qtask_t *t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->reg = r;
        t->sub = sub;
        t->partition = partition;
        t->db = db;
        t->refs = 1;
        pthread_mutex_init(&t->lock, NULL);
        pthread_mutex_lock(&r->lock);
        if (r->cnt == r->cap) {
                size_t nc = r->cap ? r->cap * 2 : 16;
                ks__qtask_t **nt = realloc(r->tasks, nc * sizeof(*nt));
                if (!nt) {
                        pthread_mutex_unlock(&r->lock);
                        pthread_mutex_destroy(&t->lock);
                        free(t);
                        return NULL;
                }
                r->tasks = nt;
                r->cap = nc;
        }
        r->tasks[r->cnt++] = t;
        pthread_mutex_unlock(&r->lock);
        bump(r);
        return t;
}

const rocksdb_snapshot_t *ks__qsnap_get(const ks__qsnap_t *s) {
        return s->snap;
}

void ks__qsnap_ref(ks__qsnap_t *s) {
        if (s)
                s->refs++;
}

void ks__qsnap_unref(ks__qsnap_t *s) {
        if (!s || --s->refs)
                return;
        ks__task_db_release_snapshot(s->db, s->snap);
        free(s);
}

/* Publish the task's state now (with its lock held). A task without a
 * database, or out of memory, publishes nothing: queries then find its
 * store unreadable. */
static void publish(ks__qtask_t *t) {
        ks__qsnap_t *s = t->db ? calloc(1, sizeof(*s)) : NULL;
        if (s && !(s->snap = ks__task_db_snapshot(t->db))) {
                free(s);
                s = NULL;
        }
        if (!s)
                return;
        s->db = t->db;
        s->refs = 1;
        ks__qsnap_unref(t->snap);
        t->snap = s;
}

void ks__qreg_running(ks__qtask_t *t) {
        if (!t)
                return;
        pthread_mutex_lock(&t->lock);
        t->state = QT_RUNNING;
        publish(t);
        pthread_mutex_unlock(&t->lock);
        bump(t->reg);
}

void ks__qreg_committed(ks__qtask_t *t) {
        if (!t)
                return;
        pthread_mutex_lock(&t->lock);
        if (t->state == QT_RUNNING)
                publish(t);
        pthread_mutex_unlock(&t->lock);
}

void ks__qreg_remove(ks__qtask_t *t) {
        if (!t)
                return;
        pthread_mutex_lock(&t->lock);
        t->state = QT_CLOSED;
        while (t->cursors) {
                ks__qcursor_t *c = t->cursors;
                ks__qtask_detach(t, c);
                c->invalidate(c);
        }
        ks__qsnap_unref(t->snap);
        t->snap = NULL;
        t->db = NULL;
        pthread_mutex_unlock(&t->lock);
        ks__qreg_t *r = t->reg;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; i < r->cnt; i++)
                if (r->tasks[i] == t) {
                        r->tasks[i] = r->tasks[--r->cnt];
                        break;
                }
        pthread_mutex_unlock(&r->lock);
        bump(r);
        ks__qtask_unref(t);
}

ks__qtask_t *ks__qreg_find(ks__qreg_t *r, int sub, int32_t partition) {
        ks__qtask_t *found = NULL;
        pthread_mutex_lock(&r->lock);
        for (size_t i = 0; !found && i < r->cnt; i++)
                if (r->tasks[i]->sub == sub &&
                    r->tasks[i]->partition == partition)
                        found = r->tasks[i];
        if (found)
                __atomic_add_fetch(&found->refs, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(&r->lock);
        return found;
}

static int by_partition(const void *a, const void *b) {
        int32_t pa = (*(ks__qtask_t *const *)a)->partition;
        int32_t pb = (*(ks__qtask_t *const *)b)->partition;
        return (pa > pb) - (pa < pb);
}

int ks__qreg_list(ks__qreg_t *r, int sub, ks__qtask_t ***tasksp, size_t *cntp) {
        pthread_mutex_lock(&r->lock);
        ks__qtask_t **v = malloc((r->cnt + 1) * sizeof(*v));
        size_t n = 0;
        for (size_t i = 0; v && i < r->cnt; i++)
                if (r->tasks[i]->sub == sub) {
                        v[n++] = r->tasks[i];
                        __atomic_add_fetch(&r->tasks[i]->refs, 1,
                                           __ATOMIC_SEQ_CST);
                }
        pthread_mutex_unlock(&r->lock);
        if (!v)
                return -1;
        qsort(v, n, sizeof(*v), by_partition);
        *tasksp = v;
        *cntp = n;
        return 0;
}

void ks__qtask_unref(ks__qtask_t *t) {
        if (!t || __atomic_sub_fetch(&t->refs, 1, __ATOMIC_SEQ_CST))
                return;
        pthread_mutex_destroy(&t->lock);
        free(t);
}

ks_err_t ks__qtask_lock(ks__qtask_t *t, ks__task_db_t **dbp,
                        ks__qsnap_t **snapp) {
        pthread_mutex_lock(&t->lock);
        *dbp = t->db;
        *snapp = t->snap;
        if (t->state == QT_CLOSED)
                return KS_ERR_STORE_MIGRATED;
        if (t->state != QT_RUNNING)
                return KS_ERR_STORE_RESTORING;
        return t->snap ? KS_ERR_NO_ERROR : KS_ERR_STORE;
}

void ks__qtask_unlock(ks__qtask_t *t) {
        pthread_mutex_unlock(&t->lock);
}

int32_t ks__qtask_partition(const ks__qtask_t *t) {
        return t->partition;
}

void ks__qtask_attach(ks__qtask_t *t, ks__qcursor_t *c) {
        c->prev = NULL;
        c->next = t->cursors;
        if (t->cursors)
                t->cursors->prev = c;
        t->cursors = c;
}

void ks__qtask_detach(ks__qtask_t *t, ks__qcursor_t *c) {
        if (c->prev)
                c->prev->next = c->next;
        else
                t->cursors = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
}
