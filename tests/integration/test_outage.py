"""The platform down (yibao_outage): known from the gateway's own
exchanges and from the operator's switch; a transaction that creates
state or moves money is refused at once with YB6020 (switch to 记账),
a read is answered from the cache; the probe brings the platform back."""

import json
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

import harness
from harness import ROOT, sim_get

from test_gateway_core import (CALLER, assert_rejected, envelope,
                               ready_clinic, send, township_clinic)
from test_journal import flow_until, sent, settled, wait_complete
import yibao_client as client

TOOL = os.path.join(ROOT, "tools", "yibao-offline")

DICT = {"type": "psn_cert_type", "parentValue": "", "admdvs": "370102",
        "date": "", "valiFlag": "1"}

API = """
        location = /yibao/outage { yibao_outage_api 127.0.0.1; }
        location = /yibao/outage-elsewhere { yibao_outage_api 10.9.9.9/32; }
"""


def outage(stack, method="GET", query="", path="/yibao/outage"):
    req = urllib.request.Request(stack.url + path + query, method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body.startswith(b"{") else None


def cli(stack, *args):
    p = subprocess.run([TOOL, "--url", stack.url + "/yibao/outage"]
                       + list(args), capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def settle_env(clinic):
    return envelope(clinic, infno="2207", inp={"data": {
        "psn_no": "37000000000000000001", "mdtrt_cert_type": "02",
        "mdtrt_cert_no": "370102195603152017", "med_type": "11",
        "medfee_sumamt": "10.00", "psn_setlway": "01",
        "mdtrt_id": "1" * 30, "chrg_bchno": "1", "insutype": "310",
        "acct_used_flag": "0", "invono": "", "fulamt_ownpay_amt": "0",
        "overlmt_selfpay": "0", "preselfpay_amt": "0",
        "inscp_scp_amt": "10.00"}})


def platform_requests(stack, infno):
    got = sim_get(stack, "requests?n=500&infno=%s" % infno)
    got = got["requests"] if isinstance(got, dict) else got
    return len(got)


def test_down_after_failures_refused_at_once_cache_served(make_stack):
    stack = make_stack(scheme="csb", platform=None, resolve="off",
                       http_extra="yibao_outage failures=2 retry=1h;",
                       server_extra=API)
    clinic = ready_clinic(stack)

    first = send(stack, envelope(clinic, infno="1901", inp=DICT))
    assert first.status == 200 and first.body["infcode"] == 0, first.body
    assert first.headers["X-Yibao-Cache"] == "MISS"

    assert outage(stack)[1]["state"] == "up"

    stack.stop_sim()

    # two exchanges fail as they always did (connection refused) ...
    for _ in range(2):
        r = send(stack, envelope(clinic))
        assert_rejected(r.status, r.body, 502, 6001)

    status, st = outage(stack)
    assert status == 200 and st["state"] == "down", st
    assert st["failures"] == 2 and st["switch"] == "auto"

    # ... then nothing is sent: a settlement is told to switch to 记账
    envs = [settle_env(clinic),
            envelope(clinic, infno="2201", inp={"data": {}}),
            envelope(clinic, infno="1901", inp=DICT),
            envelope(clinic)]
    r = send(stack, envs[0])
    assert_rejected(r.status, r.body, 503, 6020, "infno 2207", "记账",
                    "its exchanges failed")
    assert r.headers["Retry-After"] == "3600"
    r = send(stack, envs[1])
    assert_rejected(r.status, r.body, 503, 6020, "记账")

    # a read is answered from the cache; one without: refused at once
    r = send(stack, envs[2])
    assert r.status == 200 and r.body == first.body
    assert r.headers["X-Yibao-Cache"] == "HIT"
    r = send(stack, envs[3])
    assert_rejected(r.status, r.body, 503, 6020, "try again later")

    st = outage(stack)[1]
    assert st["refused"] == 3 and st["failures"] == 2

    # each worker writes its line after the answer has gone: the lines
    # are found by msgid, in whatever order the workers wrote them
    expect = dict(zip((e["msgid"] for e in envs),
                      ("YB6020", "YB6020", "", "YB6020")))

    def logged():
        with open(stack.access_log, encoding="utf-8") as f:
            got = {x["msgid"]: x for x in map(json.loads, f)
                   if x.get("msgid") in expect}
        return got if len(got) == len(expect) else None

    got = harness.wait_until("the four requests' log lines", logged)
    assert {m: x["error"] for m, x in got.items()} == expect
    assert all(x["upstream_status"] == "" for x in got.values()
               if x["error"] == "YB6020")

    text = harness.error_log_text(stack)
    assert text.count("yibao: platform down: a transaction failed") == 1

    # back, but retry=1h: no probe; the operator's switch sends again
    stack.start_sim()
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 503, 6020)
    assert platform_requests(stack, "1101") == 0

    status, st = outage(stack, "POST", "?switch=up")
    assert status == 200 and st["state"] == "up" and st["switch"] == "up"
    clinic = ready_clinic(stack)     # the simulator forgot its sign-ins
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert platform_requests(stack, "1101") == 1

    # that success is seen: auto now is up
    status, st = outage(stack, "POST", "?switch=auto")
    assert st["state"] == "up" and st["observed"] == "up", st
    assert "yibao: platform switch set to up by the operator" in \
        harness.error_log_text(stack)


def test_operator_switch_api_and_cli(make_stack):
    stack = make_stack(scheme="csb", server_extra=API,
                       http_extra="yibao_outage;")
    clinic = ready_clinic(stack)

    rc, out, err = cli(stack, "platform")
    assert rc == 0, err
    assert "platform" in out and "up" in out and "auto" in out

    rc, out, err = cli(stack, "platform", "--switch", "down")
    assert rc == 0, err
    assert "down" in out

    r = send(stack, settle_env(clinic))
    assert_rejected(r.status, r.body, 503, 6020, "the operator's switch",
                    "记账")
    assert r.headers["Retry-After"] == "30"
    # no probe however long: the operator said down
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 503, 6020)
    assert platform_requests(stack, "2207") == 0
    assert platform_requests(stack, "1101") == 0

    rc, out, err = cli(stack, "--json", "platform", "--switch", "auto")
    assert rc == 0, err
    assert json.loads(out)["state"] == "up"
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body

    # refused unless allowed; a switch must be named
    status, _ = outage(stack, path="/yibao/outage-elsewhere")
    assert status == 403
    rc, _, err = subprocess.run(
        [TOOL, "--url", stack.url + "/yibao/outage-elsewhere", "platform"],
        capture_output=True, text=True, timeout=30).returncode, None, None
    assert rc == 3
    status, body = outage(stack, "POST", "?switch=sideways")
    assert status == 400 and "switch=down" in body["error"]
    rc, _, err = cli(stack, "platform", "--switch", "sideways")
    assert rc == 2
    status, _ = outage(stack, "DELETE")
    assert status == 405


