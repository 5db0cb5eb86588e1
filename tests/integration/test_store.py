"""The store: rate limits and nonces in Redis shared by the
gateway nodes, or in the embedded shared-memory store; Redis down, paused
and back as normal modes."""

import base64
import concurrent.futures
import json
import socket
import time

import pytest
import redis as redis_client

import harness

import yibao_client as client
from test_gateway_core import (CALLER, SECRET, assert_rejected, envelope,
                               raw, ready_clinic, send, signed)

LIMIT = "yibao_limit name=t1 by=clinic rate=60r/m burst=2 infno=1101%s;"


def access(stack):
    time.sleep(0.2)
    with open(stack.access_log, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def seen_requests(stack):
    got = harness.sim_get(stack, "requests?n=500")
    return got["requests"] if isinstance(got, dict) else got


def burst(stack, clinic, n):
    return [send(stack, envelope(clinic)) for _ in range(n)]


def wait_store(stack, clinic, want):
    """Requests until the access log shows the store in state want (a
    worker reconnects after its backoff, up to 5 s)."""
    def once():
        send(stack, envelope(clinic, infno="9001", inp={"signIn": {
            "opter_no": "001", "mac": "m", "ip": "127.0.0.1"}}))
        return access(stack)[-1].get("store") == want
    harness.wait_until("the store to become %s" % want, once, interval=0.1)


@pytest.mark.parametrize("use_redis", [False, True])
def test_limit_by_clinic(make_stack, make_redis, use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="none", redis=server, limits=(LIMIT % "",))
    clinic = ready_clinic(stack)
    if use_redis:
        wait_store(stack, clinic, "redis")

    got = burst(stack, clinic, 4)
    assert [r.status for r in got[:3]] == [200, 200, 200]
    r = got[3]
    assert_rejected(r.status, r.body, 429, 3101, "\"t1\"", "this clinic")
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["RateLimit-Policy"] == '"t1";q=62;w=60'
    assert r.headers["RateLimit"].startswith('"t1";r=0;t=')
    assert got[0].headers["RateLimit"].startswith('"t1";r=')

    # (two workers: a line may be written after the next request's)
    lines = [x for x in access(stack) if x["infno"] == "1101"]
    assert sorted(x["ratelimit"] for x in lines[-4:]) == [
        "PASSED", "PASSED", "PASSED", "REJECTED"]
    assert lines[-1]["store"] == ("redis" if use_redis else "local")

    # a refused request never reached the platform
    seen = seen_requests(stack)
    assert sum(1 for x in seen if x["envelope"]["infno"] == "1101") == 3

    # another clinic has its own quota
    other = dict(clinic, org="PDY60134132080312D6002", name="东村卫生室")
    r = send(stack, envelope(other))
    assert r.status == 200, r.body


def test_dry_run_counts_but_admits(make_stack):
    stack = make_stack(scheme="none", limits=(LIMIT % "",),
                       location_extra="yibao_limit_dry_run on;")
    clinic = ready_clinic(stack)
    got = burst(stack, clinic, 5)
    assert all(r.status == 200 for r in got)
    assert "DRY_RUN" in [x["ratelimit"] for x in access(stack)]
    assert "would refuse" in harness.error_log_text(stack)


def test_two_nodes_share_one_limit_and_nonces(make_stack, make_redis):
    server = make_redis()
    policy = ("yibao_limit name=g by=entity rate=60r/m burst=9 "
              "infno=1101;",)
    a = make_stack(scheme="none", redis=server, limits=policy)
    b = make_stack(scheme="none", redis=server, limits=policy,
                   upstream="127.0.0.1:%d" % a.sim_port)
    clinic = ready_clinic(a)
    wait_store(a, clinic, "redis")
    wait_store(b, clinic, "redis")

    def one(i):
        stack = a if i % 2 else b
        return send(stack, envelope(clinic)).status

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(one, range(30)))

    # exactly the burst + 1 across both nodes, whoever got them
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 20

    # a request replayed at the other node is refused
    body = client.encode(envelope(clinic, infno="9001", inp={"signIn": {
        "opter_no": "001", "mac": "m", "ip": "127.0.0.1"}}))
    h = signed(body)
    status, answer = raw(a, body, h)
    assert status == 200, answer
    assert_rejected(*raw(b, body, h), 401, 2006, "replay")


