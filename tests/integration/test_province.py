"""A province's day, in one run: a registry of 50,000 clinics
(tools/gen-registry.py), a day of traffic from a few thousand of them
through the gateway and the strict simulator, driven concurrently with
few transactions each: some settle, most only sign in, some fail (the
platform answers HTTP 500, a simulator fault), some are refused by the
platform (never activated), the rest are never seen.  One township
hospital's key is rotated mid-day: yibao-keys imports its second key
with a valid-from a few seconds ahead and nginx reloads, while the
traffic goes on; no request may fail, and its clinics are signed first
with the old key, then with the new one.  Then the reports must name
exactly the silent, failing and never-activated clinics and the right
township roll-ups (test_coverage.check_reports), and no report, CSV,
status document or status page may hold a secret or personal data."""

import concurrent.futures
import datetime
import json
import os
import random
import re
import threading
import time
import urllib.request

import harness
from harness import sim_get, sim_post

import test_coverage as tc
from test_keys import keys_tool, batch
from test_status import STATUS, PAGE

CLINICS = 50000
SETTLERS, SIGNERS, FAILING, READERS = 200, 2500, 100, 200
WORKERS = 8
REPORTS = ("clinics", "silent", "failing", "never_activated", "townships",
           "weekly", "summary")


def new_key_row(entity, valid_from):
    return ("AK-ROTATED-" + entity, "SK-ROTATED-SECRET-" + entity,
            valid_from, "2099-12-31 00:00:00")


def pick(clinics, rng):
    """The day's roles, from clinics spread over the province, and the
    township hospital whose key is rotated: one with settlers and
    signers among its villages."""
    townships = {}
    for c in clinics:
        if c["mode"] == "township":
            townships.setdefault(c["entity"], []).append(c)
    active = rng.sample(clinics, SETTLERS + SIGNERS + FAILING + READERS)
    settled = active[:SETTLERS]
    signed = active[SETTLERS:SETTLERS + SIGNERS]
    failing = active[SETTLERS + SIGNERS:SETTLERS + SIGNERS + FAILING]
    readers = active[SETTLERS + SIGNERS + FAILING:]

    # the rotated township hospital: five of its villages sign in, two
    # settle (the first after the switch), one reads all along
    taken = {c["org"] for c in active}
    entity = next(e for e, vs in sorted(townships.items())
                  if len(vs) >= 10 and not taken & {v["org"] for v in vs})
    villages = townships[entity][:8]
    signed += villages[:5] + villages[7:8]
    settled += villages[5:7]
    return dict(clinics=clinics, settled=settled, signed=signed,
                failing=failing, readers=readers, picked=active + villages,
                entity=entity, reader=villages[7], rotated=villages)


class Day:
    """Runs the jobs concurrently; every answer that is not what the job
    expects is kept in problems (a failed request of a clinic that should
    succeed, a success of one that should fail)."""

    def __init__(self, stack):
        self.traffic = tc.Traffic(stack)
        self.problems = []
        self.personal = set()
        self.lock = threading.Lock()

    def problem(self, what):
        with self.lock:
            self.problems.append(what)

    def settle(self, c):
        steps = tc.client.outpatient_flow(
            self.traffic.stack.url, self.traffic.caller,
            self.traffic.secret, c["org"], c["name"], c["admdvs"])
        if tc.client.flow_failed(steps) or steps[-1][0] != "2207":
            self.problem(("settle", c["org"], steps[-1]))
        for infno, _, body in steps:
            out = isinstance(body, dict) and body.get("output") or {}
            base = out.get("baseinfo") if isinstance(out, dict) else None
            if base:
                with self.lock:
                    self.personal.update(v for v in (
                        base.get("psn_no"), base.get("psn_name"),
                        base.get("certno")) if v)

    def sign_in(self, c):
        r = self.traffic.send(c, "9001", {"signIn": {
            "opter_no": "001", "mac": "00:16:3e:00:00:01",
            "ip": "127.0.0.1"}})
        if r.status != 200 or r.body.get("infcode") != 0:
            self.problem(("9001", c["org"], r.status, r.body))
            return None
        return r.body["output"]["signinoutb"]["sign_no"]

    def fail(self, c):
        """Signs in, then three settlement queries the platform answers
        with HTTP 500 (the only 5203s of the day: the fault's count)."""
        if self.sign_in(c) is None:
            return
        for _ in range(3):
            r = self.traffic.send(c, "5203", {"data": {
                "psn_no": "", "mdtrt_id": "", "setl_id": ""}})
            if r.body.get("infcode") != -1 or "YB6003" not in \
                    r.body.get("err_msg", ""):
                self.problem(("5203", c["org"], r.status, r.body))

    def refused(self, c):
        r = self.traffic.read(c)        # not signed in: refused
        if r.body.get("infcode") != -1 or "sign_no" not in \
                r.body.get("err_msg", ""):
            self.problem(("1101", c["org"], r.status, r.body))

    def run(self, jobs):
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as ex:
            for f in [ex.submit(job, c) for job, c in jobs]:
                f.result()