@pytest.mark.parametrize("use_redis", [False, True])
def test_repeat_answered_by_the_journal_while_down(make_stack, make_redis,
                                                   use_redis):
    """A 2207 settled, its answer lost by the clinic: repeated while the
    platform is down, it is the journal's answer (a replay), not YB6020
    (记账 would settle the visit twice); a new 2207 is refused, not sent,
    and its journal record is not left "sent"."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server, server_extra=API,
                       http_extra="yibao_outage;")
    clinic = township_clinic(stack)
    steps, envs = flow_until(stack, clinic)
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1]
    wait_complete(stack, envs["2207"]["msgid"])

    status, st = outage(stack, "POST", "?switch=down")
    assert status == 200 and st["state"] == "down", st

    again = send(stack, envs["2207"])
    assert again.status == 200, again.body
    assert again.headers["X-Yibao-Replay"] == "1"
    assert again.body == steps[-1][2]
    assert len(sent(stack, "2207")) == 1
    assert len(settled(stack)) == 1

    new = dict(envs["2207"], msgid=client.new_msgid(clinic["org"]))
    r = send(stack, new)
    assert_rejected(r.status, r.body, 503, 6020, "the operator's switch",
                    "记账")
    assert len(sent(stack, "2207")) == 1
    assert len(settled(stack)) == 1

    # claimed, then completed by the refusal: "failed", nothing sent
    record = wait_complete(stack, new["msgid"])
    assert record["state"] == "failed", record
    assert not record.get("answer") or "YB6020" in json.dumps(
        record, ensure_ascii=False), record
    assert record["gwerr"] == 6020 and record["infcode"] is None, record
    assert "was not sent" in record["reason"], record
    assert record["upstream_msgid"] == "" and "answer" not in record, record

    # the refusal is not taken as a failure of the platform
    assert outage(stack)[1]["switch"] == "down"


def test_probe_brings_the_platform_back(make_stack):
    stack = make_stack(scheme="csb", server_extra=API,
                       http_extra="yibao_outage failures=1 retry=300ms;")
    clinic = ready_clinic(stack)

    stack.stop_sim()
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 502, 6001)
    r = send(stack, settle_env(clinic))
    assert_rejected(r.status, r.body, 503, 6020, "记账")

    # the gateway's probes fail while it is away ...
    harness.wait_until("a probe failed", lambda: "yibao: platform down: "
                       "an exchange of the gateway's own failed"
                       in harness.error_log_text(stack))
    assert outage(stack)[1]["state"] in ("down", "probing")

    # ... and one succeeds once it is back
    stack.start_sim()
    harness.wait_until("the platform up",
                       lambda: outage(stack)[1]["state"] == "up")
    assert "yibao: platform up: an exchange of the gateway's own was " \
        "answered" in harness.error_log_text(stack)

    clinic = ready_clinic(stack)     # the simulator forgot its sign-ins
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body


def test_a_read_is_the_probe_without_yibao_platform(make_stack):
    stack = make_stack(scheme="csb", platform=None, resolve="off",
                       server_extra=API,
                       http_extra="yibao_outage failures=1 retry=100ms;")
    clinic = ready_clinic(stack)

    stack.stop_sim()
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 502, 6001)
    assert outage(stack)[1]["state"] == "down"
    stack.start_sim()

    # a settlement never probes; a read does once retry has passed
    r = send(stack, settle_env(clinic))
    assert_rejected(r.status, r.body, 503, 6020)
    harness.wait_until("a read got through", lambda: send(
        stack, envelope(clinic)).status == 200)
    assert outage(stack)[1]["state"] == "up"
    assert "yibao: platform probing: a transaction is the probe" in \
        harness.error_log_text(stack)
    assert platform_requests(stack, "2207") == 0


@pytest.mark.parametrize("params", [
    "probe=of", "probe=o", "probe=", "probe=onn", "failures=0",
    "failures=1001", "retry=50ms", "retry=soon", "prob=off"])
def test_bad_parameter_fails_nginx_t(make_stack, params):
    # probe=of was taken for probe=off (compared on the value's length)
    stack = make_stack(start=False, http_extra="yibao_outage %s;" % params)
    rc, out = stack.test_config()
    assert rc != 0, out
    assert 'invalid parameter "%s"' % params in out, out
    assert re.search(r"nginx\.conf:\d+", out), out


def test_good_parameters_pass_nginx_t(make_stack):
    stack = make_stack(start=False, http_extra="yibao_outage failures=1 "
                                               "retry=100ms probe=off;")
    rc, out = stack.test_config()
    assert rc == 0, out
