"""A journal that forgets is noticed: three visits settled, Redis killed
and started again, the same three 2207s resent (same msgid, a fresh
nonce).  With persistence (AOF) the records survived and the repeats are
replays.  Without it (as Redis starts with no AOF and no RDB snapshots)
the gateway notices that the store lost its records (the marker it
keeps in Redis is gone), says so (error log, status, metrics), and until
the journal's ttl has passed checks every money-moving msgid it does not
know with the platform (5203) before sending it: the settled visits are
answered as resolved, never settled a second time."""

import json
import re
import time
import urllib.error
import urllib.request

import pytest
import redis as redis_client

import harness
from harness import sim_get, sim_post

import yibao_client as client
from test_gateway_core import CALLER, SECRET, assert_rejected, \
    township_clinic
from test_journal import flow_until, journal, sent


def node(make_stack, server, platform_port=None, zone="16m node=0/2",
         upstream=None, **kw):
    """A gateway on Redis, in front of its simulator on platform_port or
    of upstream (another node's simulator); yibao_platform is that
    platform (the 5203 check before a forgotten money-moving msgid), none
    without platform_port."""
    if not platform_port:
        kw.update(platform=None, resolve="off")
    # generous timeouts: a loaded machine must not open the circuit
    stack = make_stack(scheme="zj-sm3", redis=server, zone=zone,
                       sim_port=None if upstream else platform_port,
                       upstream=upstream,
                       redis_options="timeout=3s connect_timeout=5s", **kw)
    return stack


def status(stack):
    with urllib.request.urlopen(stack.status_url + "/yibao/status",
                                timeout=10) as r:
        return json.loads(r.read())


def metrics(stack):
    with urllib.request.urlopen(stack.status_url + "/yibao/metrics",
                                timeout=10) as r:
        return r.read().decode()


def metric(text, name, labels=""):
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)),
                  text, re.M)
    assert m, "no %s%s in the metrics" % (name, labels)
    return float(m.group(1))


def settle_three(stack):
    """Three outpatient visits settled; [(2207 envelope, its answer)],
    once the journal has recorded them (the completion is written after
    the answer, without waiting)."""
    done = []
    for _ in range(3):
        steps, envs = flow_until(stack, township_clinic(stack))
        infno, code, body = steps[-1]
        assert (infno, code, body["infcode"]) == ("2207", 200, 0), steps[-1]
        done.append((envs["2207"], body))
    for env, _ in done:
        wait_record(stack, env["msgid"], "ok")
    return done


def wait_record(stack, msgid, state, timeout=harness.HANG_GUARD):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if journal(stack, caller=CALLER, msgid=msgid)["state"] == state:
                return
        except urllib.error.HTTPError as e:
            assert e.code == 503, e
        assert time.monotonic() < deadline, "record never %s" % state
        time.sleep(0.05)


def restart_redis(server, stacks):
    """SIGKILL and start again on the same port and folder: what was not
    persisted is gone.  Waits until every node is back on Redis."""
    since = [s.error_log_size() for s in stacks]
    server.kill()
    server.start()
    for s, offset in zip(stacks, since):
        s.wait_redis(offset)


def platform_view(sim_stack, settled):
    view = sim_get(sim_stack, "settlements")
    for _, answer in settled:
        setl = answer["output"]["setlinfo"]
        assert view["settle_count"][setl["mdtrt_id"]] == 1, view
    assert view["resettle_attempts"] == {}, \
        "the platform was asked to settle a visit again: %s" \
        % view["resettle_attempts"]
    return view


def test_with_aof_the_repeats_are_replays(make_stack, make_redis):
    server = make_redis(persist="aof")
    stack = node(make_stack, server, platform_port=harness.free_port())
    settled = settle_three(stack)

    restart_redis(server, [stack])

    for env, answer in settled:
        r = client.post(stack.url, CALLER, SECRET, env)
        assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1", \
            (r.status, r.headers, r.body)
        assert "X-Yibao-Resolved" not in r.headers
        assert r.body == answer

    assert len(sent(stack, "2207")) == 3
    assert sent(stack, "5203") == []
    platform_view(stack, settled)

    doc = status(stack)["journal"]
    assert doc["durable"] is True, doc
    assert doc["forgotten_at"] is None and doc["checked_until"] is None, doc
    text = metrics(stack)
    assert metric(text, "yibao_journal_forgotten") == 0
    assert metric(text, "yibao_journal_store_durable") == 1
    log = harness.error_log_text(stack)
    assert "lost the journal" not in log
    assert re.search(r"\[notice\].*redis \S+ restarted \(run_id "
                     r"[0-9a-f]{8}\S* -> [0-9a-f]{8}\S*\): the journal's "
                     r"marker is there", log), log[-3000:]


