"""The resolver: an unknown outcome of a money-moving
transaction is resolved by the gateway itself, by a settlement query
(5203) or a reversal (2601) sent through its own platform client
(yibao_platform); the transaction is never sent again."""

import re
import time

import pytest

import harness
from harness import sim_get, sim_post

import yibao_client as client
from test_gateway_core import CALLER, SECRET, assert_rejected, township_clinic
from test_journal import flow_until, journal, sent, settled


def resolving_stack(make_stack, make_redis=None, use_redis=False,
                    mode="query", attempts=5, platform=None, tls=None,
                    start=True, port=None, redis=None, after="1s",
                    http_more="", **kw):
    server = make_redis() if use_redis else redis
    port = port or harness.free_port()
    if platform is None:
        platform = "%s://127.0.0.1:%d timeout=3s" % (
            "https" if tls else "http", port)
    stack = make_stack(
        start=start, scheme="zj-sm3", redis=server, read_timeout="2s",
        sim_port=port, upstream_tls=tls,
        resolve="%s interval=1s after=%s attempts=%d" % (mode, after,
                                                          attempts),
        platform=platform, http_extra=http_more, **kw)
    return stack


def wait_record(stack, msgid, pred, timeout=harness.HANG_GUARD):
    deadline = time.time() + timeout
    record = None
    while time.time() < deadline:
        record = journal(stack, caller=CALLER, msgid=msgid)
        if pred(record):
            return record
        time.sleep(0.3)
    raise AssertionError("journal record never got there: %r" % (record,))


def resolved(stack, msgid, state):
    return wait_record(stack, msgid, lambda r: r["state"] == state)


def unknown_2207(stack, fault, state=None):
    steps, envs = flow_until(stack, township_clinic(stack), fault=fault,
                             state=state)
    infno, status, body = steps[-1]
    assert infno == "2207"
    assert_rejected(status, body, 502, 6010, "UNKNOWN")
    return envs["2207"]


def dropped_2207(stack):
    """2207s that reached the simulator: the one dropped before it acted
    (logged without its envelope), and none after it."""
    got = sim_get(stack, "requests?n=500")["requests"]
    assert sent(stack, "2207") == []
    return len([r for r in got if r.get("fault") == "drop_before_act"])


def no_raw_psn_no(stack, psn_no):
    text = harness.error_log_text(stack)
    assert psn_no and psn_no not in text


@pytest.mark.parametrize("use_redis", [False, True])
def test_dropped_after_settling_resolved_ok(make_stack, make_redis,
                                            use_redis):
    stack = resolving_stack(make_stack, make_redis, use_redis)
    st = client.FlowState()
    env = unknown_2207(stack, {"mode": "drop_after_act"}, state=st)
    msgid = env["msgid"]

    record = resolved(stack, msgid, "ok")
    platform = settled(stack)
    assert len(platform) == 1
    assert record["setl_id"] == platform[0]["setl_id"]
    assert record["resolved_by"] == "gateway:5203"
    assert record["resolved_ms"] >= record["done_ms"] > 0
    # the API masks it (the store keeps it raw for the resolver)
    assert record["psn_no"] != st.psn_no
    assert record["psn_no"][:4] == st.psn_no[:4]
    views = sim_get(stack, "settlements")
    assert views["settle_count"] == {platform[0]["mdtrt_id"]: 1}

    # the settlement counts in the reconciliation totals, with the
    # platform's amounts (from the 5203's setlinfo)
    assert record["medfee_sumamt"] == "%.2f" % float(
        platform[0]["medfee_sumamt"])
    totals = journal(stack, path="/yibao/journal/totals",
                     entity=record["entity"])
    assert totals["all"]["fixmedins_setl_cnt"] == 1, totals
    assert totals["unknown"] == [] and totals["incomplete"] == []

    # never resent; resolved by a query
    assert len(sent(stack, "2207")) == 1
    queries = sent(stack, "5203")
    assert len(queries) >= 1
    assert queries[-1]["envelope"]["input"]["data"]["mdtrt_id"] == \
        platform[0]["mdtrt_id"]

    # the caller's retry: the settlement, marked as resolved
    r = client.post(stack.url, CALLER, SECRET, env)
    assert r.status == 200, r.body
    assert r.headers["X-Yibao-Replay"] == "1"
    assert r.headers["X-Yibao-Resolved"] == "gateway:5203"
    info = r.body["output"]["setlinfo"]
    assert info["setl_id"] == platform[0]["setl_id"]
    assert info["medins_setl_id"] == msgid
    assert float(info["medfee_sumamt"]) == \
        float(platform[0]["medfee_sumamt"])
    assert len(sent(stack, "2207")) == 1
    assert journal(stack, state="unknown") == []

    text = harness.error_log_text(stack)
    assert re.search(r"\[notice\].*msgid %s .*resolved as ok by "
                     r"gateway:5203" % msgid, text)
    no_raw_psn_no(stack, st.psn_no)


