"""The fee-line audit (docs/audit.md): real-shaped visits through the
gateway, clean and breaking each rule of the demo rules; each mode doing
what it says (shadow: logged only, warn: sent and the findings in the
answer, enforce: refused with the findings, nothing sent); the clinic's
acknowledgement; the visit's context kept in the store (1101's person,
2203's med_type, earlier visits); configuration mistakes at nginx -t."""

import base64
import json
import os
import re
import subprocess
import time

import pytest

import harness
import test_status as ts
import test_status_page as tsp
import yibao_client as client
from harness import sim_get, sim_post
from test_gateway_core import CALLER, SECRET, township_clinic, own_clinic

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
RULES = os.path.join(ROOT, "conf", "demo", "audit", "rules.tsv")
LISTS = os.path.join(ROOT, "conf", "demo", "audit", "lists.tsv")
MAP = os.path.join(ROOT, "conf", "audit-3101.tsv")   # the shipped mapping

AMOX = "XJ01CAA040A001010102699"      # 3 days a box, cap 15.00
IBU = "XM01AEB059A002957235362"       # 10 days a box
LEVO = "XJ01MAZ061A010566549134"      # on no list
GP_FEE = "001101000010000"
EXAM_FEE = "001102000010000"
PROG = "XG03DAH041B002000000001"      # female only
CHILD_IV = "001204000020000"          # children only

MALE_ADULT = "370102195603152017"

# the history key every stack writes in its folder (tools/yibao_stack.py)
KEY = "history_key=data/audit-history.key"


def id_number(birth, male):
    """A valid 18-digit ID number (GB 11643) of a person born on birth
    (yyyymmdd) in 370102."""
    body = "370102" + birth + ("011" if male else "012")
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights))
                          % 11]
    return body + check


FEMALE_ADULT = id_number("19800101", False)
CHILD = id_number(str(time.localtime().tm_year - 6) + "0101", True)


def line(code, cnt=1, pric=10.00, **kw):
    row = {"med_list_codg": code, "medins_list_codg": code, "cnt": cnt,
           "pric": pric}
    row.update(kw)
    return row


CLEAN = [line(EXAM_FEE), line(AMOX, 2, 12.60)]


def audit_stack(make_stack, rules=RULES, mode=None, tmp=None, **kw):
    """A stack with the demo lists and rules (or rules with every row's
    mode replaced by mode, written next to the stack)."""
    if mode is not None:
        with open(RULES, encoding="utf-8") as f:
            text = f.read()
        out = []
        for row in text.splitlines():
            cols = row.split("\t")
            if len(cols) == 7 and not row.startswith("#"):
                cols[3] = mode
            out.append("\t".join(cols))
        rules = os.path.join(tmp, "rules-%s.tsv" % mode)
        with open(rules, "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
    return make_stack(
        http_extra="yibao_audit_rules %s %s;\n    yibao_audit_lists %s;"
                   % (rules, KEY, LISTS),
        location_extra="yibao_audit on;", **kw)


def visit(stack, fee_lines, person=MALE_ADULT, clinic=None, doctor=None,
          state=None, med_type=None):
    clinic = clinic or township_clinic(stack)
    kw = {}
    if doctor:
        kw["doctor"] = doctor
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   person_id_number=person,
                                   fee_lines=fee_lines, state=state, **kw)
    return {infno: (status, body) for infno, status, body in steps}


def sent(stack, infno):
    got = sim_get(stack, "requests?n=500")
    got = got["requests"] if isinstance(got, dict) else got
    return [r["envelope"] for r in got if r.get("envelope")
            and r["envelope"]["infno"] == infno]


def log_lines(stack, infno, n=1):
    deadline = time.monotonic() + harness.HANG_GUARD
    while True:
        with open(stack.access_log, encoding="utf-8") as f:
            lines = [x for x in (json.loads(l) for l in f)
                     if x["infno"] == infno]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def findings(body):
    out = body.get("output") or {}
    return {f["rule_id"]: f for f in out.get("yb_audit") or []}


def test_clean_visit_passes_every_rule(make_stack):
    stack = audit_stack(make_stack)
    steps = visit(stack, CLEAN)
    assert steps["2207"][0] == 200 and steps["2207"][1]["infcode"] == 0
    assert "yb_audit" not in (steps["2204"][1]["output"] or {})
    assert steps["2204"][1].get("warn_msg") in (None, "")
    assert [x["audit"] for x in log_lines(stack, "2204")] == [""]
    assert [x["audit"] for x in log_lines(stack, "2206")] == [""]


# one visit per rule that breaks it (the demo's modes: enforce refuses,
# warn sends and tells), and the lines at fault

