"""Clinic coverage and its reports (yibao_coverage_zone, yibao_coverage,
tools/yibao-coverage): a registry of thousands of clinics from
tools/gen-registry.py, traffic from a few of them through the gateway
and the strict simulator (some settle, some only sign in, some only
read, some fail), and the reports must name exactly the silent, failing
and never-activated clinics and the right township roll-ups, in JSON,
in CSV and through the CLI; the coverage survives nginx -s reload, also
when the registry changes under it."""

import csv
import io
import json
import signal
import struct
import os
import subprocess
import time

import pytest

import harness
from harness import sim_post

import yibao_client as client

ROOT = harness.ROOT
COVERAGE = "/yibao/coverage"
CLI = os.path.join(ROOT, "tools", "yibao-coverage")

# 是 / 否, and two of the weekly report's columns
YES, NO = "\u662f", "\u5426"
INCLUDED = "\u662f\u5426\u7eb3\u5165\u533b\u4fdd\u7ed3\u7b97"
CODE_COL = "\u536b\u751f\u673a\u6784\uff08\u7ec4\u7ec7\uff09\u4ee3\u7801"


def gen_registry(tmp_path, n, seed):
    out = tmp_path / ("registry-%d" % seed)
    subprocess.run(["/usr/bin/python3",
                    os.path.join(ROOT, "tools", "gen-registry.py"),
                    "--clinics", str(n), "--seed", str(seed),
                    "--out", str(out)], check=True, capture_output=True)
    return str(out)


def registry(stack):
    rows = harness.yibao_stack.read_tsv(stack.path("data", "clinics.tsv"))
    return [dict(zip(("org", "name", "admdvs", "mode", "entity",
                      "entity_name", "key", "township_code"), r))
            for r in rows]


def caller(stack):
    for row in harness.yibao_stack.read_tsv(stack.path("data",
                                                       "callers.tsv")):
        if row[0] == "village-subsystem":
            return row[0], row[1]
    raise KeyError("village-subsystem")


def get(stack, query="", source=None):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", stack.status_port,
                                      timeout=60, source_address=source)
    conn.request("GET", COVERAGE + query)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def report(stack, name, **params):
    q = "?report=%s" % name + "".join("&%s=%s" % kv
                                      for kv in params.items())
    code, headers, data = get(stack, q)
    assert code == 200, data
    if params.get("format") == "csv":
        assert headers["content-type"] == "text/csv; charset=utf-8"
        return list(csv.DictReader(io.StringIO(data.decode("utf-8"),
                                               newline="")))
    assert headers["content-type"] == "application/json"
    return json.loads(data)


def codes(doc):
    return {c["clinic"] for c in doc["clinics"]}


class Traffic:
    """Sends the day's traffic and remembers what each clinic did."""

    def __init__(self, stack):
        self.stack = stack
        self.caller, self.secret = caller(stack)

    def send(self, clinic, infno, inp, sign_no=""):
        env = client.make_envelope(infno, inp, clinic["org"],
                                   clinic["name"], clinic["admdvs"],
                                   sign_no=sign_no)
        return client.post(self.stack.url, self.caller, self.secret, env)

    def sign_in(self, clinic):
        r = self.send(clinic, "9001", {"signIn": {
            "opter_no": "001", "mac": "00:16:3e:00:00:01",
            "ip": "127.0.0.1"}})
        assert r.status == 200 and r.body["infcode"] == 0, r.body
        return r.body["output"]["signinoutb"]["sign_no"]

    def read(self, clinic, sign_no=""):
        return self.send(clinic, "1101", {"data": {
            "mdtrt_cert_type": "02", "mdtrt_cert_no": "370102195603152017",
            "card_sn": "", "begntime": "", "psn_cert_type": "01",
            "certno": "370102195603152017", "psn_name": ""}},
            sign_no=sign_no)

    def visit(self, clinic):
        steps = client.outpatient_flow(self.stack.url, self.caller,
                                       self.secret, clinic["org"],
                                       clinic["name"], clinic["admdvs"])
        assert not client.flow_failed(steps), steps[-1]
        assert steps[-1][0] == "2207"