def test_without_persistence_the_loss_is_noticed_and_repeats_resolved(
        make_stack, make_redis):
    server = make_redis()
    port = harness.free_port()
    a = node(make_stack, server, platform_port=port)
    b = node(make_stack, server, platform_port=port, zone="16m node=1/2",
             upstream="127.0.0.1:%d" % port)
    settled = settle_three(a)
    platform_ids = {s["mdtrt_id"]: s["msgid"]
                    for s in sim_get(a, "settlements")["settlements"]}

    log = harness.error_log_text(a)
    assert re.search(r"\[warn\].*redis \S+ run_id [0-9a-f]+: appendonly "
                     r"no, RDB snapshots off.*: it does not persist the "
                     r"journal", log), log

    restart_redis(server, [a, b])

    # the same three 2207s, one at the node that sent them, two at the
    # other node: none is settled again
    for i, (env, answer) in enumerate(settled):
        setl = answer["output"]["setlinfo"]
        r = client.post((a if i == 0 else b).url, CALLER, SECRET, env)
        assert r.status == 200, r.body
        assert r.headers.get("X-Yibao-Replay") == "1", (r.headers, r.body)
        assert r.headers.get("X-Yibao-Resolved") == "gateway:5203"
        got = r.body["output"]["setlinfo"]
        assert got["setl_id"] == setl["setl_id"]
        assert got["mdtrt_id"] == setl["mdtrt_id"]
        assert float(got["medfee_sumamt"]) == float(setl["medfee_sumamt"])
        # named by the msgid the platform received for it
        assert r.headers.get("X-Yibao-Upstream-Msgid") == \
            platform_ids[setl["mdtrt_id"]]

        rec = journal(a, caller=CALLER, msgid=env["msgid"])
        assert rec["state"] == "ok" and rec["resolved_by"] == "gateway:5203"
        assert rec["setl_id"] == setl["setl_id"]
        assert rec["upstream_msgid"] == platform_ids[setl["mdtrt_id"]]

    assert len(sent(a, "2207")) == 3
    queries = sent(a, "5203")
    assert sorted(q["envelope"]["input"]["data"]["mdtrt_id"]
                  for q in queries) == \
        sorted(b["output"]["setlinfo"]["mdtrt_id"] for _, b in settled)
    platform_view(a, settled)

    # now recorded: a further repeat is a replay without a query
    again = client.post(b.url, CALLER, SECRET, settled[2][0])
    assert again.status == 200 and again.headers["X-Yibao-Replay"] == "1"
    assert len(sent(a, "5203")) == 3

    # said loudly, at both nodes, and at a node started afterwards
    c = node(make_stack, server, platform_port=port, zone="16m node=1/2",
             upstream="127.0.0.1:%d" % port)
    for s in (a, b, c):
        doc = status(s)["journal"]
        assert doc["durable"] is False, doc
        assert doc["forgotten_at"] is not None, doc
        # until the records it cannot vouch for have expired (ttl 7d)
        assert doc["checked_until"] - doc["forgotten_at"] == 7 * 86400, doc
        text = metrics(s)
        assert metric(text, "yibao_journal_forgotten") == 1
        assert metric(text, "yibao_journal_store_durable") == 0
        assert metric(text, "yibao_journal_checked_until_timestamp_seconds") \
            == doc["checked_until"]
    assert metric(metrics(a), "yibao_journal_checks_total",
                  '{result="settled"}') + \
        metric(metrics(b), "yibao_journal_checks_total",
               '{result="settled"}') == 3
    assert metric(metrics(a), "yibao_journal_store_losses_total") + \
        metric(metrics(b), "yibao_journal_store_losses_total") >= 1
    for s in (a, b):
        assert re.search(r"\[error\].*redis \S+ lost the journal's records",
                         harness.error_log_text(s))
    assert re.search(r"\[notice\].*msgid %s .*not sent: .*5203.*settled"
                     % settled[1][0]["msgid"], harness.error_log_text(b))


def test_forgotten_msgid_not_settled_is_sent_once(make_stack, make_redis):
    """A 2207 the platform never saw, after the loss: the 5203 finds no
    settlement of the visit, and it is sent (once)."""
    server = make_redis()
    stack = node(make_stack, server, platform_port=harness.free_port())
    st = client.FlowState()
    sim_post(stack, "fault", {"infno": "2207", "mode": "drop_before_act",
                              "count": 1})
    steps, envs = flow_until(stack, township_clinic(stack), state=st)
    assert steps[-1][0] == "2207" and steps[-1][1] == 502, steps[-1]
    seq = sim_get(stack, "requests?n=1")["requests"][-1]["seq"]

    restart_redis(server, [stack])

    # the platform down meanwhile: nothing is sent, nothing recorded
    sim_post(stack, "fault", {"infno": "5203", "mode": "http_500",
                              "count": 1})
    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert_rejected(r.status, r.body, 503, 5102, "5203", "not sent")
    assert r.headers.get("Retry-After")
    assert sent(stack, "2207") == []

    r = client.post(stack.url, CALLER, SECRET, envs["2207"])
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert "X-Yibao-Replay" not in r.headers
    got = sim_get(stack, "requests?n=50&after=%d" % seq)["requests"]
    order = [x["envelope"]["infno"] for x in got if x.get("envelope")]
    assert order == ["5203", "5203", "2207"], order
    view = sim_get(stack, "settlements")
    assert view["settle_count"] == {st.mdtrt_id: 1}
    assert view["resettle_attempts"] == {}
    assert journal(stack, caller=CALLER, msgid=envs["2207"]["msgid"])[
        "state"] == "ok"
    text = metrics(stack)
    assert metric(text, "yibao_journal_checks_total",
                  '{result="not_settled"}') == 1
    assert metric(text, "yibao_journal_checks_total",
                  '{result="failed"}') == 1