BREACHES = [
    ("YB-L01", "enforce", [line(GP_FEE), line(EXAM_FEE)], MALE_ADULT, None,
     {"2": "1", "1": "2"}),
    ("YB-L03", "warn", [line(IBU, 1, 15.00)], MALE_ADULT, None,
     {"1": "1"}),
    ("YB-L05", "enforce", [line(EXAM_FEE), line(AMOX, 1, 16.00)],
     MALE_ADULT, None, {"2": "1"}),
    ("YB-L06", "warn", [line(LEVO, 1, 20.00)], MALE_ADULT, None,
     {"1": "1"}),
    ("YB-L07", "enforce", [line(EXAM_FEE), line(PROG, 1, 5.00)],
     MALE_ADULT, None, {"2": "1"}),
    ("YB-L09", "warn", [line(CHILD_IV, 1, 8.00)], FEMALE_ADULT, None,
     {"1": "1"}),
    ("YB-L10", "enforce", [line(EXAM_FEE)], MALE_ADULT, "D370102000006",
     {"1": "1"}),
]


@pytest.mark.parametrize("rule,mode,fees,person,doctor,lines", BREACHES,
                         ids=[b[0] for b in BREACHES])
def test_each_rule_flags_its_breach(make_stack, rule, mode, fees, person,
                                    doctor, lines):
    stack = audit_stack(make_stack)
    state = client.FlowState()
    steps = visit(stack, fees, person=person, doctor=doctor, state=state)
    status, body = steps["2204"]
    f = findings(body)
    assert rule in f, body
    got = {d["rx_id"]: d["vola_item_type"]
           for d in f[rule]["judge_result_detail_dtos"]}
    assert got == lines
    assert f[rule]["mode"] == mode
    assert f[rule]["sev_deg"] in (1, 2, 3)
    assert f[rule]["jr_id"].startswith(state.msgids["2204"] + "-")
    log = log_lines(stack, "2204")[0]["audit"]
    assert rule + ":" + mode + ":" in log

    if mode == "enforce":
        assert status == 422
        assert body["infcode"] == -1
        assert body["err_msg"].startswith("YB4010 "), body["err_msg"]
        assert rule in body["err_msg"]
        assert sent(stack, "2204") == []           # nothing was sent
        assert "2206" not in steps
    else:
        assert status == 200 and body["infcode"] == 0
        assert rule in body["warn_msg"]
        assert body["output"]["result"]            # the platform's answer
        assert len(sent(stack, "2204")) == 1
        assert steps["2207"][1]["infcode"] == 0


def test_the_same_lines_pass_where_the_rule_does_not_apply(make_stack):
    """The rules' data decides: the township's list is for its 一体化
    clinics; a female may have the female-only item; an adult the
    adult drug; the suspended doctor is the township's."""
    stack = audit_stack(make_stack)
    steps = visit(stack, [line(EXAM_FEE),
                          line("XJ01DCT093A010969823691", 1, 20.00)])
    assert findings(steps["2204"][1]) == {}
    steps = visit(stack, [line(EXAM_FEE), line(PROG, 1, 5.00)],
                  person=FEMALE_ADULT)
    assert steps["2204"][0] == 200, steps["2204"]
    assert findings(steps["2204"][1]) == {}
    steps = visit(stack, [line(CHILD_IV, 1, 8.00)], person=CHILD)
    assert findings(steps["2204"][1]) == {}
    steps = visit(stack, [line(EXAM_FEE)], clinic=own_clinic(stack),
                  doctor="D370102000006")
    assert steps["2204"][0] == 200, steps["2204"]
    assert "YB-L10" not in findings(steps["2204"][1])


@pytest.mark.parametrize("mode", ["shadow", "warn", "enforce"])
def test_modes(make_stack, tmp_path, mode):
    stack = audit_stack(make_stack, mode=mode, tmp=str(tmp_path))
    steps = visit(stack, [line(EXAM_FEE), line(AMOX, 1, 16.00)])
    status, body = steps["2204"]
    log = log_lines(stack, "2204")[0]["audit"]
    assert log == "YB-L05:%s:1:1.00" % mode

    if mode == "shadow":
        assert status == 200 and body["infcode"] == 0
        assert findings(body) == {}
        assert not body.get("warn_msg")
        assert len(sent(stack, "2204")) == 1
    elif mode == "warn":
        assert status == 200 and body["infcode"] == 0
        assert findings(body)["YB-L05"]["vola_amt"] == 1.0
        assert "YB-L05" in body["warn_msg"]
        assert len(sent(stack, "2204")) == 1
    else:
        assert status == 422 and body["err_msg"].startswith("YB4010 ")
        assert findings(body)["YB-L05"]["vola_amt"] == 1.0
        assert sent(stack, "2204") == []


