"""Gateway core: authenticated callers in, correctly signed national
envelopes out, end to end through the real nginx and the
strict platform simulator."""

import base64
import http.client
import json
import os
import socket
import stat
import subprocess
import time

import pytest

import harness
from harness import ENDPOINT, sim_get, sim_post

import yibao_client as client

CALLER = "village-subsystem"
SECRET = "demo-village-subsystem-secret-0001"


def registry(stack):
    rows = harness.yibao_stack.read_tsv(stack.path("data", "clinics.tsv"))
    return [dict(zip(("org", "name", "admdvs", "mode", "entity",
                      "entity_name", "key"), r)) for r in rows]


def township_clinic(stack):
    return next(c for c in registry(stack)
                if c["mode"] == "township")


def ready_clinic(stack):
    return signed_in(stack, township_clinic(stack))


def own_clinic(stack):
    return next(c for c in registry(stack)
                if c["mode"] == "own" and c["org"] != c["entity"]
                and not c["name"].endswith("卫生院"))


def envelope(clinic, infno="1101", inp=None, **kw):
    inp = inp if inp is not None else {"data": {
        "mdtrt_cert_type": "02", "mdtrt_cert_no": "370102195603152017",
        "card_sn": "", "begntime": "", "psn_cert_type": "01",
        "certno": "370102195603152017", "psn_name": ""}}
    kw.setdefault("sign_no", clinic.get("sign_no", ""))
    return client.make_envelope(infno, inp, clinic["org"], clinic["name"],
                                clinic["admdvs"], **kw)


def signed_in(stack, clinic, caller=CALLER, secret=SECRET):
    """The clinic with the sign_no of a 9001 sign-in through the gateway
    (the platform wants one on every other transaction)."""
    env = client.make_envelope("9001", {"signIn": {
        "opter_no": "001", "mac": "00:16:3e:00:00:01",
        "ip": "127.0.0.1"}}, clinic["org"], clinic["name"],
        clinic["admdvs"])
    r = send(stack, env, caller=caller, secret=secret)
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    return dict(clinic,
                sign_no=r.body["output"]["signinoutb"]["sign_no"])


def send(stack, env, caller=CALLER, secret=SECRET, **kw):
    return client.post(stack.url, caller, secret, env, **kw)


