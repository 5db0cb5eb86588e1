"""Code translation: clinics' local codes become national ones
before anything is sent; what cannot be translated is refused whole, with
every problem listed."""

import json
import os
import threading
import time

import pytest

import harness
from harness import sim_get

import yibao_client as client
from test_gateway_core import (CALLER, SECRET, assert_rejected, envelope,
                               own_clinic, ready_clinic, send, signed_in,
                               township_clinic)

LOCAL_FEES = [
    {"medins_list_codg": "ZL0001", "cnt": 1, "pric": 10.00},
    {"medins_list_codg": "YP0001", "cnt": 2, "pric": 12.60,
     "sin_dos_dscr": "0.5g", "used_frqu_dscr": "tid", "prd_days": 4,
     "medc_way_dscr": "口服"},
]


def requests_seen(stack, infno=None):
    got = sim_get(stack, "requests?n=500")
    got = got["requests"] if isinstance(got, dict) else got
    return [r["envelope"] for r in got if r.get("envelope")
            and (infno is None or r["envelope"]["infno"] == infno)]


def local_flow(stack, clinic, fee_lines=LOCAL_FEES):
    return client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                  clinic["name"], clinic["admdvs"],
                                  fee_lines=fee_lines, doctor="D001",
                                  diagnosis=("ZD0001", ""))


def test_local_codes_arrive_national(make_stack):
    stack = make_stack(scheme="zj-sm3")
    steps = local_flow(stack, township_clinic(stack))
    bad = [s for s in steps if s[1] != 200 or s[2].get("infcode") != 0]
    assert not bad, bad
    assert steps[-1][0] == "2207"

    fee = requests_seen(stack, "2204")[0]["input"]["feedetail"]
    assert [r["med_list_codg"] for r in fee] == [
        "001102000010000", "XJ01CAA040A001010102699"]
    assert [r["medins_list_codg"] for r in fee] == ["ZL0001", "YP0001"]
    for row in fee:
        assert row["bilg_dr_codg"].startswith("D")
        assert len(row["bilg_dr_codg"]) == 13
    diag = requests_seen(stack, "2203")[0]["input"]["diseinfo"][0]
    assert diag["diag_code"] != "ZD0001"
    assert diag["diag_name"]
    reg = requests_seen(stack, "2201")[0]["input"]["data"]
    assert reg["atddr_no"] != "D001"


def test_unmapped_codes_all_listed_nothing_sent(make_stack):
    stack = make_stack(scheme="csb")
    fees = [dict(LOCAL_FEES[0], medins_list_codg="YP9990"),
            LOCAL_FEES[1],
            dict(LOCAL_FEES[0], medins_list_codg="ZL9991"),
            dict(LOCAL_FEES[1], medins_list_codg="HC9992")]
    steps = local_flow(stack, township_clinic(stack), fee_lines=fees)
    infno, status, body = steps[-1]
    assert infno == "2204"
    assert_rejected(status, body, 422, 4001,
                    "feedetail[0].medins_list_codg=YP9990",
                    "feedetail[2].medins_list_codg=ZL9991",
                    "feedetail[3].medins_list_codg=HC9992")
    assert "feedetail[1]" not in body["err_msg"]
    assert requests_seen(stack, "2204") == []

    # the access log records them for the mappings tool
    time.sleep(0.2)
    lines = [json.loads(x) for x in open(stack.access_log, encoding="utf-8")]
    rejected = [x for x in lines if x["error"] == "YB4001"]
    assert rejected and "YP9990" in rejected[-1]["unmapped"]


def test_passthrough_leaves_unknown_codes_to_the_platform(make_stack):
    stack = make_stack(scheme="csb",
                       location_extra="yibao_translate_passthrough drug;")
    fees = [dict(LOCAL_FEES[1], medins_list_codg="YP9990")]
    steps = local_flow(stack, township_clinic(stack), fee_lines=fees)
    infno, status, body = steps[-1]
    assert infno == "2204" and status == 200
    # not the gateway's refusal: the platform's own
    assert body["infcode"] == -1 and body["err_msg"].startswith("FSI")
    assert requests_seen(stack, "2204")
    time.sleep(0.2)
    last = [json.loads(x) for x in open(stack.access_log,
                                        encoding="utf-8")][-1]
    assert last["infcode"] == "-1" and last["platform_msg"].startswith("FSI")
    assert last["error"] == ""