def test_acknowledged_finding_is_sent_and_logged(make_stack, tmp_path):
    """A rule with ack=yes: the clinic resends acknowledging it; the
    acknowledgement is logged and never reaches the platform.  A rule
    without it stays refused."""
    rules = str(tmp_path / "rules.tsv")
    with open(rules, "w", encoding="utf-8") as f:
        f.write("YB-L06\t超目录用药\tdrug_list\tenforce\t2\t*\t"
                "lists=essential|county,ack=yes\n"
                "YB-L05\t超标准收费\tprice_cap\tenforce\t1\t*\t-\n")
    stack = audit_stack(make_stack, rules=rules)
    clinic = township_clinic(stack)
    state = client.FlowState()
    steps = visit(stack, [line(LEVO, 1, 20.00)], state=state)
    assert steps["2204"][0] == 422

    row = {"feedetl_sn": "1", "mdtrt_id": state.mdtrt_id,
           "psn_no": state.psn_no, "chrg_bchno": state.chrg_bchno + "1",
           "fee_ocur_time": time.strftime("%Y-%m-%d %H:%M:%S"),
           "med_list_codg": LEVO, "medins_list_codg": LEVO,
           "det_item_fee_sumamt": 20.00, "cnt": 1, "pric": 20.00,
           "bilg_dept_codg": "A02", "bilg_dept_name": "全科医疗科",
           "bilg_dr_codg": "D370102000001", "bilg_dr_name": "张医生"}

    def send(inp):
        env = client.make_envelope("2204", inp, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   sign_no=state.sign_no,
                                   insuplc_admdvs=state.insuplc_admdvs)
        return client.post(stack.url, CALLER, SECRET, env)

    r = send({"feedetail": [row],
              "yb_audit_ack": ["YB-L06:患者自备处方，已告知自费"]})
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert findings(r.body)["YB-L06"]["ack"] is True
    assert "yb_audit_ack" not in sent(stack, "2204")[-1]["input"]
    log = log_lines(stack, "2204", 2)[-1]["audit"]
    assert log == "YB-L06:enforce:2:20.00+ack"

    row = dict(row, feedetl_sn="2", chrg_bchno=state.chrg_bchno + "2",
               med_list_codg=AMOX, medins_list_codg=AMOX, pric=16.00,
               det_item_fee_sumamt=16.00)
    r = send({"feedetail": [row], "yb_audit_ack": ["YB-L05"]})
    assert r.status == 422 and r.body["err_msg"].startswith("YB4010 ")
    assert findings(r.body)["YB-L05"]["ack"] is False

    r = send({"feedetail": [row], "yb_audit_ack": [5]})
    assert r.status == 400 and "yb_audit_ack" in r.body["err_msg"]


def test_visit_context_from_the_store(make_stack, make_redis):
    """What the gateway saw earlier decides: the same person's second
    visit at the clinic on one day (分解就诊) and the drug supplied at the
    first one (重复开药), with Redis."""
    redis = make_redis()
    stack = audit_stack(make_stack, redis=redis)
    steps = visit(stack, [line(EXAM_FEE), line(AMOX, 2, 12.60)])
    assert findings(steps["2204"][1]) == {}
    steps = visit(stack, [line(EXAM_FEE), line(AMOX, 1, 12.60)])
    f = findings(steps["2204"][1])
    assert set(f) == {"YB-L02", "YB-L04"}, f
    assert [d["rx_id"] for d in f["YB-L04"]["judge_result_detail_dtos"]] \
        == ["2"]
    assert "尚余" in f["YB-L04"]["vola_cont"]

    # another person at the same clinic: nothing carried over
    steps = visit(stack, [line(EXAM_FEE), line(AMOX, 1, 12.60)],
                  person=FEMALE_ADULT)
    assert findings(steps["2204"][1]) == {}

    # what the audit keeps in Redis names nobody: no ID number, no
    # psn_no (the keys carry a digest of it), no name
    import redis as redis_client
    rc = redis_client.Redis(host="127.0.0.1", port=redis.port)
    person = steps["1101"][1]["output"]["baseinfo"]
    kept = b""
    for key in rc.scan_iter("yibao:audit:*"):
        kind = rc.type(key)
        value = rc.get(key) if kind == b"string" else \
            b"\n".join(rc.lrange(key, 0, -1)) if kind == b"list" else \
            b"\n".join(k + b"\t" + v for k, v in rc.hgetall(key).items()) \
            if kind == b"hash" else kind
        kept += key + b"\n" + value + b"\n"
    assert b"yibao:audit:p:" in kept and b"yibao:audit:m:" in kept
    for secret in (MALE_ADULT, FEMALE_ADULT, person["psn_no"],
                   person["psn_name"]):
        assert secret.encode() not in kept, secret


def write_key(path, text):
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return str(path)


