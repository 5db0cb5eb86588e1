"""The embedded store's journal index: a query of the zone reads the
records under its index key only (its msgid, mdtrt_id, setl_id, clinic
and day, entity and day, the day's problems, the unknown set), a batch
per hold of the zone's lock, never the whole zone; index entries go
with their records.

What a query read is in its X-Yibao-Journal-Zone header ("examined=N
holds=H hold_max=K": the index entries read, the holds of the lock, the
most read in one hold).  The assertions are on those counts, never on
time: the transactions' latency while queries run is measured by
`make bench` (tests/bench/journal_queries.py)."""

import json
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from harness import sim_post

import yibao_client as client
from test_gateway_core import CALLER, SECRET, registry, township_clinic

# the most records a query reads per hold of the lock (module/
# ngx_http_yibao_shm.c, NGX_HTTP_YIBAO_HOLD_RECORDS)
HOLD_RECORDS = 64


def query(stack, path="/yibao/journal", **params):
    """(decoded answer, {examined, holds, hold_max}) of a journal query."""
    url = stack.url + path + "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=60) as r:
        assert r.status == 200
        body = json.loads(r.read())
        cost = r.headers.get("X-Yibao-Journal-Zone")
    assert cost, "no X-Yibao-Journal-Zone header: %r" % params
    return body, {k: int(v) for k, v in
                  (kv.split("=") for kv in cost.split())}


