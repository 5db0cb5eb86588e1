#!/usr/bin/python3
"""`make run`: the demo gateway on 127.0.0.1:8080 in front of the platform
simulator on 127.0.0.1:9080, until Ctrl-C.

  YIBAO_SIGN=csb|tif|zj-sm3   the province's signing scheme (default csb)
  YIBAO_UPSTREAM=http://host:port   another platform instead of the
                                    simulator
  YIBAO_PORT, YIBAO_SIM_PORT, YIBAO_STATUS_PORT  other ports (8080, 9080,
                              8081)
  YIBAO_STORE=embedded        no Redis even if redis-server is there
  YIBAO_RESOLVE               how the gateway resolves unknown settlements,
                              through the platform (the simulator or
                              YIBAO_UPSTREAM): "query" (5203, the default;
                              it only reads), "reverse" (2601: undoes
                              them) or "off"; parameters may follow
                              (default: query interval=5s after=30s
                              attempts=20)
  YIBAO_AUDIT=off             no fee-line audit (default: the demo's rules
                              and lists of conf/demo/audit, and, with the
                              simulator, its 3101)
  YIBAO_DEMO_DIR              the working folder (build/demo): nginx.conf,
                              logs, data

A port is taken as free when a server can listen on it as nginx does
(SO_REUSEADDR): the connections a stopped demo left in TIME_WAIT do not
keep it from starting again at once.
"""

import os
import signal
import sys
import textwrap
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yibao_stack  # noqa: E402

# the demo resolves soon, to be seen at work
RESOLVE_TIMING = "interval=5s after=30s attempts=20"

RESOLVE_MODES = {"query": "a settlement query (5203)",
                 "reverse": "a reversal (2601)"}


def configured(conf, directive):
    """The arguments of directive in the nginx.conf as rendered (not in
    its comments), or None when it is not there."""
    with open(conf, encoding="utf-8") as f:
        for line in f:
            words = line.split("#", 1)[0].replace(";", " ").split()
            if words and words[0] == directive:
                return " ".join(words[1:])
    return None


def what_is_configured(conf):
    """What the gateway does by itself, read from its nginx.conf: the
    resolver of unknown settlements, the platform it sends to, sign-in."""
    resolve = configured(conf, "yibao_journal_resolve")
    platform = configured(conf, "yibao_platform")
    signin = configured(conf, "yibao_signin")
    mode = resolve.split()[0] if resolve else None
    if platform and (mode in RESOLVE_MODES
                     or (resolve is None and configured(conf,
                                                        "yibao_journal"))):
        # without the directive a platform and a journal resolve by query
        how = RESOLVE_MODES[mode or "query"]
        resolver = ("unknown settlements (2207, 2208) are resolved by the "
                    "gateway with %s through %s (yibao_journal_resolve %s)"
                    % (how, platform.split()[0], resolve or "query"))
    else:
        resolver = ("off: unknown settlements are left to the operators "
                    "(?state=unknown, docs/operations.md)")
    if signin and signin.split()[0] == "auto":
        signin = ("the gateway signs operators in (9001) when an envelope "
                  "has no sign_no")
    else:
        signin = "off: the callers sign in (9001) themselves"
    rules = configured(conf, "yibao_audit_rules")
    remote = configured(conf, "yibao_audit_platform")
    if rules:
        audit = ("2204 and 2206 fee lines checked by %s (docs/audit.md)%s"
                 % (rules, "; the platform's audit too: " + remote
                    if remote else ""))
    else:
        audit = "off (YIBAO_AUDIT=off)"
    return {k: textwrap.fill(v, 76, initial_indent=" " * 14,
                             subsequent_indent=" " * 14).lstrip()
            for k, v in (("resolver", resolver), ("signin", signin),
                         ("audit", audit))}


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
    # else everything stays in the gateway's shared memory.  Its journal
    # must survive a restart of Redis (and of the demo): an AOF in the
    # demo's folder, written to disk every second
    redis = None
    if os.environ.get("YIBAO_STORE", "redis") == "redis":
        try:
            redis = yibao_stack.Redis(os.path.join(workdir, "redis"),
                                      persist="aof-everysec").start()
        except (OSError, RuntimeError) as e:
            print("make run: no redis-server (%s): using the embedded "
                  "store" % e, file=sys.stderr)
            redis = None

    # the gateway resolves unknown settlements by itself through the
    # platform it proxies to (yibao_stack renders yibao_platform for the
    # simulator or YIBAO_UPSTREAM alike): by query (5203) unless told
    # otherwise; with the simulator it also signs operators in when an
    # envelope comes without sign_no (9001)
    resolve = os.environ.get("YIBAO_RESOLVE", "").strip() or "query"
    if resolve.split()[0] not in ("query", "reverse", "off"):
        sys.exit("make run: YIBAO_RESOLVE must be query, reverse or off, "
                 "with parameters or not")
    if resolve in ("query", "reverse"):
        resolve += " " + RESOLVE_TIMING
    extra = {"http_extra": ""}
    if not upstream:
        extra = dict(http_extra="    yibao_signin auto;\n")

    # the fee-line audit with the demo's rules and lists (docs/audit.md);
    # with the simulator, its 3101 too; YIBAO_AUDIT=off leaves it out
    audit = os.environ.get("YIBAO_AUDIT", "on").strip() != "off"
    if audit:
        demo_audit = os.path.join(yibao_stack.DEMO_DATA, "audit")
        extra["http_extra"] += (
            "    yibao_audit_rules %s history_key=data/audit-history.key;\n"
            "    yibao_audit_lists %s;\n"
            % (os.path.join(demo_audit, "rules.tsv"),
               os.path.join(demo_audit, "lists.tsv")))
        if not upstream and resolve != "off":
            extra["http_extra"] += ("    yibao_audit_platform on=2204 "
                                    "infno=3101 trig_scen=2 timeout=800ms "
                                    "mode=warn map=%s;\n"
                                    % os.path.join(yibao_stack.ROOT, "conf",
                                                   "audit-3101.tsv"))
        extra["location_extra"] = "yibao_audit on;"

    stack = yibao_stack.Stack(workdir, scheme=scheme, upstream=upstream,
                              listen=port, sim_port=sim_port, redis=redis,
                              status_port=status_port, resolve=resolve,
                              **extra)

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
  journal     %(url)s/yibao/journal (tools/yibao-journal)
  resolver    %(resolver)s
  sign-in     %(signin)s
  audit       %(audit)s

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
        "conf": stack.path("nginx.conf"), "status": stack.status_url,
        "logs": stack.path("logs"),
        "data": stack.path("data"),
        "store": ("redis at 127.0.0.1:%d (limits, nonces, cache, journal "
                  "shared by gateway nodes; AOF in %s)"
                  % (redis.port, redis.workdir)) if redis
                 else "embedded (shared memory of this node)",
        "callers": "\n".join("  %-20s %s" % (c[0], c[1]) for c in callers),
        "client": os.path.relpath(client), "c0": callers[0][0],
        "s0": callers[0][1], "org": clinic[0], "name": clinic[1],
        "admdvs": clinic[2], **what_is_configured(stack.path("nginx.conf"))},
        flush=True)

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
