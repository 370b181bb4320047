#!/usr/bin/env python3
"""Check an application's HTTP endpoint with a real HTTP client.

  scrape.py URL --health CODE [--processed N | --processed-any]
            [--counts FILE] [--dot] [--redirects]

/health must answer CODE. With --processed, /metrics must parse with the
Prometheus client library's parser, hold the stable family names below,
and its threads' process-total samples must sum to N. With --counts
(lines "word count"), GET /stores/counts/<word> must answer each count
within 30 s (a query sees the last commit; redirects followed, and with
--redirects some must be), and an unknown word 404. With --dot, /topology?
format=dot must be a digraph naming every sub-topology.
"""
import argparse
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

FAMILIES = [
    "kstreams_stream_state",
    "kstreams_stream_alive_stream_threads",
    "kstreams_stream_thread_process",
    "kstreams_stream_thread_process_rate",
    "kstreams_stream_thread_process_latency_avg",
    "kstreams_stream_thread_poll",
    "kstreams_stream_thread_commit",
    "kstreams_stream_thread_commit_latency_max",
    "kstreams_stream_task_process",
    "kstreams_stream_task_records_lag",
    "kstreams_stream_task_dropped_records",
    "kstreams_stream_record_cache_hit_ratio",
    "kstreams_stream_rocksdb_size_all_mem_tables",
    "kstreams_stream_rocksdb_live_sst_files_size",
]


redirected = 0


def get(url):
    """GET url (redirects followed): status and body."""
    global redirected
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            if r.geturl() != url:
                redirected += 1
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fail(msg):
    print("FAILED:", msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--health", type=int, required=True)
    ap.add_argument("--processed", type=int)
    ap.add_argument("--processed-any", action="store_true",
                    help="/metrics must parse; any process-total will do")
    ap.add_argument("--counts")
    ap.add_argument("--dot", action="store_true")
    ap.add_argument("--redirects", action="store_true",
                    help="some words must be answered by another instance")
    a = ap.parse_args()

    code, body = get(a.url + "/health")
    if code != a.health:
        fail(f"/health answered {code} {body!r}, want {a.health}")
    print(f"/health: {code} {body.decode().strip()}")

    if a.processed is not None or a.processed_any:
        code, body = get(a.url + "/metrics")
        if code != 200:
            fail(f"/metrics answered {code}")
        families = {f.name: f for f in
                    text_string_to_metric_families(body.decode())}
        missing = [n for n in FAMILIES if n not in families]
        if missing:
            fail(f"/metrics lacks {missing}")
        total = sum(s.value for s in
                    families["kstreams_stream_thread_process"].samples
                    if s.name == "kstreams_stream_thread_process_total")
        if a.processed is not None and total != a.processed:
            fail(f"threads processed {total}, want {a.processed}")
        print(f"/metrics: {len(families)} families, "
              f"{sum(len(f.samples) for f in families.values())} samples, "
              f"process-total {total:.0f}")

    if a.counts:
        n = 0
        with open(a.counts) as f:
            for line in f:
                word, count = line.split()
                url = a.url + "/stores/counts/" + urllib.parse.quote(word)
                # A query sees the last commit: a count may be behind by
                # a commit interval (and 503 while a task moves).
                deadline = time.monotonic() + 30
                while True:
                    code, body = get(url)
                    if code == 200 and body.decode().strip() == count:
                        break
                    if time.monotonic() > deadline:
                        fail(f"GET {url}: {code} {body!r}, want {count}")
                    time.sleep(0.1)
                n += 1
        code, _ = get(a.url + "/stores/counts/no-such-word")
        if code != 404:
            fail(f"an unknown word answered {code}, want 404")
        code, _ = get(a.url + "/stores/no-such-store/x")
        if code != 404:
            fail(f"an unknown store answered {code}, want 404")
        print(f"/stores/counts: {n} words answered as counted, "
              f"{redirected} through a redirect to their instance")
        if a.redirects and not redirected:
            fail("no word was redirected to another instance")

    if a.dot:
        code, body = get(a.url + "/topology?format=dot")
        text = body.decode()
        if code != 200 or not text.startswith("digraph topology {"):
            fail(f"/topology?format=dot answered {code} {text[:80]!r}")
        for s in ("Sub-topology 0", "Sub-topology 1"):
            if s not in text:
                fail(f"the DOT graph lacks {s}")
        print("/topology?format=dot: a digraph of 2 sub-topologies")


main()