def sign_ins(stack, clinic, n, threads=4):
    """n journaled transactions (9001) of the clinic; their msgids."""
    msgids, failures = [], []
    lock = threading.Lock()

    def work(count):
        for _ in range(count):
            env = client.make_envelope(
                "9001", {"signIn": {"opter_no": "001",
                                    "mac": "00-1A-2B-3C-4D-5E",
                                    "ip": "10.0.0.8"}},
                clinic["org"], clinic["name"], clinic["admdvs"])
            r = client.post(stack.url, CALLER, SECRET, env, timeout=60)
            with lock:
                if r.status == 200 and r.body["infcode"] == 0:
                    msgids.append(env["msgid"])
                else:
                    failures.append((r.status, r.body))

    ts = [threading.Thread(target=work,
                           args=(n // threads + (i < n % threads),))
          for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not failures, failures[:3]
    assert len(msgids) == n
    return msgids


def journaled(stack, msgids):
    """Those of msgids that have a journal record (the transaction
    classes decide which are journaled)."""
    out = []
    for m in msgids:
        url = stack.url + "/yibao/journal?" + urllib.parse.urlencode(
            dict(caller=CALLER, msgid=m))
        try:
            with urllib.request.urlopen(url, timeout=60):
                out.append(m)
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code
    return out


def another_clinic(stack, clinic):
    return next(c for c in registry(stack)
                if c["mode"] == "township" and c["org"] != clinic["org"])


def test_queries_read_only_their_records(make_stack):
    """Hundreds of records of one clinic and one visit of another, whose
    settlement's answer was lost: each query reads as many index entries
    as it has records to answer, not the zone; a query of many records
    holds the lock for at most HOLD_RECORDS of them at a time.  (Before
    the index, every query scanned the whole zone under one hold of its
    lock.)"""
    stack = make_stack(scheme="csb", limits=())
    busy = township_clinic(stack)
    other = another_clinic(stack, busy)

    n = 400
    sign_ins(stack, busy, n)

    sim_post(stack, "fault", {"infno": "2207", "mode": "drop_after_act",
                              "count": 1})
    st = client.FlowState()
    steps = client.outpatient_flow(stack.url, CALLER, SECRET, other["org"],
                                   other["name"], other["admdvs"], state=st)
    assert steps[-1][0] == "2207" and steps[-1][1] == 502, steps[-1]
    settle = st.msgids["2207"]
    visit = journaled(stack, st.msgids.values())
    assert settle in visit and len(visit) >= 3, visit

    # a miss reads nothing
    got, cost = query(stack, setl_id="NOSUCHSETTLEMENT")
    assert got == [] and cost == dict(examined=0, holds=1, hold_max=0)

    # one record by its msgid, by the platform's msgid too
    got, cost = query(stack, msgid=settle)
    assert [x["msgid"] for x in got] == [settle]
    assert cost["examined"] == 1 and cost["holds"] == 1
    got, cost = query(stack, msgid=got[0]["upstream_msgid"])
    assert [x["msgid"] for x in got] == [settle] and cost["examined"] == 1

    # the visit's records, the other clinic's day
    got, cost = query(stack, mdtrt_id=st.mdtrt_id)
    assert settle in [x["msgid"] for x in got]
    assert cost["examined"] == len(got) <= len(visit)
    got, cost = query(stack, clinic=other["org"])
    assert sorted(x["msgid"] for x in got) == sorted(visit)
    assert cost["examined"] == len(visit)

    # the day's problems, the unknown outcomes: the lost settlement only
    for params in (dict(problems="today"), dict(state="unknown")):
        got, cost = query(stack, **params)
        assert [x["msgid"] for x in got] == [settle], params
        assert cost["examined"] == 1, (params, cost)

    # the entity's totals read its settlements, not its clinics' day
    got, cost = query(stack, "/yibao/journal/totals",
                      entity=other["entity"])
    assert [x["msgid"] for x in got["unknown"]] == [settle]
    assert cost["examined"] == 1

    # the busy clinic's day: all of it, a bounded batch per hold
    got, cost = query(stack, clinic=busy["org"])
    assert len(got) == n and cost["examined"] == n
    assert cost["hold_max"] == HOLD_RECORDS
    assert cost["holds"] >= math.ceil(n / HOLD_RECORDS)


def test_queries_while_transactions_run(make_stack):
    """Queries that read hundreds of records, back to back, while other
    clinics' visits are settled and their records written and rewritten:
    every visit settles, every query answers every record it should,
    once (a query resumes after the last record it read, whatever the
    writes between two holds of the lock changed in the index)."""
    stack = make_stack(scheme="csb", limits=())
    busy = township_clinic(stack)
    others = [c for c in registry(stack)
              if c["org"] != busy["org"] and c["mode"] == "township"]
    assert others

    n = 300
    sign_ins(stack, busy, n)

    stop = threading.Event()
    answers, problems = [], []

    def queries():
        while not stop.is_set():
            try:
                got, cost = query(stack, clinic=busy["org"])
                answers.append((len(got), len({x["msgid"] for x in got}),
                                cost))
                got, cost = query(stack, problems="today")
                if got:
                    problems.append(got)
            except (OSError, urllib.error.URLError) as e:
                problems.append(repr(e))

    flows = []

    def visits(clinic):
        for _ in range(3):
            st = client.FlowState()
            steps = client.outpatient_flow(stack.url, CALLER, SECRET,
                                           clinic["org"], clinic["name"],
                                           clinic["admdvs"], state=st,
                                           timeout=60)
            flows.append((clinic["org"], st, steps))

    q = threading.Thread(target=queries)
    q.start()
    ts = [threading.Thread(target=visits, args=(c,)) for c in others[:3]]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    # and a few queries after the last write
    deadline = time.monotonic() + 60
    count = len(answers)
    while len(answers) < count + 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    q.join()

    assert not problems, problems[:3]
    assert len(answers) >= 2
    for total, unique, cost in answers:
        assert total == unique == n, (total, unique, cost)
        assert cost["examined"] == n and cost["hold_max"] <= HOLD_RECORDS

    assert len(flows) == 3 * len(ts)
    for org, st, steps in flows:
        assert all(s[1] == 200 and s[2]["infcode"] == 0 for s in steps), \
            steps[-1]
        got, cost = query(stack, setl_id=st.setl_id)
        assert [x["msgid"] for x in got] == [st.msgids["2207"]]
        assert got[0]["state"] == "ok" and cost["examined"] == 1

    for clinic in others[:3]:
        got, cost = query(stack, clinic=clinic["org"])
        assert len(got) == cost["examined"]
        assert sorted(x["msgid"] for x in got) == sorted(
            m for org, st, _ in flows if org == clinic["org"]
            for m in journaled(stack, st.msgids.values()))


def test_index_entries_go_with_their_records(make_stack):
    """A small zone and a short journal ttl: many more records, over
    several ttls, than the zone holds at once are all accepted (a record
    and its index entries are one allocation, freed together when the
    record expires: none is left behind to fill the zone), and a query
    reads no more index entries than the zone can hold records."""
    stack = make_stack(scheme="csb", limits=(), zone="128k",
                       journal="ttl=2s",
                       location_extra="yibao_auth_window 1s;")
    busy = township_clinic(stack)

    # the 128k zone holds 40 to 60 live records with their nonces: a
    # round of 25 leaves room for the slab's fragmentation and for a
    # round that overlaps the last records of the one before it
    rounds, per_round = 8, 25
    for _ in range(rounds):
        sign_ins(stack, busy, per_round)
        got, cost = query(stack, clinic=busy["org"])
        assert len(got) <= cost["examined"]
        time.sleep(2.5)     # the ttl: this round's records expire

    # all expired: none answered; what the index still holds (expired
    # records not freed yet) is what the zone holds, not all that came
    got, cost = query(stack, clinic=busy["org"])
    assert got == []
    assert cost["examined"] < (rounds - 1) * per_round
