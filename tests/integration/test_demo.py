"""`make run` (tools/run-demo.py): the demo as a user starts it, stops
it and starts it again, on free loopback ports in a folder of the test's
own (YIBAO_DEMO_DIR)."""

import http.client
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest

import harness

import yibao_client as client
from test_gateway_core import CALLER, SECRET, assert_rejected, \
    township_clinic
from test_journal import flow_until, journal, sent, settled
from test_resolve import resolved

RUN_DEMO = os.path.join(harness.ROOT, "tools", "run-demo.py")

TCP_TIME_WAIT = "06"


def time_wait(port):
    """Whether a TCP connection of 127.0.0.1:port is in TIME_WAIT (from
    /proc/net/tcp: local address, state)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if (local == "0100007F:%04X" % port
                    and state == TCP_TIME_WAIT):
                return True
    return False


def until(pred, timeout=30.0):
    """Whether pred() became true (polled) within timeout."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def plain_bind(port):
    """A bind without SO_REUSEADDR (what the demo's check once did)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def closed_by_server(port, path="/"):
    """One request with Connection: close: the server closes first, so
    the connection stays in TIME_WAIT on the server's port."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", path, headers={"Connection": "close"})
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status


class Demo:
    """tools/run-demo.py in a folder of its own, on the given ports."""

    def __init__(self, workdir, port, sim_port, status_port, **env):
        self.workdir = str(workdir)
        self.port = port
        self.env = dict(os.environ, YIBAO_DEMO_DIR=self.workdir,
                        YIBAO_PORT=str(port), YIBAO_SIM_PORT=str(sim_port),
                        YIBAO_STATUS_PORT=str(status_port),
                        YIBAO_STORE="embedded", **env)
        self.proc = None
        self.banner = ""
        self.out = queue.Queue()

    def _read(self, stream):
        for line in stream:
            self.out.put(line)
        self.out.put(None)

    def start(self, timeout=120):
        """Starts it and returns what it printed up to "Ctrl-C stops
        everything."; raises with its output if it exits first."""
        self.proc = subprocess.Popen(
            [harness.yibao_stack.PYTHON, RUN_DEMO], env=self.env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, args=(self.proc.stdout,),
                         daemon=True).start()
        lines = []
        while True:
            line = self.out.get(timeout=timeout)
            if line is None:
                self.proc.wait()
                raise AssertionError("make run exited with %s:\n%s"
                                     % (self.proc.returncode,
                                        "".join(lines)))
            lines.append(line)
            if line.startswith("Ctrl-C stops everything."):
                self.banner = "".join(lines)
                return self.banner

    def stop(self):
        """Ctrl-C; returns what it printed after the banner."""
        if self.proc is None or self.proc.poll() is not None:
            return ""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=120)
        rest = []
        while True:
            line = self.out.get(timeout=10)
            if line is None:
                break
            rest.append(line)
        return "".join(rest)

    @property
    def error_log(self):
        return os.path.join(self.workdir, "logs", "error.log")


@pytest.fixture
def make_demo(tmp_path):
    demos = []

    def make(name="demo", ports=None, **env):
        ports = ports or [harness.free_port() for _ in range(3)]
        demo = Demo(tmp_path / name, *ports, **env)
        demos.append(demo)
        return demo

    yield make

    problems = []
    for demo in demos:
        if demo.proc is not None and demo.proc.poll() is None:
            demo.proc.terminate()
            demo.proc.wait(timeout=120)
        problems += harness.log_problems(demo.error_log)
    assert not problems, "nginx error log:\n" + "\n".join(problems)


def test_port_check_takes_time_wait_as_free():
    """The demo's check of its ports (yibao_stack.port_bindable) binds
    as nginx does: a connection left in TIME_WAIT on the port does not
    make it "in use"; a socket listening there does."""
    port = harness.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen(1)
        assert not harness.yibao_stack.port_bindable(port)

        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        conn, _ = server.accept()
        conn.close()            # the server closes first: TIME_WAIT
        assert client.recv(1) == b""
        client.close()
    assert until(lambda: time_wait(port))

    assert not plain_bind(port)
    assert harness.yibao_stack.port_bindable(port)

    # without SO_REUSEADDR on the listening socket, still in use
    other = harness.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", other))
        s.listen(1)
        assert not harness.yibao_stack.port_bindable(other)
    assert harness.yibao_stack.port_bindable(other)


