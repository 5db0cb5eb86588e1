"""记账 records (yibao_offline): a visit taken while the platform is down,
authenticated and translated as online, refused when it could never
settle or is over the clinic's day, kept across a restart in the file,
chained per clinic so that a changed record is caught; the operators'
view (yibao_offline_api, tools/yibao-offline)."""

import json
import os
import subprocess
import urllib.error
import urllib.request

import harness
from harness import ROOT

import yibao_client as client
from test_gateway_core import CALLER, SECRET, assert_rejected, \
    township_clinic

TOOL = os.path.join(ROOT, "tools", "yibao-offline")
RECORD = "/yibao/offline/record"
ID_NUMBER = "370102195603152017"
NAME = "王小明"

SERVER = """
        location = %s {
            yibao_gateway on;
            yibao_offline_record on;
            yibao_translate on;
            access_log logs/access.log yibao_tx;
        }
        location = /yibao/offline { yibao_offline_api 127.0.0.1; }
        location = /yibao/offline-elsewhere {
            yibao_offline_api 10.9.9.9;
        }
""" % RECORD


def offline_stack(make_stack, count=50, amount="3000.00"):
    return make_stack(
        scheme="csb", server_extra=SERVER,
        http_extra="yibao_offline file=offline.jsonl count=%d amount=%s;"
                   % (count, amount))


def visit(clinic, cert_type="02", paid="5.00", fee_lines=None, **data):
    stamp = "2026-12-01 08:30:00"
    rows = []
    for i, line in enumerate(fee_lines or client.default_fee_lines(), 1):
        row = {"feedetl_sn": str(i), "chrg_bchno": "1", "rxno": "",
               "fee_ocur_time": stamp,
               "det_item_fee_sumamt": round(line["cnt"] * line["pric"], 2),
               "bilg_dept_codg": "A02", "bilg_dept_name": "全科医疗科",
               "bilg_dr_codg": client.DEFAULT_DOCTOR, "bilg_dr_name": "张医生",
               "hosp_appr_flag": "1"}
        row.update(line)
        rows.append(row)
    d = {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": ID_NUMBER,
         "card_sn": "", "psn_cert_type": "01", "certno": ID_NUMBER,
         "psn_name": NAME, "begntime": stamp, "ipt_otp_no": "MZ1",
         "atddr_no": client.DEFAULT_DOCTOR, "dr_name": "张医生",
         "dept_code": "A02", "dept_name": "全科医疗科", "caty": "A02"}
    d.update(data)
    inp = {"data": d,
           "mdtrtinfo": {"med_type": "11", "begntime": stamp,
                         "main_cond_dscr": "头晕", "dise_codg": "",
                         "dise_name": ""},
           "diseinfo": [{"diag_type": "1", "diag_srt_no": "1",
                         "diag_code": client.DEFAULT_DIAGNOSIS[0],
                         "diag_name": client.DEFAULT_DIAGNOSIS[1],
                         "diag_dept": "全科医疗科",
                         "dise_dor_no": client.DEFAULT_DOCTOR,
                         "dise_dor_name": "张医生", "diag_time": stamp,
                         "vali_flag": "1"}],
           "feedetail": rows,
           "offline": {"paid": paid}}
    return client.make_envelope("2201", inp, clinic["org"], clinic["name"],
                                clinic["admdvs"])


def record(stack, env, **kw):
    return client.post(stack.url, CALLER, SECRET, env, path=RECORD, **kw)


