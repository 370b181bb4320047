#!/usr/bin/env bash
# The benchmark cases, run by bench/run.sh with KS_TEST_BOOTSTRAP set.
set -euo pipefail
bin="$1"
bs="$KS_TEST_BOOTSTRAP"
n="${BENCH_RECORDS:-1000000}"
size="${BENCH_SIZE:-100}"
parts=6
tag="bench-$$-$(date +%s)"
"$bin" create "$bs" "$tag-in" $parts
for c in passthrough stateless; do "$bin" create "$bs" "$tag-$c-out" $parts; done
echo "producing $n records of $size bytes to $tag-in ($parts partitions)" >&2
"$bin" produce "$bs" "$tag-in" "$n" "$size" $parts
mkdir -p bench/results
csv="bench/results/$(date +%Y%m%d-%H%M%S).csv"
echo "case,records,processing_s,wall_s,records_per_s,cpu_s,peak_rss_kb" > "$csv"
for c in passthrough stateless; do
        "$bin" "$c" "$bs" "$tag-in" "$tag-$c-out" "$n" >> "$csv"
done
python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
base = float(rows[0]["records_per_s"])
print(f"{'case':38} {'records/s':>12} {'proc s':>8} {'wall s':>8} {'cpu s':>7} {'rss MB':>7} {'ratio':>6}")
for r in rows:
    rps = float(r["records_per_s"])
    print(f"{r['case']:38} {rps:12.0f} {float(r['processing_s']):8.2f} {float(r['wall_s']):8.2f} "
          f"{float(r['cpu_s']):7.2f} {int(r['peak_rss_kb'])/1024:7.1f} {rps/base:6.2f}")
print(f"(ratio: records/s against the plain librdkafka passthrough; CSV: {sys.argv[1]})")
PY