@pytest.mark.parametrize("policy,want_status,want", [
    ("local", 200, "LOCAL"),
    ("open", 200, "BYPASSED"),
    ("closed", 503, "ERROR"),
])
def test_redis_killed_policy_then_back(make_stack, make_redis, policy,
                                       want_status, want):
    server = make_redis()
    stack = make_stack(scheme="none", redis=server,
                       limits=(LIMIT % (" on_error=" + policy),))
    clinic = ready_clinic(stack)
    wait_store(stack, clinic, "redis")

    server.stop()
    r = send(stack, envelope(clinic), timeout=10)
    assert r.status == want_status, r.body
    if policy == "closed":
        assert_rejected(r.status, r.body, 503, 5005, "\"t1\"")
        assert r.headers["Retry-After"] == "1"
    line = access(stack)[-1]
    assert line["store"] == "down" and line["ratelimit"] == want

    server.start()
    wait_store(stack, clinic, "redis")
    logs = harness.error_log_text(stack)
    assert logs.count("is down") >= 1
    assert "is up" in logs


def test_redis_paused_no_hung_request(make_stack, make_redis):
    server = make_redis()
    stack = make_stack(scheme="none", redis=server,
                       redis_options="timeout=200ms connect_timeout=300ms",
                       limits=(LIMIT % "",))
    clinic = ready_clinic(stack)
    wait_store(stack, clinic, "redis")

    server.pause()
    try:
        got = [send(stack, envelope(clinic), timeout=10)
               for _ in range(3)]
        assert [r.status for r in got] == [200, 200, 200]
        states = [x["store"] for x in access(stack)[-3:]]
        assert states == ["down", "down", "down"]
    finally:
        server.resume()

    wait_store(stack, clinic, "redis")


def test_noscript_recovered(make_stack, make_redis):
    server = make_redis()
    stack = make_stack(scheme="none", redis=server, limits=(LIMIT % "",))
    clinic = ready_clinic(stack)
    wait_store(stack, clinic, "redis")

    redis_client.Redis(port=server.port).script_flush()
    r = send(stack, envelope(clinic))
    assert r.status == 200, r.body
    assert access(stack)[-1]["store"] == "redis"
    keys = redis_client.Redis(port=server.port).keys("yibao:{H*}:rl:t1:*")
    assert keys, "the limit state is in Redis"


def test_limit_config_errors(make_stack):
    for bad, word in [
            ("yibao_limit name=x by=clinic rate=10r/q;", "rate=10r/q"),
            ("yibao_limit name=x by=nobody rate=10r/s;", "by=nobody"),
            ("yibao_limit by=clinic rate=10r/s;", "needs name="),
            ("yibao_limit name=x by=clinic rate=1r/s infno=22O1;", "22O1"),
            ("yibao_limit name=x by= rate=1r/s;", "\"by=\""),
            ("yibao_limit name=x by=clinic rate=1r/s burst;", "\"burst\""),
            ("yibao_limit name=x by=clinic rate=1r/s colour=red;",
             "colour=red"),
            ("yibao_limit name=X by=clinic rate=1r/s;", "\"name=X\""),
            ("yibao_limit name=x by=clinic rate=0r/s;", "\"rate=0r/s\""),
            ("yibao_limit name=x by=clinic rate=1r/s burst=1000001;",
             "\"burst=1000001\""),
            ("yibao_limit name=x by=clinic rate=1r/s nodes=0;",
             "\"nodes=0\""),
            ("yibao_limit name=x by=clinic rate=1r/s on_error=maybe;",
             "\"on_error=maybe\""),
            ("yibao_limit name=x by=clinic;", "needs name=, by= and rate="),
            ("yibao_limit name=x by=all rate=1r/s;"
             "yibao_limit name=x by=clinic rate=1r/s;", "repeats a name")]:
        stack = make_stack(start=False, limits=(bad,))
        rc, out = stack.test_config()
        assert rc != 0 and word in out and "nginx.conf:" in out, out

    stack = make_stack(start=False, limits=(),
                       http_extra="yibao_redis 127.0.0.1:1 password=s3cr3t "
                                  "bogus=1;")
    rc, out = stack.test_config()
    assert rc != 0 and "bogus" in out and "s3cr3t" not in out, out

    # a wrong value is named by its parameter alone, never shown
    for bad, word in [("db=256", "\"db\""), ("timeout=0", "\"timeout\""),
                      ("connect_timeout=soon", "\"connect_timeout\""),
                      ("password=", "\"password\"")]:
        stack = make_stack(start=False, limits=(),
                           http_extra="yibao_redis 127.0.0.1:1 %s;" % bad)
        rc, out = stack.test_config()
        assert rc != 0 and ("invalid parameter %s" % word) in out, out
        assert "nginx.conf:" in out and ('"%s"' % bad) not in out, out


