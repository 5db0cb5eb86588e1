"""Start and stop a gateway stack: the platform simulator and nginx with
the yibao module, rendered from conf/gateway.conf.template.

One piece of code for `make run` (tools/run-demo.py) and for the
integration tests (tests/integration/harness.py).  Standard library only.
"""

import datetime
import os
import random
import shutil
import signal
import socket
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "conf", "gateway.conf.template")
DEMO_DATA = os.path.join(ROOT, "conf", "demo")
TRANSLATE_RULES = os.path.join(ROOT, "conf", "translate-rules.tsv")
MODULE = os.path.join(ROOT, "build", "ngx_http_yibao_module.so")
SIMULATOR = os.path.join(ROOT, "tools", "yibao_sim.py")
PYTHON = "/usr/bin/python3"

SCHEMES = ("csb", "tif", "zj-sm3", "none")

# YIBAO_VALGRIND=1: every gateway runs under valgrind memcheck, one
# process (master_process off); make memcheck, docs/memcheck.md
VALGRIND_SUPP = os.path.join(ROOT, "tests", "valgrind.supp")
VALGRIND_ERROR_EXIT = 99


def valgrind_cmd(log_pattern):
    return ["valgrind", "--tool=memcheck", "--error-exitcode=%d"
            % VALGRIND_ERROR_EXIT, "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "--show-leak-kinds=definite,indirect,possible",
            "--num-callers=30",
            "--keep-debuginfo=yes",
            "--suppressions=" + VALGRIND_SUPP, "--log-file=" + log_pattern]


def valgrind_env():
    return os.environ.get("YIBAO_VALGRIND", "") not in ("", "0")


def hang_guard(valgrind):
    """Seconds that only guard a wait for a state against a hang: a
    loaded machine, or valgrind, may take long to get there."""
    return 600.0 if valgrind else 120.0


# what an https platform is verified against when no CA is named
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"


_HANDED_OUT = set()

# an nginx process's change of state of its Redis connection, in the
# error log (module/ngx_http_yibao_redis.c; pid, "up" or "down")
REDIS_STATE = re.compile(r"\] (\d+)#\d+: yibao: redis .* is (up|down)\b")


# the lowest port free_port() hands out
FREE_PORT_MIN = 10000


