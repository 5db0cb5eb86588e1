#!/usr/bin/python3
"""`make run`: the demo gateway on 127.0.0.1:8080 in front of the platform
simulator on 127.0.0.1:9080, until Ctrl-C.

  YIBAO_SIGN=csb|tif|zj-sm3   the province's signing scheme (default csb)
  YIBAO_UPSTREAM=http://host:port   another platform instead of the
                                    simulator
  YIBAO_PORT, YIBAO_SIM_PORT, YIBAO_STATUS_PORT  other ports (8080, 9080,
                              8081)
  YIBAO_STORE=embedded        no Redis even if redis-server is there
  YIBAO_DEMO_DIR              the working folder (build/demo): nginx.conf,
                              logs, data

A port is taken as free when a server can listen on it as nginx does
(SO_REUSEADDR): the connections a stopped demo left in TIME_WAIT do not
keep it from starting again at once.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yibao_stack  # noqa: E402


def main():
    scheme = os.environ.get("YIBAO_SIGN", "csb")
    upstream = os.environ.get("YIBAO_UPSTREAM") or None
    port = int(os.environ.get("YIBAO_PORT", "8080"))
    sim_port = int(os.environ.get("YIBAO_SIM_PORT", "9080"))
    status_port = int(os.environ.get("YIBAO_STATUS_PORT", "8081"))

    if scheme not in yibao_stack.SCHEMES:
        sys.exit("make run: YIBAO_SIGN must be one of %s"
                 % ", ".join(yibao_stack.SCHEMES))

    for p in [port, status_port] + ([] if upstream else [sim_port]):
        if not yibao_stack.port_bindable(p):
            sys.exit("make run: port %d on 127.0.0.1 is in use; stop what "
                     "uses it or set YIBAO_PORT, YIBAO_STATUS_PORT or "
                     "YIBAO_SIM_PORT" % p)

    workdir = os.path.abspath(os.environ.get("YIBAO_DEMO_DIR")
                              or os.path.join(yibao_stack.ROOT, "build",
                                              "demo"))

    # the shared store: a real redis-server when one can be started here,
    # else everything stays in the gateway's shared memory
    redis = None
    if os.environ.get("YIBAO_STORE", "redis") == "redis":
        try:
            redis = yibao_stack.Redis(os.path.join(workdir, "redis")).start()
        except (OSError, RuntimeError) as e:
            print("make run: no redis-server (%s): using the embedded "
                  "store" % e, file=sys.stderr)
            redis = None

    # the gateway resolves unknown settlements by itself (5203) and signs
    # operators in when an envelope comes without sign_no (9001), through
    # the simulator; with an external platform, configure it by hand
    extra = {}
    if not upstream:
        extra = dict(
            http_extra="    yibao_journal_resolve query interval=5s "
                       "after=30s attempts=20;\n    yibao_signin auto;\n",
            location_extra="            yibao_platform "
                           "http://127.0.0.1:%d timeout=5s;\n" % sim_port)

    stack = yibao_stack.Stack(workdir, scheme=scheme, upstream=upstream,
                              listen=port, sim_port=sim_port, redis=redis,
                              status_port=status_port, **extra)

    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    stack.start()

    callers = yibao_stack.read_tsv(stack.path("data", "callers.tsv"))
    clinics = yibao_stack.read_tsv(stack.path("data", "clinics.tsv"))
    clinic = next(c for c in clinics if c[3] == "township")
    client = os.path.join(yibao_stack.ROOT, "tools", "yibao-client")

    print("""
yibao-gateway demo is running (signing scheme: %(scheme)s)

  gateway     %(url)s/fsi/api/rsfComIfsService/callService
  platform    %(upstream)s
  status      %(status)s/yibao/status.html (JSON: /yibao/status,
              Prometheus: /yibao/metrics)
  nginx conf  %(conf)s
  logs        %(logs)s/error.log, access.log (one JSON line per
              transaction, nothing else), http.log (every other request)
  data        %(data)s (keys, clinics, callers, mappings)
  store       %(store)s
  journal     %(url)s/yibao/journal (tools/yibao-journal); unknown
              settlements are resolved by the gateway with 5203

demo callers (id / secret):
%(callers)s

send a whole outpatient flow (9001 1101 2201 2203 2204 2206 2207) for a
village clinic that settles through its township hospital:

  %(client)s --gateway %(url)s --caller %(c0)s --secret %(s0)s \\
      flow --clinic %(org)s --name %(name)s --admdvs %(admdvs)s

Ctrl-C stops everything.
""" % {
        "scheme": scheme, "url": stack.url,
        "upstream": upstream or stack.sim_url + " (simulator)",
        "conf": stack.path("nginx.conf"), "status": stack.status_url, "logs": stack.path("logs"),
        "data": stack.path("data"),
        "store": ("redis at 127.0.0.1:%d (limits, nonces, cache shared "
                  "by gateway nodes)" % redis.port) if redis
                 else "embedded (shared memory of this node)",
        "callers": "\n".join("  %-20s %s" % (c[0], c[1]) for c in callers),
        "client": os.path.relpath(client), "c0": callers[0][0],
        "s0": callers[0][1], "org": clinic[0], "name": clinic[1],
        "admdvs": clinic[2]}, flush=True)

    try:
        while not stopping:
            if stack.nginx.poll() is not None:
                print("make run: nginx exited; see %s"
                      % stack.error_log, file=sys.stderr)
                return 1
            if stack.sim is not None and stack.sim.poll() is not None:
                print("make run: the simulator exited; see %s"
                      % stack.path("logs", "sim.log"), file=sys.stderr)
                return 1
            time.sleep(0.3)
    finally:
        stack.stop()
        if redis is not None:
            redis.stop()
        print("make run: stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
