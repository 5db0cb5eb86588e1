#!/usr/bin/python3
"""The packaged server configuration, generated from the template.

    tools/gen-site-conf.py OUT     write the site file to OUT

conf/gateway.conf.template is the gateway's whole nginx configuration
(`make run` and the tests render it with tools/yibao_stack.py).  The
Debian package yibao-gateway installs the same configuration as a site
of Debian's nginx, /etc/nginx/sites-available/yibao-gateway, which
nginx.conf includes inside its http block.  This tool renders the
template with the installed paths and ports and turns it into that
site, so that the two never drift apart:

  - what comes before `http {` (load_module, user, worker_processes,
    pid, error_log, events) is Debian's nginx.conf's business and the
    module's load file's (/etc/nginx/modules-enabled/); only these
    directives may be there, anything else fails the build;
  - the content of the http block is kept, directive for directive,
    except `default_type` (nginx.conf sets it: twice is an error) and
    the http block's `access_log`, which moves into each of the
    gateway's servers (in nginx.conf's http block it would log every
    other site of the machine into the gateway's log);
  - the template's ${prefix}/logs/access.log (the transaction log)
    becomes /var/log/nginx/yibao/transactions.log, any other file in
    ${prefix}/logs/ goes to /var/log/nginx/yibao/ too (the package's
    logrotate entry rotates them), ${prefix}/tmp/ is Debian's
    /var/lib/nginx/.

docs/deployment.md says what to edit before enabling the site.
Standard library only.
"""

import inspect
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yibao_stack  # noqa: E402

ETC = "/etc/yibao"
LOG_DIR = "/var/log/nginx/yibao/"
TX_LOG = LOG_DIR + "transactions.log"
TEMP_DIR = "/var/lib/nginx/"
PREFIX = "@PREFIX@"

GATEWAY_LISTEN = "8080"
STATUS_LISTEN = "127.0.0.1:8081"
PLATFORM = "127.0.0.1:9080"
# one node's embedded store keeps the week of journal (ttl=7d) that the
# tests' 16m cannot: some 85,000-250,000 records; node=0/2: a binary
# upgrade of the module runs the new nginx with node=1/2 beside the old
# one, so that the two never issue the same msgid (docs/deployment.md)
ZONE = "256m node=0/2"

# every clinic's coverage, 257 bytes each: 16m holds 64,515 clinics, a
# province's (docs/operations.md, "Clinic coverage")
COVERAGE_ZONE = "16m"

# the directives the template may have outside its http block
MAIN_DIRECTIVES = {"load_module", "user", "worker_processes", "daemon",
                   "master_process", "pid", "error_log", "events",
                   "worker_connections"}

HEADER = """\
# yibao-gateway: the gateway's site for Debian's nginx.
#
# GENERATED when the package was built (tools/gen-site-conf.py) from
# conf/gateway.conf.template, the configuration the gateway is tested
# with; nginx.conf includes it in its http block once it is enabled.
#
# Before enabling it (docs/deployment.md):
#   - upstream yibao_platform and yibao_platform: the platform's address
#     (and, for https, the proxy_ssl_* lines shown below);
#   - yibao_sign and yibao_route: the province's signing scheme and paths;
#   - /etc/yibao/: the keys, clinics, callers and mapping tables (the
#     files installed there are EXAMPLES with invented secrets);
#   - yibao_redis, for the journal to survive a restart or an upgrade of
#     the module, and for more than one node; yibao_zone's node=N/COUNT
#     (switched at each upgrade of the module).
# Then:
#   ln -s ../sites-available/yibao-gateway /etc/nginx/sites-enabled/
#   nginx -t && systemctl reload nginx
#
# The gateway takes transactions on port %(gateway)s; status and metrics
# are on %(status)s (loopback only); the transaction log, one
# JSON line per transaction that yibao-trace reads, is
# %(tx_log)s (/etc/logrotate.d/yibao-gateway).
"""


def stack_defaults():
    """What the tests run with when they do not say otherwise."""
    return {name: p.default for name, p in
            inspect.signature(yibao_stack.Stack).parameters.items()}


def values(maps_dir):
    d = stack_defaults()
    maps = sorted(f for f in os.listdir(maps_dir) if f.endswith(".tsv"))
    return dict(
        module=PREFIX + "/module.so", user_line="", workers="auto",
        master_process="on", prefix=PREFIX, log_level="notice",
        keys=ETC + "/keys.tsv", clinics=ETC + "/clinics.tsv",
        callers=ETC + "/callers.tsv", zone=ZONE, journal=d["journal"],
        coverage_zone=COVERAGE_ZONE,
        mappings=("\n" + " " * 26).join("%s/mappings/%s" % (ETC, f)
                                         for f in maps),
        translate_rules=ETC + "/translate-rules.tsv", translate="on",
        redis="", limits="\n".join("    " + s for s in d["limits"]),
        caches="\n".join("    " + s for s in d["caches"]),
        resolve=d["resolve"], http_extra="", location_extra="",
        platform="            yibao_platform http://%s;" % PLATFORM,
        ignore_client_abort=d["ignore_client_abort"],
        server_extra="", status_listen=STATUS_LISTEN, upstream=PLATFORM,
        upstream_scheme="http", upstream_tls="", listen=GATEWAY_LISTEN,
        listen_tls="", sign="csb api_version=%s" % d["csb_api_version"],
        route="single /fsi/api/rsfComIfsService/callService",
        read_timeout=d["read_timeout"])


