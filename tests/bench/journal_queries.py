#!/usr/bin/python3
"""Journal queries (issue 5, item 5): how long the operators' queries
take over a day of records, with Redis (index sets) and with the
embedded store (a bounded scan of the zone).

FLOWS outpatient flows (9001 ... 2207, six journaled transactions each)
of one clinic, four at a time, then each query five times; prints
"BENCH journal_query store=... query=... records=N median_ms=X" lines.
"""

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import yibao_client as client  # noqa: E402
import yibao_stack  # noqa: E402
from test_gateway_core import CALLER, SECRET, township_clinic  # noqa: E402

FLOWS = int(os.environ.get("YIBAO_BENCH_JOURNAL_FLOWS", "200"))


def timed(stack, query):
    t = time.monotonic()
    with urllib.request.urlopen(stack.url + query, timeout=120) as r:
        body = json.loads(r.read())
    return (time.monotonic() - t) * 1000, body


def run(store, workdir):
    redis = yibao_stack.Redis(os.path.join(workdir, "redis")).start() \
        if store == "redis" else None
    stack = yibao_stack.Stack(os.path.join(workdir, store), scheme="none",
                              redis=redis, limits=())
    try:
        stack.start()
        time.sleep(0.5)
        c = township_clinic(stack)

        def worker(n):
            for _ in range(n):
                steps = client.outpatient_flow(stack.url, CALLER, SECRET,
                                               c["org"], c["name"],
                                               c["admdvs"])
                assert steps[-1][1] == 200, steps[-1]

        threads = [threading.Thread(target=worker, args=(FLOWS // 4,))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        for name, query in (
                ("clinic", "/yibao/journal?clinic=" + c["org"]),
                ("problems", "/yibao/journal?problems=today"),
                ("totals", "/yibao/journal/totals?entity=" + c["entity"]),
                ("miss", "/yibao/journal?setl_id=nosuch")):
            runs = [timed(stack, query) for _ in range(5)]
            body = runs[0][1]
            n = len(body) if isinstance(body, list) \
                else body["all"]["fixmedins_setl_cnt"]
            print("BENCH journal_query store=%s query=%s records=%d "
                  "median_ms=%.1f" % (store, name, n,
                                      statistics.median(r[0]
                                                        for r in runs)))
    finally:
        stack.stop()
        if redis is not None:
            redis.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="yibao-bench-journal-") as d:
        for store in ("redis", "zone"):
            run(store, d)


if __name__ == "__main__":
    main()
