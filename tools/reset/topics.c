/* Topic names: lists of them, Kafka's naming rules, and which names are an
 * application's internal topics.
 *
 * The library names every internal topic "<application.id>-<name>-<kind>"
 * (src/topology/internal_topics.c, src/dsl): changelogs of stores,
 * duplicate marks included ("-changelog"), repartition topics of
 * group-by, repartition() and joins ("-repartition", "-left-repartition",
 * "-right-repartition"), and the two topics of a foreign-key join
 * ("-subscription-registration", "-subscription-response"). Only names of
 * that shape are ever taken for internal topics; through topics the user
 * names are the user's. */
#include "reset_int.h"

#include <stdlib.h>
#include <string.h>

int ks__reset_list_add(ks__reset_list_t *l, const char *s) {
        char **v = realloc(l->v, (l->cnt + 1) * sizeof(*v));
        if (!v)
                return -1;
        l->v = v;
        if (!(v[l->cnt] = strdup(s)))
                return -1;
        l->cnt++;
        return 0;
}

int ks__reset_list_has(const ks__reset_list_t *l, const char *s) {
        for (size_t i = 0; i < l->cnt; i++)
                if (!strcmp(l->v[i], s))
                        return 1;
        return 0;
}

void ks__reset_list_clear(ks__reset_list_t *l) {
        for (size_t i = 0; i < l->cnt; i++)
                free(l->v[i]);
        free(l->v);
        l->v = NULL;
        l->cnt = 0;
}

int ks__reset_topic_name_ok(const char *t) {
        size_t n = strlen(t);
        if (n == 0 || n > 249 || !strcmp(t, ".") || !strcmp(t, ".."))
                return 0;
        for (const char *c = t; *c; c++)
                if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                      (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
                      *c == '-'))
                        return 0;
        return 1;
}

static const char *const kinds[] = {"-changelog", "-repartition",
                                    "-subscription-registration",
                                    "-subscription-response"};

int ks__reset_is_internal(const char *app_id, const char *topic) {
        size_t al = strlen(app_id), tl = strlen(topic);
        if (!al || !ks__reset_topic_name_ok(topic) || tl <= al + 1 ||
            strncmp(topic, app_id, al) || topic[al] != '-')
                return 0;
        const char *rest = topic + al + 1; /* "<name>-<kind>" */
        size_t rl = tl - al - 1;
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
                size_t kl = strlen(kinds[i]);
                if (rl > kl && !strcmp(rest + rl - kl, kinds[i]))
                        return 1;
        }
        return 0;
}

int ks__reset_split_topics(const char *opt, const char *csv,
                           ks__reset_list_t *l, char *err, size_t errsize) {
        const char *p = csv;
        for (;;) {
                size_t n = strcspn(p, ",");
                char name[256];
                if (n == 0 || n >= sizeof(name)) {
                        snprintf(err, errsize,
                                 "%s: \"%s\": %s topic name in the list", opt,
                                 csv, n ? "a too long" : "an empty");
                        return -1;
                }
                memcpy(name, p, n);
                name[n] = '\0';
                if (!ks__reset_topic_name_ok(name)) {
                        snprintf(err, errsize,
                                 "%s: \"%s\" is not a valid topic name "
                                 "(1..249 characters of [a-zA-Z0-9._-])",
                                 opt, name);
                        return -1;
                }
                if (!ks__reset_list_has(l, name) &&
                    ks__reset_list_add(l, name)) {
                        snprintf(err, errsize, "out of memory");
                        return -1;
                }
                if (!p[n])
                        return 0;
                p += n + 1;
        }
}
