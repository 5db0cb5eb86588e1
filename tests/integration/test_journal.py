"""The msgid journal: a state-creating or money-moving
transaction is recorded before it is sent and never sent twice; a lost
answer is an unknown outcome, kept and resolvable."""

import json
import os
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import harness
from harness import sim_get, sim_post

import yibao_client as client
from test_gateway_core import (CALLER, SECRET, assert_rejected, envelope,
                               ready_clinic, send, township_clinic)


def journal(stack, method="GET", path="/yibao/journal", **params):
    url = stack.url + path + "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, method=method,
                                 data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def wait_complete(stack, msgid, caller=CALLER):
    """The journal's record of the caller's msgid once its completion is
    in.  With Redis the completion is written as the answer goes out,
    without waiting: a repeat sent at once, through the other worker,
    can find the record still "sent" (YB5101 "being processed")."""
    def complete():
        try:
            rec = journal(stack, caller=caller, msgid=msgid)
        except urllib.error.HTTPError as e:
            if e.code != 404:
                raise
            return None
        return rec if rec["state"] != "sent" else None
    return harness.wait_until("the record of %s to be complete" % msgid,
                              complete)


def sent(stack, infno):
    got = sim_get(stack, "requests?n=500")
    got = got["requests"] if isinstance(got, dict) else got
    return [r for r in got if r.get("envelope")
            and r["envelope"]["infno"] == infno]


def flow_until(stack, clinic, fault=None, state=None):
    """The outpatient flow up to 2207 (with a fault on 2207 if given);
    returns (steps, envelopes sent by infno)."""
    envelopes = {}

    def capture(env):
        envelopes[env["infno"]] = env
        return client.post(stack.url, CALLER, SECRET, env)

    if fault:
        sim_post(stack, "fault", dict(fault, infno="2207", count=1))
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture, state=state)
    return steps, envelopes


def settled(stack):
    got = sim_get(stack, "settlements")
    return got["settlements"] if isinstance(got, dict) else got


@pytest.mark.parametrize("use_redis", [False, True])
def test_replay_and_reuse(make_stack, make_redis, use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    steps, envs = flow_until(stack, township_clinic(stack))
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1]

    wait_complete(stack, envs["2207"]["msgid"])
    again = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert again.status == 200
    assert again.headers["X-Yibao-Replay"] == "1"
    assert again.body == steps[-1][2]
    assert len(sent(stack, "2207")) == 1
    assert len(settled(stack)) == 1

    other = dict(envs["2207"], input={"data": dict(
        envs["2207"]["input"]["data"], medfee_sumamt=1.0)})
    r = client.post(stack.url, CALLER, SECRET, other)
    assert_rejected(r.status, r.body, 409, 1013, "different request")
    assert len(sent(stack, "2207")) == 1

    record = journal(stack, caller=CALLER, msgid=envs["2207"]["msgid"])
    assert record["state"] == "ok"
    assert record["infcode"] == 0
    assert record["setl_id"] and record["mdtrt_id"]
    assert record["upstream_msgid"].startswith(township_clinic(stack)[
        "entity"])


