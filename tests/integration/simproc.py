"""Run tools/yibao_sim.py as a subprocess and talk to it directly.

    with SimProcess(tmpdir, scheme="tif") as sim:
        r = sim.send(envelope)            # signed for sim.scheme
        sim.control("POST", "/__sim/fault", {...})

Standard library only.
"""

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)

import yibao_client  # noqa: E402
import yibao_sim  # noqa: E402

PYTHON = "/usr/bin/python3"
SIMULATOR = os.path.join(TOOLS, "yibao_sim.py")
DEFAULT_PATH = "/fsi/api/rsfComIfsService/callService"

# fixmedins_code, name, admdvs, ak, sk
INSTITUTIONS = [
    ("H37010200001", "某村卫生室", "370102",
     "AKTEST000000000000000000000001", "SKTEST000000000000000000000001"),
    ("H37010200002", "某镇卫生院", "370102",
     "AKTEST000000000000000000000002", "SKTEST000000000000000000000002"),
    ("P37010200003", "某大药房", "370102",
     "AKTEST000000000000000000000003", "SKTEST000000000000000000000003"),
]


class SimProcess:
    def __init__(self, workdir, scheme="csb", route=None,
                 institutions=INSTITUTIONS, extra_args=(),
                 csb_api_version="1.0.0", csb_api_name_prefix=""):
        self.workdir = str(workdir)
        self.scheme = scheme
        self.route = route or "single:" + DEFAULT_PATH
        self.institutions = institutions
        self.extra_args = list(extra_args)
        self.csb_api_version = csb_api_version
        self.csb_api_name_prefix = csb_api_name_prefix
        self.proc = None
        self.port = None
        self.inst = {i[0]: i for i in institutions}

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        path = os.path.join(self.workdir, "institutions-%s.tsv"
                            % self.scheme)
        with open(path, "w", encoding="utf-8") as f:
            f.write("# fixmedins_code\tname\tadmdvs\tak\tsk\n")
            for row in self.institutions:
                f.write("\t".join(row) + "\n")
        cmd = [PYTHON, SIMULATOR, "--host", "127.0.0.1", "--port", "0",
               "--scheme", self.scheme, "--institutions", path,
               "--route", self.route,
               "--csb-api-version", self.csb_api_version,
               "--csb-api-name-prefix", self.csb_api_name_prefix]
        cmd += self.extra_args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("yibao-sim listening on http://"):
            self.proc.kill()
            err = self.proc.stderr.read()
            raise RuntimeError("simulator did not start: %r %s"
                               % (line, err))
        self.port = int(line.split()[3].rsplit(":", 1)[1])
        return self

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ talking

    def sign(self, body, infno, code="H37010200001", **kw):
        """Upstream headers for the institution code (its AK/SK)."""
        _, _, _, ak, sk = self.inst[code]
        kw.setdefault("api_version", self.csb_api_version)
        kw.setdefault("api_name_prefix", self.csb_api_name_prefix)
        return yibao_sim.upstream_headers(self.scheme, ak, sk, body, infno,
                                          **kw)

    def send(self, envelope, path=None, headers=None, code=None,
             timeout=10, content_type="application/json", **sign_kw):
        """POSTs an envelope (dict) or bytes signed as the simulator's
        scheme requires.  headers (if given) replace the signing headers;
        code picks whose key signs (default: the envelope's
        fixmedins_code)."""
        if isinstance(envelope, (bytes, bytearray)):
            body = bytes(envelope)
            try:
                env = json.loads(body)
            except ValueError:
                env = {}
        else:
            body = yibao_client.encode(envelope)
            env = envelope
        if not isinstance(env, dict):
            env = {}
        infno = env.get("infno") if isinstance(env.get("infno"), str) \
            else "0000"
        if path is None:
            path = self.path_for(infno)
        if headers is None:
            signer = code or env.get("fixmedins_code") or "H37010200001"
            if signer not in self.inst:
                signer = "H37010200001"
            headers = self.sign(body, infno, signer, **sign_kw)
        headers = dict(headers)
        if content_type is not None:
            headers.setdefault("Content-Type", content_type)
        return yibao_client.post(self.url, None, None, body, path=path,
                                 timeout=timeout, extra_headers=headers)

    def path_for(self, infno):
        kind, _, arg = self.route.partition(":")
        if kind == "single":
            return arg
        if kind == "prefix":
            return arg + infno
        with open(arg, encoding="utf-8") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) == 2 and cols[0] == infno:
                    return cols[1]
        return "/unrouted/" + infno

    def control(self, method, path, payload=None, timeout=10):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method,
                                     headers={"Content-Type":
                                              "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return {"http_status": e.code, **json.loads(e.read())}

    def fault(self, infno, mode, count=1, **kw):
        return self.control("POST", "/__sim/fault",
                            dict(infno=infno, mode=mode, count=count, **kw))

    def settlements(self):
        return self.control("GET", "/__sim/settlements")

    def requests(self, n=50):
        return self.control("GET", "/__sim/requests?n=%d" % n)["requests"]

    def stats(self):
        return self.control("GET", "/__sim/stats")

    def reset(self):
        return self.control("POST", "/__sim/reset")

    def flow(self, code="H37010200001", **kw):
        """outpatient_flow straight against the simulator."""
        c = self.inst[code]
        return yibao_client.outpatient_flow(
            None, None, None, c[0], c[1], c[2],
            send=lambda env: self.send(env), **kw)
