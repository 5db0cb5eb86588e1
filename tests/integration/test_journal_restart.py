"""The gateway or Redis restarted while a 2207 is at the platform (the
simulator's hold fault keeps it there until the test releases it).  In
every case the platform settled each visit at most once, and the
journal knows the outcome or says it is unknown.

What survives what (docs/operations.md, "What survives a restart"):
the journal in Redis survives a restart of the gateway; the embedded
store (the zone) survives a reload (`nginx -s reload`, SIGHUP) but not
a stop and start.  A restarted Redis keeps the journal with AOF or RDB;
without persistence it loses what was written before, and a record whose
answer arrives after the restart is written again by its completion.

Each step waits for the state the next one needs (the platform holds the
2207, the workers are connected to Redis again, the record is complete),
never for a time: the deadlines are hang guards (harness.HANG_GUARD).
"""

import json
import os
import re
import signal
import threading
import urllib.error
import urllib.parse
import urllib.request


import pytest

from harness import HANG_GUARD, sim_get, sim_post, wait_until

import yibao_client as client
from test_gateway_core import CALLER, SECRET, assert_rejected, \
    township_clinic
from test_journal import wait_complete

IN_FLIGHT = "2s"
# the gateway waits for the held 2207 as long as the test may take
READ_TIMEOUT = "%ds" % HANG_GUARD


def record(stack, msgid):
    """The journal's record of the caller's msgid, or None."""
    url = stack.url + "/yibao/journal?" + urllib.parse.urlencode(
        dict(caller=CALLER, msgid=msgid))
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def problems(stack):
    with urllib.request.urlopen(stack.url + "/yibao/journal?problems=today",
                                timeout=10) as r:
        return json.loads(r.read())


def sent_2207(stack):
    got = sim_get(stack, "requests?n=500")["requests"]
    return [r for r in got if r.get("envelope")
            and r["envelope"]["infno"] == "2207"]


def wait_settled(stack, n=1):
    """Waits for the platform to have made n settlements."""
    wait_until("the platform to settle", lambda: len(
        sim_get(stack, "settlements")["settlements"]) >= n)


def settled_at_most_once(stack):
    """The platform's view: no visit settled twice; returns the
    settlements that stand (not reversed)."""
    view = sim_get(stack, "settlements")
    assert all(n <= 1 for n in view["settle_count"].values()), view
    return [s for s in view["settlements"] if s["state"] != "reversed"]


def in_flight_flow(stack, clinic):
    """Runs the outpatient flow in a thread with the 2207 held at the
    platform (until release()); returns (thread, results) once the
    platform holds it, its journal record claimed ("sent")."""
    results = {}

    def capture(env):
        if env["infno"] == "2207":
            results["env"] = env
        try:
            return client.post(stack.url, CALLER, SECRET, env,
                               timeout=HANG_GUARD)
        except Exception as e:   # the gateway went away meanwhile
            results["error"] = e
            raise

    sim_post(stack, "fault", {"infno": "2207", "mode": "hold", "count": 1})
    th = threading.Thread(target=lambda: results.setdefault(
        "steps", client.outpatient_flow(stack.url, CALLER, SECRET,
                                        clinic["org"], clinic["name"],
                                        clinic["admdvs"], send=capture)))
    th.start()
    wait_until("the platform to hold the 2207", lambda: not th.is_alive()
               or sim_get(stack, "stats")["held"] >= 1)
    assert th.is_alive(), "the flow ended before the 2207 reached the " \
        "platform: %r" % (results.get("steps"),)
    assert record(stack, results["env"]["msgid"])["state"] == "sent"
    return th, results


def release(stack):
    """The platform goes on with the 2207 it holds (and answers it)."""
    assert sim_post(stack, "release")["released"] == 1


def join(th):
    th.join(HANG_GUARD)
    assert not th.is_alive(), "the flow did not end"


