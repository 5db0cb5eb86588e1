"""The procedures of docs/deployment.md beyond one node (the packages and
one node: test_package.py): two nodes behind a load balancer sharing Redis
through Sentinel, one of them dying in the middle of a settlement; the
Redis settings that keep the journal through a crash; data files
reloaded under load; a new module through nginx's binary upgrade under
load.  Every Redis here runs with conf/redis-journal.conf, the settings
the document gives for production."""

import os
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.error

import pytest

import harness
from harness import ROOT, free_port, sim_post, wait_until, yibao_stack

import yibao_client as client
from test_faults import (alive, check, pid_in, quit_master, start_load,
                         wait_for)
from test_gateway_core import (CALLER, SECRET, envelope, ready_clinic,
                               registry, township_clinic)
from test_journal import flow_until, journal, sent, settled

REDIS_CONF = os.path.join(ROOT, "conf", "redis-journal.conf")
BALANCER_CONF = os.path.join(ROOT, "conf", "balancer.conf")


class JournalRedis(yibao_stack.Redis):
    """A redis-server with a redis.conf that includes the gateway's
    journal settings (conf/redis-journal.conf), or none (settings=False:
    no persistence at all, the way a bare redis-server runs)."""

    def __init__(self, workdir, settings=True, args=()):
        super().__init__(workdir, args=args)
        self.settings = settings

    def command(self):
        conf = os.path.join(self.workdir, "redis.conf")
        with open(conf, "w") as f:
            if self.settings:
                f.write("include %s\n" % REDIS_CONF)
            else:
                f.write('save ""\nappendonly no\n')
            f.write("port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\n"
                    % (self.port, self.workdir))
        return ["redis-server", conf] + self.args


@pytest.fixture
def servers():
    """Started servers (Redis, Sentinel) stopped at teardown."""
    started = []

    def start(server):
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


def store_is_redis(stack, clinic):
    """A 9001 went through Redis (the transaction log says so)."""
    env = client.make_envelope("9001", {"signIn": {
        "opter_no": "001", "mac": "m", "ip": "127.0.0.1"}}, clinic["org"],
        clinic["name"], clinic["admdvs"])
    client.post(stack.url, CALLER, SECRET, env, timeout=10)
    with open(stack.access_log, encoding="utf-8") as f:
        lines = [line for line in f if line.strip()]
    return lines and '"store":"redis"' in lines[-1]


def record(stack, msgid):
    """The journal record of the caller's msgid, None when there is
    none."""
    try:
        return journal(stack, caller=CALLER, msgid=msgid)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def failed(load):
    """The load's requests that failed.  A new worker (after a reload or
    an upgrade) holds a request until its first connection to Redis is
    up, so none is refused meanwhile (docs/deployment.md, "Upgrades")."""
    return [(r["infno"], r["status"], r["err_msg"], r["exc"])
            for r in load.snapshot()
            if not (r["status"] == 200 and str(r["infcode"]) == "0")]


def api_record(stack, msgid):
    """record(), or "none" when there is none, or None while the worker
    that answers has no Redis connection yet (503)."""
    try:
        return record(stack, msgid) or "none"
    except urllib.error.HTTPError as e:
        if e.code == 503:
            return None
        raise


# ---------------------------------------------------------------------------
# two nodes behind a load balancer, Redis through Sentinel
# ---------------------------------------------------------------------------

