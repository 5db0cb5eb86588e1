"""The fault suite: each fault under concurrent load
from clinic threads running outpatient flows (tools/yibao_load.py).

For every fault the same outcomes are asserted:

* no hung request: every request is answered (or, where the fault
  kills the process holding it, refused) within read_timeout + 2 s;
* every answer is a national envelope (infcode, output, err_msg);
* no lost journal record: every 2207 that reached the platform has its
  record (GET /yibao/journal, or the journal's error-log line when the
  record was kept in the node's zone while Redis was down), naming the
  msgid the platform saw;
* no double settlement: the platform saw each visit's 2207 at most once
  (a clinic's retry with the same msgid is answered by the journal) and
  settled each visit at most once.
"""

import collections
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import harness
from harness import sim_get, sim_post

import yibao_client as client
import yibao_load
from test_gateway_core import (CALLER, SECRET, envelope, ready_clinic,
                               registry)

READ_TIMEOUT = 3
BOUND = READ_TIMEOUT + 2.0
THREADS = 4

LIMIT = ("yibao_limit name=f by=clinic rate=100000r/m burst=10000 "
         "on_error=%s;")

JOURNAL_LINE = re.compile(r'yibao: journal caller "([^"]+)" msgid (\S+) '
                          r'upstream (\S+) infno (\d+) state (\w+)')


def clinics(stack):
    """The clinics whose msgids the gateway issues or checks: township
    clinics and clinics with their own designation (22-char codes)."""
    return [c for c in registry(stack) if c["org"] != c["entity"]]


class Arrivals:
    """The 2207s that reached the platform, collected while the load
    runs (the simulator keeps the last 2000 requests; after a restart
    it starts again), by the msgid the platform saw."""

    def __init__(self, stack):
        self.stack = stack
        self.seen = {}
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def poll(self):
        try:
            got = sim_get(self.stack, "requests?infno=2207&n=2000")
        except (OSError, ValueError):
            return      # the platform is down right now
        for r in got["requests"]:
            env = r["envelope"]
            self.seen.setdefault(env["msgid"], r)

    def _run(self):
        while not self.stop_event.wait(0.5):
            self.poll()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join()
        self.poll()
        return list(self.seen.values())


def journal_line(stack, msgid):
    """The journal's error-log line of msgid (its final state)."""
    for m in JOURNAL_LINE.finditer(harness.error_log_text(stack)):
        if m.group(1) == CALLER and m.group(2) == msgid:
            return {"msgid": msgid, "upstream_msgid": m.group(3),
                    "infno": m.group(4), "state": m.group(5)}
    return None


def journal_record(stack, msgid):
    """('api', record) from GET /yibao/journal, else ('log', fields) from
    the journal's error-log line, else (None, None)."""
    url = stack.url + "/yibao/journal?" + urllib.parse.urlencode(
        {"caller": CALLER, "msgid": msgid})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return "api", json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
    line = journal_line(stack, msgid)
    return ("log", line) if line else (None, None)


def start_load(stack, threads=THREADS, **kw):
    arrivals = Arrivals(stack).start()
    load = yibao_load.Load(stack.url, CALLER, SECRET, clinics(stack),
                           threads=threads, timeout=BOUND + 5, **kw)
    return load.start(), arrivals


def check(stack, load, arrivals, allow_no_answer=0, want_api=True):
    """The outcomes every fault must keep.  Returns the records."""
    assert load.stop(timeout=BOUND * 4 + 10), \
        "a client thread is still waiting: hung request"
    arrived = arrivals.stop()
    records = load.snapshot()
    summary = load.summary()

    assert load.count > 50, ("too little load to prove anything", summary)
    hung = load.hung(BOUND)
    assert not hung, ("requests over %.1f s" % BOUND, hung[:5])
    bad = load.not_envelopes()
    assert not bad, ("answers that are not national envelopes", bad[:5])
    lost = load.no_answer()
    assert len(lost) <= allow_no_answer, (
        "requests without an answer",
        [(r["infno"], r["msgid"], round(r["elapsed"], 3), r["exc"])
         for r in lost[:5]], summary)

    # no double settlement: each visit's 2207 reached the platform at
    # most once, and each visit was settled at most once
    per_visit = collections.Counter(
        r["envelope"]["input"]["data"]["mdtrt_id"] for r in arrived)
    twice = {m: n for m, n in per_visit.items() if n > 1}
    assert not twice, ("2207 sent twice to the platform", twice)
    settled = sim_get(stack, "settlements")
    assert all(n <= 1 for n in settled["settle_count"].values()), \
        settled["settle_count"]

    # no lost journal record: every 2207 the platform saw is in the
    # journal under the caller's msgid, naming the msgid it was sent as
    msgid_of = {r["mdtrt_id"]: r["msgid"] for r in records
                if r["infno"] == "2207"}
    sources = collections.Counter()
    for a in arrived:
        env = a["envelope"]
        caller_msgid = msgid_of[env["input"]["data"]["mdtrt_id"]]
        source, rec = journal_record(stack, caller_msgid)
        assert rec is not None, ("no journal record", caller_msgid)
        assert rec["upstream_msgid"] == env["msgid"], rec
        sources[source] += 1
    if want_api:
        assert sources["log"] == 0, sources

    # a settlement the clinic was told about is recorded as ok (when
    # Redis failed while the record's update was on its way, Redis keeps
    # "sent" and the error-log line "ok": a repeat gets YB6010, never a
    # second sending)
    for r in records:
        if r["infno"] == "2207" and r["status"] == 200 \
                and str(r["infcode"]) == "0":
            source, rec = journal_record(stack, r["msgid"])
            assert rec is not None, r
            if rec["state"] != "ok":
                assert not want_api and rec["state"] == "sent", (r, rec)
                assert journal_line(stack, r["msgid"])["state"] == "ok"

    assert len(arrived) > 0, ("no settlement reached the platform",
                              summary)
    return records


