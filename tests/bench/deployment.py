#!/usr/bin/python3
"""Throughput of the gateway as deployed (`make bench`): CPU per request.

The front nginx runs conf/gateway.conf.template as shipped (csb signing,
one yibao_limit by entity, the journal, the transaction log, the
default caches), with 1 worker, in front of the canned local platform
of tests/bench/throughput.py (a plain nginx answering at once: a 1101
answer, or a 2204 answer of 50 result rows).  Cases, per transaction:

  proxy_<infno>        plain nginx proxy_pass, the same body (reference)
  tx<infno>_shm        the gateway with the embedded store
  tx<infno>_redis      the gateway with a real redis-server

for the 579-byte 1101 and the 2204 of 50 fee lines of
tests/bench/callgrind.py (each 2204 with a msgid of its own: it is
journaled).  Every request has a fresh nonce (and msgid); the driver
signs them beforehand, the wrk script (throughput.lua) splices them in.

Each case runs with 1 connection (wrk -t1 -c1) and with 32 (wrk -t1
-c32); the figure is the CPU time (user + system, /proc/<pid>/stat) of
the front nginx's worker, and of redis-server, during the measured run
divided by its requests.  The cases run in rounds (proxy_1101,
tx1101_shm, tx1101_redis, proxy_2204, ...; BENCH_DEPLOY_ROUNDS, 3),
each gateway case's CPU is compared with the proxy of its own round,
and the line of a case is the round with the median added CPU:

  BENCH deploy <case> conns=<n> rps=<x> cpu_us_per_req=<x>
      [redis_cpu_us_per_req=<x>] added_us_vs_proxy=<x> rps_ratio=<x>
      p50_ms=<x> p99_ms=<x> rounds=3 added_rounds=<a>/<b>/<c> ...

The machine's load average is printed before each round.  Settings:
BENCH_DEPLOY_ROUNDS, BENCH_DEPLOY_DURATION (s at 32 connections, 5),
BENCH_DEPLOY_C1 (s at 1 connection, 3), BENCH_DEPLOY_CASES,
BENCH_DEPLOY_CONNS ("1,32"), BENCH_DEPLOY_ZONE (yibao_zone, 1024m: a
2204's journal record with its 25 KB answer takes about 27 KB),
BENCH_PERF=1 (perf record of the front worker per run).
"""

import hashlib
import hmac
import os
import re
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import callgrind as cg  # noqa: E402
import throughput as tp  # noqa: E402
import yibao_stack  # noqa: E402

env = os.environ.get
ROUNDS = int(env("BENCH_DEPLOY_ROUNDS", "3"))
DURATION = int(env("BENCH_DEPLOY_DURATION", "5"))
C1_SECONDS = int(env("BENCH_DEPLOY_C1", "3"))
WARMUP = 1
CONNS = [int(c) for c in env("BENCH_DEPLOY_CONNS", "1,32").split(",") if c]
ZONE = env("BENCH_DEPLOY_ZONE", "1024m")

# one limit by entity, as the template's entity quota, that never
# refuses within a run
LIMITS = ("yibao_limit name=entity-quota by=entity rate=1000r/s "
          "burst=1000000;",)

# the most requests a second a case is expected to reach (the size of
# the files of signed requests; a file used up says exhausted=)
CAP = {"1101": 20000, "2204": 4000, "proxy": 40000}

MARK = b"@@@@@@@@"


def bodies():
    """{infno: body}; the 2204's msgid ends in MARK."""
    b2204 = cg.body_2204().replace(cg.MSGID_MARK.encode(),
                                   b"2024011508" + MARK)
    return {"1101": tp.request_body("own"), "2204": b2204}