def raw(stack, body, headers, method="POST", path=ENDPOINT):
    """One request with exact bytes and headers; returns (status, json)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=20)
    conn.request(method, path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data) if data else None


def signed(body, path=ENDPOINT, method="POST", **kw):
    return client.signed_headers(CALLER, SECRET, method, path, body, **kw)


def assert_rejected(status, body, want_status, code, *words):
    assert status == want_status, body
    assert body["infcode"] == -1
    assert body["output"] is None
    assert body["err_msg"].startswith("YB%d " % code), body["err_msg"]
    for w in words:
        assert w in body["err_msg"], body["err_msg"]


def flow_ok(stack, clinic):
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   cancel=True)
    bad = [(i, s, b) for i, s, b in steps
           if s != 200 or str(b.get("infcode")) != "0"]
    assert not bad, bad
    assert [s[0] for s in steps] == ["9001", "1101", "2201", "2203", "2204",
                                     "2206", "2207", "2208"]
    return steps


# ---------------------------------------------------------------------------
# the outpatient flow, per signing scheme and route layout
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("scheme,route", [
    ("csb", ("prefix", "/isp-api/powercsb/")),
    ("tif", ("single", "/fsi/api/rsfComIfsService/callService")),
    ("zj-sm3", ("table", {
        "9001": "/fsi/api/signInSignOutService/signIn",
        "1101": "/fsi/api/fsiPsnInfoService/queryPsnInfo",
        "2201": "/fsi/api/outpatientDocInfoService/outpatientRregistration",
        "2203": "/fsi/api/outpatientDocInfoService/outpatientMdtrtinfoUp",
        "2204": "/fsi/api/outpatientDocInfoService/outpatientFeeListUp",
        "2206": "/fsi/api/outpatientSettleService/preSettletment",
        "2207": "/fsi/api/outpatientSettleService/saveSettletment",
        "2208": "/fsi/api/outpatientSettleService/cancleSettletment"})),
])
def test_outpatient_flow_township_and_own(make_stack, scheme, route):
    stack = make_stack(scheme=scheme, route=route)

    for clinic in (township_clinic(stack), own_clinic(stack)):
        steps = flow_ok(stack, clinic)

        settle = steps[6][2]["output"]["setlinfo"]
        # the platform echoes the msgid it got; the caller sees its own
        assert settle["medins_setl_id"].startswith(clinic["org"][:12]) \
            or settle["medins_setl_id"].startswith(clinic["entity"])

    settlements = sim_get(stack, "settlements")
    rows = settlements["settlements"] if isinstance(settlements, dict) \
        else settlements
    assert len(rows) == 2
    for row in rows:
        assert row["state"] == "cancelled"

    sent = sim_get(stack, "requests?n=200")
    sent = sent["requests"] if isinstance(sent, dict) else sent
    codes = {r["envelope"]["fixmedins_code"] for r in sent
             if r.get("envelope")}
    entities = {township_clinic(stack)["entity"], own_clinic(stack)["entity"]}
    assert codes == entities
    for r in sent:
        env = r["envelope"]
        assert env["msgid"].startswith(env["fixmedins_code"])
        assert len(env["msgid"]) == 30
        assert not any(h.lower().startswith("x-yibao-")
                       for h in r.get("headers", {}))


def test_township_clinic_gets_entity_identity_and_own_msgid(make_stack):
    stack = make_stack(scheme="csb")
    clinic = ready_clinic(stack)
    env = envelope(clinic)
    r = send(stack, env)
    assert r.status == 200 and r.body["infcode"] == 0, r.body

    assert r.headers["X-Yibao-Msgid"] == env["msgid"]
    upstream_msgid = r.headers["X-Yibao-Upstream-Msgid"]
    assert upstream_msgid != env["msgid"]
    assert upstream_msgid.startswith(clinic["entity"])
    assert len(upstream_msgid) == 30

    last = sim_get(stack, "requests?n=1")
    last = (last["requests"] if isinstance(last, dict) else last)[-1]
    assert last["envelope"]["fixmedins_code"] == clinic["entity"]
    assert last["envelope"]["fixmedins_name"] == clinic["entity_name"]
    assert last["envelope"]["msgid"] == upstream_msgid
    # the rest of the envelope arrives untouched
    assert last["envelope"]["input"] == env["input"]
    assert last["envelope"]["opter_name"] == env["opter_name"]


def test_msgids_unique_across_workers(make_stack):
    stack = make_stack(scheme="none", workers=2)
    clinic = ready_clinic(stack)
    seen = set()
    for _ in range(40):
        r = send(stack, envelope(clinic))
        assert r.status == 200, r.body
        seen.add(r.headers["X-Yibao-Upstream-Msgid"])
    assert len(seen) == 40


def test_msgid_node_share(make_stack):
    """Two gateway nodes of one entity never issue the same msgid: node
    1 of 2 draws only odd sequence numbers."""
    stack = make_stack(scheme="none", zone="16m node=1/2")
    clinic = ready_clinic(stack)
    for _ in range(10):
        r = send(stack, envelope(clinic))
        assert r.status == 200, r.body
        assert int(r.headers["X-Yibao-Upstream-Msgid"][-4:]) % 2 == 1

    for bad in ("16m node=2/2", "16m node=1", "16m nodes=1/2"):
        other = make_stack(start=False, zone=bad)
        rc, out = other.test_config()
        assert rc != 0 and "node=N/COUNT" in out, out


def test_amounts_reach_platform_exactly(make_stack):
    stack = make_stack(scheme="zj-sm3")
    clinic = own_clinic(stack)
    steps = flow_ok(stack, clinic)
    sent = sim_get(stack, "requests?n=200")
    sent = sent["requests"] if isinstance(sent, dict) else sent
    fee = next(r["envelope"] for r in sent
               if r["envelope"]["infno"] == "2204")
    amounts = [row["det_item_fee_sumamt"] for row in
               fee["input"]["feedetail"]]
    assert amounts == [10.0, 25.2]
    assert steps[5][2]["output"]["setlinfo"]["medfee_sumamt"] == 35.2


# ---------------------------------------------------------------------------
# caller authentication and authorization
# ---------------------------------------------------------------------------

def test_caller_authentication_failures(make_stack):
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)
    body = client.encode(envelope(clinic))

    h = signed(body)
    del h["X-Yibao-Signature"]
    assert_rejected(*raw(stack, body, h), 401, 2001, "X-Yibao-Signature")

    h = client.signed_headers("nobody-at-all", SECRET, "POST", ENDPOINT,
                              body)
    assert_rejected(*raw(stack, body, h), 401, 2002, "nobody-at-all")

    h = client.signed_headers(CALLER, "wrong-secret-wrong-secret", "POST",
                              ENDPOINT, body)
    assert_rejected(*raw(stack, body, h), 401, 2003)

    h = signed(body)
    tampered = body.replace(b'"1101"', b'"1201"')
    assert_rejected(*raw(stack, tampered, h), 401, 2003)

    h = signed(body, now=time.time() - 301)
    assert_rejected(*raw(stack, body, h), 401, 2004)

    h = signed(body, nonce="short")
    assert_rejected(*raw(stack, body, h), 401, 2005)

    h = signed(body, nonce="bad-nonce-with-dashes-000")
    assert_rejected(*raw(stack, body, h), 401, 2005)

    h = signed(body)
    status, ok = raw(stack, body, h)
    assert status == 200 and ok["infcode"] == 0, ok
    assert_rejected(*raw(stack, body, h), 401, 2006, "replay")

    # nothing refused reached the platform: only 9001 and the good 1101
    stats = sim_get(stack, "requests?n=100")
    stats = stats["requests"] if isinstance(stats, dict) else stats
    assert [r["envelope"]["infno"] for r in stats] == ["9001", "1101"]


def test_caller_authorization(make_stack):
    stack = make_stack(scheme="none")
    clinic = township_clinic(stack)

    r = send(stack, envelope(clinic, infno="2201", inp={"data": {}}),
             caller="his-readonly",
             secret=caller_secret(stack, "his-readonly"))
    assert r.status == 403
    assert r.body["err_msg"].startswith("YB210")

    outside = [c for c in registry(stack)
               if not c["admdvs"].startswith("370102")]
    if outside:
        r = send(stack, envelope(outside[0]), caller="his-vendor-a",
                 secret=caller_secret(stack, "his-vendor-a"))
        assert r.status == 403
        assert r.body["err_msg"].startswith("YB2101"), r.body

    unknown = dict(clinic, org="PDY99999999999999D9999")
    r = send(stack, envelope(unknown))
    assert r.status == 403
    assert r.body["err_msg"].startswith("YB3001")
    assert "PDY99999999999999D9999" in r.body["err_msg"]


def caller_secret(stack, caller):
    for row in harness.yibao_stack.read_tsv(stack.path("data",
                                                       "callers.tsv")):
        if row[0] == caller:
            return row[1]
    raise KeyError(caller)


# ---------------------------------------------------------------------------
# hostile input: a clear envelope error, the worker stays up
# ---------------------------------------------------------------------------

HOSTILE = [
    (b"", 400, 1001, "empty"),
    (b"   \n", 400, 1001, "empty"),
    (b"{\"infno\":", 400, 1003, "line 1"),
    (b"[1,2,3]", 400, 1005, "array"),
    (b"\"just a string\"", 400, 1003, ""),
    (b"{\"a\":1,\"a\":2}", 400, 1003, "duplicate"),
    (b"{\"x\":" + b"[" * 40 + b"]" * 40 + b"}", 400, 1004, "deeper"),
    (b"{\"infno\":\"1101\xff\"}", 400, 1003, "byte"),
]


@pytest.mark.parametrize("body,status,code,word", HOSTILE)
def test_hostile_bodies(make_stack, body, status, code, word):
    stack = make_stack(scheme="none")
    got = raw(stack, body, signed(body))
    assert_rejected(*got, status, code, word)
    # the same worker pool still serves a good request
    r = send(stack, envelope(ready_clinic(stack)))
    assert r.status == 200 and r.body["infcode"] == 0


@pytest.mark.parametrize("field,value,code,word", [
    ("msgid", None, 1006, "\"msgid\" is missing"),
    ("infno", "11O1", 1007, "\"infno\""),
    ("inf_time", "2024-02-30 08:00:00", 1007, "\"inf_time\""),
    ("inf_time", 20240101, 1007, "must be a JSON string"),
    ("mdtrtarea_admvs", "37010", 1007, "\"mdtrtarea_admvs\""),
    ("opter_type", "9", 1007, "\"opter_type\""),
    ("fixmedins_code", "X123", 1007, "\"fixmedins_code\""),
    # echoed as text, never read as a format (the hostile campaign's
    # first worker crash: the message was passed as the format)
    ("fixmedins_code", "%s%n%x%p%s%s", 1007, "got \"%s%n%x%p%s%s\""),
    ("inf_time", "%n%n%n%n", 1007, "got \"%n%n%n%n\""),
    ("input", "{}", 1008, "\"input\""),
    ("input", None, 1006, "\"input\" is missing"),
])
def test_malformed_envelope_fields(make_stack, field, value, code, word):
    stack = make_stack(scheme="none")
    env = envelope(township_clinic(stack))
    if value is None:
        del env[field]
    else:
        env[field] = value
    body = client.encode(env)
    assert_rejected(*raw(stack, body, signed(body)), 400, code, word)


def test_own_clinic_msgid_must_have_platform_shape(make_stack):
    stack = make_stack(scheme="none")
    clinic = own_clinic(stack)
    env = envelope(dict(clinic, org=clinic["entity"]), msgid="ABC123")
    body = client.encode(env)
    assert_rejected(*raw(stack, body, signed(body)), 400, 1007, "msgid",
                    clinic["entity"])


def test_method_content_type_size_chunked(make_stack):
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)
    body = client.encode(envelope(clinic))

    assert_rejected(*raw(stack, None, {}, method="GET"), 405, 1010)

    h = signed(body)
    h["Content-Type"] = "application/x-www-form-urlencoded"
    assert_rejected(*raw(stack, body, h), 415, 1009)

    big = client.encode(envelope(clinic, inp={"pad": "x" * (1024 * 1024)}))
    assert_rejected(*raw(stack, big, signed(big)), 413, 1002)

    # a chunked body is read whole and forwarded with a length
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=20)
    h = signed(body)
    conn.putrequest("POST", ENDPOINT)
    for k, v in h.items():
        conn.putheader(k, v)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for i in range(0, len(body), 100):
        part = body[i:i + 100]
        conn.send(b"%x\r\n%s\r\n" % (len(part), part))
    conn.send(b"0\r\n\r\n")
    r = conn.getresponse()
    answer = json.loads(r.read())
    assert r.status == 200 and answer["infcode"] == 0, answer

    # keepalive: several requests on one connection
    for _ in range(3):
        b = client.encode(envelope(clinic))
        conn.request("POST", ENDPOINT, body=b, headers=signed(b))
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["infcode"] == 0
    conn.close()


# ---------------------------------------------------------------------------
# the platform fails
# ---------------------------------------------------------------------------

def test_platform_unreachable(make_stack):
    stack = make_stack(scheme="none", upstream="127.0.0.1:%d"
                       % harness.free_port())
    r = send(stack, envelope(township_clinic(stack)))
    assert_rejected(r.status, r.body, 502, 6001, "could not be reached")


@pytest.mark.parametrize("mode,status,code,word", [
    ("http_500", 502, 6003, "HTTP 500"),
    ("non_envelope", 502, 6004, "code 401"),
    ("garbage", 502, 6004, "non-JSON"),
    ("hold", 504, 6002, "unknown"),     # held past proxy_read_timeout
    ("drop_before_act", 502, 6001, ""),
])
def test_platform_faults(make_stack, mode, status, code, word):
    stack = make_stack(scheme="csb", read_timeout="1s")
    clinic = ready_clinic(stack)
    sim_post(stack, "fault", {"infno": "1101", "mode": mode, "count": 1,
                              "latency_ms": 2500})
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, status, code, word)
    if mode == "hold":
        sim_post(stack, "release")
    time.sleep(0.1)
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body


def test_platform_answer_without_room_for_its_body(make_stack):
    """The platform answers 204 (or 304) and sends a body all the same:
    the caller gets YB6003, and the bytes left on that connection never
    become the start of another request's answer (the connection is not
    kept)."""
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)
    body = base64.b64encode(json.dumps({"infcode": 0, "output": {
        "pad": "x" * 200}}).encode()).decode()
    for status in (204, 304):
        sim_post(stack, "fault", {"infno": "1101", "mode": "answer",
                                  "status": status, "body_b64": body})
        r = send(stack, envelope(clinic))
        assert_rejected(r.status, r.body, 502, 6003, "HTTP %d" % status)
        # the workers' kept connections serve the next requests
        for _ in range(6):
            r = send(stack, envelope(clinic), timeout=5)
            assert r.status == 200 and r.body["infcode"] == 0, r.body


def test_platform_signature_rejection_is_explained(make_stack):
    stack = make_stack(scheme="csb")
    keys = stack.path("data", "keys.tsv")
    rows = harness.yibao_stack.read_tsv(keys)
    with open(keys, "w") as f:
        for r in rows:
            f.write("\t".join([r[0], r[1], "WRONG" + r[2]]) + "\n")
    stack.stop()
    stack.start_sim()
    stack.start_nginx()
    r = send(stack, envelope(township_clinic(stack)))
    assert_rejected(r.status, r.body, 502, 6003, "HTTP 401", "code 401")


# ---------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------

def test_keys_file_readable_by_others_refused(make_stack):
    stack = make_stack(start=False)
    os.chmod(stack.path("data", "keys.tsv"), 0o644)
    rc, out = stack.test_config()
    assert rc != 0
    assert "keys.tsv" in out and "chmod 600" in out
    assert "nginx.conf:" in out


def test_malformed_registry_names_file_and_line(make_stack):
    stack = make_stack(start=False)
    path = stack.path("data", "clinics.tsv")
    with open(path, "a", encoding="utf-8") as f:
        f.write("PDY60134132080312D6999\tbad clinic\t3701\town\t"
                "H37010200001\tx\tk-H37010200001\n")
    lines = sum(1 for _ in open(path, encoding="utf-8"))
    rc, out = stack.test_config()
    assert rc != 0
    assert "clinics.tsv" in out and ("line %d" % lines) in out, out
    assert "admdvs" in out


def test_config_mistakes_fail_nginx_t(make_stack):
    stack = make_stack(start=False)
    conf = open(stack.path("nginx.conf")).read()
    bad = conf.replace("yibao_sign ", "yibao_sign rot13 #", 1)
    with open(stack.path("nginx.conf"), "w") as f:
        f.write(bad)
    rc, out = stack.test_config()
    assert rc != 0 and "rot13" in out and "nginx.conf:" in out, out


def test_secrets_never_logged(make_stack):
    stack = make_stack(scheme="tif", log_level="debug")
    clinic = township_clinic(stack)
    flow_ok(stack, clinic)
    send(stack, envelope(clinic), secret="wrong-secret-wrong-secret")
    logs = open(stack.error_log, encoding="utf-8", errors="replace").read()
    logs += open(stack.access_log, encoding="utf-8", errors="replace").read()
    for row in harness.yibao_stack.read_tsv(stack.path("data", "keys.tsv")):
        assert row[2] not in logs
    for row in harness.yibao_stack.read_tsv(stack.path("data",
                                                       "callers.tsv")):
        assert row[1] not in logs
    assert "370102195603152017" not in logs


def test_large_registry(make_stack, tmp_path):
    out = tmp_path / "big"
    subprocess.run(["/usr/bin/python3",
                    os.path.join(harness.ROOT, "tools", "gen-registry.py"),
                    "--clinics", "50000", "--out", str(out)], check=True)
    stack = make_stack(data_dir=str(out), scheme="csb")
    clinics = registry(stack)
    assert len(clinics) >= 50000
    for clinic in (clinics[-1], clinics[len(clinics) // 2]):
        if clinic["mode"] == "own" and clinic["org"] == clinic["entity"]:
            continue
        callers = harness.yibao_stack.read_tsv(stack.path("data",
                                                          "callers.tsv"))
        clinic = signed_in(stack, clinic, callers[0][0], callers[0][1])
        r = client.post(stack.url, callers[0][0], callers[0][1],
                        envelope(clinic))
        assert r.status == 200 and r.body["infcode"] == 0, r.body
