#!/bin/sh
# The word-count example's endpoints on the real broker (redirects need
# the group's description, which the mock cluster lacks): the failover
# demo with --http and --serve, then every surviving instance asked for
# every word with a real HTTP client (scrape.py, redirects followed and
# some required), its metrics parsed, its health 200; then the demo
# stopped with SIGTERM must exit 0 (every final count equal the
# independent count, every instance closed cleanly).
#   wordcount_http.sh WORDCOUNT_BINARY PYTHON SCRAPE_PY
set -eu
bin="$1"
py="$2"
scrape="$3"
if [ -z "${KS_TEST_BOOTSTRAP:-}" ]; then
        echo "SKIP: needs the real Kafka broker (KS_TEST_BOOTSTRAP)"
        exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/wordcount-http.XXXXXX")
log="$dir/demo.log"
# Three consecutive free ports.
port=$("$py" - <<'PY'
import random, socket
for _ in range(200):
    base = random.randrange(20000, 60000)
    socks = []
    try:
        for p in range(base, base + 3):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
        print(base)
        break
    except OSError:
        pass
    finally:
        for s in socks:
            s.close()
PY
)
"$bin" --lines 3000 --seed 7 --http "$port" --serve "$dir/counts.txt" \
        --bootstrap-servers "$KS_TEST_BOOTSTRAP" >"$log" 2>&1 &
demo=$!
failed() {
        kill "$demo" 2>/dev/null || true
        tail -40 "$log"
        echo "$1"
        exit 1
}
# Up to three minutes for the demo to reach its serving phase.
i=0
until grep -q 'serving until' "$log"; do
        kill -0 "$demo" 2>/dev/null || failed "FAILED: the demo ended early"
        i=$((i + 1))
        [ "$i" -lt 1800 ] || failed "FAILED: the demo never served"
        sleep 0.1
done
urls=$(sed -n 's/.*serves \(http:[^ ]*\) .*/\1/p' "$log")
[ -n "$urls" ] || failed "FAILED: no instance serves"
for url in $urls; do
        "$py" "$scrape" "$url" --health 200 --processed-any \
                --counts "$dir/counts.txt" --redirects ||
                failed "FAILED: $url"
done
kill -TERM "$demo"
wait "$demo" || failed "FAILED: the demo exit status is $?"
grep -a '^OK\|serves http' "$log"
rm -rf "$dir"