def write_lines(path, n, ts, body, start, sign=True):
    """n lines "NONCE SIGNATURE [DIGITS]" for one timestamp; with MARK
    in the body, each request's msgid ends in its own 8 digits (start,
    start + 1, ...) and its signature is over that body.  sign=False
    (for plain proxy_pass, which checks nothing): the same lines with a
    dummy signature, made without hashing."""
    rand = os.urandom(8).hex()
    if not sign:
        with open(path, "w") as f:
            for i in range(n):
                f.write("%s%016d %s %08d\n" % (rand, i, "0" * 64,
                                               start + i))
        return
    mac = hmac.new(tp.SECRET.encode(), digestmod=hashlib.sha256)
    head = "POST\n%s\n%s\n" % (tp.PATH, ts)
    at = body.find(MARK)
    if at >= 0:
        before = hashlib.sha256(body[:at])
        after = body[at + len(MARK):]
    else:
        body_hash = hashlib.sha256(body).hexdigest()
    with open(path, "w") as f:
        for i in range(n):
            nonce = "%s%016d" % (rand, i)
            extra = ""
            if at >= 0:
                digits = "%08d" % (start + i)
                h = before.copy()
                h.update(digits.encode())
                h.update(after)
                body_hash = h.hexdigest()
                extra = " " + digits
            m = mac.copy()
            m.update((head + nonce + "\n" + body_hash).encode())
            f.write(nonce + " " + m.hexdigest() + extra + "\n")


