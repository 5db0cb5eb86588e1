"""Status and metrics: the JSON document of yibao_status and
the Prometheus text of yibao_metrics, counted from real traffic through
the gateway and the platform simulator; reload, methods, access."""

import concurrent.futures
import http.client
import json
import math
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import harness
from harness import sim_post

import yibao_client as client

CALLER = "village-subsystem"
SECRET = "demo-village-subsystem-secret-0001"

STATUS = "/yibao/status"
METRICS = "/yibao/metrics"
PAGE = "/yibao/status.html"

CLASSES = ("ok", "platform_error", "rejected", "upstream_failure",
           "unknown_outcome")


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def registry(stack):
    rows = harness.yibao_stack.read_tsv(stack.path("data", "clinics.tsv"))
    return [dict(zip(("org", "name", "admdvs", "mode", "entity",
                      "entity_name", "key"), r)) for r in rows]


def township_clinic(stack):
    return next(c for c in registry(stack) if c["mode"] == "township")


def caller_secret(stack, caller):
    for row in harness.yibao_stack.read_tsv(stack.path("data",
                                                       "callers.tsv")):
        if row[0] == caller:
            return row[1]
    raise KeyError(caller)


def envelope(clinic, infno="1101", inp=None):
    inp = inp if inp is not None else {"data": {
        "mdtrt_cert_type": "02", "mdtrt_cert_no": "370102195603152017",
        "card_sn": "", "begntime": "", "psn_cert_type": "01",
        "certno": "370102195603152017", "psn_name": ""}}
    return client.make_envelope(infno, inp, clinic["org"], clinic["name"],
                                clinic["admdvs"],
                                sign_no=clinic.get("sign_no", ""))


def send(stack, env, caller=CALLER, secret=SECRET):
    return client.post(stack.url, caller, secret, env)


def signed_in(stack, clinic):
    env = client.make_envelope("9001", {"signIn": {
        "opter_no": "001", "mac": "00:16:3e:00:00:01",
        "ip": "127.0.0.1"}}, clinic["org"], clinic["name"],
        clinic["admdvs"])
    r = send(stack, env)
    assert r.status == 200 and r.body["infcode"] == 0, r.body
    return dict(clinic, sign_no=r.body["output"]["signinoutb"]["sign_no"])