@pytest.mark.parametrize("use_redis", [False, True])
def test_concurrent_duplicates_sent_once(make_stack, make_redis, use_redis):
    """The same 2207 (one msgid) sent 24 times at the same instant, over
    separate connections to both workers, a third of them with another
    amount: the platform sees it once (whichever came first); every
    other answer is that answer replayed, "being processed" (YB5101) or,
    for a body that is not the one sent, "different request"
    (YB1013)."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    n = 24
    barrier = threading.Barrier(n)
    answers = [None] * n

    def one(i, env):
        barrier.wait()
        try:
            answers[i] = client.post(stack.url, CALLER, SECRET, env)
        except Exception as e:  # noqa: reported below
            answers[i] = e

    def burst(env):
        if env["infno"] != "2207":
            return client.post(stack.url, CALLER, SECRET, env)
        other = dict(env, input={"data": dict(env["input"]["data"],
                                              medfee_sumamt=1.0)})
        threads = [threading.Thread(target=one,
                                    args=(i, other if i % 3 == 2 else env))
                   for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "hung request"
        ok = [a for a in answers if not isinstance(a, Exception)
              and a.status == 200]
        return ok[0] if ok else answers[0]

    steps = client.outpatient_flow(stack.url, CALLER, SECRET,
                                   *(township_clinic(stack)[k]
                                     for k in ("org", "name", "admdvs")),
                                   send=burst)
    assert steps[-1][0] == "2207"

    # whichever came first was sent, and only it: the right amount is
    # settled; the other amount is refused by the platform (its own
    # check of the total), and nothing is settled
    arrived = sent(stack, "2207")
    assert len(arrived) == 1, arrived
    right = arrived[0]["envelope"]["input"]["data"]["medfee_sumamt"] != 1.0
    settlements = settled(stack)
    assert len(settlements) == (1 if right else 0), settlements
    codes = []
    for a in answers:
        assert not isinstance(a, Exception), answers
        if a.status == 200:
            # the answer to the one sent, or that answer replayed
            if right:
                assert a.body["infcode"] == 0, a.body
                assert a.body["output"]["setlinfo"]["setl_id"] == \
                    settlements[0]["setl_id"]
            else:
                assert a.body["infcode"] == -1, a.body
            codes.append("answer")
        else:
            assert a.status == 409, (a.status, a.body)
            code = a.body["err_msg"][:6]
            assert code in ("YB5101", "YB1013"), a.body
            codes.append(code)
    assert "answer" in codes, codes
    print("sent: %s amount; answers: %s" % ("the right" if right
                                            else "the other",
                                            sorted(codes)))


@pytest.mark.parametrize("use_redis", [False, True])
def test_lost_answer_is_unknown_and_never_resent(make_stack, make_redis,
                                                 use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="zj-sm3", redis=server, read_timeout="2s")
    steps, envs = flow_until(stack, township_clinic(stack),
                             fault={"mode": "drop_after_act"})
    infno, status, body = steps[-1]
    assert infno == "2207"
    assert_rejected(status, body, 502, 6010, "UNKNOWN", "5203")

    # the platform did settle, once
    assert len(settled(stack)) == 1

    wait_complete(stack, envs["2207"]["msgid"])
    for _ in range(3):
        r = client.post(stack.url, CALLER, SECRET, envs["2207"])
        assert_rejected(r.status, r.body, 502, 6010, "not sent again")
    assert len(sent(stack, "2207")) == 1
    assert len([s for s in settled(stack) if s["state"] == "settled"]) == 1

    msgid = envs["2207"]["msgid"]
    record = journal(stack, caller=CALLER, msgid=msgid)
    assert record["state"] == "unknown"
    unknown = journal(stack, state="unknown")
    assert [x["msgid"] for x in unknown] == [msgid]

    # an operator (or the resolver) records what 5203 showed
    resolved = journal(stack, method="POST", caller=CALLER, msgid=msgid,
                       state="ok", setl_id=settled(stack)[0]["setl_id"])
    assert resolved["state"] == "ok"
    assert journal(stack, state="unknown") == []
    assert "journal" in harness.error_log_text(stack)


def test_answer_cut_off_is_unknown_and_never_resent(make_stack):
    """The platform settles, sends its header and half the answer, and
    closes: the clinic gets an envelope (not a connection closed without
    an answer), the outcome is unknown and the 2207 is not sent again; a
    read that breaks off the same way, or stalls after its header until
    the read timeout, is a plain YB6004."""
    stack = make_stack(scheme="csb", read_timeout="2s")
    steps, envs = flow_until(stack, township_clinic(stack),
                             fault={"mode": "truncate"})
    infno, status, body = steps[-1]
    assert infno == "2207"
    assert_rejected(status, body, 502, 6010, "UNKNOWN")
    assert len([s for s in settled(stack) if s["state"] == "settled"]) == 1

    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert_rejected(r.status, r.body, 502, 6010, "not sent again")
    assert len(sent(stack, "2207")) == 1
    record = journal(stack, caller=CALLER, msgid=envs["2207"]["msgid"])
    assert record["state"] == "unknown"

    clinic = ready_clinic(stack)
    sim_post(stack, "fault", {"infno": "1101", "mode": "truncate"})
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 502, 6004,
                    "broke off after its header")
    assert "upstream prematurely closed" in harness.error_log_text(stack)

    sim_post(stack, "fault", {"infno": "1101", "mode": "truncate",
                              "latency_ms": 3000})
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 502, 6004,
                    "broke off after its header")
    assert "upstream timed out" in harness.error_log_text(stack)

    # the next one is answered in full
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body


def wait_held(stack, th, results):
    """Until the platform holds the flow's 2207 (a hold fault), or the
    flow in thread th has ended before (a failure: its steps)."""
    harness.wait_until("the platform to hold the 2207", lambda: not
                       th.is_alive() or sim_get(stack, "stats")["held"])
    assert th.is_alive(), "the flow ended before the 2207 reached the " \
        "platform: %r" % (results.get("steps"),)


def test_timeout_unknown_and_in_progress(make_stack):
    stack = make_stack(scheme="none", read_timeout="3s")
    clinic = township_clinic(stack)
    results = {}

    def capture(env):
        if env["infno"] == "2207":
            results["env"] = env
        return client.post(stack.url, CALLER, SECRET, env)

    # the platform holds the 2207 until the gateway has given up on it
    sim_post(stack, "fault", {"infno": "2207", "mode": "hold", "count": 1})
    th = threading.Thread(target=lambda: results.setdefault(
        "steps", client.outpatient_flow(stack.url, CALLER, SECRET,
                                        clinic["org"], clinic["name"],
                                        clinic["admdvs"], send=capture)))
    th.start()
    wait_held(stack, th, results)

    # the same msgid while the first is at the platform
    r = client.post(stack.url, CALLER, SECRET, results["env"])
    assert_rejected(r.status, r.body, 409, 5101, "being processed")
    th.join()
    sim_post(stack, "release")

    infno, status, body = results["steps"][-1]
    assert_rejected(status, body, 502, 6010, "upstream_timeout")
    record = journal(stack, caller=CALLER, msgid=results["env"]["msgid"])
    assert record["state"] == "unknown"


def script_calls(r):
    """The scripts the gateway called since the slowlog was reset, in
    order: ("EVALSHA", sha) or ("EVAL", the script's first 40 bytes);
    the journal's marker (read every few seconds) left out."""
    calls = []
    for entry in reversed(r.slowlog_get(100000)):
        words = entry["command"].split(b" ")
        if words[0].upper() not in (b"EVAL", b"EVALSHA"):
            continue
        if b"yibao:journal:marker" in entry["command"]:
            continue
        calls.append((words[0].upper().decode(), words[1][:40]))
    return calls


def test_scripts_by_sha_survive_script_flush(make_stack, make_redis):
    """Every script goes to Redis as EVALSHA, its text only once per
    connection; after SCRIPT FLUSH (what a restarted or failed-over
    Redis has) each script's next call gets NOSCRIPT, is sent again as
    EVAL, and the transactions succeed, journaled as before."""
    import redis as redis_client

    server = make_redis()
    stack = make_stack(scheme="csb", redis=server, limits=(
        "yibao_limit name=q by=entity rate=100r/s burst=1000;",))
    r = redis_client.Redis(port=server.port)
    r.config_set("slowlog-log-slower-than", 0)
    r.config_set("slowlog-max-len", 100000)
    clinic = township_clinic(stack)

    steps, _ = flow_until(stack, clinic)
    assert [s[1] for s in steps] == [200] * len(steps), steps

    r.slowlog_reset()
    steps, envs = flow_until(stack, clinic)
    assert [s[1] for s in steps] == [200] * len(steps), steps
    calls = script_calls(r)
    assert calls and all(c[0] == "EVALSHA" for c in calls), calls
    wait_complete(stack, envs["2207"]["msgid"])

    for _ in range(2):
        r.script_flush()
        r.slowlog_reset()
        steps, envs = flow_until(stack, clinic)
        assert [s[1] for s in steps] == [200] * len(steps), steps
        for infno, _, body in steps:
            assert body["infcode"] == 0, (infno, body)
        record = wait_complete(stack, envs["2207"]["msgid"])
        assert record["state"] == "ok" and record["setl_id"], record
        calls = script_calls(r)
        # each script's first call after the flush: NOSCRIPT, then EVAL
        evals = [c for c in calls if c[0] == "EVAL"]
        assert evals, calls
        assert calls[0][0] == "EVALSHA", calls
        assert len(evals) <= len(set(c[1] for c in calls
                                     if c[0] == "EVALSHA")), calls
    assert len(settled(stack)) == 4
    assert len(sent(stack, "2207")) == 4


def test_record_is_never_a_script_argument(make_stack, make_redis):
    """A record (with the platform's answer, tens of KB for a 2204 of 50
    lines) handed to a Lua script as an argument costs Redis about 150
    us a call: the completion writes it with a plain SET to a key of its
    own and the script renames it over the record.  The record keeps the
    claim's expiry, the side keys are gone, the records are complete."""
    import re as re_
    import redis as redis_client

    server = make_redis()
    stack = make_stack(scheme="csb", redis=server)
    r = redis_client.Redis(port=server.port)
    r.config_set("slowlog-log-slower-than", 0)
    r.config_set("slowlog-max-len", 100000)
    clinic = township_clinic(stack)
    r.slowlog_reset()
    steps, envs = flow_until(stack, clinic)
    assert [s[1] for s in steps] == [200] * len(steps), steps
    record = wait_complete(stack, envs["2207"]["msgid"])
    assert record["state"] == "ok" and record["setl_id"], record

    keys = [k for k in r.keys("yibao:{%s}:j:*" % CALLER)]
    assert len(keys) >= 4, keys
    longest = max(r.strlen(k) for k in keys)
    args = []
    for entry in r.slowlog_get(100000):
        words = entry["command"].split(b" ")
        if words[0].upper() in (b"EVAL", b"EVALSHA"):
            args += [128 + int(n) for n in re_.findall(
                rb"\((\d+) more bytes\)", entry["command"])] or [0]
    assert args and max(args) < longest, (max(args), longest)
    assert r.keys("*:w:*") == []
    week = 7 * 24 * 3600 * 1000
    for k in keys:
        assert week - 600 * 1000 < r.pttl(k) <= week, (k, r.pttl(k))


def test_redis_down_journal_goes_on_locally(make_stack, make_redis):
    server = make_redis()
    stack = make_stack(scheme="none", redis=server)
    clinic = ready_clinic(stack)
    since = stack.error_log_size()
    server.stop()
    stack.wait_redis(since, "down")

    env = envelope(clinic, infno="2201", inp={"data": {"psn_no": "1"}})
    r = send(stack, env)
    assert r.status == 200, r.body
    assert len(sent(stack, "2201")) == 1

    # a repeat at this node is answered from its own zone, not resent
    again = send(stack, env)
    assert again.headers.get("X-Yibao-Replay") == "1"
    assert len(sent(stack, "2201")) == 1


def test_redis_down_money_moving_refused(make_stack, make_redis):
    """The retry of a 2207 first claimed in Redis must not be sent while
    the journal cannot see that claim: with Redis down a money-moving
    transaction is refused (503 YB5005, nothing sent), others go on.
    Redis keeps its data (AOF): one that forgets is
    test_journal_forget.py's."""
    server = make_redis(persist="aof")
    stack = make_stack(scheme="csb", redis=server)
    clinic = township_clinic(stack)
    envs = {}

    def capture(env):
        envs[env["infno"]] = env
        if env["infno"] == "2207":
            since = stack.error_log_size()
            server.stop()
            stack.wait_redis(since, "down")
        return client.post(stack.url, CALLER, SECRET, env)

    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture)
    assert steps[-1][0] == "2207"
    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert_rejected(r.status, r.body, 503, 5005, "moves money")
    assert r.headers["Retry-After"] == "1"
    # nothing was sent: no msgid of the platform's is named
    assert "X-Yibao-Upstream-Msgid" not in r.headers
    assert sent(stack, "2207") == []
    assert "redis_down=refuse" in harness.error_log_text(stack)

    # once Redis is back, the same msgid goes through, once
    since = stack.error_log_size()
    server.start()
    stack.wait_redis(since)
    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert len(sent(stack, "2207")) == 1