@pytest.mark.parametrize("use_redis", [False, True])
def test_dropped_before_acting_resolved_failed(make_stack, make_redis,
                                               use_redis):
    stack = resolving_stack(make_stack, make_redis, use_redis)
    env = unknown_2207(stack, {"mode": "drop_before_act"})

    record = resolved(stack, env["msgid"], "failed")
    assert record["resolved_by"] == "gateway:5203"
    assert "not settled" in record["reason"]
    assert settled(stack) == []
    assert dropped_2207(stack) == 1

    r = client.post(stack.url, CALLER, SECRET, env)
    assert_rejected(r.status, r.body, 409, 6011, "NOT done", "NEW msgid")
    assert dropped_2207(stack) == 1


@pytest.mark.parametrize("use_redis", [False, True])
def test_reverse_mode_reverses_the_settlement(make_stack, make_redis,
                                              use_redis):
    stack = resolving_stack(make_stack, make_redis, use_redis,
                            mode="reverse")
    env = unknown_2207(stack, {"mode": "drop_after_act"})

    record = resolved(stack, env["msgid"], "reversed")
    assert record["resolved_by"] == "gateway:2601"
    assert [s["state"] for s in settled(stack)] == ["reversed"]
    reversals = sent(stack, "2601")
    assert len(reversals) == 1
    data = reversals[0]["envelope"]["input"]["data"]
    assert data["omsgid"] == record["upstream_msgid"]
    assert data["oinfno"] == "2207"
    assert len(sent(stack, "2207")) == 1

    r = client.post(stack.url, CALLER, SECRET, env)
    assert_rejected(r.status, r.body, 409, 6012, "REVERSED", "NEW msgid")


def test_reverse_of_what_never_happened_is_failed(make_stack):
    stack = resolving_stack(make_stack, mode="reverse")
    env = unknown_2207(stack, {"mode": "drop_before_act"})

    record = resolved(stack, env["msgid"], "failed")
    assert record["resolved_by"] == "gateway:2601"
    assert "not done by the platform" in record["reason"]
    assert settled(stack) == []


@pytest.mark.parametrize("use_redis", [False, True])
def test_platform_down_then_back(make_stack, make_redis, use_redis):
    """The platform fails the first resolutions (reset, then HTTP 500):
    the record stays unknown with its attempts counted, and is resolved
    once the platform answers."""
    stack = resolving_stack(make_stack, make_redis, use_redis)
    env = unknown_2207(stack, {"mode": "drop_after_act"})
    sim_post(stack, "fault", {"mode": "reset", "infno": "5203", "count": 1})
    sim_post(stack, "fault", {"mode": "http_500", "infno": "5203",
                              "count": 1})

    failing = wait_record(stack, env["msgid"],
                          lambda r: r.get("attempts", 0) >= 1)
    assert failing["state"] == "unknown"
    assert failing["resolve_error"]
    assert failing["retry_ms"] > failing["done_ms"]

    record = resolved(stack, env["msgid"], "ok")
    assert record["attempts"] == 2
    assert record["setl_id"] == settled(stack)[0]["setl_id"]
    # the reset one leaves no envelope in the simulator's log
    assert len(sent(stack, "5203")) == 2
    assert len(sent(stack, "2207")) == 1