def test_fee_amount_and_id_number_checks(make_stack):
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)

    fees = [dict(LOCAL_FEES[1], det_item_fee_sumamt=25.22)]
    steps = local_flow(stack, township_clinic(stack), fee_lines=fees)
    assert_rejected(steps[-1][1], steps[-1][2], 422, 4004, "feedetail[0]")

    env = envelope(clinic, inp={"data": {
        "mdtrt_cert_type": "02", "mdtrt_cert_no": "370102195603152018",
        "card_sn": "", "begntime": "", "psn_cert_type": "01",
        "certno": "370102195603152018", "psn_name": ""}})
    r = send(stack, env)
    assert_rejected(r.status, r.body, 422, 4003)
    assert "370102195603152018" not in r.body["err_msg"]
    logs = harness.error_log_text(stack)
    assert "370102195603152018" not in logs


def test_malformed_table_fails_nginx_t(make_stack):
    stack = make_stack(start=False)
    path = stack.path("data", "mappings", "drugs.tsv")
    with open(path, "a", encoding="utf-8") as f:
        f.write("drug\t*\tYP7777\tNOTNATIONAL\t某药\n")
    lines = sum(1 for _ in open(path, encoding="utf-8"))
    rc, out = stack.test_config()
    assert rc != 0
    assert "drugs.tsv" in out and ("line %d" % lines) in out, out
    assert "NOTNATIONAL" in out


def test_reload_swaps_tables_without_failing_requests(make_stack):
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)

    def fee_with(code):
        row = {"feedetl_sn": "1", "mdtrt_id": "370000" + "0" * 24,
               "psn_no": "1", "chrg_bchno": "1", "medins_list_codg": code,
               "cnt": 1, "pric": 5.0, "det_item_fee_sumamt": 5.0,
               "fee_ocur_time": "2024-01-15 08:30:00"}
        return send(stack, envelope(clinic, infno="2204",
                                    inp={"feedetail": [row]}))

    # unknown before the reload: the gateway refuses it
    r = fee_with("YP8888")
    assert_rejected(r.status, r.body, 422, 4001, "YP8888")

    failures = []
    stop = threading.Event()

    def load():
        while not stop.is_set():
            r = send(stack, envelope(clinic))
            if r.status != 200 or r.body.get("infcode") != 0:
                failures.append((r.status, r.body))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()

    with open(stack.path("data", "mappings", "drugs.tsv"), "a",
              encoding="utf-8") as f:
        f.write("drug\t*\tYP8888\tXJ01CAA040A001010102699\t新增药品\n")
    time.sleep(0.3)
    stack.reload()
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()

    assert not failures, failures[:3]

    # after the reload the new row is used: the gateway sends it on
    # (the platform then judges the made-up visit)
    r = fee_with("YP8888")
    assert r.status == 200 and r.body["err_msg"].startswith("FSI"), r.body
    sent = requests_seen(stack, "2204")[-1]["input"]["feedetail"][0]
    assert sent["med_list_codg"] == "XJ01CAA040A001010102699"


def test_failed_reload_keeps_the_old_tables(make_stack):
    stack = make_stack(scheme="none")
    clinic = ready_clinic(stack)
    # the reload fails on purpose: its [emerg] line is expected
    stack.allowed_log = [r"\[emerg\].*drugs\.tsv\" line \d+"]

    with open(stack.path("data", "mappings", "drugs.tsv"), "a",
              encoding="utf-8") as f:
        f.write("drug\t*\tYP7777\tNOTNATIONAL\t坏行\n")
    stack.reload()
    time.sleep(1.0)

    logs = harness.error_log_text(stack)
    assert "NOTNATIONAL" in logs and "[emerg]" in logs
    assert stack.nginx.poll() is None

    # the old tables keep translating
    steps = local_flow(stack, township_clinic(stack))
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1]
    sent = requests_seen(stack, "2204")[-1]["input"]["feedetail"]
    assert sent[1]["med_list_codg"] == "XJ01CAA040A001010102699"