@pytest.mark.parametrize("use_redis", [False, True])
def test_unknown_settlement_reversed_by_caller_msgid(make_stack, make_redis,
                                                     use_redis):
    """A township clinic knows only its own msgid; the platform settled
    under the upstream one.  Its 2601 names its own: the gateway sends
    the platform's, and the settlement is reversed."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    clinic = township_clinic(stack)
    st = client.FlowState()
    steps, envs = flow_until(stack, clinic,
                             fault={"mode": "drop_after_act"}, state=st)
    assert steps[-1][1] == 502 and steps[-1][2]["err_msg"].startswith(
        "YB6010")
    caller_msgid = envs["2207"]["msgid"]
    record = journal(stack, caller=CALLER, msgid=caller_msgid)
    assert record["upstream_msgid"] != caller_msgid

    env = client.make_envelope("2601", {"data": {
        "psn_no": st.psn_no, "omsgid": caller_msgid, "oinfno": "2207"}},
        clinic["org"], clinic["name"], clinic["admdvs"], sign_no=st.sign_no,
        insuplc_admdvs=st.insuplc_admdvs)
    r = client.post(stack.url, CALLER, SECRET, env)
    assert r.status == 200 and r.body["infcode"] == 0, r.body

    arrived = sent(stack, "2601")[-1]["envelope"]["input"]["data"]
    assert arrived["omsgid"] == record["upstream_msgid"]
    assert [s["state"] for s in settled(stack)] == ["reversed"]

    # and the unknown record is resolved as not settled
    journal(stack, method="POST", caller=CALLER, msgid=caller_msgid,
            state="failed")
    assert journal(stack, state="unknown") == []


def tx_lines(stack, msgid, n):
    """The transaction log's lines of a caller msgid, in order, once
    there are n (nginx writes a line after it answered)."""
    deadline = time.monotonic() + harness.HANG_GUARD
    while True:
        with open(stack.access_log, encoding="utf-8") as f:
            lines = [x for x in (json.loads(line) for line in f)
                     if x["msgid"] == msgid]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_refusal_replayed_with_its_status(make_stack):
    """A journaled transaction the gateway refused (the platform was
    unreachable) is replayed as it was answered: the same envelope and
    the same HTTP status, never sent."""
    stack = make_stack(scheme="csb")
    clinic = ready_clinic(stack)
    stack.stop_sim()
    env = envelope(clinic, infno="2201", inp={"data": {"psn_no": "1"}})
    first = send(stack, env)
    assert_rejected(first.status, first.body, 502, 6001)
    again = send(stack, env)
    assert again.status == 502
    assert again.headers.get("X-Yibao-Replay") == "1"
    assert again.body == first.body
    # the platform received nothing: no msgid of its is named, in the
    # answers, the log or the journal
    for r in (first, again):
        assert "X-Yibao-Upstream-Msgid" not in r.headers
    assert [x["upstream_msgid"] for x in tx_lines(stack, env["msgid"], 2)] \
        == ["", ""]
    assert journal(stack, caller=CALLER, msgid=env["msgid"])[
        "upstream_msgid"] == ""
    stack.start_sim()
    assert sent(stack, "2201") == []


# ---------------------------------------------------------------------------
# a caller that gives up, a worker that dies (the exchange goes on, or
# its record is completed at once: never left "sent")
# ---------------------------------------------------------------------------

def flow_giving_up_on_2207(stack, clinic, latency_ms, timeout=1.0):
    """The flow up to 2207, whose answer the platform sends after
    latency_ms; the caller waits timeout seconds for it, then closes.
    Returns the 2207's envelope."""
    captured = {}

    def capture(env):
        if env["infno"] == "2207":
            captured["env"] = env
            return client.post(stack.url, CALLER, SECRET, env,
                               timeout=timeout)
        return client.post(stack.url, CALLER, SECRET, env)

    sim_post(stack, "fault", {"infno": "2207", "mode": "latency",
                              "latency_ms": latency_ms, "count": 1})
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture)
    assert steps[-1][0] == "2207" and steps[-1][1] is None, steps[-1]
    return captured["env"]