class Run:
    """One case's servers: the front (and Redis) for all its runs."""

    def __init__(self, name, infno, store, workdir, upstream, module):
        self.name, self.infno, self.store = name, infno, store
        self.workdir = workdir
        self.redis = None
        self.stack = None
        self.plain = None
        self.next_msgid = 1
        if store is None:
            self.plain = tp.PlainNginx(
                workdir, tp.PROXY_CONF, 1,
                upstream="127.0.0.1:%d" % upstream.port)
            self.plain.start()
            self.url = self.plain.url
            self.error_log = self.plain.error_log
            return
        if store == "redis":
            self.redis = yibao_stack.Redis(os.path.join(workdir, "redis"))
            self.redis.start()
        # Redis's command timeout 2 s, not the default 100 ms: on the
        # shared machine a loaded Redis would open the circuit and the
        # case would measure requests that never reached it
        st = tp.BenchStack(workdir, scheme="csb",
                           upstream="127.0.0.1:%d" % upstream.port,
                           workers=1, log_level="notice", limits=LIMITS,
                           redis=self.redis, module=module,
                           redis_options="timeout=2s" if self.redis else "")
        st.zone = ZONE
        self.stack = st
        st.start()
        if self.redis is not None:
            st.wait_redis()
        self.url = st.url
        self.error_log = st.error_log

    def pids(self):
        master = self.stack.nginx if self.stack else self.plain.proc
        procs = {"front": tp.workers_of(master.pid)}
        if self.redis is not None:
            procs["redis"] = [self.redis.proc.pid]
        return procs

    def stop(self):
        if self.stack is not None:
            self.stack.stop()
        if self.plain is not None:
            self.plain.stop()
        if self.redis is not None:
            self.redis.stop()

    def wrk(self, body_path, body, conns, seconds, tag):
        """One wrk run with its own signed requests; its WRKRESULT and
        the CPU seconds each process used meanwhile."""
        n = CAP["proxy" if self.plain else self.infno] * seconds + 2000
        if conns == 1:
            n = n // 2 + 2000
        ts = str(int(time.time()))
        prefix = os.path.join(self.workdir, "lines-%s" % tag)
        write_lines(prefix + "-0.txt", n, ts, body, self.next_msgid,
                    sign=self.plain is None)
        self.next_msgid += n
        cmd = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
               "--latency", "--timeout", "5s", "-s", tp.LUA,
               self.url + tp.PATH, "--", prefix, body_path, tp.CALLER, ts]
        procs = self.pids()
        cpu0 = dict((k, tp.cpu_seconds(v)) for k, v in procs.items())
        perf = None
        if env("BENCH_PERF") and tag != "warmup":
            perf = subprocess.Popen(
                ["perf", "record", "-g", "-F", "999", "-o",
                 os.path.join(self.workdir, "perf-%s.data" % tag), "-p",
                 ",".join(str(p) for p in procs["front"])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        p = subprocess.run(cmd, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        cpu1 = dict((k, tp.cpu_seconds(v)) for k, v in procs.items())
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        os.unlink(prefix + "-0.txt")
        with open(os.path.join(self.workdir, "wrk-%s.log" % tag), "w") as f:
            f.write(" ".join(cmd) + "\n" + p.stdout + p.stderr)
        m = re.search(r"^WRKRESULT (.*)$", p.stdout, re.M)
        if p.returncode != 0 or not m:
            raise RuntimeError("wrk failed (%s): %s" % (
                p.returncode, (p.stderr or p.stdout)[-500:]))
        res = dict(kv.split("=", 1) for kv in m.group(1).split())
        for k, v in res.items():
            if k != "statuses":
                res[k] = int(v)
        res["rps"] = res["requests"] * 1e6 / max(res["duration_us"], 1)
        res["errors"] = (res["requests"] - res["ok"] + res["connect"]
                         + res["read"] + res["write"] + res["timeout"])
        res["cpu_us"] = dict(
            (k, (cpu1[k] - cpu0[k]) * 1e6 / max(res["requests"], 1))
            for k in procs)
        return res


CASES = [
    ("proxy_1101", "1101", None), ("tx1101_shm", "1101", "shm"),
    ("tx1101_redis", "1101", "redis"),
    ("proxy_2204", "2204", None), ("tx2204_shm", "2204", "shm"),
    ("tx2204_redis", "2204", "redis"),
]


def load():
    return "%.2f %.2f %.2f" % os.getloadavg()


def run_case(name, infno, store, workdir, upstream, module, body_path,
             body):
    """{conns: result} of one case in one round."""
    os.makedirs(workdir)
    run = Run(name, infno, store, workdir, upstream, module)
    out = {}
    try:
        warm = run.wrk(body_path, body, 32, WARMUP, "warmup")
        if warm["errors"]:
            raise RuntimeError("warm-up: %d errors, statuses %s (%s)" % (
                warm["errors"], warm["statuses"], workdir))
        for conns in CONNS:
            secs = C1_SECONDS if conns == 1 else DURATION
            out[conns] = run.wrk(body_path, body, conns, secs,
                                 "c%d" % conns)
        if run.redis is not None:
            n = warm["requests"] + sum(r["requests"] for r in out.values())
            tp.log("deploy: %s: redis commands per request: %s" % (
                name, commandstats(run.redis.port, n)))
        problems = tp.log_problems(run.error_log)
        if problems:
            tp.log("%s: error.log: %s" % (name, problems[0].strip()[:300]))
    finally:
        run.stop()
    return out


def commandstats(port, requests):
    """Redis's commands (INFO commandstats) per request: "evalsha 3.00
    x 21.4 us, ..." (the commands inside a script are counted too)."""
    p = subprocess.run(["redis-cli", "-p", str(port), "INFO",
                        "commandstats"], capture_output=True, text=True)
    out = []
    for m in re.finditer(r"^cmdstat_([\w|]+):calls=(\d+),usec=(\d+)",
                         p.stdout, re.M):
        cmd, calls, usec = m.group(1), int(m.group(2)), int(m.group(3))
        if calls >= requests / 2 and requests:
            out.append("%s %.2f x %.1f us" % (cmd, calls / requests,
                                             usec / float(calls)))
    return ", ".join(out) or "-"


def report(name, conns, rounds):
    """rounds: [(res, proxy res)]; the round with the median added CPU."""
    def added(r):
        res, proxy = r
        return res["cpu_us"]["front"] - proxy["cpu_us"]["front"]

    ordered = sorted(rounds, key=added)
    res, proxy = ordered[(len(ordered) - 1) // 2]
    line = ["BENCH deploy %s conns=%d rps=%d cpu_us_per_req=%.1f" % (
        name, conns, round(res["rps"]), res["cpu_us"]["front"])]
    if "redis" in res["cpu_us"]:
        line.append("redis_cpu_us_per_req=%.1f" % res["cpu_us"]["redis"])
    if proxy is not res:
        line.append("added_us_vs_proxy=%.1f rps_ratio=%.2f" % (
            added((res, proxy)), res["rps"] / proxy["rps"]))
    line.append("p50_ms=%.2f p99_ms=%.2f" % (res["p50_us"] / 1000.0,
                                            res["p99_us"] / 1000.0))
    line.append("rounds=%d" % len(rounds))
    if proxy is not res:
        line.append("added_rounds=" + "/".join(
            "%.1f" % added(r) for r in rounds))
    else:
        line.append("cpu_rounds=" + "/".join(
            "%.1f" % r[0]["cpu_us"]["front"] for r in rounds))
    if "redis" in res["cpu_us"]:
        line.append("redis_rounds=" + "/".join(
            "%.1f" % r[0]["cpu_us"]["redis"] for r in rounds))
    errors = sum(r[0]["errors"] for r in rounds)
    exhausted = sum(r[0]["exhausted"] for r in rounds)
    if errors:
        line.append("errors=%d" % errors)
    if exhausted:
        line.append("exhausted=%d" % exhausted)
    print(" ".join(line), flush=True)
    return errors or exhausted


def main():
    if shutil.which("wrk") is None:
        print("BENCH deploy skipped reason=\"wrk is not installed "
              "(make deps)\"")
        return 1
    if not os.path.exists(yibao_stack.MODULE):
        print("BENCH deploy skipped reason=\"no module (make module)\"")
        return 1
    wanted = [c for c in env("BENCH_DEPLOY_CASES", "").split(",") if c]
    cases = [c for c in CASES if not wanted or c[0] in wanted
             or c[0].startswith("proxy_")]
    base = os.path.join(tp.ROOT, "build", "bench", "deployment")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    module = os.path.join(base, os.path.basename(yibao_stack.MODULE))
    shutil.copyfile(yibao_stack.MODULE, module)

    bods = bodies()
    paths = {}
    for infno, body in bods.items():
        paths[infno] = os.path.join(base, "body-%s.json" % infno)
        with open(paths[infno], "wb") as f:
            f.write(body)
    ups = {"1101": tp.PlainNginx(os.path.join(base, "upstream-1101"),
                                 tp.UPSTREAM_CONF, 1,
                                 answer=tp.compact(tp.ANSWER_1101)).start(),
           "2204": tp.PlainNginx(os.path.join(base, "upstream-2204"),
                                 cg.long_answer_conf(cg.answer_2204()),
                                 1).start()}
    tp.log("deploy: %d CPUs, the template as shipped (csb, one limit by "
           "entity, journal, transaction log), 1 worker; wrk -t1 at %s "
           "connections, %d s (1 connection: %d s) after %d s; 1101 %d B, "
           "2204 (50 lines) %d B; %d rounds"
           % (os.cpu_count(), "/".join(map(str, CONNS)), DURATION,
              C1_SECONDS, WARMUP, len(bods["1101"]), len(bods["2204"]),
              ROUNDS))
    results = {}        # (case, conns): [(res, proxy res)]
    status = 0
    try:
        for rnd in range(1, ROUNDS + 1):
            tp.log("deploy: round %d of %d, load average %s"
                   % (rnd, ROUNDS, load()))
            proxies = {}
            for name, infno, store in cases:
                wd = os.path.join(base, "%s-%d" % (name, rnd))
                try:
                    out = run_case(name, infno, store, wd, ups[infno],
                                   module, paths[infno], bods[infno])
                except Exception as e:  # noqa: report, go on
                    print("BENCH deploy %s failed reason=\"%s\""
                          % (name, str(e).replace('"', "'")[:300]),
                          flush=True)
                    status = 1
                    continue
                if store is None:
                    proxies[infno] = out
                for conns, res in out.items():
                    proxy = proxies.get(infno, {}).get(conns)
                    if proxy is None:
                        continue
                    results.setdefault((name, conns), []).append(
                        (res, proxy))
                    tp.log("deploy: %s c%d round %d: rps %d, front %.1f us"
                           "%s" % (name, conns, rnd, round(res["rps"]),
                                   res["cpu_us"]["front"],
                                   ", redis %.1f us" % res["cpu_us"]["redis"]
                                   if "redis" in res["cpu_us"] else ""))
    finally:
        for up in ups.values():
            up.stop()
    tp.log("deploy: load average at the end %s" % load())
    for conns in CONNS:
        for name, _, _ in cases:
            if (name, conns) in results:
                if report(name, conns, results[(name, conns)]):
                    status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
