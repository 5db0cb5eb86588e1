"""Journal queries for operations and the reconciliation aid: by msgid, mdtrt_id, setl_id, clinic and day, the
problems of a day; the totals 3201 needs per entity, day, insutype and
clr_type, and the comparison with the platform's 3201 answer."""

import datetime
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import sim_get, sim_post, wait_until

import yibao_client as client
from test_gateway_core import CALLER, SECRET, township_clinic


def api(stack, path="/yibao/journal", **params):
    """(status, decoded JSON) of a GET on the journal API."""
    url = stack.url + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body.decode(errors="replace")


def today():
    return datetime.date.today().isoformat()


def settlements(stack):
    return sim_get(stack, "settlements")["settlements"]


def platform_totals(stack, entity):
    """What the simulator's totals() counts (refd_setl_flag 1), in cents,
    from its settlements view."""
    n = med = fund = acct = 0
    for s in settlements(stack):
        if s["fixmedins_code"] != entity or s["state"] == "reversed":
            continue
        a = {k: round(s[k] * 100) for k in ("medfee_sumamt",
                                            "fund_pay_sumamt", "acct_pay")}
        n += 1
        med += a["medfee_sumamt"]
        fund += a["fund_pay_sumamt"]
        acct += a["acct_pay"]
        r = s["refund"]
        if r and not r["reversed_by"]:
            n += 1
            med -= a["medfee_sumamt"]
            fund -= a["fund_pay_sumamt"]
            acct -= a["acct_pay"]
    return n, med, fund, acct


def money(cents):
    return "%s%d.%02d" % ("-" if cents < 0 else "", abs(cents) // 100,
                          abs(cents) % 100)


def statement(stack, clinic, st, insutype, figures, day):
    n, med, fund, acct = figures
    env = client.make_envelope("3201", {"data": {
        "insutype": insutype, "clr_type": "11",
        "setl_optins": clinic["admdvs"], "stmt_begndate": day,
        "stmt_enddate": day, "medfee_sumamt": med / 100,
        "fund_pay_sumamt": fund / 100, "acct_pay": acct / 100,
        "fixmedins_setl_cnt": n, "refd_setl_flag": "1"}},
        clinic["org"], clinic["name"], clinic["admdvs"], sign_no=st.sign_no,
        insuplc_admdvs=st.insuplc_admdvs)
    r = client.post(stack.url, CALLER, SECRET, env)
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    return env["msgid"], r.body["output"]["stmtinfo"]


def flows(stack, clinic):
    """Two visits settled (2207), the second refunded (2208)."""
    states = []
    for cancel in (False, True):
        st = client.FlowState()
        steps = client.outpatient_flow(stack.url, CALLER, SECRET,
                                       clinic["org"], clinic["name"],
                                       clinic["admdvs"], cancel=cancel,
                                       state=st)
        assert all(s[1] == 200 and s[2]["infcode"] == 0 for s in steps), \
            steps[-1]
        assert steps[-1][0] == ("2208" if cancel else "2207")
        states.append(st)
    return states


