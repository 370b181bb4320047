/* ThreadSanitizer builds only: C11 threads on POSIX threads.
 *
 * librdkafka runs its threads and takes its locks through C11's
 * thrd_create(), mtx_lock(), cnd_wait() ...; glibc implements those by
 * calling its pthread internals directly, which the sanitizer's
 * interceptors never see. A thread it does not know crashes in its
 * allocator, and locks it does not see make every hand-over between
 * librdkafka's threads and ours look like a race. Defined in the
 * executable, these functions take precedence over glibc's for librdkafka
 * and route everything through the pthread calls the sanitizer intercepts.
 * glibc's C11 types are its pthread types under other names. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

typedef struct {
        thrd_start_t fn;
        void *arg;
} start_t;

static void *trampoline(void *p) {
        start_t s = *(start_t *)p;
        free(p);
        return (void *)(intptr_t)s.fn(s.arg);
}

static int c11(int rc) {
        switch (rc) {
        case 0:
                return thrd_success;
        case EBUSY:
                return thrd_busy;
        case ETIMEDOUT:
                return thrd_timedout;
        case ENOMEM:
                return thrd_nomem;
        default:
                return thrd_error;
        }
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg) {
        start_t *s = malloc(sizeof(*s));
        if (!s)
                return thrd_nomem;
        s->fn = fn;
        s->arg = arg;
        int rc = pthread_create((pthread_t *)thr, NULL, trampoline, s);
        if (rc)
                free(s);
        return c11(rc);
}

int thrd_join(thrd_t thr, int *res) {
        void *r = NULL;
        int rc = pthread_join((pthread_t)thr, &r);
        if (!rc && res)
                *res = (int)(intptr_t)r;
        return c11(rc);
}

int thrd_detach(thrd_t thr) {
        return c11(pthread_detach((pthread_t)thr));
}

int mtx_init(mtx_t *m, int type) {
        pthread_mutexattr_t a;
        pthread_mutexattr_init(&a);
        if (type & mtx_recursive)
                pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
        int rc = pthread_mutex_init((pthread_mutex_t *)m, &a);
        pthread_mutexattr_destroy(&a);
        return c11(rc);
}

int mtx_lock(mtx_t *m) {
        return c11(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m) {
        return c11(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts) {
        return c11(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m) {
        return c11(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m) {
        pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c) {
        return c11(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c) {
        return c11(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c) {
        return c11(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m) {
        return c11(
                pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m,
                  const struct timespec *restrict ts) {
        return c11(pthread_cond_timedwait((pthread_cond_t *)c,
                                          (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c) {
        pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void)) {
        pthread_once((pthread_once_t *)flag, fn);
}