def children(pid):
    """The pids whose parent is pid (nginx's workers)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


def stop_nginx(stack, how, meanwhile=None):
    """Stops the gateway: SIGQUIT (graceful), SIGTERM (fast) or SIGKILL
    of the master and its workers (a crash); meanwhile() is called once
    the signal is sent, before waiting for the end."""
    proc = stack.nginx
    if how == "kill":
        workers = children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until("the killed workers to end", lambda: not any(
            os.path.exists("/proc/%d" % w) and _state(w) != "Z"
            for w in workers))
    else:
        proc.send_signal(signal.SIGQUIT if how == "quit"
                         else signal.SIGTERM)
    if meanwhile is not None:
        meanwhile()
    proc.wait(timeout=HANG_GUARD)
    stack.nginx = None


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def restart_nginx(stack):
    """Starts the gateway again; with Redis, start_nginx returns once
    every worker is connected (before that a claim would go to the zone:
    docs/operations.md, "What survives a restart")."""
    stack.start_nginx()


def check_outcome(stack, msgid, settled, allow_lost=False):
    """The journal's record agrees with the platform: ok with the
    platform's setl_id, or unknown (sent, and overdue once the in-flight
    window has passed) when the answer was lost."""
    rec = record(stack, msgid)
    if rec is None:
        assert allow_lost
        return None
    if settled:
        assert rec["state"] in ("ok", "unknown", "sent"), rec
        if rec["state"] == "ok":
            assert rec["platform_setl_id"] == settled[0]["setl_id"]
        if rec["state"] == "sent":
            wait_until("%s to be overdue (in_flight=%s)" % (msgid, IN_FLIGHT),
                       lambda: [x for x in problems(stack)
                                if x["msgid"] == msgid
                                and x["overdue"] is True])
    else:
        assert rec["state"] in ("failed", "unknown", "sent"), rec
    return rec


def redis_stack(make_stack, server):
    return make_stack(scheme="csb", redis=server, read_timeout=READ_TIMEOUT,
                      journal="ttl=7d in_flight=%s" % IN_FLIGHT)


def embedded_stack(make_stack):
    return make_stack(scheme="csb", read_timeout=READ_TIMEOUT,
                      journal="ttl=7d in_flight=%s" % IN_FLIGHT)


@pytest.mark.parametrize("how", ["quit", "term", "kill"])
def test_gateway_restarted_with_redis(make_stack, make_redis, how):
    server = make_redis()
    stack = redis_stack(make_stack, server)
    clinic = township_clinic(stack)
    th, res = in_flight_flow(stack, clinic)
    msgid = res["env"]["msgid"]

    def answer_while_shutting_down():
        wait_until("the workers to shut down",
                   lambda: not stack.serving_pids())
        release(stack)

    if how == "quit":
        # graceful: the old worker waits for the 2207; the platform
        # answers once the workers are shutting down
        stop_nginx(stack, how, meanwhile=answer_while_shutting_down)
    else:
        stop_nginx(stack, how)
    join(th)
    restart_nginx(stack)

    if how == "quit":
        # graceful: the answer arrived before the old workers left
        assert res["steps"][-1][:2] == ("2207", 200), res["steps"][-1]
    else:
        # the caller lost its connection: no answer
        assert res["steps"][-1][0] == "2207" and res["steps"][-1][1] is None
        # the platform goes on with it all the same
        release(stack)

    # the platform settled once
    wait_settled(stack)
    settled = settled_at_most_once(stack)
    assert len(settled) == 1
    assert len(sent_2207(stack)) == 1

    if how == "quit":
        assert wait_complete(stack, msgid)["state"] == "ok"
        check_outcome(stack, msgid, settled)
    else:
        # nobody completed it: the journal says it is not known
        assert check_outcome(stack, msgid, settled)["state"] == "sent"

    # the clinic retries the same msgid: never sent again
    r = client.post(stack.url, CALLER, SECRET, res["env"])
    if how == "quit":
        assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1"
    else:
        assert_rejected(r.status, r.body, 502, 6010, "unknown")
    assert len(sent_2207(stack)) == 1
    assert len(settled_at_most_once(stack)) == 1


def test_embedded_store_survives_a_reload(make_stack):
    stack = embedded_stack(make_stack)
    clinic = township_clinic(stack)
    th, res = in_flight_flow(stack, clinic)
    msgid = res["env"]["msgid"]

    # nginx -s reload: new workers take the requests; the old one still
    # waits for the 2207, and finishes it once the platform answers
    old = set(stack.serving_pids())
    stack.reload()

    def new_workers():
        now = set(stack.serving_pids())
        return len(now) == stack.workers and not now & old
    wait_until("the new workers", new_workers)
    release(stack)
    join(th)
    assert res["steps"][-1][:2] == ("2207", 200), res["steps"][-1]

    settled = settled_at_most_once(stack)
    assert len(settled) == 1
    rec = check_outcome(stack, msgid, settled)
    assert rec["state"] == "ok"

    # the new workers answer the repeat from the zone
    r = client.post(stack.url, CALLER, SECRET, res["env"])
    assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1"
    assert len(sent_2207(stack)) == 1


def test_embedded_store_full_restart_loses_the_journal(make_stack):
    """Documented, not hidden: the zone does not survive a stop and
    start.  The repeat is then sent again with a new upstream msgid; the
    platform refuses the already settled fee batch, so the visit is
    still settled once, but the journal no longer knows the first
    outcome (the error log line of the claim's completion, and the
    transaction log, keep what there was)."""
    stack = embedded_stack(make_stack)
    clinic = township_clinic(stack)
    th, res = in_flight_flow(stack, clinic)
    msgid = res["env"]["msgid"]

    stop_nginx(stack, "kill")
    join(th)
    restart_nginx(stack)
    release(stack)
    wait_settled(stack)

    assert len(settled_at_most_once(stack)) == 1
    assert record(stack, msgid) is None

    r = client.post(stack.url, CALLER, SECRET, res["env"])
    assert r.status == 200 and r.body["infcode"] == -1, r.body
    assert len(sent_2207(stack)) == 2
    assert len(settled_at_most_once(stack)) == 1
    assert record(stack, msgid)["state"] == "failed"


@pytest.mark.parametrize("persist", [None, "aof", "rdb"])
def test_redis_restarted_during_a_flow(make_stack, make_redis, persist):
    """Redis restarted while the 2207 is at the platform; the answer
    comes once every worker is connected again."""
    server = make_redis(persist=persist)
    stack = redis_stack(make_stack, server)
    clinic = township_clinic(stack)
    th, res = in_flight_flow(stack, clinic)
    msgid = res["env"]["msgid"]

    since = stack.error_log_size()
    server.restart()
    stack.wait_redis(since)
    release(stack)
    join(th)
    assert res["steps"][-1][:2] == ("2207", 200), res["steps"][-1]

    settled = settled_at_most_once(stack)
    assert len(settled) == 1
    # without persistence the claim was lost with Redis: the completion
    # writes the record again
    assert wait_complete(stack, msgid)["state"] == "ok"
    check_outcome(stack, msgid, settled)

    # a repeat is answered from the journal
    r = client.post(stack.url, CALLER, SECRET, res["env"])
    assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1"
    assert len(sent_2207(stack)) == 1
    assert len(settled_at_most_once(stack)) == 1

    # with persistence the earlier steps' records survived the restart;
    # without, they are gone
    first = record(stack, _msgid_of(stack, "2201"))
    if persist:
        assert first is not None and first["state"] == "ok"
    else:
        assert first is None


@pytest.mark.parametrize("persist", [None, "aof"])
def test_redis_down_when_the_answer_comes(make_stack, make_redis, persist):
    """Redis stopped while the 2207 is at the platform, and still down
    when its answer comes: the completion is kept in this node's zone
    (and in the error and transaction logs), and a repeat, once Redis is
    back, is answered from there, not sent again."""
    server = make_redis(persist=persist)
    stack = redis_stack(make_stack, server)
    clinic = township_clinic(stack)
    th, res = in_flight_flow(stack, clinic)

    since = stack.error_log_size()
    server.stop()
    stack.wait_redis(since, "down")
    release(stack)
    join(th)
    assert res["steps"][-1][:2] == ("2207", 200), res["steps"][-1]
    assert "kept in this node's zone: redis is down" in open(
        stack.error_log, encoding="utf-8").read()

    since = stack.error_log_size()
    server.start()
    stack.wait_redis(since)
    r = client.post(stack.url, CALLER, SECRET, res["env"])
    assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1", \
        r.body
    assert len(sent_2207(stack)) == 1
    assert len(settled_at_most_once(stack)) == 1


def _msgid_of(stack, infno):
    got = sim_get(stack, "requests?n=500")["requests"]
    up = [r["envelope"]["msgid"] for r in got if r.get("envelope")
          and r["envelope"]["infno"] == infno][0]
    with urllib.request.urlopen(stack.url + "/yibao/journal?msgid=" + up,
                                timeout=10) as r:
        found = json.loads(r.read())
    return found[0]["msgid"] if found else "none"


# ---------------------------------------------------------------------------
# a new worker's first connection to Redis (docs/deployment.md, "Upgrades")
# ---------------------------------------------------------------------------

FIRST_WAIT = "waits for this worker's first connection to redis"
FIRST_FAILED = "this worker's first connection failed"


def reload_with_redis_paused(stack, server):
    """Redis paused, then nginx -s reload: the new workers connect, and
    their handshake goes unanswered while Redis is paused.  Returns once
    only new workers are left, with the error log's offset from before
    the reload."""
    old = set(stack.worker_pids())
    since = stack.error_log_size()
    server.pause()
    stack.reload()
    wait_until("only new workers", lambda: not set(stack.worker_pids())
               & old and len(stack.serving_pids()) == stack.workers)
    return since


def log_since(stack, since):
    with open(stack.error_log, "rb") as f:
        f.seek(since)
        return f.read().decode("utf-8", "replace")


def settled_2207(make_stack, server, connect_timeout, timeout="10s"):
    """A stack on server, with a settled visit: its 2207's envelope."""
    from test_journal import flow_until
    stack = make_stack(scheme="csb", redis=server,
                       redis_options="timeout=%s connect_timeout=%s"
                       % (timeout, connect_timeout))
    steps, envs = flow_until(stack, township_clinic(stack))
    assert steps[-1][:2] == ("2207", 200), steps[-1]
    wait_complete(stack, envs["2207"]["msgid"])
    return stack, envs["2207"]


