#!/bin/sh
# The crash hook of the test builds (KSTREAMS_CRASH_POINT, read by
# tests/support/crash_point.c) is not in the production library: no byte
# sequence of its name in the shared library.
#   check_no_crash_hook.sh LIBRARY [CONTROL]
# CONTROL, a program linked with the hook, must contain the name: it shows
# that the search would find it.
set -eu
lib="$1"
[ -f "$lib" ] || { echo "no library at $lib"; exit 1; }
if [ $# -ge 2 ] && ! grep -a -q KSTREAMS_CRASH_POINT "$2"; then
        echo "the control $2 lacks KSTREAMS_CRASH_POINT: the search is broken"
        exit 1
fi
if grep -a -q KSTREAMS_CRASH_POINT "$lib"; then
        echo "$lib contains the string KSTREAMS_CRASH_POINT:"
        grep -a -o '[[:print:]]*KSTREAMS_CRASH_POINT[[:print:]]*' "$lib" |
                head -5
        exit 1
fi
echo "ok: $lib has no KSTREAMS_CRASH_POINT"
