"""Security checks (docs/security.md): secrets files,
no secret or personal data in any output, the operators' endpoints
refused unless allowed, a limit on every input dimension."""

import http.client
import json
import os
import socket
import urllib.parse

import pytest

import harness
from harness import ENDPOINT, sim_post

import yibao_client as client
import yibao_hostile
from test_gateway_core import (CALLER, SECRET, envelope, ready_clinic,
                               send, township_clinic)

ID_NUMBER = client.DEFAULT_ID_NUMBER


# ---------------------------------------------------------------------------
# secrets files
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["keys.tsv", "callers.tsv"])
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601])
def test_secrets_file_with_wrong_mode_refused(make_stack, name, mode):
    stack = make_stack(start=False)
    os.chmod(stack.path("data", name), mode)
    rc, out = stack.test_config()
    assert rc != 0, out
    assert name in out and "chmod 600" in out and "nginx.conf:" in out, out
    # nothing of the file is shown
    for row in harness.yibao_stack.read_tsv(stack.path("data", name)):
        assert row[1] not in out


def test_secrets_files_mode_600_and_public_registry_accepted(make_stack):
    stack = make_stack(start=False)
    for name in ("keys.tsv", "callers.tsv"):
        os.chmod(stack.path("data", name), 0o600)
    os.chmod(stack.path("data", "clinics.tsv"), 0o644)
    rc, out = stack.test_config()
    assert rc == 0, out


# ---------------------------------------------------------------------------
# no secret and no personal data in logs, status, metrics, errors
# ---------------------------------------------------------------------------

def http_get(url, source=None):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10,
                                      source_address=source)
    conn.request("GET", u.path + ("?" + u.query if u.query else ""))
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


@pytest.mark.parametrize("log_level", ["info", "debug"])
def test_no_secret_or_personal_data_in_any_output(make_stack, log_level):
    stack = make_stack(scheme="csb", log_level=log_level)
    clinic = township_clinic(stack)
    outputs = []            # (what, text) the gateway produced

    # a whole visit with its cancel: the platform's 1101 answer names
    # the person (psn_no, psn_name, certno)
    st = client.FlowState()
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   cancel=True, state=st)
    assert not client.flow_failed(steps), steps[-1]
    person = st.person
    assert person["psn_no"] and person["psn_name"] and person["certno"]

    # failures: each answered by the gateway itself (a YB error)
    signed = ready_clinic(stack)
    bad = []
    bad.append(send(stack, envelope(signed), secret="wrong-secret-xxxxxxxx"))
    bad.append(send(stack, envelope(signed), caller="nobody"))
    env = envelope(signed)
    env["input"]["data"]["certno"] = ID_NUMBER[:-1] + "X"
    env["input"]["data"]["psn_name"] = person["psn_name"]
    env["inf_time"] = "2024-02-30 08:00:00"
    bad.append(send(stack, env))
    env = envelope(signed, infno="2201", inp={"data": {
        "psn_no": person["psn_no"], "certno": ID_NUMBER,
        "psn_name": person["psn_name"]}})
    env["opter"] = "x" * 31
    bad.append(send(stack, env))
    bad.append(client.post(stack.url, CALLER, SECRET, b'{"infno":"1101",'
                           b'"certno":"' + ID_NUMBER.encode() + b'",'))
    # the platform refuses and its answer is lost
    sim_post(stack, "fault", {"infno": "2201", "mode": "garbage",
                              "count": 1})
    bad.append(send(stack, envelope(signed, infno="2201", inp={"data": {
        "psn_no": person["psn_no"], "certno": ID_NUMBER}})))
    for r in bad:
        assert r.status >= 400, r.body
        assert r.body["err_msg"].startswith("YB"), r.body
        outputs.append(("error envelope", json.dumps(r.body,
                                                     ensure_ascii=False)))

    for path in ("/yibao/status", "/yibao/metrics", "/yibao/status.html"):
        status, body = http_get(stack.status_url + path)
        assert status == 200
        outputs.append((path, body.decode("utf-8", "replace")))

    stack.stop()
    for name in ("error.log", "access.log"):
        with open(stack.path("logs", name), encoding="utf-8",
                  errors="replace") as f:
            outputs.append((name, f.read()))

    secrets = {}
    for row in harness.yibao_stack.read_tsv(stack.path("data", "keys.tsv")):
        # at debug level nginx's proxy module itself logs the headers it
        # sends, the AK (an identifier, not a secret) among them
        if log_level != "debug":
            secrets["AK of " + row[0]] = row[1]
        secrets["SK of " + row[0]] = row[2]
    for row in harness.yibao_stack.read_tsv(stack.path("data",
                                                       "callers.tsv")):
        secrets["secret of " + row[0]] = row[1]
    personal = {"certno": ID_NUMBER, "psn_no": person["psn_no"],
                "psn_name": person["psn_name"]}
    if person.get("certno") != ID_NUMBER:
        personal["platform certno"] = person["certno"]

    found = [(what, kind, value) for what, text in outputs
             for kind, value in list(secrets.items()) + list(
                 personal.items())
             if value and value in text]
    assert not found, found
    # the logs did record the visit (masked)
    log = dict(outputs)["access.log"]
    assert st.mdtrt_id in log and '"psn_no":"' in log


