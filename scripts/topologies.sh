#!/usr/bin/env bash
# Render the topology of every example as SVG into docs/topologies/ with
# Graphviz (Debian package graphviz): each example prints its topology as
# DOT when run with KS_DESCRIBE_DOT=1 and exits without running.
#   scripts/topologies.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
command -v dot >/dev/null || {
        echo "needs Graphviz's dot (apt-get install graphviz)" >&2
        exit 1
}
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
for ex in wordcount pageviews users-per-region alerts sessions admatch; do
        # (an example may print a line about its broker first)
        KS_DESCRIBE_DOT=1 "$build/examples/$ex" | sed -n '/^digraph/,$p' \
                >"docs/topologies/$ex.dot"
        dot -Tsvg "docs/topologies/$ex.dot" >"docs/topologies/$ex.svg"
        echo "docs/topologies/$ex.svg"
done
