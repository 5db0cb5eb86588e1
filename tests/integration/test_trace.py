"""yibao-trace: the story of a visit and the failed
settlements of a day, from the gateway's JSON transaction log.

Most tests write hand-made log lines (the `log_format yibao_tx` contract)
and run the tool in-process; the last one runs real visits through nginx
and the simulator and reads the stack's own access log."""

import datetime
import gzip
import io
import json
import os
import re
import subprocess
import time

import pytest

import harness
from harness import sim_post

import yibao_client as client
import yibao_trace as trace

ROOT = harness.ROOT
TOOL = os.path.join(ROOT, "tools", "yibao-trace")
DASHBOARD = os.path.join(ROOT, "docs", "grafana-dashboard.json")

TZ = datetime.timezone(datetime.timedelta(hours=8))
DAY = "2026-11-26"
T0 = datetime.datetime(2026, 11, 26, 8, 0, 0, tzinfo=TZ).timestamp()

CLINIC_A = ("PDY60134132080312D6001", "某村卫生室", "H37010200001",
            "某镇卫生院")
CLINIC_B = ("PDY60134132080312D6005", "北村卫生室", "H37010200105",
            "北村卫生室")
CALLER = "village-subsystem"

PSN_1 = "3700******************1234"
PSN_2 = "3700******************5678"

ID_NUMBER = "370102195603152017"
ID_NUMBER_X = "11010519491231002X"
UNMAPPED = "feedetail[0].medins_list_codg=YP9990 (drug,item,consumable)"
FLOW = ("9001", "1101", "2201", "2203", "2204", "2206", "2207")

# what the gateway logs when it answers without calling the platform
REFUSED = dict(upstream_status="", upstream_time="", infcode="")


class Log:
    """Hand-written log lines in the shape of `log_format yibao_tx`."""

    def __init__(self):
        self.lines = []
        self.seq = 0

    def tx(self, ts, infno, clinic=CLINIC_A, caller=CALLER, **kw):
        self.seq += 1
        code, name, entity, ename = clinic
        dt = datetime.datetime.fromtimestamp(ts, TZ)
        stamp = dt.strftime("%Y%m%d%H%M%S")
        line = {
            "time": dt.isoformat(timespec="seconds"),
            "msec": round(ts, 3), "caller": caller, "clinic": code,
            "clinic_name": name, "entity": entity, "entity_name": ename,
            "infno": infno,
            "msgid": "%s%s%04d" % (code, stamp, self.seq % 10000),
            "upstream_msgid": "%s%s%04d" % (entity, stamp,
                                            self.seq % 10000),
            "mdtrt_id": "", "setl_id": "", "psn_no": "", "status": 200,
            "infcode": "0", "platform_msg": "", "error": "",
            "error_detail": "", "unmapped": "", "upstream_status": "200",
            "upstream_time": "0.040", "request_time": 0.041}
        line.update(kw)
        self.lines.append(line)
        return line

    def visit(self, ts, psn=PSN_1, clinic=CLINIC_A, fail_at=None,
              fail=None, until="2207", caller=CALLER, step=2.0):
        """The outpatient flow from ts; at fail_at the step carries the
        fields of fail and the flow stops there."""
        n = self.seq + 1
        mdtrt = "370000%013d%011d" % (int(ts * 1000) % 10 ** 13, n)
        setl = "370000%013d%011d" % (int(ts * 1000 + 7) % 10 ** 13, n)
        out = {"mdtrt_id": mdtrt, "setl_id": "", "lines": {}}
        for i, infno in enumerate(FLOW):
            kw = {}
            if infno != "9001":
                kw["psn_no"] = psn
            if infno not in ("9001", "1101"):
                kw["mdtrt_id"] = mdtrt
            failing = infno == fail_at
            if failing:
                kw.update(fail or {})
                if infno == "2201":
                    kw["mdtrt_id"] = ""
            elif infno == "2207":
                kw["setl_id"] = setl
                out["setl_id"] = setl
            kw.setdefault("caller", caller)
            out["lines"][infno] = self.tx(ts + i * step, infno, clinic,
                                          **kw)
            if failing or infno == until:
                break
        return out

    def write(self, path, lines=None):
        lines = self.lines if lines is None else lines
        text = "".join(json.dumps(x, ensure_ascii=False) + "\n"
                       for x in lines)
        if path.endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as f:
                f.write(text)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        return path