def access(stack):
    with open(stack.access_log, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------
# Redis killed, paused and restarted under load, per on_error policy
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy,want", [
    ("local", "LOCAL"),
    ("open", "BYPASSED"),
    ("closed", "ERROR"),
])
def test_redis_killed_paused_restarted(make_stack, tmp_path, policy, want):
    server = harness.yibao_stack.Redis(str(tmp_path / "redis"),
                                       persist="aof").start()
    try:
        stack = make_stack(scheme="csb", redis=server,
                           read_timeout="%ds" % READ_TIMEOUT,
                           redis_options="timeout=300ms "
                                         "connect_timeout=300ms",
                           limits=(LIMIT % policy,))
        load, arrivals = start_load(stack)
        time.sleep(2)
        server.kill()
        time.sleep(3)
        server.start()
        time.sleep(3)
        server.pause()
        time.sleep(2.5)
        server.resume()
        time.sleep(3)
        check(stack, load, arrivals, want_api=False)
    finally:
        server.stop()

    lines = [x for x in access(stack) if x["infno"]]
    down = [x for x in lines if x["store"] == "down" and x["ratelimit"]]
    assert down, "the store was never seen down"
    assert {x["ratelimit"] for x in down} == {want}, \
        collections.Counter(x["ratelimit"] for x in down)
    if policy == "closed":
        assert all(x["status"] == 503 and x["error"] == "YB5005"
                   for x in down), down[:3]
    else:
        assert any(x["status"] == 200 for x in down)
    # and back: the store is used again after the restart and the pause
    assert any(x["store"] == "redis" for x in lines[-20:])
    logs = harness.error_log_text(stack)
    assert "is down" in logs and "is up" in logs


def test_msgid_kept_locally_is_not_resent_after_redis_returns(make_stack,
                                                              make_redis):
    """A transaction journalled in the node's zone while Redis was down,
    repeated after Redis is back (Redis does not know it): answered from
    the zone, not sent to the platform again."""
    server = make_redis()
    stack = make_stack(scheme="none", redis=server, limits=())
    clinic = ready_clinic(stack)
    since = stack.error_log_size()
    server.stop()
    # every worker knows: the claim goes to this node's zone
    stack.wait_redis(since, "down")
    env = envelope(clinic, infno="2201", inp={"data": {"psn_no": "1"}})
    first = client.post(stack.url, CALLER, SECRET, env)
    assert first.status == 200, first.body
    since = stack.error_log_size()
    server.start()
    stack.wait_redis(since)
    again = client.post(stack.url, CALLER, SECRET, env)
    assert again.status == 200 and again.headers.get("X-Yibao-Replay") \
        == "1", again.body
    assert len(sim_get(stack, "requests?infno=2201&n=100")["requests"]) \
        == 1
    source, rec = journal_record(stack, env["msgid"])
    assert source == "api" and rec["state"] in ("ok", "failed"), rec


# ---------------------------------------------------------------------------
# the platform slow, answering garbage or errors, resetting, down
# ---------------------------------------------------------------------------

