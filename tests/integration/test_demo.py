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

import pytest

import harness

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