def run(*argv):
    """(exit code, stdout, stderr) of the tool, in-process."""
    out, err = io.StringIO(), io.StringIO()
    rc = trace.main([str(a) for a in argv], out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def run_json(*argv):
    rc, out, err = run(*(argv + ("--json",)))
    return rc, json.loads(out), err


def demo_secrets():
    """Every secret of the demo callers and keys files."""
    found = []
    for name, cols in (("callers.tsv", (1,)), ("keys.tsv", (1, 2))):
        path = os.path.join(ROOT, "conf", "demo", name)
        for row in harness.yibao_stack.read_tsv(path):
            found += [row[c] for c in cols if c < len(row)]
    return [s for s in found if len(s) >= 8]


# ---------------------------------------------------------------------------
# every cause
# ---------------------------------------------------------------------------

# cause id -> (failing step, the fields of its log line, words of the cause)
CAUSE_CASES = {
    "outcome_unknown": ("2207", dict(
        status=502, error="YB6010", infcode="", upstream_status="504",
        upstream_time="1.001", request_time=1.002,
        error_detail="infno 2207 msgid X was sent to the platform (as Y) "
                     "but its answer was lost (upstream_timeout): the "
                     "outcome is UNKNOWN"),
        ("answer was lost", "5203", "2601")),
    "timeout": ("2207", dict(
        status=504, error="YB6002", infcode="", upstream_status="504",
        upstream_time="1.001", request_time=1.002,
        error_detail="platform did not answer in time; the outcome is "
                     "unknown"), ("outcome is unknown", "5203", "2601")),
    "client_gave_up": ("2207", dict(
        status=499, upstream_status="", upstream_time="", infcode=""),
        ("closed the connection", "5203")),
    "unmapped_code": ("2204", dict(
        REFUSED, status=422, error="YB4001", error_detail=UNMAPPED,
        unmapped=UNMAPPED), ("unmapped code", "YP9990", "mapping")),
    "code_invalid": ("2204", dict(
        REFUSED, status=422, error="YB4002",
        error_detail="feedetail[1].det_item_fee_sumamt=abc (number)"),
        ("national shape", "det_item_fee_sumamt")),
    "id_number": ("1101", dict(
        REFUSED, status=422, error="YB4003",
        error_detail="data.mdtrt_cert_no (id_number)"),
        ("ID number", "GB 11643")),
    "amount_mismatch": ("2204", dict(
        REFUSED, status=422, error="YB4004",
        error_detail="feedetail[0].det_item_fee_sumamt=25.22 is not cnt 2 "
                     "x pric 12.60"), ("amount mismatch", "25.22")),
    "feedetl_sn": ("2204", dict(
        REFUSED, status=422, error="YB4005",
        error_detail="feedetail[0].feedetl_sn=A1"), ("feedetl_sn",)),
    "audit_refused": ("2204", dict(
        REFUSED, status=422, error="YB4010",
        audit="YB-L05:enforce:1:2.00 YB-L06:warn:2:20.00"),
        ("YB-L05:enforce:1:2.00", "yb_audit_ack")),
    "business_check": ("2204", dict(
        REFUSED, status=422, error="YB4099", error_detail="new check"),
        ("business check", "new check")),
    "caller_signature": ("9001", dict(
        REFUSED, status=401, error="YB2003",
        error_detail="caller signature does not match"),
        ("signature does not match", "callers.tsv")),
    "clock_skew": ("2201", dict(
        REFUSED, status=401, error="YB2004",
        error_detail="X-Yibao-Timestamp 1764100000 is 301 s away"),
        ("clock", "NTP")),
    "replay": ("2207", dict(
        REFUSED, status=401, error="YB2006",
        error_detail="nonce already used (replay)"), ("nonce",)),
    "caller_auth": ("9001", dict(
        REFUSED, status=401, error="YB2002", caller="nobody",
        error_detail="unknown caller \"nobody\""), ("unknown caller",)),
    "caller_denied": ("2207", dict(
        REFUSED, status=403, error="YB2102",
        error_detail="caller may not use 2207"), ("may not",)),
    "clinic_unknown": ("9001", dict(
        REFUSED, status=403, error="YB3001", clinic_name="", entity="",
        entity_name="", error_detail="clinic is not in the registry"),
        ("not in registry", "clinics.tsv")),
    "no_route": ("2206", dict(
        REFUSED, status=404, error="YB3002"), ("route",)),
    "platform_signature": ("9001", dict(
        status=502, error="YB6003", infcode="", upstream_status="401",
        error_detail="platform answered HTTP 401: code 401 message "
                     "\"签名不一致!\""),
        ("signature (check keys)", "keys.tsv", "H37010200001")),
    "rate_limited": ("2206", dict(
        REFUSED, status=429, error="YB3101", ratelimit="REJECTED",
        error_detail="rate limit reached"), ("rate limit",)),
    "unreachable": ("2203", dict(
        status=502, error="YB6001", infcode="", upstream_status="502",
        upstream_time="0.000",
        error_detail="platform could not be reached (connection refused "
                     "or reset, or an invalid HTTP answer)"),
        ("unreachable", "could not be reached")),
    "platform_http_error": ("2206", dict(
        status=502, error="YB6003", infcode="", upstream_status="500",
        error_detail="platform answered HTTP 500: 52 bytes of non-JSON "
                     "starting \"<html><body><h1>500\""),
        ("HTTP 500",)),
    "platform_not_envelope": ("2206", dict(
        status=502, error="YB6004", infcode="", upstream_status="200",
        error_detail="platform answer is not a national envelope: 29 "
                     "bytes of non-JSON starting \"??not json\""),
        ("not a national envelope",)),
    "platform_too_large": ("2206", dict(
        status=502, error="YB6005", infcode="", upstream_status="200"),
        ("yibao_response_max",)),
    "gateway_capacity": ("2201", dict(
        REFUSED, status=503, error="YB5003"), ("capacity",)),
    "platform_down": ("2207", dict(
        REFUSED, status=503, error="YB6020",
        error_detail="infno 2207 was not sent: the platform is down"),
        ("记账", "yibao-offline")),
    "store_down": ("2201", dict(
        REFUSED, status=503, error="YB5005", store="down",
        error_detail="the shared store is down"), ("store",)),
    "gateway_internal_sent": ("2207", dict(
        status=500, error="YB5001", infcode="", upstream_status="200",
        error_detail="gateway error, HTTP 500"), ("after 2207 was sent",
                                                  "5203")),
    "gateway_internal": ("2203", dict(
        REFUSED, status=500, error="YB5001"), ("internal",)),
    "request_invalid": ("2203", dict(
        REFUSED, status=400, error="YB1007",
        error_detail="envelope field \"inf_time\" must be "
                     "\"yyyy-MM-dd HH:mm:ss\""), ("malformed request",)),
    "platform_not_signed_in": ("2201", dict(
        infcode="-1", platform_msg="FSI-签到流水号****不是本经办人今日的"
                                   "签到流水号"), ("签到", "9001")),
    "platform_refused": ("2207", dict(
        infcode="-1", platform_msg="FSI-该人员本次就诊的费用明细不存在"),
        ("platform refused", "费用明细不存在")),
    "gateway_error": ("2201", dict(
        REFUSED, status=400, error="YB7001", error_detail="a new code"),
        ("YB7001",)),
    "http_error": ("2206", dict(
        REFUSED, status=500), ("HTTP 500",)),
}

# the same cause from other shapes of the same failure
CAUSE_VARIANTS = [
    ("platform_signature", "2201", dict(
        status=502, error="YB6004", infcode="", upstream_status="200",
        error_detail="platform answer is not a national envelope: code 401 "
                     "message \"非法用户!\"")),
    ("platform_signature", "2204", dict(
        status=502, error="YB6003", infcode="", upstream_status="500",
        platform_msg="x-tif-signature 验签失败",
        error_detail="platform answered HTTP 500: code 400001")),
    ("platform_signature", "2206", dict(
        status=502, error="YB6003", infcode="", upstream_status="500",
        error_detail="platform answered HTTP 500: code 400001 message "
                     "\"鉴权失败，鉴权信息有误。\"")),
    ("rate_limited", "2204", dict(
        infcode="-1", platform_msg="FSI-访问过于频繁，请稍后再试")),
    ("rate_limited", "2206", dict(
        status=502, error="YB6003", infcode="", upstream_status="429",
        error_detail="platform answered HTTP 429: quota")),
    ("timeout", "2204", dict(
        status=504, error="YB6002", infcode="", upstream_status="504")),
    ("platform_refused", "1101", dict(
        infcode=-1, platform_msg="FSI-人员信息不存在")),
]


def test_cause_table_is_data_and_valid():
    rules = trace.compile_causes(trace.CAUSES)
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert set(CAUSE_CASES) == set(ids), \
        "every built-in cause needs a case here"
    for r in rules:
        assert r["title"] and r["cause"] and r.get("next")
    with pytest.raises(ValueError):
        trace.compile_causes([{"id": "x", "title": "x", "cause": "x",
                               "match": [{"error": "("}]}])


@pytest.mark.parametrize("cause", sorted(CAUSE_CASES))
def test_every_cause_is_found(tmp_path, cause):
    infno, fields, words = CAUSE_CASES[cause]
    log = Log()
    good = log.visit(T0)
    bad = log.visit(T0 + 600, psn=PSN_2, fail_at=infno, fail=fields)
    path = log.write(str(tmp_path / "access.log"))

    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY)
    assert rc == 0, err
    assert rep["failed_count"] == 1, rep
    assert [c["id"] for c in rep["by_cause"]] == [cause]
    failed = rep["failed"][0]
    assert failed["failed_at"]["infno"] == infno
    assert failed["failed_at"]["msgid"] == bad["lines"][infno]["msgid"]
    money_unknown = cause in ("timeout", "client_gave_up",
                              "gateway_internal_sent", "outcome_unknown")
    assert failed["status"] == ("unknown" if money_unknown else "failed")

    # the story of the failing transaction names the cause and next step
    rc, text, err = run("--log", path, "--msgid",
                        bad["lines"][infno]["msgid"])
    assert rc == 0, err
    story = text.lower()
    for w in words:
        assert w.lower() in story, (w, text)
    assert re.search(r"^  next     \S", text, re.M), text
    assert good["mdtrt_id"] not in text

    # the good visit is settled and has no cause
    rc, got, err = run_json("--log", path, "--mdtrt-id", good["mdtrt_id"])
    assert [v["status"] for v in got["visits"]] == ["settled"]
    assert got["visits"][0]["cause"] is None