def test_free_ports_are_below_the_ephemeral_range():
    """An outgoing connection holds a local port of the kernel's
    ephemeral range, and a server cannot listen there meanwhile (a
    gateway's status port once was: [emerg] bind() ... Address already
    in use).  The harness hands out ports below that range."""
    lo, hi = harness.yibao_stack.ephemeral_range()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client = socket.create_connection(server.getsockname(), timeout=10)
        conn, _ = server.accept()
        taken = client.getsockname()[1]
        assert lo <= taken <= hi
        assert not harness.yibao_stack.port_bindable(taken)
        conn.close()
        client.close()

    ports = [harness.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(harness.yibao_stack.FREE_PORT_MIN <= p < lo for p in ports)


def test_demo_starts_again_at_once(make_demo):
    """make run, a few requests that the gateway and the status server
    close themselves, Ctrl-C, make run again on the same ports: it
    starts (once it refused for a minute: "port ... is in use")."""
    ports = [harness.free_port() for _ in range(3)]
    port, sim_port, status_port = ports
    first = make_demo("first", ports)
    first.start()
    for p, path in ((port, "/"), (status_port, "/yibao/status")):
        for _ in range(20):
            closed_by_server(p, path)
            if until(lambda: time_wait(p), timeout=1.0):
                break
    assert "make run: stopped" in first.stop()
    assert time_wait(port) and time_wait(status_port)
    assert not plain_bind(port)

    second = make_demo("second", ports)
    banner = second.start()
    assert "127.0.0.1:%d" % port in banner
    assert closed_by_server(port) == 404
    assert "make run: stopped" in second.stop()


# ---------------------------------------------------------------------------
# unknown outcomes are resolved wherever a platform is configured
# ---------------------------------------------------------------------------

def directive(conf, name):
    """The arguments of the directive in nginx.conf, not in comments."""
    with open(conf, encoding="utf-8") as f:
        for line in f:
            words = line.split("#", 1)[0].replace(";", " ").split()
            if words and words[0] == name:
                return " ".join(words[1:])
    return None


@pytest.mark.parametrize("upstream,platform", [
    (None, "http://127.0.0.1:{sim}"),
    ("http://127.0.0.1:{port}", "http://127.0.0.1:{port}"),
    ("127.0.0.1:{port}", "http://127.0.0.1:{port}"),
    ("https://127.0.0.1:{port}", "https://127.0.0.1:{port} "
     "trusted_certificate=/etc/ssl/certs/ca-certificates.crt "
     "name=127.0.0.1"),
])
def test_rendered_config_resolves_by_query(make_stack, upstream, platform):
    """The configuration rendered from the template resolves unknown
    outcomes by a settlement query through the platform it proxies to,
    the simulator or another one (YIBAO_UPSTREAM once lost it)."""
    port = harness.free_port()
    stack = make_stack(start=False, upstream=upstream and upstream.format(
        port=port))
    conf = stack.path("nginx.conf")
    assert directive(conf, "yibao_journal_resolve") == \
        harness.yibao_stack.DEFAULT_RESOLVE
    assert directive(conf, "yibao_journal_resolve").startswith("query ")
    assert directive(conf, "yibao_platform") == platform.format(
        port=port, sim=stack.sim_port)
    rc, out = stack.test_config()
    assert rc == 0, out


@pytest.mark.parametrize("resolve,says", [
    (None, "resolved by the gateway with a settlement query (5203) "
           "through http://127.0.0.1:{port} (yibao_journal_resolve query "
           "interval=5s after=30s attempts=20)"),
    ("reverse interval=2s", "resolved by the gateway with a reversal "
                            "(2601) through http://127.0.0.1:{port} "
                            "(yibao_journal_resolve reverse interval=2s)"),
    ("off", "off: unknown settlements are left to the operators"),
])
def test_demo_says_what_is_configured(make_demo, resolve, says):
    """make run in front of another platform (YIBAO_UPSTREAM) resolves
    unknown settlements as the simulator's demo does, and what it prints
    is what its nginx.conf holds."""
    port = harness.free_port()      # nothing listens: not asked here
    env = {"YIBAO_UPSTREAM": "http://127.0.0.1:%d" % port}
    if resolve:
        env["YIBAO_RESOLVE"] = resolve
    demo = make_demo(**env)
    banner = " ".join(demo.start().split())
    assert says.format(port=port) in banner, banner
    assert "sign-in off: the callers sign in (9001) themselves" in banner
    conf = os.path.join(demo.workdir, "nginx.conf")
    want = {None: "query interval=5s after=30s attempts=20"}.get(
        resolve, resolve)
    assert directive(conf, "yibao_journal_resolve") == want
    assert directive(conf, "yibao_platform") == "http://127.0.0.1:%d" % port
    demo.stop()


def test_demo_in_front_of_another_platform_resolves(make_stack,
                                                    make_demo):
    """make run with YIBAO_UPSTREAM: a 2207 whose answer the platform
    loses is resolved by the gateway's 5203 through that platform; the
    clinic's retry gets the settlement."""
    platform = make_stack(start=False)      # its simulator only
    platform.start_sim()
    demo = make_demo(YIBAO_UPSTREAM=platform.sim_url,
                     YIBAO_RESOLVE="query interval=1s after=2s attempts=20")
    demo.start()
    # the demo's gateway in front of that platform
    gateway = SimpleNamespace(url="http://127.0.0.1:%d" % demo.port,
                              sim_url=platform.sim_url)

    steps, envs = flow_until(gateway, township_clinic(platform),
                             fault={"mode": "drop_after_act"})
    assert_rejected(steps[-1][1], steps[-1][2], 502, 6010, "UNKNOWN")

    record = resolved(gateway, envs["2207"]["msgid"], "ok")
    assert record["resolved_by"] == "gateway:5203"
    assert record["setl_id"] == settled(platform)[0]["setl_id"]
    assert len(sent(platform, "2207")) == 1
    assert sent(platform, "5203")
    r = client.post(gateway.url, CALLER, SECRET, envs["2207"])
    assert r.status == 200 and r.headers["X-Yibao-Replay"] == "1", r.body
    assert journal(gateway, state="unknown") == []
    assert "make run: stopped" in demo.stop()


def test_demo_audits_fee_lines(make_demo):
    """make run audits with the demo's rules and lists (and, with the
    simulator, its 3101): a 2204 charging 一般诊疗费 with 诊查费 is
    refused (YB4010); YIBAO_AUDIT=off leaves the audit out."""
    ports = [harness.free_port() for _ in range(3)]
    demo = make_demo("audit", ports)
    banner = " ".join(demo.start().split())
    assert "2204 and 2206 fee lines checked by" in banner, banner
    conf = os.path.join(demo.workdir, "nginx.conf")
    rules, key = directive(conf, "yibao_audit_rules").split()
    assert rules.endswith("conf/demo/audit/rules.tsv")
    # the history key, made by the demo's setup: root's only
    assert key == "history_key=data/audit-history.key"
    st = os.stat(os.path.join(demo.workdir, "data", "audit-history.key"))
    assert st.st_mode & 0o077 == 0
    assert directive(conf, "yibao_audit") == "on"
    assert directive(conf, "yibao_audit_platform").startswith(
        "on=2204 infno=3101")
    # the platform's audit with the shipped mapping of the visit to 3101
    assert directive(conf, "yibao_audit_platform").split()[-1].endswith(
        "/conf/audit-3101.tsv")

    callers = harness.yibao_stack.read_tsv(
        os.path.join(demo.workdir, "data", "callers.tsv"))
    clinic = next(c for c in harness.yibao_stack.read_tsv(
        os.path.join(demo.workdir, "data", "clinics.tsv"))
        if c[3] == "township")
    steps = client.outpatient_flow(
        "http://127.0.0.1:%d" % ports[0], callers[0][0], callers[0][1],
        clinic[0], clinic[1], clinic[2], fee_lines=[
            {"med_list_codg": "001101000010000",
             "medins_list_codg": "001101000010000", "cnt": 1, "pric": 10.0},
            {"med_list_codg": "001102000010000",
             "medins_list_codg": "001102000010000", "cnt": 1, "pric": 10.0}])
    infno, status, body = steps[-1]
    assert (infno, status) == ("2204", 422), steps[-1]
    assert body["err_msg"].startswith("YB4010 ")
    assert body["output"]["yb_audit"][0]["rule_id"] == "YB-L01"
    assert "make run: stopped" in demo.stop()

    off = make_demo("audit-off", YIBAO_AUDIT="off")
    assert "audit off (YIBAO_AUDIT=off)" in " ".join(off.start().split())
    assert directive(os.path.join(off.workdir, "nginx.conf"),
                     "yibao_audit_rules") is None
    off.stop()
