"""The response cache: read-only queries answered from Redis
or the embedded store, stale answers while the platform fails, never a
state-changing transaction."""

import json
import time
import urllib.request

import pytest

import harness
from harness import sim_get, sim_post

from test_gateway_core import envelope, ready_clinic, send

DICT = {"type": "psn_cert_type", "parentValue": "", "admdvs": "370102",
        "date": "", "valiFlag": "1"}


def platform_calls(stack, infno):
    got = sim_get(stack, "requests?n=500")
    got = got["requests"] if isinstance(got, dict) else got
    return sum(1 for r in got if r.get("envelope")
               and r["envelope"]["infno"] == infno)


def wait_stored(server, n=1):
    """With Redis, waits until it holds n cached answers: the answer of a
    miss is stored as it goes out, and the next request, at the other
    worker, can be there first (the embedded store has it before)."""
    if server is None:
        return
    import redis as redis_client
    r = redis_client.Redis(port=server.port)
    harness.wait_until("%d cached answers in Redis" % n, lambda: len([
        k for k in r.keys("*:c:*") if not k.endswith(b":lock")]) >= n)


def query(stack, clinic, inp=None):
    return send(stack, envelope(clinic, infno="1901", inp=inp or DICT))


@pytest.mark.parametrize("use_redis", [False, True])
def test_hit_after_miss_and_key(make_stack, make_redis, use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    clinic = ready_clinic(stack)

    first = query(stack, clinic)
    assert first.status == 200 and first.body["infcode"] == 0, first.body
    assert first.headers["X-Yibao-Cache"] == "MISS"
    wait_stored(server)

    # another msgid, inf_time and caller nonce: the same question
    second = query(stack, clinic)
    assert second.headers["X-Yibao-Cache"] == "HIT"
    assert second.body == first.body
    assert platform_calls(stack, "1901") == 1
    # the caller still gets its own msgid back
    assert second.headers["X-Yibao-Msgid"] != first.headers["X-Yibao-Msgid"]

    other = query(stack, clinic, dict(DICT, type="insutype"))
    assert other.headers["X-Yibao-Cache"] == "MISS"
    assert platform_calls(stack, "1901") == 2

    # each worker writes its line once the answer is sent, so the lines of
    # two workers may come in either order: match them by the caller's msgid
    with open(stack.access_log, encoding="utf-8") as f:
        lines = [json.loads(x) for x in f]
    logged = {x["msgid"]: x["cache"] for x in lines if x["infno"] == "1901"}
    assert [logged.get(r.headers["X-Yibao-Msgid"])
            for r in (first, second, other)] == ["MISS", "HIT", "MISS"]
    assert len(logged) == 3

    # a state-creating transaction is never looked up
    r = send(stack, envelope(clinic, infno="2201", inp={"data": {}}))
    assert "X-Yibao-Cache" not in r.headers


def stale_after(stack, clinic, mode, logged):
    """Once the cached 1901 has expired, the platform fails with mode:
    the stale answer is served, marked, and the error log says why."""
    time.sleep(1.3)
    sim_post(stack, "fault", {"infno": "1901", "mode": mode, "count": 1})
    stale = query(stack, clinic)
    assert stale.status == 200, stale.body
    assert stale.headers["X-Yibao-Cache"] == "STALE"
    assert stale.body["infcode"] == 0
    assert logged in harness.error_log_text(stack)
    return stale


def test_failures_not_cached_stale_served_while_platform_fails(make_stack):
    stack = make_stack(scheme="none", caches=(
        "yibao_cache infno=1901 ttl=1s stale=1h;",))
    clinic = ready_clinic(stack)

    sim_post(stack, "fault", {"infno": "1901", "mode": "non_envelope",
                              "count": 1})
    r = query(stack, clinic)
    assert r.status == 502
    r = query(stack, clinic)
    assert r.status == 200 and r.headers["X-Yibao-Cache"] == "MISS"

    stale_after(stack, clinic, "http_500", "serving the stale cached answer")

    # the platform is back: a fresh answer, cached again
    fresh = query(stack, clinic)
    assert fresh.headers["X-Yibao-Cache"] == "EXPIRED"
    assert query(stack, clinic).headers["X-Yibao-Cache"] == "HIT"

    # an answer that breaks off after its header: the stale one too
    stale = stale_after(stack, clinic, "truncate",
                        "broke off after its header; serving the stale")
    assert stale.body["output"] == fresh.body["output"]


@pytest.mark.parametrize("use_redis", [False, True])
def test_purge(make_stack, make_redis, use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="none", redis=server)
    clinic = ready_clinic(stack)
    query(stack, clinic)
    wait_stored(server)
    assert query(stack, clinic).headers["X-Yibao-Cache"] == "HIT"

    req = urllib.request.Request(stack.url + "/yibao/cache?infno=1901",
                                 method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["purged"] >= 1

    assert query(stack, clinic).headers["X-Yibao-Cache"] == "MISS"

    req = urllib.request.Request(stack.url + "/yibao/cache?infno=X",
                                 method="DELETE")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("a bad purge was accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 400


def test_state_changing_never_cached_config(make_stack):
    for line in ("yibao_cache infno=2201-2208 ttl=1m;",
                 "yibao_cache infno=1101,2207 ttl=1m;",
                 "yibao_cache infno=* ttl=1m;"):
        stack = make_stack(start=False, caches=(line,))
        rc, out = stack.test_config()
        assert rc != 0 and "never cached" in out, out

    for line, word in (("yibao_cache infno=1901 ttl=;", '"ttl="'),
                       ("yibao_cache infno=1901 ttl=1m stale;", '"stale"'),
                       ("yibao_cache infno=1901 ttl=1m size=1k;",
                        '"size=1k"'),
                       ("yibao_cache infno=1901 ttl=0;", '"ttl=0"'),
                       ("yibao_cache infno=1901 ttl=1m stale=soon;",
                        '"stale=soon"'),
                       ("yibao_cache infno=1901 ttl=1m max_size=0;",
                        '"max_size=0"'),
                       ("yibao_cache infno=19O1 ttl=1m;",
                        'invalid infno class "19O1"'),
                       ("yibao_cache ttl=1m;", "needs infno= and ttl="),
                       ("yibao_cache infno=1901;", "needs infno= and ttl=")):
        stack = make_stack(start=False, caches=(line,))
        rc, out = stack.test_config()
        assert rc != 0 and word in out and "nginx.conf:" in out, out


@pytest.mark.parametrize("use_redis", [False, True])
def test_hit_logs_the_ids_of_the_answer(make_stack, make_redis, use_redis):
    """A hit is served without parsing the stored answer again: the ids
    the log takes from the answer (psn_no of a 1101) are stored beside it
    and logged for the hit exactly as for the miss."""
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server, caches=(
        "yibao_cache infno=1101 ttl=1h;",))
    clinic = ready_clinic(stack)

    first = send(stack, envelope(clinic))
    assert first.status == 200 and first.body["infcode"] == 0, first.body
    assert first.headers["X-Yibao-Cache"] == "MISS"
    wait_stored(server)
    second = send(stack, envelope(clinic))
    assert second.headers["X-Yibao-Cache"] == "HIT"
    assert second.body == first.body
    assert platform_calls(stack, "1101") == 1

    with open(stack.access_log, encoding="utf-8") as f:
        lines = [json.loads(x) for x in f if '"infno":"1101"' in x]
    assert [x["cache"] for x in lines] == ["MISS", "HIT"]
    assert lines[0]["psn_no"] not in ("", "-")
    assert lines[1]["psn_no"] == lines[0]["psn_no"]
    assert lines[1]["infcode"] == lines[0]["infcode"] == "0"

    if use_redis:
        import redis as redis_client
        r = redis_client.Redis(port=server.port)
        keys = [k for k in r.keys("*:c:1101:*") if not k.endswith(b":lock")]
        assert len(keys) == 1
        head = r.get(keys[0]).split(b"\n", 1)[0]
        # "<fresh_until_ms> <n>:<mdtrt_id><n>:<setl_id><n>:<psn_no>"
        stamp, ids = head.split(b" ", 1)
        assert stamp.isdigit() and ids.startswith(b"0:0:")
        assert len(ids) > len(b"0:0:26:")


def test_hit_of_an_old_value_parses_it(make_stack, make_redis):
    """A value stored without the ids (as an earlier version stores it)
    is still served, its ids read from the answer itself."""
    import redis as redis_client
    server = make_redis()
    stack = make_stack(scheme="csb", redis=server, caches=(
        "yibao_cache infno=1101 ttl=1h;",))
    clinic = ready_clinic(stack)
    first = send(stack, envelope(clinic))
    assert first.headers["X-Yibao-Cache"] == "MISS"
    wait_stored(server)

    r = redis_client.Redis(port=server.port)
    key = [k for k in r.keys("*:c:1101:*") if not k.endswith(b":lock")][0]
    head, answer = r.get(key).split(b"\n", 1)
    r.set(key, head.split(b" ", 1)[0] + b"\n" + answer, px=3600000)

    second = send(stack, envelope(clinic))
    assert second.headers["X-Yibao-Cache"] == "HIT"
    assert second.body == first.body
    assert platform_calls(stack, "1101") == 1
    with open(stack.access_log, encoding="utf-8") as f:
        lines = [json.loads(x) for x in f if '"infno":"1101"' in x]
    assert [x["cache"] for x in lines] == ["MISS", "HIT"]
    assert lines[0]["psn_no"] not in ("", "-")
    assert lines[1]["psn_no"] == lines[0]["psn_no"]

    # a value this version cannot frame is never served: a miss
    r.set(key, head + b"x" + answer, px=3600000)
    third = send(stack, envelope(clinic))
    assert third.headers["X-Yibao-Cache"] == "MISS"
    assert third.body["infcode"] == 0
    assert platform_calls(stack, "1101") == 2