@pytest.mark.parametrize("cause,infno,fields", CAUSE_VARIANTS)
def test_cause_variants(cause, infno, fields):
    log = Log()
    log.visit(T0, fail_at=infno, fail=fields)
    rules = trace.compile_causes(trace.CAUSES)
    tx = trace.make_tx(log.lines[-1])
    trace.classify(tx, rules)
    assert tx.outcome != "ok"
    assert tx.rule["id"] == cause


@pytest.mark.parametrize("cause", ["timeout", "client_gave_up",
                                   "unreachable", "platform_http_error",
                                   "platform_not_envelope",
                                   "platform_too_large"])
def test_money_steps_without_a_usable_answer_are_unknown(tmp_path, cause):
    """A 2207 that may have been acted on is never a plain failure; a
    refusal of the gateway's signature is (nothing was processed)."""
    log = Log()
    unknown = log.visit(T0, fail_at="2207", fail=CAUSE_CASES[cause][1])
    refused = log.visit(T0 + 600, psn=PSN_2, fail_at="2207",
                        fail=CAUSE_CASES["platform_signature"][1])
    path = log.write(str(tmp_path / "access.log"))
    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY)
    status = {v["mdtrt_id"]: (v["status"], v["cause"]["id"])
              for v in rep["failed"]}
    assert status == {unknown["mdtrt_id"]: ("unknown", cause),
                      refused["mdtrt_id"]: ("failed",
                                            "platform_signature")}
    assert rep["unknown_outcomes"] == 1
    rc, text, err = run("--log", path, "--mdtrt-id", unknown["mdtrt_id"])
    assert "do NOT resend 2207" in text and "5203" in text


def test_extra_cause_rules_from_a_file(tmp_path):
    log = Log()
    log.visit(T0, fail_at="2207", fail=dict(
        infcode="-1", platform_msg="FSI-药品库存不足"))
    path = log.write(str(tmp_path / "access.log"))
    rules = tmp_path / "causes.json"
    rules.write_text(json.dumps([{
        "id": "stock", "title": "platform refused: stock",
        "match": [{"platform_msg": "库存"}],
        "cause": "stock: {platform_msg}", "next": "check the pharmacy"}]))
    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY,
                            "--causes", str(rules))
    assert [c["id"] for c in rep["by_cause"]] == ["stock"]
    rules.write_text('[{"id": "bad"}]')
    with pytest.raises(SystemExit):
        run("--log", path, "--failed", "--causes", str(rules))


# ---------------------------------------------------------------------------
# the story
# ---------------------------------------------------------------------------

