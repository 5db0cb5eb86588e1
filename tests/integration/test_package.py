"""The Debian packages, as an operator installs them (docs/deployment.md).

`make deb`'s packages are installed with dpkg -i into this machine's
Debian nginx; the site is enabled and `nginx -t` checks the whole
installed configuration; the system's nginx binary then runs Debian's
nginx.conf with the packaged site, edited the way the operator edits
it (the platform's address, the ports; its logs in the test's folder),
in front of the simulator: a whole outpatient visit is sent with the
installed yibao-client and read back with the installed yibao-trace
and yibao-journal.  Then the packages are purged: nothing of them may be
left, and Debian's nginx must still pass `nginx -t`.

Root only (dpkg).  A running system nginx is not touched: the test's
nginx has its own pid file, error log and ports; dpkg's nginx-reload
trigger reloads a running system nginx as it does for any module.
"""

import fcntl
import grp
import http.client
import json
import os
import pwd
import re
import signal
import stat
import subprocess
import time

import pytest

import harness
from harness import ROOT, free_port, yibao_stack

PACKAGES = ("libnginx-mod-http-yibao", "yibao-tools", "yibao-gateway")
DEB_DIR = os.path.join(ROOT, "build", "deb")
NGINX = "/usr/sbin/nginx"
SITE = "/etc/nginx/sites-available/yibao-gateway"
SITE_LINK = "/etc/nginx/sites-enabled/yibao-gateway"
MOD_LINK = "/etc/nginx/modules-enabled/50-mod-http-yibao.conf"
MOD_CONF = "/usr/share/nginx/modules-available/mod-http-yibao.conf"
ABI_FILE = "/usr/share/nginx/src/debian/libnginx-mod.abisubstvars"
# one package test at a time on a machine (dpkg state is the machine's)
LOCK = "/tmp/yibao-test-package.lock"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="installs Debian packages: run as root")


def run(cmd, check=True, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, **kw)
    if check and p.returncode != 0:
        pytest.fail("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode,
                                           p.stdout, p.stderr))
    return p


