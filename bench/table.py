#!/usr/bin/env python3
"""Prints the table of one benchmark run (its CSV) and plots it.

Each row's ratio is its records/s over its baseline's in the same run (for
latency rows, the baseline's p99 over the row's p99: above 1 is better);
"vs plain" is the ratio to the plain librdkafka passthrough of the same
input. The plot (gnuplot, SVG) goes next to the CSV."""
import csv
import os
import shutil
import subprocess
import sys

path = sys.argv[1]
runs = {}
for r in csv.DictReader(open(path)):
    runs.setdefault(r["case"], []).append(r)
# A case run more than once shows its median run (by records/s).
rows = []
for case, rs in runs.items():
    rs.sort(key=lambda r: float(r["records_per_s"]))
    row = dict(rs[len(rs) // 2])
    row["runs"] = len(rs)
    row["range"] = (float(rs[0]["records_per_s"]), float(rs[-1]["records_per_s"]))
    rows.append(row)
by = {r["case"]: r for r in rows}


def rps(r):
    return float(r["records_per_s"])


def ratio(r, b):
    if r["case"].startswith("latency/"):
        return float(b["p99_ms"]) / float(r["p99_ms"]) if float(r["p99_ms"]) else 0
    return rps(r) / rps(b) if rps(b) else 0


print(f"{'case':36} {'records/s':>10} {'proc s':>7} {'wall s':>7} {'cpu s':>6} "
      f"{'rss MB':>7} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} {'vs plain':>8} {'runs':>4}  baseline")
for r in rows:
    b = by.get(r["baseline"], r)
    group = r["case"].split("/")[0]
    plain = next((x for x in rows if x["case"].startswith(group + "/passthrough") or x["case"].startswith(group + "/direct")), None)
    lat = group == "latency"
    cpu = float(r["cpu_s"])
    rss = int(r["peak_rss_kb"]) / 1024
    vs = f"{ratio(r, plain):8.2f}" if plain and not lat else f"{'':8}"
    print(f"{r['case']:36} {rps(r):10.0f} {float(r['processing_s']):7.2f} "
          f"{float(r['wall_s']):7.2f} {cpu if cpu else float('nan'):6.2f} "
          f"{rss if rss else float('nan'):7.1f} "
          f"{float(r['p50_ms']) if lat else float('nan'):7.2f} "
          f"{float(r['p99_ms']) if lat else float('nan'):7.2f} "
          f"{ratio(r, b):6.2f} {vs} {r['runs']:4}  {'-' if b is r else r['baseline']}")
for r in rows:
    if r["runs"] > 1:
        lo, hi = r["range"]
        print(f"  {r['case']}: median of {r['runs']} runs, {lo:.0f} to {hi:.0f} records/s")
# The windowed and join cases side by side: kstreams-c over Kafka Streams on
# the same input (throughput above 1 is better; CPU and memory below 1).
pairs = [(r, by[r["baseline"]]) for r in rows
         if r["case"].split("/")[0] in ("windowed", "session", "join")
         and "kstreams-c" in r["case"] and r["baseline"] in by
         and "kafka-streams" in r["baseline"]]
if pairs:
    print(f"\n{'kstreams-c / Kafka Streams':36} {'records/s':>10} {'cpu s':>6} {'rss MB':>7}")
    for r, b in pairs:
        def q(key):
            x, y = float(r[key]), float(b[key])
            return x / y if y else float("nan")
        print(f"{r['case'].split(' ')[0]:36} {q('records_per_s'):10.2f} "
              f"{q('cpu_s'):6.2f} {q('peak_rss_kb'):7.2f}")
print(f"(records/s: latency rows show the offered rate; restore rows records "
      f"written to the store per second; windowed and session rows input "
      f"events per second; join rows input records of both topics per "
      f"second. CSV: {path})")

if shutil.which("gnuplot"):
    svg = os.path.splitext(path)[0] + ".svg"
    data = os.path.splitext(path)[0] + ".dat"
    with open(data, "w") as f:
        for i, r in enumerate(x for x in rows if not x["case"].startswith("latency/")):
            who = r["case"].split("/")[1]
            color = 1 if "kstreams-c" in who else 2 if "kafka-streams" in who else 3
            f.write(f'{i} {rps(r) / 1000:.1f} {color} "{r["case"]}"\n')
    script = f"""
set terminal svg size 900,480 font 'sans,11'
set output '{svg}'
set title 'Throughput per case (thousand records/s, log scale; one broker, 2 cores)'
set logscale y
set style fill solid 0.8
set boxwidth 0.7
set yrange [1:*]
set xtics rotate by -35 left font ',9'
set key off
set palette defined (1 '#1f77b4', 2 '#ff7f0e', 3 '#7f7f7f')
set cbrange [1:3]
unset colorbox
plot '{data}' using 1:2:3:xtic(4) with boxes lc palette, \\
     '' using 1:2:(sprintf('%.0f', $2)) with labels offset 0,0.7 font ',9'
"""
    subprocess.run(["gnuplot"], input=script.encode(), check=True)
    os.remove(data)
    print(f"(plot: {svg}; blue kstreams-c, orange Kafka Streams, grey plain librdkafka "
          f"or RocksDB)")