def test_story_of_a_visit_by_every_key(tmp_path):
    log = Log()
    v = log.visit(T0)
    other = log.visit(T0 + 30, psn=PSN_2, clinic=CLINIC_B)
    path = log.write(str(tmp_path / "access.log"))

    for argv in (("--msgid", v["lines"]["1101"]["msgid"]),
                 ("--msgid", v["lines"]["2204"]["upstream_msgid"]),
                 ("--mdtrt-id", v["mdtrt_id"]),
                 ("--setl-id", v["setl_id"]),
                 ("--clinic", CLINIC_A[0]),
                 ("--clinic", CLINIC_A[2]),
                 ("--clinic", "某村")):
        rc, got, err = run_json("--log", path, *argv)
        assert rc == 0, (argv, err)
        assert len(got["visits"]) == 1, argv
        visit = got["visits"][0]
        assert visit["mdtrt_id"] == v["mdtrt_id"], argv
        assert [s["infno"] for s in visit["steps"]] == list(FLOW)
        assert visit["status"] == "settled"
        assert visit["setl_ids"] == [v["setl_id"]]

    rc, text, err = run("--log", path, "--setl-id", v["setl_id"])
    assert "SETTLED" in text
    for infno, name in (("9001", "签到"), ("1101", "人员信息获取"),
                        ("2201", "门诊挂号"), ("2203", "就诊信息上传"),
                        ("2204", "费用明细上传"), ("2206", "预结算"),
                        ("2207", "结算")):
        assert re.search(r"%s\s+%s\s+ok" % (infno, name), text), text
    assert other["mdtrt_id"] not in text

    rc, text, err = run("--log", path, "--msgid", "NOSUCHMSGID")
    assert rc == 1 and "no matching visit" in text

    with pytest.raises(SystemExit) as e:
        run("--log", path)
    assert e.value.code == 2


def test_previsit_steps_go_to_their_own_visit(tmp_path):
    """Two patients at one clinic, interleaved: each visit gets its own
    1101; the morning's 9001 goes to the first visit after it."""
    log = Log()
    sign = log.tx(T0, "9001")
    a1101 = log.tx(T0 + 10, "1101", psn_no=PSN_1)
    b1101 = log.tx(T0 + 12, "1101", psn_no=PSN_2)
    ma, mb = "3700" + "1" * 26, "3700" + "2" * 26
    log.tx(T0 + 20, "2201", psn_no=PSN_2, mdtrt_id=mb)
    log.tx(T0 + 22, "2201", psn_no=PSN_1, mdtrt_id=ma)
    log.tx(T0 + 30, "2204", psn_no=PSN_1, mdtrt_id=ma)
    # a 2204 that does not carry its mdtrt_id: the same patient's visit
    lost = log.tx(T0 + 31, "2204", psn_no=PSN_2)
    path = log.write(str(tmp_path / "access.log"))

    rc, got, err = run_json("--log", path, "--mdtrt-id", ma)
    msgids = [s["msgid"] for s in got["visits"][0]["steps"]]
    assert a1101["msgid"] in msgids and b1101["msgid"] not in msgids
    assert sign["msgid"] not in msgids

    rc, got, err = run_json("--log", path, "--mdtrt-id", mb)
    msgids = [s["msgid"] for s in got["visits"][0]["steps"]]
    assert b1101["msgid"] in msgids and sign["msgid"] in msgids
    assert lost["msgid"] in msgids


def test_failed_first_steps_are_never_hidden_by_the_next_visit(tmp_path):
    """Flows back to back: an attempt that failed before it had an
    mdtrt_id is reported on its own, with the visit that came next."""
    log = Log()
    sig = CAUSE_CASES["platform_signature"][1]
    failed_9001 = log.visit(T0, fail_at="9001", fail=sig)
    log.tx(T0 + 1, "1101", psn_no=PSN_1)
    failed_2201 = log.tx(T0 + 2, "2201", psn_no=PSN_1, infcode="-1",
                         platform_msg="FSI-系统繁忙")
    good = log.visit(T0 + 3)
    path = log.write(str(tmp_path / "access.log"))

    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY)
    assert rep["failed_count"] == 2
    assert {c["id"]: c["count"] for c in rep["by_cause"]} == {
        "platform_signature": 1, "platform_refused": 1}
    for v in rep["failed"]:
        assert v["followed_by"] == good["mdtrt_id"]
    assert rep["failed"][0]["failed_at"]["msgid"] == \
        failed_9001["lines"]["9001"]["msgid"]
    assert rep["failed"][1]["failed_at"]["msgid"] == failed_2201["msgid"]
    assert rep["failed"][1]["steps"][0]["infno"] == "1101"

    rc, got, err = run_json("--log", path, "--mdtrt-id", good["mdtrt_id"])
    (visit,) = got["visits"]
    assert [s["infno"] for s in visit["steps"]] == list(FLOW)
    assert visit["failed_steps"] == 0 and visit["status"] == "settled"
    rc, text, err = run("--log", path, "--failed", "--day", DAY)
    assert "then:   visit mdtrt_id %s" % good["mdtrt_id"] in text


def test_a_failed_step_resent_in_its_visit_is_recovered(tmp_path):
    log = Log()
    v = log.visit(T0, until="2204", fail_at="2204",
                  fail=dict(CAUSE_CASES["unmapped_code"][1], mdtrt_id=""))
    log.tx(T0 + 100, "2204", psn_no=PSN_1, mdtrt_id=v["mdtrt_id"])
    log.tx(T0 + 102, "2206", psn_no=PSN_1, mdtrt_id=v["mdtrt_id"])
    log.tx(T0 + 104, "2207", psn_no=PSN_1, mdtrt_id=v["mdtrt_id"],
           setl_id="3700" + "5" * 26)
    path = log.write(str(tmp_path / "access.log"))
    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY)
    assert rep["failed_count"] == 0 and rep["recovered"] == 1
    rc, text, err = run("--log", path, "--mdtrt-id", v["mdtrt_id"])
    assert "SETTLED" in text and "YP9990" in text