def test_attempts_exhausted_stays_unknown_and_warns_once(make_stack):
    stack = resolving_stack(make_stack, attempts=2)
    env = unknown_2207(stack, {"mode": "drop_after_act"})
    sim_post(stack, "fault", {"mode": "http_500", "infno": "5203",
                              "count": 50})

    record = wait_record(stack, env["msgid"],
                         lambda r: r.get("attempts", 0) >= 2)
    time.sleep(5)
    record = journal(stack, caller=CALLER, msgid=env["msgid"])
    assert record["state"] == "unknown" and record["attempts"] == 2
    assert "HTTP 500" in record["resolve_error"]
    assert len(sent(stack, "5203")) == 2
    warns = [line for line in harness.error_log_text(stack).splitlines()
             if "[warn]" in line and "stays UNKNOWN after 2 attempts" in line]
    assert len(warns) == 1, warns
    assert env["msgid"] in warns[0]
    r = client.post(stack.url, CALLER, SECRET, env)
    assert_rejected(r.status, r.body, 502, 6010, "not sent again")


def test_resolver_off_leaves_unknown(make_stack):
    stack = resolving_stack(make_stack, mode="off")
    env = unknown_2207(stack, {"mode": "drop_after_act"})
    time.sleep(3)
    assert journal(stack, caller=CALLER, msgid=env["msgid"])["state"] == \
        "unknown"
    assert sent(stack, "5203") == []


# ---------------------------------------------------------------------------
# TLS platform
# ---------------------------------------------------------------------------

def test_tls_platform(make_stack, tmp_path):
    from test_tls import Pki, platform_tls

    pki = Pki(str(tmp_path))
    pki.ca("ca", "yibao test CA")
    pki.leaf("server", "localhost", "ca", "server")
    port = harness.free_port()
    stack = resolving_stack(
        make_stack, tls=platform_tls(pki), port=port,
        platform="https://127.0.0.1:%d name=localhost "
                 "trusted_certificate=%s timeout=3s" % (port, pki.pem("ca")))

    ctx = __import__("test_tls").context(pki)

    def tls_sim(what, payload=None):
        import json
        import urllib.request
        if payload is None:
            req = stack.sim_url + "/__sim/" + what
        else:
            req = urllib.request.Request(
                stack.sim_url + "/__sim/" + what,
                data=json.dumps(payload).encode(), method="POST",
                headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return json.loads(r.read())

    envelopes = {}

    def capture(e):
        envelopes[e["infno"]] = e
        return client.post(stack.url, CALLER, SECRET, e)

    clinic = township_clinic(stack)
    tls_sim("fault", {"mode": "drop_after_act", "infno": "2207"})
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture)
    assert steps[-1][1] == 502
    record = resolved(stack, envelopes["2207"]["msgid"], "ok")
    assert record["setl_id"] == \
        tls_sim("settlements")["settlements"][0]["setl_id"]
    got = tls_sim("requests?n=500")["requests"]
    q = [x for x in got if x.get("envelope")
         and x["envelope"]["infno"] == "5203"]
    assert q and q[-1]["tls"]


def test_tls_platform_untrusted(make_stack, tmp_path):
    """A platform whose certificate is not from the trusted CA is never
    sent the resolution: the record stays unknown."""
    from test_tls import Pki, platform_tls

    pki = Pki(str(tmp_path))
    pki.ca("ca", "yibao test CA")
    pki.ca("other-ca", "unrelated CA")
    pki.leaf("server", "localhost", "ca", "server")
    port = harness.free_port()
    stack = resolving_stack(
        make_stack, tls=platform_tls(pki), port=port,
        platform="https://127.0.0.1:%d name=localhost "
                 "trusted_certificate=%s timeout=3s"
                 % (port, pki.pem("other-ca")))
    # the gateway's own proxy_pass trusts the right CA: the flow works
    clinic = township_clinic(stack)
    ctx = __import__("test_tls").context(pki)

    import json
    import urllib.request
    req = urllib.request.Request(
        stack.sim_url + "/__sim/fault",
        data=json.dumps({"mode": "drop_after_act",
                         "infno": "2207"}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10, context=ctx).read()
    envelopes = {}

    def capture(e):
        envelopes[e["infno"]] = e
        return client.post(stack.url, CALLER, SECRET, e)

    client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                           clinic["name"], clinic["admdvs"], send=capture)
    record = wait_record(stack, envelopes["2207"]["msgid"],
                         lambda r: r.get("attempts", 0) >= 1)
    assert record["state"] == "unknown"
    assert "not trusted" in record["resolve_error"]
    assert "certificate is not trusted" in harness.error_log_text(stack)


