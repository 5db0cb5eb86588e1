#!/usr/bin/python3
"""make soak: a bounded run at a realistic mix with
Redis; resident memory of the nginx workers must not grow after the
warm-up.

Clinic threads run outpatient flows (9001, 1101 x3, 2201, 2203, 2204,
2206, 2207: mostly 1101, 2204, 2206, 2207; tools/yibao_load.py) against
one gateway with two workers, Redis for limits, nonces and the journal,
the default cache policies.  Every SOAK_SAMPLE seconds the VmRSS of each
worker (/proc/PID/status) is read.  After the warm-up (the first
SOAK_WARMUP share of the run) the mean of the first samples is compared
with the mean of the last ones: growth <= SOAK_MAX_GROWTH % passes.

The memory compared is the workers' own resident memory: VmRSS less
RssShmem.  The shared zones (yibao_zone, yibao_status_zone) are mapped at
their configured size when nginx starts; a worker's RssShmem grows as it
first touches their pages (nonces and journal records kept in the zone
while Redis does not answer), up to that size, and is no leak.  VmRSS and
RssShmem are printed as well.

Prints one line:
  SOAK rss_start_kb=.. rss_end_kb=.. growth_pct=.. requests=.. errors=..
  vmrss_start_kb=.. vmrss_end_kb=.. vmrss_growth_pct=.. shmem_start_kb=..
  shmem_end_kb=.. ...
and exits 1 on too much growth, on errors or on a worker that changed.

Environment: SOAK_SECONDS (600), SOAK_THREADS (4), SOAK_SAMPLE (3),
SOAK_WARMUP (0.2), SOAK_MAX_GROWTH (1.0), SOAK_DIR (a temporary folder).
"""

import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import yibao_load  # noqa: E402
import yibao_stack  # noqa: E402

CALLER = "village-subsystem"
SECRET = "demo-village-subsystem-secret-0001"


def env_num(name, default):
    return type(default)(os.environ.get(name, default))


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sample(pids):
    """(VmRSS, RssAnon, RssShmem) summed over the workers, in kB."""
    return tuple(sum(status_kb(p, k) for p in pids)
                 for k in ("VmRSS", "RssAnon", "RssShmem"))


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def main():
    seconds = env_num("SOAK_SECONDS", 600)
    threads = env_num("SOAK_THREADS", 4)
    every = env_num("SOAK_SAMPLE", 3.0)
    warmup = env_num("SOAK_WARMUP", 0.2)
    max_growth = env_num("SOAK_MAX_GROWTH", 1.0)
    workdir = os.environ.get("SOAK_DIR") or tempfile.mkdtemp(
        prefix="yibao-soak-")
    keep = bool(os.environ.get("SOAK_DIR"))

    redis = yibao_stack.Redis(os.path.join(workdir, "redis")).start()
    stack = yibao_stack.Stack(
        os.path.join(workdir, "stack"), scheme="csb", redis=redis,
        log_level="warn", read_timeout="10s",
        limits=("yibao_limit name=entity-quota by=entity rate=600000r/m "
                "burst=60000;",
                "yibao_limit name=clinic by=clinic rate=600000r/m "
                "burst=60000;"))
    ok = False
    try:
        stack.start()
        time.sleep(1)
        workers = stack.worker_pids()
        clinics = [dict(zip(("org", "name", "admdvs", "mode", "entity"),
                            r)) for r in yibao_stack.read_tsv(
                                stack.path("data", "clinics.tsv"))]
        clinics = [c for c in clinics if c["org"] != c["entity"]]
        load = yibao_load.Load(stack.url, CALLER, SECRET, clinics,
                               threads=threads, timeout=30, keep=False,
                               retries_2207=0).start()

        samples = []            # (t, rss, anon)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            time.sleep(every)
            if stack.worker_pids() != workers:
                print("soak: the workers changed: %s -> %s"
                      % (workers, stack.worker_pids()))
                break
            samples.append((time.monotonic() - t0,) + sample(workers)
                           + (load.count,))
        stopped = load.stop(timeout=60)

        after = [s for s in samples if s[0] >= seconds * warmup]
        n = max(1, min(5, len(after) // 10))

        def first_last(f):
            a = mean([f(s) for s in after[:n]])
            b = mean([f(s) for s in after[-n:]])
            return a, b, (b - a) * 100.0 / a if a else 0.0

        start, end, growth = first_last(lambda s: s[1] - s[3])
        vm_start, vm_end, vm_growth = first_last(lambda s: s[1])
        anon_start, anon_end, anon_growth = first_last(lambda s: s[2])
        sh_start, sh_end, _ = first_last(lambda s: s[3])
        errors = load.errors
        print("SOAK rss_start_kb=%d rss_end_kb=%d growth_pct=%.2f "
              "requests=%d errors=%d seconds=%d workers=%d "
              "vmrss_start_kb=%d vmrss_end_kb=%d vmrss_growth_pct=%.2f "
              "shmem_start_kb=%d shmem_end_kb=%d "
              "anon_start_kb=%d anon_end_kb=%d anon_growth_pct=%.2f"
              % (start, end, growth, load.count, errors, seconds,
                 len(workers), vm_start, vm_end, vm_growth, sh_start,
                 sh_end, anon_start, anon_end, anon_growth))
        # the curve: ten points, and every sample in samples.tsv
        with open(os.path.join(workdir, "samples.tsv"), "w") as f:
            f.write("# seconds\tvmrss_kb\trss_anon_kb\trss_shmem_kb\t"
                    "requests\n")
            for s in samples:
                f.write("%.1f\t%d\t%d\t%d\t%d\n" % s)
        step = max(1, len(samples) // 10)
        print("soak: t_s vmrss_kb anon_kb shmem_kb requests: " + ", ".join(
            "%d %d %d %d %d" % (s[0], s[1], s[2], s[3], s[4])
            for s in samples[::step] + samples[-1:]))
        for r in load.snapshot()[:5]:
            print("soak: error: %s %s %s %s" % (r["infno"], r["status"],
                                                r["err_msg"], r["exc"]))
        ok = stopped and errors == 0 and growth <= max_growth \
            and len(after) >= 2 and stack.worker_pids() == workers
        if not ok:
            print("soak: FAILED (growth %.2f%% > %.2f%%, errors %d, "
                  "samples %d, threads stopped %s)"
                  % (growth, max_growth, errors, len(after), stopped))
    finally:
        stack.stop()
        redis.stop()
        if ok and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("soak: logs and samples.tsv in %s" % workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
