"""Memory checking of the module in nginx: no leak
grows with the number of requests.

nginx runs under valgrind memcheck, one process (master_process off), as
with make memcheck (YIBAO_VALGRIND=1, tools/yibao_stack.py).  The same
workload is run N times in one gateway and 2N times in another: the
bytes "definitely" and "indirectly" lost at exit must be the same (a
leak per request would double).  The make_stack fixture fails the test
on any memcheck error (harness.valgrind_problems)."""

import shutil
import time

import pytest

import harness

import yibao_client as client
from test_gateway_core import (CALLER, SECRET, envelope, ready_clinic,
                               send, township_clinic)

pytestmark = [
    pytest.mark.skipif(shutil.which("valgrind") is None,
                       reason="valgrind is not installed"),
    pytest.mark.skipif(not harness.yibao_stack.valgrind_env(),
                       reason="runs in make memcheck (YIBAO_VALGRIND=1)")]

N = 3
DICT = {"type": "psn_cert_type", "parentValue": "", "admdvs": "370102",
        "date": "", "valiFlag": "1"}


def workload(stack, clinic, i):
    """One of everything: a whole visit with its cancel, a cache miss
    and hit, a journal replay, a msgid reused, hostile bodies, a bad
    signature."""
    envs = {}

    def capture(env):
        envs[env["infno"]] = env
        return client.post(stack.url, CALLER, SECRET, env, timeout=60)

    steps = client.outpatient_flow(stack.url, CALLER, SECRET,
                                   clinic["org"], clinic["name"],
                                   clinic["admdvs"], send=capture,
                                   cancel=True)
    assert not client.flow_failed(steps), steps[-1]

    again = client.post(stack.url, CALLER, SECRET, envs["2207"],
                        timeout=60)
    assert again.headers.get("X-Yibao-Replay") == "1"
    other = dict(envs["2207"], input={"data": dict(
        envs["2207"]["input"]["data"], medfee_sumamt=1.0)})
    r = client.post(stack.url, CALLER, SECRET, other, timeout=60)
    assert r.status == 409

    signed = ready_clinic(stack)
    q = dict(DICT, type="psn_cert_type%d" % i)
    for want in ("MISS", "HIT"):
        r = send(stack, envelope(signed, infno="1901", inp=q), timeout=60)
        assert r.headers.get("X-Yibao-Cache") == want, r.headers
        time.sleep(0.3)

    for body in (b"{", b'{"infno":"1101","input":' + b"[" * 300 +
                 b"]" * 300 + b"}", b"\xff\xfe", b'{"infno":1}'):
        r = client.post(stack.url, CALLER, SECRET, body, timeout=60)
        assert r.status >= 400 and r.body["infcode"] == -1
    r = client.post(stack.url, CALLER, "wrong-secret-wrong-secret",
                    envelope(signed), timeout=60)
    assert r.status == 401


@pytest.mark.parametrize("use_redis", [False, True])
def test_no_leak_growth_per_request(make_stack, make_redis, use_redis):
    lost = []
    for n in (N, 2 * N):
        server = make_redis() if use_redis else None
        stack = make_stack(scheme="tif", valgrind=True, redis=server,
                           read_timeout="30s")
        clinic = township_clinic(stack)
        for i in range(n):
            workload(stack, clinic, i)
        stack.stop()
        assert not harness.valgrind_problems(stack)
        lost.append(harness.valgrind_lost(stack))
    print("MEMCHECK lost_bytes n=%d: %d, n=%d: %d" % (N, lost[0], 2 * N,
                                                       lost[1]))
    assert lost[0] == lost[1], \
        "definitely+indirectly lost grows with requests: %s" % lost