@pytest.mark.parametrize("use_redis", [False, True])
def test_queries_and_totals(make_stack, make_redis, use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    clinic = township_clinic(stack)
    entity = clinic["entity"]
    plain, refunded = flows(stack, clinic)

    # by the caller's msgid, and by the upstream msgid
    status, got = api(stack, msgid=plain.msgids["2207"])
    assert status == 200 and len(got) == 1, got
    rec = got[0]
    assert rec["infno"] == "2207" and rec["state"] == "ok"
    assert "answer" not in rec and "hash" not in rec
    assert rec["day"] == today() and rec["clinic"] == clinic["org"]
    status, again = api(stack, msgid=rec["upstream_msgid"])
    assert [x["msgid"] for x in again] == [plain.msgids["2207"]]

    # the settlement's key outputs, exact decimal text
    s = next(x for x in settlements(stack) if x["setl_id"] == plain.setl_id)
    assert rec["setl_id"] == plain.setl_id == rec["platform_setl_id"]
    assert rec["medfee_sumamt"] == money(round(s["medfee_sumamt"] * 100))
    assert rec["fund_pay_sumamt"] == money(round(s["fund_pay_sumamt"] * 100))
    assert rec["acct_pay"] == money(round(s["acct_pay"] * 100))
    assert rec["setl_time"] == s["setl_time"]
    assert rec["insutype"] and rec["clr_type"] == "11"

    # by mdtrt_id: the visit's journaled transactions, oldest first
    status, got = api(stack, mdtrt_id=refunded.mdtrt_id)
    assert status == 200
    infnos = [x["infno"] for x in got]
    assert "2207" in infnos and "2208" in infnos, infnos
    assert infnos.index("2207") < infnos.index("2208")
    assert all(x["mdtrt_id"] == refunded.mdtrt_id for x in got)

    # by setl_id: the settlement and its refund; the refund's own id too
    status, got = api(stack, setl_id=refunded.setl_id)
    assert sorted(x["infno"] for x in got) == ["2207", "2208"]
    refund = next(x for x in got if x["infno"] == "2208")
    assert refund["platform_setl_id"] != refunded.setl_id
    assert refund["medfee_sumamt"].startswith("-")
    status, got = api(stack, setl_id=refund["platform_setl_id"])
    assert [x["infno"] for x in got] == ["2208"]

    # by clinic and day
    status, got = api(stack, clinic=clinic["org"])
    assert status == 200
    assert {x["msgid"] for x in got} >= {plain.msgids["2207"],
                                         refunded.msgids["2208"]}
    status, none = api(stack, clinic=clinic["org"], day="2001-01-01")
    assert status == 200 and none == []

    # no problems today: all settlements ended ok
    assert api(stack, problems="today") == (200, [])

    # the totals 3201 needs, as the platform counts them
    n, med, fund, acct = platform_totals(stack, entity)
    assert n == 3
    status, t = api(stack, "/yibao/journal/totals", entity=entity)
    assert status == 200, t
    assert t["all"] == {"medfee_sumamt": money(med),
                        "fund_pay_sumamt": money(fund),
                        "acct_pay": money(acct), "fixmedins_setl_cnt": n}
    assert len(t["totals"]) == 1 and t["unknown"] == [] \
        and t["incomplete"] == []
    insutype = t["totals"][0]["insutype"]

    # the figures of a statement compared with the journal's
    status, t = api(stack, "/yibao/journal/totals", entity=entity,
                    insutype=insutype, clr_type="11",
                    medfee_sumamt=money(med), fund_pay_sumamt=money(fund),
                    acct_pay=money(acct), fixmedins_setl_cnt=n)
    assert t["compare"]["balanced"] is True, t["compare"]
    status, t = api(stack, "/yibao/journal/totals", entity=entity,
                    medfee_sumamt=money(med + 1), fixmedins_setl_cnt=n)
    assert t["compare"]["balanced"] is False
    assert t["compare"]["medfee_sumamt"]["diff"] == "0.01"
    assert t["compare"]["fixmedins_setl_cnt"]["diff"] == 0

    # 3201 through the gateway: the platform's verdict is recorded, and
    # the journal's totals set beside the figures the clinic declared
    good, verdict = statement(stack, clinic, plain, insutype,
                              (n, med, fund, acct), today())
    assert verdict["stmt_rslt"] == "0"
    bad, verdict = statement(stack, clinic, plain, insutype,
                             (n + 1, med, fund, acct), today())
    assert verdict["stmt_rslt"] == "1"
    status, t = api(stack, "/yibao/journal/totals", entity=entity)
    stmts = {x["msgid"]: x for x in t["statements"]}
    assert stmts[good]["stmt_rslt"] == "0"
    assert stmts[good]["journal"]["balanced"] is True
    assert stmts[bad]["stmt_rslt"] == "1"
    assert "fixmedins_setl_cnt" in stmts[bad]["stmt_rslt_dscr"]
    assert stmts[bad]["journal"]["balanced"] is False
    assert stmts[bad]["journal"]["fixmedins_setl_cnt"]["diff"] == 1

    # another day has nothing
    status, t = api(stack, "/yibao/journal/totals", entity=entity,
                    day="2001-01-01")
    assert t["all"]["fixmedins_setl_cnt"] == 0 and t["statements"] == []


@pytest.mark.parametrize("use_redis", [False, True])
def test_problems_of_the_day_and_bad_queries(make_stack, make_redis,
                                             use_redis):
    server = make_redis() if use_redis else None
    stack = make_stack(scheme="csb", redis=server)
    clinic = township_clinic(stack)
    entity = clinic["entity"]

    # a settlement whose answer is lost after the platform settled
    sim_post(stack, "fault", {"infno": "2207", "mode": "drop_after_act",
                              "count": 1})
    st = client.FlowState()
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   state=st)
    assert steps[-1][0] == "2207" and steps[-1][1] == 502
    msgid = st.msgids["2207"]

    # the record becomes unknown as the 502 goes out: with Redis, the
    # next query may reach another worker before that write has landed
    def problems():
        status, got = api(stack, problems="today")
        assert status == 200, got
        return got
    got = wait_until("the lost 2207 among the problems", problems)
    assert [x["msgid"] for x in got] == [msgid]
    assert got[0]["state"] == "unknown"
    status, got = api(stack, problems="1", clinic=clinic["org"])
    assert [x["msgid"] for x in got] == [msgid]
    assert api(stack, problems="1", clinic="H00000000000") == (200, [])

    # the totals say the day is not complete
    status, t = api(stack, "/yibao/journal/totals", entity=entity)
    assert [x["msgid"] for x in t["unknown"]] == [msgid]
    assert t["all"]["fixmedins_setl_cnt"] == 0

    # resolved as settled (what 5203 shows): no problem any more; the
    # record has no amounts, so the totals list it as incomplete
    setl_id = settlements(stack)[0]["setl_id"]
    req = urllib.request.Request(
        stack.url + "/yibao/journal?" + urllib.parse.urlencode(dict(
            caller=CALLER, msgid=msgid, state="ok", setl_id=setl_id)),
        method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["state"] == "ok"
    assert api(stack, problems="today") == (200, [])
    status, t = api(stack, "/yibao/journal/totals", entity=entity)
    assert t["unknown"] == []
    assert [x["msgid"] for x in t["incomplete"]] == [msgid]
    status, got = api(stack, setl_id=setl_id)
    assert [x["msgid"] for x in got] == [msgid]

    # refused queries say why
    for params, what in ((dict(), "name a record"),
                         (dict(mdtrt_id="a b"), "id"),
                         (dict(clinic="C1", day="2024-13"), "YYYY-MM-DD"),
                         (dict(msgid="x" * 65), "id")):
        status, body = api(stack, **params)
        assert status == 400 and what in body["error"], (params, body)
    status, body = api(stack, "/yibao/journal/totals")
    assert status == 400 and "entity" in body["error"]
    status, body = api(stack, "/yibao/journal/totals", entity=entity,
                       medfee_sumamt="1.234")
    assert status == 400 and "medfee_sumamt" in body["error"]
    status, body = api(stack, caller=CALLER, msgid="NOSUCHMSGID")
    assert status == 404
    req = urllib.request.Request(
        stack.url + "/yibao/journal?" + urllib.parse.urlencode(dict(
            caller=CALLER, msgid=msgid, state="maybe")),
        method="POST", data=b"")
    try:
        urllib.request.urlopen(req, timeout=10)
        assert False, "accepted state=maybe"
    except urllib.error.HTTPError as e:
        assert e.code == 400 and b"ok or failed" in e.read()

    # the store down: said, not an empty answer
    if use_redis:
        since = stack.error_log_size()
        server.stop()
        stack.wait_redis(since, "down")
        for params in (dict(problems="today"), dict(msgid=msgid),
                       dict(caller=CALLER, msgid=msgid)):
            status, body = api(stack, **params)
            assert status == 503 and "Redis" in body["error"], body


def test_api_refused_unless_allowed(make_stack):
    """The template lets 127.0.0.1 in only: another host is refused on
    both journal locations."""
    stack = make_stack(scheme="none")
    for path in ("/yibao/journal/totals?entity=E1",
                 "/yibao/journal?problems=today"):
        conn = http.client.HTTPConnection("127.0.0.1", stack.port,
                                          timeout=10,
                                          source_address=("127.0.0.2", 0))
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        conn.close()
        assert r.status == 403, path
    assert api(stack, "/yibao/journal/totals", entity="E1")[0] == 200


def test_psn_no_masked_in_api_output(make_stack):
    """A record that carries psn_no (kept raw in the store) is served
    with it masked."""
    stack = make_stack(scheme="none")
    clinic = township_clinic(stack)
    st = client.FlowState()
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   state=st)
    assert steps[-1][1] == 200
    status, got = api(stack, mdtrt_id=st.mdtrt_id)
    text = json.dumps(got, ensure_ascii=False)
    assert st.psn_no not in text
    # nor the patient's ID number or name (the stored answers hold them)
    assert client.DEFAULT_ID_NUMBER not in text


