/* --config-file: librdkafka client properties as "key=value" lines, the
 * way Kafka's tools take a client.properties (security settings above
 * all). Blank lines and lines starting with '#' or '!' are skipped; space
 * around keys and values is trimmed. Each property goes through
 * rd_kafka_conf_set(), so a key librdkafka does not know or a bad value
 * is an error naming the file, the line and the key. */
#include "reset_int.h"

#include <errno.h>
#include <string.h>

/* Longest line taken (a longer one is an error, not cut short). */
#define LINE_MAX_LEN 8192

static char *trim(char *s) {
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                     s[n - 1] == '\n'))
                s[--n] = '\0';
        return s;
}

int ks__reset_load_props(rd_kafka_conf_t *conf, const char *path, char *err,
                         size_t errsize) {
        FILE *f = fopen(path, "r");
        if (!f) {
                snprintf(err, errsize, "--config-file %s: %s", path,
                         strerror(errno));
                return -1;
        }
        char line[LINE_MAX_LEN + 2];
        int ln = 0, rc = 0;
        while (!rc && fgets(line, sizeof(line), f)) {
                ln++;
                size_t n = strlen(line);
                if (n > LINE_MAX_LEN && line[n - 1] != '\n') {
                        snprintf(err, errsize,
                                 "--config-file %s:%d: line longer than %d "
                                 "characters",
                                 path, ln, LINE_MAX_LEN);
                        rc = -1;
                        break;
                }
                char *s = trim(line);
                if (!*s || *s == '#' || *s == '!')
                        continue;
                char *eq = strchr(s, '=');
                if (!eq) {
                        snprintf(err, errsize,
                                 "--config-file %s:%d: not key=value", path,
                                 ln);
                        rc = -1;
                        break;
                }
                *eq = '\0';
                char *key = trim(s), *value = trim(eq + 1), why[512];
                if (!*key) {
                        snprintf(err, errsize, "--config-file %s:%d: empty key",
                                 path, ln);
                        rc = -1;
                } else if (rd_kafka_conf_set(conf, key, value, why,
                                             sizeof(why)) != RD_KAFKA_CONF_OK) {
                        snprintf(err, errsize, "--config-file %s:%d: %s: %s",
                                 path, ln, key, why);
                        rc = -1;
                }
        }
        if (!rc && ferror(f)) {
                snprintf(err, errsize, "--config-file %s: read error", path);
                rc = -1;
        }
        fclose(f);
        return rc;
}