def test_unknown_outcome_resolved_by_reversal_query_or_retry(tmp_path):
    timeout = CAUSE_CASES["timeout"][1]
    log = Log()
    reversed_ = log.visit(T0, fail_at="2207", fail=timeout)
    log.tx(T0 + 300, "2601", psn_no=PSN_1)
    queried = log.visit(T0 + 1000, psn=PSN_2, fail_at="2207", fail=timeout)
    log.tx(T0 + 1100, "5203", psn_no=PSN_2,
           mdtrt_id=queried["mdtrt_id"], setl_id="3700" + "9" * 26)
    still = log.visit(T0 + 2000, clinic=CLINIC_B, fail_at="2207",
                      fail=timeout)
    path = log.write(str(tmp_path / "access.log"))

    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY)
    by_mdtrt = {v["mdtrt_id"]: v for v in rep["failed"]}
    assert set(by_mdtrt) == {reversed_["mdtrt_id"], still["mdtrt_id"]}
    assert by_mdtrt[reversed_["mdtrt_id"]]["status"] == "reversed"
    assert "2601" in by_mdtrt[reversed_["mdtrt_id"]]["resolution"]
    assert by_mdtrt[still["mdtrt_id"]]["status"] == "unknown"
    assert rep["unknown_outcomes"] == 1 and rep["recovered"] == 1
    assert [c["id"] for c in rep["by_cause"]] == ["timeout"]

    rc, text, err = run("--log", path, "--mdtrt-id", still["mdtrt_id"])
    assert "OUTCOME UNKNOWN at 2207 结算" in text
    assert "do NOT resend 2207" in text
    # 2601 must name the msgid the platform saw
    assert still["lines"]["2207"]["upstream_msgid"] in text

    rc, text, err = run("--log", path, "--failed", "--day", DAY)
    assert "1 with an UNKNOWN outcome" in text


def test_failed_summary_by_cause_and_clinic(tmp_path):
    log = Log()
    t = T0
    unmapped = CAUSE_CASES["unmapped_code"][1]
    timeout = CAUSE_CASES["timeout"][1]
    signature = CAUSE_CASES["platform_signature"][1]
    log.visit(t)
    log.visit(t + 100, psn=PSN_2, fail_at="2204", fail=unmapped)
    log.visit(t + 200, fail_at="2207", fail=timeout)
    log.visit(t + 300, clinic=CLINIC_B, fail_at="2204", fail=unmapped)
    log.visit(t + 400, clinic=CLINIC_B, psn=PSN_2, fail_at="9001",
              fail=signature)
    # recovered: refused once, fixed and resent, settled
    v = log.visit(t + 5000, until="2204", fail_at="2204", fail=unmapped)
    log.tx(t + 5100, "2204", psn_no=PSN_1, mdtrt_id=v["mdtrt_id"])
    log.tx(t + 5102, "2206", psn_no=PSN_1, mdtrt_id=v["mdtrt_id"])
    log.tx(t + 5104, "2207", psn_no=PSN_1, mdtrt_id=v["mdtrt_id"],
           setl_id="3700" + "5" * 26)
    # the next day is not in this day's summary
    log.visit(T0 + 86400, fail_at="2207", fail=timeout)
    path = log.write(str(tmp_path / "access.log"))

    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY)
    assert rc == 0, err
    assert rep["failed_count"] == 4 and rep["recovered"] == 1
    causes = {c["id"]: c["count"] for c in rep["by_cause"]}
    assert causes == {"unmapped_code": 2, "timeout": 1,
                      "platform_signature": 1}
    clinics = {c["clinic"]: (c["count"], c["causes"])
               for c in rep["by_clinic"]}
    assert clinics[CLINIC_A[0]] == (2, {"unmapped_code": 1, "timeout": 1})
    assert clinics[CLINIC_B[0]] == (2, {"unmapped_code": 1,
                                        "platform_signature": 1})
    unmapped_entry = next(c for c in rep["by_cause"]
                          if c["id"] == "unmapped_code")
    assert "YP9990" in unmapped_entry["details"][0]["text"]

    rc, text, err = run("--log", path, "--failed", "--day", DAY)
    assert "failed settlements on %s: 4" % DAY in text
    assert re.search(r"^\s+2  code translation: unmapped code ", text,
                     re.M), text
    assert re.search(r"^\s+1  timeout: outcome unknown ", text, re.M)
    assert re.search(r"^\s+2  %s 某村卫生室: " % CLINIC_A[0], text, re.M)
    assert "1 more visits had a failed step" in text

    rc, rep, err = run_json("--log", path, "--failed", "--day",
                            "2026-11-27")
    assert rep["failed_count"] == 1
    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY,
                            "--clinic", CLINIC_B[0])
    assert rep["failed_count"] == 2


def test_since_until_select_visits(tmp_path):
    log = Log()
    early = log.visit(T0)                       # 08:00
    late = log.visit(T0 + 4 * 3600, psn=PSN_2)  # 12:00
    path = log.write(str(tmp_path / "access.log"))
    rc, got, err = run_json("--log", path, "--since", DAY + "T11:00")
    assert [v["mdtrt_id"] for v in got["visits"]] == [late["mdtrt_id"]]
    rc, got, err = run_json("--log", path, "--until", DAY + " 09:00:00")
    assert [v["mdtrt_id"] for v in got["visits"]] == [early["mdtrt_id"]]
    # an offset is honoured: 04:00 UTC is 12:00 at +08:00
    rc, got, err = run_json("--log", path, "--since",
                            DAY + "T03:30:00+00:00")
    assert [v["mdtrt_id"] for v in got["visits"]] == [late["mdtrt_id"]]
    rc, got, err = run_json("--log", path, "--since", DAY, "--until", DAY)
    assert len(got["visits"]) == 2
    with pytest.raises(SystemExit):
        run("--log", path, "--since", "yesterday")


def test_journal_is_merged(tmp_path):
    timeout = CAUSE_CASES["timeout"][1]
    log = Log()
    a = log.visit(T0, fail_at="2207", fail=timeout)
    b = log.visit(T0 + 600, psn=PSN_2, fail_at="2207", fail=timeout)
    path = log.write(str(tmp_path / "access.log"))
    journal = tmp_path / "journal.jsonl"
    journal.write_text("\n".join([
        json.dumps({"msgid": a["lines"]["2207"]["msgid"],
                    "state": "settled", "setl_id": "3700" + "7" * 26}),
        json.dumps({"msgid": b["lines"]["2207"]["upstream_msgid"],
                    "state": "reversed"}),
        "not json"]) + "\n")
    rc, rep, err = run_json("--log", path, "--failed", "--day", DAY,
                            "--journal", str(journal))
    assert [v["mdtrt_id"] for v in rep["failed"]] == [b["mdtrt_id"]]
    assert rep["failed"][0]["resolution"] == "journal: reversed"
    assert rep["stats"]["journal_malformed"] == 1
    rc, text, err = run("--log", path, "--mdtrt-id", a["mdtrt_id"],
                        "--journal", str(journal))
    assert "journal:  state settled" in text and "SETTLED" in text