def test_without_a_platform_client_repeats_are_refused(make_stack,
                                                       make_redis):
    """No yibao_platform to ask: a money-moving msgid the journal does
    not know is refused until the window has passed (or an operator
    ends it), never sent."""
    server = make_redis()
    stack = node(make_stack, server)
    settled = settle_three(stack)

    restart_redis(server, [stack])

    for env, _ in settled:
        r = client.post(stack.url, CALLER, SECRET, env)
        assert_rejected(r.status, r.body, 503, 5102, "lost its records",
                        "yibao_platform", "not sent")
    assert len(sent(stack, "2207")) == 3
    platform_view(stack, settled)
    # what does not move money goes on
    steps, _ = flow_until(stack, township_clinic(stack))
    assert [s[:2] for s in steps[:-1]] == [(i, 200) for i in (
        "9001", "1101", "2201", "2203", "2204", "2206")], steps
    assert steps[-1][1] == 503

    # an operator who has checked with the platform ends the window:
    # the marker's loss time set to 0 (docs/operations.md)
    rc = redis_client.Redis(port=server.port)
    marker = rc.get("yibao:journal:marker").decode()
    ident, lost = marker.split(" ")
    assert int(lost) > 0
    rc.set("yibao:journal:marker", ident + " 0")
    harness.wait_until("the window to end", lambda: status(stack)[
        "journal"]["forgotten_at"] is None, interval=0.2)
    assert re.search(r"\[notice\].*trusted again",
                     harness.error_log_text(stack))


def test_flushed_store_noticed_while_connected(make_stack, make_redis):
    """A FLUSHALL (or an eviction) drops no connection: the periodic
    look at the marker notices it."""
    server = make_redis()
    stack = node(make_stack, server, platform_port=harness.free_port())
    assert status(stack)["journal"]["forgotten_at"] is None
    redis_client.Redis(port=server.port).flushall()
    harness.wait_until("the flush to be noticed", lambda: status(stack)[
        "journal"]["forgotten_at"] is not None, interval=0.2)
    assert re.search(r"\[error\].*redis \S+ lost the journal's records",
                     harness.error_log_text(stack))


def test_restart_that_may_lose_its_last_writes(make_stack, make_redis):
    """An AOF written every second (make run's Redis) keeps the marker
    over a restart but may have lost its last second: the restart
    (a new run_id) opens the window too.  The records it kept answer
    their repeats; a msgid it does not know is checked first."""
    server = make_redis(persist="aof-everysec")
    stack = node(make_stack, server, platform_port=harness.free_port())
    (env, answer), = settle_three(stack)[:1]

    restart_redis(server, [stack])

    log = harness.error_log_text(stack)
    assert re.search(r"\[error\].*redis \S+ lost the journal's records \(it "
                     r"restarted, and does not write every change", log), \
        log[-3000:]
    assert status(stack)["journal"]["forgotten_at"] is not None

    r = client.post(stack.url, CALLER, SECRET, env)
    assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1"
    assert "X-Yibao-Resolved" not in r.headers and r.body == answer
    assert sent(stack, "5203") == []

    steps, envs = flow_until(stack, township_clinic(stack))
    assert steps[-1][:2] == ("2207", 200) and steps[-1][2]["infcode"] == 0
    assert len(sent(stack, "5203")) == 1
    assert len(sent(stack, "2207")) == 4
    assert sim_get(stack, "settlements")["resettle_attempts"] == {}


@pytest.mark.parametrize("persist", ["aof", None])
def test_restart_reports_persistence(make_stack, make_redis, persist):
    server = make_redis(persist=persist)
    stack = node(make_stack, server)
    doc = status(stack)["journal"]
    assert doc["durable"] is (persist == "aof"), doc
    log = harness.error_log_text(stack)
    line = re.search(r"\[(\w+)\].*redis \S+ run_id ([0-9a-f]+): (.*)", log)
    assert line, log
    assert line.group(1) == ("notice" if persist else "warn")
    assert ("appendonly yes" in line.group(3)) == (persist == "aof")
