"""The platform simulator (tools/yibao_sim.py) is strict: proved directly,
without the gateway.  Every test here sends real HTTP to a simulator
subprocess, signed by the same code the tools use."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from simproc import (DEFAULT_PATH, INSTITUTIONS, PYTHON, ROOT, SimProcess,
                     yibao_client, yibao_sim)

CODE, NAME, ADMDVS = INSTITUTIONS[0][:3]
CODE2 = INSTITUTIONS[1][0]
PERSON = "370102195603152017"          # insutype 390 in the simulator
PERSON_310 = "370102198001011237"      # insutype 310 (has an account)


# --------------------------------------------------------------------------
# fixtures and helpers
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    started = {}

    def get(scheme="csb", route=None, **kw):
        key = (scheme, route, tuple(sorted(kw.items())))
        if key not in started:
            d = tmp_path_factory.mktemp("sim")
            started[key] = SimProcess(d, scheme=scheme, route=route,
                                      **kw).start()
        return started[key]
    yield get
    for s in started.values():
        s.stop()


@pytest.fixture(scope="module")
def sim(sims):
    return sims("csb")


def signin(sim, code=CODE, opter="001"):
    inst = sim.inst[code]
    env = yibao_client.make_envelope(
        "9001", {"signIn": {"opter_no": opter, "mac": "00-1A-2B-3C-4D-5E",
                            "ip": "10.0.0.8"}},
        inst[0], inst[1], inst[2], opter=opter)
    r = sim.send(env)
    assert r.body["infcode"] == 0, r.body
    return r.body["output"]["signinoutb"]["sign_no"]


def envelope(sim, infno, inp, code=CODE, sign_no=None, **kw):
    inst = sim.inst[code]
    if sign_no is None:
        sign_no = signin(sim, code, kw.get("opter", "001"))
    return yibao_client.make_envelope(infno, inp, inst[0], inst[1], inst[2],
                                      sign_no=sign_no, **kw)


def q1101(idno=PERSON):
    return {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": idno,
                     "card_sn": "", "begntime": "", "psn_cert_type": "01",
                     "certno": idno, "psn_name": "王某某"}}


def ok(r):
    assert r.status == 200, (r.status, r.body)
    assert isinstance(r.body, dict), r.body
    assert r.body["infcode"] == 0, r.body.get("err_msg")
    assert r.body["err_msg"] is None
    assert re.match(r"^[0-9]{30}$", r.body["inf_refmsgid"])
    return r.body["output"]


def fsi_error(r, *needles):
    """The national error envelope, HTTP 200, naming what is wrong."""
    assert r.status == 200, (r.status, r.body)
    b = r.body
    assert isinstance(b, dict), b
    assert set(b) == {"infcode", "inf_refmsgid", "refmsg_time",
                      "respond_time", "err_msg", "warn_msg", "cainfo",
                      "signtype", "output"}
    assert b["infcode"] == -1 and b["output"] is None
    assert b["inf_refmsgid"] is None
    assert re.match(r"^[0-9]{17}$", b["refmsg_time"])
    assert b["err_msg"].startswith("FSI-"), b["err_msg"]
    for n in needles:
        assert n in b["err_msg"], (n, b["err_msg"])
    return b["err_msg"]


def flow_until(sim, last, idno=PERSON, code=CODE, fee_lines=None):
    """Runs the outpatient flow and returns the FlowState after `last`
    succeeded (the flow stops at the first failure anyway)."""
    st = yibao_client.FlowState()
    order = ["9001", "1101", "2201", "2203", "2204", "2206", "2207"]
    wanted = order[:order.index(last) + 1]
    seen = []

    def send(env):
        if env["infno"] not in wanted:
            raise _Stop()
        seen.append(env["infno"])
        return sim.send(env)
    steps = yibao_client.outpatient_flow(
        None, None, None, code, sim.inst[code][1], sim.inst[code][2],
        person_id_number=idno, fee_lines=fee_lines, send=send, state=st)
    for infno, status, body in steps:
        if isinstance(body, _Stop):
            break
        assert status == 200 and body["infcode"] == 0, (infno, body)
    assert seen == wanted
    return st


class _Stop(Exception):
    pass


def settle_input(st, **over):
    d = {"psn_no": st.psn_no, "mdtrt_cert_type": "02",
         "mdtrt_cert_no": st.person["certno"], "card_sn": "",
         "psn_cert_type": "01", "certno": st.person["certno"],
         "psn_type": st.insu["psn_type"], "psn_name": st.person["psn_name"],
         "med_type": "11", "medfee_sumamt": 35.20, "psn_setlway": "01",
         "mdtrt_id": st.mdtrt_id, "chrg_bchno": st.chrg_bchno,
         "acct_used_flag": "0", "insutype": st.insu["insutype"]}
    d.update(over)
    return {"data": d}


def send_in_flow(sim, st, infno, inp, **kw):
    env = envelope(sim, infno, inp, sign_no=st.sign_no,
                   insuplc_admdvs=st.insuplc_admdvs, **kw)
    return env, sim.send(env)


# --------------------------------------------------------------------------
# signing algorithms: the research vectors (independent of our code)
# --------------------------------------------------------------------------

def test_signing_vectors_from_research():
    assert yibao_sim.csb_string(
        "AKTEST000000000000000000000000", "1101", 1700000000000, "1.0.0") \
        == ("_api_access_key=AKTEST000000000000000000000000&_api_name=1101"
            "&_api_timestamp=1700000000000&_api_version=1.0.0")
    assert yibao_sim.csb_signature(
        "SKTEST000000000000000000000000", "AKTEST000000000000000000000000",
        "1101", 1700000000000, "1.0.0") == "vX/d/utPGr7K4LDY1c45fWpMWi4="
    assert yibao_sim.tif_signature("TESTTOKEN0123456789abcdefABCDEF0",
                                   1700000000, "abcdef0123456789") == \
        "78f534ae7b982a7874cd606d48a69dff2731da1db93e54d5a38e1fdce38d3c75"
    assert yibao_sim.zj_signature("TESTSECRET", 1700000000,
                                  b'{"infno":"9001"}') == \
        "1700000000:E4C9E2F1F9D82A2E8650B29715E1AD416F877B5D79C7A076BC050F" \
        "5CA2DE71F2"


def test_sm3_pure_python_matches_standard_vectors():
    # GB/T 32905 appendix examples
    assert yibao_sim.sm3_pure(b"abc").hex() == \
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert yibao_sim.sm3_pure(b"abcd" * 16).hex() == \
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    mac = yibao_sim.hmac_sm3(b"TESTSECRET", b'1700000000\n{"infno":"9001"}',
                             digest=yibao_sim.sm3_pure)
    assert mac.hex().upper() == \
        "E4C9E2F1F9D82A2E8650B29715E1AD416F877B5D79C7A076BC050F5CA2DE71F2"
    # long keys are hashed first; both implementations agree
    for n in (0, 55, 56, 64, 65, 200):
        data = bytes(range(256)) * 2
        assert yibao_sim.sm3_pure(data[:n]) == yibao_sim.sm3(data[:n])
    assert yibao_sim.hmac_sm3(b"k" * 100, b"m", yibao_sim.sm3_pure) == \
        yibao_sim.hmac_sm3(b"k" * 100, b"m")


def test_caller_signature_and_headers():
    body = b'{"infno":"1101"}'
    got = yibao_client.caller_signature("s3cret", "post", "/p", "1700000000",
                                        "N" * 32, body)
    want = hmac.new(b"s3cret", b"POST\n/p\n1700000000\n" + b"N" * 32 + b"\n"
                    + hashlib.sha256(body).hexdigest().encode(),
                    hashlib.sha256).hexdigest()
    assert got == want and got == got.lower() and len(got) == 64
    h = yibao_client.signed_headers("his01", "s3cret", "POST", "/p?x=1",
                                    body, now=1700000000.9)
    assert h["X-Yibao-Caller"] == "his01"
    assert h["X-Yibao-Timestamp"] == "1700000000"
    assert re.match(r"^[A-Za-z0-9]{32}$", h["X-Yibao-Nonce"])
    assert h["Content-Type"] == "application/json"
    assert h["X-Yibao-Signature"] == yibao_client.caller_signature(
        "s3cret", "POST", "/p", "1700000000", h["X-Yibao-Nonce"], body)
    h2 = yibao_client.signed_headers("his01", "s3cret", "POST", "/p", body)
    assert h2["X-Yibao-Nonce"] != h["X-Yibao-Nonce"]


def test_msgid_shapes():
    a = yibao_client.make_envelope("1101", {}, CODE, NAME, ADMDVS)
    b = yibao_client.make_envelope("1101", {}, CODE, NAME, ADMDVS)
    for m in (a["msgid"], b["msgid"]):
        assert len(m) == 30 and m.startswith(CODE)
        assert yibao_sim.parse_compact(m[12:26]) is not None
        assert m[26:].isdigit()
    assert a["msgid"] != b["msgid"]
    org = "12370102MB0000000X0001"[:22]
    c = yibao_client.make_envelope("1101", {}, org, NAME, ADMDVS)
    assert len(c["msgid"]) == 40 and c["msgid"].startswith(org)
    assert c["msgid"][22:36].isdigit() and c["msgid"][36:].isdigit()


# --------------------------------------------------------------------------
# transport signing, per scheme
# --------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["csb", "tif", "zj-sm3"])
def test_good_signature_passes_and_is_logged(sims, scheme):
    s = sims(scheme)
    env = yibao_client.make_envelope(
        "9001", {"signIn": {"opter_no": "001", "mac": "00-1A-2B-3C-4D-5E",
                            "ip": "10.0.0.8"}}, CODE, NAME, ADMDVS)
    out = ok(s.send(env))
    assert re.match(r"^[0-9]+$", out["signinoutb"]["sign_no"])
    last = s.requests(1)[0]
    assert last["envelope"]["msgid"] == env["msgid"]
    assert last["path"] == DEFAULT_PATH
    names = {"csb": "_api_signature", "tif": "x-tif-signature",
             "zj-sm3": "x-ca-signature"}
    assert names[scheme] in last["sign_headers"]


def _bad(scheme, which, h, body):
    """Mutates good headers h into the `which` failure."""
    h = dict(h)
    ak = {"csb": "_api_access_key", "tif": "x-tif-paasid",
          "zj-sm3": "x-ca-key"}[scheme]
    if which == "signature":
        if scheme == "csb":
            h["_api_signature"] = base64.b64encode(b"x" * 20).decode()
        elif scheme == "tif":
            h["x-tif-signature"] = "0" * 64
        else:
            ts = h["x-ca-signature"].split(":")[0]
            h["x-ca-signature"] = ts + ":" + "A" * 64
    elif which == "ak":
        h[ak] = "AKUNKNOWN00000000000000000000X"
    elif which == "missing":
        del h[{"csb": "_api_signature", "tif": "x-tif-nonce",
               "zj-sm3": "x-ca-signature"}[scheme]]
    return h


TRANSPORT_EXPECT = {
    ("csb", "signature"): (401, {"code": 401, "message": "签名不一致!"}),
    ("csb", "ak"): (401, {"code": 401, "message": "非法用户!"}),
    ("csb", "stale"): (401, {"code": 401, "message": "签名时间戳超时!"}),
    ("csb", "missing"): (401, {"code": 401, "message": "缺少服务网关的请求头!"}),
    ("zj-sm3", "signature"): (401, {"code": 401, "message": "签名不一致"}),
    ("zj-sm3", "ak"): (401, {"code": 401, "message": "非法用户"}),
    ("zj-sm3", "stale"): (401, {"code": 401, "message": "签名时间戳超时"}),
    ("zj-sm3", "missing"): (401, {"code": 401,
                                  "message": "缺少请求头 x-ca-signature"}),
}
TIF_DENIED = (500, {"code": 400001, "msg": "鉴权失败，鉴权信息有误。"})
TIF_REASON = {"signature": "does not match", "ak": "unknown x-tif-paasid",
              "stale": "outside", "missing": "missing header x-tif-nonce"}


@pytest.mark.parametrize("which", ["signature", "ak", "stale", "missing"])
@pytest.mark.parametrize("scheme", ["csb", "tif", "zj-sm3"])
def test_bad_transport_signature_rejected(sims, scheme, which):
    s = sims(scheme)
    before = s.stats()["by_infno"].get("9001", {}).get("ok", 0)
    env = yibao_client.make_envelope(
        "9001", {"signIn": {"opter_no": "001", "mac": "00-1A-2B-3C-4D-5E",
                            "ip": "10.0.0.8"}}, CODE, NAME, ADMDVS)
    body = yibao_client.encode(env)
    now = time.time() - 1801 if which == "stale" else None
    h = s.sign(body, "9001", CODE, now=now)
    h = _bad(scheme, which, h, body)
    r = s.send(body, headers=h)
    if scheme == "tif":
        assert (r.status, r.body) == TIF_DENIED
        assert TIF_REASON[which] in r.headers["X-Yibao-Sim-Reason"]
    else:
        assert (r.status, r.body) == TRANSPORT_EXPECT[(scheme, which)]
    # nothing reached the business layer
    assert s.stats()["by_infno"].get("9001", {}).get("ok", 0) == before


def test_zj_signature_covers_the_exact_body(sims):
    s = sims("zj-sm3")
    env = envelope(s, "1101", q1101())
    body = yibao_client.encode(env)
    h = s.sign(body, "1101")
    tampered = body.replace(b'"opter":"001"', b'"opter":"002"')
    assert tampered != body
    r = s.send(tampered, headers=h)
    assert (r.status, r.body) == (401, {"code": 401, "message": "签名不一致"})
    lower = dict(h, **{"x-ca-signature": h["x-ca-signature"].lower()})
    r = s.send(body, headers=lower)
    assert r.status == 401 and "upper" in r.headers["X-Yibao-Sim-Reason"]
    ok(s.send(body, headers=h))


def test_tif_nonce_replay_and_upper_case_signature(sims):
    s = sims("tif")
    env = envelope(s, "1101", q1101())
    body = yibao_client.encode(env)
    h = s.sign(body, "1101")
    h["x-tif-signature"] = h["x-tif-signature"].upper()
    ok(s.send(body, headers=h))
    env2 = dict(env, msgid=yibao_client.new_msgid(CODE))
    r = s.send(env2, headers=h)
    assert (r.status, r.body) == TIF_DENIED
    assert "reused" in r.headers["X-Yibao-Sim-Reason"]
    short = s.sign(body, "1101", nonce="abc123")
    r = s.send(env2, headers=short)
    assert (r.status, r.body) == TIF_DENIED


def test_signing_key_must_belong_to_the_settling_institution(sims):
    s = sims("csb")
    env = envelope(s, "1101", q1101())
    r = s.send(env, code=CODE2)          # a valid key, but CODE2's
    fsi_error(r, "fixmedins_code %s" % CODE, "签名密钥所属机构 %s" % CODE2)


def test_csb_api_name_and_version(sims):
    s = sims("csb")
    env = envelope(s, "1101", q1101())
    body = yibao_client.encode(env)
    h = s.sign(body, "2201")            # correctly signed, wrong service
    fsi_error(s.send(body, headers=h), "_api_name=2201", "infno=1101")
    h = s.sign(body, "1101", api_version="2.0.0")
    r = s.send(body, headers=h)
    assert r.status == 404 and r.body["code"] == 404


def test_csb_api_name_prefix_jiangxi(sims):
    s = sims("csb", csb_api_name_prefix="hsa-fsi-",
             route="prefix:/CSB/hsa-fsi-")
    env = envelope(s, "1101", q1101())
    ok(s.send(env))
    assert s.requests(1)[0]["sign_headers"]["_api_name"] == "hsa-fsi-1101"
    assert s.requests(1)[0]["path"] == "/CSB/hsa-fsi-1101"
    body = yibao_client.encode(envelope(s, "1101", q1101()))
    h = s.sign(body, "1101", api_name_prefix="")
    fsi_error(s.send(body, headers=h), "_api_name=1101")


# --------------------------------------------------------------------------
# envelope rules
# --------------------------------------------------------------------------

def _mutate(key, value):
    def f(env):
        if value is _DELETE:
            del env[key]
        else:
            env[key] = value
    return f


_DELETE = object()


def _stale_time(env):
    t = time.localtime(time.time() - 3600)
    env["inf_time"] = time.strftime("%Y-%m-%d %H:%M:%S", t)


ENVELOPE_CASES = [
    ("msgid_short", lambda e: e.update(msgid=e["msgid"][:29]),
     ["msgid 长度须为30位", "实际29位"]),
    ("msgid_prefix",
     lambda e: e.update(msgid="H37010200009" + e["msgid"][12:]),
     ["msgid 前12位 H37010200009", "fixmedins_code %s" % CODE]),
    ("msgid_time", lambda e: e.update(msgid=CODE + "20241332250000" + "0001"),
     ["msgid 第13-26位 20241332250000"]),
    ("msgid_seq", lambda e: e.update(msgid=e["msgid"][:26] + "00x1"),
     ["msgid 末4位"]),
    ("inf_time_format", _mutate("inf_time", "2024-02-30 10:00:00"),
     ["inf_time 须为真实的日期时间"]),
    ("inf_time_short", _mutate("inf_time", "2024-02-03T10:00"),
     ["inf_time 长度须为19位"]),
    ("inf_time_stale", _stale_time, ["inf_time 时间", "相差超过1800秒"]),
    ("code_unregistered", lambda e: e.update(
        fixmedins_code="H37010299999", msgid="H37010299999" + e["msgid"][12:]),
     ["fixmedins_code H37010299999 不是已登记的"]),
    ("code_shape", lambda e: e.update(fixmedins_code="X3701020000"),
     ["fixmedins_code 长度须为12位"]),
    ("name", _mutate("fixmedins_name", "别的卫生室"),
     ["fixmedins_name \"别的卫生室\"", "\"%s\"" % NAME]),
    ("infno_shape", _mutate("infno", "11O1"), ["infno 格式错误：11O1"]),
    ("infno_number", _mutate("infno", 1101), ["infno 须为字符串"]),
    ("admvs", _mutate("mdtrtarea_admvs", "370103"),
     ["mdtrtarea_admvs 370103", "370102"]),
    ("admvs_shape", _mutate("mdtrtarea_admvs", "37010"),
     ["mdtrtarea_admvs 长度须为6位"]),
    ("insuplc_shape", _mutate("insuplc_admdvs", "37A102"),
     ["insuplc_admdvs 格式错误"]),
    ("opter_type", _mutate("opter_type", "4"), ["opter_type 取值无效：4"]),
    ("opter_missing", _mutate("opter", _DELETE), ["opter 缺失"]),
    ("opter_name_long", _mutate("opter_name", "张" * 51),
     ["opter_name 长度须为1..50位"]),
    ("recer_long", _mutate("recer_sys_code", "X" * 11), ["recer_sys_code"]),
    ("infver_empty", _mutate("infver", ""), ["infver 长度须为1..6位"]),
    ("input_string", _mutate("input", "{}"), ["input 须为JSON对象"]),
    ("input_missing", _mutate("input", _DELETE), ["input 缺失"]),
    ("unknown_key", _mutate("clinic_org_code", "X"),
     ["报文含未定义字段：clinic_org_code"]),
    ("enc_type", _mutate("enc_type", "SM4"), ["enc_type=SM4 不被支持"]),
    ("sign_no_missing", _mutate("sign_no", ""), ["sign_no 缺失"]),
    ("sign_no_wrong", _mutate("sign_no", "370000000000000000000001"),
     ["sign_no 370000000000000000000001 与机构"]),
    ("sign_no_other_opter", lambda e: e.update(opter="099"),
     ["经办人 099 今日未签到"]),
]


@pytest.mark.parametrize("name,mutate,needles", ENVELOPE_CASES,
                         ids=[c[0] for c in ENVELOPE_CASES])
def test_envelope_violation_is_named(sim, name, mutate, needles):
    env = envelope(sim, "1101", q1101())
    mutate(env)
    fsi_error(sim.send(env, code=CODE), *needles)


def test_the_unmutated_envelope_passes(sim):
    ok(sim.send(envelope(sim, "1101", q1101())))


def test_unknown_infno_answers_like_fsi(sim):
    env = envelope(sim, "9999", {})
    r = sim.send(env, path=DEFAULT_PATH)
    assert fsi_error(r) == "FSI-FSI-交易报文不正确：未知交易编号！"
    env = envelope(sim, "2204A", {})
    assert fsi_error(sim.send(env)) == "FSI-FSI-交易报文不正确：未知交易编号！"


def test_duplicate_keys_rejected(sim):
    env = envelope(sim, "1101", q1101())
    body = yibao_client.encode(env)
    dup = body[:-1] + (',"msgid":"%s"}' % env["msgid"]).encode()
    fsi_error(sim.send(dup), "JSON存在重复键 \"msgid\"")
    nested = body.replace(b'"card_sn":""', b'"card_sn":"","card_sn":"1"')
    assert nested != body
    fsi_error(sim.send(nested), "JSON存在重复键 \"card_sn\"")


def test_duplicate_msgid_rejected(sim):
    env = envelope(sim, "1101", q1101())
    ok(sim.send(env))
    fsi_error(sim.send(env), "msgid 重复", env["msgid"])


def test_body_encoding_content_type_and_method(sim):
    env = envelope(sim, "1101", q1101())
    body = yibao_client.encode(env)
    fsi_error(sim.send(body.replace("王某某".encode(), b"\xcd\xf5"),
                       headers=sim.sign(body, "1101")), "UTF-8")
    fsi_error(sim.send(b'{"infno":"1101",', headers=sim.sign(b"", "1101")),
              "不是合法的JSON")
    fsi_error(sim.send(b'[1,2]', headers=sim.sign(b"", "1101")),
              "须为JSON对象")
    fsi_error(sim.send(env, content_type="text/html"),
              "Content-Type text/html 不被支持")
    fsi_error(sim.send(env, content_type="application/json;charset=GBK"),
              "字符集 GBK")
    # the baseline sample posts text/plain: accepted
    env = envelope(sim, "1101", q1101())
    ok(sim.send(env, content_type="text/plain"))
    # no Content-Type at all (urllib would invent one: use http.client)
    env = envelope(sim, "1101", q1101())
    body = yibao_client.encode(env)
    c = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    c.putrequest("POST", DEFAULT_PATH, skip_accept_encoding=True)
    for k, v in sim.sign(body, "1101").items():
        c.putheader(k, v)
    c.putheader("Content-Length", str(len(body)))
    c.endheaders(body)
    r = c.getresponse()
    b = json.loads(r.read())
    assert r.status == 200 and "Content-Type 缺失" in b["err_msg"]
    # GET is not a transaction
    c.request("GET", DEFAULT_PATH, headers=sim.sign(b"", "1101"))
    r = c.getresponse()
    b = json.loads(r.read())
    assert b["infcode"] == -1 and "须使用 POST" in b["err_msg"]
    c.close()


def test_wrong_path_for_single_route(sim):
    env = envelope(sim, "1101", q1101())
    fsi_error(sim.send(env, path="/fsi/api/fsiPsnInfoService/queryPsnInfo"),
              "请求路径 /fsi/api/fsiPsnInfoService/queryPsnInfo",
              "应为 " + DEFAULT_PATH)


def test_prefix_route(sims):
    s = sims("tif", route="prefix:/isp-api/powercsb/")
    env = envelope(s, "1101", q1101())
    ok(s.send(env))
    assert s.requests(1)[0]["path"] == "/isp-api/powercsb/1101"
    env = envelope(s, "1101", q1101())
    fsi_error(s.send(env, path="/isp-api/powercsb/2201"),
              "请求路径 /isp-api/powercsb/2201", "应为 /isp-api/powercsb/1101")


def test_table_route(sims, tmp_path):
    table = tmp_path / "routes.tsv"
    table.write_text(
        "# infno\tpath\n"
        "9001\t/fsi/api/signInSignOutService/signIn\n"
        "1101\t/fsi/api/fsiPsnInfoService/queryPsnInfo\n")
    s = sims("zj-sm3", route="table:%s" % table)
    env = envelope(s, "1101", q1101())
    ok(s.send(env))
    env = envelope(s, "1101", q1101())
    fsi_error(s.send(env, path="/fsi/api/signInSignOutService/signIn"),
              "应为 /fsi/api/fsiPsnInfoService/queryPsnInfo")
    env = envelope(s, "1901", {"type": "med_type"})
    fsi_error(s.send(env, path="/fsi/api/x"), "交易 1901 未配置服务路径")


# --------------------------------------------------------------------------
# the outpatient flow
# --------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["csb", "tif", "zj-sm3", "none"])
def test_full_flow_settles_once_then_cancels(sims, scheme):
    s = sims(scheme)
    st = yibao_client.FlowState()
    steps = s.flow(cancel=True, state=st)
    assert [x[0] for x in steps] == ["9001", "1101", "2201", "2203", "2204",
                                     "2206", "2207", "2208"]
    for infno, status, body in steps:
        assert status == 200 and body["infcode"] == 0, (infno, body)
    out = dict((i, b["output"]) for i, _, b in steps)
    assert len(out["1101"]["baseinfo"]["psn_no"]) in range(26, 31)
    mdtrt_id = out["2201"]["data"]["mdtrt_id"]
    assert re.match(r"^370000[0-9]{24}$", mdtrt_id)
    assert out["2203"] is None
    assert [r["feedetl_sn"] for r in out["2204"]["result"]] == ["1", "2"]
    pre, setl = out["2206"]["setlinfo"], out["2207"]["setlinfo"]
    assert pre["setl_time"] is None and "setl_id" not in pre
    for info in (pre, setl):
        assert info["medfee_sumamt"] == 35.20
        assert round(info["fund_pay_sumamt"] * 100) + \
            round(info["psn_part_amt"] * 100) == 3520
    assert re.match(r"^370000[0-9]{24}$", setl["setl_id"])
    assert setl["medins_setl_id"] == st.msgids["2207"]
    cancel = out["2208"]["setlinfo"]
    assert cancel["medfee_sumamt"] == -35.20
    assert cancel["fund_pay_sumamt"] == -setl["fund_pay_sumamt"]
    view = s.settlements()
    mine = [x for x in view["settlements"] if x["mdtrt_id"] == mdtrt_id]
    assert len(mine) == 1
    assert mine[0]["state"] == "cancelled"
    assert mine[0]["setl_id"] == setl["setl_id"]
    assert mine[0]["msgid"] == st.msgids["2207"]
    assert mine[0]["fixmedins_code"] == CODE
    assert mine[0]["refund"]["setl_id"] == cancel["setl_id"]
    assert view["settle_count"][mdtrt_id] == 1
    assert view["active_count"][mdtrt_id] == 0


def test_employee_account_pays_and_is_restored(sim):
    st = flow_until(sim, "2206", idno=PERSON_310)
    assert st.insu["insutype"] == "310" and st.insu["balc"] == 1000.0
    inp = settle_input(st, acct_used_flag="1")
    for k in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
              "inscp_scp_amt"):
        inp["data"][k] = st.presettle[k]
    _, r = send_in_flow(sim, st, "2207", inp)
    info = ok(r)["setlinfo"]
    assert info["acct_pay"] == info["psn_part_amt"] > 0
    assert info["psn_cash_pay"] == 0
    assert info["balc"] == round(1000.0 - info["acct_pay"], 2)


def test_local_code_and_wrong_amount_rejected(sim):
    st = flow_until(sim, "2203")
    base = {"feedetl_sn": "1", "mdtrt_id": st.mdtrt_id, "psn_no": st.psn_no,
            "chrg_bchno": "B1", "dise_codg": "", "rxno": "",
            "rx_circ_flag": "0", "fee_ocur_time": "2024-01-15 08:30:00",
            "med_list_codg": "001102000010000", "medins_list_codg": "ZL0001",
            "det_item_fee_sumamt": 10.00, "cnt": 1, "pric": 10.00,
            "bilg_dept_codg": "A02", "bilg_dept_name": "全科医疗科",
            "bilg_dr_codg": "D370102000001", "bilg_dr_name": "张医生",
            "hosp_appr_flag": "1"}

    def up(**over):
        row = dict(base, **over)
        return send_in_flow(sim, st, "2204", {"feedetail": [row]})[1]
    fsi_error(up(med_list_codg="YP0001"),
              "input.feedetail[0].med_list_codg 非国家医保编码：YP0001")
    fsi_error(up(med_list_codg="XJ01CAA040A00101010269"), "非国家医保编码")
    fsi_error(up(det_item_fee_sumamt=10.02),
              "input.feedetail[0].det_item_fee_sumamt 10.02",
              "cnt×pric=1×10.0")
    fsi_error(up(det_item_fee_sumamt=10.005), "小数位数超过2位")
    fsi_error(up(feedetl_sn="A1"), "feedetl_sn 格式错误：A1")
    fsi_error(up(feedetl_sn="1234567890123456"), "feedetl_sn 格式错误")
    fsi_error(up(bilg_dr_codg="DOC001"), "bilg_dr_codg 格式错误：DOC001")
    # each accepted national shape, and a doctor code of the 2022 kind
    out = ok(send_in_flow(sim, st, "2204", {"feedetail": [
        dict(base, feedetl_sn="1", det_item_fee_sumamt=10.0),
        dict(base, feedetl_sn="2", med_list_codg="XJ01CAA040A001010102699",
             det_item_fee_sumamt=25.20, cnt=2, pric=12.60),
        dict(base, feedetl_sn="3", med_list_codg="C0101010011303807555",
             det_item_fee_sumamt=3.33, cnt=3, pric=1.11),
        dict(base, feedetl_sn="4", med_list_codg="T000100001",
             det_item_fee_sumamt=0.5, cnt=0.5, pric=1,
             bilg_dr_codg="HY370102000001"),
        dict(base, feedetl_sn="5", med_list_codg="001102000010000-110200001",
             bilg_dr_codg=""),
    ]})[1])
    assert [r["feedetl_sn"] for r in out["result"]] == list("12345")
    cons = out["result"][2]
    assert cons["chrgitm_lv"] == "02" and cons["preselfpay_amt"] == 0.33
    # duplicate feedetl_sn in the visit, and a batch uploaded twice
    fsi_error(up(chrg_bchno="B2"), "feedetl_sn 1 在本次就诊中重复")
    fsi_error(up(feedetl_sn="9"), "chrg_bchno B1 已上传过")


def test_id_number_check_digit(sim):
    env = envelope(sim, "1101", q1101("370102195603152018"))
    fsi_error(sim.send(env), "mdtrt_cert_no 身份证号", "校验位错误")
    ok(sim.send(envelope(sim, "1101", q1101("11010519491231002X"))))
    a = ok(sim.send(envelope(sim, "1101", q1101())))
    b = ok(sim.send(envelope(sim, "1101", q1101())))
    assert a["baseinfo"]["psn_no"] == b["baseinfo"]["psn_no"]
    assert a["baseinfo"]["brdy"] == "1956-03-15"
    assert a["baseinfo"]["gend"] == "1"


def test_out_of_order_calls_fail(sim):
    st = flow_until(sim, "2201")
    row = {"feedetl_sn": "1", "mdtrt_id": st.mdtrt_id, "psn_no": st.psn_no,
           "chrg_bchno": "B1", "fee_ocur_time": "2024-01-15 08:30:00",
           "med_list_codg": "001102000010000", "medins_list_codg": "ZL0001",
           "det_item_fee_sumamt": 10.0, "cnt": 1, "pric": 10.0,
           "bilg_dept_codg": "A02", "bilg_dept_name": "全科医疗科",
           "bilg_dr_codg": "D370102000001", "bilg_dr_name": "张医生"}
    # 2204 for a visit that was never registered (2204 before 2201)
    unknown = dict(row, mdtrt_id="370000" + "9" * 24)
    fsi_error(send_in_flow(sim, st, "2204", {"feedetail": [unknown]})[1],
              "就诊ID 370000999999999999999999999999 不存在")
    # 2204 before 2203
    fsi_error(send_in_flow(sim, st, "2204", {"feedetail": [row]})[1],
              "尚未上传就诊信息（2203）")
    # 2207 before 2203
    st.chrg_bchno = "NOSUCH"
    inp = settle_input(st, fulamt_ownpay_amt=0, overlmt_selfpay=0,
                       preselfpay_amt=0, inscp_scp_amt=0)
    fsi_error(send_in_flow(sim, st, "2207", inp)[1], "尚未上传就诊信息")
    # 2208 of an unknown setl_id
    fsi_error(send_in_flow(sim, st, "2208", {"data": {
        "setl_id": "370000" + "1" * 24, "mdtrt_id": st.mdtrt_id,
        "psn_no": st.psn_no}})[1], "结算ID 370000111111111111111111111111 不存在")
    # 2201 for a person the platform never looked up
    fsi_error(send_in_flow(sim, st, "2201", {"data": {
        "psn_no": "37000000000000000000000001"}})[1],
        "人员编号 37000000000000000000000001 不存在")
    # psn_no in input: insuplc_admdvs must be the person's insured place
    cancel = {"data": {"mdtrt_id": st.mdtrt_id, "psn_no": st.psn_no,
                       "ipt_otp_no": "x"}}
    env = envelope(sim, "2202", cancel, sign_no=st.sign_no)
    fsi_error(sim.send(env), "insuplc_admdvs 为空")
    env = envelope(sim, "2202", cancel, sign_no=st.sign_no,
                   insuplc_admdvs="370103")
    fsi_error(sim.send(env), "insuplc_admdvs 370103 与人员参保地 370102 不符")


def test_settlement_checks_amounts_and_state(sim):
    st = flow_until(sim, "2203")        # 2207 without fee rows
    st.chrg_bchno = "20240115000001"
    fsi_error(send_in_flow(sim, st, "2207", settle_input(
        st, fulamt_ownpay_amt=0, overlmt_selfpay=0, preselfpay_amt=0,
        inscp_scp_amt=0))[1], "收费批次 20240115000001 没有已上传的费用明细",
        "须先2204")
    st2 = flow_until(sim, "2206")
    inp = settle_input(st2, medfee_sumamt=35.30)
    fsi_error(send_in_flow(sim, st2, "2206", inp)[1],
              "medfee_sumamt 35.3", "合计 35.20")
    inp = settle_input(st2, fulamt_ownpay_amt=0, overlmt_selfpay=0,
                       preselfpay_amt=0, inscp_scp_amt=30.00)
    fsi_error(send_in_flow(sim, st2, "2207", inp)[1],
              "inscp_scp_amt 30", "平台计算值 35.20")
    inp = settle_input(st2)
    del inp["data"]["medfee_sumamt"]
    fsi_error(send_in_flow(sim, st2, "2206", inp)[1],
              "input.data.medfee_sumamt 缺失")
    inp = settle_input(st2, med_type="13")
    fsi_error(send_in_flow(sim, st2, "2206", inp)[1], "med_type 13")
    # settle, then: second settlement, 2205 and 2202 are refused
    inp = settle_input(st2, fulamt_ownpay_amt=0, overlmt_selfpay=0,
                       preselfpay_amt=0, inscp_scp_amt=35.20)
    setl = ok(send_in_flow(sim, st2, "2207", inp)[1])["setlinfo"]
    inp["data"]["invono"] = "again"
    fsi_error(send_in_flow(sim, st2, "2207", inp)[1], "已全部结算",
              setl["setl_id"])
    fsi_error(send_in_flow(sim, st2, "2205", {"data": {
        "mdtrt_id": st2.mdtrt_id, "chrg_bchno": st2.chrg_bchno,
        "psn_no": st2.psn_no}})[1], "已结算，不能撤销费用明细")
    fsi_error(send_in_flow(sim, st2, "2202", {"data": {
        "mdtrt_id": st2.mdtrt_id, "psn_no": st2.psn_no,
        "ipt_otp_no": "whatever"}})[1], "ipt_otp_no whatever")
    cancel = {"data": {"setl_id": setl["setl_id"], "mdtrt_id": st2.mdtrt_id,
                       "psn_no": st2.psn_no}}
    ok(send_in_flow(sim, st2, "2208", cancel)[1])
    fsi_error(send_in_flow(sim, st2, "2208", cancel)[1], "已撤销",
              "不能重复撤销")
    # after the cancellation the rows may be withdrawn, then the visit
    ok(send_in_flow(sim, st2, "2205", {"data": {
        "mdtrt_id": st2.mdtrt_id, "chrg_bchno": "0000",
        "psn_no": st2.psn_no}})[1])
    r5201 = ok(send_in_flow(sim, st2, "5201", {"data": {
        "psn_no": st2.psn_no, "mdtrt_id": st2.mdtrt_id}})[1])
    ipt = r5201["mdtrtinfo"][0]["ipt_otp_no"]
    ok(send_in_flow(sim, st2, "2202", {"data": {
        "mdtrt_id": st2.mdtrt_id, "psn_no": st2.psn_no,
        "ipt_otp_no": ipt}})[1])
    fsi_error(send_in_flow(sim, st2, "2203", {"mdtrtinfo": {
        "mdtrt_id": st2.mdtrt_id, "psn_no": st2.psn_no}})[1], "已撤销挂号")


def test_diagnosis_shapes(sim):
    st = flow_until(sim, "2201")
    dis = {"diag_type": "1", "diag_srt_no": "1", "diag_code": "J18.900",
           "diag_name": "肺部感染", "diag_dept": "全科",
           "dise_dor_no": "D370102000001", "dise_dor_name": "张医生",
           "diag_time": "2024-01-15 08:20:00", "vali_flag": "1"}
    info = {"mdtrt_id": st.mdtrt_id, "psn_no": st.psn_no, "med_type": "11",
            "begntime": "2024-01-15 08:20:00", "dise_codg": ""}

    def up(i=None, *rows):
        return send_in_flow(sim, st, "2203", {
            "mdtrtinfo": dict(info, **(i or {})),
            "diseinfo": list(rows) or [dis]})[1]
    fsi_error(up(None, dict(dis, diag_code="J18")), "diag_code 格式错误：J18")
    fsi_error(up(None, dict(dis, diag_code="GXY01")), "须为医保版ICD-10")
    fsi_error(up({"dise_codg": "高血压"}), "dise_codg 格式错误")
    fsi_error(up(None, dis, dis), "diag_srt_no 重复")
    fsi_error(up({"med_type": "77"}), "med_type 取值无效：77")
    ok(up({"dise_codg": "M01607", "dise_name": "高血压"}))
    ok(up(None, dict(dis, diag_code="I10.x00x002")))
    fsi_error(up({"med_type": "13"}), "一次就诊只能有一个医疗类别")


# --------------------------------------------------------------------------
# faults, reversal, reconciliation
# --------------------------------------------------------------------------

def _settle_request(sim, st):
    inp = settle_input(st)
    for k in ("fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt",
              "inscp_scp_amt"):
        inp["data"][k] = st.presettle[k]
    return envelope(sim, "2207", inp, sign_no=st.sign_no,
                    insuplc_admdvs=st.insuplc_admdvs)


def test_drop_after_act_settles_without_answer_then_2601_reverses(sims):
    s = sims("csb", route="prefix:/isp-api/powercsb/")
    st = flow_until(s, "2206")
    s.fault("2207", "drop_after_act")
    env = _settle_request(s, st)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        s.send(env)
    view = s.settlements()
    assert view["settle_count"][st.mdtrt_id] == 1
    mine = [x for x in view["settlements"] if x["mdtrt_id"] == st.mdtrt_id]
    assert mine[0]["state"] == "settled" and mine[0]["msgid"] == env["msgid"]
    assert s.requests(1)[0]["fault"] == "drop_after_act"
    # the fault was consumed: a blind retry (new msgid) is refused
    retry = dict(env, msgid=yibao_client.new_msgid(CODE))
    fsi_error(s.send(retry), "已全部结算")
    assert s.settlements()["settle_count"][st.mdtrt_id] == 1
    # 2601 with the original msgid reverses the settlement
    rev = {"data": {"psn_no": st.psn_no, "omsgid": env["msgid"],
                    "oinfno": "2207"}}
    assert ok(send_in_flow(s, st, "2601", rev)[1]) is None
    view = s.settlements()
    mine = [x for x in view["settlements"] if x["mdtrt_id"] == st.mdtrt_id]
    assert mine[0]["state"] == "reversed"
    assert view["settle_count"][st.mdtrt_id] == 0
    fsi_error(send_in_flow(s, st, "2601", rev)[1], "冲正失败", "不能重复冲正")
    # the visit can now be settled again, exactly once
    ok(s.send(_settle_request(s, st)))
    assert s.settlements()["active_count"][st.mdtrt_id] == 1


def test_reversal_rules(sim):
    st = flow_until(sim, "2207")
    omsgid = st.msgids["2207"]
    ok(send_in_flow(sim, st, "2208", {"data": {
        "setl_id": st.setl_id, "mdtrt_id": st.mdtrt_id,
        "psn_no": st.psn_no}})[1])
    rev = {"data": {"psn_no": st.psn_no, "omsgid": omsgid, "oinfno": "2207"}}
    fsi_error(send_in_flow(sim, st, "2601", rev)[1],
              "冲正失败:冲正的结算信息退费结算标志不为未退费")
    bad = {"data": {"psn_no": st.psn_no, "omsgid": omsgid, "oinfno": "2208"}}
    fsi_error(send_in_flow(sim, st, "2601", bad)[1], "oinfno 2208")
    nope = {"data": {"psn_no": st.psn_no, "omsgid": CODE + "2" * 18,
                     "oinfno": "2207"}}
    fsi_error(send_in_flow(sim, st, "2601", nope)[1], "不存在")
    info = {"data": {"psn_no": st.psn_no, "omsgid": st.msgids["1101"],
                     "oinfno": "1101"}}
    fsi_error(send_in_flow(sim, st, "2601", info)[1], "1101 不支持冲正")
    # reversing the 2208 reinstates the settlement
    msgid_2208 = [r for r in sim.requests(20)
                  if r["envelope"] and r["envelope"].get("infno") == "2208"
                  and r["infcode"] == 0][-1]["envelope"]["msgid"]
    ok(send_in_flow(sim, st, "2601", {"data": {
        "psn_no": st.psn_no, "omsgid": msgid_2208, "oinfno": "2208"}})[1])
    q = ok(send_in_flow(sim, st, "5203", {"data": {
        "psn_no": st.psn_no, "setl_id": st.setl_id, "mdtrt_id": ""}})[1])
    assert q["setlinfo"]["setl_id"] == st.setl_id
    assert q["setlinfo"]["refd_setl_flag"] == "0"
    q = ok(send_in_flow(sim, st, "5203", {"data": {
        "psn_no": "", "setl_id": "", "mdtrt_id": st.mdtrt_id}})[1])
    assert q["setlinfo"]["setl_id"] == st.setl_id
    fsi_error(send_in_flow(sim, st, "5203", {"data": {
        "psn_no": st.psn_no, "setl_id": "370000" + "0" * 24}})[1],
        "未查询到结算信息")
    fsi_error(send_in_flow(sim, st, "5203", {"data": {}})[1], "不能同时为空")
    assert sim.settlements()["active_count"][st.mdtrt_id] == 1


def test_drop_before_act_and_answer_faults(sim):
    st = flow_until(sim, "2206")
    env = _settle_request(sim, st)
    sim.fault("2207", "drop_before_act")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        sim.send(env)
    assert st.mdtrt_id not in sim.settlements()["settle_count"]
    sim.fault("2207", "http_500")
    r = sim.send(env)
    assert r.status == 500 and isinstance(r.body, bytes)
    sim.fault("2207", "garbage")
    r = sim.send(env)
    assert r.status == 200 and isinstance(r.body, bytes)
    sim.fault("2207", "non_envelope")
    r = sim.send(env)
    assert (r.status, r.body) == (200, {"code": 401, "message": "非法用户!"})
    sim.fault("2207", "reset")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        sim.send(env)
    assert st.mdtrt_id not in sim.settlements()["settle_count"]
    # none of those acted: the same msgid is still fresh and settles once
    t0 = time.monotonic()
    sim.fault("2207", "latency", latency_ms=300)
    ok(sim.send(env))
    assert time.monotonic() - t0 >= 0.3
    assert sim.settlements()["settle_count"][st.mdtrt_id] == 1
    assert sim.control("GET", "/__sim/fault")["faults"] == []
    stats = sim.stats()["faults"]
    for mode in ("drop_before_act", "http_500", "garbage", "non_envelope",
                 "reset", "latency"):
        assert stats[mode] >= 1
    # faults for another infno are left alone; DELETE clears them
    sim.fault("2208", "http_500", count=3)
    ok(sim.send(envelope(sim, "1101", q1101())))
    assert sim.control("GET", "/__sim/fault")["faults"][0]["count"] == 3
    sim.control("DELETE", "/__sim/fault")
    assert sim.control("GET", "/__sim/fault")["faults"] == []
    bad = sim.control("POST", "/__sim/fault", {"mode": "explode"})
    assert bad["http_status"] == 400


def test_hold_fault_waits_for_release(sim):
    """hold: the request waits at the platform, not acted on, until the
    control API releases it; then it is acted on and answered once."""
    st = flow_until(sim, "2206")
    env = _settle_request(sim, st)
    sim.fault("2207", "hold")
    answer = {}
    th = threading.Thread(target=lambda: answer.setdefault(
        "r", sim.send(env)))
    th.start()
    deadline = time.monotonic() + 60       # a hang guard only
    while sim.stats()["held"] < 1:
        assert th.is_alive(), answer
        assert time.monotonic() < deadline, "the 2207 was never held"
        time.sleep(0.02)
    assert sim.stats()["faults"]["hold"] >= 1
    # held, not acted on: nothing settled, no answer
    assert st.mdtrt_id not in sim.settlements()["settle_count"]
    assert th.is_alive() and "r" not in answer
    assert sim.control("POST", "/__sim/release")["released"] == 1
    th.join(60)
    assert not th.is_alive()
    ok(answer["r"])
    assert sim.settlements()["settle_count"][st.mdtrt_id] == 1
    assert sim.stats()["held"] == 0
    # nothing left to release; the fault was consumed
    assert sim.control("POST", "/__sim/release")["released"] == 0
    assert sim.control("GET", "/__sim/fault")["faults"] == []


def test_reconciliation_3201(sims):
    s = sims("csb", csb_api_version="1.0.1")
    st = flow_until(s, "2207")
    setl = [x for x in s.settlements()["settlements"]
            if x["setl_id"] == st.setl_id][0]
    today = time.strftime("%Y-%m-%d")

    def stmt(**over):
        d = {"insutype": st.insu["insutype"], "clr_type": "11",
             "setl_optins": ADMDVS, "stmt_begndate": today,
             "stmt_enddate": today, "medfee_sumamt": setl["medfee_sumamt"],
             "fund_pay_sumamt": setl["fund_pay_sumamt"],
             "acct_pay": setl["acct_pay"], "fixmedins_setl_cnt": 1,
             "refd_setl_flag": "0"}
        d.update(over)
        return ok(send_in_flow(s, st, "3201", {"data": d})[1])["stmtinfo"]
    assert stmt()["stmt_rslt"] == "0"
    r = stmt(medfee_sumamt=99.99)
    assert r["stmt_rslt"] == "1" and "medfee_sumamt" in r["stmt_rslt_dscr"]
    assert stmt(fixmedins_setl_cnt=2)["stmt_rslt"] == "1"
    fsi_error(send_in_flow(s, st, "3201", {"data": {"insutype": "390"}})[1],
              "input.data.clr_type 缺失")


def test_read_only_table_and_9002(sim):
    st = flow_until(sim, "9001")
    for infno, node in (("1901", "list"), ("1312", "data"),
                        ("5206", "cuminfo"), ("2001", "trtinfo")):
        out = ok(send_in_flow(sim, st, infno, {"data": {}})[1])
        assert out[node] == []
    fsi_error(send_in_flow(sim, st, "9002", {"signOut": {
        "sign_no": "1", "opter_no": "001"}})[1], "不是本经办人今日的签到流水号")
    ok(send_in_flow(sim, st, "9002", {"signOut": {
        "sign_no": st.sign_no, "opter_no": "001"}})[1])
    fsi_error(send_in_flow(sim, st, "1901", {"data": {}})[1], "今日未签到")
    assert signin(sim) != st.sign_no


# --------------------------------------------------------------------------
# HTTP behaviour, control API, process lifecycle, client CLI
# --------------------------------------------------------------------------

def test_keepalive_and_content_length(sims):
    s = sims("none")
    sign_no = signin(s)
    before = s.stats()["connections"]
    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
    for _ in range(3):
        env = envelope(s, "9001", {"signIn": {
            "opter_no": "001", "mac": "001A2B3C4D5E", "ip": "::1"}},
            sign_no="")
        body = yibao_client.encode(env)
        c.request("POST", DEFAULT_PATH, body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        assert r.status == 200 and r.version == 11
        assert int(r.getheader("Content-Length")) == len(raw)
        assert json.loads(raw)["infcode"] == 0
    # a chunked request body is read correctly on the same connection
    env = envelope(s, "1101", q1101(), sign_no=sign_no)
    body = yibao_client.encode(env)
    c.putrequest("POST", DEFAULT_PATH)
    c.putheader("Content-Type", "application/json")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for i in range(0, len(body), 50):
        part = body[i:i + 50]
        c.send(b"%x\r\n%s\r\n" % (len(part), part))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    assert json.loads(r.read())["infcode"] == 0
    c.close()
    # one connection for the four requests, one for this stats call
    assert s.stats()["connections"] - before == 2


def test_requests_log_shows_what_arrived(sims):
    s = sims("tif")
    env = envelope(s, "1101", q1101())
    ok(s.send(env))
    last = s.requests(1)[0]
    assert last["envelope"] == json.loads(yibao_client.encode(env))
    assert set(last["sign_headers"]) == {"x-tif-paasid", "x-tif-timestamp",
                                         "x-tif-nonce", "x-tif-signature"}
    assert last["headers"]["content-type"] == "application/json"
    assert last["status"] == 200 and last["infcode"] == 0
    assert len(s.requests(3)) == 3
    st = s.stats()
    assert st["by_infno"]["1101"]["ok"] >= 1
    assert st["by_error"].get("tif.signature", 0) >= 1


def test_state_file_and_sigterm(tmp_path):
    state = tmp_path / "state.json"
    s = SimProcess(tmp_path, scheme="none",
                   extra_args=["--state-file", str(state)]).start()
    try:
        st = flow_until(s, "2207")
    finally:
        assert s.stop() == 0            # SIGTERM: clean exit
    assert json.loads(state.read_text())["settlements"][st.setl_id]
    s = SimProcess(tmp_path, scheme="none",
                   extra_args=["--state-file", str(state)]).start()
    try:
        view = s.settlements()
        assert view["settle_count"][st.mdtrt_id] == 1
        # the msgid journal survived too
        env = envelope(s, "2207", {}, sign_no=st.sign_no,
                       msgid=st.msgids["2207"])
        fsi_error(s.send(env), "msgid 重复")
        s.reset()
        assert s.settlements()["settlements"] == []
    finally:
        s.proc.send_signal(signal.SIGINT)
        assert s.proc.wait(timeout=10) == 0
        s.stop()


def test_command_line_errors(tmp_path):
    bad = tmp_path / "inst.tsv"
    bad.write_text("H3701020000\tx\t370102\tak\tsk\n")
    p = subprocess.run([os.path.join(ROOT, "tools", "yibao-sim"),
                        "--institutions", str(bad)], capture_output=True,
                       text=True, timeout=10)
    assert p.returncode == 2 and "fixmedins_code" in p.stderr
    p = subprocess.run([PYTHON, os.path.join(ROOT, "tools", "yibao_sim.py"),
                        "--route", "weird"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 2 and "--route" in p.stderr


def test_client_cli_flow_and_send(sims, tmp_path):
    s = sims("none")
    cli = os.path.join(ROOT, "tools", "yibao-client")
    p = subprocess.run([cli, "--gateway", s.url, "--caller", "his01",
                        "--secret", "x", "flow", "--clinic", CODE,
                        "--name", NAME, "--admdvs", ADMDVS, "--cancel"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert [ln.split()[0] for ln in lines] == [
        "9001", "1101", "2201", "2203", "2204", "2206", "2207", "2208"]
    assert "setl_id=" in lines[6] and "medfee_sumamt=-35.2" in lines[7]
    # the caller headers arrived (a gateway would check them)
    last = s.requests(1)[0]["headers"]
    assert last["x-yibao-caller"] == "his01"
    assert re.match(r"^[0-9a-f]{64}$", last["x-yibao-signature"])
    # send: an envelope with a wrong name fails with exit 1
    env = envelope(s, "1101", q1101())
    env["fixmedins_name"] = "x"
    f = tmp_path / "env.json"
    f.write_text(json.dumps(env, ensure_ascii=False))
    p = subprocess.run([cli, "--gateway", s.url, "send", str(f)],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "fixmedins_name" in p.stdout
    # and a flow for an unregistered clinic stops at the first step
    p = subprocess.run([cli, "--gateway", s.url, "flow", "--clinic",
                        "H37010299999", "--name", NAME, "--admdvs", ADMDVS],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "不是已登记的" in p.stdout
    assert len(p.stdout.splitlines()) == 1


def test_port_zero_prints_the_port(sims):
    s = sims("none")
    with socket.create_connection(("127.0.0.1", s.port), timeout=2):
        pass
    assert s.control("GET", "/__sim/health")["scheme"] == "none"
