#!/usr/bin/python3
"""Clinic coverage reports over a province's registry (`make bench`).

A gateway (tools/yibao_stack.py, the simulator behind it) with a
registry of CLINICS clinics from tools/gen-registry.py, and traffic from
ACTIVE of them through it (a sign-in each; every 10th also a read
without signing in, which the platform refuses); then each report of
/yibao/coverage, as JSON and CSV, ROUNDS times, timed from the request
to the last byte (the worker copies every slot, renders, sends):

  BENCH coverage_http report=<r> format=<f> median_ms=X max_ms=Y bytes=N

then COLD times, after a reload (new workers), the first 4 reports of
every clinic in JSON:

  BENCH coverage_http_cold round=<k> report=clinics format=json ms=a,b,c,d

and the zone: its size for CLINICS clinics and per 10,000.  Settings:
YIBAO_BENCH_COVERAGE_CLINICS (50000), _ACTIVE (1000), _ROUNDS (5),
_COLD (3).
Standard library only.
"""

import concurrent.futures
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import yibao_client as client  # noqa: E402
import yibao_stack  # noqa: E402

CLINICS = int(os.environ.get("YIBAO_BENCH_COVERAGE_CLINICS", "50000"))
ACTIVE = int(os.environ.get("YIBAO_BENCH_COVERAGE_ACTIVE", "1000"))
ROUNDS = int(os.environ.get("YIBAO_BENCH_COVERAGE_ROUNDS", "5"))
COLD_ROUNDS = int(os.environ.get("YIBAO_BENCH_COVERAGE_COLD", "3"))
REPORTS = ("silent", "failing", "never_activated", "townships", "weekly",
           "summary", "clinics")


def get(stack, query):
    conn = http.client.HTTPConnection("127.0.0.1", stack.status_port,
                                      timeout=120)
    t0 = time.monotonic()
    conn.request("GET", "/yibao/coverage" + query)
    r = conn.getresponse()
    data = r.read()
    ms = (time.monotonic() - t0) * 1000
    conn.close()
    if r.status != 200:
        raise RuntimeError("%s: HTTP %d %s" % (query, r.status, data[:200]))
    return ms, len(data)


def traffic(stack, clinics, caller, secret):
    def one(c):
        env = client.make_envelope("9001", {"signIn": {
            "opter_no": "001", "mac": "00:16:3e:00:00:01",
            "ip": "127.0.0.1"}}, c[0], c[1], c[2])
        client.post(stack.url, caller, secret, env)
        if hash(c[0]) % 10 == 0:
            env = client.make_envelope("1101", {"data": {
                "mdtrt_cert_type": "02", "mdtrt_cert_no": "",
                "card_sn": "", "begntime": "", "psn_cert_type": "01",
                "certno": "", "psn_name": ""}}, c[0], c[1], c[2])
            client.post(stack.url, caller, secret, env)

    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(one, clinics))


def main():
    work = tempfile.mkdtemp(prefix="yibao-bench-coverage-",
                            dir=os.path.join(ROOT, "build", "bench"))
    data = os.path.join(work, "registry")
    subprocess.run(["/usr/bin/python3",
                    os.path.join(ROOT, "tools", "gen-registry.py"),
                    "--clinics", str(CLINICS), "--out", data, "--seed", "3"],
                   check=True, capture_output=True)
    stack = yibao_stack.Stack(os.path.join(work, "gateway"), data_dir=data,
                              translate=False, log_level="warn")
    stack.start()
    try:
        rows = yibao_stack.read_tsv(os.path.join(data, "clinics.tsv"))
        caller = next(r for r in yibao_stack.read_tsv(
            os.path.join(data, "callers.tsv"))
            if r[0] == "village-subsystem")
        t0 = time.monotonic()
        traffic(stack, rows[::max(1, len(rows) // ACTIVE)][:ACTIVE],
                caller[0], caller[1])
        print("coverage: %d clinics, traffic of %d in %.1f s"
              % (len(rows), ACTIVE, time.monotonic() - t0), flush=True)
        worst = 0.0
        for report in REPORTS:
            for fmt in ("json", "csv"):
                times, size = [], 0
                for _ in range(ROUNDS):
                    ms, size = get(stack, "?report=%s&format=%s"
                                   % (report, fmt))
                    times.append(ms)
                worst = max(worst, max(times))
                print("BENCH coverage_http report=%s format=%s "
                      "median_ms=%.0f max_ms=%.0f bytes=%d"
                      % (report, fmt, statistics.median(times), max(times),
                         size), flush=True)
        # cold workers: after a reload the new workers have neither the
        # copy's buffer nor the render's memory, nor the zone's pages
        # mapped; their first reports of the whole list
        cold = []
        for k in range(COLD_ROUNDS):
            old = set(stack.serving_pids())
            stack.reload()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and \
                    set(stack.serving_pids()) & old:
                time.sleep(0.1)
            times = [get(stack, "?report=clinics&format=json")[0]
                     for _ in range(4)]
            cold += times[:2]
            print("BENCH coverage_http_cold round=%d report=clinics "
                  "format=json ms=%s" % (k, ",".join("%.0f" % t
                                                     for t in times)),
                  flush=True)
        print("BENCH coverage_http_cold first_two_median_ms=%.0f max_ms=%.0f"
              % (statistics.median(cold), max(cold)), flush=True)
        slot = 257
        need = ((len(rows) * slot + 65536) * 128 // 127 + 1)
        per10k = ((10000 * slot + 65536) * 128 // 127 + 1)
        print("BENCH coverage_zone clinics=%d bytes=%d per_10000=%d "
              "worst_report_ms=%.0f" % (len(rows), need, per10k, worst))
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
