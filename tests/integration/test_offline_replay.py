"""补录 (yibao_offline_replay): 记账 records replayed once the platform
answers again, each as a fresh 9001 -> 1101 -> 2201 -> 2203 -> 2204 ->
2206 with the visit's own times and new msgids, stopping at pending
with the 2206's result; by itself when the platform comes back (auto)
or on an operator's command; one driver per record (claimed in the
zone); a lost platform, a restart, a racing command never register a
visit twice; refusals reject the record with the platform's message;
异地 records wait."""

import base64
import json
import os
import re
import subprocess
import threading

import harness
from harness import ROOT, sim_get, sim_post, wait_until

import yibao_sim
from test_gateway_core import township_clinic
from test_journal_restart import stop_nginx
from test_offline import ID_NUMBER, SERVER, api, record, visit

TOOL = os.path.join(ROOT, "tools", "yibao-offline")
STEPS = ["9001", "1101", "2201", "2203", "2204", "2206"]


def replay_stack(make_stack, mode="manual", extra=""):
    stack = make_stack(
        scheme="csb", server_extra=SERVER,
        http_extra="yibao_offline file=offline.jsonl; "
                   "yibao_offline_replay %s; %s" % (mode, extra))
    return stack


def take(stack, clinic, **kw):
    r = record(stack, visit(clinic, **kw))
    assert r.status == 200, r.body
    return r.body["output"]["offline"]["id"]


def state_of(stack, rid):
    return api(stack, "?id=" + rid)[1]


def wait_state(stack, rid, *states):
    wait_until("record %s to be %s" % (rid, "/".join(states)),
               lambda: state_of(stack, rid)["state"] in states)
    return state_of(stack, rid)


def sent(stack, since=0):
    """The infnos the simulator got, in order, from request since."""
    reqs = sim_get(stack, "requests?n=100000")["requests"][since:]
    return [(q.get("envelope") or {}).get("infno") for q in reqs]


def replay(stack, rid=None):
    return api(stack, "?replay=1" + ("&id=" + rid if rid else ""), "POST")


def answer_fault(stack, infno, msg):
    body = json.dumps({"infcode": -1, "err_msg": msg,
                       "output": None}).encode()
    sim_post(stack, "fault", {"mode": "answer", "infno": infno,
                              "body_b64": base64.b64encode(body).decode()})


def test_replayed_when_the_platform_is_back(make_stack):
    stack = replay_stack(make_stack, "auto",
                         "yibao_outage failures=1 retry=300ms;")
    clinic = township_clinic(stack)

    stack.stop_sim()
    rid = take(stack, clinic)
    assert state_of(stack, rid)["state"] == "recorded"

    # the platform comes back: the probe sees it, the record is replayed
    stack.start_sim()
    rec = wait_state(stack, rid, "pending")
    assert rec["verified"] is True

    # what the platform computed, to be confirmed
    assert sent(stack).count("2206") == 1
    assert [i for i in sent(stack) if i in STEPS] == STEPS
    assert "2207" not in sent(stack)
    assert rec["psn_cash"] not in ("", None)
    assert rec["mdtrt_id"]

    # the visit's own time in the 2201
    st = sim_get(stack, "state")
    v = next(iter(st["visits"].values()))
    assert v["begntime"].startswith("2026-12-01 08:30")

    # every move one line, no personal data in the log
    with open(stack.error_log, encoding="utf-8") as f:
        log = f.read()
    assert "offline record %s: recorded -> replaying (replay)" % rid in log
    assert "offline record %s: replaying -> pending" % rid in log
    assert ID_NUMBER not in log and ID_NUMBER[-8:] not in log
    assert v["psn_no"] not in log

    # nothing more is sent for it: pending waits for its confirmation
    n = len(sent(stack))
    status, _ = replay(stack, rid)
    assert status == 409
    assert len(sent(stack)) == n