def dpkg(*args):
    """dpkg, waiting while another dpkg or apt holds its lock."""
    for _ in range(300):
        p = run(["dpkg"] + list(args), check=False)
        if p.returncode == 0 or "lock" not in p.stderr:
            break
        time.sleep(1)
    if p.returncode != 0:
        pytest.fail("dpkg %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                p.stdout, p.stderr))
    return p


def status(package):
    p = run(["dpkg-query", "-W", "-f=${Status}", package], check=False)
    return p.stdout.strip() if p.returncode == 0 else "not-installed"


def present(package):
    """Installed, or removed with its configuration files left."""
    return status(package).split(" ")[-1] not in ("not-installed", "")


def system_nginx_t():
    """`nginx -t` of the machine's own configuration."""
    return run([NGINX, "-t"], check=False)


def purge_all():
    if os.path.islink(SITE_LINK) and not os.path.exists(SITE):
        os.unlink(SITE_LINK)
    left = [p for p in reversed(PACKAGES) if present(p)]
    if left:
        dpkg("--purge", *left)


@pytest.fixture
def installed():
    """The packages installed for the test, purged whatever happens."""
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        p = run(["make", "-s", "-C", ROOT, "deb"], check=False)
        assert p.returncode == 0, "make deb failed:\n" + p.stdout + p.stderr
        debs = {}
        for name in PACKAGES:
            found = [f for f in os.listdir(DEB_DIR)
                     if f.startswith(name + "_") and f.endswith(".deb")]
            assert len(found) == 1, "make deb made no %s package" % name
            debs[name] = os.path.join(DEB_DIR, found[0])
        already = [p for p in PACKAGES if present(p)]
        if already:
            pytest.fail("%s already on this machine (a test aborted?): "
                        "dpkg --purge them first" % ", ".join(already))
        try:
            dpkg("-i", *debs.values())
            yield debs
        finally:
            purge_all()


def edit(text, old, new):
    """One of the operator's edits: the text must be there."""
    assert old in text, "the packaged configuration has no %r" % old
    return text.replace(old, new)


class Gateway:
    """Debian's nginx.conf and the packaged site, edited for the test's
    ports and folder, run by the system's nginx in front of the
    simulator."""

    def __init__(self, workdir):
        self.dir = workdir
        self.port = free_port()
        self.status_port = free_port()
        self.sim_port = free_port()
        self.logs = os.path.join(workdir, "logs")
        os.makedirs(self.logs)
        self.error_log = os.path.join(self.logs, "error.log")
        self.conf = os.path.join(workdir, "nginx.conf")
        self.nginx = self.sim = None

        with open(SITE, encoding="utf-8") as f:
            site = f.read()
        site = edit(site, "listen 8080;", "listen 127.0.0.1:%d;" % self.port)
        site = edit(site, "listen 127.0.0.1:8081;",
                    "listen 127.0.0.1:%d;" % self.status_port)
        site = edit(site, "server 127.0.0.1:9080;",
                    "server 127.0.0.1:%d;" % self.sim_port)
        site = edit(site, "yibao_platform http://127.0.0.1:9080;",
                    "yibao_platform http://127.0.0.1:%d;" % self.sim_port)
        site = edit(site, "/var/log/nginx/yibao/", self.logs + "/")
        # docs/deployment.md, "Metrics for insurance IT": Prometheus (here
        # 127.0.0.2) let in to the metrics, not to the rest
        site = edit(site, "location = /yibao/metrics {\n"
                          "        allow 127.0.0.1;\n",
                    "location = /yibao/metrics {\n"
                    "        allow 127.0.0.1;\n"
                    "        allow 127.0.0.2;\n")
        with open(os.path.join(workdir, "yibao-gateway"), "w") as f:
            f.write(site)

        with open("/etc/nginx/nginx.conf", encoding="utf-8") as f:
            conf = f.read()
        conf = edit(conf, "pid /run/nginx.pid;",
                    "pid %s/nginx.pid;" % workdir)
        conf = edit(conf, "error_log /var/log/nginx/error.log;",
                    "error_log %s info;" % self.error_log)
        conf = edit(conf, "access_log /var/log/nginx/access.log;",
                    "access_log %s/access.log;" % self.logs)
        conf = edit(conf, "include /etc/nginx/sites-enabled/*;",
                    "include %s/yibao-gateway;" % workdir)
        with open(self.conf, "w") as f:
            f.write(conf)

    def start(self):
        # the platform of the installed registry and keys
        inst = os.path.join(self.dir, "institutions.tsv")
        with open(inst, "w", encoding="utf-8") as f:
            for row in yibao_stack.institutions("/etc/yibao/clinics.tsv",
                                                "/etc/yibao/keys.tsv"):
                f.write("\t".join(row) + "\n")
        self.sim_out = open(os.path.join(self.logs, "sim.log"), "w")
        self.sim = subprocess.Popen(
            [yibao_stack.PYTHON, yibao_stack.SIMULATOR, "--port",
             str(self.sim_port), "--scheme", "csb", "--institutions", inst],
            stdout=self.sim_out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        yibao_stack.wait_port(self.sim_port, proc=self.sim, timeout=60,
                              what="simulator")

        cmd = [NGINX, "-c", self.conf, "-e", self.error_log]
        run(cmd + ["-t"])
        self.nginx_out = open(os.path.join(self.logs, "nginx.out"), "w")
        self.nginx = subprocess.Popen(cmd + ["-g", "daemon off;"],
                                      stdout=self.nginx_out,
                                      stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL)
        for port in (self.port, self.status_port):
            yibao_stack.wait_port(port, proc=self.nginx, timeout=60,
                                  what="nginx")
        return self

    def stop(self):
        for proc, sig in ((self.nginx, signal.SIGQUIT),
                          (self.sim, signal.SIGTERM)):
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(sig)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.nginx = self.sim = None


def get(port, path, source="127.0.0.1"):
    """(status, body) of a GET from the source address."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                   source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def package_files(name):
    return [p for p in run(["dpkg", "-L", name]).stdout.splitlines()
            if p.startswith("/") and p != "/."]


def test_packages_installed_flow_and_purge(installed, tmp_path):
    # the module: the nginx ABI it was built against, the libraries it
    # links, enabled by dh_nginx's postinst
    with open(ABI_FILE) as f:
        abi = re.search(r"^nginx:abi=(\S+)", f.read(), re.M).group(1)
    depends = run(["dpkg-deb", "-f", installed["libnginx-mod-http-yibao"],
                   "Depends"]).stdout
    for dep in (abi, "libjansson4", "libhiredis", "libsimdjson",
                "libssl3"):
        assert dep in depends, depends
    for name in PACKAGES:
        assert status(name) == "install ok installed", name
    assert os.readlink(MOD_LINK) == MOD_CONF
    with open(MOD_CONF) as f:
        assert f.read().strip() == \
            "load_module modules/ngx_http_yibao_module.so;"
    assert os.path.isfile("/usr/lib/nginx/modules/ngx_http_yibao_module.so")

    # the secrets: root's alone (nginx's master reads them)
    # (audit-history.key: made by postinst, yibao_audit_rules history_key=)
    for name, mode in (("keys.tsv", 0o600), ("callers.tsv", 0o600),
                       ("clinics.tsv", 0o644), ("audit-history.key", 0o600)):
        st = os.stat(os.path.join("/etc/yibao", name))
        assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == \
            (mode, 0, 0), name
    with open("/etc/yibao/audit-history.key") as f:
        assert re.fullmatch(r"[0-9a-f]{64}\n", f.read())
    for name in ("redis-journal.conf", "balancer.conf"):
        assert os.path.isfile(os.path.join("/usr/share/yibao-gateway", name))
    st = os.stat("/var/log/nginx/yibao")
    assert (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name) == (0o750, "root", "adm")

    # the site as installed: complete, no placeholder; enabled, Debian's
    # whole configuration passes nginx -t ...
    with open(SITE, encoding="utf-8") as f:
        site = f.read()
    assert "${" not in site and "@PREFIX@" not in site
    assert system_nginx_t().returncode == 0      # not enabled yet
    os.symlink("../sites-available/yibao-gateway", SITE_LINK)
    t = system_nginx_t()
    assert t.returncode == 0, t.stderr
    assert "test is successful" in t.stderr
    # ... and fails, naming the file, when a secret is readable by others
    os.chmod("/etc/yibao/keys.tsv", 0o644)
    try:
        t = system_nginx_t()
    finally:
        os.chmod("/etc/yibao/keys.tsv", 0o600)
    assert t.returncode != 0
    assert '"/etc/yibao/keys.tsv" holds secrets' in t.stderr, t.stderr

    # the tools: installed, with manual pages, the maptool beside them,
    # the module they share (yibao_api.py) found by each
    for tool in ("yibao-client", "yibao-trace", "yibao-journal",
                 "yibao-mappings", "yibao-coverage", "yibao-offline",
                 "yibao-keys"):
        assert os.path.isfile("/usr/share/man/man1/%s.1.gz" % tool)
        run(["/usr/bin/" + tool, "--help"])
    v = run(["/usr/bin/yibao-mappings", "validate", "/etc/yibao/mappings"],
            env=dict(os.environ, PATH="/usr/bin:/bin"))
    assert "drugs.tsv" in v.stdout, v.stdout
    # the packaged rotation goes with Debian's own (no duplicate entry)
    lr = run(["logrotate", "--debug", "/etc/logrotate.conf"], check=False)
    assert lr.returncode == 0, lr.stderr
    assert "/var/log/nginx/yibao/*.log" in lr.stderr
    assert not re.search(r"^error:", lr.stderr, re.M), lr.stderr

    # the system's nginx with the packaged configuration, in front of
    # the simulator: a whole visit with the installed client
    gw = Gateway(str(tmp_path))
    try:
        gw.start()
        callers = yibao_stack.read_tsv("/etc/yibao/callers.tsv")
        clinics = yibao_stack.read_tsv("/etc/yibao/clinics.tsv")
        clinic = next(c for c in clinics if c[3] == "township")
        flow = run(["/usr/bin/yibao-client", "--gateway",
                    "http://127.0.0.1:%d" % gw.port, "--caller",
                    callers[0][0], "--secret", callers[0][1], "flow",
                    "--clinic", clinic[0], "--name", clinic[1],
                    "--admdvs", clinic[2]], check=False)
        assert flow.returncode == 0, flow.stdout + flow.stderr
        infnos = [line.split()[0] for line in flow.stdout.splitlines()]
        assert infnos == ["9001", "1101", "2201", "2203", "2204", "2206",
                          "2207"], flow.stdout
        setl_id = re.search(r"setl_id=(\S+)", flow.stdout).group(1)
        mdtrt_id = re.search(r"mdtrt_id=(\S+)", flow.stdout).group(1)

        # the visit read back with the installed yibao-trace ...
        tr = run(["/usr/bin/yibao-trace", "--log", gw.logs, "--setl-id",
                  setl_id, "--json"])
        visits = json.loads(tr.stdout)["visits"]
        assert len(visits) == 1
        assert visits[0]["mdtrt_id"] == mdtrt_id
        assert setl_id in visits[0]["setl_ids"]
        assert visits[0]["clinic"] == clinic[0]
        assert [s["infno"] for s in visits[0]["steps"]] == infnos
        assert all(s["outcome"] == "ok" for s in visits[0]["steps"])
        # ... and the settlement in the journal, with yibao-journal
        jr = run(["/usr/bin/yibao-journal", "--url",
                  "http://127.0.0.1:%d/yibao/journal" % gw.port, "--json",
                  "find", "--setl-id", setl_id])
        assert '"2207"' in jr.stdout and '"ok"' in jr.stdout, jr.stdout

        # the status server: loopback, and the metrics to Prometheus
        assert get(gw.status_port, "/yibao/status")[0] == 200
        code, body = get(gw.status_port, "/yibao/metrics",
                         source="127.0.0.2")
        assert code == 200
        assert re.search(r'^yibao_requests_total\{infno="2207",'
                         r'class="ok"\} 1$', body, re.M), body
        assert get(gw.status_port, "/yibao/status",
                   source="127.0.0.2")[0] == 403
    finally:
        gw.stop()
    assert harness.log_problems(gw.error_log) == []

    # purge: nothing of the packages is left, nginx -t still passes
    files = {MOD_LINK, SITE_LINK, "/var/log/nginx/yibao", "/etc/yibao",
             "/usr/lib/yibao-tools", "/var/lib/yibao-gateway"}
    for name in PACKAGES:
        files.update(package_files(name))
    dpkg("--purge", "yibao-gateway", "yibao-tools",
         "libnginx-mod-http-yibao")
    for name in PACKAGES:
        assert not present(name), name
    left = [p for p in sorted(files)
            if os.path.lexists(p) and
            run(["dpkg-query", "-S", p], check=False).returncode != 0]
    assert left == [], "left after purge: %s" % left
    t = system_nginx_t()
    assert t.returncode == 0, t.stderr