def repeat_until_not_in_progress(stack, env, seconds=harness.HANG_GUARD):
    """The caller's repeats of env (fresh nonces), every half second,
    until one is not "in progress" (YB5101), nor refused while new
    workers connect to Redis (YB5005)."""
    deadline = time.monotonic() + seconds
    while True:
        r = client.post(stack.url, CALLER, SECRET, env)
        err = str(r.body.get("err_msg", "")) if isinstance(r.body, dict) \
            else ""
        if not err.startswith(("YB5101", "YB5005")):
            return r
        assert time.monotonic() < deadline, \
            "still in progress after %d s: %s" % (seconds, r.body)
        time.sleep(0.5)


@pytest.mark.parametrize("use_redis", [False, True])
def test_caller_gives_up_the_answer_is_journaled(make_stack, make_redis,
                                                 use_redis):
    """A clinic waits 1 s for a 2207 that the platform settles and
    answers after 3 s: the gateway keeps the exchange, journals the
    answer, and the clinic's repeat gets it as a replay; sent once,
    settled once."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    env = flow_giving_up_on_2207(stack, township_clinic(stack), 3000)

    r = repeat_until_not_in_progress(stack, env)
    assert r.status == 200, r.body
    assert r.headers.get("X-Yibao-Replay") == "1"
    assert r.body["infcode"] == 0 and r.body["output"]["setlinfo"]
    assert len(sent(stack, "2207")) == 1
    assert len(settled(stack)) == 1
    record = journal(stack, caller=CALLER, msgid=env["msgid"])
    assert record["state"] == "ok"
    assert journal(stack, state="unknown") == []


@pytest.mark.parametrize("use_redis", [False, True])
def test_exchange_cut_is_unknown_at_once(make_stack, make_redis, use_redis):
    """Where nginx does cut the exchange of a caller that left
    (proxy_ignore_client_abort off), the record is "unknown" at once:
    listed, counted so by the metrics, and a repeat is told the outcome
    is unknown, never "in progress"."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server,
                       ignore_client_abort="off")
    env = flow_giving_up_on_2207(stack, township_clinic(stack), 3000)

    r = repeat_until_not_in_progress(stack, env)
    assert_rejected(r.status, r.body, 502, 6010, "unknown")
    record = journal(stack, caller=CALLER, msgid=env["msgid"])
    assert record["state"] == "unknown"
    assert "caller closed its connection" in record["reason"]
    assert [x["msgid"] for x in journal(stack, state="unknown")] \
        == [env["msgid"]]
    problems = journal(stack, problems="today")
    problems = problems["records"] if isinstance(problems, dict) \
        else problems
    assert env["msgid"] in [x["msgid"] for x in problems]
    text = harness.error_log_text(stack)
    assert "proxy_ignore_client_abort" in text

    # the transaction log and the metrics say what the journal says
    # (written in the same log phase, a moment after the record)
    def logged():
        with open(stack.access_log, encoding="utf-8") as f:
            return [x for x in map(json.loads, f)
                    if x["msgid"] == env["msgid"]]
    first = harness.wait_until("the 2207's transaction log line",
                               logged)[0]
    assert first["status"] == 499 and first["error"].startswith("YB6010"), \
        first
    assert first["journal"] == "unknown", first
    with urllib.request.urlopen("http://127.0.0.1:%d/yibao/status"
                                % stack.status_port, timeout=10) as f:
        doc = json.loads(f.read())
    row = [x for x in doc["infnos"] if x["infno"] == "2207"][0]
    assert row["unknown_outcome"] >= 1, row