def test_operator_replay_race_refusals_and_offsite(make_stack):
    stack = replay_stack(make_stack, "manual")
    clinic = township_clinic(stack)

    ids = [take(stack, clinic, ipt_otp_no="MZ%d" % i) for i in range(3)]

    # manual: nothing happens by itself
    assert sent(stack) == []

    # two commands race for the same record: one driver, one sequence
    results = []
    threads = [threading.Thread(target=lambda: results.append(
        replay(stack, ids[0])[0])) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[0] == 202 and 409 in results, results
    wait_state(stack, ids[0], "pending")
    assert sent(stack).count("2201") == 1

    # a refused 2201: rejected, with the platform's message
    answer_fault(stack, "2201", "挂号失败：就诊信息不完整")
    status, body = replay(stack, ids[1])
    assert status == 202, body
    rec = wait_state(stack, ids[1], "rejected")
    assert "挂号失败" in rec["reason"]

    # a rejected 2206
    answer_fault(stack, "2206", "预结算失败：费用超限")
    assert replay(stack, ids[2])[0] == 202
    rec = wait_state(stack, ids[2], "rejected")
    assert "预结算失败" in rec["reason"]

    # the CLI; a record that cannot be taken
    out = subprocess.run([TOOL, "--records-url", stack.url + "/yibao/offline",
                          "replay", "--id", ids[2]], capture_output=True,
                         text=True)
    assert out.returncode == 2 and "cannot" not in out.stdout
    assert "replayed already" in out.stderr or "not recorded" in out.stderr

    # 异地: the insured of another province waits for an operator
    first = "44010319900101123"
    other = first + yibao_sim.id_check_char(first)
    rid = take(stack, clinic, ipt_otp_no="MZ9", mdtrt_cert_no=other,
               certno=other)
    n = len(sent(stack))
    out = subprocess.run([TOOL, "--records-url", stack.url + "/yibao/offline",
                          "replay"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rec = wait_state(stack, rid, "waiting")
    assert "异地" in rec["reason"]
    assert sent(stack, n) == ["9001", "1101"]      # no 2201 for it
    with open(stack.error_log, encoding="utf-8") as f:
        log = f.read()
    assert "offline record %s: replaying -> waiting" % rid in log
    assert other not in log and other[-8:] not in log


def test_lost_platform_and_restart_never_register_twice(make_stack):
    stack = replay_stack(make_stack, "manual")
    clinic = township_clinic(stack)
    rid = take(stack, clinic)

    # the platform lost mid-replay (the 2204's connection dropped)
    sim_post(stack, "fault", {"mode": "drop_before_act", "infno": "2204"})
    assert replay(stack, rid)[0] == 202
    rec = wait_state(stack, rid, "recorded")
    assert rec["attempts"] == 1

    # again: a fresh sign-in, then on after the last step answered
    n = len(sent(stack))
    assert replay(stack, rid)[0] == 202
    wait_state(stack, rid, "pending")
    assert sent(stack, n) == ["9001", "2204", "2206"]
    assert sent(stack).count("2201") == 1

    # the gateway killed while a record's 2203 is held at the platform
    rid = take(stack, clinic, ipt_otp_no="MZ2")
    sim_post(stack, "fault", {"mode": "hold", "infno": "2203"})
    assert replay(stack, rid)[0] == 202
    path = stack.path("offline.jsonl")
    wait_until("the file to keep the replaying record",
               lambda: os.path.exists(path) and any(
                   rid in line and '"state":"replaying"' in line
                   for line in open(path, encoding="utf-8")))
    stop_nginx(stack, "kill")
    sim_post(stack, "fault", method="DELETE")
    sim_post(stack, "release")

    stack.start_nginx()
    rec = state_of(stack, rid)
    assert rec["state"] == "recorded"
    assert "stopped" in rec["reason"]

    assert replay(stack, rid)[0] == 202
    wait_state(stack, rid, "pending")
    assert sent(stack).count("2201") == 2      # one per record


def test_auto_needs_the_outage_state(make_stack):
    """auto without yibao_outage would try every second through a whole
    outage (two log lines each time): nginx -t refuses it, naming the
    file and line; manual does without."""
    stack = make_stack(
        start=False, scheme="csb", server_extra=SERVER,
        http_extra="yibao_offline file=offline.jsonl; "
                   "yibao_offline_replay auto;")
    rc, out = stack.test_config()
    assert rc != 0, out
    assert '"yibao_offline_replay auto" needs yibao_outage' in out, out
    assert re.search(r"nginx\.conf:\d+", out), out

    stack = make_stack(
        start=False, scheme="csb", server_extra=SERVER,
        http_extra="yibao_offline file=offline.jsonl; "
                   "yibao_offline_replay manual;")
    rc, out = stack.test_config()
    assert rc == 0, out
