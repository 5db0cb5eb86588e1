"""The platform keys at scale: yibao-keys import (the bureau's batch
checked against the registry, written atomically with mode 0600, no
secret in any output), two keys per entity (the gateway signs with the
newer from its valid_from on, with no failed request), and an entity
without a valid key refused with YB3003 before anything is sent."""
import datetime
import os
import shutil
import stat
import subprocess
import threading
import time

import harness
from test_gateway_core import (assert_rejected, envelope, ready_clinic,
                               send, township_clinic)
from test_journal import sent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, "tools", "yibao-keys")
DEMO = os.path.join(ROOT, "conf", "demo")
ENTITIES = ("H37010200001", "H37010200002", "H37010200105")


def keys_tool(*args):
    return subprocess.run([TOOL] + list(args), capture_output=True,
                          text=True, timeout=60)


def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for name in ("clinics.tsv", "callers.tsv", "keys.tsv"):
        shutil.copyfile(os.path.join(DEMO, name), d / name)
    os.chmod(d / "keys.tsv", 0o600)
    shutil.copytree(os.path.join(DEMO, "mappings"), d / "mappings")
    return d


def batch(path, rows, header=True):
    with open(path, "w", encoding="utf-8") as f:
        if header:
            f.write("定点医药机构编码,AK,SK,生效时间,失效时间\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    return str(path)


def new_rows(valid_from="2026-01-01", valid_to="2099-12-31"):
    return [(e, "AK-NEW-" + e, "SK-NEW-SECRET-" + e, valid_from, valid_to)
            for e in ENTITIES]


def secrets_in(text, rows):
    return [s for r in rows for s in (r[1], r[2]) if s in text]


def test_import_good_batch_then_gateway_signs_with_the_new_keys(
        make_stack, tmp_path):
    d = data_dir(tmp_path)
    rows = new_rows()
    b = batch(tmp_path / "batch.csv", rows)
    r = keys_tool("import", b, "--registry", str(d / "clinics.tsv"),
                  "--keys", str(d / "keys.tsv"))
    assert r.returncode == 0, r.stderr
    assert "3 key(s) imported" in r.stdout
    assert not secrets_in(r.stdout + r.stderr, rows)
    assert stat.S_IMODE(os.stat(d / "keys.tsv").st_mode) == 0o600
    # no temporary file left beside it
    assert sorted(p.name for p in d.iterdir()
                  if p.name.startswith(".keys-")) == []
    # the old keys are kept beside the new ones: two per entity
    lines = [l for l in (d / "keys.tsv").read_text().splitlines()
             if l and not l.startswith("#")]
    assert len(lines) == 6

    listed = keys_tool("list", "--keys", str(d / "keys.tsv"))
    assert listed.returncode == 0
    assert "k-H37010200001@0" in listed.stdout
    assert not secrets_in(listed.stdout, rows)
    assert "DEMO-SK" not in listed.stdout and "DEMO-AK" not in listed.stdout

    stack = make_stack(data_dir=str(d))
    clinic = ready_clinic(stack)
    assert sent(stack, "9001")[-1]["ak"] == "AK-NEW-H37010200001"
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert sent(stack, "1101")[-1]["ak"] == "AK-NEW-H37010200001"


def test_bad_batches_write_nothing_and_say_why(tmp_path):
    d = data_dir(tmp_path)
    before = (d / "keys.tsv").read_bytes()
    rows = new_rows()
    org = "PDY60134132080312D6005"    # the own village H37010200105
    cases = [
        ([("H37099900001", "AK-X", "SK-X-SECRET", "2026-01-01",
           "2099-01-01")] + rows, "entity H37099900001 is not in the "
                                  "registry"),
        ([("PDY60134132080312Z9999", "AK-X", "SK-X-SECRET", "2026-01-01",
           "2099-01-01")] + rows, "clinic PDY60134132080312Z9999 is not in "
                                  "the registry"),
        (rows + [rows[0]], "code H37010200001 is a duplicate of line 2"),
        (rows + [(org, rows[0][1], "SK-Y-SECRET", "2026-01-01",
                  "2099-01-01")],
         "the AK of %s is the AK of line 2" % org),
        (rows + [(org, "AK-Z", "SK-Z-SECRET", "2026-01-01", "2099-01-01")],
         "%s has key_id k-H37010200105, as line 4" % org),
        (rows[:2] + [(rows[2][0], "AK-W", "SK-W-SECRET", "soon",
                      "2099-01-01")], "not a date"),
        (rows[:2] + [(rows[2][0], "AK-W", "SK-W-SECRET", "2027-01-01",
                      "2026-01-01")], "valid to is not after valid from"),
        (rows[:2] + [(rows[2][0], "AK-W", "SK-W-SECRET", "2026-01-01")],
         "expected 5 fields"),
        # columns out of order: a key where a code or a time belongs
        (rows[:2] + [("SK-IN-CODE-SECRET", "AK-V", rows[2][0],
                      "2026-01-01", "2099-01-01")],
         "the code column is neither"),
        (rows[:2] + [(rows[2][0], "AK-U", "2026-01-01",
                      "SK-IN-TIME-SECRET", "2099-01-01")],
         "valid from (not shown) / valid to '2099-01-01': not a date"),
    ]
    for i, (bad_rows, words) in enumerate(cases):
        b = batch(tmp_path / ("bad%d.csv" % i), bad_rows)
        r = keys_tool("import", b, "--registry", str(d / "clinics.tsv"),
                      "--keys", str(d / "keys.tsv"))
        assert r.returncode == 1, (words, r.stdout, r.stderr)
        assert words in r.stderr, (words, r.stderr)
        assert "nothing written" in r.stderr
        assert not secrets_in(r.stdout + r.stderr, bad_rows), r.stderr
        assert "SECRET" not in r.stdout + r.stderr, r.stderr
        assert (d / "keys.tsv").read_bytes() == before

    # a clinic left without a key: a batch that replaces the file and
    # forgets one entity
    b = batch(tmp_path / "partial.csv", rows[:2])
    r = keys_tool("import", b, "--registry", str(d / "clinics.tsv"),
                  "--keys", str(d / "keys.tsv"), "--replace")
    assert r.returncode == 1
    assert "1 clinic(s) left without a valid key: " + org in r.stderr
    assert (d / "keys.tsv").read_bytes() == before

    # and an expired key does not count as one
    b = batch(tmp_path / "expired.csv", new_rows("2020-01-01",
                                                 "2021-01-01"))
    r = keys_tool("import", b, "--registry", str(d / "clinics.tsv"),
                  "--keys", str(d / "keys.tsv"), "--replace")
    assert r.returncode == 1
    assert "7 clinic(s) left without a valid key" in r.stderr


def test_rotation_mid_traffic_no_failed_request(make_stack, tmp_path):
    """The new keys become valid some seconds after the start: requests
    sent all the while all succeed, first signed with the old keys, then
    with the new (the simulator knows both, each within its times).  The
    stack must be serving before the switch: on a loaded machine that
    takes a few seconds, under valgrind many more."""
    d = data_dir(tmp_path)
    tz = datetime.timezone(datetime.timedelta(hours=8))
    window = 60 if harness.yibao_stack.valgrind_env() else 15
    switch = datetime.datetime.now(tz).replace(microsecond=0) \
        + datetime.timedelta(seconds=window)
    rows = new_rows(switch.strftime("%Y-%m-%d %H:%M:%S"), "2099-12-31")
    b = batch(tmp_path / "batch.csv", rows)
    r = keys_tool("import", b, "--registry", str(d / "clinics.tsv"),
                  "--keys", str(d / "keys.tsv"))
    assert r.returncode == 0, r.stderr

    stack = make_stack(data_dir=str(d))
    clinic = ready_clinic(stack)
    assert datetime.datetime.now(tz) < switch, \
        "the stack served only after the new keys' valid-from"
    failed, aks = [], []

    def traffic():
        deadline = time.monotonic() + harness.HANG_GUARD
        while time.monotonic() < deadline:
            res = send(stack, envelope(clinic))
            if res.status != 200 or res.body["infcode"] != 0:
                failed.append(res.body)
            got = sent(stack, "1101")
            if got and got[-1]["ak"] == "AK-NEW-H37010200001":
                return

    t = threading.Thread(target=traffic)
    t.start()
    t.join()
    assert failed == []
    aks = [x["ak"] for x in sent(stack, "1101")]
    # the old key until the switch, the new one from then on
    assert aks[0] == "DEMO-AK-H37010200001"
    assert aks[-1] == "AK-NEW-H37010200001"
    first_new = aks.index("AK-NEW-H37010200001")
    assert set(aks[:first_new]) == {"DEMO-AK-H37010200001"}


def test_no_valid_key_refused_before_sending(make_stack, tmp_path):
    d = data_dir(tmp_path)
    keys = (d / "keys.tsv").read_text().splitlines()
    with open(d / "keys.tsv", "w") as f:
        for line in keys:
            if line.startswith("k-H37010200001\t"):
                line += "\t2020-01-01T00:00:00+08:00\t2021-01-01T00:00:00Z"
            f.write(line + "\n")
    stack = make_stack(data_dir=str(d))
    clinic = township_clinic(stack)
    r = send(stack, envelope(clinic))
    assert_rejected(r.status, r.body, 503, 3003, "H37010200001",
                    "k-H37010200001")
    assert sent(stack, "1101") == []
    stack.allowed_log = ("has no key valid now",)


def keys_api(stack, query="", post=False):
    import json
    import urllib.error
    import urllib.request
    url = stack.status_url + "/yibao/keys" + query
    req = urllib.request.Request(url, data=b"" if post else None,
                                 method="POST" if post else "GET")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_rollback_without_reload_and_key_states(make_stack, tmp_path):
    """The platform has not taken the new key: the operator switches the
    entity back to the older (API and CLI), which signs at once, without
    a reload; forward again later.  States: the older activated by its
    sign-in, the newer never used; no AK or SK in any answer."""
    import json
    d = data_dir(tmp_path)
    rows = new_rows("2026-01-01", "2099-12-31")
    r = keys_tool("import", batch(tmp_path / "batch.csv", rows),
                  "--registry", str(d / "clinics.tsv"),
                  "--keys", str(d / "keys.tsv"))
    assert r.returncode == 0, r.stderr
    stack = make_stack(data_dir=str(d), start=False)
    # the platform knows the old keys only
    inst = stack.path("data", "institutions.tsv")
    stack.write_files = lambda: None
    with open(inst) as f:
        lines = [l for l in f if "AK-NEW-" not in l]
    with open(inst, "w") as f:
        f.writelines(lines)
    stack.start()
    clinic = township_clinic(stack)
    r = send(stack, envelope(clinic, infno="9001", inp={"signIn": {
        "opter_no": "001", "mac": "00-16-3E-00-00-01", "ip": "10.0.0.9"}}))
    assert r.body["infcode"] != 0     # signed with the new key: refused

    api = stack.status_url + "/yibao/keys"
    out = keys_tool("use", "k-H37010200001", "older", "--gateway", api)
    assert out.returncode == 0, out.stderr
    assert "k-H37010200001@0" in out.stdout

    clinic = ready_clinic(stack)
    assert sent(stack, "9001")[-1]["ak"] == "DEMO-AK-H37010200001"
    r = send(stack, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert sent(stack, "1101")[-1]["ak"] == "DEMO-AK-H37010200001"

    status, body = keys_api(stack, "?key_id=k-H37010200001")
    assert status == 200, body
    doc = json.loads(body)
    states = {k["label"]: k for k in doc["keys"]}
    old = states["k-H37010200001@0"]
    assert old["signs"] and old["chosen"] and old["state"] == "activated"
    assert old["activated"] is not None
    new = [k for k in doc["keys"] if k["label"] != old["label"]][0]
    assert not new["signs"] and new["state"] == "never_used"

    st = keys_tool("state", "--gateway", api)
    assert st.returncode == 0
    status, everything = keys_api(stack)
    assert status == 200
    for text in (body, everything, st.stdout, out.stdout):
        assert "DEMO-SK" not in text and "DEMO-AK" not in text
        assert not secrets_in(text, rows)

    # refused: an unknown key_id, a bad use, a key_id without an older
    assert keys_api(stack, "?key_id=nope&use=older", post=True)[0] == 404
    # every answer ends with one newline (the error's ended with two)
    assert keys_api(stack, "?key_id=nope") == (
        404, '{"error":"no such key_id"}\n')
    assert everything.endswith("]}\n") and not everything.endswith("\n\n")
    assert keys_api(stack, "?key_id=k-H37010200001&use=x", post=True)[0] \
        == 400
    # ... and by the tool: the gateway's reason and the exit status
    out = keys_tool("use", "nope", "older", "--gateway", api)
    assert out.returncode == 1 and "no such key_id" in out.stderr
    out = keys_tool("state", "--gateway", api, "--key-id", "nope")
    assert out.returncode == 1 and "no such key_id" in out.stderr
    out = keys_tool("use", "k-H37010200001", "older", "--gateway",
                    "http://127.0.0.1:%d/yibao/keys" % harness.free_port())
    assert out.returncode == 3 and "cannot reach" in out.stderr

    # forward again: the new key signs (and the platform refuses it)
    out = keys_tool("use", "k-H37010200001", "newer", "--gateway", api)
    assert out.returncode == 0, out.stderr
    n = len(sent(stack, "1101"))
    r = send(stack, envelope(clinic))
    assert r.body["infcode"] != 0
    # refused at the platform's gate, before its envelope was read
    assert len(sent(stack, "1101")) == n


def test_rollback_reaches_the_other_node_through_redis(make_stack,
                                                       make_redis,
                                                       tmp_path):
    """Two nodes sharing Redis: the rollback made on one is copied by
    the other into its zone (within the 2 s of its sync) and it signs
    with the older key too."""
    import json
    d = data_dir(tmp_path)
    rows = new_rows("2026-01-01", "2099-12-31")
    r = keys_tool("import", batch(tmp_path / "batch.csv", rows),
                  "--registry", str(d / "clinics.tsv"),
                  "--keys", str(d / "keys.tsv"))
    assert r.returncode == 0, r.stderr
    server = make_redis()
    a = make_stack(data_dir=str(d), redis=server)
    b = make_stack(data_dir=str(d), redis=server)
    clinic = ready_clinic(b)
    assert sent(b, "9001")[-1]["ak"] == "AK-NEW-H37010200001"

    status, _ = keys_api(a, "?key_id=k-H37010200001&use=older", post=True)
    assert status == 200

    def chosen_on_b():
        doc = json.loads(keys_api(b, "?key_id=k-H37010200001")[1])
        return any(k["chosen"] for k in doc["keys"])

    harness.wait_until("the choice on node B", chosen_on_b)
    r = send(b, envelope(clinic))
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    assert sent(b, "1101")[-1]["ak"] == "DEMO-AK-H37010200001"
    a.allowed_log = ("set to sign with",)


def test_status_and_coverage_show_key_states(make_stack, tmp_path):
    """The status document counts the keys by state as the keys API
    says them (never used, activated, expiring within 30 days, expired,
    not yet valid); the coverage summary counts the clinics of each
    county and township hospital by the state of the key that signs for
    them (a township's villages share its key and its activation); the
    status page shows both; no AK or SK anywhere."""
    import json
    import re
    import urllib.request
    from test_coverage import get as coverage_get
    from test_status import STATUS, PAGE
    from test_status_page import CHROMIUM, chromium

    d = data_dir(tmp_path)
    now = datetime.datetime.now(datetime.timezone.utc)

    def t(delta):
        return (now + delta).strftime("%Y-%m-%dT%H:%M:%SZ")

    rows = [
        # always valid: never used until the sign-in below
        ("k-H37010200001", "AK-ONE", "SK-ONE-SECRET"),
        # ends in 10 days: expiring
        ("k-H37010200002", "AK-TWO", "SK-TWO-SECRET",
         t(-datetime.timedelta(days=100)), t(datetime.timedelta(days=10))),
        # an expired key, and its successor not yet valid
        ("k-H37010200105", "AK-OLD", "SK-OLD-SECRET",
         "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
        ("k-H37010200105", "AK-NEXT", "SK-NEXT-SECRET",
         "2099-01-01T00:00:00Z", "2100-01-01T00:00:00Z"),
    ]
    with open(d / "keys.tsv", "w") as f:
        f.writelines("\t".join(r) + "\n" for r in rows)
    stack = make_stack(data_dir=str(d))
    secrets = [s for r in rows for s in r[1:3]]

    def status():
        with urllib.request.urlopen(stack.status_url + STATUS,
                                    timeout=60) as r:
            return json.loads(r.read())

    def summary():
        code, _, body = coverage_get(stack, "?report=summary")
        assert code == 200, body
        return json.loads(body)

    doc = status()
    assert doc["config"]["keys"] == 4
    assert doc["keys"] == {"never_used": 1, "activated": 0, "expiring": 1,
                           "expired": 1, "pending": 1}

    ready_clinic(stack)         # a village of H37010200001 signs in

    doc = status()
    assert doc["keys"] == {"never_used": 0, "activated": 1, "expiring": 1,
                           "expired": 1, "pending": 1}
    # the same states as the keys API's, key by key
    code, body = keys_api(stack)
    assert code == 200
    api = {}
    for k in json.loads(body)["keys"]:
        api[k["state"]] = api.get(k["state"], 0) + 1
    assert {s: n for s, n in doc["keys"].items() if n} == api
    # ... and in the metrics, a gauge per state
    from test_status import metrics
    text = metrics(stack)
    for state, n in doc["keys"].items():
        assert 'yibao_keys{state="%s"} %d\n' % (state, n) in text, state

    # the clinics by their signing key's state: the township hospital's
    # three villages and itself share the activated key, the second
    # township's key is expiring, the own village has none valid now
    cov = summary()
    assert cov["keys"] == {"none": 0, "never_used": 0, "activated": 4,
                           "expiring": 2, "expired": 0, "pending": 1}
    assert cov["total"]["keys"] == cov["keys"]
    (county,) = cov["counties"]
    assert county["admdvs"] == "370102" and county["keys"] == cov["keys"]
    towns = {x["entity"]: x["keys"] for x in cov["townships"]}
    assert towns["H37010200001"]["activated"] == 3
    assert towns["H37010200002"] == {"none": 0, "never_used": 0,
                                     "activated": 0, "expiring": 1,
                                     "expired": 0, "pending": 0}
    # ... in CSV too, one column per state
    code, _, body = coverage_get(stack, "?report=townships&format=csv")
    text = body.decode("utf-8")
    head, *lines = text.splitlines()
    assert head.endswith(",key_none,key_never_used,key_activated,"
                         "key_expiring,key_expired,key_pending")
    assert any(l.startswith("township,H37010200002,")
               and l.endswith(",0,0,0,1,0,0") for l in lines), text

    with urllib.request.urlopen(stack.status_url + STATUS,
                                timeout=60) as r:
        status_text = r.read().decode("utf-8")
    with urllib.request.urlopen(stack.status_url + PAGE, timeout=60) as r:
        page = r.read().decode("utf-8")
    for text in (status_text, page, json.dumps(cov), body.decode("utf-8")):
        assert not [s for s in secrets if s in text]

    # the page draws them (when a browser is there to run it)
    if os.path.exists(CHROMIUM):
        dom = chromium(tmp_path, stack.status_url + PAGE, "--dump-dom")
        kv = re.search(r'<div class="kv" id="keys-kv">(.*?)</div>', dom,
                       re.S)
        assert kv, dom[:3000]
        cells = re.findall(r'<span[^>]*>([^<]*)</span>', kv.group(1))
        assert cells == ["keys", "4", "never used", "0", "activated", "1",
                         "expiring within 30 days", "1", "expired", "1",
                         "not yet valid", "1"], cells
        assert re.search(r'class="bad">1</span>', kv.group(1))
        row = re.search(r'<tr data-township="H37010200002">(.*?)</tr>',
                        dom, re.S)
        assert row and "1 expiring" in row.group(1), dom[-3000:]