def get(stack, path, method="GET", body=None, source=None):
    """(status, headers, body bytes) of one request to the status
    server, optionally from another loopback source address."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.status_port,
                                      timeout=10,
                                      source_address=source)
    conn.request(method, path, body=body)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def status(stack):
    code, headers, data = get(stack, STATUS)
    assert code == 200, data
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    return json.loads(data)


def metrics(stack):
    code, headers, data = get(stack, METRICS)
    assert code == 200, data
    assert headers["content-type"] == \
        "text/plain; version=0.0.4; charset=utf-8"
    return data.decode("utf-8")


def wait_status(stack, predicate, timeout=harness.HANG_GUARD):
    """The status document once predicate(doc) holds: the log phase of
    the last request may run a moment after its answer was read (the
    timeout is a hang guard)."""
    deadline = time.monotonic() + timeout
    while True:
        doc = status(stack)
        if predicate(doc):
            return doc
        if time.monotonic() > deadline:
            raise AssertionError("status never matched: %s"
                                 % json.dumps(doc)[:2000])
        time.sleep(0.05)


def infno(doc, name):
    for row in doc["infnos"]:
        if row["infno"] == name:
            return row
    return None


# ---------------------------------------------------------------------------
# a strict parser of the Prometheus text exposition format 0.0.4
# ---------------------------------------------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "bad labels %r at %d" % (text, pos)
        assert m.group(1) not in labels, "label twice in %r" % text
        labels[m.group(1)] = re.sub(r"\\(.)", lambda x: {
            "n": "\n"}.get(x.group(1), x.group(1)), m.group(2))
        pos = m.end()
        if pos < len(text):
            assert text[pos] == ",", "bad labels %r" % text
            pos += 1
    return labels


def parse_prometheus(text):
    """{family: type}, {(name, ((label, value), ...)): float}.  Every
    line is a HELP or TYPE comment, another comment, blank, or a sample
    of a family whose HELP and TYPE came before it; no sample twice."""
    assert text.endswith("\n"), "the last line has no newline"
    helps, types, samples = set(), {}, {}
    for line in text[:-1].split("\n"):
        if line == "":
            continue
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(NAME, name), line
            assert name not in helps, "HELP twice: " + line
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4 and parts[3] in TYPES, line
            assert parts[2] in helps, "TYPE before HELP: " + line
            assert parts[2] not in types, "TYPE twice: " + line
            types[parts[2]] = parts[3]
            continue
        if line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), parse_labels(m.group(2) or ""), \
            m.group(3)
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and \
                    types.get(name[:-len(suffix)]) == "histogram":
                family = name[:-len(suffix)]
        assert family in types, "sample before its TYPE: " + line
        if types[family] == "histogram":
            assert name != family, "bare histogram sample: " + line
            assert ("le" in labels) == name.endswith("_bucket"), line
        v = float(value)
        assert not math.isnan(v) or types[family] == "gauge", line
        key = (name, tuple(sorted(labels.items())))
        assert key not in samples, "sample twice: " + line
        samples[key] = v
    return types, samples


def check_histograms(types, samples):
    """Cumulative buckets, ending in +Inf equal to _count."""
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for (name, labels), v in samples.items():
            if name == family + "_bucket":
                rest = tuple(kv for kv in labels if kv[0] != "le")
                le = dict(labels)["le"]
                series.setdefault(rest, []).append(
                    (math.inf if le == "+Inf" else float(le), v))
        for rest, buckets in series.items():
            buckets.sort()
            values = [v for _, v in buckets]
            assert values == sorted(values), (family, rest, buckets)
            assert buckets[-1][0] == math.inf, (family, rest)
            assert samples[(family + "_count", rest)] == values[-1]
            assert (family + "_sum", rest) in samples


def sample(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def monotonic(types, before, after):
    """Every counter and histogram sample of the first scrape is in the
    second, and none went down."""
    for (name, labels), v in before.items():
        family = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in types:
                family = name[:-len(suffix)]
        if types[family] not in ("counter", "histogram"):
            continue
        assert (name, labels) in after, (name, labels)
        assert after[(name, labels)] >= v, (name, labels, v,
                                             after[(name, labels)])


# ---------------------------------------------------------------------------
# traffic of every class, counted
# ---------------------------------------------------------------------------

def test_outcomes_counted_in_json_and_prometheus(make_stack):
    stack = make_stack(scheme="none", read_timeout="1s")
    clinic = township_clinic(stack)

    doc = status(stack)
    assert doc["version"] == 1
    assert doc["totals"]["requests"] == 0
    assert doc["infnos"] == []
    assert doc["clinics"]["top"] == []
    assert doc["store"] == {"backend": "embedded", "up": True,
                            "degraded": False, "errors": 0}
    assert doc["platform"]["last_success"] is None
    assert doc["config"]["clinics"] == len(registry(stack))
    assert doc["config"]["mapping_rows"] > 0
    assert doc["config"]["translate_rules"] > 0

    # ok: a sign-in and three person queries
    ready = signed_in(stack, clinic)
    for _ in range(3):
        r = send(stack, envelope(ready))
        assert r.status == 200 and r.body["infcode"] == 0, r.body

    # platform error: no sign_no, the platform answers infcode -1
    r = send(stack, envelope(dict(clinic, sign_no="")))
    assert r.status == 200 and r.body["infcode"] == -1, r.body

    # rejected before the envelope is read: a wrong caller signature
    r = send(stack, envelope(ready), secret="wrong-secret-wrong-secret")
    assert r.status == 401

    # rejected for the clinic: a caller that may only query 1101
    r = send(stack, envelope(ready, infno="2201", inp={"data": {}}),
             caller="his-readonly",
             secret=caller_secret(stack, "his-readonly"))
    assert r.status == 403, r.body

    # upstream failure: the platform answers HTTP 500
    sim_post(stack, "fault", {"infno": "1101", "mode": "http_500",
                              "count": 1})
    r = send(stack, envelope(ready))
    assert r.status == 502, r.body
    assert r.body["err_msg"].startswith("YB6003"), r.body

    # the platform answers after proxy_read_timeout (it holds the
    # request until then): for a read, a plain upstream failure
    # (nothing it does can be in doubt)
    sim_post(stack, "fault", {"infno": "1101", "mode": "hold",
                              "count": 1})
    r = send(stack, envelope(ready))
    assert r.status == 504, r.body
    assert r.body["err_msg"].startswith("YB6002"), r.body
    sim_post(stack, "release")

    doc = wait_status(stack, lambda d: d["totals"]["requests"] == 9)

    assert doc["totals"] == {"requests": 9, "ok": 4, "platform_error": 1,
                             "rejected": 2, "upstream_failure": 2,
                             "unknown_outcome": 0, "success_ratio": 0.4444}

    row = infno(doc, "1101")
    assert {c: row[c] for c in CLASSES} == {
        "ok": 3, "platform_error": 1, "rejected": 0,
        "upstream_failure": 2, "unknown_outcome": 0}
    assert row["requests"] == 6
    assert row["latency_ms"]["count"] == 6
    assert row["upstream_ms"]["count"] == 6
    # the timed-out request waited a second for the platform
    assert row["latency_ms"]["p95"] >= 1000
    assert row["last_15m"]["requests"] == 6
    assert row["last_15m"]["ok"] == 3
    assert sum(row["series"]["requests"]) == 6
    assert len(row["series"]["requests"]) == 60

    assert infno(doc, "9001")["ok"] == 1
    # refused before its infno was read, and the one with 2201
    assert infno(doc, "other")["rejected"] == 1
    assert infno(doc, "2201")["rejected"] == 1
    assert infno(doc, "2201")["upstream_ms"]["count"] == 0

    assert sum(doc["series"]["requests"]) == 9
    assert doc["series"]["step"] == 60
    assert doc["series"]["start"] <= doc["now"] - 59 * 60

    reasons = {x["reason"]: x for x in doc["rejections"]}
    assert reasons["auth_signature"]["code"] == "YB2003"
    assert reasons["auth_signature"]["count"] == 1
    assert reasons["denied_infno"]["count"] == 1
    upstream = {x["code"]: x for x in doc["upstream_errors"]}
    assert upstream["YB6003"]["class"] == "upstream_failure"
    assert upstream["YB6002"]["class"] == "unknown_outcome"
    assert upstream["YB6002"]["reason"] == "upstream_timeout"

    # the embedded store, limits on every request that got that far
    assert doc["store"] == {"backend": "embedded", "up": True,
                            "degraded": False, "errors": 0}
    assert doc["ratelimit"]["passed"] >= 1
    assert doc["ratelimit"]["rejected"] == 0

    platform = doc["platform"]
    assert platform["last_success"] and platform["last_failure"]
    assert platform["last_success"] <= doc["now"]
    w = {x["window"]: x for x in platform["windows"]}
    assert w["15m"]["forwarded"] == 7
    assert w["15m"]["failed"] == 2
    assert w["15m"]["platform_errors"] == 1
    assert abs(w["15m"]["error_ratio"] - 2 / 7) < 0.001

    # the failing clinic, with its latest errors first and its name from
    # the registry; nobody failed before the registry knew the clinic
    clinics = doc["clinics"]
    assert clinics["tracked"] == 1 and clinics["capacity"] == 64
    top = clinics["top"][0]
    assert top["clinic"] == clinic["org"]
    assert top["name"] == clinic["name"]
    assert top["entity"] == clinic["entity"]
    assert top["failures"] == 4
    assert (top["platform_error"], top["rejected"], top["upstream_failure"],
            top["unknown_outcome"]) == (1, 1, 2, 0)
    errors = top["errors"]
    assert [e["code"] for e in errors] == ["YB6002", "YB6003", "YB2102",
                                           None]
    assert errors[3]["infcode"] == -1 and errors[3]["infno"] == "1101"
    assert errors[2]["infno"] == "2201"
    assert errors[0]["class"] == "upstream_failure"

    # the same numbers in the Prometheus text
    text = metrics(stack)
    types, samples = parse_prometheus(text)
    check_histograms(types, samples)

    for family, kind in (("yibao_requests_total", "counter"),
                         ("yibao_rejections_total", "counter"),
                         ("yibao_upstream_errors_total", "counter"),
                         ("yibao_request_duration_seconds", "histogram"),
                         ("yibao_upstream_duration_seconds", "histogram"),
                         ("yibao_platform_last_success_timestamp_seconds",
                          "gauge"),
                         ("yibao_platform_error_ratio", "gauge"),
                         ("yibao_mapping_rows", "gauge"),
                         ("yibao_store_up", "gauge"),
                         ("yibao_ratelimit_total", "counter"),
                         ("yibao_cache_total", "counter")):
        assert types.get(family) == kind, family

    def req(i, c):
        return sample(samples, "yibao_requests_total", infno=i, **{
            "class": c})

    assert [req("1101", c) for c in CLASSES] == [3, 1, 0, 2, 0]
    assert req("9001", "ok") == 1
    assert req("other", "rejected") == 1
    assert req("2207", "ok") is None        # no traffic, no series
    assert sample(samples, "yibao_rejections_total",
                  reason="auth_signature") == 1
    assert sample(samples, "yibao_upstream_errors_total",
                  reason="upstream_timeout", **{
                      "class": "unknown_outcome"}) == 1
    assert sample(samples, "yibao_request_duration_seconds_count",
                  infno="1101") == 6
    assert sample(samples, "yibao_request_duration_seconds_bucket",
                  infno="1101", le="0.5") <= 5
    assert sample(samples, "yibao_request_duration_seconds_sum",
                  infno="1101") >= 1.0
    assert sample(samples, "yibao_platform_last_success_timestamp_seconds") \
        == platform["last_success"]
    assert abs(sample(samples, "yibao_platform_error_ratio",
                      window="15m") - 2 / 7) < 0.001
    assert sample(samples, "yibao_store_up", backend="embedded") == 1
    assert sample(samples, "yibao_mapping_rows") == \
        doc["config"]["mapping_rows"]
    assert sample(samples, "yibao_failing_clinics") == 1

    # no per-clinic series: clinics only in the JSON document
    assert clinic["org"] not in text and clinic["entity"] not in text
    assert not any("clinic" in dict(labels) for _, labels in samples)

    # counters only go up between two scrapes; one more request shows
    r = send(stack, envelope(ready))
    assert r.status == 200
    wait_status(stack, lambda d: d["totals"]["requests"] == 10)
    types2, samples2 = parse_prometheus(metrics(stack))
    assert types2 == types
    monotonic(types, samples, samples2)
    assert sample(samples2, "yibao_requests_total", infno="1101", **{
        "class": "ok"}) == 4


def test_unknown_transactions_share_one_slot(make_stack):
    stack = make_stack(scheme="none")
    ready = signed_in(stack, township_clinic(stack))

    for code in ("1102", "4499", "9999"):
        r = send(stack, envelope(ready, infno=code, inp={"data": {}}))
        assert r.body["infcode"] == -1, r.body

    doc = wait_status(stack, lambda d: d["totals"]["requests"] == 4)
    assert [x["infno"] for x in doc["infnos"]] == ["9001", "other"]
    assert infno(doc, "other")["requests"] == 3

    types, samples = parse_prometheus(metrics(stack))
    infnos = {dict(labels)["infno"] for name, labels in samples
              if name == "yibao_requests_total"}
    assert infnos == {"9001", "other"}


def test_concurrent_requests_all_counted(make_stack):
    stack = make_stack(scheme="none", workers=4)
    ready = signed_in(stack, township_clinic(stack))

    def one(_):
        return send(stack, envelope(ready)).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(one, range(120)))
    assert codes == [200] * 120

    doc = wait_status(stack, lambda d: d["totals"]["requests"] >= 121)
    assert doc["totals"]["requests"] == 121
    row = infno(doc, "1101")
    assert row["ok"] == 120
    assert row["latency_ms"]["count"] == 120
    assert sum(row["series"]["requests"]) == 120

    types, samples = parse_prometheus(metrics(stack))
    check_histograms(types, samples)
    assert sample(samples, "yibao_request_duration_seconds_count",
                  infno="1101") == 120


# ---------------------------------------------------------------------------
# the store and the rate limits, as the requests found them
# ---------------------------------------------------------------------------

LIMIT = "yibao_limit name=t1 by=clinic rate=60r/m burst=2 infno=1101;"


def sign_in_until(stack, clinic, predicate, tries=100):
    """Sign-ins (they use the store: nonces) until the status document
    matches predicate."""
    for _ in range(tries):
        client.post(stack.url, CALLER, SECRET, client.make_envelope(
            "9001", {"signIn": {"opter_no": "001", "mac": "m",
                                "ip": "127.0.0.1"}}, clinic["org"],
            clinic["name"], clinic["admdvs"]), timeout=10)
        time.sleep(0.05)
        doc = status(stack)
        if predicate(doc):
            return doc
        time.sleep(0.05)
    raise AssertionError("never: %s" % json.dumps(status(stack))[:2000])


def test_store_state_and_rate_limits(make_stack, make_redis):
    server = make_redis()
    # started once every worker is connected to Redis (a request a worker
    # takes before that is served as with Redis down, and counted so)
    stack = make_stack(scheme="none", redis=server, limits=(LIMIT,))
    clinic = township_clinic(stack)
    ready = signed_in(stack, clinic)

    doc = sign_in_until(stack, clinic,
                        lambda d: d["store"]["backend"] == "redis")
    assert doc["store"] == {"backend": "redis", "up": True,
                            "degraded": False, "errors": 0}

    got = [send(stack, envelope(ready)).status for _ in range(4)]
    assert got == [200, 200, 200, 429]

    # the two workers count in their log phases, in either order
    doc = wait_status(stack, lambda d: d["ratelimit"]["rejected"] == 1
                      and d["ratelimit"]["passed"] >= 3)
    reasons = {x["reason"]: x for x in doc["rejections"]}
    assert reasons["rate_limited"]["code"] == "YB3101"
    assert reasons["rate_limited"]["count"] == 1
    assert infno(doc, "1101")["rejected"] == 1
    assert doc["clinics"]["top"][0]["errors"][0]["code"] == "YB3101"

    types, samples = parse_prometheus(metrics(stack))
    assert sample(samples, "yibao_store_up", backend="redis") == 1
    assert sample(samples, "yibao_store_degraded") == 0
    assert sample(samples, "yibao_ratelimit_total", result="rejected") == 1
    assert sample(samples, "yibao_rejections_total",
                  reason="rate_limited") == 1

    # Redis gone: the gateway goes on with its own zone, degraded
    server.stop()
    doc = sign_in_until(stack, clinic, lambda d: not d["store"]["up"])
    assert doc["store"]["backend"] == "redis"
    assert doc["store"]["degraded"] is True
    assert doc["store"]["errors"] >= 1
    types, samples = parse_prometheus(metrics(stack))
    assert sample(samples, "yibao_store_up", backend="redis") == 0
    assert sample(samples, "yibao_store_degraded") == 1
    assert sample(samples, "yibao_store_errors_total") >= 1

    # the limit decided by this node's share meanwhile
    r = client.post(stack.url, CALLER, SECRET, envelope(ready), timeout=10)
    assert r.status in (200, 429), r.body
    wait_status(stack, lambda d: d["ratelimit"]["local"] == 1)

    # and back, once the workers have reconnected (their backoff)
    since = stack.error_log_size()
    server.start()
    stack.wait_redis(since)
    doc = sign_in_until(stack, clinic, lambda d: d["store"]["up"])
    assert doc["store"]["backend"] == "redis"
    assert doc["store"]["degraded"] is False


def test_cache_answers_are_not_platform_traffic(make_stack):
    stack = make_stack(scheme="none")
    ready = signed_in(stack, township_clinic(stack))
    question = {"type": "psn_cert_type", "parentValue": "",
                "admdvs": "370102", "date": "", "valiFlag": "1"}

    first = send(stack, envelope(ready, infno="1901", inp=question))
    second = send(stack, envelope(ready, infno="1901", inp=question))
    assert first.headers["X-Yibao-Cache"] == "MISS"
    assert second.headers["X-Yibao-Cache"] == "HIT"
    assert second.body["infcode"] == 0

    doc = wait_status(stack, lambda d: d["totals"]["requests"] == 3)
    assert (doc["cache"]["miss"], doc["cache"]["hit"]) == (1, 1)
    assert infno(doc, "1901")["ok"] == 2
    # only the sign-in and the miss went to the platform
    assert infno(doc, "1901")["upstream_ms"]["count"] == 1
    assert {w["window"]: w["forwarded"]
            for w in doc["platform"]["windows"]}["5m"] == 2

    types, samples = parse_prometheus(metrics(stack))
    assert sample(samples, "yibao_cache_total", result="hit") == 1
    assert sample(samples, "yibao_platform_requests", window="5m") == 2


# ---------------------------------------------------------------------------
# reload, methods, access
# ---------------------------------------------------------------------------

def test_counters_survive_reload(make_stack):
    stack = make_stack(scheme="none")
    ready = signed_in(stack, township_clinic(stack))
    for _ in range(4):
        assert send(stack, envelope(ready)).status == 200
    sim_post(stack, "fault", {"infno": "1101", "mode": "http_500",
                              "count": 1})
    assert send(stack, envelope(ready)).status == 502

    before = wait_status(stack, lambda d: d["totals"]["requests"] == 6)
    assert before["reloads"] == 0
    types, samples = parse_prometheus(metrics(stack))

    time.sleep(1.1)     # config_loaded has a resolution of a second
    stack.reload()
    # answered by a new worker: an old one may still be finishing
    after = wait_status(stack, lambda d: d["reloads"] == 1
                        and d["config_loaded"] > before["config_loaded"],
                        timeout=10)

    assert after["started"] == before["started"]
    assert after["config_loaded"] > before["config_loaded"]
    assert after["totals"] == before["totals"]
    assert after["clinics"]["top"] == before["clinics"]["top"]
    assert after["platform"]["last_success"] == \
        before["platform"]["last_success"]
    types2, samples2 = parse_prometheus(metrics(stack))
    monotonic(types, samples, samples2)
    assert sample(samples2, "yibao_config_reloads_total") == 1

    # the new workers count on from there
    assert send(stack, envelope(ready)).status == 200
    doc = wait_status(stack, lambda d: d["totals"]["requests"] == 7)
    assert infno(doc, "1101")["ok"] == 5

    # a second reload
    stack.reload()
    wait_status(stack, lambda d: d["reloads"] == 2)
    assert status(stack)["totals"]["requests"] == 7


def test_methods(make_stack):
    stack = make_stack(scheme="none")

    for path in (STATUS, METRICS, PAGE):
        code, headers, body = get(stack, path)
        assert code == 200
        assert int(headers["content-length"]) == len(body) > 0
        assert headers["x-content-type-options"] == "nosniff"

        code, head_headers, head_body = get(stack, path, method="HEAD")
        assert code == 200
        assert head_body == b""
        assert head_headers["content-type"] == headers["content-type"]
        assert int(head_headers["content-length"]) > 0
        if path == PAGE:
            assert head_headers["content-length"] == \
                headers["content-length"]

        for method in ("POST", "PUT", "DELETE"):
            code, headers, body = get(stack, path, method=method,
                                      body=b'{"reset":true}')
            assert code == 405, (path, method)

    # a POST with a body on a keepalive connection: the body is
    # discarded and the next request on the connection is answered
    conn = http.client.HTTPConnection("127.0.0.1", stack.status_port,
                                      timeout=10)
    conn.request("POST", STATUS, body=b"x" * 5000)
    r = conn.getresponse()
    r.read()
    assert r.status == 405
    conn.request("GET", STATUS)
    r = conn.getresponse()
    assert r.status == 200 and json.loads(r.read())["version"] == 1
    conn.close()


def test_access_is_restricted(make_stack):
    denied = """
        location = /yibao/denied-status {
            deny 127.0.0.1;
            yibao_status;
        }

        location = /yibao/denied-metrics {
            deny 127.0.0.1;
            yibao_metrics;
        }