class Statement:
    """A directive (name and its arguments up to ';'), a block's opening
    (up to '{') or a block's end ('}'), with its lines (0-based) and
    the depth of blocks it is in."""

    def __init__(self, name, depth, first, last, kind):
        self.name, self.depth = name, depth
        self.first, self.last, self.kind = first, last, kind


def statements(text):
    """The statements of an nginx configuration, quotes and comments
    understood (a '{' in a quoted log format or answer is text)."""
    out = []
    depth = 0
    line = 0
    words = []
    first = None
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in ";{}":
            if c == "}":
                if words:
                    raise ValueError("line %d: '}' after %r without ';'"
                                     % (line + 1, words[0]))
                depth -= 1
                if depth < 0:
                    raise ValueError("line %d: unbalanced '}'" % (line + 1))
                out.append(Statement("}", depth, line, line, "end"))
            else:
                if not words:
                    raise ValueError("line %d: empty statement" % (line + 1))
                out.append(Statement(words[0], depth, first, line,
                                     "block" if c == "{" else "directive"))
                if c == "{":
                    depth += 1
                words = []
            i += 1
        else:
            if not words:
                first = line
            start = i
            if c in "'\"":
                i += 1
                while i < n and text[i] != c:
                    if text[i] == "\\":
                        i += 1
                    elif text[i] == "\n":
                        line += 1
                    i += 1
                if i >= n:
                    raise ValueError("unterminated quote")
                i += 1
            else:
                while i < n and text[i] not in " \t\r\n;{}#'\"":
                    i += 1
            words.append(text[start:i])
    if depth != 0 or words:
        raise ValueError("unbalanced blocks at the end")
    return out


def site(template, maps_dir):
    text = yibao_stack.render(template, values(maps_dir))
    lines = text.split("\n")
    stmts = statements(text)

    http = [s for s in stmts if s.name == "http" and s.depth == 0]
    if len(http) != 1 or http[0].kind != "block":
        raise ValueError("the template has no single http { } block")
    http = http[0]
    end = next(s for s in stmts if s.kind == "end" and s.depth == 0
               and s.first > http.last)
    if http.first != http.last or end.first == http.last:
        raise ValueError("'http {' and its '}' must be lines of their own")
    for s in stmts:
        if (s.first < http.first or s.first > end.first) and \
                s.kind != "end" and s.name not in MAIN_DIRECTIVES:
            raise ValueError("%s (line %d): outside the http block, not "
                             "known to be nginx.conf's; teach "
                             "tools/gen-site-conf.py" % (s.name, s.first + 1))
    if any(s.first > end.first for s in stmts):
        raise ValueError("statements after the http block")

    inner = [s for s in stmts if http.last < s.first < end.first]
    drop = set()
    logs = []
    for s in inner:
        if s.depth != 1 or s.name not in ("default_type", "access_log"):
            continue
        for k in range(s.first, s.last + 1):
            drop.add(k)
        if s.name == "access_log":
            logs += lines[s.first:s.last + 1]
    servers = {s.first for s in inner
               if s.depth == 1 and s.kind == "block" and s.name == "server"}
    for k in drop:
        if sum(1 for s in inner if s.first <= k <= s.last) != 1:
            raise ValueError("line %d: a dropped directive shares its line"
                             % (k + 1))

    out = []
    for k in range(http.last + 1, end.first):
        if k in drop:
            continue
        out.append(lines[k])
        if k in servers:
            indent = re.match(r"\s*", lines[k]).group(0) + "    "
            out += ["%s# the template's http-level log, here for this "
                    "server alone" % indent]
            out += [indent + ln.strip() for ln in logs]
            out.append("")
    for k, ln in enumerate(out):
        if ln.strip() and not ln.startswith("    "):
            raise ValueError("http block line not indented: %r" % ln)
        out[k] = ln[4:]

    body = "\n".join(out).strip("\n") + "\n"
    while "\n\n\n" in body:
        body = body.replace("\n\n\n", "\n\n")
    body = body.replace(PREFIX + "/logs/access.log", TX_LOG)
    body = body.replace(PREFIX + "/logs/", LOG_DIR)
    body = body.replace(PREFIX + "/tmp/", TEMP_DIR)
    if PREFIX in body:
        raise ValueError("a path under ${prefix} that is neither logs/ "
                         "nor tmp/: %s" % body[body.index(PREFIX):][:60])
    return HEADER % {"gateway": GATEWAY_LISTEN, "status": STATUS_LISTEN,
                     "tx_log": TX_LOG} + "\n" + body


def main(argv):
    if len(argv) != 2:
        sys.exit("usage: tools/gen-site-conf.py OUT")
    try:
        text = site(yibao_stack.TEMPLATE,
                    os.path.join(yibao_stack.DEMO_DATA, "mappings"))
    except (ValueError, KeyError) as e:
        sys.exit("gen-site-conf: %s: %s" % (yibao_stack.TEMPLATE, e))
    tmp = argv[1] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
