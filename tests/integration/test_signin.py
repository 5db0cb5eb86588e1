"""Sign-in on the callers' behalf (yibao_signin auto):
an envelope without sign_no gets its operator's sign_no of the day,
which the gateway obtains with one 9001 of its own on first need."""

import re
import threading

import pytest

import harness
from harness import sim_post

from test_gateway_core import (assert_rejected, envelope, send,
                               signed_in, township_clinic)
from test_journal import sent


def signin_stack(make_stack, make_redis=None, use_redis=False,
                 signin="yibao_signin auto mac=00-16-3E-00-00-01 "
                        "ip=10.0.0.9;", start=True, **kw):
    server = make_redis() if use_redis else None
    port = harness.free_port()
    stack = make_stack(
        start=start, scheme="csb", redis=server, sim_port=port,
        http_extra="    %s\n" % signin,
        platform="http://127.0.0.1:%d timeout=3s" % port, **kw)
    return stack


def sign_ins(stack):
    return sent(stack, "9001")


@pytest.mark.parametrize("use_redis", [False, True])
def test_envelope_without_sign_no_is_signed_in(make_stack, make_redis,
                                               use_redis):
    stack = signin_stack(make_stack, make_redis, use_redis)
    clinic = township_clinic(stack)

    r = send(stack, envelope(clinic, sign_no=""))
    assert r.status == 200 and r.body["infcode"] == 0, r.body

    got = sign_ins(stack)
    assert len(got) == 1
    data = got[0]["envelope"]["input"]["signIn"]
    assert data == {"opter_no": "001", "mac": "00-16-3E-00-00-01",
                    "ip": "10.0.0.9"}
    assert got[0]["envelope"]["fixmedins_code"] == clinic["entity"]
    sign_no = sent(stack, "1101")[-1]["envelope"]["sign_no"]
    assert sign_no

    # from the store from now on: no second 9001
    for _ in range(3):
        r = send(stack, envelope(clinic, sign_no=""))
        assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert len(sign_ins(stack)) == 1
    assert {x["envelope"]["sign_no"] for x in sent(stack, "1101")} == \
        {sign_no}

    # another operator is signed in on its own
    r = send(stack, envelope(clinic, sign_no="", opter="002"))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert len(sign_ins(stack)) == 2

    if use_redis:
        import redis
        rc = redis.Redis(host="127.0.0.1", port=stack.redis.port)
        keys = [k.decode() for k in rc.keys("yibao:signin:*")]
        assert len(keys) == 2, keys
        k = [k for k in keys if ":001:" in k][0]
        assert rc.get(k).decode() == sign_no
        ttl = rc.pttl(k)
        assert 0 < ttl <= 86400 * 1000

    assert re.search(r"\[notice\].*signed in by the gateway \(9001\)",
                     harness.error_log_text(stack))


def test_one_sign_in_for_concurrent_requests(make_stack):
    stack = signin_stack(make_stack, workers=1)
    clinic = township_clinic(stack)
    sim_post(stack, "fault", {"mode": "latency", "infno": "9001",
                              "latency_ms": 800, "count": 1})
    results = []

    def one():
        results.append(send(stack, envelope(clinic, sign_no="")))

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [r.status for r in results] == [200] * 6, \
        [r.body for r in results]
    assert all(r.body["infcode"] == 0 for r in results)
    assert len(sign_ins(stack)) == 1


def test_callers_own_sign_in_fills_the_store(make_stack):
    stack = signin_stack(make_stack)
    clinic = signed_in(stack, township_clinic(stack))
    assert len(sign_ins(stack)) == 1

    r = send(stack, envelope(clinic, sign_no=""))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert len(sign_ins(stack)) == 1
    assert sent(stack, "1101")[-1]["envelope"]["sign_no"] == \
        clinic["sign_no"]