def test_request_waits_for_the_first_connection(make_stack, make_redis):
    """After nginx -s reload the new workers' first connection to Redis
    takes a moment (here: as long as Redis is paused).  A money-moving
    request that comes meanwhile waits for it, on the event loop, and is
    answered once it is up: the repeat of a settled 2207 is replayed from
    the journal, not refused with 503 YB5005."""
    server = make_redis()
    stack, env = settled_2207(make_stack, server, "%ds" % HANG_GUARD)

    since = reload_with_redis_paused(stack, server)
    res = {}
    th = threading.Thread(target=lambda: res.update(
        r=client.post(stack.url, CALLER, SECRET, env, timeout=HANG_GUARD)))
    try:
        th.start()
        wait_until("the repeat to wait, or to be answered",
                   lambda: FIRST_WAIT in log_since(stack, since)
                   or not th.is_alive())
    finally:
        server.resume()
    join(th)

    r = res["r"]
    assert r.status == 200 and r.headers.get("X-Yibao-Replay") == "1", \
        (r.status, r.body)
    assert FIRST_WAIT in log_since(stack, since)
    assert len(sent_2207(stack)) == 1


def test_request_waits_no_longer_than_connect_timeout(make_stack,
                                                      make_redis):
    """The same with Redis still paused: the request waits until the
    worker's first connection has failed (connect_timeout), and only then
    is refused, as whenever Redis is down: 503 YB5005, Retry-After,
    nothing sent."""
    server = make_redis()
    # an old worker with a command sent to the paused Redis (a sync, a
    # flush) stays until that command's timeout; the new workers' first
    # connection must still be pending once the old ones are gone, so
    # that the request finds it pending: timeout well under
    # connect_timeout (with timeout=10s connect_timeout=10s the first
    # connection had sometimes failed already on a loaded machine)
    stack, env = settled_2207(make_stack, server, "30s", timeout="2s")

    since = reload_with_redis_paused(stack, server)
    try:
        r = client.post(stack.url, CALLER, SECRET, env, timeout=HANG_GUARD)
        lines = log_since(stack, since).splitlines()
    finally:
        server.resume()

    assert_rejected(r.status, r.body, 503, 5005, "unreachable", "2207")
    assert r.headers.get("Retry-After") == "1"
    assert len(sent_2207(stack)) == 1

    # in the worker's error log: the request waited, the first connection
    # failed, and only then was the request refused
    held = [i for i, x in enumerate(lines) if FIRST_WAIT in x]
    assert held, "the request did not wait for the first connection"
    pid = re.search(r"\] (\d+)#", lines[held[0]]).group(1)
    mine = [(i, x) for i, x in enumerate(lines) if "] %s#" % pid in x]
    failed = [i for i, x in mine if FIRST_FAILED in x]
    refused = [i for i, x in mine if "redis is down: infno 2207" in x]
    assert failed and refused, mine
    assert held[0] < failed[0] < refused[0], mine