# ---------------------------------------------------------------------------
# configuration mistakes
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("resolve,platform,message", [
    ("sometimes", "auto", "invalid mode"),
    ("query interval=0", "auto", "invalid parameter"),
    ("query attempts=0", "auto", "invalid parameter"),
    ("query after=soon", "auto", "invalid parameter"),
    ("query", None, "\"yibao_journal_resolve\" needs yibao_platform"),
    ("off", "ftp://127.0.0.1:1", "http:// or https://"),
    ("off", "https://127.0.0.1:1", "trusted_certificate="),
    ("off", "http://127.0.0.1/fsi", "has a path"),
    ("off", "http://127.0.0.1:1 timeout=never", "invalid parameter"),
    ("off", "http://127.0.0.1:1 timeout=0",
     "invalid parameter \"timeout=0\""),
    ("off", "http://127.0.0.1:1 max_size=1000",
     "invalid parameter \"max_size=1000\""),
    ("off", "http://127.0.0.1:1 verify=maybe",
     "invalid parameter \"verify=maybe\""),
    ("off", "http://127.0.0.1:1 name=", "invalid parameter \"name=\""),
    ("off", "http://127.0.0.1:1 colour=red",
     "invalid parameter \"colour=red\""),
    ("off", "http://127.0.0.1:1 trusted_certificate=/x.pem",
     "needs an https"),
])
def test_bad_configuration_fails_nginx_t(make_stack, resolve, platform,
                                         message):
    stack = make_stack(start=False, resolve=resolve, platform=platform)
    rc, out = stack.test_config()
    assert rc != 0, out
    assert message in out, out
    assert re.search(r"nginx\.conf:\d+", out), out


# ---------------------------------------------------------------------------
# two gateway nodes, one Redis
# ---------------------------------------------------------------------------

def test_two_nodes_reverse_once(make_stack, make_redis):
    """Both nodes resolve the shared journal: the platform's settlement
    is reversed once, and the journal says reversed."""
    server = make_redis()
    a = resolving_stack(make_stack, mode="reverse", redis=server,
                        zone="16m node=0/2")
    b = make_stack(
        scheme="zj-sm3", redis=server, read_timeout="2s",
        upstream="127.0.0.1:%d" % a.sim_port, zone="16m node=1/2",
        resolve="reverse interval=1s after=1s attempts=5",
        platform="http://127.0.0.1:%d timeout=3s" % a.sim_port)
    env = unknown_2207(a, {"mode": "drop_after_act"})

    record = resolved(b, env["msgid"], "reversed")
    assert record["resolved_by"] == "gateway:2601"
    assert [s["state"] for s in settled(a)] == ["reversed"]
    done = [r for r in sent(a, "2601") if r.get("infcode") in (0, "0")]
    assert len(done) == 1
    time.sleep(2.5)
    done = [r for r in sent(a, "2601") if r.get("infcode") in (0, "0")]
    assert len(done) == 1
    assert len(sent(a, "2207")) == 1


def test_platform_slow_then_answers(make_stack):
    """A 5203 answered after the client's timeout is a failed attempt
    ("in time"); the next one resolves."""
    stack = resolving_stack(make_stack)
    env = unknown_2207(stack, {"mode": "drop_after_act"})
    sim_post(stack, "fault", {"mode": "latency", "infno": "5203",
                              "latency_ms": 4000, "count": 1})

    failing = wait_record(stack, env["msgid"],
                          lambda r: r.get("attempts", 0) >= 1)
    assert "in time" in failing["resolve_error"]
    record = resolved(stack, env["msgid"], "ok")
    assert record["setl_id"] == settled(stack)[0]["setl_id"]


def test_answer_larger_than_max_size(make_stack):
    port = harness.free_port()
    stack = resolving_stack(
        make_stack, port=port, attempts=1,
        platform="http://127.0.0.1:%d timeout=3s max_size=1k" % port)
    env = unknown_2207(stack, {"mode": "drop_after_act"})

    record = wait_record(stack, env["msgid"],
                         lambda r: r.get("attempts", 0) >= 1)
    assert record["state"] == "unknown"
    assert "too large" in record["resolve_error"]


