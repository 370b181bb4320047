/* ThreadSanitizer builds only: a deliberate data race between two threads
 * of the program's own code, which the sanitizer must report (the test is
 * registered as expected to fail). It keeps the ThreadSanitizer run
 * honest: a build without the sanitizer, or suppressions that hid the
 * program's own races, would make it pass and the suite fail. */
#include <pthread.h>
#include <stdio.h>

static long shared;

static void *bump(void *arg) {
        (void)arg;
        for (int i = 0; i < 100000; i++)
                shared++;
        return NULL;
}

int main(void) {
        pthread_t a, b;
        pthread_create(&a, NULL, bump, NULL);
        pthread_create(&b, NULL, bump, NULL);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        printf("%ld\n", shared);
        return 0;
}