def test_platform_message_quoting_the_person_is_masked(make_stack):
    """The platform quotes a value of the request in its message; when
    that value is the person's name (or psn_no) the transaction carries,
    the log's platform_msg has it masked; the clinic gets the platform's
    answer as it came."""
    stack = make_stack(scheme="csb")
    clinic = township_clinic(stack)
    bases, persons = yibao_hostile.visit_envelopes(
        stack.url, CALLER, SECRET, clinic["org"], clinic["admdvs"],
        clinic["name"])
    env = bases["2206"]
    data = env["input"]["data"]
    name, psn_no = data["psn_name"], data["psn_no"]
    assert name and psn_no and name in persons[1]
    sent = []
    for value in (name, psn_no):
        env["msgid"] = client.new_msgid(env["fixmedins_code"])
        data["psn_setlway"] = value
        r = client.post(stack.url, CALLER, SECRET, env)
        assert r.status == 200 and r.body["infcode"] == -1, r.body
        assert value in r.body["err_msg"], r.body
        sent.append(env["msgid"])
    stack.stop()
    lines = [json.loads(line) for line in open(stack.access_log,
                                               encoding="utf-8")]
    msgs = [rec["platform_msg"] for rec in lines if rec["msgid"] in sent]
    assert len(msgs) == 2, lines[-3:]
    assert name not in msgs[0] and "取值无效：****" in msgs[0], msgs
    assert psn_no not in msgs[1] and psn_no[:4] + "*" in msgs[1], msgs
    assert not yibao_hostile.personal_in_logs(
        [stack.error_log, stack.access_log], [name, psn_no])


# ---------------------------------------------------------------------------
# operators' endpoints
# ---------------------------------------------------------------------------

def test_journal_and_purge_refused_unless_allowed(make_stack):
    stack = make_stack(scheme="none")
    other = ("127.0.0.2", 0)
    journal = "/yibao/journal?state=unknown"
    purge = "/yibao/cache?infno=1312"

    # the shipped configuration: 127.0.0.1 only
    assert http_get(stack.url + journal, source=other)[0] == 403
    assert http_get(stack.url + journal)[0] == 200
    for source, want in ((other, 403), (None, 200)):
        conn = http.client.HTTPConnection("127.0.0.1", stack.port,
                                          timeout=10, source_address=source)
        conn.request("DELETE", purge)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == want, body
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=10,
                                      source_address=other)
    conn.request("POST", "/yibao/journal?caller=%s&msgid=X1&state=ok"
                 % CALLER)
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 403

    # the gateway's endpoints answer nowhere else
    for path in ("/yibao/journal-x", "/yibao/status", "/yibao/metrics"):
        assert http_get(stack.url + path)[0] == 404, path


# ---------------------------------------------------------------------------
# a limit on every input dimension (docs/security.md lists them)
# ---------------------------------------------------------------------------