@pytest.mark.parametrize("mode,state", [("drop_after_act", "ok"),
                                        ("drop_before_act", "failed")])
def test_unknown_cancellation_2208(make_stack, mode, state):
    """2208 (settlement cancelled) whose answer was lost: 5203 by setl_id
    and its refd_setl_flag tell whether it was cancelled."""
    stack = resolving_stack(make_stack)
    envs = {}

    def capture(e):
        envs[e["infno"]] = e
        return client.post(stack.url, CALLER, SECRET, e)

    clinic = township_clinic(stack)
    sim_post(stack, "fault", {"mode": mode, "infno": "2208", "count": 1})
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture, cancel=True)
    assert steps[-1][0] == "2208"
    assert_rejected(steps[-1][1], steps[-1][2], 502, 6010, "UNKNOWN")

    record = resolved(stack, envs["2208"]["msgid"], state)
    assert record["resolved_by"] == "gateway:5203"
    platform = settled(stack)
    assert len(platform) == 1
    assert record["setl_id"] == platform[0]["setl_id"]
    assert platform[0]["state"] == ("cancelled" if state == "ok"
                                    else "settled")
    query = sent(stack, "5203")[-1]["envelope"]["input"]["data"]
    assert query["setl_id"] == platform[0]["setl_id"]


@pytest.mark.parametrize("use_redis", [False, True])
def test_gateway_killed_while_at_the_platform(make_stack, make_redis,
                                              use_redis):
    """The worker that sent the 2207 dies before the answer: the new
    worker takes its record over as unknown, and the resolver finds the
    settlement."""
    import os
    import signal
    import subprocess
    import threading

    stack = resolving_stack(make_stack, make_redis, use_redis, workers=1,
                            journal="ttl=7d in_flight=2s")
    stack.allowed_log = (r"exited on signal 9",)
    sim_post(stack, "fault", {"mode": "latency", "infno": "2207",
                              "latency_ms": 2500, "count": 1})
    envs = {}

    def kill_worker():
        out = subprocess.run(["ps", "-o", "pid=", "--ppid",
                              str(stack.nginx.pid)], capture_output=True,
                             text=True).stdout.split()
        for pid in out:
            os.kill(int(pid), signal.SIGKILL)

    def capture(e):
        envs[e["infno"]] = e
        if e["infno"] == "2207":
            threading.Timer(1.0, kill_worker).start()
        return client.post(stack.url, CALLER, SECRET, e)

    clinic = township_clinic(stack)
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=capture)
    assert steps[-1][0] == "2207" and steps[-1][1] is None, steps[-1]

    msgid = envs["2207"]["msgid"]
    time.sleep(2)
    assert len(settled(stack)) == 1   # the platform did settle

    record = resolved(stack, msgid, "ok")
    assert record["resolved_by"] == "gateway:5203"
    assert record["setl_id"] == settled(stack)[0]["setl_id"]
    assert len(sent(stack, "2207")) == 1
    assert "taken over from worker process" in harness.error_log_text(stack)

    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert r.status == 200 and r.headers["X-Yibao-Resolved"] == \
        "gateway:5203", r.body