"""
    stack = make_stack(scheme="none", server_extra=denied)

    for path in ("/yibao/denied-status", "/yibao/denied-metrics"):
        conn = http.client.HTTPConnection("127.0.0.1", stack.port,
                                          timeout=10)
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        assert r.status == 403, path
        assert b'"totals"' not in body and b"# TYPE" not in body

    # the shipped configuration lets only 127.0.0.1 in: 127.0.0.2 is
    # another host as far as allow/deny are concerned
    for path in (STATUS, METRICS, PAGE):
        code, _, body = get(stack, path, source=("127.0.0.2", 0))
        assert code == 403, path
        assert b'"totals"' not in body
        assert get(stack, path)[0] == 200

    # and refused requests of the status server are not counted: it is
    # no gateway location
    assert status(stack)["totals"]["requests"] == 0


# ---------------------------------------------------------------------------
# configuration errors
# ---------------------------------------------------------------------------

def nginx_t(http_block):
    """nginx -t of a minimal configuration loading the module: (exit
    code, output)."""
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write("load_module %s;\nerror_log stderr;\npid %s/pid;\n"
                    "events {}\nhttp {\n%s\n}\n"
                    % (harness.yibao_stack.MODULE, d, http_block))
        p = subprocess.run(["nginx", "-p", d, "-c", conf, "-t"],
                           capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout + p.stderr


def test_configuration_errors():
    server = "server { listen 127.0.0.1:1; location / { %s } }"

    rc, out = nginx_t(server % "yibao_status;")
    assert rc != 0
    assert "need \"yibao_status_zone\"" in out

    rc, out = nginx_t("yibao_status_zone 64k;")
    assert rc != 0
    assert "invalid zone size \"64k\": at least" in out

    rc, out = nginx_t("yibao_status_zone 1m; yibao_status_zone 1m;")
    assert rc != 0
    assert "is duplicate" in out

    rc, out = nginx_t("yibao_status_zone 1m;\n"
                      + server % "yibao_status; yibao_metrics;")
    assert rc != 0
    assert "already has a content handler" in out

    rc, out = nginx_t("yibao_status_zone 1m;\n"
                      + server % "yibao_status on;")
    assert rc != 0
    assert "invalid number of arguments" in out

    rc, out = nginx_t("yibao_status_zone 1m;\n"
                      + server % "yibao_metrics;" + "\n"
                      + "server { listen 127.0.0.1:2; yibao_status; }")
    assert rc != 0
    assert "not allowed here" in out

    rc, out = nginx_t("yibao_status_zone 1m;\n" + server % "yibao_status;")
    assert rc == 0, out