def raw(stack, body, headers):
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=20)
    conn.request("POST", ENDPOINT, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, data


def raw_line(stack, line):
    """Sends a request line and an empty header; (status, body)."""
    s = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
    s.sendall(line.encode() + b"\r\nHost: x\r\nContent-Length: 0\r\n"
              b"Connection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_http_errors_are_envelopes(make_stack):
    """What nginx refuses before a location is chosen, and other paths,
    get national envelopes too (nginx.conf's error_page 400 and location
    /); inside the gateway's location the gateway's own codes stay."""
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)
    body = client.encode(envelope(clinic))
    signed = list(client.signed_headers(CALLER, SECRET, "POST", ENDPOINT,
                                        body).items())
    length = [("Content-Length", str(len(body)))]
    chunked = [("Transfer-Encoding", "chunked")]

    def one(method, path, headers, data=b"", shut=False):
        req = yibao_hostile.request_bytes(method, path, headers, data)
        a = yibao_hostile.exchange("127.0.0.1", stack.port, [req], 10,
                                   shut=shut)[0]
        assert a.status is not None, (method, path, a.error)
        return a.status, a.json()

    cases = [
        ("both framings", one("POST", ENDPOINT, signed + length + chunked,
                              b"0\r\n\r\n"), 400, "YB1011", "framing"),
        ("two lengths", one("POST", ENDPOINT, signed + length + [
            ("Content-Length", str(len(body) + 1))], body), 400, "YB1011",
         "framing"),
        ("other path", one("POST", "/fsi/api/other", signed + length, body),
         404, "YB1014", "no such endpoint"),
        ("root", one("GET", "/", []), 404, "YB1014", "no such endpoint"),
        # the gateway's own answers are not taken over by error_page 400
        ("empty body", one("POST", ENDPOINT, signed + [
            ("Content-Length", "0")]), 400, "YB1001", "empty"),
        ("broken chunk", one("POST", ENDPOINT, signed + chunked,
                             b"zz\r\n", shut=True), 400, "YB1011",
         "malformed or incomplete"),
    ]
    for what, (status, answer), want_status, code, word in cases:
        assert status == want_status, (what, status, answer)
        assert answer["infcode"] == -1 and answer["output"] is None, \
            (what, answer)
        assert answer["err_msg"].startswith(code + " "), (what, answer)
        assert word in answer["err_msg"], (what, answer)
    # and the gateway still serves
    assert send(stack, envelope(clinic)).status == 200


def test_every_input_dimension_is_bounded(make_stack):
    stack = make_stack(scheme="none",
                       location_extra="yibao_json_max_values 200;")
    clinic = ready_clinic(stack)

    def code_of(data):
        body = json.loads(data)
        assert body["infcode"] == -1 and body["output"] is None, body
        return body["err_msg"][:6]

    def post(body, **headers):
        h = client.signed_headers(CALLER, SECRET, "POST", ENDPOINT, body)
        h.update(headers)
        return raw(stack, body, h)

    cases = []
    # body size: client_max_body_size 1m
    cases.append(("body", post(b" " * (1024 * 1024 + 1)), 413, "YB1002"))
    # nesting: yibao_json_max_depth (32)
    cases.append(("depth", post(b'{"x":' + b"[" * 40 + b"]" * 40 + b"}"),
                  400, "YB1004"))
    # values: yibao_json_max_values (200 here)
    many = envelope(clinic, inp={"data": {"k%d" % i: i
                                          for i in range(300)}})
    cases.append(("values", post(client.encode(many)), 400, "YB1012"))
    # an envelope field longer than its bound
    long_opter = envelope(clinic, opter="1" * 31)
    cases.append(("field", post(client.encode(long_opter)), 400, "YB1007"))
    long_msgid = envelope(clinic, msgid="1" * 65)
    cases.append(("msgid", post(client.encode(long_msgid)), 400, "YB1007"))
    # caller headers: nonce 16..64, signature 64 hex, caller known
    body = client.encode(envelope(clinic))
    cases.append(("nonce", post(body, **{"X-Yibao-Nonce": "a" * 65}), 401,
                  "YB2005"))
    cases.append(("signature", post(body, **{
        "X-Yibao-Signature": "0" * 65}), 401, "YB2003"))
    cases.append(("caller", post(body, **{"X-Yibao-Caller": "c" * 300}),
                  401, "YB2002"))
    # one header larger than large_client_header_buffers (8k)
    cases.append(("header", post(body, **{"X-Padding": "p" * 9000}), 400,
                  "YB1011"))
    # the request line: large_client_header_buffers too
    status, data = raw_line(stack, "POST %s?%s HTTP/1.1" % (
        ENDPOINT, "q" * 9000))
    cases.append(("request line", (status, data), 400, "YB1011"))

    for what, (status, data), want_status, want_code in cases:
        assert status == want_status, (what, status, data[:300])
        code = code_of(data)
        if want_code:
            assert code == want_code, (what, data[:300])
    # and the gateway still serves
    assert send(stack, envelope(clinic)).status == 200


def test_platform_answer_size_bounded(make_stack):
    """A platform answer larger than yibao_response_max is refused, not
    held or passed on."""
    stack = make_stack(scheme="none",
                       location_extra="yibao_response_max 256;")
    clinic = township_clinic(stack)
    r = send(stack, envelope(clinic, infno="9001", inp={"signIn": {
        "opter_no": "001", "mac": "m", "ip": "127.0.0.1"}}))
    assert r.status == 502 and r.body["err_msg"].startswith("YB6005"), \
        r.body
    assert r.body["output"] is None
