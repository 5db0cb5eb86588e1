#!/usr/bin/python3
"""Journal queries (`make bench`): how long the operators' queries take,
and what they do to the transactions beside them.

Part "day": FLOWS outpatient flows (9001 ... 2207, six
journaled transactions each) of one clinic through the simulator, four
at a time, with Redis (index sets) and with the embedded store; then
each query five times:

  BENCH journal_query store=<redis|zone> query=<q> records=N median_ms=X

Part "large": a large journal in the embedded store.  RECORDS
settlements (2207) of CLINICS clinics (tools/gen-registry.py), about 1
in 256 refused (the day's problems), answered at once by a canned
platform (a plain nginx, as in tests/bench/throughput.py: the simulator
settles some 100 transactions a second, too few to fill a zone).  Then
each query five times:

  BENCH journal_zone_query query=<q> answer=N examined=N holds=H median_ms=X

(examined, holds: the answer's X-Yibao-Journal-Zone header, "-" when
the module has none), and settlements at a steady TX_RATE a second
over four connections for TX_SECONDS, with no query running, with an
operator's queries QUERY_RATE a second (back to back when they take
longer) of small answers (a miss, a msgid, a visit, the day's problems,
the unknown), and with all of them, a clinic's day and an entity's
totals too (the three take turns, ROUNDS times):

  BENCH journal_zone_tx queries=<none|small|all> n=N p50_ms= p90_ms=
        p99_ms= max_ms= queries_run=Q

YIBAO_BENCH_MODULE runs another build of the module (the one before a
change: before/after figures); YIBAO_BENCH_JOURNAL_PARTS=day,large
chooses the parts.  Standard library only.
"""

import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))

import throughput  # noqa: E402
import yibao_client as client  # noqa: E402
import yibao_stack  # noqa: E402
from test_gateway_core import CALLER, SECRET, township_clinic  # noqa: E402

env = os.environ.get

FLOWS = int(env("YIBAO_BENCH_JOURNAL_FLOWS", "200"))
RECORDS = int(env("YIBAO_BENCH_JOURNAL_RECORDS", "100000"))
CLINICS = int(env("YIBAO_BENCH_JOURNAL_CLINICS", "1000"))
ZONE = env("YIBAO_BENCH_JOURNAL_ZONE", "1024m")
FILLERS = int(env("YIBAO_BENCH_JOURNAL_FILLERS", "4"))
TX_RATE = float(env("YIBAO_BENCH_JOURNAL_TX_RATE", "100"))
TX_SECONDS = float(env("YIBAO_BENCH_JOURNAL_TX_SECONDS", "30"))
ROUNDS = int(env("YIBAO_BENCH_JOURNAL_ROUNDS", "3"))
QUERY_RATE = float(env("YIBAO_BENCH_JOURNAL_QUERY_RATE", "5"))
MODULE = env("YIBAO_BENCH_MODULE") or None
PARTS = env("YIBAO_BENCH_JOURNAL_PARTS", "day,large").split(",")

PATH = client.DEFAULT_PATH


def timed(stack, query):
    t = time.monotonic()
    with urllib.request.urlopen(stack.url + query, timeout=600) as r:
        body = json.loads(r.read())
        cost = r.headers.get("X-Yibao-Journal-Zone")
    return (time.monotonic() - t) * 1000, body, cost


# --------------------------------------------------------------------------
# part "day": one clinic's day through the simulator
# --------------------------------------------------------------------------