def test_history_is_keyed_by_the_installations_secret(make_stack,
                                                      make_redis, tmp_path):
    """The store's keys of a person are HMAC-SHA256 of psn_no under the
    history key, not its SHA-256 (which anyone can compute for every
    possible psn_no): two secrets give two keys, and the history still
    works from one request to the next."""
    import hashlib
    import hmac
    import redis as redis_client
    redis = make_redis()
    rc = redis_client.Redis(host="127.0.0.1", port=redis.port)
    keys = {}
    for name, secret in (("a", "a1" * 32), ("b", "b2" * 32)):
        path = write_key(tmp_path / (name + ".key"), secret + "\n")
        stack = audit_stack(make_stack, redis=redis, start=False)
        stack.http_extra = stack.http_extra.replace(KEY,
                                                    "history_key=" + path)
        stack.start()
        steps = visit(stack, [line(EXAM_FEE)])
        assert findings(steps["2204"][1]) == {}
        steps = visit(stack, [line(EXAM_FEE)])
        assert set(findings(steps["2204"][1])) == {"YB-L02"}
        psn_no = steps["1101"][1]["output"]["baseinfo"]["psn_no"].encode()
        mac = hmac.new(secret.encode(), psn_no,
                       hashlib.sha256).hexdigest()[:32]
        plain = hashlib.sha256(psn_no).hexdigest()[:32]
        kept = [k.decode() for k in rc.scan_iter("yibao:audit:p:*")]
        assert [k for k in kept if k.endswith(":" + mac)], (mac, kept)
        assert not [k for k in kept if plain in k], (plain, kept)
        keys[name] = mac
        stack.stop()
    assert keys["a"] != keys["b"]


@pytest.mark.parametrize("key,mode,words", [
    (None, 0o600, ["open() \"", "missing.key\" failed"]),
    ("a1" * 32, 0o644, ["holds secrets but is accessible by group or "
                        "others (mode 0644)"]),
    ("a1" * 15 + "\n", 0o600, ["the secret has 30 bytes, at least 32"]),
    ("", 0o600, ["needs history_key="]),
])
def test_history_key_mistakes_fail_nginx_t(make_stack, tmp_path, key, mode,
                                           words):
    path = str(tmp_path / "missing.key")
    if key:
        write_key(path, key)
        os.chmod(path, mode)
    param = "" if key == "" else "history_key=" + path
    stack = make_stack(start=False,
                       http_extra="yibao_audit_rules %s %s;\n"
                                  "    yibao_audit_lists %s;"
                                  % (RULES, param, LISTS),
                       location_extra="yibao_audit on;")
    stack.allowed_log = [r"\[emerg\]"]
    p = subprocess.run(stack.nginx_cmd("-t"), capture_output=True, text=True)
    assert p.returncode != 0
    for w in words:
        assert w in p.stderr, p.stderr
    # the file and line of the directive
    assert re.search(r"in \S+/nginx\.conf:\d+", p.stderr), p.stderr


def test_embedded_store_keeps_the_context_too(make_stack):
    stack = audit_stack(make_stack)
    visit(stack, [line(EXAM_FEE)])
    steps = visit(stack, [line(EXAM_FEE)])
    assert set(findings(steps["2204"][1])) == {"YB-L02"}


@pytest.mark.parametrize("rules,lists,words", [
    ("YB-L01\tn\tgp_fee\tblock\t1\t*\tlist=gp_fee\n", None,
     ["rules.tsv\" line 1", "column 4 \"mode\"", "block"]),
    ("#\nYB-L01\tn\tgp_fee\twarn\t1\t*\tlist=nothing\n", None,
     ["rules.tsv\" line 2", "the list \"nothing\" has no entries"]),
    (None, "essential\t*\tXJ01\tcap=x\n",
     ["lists.tsv\" line 1", "column 4 \"attrs\""]),
])
def test_mistakes_fail_nginx_t(make_stack, tmp_path, rules, lists, words):
    rpath, lpath = RULES, LISTS
    if rules is not None:
        rpath = str(tmp_path / "rules.tsv")
        with open(rpath, "w", encoding="utf-8") as f:
            f.write(rules)
    if lists is not None:
        lpath = str(tmp_path / "lists.tsv")
        with open(lpath, "w", encoding="utf-8") as f:
            f.write(lists)
    stack = make_stack(start=False,
                       http_extra="yibao_audit_rules %s %s;\n"
                                  "    yibao_audit_lists %s;"
                                  % (rpath, KEY, lpath),
                       location_extra="yibao_audit on;")
    stack.allowed_log = [r"\[emerg\]"]
    p = subprocess.run(stack.nginx_cmd("-t"), capture_output=True, text=True)
    assert p.returncode != 0
    for w in words:
        assert w in p.stderr, p.stderr


def test_audit_on_without_rules_fails_nginx_t(make_stack):
    stack = make_stack(start=False, location_extra="yibao_audit on;")
    stack.allowed_log = [r"\[emerg\].*yibao_audit on"]
    p = subprocess.run(stack.nginx_cmd("-t"), capture_output=True, text=True)
    assert p.returncode != 0
    assert "\"yibao_audit on\" needs \"yibao_audit_rules\"" in p.stderr


# ---------------------------------------------------------------------------
# the platform's audit (3101/3102): merged, or skipped on its timeout
# ---------------------------------------------------------------------------

