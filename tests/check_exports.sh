#!/bin/sh
# Every symbol the shared library exports is public API: it starts with ks_
# and is declared in include/kstreams/.
set -eu
lib="$1"
headers="$2"
bad=0
total=0
for sym in $(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDRB]$/ {print $3}'); do
        total=$((total + 1))
        case "$sym" in
        ks_*) ;;
        *) echo "not public: $sym"; bad=1; continue ;;
        esac
        if ! grep -rqw "$sym" "$headers"; then
                echo "exported but not declared in include/: $sym"
                bad=1
        fi
done
[ "$total" -gt 50 ] || { echo "only $total symbols exported"; exit 1; }
[ "$bad" -eq 0 ] && echo "ok: $total exported symbols, all ks_* and declared"
exit "$bad"