class Balancer:
    """The system's nginx running conf/balancer.conf with the nodes'
    and its own addresses, as the balancer's machine runs it."""

    def __init__(self, workdir, nodes):
        self.dir = workdir
        os.makedirs(workdir)
        self.port = free_port()
        with open(BALANCER_CONF, encoding="utf-8") as f:
            site = f.read()
        servers = re.findall(r"^    server 10\.0\.0\.\d+:8080 (.*);$", site,
                             re.M)
        assert len(servers) == 2, "balancer.conf names two nodes"
        site = re.sub(r"^    server 10\.0\.0\.\d+:8080 .*\n", "", site,
                      flags=re.M)
        site = site.replace("upstream yibao_nodes {\n",
                            "upstream yibao_nodes {\n" + "".join(
                                "    server 127.0.0.1:%d %s;\n"
                                % (port, servers[0]) for port in nodes))
        assert "listen 8080;" in site
        site = site.replace("listen 8080;", "listen 127.0.0.1:%d;"
                            % self.port)
        self.error_log = os.path.join(workdir, "error.log")
        temp = "".join("%s_temp_path %s/%s;\n" % (t, workdir, t) for t in
                       ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("worker_processes 1;\npid %s/nginx.pid;\n"
                    "error_log %s info;\nevents { worker_connections 256; }\n"
                    "http {\naccess_log off;\n%s%s}\n"
                    % (workdir, self.error_log, temp, site))
        self.cmd = ["nginx", "-p", workdir, "-c", conf, "-e", self.error_log]

    def start(self):
        self.proc = subprocess.Popen(self.cmd + ["-g", "daemon off;"],
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        yibao_stack.wait_port(self.port, proc=self.proc, what="balancer")
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            self.proc.wait(timeout=30)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port


def kill_node(stack):
    """The whole node dies at once: master and workers, SIGKILL."""
    pids = [stack.nginx.pid] + stack.worker_pids(stack.nginx.pid)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    stack.nginx.wait()


def test_two_nodes_one_dies_mid_settlement(make_stack, servers, tmp_path):
    """Two nodes (node=0/2, node=1/2) behind the balancer, one Redis
    master with a replica and a Sentinel.  Node A dies (SIGKILL, master
    and workers) while its 2207 is at the platform, which settles it.
    The clinic's repeats of the msgid through the balancer reach node B:
    "in progress" or "outcome unknown", never sent again; B's resolver
    takes A's record over (5203) and the repeat gets the settlement."""
    d = str(tmp_path)
    master = servers(JournalRedis(os.path.join(d, "master")))
    servers(JournalRedis(os.path.join(d, "replica"), args=[
        "--replicaof", "127.0.0.1", str(master.port)]))
    sentinel = servers(yibao_stack.Sentinel(os.path.join(d, "sentinel"),
                                            master.port))
    node = dict(scheme="csb", redis_address="sentinel:mymaster",
                redis_options="sentinel=127.0.0.1:%d" % sentinel.port,
                journal="ttl=7d in_flight=6s",
                resolve="query interval=1s after=4s attempts=20",
                read_timeout="30s")
    a = make_stack(zone="16m node=0/2", **node)
    b = make_stack(zone="16m node=1/2",
                   upstream="127.0.0.1:%d" % a.sim_port, **node)
    lb = Balancer(os.path.join(d, "balancer"), (a.port, b.port)).start()
    try:
        clinic = township_clinic(a)
        for stack in (a, b):
            wait_until("node %s on Redis" % stack.port,
                       lambda: store_is_redis(stack, clinic))

        # the visit goes through the balancer, each step to either node;
        # its 2207 goes to node A and is held 4 s at the platform
        sim_post(a, "fault", {"mode": "latency", "infno": "2207",
                              "latency_ms": 4000, "count": 1})
        envs = {}
        at_a = threading.Event()

        def send(env):
            envs[env["infno"]] = env
            if env["infno"] == "2207":
                at_a.set()
                return client.post(a.url, CALLER, SECRET, env, timeout=60)
            return client.post(lb.url, CALLER, SECRET, env, timeout=60)

        steps = []
        visit = threading.Thread(target=lambda: steps.extend(
            client.outpatient_flow(lb.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   send=send)), daemon=True)
        visit.start()
        assert at_a.wait(120), "the visit never reached its 2207"
        msgid = envs["2207"]["msgid"]
        # A has journaled it in Redis (B sees it) and sent it: A dies
        wait_until("the 2207's record", lambda: (record(b, msgid) or {})
                   .get("state") == "sent")
        kill_node(a)
        visit.join(120)
        assert [s[0] for s in steps][-1] == "2207"
        assert steps[-1][1] is None, steps[-1]       # no answer: A died
        assert [s[1] for s in steps][:-1] == [200] * (len(steps) - 1)

        # the platform did settle it, once
        wait_until("the platform to settle", lambda: settled(a))

        # the clinic repeats through the balancer until it has an answer
        answers = []

        def final():
            r = client.post(lb.url, CALLER, SECRET, envs["2207"],
                            timeout=60)
            answers.append(r)
            if r.status == 200:
                return r
            time.sleep(0.5)
            return None
        r = wait_until("the settlement's answer", final)
        first = answers[0]
        assert first.status in (409, 502), (first.status, first.body)
        assert re.match(r"YB(5101|6010) ", first.body["err_msg"]), \
            first.body
        assert str(r.body["infcode"]) == "0"
        assert r.headers["X-Yibao-Resolved"] == "gateway:5203"

        # never sent twice; B's resolver made A's record ok
        platform = settled(a)
        assert len(platform) == 1 and len(sent(a, "2207")) == 1
        rec = record(b, msgid)
        assert rec["state"] == "ok" and rec["resolved_by"] == "gateway:5203"
        assert rec["setl_id"] == platform[0]["setl_id"]
        assert r.body["output"]["setlinfo"]["setl_id"] == \
            platform[0]["setl_id"]
        # the two nodes never issued the same msgid to the platform
        msgids = [q["envelope"]["msgid"] for q in
                  harness.sim_get(a, "requests?n=500")["requests"]
                  if q.get("envelope")]
        assert len(msgids) == len(set(msgids)), msgids
    finally:
        lb.stop()
    assert harness.log_problems(lb.error_log) == []


# ---------------------------------------------------------------------------
# the journal in Redis through a crash
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [True, False],
                         ids=["redis-journal.conf", "no-persistence"])
def test_journal_kept_through_a_redis_crash(make_stack, servers, tmp_path,
                                            settings):
    """Redis killed (SIGKILL) right after a settlement and started again:
    with conf/redis-journal.conf the record is there and the clinic's
    repeat is a replay; without persistence the record is gone."""
    server = servers(JournalRedis(str(tmp_path / "redis"), settings))
    stack = make_stack(scheme="csb", redis=server)
    clinic = township_clinic(stack)
    wait_until("the store", lambda: store_is_redis(stack, clinic))

    steps, envs = flow_until(stack, clinic)
    assert steps[-1][0] == "2207" and steps[-1][1] == 200, steps[-1]
    msgid = envs["2207"]["msgid"]
    # the answer goes out as the record's "ok" is written to Redis: a
    # query may reach another worker before that write has landed
    wait_until("the settlement's record to be ok",
               lambda: record(stack, msgid)["state"] == "ok")

    server.kill()
    server.start()
    # each worker reconnects by itself: until then it answers 503 (the
    # journal API, and a 2207: YB5005, Retry-After), as after any outage
    rec = wait_until("the journal API", lambda: api_record(stack, msgid))
    if not settings:
        assert rec == "none"
        return
    assert rec["state"] == "ok"

    def repeat():
        r = client.post(stack.url, CALLER, SECRET, envs["2207"])
        if r.status == 503 and r.body["err_msg"].startswith("YB5005 "):
            return None
        return r
    again = wait_until("the repeat", repeat)
    assert again.status == 200 and again.headers["X-Yibao-Replay"] == "1"
    assert len(sent(stack, "2207")) == 1 and len(settled(stack)) == 1


# ---------------------------------------------------------------------------
# restarts and upgrades
# ---------------------------------------------------------------------------

def upstream_msgid(stack, clinic):
    """A 1101 of a township clinic: the gateway issues the msgid the
    platform gets.  (answer, that msgid, time sent)."""
    env = envelope(clinic, infno="1101")
    t = time.time()
    r = client.post(stack.url, CALLER, SECRET, env, timeout=30)
    return r, r.headers.get("X-Yibao-Upstream-Msgid"), t


def test_restart_within_a_second_issues_no_msgid_again(make_stack):
    """nginx stopped and started again within one second: the new one
    must not issue the msgids the old one issued in that second (its
    sequence was in the old zone); the platform refuses a msgid it has
    seen ("FSI-msgid 重复")."""
    stack = make_stack(scheme="csb")
    clinic = ready_clinic(stack)        # signed in (9001)
    for _ in range(20):
        # just after a second begins
        time.sleep(1 - time.time() % 1)
        r1, m1, t1 = upstream_msgid(stack, clinic)
        assert r1.status == 200 and str(r1.body["infcode"]) == "0"
        stack.nginx.send_signal(signal.SIGQUIT)
        stack.nginx.wait(timeout=60)
        stack.start_nginx()
        r2, m2, t2 = upstream_msgid(stack, clinic)
        assert r2.status == 200 and str(r2.body["infcode"]) == "0", \
            (m1, m2, r2.body)
        assert m2 != m1 and m2[12:26] > m1[12:26], (m1, m2)
        if int(t2) == int(t1):
            return      # restarted within the second, and no msgid again
    pytest.skip("the restart never fit in one second on this machine")


NEW_CLINIC = ("PDY60134132080312D6006", "新村卫生室", "370102", "township",
              "H37010200001", "某镇卫生院", "k-H37010200001")


def test_data_files_reloaded_under_load(make_stack, servers, tmp_path):
    """A clinic added to clinics.tsv and nginx -s reload (SIGHUP), twice,
    while clinics run visits: no request fails, and the new clinic is
    served once the reload is done."""
    server = servers(JournalRedis(str(tmp_path / "redis")))
    stack = make_stack(scheme="csb", redis=server, limits=(),
                       read_timeout="10s")
    clinic = dict(zip(("org", "name", "admdvs"), NEW_CLINIC))
    first = client.post(stack.url, CALLER, SECRET, client.make_envelope(
        "1101", {"data": {"psn_cert_type": "01", "certno":
                          "370102195603152017", "mdtrt_cert_type": "02",
                          "mdtrt_cert_no": "370102195603152017"}},
        clinic["org"], clinic["name"], clinic["admdvs"]))
    assert first.status != 200, first.body       # not in the registry yet

    wait_until("the store", lambda: store_is_redis(
        stack, township_clinic(stack)))
    load, arrivals = start_load(stack)
    wait_until("load", lambda: load.count >= 30)
    workers = stack.worker_pids()
    with open(stack.path("data", "clinics.tsv"), "a",
              encoding="utf-8") as f:
        f.write("\t".join(NEW_CLINIC) + "\n")
    for _ in range(2):
        stack.reload()
        wait_until("new workers", lambda: not set(stack.worker_pids())
                   & set(workers))
        workers = stack.worker_pids()
        count = load.count
        wait_until("load after the reload", lambda: load.count >= count + 30)
    check(stack, load, arrivals)
    assert failed(load) == []

    steps = client.outpatient_flow(stack.url, CALLER, SECRET, clinic["org"],
                                   clinic["name"], clinic["admdvs"])
    assert [s[1] for s in steps] == [200] * 7, steps[-1]


def maps_inode(pid, path):
    """The inode of path as process pid has it mapped, and whether it was
    deleted (replaced) since."""
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith(path):
                return int(parts[4]), parts[5].strip().endswith("(deleted)")
    return None


def test_module_upgraded_under_load(make_stack, servers, tmp_path):
    """The upgrade of docs/deployment.md under load: the .so is replaced
    the way dpkg replaces it (a new file renamed over the old one), which
    a reload does not load; the site's node=0/2 becomes node=1/2, USR2
    starts a new master from the
    binary that loads the new file, WINCH lets the old workers finish what
    they hold, QUIT ends the old master.
    Each 2207 is held 1.5 s at the platform meanwhile; one is in flight
    at the old workers when the new ones start and its repeat goes to the
    new ones.  No request is lost or fails, nothing is sent twice, every
    record is in the journal."""
    server = servers(JournalRedis(str(tmp_path / "redis")))
    modules = tmp_path / "modules"
    modules.mkdir()
    so = str(modules / "ngx_http_yibao_module.so")
    shutil.copyfile(yibao_stack.MODULE, so)
    stack = make_stack(start=False, scheme="csb", redis=server, limits=(),
                       read_timeout="10s", nginx_bin=shutil.which("nginx"),
                       module=so, zone="16m node=0/2")
    # nginx honours USR2 only as a daemon (test_faults.py)
    conf = stack.path("nginx.conf")
    with open(conf, encoding="utf-8") as f:
        text = f.read()
    with open(conf, "w", encoding="utf-8") as f:
        f.write(text.replace("daemon off;", "daemon on;", 1))
    stack.start_sim()
    subprocess.run(stack.nginx_cmd(), check=True, timeout=60)
    yibao_stack.wait_port(stack.port)
    old = stack.master_pid()
    oldbin = stack.path("nginx.pid.oldbin")
    new = None
    clinic = registry(stack)[-1]
    wait_until("the store", lambda: store_is_redis(stack, clinic))
    load, arrivals = start_load(stack)
    try:
        wait_until("load", lambda: load.count >= 30)
        sim_post(stack, "fault", {"mode": "latency", "infno": "2207",
                                  "latency_ms": 1500, "count": 40})
        # a visit of our own whose 2207 is at the platform during it
        envs = {}
        held = {}

        def send(env):
            # recorded with the load's requests, for check()
            envs[env["infno"]] = env
            r = load._post(env)
            if env["infno"] == "2207":
                held["answer"] = r
            return r

        visit = threading.Thread(target=client.outpatient_flow, args=(
            stack.url, CALLER, SECRET, clinic["org"], clinic["name"],
            clinic["admdvs"]), kwargs={"send": send}, daemon=True)
        visit.start()
        wait_until("the held 2207", lambda: "2207" in envs and (
            record(stack, envs["2207"]["msgid"]) or {}).get("state")
            == "sent")

        # dpkg's way: a new file, renamed over the old one
        shutil.copyfile(yibao_stack.MODULE, so + ".dpkg-new")
        os.replace(so + ".dpkg-new", so)
        inode = os.stat(so).st_ino
        # a reload cannot load it: its workers run the old (deleted) file
        workers = stack.worker_pids(old)
        os.kill(old, signal.SIGHUP)
        wait_for(lambda: len(set(stack.worker_pids(old)) - set(workers))
                 == stack.workers, what="the reloaded workers")
        for pid in set(stack.worker_pids(old)) - set(workers):
            assert maps_inode(pid, so)[1], "a reload loaded the new .so"
        # the other half of the msgid numbers for the new generation:
        # both issue msgids until the old one is gone
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        assert "yibao_zone    16m node=0/2;" in text
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text.replace("node=0/2;", "node=1/2;"))
        subprocess.run(stack.nginx_cmd("-t"), check=True, timeout=60,
                       capture_output=True)
        os.kill(old, signal.SIGUSR2)
        wait_for(lambda: os.path.exists(oldbin)
                 and pid_in(stack.path("nginx.pid")) not in (None, old),
                 what="the new master")
        new = stack.master_pid()
        wait_for(lambda: len(stack.worker_pids(new)) == stack.workers,
                 what="the new workers")
        for pid in stack.worker_pids(new):
            assert maps_inode(pid, so) == (inode, False)
        for pid in stack.worker_pids(old):
            assert maps_inode(pid, so)[1], "old workers keep the old file"
        os.kill(old, signal.SIGWINCH)

        # the held 2207 repeated: the new workers see its record
        again = client.post(stack.url, CALLER, SECRET, envs["2207"])
        assert again.status in (200, 409), (again.status, again.body)
        if again.status == 409:
            assert again.body["err_msg"].startswith("YB5101 "), again.body
        else:
            assert again.headers["X-Yibao-Replay"] == "1"
        wait_for(lambda: not stack.worker_pids(old),
                 what="old workers")
        quit_master(old)
        wait_for(lambda: not os.path.exists(oldbin), what="oldbin gone")
        visit.join(60)
        assert held["answer"].status == 200, held["answer"].body

        count = load.count
        wait_until("load after the upgrade", lambda: load.count >= count + 30)
        check(stack, load, arrivals)
        assert failed(load) == []
        assert alive(new) and len(stack.worker_pids(new)) == stack.workers

        upstream = record(stack, envs["2207"]["msgid"])["upstream_msgid"]
        assert [q["envelope"]["msgid"] for q in sent(stack, "2207")
                if q["envelope"]["msgid"] == upstream] == [upstream]
        final = client.post(stack.url, CALLER, SECRET, envs["2207"])
        assert final.status == 200 and final.headers["X-Yibao-Replay"] == "1"
    finally:
        load.stop(timeout=30)
        quit_master(old)
        if new:
            quit_master(new)