def test_records_kept_locally_while_redis_was_down(make_stack, make_redis):
    """Claimed in this node's zone while Redis was down: still found,
    and resolvable, once Redis is back (a money-moving transaction is
    only sent with Redis down under redis_down=local)."""
    server = make_redis()
    stack = make_stack(scheme="csb", redis=server,
                       journal="ttl=7d redis_down=local")
    clinic = township_clinic(stack)
    since = stack.error_log_size()
    server.stop()
    stack.wait_redis(since, "down")

    sim_post(stack, "fault", {"infno": "2207", "mode": "drop_after_act",
                              "count": 1})
    st = client.FlowState()
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   state=st)
    assert steps[-1][0] == "2207" and steps[-1][1] == 502
    msgid = st.msgids["2207"]

    since = stack.error_log_size()
    server.start()
    stack.wait_redis(since)
    status, got = api(stack, problems="today")
    assert status == 200, got
    assert [x["msgid"] for x in got] == [msgid]
    status, got = api(stack, mdtrt_id=st.mdtrt_id)
    assert msgid in [x["msgid"] for x in got]
    assert api(stack, caller=CALLER, msgid=msgid)[1]["state"] == "unknown"

    req = urllib.request.Request(
        stack.url + "/yibao/journal?" + urllib.parse.urlencode(dict(
            caller=CALLER, msgid=msgid, state="failed")),
        method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["state"] == "failed"
    assert api(stack, caller=CALLER, msgid=msgid)[1]["state"] == "failed"
    # failed stays a problem of the day: someone looks at it
    assert [x["msgid"] for x in api(stack, problems="today")[1]] == [msgid]