def api(stack, query="", method="GET", path="/yibao/offline"):
    req = urllib.request.Request(stack.url + path + query, method=method,
                                 data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        return e.code, json.loads(body) if body.startswith(b"{") else None


def test_records_taken_refused_limited_kept_and_checked(make_stack):
    stack = offline_stack(make_stack, count=3)
    clinic = township_clinic(stack)

    # the platform is down: the record does not need it
    stack.stop_sim()

    env = visit(clinic)
    first_msgid = env["msgid"]
    r = record(stack, env)
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    first = r.body["output"]["offline"]
    assert first["id"] == "JZ%s000001" % clinic["org"]
    assert first["state"] == "recorded" and first["seq"] == 1
    assert first["total"] == "35.20" and first["paid"] == "5.00"
    assert first["day_count"] == 1 and first["day_amount"] == "35.20"
    assert r.headers["X-Yibao-Msgid"]

    # refused now what could never settle: nothing kept
    r = record(stack, visit(clinic, cert_type="01"))
    assert_rejected(r.status, r.body, 422, 4020, "electronic certificate")
    r = record(stack, visit(clinic, cert_type="03"))
    assert_rejected(r.status, r.body, 422, 4020, "card_sn")
    r = record(stack, visit(clinic, paid="35.21"))
    assert_rejected(r.status, r.body, 422, 4020, "offline.paid")
    r = record(stack, dict(visit(clinic), infno="2207"))
    assert_rejected(r.status, r.body, 422, 4020, "infno must be 2201")
    r = record(stack, visit(clinic, begntime="2099-01-01 00:00:00"))
    assert_rejected(r.status, r.body, 422, 4020, "data.begntime")
    bad = client.default_fee_lines()
    bad[1] = dict(bad[1], medins_list_codg="YP9990", med_list_codg="")
    r = record(stack, visit(clinic, fee_lines=bad))
    assert_rejected(r.status, r.body, 422, 4001, "feedetail[1]",
                    "YP9990")
    r = record(stack, visit(clinic, mdtrt_cert_no="370102195603152018",
                            certno="370102195603152018"))
    assert_rejected(r.status, r.body, 422, 4003)
    # a caller's signature as for every call
    r = record(stack, visit(clinic), sign=False)
    assert_rejected(r.status, r.body, 401, 2001)

    # the same visit again (its msgid: the answer was lost): its record
    again = visit(clinic)
    again["msgid"] = first_msgid
    r = record(stack, again)
    assert r.status == 200, r.body
    rep = r.body["output"]["offline"]
    assert rep["repeat"] is True and rep["id"] == first["id"]
    assert rep["seq"] == 1 and rep["day_count"] == 1
    assert first["repeat"] is False

    # the msgid of the first with another visit (another patient, another
    # amount paid): refused, not taken for the first record
    for other in (visit(clinic, mdtrt_cert_no="110101199003074514",
                        certno="110101199003074514"),
                  visit(clinic, paid="6.00")):
        other["msgid"] = first_msgid
        r = record(stack, other)
        assert_rejected(r.status, r.body, 409, 1013, first_msgid,
                        "another visit", first["id"])

    # the clinic's day: count=3
    for seq in (2, 3):
        r = record(stack, visit(clinic))
        assert r.status == 200, r.body
        assert r.body["output"]["offline"]["seq"] == seq
    r = record(stack, visit(clinic))
    assert_rejected(r.status, r.body, 429, 3102, "3 记账 records",
                    "limit (3 records")

    status, got = api(stack, "?clinic=" + clinic["org"])
    assert status == 200
    recs = got["records"]
    assert [x["seq"] for x in recs] == [1, 2, 3]
    assert all(x["verified"] and x["state"] == "recorded" for x in recs)
    assert api(stack, "?id=" + first["id"])[1]["hash"] == first["hash"]
    status, got = api(stack, "?id=")
    assert status == 400 and "records" not in got, got

    # kept in the file (written by a worker within a second)
    path = stack.path("offline.jsonl")
    harness.wait_until("3 records in the file", lambda: os.path.exists(
        path) and len(open(path, encoding="utf-8").read().splitlines()) == 3)
    text = open(path, encoding="utf-8").read()
    assert NAME not in text and "psn_name" not in text
    assert "XJ01CAA040A001010102699" in text      # translated
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"

    # personal data never in the logs
    logs = harness.error_log_text(stack) + open(
        stack.access_log, encoding="utf-8").read()
    assert ID_NUMBER not in logs and NAME not in logs
    assert "yibao: offline record %s of clinic %s: recorded (seq 1" % (
        first["id"], clinic["org"]) in logs
    lines = [json.loads(x) for x in open(stack.access_log,
                                         encoding="utf-8")]
    assert first["id"] in [x["mdtrt_id"] for x in lines]
    trace = subprocess.run(
        ["/usr/bin/python3", os.path.join(ROOT, "tools", "yibao_trace.py"),
         "--log", stack.access_log, "--mdtrt-id", first["id"]],
        capture_output=True, text=True, timeout=60)
    assert trace.returncode == 0, trace.stderr
    assert first["id"] in trace.stdout and ID_NUMBER not in trace.stdout

    # a restart: the records and the day's count are still there
    stack.stop()
    stack.start()
    recs = api(stack, "?clinic=" + clinic["org"])[1]["records"]
    assert [x["seq"] for x in recs] == [1, 2, 3]
    assert all(x["verified"] for x in recs)
    r = record(stack, visit(clinic))
    assert_rejected(r.status, r.body, 429, 3102)
    again = visit(clinic)
    again["msgid"] = first_msgid
    r = record(stack, again)
    assert r.status == 200 and r.body["output"]["offline"]["repeat"], r.body

    # a record changed in the file is caught when it is read
    stack.stop()
    lines = open(path, encoding="utf-8").read().split("\n")
    two = next(i for i, x in enumerate(lines) if '"seq":2' in x)
    assert '"paid":"5.00"' in lines[two]
    lines[two] = lines[two].replace('"paid":"5.00"', '"paid":"0.50"')
    open(path, "w", encoding="utf-8").write("\n".join(lines))
    stack.start()
    recs = api(stack, "?clinic=" + clinic["org"])[1]["records"]
    assert [x["verified"] for x in recs] == [True, False, True]
    assert "changed after it was taken" in recs[1]["problem"]
    assert "fail their check" in harness.error_log_text(stack)

    # the CLI: the tampered record fails (exit 4), the list says so
    rc, out, err = cli(stack, "records", "--clinic", clinic["org"])
    assert rc == 0, err
    assert out.count("recorded") == 3 and "NO" in out
    rc, out, _ = cli(stack, "show", recs[1]["id"])
    assert rc == 4 and "changed after it was taken" in out
    rc, out, _ = cli(stack, "export")
    assert rc == 0 and out.splitlines()[0].startswith("id,clinic,seq")
    assert len(out.splitlines()) == 4
    rc, _, err = cli(stack, "show", "JZ" + "X" * 22 + "000009")
    assert rc == 1, err
    rc, _, err = cli(stack, "show", "JZ" + "X" * 28)
    assert rc == 2 and "not a record's id" in err, err
    for command in ("show", "void"):
        rc, out, err = cli(stack, command, "")
        assert rc == 2 and "needs a record's id" in err, (out, err)

    # no personal data in the operators' answers, API and CLI
    seen = json.dumps([api(stack, q)[1] for q in (
        "", "?clinic=" + clinic["org"], "?id=" + first["id"],
        "?summary=1")], ensure_ascii=False)
    for args in (("records",), ("show", first["id"]), ("export",),
                 ("summary",)):
        seen += "".join(cli(stack, *args)[1:])
    assert first["id"] in seen and clinic["entity"] in seen
    for personal in (ID_NUMBER, ID_NUMBER[-8:], NAME, "certno"):
        assert personal not in seen, personal

    # an operator voids a record; only once
    rc, out, err = cli(stack, "void", first["id"])
    assert rc == 0 and "voided" in out, err
    status, got = api(stack, "?id=" + first["id"])
    assert status == 200 and got["state"] == "voided" and got["verified"]
    status, got = api(stack, "?id=%s&state=voided" % first["id"], "POST")
    assert status == 409
    rc, out, err = cli(stack, "void", first["id"])
    assert rc == 2 and "cannot be voided" in err, (rc, out, err)

    # per township hospital: the records by state
    status, got = api(stack, "?summary=1")
    assert status == 200
    assert got["entities"] == [{
        "entity": clinic["entity"], "recorded": 2, "waiting": 0,
        "replaying": 0, "pending": 0, "settling": 0, "settled": 0,
        "rejected": 0, "voided": 1, "unverified": 1,
        "open_amount": "70.40"}]
    rc, out, err = cli(stack, "summary")
    assert rc == 0 and clinic["entity"] in out and "70.40" in out, err
    assert "recorded -> voided (by the operator)" in \
        harness.error_log_text(stack)


def cli(stack, *args):
    p = subprocess.run([TOOL, "--records-url", stack.url + "/yibao/offline"]
                       + list(args), capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def test_operators_api_refusals(make_stack):
    stack = offline_stack(make_stack)
    assert api(stack, path="/yibao/offline-elsewhere")[0] == 403
    assert api(stack, "?id=JZ%s000009" % ("X" * 22))[0] == 404
    assert api(stack, "?state=voided", "POST")[0] == 400
    # the parameter named before the record is looked for
    for query in ("?id=JZ%s000009&state=bogus" % ("X" * 22),
                  "?id=JZ%s000009" % ("X" * 22)):
        status, got = api(stack, query, "POST")
        assert status == 400 and "state=voided" in got["error"], query
    assert api(stack, "", "DELETE")[0] == 405
    # one error writer for the operators' APIs: one newline at the end
    try:
        urllib.request.urlopen(stack.url + "/yibao/offline?id=", timeout=20)
        assert False, "?id= was answered"
    except urllib.error.HTTPError as e:
        assert e.read() == (b'{"error":"id= is empty or not a record\'s '
                            b'id: JZ, the clinic\'s 22-character code and '
                            b'the record\'s number (6 to 20 digits)"}\n')
    # an empty or malformed id or clinic is not "every record"
    for query in ("?id=", "?id=&clinic=", "?id=JZ", "?id=JZ%s00001" % (
            "X" * 22), "?id=jz%s000001" % ("X" * 22), "?id=%s000001" % (
            "X" * 24), "?summary=1&id="):
        status, got = api(stack, query)
        assert status == 400 and "id= is empty or not a record's id" in \
            got["error"], (query, status, got)
    for query in ("?clinic=", "?clinic=X", "?clinic=%s" % ("x" * 22)):
        status, got = api(stack, query)
        assert status == 400 and "clinic= is empty or not" in \
            got["error"], (query, status, got)
    status, got = api(stack)
    assert status == 200 and got == {"records": []}


def test_amount_limit_and_no_yibao_offline(make_stack):
    stack = offline_stack(make_stack, amount="50.00")
    clinic = township_clinic(stack)
    r = record(stack, visit(clinic))
    assert r.status == 200, r.body
    r = record(stack, visit(clinic))
    assert_rejected(r.status, r.body, 429, 3102, "50.00 yuan a day")

    other = make_stack(scheme="csb", server_extra=SERVER)
    r = record(other, visit(township_clinic(other)))
    assert_rejected(r.status, r.body, 422, 4020, "yibao_offline is not")


def opening(pid):
    """True when a thread of process pid waits in openat (x86-64's 257):
    the records' writer held by a FIFO that nobody reads."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                if f.read().split()[0] == "257":
                    return True
        except OSError:
            continue
    return False


def test_records_written_off_the_event_loop(make_stack):
    # the temporary file is a FIFO without a reader: opening it blocks
    # until one comes.  The worker that writes the records must answer
    # meanwhile: the writing is done by a thread, not its event loop
    # (before, the worker hung in open() and this request timed out).
    stack = make_stack(
        start=False, workers=1, scheme="csb", server_extra=SERVER,
        http_extra="yibao_offline file=offline.jsonl;")
    fifo = stack.path("offline.jsonl.tmp")
    os.mkfifo(fifo)
    stack.start()
    worker = stack.serving_pids()[0]
    harness.wait_until("the records' writer to open the FIFO",
                       lambda: opening(worker))

    status, got = api(stack)
    assert status == 200 and got == {"records": []}

    # a reader: the write goes on, the FIFO is renamed over the file
    with open(fifo, "rb") as f:
        assert f.read() == b""
    harness.wait_until("the FIFO renamed over the file",
                       lambda: not os.path.exists(fifo))


def test_records_by_state_in_status_metrics_and_page(make_stack, tmp_path):
    import re
    import urllib.request
    from test_status import METRICS, PAGE, STATUS
    from test_status_page import CHROMIUM, chromium

    stack = offline_stack(make_stack)
    clinic = township_clinic(stack)

    def get(path):
        with urllib.request.urlopen(stack.status_url + path,
                                    timeout=60) as r:
            return r.read().decode("utf-8")

    def records_metric(text):
        return {m.group(1): int(m.group(2)) for m in re.finditer(
            r'^yibao_offline_records\{state="(\w+)"\} (\d+)$', text, re.M)}

    got = json.loads(get(STATUS))["offline"]
    assert got["entities"] == 0 and got["by_entity"] == []
    assert set(got["states"].values()) == {0}
    assert got["oldest_open"] is None

    stack.stop_sim()
    ids = []
    for _ in range(4):
        r = record(stack, visit(clinic))
        assert r.status == 200, r.body
        ids.append(r.body["output"]["offline"]["id"])
    assert api(stack, "?id=%s&state=voided" % ids[0], "POST")[0] == 200

    # the replay's states, as its driver leaves them (the state is
    # outside the record's hash: the records still pass their check)
    path = stack.path("offline.jsonl")
    harness.wait_until("4 records in the file, one voided", lambda: (
        os.path.exists(path) and open(path, encoding="utf-8").read()
        .count('"state":"') == 4 and '"state":"voided"' in
        open(path, encoding="utf-8").read()))
    stack.stop()
    lines = [json.loads(x) for x in open(path, encoding="utf-8")
             if x.strip()]
    recorded_ms = {}
    for rec in lines:
        recorded_ms[rec["body"]["id"]] = rec["body"]["recorded_ms"]
        if rec["body"]["id"] == ids[1]:
            rec["state"] = "waiting"
        elif rec["body"]["id"] == ids[2]:
            rec["state"] = "settled"
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(x, ensure_ascii=False, sort_keys=True,
                                separators=(",", ":")) + "\n"
                     for x in lines)
    stack.start()

    want = {"recorded": 1, "waiting": 1, "replaying": 0, "pending": 0,
            "settling": 0, "settled": 1, "rejected": 0, "voided": 1}
    status_text = get(STATUS)
    got = json.loads(status_text)["offline"]
    assert got["states"] == want, got
    assert got["unverified"] == 0 and got["entities"] == 1
    # the oldest record still to be settled: the waiting one (the first
    # is voided)
    oldest = recorded_ms[ids[1]] // 1000
    assert got["oldest_open"] == oldest
    assert got["by_entity"] == [{
        "entity": clinic["entity"], "states": want, "unverified": 0,
        "oldest_open": oldest}]

    metrics = get(METRICS)
    assert records_metric(metrics) == want, metrics
    assert "yibao_offline_unverified_records 0\n" in metrics
    assert "yibao_offline_oldest_open_timestamp_seconds %d\n" % oldest \
        in metrics
    page = get(PAGE)
    for text in (status_text, metrics, page):
        for personal in (ID_NUMBER, ID_NUMBER[-8:], NAME):
            assert personal not in text, personal

    # the page draws them per township hospital (when a browser is there)
    if os.path.exists(CHROMIUM):
        dom = chromium(tmp_path, stack.status_url + PAGE, "--dump-dom")
        row = re.search(r'<tr data-entity="%s">(.*?)</tr>'
                        % clinic["entity"], dom, re.S)
        assert row, dom[-3000:]
        cells = re.findall(r'<td[^>]*>([^<]*)</td>', row.group(1))
        assert cells[:10] == [clinic["entity"], "1", "1", "0", "0", "0",
                              "1", "0", "1", "0"], cells
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", cells[10])