def run_day(store, workdir):
    redis = yibao_stack.Redis(os.path.join(workdir, "redis")).start() \
        if store == "redis" else None
    stack = yibao_stack.Stack(os.path.join(workdir, store), scheme="none",
                              redis=redis, limits=(), module=MODULE)
    try:
        stack.start()
        time.sleep(0.5)
        c = township_clinic(stack)

        def worker(n):
            for _ in range(n):
                steps = client.outpatient_flow(stack.url, CALLER, SECRET,
                                               c["org"], c["name"],
                                               c["admdvs"])
                assert steps[-1][1] == 200, steps[-1]

        threads = [threading.Thread(target=worker, args=(FLOWS // 4,))
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        for name, query in (
                ("clinic", "/yibao/journal?clinic=" + c["org"]),
                ("problems", "/yibao/journal?problems=today"),
                ("totals", "/yibao/journal/totals?entity=" + c["entity"]),
                ("miss", "/yibao/journal?setl_id=nosuch")):
            runs = [timed(stack, query) for _ in range(5)]
            body = runs[0][1]
            n = len(body) if isinstance(body, list) \
                else body["all"]["fixmedins_setl_cnt"]
            print("BENCH journal_query store=%s query=%s records=%d "
                  "median_ms=%.1f" % (store, name, n,
                                      statistics.median(r[0]
                                                        for r in runs)),
                  flush=True)
    finally:
        stack.stop()
        if redis is not None:
            redis.stop()


# --------------------------------------------------------------------------
# part "large": a large journal in the zone
# --------------------------------------------------------------------------

SETLINFO = (
    '"psn_no":"PSN","psn_name":"王某某","psn_cert_type":"01",'
    '"certno":"370102195603152017","gend":"2","naty":"01",'
    '"brdy":"1956-03-15","age":67.8,"insutype":"390","psn_type":"60",'
    '"cvlserv_flag":"0","setl_time":"$time_iso8601",'
    '"mdtrt_cert_type":"02","med_type":"11","medfee_sumamt":35.2,'
    '"fulamt_ownpay_amt":0,"overlmt_selfpay":0,"preselfpay_amt":0,'
    '"inscp_scp_amt":35.2,"act_pay_dedc":0,"hifp_pay":21.12,'
    '"pool_prop_selfpay":0.4,"cvlserv_pay":0,"hifes_pay":0,'
    '"hifmi_pay":0,"hifob_pay":0,"maf_pay":0,"oth_pay":0,'
    '"fund_pay_sumamt":21.12,"psn_part_amt":14.08,"acct_pay":0,'
    '"psn_cash_pay":14.08,"hosp_part_amt":0,"balc":0,'
    '"acct_mulaid_pay":0,"medins_setl_id":"$request_id",'
    '"clr_optins":"370102","clr_way":"1","clr_type":"11"')

SETTLED = (
    '{"infcode":0,"inf_refmsgid":"$request_id",'
    '"refmsg_time":"20240115081530120","respond_time":"20240115081530180",'
    '"err_msg":null,"warn_msg":null,"cainfo":null,"signtype":null,'
    '"output":{"setlinfo":{"mdtrt_id":"M","setl_id":"S$request_id",'
    + SETLINFO + '},"setldetail":[{"fund_pay_type":"390100",'
    '"inscp_scp_amt":35.2,"crt_payb_lmt_amt":0,"fund_payamt":21.12,'
    '"fund_pay_type_name":"城乡居民基本医疗保险统筹基金",'
    '"setl_proc_info":""}]}}')

REFUSED = (
    '{"infcode":-1,"inf_refmsgid":"$request_id",'
    '"refmsg_time":"20240115081530120","respond_time":"20240115081530180",'
    '"err_msg":"结算失败：就诊信息不存在","warn_msg":null,"cainfo":null,'
    '"signtype":null,"output":{}}')

# the platform: every request answered at once, about 1 in 256 refused
CANNED_CONF = throughput.COMMON + """
    access_log off;

    map $request_id $bench_answer {
        "~00$"   '${refused}';
        default  '${settled}';
    }

    server {
        listen 127.0.0.1:${port};
        client_max_body_size 1m;
        client_body_buffer_size 1m;

        location / {
            default_type application/json;
            return 200 $bench_answer;
        }
    }
}
"""


def registry(workdir):
    """CLINICS clinics (tools/gen-registry.py); the "*" caller's secret;
    the clinics as dicts."""
    out = os.path.join(workdir, "registry")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools",
                                                 "gen-registry.py"),
                    "--out", out, "-n", str(CLINICS), "--seed", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    secret, clinics = None, []
    for row in yibao_stack.read_tsv(os.path.join(out, "callers.tsv")):
        if row[0] == CALLER:
            secret = row[1]
    for row in yibao_stack.read_tsv(os.path.join(out, "clinics.tsv")):
        clinics.append(dict(org=row[0], name=row[1], admdvs=row[2],
                            entity=row[4]))
    return out, secret, clinics


def settlement(clinic, msgid, mdtrt_id):
    """The signed request of a 2207 (headers, body)."""
    settle = {
        "psn_no": "P" + mdtrt_id, "mdtrt_cert_type": "02",
        "mdtrt_cert_no": "370102195603152017", "card_sn": "",
        "psn_cert_type": "01", "certno": "370102195603152017",
        "psn_type": "60", "psn_name": "王某某", "med_type": "11",
        "medfee_sumamt": 35.2, "psn_setlway": "01", "mdtrt_id": mdtrt_id,
        "chrg_bchno": "B" + mdtrt_id, "acct_used_flag": "0",
        "insutype": "390", "invono": "", "fulamt_ownpay_amt": 0,
        "overlmt_selfpay": 0, "preselfpay_amt": 0, "inscp_scp_amt": 35.2}
    env_ = client.make_envelope("2207", {"data": settle}, clinic["org"],
                                clinic["name"], clinic["admdvs"],
                                sign_no="370000202401150800000012",
                                msgid=msgid)
    return env_


class Conn:
    """One keep-alive connection to the gateway."""

    def __init__(self, port, secret):
        self.port = port
        self.secret = secret
        self.c = None

    def post(self, envelope):
        body = client.encode(envelope)
        headers = client.signed_headers(CALLER, self.secret, "POST", PATH,
                                        body)
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port,
                                                    timeout=600)
            try:
                self.c.request("POST", PATH, body=body, headers=headers)
                r = self.c.getresponse()
                data = r.read()
                return r.status, json.loads(data)
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
                # a new nonce for the second attempt
                headers = client.signed_headers(CALLER, self.secret, "POST",
                                                PATH, body)


def fill(args):
    """One filler process: n settlements of its clinics."""
    port, secret, clinics, n, tag = args
    conn = Conn(port, secret)
    bad = 0
    for i in range(n):
        c = clinics[i % len(clinics)]
        seq = "%s%07d" % (tag, i)
        status, body = conn.post(settlement(c, c["org"] + "F" + seq,
                                            "MD" + seq))
        if status != 200 or body.get("infcode") not in (0, -1):
            bad += 1
    return bad


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def tx_load(port, secret, clinics, seconds, tag):
    """Settlements at TX_RATE a second over four connections for
    seconds; their latencies in ms (a request that failed: raises)."""
    lat, errors = [], []
    lock = threading.Lock()
    per = 4

    def work(k):
        conn = Conn(port, secret)
        interval = per / TX_RATE
        start = time.monotonic() + k * interval / per
        i = 0
        while True:
            at = start + i * interval
            if at > start + seconds:
                break
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            c = clinics[(k * 7919 + i) % len(clinics)]
            seq = "%s%d%06d" % (tag, k, i)
            envelope = settlement(c, c["org"] + "T" + seq, "MT" + seq)
            t = time.monotonic()
            status, body = conn.post(envelope)
            ms = (time.monotonic() - t) * 1000
            with lock:
                if status == 200 and body.get("infcode") in (0, -1):
                    lat.append(ms)
                else:
                    errors.append((status, body))
            i += 1

    ts = [threading.Thread(target=work, args=(k,)) for k in range(per)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("transactions failed: %r" % errors[:3])
    return lat


def operator(url, queries, stop, done):
    """Queries QUERY_RATE a second (back to back when they take longer)
    until stop is set."""
    i, at = 0, time.monotonic()
    while not stop.is_set():
        with urllib.request.urlopen(url + queries[i % len(queries)],
                                    timeout=600) as r:
            json.loads(r.read())
        done.value += 1
        i += 1
        at += 1.0 / QUERY_RATE
        delay = at - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def run_large(workdir):
    regdir, secret, clinics = registry(workdir)
    upstream = throughput.PlainNginx(os.path.join(workdir, "platform"),
                                     CANNED_CONF, 1, settled=SETTLED,
                                     refused=REFUSED).start()
    stack = yibao_stack.Stack(os.path.join(workdir, "gateway"),
                              scheme="none", data_dir=regdir,
                              upstream="127.0.0.1:%d" % upstream.port,
                              limits=(), zone=ZONE, log_level="warn",
                              module=MODULE)
    try:
        stack.start()
        time.sleep(0.5)

        # the fill: each process its share of the clinics
        t = time.monotonic()
        shares = [(stack.port, secret, clinics[i::FILLERS],
                   RECORDS // FILLERS + (i < RECORDS % FILLERS), "%d" % i)
                  for i in range(FILLERS)]
        with multiprocessing.Pool(FILLERS) as pool:
            bad = sum(pool.map(fill, shares))
        took = time.monotonic() - t
        print("BENCH journal_zone_fill records=%d clinics=%d failed=%d "
              "seconds=%.0f per_s=%.0f" % (RECORDS, len(clinics), bad,
                                          took, RECORDS / took),
              flush=True)

        # what the queries ask for: one clinic of the first filler, its
        # entity, a settlement of it
        c = shares[0][2][0]
        one = c["org"] + "F00000000"
        queries = [
            ("miss", "/yibao/journal?setl_id=NOSUCHSETTLEMENT"),
            ("msgid", "/yibao/journal?msgid=" + one),
            ("mdtrt_id", "/yibao/journal?mdtrt_id=MD00000000"),
            ("problems", "/yibao/journal?problems=today"),
            ("unknown", "/yibao/journal?state=unknown"),
            ("clinic", "/yibao/journal?clinic=" + c["org"]),
            ("totals", "/yibao/journal/totals?entity=" + c["entity"]),
        ]
        small = queries[:5]

        for name, q in queries:
            runs = [timed(stack, q) for _ in range(5)]
            body, cost = runs[0][1], runs[0][2]
            n = len(body) if isinstance(body, list) \
                else body["all"]["fixmedins_setl_cnt"]
            cost = dict(kv.split("=") for kv in cost.split()) if cost \
                else {}
            print("BENCH journal_zone_query query=%s answer=%d examined=%s "
                  "holds=%s median_ms=%.1f"
                  % (name, n, cost.get("examined", "-"),
                     cost.get("holds", "-"),
                     statistics.median(r[0] for r in runs)), flush=True)

        # transactions alone, then beside an operator's queries; the
        # phases take turns, ROUNDS times, so that a shared machine's
        # drift falls on each alike
        lats = {"none": [], "small": [], "all": []}
        runs = {"none": 0, "small": 0, "all": 0}
        for turn, (phase, qs) in enumerate((("none", None),
                                            ("small", small),
                                            ("all", queries)) * ROUNDS):
            # the operator in a process of its own: reading its answers
            # never holds this one's interpreter lock
            stop = multiprocessing.Event()
            done = multiprocessing.Value("i", 0)
            op = multiprocessing.Process(
                target=operator, args=(stack.url, [q for _, q in qs],
                                       stop, done)) if qs else None
            if op:
                op.start()
            try:
                lats[phase] += tx_load(stack.port, secret, clinics,
                                       TX_SECONDS / ROUNDS, "%02d" % turn)
            finally:
                stop.set()
                if op:
                    op.join()
            runs[phase] += done.value

        for phase in ("none", "small", "all"):
            lat = lats[phase]
            print("BENCH journal_zone_tx queries=%s n=%d p50_ms=%.1f "
                  "p90_ms=%.1f p99_ms=%.1f max_ms=%.1f queries_run=%d"
                  % (phase, len(lat), percentile(lat, 50),
                     percentile(lat, 90), percentile(lat, 99), max(lat),
                     runs[phase]), flush=True)
    finally:
        stack.stop()
        upstream.stop()


def main():
    with tempfile.TemporaryDirectory(prefix="yibao-bench-journal-") as d:
        if "day" in PARTS:
            for store in ("redis", "zone"):
                run_day(store, d)
        if "large" in PARTS:
            run_large(d)


if __name__ == "__main__":
    main()