def leaked(text, secrets):
    """The secrets found in text: every window of a secret's length of
    every run of the characters secrets are made of (thousands of keys
    and megabytes of reports: a substring search for each is too
    slow)."""
    found = set()
    wanted = set(secrets)
    sizes = {len(s) for s in wanted}
    for run in re.findall(r"[0-9A-Za-z_-]{%d,}" % min(sizes), text):
        for n in sizes:
            for i in range(len(run) - n + 1):
                if run[i:i + n] in wanted:
                    found.add(run[i:i + n])
    return found


def text_of(url):
    with urllib.request.urlopen(url, timeout=120) as r:
        assert r.status == 200
        return r.read().decode("utf-8")


def test_a_province_day(make_stack, tmp_path):
    rng = random.Random(18)
    data = tc.gen_registry(tmp_path, CLINICS, 18)
    stack = make_stack(data_dir=data, translate=False, start=False)
    clinics = tc.registry(stack)
    assert len(clinics) == CLINICS
    day = pick(clinics, rng)
    entity = day["entity"]
    old_ak = next(r[1] for r in harness.yibao_stack.read_tsv(
        stack.path("data", "keys.tsv")) if r[0] == "k-" + entity)

    # the platform has the township hospital's new key from now on (the
    # bureau issued it); the gateway takes it mid-day
    ak, sk, _, _ = new_key_row(entity, "")
    inst = stack.path("data", "institutions.tsv")
    row = next(l for l in open(inst, encoding="utf-8")
               if l.startswith(entity + "\t"))
    with open(inst, "a", encoding="utf-8") as f:
        f.write("\t".join(row.rstrip("\n").split("\t")[:3] + [
            ak, sk, str(int(time.time()) - 60),
            str(int(datetime.datetime(2099, 12, 31).timestamp()))]) + "\n")
    stack.write_files = lambda: None
    stack.start()

    d = Day(stack)
    sim_post(stack, "fault", {"infno": "5203", "mode": "http_500",
                              "count": 3 * FAILING})
    jobs = ([(d.settle, c) for c in day["settled"][:SETTLERS]]
            + [(d.sign_in, c) for c in day["signed"][:SIGNERS]]
            + [(d.fail, c) for c in day["failing"]]
            + [(d.refused, c) for c in day["readers"]])
    rng.shuffle(jobs)
    half = len(jobs) // 2

    # the morning
    d.run(jobs[:half])
    for c in day["rotated"][:5]:
        d.sign_in(c)
    reader = day["reader"]
    sign_no = d.sign_in(reader)
    assert sign_no and d.problems == [], d.problems[:5]

    # mid-day: the second key, valid a few seconds from now, imported
    # and taken in by a reload while the afternoon's traffic runs
    tz = datetime.timezone(datetime.timedelta(hours=8))
    window = 60 if harness.yibao_stack.valgrind_env() else 8
    switch = datetime.datetime.now(tz).replace(microsecond=0) \
        + datetime.timedelta(seconds=window)
    r = keys_tool("import", batch(tmp_path / "batch.csv", [
        (entity,) + new_key_row(entity, switch.strftime(
            "%Y-%m-%d %H:%M:%S"))]),
        "--registry", stack.path("data", "clinics.tsv"),
        "--keys", stack.path("data", "keys.tsv"))
    assert r.returncode == 0, r.stderr
    assert sk not in r.stdout + r.stderr
    stack.reload()

    aks, done = [], threading.Event()

    def rotation():
        """The reader's 1101s all through the switch, until the platform
        saw one signed with the new key (a hang guard only)."""
        deadline = time.monotonic() + harness.HANG_GUARD
        while time.monotonic() < deadline and not done.is_set():
            r = d.traffic.read(reader, sign_no)
            if r.status != 200 or r.body.get("infcode") != 0:
                d.problem(("rotation", r.status, r.body))
            seen = [e["ak"] for e in sim_get(
                stack, "requests?infno=1101&n=200")["requests"]
                if e["envelope"]["fixmedins_code"] == entity]
            aks.extend(seen[-1:])
            if seen and seen[-1] == ak:
                return
            time.sleep(0.2)

    t = threading.Thread(target=rotation)
    t.start()
    try:
        d.run(jobs[half:])
    finally:
        t.join(harness.HANG_GUARD)
        done.set()
    assert d.problems == [], d.problems[:5]
    assert aks and aks[0] == old_ak and aks[-1] == ak, aks[-5:]
    assert datetime.datetime.now(tz) >= switch

    # after the switch the rotated township hospital's villages settle
    # with the new key
    for c in day["rotated"][5:7]:
        d.settle(c)
    assert d.problems == [], d.problems[:5]
    got = [e for e in sim_get(stack, "requests?infno=2207&n=50")
           ["requests"] if e["envelope"]["fixmedins_code"] == entity]
    assert len(got) == 2 and {e["ak"] for e in got} == {ak}
    # every fault was taken by a failing clinic's 5203
    assert sim_get(stack, "fault")["faults"] == []

    # the reports: exactly the silent, failing and never-activated
    # clinics, the township roll-ups, the weekly report
    tc.wait_count(stack, "summary", len(day["picked"]))
    tc.check_reports(stack, day)

    # the keys: every village of the rotated township hospital is
    # counted with its new key, activated by the afternoon's
    # settlements; the status counts each key: both of the rotated
    summary = tc.report(stack, "summary")
    towns = {x["entity"]: x for x in summary["townships"]}
    assert towns[entity]["keys"]["activated"] == towns[entity]["villages"]
    keys = {c["key"] for c in day["settled"] + day["signed"]
            + day["failing"]}
    assert summary["keys"]["activated"] == sum(
        1 for c in clinics if c["key"] in keys)
    status = json.loads(text_of(stack.status_url + STATUS))
    assert status["keys"]["activated"] == len(keys) + 1   # and the old

    # nothing secret, nothing personal, anywhere an operator looks
    secrets = [r[2] for r in harness.yibao_stack.read_tsv(
        stack.path("data", "keys.tsv"))] + [tc.caller(stack)[1], sk]
    assert sk in secrets
    personal = d.personal | {"370102195603152017"}
    assert len(d.personal) >= 2, d.personal
    texts = {"%s.%s" % (name, fmt): tc.get(stack, "?report=%s&format=%s"
                                           % (name, fmt))[2].decode("utf-8")
             for name in REPORTS for fmt in ("json", "csv")}
    texts["status"] = text_of(stack.status_url + STATUS)
    texts["page"] = text_of(stack.status_url + PAGE)
    texts["keys"] = text_of(stack.status_url + "/yibao/keys")
    assert leaked('{"a":"x%s-1"}' % secrets[0], secrets) == {secrets[0]}
    assert leaked("..%s.." % sk, secrets) == {sk}
    for name, text in texts.items():
        assert len(text) > 100, name
        assert not leaked(text, secrets), name
        assert not [p for p in personal if p in text], name