@pytest.mark.skipif(harness.yibao_stack.valgrind_env(),
                    reason="a process fault: under valgrind nginx is one "
                           "process (master_process off), no worker dies")
@pytest.mark.parametrize("use_redis", [False, True])
def test_worker_killed_mid_settlement_is_taken_over(make_stack, make_redis,
                                                     use_redis):
    """The workers are killed while a 2207 waits for the platform: the
    new workers take its record over at once ("unknown", listed, the
    repeat told so), never "in progress" for the in-flight window."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    stack.allowed_log = (r"exited on signal 9",)
    clinic = township_clinic(stack)
    holder = {}

    def capture(env):
        if env["infno"] == "2207":
            holder["env"] = env
        return client.post(stack.url, CALLER, SECRET, env)

    sim_post(stack, "fault", {"infno": "2207", "mode": "hold", "count": 1})
    th = threading.Thread(target=lambda: holder.setdefault(
        "steps", client.outpatient_flow(stack.url, CALLER, SECRET,
                                        clinic["org"], clinic["name"],
                                        clinic["admdvs"], send=capture)))
    th.start()
    wait_held(stack, th, holder)
    assert journal(stack, caller=CALLER,
                   msgid=holder["env"]["msgid"])["state"] == "sent"

    workers = stack.worker_pids()
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    th.join()
    assert holder["steps"][-1][1] is None   # the caller lost its answer

    r = repeat_until_not_in_progress(stack, holder["env"])
    assert_rejected(r.status, r.body, 502, 6010, "unknown")
    record = journal(stack, caller=CALLER, msgid=holder["env"]["msgid"])
    assert record["state"] == "unknown"
    assert "worker process" in record["reason"]
    assert [x["msgid"] for x in journal(stack, state="unknown")] \
        == [holder["env"]["msgid"]]
    assert "taken over from worker process" in \
        harness.error_log_text(stack)
    # the platform logs it once it has acted on it and answered
    sim_post(stack, "release")
    harness.wait_until("the platform to log the 2207",
                       lambda: sent(stack, "2207"))
    assert len(sent(stack, "2207")) == 1


def test_pre_settlement_lost_answer_fails_plainly(make_stack):
    """A 2206 moves no money: a 503 from the platform is a plain,
    retryable failure (not an unknown outcome), and the same envelope
    is sent again when the clinic repeats it."""
    stack = make_stack(scheme="csb")
    clinic = township_clinic(stack)
    captured = {}

    def capture(env):
        if env["infno"] == "2206":
            captured["env"] = env
        return client.post(stack.url, CALLER, SECRET, env)

    sim_post(stack, "fault", {"infno": "2206", "mode": "http_500",
                              "count": 1})
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture)
    infno, status, body = steps[-1]
    assert infno == "2206"
    assert_rejected(status, body, 502, 6003)
    assert "UNKNOWN" not in body["err_msg"]

    again = client.post(stack.url, CALLER, SECRET, captured["env"])
    assert again.status == 200 and again.body["infcode"] == 0, again.body
    assert "X-Yibao-Replay" not in again.headers
    assert len(sent(stack, "2206")) == 2
    assert journal(stack, state="unknown") == []


@pytest.mark.parametrize("use_redis", [False, True])
def test_refused_repeats_name_the_msgid_sent(make_stack, make_redis,
                                             use_redis):
    """A repeat that is not sent (a replay, YB5101 while the first is at
    the platform, YB6010 after its answer was lost) names, in
    X-Yibao-Upstream-Msgid and in the log's upstream_msgid, the msgid the
    platform received for that transaction (a township clinic's is the
    township hospital's, never the caller's), not a fresh one that was
    never sent; a request that was not sent at all (YB1013: the msgid of
    another request) names none."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server, read_timeout="300s")
    clinic = township_clinic(stack)

    # a settled visit: its repeat is a replay
    steps, envs = flow_until(stack, clinic)
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1]
    first = sent(stack, "2207")[0]["envelope"]["msgid"]
    caller_msgid = envs["2207"]["msgid"]
    assert first != caller_msgid
    wait_complete(stack, caller_msgid)
    again = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert again.headers["X-Yibao-Replay"] == "1"
    assert again.headers["X-Yibao-Upstream-Msgid"] == first
    other = dict(envs["2207"], input={"data": dict(
        envs["2207"]["input"]["data"], medfee_sumamt=1.0)})
    r = client.post(stack.url, CALLER, SECRET, other)
    assert_rejected(r.status, r.body, 409, 1013, "different request")
    assert "X-Yibao-Upstream-Msgid" not in r.headers
    assert len(sent(stack, "2207")) == 1
    lines = tx_lines(stack, caller_msgid, 3)
    assert sorted((x["status"], x["upstream_msgid"]) for x in lines) == [
        (200, first), (200, first), (409, "")], lines

    # a visit whose 2207 the platform holds (it settled and sent half
    # its answer) until it dies
    sim_post(stack, "fault", {"infno": "2207", "mode": "truncate",
                              "latency_ms": 600000, "count": 1})
    envs = {}
    done = {}

    def capture(env):
        envs[env["infno"]] = env
        return client.post(stack.url, CALLER, SECRET, env, timeout=300)

    th = threading.Thread(target=lambda: done.setdefault(
        "steps", client.outpatient_flow(stack.url, CALLER, SECRET,
                                        clinic["org"], clinic["name"],
                                        clinic["admdvs"], send=capture)))
    th.start()
    deadline = time.monotonic() + 120
    while len(sent(stack, "2207")) < 2:
        assert time.monotonic() < deadline and th.is_alive(), done
        time.sleep(0.1)
    held = sent(stack, "2207")[1]["envelope"]["msgid"]
    caller_msgid = envs["2207"]["msgid"]
    assert held not in (first, caller_msgid)

    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert_rejected(r.status, r.body, 409, 5101, "being processed")
    assert r.headers["X-Yibao-Upstream-Msgid"] == held

    stack.stop_sim(signal.SIGKILL)
    th.join(300)
    assert not th.is_alive()
    infno, status, body = done["steps"][-1]
    assert infno == "2207"
    assert_rejected(status, body, 502, 6010, "UNKNOWN")

    wait_complete(stack, caller_msgid)
    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert_rejected(r.status, r.body, 502, 6010, "not sent again")
    assert r.headers["X-Yibao-Upstream-Msgid"] == held
    assert journal(stack, caller=CALLER, msgid=caller_msgid)[
        "upstream_msgid"] == held
    lines = tx_lines(stack, caller_msgid, 3)
    assert sorted((x["status"], x["upstream_msgid"]) for x in lines) == [
        (409, held), (502, held), (502, held)], lines


@pytest.mark.parametrize("journal,word", [
    ("ttl=0", '"ttl=0"'),
    ("ttl=7d in_flight=soon", '"in_flight=soon"'),
    ("ttl=7d redis_down=maybe", '"redis_down=maybe"'),
    ("ttl=7d redis_down", '"redis_down"'),
    ("ttl=7d colour=red", '"colour=red"'),
])
def test_journal_config_errors(make_stack, journal, word):
    stack = make_stack(start=False, journal=journal)
    rc, out = stack.test_config()
    assert rc != 0 and ("invalid parameter %s" % word) in out, out
    assert "nginx.conf:" in out, out