def test_caller_gone_while_waiting_nothing_sent(make_stack, make_redis):
    server = make_redis()
    stack = make_stack(scheme="none", redis=server,
                       redis_options="timeout=3s connect_timeout=3s",
                       limits=(LIMIT % "",))
    clinic = ready_clinic(stack)
    wait_store(stack, clinic, "redis")
    before = len(seen_requests(stack))

    server.pause()
    try:
        body = client.encode(envelope(clinic))
        s = socket.create_connection(("127.0.0.1", stack.port))
        head = "".join("%s: %s\r\n" % kv for kv in signed(body).items())
        s.sendall(("POST /fsi/api/rsfComIfsService/callService HTTP/1.1\r\n"
                   "Host: x\r\nContent-Length: %d\r\n%s\r\n"
                   % (len(body), head)).encode() + body)
        time.sleep(0.5)
        s.close()
        time.sleep(0.5)
    finally:
        server.resume()

    time.sleep(0.5)
    assert len(seen_requests(stack)) == before, \
        "nothing was sent for a caller that left"
    assert access(stack)[-1]["status"] == 499
    # and the gateway still serves
    assert send(stack, envelope(clinic)).status == 200



def test_zone_nonces_expire_behind_journal_records(make_stack):
    """A journal record is kept for days; the nonces that came after it
    are freed as they expire all the same (each type of entry has its own
    queue), so a small zone never fills up with expired nonces and
    answers YB5004 while a journal record is in it."""
    from test_journal import flow_until, journal
    stack = make_stack(scheme="csb", zone="128k",
                       location_extra="yibao_auth_window 1s;")
    clinic = ready_clinic(stack)
    steps, envs = flow_until(stack, clinic)
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1]

    # more nonces than the zone holds at once (fewer than 400), sent over
    # several authentication windows
    answers = []
    for _ in range(6):
        for _ in range(100):
            r = send(stack, envelope(clinic))
            answers.append((r.status, r.body.get("infcode"),
                            (r.body.get("err_msg") or "")[:60]))
        time.sleep(1.2)
    refused = [a for a in answers if a[0] != 200]
    assert not refused, (len(refused), refused[:3])

    # and the journal record is still there
    record = journal(stack, caller=CALLER, msgid=envs["2207"]["msgid"])
    assert record["state"] == "ok"


def test_zone_full_journal_record_keeps_its_state(make_stack):
    """A 2207's answer too big for the zone (a broken platform's 200 KB
    envelope, in a 128 KB zone): the record cannot take it and keeps its
    state "sent" (it used to be freed first and lost), so the clinic's
    repeat of the msgid is never sent again."""
    from test_journal import flow_until, sent
    stack = make_stack(scheme="csb", zone="128k")
    stack.allowed_log = (r'zone "yibao" is full: a journal record keeps',)
    clinic = ready_clinic(stack)
    answer = json.dumps({"infcode": 0, "err_msg": "", "output": {
        "setlinfo": {"setl_id": "S1", "pad": "x" * (200 * 1024)}}})
    steps, envs = flow_until(stack, clinic, fault={
        "mode": "answer", "act": True,
        "body_b64": base64.b64encode(answer.encode()).decode()})
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1][:2]

    again = send(stack, envs["2207"])
    assert len(sent(stack, "2207")) == 1
    assert again.status in (409, 502), (again.status, again.body)
    assert again.body["err_msg"][:6] in ("YB5101", "YB6010"), again.body
    assert harness.error_log_text(stack).count(
        'a journal record keeps its previous state') == 1


def test_zone_full_evicts_cached_answers_never_nonces(make_stack):
    """When the zone is full, cached answers are evicted (the oldest
    first) to make room; a nonce is never forgotten before its time, so
    a replay is still refused after the zone has turned over."""
    from test_cache import DICT
    from test_gateway_core import raw, signed
    stack = make_stack(scheme="csb", zone="128k")
    clinic = ready_clinic(stack)

    def query(n, **kw):
        return send(stack, envelope(clinic, infno="1901",
                                    inp=dict(DICT, parentValue="p%d" % n)),
                    **kw)

    # the first request's exact bytes, to replay them later
    body = json.dumps(envelope(clinic, infno="1901", inp=dict(
        DICT, parentValue="first"))).encode()
    h = signed(body)
    status, first = raw(stack, body, h)
    assert status == 200 and first["infcode"] == 0, first

    # many more answers than the zone holds (each about 1 KB)
    for n in range(300):
        r = query(n)
        assert r.status == 200 and r.body["infcode"] == 0, (n, r.body)
        assert r.headers["X-Yibao-Cache"] == "MISS"

    # the oldest answers made room, the newest are still there
    assert query(0).headers["X-Yibao-Cache"] == "MISS"
    assert query(299).headers["X-Yibao-Cache"] == "HIT"

    # and the first request's nonce is still remembered
    assert_rejected(*raw(stack, body, h), 401, 2006, "replay")