TWO_ANTIBIOTICS = [line(EXAM_FEE), line(AMOX, 2, 12.60),
                   line("XJ01DCT093A010969823691", 1, 20.00)]


def platform_stack(make_stack, extra, mapping=MAP, start=True):
    return make_stack(
        start=start,
        http_extra="yibao_audit_rules %s %s;\n    yibao_audit_lists %s;\n"
                   "    yibao_audit_platform %s map=%s;"
                   % (RULES, KEY, LISTS, extra, mapping),
        location_extra="yibao_audit on;")


def changed_mapping(tmp_path, edit):
    """The shipped mapping with edit(text) applied, in a file of its own."""
    with open(MAP, encoding="utf-8") as f:
        text = f.read()
    changed = edit(text)
    assert changed != text
    path = tmp_path / "audit-3101.tsv"
    path.write_text(changed, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("infno,node", [("3101", "data"),
                                        ("3660", "trigScen")])
def test_platform_audit_merged(make_stack, infno, node):
    stack = platform_stack(make_stack, "on=2204 infno=%s trig_scen=2 "
                           "node=%s timeout=20s mode=warn" % (infno, node))
    steps = visit(stack, TWO_ANTIBIOTICS)
    status, body = steps["2204"]
    assert status == 200 and body["infcode"] == 0, body
    f = findings(body)
    assert set(f) == {"R01"}, f                 # the gateway found nothing
    assert f["R01"]["source"] == "platform"
    assert f["R01"]["mode"] == "warn"
    assert sorted(d["rx_id"] for d in f["R01"]["judge_result_detail_dtos"]) \
        == ["2", "3"]
    assert "R01 抗菌药物联用" in body["warn_msg"]
    assert log_lines(stack, "2204")[0]["audit"] == \
        "%s:R01:warn:2:45.20" % infno

    asked = sent(stack, infno)
    assert len(asked) == 1
    data = asked[0]["input"][node]
    assert data["trig_scen"] == "2"
    patient = data["patient_dtos"][0]
    assert patient["gend"] == "1" and patient["brdy"] == "1956-03-15"
    enc = patient["fsi_encounter_dtos"][0]
    assert enc["med_type"] == "11"
    assert enc["fsi_diagnose_dtos"][0]["dise_codg"] == "I10.x00"
    assert [o["rx_id"] for o in enc["fsi_order_dtos"]] == ["1", "2", "3"]

    # another person's clean visit: asked, nothing found
    steps = visit(stack, CLEAN, person=FEMALE_ADULT)
    assert findings(steps["2204"][1]) == {}
    assert log_lines(stack, "2204", 2)[1]["audit"] == ""
    assert len(sent(stack, infno)) == 2


def test_platform_audit_timeout_lets_the_transaction_go(make_stack):
    stack = platform_stack(make_stack, "on=2204 infno=3101 trig_scen=2 "
                           "timeout=300ms mode=enforce")
    sim_post(stack, "fault", {"infno": "3101", "mode": "hold", "count": 1})
    steps = visit(stack, TWO_ANTIBIOTICS)
    sim_post(stack, "release")

    # the late answer ends the exchange (no connection is left open)
    harness.wait_until("the late 3101 answer", lambda: "ended after its "
                       "transaction went on" in harness.error_log_text(stack))
    status, body = steps["2204"]
    assert status == 200 and body["infcode"] == 0, body
    assert findings(body) == {}
    assert log_lines(stack, "2204")[0]["audit"] == "3101:timeout"
    assert steps["2207"][1]["infcode"] == 0
    stack.allowed_log = [r"did not answer within 300 ms"]


@pytest.mark.parametrize("answer", [
    {"infcode": "0", "err_msg": "FSI-文件查询号不能为空[fileBO_156]",
     "output": None},
    {"code": "999", "msg": "系统繁忙"},
    {"infcode": -1, "err_msg": "审核服务异常", "output": None},
])
def test_platform_audit_failure_is_a_miss(make_stack, answer):
    stack = platform_stack(make_stack, "on=2204 infno=3101 trig_scen=2 "
                           "timeout=20s")
    body = json.dumps(answer, ensure_ascii=False).encode()
    sim_post(stack, "fault", {"infno": "3101", "mode": "answer", "count": 1,
                              "body_b64": base64.b64encode(body).decode(),
                              "content_type": "application/json"})
    steps = visit(stack, TWO_ANTIBIOTICS)
    assert steps["2204"][0] == 200 and steps["2204"][1]["infcode"] == 0
    assert findings(steps["2204"][1]) == {}
    assert log_lines(stack, "2204")[0]["audit"] == "3101:failed"
    stack.allowed_log = [r"the platform's audit \(3101\)"]


def test_platform_findings_are_escaped_in_the_log(make_stack):
    """The platform's rule_id and sev_deg are outside text: a quote, a
    line end, a tab, the log field's separators (' ', ':') and digits of
    an ID number in them must not reach the logs as they are (a forged
    line in the error log, a forged finding in $yibao_audit)."""
    stack = platform_stack(make_stack, "on=2204 infno=3101 trig_scen=2 "
                           "timeout=20s mode=warn")
    rule = 'R"01\n2026/12/08 [emerg] forged\tX 3101:F:enforce:1:0.00 ' \
        + MALE_ADULT
    answer = {"infcode": 0, "err_msg": None, "output": {"result": [
        {"jr_id": "J1", "rule_id": rule, "rule_name": "抗菌药物联用",
         "vola_cont": "x", "sev_deg": "2\n\"x", "vola_amt": 45.2,
         "judge_result_detail_dtos": [{"rx_id": "2"}]}]}}
    body = json.dumps(answer, ensure_ascii=False).encode()
    sim_post(stack, "fault", {"infno": "3101", "mode": "answer", "count": 1,
                              "body_b64": base64.b64encode(body).decode(),
                              "content_type": "application/json"})
    steps = visit(stack, TWO_ANTIBIOTICS)
    status, body = steps["2204"]
    assert status == 200 and body["infcode"] == 0, body
    # the answer's findings keep the platform's own text (JSON-escaped)
    assert rule in findings(body)
    logged = log_lines(stack, "2204")[0]["audit"]
    # one finding of five fields, the platform's text shown as
    # yibao_echo() shows outside values, at most 40 characters
    assert len(logged.split(" ")) == 1 and len(logged.split(":")) == 5, \
        logged
    assert logged.startswith("3101:R?01?2026/12/08?[emerg]?forged?X?3101?F?")
    assert logged.endswith("...:warn:2??x:45.20"), logged
    assert not set('"\\\n\t') & set(logged), logged
    with open(stack.access_log, encoding="utf-8") as f:
        text = f.read()
    errors = harness.error_log_text(stack)
    assert "[emerg] forged" not in errors, errors
    assert MALE_ADULT not in errors + text


def test_platform_audit_mapping_is_data(make_stack, tmp_path):
    """map=: another mapping file changes what the platform receives: a
    literal syscode, a fee line's doctor under another key, spec
    filled, medins_name left out; the simulator still checks the input
    strictly."""
    def edit(text):
        text = text.replace("data\tsyscode\tsyscode",
                            'data\tsyscode\t"HIS01"')
        text = text.replace("order\tdrord_dr_codg\tline.doctor",
                            "order\tbilg_dr_codg\tline.doctor")
        text = text.replace('order\tspec\t""', 'order\tspec\t"1box"')
        return text.replace("encounter\tmedins_name\tentity_name\n", "")

    stack = platform_stack(make_stack, "on=2204 infno=3101 trig_scen=2 "
                           "timeout=20s mode=warn",
                           mapping=changed_mapping(tmp_path, edit))
    steps = visit(stack, TWO_ANTIBIOTICS)
    status, body = steps["2204"]
    assert status == 200 and body["infcode"] == 0, body
    assert set(findings(body)) == {"R01"}       # the platform answered
    data = sent(stack, "3101")[0]["input"]["data"]
    assert data["syscode"] == "HIS01"
    enc = data["patient_dtos"][0]["fsi_encounter_dtos"][0]
    assert "medins_name" not in enc and enc["medins_id"]
    for o in enc["fsi_order_dtos"]:
        assert o["spec"] == "1box" and o["bilg_dr_codg"]
        assert "drord_dr_codg" not in o


def test_platform_audit_mapping_missing_a_field_is_refused(make_stack,
                                                           tmp_path):
    """A mapping without patn_id: the simulator refuses the input (it
    stays strict), the transaction goes on, the miss is logged."""
    stack = platform_stack(make_stack, "on=2204 infno=3101 trig_scen=2 "
                           "timeout=20s",
                           mapping=changed_mapping(
                               tmp_path, lambda t: t.replace(
                                   "patient\tpatn_id\tpsn_no\n", "")))
    steps = visit(stack, TWO_ANTIBIOTICS)
    assert steps["2204"][0] == 200 and steps["2204"][1]["infcode"] == 0
    assert findings(steps["2204"][1]) == {}
    assert log_lines(stack, "2204")[0]["audit"] == "3101:failed"
    assert "patn_id" not in \
        sent(stack, "3101")[0]["input"]["data"]["patient_dtos"][0]
    stack.allowed_log = [r"the platform's audit \(3101\)"]


@pytest.mark.parametrize("edit,line,msg", [
    (lambda t: t.replace("order\tcnt\tline.cnt", "order\tcnt\tline.count"),
     55, 'column 3 "source": "line.count" is not a value'),
    (lambda t: t.replace("patient\tgend\tgend", "patient\tgend"),
     33, "2 columns, expected 3"),
    (lambda t: t.replace("encounter\tfsi_order_dtos\t[order]\n", ""),
     58, "no line of encounter places [order]"),
])
def test_platform_audit_bad_mapping_fails_nginx_t(make_stack, tmp_path,
                                                  edit, line, msg):
    path = changed_mapping(tmp_path, edit)
    stack = platform_stack(make_stack, "on=2204 infno=3101", mapping=path,
                           start=False)
    stack.allowed_log = [r"\[emerg\]"]
    p = subprocess.run(stack.nginx_cmd("-t"), capture_output=True, text=True)
    assert p.returncode != 0
    assert '"%s" line %d: %s' % (path, line, msg) in p.stderr, p.stderr


def test_platform_audit_needs_a_mapping(make_stack):
    stack = make_stack(start=False, http_extra="yibao_audit_rules %s %s;\n"
                       "    yibao_audit_lists %s;\n"
                       "    yibao_audit_platform on=2204 infno=3101;"
                       % (RULES, KEY, LISTS),
                       location_extra="yibao_audit on;")
    stack.allowed_log = [r"\[emerg\]"]
    p = subprocess.run(stack.nginx_cmd("-t"), capture_output=True, text=True)
    assert p.returncode != 0
    assert "map=" in p.stderr, p.stderr


def test_platform_audit_needs_yibao_platform(make_stack):
    stack = make_stack(start=False, platform=None, resolve="off",
                       http_extra="yibao_audit_rules %s %s;\n"
                                  "    yibao_audit_lists %s;\n"
                                  "    yibao_audit_platform on=2204 "
                                  "infno=3101 map=%s;"
                                  % (RULES, KEY, LISTS, MAP),
                       location_extra="yibao_audit on;")
    stack.allowed_log = [r"\[emerg\]"]
    p = subprocess.run(stack.nginx_cmd("-t"), capture_output=True, text=True)
    assert p.returncode != 0
    assert "needs \"yibao_audit_rules\" and \"yibao_platform\"" in p.stderr


def test_platform_audit_of_the_settlement(make_stack):
    """3102 (事中) on 2206: every line of the visit, from the store."""
    stack = platform_stack(make_stack, "on=2206 infno=3102 trig_scen=7 "
                           "timeout=20s mode=warn")
    steps = visit(stack, TWO_ANTIBIOTICS)
    assert findings(steps["2204"][1]) == {}
    assert sent(stack, "3101") == []
    status, body = steps["2206"]
    assert status == 200 and body["infcode"] == 0, body
    assert set(findings(body)) == {"R01"}
    assert log_lines(stack, "2206")[0]["audit"] == "3102:R01:warn:2:45.20"
    orders = sent(stack, "3102")[0]["input"]["data"]["patient_dtos"][0][
        "fsi_encounter_dtos"][0]["fsi_order_dtos"]
    assert [o["hilist_code"] for o in orders] == [
        EXAM_FEE, AMOX, "XJ01DCT093A010969823691"]
    assert steps["2207"][1]["infcode"] == 0


def test_trace_tells_a_refused_visits_findings(make_stack):
    stack = audit_stack(make_stack)
    state = client.FlowState()
    steps = visit(stack, [line(GP_FEE), line(EXAM_FEE)], state=state)
    assert steps["2204"][0] == 422
    log_lines(stack, "2204")
    p = subprocess.run([os.path.join(ROOT, "tools", "yibao-trace"),
                        "--log", stack.access_log, "--mdtrt-id",
                        state.mdtrt_id], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "the fee-line audit refused the transaction; findings" \
        in p.stdout, p.stdout
    assert "YB-L01:enforce:1:10.00" in p.stdout
    assert "yb_audit_ack" in p.stdout
    assert state.psn_no not in p.stdout


# ---------------------------------------------------------------------------
# metrics by rule, mode and severity; the status page's top rules and
# clinics (docs/status.md)
# ---------------------------------------------------------------------------

SEVERITIES = ("1", "2", "3")


def counted(words):
    """{(rule, source, mode, severity): n} of $yibao_audit words, as the
    status counts them (docs/status.md)."""
    out = {}
    for w in words:
        f = w.split(":")
        if len(f) == 4:
            key = (f[0], "gateway", f[1], f[2])
        elif len(f) == 5:
            key = (f[0], "platform", f[2],
                   f[3] if f[3] in SEVERITIES else "other")
        else:
            continue
        out[key] = out.get(key, 0) + 1
    return out


def audit_samples(text):
    families, samples = ts.parse_prometheus(text)
    assert families["yibao_audit_findings_total"] == "counter"
    out = {}
    for (name, labels), value in samples.items():
        if name == "yibao_audit_findings_total":
            d = dict(labels)
            assert set(d) == {"rule", "source", "mode", "severity"}, d
            out[(d["rule"], d["source"], d["mode"], d["severity"])] = value
    return out, samples


def findings_visits(stack):
    """Three visits with findings at two clinics; the persons seen."""
    township, own = township_clinic(stack), own_clinic(stack)
    seen = []
    for fees, person, clinic in (
            ([line(GP_FEE), line(EXAM_FEE)], MALE_ADULT, township),
            ([line(EXAM_FEE), line(LEVO)], FEMALE_ADULT, township),
            ([line(GP_FEE), line(EXAM_FEE)], FEMALE_ADULT, own)):
        steps = visit(stack, fees, person=person, clinic=clinic)
        base = steps["1101"][1]["output"]["baseinfo"]
        seen += [person, base["psn_no"], base["psn_name"]]
    # every transaction's findings count: 2204's and 2206's (the second
    # visit's 2206 audits its lines again); the third 2204 is the last
    # transaction with findings
    log_lines(stack, "2204", 3)
    with open(stack.access_log, encoding="utf-8") as f:
        words = [w for x in f for w in json.loads(x)["audit"].split()]
    return township, own, seen, counted(words)


def test_findings_in_metrics_and_status(make_stack):
    stack = audit_stack(make_stack)
    township, own, seen, want = findings_visits(stack)
    assert want == {("YB-L01", "gateway", "enforce", "1"): 2,
                    ("YB-L06", "gateway", "warn", "2"): 2}, want

    doc = ts.wait_status(stack, lambda d: d["audit"]["findings"]
                         == sum(want.values()))
    text = ts.metrics(stack)
    got, samples = audit_samples(text)
    assert got == want
    assert samples[("yibao_audit_platform_misses_total",
                    (("reason", "timeout"),))] == 0

    a = doc["audit"]
    rules = {r["rule"]: r for r in a["top_rules"]}
    assert set(rules) == {"YB-L01", "YB-L06"}
    assert rules["YB-L01"]["enforce"] == 2
    assert rules["YB-L01"]["severity"]["1"] == 2
    assert rules["YB-L06"]["warn"] == 2
    assert a["rules_tracked"] == 2
    clinics = {c["clinic"]: c for c in a["clinics"]["top"]}
    assert set(clinics) == {township["org"], own["org"]}
    assert clinics[own["org"]]["name"] == own["name"]
    assert clinics[township["org"]]["entity"] == township["entity"]
    assert clinics[township["org"]]["transactions"] == 3
    assert clinics[own["org"]]["findings"] == 1
    assert sum(c["findings"] for c in clinics.values()) == \
        sum(want.values())

    # rule ids, clinic codes and names, counts: nobody's data
    body = json.dumps(doc, ensure_ascii=False) + text
    for secret in seen:
        assert secret not in body, secret


def test_platform_findings_fold_into_their_infno(make_stack):
    """The platform's rule ids are outside text: its findings are counted
    as its audit's infno, never under the platform's own rule id."""
    stack = platform_stack(make_stack, "on=2204 infno=3101 trig_scen=2 "
                           "timeout=20s mode=warn")
    visit(stack, TWO_ANTIBIOTICS)
    sim_post(stack, "fault", {"infno": "3101", "mode": "answer", "count": 1,
                              "body_b64": base64.b64encode(json.dumps(
                                  {"infcode": -1, "err_msg": "x"}).encode())
                              .decode(),
                              "content_type": "application/json"})
    visit(stack, CLEAN, person=FEMALE_ADULT)
    assert [x["audit"] for x in log_lines(stack, "2204", 2)] == \
        ["3101:R01:warn:2:45.20", "3101:failed"]
    ts.wait_status(stack, lambda d: d["audit"]["platform_misses"]
                   ["failed"] == 1)
    text = ts.metrics(stack)
    got, samples = audit_samples(text)
    assert got == {("3101", "platform", "warn", "2"): 1}
    assert samples[("yibao_audit_platform_misses_total",
                    (("reason", "failed"),))] == 1
    assert "R01" not in text
    stack.allowed_log = [r"the platform's audit \(3101\)"]


@tsp.needs_chromium
def test_status_page_shows_top_rules_and_clinics(make_stack, tmp_path):
    stack = audit_stack(make_stack)
    township, own, seen, want = findings_visits(stack)
    doc = ts.wait_status(stack, lambda d: d["audit"]["findings"]
                         == sum(want.values()))
    dom = tsp.chromium(tmp_path, stack.status_url + ts.PAGE, "--dump-dom")
    for r in doc["audit"]["top_rules"]:
        c = tsp.cells(dom, "data-rule", "gateway:" + r["rule"])
        assert int(c["a-findings"]) == r["findings"], r
        assert int(c["a-enforce"]) == r["enforce"], r
        assert int(c["a-sev2"]) == r["severity"]["2"], r
    for clinic in (township, own):
        c = tsp.cells(dom, "data-audit-clinic", clinic["org"])
        assert c["a-name"] == clinic["name"]
        assert int(c["a-findings"]) == sum(
            x["findings"] for x in doc["audit"]["clinics"]["top"]
            if x["clinic"] == clinic["org"])
    assert 'id="audit-none" style="display: none;"' in dom
    for secret in seen:
        assert secret not in dom, secret