def test_given_sign_no_is_left_alone(make_stack):
    stack = signin_stack(make_stack)
    clinic = township_clinic(stack)
    r = send(stack, envelope(clinic, sign_no="370000202001010000000999"))
    assert r.status == 200 and r.body["infcode"] == -1
    assert "sign_no" in r.body["err_msg"]
    assert sign_ins(stack) == []


@pytest.mark.parametrize("mode", ["http_500", "reset", "drop_before_act"])
def test_sign_in_failure_is_a_gateway_error(make_stack, mode):
    stack = signin_stack(make_stack)
    clinic = township_clinic(stack)
    sim_post(stack, "fault", {"mode": mode, "infno": "9001", "count": 1})

    r = send(stack, envelope(clinic, sign_no=""))
    assert_rejected(r.status, r.body, 502, 6013, "9001", "not sent")
    assert sent(stack, "1101") == []

    # the next one signs in
    r = send(stack, envelope(clinic, sign_no=""))
    assert r.status == 200 and r.body["infcode"] == 0, r.body


def test_sign_in_off_sends_as_it_is(make_stack):
    stack = signin_stack(make_stack, signin="yibao_signin off;")
    clinic = township_clinic(stack)
    r = send(stack, envelope(clinic, sign_no=""))
    assert r.status == 200 and r.body["infcode"] == -1
    assert "sign_no" in r.body["err_msg"]
    assert sign_ins(stack) == []


@pytest.mark.parametrize("http_extra,platform,message", [
    ("yibao_signin always;", "auto", "invalid mode"),
    ("yibao_signin auto mac=00-16-3E-00-00;", "auto", "invalid parameter"),
    ("yibao_signin auto mac=00-16-3E-00-00-0G;", "auto",
     "invalid parameter"),
    ("yibao_signin auto ip=10.0.0;", "auto", "invalid parameter"),
    ("yibao_signin auto;", None,
     "\"yibao_signin auto\" needs yibao_platform"),
])
def test_bad_configuration_fails_nginx_t(make_stack, http_extra, platform,
                                         message):
    stack = make_stack(start=False, http_extra=http_extra,
                       platform=platform,
                       resolve="query" if platform else "off")
    rc, out = stack.test_config()
    assert rc != 0, out
    assert message in out, out
    assert re.search(r"nginx\.conf:\d+", out), out


class _Chunked:
    """A stand-in platform for 9001 that answers in chunks (what a real
    platform behind a proxy may do), or with bytes that are not HTTP."""

    def __init__(self, answer):
        import http.server
        import json

        body = json.dumps(answer).encode() if isinstance(answer, dict) \
            else answer
        self.bodies = []

        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                outer.bodies.append(self.rfile.read(n))
                if not isinstance(answer, dict):
                    self.wfile.write(body)
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for i in range(0, len(body), 7):
                    part = body[i:i + 7]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                self.wfile.write(b"0\r\n\r\n")
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("answer,ok", [
    ({"infcode": 0, "output": {"signinoutb": {"sign_no": "CHUNKED0001",
                                              "sign_time": "x"}}}, True),
    (b"SMTP ready\r\n\r\n", False),
])
def test_platform_client_reads_chunked_and_refuses_non_http(
        make_stack, answer, ok):
    fake = _Chunked(answer)
    try:
        stack = make_stack(
            scheme="csb", http_extra="    yibao_signin auto;\n",
            platform="http://127.0.0.1:%d timeout=3s" % fake.port)
        clinic = township_clinic(stack)
        r = send(stack, envelope(clinic, sign_no=""))
    finally:
        fake.close()

    assert len(fake.bodies) == 1
    assert b'"infno":"9001"' in fake.bodies[0]
    if ok:
        # the platform (the simulator) never issued that sign_no
        assert r.status == 200 and r.body["infcode"] == -1, r.body
        assert sent(stack, "1101")[-1]["envelope"]["sign_no"] == \
            "CHUNKED0001"
    else:
        assert_rejected(r.status, r.body, 502, 6013, "not HTTP")
        assert sent(stack, "1101") == []