# ---------------------------------------------------------------------------
# files: rotated, gzipped, malformed
# ---------------------------------------------------------------------------

def test_rotated_and_gzipped_logs_in_time_order(tmp_path):
    log = Log()
    v = log.visit(T0, fail_at="2207", fail=CAUSE_CASES["timeout"][1])
    d = tmp_path / "logs"
    d.mkdir()
    log.write(str(d / "access.log.2.gz"), log.lines[:2])    # 9001 1101
    log.write(str(d / "access.log.1"), log.lines[2:5])      # 2201..2204
    log.write(str(d / "access.log"), log.lines[5:])         # 2206 2207
    (d / "error.log").write_text(
        "2026/11/26 08:00:14 [error] 1#1: yibao: upstream timed out\n")
    (d / "notes.txt").write_text("not a log\n")
    # a gzip cut short while it was being rotated
    whole = gzip.compress(b'{"time":"2026-11-26T07:00:00+08:00"}\n' * 50)
    (d / "access.log.3.gz").write_bytes(whole[:len(whole) // 2])

    rc, got, err = run_json("--log", str(d), "--mdtrt-id", v["mdtrt_id"])
    assert rc == 0, err
    (visit,) = got["visits"]
    assert [s["infno"] for s in visit["steps"]] == list(FLOW)
    assert visit["status"] == "unknown"
    assert got["stats"]["skipped_files"] == [str(d / "error.log")]
    assert any("access.log.3.gz" in f
               for f in got["stats"]["unreadable_files"])
    assert "access.log.3.gz" in err

    # a glob and a single gz file work too
    rc, got, err = run_json("--log", str(d / "access.log*"),
                            "--mdtrt-id", v["mdtrt_id"])
    assert len(got["visits"][0]["steps"]) == 7
    rc, got, err = run_json("--log", str(d / "access.log.2.gz"),
                            "--msgid", v["lines"]["9001"]["msgid"])
    assert [s["infno"] for s in got["visits"][0]["steps"]] == ["9001",
                                                                "1101"]


def test_malformed_lines_are_counted_never_fatal(tmp_path):
    log = Log()
    v = log.visit(T0, fail_at="2204", fail=CAUSE_CASES["unmapped_code"][1])
    good = [json.dumps(x, ensure_ascii=False).encode() for x in log.lines]
    # older lines without msec, with a string status and number infcode
    old = dict(log.lines[0], status="200", infcode=0, request_time="0.1")
    del old["msec"]
    bad = [b"garbage", b"[1, 2, 3]", b'{"time": "not a time"}',
           b'{"time":"2026-11-26T08:00:00+08:00","status":',
           b"\xff\xfe\x00{", b'"just a string"', b"{}",
           b'{"msec": "soon", "infno": "2207"}']
    path = tmp_path / "access.log"
    with open(path, "wb") as f:
        for i, line in enumerate(good):
            f.write(line + b"\n")
            f.write(bad[i] + b"\n")
        for line in bad[len(good):]:
            f.write(line + b"\n\n   \n")
        f.write(json.dumps(old).encode() + b"\n")
        f.write(b'{"time":"2026-11-26T08:00:09+08:00","infno":"2206"')

    rc, got, err = run_json("--log", str(path), "--mdtrt-id", v["mdtrt_id"])
    assert rc == 0
    assert got["stats"]["malformed"] == len(bad) + 1
    assert "malformed lines skipped" in err and "access.log:2" in err
    assert got["visits"][0]["status"] == "failed"
    rc, text, err = run("--log", str(path), "--failed", "--day", DAY)
    assert rc == 0 and "unmapped code" in text


# ---------------------------------------------------------------------------
# nothing personal, nothing secret
# ---------------------------------------------------------------------------

def test_no_personal_data_or_secret_in_any_output(tmp_path):
    secrets = demo_secrets()
    assert secrets
    hexsig = "9f" * 32
    leaks = dict(
        psn_no="37000012345678901234567890",
        platform_msg="FSI-人员%s不存在,姓名:王小明,psn_name=李四光,"
                     "psn_no=37000012345678901234567890" % ID_NUMBER,
        error_detail="certno=%s sk=%s signature=%s x" % (
            ID_NUMBER_X, secrets[0], hexsig))
    log = Log()
    v = log.visit(T0, fail_at="2207", fail=dict(leaks, infcode="-1"))
    log.visit(T0 + 60, psn=PSN_2, fail_at="1101", fail=dict(
        REFUSED, status=422, error="YB4003",
        error_detail="data.certno=%s" % ID_NUMBER))
    path = log.write(str(tmp_path / "access.log"))
    journal = tmp_path / "journal.jsonl"
    journal.write_text(json.dumps({"msgid": v["lines"]["2207"]["msgid"],
                                   "state": "failed %s" % ID_NUMBER}) + "\n")

    outputs = []
    for argv in (("--mdtrt-id", v["mdtrt_id"]),
                 ("--clinic", CLINIC_A[0]),
                 ("--failed", "--day", DAY),
                 ("--since", DAY)):
        for extra in ((), ("--json",)):
            rc, out, err = run("--log", path, "--journal", str(journal),
                               *(argv + extra))
            outputs.append(out + err)
    text = "\n".join(outputs)
    for leak in (ID_NUMBER, ID_NUMBER_X, "37000012345678901234567890",
                 "王小明", "李四光", hexsig) + tuple(secrets):
        assert leak not in text, leak
    assert "3701**********2017" in text
    assert "王*明" in text and "李*光" in text
    assert "3700******************7890" in text


def test_mask_rules():
    m = trace.mask
    assert m("人员370102195603152017不存在") == "人员3701**********2017不存在"
    assert m(ID_NUMBER_X) == "1101**********002X"
    assert m("123456789012345") == "1234*******2345"
    # msgids, mdtrt_ids and setl_ids are not ID-shaped: kept
    for ident in ("H37010200001202611261805010001",
                  "PDY60134132080312D6001202611261752545242",
                  "330000164273872766400005212141"):
        assert m(ident) == ident
    assert m("3300001642738727664000052121", free_text=True) == \
        "3300********************2121"
    assert m("sk=abc secret: def token=x") == "sk=*** secret: *** token=***"
    assert trace.mask_name("王小某") == "王*某"
    assert trace.mask_psn_no("37000012345678901234567890") == \
        "3700******************7890"
    assert trace.mask_psn_no(PSN_1) == PSN_1


# ---------------------------------------------------------------------------
# the wrapper and the dashboard
# ---------------------------------------------------------------------------

def test_wrapper_runs_with_system_python(tmp_path):
    assert os.access(TOOL, os.X_OK)
    log = Log()
    log.visit(T0, fail_at="2204", fail=CAUSE_CASES["unmapped_code"][1])
    log.write(str(tmp_path / "access.log"))
    p = subprocess.run([TOOL, "--log", str(tmp_path), "--failed", "--day",
                        DAY], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "code translation: unmapped code" in p.stdout
    p = subprocess.run([TOOL, "--help"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and "--failed" in p.stdout


METRICS = {"yibao_requests_total", "yibao_rejections_total",
           "yibao_request_duration_seconds_bucket",
           "yibao_upstream_duration_seconds_bucket",
           "yibao_platform_error_ratio",
           "yibao_platform_last_success_timestamp_seconds",
           "yibao_store_up", "yibao_mapping_rows"}


def test_grafana_dashboard_uses_only_the_gateway_metrics():
    with open(DASHBOARD, encoding="utf-8") as f:
        dash = json.load(f)
    assert dash["title"] and dash["panels"]
    exprs = []
    titles = []

    def walk(panels):
        for p in panels:
            titles.append(p.get("title", ""))
            for t in p.get("targets", []):
                exprs.append(t["expr"])
            walk(p.get("panels", []))
    walk(dash["panels"])
    assert exprs
    promql = {"sum", "by", "rate", "histogram_quantile", "time", "max",
              "min", "le", "infno", "class", "reason", "window", "backend",
              "clamp_min", "or", "vector", "increase", "topk", "without",
              "on", "ignoring", "bool", "avg", "count", "and"}
    used = set()
    for e in exprs:
        e = re.sub(r'"[^"]*"', "", e)               # label values
        e = re.sub(r"\[[^\]]*\]", "", e)            # range selectors
        for name in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
            if name.startswith("yibao_"):
                used.add(name)
                assert name in METRICS, name
            else:
                assert name in promql, (name, e)
    assert used == METRICS
    joined = " ".join(titles).lower()
    for want in ("request rate", "success ratio", "p95", "rejections",
                 "platform error ratio", "store"):
        assert want in joined, want


# ---------------------------------------------------------------------------
# end to end: real visits through nginx and the simulator
# ---------------------------------------------------------------------------

def test_end_to_end_story_and_failed_summary(make_stack):
    from test_gateway_core import SECRET, township_clinic
    from test_translate import LOCAL_FEES

    stack = make_stack(scheme="csb", read_timeout="1s")
    clinic = township_clinic(stack)

    def flow(fees=None):
        st = client.FlowState()
        steps = client.outpatient_flow(
            stack.url, CALLER, SECRET, clinic["org"], clinic["name"],
            clinic["admdvs"], fee_lines=fees, state=st)
        return steps, st

    good, good_st = flow()
    assert [s[1] for s in good] == [200] * 7, good
    unmapped, unmapped_st = flow([dict(LOCAL_FEES[0],
                                       medins_list_codg="YP9990"),
                                  LOCAL_FEES[1]])
    assert unmapped[-1][0] == "2204" and unmapped[-1][1] == 422
    sim_post(stack, "fault", {"infno": "2207", "mode": "latency",
                              "count": 1, "latency_ms": 2500})
    slow, slow_st = flow()
    # a money-moving call whose answer is lost: unknown, in the journal
    assert slow[-1][0] == "2207" and slow[-1][1] == 502, slow[-1]
    time.sleep(0.5)

    with open(stack.access_log, encoding="utf-8") as f:
        lines = [json.loads(x) for x in f if x.strip()]
    assert any(x.get("mdtrt_id") for x in lines), \
        "the access log has no mdtrt_id values: %r" % lines[-1]
    day = lines[0]["time"][:10]
    log = stack.access_log

    rc, got, err = run_json("--log", log, "--msgid",
                            good_st.msgids["2207"])
    assert rc == 0, err
    (visit,) = got["visits"]
    assert visit["status"] == "settled"
    assert visit["mdtrt_id"] == good_st.mdtrt_id
    assert visit["setl_ids"] == [good_st.setl_id]
    assert [s["infno"] for s in visit["steps"]] == list(FLOW)

    rc, text, err = run("--log", log, "--mdtrt-id", unmapped_st.mdtrt_id)
    assert "FAILED at 2204" in text and "YP9990" in text
    assert "unmapped code" in text

    rc, text, err = run("--log", log, "--msgid", slow_st.msgids["2207"])
    assert "OUTCOME UNKNOWN at 2207" in text and "YB6010" in text
    assert "5203" in text and "2601" in text

    rc, rep, err = run_json("--log", log, "--failed", "--day", day)
    assert rc == 0, err
    causes = {c["id"]: c["count"] for c in rep["by_cause"]}
    assert causes == {"unmapped_code": 1, "outcome_unknown": 1}, \
        rep["by_cause"]
    assert {v["mdtrt_id"] for v in rep["failed"]} == {
        unmapped_st.mdtrt_id, slow_st.mdtrt_id}
    assert rep["by_clinic"][0]["clinic"] == clinic["org"]

    rc, text, err = run("--log", log, "--failed", "--day", day)
    everything = text + err + json.dumps(rep, ensure_ascii=False)
    for leak in [client.DEFAULT_ID_NUMBER] + demo_secrets():
        assert leak not in everything, leak
    assert "code translation: unmapped code" in text
    assert "answer lost after sending: outcome unknown" in text


def test_transaction_log_holds_only_transactions(make_stack):
    """The transaction log (log_format yibao_tx) gets one line per
    transaction and nothing else: the status server's polls, the journal
    and cache APIs and other paths write a plain line into logs/http.log
    (its path without the query string); a request to the endpoint is a
    transaction even when it is refused, by the gateway or by nginx
    before any location (error_page 400)."""
    import urllib.error
    import urllib.request

    import yibao_hostile
    from test_gateway_core import (SECRET, envelope, ready_clinic, send,
                                   township_clinic)

    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)                            # 9001
    assert send(stack, envelope(clinic)).status == 200      # 1101
    assert send(stack, envelope(clinic), secret="x" * 32).status == 401

    body = client.encode(envelope(clinic))
    signed = list(client.signed_headers(CALLER, SECRET, "POST",
                                        harness.ENDPOINT, body).items())
    both = signed + [("Content-Length", str(len(body))),
                     ("Transfer-Encoding", "chunked")]

    def raw(path):
        req = yibao_hostile.request_bytes("POST", path, both, b"0\r\n\r\n")
        a = yibao_hostile.exchange("127.0.0.1", stack.port, [req], 10)[0]
        return a.status

    assert raw(harness.ENDPOINT) == 400             # nginx's refusal
    transactions = 4

    # what is not a transaction, polled as a status page and Prometheus
    # do, and asked by operators
    assert raw("/fsi/api/other") == 400

    def get(url, method="GET"):
        req = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    entity = township_clinic(stack)["entity"]
    others = []
    for _ in range(3):
        for path in ("/yibao/status", "/yibao/metrics",
                     "/yibao/status.html"):
            assert get(stack.status_url + path) == 200, path
            others.append(path)
    for path, method, status in (
            ("/yibao/journal?state=unknown", "GET", 200),
            ("/yibao/journal/totals?entity=%s" % entity, "GET", 200),
            ("/yibao/cache?infno=1901", "DELETE", 200),
            ("/no/such/path?q=1", "GET", 404),
            ("/", "GET", 404)):
        assert get(stack.url + path, method) == status, path

    want = sorted(["GET " + p for p in others]
                  + ["GET /yibao/journal", "GET /yibao/journal/totals",
                     "DELETE /yibao/cache", "GET /no/such/path", "GET /",
                     "POST /fsi/api/other"])

    def read(path, n):
        """The file's lines once there are n (nginx writes a line after
        it answered)."""
        deadline = time.monotonic() + 30
        while True:
            with open(path, encoding="utf-8") as f:
                got = f.read().splitlines()
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    # every request is logged once, in one of the two logs: once the
    # plain log has all of its own, the transaction log is complete
    plain = read(stack.path("logs", "http.log"), len(want))
    requests = [re.search(r'"([^"]*)"', x).group(1) for x in plain]
    assert sorted(requests) == want, plain
    lines = [json.loads(x) for x in read(stack.access_log, transactions)]
    assert sorted((x["status"], x["infno"], x["error"]) for x in lines) \
        == [(200, "1101", ""), (200, "9001", ""), (400, "", ""),
            (401, "", "YB2003")], lines
    assert not any("?" in x or "state=" in x for x in plain), plain


def test_tx_log_variable_writes_the_variables_line(make_stack):
    """$yibao_tx_log (the template's log_format yibao_tx) writes, byte
    for byte, what the log_format of the variables one by one (kept in
    the template's comment) writes, for transactions that succeed, are
    refused before and after the clinic is known, carry ids, masked
    personal data, unmapped codes, and quotes, backslashes and control
    characters that must be escaped."""
    from test_gateway_core import (SECRET, envelope, ready_clinic, send,
                                   township_clinic)

    with open(os.path.join(ROOT, "conf", "gateway.conf.template"),
              encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"#     log_format yibao_tx escape=json\n"
                  r"((?:    #         '[^']*'\n)+)", text)
    assert m, "the variables' log_format is in the template's comment"
    fmt = " ".join(re.findall(r"'[^']*'", m.group(1)))
    assert fmt.count("$") == 29, fmt

    st = make_stack(scheme="csb", start=False)
    vars_log = os.path.join(st.workdir, "logs", "vars.log")
    st.http_extra = "    log_format yibao_tx_vars escape=json %s;" % fmt
    st.location_extra = "            access_log %s yibao_tx_vars;" % vars_log
    st.start()

    clinic = ready_clinic(st)
    steps = client.outpatient_flow(st.url, CALLER, SECRET,
                                   township_clinic(st)["org"],
                                   township_clinic(st)["name"],
                                   township_clinic(st)["admdvs"])
    assert [s[1] for s in steps] == [200] * 7, steps
    assert send(st, envelope(clinic)).status == 200
    assert send(st, envelope(clinic), secret="x" * 32).status == 401
    bad = envelope(clinic, infno='1"1\\0\x01\n')
    assert send(st, bad).status == 400
    odd = envelope(clinic, inp={"data": {"psn_no": '37"\\\x1f\t',
                                         "mdtrt_cert_no": ID_NUMBER}},
                   infno="1101")
    send(st, odd)
    fee = envelope(clinic, infno="2204", inp={"feedetail": [dict(
        client.default_fee_lines()[0], medins_list_codg="YP9990")]})
    assert send(st, fee).status != 200

    tx = os.path.join(st.workdir, "logs", "access.log")

    def lines(path):
        with open(path, "rb") as f:
            return f.read().splitlines()

    got = harness.wait_until(
        "both logs to have every line",
        lambda: (lines(tx), lines(vars_log))
        if len(lines(tx)) >= 13 and len(lines(vars_log)) == len(lines(tx))
        else None)
    assert got[0] == got[1]
    for line in got[0]:
        json.loads(line)
    assert any(b'\\"' in ln for ln in got[0]), "a quote was escaped"
    assert any(b'"unmapped":"feedetail' in ln for ln in got[0])
    assert any(b'"setl_id":"' in ln and b'"setl_id":""' not in ln
               for ln in got[0])