def ephemeral_range():
    """The kernel's range of ephemeral ports: the local ports of
    outgoing connections (and of bind to port 0)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now, and
    that this process has not handed out before (a stack's gateway and
    status servers on one port would answer each other's requests),
    below the kernel's ephemeral range: there any outgoing connection,
    of any process, may take the port as its own before the server
    binds it (nginx then logs [emerg] bind() ... Address already in
    use).  Chosen at random, so that test runs beside each other seldom
    pick the same."""
    lo = max(ephemeral_range()[0], FREE_PORT_MIN + 1000)
    for _ in range(1000):
        port = random.randrange(FREE_PORT_MIN, lo)
        if port not in _HANDED_OUT and port_bindable(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free port below %d" % lo)


def port_bindable(port, host="127.0.0.1"):
    """Whether a server can listen on host:port now, as nginx, Redis and
    the simulator would: with SO_REUSEADDR, so that the connections of a
    server just stopped (TIME_WAIT) do not count, and a socket listening
    there does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def wait_port(port, timeout=10.0, proc=None, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited with %s before listening on %d"
                               % (what, proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on port %d within %.0f s"
                       % (what, port, timeout))


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not line or line.startswith("#"):
                continue
            rows.append(line.split("\t"))
    return rows


def epoch(text):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return str(int(t.timestamp()))


def institutions(clinics_path, keys_path):
    """The platform's view of the registry: one row per key of each
    contracting entity, fixmedins_code name admdvs ak sk, and for a key
    with times its valid_from and valid_to in seconds."""
    keys = {}
    for r in read_tsv(keys_path):
        times = [epoch(r[3]), epoch(r[4])] if len(r) == 5 else []
        keys.setdefault(r[0], []).append([r[1], r[2]] + times)
    entities = {}
    for row in read_tsv(clinics_path):
        name, admdvs, mode, code, ename, key = row[1:7]
        if mode == "own" or code not in entities:
            entities[code] = (ename, admdvs, keys[key])
    return [[code, ename, admdvs] + k
            for code, (ename, admdvs, ks) in sorted(entities.items())
            for k in ks]


def upstream_tls_lines(ca, name):
    """The proxy_ssl_* lines for an https platform.  Verification is
    always on: there is deliberately no way to render it off."""
    return "\n".join("            " + line for line in (
        "proxy_ssl_verify on;",
        "proxy_ssl_verify_depth 2;",
        "proxy_ssl_protocols TLSv1.2 TLSv1.3;",
        "proxy_ssl_trusted_certificate %s;" % ca,
        "proxy_ssl_name %s;" % name,
        "proxy_ssl_server_name on;",
        "proxy_ssl_session_reuse on;")) + "\n"


def listen_tls_lines(cert, key, client_ca=None, verify_client=None):
    """The ssl_* lines of a gateway listening with TLS; with client_ca,
    callers may present a certificate (yibao_auth mtls)."""
    lines = ["ssl_certificate %s;" % cert,
             "ssl_certificate_key %s;" % key,
             "ssl_protocols TLSv1.2 TLSv1.3;"]
    if client_ca:
        lines += ["ssl_client_certificate %s;" % client_ca,
                  "ssl_verify_client %s;" % (verify_client or "optional_no_ca")]
    return "\n".join("        " + line for line in lines) + "\n"


class Redis:
    """A real redis-server on a free loopback port; without persistence,
    or with persist="aof" (appendfsync always), "aof-everysec" (the AOF
    written to disk every second; `make run`'s) or "rdb" (a snapshot at
    shutdown and every second with a change).  The data stays in
    workdir."""

    PERSIST = {None: ["--save", "", "--appendonly", "no"],
               "aof": ["--save", "", "--appendonly", "yes",
                       "--appendfsync", "always"],
               "aof-everysec": ["--save", "", "--appendonly", "yes",
                                "--appendfsync", "everysec"],
               "rdb": ["--save", "1 1", "--appendonly", "no"]}

    def __init__(self, workdir, port=None, persist=None, args=()):
        self.workdir = os.path.abspath(workdir)
        self.port = port or free_port()
        self.persist = persist
        self.args = list(args)      # more redis-server options
        self.proc = None

    def command(self):
        return (["redis-server", "--port", str(self.port), "--bind",
                 "127.0.0.1"] + self.PERSIST[self.persist]
                + ["--dir", self.workdir, "--daemonize", "no"] + self.args)

    def start(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.log = open(os.path.join(self.workdir, "redis.log"), "a")
        self.proc = subprocess.Popen(
            self.command(), stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc, what="redis-server")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self):
        """SIGKILL: what it had not written is lost."""
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def restart(self):
        self.stop()
        return self.start()


class Sentinel(Redis):
    """A real Redis Sentinel (redis-server --sentinel) on a free loopback
    port, watching the master NAME at 127.0.0.1:master_port."""

    def __init__(self, workdir, master_port, name="mymaster", port=None,
                 quorum=1, down_after_ms=1000):
        super().__init__(workdir, port)
        self.name = name
        self.master_port = master_port
        self.quorum = quorum
        self.down_after_ms = down_after_ms

    def command(self):
        # Sentinel rewrites its configuration file: one of its own
        conf = os.path.join(self.workdir, "sentinel.conf")
        if not os.path.exists(conf):
            with open(conf, "w") as f:
                f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                        "sentinel monitor %s 127.0.0.1 %d %d\n"
                        "sentinel down-after-milliseconds %s %d\n"
                        "sentinel failover-timeout %s 10000\n"
                        % (self.port, self.workdir, self.name,
                           self.master_port, self.quorum, self.name,
                           self.down_after_ms, self.name))
        return ["redis-server", conf, "--sentinel"]


DEFAULT_LIMITS = (
    "yibao_limit name=entity-quota by=entity rate=6000r/m burst=600;",
    "yibao_limit name=clinic by=clinic rate=1200r/m burst=300;",
)


# unknown outcomes resolved by a settlement query (5203: it only reads)
# through the platform the gateway proxies to; a reversal (2601) is an
# operator's choice
DEFAULT_RESOLVE = "query interval=30s after=60s attempts=10"


DEFAULT_CACHES = (
    "yibao_cache infno=1201,1301-1319,1901,5101,5102 ttl=1h stale=24h;",
)


def render(path, values):
    """The template with every ${name} replaced; nginx's own $variables
    are left alone.  An unknown name is an error."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), text)


class Stack:
    """A simulator and an nginx gateway in one working directory.

    scheme: csb | tif | zj-sm3 | none; route: ("single", path) |
    ("prefix", prefix) | ("table", {infno: path}).  upstream: host:port
    of another platform (then no simulator is started).  The *_extra
    strings are inserted into the nginx configuration as they are.

    upstream_tls: dict(ca=, cert=, key=, name="localhost"): the
    simulator serves HTTPS with cert/key and nginx verifies it against
    ca and name (always: proxy_ssl_verify on).  For an external
    https://host:port upstream, ca defaults to the system's CA bundle
    and name to host.
    listen_tls: dict(cert=, key=, client_ca=None, verify_client=
    "optional_no_ca"): the gateway listens with TLS; with client_ca callers
    may present certificates (for yibao_auth mtls, in location_extra).

    resolve: yibao_journal_resolve's arguments (DEFAULT_RESOLVE; "off").
    platform: yibao_platform's arguments; "auto" (the default): the
    platform of proxy_pass, the simulator or the external upstream, with
    the same TLS verification; None: no yibao_platform.
    """

    def __init__(self, workdir, scheme="csb", route=None, data_dir=None,
                 listen=None, upstream=None, workers=2, log_level="info",
                 read_timeout="10s", csb_api_version="1.0.0",
                 csb_api_name_prefix="", http_extra="", server_extra="",
                 location_extra="", sim_args=(), module=None,
                 sim_port=None, translate=True, upstream_tls=None,
                 listen_tls=None, redis=None, redis_options="",
                 redis_address=None,
                 limits=DEFAULT_LIMITS, status_port=None,
                 caches=DEFAULT_CACHES, zone="16m", journal="ttl=7d",
                 valgrind=None, nginx_bin="nginx",
                 ignore_client_abort="on", resolve=DEFAULT_RESOLVE,
                 platform="auto", coverage_zone="16m"):
        if scheme not in SCHEMES:
            raise ValueError("scheme must be one of %s" % (SCHEMES,))
        self.workdir = os.path.abspath(workdir)
        self.scheme = scheme
        self.route = route or ("single",
                               "/fsi/api/rsfComIfsService/callService")
        self.data_dir = data_dir or DEMO_DATA
        self.port = listen or free_port()
        self.status_port = status_port or free_port()
        self.external_upstream = upstream
        self.sim_port = None if upstream else (sim_port or free_port())
        self.translate = translate
        self.redis = redis            # a Redis (started by the caller)
        self.redis_options = redis_options
        self.redis_address = redis_address  # e.g. "sentinel:mymaster"
        self.limits = limits
        self.caches = caches
        self.zone = zone              # yibao_zone's arguments
        self.journal = journal        # yibao_journal's arguments
        self.resolve = resolve or "off"
        self.platform = platform
        self.coverage_zone = coverage_zone  # yibao_coverage_zone's size
        self.valgrind = valgrind_env() if valgrind is None else valgrind
        self.nginx_bin = nginx_bin    # a full path for a binary upgrade
        self.start_timeout = 90.0 if self.valgrind else 10.0
        self.workers = workers
        self.log_level = log_level
        self.read_timeout = read_timeout
        self.csb_api_version = csb_api_version
        self.csb_api_name_prefix = csb_api_name_prefix
        self.http_extra = http_extra
        self.server_extra = server_extra
        self.location_extra = location_extra
        # "off" only to test what the journal does when nginx cuts the
        # exchange of a caller that left
        self.ignore_client_abort = ignore_client_abort
        self.sim_args = list(sim_args)
        self.module = module or MODULE
        self.upstream_tls = dict(upstream_tls) if upstream_tls else None
        self.listen_tls = dict(listen_tls) if listen_tls else None
        if self.upstream_tls and not upstream:
            for k in ("ca", "cert", "key"):
                if not self.upstream_tls.get(k):
                    raise ValueError("upstream_tls needs %s for the "
                                     "simulator" % k)
        self.sim = None
        self.nginx = None
        self.sim_log = None

    # paths

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.listen_tls else "http",
                                      self.port)

    @property
    def status_url(self):
        """The status server (yibao_status, yibao_metrics, the page)."""
        return "http://127.0.0.1:%d" % self.status_port

    @property
    def sim_url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.upstream_tls
                                      else "http", self.sim_port)

    @property
    def error_log(self):
        return self.path("logs", "error.log")

    @property
    def access_log(self):
        return self.path("logs", "access.log")

    # files

    def write_files(self):
        for d in ("", "logs", "tmp", "data"):
            os.makedirs(self.path(d), exist_ok=True)
        for name in ("keys.tsv", "clinics.tsv", "callers.tsv"):
            dst = self.path("data", name)
            shutil.copyfile(os.path.join(self.data_dir, name), dst)
            os.chmod(dst, 0o600 if name != "clinics.tsv" else 0o644)

        # the fee-line audit's history key (yibao_audit_rules
        # history_key=data/audit-history.key, docs/security.md): made
        # once, kept across restarts of the same folder
        key = self.path("data", "audit-history.key")
        if not os.path.exists(key):
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(os.urandom(32).hex() + "\n")

        # mapping tables: the data set's own, else the demo's
        maps = os.path.join(self.data_dir, "mappings")
        if not os.path.isdir(maps):
            maps = os.path.join(DEMO_DATA, "mappings")
        shutil.rmtree(self.path("data", "mappings"), ignore_errors=True)
        shutil.copytree(maps, self.path("data", "mappings"))
        shutil.copyfile(TRANSLATE_RULES, self.path("data",
                                                   "translate-rules.tsv"))
        with open(self.path("data", "institutions.tsv"), "w",
                  encoding="utf-8") as f:
            f.write("# fixmedins_code\tname\tadmdvs\tak\tsk\n")
            for row in institutions(self.path("data", "clinics.tsv"),
                                    self.path("data", "keys.tsv")):
                f.write("\t".join(row) + "\n")
        os.chmod(self.path("data", "institutions.tsv"), 0o600)

        kind, arg = self.route
        if kind == "table":
            with open(self.path("data", "routes.tsv"), "w") as f:
                for infno, p in sorted(arg.items()):
                    f.write("%s\t%s\n" % (infno, p))
            route = "table %s" % self.path("data", "routes.tsv")
        else:
            route = "%s %s" % (kind, arg)

        sign = self.scheme
        if self.scheme == "csb":
            sign = "csb api_version=%s" % self.csb_api_version
            if self.csb_api_name_prefix:
                sign += " api_name_prefix=%s" % self.csb_api_name_prefix

        upstream = self.external_upstream or "127.0.0.1:%d" % self.sim_port
        scheme = "https" if self.upstream_tls else "http"
        if "://" in upstream:
            scheme, upstream = upstream.split("://", 1)
            upstream = upstream.rstrip("/")
        upstream_tls = ""
        platform = self.platform
        if platform == "auto":
            platform = "%s://%s" % (scheme, upstream)
        if scheme == "https":
            tls = self.upstream_tls or {}
            host = upstream.rsplit(":", 1)[0].strip("[]")
            ca = tls.get("ca") or SYSTEM_CA
            name = tls.get("name") or ("localhost" if self.sim_port
                                       else host)
            upstream_tls = upstream_tls_lines(ca, name)
            if self.platform == "auto":
                platform += " trusted_certificate=%s name=%s" % (ca, name)
        elif self.upstream_tls:
            raise ValueError("upstream_tls with a plain http upstream")

        listen = "127.0.0.1:%d" % self.port
        listen_tls = ""
        if self.listen_tls:
            listen += " ssl"
            listen_tls = listen_tls_lines(**self.listen_tls)

        conf = render(TEMPLATE, dict(
            module=self.module,
            user_line="user root;" if os.geteuid() == 0 else "",
            workers=self.workers,
            master_process="off" if self.valgrind else "on",
            prefix=self.workdir,
            log_level=self.log_level,
            keys=self.path("data", "keys.tsv"),
            clinics=self.path("data", "clinics.tsv"),
            callers=self.path("data", "callers.tsv"),
            http_extra=self.http_extra,
            server_extra=self.server_extra,
            location_extra=self.location_extra,
            resolve=self.resolve,
            platform=("            yibao_platform %s;" % platform
                      if platform else ""),
            upstream=upstream,
            upstream_scheme=scheme,
            upstream_tls=upstream_tls,
            listen=listen,
            listen_tls=listen_tls,
            status_listen="127.0.0.1:%d" % self.status_port,
            sign=sign,
            route=route,
            mappings=" ".join(sorted(
                os.path.join(self.path("data", "mappings"), f)
                for f in os.listdir(self.path("data", "mappings"))
                if f.endswith(".tsv"))),
            translate_rules=self.path("data", "translate-rules.tsv"),
            translate="on" if self.translate else "off",
            redis=("    yibao_redis %s %s;"
                   % (self.redis_address
                      or "127.0.0.1:%d" % self.redis.port,
                      self.redis_options)
                   if self.redis or self.redis_address else ""),
            limits="\n".join("    " + line for line in self.limits),
            caches="\n".join("    " + line for line in self.caches),
            zone=self.zone,
            coverage_zone=self.coverage_zone,
            journal=self.journal,
            ignore_client_abort=self.ignore_client_abort,
            read_timeout=self.read_timeout))
        with open(self.path("nginx.conf"), "w", encoding="utf-8") as f:
            f.write(conf)
        return self.path("nginx.conf")

    def sim_route_arg(self):
        kind, arg = self.route
        if kind == "table":
            return "table:" + self.path("data", "routes.tsv")
        return "%s:%s" % (kind, arg)

    # processes

    def start_sim(self):
        if self.external_upstream:
            return
        self.sim_log = open(self.path("logs", "sim.log"), "a")
        cmd = [PYTHON, SIMULATOR, "--host", "127.0.0.1",
               "--port", str(self.sim_port), "--scheme", self.scheme,
               "--institutions", self.path("data", "institutions.tsv"),
               "--route", self.sim_route_arg(),
               "--csb-api-version", self.csb_api_version,
               "--csb-api-name-prefix", self.csb_api_name_prefix]
        if self.upstream_tls:
            cmd += ["--tls-cert", self.upstream_tls["cert"],
                    "--tls-key", self.upstream_tls["key"]]
        cmd += self.sim_args
        self.sim = subprocess.Popen(cmd, stdout=self.sim_log,
                                    stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        wait_port(self.sim_port, proc=self.sim, what="simulator")

    def stop_sim(self, sig=signal.SIGTERM):
        """The platform goes away (SIGTERM: it saves its --state-file
        first); start_sim() brings it back on the same port."""
        if self.sim is not None and self.sim.poll() is None:
            self.sim.send_signal(sig)
            self.sim.wait(timeout=10)
        self.sim = None

    def nginx_cmd(self, *extra):
        return [self.nginx_bin, "-p", self.workdir, "-c",
                self.path("nginx.conf"), "-e", self.error_log] + list(extra)

    @property
    def valgrind_logs(self):
        d = self.path("logs")
        return sorted(os.path.join(d, f) for f in os.listdir(d)
                      if f.startswith("valgrind.") and f.endswith(".log"))

    def test_config(self):
        """nginx -t: (exit code, output)."""
        cmd = self.nginx_cmd("-t")
        cmd[cmd.index("-e") + 1] = self.path("logs", "nginx-t.log")
        p = subprocess.run(cmd, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr

    def start_nginx(self):
        """Starts nginx; returns once every worker has started (the
        master listens before it forks them) and, with a running Redis,
        is connected to it (wait_redis)."""
        since = self.error_log_size()
        self.nginx_out = open(self.path("logs", "nginx.out"), "w")
        cmd = self.nginx_cmd()
        if self.valgrind:
            cmd = valgrind_cmd(self.path("logs", "valgrind.%p.log")) + cmd
        self.nginx = subprocess.Popen(cmd, stdout=self.nginx_out,
                                      stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        wait_port(self.port, proc=self.nginx, what="nginx",
                  timeout=self.start_timeout)
        if self.valgrind:
            wait_port(self.status_port, proc=self.nginx, what="nginx",
                      timeout=self.start_timeout)
        self.wait_workers()
        if self.redis is not None and self.redis.running():
            self.wait_redis(since)

    def error_log_size(self):
        """The error log's length now: an offset for wait_redis()."""
        try:
            return os.path.getsize(self.error_log)
        except OSError:
            return 0

    def serving_pids(self):
        """The nginx processes that take requests: the workers (not
        those shutting down after a reload), or under valgrind the one
        process (master_process off)."""
        if self.valgrind:
            return [self.nginx.pid] if self.nginx is not None else []
        try:
            master = self.nginx.pid if self.nginx is not None \
                else self.master_pid()
        except (OSError, ValueError):
            return []
        return self.worker_pids(master, serving=True)

    def wait_workers(self, timeout=None):
        """Waits until all worker processes serve (under valgrind there
        is one process)."""
        timeout = timeout or hang_guard(self.valgrind)
        want = 1 if self.valgrind else self.workers
        deadline = time.monotonic() + timeout
        while len(self.serving_pids()) != want:
            if self.nginx is not None and self.nginx.poll() is not None:
                raise RuntimeError("nginx exited with %s"
                                   % self.nginx.returncode)
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start its %d workers "
                                   "within %.0f s" % (want, timeout))
            time.sleep(0.05)

    def redis_states(self, since=0):
        """{pid: "up" or "down"}: each nginx process's last word about its
        Redis connection after byte offset since of the error log (the
        module logs each change of state once, per process: "yibao:
        redis ... is up", "... is down (why)")."""
        state = {}
        try:
            with open(self.error_log, "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return state
        for m in REDIS_STATE.finditer(text):
            state[int(m.group(1))] = m.group(2)
        return state

    def wait_redis(self, since=0, state="up", timeout=None):
        """Waits until every serving process is connected to Redis (or
        with state="down": has lost its connection), by its notice after
        byte offset since of the error log.  A worker takes requests at
        once but connects a moment later (docs/operations.md, "What
        survives a restart"); after a Redis stop or restart, pass the
        offset from before it."""
        timeout = timeout or hang_guard(self.valgrind)
        want = 1 if self.valgrind else self.workers
        deadline = time.monotonic() + timeout
        while True:
            pids = self.serving_pids()
            states = self.redis_states(since)
            if len(pids) == want and all(states.get(p) == state
                                         for p in pids):
                return
            if self.nginx is not None and self.nginx.poll() is not None:
                raise RuntimeError("nginx exited with %s"
                                   % self.nginx.returncode)
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "nginx's processes %s were not all %s with Redis "
                    "within %.0f s (%s; see %s)"
                    % (pids, state, timeout, states, self.error_log))
            time.sleep(0.05)

    def master_pid(self):
        """The pid in nginx.pid (after a binary upgrade: the new
        master's)."""
        with open(self.path("nginx.pid")) as f:
            return int(f.read().strip())

    def worker_pids(self, master=None, serving=False):
        """The worker processes of the master (its children that are
        nginx); serving: not those shutting down."""
        master = master or self.master_pid()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master and b"worker process" in cmdline \
                    and not (serving and b"shutting down" in cmdline):
                out.append(int(d))
        return sorted(out)

    def reload(self):
        self.nginx.send_signal(signal.SIGHUP)

    def start(self):
        self.write_files()
        self.start_sim()
        try:
            self.start_nginx()
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        for proc, sig in ((self.nginx, signal.SIGQUIT),
                          (self.sim, signal.SIGTERM)):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(sig)
            try:
                if self.valgrind and proc is self.nginx:
                    self._quit_single_process(proc)
                # valgrind's leak check at exit takes a while
                proc.wait(timeout=120 if self.valgrind else 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.nginx = None
        self.sim = None
        if self.sim_log:
            self.sim_log.close()
            self.sim_log = None

    def _quit_single_process(self, proc):
        """With master_process off, nginx checks for SIGQUIT only when
        epoll_wait returns: a signal handled while it was busy leaves it
        waiting for its next event or timer, maybe forever.  Send SIGQUIT
        again until the error log says "exit" (then the leak check runs,
        and must not be interrupted)."""
        def exiting():
            try:
                with open(self.error_log, encoding="utf-8",
                          errors="replace") as f:
                    return re.search(r"#\d+: exit$", f.read(), re.M)
            except OSError:
                return False

        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            time.sleep(2)
            if proc.poll() is not None or exiting():
                return
            proc.send_signal(signal.SIGQUIT)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    sys.exit("use tools/run-demo.py or the integration tests")