PLATFORM_FAULTS = {
    # answers in 1 s, and a few 2207s later than read_timeout: unknown
    # (the simulator takes the first fault that matches: the 2207 ones
    # are listed first)
    "slow": [{"infno": "2207", "mode": "latency",
              "latency_ms": (READ_TIMEOUT + 1) * 1000, "count": 2},
             {"infno": "*", "mode": "latency", "latency_ms": 1000,
              "count": 16}],
    # garbage instead of an answer; for 2207 after settling
    "garbage": [{"infno": "2207", "mode": "garbage", "act": True,
                 "count": 3},
                {"infno": "*", "mode": "garbage", "count": 15}],
    "http_500": [{"infno": "2207", "mode": "http_500", "act": True,
                  "count": 3},
                 {"infno": "*", "mode": "http_500", "count": 15}],
    # closed after acting (lost answer); connection reset before acting
    "reset": [{"infno": "2207", "mode": "drop_after_act", "count": 3},
              {"infno": "*", "mode": "reset", "count": 15}],
    # the header and half the answer, then the connection closes; for
    # 2207 after settling
    "truncate": [{"infno": "2207", "mode": "truncate", "count": 3},
                 {"infno": "*", "mode": "truncate", "count": 15}],
}


@pytest.mark.parametrize("fault", sorted(PLATFORM_FAULTS))
def test_platform_fault_under_load(make_stack, fault):
    stack = make_stack(scheme="tif", read_timeout="%ds" % READ_TIMEOUT)
    load, arrivals = start_load(stack)
    time.sleep(1.5)
    for spec in PLATFORM_FAULTS[fault]:
        sim_post(stack, "fault", spec)
    time.sleep(5)
    # until the 2207 faults have been met (the flows must get there)
    wait_for(lambda: not [f for f in sim_get(stack, "fault")["faults"]
                          if f["infno"] == "2207"],
             what="the 2207 faults to be met")
    sim_post(stack, "fault", method="DELETE")
    time.sleep(2)
    records = check(stack, load, arrivals)

    stats = sim_get(stack, "stats")["faults"]
    assert stats, "no fault was injected"
    failed = [r for r in records if r["status"] and r["status"] >= 500]
    assert failed, "the fault was never seen by a clinic"
    assert all(r["err_msg"].startswith("YB") for r in failed), failed[:3]
    # a 2207 whose answer was lost after the platform acted is unknown,
    # never resent: its retries (same msgid) got YB6010 too
    unknown = [r for r in records if r["infno"] == "2207"
               and (r["err_msg"] or "").startswith("YB6010")]
    assert unknown, collections.Counter(
        (r["status"], (r["err_msg"] or "")[:6]) for r in records
        if r["infno"] == "2207")
    assert any(r["attempt"] > 0 for r in unknown), "no retry was answered"
    # after the fault the flows settle again
    last = [r for r in records if r["infno"] == "2207"
            and r["t"] > time.time() - 1.5]
    assert any(str(r["infcode"]) == "0" for r in last) or not last


def test_platform_down_and_back_under_load(make_stack, tmp_path):
    state = str(tmp_path / "platform-state.json")
    stack = make_stack(scheme="csb", read_timeout="%ds" % READ_TIMEOUT,
                       sim_args=["--state-file", state])
    load, arrivals = start_load(stack)
    time.sleep(2)
    arrivals.poll()
    stack.stop_sim()
    down_at = time.time()
    time.sleep(3)
    up_at = time.time()
    stack.start_sim()
    time.sleep(3)
    records = check(stack, load, arrivals)

    # while it is down: platform unreachable (or, for clinics that
    # retry at once, their rate limit).  A 2207 sent again with the same
    # msgid gets the journal's stored refusal, with its HTTP status
    during = [r for r in records if down_at + 0.3 < r["t"] < up_at
              and r["attempt"] == 0]
    replays = [r for r in records if down_at + 0.3 < r["t"] < up_at
               and r["attempt"] > 0]
    want = {"YB6001": 502, "YB6010": 502, "YB5101": 409, "YB3101": 429}
    assert all(want.get(r["err_msg"][:6]) == r["status"]
               for r in replays), replays[:3]
    kinds = collections.Counter((r["status"], (r["err_msg"] or "")[:6])
                                for r in during)
    assert (502, "YB6001") in kinds, kinds
    assert set(kinds) <= {(502, "YB6001"), (502, "YB6010"),
                          (429, "YB3101")}, kinds
    after = [r for r in records if r["t"] > up_at + 1]
    assert any(r["status"] == 200 for r in after)


# ---------------------------------------------------------------------------
# nginx: reload, binary upgrade, a worker killed
# ---------------------------------------------------------------------------

def test_reload_under_load(make_stack, make_redis):
    stack = make_stack(scheme="zj-sm3", redis=make_redis(),
                       read_timeout="%ds" % READ_TIMEOUT)
    load, arrivals = start_load(stack)
    time.sleep(1.5)
    workers = stack.worker_pids()
    for _ in range(3):
        stack.reload()
        time.sleep(1.5)
    time.sleep(1)
    check(stack, load, arrivals)
    assert not set(stack.worker_pids()) & set(workers), \
        "the workers were replaced"
    assert stack.nginx.poll() is None