def wait_count(stack, what, n):
    """The report once its count is n: the log phase of the last request
    may run a moment after its answer was read (a hang guard only)."""
    doc = None
    deadline = time.monotonic() + harness.HANG_GUARD
    while time.monotonic() < deadline:
        doc = report(stack, what)
        if doc["total"]["seen_week"] == n:
            return doc
        time.sleep(0.05)
    raise AssertionError("coverage never counted %d clinics: %s"
                         % (n, json.dumps(doc)[:2000]))


def day_traffic(stack):
    """A day: 5 clinics settle (one of them with one failure in 10), 8
    only sign in, 4 only read without signing in (the platform refuses
    the one read), 4 sign in and then fail 3 reads of 4 (the platform
    answers HTTP 500).  Returns the sets."""
    clinics = registry(stack)
    township = [c for c in clinics if c["mode"] == "township"]
    own = [c for c in clinics if c["mode"] == "own"]
    t = Traffic(stack)

    # spread over a few township hospitals, and two own designations
    picked = township[::max(1, len(township) // 19)][:19] + own[1:3]
    settled, signed, readers, failing = (picked[:5], picked[5:13],
                                         picked[13:17], picked[17:21])

    for c in settled:
        t.visit(c)
    sign_no = t.sign_in(settled[0])
    r = t.read(settled[0], sign_no)
    assert r.body["infcode"] == 0, r.body
    sim_post(stack, "fault", {"infno": "1101", "mode": "http_500",
                              "count": 1})
    r = t.read(settled[0], sign_no)
    assert r.body["infcode"] == -1 and "YB6003" in r.body["err_msg"], r.body

    for c in signed:
        t.sign_in(c)
    # without signing in: the platform refuses (seen, never activated)
    for c in readers:
        r = t.read(c)
        assert r.body["infcode"] == -1 and "sign_no" in r.body["err_msg"]
    for c in failing:
        sign_no = t.sign_in(c)
        sim_post(stack, "fault", {"infno": "1101", "mode": "http_500",
                                  "count": 3})
        for _ in range(3):
            r = t.read(c, sign_no)
            assert r.body["infcode"] == -1, r.body

    return dict(clinics=clinics, settled=settled, signed=signed,
                readers=readers, failing=failing, picked=picked)


def check_reports(stack, day, clinics=None):
    clinics = clinics or day["clinics"]
    everyone = {c["org"] for c in clinics}
    settled = {c["org"] for c in day["settled"]}
    activated = settled | {c["org"] for c in day["signed"] + day["failing"]}
    readers = {c["org"] for c in day["readers"]}
    failing = {c["org"] for c in day["failing"]}
    seen = {c["org"] for c in day["picked"]} & everyone

    doc = report(stack, "silent")
    assert doc["registry"] == len(clinics)
    assert codes(doc) == everyone - settled
    not_seen = {c["clinic"] for c in doc["clinics"]
                if c["silent"] == "not_seen"}
    assert not_seen == everyone - seen

    # window=7: the same on either side of midnight
    doc = report(stack, "failing", window=7)
    assert codes(doc) == failing
    for c in doc["clinics"]:
        assert c["top_error"] == "YB6003"
        assert c["week"] == {"requests": 4, "failed": 3, "settled": 0}
        assert c["errors"][0]["count"] == 3

    doc = report(stack, "never_activated")
    assert codes(doc) == everyone - activated
    for c in doc["clinics"]:
        if c["clinic"] in readers:
            assert c["top_error"] == "platform:1101"
            assert c["week"] == {"requests": 1, "failed": 1, "settled": 0}
        else:
            assert c["last_seen"] is None

    # the township roll-up: villages by entity, and the own-designation
    # villages linked to their township hospital; those seen, failures
    doc = report(stack, "townships")
    towns = {t["entity"]: t for t in doc["townships"]}
    villages = {}
    for c in clinics:
        if c["mode"] == "township":
            villages.setdefault(c["entity"], []).append(c)
        elif c.get("township_code"):
            villages.setdefault(c["township_code"], []).append(c)
    assert set(towns) == set(villages)
    for entity, vs in villages.items():
        t = towns[entity]
        orgs = {c["org"] for c in vs}
        assert t["villages"] == len(vs)
        assert t["seen_week"] == len(orgs & seen), entity
        assert t["failing"] == len(orgs & failing), entity
        assert t["never_activated"] == len(orgs - activated), entity
        assert t["name"] == next(v["entity_name"] for v in vs
                                 if v["mode"] == "township")

    # the weekly report: one row per clinic, included = settled
    rows = report(stack, "weekly", format="csv")
    assert len(rows) == len(clinics)
    assert {r[CODE_COL] for r in rows if r[INCLUDED] == YES} == settled
    assert {r[CODE_COL] for r in rows if r[INCLUDED] == NO} == \
        everyone - settled


def test_reports_name_exactly_the_silent_failing_never_activated(
        make_stack, tmp_path):
    data = gen_registry(tmp_path, 3000, 11)
    stack = make_stack(data_dir=data, translate=False)
    day = day_traffic(stack)
    wait_count(stack, "summary", len(day["picked"]))
    check_reports(stack, day)

    # CSV says the same as JSON
    rows = report(stack, "failing", window=7, format="csv")
    assert {r["clinic"] for r in rows} == {c["org"]
                                           for c in day["failing"]}
    assert all(r["top_error"] == "YB6003" and r["failing"] == "yes"
               for r in rows)
    rows = report(stack, "silent", format="csv")
    assert len(rows) == 3000 - 5

    # the summary by county: every clinic counted once
    doc = report(stack, "summary")
    assert doc["total"]["clinics"] == 3000
    assert sum(c["clinics"] for c in doc["counties"]) == 3000
    # the clinics by the state of their key: a key is activated by the
    # first sign-in or settlement of any clinic it signs for (the
    # villages of a township hospital share its key)
    keys = {c["key"] for c in day["settled"] + day["signed"]
            + day["failing"]}
    activated = sum(1 for c in day["clinics"] if c["key"] in keys)
    assert activated > 17
    assert doc["keys"]["activated"] == activated
    assert doc["keys"]["never_used"] == 3000 - activated
    for group in doc["counties"] + doc["townships"]:
        assert sum(group["keys"].values()) == group.get(
            "clinics", group.get("villages"))
    assert doc["total"]["seen_week"] == 21
    assert doc["total"]["not_seen"] == 3000 - 21

    # no secret and no personal data in any report
    secrets = [row[2] for row in harness.yibao_stack.read_tsv(
        stack.path("data", "keys.tsv"))] + [caller(stack)[1]]
    for name in ("clinics", "silent", "failing", "never_activated",
                 "townships", "weekly", "summary"):
        for fmt in ("json", "csv"):
            code, _, data = get(stack, "?report=%s&format=%s"
                                % (name, fmt))
            assert code == 200
            text = data.decode("utf-8")
            assert "370102195603152017" not in text
            assert not any(s in text for s in secrets), name


def test_coverage_survives_reload_and_a_changed_registry(make_stack,
                                                         tmp_path):
    data = gen_registry(tmp_path, 2000, 12)
    stack = make_stack(data_dir=data, translate=False)
    day = day_traffic(stack)
    wait_count(stack, "summary", len(day["picked"]))
    before = report(stack, "clinics")

    # the same registry: nothing moves, nothing is lost
    pids = stack.serving_pids()
    stack.reload()
    harness.wait_until("new workers", lambda: not set(
        stack.serving_pids()) & set(pids) and len(
        stack.serving_pids()) == stack.workers)
    after = report(stack, "clinics")
    assert after["clinics"] == before["clinics"]

    # a registry in another order, without a settled clinic and with
    # two new ones: each clinic keeps its own coverage
    path = stack.path("data", "clinics.tsv")
    with open(path, encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    gone = day["settled"][1]["org"]
    lines = [ln for ln in lines if not ln.startswith(gone + "\t")]
    lines.reverse()
    extra = []
    for i, ln in enumerate(lines[:2]):
        cols = ln.rstrip("\n").split("\t")
        cols[0] = "PDYNEWCLINIC0000000%03d" % i
        if cols[3] == "own":
            continue
        extra.append("\t".join(cols) + "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(lines + extra)

    pids = stack.serving_pids()
    stack.reload()
    harness.wait_until("new workers", lambda: not set(
        stack.serving_pids()) & set(pids) and len(
        stack.serving_pids()) == stack.workers)

    moved = report(stack, "clinics")
    assert moved["registry"] == 2000 - 1 + len(extra)
    old = {c["clinic"]: c for c in before["clinics"]}
    for c in moved["clinics"]:
        if c["clinic"] in old:
            assert c == old[c["clinic"]], c["clinic"]
        else:
            assert c["last_seen"] is None and c["week"]["requests"] == 0
    assert gone not in codes(moved)

    kept = [c for c in registry(stack)]
    remaining = dict(day, clinics=kept,
                     settled=[c for c in day["settled"]
                              if c["org"] != gone],
                     picked=[c for c in day["picked"] if c["org"] != gone])
    check_reports(stack, remaining)

    # the new workers count into the moved slots
    t = Traffic(stack)
    c = day["readers"][0]
    assert t.read(c).body["infcode"] == -1      # not signed in
    deadline = time.monotonic() + harness.HANG_GUARD
    while time.monotonic() < deadline:
        doc = report(stack, "clinics")
        row = next(x for x in doc["clinics"] if x["clinic"] == c["org"])
        if row["week"]["requests"] == 2:
            break
        time.sleep(0.05)
    assert row["week"] == {"requests": 2, "failed": 2, "settled": 0}
    assert "kept their coverage" in harness.error_log_text(stack)


def test_refused_unless_allowed_and_bad_queries(make_stack):
    stack = make_stack()

    code, _, data = get(stack, "?report=summary", source=("127.0.0.2", 0))
    assert code == 403

    for q, what in (("?report=everything", b"report:"),
                    ("?report=silent&format=xml", b"format:"),
                    ("?report=silent&silent_days=0", b"silent_days:"),
                    ("?report=failing&window=8", b"window:"),
                    ("?report=failing&threshold=1.5", b"threshold:"),
                    ("?report=failing&threshold=0.", b"threshold:"),
                    ("?report=failing&min_requests=x", b"min_requests:")):
        code, headers, data = get(stack, q)
        assert code == 400, q
        assert headers["content-type"] == "application/json"
        assert what in json.loads(data)["error"].encode(), q

    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", stack.status_port,
                                      timeout=10)
    conn.request("POST", COVERAGE + "?report=summary", body=b"x")
    assert conn.getresponse().status == 405
    conn.close()


def test_zone_too_small_for_the_registry_fails_nginx_t(make_stack,
                                                       tmp_path):
    data = gen_registry(tmp_path, 1000, 13)
    stack = make_stack(start=False, data_dir=data, coverage_zone="128k")
    rc, out = stack.test_config()
    assert rc != 0
    assert ("\"yibao_coverage_zone\" holds 251 clinics, the registry has "
            "1000: it needs at least 318k") in out, out


def test_cli_tables_json_csv(make_stack, tmp_path):
    data = gen_registry(tmp_path, 500, 14)
    stack = make_stack(data_dir=data, translate=False)
    day = day_traffic(stack)
    wait_count(stack, "summary", len(day["picked"]))
    url = stack.status_url + COVERAGE

    def cli(*args):
        return subprocess.run([CLI, "--url", url] + list(args),
                              capture_output=True, text=True, timeout=120)

    p = cli("failing", "--window", "7")
    assert p.returncode == 0, p.stderr
    for c in day["failing"]:
        assert c["org"] in p.stdout
    assert "4 of the registry's 500 clinics" in p.stdout

    p = cli("silent", "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout)["count"] == 500 - 5

    out = tmp_path / "weekly.csv"
    p = cli("weekly", "-o", str(out))
    assert p.returncode == 0, p.stderr
    with open(out, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 500

    p = cli("townships")
    assert p.returncode == 0 and "township hospitals" in p.stdout

    p = cli("summary")
    assert p.returncode == 0 and "clinics 500," in p.stdout

    p = cli("failing", "--threshold", "2")
    assert p.returncode == 2 and "threshold" in p.stderr

    p = cli("summary", "--url", "http://127.0.0.1:9/yibao/coverage")
    assert p.returncode == 3


def test_no_failing_clinic_silently_dropped(make_stack, tmp_path):
    """30 clinics fail today: the status document lists 20, the page
    says how many it does not show and links the complete list, which
    has all 30 (the failing-clinics table alone used to keep 64 of 111
    without saying so)."""
    import test_status_page as tsp

    data = gen_registry(tmp_path, 400, 15)
    stack = make_stack(data_dir=data, translate=False)
    t = Traffic(stack)
    clinics = registry(stack)
    failing = clinics[10:40]
    ok = clinics[50:53]
    for c in ok:
        t.sign_in(c)
    for c in failing:
        assert t.read(c).body["infcode"] == -1      # not signed in

    def all_counted():
        doc = report(stack, "summary")
        return doc["total"]["seen_today"] == 33 \
            and doc["total"]["failed_today"] == 30
    harness.wait_until("33 clinics counted", all_counted)

    rows = report(stack, "failing", threshold="0", min_requests="1",
                  format="csv")
    assert {r["clinic"] for r in rows} == {c["org"] for c in failing}

    code, _, data = get(stack, "?report=summary")
    doc = json.loads(data)
    assert doc["total"]["failed_today"] == 30
    assert sum(x["failed_today"] for x in doc["counties"]) == 30
    assert sum(x["clinics"] for x in doc["counties"]) == 400

    if not os.access(tsp.CHROMIUM, os.X_OK):
        pytest.skip("chromium is not installed: run make deps")

    dom = tsp.chromium(tmp_path, stack.status_url + "/yibao/status.html",
                       "--dump-dom")
    assert "Clinics that failed today: 30, 10 not shown here." in dom, \
        dom[-4000:]
    assert ('href="coverage?report=failing&amp;threshold=0&amp;'
            'min_requests=1&amp;format=csv"') in dom
    assert dom.count("data-county=") == len(doc["counties"])
    assert dom.count("data-township=") == len(doc["townships"])
    assert 'href="coverage?report=weekly&amp;format=csv"' in dom
    assert ">never seen</span><span class=\"warn\">367<" in dom


# the value of a clinic in Redis: "YCV1", then yibao_cov_clinic_t
# (adapters/yibao_coverage.h) as the gateway's machine lays it out
COV_VALUE = struct.Struct("<4s24s4q" + "4I" * 8 + "4I" * 4)


def redis_coverage(server, node=0):
    """{org: (last_seen, requests of the 8 days)} of the node's hash."""
    import redis as redis_client
    rc = redis_client.Redis(host="127.0.0.1", port=server.port)
    out = {}
    for field, value in rc.hgetall("yibao:coverage:%d" % node).items():
        v = COV_VALUE.unpack(value)
        assert v[0] == b"YCV1" and v[1].rstrip(b"\0") == field
        days = v[6:6 + 32]
        out[field.decode()] = (v[2], sum(days[1::4]))
    return out


def written(stack, server):
    """Every clinic seen is in Redis as the gateway reports it (a clinic
    never seen is not written)."""
    doc = report(stack, "clinics")
    want = {c["clinic"]: (c["last_seen"], c["week"]["requests"])
            for c in doc["clinics"] if c["last_seen"]}
    return redis_coverage(server) == want


def test_coverage_survives_a_restart_with_redis(make_stack, make_redis,
                                                tmp_path):
    server = make_redis()
    data = gen_registry(tmp_path, 1500, 16)
    stack = make_stack(data_dir=data, translate=False, redis=server,
                       coverage_zone="16m persist=1s")
    day = day_traffic(stack)
    wait_count(stack, "summary", len(day["picked"]))
    harness.wait_until("the coverage written to redis",
                       lambda: written(stack, server))
    before = report(stack, "clinics")["clinics"]

    stack.nginx.send_signal(signal.SIGQUIT)
    stack.nginx.wait(timeout=harness.HANG_GUARD)
    stack.nginx = None
    log_size = os.path.getsize(stack.error_log)
    stack.start_nginx()

    def restored():
        with open(stack.error_log, encoding="utf-8") as f:
            f.seek(log_size)
            return "21 clinics restored from redis key " \
                   "\"yibao:coverage:0\"" in f.read()
    harness.wait_until("the coverage read back", restored)
    # the keys' activations come back from Redis by the keys' sync
    harness.wait_until("the coverage and the keys' states read back",
                       lambda: report(stack, "clinics")["clinics"]
                       == before)
    check_reports(stack, day)

    # counted on top of what was restored, and written again
    t = Traffic(stack)
    c = day["readers"][0]
    assert t.read(c).body["infcode"] == -1
    harness.wait_until("the new count in redis", lambda: redis_coverage(
        server).get(c["org"], (0, 0))[1] == 2)
    row = next(x for x in report(stack, "clinics")["clinics"]
               if x["clinic"] == c["org"])
    assert row["week"] == {"requests": 2, "failed": 2, "settled": 0}


def test_counts_made_while_redis_is_down_are_written_later(make_stack,
                                                          make_redis,
                                                          tmp_path):
    server = make_redis()
    data = gen_registry(tmp_path, 300, 17)
    stack = make_stack(data_dir=data, translate=False, redis=server,
                       coverage_zone="16m persist=1s",
                       redis_options="timeout=10s")
    stack.allowed_log = (r"redis", )
    t = Traffic(stack)
    clinics = registry(stack)
    t.sign_in(clinics[5])
    harness.wait_until("the first clinic written",
                       lambda: clinics[5]["org"] in redis_coverage(server))

    # Redis stops: what is counted meanwhile is kept for later
    server.stop()
    t.sign_in(clinics[6])
    t.sign_in(clinics[7])
    server.start()
    harness.wait_until("the counts of the outage written",
                       lambda: {clinics[6]["org"], clinics[7]["org"]}
                       <= set(redis_coverage(server)))
    # and the new Redis, empty, gets what the old one had
    harness.wait_until("everything written again",
                       lambda: written(stack, server))
    assert len(redis_coverage(server)) == 3


def test_report_made_while_another_is_still_being_sent(make_stack,
                                                       tmp_path):
    """A worker renders its reports into memory it keeps; while a large
    answer is still being sent to a slow reader, another report of the
    same worker must not be rendered over it (it takes its request's
    pool): the slow reader gets its report whole."""
    import socket
    data = gen_registry(tmp_path, 20000, 12)
    stack = make_stack(data_dir=data, translate=False, workers=1)
    t = Traffic(stack)
    for c in registry(stack)[:3]:
        t.sign_in(c)
    wait_count(stack, "summary", 3)

    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", stack.status_port))
    slow.sendall(b"GET " + COVERAGE.encode() + b"?report=clinics HTTP/1.0"
                 b"\r\nHost: x\r\n\r\n")
    head = slow.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:200]

    # meanwhile, the same worker: another large report, and a small one
    silent = report(stack, "silent")
    assert silent["count"] == 20000     # none settled
    assert report(stack, "summary")["total"]["clinics"] == 20000

    chunks = [head]
    while True:
        b = slow.recv(1 << 20)
        if not b:
            break
        chunks.append(b)
    slow.close()
    body = b"".join(chunks).split(b"\r\n\r\n", 1)[1]
    doc = json.loads(body)
    assert doc["report"] == "clinics" and doc["count"] == 20000
    assert [c["clinic"] for c in doc["clinics"]] == \
        [c["org"] for c in registry(stack)]
    assert doc["clinics"] == report(stack, "clinics")["clinics"]