@pytest.mark.parametrize("use_redis", [False, True])
def test_concurrent_visits_dropped_and_retried(make_stack, make_redis,
                                               use_redis):
    """Four visits at once, every 2207 answer dropped after the platform
    settled, and the clinics retrying meanwhile: each visit is settled
    once, and each retry ends with its settlement."""
    import threading

    stack = resolving_stack(make_stack, make_redis, use_redis)
    clinic = township_clinic(stack)
    sim_post(stack, "fault", {"mode": "drop_after_act", "infno": "2207",
                              "count": 4})
    envs, lock = [], threading.Lock()

    def visit():
        def capture(e):
            if e["infno"] == "2207":
                with lock:
                    envs.append(e)
            return client.post(stack.url, CALLER, SECRET, e)

        client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                               clinic["name"], clinic["admdvs"],
                               send=capture)

    threads = [threading.Thread(target=visit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(envs) == 4

    answers = {}
    deadline = time.time() + harness.HANG_GUARD
    while len(answers) < 4 and time.time() < deadline:
        for e in envs:
            if e["msgid"] in answers:
                continue
            r = client.post(stack.url, CALLER, SECRET, e)
            if r.status == 200:
                answers[e["msgid"]] = r.body["output"]["setlinfo"]
            else:
                assert_rejected(r.status, r.body, 502, 6010)
        time.sleep(0.5)
    assert len(answers) == 4

    platform = settled(stack)
    assert len(platform) == 4
    counts = sim_get(stack, "settlements")["settle_count"]
    assert sorted(counts.values()) == [1, 1, 1, 1]
    assert {a["setl_id"] for a in answers.values()} == \
        {s["setl_id"] for s in platform}
    assert len(sent(stack, "2207")) == 4


def test_resolved_with_the_operators_new_sign_no(make_stack):
    """The operator signed out and in again after the 2207 was lost
    (as the next day would have it): with yibao_signin auto the
    resolver's 5203 carries the new sign_no, not the 2207's."""
    stack = resolving_stack(make_stack, after="3s",
                            http_more="    yibao_signin auto;\n")
    clinic = township_clinic(stack)
    st = client.FlowState()
    env = unknown_2207(stack, {"mode": "drop_after_act"}, state=st)
    old = st.sign_no

    def send_env(infno, inp, sign_no):
        e = client.make_envelope(infno, inp, clinic["org"], clinic["name"],
                                 clinic["admdvs"], sign_no=sign_no)
        r = client.post(stack.url, CALLER, SECRET, e)
        assert r.status == 200 and r.body["infcode"] == 0, r.body
        return r.body["output"]

    send_env("9002", {"signOut": {"sign_no": old, "opter_no": "001"}}, old)
    new = send_env("9001", {"signIn": {"opter_no": "001",
                                       "mac": "00-1A-2B-3C-4D-5E",
                                       "ip": "10.0.0.8"}},
                   "")["signinoutb"]["sign_no"]
    assert new != old

    record = resolved(stack, env["msgid"], "ok")
    assert record["head"]["sign_no"] == new
    assert sent(stack, "5203")[-1]["envelope"]["sign_no"] == new


# ---------------------------------------------------------------------------
# the default
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("platform", ["auto", None])
def test_query_is_the_default_with_a_platform(make_stack, platform):
    """Without yibao_journal_resolve a configuration with yibao_platform
    and a journal resolves unknown outcomes by query (a 5203 only reads;
    a reversal stays an operator's choice); without yibao_platform there
    is nothing to send it through, and no resolver."""
    stack = make_stack(start=False, workers=1, platform=platform)
    conf = stack.path("nginx.conf")
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"(?m)^\s*yibao_journal_resolve [^;]*;\n", "", text)
    assert n == 1
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text)
    stack.start_sim()
    stack.start_nginx()

    # the one worker answers: it has started (and its resolver with it)
    clinic = township_clinic(stack)
    r = client.post(stack.url, CALLER, SECRET, client.make_envelope(
        "9001", {"signIn": {"opter_no": "001", "mac": "m",
                            "ip": "127.0.0.1"}}, clinic["org"],
        clinic["name"], clinic["admdvs"]))
    assert r.status == 200, r.body
    notice = ("unknown outcomes are resolved by a settlement query (5203) "
              "every 30000 ms, 60000 ms after the answer was lost, at most "
              "10 attempts (yibao_journal_resolve not set: query by "
              "default)")
    assert (notice in harness.error_log_text(stack)) == bool(platform)
    assert "reversal" not in harness.error_log_text(stack)


def test_graceful_stop_waits_for_the_exchange(make_stack):
    """nginx -s quit while the resolver's 5203 is at the platform: the
    worker finishes the exchange (its timer keeps the worker) before it
    exits, instead of leaving the socket open ("open socket left", an
    alert) and the record's attempt half done."""
    from test_journal_restart import stop_nginx

    stack = resolving_stack(make_stack)
    sim_post(stack, "fault", {"infno": "5203", "mode": "hold", "count": 1})
    unknown_2207(stack, {"mode": "drop_after_act"})
    harness.wait_until("the platform to hold the 5203",
                       lambda: sim_get(stack, "stats")["held"])

    stop_nginx(stack, "quit",
               meanwhile=lambda: (time.sleep(1), sim_post(stack, "release")))
    log = harness.error_log_text(stack)
    assert "open socket" not in log, log[-2000:]
    assert "exiting" in log