def wait_for(cond, what="condition"):
    return harness.wait_until(what, cond)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pid_in(path):
    """The pid in a pid file, None while it is being replaced."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def quit_master(pid):
    if alive(pid):
        os.kill(pid, signal.SIGQUIT)
        wait_for(lambda: not alive(pid), what="master %d to end" % pid)


def test_binary_upgrade_under_load(make_stack, make_redis):
    """USR2: a new master from the binary (the pid file moves to
    nginx.pid.oldbin); WINCH: the old workers finish; QUIT: the old
    master goes.  The new one serves throughout.  nginx ignores USR2
    unless it runs as a daemon (its parent must change), so this stack
    runs daemonized."""
    stack = make_stack(start=False, scheme="csb", redis=make_redis(),
                       read_timeout="%ds" % READ_TIMEOUT,
                       nginx_bin=shutil.which("nginx"))
    conf = stack.path("nginx.conf")
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text.replace("daemon off;", "daemon on;", 1))
    stack.start_sim()
    subprocess.run(stack.nginx_cmd(), check=True, timeout=30)
    harness.yibao_stack.wait_port(stack.port)
    old = stack.master_pid()
    oldbin = stack.path("nginx.pid.oldbin")
    new = None
    load, arrivals = start_load(stack)
    try:
        time.sleep(1.5)
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: os.path.exists(oldbin)
                 and pid_in(stack.path("nginx.pid")) not in (None, old),
                 what="the new master")
        new = stack.master_pid()
        wait_for(lambda: len(stack.worker_pids(new)) == stack.workers,
                 what="the new workers")
        time.sleep(1)
        os.kill(old, signal.SIGWINCH)
        wait_for(lambda: not stack.worker_pids(old), what="old workers")
        time.sleep(1)
        quit_master(old)
        wait_for(lambda: not os.path.exists(oldbin), what="oldbin gone")
        time.sleep(2)
        check(stack, load, arrivals)
        assert alive(new) and len(stack.worker_pids(new)) == stack.workers
    finally:
        load.stop(timeout=30)
        quit_master(old)
        if new:
            quit_master(new)


def test_worker_killed_under_load(make_stack, make_redis):
    stack = make_stack(scheme="tif", redis=make_redis(),
                       read_timeout="%ds" % READ_TIMEOUT)
    stack.allowed_log = (r"exited on signal 9",)
    load, arrivals = start_load(stack)
    time.sleep(2)
    workers = stack.worker_pids()
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(stack.worker_pids()) == stack.workers
             and workers[0] not in stack.worker_pids(),
             what="the master to start a new worker")
    killed_at = time.time()
    time.sleep(3)
    # only the requests the killed worker held went unanswered
    records = check(stack, load, arrivals, allow_no_answer=THREADS)
    later = [r for r in records if r["t"] > killed_at + 0.5]
    assert later and all(r["status"] is not None for r in later)
    assert "exited on signal 9" in harness.error_log_text(stack)


# ---------------------------------------------------------------------------
# the log disk full
# ---------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs (torn down after the stacks: requested before
    make_stack)."""
    d = tmp_path / "tinylogs"
    d.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                        str(d)], capture_output=True, text=True)
    if p.returncode != 0:
        msg = "cannot mount a tmpfs for the disk-full case: %s" % (
            p.stderr.strip() or p.returncode)
        print(msg)
        pytest.skip(msg)
    yield str(d)
    subprocess.run(["umount", "-l", str(d)], check=False)


def fill(path):
    """Writes into path until the disk is full."""
    try:
        with open(path, "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
    except OSError:
        pass


def test_log_disk_full_under_load(tiny_disk, make_stack):
    stack = make_stack(start=False, scheme="csb",
                       read_timeout="%ds" % READ_TIMEOUT)
    # the error and access logs on the tiny disk
    os.rmdir(stack.path("logs")) if not os.listdir(stack.path("logs")) \
        else shutil.rmtree(stack.path("logs"))
    os.symlink(tiny_disk, stack.path("logs"))
    stack.allowed_log = (r"No space left on device",
                         r"access\.log\" was incomplete")
    stack.start()
    load, arrivals = start_load(stack)
    time.sleep(1)
    # the logs may have filled it already
    fill(os.path.join(tiny_disk, "filler"))
    full_at = time.time()
    time.sleep(4)
    # the operator frees space: logging goes on
    os.unlink(os.path.join(tiny_disk, "filler"))
    open(stack.access_log, "w").close()
    time.sleep(1.5)
    records = check(stack, load, arrivals)
    assert any(r["status"] == 200 and r["t"] > full_at + 0.5
               for r in records), "no answer while the disk was full"
    assert os.path.getsize(stack.access_log) > 0
    assert stack.nginx.poll() is None
    assert len(stack.worker_pids()) == stack.workers
    assert "exited on signal" not in harness.error_log_text(stack)
