"""The integration harness, in the spirit of nginx-tests' Test::Nginx:
a generated nginx.conf per test with free ports, the real Debian nginx
loading our module, the platform simulator (and, where a test needs it,
a real redis-server) on loopback, and an error-log check at teardown.
"""

import json
import os
import re
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import yibao_stack  # noqa: E402
from yibao_stack import Stack, free_port  # noqa: E402,F401

ENDPOINT = "/fsi/api/rsfComIfsService/callService"

# Every integration test fails when nginx logs one of these.
FATAL_LOG = re.compile(r"\[(alert|crit|emerg)\]|AddressSanitizer|"
                       r"LeakSanitizer|runtime error:|exited on signal")


# A deadline that only guards against a hang: a test waits for a state,
# never for a time, and a loaded machine or valgrind may take long to
# reach it.
HANG_GUARD = yibao_stack.hang_guard(yibao_stack.valgrind_env())


def wait_until(what, predicate, timeout=HANG_GUARD, interval=0.05):
    """predicate()'s first true value, polled; an AssertionError naming
    what once timeout (a hang guard) has passed."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("timed out (%.0f s) waiting for %s"
                                 % (timeout, what))
        time.sleep(interval)


def log_problems(path, allowed=()):
    """Lines of an nginx error log that fail any test; a test that
    provokes one on purpose lists a pattern for it in allowed."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip() for line in f if FATAL_LOG.search(line)
                and not any(re.search(a, line) for a in allowed)]


def sim_get(stack, what):
    with urllib.request.urlopen(stack.sim_url + "/__sim/" + what,
                                timeout=10) as r:
        return json.loads(r.read())


def sim_post(stack, what, payload=None, method="POST"):
    data = json.dumps(payload or {}).encode()
    req = urllib.request.Request(stack.sim_url + "/__sim/" + what, data=data,
                                 method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def error_log_text(stack):
    with open(stack.error_log, encoding="utf-8", errors="replace") as f:
        return f.read()


VALGRIND_SUMMARY = re.compile(r"ERROR SUMMARY: (\d+) errors")
VALGRIND_LOST = re.compile(r"(definitely|indirectly) lost: ([\d,]+) bytes")


def valgrind_problems(stack):
    """With YIBAO_VALGRIND=1 (make memcheck): the memcheck reports of
    the stack's nginx that have errors (an invalid access, a use of
    uninitialised memory, a definite leak not suppressed in
    tests/valgrind.supp), each with its log's text."""
    if not getattr(stack, "valgrind", False):
        return []
    out = []
    for path in stack.valgrind_logs:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        m = VALGRIND_SUMMARY.findall(text)
        if not m:
            out.append("%s: no ERROR SUMMARY (valgrind did not finish)"
                       % path)
        elif int(m[-1]) > 0:
            out.append("%s: %s errors\n%s" % (path, m[-1], text[-8000:]))
    return out


def valgrind_lost(stack):
    """Bytes definitely + indirectly lost at exit, summed over the
    stack's valgrind logs."""
    total = 0
    for path in stack.valgrind_logs:
        with open(path, encoding="utf-8", errors="replace") as f:
            for kind, n in VALGRIND_LOST.findall(f.read()):
                total += int(n.replace(",", ""))
    return total
